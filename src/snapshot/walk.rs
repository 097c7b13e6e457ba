//! The clockwise walk from a key: the rank of the point that owns it, the owners one full turn on,
//! the distinct replicas; and health, applied along the walk (a down owner's keys go to the next up
//! owner of their walk; see `crate::health`).

use super::{Snapshot, NO_OWNER};
use crate::health::AllDown;
use crate::node::NodeId;
use crate::placement::Tie;
use crate::search::{list_set, Index, Kernel, NO_NEXT};

impl Snapshot {
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

    /// The owner of narrow search position `x` with health applied: with every node up, the search
    /// alone; else the first up owner from there. With few nodes down, a branch on the owner's
    /// health (rarely mispredicted); with many, the owners of the key's point and the next one
    /// read together and the first up one taken by a select (see `Health::pairs`).
    #[inline(always)]
    pub(super) fn owner_healthy(&self, x: u64) -> Option<NodeId> {
        if !self.health.any_down() {
            return self.ring.index.owner_at_or_after(x).map(NodeId);
        }
        if let (true, Index::Radix(r)) = (self.health.pairs(), &self.ring.index) {
            // Many nodes down: the first of the key's two first owners that is up, chosen
            // without a branch (see `Health::pairs`).
            let (first, next) = r.owner_pair_at_or_after(x)?;
            let next = next.unwrap_or(NO_NEXT);
            let d1 = self.health.is_down(first);
            let d2 = next == NO_NEXT || self.health.is_down(next);
            if d1 & d2 {
                return self.reroute_at(NodeId(first), x);
            }
            return Some(NodeId(std::hint::select_unpredictable(d1, next, first)));
        }
        let first = self.ring.index.owner_at_or_after(x)?;
        if self.health.is_down(first) {
            return self.reroute_at(NodeId(first), x);
        }
        Some(NodeId(first))
    }

    /// [`owner_healthy`](Self::owner_healthy) for a Maglev ring, whose index is a table: the
    /// table's read inline, with nothing else of the other layouts' searches beside it (a lookup
    /// function holding all three saved and restored registers for them on every call).
    #[inline(always)]
    pub(super) fn table_owner_healthy(&self, x: u64) -> Option<NodeId> {
        let Index::Table(t) = &self.ring.index else {
            return self.owner_healthy_out_of_line(x);
        };
        let first = t.owner(t.entry_of(x));
        if self.health.any_down() && self.health.is_down(first) {
            return self.reroute_at(NodeId(first), x);
        }
        Some(NodeId(first))
    }

    /// [`owner_healthy`](Self::owner_healthy), not inlined.
    #[cold]
    #[inline(never)]
    fn owner_healthy_out_of_line(&self, x: u64) -> Option<NodeId> {
        self.owner_healthy(x)
    }

    /// A looked-up owner with health applied: `id` itself if it is up, else (cold) the first up
    /// owner of the walk from exact position `pos()`.
    #[inline(always)]
    pub(super) fn healthy(&self, id: Option<NodeId>, pos: impl FnOnce() -> u128) -> Option<NodeId> {
        match id {
            Some(i) if self.health.any_down() && self.health.is_down(i.0) => self.reroute(i, pos()),
            other => other,
        }
    }

    /// The owner of exact position `pos` whose looked-up owner `id` is down: the first up owner of
    /// its walk, or, when no owner is up, `id` ([`AllDown::Panic`]) or none ([`AllDown::Fail`]).
    #[cold]
    #[inline(never)]
    pub(super) fn reroute(&self, id: NodeId, pos: u128) -> Option<NodeId> {
        if !self.placement.profile().is_wide() {
            let x = self
                .placement
                .search_from(u64::try_from(pos).unwrap_or(u64::MAX));
            return self.first_up_at(id, x);
        }
        if self.up_owners() == 0 {
            return self.none_up(id);
        }
        let start = self.owner_rank(pos)?;
        self.ring
            .owners_from(start)
            .find(|&o| !self.health.is_down(o))
            .map(NodeId)
    }

    /// [`reroute`](Self::reroute) under a narrow profile, from the key's search position `x` (what
    /// the lookup searched for): the first up owner at or after it.
    #[cold]
    #[inline(never)]
    pub(super) fn reroute_at(&self, id: NodeId, x: u64) -> Option<NodeId> {
        self.first_up_at(id, x)
    }

