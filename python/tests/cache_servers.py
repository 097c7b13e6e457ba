"""Real memcached and redis-server instances for the cache-client tests.

Every server listens on a loopback address only (127.0.0.1 unless a test asks for 127.0.0.x), on a
free port, without persistence; the fixtures in conftest.py stop every server they started, whatever the test did. A missing binary is a test
failure with install instructions (scripts/test-all installs both), never a skip.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Literal

Kind = Literal["memcached", "redis"]

INSTALL_HINT = (
    "the cache-client tests need memcached and redis-server: run scripts/test-all, or "
    "`apt-get install -y memcached redis-server`"
)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _accepts(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class CacheServer:
    """One memcached or redis-server process on host:port, host a loopback address (127.0.0.1 unless
    a test needs servers on distinct addresses), restartable on the same port."""

    def __init__(
        self, kind: Kind, port: int, workdir: str, extra: list[str] | None = None, host: str = "127.0.0.1"
    ) -> None:
        assert host.startswith("127."), "test servers listen on loopback addresses only"
        self.kind = kind
        self.host = host
        self.port = port
        self.workdir = workdir
        self.extra = extra or []
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return f"{self.host}:{self.port}"

    def _argv(self) -> list[str]:
        if self.kind == "memcached":
            binary = shutil.which("memcached")
            assert binary, INSTALL_HINT
            argv = [binary, "-l", self.host, "-p", str(self.port), "-U", "0", "-m", "32", "-t", "1"]
            if os.geteuid() == 0:
                argv += ["-u", "root"]
        else:
            binary = shutil.which("redis-server")
            assert binary, INSTALL_HINT
            argv = [
                binary,
                "--bind", self.host,
                "--port", str(self.port),
                "--save", "",
                "--appendonly", "no",
                "--dir", self.workdir,
                "--daemonize", "no",
                "--loglevel", "warning",
                "--protected-mode", "yes",
            ]
        return argv + self.extra

    def start(self, timeout: float = 5.0) -> bool:
        """Start and wait until it accepts connections; False if it could not (port taken)."""
        assert self.proc is None, "already running"
        self.proc = subprocess.Popen(
            self._argv(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.workdir
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                return False
            if _accepts(self.port, self.host):
                # Make sure the listener is ours: a server that could not bind exits at once.
                time.sleep(0.05)
                if self.proc.poll() is None:
                    return True
                self.proc = None
                return False
            time.sleep(0.02)
        self.stop()
        return False

    def stop(self) -> None:
        """Kill the server (SIGKILL: a crash, not a shutdown) and reap it."""
        if self.proc is None:
            return
        self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL is not ignorable
            pass
        self.proc = None

    def pause(self) -> None:
        """SIGSTOP: the server keeps its connections but answers nothing (clients time out).
        Returns once every thread of the server is stopped (the signal is delivered
        asynchronously: a request sent at once could otherwise still be answered)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)
        deadline = time.monotonic() + 5
        while not self._stopped():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.kind} on port {self.port} did not stop")
            time.sleep(0.001)

    def _stopped(self) -> bool:
        """Whether every thread of the server is in the stopped state (/proc/PID/task/*/stat)."""
        assert self.proc is not None
        tasks = Path(f"/proc/{self.proc.pid}/task")
        for task in tasks.iterdir():
            try:
                stat = (task / "stat").read_text()
            except FileNotFoundError:
                continue  # a thread that just ended
            # The state follows the command name, which is in parentheses.
            if stat[stat.rindex(")") + 2] not in "Tt":
                return False
        return True

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        """Start again on the same port (empty: nothing is persisted)."""
        for _ in range(50):
            if self.start():
                return
            time.sleep(0.1)
        raise RuntimeError(f"could not restart {self.kind} on {self.host}:{self.port}")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class ServerFarm:
    """Starts servers of one kind; ``stop_all()`` (the fixture finalizer) stops every one."""

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self.servers: list[CacheServer] = []
        self.workdir = tempfile.mkdtemp(prefix=f"ringroute-{kind}-")

    def start(
        self, n: int = 1, extra: list[str] | None = None, hosts: list[str] | None = None
    ) -> list[CacheServer]:
        """Start ``n`` servers, on 127.0.0.1 or on ``hosts`` (one loopback address each)."""
        started = []
        for i in range(n):
            host = hosts[i] if hosts else "127.0.0.1"
            for _attempt in range(10):
                server = CacheServer(self.kind, free_port(host), self.workdir, extra, host)
                self.servers.append(server)
                if server.start():
                    started.append(server)
                    break
            else:
                raise RuntimeError(f"could not start {self.kind} on a free {host} port")
        return started

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
