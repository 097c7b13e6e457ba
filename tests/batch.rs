//! Batch lookups: every kernel the CPU has, on both layouts and under every profile, returns exactly
//! what the one-key-at-a-time lookups return. The tests that run "every kernel the CPU has" say on
//! stderr which kernels ran and which this CPU could not test.

use std::io::Write;

use proptest::prelude::*;
use ringroute::{Error, Kernel, Layout, Node, Placement, Profile, Snapshot, NO_OWNER};

fn ring(profile: Profile, names: &[String], weights: &[u32], vn: Option<u32>) -> Snapshot {
    // Maglev's number is its table size, a prime: small ones keep the walks short.
    let vn = match profile {
        Profile::Maglev => vn.map(|v| [7, 13, 101, 251, 1009][v as usize % 5]),
        _ => vn,
    };
    let placement = Placement::new(profile, vn).unwrap();
    Snapshot::new(
        placement,
        names
            .iter()
            .zip(weights)
            .map(|(n, &w)| Node::new(format!("{n}:11211")).with_weight(w)),
    )
    .unwrap_or_else(|e| panic!("{profile}: {e}"))
}

/// The kernels this CPU has, after saying once on stderr which ones `test` runs and which it leaves
/// untested. Written straight to stderr: the harness captures `eprintln!` of passing tests, and a
/// kernel that was not tested must not pass unseen.
fn kernels_for(test: &str) -> Vec<Kernel> {
    let ran = Kernel::available();
    // The two plain-Rust kernels run on any CPU; without them nothing here is tested at all.
    assert!(
        ran.contains(&Kernel::Scalar) && ran.contains(&Kernel::Portable),
        "{test}: available kernels {ran:?} lack scalar or portable"
    );
    let names = |ks: &[Kernel]| ks.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ");
    let not: Vec<Kernel> = Kernel::ALL
        .into_iter()
        .filter(|k| !k.is_available())
        .collect();
    let _ = writeln!(
        std::io::stderr(),
        "{test}: batch kernels run: {}; NOT tested (this CPU lacks them): {}",
        names(&ran),
        if not.is_empty() {
            "none".to_owned()
        } else {
            names(&not)
        }
    );
    ran
}

#[test]
fn batches_equal_single_lookups() {
    kernels_for("batches_equal_single_lookups");
    batches_equal_single_lookups_for_every_kernel();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The property behind [`batches_equal_single_lookups`] (which first says which kernels run),
    /// for every kernel the CPU has.
    fn batches_equal_single_lookups_for_every_kernel(
        names in prop::collection::hash_set("[a-z]{1,8}", 1..20).prop_map(|s| s.into_iter().collect::<Vec<_>>()),
        weights in prop::collection::vec(0u32..4, 20),
        keys in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..70), 1..300),
        vn in prop::option::of(1u32..50),
    ) {
        for &profile in Profile::ALL {
            let snap = ring(profile, &names, &weights, vn);
            // Positions worth probing: the keys' own, every point and its neighbours, the extremes.
            let mut hashes: Vec<u64> = keys.iter().map(|k| snap.key_hash(k)).collect();
            for &p in snap.points().iter().take(200) {
                hashes.extend([p, p.wrapping_sub(1), p.wrapping_add(1)]);
            }
            hashes.extend([0, u64::MAX]);
            let want_keys: Vec<u32> = keys.iter().map(|k| snap.route_id(k).map_or(NO_OWNER, |id| id.get())).collect();
            let want_hashes: Vec<u32> = hashes.iter().map(|&h| snap.route_hash(h).map_or(NO_OWNER, |id| id.get())).collect();
            // Maglev has one layout, its table (empty: a ring without points, searched by radix).
            let layouts = match profile {
                Profile::Maglev if snap.point_count() > 0 => vec![Layout::Table],
                _ => vec![Layout::Radix, Layout::Eytzinger],
            };
            for layout in layouts {
                let s = snap.with_layout(layout).unwrap();
                prop_assert_eq!(s.layout(), layout);
                for kernel in Kernel::available() {
                    let mut out = vec![0u32; keys.len()];
                    s.route_batch_with(kernel, &keys, &mut out).unwrap();
                    prop_assert_eq!(&out, &want_keys, "{} {:?} {}", profile, layout, kernel);
                    let mut out = vec![0u32; hashes.len()];
                    s.route_hash_batch_with(kernel, &hashes, &mut out).unwrap();
                    prop_assert_eq!(&out, &want_hashes, "{} {:?} {}", profile, layout, kernel);
                }
            }
        }
    }
}

#[test]
fn default_layout_is_radix_for_small_rings() {
    let s = Snapshot::new(
        Placement::native(),
        (0..10).map(|i| Node::new(format!("n{i}"))),
    )
    .unwrap();
    assert_eq!(s.layout(), Layout::Radix);
}

#[test]
fn large_memberships_fall_back_to_eytzinger_and_agree() {
    // 70,000 nodes do not fit the radix layout's 16-bit owner field.
    let placement = Placement::from_name("native", Some(1)).unwrap();
    let s = Snapshot::new(placement, (0..70_000).map(|i| Node::new(format!("n{i}")))).unwrap();
    assert_eq!(s.layout(), Layout::Eytzinger);
    assert!(s.with_layout(Layout::Radix).is_none());
    let keys: Vec<String> = (0..5000).map(|i| format!("key-{i}")).collect();
    let want: Vec<u32> = keys.iter().map(|k| s.route_id(k).unwrap().get()).collect();
    for kernel in kernels_for("large_memberships_fall_back_to_eytzinger_and_agree") {
        let mut out = vec![0u32; keys.len()];
        s.route_batch_with(kernel, &keys, &mut out).unwrap();
        assert_eq!(out, want, "{kernel}");
    }
}

#[test]
fn batch_errors_and_empty_rings() {
    let s = Snapshot::new(Placement::native(), [Node::new("a")]).unwrap();
    let mut out = [0u32; 2];
    assert_eq!(
        s.route_batch(&["x"], &mut out),
        Err(Error::BatchLength { keys: 1, out: 2 })
    );
    assert!(s.route_hash_batch(&[1, 2, 3], &mut out).is_err());
    for kernel in Kernel::ALL {
        let r = s.route_hash_batch_with(kernel, &[1, 2], &mut out);
        assert_eq!(r.is_ok(), kernel.is_available(), "{kernel}");
    }
    let empty = Snapshot::empty(Placement::native());
    let mut out = [7u32; 2];
    empty.route_batch(&["x", "y"], &mut out).unwrap();
    assert_eq!(out, [NO_OWNER; 2]);
    let drained = Snapshot::new(Placement::native(), [Node::new("a").with_weight(0)]).unwrap();
    drained.route_hash_batch(&[5, 6], &mut out).unwrap();
    assert_eq!(out, [NO_OWNER; 2]);
}
