//! Search indexes over the sorted points of a ring.
//!
//! Every layout answers one question: given a search position `x`, which point is the first one `>= x`
//! in sorted order, wrapping to the first point when none is? [`lower_bound_wrap`] is the plain
//! sorted-array reference that every layout must agree with (property tests check it). Layouts sit
//! behind the `SearchIndex` trait so that the snapshot can pick one per ring size.

mod eytzinger;
mod prefetch;

pub(crate) use eytzinger::Eytzinger;

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
    /// Builds the index over `points` (sorted ascending) and their `owners` (same length).
    fn build(points: &[u64], owners: &[u32]) -> Self;

    /// The owner of the first point `>= x`, wrapping; `None` only if the index is empty.
    fn owner_at_or_after(&self, x: u64) -> Option<u32>;

    /// The position and owner of the first point `>= x`, wrapping; `None` only if the index is empty.
    /// (Wide profiles compare the position with the key to see whether a tie-break is needed.)
    fn point_at_or_after(&self, x: u64) -> Option<(u64, u32)>;
}

/// The layout a snapshot searches with. One variant today; faster layouts join here, chosen by size.
#[derive(Debug, Clone)]
pub(crate) enum Index {
    /// Cache-line-aligned Eytzinger (BFS) order with a parallel owner array.
    Eytzinger(Eytzinger),
}

impl Index {
    pub(crate) fn build(points: &[u64], owners: &[u32]) -> Self {
        Index::Eytzinger(Eytzinger::build(points, owners))
    }

    #[inline(always)]
    pub(crate) fn owner_at_or_after(&self, x: u64) -> Option<u32> {
        match self {
            Index::Eytzinger(e) => e.owner_at_or_after(x),
        }
    }

    #[inline(always)]
    pub(crate) fn point_at_or_after(&self, x: u64) -> Option<(u64, u32)> {
        match self {
            Index::Eytzinger(e) => e.point_at_or_after(x),
        }
    }
}
