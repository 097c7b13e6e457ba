//! A full build: every node's points hashed, sorted, equal positions settled by the profile's rule,
//! and indexed in the layout that fits the ring.

use super::sort::{
    bucket_sort, running_sum, sort_items, sort_points, Fill, PageCounts, Sorted, Stored,
};
use super::{Plain, Ring};
use crate::error::Result;
use crate::kept::Words;
use crate::maglev::{Entries, MaglevTable};
use crate::node::Node;
use crate::placement::{EqualPoints, Membership, Placement, Profile};
use crate::search::{radix_geometry, Index, Packer, Table};

/// The fewest native points for which a full build hashes each point twice instead of storing
/// its position between the counting and the placing (see [`sort_items`]). Below it, the positions
/// (2 MiB at most) fit the cache: at 1000 nodes of 160 points, storing them built in 2.6 against
/// 3.0 ms hashing twice (Intel guest, 2 MiB of L2 a core), and still in 1.59–1.60 against 1.78–1.84
/// ms with the hashes in vector lanes; at 10,000 nodes the two were even.
const REHASH_MIN: u64 = 1 << 18;

/// Bits beyond the table's that a full build's counting sort sorts by (see [`sort_items`]). One
/// bit (a fine bucket a point, on average) paid while the pages' finish was an insertion sort
/// that branched on each item; since it places them by selects, none measures 8–11 % faster at
/// 100 and 1000 nodes (a count half the size) and the same at 10,000.
const EXTRA_BITS: u32 = 0;

/// A point while a ring is built: (position, low bits, owner id). Sorting these orders equal positions
/// by node id, i.e. by insertion order, as a stable sort of the original's insertion-ordered points does.
pub(crate) type Pt = (u64, u64, u32);

/// The points of the nodes flagged in `which` (all if `None`), in node order (sort them with
/// [`sort_points`]), each made by `make(position, low bits, node id)`.
pub(super) fn fresh_points<T>(
    placement: &Placement,
    nodes: &[&Node],
    m: &Membership,
    which: Option<&[bool]>,
    make: impl Fn(u64, u64, u32) -> T,
) -> Vec<T> {
    // The flagged ids with points, found by a pass over the flags before any node is read (a
    // publication flags one node of many).
    let ids: Vec<usize> = match which {
        Some(w) => crate::flags::flagged(&w[..nodes.len()])
            .filter(|&id| nodes[id].weight > 0)
            .collect(),
        None => (0..nodes.len())
            .filter(|&id| nodes[id].weight > 0)
            .collect(),
    };
    let total: u64 = ids
        .iter()
        .map(|&id| placement.point_count(nodes[id], m))
        .sum();
    let mut fresh: Vec<T> = Vec::with_capacity(total as usize);
    let mut scratch: Vec<(u64, u64)> = Vec::new();
    for id in ids {
        scratch.clear();
        placement.node_points(nodes[id], m, &mut scratch);
        fresh.extend(scratch.iter().map(|&(p, l)| make(p, l, id as u32)));
    }
    fresh
}

impl Ring {
    /// The ring of `nodes` (in id order) under `placement`, whose points depend on the membership
    /// `m` under some profiles: every point hashed afresh.
    pub(crate) fn build(placement: &Placement, nodes: &[&Node], m: &Membership) -> Result<Ring> {
        if placement.profile() == Profile::Maglev {
            return Self::maglev(nodes, u64::from(placement.virtual_nodes()));
        }
        let profile = placement.profile();
        if profile.is_wide() || nodes.len() > 1 << 16 || profile.position_norm() >= 64 {
            let mut pts = fresh_points(placement, nodes, m, None, |p, l, o| (p, l, o));
            sort_points(&mut pts);
            return Ok(Self::from_sorted(profile, pts, nodes.len()));
        }
        let norm = profile.position_norm();
        let total: u64 = nodes
            .iter()
            .map(|node| placement.point_count(node, m))
            .sum();
        if profile == Profile::Native && total > REHASH_MIN {
            // Native points are hashed twice (see `sort_items`) rather than stored.
            let mut scratch = Vec::new();
            let mut fill = Fill(|id: usize, out: &mut Vec<u64>| {
                placement.node_positions(nodes[id], m, norm, out, &mut scratch)
            });
            let sorted = sort_items(nodes.len(), total as usize, EXTRA_BITS, norm, &mut fill);
            if let Some(ring) = sorted.and_then(|s| Self::from_items(norm, s)) {
                return Ok(ring);
            }
            let pts = fresh_points(placement, nodes, m, None, |p, _, o| {
                u128::from(p) << 64 | u128::from(o)
            });
            return Ok(Self::from_narrow(profile, pts, nodes.len()));
        }
        // Every node's points, node by node, normalized.
        let mut q = Words::empty(total as usize);
        let mut ends: Vec<u32> = Vec::with_capacity(nodes.len());
        let mut scratch = Vec::new();
        // Each node's points counted by page while they are in L1 (paged rings of the sizes
        // `sort_items` sorts by page).
        let mut counted = PageCounts::new(nodes.len(), total as usize);
        for node in nodes {
            let from = q.len();
            placement.node_positions(node, m, norm, &mut q, &mut scratch);
            if let Some(c) = &mut counted {
                c.add(&q[from..]);
            }
            ends.push(q.len() as u32);
        }
        Ok(Self::from_positions(profile, &q, ends, counted))
    }

