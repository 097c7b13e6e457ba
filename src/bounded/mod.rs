//! Consistent hashing with bounded loads (Mirrokni, Thorup and Zadimoghaddam, SODA 2018): a key goes
//! to its owner unless the owner already serves more than its share of the requests in flight, and
//! then to the next node of its walk that has room.
//!
//! # The rule
//!
//! When a request arrives and `m` requests are in flight, node `i` of weight `w_i` may take it if it
//! serves fewer than `ceil(factor · (m + 1) · w_i / W)` of them, `W` being the total weight of the
//! up nodes that own points (Envoy's `hash_balance_factor`, HAProxy's `hash-balance-factor`, as a
//! ratio: 1.25 is their 125). The request goes to the first node of its key's walk
//! ([`Snapshot::walk_wide`]: the owner first, down nodes skipped) that may take it. The capacities
//! sum to at least `factor · (m + 1) > m`, so one thread always finds such a node; when threads race
//! and none is left, the least loaded node of the walk takes it.
//!
//! An acquire counts its lease on the key's owner and learns the owner's load before it in one
//! atomic step, and gives the count back if that load leaves no room: threads racing for an
//! owner's last place never both take it. A node reached further along the walk is checked and then
//! counted, so it may serve one more than its capacity per thread that picked it at the same
//! moment. (Each thread's capacity is computed from the total as it read it.)
//!
//! # Counters across memberships
//!
//! Each node's in-flight count is an atomic in its own cache-line-aligned slot (`slot`). A table,
//! made per router version, maps the snapshot's node ids to the slots; when the router publishes (a
//! membership or health change), the next `acquire` makes the next table under a lock, handing each
//! node that stays (by name) the slot it had, and swaps it in behind an epoch-protected pointer, as
//! the router swaps snapshots. Between publications, `acquire` reads the table with no lock and no
//! shared write beyond the two counters it bumps: the node's (one atomic increment, and one
//! decrement on release), and the calling thread's stripe of the total.
//!
//! # The total, in stripes
//!
//! Every acquire needs `m`, and every acquire and release changes it, so one shared counter would
//! be written by every thread on every request (measured: two threads then ran at a quarter of one
//! thread's rate). The total is kept in [`STRIPES`](crate::sync::STRIPES) cache-line-aligned
//! stripes instead; a thread counts its leases in its own stripe and a lease gives its count back
//! to the stripe it took it from, so no stripe is ever negative and each is a lower bound of `m`.
//! An acquire first checks the owner against the capacity its own stripe alone gives (never more
//! than the true one), and sums every stripe only when that says no: with one thread the answer is
//! exact as before, and with many the common case reads and writes only the thread's own lines.
//!
//! A stripe's counters only grow: leases taken, and leases given back, each in a word its owner
//! thread writes alone (the first `STRIPES` threads each own a stripe) and a word every other
//! thread adds to. The owner bumps its words with a plain load and store, so the common acquire and
//! release (on the thread that owns the stripe) make one locked instruction each, the node's
//! counter's; give-backs are published with `Release` and read first with `Acquire`, so a stripe's
//! count never sees a lease given back before it was taken (a loom model checks this).
//!
//! A lease holds a counted reference to its slot (the slot's lease count is its reference count
//! too), so it releases the right counter after any change; a removed node's slot goes away with
//! its last lease. A node removed and added again while leases of its old self are out starts from
//! a new slot (those leases still count in [`BoundedLoad::in_flight`], not in its load).

use std::fmt;

use crate::error::{Error, Result};
use crate::node::NodeId;
use crate::router::Router;
use crate::snapshot::Snapshot;
use crate::sync::{self, Arc, Atomic, AtomicU64, Guard, Mutex, Ordering, Owned};

mod slot;

use slot::{LeaseRef, TableRef};

/// A node of one table: its slot, and the weight its capacity is computed from (0 for a node that
/// takes no request as a first choice: down, or owning no point).
struct Entry {
    slot: TableRef,
    weight: f64,
}

