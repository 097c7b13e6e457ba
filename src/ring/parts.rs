//! The partitions of a partitioned full build (`super::sort`): each point appended to its
//! partition as one word, in memory that is never zeroed first. Zeroed memory cost a pass of its
//! own (glibc clears a reused block on `calloc`; AMD EPYC guest, a 10,000-node build: ~3.5 % of
//! its time in `memset`), and nothing reads a place before it is written: a partition is read back
//! only up to where it was filled.
//!
//! A point is its position and its node's id, 64 bits and up to 16; its word holds both. The
//! partition is a position's top `bits` bits, so the word keeps the position's other bits, shifted
//! up, and in the `bits` below them the step from the id of the partition's point before (points
//! are appended node by node, so the ids in a partition never go down). A step too large for them
//! takes a word of its own first (an *escape*: the step above the mark `2^bits - 1`), which
//! hashed positions need only when `2^bits - 1` nodes in a row have no point in the partition.
//! One word a point instead of a position and an id apart: a fifth less memory written and read
//! (13.3 MB instead of 16.6 at 10,000 nodes of 160 points), and half as many streams of writes.

use std::mem::MaybeUninit;

/// The most partitions (2^7: the most partition bits a build takes, see `super::sort`).
pub(super) const PARTS_MAX: usize = 128;

/// `2^bits` partitions of room `room` words each, holding points as words (see the module docs).
///
/// The block is left for the next build when the partitions go (see `crate::kept`): a build's
/// partitions are megabytes, and fresh memory faults in page by page.
pub(super) struct Parts {
    /// `count × room` words: partition `p`'s from `p * room`.
    block: Box<[MaybeUninit<u64>]>,
    /// How many words each partition holds.
    filled: [u32; PARTS_MAX],
    /// The id of each partition's last point.
    last: [u32; PARTS_MAX],
    /// How many of each partition's words are escapes.
    escapes: [u32; PARTS_MAX],
    room: usize,
    /// The partition bits.
    bits: u32,
}

impl Parts {
    /// Empty partitions, one for each value of a position's top `bits` bits (1 to 7), each of
    /// room for `points` points of nodes numbered below `nodes` (the escapes' words added); `None`
    /// if the room overflows.
    pub(super) fn new(bits: u32, points: usize, nodes: usize) -> Option<Self> {
        if !(1..=PARTS_MAX.ilog2()).contains(&bits) {
            return None;
        }
        let count = 1usize << bits;
        // At most one escape for each `escape` nodes in a row.
        let room = points.checked_add(nodes / Self::escape_of(bits) as usize + 1)?;
        u32::try_from(room).ok()?;
        Some(Parts {
            block: crate::kept::block(count.checked_mul(room)?),
            filled: [0; PARTS_MAX],
            last: [0; PARTS_MAX],
            escapes: [0; PARTS_MAX],
            room,
            bits,
        })
    }

    /// The mark of an escape word with `bits` partition bits: the largest step a word holds.
    fn escape_of(bits: u32) -> u32 {
        (1 << bits) - 1
    }

    /// Appends the point at `x` of node `id` to its partition (`x`'s top bits; ids appended in
    /// ascending order); `false` (and the partitions are to be dropped) if the partition is full.
    #[inline(always)]
    pub(super) fn push(&mut self, x: u64, id: u32) -> bool {
        let bits = self.bits;
        // Below `PARTS_MAX` (`bits` is at most its log): the mask only shows it.
        let p = (x >> (64 - bits)) as usize & (PARTS_MAX - 1);
        let mut step = id.wrapping_sub(self.last[p]);
        self.last[p] = id;
        if step >= Self::escape_of(bits) {
            if !self.put(
                p,
                u64::from(step) << bits | u64::from(Self::escape_of(bits)),
            ) {
                return false;
            }
            self.escapes[p] += 1;
            step = 0;
        }
        self.put(p, x << bits | u64::from(step))
    }

    /// Appends word `w` to partition `p` (below [`PARTS_MAX`]); `false` if it is full.
    #[inline(always)]
    fn put(&mut self, p: usize, w: u64) -> bool {
        let at = self.filled[p] as usize;
        let Some(slot) = self
            .block
            .get_mut(p * self.room + at)
            .filter(|_| at < self.room)
        else {
            return false;
        };
        slot.write(w);
        self.filled[p] += 1;
        true
    }