    /// Envoy's Maglev table of `nodes` (keyed by name), `table_size` entries, as a ring whose
    /// points are the entries (see [`Profile::Maglev`]).
    fn maglev(nodes: &[&Node], table_size: u64) -> Result<Ring> {
        let hosts: Vec<(&[u8], u32)> = nodes
            .iter()
            .map(|n| (n.name.as_bytes(), n.weight))
            .collect();
        let table = MaglevTable::build(&hosts, table_size)?;
        // The entries become the search table as they are (host index = node id).
        let table = match table.into_entries() {
            Entries::Narrow(e) => Table::from_narrow(e),
            Entries::Wide(e) => Table::from_wide(e),
            Entries::Empty => None,
        };
        let index = match table {
            Some(t) => Index::Table(t),
            // No node of weight above 0: no entries, a ring without points.
            None => Index::build(&[], &[], 0),
        };
        Ok(Self::assemble(index, None, None, Vec::new()))
    }

    /// The ring of sorted points, if no two points meet and the pages hold them.
    fn from_items(norm: u32, sorted: Sorted) -> Option<Ring> {
        let index = match sorted {
            Sorted::Items(s) if s.distinct => {
                Index::from_items(s.items, &s.buckets, s.geometry, norm)?
            }
            Sorted::Index(index) => index,
            Sorted::Items(_) | Sorted::Meet => return None,
        };
        Some(Self::assemble(index, None, None, Vec::new()))
    }

    /// Turns the points of a narrow profile, normalized and node by node (node `id`'s are
    /// `q[ends[id - 1]..ends[id]]`), into a ring, as [`from_sorted`](Self::from_sorted) does once
    /// they are sorted: as items (see [`sort_items`]) when they fit and no two points meet,
    /// otherwise through [`from_narrow`](Self::from_narrow).
    fn from_positions(
        profile: Profile,
        q: &[u64],
        ends: Vec<u32>,
        counted: Option<PageCounts>,
    ) -> Ring {
        let norm = profile.position_norm();
        let mut stored = Stored {
            q,
            ends: &ends,
            counted,
        };
        let sorted = sort_items(ends.len(), q.len(), EXTRA_BITS, norm, &mut stored);
        if let Some(ring) = sorted.and_then(|s| Self::from_items(norm, s)) {
            return ring;
        }
        let mut pts = Vec::with_capacity(q.len());
        for id in 0..ends.len() {
            pts.extend((stored.node(id).iter()).map(|&x| u128::from(x >> norm) << 64 | id as u128));
        }
        Self::from_narrow(profile, pts, ends.len())
    }

    /// Turns the points of a narrow profile, in any order, into a ring, as
    /// [`from_sorted`](Self::from_sorted) does once they are sorted: each point is its position
    /// above its owner's id (below `id_bound <= 2^16`). When every position is distinct (as hashing
    /// gives), the points are sorted by the radix table's own buckets, and the pages are written
    /// from those buckets as they are: nothing is counted twice.
    fn from_narrow(profile: Profile, mut pts: Vec<u128>, id_bound: usize) -> Ring {
        let norm = profile.position_norm();
        let last = pts.iter().max().map(|&x| (x >> 64) as u64);
        let (bits, shift) = radix_geometry(pts.len(), last.map(|p| p << norm), id_bound);
        let buckets = bucket_sort(&mut pts, bits, |&x| {
            (((x >> 64) as u64) << norm >> shift) as usize
        });
        if pts.windows(2).all(|w| w[0] >> 64 != w[1] >> 64) {
            if let Some(index) = Index::from_buckets(&pts, &buckets, norm, id_bound) {
                return Self::assemble(index, None, None, Vec::new());
            }
        }
        let sorted = pts
            .iter()
            .map(|&x| ((x >> 64) as u64, 0, x as u32))
            .collect();
        Self::from_sorted(profile, sorted, id_bound)
    }

