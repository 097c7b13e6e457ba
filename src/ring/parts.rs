//! The partitions of a partitioned full build (`super::sort`): each point's position and node
//! id appended to its partition, in memory that is never zeroed first. Zeroed memory cost a pass
//! of its own over ~10 bytes a point (glibc clears a reused block on `calloc`; AMD EPYC guest, a
//! 10,000-node build: ~3.5 % of its time in `memset`), and nothing reads a place before it is
//! written: a partition is read back only up to where it was filled.

use std::mem::MaybeUninit;

/// `count` partitions of room `room` each, holding (position, node id) pairs.
pub(super) struct Parts {
    positions: Box<[MaybeUninit<u64>]>,
    ids: Box<[MaybeUninit<u16>]>,
    /// How many pairs each partition holds: partition `p`'s are at `p * room ..` up to it.
    filled: Vec<u32>,
    room: usize,
}

impl Parts {
    /// Empty partitions; `None` if `count × room` overflows `usize`.
    pub(super) fn new(count: usize, room: usize) -> Option<Self> {
        let len = count.checked_mul(room)?;
        u32::try_from(room).ok()?;
        Some(Parts {
            positions: Box::new_uninit_slice(len),
            ids: Box::new_uninit_slice(len),
            filled: vec![0; count],
            room,
        })
    }

    /// Appends `(x, id)` to partition `p` (below the count); `false` (nothing written) if it is
    /// full.
    #[inline(always)]
    pub(super) fn push(&mut self, p: usize, x: u64, id: u16) -> bool {
        let at = self.filled[p] as usize;
        if at == self.room {
            return false;
        }
        let i = p * self.room + at;
        self.positions[i].write(x);
        self.ids[i].write(id);
        self.filled[p] += 1;
        true
    }

    /// Each partition's positions and ids, in partition order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&[u64], &[u16])> + '_ {
        self.filled.iter().enumerate().map(|(p, &n)| {
            let range = p * self.room..p * self.room + n as usize;
            let (xs, ids) = (&self.positions[range.clone()], &self.ids[range]);
            // SAFETY: `push` wrote every element of `p * room .. p * room + filled[p]` (it writes
            // at `filled[p]` and then counts it), and nothing unwrites one; `MaybeUninit<T>` has
            // the layout of `T`, so the initialized elements read as a `[T]` of the same length.
            unsafe {
                (
                    &*(std::ptr::from_ref(xs) as *const [u64]),
                    &*(std::ptr::from_ref(ids) as *const [u16]),
                )
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_give_back_what_was_pushed_in_order() {
        let mut parts = Parts::new(4, 3).unwrap();
        let pushed = [(2, 20), (0, 1), (2, 21), (3, 30), (2, 22), (0, 2)];
        for &(p, x) in &pushed {
            assert!(parts.push(p, x, x as u16 + 1));
        }
        // Partition 2 is full.
        assert!(!parts.push(2, 23, 0));
        let got: Vec<(Vec<u64>, Vec<u16>)> = parts
            .iter()
            .map(|(xs, ids)| (xs.to_vec(), ids.to_vec()))
            .collect();
        assert_eq!(
            got,
            vec![
                (vec![1, 2], vec![2, 3]),
                (vec![], vec![]),
                (vec![20, 21, 22], vec![21, 22, 23]),
                (vec![30], vec![31]),
            ]
        );
        assert!(Parts::new(usize::MAX, 2).is_none());
    }
}
