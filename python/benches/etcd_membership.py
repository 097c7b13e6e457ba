"""Measures Python routers (ringroute.membership.EtcdMembership) following a real 3-member etcd
cluster on 127.0.0.1 (started here, as the tests start it): propagation from a write to every router
having published it (one change at a time), a burst of concurrent changes, and a router's catch-up
after a 10,000-change burst (list and publish).

    python python/benches/etcd_membership.py [ROUTERS] [CHANGES]

(default 2 routers, 1,000 changes; the routers run in this process, sharing its interpreter). Needs
etcd (Debian: etcd-server) and urllib3 (the ``etcd`` extra).
"""

from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from etcd_cluster import Cluster, Kv  # noqa: E402

from ringroute import HashRing  # noqa: E402
from ringroute.membership import Applied, EtcdMembership  # noqa: E402


def report(what: str, values: list[float]) -> None:
    v = sorted(values)
    pick = lambda p: v[round((len(v) - 1) * p)] * 1e3  # noqa: E731
    print(f"{what}: p50 {pick(0.5):.2f} ms, p99 {pick(0.99):.2f} ms, max {v[-1] * 1e3:.2f} ms over {len(v)}")


class Follower:
    def __init__(self, cluster: Cluster, prefix: str) -> None:
        self.cond = threading.Condition()
        self.at: dict[int, float] = {}
        self.publications = 0
        self.ring = HashRing()
        self.sync = EtcdMembership(self.ring, cluster.endpoints, prefix, on_applied=self._applied)

    def _applied(self, a: Applied) -> None:
        with self.cond:
            self.at[a.revision] = a.at
            self.publications += 1
            self.cond.notify_all()

    def published_at(self, revision: int) -> float:
        with self.cond:
            self.cond.wait_for(lambda: max(self.at, default=0) >= revision, 60)
            return min(at for rev, at in self.at.items() if rev >= revision)


def burst(cluster: Cluster, prefix: str, n: int, pool: int, writers: int = 16) -> tuple[int, float]:
    """``n`` puts of node records over ``pool`` names by ``writers`` threads; the last revision and
    when the last write was acknowledged."""
    kvs = [Kv(cluster.endpoints) for _ in range(writers)]

    def write(w: int) -> tuple[int, float]:
        last = 0
        for i in range(w, n, writers):
            last = max(last, kvs[w].put(f"{prefix}/nodes/burst-{(i * 7919) % pool:04d}", f'{{"weight": {1 + i % 4}}}'))
        return last, time.monotonic()

    with ThreadPoolExecutor(writers) as ex:
        results = list(ex.map(write, range(writers)))
    return max(r for r, _ in results), max(t for _, t in results)


def main() -> None:
    routers = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    changes = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    prefix = "/measure"
    cluster = Cluster(3)
    try:
        kv = cluster.kv
        followers = [Follower(cluster, prefix) for _ in range(routers)]
        for f in followers:
            f.sync.start()
            f.sync.wait_synced(20)
        from_sent, from_ack = [], []
        for i in range(changes):
            t0 = time.monotonic()
            rev = kv.put(f"{prefix}/nodes/cache-{i % 100:03d}", f'{{"weight": {1 + i % 3}, "port": 11211}}')
            ack = time.monotonic()
            last = max(f.published_at(rev) for f in followers)
            from_sent.append(max(0.0, last - t0))
            from_ack.append(max(0.0, last - ack))
        print(f"{routers} Python routers in one process, 3-member etcd on 127.0.0.1")
        report("propagation, write sent -> every router published", from_sent)
        report("propagation, write acknowledged -> every router published", from_ack)

        n = 10_000
        before = [f.publications for f in followers]
        t0 = time.monotonic()
        last_rev, last_ack = burst(cluster, prefix, n, 1000)
        written = time.monotonic() - t0
        for f in followers:
            f.sync.wait_revision(last_rev, 60)
        caught_up = time.monotonic()
        print(
            f"burst of {n} changes (16 writers, 1,000 names): etcd took {written:.2f} s ({n / written:.0f} "
            f"writes/s); every router at the last revision {(caught_up - last_ack) * 1e3:.1f} ms after the "
            f"last write was acknowledged; publications per router "
            f"{[f.publications - b for f, b in zip(followers, before)]} (coalesced)"
        )
        for f in followers:
            f.sync.stop()

        last_rev, _ = burst(cluster, prefix, n, 5000)
        ring = HashRing()
        t0 = time.monotonic()
        with EtcdMembership(ring, cluster.endpoints, prefix) as sync:
            sync.wait_revision(last_rev, 60)
            took = time.monotonic() - t0
        print(f"a router started after a 10,000-change burst over 5,000 names: list and publish of {len(ring)} nodes in {took * 1e3:.0f} ms")
    finally:
        cluster.stop_all()


if __name__ == "__main__":
    main()
