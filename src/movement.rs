//! What a membership change moves, owner by owner: the exact key-space flows from each node of one
//! ring to each node of another (by name), the answer to "how many keys move, and from where to
//! where?".

use std::collections::HashMap;

use crate::analysis::{key_space, walk_arcs};
use crate::snapshot::Snapshot;

/// One flow of key space from an owner in the first ring to another owner in the second.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    /// The owner in the first ring (`None`: the position had no owner there).
    pub from: Option<String>,
    /// The owner in the second ring (`None`: the position has no owner there).
    pub to: Option<String>,
    /// The exact number of key positions that move (out of [`Movement::space`]).
    pub arc: u128,
    /// `arc / space`.
    pub share: f64,
}

/// The exact movement between two rings. See [`movement`].
#[derive(Debug, Clone, PartialEq)]
pub struct Movement {
    /// The number of key positions ([`key_space`]).
    pub space: u128,
    /// Every flow between two different owners, largest first (ties by names).
    pub flows: Vec<Flow>,
    /// The positions whose owner differs: the sum of the flows (equals
    /// [`moved_arc`](crate::moved_arc)).
    pub moved: u128,
}

impl Movement {
    /// The share of the key space whose owner differs, in `[0, 1]`.
    pub fn moved_fraction(&self) -> f64 {
        ratio(self.moved, self.space)
    }

    /// The share of the key space that moves between two nodes present in both rings (nonzero for
    /// profiles whose points depend on the whole membership, such as the ketama family).
    pub fn between_kept(&self, a: &Snapshot, b: &Snapshot) -> f64 {
        let arc: u128 = self
            .flows
            .iter()
            .filter(|f| {
                let kept = |n: &Option<String>| {
                    n.as_deref().is_some_and(|n| a.contains(n) && b.contains(n))
                };
                kept(&f.from) && kept(&f.to)
            })
            .map(|f| f.arc)
            .sum();
        ratio(arc, self.space)
    }

    /// The share each node loses (its positions that go elsewhere) and gains (positions that come
    /// from elsewhere), by name, sorted by name.
    pub fn per_node(&self) -> Vec<(String, f64, f64)> {
        let mut by: HashMap<&str, (u128, u128)> = HashMap::new();
        for f in &self.flows {
            if let Some(n) = &f.from {
                by.entry(n).or_default().0 += f.arc;
            }
            if let Some(n) = &f.to {
                by.entry(n).or_default().1 += f.arc;
            }
        }
        let mut out: Vec<_> = by
            .into_iter()
            .map(|(n, (lost, gained))| {
                (
                    n.to_owned(),
                    ratio(lost, self.space),
                    ratio(gained, self.space),
                )
            })
            .collect();
        out.sort_by(|x, y| x.0.cmp(&y.0));
        out
    }
}

