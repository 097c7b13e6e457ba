//! One output line per publication of the watched ring: the etcd revision it reflects and what it
//! changed, with the field names of the library's `ringroute` log lines and the moved share exact.

use std::fmt::Write as _;
use std::time::SystemTime;

use ringroute::ChangeEvent;
use ringroute_etcd::Applied;

/// The line of publication `applied`, whose change is `event` (`None` when the publication left
/// the ring as it was, as a re-list of an unchanged membership does); `nodes` is the ring's node
/// count after it.
///
/// `revision=12 source=watch event=node_add version=3 nodes=4 added=c removed= reweighted=
/// down= up= vnodes_added=160 vnodes_removed=0 moved=0.2490234375 timestamp=1796212800.123`,
/// plus `revisions=11,12` when etcd revisions arrived together and were published at once.
pub fn format(applied: &Applied, event: Option<&ChangeEvent>, nodes: usize) -> String {
    let mut line = format!("revision={}", applied.revision);
    if applied.revisions.len() > 1 {
        let revs: Vec<String> = applied.revisions.iter().map(i64::to_string).collect();
        let _ = write!(line, " revisions={}", revs.join(","));
    }
    let source = if applied.list { "list" } else { "watch" };
    let _ = write!(line, " source={source}");
    let Some(e) = event else {
        let _ = write!(
            line,
            " event=none version={} nodes={nodes} moved=0 timestamp={}",
            applied.version,
            seconds(SystemTime::now())
        );
        return line;
    };
    let reweighted: Vec<String> = e
        .reweighted
        .iter()
        .map(|r| format!("{}:{}->{}", r.name, r.from, r.to))
        .collect();
    // `{}` prints the shortest text that reads back as the same f64: the exact moved share.
    let _ = write!(
        line,
        " event={} version={} nodes={nodes} added={} removed={} reweighted={} down={} up={} \
         vnodes_added={} vnodes_removed={} moved={} timestamp={}",
        e.kind(),
        e.version,
        e.added.join(","),
        e.removed.join(","),
        reweighted.join(","),
        e.down.join(","),
        e.up.join(","),
        e.points_added,
        e.points_removed,
        e.moved,
        seconds(e.timestamp),
    );
    line
}

/// Seconds since the Unix epoch, to the millisecond.
fn seconds(t: SystemTime) -> String {
    let s = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    format!("{s:.3}")
}