/// The counters of one router version, indexed by the ids of its snapshot.
struct Table {
    version: u64,
    snap: Arc<Snapshot>,
    entries: Box<[Entry]>,
    /// `W`: the total weight of the nodes the walks visit.
    total_weight: f64,
    /// How many distinct nodes the walks visit (a walk stops after that many).
    walked: usize,
}

impl Table {
    /// The table of `snap`, reusing the slots of `prev`'s nodes by name.
    fn new(snap: Arc<Snapshot>, prev: Option<&Table>) -> Self {
        let owning = snap.ring.owning();
        // Walks skip down nodes unless none that owns a point is up (`AllDown::Panic` then routes
        // as if all were up; `AllDown::Fail` routes nowhere, so no weight matters).
        let any_up = (0..snap.len() as u32).any(|i| owning.owns(i) && !snap.health.is_down(i));
        let mut total_weight = 0.0;
        let mut walked = 0;
        let entries = snap
            .nodes()
            .enumerate()
            .map(|(i, node)| {
                let i = i as u32;
                let slot = prev
                    .and_then(|p| {
                        let j = p.snap.id_of(node.name())?;
                        Some(p.entries[j.index()].slot.share())
                    })
                    .unwrap_or_else(|| TableRef::new(node.name().into()));
                let visited = owning.owns(i) && (!any_up || !snap.health.is_down(i));
                let weight = if visited {
                    walked += 1;
                    f64::from(node.weight())
                } else {
                    0.0
                };
                total_weight += weight;
                Entry { slot, weight }
            })
            .collect();
        Self {
            version: snap.version(),
            snap,
            entries,
            total_weight,
            walked,
        }
    }
}

/// One stripe of the in-flight total, cache-line aligned: four counters that only grow. Its count
/// is the leases counted in it (`up`) less those given back (`down`); the words written by the
/// stripe's owner thread alone are bumped with a plain load and store, the others with `fetch_add`.
#[repr(align(128))]
struct Stripe {
    /// Leases its owner thread took.
    up_owned: AtomicU64,
    /// Leases other threads of the stripe took (threads past the first `STRIPES` share stripes).
    up_shared: AtomicU64,
    /// Leases of the stripe its owner thread gave back.
    down_owned: AtomicU64,
    /// Leases of the stripe other threads gave back.
    down_other: AtomicU64,
}

/// Adds one to a counter only the calling thread writes: no locked instruction.
#[inline(always)]
fn bump_owned(counter: &AtomicU64, order: Ordering) {
    counter.store(counter.load(Ordering::Relaxed).wrapping_add(1), order);
}

impl Stripe {
    /// Leases counted in the stripe and not given back. The `down` words are read first, with
    /// `Acquire`: every give-back is published with `Release` after its lease's count (by the same
    /// thread, or by one the lease was handed to), so the `up` words read after them include every
    /// lease those give-backs are of, and the count is never negative.
    #[inline(always)]
    fn count(&self) -> u64 {
        let down = self
            .down_owned
            .load(Ordering::Acquire)
            .wrapping_add(self.down_other.load(Ordering::Acquire));
        let up = self
            .up_owned
            .load(Ordering::Relaxed)
            .wrapping_add(self.up_shared.load(Ordering::Relaxed));
        // Checked in loom's models (release builds), where a missing order would show.
        #[cfg(loom)]
        assert!(up >= down, "in-flight underflow");
        debug_assert!(up >= down, "in-flight underflow");
        up.saturating_sub(down)
    }

