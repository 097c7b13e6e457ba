//! Making a packing: from sorted points in one pass ([`Packed::from_sorted`]), flat for small rings
//! (`super::flat`), and the writing of one page. Safe code only: pages are written through
//! `bytemuck` views of their lines, and read back through the views of the parent module.

use std::sync::Arc;

use super::{
    pack_point, page_lines, position, slot_owner, Chunk, Form, Head, Heads, Line, Packed, Record,
    Spares, Starts, Table, DIR_MAX, LOCAL, LOCAL_BITS, PAD, PAGE_MAX, PAGE_PADS, POINTS_PER_BUCKET,
    SLOT_BYTE, SPARSE_BITS, TABLE_WORDS, TAIL,
};

impl Packed {
    /// Packs `points` (sorted ascending, each below `2^(64 - norm)`) with their `owners` (node ids,
    /// which are also the slot ids); `None` if an owner does not fit 16 bits, `norm` is not below 64,
    /// or a page would hold more than it can.
    pub(crate) fn build(points: &[u64], owners: &[u32], norm: u32) -> Option<Self> {
        debug_assert_eq!(points.len(), owners.len());
        let n = points.len().min(owners.len());
        if owners.iter().fold(0, |acc, &o| acc | o) >> 16 != 0 || norm >= 64 {
            return None;
        }
        debug_assert!(points.last().is_none_or(|&p| p <= u64::MAX >> norm));
        let (slots, lows): (Vec<u64>, Vec<u16>) = points[..n]
            .iter()
            .zip(&owners[..n])
            .map(|(&p, &o)| pack_point(p, o, norm))
            .unzip();
        Self::from_sorted(&slots, &lows, norm, Vec::new())
    }

    /// The packing of points the caller has packed already: `slots` sorted (made with
    /// [`pack`](super::pack) from positions normalized by `norm`), `lows` their low 16 bits, `ids`
    /// the slot → node id table
    /// (empty: the same). `None` if a page would hold more points than it can (`norm` is taken
    /// modulo 64).
    pub(crate) fn from_sorted(
        slots: &[u64],
        lows: &[u16],
        norm: u32,
        ids: Vec<u32>,
    ) -> Option<Self> {
        let n = slots.len().min(lows.len());
        let (slots, lows) = (&slots[..n], &lows[..n]);
        let last = n.checked_sub(1).map(|r| position(slots[r], lows[r]));
        // One past the largest slot id: the slot table's length, or the slots' own ids.
        let bound = match ids.len() {
            0 => (slots.iter().map(|&s| slot_owner(s) as usize + 1).max()).unwrap_or(0),
            len => len,
        };
        let (mut bits, mut shift) = Self::geometry(n, last, bound);
        let flat = (1usize << bits) <= DIR_MAX && n <= usize::from(u16::MAX);
        if !flat && bits + shift != 64 {
            // Pages need a table that spans all 64 bits (see `assemble`): positions that leave
            // the top bits unused fill the lower pages only.
            (bits, shift) = Self::geometry(n, Some(u64::MAX), bound);
        }
        Self::from_sorted_in(slots, lows, norm, ids, (bits, shift), true)
    }

    /// [`from_sorted`](Self::from_sorted) in the table geometry `(bits, shift)`, which must
    /// hold every point (`position >> shift` below `2^bits`), made flat only if `flat_ok`.
    pub(super) fn from_sorted_in(
        slots: &[u64],
        lows: &[u16],
        norm: u32,
        ids: Vec<u32>,
        (bits, shift): (u32, u32),
        flat_ok: bool,
    ) -> Option<Self> {
        let n = slots.len().min(lows.len());
        let (slots, lows) = (&slots[..n], &lows[..n]);
        let pages = 1usize << (bits - LOCAL_BITS);
        let page_of = |r: usize| (position(slots[r], lows[r]) >> shift) as usize >> LOCAL_BITS;
        let mut starts = vec![0u32; pages + 1];
        for r in 0..n {
            // The geometry covers every point: the page is below `pages`.
            starts[page_of(r) + 1] += 1;
        }
        let mut sum = 0;
        for s in &mut starts {
            sum += *s;
            *s = sum;
        }
        let point = |r: usize| (position(slots[r], lows[r]), slot_owner(slots[r]));
        Self::assemble(
            n,
            norm,
            ids,
            (bits, shift),
            starts,
            |_, r| point(r),
            |_, a, b, table| {
                count_table(
                    table,
                    (a..b).map(|r| ((point(r).0 >> shift) as usize) & (LOCAL - 1)),
                );
            },
            flat_ok,
        )
    }

