//! Criterion benches of the selections against pingora's `KetamaHashing`, in the same run:
//! - `select_N`: a key's backend at N backends, through `BackendSelection::iter(key).next()` (the
//!   selection's own cost) and through `LoadBalancer::select(key, 16)` (what a proxy calls per
//!   request: the selection plus pingora's readiness check), and a bounded-load lease.
//! - `rebuild_N`: the rebuild pingora runs when one backend of N leaves or comes back
//!   (`build_with_config`, alternating between the two sets).
//!
//! `cargo bench -p ringroute-pingora --bench selection` (add `-- --quick` for a fast pass).

use std::collections::BTreeSet;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pingora_load_balancing::selection::consistent::{KetamaConfig, KetamaHashing};
use pingora_load_balancing::selection::{BackendIter, BackendSelection};
use pingora_load_balancing::{discovery, Backend, Backends, LoadBalancer};
use ringroute_pingora::{MaglevConfig, MaglevSelection, RingConfig, RingSelection};

const KEYS: usize = 4096;

/// `n` string session keys in a fixed pseudo-random order.
fn keys(n: usize) -> Vec<String> {
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            format!("session:{:08}", s % 100_000_000)
        })
        .collect()
}

fn backends(n: usize) -> BTreeSet<Backend> {
    (0..n)
        .map(|i| Backend::new(&format!("10.0.{}.{}:8080", i / 250, i % 250 + 1)).unwrap())
        .collect()
}

fn lb<S: BackendSelection + 'static>(set: &BTreeSet<Backend>, config: S::Config) -> LoadBalancer<S>
where
    S::Iter: BackendIter,
{
    let lb = LoadBalancer::from_backends_with_config(
        Backends::new(discovery::Static::new(set.clone())),
        Some(config),
    );
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(lb.update())
        .unwrap();
    lb
}

fn first<S: BackendSelection>(
    c: &mut Criterion,
    group: &str,
    name: &str,
    sel: &Arc<S>,
    keys: &[String],
) where
    S::Iter: BackendIter,
{
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(keys.len() as u64));
    g.bench_function(name, |b| {
        b.iter(|| {
            for k in keys {
                let mut it = sel.iter(black_box(k.as_bytes()));
                black_box(it.next().map(|b| b.weight));
            }
        })
    });
    g.finish();
}

fn select<S: BackendSelection + 'static>(
    c: &mut Criterion,
    group: &str,
    name: &str,
    lb: &LoadBalancer<S>,
    keys: &[String],
) where
    S::Iter: BackendIter,
{
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(keys.len() as u64));
    g.bench_function(name, |b| {
        b.iter(|| {
            for k in keys {
                black_box(lb.select(black_box(k.as_bytes()), 16));
            }
        })
    });
    g.finish();
}

fn selection(c: &mut Criterion) {
    let keys = keys(KEYS);
    for n in [10usize, 100] {
        let set = backends(n);
        let group = format!("select_{n}");
        first(
            c,
            &group,
            "iter_first/ketama",
            &Arc::new(KetamaHashing::build(&set)),
            &keys,
        );
        first(
            c,
            &group,
            "iter_first/ring_nginx",
            &Arc::new(RingSelection::build(&set)),
            &keys,
        );
        first(
            c,
            &group,
            "iter_first/maglev",
            &Arc::new(MaglevSelection::build(&set)),
            &keys,
        );
        select(
            c,
            &group,
            "lb_select/ketama",
            &lb::<KetamaHashing>(&set, KetamaConfig::default()),
            &keys,
        );
        select(
            c,
            &group,
            "lb_select/ring_nginx",
            &lb::<RingSelection>(&set, RingConfig::default()),
            &keys,
        );
        select(
            c,
            &group,
            "lb_select/maglev",
            &lb::<MaglevSelection>(&set, MaglevConfig::default()),
            &keys,
        );
        let config = RingConfig::default().with_bounded_loads(1.25).unwrap();
        let _lb = lb::<RingSelection>(&set, config.clone());
        let bounded = config.bounded_loads().unwrap();
        let mut g = c.benchmark_group(&group);
        g.throughput(Throughput::Elements(KEYS as u64));
        g.bench_function("bounded_acquire_release/ring_nginx", |b| {
            b.iter(|| {
                for k in &keys {
                    black_box(bounded.acquire(black_box(k.as_bytes())));
                }
            })
        });
        g.finish();
    }
}

/// Rebuilds alternating between `n` backends and the same minus one (one backend leaving, then
/// coming back), as pingora does on each discovery change.
fn rebuild(c: &mut Criterion) {
    for n in [100usize, 1000] {
        let all = backends(n);
        let mut fewer = all.clone();
        let gone = all.iter().nth(n / 2).unwrap().clone();
        fewer.remove(&gone);
        let sets = [all, fewer];
        let mut g = c.benchmark_group(format!("rebuild_{n}"));
        g.sample_size(20);
        g.bench_function(BenchmarkId::new("ketama", "build_with_config"), |b| {
            let config = KetamaConfig::default();
            let mut i = 0;
            b.iter(|| {
                i ^= 1;
                black_box(KetamaHashing::build_with_config(&sets[i], &config))
            })
        });
        g.bench_function(BenchmarkId::new("ring_nginx", "build_with_config"), |b| {
            let config = RingConfig::default();
            let mut i = 0;
            b.iter(|| {
                i ^= 1;
                black_box(RingSelection::build_with_config(&sets[i], &config))
            })
        });
        g.bench_function(BenchmarkId::new("ring_nginx", "build_fresh"), |b| {
            let mut i = 0;
            b.iter(|| {
                i ^= 1;
                black_box(RingSelection::build(&sets[i]))
            })
        });
        g.bench_function(BenchmarkId::new("maglev", "build_with_config"), |b| {
            let config = MaglevConfig::default();
            let mut i = 0;
            b.iter(|| {
                i ^= 1;
                black_box(MaglevSelection::build_with_config(&sets[i], &config))
            })
        });
        g.finish();
    }
}

criterion_group!(benches, selection, rebuild);
criterion_main!(benches);
