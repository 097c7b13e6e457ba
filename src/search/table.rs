//! The lookup-table layout (Maglev): a table of `size` entries, each naming the node that owns it;
//! a key's owner is entry `x % size`, one read. The ring's "points" are the entries: point `r` is at
//! position `r` and its walk goes on to entries `r + 1, r + 2, …`, wrapping.
//!
//! The remainder is computed by multiplication (Barrett reduction): with `m = ⌊(2^64 − 1) / d⌋`,
//! `m · d = 2^64 − e` for some `1 <= e <= d`, so `x · m / 2^64 = x / d − x · e / (d · 2^64)` is
//! above `x / d − 1` for every 64-bit `x`: the quotient estimate `q = ⌊x · m / 2^64⌋` is `⌊x / d⌋`
//! or one less (also for `d = 1`, where `m = 2^64 − 1`, with no case of its own), so
//! `x − q · d` is the remainder after at most one subtraction of `d`. Two multiplications, where a
//! 64-bit division takes tens of cycles (and the 192-bit product of Lemire's direct remainder, used
//! before, took five); a property test checks it against `%`.

use super::Kernel;

/// The owners of the entries: 2 bytes each when every node id fits 16 bits.
#[derive(Clone)]
enum Owners {
    Narrow(Box<[u16]>),
    Wide(Box<[u32]>),
}

/// A lookup table: entry `i` is owned by node `owner(i)`.
#[derive(Clone)]
pub(crate) struct Table {
    owners: Owners,
    /// The number of entries, at least 1.
    size: u64,
    /// `⌊(2^64 − 1) / size⌋`, for the remainder by multiplication (see the module docs).
    magic: u64,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table").field("size", &self.size).finish()
    }
}

impl Table {
    /// The table whose entry `i` is owned by `owners[i]`; `None` if `owners` is empty.
    #[cfg(test)]
    pub(crate) fn new(owners: &[u32]) -> Option<Self> {
        let narrow = owners.iter().all(|&o| o <= u32::from(u16::MAX));
        if narrow {
            Self::from_narrow(owners.iter().map(|&o| o as u16).collect())
        } else {
            Self::from_wide(owners.into())
        }
    }

    /// The table whose entry `i` is owned by `owners[i]` (ids that fit 16 bits, taken as they are);
    /// `None` if `owners` is empty.
    pub(crate) fn from_narrow(owners: Box<[u16]>) -> Option<Self> {
        Self::with_owners(owners.len(), Owners::Narrow(owners))
    }

    /// The table whose entry `i` is owned by `owners[i]`, taken as they are; `None` if `owners` is
    /// empty.
    pub(crate) fn from_wide(owners: Box<[u32]>) -> Option<Self> {
        Self::with_owners(owners.len(), Owners::Wide(owners))
    }

    /// The table of `size` entries owned by `owners`; `None` if `size` is 0.
    fn with_owners(size: usize, owners: Owners) -> Option<Self> {
        let size = size as u64;
        if size == 0 {
            return None;
        }
        Some(Self {
            owners,
            size,
            magic: u64::MAX / size,
        })
    }

    /// The number of entries.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.size as usize
    }

    /// `x % size`, by multiplication (see the module docs).
    #[inline(always)]
    pub(crate) fn entry_of(&self, x: u64) -> usize {
        let q = ((u128::from(x) * u128::from(self.magic)) >> 64) as u64;
        // `q` is the quotient or one less (see the module docs): `r < 2 · size`.
        let r = x - q * self.size;
        (if r >= self.size { r - self.size } else { r }) as usize
    }

    /// The owner of entry `i < len`.
    #[inline(always)]
    pub(crate) fn owner(&self, i: usize) -> u32 {
        match &self.owners {
            Owners::Narrow(o) => u32::from(o[i]),
            Owners::Wide(o) => o[i],
        }
    }

    /// The owner of entry `x % len`.
    #[inline(always)]
    pub(crate) fn owner_at_or_after(&self, x: u64) -> Option<u32> {
        Some(self.owner(self.entry_of(x)))
    }

    /// The entry `x % len` (its position) and its owner.
    #[inline]
    pub(crate) fn point_at_or_after(&self, x: u64) -> Option<(u64, u32)> {
        let i = self.entry_of(x);
        Some((i as u64, self.owner(i)))
    }

    /// Owners of many positions (`out.len() == xs.len()`); every kernel takes the same loop (one
    /// read per key, nothing to compare).
    pub(crate) fn owners_batch(&self, xs: &[u64], out: &mut [u32], _kernel: Kernel) {
        match &self.owners {
            Owners::Narrow(o) => {
                for (out, &x) in out.iter_mut().zip(xs) {
                    *out = u32::from(o[self.entry_of(x)]);
                }
            }
            Owners::Wide(o) => {
                for (out, &x) in out.iter_mut().zip(xs) {
                    *out = o[self.entry_of(x)];
                }
            }
        }
    }

    /// The entries as points: positions `0..len` and their owners.
    pub(crate) fn sorted(&self) -> (Vec<u64>, Vec<u32>) {
        (
            (0..self.size).collect(),
            (0..self.len()).map(|i| self.owner(i)).collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The remainder by multiplication equals `%` for every divisor and key.
        #[test]
        fn entry_of_is_the_remainder(size in 1u64..6_000_000, xs in prop::collection::vec(any::<u64>(), 1..64)) {
            let t = Table::new(&vec![0u32; size as usize]).unwrap();
            for x in xs.into_iter().chain([0, 1, size - 1, size, size + 1, u64::MAX, u64::MAX - 1]) {
                prop_assert_eq!(t.entry_of(x) as u64, x % size);
            }
        }
    }

    #[test]
    fn owners_are_read_from_the_entry() {
        let t = Table::new(&[3, 1, 2, 70_000, 0]).unwrap();
        assert_eq!(t.owner_at_or_after(7), Some(2));
        assert_eq!(t.point_at_or_after(13), Some((3, 70_000)));
        let mut out = [0u32; 3];
        t.owners_batch(&[0, 4, 5], &mut out, Kernel::Scalar);
        assert_eq!(out, [3, 0, 3]);
        assert!(Table::new(&[]).is_none());
        assert_eq!(t.sorted(), (vec![0, 1, 2, 3, 4], vec![3, 1, 2, 70_000, 0]));
    }
}
