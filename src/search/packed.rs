//! The radix layout's storage: packed points in *pages*, each page holding its own bucket table, its
//! packed points and their low bits, so that every read a search makes is in bounds by construction.
//! That lets the hot loops read without bounds checks, and keeps all of the layout's `unsafe` in this
//! one small module.
//!
//! A slot's top 48 bits and the point's low 16 bits make its full position, and the slot's low 16
//! bits its owner's *slot id*: the builder gives each node a slot that it keeps for as long as it is
//! in the ring, so removing a node does not renumber the points of the others. The packing
//! translates slot ids into the dense node ids the API returns ([`Packed::id`]); right after a full
//! build the two are the same and the translation is skipped.
//!
//! **Pages.** The key space is cut into `2^k` pages by the top bits of a position; a page covers
//! [`LOCAL`] consecutive buckets (about 32 points). A ring is an array of page addresses (`heads`)
//! and the chunks of memory the pages live in. A publication that changes one node rewrites only the
//! pages its points fall in (plus, rarely, a neighbour whose wrap sentinel changes) into one new
//! chunk, and shares every other page with the ring it came from: about 3 % of a 1000-node ring,
//! instead of all of it. Readers of the new ring then miss the cache on the few lines that are new,
//! not on the whole index. A chunk is freed with the last ring that uses one of its pages; a ring
//! holds at most [`MAX_CHUNKS`] (a publication moves the oldest chunk's live pages into its own), and
//! when its chunks add up to more than [`SLACK`] times its live pages, the next publication packs
//! the ring afresh into one chunk.
//!
//! Positions are stored *normalized*: shifted left by `norm` bits, so that a profile whose positions
//! are 32 bits wide uses the top 32 bits of the packed field, not bits 16 to 31 (where most keys
//! would share their top 48 bits with a point and take the exact path). Keys are normalized the same
//! way before a search ([`Packed::key`]); the shift keeps the order of every position and key the
//! profile can produce, and a key too large to shift sorts above every point, as it does unshifted.
//!
//! A page, from its head (64-byte aligned, a whole number of lines):
//! - `LOCAL + 2` `u16` table entries: `table[l]` = local rank of the page's first point whose local
//!   bucket is `>= l`; `table[LOCAL]` and `table[LOCAL + 1]` are the page's point count `m`;
//! - `m + WINDOW_MAX + 1` slots: the page's packed points in order, then the *sentinel* (top bits all
//!   ones, owner = the slot id of the next point of the ring, wrapping), then [`PAD`]s;
//! - `m` `u16` low bits.
//!
//! Invariants, established when a packing is made and never changed afterwards (the fields are
//! private, pages are never written once a head points at them, and no method hands out `&mut`):
//! 1. `heads.len() >= 1`, `buckets == heads.len() * LOCAL`, and every head is the address of a page
//!    laid out as above, inside a chunk of `chunks` (or the static empty page);
//! 2. every table entry is `<= m`, so a window of up to [`WINDOW_MAX`] slots from any bucket start,
//!    and every [`Rank`] a count returns (`<= m + WINDOW_MAX`), is inside the page's slots;
//! 3. `starts[p]` is the ring rank of page `p`'s first point, `starts[pages] == n`;
//! 4. the directory (`dir`, `dir_lens`) is empty, or has one entry per bucket: the address of the
//!    bucket's first slot in the page `heads` points at and the bucket's point count, the bounds a
//!    [`Bucket`] stands for.
//!
//! **Directory.** A lookup through the pages reads the page's address, then its table, then the
//! slots. Rings of at most [`DIR_MAX`] buckets also keep each bucket's first slot and length, so a
//! lookup reads one entry and then the slots, as a flat table would; a publication copies the
//! directory (at most 160 KiB) and makes the rewritten pages' entries again. Larger rings would
//! rewrite too much of it per publication (1 MiB at 1000 nodes), which measured as the very
//! cache-miss tail the pages are there to avoid.

use std::marker::PhantomData;
use std::sync::Arc;

/// Filler after a page's sentinel: never counted as below a key (nothing is above `u64::MAX`).
pub(crate) const PAD: u64 = u64::MAX;

/// The widest window a count may read at once, in slots.
pub(crate) const WINDOW_MAX: usize = 8;

/// The bucket table is sized for about this many points per bucket (measured: `benches/search.rs`).
const POINTS_PER_BUCKET: usize = 2;

/// Buckets per page, as a power of two.
const LOCAL_BITS: u32 = 4;

/// Buckets per page: 16, so a page holds about 32 points (measured against 8 and 32 buckets: the
/// per-publication bytes are lowest near 32 points per page, see `examples/pubcost` in the notes).
pub(crate) const LOCAL: usize = 1 << LOCAL_BITS;

/// Words of a page's table (`LOCAL + 2` `u16` entries).
const TABLE_WORDS: usize = (LOCAL + 2).div_ceil(4);

/// The most points one page may hold (its table entries are `u16`). Hashed positions put about 32
/// in a page; a ring that crowds more into one is searched with the Eytzinger layout instead.
const PAGE_MAX: usize = u16::MAX as usize - WINDOW_MAX - 1;

/// Chunk memory a ring may hold, as a multiple of its live pages, before a publication packs it
/// afresh (a safety net for rings that shrink a lot; churn is handled by [`MAX_CHUNKS`]).
const SLACK: usize = 4;

/// The most chunks a ring holds: a publication that would hold more moves the live pages of the
/// oldest chunk into its own, which frees the oldest. A chunk that old has about
/// `(1 - 160 / 5000)^64`, 12 %, of its pages still live when one 1000-node ring's node changes, so
/// the moves add about an eighth to a publication's writes, and chunk memory stays near twice the
/// live pages.
const MAX_CHUNKS: usize = 64;

