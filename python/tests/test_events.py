"""Change events: HashRing.on_change callbacks and the ``ringroute`` logger."""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

import pytest

from ringroute import HashRing


def test_callbacks_get_each_change_with_the_exact_moved_fraction() -> None:
    ring = HashRing(nodes=["a", "b", "c"])
    events: list[Any] = []
    ring.on_change(events.append)
    before = HashRing(nodes=["a", "b", "c"])
    ring.add_node("d")
    after = HashRing(nodes=["a", "b", "c", "d"])
    assert len(events) == 1
    e = events[0]
    assert e["event"] == "node_add"
    assert (e["version"], e["added"], e["removed"], e["reweighted"]) == (ring.version, ["d"], [], {})
    assert e["moved"] == before.moved_fraction(after)
    assert (e["vnodes_added"], e["vnodes_removed"]) == (128, 0)
    assert e["timestamp"] > 1.7e9

    with ring.transaction() as tx:
        tx.remove_node("a")
        tx.set_node_weight("b", 3)
    e = events[-1]
    assert (e["event"], e["removed"], e["reweighted"]) == ("change", ["a"], {"b": (1, 3)})
    assert (e["vnodes_added"], e["vnodes_removed"]) == (256, 128)

    ring.mark_down("c")
    ring.mark_up("c")
    assert [(x["event"], x["down"], x["up"], x["moved"]) for x in events[-2:]] == [
        ("node_down", ["c"], [], 0.0),
        ("node_up", [], ["c"], 0.0),
    ]
    ring.remove_node("nope")  # a no-op publishes nothing
    ring.set_node_weight("b", 3)
    assert len(events) == 4


def test_a_raising_callback_does_not_undo_the_change(monkeypatch: pytest.MonkeyPatch) -> None:
    ring = HashRing(nodes=["a"])
    seen: list[Any] = []

    def bad(e: Any) -> None:
        raise RuntimeError("boom")

    ring.on_change(bad)
    ring.on_change(seen.append)
    reported: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)
    ring.add_node("b")
    assert "b" in ring and seen[0]["added"] == ["b"]
    assert len(reported) == 1 and isinstance(reported[0].exc_value, RuntimeError)
    with pytest.raises(TypeError, match="callable"):
        ring.on_change(42)  # type: ignore[arg-type]


def test_callbacks_may_change_the_ring() -> None:
    ring = HashRing(nodes=["a"])
    seen: list[Any] = []

    def follow(e: Any) -> None:
        seen.append(e["event"])
        if e["added"] == ["b"]:
            ring.add_node("c")

    ring.on_change(follow)
    ring.add_node("b")
    assert set(ring) == {"a", "b", "c"}
    assert seen == ["node_add", "node_add"]


def test_changes_from_threads_are_all_reported() -> None:
    ring = HashRing(nodes=["seed"])
    seen: list[Any] = []
    lock = threading.Lock()

    def record(e: Any) -> None:
        with lock:
            seen.extend(e["added"])

    ring.on_change(record)
    threads = [
        threading.Thread(target=lambda i=i: [ring.add_node(f"t{i}-{j}") for j in range(20)])
        for i in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ring.add_node("last")
    assert sorted(seen) == sorted([f"t{i}-{j}" for i in range(4) for j in range(20)] + ["last"])


def test_the_ringroute_logger_writes_one_line_per_change(caplog: pytest.LogCaptureFixture) -> None:
    ring = HashRing(nodes=["a", "b"])
    with caplog.at_level(logging.INFO, logger="ringroute"):
        ring.add_node("c", weight=2)
        ring.remove_node("a")
    records = [r for r in caplog.records if r.name == "ringroute"]
    assert len(records) == 2
    line = records[0].getMessage()
    assert line.startswith(f"event=node_add version={ring.version - 1} added=c removed= ")
    assert "vnodes_added=256 vnodes_removed=0 moved=0." in line and " timestamp=" in line
    assert records[1].ringroute["removed"] == ["a"]  # type: ignore[attr-defined]
    caplog.clear()
    # Not enabled: nothing is logged (and no event computed for it).
    with caplog.at_level(logging.WARNING, logger="ringroute"):
        quiet = HashRing(nodes=["x"])
        quiet.add_node("y")
    assert not [r for r in caplog.records if r.name == "ringroute"]
