//! Merging changes into a radix ring's packed points: the fast path of an incremental build. It reads
//! the old packed points and low bits and writes the new ones, which [`Packed::from_parts`] turns
//! into the next index (its table updated by the changes noted on the way: each added position
//! with `+1`, each removed one with `-1`). Everything here is inlined into [`next_packed`]'s body,
//! which is compiled twice: for any x86-64 (or other) CPU, and with AVX2 enabled, picked at run time.

use crate::builder::{Pt, NO_ID};
use crate::search::packed::{pack, position, quantize, slot_capacity, slot_owner, Packed};

/// The packed points of the next ring, made from `old` by dropping the points of every old owner `o`
/// with `remap[o] == NO_ID`, renumbering the others to `remap[o]` (which keeps their order), and
/// merging in the `fresh` points (sorted; their ids below 2^16). `None` if the result has two equal
/// positions and `keep_equal` is false (the caller then takes the general path, which applies the
/// profile's rule). Runs the widest build of the loops this CPU has.
pub(crate) fn next_packed(
    old: &Packed,
    fresh: &[Pt],
    remap: &[u32],
    keep_equal: bool,
) -> Option<Packed> {
    #[cfg(target_arch = "x86_64")]
    if crate::search::Kernel::Avx2.is_available() {
        return crate::search::simd::avx2::next_packed(old, fresh, remap, keep_equal);
    }
    next_packed_body(old, fresh, remap, keep_equal)
}

/// [`next_packed`]'s body, inlined into each build of it. One pass picks the cheapest merge for the
/// change: additions alone, one node's removal, removals alone, or both.
#[inline(always)]
pub(crate) fn next_packed_body(
    old: &Packed,
    fresh: &[Pt],
    remap: &[u32],
    keep_equal: bool,
) -> Option<Packed> {
    let unchanged = remap.iter().enumerate().all(|(o, &id)| id == o as u32);
    // The fresh points' positions normalized as the packing's are (the order is kept).
    let norm = old.norm();
    let fresh: Vec<(u64, u32)> = fresh.iter().map(|&(p, _, id)| (p << norm, id)).collect();
    let fresh = &fresh[..];
    // What the search index needs to update itself instead of being rebuilt: the (normalized)
    // positions added (+1) and removed (-1).
    let mut changes: Vec<(u64, i32)> = fresh.iter().map(|&(p, _)| (p, 1)).collect();
    let (slots, lows) = if unchanged {
        insert_fresh(old, fresh)
    } else if let (true, Some(gone)) = (fresh.is_empty(), single_removal(remap)) {
        remove_one(old, gone, &mut changes)
    } else if fresh.is_empty() {
        compact(old, remap, &mut changes)
    } else {
        merge_fresh(old, fresh, remap, &mut changes)
    };
    if !keep_equal
        && slots
            .windows(2)
            .zip(lows.windows(2))
            .any(|(s, l)| quantize(s[0]) == quantize(s[1]) && l[0] == l[1])
    {
        return None;
    }
    Some(Packed::from_parts(
        slots,
        lows,
        norm,
        Some((old, &mut changes)),
    ))
}

/// The old id whose points all go, if the change is exactly one node's removal: every later id one
/// lower, every earlier one unchanged. (Draining a node keeps the later ids, so it is not this case.)
#[inline(always)]
fn single_removal(remap: &[u32]) -> Option<u32> {
    let gone = remap.iter().position(|&id| id == NO_ID)?;
    let shifted = remap[gone + 1..]
        .iter()
        .enumerate()
        .all(|(i, &id)| id as usize == gone + i);
    (remap[..gone]
        .iter()
        .enumerate()
        .all(|(i, &id)| id as usize == i)
        && shifted)
        .then_some(gone as u32)
}

/// New packed points and low bits with room for `points` points (and the packing's tail).
#[inline(always)]
fn packed_buffers(points: usize) -> (Vec<u64>, Vec<u16>) {
    (
        Vec::with_capacity(slot_capacity(points)),
        Vec::with_capacity(points),
    )
}

