//! The radix-indexed packed layout: the fastest layout measured here (see `benches/`), used for every
//! ring whose node ids fit 16 bits.
//!
//! Each point is packed in one `u64` slot: its position above its owner's (slot) id, so the owner
//! sits in the cache line just compared. A table indexed by the top `b` bits of a position (sized
//! for about two points per bucket) gives each bucket's first slot and length, through the
//! directory of a flat (small) ring or the page of a paged one (`super::packed`). A search then
//! counts the bucket's points below the key: every point of an earlier bucket is below it and
//! every point of a later bucket above, so the first point `>= key` is at `first + count`. A
//! page's slots hold their positions whole (shifted by the page's bits), so comparing them with the
//! key shifted the same way counts exactly the points below it. A flat ring's slots hold a
//! position's top 48 bits: compared with the key's top 48 bits (low 16 bits zero), they count
//! exactly the points whose top 48 bits are lower; a point whose top 48 bits *equal* the key's may
//! be above or below, so a bucket holding one takes an exact path through the full positions (the
//! packed top bits and the cold low 16 bits). Answers are therefore exactly those of
//! [`lower_bound_wrap`](super::lower_bound_wrap).
//!
//! The storage (pages of slots and tables, a flat ring's slots, low bits and directory, with the
//! bounds invariants that let the hot loops skip bounds checks) is `super::packed`'s. After a page's last point comes a wrap
//! sentinel, which reads as the owner of the ring's next point so that the end of a page needs no
//! test, and is never below any key, then [`PAGE_PADS`] [`PAD`]s: every window of a page is 4 slots
//! wide, so past a bucket it reads later points, the sentinel or pads, none of them below the key.
//! A flat ring's array ends in `WINDOW_MAX` pads, so its buckets may be counted 8 slots a window.

use super::packed::{self, Bucket, Change, Entry, Packed, Rank, PAGE_PADS, WINDOW_MAX};
use super::prefetch::prefetch_read;
use super::simd::Kernel;

/// The next owner of [`Radix::owners_pair_batch`] where it is not at hand.
pub(crate) const NO_NEXT: u32 = u32::MAX;

#[cfg(doc)]
use super::packed::PAD;

/// Rings of more pages than this fetch their page addresses a stage ahead in a batch (their
/// `heads`, 8 bytes a page, pass 128 KiB).
const FAR_PAGES: usize = 1 << 14;

/// How many keys a batch carries through each stage together, so that their memory loads overlap.
/// (Measured with the paged index, u64 keys, A/B minima: 32 against 16 is the same at 100 nodes,
/// ~6 % fewer ns per key at 1000 and ~12 % at 10,000; 64 is no better at 10,000 and worse at 1000.)
const GROUP: usize = 32;

/// The radix-indexed packed layout. See the module docs.
#[derive(Clone)]
pub(crate) struct Radix {
    packed: Packed,
}

impl std::fmt::Debug for Radix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Radix")
            .field("n", &self.packed.len())
            .finish()
    }
}

impl Radix {
    /// Builds the layout over positions normalized by `norm` (see [`Packed`]); `None` if an owner id
    /// does not fit 16 bits.
    pub(crate) fn build(points: &[u64], owners: &[u32], norm: u32) -> Option<Self> {
        Packed::build(points, owners, norm).map(|packed| Self { packed })
    }

    /// The layout over a packing made elsewhere (see [`Packed::from_sorted`]).
    pub(crate) fn from_packed(packed: Packed) -> Self {
        Self { packed }
    }

