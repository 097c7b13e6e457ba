"""Every method, property and error of ringroute.HashRing (fastring's API and the extensions)."""

from __future__ import annotations

import inspect
from array import array

import pytest

import ringroute
from ringroute import HashRing


@pytest.fixture
def ring() -> HashRing:
    r = HashRing()
    r.add_node("a", hostname="10.0.0.1", port=11211, instance={"client": "A"})
    r.add_node("b", weight=2)
    r.add_node("c")
    return r


# --- construction --------------------------------------------------------------------------------


def test_defaults() -> None:
    r = HashRing()
    assert r.placement == "native"
    assert r.virtual_nodes == 128
    assert len(r) == 0 and r.point_count == 0 and r.version == 0
    assert r.get_node("k") is None
    assert r.node_names == () and r.nodes == {} and list(r) == []


def test_virtual_nodes_and_placement_alias() -> None:
    r = HashRing(7, placement="fastring", nodes=["a", "b"])
    assert (r.placement, r.virtual_nodes, r.point_count) == ("native", 7, 14)
    assert HashRing(virtual_nodes=None).virtual_nodes == 128


@pytest.mark.parametrize("bad", [0, -1, 2**32, 2**100])
def test_virtual_nodes_out_of_range(bad: int) -> None:
    with pytest.raises(ValueError):
        HashRing(bad)


def test_virtual_nodes_type() -> None:
    with pytest.raises(TypeError):
        HashRing("128")  # type: ignore[arg-type]


def test_unknown_placement_lists_valid_ones() -> None:
    with pytest.raises(ValueError, match="native") as e:
        HashRing(placement="nope")
    assert "nope" in str(e.value)
    assert "native" in ringroute.PROFILES


def test_nodes_forms() -> None:
    assert HashRing(nodes=["a", "b", "a"]).node_names == ("a", "b")  # duplicates: no-op
    assert HashRing(nodes=("x" for _ in range(1))).node_names == ("x",)
    r = HashRing(nodes={"a": 1, "b": 3, "c": None})
    assert [r.get_node_weight(n) for n in "abc"] == [1, 3, 1]
    inst = object()
    r = HashRing(
        nodes={
            "a": {"weight": 2, "hostname": "h", "port": 1, "instance": inst},
            "b": {},
        }
    )
    assert r.nodes["a"] == {
        "weight": 2,
        "vnodes": 128,
        "hostname": "h",
        "port": 1,
        "instance": inst,
    }
    assert r.get_node_weight("b") == 1
    assert r.version == 1  # built in one publication


@pytest.mark.parametrize(
    "nodes, exc",
    [
        ("abc", TypeError),
        (b"abc", TypeError),
        ([1, 2], TypeError),
        (42, TypeError),
        ({"a": "heavy"}, TypeError),
        ({"a": -1}, ValueError),
        ({"a": 2**32}, ValueError),
        ({"a": {"vnodes": 3}}, ValueError),
        ({"a": {"wieght": 3}}, ValueError),
        ({"a": {"port": 70000}}, ValueError),
        ({"a": {"hostname": 5}}, TypeError),
        (["a", ""], ValueError),
    ],
)
def test_bad_nodes_argument_builds_nothing(nodes: object, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        HashRing(nodes=nodes)  # type: ignore[arg-type]


def test_weight_overflowing_points_is_value_error() -> None:
    r = HashRing(2)
    with pytest.raises(ValueError, match="overflows"):
        r.add_node("a", 2**31)
    assert len(r) == 0 and r.version == 0


# --- membership ----------------------------------------------------------------------------------


def test_add_node_is_noop_when_present(ring: HashRing) -> None:
    v = ring.version
    ring.add_node("a", weight=9, hostname="other")
    assert ring.version == v
    assert ring.get_node_weight("a") == 1 and ring.get_node_hostname("a") == "10.0.0.1"


def test_remove_node(ring: HashRing) -> None:
    ring.remove_node("b")
    assert "b" not in ring and len(ring) == 2
    v = ring.version
    ring.remove_node("zzz")  # absent: no-op
    assert ring.version == v
    assert all(ring.get_node(f"k{i}") in ("a", "c") for i in range(200))


def test_remove_last_node_empties_ring() -> None:
    r = HashRing(nodes=["a"])
    r.remove_node("a")
    assert r.get_node("k") is None
    with pytest.raises(KeyError):
        r["k"]


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        ({"name": 1}, TypeError),
        ({"name": b"a"}, TypeError),
        ({"name": ""}, ValueError),
        ({"name": "x", "weight": -1}, ValueError),
        ({"name": "x", "weight": 2**32}, ValueError),
        ({"name": "x", "weight": 1.5}, TypeError),
        ({"name": "x", "port": -1}, ValueError),
        ({"name": "x", "port": 65536}, ValueError),
        ({"name": "x", "port": "80"}, TypeError),
        ({"name": "x", "hostname": 1}, TypeError),
    ],
)
def test_add_node_errors_change_nothing(ring: HashRing, kwargs: dict, exc: type) -> None:
    before = (ring.version, ring.fingerprint, ring.node_names)
    with pytest.raises(exc):
        ring.add_node(**kwargs)
    assert (ring.version, ring.fingerprint, ring.node_names) == before