    /// [`reroute_at`](Self::reroute_at)'s body, inlined into both reroutes.
    #[inline(always)]
    fn first_up_at(&self, id: NodeId, x: u64) -> Option<NodeId> {
        if self.up_owners() == 0 {
            return self.none_up(id);
        }
        self.ring
            .first_owner_at_or_after(x, |o| !self.health.is_down(o))
            .map(NodeId)
    }

    /// The answer for a key whose owner `id` is down when no owner is up.
    fn none_up(&self, id: NodeId) -> Option<NodeId> {
        match self.health.all_down {
            AllDown::Panic => Some(id),
            AllDown::Fail => None,
        }
    }

    /// Applies health to a narrow profile's batch answers: `out[i]` for search position `xs[i]`,
    /// with `next[i]` the owner of the point after the key's (or `NO_NEXT`), as the search read
    /// them. A first pass lists the keys whose owner is down without a branch per key (which would
    /// be mispredicted for each of them; with `kernel`'s vectors where it has them, see
    /// [`list_set`]); each listed key then takes its next owner if that is up, and walks on from
    /// its position (no key is hashed again) only if not.
    #[inline(never)]
    pub(super) fn heal_pairs(&self, kernel: Kernel, out: &mut [u32], next: &[u32], xs: &[u64]) {
        const GROUP: usize = 256;
        let mut down = [0u32; GROUP];
        for ((out, next), xs) in out
            .chunks_mut(GROUP)
            .zip(next.chunks(GROUP))
            .zip(xs.chunks(GROUP))
        {
            let n = list_set(kernel, out, self.health.words(), &mut down);
            for &i in &down[..n] {
                let i = i as usize;
                let second = next[i];
                out[i] = if second != NO_NEXT && !self.health.is_down(second) {
                    second
                } else {
                    self.reroute_at(NodeId(out[i]), xs[i])
                        .map_or(NO_OWNER, NodeId::get)
                };
            }
        }
    }

    /// The rank in [`points`](Self::points) of the point that owns exact position `pos` (a value of
    /// [`key_hash_wide`](Self::key_hash_wide)): the first point after it, or at or after it, by the
    /// profile's tie rule ([`crate::Profile`]), wrapping to 0; the start of the key's clockwise walk.
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
    pub(super) fn widen(&self, hash: u64) -> u128 {
        if self.placement.profile().is_wide() {
            u128::from(hash) << 64
        } else {
            u128::from(hash)
        }
    }

    /// Writes into `out` (empty) the owners of the first point `>= x` (a narrow search position)
    /// and the `N - 1` points after it, if they lie in one run of the index's slots and are
    /// distinct (then they are the key's first `N` replicas with every node up); false otherwise,
    /// with `out` left empty.
    #[inline(always)]
    fn run_replicas<const N: usize>(&self, x: u64, out: &mut Vec<NodeId>) -> bool {
        let Some(ids) = self.ring.owners_run::<N>(x) else {
            return false;
        };
        let mut same = false;
        for i in 1..N {
            for j in 0..i {
                same |= ids[i] == ids[j];
            }
        }
        if same {
            return false;
        }
        for id in ids {
            out.push(NodeId(id));
        }
        true
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
        if want <= 16 && !self.placement.profile().is_wide() {
            // A narrow ring: walk the index's own slots from the key (as single lookups' health
            // walk does), collecting distinct up owners; `out` is the set (a linear scan beats
            // any set at this size).
            let skip = self.skips_down();
            let hash = u64::try_from(pos).unwrap_or(u64::MAX);
            let x = self.placement.search_from(hash);
            // The common case first: a few replicas, no node down, and the key's point and the
            // next ones in one run of slots with distinct owners (999 keys of 1000 at 100 nodes
            // for 3 replicas): read at once, no walk.
            let done = !skip
                && match want {
                    2 => self.run_replicas::<2>(x, out),
                    3 => self.run_replicas::<3>(x, out),
                    4 => self.run_replicas::<4>(x, out),
                    _ => false,
                };
            if done {
                return;
            }
            self.ring.first_owner_searched(x, |o| {
                let id = NodeId(o);
                if (skip && self.health.is_down(o)) || out.contains(&id) {
                    return false;
                }
                out.push(id);
                out.len() == want
            });
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
