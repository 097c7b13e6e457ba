//! Property tests of the ring's invariants, on random memberships and keys.

use std::collections::HashSet;

use proptest::prelude::*;
use ringroute::search::lower_bound_wrap;
use ringroute::{Error, Node, NodeId, Placement, Router, Snapshot};

fn placement(vnodes: u32) -> Placement {
    Placement::from_name("native", Some(vnodes)).unwrap()
}

/// A membership: distinct names with weights 0..=3, and a small virtual-node count so that rings
/// stay small and collisions of interesting shapes (long runs of one owner) happen.
fn membership() -> impl Strategy<Value = (Vec<(String, u32)>, u32)> {
    (
        prop::collection::hash_set("[a-z]{1,6}", 1..12),
        prop::collection::vec(0u32..=3, 12),
        1u32..40,
    )
        .prop_map(|(names, weights, vn)| {
            let nodes = names.into_iter().zip(weights).collect();
            (nodes, vn)
        })
}

fn build(nodes: &[(String, u32)], vn: u32) -> Snapshot {
    Snapshot::new(
        placement(vn),
        nodes
            .iter()
            .map(|(n, w)| Node::new(n.as_str()).with_weight(*w)),
    )
    .unwrap()
}

/// Search positions worth probing: random ones, every point exactly, the neighbours of every point,
/// and the extremes (which exercise wrap-around).
fn probes(ring: &Snapshot, random: &[u64]) -> Vec<u64> {
    let mut v = random.to_vec();
    for &p in ring.points() {
        v.extend([p, p.wrapping_sub(1), p.wrapping_add(1)]);
    }
    v.extend([0, 1, u64::MAX, u64::MAX - 1]);
    v
}

fn name_of(ring: &Snapshot, id: Option<NodeId>) -> Option<String> {
    id.map(|id| ring.node(id).unwrap().name().to_owned())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The search index returns exactly what a sorted-array lower bound with wrap-around returns,
    /// including for positions equal to a point and past the largest point.
    #[test]
    fn search_equals_sorted_reference((nodes, vn) in membership(), random in prop::collection::vec(any::<u64>(), 64)) {
        let ring = build(&nodes, vn);
        let pts = ring.points();
        prop_assert!(pts.windows(2).all(|w| w[0] <= w[1]));
        for h in probes(&ring, &random) {
            let want = (!pts.is_empty()).then(|| NodeId::new(ring.point_owners()[lower_bound_wrap(pts, h)]));
            prop_assert_eq!(ring.route_hash(h), want, "h={}", h);
        }
    }

    /// Adding a node moves keys only to it.
    #[test]
    fn adding_moves_keys_only_to_the_new_node((nodes, vn) in membership(), w in 1u32..4, random in prop::collection::vec(any::<u64>(), 64)) {
        let before = build(&nodes, vn);
        let mut b = before.edit();
        b.add_node(Node::new("NEW").with_weight(w)).unwrap();
        let after = b.build().unwrap();
        for h in probes(&after, &random) {
            let (old, new) = (name_of(&before, before.route_hash(h)), name_of(&after, after.route_hash(h)));
            prop_assert!(old == new || new.as_deref() == Some("NEW"), "h={} {:?} -> {:?}", h, old, new);
        }
    }

    /// Removing a node moves only the keys it owned.
    #[test]
    fn removing_moves_only_its_keys((nodes, vn) in membership(), pick in any::<prop::sample::Index>(), random in prop::collection::vec(any::<u64>(), 64)) {
        let before = build(&nodes, vn);
        let gone = nodes[pick.index(nodes.len())].0.clone();
        let mut b = before.edit();
        b.remove_node(&gone).unwrap();
        let after = b.build().unwrap();
        for h in probes(&before, &random) {
            let (old, new) = (name_of(&before, before.route_hash(h)), name_of(&after, after.route_hash(h)));
            prop_assert!(old == new || old.as_deref() == Some(gone.as_str()), "h={} {:?} -> {:?}", h, old, new);
        }
    }

    /// Replicas are distinct, start with the primary, and number min(n, nodes owning points).
    #[test]
    fn replicas_are_distinct_and_start_with_the_primary((nodes, vn) in membership(), n in 0usize..15, random in prop::collection::vec(any::<u64>(), 32)) {
        let ring = build(&nodes, vn);
        let owning: HashSet<u32> = ring.point_owners().iter().copied().collect();
        let mut out = Vec::new();
        for h in probes(&ring, &random) {
            ring.replicas_hash_into(h, n, &mut out);
            prop_assert_eq!(out.len(), n.min(owning.len()));
            let set: HashSet<NodeId> = out.iter().copied().collect();
            prop_assert_eq!(set.len(), out.len());
            if n > 0 {
                prop_assert_eq!(out.first().copied(), ring.route_hash(h));
            }
        }
    }

    /// Replicas (the index's own slot walk for few replicas, a walk of the points for many) equal
    /// the first distinct owners of the reference walk, with some nodes down.
    #[test]
    fn replicas_equal_the_distinct_owners_of_the_walk((nodes, vn) in membership(), n in 0usize..40, down in prop::collection::vec(any::<bool>(), 8), random in prop::collection::vec(any::<u64>(), 32)) {
        let router = Router::from_snapshot(build(&nodes, vn));
        for (i, (name, _)) in nodes.iter().enumerate() {
            if down.get(i % 8) == Some(&true) && i % 3 == 0 {
                router.mark_down(name).unwrap();
            }
        }
        let ring = router.load();
        let mut out = Vec::new();
        for h in probes(&ring, &random) {
            ring.replicas_hash_into(h, n, &mut out);
            let mut want: Vec<NodeId> = Vec::new();
            for id in ring.walk_hash(h) {
                if want.len() == n {
                    break;
                }
                if !want.contains(&id) {
                    want.push(id);
                }
            }
            prop_assert_eq!(&out, &want);
        }
    }

    /// Incremental builds (merge changed nodes' points into the old order) equal a full build of the
    /// final membership, for any sequence of transactions.
    #[test]
    fn incremental_equals_full_build(
        (nodes, vn) in membership(),
        ops in prop::collection::vec((0u8..3, "[a-z]{1,6}", 0u32..4), 1..20),
        random in prop::collection::vec(any::<u64>(), 32),
    ) {
        let router = Router::from_snapshot(build(&nodes, vn));
        for chunk in ops.chunks(3) {
            let mut tx = router.transaction();
            for (op, name, w) in chunk {
                let _ = match op {
                    0 => tx.add_node(Node::new(name.as_str()).with_weight(*w)),
                    1 => tx.remove_node(name).map(drop),
                    _ => tx.set_weight(name, *w),
                };
            }
            tx.commit().unwrap();
        }
        let inc = router.load();
        let full = Snapshot::new(placement(vn), inc.nodes().cloned()).unwrap();
        prop_assert_eq!(inc.points(), full.points());
        prop_assert_eq!(inc.point_owners(), full.point_owners());
        prop_assert_eq!(inc.fingerprint(), full.fingerprint());
        // The incrementally updated search index answers as the freshly built one.
        for h in probes(&full, &random) {
            prop_assert_eq!(inc.route_hash(h), full.route_hash(h));
        }
    }

    /// The fingerprint depends on the membership, not on the order of a transaction's changes.
    #[test]
    fn fingerprint_ignores_change_order((nodes, vn) in membership(), seed in any::<u64>()) {
        let a = build(&nodes, vn);
        let mut shuffled = nodes.clone();
        // Deterministic shuffle from the seed.
        let mut s = seed | 1;
        for i in (1..shuffled.len()).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            shuffled.swap(i, (s % (i as u64 + 1)) as usize);
        }
        let b = build(&shuffled, vn);
        prop_assert_eq!(a.fingerprint(), b.fingerprint());
        // ... and it does change with a weight.
        let mut bumped = nodes.clone();
        bumped[0].1 += 1;
        prop_assert_ne!(a.fingerprint(), build(&bumped, vn).fingerprint());
    }

    /// A transaction that fails publishes nothing: the router keeps the old snapshot. (With a single
    /// node the same transaction re-adds the node it removed, so it must succeed and publish once.)
    #[test]
    fn failed_transaction_publishes_nothing((nodes, vn) in membership()) {
        let router = Router::from_snapshot(build(&nodes, vn));
        let before = router.load();
        // Upper case: never one of membership()'s names.
        let res = router.update(|tx| {
            tx.add_node(Node::new("FRESH"))?;
            tx.remove_node(&nodes[0].0)?;
            tx.add_node(Node::new(nodes[1 % nodes.len()].0.as_str()))?; // duplicate unless removed
            Ok(())
        });
        let after = router.load();
        if nodes.len() > 1 {
            prop_assert!(matches!(res, Err(Error::DuplicateNode { .. })), "{:?}", res);
            prop_assert_eq!(after.version(), before.version());
            prop_assert_eq!(after.fingerprint(), before.fingerprint());
            prop_assert!(!after.contains("FRESH"));
        } else {
            prop_assert!(res.is_ok(), "{:?}", res);
            prop_assert_eq!(after.version(), before.version() + 1);
            prop_assert!(after.contains("FRESH") && after.contains(&nodes[0].0));
            prop_assert_eq!(after.len(), 2);
        }
    }
}

