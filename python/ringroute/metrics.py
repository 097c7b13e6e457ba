"""Prometheus collectors for ``prometheus_client`` (optional extra: ``pip install ringroute[metrics]``).

``RingCollector(ring, name="cache")`` exports a ``HashRing`` (every metric labelled ``ring``),
read from the ring when scraped, with no work in between:

- ``ringroute_nodes``, ``ringroute_points``: nodes (drained ones included) and points;
- ``ringroute_node_share{node}``, ``ringroute_node_expected_share{node}``: each node's exact share
  of the key space and its weight's share (0 to 1);
- ``ringroute_imbalance``: the largest share over expected share (alert above 1.07, say);
- ``ringroute_version``: the membership version;
- ``ringroute_publications_total``, ``ringroute_publish_seconds`` (histogram): the publications
  since the collector was made, and how long they took;
- ``ringroute_nodes_down``: nodes marked down.

``ClientCollector(client, name="cache")`` exports a cache client of ``ringroute.clients``:
``ringroute_client_server_up{server}``, ``ringroute_client_servers_down``, and what the client
counts: for ``RedisRing`` keys routed to each server, writes waiting for repair, and
``ringroute_client_hits_total``, ``_misses_total``, ``_failovers_total``, ``_repairs_total``; for
``MemcacheRing`` failures per server and ``ringroute_client_hits_total``, ``_misses_total`` (it
keeps no replicas, so it has no failovers or repairs).

Register them like any collector::

    from prometheus_client import REGISTRY, start_http_server
    from ringroute.metrics import RingCollector

    REGISTRY.register(RingCollector(ring, name="sessions"))
    start_http_server(9100)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector

from ringroute._ringroute import HashRing

__all__ = ["RingCollector", "ClientCollector"]


def _bound(le: float) -> str:
    return "+Inf" if le == float("inf") else repr(le)


class RingCollector(Collector):
    """The metrics of one ``HashRing``, labelled ``ring=name`` (see the module docs). Starts timing
    the ring's publications (``HashRing.track_publish_times``)."""

    def __init__(self, ring: HashRing, name: str = "cache") -> None:
        if not isinstance(ring, HashRing):
            raise TypeError(f"ring must be a ringroute.HashRing, not {type(ring).__name__}")
        self.ring = ring
        self.name = name
        ring.track_publish_times()

    def collect(self) -> Iterator[Any]:
        ring, label = self.ring, [self.name]
        d = ring.distribution()

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            g = GaugeMetricFamily(name, doc, labels=["ring"])
            g.add_metric(label, value)
            return g

        yield gauge("ringroute_nodes", "Nodes of the ring (drained ones included).", len(d["nodes"]))
        yield gauge("ringroute_points", "Points (virtual nodes) of the ring.", d["points"])
        share = GaugeMetricFamily(
            "ringroute_node_share", "The node's exact share of the key space (0 to 1).", labels=["ring", "node"]
        )
        expected = GaugeMetricFamily(
            "ringroute_node_expected_share", "The node's weight over the total weight (0 to 1).", labels=["ring", "node"]
        )
        for node, s in d["nodes"].items():
            share.add_metric([self.name, node], s["share"])
            expected.add_metric([self.name, node], s["expected"])
        yield share
        yield expected
        yield gauge(
            "ringroute_imbalance",
            "The largest share over expected share of any node (1 is perfect balance).",
            d["weighted_imbalance"],
        )
        yield gauge("ringroute_version", "The version of the current membership.", ring.version)
        yield gauge("ringroute_nodes_down", "Nodes marked down.", len(ring.down_nodes))
        times = ring.publish_times or {"count": 0, "sum": 0.0, "buckets": []}
        pubs = CounterMetricFamily(
            "ringroute_publications", "Publications since the collector was made.", labels=["ring"]
        )
        pubs.add_metric(label, times["count"])
        yield pubs
        hist = HistogramMetricFamily(
            "ringroute_publish_seconds",
            "How long publications took, from the start of the commit to the swap.",
            labels=["ring"],
            unit="seconds",
        )
        buckets = [(_bound(le), n) for le, n in times["buckets"]] or [("+Inf", 0)]
        hist.add_metric(label, buckets, times["sum"])
        yield hist


class ClientCollector(Collector):
    """The health of a cache client of ``ringroute.clients`` (``RedisRing`` or ``MemcacheRing``),
    labelled ``ring=name``: servers up and down, and the client's counters (see the module docs)."""

    def __init__(self, client: Any, name: str = "cache") -> None:
        if not (hasattr(client, "metrics") or hasattr(client, "stats_by_server")):
            raise TypeError(
                f"client must be a ringroute.clients RedisRing or MemcacheRing, not {type(client).__name__}"
            )
        self.client = client
        self.name = name

    def collect(self) -> Iterator[Any]:
        up = GaugeMetricFamily(
            "ringroute_client_server_up", "1 if the server is up, 0 if down.", labels=["ring", "server"]
        )
        down = GaugeMetricFamily("ringroute_client_servers_down", "Servers down.", labels=["ring"])
        if hasattr(self.client, "metrics"):
            m = self.client.metrics(sizes=False)
            routed = CounterMetricFamily(
                "ringroute_client_routed", "Keys routed to the server as primary.", labels=["ring", "server"]
            )
            hints = GaugeMetricFamily(
                "ringroute_client_hints", "Writes the server missed, waiting for repair.", labels=["ring", "server"]
            )
            for server, s in m["nodes"].items():
                up.add_metric([self.name, server], 1 if s["up"] else 0)
                routed.add_metric([self.name, server], s["routed"])
                hints.add_metric([self.name, server], s["hints"])
            down.add_metric([self.name], m["down"])
            yield from (up, down, routed, hints)
            for stat, doc in (
                ("hits", "Reads that found a value."),
                ("misses", "Reads that found no value."),
                ("failovers", "Hits answered by another server than the key's primary."),
                ("repairs", "Keys copied back to a server on its return."),
            ):
                c = CounterMetricFamily(f"ringroute_client_{stat}", doc, labels=["ring"])
                c.add_metric([self.name], m[stat])
                yield c
            return
        stats = self.client.stats_by_server()
        failures = GaugeMetricFamily(
            "ringroute_client_failures", "Consecutive failures of the server.", labels=["ring", "server"]
        )
        for server, s in stats.items():
            up.add_metric([self.name, server], 1 if s["up"] else 0)
            failures.add_metric([self.name, server], s["failures"])
        down.add_metric([self.name], sum(1 for s in stats.values() if not s["up"]))
        yield from (up, down, failures)
        counts = self.client.counters()
        for stat, doc in (
            ("hits", "Reads that found a value."),
            ("misses", "Reads that found no value (the key's server unreachable included)."),
        ):
            c = CounterMetricFamily(f"ringroute_client_{stat}", doc, labels=["ring"])
            c.add_metric([self.name], counts[stat])
            yield c
