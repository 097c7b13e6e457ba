//! The concurrent handle: readers take the current snapshot without locking, writers publish the next
//! one in a transaction.
//!
//! # Publication
//!
//! The current snapshot is an `Arc<Snapshot>` boxed behind a crossbeam-epoch [`Atomic`] pointer. A
//! writer builds the next snapshot beside the live one, swaps the pointer, bumps the router's version
//! counter, and hands the old box to the epoch collector, which drops it once no pinned reader can
//! still see it.
//!
//! Why crossbeam-epoch rather than arc-swap: pinning is thread-local (no write to a shared cache line,
//! so readers on different cores never contend), and crossbeam-epoch runs on loom's atomics under
//! `--cfg crossbeam_loom`, so `loom_tests/` model-checks this very code together with the reclamation
//! scheme under it. The `Arc` inside the box lets a reader keep a snapshot beyond its guard.
//!
//! The writer also keeps its own reference to each retired snapshot and drops it (at a later
//! publication, on [`Router::reclaim`], or when the router is dropped) once it is the last holder. So
//! the heavy free of a large snapshot happens on a writer, not on a reader that happens to run the
//! epoch collector.
//!
//! # Reading
//!
//! Three ways, from cheapest per batch to cheapest per key:
//! - [`Router::pin`]: a guard that derefs to the current [`Snapshot`]; hold it for a batch of lookups.
//! - [`Router::load`]: an `Arc<Snapshot>` to keep as long as you like.
//! - [`Router::reader`]: a per-thread handle that caches the snapshot and checks one atomic version
//!   counter per call, refreshing only after a publication.
//!
//! # Staged writes
//!
//! [`Router::stage_add_node`], [`Router::stage_remove_node`] and [`Router::stage_set_weight`]
//! check a change when it is made, as a transaction does, but do not publish it: the changes staged
//! since the last publication are published together, as one snapshot, by the next read from any
//! thread ([`Router::pin`], [`Router::load`], a [`Reader`]), the next transaction or health change,
//! or [`Router::flush`]. So a loop of staged changes builds the ring once, and a read never misses
//! a change staged before it began: the read that finds staged changes publishes them first (it
//! takes the writer lock to do so, the one time a reader waits). A staged change sets the top bit
//! of the router's version counter, which readers load anyway; without staged changes reading costs
//! what it did.

use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::mpsc;
use std::time::Instant;

use crate::builder::Builder;
use crate::error::{Error, Result};
use crate::events::ChangeEvent;
use crate::node::Node;
use crate::placement::Placement;
use crate::snapshot::Snapshot;
use crate::sync::{self, Arc, Atomic, AtomicU64, Guard, Mutex, MutexGuard, Ordering, Owned};
use crate::timing::PublishTimes;

struct WriterState {
    /// Retired snapshots the writer still holds a reference to (see the module docs).
    retired: Vec<Arc<Snapshot>>,
    /// Where change events go ([`Router::subscribe`]).
    subscribers: Vec<mpsc::Sender<std::sync::Arc<ChangeEvent>>>,
    /// Publication times, once asked for ([`Router::track_publish_times`]).
    times: Option<PublishTimes>,
    /// Changes staged and not yet published (see the module docs).
    staged: Option<Builder>,
    /// Snapshots freed under the lock, dropped when it is released ([`WriterLock`]).
    garbage: Vec<Arc<Snapshot>>,
}

/// The writer lock. Releasing it drops the snapshots freed while it was held, after the mutex is
/// unlocked: a node's payload may run code when dropped (a Python object's `__del__`) that uses
/// the router, and must not find the lock held by its own thread.
struct WriterLock<'a>(Option<MutexGuard<'a, WriterState>>);

impl Deref for WriterLock<'_> {
    type Target = WriterState;

    fn deref(&self) -> &WriterState {
        self.0.as_deref().expect("held until dropped")
    }
}

impl DerefMut for WriterLock<'_> {
    fn deref_mut(&mut self) -> &mut WriterState {
        self.0.as_deref_mut().expect("held until dropped")
    }
}

