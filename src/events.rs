//! Change events: what one publication changed, for subscribers ([`Router::subscribe`]) and the
//! `ringroute` log target (with the `log` feature).
//!
//! An event is computed only when someone listens: a publication with no subscriber (and, with the
//! `log` feature, no logger enabled for the `ringroute` target at `info`) costs one branch.
//!
//! [`Router::subscribe`]: crate::Router::subscribe

use std::collections::HashMap;
use std::fmt;
use std::time::SystemTime;

use crate::analysis::moved_fraction;
use crate::snapshot::Snapshot;

/// A node whose weight a publication changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reweight {
    /// The node's name.
    pub name: String,
    /// Its weight before.
    pub from: u32,
    /// Its weight after.
    pub to: u32,
}

/// What one publication changed.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeEvent {
    /// The version of the published snapshot.
    pub version: u64,
    /// When the event was computed (just after the publication).
    pub timestamp: SystemTime,
    /// Nodes that joined, in insertion order.
    pub added: Vec<String>,
    /// Nodes that left, in their old order.
    pub removed: Vec<String>,
    /// Nodes whose weight changed.
    pub reweighted: Vec<Reweight>,
    /// Nodes marked down by this publication.
    pub down: Vec<String>,
    /// Nodes marked up again by this publication.
    pub up: Vec<String>,
    /// Points (virtual nodes) the publication added, over all nodes.
    pub points_added: u64,
    /// Points (virtual nodes) the publication removed, over all nodes.
    pub points_removed: u64,
    /// The exact share of the key space whose owner changed ([`crate::moved_fraction`]; health is
    /// not counted: a down node's keys are served by the next node of their walks, and come back).
    pub moved: f64,
}

/// Each node's point count in `s`, by name.
fn point_counts(s: &Snapshot) -> HashMap<&str, u64> {
    let mut by_id = vec![0u64; s.len()];
    for &o in s.point_owners() {
        by_id[o as usize] += 1;
    }
    s.nodes().map(|n| n.name()).zip(by_id).collect()
}

impl ChangeEvent {
    /// The change from `old` to `new` (two snapshots of one router, or any two rings of one
    /// placement). O(nodes + points).
    pub fn between(old: &Snapshot, new: &Snapshot) -> Self {
        let added = new
            .nodes()
            .filter(|n| !old.contains(n.name()))
            .map(|n| n.name().to_owned())
            .collect();
        let removed = old
            .nodes()
            .filter(|n| !new.contains(n.name()))
            .map(|n| n.name().to_owned())
            .collect();
        let reweighted = new
            .nodes()
            .filter_map(|n| {
                let was = old.node_by_name(n.name())?;
                (was.weight() != n.weight()).then(|| Reweight {
                    name: n.name().to_owned(),
                    from: was.weight(),
                    to: n.weight(),
                })
            })
            .collect();
        let is_down = |s: &Snapshot, name: &str| s.id_of(name).is_some_and(|id| !s.is_up(id));
        let down = new
            .down_nodes()
            .filter_map(|id| new.node(id))
            .filter(|n| !is_down(old, n.name()))
            .map(|n| n.name().to_owned())
            .collect();
        let up = old
            .down_nodes()
            .filter_map(|id| old.node(id))
            .filter(|n| new.contains(n.name()) && !is_down(new, n.name()))
            .map(|n| n.name().to_owned())
            .collect();
        let (before, after) = (point_counts(old), point_counts(new));
        let mut points_added = 0;
        let mut points_removed = 0;
        for (name, &p) in &after {
            points_added += p.saturating_sub(before.get(name).copied().unwrap_or(0));
        }
        for (name, &p) in &before {
            points_removed += p.saturating_sub(after.get(name).copied().unwrap_or(0));
        }
        Self {
            version: new.version(),
            timestamp: SystemTime::now(),
            added,
            removed,
            reweighted,
            down,
            up,
            points_added,
            points_removed,
            moved: moved_fraction(old, new).unwrap_or(1.0),
        }
    }

    /// The kind of change, for a log line: `node_add`, `node_remove`, `node_reweight`, `node_down`,
    /// `node_up`, `change` (several kinds at once) or `settings` (nothing about the nodes).
    pub fn kind(&self) -> &'static str {
        let kinds = [
            (!self.added.is_empty(), "node_add"),
            (!self.removed.is_empty(), "node_remove"),
            (!self.reweighted.is_empty(), "node_reweight"),
            (!self.down.is_empty(), "node_down"),
            (!self.up.is_empty(), "node_up"),
        ];
        let mut present = kinds.iter().filter(|k| k.0);
        match (present.next(), present.next()) {
            (Some(k), None) => k.1,
            (Some(_), Some(_)) => "change",
            (None, _) => "settings",
        }
    }
}

/// One structured line: `event=node_add version=4 added=cache-d removed= reweighted= down= up=
/// vnodes_added=128 vnodes_removed=0 moved=0.250000 timestamp=1764669600.123`.
impl fmt::Display for ChangeEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reweighted: Vec<String> = self
            .reweighted
            .iter()
            .map(|r| format!("{}:{}->{}", r.name, r.from, r.to))
            .collect();
        let ts = self
            .timestamp
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        write!(
            f,
            "event={} version={} added={} removed={} reweighted={} down={} up={} vnodes_added={} \
             vnodes_removed={} moved={:.6} timestamp={ts:.3}",
            self.kind(),
            self.version,
            self.added.join(","),
            self.removed.join(","),
            reweighted.join(","),
            self.down.join(","),
            self.up.join(","),
            self.points_added,
            self.points_removed,
            self.moved,
        )
    }
}
