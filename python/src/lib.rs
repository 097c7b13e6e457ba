//! `ringroute._ringroute`: the native module of the Python package `ringroute`.
//!
//! Only translation between Python and the Rust core lives here: argument conversion, error mapping,
//! and the Python objects each node carries. Routing, placement, validation and publication are the
//! core's ([`ringroute::Router`], [`ringroute::Snapshot`], [`ringroute::Builder`]).
//!
//! # How Python data rides on the core
//!
//! Every node added from Python carries a [`PyNode`] payload: its name as a ready Python `str` (so a
//! lookup answers with one reference-count increment, no allocation) and the user's `instance` object.
//!
//! # Locks and the GIL
//!
//! Writers never hold the core's writer lock while attached to the interpreter: every change is
//! converted to Rust values first, then applied in one core transaction inside `Python::detach`. So a
//! thread waiting for the writer lock never holds the GIL, and a writer holding the lock never waits
//! for it. Batch lookups are also detached while they hash and search.

use std::sync::Arc;

use pyo3::exceptions::{PyKeyError, PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyInt, PyString, PyTuple, PyType};
use ringroute::{AllDown, Error, Node, Router};

mod bounded;
mod events;
mod fastcall;
mod membership;
mod raw;
mod ring;
mod transaction;
mod walk;

pub use bounded::{BoundedLoad, Lease};
pub use ring::HashRing;
pub use transaction::Transaction;

/// The version of the pickle state written by `HashRing.__reduce__`.
pub const PICKLE_VERSION: u32 = 2;

/// What a node added from Python carries as its core payload.
pub struct PyNode {
    /// The node's name as a Python string, returned by lookups.
    pub name: Py<PyString>,
    /// The user's `instance` object, if one was given.
    pub instance: Option<Py<PyAny>>,
}

/// The Python name of `node`: the cached string of its [`PyNode`] payload (every node added through
/// this module has one), or a new string otherwise.
#[inline]
pub fn py_name<'py>(py: Python<'py>, node: &Node) -> Bound<'py, PyString> {
    match node.payload_as::<PyNode>() {
        Some(p) => p.name.bind(py).clone(),
        None => PyString::new(py, node.name()),
    }
}

/// The `instance` object of `node`, if any.
pub fn py_instance<'py>(py: Python<'py>, node: &Node) -> Option<Bound<'py, PyAny>> {
    node.payload_as::<PyNode>()
        .and_then(|p| p.instance.as_ref())
        .map(|i| i.bind(py).clone())
}

/// Maps a core error to the Python exception the API documents: an unknown node is a `KeyError`,
/// everything else (bad name, weight, limits, profile) a `ValueError`.
pub fn to_py_err(e: Error) -> PyErr {
    match e {
        Error::UnknownNode { .. } => PyKeyError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

/// The name of `obj`'s type, for error messages.
pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_owned())
}

pub use raw::key_bytes;

/// The one rule of `name in ring` and `name in tx`: the name a membership test asks about, or `None`
/// when `obj` cannot name a node (not a `str`, or a `str` with lone surrogates, which no node name
/// holds), and the answer is then `False`, never an exception.
pub fn member_name<'a>(obj: &'a Bound<'_, PyAny>) -> Option<&'a str> {
    obj.cast::<PyString>().ok()?.to_str().ok()
}

/// The docstring of `ringroute.OutOfRangeError`.
const OUT_OF_RANGE_DOC: &str = "An integer argument out of its range (a negative weight, count or \
port, a weight of 2**32 or more, ...). Both a ``ValueError`` (what ringroute documents) and an \
``OverflowError`` (what fastring, whose arguments are unsigned, raises): ``except`` clauses written \
for either catch it.";

/// `ringroute.OutOfRangeError`, a subclass of both `ValueError` and `OverflowError`, made once per
/// interpreter (a class with two built-in bases is made by calling `type`, as Python's `class`
/// statement does).
pub fn out_of_range_error(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    static TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    TYPE.get_or_try_init(py, || {
        let bases = PyTuple::new(
            py,
            [
                py.get_type::<PyValueError>(),
                py.get_type::<PyOverflowError>(),
            ],
        )?;
        let ns = PyDict::new(py);
        ns.set_item("__module__", "ringroute")?;
        ns.set_item("__doc__", OUT_OF_RANGE_DOC)?;
        let ty = py
            .get_type::<PyType>()
            .call1(("OutOfRangeError", bases, ns))?
            .cast_into::<PyType>()?;
        Ok(ty.unbind())
    })
    .map(|t| t.bind(py))
}

