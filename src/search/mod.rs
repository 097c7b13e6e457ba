//! Search indexes over the sorted points of a ring.
//!
//! Every layout answers one question: given a search position `x`, which point is the first one `>= x`
//! in sorted order, wrapping to the first point when none is? [`lower_bound_wrap`] is the plain
//! sorted-array reference that every layout must agree with (property tests check it). Layouts sit
//! behind the `SearchIndex` trait so that the snapshot can pick one per ring size.

mod eytzinger;
pub(crate) mod packed;
mod prefetch;
mod radix;
mod simd;

pub(crate) use eytzinger::Eytzinger;
pub(crate) use radix::Radix;
pub use simd::Kernel;

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

/// The interface every search layout implements.
pub(crate) trait SearchIndex: Send + Sync + Sized {
    /// The owner of the first point `>= x`, wrapping; `None` only if the index is empty.
    fn owner_at_or_after(&self, x: u64) -> Option<u32>;

    /// The position and owner of the first point `>= x`, wrapping; `None` only if the index is empty.
    /// (Wide profiles compare the position with the key to see whether a tie-break is needed.)
    fn point_at_or_after(&self, x: u64) -> Option<(u64, u32)>;

    /// [`owner_at_or_after`](Self::owner_at_or_after) of every `xs[i]` into `out[i]`, searched with
    /// `kernel` (which the caller has checked is available). The index is not empty and
    /// `out.len() == xs.len()`.
    fn owners_batch(&self, xs: &[u64], out: &mut [u32], kernel: Kernel);
}

/// A search layout (see the module docs of each). Snapshots pick one by size; [`crate::Snapshot::with_layout`]
/// forces one, for benchmarks and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Radix-indexed array of packed (48-bit position, 16-bit owner) points, bucket counted with
    /// vector compares: rings of at most 65,536 nodes.
    Radix,
    /// Cache-line-aligned Eytzinger array with a parallel owner array: any ring.
    Eytzinger,
}

/// The layout a snapshot searches with, chosen when the snapshot is built.
///
/// The radix layout measured fastest at every ring size here (see README's tables and
/// `benches/search.rs`), so every ring whose node ids fit its 16-bit owner field uses it; larger
/// memberships use the Eytzinger layout.
#[derive(Debug, Clone)]
pub(crate) enum Index {
    /// Radix-indexed packed points (rings of at most 65,536 nodes).
    Radix(Radix),
    /// Cache-line-aligned Eytzinger (BFS) order with a parallel owner array (any ring).
    Eytzinger(Eytzinger),
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

    /// The index in a chosen layout; `None` if the ring does not fit it.
    pub(crate) fn build_as(
        layout: Layout,
        points: &[u64],
        owners: &[u32],
        norm: u32,
    ) -> Option<Self> {
        match layout {
            Layout::Radix => Radix::build(points, owners, norm).map(Index::Radix),
            Layout::Eytzinger => Some(Index::Eytzinger(Eytzinger::build(points, owners))),
        }
    }

    /// Which layout this is.
    pub(crate) fn layout(&self) -> Layout {
        match self {
            Index::Radix(_) => Layout::Radix,
            Index::Eytzinger(_) => Layout::Eytzinger,
        }
    }

    #[inline(always)]
    pub(crate) fn owner_at_or_after(&self, x: u64) -> Option<u32> {
        match self {
            Index::Radix(r) => r.owner_at_or_after(x),
            Index::Eytzinger(e) => e.owner_at_or_after(x),
        }
    }

    #[inline(always)]
    pub(crate) fn point_at_or_after(&self, x: u64) -> Option<(u64, u32)> {
        match self {
            Index::Radix(r) => r.point_at_or_after(x),
            Index::Eytzinger(e) => e.point_at_or_after(x),
        }
    }

    #[inline]
    pub(crate) fn owners_batch(&self, xs: &[u64], out: &mut [u32], kernel: Kernel) {
        match self {
            Index::Radix(r) => r.owners_batch(xs, out, kernel),
            Index::Eytzinger(e) => e.owners_batch(xs, out, kernel),
        }
    }
}
