//! Health at pick time: property tests of its guarantees on random memberships, profiles, keys and
//! down sets, and a reader that must never see a health change half-applied.

mod common;
use common::placement;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use ringroute::{AllDown, Error, Kernel, Node, NodeId, Profile, Router, Snapshot, NO_OWNER};

fn names(ring: &Snapshot, ids: &[NodeId]) -> Vec<String> {
    ids.iter()
        .map(|&id| ring.node(id).unwrap().name().to_owned())
        .collect()
}

fn owner(ring: &Snapshot, key: &str) -> Option<String> {
    ring.route(key).map(|n| n.name().to_owned())
}

/// A membership (distinct names, weights 1..=3, the first `down` of them marked down), a profile
/// and keys.
fn case() -> impl Strategy<Value = (Profile, Vec<(String, u32)>, usize, u32, Vec<String>)> {
    (
        prop::sample::select(Profile::ALL.to_vec()),
        prop::collection::hash_set("[a-z]{1,6}", 2..10),
        prop::collection::vec(1u32..=3, 10),
        0usize..10,
        4u32..40,
        prop::collection::vec("[a-z0-9:]{0,12}", 1..200),
    )
        .prop_map(|(profile, names, weights, down, vn, keys)| {
            let nodes: Vec<(String, u32)> = names.into_iter().zip(weights).collect();
            let down = down % nodes.len();
            (profile, nodes, down, vn, keys)
        })
}