def test_weight_zero_registers_without_keys() -> None:
    r = HashRing(nodes=["a"])
    r.add_node("drained", weight=0)
    assert "drained" in r and r.get_node_weight("drained") == 0
    assert {r.get_node(f"k{i}") for i in range(500)} == {"a"}
    assert r.nodes["drained"]["vnodes"] == r.virtual_nodes == 128  # the ring's, as fastring


def test_set_node_weight(ring: HashRing) -> None:
    ring.set_node_weight("a", 5)
    assert ring.get_node_weight("a") == 5
    assert ring.get_node_hostname("a") == "10.0.0.1"  # metadata kept
    assert ring.node_names == ("a", "b", "c")  # place kept
    assert ring.point_count == (5 + 2 + 1) * 128
    with pytest.raises(KeyError):
        ring.set_node_weight("nope", 1)
    with pytest.raises(ValueError):
        ring.set_node_weight("a", -3)
    with pytest.raises(ValueError):
        ring.set_node_weight("a", 2**32)
    with pytest.raises(TypeError):
        ring.set_node_weight("a", "2")  # type: ignore[arg-type]
    assert ring.get_node_weight("a") == 5


def test_weight_changes_share(ring: HashRing) -> None:
    keys = [f"key-{i}" for i in range(6000)]
    counts = {n: 0 for n in ring}
    for n in ring.get_node_batch(keys):
        counts[n] += 1
    # b has weight 2 of 4: about half the keys (loose bound; exact shares are in test_analysis).
    assert 0.4 < counts["b"] / len(keys) < 0.6


# --- metadata ------------------------------------------------------------------------------------


def test_metadata_getters(ring: HashRing) -> None:
    assert ring.get_node_hostname("a") == "10.0.0.1"
    assert ring.get_node_port("a") == 11211
    assert ring.get_node_instance("a") == {"client": "A"}
    assert ring.get_node_weight("b") == 2
    # Set on "a" only: None on "b"; None for an unknown node.
    assert ring.get_node_hostname("b") is None and ring.get_node_hostname("zz") is None
    assert ring.get_node_port("b") is None and ring.get_node_port("zz") is None
    assert ring.get_node_instance("b") is None and ring.get_node_instance("zz") is None
    assert ring.get_node_weight("zz") is None


def test_instance_identity_is_kept(ring: HashRing) -> None:
    obj = object()
    ring.add_node("with-obj", instance=obj)
    assert ring.get_node_instance("with-obj") is obj
    ring.set_node_weight("with-obj", 3)  # survives a re-point
    assert ring.get_node_instance("with-obj") is obj


def test_nodes_property(ring: HashRing) -> None:
    nodes = ring.nodes
    assert list(nodes) == ["a", "b", "c"]
    assert nodes["a"] == {
        "weight": 1,
        "vnodes": 128,
        "hostname": "10.0.0.1",
        "port": 11211,
        "instance": {"client": "A"},
    }
    # Metadata that is not set is left out: the dict of a plain node is fastring's.
    assert nodes["b"] == {"weight": 2, "vnodes": 128}
    nodes["a"]["weight"] = 99  # a copy: the ring is unchanged
    assert ring.get_node_weight("a") == 1


