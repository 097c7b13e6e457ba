//! The radix layout's storage: packed points in *pages*, each page holding its own bucket table and
//! its points' slots, so that every read a search makes is in bounds by construction. That lets the
//! hot loops read without bounds checks.
//!
//! This file holds the format and its read views, and with them every `unsafe` block of the layout;
//! its submodules make packings and write pages through safe slices only: `build` (a packing from
//! sorted points, writing a page), `merge` (the next packing from the previous one and a change,
//! sharing the untouched pages), `flat` (the flat layout of small rings, and its publications) and,
//! for tests, `check` (every invariant verified).
//!
//! A point is one `u64` *slot*: its position above its owner's *slot id*. Each node gets a slot id
//! that it keeps for as long as it is in the ring (`merge` assigns them), so removing a node does
//! not renumber the points of the others. The packing translates slot ids into the dense node ids
//! the API returns ([`Packed::id`]); right after a full build the two are the same and the
//! translation is skipped. A page's slots are *exact* ([`Form`]): every position in a page shares
//! its top `s` bits (the page's index, `s` the page bits), so a slot holds the position shifted left
//! by `s`, above the slot id in the low `s` bits (slot ids must stay below `2^s`: a ring of fewer
//! than ~64 points a node takes a table up to eight times larger, with sparser pages, so that they
//! do, and one of fewer than ~8 the Eytzinger layout; see [`Packed::geometry`]), and nothing of the
//! position is lost. A flat ring's slots hold a position's top 48 bits above a 16-bit slot id, and the low 16
//! bits apart (see **Flat**).
//!
//! **Pages.** The key space is cut into `2^k` pages by the top bits of a position; a page covers
//! [`LOCAL`] consecutive buckets (40–64 points). A ring is an array of page addresses (`heads`)
//! and the chunks of memory the pages live in. A publication that changes one node rewrites only the
//! pages its points fall in (plus, rarely, a neighbour whose wrap sentinel changes) into one new
//! chunk, and shares every other page with the ring it came from: about 4 % of a 1000-node ring,
//! instead of all of it. Readers of the new ring then miss the cache on the few lines that are new,
//! not on the whole index. A chunk is freed with the last ring that uses one of its pages; a ring
//! holds at most [`MAX_CHUNKS`] (a publication moves the live pages of the chunk with the fewest into
//! its own), and when its chunks add up to more than [`SLACK`] times its live pages, the next
//! publication packs the ring afresh into one chunk.
//!
//! Positions are stored *normalized*: shifted left by `norm` bits, so that a profile whose positions
//! are 32 bits wide uses the top 32 bits of the packed field, not bits 16 to 31 (where most keys
//! would share a flat slot's top 48 bits with a point and take the exact path). Keys are normalized
//! the same way before a search ([`Packed::key`]); the shift keeps the order of every position and
//! key the profile can produce, and a key too large to shift sorts above every point, as it does
//! unshifted. A bucket's slots are then counted against the key's *search key*
//! ([`Packed::searched`]): a page's slots against the key shifted as they are (below it exactly
//! when their positions are below the key), a flat ring's against the key's top 48 bits.
//!
//! A page, from its head (64-byte aligned, a whole number of lines):
//! - `LOCAL + 2` one-byte table entries: `table[l]` = local rank of the page's first point whose
//!   local bucket is `>= l`; `table[LOCAL]` and `table[LOCAL + 1]` are the page's point count `m`
//!   (at most [`PAGE_MAX`], 255: a page of hashed positions holds ~40–64); then, in the same
//!   [`TABLE_WORDS`] words, the slot of the chunk the page is in ([`SLOT_BYTE`]; see `Chunk::slot`);
//! - `m + 1 + PAGE_PADS` slots: the page's points in order, then the *sentinel* (position bits all
//!   ones, owner = the slot id of the next point of the ring, wrapping), then [`PAGE_PADS`]
//!   [`PAD`]s.
//!
//! A paged ring's table spans all 64 bits of a position (`shift + log2(buckets) == 64`), so every
//! key falls in a page and its page's bits are the page's index.
//!
//! A window of up to `PAGE_PADS + 1` slots read from a bucket start ends by the last pad, so such a
//! window's slots past the bucket are never below a key: pages are counted in windows that narrow
//! (see [`Packed::count`]; a flat ring's array ends in `WINDOW_MAX` pads, and its buckets are
//! counted 8 slots a window where a kernel has the vectors). Loads of up to `WINDOW_MAX` slots from
//! a page's bucket start stay inside its chunk, whose last page is followed by a *tail* line of
//! pads. (3 pads a page, not 8: about a tenth of a 1000-node ring's memory.)
//!
//! **Flat.** Rings of at most [`DIR_MAX`] buckets (a 100-node ring of 160 points a node has 8192)
//! are not paged: their packed points lie in one array, in order, followed by the sentinel (owned by
//! the slot of the ring's first point) and [`WINDOW_MAX`] pads, their low bits in another, and a
//! *directory* gives each bucket's first slot's rank in a `u16` (the next entry ends it; a flat
//! ring holds at most `u16::MAX` points). A lookup reads
//! two adjacent directory entries and then the slots. A publication writes the next ring's arrays
//! whole, in runs copied between the points that come and go, and moves the directory by the
//! counts that changed: at this size that is a few hundred KiB of streaming copies, where
//! rewriting a third of the pages one by one (what 160 changed points do to 512 pages) costs more
//! than twice as much. A removal writes none of that: its points stay in place as *stand-ins*, each
//! with the slot id of the point after it, so that every read answers as if they were gone (see
//! `Flat::vacant`), and a node added back takes its own stand-ins over; such a publication's slots
//! are a gone ancestor's array brought up to date where the lineage kept one (see `spares`).
//!
//! Invariants, established when a packing is made and never changed afterwards (the fields are
//! private, pages and flat arrays are never written once a packing holds them, and no method hands
//! out `&mut`):
//! 0. a packing is *flat* (`flat` is set, the directory is kept, `buckets <= DIR_MAX`; `chunks`
//!    and `starts` are empty and every head is the static empty page's (its heads are a prefix of
//!    the static `FLAT_HEADS`, not an array of its own), so that invariant 1 holds and a read
//!    through the pages, which no flat lookup makes, stays in bounds) or *paged* (`flat`
//!    is not set, no directory); invariants 2 and 3 are the paged ones;
//! 1. `heads.len() >= 1`, `buckets == heads.len() * LOCAL`, and every head is the address of a page
//!    laid out as above, inside a chunk of `chunks` (or the static empty page);
//! 2. every table entry is `<= m`, so a window of up to [`WINDOW_MAX`] slots from any bucket start,
//!    and the slot after every [`Rank`] a count returns (`<= m + WINDOW_MAX` slots from the page's
//!    first), is inside the page's chunk: a page is followed in its chunk by another page or by the
//!    chunk's tail line (the static empty page holds pads up to its end, past every slot a count
//!    reads);
//! 3. `starts` has an entry per page: `starts.len(p)` is page `p`'s point count and
//!    `starts.start(p)` the ring rank of its first point, `starts.start(pages) == n` (see `starts`);
//! 4. the directory `dir` is empty (paged), or (flat) has `buckets + 1` entries, ranks of the flat
//!    array (whose first slot's address is `first`), ascending, from 0 to `n`: bucket `b` is the
//!    slots from rank `dir[b]` up to `dir[b + 1]`; the flat array holds `n + WINDOW_MAX + 1`
//!    slots, so a bucket's slots and the `WINDOW_MAX + 1` after them are in it, as a page's are
//!    in the page: the bounds a [`Bucket`] stands for.

