//! The incremental path against fresh builds: for each kind of ring, changes that must take the
//! page merge do (a paged ring's pages then sit in more than one chunk; a flat ring's slot ids
//! then differ from its node ids, which a fresh build's never do), and give exactly the ring a
//! fresh build of the same membership gives.

use crate::placement::Profile;
use crate::search::Index;
use crate::{Builder, Node, Placement, Snapshot};

/// A fresh build of `snap`'s nodes, in id (insertion) order.
fn fresh_of(snap: &Snapshot) -> Snapshot {
    let mut b = Builder::new(snap.placement());
    for n in snap.nodes() {
        b.add_node(n.clone()).unwrap();
    }
    b.build().unwrap()
}

/// `snap` came from the page merge and is the ring a fresh build gives: points, owners, shadowed
/// points and low bits, and the owner and 3 replicas of `keys` keys.
fn check(snap: &Snapshot, keys: usize, what: &str) {
    let Index::Radix(radix) = &snap.ring.index else {
        panic!("{what}: a radix ring");
    };
    let merged = if radix.is_flat() {
        radix.translates_slots()
    } else {
        radix.chunk_count() > 1
    };
    assert!(merged, "{what}: the incremental path ran");
    let fresh = fresh_of(snap);
    assert_eq!(snap.points(), fresh.points(), "{what}");
    assert_eq!(snap.point_owners(), fresh.point_owners(), "{what}");
    assert_eq!(snap.ring.shadowed, fresh.ring.shadowed, "{what}");
    assert_eq!(snap.ring.lows, fresh.ring.lows, "{what}");
    for k in 0..keys {
        let key = format!("key-{k}");
        assert_eq!(snap.route_id(&key), fresh.route_id(&key), "{what}: {key}");
        assert_eq!(
            snap.replicas(&key, 3),
            fresh.replicas(&key, 3),
            "{what}: {key}"
        );
    }
}

/// Rounds of one removal far from the end of the insertion order, one addition and one
/// re-weighting, on a ring of `nodes` nodes (at least 300 are paged, 60 flat) of `profile`; each
/// round checked.
fn rounds_in_the_middle(profile: Profile, nodes: usize) -> Snapshot {
    let placement = Placement::new(profile, None).unwrap();
    let names: Vec<String> = (0..nodes).map(|i| format!("node-{i}")).collect();
    let mut snap = Snapshot::new(placement, names.iter().map(|n| Node::new(n.as_str()))).unwrap();
    let mut live = names;
    for (round, gone) in [17usize, 150, 3, 280, 42].into_iter().enumerate() {
        let gone = gone % (nodes - round);
        let mut b = snap.edit();
        b.remove_node(&live[gone]).unwrap();
        live.remove(gone);
        let added = format!("new-{round}");
        b.add_node(Node::new(added.as_str()).with_weight(2))
            .unwrap();
        live.push(added);
        b.set_weight(&live[10], round as u32 + 2).unwrap();
        snap = b.build().unwrap();
        check(&snap, 2000, &format!("{profile:?} round {round}"));
    }
    snap
}

/// A change in the middle of the insertion order shares pages with the old ring, its slot ids
/// differ from its node ids, and it routes every key as a ring built afresh does.
#[test]
fn a_change_in_the_middle_shares_pages_and_routes_as_a_fresh_build() {
    let snap = rounds_in_the_middle(Profile::Native, 300);
    let Index::Radix(radix) = &snap.ring.index else {
        panic!("a radix ring");
    };
    assert!(radix.translates_slots());
    assert!(!radix.is_flat());
}

/// The same on a ring small enough to be flat: every round takes the flat merge.
#[test]
fn a_change_to_a_flat_ring_merges_and_routes_as_a_fresh_build() {
    for profile in [Profile::Native, Profile::Uhashring, Profile::Nginx] {
        let snap = rounds_in_the_middle(profile, 60);
        let Index::Radix(radix) = &snap.ring.index else {
            panic!("a radix ring");
        };
        assert!(radix.is_flat(), "{profile:?}");
    }
}

