//! Building snapshots: a working membership, validated change by change, turned into the next
//! immutable [`Snapshot`] in one step.
//!
//! A [`Builder`] starts empty ([`Builder::new`]) or from a snapshot ([`Snapshot::edit`]); every
//! snapshot is made here ([`Snapshot::new`], [`Snapshot::empty`] and [`Snapshot::edit`] are defined
//! in this module). The builder keeps the membership: which nodes, in which order, which of them
//! are new or re-weighted, and the base versions of the nodes whose points go. [`Builder::build`]
//! numbers the nodes densely and asks the ring for the next ring:
//! - no node or weight changed (metadata only): the base ring is shared as it is;
//! - a profile whose points depend on each node alone: [`Ring::next`] hashes only the changed
//!   nodes' points and merges them in (a radix ring rewrites only the pages of its index they fall
//!   in, see `crate::ring`);
//! - a profile whose points depend on the whole membership ([`crate::Profile::membership_dependent`]),
//!   or a new membership: [`Ring::build`] hashes every point, as the original library does.
//!
//! The fingerprint's sum of node terms is kept up to date change by change, so a publication hashes
//! only the names it changed (`crate::fingerprint`).

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::fingerprint::node_term;
use crate::health::{AllDown, Health};
use crate::names::NameIndex;
use crate::node::{Node, Payload};
use crate::node_table::Edits;
use crate::placement::{Placement, Tally};
use crate::ring::{Moves, Ring};
use crate::snapshot::Snapshot;

/// The most nodes one ring may hold (drained ones included): 2^20.
pub const MAX_NODES: usize = 1 << 20;

/// The most points one ring may hold: 2^26.
///
/// A ring at the limit is large to build: the full build of one node with 2^26 points
/// (`HashRing(2**26, nodes=["a"])` from Python, native profile) peaked at about 1.64 GB resident
/// and took about 6.4 s on a 2-core machine, half of it the kernel faulting in fresh memory. The
/// build holds about 24 bytes a point at its peak and the finished ring about 14. See
/// `docs/performance.md`.
pub const MAX_POINTS: u64 = 1 << 26;

pub(crate) const NO_ID: u32 = u32::MAX;

/// What the builder started from.
#[derive(Clone)]
struct Base {
    ring: Arc<Ring>,
    len: usize,
    version: u64,
}

/// A working membership: add, remove, re-weight and re-describe nodes, then [`build`](Builder::build)
/// the next snapshot. Each change is validated when it is made (names, weights and the
/// [`MAX_NODES`] limit); a change that fails leaves the builder as it was. Only the [`MAX_POINTS`]
/// limit waits for [`build`](Builder::build), since under some profiles a node's points depend on the
/// whole membership.
///
/// ```
/// use ringroute::{Builder, Node, Placement};
/// let mut b = Builder::new(Placement::native());
/// b.add_node(Node::new("a"))?;
/// b.add_node(Node::new("b").with_weight(2))?;
/// assert!(b.add_node(Node::new("a")).is_err()); // duplicate: nothing changes
/// let ring = b.build()?;
/// assert_eq!(ring.len(), 2);
/// assert_eq!(ring.point_count(), 3 * 128);
/// # Ok::<(), ringroute::Error>(())
/// ```
#[derive(Clone)]
pub struct Builder {
    placement: Placement,
    base: Option<Base>,
    /// The node in each entry slot, none for a removed node's. Entry slots are in insertion order;
    /// the nodes of the base snapshot are in the slots of their ids, the first `base.len` (a base
    /// node removed and added again comes back as a new node, in a new slot), so a slot below that
    /// is its node's id in the base snapshot. The base nodes are read through the base snapshot's
    /// table, not copied (see `crate::node_table`).
    nodes: Edits,
    /// Whether each slot's node's points must be (re)generated.
    repoint: Vec<bool>,
    /// The base snapshot's version of every base node removed or re-weighted since: their points
    /// are the ones that go.
    dropped: Vec<Arc<Node>>,
    /// Name → entry slot.
    index: NameIndex,
    /// The fingerprint's sum of node terms for the working membership (see `crate::fingerprint`).
    fp_sum: u64,
    /// Whether each slot's node is down (see `crate::health`).
    down: Vec<bool>,
    /// The working membership's running sums (its `Membership` and point count).
    tally: Tally,
    /// What lookups answer when every owner is down.
    all_down: AllDown,
    points_changed: bool,
    changed: bool,
}