    /// Each partition's words (read them with [`points`]) and how many points they hold, in
    /// partition order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&[u64], usize)> + '_ {
        self.filled[..1 << self.bits]
            .iter()
            .enumerate()
            .map(|(p, &n)| {
                let words = &self.block[p * self.room..p * self.room + n as usize];
                // SAFETY: `push` wrote every word of `p * room .. p * room + filled[p]` (it writes at
                // `filled[p]` and then counts it), and nothing unwrites one; `MaybeUninit<u64>` has
                // the layout of `u64`, so the initialized words read as a `[u64]` of the same length.
                let words = unsafe { &*(std::ptr::from_ref(words) as *const [u64]) };
                (words, (n - self.escapes[p]) as usize)
            })
    }

    /// The most words a partition holds.
    pub(super) fn room(&self) -> usize {
        self.room
    }
}

/// The points of a partition whose words are `words` (see [`Parts::iter`]; `bits` partition
/// bits), each as its position without its partition bits (the top `bits` bits zero) and its node
/// id.
#[inline(always)]
pub(super) fn points(words: &[u64], bits: u32) -> impl Iterator<Item = (u64, u32)> + '_ {
    let escape = u64::from(Parts::escape_of(bits));
    let mut id = 0u32;
    words.iter().filter_map(move |&w| {
        let tag = w & escape;
        if tag == escape {
            id = id.wrapping_add((w >> bits) as u32);
            return None;
        }
        id = id.wrapping_add(tag as u32);
        Some((w >> bits, id))
    })
}

impl Drop for Parts {
    fn drop(&mut self) {
        crate::kept::give_block(std::mem::take(&mut self.block));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The points of every partition, as `points` reads them back.
    fn read(parts: &Parts) -> Vec<Vec<(u64, u32)>> {
        parts
            .iter()
            .map(|(w, n)| {
                let pts: Vec<_> = points(w, parts.bits).collect();
                assert_eq!(pts.len(), n);
                pts
            })
            .collect()
    }

    #[test]
    fn partitions_give_back_what_was_pushed_in_order() {
        let bits = 2;
        let top = |p: u64, low: u64| p << 62 | low;
        let mut parts = Parts::new(bits, 3, 0).unwrap();
        let pushed = [
            (2, 20, 1),
            (0, 1, 2),
            (2, 21, 2),
            (3, 30, 3),
            (2, 22, 3),
            (0, 2, 3),
        ];
        for &(p, x, id) in &pushed {
            assert!(parts.push(top(p, x), id));
        }
        // Partition 2 is full (room 3, and one word for an escape: none taken).
        assert!(parts.push(top(2, 23), 3));
        assert!(!parts.push(top(2, 24), 3));
        assert_eq!(
            read(&parts),
            vec![
                vec![(1, 2), (2, 3)],
                vec![],
                vec![(20, 1), (21, 2), (22, 3), (23, 3)],
                vec![(30, 3)],
            ]
        );
        // A step of 3 or more (the mark, with two bits) takes an escape word.
        let mut parts = Parts::new(bits, 2, 10).unwrap();
        assert!(parts.push(top(1, 5), 0));
        assert!(parts.push(top(1, 6), 2));
        assert!(parts.push(top(1, 7), 9));
        assert_eq!(read(&parts)[1], vec![(5, 0), (6, 2), (7, 9)]);
        assert!(Parts::new(0, 2, 2).is_none());
        assert!(Parts::new(8, 2, 2).is_none());
        assert!(Parts::new(4, usize::MAX, 2).is_none());
    }

    proptest! {
        /// Whatever the steps between ids, the points come back as pushed, partition by
        /// partition, while each partition has the room `new` gives for its points.
        #[test]
        fn points_come_back_as_pushed(
            bits in 1u32..=7,
            mut pts in proptest::collection::vec((any::<u64>(), 0u32..2000), 0..300),
        ) {
            pts.sort_by_key(|&(_, id)| id);
            let nodes = 2000;
            let count = 1usize << bits;
            let mut want = vec![Vec::new(); count];
            for &(x, id) in &pts {
                want[(x >> (64 - bits)) as usize].push((x << bits >> bits, id));
            }
            let most = want.iter().map(Vec::len).max().unwrap_or(0);
            let mut parts = Parts::new(bits, most, nodes).unwrap();
            for &(x, id) in &pts {
                prop_assert!(parts.push(x, id));
            }
            prop_assert_eq!(read(&parts), want);
        }
    }
}
