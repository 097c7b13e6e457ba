"""A fleet of 4 routers, 2 Rust processes (the example etcd/examples/follow.rs, built here by cargo)
and 2 Python processes (etcd_follow.py), following one prefix of a real 3-member etcd cluster while
writers make 1,000 random changes (adds, removes, weight and metadata changes, health flips, a fifth
as multi-key etcd transactions); one Python router is killed and restarted mid-run.

At quiescence every router's fingerprint equals the ring built directly from etcd's final state;
along the way each router applied revisions in increasing order, each once, and each publication's
fingerprint is the one of etcd's state at its revision (never half an etcd transaction).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from etcd_cluster import Cluster, expected_ring

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PREFIX = "/fleet/mixed"
CHANGES = 1000
WRITERS = 4


def follow_binary() -> str:
    """The Rust router, built by cargo (a no-op when scripts/test-all's cargo test built it:
    ``--workspace``, as there, so the crates have the features they were built with there)."""
    try:
        out = subprocess.run(
            ["cargo", "build", "--release", "--workspace", "--example", "follow",
             "--message-format=json"],
            cwd=ROOT, capture_output=True, text=True, timeout=1200,
        )
    except FileNotFoundError:
        pytest.fail("cargo is needed to build the Rust router (etcd/examples/follow.rs)")
    assert out.returncode == 0, out.stderr[-2000:]
    for line in out.stdout.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("executable") and \
                msg["target"]["name"] == "follow":
            return str(msg["executable"])
    raise AssertionError("cargo built no follow executable")


class Router:
    """A router process and the publications it printed (with when each line arrived)."""

    def __init__(self, kind: str, argv: list[str]) -> None:
        self.kind = kind
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.log: list[dict[str, Any]] = []
        self.synced = threading.Event()
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            msg = json.loads(line)
            msg["at"] = time.monotonic()
            with self.cond:
                if "synced" in msg:
                    self.synced.set()
                else:
                    self.log.append(msg)
                self.cond.notify_all()

    @property
    def revision(self) -> int:
        with self.cond:
            return self.log[-1]["revision"] if self.log else 0

    def wait_revision(self, revision: int, timeout: float) -> None:
        with self.cond:
            ok = self.cond.wait_for(lambda: bool(self.log) and self.log[-1]["revision"] >= revision, timeout)
        assert ok, f"{self.kind} router at {self.revision}, not at {revision}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.thread.join(5)


def random_op(rng: random.Random, name: str) -> tuple[str, str, str | None]:
    r = rng.randrange(10)
    if r < 3:
        return ("delete", f"{PREFIX}/nodes/{name}", None)
    if r == 3:
        return ("put", f"{PREFIX}/health/{name}", rng.choice(["down", "up"]))
    record = {"weight": rng.randrange(5), "hostname": f"10.0.0.{rng.randrange(1, 255)}", "port": 11211}
    return ("put", f"{PREFIX}/nodes/{name}", json.dumps(record))


def writer(cluster: Cluster, seed: int, changes: int, out: list[tuple[int, float, int]]) -> None:
    """Makes ``changes`` changes; records (revision, when acknowledged, keys) of each write."""
    from etcd_cluster import Kv

    kv = Kv(cluster.endpoints)
    rng = random.Random(seed)
    done = 0
    while done < changes:
        n = rng.randrange(2, 7) if rng.random() < 0.2 else 1
        names = sorted({f"cache-{rng.randrange(40):02d}" for _ in range(min(n, changes - done))})
        ops = [random_op(rng, name) for name in names]
        rev = kv.txn(ops)
        out.append((rev, time.monotonic(), len(ops)))
        done += len(ops)


def percentiles(values: list[float]) -> str:
    v = sorted(values)
    pick = lambda p: v[round((len(v) - 1) * p)] * 1e3  # noqa: E731
    return f"p50 {pick(0.5):.1f} ms, p99 {pick(0.99):.1f} ms, max {v[-1] * 1e3:.1f} ms over {len(v)}"


def test_rust_and_python_routers_converge_under_random_changes(etcd_cluster: Cluster) -> None:
    binary = follow_binary()
    endpoints = ",".join(etcd_cluster.endpoints)
    python = [sys.executable, str(HERE / "etcd_follow.py"), "follow", endpoints, PREFIX]
    kv = etcd_cluster.kv
    for i in range(10):
        kv.put(f"{PREFIX}/nodes/cache-{i:02d}", "{}")
    routers = [Router("rust", [binary, endpoints, PREFIX]) for _ in range(2)]
    routers += [Router("python", python) for _ in range(2)]
    retired: list[Router] = []
    try:
        for r in routers:
            assert r.synced.wait(30), f"{r.kind} router not synced"
        written: list[tuple[int, float, int]] = []
        halves = [[], []]  # type: list[list[tuple[int, float, int]]]
        for half in range(2):
            threads = [
                threading.Thread(target=writer, args=(etcd_cluster, 100 * half + w, CHANGES // 2 // WRITERS, halves[half]))
                for w in range(WRITERS)
            ]
            for t in threads:
                t.start()
            if half == 1:
                # A Python router killed and restarted mid-run.
                routers[3].proc.kill()
                retired.append(routers[3])
                routers[3] = Router("python", python)
                assert routers[3].synced.wait(30)
            for t in threads:
                t.join(120)
                assert not t.is_alive()
            written += halves[half]
        assert sum(n for _, _, n in written) >= CHANGES
        assert sum(1 for _, _, n in written if n > 1) > 50
        final, kvs = kv.range(PREFIX)
        want = expected_ring(kvs, PREFIX).fingerprint
        for r in routers:
            r.wait_revision(final, 30)
        write_revs = sorted({rev for rev, _, _ in written})
        at_revision: dict[int, int] = {}
        for r in routers:
            assert r.revision == final and r.log[-1]["fingerprint"] == want, r.kind
            assert sum(1 for a in r.log if a["list"]) == 1, (r.kind, [(a["revision"], a["error"]) for a in r.log if a["list"]])
            listed = r.log[0]["revision"]
            assert r.log[0]["list"]
            seen = [rev for a in r.log for rev in a["revisions"]]
            assert seen == [rev for rev in write_revs if rev > listed], \
                f"{r.kind}: every revision after the list, in order, each once"
            prev = listed
            for a in r.log[1:]:
                assert a["revisions"] and a["revisions"][-1] == a["revision"] and a["revisions"][0] > prev
                prev = a["revision"]
            # Each publication is etcd's state at its revision: never half a transaction.
            for a in r.log:
                rev = a["revision"]
                if rev not in at_revision:
                    at_revision[rev] = expected_ring(kv.range(PREFIX, rev)[1], PREFIX).fingerprint
                assert a["fingerprint"] == at_revision[rev], f"{r.kind} at revision {rev}"
        # Propagation: from a write's acknowledgement to the router's line for it (not asserted).
        acked = {rev: at for rev, at, _ in written}
        for kind in ("rust", "python"):
            delays = []
            for r in routers:
                if r.kind != kind:
                    continue
                listed = r.log[0]["revision"]
                for a in r.log[1:]:
                    for rev in a["revisions"]:
                        if rev in acked and rev > listed:
                            delays.append(max(0.0, a["at"] - acked[rev]))
            print(f"\n{kind} routers, write acknowledged -> publication printed: {percentiles(delays)}")
    finally:
        for r in routers + retired:
            r.stop()
