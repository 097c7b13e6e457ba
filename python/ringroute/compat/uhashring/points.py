"""uhashring rings whose points the Rust core cannot make: a custom ``hash_fn`` callable, or
``hash_fn="ketama"`` with ``replicas`` other than 4.

The points come from Python, as uhashring makes them (the callable, or 1 to 4 md5 words per vnode),
and are kept as uhashring keeps them: a dict ``position -> node name`` (a later point at a taken
position wins) and the sorted positions (in ketama mode every generated position, repeats included,
as uhashring's ``insort`` keeps them). A key's owner is found by ``bisect`` on the sorted positions,
wrapping to the first. ``ringroute.compat.uhashring.HashRing`` uses this class instead of the core
ring for those two settings only; it answers with the same methods.
"""

from __future__ import annotations

from bisect import bisect, insort
from collections import Counter
from collections.abc import Callable
from hashlib import md5
from typing import Any

__all__ = ["PointRing", "ketama_hash"]


def ketama_hash(key: Any, replica: int = 0) -> int:
    """uhashring's ketama position of ``key``: the little-endian 32-bit word ``replica`` (0 to 3) of
    the md5 of ``str(key)``."""
    digest = md5(str(key).encode("utf-8")).digest()
    return int.from_bytes(digest[replica * 4 : replica * 4 + 4], "little")


class PointRing:
    """The points of one uhashring ring, made in Python (see the module docs).

    ``hashi``: the position of a key (the custom callable, or ``ketama_hash``). ``replicas``: ``None``
    for uhashring's md5-mode rules (``vnodes * weight`` points ``hashi(f"{name}-{w}")`` per node,
    changed node by node), or the ketama replica count (``vnodes * len(nodes) * weight //
    total_weight`` vnodes per node, ``replicas`` words of each, the whole ring rebuilt on a change).
    """

    def __init__(self, hashi: Callable[[Any], int], replicas: int | None) -> None:
        self.hashi = hashi
        self.replicas = replicas
        self.points: dict[Any, str] = {}
        self.keys: list[Any] = []
        self.counts: Counter[str] = Counter()
        self._node_points: dict[str, list[Any]] = {}

    # -- building --------------------------------------------------------------------------------

    def _points_of(self, name: str, conf: dict[str, Any], count: int) -> list[Any]:
        if self.replicas is None:
            return [self.hashi(f"{name}-{w}") for w in range(count)]
        return [ketama_hash(f"{name}-{w}", i) for w in range(count) for i in range(self.replicas)]

    def update(
        self, nodes: dict[str, dict[str, Any]], changed: dict[str, dict[str, Any]], removed: str | None
    ) -> None:
        """Follow a change of membership: ``nodes`` is the new whole membership (text name -> conf),
        ``changed`` the nodes added or reconfigured, ``removed`` a node taken out. Raises before
        changing anything (``ZeroDivisionError`` in ketama mode when the total weight is 0, or what
        the callable raises)."""
        if self.replicas is not None:
            self._rebuild_ketama(nodes)
            return
        fresh = {name: self._points_of(name, c, max(c["vnodes"] * c["weight"], 0)) for name, c in changed.items()}
        gone = [removed] if removed is not None else []
        for name in [*gone, *fresh]:
            for p in self._node_points.pop(name, []):
                # Two nodes' points can share a position: drop it only if this node still owns it.
                if self.points.get(p) == name:
                    del self.points[p]
            self.counts.pop(name, None)
        for name, pts in fresh.items():
            for p in pts:
                self.points[p] = name
            self._node_points[name] = pts
            if pts:
                self.counts[name] = len(pts)
        self.keys = sorted(self.points)

    def _rebuild_ketama(self, nodes: dict[str, dict[str, Any]]) -> None:
        total = sum(c["weight"] for c in nodes.values())
        points: dict[Any, str] = {}
        keys: list[Any] = []
        counts: Counter[str] = Counter()
        for name, c in nodes.items():
            vnodes = (c["vnodes"] * len(nodes) * c["weight"]) // total  # ZeroDivisionError as uhashring
            for p in self._points_of(name, c, vnodes):
                points[p] = name
                insort(keys, p)
                counts[name] += 1
        self.points, self.keys, self.counts = points, keys, counts

    # -- lookups (the core ring's method names, for ringroute.compat.uhashring) ------------------

    def _rank(self, key: Any) -> int:
        p = bisect(self.keys, self.hashi(key))
        return 0 if p == len(self.keys) else p

    def get_node(self, key: Any) -> str | None:
        if not self.points:
            return None
        return self.points[self.keys[self._rank(key)]]

    def locate(self, key: Any) -> tuple[int, Any, str] | None:
        if not self.points:
            return None
        rank = self._rank(key)
        return rank, self.keys[rank], self.points[self.keys[rank]]

    def key_position(self, key: Any) -> Any:
        return self.hashi(key)

    def get_points(self) -> list[tuple[Any, str]]:
        return [(k, self.points[k]) for k in self.keys]

    def range(self, key: Any, size: int | None, unique: bool) -> list[str]:
        if not self.keys:
            return []
        start = self._rank(key)
        out: list[str] = []
        seen: set[str] = set()
        for k in self.keys[start:] + self.keys[:start]:
            name = self.points[k]
            if unique:
                if name in seen:
                    continue
                seen.add(name)
            out.append(name)
            if size is not None and len(out) == size:
                break
        return out

    @property
    def point_count(self) -> int:
        return len(self.points)

    def has_points(self, name: str) -> bool:
        """Whether ``name`` generated points (uhashring's md5 mode fails removing one that did not)."""
        return name in self.counts
