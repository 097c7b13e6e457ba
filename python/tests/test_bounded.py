"""Bounded loads from Python: ring.bounded(factor) and its leases. A key lands on its owner while the
owner has room, no node goes above its capacity, counts follow the ring's changes and threads, and
bad arguments raise the documented errors."""

from __future__ import annotations

import gc
import inspect
import math
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ringroute
from ringroute import BoundedLoad, HashRing, Lease


def ring(n: int = 4) -> HashRing:
    return HashRing(nodes=[f"n{i}" for i in range(n)])


def test_with_block_yields_the_node_and_releases() -> None:
    r = ring()
    bl = r.bounded(factor=1.25)
    assert isinstance(bl, BoundedLoad)
    assert bl.factor == 1.25
    with bl.acquire("user:42") as node:
        assert node == r.get_node("user:42")
        assert bl.load(node) == 1
        assert bl.in_flight == 1
    assert bl.load(node) == 0
    assert bl.in_flight == 0
    assert bl.loads() == {f"n{i}": 0 for i in range(4)}
    # The block releases the lease itself, not the lease's collection: kept alive, it is released.
    lease = bl.acquire("user:42")
    with lease as node:
        assert bl.in_flight == 1
    assert lease.released
    assert bl.in_flight == 0


def test_lease_object_and_idempotent_release() -> None:
    bl = ring().bounded()
    assert bl.factor == 1.25  # the default
    lease = bl.acquire(b"user:42")
    assert isinstance(lease, Lease)
    assert isinstance(lease.node, str)
    assert bl.loads()[lease.node] == 1
    assert "held" in repr(lease) and lease.node in repr(lease)  # not released yet
    lease.release()
    assert lease.released is True
    lease.release()  # a second release does nothing
    assert bl.in_flight == 0
    with lease as node:  # entering a released lease still names its node, and holds nothing
        assert node == lease.node
    assert bl.in_flight == 0
    assert "released" in repr(lease)


def test_an_unreleased_lease_is_released_when_collected() -> None:
    bl = ring().bounded()
    lease = bl.acquire("k")
    assert bl.in_flight == 1
    del lease
    gc.collect()
    assert bl.in_flight == 0


def test_exception_in_block_releases_and_propagates() -> None:
    bl = ring().bounded()
    lease = bl.acquire("k")
    with pytest.raises(RuntimeError, match="boom"):
        with lease as node:
            assert bl.load(node) == 1
            raise RuntimeError("boom")
    assert lease.released
    assert bl.in_flight == 0


def test_owner_until_full_then_the_walk() -> None:
    r = ring(4)
    bl = r.bounded(factor=1.25)
    owner = r.get_node("hot")
    walk = list(dict.fromkeys(r.iterate_nodes("hot")))
    assert walk[0] == owner
    leases = []
    for _ in range(40):
        m = bl.in_flight
        cap_owner = bl.capacity(owner)
        assert cap_owner == math.ceil(1.25 * (m + 1) / 4)
        room = bl.load(owner) < cap_owner
        caps = {n: bl.capacity(n) for n in walk}
        lease = bl.acquire("hot")
        assert (lease.node == owner) == room
        assert bl.load(lease.node) <= caps[lease.node]
        leases.append(lease)
    assert sum(bl.loads().values()) == 40
    # Every node took some: the owner's share is bounded.
    assert bl.load(owner) <= math.ceil(1.25 * 40 / 4)
    assert all(v > 0 for v in bl.loads().values())
    for lease in leases:
        lease.release()
    assert bl.in_flight == 0


@settings(max_examples=60, deadline=None)
@given(
    factor=st.floats(min_value=1.01, max_value=3.0),
    keys=st.lists(st.sampled_from([f"k{i}" for i in range(8)]), min_size=1, max_size=120),
    weights=st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=6),
)
def test_never_above_capacity_at_pick(factor: float, keys: list[str], weights: list[int]) -> None:
    r = HashRing(nodes={f"n{i}": w for i, w in enumerate(weights)})
    bl = r.bounded(factor=factor)
    held = []
    for i, k in enumerate(keys):
        owner = r.get_node(k)
        assert owner is not None
        had_room = bl.load(owner) < bl.capacity(owner)
        caps = {n: bl.capacity(n) for n in bl.loads()}
        lease = bl.acquire(k)
        assert bl.load(lease.node) <= caps[lease.node]
        assert (lease.node == owner) == had_room
        held.append(lease)
        if i % 3 == 2:
            held.pop(0).release()
    assert bl.in_flight == len(held)
    assert sum(bl.loads().values()) == len(held)
    for lease in held:
        lease.release()
    assert bl.in_flight == 0