    /// The number of points.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.packed.len()
    }

    /// The position of point `r < len` (as the profile has it).
    #[inline]
    pub(crate) fn position(&self, r: usize) -> u64 {
        self.packed.position(r)
    }

    /// The node id owning point `r < len`.
    #[inline]
    pub(crate) fn owner(&self, r: usize) -> u32 {
        self.packed.owner(r)
    }

    /// Every point as (position, node id), one full turn from rank `start` (`<= len`).
    pub(crate) fn iter_from(&self, start: usize) -> Points<'_> {
        Points {
            radix: self,
            inner: self.packed.iter_from(start),
        }
    }

    /// Calls `f(position, node id)` for every point, in order.
    pub(crate) fn for_each(&self, f: impl FnMut(u64, u32)) {
        self.packed.for_each(f)
    }

    /// The owner of the first point `>= x`, wrapping, that `keep` accepts (see
    /// `Packed::first_owner_at_or_after`).
    #[inline]
    pub(crate) fn first_owner_at_or_after(
        &self,
        x: u64,
        keep: impl FnMut(u32) -> bool,
    ) -> Option<u32> {
        self.packed
            .first_owner_at_or_after(self.packed.key(x), keep)
    }

    /// [`first_owner_at_or_after`](Self::first_owner_at_or_after) with the key's point found as a
    /// single lookup finds it (a window count: no branch per slot), then the walk from there. For
    /// walks of several points from many keys (replicas), where the scan's exit branch is
    /// mispredicted: 85 against 70 ns a Python `get_replicas(k, 3)` of varied keys at 100 nodes.
    /// A single lookup's health reroute keeps the scan (a count cost ~5 ns more a reroute there).
    #[inline]
    pub(crate) fn first_owner_searched(
        &self,
        x: u64,
        keep: impl FnMut(u32) -> bool,
    ) -> Option<u32> {
        let (x, b, rank) = self.searched(x)?;
        self.packed.first_owner_from_count(x, b, rank, keep)
    }

    /// Where a single lookup finds the key's point: the normalized key, its bucket and the count
    /// in it; `None` if the ring is empty.
    #[inline(always)]
    fn searched(&self, x: u64) -> Option<(u64, Bucket, Rank)> {
        let p = &self.packed;
        if p.len() == 0 {
            return None;
        }
        let x = p.key(x);
        let (b, k) = p.searched(x);
        Some((x, b, p.count::<4>(b, |w| window_count(w, k))))
    }

    /// The owners of the first point `>= x` and the `N - 1` points after it, found as a single
    /// lookup finds the first, when they lie in one run of slots (see
    /// `Packed::owners_run_from_count`); `None` otherwise (the caller walks).
    #[inline(always)]
    pub(crate) fn owners_run<const N: usize>(&self, x: u64) -> Option<[u32; N]> {
        let (x, b, rank) = self.searched(x)?;
        self.packed.owners_run_from_count::<N>(x, b, rank)
    }

    /// The next index: this one, holding the points of a membership of `nodes_before` nodes, with
    /// `change` applied; only the pages the change touches are written, every other is shared.
    /// `None` when the change does not fit an incremental update (see `Packed::merged`).
    pub(crate) fn merged(&self, nodes_before: usize, change: &Change<'_>) -> Option<Radix> {
        self.packed
            .merged(nodes_before, change)
            .map(Self::from_packed)
    }

    /// How many chunks of memory the pages live in (more than one after an incremental update).
    #[cfg(test)]
    pub(crate) fn chunk_count(&self) -> usize {
        self.packed.chunk_count()
    }

    /// The packing's pages as words and its page starts (see `Packed::page_words`).
    #[cfg(test)]
    pub(crate) fn page_words(&self) -> (Vec<u64>, Vec<u32>) {
        self.packed.page_words()
    }

    /// Checks every invariant of the packing (panics if one fails).
    #[cfg(test)]
    pub(crate) fn check(&self) {
        self.packed.check();
    }

    /// How many stand-ins a flat packing holds (points of removed nodes left in place).
    #[cfg(test)]
    pub(crate) fn stand_ins(&self) -> usize {
        self.packed.stand_ins()
    }

    /// How many pages the table has (a flat packing's buckets, by the page).
    #[cfg(test)]
    pub(crate) fn pages(&self) -> usize {
        self.packed.pages()
    }

    /// Whether the points are packed flat (a small ring) rather than in pages.
    pub(crate) fn is_flat(&self) -> bool {
        self.packed.is_flat()
    }

    /// A flat packing's slots' address (0 for a paged one).
    #[cfg(test)]
    pub(crate) fn flat_address(&self) -> usize {
        self.packed.flat_address()
    }

    /// Whether the packed owner fields (slot ids) differ from the node ids somewhere.
    #[cfg(test)]
    pub(crate) fn translates_slots(&self) -> bool {
        !self.packed.ids().is_empty()
    }

    /// The slot of the first point `>= x` given its bucket and the count of the bucket's slots
    /// below the key ([`Packed::searched`]). In a flat ring the point at `rank` is the first
    /// whose top 48 bits are not below the key's (the bucket is sorted; past the bucket every point
    /// is above the key). Only if its top 48 bits *equal* the key's can it, or the points after it
    /// with the same top bits, still be below the key: then, and only then, the exact path runs.
    /// (The flat array's sentinel, whose top bits are all ones, at worst sends a key near
    /// `u64::MAX` down the exact path.) A paged ring's count is exact; the same test on its slots
    /// (which hold positions shifted, above their slot ids) holds only by coincidence, and the
    /// exact path then finds the same slot: one test for both layouts, no branch between them.
    #[inline(always)]
    fn settle(&self, b: Bucket, rank: Rank, x: u64) -> u64 {
        let slot = self.packed.slot_at(b, rank);
        if slot >> 16 == x >> 16 {
            self.settle_exact(x)
        } else {
            slot
        }
    }

    /// The cold half of [`settle`](Self::settle): the exact slot from the bucket's full positions.
    #[cold]
    #[inline(never)]
    fn settle_exact(&self, x: u64) -> u64 {
        self.packed.exact_slot(x)
    }

    /// The slot of the first point `>= x`, counting the bucket in windows of 4 slots.
    /// (A ring of 64-bit positions skips the key's normalization on a well-predicted branch rather
    /// than shifting it: measured 0.7 ns per single lookup at 100 nodes.)
    #[inline(always)]
    fn find_scalar(&self, x: u64) -> u64 {
        if self.packed.norm() == 0 {
            self.find_normalized(x)
        } else {
            self.find_normalized(self.packed.key(x))
        }
    }

    /// [`find_scalar`](Self::find_scalar) of a normalized key.
    #[inline(always)]
    fn find_normalized(&self, x: u64) -> u64 {
        let (b, k) = self.packed.searched(x);
        let rank = self.packed.count::<4>(b, |w| window_count(w, k));
        self.settle(b, rank, x)
    }

    /// The owner of the first point `>= x`, wrapping; `None` if empty.
    #[inline(always)]
    pub(crate) fn owner_at_or_after(&self, x: u64) -> Option<u32> {
        if self.packed.len() == 0 {
            return None;
        }
        Some(self.packed.id(self.packed.owner_of(self.find_scalar(x))))
    }

    /// The owner of the first point `>= x` and, when it comes cheaply, the owner of the point after
    /// it (the next of the walk; see [`settle_pair`](Self::settle_pair)). `None` if empty.
    #[inline(always)]
    pub(crate) fn owner_pair_at_or_after(&self, x: u64) -> Option<(u32, Option<u32>)> {
        if self.packed.len() == 0 {
            return None;
        }
        let x = if self.packed.norm() == 0 {
            x
        } else {
            self.packed.key(x)
        };
        let (b, k) = self.packed.searched(x);
        let rank = self.packed.count::<4>(b, |w| window_count(w, k));
        let (first, next) = self.settle_pair(b, rank, x);
        Some((first, (next != NO_NEXT).then_some(next)))
    }

    /// [`settle`](Self::settle) for a pair: the node id of the first point `>= x` and of the point
    /// after it (the slot after the found one: the next point, or the page's sentinel, which stands
    /// for the next page's first point). The second is [`NO_NEXT`] when the exact path ran, or when
    /// the found slot may itself be a sentinel (position bits all ones), whose next slot is no
    /// point.
    #[inline(always)]
    fn settle_pair(&self, b: Bucket, rank: Rank, x: u64) -> (u32, u32) {
        let p = &self.packed;
        let slot = p.slot_at(b, rank);
        if slot >> 16 == x >> 16 {
            return (p.id(p.owner_of(self.settle_exact(x))), NO_NEXT);
        }
        let next = if slot | p.id_mask() != u64::MAX {
            p.id(p.owner_of(p.slot_after(b, rank)))
        } else {
            NO_NEXT
        };
        (p.id(p.owner_of(slot)), next)
    }

    /// The rank of the first point `>= x`, wrapping to 0; `None` if empty.
    #[inline]
    pub(crate) fn rank_at_or_after(&self, x: u64) -> Option<usize> {
        let n = self.packed.len();
        if n == 0 {
            return None;
        }
        let r = self.packed.rank_at_or_after(self.packed.key(x));
        Some(if r >= n { 0 } else { r })
    }

    /// The full position and owner of the first point `>= x`, wrapping; `None` if empty.
    #[inline]
    pub(crate) fn point_at_or_after(&self, x: u64) -> Option<(u64, u32)> {
        let r = self.rank_at_or_after(x)?;
        Some((self.packed.position(r), self.packed.owner(r)))
    }

    /// Owners of many positions. `out.len() == xs.len()`; the index is not empty.
    pub(crate) fn owners_batch(&self, xs: &[u64], out: &mut [u32], kernel: Kernel) {
        self.batch_kernel(xs, out, &mut [], kernel)
    }

    /// [`owners_batch`](Self::owners_batch) that also writes, into `next`, the owner of the point
    /// after each key's, or [`NO_NEXT`] where it is not at hand (see
    /// [`settle_pair`](Self::settle_pair)): the health walk's second step, read in the same pass.
    /// `next.len() == xs.len()`.
    pub(crate) fn owners_pair_batch(
        &self,
        xs: &[u64],
        out: &mut [u32],
        next: &mut [u32],
        kernel: Kernel,
    ) {
        debug_assert_eq!(xs.len(), next.len());
        self.batch_kernel(xs, out, next, kernel)
    }

    /// The kernels' batch: owners into `out`, and the next owners into `next` unless it is empty.
    fn batch_kernel(&self, xs: &[u64], out: &mut [u32], next: &mut [u32], kernel: Kernel) {
        debug_assert_eq!(xs.len(), out.len());
        debug_assert!(self.packed.len() > 0);
        match kernel {
            Kernel::Scalar if next.is_empty() => {
                for (o, &x) in out.iter_mut().zip(xs) {
                    *o = self.packed.id(self.packed.owner_of(self.find_scalar(x)));
                }
            }
            Kernel::Scalar => {
                for ((o, n), &x) in out.iter_mut().zip(next.iter_mut()).zip(xs) {
                    let (first, second) = self
                        .owner_pair_at_or_after(x)
                        .expect("the index is not empty");
                    *o = first;
                    *n = second.unwrap_or(NO_NEXT);
                }
            }
            Kernel::Portable => self.batch_with::<4>(xs, out, next, window_count, window_count),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => super::simd::avx2::radix_batch(self, xs, out, next),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => super::simd::avx512::radix_batch(self, xs, out, next),
            #[cfg(not(target_arch = "x86_64"))]
            Kernel::Avx2 | Kernel::Avx512 => {
                self.batch_with::<4>(xs, out, next, window_count, window_count)
            }
        }
    }

    /// The staged batch loop, generic over how windows are counted (`wide(w, x)` for a flat ring's
    /// buckets, `W` slots a window, and `narrow(w, k)` for a paged ring's, 4 slots a window: the
    /// slots of `w` below the search key `k`; see `Packed::count` and `Packed::searched`). Keys travel in groups of [`GROUP`]: stage 1
    /// reads every (normalized) key's page address and prefetches the page's table, stage 2 reads the bucket
    /// bounds and prefetches every bucket's first line, stage 3 counts. The loads of a group overlap instead of queueing one
    /// behind the other.
    /// With a non-empty `next`, each key's next owner is written there too (see
    /// [`owners_pair_batch`](Self::owners_pair_batch)).
    #[inline(always)]
    pub(crate) fn batch_with<const W: usize>(
        &self,
        xs: &[u64],
        out: &mut [u32],
        next: &mut [u32],
        wide: impl Fn(&[u64; W], u64) -> u32,
        narrow: impl Fn(&[u64; 4], u64) -> u32,
    ) {
        // Builds of the loop: keys of 64-bit positions go as they are (normalizing them cost
        // about 15 % per key at 100 nodes), others are normalized at each stage; the pair build
        // only for the health walk.
        match (self.packed.norm() == 0, next.is_empty()) {
            (true, true) => self.batch_loop::<W, false, false>(xs, out, next, wide, narrow),
            (false, true) => self.batch_loop::<W, true, false>(xs, out, next, wide, narrow),
            (true, false) => self.batch_loop::<W, false, true>(xs, out, next, wide, narrow),
            (false, false) => self.batch_loop::<W, true, true>(xs, out, next, wide, narrow),
        }
    }

    /// [`batch_with`](Self::batch_with)'s loop; `NORM`: normalize the keys; `PAIR`: write the next
    /// owners into `next` (as long as `xs`).
    #[inline(always)]
    fn batch_loop<const W: usize, const NORM: bool, const PAIR: bool>(
        &self,
        xs: &[u64],
        out: &mut [u32],
        next: &mut [u32],
        wide: impl Fn(&[u64; W], u64) -> u32,
        narrow: impl Fn(&[u64; 4], u64) -> u32,
    ) {
        let p = &self.packed;
        let key = |x: u64| if NORM { p.key(x) } else { x };
        // The last stage, the same whichever way the buckets were found: count each bucket (a flat
        // ring's in wide windows, a paged ring's in narrow ones: see `Packed::count`).
        let finish = |out: &mut [u32],
                      next: &mut [u32],
                      xs: &[u64],
                      buckets: &[Bucket; GROUP],
                      flat: bool| {
            for (i, ((o, &x), &b)) in out.iter_mut().zip(xs).zip(buckets).enumerate() {
                let x = key(x);
                let rank = if flat {
                    let k = packed::quantize(x);
                    p.count_flat::<W>(b, |w| wide(w, k))
                } else {
                    let k = p.paged_key(x);
                    p.count::<4>(b, |w| narrow(w, k))
                };
                if PAIR {
                    (*o, next[i]) = self.settle_pair(b, rank, x);
                } else {
                    *o = p.id(p.owner_of(self.settle(b, rank, x)));
                }
            }
        };
        let mut buckets = [Bucket::EMPTY; GROUP];
        if let Some(dir) = p.dir() {
            for (g, (xs, out)) in xs.chunks(GROUP).zip(out.chunks_mut(GROUP)).enumerate() {
                for &x in xs {
                    prefetch_read(dir.hint(key(x)));
                }
                for (b, &x) in buckets.iter_mut().zip(xs) {
                    let bucket = dir.bucket(key(x));
                    prefetch_window(p.slot_hint(bucket));
                    *b = bucket;
                }
                finish(out, group_of::<PAIR>(next, g, xs.len()), xs, &buckets, true);
            }
            return;
        }
        let mut entries = [Entry::EMPTY; GROUP];
        // Page addresses of a large ring miss the cache too: fetch them a stage ahead (measured:
        // ~4 % fewer ns per key at 10,000 nodes, ~7 % more at 1000 nodes, where they stay cached).
        let far = p.pages() > FAR_PAGES;
        for (g, (xs, out)) in xs.chunks(GROUP).zip(out.chunks_mut(GROUP)).enumerate() {
            if far {
                for &x in xs {
                    prefetch_read(p.head_hint(key(x)));
                }
            }
            for (e, &x) in entries.iter_mut().zip(xs) {
                let entry = p.entry(key(x));
                prefetch_read(entry.hint());
                *e = entry;
            }
            for (b, &e) in buckets.iter_mut().zip(&entries) {
                let bucket = p.bucket_at(e);
                prefetch_window(p.slot_hint(bucket));
                *b = bucket;
            }
            finish(
                out,
                group_of::<PAIR>(next, g, xs.len()),
                xs,
                &buckets,
                false,
            );
        }
    }
}

