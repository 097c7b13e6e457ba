//! `HashRing`'s single-key lookups (`get_node`, `get_replicas`) as plain CPython vectorcall
//! methods (`METH_FASTCALL | METH_KEYWORDS`), installed on the class when the module loads.
//!
//! Why: a PyO3 method call spends, besides the lookup, ~15 ns on its own frame (the attach count,
//! the deferred-reference check, the generic argument parser), about as much as the hashing and
//! the search of the key together (`python/benches/bench_ringroute.py`, `get_node` single call;
//! `docs/performance.md`). These functions take their arguments straight from the vector CPython
//! passes, and then run the same safe code the rest of the binding does.
//!
//! Every `unsafe` block of this module is about the calling convention: reading the argument
//! vector, borrowing `self`, handing back a new reference or a raised exception.
//!
//! These calls do not raise PyO3's attach count, so a `Py` dropped inside one (the name table of
//! a snapshot the thread's reader has just let go) has its reference released at the next PyO3
//! call on any thread rather than at once: PyO3's deferred-release pool, which is sound (the pool
//! is drained by every method call of the rest of the binding).

use std::ffi::CStr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::panic::PanicException;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple, PyType};

use crate::ring::HashRing;

/// What a method's body gets: the interpreter token, the ring, its `N` arguments in declared order.
type Body<const N: usize> = for<'a, 'py> fn(
    Python<'py>,
    &HashRing,
    [Borrowed<'a, 'py, PyAny>; N],
) -> PyResult<Bound<'py, PyAny>>;

/// A method to install: its name, its parameter names (all required), its docstring with the
/// text signature CPython reads for `inspect.signature` (`name($self, a, b)\n--\n\n...`).
struct Method<const N: usize> {
    name: &'static CStr,
    params: [&'static str; N],
    doc: &'static CStr,
}

impl<const N: usize> Method<N> {
    fn name(&self) -> std::borrow::Cow<'static, str> {
        self.name.to_string_lossy()
    }

    /// The arguments of a call with keywords or a wrong count, in declared order, or the
    /// `TypeError` CPython's own functions raise for such a call.
    ///
    /// # Safety
    /// `args` holds `nargs` positional arguments then one per name of the tuple `kwnames` (not
    /// NULL), all live for the call, and the thread is attached (`py`).
    unsafe fn parse<'a, 'py>(
        &self,
        py: Python<'py>,
        args: *const *mut ffi::PyObject,
        nargs: usize,
        kwnames: *mut ffi::PyObject,
    ) -> PyResult<[Borrowed<'a, 'py, PyAny>; N]> {
        if nargs > N {
            return Err(PyTypeError::new_err(format!(
                "{}() takes {N} positional argument{} but {nargs} were given",
                self.name(),
                if N == 1 { "" } else { "s" }
            )));
        }
        let mut given: [Option<Borrowed<'a, 'py, PyAny>>; N] = [None; N];
        for (i, slot) in given.iter_mut().enumerate().take(nargs) {
            // SAFETY: `args[..nargs]` are live borrowed references for the call (the contract).
            *slot = Some(unsafe { Borrowed::from_ptr(py, *args.add(i)) });
        }
        if !kwnames.is_null() {
            // SAFETY: `kwnames` is a tuple of str (CPython's vectorcall protocol), live for the call.
            let names = unsafe { Borrowed::from_ptr(py, kwnames).cast_unchecked::<PyTuple>() };
            for (j, kw) in names.iter_borrowed().enumerate() {
                let kw = kw.cast::<PyString>()?;
                let kw = kw.to_cow()?;
                let Some(i) = self.params.iter().position(|p| *p == kw) else {
                    return Err(PyTypeError::new_err(format!(
                        "{}() got an unexpected keyword argument '{kw}'",
                        self.name()
                    )));
                };
                if given[i].is_some() {
                    return Err(PyTypeError::new_err(format!(
                        "{}() got multiple values for argument '{kw}'",
                        self.name()
                    )));
                }
                // SAFETY: the `j`-th keyword's value is `args[nargs + j]` (the protocol).
                given[i] = Some(unsafe { Borrowed::from_ptr(py, *args.add(nargs + j)) });
            }
        }
        if let Some(i) = given.iter().position(Option::is_none) {
            return Err(PyTypeError::new_err(format!(
                "{}() missing required argument '{}'",
                self.name(),
                self.params[i]
            )));
        }
        Ok(given.map(|v| v.unwrap_or_else(|| unreachable!("checked above"))))
    }

