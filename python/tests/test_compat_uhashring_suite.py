"""uhashring's own test suite (tests/test_implementation.py, test_distribution.py, test_monkey.py),
its cases restated for ``ringroute.compat.uhashring`` in this suite's words. Cases that read
uhashring's private attributes (``_keys``, ``_ring``, ``runtime``) are expressed through the public
API instead (``size``, ``get_points``, ``ring``)."""

from __future__ import annotations

import io
import random
import types
from collections import Counter
from contextlib import redirect_stdout
from math import sqrt
from uuid import uuid4

import pytest

from ringroute.compat.uhashring import HashRing, monkey

THREE = {"node1": 1, "node2": 1, "node3": 1}


@pytest.fixture
def ketama() -> HashRing:
    return HashRing(nodes=dict(THREE), hash_fn="ketama")


@pytest.fixture
def md5_ring() -> HashRing:
    # uhashring's tests pass compat=False (an old keyword): it is ignored, as uhashring ignores it.
    return HashRing(nodes=dict(THREE), compat=False)


def test_sizes_of_both_modes(ketama: HashRing, md5_ring: HashRing) -> None:
    for ring in (ketama, md5_ring):
        assert ring.size == 3 * 160 == len(ring.get_points()) == len(ring.ring)


def test_removal_moves_only_the_removed_nodes_keys(ketama: HashRing) -> None:
    coconut, zoro = ketama.get("coconut"), ketama.get("zoro")
    del ketama["node3"]
    with pytest.raises(KeyError):
        del ketama["node3"]
    assert ketama.get("coconut") == coconut  # was not on node3
    assert ketama.get("zoro") != zoro  # was
    ketama.add_node("node3", 1)
    assert ketama.get("zoro") == zoro


def test_method_aliases(ketama: HashRing) -> None:
    assert ketama.add_node == ketama.__setitem__
    assert ketama.get_node_instance == ketama.__getitem__
    assert ketama.remove_node == ketama.__delitem__
    assert ketama.continuum == ketama.ring
    assert ketama.nodes == ketama.conf


def test_key_hashes_of_both_modes(ketama: HashRing, md5_ring: HashRing) -> None:
    assert ketama.hashi("test") == ketama.get_key("test") == 3446378249
    assert md5_ring.hashi("test") == 12707736894140473154801792860916528374


def test_range_and_iterate(ketama: HashRing) -> None:
    conf = sorted(ketama.conf.values(), key=lambda c: c["nodename"])
    assert sorted(ketama.range("test"), key=lambda c: c["nodename"]) == conf
    assert len(list(ketama.range("test", size=2, unique=True))) == 2
    assert len(list(ketama.range("test", size=2, unique=False))) == 2
    for key in ("1800", "849"):  # keys near the first and the last points
        assert len(list(ketama.range(key))) == 3
    assert len(list(ketama.range("test", size=None, unique=False))) == ketama.size
    assert len(list(ketama.iterate_nodes("test"))) == 3
    assert list(HashRing().iterate_nodes("test")) == [None]


def test_configuration_forms_and_errors() -> None:
    rings = [HashRing({"node1": 1}), HashRing("node1"), HashRing(["node1"]), HashRing({"node1": {"weight": 1}})]
    assert all(r.ring == rings[0].ring for r in rings)
    with pytest.raises(ValueError):
        HashRing({"node1": "fail"})
    with pytest.raises(ValueError):
        HashRing(None)
    assert HashRing().get("test") is None


def test_return_types(ketama: HashRing) -> None:
    assert ketama["test"] is None  # no instance configured
    assert isinstance(ketama.get("test"), dict)
    assert isinstance(ketama.get_instances(), list)
    assert isinstance(ketama.get_node("test"), str)
    assert isinstance(ketama.get_nodes(), type({}.keys()))
    assert isinstance(ketama.get_node_hostname("test"), str)
    assert ketama.get_node_port("test") is None
    assert isinstance(ketama.get_node_pos("test"), int)
    assert isinstance(ketama.get_node_weight("test"), int)
    assert isinstance(ketama.get_points(), list)
    assert isinstance(ketama.get_server("test"), tuple)
    assert isinstance(ketama.iterate_nodes("test"), types.GeneratorType)
    assert isinstance(ketama.range("test"), types.GeneratorType)
    assert isinstance(ketama.distribution, Counter)


def test_print_continuum_returns_none(ketama: HashRing) -> None:
    with redirect_stdout(io.StringIO()) as out:
        assert ketama.print_continuum() is None
        assert HashRing().print_continuum() is None
    assert "Numpoints in continuum: 480" in out.getvalue() and "Continuum empty" in out.getvalue()


def test_keys_of_any_type(ketama: HashRing) -> None:
    assert ketama.get_node(uuid4()) in THREE


def test_weight_fn_in_ketama_mode() -> None:
    def by_last_digit(**conf: object) -> int:
        return int(str(conf["nodename"])[-1])

    ring = HashRing(nodes=dict(THREE), replicas=4, vnodes=40, hash_fn="ketama", weight_fn=by_last_digit)
    assert [ring.distribution[n] for n in THREE] == [80, 160, 240]
    ring.regenerate()
    assert [ring.distribution[n] for n in THREE] == [80, 160, 240]
    for bad in (12, "coconut"):
        with pytest.raises(TypeError):
            HashRing(nodes=dict(THREE), replicas=4, vnodes=40, hash_fn="ketama", weight_fn=bad)


@pytest.mark.parametrize("kw", [{"hash_fn": "ketama"}, {}])
def test_growing_one_node_at_a_time_equals_building_at_once(kw: dict) -> None:
    whole = HashRing(nodes=dict(THREE), **kw)
    grown = HashRing(**kw)
    for name in whole.nodes:
        grown.add_node(name)
    assert grown.nodes == whole.nodes
    assert grown.ring == whole.ring
    assert grown.distribution == whole.distribution


def test_shrinking_to_nothing_leaves_an_empty_ring() -> None:
    nodes = ["172.31.1.0", "172.31.1.125", "172.31.1.202"]
    ring = HashRing(nodes, hash_fn="ketama")
    for i in (1, 2, 0):
        ring.remove_node(nodes[i])
    assert ring.ring == {}


def test_a_hash_fn_of_any_orderable_values() -> None:
    ring = HashRing(["172.31.1.0", "172.31.1.125", "172.31.1.202"], hash_fn=lambda k: k + "_hash")
    assert ring.hashi("coconut") == "coconut_hash"
    assert ring.get_node("coconut") in ring.nodes
    assert ring.size == 3 * 160


def test_distribution_of_random_keys() -> None:
    rng = random.Random(20261202)
    ring = HashRing()
    for i in range(1, 11):
        ring[f"node{i}"] = {"instance": f"node_value{i}"}
    hits = Counter(ring[str(rng.randint(1, 10000))] for _ in range(1000))
    assert sum(hits.values()) == 1000
    mean = sum(hits.values()) / len(hits)
    assert sqrt(sum((n - mean) ** 2 for n in hits.values()) / len(hits)) <= 20
    assert set(hits) == {f"node_value{i}" for i in range(1, 11)}  # instances, not names


def test_monkey_is_importable_beside_hash_ring() -> None:
    assert callable(monkey.patch_memcache)
