//! The selections against pingora's `KetamaHashing` and ringroute's own snapshots, through
//! pingora's `BackendSelection` and `LoadBalancer` APIs.

use std::collections::{BTreeSet, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use pingora_load_balancing::selection::consistent::KetamaHashing;
use pingora_load_balancing::selection::{BackendIter, BackendSelection};
use pingora_load_balancing::{discovery, Backend, Backends, LoadBalancer};
use proptest::prelude::*;
use ringroute::{Node, Placement, Snapshot};
use ringroute_pingora::{Error, MaglevConfig, MaglevSelection, Ring, RingConfig, RingSelection};

fn backend(addr: SocketAddr, weight: usize) -> Backend {
    Backend {
        addr: pingora_core::protocols::l4::socket::SocketAddr::Inet(addr),
        weight,
        ext: Default::default(),
    }
}

fn addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<u32>(), any::<u16>())
            .prop_map(|(ip, p)| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), p)),
        (any::<u128>(), any::<u16>())
            .prop_map(|(ip, p)| SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), p)),
        (0u8..8, 8000u16..8004)
            .prop_map(|(d, p)| SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, d)), p)),
    ]
}

/// A backend set of distinct addresses, weights 1 to 5.
fn backends(max: usize) -> impl Strategy<Value = BTreeSet<Backend>> {
    prop::collection::vec((addr(), 1usize..6), 1..max).prop_map(|v| {
        let mut seen = HashSet::new();
        v.into_iter()
            .filter(|(a, _)| seen.insert(*a))
            .map(|(a, w)| backend(a, w))
            .collect()
    })
}

fn keys() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..100)
}

/// Whether the set's nginx points are all distinct: when two backends share a CRC-32 point,
/// nginx and pingora keep an unspecified one of them (an unstable sort), so only sets without
/// such a collision have one right answer.
fn no_collision(sel: &impl Ring, set: &BTreeSet<Backend>) -> bool {
    sel.snapshot().point_count() == set.iter().map(|b| 160 * b.weight).sum::<usize>()
}

/// A selection's iterator as a list (at most `n` items; pingora's walks never end).
fn walk<S: BackendSelection>(sel: &Arc<S>, key: &[u8], n: usize) -> Vec<Backend>
where
    S::Iter: BackendIter,
{
    let mut it = sel.iter(key);
    let mut out = Vec::new();
    while out.len() < n {
        match it.next() {
            Some(b) => out.push(b.clone()),
            None => break,
        }
    }
    out
}

/// The distinct backends of a walk, in order.
fn distinct(walk: Vec<Backend>) -> Vec<Backend> {
    let mut seen = HashSet::new();
    walk.into_iter()
        .filter(|b| seen.insert(b.addr.clone()))
        .collect()
}

fn lb<S: BackendSelection + 'static>(set: &BTreeSet<Backend>, config: S::Config) -> LoadBalancer<S>
where
    S::Iter: BackendIter,
{
    let lb = LoadBalancer::from_backends_with_config(
        Backends::new(discovery::Static::new(set.clone())),
        Some(config),
    );
    block_on(lb.update()).unwrap();
    lb
}

