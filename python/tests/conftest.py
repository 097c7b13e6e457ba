"""Shared helpers: the golden vectors of the original libraries and small ring builders."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings

# CI runs the property tests on a fixed (derandomised) example sequence, so a submission's verdict does
# not depend on which random examples a run draws; local runs keep exploring new examples each time.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# The fastring vectors live with the Rust golden tests (tests/data at the repository root); a copy of
# the shared vectors may be pointed to with RINGROUTE_VECTORS.
ROOT = Path(__file__).resolve().parents[2]
VECTOR_DIRS = [
    Path(p) for p in [os.environ.get("RINGROUTE_VECTORS", ""), ROOT / "tests" / "data"] if p
]

# The node sets of the vectors (see shared/vectors/README.md): name, weight, in insertion order.
NODESETS = {
    "ip3": [("10.0.0.1:11211", 1), ("10.0.0.2:11211", 1), ("10.0.0.3:11211", 1)],
    "n10": [(f"node-{i}", 1) for i in range(10)],
    "w5": [(f"node-{i}", w) for i, w in enumerate([1, 2, 1, 3, 1])],
}


@dataclass(frozen=True)
class Row:
    key: bytes
    hash: int
    node: str
    walk3: list[str] | None  # None for files without a walk column (continuum)


def vector_path(name: str) -> Path:
    for d in VECTOR_DIRS:
        if (d / name).is_file():
            return d / name
    raise FileNotFoundError(f"vector file {name} not found in {VECTOR_DIRS}")


def load_rows(name: str) -> list[Row]:
    rows = []
    with open(vector_path(name), encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        assert header[:4] == ["key_hex", "key", "hash", "node"], header
        for line in f:
            cols = line.rstrip("\n").split("\t")
            assert len(cols) == len(header) and len(cols) in (4, 5), cols
            walk3 = cols[4].split(",") if len(cols) == 5 else None
            rows.append(Row(bytes.fromhex(cols[0]), int(cols[2]), cols[3], walk3))
    return rows


@pytest.fixture(params=sorted(NODESETS))
def nodeset(request: pytest.FixtureRequest) -> str:
    return request.param


# --- real cache servers (tests of ringroute.clients) ---------------------------------------------


@pytest.fixture
def memcached_farm():  # type: ignore[no-untyped-def]
    """Starts memcached instances on free 127.0.0.1 ports; stops them all at the end."""
    from cache_servers import ServerFarm

    farm = ServerFarm("memcached")
    try:
        yield farm
    finally:
        farm.stop_all()


@pytest.fixture
def redis_farm():  # type: ignore[no-untyped-def]
    """Starts redis-server instances (no persistence) on free 127.0.0.1 ports; stops them all."""
    from cache_servers import ServerFarm

    farm = ServerFarm("redis")
    try:
        yield farm
    finally:
        farm.stop_all()


# --- a real etcd cluster (tests of ringroute.membership) -----------------------------------------


@pytest.fixture
def etcd_cluster():  # type: ignore[no-untyped-def]
    """A 3-member etcd cluster on free 127.0.0.1 ports, temp data dirs; killed at the end."""
    from etcd_cluster import Cluster

    cluster = Cluster(3)
    try:
        yield cluster
    finally:
        cluster.stop_all()