    /// The packing of points sorted and counted into buckets already, by a full build: `points`
    /// sorted, each its position (as the profile has it) in the top 64 bits above its node id, every
    /// id below `ids <= 2^16` (slot ids = node ids), and `buckets[b]` the rank of the first point of
    /// bucket `b` under [`Packed::geometry`] for these points and ids (`2^bits + 1` entries, the
    /// last `points.len()`).
    /// Nothing is counted again: the page tables are the bucket starts. `None` as for
    /// [`from_sorted`](Self::from_sorted), or if `buckets` does not fit that geometry.
    pub(crate) fn from_buckets(
        points: &[u128],
        buckets: &[u32],
        norm: u32,
        ids: usize,
    ) -> Option<Self> {
        let n = points.len();
        let norm = norm % 64;
        let last = points.last().map(|&x| ((x >> 64) as u64) << norm);
        let geometry = Self::geometry(n, last, ids);
        if buckets.len() != (1 << geometry.0) + 1 || buckets.last() != Some(&(n as u32)) {
            return None;
        }
        let starts: Vec<u32> = buckets.iter().step_by(LOCAL).copied().collect();
        Self::assemble(
            n,
            norm,
            Vec::new(),
            geometry,
            starts,
            |_, r| {
                let x = points[r];
                (((x >> 64) as u64) << norm, x as u32 & 0xFFFF)
            },
            |p, _, _, table| {
                let b = p << LOCAL_BITS;
                let first = buckets[b];
                // Within a page: at most `PAGE_MAX` (checked before any page is written), or a
                // flat ring's at most `u16::MAX` points.
                for (t, &start) in table[..=LOCAL].iter_mut().zip(&buckets[b..=b + LOCAL]) {
                    *t = (start - first) as u16;
                }
            },
            true,
        )
    }

    /// The packing of a full build's points as *items* (see `ring::sort::sort_items`): page by page,
    /// each point as the bits of its normalized position below its page (`shift + LOCAL_BITS` of
    /// them) at the top of a word, above its node id (node ids are the slot ids, below `2^16` and
    /// below `2^(64 - shift - LOCAL_BITS)`), sorted within each page; `buckets[b]` the rank of the
    /// first point of bucket `b` in the geometry `(bits, shift)` (`2^bits + 1` entries, the last
    /// `items.len()`). `None` if `buckets` does not fit, or a page would hold more than it can.
    pub(crate) fn from_items(
        items: Vec<u64>,
        buckets: &[u32],
        (bits, shift): (u32, u32),
        norm: u32,
    ) -> Option<Self> {
        let n = items.len();
        let (in_page, low, id_mask) = item_bits(shift);
        if buckets.len() != (1 << bits) + 1 || buckets.last() != Some(&(n as u32)) || in_page > 64 {
            return None;
        }
        if Self::made_flat(1 << bits, n) {
            // The flat layout's slots are written over the items (see `flat_of_items`).
            return Self::flat_of_items(items, buckets, (bits, shift), norm % 64);
        }
        let starts: Vec<u32> = buckets.iter().step_by(LOCAL).copied().collect();
        Self::assemble(
            n,
            norm % 64,
            Vec::new(),
            (bits, shift),
            starts,
            |p, r| item_point(page_top(p, in_page), items[r], low, id_mask),
            |p, _, _, table| {
                let b = p << LOCAL_BITS;
                let first = buckets[b];
                // Within a page: at most `PAGE_MAX` (checked before any page is written), or a
                // flat ring's at most `u16::MAX` points.
                for (t, &start) in table[..=LOCAL].iter_mut().zip(&buckets[b..=b + LOCAL]) {
                    *t = (start - first) as u16;
                }
            },
            true,
        )
    }

    /// Whether a ring of `buckets` buckets and `n` points is made flat (see the module docs):
    /// its ranks fit the directory's `u16`s.
    pub(super) fn made_flat(buckets: usize, n: usize) -> bool {
        buckets <= DIR_MAX && n <= usize::from(u16::MAX)
    }

