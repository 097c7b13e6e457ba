//! The Eytzinger (BFS-order) layout.
//!
//! Point `k` (1-based) has children `2k` and `2k+1`; the in-order traversal visits the points in sorted
//! order. The descent is branchless (`k = 2k + (a[k] < x)`), and each step prefetches the cache line
//! holding the node's descendants three levels down (eight `u64`s fill one 64-byte line, and the
//! array starts on a line boundary so those eight never straddle two lines). After the descent, the
//! answer is the last node where the search went left: strip the trailing one bits of `k` and one
//! more. `k == 0` means every point is below `x`, so the answer wraps to the smallest point, the
//! leftmost node.

use super::prefetch::prefetch_read;
use super::{Kernel, Line};

/// Points in Eytzinger order (1-based, slot 0 unused) in cache-line-aligned storage, with the owner of
/// each slot in a parallel array.
#[derive(Clone)]
pub(crate) struct Eytzinger {
    lines: Vec<Line>,
    owners: Vec<u32>,
    n: usize,
    /// Slot of the smallest point (the leftmost node), where a search past the largest point wraps.
    first: usize,
}

impl std::fmt::Debug for Eytzinger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Eytzinger").field("n", &self.n).finish()
    }
}

impl Eytzinger {
    #[inline(always)]
    fn keys(&self) -> &[u64] {
        bytemuck::cast_slice(&self.lines)
    }
}

/// Fills slots in order: an iterative in-order traversal of the implicit tree of `n` slots.
fn inorder_slots(n: usize, mut visit: impl FnMut(usize)) {
    let mut stack: Vec<usize> = Vec::with_capacity(64);
    let mut k = 1usize;
    loop {
        while k <= n {
            stack.push(k);
            k *= 2;
        }
        match stack.pop() {
            None => break,
            Some(top) => {
                visit(top);
                k = 2 * top + 1;
            }
        }
    }
}

impl Eytzinger {
    pub(crate) fn build(points: &[u64], owners: &[u32]) -> Self {
        debug_assert_eq!(points.len(), owners.len());
        let n = points.len();
        let mut lines = vec![Line([0; 8]); (n + 1).div_ceil(8)];
        let mut eowners = vec![0u32; n + 1];
        {
            let keys: &mut [u64] = bytemuck::cast_slice_mut(&mut lines);
            let mut rank = 0usize;
            inorder_slots(n, |slot| {
                keys[slot] = points[rank];
                eowners[slot] = owners[rank];
                rank += 1;
            });
        }
        let first = if n == 0 {
            0
        } else {
            1usize << (usize::BITS - 1 - n.leading_zeros())
        };
        Self {
            lines,
            owners: eowners,
            n,
            first,
        }
    }
}

impl Eytzinger {
    /// The points in sorted order with their owners (an in-order traversal).
    pub(crate) fn sorted(&self) -> (Vec<u64>, Vec<u32>) {
        let keys = self.keys();
        let mut points = Vec::with_capacity(self.n);
        let mut owners = Vec::with_capacity(self.n);
        inorder_slots(self.n, |slot| {
            points.push(keys[slot]);
            owners.push(self.owners[slot]);
        });
        (points, owners)
    }
}

impl Eytzinger {
    /// The owner of the first point `>= x`, wrapping; `None` if empty.
    #[inline]
    pub(crate) fn owner_at_or_after(&self, x: u64) -> Option<u32> {
        self.slot_at_or_after(x).map(|slot| self.owners[slot])
    }

    /// The position and owner of the first point `>= x`, wrapping; `None` if empty.
    #[inline]
    pub(crate) fn point_at_or_after(&self, x: u64) -> Option<(u64, u32)> {
        self.slot_at_or_after(x)
            .map(|slot| (self.keys()[slot], self.owners[slot]))
    }

    /// Owners of many positions (`out.len() == xs.len()`): one at a time for the scalar kernel,
    /// interleaved for every other.
    pub(crate) fn owners_batch(&self, xs: &[u64], out: &mut [u32], kernel: Kernel) {
        match kernel {
            Kernel::Scalar => {
                for (o, &x) in out.iter_mut().zip(xs) {
                    *o = self.owner_at_or_after(x).unwrap_or(u32::MAX);
                }
            }
            _ => self.batch_interleaved(xs, out),
        }
    }
}

