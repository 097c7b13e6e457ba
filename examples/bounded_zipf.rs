//! Bounded loads under a skewed workload: a Zipf(1.1) stream of 1M requests over 100,000 keys, with
//! 1,000 requests in flight over 100 nodes (each new request, once 1,000 are out, completes one of
//! them at random), for several balance factors and for plain consistent hashing. Prints, per
//! factor: the bound on a node's in-flight count relative to the mean (`ceil(factor · 1000 / 100)`
//! over 10), the largest node count seen relative to the mean at that moment, and the share of
//! requests sent away from their key's owner. Checks at every pick that the node's count is within
//! its capacity at the time it was picked. The ns/request column times the whole loop, checks and
//! the owner lookup included: a rough cost, not a benchmark (`benches/bounded.rs` is).
//!
//! `cargo run --release --example bounded_zipf`

use std::time::Instant;

use ringroute::{BoundedLoad, Node, Placement, Router, Snapshot};

const NODES: usize = 100;
const KEYS: usize = 100_000;
const REQUESTS: usize = 1_000_000;
const IN_FLIGHT: usize = 1_000;
const ZIPF_S: f64 = 1.1;

/// A fixed xorshift64* stream, so that every run sees the same requests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Key ranks drawn from Zipf(`s`) over `n` keys: rank r (from 0) with probability ∝ 1 / (r + 1)^s.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Self {
        let mut acc = 0.0;
        let mut cdf: Vec<f64> = (1..=n)
            .map(|r| {
                acc += (r as f64).powf(-s);
                acc
            })
            .collect();
        for c in &mut cdf {
            *c /= acc;
        }
        Self { cdf }
    }

    fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

/// One run's figures.
struct Figures {
    /// The largest node count seen, over the mean count at that moment (steady state).
    max_over_mean: f64,
    /// The largest node count seen.
    max_load: u64,
    /// Requests that went to a node other than their key's owner.
    moved: usize,
    nanos_per_request: f64,
}

fn stream() -> Vec<usize> {
    let zipf = Zipf::new(KEYS, ZIPF_S);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    (0..REQUESTS).map(|_| zipf.sample(&mut rng)).collect()
}

/// Bounded loads at `factor`. Panics if a pick leaves a node above its capacity at pick time.
fn bounded(router: &Router, keys: &[String], stream: &[usize], factor: f64) -> Figures {
    let bl = BoundedLoad::new(router.clone(), factor).unwrap();
    let snap = router.load();
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let mut held = Vec::with_capacity(IN_FLIGHT);
    let (mut max_over_mean, mut max_load, mut moved) = (0.0f64, 0u64, 0usize);
    let start = Instant::now();
    for (i, &k) in stream.iter().enumerate() {
        if held.len() == IN_FLIGHT {
            let done = rng.below(held.len());
            drop(held.swap_remove(done));
        }
        let key = &keys[k];
        let m = bl.in_flight();
        // Every node has weight 1: the same capacity for all, ceil(factor · (m + 1) / 100).
        let cap = (factor * (m + 1) as f64 / NODES as f64).ceil() as u64;
        let lease = bl.acquire(key).unwrap();
        let load = bl.load(lease.node()).unwrap();
        assert!(
            load <= cap,
            "{} holds {load} > capacity {cap} at pick",
            lease.node()
        );
        if lease.node() != snap.route(key).unwrap().name() {
            moved += 1;
        }
        max_load = max_load.max(load);
        if i >= IN_FLIGHT {
            max_over_mean = max_over_mean.max(load as f64 / ((m + 1) as f64 / NODES as f64));
        }
        held.push(lease);
    }
    let nanos_per_request = start.elapsed().as_nanos() as f64 / stream.len() as f64;
    drop(held);
    assert_eq!(bl.in_flight(), 0);
    Figures {
        max_over_mean,
        max_load,
        moved,
        nanos_per_request,
    }
}

/// Plain consistent hashing: every request to its key's owner.
fn plain(snap: &Snapshot, keys: &[String], stream: &[usize]) -> Figures {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let mut loads = vec![0u64; NODES];
    let mut held: Vec<usize> = Vec::with_capacity(IN_FLIGHT);
    let (mut max_over_mean, mut max_load) = (0.0f64, 0u64);
    let start = Instant::now();
    for (i, &k) in stream.iter().enumerate() {
        if held.len() == IN_FLIGHT {
            let done = held.swap_remove(rng.below(held.len()));
            loads[done] -= 1;
        }
        let id = snap.route_id(&keys[k]).unwrap().index();
        loads[id] += 1;
        let m = held.len() as u64;
        max_load = max_load.max(loads[id]);
        if i >= IN_FLIGHT {
            max_over_mean = max_over_mean.max(loads[id] as f64 / ((m + 1) as f64 / NODES as f64));
        }
        held.push(id);
    }
    Figures {
        max_over_mean,
        max_load,
        moved: 0,
        nanos_per_request: start.elapsed().as_nanos() as f64 / stream.len() as f64,
    }
}

fn main() {
    let nodes = (0..NODES).map(|i| Node::new(format!("10.0.{}.{}:11211", i / 256, i % 256)));
    let router = Router::from_snapshot(Snapshot::new(Placement::native(), nodes).unwrap());
    let keys: Vec<String> = (0..KEYS).map(|k| format!("key:{k}")).collect();
    let stream = stream();
    let hottest = stream.iter().filter(|&&k| k == 0).count();
    println!(
        "Zipf({ZIPF_S}) over {KEYS} keys, {REQUESTS} requests, {IN_FLIGHT} in flight, {NODES} nodes \
         (native placement); the hottest key is {:.1} % of requests",
        100.0 * hottest as f64 / REQUESTS as f64
    );
    println!();
    println!("| factor | bound (max/mean) | max/mean seen | max in flight on a node | sent away from owner | loop ns/request |");
    println!("|---|---|---|---|---|---|");
    let mean = IN_FLIGHT as f64 / NODES as f64;
    for factor in [1.1, 1.25, 1.5, 2.0] {
        let f = bounded(&router, &keys, &stream, factor);
        let bound = (factor * IN_FLIGHT as f64 / NODES as f64).ceil();
        println!(
            "| {factor} | {:.2} ({bound} of {mean}) | {:.2} | {} | {:.2} % | {:.0} |",
            bound / mean,
            f.max_over_mean,
            f.max_load,
            100.0 * f.moved as f64 / REQUESTS as f64,
            f.nanos_per_request
        );
    }
    let f = plain(&router.load(), &keys, &stream);
    println!(
        "| plain (unbounded) | - | {:.2} | {} | 0 % | {:.0} |",
        f.max_over_mean, f.max_load, f.nanos_per_request
    );
}
