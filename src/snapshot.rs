//! A snapshot: one membership's node table and its ring (`crate::ring`), and the lookups over them:
//! single keys, batches, exact wide positions, and the clockwise walks that replicas follow.
//!
//! A snapshot never changes after it is built. Readers may hold one for as long as they like and make
//! any number of lookups against one consistent membership; writers build the next one beside it
//! ([`Snapshot::edit`], or a [`crate::Router`] transaction). Snapshots are made by
//! [`crate::Builder`] (which also defines [`Snapshot::new`], [`Snapshot::empty`] and
//! [`Snapshot::edit`]).
//!
//! A key's way through [`Snapshot::route`]: the placement hashes it to a position
//! ([`crate::Placement::key_hash`]; `native` is xxh3 inline), the profile's tie rule turns that
//! into a search position ([`crate::Placement::search_from`]), the ring's search index finds the
//! owner of the first point at or after it (`crate::search`), and the owner's dense id indexes the
//! node table.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::error::{Error, Result};
use crate::fingerprint::{fingerprint, node_term};
use crate::hash::xxh3_64;
use crate::health::{AllDown, Health};
use crate::names::NameIndex;
use crate::node::{Node, NodeId};
use crate::placement::{KeyHasher, Placement, Profile, Tie};
use crate::ring::Ring;
use crate::search::{Kernel, Layout};

/// The owner id that the batch lookups write for every key when no node owns a point.
pub const NO_OWNER: u32 = u32::MAX;

/// Keys hashed ahead of the search in one go by the batch lookups (a stack buffer).
const BATCH_CHUNK: usize = 256;

/// An immutable consistent-hash ring: a membership, its placement, and everything needed to route.
///
/// ```
/// use ringroute::{Node, Placement, Snapshot};
/// let ring = Snapshot::new(Placement::native(), [Node::new("a"), Node::new("b"), Node::new("c")])?;
/// let owner = ring.route("user:42").unwrap();
/// assert!(["a", "b", "c"].contains(&owner.name()));
/// // Replicas: distinct nodes, primary first.
/// let reps = ring.replicas("user:42", 2);
/// assert_eq!(ring.node(reps[0]).unwrap().name(), owner.name());
/// assert_ne!(reps[0], reps[1]);
/// # Ok::<(), ringroute::Error>(())
/// ```
pub struct Snapshot {
    pub(crate) version: u64,
    pub(crate) fingerprint: u64,
    pub(crate) placement: Placement,
    /// The nodes by id; shared with the snapshots of the same membership (a health change).
    pub(crate) nodes: Arc<[Arc<Node>]>,
    /// Name → id; shared as `nodes` is.
    pub(crate) by_name: Arc<NameIndex>,
    pub(crate) ring: Arc<Ring>,
    /// The fingerprint's sum of node terms, kept so that the next build updates it by its changes.
    pub(crate) fp_sum: u64,
    /// Which nodes are down (see `crate::health`).
    pub(crate) health: Health,
    /// How many up nodes own a point: made on first use from the ring's owners and the health.
    up_owners: OnceLock<usize>,
    /// The user's derived data (see [`Snapshot::derived`]).
    pub(crate) derived: OnceLock<Box<dyn Any + Send + Sync>>,
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("version", &self.version)
            .field("placement", &self.placement)
            .field("nodes", &self.nodes.len())
            .field("points", &self.ring.len())
            .field("down", &self.health.down_count())
            .field("fingerprint", &format_args!("{:016x}", self.fingerprint))
            .finish()
    }
}

impl Snapshot {
    pub(crate) fn assemble(
        version: u64,
        placement: Placement,
        nodes: Arc<[Arc<Node>]>,
        by_name: Arc<NameIndex>,
        ring: Arc<Ring>,
        fp_sum: u64,
        health: Health,
    ) -> Self {
        debug_assert!(nodes
            .iter()
            .enumerate()
            .all(|(i, n)| by_name.get(&n.name, |j| &nodes[j as usize].name) == Some(i as u32)));
        debug_assert_eq!(
            fp_sum,
            nodes
                .iter()
                .fold(0u64, |s, n| s.wrapping_add(node_term(&n.name, n.weight)))
        );
        Self {
            version,
            fingerprint: fingerprint(&placement, nodes.len(), fp_sum),
            fp_sum,
            placement,
            nodes,
            by_name,
            ring,
            health,
            up_owners: OnceLock::new(),
            derived: OnceLock::new(),
        }
    }