    /// Counts a lease taken by a thread of stripe `by` (this stripe).
    #[inline(always)]
    fn up(&self, by: sync::Stripe) {
        if by.owned {
            bump_owned(&self.up_owned, Ordering::Relaxed);
        } else {
            self.up_shared.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Gives back a lease of this stripe (of index `index`), from a thread of stripe `by`.
    #[inline(always)]
    fn down(&self, index: usize, by: sync::Stripe) {
        if by.owned && by.index == index {
            bump_owned(&self.down_owned, Ordering::Release);
        } else {
            self.down_other.fetch_add(1, Ordering::Release);
        }
    }
}

/// The in-flight total, one stripe per thread stripe (see the module docs).
struct Total([Stripe; sync::STRIPES]);

impl Total {
    fn new() -> Self {
        Self(std::array::from_fn(|_| Stripe {
            up_owned: AtomicU64::new(0),
            up_shared: AtomicU64::new(0),
            down_owned: AtomicU64::new(0),
            down_other: AtomicU64::new(0),
        }))
    }

    /// The sum of the stripes now.
    #[inline]
    fn sum(&self) -> u64 {
        self.0.iter().map(Stripe::count).fold(0, u64::wrapping_add)
    }

    /// Stripe `i`.
    #[inline(always)]
    fn stripe(&self, i: usize) -> &Stripe {
        &self.0[i % sync::STRIPES]
    }
}

struct Inner {
    router: Router,
    factor: f64,
    in_flight: Total,
    /// The current table; never null.
    table: Atomic<Table>,
    /// Serialises the making of tables.
    rebuild: Mutex<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let table = std::mem::replace(&mut self.table, Atomic::null());
        // SAFETY: `&mut self`: no other handle to this `Inner` exists, and every reader of the
        // pointer borrows or holds the `Inner`, so none is dereferencing it. It is never null (set
        // in `BoundedLoad::new`, swapped only for tables made in `refresh`).
        drop(unsafe { table.into_owned() });
    }
}

/// Consistent hashing with bounded loads over a [`Router`]: each request goes to its key's owner
/// unless the owner already serves more than `factor` times its share of the requests in flight,
/// and then to the next node of the key's walk that has room (see the module docs for the exact
/// rule). Counting is per node, by name, and follows the router's membership and health changes.
///
/// A cheap, clonable handle (clones share the counters), `Send + Sync`: share it between threads.
/// [`acquire`](Self::acquire) takes no lock except on the first call after a publication.
///
/// ```
/// use ringroute::{BoundedLoad, Node, Placement, Router};
/// let router = Router::new(Placement::native());
/// router.update(|tx| {
///     tx.add_node(Node::new("a"))?;
///     tx.add_node(Node::new("b"))?;
///     tx.add_node(Node::new("c"))
/// })?;
/// let bl = BoundedLoad::new(router.clone(), 1.25)?;
///
/// // The same key, 30 requests in flight: its owner takes its bounded share, the others the rest.
/// let leases: Vec<_> = (0..30).map(|_| bl.acquire("user:42").unwrap()).collect();
/// let owner = router.pin().route("user:42").unwrap().name().to_owned();
/// assert_eq!(leases[0].node(), owner);
/// assert_eq!(bl.in_flight(), 30);
/// // ceil(1.25 · 30 / 3) = 13 at most for the owner, when the 30th request came
/// assert!(bl.load(&owner).unwrap() <= 13);
/// assert!(bl.loads().iter().all(|(_, n)| *n > 0));
///
/// drop(leases); // dropping a lease releases it
/// assert_eq!(bl.in_flight(), 0);
/// assert_eq!(bl.load("a"), Some(0));
/// # Ok::<(), ringroute::Error>(())
/// ```
#[derive(Clone)]
pub struct BoundedLoad {
    inner: Arc<Inner>,
}

impl fmt::Debug for BoundedLoad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedLoad")
            .field("factor", &self.inner.factor)
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

impl BoundedLoad {
    /// Bounded loads over `router`'s current and future snapshots, each node taking at most
    /// `factor` times its weighted share of the requests in flight (rounded up).
    ///
    /// Errors: [`Error::BadBalanceFactor`] unless `factor` is a finite number above 1.
    pub fn new(router: Router, factor: f64) -> Result<Self> {
        if !(factor.is_finite() && factor > 1.0) {
            return Err(Error::BadBalanceFactor { factor });
        }
        let table = Table::new(router.load(), None);
        Ok(Self {
            inner: Arc::new(Inner {
                router,
                factor,
                in_flight: Total::new(),
                table: Atomic::new(table),
                rebuild: Mutex::new(()),
            }),
        })
    }

