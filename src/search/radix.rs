//! The radix-indexed packed layout: the fastest layout measured here (see `benches/`), used for every
//! ring whose node ids fit 16 bits.
//!
//! Each point is packed in one `u64`: its top 48 position bits above a 16-bit owner id, so the owner
//! sits in the cache line just compared. A table indexed by the top `b` bits of a position (sized for
//! about four points per bucket) gives the first rank of each bucket. A search reads one table entry
//! pair, then counts the bucket's points below the key: every point of an earlier bucket is below it
//! and every point of a later bucket above, so `rank = start + count`. Comparing packed values with
//! the key's top 48 bits (low 16 bits zero) counts exactly the points whose top 48 bits are lower; a
//! point whose top 48 bits *equal* the key's may be above or below, so a bucket holding one takes an
//! exact path through the full 64-bit positions. Answers are therefore exactly those of
//! [`lower_bound_wrap`](super::lower_bound_wrap).
//!
//! The packed array is padded with [`PAD`] values after the last point so that an 8-wide vector load
//! from any bucket start stays in bounds; a pad is never below any key.

use bytemuck::{Pod, Zeroable};

use super::prefetch::prefetch_read;
use super::simd::Kernel;
use super::SearchIndex;

/// One cache line of packed points.
#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C, align(64))]
struct Line([u64; 8]);

/// Filler after the last point: never counted as below a key (nothing is above `u64::MAX`).
pub(crate) const PAD: u64 = u64::MAX;

/// The bucket table is sized for about this many points per bucket (measured: `benches/search.rs`).
const POINTS_PER_BUCKET: usize = 2;

/// How many keys a batch carries through each stage together, so that their memory loads overlap.
const GROUP: usize = 16;

/// The radix-indexed packed layout. See the module docs.
#[derive(Clone)]
pub(crate) struct Radix {
    lines: Vec<Line>,
    /// `table[i]` = rank of the first point `p` with `p >> shift >= i`; `table[2^bits] = table[2^bits + 1]
    /// = n`.
    table: Vec<u32>,
    shift: u32,
    n: usize,
}

impl std::fmt::Debug for Radix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Radix")
            .field("n", &self.n)
            .field("bits", &(64 - self.shift))
            .finish()
    }
}

/// The search key's packed form: top 48 bits, low 16 zero.
#[inline(always)]
fn quantize(x: u64) -> u64 {
    x & !0xFFFF
}

impl Radix {
    /// Builds the layout; `None` if an owner id does not fit 16 bits.
    pub(crate) fn build(points: &[u64], owners: &[u32]) -> Option<Self> {
        let n = points.len();
        // About POINTS_PER_BUCKET points per bucket, at least 2 buckets (a shift of 64 is no shift).
        let bits = (n / POINTS_PER_BUCKET)
            .max(2)
            .next_power_of_two()
            .trailing_zeros()
            .clamp(1, 32);
        // Index by the top `bits` of the bits the positions actually use (a 32-bit profile's points
        // all sit below 2^32), so buckets stay small whatever the key space.
        let used = points.last().map_or(64, |&hi| 64 - hi.leading_zeros());
        let shift = used.saturating_sub(bits);
        if owners.iter().fold(0, |acc, &o| acc | o) >> 16 != 0 {
            return None;
        }
        let mut lines = vec![Line([PAD; 8]); (n + 8).div_ceil(8) + 1];
        let packed: &mut [u64] = bytemuck::cast_slice_mut(&mut lines);
        for ((slot, &p), &o) in packed[..n].iter_mut().zip(points).zip(owners) {
            *slot = quantize(p) | u64::from(o);
        }
        // table[b] = first rank whose bucket is >= b: one sequential pass over the points.
        let buckets = 1usize << bits;
        // Two extra entries: positions past the last bucket (keys above every point, which the
        // search clamps to bucket `buckets`) get the empty bucket [n, n).
        // Branch-free: count the points of each bucket, then prefix-sum the counts (a loop that
        // decides per point whether a new bucket starts mispredicts about half the time).
        let mut table = vec![0u32; buckets + 2];
        for &p in points {
            table[(p >> shift) as usize + 1] += 1;
        }
        let mut sum = 0u32;
        for t in table.iter_mut() {
            sum += *t;
            *t = sum;
        }
        Some(Self {
            lines,
            table,
            shift,
            n,
        })
    }

    #[inline(always)]
    fn packed(&self) -> &[u64] {
        bytemuck::cast_slice(&self.lines)
    }

    /// The bucket `[start, end)` of ranks that position `x` falls in.
    #[inline(always)]
    fn bucket(&self, x: u64) -> (usize, usize) {
        let i = ((x >> self.shift) as usize).min(self.table.len() - 2);
        (self.table[i] as usize, self.table[i + 1] as usize)
    }

    /// The exact rank of the first point `>= x` when a point's top 48 bits equal the key's (the cold
    /// path: reads the full positions of the bucket).
    #[cold]
    #[inline(never)]
    fn exact_rank(points: &[u64], start: usize, end: usize, x: u64) -> usize {
        start + points[start..end].partition_point(|&p| p < x)
    }

