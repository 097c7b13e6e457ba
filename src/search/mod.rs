//! Search indexes over the sorted points of a ring.
//!
//! Every layout answers one question: given a search position `x`, which point is the first one `>= x`
//! in sorted order, wrapping to the first point when none is? [`lower_bound_wrap`] is the plain
//! sorted-array reference that every layout must agree with (property tests check it).
//!
//! The layouts are concrete types, `Radix` (over the paged storage of `packed`), `Eytzinger`, and
//! `Table` (the Maglev placement's lookup table), and the `Index` enum chooses between them per
//! ring: a `match` that the hot paths inline, with no trait object or generic bound in between
//! (each layout has the same inherent methods: `owner_at_or_after`, `point_at_or_after`,
//! `owners_batch`).
//! Everything outside this module talks to `Index`, `Packer`, `Change` and [`Kernel`]; the
//! storage module `packed` is private to it.

mod eytzinger;
mod packed;
mod prefetch;
mod radix;
mod simd;
mod table;

use bytemuck::{Pod, Zeroable};

pub(crate) use eytzinger::Eytzinger;
pub(crate) use packed::{Change, PageWriter, ITEMS_TAIL, LOCAL_BITS, PAGE_MAX};
pub(crate) use prefetch::prefetch_read;
pub(crate) use radix::{Points as RadixPoints, Radix, NO_NEXT};
#[cfg(test)]
pub(crate) use simd::kernels_under_test;
pub(crate) use simd::list_set;
pub use simd::Kernel;
pub(crate) use table::Table;

/// One cache line of `u64`s: the unit both layouts allocate and align their arrays in.
#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C, align(64))]
pub(crate) struct Line(pub(crate) [u64; 8]);

/// The reference search: the rank of the first point `>= x` in `points` (sorted ascending), wrapping
/// to 0 when every point is below `x`. `points` must not be empty.
///
/// ```
/// use ringroute::search::lower_bound_wrap;
/// let pts = [10, 20, 20, 30];
/// assert_eq!(lower_bound_wrap(&pts, 5), 0);
/// assert_eq!(lower_bound_wrap(&pts, 20), 1); // first of equal points
/// assert_eq!(lower_bound_wrap(&pts, 21), 3);
/// assert_eq!(lower_bound_wrap(&pts, 31), 0); // wraps
/// ```
#[inline]
pub fn lower_bound_wrap(points: &[u64], x: u64) -> usize {
    let r = points.partition_point(|&p| p < x);
    if r == points.len() {
        0
    } else {
        r
    }
}

/// A search layout (see the module docs of each). Snapshots pick one by size; [`crate::Snapshot::with_layout`]
/// forces one, for benchmarks and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Radix-indexed array of packed points (position above owner id, one `u64` each), bucket
    /// counted with vector compares: rings of at most 65,536 nodes (and, for a paged ring, slot ids
    /// below its pages' count: about 8 points a node or more, in a sparser table below ~64).
    Radix,
    /// Cache-line-aligned Eytzinger array with a parallel owner array: any ring.
    Eytzinger,
    /// A lookup table, one entry per slot of the key space, a key's owner at entry `hash % size`:
    /// the Maglev placement (its only layout).
    Table,
}

/// The layout a snapshot searches with, chosen when the snapshot is built.
///
/// The radix layout measured fastest at every ring size here (`benches/search.rs`; figures in
/// `docs/performance.md`), so every ring whose node ids fit its 16-bit owner field uses it; larger
/// memberships use the Eytzinger layout.
///
/// A plain tag (`repr(u8)`) rather than a niche in a field: a lookup's `match` is then one byte
/// compare, not a decode of the niche (nine instructions counted on a Maglev lookup's path).
#[derive(Debug, Clone)]
#[repr(u8)]
pub(crate) enum Index {
    /// Radix-indexed packed points (rings of at most 65,536 nodes).
    Radix(Radix),
    /// Cache-line-aligned Eytzinger (BFS) order with a parallel owner array (any ring).
    Eytzinger(Eytzinger),
    /// A lookup table (the Maglev placement; its search is `x % size`, not a lower bound).
    Table(Table),
}

impl Index {
    /// The index of sorted `points` and their `owners`; `norm` is the profile's normalization shift
    /// for the radix layout (see [`Radix::build`]).
    pub(crate) fn build(points: &[u64], owners: &[u32], norm: u32) -> Self {
        match Radix::build(points, owners, norm) {
            Some(r) => Index::Radix(r),
            None => Index::Eytzinger(Eytzinger::build(points, owners)),
        }
    }

    /// The radix index of points sorted and counted into buckets by a full build (see
    /// [`radix_geometry`]): each point its position (as the profile has it) above its node id
    /// (below `ids <= 2^16`), `buckets[b]` the rank of bucket `b`'s first point. `None` if they do
    /// not fit the radix layout.
    pub(crate) fn from_buckets(
        points: &[u128],
        buckets: &[u32],
        norm: u32,
        ids: usize,
    ) -> Option<Self> {
        packed::Packed::from_buckets(points, buckets, norm, ids)
            .map(|p| Index::Radix(Radix::from_packed(p)))
    }

