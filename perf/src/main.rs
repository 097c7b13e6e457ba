//! `ringroute-perf`: the throughput harness of ringroute.
//!
//! For every ring size and reader-thread count it routes a pre-generated stream of ~10-byte string
//! keys (random order) through ringroute (single lookups through a cached `Reader`, and batches
//! through `route_batch`) and, with `--peers`, through pingora-ketama, hashring and conhash built
//! from the same nodes and points per node (with `--placement maglev`: Envoy's Maglev table against
//! the maglev-hash, maglev and hash-rings crates' tables of the same size). It reports lookups/s per thread and in total, ns per key,
//! single-lookup latency percentiles, publish latency (idle, and under `--churn`), build time and
//! memory. `ringroute-perf --help` lists the flags; the module docs of [`run`] and [`timer`] say
//! exactly what is measured.

// serde_json's `json!` of a record (over fifty fields) needs more than the default depth.
#![recursion_limit = "256"]

mod cli;
mod keys;
mod mem;
mod paired;
mod peers;
mod report;
mod run;
mod soak;
mod timer;

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use ringroute::{Kernel, Node, NodeId, Placement, Router, Snapshot, NO_OWNER};

use crate::cli::{Config, Kind, Mode};
use crate::report::{Build, Record};
use crate::run::{CellPlan, Churn};

#[global_allocator]
static ALLOC: mem::CountingAlloc = mem::CountingAlloc;

/// The seed of the key stream (every run routes the same keys).
const SEED: u64 = 0x5EED_2026;

/// Remove + re-add pairs timed with no readers running, per ring size (fewer if they take over 1 s):
/// enough that the median is a warm call's, not the first few calls' (which fault in the memory
/// the later ones reuse).
const IDLE_PUBLISH_PAIRS: usize = 100;

/// Progress lines on stderr.
struct Progress {
    total: usize,
    done: usize,
    enabled: bool,
    tty: bool,
}

impl Progress {
    fn new(cfg: &Config, plan: CellPlan) -> Self {
        let peer_count = match (cfg.peers, cfg.kind) {
            (false, _) => 0,
            (true, Kind::Native) => peers::PEERS.len(),
            (true, Kind::Maglev) => peers::MAGLEV_PEERS.len(),
        };
        let per_nodes = cfg.threads.len() * (cfg.modes.len() + peer_count);
        let total = per_nodes * cfg.nodes.len();
        Self {
            total,
            done: 0,
            enabled: plan.total().as_secs_f64() * total as f64 > 3.0,
            tty: std::io::stderr().is_terminal(),
        }
    }

    fn say(&self, what: &str) {
        if !self.enabled {
            return;
        }
        let mut e = std::io::stderr().lock();
        if self.tty {
            let _ = write!(e, "\r\x1b[2K[{:>3}/{}] {what}", self.done, self.total);
        } else {
            let _ = writeln!(e, "[{:>3}/{}] {what}", self.done, self.total);
        }
        let _ = e.flush();
    }

    fn cell(&mut self, what: &str) {
        self.done += 1;
        self.say(what);
    }

    fn finish(&self) {
        if self.enabled && self.tty {
            eprintln!();
        }
    }
}