    /// The balance factor.
    #[inline]
    pub fn factor(&self) -> f64 {
        self.inner.factor
    }

    /// The router whose snapshots this routes with.
    pub fn router(&self) -> &Router {
        &self.inner.router
    }

    /// Takes a lease on a node for `key`: its owner if the owner has room, else the next node of
    /// its walk with room, else the least loaded node of the walk. `None` only when no node can
    /// take it: the ring has no points, or every node is down under
    /// [`AllDown::Fail`](crate::AllDown::Fail). The lease counts until it is dropped or
    /// [released](Lease::release).
    ///
    /// Cost: a lookup of `key`, two counter increments (the node's, atomic, and the thread's stripe
    /// of the total, a plain store when the thread owns its stripe) and a thread-local epoch pin;
    /// a sum of the total's stripes only when the owner is near its capacity, and a walk of the
    /// ring only when it is full. No lock, except on the first
    /// acquire after each publication of the router, which makes the next counter table.
    #[inline]
    pub fn acquire(&self, key: impl AsRef<[u8]>) -> Option<Lease<'_>> {
        self.acquire_as(key.as_ref(), Holder::Borrowed(&self.inner))
    }

    /// [`acquire`](Self::acquire) for a lease that does not borrow this handle (it holds a clone
    /// of it instead: one more reference-count increment and decrement), to keep in a `'static`
    /// place such as another thread or a foreign object.
    pub fn acquire_owned(&self, key: impl AsRef<[u8]>) -> Option<Lease<'static>> {
        self.acquire_as(key.as_ref(), Holder::Owned(Arc::clone(&self.inner)))
    }

    #[inline]
    fn acquire_as<'a>(&self, key: &[u8], holder: Holder<'a>) -> Option<Lease<'a>> {
        let guard = sync::pin();
        let table = self.table(&guard);
        let stripe = sync::stripe();
        let (id, slot) = self.pick(table, key, stripe.index)?;
        self.inner.in_flight.stripe(stripe.index).up(stripe);
        Some(Lease {
            holder,
            slot,
            id,
            version: table.version,
            stripe: stripe.index,
        })
    }

    /// The node for `key` under `table`, as [`acquire`](Self::acquire) describes, for a thread
    /// of stripe `stripe`, with a lease taken on it.
    ///
    /// The owner's lease is taken first and checked after: the increment tells the leases out
    /// before it, so two threads racing for a node's last place cannot both see it free (the
    /// second sees the first's lease), and the increment is the one request for the counter's
    /// cache line (a load and then an increment make two when the other core wrote it last).
    #[inline]
    fn pick(&self, table: &Table, key: &[u8], stripe: usize) -> Option<(NodeId, LeaseRef)> {
        let snap = &*table.snap;
        let pos = snap.key_hash_wide(key);
        let owner = snap.route_wide(pos)?;
        let entry = &table.entries[owner.index()];
        // The thread's own stripe is a lower bound of the total, so the capacity it gives is too:
        // room under it is room under the true one. Read before the increment, whose lock would
        // hold these loads back until the thread's earlier stores are out.
        let own = self.inner.in_flight.stripe(stripe).count();
        let (lease, load) = entry.slot.reserve();
        if has_room(load, self.scale_of(table, own), entry.weight) {
            return Some((owner, lease));
        }
        let scale = self.scale(table);
        if has_room(load, scale, entry.weight) {
            return Some((owner, lease));
        }
        Some(self.overflow(table, pos, scale, (owner, load, lease)))
    }

    /// `factor · (m + 1) / W` for the current total `m`: a node's capacity is this times its weight,
    /// rounded up.
    #[inline]
    fn scale(&self, table: &Table) -> f64 {
        self.scale_of(table, self.inner.in_flight.sum())
    }

    /// `factor · (m + 1) / W` for a total of `m`.
    #[inline(always)]
    fn scale_of(&self, table: &Table, m: u64) -> f64 {
        self.inner.factor * (m + 1) as f64 / table.total_weight
    }

    /// The owner is full: the first node after it on the walk from `pos` with room, else the least
    /// loaded node of the walk (the first of them on a tie), with a lease taken on it. `owner` is
    /// the owner's id, its load before its lease, and that lease, given back unless the owner is
    /// the answer.
    #[cold]
    #[inline(never)]
    fn overflow(
        &self,
        table: &Table,
        pos: u128,
        scale: f64,
        owner: (NodeId, u64, LeaseRef),
    ) -> (NodeId, LeaseRef) {
        let (owner, owner_load, owner_lease) = owner;
        let mut best = (owner, owner_load);
        let mut seen = Seen::new(table.entries.len());
        seen.insert(owner.index());
        let mut distinct = 1;
        let mut found = None;
        for id in table.snap.walk_wide(pos) {
            if distinct >= table.walked {
                break;
            }
            if !seen.insert(id.index()) {
                continue;
            }
            distinct += 1;
            let entry = &table.entries[id.index()];
            let load = entry.slot.load();
            if has_room(load, scale, entry.weight) {
                found = Some(id);
                break;
            }
            if load < best.1 {
                best = (id, load);
            }
        }
        let id = found.unwrap_or(best.0);
        if id == owner {
            return (owner, owner_lease);
        }
        drop(owner_lease);
        (id, table.entries[id.index()].slot.lease())
    }

    /// The current table: the one for the router's current version, made now if the router has
    /// published since the last one was made.
    #[inline]
    fn table<'g>(&self, guard: &'g Guard) -> &'g Table {
        let shared = self.inner.table.load(Ordering::Acquire, guard);
        // SAFETY: the pointer is never null (see `Inner::drop`) and was loaded under `guard`, so the
        // table is not destroyed before `guard` is dropped (`refresh` defers the destruction of the
        // table it replaces).
        let table = unsafe { shared.deref() };
        if table.version == self.inner.router.version() {
            return table;
        }
        self.refresh(guard)
    }

    /// Makes the table of the router's current snapshot (unless another thread just did) and
    /// publishes it.
    #[cold]
    #[inline(never)]
    fn refresh<'g>(&self, guard: &'g Guard) -> &'g Table {
        let _lock = self
            .inner
            .rebuild
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let current = self.inner.table.load(Ordering::Acquire, guard);
        // SAFETY: as in `table`: non-null, loaded under `guard`.
        let current_ref = unsafe { current.deref() };
        let snap = self.inner.router.load();
        // Versions only grow, and tables are made under the lock from a snapshot loaded after the
        // current table's: the current table is at most as new as `snap`.
        if snap.version() == current_ref.version {
            return current_ref;
        }
        let next = Owned::new(Table::new(snap, Some(current_ref))).into_shared(guard);
        let old = self.inner.table.swap(next, Ordering::AcqRel, guard);
        // SAFETY: `old` was just unlinked, so no thread that loads the pointer from now on can reach
        // it; threads that loaded it before are pinned, and the collector destroys it only after
        // they unpin.
        unsafe { guard.defer_destroy(old) };
        // SAFETY: `next` was made here and published; it is destroyed only after a later swap and
        // after `guard` is dropped.
        unsafe { next.deref() }
    }

    /// How many leases the named node holds now; `None` if no node of that name is in the router's
    /// current snapshot.
    pub fn load(&self, name: &str) -> Option<u64> {
        let guard = sync::pin();
        let table = self.table(&guard);
        let id = table.snap.id_of(name)?;
        Some(table.entries[id.index()].slot.load())
    }

    /// Every node of the router's current snapshot with how many leases it holds now, in node id
    /// order.
    pub fn loads(&self) -> Vec<(std::sync::Arc<str>, u64)> {
        let guard = sync::pin();
        let table = self.table(&guard);
        table
            .entries
            .iter()
            .map(|e| (std::sync::Arc::clone(e.slot.name()), e.slot.load()))
            .collect()
    }

    /// How many leases are out: on every node, including nodes removed since they were taken.
    #[inline]
    pub fn in_flight(&self) -> u64 {
        self.inner.in_flight.sum()
    }

    /// The capacity the named node has for the next request now: `ceil(factor · (in_flight + 1) ·
    /// weight / W)`, or 0 for a node the walks do not visit (down, or owning no point). `None` if
    /// no node of that name is in the router's current snapshot.
    ///
    /// ```
    /// use ringroute::{BoundedLoad, Node, Placement, Router};
    /// let router = Router::new(Placement::native());
    /// router.update(|tx| {
    ///     tx.add_node(Node::new("a"))?;
    ///     tx.add_node(Node::new("b").with_weight(3))
    /// })?;
    /// let bl = BoundedLoad::new(router, 1.5)?;
    /// assert_eq!(bl.capacity("a"), Some(1)); // ceil(1.5 · 1 · 1 / 4)
    /// let _leases: Vec<_> = (0..7).map(|i| bl.acquire(format!("k{i}")).unwrap()).collect();
    /// assert_eq!(bl.capacity("b"), Some(9)); // ceil(1.5 · 8 · 3 / 4)
    /// # Ok::<(), ringroute::Error>(())
    /// ```
    pub fn capacity(&self, name: &str) -> Option<u64> {
        let guard = sync::pin();
        let table = self.table(&guard);
        let id = table.snap.id_of(name)?;
        Some(capacity(
            self.scale(table),
            table.entries[id.index()].weight,
        ))
    }
}