# --- lookups -------------------------------------------------------------------------------------


def test_dunders(ring: HashRing) -> None:
    assert len(ring) == 3
    assert "a" in ring and "zz" not in ring and 1 not in ring and b"a" not in ring
    assert list(ring) == ["a", "b", "c"] == list(ring.node_names)
    assert ring["key"] == ring.get_node("key")


def test_getitem_empty_is_key_error() -> None:
    with pytest.raises(KeyError):
        HashRing()["k"]
    drained = HashRing(nodes={"a": 0})
    with pytest.raises(KeyError):
        drained["k"]
    assert drained.get_node("k") is None


@pytest.mark.parametrize("bad", [1, 1.0, None, ["k"], bytearray(b"k"), memoryview(b"k")])
def test_non_str_bytes_keys_are_type_errors(ring: HashRing, bad: object) -> None:
    for call in (
        ring.get_node,
        ring.key_hash,
        ring.__getitem__,
        lambda k: ring.get_replicas(k, 2),
        ring.iterate_nodes,
        ring.range,
    ):
        with pytest.raises(TypeError):
            call(bad)
    with pytest.raises(TypeError):
        ring.get_node_batch(["ok", bad])


def test_str_and_bytes_keys_agree(ring: HashRing) -> None:
    for k in ["", "key", "ü", "u\u0308", "🦀" * 10, "x" * 1000]:
        assert ring.get_node(k) == ring.get_node(k.encode())
        assert ring.key_hash(k) == ring.key_hash(k.encode())
    # Precomposed and decomposed ü are different keys (no normalisation).
    assert ring.key_hash("\u00fc") != ring.key_hash("u\u0308")


def test_unencodable_str_key_raises(ring: HashRing) -> None:
    with pytest.raises(UnicodeEncodeError):
        ring.get_node("\ud800")


def test_batch_inputs(ring: HashRing) -> None:
    keys = [f"k{i}" for i in range(300)]
    want = [ring.get_node(k) for k in keys]
    assert ring.get_node_batch(keys) == want
    assert ring.get_node_batch(tuple(keys)) == want
    assert ring.get_node_batch(iter(keys)) == want
    assert ring.get_node_batch({k: 1 for k in keys}) == want  # dict iterates its keys
    assert ring.get_node_batch([]) == []
    assert ring.get_node_batch(array("Q")) == []
    hashes = array("Q", [ring.key_hash(k) for k in keys])
    assert ring.get_node_batch(hashes) == want
    misaligned = memoryview(b"\0" + hashes.tobytes())[1:].cast("Q")
    assert ring.get_node_batch(misaligned) == want
    assert HashRing().get_node_batch(keys[:3]) == [None, None, None]
    assert HashRing().get_node_batch(hashes[:2]) == [None, None]