/// Runs a future that never waits (static discovery) to completion.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// The default profile picks KetamaHashing's backend for every key, and walks its distinct
    /// backends in KetamaHashing's order, each once, then ends.
    #[test]
    fn nginx_ring_is_ketama_hashing(set in backends(16), keys in keys()) {
        let ring = Arc::new(RingSelection::build(&set));
        prop_assume!(no_collision(&*ring, &set));
        let ketama = Arc::new(KetamaHashing::build(&set));
        let points: usize = set.iter().map(|b| 160 * b.weight).sum();
        for k in &keys {
            let ours = walk(&ring, k, set.len() + 1);
            prop_assert_eq!(ours.len(), set.len(), "each backend once, then the end");
            prop_assert_eq!(&ours[0], &walk(&ketama, k, 1)[0], "owner of {:?}", k);
            prop_assert_eq!(ours, distinct(walk(&ketama, k, points)), "walk of {:?}", k);
        }
    }

    /// Through `LoadBalancer::select`: with some backends disabled (not ready), both selections
    /// give the same first ready backend; ours needs at most as many iterations as there are
    /// backends.
    #[test]
    fn select_skips_unready_backends_as_ketama_does(
        set in backends(12),
        down in prop::collection::vec(any::<bool>(), 12),
        keys in keys(),
    ) {
        prop_assume!(no_collision(&RingSelection::build(&set), &set));
        let ring = lb::<RingSelection>(&set, RingConfig::default());
        let ketama = lb::<KetamaHashing>(&set, Default::default());
        let disabled: Vec<&Backend> = set.iter().zip(&down).filter(|(_, d)| **d).map(|(b, _)| b).collect();
        for b in &disabled {
            ring.backends().set_enable(b, false);
            ketama.backends().set_enable(b, false);
        }
        let all_down = disabled.len() == set.len();
        let points: usize = set.iter().map(|b| 160 * b.weight).sum();
        for k in &keys {
            let ours = ring.select(k, set.len());
            prop_assert_eq!(ours.is_none(), all_down);
            if let Some(b) = &ours {
                prop_assert!(!disabled.contains(&b));
            }
            // KetamaHashing's walk never ends: one full turn of its points sees every backend.
            prop_assert_eq!(ours, ketama.select(k, points), "key {:?}", k);
        }
    }

    /// A config rebuilt through a sequence of backend sets (pingora's rebuilds, each editing the
    /// last ring) routes every key as a fresh build and as KetamaHashing.
    #[test]
    fn rebuilds_route_as_fresh_builds(
        sets in prop::collection::vec(backends(10), 2..6),
        keys in keys(),
    ) {
        let config = RingConfig::default();
        for set in &sets {
            let rebuilt = Arc::new(RingSelection::build_with_config(set, &config));
            prop_assert!(config.last_error().is_none());
            let fresh = Arc::new(RingSelection::build(set));
            if !no_collision(&*fresh, set) {
                continue;
            }
            let ketama = Arc::new(KetamaHashing::build(set));
            for k in &keys {
                let ours = walk(&rebuilt, k, set.len());
                prop_assert_eq!(&ours, &walk(&fresh, k, set.len()));
                prop_assert_eq!(&ours[0], &walk(&ketama, k, 1)[0]);
            }
        }
    }

    /// Maglev: the key's backend is the Envoy table's (ringroute's Maglev snapshot of the same
    /// backends); the walk yields every backend once; rebuilds equal fresh builds.
    #[test]
    fn maglev_is_the_envoy_table(sets in prop::collection::vec(backends(10), 1..4), keys in keys()) {
        let config = MaglevConfig::new(1009).unwrap();
        for set in &sets {
            let sel = Arc::new(MaglevSelection::build_with_config(set, &config));
            let table = Snapshot::new(
                Placement::maglev(1009).unwrap(),
                set.iter().map(|b| Node::new(b.addr.to_string()).with_weight(b.weight as u32)),
            )
            .unwrap();
            for k in &keys {
                let ours = walk(&sel, k, set.len() + 1);
                prop_assert_eq!(ours.len(), set.len());
                prop_assert_eq!(distinct(ours.clone()).len(), set.len());
                prop_assert_eq!(ours[0].addr.to_string(), table.route(k).unwrap().name());
            }
        }
    }
}

#[test]
fn maglev_default_is_envoys_table_size() {
    let set: BTreeSet<Backend> = (0..3)
        .map(|i| backend(SocketAddr::from(([10, 0, 0, i], 80)), 1))
        .collect();
    let sel = MaglevSelection::build(&set);
    assert_eq!(sel.snapshot().point_count(), 65_537);
    assert!(MaglevConfig::new(65_536).is_err());
}

