//! [`RingSelection`]: a ringroute ring as a pingora `BackendSelection`, and the iterator over a
//! key's distinct backends that both selections return.

use std::collections::BTreeSet;
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
        DistinctBackends::new(Arc::clone(self), key)
    }
}

/// A key's distinct backends: its owner first, then the next distinct backends of its walk; ends
/// after every backend that owns points has been yielded once.
///
/// The owner costs one lookup; the rest of the walk is computed when asked for.
pub struct DistinctBackends<S: Ring> {
    sel: Arc<S>,
    pos: u128,
    step: usize,
    rest: Vec<NodeId>,
}

impl<S: Ring> DistinctBackends<S> {
    pub(crate) fn new(sel: Arc<S>, key: &[u8]) -> Self {
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
