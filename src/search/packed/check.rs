//! Test support: every invariant of a packing checked against its pages, views for tests, and
//! sample positions.

use super::{
    page_lines, position, sentinel, slot_owner, Form, Packed, DIR_MAX, EMPTY_PAGE, LOCAL,
    LOCAL_BITS, PAD, SLOT_BYTE, TABLE_WORDS, TAIL, WINDOW_MAX,
};

impl Packed {
    /// This packing without its directory, so that tests reach the path through the pages: a
    /// flat packing's points packed into pages.
    pub(crate) fn without_dir(self) -> Self {
        self.paged()
    }

    /// The same points (and slot ids) packed into pages, whatever the ring's size: in as many
    /// pages as its slot ids need (a page's slots hold them below its bits; see [`Form`]), and at
    /// least the table its size gives, spanning all 64 bits.
    pub(crate) fn paged(&self) -> Self {
        if self.flat.is_none() {
            return self.clone();
        }
        let (slots, lows) = self.flat_points();
        let bound = self.slot_bound(
            slots
                .iter()
                .map(|&s| slot_owner(s) as usize + 1)
                .max()
                .unwrap_or(0),
        );
        let id_bits = usize::BITS - bound.saturating_sub(1).leading_zeros();
        let (bits, _) = Self::geometry(self.len(), Some(u64::MAX), bound);
        let bits = bits.max(LOCAL_BITS + id_bits);
        Packed::from_sorted_in(
            &slots,
            &lows,
            self.norm,
            self.ids.to_vec(),
            (bits, 64 - bits),
            false,
        )
        .expect("the points of a packing pack again")
    }

    /// Every point's slot and low bits, in order (a flat packing's stand-ins left out).
    fn flat_points(&self) -> (Vec<u64>, Vec<u16>) {
        (0..self.len())
            .map(|r| {
                let x = self.norm_position(r);
                (super::pack(x, slot_owner(self.slot_of_rank(r))), x as u16)
            })
            .unzip()
    }

    /// The packed slot of point `r < len`.
    fn slot_of_rank(&self, r: usize) -> u64 {
        match &self.flat {
            Some(f) => f.slots[self.slot_rank(r)],
            None => {
                let (p, i) = self.page_of_rank(r);
                self.page(p).points()[i]
            }
        }
    }

    /// A flat packing's slots' address (null for a paged one): which memory its arrays took.
    pub(crate) fn flat_address(&self) -> usize {
        self.first.0 as usize
    }

    /// How many stand-ins a flat packing holds (see `Flat::vacant`).
    pub(crate) fn stand_ins(&self) -> usize {
        self.vacant().len()
    }

    /// How many chunks the packing holds (for tests and the notes).
    pub(crate) fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// Every point in order as (normalized position, node id), for comparisons in tests.
    pub(crate) fn contents(&self) -> Vec<(u64, u32)> {
        self.iter_from(0).map(|(p, s)| (p, self.id(s))).collect()
    }

    /// Every page's lines in page order, as words, and the page starts: two packings equal bit
    /// for bit have equal ones. (A page's chunk slot is left out: it says where the page is, not
    /// what it holds.)
    pub(crate) fn page_words(&self) -> (Vec<u64>, Vec<u32>) {
        let mut words = Vec::new();
        for p in 0..self.heads.len() {
            let at = words.len();
            for line in self.page(p).lines() {
                words.extend_from_slice(&line.0);
            }
            let head: &mut [u8] = bytemuck::cast_slice_mut(&mut words[at..at + TABLE_WORDS]);
            head[SLOT_BYTE] = 0;
        }
        (words, self.starts.full())
    }

