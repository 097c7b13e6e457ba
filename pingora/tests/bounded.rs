//! Bounded loads over pingora backends: the capacity rule at every pick, the walk order of the
//! overflow, leases across rebuilds, and health from pingora's health-check callback.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use pingora_load_balancing::selection::BackendSelection;
use pingora_load_balancing::Backend;
use proptest::prelude::*;
use ringroute_pingora::{BackendLease, Ring, RingConfig, RingSelection};

fn backend(i: usize, weight: usize) -> Backend {
    Backend {
        addr: pingora_core::protocols::l4::socket::SocketAddr::Inet(SocketAddr::from((
            [10, 0, 0, i as u8 + 1],
            80,
        ))),
        weight,
        ext: Default::default(),
    }
}

/// `ceil(factor · in_flight_after · w / W)`, the product grouped as ringroute computes it (so a
/// value on an integer rounds the same way).
fn cap(factor: f64, in_flight_after: u64, w: usize, total: usize) -> u64 {
    (factor * in_flight_after as f64 / total as f64 * w as f64).ceil() as u64
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Each pick goes to the first backend of the key's walk that holds fewer than
    /// `ceil(factor · (in_flight + 1) · w_i / W)` requests, and leaves it at or under that bound;
    /// releases give every count back.
    #[test]
    fn every_pick_keeps_the_bound(
        weights in prop::collection::vec(1usize..5, 2..8),
        factor in 1.05f64..3.0,
        ops in prop::collection::vec((0usize..4, any::<bool>()), 1..300),
    ) {
        let set: BTreeSet<Backend> = weights.iter().enumerate().map(|(i, &w)| backend(i, w)).collect();
        let config = RingConfig::default().with_bounded_loads(factor).unwrap();
        let sel = RingSelection::build_with_config(&set, &config);
        let snap = sel.snapshot();
        let bounded = config.bounded_loads().unwrap();
        let total: usize = weights.iter().sum();
        let mut leases: Vec<BackendLease> = Vec::new();
        for (key, release) in ops {
            if release && !leases.is_empty() {
                leases.swap_remove(key % leases.len()).release();
                continue;
            }
            let key = format!("key-{key}"); // four keys: hot ones
            let m = bounded.in_flight();
            let walk: Vec<Backend> = snap
                .replicas(&key, snap.len())
                .into_iter()
                .map(|id| snap.node(id).unwrap().payload_as::<Backend>().unwrap().clone())
                .collect();
            let room = |b: &Backend| bounded.load(b).unwrap() < cap(factor, m + 1, b.weight, total);
            let expected = walk.iter().find(|b| room(b)).expect("the capacities sum above m").clone();
            let lease = bounded.acquire(key.as_bytes()).unwrap();
            prop_assert_eq!(lease.backend(), &expected);
            prop_assert!(bounded.load(&expected).unwrap() <= cap(factor, m + 1, expected.weight, total));
            prop_assert_eq!(bounded.in_flight(), m + 1);
            leases.push(lease);
        }
        drop(leases);
        prop_assert_eq!(bounded.in_flight(), 0);
        for b in &set {
            prop_assert_eq!(bounded.load(b), Some(0));
        }
    }
}

#[test]
fn health_and_rebuilds_reach_the_picks() {
    let set: BTreeSet<Backend> = (0..4).map(|i| backend(i, 1)).collect();
    let config = RingConfig::default().with_bounded_loads(1.5).unwrap();
    let _ = RingSelection::build_with_config(&set, &config);
    let bounded = config.bounded_loads().unwrap();
    let owner = bounded.acquire(b"k").unwrap().backend().clone();

    // Down (as pingora's health check reports through the observer): never picked, and the
    // capacities are shares of the three others.
    bounded.set_healthy(&owner, false);
    let leases: Vec<_> = (0..30)
        .map(|i| bounded.acquire(format!("k{i}").as_bytes()).unwrap())
        .collect();
    assert!(leases.iter().all(|l| l.backend() != &owner));
    assert_eq!(bounded.capacity(&owner), Some(0));
    bounded.set_healthy(&owner, true);
    assert_eq!(bounded.acquire(b"k").unwrap().backend(), &owner);

    // A rebuild without a backend that holds leases: they still release.
    let held = leases[0].backend().clone();
    let fewer: BTreeSet<Backend> = set.iter().filter(|b| **b != held).cloned().collect();
    let _ = RingSelection::build_with_config(&fewer, &config);
    assert_eq!(bounded.load(&held), None);
    assert!((0..50).all(|i| bounded
        .acquire(format!("x{i}").as_bytes())
        .unwrap()
        .backend()
        != &held));
    assert_eq!(bounded.in_flight(), 30);
    drop(leases);
    assert_eq!(bounded.in_flight(), 0);
}

#[test]
fn a_bad_factor_is_refused() {
    for f in [1.0, 0.5, f64::NAN, f64::INFINITY] {
        assert!(RingConfig::default().with_bounded_loads(f).is_err(), "{f}");
    }
}
