//! The immutable ring: node table, sorted points with their owners, and the search index.
//!
//! A snapshot never changes after it is built. Readers may hold one for as long as they like and make
//! any number of lookups against one consistent membership; writers build the next one beside it
//! ([`Snapshot::edit`], or a [`crate::Router`] transaction).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::builder::{fingerprint, Builder};
use crate::error::Result;
use crate::node::{Node, NodeId};
use crate::placement::Placement;
use crate::search::{lower_bound_wrap, Index};

/// The point arrays of a ring, shared between snapshots whose points are the same.
pub(crate) struct Ring {
    /// Positions, sorted ascending; equal positions ordered by owner id.
    pub(crate) points: Vec<u64>,
    /// `owners[r]` is the node id of `points[r]`.
    pub(crate) owners: Vec<u32>,
    pub(crate) index: Index,
    /// How many distinct nodes own at least one point.
    pub(crate) owning_nodes: usize,
}

impl Ring {
    pub(crate) fn new(points: Vec<u64>, owners: Vec<u32>) -> Self {
        let index = Index::build(&points, &owners);
        let mut seen = vec![false; owners.iter().map(|&o| o as usize + 1).max().unwrap_or(0)];
        let mut owning_nodes = 0;
        for &o in &owners {
            if !std::mem::replace(&mut seen[o as usize], true) {
                owning_nodes += 1;
            }
        }
        Self {
            points,
            owners,
            index,
            owning_nodes,
        }
    }
}

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
    pub(crate) nodes: Vec<Arc<Node>>,
    pub(crate) by_name: HashMap<Arc<str>, usize>,
    pub(crate) ring: Arc<Ring>,
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("version", &self.version)
            .field("placement", &self.placement)
            .field("nodes", &self.nodes.len())
            .field("points", &self.ring.points.len())
            .field("fingerprint", &format_args!("{:016x}", self.fingerprint))
            .finish()
    }
}

impl Snapshot {
    /// Builds a ring of `nodes` (in insertion order) under `placement`, with version 0.
    ///
    /// Errors: any error of [`Builder::add_node`] or [`Builder::build`].
    pub fn new(placement: Placement, nodes: impl IntoIterator<Item = Node>) -> Result<Self> {
        let mut b = Builder::new(placement);
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

    pub(crate) fn assemble(
        version: u64,
        placement: Placement,
        nodes: Vec<Arc<Node>>,
        by_name: HashMap<Arc<str>, usize>,
        ring: Arc<Ring>,
    ) -> Self {
        debug_assert!(nodes
            .iter()
            .enumerate()
            .all(|(i, n)| by_name.get(&n.name) == Some(&i)));
        Self {
            version,
            fingerprint: fingerprint(&placement, &nodes),
            placement,
            nodes,
            by_name,
            ring,
        }
    }

    /// A builder holding this snapshot's membership, to make the next snapshot from. Building it is
    /// incremental: unchanged nodes' points are reused, not re-hashed.
    pub fn edit(&self) -> Builder {
        Builder::from_snapshot(self)
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
        self.ring.points.len()
    }

    /// The sorted point positions.
    #[inline]
    pub fn points(&self) -> &[u64] {
        &self.ring.points
    }

    /// The owner of each point of [`points`](Self::points), as raw node ids.
    #[inline]
    pub fn point_owners(&self) -> &[u32] {
        &self.ring.owners
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

    /// The id of the named node.
    #[inline]
    pub fn id_of(&self, name: &str) -> Option<NodeId> {
        self.by_name.get(name).map(|&i| NodeId(i as u32))
    }

    /// The named node.
    #[inline]
    pub fn node_by_name(&self, name: &str) -> Option<&Node> {
        self.by_name.get(name).map(|&i| &*self.nodes[i])
    }

    /// Whether the named node is in the ring.
    #[inline]
    pub fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// The position of `key` under this ring's placement.
    #[inline]
    pub fn key_hash(&self, key: impl AsRef<[u8]>) -> u64 {
        self.placement.key_hash(key.as_ref())
    }

    /// The owner of a key position (a value of [`key_hash`](Self::key_hash)); `None` if no node owns
    /// any point.
    #[inline]
    pub fn route_hash(&self, hash: u64) -> Option<NodeId> {
        self.ring
            .index
            .owner_at_or_after(self.placement.search_from(hash))
            .map(NodeId)
    }

    /// The id of the node that owns `key`; `None` if no node owns any point.
    #[inline]
    pub fn route_id(&self, key: impl AsRef<[u8]>) -> Option<NodeId> {
        self.route_hash(self.key_hash(key))
    }

    /// The node that owns `key`; `None` if no node owns any point.
    #[inline]
    pub fn route(&self, key: impl AsRef<[u8]>) -> Option<&Node> {
        self.route_id(key).map(|id| &*self.nodes[id.index()])
    }

    /// The rank of the point that owns position `hash` (the start of the clockwise walk).
    fn start_rank(&self, hash: u64) -> Option<usize> {
        let pts = &self.ring.points;
        (!pts.is_empty()).then(|| lower_bound_wrap(pts, self.placement.search_from(hash)))
    }

    /// The owners of every point, one full turn clockwise from the point that owns `hash` (so the first
    /// item is [`route_hash`](Self::route_hash)'s answer). Not deduplicated.
    pub fn walk_hash(&self, hash: u64) -> impl Iterator<Item = NodeId> + '_ {
        let owners = &self.ring.owners;
        let start = self.start_rank(hash).unwrap_or(0);
        owners[start..]
            .iter()
            .chain(&owners[..start])
            .map(|&o| NodeId(o))
    }

    /// Up to `n` distinct nodes for `key`: the primary owner first, then the next distinct owners
    /// walking clockwise. Fewer than `n` only when fewer nodes own points.
    pub fn replicas(&self, key: impl AsRef<[u8]>, n: usize) -> Vec<NodeId> {
        let mut out = Vec::with_capacity(n.min(self.ring.owning_nodes));
        self.replicas_hash_into(self.key_hash(key), n, &mut out);
        out
    }

    /// [`replicas`](Self::replicas) for a key position, written into `out` (cleared first), so a loop
    /// can reuse one buffer.
    pub fn replicas_hash_into(&self, hash: u64, n: usize, out: &mut Vec<NodeId>) {
        out.clear();
        let want = n.min(self.ring.owning_nodes);
        if want == 0 {
            return;
        }
        // Small replica counts: a linear scan of `out` beats any set. Large ones: a bitmap.
        let mut seen = if want > 16 {
            vec![0u64; self.nodes.len().div_ceil(64)]
        } else {
            Vec::new()
        };
        for id in self.walk_hash(hash) {
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
