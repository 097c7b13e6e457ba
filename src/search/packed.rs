//! The radix layout's storage: the packed points, the low bits of their positions and the bucket
//! table, built together so that every read a search makes is in bounds by construction. That lets
//! the hot loops read without bounds checks (measured by alternating A/B runs of the batch loop,
//! minima of six: about 20 % fewer ns per key), and keeps all of the layout's `unsafe` in this one
//! small module.
//!
//! This is the whole of a radix ring: a slot's top 48 bits and the point's entry in `lows` make its
//! full position, and the slot's low 16 bits its owner, so a ring keeps no other copy of its points
//! and a publication writes only these arrays.
//!
//! Positions are stored *normalized*: shifted left by `norm` bits, so that a profile whose positions
//! are 32 bits wide uses the top 32 bits of the packed field, not bits 16 to 31 (where most keys
//! would share their top 48 bits with a point and take the exact path). Keys are normalized the same
//! way before a search ([`Packed::key`]); the shift keeps the order of every position and key the
//! profile can produce, and a key too large to shift sorts above every point, as it does unshifted.
//!
//! Invariants, established by [`Packed::from_parts`] (which every constructor ends in) and never
//! changed afterwards (the fields are private and no method hands out `&mut` access):
//! 1. `table.len() >= 3` and every entry is `<= n`;
//! 2. `slots.len() > n + WINDOW_MAX`: after the `n` points come a wrap sentinel at index `n` and
//!    [`PAD`]s, so a window of up to [`WINDOW_MAX`] slots that starts at any index `<= n` is in bounds,
//!    and so is every [`Rank`] a count returns (`<= n + WINDOW_MAX`).

/// Filler after the wrap sentinel: never counted as below a key (nothing is above `u64::MAX`).
pub(crate) const PAD: u64 = u64::MAX;

/// The widest window a count may read at once, in slots.
pub(crate) const WINDOW_MAX: usize = 8;

/// The bucket table is sized for about this many points per bucket (measured: `benches/search.rs`).
const POINTS_PER_BUCKET: usize = 2;

/// A key's packed form: its top 48 bits, low 16 zero.
#[inline(always)]
pub(crate) fn quantize(x: u64) -> u64 {
    x & !0xFFFF
}

/// The packed slot of a point at position `p` owned by `owner` (which must fit 16 bits).
#[inline(always)]
pub(crate) fn pack(p: u64, owner: u32) -> u64 {
    debug_assert!(owner <= 0xFFFF);
    quantize(p) | u64::from(owner & 0xFFFF)
}

/// The slot and low bits of a point at position `p` (as the profile has it, below `2^(64 - norm)`)
/// owned by `owner`, normalized by `norm`.
#[inline(always)]
pub(crate) fn pack_point(p: u64, owner: u32, norm: u32) -> (u64, u16) {
    let q = p << norm;
    (pack(q, owner), q as u16)
}

/// The owner id in a packed slot.
#[inline(always)]
pub(crate) fn slot_owner(slot: u64) -> u32 {
    (slot & 0xFFFF) as u32
}

/// The full position of a point from its slot and its low bits.
#[inline(always)]
pub(crate) fn position(slot: u64, low: u16) -> u64 {
    quantize(slot) | u64::from(low)
}

/// How many slots to reserve for packing `points` points: the points, the sentinel and the pads.
#[inline]
pub(crate) fn slot_capacity(points: usize) -> usize {
    ((points + WINDOW_MAX).div_ceil(8) + 1) * 8
}

/// The points of one bucket: ranks `start..end`, both `<= n` (only [`Packed::bucket`] makes one).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bucket {
    start: usize,
    end: usize,
}

impl Bucket {
    /// An empty bucket at rank 0 (a placeholder; valid for every ring).
    pub(crate) const EMPTY: Bucket = Bucket { start: 0, end: 0 };

    /// The rank of the bucket's first point.
    #[inline(always)]
    pub(crate) fn start(self) -> usize {
        self.start
    }
}

/// A rank found by [`Packed::count`]: at most `n + WINDOW_MAX` (exactly the search's rank, at most
/// `n`, when the window counts are right), so its slot can be read without a bounds check.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rank(usize);

