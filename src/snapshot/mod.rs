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
//!
//! This file holds the snapshot and its single lookups; `batch` the batch lookups, `walk` the
//! clockwise walk (a key's owner rank, walks, replicas) and health, which is applied along it.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::fingerprint::{fingerprint, node_term};
use crate::hash::xxh3_64;
use crate::health::Health;
use crate::names::NameIndex;
use crate::node::{Node, NodeId};
use crate::node_table::NodeTable;
use crate::placement::Tally;
use crate::placement::{Placement, Profile, Tie};
use crate::ring::Ring;
use crate::search::Layout;

mod batch;
mod walk;

/// The owner id that the batch lookups write for every key when no node owns a point.
pub const NO_OWNER: u32 = u32::MAX;

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
    pub(crate) nodes: Arc<NodeTable>,
    /// Name → id; shared as `nodes` is.
    pub(crate) by_name: Arc<NameIndex>,
    pub(crate) ring: Arc<Ring>,
    /// The fingerprint's sum of node terms, kept so that the next build updates it by its changes.
    pub(crate) fp_sum: u64,
    /// Which nodes are down (see `crate::health`).
    pub(crate) health: Health,
    /// The membership's running sums, kept so that the next build reads only the nodes it changed.
    pub(crate) tally: Tally,
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
    // The snapshot's parts, each named: a struct of them would only repeat the field list.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn assemble(
        version: u64,
        placement: Placement,
        nodes: Arc<NodeTable>,
        by_name: Arc<NameIndex>,
        ring: Arc<Ring>,
        fp_sum: u64,
        health: Health,
        tally: Tally,
    ) -> Self {
        debug_assert!(nodes
            .as_slice()
            .iter()
            .enumerate()
            .all(|(i, n)| by_name.get(&n.name, |j| &nodes[j as usize].name) == Some(i as u32)));
        debug_assert_eq!(
            fp_sum,
            nodes
                .as_slice()
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
            tally,
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
            tally: self.tally,
            up_owners: OnceLock::new(),
            derived: OnceLock::new(),
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
        self.nodes.as_slice().iter().copied()
    }

    /// The node with this id, if the id is in range.
    #[inline]
    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id.index())
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
    #[inline]
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
        self.id_of(name).map(|id| &self.nodes[id.index()])
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
            Profile::Native => self.owner_healthy(hash),
            p if p.is_wide() => self.route_wide(u128::from(hash) << 64),
            _ => self.owner_healthy(self.placement.search_from(hash)),
        }
    }

    /// The owner of an exact key position (a value of [`key_hash_wide`](Self::key_hash_wide)). For a
    /// wide profile the search index finds the first point whose top 64 bits are `>=` the key's; only
    /// when those bits are equal (a key on or next to a point) does it consult the low bits. For other
    /// profiles it is [`route_hash`](Self::route_hash) of the value (which then fits 64 bits; larger
    /// values are clamped).
    pub fn route_wide(&self, pos: u128) -> Option<NodeId> {
        if !self.placement.profile().is_wide() {
            let hash = u64::try_from(pos).unwrap_or(u64::MAX);
            return self.owner_healthy(self.placement.search_from(hash));
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
        // One function per kind of profile, each out of line: each then saves and restores only
        // the registers its own path uses (one function for all of them spilled and restored for
        // the widest, ~12 instructions on every lookup), and the dispatch here inlines into the
        // caller as a compare and a call.
        let key = key.as_ref();
        match self.placement.profile() {
            Profile::Native => self.route_native(key),
            Profile::Maglev => self.route_maglev(key),
            _ => self.route_other(key),
        }
    }

    /// [`route_id`](Self::route_id) under the native profile: xxh3, then the `>=` search.
    #[inline(never)]
    fn route_native(&self, key: &[u8]) -> Option<NodeId> {
        self.owner_healthy(xxh3_64(key))
    }

    /// [`route_id`](Self::route_id) under Maglev: XXH64 inline, and the entry is the hash mod M.
    #[inline(never)]
    fn route_maglev(&self, key: &[u8]) -> Option<NodeId> {
        self.table_owner_healthy(crate::maglev::key_hash(key))
    }

    /// [`route_id`](Self::route_id) under the other profiles.
    #[inline(never)]
    fn route_other(&self, key: &[u8]) -> Option<NodeId> {
        match self.placement.profile() {
            p if p.is_wide() => self.route_wide(self.placement.key_hash_wide(key)),
            _ => self.owner_healthy(self.placement.search_from(self.placement.key_hash(key))),
        }
    }

    /// The node that owns `key`; `None` if no node owns any point.
    #[inline]
    pub fn route(&self, key: impl AsRef<[u8]>) -> Option<&Node> {
        self.route_id(key).map(|id| &self.nodes[id.index()])
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
            tally: self.tally,
            up_owners: OnceLock::new(),
            ring: Arc::new(self.ring.with_layout(layout, norm)?),
        })
    }
}
