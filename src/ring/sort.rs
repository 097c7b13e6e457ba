//! Sorting a ring's points. Positions are hashes, spread evenly over the bits they use, so a
//! counting sort on their top bits puts almost every point in a bucket of its own, and sorting each
//! bucket afterwards is a handful of comparisons: linear time where a comparison sort takes
//! `n log n` (at 1,000 nodes of 160 points, the comparison sort was ~80 % of a full build).
//!
//! [`bucket_sort`] also hands back where each bucket starts, which a full build uses as the search
//! table as it is. Large inputs take two counting passes (the top bits into partitions that fit the cache, then
//! each partition by the next bits), so no pass scatters over more memory than the caches hold.
//! Inputs that are not spread evenly (a profile whose positions collide, or names chosen to crowd
//! one bucket) stay correct and `n log n`: a crowded bucket is sorted with the standard sort.

use super::build::Pt;
use crate::search::{radix_geometry, LOCAL_BITS};

/// Buckets per page.
const LOCAL: usize = 1 << LOCAL_BITS;

/// What can be sorted here: a point, ordered as the ring orders points, with its position.
pub(super) trait Point: Copy + Ord {
    /// The position (as the profile has it).
    fn position(&self) -> u64;
}

impl Point for Pt {
    #[inline(always)]
    fn position(&self) -> u64 {
        self.0
    }
}

/// A narrow point as one number: its position above its owner's id (ordered as a [`Pt`] with no
/// low bits is).
impl Point for u128 {
    #[inline(always)]
    fn position(&self) -> u64 {
        (*self >> 64) as u64
    }
}

/// Below this many points the standard sort is as fast.
const SMALL: usize = 512;

/// The most bits one counting pass sorts by (a count table of 2^18 `u32`, 1 MiB).
const PASS_BITS: u32 = 18;

/// Bits of the first of two passes: 2^10 partitions, each written through its own cache line.
const FIRST_BITS: u32 = 10;

/// Bits of the first of [`sort_items`]' two passes. It writes two streams a partition (positions
/// and ids), so it takes fewer partitions than [`bucket_sort`].
const ITEM_FIRST_BITS: u32 = 8;

/// Buckets this small are finished by insertion sort; larger ones by the standard sort.
const INSERTION_MAX: usize = 24;

/// Sorts `pts` ascending (by position, low bits, owner), as `sort_unstable` would.
pub(super) fn sort_points<T: Point>(pts: &mut [T]) {
    let n = pts.len();
    if n < SMALL {
        pts.sort_unstable();
        return;
    }
    // The bits the positions use, and about one bucket per point over them.
    let used = 64
        - pts
            .iter()
            .fold(0u64, |acc, p| acc | p.position())
            .leading_zeros();
    let bits = (usize::BITS - 1 - n.leading_zeros()).min(used);
    if bits == 0 {
        pts.sort_unstable();
        return;
    }
    let top = used - bits;
    bucket_sort(pts, bits, |p| (p.position() >> top) as usize);
}

/// Sorts `pts` ascending (by position, low bits, owner), given `bucket`, a function of the
/// position that never decreases with it and is below `2^bits`; returns the rank of each bucket's
/// first point (`2^bits + 1` entries, the last `pts.len()`).
pub(super) fn bucket_sort<T: Point>(
    pts: &mut [T],
    bits: u32,
    bucket: impl Fn(&T) -> usize,
) -> Vec<u32> {
    let n = pts.len();
    debug_assert!(n < u32::MAX as usize);
    let mut starts = vec![0u32; (1 << bits) + 1];
    let mut scratch: Vec<T> = pts.to_vec();
    if bits <= PASS_BITS {
        scatter(&scratch, pts, &mut starts, &bucket);
        finish(pts, &starts);
        return starts;
    }
    // Two passes: the top `FIRST_BITS` of the bucket into `scratch`, then each partition by the
    // rest back into `pts`.
    let rest = bits - FIRST_BITS;
    let mask = (1usize << rest) - 1;
    let mut parts = vec![0u32; (1 << FIRST_BITS) + 1];
    scatter(pts, &mut scratch, &mut parts, |p| bucket(p) >> rest);
    for (i, w) in parts.windows(2).enumerate() {
        let (a, b) = (w[0] as usize, w[1] as usize);
        let local = &mut starts[i << rest..=(i + 1) << rest];
        local.fill(0);
        scatter(&scratch[a..b], &mut pts[a..b], local, |p| bucket(p) & mask);
        finish(&mut pts[a..b], local);
        for s in local.iter_mut() {
            *s += a as u32;
        }
    }
    starts
}