/// An `OutOfRangeError` with `msg` (or the error that prevented making one).
pub fn out_of_range(py: Python<'_>, msg: String) -> PyErr {
    match out_of_range_error(py) {
        Ok(ty) => PyErr::from_type(ty.clone(), msg),
        Err(e) => e,
    }
}

/// An integer argument in `0..=max`: a `TypeError` if it is not an `int`, an `OutOfRangeError`
/// (a `ValueError` and an `OverflowError`) if it is out of range.
#[inline]
pub fn to_uint(v: &Bound<'_, PyAny>, what: &str, max: u64) -> PyResult<u64> {
    if !v.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be an int, not {}",
            type_name(v)
        )));
    }
    // `u64` first: one C call. (`i128` goes through Python-level arithmetic under the limited
    // API, several hundred ns; it is needed only to tell a negative or huge int in the message.)
    if let Ok(i) = v.extract::<u64>() {
        if i <= max {
            return Ok(i);
        }
    }
    match v.extract::<i128>() {
        Ok(i) if (0..=i128::from(max)).contains(&i) => Ok(i as u64),
        _ => Err(out_of_range(
            v.py(),
            format!("{what} must be between 0 and {max}, got {v}"),
        )),
    }
}

/// A weight: an `int` in `0..=u32::MAX`.
pub fn to_weight(v: &Bound<'_, PyAny>) -> PyResult<u32> {
    Ok(to_uint(v, "weight", u64::from(u32::MAX))? as u32)
}

/// One node as described from Python, before it becomes a core [`Node`].
pub struct NodeSpec {
    /// The node's name.
    pub name: String,
    /// Its weight.
    pub weight: u32,
    /// Optional hostname metadata.
    pub hostname: Option<String>,
    /// Optional port metadata.
    pub port: Option<u16>,
    /// Optional Python object attached to the node.
    pub instance: Option<Py<PyAny>>,
}

impl NodeSpec {
    /// Converts the arguments of `add_node` (also used by `nodes=` conf dicts and transactions).
    pub fn from_args(
        name: &Bound<'_, PyAny>,
        weight: Option<&Bound<'_, PyAny>>,
        hostname: Option<&Bound<'_, PyAny>>,
        port: Option<&Bound<'_, PyAny>>,
        instance: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let name = name
            .cast::<PyString>()
            .map_err(|_| {
                PyTypeError::new_err(format!("node name must be str, not {}", type_name(name)))
            })?
            .to_str()?
            .to_owned();
        let weight = match weight {
            Some(w) if !w.is_none() => to_weight(w)?,
            _ => 1,
        };
        let hostname = match hostname {
            Some(h) if !h.is_none() => Some(
                h.cast::<PyString>()
                    .map_err(|_| {
                        PyTypeError::new_err(format!(
                            "hostname must be str or None, not {}",
                            type_name(h)
                        ))
                    })?
                    .to_str()?
                    .to_owned(),
            ),
            _ => None,
        };
        let port = match port {
            Some(p) if !p.is_none() => Some(to_uint(p, "port", u64::from(u16::MAX))? as u16),
            _ => None,
        };
        let instance = instance
            .filter(|i| !i.is_none())
            .map(|i| i.clone().unbind());
        Ok(Self {
            name,
            weight,
            hostname,
            port,
            instance,
        })
    }

