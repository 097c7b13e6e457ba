//! Scrapes a real HTTP endpoint serving a registry with a `RingCollector`, parses the answer with
//! a Prometheus text-format parser, and checks every value against what the ring reports.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

mod scrape_client;

use prometheus_client::registry::Registry;
use prometheus_parse::Value;
use ringroute::{distribution, Node, Placement, Router};
use ringroute_prometheus::RingCollector;
use scrape_client::{scrape, value};

/// Serves `registry` at `http://127.0.0.1:<port>/metrics` on a thread; returns the port.
fn serve(registry: Arc<Registry>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            // The request line and headers, up to the blank line.
            while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                if line == "\r\n" {
                    break;
                }
                line.clear();
            }
            let mut body = String::new();
            prometheus_client::encoding::text::encode(&mut body, &registry).unwrap();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0; \
                 charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body.as_bytes());
        }
    });
    port
}

#[test]
fn a_scrape_reports_what_the_ring_reports() {
    let router = Router::new(Placement::native());
    let mut registry = Registry::default();
    registry.register_collector(Box::new(RingCollector::new(router.clone(), "cache")));
    let port = serve(Arc::new(registry));

    router
        .update(|tx| {
            tx.add_node(Node::new("cache-a"))?;
            tx.add_node(Node::new("cache-b").with_weight(2))?;
            tx.add_node(Node::new("cache-c"))
        })
        .unwrap();
    router.add_node(Node::new("cache-d")).unwrap();
    router.mark_down("cache-c").unwrap();

    let m = scrape(port);
    let snap = router.load();
    let d = distribution(&snap);
    let ring = [("ring", "cache")];
    assert_eq!(value(&m, "ringroute_nodes", &ring), 4.0);
    assert_eq!(
        value(&m, "ringroute_points", &ring),
        snap.point_count() as f64
    );
    assert_eq!(value(&m, "ringroute_version", &ring), snap.version() as f64);
    assert_eq!(value(&m, "ringroute_nodes_down", &ring), 1.0);
    assert_eq!(
        value(&m, "ringroute_imbalance", &ring),
        d.weighted_imbalance()
    );
    assert_eq!(value(&m, "ringroute_publications_total", &ring), 3.0);
    for (s, n) in d.nodes.iter().zip(snap.nodes()) {
        let labels = [("ring", "cache"), ("node", n.name())];
        assert_eq!(value(&m, "ringroute_node_share", &labels), s.share);
        assert_eq!(
            value(&m, "ringroute_node_expected_share", &labels),
            s.expected
        );
    }
    let hist = m
        .samples
        .iter()
        .find(|s| s.metric == "ringroute_publish_seconds")
        .unwrap_or_else(|| panic!("{:?}", m.samples));
    let Value::Histogram(buckets) = &hist.value else {
        panic!("{hist:?}")
    };
    let inf = buckets.iter().find(|b| b.less_than.is_infinite()).unwrap();
    assert_eq!(inf.count, 3.0);
    assert!(buckets.windows(2).all(|w| w[0].count <= w[1].count));

    // The next scrape sees the next publication, with nothing done in between.
    router.remove_node("cache-a").unwrap();
    let m = scrape(port);
    assert_eq!(value(&m, "ringroute_nodes", &ring), 3.0);
    assert_eq!(value(&m, "ringroute_publications_total", &ring), 4.0);
    assert!(!m
        .samples
        .iter()
        .any(|s| s.labels.get("node") == Some("cache-a")));
}
