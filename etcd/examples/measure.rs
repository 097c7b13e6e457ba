//! Measures a fleet following a real 3-member etcd cluster on 127.0.0.1 (started here, as the
//! tests do): propagation from a write to every router having published it, changes absorbed per
//! second by the routers during a concurrent burst, and catch-up after a 10,000-change burst.
//!
//! `cargo run --release -p ringroute-etcd --example measure [ROUTERS] [CHANGES] [CHURN_SECONDS]`
//! (default 4, 1,000 and 0: with CHURN_SECONDS, the process's resident memory is sampled during a
//! churn of that long at ~500 changes/s). `RINGROUTE_MEASURE_WORKERS` sets the runtime's worker
//! threads (default 4). Needs `etcd` and `etcdctl` (Debian:
//! etcd-server, etcd-client).

#[path = "../tests/cluster/mod.rs"]
mod cluster;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use etcd_client::{Client, Txn, TxnOp};
use ringroute::{Placement, Router};
use ringroute_etcd::{Applied, EtcdMembership, SyncHandle};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(what: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "{what}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {}",
        percentile(&v, 0.5).as_secs_f64() * 1e3,
        percentile(&v, 0.99).as_secs_f64() * 1e3,
        v.last().unwrap().as_secs_f64() * 1e3,
        v.len()
    );
}

/// When each router published revision `rev` (reading their logs up to it).
fn published_at(logs: &[mpsc::Receiver<Applied>], rev: i64) -> Vec<Instant> {
    logs.iter()
        .map(|log| loop {
            let a = log.recv().expect("the sync runs");
            if a.revision >= rev {
                break a.at;
            }
        })
        .collect()
}

async fn wait_all(syncs: &[SyncHandle], rev: i64) {
    for s in syncs {
        s.wait_revision(rev, Duration::from_secs(60)).await.unwrap();
    }
}

/// Writes `n` puts of node records (names from a pool of `pool`) with `concurrency` writers;
/// returns the last revision and when the last write was acknowledged.
async fn burst(
    membership: &EtcdMembership,
    client: &Client,
    n: usize,
    pool: usize,
    concurrency: usize,
) -> (i64, Instant) {
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let mut c = client.clone();
        let layout = membership.layout().clone();
        tasks.push(tokio::spawn(async move {
            let mut last = 0;
            for i in (w..n).step_by(concurrency) {
                let name = format!("burst-{:04}", (i * 7919) % pool);
                let op = TxnOp::put(
                    layout.node_key(&name),
                    format!(r#"{{"weight": {}}}"#, 1 + i % 4),
                    None,
                );
                let r = c.txn(Txn::new().and_then(vec![op])).await.unwrap();
                last = last.max(r.header().unwrap().revision());
            }
            (last, Instant::now())
        }));
    }
    let mut last = (0, Instant::now());
    for t in tasks {
        let (r, at) = t.await.unwrap();
        last = (last.0.max(r), last.1.max(at));
    }
    last
}