    /// The radix index of a full build's points as items (see `Packed::from_items`), in the
    /// geometry `(bits, shift)` of [`radix_geometry`]. `None` if they do not fit the radix layout.
    pub(crate) fn from_items(
        items: Vec<u64>,
        buckets: &[u32],
        geometry: (u32, u32),
        norm: u32,
    ) -> Option<Self> {
        packed::Packed::from_items(items, buckets, geometry, norm)
            .map(|p| Index::Radix(Radix::from_packed(p)))
    }

    /// The radix index a [`PageWriter`] wrote; `None` if a page is missing.
    pub(crate) fn from_pages(pages: PageWriter) -> Option<Self> {
        pages.finish().map(|p| Index::Radix(Radix::from_packed(p)))
    }

    /// The index in a chosen layout; `None` if the ring does not fit it (a table is made only by
    /// the Maglev placement, from its own construction).
    pub(crate) fn build_as(
        layout: Layout,
        points: &[u64],
        owners: &[u32],
        norm: u32,
    ) -> Option<Self> {
        match layout {
            Layout::Radix => Radix::build(points, owners, norm).map(Index::Radix),
            Layout::Eytzinger => Some(Index::Eytzinger(Eytzinger::build(points, owners))),
            Layout::Table => None,
        }
    }

    /// Which layout this is.
    pub(crate) fn layout(&self) -> Layout {
        match self {
            Index::Radix(_) => Layout::Radix,
            Index::Eytzinger(_) => Layout::Eytzinger,
            Index::Table(_) => Layout::Table,
        }
    }

    #[inline(always)]
    pub(crate) fn owner_at_or_after(&self, x: u64) -> Option<u32> {
        match self {
            Index::Radix(r) => r.owner_at_or_after(x),
            Index::Eytzinger(e) => e.owner_at_or_after(x),
            Index::Table(t) => t.owner_at_or_after(x),
        }
    }

    /// [`owners_batch`](Self::owners_batch) that also writes each key's next owner into `next`
    /// (as long as `xs`), or [`NO_NEXT`] where the layout does not have it at hand (the radix
    /// layout reads it in the same pass; see `Radix::owners_pair_batch`).
    pub(crate) fn owners_pair_batch(
        &self,
        xs: &[u64],
        out: &mut [u32],
        next: &mut [u32],
        kernel: Kernel,
    ) {
        match self {
            Index::Radix(r) => r.owners_pair_batch(xs, out, next, kernel),
            Index::Eytzinger(e) => {
                e.owners_batch(xs, out, kernel);
                next.fill(NO_NEXT);
            }
            Index::Table(t) => {
                t.owners_batch(xs, out, kernel);
                next.fill(NO_NEXT);
            }
        }
    }

    #[inline(always)]
    pub(crate) fn point_at_or_after(&self, x: u64) -> Option<(u64, u32)> {
        match self {
            Index::Radix(r) => r.point_at_or_after(x),
            Index::Eytzinger(e) => e.point_at_or_after(x),
            Index::Table(t) => t.point_at_or_after(x),
        }
    }

    #[inline]
    pub(crate) fn owners_batch(&self, xs: &[u64], out: &mut [u32], kernel: Kernel) {
        match self {
            Index::Radix(r) => r.owners_batch(xs, out, kernel),
            Index::Eytzinger(e) => e.owners_batch(xs, out, kernel),
            Index::Table(t) => t.owners_batch(xs, out, kernel),
        }
    }
}

/// The radix layout's bucket table for `n` points whose largest position, normalized by the
/// profile's shift, is `last`, owned by node ids below `ids`: `(bits, shift)`, 2^bits buckets, a
/// normalized position's bucket being `position >> shift`.
pub(crate) fn radix_geometry(n: usize, last: Option<u64>, ids: usize) -> (u32, u32) {
    packed::Packed::geometry(n, last, ids)
}

/// A radix index made from points handed over in ascending order and packed as they come, so a full
/// build makes no plain point and owner arrays on the way. For rings whose owner ids fit 16 bits.
pub(crate) struct Packer {
    slots: Vec<u64>,
    lows: Vec<u16>,
    norm: u32,
}

impl Packer {
    /// A packer for about `n` points of a profile whose normalization shift is `norm` (see
    /// [`Radix::build`]).
    pub(crate) fn with_capacity(n: usize, norm: u32) -> Self {
        Self {
            slots: Vec::with_capacity(n),
            lows: Vec::with_capacity(n),
            norm,
        }
    }

    /// Appends the point at `position` (not below the previous one) owned by node `owner`
    /// (`< 2^16`).
    #[inline]
    pub(crate) fn push(&mut self, position: u64, owner: u32) {
        let (slot, low) = packed::pack_point(position, owner, self.norm);
        self.slots.push(slot);
        self.lows.push(low);
    }

    /// The index of the points pushed: radix, or Eytzinger if a page would overflow (positions
    /// crowded far beyond what hashing gives).
    pub(crate) fn finish(self) -> Index {
        if let Some(p) = packed::Packed::from_sorted(&self.slots, &self.lows, self.norm, Vec::new())
        {
            return Index::Radix(Radix::from_packed(p));
        }
        let (points, owners): (Vec<u64>, Vec<u32>) = self
            .slots
            .iter()
            .zip(&self.lows)
            .map(|(&s, &l)| (packed::position(s, l) >> self.norm, packed::slot_owner(s)))
            .unzip();
        Index::Eytzinger(Eytzinger::build(&points, &owners))
    }
}