    /// The next snapshot of the same membership and ring with `health` (one version later).
    pub(crate) fn with_health(&self, health: Health) -> Self {
        Self {
            version: self.version + 1,
            fingerprint: self.fingerprint,
            fp_sum: self.fp_sum,
            placement: self.placement,
            nodes: Arc::clone(&self.nodes),
            by_name: Arc::clone(&self.by_name),
            ring: Arc::clone(&self.ring),
            health,
            up_owners: OnceLock::new(),
            derived: OnceLock::new(),
        }
    }

    /// Whether node `id` is up (see [`crate::Router::mark_down`]); `false` for an id out of range.
    ///
    /// ```
    /// use ringroute::{Node, Placement, Router};
    /// let router = Router::new(Placement::native());
    /// router.update(|tx| {
    ///     tx.add_node(Node::new("a"))?;
    ///     tx.add_node(Node::new("b"))
    /// })?;
    /// let before = router.load();
    /// router.mark_down("a")?;
    /// let snap = router.pin();
    /// let a = snap.id_of("a").unwrap();
    /// assert!(!snap.is_up(a) && snap.is_up(snap.id_of("b").unwrap()));
    /// for i in 0..100 {
    ///     let key = format!("key-{i}");
    ///     // a's keys go to b; b's keys stay.
    ///     assert_eq!(snap.route(&key).unwrap().name(), "b");
    ///     if before.route(&key).unwrap().name() == "b" {
    ///         assert_eq!(snap.route_id(&key), before.route_id(&key));
    ///     }
    /// }
    /// # Ok::<(), ringroute::Error>(())
    /// ```
    #[inline]
    pub fn is_up(&self, id: NodeId) -> bool {
        id.index() < self.nodes.len() && !self.health.is_down(id.0)
    }

