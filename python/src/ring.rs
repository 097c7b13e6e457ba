//! `ringroute.HashRing`: fastring's `HashRing` API (and more) over a core [`Router`].

use std::cell::RefCell;
use std::sync::Arc;

use pyo3::buffer::{Element, PyUntypedBuffer};
use pyo3::exceptions::{PyKeyError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBytes, PyDict, PyFrozenSet, PyInt, PyIterator, PyList, PyMemoryView, PyString, PyTuple,
    PyType,
};
use ringroute::hash::{xxh3_64, xxh64};
use ringroute::{Builder, Keys, NodeId, Placement, Profile, Reader, Router, Snapshot, NO_OWNER};

use crate::bounded::BoundedLoad;
use crate::events::Hub;
use crate::membership;
use crate::raw;
use crate::transaction::Transaction;
use crate::walk::NodeWalk;
use crate::{
    all_down_name, apply, key_bytes, member_name, py_instance, py_name, to_all_down, to_py_err,
    to_uint, to_weight, type_name, NodeSpec, Op, PICKLE_VERSION,
};

/// Batches at least this long are routed with the GIL released; shorter ones are not worth the
/// release and re-acquisition.
const DETACH_MIN: usize = 64;

/// The tag at the head of every pickle state, so a foreign tuple is recognised as such.
const PICKLE_TAG: &str = "ringroute.HashRing";

/// The keys of a batch: their bytes copied into one buffer, or key hashes (from a buffer, or
/// computed as the keys were read).
enum Batch {
    Keys(Keys),
    Hashes(Vec<u64>),
}

/// A key hash so cheap (xxh3, XXH64: a few nanoseconds for a short key) that a batch's keys are
/// hashed as they are read, with the GIL held, instead of copied out and hashed after with the GIL
/// released: one pass over the keys instead of three (copy, slice, hash).
#[derive(Clone, Copy)]
enum ReadHash {
    /// The `native` profile's.
    Xxh3,
    /// The `maglev` profile's.
    Xxh64,
}

impl ReadHash {
    /// `bytes`' hash.
    #[inline(always)]
    fn hash(self, bytes: &[u8]) -> u64 {
        match self {
            ReadHash::Xxh3 => xxh3_64(bytes),
            ReadHash::Xxh64 => xxh64(bytes),
        }
    }

    /// The profile's, if it is one of them. A key's hash routes as the key does under these
    /// profiles (`route_hash` of `key_hash(k)` is `route(k)`). The md5 and CRC profiles keep the
    /// copy: their batches hash many keys at once, with the GIL released.
    fn of(placement: Placement) -> Option<ReadHash> {
        match placement.profile() {
            Profile::Native => Some(ReadHash::Xxh3),
            Profile::Maglev => Some(ReadHash::Xxh64),
            _ => None,
        }
    }
}

impl Batch {
    /// Accepts a list or tuple (fast path), a buffer of unsigned 64-bit hashes, or any iterable,
    /// for a ring under `placement`.
    fn new(keys: &Bound<'_, PyAny>, placement: Placement) -> PyResult<Self> {
        let py = keys.py();
        // The batch of a list's or tuple's keys: read by `$each` and hashed as read under the
        // xxHash profiles (one loop per hash function, so that it is inlined), else copied out by
        // `$copy`.
        macro_rules! read {
            ($seq:expr, $each:path, $copy:path) => {{
                let mut h = Vec::with_capacity($seq.len());
                match ReadHash::of(placement) {
                    Some(ReadHash::Xxh3) => $each($seq, |b| h.push(xxh3_64(b)))?,
                    Some(ReadHash::Xxh64) => $each($seq, |b| h.push(xxh64(b)))?,
                    None => return Ok(Batch::Keys($copy($seq)?)),
                }
                Ok(Batch::Hashes(h))
            }};
        }
        if let Ok(list) = keys.cast::<PyList>() {
            return read!(list, raw::each_key_of_list, raw::keys_of_list);
        }
        if let Ok(t) = keys.cast::<PyTuple>() {
            return read!(t, raw::each_key_of_tuple, raw::keys_of_tuple);
        }
        if keys.is_instance_of::<PyString>() || keys.is_instance_of::<PyBytes>() {
            return Err(PyTypeError::new_err(format!(
                "expected an iterable of keys, not a single {} key (wrap it in a list)",
                type_name(keys)
            )));
        }
        if let Ok(buf) = PyUntypedBuffer::get(keys) {
            if buf.item_size() != 8 || !<u64 as Element>::is_compatible_format(buf.format()) {
                return Err(PyTypeError::new_err(format!(
                    "a buffer of keys must hold unsigned 64-bit key hashes (array('Q'), numpy \
                     uint64), not items of format {:?}",
                    buf.format().to_string_lossy()
                )));
            }
            if buf.item_count() == 0 {
                return Ok(Batch::Hashes(Vec::new()));
            }
            let hashes = match buf.into_typed::<u64>() {
                Ok(typed) => typed.to_vec(py)?,
                // Misaligned memory (e.g. a view at an odd offset): copy it out as bytes.
                Err(_) => {
                    let raw = py
                        .get_type::<PyMemoryView>()
                        .call1((keys,))?
                        .call_method0("tobytes")?;
                    raw.cast::<PyBytes>()?
                        .as_bytes()
                        .chunks_exact(8)
                        .map(|c| u64::from_ne_bytes(c.try_into().unwrap_or([0; 8])))
                        .collect()
                }
            };
            return Ok(Batch::Hashes(hashes));
        }
        let t = py.get_type::<PyTuple>().call1((keys,)).map_err(|e| {
            if e.is_instance_of::<PyTypeError>(py) {
                PyTypeError::new_err(format!(
                    "keys must be an iterable of str or bytes, or a buffer of uint64 hashes, not {}",
                    type_name(keys)
                ))
            } else {
                e
            }
        })?;
        Batch::new(&t, placement)
    }

