//! Helpers of the fleet tests: routers with their syncs and publication logs, random changes,
//! and the checks of the logs against etcd.

#![allow(dead_code)]

use std::sync::mpsc;
use std::time::Duration;

use etcd_client::{Client, TxnOp};
use rand::Rng;
use ringroute::{Placement, Router, Snapshot};
use ringroute_etcd::{Applied, EtcdMembership, SyncHandle};

/// `RINGROUTE_ETCD_LONG=1`: the long mode (more changes).
pub fn long_mode() -> bool {
    std::env::var_os("RINGROUTE_ETCD_LONG").is_some_and(|v| !v.is_empty() && v != "0")
}

/// One node of a ring, everything a record and health say.
pub type NodeState = (String, u32, Option<String>, Option<u16>, bool);

/// The nodes of a ring, by name.
pub fn state(snap: &Snapshot) -> Vec<NodeState> {
    let mut v: Vec<NodeState> = snap
        .nodes()
        .map(|n| {
            let id = snap.id_of(n.name()).unwrap();
            (
                n.name().to_owned(),
                n.weight(),
                n.hostname().map(str::to_owned),
                n.port(),
                snap.is_up(id),
            )
        })
        .collect();
    v.sort();
    v
}

/// The names of a router's nodes, sorted.
pub fn names(router: &Router) -> Vec<String> {
    let mut v: Vec<String> = router.load().nodes().map(|n| n.name().to_owned()).collect();
    v.sort();
    v
}

/// A node name of a pool of 40.
pub fn random_name(rng: &mut impl Rng) -> String {
    format!("cache-{:02}", rng.gen_range(0..40))
}

/// A random change of node `name`: a put of a new record (an add or a weight change), a delete,
/// or a health flip.
pub fn random_op(rng: &mut impl Rng, membership: &EtcdMembership, name: &str) -> TxnOp {
    let layout = membership.layout();
    match rng.gen_range(0..10) {
        0..=2 => TxnOp::delete(layout.node_key(name), None),
        3 => TxnOp::put(
            layout.health_key(name),
            if rng.gen_bool(0.5) { "down" } else { "up" },
            None,
        ),
        _ => TxnOp::put(
            layout.node_key(name),
            format!(
                r#"{{"weight": {}, "hostname": "10.0.0.{}", "port": 11211}}"#,
                rng.gen_range(0..5),
                rng.gen_range(1..255)
            ),
            None,
        ),
    }
}

/// Routers, each with its sync and the receiver of its publications.
pub struct Fleet {
    pub routers: Vec<Router>,
    pub syncs: Vec<SyncHandle>,
    pub logs: Vec<mpsc::Receiver<Applied>>,
    /// Publications read from `logs` so far, per router.
    pub seen: Vec<Vec<Applied>>,
}

impl Fleet {
    /// `n` routers synced with `membership` (each waits until its sync is live).
    pub async fn start(membership: &EtcdMembership, n: usize) -> Fleet {
        let mut fleet = Fleet {
            routers: Vec::new(),
            syncs: Vec::new(),
            logs: Vec::new(),
            seen: Vec::new(),
        };
        for _ in 0..n {
            fleet.add(membership).await;
        }
        fleet
    }

    /// Adds a router synced with `membership`.
    pub async fn add(&mut self, membership: &EtcdMembership) {
        let router = Router::new(Placement::native());
        let (sync, log) = membership.start_with_applied(router.clone());
        sync.wait_synced(Duration::from_secs(20)).await.unwrap();
        self.routers.push(router);
        self.syncs.push(sync);
        self.logs.push(log);
        self.seen.push(Vec::new());
    }

    /// Replaces router `i` by a new one (a restarted process), synced with `membership`.
    pub async fn restart(&mut self, i: usize, membership: &EtcdMembership) {
        self.add(membership).await;
        self.routers.swap_remove(i);
        self.syncs.swap_remove(i);
        self.logs.swap_remove(i);
        self.seen.swap_remove(i);
    }

    /// Waits until every router has applied etcd's current revision, then checks that each one's
    /// ring equals the ring built from etcd's state. Returns that revision.
    pub async fn converge(&mut self, membership: &EtcdMembership, client: &mut Client) -> i64 {
        // etcd's state, and every router at its revision; read again in case a write that timed
        // out on its client was committed late.
        let (want, rev) = loop {
            let Ok((want, rev)) = membership.snapshot_at(client, Placement::native(), 0).await
            else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            for (i, sync) in self.syncs.iter().enumerate() {
                if let Err(e) = sync.wait_revision(rev, Duration::from_secs(30)).await {
                    panic!(
                        "router {i} at {} not at {rev}: {e}; {:?}",
                        sync.revision(),
                        sync.status()
                    );
                }
            }
            match membership.snapshot_at(client, Placement::native(), 0).await {
                Ok((_, again)) if again == rev => break (want, rev),
                _ => continue,
            }
        };
        for (i, sync) in self.syncs.iter().enumerate() {
            assert_eq!(sync.revision(), rev, "router {i}");
        }
        for (i, r) in self.routers.iter().enumerate() {
            let snap = r.load();
            assert_eq!(state(&snap), state(&want), "router {i}");
            assert_eq!(snap.fingerprint(), want.fingerprint(), "router {i}");
        }
        rev
    }

    /// Every router's publications so far (each call reads the new ones and keeps them).
    pub fn logs(&mut self) -> Vec<Vec<Applied>> {
        for (log, seen) in self.logs.iter().zip(&mut self.seen) {
            seen.extend(log.try_iter());
        }
        self.seen.clone()
    }

    /// Stops every sync.
    pub fn stop(self) {
        for s in self.syncs {
            s.stop();
        }
    }
}

/// Checks one router's log: revisions strictly increasing across publications, each publication's
/// revision its last event's, and the log ending at `last`.
pub fn check_log(log: &[Applied], last: i64) {
    let mut prev = 0;
    for a in log {
        for &r in &a.revisions {
            assert!(r > prev, "revision {r} after {prev}: out of order or twice");
            prev = r;
        }
        if !a.list {
            assert_eq!(a.revisions.last(), Some(&a.revision));
        }
        assert!(a.revision >= prev);
        prev = a.revision;
    }
    assert_eq!(log.last().map(|a| a.revision), Some(last));
}

/// Checks that each publication's fingerprint is the one of the ring built from etcd's state at
/// its revision: a publication is never half of an etcd transaction.
pub async fn check_states(membership: &EtcdMembership, client: &mut Client, log: &[Applied]) {
    for a in log {
        let (want, _) = membership
            .snapshot_at(client, Placement::native(), a.revision)
            .await
            .unwrap();
        assert_eq!(
            a.fingerprint,
            want.fingerprint(),
            "at revision {}",
            a.revision
        );
    }
}
