//! `HashRing.iterate_nodes`'s iterator: a key's clockwise walk, made as it is read.
//!
//! The walk is taken from one snapshot (the one current when `iterate_nodes` was called), so it
//! stays one membership's walk whatever is published meanwhile. Its nodes are made in chunks that
//! double (8, 16, 32, ...), each chunk the walk's next stretch: taking the first few nodes of a key
//! costs a few lookups, not a walk of the whole ring, and reading all of it costs at most about
//! twice a walk made at once.

use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyString;

use ringroute::{NodeId, Snapshot};

use crate::ring::name_of;

/// The first chunk's length.
const FIRST_CHUNK: usize = 8;

/// Where a walk is.
struct State {
    /// The nodes made but not yet taken, in walk order, and how many of them were taken.
    chunk: Vec<NodeId>,
    taken_of_chunk: usize,
    /// How many nodes the walk has made so far (taken or in `chunk`).
    made: usize,
    /// Whether the walk has no nodes beyond `chunk`.
    ended: bool,
}

/// An iterator over the nodes for a key, walking clockwise from its owner once around the ring
/// (``HashRing.iterate_nodes``): each node once, or one entry per point (virtual node). The walk is
/// the ring's as it was when ``iterate_nodes`` was called, and made as it is read. Safe to share
/// between threads (each item goes to one reader).
#[pyclass(frozen, module = "ringroute._ringroute", name = "NodeWalk")]
pub struct NodeWalk {
    snap: Arc<Snapshot>,
    /// The key's exact position (a value of `key_hash_wide`).
    pos: u128,
    distinct: bool,
    state: Mutex<State>,
}

impl NodeWalk {
    /// The walk of the key at exact position `pos` over `snap`.
    pub(crate) fn new(snap: Arc<Snapshot>, pos: u128, distinct: bool) -> Self {
        let ended = snap.point_count() == 0;
        NodeWalk {
            snap,
            pos,
            distinct,
            state: Mutex::new(State {
                chunk: Vec::new(),
                taken_of_chunk: 0,
                made: 0,
                ended,
            }),
        }
    }

    /// Makes the walk's next chunk (as long as the walk so far, at least [`FIRST_CHUNK`]) into
    /// `state.chunk`; marks the walk ended when it has no more.
    fn refill(&self, state: &mut State) {
        let want = state.made.max(FIRST_CHUNK);
        let mut next: Vec<NodeId> = if self.distinct {
            // The first `made + want` distinct nodes; the first `made` of them are the ones made
            // before (the walk is the same every time).
            let mut all = Vec::new();
            self.snap
                .replicas_wide_into(self.pos, state.made + want, &mut all);
            all.split_off(state.made.min(all.len()))
        } else {
            self.snap
                .walk_wide(self.pos)
                .skip(state.made)
                .take(want)
                .collect()
        };
        if next.len() < want {
            state.ended = true;
        }
        state.made += next.len();
        std::mem::swap(&mut state.chunk, &mut next);
        state.taken_of_chunk = 0;
    }
}

#[pymethods]
impl NodeWalk {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyString>>> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| PyRuntimeError::new_err("a NodeWalk was poisoned by a panic"))?;
        if state.taken_of_chunk == state.chunk.len() {
            if state.ended {
                return Ok(None);
            }
            self.refill(&mut state);
            if state.chunk.is_empty() {
                return Ok(None);
            }
        }
        let id = state.chunk[state.taken_of_chunk];
        state.taken_of_chunk += 1;
        Ok(Some(name_of(py, &self.snap, id)))
    }
}