/// The process's resident memory (VmRSS), in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Churns the membership (adds, removes, weight changes over 200 names, ~500 changes/s) while the
/// running routers follow it, and prints the resident memory every tenth of `length`.
async fn churn_memory(membership: &EtcdMembership, client: &mut Client, length: Duration) {
    let layout = membership.layout().clone();
    let start = Instant::now();
    let mut samples = vec![rss_kib()];
    let mut next = start + length / 10;
    let mut i: u64 = 0;
    while start.elapsed() < length {
        let name = format!("churn-{:03}", (i * 7919) % 200);
        if i.is_multiple_of(3) {
            client.delete(layout.node_key(&name), None).await.unwrap();
        } else {
            let value = format!(r#"{{"weight": {}}}"#, 1 + i % 5);
            client
                .put(layout.node_key(&name), value, None)
                .await
                .unwrap();
        }
        i += 1;
        tokio::time::sleep(Duration::from_millis(2)).await;
        if Instant::now() >= next {
            samples.push(rss_kib());
            next += length / 10;
        }
    }
    println!(
        "churn of {} changes over {:.0} s: resident memory (KiB) every tenth {samples:?}",
        i,
        length.as_secs_f64()
    );
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a number"))
        .collect();
    let routers = args.first().copied().unwrap_or(4);
    let changes = args.get(1).copied().unwrap_or(1000);
    // RINGROUTE_MEASURE_WORKERS: the runtime's worker threads (default 4; at least 1, since the
    // measurement blocks one thread while it waits for the routers).
    let workers: usize = std::env::var("RINGROUTE_MEASURE_WORKERS")
        .ok()
        .map(|w| w.parse().expect("a number of workers"))
        .unwrap_or(4);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .enable_all()
        .build()
        .unwrap();
    let etcd = cluster::Cluster::start(3);
    rt.block_on(async {
        let membership = EtcdMembership::new(etcd.endpoints(), "/measure");
        let mut client = membership.connect().await.unwrap();
        let layout = membership.layout().clone();
        let mut syncs = Vec::new();
        let mut logs = Vec::new();
        let mut rs = Vec::new();
        for _ in 0..routers {
            let router = Router::new(Placement::native());
            let (sync, log) = membership.start_with_applied(router.clone());
            logs.push(log);
            sync.wait_synced(Duration::from_secs(20)).await.unwrap();
            syncs.push(sync);
            rs.push(router);
        }
        // Propagation: one change at a time.
        let (mut from_start, mut from_ack) = (Vec::new(), Vec::new());
        for i in 0..changes {
            let name = format!("cache-{:03}", i % 100);
            let value = format!(r#"{{"weight": {}, "port": 11211}}"#, 1 + i % 3);
            let t0 = Instant::now();
            let rev = client.put(layout.node_key(&name), value, None).await.unwrap().header().unwrap().revision();
            let ack = Instant::now();
            let last = *published_at(&logs, rev).iter().max().unwrap();
            from_start.push(last.saturating_duration_since(t0));
            from_ack.push(last.saturating_duration_since(ack));
        }
        println!("{routers} routers, 3-member etcd on 127.0.0.1");
        report("propagation, write sent -> every router published", from_start);
        report("propagation, write acknowledged -> every router published", from_ack);
        // Drain the logs: from here on, count publications.
        for l in &logs {
            while l.try_recv().is_ok() {}
        }

        // Concurrent burst: changes absorbed per second, and catch-up after the last write.
        let n = 10_000;
        let start_rev = client.get("/", None).await.unwrap().header().unwrap().revision();
        let t0 = Instant::now();
        let (last_rev, last_ack) = burst(&membership, &client, n, 1000, 32).await;
        let written = t0.elapsed();
        wait_all(&syncs, last_rev).await;
        let caught_up = Instant::now();
        let publications: Vec<usize> = logs.iter().map(|l| l.try_iter().count()).collect();
        println!(
            "burst of {n} changes (32 writers, 1,000 names): etcd took {:.2} s ({:.0} writes/s); \
             every router at the last revision {:.1} ms after the last write was acknowledged; \
             {:.0} changes/s absorbed per router; publications per router {:?} (coalesced), \
             revisions {}..={}",
            written.as_secs_f64(),
            n as f64 / written.as_secs_f64(),
            caught_up.saturating_duration_since(last_ack).as_secs_f64() * 1e3,
            n as f64 / caught_up.duration_since(t0).as_secs_f64(),
            publications,
            start_rev + 1,
            last_rev
        );

        // Catch-up of a router that was down during a 10,000-change burst: start to synced.
        let stopped = syncs.pop().unwrap();
        let router = rs.pop().unwrap();
        stopped.stop();
        let (last_rev, _) = burst(&membership, &client, n, 5000, 32).await;
        let t0 = Instant::now();
        let sync = membership.start(router.clone());
        sync.wait_revision(last_rev, Duration::from_secs(60)).await.unwrap();
        println!(
            "a router back after a 10,000-change burst over 5,000 names: list and publish of {} nodes in {:.1} ms",
            router.load().len(),
            t0.elapsed().as_secs_f64() * 1e3
        );
        sync.stop();

        // Absorption without etcd's write rate in the way: a router whose writer lock is held
        // while a 10,000-change burst is written queues the watch responses; once released, it
        // publishes them (coalesced) at its own pace.
        let router = Router::new(Placement::native());
        let (held_sync, log) = membership.start_with_applied(router.clone());
        held_sync.wait_synced(Duration::from_secs(20)).await.unwrap();
        let held = router.transaction();
        let (last_rev, _) = burst(&membership, &client, n, 1000, 32).await;
        let t0 = Instant::now();
        drop(held);
        held_sync.wait_revision(last_rev, Duration::from_secs(60)).await.unwrap();
        let took = t0.elapsed();
        let publications = log.try_iter().filter(|a| !a.list).count();
        println!(
            "a router held while 10,000 changes were written: caught up {:.1} ms after release \
             ({:.0} changes/s absorbed, {publications} publications)",
            took.as_secs_f64() * 1e3,
            n as f64 / took.as_secs_f64()
        );
        held_sync.stop();

        let churn = args.get(2).copied().unwrap_or(0);
        // The publication logs are not read during the churn: dropped, so that they do not grow.
        drop(logs);
        if churn > 0 {
            churn_memory(&membership, &mut client, Duration::from_secs(churn as u64)).await;
        }
        for s in syncs {
            s.stop();
        }
    });
}
