//! Raw CPython fast paths of the batch calls: reading the keys out of a list or tuple, and building the
//! result list from cached name strings. Every `unsafe` block of the binding lives in this module,
//! except the calling convention of the single-key lookups (`fastcall`).
//!
//! Why not PyO3's safe iterators: they take and release a strong reference per item and wrap every
//! key in a `Result`, which cost more than the hashing and the search of the key together
//! (`python/benches/bench_ringroute.py`, batch per key: 21 ns before this module, 10 ns with it;
//! `docs/performance.md`).

use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::critical_section::with_critical_section;
use pyo3::types::{PyList, PyString, PyTuple};

use ringroute::{Keys, NO_OWNER};

use crate::type_name;

// Key bytes are copied out of Python objects into one core `Keys` batch, or hashed on the spot:
// owning copies (or hashes) is what lets the search run with the GIL released while other threads
// mutate (or free) the objects the keys came from.

/// Calls `each` with the bytes (see [`key_bytes`]) of every key of a list, in order, read in place
/// under the list's critical section (free-threaded builds; with the GIL no other thread runs
/// meanwhile anyway). `each` must not run interpreter code. On free-threaded builds each item is
/// held by a strong reference while `each` reads it, and the list's length is re-read for every
/// item, so that even a critical section suspended inside the interpreter could not make us read
/// a freed object; with the GIL, which no code in this loop lets go of, the list keeps its items
/// alive and they are read through the list's own reference.
#[inline(always)]
pub fn each_key_of_list(list: &Bound<'_, PyList>, mut each: impl FnMut(&[u8])) -> PyResult<()> {
    with_critical_section(list.as_any(), || {
        let lp = list.as_ptr();
        let mut i = 0;
        loop {
            // SAFETY: `lp` is a list (the type of `list`), read while attached; `i` is checked
            // against its current length just before the item is read, and nothing between the
            // read and taking a strong reference to the item runs interpreter code. With the GIL
            // (not free-threaded), nothing until the item's last use runs interpreter code either
            // (`key_bytes` reads the object or fills its UTF-8 cache; `each` is plain Rust), so
            // no other code can change the list or free the item meanwhile.
            let item = unsafe {
                if i >= ffi::PyList_GET_SIZE(lp) {
                    break;
                }
                #[cfg(Py_GIL_DISABLED)]
                let item = Bound::from_borrowed_ptr(list.py(), ffi::PyList_GET_ITEM(lp, i));
                #[cfg(not(Py_GIL_DISABLED))]
                let item = Borrowed::from_ptr(list.py(), ffi::PyList_GET_ITEM(lp, i));
                item
            };
            each(key_bytes(&item)?);
            i += 1;
        }
        Ok(())
    })
}

/// Calls `each` with the bytes of every key of a tuple, in order (immutable, so read in place
/// without any lock).
#[inline(always)]
pub fn each_key_of_tuple(tuple: &Bound<'_, PyTuple>, mut each: impl FnMut(&[u8])) -> PyResult<()> {
    for item in tuple.iter_borrowed() {
        each(key_bytes(&item)?);
    }
    Ok(())
}

/// The keys of a list, copied (see [`each_key_of_list`]).
pub fn keys_of_list(list: &Bound<'_, PyList>) -> PyResult<Keys> {
    let mut keys = Keys::with_capacity(list.len(), list.len() * 16);
    each_key_of_list(list, |b| keys.push_with(|buf| append(buf, b)))?;
    Ok(keys)
}

/// The keys of a tuple, copied.
pub fn keys_of_tuple(tuple: &Bound<'_, PyTuple>) -> PyResult<Keys> {
    let mut keys = Keys::with_capacity(tuple.len(), tuple.len() * 16);
    each_key_of_tuple(tuple, |b| keys.push_with(|buf| append(buf, b)))?;
    Ok(keys)
}