    /// The owner id of every key (or [`NO_OWNER`]), routed against `snap` with the GIL released for long
    /// batches.
    fn route(&self, py: Python<'_>, snap: &Snapshot) -> PyResult<Vec<u32>> {
        match self {
            Batch::Keys(keys) => {
                // The core's batch lookup: hashed and searched in groups, vector kernels.
                let run = || -> ringroute::Result<Vec<u32>> {
                    let mut out = vec![NO_OWNER; keys.len()];
                    snap.route_batch(&keys.slices(), &mut out)?;
                    Ok(out)
                };
                let out = if keys.len() >= DETACH_MIN {
                    py.detach(run)
                } else {
                    run()
                };
                out.map_err(to_py_err)
            }
            Batch::Hashes(h) => {
                let run = || -> ringroute::Result<Vec<u32>> {
                    let mut out = vec![NO_OWNER; h.len()];
                    snap.route_hash_batch(h, &mut out)?;
                    Ok(out)
                };
                let out = if h.len() >= DETACH_MIN {
                    py.detach(run)
                } else {
                    run()
                };
                out.map_err(to_py_err)
            }
        }
    }
}

/// The names of `snap`'s nodes in id order (the cached strings: no new string is made).
fn names_vec(py: Python<'_>, snap: &Snapshot) -> Vec<Py<PyString>> {
    snap.nodes().map(|n| py_name(py, n).unbind()).collect()
}

/// The exact position of point `rank` of `snap` (128 bits under a wide profile).
fn point_position(snap: &Snapshot, rank: usize) -> u128 {
    let hi = snap.points()[rank];
    match snap.point_lows() {
        Some(lows) => (u128::from(hi) << 64) | u128::from(lows[rank]),
        None => u128::from(hi),
    }
}

/// The names of `snap`'s nodes in id order, as a tuple (the index space of `get_node_index_batch`).
fn names_tuple<'py>(py: Python<'py>, snap: &Snapshot) -> PyResult<Bound<'py, PyTuple>> {
    PyTuple::new(py, snap.nodes().map(|n| py_name(py, n)))
}

/// The names of a snapshot's nodes, indexed by node id: built once per snapshot (on its first
/// lookup from Python) and kept with it, so a lookup answers with a table read.
struct NameTable(Vec<Py<PyString>>);

/// `snap`'s name table, shared (`None` only if the snapshot's derived slot holds something else,
/// which no snapshot made by this module does; callers fall back to the node's own name then).
#[inline]
fn shared_names<'s>(py: Python<'_>, snap: &'s Snapshot) -> Option<&'s Arc<NameTable>> {
    snap.derived(|s| {
        Arc::new(NameTable(
            s.nodes().map(|n| py_name(py, n).unbind()).collect(),
        ))
    })
}

/// `snap`'s name table (see [`shared_names`]; empty in the case it describes).
#[inline]
fn name_table<'s>(py: Python<'_>, snap: &'s Snapshot) -> &'s [Py<PyString>] {
    shared_names(py, snap).map_or(&[], |t| &t.0)
}

/// The name of node `id` of `snap`.
#[inline]
pub(crate) fn name_of<'py>(py: Python<'py>, snap: &Snapshot, id: NodeId) -> Bound<'py, PyString> {
    name_in(py, snap, name_table(py, snap), id)
}

/// The name of node `id` of `snap`, from `names` (`snap`'s name table).
#[inline]
fn name_in<'py>(
    py: Python<'py>,
    snap: &Snapshot,
    names: &[Py<PyString>],
    id: NodeId,
) -> Bound<'py, PyString> {
    if let Some(name) = names.get(id.index()) {
        return name.bind(py).clone();
    }
    // Ids come from `snap` itself, so the node exists; fall back to the id's text rather than panic.
    match snap.node(id) {
        Some(n) => py_name(py, n),
        None => PyString::new(py, &id.get().to_string()),
    }
}

/// The owners' names of a batch (`None` for [`NO_OWNER`]), as a list, from the snapshot's name table.
fn names_list<'py>(py: Python<'py>, snap: &Snapshot, ids: &[u32]) -> PyResult<Bound<'py, PyList>> {
    raw::names_list(
        py,
        ids,
        |i| i,
        name_table(py, snap),
        |i| name_of(py, snap, NodeId::new(i)),
    )
}

/// A consistent hash ring: keys (`str` or `bytes`) map to node names, deterministically, and a change
/// of membership moves only the keys it must.
///
/// ``HashRing(virtual_nodes=None, *, nodes=None, placement="native", table_size=None)``
///
/// - ``virtual_nodes``: points per unit of weight (default: the profile's own, 128 for ``"native"``).
/// - ``table_size``: for ``placement="maglev"`` (Envoy's Maglev table) only: the number of entries,
///   a prime of at most 5,000,011 (default 65,537); ``ValueError`` otherwise.
/// - ``nodes``: initial nodes, added in one publication: a list of names, or a dict of name to
///   weight, or of name to ``{"weight", "hostname", "port", "instance"}`` (uhashring's conf format).
/// - ``placement``: the placement profile, a name from ``ringroute.PROFILES`` (``"native"``, alias
///   ``"fastring"``, gives fastring 0.2.1's exact answers). An unknown name is a ``ValueError`` that
///   lists the valid ones.
///
/// Lock-free and thread-safe: lookups from any number of threads never block and always see one
/// whole membership, never a half-applied change. Supports ``len(ring)``, ``name in ring``,
/// ``for name in ring``, ``ring[key]`` (``KeyError`` on an empty ring) and pickling.
#[pyclass(frozen, module = "ringroute._ringroute", name = "HashRing")]
pub struct HashRing {
    pub(crate) router: Router,
    /// Its change listeners (`on_change`, the `ringroute` logger).
    pub(crate) hub: std::sync::Arc<Hub>,
    /// Its placement's key hash, where a single lookup hashes the key before it finds the
    /// thread's reader (see [`HashRing::owner`]); a ring's placement never changes.
    read: Option<ReadHash>,
}

impl HashRing {
    /// A ring over `router`, with no listener yet.
    pub(crate) fn over(router: Router) -> Self {
        let read = ReadHash::of(router.pin().placement());
        Self {
            router,
            hub: Hub::new(),
            read,
        }
    }

    /// Whether a single add, remove or re-weight is staged rather than published at once: when no
    /// one listens for change events (see `ringroute::Router`'s staged writes: the next lookup from
    /// any thread publishes what is staged, so no lookup misses a change made before it).
    fn staging(&self, py: Python<'_>) -> PyResult<bool> {
        self.hub.before(py, &self.router)?;
        Ok(!self.hub.listening())
    }

