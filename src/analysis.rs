//! Exact analysis of rings: each node's share of the key space (from the arcs between points, not by
//! sampling keys), the imbalance of a ring, and the share of the key space whose owner differs between
//! two rings (what a membership change moves).
//!
//! # Arcs
//!
//! Every profile finds a key's owner as the first point **at or after** a search position (a profile
//! whose original rule is "strictly after" searches from `hash + 1`, see [`crate::Placement`]). That
//! shift is a bijection of the key space, so it changes no lengths: the point of rank `r` owns the
//! half-open arc `(points[r-1], points[r]]` of search positions, and the first point owns the wrap-around
//! arc `(points[last], space) ∪ [0, points[0]]`. Among equal points, the first in sorted order owns the
//! whole arc and the others own nothing, exactly as the search answers. Lengths are exact integers
//! (`u128`, out of [`key_space`]), converted to `f64` only for the fractions.

use crate::node::NodeId;
use crate::placement::Placement;
use crate::snapshot::Snapshot;

/// The number of distinct key positions of a placement: every key's search position lies in
/// `0..key_space`.
///
/// 2^64 for every profile whose key hash is a full `u64`; the Maglev table's size for
/// [`Profile::Maglev`](crate::Profile::Maglev). A profile whose positions are narrower
/// (for example 32-bit ketama hashes) must say so here, or its shares would count the unreachable
/// positions above its largest point as part of the wrap-around arc. It is `2^`
/// [`Profile::position_bits`](crate::Profile::position_bits), whose exhaustive match means a new
/// profile does not compile until its width is stated.
pub fn key_space(placement: &Placement) -> u128 {
    if placement.profile() == crate::Profile::Maglev {
        // A key's search position is its table entry, `hash mod M`: M positions, one per entry
        // (the `2^64 mod M` hashes that make some entries one hash likelier are below 2^-40).
        return u128::from(placement.virtual_nodes());
    }
    // uhashring's positions are 128-bit; the ring compares their top 64 bits (the low bits only break
    // exact ties, which own no measurable arc).
    1 << placement.profile().position_bits()
}

/// One node's part of a ring, as computed by [`distribution`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeShare {
    /// The node's id in the analysed snapshot.
    pub id: NodeId,
    /// The node's weight.
    pub weight: u32,
    /// How many points the node owns.
    pub points: u64,
    /// The exact number of key positions the node owns (out of [`Distribution::space`]).
    pub arc: u128,
    /// `arc / space`: the node's exact share of the key space, in `[0, 1]`.
    pub share: f64,
    /// The node's share of the points, in `[0, 1]`.
    pub point_share: f64,
    /// `weight / Σ weight`: the share the node's weight entitles it to (0 if all weights are 0).
    pub expected: f64,
}

/// Exact key-space shares of every node of a snapshot. See [`distribution`].
#[derive(Debug, Clone, PartialEq)]
pub struct Distribution {
    /// One entry per node, in id order (drained nodes included, with zero shares).
    pub nodes: Vec<NodeShare>,
    /// The number of key positions ([`key_space`] of the snapshot's placement).
    pub space: u128,
    /// Total number of points.
    pub points: u64,
}

impl Distribution {
    /// How many nodes own at least one position of the key space.
    pub fn owning_nodes(&self) -> usize {
        self.nodes.iter().filter(|n| n.arc > 0).count()
    }

    /// The largest share of any node (0 for an empty ring).
    pub fn max_share(&self) -> f64 {
        self.nodes.iter().map(|n| n.share).fold(0.0, f64::max)
    }

    /// The mean share over the nodes that own part of the key space: `1 / owning_nodes` (0 for an
    /// empty ring).
    pub fn mean_share(&self) -> f64 {
        match self.owning_nodes() {
            0 => 0.0,
            n => 1.0 / n as f64,
        }
    }

    /// `max_share / mean_share`: 1.0 for a perfectly even ring of equal weights, larger when one node
    /// takes more than its part (0 for an empty ring). Weights are not taken into account; see
    /// [`weighted_imbalance`](Self::weighted_imbalance).
    pub fn imbalance(&self) -> f64 {
        let mean = self.mean_share();
        if mean == 0.0 {
            0.0
        } else {
            self.max_share() / mean
        }
    }

