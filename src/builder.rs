//! Building snapshots: a working membership, validated change by change, turned into the next
//! immutable [`Snapshot`] in one step.
//!
//! A [`Builder`] starts empty ([`Builder::new`]) or from a snapshot ([`Snapshot::edit`]). Building from
//! a snapshot is incremental and costs O(points): the points of unchanged nodes are kept in their
//! sorted order (never re-hashed), the points of removed or re-weighted nodes are dropped, and only the
//! new points are hashed, sorted and merged in. A change of metadata alone shares the old point arrays.

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::hash::xxh3_64;
use crate::node::{Node, Payload};
use crate::placement::Placement;
use crate::snapshot::{Ring, Snapshot};

/// The most nodes one ring may hold (drained ones included): 2^20.
pub const MAX_NODES: usize = 1 << 20;

/// The most points one ring may hold: 2^26 (about 1.5 GiB of search structures at the limit).
pub const MAX_POINTS: u64 = 1 << 26;

const NO_ID: u32 = u32::MAX;

#[derive(Clone)]
struct Entry {
    node: Arc<Node>,
    /// Its id in the base snapshot, if it was there.
    old_id: Option<u32>,
    /// Its points must be (re)generated.
    repoint: bool,
}

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
    entries: Vec<Option<Entry>>,
    index: HashMap<Arc<str>, usize>,
    points_changed: bool,
    changed: bool,
}

impl Builder {
    /// An empty membership under `placement`.
    pub fn new(placement: Placement) -> Self {
        Self {
            placement,
            base: None,
            entries: Vec::new(),
            index: HashMap::new(),
            points_changed: false,
            changed: false,
        }
    }

    pub(crate) fn from_snapshot(s: &Snapshot) -> Self {
        let entries: Vec<Option<Entry>> = s
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                Some(Entry {
                    node: Arc::clone(n),
                    old_id: Some(i as u32),
                    repoint: false,
                })
            })
            .collect();
        let index = s
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (Arc::clone(&n.name), i))
            .collect();
        Self {
            placement: s.placement,
            base: Some(Base {
                ring: Arc::clone(&s.ring),
                len: s.nodes.len(),
                version: s.version,
            }),
            entries,
            index,
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
        self.index.is_empty()
    }

    /// Whether a node of this name is in the working membership.
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// The node of this name in the working membership.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.entry(name).ok().map(|e| &*e.node)
    }

    /// Whether any change was made since the builder was created.
    pub fn is_changed(&self) -> bool {
        self.changed
    }

    fn entry(&self, name: &str) -> Result<&Entry> {
        self.index
            .get(name)
            .and_then(|&i| self.entries[i].as_ref())
            .ok_or_else(|| Error::UnknownNode {
                name: name.to_owned(),
            })
    }

    fn entry_mut(&mut self, name: &str) -> Result<&mut Entry> {
        match self.index.get(name) {
            Some(&i) => Ok(self.entries[i]
                .as_mut()
                .expect("index points at a live entry")),
            None => Err(Error::UnknownNode {
                name: name.to_owned(),
            }),
        }
    }

    /// Adds a node at the end of the insertion order.
    ///
    /// Errors: [`Error::EmptyName`], [`Error::DuplicateNode`], [`Error::WeightOverflow`].
    pub fn add_node(&mut self, node: Node) -> Result<()> {
        if node.name.is_empty() {
            return Err(Error::EmptyName);
        }
        if self.index.contains_key(&*node.name) {
            return Err(Error::DuplicateNode {
                name: node.name.to_string(),
            });
        }
        self.placement.points_for(&node.name, node.weight)?;
        if node.weight > 0 {
            self.points_changed = true;
        }
        self.changed = true;
        self.index
            .insert(Arc::clone(&node.name), self.entries.len());
        self.entries.push(Some(Entry {
            node: Arc::new(node),
            old_id: None,
            repoint: true,
        }));
        Ok(())
    }

    /// Removes the named node and returns it. Errors: [`Error::UnknownNode`].
    pub fn remove_node(&mut self, name: &str) -> Result<Node> {
        let i = self.index.remove(name).ok_or_else(|| Error::UnknownNode {
            name: name.to_owned(),
        })?;
        let e = self.entries[i]
            .take()
            .expect("index points at a live entry");
        // Even a drained node's removal renumbers the nodes after it, so the owner array changes.
        self.points_changed = true;
        self.changed = true;
        Ok(Arc::unwrap_or_clone(e.node))
    }

    /// Changes the weight of the named node; it keeps its place in the insertion order.
    ///
    /// Errors: [`Error::UnknownNode`], [`Error::WeightOverflow`].
    pub fn set_weight(&mut self, name: &str, weight: u32) -> Result<()> {
        self.placement.points_for(name, weight)?;
        let e = self.entry_mut(name)?;
        if e.node.weight == weight {
            return Ok(());
        }
        Arc::make_mut(&mut e.node).weight = weight;
        e.repoint = true;
        self.points_changed = true;
        self.changed = true;
        Ok(())
    }

    /// Sets or clears the hostname of the named node. Errors: [`Error::UnknownNode`].
    pub fn set_hostname(&mut self, name: &str, hostname: Option<Arc<str>>) -> Result<()> {
        let e = self.entry_mut(name)?;
        Arc::make_mut(&mut e.node).hostname = hostname;
        self.changed = true;
        Ok(())
    }

    /// Sets or clears the port of the named node. Errors: [`Error::UnknownNode`].
    pub fn set_port(&mut self, name: &str, port: Option<u16>) -> Result<()> {
        let e = self.entry_mut(name)?;
        Arc::make_mut(&mut e.node).port = port;
        self.changed = true;
        Ok(())
    }

    /// Sets or clears the payload of the named node. Errors: [`Error::UnknownNode`].
    pub fn set_payload(&mut self, name: &str, payload: Option<Payload>) -> Result<()> {
        let e = self.entry_mut(name)?;
        Arc::make_mut(&mut e.node).payload = payload;
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
        let mut total_points: u64 = 0;
        let slots = self.entries.len();
        for e in self.entries.into_iter().flatten() {
            let id = nodes.len() as u32;
            if let Some(old) = e.old_id {
                old_to_new[old as usize] = id;
            }
            total_points += u64::from(e.node.weight) * u64::from(self.placement.virtual_nodes());
            repoint.push(e.repoint);
            nodes.push(e.node);
        }
        if total_points > MAX_POINTS {
            return Err(Error::TooManyPoints {
                points: total_points,
                limit: MAX_POINTS,
            });
        }
        // The index maps names to entry slots; those are the dense ids unless a node was removed.
        let by_name = if slots == live {
            self.index
        } else {
            nodes
                .iter()
                .enumerate()
                .map(|(i, n)| (Arc::clone(&n.name), i))
                .collect()
        };
        let version = self.base.as_ref().map_or(0, |b| b.version + 1);
        let ring = match &self.base {
            Some(base) if !self.points_changed => Arc::clone(&base.ring),
            Some(base) => Arc::new(merge_ring(
                &self.placement,
                &base.ring,
                &nodes,
                &repoint,
                &old_to_new,
                total_points as usize,
            )),
            None => Arc::new(full_ring(&self.placement, &nodes, total_points as usize)),
        };
        Ok(Snapshot::assemble(
            version,
            self.placement,
            nodes,
            by_name,
            ring,
        ))
    }
}