/// A flat ring's directory holds its ranks in 16 bits: a publication up to `u16::MAX` points stays
/// flat, one past it is built afresh (paged), and both route as a fresh build does.
#[test]
fn flat_rings_stay_flat_up_to_the_directorys_ranks() {
    let placement = Placement::new(Profile::Native, Some(256)).unwrap();
    let one = Snapshot::new(placement, [Node::new("a").with_weight(128)]).unwrap();
    let is_flat = |s: &Snapshot| matches!(&s.ring.index, Index::Radix(r) if r.is_flat());
    assert!(is_flat(&one));
    for (weight, flat) in [(127u32, true), (128, false)] {
        let mut b = one.edit();
        b.add_node(Node::new("b").with_weight(weight)).unwrap();
        let next = b.build().unwrap();
        assert_eq!(next.points().len(), 256 * (128 + weight as usize));
        assert_eq!(is_flat(&next), flat, "weight {weight}");
        let fresh = fresh_of(&next);
        assert_eq!(next.points(), fresh.points());
        assert_eq!(next.point_owners(), fresh.point_owners());
        for k in 0..2000 {
            let key = format!("key-{k}");
            assert_eq!(next.route_id(&key), fresh.route_id(&key), "{key}");
        }
    }
}

/// A flat ring published again and again writes its next arrays into those of a ring that went
/// before it (the lineage's spares, which the allocator cannot hand out meanwhile), and every ring
/// made so routes as a fresh build does.
#[test]
fn flat_publications_reuse_the_arrays_of_rings_gone_and_match_a_fresh_build() {
    let address = |snap: &Snapshot| match &snap.ring.index {
        Index::Radix(r) if r.is_flat() => r.flat_address(),
        _ => panic!("a flat radix ring"),
    };
    let names: Vec<String> = (0..40).map(|i| format!("node-{i}")).collect();
    let mut snap = Snapshot::new(
        Placement::native(),
        names.iter().map(|n| Node::new(n.as_str())),
    )
    .unwrap();
    for round in 0..12 {
        let victim = &names[(round * 7) % names.len()];
        for add in [false, true] {
            let mut b = snap.edit();
            if add {
                b.add_node(Node::new(victim.as_str())).unwrap();
            } else {
                b.remove_node(victim).unwrap();
            }
            // The ring before is held while the next is made, then goes: its arrays are spares.
            let gone = address(&snap);
            snap = b.build().unwrap();
            assert_ne!(address(&snap), gone);
            // The next publication (made and dropped here: the removal of another node, whose
            // arrays are the same size) takes them.
            let mut b = snap.edit();
            b.remove_node(&names[(round * 7 + 3) % names.len()])
                .unwrap();
            let next = b.build().unwrap();
            assert_eq!(
                address(&next),
                gone,
                "round {round}: the gone ring's arrays reused"
            );
        }
        if round % 4 == 3 {
            check(&snap, 2000, &format!("round {round}"));
        }
    }
}

/// The uhashring profile's 128-bit points take the page merge too (their low 64 bits merged
/// beside it).
#[test]
fn wide_changes_take_the_page_merge_and_match_a_fresh_build() {
    rounds_in_the_middle(Profile::Uhashring, 600);
}

