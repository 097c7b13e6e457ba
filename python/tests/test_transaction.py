"""Transactions: all changes published together and once, or none."""

from __future__ import annotations

import pytest

from ringroute import HashRing, Transaction


def keys(n: int = 500) -> list[str]:
    return [f"key-{i}" for i in range(n)]


def test_block_publishes_once() -> None:
    r = HashRing(nodes=["a", "b"])
    v = r.version
    with r.transaction() as tx:
        assert isinstance(tx, Transaction)
        tx.add_node("c", weight=2, hostname="h", port=1, instance="I")
        tx.remove_node("a")
        tx.set_node_weight("b", 3)
        # Nothing is visible before the block ends.
        assert r.node_names == ("a", "b") and r.version == v
        assert "c" in tx and "a" not in tx
    assert r.version == v + 1
    assert r.node_names == ("b", "c")
    assert r.nodes["c"] == {"weight": 2, "vnodes": 128, "hostname": "h", "port": 1, "instance": "I"}
    assert r.get_node_weight("b") == 3


def test_same_result_as_one_by_one() -> None:
    a, b = HashRing(nodes=["x", "y"]), HashRing(nodes=["x", "y"])
    with a.transaction() as tx:
        tx.add_node("z")
        tx.set_node_weight("x", 4)
        tx.remove_node("y")
        tx.add_node("y", weight=2)  # remove then re-add: goes to the end
    b.add_node("z")
    b.set_node_weight("x", 4)
    b.remove_node("y")
    b.add_node("y", weight=2)
    assert a.node_names == b.node_names == ("x", "z", "y")
    assert a.fingerprint == b.fingerprint
    assert a.get_node_batch(keys()) == b.get_node_batch(keys())


def test_exception_publishes_nothing() -> None:
    r = HashRing(nodes=["a"])
    before = (r.version, r.fingerprint, r.get_node_batch(keys()))
    with pytest.raises(RuntimeError, match="abort"):
        with r.transaction() as tx:
            tx.add_node("b")
            tx.remove_node("a")
            raise RuntimeError("abort")
    assert (r.version, r.fingerprint, r.get_node_batch(keys())) == before
    assert r.node_names == ("a",)


def test_failing_change_raises_at_once_and_block_publishes_nothing() -> None:
    r = HashRing(nodes=["a"])
    v = r.version
    with pytest.raises(KeyError):
        with r.transaction() as tx:
            tx.add_node("b")
            tx.set_node_weight("missing", 2)  # raises here, so the block exits with it
    assert r.version == v and r.node_names == ("a",)


@pytest.mark.parametrize(
    "change, exc",
    [
        (lambda tx: tx.add_node(""), ValueError),
        (lambda tx: tx.add_node(5), TypeError),
        (lambda tx: tx.add_node("x", weight=-1), ValueError),
        (lambda tx: tx.add_node("x", port=1 << 16), ValueError),
        (lambda tx: tx.set_node_weight("a", 2**32), ValueError),
        (lambda tx: tx.set_node_weight("nope", 1), KeyError),
    ],
)
def test_bad_change_is_not_recorded(change, exc) -> None:
    r = HashRing(nodes=["a"])
    tx = r.transaction()
    tx.add_node("b")
    with pytest.raises(exc):
        change(tx)
    tx.commit()  # the good change still commits
    assert r.node_names == ("a", "b")


def test_changes_see_earlier_changes_of_the_same_transaction() -> None:
    r = HashRing()
    with r.transaction() as tx:
        tx.add_node("a")
        tx.set_node_weight("a", 3)  # a exists in the transaction
    assert r.get_node_weight("a") == 3


def test_noops_and_empty_transaction_publish_nothing() -> None:
    r = HashRing(nodes=["a"])
    v = r.version
    with r.transaction():
        pass
    with r.transaction() as tx:
        tx.add_node("a", weight=7)  # present: no-op
        tx.remove_node("zz")  # absent: no-op
    assert r.version == v and r.get_node_weight("a") == 1