fn main() {
    let cfg = cli::parse();
    if let Some(seconds) = cfg.soak {
        soak_main(&cfg, seconds);
        return;
    }
    let clock = timer::Clock::calibrate(Duration::from_millis(20));
    let keyset = keys::KeySet::generate(cfg.keys, cfg.key_count, SEED);
    let keys = keyset.slices();
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    if let Some(&t) = cfg.threads.iter().max() {
        if t > cores.len().max(1) {
            eprintln!(
                "warning: {t} reader threads on {} cores: threads share cores",
                cores.len()
            );
        }
    }
    let plan = CellPlan::new(1, cfg.duration);
    let mut progress = Progress::new(&cfg, plan);
    let placement = match cfg.kind {
        Kind::Native => Placement::from_name("native", Some(cfg.points_per_node))
            .expect("native is a profile and points per node > 0"),
        Kind::Maglev => Placement::maglev(cfg.table_size).expect("the flag checked the size"),
    };

    let mut records: Vec<Record> = Vec::new();
    let mut builds: Vec<Build> = Vec::new();
    for &n in &cfg.nodes {
        // --- ringroute ---
        progress.say(&format!("building ringroute, {n} nodes"));
        // The nodes' names are made before any build is timed, as pingora-ketama's addresses are
        // (its build hashes text it makes of them; ringroute's takes the names as given).
        let names: Vec<String> = (0..n).map(peers::name).collect();
        let build_ring = || {
            Snapshot::new(placement, names.iter().map(|name| Node::new(name.as_str())))
                .map(Router::from_snapshot)
                .unwrap_or_else(|e| fail(&format!("building a ring of {n} nodes: {e}")))
        };
        let (router, build) = measure_build("ringroute", n, build_ring);
        let layout = format!("{:?}", router.pin().layout()).to_lowercase();
        // Churned nodes: every node in turn from the middle of the id order, so that a removal
        // renumbers the ids after it, as most removals in a real ring do.
        let victims: Vec<String> = (0..n).map(|i| peers::name((n / 2 + i) % n)).collect();
        let churn = (cfg.churn > 0.0).then_some(Churn {
            router: &router,
            victims: &victims,
            per_sec: cfg.churn,
        });
        let mut ring_records = Vec::new();
        for &mode in &cfg.modes {
            for &t in &cfg.threads {
                progress.cell(&format!(
                    "ringroute {} nodes={n} threads={t} ({:.1} s)",
                    mode.name(),
                    plan.total().as_secs_f64()
                ));
                let p = CellPlan::new(t, cfg.duration);
                let result = match mode {
                    Mode::Single => run::run_single(p, &cores, churn, &keys, || {
                        let mut reader = router.reader();
                        move |k: &[u8]| reader.snapshot().route_id(k).map_or(NO_OWNER, NodeId::get)
                    }),
                    Mode::Batch => run::run_batch(p, &cores, churn, &keys, &router, cfg.batch_size),
                };
                let mut r = Record::new("ringroute", mode, n, &cfg, &clock, result);
                r.layout = Some(layout.clone());
                ring_records.push(r);
            }
        }
        progress.say(&format!("timing idle publishes, {n} nodes"));
        let idle = run::publish_idle(
            &router,
            &victims,
            IDLE_PUBLISH_PAIRS,
            Duration::from_secs(1),
        );
        for r in &mut ring_records {
            r.publish_idle_us = Some((
                idle.value_at_quantile(0.5) as f64 / 1e3,
                idle.value_at_quantile(0.99) as f64 / 1e3,
            ));
        }
        records.extend(ring_records);
        builds.push(build);

        // --- peers (single mode only: they have no batch) ---
        if cfg.peers {
            let mut run = Peers {
                cfg: &cfg,
                cores: &cores,
                keys: &keys,
                clock: &clock,
                progress: &mut progress,
                records: &mut records,
                builds: &mut builds,
                n,
            };
            let ppn = cfg.points_per_node;
            let m = cfg.table_size;
            match cfg.kind {
                Kind::Native => {
                    run.peer(
                        "pingora-ketama",
                        || peers::pingora(n, ppn),
                        |r, k| r.node(k),
                    );
                    run.peer(
                        "hashring",
                        || peers::hashring(n, ppn),
                        |r, k| r.get(&k).copied(),
                    );
                    run.peer(
                        "conhash",
                        || peers::conhash(n, ppn),
                        |r, k| r.get(k).map(|c| c.idx),
                    );
                }
                Kind::Maglev => {
                    run.peer(
                        "maglev-hash",
                        || peers::maglev_hash(n, m),
                        |t, k| t.get(&k).map(String::len),
                    );
                    run.peer(
                        "maglev",
                        || peers::maglev(n, m),
                        |t, k| maglev::ConsistentHasher::get(t, &k).map(String::len),
                    );
                    run.peer(
                        "hash-rings",
                        || peers::hash_rings(&names, m),
                        |t, k| t.get_node(&k).len(),
                    );
                }
            }
            progress.say(&format!("pairing builds and publishes, {n} nodes"));
            let ring = (&router, &victims[..], &keys[..]);
            pair_with_fastest_peer(&cfg, &names, &mut builds, build_ring, ring);
        }
        drop(router);
    }
    progress.finish();
    report::attach_ratios(&mut records);
    let peak = mem::peak_rss_kib();
    if cfg.json {
        report::print_json(&records, &builds, &cfg, &clock, peak, keyset.mean_len());
    } else {
        let env = report::Env {
            cpu: cpu_model(),
            cores: cores.len(),
            kernel: Kernel::detect().name(),
            key_len: keyset.mean_len(),
            distinct: keyset.distinct(),
            peak_rss_kib: peak,
        };
        report::print_table(&records, &builds, &cfg, &clock, &env);
    }
}