    /// The owner at `rank`, wrapping `n` to 0.
    #[inline(always)]
    fn owner_at(&self, rank: usize) -> u32 {
        let r = if rank == self.n { 0 } else { rank };
        (self.packed()[r] & 0xFFFF) as u32
    }

    /// Rank of the first point `>= x` (not wrapped: may be `n`), counting the bucket in windows of
    /// 4 slots: a fixed amount of branch-free work for the ~95 % of buckets that hold at most 4
    /// points (a loop over the bucket's exact length mispredicts its exit on random keys).
    #[inline(always)]
    fn rank_scalar(&self, points: &[u64], x: u64) -> usize {
        let (s, e) = self.bucket(x);
        self.settle(
            points,
            s,
            e,
            s + count_window::<4>(self.packed(), s, e, x),
            x,
        )
    }

    /// Turns `rank` = bucket start + the count of packed points below the key into the exact rank.
    /// The point at `rank` is the first whose top 48 bits are not below the key's (the bucket is
    /// sorted; past the bucket every point is above the key). Only if its top 48 bits *equal* the
    /// key's can it, or the points after it with the same top bits, still be below the key: then, and
    /// only then, the exact path runs. (At `rank == n` the slot holds a [`PAD`], which at worst sends
    /// a key near `u64::MAX` down the exact path.)
    #[inline(always)]
    fn settle(&self, points: &[u64], s: usize, e: usize, rank: usize, x: u64) -> usize {
        if self.packed()[rank] >> 16 == x >> 16 {
            Self::exact_rank(points, s, e, x)
        } else {
            rank
        }
    }

    /// The owner of the first point `>= x`, wrapping; `None` if empty.
    #[inline(always)]
    pub(crate) fn owner_at_or_after(&self, points: &[u64], x: u64) -> Option<u32> {
        if self.n == 0 {
            return None;
        }
        Some(self.owner_at(self.rank_scalar(points, x)))
    }

    /// The full position and owner of the first point `>= x`, wrapping; `None` if empty.
    #[inline]
    pub(crate) fn point_at_or_after(&self, points: &[u64], x: u64) -> Option<(u64, u32)> {
        if self.n == 0 {
            return None;
        }
        let r = self.rank_scalar(points, x);
        let r = if r == self.n { 0 } else { r };
        Some((points[r], self.owner_at(r)))
    }

    /// Owners of many positions. `out.len() == xs.len()`; the index is not empty.
    pub(crate) fn owners_batch(&self, points: &[u64], xs: &[u64], out: &mut [u32], kernel: Kernel) {
        debug_assert_eq!(xs.len(), out.len());
        debug_assert!(self.n > 0);
        match kernel {
            Kernel::Scalar => {
                for (o, &x) in out.iter_mut().zip(xs) {
                    *o = self.owner_at(self.rank_scalar(points, x));
                }
            }
            Kernel::Portable => self.batch_with(points, xs, out, count_portable),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => super::simd::avx2::radix_batch(self, points, xs, out),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => super::simd::avx512::radix_batch(self, points, xs, out),
            #[cfg(not(target_arch = "x86_64"))]
            Kernel::Avx2 | Kernel::Avx512 => self.batch_with(points, xs, out, count_portable),
        }
    }

    /// The staged batch loop, generic over how a bucket is counted. Keys travel in groups of
    /// [`GROUP`]: stage 1 prefetches every key's table entry, stage 2 reads the bucket bounds and
    /// prefetches every bucket's first line, stage 3 counts. The loads of a group overlap instead of
    /// queueing one behind the other.
    #[inline(always)]
    pub(crate) fn batch_with(
        &self,
        points: &[u64],
        xs: &[u64],
        out: &mut [u32],
        count: impl Fn(&[u64], usize, usize, u64) -> usize,
    ) {
        let packed = self.packed();
        let table = self.table.as_ptr();
        let mut bounds = [(0usize, 0usize); GROUP];
        for (xs, out) in xs.chunks(GROUP).zip(out.chunks_mut(GROUP)) {
            for &x in xs {
                prefetch_read(table.wrapping_add((x >> self.shift) as usize));
                // (An index past the table is only a prefetch hint; `bucket` clamps the real read.)
            }
            for (b, &x) in bounds.iter_mut().zip(xs) {
                *b = self.bucket(x);
                prefetch_read(packed.as_ptr().wrapping_add(b.0));
            }
            for ((o, &x), &(s, e)) in out.iter_mut().zip(xs).zip(&bounds) {
                let rank = self.settle(points, s, e, s + count(packed, s, e, x), x);
                *o = self.owner_at(rank);
            }
        }
    }
}

