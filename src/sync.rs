//! The concurrency primitives of the publication code and of the bounded-load counters, in one place.
//!
//! Normal builds get `std` and the process-wide crossbeam-epoch collector. Under `--cfg loom` (with
//! `--cfg crossbeam_loom`, which makes crossbeam-epoch itself run on loom's atomics) the same names
//! resolve to loom's model-checked versions, so `loom_tests/` checks the real [`crate::router`] and
//! [`crate::bounded`] code and crossbeam's reclamation under it, not a copy. Nothing else in the crate
//! touches atomics or locks.

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