def test_membership_changes_with_leases_out() -> None:
    r = ring(3)
    bl = r.bounded(factor=1.5)
    leases = [bl.acquire(f"k{i}") for i in range(30)]
    victim = leases[0].node
    survivors = {n: c for n, c in bl.loads().items() if n != victim}
    r.remove_node(victim)
    with pytest.raises(KeyError):
        bl.load(victim)
    assert {n: bl.load(n) for n in survivors} == survivors  # counts kept by name
    assert bl.in_flight == 30
    r.add_node("n9")
    assert bl.load("n9") == 0
    more = [bl.acquire(f"j{i}") for i in range(30)]
    assert all(lease.node != victim for lease in more)
    for lease in leases + more:
        lease.release()  # the removed node's too: no error, no underflow
    assert bl.in_flight == 0
    assert set(bl.loads().values()) == {0}


def test_down_nodes_take_nothing_and_all_down() -> None:
    r = ring(3)
    bl = r.bounded()
    r.mark_down("n0")
    assert bl.capacity("n0") == 0
    leases = [bl.acquire(f"k{i}") for i in range(30)]
    assert all(lease.node != "n0" for lease in leases)
    for lease in leases:
        lease.release()
    r.mark_down("n1")
    r.mark_down("n2")
    with bl.acquire("k") as node:  # "panic": as if every node were up
        assert node in {"n0", "n1", "n2"}
    r.set_all_down("fail")
    with pytest.raises(KeyError):
        bl.acquire("k")
    assert bl.in_flight == 0


def test_empty_ring() -> None:
    bl = HashRing().bounded()
    with pytest.raises(KeyError):
        bl.acquire("k")
    assert bl.loads() == {}
    assert bl.in_flight == 0


@pytest.mark.parametrize("factor", [1.0, 0.5, 0, -1, math.nan, math.inf, -math.inf])
def test_bad_factor_is_value_error(factor: float) -> None:
    r = ring()
    with pytest.raises(ValueError, match="balance factor"):
        r.bounded(factor=factor)


def test_argument_types() -> None:
    r = ring()
    with pytest.raises(TypeError):
        r.bounded(factor="1.5")  # type: ignore[arg-type]
    bl = r.bounded(2)
    assert bl.factor == 2.0
    for bad in (42, None, 1.5, ["k"]):
        with pytest.raises(TypeError):
            bl.acquire(bad)  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        bl.load("nope")
    with pytest.raises(KeyError):
        bl.capacity("nope")
    assert bl.in_flight == 0


def test_frozen_and_not_constructible() -> None:
    bl = ring().bounded()
    with pytest.raises(AttributeError):
        bl.factor = 2.0  # type: ignore[misc]
    lease = bl.acquire("k")
    with pytest.raises(AttributeError):
        lease.node = "x"  # type: ignore[misc]
    lease.release()
    with pytest.raises(TypeError):
        BoundedLoad()
    with pytest.raises(TypeError):
        Lease()
    assert "factor=1.25" in repr(bl)


def test_threads_release_everything() -> None:
    r = ring(8)
    bl = r.bounded(factor=1.25)
    errors: list[BaseException] = []
    stop = threading.Event()

    def worker(t: int) -> None:
        try:
            held: list[Lease] = []
            for i in range(3000):
                if i % 2:
                    with bl.acquire(f"t{t}-{i % 50}") as node:
                        assert node.startswith("n")
                else:
                    held.append(bl.acquire(f"t{t}-{i % 50}"))
                    if len(held) > 10:
                        held.pop(0).release()
            for lease in held:
                lease.release()
        except BaseException as e:  # reported below
            errors.append(e)

    def writer() -> None:
        try:
            i = 0
            while not stop.is_set():
                r.remove_node(f"n{i % 8}")
                r.add_node(f"n{i % 8}")
                r.mark_down(f"n{(i + 3) % 8}")
                r.mark_up(f"n{(i + 3) % 8}")
                i += 1
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    w = threading.Thread(target=writer)
    w.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    w.join()
    assert not errors, errors
    assert not any(t.is_alive() for t in threads + [w])
    assert bl.in_flight == 0
    assert bl.loads() == {f"n{i}": 0 for i in range(8)}


def test_shared_lease_released_from_many_threads_once() -> None:
    bl = ring().bounded()
    lease = bl.acquire("k")
    threads = [threading.Thread(target=lease.release) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert lease.released
    assert bl.in_flight == 0


def test_docstrings_and_stub_names() -> None:
    import ast
    from pathlib import Path

    tree = ast.parse(
        (Path(ringroute.__file__).parent / "_ringroute.pyi").read_text(encoding="utf-8")
    )
    classes = {c.name: c for c in tree.body if isinstance(c, ast.ClassDef)}
    for cls in (BoundedLoad, Lease):
        assert cls.__doc__
        for name, member in inspect.getmembers(cls):
            if not name.startswith("_"):
                assert member.__doc__, f"{cls.__name__}.{name} has no docstring"
        stub = {
            f.name
            for f in classes[cls.__name__].body
            if isinstance(f, ast.FunctionDef) and not f.name.startswith("_")
        }
        assert stub == {n for n in dir(cls) if not n.startswith("_")}
    assert HashRing.bounded.__doc__
    assert "BoundedLoad" in ringroute.__all__ and "Lease" in ringroute.__all__