#[test]
fn a_weight_too_large_keeps_the_previous_backends() {
    let config = RingConfig::default();
    let good: BTreeSet<Backend> = (0..3)
        .map(|i| backend(SocketAddr::from(([10, 0, 0, i], 80)), 1))
        .collect();
    let first = Arc::new(RingSelection::build_with_config(&good, &config));
    assert!(config.last_error().is_none());
    let mut bad = good.clone();
    bad.insert(backend(
        SocketAddr::from(([10, 0, 0, 9], 80)),
        u32::MAX as usize + 1,
    ));
    let kept = Arc::new(RingSelection::build_with_config(&bad, &config));
    assert!(
        matches!(config.last_error(), Some(Error::WeightTooLarge { weight, .. }) if weight == u32::MAX as usize + 1)
    );
    assert_eq!(kept.snapshot().len(), 3);
    for i in 0..200 {
        let k = format!("k{i}");
        assert_eq!(walk(&first, k.as_bytes(), 3), walk(&kept, k.as_bytes(), 3));
    }
    // The next good set builds again and clears the error.
    let _ = RingSelection::build_with_config(&good, &config);
    assert!(config.last_error().is_none());
}

#[test]
fn an_empty_set_selects_nothing() {
    let sel = Arc::new(RingSelection::build(&BTreeSet::new()));
    assert!(sel.iter(b"k").next().is_none());
    let sel = Arc::new(MaglevSelection::build(&BTreeSet::new()));
    assert!(sel.iter(b"k").next().is_none());
}

fn set_of(n: usize) -> BTreeSet<Backend> {
    (0..n)
        .map(|i| backend(format!("10.9.0.{}:80", i + 1).parse().unwrap(), 1))
        .collect()
}

/// An iterator keeps its selection alive after every other reference is gone; a thread holds the
/// selection it iterated last (one reference, however many iterators it made), and lets it go
/// when it iterates a newer one, as pingora's rebuild makes.
fn holds_and_lets_go<S: BackendSelection + Ring + 'static>(first: S, second: S)
where
    S::Iter: BackendIter,
{
    let old = Arc::new(first);
    let weak = Arc::downgrade(&old);
    let mut its: Vec<S::Iter> = (0..5).map(|k| old.iter(&[k])).collect();
    assert_eq!(
        Arc::strong_count(&old),
        2,
        "one hold for the thread's iterators"
    );
    let want: Vec<Backend> = its
        .iter_mut()
        .map(|it| it.next().unwrap().clone())
        .collect();
    drop(old);
    // The iterators still walk the dropped selection.
    assert!(weak.upgrade().is_some());
    for it in &mut its {
        assert!(it.next().is_some());
    }
    drop(its);
    // The thread still holds it until it iterates another selection.
    assert!(weak.upgrade().is_some());
    let new = Arc::new(second);
    let mut it = new.iter(&[0]);
    assert!(it.next().is_some());
    assert!(weak.upgrade().is_none(), "the old selection was let go");
    assert_eq!(want.len(), 5);
    assert!(want.iter().all(|b| set_of(5).contains(b)));
    // Another thread's iterators hold on their own.
    let other = Arc::clone(&new);
    std::thread::spawn(move || {
        let mut it = other.iter(&[1]);
        assert!(it.next().is_some());
        assert_eq!(
            Arc::strong_count(&other),
            4,
            "this thread's hold, the other's, two Arcs"
        );
    })
    .join()
    .unwrap();
    assert_eq!(
        Arc::strong_count(&new),
        2,
        "the other thread's hold went with it"
    );
}

#[test]
fn iterators_hold_their_selection_and_threads_let_old_ones_go() {
    holds_and_lets_go(
        RingSelection::build(&set_of(5)),
        RingSelection::build(&set_of(6)),
    );
    holds_and_lets_go(
        MaglevSelection::build(&set_of(5)),
        MaglevSelection::build(&set_of(6)),
    );
}
