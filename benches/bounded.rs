//! Criterion benches of bounded loads at 100 nodes: acquire + release against a plain lookup, one
//! thread and two.
//!
//! `cargo bench --bench bounded` (add `-- --quick` for a fast pass).

mod common;

use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ringroute::{BoundedLoad, Node, Placement, Router, Snapshot};

const NODES: usize = 100;
const KEYS: usize = 4096;

fn router() -> Router {
    let nodes = (0..NODES).map(|i| Node::new(format!("10.0.{}.{}:11211", i / 256, i % 256)));
    Router::from_snapshot(Snapshot::new(Placement::native(), nodes).unwrap())
}

fn one_thread(c: &mut Criterion) {
    let keys = common::keys(KEYS);
    let router = router();
    let bl = BoundedLoad::new(router.clone(), 1.25).unwrap();
    let mut g = c.benchmark_group("bounded_100_nodes");
    g.throughput(Throughput::Elements(KEYS as u64));
    g.bench_function("route_id_pinned_once", |b| {
        let snap = router.pin();
        b.iter(|| {
            for k in &keys {
                black_box(snap.route_id(black_box(k.as_bytes())));
            }
        })
    });
    g.bench_function("pin_and_route_id", |b| {
        b.iter(|| {
            for k in &keys {
                black_box(router.pin().route_id(black_box(k.as_bytes())));
            }
        })
    });
    // The reference for the target "acquire + release <= 2 x a lookup + the two atomic operations":
    // one counter's increment and decrement (what a lease costs at the least).
    g.bench_function("atomic_add_sub_pair", |b| {
        let counter = AtomicU64::new(0);
        b.iter(|| {
            for _ in 0..KEYS {
                black_box(&counter).fetch_add(1, Ordering::Relaxed);
                black_box(&counter).fetch_sub(1, Ordering::Relaxed);
            }
        })
    });
    g.bench_function("acquire_release", |b| {
        b.iter(|| {
            for k in &keys {
                black_box(bl.acquire(black_box(k.as_bytes())))
                    .unwrap()
                    .release();
            }
        })
    });
    g.bench_function("acquire_owned_release", |b| {
        b.iter(|| {
            for k in &keys {
                black_box(bl.acquire_owned(black_box(k.as_bytes())))
                    .unwrap()
                    .release();
            }
        })
    });
    // A steady state of 1000 leases out (10 per node): each key's acquire, then the release of
    // the oldest lease; owners fill up and some keys walk on.
    g.bench_function("acquire_release_1000_in_flight", |b| {
        let mut held: VecDeque<_> = keys[..1000]
            .iter()
            .map(|k| bl.acquire(k).unwrap())
            .collect();
        b.iter(|| {
            for k in &keys {
                held.push_back(black_box(bl.acquire(black_box(k.as_bytes()))).unwrap());
                held.pop_front();
            }
        })
    });
    g.finish();
}

/// Wall time for `threads` threads to each run `iters` rounds of `round` (started together; each
/// round is given its thread's index).
fn timed(threads: usize, iters: u64, round: &(impl Fn(usize) + Sync)) -> Duration {
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for t in 0..threads {
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                for _ in 0..iters {
                    round(t);
                }
            });
        }
        barrier.wait();
        let start = Instant::now();
        // The scope joins every thread before it returns.
        start
    })
    .elapsed()
}

fn two_threads(c: &mut Criterion) {
    let keys = common::keys(KEYS);
    let router = router();
    let bl = BoundedLoad::new(router.clone(), 1.25).unwrap();
    // Every thread routes the same keys in the same order, started together: the threads keep
    // pace with each other, so they ask for the same node at the same moment and both cores write
    // its counter (the worst case for shared counters; a hot key's requests do the same).
    let acquire = |_| {
        for k in &keys {
            black_box(bl.acquire(black_box(k.as_bytes())))
                .unwrap()
                .release();
        }
    };
    // The same keys, each thread from its own place in the list (thread `t` starts `t / threads`
    // of the way in): the threads serve different requests at any moment, as a load balancer's
    // workers do, and meet on a node's counter only as often as two random keys share an owner.
    let threads_now = AtomicU64::new(1);
    let acquire_apart = |t: usize| {
        let from = KEYS * t / threads_now.load(Ordering::Relaxed) as usize;
        for k in keys[from..].iter().chain(&keys[..from]) {
            black_box(bl.acquire(black_box(k.as_bytes())))
                .unwrap()
                .release();
        }
    };
    let lookup = |_| {
        let snap = router.pin();
        for k in &keys {
            black_box(snap.route_id(black_box(k.as_bytes())));
        }
    };
    let mut g = c.benchmark_group("bounded_threads_100_nodes");
    for threads in [1, 2] {
        // Throughput counts every thread's keys: 2 threads at 2x the elements per second of one
        // is perfect scaling.
        g.throughput(Throughput::Elements((KEYS * threads) as u64));
        g.bench_function(format!("acquire_release/{threads}_threads"), |b| {
            b.iter_custom(|iters| timed(threads, iters, &acquire))
        });
        threads_now.store(threads as u64, Ordering::Relaxed);
        g.bench_function(format!("acquire_release_apart/{threads}_threads"), |b| {
            b.iter_custom(|iters| timed(threads, iters, &acquire_apart))
        });
        g.bench_function(format!("route_id/{threads}_threads"), |b| {
            b.iter_custom(|iters| timed(threads, iters, &lookup))
        });
    }
    g.finish();
}

criterion_group!(benches, one_thread, two_threads);
criterion_main!(benches);