use std::marker::PhantomData;
use std::sync::Arc;

use super::Line;

mod build;
#[cfg(test)]
mod check;
mod flat;
mod merge;
mod spares;
mod starts;

pub(crate) use build::PageWriter;
pub(crate) use merge::Change;
use spares::{Record, Spares};
use starts::Starts;

/// Filler after a page's sentinel: never counted as below a key (nothing is above `u64::MAX`).
pub(crate) const PAD: u64 = u64::MAX;

/// The widest window a count may read at once, in slots: a chunk's tail line holds as many.
pub(crate) const WINDOW_MAX: usize = 8;

/// A chunk's tail: one line of pads after its last page (see the module docs).
const TAIL: Line = Line([PAD; 8]);

/// Pads after a page's sentinel: a window of up to one more slots than this may count every slot
/// it reads (the portable count's 4; see the module docs).
pub(crate) const PAGE_PADS: usize = 3;

/// The bucket table is sized for about this many points per bucket (measured: `benches/search.rs`).
const POINTS_PER_BUCKET: usize = 2;

/// The most bits a paged ring's table takes beyond its point count's so that its slot ids fit below
/// its page bits (see [`Packed::geometry`]): at most 8 times the buckets (pages of ~6–8 points).
const SPARSE_BITS: u32 = 3;

/// Buckets per page, as a power of two.
pub(crate) const LOCAL_BITS: u32 = 5;

/// Buckets per page: 32, so a page holds 40–64 points at the table's 1.2–2 points a bucket. Against
/// 16 buckets (20–32 points), a page's fixed bytes (its table's rounding, sentinel, pads and line
/// padding, its head and start) come to half as much a point: 13.7 bytes a point at 1000 nodes
/// against 15.7, and a publication copies half the heads and starts (measured in
/// `docs/performance.md`; lookups read the same buckets either way).
pub(crate) const LOCAL: usize = 1 << LOCAL_BITS;

/// Words of a page's table (`LOCAL + 2` one-byte entries).
const TABLE_WORDS: usize = (LOCAL + 2).div_ceil(8);

/// The byte of a page's table words, after its `LOCAL + 2` entries, that holds the slot of the
/// chunk the page is in (see [`Chunk::slot`]; 0 in a full build's pages and the empty page).
const SLOT_BYTE: usize = LOCAL + 2;
const _: () = assert!(SLOT_BYTE < TABLE_WORDS * 8);

/// Room a full build's items keep past their points: a flat ring's slots are written over them,
/// followed by its sentinel and [`WINDOW_MAX`] pads (see `flat::flat_of_items`).
pub(crate) const ITEMS_TAIL: usize = WINDOW_MAX + 1;

/// The most points one page may hold (its table entries are `u16`). Hashed positions put 40–64
/// in a page; a ring that crowds more into one is searched with the Eytzinger layout instead.
pub(crate) const PAGE_MAX: usize = u8::MAX as usize;

/// Chunk memory a ring may hold, as a multiple of its live pages, before a publication packs it
/// afresh (a safety net for rings that shrink a lot; churn is handled by [`MAX_CHUNKS`]).
const SLACK: usize = 4;

/// The most chunks a ring holds: a publication that would hold more moves the live pages of the
/// chunk with the fewest into its own, which frees that chunk. Under churn that is about the oldest
/// of the publications' chunks, which has about `(1 - 160 / 5000)^64`, 12 %, of its pages still
/// live when one 1000-node ring's node changes, so the moves add about an eighth to a
/// publication's writes, and chunk memory stays near twice the live pages. (Not simply the oldest
/// chunk: a full build's chunk can still be mostly live when a ring first reaches the limit, ~85 %
/// at 10,000 nodes, and moving it would rewrite most of the ring in one publication.)
const MAX_CHUNKS: usize = 64;

/// The most buckets a flat ring has (see the module docs); larger rings are paged. A flat ring of
/// this many buckets holds ~32 k points, ~320 KiB of slots and low bits and 32 KiB of directory,
/// which a publication writes whole; a paged ring would rewrite about as much and hand it out in
/// pages (at 1000 nodes a whole flat ring, ~2 MiB a publication, measured as a cache-miss tail for
/// the readers under churn). Without a directory, lookups in a ring of this size take one more
/// dependent read (its page's address), ~0.7–1 ns measured at 100 nodes.
const DIR_MAX: usize = 1 << 14;

/// The most lines of a page a publication prefetches ahead of reading it (a page of ~40 points is
/// 6 lines, of ~50 points 8; fetching only its first 2 measured no gain).
const PREFETCH_LINES: usize = 8;

/// A page's table entries `0..=LOCAL` (see the module docs; entry `LOCAL + 1` repeats the count).
pub(crate) type Table = [u16; LOCAL + 1];

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

/// The sentinel slot of a flat array whose next point is owned by slot `owner`.
#[inline(always)]
fn sentinel(owner: u32) -> u64 {
    quantize(PAD) | u64::from(owner & 0xFFFF)
}

/// A paged packing's slot form (see the module docs): a slot is its point's normalized position
/// shifted left by `s` bits, which drops the top `s` bits that every position of its page shares
/// (the page's index), above its slot id in the low `s` bits. Nothing of the position is lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Form {
    s: u32,
}

impl Form {
    /// The form of pages whose points share their top `s < 64` bits.
    #[inline(always)]
    pub(crate) const fn new(s: u32) -> Form {
        debug_assert!(s < 64);
        Form { s: s % 64 }
    }

    /// The mask of a slot's slot-id bits.
    #[inline(always)]
    pub(crate) fn mask(self) -> u64 {
        (1u64 << self.s) - 1
    }

