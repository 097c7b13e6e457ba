"""distribution() and moved_fraction(): exact, from the arcs, and consistent with routing."""

from __future__ import annotations

import math

import pytest

from ringroute import HashRing

KEYS = [f"key-{i}" for i in range(20_000)]


def sampled_shares(ring: HashRing) -> dict[str, float]:
    counts = dict.fromkeys(ring.node_names, 0)
    for n in ring.get_node_batch(KEYS):
        counts[n] += 1
    return {n: c / len(KEYS) for n, c in counts.items()}


def test_distribution_fields() -> None:
    r = HashRing(32, nodes={"a": 1, "b": 2, "c": 0, "d": 1})
    d = r.distribution()
    assert list(d["nodes"]) == ["a", "b", "c", "d"]
    assert d["points"] == r.point_count == 4 * 32
    assert math.isclose(sum(n["share"] for n in d["nodes"].values()), 1.0, rel_tol=1e-12)
    assert d["nodes"]["b"]["points"] == 64 and d["nodes"]["c"]["points"] == 0
    assert d["nodes"]["b"]["point_share"] == 0.5 and d["nodes"]["b"]["expected"] == 0.5
    assert d["nodes"]["c"] == {
        "weight": 0,
        "points": 0,
        "share": 0.0,
        "point_share": 0.0,
        "expected": 0.0,
    }
    shares = [n["share"] for n in d["nodes"].values()]
    assert d["max"] == max(shares)
    assert d["mean"] == pytest.approx(1 / 3)  # three nodes own keys
    assert d["imbalance"] == pytest.approx(d["max"] / d["mean"])
    assert d["weighted_imbalance"] == pytest.approx(
        max(n["share"] / n["expected"] for n in d["nodes"].values() if n["expected"])
    )


def test_distribution_matches_sampled_keys() -> None:
    r = HashRing(nodes={f"node-{i}": 1 + i % 3 for i in range(8)})
    exact = {n: v["share"] for n, v in r.distribution()["nodes"].items()}
    sampled = sampled_shares(r)
    for n in exact:
        # 20000 keys: the standard error of a share is below 0.004.
        assert abs(exact[n] - sampled[n]) < 0.015, (n, exact[n], sampled[n])


def test_distribution_of_empty_and_single_rings() -> None:
    d = HashRing().distribution()
    assert d["nodes"] == {} and d["max"] == d["mean"] == d["imbalance"] == 0.0
    d = HashRing(1, nodes=["solo"]).distribution()
    assert d["nodes"]["solo"]["share"] == 1.0 and d["imbalance"] == 1.0


def test_moved_fraction_of_removal_is_the_removed_share() -> None:
    before = HashRing(nodes=[f"node-{i}" for i in range(10)])
    after = HashRing(nodes=[f"node-{i}" for i in range(10) if i != 4])
    share = before.distribution()["nodes"]["node-4"]["share"]
    assert before.moved_fraction(after) == share  # exact: the same integer arcs
    assert after.moved_fraction(before) == share
    assert before.moved_fraction(before) == 0.0


def test_moved_fraction_matches_keys_that_move() -> None:
    a = HashRing(nodes={f"node-{i}": 1 for i in range(6)})
    b = HashRing(nodes={f"node-{i}": 1 + (i == 2) for i in range(1, 8)})
    exact = a.moved_fraction(b)
    moved = sum(x != y for x, y in zip(a.get_node_batch(KEYS), b.get_node_batch(KEYS)))
    assert abs(exact - moved / len(KEYS)) < 0.015, (exact, moved / len(KEYS))
    assert 0.2 < exact < 0.8


def test_moved_fraction_ignores_insertion_order_and_metadata() -> None:
    a = HashRing(nodes=["x", "y", "z"])
    b = HashRing(nodes={"z": {"hostname": "h"}, "x": {"port": 1}, "y": {}})
    assert a.moved_fraction(b) == 0.0


def test_moved_fraction_with_empty_rings() -> None:
    empty, full = HashRing(), HashRing(nodes=["a"])
    assert empty.moved_fraction(empty) == 0.0
    assert empty.moved_fraction(full) == 1.0 and full.moved_fraction(empty) == 1.0


def test_moved_fraction_type_error() -> None:
    with pytest.raises(TypeError):
        HashRing().moved_fraction("ring")  # type: ignore[arg-type]


def test_adding_one_of_n_nodes_moves_about_one_over_n() -> None:
    """Seed 003's movement table: adding a 5th equal node moves about 1/5 of the keys."""
    four = HashRing(nodes=[f"n{i}" for i in range(4)])
    five = HashRing(nodes=[f"n{i}" for i in range(5)])
    assert five.moved_fraction(four) == five.distribution()["nodes"]["n4"]["share"]
    assert 0.15 < four.moved_fraction(five) < 0.25
