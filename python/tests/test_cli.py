"""``python -m ringroute``, run as a user runs it, against the Rust ``ringroute`` binary on the same
membership files: the same routes, the same ``dist`` table and JSON, one-line errors with exit 1.

The Rust binary is found as ``RINGROUTE_CLI``, or in ``$CARGO_TARGET_DIR`` (or the repository's
``target/``) under ``release/`` or ``debug/``, or built with cargo; in CI a missing binary is a
failure, not a skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringroute import HashRing

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "cli" / "tests" / "data"
FILES = ["before.json", "after.toml", "ketama-before.json", "ketama-after.json"]


def _rust_cli() -> Path:
    if os.environ.get("RINGROUTE_CLI"):
        return Path(os.environ["RINGROUTE_CLI"])
    target = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
    found = [p for p in (target / "release" / "ringroute", target / "debug" / "ringroute")]
    found = [p for p in found if p.is_file()]
    if not found and shutil.which("cargo"):
        subprocess.run(
            ["cargo", "build", "--release", "-p", "ringroute-cli"], cwd=ROOT, check=True
        )
        found = [target / "release" / "ringroute"]
    if not found:
        if os.environ.get("CI"):
            pytest.fail("the Rust ringroute binary is missing (cargo build -p ringroute-cli)")
        pytest.skip("the Rust ringroute binary is missing and cargo is not installed")
    return max(found, key=lambda p: p.stat().st_mtime)


@pytest.fixture(scope="module")
def rust_cli() -> Path:
    return _rust_cli()


def py(args: list[str], stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "ringroute", *args],
        input=stdin,
        capture_output=True,
        cwd=DATA,
        timeout=60,
    )


def rust(cli: Path, args: list[str], stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(cli), *args], input=stdin, capture_output=True, cwd=DATA, timeout=60
    )


def ok(r: subprocess.CompletedProcess[bytes]) -> bytes:
    assert r.returncode == 0, r.stderr.decode()
    assert r.stderr == b""
    return r.stdout


@pytest.mark.parametrize("name", FILES)
def test_dist_is_the_rust_dist(rust_cli: Path, name: str) -> None:
    table = ok(py(["dist", "-m", name]))
    assert table == ok(rust(rust_cli, ["dist", "-m", name]))
    as_json = ok(py(["dist", "-m", name, "--json"]))
    want = json.loads(ok(rust(rust_cli, ["dist", "-m", name, "--json"])))
    assert json.loads(as_json) == want
    # And both are the library's numbers.
    d = HashRing.from_file(DATA / name).distribution()
    assert [n["share"] for n in want["nodes"]] == [n["share"] for n in d["nodes"].values()]


def test_dist_golden() -> None:
    # The Rust command's golden output for this file.
    golden = (ROOT / "cli" / "tests" / "golden" / "dist.txt").read_bytes()
    assert ok(py(["dist", "-m", "before.json"])) == golden


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("replicas", [None, 1, 2, 3])
def test_route_is_the_rust_route(rust_cli: Path, name: str, replicas: int | None) -> None:
    extra = [] if replicas is None else ["--replicas", str(replicas)]
    # Blank lines, a trailing \r, bytes that are not UTF-8, and no newline at the end.
    keys = b"".join(f"key-{i}\n".encode() for i in range(3000)) + b"\n\xff\xfe\r\nlast"
    out = ok(py(["route", "-m", name, *extra], keys))
    assert out == ok(rust(rust_cli, ["route", "-m", name, *extra], keys))
    assert len(out.splitlines()) == 3003
    args = ["user:1", "user:2", "ключ"]
    assert ok(py(["route", "-m", name, *extra, *args])) == ok(
        rust(rust_cli, ["route", "-m", name, *extra, *args])
    )


def test_route_golden() -> None:
    golden = (ROOT / "cli" / "tests" / "golden" / "route.txt").read_bytes()
    assert ok(py(["route", "-m", "before.json", "user:1", "user:2", "user:3"])) == golden


@settings(max_examples=20, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=20).filter(lambda k: b"\n" not in k), max_size=50))
def test_route_from_stdin_agrees_with_the_library(keys: list[bytes]) -> None:
    stdin = b"".join(k + b"\n" for k in keys)
    out = ok(py(["route", "-m", "before.json"], stdin))
    ring = HashRing.from_file(DATA / "before.json")
    want = b"".join(
        k.removesuffix(b"\r") + b"\t" + str(ring.get_node(k.removesuffix(b"\r"))).encode() + b"\n"
        for k in keys
    )
    assert out == want


def test_route_lines_longer_than_a_block() -> None:
    long = b"k" * (3 << 20)
    out = ok(py(["route", "-m", "before.json"], long + b"\nshort\n"))
    ring = HashRing.from_file(DATA / "before.json")
    assert out.split(b"\n")[1] == b"short\t" + str(ring.get_node("short")).encode()
    assert out.split(b"\t")[0] == long


def fails(args: list[str], stdin: bytes = b"") -> str:
    r = py(args, stdin)
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    assert r.stdout == b""
    return err.rstrip("\n")


def test_bad_input_is_one_line_and_exit_1(rust_cli: Path, tmp_path: Path) -> None:
    # A bad file: the same message as the Rust command (it names the file, node and field).
    for args in (["dist", "-m", "bad.json"], ["route", "-m", "bad.json", "k"]):
        err = fails(args)
        r = rust(rust_cli, args)
        assert r.returncode == 1
        assert err == r.stderr.decode().rstrip("\n")
        assert "bad.json" in err and "cache-b" in err and "weight" in err
    assert "missing.json" in fails(["dist", "-m", "missing.json"])
    empty = tmp_path / "empty.json"
    empty.write_text('{"nodes": []}')
    assert "no node owns keys" in fails(["route", "-m", str(empty), "k"])
    assert "--replicas" in fails(["route", "-m", "before.json", "--replicas", "0", "k"])
    assert "--replicas" in fails(["route", "-m", "before.json", "--replicas", "x", "k"])
    assert "-m" in fails(["dist"])
    assert fails(["nosuch"]).startswith("ringroute: ")
    assert fails([]).startswith("ringroute: ")


def test_help_has_an_example() -> None:
    for args in ([], ["route"], ["dist"]):
        out = ok(py([*args, "--help"])).decode()
        assert "Example" in out and "python -m ringroute" in out


def test_a_closed_pipe_ends_quietly() -> None:
    p1 = subprocess.Popen(
        [sys.executable, "-m", "ringroute", "route", "-m", "before.json"],
        cwd=DATA,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert p1.stdout is not None and p1.stdin is not None
    p1.stdout.close()
    _, err = p1.communicate(b"".join(f"k{i}\n".encode() for i in range(200_000)), timeout=60)
    assert p1.returncode == 0, err.decode()
    assert b"Traceback" not in err
