//! The flat layout of small rings (see the parent module's docs): made from sorted points, read
//! along its ranks, and published by streaming the previous ring's arrays into the next ones with
//! the change spliced in. Safe code only: the lookups' unchecked reads are the parent module's,
//! through the directory this module makes.

use std::sync::Arc;

use super::super::prefetch::prefetch_read;
use super::build::{item_bits, item_point, page_top};
use super::merge::SlotPlan;
use super::{
    first_not_below, pack, position, quantize, sentinel, slot_owner, Flat, Form, Head, Heads,
    Packed, Record, Spares, DIR_MAX, LOCAL, LOCAL_BITS, PAD, WINDOW_MAX,
};

/// The room a publication's flat array of `len` elements is allocated with when no spare fits
/// it: a sixteenth more, rounded up to 64, so that the lineage's next publications, a few points
/// more or fewer, fit it again. A full build allocates its arrays exact (a ring built once and
/// never changed holds no room).
fn room(len: usize) -> usize {
    (len + len / 16).next_multiple_of(64)
}

/// Directory entries a publication moves at once (one 128-bit vector of them).
const DIR_LANES: usize = 8;

/// A removal in place leaves at most one stand-in (see `Flat::vacant`) in this many slots: one
/// that would leave more takes the merge of runs instead, which keeps at most half as many.
const VACANT_SHARE: usize = 16;