/// What every peer's cells at one ring size share.
struct Peers<'a, 'k> {
    cfg: &'a Config,
    cores: &'a [core_affinity::CoreId],
    keys: &'a [&'k [u8]],
    clock: &'a timer::Clock,
    progress: &'a mut Progress,
    records: &'a mut Vec<Record>,
    builds: &'a mut Vec<Build>,
    n: usize,
}

impl Peers<'_, '_> {
    /// Builds peer `name`'s ring with `build` (timed, its heap counted) and runs its single-lookup
    /// cells with `lookup`, then drops the ring.
    fn peer<T: Sync, R>(
        &mut self,
        name: &'static str,
        build: impl Fn() -> T,
        lookup: impl Fn(&T, &[u8]) -> R + Sync,
    ) {
        let n = self.n;
        self.progress.say(&format!("building {name}, {n} nodes"));
        let (ring, b) = measure_build(name, n, build);
        self.builds.push(b);
        let (ring, lookup) = (&ring, &lookup);
        peer_cells(
            self.cfg,
            self.cores,
            self.keys,
            self.clock,
            self.progress,
            self.records,
            name,
            n,
            || move |k: &[u8]| lookup(ring, k),
        );
    }
}

/// Runs the single-lookup cells of one peer.
#[allow(clippy::too_many_arguments)]
fn peer_cells<M, L, R>(
    cfg: &Config,
    cores: &[core_affinity::CoreId],
    keys: &[&[u8]],
    clock: &timer::Clock,
    progress: &mut Progress,
    records: &mut Vec<Record>,
    name: &'static str,
    n: usize,
    make: M,
) where
    M: Fn() -> L + Sync,
    L: FnMut(&[u8]) -> R,
{
    for &t in &cfg.threads {
        progress.cell(&format!(
            "{name} single nodes={n} threads={t} ({:.1} s)",
            CellPlan::new(t, cfg.duration).total().as_secs_f64()
        ));
        let result = run::run_single(CellPlan::new(t, cfg.duration), cores, None, keys, &make);
        records.push(Record::new(name, Mode::Single, n, cfg, clock, result));
    }
}

/// Times ringroute's builds (`build_ring`) and publications (on `router`, removing and re-adding
/// `victims` in turn, the ring warmed by routing `keys` first) in alternation with the builds of
/// the peer that built fastest over the nodes `names` (see [`paired`]), and keeps the ratios with
/// ringroute's build of as many nodes.
fn pair_with_fastest_peer(
    cfg: &Config,
    names: &[String],
    builds: &mut [Build],
    build_ring: impl Fn() -> Router,
    (router, victims, keys): (&Router, &[String], &[&[u8]]),
) {
    let n = names.len();
    let Some(peer) = builds
        .iter()
        .filter(|b| b.nodes == n && b.imp != "ringroute")
        .min_by(|x, y| x.build_ms.total_cmp(&y.build_ms))
        .map(|b| b.imp)
    else {
        return;
    };
    let (ppn, m) = (cfg.points_per_node, cfg.table_size);
    let theirs = || match peer {
        "pingora-ketama" => paired::timed(|| peers::pingora(n, ppn)),
        "hashring" => paired::timed(|| peers::hashring(n, ppn)),
        "conhash" => paired::timed(|| peers::conhash(n, ppn)),
        "maglev-hash" => paired::timed(|| peers::maglev_hash(n, m)),
        "maglev" => paired::timed(|| peers::maglev(n, m)),
        _ => paired::timed(|| peers::hash_rings(names, m)),
    };
    // Each victim in turn removed, then re-added: one publication a call.
    let mut call = 0usize;
    let mut publish = || {
        let victim = &victims[(call / 2) % victims.len()];
        let t = Instant::now();
        if call.is_multiple_of(2) {
            router.remove_node(victim).expect("removing a present node");
        } else {
            router
                .add_node(Node::new(victim.as_str()))
                .expect("re-adding the node");
        }
        call += 1;
        t.elapsed()
    };
    let mut warm = || {
        let ring = router.pin();
        let owners = keys.iter().fold(0u64, |acc, k| {
            acc.wrapping_add(ring.route_id(k).map_or(0, |id| u64::from(id.get())))
        });
        std::hint::black_box(owners);
    };
    // A Maglev table has no incremental publication to pair (it is rebuilt).
    let publish = match cfg.kind {
        Kind::Native => Some(paired::Publishing {
            warm: &mut warm,
            publish: &mut publish,
        }),
        Kind::Maglev => None,
    };
    let result = paired::measure(
        peer,
        || paired::timed(&build_ring),
        theirs,
        publish,
        Duration::from_secs(2),
    );
    // An odd call count leaves a victim out: put it back.
    if call % 2 == 1 {
        let _ = router.add_node(Node::new(victims[(call / 2) % victims.len()].as_str()));
    }
    if let Some(b) = builds
        .iter_mut()
        .find(|b| b.nodes == n && b.imp == "ringroute")
    {
        b.paired = Some(result);
    }
}

