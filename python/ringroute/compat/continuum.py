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
``ZeroDivisionError`` (the change that caused it is undone, where the original keeps the server
listed).

Keys: a ``str`` key is hashed as its UTF-8 bytes, a ``bytes`` key as itself (the original was written
for Python 2's byte strings). Differences: ``hostname`` must be a ``str`` without ``[``/``]`` around it,
``port`` an ``int`` in 0..65535, ``capacity`` and ``totaldots`` ints >= 0 and >= 1 (the original's
floats are refused with ``TypeError``); the original's ``continuum`` list of entries is not exposed
(``points()`` gives ``(position, Server)`` pairs).
"""

from __future__ import annotations

from functools import total_ordering
from typing import Any

from ringroute._ringroute import HashRing as _CoreRing

__all__ = ["Continuum", "Server", "DEFAULT_TOTAL_DOTS"]

#: The default number of points of the whole ring.
DEFAULT_TOTAL_DOTS = 1000


@total_ordering
class Server:
    """A server of the continuum: ``hostname``, ``port``, ``capacity``. Servers compare (and hash)
    by ``(hostname, port)``, as in the original."""

    __slots__ = ("hostname", "port", "capacity")

    def __init__(self, hostname: str, port: int, capacity: int) -> None:
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
    if not isinstance(capacity, int):
        raise TypeError(f"capacity must be an int, not {type(capacity).__name__}")
    if capacity < 0:
        raise ValueError(f"capacity must be >= 0, got {capacity}")


def _key(key: Any) -> str | bytes:
    if isinstance(key, (str, bytes)):
        return key
    raise TypeError(f"key must be str or bytes, not {type(key).__name__}")


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
        # The core ring and its servers by node name, swapped together (one attribute) so a lookup
        # on another thread never pairs a ring with the wrong servers.
        self._state: tuple[_CoreRing, dict[str, Server]] = (
            _CoreRing(totaldots, placement="continuum"),
            {},
        )

    def add_server(self, hostname: str, port: int, capacity: int = 1) -> Server:
        """Add a server of the given capacity and return it; ``TypeError('server already added')``
        if a server of the same hostname and port is present."""
        _check_server(hostname, port, capacity)
        server = Server(hostname, port, capacity)
        if server in self.servers:
            raise TypeError("server already added")
        self.servers.append(server)
        if self.autogenerate:
            self._generate_or_undo(lambda: self.servers.pop())
        return server

    def remove_server(self, server: Server) -> None:
        """Remove a server (any ``Server`` equal to it); ``ValueError`` if it is not present."""
        i = self.servers.index(server) if server in self.servers else -1
        if i < 0:
            raise ValueError("list.remove(x): x not in list")
        removed = self.servers.pop(i)
        if self.autogenerate:
            self._generate_or_undo(lambda: self.servers.insert(i, removed))

    def _generate_or_undo(self, undo: Any) -> None:
        try:
            self.generate()
        except BaseException:
            undo()
            raise

    def generate(self) -> None:
        """Rebuild the ring from ``servers`` (called by every change when ``autogenerate``)."""
        servers = list(self.servers)
        if servers and sum(s.capacity for s in servers) == 0:
            raise ZeroDivisionError("float division by zero")
        ring = _CoreRing(self.totaldots, placement="continuum")
        by_name: dict[str, Server] = {}
        with ring.transaction() as tx:
            for s in servers:
                _check_server(s.hostname, s.port, s.capacity)
                name = s._name
                if name in by_name:
                    raise TypeError("server already added")
                by_name[name] = s
                tx.add_node(name, s.capacity)
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
