//! A full build: every node's points hashed, sorted, equal positions settled by the profile's rule,
//! and indexed in the layout that fits the ring.

use std::sync::Arc;

use super::sort::{bucket_sort, sort_points};
use super::{Plain, Ring};
use crate::error::Result;
use crate::maglev::MaglevTable;
use crate::node::Node;
use crate::placement::{EqualPoints, Membership, Placement, Profile};
use crate::search::{radix_geometry, Index, Packer, Table};

/// A point while a ring is built: (position, low bits, owner id). Sorting these orders equal positions
/// by node id, i.e. by insertion order, as a stable sort of the original's insertion-ordered points does.
pub(crate) type Pt = (u64, u64, u32);

/// The points of the nodes flagged in `which` (all if `None`), in node order (sort them with
/// [`sort_points`]), each made by `make(position, low bits, node id)`.
pub(super) fn fresh_points<T>(
    placement: &Placement,
    nodes: &[Arc<Node>],
    m: &Membership,
    which: Option<&[bool]>,
    make: impl Fn(u64, u64, u32) -> T,
) -> Vec<T> {
    let flagged = |id: usize| which.is_none_or(|w| w[id]);
    let total: u64 = (nodes.iter().enumerate())
        .filter(|&(id, _)| flagged(id))
        .map(|(_, node)| placement.point_count(node, m))
        .sum();
    let mut fresh: Vec<T> = Vec::with_capacity(total as usize);
    let mut scratch: Vec<(u64, u64)> = Vec::new();
    for (id, node) in nodes.iter().enumerate() {
        if !flagged(id) || node.weight == 0 {
            continue;
        }
        scratch.clear();
        placement.node_points(node, m, &mut scratch);
        fresh.extend(scratch.iter().map(|&(p, l)| make(p, l, id as u32)));
    }
    fresh
}

impl Ring {
    /// The ring of `nodes` (in id order) under `placement`, whose points depend on the membership
    /// `m` under some profiles: every point hashed afresh.
    pub(crate) fn build(
        placement: &Placement,
        nodes: &[Arc<Node>],
        m: &Membership,
    ) -> Result<Ring> {
        if placement.profile() == Profile::Maglev {
            return Self::maglev(nodes, u64::from(placement.virtual_nodes()));
        }
        let profile = placement.profile();
        if profile.is_wide() || nodes.len() > 1 << 16 || profile.position_norm() >= 64 {
            let mut pts = fresh_points(placement, nodes, m, None, |p, l, o| (p, l, o));
            sort_points(&mut pts);
            return Ok(Self::from_sorted(profile, pts, nodes.len()));
        }
        let pts = fresh_points(placement, nodes, m, None, |p, _, o| {
            u128::from(p) << 64 | u128::from(o)
        });
        Ok(Self::from_narrow(profile, pts, nodes.len()))
    }

    /// Envoy's Maglev table of `nodes` (keyed by name), `table_size` entries, as a ring whose
    /// points are the entries (see [`Profile::Maglev`]).
    fn maglev(nodes: &[Arc<Node>], table_size: u64) -> Result<Ring> {
        let hosts: Vec<(&[u8], u32)> = nodes
            .iter()
            .map(|n| (n.name.as_bytes(), n.weight))
            .collect();
        let table = MaglevTable::build(&hosts, table_size)?;
        let owners: Vec<u32> = (0..table.size()).filter_map(|i| table.entry(i)).collect();
        let index = match Table::new(&owners) {
            Some(t) => Index::Table(t),
            // No node of weight above 0: no entries, a ring without points.
            None => Index::build(&[], &[], 0),
        };
        Ok(Self::assemble(index, None, None, Vec::new()))
    }

    /// Turns the points of a narrow profile, in any order, into a ring, as
    /// [`from_sorted`](Self::from_sorted) does once they are sorted: each point is its position
    /// above its owner's id (below `id_bound <= 2^16`). When every position is distinct (as hashing
    /// gives), the points are sorted by the radix table's own buckets, and the pages are written
    /// from those buckets as they are: nothing is counted twice.
    fn from_narrow(profile: Profile, mut pts: Vec<u128>, id_bound: usize) -> Ring {
        let norm = profile.position_norm();
        let last = pts.iter().max().map(|&x| (x >> 64) as u64);
        let (bits, shift) = radix_geometry(pts.len(), last.map(|p| p << norm));
        let buckets = bucket_sort(&mut pts, bits, |&x| {
            (((x >> 64) as u64) << norm >> shift) as usize
        });
        if pts.windows(2).all(|w| w[0] >> 64 != w[1] >> 64) {
            if let Some(index) = Index::from_buckets(&pts, &buckets, norm) {
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
            let (bits, shift) = radix_geometry(kept.len(), kept.last().map(|&x| top(x)));
            let mut buckets = vec![0u32; (1 << bits) + 1];
            for &x in &kept {
                buckets[(top(x) >> shift) as usize + 1] += 1;
            }
            for b in 1..buckets.len() {
                buckets[b] += buckets[b - 1];
            }
            if let Some(index) = Index::from_buckets(&kept, &buckets, norm) {
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
    }
}
