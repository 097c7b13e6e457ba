//! The clock for individually timed lookups: the time-stamp counter on x86-64 (serialised with
//! `lfence` before and `rdtscp; lfence` after, so the bracket holds exactly the timed work and nothing
//! that was in flight before it), `Instant` elsewhere. Ticks are converted to ns with a rate calibrated
//! against `Instant` at start-up. Nothing is subtracted from a timed sample: the timer's own cost, the
//! empty bracket, is measured and reported beside the percentiles.

use std::hint::black_box;
use std::sync::atomic::{compiler_fence, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Which clock `start`/`stop` read.
#[cfg(target_arch = "x86_64")]
pub const CLOCK: &str = "rdtsc";
/// Which clock `start`/`stop` read.
#[cfg(not(target_arch = "x86_64"))]
pub const CLOCK: &str = "Instant";

/// Reads the clock at the start of a timed region: waits for earlier instructions to finish first.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn start() -> u64 {
    use std::arch::x86_64::{_mm_lfence, _rdtsc};
    // SAFETY: lfence and rdtsc exist on every x86-64 CPU and touch no memory.
    let t = unsafe {
        _mm_lfence();
        let t = _rdtsc();
        _mm_lfence();
        t
    };
    compiler_fence(Ordering::SeqCst);
    t
}

/// Reads the clock at the end of a timed region: after everything before it has executed.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn stop() -> u64 {
    use std::arch::x86_64::{__rdtscp, _mm_lfence};
    compiler_fence(Ordering::SeqCst);
    let mut aux = 0u32;
    // SAFETY: rdtscp (checked present by the caller via `calibrate`, and on every x86-64 CPU this
    // harness targets) writes only `aux`; lfence touches no memory.
    unsafe {
        let t = __rdtscp(&mut aux);
        _mm_lfence();
        t
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn base() -> Instant {
    static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// Reads the clock at the start of a timed region (ns since an arbitrary origin).
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub fn start() -> u64 {
    let t = base().elapsed().as_nanos() as u64;
    compiler_fence(Ordering::SeqCst);
    t
}

/// Reads the clock at the end of a timed region (ns since an arbitrary origin).
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub fn stop() -> u64 {
    compiler_fence(Ordering::SeqCst);
    base().elapsed().as_nanos() as u64
}

/// The clock's rate and cost, measured once.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// ns per tick of `start`/`stop`.
    pub ns_per_tick: f64,
    /// Median cost of an empty `start()..stop()` bracket, in ns (included in every timed sample).
    pub overhead_ns: f64,
}

impl Clock {
    /// Calibrates the tick rate against `Instant` over ~`span` and measures the empty bracket.
    pub fn calibrate(span: Duration) -> Self {
        let ns_per_tick = if CLOCK == "Instant" {
            1.0
        } else {
            let (i0, c0) = (Instant::now(), start());
            while i0.elapsed() < span {
                std::hint::spin_loop();
            }
            let (c1, i1) = (stop(), Instant::now());
            (i1 - i0).as_nanos() as f64 / c1.saturating_sub(c0).max(1) as f64
        };
        let mut h = new_histogram();
        for _ in 0..20_000 {
            let a = start();
            black_box(());
            let b = stop();
            h.saturating_record(b.saturating_sub(a));
        }
        Self {
            ns_per_tick,
            overhead_ns: h.value_at_quantile(0.5) as f64 * ns_per_tick,
        }
    }

    /// Ticks to ns.
    pub fn ns(&self, ticks: u64) -> f64 {
        ticks as f64 * self.ns_per_tick
    }
}

/// A histogram of tick counts (1 tick .. 2^40 ticks, 3 significant digits).
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 1 << 40, 3).expect("valid histogram bounds")
}
