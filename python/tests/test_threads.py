"""Threads hammering lookups while another thread changes the membership: no exception, and every
answer names a node of the membership current at the lookup or of the one just before or after
(the publication and the version counter are not one atomic step)."""

from __future__ import annotations

import threading
from array import array

from ringroute import HashRing

KEYS = [f"key-{i}" for i in range(300)]


def test_lookups_during_changes() -> None:
    ring = HashRing(16, nodes=["n-0", "n-1", "n-2"])
    # history[v] = the membership of version v; the writer records it before publishing.
    history: dict[int, frozenset[str]] = {ring.version: frozenset(ring.node_names)}
    stop = threading.Event()
    errors: list[BaseException] = []
    checked = [0]

    def writer() -> None:
        try:
            members = list(ring.node_names)
            nxt = 3
            for step in range(300):
                new = f"n-{nxt}"
                if step % 3 == 2:  # two changes, one publication
                    after = members[1:] + [new]
                    history[ring.version + 1] = frozenset(after)
                    with ring.transaction() as tx:
                        tx.add_node(new)
                        tx.remove_node(members[0])
                    nxt += 1
                elif len(members) < 6:
                    after = members + [new]
                    history[ring.version + 1] = frozenset(after)
                    ring.add_node(new, weight=1 + step % 3)
                    nxt += 1
                else:
                    after = members[1:]
                    history[ring.version + 1] = frozenset(after)
                    ring.remove_node(members[0])
                members = after
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)
        finally:
            stop.set()

    def allowed(v0: int, v1: int) -> frozenset[str]:
        out: set[str] = set()
        for v in range(v0, v1 + 2):
            out |= history.get(v, frozenset())
        return frozenset(out)

    def reader(mode: int) -> None:
        try:
            while not stop.is_set():
                v0 = ring.version
                if mode == 0:
                    answers = [ring.get_node(k) for k in KEYS[:50]]
                elif mode == 1:
                    answers = ring.get_node_batch(KEYS)
                else:
                    idx, names = ring.get_node_index_batch(KEYS, with_names=True)
                    answers = [names[i] for i in idx]
                    reps = ring.get_replicas(KEYS[0], 3)
                    assert len(set(reps)) == len(reps)
                    answers += reps
                v1 = ring.version
                ok = allowed(v0, v1)
                for a in answers:
                    assert a in ok, (a, v0, v1)
                checked[0] += len(answers)
        except BaseException as e:
            errors.append(e)
            stop.set()

    threads = [threading.Thread(target=reader, args=(m,)) for m in (0, 1, 2, 1)]
    w = threading.Thread(target=writer)
    for t in threads:
        t.start()
    w.start()
    w.join(timeout=120)
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors[0]
    assert not any(t.is_alive() for t in [w, *threads]), "a thread did not finish"
    assert checked[0] > 1000
    assert ring.version == max(history)


def test_batch_sees_one_membership() -> None:
    """A batch is answered from one snapshot: with names from the same call, every index is valid,
    and the answers equal a single-snapshot recomputation for that membership."""
    ring = HashRing(8, nodes=[f"n-{i}" for i in range(4)])
    stop = threading.Event()
    errors: list[BaseException] = []
    hashes = array("Q", [ring.key_hash(k) for k in KEYS])

    def writer() -> None:
        try:
            i = 4
            while not stop.is_set():
                with ring.transaction() as tx:
                    tx.add_node(f"n-{i}")
                    tx.remove_node(f"n-{i - 4}")
                i += 1
        except BaseException as e:  # reported after the join, like the readers' errors
            errors.append(e)

    def reader() -> None:
        try:
            for _ in range(300):
                idx, names = ring.get_node_index_batch(hashes, with_names=True)
                assert len(names) == 4
                assert max(idx) < len(names)
                # Rebuild that membership and check every answer against it.
                if _ % 50 == 0:
                    ref = HashRing(8, nodes=list(names))
                    assert [names[i] for i in idx] == ref.get_node_batch(hashes)
        except BaseException as e:
            errors.append(e)

    w = threading.Thread(target=writer)
    w.start()
    readers = [threading.Thread(target=reader) for _ in range(3)]
    for t in readers:
        t.start()
    for t in readers:
        t.join(timeout=120)
    stop.set()
    w.join(timeout=120)
    assert not errors, errors[0]
    assert not any(t.is_alive() for t in [w, *readers]), "a thread did not finish"


def test_batches_release_the_gil() -> None:
    """While a long batch hashes and searches, another Python thread runs. With a long switch
    interval, a thread can only get the GIL during the call if the call releases it. Each batch
    is tried up to three times: on a loaded machine the other thread may not be scheduled within
    one call's few milliseconds, while a call that keeps the GIL fails every try."""
    import sys

    ring = HashRing(nodes=[f"n-{i}" for i in range(100)])
    hashes = array("Q", range(0, 1 << 64, 1 << 43))  # 2M positions spread over the ring
    keys = [f"key-{i}" for i in range(300_000)]
    count = [0]
    stop = threading.Event()
    started = threading.Event()

    def spin() -> None:
        started.set()
        while not stop.is_set():
            count[0] += 1

    old = sys.getswitchinterval()
    sys.setswitchinterval(0.5)
    t = threading.Thread(target=spin)
    try:
        t.start()
        started.wait()
        deltas = []
        for batch in (hashes, keys):
            for _ in range(3):
                before = count[0]
                out = ring.get_node_batch(batch)
                delta = count[0] - before
                assert len(out) == len(batch)
                if delta > 0:
                    break
            deltas.append(delta)
    finally:
        stop.set()
        t.join()
        sys.setswitchinterval(old)
    assert all(d > 0 for d in deltas), deltas