/// Counts the packed points whose top 48 bits are below key `x`'s, over whole windows of `W` slots
/// from the bucket start `s` until the bucket end `e` is covered (fixed-size inner loops the compiler
/// unrolls). Counting past `e` is harmless: every slot after a bucket holds a point of a later bucket
/// (above the key, so never counted) or a [`PAD`] (never below). The padding (at least 8 slots) keeps
/// every window in bounds.
#[inline(always)]
pub(crate) fn count_window<const W: usize>(packed: &[u64], s: usize, e: usize, x: u64) -> usize {
    let xq = quantize(x);
    let mut c = 0usize;
    let mut i = s;
    loop {
        let window: &[u64; W] = packed[i..i + W].try_into().expect("W slots");
        for &p in window {
            c += usize::from(p < xq);
        }
        i += W;
        if i >= e {
            return c;
        }
    }
}

/// The portable batch kernel's count: windows of 4, as the single lookups (measured faster than 8).
#[inline(always)]
pub(crate) fn count_portable(packed: &[u64], s: usize, e: usize, x: u64) -> usize {
    count_window::<4>(packed, s, e, x)
}

impl SearchIndex for Radix {
    #[inline(always)]
    fn owner_at_or_after(&self, points: &[u64], x: u64) -> Option<u32> {
        Radix::owner_at_or_after(self, points, x)
    }

    #[inline]
    fn point_at_or_after(&self, points: &[u64], x: u64) -> Option<(u64, u32)> {
        Radix::point_at_or_after(self, points, x)
    }

    fn owners_batch(&self, points: &[u64], xs: &[u64], out: &mut [u32], kernel: Kernel) {
        Radix::owners_batch(self, points, xs, out, kernel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::lower_bound_wrap;
    use proptest::prelude::*;

    /// Points drawn so that top-48-bit collisions, exact ties and crowded buckets are common: a few
    /// "anchors" with random low 16 bits, plus fully random points.
    fn crowded_points() -> impl Strategy<Value = Vec<u64>> {
        (
            prop::collection::vec(any::<u64>(), 1..6),
            prop::collection::vec((0usize..6, any::<u16>(), any::<bool>()), 0..200),
            prop::collection::vec(any::<u64>(), 0..60),
        )
            .prop_map(|(anchors, near, random)| {
                let mut v: Vec<u64> = near
                    .into_iter()
                    .map(|(a, low, exact)| {
                        let base = anchors[a % anchors.len()];
                        if exact {
                            base
                        } else {
                            (base & !0xFFFF) | u64::from(low)
                        }
                    })
                    .chain(random)
                    .collect();
                if v.is_empty() {
                    v.push(anchors[0]);
                }
                v.sort_unstable();
                v
            })
    }

    /// [`crowded_points`] narrowed to a random bit width (32-bit profiles, tiny literal positions).
    fn narrowed_points() -> impl Strategy<Value = Vec<u64>> {
        (crowded_points(), 1u32..=64).prop_map(|(v, width)| {
            let mut v: Vec<u64> = v
                .into_iter()
                .map(|p| if width == 64 { p } else { p >> (64 - width) })
                .collect();
            v.sort_unstable();
            v
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Every kernel this CPU has returns the reference answer, for keys on, next to and between
        /// points, in crowded buckets, with equal top 48 bits, and past the last point (wrap).
        #[test]
        fn every_kernel_equals_the_reference(points in prop_oneof![crowded_points(), narrowed_points()], random in prop::collection::vec(any::<u64>(), 0..64)) {
            let owners: Vec<u32> = (0..points.len() as u32).map(|i| i % 65_536).collect();
            let radix = Radix::build(&points, &owners).unwrap();
            let mut xs = random;
            for &p in &points {
                xs.extend([p, p.wrapping_sub(1), p.wrapping_add(1), p & !0xFFFF, p | 0xFFFF]);
            }
            xs.extend([0, u64::MAX]);
            let want: Vec<u32> = xs.iter().map(|&x| owners[lower_bound_wrap(&points, x)]).collect();
            for (i, &x) in xs.iter().enumerate() {
                prop_assert_eq!(radix.owner_at_or_after(&points, x), Some(want[i]));
                let r = lower_bound_wrap(&points, x);
                prop_assert_eq!(radix.point_at_or_after(&points, x), Some((points[r], owners[r])));
            }
            for kernel in Kernel::available() {
                let mut out = vec![0u32; xs.len()];
                radix.owners_batch(&points, &xs, &mut out, kernel);
                prop_assert_eq!(&out, &want, "kernel {}", kernel);
            }
        }
    }

    #[test]
    fn rejects_owners_beyond_16_bits() {
        assert!(Radix::build(&[1, 2], &[0, 65_536]).is_none());
        assert!(Radix::build(&[1, 2], &[0, 65_535]).is_some());
    }

    #[test]
    fn single_point_ring_wraps() {
        let r = Radix::build(&[1000], &[7]).unwrap();
        for x in [0, 999, 1000, 1001, u64::MAX] {
            assert_eq!(r.owner_at_or_after(&[1000], x), Some(7));
        }
    }
}
