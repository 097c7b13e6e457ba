"""ringroute.compat.continuum and ringroute.compat.hash_ring: the examples of the originals'
documentation (python-continuum's and hash_ring's, as kept in the seeds), every method and error, the
originals' quirks, and random memberships against small reference rings written here from the
originals' rules (python-continuum 0.1.1 and hash_ring 1.3.1 are Python 2 only, so they cannot run
beside the tests as uhashring does)."""

from __future__ import annotations

import math
import struct
from bisect import bisect, bisect_right
from hashlib import md5

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringroute.compat.continuum import DEFAULT_TOTAL_DOTS, Continuum, Server
from ringroute.compat.hash_ring import HashRing


def as_bytes(key: str | bytes) -> bytes:
    return key.encode("utf-8") if isinstance(key, str) else key


# -- reference rings ----------------------------------------------------------------------------


def continuum_reference(servers: list[tuple[str, int, int]], totaldots: int):
    """python-continuum's generate() and resolve(): (position, server index) entries, stably sorted."""
    capacity = float(sum(c for _, _, c in servers))
    entries = []
    for i, (host, port, cap) in enumerate(servers):
        dots = int(totaldots * (cap / capacity))
        d, m = divmod(dots, 4)
        for x in range(d):
            for p in struct.unpack("<IIII", md5(("%s-%d-%d" % (host, port, x)).encode()).digest()):
                entries.append((p, i))
        for p in range(m):
            entries.append((p, i))
    entries.sort(key=lambda e: e[0])
    positions = [p for p, _ in entries]

    def resolve(key) -> int:
        if not entries:
            raise IndexError("empty continuum")
        pos = struct.unpack("<IIII", md5(as_bytes(key)).digest())[0]
        at = bisect_right(positions, pos)
        return entries[at if at < len(entries) else 0][1]

    return resolve


def hash_ring_reference(nodes: list[str], weights: dict[str, int]):
    """hash_ring 1.3.1's _generate_circle / get_node_pos / iterate_nodes under Python 3."""
    total = sum(weights.get(n, 1) for n in nodes)
    ring, keys = {}, []
    for node in nodes:
        factor = math.floor((40 * len(nodes) * weights.get(node, 1)) / total)
        for j in range(int(factor)):
            d = md5(("%s-%s" % (node, j)).encode()).digest()
            for i in range(3):
                k = int.from_bytes(d[i * 4 : i * 4 + 4], "little")
                ring[k] = node
                keys.append(k)
    keys.sort()

    def gen_key(key) -> int:
        return int.from_bytes(md5(as_bytes(key)).digest()[:4], "little")

    def pos(key) -> int | None:
        if not ring:
            return None
        p = bisect(keys, gen_key(key))
        return 0 if p == len(keys) else p

    def walk(key) -> list[str]:
        p = pos(key)
        seen: list[str] = []
        for k in keys[p:] + keys[:p]:
            if ring[k] not in seen:
                seen.append(ring[k])
        return seen

    return ring, keys, gen_key, pos, walk


# -- continuum ----------------------------------------------------------------------------------


def test_seed_002_examples() -> None:
    """The python-continuum README, line by line."""
    c = Continuum()
    with pytest.raises(IndexError, match="^empty continuum$"):
        c.resolve("my-key1")
    assert repr(c.add_server("192.168.0.1", 8080)) == '<Server "192.168.0.1:8080", capacity=1>'
    assert repr(c.add_server("192.168.0.2", 8080)) == '<Server "192.168.0.2:8080", capacity=1>'
    assert repr(c.add_server("192.168.0.3", 8080, 2)) == '<Server "192.168.0.3:8080", capacity=2>'
    server = c.add_server("192.168.0.4", 8080)
    assert c.remove_server(server) is None
    assert len(c) == 3
    with pytest.raises(TypeError, match="^server already added$"):
        c.add_server("192.168.0.2", 8080)
    assert repr(c.resolve("my-first-key")) == '<Server "192.168.0.1:8080", capacity=1>'
    assert repr(c.resolve("my-other-key")) == '<Server "192.168.0.3:8080", capacity=2>'


def test_servers_compare_by_host_and_port() -> None:
    a, b = Server("h", 1, 1), Server("h", 1, 5)
    assert a == b and hash(a) == hash(b) and a != Server("h", 2, 1)
    assert Server("a", 9, 1) < Server("b", 1, 1)
    c = Continuum()
    c.add_server("h", 1, 3)
    with pytest.raises(TypeError, match="server already added"):
        c.add_server("h", 1, 7)  # capacity does not matter
    c.remove_server(Server("h", 1, 99))  # any equal server removes it
    assert len(c) == 0 and c.servers == []
    with pytest.raises(ValueError, match=r"list.remove\(x\): x not in list"):
        c.remove_server(a)
    with pytest.raises(ValueError, match="not in list"):
        c.remove_server("h:1")


