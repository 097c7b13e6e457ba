"""ringroute.compat.uhashring side by side with the real uhashring (PyPI): random memberships, changes
and keys (hypothesis), every method's answer and return type, and the errors."""

from __future__ import annotations

import io
from collections import Counter
from contextlib import redirect_stdout

import pytest
import uhashring as real
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ringroute.compat import uhashring as compat

NAMES = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12
)
KEYS = st.one_of(
    st.text(max_size=20),
    st.integers(),
    st.binary(max_size=8),
    st.sampled_from([None, 1.5, ("t", 1)]),
)


def dedup_rank(keys: list[int], pos: int) -> int:
    """uhashring's index into its sorted keys (which repeat a position shared by two points in ketama
    mode) as an index into the distinct positions, which is what ringroute counts."""
    return len(set(keys[:pos]))


def assert_same(a: real.HashRing, b: compat.HashRing, keys: list, exact: bool = False) -> None:
    """Every read-only method gives uhashring's answer, of the same type. ``exact``: a ring whose
    points are made in Python (custom hashing), which keeps repeated positions as uhashring does."""
    assert b.conf == a.conf
    assert list(b.conf) == list(a.conf)
    assert b.nodes == a.nodes
    assert list(b.get_nodes()) == list(a.get_nodes())
    assert b.size == a.size
    assert b.get_instances() == a.get_instances()
    distinct = exact or len(set(a._keys)) == len(a._keys)
    if distinct:
        assert b.distribution == a.distribution
    else:  # documented: ringroute counts points on the ring, uhashring the points it generated
        lost = len(a._keys) - len(set(a._keys))
        assert sum(a.distribution.values()) - sum(b.distribution.values()) == lost
        assert all(b.distribution[n] <= a.distribution[n] for n in a.distribution)
    if distinct:
        assert b.get_points() == a.get_points()
    else:  # ketama only: uhashring lists a shared position twice, ringroute once
        assert b.get_points() == list(dict(a.get_points()).items())
    assert b.ring == a.ring
    for k in keys:
        assert b.get_node(k) == a.get_node(k), k
        assert b.get_key(k) == a.get_key(k) and type(b.get_key(k)) is type(a.get_key(k))
        assert b.get(k) == a.get(k)
        assert b[k] == a[k]
        assert b.get_node_instance(k) == a.get_node_instance(k)
        assert b.get_node_hostname(k) == a.get_node_hostname(k)
        assert b.get_node_port(k) == a.get_node_port(k)
        assert b.get_node_weight(k) == a.get_node_weight(k)
        server_a, server_b = a.get_server(k), b.get_server(k)
        assert server_b == server_a and type(server_b) is type(server_a)
        pos_a = a.get_node_pos(k)
        assert b.get_node_pos(k) == (pos_a if pos_a is None or exact else dedup_rank(a._keys, pos_a))
        assert list(b.iterate_nodes(k)) == list(a.iterate_nodes(k))
        for size in (None, 0, 1, 2, 5):
            assert list(b.range(k, size)) == list(a.range(k, size))
            if distinct:
                assert list(b.range(k, size, unique=False)) == list(a.range(k, size, unique=False))
        if distinct:
            assert list(b.iterate_nodes(k, distinct=False)) == list(a.iterate_nodes(k, distinct=False))


def conf_strategy(ketama: bool):
    weight = st.integers(1, 4) if ketama else st.integers(0, 4)
    plain = weight
    full = st.fixed_dictionaries(
        {"weight": weight},
        optional={
            "hostname": st.text(max_size=5),
            "port": st.integers(0, 65535),
            "instance": st.integers(),
            "unknown": st.integers(),
            **({} if ketama else {"vnodes": st.integers(0, 12)}),
        },
    )
    return st.one_of(plain, full)


@st.composite
def scenarios(draw):
    ketama = draw(st.booleans())
    vnodes = draw(st.integers(1, 12))
    names = draw(st.lists(NAMES, min_size=0, max_size=6, unique=True))
    as_dict = draw(st.booleans())
    if as_dict:
        nodes = {n: draw(conf_strategy(ketama)) for n in names}
    else:
        nodes = names
    ops = draw(
        st.lists(
            st.one_of(
                st.tuples(st.just("add"), NAMES, conf_strategy(ketama)),
                st.tuples(st.just("remove"), st.integers(0, 10)),
            ),
            max_size=5,
        )
    )
    keys = draw(st.lists(KEYS, min_size=1, max_size=8))
    return ketama, vnodes, nodes, ops, keys