impl Drop for WriterLock<'_> {
    fn drop(&mut self) {
        let garbage = self.0.as_mut().map(|g| std::mem::take(&mut g.garbage));
        drop(self.0.take());
        drop(garbage);
    }
}

impl WriterState {
    /// Moves the retired snapshots no one else holds to `garbage`, to be dropped once the lock is
    /// released.
    fn reclaim(&mut self) {
        // In place: a publication calls this, and two fresh vectors each time were two of its
        // allocations.
        let mut i = 0;
        while let Some(s) = self.retired.get(i) {
            if Arc::strong_count(s) > 1 {
                i += 1;
            } else {
                self.garbage.push(self.retired.swap_remove(i));
            }
        }
    }

    /// Whether anyone listens for change events: a subscriber, or (with the `log` feature) a
    /// logger enabled for the `ringroute` target at `info`.
    #[inline]
    fn listening(&self) -> bool {
        #[cfg(feature = "log")]
        if log::log_enabled!(target: "ringroute", log::Level::Info) {
            return true;
        }
        !self.subscribers.is_empty()
    }

    /// Computes the event of the publication from `old` to `new` and hands it to every listener;
    /// subscribers whose receiver is gone are dropped.
    fn notify(&mut self, old: &Snapshot, new: &Snapshot) {
        let event = std::sync::Arc::new(ChangeEvent::between(old, new));
        #[cfg(feature = "log")]
        log::info!(target: "ringroute", "{event}");
        self.subscribers
            .retain(|s| s.send(std::sync::Arc::clone(&event)).is_ok());
    }
}

/// The bit of `Shared::version` that says changes are staged (see the module docs).
const STAGED: u64 = 1 << 63;

struct Shared {
    current: Atomic<Arc<Snapshot>>,
    /// The current snapshot's version, with [`STAGED`] set while changes are staged.
    version: AtomicU64,
    writer: Mutex<WriterState>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let current = std::mem::replace(&mut self.current, Atomic::null());
        // SAFETY: `&mut self` means no other handle to this router exists; every `Pinned` borrows a
        // `Router` and so would keep `Shared` alive, so no reader can be dereferencing this pointer.
        // The pointer is never null (set in `Router::from_snapshot`, swapped only for non-null ones).
        drop(unsafe { current.into_owned() });
    }
}

/// The concurrent, cheaply clonable handle to a ring that changes over time.
///
/// ```
/// use ringroute::{Node, Placement, Router};
/// let router = Router::new(Placement::native());
/// router.add_node(Node::new("a"))?;
/// let mut tx = router.transaction();
/// tx.add_node(Node::new("b"))?;
/// tx.add_node(Node::new("c").with_weight(2))?;
/// tx.commit()?; // one publication for both changes
///
/// let snap = router.pin(); // hold the current snapshot for a batch of lookups
/// assert_eq!(snap.len(), 3);
/// assert_eq!(snap.version(), 2);
/// let owner = snap.route("user:42").unwrap();
/// # let _ = owner;
/// # Ok::<(), ringroute::Error>(())
/// ```
#[derive(Clone)]
pub struct Router {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("version", &self.version())
            .finish_non_exhaustive()
    }
}

impl Router {
    /// A router over an empty ring.
    pub fn new(placement: Placement) -> Self {
        Self::from_snapshot(Snapshot::empty(placement))
    }

    /// A router whose current snapshot is `snapshot`.
    pub fn from_snapshot(snapshot: Snapshot) -> Self {
        let version = snapshot.version;
        Self {
            shared: Arc::new(Shared {
                current: Atomic::new(Arc::new(snapshot)),
                version: AtomicU64::new(version),
                writer: Mutex::new(WriterState {
                    retired: Vec::new(),
                    subscribers: Vec::new(),
                    times: None,
                    staged: None,
                    garbage: Vec::new(),
                }),
            }),
        }
    }

    /// The version of the current snapshot (publishing staged changes first, if any).
    #[inline]
    pub fn version(&self) -> u64 {
        let v = self.shared.version.load(Ordering::Acquire);
        if v & STAGED == 0 {
            return v;
        }
        self.flush_staged();
        self.shared.version.load(Ordering::Acquire) & !STAGED
    }