    /// The slot of a point at normalized position `x` owned by slot id `owner` (below `2^s`).
    #[inline(always)]
    pub(crate) fn slot(self, x: u64, owner: u32) -> u64 {
        debug_assert!(u64::from(owner) <= self.mask());
        (x << self.s) | u64::from(owner)
    }

    /// The slot id in slot `slot`.
    #[inline(always)]
    pub(crate) fn owner(self, slot: u64) -> u32 {
        (slot & self.mask()) as u32
    }

    /// Normalized key `x` as its page's slots are compared with it: a slot is below it exactly
    /// when its point's position is below `x` (the key's low `s` bits are zero).
    #[inline(always)]
    pub(crate) fn key(self, x: u64) -> u64 {
        x << self.s
    }

    /// The sentinel of a page whose next point is owned by slot `owner`: its position bits all
    /// ones, never below a key.
    #[inline(always)]
    pub(crate) fn sentinel(self, owner: u32) -> u64 {
        (u64::MAX << self.s) | (u64::from(owner) & self.mask())
    }

    /// The position bits page `p` stands for (the top `s` bits of its points' positions).
    #[inline(always)]
    pub(crate) fn top(self, p: usize) -> u64 {
        (p as u64).checked_shl(64 - self.s).unwrap_or(0)
    }

    /// The normalized position of slot `slot` of the page whose bits are `top`.
    #[inline(always)]
    pub(crate) fn position(self, top: u64, slot: u64) -> u64 {
        top | slot >> self.s
    }

    /// The local bucket of a slot: its top `LOCAL_BITS` bits.
    #[inline(always)]
    pub(crate) fn local(slot: u64) -> usize {
        (slot >> (64 - LOCAL_BITS)) as usize
    }
}

