"""Single add_node / remove_node / set_node_weight calls are checked at once and published together
by the next read from any thread: no read misses a change made before it, nothing is half
published, and with a listener each call publishes on its own."""

from __future__ import annotations

import queue
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringroute import HashRing

KEYS = [f"user:{i}" for i in range(200)]


def test_an_add_node_loop_publishes_once_and_answers_as_a_fresh_build() -> None:
    names = [f"node-{i}" for i in range(50)]
    ring = HashRing()
    for n in names:
        ring.add_node(n)
    assert ring.version == 1
    fresh = HashRing(nodes=names)
    assert ring.fingerprint == fresh.fingerprint
    assert ring.get_node_batch(KEYS) == fresh.get_node_batch(KEYS)


def test_a_bad_change_raises_at_once_and_stages_nothing() -> None:
    ring = HashRing(nodes=["a"])
    ring.add_node("b")
    with pytest.raises(ValueError):
        ring.add_node("c", weight=2**20)  # past the ring's points limit
    with pytest.raises(KeyError):
        ring.set_node_weight("zz", 2)
    with pytest.raises(ValueError):
        ring.set_node_weight("a", 2**20)
    assert ring.node_names == ("a", "b")
    assert ring.get_node_weight("a") == 1


def test_with_a_listener_each_change_publishes() -> None:
    ring = HashRing()
    seen: list[int] = []
    ring.on_change(lambda e: seen.append(e["version"]))
    for n in "abc":
        ring.add_node(n)
    ring.remove_node("b")
    assert seen == [1, 2, 3, 4]


def test_another_thread_sees_every_change_made_before_its_read() -> None:
    ring = HashRing(nodes=["base"])
    asks: queue.Queue[str | None] = queue.Queue()
    acks: queue.Queue[bool] = queue.Queue()

    def reader() -> None:
        while (name := asks.get()) is not None:
            seen = name in ring.node_names and ring.get_node_weight(name) == 2
            gone = f"n-{int(name[2:]) - 1}" not in ring.node_names
            acks.put(seen and gone)

    t = threading.Thread(target=reader)
    t.start()
    results = []
    for i in range(200):
        name = f"n-{i}"
        ring.remove_node(f"n-{i - 1}")
        ring.add_node(name)
        ring.set_node_weight(name, 2)
        asks.put(name)  # the reader reads only after these three calls returned
        results.append(acks.get(timeout=10))
    asks.put(None)
    t.join()
    assert all(results)
    assert ring.version <= 201


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["add", "remove", "weight", "read"]), st.integers(0, 7), st.integers(0, 3)),
        max_size=40,
    )
)
def test_staged_changes_equal_a_model(ops: list[tuple[str, int, int]]) -> None:
    ring = HashRing()
    model: dict[str, int] = {}
    for op, i, w in ops:
        name = f"n{i}"
        if op == "add":
            ring.add_node(name, weight=w)
            model.setdefault(name, w)
        elif op == "remove":
            ring.remove_node(name)
            model.pop(name, None)
        elif op == "weight" and name in model:
            ring.set_node_weight(name, w)
            model[name] = w
        else:
            assert {n: ring.get_node_weight(n) for n in ring.node_names} == model
    assert {n: ring.get_node_weight(n) for n in ring.node_names} == model
    order = list(ring.node_names)
    assert ring.fingerprint == HashRing(nodes={n: model[n] for n in order}).fingerprint
