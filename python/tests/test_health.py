"""Health at pick time from Python: down nodes are skipped by every lookup, move only their own keys,
come back exactly, travel in transactions and pickles, and bad names raise KeyError."""

from __future__ import annotations

import pickle
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ringroute
from ringroute import HashRing

KEYS = [f"user:{i}" for i in range(2000)]


def ring(placement: str = "native", n: int = 8) -> HashRing:
    return HashRing(nodes=[f"n{i}" for i in range(n)], placement=placement)


@pytest.mark.parametrize("placement", ringroute.PROFILES)
def test_down_node_moves_only_its_own_keys_and_comes_back(placement: str) -> None:
    r = ring(placement)
    before = {k: r.get_node(k) for k in KEYS}
    r.mark_down("n3")
    assert not r.is_up("n3") and r.is_up("n4")
    assert r.down_nodes == frozenset({"n3"})
    for k in KEYS:
        now = r.get_node(k)
        assert now != "n3"
        if before[k] != "n3":
            assert now == before[k], k
    r.mark_up("n3")
    assert r.down_nodes == frozenset()
    assert {k: r.get_node(k) for k in KEYS} == before


def test_every_lookup_honours_health() -> None:
    r = ring()
    r.mark_down("n1")
    r.mark_down("n5")
    down = {"n1", "n5"}
    singles = [r.get_node(k) for k in KEYS]
    assert not down & set(singles)
    assert r.get_node_batch(KEYS) == singles
    assert r.get_node_batch(tuple(KEYS)) == singles
    idx, names = r.get_node_index_batch(KEYS, with_names=True)
    assert [names[i] for i in idx] == singles
    hashes = array("Q", [r.key_hash(k) for k in KEYS])
    assert r.get_node_batch(hashes) == singles
    for k in KEYS[:300]:
        reps = r.get_replicas(k, 3)
        assert reps[0] == r.get_node(k) and not down & set(reps) and len(set(reps)) == 3
        walk = list(r.iterate_nodes(k))
        assert walk[0] == reps[0] and not down & set(walk) and len(walk) == 6
        assert r.range(k, 4) == walk[:4]
        assert not down & set(r.iterate_nodes(k, distinct=False))
        assert r[k] == reps[0]


def test_unknown_names_raise_key_error_and_change_nothing() -> None:
    r = ring()
    v = r.version
    for call in (r.mark_down, r.mark_up, r.is_up):
        with pytest.raises(KeyError):
            call("nope")
    assert r.version == v
    r.mark_down("n2")
    r.mark_down("n2")
    assert r.version == v + 1, "marking a down node down publishes nothing"


def test_all_down_policy() -> None:
    r = ring(n=3)
    before = [r.get_node(k) for k in KEYS]
    for n in ("n0", "n1", "n2"):
        r.mark_down(n)
    assert r.all_down == "panic"
    assert [r.get_node(k) for k in KEYS] == before
    r.set_all_down("fail")
    assert r.all_down == "fail"
    assert r.get_node("x") is None
    assert r.get_node_batch(KEYS[:10]) == [None] * 10
    assert r.get_replicas("x", 2) == []
    with pytest.raises(KeyError):
        r["x"]
    with pytest.raises(ValueError):
        r.set_all_down("sometimes")  # type: ignore[arg-type]


def test_transaction_and_pickle_keep_health() -> None:
    r = ring()
    with r.transaction() as tx:
        tx.mark_down("n0")
        tx.add_node("n9")
        tx.mark_down("n9")
        with pytest.raises(KeyError):
            tx.mark_down("nope")
    assert r.down_nodes == frozenset({"n0", "n9"})
    r.set_all_down("fail")
    copy = pickle.loads(pickle.dumps(r))
    assert copy.down_nodes == r.down_nodes
    assert copy.all_down == "fail"
    assert copy.get_node_batch(KEYS) == r.get_node_batch(KEYS)
    assert copy.fingerprint == r.fingerprint
    # A removed node's health goes with it; a node added back is up.
    r.remove_node("n0")
    r.add_node("n0")
    assert r.is_up("n0")


def test_version_1_pickle_state_still_loads() -> None:
    r = ring()
    state = r.__reduce__()[1][0]
    old = ("ringroute.HashRing", 1) + state[2:5]
    back = HashRing._from_state(old)
    assert back.down_nodes == frozenset()
    assert back.get_node_batch(KEYS) == r.get_node_batch(KEYS)


@settings(max_examples=60, deadline=None)
@given(
    st.sets(st.sampled_from([f"n{i}" for i in range(8)]), max_size=7),
    st.lists(st.text(max_size=12), min_size=1, max_size=50),
)
def test_down_sets_never_move_up_nodes_keys(down: set[str], keys: list[str]) -> None:
    r = ring()
    before = r.get_node_batch(keys)
    for n in sorted(down):
        r.mark_down(n)
    after = r.get_node_batch(keys)
    for b, a in zip(before, after):
        assert a not in down
        if b not in down:
            assert a == b
    # Removing the down nodes gives the same owners (the native ring's points are per node).
    removed = HashRing(nodes=[f"n{i}" for i in range(8) if f"n{i}" not in down])
    assert removed.get_node_batch(keys) == after


def test_maglev_table_size_and_errors() -> None:
    r = HashRing(nodes=["a", "b", "c"], placement="maglev")
    assert r.table_size == 65537 and r.point_count == 65537
    assert r.get_node_batch(KEYS) == [r.get_node(k) for k in KEYS]
    assert HashRing(nodes=["a"], placement="maglev", table_size=251).table_size == 251
    assert HashRing(nodes=["a"]).table_size is None
    for bad in ({"table_size": 65536}, {"table_size": 5_000_021}, {"table_size": 0}, {"virtual_nodes": 7}):
        with pytest.raises(ValueError):
            HashRing(nodes=["a"], placement="maglev", **bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        HashRing(nodes=["a"], table_size=251)
    with pytest.raises(TypeError):
        HashRing(placement="maglev", table_size="big")  # type: ignore[arg-type]
    # Hashes given as a buffer index the table directly: entry hash % table_size.
    hashes = array("Q", [r.key_hash(k) for k in KEYS[:100]])
    assert r.get_node_batch(hashes) == [r.get_node(k) for k in KEYS[:100]]
    # Pickle keeps the table size.
    assert pickle.loads(pickle.dumps(r)).get_node_batch(KEYS) == r.get_node_batch(KEYS)