    /// Converts a uhashring-style conf dict `{weight, hostname, port, instance}` (every key optional).
    /// Unknown keys are a `ValueError`, so that a typo does not pass silently.
    pub fn from_conf(name: &Bound<'_, PyAny>, conf: &Bound<'_, PyDict>) -> PyResult<Self> {
        for k in conf.keys() {
            let ok = k
                .cast::<PyString>()
                .ok()
                .and_then(|s| s.to_str().ok())
                .is_some_and(|s| matches!(s, "weight" | "hostname" | "port" | "instance"));
            if !ok {
                let hint = if k.to_string() == "vnodes" {
                    " (virtual nodes are per ring: HashRing(virtual_nodes=...))"
                } else {
                    ""
                };
                return Err(PyValueError::new_err(format!(
                    "node {name}: unknown node setting {}{hint}; valid: weight, hostname, port, instance",
                    k.repr()?
                )));
            }
        }
        Self::from_args(
            name,
            conf.get_item("weight")?.as_ref(),
            conf.get_item("hostname")?.as_ref(),
            conf.get_item("port")?.as_ref(),
            conf.get_item("instance")?.as_ref(),
        )
    }

    /// The core node, with its [`PyNode`] payload.
    pub fn into_node(self, py: Python<'_>) -> Node {
        let payload = PyNode {
            name: PyString::new(py, &self.name).unbind(),
            instance: self.instance,
        };
        let mut node = Node::new(self.name)
            .with_weight(self.weight)
            .with_payload(Arc::new(payload));
        if let Some(h) = self.hostname {
            node = node.with_hostname(h);
        }
        if let Some(p) = self.port {
            node = node.with_port(p);
        }
        node
    }
}

/// A change to apply in a core transaction, converted from Python beforehand.
pub enum Op {
    /// Add the node unless a node of that name is present (fastring's no-op rule,
    /// [`ringroute::Builder::add_node_if_absent`]).
    Add(Node),
    /// Remove the named node if present ([`ringroute::Builder::remove_node_if_present`]).
    Remove(String),
    /// Set the named node's weight (`KeyError` if absent).
    SetWeight(String, u32),
    /// Mark the named node down (`true`) or up (`false`) (`KeyError` if absent).
    SetDown(String, bool),
    /// Set what lookups answer when every owner is down.
    AllDown(AllDown),
}

/// Applies `ops` in one core transaction and publishes once; on any error, publishes nothing.
/// Runs without the GIL (see the module docs).
pub fn apply(py: Python<'_>, router: &Router, ops: Vec<Op>) -> PyResult<()> {
    py.detach(|| {
        let mut tx = router.transaction();
        for op in ops {
            match op {
                Op::Add(node) => {
                    tx.add_node_if_absent(node)?;
                }
                Op::Remove(name) => {
                    tx.remove_node_if_present(&name);
                }
                Op::SetWeight(name, weight) => tx.set_weight(&name, weight)?,
                Op::SetDown(name, true) => tx.mark_down(&name)?,
                Op::SetDown(name, false) => tx.mark_up(&name)?,
                Op::AllDown(policy) => tx.set_all_down(policy),
            }
        }
        tx.commit().map(drop)
    })
    .map_err(to_py_err)
}

/// The native module. Declares free-threaded support: every class is frozen over thread-safe Rust
/// state.
#[pymodule(gil_used = false)]
fn _ringroute(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<HashRing>()?;
    fastcall::install(&m.py().get_type::<HashRing>())?;
    m.add_class::<Transaction>()?;
    m.add_class::<BoundedLoad>()?;
    m.add_class::<Lease>()?;
    m.add_class::<walk::NodeWalk>()?;
    m.add("OutOfRangeError", out_of_range_error(m.py())?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("PICKLE_VERSION", PICKLE_VERSION)?;
    let names: Vec<&str> = ringroute::Profile::ALL.iter().map(|p| p.name()).collect();
    m.add("PROFILES", names)?;
    Ok(())
}

/// The Python name of an [`AllDown`] policy.
pub fn all_down_name(policy: AllDown) -> &'static str {
    match policy {
        AllDown::Panic => "panic",
        AllDown::Fail => "fail",
    }
}

/// An [`AllDown`] policy from its Python name: `ValueError` for any other string.
pub fn to_all_down(name: &str) -> PyResult<AllDown> {
    match name {
        "panic" => Ok(AllDown::Panic),
        "fail" => Ok(AllDown::Fail),
        _ => Err(PyValueError::new_err(format!(
            "all_down must be 'panic' or 'fail', got {name:?}"
        ))),
    }
}
