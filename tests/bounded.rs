//! Bounded loads: property tests of the rule (each pick checked against a reference model of the
//! walk and the capacities), membership and health changes while leases are out, threads, errors.

mod common;
use common::{placement, router_with as router};

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};

use proptest::prelude::*;
use ringroute::{AllDown, BoundedLoad, Error, Lease, Node, NodeId, Placement, Profile, Router};

/// What `acquire(key)` must answer now, from the router's current snapshot and the counters: the
/// first node of the key's distinct walk with load below its capacity, else the least loaded one
/// (the first on a tie); `None` if the walk is empty. Also returns that node's capacity.
fn expected(router: &Router, bl: &BoundedLoad, key: &str) -> Option<(String, u64)> {
    let snap = router.load();
    let mut walk: Vec<NodeId> = Vec::new();
    for id in snap.walk_wide(snap.key_hash_wide(key)) {
        if !walk.contains(&id) {
            walk.push(id);
        }
    }
    let mut best: Option<(String, u64, u64)> = None;
    for id in walk {
        let name = snap.node(id).unwrap().name().to_owned();
        let load = bl.load(&name).unwrap();
        let cap = bl.capacity(&name).unwrap();
        if load < cap {
            return Some((name, cap));
        }
        if best.as_ref().is_none_or(|b| load < b.1) {
            best = Some((name, load, cap));
        }
    }
    best.map(|(n, _, c)| (n, c))
}

/// The capacity the rule gives, computed independently: `ceil(factor · (m + 1) · w / W)` over the
/// up nodes that own points (all owning nodes if none is up), 0 for the others; with the unrounded
/// value.
fn reference_capacity(router: &Router, factor: f64, in_flight: u64, name: &str) -> (u64, f64) {
    let snap = router.load();
    let owners: Vec<NodeId> = {
        let mut o: Vec<u32> = snap.point_owners().to_vec();
        o.sort_unstable();
        o.dedup();
        o.into_iter().map(NodeId::new).collect()
    };
    let any_up = owners.iter().any(|&id| snap.is_up(id));
    let visited = |id: NodeId| owners.contains(&id) && (!any_up || snap.is_up(id));
    let total: u64 = owners
        .iter()
        .filter(|&&id| visited(id))
        .map(|&id| u64::from(snap.node(id).unwrap().weight()))
        .sum();
    let id = snap.id_of(name).unwrap();
    if !visited(id) {
        return (0, 0.0);
    }
    let w = u64::from(snap.node(id).unwrap().weight());
    let x = factor * (in_flight + 1) as f64 * w as f64 / total as f64;
    (x.ceil() as u64, x)
}

/// One step of a property test's workload.
#[derive(Debug, Clone)]
enum Op {
    /// Acquire a lease for the key of this index.
    Acquire(usize),
    /// Release the held lease of this index (modulo the number held).
    Release(usize),
    /// Remove the node of this index (modulo), if present.
    Remove(usize),
    /// Add the node of this index back, if absent.
    Add(usize),
    /// Mark the node of this index down or up, if present.
    Health(usize, bool),
}

fn op(changes: bool) -> BoxedStrategy<Op> {
    let base = prop_oneof![
        6 => (0usize..64).prop_map(Op::Acquire),
        3 => any::<usize>().prop_map(Op::Release),
    ];
    if !changes {
        return base.boxed();
    }
    prop_oneof![
        9 => base,
        1 => any::<usize>().prop_map(Op::Remove),
        1 => any::<usize>().prop_map(Op::Add),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(i, d)| Op::Health(i, d)),
    ]
    .boxed()
}

/// A profile, a membership (distinct names, weights 0..=4), a balance factor, a small key pool
/// (so that keys repeat and owners fill up) and a workload.
#[allow(clippy::type_complexity)]
fn case(
    changes: bool,
) -> impl Strategy<
    Value = (
        Profile,
        u32,
        Vec<(String, u32)>,
        f64,
        AllDown,
        Vec<String>,
        Vec<Op>,
    ),
> {
    (
        prop::sample::select(Profile::ALL.to_vec()),
        4u32..24,
        prop::collection::hash_set("[a-z]{1,6}", 1..8),
        prop::collection::vec(0u32..=4, 8),
        prop_oneof![Just(1.0001), 1.01f64..3.0, Just(1.25), Just(2.0)],
        prop_oneof![Just(AllDown::Panic), Just(AllDown::Fail)],
        prop::collection::vec("[a-z0-9:]{0,10}", 1..12),
        prop::collection::vec(op(changes), 1..300),
    )
        .prop_map(
            |(profile, vn, names, weights, factor, all_down, keys, ops)| {
                let nodes = names.into_iter().zip(weights).collect();
                (profile, vn, nodes, factor, all_down, keys, ops)
            },
        )
}

