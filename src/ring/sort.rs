//! Sorting a ring's points. Positions are hashes, spread evenly over the bits they use, so a
//! counting sort on their top bits puts almost every point in a bucket of its own, and sorting each
//! bucket afterwards is a handful of comparisons: linear time where a comparison sort takes
//! `n log n` (at 1,000 nodes of 160 points, the comparison sort was ~80 % of a full build).
//!
//! Large inputs take two counting passes (the top bits into partitions that fit the cache, then
//! each partition by the next bits), so no pass scatters over more memory than the caches hold.
//! Inputs that are not spread evenly (a profile whose positions collide, or names chosen to crowd
//! one bucket) stay correct and `n log n`: a crowded bucket is sorted with the standard sort.

use super::build::Pt;

/// Below this many points the standard sort is as fast.
const SMALL: usize = 512;

/// The most bits one counting pass sorts by (a count table of 2^16 `u32`, 256 KiB).
const PASS_BITS: u32 = 16;

/// Bits of the first of two passes: 2^10 partitions, each written through its own cache line.
const FIRST_BITS: u32 = 10;

/// Buckets this small are finished by insertion sort; larger ones by the standard sort.
const INSERTION_MAX: usize = 24;

/// Sorts `pts` ascending by (position, low bits, owner), as `sort_unstable` would.
pub(super) fn sort_points(pts: &mut Vec<Pt>) {
    let n = pts.len();
    if n < SMALL {
        pts.sort_unstable();
        return;
    }
    // The bits the positions use, and about one bucket per point over them.
    let used = 64 - pts.iter().fold(0u64, |acc, p| acc | p.0).leading_zeros();
    let bits = (usize::BITS - 1 - n.leading_zeros()).min(used);
    if bits == 0 {
        pts.sort_unstable();
        return;
    }
    let top = used - bits; // a point's bucket is `position >> top` (< 2^bits)
    let mut scratch: Vec<Pt> = Vec::with_capacity(n);
    if bits <= PASS_BITS {
        scratch.extend_from_slice(pts);
        let mut counts = vec![0u32; (1 << bits) + 1];
        scatter(&scratch, pts, &mut counts, |p| (p.0 >> top) as usize);
        finish(pts, &counts);
        return;
    }
    // Two passes: the first `FIRST_BITS` of the bucket bits into `scratch`, then each partition by
    // the rest back into `pts`.
    let rest = bits - FIRST_BITS;
    let shift = top + rest;
    scratch.extend_from_slice(pts);
    let mut parts = vec![0u32; (1 << FIRST_BITS) + 1];
    scatter(pts, &mut scratch, &mut parts, |p| (p.0 >> shift) as usize);
    let mask = (1usize << rest) - 1;
    let mut counts = vec![0u32; (1 << rest) + 1];
    for w in parts.windows(2) {
        let (a, b) = (w[0] as usize, w[1] as usize);
        if b - a <= INSERTION_MAX {
            pts[a..b].copy_from_slice(&scratch[a..b]);
            insertion_sort(&mut pts[a..b]);
            continue;
        }
        counts.fill(0);
        scatter(&scratch[a..b], &mut pts[a..b], &mut counts, |p| {
            (p.0 >> top) as usize & mask
        });
        finish(&mut pts[a..b], &counts);
    }
}

/// A stable counting sort of `src` into `dst` by `bucket` (below `counts.len() - 1`); leaves
/// `counts[i]` = the start of bucket `i` in `dst` and the last entry `src.len()`.
#[inline(always)]
fn scatter(src: &[Pt], dst: &mut [Pt], counts: &mut [u32], bucket: impl Fn(&Pt) -> usize) {
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
fn finish(pts: &mut [Pt], counts: &[u32]) {
    for w in counts.windows(2) {
        let bucket = &mut pts[w[0] as usize..w[1] as usize];
        if bucket.len() <= INSERTION_MAX {
            insertion_sort(bucket);
        } else {
            bucket.sort_unstable();
        }
    }
}

/// Insertion sort, for the few points of a bucket.
#[inline(always)]
fn insertion_sort(v: &mut [Pt]) {
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