    /// Pins the current snapshot: the guard derefs to it and keeps it alive until dropped. Cost: one
    /// thread-local epoch pin and two loads. Hold it across a batch of lookups, not for ever (a long
    /// pin delays the freeing of retired snapshots, never a writer).
    #[inline]
    pub fn pin(&self) -> Pinned<'_> {
        self.publish_staged();
        let guard = sync::pin();
        let shared = self.shared.current.load(Ordering::Acquire, &guard);
        // SAFETY: the pointer is never null (see `Shared::drop`), and it was loaded under `guard`, so
        // the box it points to is not destroyed before `guard` is dropped; the `Arc` in the box keeps
        // the snapshot alive at least as long.
        let snap: *const Snapshot = &**unsafe { shared.deref() };
        Pinned {
            snap,
            _guard: guard,
            _router: PhantomData,
        }
    }

    /// The current snapshot as an `Arc`, to keep for as long as you like.
    pub fn load(&self) -> Arc<Snapshot> {
        self.publish_staged();
        self.load_current()
    }

    /// The current snapshot, staged changes or not.
    fn load_current(&self) -> Arc<Snapshot> {
        let guard = sync::pin();
        let shared = self.shared.current.load(Ordering::Acquire, &guard);
        // SAFETY: as in `pin`: non-null, and protected by `guard` while we clone the `Arc`.
        Arc::clone(unsafe { shared.deref() })
    }

    /// Whether `a` and `b` are handles of the same router.
    pub fn ptr_eq(a: &Router, b: &Router) -> bool {
        Arc::ptr_eq(&a.shared, &b.shared)
    }

    /// A per-thread handle that caches the current snapshot (see [`Reader`]).
    pub fn reader(&self) -> Reader {
        Reader {
            snap: self.load(),
            router: self.clone(),
        }
    }

    /// Publishes the staged changes, if any (see the module docs): one load when there are none.
    #[inline(always)]
    fn publish_staged(&self) {
        if self.shared.version.load(Ordering::Acquire) & STAGED != 0 {
            self.flush_staged();
        }
    }

    /// Publishes the staged changes, if any, and returns the current snapshot. Reads do this by
    /// themselves; call it to publish at a time of your choosing (and to learn the snapshot).
    pub fn flush(&self) -> Arc<Snapshot> {
        self.flush_staged();
        self.load_current()
    }

    #[cold]
    #[inline(never)]
    fn flush_staged(&self) {
        let mut state = self.writer();
        self.publish_staged_locked(&mut state);
    }

    /// Publishes the staged changes under the writer lock `state`, if any, where a build error
    /// cannot happen: every staged change was checked against the limits the build checks (and a
    /// Maglev placement publishes at once).
    fn publish_staged_locked(&self, state: &mut WriterState) {
        let built = self.try_publish_staged(state);
        debug_assert!(built.is_ok(), "a staged change failed to build");
    }

    /// Builds and publishes the staged changes under the writer lock `state`, if they change
    /// anything. On a build error nothing is published: the staged changes are dropped whole and
    /// the version bit cleared (never half of them, never a stuck bit).
    fn try_publish_staged(&self, state: &mut WriterState) -> Result<()> {
        let Some(builder) = state.staged.take().filter(Builder::is_changed) else {
            return Ok(());
        };
        let start = state.times.is_some().then(Instant::now);
        match builder.build() {
            Ok(snapshot) => {
                self.publish(state, snapshot, start);
                Ok(())
            }
            Err(e) => {
                let v = self.load_current().version;
                self.shared.version.store(v, Ordering::Release);
                Err(e)
            }
        }
    }

    /// Stages `change` (see the module docs): runs it on the staged changes and checks the
    /// points limit. A change that fails leaves the staged changes as they were. Under the Maglev
    /// placement (whose table is checked only by building it) the change publishes at once, and so
    /// do the staged changes once removals have left more holes than there are nodes.
    fn stage(
        &self,
        change: impl FnOnce(&mut Builder) -> Result<bool>,
        undo: impl FnOnce(&mut Builder),
    ) -> Result<bool> {
        let mut state = self.writer();
        let builder = state
            .staged
            .get_or_insert_with(|| self.load_current().edit());
        let changed = change(builder)?;
        if let Err(e) = builder.check_points() {
            undo(builder);
            return Err(e);
        }
        // Publish at once under the Maglev placement, and when the staged changes have left more
        // holes (removed nodes' slots) than live nodes: a loop of changes that nothing reads then
        // costs a publication now and then, not ever more memory and ever longer checks.
        if builder.placement().profile() == crate::Profile::Maglev
            || builder.slots() > 2 * builder.len() + 64
        {
            // Under Maglev nothing else was staged (each change publishes at once), so a table
            // the change cannot make is refused with nothing staged.
            self.try_publish_staged(&mut state)?;
            return Ok(changed);
        }
        if builder.is_changed() {
            self.shared.version.fetch_or(STAGED, Ordering::AcqRel);
        }
        Ok(changed)
    }

    /// Stages adding `node` unless a node of that name is present (see the module docs); returns
    /// whether it was added. Errors: as [`Builder::add_node_if_absent`], and
    /// [`Error::TooManyPoints`]; nothing is staged then.
    ///
    /// ```
    /// use ringroute::{Node, Placement, Router};
    /// let router = Router::new(Placement::native());
    /// for name in ["a", "b", "c"] {
    ///     router.stage_add_node(Node::new(name))?; // checked now, published by the next read
    /// }
    /// let snap = router.pin(); // publishes the three as one snapshot
    /// assert_eq!((snap.len(), snap.version()), (3, 1));
    /// # Ok::<(), ringroute::Error>(())
    /// ```
    pub fn stage_add_node(&self, node: Node) -> Result<bool> {
        let name = node.name.clone();
        self.stage(
            |b| b.add_node_if_absent(node),
            |b| drop(b.remove_node_if_present(&name)),
        )
    }

    /// Stages removing the named node if present (see the module docs); returns whether it was.
    pub fn stage_remove_node(&self, name: &str) -> bool {
        self.stage(|b| Ok(b.remove_node_if_present(name).is_some()), |_| {})
            .unwrap_or(false)
    }

    /// Stages a change of the named node's weight (see the module docs). Errors: as
    /// [`Builder::set_weight`], and [`Error::TooManyPoints`]; nothing
    /// is staged then.
    pub fn stage_set_weight(&self, name: &str, weight: u32) -> Result<()> {
        let before = std::cell::Cell::new(0);
        self.stage(
            |b| {
                before.set(b.node(name).map_or(0, |n| n.weight));
                b.set_weight(name, weight).map(|()| true)
            },
            |b| drop(b.set_weight(name, before.get())),
        )
        .map(drop)
    }

    /// Starts a transaction: waits for other writers (never for readers), then lets you make any
    /// number of changes that [`Transaction::commit`] publishes as one snapshot. Dropping it without
    /// committing publishes nothing.
    pub fn transaction(&self) -> Transaction<'_> {
        let mut lock = self.writer();
        self.publish_staged_locked(&mut lock);
        let builder = self.load_current().edit();
        Transaction {
            router: self,
            lock,
            builder,
        }
    }

    /// Runs `f` on a transaction and commits it if `f` returns `Ok`; publishes nothing if `f` or the
    /// build fails.
    pub fn update<F>(&self, f: F) -> Result<Arc<Snapshot>>
    where
        F: FnOnce(&mut Builder) -> Result<()>,
    {
        let mut tx = self.transaction();
        f(&mut tx)?;
        tx.commit()
    }

    /// Adds one node and publishes. See [`Builder::add_node`].
    pub fn add_node(&self, node: Node) -> Result<Arc<Snapshot>> {
        self.update(|b| b.add_node(node))
    }

    /// Removes one node and publishes. See [`Builder::remove_node`].
    pub fn remove_node(&self, name: &str) -> Result<Arc<Snapshot>> {
        self.update(|b| b.remove_node(name).map(drop))
    }

    /// Changes one node's weight and publishes. See [`Builder::set_weight`].
    pub fn set_weight(&self, name: &str, weight: u32) -> Result<Arc<Snapshot>> {
        self.update(|b| b.set_weight(name, weight))
    }

    /// Marks the named node down and publishes: lookups, batches, replicas and walks skip it, and
    /// its keys go to the next up node of their walks; every other key stays. The new snapshot
    /// shares the ring, its search index and the node table with the current one (only the health
    /// bitmap is new). Marking a node that is down already publishes nothing. See
    /// [`AllDown`](crate::AllDown) for when every node is down.
    ///
    /// Errors: [`Error::UnknownNode`], and nothing is published.
    pub fn mark_down(&self, name: &str) -> Result<Arc<Snapshot>> {
        self.set_health(name, true)
    }

    /// Marks the named node up again and publishes: every answer is as before it went down.
    /// Errors: [`Error::UnknownNode`].
    pub fn mark_up(&self, name: &str) -> Result<Arc<Snapshot>> {
        self.set_health(name, false)
    }

    fn set_health(&self, name: &str, down: bool) -> Result<Arc<Snapshot>> {
        let mut lock = self.writer();
        self.publish_staged_locked(&mut lock);
        let start = lock.times.is_some().then(Instant::now);
        let current = self.load_current();
        let id = current.id_of(name).ok_or_else(|| Error::UnknownNode {
            name: name.to_owned(),
        })?;
        if current.health.is_down(id.get()) == down {
            return Ok(current);
        }
        let health = current.health.with(current.len(), id.get(), down);
        let next = current.with_health(health);
        Ok(self.publish(&mut lock, next, start))
    }

    /// Subscribes to change events: after each later publication (a transaction, a node marked
    /// down or up), the receiver gets one [`ChangeEvent`] with the new version, the nodes added,
    /// removed, reweighted, marked down and up, and the exact share of the key space that moved.
    /// Events are computed by the writer, after the swap, only while someone listens; drop the
    /// receiver to unsubscribe (the next publication forgets it). The channel is unbounded: a
    /// subscriber that never reads keeps every event.
    ///
    /// ```
    /// use ringroute::{Node, Placement, Router};
    /// let router = Router::new(Placement::native());
    /// router.add_node(Node::new("a"))?;
    /// let events = router.subscribe();
    /// router.add_node(Node::new("b"))?;
    /// let e = events.try_recv().unwrap();
    /// assert_eq!((e.version, e.added.clone()), (2, vec!["b".to_owned()]));
    /// assert!(e.moved > 0.3 && e.moved < 0.7); // b took about half of the keys
    /// # Ok::<(), ringroute::Error>(())
    /// ```
    pub fn subscribe(&self) -> mpsc::Receiver<std::sync::Arc<ChangeEvent>> {
        let (tx, rx) = mpsc::channel();
        self.writer().subscribers.push(tx);
        rx
    }

    /// Starts timing publications (from the start of a commit to the pointer swap) into a
    /// histogram that [`Router::publish_times`] reads. Costs two clock reads per publication from
    /// then on; nothing before. Calling it again keeps the times so far.
    pub fn track_publish_times(&self) {
        let mut state = self.writer();
        if state.times.is_none() {
            state.times = Some(PublishTimes::default());
        }
    }

    /// The publication times so far, if [`Router::track_publish_times`] was called. Waits for a
    /// publication in progress (never for readers).
    pub fn publish_times(&self) -> Option<PublishTimes> {
        self.writer().times.clone()
    }

    /// Takes the writer lock (see [`WriterLock`]).
    fn writer(&self) -> WriterLock<'_> {
        WriterLock(Some(
            self.shared
                .writer
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        ))
    }

    /// Drops the writer's references to retired snapshots that no reader holds any more, and nudges
    /// the epoch collector. Publication does this too; call it after a burst of changes to give the
    /// memory back without waiting for the next one.
    pub fn reclaim(&self) {
        sync::pin().flush();
        self.writer().reclaim();
    }

    /// Publishes `snapshot`; `start` is when the publication began, if it is timed.
    fn publish(
        &self,
        state: &mut WriterState,
        snapshot: Snapshot,
        start: Option<Instant>,
    ) -> Arc<Snapshot> {
        let version = snapshot.version;
        let new = Arc::new(snapshot);
        let guard = sync::pin();
        let old = self
            .shared
            .current
            .swap(Owned::new(Arc::clone(&new)), Ordering::AcqRel, &guard);
        self.shared.version.store(version, Ordering::Release);
        // SAFETY: `old` is non-null (see `Shared::drop`) and protected by `guard`.
        let old_snapshot = Arc::clone(unsafe { old.deref() });
        // SAFETY: `old` was just unlinked, so no reader that pins from now on can reach it; readers
        // that loaded it before are pinned, and the collector destroys the box only after they unpin.
        unsafe { guard.defer_destroy(old) };
        // Hand the retired box to the global collector now, so it does not wait in this thread's
        // local bag for the writer's next pin.
        guard.flush();
        if let (Some(times), Some(start)) = (&mut state.times, start) {
            times.observe(start.elapsed());
        }
        state.reclaim();
        if state.listening() {
            state.notify(&old_snapshot, &new);
        }
        state.retired.push(old_snapshot);
        new
    }
}

