"""Server specifications shared by the cache clients: ``"host:port"``, ``(host, port)`` or
``(host, port, weight)``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Union

ServerSpec = Union[str, tuple[str, int], tuple[str, int, int]]


@dataclass(frozen=True)
class Server:
    """One server of a pool: its address, its ring weight and its node name ``"host:port"``."""

    host: str
    port: int
    weight: int = 1

    @property
    def name(self) -> str:
        """The node name on the ring: ``"host:port"`` (as pymemcache and pylibmc name servers; the
        placement profiles split it at the last colon)."""
        return f"{self.host}:{self.port}"


def parse_server(spec: ServerSpec, default_port: int) -> Server:
    """One server from ``"host:port"``, ``"host"`` (default port), ``(host, port)`` or
    ``(host, port, weight)``; raises ``ValueError``/``TypeError`` naming the bad spec."""
    if isinstance(spec, str):
        text = spec.strip()
        if text.startswith("["):  # [v6]:port or [v6]
            host, _, rest = text[1:].partition("]")
            port_text = rest[1:] if rest.startswith(":") else ""
        elif text.count(":") == 1:
            host, port_text = text.split(":")
        else:
            host, port_text = text, ""
        if not host:
            raise ValueError(f"server {spec!r}: empty host")
        try:
            port = int(port_text) if port_text else default_port
        except ValueError:
            raise ValueError(f"server {spec!r}: port {port_text!r} is not a number") from None
        server = Server(host, port)
    elif isinstance(spec, tuple) and len(spec) in (2, 3):
        host, port = spec[0], spec[1]
        weight = spec[2] if len(spec) == 3 else 1
        if not isinstance(host, str) or not host:
            raise TypeError(f"server {spec!r}: host must be a non-empty str")
        if isinstance(port, bool) or not isinstance(port, int):
            raise TypeError(f"server {spec!r}: port must be an int")
        if isinstance(weight, bool) or not isinstance(weight, int):
            raise TypeError(f"server {spec!r}: weight must be an int")
        server = Server(host, port, weight)
    else:
        raise TypeError(
            f"server {spec!r}: expected 'host:port', (host, port) or (host, port, weight)"
        )
    if not 0 < server.port < 65536:
        raise ValueError(f"server {spec!r}: port {server.port} out of range")
    if server.weight < 1:
        raise ValueError(f"server {spec!r}: weight must be >= 1")
    return server


def parse_servers(specs: Iterable[ServerSpec], default_port: int) -> list[Server]:
    """All servers of a pool, in order; duplicates (same ``host:port``) are an error."""
    if isinstance(specs, str) or (
        isinstance(specs, tuple) and len(specs) in (2, 3) and isinstance(specs[1], int)
    ):
        raise TypeError(f"servers must be a list of server specs, not a single spec: {specs!r}")
    servers = [parse_server(s, default_port) for s in specs]
    seen: set[str] = set()
    for s in servers:
        if s.name in seen:
            raise ValueError(f"server {s.name} listed twice")
        seen.add(s.name)
    return servers