def test_resolve_returns_the_added_server_objects() -> None:
    c = Continuum()
    added = [c.add_server(f"10.0.0.{i}", 11211) for i in range(5)]
    for i in range(200):
        assert any(c.resolve(f"k{i}") is s for s in added)
    assert c.resolve("k") is c.resolve(b"k")
    with pytest.raises(TypeError, match="key must be str or bytes"):
        c.resolve(5)
    assert [s for _, s in c.points()] and all(p1 <= p2 for (p1, _), (p2, _) in zip(c.points(), c.points()[1:]))


def test_errors_and_refusals() -> None:
    c = Continuum()
    with pytest.raises(TypeError):
        c.add_server(b"host", 1)
    with pytest.raises(TypeError):
        c.add_server("host", "80")
    with pytest.raises(ValueError):
        c.add_server("host", 70000)
    with pytest.raises(TypeError):
        c.add_server("host", 80, "1")
    with pytest.raises(ValueError):
        c.add_server("host", 80, float("nan"))
    with pytest.raises(ValueError):
        c.add_server("host", 80, -0.5)
    with pytest.raises(ValueError):
        c.add_server("[::1]", 80)
    with pytest.raises(ValueError):
        Continuum(0)
    with pytest.raises(TypeError):
        Continuum(10.0)
    assert len(c) == 0
    with pytest.raises(ZeroDivisionError):
        c.add_server("a", 1, 0)  # all capacities 0: the original divides by zero too
    # As the original: the server stays listed, the ring stays as it was (empty here).
    assert len(c) == 1 and c.servers[0].hostname == "a" and c.points() == []
    with pytest.raises(IndexError, match="empty continuum"):
        c.resolve("k")
    c.remove_server(c.servers[0])
    c.add_server("a", 1, 1)
    c.add_server("b", 1, 0)  # a zero capacity beside others is fine: no dots
    assert {s.hostname for _, s in c.points()} == {"a"}
    # Removing the last server with capacity leaves the others at 0: the removal stays, the ring
    # keeps its points (the original's continuum is replaced only once built).
    before = c.points()
    with pytest.raises(ZeroDivisionError):
        c.remove_server(Server("a", 1, 1))
    assert [s.hostname for s in c.servers] == ["b"] and c.points() == before


def test_collapse_past_a_few_hundred_servers() -> None:
    """1000 equal servers: one dot each at position 0, every key on the first server; 1001: no dots,
    IndexError although servers are registered."""
    c = Continuum(autogenerate=False)
    servers = [c.add_server(f"s{i}", 11211) for i in range(1000)]
    c.generate()
    assert len(c.points()) == 1000 and {p for p, _ in c.points()} == {0}
    assert {id(c.resolve(f"k{i}")) for i in range(300)} == {id(servers[0])}
    c.add_server("one-more", 11211)
    c.generate()
    assert len(c) == 1001 and c.points() == []
    with pytest.raises(IndexError, match="empty continuum"):
        c.resolve("k")


def test_autogenerate_false_waits_for_generate() -> None:
    c = Continuum(autogenerate=False)
    c.add_server("a", 1)
    with pytest.raises(IndexError):
        c.resolve("k")
    c.generate()
    assert c.resolve("k").hostname == "a"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["10.0.0.1", "cache", "h-2"]),
            st.integers(0, 65535),
            st.one_of(st.integers(0, 5), st.floats(0, 5, allow_nan=False)),
        ),
        min_size=1,
        max_size=8,
        unique_by=lambda s: (s[0], s[1]),
    ),
    st.sampled_from([DEFAULT_TOTAL_DOTS, 7, 22, 333]),
    st.lists(st.one_of(st.text(max_size=10), st.binary(max_size=10)), min_size=1, max_size=30),
)
def test_float_capacities_match_the_reference(servers, totaldots, keys) -> None:
    """The original accepts float capacities (its share is a float division): the same points."""
    if sum(c for _, _, c in servers) == 0:
        servers[0] = (servers[0][0], servers[0][1], 0.5)
    c = Continuum(totaldots, autogenerate=False)
    added = [c.add_server(*s) for s in servers]
    c.generate()
    resolve = continuum_reference(servers, totaldots)
    for k in keys:
        try:
            want = added[resolve(k)]
        except IndexError:
            with pytest.raises(IndexError, match="empty continuum"):
                c.resolve(k)
            continue
        assert c.resolve(k) is want


