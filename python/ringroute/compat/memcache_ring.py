"""hash_ring 1.3.1's ``MemcacheRing``: python-memcached's ``memcache.Client`` with its keys placed by
``ringroute.compat.hash_ring.HashRing``.

>>> from ringroute.compat.hash_ring import MemcacheRing   # doctest: +SKIP
>>> mc = MemcacheRing(["127.0.0.1:11211", "127.0.0.1:11212"])   # doctest: +SKIP
>>> mc.set("hello", "world"); mc.get("hello")   # doctest: +SKIP

A key goes to the first server of its ring walk (``HashRing.iterate_nodes``) that connects, so the
keys of a server that is down go to the next server clockwise and come back when it returns; if
none connects after python-memcached's ``_SERVER_RETRIES`` walks, the command fails as
python-memcached's do (``set`` returns 0, ``get`` ``None``). Keys given as python-memcached's
``(server_hash, key)`` tuples keep python-memcached's own choice of server, as in the original.

Servers are ``"host:port"`` strings (the ring's node names) or ``("host:port", weight)`` tuples
(the weight is the ring weight). Every other argument is python-memcached's; its socket timeout
(3 s by default, ``socket_timeout=``) bounds a server that never answers. Needs
``pip install python-memcached``; the original ran on Python 2 only, this one runs on Python 3.
"""

from __future__ import annotations

from typing import Any

# python-memcached ships no type information: its names are Any (ignore_missing_imports for memcache
# in the [tool.mypy] section of python/pyproject.toml).
import memcache

from ringroute.compat.hash_ring import HashRing

__all__ = ["MemcacheRing"]


def _uri(spec: Any) -> str:
    uri = spec[0] if isinstance(spec, tuple) else spec
    if not isinstance(uri, str):
        raise TypeError(f"servers are 'host:port' or ('host:port', weight), not {spec!r}")
    return uri


# memcache.Client is Any to mypy (see the imports), and --strict refuses subclassing Any.
class MemcacheRing(memcache.Client):  # type: ignore[misc]
    """python-memcached's ``Client`` with consistent hashing (hash_ring's placement)."""

    def __init__(self, servers: list[Any], *args: Any, **kwargs: Any) -> None:
        uris = [_uri(s) for s in servers]
        weights = {_uri(s): s[1] for s in servers if isinstance(s, tuple)}
        self.hash_ring = HashRing(uris, weights)
        super().__init__(servers, *args, **kwargs)
        self.server_mapping: dict[str, Any] = dict(zip(uris, self.servers))

    def _get_server(self, key: Any) -> tuple[Any, Any]:
        if isinstance(key, tuple):
            return super()._get_server(key)  # type: ignore[no-any-return]
        if not self.server_mapping:
            return None, None
        for _ in range(self._SERVER_RETRIES):
            for uri in self.hash_ring.iterate_nodes(key):
                server = self.server_mapping[uri]
                if server.connect():
                    return server, key
        return None, None
