//! Scraping a Prometheus text endpoint over plain HTTP and reading one sample, for the tests of
//! this crate and of the command line's `watch --metrics` (included there by path).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use prometheus_parse::{Sample, Scrape, Value};

/// GETs `/metrics` from 127.0.0.1:`port` and parses the answer (which must be a 200).
pub fn scrape(port: u16) -> Scrape {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

/// The value of the one sample of `name` whose labels include `labels`.
pub fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let s: Vec<&Sample> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .collect();
    assert_eq!(s.len(), 1, "{name} {labels:?}: {:?}", scrape.samples);
    match &s[0].value {
        Value::Gauge(v) | Value::Counter(v) | Value::Untyped(v) => *v,
        other => panic!("{name}: {other:?}"),
    }
}
