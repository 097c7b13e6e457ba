//! A paged ring's page starts (the ring rank of each page's first point), kept as each page's
//! point count in a byte and the start of every [`BLOCK`]-th page. Safe code only.
//!
//! A publication changes the counts of the ~160 pages a node's points fall in, and so the start of
//! every page after the first of them. Kept as one `u32` a page, the starts were rewritten whole by
//! every publication (16 KiB at 1000 nodes, 128 KiB at 10,000, a pass of adds over runs between
//! the touched pages); kept this way, a publication copies a byte a page, writes the touched pages'
//! counts and moves a start a block. A page's start is then its block's start and the counts
//! before it in its block, which the rank reads (walks from a rank, a point by its rank) sum; no
//! lookup reads them.

use super::PAGE_MAX;

// A page's count fits its byte.
const _: () = assert!(PAGE_MAX <= u8::MAX as usize);

/// Pages a block start covers, as a power of two.
const BLOCK_BITS: u32 = 4;

/// Pages a block start covers: a page's start is its block's and at most `BLOCK - 1` counts.
pub(super) const BLOCK: usize = 1 << BLOCK_BITS;

/// The page starts of a paged ring (see the module docs); empty for a flat one.
#[derive(Clone, Default)]
pub(super) struct Starts {
    /// Each page's point count (at most [`PAGE_MAX`]).
    counts: Box<[u8]>,
    /// The ring rank of the first point of page `b * BLOCK`, for every block `b`, then the point
    /// count: `pages.div_ceil(BLOCK) + 1` entries.
    blocks: Box<[u32]>,
}

impl Starts {
    /// The starts of pages whose starts are `full` (the ring rank of each page's first point, then
    /// the point count: `pages + 1` entries, ascending); `None` if a page holds more than
    /// [`PAGE_MAX`] points.
    pub(super) fn of_full(full: &[u32]) -> Option<Starts> {
        let counts = full
            .windows(2)
            .map(|w| u8::try_from(w[1].wrapping_sub(w[0])).ok())
            .collect::<Option<Box<[u8]>>>()?;
        let pages = counts.len();
        let blocks = (0..=pages.div_ceil(BLOCK))
            .map(|b| full[(b * BLOCK).min(pages)])
            .collect();
        Some(Starts { counts, blocks })
    }

    /// The starts of pages with counts `counts` and block starts `blocks` (both given empty, with
    /// room: arrays taken from a lineage's spares), moved from `self` by a change of the page
    /// counts: the `touched` pages (each once) hold `len(i)` points for the `i`th of them. `None`
    /// if a page would hold more than [`PAGE_MAX`] points or is past the pages.
    pub(super) fn moved(
        &self,
        touched: &[usize],
        len: impl Fn(usize) -> usize,
        (mut counts, mut blocks): (Vec<u8>, Vec<u32>),
    ) -> Option<Starts> {
        counts.extend_from_slice(&self.counts);
        // Each touched page's count set, and its change (modulo 2^32: counts add up below `n`, a
        // `u32`) added at the first block after it; then the blocks' starts moved by the changes
        // so far, in one pass. (A pass over the blocks that took each block's touched pages in
        // turn mispredicted a branch a block.)
        blocks.resize(self.blocks.len(), 0);
        for (i, &t) in touched.iter().enumerate() {
            let m = u8::try_from(len(i)).ok()?;
            let old = counts.get_mut(t)?;
            let change = blocks.get_mut((t >> BLOCK_BITS) + 1)?;
            *change = change
                .wrapping_add(u32::from(m))
                .wrapping_sub(u32::from(*old));
            *old = m;
        }
        let mut delta = 0u32;
        for (b, &s) in blocks.iter_mut().zip(self.blocks.iter()) {
            delta = delta.wrapping_add(*b);
            *b = s.wrapping_add(delta);
        }
        Some(Starts {
            counts: counts.into_boxed_slice(),
            blocks: blocks.into_boxed_slice(),
        })
    }

    /// The number of pages.
    #[cfg(test)]
    pub(super) fn pages(&self) -> usize {
        self.counts.len()
    }

