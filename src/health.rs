//! Health at pick time: which nodes are down, applied by every lookup without touching the ring.
//!
//! A snapshot carries a bitmap of its down nodes (by node id). A lookup whose owner is down walks on
//! clockwise to the first point owned by an up node: the same walk as [`crate::Snapshot::replicas`],
//! so a down node's keys go to the next up node of each key's walk, and every key owned by an up
//! node stays where it is. Under a profile whose points depend on each node alone, that is exactly
//! where removing the node would send them; marking the node up again restores every answer.
//!
//! Marking a node down or up publishes a snapshot that shares the ring, its search index and the
//! node table with the previous one: only the bitmap is new (O(nodes / 64) words). With every node
//! up, a lookup pays one well-predicted branch on the down count. With some down, a batch's radix
//! search also reads the owner of the point after each key's (the same bucket, usually the same
//! cache line), and the batch takes the first of the two that is up; only a key whose two first
//! owners are both down walks on (`crate::snapshot`'s `walk`). The keys whose owner is down are
//! listed in one pass over the answers (sixteen at a time under the AVX-512 kernel). A single
//! lookup branches on its owner's health while few nodes are down, and reads the pair and selects,
//! as batches do, once one node in twelve is (see [`Health::pairs`]).

use std::sync::Arc;

/// What lookups answer when every node that owns points is down.
///
/// ```
/// use ringroute::{AllDown, Node, Placement, Router};
/// let router = Router::new(Placement::native());
/// router.update(|tx| {
///     tx.add_node(Node::new("a"))?;
///     tx.set_all_down(AllDown::Fail);
///     Ok(())
/// })?;
/// router.mark_down("a")?;
/// assert!(router.pin().route("k").is_none()); // nothing is up: no owner
/// router.update(|tx| {
///     tx.set_all_down(AllDown::Panic);
///     Ok(())
/// })?;
/// assert_eq!(router.pin().route("k").unwrap().name(), "a"); // as if every node were up
/// # Ok::<(), ringroute::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AllDown {
    /// Route as if every node were up (Envoy's "panic mode": a guess beats no answer, and a cache
    /// miss beats an error). The default.
    #[default]
    Panic,
    /// Answer no owner (`None`, [`crate::NO_OWNER`] in batches, no replicas), as nginx gives up.
    Fail,
}

/// The down nodes of a snapshot, by node id, and the policy for when every owner is down.
#[derive(Clone, Default)]
pub(crate) struct Health {
    /// Bit `i` of word `i / 64`: node `i` is down. Empty when every node is up.
    down: Arc<[u64]>,
    /// How many nodes are down.
    count: usize,
    /// Whether single lookups read the next point's owner too ([`Health::pairs`]).
    pairs: bool,
    pub(crate) all_down: AllDown,
}

/// Single lookups choose between the key's first two owners without a branch once at least one
/// node in this many is down (see [`Health::pairs`]).
const PAIRS_FROM: usize = 12;

/// Whether [`Health::pairs`] holds for `count` nodes down of `nodes`.
fn pairs(count: usize, nodes: usize) -> bool {
    count * PAIRS_FROM >= nodes
}

impl Health {
    /// Every node up, under `all_down`.
    pub(crate) fn all_up(all_down: AllDown) -> Self {
        Self {
            down: Arc::from([]),
            count: 0,
            pairs: false,
            all_down,
        }
    }

    /// The health of `nodes` nodes whose down ones are `down` (any order, each below `nodes`).
    pub(crate) fn from_down(
        nodes: usize,
        down: impl IntoIterator<Item = u32>,
        all_down: AllDown,
    ) -> Self {
        let mut bits = vec![0u64; nodes.div_ceil(64)];
        let mut count = 0;
        for id in down {
            let (w, b) = (id as usize / 64, id % 64);
            if bits[w] >> b & 1 == 0 {
                bits[w] |= 1 << b;
                count += 1;
            }
        }
        if count == 0 {
            return Self::all_up(all_down);
        }
        Self {
            down: bits.into(),
            count,
            pairs: pairs(count, nodes),
            all_down,
        }
    }

    /// This health with node `id` (below `nodes`) marked down or up.
    pub(crate) fn with(&self, nodes: usize, id: u32, down: bool) -> Self {
        let mut bits = self.down.to_vec();
        bits.resize(nodes.div_ceil(64), 0);
        let (w, b) = (id as usize / 64, id % 64);
        let was = bits[w] >> b & 1 == 1;
        if was == down {
            return self.clone();
        }
        bits[w] ^= 1 << b;
        let count = if down { self.count + 1 } else { self.count - 1 };
        if count == 0 {
            return Self::all_up(self.all_down);
        }
        Self {
            down: bits.into(),
            count,
            pairs: pairs(count, nodes),
            all_down: self.all_down,
        }
    }

    /// The down bitmap: bit `i % 64` of word `i / 64` is set when node `i` is down (empty when
    /// every node is up; ids past its end are up).
    #[inline(always)]
    pub(crate) fn words(&self) -> &[u64] {
        &self.down
    }

    /// Whether any node is down.
    #[inline(always)]
    pub(crate) fn any_down(&self) -> bool {
        self.count != 0
    }

    /// Whether a single lookup should read the owner of the point after the key's too and take
    /// the first of the two that is up without a branch (walking on only when both are down): at
    /// least one node in [`PAIRS_FROM`] is down. A branch on the owner's health is mispredicted
    /// for about the share of keys whose owner is down, each costing about a whole lookup; the
    /// second read costs every key 2–5 ns. Measured on an AMD EPYC guest (4096 keys, ns a key,
    /// branch against pair): one node of 100 down 18.0 against 19.9, a tenth 22.9 against 20.3;
    /// one of 1000 down 28.2 against 32.9, a tenth 34.0 against 33.5.
    #[inline(always)]
    pub(crate) fn pairs(&self) -> bool {
        self.pairs
    }

    /// How many nodes are down.
    #[inline]
    pub(crate) fn down_count(&self) -> usize {
        self.count
    }

    /// Whether node `id` is down (`false` for an id past the bitmap, `NO_OWNER` included).
    #[inline]
    pub(crate) fn is_down(&self, id: u32) -> bool {
        self.down
            .get(id as usize / 64)
            .is_some_and(|w| w >> (id % 64) & 1 == 1)
    }

    /// The ids of the down nodes, ascending.
    pub(crate) fn down_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.down.iter().enumerate().flat_map(|(w, &bits)| {
            (0..64u32)
                .filter(move |b| bits >> b & 1 == 1)
                .map(move |b| w as u32 * 64 + b)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_count_and_list_the_down_nodes() {
        let h = Health::from_down(130, [3, 129, 64, 3], AllDown::Panic);
        assert_eq!(h.down_count(), 3);
        assert_eq!(h.down_ids().collect::<Vec<_>>(), [3, 64, 129]);
        assert!(h.is_down(129) && !h.is_down(128) && !h.is_down(1000));
        let h = h.with(130, 64, false).with(130, 0, true);
        assert_eq!(h.down_ids().collect::<Vec<_>>(), [0, 3, 129]);
        let up = Health::from_down(10, [], AllDown::Fail);
        assert!(!up.any_down() && !up.is_down(0));
        assert_eq!(up.all_down, AllDown::Fail);
    }
}
