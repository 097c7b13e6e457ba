//! `ringroute.BoundedLoad` and `ringroute.Lease`: bounded loads ([`ringroute::BoundedLoad`]) over a
//! `HashRing`'s router.

use std::sync::{Mutex, MutexGuard};

use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::ring::name_of;
use crate::{key_bytes, to_py_err};

/// Consistent hashing with bounded loads over a ``HashRing`` (made by ``HashRing.bounded``): each
/// request goes to its key's node unless that node already serves more than ``factor`` times its
/// weighted share of the requests in flight, and then to the next node of the key's walk with room
/// (Mirrokni, Thorup and Zadimoghaddam; Envoy's and HAProxy's hash balance factor, as a ratio)::
///
///     bl = ring.bounded(factor=1.25)
///     with bl.acquire("user:42") as node:
///         ...  # one request in flight on node
///
/// With ``m`` requests in flight, a node of weight ``w`` may take one more while it serves fewer
/// than ``ceil(factor * (m + 1) * w / W)`` (``W``: the total weight of the up nodes). Counts follow
/// the ring's changes: a node that stays keeps its count, a removed node's leases still release
/// cleanly. Thread-safe: share one ``BoundedLoad`` between threads.
#[pyclass(frozen, module = "ringroute._ringroute", name = "BoundedLoad")]
pub struct BoundedLoad {
    bl: ringroute::BoundedLoad,
}

impl BoundedLoad {
    pub(crate) fn new(bl: ringroute::BoundedLoad) -> Self {
        Self { bl }
    }
}

/// An unknown node's `KeyError`.
fn unknown(name: &str) -> PyErr {
    to_py_err(ringroute::Error::UnknownNode {
        name: name.to_owned(),
    })
}

#[pymethods]
impl BoundedLoad {
    /// Take a lease on a node for ``key`` (``str`` or ``bytes``; ``TypeError`` otherwise): a
    /// ``Lease``, a context manager whose ``with`` block yields the node's name and releases the
    /// lease when it ends. Raises ``KeyError`` when no node can take it (the ring is empty, or every
    /// node is down under ``all_down="fail"``).
    fn acquire(&self, key: &Bound<'_, PyAny>) -> PyResult<Lease> {
        let py = key.py();
        let bytes = key_bytes(key)?;
        let lease = self.bl.acquire_owned(bytes).ok_or_else(|| {
            PyKeyError::new_err("no node can take the request: the ring has no up nodes")
        })?;
        // The snapshot's cached name string when the lease comes from the current snapshot (the
        // usual case), else a new string.
        let snap = self.bl.router().pin();
        let node = if snap.version() == lease.version() {
            name_of(py, &snap, lease.node_id())
        } else {
            PyString::new(py, lease.node())
        };
        Ok(Lease {
            node: node.unbind(),
            lease: Mutex::new(Some(lease)),
        })
    }

    /// How many leases the named node holds now. ``KeyError`` if there is no such node.
    fn load(&self, name: &str) -> PyResult<u64> {
        self.bl.load(name).ok_or_else(|| unknown(name))
    }

    /// Every node's name with how many leases it holds now.
    fn loads<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (name, n) in self.bl.loads() {
            d.set_item(&*name, n)?;
        }
        Ok(d)
    }

    /// The capacity the named node has for the next request now: ``ceil(factor * (in_flight + 1)
    /// * weight / W)``, 0 for a down node. ``KeyError`` if there is no such node.
    fn capacity(&self, name: &str) -> PyResult<u64> {
        self.bl.capacity(name).ok_or_else(|| unknown(name))
    }

    /// How many leases are out, on every node (including nodes removed since).
    #[getter]
    fn in_flight(&self) -> u64 {
        self.bl.in_flight()
    }

    /// The balance factor (above 1).
    #[getter]
    fn factor(&self) -> f64 {
        self.bl.factor()
    }

    fn __repr__(&self) -> String {
        format!(
            "<ringroute.BoundedLoad factor={} in_flight={}>",
            self.bl.factor(),
            self.bl.in_flight()
        )
    }
}

/// A request in flight on a node, from ``BoundedLoad.acquire``. ``with lease as node:`` yields the
/// node's name and releases the lease at the end of the block; ``release()`` does it explicitly
/// (a second call does nothing), and a lease that is garbage-collected unreleased is released then.
/// Thread-safe.
#[pyclass(frozen, module = "ringroute._ringroute", name = "Lease")]
pub struct Lease {
    node: Py<PyString>,
    lease: Mutex<Option<ringroute::Lease<'static>>>,
}

impl Lease {
    fn lock(&self) -> MutexGuard<'_, Option<ringroute::Lease<'static>>> {
        self.lease.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[pymethods]
impl Lease {
    /// The name of the node the lease is on.
    #[getter]
    fn node(&self, py: Python<'_>) -> Py<PyString> {
        self.node.clone_ref(py)
    }

    /// Whether the lease has been released.
    #[getter]
    fn released(&self) -> bool {
        self.lock().is_none()
    }

    /// Release the lease. Idempotent.
    fn release(&self) {
        let lease = self.lock().take();
        drop(lease);
    }

    fn __enter__(&self, py: Python<'_>) -> Py<PyString> {
        self.node.clone_ref(py)
    }

    #[pyo3(signature = (_exc_type=None, _exc_value=None, _traceback=None))]
    fn __exit__(
        &self,
        _exc_type: Option<&Bound<'_, PyAny>>,
        _exc_value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> bool {
        self.release();
        false
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let state = if self.released() { "released" } else { "held" };
        format!(
            "<ringroute.Lease node={} {state}>",
            self.node.bind(py).to_string_lossy()
        )
    }
}
