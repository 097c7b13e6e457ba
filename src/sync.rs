//! The concurrency primitives of the publication code and of the bounded-load counters, in one place.
//!
//! Normal builds get `std` and the process-wide crossbeam-epoch collector. Under `--cfg loom` (with
//! `--cfg crossbeam_loom`, which makes crossbeam-epoch itself run on loom's atomics) the same names
//! resolve to loom's model-checked versions, so `loom_tests/` checks the real [`crate::router`] and
//! [`crate::bounded`] code and crossbeam's reclamation under it, not a copy. Nothing else in the crate
//! touches atomics or locks, nor picks a per-thread counter stripe ([`stripe`]).

#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{fence, AtomicU64, Ordering},
    Arc, Mutex, MutexGuard,
};

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{fence, AtomicU64, Ordering},
    Arc, Mutex, MutexGuard,
};

pub(crate) use crossbeam_epoch::{pin, Atomic, Guard, Owned};

/// How many stripes [`stripe`] spreads threads over (a power of two).
#[cfg(not(loom))]
pub(crate) const STRIPES: usize = 16;

/// Under loom, two: a model's threads still share and split stripes, in a state space loom can
/// cover.
#[cfg(loom)]
pub(crate) const STRIPES: usize = 2;

/// The calling thread's stripe, below [`STRIPES`]: threads take stripes in turn as they first ask,
/// so up to `STRIPES` threads each have their own (for counters that every thread bumps, kept one
/// per stripe so that threads do not write each other's cache lines).
#[cfg(not(loom))]
#[inline]
pub(crate) fn stripe() -> usize {
    use std::cell::Cell;
    use std::sync::atomic::AtomicUsize;
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    STRIPE.with(|s| {
        let mut v = s.get();
        if v == usize::MAX {
            v = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
            s.set(v);
        }
        v
    })
}

/// The calling thread's stripe under loom: its model thread number (the digits of its id's
/// `ThreadId(n)` form, the same in every execution of a model), so that a model's threads take
/// different stripes as they do in a real run.
#[cfg(loom)]
pub(crate) fn stripe() -> usize {
    let id = format!("{:?}", loom::thread::current().id());
    id.bytes()
        .filter(u8::is_ascii_digit)
        .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'))
        % STRIPES
}
