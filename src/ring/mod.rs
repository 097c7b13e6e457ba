//! The ring: a membership's points, held by their search index, and how the next ring is made.
//!
//! A [`Ring`] is immutable and shared between snapshots whose points are the same (a change of
//! metadata alone, a re-publication). It is made in one of two ways:
//! - `build`: a full build: every node's points hashed ([`crate::Placement::node_points`]),
//!   sorted, equal positions settled by the profile's rule, and indexed;
//! - `merge`: the next ring from the previous one and a membership change: only the changed
//!   nodes' points are hashed, and a radix ring rewrites only the pages of its index they fall in.
//!
//! The search index ([`crate::search::Index`]) holds the points: a radix ring's packed points carry
//! each point's owner and all but 16 bits of its position, a side array of the index the rest. The
//! plain sorted arrays that [`crate::Snapshot::points`] and [`crate::Snapshot::point_owners`] return
//! are made from it on first use. An Eytzinger ring keeps them from the start.

use std::sync::OnceLock;

use crate::search::{lower_bound_wrap, Index, Layout, Table};

mod build;
#[cfg(test)]
mod incremental_tests;
mod merge;
mod parts;
mod sort;

pub(crate) use merge::Moves;

/// The points of a ring and their search index (see the module docs).
pub(crate) struct Ring {
    pub(crate) index: Index,
    /// The sorted positions and their owners as plain arrays (see the module docs).
    plain: OnceLock<Plain>,
    /// Which nodes own at least one point: computed on first use (by replica walks and health), not
    /// on the publication path.
    owning: OnceLock<Owning>,
    /// Wide profiles only: the low 64 bits of each point (same order as the points). Cold: read only
    /// when a key's top 64 bits equal a point's, and by replica walks.
    pub(crate) lows: Option<Box<[u64]>>,
    /// Points that lost to an equal point under the profile's rule, as (position, low, owner), sorted.
    /// Almost always empty; kept so that the next incremental build can bring them back.
    pub(crate) shadowed: Vec<(u64, u64, u32)>,
}

/// The nodes that own at least one point of a ring.
pub(crate) struct Owning {
    /// Bit `i` of word `i / 64`: node `i` owns a point.
    bits: Vec<u64>,
    /// How many nodes own a point.
    pub(crate) count: usize,
}

impl Owning {
    /// Whether node `id` owns a point.
    #[inline]
    pub(crate) fn owns(&self, id: u32) -> bool {
        self.bits
            .get(id as usize / 64)
            .is_some_and(|w| w >> (id % 64) & 1 == 1)
    }
}

/// A ring's sorted positions (for a wide profile, their top 64 bits) and the owner of each.
pub(crate) struct Plain {
    pub(crate) points: Vec<u64>,
    pub(crate) owners: Vec<u32>,
}

/// [`Ring::owned_from`]'s iterator.
enum RingPoints<'a> {
    Radix(crate::search::RadixPoints<'a>),
    Table(
        &'a Table,
        std::iter::Chain<std::ops::Range<usize>, std::ops::Range<usize>>,
    ),
    Plain(
        &'a Plain,
        std::iter::Chain<std::ops::Range<usize>, std::ops::Range<usize>>,
    ),
}

impl Iterator for RingPoints<'_> {
    type Item = (u64, u32);

    #[inline]
    fn next(&mut self) -> Option<(u64, u32)> {
        match self {
            RingPoints::Radix(it) => it.next(),
            RingPoints::Table(t, it) => it.next().map(|r| (r as u64, t.owner(r))),
            RingPoints::Plain(plain, it) => it.next().map(|r| (plain.points[r], plain.owners[r])),
        }
    }
}

impl Ring {
    /// A ring searched with `index`, whose points are `plain`'s if the index does not hold them
    /// (`None`: made from the index on first use).
    fn assemble(
        index: Index,
        plain: Option<Plain>,
        lows: Option<Vec<u64>>,
        shadowed: Vec<(u64, u64, u32)>,
    ) -> Self {
        let plain = match (&index, plain) {
            (Index::Eytzinger(_), Some(plain)) => OnceLock::from(plain),
            _ => OnceLock::new(),
        };
        Self {
            index,
            plain,
            owning: OnceLock::new(),
            lows: lows.map(Vec::into_boxed_slice),
            shadowed,
        }
    }

    /// The same points searched with `layout`; `None` if the ring does not fit it (radix: owner ids
    /// beyond 16 bits). For benchmarks and tests.
    pub(crate) fn with_layout(&self, layout: Layout, norm: u32) -> Option<Ring> {
        if let Index::Table(t) = &self.index {
            // A table searches by remainder, not by lower bound: no other layout answers as it does.
            return (layout == Layout::Table)
                .then(|| Self::assemble(Index::Table(t.clone()), None, None, Vec::new()));
        }
        let plain = self.plain();
        let index = Index::build_as(layout, &plain.points, &plain.owners, norm)?;
        Some(Self::assemble(
            index,
            Some(Plain {
                points: plain.points.clone(),
                owners: plain.owners.clone(),
            }),
            self.lows.as_deref().map(<[u64]>::to_vec),
            self.shadowed.clone(),
        ))
    }