    /// The ids of the nodes that are down, ascending.
    pub fn down_nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.health.down_ids().map(NodeId)
    }

    /// How many nodes are down.
    #[inline]
    pub fn down_count(&self) -> usize {
        self.health.down_count()
    }

    /// What lookups answer when every node that owns points is down (see [`AllDown`]).
    #[inline]
    pub fn all_down(&self) -> AllDown {
        self.health.all_down
    }

    /// How many up nodes own at least one point.
    fn up_owners(&self) -> usize {
        *self.up_owners.get_or_init(|| {
            let owning = self.ring.owning();
            let down_owning = self.health.down_ids().filter(|&id| owning.owns(id)).count();
            owning.count - down_owning
        })
    }

    /// Whether walks skip down nodes: some node is down and some owner is up, or the policy for
    /// when none is up is to fail.
    #[inline]
    fn skips_down(&self) -> bool {
        self.health.any_down() && (self.health.all_down == AllDown::Fail || self.up_owners() > 0)
    }

    /// A looked-up owner with health applied: `id` itself if it is up, else (cold) the first up
    /// owner of the walk from exact position `pos()`.
    #[inline(always)]
    fn healthy(&self, id: Option<NodeId>, pos: impl FnOnce() -> u128) -> Option<NodeId> {
        match id {
            Some(i) if self.health.any_down() && self.health.is_down(i.0) => self.reroute(i, pos()),
            other => other,
        }
    }

    /// The owner of exact position `pos` whose looked-up owner `id` is down: the first up owner of
    /// its walk, or, when no owner is up, `id` ([`AllDown::Panic`]) or none ([`AllDown::Fail`]).
    #[cold]
    #[inline(never)]
    fn reroute(&self, id: NodeId, pos: u128) -> Option<NodeId> {
        if self.up_owners() == 0 {
            return match self.health.all_down {
                AllDown::Panic => Some(id),
                AllDown::Fail => None,
            };
        }
        let up = |&o: &u32| !self.health.is_down(o);
        if self.placement.profile().is_wide() {
            let start = self.owner_rank(pos)?;
            return self.ring.owners_from(start).find(up).map(NodeId);
        }
        let x = self
            .placement
            .search_from(u64::try_from(pos).unwrap_or(u64::MAX));
        self.ring.owners_at_or_after(x).find(up).map(NodeId)
    }

    /// Applies health to a batch's answers (`out[i]` for the key at exact position `pos(i)`).
    #[cold]
    #[inline(never)]
    fn heal_batch(&self, out: &mut [u32], pos: impl Fn(usize) -> u128) {
        if self.up_owners() == 0 && self.health.all_down == AllDown::Panic {
            return;
        }
        for (i, o) in out.iter_mut().enumerate() {
            if *o != NO_OWNER && self.health.is_down(*o) {
                *o = self
                    .reroute(NodeId(*o), pos(i))
                    .map_or(NO_OWNER, NodeId::get);
            }
        }
    }

    /// The version: 0 for a new ring, one more at each publication or edit.
    #[inline]
    pub fn version(&self) -> u64 {
        self.version
    }

    /// A stable 64-bit hash of the placement (profile and virtual nodes) and of each node's name and
    /// weight, independent of insertion order: two processes with the same membership have the same
    /// fingerprint. Metadata (hostname, port, payload) is not part of it.
    #[inline]
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The placement this ring was built under.
    #[inline]
    pub fn placement(&self) -> Placement {
        self.placement
    }

    /// Number of nodes, drained (weight 0) ones included.
    #[inline]
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the ring has no nodes.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Number of points on the ring.
    #[inline]
    pub fn point_count(&self) -> usize {
        self.ring.len()
    }

    /// The sorted point positions (for a wide profile, their top 64 bits; see
    /// [`point_lows`](Self::point_lows)). Equal positions appear as the profile's rule leaves them.
    ///
    /// A ring's search index holds its points in a packed form; this plain array is made from it on
    /// the first call (O(points)) and kept with the snapshot.
    #[inline]
    pub fn points(&self) -> &[u64] {
        &self.ring.plain().points
    }

    /// The low 64 bits of each point of [`points`](Self::points) for a wide profile
    /// ([`crate::Profile::is_wide`]), whose positions are 128 bits; `None` for every other profile.
    #[inline]
    pub fn point_lows(&self) -> Option<&[u64]> {
        self.ring.lows.as_deref()
    }

    /// The owner of each point of [`points`](Self::points), as raw node ids (made on the first call,
    /// as [`points`](Self::points) is).
    #[inline]
    pub fn point_owners(&self) -> &[u32] {
        &self.ring.plain().owners
    }

    /// The nodes in id (insertion) order.
    pub fn nodes(&self) -> impl ExactSizeIterator<Item = &Node> + '_ {
        self.nodes.iter().map(|n| &**n)
    }

    /// The node with this id, if the id is in range.
    #[inline]
    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id.index()).map(|n| &**n)
    }

    /// Data derived from this snapshot, made by `init` on the first call and kept (and dropped) with
    /// the snapshot: for example a table indexed by [`NodeId`] of each node's connection or
    /// display name, built once per membership rather than looked up per key. One value per
    /// snapshot: `None` if a value of another type is stored already.
    ///
    /// Never blocks: threads that ask at the same time may each run `init`, and all of them then
    /// get the one value that was stored first.
    ///
    /// ```
    /// use ringroute::{Node, Placement, Snapshot};
    /// let snap = Snapshot::new(Placement::native(), [Node::new("a"), Node::new("b")])?;
    /// let upper = snap
    ///     .derived(|s| s.nodes().map(|n| n.name().to_uppercase()).collect::<Vec<_>>())
    ///     .unwrap();
    /// let id = snap.route_id("user:42").unwrap();
    /// assert_eq!(upper[id.index()], snap.node(id).unwrap().name().to_uppercase());
    /// assert!(snap.derived(|_| 0u8).is_none()); // the slot holds a Vec<String>
    /// # Ok::<(), ringroute::Error>(())
    /// ```
    pub fn derived<T: Any + Send + Sync>(&self, init: impl FnOnce(&Snapshot) -> T) -> Option<&T> {
        if self.derived.get().is_none() {
            // `set` fails only if another thread stored a value first: then that value is used.
            let _ = self.derived.set(Box::new(init(self)));
        }
        self.derived.get()?.downcast_ref::<T>()
    }

    /// The id of the named node.
    #[inline]
    pub fn id_of(&self, name: &str) -> Option<NodeId> {
        self.by_name
            .get(name, |i| &self.nodes[i as usize].name)
            .map(NodeId)
    }

    /// The named node.
    #[inline]
    pub fn node_by_name(&self, name: &str) -> Option<&Node> {
        self.id_of(name).map(|id| &*self.nodes[id.index()])
    }

    /// Whether the named node is in the ring.
    #[inline]
    pub fn contains(&self, name: &str) -> bool {
        self.id_of(name).is_some()
    }

    /// The position of `key` under this ring's placement (the top 64 bits of it for a wide profile).
    #[inline]
    pub fn key_hash(&self, key: impl AsRef<[u8]>) -> u64 {
        self.placement.key_hash(key.as_ref())
    }

    /// The exact position of `key` as the original library computes it: 128 bits for a wide profile
    /// (uhashring's md5 integer), [`key_hash`](Self::key_hash) widened for every other.
    #[inline]
    pub fn key_hash_wide(&self, key: impl AsRef<[u8]>) -> u128 {
        self.placement.key_hash_wide(key.as_ref())
    }

    /// The owner of a key position (a value of [`key_hash`](Self::key_hash)); `None` if no node owns
    /// any point. For a wide profile `hash` is taken as the top 64 bits of a position whose low bits
    /// are 0; use [`route_wide`](Self::route_wide) with [`key_hash_wide`](Self::key_hash_wide) for the
    /// exact answer.
    #[inline]
    pub fn route_hash(&self, hash: u64) -> Option<NodeId> {
        match self.placement.profile() {
            // The native profile first, on exactly the path it had before other profiles existed:
            // one predictable branch on the profile, then the search from `hash` itself.
            Profile::Native => self
                .healthy(self.ring.index.owner_at_or_after(hash).map(NodeId), || {
                    u128::from(hash)
                }),
            p if p.is_wide() => self.route_wide(u128::from(hash) << 64),
            _ => self.healthy(self.route_narrow(hash), || u128::from(hash)),
        }
    }

    #[inline(always)]
    fn route_narrow(&self, hash: u64) -> Option<NodeId> {
        self.ring
            .index
            .owner_at_or_after(self.placement.search_from(hash))
            .map(NodeId)
    }

    /// The owner of an exact key position (a value of [`key_hash_wide`](Self::key_hash_wide)). For a
    /// wide profile the search index finds the first point whose top 64 bits are `>=` the key's; only
    /// when those bits are equal (a key on or next to a point) does it consult the low bits. For other
    /// profiles it is [`route_hash`](Self::route_hash) of the value (which then fits 64 bits; larger
    /// values are clamped).
    pub fn route_wide(&self, pos: u128) -> Option<NodeId> {
        if !self.placement.profile().is_wide() {
            let hash = u64::try_from(pos).unwrap_or(u64::MAX);
            return self.healthy(self.route_narrow(hash), || u128::from(hash));
        }
        self.healthy(self.route_wide_owner(pos), || pos)
    }

    /// [`route_wide`](Self::route_wide) under a wide profile, before health.
    fn route_wide_owner(&self, pos: u128) -> Option<NodeId> {
        let hi = (pos >> 64) as u64;
        let (p, owner) = self.ring.index.point_at_or_after(hi)?;
        if p != hi {
            // The first point with top bits >= hi has top bits > hi (or every point is below and this
            // is the wrap-around): it is the first point > pos.
            return Some(NodeId(owner));
        }
        let at_or_after = self.placement.profile().tie() == Tie::AtOrAfter;
        let r = self.ring.rank_wide(pos, at_or_after);
        Some(NodeId(self.ring.owner(r)))
    }

    /// The id of the node that owns `key`; `None` if no node owns any point.
    #[inline]
    pub fn route_id(&self, key: impl AsRef<[u8]>) -> Option<NodeId> {
        let key = key.as_ref();
        match self.placement.profile() {
            // See `route_hash`: native = xxh3, then the `>=` search, nothing else.
            Profile::Native => {
                let hash = xxh3_64(key);
                self.healthy(self.ring.index.owner_at_or_after(hash).map(NodeId), || {
                    u128::from(hash)
                })
            }
            p if p.is_wide() => self.route_wide(self.placement.key_hash_wide(key)),
            _ => {
                let hash = self.placement.key_hash(key);
                self.healthy(self.route_narrow(hash), || u128::from(hash))
            }
        }
    }

    /// The node that owns `key`; `None` if no node owns any point.
    #[inline]
    pub fn route(&self, key: impl AsRef<[u8]>) -> Option<&Node> {
        self.route_id(key).map(|id| &*self.nodes[id.index()])
    }

    /// Routes many key positions at once: `out[i]` = the owner id of `hashes[i]` (as
    /// [`route_hash`](Self::route_hash) gives it), or [`NO_OWNER`] for every key if no node owns a
    /// point. Uses the fastest [`Kernel`] this CPU has; allocates nothing.
    ///
    /// Errors: [`Error::BatchLength`] if `out` is not as long as `hashes`.
    ///
    /// ```
    /// use ringroute::{Node, Placement, Snapshot};
    /// let ring = Snapshot::new(Placement::native(), [Node::new("a"), Node::new("b")])?;
    /// let hashes: Vec<u64> = ["k1", "k2", "k3"].iter().map(|k| ring.key_hash(k)).collect();
    /// let mut out = [0u32; 3];
    /// ring.route_hash_batch(&hashes, &mut out)?;
    /// assert_eq!(out[1], ring.route_hash(hashes[1]).unwrap().get());
    /// # Ok::<(), ringroute::Error>(())
    /// ```
    #[inline]
    pub fn route_hash_batch(&self, hashes: &[u64], out: &mut [u32]) -> Result<()> {
        self.route_hash_batch_with(Kernel::detect(), hashes, out)
    }

    /// [`route_hash_batch`](Self::route_hash_batch) with a chosen kernel (every kernel gives the same
    /// answers). Errors: [`Error::BatchLength`], [`Error::KernelUnavailable`].
    pub fn route_hash_batch_with(
        &self,
        kernel: Kernel,
        hashes: &[u64],
        out: &mut [u32],
    ) -> Result<()> {
        if !self.batch_ready(kernel, hashes.len(), out)? {
            return Ok(());
        }
        match self.placement.profile() {
            Profile::Native => self.ring.index.owners_batch(hashes, out, kernel),
            p if p.is_wide() => {
                for (o, &h) in out.iter_mut().zip(hashes) {
                    *o = self.route_hash(h).map_or(NO_OWNER, NodeId::get);
                }
            }
            _ => self.search_chunks(kernel, hashes, out, |hs, buf| {
                for (b, &h) in buf.iter_mut().zip(hs) {
                    *b = self.placement.search_from(h);
                }
            }),
        }
        if self.health.any_down() {
            self.heal_batch(out, |i| self.widen(hashes[i]));
        }
        Ok(())
    }

    /// Routes many keys at once: hashes them and searches them in groups, `out[i]` = the owner id of
    /// `keys[i]` (as [`route_id`](Self::route_id) gives it), or [`NO_OWNER`] for every key if no node
    /// owns a point. Uses the fastest [`Kernel`] this CPU has; allocates nothing.
    ///
    /// Errors: [`Error::BatchLength`] if `out` is not as long as `keys`.
    ///
    /// ```
    /// use ringroute::{Node, Placement, Snapshot};
    /// let ring = Snapshot::new(Placement::native(), [Node::new("a"), Node::new("b")])?;
    /// let keys = ["user:1", "user:2", "user:3"];
    /// let mut out = [0u32; 3];
    /// ring.route_batch(&keys, &mut out)?;
    /// for (k, &o) in keys.iter().zip(&out) {
    ///     assert_eq!(Some(o), ring.route_id(k).map(|id| id.get()));
    /// }
    /// # Ok::<(), ringroute::Error>(())
    /// ```
    #[inline]
    pub fn route_batch<K: AsRef<[u8]>>(&self, keys: &[K], out: &mut [u32]) -> Result<()> {
        self.route_batch_with(Kernel::detect(), keys, out)
    }

    /// [`route_batch`](Self::route_batch) with a chosen kernel (every kernel gives the same answers).
    /// Errors: [`Error::BatchLength`], [`Error::KernelUnavailable`].
    pub fn route_batch_with<K: AsRef<[u8]>>(
        &self,
        kernel: Kernel,
        keys: &[K],
        out: &mut [u32],
    ) -> Result<()> {
        if !self.batch_ready(kernel, keys.len(), out)? {
            return Ok(());
        }
        // md5 profiles hash many lanes at a time ([`crate::md5x`]); the wide one then routes each
        // 128-bit position exactly (the tie-break of `route_wide`), the narrow ones search. The
        // 4 KiB digest buffer is made in those arms only, so other profiles' calls never zero it.
        match self.placement.profile().key_hasher() {
            KeyHasher::Md5Wide => {
                let mut words = [[0u32; 4]; BATCH_CHUNK];
                for (ks, out) in keys.chunks(BATCH_CHUNK).zip(out.chunks_mut(BATCH_CHUNK)) {
                    let words = &mut words[..ks.len()];
                    crate::md5x::md5_words(kernel, ks, words);
                    for (o, w) in out.iter_mut().zip(words.iter()) {
                        let pos = crate::md5x::words_to_u128_be(*w);
                        *o = self.route_wide(pos).map_or(NO_OWNER, NodeId::get);
                    }
                }
            }
            KeyHasher::Md5Word0 => {
                let mut words = [[0u32; 4]; BATCH_CHUNK];
                self.search_chunks(kernel, keys, out, |ks, buf| {
                    let words = &mut words[..ks.len()];
                    crate::md5x::md5_words(kernel, ks, words);
                    for (b, w) in buf.iter_mut().zip(words.iter()) {
                        *b = self.placement.search_from(u64::from(w[0]));
                    }
                })
            }
            KeyHasher::Other => match self.placement.profile() {
                Profile::Native => self.search_chunks(kernel, keys, out, |ks, buf| {
                    for (b, k) in buf.iter_mut().zip(ks) {
                        *b = xxh3_64(k.as_ref());
                    }
                }),
                _ => self.search_chunks(kernel, keys, out, |ks, buf| {
                    for (b, k) in buf.iter_mut().zip(ks) {
                        *b = self
                            .placement
                            .search_from(self.placement.key_hash(k.as_ref()));
                    }
                }),
            },
        }
        if self.health.any_down() {
            self.heal_batch(out, |i| self.key_hash_wide(keys[i].as_ref()));
        }
        Ok(())
    }

    /// The batch loop: `items` in chunks of [`BATCH_CHUNK`], each turned into search positions in a
    /// stack buffer by `positions(chunk, buffer)` (which fills `buffer[..chunk.len()]`), then
    /// searched together. `out.len() == items.len()`, and the ring has points.
    #[inline(always)]
    fn search_chunks<T>(
        &self,
        kernel: Kernel,
        items: &[T],
        out: &mut [u32],
        mut positions: impl FnMut(&[T], &mut [u64]),
    ) {
        let mut buf = [0u64; BATCH_CHUNK];
        for (xs, out) in items.chunks(BATCH_CHUNK).zip(out.chunks_mut(BATCH_CHUNK)) {
            let buf = &mut buf[..xs.len()];
            positions(xs, buf);
            self.ring.index.owners_batch(buf, out, kernel);
        }
    }

    /// Validates a batch call; `Ok(false)` (with `out` filled with [`NO_OWNER`]) if the ring has no
    /// points, so there is nothing to search.
    fn batch_ready(&self, kernel: Kernel, keys: usize, out: &mut [u32]) -> Result<bool> {
        if out.len() != keys {
            return Err(Error::BatchLength {
                keys,
                out: out.len(),
            });
        }
        if !kernel.is_available() {
            return Err(Error::KernelUnavailable {
                kernel: kernel.name(),
            });
        }
        if self.ring.len() == 0 {
            out.fill(NO_OWNER);
            return Ok(false);
        }
        Ok(true)
    }

    /// The search layout this snapshot searches with.
    pub fn layout(&self) -> Layout {
        self.ring.index.layout()
    }

    /// A copy of this snapshot searching with `layout` (same points, owners and answers), or `None`
    /// if the ring does not fit the layout (radix: more than 65,536 nodes). For benchmarks and tests;
    /// snapshots pick the fastest layout by themselves.
    pub fn with_layout(&self, layout: Layout) -> Option<Snapshot> {
        let norm = self.placement.profile().position_norm();
        Some(Snapshot {
            version: self.version,
            fingerprint: self.fingerprint,
            fp_sum: self.fp_sum,
            placement: self.placement,
            nodes: Arc::clone(&self.nodes),
            by_name: Arc::clone(&self.by_name),
            derived: OnceLock::new(),
            health: self.health.clone(),
            up_owners: OnceLock::new(),
            ring: Arc::new(self.ring.with_layout(layout, norm)?),
        })
    }

    /// The rank in [`points`](Self::points) of the point that owns exact position `pos` (a value of
    /// [`key_hash_wide`](Self::key_hash_wide)): the first point after it, or at or after it, by the
    /// profile's tie rule ([`Profile`]), wrapping to 0; the start of the key's clockwise walk.
    /// `None` if the ring has no points.
    ///
    /// ```
    /// use ringroute::{Node, Placement, Snapshot};
    /// let ring = Snapshot::new(Placement::native(), [Node::new("a"), Node::new("b")])?;
    /// let pos = ring.key_hash_wide("user:42");
    /// let rank = ring.owner_rank(pos).unwrap();
    /// assert_eq!(ring.point_owners()[rank], ring.route_id("user:42").unwrap().get());
    /// # Ok::<(), ringroute::Error>(())
    /// ```
    pub fn owner_rank(&self, pos: u128) -> Option<usize> {
        if self.ring.len() == 0 {
            return None;
        }
        if self.placement.profile().is_wide() {
            let at_or_after = self.placement.profile().tie() == Tie::AtOrAfter;
            Some(self.ring.rank_wide(pos, at_or_after))
        } else {
            let hash = u64::try_from(pos).unwrap_or(u64::MAX);
            self.ring.rank_at_or_after(self.placement.search_from(hash))
        }
    }

    /// The owners of every point, one full turn clockwise from the point that owns `hash`, skipping
    /// the points of down nodes (so the first item is [`route_hash`](Self::route_hash)'s answer).
    /// Not deduplicated. When no owner is up, the walk is empty under [`AllDown::Fail`] and skips
    /// nothing under [`AllDown::Panic`].
    pub fn walk_hash(&self, hash: u64) -> impl Iterator<Item = NodeId> + '_ {
        self.walk_wide(self.widen(hash))
    }

    /// [`walk_hash`](Self::walk_hash) from an exact position (a value of
    /// [`key_hash_wide`](Self::key_hash_wide)).
    pub fn walk_wide(&self, pos: u128) -> impl Iterator<Item = NodeId> + '_ {
        let start = self.owner_rank(pos).unwrap_or(0);
        let skip = self.skips_down();
        self.ring
            .owners_from(start)
            .filter(move |&o| !(skip && self.health.is_down(o)))
            .map(NodeId)
    }

    /// The exact position a 64-bit `hash` stands for (see [`route_hash`](Self::route_hash)).
    #[inline]
    fn widen(&self, hash: u64) -> u128 {
        if self.placement.profile().is_wide() {
            u128::from(hash) << 64
        } else {
            u128::from(hash)
        }
    }

    /// Up to `n` distinct nodes for `key`: the primary owner first, then the next distinct owners
    /// walking clockwise, down nodes skipped (see [`walk_hash`](Self::walk_hash)). Fewer than `n`
    /// only when fewer up nodes own points.
    pub fn replicas(&self, key: impl AsRef<[u8]>, n: usize) -> Vec<NodeId> {
        let mut out = Vec::with_capacity(n.min(self.ring.owning().count));
        self.replicas_wide_into(self.key_hash_wide(key), n, &mut out);
        out
    }

    /// [`replicas`](Self::replicas) for a key position (see [`route_hash`](Self::route_hash) for what
    /// it means under a wide profile), written into `out` (cleared first), so a loop can reuse one
    /// buffer.
    pub fn replicas_hash_into(&self, hash: u64, n: usize, out: &mut Vec<NodeId>) {
        self.replicas_wide_into(self.widen(hash), n, out)
    }

    /// [`replicas`](Self::replicas) for an exact position (a value of
    /// [`key_hash_wide`](Self::key_hash_wide)), written into `out` (cleared first).
    pub fn replicas_wide_into(&self, pos: u128, n: usize, out: &mut Vec<NodeId>) {
        out.clear();
        let owners = if self.skips_down() {
            self.up_owners()
        } else {
            self.ring.owning().count
        };
        let want = n.min(owners);
        if want == 0 {
            return;
        }
        // Small replica counts: a linear scan of `out` beats any set. Large ones: a bitmap.
        let mut seen = if want > 16 {
            vec![0u64; self.nodes.len().div_ceil(64)]
        } else {
            Vec::new()
        };
        for id in self.walk_wide(pos) {
            let fresh = if seen.is_empty() {
                !out.contains(&id)
            } else {
                let (w, b) = (id.index() / 64, id.index() % 64);
                let was = seen[w] >> b & 1 == 1;
                seen[w] |= 1 << b;
                !was
            };
            if fresh {
                out.push(id);
                if out.len() == want {
                    return;
                }
            }
        }
    }
}
