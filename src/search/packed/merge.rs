//! The next packing from the previous one and a change ([`Packed::merged`]): only the pages that
//! the added and removed points fall in are written (into one new chunk), plus any page before them
//! whose wrap sentinel changes; every other page is shared with the previous packing. Safe code
//! only.
//!
//! The steps, in order: give every node of the new membership a slot id ([`SlotPlan`]: a node
//! keeps its slot while it stays, a new node takes the lowest free one); find the pages the change
//! touches; write their new contents straight into the new chunk, each page whole but for its
//! sentinel ([`Rewrite`]: a page that only gains points, or only loses one node's, is copied whole
//! and edited in place; any other is merged point by point); find the untouched pages whose
//! sentinel changes and, when the ring holds [`MAX_CHUNKS`] chunks, the live pages of the chunk
//! with the fewest; copy those into the chunk after the touched ones and set every written page's
//! sentinel; bring the page heads up to date (a kept ancestor's, where the lineage has one: see
//! `spares`); move the page starts by the touched pages' count changes.

use std::cell::Cell;

use super::build::{close_page, count_table, set_chunk_slot, set_sentinel};
use super::starts::{Starts, BLOCK};
use super::{
    page_lines, Chunk, Form, Head, Heads, Line, Packed, Page, Record, Table, FREE, LOCAL,
    LOCAL_BITS, MAX_CHUNKS, PAD, PAGE_MAX, POINTS_PER_BUCKET, SLACK, TABLE_WORDS, TAIL,
};

/// How many touched pages ahead of the one being merged are fetched. (Three measured 2–10 %
/// faster 1000- and 10,000-node publications than six, and two or four no better than three:
/// with more pages in flight, the hints' own issue stalls behind the fills.)
const PREFETCH_AHEAD: usize = 3;

/// The fewest pages a ring has for its publications to prefetch pages (2^12 pages: ~128 k points,
/// ~1.7 MiB; at 100 nodes, 512 pages, the hints measured 2 % slower).
const PREFETCH_MIN_PAGES: usize = 1 << 12;

/// The most words of a bitmap of its pages for [`Packed::ascending_pages`] to use one: 2^12 pages
/// (a 1000-node ring of 160 points a node has 2^13 and sorts instead).
const BITMAP_WORDS: usize = 64;

/// The capacity a publication gives a new chunk of `len` lines: an eighth more, so that a
/// chunk given back to the lineage's spares fits the next publications' chunks, which vary by a
/// few pages (a removal's chunk is a little smaller than an addition's; with no room, additions
/// took fresh memory every time, and faulted it in).
fn chunk_room(len: usize) -> usize {
    len + len / 8
}

/// What an incremental publication changes, in the ring's terms: node ids and positions as the
/// profile has them (the packing normalizes them and assigns the slots).
pub(crate) struct Change<'a> {
    /// The new points: (position, new node id), sorted by position then node id.
    pub(crate) fresh: &'a [(u64, u32)],
    /// The position of every point that goes (any order): exactly the points of the old nodes that
    /// left or whose points are made afresh.
    pub(crate) gone_positions: &'a [u64],
    /// By old node id: the node's new id, or `u32::MAX` if it left. The kept nodes keep their
    /// order (ids are dense in slot order).
    pub(crate) old_to_new: &'a [u32],
    /// By new node id: whether the node's points are new (its old points, if any, go).
    pub(crate) repoint: &'a [bool],
    /// Points of nodes that stay (neither left nor re-pointed) that go all the same, as
    /// (position, new node id), sorted: points that lose their position to an equal point under
    /// the profile's rule.
    pub(crate) evicted: &'a [(u64, u32)],
    /// Whether two points may share a position (otherwise the merge gives up on meeting one).
    pub(crate) keep_equal: bool,
}

/// A fresh point as a publication places it: its normalized position, its new node id and its
/// node's slot id.
type Fresh = (u64, u32, u32);

/// The slot of every node of the new membership (see the module docs).
pub(super) struct SlotPlan {
    /// Slot id → new node id (`FREE` for a free slot).
    pub(super) ids: Vec<u32>,
    /// By old slot id: whether the slot's points go.
    pub(super) gone: Vec<bool>,
    /// New node id → its slot id.
    slot_of: Vec<u32>,
    /// The mask of a slot's slot-id bits (the packing's).
    mask: u64,
}

impl SlotPlan {
    /// The new node id owning slot `s` (`FREE` for a free slot).
    #[inline]
    pub(super) fn id_of(&self, s: u64) -> u32 {
        self.ids
            .get((s & self.mask) as usize)
            .copied()
            .unwrap_or(FREE)
    }

    /// Whether slot `s`'s point goes (its slot's node left or is re-pointed).
    #[inline]
    pub(super) fn goes(&self, s: u64) -> bool {
        self.gone.get((s & self.mask) as usize) == Some(&true)
    }
}

/// The touched pages, written one after the other into the lines of the publication's new chunk:
/// each whole but for its sentinel, which is set when the chunk's other pages are known.
struct Rewrite {
    lines: Vec<Line>,
    /// For each touched page (in order): the line of `lines` it starts at, and its point count.
    spans: Vec<(usize, usize)>,
    /// For each touched page (in order): the slot id its old sentinel names, read while the page
    /// is in the cache (by the time the page is written, it is not).
    sentinels: Vec<u32>,
    /// For each touched page (in order): the slot of the chunk it was in (read as the sentinel).
    chunk_slots: Vec<u8>,
    /// How many old points were dropped.
    removed: usize,
    /// How many of them were evicted points (see [`Change::evicted`]).
    evicted: usize,
}

/// The page contents of the packing being made: the rewritten pages' from the [`Rewrite`] (its
/// lines, passed apart: they grow as the chunk's other pages are written), every other page's from
/// the previous packing.
struct NextPages<'a> {
    prev: &'a Packed,
    rewrite: &'a Rewrite,
    /// The touched pages, ascending (`rewrite.spans` in the same order).
    touched: &'a [usize],
    /// Where in `touched` the last search ended: pages are asked for mostly in ascending order,
    /// each near the one before, so a search starts by looking there.
    hint: Cell<usize>,
}

impl NextPages<'_> {
    /// Where page `p` is in `touched`, if it is touched.
    #[inline]
    fn touched_index(&self, p: usize) -> Option<usize> {
        let h = self.hint.get();
        // The first touched page at or after `p`, looked for from the hint, then everywhere.
        let i = match self.touched.get(h..h + 2) {
            Some(&[a, b]) if a < p && p <= b => h + 1,
            Some(&[a, _]) if a == p => h,
            _ => match self.touched.binary_search(&p) {
                Ok(i) | Err(i) => i,
            },
        };
        self.hint.set(i.min(self.touched.len().saturating_sub(2)));
        (self.touched.get(i) == Some(&p)).then_some(i)
    }

    /// The touched page's first line in the rewrite and its point count, if page `p` is touched.
    #[inline]
    fn span(&self, p: usize) -> Option<(usize, usize)> {
        self.rewrite.spans.get(self.touched_index(p)?).copied()
    }

    /// Page `p`'s points (slots); `lines` are the rewrite's.
    #[inline]
    fn contents<'b>(&'b self, lines: &'b [Line], p: usize) -> &'b [u64] {
        match self.span(p) {
            Some((at, m)) => {
                let words: &[u64] = bytemuck::cast_slice(&lines[at..at + page_lines(m)]);
                &words[TABLE_WORDS..TABLE_WORDS + m]
            }
            None => self.prev.page(p).points(),
        }
    }

    /// Page `p`'s point count (an untouched page's from the page starts, without reading it).
    #[inline]
    fn len(&self, p: usize) -> usize {
        match self.span(p) {
            Some((_, m)) => m,
            None => self.prev.page_len(p),
        }
    }

    /// The slot id owning the first point after page `p`, wrapping (there is one: the packing is
    /// not empty); `own` is page `p`'s index in the touched pages, if it is touched; `lines` are
    /// the rewrite's.
    fn next_owner(&self, lines: &[Line], p: usize, own: Option<usize>) -> u32 {
        let pages = self.prev.pages();
        let q = (p + 1) % pages;
        if self.span(q).is_none() && self.prev.page_len(q) > 0 {
            // The next page is untouched and holds a point: the first point after `p` is the one
            // it was, and page `p`'s old sentinel names its owner (slot ids stay), where reading
            // the next page would miss the cache (a touched page's, as the rewrite read it).
            return match own.and_then(|i| self.rewrite.sentinels.get(i)) {
                Some(&s) => s,
                None => self.prev.page(p).sentinel_owner(),
            };
        }
        let mut q = q;
        while self.len(q) == 0 {
            q = (q + 1) % pages;
        }
        self.prev.form.owner(self.contents(lines, q)[0])
    }
}

