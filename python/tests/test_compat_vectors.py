"""Every golden vector of uhashring (md5 and ketama), hash_ring and python-continuum through the
drop-in APIs of ringroute.compat: every row, owner, position where the API exposes it, and the
3-node walk column. Also every profile's vectors through ringroute.HashRing's key_position / locate /
get_points (the binding methods the drop-ins are built on)."""

from __future__ import annotations

import pytest
from conftest import NODESETS, Row, load_rows

from ringroute import HashRing as CoreRing
from ringroute.compat import continuum, hash_ring, uhashring

MIN_ROWS = 10_000


def rows_of(scheme: str, nodeset: str) -> list[Row]:
    rows = load_rows(f"{scheme}.{nodeset}.tsv")
    assert len(rows) > MIN_ROWS
    return rows


def uhashring_ring(nodeset: str, **kw) -> uhashring.HashRing:
    """Built as the vectors were: a list of names, or {name: weight} for w5."""
    spec = NODESETS[nodeset]
    if nodeset == "w5":
        return uhashring.HashRing(nodes=dict(spec), **kw)
    return uhashring.HashRing(nodes=[n for n, _ in spec], **kw)


@pytest.mark.parametrize(
    "scheme,kw", [("uhashring_md5", {}), ("uhashring_ketama", {"hash_fn": "ketama"})]
)
def test_uhashring_vectors(nodeset: str, scheme: str, kw: dict) -> None:
    rows = rows_of(scheme, nodeset)
    ring = uhashring_ring(nodeset, **kw)
    points = ring.get_points()
    positions = [p for p, _ in points]
    for r in rows:
        text = r.key.decode("utf-8")
        assert ring.get_key(text) == r.hash, text
        assert ring.hashi(text) == r.hash
        assert ring.get_node(text) == r.node, text
        assert ring.get(text)["nodename"] == r.node
        assert ring.get_node_hostname(text) == r.node  # hostname defaults to the name
        assert [c["nodename"] for c in ring.range(text, size=3, unique=True)] == r.walk3, text
        assert list(ring.iterate_nodes(text))[:3] == r.walk3
        pos = ring.get_node_pos(text)
        assert ring.get_server(text) == points[pos]
        assert points[pos][1] == r.node
        # uhashring's rule, checked on the exposed points: the first point > the key, wrapping.
        assert positions[pos] > r.hash or (pos == 0 and r.hash >= positions[-1])
        assert pos == 0 or positions[pos - 1] <= r.hash


def test_hash_ring_vectors(nodeset: str) -> None:
    rows = rows_of("hash_ring", nodeset)
    spec = NODESETS[nodeset]
    weights = {n: w for n, w in spec} if nodeset == "w5" else None
    ring = hash_ring.HashRing([n for n, _ in spec], weights)
    points = ring._sorted_keys
    owners = ring.ring
    for r in rows:
        text = r.key.decode("utf-8")
        assert ring.gen_key(text) == r.hash, text
        assert ring.gen_key(r.key) == r.hash
        assert ring.get_node(text) == r.node, text
        assert ring.get_node(r.key) == r.node
        assert list(ring.iterate_nodes(text))[:3] == r.walk3, text
        assert list(ring.iterate_nodes(text, distinct=False))[:3] == r.walk3  # ignored, as hash_ring
        pos = ring.get_node_pos(text)
        assert owners[points[pos]] == r.node
        assert points[pos] > r.hash or (pos == 0 and r.hash >= points[-1])


def server_of(name: str) -> tuple[str, int]:
    """The vectors' rule: 'host:port' split at the last colon, any other name is (name, 11211)."""
    host, _, port = name.rpartition(":")
    return (host, int(port)) if host and port.isdigit() else (name, 11211)


def test_continuum_vectors(nodeset: str) -> None:
    rows = rows_of("continuum", nodeset)
    c = continuum.Continuum()
    servers = {}
    for name, weight in NODESETS[nodeset]:
        host, port = server_of(name)
        servers[name] = c.add_server(host, port, weight)
    assert len(c) == len(servers)
    for r in rows:
        text = r.key.decode("utf-8")
        got = c.resolve(text)
        assert got is servers[r.node], (text, got, r.node)
        assert c.resolve(r.key) is got


PROFILE_OF = {
    "fastring": ("native", 128),
    "uhashring_md5": ("uhashring", 160),
    "uhashring_ketama": ("uhashring-ketama", 40),
    "hash_ring": ("hash_ring", 40),
    "continuum": ("continuum", 1000),
}


@pytest.mark.parametrize("scheme", sorted(PROFILE_OF))
def test_binding_positions_and_points_of_every_profile(nodeset: str, scheme: str) -> None:
    """key_position is the vectors' hash column; locate's owner is get_node's answer (keys that land
    exactly on a point included); get_points is sorted and holds every point."""
    placement, vn = PROFILE_OF[scheme]
    ring = CoreRing(vn, placement=placement)
    for name, weight in NODESETS[nodeset]:
        ring.add_node(name, weight)
    points = ring.get_points()
    assert len(points) == ring.point_count
    positions = [p for p, _ in points]
    assert positions == sorted(positions)
    for r in load_rows(f"{scheme}.{nodeset}.tsv"):
        assert ring.key_position(r.key) == r.hash
        rank, position, owner = ring.locate(r.key)
        assert owner == r.node == ring.get_node(r.key)
        assert points[rank] == (position, owner)