fn ratio(num: u128, den: u128) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// The exact flows of key space between the owners of `a` and those of `b`, compared by name, or
/// `None` if the rings use different profiles (their positions cannot be compared). O(points of
/// `a` + points of `b`).
///
/// ```
/// use ringroute::{movement, Node, Placement, Snapshot};
/// let nodes = |n: usize| (0..n).map(|i| Node::new(format!("node-{i}"))).collect::<Vec<_>>();
/// let (three, four) = (
///     Snapshot::new(Placement::native(), nodes(3))?,
///     Snapshot::new(Placement::native(), nodes(4))?,
/// );
/// let m = movement(&three, &four).unwrap();
/// // Adding node-3 moves keys only to node-3, about a quarter of them.
/// assert!(m.flows.iter().all(|f| f.to.as_deref() == Some("node-3")));
/// assert_eq!(m.moved, ringroute::moved_arc(&three, &four).unwrap());
/// # Ok::<(), ringroute::Error>(())
/// ```
pub fn movement(a: &Snapshot, b: &Snapshot) -> Option<Movement> {
    let mut pairs: HashMap<(Option<u32>, Option<u32>), u128> = HashMap::new();
    walk_arcs(a, b, |x, y, len| {
        *pairs.entry((x, y)).or_default() += len;
    })?;
    let name = |s: &Snapshot, id: Option<u32>| id.map(|i| s.nodes[i as usize].name().to_owned());
    let space = key_space(&a.placement);
    let mut flows: Vec<Flow> = pairs
        .into_iter()
        .map(|((x, y), arc)| Flow {
            from: name(a, x),
            to: name(b, y),
            arc,
            share: ratio(arc, space),
        })
        .filter(|f| f.from != f.to && f.arc > 0)
        .collect();
    flows.sort_by(|p, q| {
        q.arc
            .cmp(&p.arc)
            .then_with(|| (&p.from, &p.to).cmp(&(&q.from, &q.to)))
    });
    let moved = flows.iter().map(|f| f.arc).sum();
    Some(Movement {
        space,
        flows,
        moved,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::Node;
    use crate::placement::Placement;
    use proptest::prelude::*;

    fn ring(profile: &str, names: &[&str]) -> Snapshot {
        let placement = Placement::from_name(profile, Some(40)).unwrap();
        Snapshot::new(placement, names.iter().map(|n| Node::new(*n))).unwrap()
    }

    #[test]
    fn a_node_independent_profile_moves_keys_only_to_and_from_changed_nodes() {
        let (a, b) = (
            ring("native", &["a", "b", "c"]),
            ring("native", &["a", "b", "d"]),
        );
        let m = movement(&a, &b).unwrap();
        assert!(m
            .flows
            .iter()
            .all(|f| f.from.as_deref() == Some("c") || f.to.as_deref() == Some("d")));
        assert_eq!(m.between_kept(&a, &b), 0.0);
        assert_eq!(Some(m.moved), crate::moved_arc(&a, &b));
        let per = m.per_node();
        let lost: f64 = per.iter().map(|p| p.1).sum();
        let gained: f64 = per.iter().map(|p| p.2).sum();
        assert!(
            (lost - m.moved_fraction()).abs() < 1e-12
                && (gained - m.moved_fraction()).abs() < 1e-12
        );
    }

    #[test]
    fn ketama_moves_keys_between_unchanged_nodes() {
        // libmemcached's weighted ketama gives each node points in proportion to its share of the
        // total weight, so adding a node re-points every other one.
        let weighted = |n: usize| {
            let placement = Placement::from_name("libmemcached", Some(40)).unwrap();
            Snapshot::new(
                placement,
                (0..n).map(|i| Node::new(format!("n{i}")).with_weight(1 + i as u32 % 3)),
            )
            .unwrap()
        };
        let (a, b) = (weighted(4), weighted(5));
        let m = movement(&a, &b).unwrap();
        assert!(m.between_kept(&a, &b) > 0.0, "{m:?}");
        assert_eq!(Some(m.moved), crate::moved_arc(&a, &b));
    }

    #[test]
    fn empty_rings_and_other_profiles() {
        let empty = Snapshot::empty(Placement::from_name("native", Some(40)).unwrap());
        let one = ring("native", &["a"]);
        let m = movement(&empty, &one).unwrap();
        assert_eq!(m.flows.len(), 1);
        assert_eq!(
            (m.flows[0].from.clone(), m.flows[0].to.as_deref()),
            (None, Some("a"))
        );
        assert_eq!(m.moved_fraction(), 1.0);
        assert_eq!(movement(&empty, &empty).unwrap().moved, 0);
        assert!(movement(&one, &ring("nginx", &["a"])).is_none());
    }

    proptest! {
        #[test]
        fn flows_sum_to_the_moved_arc(na in 1usize..6, nb in 1usize..6, drop in 0usize..6) {
            let names: Vec<String> = (0..8).map(|i| format!("n{i}")).collect();
            let a_names: Vec<&str> = names[..na].iter().map(String::as_str).collect();
            let b_names: Vec<&str> = names[..nb].iter().enumerate()
                .filter(|&(i, _)| i != drop).map(|(_, n)| n.as_str()).collect();
            for profile in ["native", "libmemcached"] {
                let (a, b) = (ring(profile, &a_names), ring(profile, &b_names));
                let m = movement(&a, &b).unwrap();
                prop_assert_eq!(Some(m.moved), crate::moved_arc(&a, &b));
                prop_assert_eq!(m.flows.iter().map(|f| f.arc).sum::<u128>(), m.moved);
            }
        }
    }
}
