"""ringroute.membership against a real 3-member etcd cluster (see etcd_cluster.py): list and
watch, one publication per etcd transaction, bad records, registration and leases, and etcd's
failures (leader killed, quorum lost, history compacted) while the ring keeps answering."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from etcd_cluster import Cluster, expected_ring
from ringroute import HashRing
from ringroute.membership import Applied, EtcdMembership, register

HERE = Path(__file__).resolve().parent


def state(ring: HashRing) -> tuple[dict[str, Any], frozenset[str], int]:
    return ring.nodes, ring.down_nodes, ring.fingerprint


def check_against_etcd(cluster: Cluster, sync: EtcdMembership, prefix: str) -> None:
    """The ring equals the ring built (here, independently) from etcd's state at its revision."""
    _, kvs = cluster.kv.range(prefix, sync.revision)
    assert state(sync.ring) == state(expected_ring(kvs, prefix))


def test_lists_then_watches_and_keeps_its_ring_when_stopped(etcd_cluster: Cluster) -> None:
    kv, p = etcd_cluster.kv, "/t/list"
    kv.put(f"{p}/nodes/a", '{"weight": 2, "hostname": "10.0.0.1", "port": 11211, "meta": {"zone": "a"}}')
    kv.put(f"{p}/nodes/b", "{}")
    kv.put(f"{p}/health/b", "down")
    kv.put("/t/listing/nodes/x", "{}")  # a neighbouring prefix, never seen
    ring = HashRing()
    with EtcdMembership(ring, etcd_cluster.endpoints, p + "/") as sync:
        listed = sync.wait_synced(10)
        assert listed == sync.revision > 0 and sync.staleness is None
        assert set(ring.node_names) == {"a", "b"}
        assert ring.nodes["a"] == {
            "weight": 2, "vnodes": 128, "hostname": "10.0.0.1", "port": 11211, "instance": {"zone": "a"}
        }
        assert ring.down_nodes == {"b"}
        check_against_etcd(etcd_cluster, sync, p)
        # Watch: an add, a record change, a health change, a delete.
        kv.put(f"{p}/nodes/c", '{"weight": 0}')
        kv.put(f"{p}/nodes/a", '{"weight": 3}')
        kv.put(f"{p}/health/b", "up")
        rev = kv.delete(f"{p}/nodes/c")
        sync.wait_revision(rev, 10)
        assert sync.revision == rev
        assert set(ring.node_names) == {"a", "b"} and ring.down_nodes == frozenset()
        assert "hostname" not in ring.nodes["a"] and ring.get_node_weight("a") == 3
        check_against_etcd(etcd_cluster, sync, p)
        assert sync.status.lists == 1 and sync.status.skipped == 0
    # Stopped: the ring keeps its last state; later writes do not reach it.
    assert not sync.synced and sync.staleness is not None
    before = state(ring)
    kv.put(f"{p}/nodes/z", "{}")
    time.sleep(0.3)
    assert state(ring) == before


def test_an_etcd_transaction_is_one_publication(etcd_cluster: Cluster) -> None:
    kv, p = etcd_cluster.kv, "/t/txn"
    for name in ("a", "b", "c"):
        kv.put(f"{p}/nodes/{name}", "{}")
    ring = HashRing()
    events: list[tuple[dict[str, Any], int]] = []
    ring.on_change(lambda e: events.append((dict(e), ring.fingerprint)))
    applied: list[Applied] = []
    with EtcdMembership(ring, etcd_cluster.endpoints, p, on_applied=applied.append) as sync:
        sync.wait_synced(10)
        assert len(events) == 1  # the list: one publication
        events.clear()
        ops: list[tuple[str, str, str | None]] = [
            ("put", f"{p}/nodes/d{i}", json.dumps({"weight": i})) for i in range(1, 6)
        ]
        ops += [("delete", f"{p}/nodes/a", None), ("put", f"{p}/health/b", "down"),
                ("put", f"{p}/nodes/c", '{"weight": 4}')]
        rev = kv.txn(ops)
        sync.wait_revision(rev, 10)
        assert len(events) == 1, events
        event, fingerprint = events[0]
        assert sorted(event["added"]) == [f"d{i}" for i in range(1, 6)]
        assert event["removed"] == ["a"] and event["down"] == ["b"]
        assert event["reweighted"] == {"c": (1, 4)}
        _, kvs = kv.range(p, rev)
        assert fingerprint == expected_ring(kvs, p).fingerprint
        # Many transactions written quickly: every publication is etcd's state at its revision
        # (whole transactions, maybe several coalesced), revisions in order, each once.
        written = []
        for i in range(30):
            written.append(kv.txn([("put", f"{p}/nodes/e{i}", "{}"), ("delete", f"{p}/nodes/d{i % 5 + 1}", None),
                                   ("put", f"{p}/health/e{i}", "down" if i % 2 else "up")]))
        sync.wait_revision(written[-1], 10)
        check_against_etcd(etcd_cluster, sync, p)
    seen = [r for a in applied[1:] for r in a.revisions]
    assert seen == sorted(set(seen)) and seen[0] == rev and seen[-1] == written[-1]
    assert set(written) <= set(seen)
    for a in applied:
        assert a.list == (a is applied[0])
        assert a.revisions == () or a.revisions[-1] == a.revision
        _, kvs = kv.range(p, a.revision)
        assert a.fingerprint == expected_ring(kvs, p).fingerprint, a