/// A narrow full build's points sorted into *items* (see [`sort_items`]).
pub(super) struct Items {
    /// Page by page, sorted within each page.
    pub(super) items: Vec<u64>,
    /// The rank of each table bucket's first point (`2^bits + 1` entries, the last `items.len()`).
    pub(super) buckets: Vec<u32>,
    /// The table geometry `(bits, shift)` of [`radix_geometry`] for these points.
    pub(super) geometry: (u32, u32),
    /// Whether every position is distinct (no two points meet).
    pub(super) distinct: bool,
}

/// Sorts the points of a narrow full build into *items*, the form [`Index::from_items`] packs. An
/// item is a point's normalized position's bits below its page (`in_page = shift + LOCAL_BITS` of
/// them) at the top of a `u64`, above the node id: half the width of a (position, id) pair, and
/// ordered as one within a page.
///
/// `fill(id, out)` appends node `id`'s normalized positions to `out` (`nodes` nodes, about
/// `estimate` points in all). It is called twice per node, first to count the points into buckets,
/// then to place them: hashing a native point again costs less than writing every position to
/// memory and reading it back (a 10,000-node ring's positions are 12.8 MB of fresh pages). The
/// counting sort runs on up to `extra` bits more than the table has, so that almost every point
/// has a bucket of its own and the insertion sort after it seldom moves one; rings of more than
/// 2^18 such buckets sort in two passes, the second one partition by partition in the cache, as
/// [`bucket_sort`] does.
///
/// `None` if the node ids do not fit below the items' position bits (fewer than ~32 points per
/// node) or the points are too many to rank in a `u32`.
///
/// [`Index::from_items`]: crate::search::Index::from_items
/// [`radix_geometry`]: crate::search::radix_geometry
pub(super) fn sort_items(
    nodes: usize,
    estimate: usize,
    extra: u32,
    mut fill: impl FnMut(usize, &mut Vec<u64>),
) -> Option<Items> {
    let mut buf: Vec<u64> = Vec::new();
    // Counts the points by `x >> shift` (below `counts.len() - 1`) into `counts[key + 1]`; the
    // count and the largest position.
    let mut count = |counts: &mut [u32], shift: u32| {
        let (mut n, mut max) = (0usize, 0u64);
        for id in 0..nodes {
            buf.clear();
            fill(id, &mut buf);
            n += buf.len();
            for &x in &buf {
                counts[(x >> shift) as usize + 1] += 1;
                max = max.max(x);
            }
        }
        (n, (n > 0).then_some(max))
    };
    // The geometry is guessed from the estimate and a full 64-bit spread, and counted again in the
    // rare case the points say otherwise.
    let mut geometry = radix_geometry(estimate, Some(u64::MAX));
    let (mut counts, n, plan) = loop {
        let plan = Plan::new(geometry, extra);
        let mut counts = vec![0u32; (1 << plan.first_bits) + 1];
        let (n, max) = count(&mut counts, plan.first_shift);
        let actual = radix_geometry(n, max);
        if actual == geometry {
            break (counts, n, plan);
        }
        geometry = actual;
    };
    let id_bits = usize::BITS - nodes.saturating_sub(1).leading_zeros();
    if id_bits + plan.in_page > 64 || nodes > 1 << 16 || n >= u32::MAX as usize {
        return None;
    }
    let (bits, _) = geometry;
    let low = 64 - plan.in_page;
    let item = |x: u64, id: usize| x << low | id as u64;
    running_sum(&mut counts);
    let mut distinct = true;
    // `items` from rank `base` on, its buckets `buckets`.
    let finish_pages = |items: &mut [u64], buckets: &[u32], base: u32, distinct: &mut bool| {
        // Each page's items in order (the counting sort ordered the fine buckets, so this only
        // orders points within one), checked for points that meet while the page is in the cache.
        for p in 0..(buckets.len() - 1) / LOCAL {
            let (a, b) = (buckets[p * LOCAL] - base, buckets[(p + 1) * LOCAL] - base);
            let page = &mut items[a as usize..b as usize];
            insertion_sort(page);
            *distinct &= page.windows(2).all(|w| w[0] >> low != w[1] >> low);
        }
    };
    let first_shift = plan.first_shift;
    if plan.one_pass {
        // The counts are by fine bucket: place each point's item at once. Each bucket's start is
        // its cursor, which then ends at the next bucket's start (no copy of the counts).
        let mut items = vec![0u64; n];
        for id in 0..nodes {
            buf.clear();
            fill(id, &mut buf);
            for &x in &buf {
                let at = &mut counts[(x >> first_shift) as usize];
                items[*at as usize] = item(x, id);
                *at += 1;
            }
        }
        // The bucket starts, made in place in the counts (bucket `b` starts where fine bucket
        // `(b << extra) - 1` ended; read at or after where it is written, so nothing is
        // overwritten before it is read), then cut to the table's size.
        let mut buckets = counts;
        if plan.extra == 0 {
            buckets.copy_within(..1 << bits, 1);
        } else {
            for b in 1..=1usize << bits {
                buckets[b] = buckets[(b << plan.extra) - 1];
            }
        }
        buckets[0] = 0;
        buckets.truncate((1 << bits) + 1);
        finish_pages(&mut items, &buckets, 0, &mut distinct);
        return Some(Items {
            items,
            buckets,
            geometry,
            distinct,
        });
    }
    // Pass one: positions and ids into their partitions (the top `ITEM_FIRST_BITS` of the fine
    // bucket).
    let mut buckets = vec![0u32; (1 << bits) + 1];
    let mut next: Vec<u32> = counts[..counts.len() - 1].to_vec();
    let mut items = vec![0u64; n];
    let mut ids = vec![0u16; n];
    for id in 0..nodes {
        buf.clear();
        fill(id, &mut buf);
        for &x in &buf {
            let at = &mut next[(x >> first_shift) as usize];
            items[*at as usize] = x;
            ids[*at as usize] = id as u16;
            *at += 1;
        }
    }
    // Pass two: each partition by the rest of its fine bucket, its items written over its
    // positions (copied out first), its pages finished while they are in the cache.
    let rest = plan.fine_bits - ITEM_FIRST_BITS;
    let mask = (1usize << rest) - 1;
    let fine_shift = plan.fine_shift;
    let per_part = 1usize << (bits - ITEM_FIRST_BITS);
    let mut fine = vec![0u32; (1 << rest) + 1];
    let mut xs: Vec<u64> = Vec::new();
    for (i, w) in counts.windows(2).enumerate() {
        let (a, b) = (w[0] as usize, w[1] as usize);
        xs.clear();
        xs.extend_from_slice(&items[a..b]);
        fine.fill(0);
        for &x in &xs {
            fine[((x >> fine_shift) as usize & mask) + 1] += 1;
        }
        running_sum(&mut fine);
        next.clear();
        next.extend_from_slice(&fine[..fine.len() - 1]);
        let out = &mut items[a..b];
        for (&x, &id) in xs.iter().zip(&ids[a..b]) {
            let at = &mut next[(x >> fine_shift) as usize & mask];
            out[*at as usize] = item(x, usize::from(id));
            *at += 1;
        }
        let local = &mut buckets[i * per_part..=(i + 1) * per_part];
        for (b, start) in local.iter_mut().enumerate() {
            *start = fine[b << plan.extra] + a as u32;
        }
        finish_pages(out, local, a as u32, &mut distinct);
    }
    Some(Items {
        items,
        buckets,
        geometry,
        distinct,
    })
}

