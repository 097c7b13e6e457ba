//! Loom models of the real publication code (`src/router.rs`, and the bounded-load counters of
//! `src/bounded/`, through `src/sync.rs`, with crossbeam-epoch itself running on loom's atomics).
//!
//! Run with:
//! `RUSTFLAGS="--cfg loom --cfg crossbeam_loom" cargo test --release --test loom`
//! (`scripts/test-all` does, with `LOOM_MAX_PREEMPTIONS=2`).
//!
//! Each snapshot of generation `g` holds exactly one node, `v{g}`, whose payload is a tracker that
//! records when it is dropped. A node's payload is dropped exactly when the last snapshot holding it
//! is freed, so "tracker g dropped" means "snapshot g freed".
#![cfg(loom)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use loom::thread;
use ringroute::{BoundedLoad, Node, Placement, Router, Snapshot};

const GENS: usize = 3;

// The trackers' bookkeeping is plain `std` state, not loom's: a tracker may be dropped after the
// execution that made it has ended (when loom tears down crossbeam's collector), where loom state
// cannot be touched. Loom runs one thread at a time, so a drop that happens before a reader's check
// in some interleaving is seen by that check.
static FREED: [AtomicBool; GENS] = [const { AtomicBool::new(false) }; GENS];
static CREATED: AtomicUsize = AtomicUsize::new(0);
static DROPPED: AtomicUsize = AtomicUsize::new(0);
/// The models share the statics above, so they run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

struct Tracker {
    gen: usize,
}

impl Drop for Tracker {
    fn drop(&mut self) {
        FREED[self.gen].store(true, Ordering::SeqCst);
        DROPPED.fetch_add(1, Ordering::SeqCst);
    }
}

fn node(gen: usize) -> Node {
    CREATED.fetch_add(1, Ordering::SeqCst);
    Node::new(format!("v{gen}")).with_payload(std::sync::Arc::new(Tracker { gen }))
}

fn freed(gen: usize) -> bool {
    FREED[gen].load(Ordering::SeqCst)
}

/// Runs `f` as a loom model; afterwards (every execution torn down, crossbeam's collector included)
/// every tracker ever made has been dropped: no snapshot leaked.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    CREATED.store(0, Ordering::SeqCst);
    DROPPED.store(0, Ordering::SeqCst);
    loom::model(move || {
        for flag in &FREED {
            flag.store(false, Ordering::SeqCst);
        }
        f();
    });
    let (c, d) = (
        CREATED.load(Ordering::SeqCst),
        DROPPED.load(Ordering::SeqCst),
    );
    assert!(c > 0);
    assert_eq!(c, d, "{} snapshots (trackers) never freed", c - d);
}

fn placement() -> Placement {
    Placement::from_name("native", Some(2)).unwrap()
}

/// The reader's view must be one whole snapshot, not yet freed, while it is held.
fn check(snap: &Snapshot) -> u64 {
    // Plain memory reads are not scheduling points for loom: yield so that the other threads may run
    // (publish, retire, collect) between taking the snapshot and using it.
    thread::yield_now();
    let v = snap.version() as usize;
    assert!(!freed(v), "snapshot {v} freed while read");
    thread::yield_now();
    assert_eq!(snap.len(), 1);
    let want = format!("v{v}");
    assert_eq!(snap.nodes().next().unwrap().name(), want);
    assert_eq!(snap.route("some key").unwrap().name(), want);
    assert_eq!(snap.point_count(), 2);
    assert!(!freed(v), "snapshot {v} freed while read");
    v as u64
}

fn publish_next(router: &Router, gen: usize) {
    let snap = router
        .update(|tx| {
            tx.remove_node(&format!("v{}", gen - 1))?;
            tx.add_node(node(gen))
        })
        .unwrap();
    assert_eq!(snap.version(), gen as u64);
}

fn new_router() -> Router {
    Router::from_snapshot(Snapshot::new(placement(), [node(0)]).unwrap())
}

/// How a reader takes the current snapshot.
#[derive(Clone, Copy)]
enum Read {
    Pin,
    Load,
    Cached,
}

/// A reader racing a writer that publishes one snapshot sees a complete snapshot (old or new), not
/// freed while it holds it, and a second read never goes back in version. The current snapshot is
/// freed when the router goes, and the retired one by the time the collector is torn down
/// (`model` checks that no tracker is left).
fn reader_races_publication(how: Read) {
    model(move || {
        let router = new_router();
        let writer = {
            let router = router.clone();
            thread::spawn(move || publish_next(&router, 1))
        };
        let (first, second) = match how {
            Read::Pin => (check(&router.pin()), check(&router.pin())),
            Read::Load => (check(&router.load()), check(&router.load())),
            Read::Cached => {
                let mut cached = router.reader();
                (check(cached.snapshot()), check(cached.snapshot()))
            }
        };
        assert!(second >= first);
        writer.join().unwrap();
        router.reclaim();
        assert!(!freed(1), "current snapshot freed");
        drop(router);
        assert!(freed(1), "current snapshot not freed with the router");
    });
}