    /// Turns sorted points into a ring: applies the profile's rule for equal positions and keeps the
    /// low bits of wide profiles in the ring's side array. A narrow ring whose ids fit the packed
    /// form (`id_bound`: one past the largest owner id) is packed straight from `sorted`, without
    /// the plain point and owner arrays in between.
    pub(super) fn from_sorted(profile: Profile, sorted: Vec<Pt>, id_bound: usize) -> Ring {
        debug_assert!(sorted.windows(2).all(|w| w[0] <= w[1]));
        let n = sorted.len();
        let norm = profile.position_norm();
        let mut shadowed = Vec::new();
        if !profile.is_wide() && id_bound <= 1 << 16 {
            // The kept points as numbers (position above id), counted into the radix table's
            // buckets in one pass (they are sorted), and packed from those counts.
            let mut kept: Vec<u128> = Vec::with_capacity(n);
            settle_equal(&sorted, profile, &mut shadowed, |p, _, o| {
                kept.push(u128::from(p) << 64 | u128::from(o));
            });
            let top = |x: u128| ((x >> 64) as u64) << norm;
            let last = kept.last().map(|&x| top(x));
            let (bits, shift) = radix_geometry(kept.len(), last, id_bound);
            let mut buckets = vec![0u32; (1 << bits) + 1];
            for &x in &kept {
                buckets[(top(x) >> shift) as usize + 1] += 1;
            }
            running_sum(&mut buckets);
            if let Some(index) = Index::from_buckets(&kept, &buckets, norm, id_bound) {
                return Self::assemble(index, None, None, shadowed);
            }
            // A page would overflow (positions crowded far beyond what hashing gives): the packer
            // falls back to the Eytzinger layout.
            let mut packer = Packer::with_capacity(n, norm);
            for &x in &kept {
                packer.push((x >> 64) as u64, x as u32);
            }
            return Self::assemble(packer.finish(), None, None, shadowed);
        }
        let (mut points, mut owners) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let mut lows = profile.is_wide().then(|| Vec::with_capacity(n));
        settle_equal(&sorted, profile, &mut shadowed, |p, l, o| {
            points.push(p);
            owners.push(o);
            if let Some(lows) = &mut lows {
                lows.push(l);
            }
        });
        let index = Index::build(&points, &owners, norm);
        Self::assemble(index, Some(Plain { points, owners }), lows, shadowed)
    }
}