fn router(profile: Profile, nodes: &[(String, u32)], vn: u32) -> Router {
    common::router_with(placement(profile, vn), nodes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Marking nodes down never moves a key owned by an up node; every key of a down node goes to
    /// an up node; marking them up again restores every answer; batches, replicas and walks agree
    /// with the single lookups and skip the down nodes.
    #[test]
    fn down_nodes_move_only_their_own_keys((profile, nodes, down, vn, keys) in case()) {
        let router = router(profile, &nodes, vn);
        let before = router.load();
        let gone: HashSet<&str> = nodes[..down].iter().map(|(n, _)| n.as_str()).collect();
        for (n, _) in &nodes[..down] {
            router.mark_down(n).unwrap();
        }
        let after = router.load();
        prop_assert_eq!(after.down_count(), down);
        // Up nodes that own points (a profile may give a small node none).
        let up_owners = after
            .point_owners()
            .iter()
            .filter(|&&o| after.is_up(NodeId::new(o)))
            .collect::<HashSet<_>>()
            .len();
        prop_assert!(Arc::ptr_eq(&before, &after) == (down == 0));
        for key in &keys {
            let Some(was) = owner(&before, key) else {
                // A ring without points (some profiles give small memberships none).
                prop_assert_eq!(owner(&after, key), None);
                continue;
            };
            let now = owner(&after, key).unwrap();
            if up_owners == 0 {
                // Every owner is down: the default policy routes as if every node were up.
                prop_assert_eq!(&now, &was);
                prop_assert_eq!(after.replicas(key, 3), before.replicas(key, 3));
                continue;
            }
            if gone.contains(was.as_str()) {
                prop_assert!(!gone.contains(now.as_str()), "{key}: {was} -> {now}, a down node");
            } else {
                prop_assert_eq!(&now, &was, "key {} of an up node moved", key);
            }
            // Replicas: the primary first, no down node, distinct, as many as up nodes allow.
            let reps = names(&after, &after.replicas(key, 3));
            prop_assert_eq!(reps.first(), Some(&now));
            prop_assert!(reps.iter().all(|r| !gone.contains(r.as_str())));
            prop_assert_eq!(reps.len(), 3.min(up_owners));
            prop_assert_eq!(reps.iter().collect::<HashSet<_>>().len(), reps.len());
            // The walk skips down nodes and starts at the owner.
            let pos = after.key_hash_wide(key);
            let walk: Vec<NodeId> = after.walk_wide(pos).collect();
            prop_assert_eq!(names(&after, &walk[..1]), vec![now.clone()]);
            prop_assert!(walk.iter().all(|&id| after.is_up(id)));
        }
        // Batches agree with single lookups under every kernel.
        for kernel in Kernel::available() {
            let mut out = vec![0u32; keys.len()];
            after.route_batch_with(kernel, &keys, &mut out).unwrap();
            for (k, &o) in keys.iter().zip(&out) {
                prop_assert_eq!((o != NO_OWNER).then_some(o), after.route_id(k).map(NodeId::get), "{} {}", kernel, k);
            }
            if !profile.is_wide() {
                let hashes: Vec<u64> = keys.iter().map(|k| after.key_hash(k)).collect();
                after.route_hash_batch_with(kernel, &hashes, &mut out).unwrap();
                for (&h, &o) in hashes.iter().zip(&out) {
                    prop_assert_eq!((o != NO_OWNER).then_some(o), after.route_hash(h).map(NodeId::get));
                }
            }
        }
        for (n, _) in &nodes[..down] {
            router.mark_up(n).unwrap();
        }
        let back = router.load();
        prop_assert_eq!(back.down_count(), 0);
        for key in &keys {
            prop_assert_eq!(owner(&back, key), owner(&before, key));
            prop_assert_eq!(back.replicas(key, 3), before.replicas(key, 3));
        }
    }

    /// Under a profile whose points depend on each node alone, a down node's keys go exactly where
    /// removing the node would send them, and so do the replicas.
    #[test]
    fn down_equals_removed_for_ring_profiles((profile, nodes, down, vn, keys) in case()) {
        prop_assume!(!profile.membership_dependent());
        let router = router(profile, &nodes, vn);
        for (n, _) in &nodes[..down] {
            router.mark_down(n).unwrap();
        }
        let marked = router.load();
        let removed = Snapshot::new(
            placement(profile, vn),
            nodes[down..].iter().map(|(n, w)| Node::new(n.as_str()).with_weight(*w)),
        )
        .unwrap();
        for key in &keys {
            prop_assert_eq!(owner(&marked, key), owner(&removed, key), "{}", key);
            prop_assert_eq!(names(&marked, &marked.replicas(key, 4)), names(&removed, &removed.replicas(key, 4)));
        }
    }
}

#[test]
fn every_node_down_follows_the_policy() {
    let router = router(
        Profile::Native,
        &[("a".into(), 1), ("b".into(), 2), ("c".into(), 1)],
        64,
    );
    let all_up = router.load();
    for n in ["a", "b", "c"] {
        router.mark_down(n).unwrap();
    }
    let keys: Vec<String> = (0..200).map(|i| format!("key-{i}")).collect();
    // The default: panic, as if every node were up.
    let snap = router.load();
    assert_eq!(snap.all_down(), AllDown::Panic);
    let mut out = vec![0u32; keys.len()];
    snap.route_batch(&keys, &mut out).unwrap();
    for (k, &o) in keys.iter().zip(&out) {
        assert_eq!(snap.route_id(k), all_up.route_id(k));
        assert_eq!(Some(o), all_up.route_id(k).map(NodeId::get));
        assert_eq!(snap.replicas(k, 2), all_up.replicas(k, 2));
    }
    // Fail: no owner, no replicas, an empty walk.
    router
        .update(|tx| {
            tx.set_all_down(AllDown::Fail);
            Ok(())
        })
        .unwrap();
    let snap = router.load();
    assert_eq!(snap.down_count(), 3, "a transaction keeps the health");
    snap.route_batch(&keys, &mut out).unwrap();
    for (k, &o) in keys.iter().zip(&out) {
        assert_eq!(snap.route_id(k), None);
        assert_eq!(o, NO_OWNER);
        assert!(snap.replicas(k, 2).is_empty());
        assert_eq!(snap.walk_hash(snap.key_hash(k)).count(), 0);
    }
    // One node back up takes every key.
    router.mark_up("b").unwrap();
    let snap = router.load();
    for k in &keys {
        assert_eq!(snap.route(k).unwrap().name(), "b");
    }
}

#[test]
fn health_is_per_name_and_survives_membership_changes() {
    let router = router(
        Profile::Native,
        &[("a".into(), 1), ("b".into(), 1), ("c".into(), 1)],
        32,
    );
    let v = router.version();
    assert!(matches!(
        router.mark_down("nope"),
        Err(Error::UnknownNode { .. })
    ));
    assert_eq!(router.version(), v, "an error publishes nothing");
    router.mark_down("c").unwrap();
    assert_eq!(router.version(), v + 1);
    router.mark_down("c").unwrap();
    assert_eq!(router.version(), v + 1, "already down: nothing to publish");
    let before = router.load();
    // Removing `a` renumbers `c`; it stays down. A node added later is up.
    router
        .update(|tx| {
            tx.remove_node("a").map(drop)?;
            tx.add_node(Node::new("d"))?;
            assert_eq!(tx.is_up("c"), Some(false));
            assert_eq!(tx.is_up("d"), Some(true));
            assert_eq!(tx.is_up("a"), None);
            Ok(())
        })
        .unwrap();
    let snap = router.load();
    let down: Vec<&str> = snap
        .down_nodes()
        .map(|id| snap.node(id).unwrap().name())
        .collect();
    assert_eq!(down, ["c"]);
    assert_eq!(
        snap.fingerprint(),
        {
            let fresh = Snapshot::new(snap.placement(), ["b", "c", "d"].into_iter().map(Node::new))
                .unwrap();
            fresh.fingerprint()
        },
        "health is not part of the membership fingerprint"
    );
    assert_ne!(before.version(), snap.version());
    // Health in a transaction is one publication with the rest.
    router
        .update(|tx| {
            tx.mark_up("c")?;
            tx.mark_down("b")?;
            Ok(())
        })
        .unwrap();
    let snap = router.load();
    assert!(snap.is_up(snap.id_of("c").unwrap()));
    assert!(!snap.is_up(snap.id_of("b").unwrap()));
    assert!(!snap.is_up(NodeId::new(99)));
}

/// A health flip shares the ring and the node table: it writes only the bitmap.
#[test]
fn a_health_flip_shares_the_ring() {
    let nodes: Vec<(String, u32)> = (0..300).map(|i| (format!("n{i}"), 1)).collect();
    let router = router(Profile::Native, &nodes, 160);
    let before = router.load();
    router.mark_down("n17").unwrap();
    let after = router.load();
    assert_eq!(after.version(), before.version() + 1);
    assert_eq!(after.fingerprint(), before.fingerprint());
    // Same points, same storage: the plain arrays are made once per ring and shared.
    assert!(std::ptr::eq(
        before.points().as_ptr(),
        after.points().as_ptr()
    ));
    assert!(std::ptr::eq(
        before.node(NodeId::new(5)).unwrap(),
        after.node(NodeId::new(5)).unwrap()
    ));
}

/// Readers route while a writer flips a set of nodes down and up together (one transaction): every
/// lookup answers as the all-up ring or as the ring with the whole set down, never a mix.
#[test]
fn readers_never_see_health_half_applied() {
    let nodes: Vec<(String, u32)> = (0..20).map(|i| (format!("n{i}"), 1)).collect();
    let router = router(Profile::Native, &nodes, 64);
    let set = ["n1", "n7", "n12"];
    let up = router.load();
    let down = {
        let r = router.load();
        let mut b = r.edit();
        for n in set {
            b.mark_down(n).unwrap();
        }
        b.build().unwrap()
    };
    let keys: Vec<String> = (0..500).map(|i| format!("k{i}")).collect();
    let want_up: Vec<Option<NodeId>> = keys.iter().map(|k| up.route_id(k)).collect();
    let want_down: Vec<Option<NodeId>> = keys.iter().map(|k| down.route_id(k)).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (router, stop, keys) = (router.clone(), Arc::clone(&stop), keys.clone());
            let (want_up, want_down) = (want_up.clone(), want_down.clone());
            let rounds = Arc::clone(&rounds);
            std::thread::spawn(move || {
                let (mut seen_up, mut seen_down) = (false, false);
                while !stop.load(Ordering::Relaxed) {
                    let snap = router.pin();
                    let got: Vec<Option<NodeId>> = keys.iter().map(|k| snap.route_id(k)).collect();
                    assert!(got == want_up || got == want_down, "a mixed answer");
                    seen_up |= got == want_up;
                    seen_down |= got == want_down;
                    rounds.fetch_add(1, Ordering::Relaxed);
                }
                (seen_up, seen_down)
            })
        })
        .collect();
    // Flip many times (bounded in time). After each publication the writer waits for three more
    // finished reader rounds: each of the two readers has at most one round that began before the
    // publication, so at least one round saw the new state.
    let deadline = Instant::now() + Duration::from_secs(20);
    let settle = || {
        let target = rounds.load(Ordering::Relaxed) + 3;
        while rounds.load(Ordering::Relaxed) < target && Instant::now() < deadline {
            std::thread::yield_now();
        }
    };
    for _ in 0..200 {
        router
            .update(|tx| {
                for n in set {
                    tx.mark_down(n)?;
                }
                Ok(())
            })
            .unwrap();
        settle();
        router
            .update(|tx| {
                for n in set {
                    tx.mark_up(n)?;
                }
                Ok(())
            })
            .unwrap();
        settle();
    }
    stop.store(true, Ordering::Relaxed);
    let mut seen = (false, false);
    for r in readers {
        let (up, down) = r.join().unwrap();
        seen = (seen.0 | up, seen.1 | down);
    }
    assert!(Instant::now() < deadline, "the readers kept up");
    assert!(seen.0 && seen.1, "the readers saw both states: {seen:?}");
}