/// The most buckets a ring has for which it keeps a directory (`Packed::dir`): a single lookup then
/// reads its bucket in one step instead of two, and a publication rewrites the whole directory
/// (`10 * DIR_MAX` bytes at most, 160 KiB; a 100-node ring of 160 points per node has 8192
/// buckets). Measured at 100 nodes against the flat table of the third session: without a
/// directory, single lookups took ~0.7–1 ns more (alternating `route_id` loops); with it, criterion
/// gave 7.7–7.9 ns against the flat table's 7.6–7.9.
const DIR_MAX: usize = 1 << 14;

/// A node id meaning "no node" in the slot table.
const FREE: u32 = u32::MAX;

/// A key's packed form: its top 48 bits, low 16 zero.
#[inline(always)]
pub(crate) fn quantize(x: u64) -> u64 {
    x & !0xFFFF
}

/// The packed slot of a point at position `p` owned by slot `owner` (which must fit 16 bits).
#[inline(always)]
pub(crate) fn pack(p: u64, owner: u32) -> u64 {
    debug_assert!(owner <= 0xFFFF);
    quantize(p) | u64::from(owner & 0xFFFF)
}

/// The slot and low bits of a point at position `p` (as the profile has it, below `2^(64 - norm)`)
/// owned by slot `owner`, normalized by `norm`.
#[inline(always)]
pub(crate) fn pack_point(p: u64, owner: u32, norm: u32) -> (u64, u16) {
    let q = p << norm;
    (pack(q, owner), q as u16)
}

/// The owner's slot id in a packed slot.
#[inline(always)]
pub(crate) fn slot_owner(slot: u64) -> u32 {
    (slot & 0xFFFF) as u32
}

/// The full position of a point from its slot and its low bits.
#[inline(always)]
pub(crate) fn position(slot: u64, low: u16) -> u64 {
    quantize(slot) | u64::from(low)
}

/// The sentinel slot of a page whose next point is owned by slot `owner`.
#[inline(always)]
fn sentinel(owner: u32) -> u64 {
    quantize(PAD) | u64::from(owner & 0xFFFF)
}

/// One cache line: the unit pages are allocated and aligned in.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u64; 8]);

/// Lines a page of `m` points takes.
#[inline]
fn page_lines(m: usize) -> usize {
    (TABLE_WORDS + m + WINDOW_MAX + 1 + m.div_ceil(4)).div_ceil(8)
}

/// The page of an empty ring: no points, a sentinel owned by no slot, pads.
static EMPTY_PAGE: [Line; 2] = [Line([0, 0, 0, 0, 0, PAD, PAD, PAD]), Line([PAD; 8])];

/// The address of a page (see the module docs for its layout).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Head(*const u64);

// SAFETY: a `Head` is the address of immutable memory (a page is never written once a head points
// at it), owned by the chunks of the `Packed` that holds the head, or static; reading it from any
// thread is as safe as reading a shared `&[u64]`.
unsafe impl Send for Head {}
// SAFETY: as for `Send`: only ever read.
unsafe impl Sync for Head {}

/// Memory that pages live in, and how many of its lines are pages some ring in this lineage still
/// uses (an estimate kept by the publications that made it: a ring's `live` counts only its own).
#[derive(Clone)]
struct Chunk {
    lines: Arc<Box<[Line]>>,
    live: usize,
}

impl Chunk {
    #[inline]
    fn base(&self) -> usize {
        self.lines.as_ptr() as usize
    }

    #[inline]
    fn contains(&self, h: Head) -> bool {
        let a = h.0 as usize;
        a >= self.base() && a < self.base() + self.lines.len() * 64
    }
}

/// A page of a packing, borrowed from it.
#[derive(Clone, Copy)]
pub(crate) struct Page<'a> {
    h: *const u64,
    _ring: PhantomData<&'a Packed>,
}

impl<'a> Page<'a> {
    /// Table entry `i <= LOCAL + 1`.
    #[inline(always)]
    fn entry(self, i: usize) -> usize {
        debug_assert!(i <= LOCAL + 1);
        // SAFETY: a page starts with `LOCAL + 2` `u16` entries (invariant 1); `i <= LOCAL + 1`, and
        // every caller passes at most `LOCAL + 1`. The head is 64-byte aligned.
        unsafe { *self.h.cast::<u16>().add(i) as usize }
    }

    /// The number of points in the page.
    #[inline(always)]
    pub(crate) fn len(self) -> usize {
        self.entry(LOCAL + 1)
    }

    #[inline(always)]
    fn slots_ptr(self) -> *const u64 {
        // SAFETY: the slots follow the table's `TABLE_WORDS` words inside the page (invariant 1).
        unsafe { self.h.add(TABLE_WORDS) }
    }

    /// The page's slots: its points, the sentinel and the pads (`len() + WINDOW_MAX + 1`).
    #[inline]
    pub(crate) fn slots(self) -> &'a [u64] {
        // SAFETY: the page holds `len() + WINDOW_MAX + 1` slots after its table (invariant 1),
        // immutable for as long as the packing that lends the page (`'a`).
        unsafe { std::slice::from_raw_parts(self.slots_ptr(), self.len() + WINDOW_MAX + 1) }
    }

    /// The page's packed points.
    #[inline]
    pub(crate) fn points(self) -> &'a [u64] {
        &self.slots()[..self.len()]
    }

    /// The low 16 bits of each point's position.
    #[inline]
    pub(crate) fn lows(self) -> &'a [u16] {
        let m = self.len();
        // SAFETY: `m` `u16`s follow the slots inside the page (invariant 1); `u64` alignment covers
        // `u16`'s.
        unsafe {
            std::slice::from_raw_parts(self.slots_ptr().add(m + WINDOW_MAX + 1).cast::<u16>(), m)
        }
    }

    /// The full (normalized) position of the page's point `i < len()`.
    #[inline]
    fn norm_position(self, i: usize) -> u64 {
        position(self.points()[i], self.lows()[i])
    }
}

/// Where a key's bucket bounds are: the address of its entry in its page's table (made only by
/// [`Packed::entry`]; the page's head is the entry's address rounded down to 64 bytes, as the table
/// sits in the page's first line).
#[derive(Clone, Copy)]
pub(crate) struct Entry(*const u16);

