//! `ringroute.Transaction`: changes grouped into one publication.
//!
//! The core's transaction holds the router's writer lock, which must not be held across arbitrary
//! Python code (nor moved between threads). So the Python transaction records its changes, checking
//! each one at once against a private working copy of the membership (a core [`Builder`], so errors
//! surface at the call that caused them), and replays them in one core transaction at commit: all of
//! them are published together, or none. The replay applies to the membership current at commit, so
//! changes another writer published meanwhile are kept, not overwritten.

use std::sync::{Mutex, MutexGuard};

use pyo3::exceptions::{PyKeyError, PyRuntimeError};
use pyo3::prelude::*;
use ringroute::{Builder, Router};

use crate::{apply, member_name, to_py_err, to_weight, NodeSpec, Op};

struct State {
    ops: Vec<Op>,
    /// The working copy the changes are checked against; `None` once committed or abandoned.
    working: Option<Builder>,
}

/// A group of changes to a ``HashRing``, published together and once. Made by
/// ``HashRing.transaction()``; use it as a context manager::
///
///     with ring.transaction() as tx:
///         tx.add_node("c", weight=2)
///         tx.remove_node("a")
///         tx.set_node_weight("b", 3)
///
/// Each change is checked when it is made (a bad one raises at once and is not recorded). The block
/// publishes all of them when it ends normally, and nothing if it raises. Lookups during the block see
/// the membership as it was. A transaction commits once; using it afterwards is a ``RuntimeError``.
#[pyclass(frozen, module = "ringroute._ringroute", name = "Transaction")]
pub struct Transaction {
    router: Router,
    hub: std::sync::Arc<crate::events::Hub>,
    state: Mutex<State>,
}

impl Transaction {
    pub(crate) fn new(router: Router, hub: std::sync::Arc<crate::events::Hub>) -> Self {
        let working = router.load().edit();
        Self {
            router,
            hub,
            state: Mutex::new(State {
                ops: Vec::new(),
                working: Some(working),
            }),
        }
    }

    fn set_down(&self, name: &str, down: bool) -> PyResult<()> {
        let mut st = self.lock();
        let working = open(&mut st)?;
        if down {
            working.mark_down(name).map_err(to_py_err)?;
        } else {
            working.mark_up(name).map_err(to_py_err)?;
        }
        st.ops.push(Op::SetDown(name.to_owned(), down));
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The working copy of an open transaction, or a `RuntimeError`.
fn open(state: &mut State) -> PyResult<&mut Builder> {
    state
        .working
        .as_mut()
        .ok_or_else(|| PyRuntimeError::new_err("the transaction is already closed"))
}

#[pymethods]
impl Transaction {
    /// Add a node (same arguments and no-op rule as ``HashRing.add_node``).
    #[pyo3(
        signature = (name, weight=None, hostname=None, port=None, instance=None),
        text_signature = "(self, name, weight=1, hostname=None, port=None, instance=None)"
    )]
    fn add_node(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        weight: Option<&Bound<'_, PyAny>>,
        hostname: Option<&Bound<'_, PyAny>>,
        port: Option<&Bound<'_, PyAny>>,
        instance: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let node = NodeSpec::from_args(name, weight, hostname, port, instance)?.into_node(py);
        let mut st = self.lock();
        let working = open(&mut st)?;
        working
            .add_node_if_absent(node.clone())
            .map_err(to_py_err)?;
        st.ops.push(Op::Add(node));
        Ok(())
    }

    /// Remove a node. No-op if it is not present.
    fn remove_node(&self, name: &str) -> PyResult<()> {
        let mut st = self.lock();
        let working = open(&mut st)?;
        working.remove_node_if_present(name);
        st.ops.push(Op::Remove(name.to_owned()));
        Ok(())
    }

    /// Set a node's weight. ``KeyError`` if the node is not in the ring (as changed so far in this
    /// transaction), ``ValueError`` if the weight is out of range.
    fn set_node_weight(&self, name: &str, weight: &Bound<'_, PyAny>) -> PyResult<()> {
        let w = to_weight(weight)?;
        let mut st = self.lock();
        let working = open(&mut st)?;
        working.set_weight(name, w).map_err(to_py_err)?;
        st.ops.push(Op::SetWeight(name.to_owned(), w));
        Ok(())
    }

    /// Mark a node down (see ``HashRing.mark_down``). ``KeyError`` if the node is not in the ring
    /// (as changed so far in this transaction).
    fn mark_down(&self, name: &str) -> PyResult<()> {
        self.set_down(name, true)
    }

    /// Mark a node up again (see ``HashRing.mark_up``). ``KeyError`` as for ``mark_down``.
    fn mark_up(&self, name: &str) -> PyResult<()> {
        self.set_down(name, false)
    }

    /// Whether the named node is in the ring as changed so far in this transaction. ``False`` for
    /// anything that cannot be a node name, as for ``name in ring``.
    fn __contains__(&self, name: &Bound<'_, PyAny>) -> PyResult<bool> {
        let mut st = self.lock();
        let working = open(&mut st)?;
        Ok(member_name(name).is_some_and(|n| working.contains(n)))
    }

    /// Publish every change made so far as one new membership (nothing if there was none) and close
    /// the transaction. Called by the ``with`` block when it ends without an exception.
    ///
    /// A change that no longer applies because another writer published meanwhile (for example
    /// ``set_node_weight`` on a node that was removed) raises, and nothing is published.
    fn commit(&self, py: Python<'_>) -> PyResult<()> {
        let (ops, working) = {
            let mut st = self.lock();
            open(&mut st)?;
            (std::mem::take(&mut st.ops), st.working.take())
        };
        // Dropped with the lock released (see `rollback`).
        drop(working);
        if ops.is_empty() {
            return Ok(());
        }
        self.hub.before(py, &self.router)?;
        let published = apply(py, &self.router, ops).map_err(|e| {
            if e.is_instance_of::<PyKeyError>(py) {
                PyKeyError::new_err(format!("transaction not published: {}", e.value(py)))
            } else {
                e
            }
        });
        self.hub.after(py)?;
        published
    }

    /// Drop every change and close the transaction; nothing is published. Called by the ``with``
    /// block when it raises.
    fn rollback(&self) {
        let dropped = {
            let mut st = self.lock();
            (st.working.take(), std::mem::take(&mut st.ops))
        };
        // The pending nodes go only now, with the lock released: an `instance` dropped here may run
        // Python code (a `__del__`) that uses this transaction, which would wait for the lock for
        // ever, holding the interpreter, had it been dropped under it.
        drop(dropped);
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (exc_type=None, _exc_value=None, _traceback=None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        _exc_value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        if self.lock().working.is_none() {
            return Ok(false); // committed or rolled back inside the block
        }
        match exc_type {
            Some(t) if !t.is_none() => self.rollback(),
            _ => self.commit(py)?,
        }
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let st = self.lock();
        let state = if st.working.is_some() {
            "open"
        } else {
            "closed"
        };
        format!("<ringroute.Transaction {state} changes={}>", st.ops.len())
    }
}
