"""python-continuum 0.1.1's ``Continuum`` API over ringroute, with its exact answers and errors.

>>> from ringroute.compat.continuum import Continuum
>>> c = Continuum()
>>> c.add_server('192.168.0.1', 8080)
<Server "192.168.0.1:8080", capacity=1>
>>> c.resolve('my-key1')
<Server "192.168.0.1:8080", capacity=1>

Placement is the core profile ``continuum``: the whole ring has ``totaldots`` points shared by
capacity (server ``s`` gets ``int(totaldots * (capacity_s / float(total)))`` of them, 4 per md5 digest
of ``"host-port-x"``, the remainder at the literal positions 0, 1, 2), and a key goes to the first point
after its md5 word. This module keeps the ``Server`` objects; every placement and lookup is the core's.

Quirks of the original, reproduced exactly (do not use this scheme for large clusters):

- The ring degrades past a few hundred servers: with 1000 servers of equal capacity each gets one
  point, at the literal position 0, so every key resolves to the first server; from 1001 servers on
  every server gets 0 points, the continuum is empty and ``resolve`` raises
  ``IndexError('empty continuum')`` although servers are registered.
- The remainder points at positions 0, 1, 2 pile up at the start of the ring, all owned by the first
  servers.
- ``int(totaldots * (c / float(total)))`` rounds twice, so for some ``totaldots`` a server gets one
  point fewer than the exact share (22 dots of 15/22 capacity give 14).

Errors as the original: ``resolve`` on an empty continuum is ``IndexError('empty continuum')``; adding
a server whose ``(hostname, port)`` is present is ``TypeError('server already added')``; removing an
absent server is ``ValueError('list.remove(x): x not in list')``; all capacities 0 is
``ZeroDivisionError``, and as in the original the change that caused it stays in ``servers`` while the
ring stays as it was (the original builds its new list of points before it replaces the old one).

Capacities may be ``int`` or ``float``, as in the original. With every capacity an ``int`` the ring is
the Rust core's ``continuum`` profile; with a ``float`` among them the points are made in Python with
the original's arithmetic (a float share of a float total) and searched with ``bisect``, so the
answers stay the original's exactly.

Keys: a ``str`` key is hashed as its UTF-8 bytes, a ``bytes`` key as itself (the original was written
for Python 2's byte strings). Differences: ``hostname`` must be a ``str`` without ``[``/``]`` around it,
``port`` an ``int`` in 0..65535, ``capacity`` a finite ``int`` or ``float`` >= 0, ``totaldots`` an int
>= 1; the original's ``continuum`` list of entries is not exposed (``points()`` gives
``(position, Server)`` pairs).
"""

from __future__ import annotations

import math
import struct
from bisect import bisect_right
from functools import total_ordering
from hashlib import md5
from typing import Any, Union

from ringroute._ringroute import HashRing as _CoreRing

__all__ = ["Continuum", "Server", "DEFAULT_TOTAL_DOTS"]

#: The default number of points of the whole ring.
DEFAULT_TOTAL_DOTS = 1000


@total_ordering
class Server:
    """A server of the continuum: ``hostname``, ``port``, ``capacity``. Servers compare (and hash)
    by ``(hostname, port)``, as in the original."""

    __slots__ = ("hostname", "port", "capacity")

    def __init__(self, hostname: str, port: int, capacity: float) -> None:
        self.hostname = hostname
        self.port = port
        self.capacity = capacity

    def _ident(self) -> tuple[str, int]:
        return (self.hostname, self.port)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Server):
            return NotImplemented
        return self._ident() == other._ident()

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Server):
            return NotImplemented
        return self._ident() < other._ident()

    def __hash__(self) -> int:
        return hash(self._ident())

    def __repr__(self) -> str:
        return '<%s "%s:%d", capacity=%d>' % (
            type(self).__name__,
            self.hostname,
            self.port,
            self.capacity,
        )

    @property
    def _name(self) -> str:
        """The node name on the core ring."""
        return f"{self.hostname}:{self.port}"


def _check_server(hostname: Any, port: Any, capacity: Any) -> None:
    if not isinstance(hostname, str):
        raise TypeError(f"hostname must be str, not {type(hostname).__name__}")
    if hostname.startswith("[") and hostname.endswith("]"):
        raise ValueError("a bracketed hostname is not supported (give the address without brackets)")
    if not isinstance(port, int) or isinstance(port, bool):
        raise TypeError(f"port must be an int, not {type(port).__name__}")
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be between 0 and 65535, got {port}")
    if isinstance(capacity, bool) or not isinstance(capacity, (int, float)):
        raise TypeError(f"capacity must be an int or a float, not {type(capacity).__name__}")
    if not (capacity >= 0 and math.isfinite(capacity)):
        raise ValueError(f"capacity must be a finite number >= 0, got {capacity}")


def _key(key: Any) -> str | bytes:
    if isinstance(key, (str, bytes)):
        return key
    raise TypeError(f"key must be str or bytes, not {type(key).__name__}")


def _words(data: bytes) -> tuple[int, int, int, int]:
    """The 4 little-endian 32-bit words of ``data``'s md5, as the original's ``_hash``."""
    words: tuple[int, int, int, int] = struct.unpack("<IIII", md5(data).digest())
    return words