/// nginx keeps the point of the node added first where points meet (equal 32-bit CRCs, some tens
/// in a ring of 3,000 nodes). Changes that make shadowed points come back, make a re-added node's
/// points lose, evict a staying node's point and re-weight a node in a collision all take the
/// page merge and give the ring a fresh build gives.
#[test]
fn meeting_points_take_the_page_merge_and_match_a_fresh_build() {
    let placement = Placement::new(Profile::Nginx, None).unwrap();
    let names: Vec<String> = (0..3000)
        .map(|i| format!("10.1.{}.{}:80", i / 250, i % 250))
        .collect();
    let mut snap = Snapshot::new(placement, names.iter().map(|n| Node::new(n.as_str()))).unwrap();
    let shadowed = snap.ring.shadowed.clone();
    assert!(
        shadowed.len() >= 5,
        "collisions to work with: {}",
        shadowed.len()
    );
    // (winner, loser) names of a few collisions.
    let name = |snap: &Snapshot, id: u32| snap.nodes().nth(id as usize).unwrap().name.to_string();
    let pairs: Vec<(String, String)> = shadowed
        .iter()
        .take(6)
        .map(|&(p, _, loser)| {
            let r = snap.ring.rank_at_or_after(p).unwrap();
            assert_eq!(snap.ring.position(r), p);
            (name(&snap, snap.ring.owner(r)), name(&snap, loser))
        })
        .collect();
    let change = |snap: &Snapshot, f: &dyn Fn(&mut Builder)| {
        let mut b = snap.edit();
        f(&mut b);
        b.build().unwrap()
    };
    for (i, (winner, loser)) in pairs.iter().enumerate() {
        // The winner leaves: the loser's point comes back.
        snap = change(&snap, &|b| {
            b.remove_node(winner).unwrap();
        });
        check(&snap, 200, &format!("{i}: {winner} left"));
        // It comes back, added last: now it loses, shadowed.
        snap = change(&snap, &|b| {
            b.add_node(Node::new(winner.as_str())).unwrap();
        });
        check(&snap, 200, &format!("{i}: {winner} back"));
        // The loser is re-weighted: its points are made afresh, all of them losing or not.
        snap = change(&snap, &|b| {
            b.set_weight(loser, 2).unwrap();
        });
        check(&snap, 200, &format!("{i}: {loser} re-weighted"));
        // The loser leaves and comes back, now after the winner: the winner keeps the place.
        snap = change(&snap, &|b| {
            b.remove_node(loser).unwrap();
            b.add_node(Node::new(loser.as_str())).unwrap();
        });
        check(&snap, 200, &format!("{i}: {loser} re-added"));
    }
    // One change of several nodes, collisions among them.
    snap = change(&snap, &|b| {
        for (winner, loser) in pairs.iter().take(3) {
            b.remove_node(winner).unwrap();
            b.remove_node(loser).unwrap();
        }
        for (winner, loser) in pairs.iter().take(3) {
            b.add_node(Node::new(loser.as_str())).unwrap();
            b.add_node(Node::new(winner.as_str())).unwrap();
        }
    });
    check(&snap, 2000, "several at once");
}

/// A page's slots hold slot ids below its pages' bits (`2^10` in a table of `2^15` buckets): a ring
/// of 1000 nodes of 40 points is paged, and a change that adds nodes past 1024 slot ids is not
/// merged but built afresh, in a table twice as large (pages half as full, whose slot ids reach
/// `2^11`), as a fresh build of that many nodes is. That sparser ring then takes the page merge
/// like any other, and routes as a fresh build does.
#[test]
fn slot_ids_past_the_page_bits_are_built_afresh_in_a_sparser_table() {
    let placement = Placement::new(Profile::Native, Some(40)).unwrap();
    let names: Vec<String> = (0..1000).map(|i| format!("node-{i}")).collect();
    let snap = Snapshot::new(placement, names.iter().map(|n| Node::new(n.as_str()))).unwrap();
    let Index::Radix(radix) = &snap.ring.index else {
        panic!("a radix ring");
    };
    assert!(!radix.is_flat());
    assert_eq!(radix.pages(), 1 << 10);
    radix.check();
    // Within the bound: merged.
    let mut b = snap.edit();
    b.add_node(Node::new("within")).unwrap();
    let within = b.build().unwrap();
    check(&within, 2000, "a slot id within the bound");
    // Past it: built afresh, twice the pages, and the same as a fresh build.
    let mut b = within.edit();
    for i in 0..30 {
        b.add_node(Node::new(format!("past-{i}"))).unwrap();
    }
    let past = b.build().unwrap();
    assert_eq!(past.nodes().count(), 1031);
    let Index::Radix(radix) = &past.ring.index else {
        panic!("a radix ring past the bound");
    };
    assert_eq!((radix.pages(), radix.chunk_count()), (1 << 11, 1));
    radix.check();
    let fresh = fresh_of(&past);
    let Index::Radix(fresh_radix) = &fresh.ring.index else {
        panic!("a fresh radix ring");
    };
    assert_eq!(fresh_radix.pages(), 1 << 11);
    assert_eq!(past.points(), fresh.points());
    assert_eq!(past.point_owners(), fresh.point_owners());
    for k in 0..2000 {
        let key = format!("key-{k}");
        assert_eq!(past.route_id(&key), fresh.route_id(&key), "{key}");
    }
    // The sparse ring's publications merge, and keep its table while a fresh build would.
    let mut snap = past;
    for round in 0..3 {
        let mut b = snap.edit();
        b.remove_node(&format!("node-{}", 100 + round)).unwrap();
        b.add_node(Node::new(format!("later-{round}"))).unwrap();
        snap = b.build().unwrap();
        check(&snap, 2000, "a change of the sparse ring");
        let Index::Radix(radix) = &snap.ring.index else {
            panic!("a radix ring");
        };
        assert_eq!(radix.pages(), 1 << 11);
        radix.check();
    }
}

