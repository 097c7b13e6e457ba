//! The next ring from the previous one and a membership change: the changed nodes' points are
//! hashed, the rest kept as they are.
//!
//! The common case (a narrow profile, a radix ring, no point shadowed by an equal one) goes to the
//! search index's page merge ([`crate::search::Radix::merged`]): only the pages the added and
//! removed points fall in are written, every other page is shared with the previous ring. The
//! points that go are found by hashing the dropped nodes' base versions again, not by scanning the
//! ring. Every other case, and any change the page merge declines, takes the general path: the
//! points that stay are merged with the fresh ones in one pass and the ring is indexed afresh.

use std::sync::Arc;

use super::build::{fresh_points, Pt};
use super::sort::sort_points;
use super::Ring;
use crate::node::Node;
use crate::placement::{EqualPoints, Membership, Placement};
use crate::search::{Change, Index};

/// An old node id that has no new one (the node left).
const NO_ID: u32 = u32::MAX;

/// How the membership moved from the previous ring's.
pub(crate) struct Moves<'a> {
    /// The nodes of the new membership, in id order.
    pub(crate) nodes: &'a [Arc<Node>],
    /// How many nodes the previous membership had.
    pub(crate) nodes_before: usize,
    /// By new id: whether the node's points are generated afresh (a new or re-weighted node).
    pub(crate) repoint: &'a [bool],
    /// By old id: the new id, or `u32::MAX` if the node left.
    pub(crate) old_to_new: &'a [u32],
    /// The previous versions of the nodes whose old points go (removed or re-weighted).
    pub(crate) dropped: &'a [Arc<Node>],
}

impl Ring {
    /// The ring of the membership `moves` describes (whose points depend on nothing but each node,
    /// see [`crate::Profile::membership_dependent`]), made from this one (see the module docs).
    pub(crate) fn next(&self, placement: &Placement, m: &Membership, moves: &Moves<'_>) -> Ring {
        let mut fresh = fresh_points(placement, moves.nodes, m, Some(moves.repoint), |p, l, o| {
            (p, l, o)
        });
        sort_points(&mut fresh);
        if let Some(ring) = self.merge_pages(placement, m, &fresh, moves) {
            return ring;
        }
        let sorted = kept_and_fresh(self, fresh, moves.repoint, moves.old_to_new);
        Ring::from_sorted(placement.profile(), sorted, moves.nodes.len())
    }

    /// The common case of [`next`](Self::next): the radix index's page merge. `None` (the general
    /// path runs) for a wide profile, a ring with shadowed points or no radix index, or a change
    /// the page merge declines.
    fn merge_pages(
        &self,
        placement: &Placement,
        m: &Membership,
        fresh: &[Pt],
        moves: &Moves<'_>,
    ) -> Option<Ring> {
        let profile = placement.profile();
        let Index::Radix(radix) = &self.index else {
            return None;
        };
        if profile.is_wide() || !self.shadowed.is_empty() {
            return None;
        }
        let fresh: Vec<(u64, u32)> = fresh.iter().map(|&(p, _, id)| (p, id)).collect();
        let mut gone_positions = Vec::new();
        let mut scratch = Vec::new();
        for node in moves.dropped {
            scratch.clear();
            placement.node_points(node, m, &mut scratch);
            gone_positions.extend(scratch.iter().map(|&(p, _)| p));
        }
        let change = Change {
            fresh: &fresh,
            gone_positions: &gone_positions,
            old_to_new: moves.old_to_new,
            repoint: moves.repoint,
            keep_equal: profile.equal_points() == EqualPoints::All,
        };
        let index = Index::Radix(radix.merged(moves.nodes_before, &change)?);
        Some(Ring::assemble(index, None, None, Vec::new()))
    }
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

/// The old points that stay (collapsed-away ones included, owners renumbered) merged with `fresh`.
/// Renumbering keeps the relative order of ids, so the kept sequence stays sorted by
/// (position, low, id).
fn kept_and_fresh(old: &Ring, fresh: Vec<Pt>, repoint: &[bool], old_to_new: &[u32]) -> Vec<Pt> {
    let keep = |&(p, l, o): &Pt| {
        let id = old_to_new[o as usize];
        (id != NO_ID && !repoint[id as usize]).then_some((p, l, id))
    };
    let lows = old.lows.as_deref();
    let capacity = old.len() + old.shadowed.len() + fresh.len();
    let mut kept: Vec<Pt> = Vec::with_capacity(capacity);
    let mut r = 0;
    old.for_each_point(|p, o| {
        let l = lows.map_or(0, |l| l[r]);
        r += 1;
        if let Some(pt) = keep(&(p, l, o)) {
            kept.push(pt);
        }
    });
    if !old.shadowed.is_empty() {
        kept = merge_sorted(
            kept.into_iter(),
            old.shadowed.iter().filter_map(keep).collect(),
            capacity,
        );
    }
    if !fresh.is_empty() {
        kept = merge_sorted(kept.into_iter(), fresh, capacity);
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::Profile;

    /// Real collisions between different nodes' points (equal 32-bit CRCs, equal 128-bit md5s) are too
    /// rare for random tests, so the equal-position rules are checked on synthetic points here.
    #[test]
    fn equal_positions_follow_the_profile_rule_and_come_back_when_the_winner_leaves() {
        let finish = Ring::from_sorted;
        let merged_points = kept_and_fresh;
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
}
