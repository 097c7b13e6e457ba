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

/// A stable counting sort of `src` into `dst` by `bucket` (below `counts.len() - 1`), `counts`
/// zeroed; leaves `counts[i]` = the start of bucket `i` in `dst` and the last entry `src.len()`.
#[inline(always)]
fn scatter<T: Point>(src: &[T], dst: &mut [T], counts: &mut [u32], bucket: impl Fn(&T) -> usize) {
    debug_assert_eq!(src.len(), dst.len());
    for p in src {
        counts[bucket(p) + 1] += 1;
    }
    for i in 1..counts.len() {
        counts[i] += counts[i - 1];
    }
    // `next[i]` = where bucket i's next point goes: the start, moved on as points are placed.
    let mut next: Vec<u32> = counts[..counts.len() - 1].to_vec();
    for p in src {
        let at = &mut next[bucket(p)];
        dst[*at as usize] = *p;
        *at += 1;
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
fn insertion_sort<T: Point>(v: &mut [T]) {
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
