//! Building snapshots: a working membership, validated change by change, turned into the next
//! immutable [`Snapshot`] in one step.
//!
//! A [`Builder`] starts empty ([`Builder::new`]) or from a snapshot ([`Snapshot::edit`]). Building from
//! a snapshot is incremental and costs O(points): the points of unchanged nodes are kept in their
//! sorted order (never re-hashed), the points of removed or re-weighted nodes are dropped, and only the
//! new points are hashed, sorted and merged in: a one-node addition or removal copies the old arrays in
//! runs, and hands the search index the positions added and removed so that it updates instead of
//! being rebuilt. A change of metadata alone shares the old point arrays.
//! Under a profile whose points depend on the whole membership ([`Profile::membership_dependent`]),
//! any change of nodes or weights regenerates every point instead, as the original library does.
//!
//! Equal positions follow the profile's rule (all kept in insertion order, or only the first or last
//! node's kept). Points collapsed away are remembered in the ring's (almost always empty) `shadowed`
//! list, so that an incremental build after the winner leaves gives exactly what a fresh build would.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::hash::xxh3_64;
use crate::names::NameIndex;
use crate::node::{Node, Payload};
use crate::placement::{EqualPoints, Membership, Placement, Profile};
use crate::search::packed::{pack_point, position, slot_owner, Change, Packed};
use crate::snapshot::{Ring, Snapshot};

/// The most nodes one ring may hold (drained ones included): 2^20.
pub const MAX_NODES: usize = 1 << 20;

/// The most points one ring may hold: 2^26 (about 1.5 GiB of search structures at the limit).
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
/// the next snapshot. Each change is validated when it is made; a change that fails leaves the builder
/// as it was.
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
    /// The node in each entry slot, `None` for a removed node's. Entry slots are in insertion order;
    /// the nodes of the base snapshot start in the slots of their ids. (Three columns rather than a
    /// vector of entry structs: `build` walks every slot, and moving an 8-byte `Option<Arc>` stays in
    /// registers where a struct went through the stack.)
    nodes: Vec<Option<Arc<Node>>>,
    /// Each slot's node's id in the base snapshot, or `NO_ID` if it was not there.
    old_ids: Vec<u32>,
    /// Whether each slot's node's points must be (re)generated.
    repoint: Vec<bool>,
    /// The base snapshot's version of every base node removed or re-weighted since: their points
    /// are the ones that go.
    dropped: Vec<Arc<Node>>,
    /// Name → entry slot.
    index: NameIndex,
    /// The fingerprint's sum of node terms for the working membership (see [`fingerprint`]).
    fp_sum: u64,
    points_changed: bool,
    changed: bool,
}

impl Builder {
    /// An empty membership under `placement`.
    pub fn new(placement: Placement) -> Self {
        Self {
            placement,
            base: None,
            nodes: Vec::new(),
            old_ids: Vec::new(),
            repoint: Vec::new(),
            dropped: Vec::new(),
            index: NameIndex::default(),
            fp_sum: 0,
            points_changed: false,
            changed: false,
        }
    }

