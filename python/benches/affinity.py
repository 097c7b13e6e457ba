"""Session affinity, measured: how many sessions change backend when backends fail, come back, are
removed or are added, for each way ringroute can pick a backend, against modulo hashing.

    target/venv/bin/python -m pip install matplotlib     # only for the PNG; tables print without it
    target/venv/bin/python python/benches/affinity.py [--sessions 1000000] [--backends 100]
        [--png docs/affinity.png]

Strategies (``--backends`` backends named ``backend-000`` ...; ``--sessions`` session keys
``session:<i>``):

- ``ring native``, ``ring nginx``: a consistent-hash ring (``placement="native"`` and ``"nginx"``);
- ``maglev``: Envoy's Maglev table (``placement="maglev"``, 65,537 entries);
- ``modulo``: ``xxh3(key) % N`` over the live backends (what a naive balancer does).

Events, each from the original 100 backends, the share of sessions whose backend differs from the
original one:

- ``down``: one backend fails. The ring and Maglev mark it down (health at pick time: nothing is
  rebuilt, its sessions go to the next up backend of their walk); modulo drops it from the list.
- ``back up``: it recovers (marked up; modulo puts it back).
- ``removed``: it is removed from the membership (a publication with one node fewer).
- ``added``: one new backend joins.

Then bounded loads (``HashRing.bounded``): ``--requests`` requests whose session keys follow a
Zipf(1.1) popularity over the sessions, ``--in-flight`` requests held at once (each request releases
the oldest lease), for a few balance factors: the highest in-flight count of any backend over the
mean (max/mean), whether any backend ever held more than its capacity, and the share of requests
sent to a backend other than the session's owner.
"""

from __future__ import annotations

import argparse
import bisect
import math
import os
import platform
import random
import time
from collections import deque
from collections.abc import Callable, Sequence

import ringroute
from ringroute import HashRing

Pick = Callable[[list[str]], list[str | None]]


def backends(n: int) -> list[str]:
    return [f"backend-{i:03d}" for i in range(n)]


def ring_of(placement: str, names: Sequence[str]) -> HashRing:
    if placement == "maglev":
        return HashRing(nodes=list(names), placement="maglev", table_size=65537)
    return HashRing(nodes=list(names), placement=placement)


def moved(a: Sequence[str | None], b: Sequence[str | None]) -> float:
    return sum(x != y for x, y in zip(a, b)) / len(a)


def modulo_pick(names: Sequence[str], hashes: Sequence[int]) -> list[str]:
    n = len(names)
    return [names[h % n] for h in hashes]