impl Builder {
    /// An empty membership under `placement`.
    pub fn new(placement: Placement) -> Self {
        Self {
            placement,
            base: None,
            nodes: Edits::default(),
            repoint: Vec::new(),
            dropped: Vec::new(),
            index: NameIndex::default(),
            fp_sum: 0,
            down: Vec::new(),
            tally: Tally::default(),
            all_down: AllDown::default(),
            points_changed: false,
            changed: false,
        }
    }

    fn from_snapshot(s: &Snapshot) -> Self {
        let n = s.nodes.len();
        // Entry slots start as the snapshot's ids: its name map is the index as it is (a table
        // copy, no name hashed again).
        let index = (*s.by_name).clone();
        let mut down = vec![false; n];
        for id in s.health.down_ids() {
            down[id as usize] = true;
        }
        Self {
            placement: s.placement,
            base: Some(Base {
                ring: Arc::clone(&s.ring),
                len: s.nodes.len(),
                version: s.version,
            }),
            nodes: Edits::over(Arc::clone(&s.nodes)),
            repoint: vec![false; n],
            dropped: Vec::new(),
            index,
            fp_sum: s.fp_sum,
            down,
            tally: s.tally,
            all_down: s.health.all_down,
            points_changed: false,
            changed: false,
        }
    }

    /// The placement this membership is built under.
    pub fn placement(&self) -> Placement {
        self.placement
    }