/// Only additions: the old packed points copied in runs between the fresh points (memcpy speed),
/// each run's end found by a galloping search from the last one (fresh points are sorted and far
/// apart, so a few probes near the cursor, not a binary search of the whole ring).
#[inline(always)]
fn insert_fresh(old: &Packed, fresh: &[(u64, u32)]) -> (Vec<u64>, Vec<u16>) {
    let (os, ol) = (old.points(), old.lows());
    let n = os.len();
    let (mut slots, mut lows) = packed_buffers(n + fresh.len());
    let pos = |i: usize| position(os[i], ol[i]);
    let mut from = 0;
    for &(p, id) in fresh {
        // Old owners are all below the fresh ids here, so an equal old point goes first: the run
        // ends at the first old point `> p`, which lies in `from + lo ..= from + hi`.
        let rest = n - from;
        let mut hi = 1;
        while hi < rest && pos(from + hi - 1) <= p {
            hi *= 2;
        }
        let (mut a, mut b) = (from + hi / 2, from + hi.min(rest));
        while a < b {
            let m = a + (b - a) / 2;
            if pos(m) <= p {
                a = m + 1;
            } else {
                b = m;
            }
        }
        slots.extend_from_slice(&os[from..a]);
        lows.extend_from_slice(&ol[from..a]);
        slots.push(pack(p, id));
        lows.push(p as u16);
        from = a;
    }
    slots.extend_from_slice(&os[from..]);
    lows.extend_from_slice(&ol[from..]);
    (slots, lows)
}

/// One node's points removed: the old packed points are copied in runs between its points, found
/// by a vector-friendly scan of the owner fields, and each kept owner above it is renumbered one
/// lower with a branch-free subtraction (no table lookup per point; the owner field is the slot's
/// low 16 bits and is at least 1 where it is decremented, so nothing borrows from the position).
#[inline(always)]
fn remove_one(old: &Packed, gone: u32, changes: &mut Vec<(u64, i32)>) -> (Vec<u64>, Vec<u16>) {
    let (os, ol) = (old.points(), old.lows());
    let n = os.len();
    let (mut slots, mut lows) = packed_buffers(n);
    let mut from = 0;
    while from < n {
        let to = from + find_owner(&os[from..], gone);
        slots.extend(
            os[from..to]
                .iter()
                .map(|&s| s - u64::from(slot_owner(s) > gone)),
        );
        lows.extend_from_slice(&ol[from..to]);
        if to < n {
            changes.push((position(os[to], ol[to]), -1));
        }
        from = to + 1;
    }
    (slots, lows)
}

/// The index of the first packed slot in `v` owned by `x`, or `v.len()`: compared 8 at a time (one
/// vector compare per block), then within the block that holds it.
#[inline(always)]
fn find_owner(v: &[u64], x: u32) -> usize {
    let mut blocks = v.chunks_exact(8);
    let mut at = 0;
    for b in &mut blocks {
        if b.iter().fold(false, |hit, &s| hit | (slot_owner(s) == x)) {
            break;
        }
        at += 8;
    }
    at + v[at..]
        .iter()
        .position(|&s| slot_owner(s) == x)
        .unwrap_or(v.len() - at)
}

/// Only removals: the kept points renumbered, the removed ones noted in `changes` (rare, so a
/// well-predicted branch).
#[inline(always)]
fn compact(old: &Packed, remap: &[u32], changes: &mut Vec<(u64, i32)>) -> (Vec<u64>, Vec<u16>) {
    let (os, ol) = (old.points(), old.lows());
    let (mut slots, mut lows) = packed_buffers(os.len());
    for (&s, &l) in os.iter().zip(ol) {
        let id = remap[slot_owner(s) as usize];
        if id == NO_ID {
            changes.push((position(s, l), -1));
        } else {
            slots.push(pack(s, id));
            lows.push(l);
        }
    }
    (slots, lows)
}