/// The bytes of a key: the UTF-8 encoding of a `str` (never normalised), or a `bytes` object's
/// contents, borrowed from the object. `TypeError` for any other type, `UnicodeEncodeError` for a
/// `str` with lone surrogates.
#[inline(always)]
pub fn key_bytes<'a>(key: &'a Bound<'_, PyAny>) -> PyResult<&'a [u8]> {
    let obj = key.as_ptr();
    // SAFETY: `obj` is a live object (borrowed through `key`) and we are attached to the
    // interpreter. `PyUnicode_AsUTF8AndSize` returns a pointer to `len` bytes owned by the str (its
    // cached UTF-8 form, or NULL with an exception set), `PyBytes_AS_STRING`/`PyBytes_Size` the
    // bytes object's own buffer; both live as long as the object, which `key` (and so `'a`) keeps
    // alive, and neither is mutated while it is (str and bytes are immutable).
    unsafe {
        if ffi::PyUnicode_Check(obj) != 0 {
            // A compact ASCII str (most keys): its characters are its UTF-8 bytes, stored in the
            // object itself; read in place, without a call into the interpreter. (These layout
            // macros exist up to CPython 3.13 in PyO3's bindings.)
            #[cfg(not(any(Py_LIMITED_API, PyPy, GraalPy, Py_3_14)))]
            if ffi::PyUnicode_IS_COMPACT_ASCII(obj) != 0 {
                return Ok(std::slice::from_raw_parts(
                    ffi::PyUnicode_DATA(obj).cast::<u8>(),
                    ffi::PyUnicode_GET_LENGTH(obj) as usize,
                ));
            }
            let mut len: ffi::Py_ssize_t = 0;
            let p = ffi::PyUnicode_AsUTF8AndSize(obj, &mut len);
            if p.is_null() {
                return Err(PyErr::fetch(key.py()));
            }
            Ok(std::slice::from_raw_parts(p.cast::<u8>(), len as usize))
        } else if ffi::PyBytes_Check(obj) != 0 {
            Ok(std::slice::from_raw_parts(
                ffi::PyBytes_AS_STRING(obj).cast::<u8>(),
                ffi::PyBytes_Size(obj) as usize,
            ))
        } else {
            Err(PyTypeError::new_err(format!(
                "key must be str or bytes, not {}",
                type_name(key)
            )))
        }
    }
}

/// `dst.extend_from_slice(src)`, with keys of up to 16 bytes (the common case) copied in two
/// overlapping word moves instead of a call to `memcpy`.
#[inline(always)]
fn append(dst: &mut Vec<u8>, src: &[u8]) {
    let len = src.len();
    if !(4..=16).contains(&len) {
        dst.extend_from_slice(src);
        return;
    }
    dst.reserve(len);
    let at = dst.len();
    // SAFETY: `reserve` made room for `len` more bytes after `at`. For 8..=16 bytes, the two 8-byte
    // moves cover `[0, 8)` and `[len - 8, len)` of both `src` and the destination (overlapping in
    // the middle, with equal bytes); for 4..8 bytes, likewise with 4-byte moves. Every read is
    // within `src` and every write within the reserved room, unaligned accesses throughout; all
    // `len` bytes are then initialised, so the new length is valid.
    unsafe {
        let d = dst.as_mut_ptr().add(at);
        let s = src.as_ptr();
        if len >= 8 {
            let a = s.cast::<u64>().read_unaligned();
            let b = s.add(len - 8).cast::<u64>().read_unaligned();
            d.cast::<u64>().write_unaligned(a);
            d.add(len - 8).cast::<u64>().write_unaligned(b);
        } else {
            let a = s.cast::<u32>().read_unaligned();
            let b = s.add(len - 4).cast::<u32>().read_unaligned();
            d.cast::<u32>().write_unaligned(a);
            d.add(len - 4).cast::<u32>().write_unaligned(b);
        }
        dst.set_len(at + len);
    }
}

/// The most items of a list [`names_list_reused`] keeps for reuse.
pub const REUSE_MAX: usize = 8;

/// Lists a thread keeps to hand back again (see [`names_list_reused`]): two, so that a loop
/// holding the previous result while it asks for the next (`r = ring.get_replicas(k, 3)`) finds
/// the other one free.
pub struct KeptLists([Option<Py<PyList>>; 2]);

impl KeptLists {
    /// No lists kept.
    pub const fn new() -> KeptLists {
        KeptLists([None, None])
    }
}