/// `ceil(scale · weight)`: how many leases a node of `weight` may hold, the new one included.
#[inline(always)]
fn capacity(scale: f64, weight: f64) -> u64 {
    // A float-to-int `as` saturates (and maps NaN, from an empty table, to 0).
    (scale * weight).ceil() as u64
}

/// `load < capacity(scale, weight)`, without the rounding: for a whole `load`, `load < ceil(x)`
/// exactly when `load < x` (and neither holds for a NaN `x`).
#[inline(always)]
fn has_room(load: u64, scale: f64, weight: f64) -> bool {
    (load as f64) < scale * weight
}

/// The nodes an overflow walk has visited: a bitmap on the stack for rings of up to 1024 nodes.
enum Seen {
    Small([u64; 16]),
    Large(Vec<u64>),
}

impl Seen {
    fn new(nodes: usize) -> Self {
        let words = nodes.div_ceil(64);
        if words <= 16 {
            Seen::Small([0; 16])
        } else {
            Seen::Large(vec![0; words])
        }
    }

    /// Marks node `i`; whether it was not marked before.
    fn insert(&mut self, i: usize) -> bool {
        let words: &mut [u64] = match self {
            Seen::Small(w) => w,
            Seen::Large(w) => w,
        };
        let (w, b) = (i / 64, i % 64);
        let fresh = words[w] >> b & 1 == 0;
        words[w] |= 1 << b;
        fresh
    }
}