def test_closed_transaction_refuses_changes() -> None:
    r = HashRing()
    with r.transaction() as tx:
        tx.add_node("a")
    for call in (
        lambda: tx.add_node("b"),
        lambda: tx.remove_node("a"),
        lambda: tx.set_node_weight("a", 2),
        tx.commit,
        lambda: "a" in tx,
    ):
        with pytest.raises(RuntimeError):
            call()
    tx2 = r.transaction()
    tx2.add_node("c")
    tx2.rollback()
    with pytest.raises(RuntimeError):
        tx2.commit()
    assert r.node_names == ("a",)


def test_explicit_commit_inside_block() -> None:
    r = HashRing()
    with r.transaction() as tx:
        tx.add_node("a")
        tx.commit()
        assert r.node_names == ("a",)
    assert r.node_names == ("a",) and r.version == 1


def test_commit_replays_on_the_current_membership() -> None:
    r = HashRing(nodes=["a", "b"])
    tx = r.transaction()
    tx.add_node("c")
    r.add_node("d")  # another writer publishes meanwhile: kept
    tx.commit()
    assert r.node_names == ("a", "b", "d", "c")


def test_commit_that_no_longer_applies_publishes_nothing() -> None:
    r = HashRing(nodes=["a", "b"])
    tx = r.transaction()
    tx.add_node("c")
    tx.set_node_weight("b", 5)
    r.remove_node("b")  # another writer removes b
    v = r.version
    with pytest.raises(KeyError, match="not published"):
        tx.commit()
    assert r.version == v and r.node_names == ("a",)


def test_transaction_repr() -> None:
    tx = HashRing().transaction()
    tx.add_node("a")
    assert repr(tx) == "<ringroute.Transaction open changes=1>"
    tx.commit()
    assert repr(tx) == "<ringroute.Transaction closed changes=0>"


# A node instance whose __del__ uses the transaction, or the ring, dropped by a rollback (or by the
# exception that leaves a `with` block) or by a commit. Each scenario runs in a child interpreter
# under a timeout: a freeze holds the GIL, so it could not be interrupted in this process.
DEL_SCRIPT = """
import sys
import ringroute

ring = ringroute.HashRing(nodes=["a"])
seen = []

class Touch:
    def __del__(self):
        seen.append((repr(tx), "b" in ring, ring.get_node("k")))
        for use in (lambda: "b" in tx, lambda: tx.add_node("late")):
            try:
                use()
            except RuntimeError:
                seen.append("closed")

tx = ring.transaction()
mode = sys.argv[1]
if mode == "rollback":
    tx.add_node("b", instance=Touch())
    tx.rollback()
elif mode == "with":
    try:
        with tx:
            tx.add_node("b", instance=Touch())
            raise KeyError("abort")
    except KeyError:
        pass
elif mode == "failed-commit":
    tx.add_node("b", instance=Touch())
    tx.set_node_weight("a", 2)
    ring.remove_node("a")  # the commit's set_node_weight no longer applies
    try:
        tx.commit()
    except KeyError:
        pass
    import gc; gc.collect()
owner = None if mode == "failed-commit" else "a"
assert seen == [("<ringroute.Transaction closed changes=0>", False, owner), "closed", "closed"], seen
assert "b" not in ring
print("ok")
"""


@pytest.mark.parametrize("mode", ["rollback", "with", "failed-commit"])
def test_pending_instance_whose_del_uses_the_transaction_does_not_freeze(mode: str) -> None:
    import subprocess
    import sys

    try:
        out = subprocess.run(
            [sys.executable, "-c", DEL_SCRIPT, mode],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{mode}: the interpreter froze dropping the pending node")
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_membership_test_follows_one_rule() -> None:
    r = HashRing(nodes=["a"])
    odd: list[object] = [1, b"a", None, "\ud800", ("a",), 1.5]
    with r.transaction() as tx:
        for obj in odd:
            assert obj not in tx
            assert obj not in r
        assert "a" in tx and "a" in r


def test_node_limit_is_checked_by_the_add_that_passes_it() -> None:
    limit = 1 << 20
    r = HashRing()
    with r.transaction() as tx:
        for i in range(limit):
            tx.add_node(f"n{i}", weight=0)
        with pytest.raises(ValueError, match="over the limit"):
            tx.add_node("one-more", weight=0)  # raises here, not at commit
        assert "one-more" not in tx
        tx.rollback()
    assert len(r) == 0 and r.version == 0
