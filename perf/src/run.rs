//! Running one cell: `threads` pinned reader threads route the key stream through one implementation
//! while the main thread steps them through the phases (warm-up, throughput, latency), and optionally
//! a writer thread publishes membership changes at a fixed rate.
//!
//! - **Throughput phase** (the first 80 % of `--duration`): nothing is timed inside the loop; each
//!   thread counts the keys it routed between the moments it saw the phase start and end (checked once
//!   per group of about 1024 keys, at least one group per phase) and divides by its own `Instant`
//!   span. The main thread starts timing a phase once every reader has entered it.
//!   Each thread also reads its own CPU time (`CLOCK_THREAD_CPUTIME_ID`) at both ends, so a run on a
//!   shared machine shows how much of the phase the thread was actually on a core.
//! - **Latency phase** (the last 20 %): the same loop, but every [`SAMPLE_EVERY`]th lookup (single
//!   mode) or every batch call (batch mode) is bracketed by the serialised clock of [`crate::timer`]
//!   and recorded in an HdrHistogram.
//! - **Churn**: a writer thread (not pinned) alternately removes one node and adds it back, `--churn`
//!   times per second on a fixed schedule, and records how long each publishing call took.

use std::hint::black_box;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use ringroute::{Node, Router, NO_OWNER};

use crate::timer;

/// In single mode, one lookup in this many is timed during the latency phase.
pub const SAMPLE_EVERY: usize = 64;

/// Keys routed between two checks of the phase flag.
const GROUP_KEYS: usize = 1024;

const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const LATENCY: u8 = 2;
const STOP: u8 = 3;

/// What one reader thread measured.
#[derive(Debug)]
pub struct ThreadResult {
    /// Keys routed in the throughput phase.
    pub lookups: u64,
    /// Length of this thread's throughput phase, ns (wall clock).
    pub elapsed_ns: u64,
    /// CPU time this thread got during its throughput phase, ns (`CLOCK_THREAD_CPUTIME_ID`): less
    /// than `elapsed_ns` when other processes took its core.
    pub cpu_ns: u64,
    /// Timed samples (ticks): one lookup each in single mode, one batch call in batch mode.
    pub hist: Histogram<u64>,
}

/// What the churn writer measured.
#[derive(Debug)]
pub struct ChurnResult {
    /// Publications made while the readers ran.
    pub publishes: u64,
    /// Publications per second actually achieved.
    pub achieved_per_sec: f64,
    /// Duration of each `remove_node` / `add_node` call (build + publish), ns.
    pub hist: Histogram<u64>,
}

/// What one cell measured.
#[derive(Debug)]
pub struct CellResult {
    /// One entry per reader thread.
    pub threads: Vec<ThreadResult>,
    /// The writer's measurements, if `--churn` > 0.
    pub churn: Option<ChurnResult>,
}

/// The timing of a cell.
#[derive(Debug, Clone, Copy)]
pub struct CellPlan {
    /// Reader threads.
    pub threads: usize,
    /// Untimed warm-up before the throughput phase.
    pub warmup: Duration,
    /// Throughput phase.
    pub measure: Duration,
    /// Latency phase.
    pub latency: Duration,
}

impl CellPlan {
    /// Splits `duration` seconds 80 / 20 between the throughput and latency phases, with a warm-up of
    /// a tenth of it (at most 0.1 s) before.
    pub fn new(threads: usize, duration: f64) -> Self {
        let d = Duration::from_secs_f64(duration);
        Self {
            threads,
            warmup: (d / 10).min(Duration::from_millis(100)),
            measure: d.mul_f64(0.8),
            latency: d.mul_f64(0.2),
        }
    }

    /// Wall time of the cell.
    pub fn total(&self) -> Duration {
        self.warmup + self.measure + self.latency
    }
}

/// The phase the main thread has set; readers poll it, and say when they have entered the measured
/// phases, so that every reader routes at least one group of keys in each (however slow it is) and
/// the main thread times a phase only once every reader is in it.
struct Phase {
    now: AtomicU8,
    entered: [AtomicUsize; 4],
}

impl Phase {
    fn new() -> Self {
        Self {
            now: AtomicU8::new(WARMUP),
            entered: Default::default(),
        }
    }

    #[inline(always)]
    fn get(&self) -> u8 {
        self.now.load(Ordering::Relaxed)
    }

    /// A reader enters phase `p`.
    fn enter(&self, p: u8) {
        self.entered[usize::from(p)].fetch_add(1, Ordering::Release);
    }

