"""Property tests (hypothesis): incremental changes, transactions and pickling agree with a ring
built from scratch and with a plain Python model of the membership."""

from __future__ import annotations

import pickle
from array import array

from hypothesis import given, settings
from hypothesis import strategies as st

from ringroute import HashRing

NAMES = st.sampled_from([f"n{i}" for i in range(8)] + ["10.0.0.1:11211", "ü", "🦀"])
WEIGHTS = st.integers(0, 4)
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), NAMES, WEIGHTS),
        st.tuples(st.just("remove"), NAMES),
        st.tuples(st.just("weight"), NAMES, WEIGHTS),
    ),
    max_size=25,
)
KEYS = st.lists(st.one_of(st.text(max_size=20), st.binary(max_size=20)), min_size=1, max_size=40)
VN = 8


def apply_model(model: dict[str, int], op: tuple) -> None:
    if op[0] == "add":
        model.setdefault(op[1], op[2])
    elif op[0] == "remove":
        model.pop(op[1], None)
    elif op[1] in model:
        model[op[1]] = op[2]


def apply_ring(target, op: tuple, model: dict[str, int]) -> None:
    """Applies `op` to a HashRing or Transaction; weight changes only for present nodes."""
    if op[0] == "add":
        target.add_node(op[1], op[2])
    elif op[0] == "remove":
        target.remove_node(op[1])
    elif op[1] in model:
        target.set_node_weight(op[1], op[2])


def fresh(model: dict[str, int]) -> HashRing:
    return HashRing(VN, nodes=dict(model))


@settings(max_examples=60, deadline=None)
@given(OPS, KEYS)
def test_incremental_equals_model_and_fresh_build(ops: list[tuple], keys: list) -> None:
    ring, model = HashRing(VN), {}
    for op in ops:
        apply_ring(ring, op, model)
        apply_model(model, op)
        assert ring.node_names == tuple(model)
    assert {n: ring.get_node_weight(n) for n in ring} == model
    ref = fresh(model)
    assert ring.fingerprint == ref.fingerprint
    assert ring.point_count == VN * sum(model.values())
    owners = {n for n, w in model.items() if w > 0}
    got = ring.get_node_batch(keys)
    assert got == ref.get_node_batch(keys) == [ring.get_node(k) for k in keys]
    for k, g in zip(keys, got):
        assert (g in owners) if owners else g is None
    assert ring.get_node_batch(array("Q", [ring.key_hash(k) for k in keys])) == got


@settings(max_examples=60, deadline=None)
@given(OPS, OPS, KEYS)
def test_transaction_equals_one_by_one(setup: list[tuple], ops: list[tuple], keys: list) -> None:
    a, b, model = HashRing(VN), HashRing(VN), {}
    for op in setup:
        apply_ring(a, op, model)
        apply_ring(b, op, model)
        apply_model(model, op)
    v = a.version
    with a.transaction() as tx:
        for op in ops:
            apply_ring(tx, op, model)
            apply_ring(b, op, model)
            apply_model(model, op)
    assert a.version in (v, v + 1)  # one publication at most
    assert a.node_names == b.node_names == tuple(model)
    assert a.fingerprint == b.fingerprint
    assert a.get_node_batch(keys) == b.get_node_batch(keys)
    assert a.nodes == b.nodes


@settings(max_examples=40, deadline=None)
@given(OPS, KEYS)
def test_aborted_transaction_changes_nothing(ops: list[tuple], keys: list) -> None:
    ring = HashRing(VN, nodes={"base": 1})
    model = {"base": 1}
    before = (ring.version, ring.node_names, ring.get_node_batch(keys))
    try:
        with ring.transaction() as tx:
            for op in ops:
                apply_ring(tx, op, model)
                apply_model(model, op)
            raise KeyboardInterrupt  # even a BaseException aborts
    except KeyboardInterrupt:
        pass
    assert (ring.version, ring.node_names, ring.get_node_batch(keys)) == before


@settings(max_examples=40, deadline=None)
@given(OPS, KEYS)
def test_pickle_round_trip(ops: list[tuple], keys: list) -> None:
    ring, model = HashRing(VN), {}
    for op in ops:
        apply_ring(ring, op, model)
        apply_model(model, op)
    back = pickle.loads(pickle.dumps(ring))
    assert back.node_names == ring.node_names and back.nodes == ring.nodes
    assert back.fingerprint == ring.fingerprint
    assert back.get_node_batch(keys) == ring.get_node_batch(keys)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(NAMES, st.integers(1, 3), min_size=1), KEYS, st.integers(0, 12))