    /// Number of nodes (drained ones included).
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.index.len() == 0
    }

    /// Whether a node of this name is in the working membership.
    pub fn contains(&self, name: &str) -> bool {
        self.slot(name).is_some()
    }

    /// The node of this name in the working membership.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.entry(name).ok().map(|e| &**e)
    }

    /// Whether any change was made since the builder was created.
    pub fn is_changed(&self) -> bool {
        self.changed
    }

    /// Makes room for `more` nodes to be added without growing on the way.
    fn reserve(&mut self, more: usize) {
        self.nodes.reserve(more);
        self.repoint.reserve(more);
        self.down.reserve(more);
        self.index.reserve(more);
    }

    /// Whether entry slot `slot` holds a node of the base snapshot (whose id there is `slot`).
    fn is_base_slot(&self, slot: usize) -> bool {
        slot < self.base.as_ref().map_or(0, |b| b.len)
    }

    /// The entry slot of the named node.
    fn slot(&self, name: &str) -> Option<usize> {
        let nodes = &self.nodes;
        self.index
            .get(name, |i| slot_name(nodes, i))
            .map(|i| i as usize)
    }

    fn entry(&self, name: &str) -> Result<&Arc<Node>> {
        self.slot(name)
            .and_then(|i| self.nodes.get(i))
            .ok_or_else(|| Error::UnknownNode {
                name: name.to_owned(),
            })
    }

    /// The named node, to change, and its slot.
    fn entry_mut(&mut self, name: &str) -> Result<(&mut Arc<Node>, usize)> {
        match self.slot(name) {
            Some(i) => Ok((
                self.nodes.get_mut(i).expect("index points at a live entry"),
                i,
            )),
            None => Err(Error::UnknownNode {
                name: name.to_owned(),
            }),
        }
    }

    /// Adds a node at the end of the insertion order.
    ///
    /// Errors: [`Error::EmptyName`], [`Error::DuplicateNode`], [`Error::WeightOverflow`],
    /// [`Error::InvalidNodeName`], [`Error::TooManyNodes`] (the membership holds [`MAX_NODES`]
    /// already).
    pub fn add_node(&mut self, node: Node) -> Result<()> {
        if node.name.is_empty() {
            return Err(Error::EmptyName);
        }
        let hash = self.index.hash(&node.name);
        let nodes = &self.nodes;
        if (self.index)
            .get_hashed(hash, &node.name, |i| slot_name(nodes, i))
            .is_some()
        {
            return Err(Error::DuplicateNode {
                name: node.name.to_string(),
            });
        }
        if self.index.len() >= MAX_NODES {
            return Err(Error::TooManyNodes {
                nodes: self.index.len() as u64 + 1,
                limit: MAX_NODES as u64,
            });
        }
        self.placement.check_node(&node.name, node.weight)?;
        // Under a membership-dependent profile even a drained node changes `N`, hence every point.
        if node.weight > 0 || self.placement.profile().membership_dependent() {
            self.points_changed = true;
        }
        self.changed = true;
        self.fp_sum = self.fp_sum.wrapping_add(node_term(&node.name, node.weight));
        self.tally.add(&self.placement, node.weight);
        let slot = self.nodes.push(Arc::new(node)) as u32;
        self.repoint.push(true);
        self.down.push(false);
        self.index.insert_hashed(hash, slot);
        Ok(())
    }

    /// Removes the named node and returns it. Errors: [`Error::UnknownNode`].
    pub fn remove_node(&mut self, name: &str) -> Result<Node> {
        let nodes = &self.nodes;
        let i = self
            .index
            .remove(name, |i| slot_name(nodes, i))
            .ok_or_else(|| Error::UnknownNode {
                name: name.to_owned(),
            })? as usize;
        let node = self.nodes.take(i).expect("index points at a live entry");
        if self.is_base_slot(i) && !self.repoint[i] {
            self.dropped.push(Arc::clone(&node));
        }
        // Even a drained node's removal renumbers the nodes after it, so the owner array changes.
        self.points_changed = true;
        self.changed = true;
        self.fp_sum = self.fp_sum.wrapping_sub(node_term(&node.name, node.weight));
        self.tally.remove(&self.placement, node.weight);
        Ok(Arc::unwrap_or_clone(node))
    }

    /// Adds a node unless a node of that name is present (then nothing changes and the present
    /// node is kept as it is): the rule of fastring's `add_node`, for front ends that follow it.
    /// Returns whether the node was added.
    ///
    /// Errors: as [`add_node`](Self::add_node), except [`Error::DuplicateNode`].
    pub fn add_node_if_absent(&mut self, node: Node) -> Result<bool> {
        if self.contains(&node.name) {
            return Ok(false);
        }
        self.add_node(node).map(|()| true)
    }

    /// Removes the named node if it is present, and returns it; `None` (nothing changes) if it is
    /// not: the rule of fastring's `remove_node`.
    pub fn remove_node_if_present(&mut self, name: &str) -> Option<Node> {
        self.remove_node(name).ok()
    }

    /// Changes the weight of the named node; it keeps its place in the insertion order.
    ///
    /// Errors: [`Error::UnknownNode`], [`Error::WeightOverflow`].
    pub fn set_weight(&mut self, name: &str, weight: u32) -> Result<()> {
        self.placement.check_node(name, weight)?;
        let node = self.entry(name)?;
        if node.weight == weight {
            return Ok(());
        }
        let base_version = Arc::clone(node);
        let (_, slot) = self.entry_mut(name)?;
        if self.is_base_slot(slot) && !self.repoint[slot] {
            self.dropped.push(base_version);
        }
        let node = self
            .nodes
            .get_mut(slot)
            .expect("index points at a live entry");
        let delta = node_term(&node.name, weight).wrapping_sub(node_term(&node.name, node.weight));
        let before = node.weight;
        Arc::make_mut(node).weight = weight;
        self.tally.remove(&self.placement, before);
        self.tally.add(&self.placement, weight);
        self.repoint[slot] = true;
        self.points_changed = true;
        self.changed = true;
        self.fp_sum = self.fp_sum.wrapping_add(delta);
        Ok(())
    }

    /// Marks the named node down: lookups skip it (see [`crate::Router::mark_down`]); its points
    /// stay. Errors: [`Error::UnknownNode`].
    pub fn mark_down(&mut self, name: &str) -> Result<()> {
        self.set_down(name, true)
    }

    /// Marks the named node up again. Errors: [`Error::UnknownNode`].
    pub fn mark_up(&mut self, name: &str) -> Result<()> {
        self.set_down(name, false)
    }

    /// Whether the named node is up; `None` if there is no such node. A node is up when added.
    pub fn is_up(&self, name: &str) -> Option<bool> {
        let slot = self.slot(name)?;
        self.nodes.get(slot).map(|_| !self.down[slot])
    }

    fn set_down(&mut self, name: &str, down: bool) -> Result<()> {
        let slot = self.slot(name).ok_or_else(|| Error::UnknownNode {
            name: name.to_owned(),
        })?;
        if self.down[slot] != down {
            self.down[slot] = down;
            self.changed = true;
        }
        Ok(())
    }

    /// Sets what lookups answer when every node that owns points is down (see [`AllDown`]).
    pub fn set_all_down(&mut self, policy: AllDown) {
        if self.all_down != policy {
            self.all_down = policy;
            self.changed = true;
        }
    }

    /// What lookups will answer when every node that owns points is down.
    pub fn all_down(&self) -> AllDown {
        self.all_down
    }

    /// Sets or clears the hostname of the named node. Errors: [`Error::UnknownNode`].
    pub fn set_hostname(&mut self, name: &str, hostname: Option<Arc<str>>) -> Result<()> {
        let (node, _) = self.entry_mut(name)?;
        Arc::make_mut(node).set_hostname(hostname);
        self.changed = true;
        Ok(())
    }

    /// Sets or clears the port of the named node. Errors: [`Error::UnknownNode`].
    pub fn set_port(&mut self, name: &str, port: Option<u16>) -> Result<()> {
        let (node, _) = self.entry_mut(name)?;
        Arc::make_mut(node).set_port(port);
        self.changed = true;
        Ok(())
    }

    /// Sets or clears the payload of the named node. Errors: [`Error::UnknownNode`].
    pub fn set_payload(&mut self, name: &str, payload: Option<Payload>) -> Result<()> {
        let (node, _) = self.entry_mut(name)?;
        Arc::make_mut(node).set_payload(payload);
        self.changed = true;
        Ok(())
    }

    /// Entry slots in use, removed nodes' holes included (at least [`len`](Self::len)).
    pub(crate) fn slots(&self) -> usize {
        self.nodes.len()
    }

    /// Checks the [`MAX_POINTS`] limit as [`build`](Self::build) will (from the running sums, or a
    /// pass over the nodes under a membership-dependent profile).
    ///
    /// Errors: [`Error::TooManyPoints`].
    pub(crate) fn check_points(&self) -> Result<()> {
        let total = total_points(&self.placement, &self.tally, self.nodes.nodes());
        if total > MAX_POINTS {
            return Err(Error::TooManyPoints {
                points: total,
                limit: MAX_POINTS,
            });
        }
        Ok(())
    }

    /// Builds the snapshot. Its version is the base snapshot's plus one (0 for a new membership).
    ///
    /// Errors: [`Error::TooManyNodes`], [`Error::TooManyPoints`].
    pub fn build(self) -> Result<Snapshot> {
        let live = self.index.len();
        if live > MAX_NODES {
            return Err(Error::TooManyNodes {
                nodes: live as u64,
                limit: MAX_NODES as u64,
            });
        }
        let slots = self.nodes.len();
        let base_len = self.base.as_ref().map_or(0, |b| b.len);
        // Dense ids: each slot's node's id is the count of live slots before it (the slot itself
        // unless a node was removed); the base snapshot's nodes are in the slots of their old ids.
        // The empty slots split the slots into runs, slot `s` of the run after the `k`th empty one
        // has id `s - k`, so every per-slot column the ring needs is made run by run, and the name
        // index closes the gaps in one pass.
        let empty = self.nodes.empty_slots();
        debug_assert_eq!(slots - empty.len(), live);
        let holes = !empty.is_empty();
        let mut old_to_new: Vec<u32> = Vec::with_capacity(base_len);
        let mut kept_repoint: Vec<bool> = Vec::with_capacity(if holes { live } else { 0 });
        let mut from = 0usize;
        for (k, &e) in empty.iter().chain([&(slots as u32)]).enumerate() {
            let (e, k) = (e as usize, k as u32);
            if holes {
                kept_repoint.extend_from_slice(&self.repoint[from..e]);
            }
            old_to_new.extend((from as u32..e.min(base_len) as u32).map(|s| s - k));
            if e < base_len {
                old_to_new.push(NO_ID);
            }
            from = e + 1;
        }
        // The live nodes that are down, by id (few: a pass over the flags finds them).
        let id_of_slot = |s: usize| {
            let k = empty.partition_point(|&e| (e as usize) < s);
            (empty.get(k) != Some(&(s as u32))).then_some((s - k) as u32)
        };
        let down: Vec<u32> = (self.down.iter().enumerate())
            .filter(|&(_, &d)| d)
            .filter_map(|(s, _)| id_of_slot(s))
            .collect();
        let repoint = if holes { kept_repoint } else { self.repoint };
        // The live nodes in slot order, ids dense.
        let table = self.nodes.into_table();
        let nodes = table.as_slice();
        let membership = self.tally.membership();
        debug_assert_eq!(
            membership,
            crate::placement::Membership::of(nodes.iter().copied())
        );
        let total_points = total_points(&self.placement, &self.tally, nodes.iter().copied());
        if total_points > MAX_POINTS {
            return Err(Error::TooManyPoints {
                points: total_points,
                limit: MAX_POINTS,
            });
        }
        // The index maps names to entry slots; those are the dense ids unless a node was removed,
        // and then each is renumbered in place (no name hashed again).
        let mut by_name = self.index;
        by_name.close_gaps(&empty);
        let version = self.base.as_ref().map_or(0, |b| b.version + 1);
        let whole = self.placement.profile().membership_dependent();
        // Most points new (a ring filled from empty, a loop of staged adds): a full build sorts
        // them faster than a merge into the few old ones.
        let mostly_new = 2 * repoint.iter().filter(|&&r| r).count() > nodes.len();
        let ring = match &self.base {
            Some(base) if !self.points_changed => Arc::clone(&base.ring),
            Some(base) if !whole && !mostly_new => Arc::new(base.ring.next(
                &self.placement,
                &membership,
                &Moves {
                    nodes,
                    nodes_before: base.len,
                    repoint: &repoint,
                    old_to_new: &old_to_new,
                    dropped: &self.dropped,
                },
            )),
            _ => Arc::new(Ring::build(&self.placement, nodes, &membership)?),
        };
        let health = Health::from_down(live, down, self.all_down);
        Ok(Snapshot::assemble(
            version,
            self.placement,
            table,
            Arc::new(by_name),
            ring,
            self.fp_sum,
            health,
            self.tally,
        ))
    }
}

