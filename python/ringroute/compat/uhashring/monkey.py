"""uhashring's python-memcached patch over ``ringroute.compat.uhashring.HashRing``.

>>> from ringroute.compat.uhashring import monkey   # doctest: +SKIP
>>> monkey.patch_memcache()   # doctest: +SKIP
>>> import memcache   # doctest: +SKIP
>>> mc = memcache.Client(["10.0.0.1:11211", "10.0.0.2:11211"])   # keys placed by the ring

After ``patch_memcache()`` every ``memcache.Client`` made builds a ring of its servers, as uhashring's
patch does: one node per server, named by its IP address (``server.ip``), with the server's weight,
port and the server object as ``instance``; a key goes to the first server of its ring walk that
connects (python-memcached's ``_SERVER_RETRIES`` walks), else the command fails as
python-memcached's do. Keys given as ``(server_hash, key)`` tuples keep python-memcached's own choice.
As in uhashring, servers that share an IP address (two ports of one host) are one node: the last
one listed takes their keys; and python-memcached hands the ring each key as ``bytes``, which
uhashring hashes as ``str(key)`` (the text ``"b'key'"``), so keys are placed as uhashring's patch
places them on Python 3. Needs ``pip install python-memcached``.
"""

from __future__ import annotations

import importlib
from typing import Any

from ringroute.compat.uhashring import HashRing

__all__ = ["patch_memcache"]


def patch_memcache() -> None:
    """Make python-memcached's ``memcache.Client`` place keys with ``HashRing`` (see the module
    docs). Patching twice patches once."""
    memcache = importlib.import_module("memcache")
    client = memcache.Client
    if getattr(client, "_ringroute_patched", False):
        return
    original_init = client.__init__
    original_get_server = client._get_server

    def __init__(self: Any, servers: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, servers, *args, **kwargs)
        nodes = {
            server.ip: {
                "hostname": server.ip,
                "instance": server,
                "port": server.port,
                "weight": server.weight,
            }
            for server in self.servers
        }
        self.uhashring = HashRing(nodes)

    def _get_server(self: Any, key: Any) -> tuple[Any, Any]:
        if isinstance(key, tuple):
            return original_get_server(self, key)  # type: ignore[no-any-return]
        for _ in range(self._SERVER_RETRIES):
            for node in self.uhashring.range(key):
                if node["instance"].connect():
                    return node["instance"], key
        return None, None

    client._old_init = original_init
    client._old_get_server = original_get_server
    client.__init__ = __init__
    client._get_server = _get_server
    client._ringroute_patched = True
