//! `ringroute watch` run as a user runs it, against a real etcd (the fixture of the etcd crate's
//! tests: an `etcd` process on free 127.0.0.1 ports with a temp data dir): the line printed for
//! each change, checked against the ring etcd's state describes at each revision; the metrics
//! endpoint, scraped over HTTP and parsed; a clean exit on SIGTERM; and bad input.

#![cfg(feature = "watch")]

#[path = "../../etcd/tests/cluster/mod.rs"]
mod cluster;
mod common;
#[path = "../../prometheus/tests/scrape_client/mod.rs"]
mod scrape_client;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use etcd_client::{Client, Txn, TxnOp};
use ringroute::{distribution, moved_fraction, Placement, Snapshot};
use ringroute_etcd::EtcdMembership;
use scrape_client::{scrape, value};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// A running `ringroute watch`, its stdout and stderr read line by line on threads.
struct Watch {
    child: Child,
    lines: mpsc::Receiver<String>,
    errors: mpsc::Receiver<String>,
}

/// Sends the lines of `from` to a channel, from a thread.
fn read_lines(from: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

impl Watch {
    fn start(args: &[&str]) -> Watch {
        let mut child = spawn(args);
        let lines = read_lines(child.stdout.take().unwrap());
        let errors = read_lines(child.stderr.take().unwrap());
        Watch {
            child,
            lines,
            errors,
        }
    }

    /// Waits for a line on stderr that contains `text`; returns it.
    fn said(&mut self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .errors
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("ringroute watch did not say {text:?} within 30 s"));
            assert!(!line.contains("panicked"), "{line}");
            if line.contains(text) {
                return line;
            }
        }
    }

    /// The next line, as its `key=value` fields.
    fn next(&mut self) -> HashMap<String, String> {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no line from ringroute watch within 30 s"));
        line.split(' ')
            .map(|f| {
                let (k, v) = f
                    .split_once('=')
                    .unwrap_or_else(|| panic!("{line}: {f} is not key=value"));
                (k.to_owned(), v.to_owned())
            })
            .collect()
    }

    /// Sends SIGTERM and waits for the exit code.
    fn terminate(mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "no exit 10 s after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// etcd, written to and read from as the test goes.
struct Etcd {
    rt: tokio::runtime::Runtime,
    client: Client,
    membership: EtcdMembership,
}

impl Etcd {
    fn new(endpoints: &[String], prefix: &str) -> Etcd {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let membership = EtcdMembership::new(endpoints, prefix);
        let client = rt.block_on(membership.connect()).unwrap();
        Etcd {
            rt,
            client,
            membership,
        }
    }

    /// Runs `ops` as one etcd transaction; returns its revision.
    fn txn(&mut self, ops: Vec<TxnOp>) -> i64 {
        let resp = self
            .rt
            .block_on(self.client.txn(Txn::new().and_then(ops)))
            .unwrap();
        resp.header().unwrap().revision()
    }

    fn put(&self, key: String, value: &str) -> TxnOp {
        TxnOp::put(key, value, None)
    }

    fn node(&self, name: &str, record: &str) -> TxnOp {
        self.put(self.membership.layout().node_key(name), record)
    }

    /// The ring etcd's state describes at `revision`, built from scratch.
    fn ring(&mut self, placement: Placement, revision: i64) -> Snapshot {
        let (snap, _) = self
            .rt
            .block_on(
                self.membership
                    .snapshot_at(&mut self.client, placement, revision),
            )
            .unwrap();
        snap
    }
}

/// Checks a change line's fields against what is expected of it.
fn check(line: &HashMap<String, String>, want: &[(&str, &str)]) {
    for (k, v) in want {
        assert_eq!(
            line.get(*k).map(String::as_str),
            Some(*v),
            "{k} in {line:?}"
        );
    }
}

fn moved(line: &HashMap<String, String>) -> f64 {
    line["moved"].parse().unwrap()
}

#[test]
fn watch_prints_each_change_and_serves_the_ring_metrics() {
    if !cluster::enabled() {
        return;
    }
    let etcd = cluster::Cluster::start(1);
    let prefix = "/watch/cache";
    let mut db = Etcd::new(&etcd.endpoints(), prefix);
    // A key of a neighbouring prefix, which the watch must not see.
    let neighbour = TxnOp::put("/watch/cache2/nodes/x", "{}", None);
    db.txn(vec![neighbour]);
    let r0 = db.txn(vec![
        db.node(
            "cache-a",
            r#"{"weight": 1, "hostname": "10.0.0.1", "port": 11211}"#,
        ),
        db.node("cache-b", r#"{"weight": 2}"#),
    ]);

    let port = free_port();
    let metrics = format!("127.0.0.1:{port}");
    let endpoints = etcd.endpoints().join(",");
    let mut watch = Watch::start(&[
        "--etcd",
        &endpoints,
        "--prefix",
        prefix,
        "--metrics",
        &metrics,
    ]);
    let native = Placement::native();

    // The list of what etcd held at the start.
    let list = watch.next();
    let r = r0.to_string();
    check(
        &list,
        &[
            ("revision", &r),
            ("source", "list"),
            ("event", "node_add"),
            ("version", "1"),
            ("nodes", "2"),
            ("added", "cache-a,cache-b"),
            ("removed", ""),
            ("moved", "1"),
        ],
    );
    let ring0 = db.ring(native, r0);
    assert_eq!(list["vnodes_added"], ring0.point_count().to_string());

    // One node joins.
    let r1 = db.txn(vec![db.node("cache-c", "{}")]);
    let line = watch.next();
    let r = r1.to_string();
    check(
        &line,
        &[
            ("revision", &r),
            ("source", "watch"),
            ("event", "node_add"),
            ("version", "2"),
            ("nodes", "3"),
            ("added", "cache-c"),
        ],
    );
    let ring1 = db.ring(native, r1);
    assert_eq!(moved(&line), moved_fraction(&ring0, &ring1).unwrap());

    // A multi-key transaction: one change line, at its one revision.
    let r2 = db.txn(vec![
        TxnOp::delete(db.membership.layout().node_key("cache-a"), None),
        db.node("cache-b", r#"{"weight": 3}"#),
        db.node("cache-d", r#"{"weight": 1, "meta": {"zone": "b"}}"#),
    ]);
    let line = watch.next();
    let r = r2.to_string();
    check(
        &line,
        &[
            ("revision", &r),
            ("event", "change"),
            ("version", "3"),
            ("nodes", "3"),
            ("added", "cache-d"),
            ("removed", "cache-a"),
            ("reweighted", "cache-b:2->3"),
        ],
    );
    let ring2 = db.ring(native, r2);
    let m = moved_fraction(&ring1, &ring2).unwrap();
    assert!(m > 0.2 && m < 1.0, "{m}");
    assert_eq!(moved(&line), m);

    // A node marked down: health moves no key of the ring.
    let r3 = db.txn(vec![
        db.put(db.membership.layout().health_key("cache-d"), "down")
    ]);
    let line = watch.next();
    let r = r3.to_string();
    check(
        &line,
        &[
            ("revision", &r),
            ("event", "node_down"),
            ("version", "4"),
            ("down", "cache-d"),
            ("moved", "0"),
        ],
    );

    // The metrics are the ring's at the last revision.
    let ring3 = db.ring(native, r3);
    let scraped = scrape(port);
    let label = [("ring", "cache")];
    assert_eq!(value(&scraped, "ringroute_nodes", &label), 3.0);
    assert_eq!(value(&scraped, "ringroute_version", &label), 4.0);
    assert_eq!(value(&scraped, "ringroute_nodes_down", &label), 1.0);
    assert_eq!(
        value(&scraped, "ringroute_points", &label),
        ring3.point_count() as f64
    );
    let d = distribution(&ring3);
    assert_eq!(
        value(&scraped, "ringroute_imbalance", &label),
        d.weighted_imbalance()
    );
    for (share, node) in d.nodes.iter().zip(ring3.nodes()) {
        let labels = [("ring", "cache"), ("node", node.name())];
        assert_eq!(
            value(&scraped, "ringroute_node_share", &labels),
            share.share
        );
        assert_eq!(
            value(&scraped, "ringroute_node_expected_share", &labels),
            share.expected
        );
    }
    assert!(!scraped
        .samples
        .iter()
        .any(|s| s.labels.get("node") == Some("cache-a")));

    assert_eq!(watch.terminate(), Some(0));
}

#[test]
fn watch_takes_the_placement_of_the_prefix_config() {
    if !cluster::enabled() {
        return;
    }
    let etcd = cluster::Cluster::start(1);
    let mut db = Etcd::new(&etcd.endpoints(), "/watch/ketama");
    let r0 = db.txn(vec![
        db.put(
            db.membership.layout().config_key(),
            r#"{"placement": "libmemcached-ketama", "virtual_nodes": 40}"#,
        ),
        db.node("x", "{}"),
        db.node("y", r#"{"weight": 2}"#),
    ]);
    let endpoints = etcd.endpoints().join(",");
    let mut watch = Watch::start(&["--etcd", &endpoints, "--prefix", "/watch/ketama"]);
    let line = watch.next();
    let ketama = Placement::from_name("libmemcached-ketama", Some(40)).unwrap();
    let ring = db.ring(ketama, r0);
    check(
        &line,
        &[("source", "list"), ("added", "x,y"), ("nodes", "2")],
    );
    assert_eq!(line["vnodes_added"], ring.point_count().to_string());

    let r1 = db.txn(vec![db.node("z", "{}")]);
    let line = watch.next();
    assert_eq!(line["revision"], r1.to_string());
    assert_eq!(
        moved(&line),
        moved_fraction(&ring, &db.ring(ketama, r1)).unwrap()
    );
    assert_eq!(watch.terminate(), Some(0));
}

#[test]
fn watch_keeps_the_last_ring_while_etcd_is_down_and_lists_again() {
    if !cluster::enabled() {
        return;
    }
    let mut etcd = cluster::Cluster::start(1);
    let prefix = "/watch/restart";
    let mut db = Etcd::new(&etcd.endpoints(), prefix);
    let r0 = db.txn(vec![db.node("a", "{}"), db.node("b", "{}")]);
    let endpoints = etcd.endpoints().join(",");
    let port = free_port();
    let metrics = format!("127.0.0.1:{port}");
    let mut watch = Watch::start(&[
        "--etcd",
        &endpoints,
        "--prefix",
        prefix,
        "--metrics",
        &metrics,
        "--ring",
        "sessions",
    ]);
    let line = watch.next();
    check(
        &line,
        &[("source", "list"), ("version", "1"), ("nodes", "2")],
    );
    watch.said("watching /watch/restart");
    drop(db);

    etcd.kill(0);
    watch.said("lost etcd");
    // The metrics still serve the last ring.
    let label = [("ring", "sessions")];
    assert_eq!(value(&scrape(port), "ringroute_nodes", &label), 2.0);

    etcd.restart(0);
    etcd.wait_healthy(Duration::from_secs(30));
    watch.said("watching /watch/restart");
    // A full read again, which finds the ring unchanged.
    let line = watch.next();
    let r = r0.to_string();
    check(
        &line,
        &[
            ("revision", &r),
            ("source", "list"),
            ("event", "none"),
            ("version", "1"),
            ("nodes", "2"),
            ("moved", "0"),
        ],
    );
    let mut db = Etcd::new(&etcd.endpoints(), prefix);
    let r1 = db.txn(vec![db.node("c", "{}")]);
    let line = watch.next();
    let r = r1.to_string();
    check(
        &line,
        &[
            ("revision", &r),
            ("source", "watch"),
            ("added", "c"),
            ("version", "2"),
        ],
    );
    assert_eq!(
        moved(&line),
        moved_fraction(
            &db.ring(Placement::native(), r0),
            &db.ring(Placement::native(), r1)
        )
        .unwrap()
    );
    assert_eq!(value(&scrape(port), "ringroute_nodes", &label), 3.0);
    assert_eq!(watch.terminate(), Some(0));
}

/// Starts `ringroute watch` with `args`, its stdout and stderr piped.
fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ringroute"))
        .arg("watch")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs")
}

/// Runs `ringroute watch` with `args`, expecting it to end by itself within 20 s.
fn run(args: &[&str]) -> Output {
    let mut child = spawn(args);
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ringroute watch {args:?} still running after 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// A failing run: exit code 1, one line on stderr, no panic, nothing on stdout.
fn fails(args: &[&str]) -> String {
    common::one_line_failure(args, run(args))
}

#[test]
fn bad_input_is_one_line_and_exit_1() {
    let e = fails(&["--etcd", "127.0.0.1:notaport", "--prefix", "/a"]);
    assert!(e.contains("etcd endpoint \"127.0.0.1:notaport\""), "{e}");
    let e = fails(&["--etcd", "https://127.0.0.1:2379", "--prefix", "/a"]);
    assert!(e.contains("TLS"), "{e}");
    let e = fails(&["--etcd", "127.0.0.1:2379,", "--prefix", "/a"]);
    assert!(e.contains("etcd endpoint \"\""), "{e}");
    let e = fails(&["--etcd", "127.0.0.1:2379", "--prefix", "/"]);
    assert!(e.contains("--prefix"), "{e}");
    let e = fails(&["--etcd", "127.0.0.1:2379"]);
    assert!(e.contains("--prefix"), "{e}");
    let e = fails(&[
        "--etcd",
        "127.0.0.1:2379",
        "--prefix",
        "/a",
        "--metrics",
        "nowhere",
    ]);
    assert!(e.contains("--metrics"), "{e}");
    let e = fails(&[
        "--etcd",
        "127.0.0.1:2379",
        "--prefix",
        "/a",
        "--timeout",
        "0",
    ]);
    assert!(e.contains("--timeout"), "{e}");
    // An address in use.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let e = fails(&[
        "--etcd",
        "127.0.0.1:2379",
        "--prefix",
        "/a",
        "--metrics",
        &addr,
    ]);
    assert!(e.contains(&format!("--metrics {addr}")), "{e}");
}

#[test]
fn an_unreachable_etcd_is_retried_until_the_timeout() {
    // A port nothing listens on.
    let endpoint = format!("127.0.0.1:{}", free_port());
    let out = run(&["--etcd", &endpoint, "--prefix", "/a", "--timeout", "1"]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.stdout.is_empty());
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines[0].contains("not reachable") && lines[0].ends_with("retrying"),
        "{err}"
    );
    let last = lines.last().unwrap();
    assert!(
        last.starts_with(&format!(
            "ringroute: etcd at {endpoint} not reachable within 1s"
        )),
        "{err}"
    );
}