def test_replica_walks(nodes: dict[str, int], keys: list, n: int) -> None:
    ring = HashRing(VN, nodes=nodes)
    for k in keys:
        reps = ring.get_replicas(k, n)
        assert len(reps) == min(n, len(nodes)) and len(set(reps)) == len(reps)
        full = ring.get_replicas(k, len(nodes))
        assert reps == full[: len(reps)]
        assert full[0] == ring.get_node(k)
        assert list(ring.iterate_nodes(k)) == full == ring.range(k)
        walk = ring.range(k, unique=False)
        assert len(walk) == ring.point_count and list(dict.fromkeys(walk)) == full


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(NAMES, st.integers(0, 3)), st.dictionaries(NAMES, st.integers(0, 3)))
def test_moved_fraction_is_a_symmetric_bounded_metric(x: dict, y: dict) -> None:
    a, b = HashRing(VN, nodes=x), HashRing(VN, nodes=y)
    m = a.moved_fraction(b)
    assert 0.0 <= m <= 1.0
    assert m == b.moved_fraction(a)
    assert a.moved_fraction(fresh(x)) == 0.0
    d = a.distribution()
    if a.point_count:
        assert abs(sum(v["share"] for v in d["nodes"].values()) - 1.0) < 1e-12


class StrKey(str):
    """A str subclass: routed like the equal str."""


ANY_KEYS = st.lists(
    st.one_of(
        st.text(max_size=40),
        st.binary(max_size=40),
        st.text(max_size=40).map(StrKey),
        st.binary(max_size=40).map(bytearray).map(bytes),
    ),
    max_size=120,
)


@settings(max_examples=100)
@given(
    ANY_KEYS,
    st.sampled_from(["native", "hash_ring", "uhashring", "continuum", "nginx", "maglev"]),
)
def test_single_lookups_equal_the_walk_from_the_key(keys: list, placement: str) -> None:
    """get_node and get_replicas (which, under native and maglev, hash the key before they find
    the thread's reader) answer as the walk from the key's position does (iterate_nodes, which
    takes the position from the snapshot's placement): the owner first, then the next distinct
    nodes."""
    ring = HashRing(nodes={f"n{i}": 1 + i % 3 for i in range(7)}, placement=placement)
    for k in keys:
        walk = list(ring.iterate_nodes(k))
        assert ring.get_node(k) == walk[0]
        assert ring.get_replicas(k, 3) == walk[:3]


@settings(max_examples=150)
@given(
    ANY_KEYS,
    st.sampled_from(["native", "hash_ring", "uhashring", "continuum", "nginx", "maglev"]),
)
def test_batch_equals_single_lookups(keys: list, placement: str) -> None:
    """The batch paths (list, tuple, iterator; keys copied out and then hashed and searched
    together, or, under native and maglev, hashed as they are read; names from the snapshot's
    table) answer exactly as get_node, for keys of every length (the short-copy branches: 0-3, 4-7,
    8-16 and longer bytes), ASCII and other str (read in place or through their UTF-8 form), str
    subclasses and bytes."""
    ring = HashRing(nodes={f"n{i}": 1 + i % 3 for i in range(7)}, placement=placement)
    want = [ring.get_node(k) for k in keys]
    assert ring.get_node_batch(keys) == want
    assert ring.get_node_batch(tuple(keys)) == want
    assert ring.get_node_batch(iter(keys)) == want
    idx, names = ring.get_node_index_batch(keys, with_names=True)
    assert [names[i] for i in idx] == want


@given(ANY_KEYS, st.integers(0, 120), st.sampled_from([1, 1.5, None, ["k"]]))
def test_batch_rejects_a_bad_item_anywhere(keys: list, at: int, bad: object) -> None:
    ring = HashRing(nodes=["a", "b"])
    keys.insert(min(at, len(keys)), bad)
    for form in (list, tuple, iter):
        try:
            ring.get_node_batch(form(keys))
        except TypeError as e:
            assert "key must be str or bytes" in str(e)
        else:
            raise AssertionError("a non-key item was accepted")
