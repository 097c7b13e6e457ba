"""The drop-ins' python-memcached wrappers against real memcached servers (loopback only):
``ringroute.compat.hash_ring.MemcacheRing`` and ``ringroute.compat.uhashring.monkey.patch_memcache``."""

from __future__ import annotations

from collections.abc import Iterator

import memcache  # python-memcached (scripts/test-all installs it)
import pytest
from pymemcache.client.base import Client as Direct

from ringroute.compat.hash_ring import HashRing as HashRingRing
from ringroute.compat.hash_ring import MemcacheRing
from ringroute.compat.uhashring import HashRing as UHashRing


def holds(server, key: str) -> bool:  # type: ignore[no-untyped-def]
    """Whether one server holds ``key`` (asked directly, not through a ring)."""
    c = Direct((server.host, server.port), connect_timeout=1, timeout=2)
    try:
        return c.get(key) is not None
    finally:
        c.close()


def test_hash_ring_memcache_ring_places_keys_by_the_ring(memcached_farm) -> None:  # type: ignore[no-untyped-def]
    servers = memcached_farm.start(3)
    uris = [s.name for s in servers]
    mc = MemcacheRing(uris, socket_timeout=2)
    try:
        ring = HashRingRing(uris)
        keys = [f"user:{i}" for i in range(300)]
        for k in keys:
            assert mc.set(k, f"v-{k}")
        by_name = {s.name: s for s in servers}
        for k in keys:
            assert mc.get(k) == f"v-{k}"
            owner = ring.get_node(k)
            assert holds(by_name[owner], k), k
            assert sum(holds(s, k) for s in servers) == 1
        assert mc.get_multi(keys[:20]) == {k: f"v-{k}" for k in keys[:20]}
        assert mc.delete(keys[0]) and mc.get(keys[0]) is None
        # A server that is down: its keys go to the next server of their ring walk.
        victim = servers[0]
        victim.stop()
        theirs = [k for k in keys[1:] if ring.get_node(k) == victim.name]
        assert theirs
        for k in theirs[:30]:
            assert mc.get(k) is None  # a miss, not an error
            assert mc.set(k, "moved")
            nxt = list(ring.iterate_nodes(k))[1]
            assert holds(by_name[nxt], k)
    finally:
        mc.disconnect_all()


def test_hash_ring_memcache_ring_weights(memcached_farm) -> None:  # type: ignore[no-untyped-def]
    servers = memcached_farm.start(2)
    specs = [(servers[0].name, 1), (servers[1].name, 3)]
    mc = MemcacheRing(specs, socket_timeout=2)
    try:
        ring = HashRingRing([u for u, _ in specs], dict(specs))
        keys = [f"k{i}" for i in range(400)]
        for k in keys:
            mc.set(k, "1")
        heavy = sum(holds(servers[1], k) for k in keys)
        assert heavy == sum(ring.get_node(k) == servers[1].name for k in keys)
        assert heavy > 250
    finally:
        mc.disconnect_all()


@pytest.fixture
def patched_memcache() -> Iterator[None]:
    from ringroute.compat.uhashring import monkey

    saved = {k: memcache.Client.__dict__.get(k) for k in ("__init__", "_get_server")}
    monkey.patch_memcache()
    monkey.patch_memcache()  # twice is once
    try:
        yield
    finally:
        for k, v in saved.items():
            setattr(memcache.Client, k, v)
        for k in ("_old_init", "_old_get_server", "_ringroute_patched"):
            if k in memcache.Client.__dict__:
                delattr(memcache.Client, k)


def test_uhashring_monkey_patch(memcached_farm, patched_memcache) -> None:  # type: ignore[no-untyped-def]
    # uhashring's patch names a node by the server's IP: servers on distinct loopback addresses.
    servers = memcached_farm.start(3, hosts=["127.0.0.1", "127.0.0.2", "127.0.0.3"])
    mc = memcache.Client([s.name for s in servers], socket_timeout=2)
    try:
        assert isinstance(mc.uhashring, UHashRing)
        assert list(mc.uhashring.get_nodes()) == [s.host for s in servers]
        ring = UHashRing([s.host for s in servers])  # the same placement: weight 1 each
        import uhashring as real

        original = real.HashRing([s.host for s in servers])
        by_ip = {s.host: s for s in servers}
        keys = [f"key-{i}" for i in range(300)]
        for k in keys:
            assert mc.set(k, k)
        # python-memcached hands the patch the key as bytes, and uhashring hashes str(key), so on
        # Python 3 a key is placed as the text "b'key'": uhashring's patch does the same.
        for k in keys:
            assert mc.get(k) == k
            owner = ring.get_node(k.encode())
            assert owner == original.get_node(k.encode())
            assert holds(by_ip[owner], k), k
        assert {ring.get_node(k.encode()) for k in keys} == set(by_ip)
        # Its first choice down: the next node of the key's range.
        by_ip["127.0.0.2"].stop()
        k = next(k for k in keys if ring.get_node(k.encode()) == "127.0.0.2")
        assert mc.get(k) is None and mc.set(k, "again")
        assert holds(by_ip[[n["nodename"] for n in ring.range(k.encode())][1]], k)
    finally:
        mc.disconnect_all()