impl Rank {
    /// The rank as a number.
    #[inline(always)]
    pub(crate) fn get(self) -> usize {
        self.0
    }
}

/// The packed points, their low bits and the bucket table (see the module docs for the invariants).
#[derive(Clone)]
pub(crate) struct Packed {
    /// The `n` packed points in sorted order, then the wrap sentinel and pads.
    slots: Vec<u64>,
    /// `lows[r]`: the low 16 bits of point `r`'s position (cold: read by the exact path and by
    /// whoever needs full positions).
    lows: Vec<u16>,
    /// `table[i]` = rank of the first point `p` with `p >> shift >= i`; the last two entries are `n`.
    table: Vec<u32>,
    shift: u32,
    n: usize,
    /// Positions and keys are shifted left by this many bits (0 for 64-bit positions, 32 for 32-bit
    /// ones); every position stored is below `2^(64 - norm)` before the shift.
    norm: u32,
}

impl Packed {
    /// Packs `points` (sorted ascending, each below `2^(64 - norm)`) with their `owners`; `None` if an
    /// owner does not fit 16 bits or `norm` is not below 64.
    pub(crate) fn build(points: &[u64], owners: &[u32], norm: u32) -> Option<Self> {
        debug_assert_eq!(points.len(), owners.len());
        let n = points.len().min(owners.len());
        if owners.iter().fold(0, |acc, &o| acc | o) >> 16 != 0
            || n >= u32::MAX as usize
            || norm >= 64
        {
            return None;
        }
        debug_assert!(points.last().is_none_or(|&p| p <= u64::MAX >> norm));
        let mut slots = Vec::with_capacity(slot_capacity(n));
        let mut lows = Vec::with_capacity(n);
        for (&p, &o) in points[..n].iter().zip(&owners[..n]) {
            let (slot, low) = pack_point(p, o, norm);
            slots.push(slot);
            lows.push(low);
        }
        Some(Self::from_parts(slots, lows, norm, None))
    }

    /// The packing whose points the caller has packed already: `slots` holds exactly the points, in
    /// sorted order (made with [`pack`] from positions normalized by `norm`, reserved with
    /// [`slot_capacity`] to avoid a reallocation), and `lows` their low 16 bits. The sentinel and
    /// pads are appended here. (`norm` is taken modulo 64.)
    ///
    /// `prior`: the packing this one replaces and the changes from it (each added point's position
    /// with `+1`, each removed one's with `-1`, in any order). When the table keeps its geometry
    /// (almost always: it changes only when the point count crosses a power of two), the new table
    /// is the old one plus a step function of the changes: one streaming pass instead of a scatter
    /// of every point.
    #[inline(always)]
    pub(crate) fn from_parts(
        mut slots: Vec<u64>,
        mut lows: Vec<u16>,
        norm: u32,
        prior: Option<(&Packed, &mut [(u64, i32)])>,
    ) -> Self {
        let norm = norm % 64;
        debug_assert_eq!(slots.len(), lows.len());
        lows.truncate(slots.len());
        let n = slots.len().min(u32::MAX as usize - 1);
        slots.truncate(n);
        lows.resize(n, 0);
        let last = n.checked_sub(1).map(|r| position(slots[r], lows[r]));
        let sentinel = quantize(PAD) | slots.first().map_or(0xFFFF, |&s| s & 0xFFFF);
        slots.push(sentinel);
        slots.resize(slot_capacity(n), PAD);
        let (bits, shift) = Self::geometry(n, last);
        let buckets = 1usize << bits;
        let table = match prior {
            Some((old, changes))
                if old.shift == shift
                    && old.norm == norm
                    && old.table.len() == buckets + 2
                    && changes.len() <= n / 8 =>
            {
                old.table_after(changes, shift, n)
            }
            _ => {
                // table[b + 1] = one past the last rank of bucket b, written (not incremented)
                // point by point in order, then a running max fills the empty buckets: no
                // read-modify-write chain.
                let mut table = vec![0u32; buckets + 2];
                for (i, (&s, &l)) in slots[..n].iter().zip(&lows).enumerate() {
                    // The geometry's `used` bits cover every point, so `p >> shift < buckets`.
                    table[(position(s, l) >> shift) as usize + 1] = i as u32 + 1;
                }
                let mut run = 0u32;
                for t in table.iter_mut() {
                    run = run.max(*t);
                    *t = run;
                }
                table
            }
        };
        Self {
            slots,
            lows,
            table,
            shift,
            n,
            norm,
        }
    }