    /// Runs a write, with the change listeners told of what it published.
    fn write<T>(&self, py: Python<'_>, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
        self.hub.before(py, &self.router)?;
        let out = f();
        self.hub.after(py)?;
        out
    }

    /// Up to `count` distinct nodes for `key`, its owner first (`get_replicas`; see `fastcall`).
    pub(crate) fn replicas<'py>(
        &self,
        key: &Bound<'py, PyAny>,
        count: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let py = key.py();
        let count = to_uint(count, "count", u32::MAX.into())? as usize;
        let bytes = key_bytes(key)?;
        // Hashed first where it can be, as in `owner`.
        let pos = self.read.map(|read| u128::from(read.hash(bytes)));
        // The closure hands back the list alone (an exception stays raised in the interpreter
        // meanwhile): a `PyResult` is eight words, moved through memory on the way out.
        with_current(py, &self.router, |v| {
            let pos = pos.unwrap_or_else(|| v.snap.key_hash_wide(bytes));
            v.snap.replicas_wide_into(pos, count, v.ids);
            raw::names_list_reused(
                py,
                v.ids,
                NodeId::get,
                v.names,
                |i| name_of(py, v.snap, NodeId::new(i)),
                v.lists,
            )
            .map_err(|e| e.restore(py))
            .ok()
        })
        .ok_or_else(|| PyErr::fetch(py))
    }

    /// The owner of `key` (`get_node`; see `fastcall`).
    pub(crate) fn owner<'py>(
        &self,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyString>>> {
        let py = key.py();
        let bytes = key_bytes(key)?;
        // Under the xxHash profiles the key is hashed first, before the thread's reader is found:
        // its bytes are then read before that search's stores, not among them. Read among them
        // (as the snapshot's `route_id` does), a key's bytes took ~30 ns more in some processes
        // (four of six in one test), as the key's address and the stack's fell: ~60 against ~31
        // ns, and which keys were slow moved with the size of the environment (most likely a 4 KiB
        // alias).
        let hash = self.read.map(|read| read.hash(bytes));
        Ok(with_current(py, &self.router, |v| {
            match hash {
                Some(h) => v.snap.route_hash(h),
                None => v.snap.route_id(bytes),
            }
            .map(|id| name_in(py, v.snap, v.names, id))
        }))
    }
}

/// The most routers whose readers a thread keeps (see [`with_current`]).
const READERS_PER_THREAD: usize = 4;

/// What a thread keeps to read one ring: its reader, and the name table of the reader's snapshot
/// with that snapshot's version (so a lookup reads the table without asking the snapshot for it).
struct Cached {
    reader: Reader,
    names: Option<(u64, Arc<NameTable>)>,
}

/// A thread's lookup state: the rings it read last (most recent last), an id buffer, the
/// `get_replicas` lists it may hand back again.
struct Local {
    rings: Vec<Cached>,
    ids: Vec<NodeId>,
    lists: raw::KeptLists,
}

thread_local! {
    /// This thread's lookup state (one thread-local, read once per call).
    static LOCAL: RefCell<Local> = const {
        RefCell::new(Local { rings: Vec::new(), ids: Vec::new(), lists: raw::KeptLists::new() })
    };
}

/// What a lookup works on: a snapshot, its name table, a buffer for ids, the thread's kept lists.
struct View<'a> {
    snap: &'a Snapshot,
    names: &'a [Py<PyString>],
    ids: &'a mut Vec<NodeId>,
    lists: &'a mut raw::KeptLists,
}

/// Runs `f` on the current snapshot of `router` (staged changes published first), through this
/// thread's [`Reader`] of it: one load of the router's version per call, where a pin costs a
/// sequentially consistent write (~6 ns of a ~45 ns `get_node`). A thread keeps the readers of
/// the last [`READERS_PER_THREAD`] rings it read, and so their last snapshots, until it reads
/// others or ends. Falls back to a pin where the thread's state is out of reach (a thread-local
/// destructor, or `f` reading a ring again from inside, say from a `__del__` run by a collection).
#[inline(always)]
fn with_current<R>(py: Python<'_>, router: &Router, f: impl FnOnce(View<'_>) -> R) -> R {
    let mut f = Some(f);
    let cached = LOCAL.try_with(|cell| {
        let mut local = cell.try_borrow_mut().ok()?;
        let Local { rings, ids, lists } = &mut *local;
        let i = match rings
            .iter()
            .rposition(|c| Router::ptr_eq(c.reader.router(), router))
        {
            Some(i) => i,
            None => {
                if rings.len() >= READERS_PER_THREAD {
                    rings.remove(0);
                }
                rings.push(Cached {
                    reader: router.reader(),
                    names: None,
                });
                rings.len() - 1
            }
        };
        let Cached { reader, names } = &mut rings[i];
        let snap = reader.snapshot();
        let version = snap.version();
        if names.as_ref().is_none_or(|(v, _)| *v != version) {
            *names = shared_names(py, snap).map(|t| (version, Arc::clone(t)));
        }
        let names = names.as_ref().map_or(&[][..], |(_, t)| &t.0);
        let f = f.take()?;
        Some(f(View {
            snap,
            names,
            ids,
            lists,
        }))
    });
    match (cached, f) {
        (Ok(Some(r)), _) => r,
        (_, Some(f)) => {
            let snap = router.pin();
            f(View {
                snap: &snap,
                names: name_table(py, &snap),
                ids: &mut Vec::new(),
                lists: &mut raw::KeptLists::new(),
            })
        }
        (_, None) => unreachable!("`f` is taken only by a call that returns its result"),
    }
}

/// Converts the `nodes=` argument into node specs, in order.
fn parse_nodes(nodes: &Bound<'_, PyAny>) -> PyResult<Vec<NodeSpec>> {
    let mut out = Vec::new();
    if let Ok(d) = nodes.cast::<PyDict>() {
        for (name, v) in d.iter() {
            let spec = if v.is_none() {
                NodeSpec::from_args(&name, None, None, None, None)?
            } else if let Ok(conf) = v.cast::<PyDict>() {
                NodeSpec::from_conf(&name, conf)?
            } else {
                NodeSpec::from_args(&name, Some(&v), None, None, None)?
            };
            out.push(spec);
        }
        return Ok(out);
    }
    if nodes.is_instance_of::<PyString>() || nodes.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err(
            "nodes must be a list of names or a dict, not a single str or bytes",
        ));
    }
    for item in nodes.try_iter()? {
        let item = item?;
        out.push(NodeSpec::from_args(&item, None, None, None, None)?);
    }
    Ok(out)
}