/// How [`sort_items`] counts in a geometry.
struct Plan {
    /// The position bits below a page.
    in_page: u32,
    /// Bits the counting sort adds to the table's.
    extra: u32,
    /// The fine buckets: `x >> fine_shift`, below `2^fine_bits`.
    fine_bits: u32,
    fine_shift: u32,
    /// Whether one counting pass sorts by the fine buckets (else partitions first).
    one_pass: bool,
    /// What the first count is by: `x >> first_shift`, below `2^first_bits`.
    first_bits: u32,
    first_shift: u32,
}

impl Plan {
    fn new((bits, shift): (u32, u32), extra: u32) -> Plan {
        let extra = extra.min(shift);
        let (fine_bits, fine_shift) = (bits + extra, shift - extra);
        let one_pass = fine_bits <= PASS_BITS;
        let first_bits = if one_pass { fine_bits } else { ITEM_FIRST_BITS };
        Plan {
            in_page: shift + LOCAL_BITS,
            extra,
            fine_bits,
            fine_shift,
            one_pass,
            first_bits,
            first_shift: fine_shift + fine_bits - first_bits,
        }
    }
}

/// A stable counting sort of `src` into `dst` by `bucket` (below `counts.len() - 1`), `counts`
/// zeroed; leaves `counts[i]` = the start of bucket `i` in `dst` and the last entry `src.len()`.
#[inline(always)]
fn scatter<T: Point>(src: &[T], dst: &mut [T], counts: &mut [u32], bucket: impl Fn(&T) -> usize) {
    debug_assert_eq!(src.len(), dst.len());
    for p in src {
        counts[bucket(p) + 1] += 1;
    }
    running_sum(counts);
    // `next[i]` = where bucket i's next point goes: the start, moved on as points are placed.
    let mut next: Vec<u32> = counts[..counts.len() - 1].to_vec();
    for p in src {
        let at = &mut next[bucket(p)];
        dst[*at as usize] = *p;
        *at += 1;
    }
}

