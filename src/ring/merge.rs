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
    pub(crate) nodes: &'a [&'a Node],
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
    /// path runs) for a ring without a radix index, or a change the page merge declines. Under a
    /// rule that keeps one point per position, the positions where points meet are settled here
    /// first ([`Contest`]): the page merge then adds each winner, evicts a staying point that lost,
    /// and the losers are kept aside as the new ring's shadowed points.
    ///
    /// A wide profile's index holds each point's top 64 bits, and the ring the low 64 bits in rank
    /// order beside it: the page merge runs on the top bits (declining any two that are equal,
    /// which the general path settles), and the low bits are merged afresh in one pass.
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
        if profile.is_wide() && !self.shadowed.is_empty() {
            return None;
        }
        let mut gone_positions = Vec::new();
        let mut scratch = Vec::new();
        for node in moves.dropped {
            scratch.clear();
            placement.node_points(node, m, &mut scratch);
            gone_positions.extend(scratch.iter().map(|&(p, _)| p));
        }
        if radix.is_flat() {
            // A flat ring finds them in order: each search then reads memory after the last one,
            // and their ranks come out ascending (the pages need no order: they mark theirs).
            sort_points(&mut gone_positions);
        }
        let rule = profile.equal_points();
        let contest = if profile.is_wide() || rule == EqualPoints::All {
            None
        } else {
            let c = Contest::settle(self, radix, rule, fresh, &mut gone_positions, moves);
            Some(c?)
        };
        let added: Vec<(u64, u32)> = match &contest {
            Some(c) => c.fresh.clone(),
            None => fresh.iter().map(|&(p, _, id)| (p, id)).collect(),
        };
        let change = Change {
            fresh: &added,
            gone_positions: &gone_positions,
            old_to_new: moves.old_to_new,
            repoint: moves.repoint,
            evicted: contest.as_ref().map_or(&[], |c| &c.evicted),
            keep_equal: rule == EqualPoints::All && !profile.is_wide(),
        };
        let lows = match profile.is_wide() {
            true => Some(self.merged_lows(&gone_positions, fresh)?),
            false => None,
        };
        let index = Index::Radix(radix.merged(moves.nodes_before, &change)?);
        let shadowed = contest.map_or_else(Vec::new, |c| c.shadowed);
        Some(Ring::assemble(index, None, lows, shadowed))
    }

    /// The low 64 bits of the next ring's points, in rank order: this ring's, less those of the
    /// points at `gone` (top bits), with those of the `fresh` points inserted, as runs copied
    /// between the ranks where points go or come. `None` if a top-bits position is not exactly one
    /// point's, or a fresh point meets one that stays (equal top bits, which the general path
    /// settles).
    fn merged_lows(&self, gone: &[u64], fresh: &[Pt]) -> Option<Vec<u64>> {
        let lows = self.lows.as_deref()?;
        let n = self.len();
        if lows.len() != n {
            return None;
        }
        // The first point at or after `p` (so no earlier one is at `p`) is at `p`, and the next
        // one is not.
        let only_at =
            |r: usize, p: u64| self.position(r) == p && (r + 1 == n || self.position(r + 1) != p);
        let mut cut = Vec::with_capacity(gone.len());
        for &p in gone {
            let r = self.rank_at_or_after(p)?;
            if !only_at(r, p) {
                return None;
            }
            cut.push(r);
        }
        cut.sort_unstable();
        if cut.windows(2).any(|w| w[0] == w[1]) {
            return None;
        }
        // Each fresh point goes before the old point of rank `r` (`n`: after the last).
        let mut ins = Vec::with_capacity(fresh.len());
        for &(q, l, _) in fresh {
            let r = match self.rank_at_or_after(q) {
                Some(0) if self.position(0) < q => n,
                Some(r) => r,
                None => 0,
            };
            // A point at the same top bits must be one that goes (a re-pointed node's own).
            if r < n && self.position(r) == q && cut.binary_search(&r).is_err() {
                return None;
            }
            ins.push((r, l));
        }
        let mut out = Vec::with_capacity(n + ins.len() - cut.len());
        let (mut at, mut c, mut f) = (0, 0, 0);
        loop {
            let next_cut = cut.get(c).copied().unwrap_or(n);
            let next_ins = ins.get(f).map_or(n, |&(r, _)| r);
            let to = next_cut.min(next_ins);
            out.extend_from_slice(&lows[at..to]);
            at = to;
            if f < ins.len() && next_ins == to {
                out.push(ins[f].1);
                f += 1;
            } else if c < cut.len() && next_cut == to {
                at += 1;
                c += 1;
            } else {
                break;
            }
        }
        Some(out)
    }
}