/// `obj` if it is exactly an `int` (not a `bool`, not `None`, no subclass), else a pickle-state
/// error naming `what`: a state is read as written, never converted.
fn exact_int<'a, 'py>(obj: &'a Bound<'py, PyAny>, what: &str) -> PyResult<&'a Bound<'py, PyAny>> {
    if obj.is_exact_instance_of::<PyInt>() {
        Ok(obj)
    } else {
        Err(bad_state(format!(
            "{what} must be an int, not {}",
            type_name(obj)
        )))
    }
}

/// A `ValueError` for a damaged or foreign pickle state.
fn bad_state(why: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(format!("invalid ringroute.HashRing pickle state: {why}"))
}

#[pymethods]
impl HashRing {
    #[new]
    #[pyo3(signature = (virtual_nodes=None, *, nodes=None, placement="native", table_size=None))]
    fn py_new(
        py: Python<'_>,
        virtual_nodes: Option<&Bound<'_, PyAny>>,
        nodes: Option<&Bound<'_, PyAny>>,
        placement: &str,
        table_size: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let uint = |v: Option<&Bound<'_, PyAny>>, what: &str| -> PyResult<Option<u32>> {
            match v {
                Some(v) if !v.is_none() => Ok(Some(to_uint(v, what, u64::from(u32::MAX))? as u32)),
                _ => Ok(None),
            }
        };
        let vn = uint(virtual_nodes, "virtual_nodes")?;
        let table = uint(table_size, "table_size")?;
        let profile: Profile = placement.parse().map_err(to_py_err)?;
        // Maglev's number is its table size; ring profiles have no table.
        let vn = match (profile, vn, table) {
            (Profile::Maglev, None, table) => table,
            (Profile::Maglev, Some(_), _) => {
                return Err(PyValueError::new_err(
                    "the maglev placement has no virtual nodes: give table_size (a prime)",
                ))
            }
            (_, vn, None) => vn,
            (_, _, Some(_)) => {
                return Err(PyValueError::new_err(format!(
                    "table_size is the maglev placement's setting, not {placement:?}'s"
                )))
            }
        };
        let placement = Placement::new(profile, vn).map_err(to_py_err)?;
        let ring = HashRing::over(Router::new(placement));
        if let Some(nodes) = nodes.filter(|n| !n.is_none()) {
            let ops = parse_nodes(nodes)?
                .into_iter()
                .map(|s| Op::Add(s.into_node(py)))
                .collect();
            ring.write(py, || apply(py, &ring.router, ops))?;
        }
        Ok(ring)
    }

    /// Add a node to the ring.
    ///
    /// Adding a node that is already present is a no-op. Increase ``weight`` (an int in
    /// ``0..2**32``; 0 registers the node without giving it keys) to give a node a proportionally
    /// larger share of the keyspace. ``hostname``, ``port`` and ``instance`` are optional metadata,
    /// returned by ``get_node_hostname`` / ``get_node_port`` / ``get_node_instance``.
    ///
    /// Raises ``TypeError`` for a non-str name, ``ValueError`` for an empty name or a weight or port
    /// out of range.
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
        let spec = NodeSpec::from_args(name, weight, hostname, port, instance)?;
        let node = spec.into_node(py);
        if self.staging(py)? {
            let router = &self.router;
            return py
                .detach(|| router.stage_add_node(node))
                .map(drop)
                .map_err(to_py_err);
        }
        self.write(py, || apply(py, &self.router, vec![Op::Add(node)]))
    }

    /// Remove a node from the ring. No-op if the node is not present.
    fn remove_node(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        if self.staging(py)? {
            let router = &self.router;
            py.detach(|| router.stage_remove_node(name));
            return Ok(());
        }
        self.write(py, || {
            apply(py, &self.router, vec![Op::Remove(name.to_owned())])
        })
    }

    /// Set the weight of a node (an int in ``0..2**32``), keeping its metadata and place.
    ///
    /// Raises ``KeyError`` if the node is not in the ring, ``ValueError`` if the weight is out of
    /// range.
    fn set_node_weight(
        &self,
        py: Python<'_>,
        name: &str,
        weight: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let w = to_weight(weight)?;
        if self.staging(py)? {
            let router = &self.router;
            return py
                .detach(|| router.stage_set_weight(name, w))
                .map_err(to_py_err);
        }
        self.write(py, || {
            apply(py, &self.router, vec![Op::SetWeight(name.to_owned(), w)])
        })
    }

    /// Mark the named node down: lookups (``get_node``, the batches, ``get_replicas``,
    /// ``iterate_nodes``, ``range``) skip it, and its keys go to the next up node of their walks;
    /// every other key stays where it is. Nothing is rebuilt: the ring is shared, only the health
    /// changes. ``KeyError`` if there is no such node. Marking a down node down does nothing.
    fn mark_down(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        let router = &self.router;
        self.write(py, || {
            py.detach(|| router.mark_down(name).map(drop))
                .map_err(to_py_err)
        })
    }

    /// Mark the named node up again: every answer is as before it went down. ``KeyError`` if
    /// there is no such node.
    fn mark_up(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        let router = &self.router;
        self.write(py, || {
            py.detach(|| router.mark_up(name).map(drop))
                .map_err(to_py_err)
        })
    }

    /// Whether the named node is up. ``KeyError`` if there is no such node.
    fn is_up(&self, name: &str) -> PyResult<bool> {
        let snap = self.router.pin();
        let id = snap.id_of(name).ok_or_else(|| {
            to_py_err(ringroute::Error::UnknownNode {
                name: name.to_owned(),
            })
        })?;
        Ok(snap.is_up(id))
    }

    /// The names of the nodes that are down.
    #[getter]
    fn down_nodes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyFrozenSet>> {
        let snap = self.router.pin();
        PyFrozenSet::new(py, snap.down_nodes().map(|id| name_of(py, &snap, id)))
    }

    /// What lookups answer when every node that owns points is down: ``"panic"`` (the default:
    /// route as if every node were up) or ``"fail"`` (``None``, no replicas).
    #[getter]
    fn all_down(&self) -> &'static str {
        all_down_name(self.router.pin().all_down())
    }

    /// Set what lookups answer when every node that owns points is down: ``"panic"`` or
    /// ``"fail"`` (see ``all_down``). ``ValueError`` for anything else.
    fn set_all_down(&self, py: Python<'_>, policy: &str) -> PyResult<()> {
        let policy = to_all_down(policy)?;
        self.write(py, || apply(py, &self.router, vec![Op::AllDown(policy)]))
    }

    /// Start a transaction: changes made on it are published together, once, when the ``with``
    /// block ends without an exception, and not at all if it raises::
    ///
    ///     with ring.transaction() as tx:
    ///         tx.add_node("c", weight=2)
    ///         tx.remove_node("a")
    fn transaction(&self) -> Transaction {
        Transaction::new(self.router.clone(), std::sync::Arc::clone(&self.hub))
    }

    /// Bounded loads over this ring (see ``BoundedLoad``): each node takes at most ``factor``
    /// (a number above 1) times its weighted share of the requests in flight, rounded up. Follows
    /// the ring's later changes. ``ValueError`` for a factor that is not a finite number above 1.
    #[pyo3(signature = (factor=1.25))]
    fn bounded(&self, factor: f64) -> PyResult<BoundedLoad> {
        ringroute::BoundedLoad::new(self.router.clone(), factor)
            .map(BoundedLoad::new)
            .map_err(to_py_err)
    }

    fn __getitem__<'py>(&self, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyString>> {
        self.owner(key)?
            .ok_or_else(|| PyKeyError::new_err("the ring has no nodes"))
    }

    /// Batch variant of ``get_node``: a list aligned with ``keys``, each entry the owning node's
    /// name or ``None`` if the ring is empty. Releases the GIL while searching (and, under the md5
    /// and CRC profiles, while hashing; xxh3 and XXH64 keys are hashed as they are read), and
    /// answers every key from one membership.
    ///
    /// ``keys`` may be any iterable of ``str``/``bytes``, or a buffer of unsigned 64-bit key hashes
    /// (``array('Q')``, a numpy ``uint64`` array), each routed as the position ``key_hash`` returns.
    fn get_node_batch<'py>(&self, keys: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let py = keys.py();
        let batch = Batch::new(keys, self.router.pin().placement())?;
        let snap = self.router.pin();
        let ids = batch.route(py, &snap)?;
        names_list(py, &snap, &ids)
    }

    /// ``get_node_batch`` under fastring's name for it.
    fn get_owners<'py>(&self, keys: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        self.get_node_batch(keys)
    }

    /// Like ``get_node_batch``, but returns an ``array('I')`` of indices into ``ring.node_names``.
    ///
    /// A writer may publish between two calls: with ``with_names=True`` the result is
    /// ``(indices, names)``, both from the same membership. Raises ``KeyError`` if the ring has no
    /// nodes that own keys.
    #[pyo3(signature = (keys, *, with_names=false))]
    fn get_node_index_batch<'py>(
        &self,
        keys: &Bound<'py, PyAny>,
        with_names: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        static ARRAY: PyOnceLock<Py<PyType>> = PyOnceLock::new();
        let py = keys.py();
        let batch = Batch::new(keys, self.router.pin().placement())?;
        let snap = self.router.pin();
        let ids = batch.route(py, &snap)?;
        if ids.contains(&NO_OWNER) {
            return Err(PyKeyError::new_err("the ring has no nodes"));
        }
        let bytes = PyBytes::new_with(py, ids.len() * 4, |buf| {
            for (chunk, id) in buf.chunks_exact_mut(4).zip(&ids) {
                chunk.copy_from_slice(&id.to_ne_bytes());
            }
            Ok(())
        })?;
        let array = ARRAY.import(py, "array", "array")?.call1(("I", bytes))?;
        if array.len()? != ids.len() {
            return Err(PyValueError::new_err(
                "array('I') items are not 4 bytes on this platform",
            ));
        }
        if with_names {
            Ok(PyTuple::new(py, [array, names_tuple(py, &snap)?.into_any()])?.into_any())
        } else {
            Ok(array)
        }
    }

    /// An iterator over the nodes for ``key``, walking clockwise from its owner once around the ring.
    /// With ``distinct`` (the default) each node appears once; without it, one entry per point
    /// (virtual node). Empty on an empty ring.
    /// The walk is the ring's as it is at the call (later changes do not show in it), and is made
    /// as it is read: taking the first few nodes costs a few lookups, not a walk of the ring.
    #[pyo3(signature = (key, distinct=true))]
    fn iterate_nodes(&self, key: &Bound<'_, PyAny>, distinct: bool) -> PyResult<NodeWalk> {
        let bytes = key_bytes(key)?;
        let snap = self.router.load();
        let pos = snap.key_hash_wide(bytes);
        Ok(NodeWalk::new(snap, pos, distinct))
    }

    /// uhashring's ``range``: a list of the nodes for ``key`` walking clockwise from its owner, at
    /// most ``size`` of them. With ``unique`` (the default) each node appears once and ``size``
    /// defaults to all nodes; without it, one entry per point, ``size`` defaulting to one full turn.
    /// Returns node names (not uhashring's conf dicts), and ``size=0`` gives an empty list.
    #[pyo3(signature = (key, size=None, unique=true))]
    fn range<'py>(
        &self,
        key: &Bound<'py, PyAny>,
        size: Option<&Bound<'py, PyAny>>,
        unique: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let size = match size {
            Some(s) if !s.is_none() => Some(to_uint(s, "size", u64::MAX)? as usize),
            _ => None,
        };
        self.walk(key, size, unique)
    }

    /// The position of ``key`` on the ring (an int in ``0..2**64``): the value ``get_node_batch``
    /// accepts in a buffer of hashes.
    fn key_hash(&self, key: &Bound<'_, PyAny>) -> PyResult<u64> {
        let bytes = key_bytes(key)?;
        Ok(self.router.pin().key_hash(bytes))
    }

    /// The exact position of ``key`` as the original library computes it: for the ``"uhashring"``
    /// profile the 128-bit md5 integer (uhashring's ``hashi``), for every other profile the same
    /// value as ``key_hash``.
    fn key_position(&self, key: &Bound<'_, PyAny>) -> PyResult<u128> {
        let bytes = key_bytes(key)?;
        Ok(self.router.pin().key_hash_wide(bytes))
    }

    /// Every point of the ring in ascending order, as ``(position, node name)`` tuples; positions are
    /// exact (128-bit ints under the ``"uhashring"`` profile). Points of equal position appear as the
    /// profile keeps them (once for the uhashring, ketama and hash_ring profiles).
    fn get_points<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let snap = self.router.pin();
        let names = names_vec(py, &snap);
        let owners = snap.point_owners();
        let items = (0..snap.point_count())
            .map(|r| {
                let name = names
                    .get(owners[r] as usize)
                    .map(|n| n.clone_ref(py))
                    .unwrap_or_else(|| PyString::new(py, "?").unbind());
                PyTuple::new(
                    py,
                    [
                        point_position(&snap, r).into_pyobject(py)?.into_any(),
                        name.into_bound(py).into_any(),
                    ],
                )
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// Where ``key`` lands: ``(rank, position, node name)``, where ``rank`` is the index in
    /// ``get_points()`` of the point that owns the key (the start of its clockwise walk) and
    /// ``position`` that point's exact position; ``None`` if the ring has no points.
    fn locate<'py>(&self, key: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let py = key.py();
        let bytes = key_bytes(key)?;
        let snap = self.router.pin();
        let Some(rank) = snap.owner_rank(snap.key_hash_wide(bytes)) else {
            return Ok(None);
        };
        let owner = NodeId::new(snap.point_owners()[rank]);
        Ok(Some(PyTuple::new(
            py,
            [
                rank.into_pyobject(py)?.into_any(),
                point_position(&snap, rank).into_pyobject(py)?.into_any(),
                name_of(py, &snap, owner).into_any(),
            ],
        )?))
    }

    /// Return the hostname of the named node, or ``None`` if not set or unknown.
    fn get_node_hostname(&self, name: &str) -> Option<String> {
        let snap = self.router.pin();
        snap.node_by_name(name)
            .and_then(|n| n.hostname().map(str::to_owned))
    }

    /// Return the port of the named node, or ``None`` if not set or unknown.
    fn get_node_port(&self, name: &str) -> Option<u16> {
        self.router.pin().node_by_name(name).and_then(|n| n.port())
    }

    /// Return the weight of the named node, or ``None`` if it is not registered.
    fn get_node_weight(&self, name: &str) -> Option<u32> {
        self.router.pin().node_by_name(name).map(|n| n.weight())
    }

    /// Return the instance object attached to the named node (any Python object given as
    /// ``add_node(instance=...)``), or ``None``.
    fn get_node_instance<'py>(&self, py: Python<'py>, name: &str) -> Option<Bound<'py, PyAny>> {
        let snap = self.router.pin();
        snap.node_by_name(name).and_then(|n| py_instance(py, n))
    }

    /// Mapping of node name to its metadata: a dict per node with ``weight``, ``vnodes`` (the ring's
    /// ``virtual_nodes``, as fastring reports it; the node's points are weight × vnodes under the
    /// native profile), and ``hostname``, ``port`` and ``instance`` when they are set (a node
    /// without them has fastring's two keys only, so the dict equals fastring's). A new dict, in
    /// insertion order.
    #[getter]
    fn nodes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let snap = self.router.pin();
        let vn = snap.placement().virtual_nodes();
        let out = PyDict::new(py);
        for n in snap.nodes() {
            let d = PyDict::new(py);
            d.set_item("weight", n.weight())?;
            d.set_item("vnodes", vn)?;
            if let Some(h) = n.hostname() {
                d.set_item("hostname", h)?;
            }
            if let Some(p) = n.port() {
                d.set_item("port", p)?;
            }
            if let Some(i) = py_instance(py, n) {
                d.set_item("instance", i)?;
            }
            out.set_item(py_name(py, n), d)?;
        }
        Ok(out)
    }

    /// The node names in insertion order, as a tuple: the index space of ``get_node_index_batch``.
    #[getter]
    fn node_names<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        names_tuple(py, &self.router.pin())
    }

    /// The canonical name of the placement profile.
    #[getter]
    fn placement(&self) -> &'static str {
        self.router.pin().placement().profile().name()
    }

    /// Virtual nodes (points) per unit of weight (what the number means differs per profile; for
    /// ``"maglev"`` it is the table size).
    #[getter]
    fn virtual_nodes(&self) -> u32 {
        self.router.pin().placement().virtual_nodes()
    }

    /// The Maglev table's size (its entries), or ``None`` for a ring profile.
    #[getter]
    fn table_size(&self) -> Option<u32> {
        let placement = self.router.pin().placement();
        (placement.profile() == Profile::Maglev).then(|| placement.virtual_nodes())
    }

    /// Number of points on the ring.
    #[getter]
    fn point_count(&self) -> usize {
        self.router.pin().point_count()
    }

    /// The membership version: 0 for a new ring, one more at each publication. While no
    /// ``on_change`` callback or ``ringroute`` logger listens, single ``add_node``,
    /// ``remove_node`` and ``set_node_weight`` calls are checked at once but published together by
    /// the next read from any thread, so a loop of them counts as one publication.
    #[getter]
    fn version(&self) -> u64 {
        self.router.version()
    }

    /// A stable 64-bit hash of the placement and of every node's name and weight, independent of the
    /// order of insertion: equal on two rings (in any process) that route every key alike.
    #[getter]
    fn fingerprint(&self) -> u64 {
        self.router.pin().fingerprint()
    }

    /// Each node's exact share of the hash space (computed from the arcs between points, not by
    /// sampling keys) and of the points::
    ///
    ///     {"nodes": {name: {"weight", "points", "share", "point_share", "expected"}},
    ///      "points": total points, "max": largest share, "mean": 1 / nodes owning keys,
    ///      "imbalance": max / mean, "weighted_imbalance": max of share / expected}
    ///
    /// ``expected`` is the node's weight over the total weight.
    fn distribution<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let snap = self.router.pin();
        let d = ringroute::distribution(&snap);
        let nodes = PyDict::new(py);
        for s in &d.nodes {
            let e = PyDict::new(py);
            e.set_item("weight", s.weight)?;
            e.set_item("points", s.points)?;
            e.set_item("share", s.share)?;
            e.set_item("point_share", s.point_share)?;
            e.set_item("expected", s.expected)?;
            nodes.set_item(name_of(py, &snap, s.id), e)?;
        }
        let out = PyDict::new(py);
        out.set_item("nodes", nodes)?;
        out.set_item("points", d.points)?;
        out.set_item("max", d.max_share())?;
        out.set_item("mean", d.mean_share())?;
        out.set_item("imbalance", d.imbalance())?;
        out.set_item("weighted_imbalance", d.weighted_imbalance())?;
        Ok(out)
    }

    /// The exact share of the hash space (``0.0`` to ``1.0``) whose owner differs between this ring
    /// and ``other``: what changing one membership into the other moves. Owners are compared by
    /// name. Raises ``ValueError`` if the two rings use different placement profiles.
    fn moved_fraction(&self, other: &Bound<'_, HashRing>) -> PyResult<f64> {
        let a = self.router.pin();
        let b = other.get().router.pin();
        ringroute::moved_fraction(&a, &b).ok_or_else(|| {
            PyValueError::new_err(format!(
                "cannot compare rings of placements {:?} and {:?}",
                a.placement().profile().name(),
                b.placement().profile().name()
            ))
        })
    }

    /// A ring from a membership given as a dict, as in a membership file::
    ///
    ///     {"placement": "native", "virtual_nodes": None, "table_size": None,
    ///      "nodes": ["cache-a", {"name": "cache-b", "weight": 2, "hostname": "10.0.0.2",
    ///                            "port": 11211, "meta": {"zone": "b"}}]}
    ///
    /// Every key is optional; a node's ``meta`` (any JSON object) becomes its ``instance``.
    /// ``ValueError`` naming the node (index and name) and the field for bad content,
    /// ``TypeError`` for data that is not JSON; nothing is half-built.
    #[classmethod]
    fn from_dict(cls: &Bound<'_, PyType>, d: &Bound<'_, PyAny>) -> PyResult<Self> {
        membership::ring_of(cls.py(), &membership::from_py(d)?)
    }

    /// The ring's membership as a dict (see ``from_dict``): ``HashRing.from_dict(ring.to_dict())``
    /// has the same fingerprint. A node's ``instance`` is written as its ``meta``, so it must be a
    /// dict of JSON data (``TypeError`` otherwise). Down nodes are not part of a membership.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let snap = self.router.pin();
        membership::to_py(py, &membership::of_ring(py, &snap)?)
    }

    /// A ring from a membership file (``str`` or ``os.PathLike``): TOML if the name ends in
    /// ``.toml``, JSON otherwise, holding what ``from_dict`` takes. ``OSError`` if it cannot be
    /// read; ``ValueError`` naming the file, the node and the field if its content is wrong.
    #[classmethod]
    fn from_file(cls: &Bound<'_, PyType>, path: &Bound<'_, PyAny>) -> PyResult<Self> {
        membership::ring_of(cls.py(), &membership::load(path)?)
    }

    /// Write the ring's membership (see ``to_dict``) to a file, TOML if the name ends in ``.toml``
    /// (which has no null: ``ValueError`` for a meta holding one), JSON otherwise; written whole,
    /// through a temporary file renamed over the target.
    fn to_file(&self, py: Python<'_>, path: &Bound<'_, PyAny>) -> PyResult<()> {
        let snap = self.router.pin();
        membership::save(&membership::of_ring(py, &snap)?, path)
    }

    /// Call ``callback(event)`` after each change published through this ring (any thread's),
    /// with a dict: ``event`` (``"node_add"``, ``"node_remove"``, ``"node_reweight"``,
    /// ``"node_down"``, ``"node_up"``, ``"change"`` for several kinds, ``"settings"``),
    /// ``version``, ``timestamp`` (seconds since the epoch), ``added``, ``removed``, ``down``,
    /// ``up`` (lists of names), ``reweighted`` (name -> ``(old, new)`` weight), ``vnodes_added``,
    /// ``vnodes_removed`` (points) and ``moved`` (the exact share of the key space whose owner
    /// changed). The logger ``ringroute`` also gets one ``INFO`` line per change, with the dict as
    /// the record's ``ringroute`` attribute. A callback that raises is reported through
    /// ``sys.unraisablehook``; the change stays published.
    fn on_change(&self, callback: &Bound<'_, PyAny>) -> PyResult<()> {
        if !callback.is_callable() {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "callback must be callable, not {}",
                crate::type_name(callback)
            )));
        }
        self.hub.add(&self.router, callback.clone().unbind());
        Ok(())
    }

    /// Start timing this ring's publications (from the start of a commit to the swap) for
    /// ``publish_times``; costs two clock reads per publication from then on, nothing before.
    fn track_publish_times(&self) {
        self.router.track_publish_times()
    }

    /// ``None`` until ``track_publish_times()``; then ``{"count", "sum"`` (seconds), ``"buckets"``:
    /// a list of ``(upper bound in seconds, publications at or under it)``, cumulative, the last
    /// bound ``inf``.
    #[getter]
    fn publish_times<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(t) = self.router.publish_times() else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        d.set_item("count", t.count)?;
        d.set_item("sum", t.sum)?;
        let mut buckets: Vec<(f64, u64)> = ringroute::PUBLISH_BUCKETS
            .iter()
            .copied()
            .zip(t.buckets)
            .collect();
        buckets.push((f64::INFINITY, t.count));
        d.set_item("buckets", buckets)?;
        Ok(Some(d))
    }

    fn __len__(&self) -> usize {
        self.router.pin().len()
    }

    /// Whether ``name`` is a node of the ring: ``False`` for anything that cannot be a node name
    /// (a non-``str``, a ``str`` with lone surrogates), never an exception.
    fn __contains__(&self, name: &Bound<'_, PyAny>) -> bool {
        member_name(name).is_some_and(|n| self.router.pin().contains(n))
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyIterator>> {
        names_tuple(py, &self.router.pin())?.try_iter()
    }

    fn __repr__(&self) -> String {
        let snap = self.router.pin();
        format!(
            "<ringroute.HashRing placement='{}' virtual_nodes={} nodes={} points={} version={}>",
            snap.placement().profile().name(),
            snap.placement().virtual_nodes(),
            snap.len(),
            snap.point_count(),
            snap.version()
        )
    }

    /// Pickle support: ``(HashRing._from_state, (state,))``. The state is
    /// ``("ringroute.HashRing", format version, placement, virtual_nodes,
    /// ((name, weight, hostname, port, instance), ...))``.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let snap = slf.get().router.pin();
        let nodes = PyTuple::new(
            py,
            snap.nodes()
                .map(|n| {
                    PyTuple::new(
                        py,
                        [
                            py_name(py, n).into_any(),
                            n.weight().into_pyobject(py)?.into_any(),
                            n.hostname().into_pyobject(py)?.into_any(),
                            n.port().into_pyobject(py)?.into_any(),
                            py_instance(py, n).into_pyobject(py)?.into_any(),
                        ],
                    )
                })
                .collect::<PyResult<Vec<_>>>()?,
        )?;
        let down: Vec<_> = snap.down_nodes().map(|id| name_of(py, &snap, id)).collect();
        let down = PyTuple::new(py, down)?;
        let state = (
            PICKLE_TAG,
            PICKLE_VERSION,
            snap.placement().profile().name(),
            snap.placement().virtual_nodes(),
            nodes,
            down,
            all_down_name(snap.all_down()),
        );
        let ctor = slf.get_type().getattr("_from_state")?;
        PyTuple::new(py, [ctor, (state,).into_pyobject(py)?.into_any()])
    }

    /// Rebuild a ring from the state written by ``__reduce__``. A damaged or foreign state is a
    /// ``ValueError``.
    #[classmethod]
    fn _from_state(_cls: &Bound<'_, PyType>, state: &Bound<'_, PyAny>) -> PyResult<Self> {
        let py = state.py();
        let t = state
            .cast::<PyTuple>()
            .map_err(|_| bad_state(format!("expected a tuple, got {}", type_name(state))))?;
        if t.len() < 2 {
            return Err(bad_state(format!("expected 7 fields, got {}", t.len())));
        }
        let tag = t.get_item(0)?;
        if tag.cast::<PyString>().ok().and_then(|s| s.to_str().ok()) != Some(PICKLE_TAG) {
            return Err(bad_state(format!("unknown tag {}", tag.repr()?)));
        }
        let version = t.get_item(1)?;
        // Version 1 (5 fields) had no health; version 2 adds the down nodes and the policy.
        let fields = match exact_int(&version, "the format version")?.extract::<u32>() {
            Ok(1) => 5,
            Ok(PICKLE_VERSION) => 7,
            _ => {
                return Err(bad_state(format!(
                    "unsupported format version {} (this ringroute reads versions 1 to \
                     {PICKLE_VERSION})",
                    version.repr()?
                )))
            }
        };
        if t.len() != fields {
            return Err(bad_state(format!(
                "expected {fields} fields, got {}",
                t.len()
            )));
        }
        let profile: String = t
            .get_item(2)?
            .extract()
            .map_err(|_| bad_state("placement is not a str"))?;
        let vn: u32 = exact_int(&t.get_item(3)?, "virtual_nodes")?
            .extract()
            .map_err(|_| bad_state("virtual_nodes is not an int in 1..2**32"))?;
        let placement = Placement::from_name(&profile, Some(vn)).map_err(bad_state)?;
        let mut builder = Builder::new(placement);
        let nodes = t.get_item(4)?;
        let nodes = nodes
            .cast::<PyTuple>()
            .map_err(|_| bad_state("nodes is not a tuple"))?;
        for (i, n) in nodes.iter().enumerate() {
            let f = n
                .cast::<PyTuple>()
                .ok()
                .filter(|f| f.len() == 5)
                .ok_or_else(|| bad_state(format!("node {i} is not a 5-tuple")))?;
            let weight = f.get_item(1)?;
            exact_int(&weight, &format!("node {i}: weight"))?;
            let port = f.get_item(3)?;
            if !port.is_none() {
                exact_int(&port, &format!("node {i}: port"))?;
            }
            let spec = NodeSpec::from_args(
                &f.get_item(0)?,
                Some(&weight),
                Some(&f.get_item(2)?),
                Some(&port),
                Some(&f.get_item(4)?),
            )
            .map_err(|e| bad_state(format!("node {i}: {e}")))?;
            builder
                .add_node(spec.into_node(py))
                .map_err(|e| bad_state(format!("node {i}: {e}")))?;
        }
        if fields == 7 {
            let down = t.get_item(5)?;
            let down = down
                .cast::<PyTuple>()
                .map_err(|_| bad_state("down nodes is not a tuple"))?;
            for name in down.iter() {
                let name: String = name
                    .extract()
                    .map_err(|_| bad_state("a down node is not a str"))?;
                builder
                    .mark_down(&name)
                    .map_err(|e| bad_state(format!("down node: {e}")))?;
            }
            let policy: String = t
                .get_item(6)?
                .extract()
                .map_err(|_| bad_state("all_down is not a str"))?;
            builder.set_all_down(to_all_down(&policy).map_err(bad_state)?);
        }
        let snap = py.detach(|| builder.build()).map_err(bad_state)?;
        Ok(HashRing::over(Router::from_snapshot(snap)))
    }
}

impl HashRing {
    /// The nodes clockwise from `key`'s owner: distinct ones (at most `size`, default all), or one per
    /// point (at most `size`, default one full turn).
    fn walk<'py>(
        &self,
        key: &Bound<'py, PyAny>,
        size: Option<usize>,
        distinct: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let py = key.py();
        let bytes = key_bytes(key)?;
        let snap = self.router.pin();
        // The exact position (128 bits under a wide profile), so a key on or next to a point walks
        // from the same point the lookup answers with.
        let pos = snap.key_hash_wide(bytes);
        if snap.point_count() == 0 {
            return Ok(PyList::empty(py));
        }
        if distinct {
            let mut ids = Vec::new();
            snap.replicas_wide_into(pos, size.unwrap_or(usize::MAX), &mut ids);
            PyList::new(py, ids.into_iter().map(|id| name_of(py, &snap, id)))
        } else {
            let take = size.unwrap_or(usize::MAX).min(snap.point_count());
            let names: Vec<_> = snap
                .walk_wide(pos)
                .take(take)
                .map(|id| name_of(py, &snap, id))
                .collect();
            PyList::new(py, names)
        }
    }
}