    /// The largest `share / expected` over the nodes of non-zero weight: how much more than its weight
    /// entitles it to the most loaded node gets (0 for an empty ring).
    pub fn weighted_imbalance(&self) -> f64 {
        self.nodes
            .iter()
            .filter(|n| n.expected > 0.0)
            .map(|n| n.share / n.expected)
            .fold(0.0, f64::max)
    }
}

/// The length of the arc ending at rank `r` of sorted `points` (see the module docs).
#[inline]
fn arc_len(points: &[u64], r: usize, space: u128) -> u128 {
    if r == 0 {
        let (first, last) = (points[0], points[points.len() - 1]);
        u128::from(first) + space - u128::from(last)
    } else {
        u128::from(points[r] - points[r - 1])
    }
}

/// Each node's exact share of the key space and of the points of `snap`.
///
/// ```
/// use ringroute::{distribution, Node, Placement, Snapshot};
/// let ring = Snapshot::new(Placement::native(), [Node::new("a"), Node::new("b").with_weight(3)])?;
/// let d = distribution(&ring);
/// let total: u128 = d.nodes.iter().map(|n| n.arc).sum();
/// assert_eq!(total, d.space); // the arcs cover the key space exactly once
/// assert_eq!(d.nodes[1].points, 3 * 128);
/// assert!(d.nodes[1].share > d.nodes[0].share);
/// # Ok::<(), ringroute::Error>(())
/// ```
pub fn distribution(snap: &Snapshot) -> Distribution {
    let space = key_space(&snap.placement);
    let points = snap.points();
    let owners = snap.point_owners();
    let mut arcs = vec![0u128; snap.len()];
    let mut counts = vec![0u64; snap.len()];
    for (r, &o) in owners.iter().enumerate() {
        arcs[o as usize] += arc_len(points, r, space);
        counts[o as usize] += 1;
    }
    let total_weight: u64 = snap.nodes().map(|n| u64::from(n.weight())).sum();
    let total_points = points.len() as u64;
    let nodes = snap
        .nodes()
        .enumerate()
        .map(|(i, n)| NodeShare {
            id: NodeId(i as u32),
            weight: n.weight(),
            points: counts[i],
            arc: arcs[i],
            share: ratio(arcs[i], space),
            point_share: ratio(u128::from(counts[i]), u128::from(total_points)),
            expected: ratio(u128::from(n.weight()), u128::from(total_weight)),
        })
        .collect();
    Distribution {
        nodes,
        space,
        points: total_points,
    }
}

/// `num / den` as `f64` (0 when `den` is 0).
fn ratio(num: u128, den: u128) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// The exact number of key positions whose owner differs (by node name) between `a` and `b`, out of
/// [`key_space`], or `None` if the two rings hash keys differently (different profiles), so that
/// their positions cannot be compared.
///
/// A position owned in one ring and unowned in the other (an empty ring, or one whose nodes all have
/// weight 0) counts as moved. Runs in O(points of `a` + points of `b`): both sorted point sets are
/// merged and every arc between consecutive distinct positions is compared once.
pub fn moved_arc(a: &Snapshot, b: &Snapshot) -> Option<u128> {
    let mut moved: u128 = 0;
    walk_arcs(a, b, |from, to, len| {
        let same = match (from, to) {
            (Some(x), Some(y)) => a.nodes[x as usize].name == b.nodes[y as usize].name,
            (None, None) => true,
            _ => false,
        };
        if !same {
            moved += len;
        }
    })?;
    Some(moved)
}

