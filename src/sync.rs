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

/// The lock of a process-wide static: `std`'s, whose constructor is `const` (loom's is not). Only
/// the memory full builds keep for later ones (`crate::kept`) uses it, and under loom that memory
/// is never kept, so no model reaches it.
pub(crate) type StaticMutex<T> = std::sync::Mutex<T>;

/// How many stripes [`stripe`] spreads threads over (a power of two).
#[cfg(not(loom))]
pub(crate) const STRIPES: usize = 16;

/// Under loom, two: a model's threads still share and split stripes, in a state space loom can
/// cover.
#[cfg(loom)]
pub(crate) const STRIPES: usize = 2;

/// A thread's counter stripe: its index, below [`STRIPES`], and whether the thread has it to
/// itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stripe {
    /// The stripe, below [`STRIPES`].
    pub(crate) index: usize,
    /// Whether no other thread ever has this stripe: the first [`STRIPES`] threads to ask each get
    /// one of their own, and the threads after them share (not own) the stripes in turn. A stripe's
    /// owner may count in it with plain loads and stores, since no other thread writes those words.
    pub(crate) owned: bool,
}

/// The calling thread's stripe: threads take stripes in turn as they first ask, so up to
/// `STRIPES` threads each have their own (for counters that every thread bumps, kept one per stripe
/// so that threads do not write each other's cache lines).
#[cfg(not(loom))]
#[inline]
pub(crate) fn stripe() -> Stripe {
    use std::cell::Cell;
    use std::sync::atomic::AtomicUsize;
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static NUMBER: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    let n = NUMBER.with(|s| {
        let mut v = s.get();
        if v == usize::MAX {
            // Far below usize::MAX in any process: one per thread that ever asks.
            v = NEXT.fetch_add(1, Ordering::Relaxed);
            s.set(v);
        }
        v
    });
    Stripe {
        index: n % STRIPES,
        owned: n < STRIPES,
    }
}

/// The calling thread's stripe under loom: its model thread number (the digits of its id's
/// `ThreadId(n)` form, the same in every execution of a model), so that a model's threads take
/// different stripes as they do in a real run, and threads from the [`STRIPES`]th on share them.
#[cfg(loom)]
pub(crate) fn stripe() -> Stripe {
    let id = format!("{:?}", loom::thread::current().id());
    let n = id
        .bytes()
        .filter(u8::is_ascii_digit)
        .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
    Stripe {
        index: n % STRIPES,
        owned: n < STRIPES,
    }
}