/// [`names_list`] of names from `names` alone, into a list kept in `kept` when one is free: a
/// kept list nobody else holds (its reference count is 1, ours) and of the right length gets the
/// new names and is handed back, instead of a new list being made and the old one freed (a
/// list's two allocations and its collector tracking: a quarter of a `get_replicas(k, 3)` call,
/// measured). CPython's own `zip` and `enumerate` reuse their result tuples the same way. A list
/// that went back is indistinguishable from a new one to its caller: nothing else refers to it.
/// Free-threaded builds, whose reference counts are not exact from one thread, always make new
/// lists.
#[inline]
pub fn names_list_reused<'py, T: Copy>(
    py: Python<'py>,
    ids: &[T],
    raw_id: impl Fn(T) -> u32,
    names: &[Py<PyString>],
    fallback: impl FnMut(u32) -> Bound<'py, PyString>,
    kept: &mut KeptLists,
) -> PyResult<Bound<'py, PyList>> {
    let n = ids.len();
    let in_table = |id: u32| id == NO_OWNER || (id as usize) < names.len();
    if cfg!(not(Py_GIL_DISABLED)) && n <= REUSE_MAX && ids.iter().all(|&i| in_table(raw_id(i))) {
        for spare in kept.0.iter().flatten() {
            let lp = spare.as_ptr();
            // SAFETY: attached; `lp` is a list we hold a reference to. A reference count of 1 is
            // ours alone (with the GIL counts are exact), so no other code can see the list while
            // we write its `n` slots (its length, checked): each gets a new reference to a name
            // (kept alive by `names`) or `None`, and the reference to the item it held is released
            // after every slot is written, so any code a release runs sees a whole list.
            unsafe {
                if ffi::Py_REFCNT(lp) != 1 || ffi::PyList_GET_SIZE(lp) != n as ffi::Py_ssize_t {
                    continue;
                }
                let items = (*lp.cast::<ffi::PyListObject>()).ob_item;
                let mut old = [std::ptr::null_mut::<ffi::PyObject>(); REUSE_MAX];
                let none = ffi::Py_None();
                for (i, &id) in ids.iter().enumerate() {
                    let id = raw_id(id);
                    let obj = if id == NO_OWNER {
                        none
                    } else {
                        names[id as usize].as_ptr()
                    };
                    ffi::Py_INCREF(obj);
                    old[i] = *items.add(i);
                    *items.add(i) = obj;
                }
                let list = spare.bind(py).clone();
                for o in &old[..n] {
                    ffi::Py_XDECREF(*o);
                }
                return Ok(list);
            }
        }
    }
    let list = names_list(py, ids, raw_id, names, fallback)?;
    if cfg!(not(Py_GIL_DISABLED)) && n <= REUSE_MAX {
        // The new list replaces the older kept one, which is busy (or none). Its reference is
        // released here, attached (a `Py` dropped in a `fastcall` method would wait in PyO3's
        // pool for the next PyO3 call, one entry per call of a loop that keeps its results).
        if let Some(old) = kept.0[1].take() {
            drop(old.into_bound(py));
        }
        kept.0.rotate_right(1);
        kept.0[0] = Some(list.clone().unbind());
    }
    Ok(list)
}

/// A new list with one item per id (`raw_id` gives its number): `None` for [`NO_OWNER`], else `names[id]` (the snapshot's name table,
/// which the caller keeps alive), or `fallback(id)` for an id beyond the table. Each list item takes
/// its own reference.
#[inline]
pub fn names_list<'py, T: Copy>(
    py: Python<'py>,
    ids: &[T],
    raw_id: impl Fn(T) -> u32,
    names: &[Py<PyString>],
    mut fallback: impl FnMut(u32) -> Bound<'py, PyString>,
) -> PyResult<Bound<'py, PyList>> {
    // Owns the fallback strings until every list item has its own reference.
    let mut keep: Vec<Bound<'py, PyString>> = Vec::new();
    // SAFETY: attached to the interpreter. `PyList_New` returns a new list of `ids.len()` NULL slots
    // (or NULL with an exception set); we own that reference. Each slot is set exactly once, in
    // order, with a new reference (`Py_INCREF` on an object kept alive by `names`, by `keep` or, for
    // `None`, by the interpreter), which is what `PyList_SET_ITEM` steals. The slots are written
    // through the list's item array, read once: `PyList_SET_ITEM` would reload it after every
    // reference-count increment (which might alias it), a stall measured at about half of this
    // loop's time. The array holds `ids.len()` slots and nothing resizes the list meanwhile.
    unsafe {
        let list = ffi::PyList_New(ids.len() as ffi::Py_ssize_t);
        if list.is_null() {
            return Err(PyErr::fetch(py));
        }
        let list = Bound::from_owned_ptr(py, list).cast_into_unchecked::<PyList>();
        let items = (*list.as_ptr().cast::<ffi::PyListObject>()).ob_item;
        let none = ffi::Py_None();
        for (i, &id) in ids.iter().enumerate() {
            let id = raw_id(id);
            let obj = if id == NO_OWNER {
                none
            } else if let Some(name) = names.get(id as usize) {
                name.as_ptr()
            } else {
                let s = fallback(id);
                let p = s.as_ptr();
                keep.push(s);
                p
            };
            ffi::Py_INCREF(obj);
            *items.add(i) = obj;
        }
        Ok(list)
    }
}