@pytest.mark.parametrize("bad", ["keys", b"keys", 5, None])
def test_batch_rejects_non_iterables_and_single_keys(ring: HashRing, bad: object) -> None:
    with pytest.raises(TypeError):
        ring.get_node_batch(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ring.get_node_index_batch(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("typecode", ["q", "I", "B", "d"])
def test_batch_rejects_other_buffers(ring: HashRing, typecode: str) -> None:
    with pytest.raises(TypeError, match="64-bit"):
        ring.get_node_batch(array(typecode, [1, 2]))


def test_batch_error_in_generator_propagates(ring: HashRing) -> None:
    def gen():
        yield "a"
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        ring.get_node_batch(gen())


def test_index_batch(ring: HashRing) -> None:
    keys = [f"k{i}" for i in range(100)]
    idx = ring.get_node_index_batch(keys)
    assert isinstance(idx, array) and idx.typecode == "I" and len(idx) == 100
    assert [ring.node_names[i] for i in idx] == ring.get_node_batch(keys)
    idx2, names = ring.get_node_index_batch(keys, with_names=True)
    assert idx2 == idx and names == ring.node_names
    with pytest.raises(KeyError):
        HashRing().get_node_index_batch(["k"])
    assert len(HashRing().get_node_index_batch([])) == 0


def test_get_replicas(ring: HashRing) -> None:
    for i in range(100):
        k = f"k{i}"
        reps = ring.get_replicas(k, 2)
        assert len(reps) == 2 and len(set(reps)) == 2 and reps[0] == ring.get_node(k)
        assert ring.get_replicas(k, 10) == ring.get_replicas(k, 3)  # capped at the nodes
        assert sorted(ring.get_replicas(k, 3)) == ["a", "b", "c"]
    assert ring.get_replicas("k", 0) == []
    assert HashRing().get_replicas("k", 3) == []
    with pytest.raises(ValueError):
        ring.get_replicas("k", -1)
    with pytest.raises(TypeError):
        ring.get_replicas("k", "2")  # type: ignore[arg-type]


def test_get_replicas_lists_held_or_changed_stay_as_returned() -> None:
    """A thread keeps the lists it returned and reuses one only when nothing else holds it: a list
    the caller still holds, changed or not, is never written again, and every answer equals the
    walk's, whatever the caller did to the lists before."""
    ring = HashRing(nodes=[f"n{i}" for i in range(20)])
    keys = [f"k{i}" for i in range(200)]
    want = {k: ring.range(k)[:3] for k in keys}
    held = []
    for i, k in enumerate(keys):
        got = ring.get_replicas(k, 3)
        assert got == want[k]
        if i % 3 == 0:
            held.append((k, got))  # kept: a later call must not write it
        elif i % 3 == 1:
            got.append("extra")  # another length: not reused
        else:
            got[0] = object()  # replaced items are released when the list is reused
        r = ring.get_replicas(k, 3)  # the loop's `r = f(k)`: the previous result still held
        assert r == want[k]
    for k, got in held:
        assert got == want[k]
    # Lists of other lengths, and `None`-free answers for every count.
    for n in range(0, 25):
        assert ring.get_replicas("k", n) == ring.range("k")[:n]


def test_get_replicas_reentered_from_a_released_item() -> None:
    """Releasing an item of a reused list may run code (a `__del__`) that calls get_replicas
    again: both calls still answer the walk."""
    ring = HashRing(nodes=[f"n{i}" for i in range(20)])
    seen: list[list[str]] = []

    class Calls:
        def __del__(self) -> None:
            seen.append(ring.get_replicas("inner", 3))

    first = ring.get_replicas("a", 3)
    first[1] = Calls()
    del first
    assert ring.get_replicas("b", 3) == ring.range("b")[:3]
    assert seen == [ring.range("inner")[:3]]


def test_iterate_nodes(ring: HashRing) -> None:
    it = ring.iterate_nodes("k")
    assert iter(it) is it
    distinct = list(it)
    assert distinct == ring.get_replicas("k", 3)
    every = list(ring.iterate_nodes("k", distinct=False))
    assert len(every) == ring.point_count
    assert every[0] == ring.get_node("k")
    assert sorted(set(every)) == ["a", "b", "c"]
    assert every.count("b") == 256
    # The distinct walk is the undistinct one with repeats dropped.
    assert list(dict.fromkeys(every)) == distinct
    assert list(HashRing().iterate_nodes("k")) == []


def test_iterate_nodes_is_lazy_and_keeps_its_membership() -> None:
    """The walk is made in chunks as it is read (the same nodes as range, chunk boundaries
    included), and stays the walk of the membership it started on."""
    from itertools import islice

    ring = HashRing(8, nodes=[f"n{i}" for i in range(40)])
    for key in ("k", "user:1", b"\x00"):
        for distinct in (True, False):
            want = ring.range(key, unique=distinct)
            for n in (0, 1, 7, 8, 9, 16, 17, 24, 25, 40, 200):
                assert list(islice(ring.iterate_nodes(key, distinct), n)) == want[:n]
            assert list(ring.iterate_nodes(key, distinct)) == want
    walk = ring.iterate_nodes("k")
    first = [next(walk) for _ in range(3)]
    before = ring.range("k")
    ring.remove_node(before[5])
    ring.mark_down(before[6])
    assert first + list(walk) == before
    assert before[5] not in list(ring.iterate_nodes("k"))
    with pytest.raises(TypeError):
        ring.iterate_nodes(1)  # type: ignore[arg-type]


def test_range(ring: HashRing) -> None:
    assert ring.range("k") == ring.get_replicas("k", 3)
    assert ring.range("k", 2) == ring.get_replicas("k", 2)
    assert ring.range("k", size=0) == []
    every = list(ring.iterate_nodes("k", distinct=False))
    assert ring.range("k", unique=False) == every
    assert ring.range("k", 5, unique=False) == every[:5]
    assert ring.range("k", 10**9, unique=False) == every
    assert HashRing().range("k") == []
    with pytest.raises(ValueError):
        ring.range("k", -1)


def test_key_hash_is_fastring_xxh3(ring: HashRing) -> None:
    # From shared/vectors/fastring.n10.tsv (and the Rust doctest of ringroute::hash::xxh3_64).
    assert ring.key_hash("key-0") == 9340302149712544120
    assert HashRing().key_hash(b"key-0") == 9340302149712544120


def test_properties(ring: HashRing) -> None:
    assert ring.point_count == 4 * 128
    # Three add_node calls, checked each at once, published together by the first read.
    assert ring.version == 1
    assert isinstance(ring.fingerprint, int)
    same = HashRing(nodes={"c": 1, "b": 2, "a": 1})  # other order, no metadata
    assert same.fingerprint == ring.fingerprint
    assert HashRing(nodes={"a": 1, "b": 1, "c": 1}).fingerprint != ring.fingerprint


def test_repr(ring: HashRing) -> None:
    assert repr(ring) == (
        "<ringroute.HashRing placement='native' virtual_nodes=128 nodes=3 points=512 version=1>"
    )


def test_single_key_methods_take_arguments_like_python_functions(ring: HashRing) -> None:
    """get_node and get_replicas are plain vectorcall methods: positional or keyword arguments, and
    CPython's own TypeErrors for a missing, extra, unknown or repeated argument."""
    assert ring.get_node(key="k") == ring.get_node("k") == HashRing.get_node(ring, "k")
    assert ring.get_replicas("k", count=2) == ring.get_replicas(key="k", count=2)
    assert ring.get_replicas(count=2, key="k") == ring.get_replicas("k", 2)
    assert str(inspect.signature(HashRing.get_node)) == "(self, /, key)"
    assert str(inspect.signature(HashRing.get_replicas)) == "(self, /, key, count)"
    assert HashRing.get_node.__doc__ and HashRing.get_replicas.__doc__
    bad_calls = [
        (lambda: ring.get_node(), "missing required argument 'key'"),  # type: ignore[call-arg]
        (lambda: ring.get_node("a", "b"), "takes 1 positional argument but 2"),  # type: ignore[call-arg]
        (lambda: ring.get_node(k="x"), "unexpected keyword argument 'k'"),  # type: ignore[call-arg]
        (lambda: ring.get_node("x", key="y"), "multiple values for argument 'key'"),  # type: ignore[misc]
        (lambda: ring.get_replicas("x"), "missing required argument 'count'"),  # type: ignore[call-arg]
        (lambda: ring.get_replicas("x", 1, 2), "takes 2 positional arguments but 3"),  # type: ignore[call-arg]
        (lambda: ring.get_replicas(1, 2), "key must be str or bytes, not int"),  # type: ignore[arg-type]
        (lambda: HashRing.get_node("not a ring", "k"), "HashRing"),  # type: ignore[arg-type]
    ]
    for call, message in bad_calls:
        with pytest.raises(TypeError, match=message):
            call()
    with pytest.raises(UnicodeEncodeError):
        ring.get_node("\udc80")


def test_frozen_class(ring: HashRing) -> None:
    with pytest.raises(AttributeError):
        ring.foo = 1  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        ring.placement = "x"  # type: ignore[misc]


def test_every_public_item_has_a_docstring() -> None:
    for cls in (ringroute.HashRing, ringroute.Transaction):
        assert cls.__doc__
        for name, member in inspect.getmembers(cls):
            if name.startswith("_"):
                continue
            assert member.__doc__, f"{cls.__name__}.{name} has no docstring"
    assert ringroute.__doc__


def test_module_constants() -> None:
    assert ringroute.PICKLE_VERSION == 2
    assert isinstance(ringroute.__version__, str)


def test_stubs_ship_and_match_the_runtime_api() -> None:
    """The installed package carries py.typed and _ringroute.pyi, and the stub declares exactly the
    public names each class has at run time."""
    import ast
    from pathlib import Path

    pkg = Path(ringroute.__file__).parent
    assert (pkg / "py.typed").is_file()
    tree = ast.parse((pkg / "_ringroute.pyi").read_text(encoding="utf-8"))
    classes = {c.name: c for c in tree.body if isinstance(c, ast.ClassDef)}
    for cls in (ringroute.HashRing, ringroute.Transaction):
        stub = {
            f.name
            for f in classes[cls.__name__].body
            if isinstance(f, ast.FunctionDef) and not f.name.startswith("_")
        }
        runtime = {n for n in dir(cls) if not n.startswith("_")}
        assert stub == runtime, (cls.__name__, stub ^ runtime)


# --- fastring compatibility: out-of-range integers, vnodes, identity -------------------------------


def test_out_of_range_is_both_value_error_and_overflow_error() -> None:
    import ringroute

    assert issubclass(ringroute.OutOfRangeError, ValueError)
    assert issubclass(ringroute.OutOfRangeError, OverflowError)
    assert ringroute.OutOfRangeError.__module__ == "ringroute"
    r = HashRing(nodes=["a", "b"])
    for call in (
        lambda: r.add_node("x", weight=-1),
        lambda: r.add_node("x", weight=2**32),
        lambda: r.set_node_weight("a", -5),
        lambda: r.get_replicas("k", -1),
        lambda: HashRing(-1),
        lambda: HashRing(2**32),
        lambda: r.add_node("x", port=-1),
    ):
        for exc in (ValueError, OverflowError, ringroute.OutOfRangeError):
            with pytest.raises(exc):
                call()
    assert len(r) == 2 and "x" not in r
    # A wrong type stays a TypeError.
    with pytest.raises(TypeError):
        r.add_node("x", weight="1")  # type: ignore[arg-type]


def test_fastring_view_of_nodes_and_names() -> None:
    r = HashRing(virtual_nodes=64)
    assert r.nodes == {} and list(r) == [] and r.get_node("k") is None
    r.add_node("a", weight=2)
    r.add_node("b", weight=3)
    r.add_node("c")
    assert {n: (d["weight"], d["vnodes"]) for n, d in r.nodes.items()} == {
        "a": (2, 64),
        "b": (3, 64),
        "c": (1, 64),
    }
    assert "virtual_nodes=64" in repr(r)
    # The owner's name is the same object every time (no new string per lookup).
    assert r.get_node("any-key") is r.get_node("any-key")
    assert r.get_replicas("k", 10)[0] == r.get_node("k") and len(r.get_replicas("k", 10)) == 3
    with pytest.raises(KeyError):
        HashRing()["k"]
    r.remove_node("a")
    assert r.get_node_weight("a") is None and len(r) == 2


def test_nodes_of_plain_nodes_hold_weight_and_vnodes_only() -> None:
    # A fastring user compares the whole mapping: nodes without metadata give exactly two keys.
    r = HashRing(virtual_nodes=32)
    r.add_node("x", weight=4)
    r.add_node("y")
    assert r.nodes == {"x": {"weight": 4, "vnodes": 32}, "y": {"weight": 1, "vnodes": 32}}
    # Each piece of metadata appears once it is set, and only it.
    r.add_node("h", hostname="10.1.1.1")
    r.add_node("p", port=6379)
    marker = object()
    r.add_node("i", instance=marker)
    assert r.nodes["h"] == {"weight": 1, "vnodes": 32, "hostname": "10.1.1.1"}
    assert r.nodes["p"] == {"weight": 1, "vnodes": 32, "port": 6379}
    assert r.nodes["i"] == {"weight": 1, "vnodes": 32, "instance": marker}


def test_get_owners_is_the_batch_lookup_under_fastrings_name() -> None:
    r = HashRing(nodes=["n1", "n2", "n3", "n4"])
    keys = [f"item:{i}" for i in range(300)]
    owners = r.get_owners(keys)
    assert owners == r.get_node_batch(keys) == [r.get_node(k) for k in keys]
    assert set(owners) == {"n1", "n2", "n3", "n4"}
    assert HashRing().get_owners(["a", "b"]) == [None, None]
    with pytest.raises(TypeError):
        r.get_owners(["ok", 3])  # type: ignore[list-item]
