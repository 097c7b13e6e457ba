"""Compare ringroute.HashRing with uhashring (PyPI) and fastring (when importable) in one run.

    python python/benches/bench_ringroute.py [--nodes 100] [--budget 0.25]

Cases (per operation, median of repeated timings; lower is better):
  get_node single call      one call, the same key each time
  list-comprehension loop   [ring.get_node(k) for k in keys], per key
  batch, per key            ring.get_node_batch(keys) on 1000 str keys, per key (fastring has one)
  hashed-u64 batch          ring.get_node_batch(array('Q', hashes)), per key (ringroute only)
  get_replicas(k, 3)        the owner and the next two distinct nodes of one key
  get_replicas loop         for k in keys: ring.get_replicas(k, 3), 1000 str keys, per key
  iterate_nodes(k), 3 taken the first three nodes of a key's walk (uhashring and ringroute)
  add+remove, N nodes       add_node(new) then remove_node(new) on a ring of N = 100 and 1000 nodes
  add+remove+get, N nodes   the same, then one get_node (ringroute publishes single calls at the
                            next read: this is the cost of a change that is read)
  add_node loop, N nodes    a ring built by N add_node calls, then one get_node
  build N nodes             HashRing(nodes=N names) (fastring: add_node in a loop)

When fastring is importable, its lookups and ringroute's are also timed in alternating blocks
(`paired`): the ratios of blocks a few milliseconds apart, which a change of the host's speed
between one library's seconds and the other's does not move.

A further table compares the drop-in ``ringroute.compat.uhashring.HashRing`` (and ``ringroute.HashRing``
with ``placement="uhashring"``, the same md5 placement without the conf-dict layer) with uhashring on
uhashring's own placement: same answers, so the same work.

fastring's wheels need CPython >= 3.13; on older interpreters it is reported as not importable.
Only a few seconds of wall time; numbers are for comparison within one run, not absolute claims.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import timeit
from array import array
from collections.abc import Callable
from itertools import islice

import ringroute

try:
    import uhashring
except ImportError:  # pragma: no cover - reported in the table
    uhashring = None
try:
    import fastring
except ImportError:  # pragma: no cover - expected on CPython < 3.13
    fastring = None

NOT_APPLICABLE = None


def measure(stmt: str | Callable[[], object], per: int, budget: float, env: dict | None = None) -> float:
    """Median seconds per operation of `stmt` (code run by timeit in `env`, or a callable), which
    performs `per` operations. A statement avoids the cost of a lambda call around tiny operations."""
    if isinstance(stmt, str) and env:
        # Bind the names as locals of timeit's loop function (as `python -m timeit -s` does), so
        # that a call is not timed together with a global-dict lookup of its own name.
        setup = "; ".join(f"{k} = _env[{k!r}]" for k in env)
        timer = timeit.Timer(stmt, setup=setup, globals={"_env": env})
    else:
        timer = timeit.Timer(stmt, globals=env or {})
    number = 1
    while True:  # calibrate: one repetition takes at least ~budget/10
        dt = timer.timeit(number)
        if dt >= budget / 10 or number >= 1 << 22:
            break
        number *= 2
    samples = [dt / number / per]
    end = time.perf_counter() + budget
    while len(samples) < 5 or (time.perf_counter() < end and len(samples) < 25):
        samples.append(timer.timeit(number) / number / per)
    return statistics.median(samples)


def paired(stmts: tuple[str, str], envs: tuple[dict, dict], per: int, budget: float, rounds: int = 15) -> tuple[float, float, float]:
    """Two statements timed in alternating blocks (which goes first alternates from round to round):
    the median seconds per operation of each, and the median of each round's ratio second / first.
    A block is ~budget / (2 * rounds) long, so that a round's two blocks run a few milliseconds
    apart and meet the same host: separate medians taken a few seconds apart measured the host's
    phases as much as the libraries (a phase that slowed ringroute's lookups 1.9x slowed
    fastring's 1.0-1.5x, and the separate ratios then fell by up to half)."""
    timers = []
    for stmt, env in zip(stmts, envs):
        setup = "; ".join(f"{k} = _env[{k!r}]" for k in env)
        timer = timeit.Timer(stmt, setup=setup, globals={"_env": env})
        number = 1
        while timer.timeit(number) < budget / (2 * rounds) and number < 1 << 22:
            number *= 2
        timers.append((timer, number))
    times: tuple[list[float], list[float]] = ([], [])
    ratios = []
    for r in range(rounds):
        block = [0.0, 0.0]
        for side in (0, 1) if r % 2 == 0 else (1, 0):
            timer, number = timers[side]
            block[side] = timer.timeit(number) / number / per
            times[side].append(block[side])
        ratios.append(block[1] / block[0])
    return statistics.median(times[0]), statistics.median(times[1]), statistics.median(ratios)


def paired_lookups(nodes: int, budget: float) -> None:
    """ringroute's and fastring's lookups timed in alternating blocks (see `paired`)."""
    names = [f"node-{i}" for i in range(nodes)]
    rings = (make_ringroute(names), make_fastring(names))
    keys = [f"user:{i}" for i in range(1000)]
    cases = [
        ("get_node single call", "get('user:42')", 1),
        ("batch, per key", "batch(keys)", len(keys)),
        ("get_replicas(k, 3)", "replicas('user:42', 3)", 1),
    ]
    envs = tuple({"get": r.get_node, "batch": r.get_node_batch, "replicas": r.get_replicas, "keys": keys} for r in rings)
    rounds = 15
    print()
    print(f"paired with fastring ({rounds} rounds of alternating blocks, {nodes} nodes; medians):")
    head = f"{'case':<28}{'ringroute':>14}{'fastring':>14}{'fastring / rr':>18}"
    print(head)
    print("-" * len(head))
    for name, stmt, per in cases:
        rr, fr, ratio = paired((stmt, stmt), envs, per, budget, rounds)
        print(f"{name:<28}{fmt(rr):>14}{fmt(fr):>14}{ratio:>17.1f}x")
    print("(ratio: the median of the rounds' ratios)")


def make_ringroute(names: list[str]):
    return ringroute.HashRing(nodes=names)


def make_uhashring(names: list[str]):
    return uhashring.HashRing(nodes=names) if names else uhashring.HashRing()


def make_fastring(names: list[str]):
    r = fastring.HashRing()
    for n in names:
        r.add_node(n)
    return r


def membership_cases(
    make, budget: float, sizes: tuple[int, ...] = (100, 1000), loop_sizes: tuple[int, ...] = (100, 1000)
) -> dict[str, float | None]:
    """Membership changes at each ring size: add+remove of one node (alone, and with a lookup after
    each pair, which is when ringroute publishes what single calls staged), a ring built by an
    add_node loop (plus one lookup, so that the build is published; only at `loop_sizes`: uhashring
    rebuilds its whole ring at each add_node), and HashRing(nodes=...)."""
    out: dict[str, float | None] = {}
    for n in sizes:
        names = [f"node-{i}" for i in range(n)]
        ring = make(names)

        def add_remove(ring=ring) -> None:
            ring.add_node("extra-node")
            ring.remove_node("extra-node")

        def add_remove_read(ring=ring) -> None:
            ring.add_node("extra-node")
            ring.remove_node("extra-node")
            ring.get_node("user:42")

        def loop_build(names=names) -> None:
            r = make([])
            add = r.add_node
            for name in names:
                add(name)
            r.get_node("user:42")

        out[f"add+remove, {n} nodes"] = measure(add_remove, 1, budget)
        out[f"add+remove+get, {n} nodes"] = measure(add_remove_read, 1, budget)
        out[f"add_node loop, {n} nodes"] = measure(loop_build, 1, budget) if n in loop_sizes else None
        out[f"build {n} nodes"] = measure(lambda names=names: make(names), 1, budget)
    return out


def cases(lib: str, make, nodes: int, budget: float) -> dict[str, float | None]:
    names = [f"node-{i}" for i in range(nodes)]
    ring = make(names)
    keys = [f"user:{i}" for i in range(1000)]
    get = ring.get_node
    out: dict[str, float | None] = {}
    env = {"get": get, "keys": keys}
    out["get_node single call"] = measure("get('user:42')", 1, budget, env)
    out["list-comprehension loop"] = measure("[get(k) for k in keys]", len(keys), budget, env)
    batch = getattr(ring, "get_node_batch", None)
    out["batch, per key"] = measure(lambda: batch(keys), len(keys), budget) if batch else None
    if lib == "ringroute":
        hashes = array("Q", [ring.key_hash(k) for k in keys])
        out["hashed-u64 batch, per key"] = measure(lambda: batch(hashes), len(keys), budget)
    else:
        out["hashed-u64 batch, per key"] = None
    replicas = getattr(ring, "get_replicas", None)
    env = {"replicas": replicas}
    out["get_replicas(k, 3)"] = measure("replicas('user:42', 3)", 1, budget, env) if replicas else None
    env = {"replicas": replicas, "keys": keys}
    out["get_replicas loop, per key"] = (
        measure("for k in keys: replicas(k, 3)", len(keys), budget, env) if replicas else None
    )
    iterate = getattr(ring, "iterate_nodes", None)
    out["iterate_nodes(k), 3 taken"] = (
        measure(lambda: list(islice(iterate("user:42"), 3)), 1, budget) if iterate else None
    )
    out.update(membership_cases(make, budget, loop_sizes=(100,) if lib == "uhashring" else (100, 1000)))
    return out


def dropin_cases(make, nodes: int, budget: float) -> dict[str, float]:
    """The uhashring-placement cases of the drop-in table."""
    names = [f"node-{i}" for i in range(nodes)]
    ring = make(names)
    keys = [f"user:{i}" for i in range(1000)]
    env = {"get": ring.get_node, "keys": keys}
    out = {
        "get_node single call": measure("get('user:42')", 1, budget, env),
        "list-comprehension loop": measure("[get(k) for k in keys]", len(keys), budget, env),
    }
    out.update(membership_cases(make, budget, sizes=(1000,), loop_sizes=()))
    return out


def dropin_table(nodes: int, budget: float) -> None:
    """ringroute's uhashring drop-in and profile vs uhashring itself (md5 placement, vnodes=160)."""
    from ringroute.compat import uhashring as compat

    libs = {
        "compat": lambda names: compat.HashRing(nodes=names),
        "profile": lambda names: ringroute.HashRing(nodes=names, placement="uhashring"),
        "uhashring": make_uhashring,
    }
    res = {lib: dropin_cases(make, nodes, budget) for lib, make in libs.items()}
    print()
    print("uhashring placement (md5, vnodes=160): compat = ringroute.compat.uhashring.HashRing,")
    print('profile = ringroute.HashRing(placement="uhashring")')
    head = f"{'case':<28}" + "".join(f"{lib:>14}" for lib in libs)
    head += f"{'uhashring / compat':>20}{'uhashring / profile':>21}"
    print(head)
    print("-" * len(head))
    for row in res["compat"]:
        if any(res[lib][row] is None for lib in libs):
            continue
        line = f"{row:<28}" + "".join(f"{fmt(res[lib][row]):>14}" for lib in libs)
        peer = res["uhashring"][row]
        line += f"{peer / res['compat'][row]:>19.1f}x{peer / res['profile'][row]:>20.1f}x"
        print(line)


def fmt(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    for unit, scale in (("ns", 1e9), ("µs", 1e6), ("ms", 1e3)):
        if seconds * scale < 1000:
            return f"{seconds * scale:.1f} {unit}"
    return f"{seconds:.2f} s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=100, help="ring size for the lookup cases")
    ap.add_argument("--budget", type=float, default=0.25, help="seconds per case and library")
    args = ap.parse_args()

    print(f"CPython {sys.version.split()[0]}, {args.nodes} nodes for lookups, medians per operation")
    libs = [("ringroute", make_ringroute)]
    notes = []
    if uhashring is not None:
        libs.append(("uhashring", make_uhashring))
    else:
        notes.append("uhashring: not installed (pip install uhashring)")
    if fastring is not None:
        libs.append(("fastring", make_fastring))
    else:
        notes.append(
            f"fastring: not importable on CPython {sys.version_info.major}.{sys.version_info.minor} "
            "(its wheels need CPython >= 3.13)"
        )
    results = {lib: cases(lib, make, args.nodes, args.budget) for lib, make in libs}
    rows = list(results["ringroute"])
    head = f"{'case':<28}" + "".join(f"{lib:>14}" for lib, _ in libs)
    peers = [lib for lib, _ in libs if lib != "ringroute"]
    head += "".join(f"{lib + ' / rr':>18}" for lib in peers)
    print(head)
    print("-" * len(head))
    for row in rows:
        line = f"{row:<28}" + "".join(f"{fmt(results[lib][row]):>14}" for lib, _ in libs)
        base = results["ringroute"][row]
        for lib in peers:
            other = results[lib][row]
            if other and base:
                ratio = f"{other / base:.1f}x"
            elif base and row.startswith(("batch", "hashed")):
                # No batch call: compare with what its users do instead, a loop of get_node.
                ratio = f"{results[lib]['list-comprehension loop'] / base:.1f}x (loop)"
            else:
                ratio = "n/a"
            line += f"{ratio:>18}"
        print(line)
    print("(ratio = peer time / ringroute time: how many times faster ringroute is;")
    print(" '(loop)': the peer has no batch call, so its list-comprehension loop is compared)")
    for n in notes:
        print("note:", n)
    if fastring is not None:
        paired_lookups(args.nodes, args.budget)
    if uhashring is not None:
        dropin_table(args.nodes, args.budget)


if __name__ == "__main__":
    main()