/// Removals and additions: one pass over the old points, dropping those of removed or re-weighted
/// nodes (noted in `changes`) and renumbering the rest, the fresh points (normalized positions and
/// ids) merged in.
#[inline(always)]
fn merge_fresh(
    old: &Packed,
    fresh: &[(u64, u32)],
    remap: &[u32],
    changes: &mut Vec<(u64, i32)>,
) -> (Vec<u64>, Vec<u16>) {
    let (os, ol) = (old.points(), old.lows());
    let (mut slots, mut lows) = packed_buffers(os.len() + fresh.len());
    let mut f = 0;
    for (&s, &l) in os.iter().zip(ol) {
        let p = position(s, l);
        let id = remap[slot_owner(s) as usize];
        if id == NO_ID {
            changes.push((p, -1));
            continue;
        }
        while f < fresh.len() && fresh[f] < (p, id) {
            slots.push(pack(fresh[f].0, fresh[f].1));
            lows.push(fresh[f].0 as u16);
            f += 1;
        }
        slots.push(pack(p, id));
        lows.push(l);
    }
    for &(p, id) in &fresh[f..] {
        slots.push(pack(p, id));
        lows.push(p as u16);
    }
    (slots, lows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_owner_finds_the_first_match_at_every_offset() {
        for len in 0..50 {
            for at in 0..=len {
                // Positions that share low bits with the owner searched for must not match.
                let mut v = vec![pack(9 << 16, 1); len];
                if at < len {
                    v[at] = pack(1 << 20, 9);
                    if at + 1 < len {
                        v[at + 1] = pack(0, 9);
                    }
                }
                assert_eq!(find_owner(&v, 9), at, "len {len} at {at}");
            }
        }
    }

    /// The reference: what `next_packed` must make, by filtering, renumbering and sorting plainly.
    fn reference(old: &[(u64, u32)], fresh: &[Pt], remap: &[u32], norm: u32) -> Packed {
        let mut all: Vec<(u64, u32)> = old
            .iter()
            .filter(|&&(_, o)| remap[o as usize] != NO_ID)
            .map(|&(p, o)| (p, remap[o as usize]))
            .chain(fresh.iter().map(|&(p, _, id)| (p, id)))
            .collect();
        all.sort_unstable();
        let (points, owners): (Vec<u64>, Vec<u32>) = all.into_iter().unzip();
        Packed::build(&points, &owners, norm).unwrap()
    }

    proptest::proptest! {
        /// Every merge path (additions only, one node's removal, removals only, both), in the portable
        /// build and in the one this CPU runs, makes exactly the packing of a fresh build of the
        /// result: same slots, low bits and table.
        #[test]
        fn next_packed_equals_a_fresh_build(
            old in proptest::collection::btree_map(proptest::prelude::any::<u64>(), 0u32..40, 0..2000),
            narrow in proptest::prelude::any::<bool>(),
            nodes in 1usize..40,
            kind in 0u8..4,
            gone in proptest::prelude::any::<proptest::sample::Index>(),
            dropped in proptest::collection::vec(proptest::prelude::any::<bool>(), 40),
            added in proptest::collection::btree_set(proptest::prelude::any::<u64>(), 1..300),
        ) {
            let squeeze = |p: u64| if narrow { p >> 32 } else { p };
            let mut old: Vec<(u64, u32)> = old
                .into_iter()
                .map(|(p, o)| (squeeze(p), o % nodes as u32))
                .collect::<std::collections::BTreeMap<_, _>>()
                .into_iter()
                .collect();
            old.sort_unstable();
            let (points, owners): (Vec<u64>, Vec<u32>) = old.iter().copied().unzip();
            // 32-bit positions are normalized as the ketama profiles' are.
            let norm = if narrow { 32 } else { 0 };
            let packed = Packed::build(&points, &owners, norm).unwrap();
            // remap: which old owners go (kind 1: exactly one, 2 and 3: any), the rest renumbered
            // densely in order.
            let gone = gone.index(nodes);
            let goes = |o: usize| match kind {
                0 => false,
                1 => o == gone,
                _ => dropped[o],
            };
            let mut next = 0u32;
            let remap: Vec<u32> = (0..nodes)
                .map(|o| if goes(o) { NO_ID } else { next += 1; next - 1 })
                .collect();
            // Fresh points (kinds 0 and 3) belong to new ids after the kept ones, at positions no
            // old point has.
            let fresh: Vec<Pt> = if kind == 0 || kind == 3 {
                let mut f: Vec<Pt> = added
                    .iter()
                    .map(|&p| squeeze(p))
                    .filter(|p| points.binary_search(p).is_err())
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .enumerate()
                    .map(|(i, p)| (p, 0, next + (i % 3) as u32))
                    .collect();
                f.sort_unstable();
                f
            } else {
                Vec::new()
            };
            let want = reference(&old, &fresh, &remap, norm);
            let portable = next_packed_body(&packed, &fresh, &remap, true).unwrap();
            proptest::prop_assert!(portable.same_as(&want));
            let dispatched = next_packed(&packed, &fresh, &remap, true).unwrap();
            proptest::prop_assert!(dispatched.same_as(&want));
        }
    }

    #[test]
    fn equal_positions_are_refused_when_the_profile_keeps_one() {
        let packed = Packed::build(&[10, 20], &[0, 1], 0).unwrap();
        let fresh = [(20, 0, 2)];
        assert!(next_packed(&packed, &fresh, &[0, 1], false).is_none());
        assert!(next_packed(&packed, &fresh, &[0, 1], true).is_some());
        assert!(next_packed(&packed, &[(15, 0, 2)], &[0, 1], false).is_some());
    }
}