/// The first rank of `start..end` whose full position `pos(rank)` (ascending along the range) is
/// not below `x`, or `end` (`start` if the range is empty): a binary search.
fn first_not_below(start: usize, end: usize, x: u64, pos: impl Fn(usize) -> u64) -> usize {
    let (mut lo, mut hi) = (start, end.max(start));
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pos(mid) < x {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Lines a page of `m` points takes.
#[inline]
const fn page_lines(m: usize) -> usize {
    (TABLE_WORDS + m + 1 + PAGE_PADS).div_ceil(8)
}

/// The page of an empty ring: a table of zeros (no points), a sentinel owned by no slot, pads, in
/// `page_lines(0)` lines or fewer; every slot after the table is a pad, up to the `WINDOW_MAX + 1`
/// slots from the page's first that a count may read (invariant 2).
static EMPTY_PAGE: [Line; 2] = {
    let mut words = [PAD; 16];
    let mut i = 0;
    while i < TABLE_WORDS {
        words[i] = 0;
        i += 1;
    }
    let mut lines = [Line([PAD; 8]); 2];
    let mut w = 0;
    while w < 16 {
        lines[w / 8].0[w % 8] = words[w];
        w += 1;
    }
    lines
};
const _: () = assert!(page_lines(0) <= 2 && TABLE_WORDS + WINDOW_MAX < 16);

/// The address of a page (see the module docs for its layout).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Head(*const u64);

// SAFETY: a `Head` is the address of immutable memory (a page or a flat array is never written once
// a packing holds it), owned by the chunks or the flat arrays of the `Packed` that holds the head,
// or static; reading it from any thread is as safe as reading a shared `&[u64]`.
unsafe impl Send for Head {}
// SAFETY: as for `Send`: only ever read.
unsafe impl Sync for Head {}

/// The heads of every flat packing: the static empty page's address, as many times as the largest
/// flat ring has pages. A flat packing's `heads` is a prefix of this (invariant 0), so it holds no
/// array of its own (4 KiB at 100 nodes, written by every publication before).
static FLAT_HEADS: [Head; DIR_MAX >> LOCAL_BITS] =
    [Head(EMPTY_PAGE.as_ptr().cast()); DIR_MAX >> LOCAL_BITS];

/// A packing's page addresses: an array of its own (a paged packing's) or a prefix of
/// [`FLAT_HEADS`] (a flat one's), read as one slice either way, with no branch.
struct Heads {
    /// The first head: of the packing's own array (from `Box::into_raw`, freed on drop), or of
    /// [`FLAT_HEADS`].
    ptr: *const Head,
    len: usize,
    /// Whether `ptr` is the packing's own array. (A raw pointer, not a held `Box`: moving a `Box`
    /// asserts it is the only way to its memory, which a pointer kept beside it would break.)
    owned: bool,
}

// SAFETY: a `Heads` reads `len` heads from `ptr` (its own array or the static `FLAT_HEADS`), never
// writes them, and a `Head` is `Send` and `Sync`: sending it or sharing it is as safe as a
// `Box<[Head]>` or a `&'static [Head]`.
unsafe impl Send for Heads {}
// SAFETY: as for `Send`: only ever read.
unsafe impl Sync for Heads {}

impl Heads {
    /// A paged packing's heads.
    fn owned(heads: Box<[Head]>) -> Self {
        let len = heads.len();
        Self {
            ptr: Box::into_raw(heads).cast::<Head>().cast_const(),
            len,
            owned: true,
        }
    }

    /// The packing's own array, taken out (the heads are empty after), if it has one.
    fn take(&mut self) -> Option<Box<[Head]>> {
        if !self.owned {
            return None;
        }
        let heads = std::ptr::slice_from_raw_parts_mut(self.ptr.cast_mut(), self.len);
        // Field by field: assigning a whole `Heads` would drop (free) the old one first.
        let empty = &FLAT_HEADS[..0];
        (self.ptr, self.len, self.owned) = (empty.as_ptr(), 0, false);
        // SAFETY: an owned `Heads` holds the pointer and length `Box::into_raw` gave for a
        // `Box<[Head]>` (`Heads::owned`); `self` no longer holds them (an empty prefix of
        // `FLAT_HEADS` now, not owned), so the box is rebuilt once and nothing reads the array
        // through `self` after.
        Some(unsafe { Box::from_raw(heads) })
    }

    /// A flat packing's `pages` heads (at most `DIR_MAX >> LOCAL_BITS`), all the empty page's.
    fn flat(pages: usize) -> Self {
        let heads = &FLAT_HEADS[..pages];
        Self {
            ptr: heads.as_ptr(),
            len: heads.len(),
            owned: false,
        }
    }
}

impl std::ops::Deref for Heads {
    type Target = [Head];

    #[inline(always)]
    fn deref(&self) -> &[Head] {
        // SAFETY: `ptr` and `len` are those of the packing's own array, live until `drop` and
        // never written, or of a prefix of the static `FLAT_HEADS`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for Heads {
    fn drop(&mut self) {
        if self.owned {
            let heads = std::ptr::slice_from_raw_parts_mut(self.ptr.cast_mut(), self.len);
            // SAFETY: an owned `Heads` holds the pointer and length `Box::into_raw` gave for a
            // `Box<[Head]>` (`Heads::owned`); it is freed here once, and nothing reads it after.
            drop(unsafe { Box::from_raw(heads) });
        }
    }
}

impl Clone for Heads {
    fn clone(&self) -> Self {
        if self.owned {
            Self::owned(Box::from(&**self))
        } else {
            Self::flat(self.len)
        }
    }
}

/// Memory that pages live in, and how many of its lines are pages some ring in this lineage still
/// uses (an estimate kept by the publications that made it: a ring's `live` counts only its own).
#[derive(Clone)]
struct Chunk {
    /// The lines and the list of pages, behind one reference count: a publication clones and
    /// drops every chunk of the ring it comes from (up to [`MAX_CHUNKS`]), one atomic operation
    /// each way.
    memory: Arc<ChunkMemory>,
    live: usize,
    /// The address of the chunk's first line and one past its last (its lines', kept here so that
    /// finding a page's chunk reads no shared memory).
    base: usize,
    end: usize,
    /// The chunk's *slot*: a number no other chunk of a ring that holds this one has, written in
    /// every page of the chunk (its [`SLOT_BYTE`]), so that a publication finds the chunk a page
    /// leaves from the page, without a search of the chunks by address. A full build's chunk
    /// takes 0, a publication's the least that the ring it comes from does not use.
    slot: u8,
}

/// What a [`Chunk`] shares between the rings that use it.
struct ChunkMemory {
    /// A vector, not a boxed slice: its room is kept, and it goes back to the lineage's spares
    /// when the chunk goes (see `spares`).
    lines: Vec<Line>,
    /// The pages written into the chunk, ascending (`None`: every page of the ring, a full build's
    /// chunk; a publication's chunk holds the pages it rewrote first, then those it copied). The
    /// pages still in it are among these: a publication that empties the chunk looks at them, not
    /// at every page of the ring.
    pages: Option<Box<[u32]>>,
    /// The lineage's spares, for a publication's chunk (`None`: a full build's or a repacking's,
    /// whose memory is the ring's size and far larger than a publication's).
    spares: Option<Arc<Spares>>,
}

impl Drop for ChunkMemory {
    fn drop(&mut self) {
        // Given back only while another ring or chunk of the lineage may take it (as `Flat`).
        if let Some(s) = self.spares.as_ref().filter(|s| Arc::strong_count(s) > 1) {
            s.give_lines(std::mem::take(&mut self.lines));
        }
    }
}

impl Chunk {
    /// A chunk of `lines` (its pages, then its tail line) holding `pages` (see
    /// [`ChunkMemory::pages`]), all of them live.
    fn new(
        lines: Vec<Line>,
        pages: Option<Box<[u32]>>,
        spares: Option<Arc<Spares>>,
        slot: u8,
    ) -> Chunk {
        debug_assert!(lines.last().is_some_and(|l| l.0 == TAIL.0));
        let base = lines.as_ptr() as usize;
        Chunk {
            live: lines.len().saturating_sub(1),
            base,
            end: base + std::mem::size_of_val(&lines[..]),
            slot,
            memory: Arc::new(ChunkMemory {
                lines,
                pages,
                spares,
            }),
        }
    }

    #[inline]
    fn lines(&self) -> &[Line] {
        &self.memory.lines
    }

    /// The head of the page written at line `at` of the chunk. Taken from the chunk once it is
    /// made, never from the lines before they move into it: moving a `Box` asserts it is the only
    /// way to its memory, which an address taken before would break (Miri's Stacked Borrows).
    #[inline]
    fn head(&self, at: usize) -> Head {
        Head(self.lines()[at..].as_ptr().cast())
    }

    #[cfg(test)]
    fn base(&self) -> usize {
        self.base
    }

    #[inline]
    fn contains(&self, h: Head) -> bool {
        let a = h.0 as usize;
        a >= self.base && a < self.end
    }
}

/// A flat packing's points (see the module docs): the packed points in order, then the sentinel and
/// [`WINDOW_MAX`] pads (`n + WINDOW_MAX + 1` slots); the points' low 16 bits (`n`). Vectors, not
/// boxed slices: their spare room is kept (see `flat::room`), and they go back to the lineage's
/// spares when the packing goes (see `spares`).
struct Flat {
    slots: Vec<u64>,
    /// Shared by the packings of a lineage that publish in place (their points' positions are the
    /// same; see `vacant`).
    lows: Arc<Vec<u16>>,
    spares: Arc<Spares>,
    /// The ranks of the slots that are *stand-ins*, ascending: points of nodes removed since the
    /// arrays were last written in full, left in place with the slot id of the point after them
    /// (the next that is not a stand-in, wrapping), so that every lookup, walk and count answers
    /// as if they were gone. The rank methods ([`Packed::len`], [`Packed::position`],
    /// [`Packed::iter_from`], ...) skip them. Empty unless a publication removed points in place
    /// (see `flat`).
    vacant: Vec<u32>,
    /// How the slots came from the parent ring's (see [`Record`]).
    record: Arc<Record>,
}

impl Drop for Flat {
    fn drop(&mut self) {
        // The last ring of its lineage frees its arrays as they are: no ring is left to publish
        // from and take them.
        if Arc::strong_count(&self.spares) > 1 {
            let slots = (Arc::clone(&self.record), std::mem::take(&mut self.slots));
            // The low bits go back with the last packing that shares them.
            let lows = Arc::get_mut(&mut self.lows).map(std::mem::take);
            self.spares.give_points(slots, lows);
        } else {
            crate::kept::give_held_words(std::mem::take(&mut self.slots));
        }
    }
}

/// A page of a packing, borrowed from it.
#[derive(Clone, Copy)]
pub(crate) struct Page<'a> {
    h: *const u64,
    /// The packing's slot form and the position bits of this page.
    form: Form,
    top: u64,
    _ring: PhantomData<&'a Packed>,
}

impl<'a> Page<'a> {
    /// Table entry `i <= LOCAL + 1`.
    #[inline(always)]
    fn entry(self, i: usize) -> usize {
        debug_assert!(i <= LOCAL + 1);
        // SAFETY: a page starts with `LOCAL + 2` one-byte entries (invariant 1); `i <= LOCAL + 1`,
        // and every caller passes at most `LOCAL + 1`.
        unsafe { *self.h.cast::<u8>().add(i) as usize }
    }

    /// The slot of the chunk the page is in (see [`Chunk::slot`]).
    #[inline]
    fn chunk_slot(self) -> u8 {
        // SAFETY: a page starts with its table's `TABLE_WORDS` words (invariant 1; the empty
        // page's are zeros), and `SLOT_BYTE < TABLE_WORDS * 8`.
        unsafe { *self.h.cast::<u8>().add(SLOT_BYTE) }
    }

    /// Table entries `0..=LOCAL`: entry `l` counts the page's points in local buckets below `l`.
    #[inline]
    pub(crate) fn table(self) -> Table {
        std::array::from_fn(|l| self.entry(l) as u16)
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

    /// The page's slots: its points, the sentinel and the pads (`len() + 1 + PAGE_PADS`).
    #[inline]
    pub(crate) fn slots(self) -> &'a [u64] {
        // SAFETY: the page holds `len() + 1 + PAGE_PADS` slots after its table (invariant 1),
        // immutable for as long as the packing that lends the page (`'a`).
        unsafe { std::slice::from_raw_parts(self.slots_ptr(), self.len() + 1 + PAGE_PADS) }
    }

    /// The slot id named by the page's sentinel: the owner of the ring's next point after the
    /// page, wrapping.
    #[inline]
    pub(crate) fn sentinel_owner(self) -> u32 {
        self.form.owner(self.slots()[self.len()])
    }

    /// The page's packed points.
    #[inline]
    pub(crate) fn points(self) -> &'a [u64] {
        &self.slots()[..self.len()]
    }

    /// The page's whole lines, as written: table, slots, sentinel, pads and padding.
    #[inline]
    fn lines(self) -> &'a [Line] {
        // SAFETY: a page is `page_lines(len())` whole lines from its 64-byte-aligned head, inside
        // its chunk or the static empty page (invariant 1: every page is written that way, by
        // `build::assemble`, `build::PageWriter` and `merge::write`, and the empty page is 2
        // lines, `page_lines(0)`), immutable for as long as the packing that lends the page
        // (`'a`).
        unsafe { std::slice::from_raw_parts(self.h.cast::<Line>(), page_lines(self.len())) }
    }

    /// The full (normalized) position of the page's point `i < len()`.
    #[inline]
    fn norm_position(self, i: usize) -> u64 {
        self.position_of(self.points()[i])
    }

    /// The full (normalized) position of a slot of this page.
    #[inline(always)]
    pub(crate) fn position_of(self, slot: u64) -> u64 {
        self.form.position(self.top, slot)
    }

    /// The slot id of a slot of this page.
    #[inline(always)]
    pub(crate) fn owner_of(self, slot: u64) -> u32 {
        self.form.owner(slot)
    }
}