    /// The packing of `n` points, sorted, read as (normalized position, slot id) by
    /// `point(page, rank)` (its slot id must not depend on `page`: the owner of a page's next point
    /// is read with any page), in the
    /// table geometry `(bits, shift)`, whose pages start at the ranks `starts`
    /// (`2^(bits - LOCAL_BITS) + 1` entries, the last `n`); `table(p, a, b, entries)` fills the
    /// first `LOCAL + 1` (zeroed) table entries of page `p`, which holds ranks `a..b`. A ring of at
    /// most [`DIR_MAX`] buckets is made flat if `flat_ok` (tests make small rings paged too),
    /// others paged (see the module docs). `None` if a page would hold more points than it can.
    #[allow(clippy::too_many_arguments)]
    fn assemble(
        n: usize,
        norm: u32,
        ids: Vec<u32>,
        (bits, shift): (u32, u32),
        starts: Vec<u32>,
        point: impl Fn(usize, usize) -> (u64, u32),
        mut table: impl FnMut(usize, usize, usize, &mut [u16]),
        flat_ok: bool,
    ) -> Option<Self> {
        let norm = norm % 64;
        if n >= u32::MAX as usize {
            return None;
        }
        let buckets = 1usize << bits;
        let pages = buckets >> LOCAL_BITS;
        if starts.len() != pages + 1 {
            return None;
        }
        if flat_ok && Self::made_flat(buckets, n) {
            // No page tables: a flat ring's ranks are its directory's `u16`s.
            return Self::assemble_flat(n, norm, ids, (bits, shift), &starts, point, table);
        }
        if starts.windows(2).any(|w| (w[1] - w[0]) as usize > PAGE_MAX) {
            return None;
        }
        // Slots exact within their page (see the module docs): every key must fall in a page
        // (the table spans all 64 bits), and every slot id must fit below the page's bits.
        if shift + bits != 64 {
            return None;
        }
        let form = Form::new(bits - LOCAL_BITS);
        let lines: usize = starts
            .windows(2)
            .map(|w| page_lines((w[1] - w[0]) as usize))
            .sum();
        let owner = |r: usize| point(0, r).1;
        let first = if n > 0 { owner(0) } else { 0 };
        let mut all_ids = 0u64;
        // Page by page: each page's lines padded and then written while they are in the cache
        // (padding the whole chunk first was a pass of its own over memory, a tenth of a
        // 10,000-node build).
        let mut out: Vec<Line> = crate::kept::lines(lines + 1);
        let mut offsets = Vec::with_capacity(pages);
        for p in 0..pages {
            let (a, b) = (starts[p] as usize, starts[p + 1] as usize);
            let next = if b < n { owner(b) } else { first };
            let at = out.len();
            out.resize(at + page_lines(b - a), Line([PAD; 8]));
            write_page_with(&mut out[at..], b - a, form.sentinel(next), |t, slots| {
                table(p, a, b, t);
                for (i, slot) in slots.iter_mut().enumerate() {
                    let (q, id) = point(p, a + i);
                    all_ids |= u64::from(id);
                    *slot = (q << form.s) | u64::from(id);
                }
            });
            offsets.push(at);
        }
        if all_ids & !form.mask() != 0 {
            return None;
        }
        Self::of_pages(out, offsets, &starts, ids, shift, buckets, n, norm)
    }

    /// A paged packing of the pages written into `out` (`live` lines, pages at `offsets`; its
    /// tail line is pushed here), whose page starts are `starts` (`None` if a page holds more than
    /// a page can).
    #[allow(clippy::too_many_arguments)]
    fn of_pages(
        mut out: Vec<Line>,
        offsets: Vec<usize>,
        starts: &[u32],
        ids: Vec<u32>,
        shift: u32,
        buckets: usize,
        n: usize,
        norm: u32,
    ) -> Option<Self> {
        let live = close_chunk(&mut out);
        let chunk = Chunk::new(out, None, None, 0);
        let heads = offsets.into_iter().map(|at| chunk.head(at)).collect();
        let form = Form::new(64 - shift - LOCAL_BITS);
        Some(Self {
            heads: Heads::owned(heads),
            chunks: vec![chunk],
            starts: Starts::of_full(starts)?,
            ids: ids.into_boxed_slice(),
            shift,
            buckets,
            n,
            norm,
            form,
            mask: form.mask(),
            live,
            flat: None,
            dir: Vec::new(),
            first: Head(std::ptr::null()),
            spares: Some(Arc::new(Spares::default())),
            record: Some(Record::whole()),
        })
    }