def test_float_capacity_example() -> None:
    c = Continuum()
    a = c.add_server("192.168.0.1", 8080, 1.5)
    b = c.add_server("192.168.0.2", 8080, 0.5)
    assert repr(a) == '<Server "192.168.0.1:8080", capacity=1>'  # the original's %d
    owners = [s for _, s in c.points()]
    assert owners.count(a) == 750 and owners.count(b) == 250
    assert c.resolve("my-key1") in (a, b)


def test_totaldots_rounding_as_python_continuum() -> None:
    """22 dots, capacities 15 and 7: int(22 * (15 / 22.0)) is 14, not 15."""
    c = Continuum(22)
    c.add_server("a", 1, 15)
    c.add_server("b", 1, 7)
    owners = [s.hostname for _, s in c.points()]
    assert owners.count("a") == 14 and owners.count("b") == 7


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["10.0.0.1", "cache", "h-2", "é"]), st.integers(0, 65535), st.integers(0, 6)),
        min_size=1,
        max_size=12,
        unique_by=lambda s: (s[0], s[1]),
    ),
    st.sampled_from([DEFAULT_TOTAL_DOTS, 7, 22, 100, 333]),
    st.lists(st.one_of(st.text(max_size=10), st.binary(max_size=10)), min_size=1, max_size=30),
)
def test_random_memberships_match_the_reference(servers, totaldots, keys) -> None:
    if sum(c for _, _, c in servers) == 0:
        servers[0] = (servers[0][0], servers[0][1], 1)
    c = Continuum(totaldots, autogenerate=False)  # a leading capacity 0 alone would divide by 0
    added = [c.add_server(*s) for s in servers]
    c.generate()
    resolve = continuum_reference(servers, totaldots)
    for k in keys:
        try:
            want = added[resolve(k)]
        except IndexError:
            with pytest.raises(IndexError, match="empty continuum"):
                c.resolve(k)
            continue
        assert c.resolve(k) is want


# -- hash_ring ----------------------------------------------------------------------------------


def test_seed_001_examples() -> None:
    servers = ["192.168.0.246:11212", "192.168.0.247:11212", "192.168.0.249:11212"]
    ring = HashRing(servers)
    assert ring.get_node("my_key") in servers
    weights = {"192.168.0.246:11212": 1, "192.168.0.247:11212": 2, "192.168.0.249:11212": 1}
    heavy = HashRing(servers, weights)
    assert heavy.get_node("my_key") in servers
    assert heavy.nodes is servers and heavy.weights is weights
    got = [heavy.get_node(f"k{i}") for i in range(4000)]
    assert got.count("192.168.0.247:11212") > got.count("192.168.0.246:11212")


def test_empty_ring_and_errors() -> None:
    ring = HashRing([])
    assert ring.get_node("k") is None and ring.get_node_pos("k") is None
    assert list(ring.iterate_nodes("k")) == [(None, None)]
    with pytest.raises(TypeError):
        HashRing(None)
    with pytest.raises(TypeError, match="key must be str or bytes"):
        HashRing(["a"]).get_node(3)
    with pytest.raises(ValueError, match="twice"):
        HashRing([1, "1"])  # one str for two nodes
    with pytest.raises(ValueError, match="twice"):
        HashRing(["a", "a"])
    with pytest.raises(TypeError):
        HashRing(["a"], {"a": 1.5})
    with pytest.raises(ValueError):
        HashRing(["a"], {"a": -1})
    with pytest.raises(ZeroDivisionError):
        HashRing(["a", "b"], {"a": 0, "b": 0})  # the original divides by the total weight
    assert HashRing(["a", "b"], {"a": 0}).get_node("k") == "b"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.text(min_size=1, max_size=8), min_size=0, max_size=8, unique=True),
    st.lists(st.integers(0, 5), min_size=8, max_size=8),
    st.lists(st.one_of(st.text(max_size=10), st.binary(max_size=10)), min_size=1, max_size=30),
)
def test_hash_ring_random_memberships_match_the_reference(names, ws, keys) -> None:
    weights = {n: w for n, w in zip(names, ws) if w != 1}
    if names and sum(weights.get(n, 1) for n in names) == 0:
        weights.pop(names[0])
    ring = HashRing(names, weights)
    ref_ring, ref_keys, gen_key, pos, walk = hash_ring_reference(names, weights)
    assert ring.ring == ref_ring
    assert ring._sorted_keys == sorted(set(ref_keys))
    for k in keys:
        assert ring.gen_key(k) == gen_key(k)
        p = pos(k)
        if p is None:
            assert ring.get_node(k) is None and ring.get_node_pos(k) is None
            continue
        assert ring.get_node(k) == ref_ring[ref_keys[p]]
        assert ring.get_node_pos(k) == len(set(ref_keys[:p]))
        assert list(ring.iterate_nodes(k)) == walk(k)


