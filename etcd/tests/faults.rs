//! A fleet through etcd's failures (a real 3-member cluster, see `cluster`): the leader killed,
//! quorum lost and restored, history compacted while a router is disconnected, a router
//! restarted; after each every router converges, and during each every router keeps answering
//! from its last ring. And leases: a registering process SIGKILLed leaves every ring within its
//! ttl + 1 s.

mod cluster;
mod fleet_util;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fleet_util::*;
use rand::{Rng, SeedableRng};
use ringroute::Router;
use ringroute_etcd::EtcdMembership;

/// A writer making random changes, one every few milliseconds, going on through failures.
struct Writer {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Writer {
    /// Stops the writer and waits until its last write is done, so etcd is quiescent.
    async fn quiesce(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap();
    }
}

fn spawn_writer(membership: &EtcdMembership, seed: u64, done: &Arc<AtomicU64>) -> Writer {
    let stop = Arc::new(AtomicBool::new(false));
    let (membership, done, stop2) = (membership.clone(), Arc::clone(done), Arc::clone(&stop));
    let task = tokio::spawn(async move {
        let stop = stop2;
        let mut client = membership.connect().await.unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        while !stop.load(Ordering::Relaxed) {
            // Distinct names: etcd refuses a transaction that writes a key twice.
            let mut names: Vec<String> = (0..rng.gen_range(1..=3))
                .map(|_| random_name(&mut rng))
                .collect();
            names.sort();
            names.dedup();
            let ops: Vec<_> = names
                .iter()
                .map(|name| random_op(&mut rng, &membership, name))
                .collect();
            if client
                .txn(etcd_client::Txn::new().and_then(ops))
                .await
                .is_ok()
            {
                done.fetch_add(1, Ordering::Relaxed);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    Writer { stop, task }
}

/// A reader that routes a key on every router every millisecond and counts answers that are
/// missing (an empty ring).
fn spawn_reader(
    routers: Vec<Router>,
    stop: Arc<AtomicBool>,
    missing: Arc<AtomicU64>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut lookups = 0;
        while !stop.load(Ordering::Relaxed) {
            for r in &routers {
                if r.pin().route(format!("key-{lookups}")).is_none() {
                    missing.fetch_add(1, Ordering::Relaxed);
                }
                lookups += 1;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        lookups
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_converges_through_leader_loss_quorum_loss_compaction_and_restarts() {
    if !cluster::enabled() {
        return;
    }
    let mut etcd = cluster::Cluster::start(3);
    let membership = EtcdMembership::new(etcd.endpoints(), "/fleet/f")
        .with_backoff(Duration::from_millis(20), Duration::from_millis(500))
        .with_timeout(Duration::from_secs(1));
    let mut client = membership.connect().await.unwrap();
    // A ring that is never empty: ten nodes the writer does not touch (its pool is cache-00..39).
    for i in 0..10 {
        client
            .put(
                membership.layout().node_key(&format!("base-{i}")),
                "{}",
                None,
            )
            .await
            .unwrap();
    }
    let mut fleet = Fleet::start(&membership, 3).await;
    // A router that talks to member 2 only: it is the one disconnected while history is compacted.
    let lonely = EtcdMembership::new([etcd.members[2].endpoint()], "/fleet/f")
        .with_backoff(Duration::from_millis(20), Duration::from_millis(500))
        .with_timeout(Duration::from_secs(1));
    fleet.add(&lonely).await;

    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let missing = Arc::new(AtomicU64::new(0));
    let writer = spawn_writer(&membership, 1, &written);
    let reader = spawn_reader(
        fleet.routers.clone(),
        Arc::clone(&stop),
        Arc::clone(&missing),
    );
    let run = Duration::from_millis(if long_mode() { 3000 } else { 700 });

    // 1. The leader killed mid-run, then back.
    tokio::time::sleep(run).await;
    let leader = etcd.leader().expect("a leader");
    etcd.kill(leader);
    tokio::time::sleep(run).await;
    etcd.restart(leader);
    etcd.wait_healthy(Duration::from_secs(30));
    tokio::time::sleep(run).await;
    writer.quiesce().await;
    let w1 = written.load(Ordering::Relaxed);
    fleet.converge(&membership, &mut client).await;

    // 2. Two of three members down: no quorum, no writes, the routers keep their rings and say
    // they are stale; then back.
    let writer = spawn_writer(&membership, 2, &written);
    etcd.kill(0);
    etcd.kill(1);
    let deadline = Instant::now() + Duration::from_secs(20);
    while fleet.syncs.iter().any(|s| s.synced()) {
        assert!(
            Instant::now() < deadline,
            "a sync still says it is live without quorum"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // No sync is live: no publication can happen until quorum is back.
    let before: Vec<u64> = fleet
        .routers
        .iter()
        .map(|r| r.load().fingerprint())
        .collect();
    let stale = fleet.syncs[0]
        .staleness()
        .expect("stale while etcd has no quorum");
    tokio::time::sleep(run).await;
    assert!(fleet.syncs[0].staleness().unwrap() > stale);
    let during: Vec<u64> = fleet
        .routers
        .iter()
        .map(|r| r.load().fingerprint())
        .collect();
    assert_eq!(before, during, "no ring changes while etcd has no quorum");
    etcd.restart(0);
    etcd.restart(1);
    etcd.wait_healthy(Duration::from_secs(30));
    tokio::time::sleep(run).await;
    writer.quiesce().await;
    fleet.converge(&membership, &mut client).await;
    assert!(
        written.load(Ordering::Relaxed) > w1,
        "writes went on after quorum came back"
    );

    // 3. Member 2 down (the lonely router is disconnected); changes; the history compacted; member
    // 2 back: the lonely router's revision is gone, it re-lists.
    let writer = spawn_writer(&membership, 3, &written);
    let lonely_at = fleet.syncs[3].revision();
    etcd.kill(2);
    tokio::time::sleep(run).await;
    // Member 2 may have been the leader: the test's own calls wait out the election. Changes the
    // lonely router misses, whatever the writer managed meanwhile:
    let key = membership.layout().node_key("missed");
    for w in 1..=3 {
        retry(|| {
            let (mut c, key) = (client.clone(), key.clone());
            async move {
                c.put(key, format!(r#"{{"weight": {w}}}"#), None)
                    .await
                    .map(drop)
            }
        })
        .await;
    }
    let rev = retry(|| {
        let mut c = client.clone();
        async move { Ok(c.get("/", None).await?.header().unwrap().revision()) }
    })
    .await;
    retry(|| {
        let mut c = client.clone();
        async move { c.compact(rev, None).await.map(drop) }
    })
    .await;
    assert!(rev > lonely_at + 2);
    etcd.restart(2);
    etcd.wait_healthy(Duration::from_secs(30));
    tokio::time::sleep(run).await;
    writer.quiesce().await;
    fleet.converge(&membership, &mut client).await;
    assert!(
        fleet.syncs[3].status().lists >= 2,
        "the lonely router re-listed"
    );

    // 4. A router killed and restarted mid-run.
    let writer = spawn_writer(&membership, 4, &written);
    tokio::time::sleep(run).await;
    fleet.restart(1, &membership).await;
    tokio::time::sleep(run).await;
    writer.quiesce().await;

    stop.store(true, Ordering::Relaxed);
    let lookups = reader.join().unwrap();
    let last = fleet.converge(&membership, &mut client).await;
    assert_eq!(
        missing.load(Ordering::Relaxed),
        0,
        "a lookup found no ring ({lookups} lookups)"
    );
    assert!(written.load(Ordering::Relaxed) > 100);
    // Each router's publications: revisions in order, each once, ending at etcd's last.
    for log in fleet.logs() {
        check_log(&log, last);
    }
    fleet.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_registering_process_leaves_every_ring_within_ttl_plus_one_second() {
    if !cluster::enabled() {
        return;
    }
    let etcd = cluster::Cluster::start(3);
    let membership = EtcdMembership::new(etcd.endpoints(), "/fleet/lease");
    let fleet = Fleet::start(&membership, 3).await;

    let mut child = Command::new(env!("CARGO_BIN_EXE_ringroute-etcd-register"))
        .args([
            &etcd.endpoints().join(","),
            "/fleet/lease",
            "worker-1",
            "2",
            "3",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.starts_with("registered /fleet/lease/nodes/worker-1 lease "),
        "{line}"
    );
    let has = |r: &Router| r.load().node_by_name("worker-1").map(|n| n.weight()) == Some(3);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !fleet.routers.iter().all(has) {
        assert!(
            Instant::now() < deadline,
            "the registered node never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Kept alive past its ttl.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        fleet.routers.iter().all(has),
        "the lease was not kept alive"
    );

    let killed = Instant::now();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    while fleet.routers.iter().any(has) {
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(
            killed.elapsed() <= Duration::from_secs(3),
            "still in a ring 3 s after SIGKILL"
        );
    }
    eprintln!("gone from every ring {:?} after SIGKILL", killed.elapsed());

    // A registration closed deregisters at once; one whose ttl is not whole seconds is refused.
    let reg = membership
        .register("worker-2", &Default::default(), Duration::from_secs(5))
        .await
        .unwrap();
    let rev = client_revision(&membership).await;
    for s in &fleet.syncs {
        s.wait_revision(rev, Duration::from_secs(5)).await.unwrap();
    }
    assert!(fleet.routers.iter().all(|r| r.load().contains("worker-2")));
    reg.close().await.unwrap();
    let rev = client_revision(&membership).await;
    for s in &fleet.syncs {
        s.wait_revision(rev, Duration::from_secs(5)).await.unwrap();
    }
    assert!(fleet.routers.iter().all(|r| !r.load().contains("worker-2")));
    assert!(membership
        .register("worker-3", &Default::default(), Duration::from_millis(1500))
        .await
        .is_err());
    fleet.stop();
}

/// Runs `f` until it succeeds (through an election), for at most 20 s.
async fn retry<T, F, Fut>(mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match f().await {
            Ok(v) => return v,
            Err(e) if Instant::now() < deadline => {
                eprintln!("retrying: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("etcd still failing after 20 s: {e}"),
        }
    }
}

/// etcd's current revision.
async fn client_revision(membership: &EtcdMembership) -> i64 {
    let mut c = membership.connect().await.unwrap();
    c.get("/", None).await.unwrap().header().unwrap().revision()
}