/// A pinned view of the router's current snapshot. Derefs to [`Snapshot`].
///
/// Not `Send`: an epoch pin belongs to its thread.
pub struct Pinned<'r> {
    snap: *const Snapshot,
    _guard: Guard,
    _router: PhantomData<&'r Router>,
}

impl Deref for Pinned<'_> {
    type Target = Snapshot;

    #[inline]
    fn deref(&self) -> &Snapshot {
        // SAFETY: `snap` was loaded under `_guard`, which lives as long as `self` (see `Router::pin`).
        unsafe { &*self.snap }
    }
}

/// A per-thread reader that keeps the current snapshot and refreshes it only when the router has
/// published a newer one: one atomic load of a rarely written counter per call, no pin, no
/// reference-count traffic.
///
/// ```
/// use ringroute::{Node, Placement, Router};
/// let router = Router::new(Placement::native());
/// router.add_node(Node::new("a"))?;
/// let mut reader = router.reader();
/// for key in ["k1", "k2", "k3"] {
///     assert_eq!(reader.snapshot().route(key).unwrap().name(), "a");
/// }
/// # Ok::<(), ringroute::Error>(())
/// ```
pub struct Reader {
    router: Router,
    snap: Arc<Snapshot>,
}

impl Reader {
    /// The current snapshot, refreshed if the router has published since the last call.
    #[inline]
    pub fn snapshot(&mut self) -> &Snapshot {
        // Staged changes set the counter's top bit, so they fail this test too.
        if self.router.shared.version.load(Ordering::Acquire) != self.snap.version {
            self.snap = self.router.load();
        }
        &self.snap
    }

    /// The router this reader follows.
    pub fn router(&self) -> &Router {
        &self.router
    }
}

/// Changes that publish as one snapshot, all or nothing. Derefs to the [`Builder`] that holds them.
///
/// Holds the router's writer lock: other writers wait, readers never do.
pub struct Transaction<'r> {
    router: &'r Router,
    lock: WriterLock<'r>,
    builder: Builder,
}

impl Transaction<'_> {
    /// Builds and publishes the new snapshot and returns it. If nothing changed, publishes nothing and
    /// returns the current snapshot. On error, publishes nothing.
    pub fn commit(mut self) -> Result<Arc<Snapshot>> {
        if !self.builder.is_changed() {
            return Ok(self.router.load_current());
        }
        let start = self.lock.times.is_some().then(Instant::now);
        let snapshot = self.builder.build()?;
        Ok(self.router.publish(&mut self.lock, snapshot, start))
    }
}

impl Deref for Transaction<'_> {
    type Target = Builder;

    fn deref(&self) -> &Builder {
        &self.builder
    }
}

impl DerefMut for Transaction<'_> {
    fn deref_mut(&mut self) -> &mut Builder {
        &mut self.builder
    }
}