def events(placement: str, names: list[str], keys: list[str]) -> dict[str, float]:
    """The moved share of each event for one ringroute placement."""
    victim = names[len(names) // 2]
    r = ring_of(placement, names)
    base = r.get_node_batch(keys)
    r.mark_down(victim)
    down = r.get_node_batch(keys)
    r.mark_up(victim)
    up = r.get_node_batch(keys)
    removed = ring_of(placement, [n for n in names if n != victim]).get_node_batch(keys)
    added = ring_of(placement, names + ["backend-new"]).get_node_batch(keys)
    return {
        "down": moved(base, down),
        "back up": moved(base, up),
        "removed": moved(base, removed),
        "added": moved(base, added),
    }


def modulo_events(names: list[str], keys: list[str]) -> dict[str, float]:
    hasher = HashRing(nodes=["x"])  # the native profile's key hash is xxh3_64 of the key
    hashes = [hasher.key_hash(k) for k in keys]
    victim = names[len(names) // 2]
    base = modulo_pick(names, hashes)
    without = modulo_pick([n for n in names if n != victim], hashes)
    added = modulo_pick(names + ["backend-new"], hashes)
    return {
        "down": moved(base, without),
        "back up": 0.0,
        "removed": moved(base, without),
        "added": moved(base, added),
    }


def zipf_sampler(n: int, s: float, rng: random.Random) -> Callable[[], int]:
    """Rank sampler for Zipf(s) over ranks 0..n-1 (inverse CDF by bisection)."""
    cdf: list[float] = []
    total = 0.0
    for k in range(1, n + 1):
        total += k**-s
        cdf.append(total)
    return lambda: bisect.bisect_left(cdf, rng.random() * total)


def bounded_run(
    names: list[str], keys: list[str], factor: float, requests: int, in_flight: int, seed: int
) -> dict[str, float]:
    """Requests with Zipf(1.1) session keys, ``in_flight`` held at once. Once that many are held:
    the picked backend's load checked against its capacity at the pick (equal weights:
    ``ceil(factor · (in flight before + 1) / N)``), and every 100 requests the busiest backend's
    load over the mean."""
    r = HashRing(nodes=names)
    bl = r.bounded(factor=factor)
    rng = random.Random(seed)
    sample = zipf_sampler(len(keys), 1.1, rng)
    perm = list(range(len(keys)))
    rng.shuffle(perm)
    held: deque[ringroute.Lease] = deque()
    away = 0
    worst = 0.0
    over = 0
    n = len(names)
    for i in range(requests):
        key = keys[perm[sample()]]
        before = len(held)
        lease = bl.acquire(key)
        if lease.node != r.get_node(key):
            away += 1
        held.append(lease)
        if before >= in_flight:
            cap = math.ceil(factor * (before + 1) / n)
            over += bl.load(lease.node) > cap
            held.popleft().release()
            if i % 100 == 0:
                loads = bl.loads()
                worst = max(worst, max(loads.values()) / (sum(loads.values()) / n))
    for lease in held:
        lease.release()
    return {"max/mean": worst, "away": away / requests, "over bound": float(over)}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=1_000_000)
    ap.add_argument("--backends", type=int, default=100)
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--in-flight", type=int, default=1000)
    ap.add_argument("--png", default=None, help="write a bar chart of the moved shares here")
    args = ap.parse_args()
    names = backends(args.backends)
    keys = [f"session:{i}" for i in range(args.sessions)]
    t0 = time.perf_counter()
    rows: dict[str, dict[str, float]] = {}
    for label, placement in [("ring native", "native"), ("ring nginx", "nginx"), ("maglev", "maglev")]:
        rows[label] = events(placement, names, keys)
    rows["modulo"] = modulo_events(names, keys)
    cols = ["down", "back up", "removed", "added"]
    print(f"# Session affinity: {args.sessions:,} sessions over {args.backends} backends ({machine()})\n")
    print("Share of sessions whose backend changes (one backend of the original set):\n")
    print("| strategy | " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for label, row in rows.items():
        print(f"| {label} | " + " | ".join(f"{100 * row[c]:.2f}%" for c in cols) + " |")
    ideal = 1 / args.backends
    print(f"\n(one backend's share of the sessions: {100 * ideal:.2f}%)")
    print(
        f"\nBounded loads: {args.requests:,} requests, Zipf(1.1) over the sessions, {args.in_flight} in flight:\n"
    )
    print("| factor | max/mean in flight | picks above the bound | sent away from the owner |")
    print("|---:|---:|---:|---:|")
    session_keys = keys[: min(len(keys), 100_000)]
    for factor in (1.25, 1.5, 2.0):
        b = bounded_run(names, session_keys, factor, args.requests, args.in_flight, seed=7)
        over = int(b["over bound"])
        print(f"| {factor} | {b['max/mean']:.2f} | {over or 'none'} | {100 * b['away']:.2f}% |")
    print(f"\n({time.perf_counter() - t0:.1f} s)")
    if args.png:
        write_png(args.png, rows, cols, ideal)


def write_png(path: str, rows: dict[str, dict[str, float]], cols: list[str], ideal: float) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"\n(matplotlib not importable: no PNG; `pip install matplotlib` to write {path})")
        return
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / len(rows)
    for i, (label, row) in enumerate(rows.items()):
        xs = [j + (i - (len(rows) - 1) / 2) * width for j in range(len(cols))]
        ax.bar(xs, [100 * row[c] for c in cols], width, label=label)
    ax.axhline(100 * ideal, color="black", linewidth=0.8, linestyle="--", label="one backend's share")
    ax.set_xticks(range(len(cols)), cols)
    ax.set_ylabel("sessions that change backend (%)")
    ax.set_yscale("symlog", linthresh=1)
    ax.set_title("Session affinity when one of 100 backends changes")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