impl Packed {
    /// The next packing: this one, holding the points of a membership of `nodes_before` nodes, with
    /// `change` applied (see the module docs). `None` when the change does not fit an incremental
    /// update: slot ids would pass 16 bits, the table's size would change by more than the slack
    /// allows, a point falls outside the geometry, a page overflows, the removed points are not
    /// exactly those described, or two points meet at one position and `keep_equal` is false. The
    /// caller then builds afresh.
    pub(crate) fn merged(&self, nodes_before: usize, change: &Change<'_>) -> Option<Packed> {
        let plan = self.plan_slots(nodes_before, change)?;
        let norm = self.norm;
        let fresh: Vec<Fresh> = change
            .fresh
            .iter()
            .map(|&(p, id)| (p << norm, id, plan.slot_of[id as usize]))
            .collect();
        let gone_positions: Vec<u64> = change.gone_positions.iter().map(|&p| p << norm).collect();
        let evicted: Vec<(u64, u32)> = change
            .evicted
            .iter()
            .map(|&(p, id)| (p << norm, id))
            .collect();
        // Points, not slots: a flat packing's stand-ins go or stay as its merge decides.
        let n = (self.len() + fresh.len()).checked_sub(gone_positions.len() + evicted.len())?;
        // The table is kept while the points stay within a factor of two of its size, or while a
        // fresh build would make it as sparse for the slot ids (see `Packed::geometry`).
        let dense = n <= self.buckets * 2 * POINTS_PER_BUCKET && n * 2 >= self.buckets;
        let sparse = || {
            let (bits, _) = Self::geometry(n, Some(u64::MAX), plan.ids.len());
            self.flat.is_none() && 1 << bits == self.buckets
        };
        if n == 0 || !(dense || sparse()) {
            return None;
        }
        if fresh
            .last()
            .is_some_and(|&(p, _, _)| (p >> self.shift) as usize >= self.buckets)
        {
            return None;
        }
        if self.flat.is_some() {
            return self.merged_flat(
                plan,
                &fresh,
                &gone_positions,
                &evicted,
                n,
                change.keep_equal,
            );
        }
        let touched = self.touched_pages(&fresh, &gone_positions, &evicted);
        let drained = self.drained_chunk_pages();
        let slot = self.free_chunk_slot()?;
        let mut rewrite = self.rewrite(
            &touched,
            (&fresh, &evicted),
            &plan,
            change.keep_equal,
            (&drained, slot),
        )?;
        if rewrite.removed != gone_positions.len() + evicted.len()
            || rewrite.evicted != evicted.len()
        {
            return None;
        }
        let lines = std::mem::take(&mut rewrite.lines);
        let next = NextPages {
            prev: self,
            rewrite: &rewrite,
            touched: &touched,
            hint: Cell::new(0),
        };
        let written = self.ascending_pages(
            touched
                .iter()
                .copied()
                .chain(self.resent_pages(&touched, &next, &lines))
                .chain(drained)
                .collect(),
        );
        let (heads, chunks, live) = self.write(&written, &next, lines, slot);
        // The heads differ from this packing's at the pages written.
        let record = self
            .record
            .as_ref()
            .map(|parent| Record::changed(parent, written.iter().map(|&p| p as u32).collect()));
        let starts = self.moved_starts(&touched, &next)?;
        debug_assert_eq!(starts.start(self.pages()), n);
        let merged = Packed {
            heads: Heads::owned(heads),
            chunks,
            starts,
            ids: plan.ids.into_boxed_slice(),
            shift: self.shift,
            buckets: self.buckets,
            n,
            norm,
            form: self.form,
            mask: self.mask,
            live,
            flat: None,
            dir: Vec::new(),
            first: Head(std::ptr::null()),
            spares: self.spares.clone(),
            record,
        };
        let held: usize = merged.chunks.iter().map(|c| c.lines().len()).sum();
        if held > SLACK * live {
            return Some(merged.repacked());
        }
        Some(merged)
    }

    /// Step 1: the slot of every node of the new membership. A node keeps its slot while it stays;
    /// the slots of nodes that left are free, and each new node takes the lowest free one (or a new
    /// slot past the end). `None` if the slots would pass 16 bits, or a paged packing's page bits.
    fn plan_slots(&self, nodes_before: usize, change: &Change<'_>) -> Option<SlotPlan> {
        let slots = self.slot_bound(nodes_before);
        let (old_to_new, repoint) = (change.old_to_new, change.repoint);
        // Each slot's old node: the table's entry (`FREE` for a free slot), or the slot id itself
        // right after a full build, whose table is empty. Made in simple passes, each a loop the
        // compiler keeps in registers (one loop doing all of it spilled to the stack).
        let (mut ids, gone) = match self.ids.is_empty() {
            true => plan_kept(0..slots as u32, old_to_new, repoint),
            false => plan_kept(self.ids.iter().copied(), old_to_new, repoint),
        };
        // Only the slots of the fresh points' nodes are asked for. When the kept nodes hold the
        // first ids (a builder numbers new nodes last) and every fresh point is a new node's,
        // those are the new nodes' slots, and the kept nodes' are not written down.
        let len = repoint.len();
        let kept = ids.iter().filter(|&&id| (id as usize) < len).count();
        let top = (ids.iter().map(|&id| {
            if (id as usize) < len {
                id as usize + 1
            } else {
                0
            }
        }))
        .max()
        .unwrap_or(0);
        let mut slot_of = vec![FREE; len];
        let known = top == kept && change.fresh.iter().all(|&(_, id)| id as usize >= kept);
        if !known {
            for (s, &id) in ids.iter().enumerate() {
                if let Some(at) = slot_of.get_mut(id as usize) {
                    *at = s as u32;
                }
            }
        }
        // The new nodes (the ids no slot kept), in id order, take the free slots from the lowest,
        // then slots past the end: none after a removal, and when the kept nodes hold the first
        // ids, the rest without a pass over the ids.
        let new = len.saturating_sub(kept);
        let mut free = 0;
        let mut place = |id: usize, ids: &mut Vec<u32>| {
            while free < ids.len() && ids[free] != FREE {
                free += 1;
            }
            if free == ids.len() {
                ids.push(FREE);
            }
            ids[free] = id as u32;
            free as u32
        };
        if new > 0 && top == kept {
            for (id, slot) in slot_of.iter_mut().enumerate().skip(kept) {
                *slot = place(id, &mut ids);
            }
        } else if new > 0 {
            for (id, slot) in slot_of.iter_mut().enumerate() {
                if *slot == FREE {
                    *slot = place(id, &mut ids);
                }
            }
        }
        // Slot ids fit 16 bits, and a paged packing's fit below its pages' bits (its form's).
        let bound = (self.mask as usize + 1).min(1 << 16);
        (ids.len() <= bound).then_some(SlotPlan {
            ids,
            gone,
            slot_of,
            mask: self.mask,
        })
    }

    /// The page of normalized position `x`.
    #[inline]
    fn page_index(&self, x: u64) -> usize {
        (((x >> self.shift) as usize) >> LOCAL_BITS).min(self.pages() - 1)
    }