    /// Checks every invariant and every page's table and sentinel against its points (for tests).
    pub(crate) fn check(&self) {
        if self.flat.is_some() {
            return self.check_flat();
        }
        let pages = self.heads.len();
        assert!(pages >= 1);
        // The heads read are the packing's own array.
        assert!(self.heads.owned);
        assert!(self.dir.is_empty() && self.dir().is_none());
        assert_eq!(self.buckets, pages * LOCAL);
        assert_eq!(self.starts.pages(), pages);
        assert_eq!(self.starts.start(pages), self.n);
        let live: usize = (0..pages).map(|p| page_lines(self.page(p).len())).sum();
        assert_eq!(self.live, live);
        for c in &self.chunks {
            assert!(
                c.lines().last().is_some_and(|l| l.0 == TAIL.0),
                "a chunk's tail"
            );
            assert_eq!((c.base, c.end), (c.base(), c.base() + c.lines().len() * 64));
            assert!(c.slot < u8::MAX);
            let same = self.chunks.iter().filter(|d| d.slot == c.slot).count();
            assert_eq!(same, 1, "chunk slot {} taken once", c.slot);
        }
        let all: Vec<u64> = self.iter_from(0).map(|(p, _)| p).collect();
        assert!(all.windows(2).all(|w| w[0] <= w[1]), "points out of order");
        // The slot form: a page's slots hold its positions' bits below the page's bits.
        assert_eq!(self.shift + self.buckets.trailing_zeros(), 64);
        assert_eq!(self.form, Form::new(64 - self.shift - LOCAL_BITS));
        assert_eq!(self.mask, self.form.mask());
        for p in 0..pages {
            let pg = self.page(p);
            let m = pg.len();
            assert_eq!(self.starts.len(p), m);
            assert_eq!(self.starts.start(p + 1), self.starts.start(p) + m);
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
            let next = self.starts.start(p + 1);
            let want = if self.n == 0 {
                0
            } else {
                let (q, i) = self.page_of_rank(next % self.n);
                self.form.owner(self.page(q).points()[i])
            };
            assert_eq!(
                pg.slots()[m],
                self.form.sentinel(want),
                "sentinel of page {p}"
            );
            assert!(
                pg.slots()[m + 1..].iter().all(|&s| s == PAD),
                "pads of page {p}"
            );
            // Invariant 2's bound: the slot after any counted rank, up to `m + WINDOW_MAX` slots
            // past the page's first, is inside the page's chunk.
            if let Some(c) = self.chunks.iter().find(|c| c.contains(self.heads[p])) {
                assert_eq!(pg.chunk_slot(), c.slot, "page {p}'s chunk slot");
                let end = self.heads[p].0 as usize + 8 * (TABLE_WORDS + m + WINDOW_MAX + 1);
                assert!(
                    end <= c.base() + c.lines().len() * 64,
                    "page {p} at its chunk's end"
                );
            }
        }
    }

    /// [`check`](Self::check) of a flat packing: the arrays' lengths, the points in order, the
    /// sentinel and pads, every directory entry against the points of its bucket.
    fn check_flat(&self) {
        let f = self.flat.as_ref().expect("flat");
        let n = self.n;
        assert!(self.buckets <= DIR_MAX && self.buckets >= LOCAL);
        assert!(self.buckets.is_power_of_two());
        assert!(self.chunks.is_empty() && self.starts.pages() == 0 && self.live == 0);
        assert_eq!(self.heads.len() * LOCAL, self.buckets);
        let empty: *const u64 = EMPTY_PAGE.as_ptr().cast();
        assert!(self.heads.iter().all(|h| h.0 == empty));
        // The empty page is one: no points in any bucket, then its sentinel and pads to its end.
        let pg = self.page(0);
        assert_eq!(pg.len(), 0);
        assert!(pg.table().iter().all(|&e| e == 0));
        let words: &[u64] = bytemuck::cast_slice(&EMPTY_PAGE[..]);
        assert!(words[super::TABLE_WORDS..].iter().all(|&s| s == PAD));
        // The heads are the shared static ones, not an array of the packing's own.
        assert!(!self.heads.owned);
        assert_eq!(self.heads.as_ptr(), super::FLAT_HEADS.as_ptr());
        assert_eq!(f.slots.len(), n + WINDOW_MAX + 1);
        assert_eq!(f.lows.len(), n);
        assert_eq!(self.dir.len(), self.buckets + 1);
        assert!(self.first.0 == f.slots.as_ptr());
        assert!(self.dir().is_some());
        let pos = |r: usize| position(f.slots[r], f.lows[r]);
        assert!((1..n).all(|r| pos(r - 1) <= pos(r)), "points out of order");
        let first = if n > 0 {
            slot_owner(f.slots[0])
        } else {
            0xFFFF
        };
        assert_eq!(f.slots[n], sentinel(first), "sentinel");
        // Stand-ins: ascending ranks below `n`, not all of them, each with the slot id of the
        // next slot that is not one (wrapping).
        let vacant = &f.vacant;
        assert!(vacant.windows(2).all(|w| w[0] < w[1]), "stand-ins in order");
        assert!(vacant.len() < n.max(1) && vacant.iter().all(|&v| (v as usize) < n));
        let standing = |r: usize| vacant.binary_search(&(r as u32)).is_ok();
        for &v in vacant {
            let mut r = (v as usize + 1) % n;
            while standing(r) {
                r = (r + 1) % n;
            }
            assert_eq!(
                slot_owner(f.slots[v as usize]),
                slot_owner(f.slots[r]),
                "stand-in {v}"
            );
        }
        assert!(f.slots[n + 1..].iter().all(|&s| s == PAD));
        let rank = |b: usize| self.dir[b] as usize;
        assert_eq!(rank(0), 0);
        assert_eq!(rank(self.buckets), n);
        for b in 0..self.buckets {
            let (start, end) = (rank(b), rank(b + 1));
            assert!(start <= end, "directory of bucket {b}");
            for r in start..end {
                assert_eq!(
                    ((pos(r) >> self.shift) as usize).min(self.buckets - 1),
                    b,
                    "bucket {b}"
                );
            }
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
