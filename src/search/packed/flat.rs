//! The flat layout of small rings (see the parent module's docs): made from sorted points, read
//! along its ranks, and published by streaming the previous ring's arrays into the next ones with
//! the change spliced in. Safe code only: the lookups' unchecked reads are the parent module's,
//! through the directory this module makes.

use std::sync::Arc;

use super::merge::SlotPlan;
use super::{
    first_not_below, pack, position, quantize, sentinel, slot_owner, Flat, Head, Packed, Spares,
    EMPTY_PAGE, LOCAL, LOCAL_BITS, PAD, WINDOW_MAX,
};

/// The room a flat array of `len` elements is allocated with when made afresh: a sixteenth more,
/// rounded up to 64.
fn room(len: usize) -> usize {
    (len + len / 16).next_multiple_of(64)
}

impl Packed {
    /// The flat packing of `n` sorted points, given as [`Packed::assemble`] is given them: page
    /// starts `starts`, the points by `point(page, rank)` and each page's table by
    /// `table(page, a, b, entries)`, whose entries give the directory's. `None` if the directory
    /// they give is not one (see [`from_flat`](Self::from_flat)).
    pub(super) fn assemble_flat(
        n: usize,
        norm: u32,
        ids: Vec<u32>,
        (bits, shift): (u32, u32),
        starts: &[u32],
        point: impl Fn(usize, usize) -> (u64, u16),
        mut table: impl FnMut(usize, usize, usize, &mut [u16]),
    ) -> Option<Self> {
        let buckets = 1usize << bits;
        let mut slots = Vec::with_capacity(room(n + WINDOW_MAX + 1));
        slots.resize(n + WINDOW_MAX + 1, PAD);
        let mut lows = Vec::with_capacity(room(n));
        lows.resize(n, 0u16);
        let mut dir = vec![0u32; buckets + 1];
        let mut entries = [0u16; LOCAL + 2];
        for (p, w) in starts.windows(2).enumerate() {
            let (a, b) = (w[0] as usize, w[1] as usize);
            entries.fill(0);
            table(p, a, b, &mut entries);
            for l in 0..LOCAL {
                dir[(p << LOCAL_BITS) + l] = w[0] + u32::from(entries[l]);
            }
            for r in a..b.min(n) {
                (slots[r], lows[r]) = point(p, r);
            }
        }
        dir[buckets] = n as u32;
        slots[n] = sentinel(if n > 0 { slot_owner(slots[0]) } else { 0xFFFF });
        let at = |first: usize| Some(dir.iter().map(|&r| first + 8 * r as usize).collect());
        let spares = Arc::new(Spares::default());
        Self::from_flat((slots, lows, spares), at, true, ids, shift, n, norm)
    }

    /// The flat packing of `slots` (`n` packed points in order, the sentinel, [`WINDOW_MAX`] pads),
    /// `lows` (with the lineage's `spares`) and the directory `dir(first)` makes for the slots at
    /// address `first` (each
    /// bucket's first slot's address, then slot `n`'s), or `None` if `dir` declines. The bounds of
    /// every lookup rest on the directory (invariant 4): with `full_check`, every entry is checked
    /// here (a pass of plain integer operations over the directory); without, `dir` must have
    /// checked it (the publication's does, run by run from the previous directory), and only its
    /// length and ends are checked here. `None` if a check fails.
    #[allow(clippy::too_many_arguments)]
    fn from_flat(
        (slots, lows, spares): (Vec<u64>, Vec<u16>, Arc<Spares>),
        dir: impl FnOnce(usize) -> Option<Vec<usize>>,
        full_check: bool,
        ids: Vec<u32>,
        shift: u32,
        n: usize,
        norm: u32,
    ) -> Option<Self> {
        if slots.len() != n + WINDOW_MAX + 1 || lows.len() != n {
            return None;
        }
        let first = slots.as_ptr() as usize;
        let end = first + 8 * n;
        let dir = dir(first)?;
        let buckets = dir.len().checked_sub(1)?;
        // Every entry at once, with no compare or branch per entry (64-bit compares are not vector
        // code on every x86-64), from the sign bits of wrapping differences: an entry `e` has
        // `e - first` and `end - e` both below 2^63 exactly when `first <= e <= end` (`end -
        // first` is small), and between two such entries `b - a` is below 2^63 exactly when
        // `a <= b`; `e - first` a whole number of slots. Any entry outside, descending or off the
        // grid leaves a bit set.
        let sign = 1usize << (usize::BITS - 1);
        let mut wrong = 0usize;
        if full_check {
            for (a, b) in dir.iter().zip(&dir[1..]) {
                wrong |= (b.wrapping_sub(first) & (sign | 7))
                    | (end.wrapping_sub(*b) & sign)
                    | (b.wrapping_sub(*a) & sign);
            }
        }
        if !buckets.is_power_of_two()
            || buckets < LOCAL
            || dir[0] != first
            || dir[buckets] != end
            || wrong != 0
        {
            return None;
        }
        let flat = Arc::new(Flat {
            slots,
            lows,
            spares,
        });
        Some(Packed {
            heads: vec![Head(EMPTY_PAGE.as_ptr().cast()); buckets >> LOCAL_BITS].into_boxed_slice(),
            chunks: Vec::new(),
            starts: Box::default(),
            ids: ids.into_boxed_slice(),
            shift,
            buckets,
            n,
            norm,
            live: 0,
            first: Head(flat.slots.as_ptr()),
            flat: Some(flat),
            dir,
        })
    }