    /// Step 2: the pages that points are added to or removed from, ascending.
    fn touched_pages(
        &self,
        fresh: &[Fresh],
        gone_positions: &[u64],
        evicted: &[(u64, u32)],
    ) -> Vec<usize> {
        self.ascending_pages(
            fresh
                .iter()
                .map(|&(p, _, _)| self.page_index(p))
                .chain(gone_positions.iter().map(|&p| self.page_index(p)))
                .chain(evicted.iter().map(|&(p, _)| self.page_index(p)))
                .collect(),
        )
    }

    /// `pages` (page indexes, any order, repeats allowed) ascending, each once. A ring of up to
    /// 64 · [`BITMAP_WORDS`] pages marks them in a bitmap of its pages and reads it back in order
    /// (one word for 64 pages): cheaper than sorting the ~160 pages a node's points fall in.
    fn ascending_pages(&self, mut pages: Vec<usize>) -> Vec<usize> {
        let words = self.pages().div_ceil(64);
        if words > BITMAP_WORDS || pages.len() < 16 {
            pages.sort_unstable();
            pages.dedup();
            return pages;
        }
        // On the stack: a small allocation freed at once here would shift what the allocator
        // keeps between publications (measured: more heap trims and regrowths at 100 nodes).
        let mut marks = [0u64; BITMAP_WORDS];
        for &p in &pages {
            marks[p / 64] |= 1 << (p % 64);
        }
        pages.clear();
        for (w, &word) in marks[..words].iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                pages.push(w * 64 + bits.trailing_zeros() as usize);
                bits &= bits - 1;
            }
        }
        pages
    }

    /// Step 3: the new contents of the touched pages, written into the lines of the new chunk
    /// (whose slot is `slot`, and which will also hold the `drained` pages): their points less
    /// those of the slots that go and the evicted ones, merged with the fresh points by (position,
    /// node id). `None` if a page overflows, a fresh point is left over, or two points meet at one
    /// position where that is not allowed.
    fn rewrite(
        &self,
        touched: &[usize],
        (fresh, evicted): (&[Fresh], &[(u64, u32)]),
        plan: &SlotPlan,
        keep_equal: bool,
        (drained, slot): (&[usize], u8),
    ) -> Option<Rewrite> {
        // The chunk's lines, from the page starts (reading the pages here would take their cache
        // misses one by one): at most each touched page's lines with its fresh points, the drained
        // pages' lines, and the tail line; the pages whose sentinels change come on top (a few),
        // within the chunk's room. (Close to what is written, so that the chunks of additions and
        // of removals fit each other's room, and publications reuse them from the spares.)
        let mut len = 1 + drained
            .iter()
            .map(|&p| page_lines(self.page_len(p)))
            .sum::<usize>();
        // The fresh points of each touched page (they come in page order).
        let mut heres = Vec::with_capacity(touched.len());
        let mut g = 0;
        for &t in touched {
            let from = g;
            while fresh
                .get(g)
                .is_some_and(|&(q, _, _)| self.page_index(q) == t)
            {
                g += 1;
            }
            heres.push(g - from);
            len += page_lines(self.page_len(t) + (g - from));
        }
        let form = self.form;
        let mut out = Rewrite {
            lines: match &self.spares {
                Some(s) => s.take_lines(len, chunk_room(len)),
                None => Vec::with_capacity(chunk_room(len)),
            },
            spans: Vec::with_capacity(touched.len()),
            sentinels: Vec::with_capacity(touched.len()),
            chunk_slots: Vec::with_capacity(touched.len()),
            removed: 0,
            evicted: 0,
        };
        let id_of = |s: u64| plan.id_of(s);
        let mut f = 0;
        let mut e = 0;
        // The touched pages are scattered over the ring: each is fetched a few pages ahead of its
        // turn, so their misses overlap instead of coming one after the other. (A small ring is in
        // the cache already, and the hints only cost.)
        let ahead = if self.pages() >= PREFETCH_MIN_PAGES {
            PREFETCH_AHEAD
        } else {
            0
        };
        for &t in touched.iter().take(ahead) {
            self.prefetch_page(t);
        }
        let (gone_slots, first_gone) = crate::flags::count_and_first(&plan.gone);
        // Whether any old slot goes (otherwise the old points are copied in runs, unread).
        let any_gone = gone_slots > 0;
        // The one slot that goes, when only one does (a node removed or re-pointed): its points
        // are found by comparing owners, without a table read per point.
        let only_gone = first_gone.filter(|_| gone_slots == 1).map(|s| s as u32);
        for (i, &t) in touched.iter().enumerate() {
            if ahead > 0 {
                if let Some(&q) = touched.get(i + ahead) {
                    self.prefetch_page(q);
                }
            }
            let pg = self.page(t);
            out.sentinels.push(pg.sentinel_owner());
            out.chunk_slots.push(pg.chunk_slot());
            let here = heres[i];
            let at = out.lines.len();
            let pts = pg.points();
            // A page that only gains points, or only loses the one gone slot's, is copied and
            // edited in place.
            if evicted.is_empty() && edit_in_place() {
                let edit = match (here, only_gone) {
                    (0, Some(g)) if any_gone => Some(self.drop_in_place(&mut out.lines, at, pg, g)),
                    (1.., _) if !any_gone && pg.len() + here <= PAGE_MAX => {
                        self.insert_in_place(&mut out.lines, at, pg, &fresh[f..f + here], id_of);
                        Some(0)
                    }
                    _ => None,
                };
                if let Some(removed) = edit {
                    out.removed += removed;
                    f += here;
                    let m = pg.len() + here - removed;
                    if !self.settle_edited(&mut out, (at, m), keep_equal, slot) {
                        return None;
                    }
                    continue;
                }
            }
            // Any other is written in place: its lines, padded, with room for its old points and
            // the fresh points in it; `k` points written so far.
            out.lines
                .resize(at + page_lines(pg.len() + here), Line([PAD; 8]));
            let words: &mut [u64] = bytemuck::cast_slice_mut(&mut out.lines[at..]);
            let slots = &mut words[TABLE_WORDS..TABLE_WORDS + pg.len() + here];
            let mut k = 0;
            if evicted.is_empty() {
                // The common case, without evictions: the old points are copied in runs between
                // the fresh points (a fresh point goes before the first old point not below it by
                // (position, node id)), dropping those of the slots that go.
                let mut table = pg.table();
                let mut removed = 0;
                let mut copy_run =
                    |slots: &mut [u64], k: &mut usize, table: &mut Table, a: usize, b: usize| {
                        if !any_gone {
                            slots[*k..*k + (b - a)].copy_from_slice(&pts[a..b]);
                            *k += b - a;
                            return;
                        }
                        // Runs of kept points between the ones that go, each copied at once.
                        let mut i = a;
                        while i < b {
                            let next_gone = match only_gone {
                                Some(g) => pts[i..b].iter().position(|&s| form.owner(s) == g),
                                None => pts[i..b].iter().position(|&s| plan.goes(s)),
                            };
                            let end = next_gone.map_or(b, |g| i + g);
                            slots[*k..*k + (end - i)].copy_from_slice(&pts[i..end]);
                            *k += end - i;
                            if end < b {
                                removed += 1;
                                retable(table, Form::local(pts[end]), u16::wrapping_sub);
                            }
                            i = end + 1;
                        }
                    };
                let mut at_old = 0;
                for &(q, id, slot_id) in &fresh[f..f + here] {
                    // Positions compared in the page's slots: their bits above the slot ids.
                    let (qs, ids) = (form.key(q), !form.mask());
                    let mut j = at_old;
                    while j < pts.len() {
                        let p = pts[j] & ids;
                        if p > qs || (p == qs && id_of(pts[j]) >= id) {
                            break;
                        }
                        j += 1;
                    }
                    copy_run(slots, &mut k, &mut table, at_old, j);
                    let fresh_slot = form.slot(q, slot_id);
                    slots[k] = fresh_slot;
                    k += 1;
                    retable(&mut table, Form::local(fresh_slot), u16::wrapping_add);
                    at_old = j;
                }
                copy_run(slots, &mut k, &mut table, at_old, pts.len());
                out.removed += removed;
                f += here;
                if !self.settle_page(&mut out, (at, k), table, keep_equal, slot) {
                    return None;
                }
                continue;
            }
            let mut push_fresh_below =
                |slots: &mut [u64], k: &mut usize, below: Option<(u64, u32)>| {
                    while let Some(&(q, id, slot_id)) = fresh.get(f) {
                        if self.page_index(q) != t || below.is_some_and(|b| (q, id) >= b) {
                            break;
                        }
                        slots[*k] = form.slot(q, slot_id);
                        *k += 1;
                        f += 1;
                    }
                };
            for &s in pts {
                if plan.goes(s) {
                    out.removed += 1;
                    continue;
                }
                let key = (pg.position_of(s), id_of(s));
                if evicted.get(e) == Some(&key) {
                    e += 1;
                    out.removed += 1;
                    out.evicted += 1;
                    continue;
                }
                push_fresh_below(slots, &mut k, Some(key));
                slots[k] = s;
                k += 1;
            }
            push_fresh_below(slots, &mut k, None);
            let mut table = [0; LOCAL + 1];
            count_table(&mut table, slots[..k].iter().map(|&s| Form::local(s)));
            if !self.settle_page(&mut out, (at, k), table, keep_equal, slot) {
                return None;
            }
        }
        (f == fresh.len()).then_some(out)
    }

    /// Closes the touched page of `m` points written into `out`'s lines from line `at`, with
    /// `table`, into the chunk of slot `slot`: writes its table, drops the lines it did not fill,
    /// and records its span; or answers false if it overflows or two of its points meet where that
    /// is not allowed.
    fn settle_page(
        &self,
        out: &mut Rewrite,
        (at, m): (usize, usize),
        table: Table,
        keep_equal: bool,
        slot: u8,
    ) -> bool {
        if m > PAGE_MAX {
            return false;
        }
        let dst = &mut out.lines[at..];
        let words: &[u64] = bytemuck::cast_slice(&dst[..page_lines(m)]);
        let ids = !self.form.mask();
        let slots = &words[TABLE_WORDS..TABLE_WORDS + m];
        if !keep_equal && slots.windows(2).any(|s| s[0] & ids == s[1] & ids) {
            return false;
        }
        debug_assert_eq!(usize::from(table[LOCAL]), m);
        close_page(dst, m, &table, slot);
        out.lines.truncate(at + page_lines(m));
        out.spans.push((at, m));
        true
    }

    /// A touched page none of whose old points goes, copied whole into `lines` (from line `at`,
    /// its end) and its `fresh` points inserted in place, from the last: each moves the old points
    /// after it up by one. (Fewer writes than the general path's: the page is copied once, and
    /// only its points after the first fresh one move again.)
    fn insert_in_place(
        &self,
        lines: &mut Vec<Line>,
        at: usize,
        pg: Page<'_>,
        fresh: &[Fresh],
        id_of: impl Fn(u64) -> u32,
    ) {
        let (form, ids) = (self.form, !self.form.mask());
        let m = pg.len() + fresh.len();
        lines.extend_from_slice(pg.lines());
        lines.resize(at + page_lines(m), Line([PAD; 8]));
        let words: &mut [u64] = bytemuck::cast_slice_mut(&mut lines[at..]);
        let (table, slots) = words.split_at_mut(TABLE_WORDS);
        let table: &mut [u8] = bytemuck::cast_slice_mut(table);
        // The old points `..end` are not yet placed.
        let mut end = pg.len();
        for (i, &(q, id, slot_id)) in fresh.iter().enumerate().rev() {
            // The point goes after the old points below it by (position, node id).
            let qs = form.key(q);
            let mut j = end;
            while j > 0 {
                let p = slots[j - 1] & ids;
                if p < qs || (p == qs && id_of(slots[j - 1]) < id) {
                    break;
                }
                j -= 1;
            }
            slots.copy_within(j..end, j + i + 1);
            let s = form.slot(q, slot_id);
            slots[j + i] = s;
            end = j;
            // Entries above its local bucket, and the count, count it.
            for e in &mut table[Form::local(s) + 1..=LOCAL + 1] {
                *e += 1;
            }
        }
        slots[m + 1..].fill(PAD);
    }

    /// A touched page with no fresh point, of which the points of slot `gone` go, copied whole
    /// into `lines` (from line `at`, its end) and those points dropped in place: the runs between
    /// them move down. Returns how many went.
    fn drop_in_place(&self, lines: &mut Vec<Line>, at: usize, pg: Page<'_>, gone: u32) -> usize {
        let form = self.form;
        let m = pg.len();
        lines.extend_from_slice(pg.lines());
        let words: &mut [u64] = bytemuck::cast_slice_mut(&mut lines[at..]);
        let (table, slots) = words.split_at_mut(TABLE_WORDS);
        let table: &mut [u8] = bytemuck::cast_slice_mut(table);
        let goes = |s: &u64| form.owner(*s) == gone;
        let Some(first) = slots[..m].iter().position(goes) else {
            return 0;
        };
        let (mut k, mut i) = (first, first);
        while i < m {
            // Slot `i` goes: entries above its local bucket, and the count, no longer count it.
            for e in &mut table[Form::local(slots[i]) + 1..=LOCAL + 1] {
                *e -= 1;
            }
            let next = slots[i + 1..m]
                .iter()
                .position(goes)
                .map_or(m, |d| i + 1 + d);
            slots.copy_within(i + 1..next, k);
            k += next - i - 1;
            i = next;
        }
        slots[k + 1..page_lines(k) * 8 - TABLE_WORDS].fill(PAD);
        lines.truncate(at + page_lines(k));
        m - k
    }

    /// Closes a touched page of `m` points edited in place in `out`'s lines from line `at` (its
    /// table already counts them) into the chunk of slot `slot`, and records its span; or answers
    /// false if two of its points meet where that is not allowed.
    fn settle_edited(
        &self,
        out: &mut Rewrite,
        (at, m): (usize, usize),
        keep_equal: bool,
        slot: u8,
    ) -> bool {
        let dst = &mut out.lines[at..];
        debug_assert_eq!(dst.len(), page_lines(m));
        let words: &[u64] = bytemuck::cast_slice(&dst[..]);
        let ids = !self.form.mask();
        let slots = &words[TABLE_WORDS..TABLE_WORDS + m];
        if !keep_equal && slots.windows(2).any(|s| s[0] & ids == s[1] & ids) {
            return false;
        }
        set_chunk_slot(dst, slot);
        out.spans.push((at, m));
        true
    }

    /// Step 4: the untouched pages whose sentinel changes: walking back from each touched page over
    /// empty ones to the first non-empty one.
    /// (`lines` are the rewrite's.)
    fn resent_pages(&self, touched: &[usize], next: &NextPages<'_>, lines: &[Line]) -> Vec<usize> {
        let pages = self.pages();
        let mut resent = Vec::new();
        for &t in touched {
            // The page before `t` keeps its sentinel when `t` held a point before and holds one
            // now, owned by the same slot: then the first point after it has the same owner. (Page
            // `t` is in the cache; the page before it is read only when this does not settle it.)
            let (old, new) = (self.page(t), next.contents(lines, t));
            let owner = |s: u64| self.form.owner(s);
            if old.len() > 0 && !new.is_empty() && owner(old.points()[0]) == owner(new[0]) {
                continue;
            }
            let mut q = t;
            for _ in 1..pages {
                q = (q + pages - 1) % pages;
                if next.span(q).is_some() {
                    break;
                }
                let pg = self.page(q);
                // `q` is untouched (a touched one ends the walk above).
                if pg.sentinel_owner() != next.next_owner(lines, q, None) {
                    resent.push(q);
                }
                if pg.len() > 0 {
                    break;
                }
            }
        }
        resent
    }

    /// The least chunk slot the packing's chunks do not use, for a publication's new chunk (see
    /// [`Chunk::slot`]); `None` if every slot is used (it holds at most [`MAX_CHUNKS`] chunks,
    /// far fewer than the slots).
    fn free_chunk_slot(&self) -> Option<u8> {
        let mut used = [false; 256];
        for c in &self.chunks {
            used[usize::from(c.slot)] = true;
        }
        // Slot 255 is never taken: `by_slot` in `write` marks "no chunk" with it.
        (0..u8::MAX).find(|&s| !used[usize::from(s)])
    }

    /// Step 5: when the packing holds [`MAX_CHUNKS`], the live pages of the chunk that has the
    /// fewest (the oldest of those), moved into the new chunk so that it can go.
    fn drained_chunk_pages(&self) -> Vec<usize> {
        if self.chunks.len() < MAX_CHUNKS {
            return Vec::new();
        }
        let Some(drained) = self.chunks.iter().min_by_key(|c| c.live) else {
            return Vec::new();
        };
        let live = |&p: &usize| drained.contains(self.heads[p]);
        match &drained.memory.pages {
            Some(pages) => pages.iter().map(|&p| p as usize).filter(live).collect(),
            None => (0..self.pages()).filter(live).collect(),
        }
    }

    /// Step 6: pages `written` (ascending) in one new chunk, the rewrite's `lines` (which hold the
    /// touched ones, to which the others are added): the new heads, the chunks that still hold live
    /// pages (each one's live count lowered by the pages that left it) with the new chunk last, and
    /// the lines of every page the heads point at.
    fn write(
        &self,
        written: &[usize],
        next: &NextPages<'_>,
        mut out: Vec<Line>,
        slot: u8,
    ) -> (Box<[Head]>, Vec<Chunk>, usize) {
        // This packing's heads: a kept ancestor's brought up to date where the lineage has one
        // (a few hundred heads written), else a copy.
        let updated = match (&self.spares, &self.record) {
            (Some(s), Some(r)) => s.take_updated_heads(r, &self.heads),
            _ => None,
        };
        let mut heads = match (updated, &self.spares) {
            (Some(heads), _) => heads,
            (None, Some(s)) => {
                let mut heads = s.take_heads(self.pages());
                heads.extend_from_slice(&self.heads);
                heads
            }
            (None, None) => self.heads.to_vec(),
        };
        let mut offsets: Vec<usize> = Vec::with_capacity(written.len());
        let mut chunks = self.chunks.clone();
        // Each chunk's place in `chunks` by its slot, to find the one each written page leaves.
        let mut by_slot = [u8::MAX; 256];
        for (i, c) in chunks.iter().enumerate() {
            by_slot[usize::from(c.slot)] = i as u8;
        }
        let mut left = 0;
        for &p in written {
            let old = self.heads[p];
            let old_lines = page_lines(self.page_len(p));
            left += old_lines;
            // Page `p` is looked up before the page after it (which `next_owner` reads): the
            // touched pages are found from a hint that only moves forward.
            let touched = next.touched_index(p);
            let sentinel = self.form.sentinel(next.next_owner(&out, p, touched));
            let (at, was_in) = match touched {
                Some(i) => {
                    // A touched page, written but for its sentinel.
                    let (at, m) = next.rewrite.spans[i];
                    set_sentinel(&mut out[at..], m, sentinel);
                    (at, next.rewrite.chunk_slots[i])
                }
                None => {
                    // An untouched page (its sentinel changes, or it leaves a drained chunk):
                    // copied whole, its sentinel and chunk slot set.
                    let pg = self.page(p);
                    let at = out.len();
                    out.extend_from_slice(pg.lines());
                    set_sentinel(&mut out[at..], pg.len(), sentinel);
                    set_chunk_slot(&mut out[at..], slot);
                    (at, pg.chunk_slot())
                }
            };
            // The chunk the page leaves (checked by address: the empty page names slot 0 and
            // is in no chunk).
            if let Some(c) = chunks.get_mut(usize::from(by_slot[usize::from(was_in)])) {
                if c.contains(old) {
                    c.live = c.live.saturating_sub(old_lines);
                }
            }
            offsets.push(at);
        }
        let lines = out.len();
        debug_assert_eq!(
            lines,
            written
                .iter()
                .map(|&p| page_lines(next.len(p)))
                .sum::<usize>()
        );
        let live = self.live + lines - left;
        out.push(TAIL);
        chunks.retain(|c| c.live > 0);
        // Every written page takes at least a line.
        debug_assert!(lines > 0 || written.is_empty());
        if lines > 0 {
            let chunk = Chunk::new(
                out,
                Some(written.iter().map(|&p| p as u32).collect()),
                self.spares.clone(),
                slot,
            );
            for (&p, &at) in written.iter().zip(&offsets) {
                heads[p] = chunk.head(at);
            }
            chunks.push(chunk);
        } else if let Some(s) = &self.spares {
            s.give_lines(out);
        }
        (heads.into_boxed_slice(), chunks, live)
    }

    /// Step 7: the page starts, moved by the count changes of the touched pages (see `starts`),
    /// in arrays from the lineage's spares where it keeps them. `None` if a page overflows.
    fn moved_starts(&self, touched: &[usize], next: &NextPages<'_>) -> Option<Starts> {
        let (pages, blocks) = (self.pages(), self.pages().div_ceil(BLOCK) + 1);
        let arrays = match &self.spares {
            Some(s) => (s.take_counts(pages), s.take_starts(blocks)),
            None => (Vec::with_capacity(pages), Vec::with_capacity(blocks)),
        };
        // The rewrite's spans are in the order of `touched`.
        let len = |i: usize| next.rewrite.spans[i].1;
        self.starts.moved(touched, len, arrays)
    }
}