impl Entry {
    /// A placeholder (bucket 0 of the static empty page); valid for every ring.
    pub(crate) const EMPTY: Entry = Entry(EMPTY_PAGE.as_ptr().cast());

    /// The entry's address, for a prefetch hint.
    #[inline(always)]
    pub(crate) fn hint(self) -> *const u64 {
        self.0.cast()
    }
}

/// The points of one bucket: `len` slots from `ptr`, a bucket start `start <= m` of some page, with
/// `start + len <= m` (made only by [`Packed::bucket_at`]).
#[derive(Clone, Copy)]
pub(crate) struct Bucket {
    ptr: *const u64,
    len: usize,
}

impl Bucket {
    /// An empty bucket of the static empty page (a placeholder; valid for every ring).
    pub(crate) const EMPTY: Bucket = Bucket {
        // SAFETY (const): the empty page's slots start `TABLE_WORDS` words into its two lines.
        ptr: unsafe { EMPTY_PAGE.as_ptr().cast::<u64>().add(TABLE_WORDS) },
        len: 0,
    };
}

/// A ring's directory, borrowed from it: each bucket's first slot and length (made only by
/// [`Packed::dir`], so both arrays are as long as the ring has buckets, never empty).
#[derive(Clone, Copy)]
pub(crate) struct Dir<'a> {
    firsts: &'a [Head],
    lens: &'a [u16],
    shift: u32,
}

impl Dir<'_> {
    /// The bucket index of normalized key `x`, clamped to the last bucket (see `Packed::locate`).
    #[inline(always)]
    fn index(self, x: u64) -> usize {
        ((x >> self.shift) as usize).min(self.firsts.len() - 1)
    }

    /// The address of normalized key `x`'s first-slot entry, for a prefetch hint only (not
    /// clamped: a key above every bucket hints past the end, which a prefetch ignores).
    #[inline(always)]
    pub(crate) fn hint(self, x: u64) -> *const u64 {
        self.firsts
            .as_ptr()
            .wrapping_add((x >> self.shift) as usize)
            .cast()
    }

    /// The bucket of normalized key `x`.
    #[inline(always)]
    pub(crate) fn bucket(self, x: u64) -> Bucket {
        let i = self.index(x);
        // SAFETY: `i <= firsts.len() - 1` (never empty), and `lens` is as long as `firsts`
        // (`Packed::dir` hands out only a directory whose arrays both have a word per bucket).
        let (first, len) = unsafe { (self.firsts.get_unchecked(i).0, *self.lens.get_unchecked(i)) };
        // `Packed::with_dir` made the entries from the pages `heads` points at: the bucket's first
        // slot in its page and its point count, the bounds a `Bucket` stands for.
        Bucket {
            ptr: first,
            len: usize::from(len),
        }
    }
}

/// A rank found by [`Packed::count`], counted from its bucket's first slot: below the bucket's
/// length plus [`WINDOW_MAX`] (exactly the search's rank, at most the length, when the window counts
/// are right), so its slot can be read without a bounds check.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rank(usize);

/// The points of a packing in ring order from some rank, one full turn (see [`Packed::iter_from`]).
pub(crate) struct Points<'a> {
    packed: &'a Packed,
    page: usize,
    i: usize,
    left: usize,
}

