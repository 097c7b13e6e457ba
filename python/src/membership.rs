//! Membership files from Python: `HashRing.from_dict/to_dict/from_file/to_file` over the core's
//! [`ringroute::membership`] (one decoder, so Rust and Python report the same errors). A node's
//! `meta` object is its Python `instance` (a dict).

use std::path::PathBuf;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use ringroute::membership::{
    MemberRecord, Membership, MembershipError, Meta, NodeRecord, RingConfig,
};
use ringroute::{Node, Router, Snapshot};

use crate::ring::HashRing;
use crate::{py_instance, type_name, NodeSpec};

/// A membership error as Python's `ValueError` (one line: file, node, field, reason).
fn value_error(e: MembershipError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// `obj` as JSON text (`json.dumps`, no NaN or infinity): a `TypeError` for anything JSON cannot
/// hold.
fn dumps(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    let py = obj.py();
    let kwargs = PyDict::new(py);
    kwargs.set_item("allow_nan", false)?;
    py.import("json")?
        .call_method("dumps", (obj,), Some(&kwargs))
        .and_then(|s| s.extract::<String>())
        .map_err(|e| PyTypeError::new_err(format!("{what} is not JSON data: {}", e.value(py))))
}

/// The Python value of JSON text (`json.loads`).
fn loads<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?.call_method1("loads", (text,))
}

/// Decodes a membership given as Python data (a dict as in a JSON file).
pub fn from_py(d: &Bound<'_, PyAny>) -> PyResult<Membership> {
    if !d.is_instance_of::<PyDict>() {
        return Err(PyTypeError::new_err(format!(
            "a membership must be a dict, not {}",
            type_name(d)
        )));
    }
    Membership::from_json_str(&dumps(d, "the membership")?).map_err(value_error)
}

/// Builds the ring of `m`, all or nothing; each node's `meta` becomes its `instance`.
pub fn ring_of(py: Python<'_>, m: &Membership) -> PyResult<HashRing> {
    let mut nodes: Vec<Option<Node>> = Vec::with_capacity(m.nodes.len());
    for rec in &m.nodes {
        let instance = match &rec.record.meta {
            Some(meta) => {
                let text = serde_json::to_string(meta)
                    .map_err(|e| PyValueError::new_err(e.to_string()))?;
                Some(loads(py, &text)?.unbind())
            }
            None => None,
        };
        let spec = NodeSpec {
            name: rec.name.clone(),
            weight: rec.record.weight.unwrap_or(1),
            hostname: rec.record.hostname.clone(),
            port: rec.record.port,
            instance,
        };
        nodes.push(Some(spec.into_node(py)));
    }
    let snap: Snapshot = m
        .snapshot_with(|i, rec| {
            nodes
                .get_mut(i)
                .and_then(Option::take)
                .unwrap_or_else(|| rec.record.to_node(&rec.name))
        })
        .map_err(value_error)?;
    Ok(HashRing::over(Router::from_snapshot(snap)))
}

/// The membership of `snap`: each node's `instance` is its `meta`, so it must be a dict of JSON
/// data (or `None`); any other instance is a `TypeError` that names the node.
pub fn of_ring(py: Python<'_>, snap: &Snapshot) -> PyResult<Membership> {
    let mut nodes = Vec::with_capacity(snap.len());
    for n in snap.nodes() {
        let meta = match py_instance(py, n) {
            None => None,
            Some(inst) if inst.is_instance_of::<PyDict>() => {
                let text = dumps(&inst, &format!("node {:?}'s instance", n.name()))?;
                Some(serde_json::from_str::<Meta>(&text).map_err(|e| {
                    PyValueError::new_err(format!("node {:?}'s instance: {e}", n.name()))
                })?)
            }
            Some(inst) => {
                return Err(PyTypeError::new_err(format!(
                    "node {:?}: its instance ({}) is not a dict, so it cannot be written as the \
                     node's meta",
                    n.name(),
                    type_name(&inst)
                )))
            }
        };
        nodes.push(MemberRecord {
            name: n.name().to_owned(),
            record: NodeRecord {
                meta,
                ..NodeRecord::of(n)
            },
        });
    }
    Ok(Membership {
        config: RingConfig::of(snap.placement()),
        nodes,
    })
}

/// The Python data of a membership (a dict as in a JSON file).
pub fn to_py<'py>(py: Python<'py>, m: &Membership) -> PyResult<Bound<'py, PyAny>> {
    loads(py, &m.to_json_string())
}

/// A path argument: `str` or `os.PathLike`.
pub fn path_arg(path: &Bound<'_, PyAny>) -> PyResult<PathBuf> {
    path.py()
        .import("os")?
        .call_method1("fspath", (path,))?
        .extract::<PathBuf>()
}

/// Reads and decodes the membership file at `path`: `OSError` if it cannot be read, `ValueError`
/// (naming the file, node and field) if its content is wrong.
pub fn load(path: &Bound<'_, PyAny>) -> PyResult<Membership> {
    let path = path_arg(path)?;
    let text = std::fs::read_to_string(&path)?;
    Membership::parse(&path, &text).map_err(value_error)
}

/// Writes `m` to `path` whole (a temporary file beside it, renamed over it).
pub fn save(m: &Membership, path: &Bound<'_, PyAny>) -> PyResult<()> {
    let path = path_arg(path)?;
    let text = m.encode(&path).map_err(value_error)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &path)?;
    Ok(())
}