    /// This table moved by `changes` (same geometry): a point of bucket b counts in entries b + 1
    /// onwards, so from each change's entry on, the old entries move by the changes met so far.
    /// Clamping at `n` keeps invariant 1 whatever the input (with right input it never bites: the
    /// table's last entries are exactly `n`).
    #[inline(always)]
    fn table_after(&self, changes: &mut [(u64, i32)], shift: u32, n: usize) -> Vec<u32> {
        changes.sort_unstable();
        let cap = n as u32;
        let mut table = Vec::with_capacity(self.table.len());
        let (mut from, mut delta) = (0usize, 0i32);
        for &(p, d) in changes.iter() {
            let at = ((p >> shift) as usize + 1).clamp(from, self.table.len());
            table.extend(
                self.table[from..at]
                    .iter()
                    .map(|&t| t.wrapping_add_signed(delta).min(cap)),
            );
            from = at;
            delta += d;
        }
        table.extend(
            self.table[from..]
                .iter()
                .map(|&t| t.wrapping_add_signed(delta).min(cap)),
        );
        table
    }

    /// The table's size (`bits`: 2^bits buckets) and the shift that takes a position to its bucket,
    /// for `n` sorted points whose largest is `last`: about [`POINTS_PER_BUCKET`] points per bucket,
    /// at least 2 buckets (a shift of 64 is no shift), indexed by the top `bits` of the bits the
    /// positions actually use (a 32-bit profile's points all sit below 2^32), so buckets stay small
    /// whatever the key space.
    fn geometry(n: usize, last: Option<u64>) -> (u32, u32) {
        let bits = (n / POINTS_PER_BUCKET)
            .max(2)
            .next_power_of_two()
            .trailing_zeros()
            .clamp(1, 32);
        let used = last.map_or(64, |hi| 64 - hi.leading_zeros());
        (bits, used.saturating_sub(bits))
    }