def test_bad_records_are_skipped_counted_and_logged(
    etcd_cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    kv, p = etcd_cluster.kv, "/t/bad"
    kv.put(f"{p}/nodes/good", '{"weight": 2, "meta": {"zone": "a"}}')
    kv.put(f"{p}/nodes/garbled", "{not json")
    ring = HashRing()
    caplog.set_level(logging.WARNING, logger="ringroute")
    with EtcdMembership(ring, etcd_cluster.endpoints, p) as sync:
        sync.wait_synced(10)
        assert sync.status.skipped == 1 and set(ring.node_names) == {"good"}
        assert f"{p}/nodes/garbled" in caplog.text
        bad = [
            ("nodes/w", '{"weight": "two"}'), ("nodes/w", '{"weight": 1.5}'), ("nodes/w", '{"weight": true}'),
            ("nodes/u", '{"wieght": 1}'), ("nodes/p", '{"port": 70000}'), ("nodes/a", "[1, 2]"),
            ("nodes/n", '{"weight": NaN}'), ("nodes/m", '{"meta": 3}'), ("nodes/x", b"\xff\xfe"),
            ("health/good", "sideways"), ("config", '{"placement": "no-such-profile"}'),
            ("config", '{"placement": "uhashring"}'),  # valid, but not this ring's placement
        ]
        for key, value in bad:
            kv.put(f"{p}/{key}", value)
        rev = kv.put(f"{p}/nodes/after", "{}")
        sync.wait_revision(rev, 10)
        assert sync.status.skipped == 1 + len(bad)
        assert set(ring.node_names) == {"after", "good"} and sync.synced
        for key, _ in bad:
            assert f"{p}/{key}" in caplog.text
        # The ring's own placement is a config it applies; health drives mark_down/mark_up.
        kv.put(f"{p}/config", '{"placement": "native", "virtual_nodes": 128}')
        rev = kv.put(f"{p}/health/after", "down")
        sync.wait_revision(rev, 10)
        assert ring.down_nodes == {"after"} and sync.status.skipped == 1 + len(bad)
        assert all(ring.get_node(f"k{i}") == "good" for i in range(100))
        check_against_etcd(etcd_cluster, sync, p)
        ring_at, at = sync.ring_at(rev)
        assert at == rev and state(ring_at) == state(ring)
        # A config of other settings is skipped at each list as well.
        kv.put(f"{p}/config", '{"placement": "native", "virtual_nodes": 160}')
        time.sleep(0.3)
        assert ring.virtual_nodes == 128 and sync.status.skipped == 2 + len(bad)


def test_publication_refused_by_the_ring_keeps_the_last_ring(etcd_cluster: Cluster) -> None:
    kv, p = etcd_cluster.kv, "/t/refused"
    kv.put(f"{p}/nodes/a", "{}")
    ring = HashRing()
    with EtcdMembership(ring, etcd_cluster.endpoints, p) as sync:
        sync.wait_synced(10)
        # Too many points for a ring (weight x virtual nodes past the ring's limit).
        kv.put(f"{p}/nodes/huge", json.dumps({"weight": 2**32 - 1}))
        deadline = time.monotonic() + 10
        while sync.status.failed_publications == 0:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert set(ring.node_names) == {"a"}
        rev = kv.delete(f"{p}/nodes/huge")
        kv.put(f"{p}/nodes/b", "{}")
        rev = kv.put(f"{p}/nodes/c", "{}")
        sync.wait_revision(rev, 10)
        assert set(ring.node_names) == {"a", "b", "c"}
        check_against_etcd(etcd_cluster, sync, p)


def test_register_close_and_arguments(etcd_cluster: Cluster) -> None:
    p, eps = "/t/reg", etcd_cluster.endpoints
    ring = HashRing()
    with EtcdMembership(ring, eps, p) as sync:
        sync.wait_synced(10)
        reg = register(eps, p, "cache-7", ttl=5, weight=3, hostname="10.0.0.7", port=11211, meta={"z": 1})
        assert reg.key == f"{p}/nodes/cache-7" and reg.lease_id > 0
        _wait(lambda: "cache-7" in ring)
        assert ring.nodes["cache-7"] == {
            "weight": 3, "vnodes": 128, "hostname": "10.0.0.7", "port": 11211, "instance": {"z": 1}
        }
        reg.close()
        reg.close()
        assert reg.closed
        _wait(lambda: "cache-7" not in ring)
        with register(eps, p, "cache-8", ttl=1):
            _wait(lambda: "cache-8" in ring)
            time.sleep(2.5)  # past the ttl: kept alive
            assert "cache-8" in ring
        _wait(lambda: "cache-8" not in ring)
    with pytest.raises(ValueError):
        register(eps, p, "a/b")
    with pytest.raises(ValueError):
        register(eps, p, "")
    with pytest.raises(TypeError):
        register(eps, p, "a", ttl=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        register(eps, p, "a", ttl=0)
    with pytest.raises(ValueError):
        register(eps, p, "a", weight=-1)
    with pytest.raises(TypeError):
        register(eps, p, "a", weight=True)
    with pytest.raises(ValueError):
        register(eps, p, "a", port=70000)
    with pytest.raises(TypeError):
        register(eps, p, "a", meta={"x": object()})
    with pytest.raises(TypeError):
        register("127.0.0.1:2379", p, "a")  # type: ignore[arg-type]


def test_sigkilled_registered_process_leaves_the_ring_within_ttl(etcd_cluster: Cluster) -> None:
    p, eps = "/t/lease", etcd_cluster.endpoints
    ring = HashRing()
    with EtcdMembership(ring, eps, p) as sync:
        sync.wait_synced(10)
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "etcd_follow.py"), "register", ",".join(eps), p, "mortal", "2"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert json.loads(line) == {"registered": f"{p}/nodes/mortal"}
            _wait(lambda: "mortal" in ring)
            time.sleep(3)  # longer than the ttl: the keep-alive works
            assert "mortal" in ring
            proc.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            proc.wait(10)
            _wait(lambda: "mortal" not in ring, 10)
            gone = time.monotonic() - killed
        finally:
            proc.kill()
            proc.wait(10)
        assert gone <= 2 + 1, f"gone {gone:.2f} s after the SIGKILL"


def test_faults_leader_quorum_compaction_keep_the_ring_answering(etcd_cluster: Cluster) -> None:
    kv, p = etcd_cluster.kv, "/t/faults"
    for i in range(10):
        kv.put(f"{p}/nodes/n{i}", "{}")
    # Two routers: one on every member, one on a single member (cut off when it goes).
    rings = [HashRing(), HashRing()]
    lone = etcd_cluster.leader()
    syncs = [
        EtcdMembership(rings[0], etcd_cluster.endpoints, p, backoff=(0.05, 0.5)),
        EtcdMembership(rings[1], [etcd_cluster.members[lone].endpoint], p, backoff=(0.05, 0.5)),
    ]
    stop, missing, lookups = threading.Event(), [0], [0]

    def reader() -> None:
        while not stop.is_set():
            for r in rings:
                if r.get_node(f"key-{lookups[0]}") is None:
                    missing[0] += 1
                lookups[0] += 1
            time.sleep(0.001)

    def converge() -> None:
        rev, kvs = etcd_cluster.kv.range(p)
        want = state(expected_ring(kvs, p))
        for s in syncs:
            s.wait_revision(rev, 30)
            _wait(lambda: s.synced, 30)
            assert state(s.ring) == want

    thread = threading.Thread(target=reader, daemon=True)
    for s in syncs:
        s.start()
    try:
        for s in syncs:
            s.wait_synced(10)
        thread.start()
        # The leader (the lone router's member) killed mid-run.
        kv.put(f"{p}/nodes/before-kill", "{}")
        etcd_cluster.kill(lone)
        _wait(lambda: not syncs[1].synced, 10)
        _retry(lambda: kv.put(f"{p}/nodes/after-kill", "{}"))
        assert syncs[1].staleness is not None and syncs[1].ring.node_names
        etcd_cluster.start(lone)
        etcd_cluster.wait_healthy(30)
        converge()
        # Quorum lost: two of three members down, then back.
        down = [i for i in range(3) if i != lone][:2]
        for i in down:
            etcd_cluster.kill(i)
        _wait(lambda: not syncs[0].synced and not syncs[1].synced, 15)
        assert all(r.node_names for r in rings)
        for i in down:
            etcd_cluster.start(i)
        etcd_cluster.wait_healthy(30)
        _retry(lambda: kv.put(f"{p}/nodes/after-quorum", "{}"))
        converge()
        # History compacted while the lone router is cut off: it re-lists when back.
        etcd_cluster.kill(lone)
        _wait(lambda: not syncs[1].synced, 10)
        for i in range(20):
            _retry(lambda: kv.put(f"{p}/nodes/n{i % 10}", json.dumps({"weight": i % 3 + 1})))
        rev = _retry(lambda: kv.delete(f"{p}/nodes/n0"))
        _retry(lambda: kv.compact(rev))
        etcd_cluster.start(lone)
        etcd_cluster.wait_healthy(30)
        converge()
        assert syncs[1].status.lists >= 4
    finally:
        stop.set()
        for s in syncs:
            s.stop()
        thread.join(5)
    assert lookups[0] > 100 and missing[0] == 0


def test_import_ringroute_does_not_need_urllib3() -> None:
    code = (
        "import sys; sys.modules['urllib3'] = None\n"
        "import ringroute\n"
        "ringroute.HashRing(nodes=['a']).get_node('k')\n"
        "try:\n"
        "    import ringroute.membership\n"
        "except ImportError as e:\n"
        "    print('ImportError', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "ringroute[etcd]" in out.stdout, out


def test_arguments_are_checked() -> None:
    ring = HashRing()
    with pytest.raises(TypeError):
        EtcdMembership({}, ["127.0.0.1:2379"])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        EtcdMembership(ring, "127.0.0.1:2379")
    with pytest.raises(ValueError):
        EtcdMembership(ring, [])
    with pytest.raises(ValueError):
        EtcdMembership(ring, ["https://127.0.0.1:2379"])
    with pytest.raises(ValueError):
        EtcdMembership(ring, timeout=0)
    with pytest.raises(TypeError):
        EtcdMembership(ring, prefix=b"/x")  # type: ignore[arg-type]


def test_unreachable_etcd_never_empties_the_ring_nor_hangs() -> None:
    from cache_servers import free_port

    ring = HashRing(nodes=["a", "b"])
    sync = EtcdMembership(ring, [f"127.0.0.1:{free_port()}"], "/x", timeout=0.5, backoff=(0.05, 0.2))
    with sync:
        with pytest.raises(TimeoutError):
            sync.wait_synced(0.5)
        assert set(ring.node_names) == {"a", "b"}
        status = sync.status
        assert not status.synced and status.last_error and status.lists == 0
        assert sync.staleness is not None and sync.staleness > 0
    t0 = time.monotonic()
    sync.stop()
    assert time.monotonic() - t0 < 1
    assert set(ring.node_names) == {"a", "b"}


def _wait(cond: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def _retry(f: Any, timeout: float = 20) -> Any:
    """Calls ``f`` until etcd accepts it (after a fault, while the cluster elects a leader)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return f()
        except RuntimeError:
            assert time.monotonic() < deadline
            time.sleep(0.1)



VALUES = [
    b"{}", b'{"weight": 0}', b'{"weight": 3, "hostname": "h", "port": 1}', b'{"meta": {"a": [1]}}',
    b'{"weight": "x"}', b'{"weight": -1}', b'{"port": 65536}', b"[]", b"{", b"\xff", b'{"name": 5}',
    b'{"weight": 4294967296}', b'{"typo": 1}', b"down", b"up", b'"down"', b"sideways",
]


@given(
    st.dictionaries(
        st.builds(lambda kind, n: f"/p/{kind}/{n}".encode(), st.sampled_from(["nodes", "health", "x"]),
                  st.sampled_from(["a", "b", "c", "d/e"])),
        st.sampled_from(VALUES),
    )
)
def test_a_list_decodes_as_its_keys_one_by_one(kvs: dict[bytes, bytes]) -> None:
    from ringroute.membership._records import Layout, Records, Touched

    items = sorted(kvs.items())
    together, one_by_one = Records(Layout("/p")), Records(Layout("/p"))
    t1, t2 = Touched(), Touched()
    together.load(items, t1)
    for key, value in items:
        one_by_one.apply(key, value, t2)
    assert together.nodes == one_by_one.nodes and together.down == one_by_one.down
    assert together.skipped == one_by_one.skipped and t1 == t2
