"""Every fastring golden vector through the Python API: owners, key positions, 3-replica walks, by
single call, by batch of str, of bytes, and of hashes. The Rust golden test (tests/golden_fastring.rs)
checks the core against the same files, so these also pin Python == core."""

from __future__ import annotations

from array import array

import pytest
from conftest import NODESETS, load_rows

from ringroute import HashRing


def build(nodeset: str, **kw) -> HashRing:
    ring = HashRing(128, **kw)
    for name, weight in NODESETS[nodeset]:
        ring.add_node(name, weight)
    return ring


@pytest.mark.parametrize("placement", ["native", "fastring"])
def test_owner_hash_and_replicas_of_every_row(nodeset: str, placement: str) -> None:
    rows = load_rows(f"fastring.{nodeset}.tsv")
    assert len(rows) > 10_000
    ring = build(nodeset, placement=placement)
    for r in rows:
        text = r.key.decode("utf-8")
        assert ring.key_hash(text) == r.hash, text
        assert ring.key_hash(r.key) == r.hash, r.key
        assert ring.get_node(text) == r.node, text
        assert ring.get_node(r.key) == r.node, r.key
        assert ring[text] == r.node
        assert ring.get_replicas(text, 3) == r.walk3, text
        assert ring.range(text, 3) == r.walk3
        assert list(ring.iterate_nodes(text))[:3] == r.walk3


def test_batches_match_vectors(nodeset: str) -> None:
    rows = load_rows(f"fastring.{nodeset}.tsv")
    ring = build(nodeset)
    want = [r.node for r in rows]
    texts = [r.key.decode("utf-8") for r in rows]
    assert ring.get_node_batch(texts) == want
    assert ring.get_node_batch(tuple(r.key for r in rows)) == want
    assert ring.get_node_batch(iter(texts)) == want  # any iterable
    assert ring.get_node_batch(r.key for r in rows) == want  # a generator
    assert ring.get_node_batch(array("Q", [r.hash for r in rows])) == want
    idx, names = ring.get_node_index_batch(texts, with_names=True)
    assert isinstance(idx, array) and idx.typecode == "I"
    assert [names[i] for i in idx] == want
    assert list(ring.get_node_index_batch(array("Q", [r.hash for r in rows]))) == list(idx)


def test_nodes_argument_builds_the_same_ring(nodeset: str) -> None:
    rows = load_rows(f"fastring.{nodeset}.tsv")[:2000]
    by_dict = HashRing(nodes=dict(NODESETS[nodeset]))
    by_conf = HashRing(nodes={n: {"weight": w} for n, w in NODESETS[nodeset]})
    one_by_one = build(nodeset)
    assert by_dict.fingerprint == by_conf.fingerprint == one_by_one.fingerprint
    for r in rows:
        assert by_dict.get_node(r.key) == by_conf.get_node(r.key) == r.node


def test_hash_buffers_of_native_formats(nodeset: str) -> None:
    """numpy's uint64 arrays export format 'L' (or 'Q'); a memoryview cast gives the same buffer
    formats without needing numpy installed."""
    rows = load_rows(f"fastring.{nodeset}.tsv")
    ring = build(nodeset)
    raw = array("Q", [r.hash for r in rows])
    want = [r.node for r in rows]
    for fmt in ("Q", "L"):
        view = memoryview(raw).cast("B").cast(fmt)
        assert view.format == fmt and view.itemsize == 8
        assert ring.get_node_batch(view) == want
    assert ring.get_node_batch(memoryview(raw)[::2]) == want[::2]  # strided
