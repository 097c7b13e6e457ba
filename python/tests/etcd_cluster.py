"""A real etcd cluster for the membership tests, and a small independent client of it.

``Cluster(n)`` starts ``etcd`` processes on free 127.0.0.1 ports with data dirs in a temp folder
(the same flags as the Rust tests' cluster in etcd/tests/cluster); ``stop_all()`` (the fixture's
finalizer) kills them. A missing ``etcd`` binary is a test failure with install instructions; outside
CI, ``RINGROUTE_SKIP_ETCD=1`` skips the etcd tests explicitly, and in CI that opt-out is refused.

``Kv`` writes and reads etcd through its JSON gateway with urllib3 directly, not through
ringroute.membership, so the tests check the sync against an independent reading of etcd.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

import pytest
import urllib3

from cache_servers import free_port

INSTALL_HINT = (
    "the etcd membership tests need etcd (Debian: `apt-get install -y etcd-server etcd-client`; "
    "scripts/test-all installs it); in CI a missing etcd is a failure, not a skip"
)
SKIP_VAR = "RINGROUTE_SKIP_ETCD"


def require_etcd() -> str:
    """The path of ``etcd``; fails (or skips, on an explicit opt-out outside CI) without it."""
    ci = bool(os.environ.get("CI"))
    if os.environ.get(SKIP_VAR):
        if ci:
            pytest.fail(f"{SKIP_VAR} is set, but so is CI: in CI the etcd tests may not be skipped")
        pytest.skip(f"{SKIP_VAR} set: etcd tests SKIPPED (not run, not passed)")
    binary = shutil.which("etcd")
    if binary is None:
        pytest.fail(INSTALL_HINT)
    return binary


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def prefix_end(prefix: bytes) -> bytes:
    end = bytearray(prefix)
    while end and end[-1] == 0xFF:
        end.pop()
    end[-1] += 1
    return bytes(end)


class Kv:
    """etcd's v3 JSON API at some members (the first that answers)."""

    def __init__(self, endpoints: list[str], timeout: float = 3.0) -> None:
        self.endpoints = endpoints
        self.timeout = timeout
        self.http = urllib3.PoolManager(retries=False)

    def call(self, path: str, body: dict[str, Any], endpoints: list[str] | None = None) -> Any:
        last: Exception | None = None
        for e in endpoints or self.endpoints:
            try:
                r = self.http.request(
                    "POST", f"http://{e}{path}", body=json.dumps(body).encode(),
                    timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout),
                )
            except urllib3.exceptions.HTTPError as err:
                last = err
                continue
            answer = json.loads(r.data)
            if r.status != 200 or "error" in answer:
                last = RuntimeError(f"{e}{path}: {answer}")
                continue
            return answer
        raise RuntimeError(f"etcd at {endpoints or self.endpoints}: {last}")

    def put(self, key: str, value: str | bytes) -> int:
        return int(self.call("/v3/kv/put", {"key": b64(key), "value": b64(value)})["header"]["revision"])

    def delete(self, key: str) -> int:
        return int(self.call("/v3/kv/deleterange", {"key": b64(key)})["header"]["revision"])

    def txn(self, ops: list[tuple[str, str, str | None]]) -> int:
        """Puts (``("put", key, value)``) and deletes (``("delete", key, None)``) at one revision."""
        success = []
        for op, key, value in ops:
            if op == "put":
                assert value is not None
                success.append({"request_put": {"key": b64(key), "value": b64(value)}})
            else:
                success.append({"request_delete_range": {"key": b64(key)}})
        return int(self.call("/v3/kv/txn", {"success": success})["header"]["revision"])

    def range(self, prefix: str, revision: int = 0) -> tuple[int, dict[str, bytes]]:
        """Every key under ``prefix`` and its value at ``revision`` (0: the latest); the revision."""
        p = prefix.encode()
        body: dict[str, Any] = {"key": b64(p), "range_end": b64(prefix_end(p))}
        if revision:
            body["revision"] = str(revision)
        answer = self.call("/v3/kv/range", body)
        kvs = {
            base64.b64decode(kv["key"]).decode(): base64.b64decode(kv.get("value", ""))
            for kv in answer.get("kvs", [])
        }
        return revision or int(answer["header"]["revision"]), kvs

    def compact(self, revision: int) -> None:
        self.call("/v3/kv/compaction", {"revision": str(revision), "physical": True})


