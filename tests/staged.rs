//! Staged writes: checked when made, published together by the next read, never lost, never
//! reordered, never half published.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::thread;

use proptest::prelude::*;
use ringroute::{Error, Node, Placement, Router, Snapshot, MAX_POINTS};

/// A change, as the tests make it.
#[derive(Clone, Debug)]
enum Op {
    Add(u8, u32),
    Remove(u8),
    Weight(u8, u32),
    /// A read through `pin` (publishes what is staged).
    Pin,
    /// A transaction adding a node (publishes what is staged first).
    Tx(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..12, 0u32..4).prop_map(|(n, w)| Op::Add(n, w)),
        (0u8..12).prop_map(Op::Remove),
        (0u8..12, 0u32..4).prop_map(|(n, w)| Op::Weight(n, w)),
        Just(Op::Pin),
        (0u8..12).prop_map(Op::Tx),
    ]
}

fn name(n: u8) -> String {
    format!("node-{n}")
}

/// The membership a snapshot holds: name → weight.
fn members(s: &Snapshot) -> BTreeMap<String, u32> {
    s.nodes()
        .map(|n| (n.name().to_owned(), n.weight()))
        .collect()
}

/// The ring built afresh from `model`, in the router's insertion order.
fn fresh(placement: Placement, order: &[String], model: &BTreeMap<String, u32>) -> Snapshot {
    let nodes = order
        .iter()
        .filter_map(|n| model.get(n).map(|&w| Node::new(n.as_str()).with_weight(w)));
    Snapshot::new(placement, nodes).unwrap()
}

proptest! {
    /// Every read sees every change staged before it, in order, and its ring equals a fresh build
    /// of that membership; a read with nothing staged publishes nothing.
    #[test]
    fn reads_see_every_staged_change_in_order(ops in proptest::collection::vec(op(), 1..60)) {
        let placement = Placement::native();
        let router = Router::new(placement);
        let mut model: BTreeMap<String, u32> = BTreeMap::new();
        let mut order: Vec<String> = Vec::new();
        let mut staged = false;
        let mut version = 0;
        for op in ops {
            match op {
                Op::Add(n, w) => {
                    let added = router.stage_add_node(Node::new(name(n)).with_weight(w)).unwrap();
                    prop_assert_eq!(added, !model.contains_key(&name(n)));
                    if added {
                        model.insert(name(n), w);
                        order.push(name(n));
                        staged = true;
                    }
                }
                Op::Remove(n) => {
                    let removed = router.stage_remove_node(&name(n));
                    prop_assert_eq!(removed, model.remove(&name(n)).is_some());
                    if removed {
                        order.retain(|o| *o != name(n));
                        staged = true;
                    }
                }
                Op::Weight(n, w) => match model.get_mut(&name(n)) {
                    Some(weight) => {
                        router.stage_set_weight(&name(n), w).unwrap();
                        // Setting the weight a node has already changes nothing.
                        staged |= *weight != w;
                        *weight = w;
                    }
                    None => {
                        let unknown = matches!(
                            router.stage_set_weight(&name(n), w),
                            Err(Error::UnknownNode { .. })
                        );
                        prop_assert!(unknown);
                    }
                },
                Op::Pin => {
                    let snap = router.pin();
                    prop_assert_eq!(members(&snap), model.clone());
                    prop_assert_eq!(snap.fingerprint(), fresh(placement, &order, &model).fingerprint());
                    // One publication for everything staged, none when nothing was.
                    version += u64::from(staged);
                    prop_assert_eq!(snap.version(), version);
                    staged = false;
                }
                Op::Tx(n) => {
                    let mut tx = router.transaction();
                    let added = tx.add_node_if_absent(Node::new(name(n))).unwrap();
                    tx.commit().unwrap();
                    if added {
                        model.insert(name(n), 1);
                        order.push(name(n));
                    }
                    version += u64::from(staged) + u64::from(added);
                    staged = false;
                    let snap = router.pin();
                    prop_assert_eq!(members(&snap), model.clone());
                    prop_assert_eq!(snap.version(), version);
                }
            }
        }
        prop_assert_eq!(members(&router.load()), model);
    }
}