/// Group `g`'s part (`len` long) of a batch's `next` owners: nothing unless `PAIR`.
#[inline(always)]
fn group_of<const PAIR: bool>(next: &mut [u32], g: usize, len: usize) -> &mut [u32] {
    if PAIR {
        &mut next[g * GROUP..g * GROUP + len]
    } else {
        &mut []
    }
}

/// [`Radix::iter_from`]'s iterator: (position as the profile has it, node id).
pub(crate) struct Points<'a> {
    radix: &'a Radix,
    inner: packed::Points<'a>,
}

impl Iterator for Points<'_> {
    type Item = (u64, u32);

    #[inline]
    fn next(&mut self) -> Option<(u64, u32)> {
        let p = &self.radix.packed;
        self.inner.next().map(|(x, s)| (x >> p.norm(), p.id(s)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

/// Prefetch hints for a window of [`WINDOW_MAX`] slots from `first`: its first and its last slot's
/// lines, which differ unless the window is line-aligned (measured: the second hint takes ~15 %
/// off a batch key at 1000 nodes and ~20 % at 10,000).
#[inline(always)]
fn prefetch_window(first: *const u64) {
    prefetch_read(first);
    prefetch_read(first.wrapping_add(WINDOW_MAX - 1));
}

/// The portable window count: the slots of `w` below `k`, the bucket's search key
/// ([`Packed::searched`]: a flat ring's slots compare below it exactly when their top 48 bits
/// are lower, a paged ring's exactly when their positions are). Every slot of a window this narrow
/// is a point of the bucket, a later point, the page's sentinel or one of its [`PAGE_PADS`] pads,
/// so no slot past the bucket is counted and no lane needs masking (masks cost single lookups
/// ~2 ns at 100 nodes: a compare and a select per lane in front of the adds).
#[inline(always)]
pub(crate) fn window_count<const W: usize>(w: &[u64; W], k: u64) -> u32 {
    const { assert!(W <= PAGE_PADS + 1) };
    w.iter().map(|&p| u32::from(p < k)).sum()
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
            // At most 249 points in all, so that a page holds them whatever their spread.
            prop::collection::vec((0usize..6, any::<u16>(), any::<bool>()), 0..190),
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

    /// [`crowded_points`] narrowed to a random bit width (32-bit profiles, tiny literal positions),
    /// with a normalization shift that keeps them in 64 bits (none, all the room, or some).
    fn narrowed_points() -> impl Strategy<Value = (Vec<u64>, u32)> {
        (crowded_points(), 1u32..=64, 0u32..3, any::<u32>()).prop_map(|(v, width, how, r)| {
            let mut v: Vec<u64> = v
                .into_iter()
                .map(|p| if width == 64 { p } else { p >> (64 - width) })
                .collect();
            v.sort_unstable();
            let room = 64 - width;
            let norm = match how {
                0 => 0,
                1 => room,
                _ => r % (room + 1),
            };
            (v, norm)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Every kernel this CPU has returns the reference answer, for keys on, next to and between
        /// points, in crowded buckets, with equal top 48 bits, and past the last point (wrap).
        #[test]
        fn every_kernel_equals_the_reference((points, norm) in prop_oneof![crowded_points().prop_map(|v| (v, 0)), narrowed_points()], random in prop::collection::vec(any::<u64>(), 0..64)) {
            let owners: Vec<u32> = (0..points.len() as u32).map(|i| i % 65_536).collect();
            let radix = Radix::build(&points, &owners, norm).unwrap();
            prop_assert!(radix.packed.dir().is_some());
            // The same ring searched through its pages, as rings too large for a directory are.
            let paged = Radix::from_packed(radix.packed.clone().without_dir());
            let mut xs = random;
            for &p in &points {
                xs.extend([p, p.wrapping_sub(1), p.wrapping_add(1), p & !0xFFFF, p | 0xFFFF]);
            }
            xs.extend([0, u64::MAX, u64::MAX >> norm, (u64::MAX >> norm).wrapping_add(1)]);
            let want: Vec<u32> = xs.iter().map(|&x| owners[lower_bound_wrap(&points, x)]).collect();
            for (i, &x) in xs.iter().enumerate() {
                prop_assert_eq!(radix.owner_at_or_after(x), Some(want[i]));
                prop_assert_eq!(paged.owner_at_or_after(x), Some(want[i]));
                let r = lower_bound_wrap(&points, x);
                prop_assert_eq!(radix.rank_at_or_after(x), Some(r));
                prop_assert_eq!(radix.point_at_or_after(x), Some((points[r], owners[r])));
                // The health walk: the first owner from the key's point on (one turn) that the
                // filter keeps, here owners not divisible by `skip`.
                for skip in [1, 2, 3, 7] {
                    let keep = |o: u32| !o.is_multiple_of(skip);
                    let want_up = (0..points.len())
                        .map(|i| owners[(r + i) % points.len()])
                        .find(|&o| keep(o));
                    prop_assert_eq!(radix.first_owner_at_or_after(x, keep), want_up);
                    prop_assert_eq!(paged.first_owner_at_or_after(x, keep), want_up);
                    prop_assert_eq!(radix.first_owner_searched(x, keep), want_up);
                    prop_assert_eq!(paged.first_owner_searched(x, keep), want_up);
                }
            }
            // The next owner, where a lookup reads it: the owner of the point after the key's.
            let next_of = |x: u64| owners[(lower_bound_wrap(&points, x) + 1) % points.len()];
            for &x in &xs {
                let (first, next) = radix.owner_pair_at_or_after(x).unwrap();
                prop_assert_eq!(first, owners[lower_bound_wrap(&points, x)]);
                prop_assert!(next.is_none_or(|n| n == next_of(x)), "{:?} for {}", next, x);
            }
            for kernel in crate::search::kernels_under_test("radix::every_kernel_equals_the_reference") {
                let mut out = vec![0u32; xs.len()];
                for r in [&radix, &paged] {
                    out.fill(0);
                    r.owners_batch(&xs, &mut out, kernel);
                    prop_assert_eq!(&out, &want, "kernel {}", kernel);
                }
                let mut next = vec![0u32; xs.len()];
                for r in [&radix, &paged] {
                    out.fill(0);
                    r.owners_pair_batch(&xs, &mut out, &mut next, kernel);
                    prop_assert_eq!(&out, &want, "pair batch, kernel {}", kernel);
                    for (&x, &n) in xs.iter().zip(&next) {
                        prop_assert!(n == NO_NEXT || n == next_of(x), "kernel {}: {} for {}", kernel, n, x);
                    }
                }
            }
        }
    }

    /// On a ring of spread-out points the next owner is at hand for almost every key (it is
    /// missing only after the exact path or a page's last point), single or batched.
    #[test]
    fn next_owner_is_usually_at_hand() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut points: Vec<u64> = (0..16_000).map(|_| rnd()).collect();
        points.sort_unstable();
        let owners: Vec<u32> = (0..points.len() as u32).map(|i| i % 100).collect();
        let radix = Radix::build(&points, &owners, 0).unwrap();
        let keys: Vec<u64> = (0..4096).map(|_| rnd()).collect();
        let single = keys
            .iter()
            .filter(|&&k| radix.owner_pair_at_or_after(k).unwrap().1.is_some())
            .count();
        assert!(single > 4096 * 9 / 10, "{single} of 4096");
        for kernel in Kernel::available() {
            let (mut out, mut next) = (vec![0u32; keys.len()], vec![0u32; keys.len()]);
            radix.owners_pair_batch(&keys, &mut out, &mut next, kernel);
            let known = next.iter().filter(|&&n| n != NO_NEXT).count();
            assert!(known > 4096 * 9 / 10, "{kernel}: {known} of 4096");
        }
    }

    #[test]
    fn single_point_ring_wraps() {
        let r = Radix::build(&[1000], &[7], 0).unwrap();
        for x in [0, 999, 1000, 1001, u64::MAX] {
            assert_eq!(r.owner_at_or_after(x), Some(7));
        }
    }
}