    /// The number of points.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        match &self.index {
            Index::Radix(r) => r.len(),
            Index::Eytzinger(_) => self.plain().points.len(),
            Index::Table(t) => t.len(),
        }
    }

    /// The plain sorted arrays, made from the index on first use.
    pub(crate) fn plain(&self) -> &Plain {
        self.plain.get_or_init(|| {
            let (points, owners) = match &self.index {
                Index::Radix(r) => r.iter_from(0).unzip(),
                Index::Eytzinger(e) => e.sorted(),
                Index::Table(t) => t.sorted(),
            };
            Plain { points, owners }
        })
    }

    /// The position of point `r < len` (its top 64 bits under a wide profile).
    #[inline]
    pub(crate) fn position(&self, r: usize) -> u64 {
        match &self.index {
            Index::Radix(x) => x.position(r),
            Index::Eytzinger(_) => self.plain().points[r],
            Index::Table(_) => r as u64,
        }
    }

    /// The owner of point `r < len`.
    #[inline]
    pub(crate) fn owner(&self, r: usize) -> u32 {
        match &self.index {
            Index::Radix(x) => x.owner(r),
            Index::Eytzinger(_) => self.plain().owners[r],
            Index::Table(t) => t.owner(r),
        }
    }

    /// Every point as (position, owner), in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.owned_from(0)
    }

    /// Calls `f(position, owner)` for every point, in order (a radix ring loops over its pages'
    /// slices, faster than [`iter`](Self::iter) for a pass over the whole ring).
    pub(crate) fn for_each_point(&self, mut f: impl FnMut(u64, u32)) {
        match &self.index {
            Index::Radix(r) => r.for_each(f),
            _ => self.iter().for_each(|(p, o)| f(p, o)),
        }
    }

    /// The owners of every point, one full turn from rank `start`.
    pub(crate) fn owners_from(&self, start: usize) -> impl Iterator<Item = u32> + '_ {
        self.owned_from(start).map(|(_, o)| o)
    }

    /// The owner of the first point `>= x` (a narrow search position), wrapping, that `keep`
    /// accepts; `None` if no owner is accepted. A radix ring walks its pages' slots directly.
    #[inline]
    pub(crate) fn first_owner_at_or_after(
        &self,
        x: u64,
        mut keep: impl FnMut(u32) -> bool,
    ) -> Option<u32> {
        match &self.index {
            Index::Radix(r) => r.first_owner_at_or_after(x, keep),
            _ => self
                .owners_from(self.rank_at_or_after(x).unwrap_or(0))
                .find(|&o| keep(o)),
        }
    }

    /// [`first_owner_at_or_after`](Self::first_owner_at_or_after) for walks of several points from
    /// varied keys (replicas): a radix ring finds the key's point as a lookup does.
    #[inline]
    pub(crate) fn first_owner_searched(
        &self,
        x: u64,
        keep: impl FnMut(u32) -> bool,
    ) -> Option<u32> {
        match &self.index {
            Index::Radix(r) => r.first_owner_searched(x, keep),
            _ => self.first_owner_at_or_after(x, keep),
        }
    }

    /// The owners of the first point `>= x` (a narrow search position) and the `N - 1` after it,
    /// when a radix ring holds them in one run of slots; `None` otherwise (walk instead).
    #[inline(always)]
    pub(crate) fn owners_run<const N: usize>(&self, x: u64) -> Option<[u32; N]> {
        match &self.index {
            Index::Radix(r) => r.owners_run::<N>(x),
            _ => None,
        }
    }

    /// Every point as (position, owner), one full turn from rank `start`.
    fn owned_from(&self, start: usize) -> RingPoints<'_> {
        let start = start.min(self.len());
        match &self.index {
            Index::Radix(r) => RingPoints::Radix(r.iter_from(start)),
            Index::Table(t) => RingPoints::Table(t, (start..t.len()).chain(0..start)),
            Index::Eytzinger(_) => {
                let plain = self.plain();
                RingPoints::Plain(plain, (start..plain.points.len()).chain(0..start))
            }
        }
    }

    /// The rank of the first point `>= x`, wrapping to 0; `None` if there are no points.
    pub(crate) fn rank_at_or_after(&self, x: u64) -> Option<usize> {
        match &self.index {
            Index::Radix(r) => r.rank_at_or_after(x),
            Index::Table(t) => Some(t.entry_of(x)),
            Index::Eytzinger(_) => {
                let points = &self.plain().points;
                (!points.is_empty()).then(|| lower_bound_wrap(points, x))
            }
        }
    }

    /// The nodes that own at least one point.
    pub(crate) fn owning(&self) -> &Owning {
        self.owning.get_or_init(|| {
            let mut bits: Vec<u64> = Vec::new();
            let mut count = 0;
            for o in self.owners_from(0) {
                let (w, b) = (o as usize / 64, o % 64);
                if w >= bits.len() {
                    bits.resize(w + 1, 0);
                }
                if bits[w] >> b & 1 == 0 {
                    bits[w] |= 1 << b;
                    count += 1;
                }
            }
            Owning { bits, count }
        })
    }

    /// The rank of the first point whose full position `(position, lows[r])` is `> x` (`>=` when
    /// `at_or_after`), wrapping to 0. Wide rings only; there must be points.
    pub(crate) fn rank_wide(&self, x: u128, at_or_after: bool) -> usize {
        let lows = self.lows.as_deref().unwrap_or(&[]);
        let (hi, lo) = ((x >> 64) as u64, x as u64);
        // Ranks of points with top bits below `hi`, then of those equal to `hi` with low bits below
        // (or at) `lo`.
        let mut r = match self.rank_at_or_after(hi) {
            Some(0) if self.position(0) < hi => self.len(),
            Some(r) => r,
            None => return 0,
        };
        let len = self.len();
        while r < len && self.position(r) == hi {
            let l = lows.get(r).copied().unwrap_or(0);
            if if at_or_after { l >= lo } else { l > lo } {
                break;
            }
            r += 1;
        }
        if r == len {
            0
        } else {
            r
        }
    }
}