/// What a lease keeps of its [`BoundedLoad`]: a borrow, or a clone of the handle.
enum Holder<'a> {
    Borrowed(&'a Inner),
    Owned(Arc<Inner>),
}

/// A request in flight on a node, taken by [`BoundedLoad::acquire`]. Dropping it releases it (as
/// [`release`](Self::release) does); it releases the node it was taken on even after that node has
/// left the ring.
#[must_use = "a lease is released as soon as it is dropped"]
pub struct Lease<'a> {
    holder: Holder<'a>,
    slot: LeaseRef,
    id: NodeId,
    version: u64,
    /// The stripe of the total it was counted in (and gives its count back to).
    stripe: usize,
}

impl Lease<'_> {
    /// The name of the node this lease is on.
    #[inline]
    pub fn node(&self) -> &str {
        self.slot.name()
    }

    /// The node's id in the snapshot of version [`version`](Self::version) (ids are local to a
    /// snapshot: see [`NodeId`]).
    #[inline]
    pub fn node_id(&self) -> NodeId {
        self.id
    }

    /// The version of the router's snapshot the node was picked in.
    #[inline]
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Releases the lease (as dropping it does).
    #[inline]
    pub fn release(self) {}
}

impl Drop for Lease<'_> {
    #[inline]
    fn drop(&mut self) {
        // The node's count is the slot's (`self.slot`'s drop, right after this); the total here, in
        // the stripe the lease was counted in, whichever thread drops it.
        let inner: &Inner = match &self.holder {
            Holder::Borrowed(i) => i,
            Holder::Owned(i) => i,
        };
        inner
            .in_flight
            .stripe(self.stripe)
            .down(self.stripe, sync::stripe());
    }
}

