//! The Maglev placement against the Rust crates that implement Maglev, in the same run: table builds
//! at M = 65,537 (Envoy's default; Envoy's own benchmark reports about 2 ms for 100 hosts), single
//! lookups of 10-byte string keys, and ringroute's batch lookups (string keys, and u64 hashes that
//! index the table as given).
//!
//! `cargo bench --bench maglev` (`-- --quick` for a fast pass).
//!
//! The peers hash keys and hosts with their own (std `DefaultHasher` / SipHash) functions, so their
//! tables differ from Envoy's; the comparison is of speed only. `maglev-hash` and `maglev` round the
//! capacity up to a prime (65,537 itself); `hash-rings` takes it as a hint.

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use maglev::ConsistentHasher;
use ringroute::{Node, Placement, Snapshot};

const M: u64 = 65_537;
const SIZES: [u32; 3] = [100, 1000, 10_000];
const KEYS: usize = 4096;

fn names(n: u32) -> Vec<String> {
    (0..n)
        .map(|i| format!("10.0.{}.{}:80", i / 256, i % 256))
        .collect()
}

fn ring(names: &[String]) -> Snapshot {
    Snapshot::new(
        Placement::maglev(M).unwrap(),
        names.iter().map(|n| Node::new(n.as_str())),
    )
    .unwrap()
}

fn build(c: &mut Criterion) {
    let mut g = c.benchmark_group("maglev_build");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for n in [100u32, 1000] {
        let names = names(n);
        g.bench_with_input(BenchmarkId::new("ringroute", n), &names, |b, names| {
            b.iter(|| ring(black_box(names)))
        });
        g.bench_with_input(BenchmarkId::new("maglev-hash", n), &names, |b, names| {
            b.iter(|| maglev_hash::MaglevTable::with_capacity(black_box(names.clone()), M as usize))
        });
        g.bench_with_input(BenchmarkId::new("maglev", n), &names, |b, names| {
            b.iter(|| maglev::Maglev::with_capacity(black_box(names.clone()), M as usize))
        });
        g.bench_with_input(BenchmarkId::new("hash-rings", n), &names, |b, names| {
            b.iter(|| {
                hash_rings::maglev::Ring::with_capacity_hint(names.iter().collect(), M as usize)
            })
        });
    }
    // A one-node change publishes a new table: a full build, as Envoy does.
    let names = names(1000);
    let base = ring(&names);
    g.bench_function("ringroute_add_one/1000", |b| {
        b.iter(|| {
            let mut tx = base.edit();
            tx.add_node(Node::new("10.0.9.9:80")).unwrap();
            tx.build().unwrap()
        })
    });
    let weighted: Vec<Node> = (0u32..)
        .zip(&names)
        .map(|(i, s)| Node::new(s.as_str()).with_weight(1 + i * 37 % 100))
        .collect();
    g.bench_function("ringroute_weighted_1_100/1000", |b| {
        b.iter(|| Snapshot::new(Placement::maglev(M).unwrap(), weighted.iter().cloned()).unwrap())
    });
    g.finish();
}

fn lookup(c: &mut Criterion) {
    let keys = common::keys(KEYS);
    let mut g = c.benchmark_group("maglev_lookup");
    g.throughput(Throughput::Elements(KEYS as u64));
    g.measurement_time(Duration::from_secs(3));
    for n in SIZES {
        let names = names(n);
        let snap = ring(&names);
        g.bench_function(format!("ringroute-single/{n}"), |b| {
            b.iter(|| {
                for k in &keys {
                    black_box(snap.route_id(black_box(k.as_bytes())));
                }
            })
        });
        let mut out = vec![0u32; KEYS];
        g.bench_function(format!("ringroute-batch/{n}"), |b| {
            b.iter(|| snap.route_batch(black_box(&keys), &mut out).unwrap())
        });
        let hashes: Vec<u64> = keys.iter().map(|k| snap.key_hash(k)).collect();
        g.bench_function(format!("ringroute-batch-u64/{n}"), |b| {
            b.iter(|| snap.route_hash_batch(black_box(&hashes), &mut out).unwrap())
        });
        let mh = maglev_hash::MaglevTable::with_capacity(names.clone(), M as usize);
        g.bench_function(format!("maglev-hash/{n}"), |b| {
            b.iter(|| {
                for k in &keys {
                    black_box(mh.get(black_box(k)));
                }
            })
        });
        let mg = maglev::Maglev::with_capacity(names.clone(), M as usize);
        g.bench_function(format!("maglev/{n}"), |b| {
            b.iter(|| {
                for k in &keys {
                    black_box(mg.get(black_box(k)));
                }
            })
        });
        let hr = hash_rings::maglev::Ring::with_capacity_hint(names.iter().collect(), M as usize);
        g.bench_function(format!("hash-rings/{n}"), |b| {
            b.iter(|| {
                for k in &keys {
                    black_box(hr.get_node(black_box(k)));
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, build, lookup);
criterion_main!(benches);
