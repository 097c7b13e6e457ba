//! The partitions of a partitioned full build (`super::sort`): each point's position and node
//! id appended to its partition, in memory that is never zeroed first. Zeroed memory cost a pass
//! of its own over ~10 bytes a point (glibc clears a reused block on `calloc`; AMD EPYC guest, a
//! 10,000-node build: ~3.5 % of its time in `memset`), and nothing reads a place before it is
//! written: a partition is read back only up to where it was filled.

use std::mem::MaybeUninit;

/// `count` partitions of room `room` each, holding (position, node id) pairs.
///
/// The positions and the ids share one block (the positions, then the ids), which the build
/// leaves for the next one when the partitions go (see `crate::kept`): a build's partitions are
/// megabytes (16.6 MB at 10,000 nodes of 160 points), and fresh ones fault in page by page.
pub(super) struct Parts {
    /// `count × room` positions, then `count × room` ids (four to a word).
    block: Box<[MaybeUninit<u64>]>,
    /// How many pairs each partition holds: partition `p`'s are at `p * room ..` up to it.
    filled: Vec<u32>,
    room: usize,
    len: usize,
}

impl Parts {
    /// Empty partitions; `None` if `count × room` overflows `usize`.
    pub(super) fn new(count: usize, room: usize) -> Option<Self> {
        let len = count.checked_mul(room)?;
        u32::try_from(room).ok()?;
        let words = len.checked_add(len.div_ceil(4))?;
        Some(Parts {
            block: crate::kept::block(words),
            filled: vec![0; count],
            room,
            len,
        })
    }

    /// The positions' part of the block and the ids' part, the latter as `u16`s.
    #[inline(always)]
    fn halves(&mut self) -> (&mut [MaybeUninit<u64>], &mut [MaybeUninit<u16>]) {
        let (positions, ids) = self.block.split_at_mut(self.len);
        let ids = ids_of(ids);
        (positions, ids)
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
        let (positions, ids) = self.halves();
        positions[i].write(x);
        ids[i].write(id);
        self.filled[p] += 1;
        true
    }

    /// Each partition's positions and ids, in partition order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&[u64], &[u16])> + '_ {
        let (positions, ids) = self.block.split_at(self.len);
        let ids = ids_of_ref(ids);
        self.filled.iter().enumerate().map(move |(p, &n)| {
            let range = p * self.room..p * self.room + n as usize;
            let (xs, ids) = (&positions[range.clone()], &ids[range]);
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

impl Drop for Parts {
    fn drop(&mut self) {
        crate::kept::give_block(std::mem::take(&mut self.block));
    }
}

/// Words of possibly uninitialized memory as four times as many `u16`s.
fn ids_of(words: &mut [MaybeUninit<u64>]) -> &mut [MaybeUninit<u16>] {
    let len = words.len() * 4;
    // SAFETY: the slice covers `len * 2` bytes the borrow owns exclusively, aligned for `u64`
    // and so for `u16`; any bytes are a valid `MaybeUninit<u16>`, and the result borrows `words`.
    unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<MaybeUninit<u16>>(), len) }
}

/// [`ids_of`] for a shared borrow.
fn ids_of_ref(words: &[MaybeUninit<u64>]) -> &[MaybeUninit<u16>] {
    let len = words.len() * 4;
    // SAFETY: the slice covers `len * 2` bytes the borrow covers, aligned for `u64` and so for
    // `u16`; any bytes are a valid `MaybeUninit<u16>`, and the result borrows `words`.
    unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<MaybeUninit<u16>>(), len) }
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
