"""Single-key reads (get_node, [], get_replicas) go through a reader each thread keeps for the last
few rings it read. Whatever rings a thread reads, in whatever order, and whatever other threads
change, every read answers from the ring's current membership."""

from __future__ import annotations

import random
import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from ringroute import HashRing

KEYS = [f"user:{i}" for i in range(100)]


def answers(ring: HashRing) -> list[object]:
    return [(ring.get_node(k), ring.get_replicas(k, 3)) for k in KEYS]


def fresh(names: list[str]) -> list[object]:
    return answers(HashRing(nodes=names))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.booleans()), min_size=1, max_size=40))
def test_reads_across_more_rings_than_a_thread_keeps_answer_from_each_rings_current_state(
    steps: list[tuple[int, bool]],
) -> None:
    # Seven rings (more than the four readers a thread keeps), read and changed in a drawn order.
    members = [[f"r{r}-n{i}" for i in range(5)] for r in range(7)]
    rings = [HashRing(nodes=list(m)) for m in members]
    for at, change in steps:
        if change:
            name = f"r{at}-x{len(members[at])}"
            rings[at].add_node(name)
            members[at].append(name)
        assert answers(rings[at]) == fresh(members[at])
        assert rings[at][KEYS[0]] == rings[at].get_node(KEYS[0])


def test_a_change_made_by_one_thread_is_read_by_another_at_once() -> None:
    ring = HashRing(nodes=[f"n{i}" for i in range(20)])
    names = [f"n{i}" for i in range(20)]
    changed, read = threading.Event(), threading.Event()
    stop = False
    errors: list[str] = []
    expected: list[list[object]] = []

    def reader() -> None:
        # Reads (so its reader of the ring is kept), then after each change checks the answers.
        while not stop:
            if not changed.wait(5):
                errors.append("no change came")
                return
            changed.clear()
            got = answers(ring)
            if got != expected[-1]:
                errors.append("a read missed a change made before it")
            read.set()

    answers(ring)
    t = threading.Thread(target=reader)
    t.start()
    rng = random.Random(7)
    for step in range(30):
        if step % 3 == 2 and len(names) > 2:
            gone = names.pop(rng.randrange(len(names)))
            ring.remove_node(gone)
        else:
            names.append(f"m{step}")
            ring.add_node(names[-1])
        expected.append(fresh(names))
        changed.set()
        assert read.wait(5)
        read.clear()
    stop = True
    changed.set()
    t.join(5)
    assert not errors, errors