impl fmt::Debug for Lease<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("node", &self.node())
            .field("node_id", &self.id)
            .field("version", &self.version)
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::node::Node;
    use crate::placement::Placement;

    /// Nudges the epoch collector until `done` holds (other test threads may be pinned a while).
    fn collect_until(done: impl Fn() -> bool) -> bool {
        for _ in 0..100_000 {
            if done() {
                return true;
            }
            sync::pin().flush();
            std::thread::yield_now();
        }
        done()
    }

    #[test]
    fn counters_follow_names_and_a_removed_nodes_goes_with_its_last_lease() {
        let router = Router::new(Placement::native());
        router
            .update(|tx| {
                for n in ["a", "b", "c", "d"] {
                    tx.add_node(Node::new(n))?;
                }
                Ok(())
            })
            .unwrap();
        let bl = BoundedLoad::new(router.clone(), 2.0).unwrap();
        let leases: Vec<_> = (0..40)
            .map(|i| bl.acquire(format!("k{i}")).unwrap())
            .collect();
        let slot_of = |name: &str| {
            let guard = sync::pin();
            let table = bl.table(&guard);
            table.entries[table.snap.id_of(name).unwrap().index()]
                .slot
                .share()
        };
        // "a" is node 0: removing it renumbers every other node.
        let (b, d) = (slot_of("b"), slot_of("d"));
        let (mut on_a, rest): (Vec<_>, Vec<_>) = leases.into_iter().partition(|l| l.node() == "a");
        assert!(on_a.len() >= 2, "{} leases on a", on_a.len());
        let a = on_a[0].slot.name_watch();
        router.remove_node("a").unwrap();
        assert_eq!(bl.load("a"), None); // makes the next table
        assert!(b.same(&slot_of("b")) && d.same(&slot_of("d")));
        assert_eq!(router.pin().id_of("d").unwrap().get(), 2);
        // Once the collector has freed the old table, only the leases hold "a"'s slot.
        assert!(collect_until(|| on_a[0].slot.tables() == 0));
        let last = on_a.pop().unwrap();
        assert_eq!(last.slot.load(), on_a.len() as u64 + 1);
        drop(on_a);
        assert_eq!(last.slot.load(), 1);
        assert!(a.upgrade().is_some(), "freed while a lease holds it");
        assert_eq!(bl.in_flight(), 1 + rest.len() as u64);
        last.release();
        assert!(a.upgrade().is_none(), "the slot outlived its last lease");
        assert_eq!(bl.in_flight(), rest.len() as u64);
        drop(rest);
        assert_eq!(bl.in_flight(), 0);
    }
}
