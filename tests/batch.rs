//! Batch lookups: every kernel the CPU has, on both layouts and under every profile, returns exactly
//! what the one-key-at-a-time lookups return.

use proptest::prelude::*;
use ringroute::{Error, Kernel, Layout, Node, Placement, Profile, Snapshot, NO_OWNER};

fn ring(profile: Profile, names: &[String], weights: &[u32], vn: Option<u32>) -> Option<Snapshot> {
    let placement = Placement::new(profile, vn).ok()?;
    Snapshot::new(
        placement,
        names
            .iter()
            .zip(weights)
            .map(|(n, &w)| Node::new(format!("{n}:11211")).with_weight(w)),
    )
    .ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn batches_equal_single_lookups(
        names in prop::collection::hash_set("[a-z]{1,8}", 1..20).prop_map(|s| s.into_iter().collect::<Vec<_>>()),
        weights in prop::collection::vec(0u32..4, 20),
        keys in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..70), 1..300),
        vn in prop::option::of(1u32..50),
    ) {
        for &profile in Profile::ALL {
            let Some(snap) = ring(profile, &names, &weights, vn) else { continue };
            // Positions worth probing: the keys' own, every point and its neighbours, the extremes.
            let mut hashes: Vec<u64> = keys.iter().map(|k| snap.key_hash(k)).collect();
            for &p in snap.points().iter().take(200) {
                hashes.extend([p, p.wrapping_sub(1), p.wrapping_add(1)]);
            }
            hashes.extend([0, u64::MAX]);
            let want_keys: Vec<u32> = keys.iter().map(|k| snap.route_id(k).map_or(NO_OWNER, |id| id.get())).collect();
            let want_hashes: Vec<u32> = hashes.iter().map(|&h| snap.route_hash(h).map_or(NO_OWNER, |id| id.get())).collect();
            for layout in [Layout::Radix, Layout::Eytzinger] {
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
    for kernel in Kernel::available() {
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