/// Calls `f(owner in a, owner in b, length)` for every arc between consecutive distinct points of
/// the two rings (the wrap-around arc included), `None` for an owner of a ring without points; or
/// returns `None` if the rings hash keys differently. The lengths sum to [`key_space`].
pub(crate) fn walk_arcs(
    a: &Snapshot,
    b: &Snapshot,
    mut f: impl FnMut(Option<u32>, Option<u32>, u128),
) -> Option<()> {
    if a.placement.profile() != b.placement.profile()
        || key_space(&a.placement) != key_space(&b.placement)
    {
        return None;
    }
    let space = key_space(&a.placement);
    let (pa, pb) = (a.points(), b.points());
    let (oa, ob) = (a.point_owners(), b.point_owners());
    match (pa.is_empty(), pb.is_empty()) {
        (true, true) => {
            f(None, None, space);
            return Some(());
        }
        (true, false) => {
            for_each_own_arc(pb, ob, space, |o, len| f(None, Some(o), len));
            return Some(());
        }
        (false, true) => {
            for_each_own_arc(pa, oa, space, |o, len| f(Some(o), None, len));
            return Some(());
        }
        (false, false) => {}
    }
    // The last distinct boundary of the merged set, to measure the wrap-around arc.
    let last = pa[pa.len() - 1].max(pb[pb.len() - 1]);
    let (mut ia, mut ib) = (0usize, 0usize);
    let mut prev: Option<u64> = None;
    loop {
        // The next distinct boundary: the smaller of the two cursors' points.
        let x = match (pa.get(ia), pb.get(ib)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => break,
        };
        // The arc (prev, x] (or the wrap-around arc ending at x) has one owner in each ring: the owner
        // of the first point >= x, wrapping to rank 0.
        let owner_a = oa[if ia < pa.len() { ia } else { 0 }];
        let owner_b = ob[if ib < pb.len() { ib } else { 0 }];
        let len = match prev {
            None => u128::from(x) + space - u128::from(last),
            Some(p) => u128::from(x - p),
        };
        f(Some(owner_a), Some(owner_b), len);
        prev = Some(x);
        while pa.get(ia) == Some(&x) {
            ia += 1;
        }
        while pb.get(ib) == Some(&x) {
            ib += 1;
        }
    }
    Some(())
}

/// Calls `f(owner, length)` for the arc of every point of one non-empty ring.
fn for_each_own_arc(points: &[u64], owners: &[u32], space: u128, mut f: impl FnMut(u32, u128)) {
    for (r, &o) in owners.iter().enumerate() {
        f(o, arc_len(points, r, space));
    }
}