#[test]
fn pinned_reader_races_publication() {
    reader_races_publication(Read::Pin);
}

#[test]
fn loading_reader_races_publication() {
    reader_races_publication(Read::Load);
}

#[test]
fn cached_reader_races_publication() {
    reader_races_publication(Read::Cached);
}

/// Two publications in a row while a reader pins: it sees generation 0, 1 or 2, whole.
#[test]
fn reader_races_two_publications() {
    model(|| {
        let router = new_router();
        let writer = {
            let router = router.clone();
            thread::spawn(move || {
                for gen in 1..GENS {
                    publish_next(&router, gen);
                }
            })
        };
        check(&router.pin());
        writer.join().unwrap();
        drop(router);
        assert!(
            freed(GENS - 1),
            "current snapshot not freed with the router"
        );
    });
}

/// A snapshot kept past its guard (`Router::load`) outlives later publications and reclamation.
#[test]
fn loaded_snapshot_outlives_publication() {
    model(|| {
        let router = new_router();
        let held = router.load();
        let writer = {
            let router = router.clone();
            thread::spawn(move || publish_next(&router, 1))
        };
        let pinned = router.pin();
        let seen = check(&pinned);
        writer.join().unwrap();
        assert_eq!(check(&pinned), seen);
        drop(pinned);
        router.reclaim();
        router.reclaim();
        assert_eq!(check(&held), 0);
        assert_eq!(check(&router.pin()), 1);
    });
}

/// Two writers are serialised: both transactions land, one after the other, each publishing exactly
/// one snapshot; a concurrent reader sees 1, 3 or 5 nodes, never a partial transaction.
#[test]
fn writers_are_serialised() {
    loom::model(|| {
        let router = Router::new(placement());
        router.add_node(Node::new("base")).unwrap();
        let writers: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|w| {
                let router = router.clone();
                thread::spawn(move || {
                    router
                        .update(|tx| {
                            tx.add_node(Node::new(format!("{w}1")))?;
                            tx.add_node(Node::new(format!("{w}2")))
                        })
                        .unwrap()
                        .version()
                })
            })
            .collect();
        {
            let s = router.pin();
            assert!(
                matches!(s.len(), 1 | 3 | 5),
                "partial transaction: {} nodes",
                s.len()
            );
            assert_eq!(s.len() as u64, 1 + 2 * (s.version() - 1));
        }
        let mut versions: Vec<u64> = writers.into_iter().map(|w| w.join().unwrap()).collect();
        versions.sort_unstable();
        assert_eq!(versions, vec![2, 3]);
        let s = router.load();
        assert_eq!(s.len(), 5);
        assert_eq!(s.version(), 3);
    });
}

/// A health flip races a reader and a membership writer: the flip and the transaction are
/// serialised, each publishing one snapshot; the reader sees a whole health state (the flip's node
/// down and every key on the other node, or every node up), and the flip survives the transaction.
#[test]
fn health_flip_races_reader_and_writer() {
    loom::model(|| {
        let router = Router::new(placement());
        router
            .update(|tx| {
                tx.add_node(Node::new("a"))?;
                tx.add_node(Node::new("b"))
            })
            .unwrap();
        let flipper = {
            let router = router.clone();
            thread::spawn(move || router.mark_down("a").unwrap().version())
        };
        let writer = {
            let router = router.clone();
            thread::spawn(move || router.add_node(Node::new("c")).unwrap().version())
        };
        {
            let s = router.pin();
            thread::yield_now();
            let a = s.id_of("a").unwrap();
            let owners: Vec<&str> = ["k1", "k2", "k3", "k4"]
                .iter()
                .map(|k| s.route(k).unwrap().name())
                .collect();
            if s.is_up(a) {
                assert_eq!(s.down_count(), 0);
            } else {
                assert_eq!(s.down_count(), 1);
                assert!(owners.iter().all(|&o| o != "a"), "a down node answered");
            }
        }
        let mut versions = vec![flipper.join().unwrap(), writer.join().unwrap()];
        versions.sort_unstable();
        assert_eq!(versions, vec![2, 3]);
        let s = router.load();
        assert_eq!(s.len(), 3);
        assert!(!s.is_up(s.id_of("a").unwrap()), "the flip was lost");
    });
}

// Bounded loads (`src/bounded/`): the counter table behind its epoch pointer, and the slots whose
// lease count is their reference count.

fn bounded_router() -> Router {
    let router = Router::new(placement());
    router
        .update(|tx| {
            tx.add_node(Node::new("a"))?;
            tx.add_node(Node::new("b"))
        })
        .unwrap();
    router
}

