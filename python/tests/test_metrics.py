"""ringroute.metrics: collectors scraped over a real HTTP endpoint (prometheus_client's
start_http_server) and parsed with prometheus_client's text-format parser."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.parser import text_string_to_metric_families

from ringroute import HashRing
from ringroute.metrics import ClientCollector, RingCollector


@pytest.fixture
def endpoint() -> Iterator[tuple[CollectorRegistry, int]]:
    registry = CollectorRegistry()
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        yield registry, server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_ring_metrics_equal_what_the_ring_reports(endpoint: tuple[CollectorRegistry, int]) -> None:
    registry, port = endpoint
    ring = HashRing(nodes={"cache-a": 1, "cache-b": 2})
    registry.register(RingCollector(ring, name="sessions"))
    ring.add_node("cache-c")
    with ring.transaction() as tx:
        tx.add_node("cache-d", weight=3)
        tx.remove_node("cache-a")
    ring.mark_down("cache-b")

    m = scrape(port)
    r = (("ring", "sessions"),)
    d = ring.distribution()
    assert m[("ringroute_nodes", r)] == len(ring) == 3
    assert m[("ringroute_points", r)] == ring.point_count
    assert m[("ringroute_version", r)] == ring.version
    assert m[("ringroute_nodes_down", r)] == 1
    assert m[("ringroute_imbalance", r)] == d["weighted_imbalance"]
    assert m[("ringroute_publications_total", r)] == 3
    for node, s in d["nodes"].items():
        labels = (("node", node), ("ring", "sessions"))
        assert m[("ringroute_node_share", labels)] == s["share"]
        assert m[("ringroute_node_expected_share", labels)] == s["expected"]
    assert m[("ringroute_publish_seconds_count", r)] == 3
    assert m[("ringroute_publish_seconds_bucket", (("le", "+Inf"), ("ring", "sessions")))] == 3
    assert 0 < m[("ringroute_publish_seconds_sum", r)] < 10

    ring.remove_node("cache-c")
    m = scrape(port)
    assert m[("ringroute_nodes", r)] == 2
    assert m[("ringroute_publications_total", r)] == 4
    assert not any(dict(k[1]).get("node") == "cache-c" for k in m)


def test_ring_collector_checks_its_argument() -> None:
    with pytest.raises(TypeError, match="HashRing"):
        RingCollector(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="RedisRing or MemcacheRing"):
        ClientCollector(object())


def test_redis_client_metrics(endpoint: tuple[CollectorRegistry, int], redis_farm: Any) -> None:
    from ringroute.clients import RedisRing

    registry, port = endpoint
    servers = redis_farm.start(3)
    with RedisRing([s.name for s in servers], replicas=2, cooldown=0.3) as client:
        registry.register(ClientCollector(client, name="redis"))
        for i in range(200):
            client.set(f"k{i}", "v")
        servers[0].stop()
        for i in range(200):
            client.set(f"k{i}", "w")
        primaries = [client.replicas_for(f"k{i}")[0] for i in range(200)]
        for i in range(200):
            assert client.get(f"k{i}") == b"w"
        for i in range(7):
            assert client.get(f"missing-{i}") is None
        m = scrape(port)
        want = client.metrics(sizes=False)
        assert m[("ringroute_client_servers_down", (("ring", "redis"),))] == want["down"] == 1
        for name, s in want["nodes"].items():
            labels = (("ring", "redis"), ("server", name))
            assert m[("ringroute_client_server_up", labels)] == (1 if s["up"] else 0)
            assert m[("ringroute_client_routed_total", labels)] == s["routed"]
            assert m[("ringroute_client_hints", labels)] == s["hints"]
        assert m[("ringroute_client_hints", (("ring", "redis"), ("server", servers[0].name)))] > 0
        r = (("ring", "redis"),)
        on_victim = primaries.count(servers[0].name)
        assert 0 < on_victim < 200
        assert (want["hits"], want["misses"], want["failovers"]) == (200, 7, on_victim)
        assert m[("ringroute_client_hits_total", r)] == 200
        assert m[("ringroute_client_misses_total", r)] == 7
        assert m[("ringroute_client_failovers_total", r)] == on_victim
        assert m[("ringroute_client_repairs_total", r)] == 0
        # The victim returns: the writes it missed are copied back, and counted.
        servers[0].restart()
        time.sleep(0.4)
        assert client.is_up(servers[0].name)
        m = scrape(port)
        repaired = client.metrics(sizes=False)["repairs"]
        assert repaired > 0
        assert m[("ringroute_client_repairs_total", r)] == repaired


def test_memcache_client_metrics(endpoint: tuple[CollectorRegistry, int], memcached_farm: Any) -> None:
    from ringroute.clients import MemcacheRing

    registry, port = endpoint
    servers = memcached_farm.start(2)
    mc = MemcacheRing(
        [s.name for s in servers], connect_timeout=0.5, timeout=1, retry_attempts=1, retry_timeout=0,
        dead_timeout=30,
    )
    with mc:
        registry.register(ClientCollector(mc, name="mc"))
        keys = [f"user:{i}" for i in range(200)]
        for k in keys:
            mc.set(k, b"v")
        servers[0].stop()
        hits = sum(mc.get(k) is not None for k in keys)
        found = mc.get_many(keys[:50] + ["absent:1", "absent:2"])
        m = scrape(port)
        counts = mc.counters()
        assert 0 < hits < len(keys)
        assert counts == {
            "hits": hits + len(found),
            "misses": len(keys) - hits + 52 - len(found),
        }
        assert m[("ringroute_client_hits_total", (("ring", "mc"),))] == counts["hits"]
        assert m[("ringroute_client_misses_total", (("ring", "mc"),))] == counts["misses"]
        stats = mc.stats_by_server()
        down = sum(1 for s in stats.values() if not s["up"])
        assert down == 1
        assert m[("ringroute_client_servers_down", (("ring", "mc"),))] == down
        for name, s in stats.items():
            labels = (("ring", "mc"), ("server", name))
            assert m[("ringroute_client_server_up", labels)] == (1 if s["up"] else 0)
            assert m[("ringroute_client_failures", labels)] == s["failures"]