class _FloatRing:
    """The original's points for capacities that are not all ints, made in Python with its
    arithmetic: sorted (position, server name) entries, equal positions in server order."""

    def __init__(self, servers: list[Server], totaldots: int) -> None:
        total = float(sum(s.capacity for s in servers))
        entries: list[tuple[int, str]] = []
        for s in servers:
            dots = int(totaldots * (s.capacity / total))
            d, m = divmod(dots, 4)
            for x in range(d):
                entries.extend((p, s._name) for p in _words(b"%s-%d-%d" % (s.hostname.encode(), s.port, x)))
            entries.extend((p, s._name) for p in range(m))
        entries.sort(key=lambda e: e[0])  # stable: equal positions keep the servers' order
        self.positions = [p for p, _ in entries]
        self.names = [n for _, n in entries]

    def get_node(self, key: str | bytes) -> str | None:
        if not self.positions:
            return None
        at = bisect_right(self.positions, _words(key.encode() if isinstance(key, str) else key)[0])
        return self.names[at if at < len(self.names) else 0]

    def get_points(self) -> list[tuple[int, str]]:
        return list(zip(self.positions, self.names))

    @property
    def point_count(self) -> int:
        return len(self.positions)


class Continuum:
    """The continuum that resolves a key to a server (python-continuum's API; see the module docs).

    ``Continuum(totaldots=1000, autogenerate=True)``: with ``autogenerate=False`` the ring is rebuilt
    only when ``generate()`` is called, as in the original.
    """

    def __init__(self, totaldots: int = DEFAULT_TOTAL_DOTS, autogenerate: bool = True) -> None:
        if not isinstance(totaldots, int) or isinstance(totaldots, bool):
            raise TypeError(f"totaldots must be an int, not {type(totaldots).__name__}")
        if not 1 <= totaldots < 2**32:
            raise ValueError(f"totaldots must be between 1 and 2**32 - 1, got {totaldots}")
        self.servers: list[Server] = []
        self.totaldots = totaldots
        self.autogenerate = autogenerate
        # The ring and its servers by node name, swapped together (one attribute) so a lookup on
        # another thread never pairs a ring with the wrong servers.
        self._state: tuple[Union[_CoreRing, _FloatRing], dict[str, Server]] = (
            _CoreRing(totaldots, placement="continuum"),
            {},
        )

    def add_server(self, hostname: str, port: int, capacity: float = 1) -> Server:
        """Add a server of the given capacity and return it; ``TypeError('server already added')``
        if a server of the same hostname and port is present."""
        _check_server(hostname, port, capacity)
        server = Server(hostname, port, capacity)
        if server in self.servers:
            raise TypeError("server already added")
        self.servers.append(server)
        if self.autogenerate:
            self.generate()  # on ZeroDivisionError the server stays listed, as in the original
        return server

    def add_multi_servers(self, server_list: Any) -> list[Server]:
        """Add several servers, each a ``(hostname, port[, capacity])`` tuple, in order; returns
        them. Stops at the first that fails (the ones before it stay added), as the original."""
        return [self.add_server(*s) for s in server_list]

    def remove_server(self, server: Server) -> None:
        """Remove a server (any ``Server`` equal to it); ``ValueError`` if it is not present."""
        i = self.servers.index(server) if server in self.servers else -1
        if i < 0:
            raise ValueError("list.remove(x): x not in list")
        self.servers.pop(i)
        if self.autogenerate:
            self.generate()

    def generate(self) -> None:
        """Rebuild the ring from ``servers`` (called by every change when ``autogenerate``)."""
        servers = list(self.servers)
        if servers and sum(s.capacity for s in servers) == 0:
            raise ZeroDivisionError("float division by zero")
        by_name: dict[str, Server] = {}
        for s in servers:
            _check_server(s.hostname, s.port, s.capacity)
            if s._name in by_name:
                raise TypeError("server already added")
            by_name[s._name] = s
        capacities = [s.capacity for s in servers]
        ring: Union[_CoreRing, _FloatRing]
        if all(isinstance(c, int) for c in capacities):
            core = _CoreRing(self.totaldots, placement="continuum")
            if servers:
                with core.transaction() as tx:
                    for s in servers:
                        tx.add_node(s._name, int(s.capacity))
            ring = core
        else:
            ring = _FloatRing(servers, self.totaldots)
        self._state = (ring, by_name)

    def resolve(self, key: str | bytes) -> Server:
        """The server for ``key``; ``IndexError('empty continuum')`` if the ring has no points."""
        ring, by_name = self._state
        name = ring.get_node(_key(key))
        if name is None:
            raise IndexError("empty continuum")
        return by_name[name]

    def points(self) -> list[tuple[int, Server]]:
        """The ring's entries in order, as ``(position, server)`` (an addition)."""
        ring, by_name = self._state
        return [(p, by_name[n]) for p, n in ring.get_points()]

    def __len__(self) -> int:
        """Number of servers."""
        return len(self.servers)

    def __repr__(self) -> str:
        return f"<ringroute.compat.continuum.Continuum servers={len(self.servers)} points={self._state[0].point_count}>"