/// Turns counts into running sums, in place. (The sum is kept in a register: summing through the
/// slice, `c[i] += c[i - 1]`, waits on a store and a load per entry, and took half of a small
/// ring's sort.)
#[inline(always)]
pub(super) fn running_sum(counts: &mut [u32]) {
    let mut sum = 0u32;
    for c in counts {
        sum += *c;
        *c = sum;
    }
}

/// Sorts each bucket of `pts` (bucket `i` = `counts[i]..counts[i + 1]`).
fn finish<T: Point>(pts: &mut [T], counts: &[u32]) {
    if counts
        .windows(2)
        .all(|w| (w[1] - w[0]) as usize <= INSERTION_MAX)
    {
        // One insertion sort over all of it: no point moves past its bucket's start, so this
        // costs no more than sorting each bucket, without a loop per bucket.
        insertion_sort(pts);
        return;
    }
    for w in counts.windows(2) {
        let bucket = &mut pts[w[0] as usize..w[1] as usize];
        if bucket.len() <= INSERTION_MAX {
            insertion_sort(bucket);
        } else {
            bucket.sort_unstable();
        }
    }
}

/// Insertion sort, for the few points of a bucket (or points that are each at most a few places
/// from their own).
#[inline(always)]
fn insertion_sort<T: Copy + Ord>(v: &mut [T]) {
    for i in 1..v.len() {
        let x = v[i];
        let mut j = i;
        while j > 0 && v[j - 1] > x {
            v[j] = v[j - 1];
            j -= 1;
        }
        v[j] = x;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(mut pts: Vec<Pt>) {
        let mut want = pts.clone();
        want.sort_unstable();
        sort_points(&mut pts);
        assert_eq!(pts, want);
    }

    /// Hash-like positions (a fixed mixing of the index), owners in insertion order.
    fn spread(n: usize, bits_used: u32, seed: u64) -> Vec<Pt> {
        (0..n as u64)
            .map(|i| {
                let h = (i ^ seed)
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    .rotate_left(29)
                    .wrapping_mul(0xBF58_476D_1CE4_E5B9);
                (h >> (64 - bits_used), 0, (i % 997) as u32)
            })
            .collect()
    }

    #[test]
    fn sorts_every_size_and_width_as_the_standard_sort() {
        for n in [0, 1, 511, 512, 513, 4_000, 70_000, 300_000] {
            for bits_used in [64, 32, 20, 3] {
                check(spread(n, bits_used, n as u64));
            }
        }
    }

    #[test]
    fn crowded_and_equal_positions_keep_owner_order() {
        let mut pts = spread(5_000, 64, 1);
        // A crowd in one bucket, equal positions of several owners, and equal positions with
        // different low bits.
        pts.extend((0..3_000u32).map(|i| (1 << 40 | u64::from(i % 7), u64::from(i % 3), i)));
        pts.extend((0..100u32).map(|i| (u64::MAX, 0, 100 - i)));
        check(pts);
    }

    proptest! {
        #[test]
        fn equals_the_standard_sort(
            pts in proptest::collection::vec((any::<u64>(), 0u64..4, 0u32..50), 0..3_000),
            shift in 0u32..64,
        ) {
            check(pts.into_iter().map(|(p, l, o)| (p >> shift, l, o)).collect());
        }
    }
}