/// The points of the nodes flagged in `which` (all if `None`), as (position, id), sorted.
fn fresh_points(
    placement: &Placement,
    nodes: &[Arc<Node>],
    which: Option<&[bool]>,
) -> Vec<(u64, u32)> {
    let mut fresh: Vec<(u64, u32)> = Vec::new();
    let mut scratch: Vec<u64> = Vec::new();
    for (id, node) in nodes.iter().enumerate() {
        if which.is_some_and(|w| !w[id]) || node.weight == 0 {
            continue;
        }
        scratch.clear();
        placement.node_points(node, &mut scratch);
        fresh.extend(scratch.iter().map(|&p| (p, id as u32)));
    }
    // Equal positions are ordered by node id, i.e. by insertion order, as fastring's stable sort does.
    fresh.sort_unstable();
    fresh
}

fn full_ring(placement: &Placement, nodes: &[Arc<Node>], total: usize) -> Ring {
    let fresh = fresh_points(placement, nodes, None);
    debug_assert_eq!(fresh.len(), total);
    let (points, owners) = fresh.into_iter().unzip();
    Ring::new(points, owners)
}

fn merge_ring(
    placement: &Placement,
    old: &Ring,
    nodes: &[Arc<Node>],
    repoint: &[bool],
    old_to_new: &[u32],
    total: usize,
) -> Ring {
    let fresh = fresh_points(placement, nodes, Some(repoint));
    let mut points = Vec::with_capacity(total);
    let mut owners = Vec::with_capacity(total);
    // Old points that stay, with their owners renumbered. Renumbering keeps the relative order of
    // ids, so the kept sequence stays sorted by (position, id).
    let kept = old.points.iter().zip(&old.owners).filter_map(|(&p, &o)| {
        let id = old_to_new[o as usize];
        (id != NO_ID && !repoint[id as usize]).then_some((p, id))
    });
    let mut fresh = fresh.into_iter().peekable();
    for k in kept {
        while let Some(&f) = fresh.peek() {
            if f < k {
                points.push(f.0);
                owners.push(f.1);
                fresh.next();
            } else {
                break;
            }
        }
        points.push(k.0);
        owners.push(k.1);
    }
    for f in fresh {
        points.push(f.0);
        owners.push(f.1);
    }
    debug_assert_eq!(points.len(), total);
    Ring::new(points, owners)
}

/// The membership fingerprint: stable across processes and releases, independent of the order in
/// which nodes were added. `xxh3_64("ringroute/fp/v1" ‖ profile code ‖ virtual_nodes (u32 LE) ‖
/// node count (u64 LE) ‖ Σ xxh3_64(name length (u32 LE) ‖ name ‖ weight (u32 LE)) (wrapping, u64 LE))`.
pub(crate) fn fingerprint(placement: &Placement, nodes: &[Arc<Node>]) -> u64 {
    let mut sum = 0u64;
    let mut buf = Vec::new();
    for n in nodes {
        buf.clear();
        buf.extend_from_slice(&(n.name.len() as u32).to_le_bytes());
        buf.extend_from_slice(n.name.as_bytes());
        buf.extend_from_slice(&n.weight.to_le_bytes());
        sum = sum.wrapping_add(xxh3_64(&buf));
    }
    let mut out = Vec::with_capacity(40);
    out.extend_from_slice(b"ringroute/fp/v1");
    out.extend_from_slice(&placement.fingerprint_bytes());
    out.extend_from_slice(&(nodes.len() as u64).to_le_bytes());
    out.extend_from_slice(&sum.to_le_bytes());
    xxh3_64(&out)
}
