"""The seeds' claims about consistent hashing, measured (seed 003's table, seed 004's scale-out).

    # once, in the venv with ringroute[clients] installed (scripts/test-all builds target/venv):
    target/venv/bin/python -m pip install matplotlib     # only for the PNG; tables print without it
    target/venv/bin/python python/benches/seed_claims.py [--png docs/seed_claims.png]
        [--keys 20000] [--requests 30000] [--count-keys 200000]

(a) Seed 003's key-movement table — share of keys that change server when removing 1 of 4 servers,
    adding 1 to 4, removing 1 of 100 — for modulo hashing (``hash % N``) and for ringroute
    (``placement="native"``, 128 virtual nodes, and ``"libmemcached"``, 160 points per server).
    Exact figures: for modulo, counted over the whole 64-bit hash space (a key stays iff
    ``h mod lcm(N, M) < min(N, M)``); for ringroute, ``HashRing.moved_fraction`` (exact arc shares
    by the engine). Both confirmed by routing ``--count-keys`` keys before and after.

(b) Seed 004's scenario on real memcached (started here on free 127.0.0.1 ports, stopped at the
    end): ``--keys`` cached objects with Zipf(1.0) popularity, a read-through workload over 5 servers
    (a miss loads from the "database" and sets the key), then 2 servers are added (5 → 7) and
    ``--requests`` more requests run. Reported: miss rate in the first 10 % / whole window after the
    change for modulo sharding (pymemcache ``HashClient`` with a ``crc32 % N`` hasher, as
    python-memcached does), ringroute (``MemcacheRing``), and ringroute with a warm-up (the 5 %
    hottest keys whose server changed are copied from their old server before traffic resumes).

Prints markdown tables and the machine; writes the PNG if matplotlib is importable.
"""

from __future__ import annotations

import argparse
import bisect
import math
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from typing import Any

from pymemcache.client.base import Client
from pymemcache.client.hash import HashClient

import ringroute
from ringroute import HashRing
from ringroute.clients import MemcacheRing

# --- (a) key movement ----------------------------------------------------------------------------

SCENARIOS = [
    ("remove 1 of 4", 4, 3, "~75%", "~25%"),
    ("add 1 to 4", 4, 5, "~80%", "~20%"),
    ("remove 1 of 100", 100, 99, "~99%", "~1%"),
]