impl Iterator for Points<'_> {
    type Item = (u64, u32);

    #[inline]
    fn next(&mut self) -> Option<(u64, u32)> {
        if self.left == 0 {
            return None;
        }
        loop {
            let pg = self.packed.page(self.page);
            if self.i < pg.len() {
                let out = (pg.norm_position(self.i), slot_owner(pg.points()[self.i]));
                self.i += 1;
                self.left -= 1;
                return Some(out);
            }
            self.page = (self.page + 1) % self.packed.heads.len();
            self.i = 0;
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

/// What an incremental publication changes (see [`Packed::merged`]).
pub(crate) struct Change<'a> {
    /// The new points: (normalized position, node id, slot id), sorted by position then node id.
    pub(crate) fresh: &'a [(u64, u32, u32)],
    /// By old slot id: whether that slot's points go.
    pub(crate) gone: &'a [bool],
    /// The normalized positions of every point that goes (any order): exactly the points of the
    /// slots in `gone`.
    pub(crate) gone_positions: &'a [u64],
    /// Slot id → node id of the new ring (`u32::MAX` for a free slot).
    pub(crate) ids: Vec<u32>,
    /// Whether two points may share a position (otherwise the merge gives up on meeting one).
    pub(crate) keep_equal: bool,
}

/// The packed points, in pages (see the module docs for the layout and invariants).
#[derive(Clone)]
pub(crate) struct Packed {
    heads: Box<[Head]>,
    chunks: Vec<Chunk>,
    starts: Box<[u32]>,
    /// Slot id → node id; empty when they are the same.
    ids: Box<[u32]>,
    shift: u32,
    buckets: usize,
    n: usize,
    norm: u32,
    /// Lines of the pages `heads` points at.
    live: usize,
    /// For rings of at most [`DIR_MAX`] buckets, each bucket's first slot (the address in its
    /// page); empty otherwise.
    dir: Box<[Head]>,
    /// Each bucket's point count, when `dir` is kept (else empty).
    dir_lens: Box<[u16]>,
}

impl std::fmt::Debug for Packed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packed")
            .field("n", &self.n)
            .field("pages", &self.heads.len())
            .field("chunks", &self.chunks.len())
            .finish()
    }
}

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

    /// The packing of points the caller has packed already: `slots` sorted (made with [`pack`] from
    /// positions normalized by `norm`), `lows` their low 16 bits, `ids` the slot → node id table
    /// (empty: the same). `None` if a page would hold more points than it can (`norm` is taken
    /// modulo 64).
    pub(crate) fn from_sorted(
        slots: &[u64],
        lows: &[u16],
        norm: u32,
        ids: Vec<u32>,
    ) -> Option<Self> {
        let norm = norm % 64;
        let n = slots.len().min(lows.len());
        if n >= u32::MAX as usize {
            return None;
        }
        let (slots, lows) = (&slots[..n], &lows[..n]);
        let last = n.checked_sub(1).map(|r| position(slots[r], lows[r]));
        let (bits, shift) = Self::geometry(n, last);
        let buckets = 1usize << bits;
        let pages = buckets >> LOCAL_BITS;
        let page_of = |r: usize| (position(slots[r], lows[r]) >> shift) as usize >> LOCAL_BITS;
        let mut starts = vec![0u32; pages + 1];
        for r in 0..n {
            // The geometry's `used` bits cover every point: the page is below `pages`.
            starts[page_of(r) + 1] += 1;
        }
        if starts.iter().any(|&c| c as usize > PAGE_MAX) {
            return None;
        }
        let lines: usize = starts[1..].iter().map(|&c| page_lines(c as usize)).sum();
        for p in 0..pages {
            starts[p + 1] += starts[p];
        }
        let first = slots.first().map_or(0xFFFF, |&s| slot_owner(s));
        let mut out = vec![Line([PAD; 8]); lines].into_boxed_slice();
        let mut heads = Vec::with_capacity(pages);
        let mut at = 0;
        for p in 0..pages {
            let (a, b) = (starts[p] as usize, starts[p + 1] as usize);
            let next = if b < n { slot_owner(slots[b]) } else { first };
            let len = page_lines(b - a);
            write_page(
                &mut out[at..at + len],
                &slots[a..b],
                &lows[a..b],
                shift,
                next,
            );
            heads.push(Head(out[at..].as_ptr().cast()));
            at += len;
        }
        Some(
            Self {
                heads: heads.into_boxed_slice(),
                chunks: vec![Chunk {
                    lines: Arc::new(out),
                    live: lines,
                }],
                starts: starts.into_boxed_slice(),
                ids: ids.into_boxed_slice(),
                shift,
                buckets,
                n,
                norm,
                live: lines,
                dir: Box::default(),
                dir_lens: Box::default(),
            }
            .with_dir(),
        )
    }

    /// This packing with its directory made (see [`DIR_MAX`]), if the ring is small enough.
    fn with_dir(mut self) -> Self {
        if self.buckets > DIR_MAX {
            self.dir = Box::default();
            self.dir_lens = Box::default();
            return self;
        }
        self.dir = vec![Head(std::ptr::null()); self.buckets].into_boxed_slice();
        self.dir_lens = vec![0; self.buckets].into_boxed_slice();
        for p in 0..self.heads.len() {
            self.fill_dir(p);
        }
        self
    }

    /// This packing with its directory made from `prev`'s (same buckets), the entries of the pages
    /// in `written` (the only pages whose heads differ) made afresh.
    fn with_dir_after(mut self, prev: &Packed, written: &[usize]) -> Self {
        if prev.dir().is_none() || prev.buckets != self.buckets {
            return self.with_dir();
        }
        self.dir = prev.dir.clone();
        self.dir_lens = prev.dir_lens.clone();
        for &p in written {
            self.fill_dir(p);
        }
        self
    }

    /// Writes page `p`'s buckets into the directory (as long as the bucket count).
    fn fill_dir(&mut self, p: usize) {
        // The page as a pointer copy, so the directory can be written while it is read (the page
        // lives in a chunk `self` holds, and only the directory changes).
        let pg = Page {
            h: self.heads[p].0,
            _ring: PhantomData,
        };
        let base = p << LOCAL_BITS;
        for l in 0..LOCAL {
            let (start, end) = (pg.entry(l), pg.entry(l + 1));
            self.dir[base + l] = Head(pg.slots_ptr().wrapping_add(start));
            // A page holds at most `PAGE_MAX` points, below `u16::MAX`.
            self.dir_lens[base + l] = (end - start) as u16;
        }
    }

    /// The table's size (`bits`: 2^bits buckets, at least one page's worth) and the shift that takes
    /// a position to its bucket, for `n` sorted points whose largest is `last`: about
    /// [`POINTS_PER_BUCKET`] points per bucket, indexed by the top `bits` of the bits the positions
    /// actually use (a 32-bit profile's points all sit below 2^32), so buckets stay small whatever
    /// the key space.
    fn geometry(n: usize, last: Option<u64>) -> (u32, u32) {
        let bits = (n / POINTS_PER_BUCKET)
            .max(2)
            .next_power_of_two()
            .trailing_zeros()
            .clamp(LOCAL_BITS, 32);
        let used = last.map_or(64, |hi| 64 - hi.leading_zeros());
        (bits, used.saturating_sub(bits))
    }

    /// The number of points.
    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        self.n
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

    /// The node id of slot id `slot`.
    #[inline(always)]
    pub(crate) fn id(&self, slot: u32) -> u32 {
        if self.ids.is_empty() {
            slot
        } else {
            self.ids.get(slot as usize).copied().unwrap_or(FREE)
        }
    }

    /// The slot → node id table (empty: the same).
    pub(crate) fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// One more than the largest slot id in use (node ids count when the table is empty: pass the
    /// ring's node count).
    pub(crate) fn slot_bound(&self, nodes: usize) -> usize {
        if self.ids.is_empty() {
            nodes
        } else {
            self.ids.len()
        }
    }

    /// Page `p < pages`.
    #[inline(always)]
    fn page(&self, p: usize) -> Page<'_> {
        Page {
            h: self.heads[p].0,
            _ring: PhantomData,
        }
    }

    /// The page and local rank of ring rank `r < n`.
    #[inline]
    fn page_of_rank(&self, r: usize) -> (usize, usize) {
        let p = self.starts.partition_point(|&s| s as usize <= r) - 1;
        (p, r - self.starts[p] as usize)
    }

    /// The normalized position of point `r < n`.
    #[inline]
    pub(crate) fn norm_position(&self, r: usize) -> u64 {
        let (p, i) = self.page_of_rank(r);
        self.page(p).norm_position(i)
    }

    /// The position of point `r < n`, as the profile has it.
    #[inline]
    pub(crate) fn position(&self, r: usize) -> u64 {
        self.norm_position(r) >> self.norm
    }

    /// The node id owning point `r < n`.
    #[inline]
    pub(crate) fn owner(&self, r: usize) -> u32 {
        let (p, i) = self.page_of_rank(r);
        self.id(slot_owner(self.page(p).points()[i]))
    }

    /// Every point from rank `start` (`<= n`) on, wrapping, one full turn: (normalized position,
    /// slot id).
    pub(crate) fn iter_from(&self, start: usize) -> Points<'_> {
        let (page, i) = if start < self.n {
            self.page_of_rank(start)
        } else {
            (0, 0)
        };
        Points {
            packed: self,
            page,
            i,
            left: self.n,
        }
    }

    /// The page, bucket start and bucket end (local ranks, `start <= end <= m`) of normalized key
    /// `x`. Keys above every bucket fall in the last bucket, whose every point is below them, so
    /// they count up to the page's end and its sentinel, the ring's first point.
    #[inline(always)]
    fn locate(&self, x: u64) -> (usize, usize, usize) {
        let g = self.bucket_index(x);
        let page = g >> LOCAL_BITS;
        let pg = self.page(page);
        let local = g & (LOCAL - 1);
        (page, pg.entry(local), pg.entry(local + 1))
    }

    /// The table entry of normalized key `x`'s bucket (reads the page's address from `heads`).
    /// Keys above every bucket fall in the last bucket (see [`locate`](Self::locate)).
    #[inline(always)]
    pub(crate) fn entry(&self, x: u64) -> Entry {
        let g = self.bucket_index(x);
        // SAFETY: `g < buckets = heads.len() * LOCAL` (invariant 1), so `g >> LOCAL_BITS` is a page.
        let h = unsafe { self.heads.get_unchecked(g >> LOCAL_BITS).0 };
        // SAFETY: `g & (LOCAL - 1) < LOCAL`: an entry of the page's table, which starts at its head.
        Entry(unsafe { h.cast::<u16>().add(g & (LOCAL - 1)) })
    }

    /// The bucket whose table entry is `e` (reads the entry and the next one).
    #[inline(always)]
    pub(crate) fn bucket_at(&self, e: Entry) -> Bucket {
        // SAFETY: `e` is entry `l < LOCAL` of a page's table (only `entry` makes one, or the empty
        // page's entry 0), so entries `l` and `l + 1` are both in the table; `u16` alignment.
        let [start, end] = unsafe { e.0.cast::<[u16; 2]>().read() };
        // The table sits in the page's first line and heads are 64-byte aligned (invariant 1).
        let head = e.0.map_addr(|a| a & !63).cast::<u64>();
        // SAFETY: `start <= m` (invariant 2): a slot of the page, `TABLE_WORDS` words past its head.
        let ptr = unsafe { head.add(TABLE_WORDS + usize::from(start)) };
        Bucket {
            ptr,
            len: usize::from(end.saturating_sub(start)),
        }
    }

    /// The bucket index of normalized key `x`: keys above every bucket fall in the last bucket
    /// (see [`locate`](Self::locate)).
    #[inline(always)]
    fn bucket_index(&self, x: u64) -> usize {
        ((x >> self.shift) as usize).min(self.buckets - 1)
    }

    /// The ring's directory, if it keeps one (see [`DIR_MAX`]).
    #[inline(always)]
    pub(crate) fn dir(&self) -> Option<Dir<'_>> {
        (self.dir.len() == self.buckets && self.dir_lens.len() == self.buckets).then_some(Dir {
            firsts: &self.dir,
            lens: &self.dir_lens,
            shift: self.shift,
        })
    }

    /// The number of pages.
    #[inline(always)]
    pub(crate) fn pages(&self) -> usize {
        self.heads.len()
    }

    /// The address of normalized key `x`'s page address in `heads`, for a prefetch hint only (not
    /// clamped: a key above every bucket hints past the end, which a prefetch ignores).
    #[inline(always)]
    pub(crate) fn head_hint(&self, x: u64) -> *const u64 {
        self.heads
            .as_ptr()
            .wrapping_add((x >> self.shift) as usize >> LOCAL_BITS)
            .cast()
    }

    /// The bucket that normalized key `x` falls in: from the directory if the ring has one, else
    /// through its page.
    #[inline(always)]
    pub(crate) fn bucket(&self, x: u64) -> Bucket {
        match self.dir() {
            Some(dir) => dir.bucket(x),
            None => self.bucket_at(self.entry(x)),
        }
    }

    /// The bucket's first slot, as a pointer for a prefetch hint.
    #[inline(always)]
    pub(crate) fn slot_hint(&self, b: Bucket) -> *const u64 {
        b.ptr
    }

    /// The slot at a counted rank.
    #[inline(always)]
    pub(crate) fn slot_at(&self, b: Bucket, r: Rank) -> u64 {
        // SAFETY: the bucket starts at local rank `start <= m` and `r.0 <= len + WINDOW_MAX - 1`
        // (`Rank`'s bound), so `start + r.0 <= m + WINDOW_MAX`, inside the page's slots
        // (invariant 1).
        unsafe { *b.ptr.add(r.0) }
    }

    /// The local rank of the first point `>= x` (a normalized key) in the bucket `start..end` of
    /// page `pg`, or `end` if none is: a binary search of the bucket's full positions.
    fn exact_local(pg: Page<'_>, start: usize, end: usize, x: u64) -> usize {
        let (mut lo, mut hi) = (start, end.max(start));
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if pg.norm_position(mid) < x {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// The slot of the first point `>= x` (a normalized key), wrapping (the sentinel past a page's
    /// last point stands for the next point): the exact path through the bucket's full positions,
    /// for a key whose top 48 bits equal a point's.
    pub(crate) fn exact_slot(&self, x: u64) -> u64 {
        let (page, start, end) = self.locate(x);
        let pg = self.page(page);
        pg.slots()[Self::exact_local(pg, start, end, x)]
    }

    /// The ring rank of the first point `>= x` (a normalized key; `n` past the last point).
    pub(crate) fn rank_at_or_after(&self, x: u64) -> usize {
        let (page, start, end) = self.locate(x);
        self.starts[page] as usize + Self::exact_local(self.page(page), start, end, x)
    }

    /// The bucket's count of packed points below the key, counted one window of `W` slots at a time
    /// from the bucket's start until its end is covered: `window` counts one window (a count above
    /// `W` is taken as `W`, which keeps the rank in bounds whatever it says). Counting past the end
    /// is exact (every slot after a bucket holds a later bucket's point, the sentinel or a pad, none
    /// of them below the key), and fixed-size windows make a fixed amount of branch-free work for
    /// the ~95 % of buckets that fit one window.
    #[inline(always)]
    pub(crate) fn count<const W: usize>(
        &self,
        b: Bucket,
        mut window: impl FnMut(&[u64; W]) -> u32,
    ) -> Rank {
        const { assert!(W > 0 && W <= WINDOW_MAX) };
        let mut c = 0u32;
        let mut i = 0;
        loop {
            // SAFETY: the bucket starts at local rank `start <= m` with `start + len <= m`; `i` is
            // 0 or below `len`, so `start + i <= m` and the `W` slots from there end by
            // `m + WINDOW_MAX`, inside the page's `m + WINDOW_MAX + 1` slots (invariants 1, 2);
            // `[u64; W]` has `u64`'s alignment.
            let w = unsafe { &*b.ptr.add(i).cast::<[u64; W]>() };
            c += window(w).min(W as u32);
            i += W;
            if i >= b.len {
                // `c <= i` and `i <= len + W - 1`: the rank is within `Rank`'s bound.
                return Rank(c as usize);
            }
        }
    }

    /// The next packing: this one with `change` applied. Only the pages that the points added and
    /// removed fall in are written (into one new chunk), plus any page before them whose sentinel
    /// changes; every other page is shared. `None` when the change does not fit an incremental
    /// update (the table's size would change by more than the slack allows, a point falls outside
    /// the geometry, a page overflows, the removed points are not exactly those described, or two
    /// points meet at one position and `keep_equal` is false): the caller then builds afresh.
    pub(crate) fn merged(&self, change: Change<'_>) -> Option<Packed> {
        let Change {
            fresh,
            gone,
            gone_positions,
            ids,
            keep_equal,
        } = change;
        let n = (self.n + fresh.len()).checked_sub(gone_positions.len())?;
        if n == 0 || n > self.buckets * 2 * POINTS_PER_BUCKET || n * 2 < self.buckets {
            return None;
        }
        let shift = self.shift;
        let pages = self.heads.len();
        if fresh
            .last()
            .is_some_and(|&(p, _, _)| (p >> shift) as usize >= self.buckets)
        {
            return None;
        }
        let page_of = |x: u64| (((x >> shift) as usize) >> LOCAL_BITS).min(pages - 1);
        let mut touched: Vec<usize> = fresh
            .iter()
            .map(|&(p, _, _)| page_of(p))
            .chain(gone_positions.iter().map(|&p| page_of(p)))
            .collect();
        touched.sort_unstable();
        touched.dedup();

        // The new contents of the touched pages, one after the other.
        let mut slots: Vec<u64> = Vec::new();
        let mut lows: Vec<u16> = Vec::new();
        let mut spans: Vec<(usize, usize, usize)> = Vec::with_capacity(touched.len());
        let mut f = 0;
        let mut removed = 0;
        let id_of = |s: u64| ids.get(slot_owner(s) as usize).copied().unwrap_or(FREE);
        for &t in &touched {
            let pg = self.page(t);
            let from = slots.len();
            let (ops, ols) = (pg.points(), pg.lows());
            for (&s, &l) in ops.iter().zip(ols) {
                if gone.get(slot_owner(s) as usize).copied().unwrap_or(false) {
                    removed += 1;
                    continue;
                }
                let p = position(s, l);
                while f < fresh.len()
                    && page_of(fresh[f].0) == t
                    && (fresh[f].0, fresh[f].1) < (p, id_of(s))
                {
                    let (q, _, slot) = fresh[f];
                    slots.push(pack(q, slot));
                    lows.push(q as u16);
                    f += 1;
                }
                slots.push(s);
                lows.push(l);
            }
            while f < fresh.len() && page_of(fresh[f].0) == t {
                let (q, _, slot) = fresh[f];
                slots.push(pack(q, slot));
                lows.push(q as u16);
                f += 1;
            }
            if slots.len() - from > PAGE_MAX {
                return None;
            }
            if !keep_equal
                && slots[from..]
                    .windows(2)
                    .zip(lows[from..].windows(2))
                    .any(|(s, l)| quantize(s[0]) == quantize(s[1]) && l[0] == l[1])
            {
                return None;
            }
            spans.push((t, from, slots.len()));
        }
        if removed != gone_positions.len() || f != fresh.len() {
            return None;
        }

        // Page → its index in `touched` (a table, not a search: the walks below ask about pages
        // often, and the publication already spends O(pages) on the heads and starts).
        let mut span_at = vec![u32::MAX; pages];
        for (i, &t) in touched.iter().enumerate() {
            span_at[t] = i as u32;
        }
        let span_of = |p: usize| spans.get(span_at[p] as usize).map(|&(_, a, b)| (a, b));
        let new_len = |p: usize| match span_of(p) {
            Some((a, b)) => b - a,
            None => self.page(p).len(),
        };
        let first_slot = |p: usize| match span_of(p) {
            Some((a, _)) => slot_owner(slots[a]),
            None => slot_owner(self.page(p).points()[0]),
        };
        // The slot id owning the first point after page `p` (there is one: `n > 0`).
        let next_owner = |p: usize| {
            let mut q = (p + 1) % pages;
            while new_len(q) == 0 {
                q = (q + 1) % pages;
            }
            first_slot(q)
        };
        // Untouched pages whose sentinel changes: walking back from each touched page over empty
        // ones to the first non-empty one.
        let mut resent: Vec<usize> = Vec::new();
        for &t in &touched {
            let mut q = t;
            for _ in 1..pages {
                q = (q + pages - 1) % pages;
                if span_of(q).is_some() {
                    break;
                }
                let pg = self.page(q);
                if slot_owner(pg.slots()[pg.len()]) != next_owner(q) {
                    resent.push(q);
                }
                if pg.len() > 0 {
                    break;
                }
            }
        }
        resent.sort_unstable();
        resent.dedup();

        // Pages moved out of the oldest chunk, so that it can go.
        let mut chunks = self.chunks.clone();
        let moved: Vec<usize> = if chunks.len() >= MAX_CHUNKS {
            let oldest = &chunks[0];
            (0..pages)
                .filter(|&p| oldest.contains(self.heads[p]))
                .collect()
        } else {
            Vec::new()
        };

        // Write the new pages into one chunk.
        let mut written: Vec<usize> = touched
            .iter()
            .chain(&resent)
            .chain(&moved)
            .copied()
            .collect();
        written.sort_unstable();
        written.dedup();
        let lines: usize = written.iter().map(|&p| page_lines(new_len(p))).sum();
        let mut out = vec![Line([PAD; 8]); lines].into_boxed_slice();
        let mut heads = self.heads.clone();
        // Chunks by address, to find the one each rewritten page leaves.
        let mut by_base: Vec<(usize, usize)> = chunks
            .iter()
            .enumerate()
            .map(|(i, c)| (c.base(), i))
            .collect();
        by_base.sort_unstable();
        let mut at = 0;
        let mut live = self.live + lines;
        for &p in &written {
            let old = self.heads[p];
            live -= page_lines(self.page(p).len());
            let c = by_base.partition_point(|&(b, _)| b <= old.0 as usize);
            if let Some(&(_, c)) = c.checked_sub(1).and_then(|c| by_base.get(c)) {
                let c = &mut chunks[c];
                if c.contains(old) {
                    c.live = c.live.saturating_sub(page_lines(self.page(p).len()));
                }
            }
            let len = page_lines(new_len(p));
            let dst = &mut out[at..at + len];
            match span_of(p) {
                Some((a, b)) => write_page(dst, &slots[a..b], &lows[a..b], shift, next_owner(p)),
                None => {
                    let pg = self.page(p);
                    write_page(dst, pg.points(), pg.lows(), shift, next_owner(p));
                }
            }
            heads[p] = Head(dst.as_ptr().cast());
            at += len;
        }
        chunks.retain(|c| c.live > 0);
        if lines > 0 {
            chunks.push(Chunk {
                lines: Arc::new(out),
                live: lines,
            });
        }
        // The old starts moved by the count changes of the touched pages, met in order.
        let mut starts = Vec::with_capacity(pages + 1);
        let mut delta = 0i64;
        let mut next_touched = touched.iter().zip(&spans).peekable();
        starts.push(0);
        for p in 0..pages {
            if let Some((_, &(_, a, b))) = next_touched.next_if(|&(&t, _)| t == p) {
                delta += (b - a) as i64 - self.page(p).len() as i64;
            }
            starts.push((i64::from(self.starts[p + 1]) + delta) as u32);
        }
        debug_assert_eq!(starts[pages] as usize, n);
        let next = Packed {
            heads,
            chunks,
            starts: starts.into_boxed_slice(),
            ids: ids.into_boxed_slice(),
            shift,
            buckets: self.buckets,
            n,
            norm: self.norm,
            live,
            dir: Box::default(),
            dir_lens: Box::default(),
        }
        .with_dir_after(self, &written);
        let held: usize = next.chunks.iter().map(|c| c.lines.len()).sum();
        if held > SLACK * live {
            return next.repacked();
        }
        Some(next)
    }

    /// This packing written afresh into one chunk (same points, slot ids and node ids).
    fn repacked(&self) -> Option<Packed> {
        let (slots, lows): (Vec<u64>, Vec<u16>) = (0..self.heads.len())
            .flat_map(|p| {
                let pg = self.page(p);
                pg.points().iter().copied().zip(pg.lows().iter().copied())
            })
            .unzip();
        Self::from_sorted(&slots, &lows, self.norm, self.ids.to_vec())
    }

    /// This packing without its directory, so that tests reach the path through the pages.
    #[cfg(test)]
    pub(crate) fn without_dir(mut self) -> Self {
        self.dir = Box::default();
        self.dir_lens = Box::default();
        self
    }

    /// How many chunks the packing holds (for tests and the notes).
    #[cfg(test)]
    pub(crate) fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// Every point in order as (normalized position, node id), for comparisons in tests.
    #[cfg(test)]
    pub(crate) fn contents(&self) -> Vec<(u64, u32)> {
        self.iter_from(0).map(|(p, s)| (p, self.id(s))).collect()
    }

    /// Checks every invariant and every page's table and sentinel against its points (for tests).
    #[cfg(test)]
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

/// Writes a page of `points` (packed, sorted, all in one page) with their `lows` into `dst` (its
/// lines, pads already), the sentinel owned by slot `next`.
fn write_page(dst: &mut [Line], points: &[u64], lows: &[u16], shift: u32, next: u32) {
    let m = points.len();
    debug_assert!(m <= PAGE_MAX && lows.len() == m);
    debug_assert!(dst.len() == page_lines(m));
    // SAFETY: `Line` is `repr(C)` and exactly eight `u64`s with no padding, so `dst`'s lines are
    // `dst.len() * 8` initialized, aligned, exclusively borrowed `u64`s.
    let words: &mut [u64] =
        unsafe { std::slice::from_raw_parts_mut(dst.as_mut_ptr().cast::<u64>(), dst.len() * 8) };
    let mut table = [0u16; LOCAL + 2];
    for (&s, &l) in points.iter().zip(lows) {
        let local = ((position(s, l) >> shift) as usize) & (LOCAL - 1);
        table[local + 1] += 1;
    }
    for l in 1..=LOCAL {
        table[l] += table[l - 1];
    }
    table[LOCAL + 1] = m as u16;
    for (w, t) in words[..TABLE_WORDS].iter_mut().zip(table.chunks(4)) {
        let mut v = [0u16; 4];
        v[..t.len()].copy_from_slice(t);
        // The table is read as `u16`s in memory order: store them in that order.
        *w = u64::from_ne_bytes(u16x4_bytes(v));
    }
    let s = &mut words[TABLE_WORDS..];
    s[..m].copy_from_slice(points);
    s[m] = sentinel(next);
    let low_words = &mut s[m + WINDOW_MAX + 1..m + WINDOW_MAX + 1 + m.div_ceil(4)];
    for (w, l) in low_words.iter_mut().zip(lows.chunks(4)) {
        let mut v = [0u16; 4];
        v[..l.len()].copy_from_slice(l);
        *w = u64::from_ne_bytes(u16x4_bytes(v));
    }
}

/// Four `u16`s as the eight bytes they occupy in memory, in order.
#[inline(always)]
fn u16x4_bytes(v: [u16; 4]) -> [u8; 8] {
    let mut b = [0u8; 8];
    for (i, x) in v.iter().enumerate() {
        b[2 * i..2 * i + 2].copy_from_slice(&x.to_ne_bytes());
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize, seed: u64) -> Vec<u64> {
        (0..n as u64)
            .map(|i| (i ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    }

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

    /// A ring, a change drawn at random, and the reference result.
    fn apply(
        base: &[(u64, u32)],
        slots: usize,
        goes: &[bool],
        added: &[(u64, u32)],
        norm: u32,
    ) -> (Packed, Packed, Vec<(u64, u32)>) {
        let (points, owners): (Vec<u64>, Vec<u32>) = base.iter().copied().unzip();
        let before = Packed::build(&points, &owners, norm).unwrap();
        let mut gone_positions = Vec::new();
        let mut want: Vec<(u64, u32)> = Vec::new();
        for &(p, o) in base {
            if goes[o as usize] {
                gone_positions.push(p << norm);
            } else {
                want.push((p << norm, o));
            }
        }
        let mut fresh: Vec<(u64, u32, u32)> =
            added.iter().map(|&(p, o)| (p << norm, o, o)).collect();
        fresh.sort_unstable();
        want.extend(fresh.iter().map(|&(p, id, _)| (p, id)));
        want.sort_unstable();
        let after = before
            .merged(Change {
                fresh: &fresh,
                gone: goes,
                gone_positions: &gone_positions,
                ids: (0..slots as u32).collect(),
                keep_equal: true,
            })
            .expect("fits");
        (before, after, want)
    }

    proptest::proptest! {
        /// A merged packing holds exactly the points it should, keeps every invariant, and shares
        /// the pages the change did not reach.
        #[test]
        fn merged_equals_the_reference(
            base in proptest::collection::btree_map(proptest::prelude::any::<u64>(), 0u32..40, 200..3000),
            goes in proptest::collection::vec(proptest::prelude::any::<bool>(), 48),
            added in proptest::collection::btree_map(proptest::prelude::any::<u64>(), 40u32..48, 0..200),
            narrow in proptest::prelude::any::<bool>(),
        ) {
            let squeeze = |p: u64| if narrow { p >> 32 } else { p };
            let norm = if narrow { 32 } else { 0 };
            let base: Vec<(u64, u32)> = base.into_iter().map(|(p, o)| (squeeze(p), o))
                .collect::<std::collections::BTreeMap<_, _>>().into_iter().collect();
            let taken: std::collections::BTreeSet<u64> = base.iter().map(|&(p, _)| p).collect();
            let added: Vec<(u64, u32)> = added.into_iter().map(|(p, o)| (squeeze(p), o))
                .filter(|(p, _)| !taken.contains(p))
                .collect::<std::collections::BTreeMap<_, _>>().into_iter().collect();
            let mut goes = goes;
            for g in &mut goes[40..] { *g = false; }
            let kept = base.iter().filter(|&&(_, o)| !goes[o as usize]).count();
            proptest::prop_assume!(kept + added.len() > 0);
            let n = kept + added.len();
            let buckets = Packed::build(&base.iter().map(|p| p.0).collect::<Vec<_>>(), &base.iter().map(|p| p.1).collect::<Vec<_>>(), norm).unwrap().buckets;
            proptest::prop_assume!(n <= buckets * 4 && n * 2 >= buckets);
            let (before, after, want) = apply(&base, 48, &goes, &added, norm);
            after.check();
            proptest::prop_assert_eq!(after.contents(), want);
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

    #[test]
    fn a_small_change_rewrites_few_pages_and_frees_chunks_as_it_goes() {
        let points = sample(40_000, 7);
        let owners: Vec<u32> = (0..points.len() as u32).map(|i| i % 250).collect();
        let mut ring = Packed::build(&points, &owners, 0).unwrap();
        let pages = ring.heads.len();
        // Churn: remove slot 3's points, add them back, many times.
        let mine: Vec<u64> = points
            .iter()
            .zip(&owners)
            .filter(|&(_, &o)| o == 3)
            .map(|(&p, _)| p)
            .collect();
        let ids: Vec<u32> = (0..250).collect();
        let mut max_chunks = 0;
        for round in 0..200 {
            let present = round % 2 == 0;
            let mut gone = vec![false; 250];
            let (fresh, gone_positions): (Vec<(u64, u32, u32)>, Vec<u64>) = if present {
                gone[3] = true;
                (Vec::new(), mine.clone())
            } else {
                (mine.iter().map(|&p| (p, 3, 3)).collect(), Vec::new())
            };
            let next = ring
                .merged(Change {
                    fresh: &fresh,
                    gone: &gone,
                    gone_positions: &gone_positions,
                    ids: ids.clone(),
                    keep_equal: true,
                })
                .unwrap();
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