/// Where a key's bucket bounds are: the address of its entry in its page's table (made only by
/// [`Packed::entry`]; the page's head is the entry's address rounded down to 64 bytes, as the table
/// sits in the page's first line).
#[derive(Clone, Copy)]
pub(crate) struct Entry(*const u8);

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
/// `start + len <= m` (made only by [`Packed::bucket_at`]), or of a flat array of `n` points, with
/// `start + len <= n` (made only by [`Dir::bucket`]).
#[derive(Clone, Copy)]
pub(crate) struct Bucket {
    ptr: *const u64,
    len: usize,
}

impl Bucket {
    /// An empty bucket of the static empty page (a placeholder; valid for every ring).
    pub(crate) const EMPTY: Bucket = Bucket {
        // SAFETY: (evaluated at compile time) the empty page's slots start `TABLE_WORDS` words into
        // its two lines (16 words), so the offset stays inside the static.
        ptr: unsafe { EMPTY_PAGE.as_ptr().cast::<u64>().add(TABLE_WORDS) },
        len: 0,
    };
}

/// A flat ring's directory, borrowed from it: its first slot and each bucket's first slot's rank
/// (made only by [`Packed::dir`], from a flat packing: `starts` has an entry per bucket and one
/// more, ascending ranks from 0 to the flat array's point count; invariant 4).
#[derive(Clone, Copy)]
pub(crate) struct Dir<'a> {
    first: *const u64,
    starts: &'a [u16],
    shift: u32,
}

impl Dir<'_> {
    /// The bucket index of normalized key `x`, clamped to the last bucket (see `Packed::locate`).
    #[inline(always)]
    fn index(self, x: u64) -> usize {
        ((x >> self.shift) as usize).min(self.starts.len() - 2)
    }

    /// The address of normalized key `x`'s directory entry, for a prefetch hint only (not
    /// clamped: a key above every bucket hints past the end, which a prefetch ignores).
    #[inline(always)]
    pub(crate) fn hint(self, x: u64) -> *const u64 {
        self.starts
            .as_ptr()
            .wrapping_add((x >> self.shift) as usize)
            .cast()
    }

    /// The bucket of normalized key `x`.
    #[inline(always)]
    pub(crate) fn bucket(self, x: u64) -> Bucket {
        let i = self.index(x);
        // SAFETY: `i <= starts.len() - 2` (a flat directory has at least `LOCAL + 1` entries), so
        // entries `i` and `i + 1` are both in it.
        let (start, end) = unsafe {
            (
                *self.starts.get_unchecked(i),
                *self.starts.get_unchecked(i + 1),
            )
        };
        // The bucket is the slots from rank `start` up to `end` of the flat array (invariant 4),
        // the bounds a `Bucket` stands for.
        let (start, end) = (start as usize, end as usize);
        Bucket {
            ptr: self.first.wrapping_add(start),
            len: end - start,
        }
    }
}