    /// The table's size (`bits`: 2^bits buckets, at least one page's worth) and the shift that takes
    /// a position to its bucket, for `n` sorted points whose largest is `last`, owned by slot ids
    /// below `ids`: about [`POINTS_PER_BUCKET`] points per bucket, indexed by the top `bits` of the
    /// bits the positions actually use (a 32-bit profile's points all sit below 2^32), so buckets
    /// stay small whatever the key space.
    ///
    /// A paged ring's slot ids must fit below its page bits (see [`Form`]): a ring of
    /// fewer than ~64 points a node would not fit them at its size, and takes up to
    /// [`SPARSE_BITS`] bits more (sparser pages, ~8 points a node and more) so that they fit. A
    /// flat ring's slot ids are 16 bits whatever its size.
    pub(crate) fn geometry(n: usize, last: Option<u64>, ids: usize) -> (u32, u32) {
        let bits = (n / POINTS_PER_BUCKET)
            .max(2)
            .next_power_of_two()
            .trailing_zeros()
            .clamp(LOCAL_BITS, 32);
        let used = last.map_or(64, |hi| 64 - hi.leading_zeros());
        let flat = (1usize << bits) <= DIR_MAX && n <= usize::from(u16::MAX);
        let fit = LOCAL_BITS + (usize::BITS - ids.saturating_sub(1).leading_zeros());
        let bits = if !flat && fit > bits && fit <= bits + SPARSE_BITS {
            fit
        } else {
            bits
        };
        (bits, used.saturating_sub(bits))
    }

    /// This packing written afresh into one chunk (same points, slot ids and node ids): each page
    /// copied whole, line by line, since a page holds everything it is read by (its table, points,
    /// sentinel and pads). Paged packings only (a flat one is never repacked).
    pub(super) fn repacked(&self) -> Packed {
        let pages = self.heads.len();
        let mut out: Vec<Line> = crate::kept::lines(self.live + 1);
        let mut offsets = Vec::with_capacity(pages);
        for p in 0..pages {
            let at = out.len();
            offsets.push(at);
            out.extend_from_slice(self.page(p).lines());
            // The one chunk's slot.
            set_chunk_slot(&mut out[at..], 0);
        }
        let live = close_chunk(&mut out);
        let chunk = Chunk::new(out, None, None, 0);
        let heads = offsets.into_iter().map(|at| chunk.head(at)).collect();
        Self {
            heads: Heads::owned(heads),
            chunks: vec![chunk],
            starts: self.starts.clone(),
            ids: self.ids.clone(),
            shift: self.shift,
            buckets: self.buckets,
            n: self.n,
            norm: self.norm,
            form: self.form,
            mask: self.mask,
            live,
            dir: Vec::new(),
            flat: None,
            first: Head(std::ptr::null()),
            spares: self.spares.clone(),
            // Every head written afresh.
            record: Some(Record::whole()),
        }
    }
}

/// A paged packing written page by page, in page order, as a full build's sort finishes each
/// page: the same packing [`Packed::from_items`] makes of the same items, written while each page's
/// items are in the cache (they are never stored whole, nor read back from memory). A page's
/// sentinel is owned by the next point's slot, which is not known until a later page with points
/// comes: until then its place is kept, and the last ones take the ring's first point's.
pub(crate) struct PageWriter {
    out: Vec<Line>,
    offsets: Vec<usize>,
    starts: Vec<u32>,
    /// The words (of `out`) of the sentinels waiting for the next point's slot.
    pending: Vec<usize>,
    /// The slot of the ring's first point.
    first: Option<u32>,
    pages: usize,
    buckets: usize,
    shift: u32,
    norm: u32,
    /// The pages' slot form: the items' bits below a position's (`64 - shift - LOCAL_BITS`) above
    /// their slot ids.
    form: Form,
}

impl PageWriter {
    /// Whether a ring of `2^bits` buckets is paged whatever its count of points (larger rings
    /// than a flat one can be; a full build writes smaller ones through `Packed::from_items`).
    pub(crate) fn paged(bits: u32) -> bool {
        1usize.checked_shl(bits).is_none_or(|b| b > DIR_MAX)
    }

