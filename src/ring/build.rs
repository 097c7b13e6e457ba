//! A full build: every node's points hashed, sorted, equal positions settled by the profile's rule,
//! and indexed in the layout that fits the ring.

use std::sync::Arc;

use super::{Plain, Ring};
use crate::error::Result;
use crate::maglev::MaglevTable;
use crate::node::Node;
use crate::placement::{EqualPoints, Membership, Placement, Profile};
use crate::search::{Index, Packer, Table};

/// A point while a ring is built: (position, low bits, owner id). Sorting these orders equal positions
/// by node id, i.e. by insertion order, as a stable sort of the original's insertion-ordered points does.
pub(crate) type Pt = (u64, u64, u32);

/// The points of the nodes flagged in `which` (all if `None`), sorted.
pub(super) fn fresh_points(
    placement: &Placement,
    nodes: &[Arc<Node>],
    m: &Membership,
    which: Option<&[bool]>,
) -> Vec<Pt> {
    let mut fresh: Vec<Pt> = Vec::new();
    let mut scratch: Vec<(u64, u64)> = Vec::new();
    for (id, node) in nodes.iter().enumerate() {
        if which.is_some_and(|w| !w[id]) || node.weight == 0 {
            continue;
        }
        scratch.clear();
        placement.node_points(node, m, &mut scratch);
        fresh.extend(scratch.iter().map(|&(p, l)| (p, l, id as u32)));
    }
    super::sort::sort_points(&mut fresh);
    fresh
}

impl Ring {
    /// The ring of `nodes` (in id order) under `placement`, whose points depend on the membership
    /// `m` under some profiles: every point hashed afresh.
    pub(crate) fn build(
        placement: &Placement,
        nodes: &[Arc<Node>],
        m: &Membership,
    ) -> Result<Ring> {
        if placement.profile() == Profile::Maglev {
            return Self::maglev(nodes, u64::from(placement.virtual_nodes()));
        }
        Ok(Self::from_sorted(
            placement.profile(),
            fresh_points(placement, nodes, m, None),
            nodes.len(),
        ))
    }

    /// Envoy's Maglev table of `nodes` (keyed by name), `table_size` entries, as a ring whose
    /// points are the entries (see [`Profile::Maglev`]).
    fn maglev(nodes: &[Arc<Node>], table_size: u64) -> Result<Ring> {
        let hosts: Vec<(&[u8], u32)> = nodes
            .iter()
            .map(|n| (n.name.as_bytes(), n.weight))
            .collect();
        let table = MaglevTable::build(&hosts, table_size)?;
        let owners: Vec<u32> = (0..table.size()).filter_map(|i| table.entry(i)).collect();
        let index = match Table::new(&owners) {
            Some(t) => Index::Table(t),
            // No node of weight above 0: no entries, a ring without points.
            None => Index::build(&[], &[], 0),
        };
        Ok(Self::assemble(index, None, None, Vec::new()))
    }

    /// Turns sorted points into a ring: applies the profile's rule for equal positions and keeps the
    /// low bits of wide profiles in the ring's side array. A narrow ring whose ids fit the packed
    /// form (`id_bound`: one past the largest owner id) is packed straight from `sorted`, without
    /// the plain point and owner arrays in between.
    pub(super) fn from_sorted(profile: Profile, sorted: Vec<Pt>, id_bound: usize) -> Ring {
        debug_assert!(sorted.windows(2).all(|w| w[0] <= w[1]));
        let n = sorted.len();
        let norm = profile.position_norm();
        let mut shadowed = Vec::new();
        if !profile.is_wide() && id_bound <= 1 << 16 {
            let mut packer = Packer::with_capacity(n, norm);
            settle_equal(&sorted, profile, &mut shadowed, |p, _, o| packer.push(p, o));
            return Self::assemble(packer.finish(), None, None, shadowed);
        }
        let (mut points, mut owners) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let mut lows = profile.is_wide().then(|| Vec::with_capacity(n));
        settle_equal(&sorted, profile, &mut shadowed, |p, l, o| {
            points.push(p);
            owners.push(o);
            if let Some(lows) = &mut lows {
                lows.push(l);
            }
        });
        let index = Index::build(&points, &owners, norm);
        Self::assemble(index, Some(Plain { points, owners }), lows, shadowed)
    }
}

/// Hands every point of `sorted` that the profile's rule for equal positions keeps to `keep`, in
/// order, and the points it collapses away to `shadowed`.
#[inline(always)]
fn settle_equal(
    sorted: &[Pt],
    profile: Profile,
    shadowed: &mut Vec<Pt>,
    mut keep: impl FnMut(u64, u64, u32),
) {
    let n = sorted.len();
    let rule = profile.equal_points();
    let mut i = 0;
    while i < n {
        let (p, l, _) = sorted[i];
        let mut j = i + 1;
        while j < n && sorted[j].0 == p && sorted[j].1 == l {
            j += 1;
        }
        let run = &sorted[i..j];
        let kept: &[Pt] = match rule {
            EqualPoints::All => run,
            EqualPoints::First => {
                shadowed.extend_from_slice(&run[1..]);
                &run[..1]
            }
            EqualPoints::Last => {
                shadowed.extend_from_slice(&run[..run.len() - 1]);
                &run[run.len() - 1..]
            }
        };
        for &(p, l, o) in kept {
            keep(p, l, o);
        }
        i = j;
    }
}