/// A rank found by [`Packed::count`], counted from its bucket's first slot: below the bucket's
/// length plus [`WINDOW_MAX`] (exactly the search's rank, at most the length, when the window counts
/// are right), so its slot and the one after can be read without a bounds check.
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
        if let Some(f) = &self.packed.flat {
            // A flat packing: `i` is the slot rank, wrapping at `n`; stand-ins are passed over.
            while !f.vacant.is_empty() && f.vacant.binary_search(&(self.i as u32)).is_ok() {
                self.i = if self.i + 1 == self.packed.n {
                    0
                } else {
                    self.i + 1
                };
            }
            let out = (
                position(f.slots[self.i], f.lows[self.i]),
                slot_owner(f.slots[self.i]),
            );
            self.i = if self.i + 1 == self.packed.n {
                0
            } else {
                self.i + 1
            };
            self.left -= 1;
            return Some(out);
        }
        loop {
            let pg = self.packed.page(self.page);
            if self.i < pg.len() {
                let out = (pg.norm_position(self.i), pg.owner_of(pg.points()[self.i]));
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

/// The packed points, in pages (see the module docs for the layout and invariants).
#[derive(Clone)]
pub(crate) struct Packed {
    heads: Heads,
    chunks: Vec<Chunk>,
    starts: Starts,
    /// Slot id → node id; empty when they are the same.
    ids: Box<[u32]>,
    shift: u32,
    buckets: usize,
    n: usize,
    norm: u32,
    /// A paged packing's slot form (a flat one's is unused: its slots are [`pack`]ed).
    form: Form,
    /// The mask of a slot's slot-id bits: the form's, or `0xFFFF` for a flat packing.
    mask: u64,
    /// Lines of the pages `heads` points at.
    live: usize,
    /// A flat packing's arrays (see the module docs); `None` for a paged one.
    flat: Option<Arc<Flat>>,
    /// A flat packing's directory: each bucket's first slot's rank, then `n` (invariant 4); empty
    /// for a paged one. Ranks in 2 bytes (a flat ring holds at most `u16::MAX` points), not slot
    /// addresses in 8: a quarter of the directory's memory and of what a publication writes of it.
    /// Given back to the lineage's spares when the packing goes.
    dir: Vec<u16>,
    /// A flat packing's first slot (its flat array's address, kept here so that a lookup reads it
    /// beside the directory's); null for a paged one.
    first: Head,
    /// A paged packing's lineage's spares (every packing published from the same full build
    /// shares them): its heads, starts and its publications' chunks go back to them when they go,
    /// for the next publication (see `spares`); `None` for a flat one (its arrays have their own).
    spares: Option<Arc<Spares>>,
    /// A paged packing's heads as a change from its parent's (see [`Record`]: a publication's
    /// differ at the pages it wrote); `None` for a flat one.
    record: Option<Arc<Record>>,
}

impl Drop for Packed {
    fn drop(&mut self) {
        // As for `Flat`: given back only while another ring of the lineage may take it.
        if let Some(f) = self
            .flat
            .as_ref()
            .filter(|f| Arc::strong_count(&f.spares) > 1)
        {
            f.spares.give_dir(std::mem::take(&mut self.dir));
        }
        match &self.spares {
            Some(s) if Arc::strong_count(s) > 1 => {
                if let Some(heads) = self.heads.take() {
                    let record = self.record.take().unwrap_or_else(Record::whole);
                    s.give_paged(
                        (record, heads.into_vec()),
                        std::mem::take(&mut self.starts).into_arrays(),
                    );
                }
            }
            // A paged ring alone in its lineage (built whole, and nothing published from it is
            // left): the memory of its whole-ring chunk is kept for the next full build (see
            // `kept`). A chunk that publications drained is freed as it is: a ring that publishes
            // rarely builds afresh, and the allocator adapts to the large blocks it frees.
            Some(_) => {
                for chunk in &mut self.chunks {
                    if let Some(memory) = Arc::get_mut(&mut chunk.memory) {
                        if memory.pages.is_none() {
                            crate::kept::give_lines(std::mem::take(&mut memory.lines));
                        }
                    }
                }
            }
            None => {}
        }
    }
}

impl std::fmt::Debug for Packed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packed")
            .field("n", &self.n)
            .field("flat", &self.flat.is_some())
            .field("pages", &self.heads.len())
            .field("chunks", &self.chunks.len())
            .finish()
    }
}