    /// Page `p`'s point count.
    #[inline]
    pub(super) fn len(&self, p: usize) -> usize {
        usize::from(self.counts[p])
    }

    /// The ring rank of page `p`'s first point (`p <= pages`: the point count at `pages`).
    #[inline]
    pub(super) fn start(&self, p: usize) -> usize {
        let b = p >> BLOCK_BITS;
        let before: usize = self.counts[b << BLOCK_BITS..p]
            .iter()
            .map(|&m| usize::from(m))
            .sum();
        self.blocks[b] as usize + before
    }

    /// The page and local rank of ring rank `r` (below the point count).
    #[inline]
    pub(super) fn page_of_rank(&self, r: usize) -> (usize, usize) {
        // The last block starting at or before `r` (a block of empty pages starts where the next
        // does, which is then the last).
        let b = self.blocks.partition_point(|&s| s as usize <= r) - 1;
        let mut at = self.blocks[b] as usize;
        let mut p = b << BLOCK_BITS;
        while at + self.len(p) <= r {
            at += self.len(p);
            p += 1;
        }
        (p, r - at)
    }

    /// The arrays, to give back to the lineage's spares.
    pub(super) fn into_arrays(self) -> (Vec<u8>, Vec<u32>) {
        (self.counts.into_vec(), self.blocks.into_vec())
    }

    /// Every page's start, then the point count (`pages + 1` entries; none for a flat ring's).
    #[cfg(test)]
    pub(super) fn full(&self) -> Vec<u32> {
        if self.blocks.is_empty() {
            return Vec::new();
        }
        (0..=self.pages()).map(|p| self.start(p) as u32).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Page starts from counts.
    fn full_of(counts: &[u8]) -> Vec<u32> {
        let mut full = vec![0u32];
        for &m in counts {
            full.push(full.last().unwrap() + u32::from(m));
        }
        full
    }

    proptest::proptest! {
        /// Every page's start, count and every rank's page read as the plain starts say, before
        /// and after the counts of some pages change.
        #[test]
        fn starts_read_as_the_plain_starts_before_and_after_a_change(
            counts in proptest::collection::vec(proptest::prelude::prop_oneof![
                3 => 0u8..=3,
                1 => 0u8..=255,
            ], 1..200),
            changes in proptest::collection::btree_map(0usize..200, 0u8..=255, 0..40),
        ) {
            let check = |s: &Starts, counts: &[u8]| {
                let full = full_of(counts);
                proptest::prop_assert_eq!(s.full(), full.clone());
                proptest::prop_assert_eq!(s.pages(), counts.len());
                for (p, &m) in counts.iter().enumerate() {
                    proptest::prop_assert_eq!(s.len(p), usize::from(m));
                }
                for r in 0..*full.last().unwrap() as usize {
                    let p = full.partition_point(|&x| x as usize <= r) - 1;
                    proptest::prop_assert_eq!(s.page_of_rank(r), (p, r - full[p] as usize));
                }
                Ok(())
            };
            let s = Starts::of_full(&full_of(&counts)).unwrap();
            check(&s, &counts)?;
            let touched: Vec<usize> = changes.keys().copied().filter(|&t| t < counts.len()).collect();
            let lens: Vec<usize> = touched.iter().map(|t| usize::from(changes[t])).collect();
            let moved = s.moved(&touched, |i| lens[i], (Vec::new(), Vec::new())).unwrap();
            let mut after = counts.clone();
            for (&t, &m) in touched.iter().zip(&lens) {
                after[t] = m as u8;
            }
            check(&moved, &after)?;
        }
    }

    #[test]
    fn a_page_past_its_most_points_is_refused() {
        assert!(Starts::of_full(&[0, 10, 300]).is_none());
        let s = Starts::of_full(&[0, 10, 20]).unwrap();
        assert!(s.moved(&[1], |_| 256, (Vec::new(), Vec::new())).is_none());
        assert!(s.moved(&[1], |_| 255, (Vec::new(), Vec::new())).is_some());
    }
}