def modulo_exact(n: int, m: int, space: int = 1 << 64) -> float:
    """Share of a uniform hash space [0, space) whose ``h % n != h % m``."""
    lcm = n * m // math.gcd(n, m)
    low = min(n, m)
    stay = (space // lcm) * low + min(space % lcm, low)
    return 1 - stay / space


def names(n: int) -> list[str]:
    return [f"10.0.{i // 250}.{i % 250 + 1}:11211" for i in range(n)]


def ring_of(members: Sequence[str], placement: str) -> HashRing:
    return HashRing(nodes=list(members), placement=placement)


def movement_table(count_keys: int) -> list[dict[str, Any]]:
    keys = [f"key:{i}".encode() for i in range(count_keys)]
    hasher = HashRing(nodes=["x"])
    hashes = [hasher.key_hash(k) for k in keys]
    rows = []
    for label, n, m, claim_mod, claim_ring in SCENARIOS:
        before, after = names(n), names(max(n, m))[:m]
        moved_mod = sum(1 for h in hashes if h % n != h % m) / count_keys
        row: dict[str, Any] = {
            "scenario": label,
            "claim_modulo": claim_mod,
            "modulo_exact": modulo_exact(n, m),
            "modulo_counted": moved_mod,
            "claim_ring": claim_ring,
        }
        for placement in ("native", "libmemcached"):
            a, b = ring_of(before, placement), ring_of(after, placement)
            exact = a.moved_fraction(b)
            na, nb = a.get_node_batch(keys), b.get_node_batch(keys)
            counted = sum(1 for x, y in zip(na, nb) if x != y) / count_keys
            # The share depends on which server leaves: the range over every choice (n ≤ 100).
            if m < n:
                shares = [a.moved_fraction(ring_of([s for s in before if s != gone], placement))
                          for gone in before]
                spread = (min(shares), max(shares))
            else:
                spread = (exact, exact)
            row[placement] = {"exact": exact, "counted": counted, "spread": spread}
        rows.append(row)
    return rows


def print_movement(rows: list[dict[str, Any]], count_keys: int) -> None:
    print("\n### (a) Share of keys that change server (seed 003's table)\n")
    print(f"exact = computed (modulo: over the 64-bit hash space; ringroute: `moved_fraction`); "
          f"counted = {count_keys:,} keys routed before and after. Removals: the last server leaves; "
          f"[min–max] over every choice of the leaving server.\n")
    print("| change | seed: % N | modulo exact | modulo counted | seed: ring | ringroute native exact "
          "| counted | [min–max] | libmemcached profile exact | counted |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        nat, lib = r["native"], r["libmemcached"]
        lo, hi = nat["spread"]
        spread = f"{lo:.2%}–{hi:.2%}" if lo != hi else "–"
        print(f"| {r['scenario']} | {r['claim_modulo']} | {r['modulo_exact']:.2%} | "
              f"{r['modulo_counted']:.2%} | {r['claim_ring']} | {nat['exact']:.2%} | "
              f"{nat['counted']:.2%} | {spread} | {lib['exact']:.2%} | {lib['counted']:.2%} |")


# --- (b) memcached scale-out ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Memcached:
    """A memcached on a free 127.0.0.1 port, killed by ``stop()``."""

    def __init__(self) -> None:
        binary = shutil.which("memcached")
        if not binary:
            raise SystemExit("memcached not found: apt-get install -y memcached")
        for _ in range(10):
            self.port = free_port()
            argv = [binary, "-l", "127.0.0.1", "-p", str(self.port), "-U", "0", "-m", "64", "-t", "1"]
            if os.geteuid() == 0:
                argv += ["-u", "root"]
            self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                    time.sleep(0.05)
                    if self.proc.poll() is None:
                        return
                except OSError:
                    time.sleep(0.02)
            self.stop()
        raise SystemExit("could not start memcached on 127.0.0.1")

    @property
    def name(self) -> str:
        return f"127.0.0.1:{self.port}"

    def flush(self) -> None:
        c = Client(("127.0.0.1", self.port))
        c.flush_all(noreply=False)
        c.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=5)


class ModuloHasher:
    """``crc32(key) % N`` over the servers in the order given (python-memcached's scheme)."""

    def __init__(self) -> None:
        self.nodes: list[str] = []

    def add_node(self, name: str) -> None:
        self.nodes.append(name)

    def remove_node(self, name: str) -> None:
        self.nodes.remove(name)

    def get_node(self, key: str | bytes) -> str | None:
        raw = key.encode() if isinstance(key, str) else key
        return self.nodes[zlib.crc32(raw) % len(self.nodes)] if self.nodes else None


def modulo_client(servers: Sequence[Memcached]) -> HashClient:
    return HashClient([("127.0.0.1", s.port) for s in servers], hasher=ModuloHasher,
                      default_noreply=False, connect_timeout=1, timeout=2)


def zipf_sampler(n: int, s: float, rng: random.Random) -> Callable[[], int]:
    cum, total = [], 0.0
    for rank in range(1, n + 1):
        total += 1 / rank**s
        cum.append(total)

    def draw() -> int:
        return min(bisect.bisect_left(cum, rng.random() * total), n - 1)

    return draw


def read_through(client: Any, key: str, value: bytes) -> bool:
    """One request: get, and on a miss load from the database (``value``) and set. True on a miss."""
    if client.get(key) is not None:
        return False
    client.set(key, value)
    return True


def run_strategy(strategy: str, farm: list[Memcached], n_keys: int, requests: int,
                 seed: int, window: int) -> dict[str, Any]:
    for s in farm:
        s.flush()
    five, seven = farm[:5], farm[:7]
    value = b"x" * 100
    keys = [f"user:{i}:profile" for i in range(n_keys)]  # rank i: the i-th most popular
    if strategy == "modulo":
        before: Any = modulo_client(five)
    else:
        before = MemcacheRing([s.name for s in five], connect_timeout=1, timeout=2)
    # Warm cache: every object cached (the steady state before the auto-scale event).
    for i in range(0, n_keys, 500):
        before.set_many({k: value for k in keys[i : i + 500]})
    rng = random.Random(seed)
    draw = zipf_sampler(n_keys, 1.0, rng)
    pre = sum(read_through(before, keys[draw()], value) for _ in range(window))
    warmed = 0
    t0 = time.perf_counter()
    if strategy == "modulo":
        after: Any = modulo_client(seven)
        moved = modulo_exact(5, 7, 1 << 32)  # crc32: a 32-bit hash
    else:
        after = MemcacheRing([s.name for s in seven], connect_timeout=1, timeout=2)
        moved = before.ring.moved_fraction(after.ring)
        if strategy == "ringroute + warm-up":
            hot = keys[: max(1, n_keys // 20)]  # the 5 % hottest keys
            moving = [k for k in hot if after.server_for(k) != before.server_for(k)]
            for i in range(0, len(moving), 200):
                got = before.get_many(moving[i : i + 200])
                after.set_many(got)
                warmed += len(got)
    warm_seconds = time.perf_counter() - t0
    misses = [read_through(after, keys[draw()], value) for _ in range(requests)]
    before.close()
    after.close()
    head = max(1, requests // 10)
    return {
        "strategy": strategy,
        "moved": moved,
        "pre_miss": pre / window,
        "first_miss": sum(misses[:head]) / head,
        "head": head,
        "all_miss": sum(misses) / requests,
        "series": [sum(misses[i : i + window]) / len(misses[i : i + window])
                   for i in range(0, requests, window)],
        "warmed": warmed,
        "warm_seconds": warm_seconds,
    }


def print_scaleout(results: list[dict[str, Any]], n_keys: int, requests: int) -> None:
    print("\n### (b) Read-through cache on real memcached, 5 → 7 servers (seed 004's scenario)\n")
    print(f"{n_keys:,} keys, Zipf(1.0) popularity, every key cached before the change; "
          f"{requests:,} requests after it (a miss loads and sets the key). keys moved = exact share "
          f"of the key space that changes server (modulo: crc32 % N; ringroute: `moved_fraction` "
          f"of the two rings; 2/7 = 28.6% on average).\n")
    print("| strategy | keys moved | miss rate before | first {0:,} requests after "
          "| all {1:,} requests after | keys warmed (time) |".format(results[0]["head"], requests))
    print("|---|---|---|---|---|---|")
    for r in results:
        warm = f"{r['warmed']:,} ({r['warm_seconds'] * 1000:.0f} ms)" if r["warmed"] else "–"
        print(f"| {r['strategy']} | {r['moved']:.1%} | {r['pre_miss']:.2%} | {r['first_miss']:.2%} | "
              f"{r['all_miss']:.2%} | {warm} |")
    print("\nSeed 004 claims ~40 % misses after adding 2 nodes to 5 with modulo sharding, and "
          "38 % → 27 % (about a third less) when switching to consistent hashing (their 10-node "
          "Redis benchmark).")


def write_png(path: str, movement: list[dict[str, Any]], results: list[dict[str, Any]],
              window: int, machine: str, n_keys: int) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"\n(matplotlib not importable: no PNG; `pip install matplotlib` to write {path})")
        return False
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.6), dpi=100)
    labels = [r["scenario"] for r in movement]
    x = range(len(labels))
    w = 0.38
    mod = [r["modulo_exact"] * 100 for r in movement]
    ring = [r["native"]["exact"] * 100 for r in movement]
    b1 = ax1.bar([i - w / 2 for i in x], mod, w, label="modulo (hash % N)", color="#d62728")
    b2 = ax1.bar([i + w / 2 for i in x], ring, w, label="ringroute (native)", color="#1f77b4")
    for bars in (b1, b2):
        for bar in bars:
            ax1.annotate(f"{bar.get_height():.1f}%", (bar.get_x() + bar.get_width() / 2,
                         bar.get_height()), ha="center", va="bottom", fontsize=9)
    ax1.set_xticks(list(x), labels)
    ax1.set_ylabel("keys that change server (%)")
    ax1.set_ylim(0, 125)
    ax1.set_title("Seed 003: key movement\nexact shares (confirmed by counting keys)", fontsize=11)
    ax1.legend(loc="upper center", ncol=2, fontsize=9)
    colors = {"modulo": "#d62728", "ringroute": "#1f77b4", "ringroute + warm-up": "#2ca02c"}
    for r in results:
        xs = [(i + 0.5) * window for i in range(len(r["series"]))]
        ax2.plot(xs, [v * 100 for v in r["series"]], marker="o", ms=3,
                 label=f"{r['strategy']} (first 10%: {r['first_miss']:.1%})",
                 color=colors[r["strategy"]])
    ax2.set_xlabel("requests after scaling 5 → 7 memcached servers")
    ax2.set_ylabel(f"miss rate per {window:,} requests (%)")
    ax2.set_ylim(0, 100)
    ax2.set_title(f"Seed 004: read-through misses after scale-out\n"
                  f"real memcached, {n_keys:,} keys, Zipf(1.0) requests", fontsize=11)
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=9)
    fig.suptitle(f"ringroute {ringroute.__version__} — {machine}", fontsize=9, y=0.995)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path)
    print(f"\nchart written to {path}")
    return True


def machine_line() -> str:
    model = platform.processor() or platform.machine()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        model = fields.get("Model name", model).strip()
    except (OSError, subprocess.SubprocessError):
        pass
    mc = subprocess.run(["memcached", "-V"], capture_output=True, text=True).stdout.strip()
    return (f"{model}, {os.cpu_count()} CPUs; Python {platform.python_version()}; {mc}; "
            f"pymemcache {__import__('pymemcache').__version__}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", type=int, default=20_000)
    ap.add_argument("--requests", type=int, default=30_000)
    ap.add_argument("--count-keys", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--png", default="docs/seed_claims.png")
    args = ap.parse_args()
    machine = machine_line()
    print(f"machine: {machine}")
    movement = movement_table(args.count_keys)
    print_movement(movement, args.count_keys)
    window = max(1, args.requests // 20)
    farm = [Memcached() for _ in range(7)]
    try:
        results = [run_strategy(s, farm, args.keys, args.requests, args.seed, window)
                   for s in ("modulo", "ringroute", "ringroute + warm-up")]
    finally:
        for s in farm:
            s.stop()
    print_scaleout(results, args.keys, args.requests)
    write_png(args.png, movement, results, window, machine, args.keys)


if __name__ == "__main__":
    sys.exit(main())
