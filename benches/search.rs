//! Lookups at 100 / 1000 / 10,000 nodes (160 points per node, ~10-byte string keys in random order):
//! ringroute single and batch (every kernel this CPU has, both layouts) against the peer crates
//! `hashring`, `pingora-ketama` and `conhash`, same nodes and keys, in the same run.
//!
//! `cargo bench --bench search` (the per-kernel table in `docs/performance.md` comes from it;
//! `-- --quick` for a fast pass).

mod common;

use std::hash::{Hash, Hasher};
use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ringroute::{Kernel, Layout, Node, Placement, Snapshot};

const SIZES: [usize; 3] = [100, 1000, 10_000];
const POINTS_PER_NODE: u32 = 160;
const KEYS: usize = 8192;

fn addr(i: usize) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(
        Ipv4Addr::new(10, (i >> 16) as u8, (i >> 8) as u8, i as u8),
        11211,
    ))
}

/// A virtual node for `hashring` (one ring entry per point, as its docs suggest).
#[derive(Clone, Copy, PartialEq, Eq)]
struct VNode {
    node: usize,
    point: u32,
}

impl Hash for VNode {
    fn hash<H: Hasher>(&self, h: &mut H) {
        addr(self.node).hash(h);
        self.point.hash(h);
    }
}

#[derive(Clone)]
struct ConNode(SocketAddr);

impl conhash::Node for ConNode {
    fn name(&self) -> String {
        self.0.to_string()
    }
}

fn bench(c: &mut Criterion) {
    let keys = common::keys(KEYS);
    let mut g = c.benchmark_group("lookup");
    g.throughput(Throughput::Elements(KEYS as u64));
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    g.sample_size(20);
    let mut out = vec![0u32; KEYS];
    for n in SIZES {
        let placement = Placement::from_name("native", Some(POINTS_PER_NODE)).unwrap();
        let snap =
            Snapshot::new(placement, (0..n).map(|i| Node::new(addr(i).to_string()))).unwrap();
        let hashes: Vec<u64> = keys.iter().map(|k| snap.key_hash(k)).collect();
        for layout in [Layout::Radix, Layout::Eytzinger] {
            let s = snap.with_layout(layout).unwrap();
            let l = format!("{layout:?}").to_lowercase();
            g.bench_function(format!("ringroute-single-{l}/{n}"), |b| {
                b.iter(|| {
                    for k in &keys {
                        black_box(s.route_id(black_box(k.as_bytes())));
                    }
                })
            });
            for kernel in Kernel::available() {
                g.bench_function(format!("ringroute-batch-{l}-{kernel}/{n}"), |b| {
                    b.iter(|| {
                        s.route_batch_with(kernel, black_box(&keys), &mut out)
                            .unwrap()
                    })
                });
                g.bench_function(format!("ringroute-batch-u64-{l}-{kernel}/{n}"), |b| {
                    b.iter(|| {
                        s.route_hash_batch_with(kernel, black_box(&hashes), &mut out)
                            .unwrap()
                    })
                });
            }
        }

        let buckets: Vec<pingora_ketama::Bucket> = (0..n)
            .map(|i| pingora_ketama::Bucket::new(addr(i), 1))
            .collect();
        let ketama = pingora_ketama::Continuum::new(&buckets);
        g.bench_function(format!("pingora-ketama/{n}"), |b| {
            b.iter(|| {
                for k in &keys {
                    black_box(ketama.node(black_box(k.as_bytes())));
                }
            })
        });

        let mut hr = hashring::HashRing::new();
        hr.batch_add(
            (0..n)
                .flat_map(|node| (0..POINTS_PER_NODE).map(move |point| VNode { node, point }))
                .collect(),
        );
        g.bench_function(format!("hashring/{n}"), |b| {
            b.iter(|| {
                for k in &keys {
                    black_box(hr.get(black_box(k)).map(|v| v.node));
                }
            })
        });

        let mut ch = conhash::ConsistentHash::new();
        for i in 0..n {
            ch.add(&ConNode(addr(i)), POINTS_PER_NODE as usize);
        }
        g.bench_function(format!("conhash/{n}"), |b| {
            b.iter(|| {
                for k in &keys {
                    black_box(ch.get(black_box(k.as_bytes())).map(|n| n.0));
                }
            })
        });
    }
    g.finish();
}

/// The md5 profiles at 100 nodes: one key at a time against the multi-lane md5 batch.
fn md5_profiles(c: &mut Criterion) {
    let keys = common::keys(KEYS);
    let mut g = c.benchmark_group("md5_profiles");
    g.throughput(Throughput::Elements(KEYS as u64));
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    g.sample_size(20);
    let mut out = vec![0u32; KEYS];
    for profile in ["uhashring", "uhashring-ketama", "hash_ring"] {
        let placement = Placement::from_name(profile, None).unwrap();
        let snap =
            Snapshot::new(placement, (0..100).map(|i| Node::new(addr(i).to_string()))).unwrap();
        g.bench_function(format!("{profile}-single/100"), |b| {
            b.iter(|| {
                for k in &keys {
                    black_box(snap.route_id(black_box(k.as_bytes())));
                }
            })
        });
        g.bench_function(format!("{profile}-batch/100"), |b| {
            b.iter(|| snap.route_batch(black_box(&keys), &mut out).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench, md5_profiles);
criterion_main!(benches);
