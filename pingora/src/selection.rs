//! [`RingSelection`]: a ringroute ring as a pingora `BackendSelection`, and the iterator over a
//! key's distinct backends that both selections return.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::Arc;

use pingora_load_balancing::selection::{BackendIter, BackendSelection};
use pingora_load_balancing::Backend;
use ringroute::{NodeId, Snapshot};

use crate::config::RingConfig;

/// A consistent-hash ring over pingora backends, of any ringroute profile; by default `nginx`,
/// which picks exactly the backend `KetamaHashing` picks for every key (and walks the same
/// backends after it), from a faster index. Build it through
/// `LoadBalancer::<RingSelection>::from_backends_with_config` with a [`RingConfig`], so that each
/// rebuild edits the previous ring.
///
/// [`iter`](BackendSelection::iter) yields a key's owner, then the next distinct backends of its
/// walk, each once, and ends after the last: `LoadBalancer::select(key, n)` looks at up to `n`
/// distinct backends and takes the first healthy one.
pub struct RingSelection {
    routed: Routed,
}

/// A selection's snapshot and, by node id, the backend each node stands for (read directly by the
/// iterator, not through the node's payload).
pub(crate) struct Routed {
    snap: Arc<Snapshot>,
    backends: Box<[Option<Backend>]>,
}

impl Routed {
    pub(crate) fn new(snap: Arc<Snapshot>) -> Self {
        let backends = snap
            .nodes()
            .map(|n| n.payload_as::<Backend>().cloned())
            .collect();
        Self { snap, backends }
    }

    pub(crate) fn snapshot(&self) -> &Snapshot {
        &self.snap
    }

    #[inline]
    pub(crate) fn backend(&self, id: NodeId) -> Option<&Backend> {
        self.backends.get(id.index())?.as_ref()
    }
}

/// The snapshot behind a selection (both selections share the iterator).
pub trait Ring: Send + Sync + sealed::Sealed {
    /// The snapshot this selection routes with.
    fn snapshot(&self) -> &Snapshot;

    /// The backend of node `id` of the snapshot.
    #[doc(hidden)]
    fn backend(&self, id: NodeId) -> Option<&Backend>;

    /// This thread's hold on the selection (see [`DistinctBackends`]).
    #[doc(hidden)]
    fn held(this: &Arc<Self>) -> Hold<Self>
    where
        Self: Sized;
}

/// A thread's hold on a selection: a count of the thread's own in front of the `Arc`'s shared one
/// (see [`DistinctBackends`]).
#[allow(clippy::redundant_allocation)]
pub type Hold<S> = Rc<Arc<S>>;

/// This thread's hold on the selection `this`, kept in `slot`: the held one if it is `this`,
/// else a new hold that replaces it. Outside the thread's lifetime (a thread-local destructor
/// selecting) or from inside the replacement (the old selection's drop selecting), a hold of its
/// own.
pub(crate) fn hold<S>(
    slot: &'static std::thread::LocalKey<RefCell<Option<Hold<S>>>>,
    this: &Arc<S>,
) -> Hold<S> {
    let held = slot.try_with(|held| {
        let mut held = held.try_borrow_mut().ok()?;
        if let Some(h) = held.as_ref().filter(|h| Arc::ptr_eq(h, this)) {
            return Some(Rc::clone(h));
        }
        let h = Rc::new(Arc::clone(this));
        let old = held.replace(Rc::clone(&h));
        drop(held);
        drop(old); // the previous selection's drop, outside the borrow
        Some(h)
    });
    match held {
        Ok(Some(h)) => h,
        _ => Rc::new(Arc::clone(this)),
    }
}

thread_local! {
    static RING_HELD: RefCell<Option<Hold<RingSelection>>> = const { RefCell::new(None) };
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::RingSelection {}
    impl Sealed for crate::maglev::MaglevSelection {}
}

impl RingSelection {
    /// A selection over `backends` built with `config` (as pingora builds it).
    pub fn with_config(backends: &BTreeSet<Backend>, config: &RingConfig) -> Self {
        Self {
            routed: Routed::new(config.build(backends)),
        }
    }
}

impl Ring for RingSelection {
    fn snapshot(&self) -> &Snapshot {
        self.routed.snapshot()
    }

    #[inline]
    fn backend(&self, id: NodeId) -> Option<&Backend> {
        self.routed.backend(id)
    }

    #[inline]
    fn held(this: &Arc<Self>) -> Hold<Self> {
        hold(&RING_HELD, this)
    }
}

impl BackendSelection for RingSelection {
    type Iter = DistinctBackends<RingSelection>;
    type Config = RingConfig;

    /// Edits the ring `config` built last into `backends`.
    fn build_with_config(backends: &BTreeSet<Backend>, config: &RingConfig) -> Self {
        Self::with_config(backends, config)
    }

    /// A ring of the `nginx` profile built afresh.
    fn build(backends: &BTreeSet<Backend>) -> Self {
        Self::with_config(backends, &RingConfig::default())
    }

    fn iter(self: &Arc<Self>, key: &[u8]) -> Self::Iter {
        DistinctBackends::new(Self::held(self), key)
    }
}

/// A key's distinct backends: its owner first, then the next distinct backends of its walk; ends
/// after every backend that owns points has been yielded once.
///
/// The owner costs one lookup; the rest of the walk is computed when asked for.
///
/// The iterator keeps its selection alive through a hold that its thread shares with the other
/// iterators it makes over the same selection (a thread-local reference-counted hold on the
/// selection's `Arc`), so making one writes no reference count that other threads write: an
/// `Arc` clone per iterator costs ~13 ns of a ~20 ns selection on one thread, more when the
/// proxy's threads share its cache line. So the iterator stays on its thread (it is not `Send`),
/// and each thread holds the selection it last iterated until it iterates a newer one.
pub struct DistinctBackends<S: Ring> {
    sel: Hold<S>,
    pos: u128,
    step: usize,
    rest: Vec<NodeId>,
}

impl<S: Ring> DistinctBackends<S> {
    pub(crate) fn new(sel: Hold<S>, key: &[u8]) -> Self {
        let pos = sel.snapshot().key_hash_wide(key);
        Self {
            sel,
            pos,
            step: 0,
            rest: Vec::new(),
        }
    }
}

impl<S: Ring> BackendIter for DistinctBackends<S> {
    #[inline]
    fn next(&mut self) -> Option<&Backend> {
        let snap = self.sel.snapshot();
        let id = if self.step == 0 {
            snap.route_wide(self.pos)
        } else {
            if self.step == 1 {
                snap.replicas_wide_into(self.pos, snap.len(), &mut self.rest);
            }
            self.rest.get(self.step).copied()
        };
        self.step += 1;
        self.sel.backend(id?)
    }
}
