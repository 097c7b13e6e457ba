//! Change events from Python: `HashRing.on_change(callback)` and the `ringroute` logger.
//!
//! A ring's [`Hub`] subscribes to its router ([`ringroute::Router::subscribe`]) once someone
//! listens: a callback, or the `logging` logger `ringroute` enabled for `INFO` (checked before each
//! write). After each write from Python, the hub hands the events of the publications made since
//! to the logger (one line each) and to every callback, outside any lock, so a callback may itself
//! change the ring.

use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyTuple};
use ringroute::{ChangeEvent, Router};

/// The listeners of one ring.
#[derive(Default)]
pub struct Hub {
    events: Mutex<Option<Receiver<Arc<ChangeEvent>>>>,
    callbacks: Mutex<Vec<Py<PyAny>>>,
}

/// The `logging.getLogger("ringroute")` logger.
fn logger(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static LOGGER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    LOGGER
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(
                py.import("logging")?
                    .call_method1("getLogger", ("ringroute",))?
                    .unbind(),
            )
        })
        .map(|l| l.bind(py))
}

/// `logging.INFO`.
const INFO: u8 = 20;

/// The event as the dict callbacks receive.
fn event_dict<'py>(py: Python<'py>, e: &ChangeEvent) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("event", e.kind())?;
    d.set_item("version", e.version)?;
    let ts = e
        .timestamp
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |t| t.as_secs_f64());
    d.set_item("timestamp", ts)?;
    d.set_item("added", PyList::new(py, &e.added)?)?;
    d.set_item("removed", PyList::new(py, &e.removed)?)?;
    let rw = PyDict::new(py);
    for r in &e.reweighted {
        rw.set_item(&r.name, PyTuple::new(py, [r.from, r.to])?)?;
    }
    d.set_item("reweighted", rw)?;
    d.set_item("down", PyList::new(py, &e.down)?)?;
    d.set_item("up", PyList::new(py, &e.up)?)?;
    d.set_item("vnodes_added", e.points_added)?;
    d.set_item("vnodes_removed", e.points_removed)?;
    d.set_item("moved", e.moved)?;
    Ok(d)
}

impl Hub {
    /// A hub with no listener.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn subscribe(&self, router: &Router) {
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        if events.is_none() {
            *events = Some(router.subscribe());
        }
    }

    /// Registers a callback (and subscribes).
    pub fn add(&self, router: &Router, callback: Py<PyAny>) {
        self.subscribe(router);
        self.callbacks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(callback);
    }

    /// Whether anyone listens (a callback, or the logger once a write found it enabled): writes
    /// then publish at once, so that each change reaches the listeners when it is made.
    pub fn listening(&self) -> bool {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Before a write: subscribe if the `ringroute` logger would log the change.
    pub fn before(&self, py: Python<'_>, router: &Router) -> PyResult<()> {
        let subscribed = self
            .events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some();
        if !subscribed
            && logger(py)?
                .call_method1("isEnabledFor", (INFO,))?
                .is_truthy()?
        {
            self.subscribe(router);
        }
        Ok(())
    }

    /// After a write: log each pending event and call every callback with it. A callback that
    /// raises is reported through `sys.unraisablehook` (the change is published either way).
    pub fn after(&self, py: Python<'_>) -> PyResult<()> {
        let pending: Vec<Arc<ChangeEvent>> =
            match &*self.events.lock().unwrap_or_else(|p| p.into_inner()) {
                Some(rx) => rx.try_iter().collect(),
                None => return Ok(()),
            };
        if pending.is_empty() {
            return Ok(());
        }
        let callbacks: Vec<Py<PyAny>> = self
            .callbacks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|c| c.clone_ref(py))
            .collect();
        let log = logger(py)?;
        for e in pending {
            let d = event_dict(py, &e)?;
            let extra = PyDict::new(py);
            extra.set_item("ringroute", &d)?;
            let kwargs = PyDict::new(py);
            kwargs.set_item("extra", extra)?;
            log.call_method("info", ("%s", e.to_string()), Some(&kwargs))?;
            for cb in &callbacks {
                if let Err(err) = cb.call1(py, (d.copy()?,)) {
                    err.write_unraisable(py, Some(cb.bind(py)));
                }
            }
        }
        Ok(())
    }
}