/// Hands every point of `sorted` that the profile's rule for equal positions keeps to `keep`, in
/// order, and the points it collapses away to `shadowed`.
#[inline(always)]
fn settle_equal(
    sorted: &[Pt],
    profile: Profile,
    shadowed: &mut Vec<Pt>,
    mut keep: impl FnMut(u64, u64, u32),
) {
    let n = sorted.len();
    let rule = profile.equal_points();
    let mut i = 0;
    while i < n {
        let (p, l, _) = sorted[i];
        let mut j = i + 1;
        while j < n && sorted[j].0 == p && sorted[j].1 == l {
            j += 1;
        }
        let run = &sorted[i..j];
        let kept: &[Pt] = match rule {
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
            keep(p, l, o);
        }
        i = j;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The ring `from_positions` makes of points given node by node, against the sorted path's.
    fn check_items_build(profile: Profile, by_node: &[Vec<u64>]) {
        let norm = profile.position_norm();
        let (mut q, mut ends) = (Vec::new(), Vec::new());
        for ps in by_node {
            q.extend(ps.iter().map(|&p| p << norm));
            ends.push(q.len() as u32);
        }
        // The page counts made as the positions were stored, or counted by the sort itself.
        let mut counted = PageCounts::new(ends.len(), q.len());
        if let Some(c) = &mut counted {
            c.add(&q);
        }
        let with_counts = Ring::from_positions(profile, &q, ends.clone(), counted);
        check_against_sorted(profile, by_node, with_counts);
        check_against_sorted(
            profile,
            by_node,
            Ring::from_positions(profile, &q, ends, None),
        );
    }

    /// `fast`, a ring of the points given node by node, against the sorted path's.
    fn check_against_sorted(profile: Profile, by_node: &[Vec<u64>], fast: Ring) {
        let norm = profile.position_norm();
        let mut sorted = Vec::new();
        for (id, ps) in by_node.iter().enumerate() {
            sorted.extend(ps.iter().map(|&p| (p, 0, id as u32)));
        }
        sorted.sort_unstable();
        let slow = Ring::from_sorted(profile, sorted, by_node.len());
        assert_eq!(fast.plain().points, slow.plain().points);
        assert_eq!(fast.plain().owners, slow.plain().owners);
        assert_eq!(fast.shadowed, slow.shadowed);
        if let (Index::Radix(f), Index::Radix(s)) = (&fast.index, &slow.index) {
            f.check();
            s.check();
            // Bit for bit, however the pages were written.
            assert_eq!(f.page_words(), s.page_words());
        }
        let max = u64::MAX >> norm;
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..2_000 {
            x = x.rotate_left(17).wrapping_mul(0xBF58_476D_1CE4_E5B9) ^ 0x94D0_49BB_1331_11EB;
            let k = x & max;
            assert_eq!(fast.rank_at_or_after(k), slow.rank_at_or_after(k));
        }
    }

    /// Real rings of both narrow hash profiles, small enough for one counting pass and large
    /// enough for two (1,000 nodes × 160 points: 2^19 fine buckets), and nginx's CRC-32 points,
    /// which meet at equal positions at that size (the path through `from_narrow`).
    #[test]
    fn items_build_equals_the_sorted_build_on_real_rings() {
        for profile in [Profile::Native, Profile::Nginx] {
            let placement = Placement::new(profile, Some(160)).unwrap();
            for n in [1usize, 2, 3, 10, 100, 1000] {
                let owned: Vec<Node> = (0..n)
                    .map(|i| Node::new(format!("10.1.{}.{}:80", i / 256, i % 256)))
                    .collect();
                let nodes: Vec<&Node> = owned.iter().collect();
                let m = Membership::of(nodes.iter().copied());
                let by_node: Vec<Vec<u64>> = nodes
                    .iter()
                    .map(|node| {
                        let mut out = Vec::new();
                        placement.node_points(node, &m, &mut out);
                        out.into_iter().map(|(p, _)| p).collect()
                    })
                    .collect();
                check_items_build(profile, &by_node);
                // And the full build itself (native points are hashed twice there, not stored).
                let built = Ring::build(&placement, &nodes, &m).unwrap();
                check_against_sorted(profile, &by_node, built);
            }
        }
    }

    proptest! {
        /// The bucketed full build makes the ring the sorted path makes, equal positions and
        /// crowded buckets included.
        #[test]
        fn bucketed_build_equals_the_sorted_build(
            pts in proptest::collection::vec((any::<u64>(), 0u32..300), 0..2_000),
            crc in any::<bool>(),
            crowd in 0usize..200,
        ) {
            let profile = if crc { Profile::Nginx } else { Profile::Native };
            let max = u64::MAX >> profile.position_norm();
            let mut pts: Vec<Pt> = pts.into_iter().map(|(p, o)| (p & max, 0, o)).collect();
            // Equal positions of several owners, and a crowd in one bucket.
            pts.extend((0..crowd as u32).map(|i| ((u64::from(i) % 5) & max, 0, i % 300)));
            let packed: Vec<u128> = pts.iter().map(|&(p, _, o)| u128::from(p) << 64 | u128::from(o)).collect();
            let fast = Ring::from_narrow(profile, packed, 300);
            let mut sorted = pts;
            sorted.sort_unstable();
            let slow = Ring::from_sorted(profile, sorted, 300);
            prop_assert_eq!(&fast.plain().points, &slow.plain().points);
            prop_assert_eq!(&fast.plain().owners, &slow.plain().owners);
            prop_assert_eq!(&fast.shadowed, &slow.shadowed);
            for x in [0, 1, 2, 3, max / 3, max / 2, max] {
                prop_assert_eq!(fast.rank_at_or_after(x), slow.rank_at_or_after(x));
            }
        }

        /// Points given node by node make the ring the sorted path makes: equal positions, crowded
        /// pages, nodes without points, ids too wide for items (few points per node).
        #[test]
        fn items_build_equals_the_sorted_build(
            by_node in proptest::collection::vec(
                proptest::collection::vec(any::<u64>(), 0..120), 1..200),
            crc in any::<bool>(),
            crowd in 0usize..100,
            meet in prop_oneof![Just(0usize), 0usize..4],
            top in prop_oneof![Just(0u32), 0u32..64],
        ) {
            let profile = if crc { Profile::Nginx } else { Profile::Native };
            let max = u64::MAX >> profile.position_norm();
            let mut by_node: Vec<Vec<u64>> = by_node
                .into_iter()
                .map(|ps| ps.into_iter().map(|p| (p >> top) & max).collect())
                .collect();
            let k = by_node.len();
            // A crowd of distinct positions in the first bucket, and `meet` points at one position.
            for i in 0..crowd {
                by_node[i % k].push((i as u64 * 7 + 1) & max);
            }
            for i in 0..meet {
                by_node[(i * 3) % k].push(max / 3);
            }
            check_items_build(profile, &by_node);
        }
    }
}