/// Two threads acquire the same key while a lease is out on its owner, with room for one more:
/// exactly one lands on the owner (each counts its lease there and learns the load before it in
/// one step, so they cannot both see the last place free), and the owner ends at its capacity;
/// once every lease is released, every count is 0. (The release races an acquire in the next
/// model.)
#[test]
fn bounded_acquires_race() {
    loom::model(|| {
        let router = bounded_router();
        // 2 nodes of weight 1, factor 1.25: with m leases out a node may hold ceil(1.25 (m + 1) / 2).
        let bl = BoundedLoad::new(router.clone(), 1.25).unwrap();
        let held = bl.acquire("k").unwrap();
        let owner = held.node().to_owned();
        assert_eq!(bl.capacity(&owner), Some(2)); // room for exactly one more
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let bl = bl.clone();
                thread::spawn(move || bl.acquire_owned("k").unwrap())
            })
            .collect();
        let leases: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        // m <= 2 at each pick: the owner's capacity was at most ceil(1.25 · 3 / 2) = 2, so the
        // thread whose count saw 1 lease before it fits there, and the one that saw 2 does not.
        let on_owner = leases.iter().filter(|l| l.node() == owner).count();
        assert_eq!(on_owner, 1);
        assert_eq!(bl.load(&owner), Some(1 + on_owner as u64));
        assert_eq!(bl.in_flight(), 3);
        drop(leases);
        drop(held);
        assert_eq!(bl.in_flight(), 0);
        assert!(bl.loads().iter().all(|(_, n)| *n == 0));
    });
}

/// A lease on a node that a writer removes meanwhile: the next acquire makes the next table, the
/// lease's release races it, and nothing underflows or is freed twice; every count ends at 0.
#[test]
fn bounded_lease_outlives_its_node() {
    loom::model(|| {
        let router = bounded_router();
        let bl = BoundedLoad::new(router.clone(), 2.0).unwrap();
        let lease = bl.acquire("k").unwrap();
        let gone = lease.node().to_owned();
        let writer = {
            let (router, bl, gone) = (router.clone(), bl.clone(), gone.clone());
            thread::spawn(move || {
                router.remove_node(&gone).unwrap();
                let other = bl.acquire("k").unwrap();
                assert_ne!(other.node(), gone);
                drop(other);
                assert_eq!(bl.load(&gone), None);
            })
        };
        thread::yield_now();
        drop(lease);
        writer.join().unwrap();
        assert_eq!(bl.in_flight(), 0);
        let loads = bl.loads();
        assert_eq!(loads.len(), 1);
        assert!(loads.iter().all(|(_, n)| *n == 0));
        router.reclaim();
    });
}

/// A lease taken by a thread that owns its stripe (counted with a plain store) is handed to another
/// thread and released there (counted with `fetch_add`), while a third thread sums the total: the
/// sum never sees the release without the lease (the stripe's count would go below 0, which the
/// model checks), and is never more than the one lease.
#[test]
fn bounded_lease_handed_over() {
    loom::model(|| {
        let router = bounded_router();
        let bl = BoundedLoad::new(router.clone(), 2.0).unwrap();
        // Model thread 1 owns stripe 1; thread 2 shares stripe 0 with the main thread.
        let taker = {
            let bl = bl.clone();
            thread::spawn(move || bl.acquire_owned("k").unwrap())
        };
        let reader = {
            let bl = bl.clone();
            thread::spawn(move || assert!(bl.in_flight() <= 1))
        };
        let lease = taker.join().unwrap();
        drop(lease);
        reader.join().unwrap();
        assert_eq!(bl.in_flight(), 0);
        assert!(bl.loads().iter().all(|(_, n)| *n == 0));
        router.reclaim();
    });
}

/// The membership of a snapshot in the staged model: generation 0 holds `v0`, generation 1 (the
/// one publication of the staged change) `v0` and `v1`.
fn staged_view(snap: &Snapshot) -> u64 {
    thread::yield_now();
    let v = snap.version();
    let names: Vec<&str> = snap.nodes().map(|n| n.name()).collect();
    match v {
        0 => assert_eq!(names, ["v0"]),
        1 => assert_eq!(names, ["v0", "v1"]),
        _ => panic!("version {v}: the staged change published more than once"),
    }
    v
}

/// A staged change races a reader: it sees the old snapshot or the one publication of the staged
/// change (made by whichever of the two publishes it first: its read, or a later read), whole, and
/// a second read never goes back; once the writer is joined, every read sees it. Nothing leaks
/// (`model`).
#[test]
fn staged_change_races_a_reader() {
    model(|| {
        let router = new_router();
        let writer = {
            let router = router.clone();
            thread::spawn(move || {
                assert!(router.stage_add_node(node(1)).unwrap());
            })
        };
        let first = staged_view(&router.pin());
        let second = staged_view(&router.load());
        assert!(first <= second);
        writer.join().unwrap();
        assert_eq!(staged_view(&router.pin()), 1);
        assert_eq!(staged_view(router.reader().snapshot()), 1);
    });
}
