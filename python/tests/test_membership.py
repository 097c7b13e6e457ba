"""Membership files: HashRing.from_dict/to_dict/from_file/to_file, their round trips and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ringroute import HashRing

DOC = {
    "placement": "native",
    "virtual_nodes": None,
    "table_size": None,
    "nodes": [
        {"name": "cache-a", "weight": 1, "hostname": "10.0.0.1", "port": 11211, "meta": {"zone": "a"}},
        "cache-b",
        {"name": "cache-c", "weight": 2},
    ],
}


def test_from_dict_builds_the_ring() -> None:
    ring = HashRing.from_dict(DOC)
    assert ring.node_names == ("cache-a", "cache-b", "cache-c")
    assert ring.get_node_hostname("cache-a") == "10.0.0.1"
    assert ring.get_node_port("cache-a") == 11211
    assert ring.get_node_instance("cache-a") == {"zone": "a"}
    assert ring.get_node_instance("cache-b") is None
    assert ring.get_node_weight("cache-c") == 2
    same = HashRing(nodes={"cache-a": 1, "cache-b": 1, "cache-c": 2})
    assert ring.fingerprint == same.fingerprint
    keys = [f"k{i}" for i in range(500)]
    assert ring.get_node_batch(keys) == same.get_node_batch(keys)


def test_to_dict_round_trip_keeps_the_fingerprint() -> None:
    ring = HashRing.from_dict(DOC)
    d = ring.to_dict()
    assert d == {
        "placement": "native",
        "virtual_nodes": 128,
        "nodes": [
            {"name": "cache-a", "weight": 1, "hostname": "10.0.0.1", "port": 11211, "meta": {"zone": "a"}},
            {"name": "cache-b", "weight": 1},
            {"name": "cache-c", "weight": 2},
        ],
    }
    assert HashRing.from_dict(d).fingerprint == ring.fingerprint
    maglev = HashRing(placement="maglev", table_size=251, nodes=["a", "b"])
    md = maglev.to_dict()
    assert (md["placement"], md["table_size"], "virtual_nodes" in md) == ("maglev", 251, False)
    assert HashRing.from_dict(md).fingerprint == maglev.fingerprint


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_file_round_trip(tmp_path: Path, suffix: str) -> None:
    ring = HashRing(64, placement="libmemcached")
    ring.add_node("a", weight=3, instance={"dc": "x", "tags": [1, 2.5]})
    ring.add_node("b", hostname="h", port=1)
    path = tmp_path / f"ring{suffix}"
    ring.to_file(path)
    back = HashRing.from_file(str(path))
    assert back.fingerprint == ring.fingerprint
    assert back.nodes == ring.nodes
    assert back.placement == "libmemcached" and back.virtual_nodes == 64
    assert not (tmp_path / f"ring{suffix}.tmp").exists()


def test_toml_reads_as_written_by_people(tmp_path: Path) -> None:
    path = tmp_path / "ring.toml"
    path.write_text(
        'placement = "native"\nvirtual_nodes = 160\n\n[[nodes]]\nname = "cache-a"\nhostname = "10.0.0.1"\n'
        'port = 11211\n\n[nodes.meta]\nzone = "a"\n\n[[nodes]]\nname = "cache-b"\nweight = 2\n'
    )
    ring = HashRing.from_file(path)
    assert ring.virtual_nodes == 160
    assert ring.get_node_instance("cache-a") == {"zone": "a"}
    assert ring.get_node_weight("cache-b") == 2


@given(
    st.lists(st.integers(min_value=0, max_value=4), min_size=1, max_size=10),
    st.integers(min_value=1, max_value=64),
    st.randoms(use_true_random=False),
)
def test_order_does_not_change_the_fingerprint(weights: list[int], vn: int, rnd: object) -> None:
    nodes = [{"name": f"n{i}", "weight": w} for i, w in enumerate(weights)]
    a = HashRing.from_dict({"virtual_nodes": vn, "nodes": nodes})
    shuffled = list(nodes)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    b = HashRing.from_dict({"virtual_nodes": vn, "nodes": shuffled})
    assert a.fingerprint == b.fingerprint
    assert HashRing.from_dict(b.to_dict()).fingerprint == a.fingerprint


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"nodes": ["a", {"name": "b", "weight": "two"}]},
         'node 1 ("b"): field "weight": expected an integer in 0..=4294967295, got "two"'),
        ({"nodes": ["a", {"name": "b", "weight": True}]},
         'node 1 ("b"): field "weight": expected an integer in 0..=4294967295, got true'),
        ({"nodes": ["a", "a"]}, 'node 1 ("a"): field "name": duplicate: node 0 has the same name'),
        ({"nodes": [{"name": "x", "vnodes": 3}]},
         'node 0 ("x"): field "vnodes": unknown field; valid: name, weight, hostname, port, meta'),
        ({"placement": "nope"}, 'field "placement": unknown placement profile "nope"'),
    ],
)
def test_bad_dicts_name_node_and_field(doc: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as err:
        HashRing.from_dict(doc)
    assert str(err.value).startswith(message)


def test_bad_types() -> None:
    with pytest.raises(TypeError, match="must be a dict"):
        HashRing.from_dict(["a"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not JSON data"):
        HashRing.from_dict({"nodes": [{"name": "a", "meta": {"x": object()}}]})
    ring = HashRing(nodes=["a"])
    ring.add_node("b", instance=object())
    with pytest.raises(TypeError, match='node "b": its instance'):
        ring.to_dict()


def test_bad_files_name_the_file_and_load_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        HashRing.from_file(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"nodes": ["a", {"name": "b", "port": 70000}]}))
    with pytest.raises(ValueError) as err:
        HashRing.from_file(bad)
    assert str(err.value) == (
        f'{bad}: node 1 ("b"): field "port": expected an integer in 0..=65535, got 70000'
    )
    syntax = tmp_path / "syntax.json"
    syntax.write_text('{"nodes": [\n"a",\n}')
    with pytest.raises(ValueError, match=f"^{syntax}: .*line 3"):
        HashRing.from_file(syntax)
    # TOML has no null: a meta holding one cannot be written, and no file is left behind.
    ring = HashRing(nodes=["a"])
    ring.add_node("b", instance={"x": None})
    with pytest.raises(ValueError, match="TOML has no null"):
        ring.to_file(tmp_path / "n.toml")
    assert not (tmp_path / "n.toml").exists()