    /// A flat packing's arrays (the caller knows it is flat).
    fn flat_arrays(&self) -> (&[u64], &[u16]) {
        match &self.flat {
            Some(f) => (&f.slots, &f.lows),
            None => (&[], &[]),
        }
    }

    /// The ranks `start..end` of normalized key `x`'s bucket in a flat packing (keys above every
    /// bucket fall in the last one).
    fn flat_range(&self, x: u64) -> (usize, usize) {
        let b = self.bucket_index(x);
        let first = self.first.0 as usize;
        ((self.dir[b] - first) / 8, (self.dir[b + 1] - first) / 8)
    }

    /// The rank of the first point `>= x` (a normalized key) of a flat packing in its bucket
    /// `start..end`, or `end`: a binary search of the full positions.
    fn flat_exact(&self, start: usize, end: usize, x: u64) -> usize {
        let (slots, lows) = self.flat_arrays();
        first_not_below(start, end, x, |r| position(slots[r], lows[r]))
    }

    /// [`Packed::rank_at_or_after`] of a flat packing.
    pub(super) fn rank_at_or_after_flat(&self, x: u64) -> usize {
        let (start, end) = self.flat_range(x);
        self.flat_exact(start, end, x)
    }

    /// [`Packed::first_owner_at_or_after`] of a flat packing: the key's point found by the top 48
    /// bits (the full positions only when those equal the key's), then the walk along the ranks.
    pub(super) fn first_owner_at_or_after_flat(
        &self,
        x: u64,
        keep: impl FnMut(u32) -> bool,
    ) -> Option<u32> {
        let (slots, _) = self.flat_arrays();
        let (start, end) = self.flat_range(x);
        let top = x >> 16;
        let mut r = start;
        while r < end && slots[r] >> 16 < top {
            r += 1;
        }
        if r < end && slots[r] >> 16 == top {
            r = self.flat_exact(start, end, x);
        }
        self.walk_owners(0, r, keep)
    }