/// A weight-3 node among nine weight-1 nodes gets about 3/(n+2) = 3/12 = 25% of 1M keys.
///
/// Tolerance, derived: with V virtual nodes per unit of weight the ring has M = 12·V points and the
/// heavy node m = 3·V of them. Treating point positions as uniform, its arc share is a sum of m of the
/// M spacings, Beta(m, M−m) distributed: sd = sqrt(p(1−p)/(M+1)) = sqrt(0.25·0.75/1537) ≈ 0.0110 for
/// V = 128. Sampling 1M keys adds sd = sqrt(p(1−p)/1e6) ≈ 0.0004. Over 20 different memberships
/// (name sets), each must fall within 5 combined sd (±0.055): a false failure has odds of about 1e-5
/// over the whole test. The mean over the 20 must fall within 5 sd of the mean (±0.0123).
#[test]
fn weight_three_node_gets_three_shares() {
    let keys = 1_000_000u64;
    let p = 0.25f64;
    let v = 128.0f64;
    let sd = (p * (1.0 - p) / (12.0 * v + 1.0) + p * (1.0 - p) / keys as f64).sqrt();
    let mut shares = Vec::new();
    for set in 0..20 {
        let mut nodes: Vec<Node> = (0..9).map(|i| Node::new(format!("s{set}-n{i}"))).collect();
        nodes.push(Node::new(format!("s{set}-heavy")).with_weight(3));
        let ring = Snapshot::new(Placement::native(), nodes).unwrap();
        let heavy = ring.id_of(&format!("s{set}-heavy")).unwrap();
        let hits = (0..keys)
            .filter(|i| ring.route_id(format!("key-{i}")) == Some(heavy))
            .count();
        let share = hits as f64 / keys as f64;
        assert!(
            (share - p).abs() < 5.0 * sd,
            "set {set}: share {share}, want {p} ± {}",
            5.0 * sd
        );
        shares.push(share);
    }
    let mean = shares.iter().sum::<f64>() / shares.len() as f64;
    assert!(
        (mean - p).abs() < 5.0 * sd / (shares.len() as f64).sqrt(),
        "mean share {mean}"
    );
}