    /// A writer of a paged packing in the table geometry `(bits, shift)` whose positions are
    /// normalized by `norm`, whose pages will hold `counts` points (modulo 2^8, as a page holds at
    /// most 255). The counts size the room it reserves, exact when they are right, so that the
    /// chunk is never copied to shrink it. `None` if the geometry has no whole page or the items
    /// would not hold a position's bits below a page.
    pub(crate) fn new((bits, shift): (u32, u32), norm: u32, counts: &[u8]) -> Option<Self> {
        let in_page = shift + LOCAL_BITS;
        // The items are the pages' slots (see `Packed::from_items`): the table must span all 64
        // bits.
        if !(LOCAL_BITS..=32).contains(&bits) || in_page > 64 || shift + bits != 64 {
            return None;
        }
        let pages = 1usize << (bits - LOCAL_BITS);
        let low = 64 - in_page;
        let room = counts.iter().map(|&m| page_lines(m.into())).sum::<usize>() + 1;
        let mut starts = Vec::with_capacity(pages + 1);
        starts.push(0);
        Some(Self {
            out: crate::kept::lines(room),
            offsets: Vec::with_capacity(pages),
            starts,
            pending: Vec::new(),
            first: None,
            pages,
            buckets: 1 << bits,
            shift,
            norm: norm % 64,
            form: Form::new(low),
        })
    }

    /// Writes the next page from its `items` (as [`Packed::from_items`] takes them, sorted) and
    /// its `table`: where each of its buckets' first item is, then where its last item ends, on
    /// any common origin (`LOCAL + 1` entries, ascending, the last `items.len()` past the first).
    /// `false` (and nothing written) if there is no page left, the page holds more than a page
    /// can, or the table is not one. (Full builds write their pages in place: see
    /// [`page_with`](Self::page_with).)
    #[cfg(test)]
    pub(crate) fn page(&mut self, items: &[u64], table: &[u32]) -> bool {
        if table.len() != LOCAL + 1 {
            return false;
        }
        self.page_with(items.len(), |slots, t| {
            slots.copy_from_slice(items);
            t.copy_from_slice(table);
        })
    }

    /// Writes the next page of `m` items, which `write(slots, table)` writes in place: the items
    /// into `slots` (`m` of them), sorted (as [`Packed::from_items`] takes them), and the page's
    /// table into `table`: where each of its buckets' first item is, then where its last item
    /// ends, on any common origin (ascending, the last `m` past the first). `false` (and nothing
    /// written) if there is no page left, the page holds more than a page can, or the table
    /// written is not one.
    pub(crate) fn page_with(
        &mut self,
        m: usize,
        write: impl FnOnce(&mut [u64], &mut [u32; LOCAL + 1]),
    ) -> bool {
        let p = self.offsets.len();
        if p == self.pages || m > PAGE_MAX {
            return false;
        }
        let Ok(n) = u32::try_from(self.starts[p] as usize + m) else {
            return false;
        };
        let at = self.out.len();
        self.out.resize(at + page_lines(m), Line([PAD; 8]));
        // An item is its point's slot in the page: its position's bits below the page's above
        // its slot id (the form's bits; the ids fit them, as the items' maker checked).
        let mut ok = false;
        write_page_with(&mut self.out[at..], m, PAD, |t, slots| {
            let mut table = [0u32; LOCAL + 1];
            write(slots, &mut table);
            let origin = table[0];
            ok = table[LOCAL].wrapping_sub(origin) as usize == m
                && table.windows(2).all(|w| w[0] <= w[1]);
            for (e, &s) in t[..=LOCAL].iter_mut().zip(&table) {
                *e = s.wrapping_sub(origin) as u16;
            }
        });
        if !ok {
            self.out.truncate(at);
            return false;
        }
        let words: &[u64] = bytemuck::cast_slice(&self.out[at..]);
        let first = (m > 0).then(|| words[TABLE_WORDS]);
        if let Some(x) = first {
            let owner = self.form.owner(x);
            self.first.get_or_insert(owner);
            self.settle(owner);
        }
        self.pending.push(at * 8 + TABLE_WORDS + m);
        self.offsets.push(at);
        self.starts.push(n);
        true
    }

    /// Gives every waiting sentinel to slot `owner`.
    fn settle(&mut self, owner: u32) {
        let words: &mut [u64] = bytemuck::cast_slice_mut(&mut self.out);
        let sentinel = self.form.sentinel(owner);
        for &w in &self.pending {
            words[w] = sentinel;
        }
        self.pending.clear();
    }

