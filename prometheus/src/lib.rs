//! Prometheus metrics of a [`ringroute::Router`], for the official `prometheus-client` crate.
//!
//! [`RingCollector`] reads the router's current snapshot when it is scraped and does no work in
//! between (publication times are the one thing recorded as they happen: two clock reads per
//! publication, see [`Router::track_publish_times`]). Every metric has the label `ring`:
//!
//! | metric | type | meaning |
//! |---|---|---|
//! | `ringroute_nodes` | gauge | nodes (drained ones included) |
//! | `ringroute_points` | gauge | points (virtual nodes) of the ring |
//! | `ringroute_node_share{node}` | gauge | the node's exact share of the key space (0 to 1) |
//! | `ringroute_node_expected_share{node}` | gauge | its weight over the total weight |
//! | `ringroute_imbalance` | gauge | the largest share / expected share (alert above 1.07) |
//! | `ringroute_version` | gauge | the version of the current snapshot |
//! | `ringroute_publications_total` | counter | publications timed since the collector was made |
//! | `ringroute_publish_seconds` | histogram | how long those publications took |
//! | `ringroute_nodes_down` | gauge | nodes marked down |
//!
//! ```
//! use prometheus_client::registry::Registry;
//! use ringroute::{Node, Placement, Router};
//! use ringroute_prometheus::RingCollector;
//!
//! let router = Router::new(Placement::native());
//! let mut registry = Registry::default();
//! registry.register_collector(Box::new(RingCollector::new(router.clone(), "cache")));
//! router.add_node(Node::new("cache-a"))?;
//!
//! let mut text = String::new();
//! prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
//! assert!(text.contains("ringroute_node_share{ring=\"cache\",node=\"cache-a\"} 1.0"));
//! assert!(text.contains("ringroute_publications_total{ring=\"cache\"} 1"));
//! # Ok::<(), ringroute::Error>(())
//! ```
//!
//! [`Router::track_publish_times`]: ringroute::Router::track_publish_times

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;
use ringroute::{distribution, Router, PUBLISH_BUCKETS};

/// A collector of one router's metrics, labelled `ring="<name>"`. Register it with
/// `Registry::register_collector`.
#[derive(Debug)]
pub struct RingCollector {
    router: Router,
    ring: String,
}

impl RingCollector {
    /// A collector of `router`'s metrics under the label `ring="<ring>"`. Starts timing the
    /// router's publications ([`Router::track_publish_times`]).
    pub fn new(router: Router, ring: impl Into<String>) -> Self {
        router.track_publish_times();
        Self {
            router,
            ring: ring.into(),
        }
    }
}

/// Writes one gauge of the ring's label.
fn gauge<V>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    ring: &[(&str, &str); 1],
    value: V,
) -> Result<(), std::fmt::Error>
where
    ConstGauge<V>: EncodeMetric,
{
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(value).encode(metric.encode_family(ring)?)
}

impl Collector for RingCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let snap = self.router.load();
        let d = distribution(&snap);
        let ring = [("ring", self.ring.as_str())];
        let e = &mut encoder;
        gauge(
            e,
            "ringroute_nodes",
            "Nodes of the ring (drained ones included).",
            &ring,
            snap.len() as i64,
        )?;
        gauge(
            e,
            "ringroute_points",
            "Points (virtual nodes) of the ring.",
            &ring,
            d.points as i64,
        )?;
        {
            let mut m = e.encode_descriptor(
                "ringroute_node_share",
                "The node's exact share of the key space (0 to 1).",
                None,
                MetricType::Gauge,
            )?;
            for (s, n) in d.nodes.iter().zip(snap.nodes()) {
                let labels = [("ring", self.ring.as_str()), ("node", n.name())];
                ConstGauge::new(s.share).encode(m.encode_family(&labels)?)?;
            }
        }
        {
            let mut m = e.encode_descriptor(
                "ringroute_node_expected_share",
                "The node's weight over the total weight (0 to 1).",
                None,
                MetricType::Gauge,
            )?;
            for (s, n) in d.nodes.iter().zip(snap.nodes()) {
                let labels = [("ring", self.ring.as_str()), ("node", n.name())];
                ConstGauge::new(s.expected).encode(m.encode_family(&labels)?)?;
            }
        }
        gauge(
            e,
            "ringroute_imbalance",
            "The largest share over expected share of any node (1 is perfect balance).",
            &ring,
            d.weighted_imbalance(),
        )?;
        gauge(
            e,
            "ringroute_version",
            "The version of the current snapshot.",
            &ring,
            snap.version() as i64,
        )?;
        gauge(
            e,
            "ringroute_nodes_down",
            "Nodes marked down.",
            &ring,
            snap.down_count() as i64,
        )?;
        let times = self.router.publish_times().unwrap_or_default();
        {
            let mut m = e.encode_descriptor(
                "ringroute_publications",
                "Publications since the collector was made.",
                None,
                MetricType::Counter,
            )?;
            ConstCounter::new(times.count).encode(m.encode_family(&ring)?)?;
        }
        let mut m = e.encode_descriptor(
            "ringroute_publish",
            "How long publications took, from the start of the commit to the swap.",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        // prometheus-client sums the buckets it is given: hand it each bucket's own count.
        let mut below = 0;
        let mut buckets: Vec<(f64, u64)> = PUBLISH_BUCKETS
            .iter()
            .zip(times.buckets)
            .map(|(&le, cumulative)| {
                let own = cumulative - below;
                below = cumulative;
                (le, own)
            })
            .collect();
        buckets.push((f64::INFINITY, times.count - below));
        m.encode_family(&ring)?
            .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                times.sum,
                times.count,
                &buckets,
                None,
            )
    }
}