/// The exact share of the key space whose owner differs between `a` and `b` (see [`moved_arc`]), in
/// `[0, 1]`; `None` if the two rings use different profiles.
///
/// ```
/// use ringroute::{moved_fraction, Node, Placement, Snapshot};
/// let nodes = |n: usize| (0..n).map(|i| Node::new(format!("node-{i}"))).collect::<Vec<_>>();
/// let four = Snapshot::new(Placement::native(), nodes(4))?;
/// let three = Snapshot::new(Placement::native(), nodes(3))?;
/// // Removing node-3 moves exactly the keys node-3 owned, about a quarter of them.
/// let moved = moved_fraction(&four, &three).unwrap();
/// let share_3 = ringroute::distribution(&four).nodes[3].share;
/// assert!((moved - share_3).abs() < 1e-12);
/// assert_eq!(moved_fraction(&four, &four), Some(0.0));
/// # Ok::<(), ringroute::Error>(())
/// ```
pub fn moved_fraction(a: &Snapshot, b: &Snapshot) -> Option<f64> {
    moved_arc(a, b).map(|m| ratio(m, key_space(&a.placement)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::Node;
    use proptest::prelude::*;

    fn ring(nodes: &[(&str, u32)], vnodes: u32) -> Snapshot {
        Snapshot::new(
            Placement::from_name("native", Some(vnodes)).unwrap(),
            nodes.iter().map(|&(n, w)| Node::new(n).with_weight(w)),
        )
        .unwrap()
    }

    /// The owner name of search position `x` (the reference: sorted-array lower bound with wrap).
    fn owner_name(s: &Snapshot, x: u64) -> Option<&str> {
        s.route_hash(x).map(|id| s.node(id).unwrap().name())
    }

    #[test]
    fn arcs_cover_the_space_exactly_once() {
        let s = ring(&[("a", 1), ("b", 2), ("c", 0), ("d", 5)], 64);
        let d = distribution(&s);
        assert_eq!(d.space, 1u128 << 64);
        assert_eq!(d.nodes.iter().map(|n| n.arc).sum::<u128>(), d.space);
        assert_eq!(d.nodes.iter().map(|n| n.points).sum::<u64>(), 8 * 64);
        assert_eq!(d.points, 8 * 64);
        // The drained node owns nothing and is expected to own nothing.
        assert_eq!(
            (d.nodes[2].arc, d.nodes[2].points, d.nodes[2].expected),
            (0, 0, 0.0)
        );
        assert_eq!(d.owning_nodes(), 3);
        assert!((d.nodes[3].expected - 5.0 / 8.0).abs() < 1e-15);
        assert!((d.mean_share() - 1.0 / 3.0).abs() < 1e-15);
        assert!((d.imbalance() - d.max_share() * 3.0).abs() < 1e-12);
        assert!(d.weighted_imbalance() >= 1.0);
    }

    #[test]
    fn one_point_owns_everything() {
        let s = ring(&[("solo", 1)], 1);
        let d = distribution(&s);
        assert_eq!(d.nodes[0].arc, 1u128 << 64);
        assert_eq!(d.nodes[0].share, 1.0);
        assert_eq!(d.imbalance(), 1.0);
        assert_eq!(d.weighted_imbalance(), 1.0);
    }

    #[test]
    fn empty_ring() {
        let s = Snapshot::empty(Placement::native());
        let d = distribution(&s);
        assert!(d.nodes.is_empty());
        assert_eq!(
            (d.max_share(), d.mean_share(), d.imbalance()),
            (0.0, 0.0, 0.0)
        );
        assert_eq!(moved_arc(&s, &s), Some(0));
        let one = ring(&[("a", 1)], 8);
        assert_eq!(moved_fraction(&s, &one), Some(1.0));
        assert_eq!(moved_fraction(&one, &s), Some(1.0));
        // All nodes drained: no points, so everything is unowned.
        let drained = ring(&[("a", 0)], 8);
        assert_eq!(moved_fraction(&drained, &s), Some(0.0));
        assert_eq!(moved_fraction(&drained, &one), Some(1.0));
    }

    #[test]
    fn arc_lengths_match_the_search_on_a_handmade_ring() {
        // Points are hashes, so check the arithmetic on arcs directly: the arc of every point is the
        // distance from its predecessor, and the shares sum to one.
        let pts = [5u64, 5, 9, u64::MAX];
        let space = 1u128 << 64;
        assert_eq!(arc_len(&pts, 0, space), 6);
        assert_eq!(arc_len(&pts, 1, space), 0); // an equal point owns nothing
        assert_eq!(arc_len(&pts, 2, space), 4);
        assert_eq!(arc_len(&pts, 3, space), u128::from(u64::MAX - 9));
        let total: u128 = (0..4).map(|r| arc_len(&pts, r, space)).sum();
        assert_eq!(total, space);
    }

    #[test]
    fn shares_agree_with_routing_at_every_boundary() {
        // Each point's arc is (prev, point]: routing the point itself and the position just after its
        // predecessor both land on the point's owner.
        let s = ring(&[("a", 1), ("b", 1), ("c", 2)], 16);
        let pts = s.points();
        for r in 0..pts.len() {
            let prev = pts[if r == 0 { pts.len() - 1 } else { r - 1 }];
            if prev == pts[r] {
                continue;
            }
            let owner = s.node(NodeId(s.point_owners()[r])).unwrap().name();
            assert_eq!(owner_name(&s, pts[r]), Some(owner));
            assert_eq!(owner_name(&s, prev.wrapping_add(1)), Some(owner));
        }
    }

    #[test]
    fn removing_a_node_moves_exactly_its_share() {
        let names: Vec<String> = (0..10).map(|i| format!("node-{i}")).collect();
        let all: Vec<(&str, u32)> = names.iter().map(|n| (n.as_str(), 1)).collect();
        let before = ring(&all, 128);
        let mut b = before.edit();
        b.remove_node("node-4").unwrap();
        let after = b.build().unwrap();
        let d = distribution(&before);
        let moved = moved_arc(&before, &after).unwrap();
        assert_eq!(moved, d.nodes[4].arc);
        // And symmetric.
        assert_eq!(moved_arc(&after, &before), Some(moved));
        let f = moved_fraction(&before, &after).unwrap();
        assert!(f > 0.05 && f < 0.15, "{f}");
    }

    #[test]
    fn owners_compare_by_name_not_id() {
        // Same membership added in another order: ids differ, names and points are the same.
        let x = ring(&[("a", 1), ("b", 2), ("c", 1)], 32);
        let y = ring(&[("c", 1), ("a", 1), ("b", 2)], 32);
        assert_eq!(moved_arc(&x, &y), Some(0));
        // Renaming a node moves all of its keys, and the renamed node's new points take keys too.
        let z = ring(&[("a", 1), ("b", 2), ("c2", 1)], 32);
        let (old_c, new_c) = (distribution(&x).nodes[2].arc, distribution(&z).nodes[2].arc);
        let moved = moved_arc(&x, &z).unwrap();
        assert!(
            moved >= old_c.max(new_c) && moved <= old_c + new_c,
            "{moved}"
        );
        assert!(moved > old_c);
    }

    #[test]
    fn virtual_node_counts_may_differ() {
        let x = ring(&[("a", 1), ("b", 1)], 8);
        let y = ring(&[("a", 1), ("b", 1)], 200);
        let m = moved_fraction(&x, &y).unwrap();
        assert!(m > 0.0 && m < 1.0);
    }

    /// The reference for `moved_arc`: every arc between consecutive distinct boundaries of both rings,
    /// its owner in each ring asked of the routing itself (the search index, not the merge cursors).
    fn moved_by_enumeration(a: &Snapshot, b: &Snapshot) -> u128 {
        let mut bounds: Vec<u64> = a.points().iter().chain(b.points()).copied().collect();
        bounds.sort_unstable();
        bounds.dedup();
        let space = 1u128 << 64;
        let mut moved = 0;
        for (i, &x) in bounds.iter().enumerate() {
            let len = if i == 0 {
                u128::from(x) + space - u128::from(*bounds.last().unwrap())
            } else {
                u128::from(x - bounds[i - 1])
            };
            if owner_name(a, x) != owner_name(b, x) {
                moved += len;
            }
        }
        moved
    }

    proptest! {
        #[test]
        fn moved_arc_equals_enumeration(
            wa in proptest::collection::vec(0u32..4, 1..6),
            wb in proptest::collection::vec(0u32..4, 1..6),
            vn in 1u32..12,
        ) {
            let na: Vec<String> = (0..wa.len()).map(|i| format!("n{i}")).collect();
            let nb: Vec<String> = (0..wb.len()).map(|i| format!("n{}", i + 1)).collect();
            let a = ring(&na.iter().map(|n| n.as_str()).zip(wa).collect::<Vec<_>>(), vn);
            let b = ring(&nb.iter().map(|n| n.as_str()).zip(wb).collect::<Vec<_>>(), vn);
            if a.point_count() > 0 && b.point_count() > 0 {
                prop_assert_eq!(moved_arc(&a, &b).unwrap(), moved_by_enumeration(&a, &b));
            }
            let d = distribution(&a);
            let covered: u128 = d.nodes.iter().map(|n| n.arc).sum();
            prop_assert_eq!(covered, if a.point_count() > 0 { d.space } else { 0 });
        }
    }

    /// A Maglev ring's positions are its table entries: each entry owns one of `M` positions, so a
    /// node's exact share is its entry count over `M`, and a change moves whole entries.
    #[test]
    fn maglev_shares_are_entry_counts() {
        let placement = Placement::maglev(251).unwrap();
        let ring = |names: &[&str]| {
            Snapshot::new(placement, names.iter().map(|n| crate::Node::new(*n))).unwrap()
        };
        let a = ring(&["a", "b", "c"]);
        let d = distribution(&a);
        assert_eq!(d.space, 251);
        for (i, n) in d.nodes.iter().enumerate() {
            let entries = a.point_owners().iter().filter(|&&o| o == i as u32).count();
            assert_eq!(n.arc, entries as u128);
        }
        let b = ring(&["a", "b", "c", "d"]);
        let moved = a
            .point_owners()
            .iter()
            .zip(b.point_owners())
            .filter(|(x, y)| a.nodes[**x as usize].name != b.nodes[**y as usize].name)
            .count();
        assert_eq!(moved_arc(&a, &b), Some(moved as u128));
        let other =
            Snapshot::new(Placement::maglev(257).unwrap(), [crate::Node::new("a")]).unwrap();
        assert_eq!(moved_arc(&a, &other), None, "different table sizes");
    }
}
