//! Envoy Maglev table builds at M = 65,537 (Envoy's default): 100 and 1,000 hosts of equal weight
//! (keys like Envoy's, `10.0.x.y:80`), and 1,000 hosts of weights 1..=100. Envoy's own benchmark
//! (`benchmarkMaglevLoadBalancerBuildTable`) reports about 2 ms for 100 hosts.
//!
//! `cargo bench --bench maglev` (`-- --quick` for a fast pass).
//!
//! The maglev module is crate-private until the maglev placement wires it in, so the bench compiles
//! the module's own source here, with `crate::error` and `crate::MAX_NODES` standing for ringroute's
//! public ones.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

use ringroute::MAX_NODES;

/// What the included module reaches as `crate::error`.
mod error {
    pub use ringroute::{Error, Result};
}

#[allow(dead_code)]
#[path = "../src/maglev/mod.rs"]
mod maglev;

use maglev::{MaglevTable, DEFAULT_TABLE_SIZE};

fn names(n: u32) -> Vec<String> {
    (0..n)
        .map(|i| format!("10.0.{}.{}:80", i / 256, i % 256))
        .collect()
}

fn build(c: &mut Criterion) {
    let mut group = c.benchmark_group("maglev_build");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for n in [100u32, 1000] {
        let names = names(n);
        let hosts: Vec<(&[u8], u32)> = names.iter().map(|s| (s.as_bytes(), 1)).collect();
        group.bench_with_input(BenchmarkId::new("equal", n), &hosts, |b, hosts| {
            b.iter(|| MaglevTable::build(black_box(hosts), DEFAULT_TABLE_SIZE).unwrap())
        });
    }
    let names = names(1000);
    let hosts: Vec<(&[u8], u32)> = (0u32..)
        .zip(&names)
        .map(|(i, s)| (s.as_bytes(), 1 + i * 37 % 100))
        .collect();
    group.bench_with_input(
        BenchmarkId::new("weighted_1_100", 1000),
        &hosts,
        |b, hosts| b.iter(|| MaglevTable::build(black_box(hosts), DEFAULT_TABLE_SIZE).unwrap()),
    );
    group.finish();
}

criterion_group!(benches, build);
criterion_main!(benches);
