//! Op sequences on a [`Router`] against a model of the membership.
//!
//! The bytes choose a placement profile and then groups of changes (add, remove, re-weight, mark
//! down or up, the all-down policy), each group published in one transaction. After every
//! publication the snapshot is checked against the model and against the one before it:
//!
//! - its nodes, weights, order and health are the model's;
//! - every lookup is answered by a member that owns points, an up one whenever one is up (none
//!   under `AllDown::Fail` when every node with points is down), and replicas are distinct members
//!   led by that owner;
//! - its points are exactly those of a fresh build of the model's membership (incremental ==
//!   fresh);
//! - under a profile whose points depend on each node alone, a key whose owner changed moved from
//!   or to a node the group changed.
//!
//! A group the core refuses (a profile that cannot take a name, too many points) must publish
//! nothing, and the model keeps its state. Any failed check panics, which libFuzzer reports.

use std::collections::BTreeSet;

use ringroute::{AllDown, Node, Placement, Profile, Router, Snapshot};

use crate::input::Input;

/// Node names the ops draw from (valid `host:port` names for every profile).
const NAMES: usize = 12;

#[derive(Clone, Debug, PartialEq)]
struct Member {
    name: String,
    weight: u32,
    down: bool,
}

fn name(i: u32) -> String {
    format!("10.0.0.{i}:11211")
}

/// The placement the bytes choose: any profile, with a small number of virtual nodes (a prime
/// table size for Maglev).
fn placement(input: &mut Input<'_>) -> Placement {
    let profile = Profile::ALL[input.below(Profile::ALL.len() as u32) as usize];
    let vn = match profile {
        Profile::Maglev => [7, 13, 101, 251][input.below(4) as usize],
        Profile::Continuum => [1, 7, 22, 100, 1000][input.below(5) as usize],
        _ => 1 + input.below(40),
    };
    Placement::new(profile, Some(vn)).expect("valid virtual nodes")
}

/// The keys every snapshot is probed with: a few fixed ones and some the bytes give.
fn probes(input: &mut Input<'_>) -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = (0..24).map(|i| format!("key-{i}").into_bytes()).collect();
    for _ in 0..8 {
        keys.push(input.u64().to_le_bytes().to_vec());
    }
    keys
}

fn owner_name(snap: &Snapshot, key: &[u8]) -> Option<String> {
    snap.route(key).map(|n| n.name().to_owned())
}

/// Runs the op sequence the bytes describe; panics on the first broken invariant. Returns how many
/// groups were published and checked.
pub fn run(data: &[u8]) -> usize {
    let mut input = Input::new(data);
    let placement = placement(&mut input);
    let keys = probes(&mut input);
    let router = Router::new(placement);
    let mut model: Vec<Member> = Vec::new();
    let mut all_down = AllDown::default();
    let mut groups = 0;
    let mut published = 0;
    while !input.is_empty() && groups < 24 {
        groups += 1;
        let mut next = model.clone();
        let mut next_policy = all_down;
        let mut changed: BTreeSet<String> = BTreeSet::new();
        let mut ops: Vec<(u32, String, u32)> = Vec::new();
        for _ in 0..1 + input.below(6) {
            let op = input.below(8);
            let who = name(input.below(NAMES as u32));
            let w = input.below(6);
            let at = next.iter().position(|m| m.name == who);
            let op = match (op, at) {
                (0 | 1, None) => {
                    next.push(Member {
                        name: who.clone(),
                        weight: w,
                        down: false,
                    });
                    0
                }
                (0 | 1 | 3, Some(i)) => {
                    next[i].weight = w;
                    3
                }
                (2, Some(i)) => {
                    next.remove(i);
                    2
                }
                (4, Some(i)) => {
                    next[i].down = true;
                    4
                }
                (5, Some(i)) => {
                    next[i].down = false;
                    5
                }
                (7, _) => {
                    next_policy = if w.is_multiple_of(2) {
                        AllDown::Panic
                    } else {
                        AllDown::Fail
                    };
                    7
                }
                _ => continue, // a change of a node that is not there: skipped
            };
            changed.insert(who.clone());
            ops.push((op, who, w));
        }
        let before = router.load();
        let result = router.update(|tx| {
            for (op, who, w) in &ops {
                match op {
                    0 => tx.add_node(Node::new(who.as_str()).with_weight(*w))?,
                    2 => drop(tx.remove_node(who)?),
                    3 => tx.set_weight(who, *w)?,
                    4 => tx.mark_down(who)?,
                    5 => tx.mark_up(who)?,
                    _ => tx.set_all_down(next_policy),
                }
            }
            Ok(())
        });
        let after = router.load();
        match result {
            Err(_) => {
                assert_eq!(
                    after.version(),
                    before.version(),
                    "a refused group published"
                );
                continue;
            }
            Ok(published) => assert_eq!(published.version(), after.version()),
        }
        model = next;
        published += 1;
        let policy_changed = next_policy != all_down;
        all_down = next_policy;
        check(&after, &model, all_down, &keys);
        let local = !placement.profile().membership_dependent();
        if local && !policy_changed {
            for key in &keys {
                let (old, new) = (owner_name(&before, key), owner_name(&after, key));
                if old != new {
                    let touched =
                        |n: &Option<String>| n.as_ref().is_some_and(|n| changed.contains(n));
                    assert!(
                        touched(&old) || touched(&new) || old.is_none() || new.is_none(),
                        "{key:?} moved from {old:?} to {new:?}, neither changed by {ops:?}"
                    );
                }
            }
        }
    }
    published
}