/// Runs a workload single-threaded and checks every pick against the reference model: a key lands
/// on its owner while the owner has room, else on the first node of its walk with room, else on
/// the least loaded; the picked node's load never exceeds its capacity at the time it was picked;
/// loads and the total match the leases held, across membership and health changes.
#[allow(clippy::too_many_arguments)]
fn run_model(
    profile: Profile,
    vn: u32,
    nodes: &[(String, u32)],
    factor: f64,
    all_down: AllDown,
    keys: &[String],
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let router = router(placement(profile, vn), nodes);
    router
        .update(|tx| {
            tx.set_all_down(all_down);
            Ok(())
        })
        .unwrap();
    let bl = BoundedLoad::new(router.clone(), factor).unwrap();
    // Each name's incarnation: a removed and re-added node counts from a new counter.
    let mut incarnation: HashMap<String, u32> = HashMap::new();
    let mut held: Vec<(Lease<'_>, u32)> = Vec::new();
    for op in ops {
        match *op {
            Op::Acquire(k) => {
                let key = &keys[k % keys.len()];
                let owner = router.load().route(key).map(|n| n.name().to_owned());
                let owner_room = owner.as_ref().map(|o| {
                    (
                        bl.load(o).unwrap(),
                        bl.capacity(o).unwrap(),
                        reference_capacity(&router, factor, bl.in_flight(), o),
                    )
                });
                let want = expected(&router, &bl, key);
                let lease = bl.acquire(key.as_bytes());
                match (&lease, &want) {
                    (None, None) => continue,
                    (Some(l), Some((name, cap))) => {
                        prop_assert_eq!(l.node(), name.as_str());
                        prop_assert_eq!(l.version(), router.version());
                        let snap = router.load();
                        prop_assert_eq!(snap.node(l.node_id()).unwrap().name(), l.node());
                        // Never above the capacity it had when it was picked (one thread: the
                        // capacities always leave a node with room).
                        prop_assert!(bl.load(name).unwrap() <= *cap, "{} over {}", name, cap);
                    }
                    _ => prop_assert!(false, "acquire gave {:?}, expected {:?}", lease, want),
                }
                let lease = lease.unwrap();
                if let (Some(o), Some((load, cap, (ref_cap, x)))) = (&owner, owner_room) {
                    // The capacity is the rule's (unless the value is within rounding of an
                    // integer, where the two computations may round differently).
                    if (x - x.round()).abs() > 1e-9 {
                        prop_assert_eq!(cap, ref_cap);
                    }
                    // A key lands on its owner exactly while the owner has room.
                    prop_assert_eq!(lease.node() == o, load < cap);
                }
                let inc = *incarnation.get(lease.node()).unwrap_or(&0);
                held.push((lease, inc));
            }
            Op::Release(i) => {
                if !held.is_empty() {
                    let (lease, _) = held.swap_remove(i % held.len());
                    if i % 2 == 0 {
                        lease.release();
                    } else {
                        drop(lease);
                    }
                }
            }
            Op::Remove(i) => {
                let (name, _) = &nodes[i % nodes.len()];
                if router.load().contains(name) {
                    router.remove_node(name).unwrap();
                    *incarnation.entry(name.clone()).or_default() += 1;
                }
            }
            Op::Add(i) => {
                let (name, w) = &nodes[i % nodes.len()];
                if !router.load().contains(name) {
                    router
                        .add_node(Node::new(name.as_str()).with_weight(*w))
                        .unwrap();
                }
            }
            Op::Health(i, down) => {
                let (name, _) = &nodes[i % nodes.len()];
                if router.load().contains(name) {
                    if down {
                        router.mark_down(name).unwrap();
                    } else {
                        router.mark_up(name).unwrap();
                    }
                }
            }
        }
        // Counts: the total is every lease held; a node's load is its current incarnation's leases.
        prop_assert_eq!(bl.in_flight(), held.len() as u64);
        let loads = bl.loads();
        prop_assert_eq!(loads.len(), router.load().len());
        for (name, load) in loads {
            let inc = *incarnation.get(&*name).unwrap_or(&0);
            let want = held
                .iter()
                .filter(|(l, i)| l.node() == &*name && *i == inc)
                .count() as u64;
            prop_assert_eq!(load, want, "load of {}", name);
        }
    }
    drop(held);
    prop_assert_eq!(bl.in_flight(), 0);
    prop_assert!(bl.loads().iter().all(|(_, n)| *n == 0));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// A fixed membership: every pick as the reference model says.
    #[test]
    fn picks_follow_the_rule((profile, vn, nodes, factor, all_down, keys, ops) in case(false)) {
        run_model(profile, vn, &nodes, factor, all_down, &keys, &ops)?;
    }

    /// Membership and health changes between picks, leases held across them.
    #[test]
    fn picks_follow_the_rule_across_changes(
        (profile, vn, nodes, factor, all_down, keys, ops) in case(true)
    ) {
        run_model(profile, vn, &nodes, factor, all_down, &keys, &ops)?;
    }
}

fn ring(n: usize) -> Router {
    let nodes: Vec<(String, u32)> = (0..n).map(|i| (format!("node-{i}"), 1)).collect();
    router(Placement::native(), &nodes)
}

#[test]
fn bad_factors_are_errors() {
    let router = ring(3);
    for factor in [
        1.0,
        0.5,
        0.0,
        -2.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ] {
        let err = BoundedLoad::new(router.clone(), factor).unwrap_err();
        assert!(
            matches!(err, Error::BadBalanceFactor { factor: f } if f.to_bits() == factor.to_bits()),
            "{err:?}"
        );
        assert!(err.to_string().contains("balance factor"), "{err}");
    }
    assert_eq!(router.version(), 1, "a bad factor changes nothing");
    assert_eq!(
        BoundedLoad::new(router, 1.0000001).unwrap().factor(),
        1.0000001
    );
}

#[test]
fn empty_ring_and_all_down() {
    let router = Router::new(Placement::native());
    let bl = BoundedLoad::new(router.clone(), 1.25).unwrap();
    assert!(bl.acquire("k").is_none());
    assert_eq!(bl.in_flight(), 0);
    assert!(bl.loads().is_empty());
    assert_eq!(bl.load("a"), None);
    assert_eq!(bl.capacity("a"), None);

    router.add_node(Node::new("a")).unwrap();
    router.add_node(Node::new("b")).unwrap();
    let lease = bl.acquire("k").unwrap();
    router.mark_down("a").unwrap();
    router.mark_down("b").unwrap();
    // Panic (the default): routes as if every node were up.
    let panic = bl.acquire("k2").unwrap();
    assert!(["a", "b"].contains(&panic.node()));
    router
        .update(|tx| {
            tx.set_all_down(AllDown::Fail);
            Ok(())
        })
        .unwrap();
    assert!(bl.acquire("k3").is_none());
    assert_eq!(bl.in_flight(), 2);
    drop((lease, panic));
    assert_eq!(bl.in_flight(), 0);
    assert_eq!(bl.load("a"), Some(0));
}

#[test]
fn a_down_node_takes_nothing_and_keeps_its_count() {
    let router = ring(4);
    let bl = BoundedLoad::new(router.clone(), 1.25).unwrap();
    let leases: Vec<_> = (0..40)
        .map(|i| bl.acquire(format!("k{i}")).unwrap())
        .collect();
    let victim = leases[0].node().to_owned();
    let before = bl.load(&victim).unwrap();
    assert!(before > 0);
    router.mark_down(&victim).unwrap();
    assert_eq!(bl.capacity(&victim), Some(0));
    assert_eq!(bl.load(&victim), Some(before), "its leases still count");
    let more: Vec<_> = (0..40)
        .map(|i| bl.acquire(format!("j{i}")).unwrap())
        .collect();
    assert!(more.iter().all(|l| l.node() != victim));
    assert_eq!(bl.load(&victim), Some(before));
    router.mark_up(&victim).unwrap();
    drop(leases);
    drop(more);
    assert_eq!(bl.in_flight(), 0);
    assert!(bl.loads().iter().all(|(_, n)| *n == 0));
}

#[test]
fn removing_a_node_with_leases_out() {
    let router = ring(3);
    let bl = BoundedLoad::new(router.clone(), 1.5).unwrap();
    let leases: Vec<_> = (0..30)
        .map(|i| bl.acquire(format!("k{i}")).unwrap())
        .collect();
    let victim = leases[0].node().to_owned();
    let on_victim = leases.iter().filter(|l| l.node() == victim).count() as u64;
    let survivor = leases.iter().find(|l| l.node() != victim).unwrap();
    let survivor_name = survivor.node().to_owned();
    let survivor_load = bl.load(&survivor_name).unwrap();

    // Ids renumber: the survivors keep their counters by name.
    router.remove_node(&victim).unwrap();
    assert_eq!(bl.load(&victim), None);
    assert_eq!(bl.load(&survivor_name), Some(survivor_load));
    assert_eq!(bl.in_flight(), 30, "the removed node's leases still count");
    let snap = router.load();
    for l in &leases {
        if l.node() != victim {
            assert_eq!(l.version(), 1);
            assert!(snap.contains(l.node()));
        }
    }

    // Re-added while its old leases are out: a fresh counter, which the old leases never touch.
    router.add_node(Node::new(victim.as_str())).unwrap();
    assert_eq!(bl.load(&victim), Some(0));
    let fresh: Vec<_> = (0..30)
        .map(|i| bl.acquire(format!("new{i}")).unwrap())
        .collect();
    let fresh_on_victim = fresh.iter().filter(|l| l.node() == victim).count() as u64;
    assert_eq!(bl.load(&victim), Some(fresh_on_victim));
    drop(leases);
    assert_eq!(bl.load(&victim), Some(fresh_on_victim));
    assert_eq!(bl.in_flight(), 30);
    assert!(on_victim > 0);
    drop(fresh);
    assert_eq!(bl.in_flight(), 0);
    assert!(bl.loads().iter().all(|(_, n)| *n == 0));
}

#[test]
fn weights_scale_capacities() {
    let router = router(
        Placement::native(),
        &[("small".into(), 1), ("big".into(), 3), ("off".into(), 0)],
    );
    let bl = BoundedLoad::new(router, 1.25).unwrap();
    assert_eq!(bl.capacity("off"), Some(0));
    let leases: Vec<_> = (0..400)
        .map(|i| bl.acquire(format!("k{}", i % 7)).unwrap())
        .collect();
    assert_eq!(bl.load("off"), Some(0));
    // Each node ends within its capacity at the last pick: ceil(1.25 · 400 · w / 4).
    assert!(bl.load("small").unwrap() <= 125);
    assert!(bl.load("big").unwrap() <= 375);
    assert_eq!(bl.load("small").unwrap() + bl.load("big").unwrap(), 400);
    drop(leases);
}

/// Threads acquire and release while a writer changes the membership and health: no panic, no
/// underflow (debug builds assert it), and every count is back to 0 once every lease is gone.
#[test]
fn threads_release_everything() {
    const THREADS: usize = 4;
    let router = ring(8);
    let bl = BoundedLoad::new(router.clone(), 1.25).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(THREADS + 1));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (bl, barrier) = (bl.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                let mut held = std::collections::VecDeque::new();
                for i in 0..20_000u64 {
                    let key = format!("t{t}-k{}", i % 97);
                    let lease = if i % 3 == 0 {
                        bl.acquire_owned(&key)
                    } else {
                        bl.acquire(&key).map(|l| {
                            // A borrowed lease, released at once, or an owned one kept a while.
                            drop(l);
                            bl.acquire_owned(&key).unwrap()
                        })
                    };
                    held.push_back(lease.expect("the ring never empties"));
                    if held.len() > 16 {
                        held.pop_front();
                    }
                }
                held
            })
        })
        .collect();
    let writer = {
        let (router, stop, barrier) = (router.clone(), Arc::clone(&stop), Arc::clone(&barrier));
        std::thread::spawn(move || {
            barrier.wait();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let name = format!("node-{}", i % 8);
                router.remove_node(&name).unwrap();
                router.add_node(Node::new(name.as_str())).unwrap();
                router.mark_down(&format!("node-{}", (i + 3) % 8)).unwrap();
                router.mark_up(&format!("node-{}", (i + 3) % 8)).unwrap();
                i += 1;
                std::thread::yield_now();
            }
            i
        })
    };
    let held: Vec<_> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    stop.store(true, Ordering::Relaxed);
    let changes = writer.join().unwrap();
    assert!(changes > 0);
    let out: usize = held.iter().map(|h| h.len()).sum();
    assert_eq!(bl.in_flight(), out as u64);
    drop(held);
    assert_eq!(bl.in_flight(), 0);
    let loads = bl.loads();
    assert_eq!(loads.len(), 8);
    assert!(loads.iter().all(|(_, n)| *n == 0), "{loads:?}");
}