/// A change under a rule that keeps one point per position (nginx's first, a dict's last),
/// settled position by position where points meet, for the page merge.
struct Contest {
    /// The points to add: fresh points that won or met no one, and shadowed points that came
    /// back, as (position, new node id), sorted.
    fresh: Vec<(u64, u32)>,
    /// Points of staying nodes that lost their position to a fresh point, sorted.
    evicted: Vec<(u64, u32)>,
    /// The new ring's shadowed points, sorted.
    shadowed: Vec<Pt>,
}

impl Contest {
    /// Settles the change: `fresh` (sorted, new ids) meets the old ring's points and its shadowed
    /// ones. `gone_positions` (every point of the dropped nodes) loses the dropped nodes' shadowed
    /// points, leaving the positions the page merge removes. `None` if the shadowed points do not
    /// match the dropped nodes' (the general path runs).
    fn settle(
        old: &Ring,
        radix: &crate::search::Radix,
        rule: EqualPoints,
        fresh: &[Pt],
        gone_positions: &mut Vec<u64>,
        moves: &Moves<'_>,
    ) -> Option<Contest> {
        let stays = |o: u32| {
            let id = moves.old_to_new[o as usize];
            (id != NO_ID && !moves.repoint[id as usize]).then_some(id)
        };
        // The old shadowed points: those of staying nodes (renumbered) stay contenders; those of
        // dropped nodes were never in the index, so they leave the positions to remove.
        let mut kept_shadow: Vec<Pt> = Vec::new();
        let mut gone_shadow: Vec<u64> = Vec::new();
        for &(p, l, o) in &old.shadowed {
            match stays(o) {
                Some(id) => kept_shadow.push((p, l, id)),
                None => gone_shadow.push(p),
            }
        }
        if !gone_shadow.is_empty() {
            gone_positions.sort_unstable();
            gone_shadow.sort_unstable();
            let mut left = Vec::with_capacity(gone_positions.len());
            let mut g = gone_shadow.iter().peekable();
            for &p in gone_positions.iter() {
                while g.next_if(|&&q| q < p).is_some() {}
                if g.next_if(|&&q| q == p).is_none() {
                    left.push(p);
                }
            }
            if g.next().is_some() || left.len() + gone_shadow.len() != gone_positions.len() {
                return None;
            }
            *gone_positions = left;
        }
        // The positions where something may meet: each fresh point's, and each staying shadowed
        // point's (its winner may be leaving).
        let mut at: Vec<u64> = fresh.iter().map(|&(p, _, _)| p).collect();
        at.extend(kept_shadow.iter().map(|&(p, _, _)| p));
        at.sort_unstable();
        at.dedup();
        let mut contenders: Vec<Pt> = Vec::new();
        let mut out = Contest {
            fresh: Vec::with_capacity(fresh.len()),
            evicted: Vec::new(),
            shadowed: Vec::new(),
        };
        let (mut f, mut k) = (0, 0);
        for p in at {
            contenders.clear();
            // The old point at p, if any and its node stays.
            let visible = radix
                .point_at_or_after(p)
                .filter(|&(q, _)| q == p)
                .and_then(|(_, o)| stays(o).map(|id| (p, 0, id)));
            contenders.extend(visible);
            while let Some(&pt) = kept_shadow.get(k).filter(|&&(q, _, _)| q == p) {
                contenders.push(pt);
                k += 1;
            }
            while let Some(&pt) = fresh.get(f).filter(|&&(q, _, _)| q == p) {
                contenders.push(pt);
                f += 1;
            }
            // The rule's winner: the node added first (lowest id) or last (highest); on a tie (one
            // node's equal points) the earliest, so an old point that keeps its place stays put.
            let mut w = 0;
            for (i, c) in contenders.iter().enumerate().skip(1) {
                let better = match rule {
                    EqualPoints::Last => c.2 > contenders[w].2,
                    _ => c.2 < contenders[w].2,
                };
                if better {
                    w = i;
                }
            }
            let old_point = visible.is_some();
            for (i, &c) in contenders.iter().enumerate() {
                match (i == w, i == 0 && old_point) {
                    (true, true) => {}
                    (true, false) => out.fresh.push((c.0, c.2)),
                    (false, true) => {
                        out.evicted.push((c.0, c.2));
                        out.shadowed.push(c);
                    }
                    (false, false) => out.shadowed.push(c),
                }
            }
        }
        out.fresh.sort_unstable();
        out.evicted.sort_unstable();
        out.shadowed.sort_unstable();
        Some(out)
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