/// Staged changes that fail leave the staged ones as they were.
#[test]
fn a_failed_staged_change_stages_nothing() {
    let router = Router::new(Placement::native());
    router.stage_add_node(Node::new("a")).unwrap();
    // 2^20 × 128 points: within a node's weight limit, past the ring's points limit.
    let huge = Node::new("b").with_weight(1 << 20);
    assert!(matches!(
        router.stage_add_node(huge),
        Err(Error::TooManyPoints {
            limit: MAX_POINTS,
            ..
        })
    ));
    assert!(matches!(
        router.stage_set_weight("a", 1 << 20),
        Err(Error::TooManyPoints { .. })
    ));
    assert!(router.stage_add_node(Node::new("")).is_err());
    let snap = router.pin();
    assert_eq!(members(&snap), BTreeMap::from([("a".to_owned(), 1)]));
    assert_eq!(snap.version(), 1);
}

/// A change staged on one thread is seen by a read on another that starts after it returned,
/// through `pin`, `load` and a cached `Reader`.
#[test]
fn a_read_on_another_thread_sees_what_was_staged_before_it() {
    let router = Router::new(Placement::native());
    let (tx, rx) = mpsc::channel::<u32>();
    // The writer waits for each read to finish before its next change: name `i % 200` comes
    // round again, and a removal staged while the read runs would be seen, rightly.
    let (done, read) = mpsc::channel::<()>();
    let reader_router = router.clone();
    let reader = thread::spawn(move || {
        let mut cached = reader_router.reader();
        for i in rx {
            let want = name((i % 200) as u8);
            assert!(
                reader_router.pin().id_of(&want).is_some(),
                "pin missed {want}"
            );
            assert!(
                reader_router.load().id_of(&want).is_some(),
                "load missed {want}"
            );
            assert!(
                cached.snapshot().id_of(&want).is_some(),
                "reader missed {want}"
            );
            done.send(()).unwrap();
        }
    });
    for i in 0..400u32 {
        let n = name((i % 200) as u8);
        router.stage_remove_node(&n);
        router.stage_add_node(Node::new(n.as_str())).unwrap();
        tx.send(i).unwrap();
        read.recv().unwrap();
    }
    drop(tx);
    reader.join().unwrap();
}

/// Staged changes publish when read, not before; under a Maglev placement (whose table is checked
/// only by building it) at once.
#[test]
fn staged_changes_publish_when_read_and_maglev_at_once() {
    let router = Router::new(Placement::native());
    let events = router.subscribe();
    router.stage_add_node(Node::new("a")).unwrap();
    router.stage_add_node(Node::new("b")).unwrap();
    assert!(events.try_recv().is_err(), "published before any read");
    assert_eq!(router.version(), 1);
    let e = events.try_recv().unwrap();
    assert_eq!(e.added, vec!["a".to_owned(), "b".to_owned()]);
    assert_eq!(router.flush().version(), 1, "nothing more to publish");

    let maglev = Router::new(Placement::maglev(13).unwrap());
    let events = maglev.subscribe();
    maglev.stage_add_node(Node::new("a")).unwrap();
    assert_eq!(events.try_recv().unwrap().added, vec!["a".to_owned()]);
}

/// Changes that nothing reads publish now and then by themselves: the staged changes never hold
/// more removed nodes' holes than about twice the live nodes.
#[test]
fn unread_churn_stays_bounded() {
    let router = Router::new(Placement::native());
    for i in 0..10 {
        router.stage_add_node(Node::new(name(i))).unwrap();
    }
    let events = router.subscribe();
    for _ in 0..1_000 {
        router.stage_add_node(Node::new("extra")).unwrap();
        assert!(router.stage_remove_node("extra"));
    }
    let published = events.try_iter().count();
    assert!(
        (10..=40).contains(&published),
        "{published} publications for 2,000 unread changes"
    );
    let snap = router.pin();
    assert_eq!(snap.len(), 10);
    assert!(snap.id_of("extra").is_none());
}