    /// The packing, once every page is written; `None` before.
    pub(crate) fn finish(mut self) -> Option<Packed> {
        if self.offsets.len() != self.pages {
            return None;
        }
        self.settle(self.first.unwrap_or(0));
        let n = *self.starts.last()? as usize;
        Packed::of_pages(
            self.out,
            self.offsets,
            &self.starts,
            Vec::new(),
            self.shift,
            self.buckets,
            n,
            self.norm,
        )
    }
}

/// Closes a whole ring's chunk of pages (`out`): pushes its tail line and gives back room past it
/// beyond what kept memory may have (see `kept`; shrinking a vector of over-aligned lines copies it
/// whole). Returns the lines of its pages.
fn close_chunk(out: &mut Vec<Line>) -> usize {
    let live = out.len();
    out.push(TAIL);
    if out.capacity() > crate::kept::held_most(out.len()) {
        out.shrink_to_fit();
    }
    live
}

/// The position bits page `p` stands for, above an item's `in_page` bits (a ring of one page has
/// `in_page` up to 64: its page bits are none).
#[inline(always)]
pub(super) fn page_top(p: usize, in_page: u32) -> u64 {
    (p as u64).checked_shl(in_page).unwrap_or(0)
}

/// How a full build's items hold their points in the table geometry whose shift is `shift`: the
/// position bits in a page (`in_page`, the item's top bits when at most 64), the bits below them
/// (`low`), and the mask of the slot id among those (see [`item_point`]).
pub(super) fn item_bits(shift: u32) -> (u32, u32, u64) {
    let in_page = shift + LOCAL_BITS;
    let low = 64u32.saturating_sub(in_page);
    (in_page, low, (1u64 << low.min(16)) - 1)
}

/// A full build's item `x` of the page whose bits are `top` (see [`Packed::from_items`]) as a
/// normalized position and slot id: its position is `top` and the item's bits above `low`, its
/// slot id the item's bits under `id_mask`.
#[inline(always)]
pub(super) fn item_point(top: u64, x: u64, low: u32, id_mask: u64) -> (u64, u32) {
    (top | x >> low, (x & id_mask) as u32)
}

/// Closes a page whose `m` points a publication wrote into `dst` (its lines: the table's words,
/// the points, then pads, every word after the points [`PAD`] already): writes its `table` (made
/// as the points were: see `Packed::merged`) and its chunk slot `chunk`. Its sentinel, the word
/// after the points, stays a pad until the owner after the page is known (see `set_sentinel`).
pub(super) fn close_page(dst: &mut [Line], m: usize, table: &Table, chunk: u8) {
    write_table(dst, m, |t| t[..=LOCAL].copy_from_slice(table));
    set_chunk_slot(dst, chunk);
}

/// Sets the sentinel of the page of `m` points whose lines start `dst` to `sentinel`.
pub(super) fn set_sentinel(dst: &mut [Line], m: usize, sentinel: u64) {
    let words: &mut [u64] = bytemuck::cast_slice_mut(&mut dst[..page_lines(m)]);
    words[TABLE_WORDS + m] = sentinel;
}

/// Sets the chunk slot of the page whose lines start `dst` (see `Chunk::slot`).
pub(super) fn set_chunk_slot(dst: &mut [Line], chunk: u8) {
    let head: &mut [u8] = bytemuck::cast_slice_mut(&mut dst[..1]);
    head[SLOT_BYTE] = chunk;
}

/// Fills a page's zeroed table entries `0..=LOCAL` from its points' local buckets, in order.
pub(super) fn count_table(table: &mut [u16], locals: impl Iterator<Item = usize>) {
    for local in locals {
        table[local + 1] += 1;
    }
    for l in 1..=LOCAL {
        table[l] += table[l - 1];
    }
}

/// Writes a page of `m` points into `dst` (its lines, pads already), its sentinel slot
/// `sentinel`: `fill(table, slots)` fills the table entries `0..=LOCAL` (zeroed when it is called)
/// and the `m` slots.
#[inline(always)]
fn write_page_with(
    dst: &mut [Line],
    m: usize,
    sentinel: u64,
    fill: impl FnOnce(&mut [u16], &mut [u64]),
) {
    debug_assert!(m <= PAGE_MAX);
    debug_assert!(dst.len() == page_lines(m));
    let words: &mut [u64] = bytemuck::cast_slice_mut(dst);
    let (_, slots) = words.split_at_mut(TABLE_WORDS);
    let (slots, rest) = slots.split_at_mut(m);
    let mut wide = [0u16; LOCAL + 2];
    fill(&mut wide, slots);
    rest[1..=PAGE_PADS].fill(PAD);
    rest[0] = sentinel;
    store_table(dst, m, &mut wide);
}

