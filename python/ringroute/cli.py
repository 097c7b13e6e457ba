"""The ``ringroute`` command line in Python (``python -m ringroute``): ``route`` and ``dist``, with
the output of the Rust ``ringroute`` binary for the same membership file.

``python -m ringroute route -m ring.json [--replicas N] [KEY ...]`` prints ``key<TAB>node`` for
each key of the arguments or, when there are none, for each line of stdin (routed in batches).
``python -m ringroute dist -m ring.json [--json]`` prints each node's exact share against its
weight's, and the imbalance. Bad input exits with code 1 and one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any, NoReturn

from ringroute._ringroute import HashRing

__all__ = ["main", "dist_report"]

# Bytes read from stdin at a time; the complete lines of a block are routed in one batch.
_BLOCK = 1 << 20


class _Failure(Exception):
    """Bad input: printed on one line, exit code 1."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit code 1 (argparse's own is 2, with the usage)."""

    def error(self, message: str) -> NoReturn:
        raise _Failure(message)


def _load(path: str) -> HashRing:
    try:
        return HashRing.from_file(path)
    except OSError as e:
        raise _Failure(f"{path}: {e.strerror or e}") from e
    except (ValueError, KeyError, TypeError) as e:
        raise _Failure(str(e.args[0]) if e.args else str(e)) from e


def _lines(stdin: IO[bytes]) -> Iterator[list[bytes]]:
    """The lines of ``stdin`` in blocks, each line without its newline and a trailing ``\\r``."""
    rest = b""
    while True:
        block = stdin.read(_BLOCK)
        if not block:
            break
        data = rest + block
        end = data.rfind(b"\n")
        if end < 0:
            rest = data
            continue
        rest = data[end + 1 :]
        yield [line.removesuffix(b"\r") for line in data[:end].split(b"\n")]
    if rest:
        yield [rest.removesuffix(b"\r")]


def _route_block(ring: HashRing, keys: Sequence[bytes], replicas: int | None) -> bytes:
    if replicas is not None:
        return b"".join(
            key + b"\t" + ",".join(ring.get_replicas(key, replicas)).encode() + b"\n"
            for key in keys
        )
    names = ring.get_node_batch(keys)
    return b"".join(key + b"\t" + (name or "").encode() + b"\n" for key, name in zip(keys, names))


def _route(args: argparse.Namespace, stdin: IO[bytes], stdout: IO[bytes]) -> None:
    ring = _load(args.membership)
    if ring.point_count == 0:
        raise _Failure(
            f"{args.membership}: no node owns keys (the membership is empty or every weight is 0)"
        )
    if args.keys:
        stdout.write(_route_block(ring, [k.encode() for k in args.keys], args.replicas))
        return
    for keys in _lines(stdin):
        stdout.write(_route_block(ring, keys, args.replicas))


def _pct(x: float) -> str:
    return f"{x * 100:.4f}%"


def _table(header: Sequence[str], left: int, rows: Sequence[Sequence[str]]) -> str:
    """Columns two spaces apart, the first ``left`` aligned left and the others right."""
    width = [len(h) for h in header]
    for row in rows:
        width = [max(w, len(c)) for w, c in zip(width, row)]
    out = []
    for row in [list(header), *rows]:
        cells = [c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(row, width))]
        out.append("  ".join(cells).rstrip() + "\n")
    return "".join(out)


def _describe_placement(ring: HashRing) -> str:
    if ring.table_size is not None:
        return f"maglev (table of {ring.table_size})"
    return f"{ring.placement} ({ring.virtual_nodes} virtual nodes)"


def dist_report(ring: HashRing, as_json: bool = False) -> str:
    """The ``dist`` report of ``ring``: a table, or JSON, as the Rust ``ringroute dist`` prints it."""
    d = ring.distribution()
    if as_json:
        doc: dict[str, Any] = {
            "placement": ring.placement,
            "virtual_nodes": ring.virtual_nodes,
            "points": d["points"],
            "imbalance": d["imbalance"],
            "weighted_imbalance": d["weighted_imbalance"],
            "nodes": [
                {
                    "name": name,
                    "weight": n["weight"],
                    "points": n["points"],
                    "share": n["share"],
                    "expected": n["expected"],
                }
                for name, n in d["nodes"].items()
            ],
        }
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"
    rows = [
        [
            name,
            str(n["weight"]),
            str(n["points"]),
            _pct(n["share"]),
            _pct(n["expected"]),
            f"{n['share'] / n['expected']:.4f}" if n["expected"] > 0 else "-",
        ]
        for name, n in d["nodes"].items()
    ]
    out = _table(["node", "weight", "points", "share", "expected", "share/expected"], 1, rows)
    owning = sum(1 for n in d["nodes"].values() if n["share"] > 0)
    out += (
        f"{len(d['nodes'])} nodes ({owning} owning keys), {d['points']} points, "
        f"placement {_describe_placement(ring)}\n"
    )
    out += (
        f"imbalance {d['imbalance']:.4f} (max share / mean share), "
        f"weighted {d['weighted_imbalance']:.4f} (max share / expected)\n"
    )
    return out


def _dist(args: argparse.Namespace, stdout: IO[bytes]) -> None:
    stdout.write(dist_report(_load(args.membership), args.json).encode())


def _replicas(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n} is not 1 or more")
    return n


def _parser() -> _Parser:
    p = _Parser(
        prog="python -m ringroute",
        description="Consistent-hash routing from membership files: route keys, and see each "
        "node's exact share of the key space.",
        epilog="Example:\n  python -m ringroute dist -m ring.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    route = sub.add_parser(
        "route",
        help="route keys (arguments, or one per line on stdin) and print key<TAB>node",
        epilog="Examples:\n  python -m ringroute route -m ring.json user:1 user:2\n"
        "  python -m ringroute route -m ring.json --replicas 2 < keys.txt > routes.tsv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    route.add_argument(
        "-m", "--membership", required=True, metavar="FILE", help="the membership file"
    )
    route.add_argument(
        "--replicas",
        type=_replicas,
        metavar="N",
        help="print the first N distinct nodes of each key's walk, comma-separated",
    )
    route.add_argument("keys", nargs="*", metavar="KEY", help="keys; none: one per line on stdin")
    dist = sub.add_parser(
        "dist",
        help="each node's exact share of the key space against its weight's, and the imbalance",
        epilog="Example:\n  python -m ringroute dist -m ring.json --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dist.add_argument(
        "-m", "--membership", required=True, metavar="FILE", help="the membership file"
    )
    dist.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit code (0, or 1 for bad input)."""
    stdout = sys.stdout.buffer
    try:
        args = _parser().parse_args(argv)
        if args.command == "route":
            _route(args, sys.stdin.buffer, stdout)
        else:
            _dist(args, stdout)
        stdout.flush()
    except _Failure as e:
        print(f"ringroute: {str(e).replace(chr(10), ' ')}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # A reader that went away (`... | head`) is not an error; nothing more can be written.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 0
