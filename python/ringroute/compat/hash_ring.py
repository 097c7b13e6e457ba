"""amix's hash_ring 1.3.1 ``HashRing`` API over ringroute, with hash_ring's exact answers.

>>> from ringroute.compat.hash_ring import HashRing
>>> ring = HashRing(["192.168.0.246:11212", "192.168.0.247:11212"], {"192.168.0.247:11212": 2})
>>> ring.get_node("my_key") in ring.nodes
True

Placement is the core profile ``hash_ring`` (libketama-style: ``floor(40·N·w / W)`` md5 digests per
node, 3 points per digest; a key goes to the first point after its hash). This module keeps the node
list and weights; every position, owner and walk comes from the Rust core.

Keys: a ``str`` key is hashed as its UTF-8 bytes (what the golden vectors record, made with the
original under Python 3), a ``bytes`` key as itself (what the original, written for Python 2's byte
strings, hashed). Anything else is a ``TypeError``, as in the original.

Reproduced quirks: ``iterate_nodes`` ignores ``distinct`` (the original's filter always drops repeats)
and, on an empty ring, yields one ``(None, None)``; ``get_node`` / ``get_node_pos`` give ``None`` on an
empty ring.

A total weight of 0 raises ``ZeroDivisionError``, as the original.

Nodes may be any objects, as in the original: a node is placed by ``str(node)`` and every answer
(``get_node``, ``iterate_nodes``, ``ring``) hands back the caller's object; ``weights`` is keyed by
the node objects.

``MemcacheRing`` (the original's python-memcache wrapper, ``from ringroute.compat.hash_ring import
MemcacheRing``) is ``memcache.Client`` of python-memcached with each key sent to the first server of
its ring walk that connects; it needs ``pip install python-memcached`` and is imported only when
asked for.

Differences: two nodes whose ``str`` is equal (or a repeated node) raise ``ValueError``, as does a node
whose ``str`` is empty; weights must be ``int`` >= 0. A 32-bit position shared by two points
appears twice in the original's sorted key list and once in ringroute's, so past such a position
``get_node_pos`` is smaller by one (owners are the same; about one ring in 6000 of 10 nodes has one).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ringroute._ringroute import HashRing as _CoreRing

__all__ = ["HashRing", "MemcacheRing"]

if TYPE_CHECKING:
    from ringroute.compat.memcache_ring import MemcacheRing


def __getattr__(name: str) -> Any:
    # MemcacheRing needs python-memcached: imported only when asked for.
    if name == "MemcacheRing":
        from ringroute.compat.memcache_ring import MemcacheRing

        return MemcacheRing
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _key(key: Any) -> str | bytes:
    if isinstance(key, (str, bytes)):
        return key
    raise TypeError(f"key must be str or bytes, not {type(key).__name__}")


class HashRing:
    """A consistent hash ring with hash_ring 1.3.1's API and answers (see the module docs)."""

    def __init__(self, nodes: Iterable[Any], weights: Mapping[Any, int] | None = None) -> None:
        """A ring of ``nodes`` (any objects, placed by their ``str``, in order) with optional
        ``weights`` (node -> int, default 1).

        ``nodes=None`` raises ``TypeError`` as in the original, which iterates it.
        """
        self.nodes = nodes
        if not weights:
            weights = {}
        self.weights = weights
        ring = _CoreRing(placement="hash_ring")
        objects: dict[str, Any] = {}
        names = list(nodes)
        with ring.transaction() as tx:
            for node in names:
                text = str(node)
                if text in objects:
                    raise ValueError(f"node {node!r} is listed twice (or shares its str with another)")
                weight = weights.get(node, 1)
                if not isinstance(weight, int):
                    raise TypeError(f"weight of {node!r} must be an int, not {type(weight).__name__}")
                if weight < 0:
                    raise ValueError(f"weight of {node!r} must be >= 0, got {weight}")
                tx.add_node(text, weight)
                objects[text] = node
            if names and not any(weights.get(n, 1) for n in names):
                # The original divides by the total weight.
                raise ZeroDivisionError("division by zero")
        self._ring = ring
        self._objects = objects

    def get_node(self, string_key: str | bytes) -> Any:
        """The node owning ``string_key``, or ``None`` if the ring is empty."""
        name = self._ring.get_node(_key(string_key))
        return None if name is None else self._objects[name]

    def get_node_pos(self, string_key: str | bytes) -> int | None:
        """The index of the point owning ``string_key`` in the sorted point list (``None`` on an
        empty ring)."""
        hit = self._ring.locate(_key(string_key))
        return None if hit is None else hit[0]

    def iterate_nodes(self, string_key: str | bytes, distinct: bool = True) -> Iterator[Any]:
        """A generator of the nodes clockwise from ``string_key``'s owner, each once (``distinct``
        is accepted and ignored, as in the original); one ``(None, None)`` on an empty ring."""
        key = _key(string_key)
        if not self._ring.point_count:
            yield None, None
            return
        objects = self._objects
        for name in self._ring.range(key, None, True):
            yield objects[name]

    def gen_key(self, key: str | bytes) -> int:
        """The position of ``key`` on the ring: md5 bytes 0-3 as a little-endian int."""
        return self._ring.key_position(_key(key))

    @property
    def ring(self) -> dict[int, Any]:
        """The ring as a dict ``{position: node}`` (the original's ``ring`` attribute)."""
        return {p: self._objects[n] for p, n in self._ring.get_points()}

    @property
    def _sorted_keys(self) -> list[int]:
        """The sorted point positions (each distinct position once)."""
        return [p for p, _ in self._ring.get_points()]

    def __repr__(self) -> str:
        return f"<ringroute.compat.hash_ring.HashRing nodes={len(self._ring)} points={self._ring.point_count}>"
