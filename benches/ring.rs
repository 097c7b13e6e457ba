//! Criterion benches of the core engine: single lookups with the snapshot held, membership changes,
//! building a ring, and health (flips, lookups with nodes down).
//!
//! `cargo bench --bench ring` (add `-- --quick` for a fast pass).

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ringroute::{Node, Placement, Router, Snapshot};

const SIZES: [usize; 3] = [100, 1000, 10_000];
const KEYS: usize = 4096;

fn nodes(n: usize) -> Vec<Node> {
    (0..n)
        .map(|i| Node::new(format!("10.0.{}.{}:11211", i / 256, i % 256)))
        .collect()
}

fn lookup(c: &mut Criterion) {
    let keys = common::keys(KEYS);
    let mut g = c.benchmark_group("lookup_single");
    g.throughput(Throughput::Elements(KEYS as u64));
    for n in SIZES {
        let router = Router::from_snapshot(Snapshot::new(Placement::native(), nodes(n)).unwrap());
        g.bench_function(format!("str_key/{n}_nodes"), |b| {
            let snap = router.pin();
            b.iter(|| {
                for k in &keys {
                    black_box(snap.route_id(black_box(k.as_bytes())));
                }
            })
        });
        let hashes: Vec<u64> = keys.iter().map(|k| router.pin().key_hash(k)).collect();
        g.bench_function(format!("u64_hash/{n}_nodes"), |b| {
            let snap = router.pin();
            b.iter(|| {
                for &h in &hashes {
                    black_box(snap.route_hash(black_box(h)));
                }
            })
        });
        g.bench_function(format!("reader_str_key/{n}_nodes"), |b| {
            let mut reader = router.reader();
            b.iter(|| {
                for k in &keys {
                    black_box(reader.snapshot().route_id(black_box(k.as_bytes())));
                }
            })
        });
    }
    g.finish();
}

fn membership(c: &mut Criterion) {
    let mut g = c.benchmark_group("membership");
    g.measurement_time(Duration::from_secs(3));
    for n in [100, 1000] {
        let base = Snapshot::new(Placement::native(), nodes(n)).unwrap();
        g.bench_function(format!("add_one_and_publish/{n}_nodes"), |b| {
            b.iter_batched(
                || Router::from_snapshot(base.edit().build().unwrap()),
                |router| {
                    router.add_node(Node::new("new-node")).unwrap();
                    router
                },
                BatchSize::LargeInput,
            )
        });
        g.bench_function(format!("remove_one_and_publish/{n}_nodes"), |b| {
            b.iter_batched(
                || Router::from_snapshot(base.edit().build().unwrap()),
                |router| {
                    router.remove_node("10.0.0.7:11211").unwrap();
                    router
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.bench_function("build/1000_nodes", |b| {
        let ns = nodes(1000);
        b.iter(|| Snapshot::new(Placement::native(), ns.iter().cloned()).unwrap())
    });
    g.finish();
}

/// Health at pick time: the cost of a flip (mark a node down and up again: two publications that
/// share the ring, only the health bitmap new), and lookups with 10 % of the nodes down against the
/// same ring with every node up.
fn health(c: &mut Criterion) {
    let keys = common::keys(KEYS);
    let mut g = c.benchmark_group("health");
    g.measurement_time(Duration::from_secs(3));
    for n in SIZES {
        let router = Router::from_snapshot(Snapshot::new(Placement::native(), nodes(n)).unwrap());
        g.bench_function(format!("flip_down_up/{n}_nodes"), |b| {
            b.iter(|| {
                router.mark_down("10.0.0.7:11211").unwrap();
                router.mark_up("10.0.0.7:11211").unwrap();
            })
        });
    }
    g.throughput(Throughput::Elements(KEYS as u64));
    for n in [100, 1000, 10_000] {
        let router = Router::from_snapshot(Snapshot::new(Placement::native(), nodes(n)).unwrap());
        let up = router.load();
        for i in (0..n).step_by(10) {
            router
                .mark_down(up.node(ringroute::NodeId::new(i as u32)).unwrap().name())
                .unwrap();
        }
        let tenth = router.load();
        // One node down (the usual incident), beside a tenth down.
        let one = Router::from_snapshot(Snapshot::new(Placement::native(), nodes(n)).unwrap());
        one.mark_down(up.node(ringroute::NodeId::new(0)).unwrap().name())
            .unwrap();
        let one = one.load();
        for (label, snap) in [("all_up", &up), ("one_down", &one), ("tenth_down", &tenth)] {
            g.bench_function(format!("single_{label}/{n}_nodes"), |b| {
                b.iter(|| {
                    for k in &keys {
                        black_box(snap.route_id(black_box(k.as_bytes())));
                    }
                })
            });
            let mut out = vec![0u32; KEYS];
            g.bench_function(format!("batch_{label}/{n}_nodes"), |b| {
                b.iter(|| snap.route_batch(black_box(&keys), &mut out).unwrap())
            });
        }
    }
    g.finish();
}

criterion_group!(benches, lookup, membership, health);
criterion_main!(benches);