/// Rings of so few points a node that their slot ids would need more than eight times their pages
/// (2 points a node of 20,000 nodes: 2^10 pages, slot ids to 2^15) take the Eytzinger layout, and
/// route as the reference lower bound does; at 8 points a node (5000 nodes: 2^10 pages at the
/// points' density, 2^13 slot ids) the table is eight times sparser and paged.
#[test]
fn rings_of_few_points_a_node_are_paged_sparser_down_to_eight_points_a_node() {
    let ring_of = |nodes: usize, points: u32| {
        let placement = Placement::new(Profile::Native, Some(points)).unwrap();
        Snapshot::new(placement, (0..nodes).map(|i| Node::new(format!("n-{i}")))).unwrap()
    };
    let eight = ring_of(5000, 8);
    let Index::Radix(radix) = &eight.ring.index else {
        panic!("8 points a node: a radix ring");
    };
    assert!(!radix.is_flat());
    assert_eq!(radix.pages(), 1 << 13);
    radix.check();
    let two = ring_of(20_000, 2);
    assert!(matches!(two.ring.index, Index::Eytzinger(_)));
    for snap in [&eight, &two] {
        let (points, owners) = (snap.points(), snap.point_owners());
        for k in 0..3000 {
            let key = format!("key-{k}");
            let x = snap.placement().search_from(snap.key_hash(&key));
            let r = points.partition_point(|&p| p < x) % points.len();
            let want = owners[r] as usize;
            assert_eq!(
                snap.route_id(&key).map(|id| id.index()),
                Some(want),
                "{key}"
            );
        }
    }
}

/// `snap` answers as a fresh build of its nodes does: points, owners, every kernel's batch, and
/// for `keys` keys the owner and 3 replicas, with the nodes `down` marked down in both; its index
/// keeps every invariant.
fn same_as_fresh(snap: &Snapshot, down: &[String], keys: usize, what: &str) {
    let Index::Radix(radix) = &snap.ring.index else {
        panic!("{what}: a radix ring");
    };
    radix.check();
    let mut b = Builder::new(snap.placement());
    for n in snap.nodes() {
        b.add_node(n.clone()).unwrap();
    }
    let mut marked = snap.edit();
    for name in down {
        b.mark_down(name).unwrap();
        marked.mark_down(name).unwrap();
    }
    let (snap, fresh) = (marked.build().unwrap(), b.build().unwrap());
    assert_eq!(snap.points(), fresh.points(), "{what}");
    assert_eq!(snap.point_owners(), fresh.point_owners(), "{what}");
    assert_eq!(snap.point_count(), fresh.point_count(), "{what}");
    let names: Vec<String> = (0..keys).map(|k| format!("key-{k}")).collect();
    let mut batch = vec![0u32; keys];
    snap.route_batch(&names, &mut batch).unwrap();
    for (key, &got) in names.iter().zip(&batch) {
        let want = fresh.route_id(key);
        assert_eq!(snap.route_id(key), want, "{what}: {key}");
        assert_eq!(
            Some(got as usize),
            want.map(|id| id.index()),
            "{what}: batch {key}"
        );
        assert_eq!(
            snap.replicas(key, 3),
            fresh.replicas(key, 3),
            "{what}: {key}"
        );
        let pos = snap.key_hash_wide(key);
        assert_eq!(snap.owner_rank(pos), fresh.owner_rank(pos), "{what}: {key}");
    }
}