/// How many builds after the first a ring's build time is the median of, at most (fewer when they
/// take over a second in all).
pub const BUILD_RUNS: usize = 11;

/// Builds a ring with `build`, the first time counting the heap it holds, then again (the previous
/// ring dropped first, outside the timing) up to [`BUILD_RUNS`] more times while the builds so far
/// took under a second. Returns the last ring, the first build's time (cold: fresh memory, which
/// the allocator has not yet learned to keep for the next build) and the median of the others (the
/// first's when there are none).
fn measure_build<T>(imp: &'static str, nodes: usize, build: impl Fn() -> T) -> (T, Build) {
    let begin = Instant::now();
    // The memory ringroute's builds keep for later builds (see `release_build_memory`) is not the
    // ring's: freed before the first build (which is cold) and after it, outside the counting.
    ringroute::release_build_memory();
    let ((mut ring, first), heap_bytes) = mem::count_heap(|| {
        let t = Instant::now();
        let ring = build();
        let first = t.elapsed().as_secs_f64() * 1e3;
        ringroute::release_build_memory();
        (ring, first)
    });
    let mut times: Vec<f64> = Vec::new();
    while times.len() < BUILD_RUNS && begin.elapsed() < Duration::from_secs(1) {
        drop(ring);
        let t = Instant::now();
        ring = build();
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    if times.is_empty() {
        times.push(first);
    }
    times.sort_by(f64::total_cmp);
    (
        ring,
        Build {
            imp,
            nodes,
            build_ms: times[times.len() / 2],
            first_ms: first,
            heap_bytes,
            paired: None,
        },
    )
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(1)
}

/// `--soak`: runs the soak and prints its report (a table, or one JSON line with `--json`); exits 1
/// on a wrong answer.
fn soak_main(cfg: &Config, seconds: f64) {
    let keyset = keys::KeySet::generate(cfg.keys, cfg.key_count, SEED);
    let keys: Vec<Vec<u8>> = keyset.slices().iter().map(|k| k.to_vec()).collect();
    let plan = soak::SoakPlan {
        seconds,
        nodes: cfg.nodes.first().copied().unwrap_or(100),
        points_per_node: cfg.points_per_node,
        readers: cfg.threads.iter().copied().max().unwrap_or(2),
        churn: if cfg.churn > 0.0 { cfg.churn } else { 200.0 },
        keys: std::sync::Arc::new(keys),
    };
    eprintln!(
        "soak: {} nodes x {} points, {} readers, {} changes/s, {seconds} s",
        plan.nodes, plan.points_per_node, plan.readers, plan.churn
    );
    let r = soak::run(&plan);
    if cfg.json {
        println!("{}", r.to_json());
    } else {
        println!(
            "soak {:.0} s: {} answers checked, {} wrong, {} publications; RSS start {} KiB, end {} \
             KiB, peak {} KiB ({:+} KiB)",
            r.seconds,
            r.checked,
            r.wrong,
            r.publications,
            r.rss_start_kib,
            r.rss_end_kib,
            r.rss_peak_kib,
            r.rss_end_kib as i64 - r.rss_start_kib as i64
        );
    }
    if r.wrong > 0 {
        std::process::exit(1);
    }
}
