//! A fleet of routers following one prefix of a real 3-member etcd cluster (see `cluster`):
//! convergence under random changes with every publication checked against etcd's state at its
//! revision, and bad records. Faults and leases are in `faults.rs`.
//!
//! `RINGROUTE_ETCD_LONG=1` makes 10,000 changes instead of 1,000.

mod cluster;
mod fleet_util;

use std::time::Duration;

use etcd_client::{Txn, TxnOp};
use fleet_util::*;
use rand::{Rng, SeedableRng};
use ringroute::{Placement, Router};
use ringroute_etcd::EtcdMembership;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routers_converge_under_random_changes_and_transactions() {
    if !cluster::enabled() {
        return;
    }
    let changes = if long_mode() { 10_000 } else { 1_000 };
    let etcd = cluster::Cluster::start(3);
    let membership = EtcdMembership::new(etcd.endpoints(), "/fleet/a");
    let mut client = membership.connect().await.unwrap();
    // Something under a neighbouring prefix, which no router may see.
    client.put("/fleet/ab/nodes/x", "{}", None).await.unwrap();

    let mut fleet = Fleet::start(&membership, 3).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut txns = 0;
    // The revision of each write (a delete of an absent key makes none: its revision repeats).
    let mut written: Vec<i64> = Vec::new();
    let mut i = 0;
    while i < changes {
        if rng.gen_ratio(1, 5) {
            // A multi-key transaction: 2 to 6 changes at one revision.
            let n = rng.gen_range(2..=6).min(changes - i);
            let mut names: Vec<String> = (0..n).map(|_| random_name(&mut rng)).collect();
            names.sort();
            names.dedup();
            let ops: Vec<TxnOp> = names
                .iter()
                .map(|name| random_op(&mut rng, &membership, name))
                .collect();
            i += ops.len();
            let resp = client.txn(Txn::new().and_then(ops)).await.unwrap();
            written.push(resp.header().unwrap().revision());
            txns += 1;
        } else {
            let name = random_name(&mut rng);
            let op = random_op(&mut rng, &membership, &name);
            let resp = client.txn(Txn::new().and_then(vec![op])).await.unwrap();
            written.push(resp.header().unwrap().revision());
            i += 1;
        }
    }
    assert!(txns > 50);
    let last = fleet.converge(&membership, &mut client).await;
    // Every change after the first list, in order, each once, and every publication equal to
    // etcd's state at its revision: never half a transaction.
    for log in fleet.logs() {
        assert_eq!(
            log.iter().filter(|a| a.list).count(),
            1,
            "one list, no re-list"
        );
        check_log(&log, last);
        let listed = log[0].revision;
        let mut want: Vec<i64> = written.iter().copied().filter(|&r| r > listed).collect();
        want.dedup();
        let got: Vec<i64> = log
            .iter()
            .flat_map(|a| a.revisions.iter().copied())
            .collect();
        assert_eq!(
            got, want,
            "every revision after the list, in order, each once"
        );
        assert!(log.len() > 1);
        check_states(&membership, &mut client, &log).await;
    }
    fleet.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_records_are_skipped_counted_and_never_empty_the_ring() {
    if !cluster::enabled() {
        return;
    }
    let etcd = cluster::Cluster::start(3);
    let membership = EtcdMembership::new(etcd.endpoints(), "/fleet/b/");
    let layout = membership.layout().clone();
    let mut client = membership.connect().await.unwrap();
    client
        .put(
            layout.node_key("good-before"),
            r#"{"weight": 2, "hostname": "10.0.0.1", "port": 11211, "meta": {"zone": "a"}}"#,
            None,
        )
        .await
        .unwrap();
    client
        .put(layout.node_key("garbled-before"), "{not json", None)
        .await
        .unwrap();
    let router = Router::new(Placement::native());
    let sync = membership.start(router.clone());
    sync.wait_synced(Duration::from_secs(10)).await.unwrap();
    assert_eq!(sync.status().skipped, 1);
    assert_eq!(names(&router), vec!["good-before"]);
    let node = router.load().node_by_name("good-before").cloned().unwrap();
    assert_eq!(
        (node.weight(), node.hostname(), node.port()),
        (2, Some("10.0.0.1"), Some(11211))
    );
    let meta = node.payload_as::<ringroute::membership::Meta>().unwrap();
    assert_eq!(meta["zone"], "a");

    let bad: [(String, &str); 7] = [
        (layout.node_key("w"), r#"{"weight": "two"}"#),
        (layout.node_key("w"), r#"{"weight": 1.5}"#),
        (layout.node_key("u"), r#"{"wieght": 1}"#),
        (layout.node_key("p"), r#"{"port": 70000}"#),
        (layout.node_key("a"), r#"[1, 2]"#),
        (layout.health_key("good-before"), "sideways"),
        (layout.config_key(), r#"{"placement": "no-such-profile"}"#),
    ];
    for (key, value) in &bad {
        client.put(key.as_str(), *value, None).await.unwrap();
    }
    // A config naming another placement: the live router cannot apply it.
    client
        .put(layout.config_key(), r#"{"placement": "uhashring"}"#, None)
        .await
        .unwrap();
    // And a good change after all of them: the watch goes on.
    let rev = client
        .put(layout.node_key("good-after"), "{}", None)
        .await
        .unwrap()
        .header()
        .unwrap()
        .revision();
    sync.wait_revision(rev, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(sync.status().skipped, 1 + bad.len() as u64 + 1);
    assert_eq!(names(&router), vec!["good-after", "good-before"]);
    assert!(sync.synced());

    // The config of the router's own placement applies (nothing to change); health drives
    // mark_down/mark_up; a node's record change keeps it in place.
    client
        .put(layout.config_key(), r#"{"placement": "native"}"#, None)
        .await
        .unwrap();
    client
        .put(layout.health_key("good-after"), "down", None)
        .await
        .unwrap();
    let rev = client
        .put(layout.node_key("good-before"), r#"{"weight": 3}"#, None)
        .await
        .unwrap()
        .header()
        .unwrap()
        .revision();
    sync.wait_revision(rev, Duration::from_secs(10))
        .await
        .unwrap();
    let snap = router.load();
    assert!(!snap.is_up(snap.id_of("good-after").unwrap()));
    assert_eq!(snap.node_by_name("good-before").unwrap().weight(), 3);
    assert_eq!(snap.node_by_name("good-before").unwrap().hostname(), None);
    // Every key now routes to good-before, the one node up.
    for k in 0..100 {
        assert_eq!(snap.route(format!("k{k}")).unwrap().name(), "good-before");
    }
    let rev = client
        .put(layout.health_key("good-after"), "\"up\"", None)
        .await
        .unwrap()
        .header()
        .unwrap()
        .revision();
    sync.wait_revision(rev, Duration::from_secs(10))
        .await
        .unwrap();
    let snap = router.load();
    assert!(snap.is_up(snap.id_of("good-after").unwrap()));
    let (want, _) = membership
        .snapshot_at(&mut client, Placement::native(), 0)
        .await
        .unwrap();
    assert_eq!(state(&snap), state(&want));
    assert_eq!(sync.status().skipped, 9);
    sync.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_watch_stays_live() {
    if !cluster::enabled() {
        return;
    }
    // etcd closes a connection whose keep-alive pings come faster than its minimum (5 s) while it
    // sends nothing back: an idle watch must not be cut (and re-listed) by the client's own pings.
    let etcd = cluster::Cluster::start(3);
    let membership = EtcdMembership::new(etcd.endpoints(), "/fleet/idle");
    let mut client = membership.connect().await.unwrap();
    let router = Router::new(Placement::native());
    let sync = membership.start(router.clone());
    sync.wait_synced(Duration::from_secs(10)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let rev = client
        .put(membership.layout().node_key("a"), "{}", None)
        .await
        .unwrap()
        .header()
        .unwrap()
        .revision();
    sync.wait_revision(rev, Duration::from_secs(10))
        .await
        .unwrap();
    let status = sync.status();
    assert_eq!(status.lists, 1, "re-listed: {:?}", status.last_error);
    assert!(sync.synced());
    assert_eq!(names(&router), vec!["a"]);
    sync.stop();
}