/// [`Packed::plan_slots`]' first passes: for the slots' old node ids `olds` (`FREE` or any id past
/// `old_to_new` for a free slot), each slot's new node id (`FREE` if free or its node left) and
/// whether its points go (its node left or is re-pointed; a free slot has none).
fn plan_kept(
    olds: impl Iterator<Item = u32> + Clone,
    old_to_new: &[u32],
    repoint: &[bool],
) -> (Vec<u32>, Vec<bool>) {
    if let Some(gap) = one_gap(old_to_new, repoint) {
        // Arithmetic in place of a table read per slot (which the compiler cannot vectorize).
        let len = old_to_new.len() as u32;
        let ids = (olds.clone())
            .map(|old| {
                let id = old - u32::from(old > gap);
                if old >= len || old == gap {
                    FREE
                } else {
                    id
                }
            })
            .collect();
        let gone = match gap < len {
            true => olds.map(|old| old == gap).collect(),
            false => olds.map(|_| false).collect(),
        };
        return (ids, gone);
    }
    plan_kept_by_table(olds, old_to_new, repoint)
}

/// [`plan_kept`] for any renumbering: a read of `old_to_new` and of `repoint` per slot.
fn plan_kept_by_table(
    olds: impl Iterator<Item = u32> + Clone,
    old_to_new: &[u32],
    repoint: &[bool],
) -> (Vec<u32>, Vec<bool>) {
    let ids: Vec<u32> = (olds.clone())
        .map(|old| old_to_new.get(old as usize).copied().unwrap_or(FREE))
        .collect();
    let gone = (olds.zip(&ids))
        .map(|(old, &id)| {
            (old as usize) < old_to_new.len() && repoint.get(id as usize).copied().unwrap_or(true)
        })
        .collect();
    (ids, gone)
}