    /// Runs `body` on the arguments of a call of this method, turning an error or a panic into a
    /// raised exception (NULL) and a result into a new reference.
    ///
    /// # Safety
    /// To be called only by CPython as a `METH_FASTCALL | METH_KEYWORDS` method of `HashRing`: the
    /// thread is attached, `slf` is a `HashRing` (the method descriptor checks it), `args` holds
    /// `nargs` positional arguments then one per name of the tuple `kwnames` (or `kwnames` is NULL).
    #[inline(always)]
    unsafe fn call(
        &self,
        body: Body<N>,
        slf: *mut ffi::PyObject,
        args: *const *mut ffi::PyObject,
        nargs: ffi::Py_ssize_t,
        kwnames: *mut ffi::PyObject,
    ) -> *mut ffi::PyObject {
        // SAFETY: the contract: attached, `slf` a live `HashRing` borrowed for the call.
        let (py, ring) = unsafe {
            let py = Python::assume_attached();
            (py, Borrowed::from_ptr(py, slf).cast_unchecked::<HashRing>())
        };
        let nargs = nargs as usize;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let vals = if kwnames.is_null() && nargs == N {
                // SAFETY: `args[..N]` are live borrowed references for the call (the contract).
                std::array::from_fn(|i| unsafe { Borrowed::from_ptr(py, *args.add(i)) })
            } else {
                // SAFETY: the contract, passed on.
                unsafe { self.parse(py, args, nargs, kwnames)? }
            };
            body(py, ring.get(), vals)
        }));
        let err = match outcome {
            Ok(Ok(out)) => return out.into_ptr(),
            Ok(Err(e)) => e,
            Err(_) => PanicException::new_err(format!("{}() panicked", self.name())),
        };
        err.restore(py);
        ptr::null_mut()
    }

    /// Installs this method on `ty`, replacing any attribute of its name.
    fn install(
        &'static self,
        ty: &Bound<'_, PyType>,
        f: ffi::PyCFunctionFastWithKeywords,
    ) -> PyResult<()> {
        // The descriptor keeps a pointer to its definition for as long as the class lives: leak it
        // (one small struct per method, once per interpreter).
        let def = Box::leak(Box::new(ffi::PyMethodDef {
            ml_name: self.name.as_ptr(),
            ml_meth: ffi::PyMethodDefPointer {
                PyCFunctionFastWithKeywords: f,
            },
            ml_flags: ffi::METH_FASTCALL | ffi::METH_KEYWORDS,
            ml_doc: self.doc.as_ptr(),
        }));
        // SAFETY: attached (`ty` is bound); `def` lives forever; `PyDescr_NewMethod` returns a new
        // reference or NULL with an exception set, which `from_owned_ptr_or_err` takes over.
        let descr = unsafe {
            Bound::from_owned_ptr_or_err(ty.py(), ffi::PyDescr_NewMethod(ty.as_type_ptr(), def))?
        };
        ty.setattr(PyString::new(ty.py(), &self.name.to_string_lossy()), descr)
    }
}

/// Defines `extern "C" fn $entry`, the CPython entry point of method `$method`, which runs
/// `$body` on the call's arguments.
macro_rules! entry_point {
    ($entry:ident, $method:ident, $body:expr) => {
        unsafe extern "C" fn $entry(
            slf: *mut ffi::PyObject,
            args: *const *mut ffi::PyObject,
            nargs: ffi::Py_ssize_t,
            kwnames: *mut ffi::PyObject,
        ) -> *mut ffi::PyObject {
            // SAFETY: called by CPython as the method `$method` of `HashRing`, which `install`
            // puts on the class with this function as its entry point.
            unsafe { $method.call($body, slf, args, nargs, kwnames) }
        }
    };
}

static GET_NODE: Method<1> = Method {
    name: c"get_node",
    params: ["key"],
    doc: c"get_node($self, key)\n--\n\nReturn the node responsible for ``key`` (``str`` or ``bytes``), or ``None`` if the ring is\nempty.",
};

/// `get_node`'s body.
fn get_node_body<'py>(
    py: Python<'py>,
    ring: &HashRing,
    [key]: [Borrowed<'_, 'py, PyAny>; 1],
) -> PyResult<Bound<'py, PyAny>> {
    Ok(match ring.owner(&key)? {
        Some(name) => name.into_any(),
        None => py.None().into_bound(py),
    })
}

entry_point!(get_node, GET_NODE, get_node_body);

static GET_REPLICAS: Method<2> = Method {
    name: c"get_replicas",
    params: ["key", "count"],
    doc: c"get_replicas($self, key, count)\n--\n\nReturn up to ``count`` distinct nodes responsible for ``key``: the primary owner first (same\nas ``get_node``), then the next distinct nodes walking clockwise around the ring.",
};

/// `get_replicas`'s body.
fn get_replicas_body<'py>(
    _: Python<'py>,
    ring: &HashRing,
    [key, count]: [Borrowed<'_, 'py, PyAny>; 2],
) -> PyResult<Bound<'py, PyAny>> {
    Ok(ring.replicas(&key, &count)?.into_any())
}

entry_point!(get_replicas, GET_REPLICAS, get_replicas_body);

/// Installs this module's methods on `ty` (the `HashRing` class), in place of PyO3's.
pub fn install(ty: &Bound<'_, PyType>) -> PyResult<()> {
    GET_NODE.install(ty, get_node)?;
    GET_REPLICAS.install(ty, get_replicas)
}