/// Writes the table of a page of `m` points into its lines `dst`: `fill(table)` fills the entries
/// `0..=LOCAL` (zeroed when it is called).
#[inline(always)]
fn write_table(dst: &mut [Line], m: usize, fill: impl FnOnce(&mut [u16])) {
    let mut wide = [0u16; LOCAL + 2];
    fill(&mut wide);
    store_table(dst, m, &mut wide);
}

/// Stores table entries `wide` (`0..=LOCAL` filled) of a page of `m` points, with `m` as the last,
/// into the page's first words.
#[inline(always)]
fn store_table(dst: &mut [Line], m: usize, wide: &mut [u16; LOCAL + 2]) {
    debug_assert!(m <= PAGE_MAX);
    wide[LOCAL + 1] = m as u16;
    // The table is made in `u16`s and stored in bytes, in memory order (every entry is at most
    // `m <= PAGE_MAX`, 255).
    let words: &mut [u64] = bytemuck::cast_slice_mut(&mut dst[..1]);
    let entries: &mut [u8] = bytemuck::cast_slice_mut(&mut words[..TABLE_WORDS]);
    entries.fill(0);
    for (e, &w) in entries.iter_mut().zip(wide.iter()) {
        *e = w as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::super::check::sample;
    use super::super::{pack, FREE, ITEMS_TAIL};
    use super::*;

    #[test]
    fn pages_hold_the_invariants() {
        for n in [0usize, 1, 2, 3, 7, 8, 9, 100, 1000, 5000, 40_000] {
            let points = sample(n, 0);
            let owners: Vec<u32> = (0..points.len() as u32).map(|i| i % 1000).collect();
            let p = Packed::build(&points, &owners, 0).unwrap();
            p.check();
            assert_eq!(p.len(), n);
            for (r, &pt) in points.iter().enumerate() {
                assert_eq!(p.owner(r), owners[r]);
                assert_eq!(p.position(r), pt);
                assert_eq!(p.rank_at_or_after(pt), r);
            }
        }
    }

    /// `points` (sorted 64-bit positions) owned by `owners` as a full build's items, their
    /// bucket starts and their geometry, and each page's point count.
    fn as_items(points: &[u64], owners: &[u32]) -> (Vec<u64>, Vec<u32>, (u32, u32), Vec<u8>) {
        let ids = owners.iter().max().map_or(0, |&o| o as usize + 1);
        let geometry = Packed::geometry(points.len(), Some(u64::MAX), ids);
        let (bits, shift) = geometry;
        let low = 64 - shift - LOCAL_BITS;
        let items = (points.iter().zip(owners))
            .map(|(&x, &o)| x.checked_shl(low).unwrap_or(0) | u64::from(o))
            .collect();
        let mut buckets = vec![0u32; (1 << bits) + 1];
        for &x in points {
            buckets[(x >> shift) as usize + 1] += 1;
        }
        for b in 1..buckets.len() {
            buckets[b] += buckets[b - 1];
        }
        let counts = (buckets.windows(LOCAL + 1).step_by(LOCAL))
            .map(|t| (t[LOCAL] - t[0]) as u8)
            .collect();
        (items, buckets, geometry, counts)
    }

    /// Writes `items` page by page, as a full build's sort does.
    fn written(items: &[u64], buckets: &[u32], geometry: (u32, u32), counts: &[u8]) -> Packed {
        let mut w = PageWriter::new(geometry, 0, counts).unwrap();
        for t in buckets.windows(LOCAL + 1).step_by(LOCAL) {
            assert!(w.page(&items[t[0] as usize..t[LOCAL] as usize], t));
        }
        w.finish().unwrap()
    }

    #[test]
    fn a_page_writer_writes_the_pages_from_items_does() {
        for n in [1usize, 2, 17, 100, 1000, 5000, 40_000] {
            // Positions spread over 64 bits, the last one's top bit set (so that a flat packing
            // paged again has the same geometry), owners below the items' low bits.
            let mut points = sample(n - 1, 5);
            points.push(u64::MAX - 1);
            let (bits, shift) = Packed::geometry(n, Some(u64::MAX), 0);
            let id_bound = 1u32 << (64 - shift - LOCAL_BITS).min(16);
            let owners: Vec<u32> = (0..n as u32).map(|i| (i * 7) % id_bound.min(300)).collect();
            let (items, buckets, geometry, counts) = as_items(&points, &owners);
            assert_eq!(geometry, (bits, shift));
            let w = written(&items, &buckets, geometry, &counts);
            w.check();
            // Items with room past them for a flat ring's sentinel and pads, as a full build's.
            let mut own = Vec::with_capacity(n + ITEMS_TAIL);
            own.extend_from_slice(&items);
            let addr = own.as_ptr() as usize;
            let made = Packed::from_items(own, &buckets, geometry, 0).unwrap();
            if let Some(flat) = &made.flat {
                // Written over the items: the flat packing the sorted points make, array for array.
                made.check();
                let sorted = Packed::build(&points, &owners, 0).unwrap();
                let want = sorted.flat.as_ref().expect("as small, so flat too");
                assert_eq!(flat.slots, want.slots, "{n} points");
                assert_eq!(flat.lows, want.lows);
                assert_eq!(made.dir, sorted.dir);
                // In the items' own memory.
                assert_eq!(flat.slots.as_ptr() as usize, addr);
            }
            let p = made.paged();
            assert_eq!(w.page_words(), p.page_words(), "{n} points");
            assert_eq!(w.contents(), p.contents());
            let want: Vec<(u64, u32)> = points.iter().copied().zip(owners).collect();
            assert_eq!(w.contents(), want);
            // Exact room: the chunk was not copied to shrink it.
            assert_eq!(w.chunks[0].lines().len(), w.live + 1);
        }
    }

    #[test]
    fn a_page_writer_refuses_what_is_not_a_page() {
        let points = sample(3000, 9);
        let owners = vec![1u32; points.len()];
        let (items, buckets, geometry, counts) = as_items(&points, &owners);
        let pages = counts.len();
        let fresh = || PageWriter::new(geometry, 0, &counts).unwrap();
        // The pages up to the first of two points or more, written; then that page's table
        // whose last entry is not where the items end, one that descends, one too short.
        let mut w = fresh();
        let tables: Vec<&[u32]> = buckets.windows(LOCAL + 1).step_by(LOCAL).collect();
        let k = tables.iter().position(|t| t[LOCAL] - t[0] >= 2).unwrap();
        let range = |t: &[u32]| t[0] as usize..t[LOCAL] as usize;
        for t in &tables[..k] {
            assert!(w.page(&items[range(t)], t));
        }
        let t = tables[k];
        let r = range(t);
        assert!(!w.page(&items[r.start..r.end - 1], t));
        let mut down = t.to_vec();
        down[LOCAL / 2] = t[LOCAL] + 1;
        assert!(!w.page(&items[r.clone()], &down));
        assert!(!w.page(&items[r.clone()], &t[..LOCAL]));
        // More points than a page holds.
        let many = vec![0u64; PAGE_MAX + 1];
        let mut big = [0u32; LOCAL + 1];
        big[LOCAL] = many.len() as u32;
        assert!(!w.page(&many, &big));
        // Pages missing, then one too many.
        assert!(w.page(&items[r], t));
        assert!(w.finish().is_none());
        let mut w = fresh();
        for t in &tables {
            assert!(w.page(&items[range(t)], t));
        }
        assert!(!w.page(&[], &[0; LOCAL + 1]));
        let p = w.finish().unwrap();
        p.check();
        assert_eq!(p.len(), points.len());
        assert_eq!(pages, 1 << (geometry.0 - LOCAL_BITS));
        // A geometry with no whole page.
        assert!(PageWriter::new((LOCAL_BITS - 1, 0), 0, &[]).is_none());
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

    #[test]
    fn slot_ids_translate_to_node_ids() {
        let p = Packed::from_sorted(
            &[pack(10 << 16, 2), pack(20 << 16, 0)],
            &[0, 0],
            0,
            vec![5, FREE, 1],
        )
        .unwrap();
        assert_eq!(p.owner(0), 1);
        assert_eq!(p.owner(1), 5);
        assert_eq!(p.id(1), FREE);
    }
}