/// The one old id that `old_to_new` drops, or `old_to_new.len()` if it drops none, when it keeps
/// every other id and moves those above the dropped one down by one (a publication that removes
/// one node, or adds nodes), and no kept node is re-pointed; `None` for any other renumbering.
/// Found in a binary search: ids below the first dropped one keep their values, and with one
/// dropped, the last id is either the dropped one or moved down by one.
fn one_gap(old_to_new: &[u32], repoint: &[bool]) -> Option<u32> {
    let len = old_to_new.len();
    let (mut lo, mut hi) = (0, len);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if old_to_new[mid] == mid as u32 {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let gap = lo;
    debug_assert!(
        (old_to_new.iter().filter(|&&id| id != FREE)).is_sorted(),
        "kept ids keep their order"
    );
    let one = gap + 1 >= len || old_to_new[len - 1] == (len - 2) as u32;
    if !one || (gap < len && old_to_new[gap] != FREE) {
        return None;
    }
    // The kept nodes' new ids are `0..kept`: none of them is re-pointed.
    let kept = len - usize::from(gap < len);
    let repointed = crate::flags::any_set(repoint.get(..kept)?);
    (!repointed).then_some(gap as u32)
}

#[cfg(test)]
thread_local! {
    /// Whether publications edit the common touched pages in place (tests turn it off to hold
    /// the in-place edits to the general path).
    static IN_PLACE: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
}

/// Whether publications edit the common touched pages in place (always, but in tests that
/// compare the two ways).
#[inline(always)]
fn edit_in_place() -> bool {
    #[cfg(test)]
    return IN_PLACE.with(|c| c.get());
    #[cfg(not(test))]
    true
}

/// Moves `table` by a point in local bucket `local` that comes (`wrapping_add`) or goes
/// (`wrapping_sub`): every entry above its local bucket counts it.
#[inline]
fn retable(table: &mut Table, local: usize, op: fn(u16, u16) -> u16) {
    for e in &mut table[local + 1..] {
        *e = op(*e, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::super::check::sample;
    use super::*;

    const NO_ID: u32 = u32::MAX;

    /// A ring of `base` points (owners: node ids `0..40`), a change drawn at random (the nodes in
    /// `goes` leave, nodes `40..48` of `added` join), and the reference result in new node ids
    /// (the nodes that stay keep their order and are renumbered densely, the new ones follow).
    fn apply(
        base: &[(u64, u32)],
        goes: &[bool],
        added: &[(u64, u32)],
        norm: u32,
        paged: bool,
    ) -> (Packed, Packed, Vec<(u64, u32)>) {
        let (points, owners): (Vec<u64>, Vec<u32>) = base.iter().copied().unzip();
        let before = Packed::build(&points, &owners, norm).unwrap();
        let before = if paged { before.paged() } else { before };
        let mut old_to_new = vec![NO_ID; 40];
        let mut kept = 0;
        for (o, new) in old_to_new.iter_mut().enumerate() {
            if !goes[o] {
                *new = kept;
                kept += 1;
            }
        }
        let new_id = |a: u32| kept + (a - 40);
        let mut gone_positions = Vec::new();
        let mut want: Vec<(u64, u32)> = Vec::new();
        for &(p, o) in base {
            if goes[o as usize] {
                gone_positions.push(p);
            } else {
                want.push((p << norm, old_to_new[o as usize]));
            }
        }
        let mut fresh: Vec<(u64, u32)> = added.iter().map(|&(p, a)| (p, new_id(a))).collect();
        fresh.sort_unstable();
        want.extend(fresh.iter().map(|&(p, id)| (p << norm, id)));
        want.sort_unstable();
        let mut repoint = vec![false; kept as usize];
        repoint.extend([true; 8]);
        let after = before
            .merged(
                40,
                &Change {
                    fresh: &fresh,
                    gone_positions: &gone_positions,
                    old_to_new: &old_to_new,
                    repoint: &repoint,
                    evicted: &[],
                    keep_equal: true,
                },
            )
            .expect("fits");
        (before, after, want)
    }

    proptest::proptest! {
        /// The slot plan's first passes give the table reads' answers, whether the renumbering
        /// drops one id, none, or more, and whatever is re-pointed (the fast path declines what
        /// it does not cover). Slots hold old ids in any order, free slots, and ids past the end.
        #[test]
        fn kept_slots_are_planned_as_the_table_says(
            nodes in 0usize..40,
            dropped in proptest::collection::btree_set(0usize..40, 0..3),
            added in 0usize..3,
            repointed in proptest::collection::btree_set(0usize..45, 0..2),
            extra in proptest::collection::vec(40u32..50, 0..4),
            seed in proptest::prelude::any::<u64>(),
        ) {
            let dropped: Vec<usize> = dropped.into_iter().filter(|&d| d < nodes).collect();
            let mut old_to_new = vec![NO_ID; nodes];
            let mut kept = 0;
            for (o, new) in old_to_new.iter_mut().enumerate() {
                if !dropped.contains(&o) {
                    *new = kept;
                    kept += 1;
                }
            }
            let mut repoint = vec![false; kept as usize + added];
            repoint[kept as usize..].fill(true);
            let len = repoint.len();
            for &r in repointed.iter().filter(|&&r| r < len) {
                repoint[r] = true;
            }
            // The slots: every old id once, free slots, ids past the end, shuffled.
            let mut olds: Vec<u32> = (0..nodes as u32).chain([FREE, FREE]).chain(extra).collect();
            let mut x = seed | 1;
            for i in (1..olds.len()).rev() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                olds.swap(i, (x % (i as u64 + 1)) as usize);
            }
            let want = plan_kept_by_table(olds.iter().copied(), &old_to_new, &repoint);
            proptest::prop_assert_eq!(
                plan_kept(olds.iter().copied(), &old_to_new, &repoint),
                want.clone()
            );
            let slots = olds.len() as u32;
            proptest::prop_assert_eq!(
                plan_kept(0..slots, &old_to_new, &repoint),
                plan_kept_by_table(0..slots, &old_to_new, &repoint)
            );
            // One dropped id and nothing kept re-pointed is the fast path's case.
            let fast = dropped.len() <= 1 && !repoint[..kept as usize].contains(&true);
            proptest::prop_assert_eq!(one_gap(&old_to_new, &repoint).is_some(), fast);
        }

        /// A merged packing holds exactly the points it should, keeps every invariant and its
        /// layout, and (paged) shares the pages the change did not reach. These rings are small
        /// enough to be flat: each is merged flat, or packed into pages first.
        #[test]
        fn merged_equals_the_reference(
            base in proptest::collection::btree_map(proptest::prelude::any::<u64>(), 0u32..40, 200..3000),
            goes in proptest::collection::vec(proptest::prelude::any::<bool>(), 40),
            added in proptest::collection::btree_map(proptest::prelude::any::<u64>(), 40u32..48, 0..200),
            narrow in proptest::prelude::any::<bool>(),
            paged in proptest::prelude::any::<bool>(),
        ) {
            let squeeze = |p: u64| if narrow { p >> 32 } else { p };
            let norm = if narrow { 32 } else { 0 };
            let base: Vec<(u64, u32)> = base.into_iter().map(|(p, o)| (squeeze(p), o))
                .collect::<std::collections::BTreeMap<_, _>>().into_iter().collect();
            let taken: std::collections::BTreeSet<u64> = base.iter().map(|&(p, _)| p).collect();
            let added: Vec<(u64, u32)> = added.into_iter().map(|(p, o)| (squeeze(p), o))
                .filter(|(p, _)| !taken.contains(p))
                .collect::<std::collections::BTreeMap<_, _>>().into_iter().collect();
            let kept = base.iter().filter(|&&(_, o)| !goes[o as usize]).count();
            proptest::prop_assume!(kept + added.len() > 0);
            let n = kept + added.len();
            let built = Packed::build(&base.iter().map(|p| p.0).collect::<Vec<_>>(), &base.iter().map(|p| p.1).collect::<Vec<_>>(), norm).unwrap();
            // Packed into pages, a ring takes as many as its 48 slot ids need (see `paged`).
            let buckets = if paged { built.paged().buckets } else { built.buckets };
            proptest::prop_assume!(n <= buckets * 4 && n * 2 >= buckets);
            let (before, after, want) = apply(&base, &goes, &added, norm, paged);
            after.check();
            proptest::prop_assert_eq!(after.contents(), want);
            proptest::prop_assert_eq!(before.is_flat(), !paged);
            proptest::prop_assert_eq!(after.is_flat(), !paged);
            if !paged {
                return Ok(());
            }
            // A page is rewritten only if a change falls in it, or in the first non-empty page after
            // it (its sentinel), or in an empty page between.
            let pages = before.heads.len();
            let page_of = |p: u64| (((p << norm) >> before.shift) as usize >> LOCAL_BITS).min(pages - 1);
            let mut hit = vec![false; pages];
            for &(p, o) in &base {
                if goes[o as usize] { hit[page_of(p)] = true; }
            }
            for &(p, _) in &added { hit[page_of(p)] = true; }
            for p in 0..pages {
                if after.chunks.len() == 1 { break; } // repacked afresh
                let mut reach = hit[p];
                let mut q = p;
                for _ in 1..pages {
                    q = (q + 1) % pages;
                    reach |= hit[q];
                    if before.page(q).len() > 0 && after.page(q).len() > 0 { break; }
                }
                if !reach {
                    proptest::prop_assert!(before.heads[p] == after.heads[p], "page {} rewritten", p);
                }
            }
        }
    }

    /// `count` sampled points (`seed`), owned by nodes `0..nodes` in turn, and their packing.
    fn ring_of(count: usize, seed: u64, nodes: u32) -> (Vec<u64>, Vec<u32>, Packed) {
        let points = sample(count, seed);
        let owners: Vec<u32> = (0..points.len() as u32).map(|i| i % nodes).collect();
        let ring = Packed::build(&points, &owners, 0).unwrap().paged();
        (points, owners, ring)
    }

    /// The positions of node `node`'s points in a ring made by [`ring_of`].
    fn points_of(points: &[u64], owners: &[u32], node: u32) -> Vec<u64> {
        points
            .iter()
            .zip(owners)
            .filter(|&(_, &o)| o == node)
            .map(|(&p, _)| p)
            .collect()
    }

    /// `ring` merged with `change` both ways: touched pages edited in place, and written by the
    /// general path. The two give the same pages, line for line, and keep the invariants.
    fn merged_both_ways(ring: &Packed, nodes: usize, change: &Change<'_>) -> Packed {
        IN_PLACE.with(|c| c.set(false));
        let general = ring.merged(nodes, change).expect("fits");
        IN_PLACE.with(|c| c.set(true));
        let edited = ring.merged(nodes, change).expect("fits");
        edited.check();
        assert_eq!(edited.pages(), general.pages());
        for p in 0..edited.pages() {
            let words = |r: &Packed| bytemuck::cast_slice::<Line, u64>(r.page(p).lines()).to_vec();
            assert_eq!(words(&edited), words(&general), "page {p}");
        }
        edited
    }

    proptest::proptest! {
        /// A one-node removal and a one-node addition (some of its points at positions already
        /// taken, several in a page) edit their pages in place exactly as the general path
        /// writes them, and so do the same changes made on the ring they give.
        #[test]
        fn pages_edited_in_place_equal_the_general_path(
            count in 2000usize..8000,
            seed in 0u64..1000,
            nodes in 3u32..40,
            node in 0u32..40,
            added in 1usize..300,
            taken in 0usize..4,
        ) {
            let (points, owners, ring) = ring_of(count, seed, nodes);
            let node = node % nodes;
            let n = nodes as usize;
            let mut ring = ring;
            // The node's points, then (the second time round) those of the node added last.
            let mut gone = points_of(&points, &owners, node);
            let mut node = node;
            for _ in 0..2 {
                let old_to_new: Vec<u32> = (0..nodes)
                    .map(|i| match i.cmp(&node) {
                        std::cmp::Ordering::Less => i,
                        std::cmp::Ordering::Equal => NO_ID,
                        std::cmp::Ordering::Greater => i - 1,
                    })
                    .collect();
                let removed = merged_both_ways(
                    &ring,
                    n,
                    &Change {
                        fresh: &[],
                        gone_positions: &gone,
                        old_to_new: &old_to_new,
                        repoint: &vec![false; n - 1],
                        evicted: &[],
                        keep_equal: true,
                    },
                );
                // The node comes back with its points, less some, and others at taken positions.
                let mut fresh: Vec<(u64, u32)> = gone
                    .iter()
                    .take(added)
                    .chain(points.iter().step_by(97).take(taken))
                    .map(|&p| (p, nodes - 1))
                    .collect();
                fresh.sort_unstable();
                fresh.dedup();
                gone = fresh.iter().map(|&(p, _)| p).collect();
                node = nodes - 1;
                let mut repoint = vec![false; n - 1];
                repoint.push(true);
                let identity: Vec<u32> = (0..nodes - 1).collect();
                ring = merged_both_ways(
                    &removed,
                    n - 1,
                    &Change {
                        fresh: &fresh,
                        gone_positions: &[],
                        old_to_new: &identity,
                        repoint: &repoint,
                        evicted: &[],
                        keep_equal: true,
                    },
                );
            }
        }
    }

    /// A one-node change of a 1000-node ring of 160 points a node (4096 pages) writes the pages its
    /// 160 points fall in and, at most, the page before each: about 4 % of the pages, never 8.
    #[test]
    fn a_one_node_change_at_1000_nodes_writes_a_few_percent_of_the_pages() {
        let (points, owners, ring) = ring_of(160_000, 5, 1000);
        let pages = ring.heads.len();
        assert_eq!(pages, 4096);
        let gone = points_of(&points, &owners, 500);
        let old_to_new: Vec<u32> = (0..1000u32)
            .map(|i| match i.cmp(&500) {
                std::cmp::Ordering::Less => i,
                std::cmp::Ordering::Equal => NO_ID,
                std::cmp::Ordering::Greater => i - 1,
            })
            .collect();
        let next = ring
            .merged(
                1000,
                &Change {
                    fresh: &[],
                    gone_positions: &gone,
                    old_to_new: &old_to_new,
                    repoint: &[false; 999],
                    evicted: &[],
                    keep_equal: true,
                },
            )
            .unwrap();
        next.check();
        let written = (0..pages)
            .filter(|&p| next.heads[p] != ring.heads[p])
            .count();
        let touched: std::collections::BTreeSet<usize> =
            gone.iter().map(|&x| ring.page_index(x)).collect();
        assert!(written >= touched.len(), "{written} < {}", touched.len());
        assert!(written <= 2 * touched.len());
        assert!(
            written * 100 < 8 * pages,
            "{written} of {pages} pages written"
        );
        assert!(
            written * 100 > 3 * pages,
            "{written} of {pages} pages written"
        );
    }

    /// A paged ring's publications take the heads, starts and chunk lines of the rings and chunks
    /// gone from its lineage (see `spares`), and read as the reference does.
    #[test]
    fn publications_take_the_arrays_of_gone_rings_and_chunks() {
        let (points, owners, ring) = ring_of(40_000, 7, 250);
        let spares = std::sync::Arc::clone(ring.spares.as_ref().expect("a paged ring has spares"));
        let mine = points_of(&points, &owners, 3);
        // Node 3's points leave (node 3 at id `at`; the ids after it move down).
        let remove_map = |at: u32| -> Vec<u32> {
            (0..250)
                .map(|i: u32| match i.cmp(&at) {
                    std::cmp::Ordering::Less => i,
                    std::cmp::Ordering::Equal => NO_ID,
                    std::cmp::Ordering::Greater => i - 1,
                })
                .collect()
        };
        let remove = |ring: &Packed, at: u32| {
            ring.merged(
                250,
                &Change {
                    fresh: &[],
                    gone_positions: &mine,
                    old_to_new: &remove_map(at),
                    repoint: &[false; 249],
                    evicted: &[],
                    keep_equal: true,
                },
            )
            .unwrap()
        };
        let fresh: Vec<(u64, u32)> = mine.iter().map(|&p| (p, 249)).collect();
        let mut repoint = vec![false; 250];
        repoint[249] = true;
        let add_map: Vec<u32> = (0..249).collect();
        let add = |ring: &Packed| {
            ring.merged(
                249,
                &Change {
                    fresh: &fresh,
                    gone_positions: &[],
                    old_to_new: &add_map,
                    repoint: &repoint,
                    evicted: &[],
                    keep_equal: true,
                },
            )
            .unwrap()
        };
        let removed = remove(&ring, 3);
        assert_eq!(spares.paged_counts(), (0, 0, 0, 0));
        // The full build's ring goes: its heads and starts are kept (its chunk is still in use).
        let heads = ring.heads.as_ptr();
        drop(ring);
        assert_eq!(spares.paged_counts(), (1, 1, 1, 0));
        let added = add(&removed);
        assert_eq!(spares.paged_counts(), (0, 0, 0, 0), "taken by the addition");
        // The full build's heads, brought up to date (the addition's ring is its grandchild).
        assert_eq!(added.heads.as_ptr(), heads);
        added.check();
        // The removal's ring goes, and with it its chunk: the addition rewrote every page of it.
        let chunk = removed.chunks.last().unwrap().base();
        assert!(added.chunks.iter().all(|c| c.base() != chunk));
        drop(removed);
        assert_eq!(spares.paged_counts(), (1, 1, 1, 1));
        // Node 3 came back as the last node.
        let again = remove(&added, 249);
        assert_eq!(spares.paged_counts(), (0, 0, 0, 0), "taken by the removal");
        assert_eq!(
            again.chunks.last().unwrap().base(),
            chunk,
            "the chunk's memory again"
        );
        again.check();
        let map = remove_map(3);
        let mut want: Vec<(u64, u32)> = points
            .iter()
            .zip(&owners)
            .filter(|&(_, &o)| o != 3)
            .map(|(&p, &o)| (p, map[o as usize]))
            .collect();
        want.sort_unstable();
        assert_eq!(again.contents(), want);
    }

    /// Churn: one node of 250 leaves and comes back (as the last node, as a ring appends it), 200
    /// times. Few pages are rewritten each time, and chunks are freed as they go.
    #[test]
    fn a_small_change_rewrites_few_pages_and_frees_chunks_as_it_goes() {
        let (points, owners, mut ring) = ring_of(40_000, 7, 250);
        let pages = ring.heads.len();
        let mine = points_of(&points, &owners, 3);
        // The node ids of the ring: node 3 is at `at` while present.
        let mut at = Some(3u32);
        let mut max_chunks = 0;
        for round in 0..200 {
            let (old_to_new, repoint, fresh, gone_positions): (
                Vec<u32>,
                Vec<bool>,
                Vec<_>,
                Vec<_>,
            ) = match at {
                Some(a) => {
                    let map = (0..250)
                        .map(|i| match i.cmp(&a) {
                            std::cmp::Ordering::Less => i,
                            std::cmp::Ordering::Equal => NO_ID,
                            std::cmp::Ordering::Greater => i - 1,
                        })
                        .collect();
                    (map, vec![false; 249], Vec::new(), mine.clone())
                }
                None => {
                    let mut repoint = vec![false; 250];
                    repoint[249] = true;
                    let fresh = mine.iter().map(|&p| (p, 249)).collect();
                    ((0..249).collect(), repoint, fresh, Vec::new())
                }
            };
            let before = if at.is_some() { 250 } else { 249 };
            let next = ring
                .merged(
                    before,
                    &Change {
                        fresh: &fresh,
                        gone_positions: &gone_positions,
                        old_to_new: &old_to_new,
                        repoint: &repoint,
                        evicted: &[],
                        keep_equal: true,
                    },
                )
                .unwrap();
            at = if at.is_some() { None } else { Some(249) };
            let shared = (0..pages)
                .filter(|&p| next.heads[p] == ring.heads[p])
                .count();
            if next.chunks.len() > 1 {
                assert!(pages - shared <= 2 * mine.len(), "round {round}");
            }
            next.check();
            max_chunks = max_chunks.max(next.chunk_count());
            ring = next;
        }
        assert_eq!(ring.contents().len(), points.len());
        assert!(max_chunks <= MAX_CHUNKS, "chunks are freed: {max_chunks}");
    }

    /// Nodes of few points joining a large ring one by one, each into pages of its own: no
    /// publication rewrites much more than the pages its own points fall in. (The full build's
    /// chunk is still mostly live when the ring first holds [`MAX_CHUNKS`] chunks; moving it then
    /// would rewrite most of the ring in one publication.)
    #[test]
    fn no_publication_moves_a_mostly_live_chunk() {
        let (points, _, mut ring) = ring_of(65_536, 3, 250);
        let pages = ring.heads.len();
        let mut max_written = 0;
        for (round, nodes) in (0..3 * MAX_CHUNKS as u64).zip(250u32..) {
            // Four new points, anywhere in the ring.
            let mut fresh: Vec<(u64, u32)> = (0..4)
                .map(|i| {
                    (
                        (round * 4 + i + 1).wrapping_mul(0xD6E8_FEB8_6659_FD93),
                        nodes,
                    )
                })
                .collect();
            fresh.sort_unstable();
            let mut repoint = vec![false; nodes as usize];
            repoint.push(true);
            let next = ring
                .merged(
                    nodes as usize,
                    &Change {
                        fresh: &fresh,
                        gone_positions: &[],
                        old_to_new: &(0..nodes).collect::<Vec<_>>(),
                        repoint: &repoint,
                        evicted: &[],
                        keep_equal: true,
                    },
                )
                .unwrap();
            let written = (0..pages)
                .filter(|&p| next.heads[p] != ring.heads[p])
                .count();
            max_written = max_written.max(written);
            next.check();
            assert!(next.chunk_count() <= MAX_CHUNKS);
            ring = next;
        }
        assert_eq!(ring.len(), points.len() + 4 * 3 * MAX_CHUNKS);
        // Each publication: its own pages (at most 4, and a neighbour each whose sentinel
        // changes) and the live pages of one earlier publication's chunk (as many again).
        assert!(
            max_written <= 16,
            "a publication rewrote {max_written} of {pages} pages"
        );
    }

    /// A packing spread over many chunks, repacked into one by copying its pages, reads as it did:
    /// same points, same answers, every invariant.
    #[test]
    fn a_repacked_ring_reads_as_its_source() {
        for (count, nodes) in [(4_000, 80u32), (40_000, 500)] {
            let (points, owners, mut ring) = ring_of(count, 11, nodes);
            // Node `nodes - 1` leaves and comes back, a few times: pages land in several chunks.
            let last = nodes - 1;
            let mine: Vec<u64> = points
                .iter()
                .zip(&owners)
                .filter(|&(_, &o)| o == last)
                .map(|(&p, _)| p)
                .collect();
            for round in 0..6 {
                let present = round % 2 == 0;
                let (old_to_new, repoint, fresh, gone): (Vec<u32>, Vec<bool>, Vec<_>, Vec<_>) =
                    if present {
                        let mut map: Vec<u32> = (0..nodes).collect();
                        map[last as usize] = NO_ID;
                        (map, vec![false; last as usize], Vec::new(), mine.clone())
                    } else {
                        let mut repoint = vec![false; nodes as usize];
                        repoint[last as usize] = true;
                        let fresh = mine.iter().map(|&p| (p, last)).collect();
                        ((0..last).collect(), repoint, fresh, Vec::new())
                    };
                let before = if present { nodes } else { last } as usize;
                ring = ring
                    .merged(
                        before,
                        &Change {
                            fresh: &fresh,
                            gone_positions: &gone,
                            old_to_new: &old_to_new,
                            repoint: &repoint,
                            evicted: &[],
                            keep_equal: true,
                        },
                    )
                    .unwrap();
            }
            assert!(ring.chunk_count() > 1);
            let packed = ring.repacked();
            packed.check();
            assert_eq!(packed.chunk_count(), 1);
            assert!(packed.dir().is_none() && ring.dir().is_none());
            assert_eq!(packed.contents(), ring.contents());
            assert_eq!(packed.ids(), ring.ids());
            for x in sample(2_000, 5).into_iter().chain([0, u64::MAX]) {
                assert_eq!(packed.exact_slot(x), ring.exact_slot(x), "{x:#x}");
                assert_eq!(
                    packed.rank_at_or_after(x),
                    ring.rank_at_or_after(x),
                    "{x:#x}"
                );
            }
        }
    }
}