/// Gives every stand-in of `slots` (ranks `vacant`, ascending, fewer than `n`) the slot id of the
/// next slot that is not one (wrapping), and the sentinel (slot `n`) the first slot's, as lookups
/// and walks need (a stand-in then answers what the point after it does).
fn restand(slots: &mut [u64], vacant: &[u32], n: usize) {
    let mut first = 0;
    for &v in vacant {
        if v as usize != first {
            break;
        }
        first += 1;
    }
    let first_owner = slot_owner(slots[first]);
    // From the last: the slot after a stand-in is a point, or a stand-in already given its id.
    for &v in vacant.iter().rev() {
        let v = v as usize;
        let next = match slots.get(v + 1) {
            Some(&s) if v + 1 < n => slot_owner(s),
            _ => first_owner,
        };
        slots[v] = slots[v] & !0xFFFF | u64::from(next);
    }
    slots[n] = sentinel(slot_owner(slots[0]));
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
        point: impl Fn(usize, usize) -> (u64, u32),
        mut table: impl FnMut(usize, usize, usize, &mut [u16]),
    ) -> Option<Self> {
        let buckets = 1usize << bits;
        let mut slots = vec![PAD; n + WINDOW_MAX + 1];
        let mut lows = vec![0u16; n];
        let mut dir = vec![0u16; buckets + 1];
        let mut entries = [0u16; LOCAL + 2];
        for (p, w) in starts.windows(2).enumerate() {
            let (a, b) = (w[0] as usize, w[1] as usize);
            entries.fill(0);
            table(p, a, b, &mut entries);
            for l in 0..LOCAL {
                dir[(p << LOCAL_BITS) + l] = u16::try_from(w[0] + u32::from(entries[l])).ok()?;
            }
            for r in a..b.min(n) {
                let (q, id) = point(p, r);
                (slots[r], lows[r]) = (pack(q, id), q as u16);
            }
        }
        dir[buckets] = u16::try_from(n).ok()?;
        Self::built_flat(slots, lows, dir, ids, shift, n, norm)
    }

    /// The flat packing of a full build's items (see [`Packed::from_items`], whose checks it
    /// follows) in the geometry `(bits, shift)`, written over them: each item becomes its point's
    /// slot at the same rank, so the items' memory is the slots' (with `ITEMS_TAIL` room past the
    /// points, the sentinel and pads take none more), and the bucket starts are the directory.
    /// `None` if the directory they give is not one (see [`from_flat`](Self::from_flat)).
    pub(super) fn flat_of_items(
        mut items: Vec<u64>,
        buckets: &[u32],
        (bits, shift): (u32, u32),
        norm: u32,
    ) -> Option<Self> {
        let n = items.len();
        let (in_page, low, id_mask) = item_bits(shift);
        let mut lows = vec![0u16; n];
        for p in 0..(1usize << bits) >> LOCAL_BITS {
            let top = page_top(p, in_page);
            let a = buckets[p << LOCAL_BITS] as usize;
            let b = (buckets[(p + 1) << LOCAL_BITS] as usize).min(n);
            for r in a..b {
                let (q, id) = item_point(top, items[r], low, id_mask);
                (items[r], lows[r]) = (pack(q, id), q as u16);
            }
        }
        let mut dir = Vec::with_capacity(buckets.len());
        for &b in buckets {
            dir.push(u16::try_from(b).ok()?);
        }
        items.resize(n + WINDOW_MAX + 1, PAD);
        Self::built_flat(items, lows, dir, Vec::new(), shift, n, norm)
    }

    /// A full build's flat packing, the first of its lineage: `slots` (`n` packed points, then
    /// [`WINDOW_MAX`] + 1 pads, the first of which becomes the sentinel here), `lows` and the
    /// directory `dir`, checked whole (see [`from_flat`](Self::from_flat)).
    #[allow(clippy::too_many_arguments)]
    fn built_flat(
        mut slots: Vec<u64>,
        lows: Vec<u16>,
        dir: Vec<u16>,
        ids: Vec<u32>,
        shift: u32,
        n: usize,
        norm: u32,
    ) -> Option<Self> {
        *slots.get_mut(n)? = sentinel(if n > 0 { slot_owner(slots[0]) } else { 0xFFFF });
        let spares = Arc::new(Spares::default());
        Self::from_flat(
            (slots, Arc::new(lows), spares, Vec::new()),
            Record::whole(),
            Some(dir),
            true,
            ids,
            shift,
            n,
            norm,
        )
    }

    /// The flat packing of `slots` (`n` packed points in order, the sentinel, [`WINDOW_MAX`] pads),
    /// `lows` (with the lineage's `spares`), the stand-ins' ranks `vacant` (ascending, below `n`,
    /// fewer than `n`; see `Flat::vacant`) and the directory `dir` (each bucket's first rank, then
    /// `n`), or `None` if there is no directory. The bounds of every lookup rest on the directory
    /// (invariant 4): with `full_check`, every entry is checked here (a pass of plain integer
    /// operations over the directory); without, the caller must have checked it (the
    /// publication's does, run by run from the previous directory), and only its length and ends
    /// are checked here. `None` if a check fails.
    #[allow(clippy::too_many_arguments)]
    fn from_flat(
        (slots, lows, spares, vacant): (Vec<u64>, Arc<Vec<u16>>, Arc<Spares>, Vec<u32>),
        record: Arc<Record>,
        dir: Option<Vec<u16>>,
        full_check: bool,
        ids: Vec<u32>,
        shift: u32,
        n: usize,
        norm: u32,
    ) -> Option<Self> {
        if slots.len() != n + WINDOW_MAX + 1
            || lows.len() != n
            || vacant.len() >= n.max(1)
            || vacant.last().is_some_and(|&v| v as usize >= n)
            || vacant.windows(2).any(|w| w[0] >= w[1])
        {
            return None;
        }
        let dir = dir?;
        let buckets = dir.len().checked_sub(1)?;
        // Every pair at once, with no compare or branch per entry, from the sign bits of
        // differences taken in 64 bits: `b - a` has its top bit set exactly when `a > b`. An
        // ascending directory from 0 to `n` has every entry in `0..=n`.
        let mut wrong = 0u64;
        if full_check {
            for (a, b) in dir.iter().zip(&dir[1..]) {
                wrong |= u64::from(*b).wrapping_sub(u64::from(*a));
            }
            wrong &= 1 << 63;
        }
        if !buckets.is_power_of_two()
            || !(LOCAL..=DIR_MAX).contains(&buckets)
            || dir[0] != 0
            || dir[buckets] as usize != n
            || wrong != 0
        {
            return None;
        }
        let flat = Arc::new(Flat {
            slots,
            lows,
            spares,
            vacant,
            record,
        });
        Some(Packed {
            heads: Heads::flat(buckets >> LOCAL_BITS),
            chunks: Vec::new(),
            starts: Default::default(),
            ids: ids.into_boxed_slice(),
            shift,
            buckets,
            n,
            norm,
            form: Form::new(0),
            mask: 0xFFFF,
            live: 0,
            first: Head(flat.slots.as_ptr()),
            spares: None,
            record: None,
            flat: Some(flat),
            dir,
        })
    }

    /// A flat packing's arrays (the caller knows it is flat).
    fn flat_arrays(&self) -> (&[u64], &[u16]) {
        match &self.flat {
            Some(f) => (&f.slots, &f.lows[..]),
            None => (&[], &[]),
        }
    }

    /// The ranks `start..end` of normalized key `x`'s bucket in a flat packing (keys above every
    /// bucket fall in the last one).
    fn flat_range(&self, x: u64) -> (usize, usize) {
        let b = self.bucket_index(x);
        (self.dir[b] as usize, self.dir[b + 1] as usize)
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
        let vacant = &self.flat.as_ref()?.vacant;
        // The stand-ins stay (moved with the points around them: dropping one costs a run, as a
        // point that goes does) while they are at most half of what removals in place may leave,
        // so that a ring that also grows by new nodes still removes in place.
        let keep_vacant = vacant.len() * VACANT_SHARE * 2 <= n + vacant.len();
        let slots_after = if keep_vacant { n + vacant.len() } else { n };
        if slots_after > usize::from(u16::MAX) {
            // Past what the directory's ranks hold: the caller builds afresh (paged).
            return None;
        }
        if keep_equal && evicted.is_empty() {
            // A removal leaves its points in place as stand-ins, and an addition onto stand-ins at
            // its own positions (a node added back) writes them over: one copy of the arrays each.
            // A removal is made in place from a ring without stand-ins, or from one made in place
            // itself (a node going and coming back). A ring whose arrays were written whole while
            // it held stand-ins is one that grows by new nodes: its stand-ins would only be
            // dropped later, each a run, so its removals take the runs at once instead.
            let f = self.flat.as_ref()?;
            let may_vacate = f.vacant.is_empty() || f.record.in_place();
            let in_place = match (fresh.is_empty(), gone_positions.is_empty()) {
                (true, false) if may_vacate => self.vacated(&plan, gone_positions),
                (false, true) => self.filled(&plan, fresh),
                _ => None,
            };
            if in_place.is_some() {
                return in_place;
            }
        }
        let (slots, lows) = self.flat_arrays();
        let old_n = self.n;
        let (os, ol) = (slots.get(..old_n)?, lows.get(..old_n)?);
        let pos = |r: usize| position(os[r], ol[r]);
        let (id_of, goes) = (|s: u64| plan.id_of(s), |s: u64| plan.goes(s));
        // Every bucket this publication searches, fetched ahead: the searches below then find their
        // points in the cache, not one miss after another.
        let looked_up = gone_positions.iter().copied();
        let looked_up = looked_up.chain(evicted.iter().map(|e| e.0));
        self.fetch_buckets(looked_up.chain(fresh.iter().map(|f| f.0)));
        // The ranks of the old points that go: every point at a gone position whose slot goes
        // (several may share a position), and each evicted point.
        let mut dropped: Vec<usize> = Vec::with_capacity(gone_positions.len() + evicted.len());
        // A stand-in names the slot of the point after it: never one of the points that go (those
        // found at the gone positions are taken out below, after the sort).
        let standing = |r: usize| !vacant.is_empty() && vacant.binary_search(&(r as u32)).is_ok();
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
            while r < end && pos(r) == p && (goes(os[r]) || id_of(os[r]) != id || standing(r)) {
                r += 1;
            }
            if r == end || pos(r) != p {
                return None;
            }
            dropped.push(r);
        }
        dropped.sort_unstable();
        dropped.dedup();
        // Every gone position holds one point that goes: more found means a stand-in whose
        // position is one of theirs (and whose next point goes), to be taken out.
        if !vacant.is_empty() && dropped.len() > gone_positions.len() + evicted.len() {
            let mut vi = 0;
            dropped.retain(|&r| {
                while vacant.get(vi).is_some_and(|&v| (v as usize) < r) {
                    vi += 1;
                }
                vacant.get(vi) != Some(&(r as u32))
            });
        }
        if !keep_vacant {
            dropped.extend(vacant.iter().map(|&v| v as usize));
            dropped.sort_unstable();
        }
        let dropped_vacant = if keep_vacant { 0 } else { vacant.len() };
        if dropped.len() != gone_positions.len() + evicted.len() + dropped_vacant {
            return None;
        }
        // The next arrays: spares of this lineage where they fit (see `spares`), else new ones.
        let spares = Arc::clone(&self.flat.as_ref()?.spares);
        let n = slots_after;
        let (next_slots, next_lows, next_dir) =
            spares.take((Some(n + WINDOW_MAX + 1), Some(n), self.dir.len()), room);
        let (mut next_slots, mut next_lows) = (next_slots?, next_lows?);
        // Each fresh point's place: the first old point of its bucket not below it by (position,
        // node id). Searched in a loop of their own, so that the searches overlap.
        let places: Vec<usize> = fresh
            .iter()
            .map(|&(q, id, _)| {
                let (start, end) = self.flat_range(q);
                let mut r = self.flat_exact(start, end, q);
                while r < end && pos(r) == q && id_of(os[r]) < id {
                    r += 1;
                }
                r
            })
            .collect();
        // The directory: each point that came or went moves the start of every later bucket.
        // Written before the points, while the old one is still in the cache. The old directory
        // is moved run by run between the changed buckets (counting every bucket's start again
        // would be a chain of dependent adds).
        let mut changes: Vec<(usize, i32)> = fresh
            .iter()
            .map(|&(q, _, _)| (self.bucket_index(q), 1))
            .chain(dropped.iter().map(|&r| (self.bucket_index(pos(r)), -1)))
            .collect();
        changes.sort_unstable_by_key(|c| c.0);
        // Each run of the old directory moved by one amount: its entries stay ascending (the old
        // directory's are, by its own invariant 4), so the run is in bounds, and stays ascending,
        // when its first entry is not below 0, its last not past `n`, and its first not below the
        // entry before the run (its ends taken in 64 bits, so that no move wraps around
        // unseen). Checked per run, not per entry.
        let len = self.dir.len();
        let mut dir = next_dir;
        // Sized first (a copy of the old one; every entry is written again below), so that a run
        // can write whole lanes.
        dir.extend_from_slice(&self.dir);
        let mut ok = true;
        let mut by = 0i64;
        let mut from = 0;
        // Writes the old directory's entries `from..to` into `dir`, each `by` ranks on, eight at
        // a time: a run's last eight may pass `to`, into the entries of the runs after it, which
        // write them again (the runs are written in order and end at the directory's end, where
        // the last eight are written one by one).
        let mut run = |dir: &mut [u16], to: usize, by: i64| {
            let delta = by as u16;
            let mut i = from;
            while i < to {
                if i + DIR_LANES <= len {
                    let lane: [u16; DIR_LANES] = self.dir[i..i + DIR_LANES].try_into().unwrap();
                    dir[i..i + DIR_LANES].copy_from_slice(&lane.map(|s| s.wrapping_add(delta)));
                } else {
                    let mut k = i;
                    while k < to {
                        dir[k] = self.dir[k].wrapping_add(delta);
                        k += 1;
                    }
                }
                i += DIR_LANES;
            }
            if from < to {
                let (lo, hi) = (
                    i64::from(self.dir[from]) + by,
                    i64::from(self.dir[to - 1]) + by,
                );
                ok &= 0 <= lo && hi <= n as i64;
                ok &= from == 0 || i64::from(dir[from - 1]) <= lo;
            }
            from = to;
        };
        for &(b, c) in &changes {
            // Bucket `b` starts where it did, moved by the changes before it.
            run(&mut dir, b + 1, by);
            by += i64::from(c);
        }
        run(&mut dir, len, by);
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
        for (&(q, _, slot), &r) in fresh.iter().zip(&places) {
            // Places ascend with the fresh points (equal ones share a place, in id order).
            copy_to(r.max(from), &mut from, &mut next_slots, &mut next_lows);
            landed.push(next_slots.len());
            next_slots.push(pack(q, slot));
            next_lows.push(q as u16);
        }
        copy_to(old_n, &mut from, &mut next_slots, &mut next_lows);
        if next_slots.len() != n {
            return None;
        }
        // The stand-ins kept, at their ranks in the next arrays: each old rank moved on by the
        // fresh points placed at or before it, and back by the points dropped before it (none of
        // them a stand-in).
        let mut moved_vacant: Vec<u32> = Vec::with_capacity(vacant.len() - dropped_vacant);
        if keep_vacant {
            let (mut f, mut d) = (0, 0);
            for &v in vacant {
                let v = v as usize;
                while f < places.len() && places[f] <= v {
                    f += 1;
                }
                while d < dropped.len() && dropped[d] < v {
                    d += 1;
                }
                moved_vacant.push((v + f).checked_sub(d)? as u32);
            }
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
        if moved_vacant.len() != vacant.len() - dropped_vacant {
            return None;
        }
        // The points after the stand-ins may have changed: each names its next point's slot again.
        restand(&mut next_slots, &moved_vacant, n);
        Self::from_flat(
            (next_slots, Arc::new(next_lows), spares, moved_vacant),
            Record::whole(),
            ok.then_some(dir),
            false,
            plan.ids,
            self.shift,
            n,
            self.norm,
        )
    }

    /// A removal in place (see `Flat::vacant`): the points at `gone_positions` whose slots go are
    /// left where they are as stand-ins, and the arrays and directory are copied whole, so no point
    /// moves and no directory entry changes. `None` (the caller writes the arrays afresh) if a
    /// position is not exactly one such point, or the stand-ins would pass one in
    /// [`VACANT_SHARE`] slots.
    fn vacated(&self, plan: &SlotPlan, gone_positions: &[u64]) -> Option<Packed> {
        let f = self.flat.as_ref()?;
        let n = self.n;
        if (f.vacant.len() + gone_positions.len()) * VACANT_SHARE > n {
            return None;
        }
        let os = f.slots.get(..n)?;
        self.fetch_buckets(gone_positions.iter().copied());
        let mut newly: Vec<u32> = Vec::with_capacity(gone_positions.len());
        for &p in gone_positions {
            let (a, b) = self.flat_at(p);
            newly.extend((a..b).filter(|&r| plan.goes(os[r])).map(|r| r as u32));
        }
        newly.sort_unstable();
        newly.dedup();
        // Stand-ins whose next point goes name its slot too: not points of the change.
        let vacant = merge_ascending(&f.vacant, &mut newly);
        if newly.len() != gone_positions.len() {
            return None;
        }
        self.rewritten_in_place(plan, vacant, &[])
    }

    /// An addition in place: every fresh point `(normalized position, new id, slot)` lands on a
    /// stand-in at exactly its position (alone there), which it takes over. `None` otherwise.
    fn filled(&self, plan: &SlotPlan, fresh: &[(u64, u32, u32)]) -> Option<Packed> {
        let f = self.flat.as_ref()?;
        if f.vacant.is_empty() {
            return None;
        }
        self.fetch_buckets(fresh.iter().map(|f| f.0));
        let mut taken: Vec<(u32, u32)> = Vec::with_capacity(fresh.len());
        for &(q, _, slot) in fresh {
            // One slot at exactly `q`: a stand-in (checked below).
            let (a, b) = self.flat_at(q);
            if b != a + 1 {
                return None;
            }
            taken.push((a as u32, slot));
        }
        // The fresh points ascend, and so do their ranks: each one a stand-in's, none twice.
        if taken.windows(2).any(|w| w[0].0 >= w[1].0) {
            return None;
        }
        let mut vacant = Vec::with_capacity(f.vacant.len());
        let mut t = taken.iter().map(|&(r, _)| r).peekable();
        for &v in &f.vacant {
            if t.next_if(|&r| r < v).is_some() {
                return None; // a rank before this stand-in that is not one
            }
            if t.next_if_eq(&v).is_none() {
                vacant.push(v);
            }
        }
        if t.next().is_some() {
            return None;
        }
        self.rewritten_in_place(plan, vacant, &taken)
    }

    /// The ranks of the points at exactly normalized position `p` (an empty range where one would
    /// go): a scan of its bucket's slots (a bucket holds about two), the low bits read only where
    /// a slot's top bits are `p`'s.
    fn flat_at(&self, p: u64) -> (usize, usize) {
        let (slots, lows) = self.flat_arrays();
        let (start, end) = self.flat_range(p);
        let (top, low) = (quantize(p), p as u16);
        let below = |r: usize| {
            let t = quantize(slots[r]);
            t < top || (t == top && lows[r] < low)
        };
        let at = |r: usize| quantize(slots[r]) == top && lows[r] == low;
        let mut r = start;
        while r < end && below(r) {
            r += 1;
        }
        let a = r;
        while r < end && at(r) {
            r += 1;
        }
        (a, r)
    }

    /// Fetches ahead the first slot and low bits of the bucket of each position of `positions`, so
    /// that the searches after find them in the cache, not one miss after another.
    fn fetch_buckets(&self, positions: impl Iterator<Item = u64>) {
        let (slots, lows) = self.flat_arrays();
        for p in positions {
            let start = self.dir[self.bucket_index(p)] as usize;
            prefetch_read(slots.as_ptr().wrapping_add(start));
            prefetch_read(lows.as_ptr().wrapping_add(start));
        }
    }

    /// The next flat packing with the same slots, low bits and directory, except the stand-ins
    /// `vacant` (ascending) and the slots `taken` (rank, slot id) given to fresh points; slot ids by
    /// `plan`.
    fn rewritten_in_place(
        &self,
        plan: &SlotPlan,
        vacant: Vec<u32>,
        taken: &[(u32, u32)],
    ) -> Option<Packed> {
        let f = self.flat.as_ref()?;
        let n = self.n;
        if vacant.len() >= n {
            return None;
        }
        let spares = Arc::clone(&f.spares);
        // The slots: a gone ancestor's array brought up to date where the lineage kept one, else
        // a copy. The positions stay: the low bits are shared, not copied.
        let updated = spares.take_updated(&f.record, &f.slots);
        let copy = updated.is_none().then_some(n + WINDOW_MAX + 1);
        let (spare, _, mut dir) = spares.take((copy, None, self.dir.len()), room);
        let mut slots = match (updated, spare) {
            (Some(slots), _) => slots,
            (None, Some(mut spare)) => {
                spare.extend_from_slice(&f.slots);
                spare
            }
            (None, None) => return None,
        };
        let lows = Arc::clone(&f.lows);
        dir.extend_from_slice(&self.dir);
        for &(r, slot) in taken {
            let s = slots.get_mut(r as usize)?;
            *s = *s & !0xFFFF | u64::from(slot);
        }
        restand(&mut slots, &vacant, n);
        // The ranks these slots differ at from the parent's: the slots taken, every stand-in
        // (given its id again) and the sentinel.
        let mut changed: Vec<u32> = taken.iter().map(|&(r, _)| r).collect();
        changed.extend_from_slice(&vacant);
        changed.push(n as u32);
        let record = Record::changed(&f.record, changed);
        Self::from_flat(
            (slots, lows, spares, vacant),
            record,
            Some(dir),
            false,
            plan.ids.clone(),
            self.shift,
            n,
            self.norm,
        )
    }
}

/// The union of ascending `old` and ascending `new`, ascending; the ranks of `new` that `old` holds
/// already are taken out of it.
fn merge_ascending(old: &[u32], new: &mut Vec<u32>) -> Vec<u32> {
    if old.is_empty() {
        return new.clone();
    }
    let mut out = Vec::with_capacity(old.len() + new.len());
    let (mut i, mut kept) = (0, 0);
    for j in 0..new.len() {
        let x = new[j];
        while i < old.len() && old[i] < x {
            out.push(old[i]);
            i += 1;
        }
        if i < old.len() && old[i] == x {
            continue;
        }
        out.push(x);
        new[kept] = x;
        kept += 1;
    }
    new.truncate(kept);
    out.extend_from_slice(&old[i..]);
    out
}