impl Packed {
    /// The number of points (a flat packing's stand-ins not counted).
    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        self.n - self.vacant().len()
    }

    /// A flat packing's stand-ins' slot ranks, ascending (see `Flat::vacant`); empty otherwise.
    #[inline(always)]
    fn vacant(&self) -> &[u32] {
        match &self.flat {
            Some(f) => &f.vacant,
            None => &[],
        }
    }

    /// The slot rank of point `r < len` (the same unless a flat packing holds stand-ins).
    #[inline]
    fn slot_rank(&self, r: usize) -> usize {
        let mut s = r;
        for &v in self.vacant() {
            if v as usize > s {
                break;
            }
            s += 1;
        }
        s
    }

    /// The point rank of the first point at or after slot rank `s <= n` (`len` past the last).
    #[inline]
    fn point_rank(&self, s: usize) -> usize {
        s - self.vacant().partition_point(|&v| (v as usize) < s)
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

    /// The slot id in slot `slot` (of a page, or of the flat array).
    #[inline(always)]
    pub(crate) fn owner_of(&self, slot: u64) -> u32 {
        (slot & self.mask) as u32
    }

    /// The mask of a slot's slot-id bits (`0xFFFF` in a flat packing).
    #[inline(always)]
    pub(crate) fn id_mask(&self) -> u64 {
        self.mask
    }

    /// The bucket that normalized key `x` falls in, and the key its slots are counted against (its
    /// *search key*): a slot is below it exactly when its top 48 bits are below the key's (flat: the
    /// key quantized, [`quantize`]), or when its position is below the key (paged: the page's key,
    /// [`Form::key`]). The key is chosen on the branch that finds the bucket, so the count after it
    /// is one code for both layouts, and the flat key stays a constant mask.
    #[inline(always)]
    pub(crate) fn searched(&self, x: u64) -> (Bucket, u64) {
        match self.dir() {
            Some(dir) => (dir.bucket(x), quantize(x)),
            None => (self.bucket_at(self.entry(x)), self.form.key(x)),
        }
    }

    /// A paged packing's search key of normalized key `x` (see [`searched`](Self::searched)).
    #[inline(always)]
    pub(crate) fn paged_key(&self, x: u64) -> u64 {
        self.form.key(x)
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
    #[cfg(test)]
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
            form: self.form,
            top: self.form.top(p),
            _ring: PhantomData,
        }
    }

    /// The page and local rank of ring rank `r < n`.
    #[inline]
    fn page_of_rank(&self, r: usize) -> (usize, usize) {
        self.starts.page_of_rank(r)
    }

    /// The normalized position of point `r < len`.
    #[inline]
    pub(crate) fn norm_position(&self, r: usize) -> u64 {
        if let Some(f) = &self.flat {
            let r = self.slot_rank(r);
            return position(f.slots[r], f.lows[r]);
        }
        let (p, i) = self.page_of_rank(r);
        self.page(p).norm_position(i)
    }

    /// The position of point `r < len`, as the profile has it.
    #[inline]
    pub(crate) fn position(&self, r: usize) -> u64 {
        self.norm_position(r) >> self.norm
    }

    /// The node id owning point `r < len`.
    #[inline]
    pub(crate) fn owner(&self, r: usize) -> u32 {
        if let Some(f) = &self.flat {
            return self.id(slot_owner(f.slots[self.slot_rank(r)]));
        }
        let (p, i) = self.page_of_rank(r);
        self.id(self.form.owner(self.page(p).points()[i]))
    }

    /// Calls `f(position as the profile has it, node id)` for every point, in order: a loop over
    /// each page's slices, for passes over the whole ring.
    pub(crate) fn for_each(&self, mut f: impl FnMut(u64, u32)) {
        if let Some(flat) = &self.flat {
            let mut vacant = flat.vacant.iter().peekable();
            for (r, (&s, &l)) in flat.slots[..self.n].iter().zip(&flat.lows[..]).enumerate() {
                if vacant.next_if(|&&v| v as usize == r).is_none() {
                    f(position(s, l) >> self.norm, self.id(slot_owner(s)));
                }
            }
            return;
        }
        for p in 0..self.heads.len() {
            let pg = self.page(p);
            for &s in pg.points() {
                f(pg.position_of(s) >> self.norm, self.id(pg.owner_of(s)));
            }
        }
    }

    /// Every point from rank `start` (`<= len`) on, wrapping, one full turn: (normalized position,
    /// slot id).
    pub(crate) fn iter_from(&self, start: usize) -> Points<'_> {
        let (page, i) = if self.flat.is_some() {
            (
                0,
                if start < self.len() {
                    self.slot_rank(start)
                } else {
                    0
                },
            )
        } else if start < self.n {
            self.page_of_rank(start)
        } else {
            (0, 0)
        };
        Points {
            packed: self,
            page,
            i,
            left: self.len(),
        }
    }

    /// The node id of the first point `>= x` (a normalized key), wrapping, that `keep` accepts, or
    /// `None` if no point's does (one full turn): the health walk's path. It finds the key's point
    /// in its bucket by its slots (a page's compare exactly with the page's key), then walks the
    /// pages' slots from there, with no search of the page starts.
    #[inline]
    pub(crate) fn first_owner_at_or_after(
        &self,
        x: u64,
        keep: impl FnMut(u32) -> bool,
    ) -> Option<u32> {
        if self.flat.is_some() {
            return self.first_owner_at_or_after_flat(x, keep);
        }
        let (page, start, end) = self.locate(x);
        let points = self.page(page).points();
        let key = self.form.key(x);
        let mut from = start;
        while from < end && points[from] < key {
            from += 1;
        }
        self.walk_owners(page, from, keep)
    }

    /// [`first_owner_at_or_after`](Self::first_owner_at_or_after) from the key's point as a
    /// search found it: `rank`, counted in `b`, the bucket of normalized key `x` (no scan of the
    /// bucket). When the slot there has the key's top 48 bits, the exact path runs instead (in a
    /// paged packing only by coincidence: see `Radix::settle`).
    #[inline(always)]
    pub(crate) fn first_owner_from_count(
        &self,
        x: u64,
        b: Bucket,
        rank: Rank,
        keep: impl FnMut(u32) -> bool,
    ) -> Option<u32> {
        if self.slot_at(b, rank) >> 16 == x >> 16 {
            return self.first_owner_at_or_after(x, keep);
        }
        // The rank from the first slot of the bucket's array (the flat slots, or its page's).
        let (page, base) = match &self.flat {
            Some(f) => (0, f.slots.as_ptr()),
            None => {
                let page = self.bucket_index(x) >> LOCAL_BITS;
                (page, self.page(page).slots_ptr())
            }
        };
        let from = (b.ptr as usize).wrapping_sub(base as usize) / 8 + rank.0;
        self.walk_owners(page, from, keep)
    }

    /// The node ids owning the key's point, as a search found it (`rank`, counted in `b`, the bucket
    /// of normalized key `x`), and the `N - 1` points after it, when the `N` lie in one run of
    /// slots (no page's end or the ring's between them) and the key takes no exact path; else
    /// `None`, and the caller walks. For replicas: a few slots read at once instead of a walk.
    #[inline(always)]
    pub(crate) fn owners_run_from_count<const N: usize>(
        &self,
        x: u64,
        b: Bucket,
        rank: Rank,
    ) -> Option<[u32; N]> {
        if self.slot_at(b, rank) >> 16 == x >> 16 {
            return None;
        }
        let (points, base) = match &self.flat {
            Some(f) => (&f.slots[..self.n], f.slots.as_ptr()),
            None => {
                let pg = self.page(self.bucket_index(x) >> LOCAL_BITS);
                (pg.points(), pg.slots_ptr())
            }
        };
        let from = (b.ptr as usize).wrapping_sub(base as usize) / 8 + rank.0;
        let run = points.get(from..from.checked_add(N)?)?;
        Some(std::array::from_fn(|j| self.id(self.owner_of(run[j]))))
    }

    /// The node id of the first point that `keep` accepts from local rank `from` of page `page`
    /// on (a flat packing: from rank `from`), wrapping, or `None` after one full turn. `from` may
    /// be the page's length: the walk starts at the next page (the ring's start).
    #[inline]
    fn walk_owners(
        &self,
        page: usize,
        mut from: usize,
        mut keep: impl FnMut(u32) -> bool,
    ) -> Option<u32> {
        if let Some(f) = &self.flat {
            // Inlined into the caller with its `keep` (a walk of a flat ring is a few slots).
            let slots = &f.slots[..self.n];
            for _ in 0..self.n {
                if from >= self.n {
                    from = 0;
                }
                let id = self.id(slot_owner(slots[from]));
                if keep(id) {
                    return Some(id);
                }
                from += 1;
            }
            return None;
        }
        self.walk_paged_owners(page, from, keep)
    }

    /// [`walk_owners`](Self::walk_owners) of a paged packing.
    fn walk_paged_owners(
        &self,
        mut page: usize,
        mut from: usize,
        mut keep: impl FnMut(u32) -> bool,
    ) -> Option<u32> {
        let mut points = self.page(page).points();
        // `from` may be the page's length (past its last point): the walk goes on to the next page.
        let mut left = self.n;
        loop {
            while from < points.len() {
                let id = self.id(self.form.owner(points[from]));
                if keep(id) {
                    return Some(id);
                }
                left -= 1;
                if left == 0 {
                    return None;
                }
                from += 1;
            }
            if self.n == 0 {
                return None;
            }
            page = if page + 1 == self.heads.len() {
                0
            } else {
                page + 1
            };
            points = self.page(page).points();
            from = 0;
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
        Entry(unsafe { h.cast::<u8>().add(g & (LOCAL - 1)) })
    }

    /// The bucket whose table entry is `e` (reads the entry and the next one).
    #[inline(always)]
    pub(crate) fn bucket_at(&self, e: Entry) -> Bucket {
        // SAFETY: `e` is entry `l < LOCAL` of a page's table (only `entry` makes one, or the empty
        // page's entry 0), so entries `l` and `l + 1` are both in the table.
        let [start, end] = unsafe { e.0.cast::<[u8; 2]>().read() };
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

    /// Whether the packing is flat (a small ring's; see the module docs).
    pub(crate) fn is_flat(&self) -> bool {
        self.flat.is_some()
    }

    /// The ring's directory, if it keeps one (see [`DIR_MAX`]).
    #[inline(always)]
    pub(crate) fn dir(&self) -> Option<Dir<'_>> {
        // A flat packing's directory is never empty (invariant 4), a paged one's always is.
        (!self.dir.is_empty()).then_some(Dir {
            first: self.first.0,
            starts: &self.dir,
            shift: self.shift,
        })
    }

    /// The number of pages.
    #[inline(always)]
    pub(crate) fn pages(&self) -> usize {
        self.heads.len()
    }

    /// Hints the CPU to fetch page `p`'s lines (a publication about to read it; it never reads
    /// through the hint).
    #[inline]
    pub(crate) fn prefetch_page(&self, p: usize) {
        let h = self.heads[p].0;
        for l in 0..page_lines(self.page_len(p)).min(PREFETCH_LINES) {
            super::prefetch::prefetch_read(h.wrapping_add(8 * l));
        }
    }

    /// Page `p`'s point count, from the page starts (without reading the page).
    #[inline]
    pub(crate) fn page_len(&self, p: usize) -> usize {
        self.starts.len(p)
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

    /// The bucket's first slot, as a pointer for a prefetch hint.
    #[inline(always)]
    pub(crate) fn slot_hint(&self, b: Bucket) -> *const u64 {
        b.ptr
    }

    /// The slot at a counted rank.
    #[inline(always)]
    pub(crate) fn slot_at(&self, b: Bucket, r: Rank) -> u64 {
        // SAFETY: the bucket starts at local rank `start <= m` and `r.0 <= len + WINDOW_MAX - 1`
        // (`Rank`'s bound), so `start + r.0 <= m + WINDOW_MAX`, inside the page's chunk
        // (invariant 2; for a flat bucket, `n` for `m`, inside the flat array: invariant 4).
        unsafe { *b.ptr.add(r.0) }
    }

    /// The slot after the one at a counted rank: the next point or the page's sentinel (standing
    /// for the next page's first point); after the sentinel, whatever follows it (a pad, the next
    /// page), which the caller must not take for a point.
    #[inline(always)]
    pub(crate) fn slot_after(&self, b: Bucket, r: Rank) -> u64 {
        // SAFETY: `r.0 <= len + WINDOW_MAX - 1` (`Rank`'s bound) and the bucket starts at local
        // rank `start` with `start + len <= m`, so `start + r.0 + 1 <= m + WINDOW_MAX`: inside the
        // page's chunk (invariant 2; for a flat bucket, `n` for `m`, the flat array's last slot at
        // most: invariant 4).
        unsafe { *b.ptr.add(r.0 + 1) }
    }

    /// The local rank of the first point `>= x` (a normalized key) in the bucket `start..end` of
    /// page `pg`, or `end` if none is: a binary search of the bucket's slots with the page's key.
    fn exact_local(pg: Page<'_>, start: usize, end: usize, x: u64) -> usize {
        let points = pg.points();
        first_not_below(start, end, pg.form.key(x), |i| points[i])
    }

    /// The slot of the first point `>= x` (a normalized key), wrapping (the sentinel past a page's
    /// last point stands for the next point): a search of the bucket's full positions (a flat
    /// packing's exact path, for a key whose top 48 bits equal a point's).
    pub(crate) fn exact_slot(&self, x: u64) -> u64 {
        if let Some(f) = &self.flat {
            return f.slots[self.rank_at_or_after_flat(x)];
        }
        let (page, start, end) = self.locate(x);
        let pg = self.page(page);
        pg.slots()[Self::exact_local(pg, start, end, x)]
    }

    /// The ring rank of the first point `>= x` (a normalized key; `len` past the last point).
    pub(crate) fn rank_at_or_after(&self, x: u64) -> usize {
        if self.flat.is_some() {
            return self.point_rank(self.rank_at_or_after_flat(x));
        }
        let (page, start, end) = self.locate(x);
        self.starts.start(page) + Self::exact_local(self.page(page), start, end, x)
    }

    /// The bucket's count of packed points below the key, counted one window of `W` slots at a time
    /// from the bucket's start until its end is covered: `window` counts one window (a count above
    /// `W` is taken as `W`, which keeps the rank in bounds whatever it says). Counting past the end
    /// is exact for windows of up to `PAGE_PADS + 1` slots: every slot after a bucket that such a
    /// window reads is a later bucket's point, the sentinel or a pad, none of them below the key.
    /// Fixed-size windows make a fixed amount of branch-free work for the buckets that fit one
    /// window (~95 % at two points a bucket).
    #[inline(always)]
    pub(crate) fn count<const W: usize>(
        &self,
        b: Bucket,
        window: impl FnMut(&[u64; W]) -> u32,
    ) -> Rank {
        const { assert!(W > 0 && W <= PAGE_PADS + 1) };
        Self::count_windows(b, window)
    }

    /// [`count`](Self::count) in windows of up to [`WINDOW_MAX`] slots, for a bucket of a flat
    /// ring (from [`Dir::bucket`]): its array ends in `WINDOW_MAX` pads, so every slot after a
    /// bucket that a window reads is a later point, the sentinel or a pad. (A page's wider windows
    /// would run past its pads into the next page, which would count.)
    #[inline(always)]
    pub(crate) fn count_flat<const W: usize>(
        &self,
        b: Bucket,
        window: impl FnMut(&[u64; W]) -> u32,
    ) -> Rank {
        Self::count_windows(b, window)
    }

    /// The loop of [`count`](Self::count) and [`count_flat`](Self::count_flat).
    #[inline(always)]
    fn count_windows<const W: usize>(b: Bucket, mut window: impl FnMut(&[u64; W]) -> u32) -> Rank {
        const { assert!(W > 0 && W <= WINDOW_MAX) };
        let mut c = 0u32;
        let mut i = 0;
        loop {
            // SAFETY: the bucket starts at local rank `start <= m` with `start + len <= m`; `i` is
            // 0 or below `len`, so `start + i <= m` and the `W` slots from there end by
            // `m + WINDOW_MAX`, inside the page's chunk (invariant 2; for a flat bucket, `n` for
            // `m`, inside the flat array: invariant 4); `[u64; W]` has `u64`'s alignment.
            let w = unsafe { &*b.ptr.add(i).cast::<[u64; W]>() };
            c += window(w).min(W as u32);
            i += W;
            if i >= b.len {
                // `c <= i` and `i <= len + W - 1`: the rank is within `Rank`'s bound.
                return Rank(c as usize);
            }
        }
    }
}