@pytest.mark.parametrize("vnodes", [0, 3])
def test_reconfiguring_with_an_equal_int_weight_regenerates_nothing(vnodes: int) -> None:
    """uhashring stores the new conf (vnodes back to the default) but keeps the node's old points
    when an int weight equal to the current one reconfigures it (found by hypothesis)."""
    a, b = real.HashRing(nodes=[]), compat.HashRing(nodes=[])
    for ring in (a, b):
        ring.add_node("0", {"weight": 1, "hostname": "", "vnodes": vnodes})
        ring.add_node("0", 1)
        ring.add_node("other", 1)
    assert b.size == a.size == vnodes + 160
    assert_same(a, b, ["", "k1", "k2", "0-1"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_side_by_side_with_uhashring(scenario) -> None:
    ketama, vnodes, nodes, ops, keys = scenario
    kw = {"vnodes": vnodes, **({"hash_fn": "ketama"} if ketama else {})}
    a = real.HashRing(nodes=nodes, **kw)
    b = compat.HashRing(nodes=nodes, **kw)
    assert_same(a, b, keys)
    for op in ops:
        if op[0] == "add":
            a.add_node(op[1], op[2])
            b.add_node(op[1], op[2])
        elif a.conf:
            name = list(a.conf)[op[1] % len(a.conf)]
            errors = []
            for ring in (a, b):
                try:
                    ring.remove_node(name)
                    errors.append(None)
                except KeyError as e:  # uhashring's md5 mode on a node without points
                    errors.append(str(e))
            assert errors[0] == errors[1]
        assert_same(a, b, keys)
    assert len(b) == len(a.conf)
    for name in a.conf:
        assert name in b


@pytest.mark.parametrize("kw", [{}, {"hash_fn": "ketama"}])
def test_defaults_and_vector_membership_against_uhashring(kw: dict) -> None:
    names = [f"node-{i}" for i in range(10)]
    a, b = real.HashRing(names, **kw), compat.HashRing(names, **kw)
    keys = [f"key-{i}" for i in range(3000)] + [i for i in range(200)] + [b"raw", None, ""]
    assert_same(a, b, keys[:300])
    assert [b.get_node(k) for k in keys] == [a.get_node(k) for k in keys]


def test_node_configuration_forms() -> None:
    for nodes in ("solo", ["a", "b"], {"a": 2, "b": 1}, {"a": {"weight": 2, "port": 11211}}):
        a, b = real.HashRing(nodes), compat.HashRing(nodes)
        assert b.conf == a.conf
        assert b.get_points() == a.get_points()
    b = compat.HashRing({"a": {"instance": "obj-a", "hostname": "10.0.0.1", "port": 1}})
    assert b["k"] == "obj-a" and b.get_node_instance("k") == "obj-a"
    assert b.get_node_hostname("k") == "10.0.0.1" and b.get_node_port("k") == 1
    assert b.get_instances() == ["obj-a"]


def test_per_node_vnodes_md5_mode() -> None:
    nodes = {"a": {"vnodes": 3}, "b": {"vnodes": 200, "weight": 2}, "c": {"vnodes": 0}}
    a, b = real.HashRing(nodes), compat.HashRing(nodes)
    assert b.distribution == a.distribution == Counter({"a": 3, "b": 400})
    assert b.get_points() == a.get_points()
    assert_same(a, b, [f"k{i}" for i in range(200)])


def test_weight_fn_and_regenerate() -> None:
    factor = {"v": 1}

    def weight_fn(**conf):
        return conf["weight"] * factor["v"] + (1 if conf["nodename"] == "a" else 0)

    for kw in ({}, {"hash_fn": "ketama"}):
        a = real.HashRing({"a": 1, "b": 2}, weight_fn=weight_fn, **kw)
        b = compat.HashRing({"a": 1, "b": 2}, weight_fn=weight_fn, **kw)
        assert_same(a, b, ["x", "y"])
        factor["v"] = 3
        a.regenerate()
        b.regenerate()
        assert_same(a, b, [f"k{i}" for i in range(100)])
        factor["v"] = 1


def test_reconfigure_existing_node_and_remove() -> None:
    for kw in ({}, {"hash_fn": "ketama"}):
        a, b = real.HashRing(["a", "b", "c"], **kw), compat.HashRing(["a", "b", "c"], **kw)
        for ring in (a, b):
            ring["b"] = {"weight": 3, "hostname": "h"}
            ring.add_node("d")
            del ring["a"]
        assert_same(a, b, [f"k{i}" for i in range(300)])
        a.remove_node("b")
        b.remove_node("b")
        assert_same(a, b, [f"k{i}" for i in range(300)])


def test_empty_ring_answers() -> None:
    for kw in ({}, {"hash_fn": "ketama"}):
        a, b = real.HashRing(**kw), compat.HashRing(**kw)
        assert_same(a, b, ["k", 1])
        assert b.get_node("k") is None and b["k"] is None and b.get("k") is None
        assert b.get_node_pos("k") is None and b.get_server("k") is None
        assert list(b.iterate_nodes("k")) == [None] == list(a.iterate_nodes("k"))
        assert list(b.range("k")) == [] and b.size == 0 and len(b) == 0 and "k" not in b


def test_print_continuum_matches() -> None:
    for nodes in ([], ["a", "b"]):
        outs = []
        for mod in (real, compat):
            buf = io.StringIO()
            with redirect_stdout(buf):
                mod.HashRing(nodes, vnodes=3).print_continuum()
            outs.append(buf.getvalue())
        assert outs[0] == outs[1]


def test_bytes_and_non_str_keys_hash_as_str() -> None:
    b = compat.HashRing(["a", "b", "c"])
    assert b.get_key(b"ab") == b.get_key("b'ab'")
    assert b.get_key(42) == b.get_key("42")
    assert b.get_node(None) == b.get_node("None")


def test_errors_like_uhashring() -> None:
    with pytest.raises(ValueError, match="nodes configuration should be a list or a dict"):
        compat.HashRing(("a", "b"))
    with pytest.raises(ValueError, match="node configuration should be a dict or an int"):
        compat.HashRing({"a": "heavy"})
    with pytest.raises(TypeError, match="weight_fn should be a callable function"):
        compat.HashRing(["a"], weight_fn=3)
    with pytest.raises(TypeError, match="hash_fn should be a callable function"):
        compat.HashRing(["a"], hash_fn="sha1")
    ring = compat.HashRing(["a", "b"])
    with pytest.raises(KeyError) as e:
        ring.remove_node("zz")
    with pytest.raises(KeyError) as e_real:
        real.HashRing(["a", "b"]).remove_node("zz")
    assert str(e.value) == str(e_real.value)
    with pytest.raises(ZeroDivisionError):
        real.HashRing({"a": 0}, hash_fn="ketama")
    with pytest.raises(ZeroDivisionError):
        compat.HashRing({"a": 0}, hash_fn="ketama")


def test_documented_refusals() -> None:
    with pytest.raises(ValueError, match="replicas"):
        compat.HashRing(["a"], hash_fn="ketama", replicas=5)
    with pytest.raises(ValueError, match="same str"):
        compat.HashRing([1, "1"])
    with pytest.raises(ValueError, match="empty"):
        compat.HashRing([""])
    with pytest.raises(TypeError, match="weight must be an int"):
        compat.HashRing({"a": {"weight": 1.5}})
    with pytest.raises(ValueError, match="same vnodes"):
        compat.HashRing({"a": {"vnodes": 3}, "b": {"vnodes": 4}}, hash_fn="ketama")
    ring = compat.HashRing(["a", "b"], hash_fn="ketama")
    before = ring.get_points()
    with pytest.raises(ValueError, match="negative"):
        ring.add_node("c", {"weight": -1})
    assert ring.get_points() == before and "c" not in ring  # nothing changed


def sum_hash(key: object) -> int:
    """A custom hash_fn as users write them: any callable key -> int (here one with collisions)."""
    return sum(str(key).encode()) * 7919 % 1000


def sha_hash(key: object) -> int:
    import hashlib

    return int.from_bytes(hashlib.sha1(str(key).encode()).digest()[:8], "big")


@st.composite
def custom_scenarios(draw):
    """Memberships and changes for the rings whose points are made in Python: a custom hash_fn (md5
    rules), or ketama with 0 to 3 replicas (per-node vnodes allowed there)."""
    kind = draw(st.sampled_from(["sum", "sha", "ketama"]))
    kw: dict = {"vnodes": draw(st.integers(1, 8))}
    if kind == "ketama":
        kw |= {"hash_fn": "ketama", "replicas": draw(st.integers(0, 3))}
    else:
        kw["hash_fn"] = sum_hash if kind == "sum" else sha_hash
    ketama = kind == "ketama"
    names = draw(st.lists(NAMES, min_size=0, max_size=5, unique=True))
    weight = st.integers(1, 3) if ketama else st.integers(0, 3)
    conf = st.one_of(weight, st.fixed_dictionaries({"weight": weight}, optional={"vnodes": st.integers(0, 6)}))
    nodes = {n: draw(conf) for n in names}
    ops = draw(
        st.lists(
            st.one_of(st.tuples(st.just("add"), NAMES, conf), st.tuples(st.just("remove"), st.integers(0, 10))),
            max_size=4,
        )
    )
    return kw, nodes, ops, draw(st.lists(KEYS, min_size=1, max_size=6))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(custom_scenarios())
def test_custom_hashing_side_by_side_with_uhashring(scenario) -> None:
    """A hash_fn callable and ketama replicas other than 4: uhashring's answers, repeated positions
    and collisions included."""
    kw, nodes, ops, keys = scenario
    outcomes = []
    rings = []
    for lib in (real, compat):
        try:
            rings.append(lib.HashRing(nodes=dict(nodes), **kw))
            outcomes.append(None)
        except ZeroDivisionError:
            outcomes.append("zero")
    assert outcomes[0] == outcomes[1]
    if outcomes[0]:
        return
    a, b = rings
    assert_same(a, b, keys, exact=True)
    for op in ops:
        if op[0] == "add":
            errs = []
            for ring in (a, b):
                try:
                    ring.add_node(op[1], op[2])
                    errs.append(None)
                except ZeroDivisionError:
                    errs.append("zero")
            assert errs[0] == errs[1]
            if errs[0]:
                return  # uhashring keeps the half-stored conf; ringroute changed nothing (documented)
        elif a.conf:
            name = list(a.conf)[op[1] % len(a.conf)]
            errors = []
            for ring in (a, b):
                try:
                    ring.remove_node(name)
                    errors.append(None)
                except (KeyError, ZeroDivisionError) as e:
                    errors.append(type(e).__name__ + str(e))
            assert errors[0] == errors[1]
            if errors[0] and errors[0].startswith("Zero"):
                return
        assert_same(a, b, keys, exact=True)


class Server:
    """A node object that is not a str, as uhashring users pass (its str is its address)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@pytest.mark.parametrize("kw", [{}, {"hash_fn": "ketama"}, {"hash_fn": sha_hash}])
def test_nodes_that_are_not_str_come_back_as_given(kw: dict) -> None:
    servers = [Server("10.0.0.1", 11211), Server("10.0.0.2", 11211), Server("10.0.0.3", 11212)]
    ints = [1, 2, 3]
    for nodes in (servers, ints):
        a, b = real.HashRing(nodes=list(nodes), **kw), compat.HashRing(nodes=list(nodes), **kw)
        keys = [f"k{i}" for i in range(300)]
        assert_same(a, b, keys[:40], exact="hash_fn" in kw and callable(kw["hash_fn"]))
        for k in keys:
            got = b.get_node(k)
            assert got is a.get_node(k) and any(got is n for n in nodes)
        assert all(any(n is m for m in nodes) for n in b.iterate_nodes("k"))
        assert nodes[0] in b and list(b.get_nodes()) == list(nodes)
        b.remove_node(nodes[0])
        a.remove_node(nodes[0])
        assert_same(a, b, keys[:40], exact="hash_fn" in kw and callable(kw["hash_fn"]))
        b.add_node(nodes[0], {"weight": 2})
        a.add_node(nodes[0], {"weight": 2})
        assert_same(a, b, keys[:40], exact="hash_fn" in kw and callable(kw["hash_fn"]))


def test_pickle_round_trip() -> None:
    import pickle

    for kw in ({}, {"hash_fn": "ketama"}, {"hash_fn": "ketama", "replicas": 2}, {"hash_fn": sha_hash}):
        b = compat.HashRing({"a": {"instance": [1, 2]}, "b": 2}, **kw)
        b2 = pickle.loads(pickle.dumps(b))
        assert b2.conf == b.conf and b2.get_points() == b.get_points()
        assert b2["k"] == b["k"]


def test_ketama_shared_position_deviation_is_exactly_as_documented() -> None:
    """shard-2106-0..9 is a ketama ring with two points at one 32-bit position (found by search).
    uhashring lists that position twice in its sorted keys, ringroute once: owners agree everywhere,
    get_node_pos past it is smaller by exactly one."""
    names = [f"shard-2106-{i}" for i in range(10)]
    a, b = real.HashRing(names, hash_fn="ketama"), compat.HashRing(names, hash_fn="ketama")
    assert len(a._keys) == len(set(a._keys)) + 1 == b.size + 1
    (shared,) = [k for k in set(a._keys) if a._keys.count(k) == 2]
    keys = [f"key-{i}" for i in range(5000)]
    assert_same(a, b, keys[:200])
    shifted = 0
    for k in keys:
        assert b.get_node(k) == a.get_node(k)
        pos = a.get_node_pos(k)
        want = pos - 1 if a._keys[pos - 1] >= shared and pos > a._keys.index(shared) + 1 else pos
        shifted += want != pos
        assert b.get_node_pos(k) == want
    assert shifted > 0
