//! Test support: every invariant of a packing checked against its pages, views for tests, and
//! sample positions.

use super::{page_lines, sentinel, slot_owner, Packed, DIR_MAX, LOCAL, LOCAL_BITS, PAD};

impl Packed {
    /// This packing without its directory, so that tests reach the path through the pages.
    pub(crate) fn without_dir(mut self) -> Self {
        self.dir = Box::default();
        self.dir_lens = Box::default();
        self
    }

    /// How many chunks the packing holds (for tests and the notes).
    pub(crate) fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// Every point in order as (normalized position, node id), for comparisons in tests.
    pub(crate) fn contents(&self) -> Vec<(u64, u32)> {
        self.iter_from(0).map(|(p, s)| (p, self.id(s))).collect()
    }

    /// Checks every invariant and every page's table and sentinel against its points (for tests).
    pub(crate) fn check(&self) {
        let pages = self.heads.len();
        assert!(pages >= 1);
        assert!(self.dir.is_empty() || self.dir.len() == self.buckets);
        assert_eq!(self.dir().is_some(), !self.dir.is_empty());
        assert_eq!(self.dir.is_empty(), self.buckets > DIR_MAX);
        assert_eq!(self.buckets, pages * LOCAL);
        assert_eq!(self.starts.len(), pages + 1);
        assert_eq!(self.starts[pages] as usize, self.n);
        let live: usize = (0..pages).map(|p| page_lines(self.page(p).len())).sum();
        assert_eq!(self.live, live);
        let all: Vec<u64> = self.iter_from(0).map(|(p, _)| p).collect();
        assert!(all.windows(2).all(|w| w[0] <= w[1]), "points out of order");
        for p in 0..pages {
            let pg = self.page(p);
            let m = pg.len();
            assert_eq!(self.starts[p + 1] - self.starts[p], m as u32);
            assert!((self.heads[p].0 as usize).is_multiple_of(64));
            assert!(
                self.chunks.iter().any(|c| c.contains(self.heads[p])) || (m == 0 && self.n == 0)
            );
            for l in 0..LOCAL {
                let (a, b) = (pg.entry(l), pg.entry(l + 1));
                assert!(a <= b && b <= m);
                for i in a..b {
                    let x = pg.norm_position(i) >> self.shift;
                    assert_eq!(x as usize, (p << LOCAL_BITS) + l, "page {p} bucket {l}");
                }
            }
            assert_eq!(pg.entry(0), 0);
            assert_eq!(pg.entry(LOCAL), m);
            let next = self.starts[p + 1] as usize;
            let want = if self.n == 0 {
                0xFFFF
            } else {
                let (q, i) = self.page_of_rank(next % self.n);
                slot_owner(self.page(q).points()[i])
            };
            assert_eq!(pg.slots()[m], sentinel(want), "sentinel of page {p}");
            if !self.dir.is_empty() {
                for l in 0..LOCAL {
                    let g = (p << LOCAL_BITS) + l;
                    let first = pg.slots_ptr().wrapping_add(pg.entry(l));
                    assert!(self.dir[g].0 == first, "directory of page {p} bucket {l}");
                    assert_eq!(usize::from(self.dir_lens[g]), pg.entry(l + 1) - pg.entry(l));
                }
            }
            assert!(pg.slots()[m + 1..].iter().all(|&s| s == PAD));
        }
    }
}

/// `n` (or a few fewer, after deduplication) distinct, well-spread positions, sorted: the same for
/// the same `seed`.
pub(crate) fn sample(n: usize, seed: u64) -> Vec<u64> {
    (0..n as u64)
        .map(|i| (i ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}