impl Snapshot {
    /// Builds a ring of `nodes` (in insertion order) under `placement`, with version 0.
    ///
    /// Errors: any error of [`Builder::add_node`] or [`Builder::build`].
    pub fn new(placement: Placement, nodes: impl IntoIterator<Item = Node>) -> Result<Self> {
        let nodes = nodes.into_iter();
        let mut b = Builder::new(placement);
        b.reserve(nodes.size_hint().0.min(MAX_NODES));
        for n in nodes {
            b.add_node(n)?;
        }
        b.build()
    }

    /// An empty ring under `placement`, version 0.
    pub fn empty(placement: Placement) -> Self {
        Builder::new(placement)
            .build()
            .expect("an empty membership is always valid")
    }

    /// A builder holding this snapshot's membership, to make the next snapshot from. Building it is
    /// incremental: unchanged nodes' points are reused, not re-hashed.
    pub fn edit(&self) -> Builder {
        Builder::from_snapshot(self)
    }
}

/// The name of the node in entry slot `i` ("" for a removed node's slot, which the index never asks
/// for).
fn slot_name(nodes: &Edits, i: u32) -> &str {
    nodes.get(i as usize).map_or("", |n| &n.name)
}

/// A membership's point count: from its running sums when each node's count depends on the node
/// alone (no node is read), else counted node by node (`nodes`: the live nodes, in any order).
fn total_points<'a>(
    placement: &Placement,
    tally: &Tally,
    nodes: impl Iterator<Item = &'a Node>,
) -> u64 {
    let membership = tally.membership();
    let counted = nodes.map(|n| placement.point_count(n, &membership));
    match tally.own_points(placement) {
        Some(total) => {
            debug_assert_eq!(total, counted.sum::<u64>());
            total
        }
        None => counted.sum(),
    }
}