    pub(crate) fn from_snapshot(s: &Snapshot) -> Self {
        let n = s.nodes.len();
        // Entry slots start as the snapshot's ids: its name map is the index as it is (a table
        // copy, no name hashed again).
        let index = s.by_name.clone();
        Self {
            placement: s.placement,
            base: Some(Base {
                ring: Arc::clone(&s.ring),
                len: s.nodes.len(),
                version: s.version,
            }),
            nodes: s.nodes.iter().map(|n| Some(Arc::clone(n))).collect(),
            old_ids: (0..n as u32).collect(),
            repoint: vec![false; n],
            dropped: Vec::new(),
            index,
            fp_sum: s.fp_sum,
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

    /// The entry slot of the named node.
    fn slot(&self, name: &str) -> Option<usize> {
        let nodes = &self.nodes;
        self.index
            .get(name, |i| slot_name(nodes, i))
            .map(|i| i as usize)
    }

    fn entry(&self, name: &str) -> Result<&Arc<Node>> {
        self.slot(name)
            .and_then(|i| self.nodes[i].as_ref())
            .ok_or_else(|| Error::UnknownNode {
                name: name.to_owned(),
            })
    }

    /// The named node, to change, and its slot.
    fn entry_mut(&mut self, name: &str) -> Result<(&mut Arc<Node>, usize)> {
        match self.slot(name) {
            Some(i) => Ok((
                self.nodes[i]
                    .as_mut()
                    .expect("index points at a live entry"),
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
    /// [`Error::InvalidNodeName`].
    pub fn add_node(&mut self, node: Node) -> Result<()> {
        if node.name.is_empty() {
            return Err(Error::EmptyName);
        }
        if self.slot(&node.name).is_some() {
            return Err(Error::DuplicateNode {
                name: node.name.to_string(),
            });
        }
        self.placement.check_node(&node.name, node.weight)?;
        // Under a membership-dependent profile even a drained node changes `N`, hence every point.
        if node.weight > 0 || self.placement.profile().membership_dependent() {
            self.points_changed = true;
        }
        self.changed = true;
        self.fp_sum = self.fp_sum.wrapping_add(node_term(&node.name, node.weight));
        let slot = self.nodes.len() as u32;
        self.nodes.push(Some(Arc::new(node)));
        self.old_ids.push(NO_ID);
        self.repoint.push(true);
        let nodes = &self.nodes;
        self.index
            .insert(slot_name(nodes, slot), slot, |i| slot_name(nodes, i));
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
        let node = self.nodes[i].take().expect("index points at a live entry");
        if self.old_ids[i] != NO_ID && !self.repoint[i] {
            self.dropped.push(Arc::clone(&node));
        }
        // Even a drained node's removal renumbers the nodes after it, so the owner array changes.
        self.points_changed = true;
        self.changed = true;
        self.fp_sum = self.fp_sum.wrapping_sub(node_term(&node.name, node.weight));
        Ok(Arc::unwrap_or_clone(node))
    }

    /// Changes the weight of the named node; it keeps its place in the insertion order.
    ///
    /// Errors: [`Error::UnknownNode`], [`Error::WeightOverflow`].
    pub fn set_weight(&mut self, name: &str, weight: u32) -> Result<()> {
        self.placement.check_node(name, weight)?;
        let (node, slot) = self.entry_mut(name)?;
        if node.weight == weight {
            return Ok(());
        }
        let base_version = Arc::clone(node);
        if self.old_ids[slot] != NO_ID && !self.repoint[slot] {
            self.dropped.push(base_version);
        }
        let (node, slot) = self.entry_mut(name)?;
        let delta = node_term(&node.name, weight).wrapping_sub(node_term(&node.name, node.weight));
        Arc::make_mut(node).weight = weight;
        self.repoint[slot] = true;
        self.points_changed = true;
        self.changed = true;
        self.fp_sum = self.fp_sum.wrapping_add(delta);
        Ok(())
    }

    /// Sets or clears the hostname of the named node. Errors: [`Error::UnknownNode`].
    pub fn set_hostname(&mut self, name: &str, hostname: Option<Arc<str>>) -> Result<()> {
        let (node, _) = self.entry_mut(name)?;
        Arc::make_mut(node).hostname = hostname;
        self.changed = true;
        Ok(())
    }

    /// Sets or clears the port of the named node. Errors: [`Error::UnknownNode`].
    pub fn set_port(&mut self, name: &str, port: Option<u16>) -> Result<()> {
        let (node, _) = self.entry_mut(name)?;
        Arc::make_mut(node).port = port;
        self.changed = true;
        Ok(())
    }

    /// Sets or clears the payload of the named node. Errors: [`Error::UnknownNode`].
    pub fn set_payload(&mut self, name: &str, payload: Option<Payload>) -> Result<()> {
        let (node, _) = self.entry_mut(name)?;
        Arc::make_mut(node).payload = payload;
        self.changed = true;
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
        let mut nodes: Vec<Arc<Node>> = Vec::with_capacity(live);
        let mut repoint: Vec<bool> = Vec::with_capacity(live);
        let mut old_to_new = vec![NO_ID; self.base.as_ref().map_or(0, |b| b.len)];
        let slots = self.nodes.len();
        // slot_to_id[slot]: the dense id of the node in entry slot `slot` (holes are removed nodes).
        let mut slot_to_id: Vec<u32> = Vec::with_capacity(if slots == live { 0 } else { slots });
        for (slot, node) in self.nodes.into_iter().enumerate() {
            let id = nodes.len() as u32;
            if slots != live {
                slot_to_id.push(id);
            }
            let Some(node) = node else { continue };
            let old = self.old_ids[slot];
            if old != NO_ID {
                old_to_new[old as usize] = id;
            }
            repoint.push(self.repoint[slot]);
            nodes.push(node);
        }
        let membership = Membership::of(nodes.iter().map(|n| &**n));
        let total_points: u64 = nodes
            .iter()
            .map(|n| self.placement.point_count(n, &membership))
            .sum();
        if total_points > MAX_POINTS {
            return Err(Error::TooManyPoints {
                points: total_points,
                limit: MAX_POINTS,
            });
        }
        // The index maps names to entry slots; those are the dense ids unless a node was removed,
        // and then each is renumbered in place (no name hashed again).
        let mut by_name = self.index;
        if slots != live {
            by_name.renumber(|slot| slot_to_id[slot as usize]);
        }
        let version = self.base.as_ref().map_or(0, |b| b.version + 1);
        let whole = self.placement.profile().membership_dependent();
        let ring = match &self.base {
            Some(base) if !self.points_changed => Arc::clone(&base.ring),
            Some(base) if !whole => Arc::new(merge_ring(
                &self.placement,
                base,
                &nodes,
                &membership,
                &repoint,
                &old_to_new,
                &self.dropped,
            )),
            _ => Arc::new(full_ring(&self.placement, &nodes, &membership)),
        };
        Ok(Snapshot::assemble(
            version,
            self.placement,
            nodes,
            by_name,
            ring,
            self.fp_sum,
        ))
    }
}

/// The name of the node in entry slot `i` ("" for a removed node's slot, which the index never asks
/// for).
fn slot_name(nodes: &[Option<Arc<Node>>], i: u32) -> &str {
    nodes
        .get(i as usize)
        .and_then(Option::as_ref)
        .map_or("", |n| &n.name)
}

/// A point while a ring is built: (position, low bits, owner id). Sorting these orders equal positions
/// by node id, i.e. by insertion order, as a stable sort of the original's insertion-ordered points does.
pub(crate) type Pt = (u64, u64, u32);

/// The points of the nodes flagged in `which` (all if `None`), sorted.
fn fresh_points(
    placement: &Placement,
    nodes: &[Arc<Node>],
    m: &Membership,
    which: Option<&[bool]>,
) -> Vec<Pt> {
    let mut fresh: Vec<Pt> = Vec::new();
    let mut scratch: Vec<(u64, u64)> = Vec::new();
    for (id, node) in nodes.iter().enumerate() {
        if which.is_some_and(|w| !w[id]) || node.weight == 0 {
            continue;
        }
        scratch.clear();
        placement.node_points(node, m, &mut scratch);
        fresh.extend(scratch.iter().map(|&(p, l)| (p, l, id as u32)));
    }
    fresh.sort_unstable();
    fresh
}

fn full_ring(placement: &Placement, nodes: &[Arc<Node>], m: &Membership) -> Ring {
    finish(
        placement.profile(),
        fresh_points(placement, nodes, m, None),
        nodes.len(),
    )
}

/// Merges two sorted sequences into one sorted vector.
fn merge_sorted(a: impl Iterator<Item = Pt>, b: Vec<Pt>, capacity: usize) -> Vec<Pt> {
    let mut out = Vec::with_capacity(capacity);
    let mut b = b.into_iter().peekable();
    for x in a {
        while let Some(&y) = b.peek() {
            if y < x {
                out.push(y);
                b.next();
            } else {
                break;
            }
        }
        out.push(x);
    }
    out.extend(b);
    out
}

fn merge_ring(
    placement: &Placement,
    base: &Base,
    nodes: &[Arc<Node>],
    m: &Membership,
    repoint: &[bool],
    old_to_new: &[u32],
    dropped: &[Arc<Node>],
) -> Ring {
    let fresh = fresh_points(placement, nodes, m, Some(repoint));
    let change = Moves {
        nodes: nodes.len(),
        repoint,
        old_to_new,
        dropped,
    };
    if let Some(ring) = merge_narrow(placement, base, m, &fresh, &change) {
        return ring;
    }
    finish(
        placement.profile(),
        merged_points(&base.ring, fresh, repoint, old_to_new),
        nodes.len(),
    )
}

/// How the membership moved from the base snapshot's (see [`merge_narrow`]).
struct Moves<'a> {
    /// Nodes of the new membership.
    nodes: usize,
    /// By new id: whether the node's points are generated afresh.
    repoint: &'a [bool],
    /// By old id: the new id, or `NO_ID` if the node left.
    old_to_new: &'a [u32],
    /// The base versions of the nodes whose old points go.
    dropped: &'a [Arc<Node>],
}

/// The common case of [`merge_ring`]: a narrow profile (no low bits), an old radix ring with no
/// shadowed points, and slot ids that still fit the packed form. Every node keeps its slot id (the
/// owner field of its packed points) while it stays; a node that leaves frees its slot, and a new
/// node takes the lowest free one. So only the points that come and go change: they are merged into
/// the pages they fall in, and every other page is shared with the old ring (see
/// [`Packed::merged`]). The points that go are found by hashing the dropped nodes again (their
/// pages), not by scanning the ring. Gives up (`None`, and the general path runs) if it meets two
/// equal positions under a profile that keeps only one of them, or whenever the packing cannot take
/// the change in place.
fn merge_narrow(
    placement: &Placement,
    base: &Base,
    m: &Membership,
    fresh: &[Pt],
    mv: &Moves<'_>,
) -> Option<Ring> {
    let profile = placement.profile();
    let old = &*base.ring;
    let packed = old.packing()?;
    if profile.is_wide() || !old.shadowed.is_empty() {
        return None;
    }
    let norm = packed.norm();
    let slots = packed.slot_bound(base.len);
    let old_ids = packed.ids();
    // ids[s]: the new id of the node in slot s (NO_ID: free); gone[s]: the slot's old points go.
    let mut ids = vec![NO_ID; slots];
    let mut gone = vec![false; slots];
    let mut slot_of = vec![NO_ID; mv.nodes];
    for s in 0..slots {
        let o = if old_ids.is_empty() {
            s as u32
        } else {
            old_ids[s]
        };
        let Some(&id) = mv.old_to_new.get(o as usize) else {
            continue; // a free slot
        };
        if id == NO_ID {
            gone[s] = true;
            continue;
        }
        gone[s] = mv.repoint[id as usize];
        ids[s] = id;
        slot_of[id as usize] = s as u32;
    }
    let mut free: Vec<u32> = (0..slots as u32)
        .rev()
        .filter(|&s| ids[s as usize] == NO_ID)
        .collect();
    for (id, slot) in slot_of.iter_mut().enumerate() {
        if *slot == NO_ID {
            let s = free.pop().unwrap_or_else(|| {
                ids.push(NO_ID);
                ids.len() as u32 - 1
            });
            ids[s as usize] = id as u32;
            *slot = s;
        }
    }
    if ids.len() > 1 << 16 {
        return None;
    }
    let fresh: Vec<(u64, u32, u32)> = fresh
        .iter()
        .map(|&(p, _, id)| (p << norm, id, slot_of[id as usize]))
        .collect();
    let mut gone_positions = Vec::new();
    let mut scratch = Vec::new();
    for node in mv.dropped {
        scratch.clear();
        placement.node_points(node, m, &mut scratch);
        gone_positions.extend(scratch.iter().map(|&(p, _)| p << norm));
    }
    packed
        .merged(Change {
            fresh: &fresh,
            gone: &gone,
            gone_positions: &gone_positions,
            ids,
            keep_equal: profile.equal_points() == EqualPoints::All,
        })
        .map(|p| Ring::packed(p, Vec::new()))
}

/// The old points that stay (collapsed-away ones included, owners renumbered) merged with `fresh`.
/// Renumbering keeps the relative order of ids, so the kept sequence stays sorted by
/// (position, low, id).
fn merged_points(old: &Ring, fresh: Vec<Pt>, repoint: &[bool], old_to_new: &[u32]) -> Vec<Pt> {
    let keep = |&(p, l, o): &Pt| {
        let id = old_to_new[o as usize];
        (id != NO_ID && !repoint[id as usize]).then_some((p, l, id))
    };
    let lows = old.lows.as_deref();
    let kept = old
        .iter()
        .enumerate()
        .map(|(r, (p, o))| (p, lows.map_or(0, |l| l[r]), o))
        .filter_map(|pt| keep(&pt));
    let capacity = old.len() + old.shadowed.len() + fresh.len();
    let mut kept: Vec<Pt> = if old.shadowed.is_empty() {
        kept.collect()
    } else {
        merge_sorted(
            kept,
            old.shadowed.iter().filter_map(keep).collect(),
            capacity,
        )
    };
    if !fresh.is_empty() {
        kept = merge_sorted(kept.into_iter(), fresh, capacity);
    }
    kept
}

/// Turns sorted points into a ring: applies the profile's rule for equal positions and keeps the low
/// bits of wide profiles in the ring's side array. A narrow ring whose ids fit the packed form
/// (`id_bound`: one past the largest owner id) is packed straight from `sorted`, without the plain
/// point and owner arrays in between.
fn finish(profile: Profile, sorted: Vec<Pt>, id_bound: usize) -> Ring {
    debug_assert!(sorted.windows(2).all(|w| w[0] <= w[1]));
    let n = sorted.len();
    let packed = !profile.is_wide() && id_bound <= 1 << 16;
    let norm = profile.position_norm();
    let (mut slots, mut slot_lows) = if packed {
        (Vec::with_capacity(n), Vec::with_capacity(n))
    } else {
        (Vec::new(), Vec::new())
    };
    let plain = if packed { 0 } else { n };
    let mut points = Vec::with_capacity(plain);
    let mut owners = Vec::with_capacity(plain);
    let mut lows = Vec::with_capacity(if profile.is_wide() { n } else { 0 });
    let mut shadowed = Vec::new();
    let dup = profile.equal_points();
    let mut i = 0;
    while i < n {
        let (p, l, _) = sorted[i];
        let mut j = i + 1;
        while j < n && sorted[j].0 == p && sorted[j].1 == l {
            j += 1;
        }
        let run = &sorted[i..j];
        let kept: &[Pt] = match dup {
            EqualPoints::All => run,
            EqualPoints::First => {
                shadowed.extend_from_slice(&run[1..]);
                &run[..1]
            }
            EqualPoints::Last => {
                shadowed.extend_from_slice(&run[..run.len() - 1]);
                &run[run.len() - 1..]
            }
        };
        for &(p, l, o) in kept {
            if packed {
                let (slot, low) = pack_point(p, o, norm);
                slots.push(slot);
                slot_lows.push(low);
            } else {
                points.push(p);
                owners.push(o);
                if profile.is_wide() {
                    lows.push(l);
                }
            }
        }
        i = j;
    }
    if packed {
        if let Some(p) = Packed::from_sorted(&slots, &slot_lows, norm, Vec::new()) {
            return Ring::packed(p, shadowed);
        }
        // A page would overflow (positions crowded far beyond what hashing gives): the plain
        // arrays, searched with the Eytzinger layout.
        (points, owners) = slots
            .iter()
            .zip(&slot_lows)
            .map(|(&s, &l)| (position(s, l) >> norm, slot_owner(s)))
            .unzip();
    }
    let lows = profile.is_wide().then_some(lows);
    Ring::new(profile, points, owners, lows, shadowed)
}

/// The membership fingerprint: stable across processes and releases, independent of the order in
/// which nodes were added. `xxh3_64("ringroute/fp/v1" ‖ profile code ‖ virtual_nodes (u32 LE) ‖
/// node count (u64 LE) ‖ Σ xxh3_64(name length (u32 LE) ‖ name ‖ weight (u32 LE)) (wrapping, u64 LE))`.
/// `sum` is that sum of [`node_term`]s, which builders keep up to date change by change (so a
/// publication hashes only the nodes it changed).
pub(crate) fn fingerprint(placement: &Placement, count: usize, sum: u64) -> u64 {
    let mut out = Vec::with_capacity(40);
    out.extend_from_slice(b"ringroute/fp/v1");
    out.extend_from_slice(&placement.fingerprint_bytes());
    out.extend_from_slice(&(count as u64).to_le_bytes());
    out.extend_from_slice(&sum.to_le_bytes());
    xxh3_64(&out)
}

/// One node's term of the fingerprint's sum: `xxh3_64(name length (u32 LE) ‖ name ‖ weight (u32 LE))`.
pub(crate) fn node_term(name: &str, weight: u32) -> u64 {
    let mut buf = Vec::with_capacity(name.len() + 8);
    buf.extend_from_slice(&(name.len() as u32).to_le_bytes());
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(&weight.to_le_bytes());
    xxh3_64(&buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real collisions between different nodes' points (equal 32-bit CRCs, equal 128-bit md5s) are too
    /// rare for random tests, so the equal-position rules are checked on synthetic points here.
    #[test]
    fn equal_positions_follow_the_profile_rule_and_come_back_when_the_winner_leaves() {
        let pts = vec![(5, 0, 0), (5, 0, 1), (5, 0, 2), (7, 0, 1)];
        let first = finish(Profile::Nginx, pts.clone(), 3);
        assert_eq!(
            (
                first.plain().points.as_slice(),
                first.plain().owners.as_slice()
            ),
            (&[5, 7][..], &[0, 1][..])
        );
        assert_eq!(first.shadowed, vec![(5, 0, 1), (5, 0, 2)]);
        let last = finish(Profile::UhashringKetama, pts.clone(), 3);
        assert_eq!(last.plain().owners, vec![2, 1]);
        let all = finish(Profile::Continuum, pts.clone(), 3);
        assert_eq!(all.plain().owners, vec![0, 1, 2, 1]);
        assert!(all.shadowed.is_empty());

        // Node 0 leaves (ids 1, 2 become 0, 1): node 1's shadowed point at 5 comes back.
        let old_to_new = [NO_ID, 0, 1];
        let merged = merged_points(&first, Vec::new(), &[false, false], &old_to_new);
        let ring = finish(Profile::Nginx, merged, 2);
        assert_eq!(
            (
                ring.plain().points.as_slice(),
                ring.plain().owners.as_slice()
            ),
            (&[5, 7][..], &[0, 0][..])
        );
        assert_eq!(ring.shadowed, vec![(5, 0, 1)]);

        // Wide: equal top bits but different low bits are distinct points; equal in all 128 bits
        // collapse to the node added last.
        let wide = finish(Profile::Uhashring, vec![(5, 1, 0), (5, 2, 0), (5, 2, 1)], 2);
        assert_eq!(wide.plain().points, vec![5, 5]);
        assert_eq!(wide.lows.as_deref(), Some(&[1, 2][..]));
        assert_eq!(wide.plain().owners, vec![0, 1]);
        let merged = merged_points(&wide, Vec::new(), &[false], &[0, NO_ID]);
        let ring = finish(Profile::Uhashring, merged, 1);
        assert_eq!(ring.plain().owners, vec![0, 0]);
        assert_eq!(ring.lows.as_deref(), Some(&[1, 2][..]));
    }

    /// A membership change far from the end of the insertion order takes the incremental path:
    /// the new ring shares most pages with the old one (its pages sit in more than one chunk), its
    /// slot ids differ from its node ids, and it routes every key as a ring built afresh does.
    #[test]
    fn a_change_in_the_middle_shares_pages_and_routes_as_a_fresh_build() {
        let placement = Placement::native();
        let names: Vec<String> = (0..300).map(|i| format!("node-{i}")).collect();
        let mut snap =
            crate::Snapshot::new(placement, names.iter().map(|n| Node::new(n.as_str()))).unwrap();
        let mut live: Vec<String> = names.clone();
        for (round, gone) in [17usize, 150, 3, 299, 42].into_iter().enumerate() {
            let mut b = snap.edit();
            b.remove_node(&names[gone]).unwrap();
            live.retain(|n| n != &names[gone]);
            let added = format!("new-{round}");
            b.add_node(Node::new(added.as_str()).with_weight(2))
                .unwrap();
            live.push(added);
            b.set_weight(&live[10], 3).unwrap();
            snap = b.build().unwrap();
            let packed = snap.ring.packing().unwrap();
            assert!(
                packed.chunk_count() > 1,
                "round {round}: the incremental path ran"
            );
            assert!(!packed.ids().is_empty());
            let mut fresh = Builder::new(placement);
            for n in &live {
                fresh
                    .add_node((*snap.node_by_name(n).unwrap()).clone())
                    .unwrap();
            }
            let fresh = fresh.build().unwrap();
            assert_eq!(snap.points(), fresh.points());
            assert_eq!(snap.point_owners(), fresh.point_owners());
            for k in 0..2000 {
                let key = format!("key-{k}");
                assert_eq!(snap.route_id(&key), fresh.route_id(&key), "{key}");
            }
        }
    }
}