    /// [`Packed::merged`] of a flat packing, from its common steps: the slot plan, the fresh
    /// points `(normalized position, new id, slot)` sorted, the positions that go, the evicted
    /// points, the next point count `n`. The old points that go are found by position in their
    /// buckets, each fresh point's place by a scan of its bucket; the next arrays are the old ones
    /// copied in runs between those places, and the bucket counts the old ones moved by each point
    /// that came or went. `None` as for the paged merge.
    pub(super) fn merged_flat(
        &self,
        plan: SlotPlan,
        fresh: &[(u64, u32, u32)],
        gone_positions: &[u64],
        evicted: &[(u64, u32)],
        n: usize,
        keep_equal: bool,
    ) -> Option<Packed> {
        let (slots, lows) = self.flat_arrays();
        let old_n = self.n;
        let (os, ol) = (slots.get(..old_n)?, lows.get(..old_n)?);
        let pos = |r: usize| position(os[r], ol[r]);
        let (id_of, goes) = (|s: u64| plan.id_of(s), |s: u64| plan.goes(s));
        // The ranks of the old points that go: every point at a gone position whose slot goes
        // (several may share a position), and each evicted point.
        let mut dropped: Vec<usize> = Vec::with_capacity(gone_positions.len() + evicted.len());
        for &p in gone_positions {
            let (start, end) = self.flat_range(p);
            let mut r = self.flat_exact(start, end, p);
            while r < end && pos(r) == p {
                if goes(os[r]) {
                    dropped.push(r);
                }
                r += 1;
            }
        }
        for &(p, id) in evicted {
            let (start, end) = self.flat_range(p);
            let mut r = self.flat_exact(start, end, p);
            while r < end && pos(r) == p && (goes(os[r]) || id_of(os[r]) != id) {
                r += 1;
            }
            if r == end || pos(r) != p {
                return None;
            }
            dropped.push(r);
        }
        dropped.sort_unstable();
        dropped.dedup();
        if dropped.len() != gone_positions.len() + evicted.len() {
            return None;
        }
        // The next arrays: spares of this lineage where they fit (see `spares`), else new ones.
        let spares = Arc::clone(&self.flat.as_ref()?.spares);
        let (mut next_slots, mut next_lows, next_dir) =
            spares.take((n + WINDOW_MAX + 1, n, self.dir.len()), room);
        // Where the fresh points land in the output, for the check of equal positions.
        let mut landed: Vec<usize> = Vec::with_capacity(fresh.len());
        let mut from = 0;
        let mut d = 0;
        // Copies the old points from `from` up to rank `to`, leaving out the dropped ones.
        let mut copy_to = |to: usize, from: &mut usize, s: &mut Vec<u64>, l: &mut Vec<u16>| {
            while let Some(&r) = dropped.get(d).filter(|&&r| r < to) {
                s.extend_from_slice(&os[*from..r]);
                l.extend_from_slice(&ol[*from..r]);
                *from = r + 1;
                d += 1;
            }
            s.extend_from_slice(&os[*from..to]);
            l.extend_from_slice(&ol[*from..to]);
            *from = to;
        };
        for &(q, id, slot) in fresh {
            // The first old point of the bucket not below the fresh one by (position, node id).
            let (start, end) = self.flat_range(q);
            let mut r = self.flat_exact(start, end, q).max(from);
            while r < end && pos(r) == q && id_of(os[r]) < id {
                r += 1;
            }
            copy_to(r, &mut from, &mut next_slots, &mut next_lows);
            landed.push(next_slots.len());
            next_slots.push(pack(q, slot));
            next_lows.push(q as u16);
        }
        copy_to(old_n, &mut from, &mut next_slots, &mut next_lows);
        if next_slots.len() != n {
            return None;
        }
        if !keep_equal {
            let same = |a: usize, b: usize| {
                quantize(next_slots[a]) == quantize(next_slots[b]) && next_lows[a] == next_lows[b]
            };
            if landed
                .iter()
                .any(|&k| (k > 0 && same(k - 1, k)) || (k + 1 < n && same(k, k + 1)))
            {
                return None;
            }
        }
        next_slots.push(sentinel(slot_owner(next_slots[0])));
        next_slots.extend_from_slice(&[PAD; WINDOW_MAX]);
        // The directory: each point that came or went moves the start of every later bucket.
        // The old directory is moved run by run between the changed buckets, a plain pass each
        // (counting every bucket's start again would be a chain of dependent adds).
        let mut changes: Vec<(usize, i32)> = fresh
            .iter()
            .map(|&(q, _, _)| (self.bucket_index(q), 1))
            .chain(dropped.iter().map(|&r| (self.bucket_index(pos(r)), -1)))
            .collect();
        changes.sort_unstable_by_key(|c| c.0);
        // Each run of the old directory moved by one amount: its entries stay ascending and on
        // the slots' grid (the old directory's are, by its own invariant 4, and the amount is a
        // whole number of slots), so the run is in bounds, and stays ascending, when its first
        // entry is not below the new first slot, its last not past slot `n`, its first not above
        // its last (a move that wrapped around would put it above), and not below the entry
        // before the run. Checked per run, not per entry.
        let old_first = self.first.0 as usize;
        let moved = |first: usize| {
            let end = first + 8 * n;
            let shift = first.wrapping_sub(old_first);
            let mut dir = next_dir;
            let mut ok = shift.is_multiple_of(8);
            let mut by = 0isize;
            let mut from = 0;
            // Writes the old directory's entries `from..to` into `dir`, moved: old address to
            // new, the same rank in the new array, `by` slots on (one pass, read and written:
            // a copy and then a pass of adds over it measured ~8 % slower a publication).
            let mut run = |dir: &mut Vec<usize>, to: usize, by: isize| {
                let delta = shift.wrapping_add((by * 8) as usize);
                dir.extend(self.dir[from..to].iter().map(|s| s.wrapping_add(delta)));
                if from < to {
                    let (lo, hi) = (dir[from], dir[to - 1]);
                    ok &= first <= lo && lo <= hi && hi <= end;
                    ok &= from == 0 || dir[from - 1] <= lo;
                }
                from = to;
            };
            for &(b, c) in &changes {
                // Bucket `b` starts where it did, moved by the changes before it.
                run(&mut dir, b + 1, by);
                by += c as isize;
            }
            run(&mut dir, self.dir.len(), by);
            ok.then_some(dir)
        };
        Self::from_flat(
            (next_slots, next_lows, spares),
            moved,
            false,
            plan.ids,
            self.shift,
            n,
            self.norm,
        )
    }
}