    /// The number of points.
    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        self.n
    }

    /// All slots: the `n` packed points, the wrap sentinel, then pads.
    #[inline(always)]
    pub(crate) fn slots(&self) -> &[u64] {
        &self.slots
    }

    /// The packed points alone (`n` slots).
    #[inline]
    pub(crate) fn points(&self) -> &[u64] {
        &self.slots[..self.n]
    }

    /// The low 16 bits of each point's position (`n` entries).
    #[inline]
    pub(crate) fn lows(&self) -> &[u16] {
        &self.lows
    }

    /// The normalization shift (see the module docs).
    #[inline(always)]
    pub(crate) fn norm(&self) -> u32 {
        self.norm
    }

    /// A search key `x` normalized: shifted as the positions are, or `u64::MAX` (above every point)
    /// if it is too large to shift, being above every position the profile has.
    #[inline(always)]
    pub(crate) fn key(&self, x: u64) -> u64 {
        if x > u64::MAX >> self.norm {
            u64::MAX
        } else {
            x << self.norm
        }
    }

    /// The normalized position of point `r < n`.
    #[inline]
    pub(crate) fn norm_position(&self, r: usize) -> u64 {
        position(self.slots[..self.n][r], self.lows[r])
    }

    /// The position of point `r < n`, as the profile has it.
    #[inline]
    pub(crate) fn position(&self, r: usize) -> u64 {
        self.norm_position(r) >> self.norm
    }

    /// The owner of point `r < n`.
    #[inline]
    pub(crate) fn owner(&self, r: usize) -> u32 {
        slot_owner(self.slots[..self.n][r])
    }

    /// The exact rank of the first point `>= x` (a normalized key) given that it lies in bucket `b`
    /// or is the first point after it: a binary search of the bucket's full positions (the cold path,
    /// for a key whose top 48 bits equal a point's).
    pub(crate) fn exact_rank(&self, b: Bucket, x: u64) -> usize {
        let (mut lo, mut hi) = (b.start, b.end.max(b.start));
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.norm_position(mid) < x {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Whether two packings are identical, field by field (for tests).
    #[cfg(test)]
    pub(crate) fn same_as(&self, other: &Packed) -> bool {
        self.slots == other.slots
            && self.lows == other.lows
            && self.table == other.table
            && self.shift == other.shift
            && self.n == other.n
            && self.norm == other.norm
    }

    /// The table entry of position `x`, as a pointer for a prefetch hint only (never dereferenced;
    /// may point past the table for keys above every point).
    #[inline(always)]
    pub(crate) fn table_hint(&self, x: u64) -> *const u32 {
        self.table.as_ptr().wrapping_add((x >> self.shift) as usize)
    }

    /// The slot at `start`, as a pointer for a prefetch hint only.
    #[inline(always)]
    pub(crate) fn slot_hint(&self, start: usize) -> *const u64 {
        self.slots().as_ptr().wrapping_add(start)
    }

    /// The bucket that position `x` falls in (positions above every bucket get the empty bucket
    /// `[n, n)`).
    #[inline(always)]
    pub(crate) fn bucket(&self, x: u64) -> Bucket {
        let i = ((x >> self.shift) as usize).min(self.table.len() - 2);
        // SAFETY: `i <= table.len() - 2` (invariant 1: `table.len() >= 3`, so no underflow), so both
        // `i` and `i + 1` are in bounds.
        let (start, end) = unsafe {
            (
                *self.table.get_unchecked(i) as usize,
                *self.table.get_unchecked(i + 1) as usize,
            )
        };
        Bucket { start, end }
    }

    /// The slot at a counted rank.
    #[inline(always)]
    pub(crate) fn slot_at(&self, r: Rank) -> u64 {
        // SAFETY: `r.0 <= n + WINDOW_MAX < slots().len()` (`Rank`'s bound, invariant 2).
        unsafe { *self.slots().get_unchecked(r.0) }
    }

    /// The slot at any rank `<= n` (checked; for the cold exact path).
    #[inline]
    pub(crate) fn slot(&self, rank: usize) -> u64 {
        self.slots()[rank]
    }

    /// The bucket's start plus the count of its packed points below the key, counted one window of
    /// `W` slots at a time from the bucket's start until its end is covered: `window` counts one
    /// window (a count above `W` is taken as `W`, which keeps the rank in bounds whatever it says). Counting past the end is
    /// exact (every slot after a bucket holds a later bucket's point, the sentinel or a pad, none of
    /// them below the key), and fixed-size windows make a fixed amount of branch-free work for the
    /// ~95 % of buckets that fit one window.
    #[inline(always)]
    pub(crate) fn count<const W: usize>(
        &self,
        b: Bucket,
        mut window: impl FnMut(&[u64; W]) -> u32,
    ) -> Rank {
        const { assert!(W > 0 && W <= WINDOW_MAX) };
        let slots = self.slots();
        let mut c = 0u32;
        let mut i = b.start;
        loop {
            // SAFETY: `i <= n`: it starts at `b.start <= n` (invariant 1) and the loop continues
            // only while `i < b.end <= n`. So `i + W <= n + WINDOW_MAX <= slots.len()` (invariant 2),
            // and the `W` slots from `i` are in bounds; `[u64; W]` has `u64`'s alignment.
            let w = unsafe { &*slots.as_ptr().add(i).cast::<[u64; W]>() };
            c += window(w).min(W as u32);
            i += W;
            if i >= b.end {
                // `c <= i - b.start` and `i <= n + W`: the rank is at most `n + WINDOW_MAX`.
                return Rank(b.start + c as usize);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_slots_hold_the_invariants() {
        for n in [0usize, 1, 2, 3, 7, 8, 9, 100, 1000] {
            let points: Vec<u64> = (0..n as u64)
                .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let owners: Vec<u32> = (0..points.len() as u32).collect();
            let p = Packed::build(&points, &owners, 0).unwrap();
            assert!(p.table.len() >= 3);
            assert!(p.table.windows(2).all(|w| w[0] <= w[1]));
            assert!(p.table.iter().all(|&t| t as usize <= n));
            assert!(p.slots().len() > n + WINDOW_MAX);
            assert_eq!(p.points().len(), n);
            for (r, &pt) in points.iter().enumerate() {
                let b = p.bucket(pt);
                assert!(b.start <= r && r < b.end, "n={n} r={r}");
                assert_eq!(p.owner(r), owners[r]);
                assert_eq!(p.position(r), pt);
                assert_eq!(p.exact_rank(b, pt), r);
            }
            if n > 0 {
                assert_eq!(
                    p.slot(n) & 0xFFFF,
                    u64::from(owners[0]),
                    "the wrap sentinel"
                );
            }
        }
    }

    proptest::proptest! {
        /// A packing made from parts after random additions and removals, updating the old table, is
        /// exactly the fresh build of the result (same table, slots and low bits).
        #[test]
        fn from_parts_with_prior_equals_build(
            base in proptest::collection::btree_set(proptest::prelude::any::<u64>(), 0..3000),
            added in proptest::collection::btree_set(proptest::prelude::any::<u64>(), 0..200),
            drop_every in 2usize..200,
            width in proptest::prop_oneof![proptest::strategy::Just(64u32), 20u32..64],
            normalize in proptest::prelude::any::<bool>(),
        ) {
            let narrow = |p: u64| if width == 64 { p } else { p >> (64 - width) };
            let norm = if normalize { 64 - width } else { 0 };
            let old: Vec<u64> = base.iter().map(|&p| narrow(p)).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
            let old_owners: Vec<u32> = (0..old.len() as u32).map(|i| i % 1000).collect();
            let before = Packed::build(&old, &old_owners, norm).unwrap();
            let mut changes = Vec::new();
            let mut next: Vec<(u64, u32)> = Vec::new();
            for (i, (&p, &o)) in old.iter().zip(&old_owners).enumerate() {
                if i % drop_every == 0 {
                    changes.push((p, -1));
                } else {
                    next.push((p, o));
                }
            }
            for &p in &added {
                let p = narrow(p);
                if old.binary_search(&p).is_err() && !next.iter().any(|&(q, _)| q == p) {
                    changes.push((p, 1));
                    next.push((p, 7));
                }
            }
            next.sort_unstable();
            let slots: Vec<u64> = next.iter().map(|&(p, o)| pack(p << norm, o)).collect();
            let lows: Vec<u16> = next.iter().map(|&(p, _)| (p << norm) as u16).collect();
            for c in changes.iter_mut() {
                c.0 <<= norm;
            }
            let after = Packed::from_parts(slots, lows, norm, Some((&before, &mut changes)));
            let (points, owners): (Vec<u64>, Vec<u32>) = next.into_iter().unzip();
            let fresh = Packed::build(&points, &owners, norm).unwrap();
            for (r, &p) in points.iter().enumerate() {
                proptest::prop_assert_eq!(after.position(r), p);
            }
            proptest::prop_assert_eq!(after.shift, fresh.shift);
            proptest::prop_assert_eq!(after.n, fresh.n);
            proptest::prop_assert_eq!(&after.table, &fresh.table);
            proptest::prop_assert_eq!(after.slots(), fresh.slots());
            proptest::prop_assert_eq!(after.lows(), fresh.lows());
        }
    }

    #[test]
    fn rejects_owners_beyond_16_bits() {
        assert!(Packed::build(&[1, 2], &[0, 65_536], 0).is_none());
        assert!(Packed::build(&[1, 2], &[0, 65_535], 0).is_some());
    }

    #[test]
    fn keys_too_large_to_normalize_sort_above_every_point() {
        let p = Packed::build(&[5, u64::from(u32::MAX)], &[0, 1], 32).unwrap();
        assert_eq!(p.key(7), 7 << 32);
        assert_eq!(p.key(u64::from(u32::MAX) + 1), u64::MAX);
        assert_eq!(p.position(1), u64::from(u32::MAX));
        assert_eq!(p.norm_position(1), u64::from(u32::MAX) << 32);
    }
}