/// A node removed from a flat ring stays as stand-ins (no point moves), and added back takes its
/// own stand-ins over: the ring is then the one it was before the removal, slot for slot. A
/// different node added meanwhile keeps the stand-ins where they are among the points.
#[test]
fn a_flat_ring_removes_in_place_and_takes_a_node_back_in_place() {
    let placement = Placement::new(Profile::Native, Some(160)).unwrap();
    let names: Vec<String> = (0..100).map(|i| format!("node-{i}")).collect();
    let start = Snapshot::new(placement, names.iter().map(|n| Node::new(n.as_str()))).unwrap();
    let stand_ins = |snap: &Snapshot| match &snap.ring.index {
        Index::Radix(r) if r.is_flat() => r.stand_ins(),
        _ => panic!("a flat ring"),
    };
    let mut b = start.edit();
    b.remove_node("node-37").unwrap();
    let removed = b.build().unwrap();
    assert_eq!(stand_ins(&removed), 160);
    assert_eq!(removed.point_count(), 99 * 160);
    same_as_fresh(&removed, &[], 2000, "removed");
    let neighbours: Vec<String> = [35, 36, 38, 39].map(|i| names[i].clone()).to_vec();
    same_as_fresh(&removed, &neighbours, 2000, "removed, neighbours down");
    let mut b = removed.edit();
    b.add_node(Node::new("node-37")).unwrap();
    let back = b.build().unwrap();
    assert_eq!(stand_ins(&back), 0);
    same_as_fresh(&back, &[], 2000, "added back");
    let (Index::Radix(a), Index::Radix(z)) = (&start.ring.index, &back.ring.index) else {
        panic!("radix rings");
    };
    assert_eq!(
        a.page_words(),
        z.page_words(),
        "the same ring, slot for slot"
    );
    // A node never seen before is added through the merge of runs, which moves the stand-ins
    // with the points around them.
    let mut b = removed.edit();
    b.add_node(Node::new("another")).unwrap();
    let other = b.build().unwrap();
    assert_eq!(stand_ins(&other), 160);
    assert_eq!(other.point_count(), 100 * 160);
    same_as_fresh(&other, &[], 2000, "another added");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// Any sequence of removals, nodes added back, new nodes and re-weightings on a flat ring
    /// (stand-ins made, taken over, dropped when the arrays are written afresh, and never more
    /// than one slot in 16) answers as a fresh build does after every step, with and without
    /// nodes down.
    #[test]
    fn flat_rings_with_stand_ins_answer_as_fresh_builds(
        points in 20u32..200,
        ops in proptest::collection::vec((0u8..4, 0usize..1000), 1..14),
    ) {
        let placement = Placement::new(Profile::Native, Some(points)).unwrap();
        let mut live: Vec<String> = (0..40).map(|i| format!("node-{i}")).collect();
        let mut gone: Vec<String> = Vec::new();
        let mut snap = Snapshot::new(placement, live.iter().map(|n| Node::new(n.as_str()))).unwrap();
        for (step, &(op, pick)) in ops.iter().enumerate() {
            let mut b = snap.edit();
            match op {
                0 | 1 if live.len() > 2 => {
                    let name = live.remove(pick % live.len());
                    b.remove_node(&name).unwrap();
                    gone.push(name);
                }
                2 if !gone.is_empty() => {
                    let name = gone.remove(pick % gone.len());
                    b.add_node(Node::new(name.as_str())).unwrap();
                    live.push(name);
                }
                3 => {
                    let name = live[pick % live.len()].clone();
                    b.remove_node(&name).unwrap();
                    b.add_node(Node::new(name.as_str()).with_weight(2)).unwrap();
                }
                _ => {
                    let name = format!("new-{step}");
                    b.add_node(Node::new(name.as_str())).unwrap();
                    live.push(name);
                }
            }
            snap = b.build().unwrap();
            let Index::Radix(radix) = &snap.ring.index else {
                panic!("a radix ring");
            };
            if radix.is_flat() {
                let slots = snap.point_count() + radix.stand_ins();
                proptest::prop_assert!(radix.stand_ins() * 16 <= slots);
            }
            let what = format!("step {step}");
            same_as_fresh(&snap, &[], 300, &what);
            let down: Vec<String> = live.iter().step_by(3).cloned().collect();
            same_as_fresh(&snap, &down, 300, &format!("{what}, a third down"));
        }
    }
}