def test_pickle_round_trips() -> None:
    import pickle

    c = Continuum(333)
    c.add_server("a", 1, 2)
    c.add_server("b", 2)
    c2 = pickle.loads(pickle.dumps(c))
    assert c2.servers == c.servers and len(c2) == 2
    assert [repr(c2.resolve(f"k{i}")) for i in range(100)] == [repr(c.resolve(f"k{i}")) for i in range(100)]
    assert c2.resolve("k") in c2.servers
    r = HashRing(["a", "b", "c"], {"b": 3})
    r2 = pickle.loads(pickle.dumps(r))
    assert [r2.get_node(f"k{i}") for i in range(100)] == [r.get_node(f"k{i}") for i in range(100)]


def test_hash_ring_shared_position() -> None:
    """shard-2106-0..9: two points share a 32-bit position; owners and walks still match the
    reference, get_node_pos counts the position once."""
    names = [f"shard-2106-{i}" for i in range(10)]
    ring = HashRing(names)
    ref_ring, ref_keys, gen_key, pos, walk = hash_ring_reference(names, {})
    assert len(ref_keys) == len(set(ref_keys)) + 1 == len(ring._sorted_keys) + 1
    for i in range(3000):
        k = f"key-{i}"
        p = pos(k)
        assert ring.get_node(k) == ref_ring[ref_keys[p]]
        assert ring.get_node_pos(k) == len(set(ref_keys[:p]))
        assert list(ring.iterate_nodes(k)) == walk(k)


class Node:
    """A node object that is not a str (the original hashes ``str(node)`` and hands it back)."""

    def __init__(self, name: object) -> None:
        self.name = name

    def __str__(self) -> str:
        return str(self.name)


def test_hash_ring_nodes_are_any_objects() -> None:
    nodes = [Node(1), Node(2), Node(3)]
    ring = HashRing(nodes, {nodes[2]: 2})
    text = HashRing(["1", "2", "3"], {"3": 2})
    keys = ["BABU", "aloha"] + [f"k{i}" for i in range(500)]
    for k in keys:
        got = ring.get_node(k)
        assert any(got is n for n in nodes)
        assert str(got) == text.get_node(k)  # placed by str(node)
        walk = list(ring.iterate_nodes(k))
        assert len(walk) == 3 and all(any(w is n for n in nodes) for w in walk)
        assert [str(w) for w in walk] == list(text.iterate_nodes(k))
    assert all(any(v is n for n in nodes) for v in ring.ring.values())
    ints = HashRing([10, 20, 30])
    assert ints.get_node("x") in (10, 20, 30) and str(ints.get_node("x")) == HashRing(["10", "20", "30"]).get_node("x")


def test_hash_ring_suite_cases() -> None:
    """What hash_ring's own tests check, in this suite's words: one key one node, stable; every
    node gets words of a long list; a walk visits every node once."""
    servers = [f"192.168.0.{i}:11212" for i in (246, 247, 249, 250, 251, 252)]
    ring = HashRing(servers)
    assert ring.get_node("amir") in servers and ring.get_node("amir") == ring.get_node("amir")
    words = [f"{w}{i}" for i in range(300) for w in ("level", "racecar", "rotor")]
    counts = {s: 0 for s in servers}
    for w in words:
        counts[ring.get_node(w)] += 1
    assert all(counts.values())
    small = HashRing(["1", "2", "3", "4", "5"])
    assert sorted(small.iterate_nodes("a")) == ["1", "2", "3", "4", "5"]


def test_add_multi_servers() -> None:
    c = Continuum()
    a, b = c.add_multi_servers([("a", 1), ("b", 2, 3)])
    assert c.servers == [a, b] and b.capacity == 3
    with pytest.raises(TypeError, match="server already added"):
        c.add_multi_servers([("c", 1), ("a", 1)])
    assert [s.hostname for s in c.servers] == ["a", "b", "c"]


def test_module_examples_run_as_doctests() -> None:
    """The examples in the drop-ins' docs (python-continuum's README example among them) run."""
    import doctest

    import ringroute.compat.continuum as continuum_mod
    import ringroute.compat.hash_ring as hash_ring_mod
    import ringroute.compat.uhashring as uhashring_mod

    for mod in (continuum_mod, hash_ring_mod, uhashring_mod):
        result = doctest.testmod(mod)
        assert result.failed == 0 and result.attempted > 0, mod.__name__