/// Checks one snapshot against the model (see the module docs).
fn check(snap: &Snapshot, model: &[Member], all_down: AllDown, keys: &[Vec<u8>]) {
    let got: Vec<Member> = snap
        .nodes()
        .map(|n| Member {
            name: n.name().to_owned(),
            weight: n.weight(),
            down: !snap.is_up(snap.id_of(n.name()).expect("a node's own name")),
        })
        .collect();
    assert_eq!(got, model, "membership differs from the model");
    assert_eq!(snap.all_down(), all_down);

    let owners: BTreeSet<u32> = snap.point_owners().iter().copied().collect();
    let names: Vec<&str> = snap.nodes().map(|n| n.name()).collect();
    let any_up = owners.iter().any(|&o| !model[o as usize].down);
    for key in keys {
        let owner = snap.route_id(key);
        if snap.point_count() == 0 || (!any_up && all_down == AllDown::Fail) {
            assert_eq!(owner, None, "an answer without an owner");
            assert!(snap.replicas(key, 3).is_empty());
            continue;
        }
        let id = owner.expect("a ring with points answers every key");
        assert!(owners.contains(&id.get()), "owner {id:?} owns no point");
        if any_up {
            assert!(snap.is_up(id), "a down owner while a node is up");
        }
        let reps = snap.replicas(key, 3);
        assert_eq!(
            reps.first(),
            Some(&id),
            "replicas do not start with the owner"
        );
        let distinct: BTreeSet<_> = reps.iter().collect();
        assert_eq!(distinct.len(), reps.len(), "replicas repeat a node");
        assert!(reps.iter().all(|r| (r.index()) < names.len()));
    }

    // Incremental == fresh: the same points, owned by the same names.
    let fresh = Snapshot::new(
        snap.placement(),
        model
            .iter()
            .map(|m| Node::new(m.name.as_str()).with_weight(m.weight)),
    )
    .expect("the model's membership builds");
    assert_eq!(
        snap.points(),
        fresh.points(),
        "points differ from a fresh build"
    );
    assert_eq!(snap.point_lows(), fresh.point_lows());
    let fresh_names: Vec<&str> = fresh.nodes().map(|n| n.name()).collect();
    let by_name = |s: &[u32], n: &[&str]| -> Vec<String> {
        s.iter().map(|&o| n[o as usize].to_owned()).collect()
    };
    assert_eq!(
        by_name(snap.point_owners(), &names),
        by_name(fresh.point_owners(), &fresh_names),
        "owners differ from a fresh build"
    );
}