    /// The main thread: sets phase `p` and waits until `readers` readers have entered it (or one
    /// of them has finished, i.e. panicked).
    fn advance<T>(&self, p: u8, readers: &[std::thread::ScopedJoinHandle<'_, T>]) {
        self.now.store(p, Ordering::Relaxed);
        while self.entered[usize::from(p)].load(Ordering::Acquire) < readers.len()
            && !readers.iter().any(|h| h.is_finished())
        {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

/// A membership change schedule for the churn writer.
#[derive(Debug, Clone, Copy)]
pub struct Churn<'a> {
    /// The router to publish to.
    pub router: &'a Router,
    /// The nodes removed and re-added, one after the other, cycling (each must be in the ring).
    pub victims: &'a [String],
    /// Changes per second.
    pub per_sec: f64,
}

/// Runs a cell: spawns the readers (each running `body` on its own core), steps the phases, runs
/// the churn writer if any, and collects the results.
fn drive<B>(
    plan: CellPlan,
    cores: &[core_affinity::CoreId],
    churn: Option<Churn>,
    body: B,
) -> CellResult
where
    B: Fn(&Phase) -> ThreadResult + Sync,
{
    let phase = Phase::new();
    std::thread::scope(|s| {
        let readers: Vec<_> = (0..plan.threads)
            .map(|i| {
                let core = cores.get(i % cores.len().max(1)).copied();
                let (phase, body) = (&phase, &body);
                s.spawn(move || {
                    if let Some(core) = core {
                        core_affinity::set_for_current(core);
                    }
                    body(phase)
                })
            })
            .collect();
        let writer = churn.map(|c| {
            let phase = &phase;
            s.spawn(move || churn_writer(c, phase))
        });
        std::thread::sleep(plan.warmup);
        phase.advance(MEASURE, &readers);
        std::thread::sleep(plan.measure);
        phase.advance(LATENCY, &readers);
        std::thread::sleep(plan.latency);
        phase.now.store(STOP, Ordering::Relaxed);
        CellResult {
            threads: readers
                .into_iter()
                .map(|h| h.join().expect("reader thread panicked"))
                .collect(),
            churn: writer.map(|h| h.join().expect("churn writer panicked")),
        }
    })
}

/// The churn writer: alternately removes a victim and adds it back (the next victim each time, so
/// the nodes removed sit anywhere in the ring's id order), on a fixed schedule of
/// `per_sec` changes per second (a late change is made at once; the schedule does not slip), until
/// the phase is `STOP`.
fn churn_writer(c: Churn, phase: &Phase) -> ChurnResult {
    let mut hist = timer::new_histogram();
    let period = Duration::from_secs_f64(1.0 / c.per_sec);
    let begin = Instant::now();
    let mut next = begin;
    let mut k = 0u64;
    let mut present = true;
    let mut victims = c.victims.iter().cycle();
    let mut victim = victims.next().expect("at least one victim").as_str();
    while phase.get() != STOP {
        next += period;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else if now - next > Duration::from_millis(100) {
            next = now; // far behind (publishing is slower than the rate): do not burst to catch up
        }
        let t = Instant::now();
        let r = if present {
            c.router.remove_node(victim)
        } else {
            c.router.add_node(Node::new(victim))
        };
        hist.saturating_record(t.elapsed().as_nanos() as u64);
        r.expect("churn change failed");
        if !present {
            victim = victims.next().expect("cycles").as_str();
        }
        present = !present;
        k += 1;
    }
    if !present {
        c.router
            .add_node(Node::new(victim))
            .expect("restoring the churned node");
    }
    ChurnResult {
        publishes: k,
        achieved_per_sec: k as f64 / begin.elapsed().as_secs_f64(),
        hist,
    }
}

/// The calling thread's CPU time, ns (0 if the clock is unavailable).
fn thread_cpu_ns() -> u64 {
    // SAFETY: an all-zero timespec is valid; clock_gettime writes only it.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `ts` is a valid, writable timespec.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Cycles over the key stream in groups of about `group` keys.
struct Groups<'k, 'a> {
    groups: Vec<&'k [&'a [u8]]>,
    next: usize,
}

impl<'k, 'a> Groups<'k, 'a> {
    fn new(keys: &'k [&'a [u8]], group: usize) -> Self {
        Self {
            groups: keys.chunks(group.max(1)).collect(),
            next: 0,
        }
    }

    #[inline(always)]
    fn next(&mut self) -> &'k [&'a [u8]] {
        let g = self.groups[self.next];
        self.next += 1;
        if self.next == self.groups.len() {
            self.next = 0;
        }
        g
    }
}

/// Single-lookup workload: every reader thread calls `make()` once for its own lookup function (a
/// cached [`ringroute::Reader`], or a shared reference to a peer's ring) and routes one key per call.
pub fn run_single<M, L, R>(
    plan: CellPlan,
    cores: &[core_affinity::CoreId],
    churn: Option<Churn>,
    keys: &[&[u8]],
    make: M,
) -> CellResult
where
    M: Fn() -> L + Sync,
    L: FnMut(&[u8]) -> R,
{
    drive(plan, cores, churn, |phase| {
        let mut look = make();
        let mut groups = Groups::new(keys, GROUP_KEYS);
        while phase.get() == WARMUP {
            for &k in groups.next() {
                black_box(look(k));
            }
        }
        phase.enter(MEASURE);
        let (t0, c0) = (Instant::now(), thread_cpu_ns());
        let mut lookups = 0u64;
        loop {
            let g = groups.next();
            for &k in g {
                black_box(look(k));
            }
            lookups += g.len() as u64;
            if phase.get() != MEASURE {
                break;
            }
        }
        let (elapsed_ns, cpu_ns) = (
            t0.elapsed().as_nanos() as u64,
            thread_cpu_ns().saturating_sub(c0),
        );
        let mut hist = timer::new_histogram();
        phase.enter(LATENCY);
        let mut i = 0usize;
        loop {
            for &k in groups.next() {
                i += 1;
                if i.is_multiple_of(SAMPLE_EVERY) {
                    let k = black_box(k);
                    let a = timer::start();
                    let r = look(k);
                    let r = black_box(r);
                    let b = timer::stop();
                    drop(r);
                    hist.saturating_record(b.saturating_sub(a).max(1));
                } else {
                    black_box(look(k));
                }
            }
            if phase.get() != LATENCY {
                break;
            }
        }
        ThreadResult {
            lookups,
            elapsed_ns,
            cpu_ns,
            hist,
        }
    })
}

/// Batch workload: each reader keeps a cached [`ringroute::Reader`] and routes `batch` keys per
/// [`ringroute::Snapshot::route_batch`] call into a reused output slice.
pub fn run_batch(
    plan: CellPlan,
    cores: &[core_affinity::CoreId],
    churn: Option<Churn>,
    keys: &[&[u8]],
    router: &Router,
    batch: usize,
) -> CellResult {
    let per_group = GROUP_KEYS.div_ceil(batch).max(1) * batch;
    drive(plan, cores, churn, |phase| {
        let mut reader = router.reader();
        let mut out = vec![NO_OWNER; batch];
        let mut groups = Groups::new(keys, per_group);
        let mut route = |ks: &[&[u8]], out: &mut [u32]| {
            reader
                .snapshot()
                .route_batch(ks, &mut out[..ks.len()])
                .expect("out is as long as the batch");
            black_box(&*out);
        };
        while phase.get() == WARMUP {
            for ks in groups.next().chunks(batch) {
                route(ks, &mut out);
            }
        }
        phase.enter(MEASURE);
        let (t0, c0) = (Instant::now(), thread_cpu_ns());
        let mut lookups = 0u64;
        loop {
            let g = groups.next();
            for ks in g.chunks(batch) {
                route(ks, &mut out);
            }
            lookups += g.len() as u64;
            if phase.get() != MEASURE {
                break;
            }
        }
        let (elapsed_ns, cpu_ns) = (
            t0.elapsed().as_nanos() as u64,
            thread_cpu_ns().saturating_sub(c0),
        );
        let mut hist = timer::new_histogram();
        phase.enter(LATENCY);
        loop {
            for ks in groups.next().chunks(batch) {
                let a = timer::start();
                route(ks, &mut out);
                let b = timer::stop();
                hist.saturating_record(b.saturating_sub(a).max(1));
            }
            if phase.get() != LATENCY {
                break;
            }
        }
        ThreadResult {
            lookups,
            elapsed_ns,
            cpu_ns,
            hist,
        }
    })
}

/// Publishes up to `pairs` remove + re-add changes of `victims` (the next one each pair, cycling)
/// with no readers running (stopping
/// early once `budget` is spent, after at least one pair) and returns the duration of each call (ns).
pub fn publish_idle(
    router: &Router,
    victims: &[String],
    pairs: usize,
    budget: Duration,
) -> Histogram<u64> {
    let mut hist = timer::new_histogram();
    let begin = Instant::now();
    for (i, victim) in victims.iter().cycle().take(pairs).enumerate() {
        if i > 0 && begin.elapsed() > budget {
            break;
        }
        let t = Instant::now();
        router.remove_node(victim).expect("removing a present node");
        hist.saturating_record(t.elapsed().as_nanos() as u64);
        let t = Instant::now();
        router
            .add_node(Node::new(victim.as_str()))
            .expect("re-adding the node");
        hist.saturating_record(t.elapsed().as_nanos() as u64);
    }
    hist
}