impl Eytzinger {
    /// Interleaved descent: keys travel in groups of 16, level by level, so the cache misses of a
    /// group overlap. (No vector compare here: one comparison per key and level; the vector kernels
    /// select this same loop.)
    fn batch_interleaved(&self, xs: &[u64], out: &mut [u32]) {
        const G: usize = 16;
        let keys = self.keys();
        let base = keys.as_ptr();
        let n = self.n;
        let depth = usize::BITS - n.leading_zeros();
        for (xs, out) in xs.chunks(G).zip(out.chunks_mut(G)) {
            let mut ks = [1usize; G];
            for _ in 0..depth {
                for (k, &x) in ks.iter_mut().zip(xs) {
                    if *k <= n {
                        prefetch_read(base.wrapping_add(*k << 3));
                        *k = 2 * *k + usize::from(keys[*k] < x);
                    }
                }
            }
            for (o, &k) in out.iter_mut().zip(&ks) {
                let k = k >> (k.trailing_ones() + 1);
                *o = self.owners[if k == 0 { self.first } else { k }];
            }
        }
    }

    /// The slot of the first point `>= x`, wrapping; `None` if empty.
    #[inline(always)]
    fn slot_at_or_after(&self, x: u64) -> Option<usize> {
        if self.n == 0 {
            return None;
        }
        let keys = self.keys();
        let base = keys.as_ptr();
        let mut k = 1usize;
        while k <= self.n {
            prefetch_read(base.wrapping_add(k << 3));
            k = 2 * k + usize::from(keys[k] < x);
        }
        k >>= k.trailing_ones() + 1;
        Some(if k == 0 { self.first } else { k })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::lower_bound_wrap;

    #[test]
    fn matches_reference_on_small_arrays_exhaustively() {
        for n in 1..70usize {
            let points: Vec<u64> = (0..n as u64).map(|i| i * 10 + (i % 3)).collect();
            let owners: Vec<u32> = (0..n as u32).collect();
            let e = Eytzinger::build(&points, &owners);
            for x in 0..(n as u64 * 10 + 5) {
                let want = owners[lower_bound_wrap(&points, x)];
                assert_eq!(e.owner_at_or_after(x), Some(want), "n={n} x={x}");
            }
            assert_eq!(e.owner_at_or_after(u64::MAX), Some(0));
            assert_eq!(e.sorted(), (points.clone(), owners.clone()));
            for x in 0..(n as u64 * 10 + 5) {
                let r = lower_bound_wrap(&points, x);
                assert_eq!(
                    e.point_at_or_after(x),
                    Some((points[r], owners[r])),
                    "n={n} x={x}"
                );
            }
        }
    }

    proptest::proptest! {
        /// Random arrays with many duplicates (values drawn from a small range) and random probes,
        /// including every value present and the extremes.
        #[test]
        fn matches_reference_with_duplicates(
            mut points in proptest::collection::vec(0u64..64, 1..300),
            probes in proptest::collection::vec(0u64..70, 0..50),
        ) {
            points.sort_unstable();
            let owners: Vec<u32> = (0..points.len() as u32).collect();
            let e = Eytzinger::build(&points, &owners);
            for x in probes.into_iter().chain(points.iter().copied()).chain([0, u64::MAX]) {
                proptest::prop_assert_eq!(e.owner_at_or_after(x), Some(owners[lower_bound_wrap(&points, x)]));
            }
        }
    }

    #[test]
    fn empty_index_has_no_owner() {
        let e = Eytzinger::build(&[], &[]);
        assert_eq!(e.owner_at_or_after(5), None);
    }

    #[test]
    fn duplicates_resolve_to_the_first_in_order() {
        let points = [5, 7, 7, 7, 9];
        let owners = [0, 1, 2, 3, 4];
        let e = Eytzinger::build(&points, &owners);
        assert_eq!(e.owner_at_or_after(7), Some(1));
        assert_eq!(e.owner_at_or_after(6), Some(1));
        assert_eq!(e.owner_at_or_after(8), Some(4));
    }
}
