//! A node's in-flight counter and its lifetime in one atomic word.
//!
//! A slot is shared by the counter tables of every router version its node is in, and by the
//! node's leases. Counting both in one word (leases in the low 40 bits, tables above them) makes the
//! lease count the slot's reference count too: taking a lease is the one increment that counts the
//! request, and releasing it the one decrement, with no separate reference count to bump (an `Arc`
//! would add an increment and a decrement to every acquire). The slot is freed by whichever
//! reference goes last: the last table's (the node left the ring) or the last lease's.

use std::ptr::NonNull;

use crate::sync::{fence, AtomicU64, Ordering};

/// One table reference in a slot's word.
const TABLE: u64 = 1 << 40;
/// The lease count's bits.
const LEASES: u64 = TABLE - 1;

/// Aligned to two cache lines, so that two nodes' counters never share a line (nor an
/// adjacent-line prefetch pair).
#[repr(align(128))]
struct Slot {
    /// Leases + `TABLE` × tables holding the slot.
    word: AtomicU64,
    /// The node's name, in an allocation of the slot's own (made once per node), so that tests can
    /// watch the slot's life through it.
    name: std::sync::Arc<str>,
}

/// A table's reference to a slot.
pub(super) struct TableRef(NonNull<Slot>);

/// A lease's reference to a slot: one count of its load.
pub(super) struct LeaseRef(NonNull<Slot>);

// SAFETY: both are counted shared references to a `Slot`, which is `Send + Sync` (an atomic and an
// `Arc<str>`); the slot is freed only by the last reference's drop, whichever thread runs it.
unsafe impl Send for TableRef {}
// SAFETY: as above; `&TableRef` only reads the slot's name and the atomic.
unsafe impl Sync for TableRef {}
// SAFETY: as for `TableRef`.
unsafe impl Send for LeaseRef {}
// SAFETY: as for `TableRef`.
unsafe impl Sync for LeaseRef {}

impl TableRef {
    /// A new slot for the node `name`, with no lease, held by one table.
    pub(super) fn new(name: std::sync::Arc<str>) -> Self {
        let slot = Box::new(Slot {
            word: AtomicU64::new(TABLE),
            name,
        });
        Self(NonNull::from(Box::leak(slot)))
    }

    fn slot(&self) -> &Slot {
        // SAFETY: this reference is counted in the slot's word, so the slot is not freed before it
        // is dropped.
        unsafe { self.0.as_ref() }
    }

    /// Another table's reference to the same slot.
    pub(super) fn share(&self) -> Self {
        // Relaxed, as `Arc::clone`: the new reference is made from one that is held.
        self.slot().word.fetch_add(TABLE, Ordering::Relaxed);
        Self(self.0)
    }

    /// The leases out on the slot now.
    #[inline]
    pub(super) fn load(&self) -> u64 {
        self.slot().word.load(Ordering::Relaxed) & LEASES
    }

    /// Takes a lease: counts it in the slot's load.
    #[inline]
    pub(super) fn lease(&self) -> LeaseRef {
        self.slot().word.fetch_add(1, Ordering::Relaxed);
        LeaseRef(self.0)
    }

    /// Takes a lease and tells the leases that were out before it, in one atomic step: a caller
    /// that then finds the node full drops the lease (and its count) again. One locked
    /// instruction on the slot's line, where a load and then [`lease`](Self::lease) make two
    /// requests for it when another core wrote it last (a read, then one for ownership).
    #[inline]
    pub(super) fn reserve(&self) -> (LeaseRef, u64) {
        let before = self.slot().word.fetch_add(1, Ordering::Relaxed);
        (LeaseRef(self.0), before & LEASES)
    }

    /// The node's name.
    pub(super) fn name(&self) -> &std::sync::Arc<str> {
        &self.slot().name
    }

    /// Whether both refer to the same slot.
    #[cfg(test)]
    pub(super) fn same(&self, other: &TableRef) -> bool {
        self.0 == other.0
    }
}

impl LeaseRef {
    fn slot(&self) -> &Slot {
        // SAFETY: as in `TableRef::slot`: this lease is counted in the word.
        unsafe { self.0.as_ref() }
    }

    /// The node's name.
    #[inline]
    pub(super) fn name(&self) -> &str {
        &self.slot().name
    }

    /// The slot's leases now, this one included.
    #[cfg(test)]
    pub(super) fn load(&self) -> u64 {
        self.slot().word.load(Ordering::Relaxed) & LEASES
    }

    /// How many tables hold the slot.
    #[cfg(test)]
    pub(super) fn tables(&self) -> u64 {
        self.slot().word.load(Ordering::Relaxed) / TABLE
    }

    /// A weak observer of the slot's life, for tests: `Some` while the slot is alive (the name's
    /// `Arc` is dropped with the slot).
    #[cfg(test)]
    pub(super) fn name_watch(&self) -> std::sync::Weak<str> {
        std::sync::Arc::downgrade(&self.slot().name)
    }
}

/// Drops `weight` of the slot's references, and frees it if they were the last.
///
/// # Safety
/// The caller owns `weight` counted references to `slot` and gives them up.
#[inline]
unsafe fn release(slot: NonNull<Slot>, weight: u64) {
    // SAFETY: the caller's references keep the slot alive until this decrement.
    let before = unsafe { slot.as_ref() }
        .word
        .fetch_sub(weight, Ordering::Release);
    debug_assert!(before >= weight, "slot reference count underflow");
    if before == weight {
        // As in `Arc`'s drop: every other reference's use of the slot happens before its
        // decrement (Release), and this fence makes those decrements happen before the free.
        fence(Ordering::Acquire);
        // SAFETY: the count is 0: no reference is left, and none can be made (references are made
        // only from held ones). The slot was made by `Box` in `TableRef::new`.
        drop(unsafe { Box::from_raw(slot.as_ptr()) });
    }
}

impl Drop for TableRef {
    fn drop(&mut self) {
        // SAFETY: this is one table reference, given up here.
        unsafe { release(self.0, TABLE) }
    }
}

impl Drop for LeaseRef {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: this is one lease, given up here.
        unsafe { release(self.0, 1) }
    }
}