def expected_ring(kvs: dict[str, bytes], prefix: str) -> Any:
    """The ring the records under ``prefix`` describe, built here from the node records that decode
    and the health keys (what every router must hold at that revision)."""
    from ringroute import HashRing

    root = prefix.rstrip("/") + "/"
    nodes, down = [], []
    for key, value in sorted(kvs.items()):
        rest = key[len(root):]
        if rest.startswith("nodes/"):
            try:
                entry = {**json.loads(value), "name": rest[len("nodes/"):]}
                HashRing.from_dict({"nodes": [entry]})
            except (ValueError, TypeError):
                continue  # not a record: absent
            nodes.append(entry)
        elif rest.startswith("health/") and value in (b"down", b'"down"'):
            down.append(rest[len("health/"):])
    ring = HashRing.from_dict({"nodes": nodes})
    present = [n for n in down if n in ring]
    if present:
        with ring.transaction() as tx:
            for n in present:
                tx.mark_down(n)
    return ring


class Member:
    def __init__(self, name: str, workdir: str) -> None:
        self.name = name
        self.client_port = free_port()
        self.peer_port = free_port()
        self.dir = os.path.join(workdir, name)
        self.log = os.path.join(workdir, f"{name}.log")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"


class Cluster:
    """``n`` etcd members on free 127.0.0.1 ports, data dirs in a temp folder."""

    def __init__(self, n: int = 3) -> None:
        self.binary = require_etcd()
        # In memory where the machine has it: etcd syncs its log to disk at every write, which made
        # a test of 1000 changes take a minute on a disk and 10 s in memory.
        shm = "/dev/shm"
        in_memory = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None
        self.workdir = tempfile.mkdtemp(prefix="ringroute-etcd-", dir=in_memory)
        # A cluster not healthy within 30 s (a port taken between its probe and etcd's bind, a
        # member starved on a loaded machine) is stopped and started afresh on new ports, up to
        # three times; the last failure is raised.
        for attempt in range(1, 4):
            attempt_dir = os.path.join(self.workdir, f"attempt{attempt}")
            os.makedirs(attempt_dir)
            self.members = [Member(f"m{i}", attempt_dir) for i in range(n)]
            self.initial = ",".join(f"{m.name}=http://127.0.0.1:{m.peer_port}" for m in self.members)
            self.kv = Kv(self.endpoints)
            try:
                for i in range(n):
                    self.start(i)
                self.wait_healthy(30)
                return
            except AssertionError as e:
                self.stop_all(remove=False)
                if attempt == 3:
                    shutil.rmtree(self.workdir, ignore_errors=True)
                    raise
                print(f"etcd cluster, attempt {attempt}: {e}; starting afresh", file=sys.stderr)
            except BaseException:
                self.stop_all()
                raise

    @property
    def endpoints(self) -> list[str]:
        return [m.endpoint for m in self.members]

    def start(self, i: int) -> None:
        """Starts member ``i`` (again, on its data dir: etcd then ignores the initial flags)."""
        m = self.members[i]
        assert m.proc is None, f"member {i} is running"
        client, peer = f"http://{m.endpoint}", f"http://127.0.0.1:{m.peer_port}"
        argv = [
            self.binary, "--name", m.name, "--data-dir", m.dir,
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", self.initial, "--initial-cluster-state", "new",
            "--initial-cluster-token", "ringroute-test",
            "--heartbeat-interval", "50", "--election-timeout", "500",
            "--logger", "zap", "--log-outputs", "stderr",
        ]  # fmt: skip
        with open(m.log, "ab") as log:
            m.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)

    def kill(self, i: int) -> None:
        """SIGKILLs member ``i`` and reaps it."""
        m = self.members[i]
        if m.proc is not None:
            m.proc.kill()
            m.proc.wait(10)
            m.proc = None

    def healthy(self, i: int) -> bool:
        """Whether member ``i`` answers and has a leader."""
        try:
            r = urllib3.request("GET", f"http://{self.members[i].endpoint}/health", timeout=1.0, retries=False)
            return r.status == 200 and json.loads(r.data).get("health") == "true"
        except (urllib3.exceptions.HTTPError, ValueError):
            return False

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        running = [i for i, m in enumerate(self.members) if m.proc is not None]
        while not all(self.healthy(i) for i in running):
            for i in running:
                proc = self.members[i].proc
                assert proc is not None and proc.poll() is None, (
                    f"etcd member {i} exited: see {self.members[i].log}"
                )
            assert time.monotonic() < deadline, f"etcd not healthy after {timeout} s"
            time.sleep(0.1)

    def leader(self) -> int:
        """The index of the current leader."""
        for i, m in enumerate(self.members):
            if m.proc is None:
                continue
            try:
                s = self.kv.call("/v3/maintenance/status", {}, [m.endpoint])
            except RuntimeError:
                continue
            if s["header"]["member_id"] == s.get("leader"):
                return i
        raise AssertionError("no leader")

    def stop_all(self, remove: bool = True) -> None:
        """Kills every member; with ``remove``, deletes the data dirs and logs too."""
        for i in range(len(self.members)):
            self.kill(i)
        if remove:
            shutil.rmtree(self.workdir, ignore_errors=True)
