//! Soak mode (`--soak SECONDS`): reader threads route keys for the whole time while a writer churns
//! the membership, every answer is checked against a reference, and the process's resident memory
//! is sampled.
//!
//! - **Writer**: at `--churn R` changes a second (200 if not given) it alternately removes a node and
//!   adds it back, and every tenth change sets a node's weight to 1, 2 or 3. Before it publishes a
//!   membership it builds that membership's **reference** from scratch (`Snapshot::new`, a full
//!   build: no incremental merge) and files its sorted points and owner names under the version the
//!   publication will get.
//! - **Readers** (`--threads`, the largest count given): for each batch of 256 keys of the key stream
//!   they take their `Reader`'s current snapshot, fetch the reference of its version, and check
//!   every key: the snapshot's owner (`route_id`, the production search) against the reference's
//!   (binary search of the fresh build's points for the key's hash, wrapping). A mismatch is a wrong
//!   answer; so is a snapshot whose version has no reference.
//! - **Memory**: resident set (`/proc/self/statm`) sampled every second: start (after a warm-up of
//!   5 s, or a tenth of a shorter run, when the window of the last 128 references is full), end,
//!   peak; flat means end − start stays small while millions of snapshots retire.
//!
//! The run fails (exit 1) on any wrong answer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use ringroute::{Builder, Node, Placement, Router, Snapshot};

/// One membership change of the writer, applied in a transaction.
type Change = Box<dyn FnOnce(&mut Builder) -> ringroute::Result<()>>;

/// What a soak run is given.
#[derive(Debug, Clone)]
pub struct SoakPlan {
    /// Seconds to run.
    pub seconds: f64,
    /// Nodes in the ring.
    pub nodes: usize,
    /// Points per node.
    pub points_per_node: u32,
    /// Reader threads.
    pub readers: usize,
    /// Membership changes per second.
    pub churn: f64,
    /// The key stream every reader cycles through.
    pub keys: Arc<Vec<Vec<u8>>>,
}

/// What a soak run found.
#[derive(Debug, Clone, PartialEq)]
pub struct SoakReport {
    /// Seconds it ran.
    pub seconds: f64,
    /// Answers checked against the reference.
    pub checked: u64,
    /// Answers that differed from the reference (or had no reference).
    pub wrong: u64,
    /// Memberships published by the writer.
    pub publications: u64,
    /// Resident set after the warm-up, KiB.
    pub rss_start_kib: u64,
    /// Resident set at the end, KiB.
    pub rss_end_kib: u64,
    /// Largest resident-set sample, KiB.
    pub rss_peak_kib: u64,
}

impl SoakReport {
    /// The report as one JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "mode": "soak",
            "seconds": self.seconds,
            "checked": self.checked,
            "wrong": self.wrong,
            "publications": self.publications,
            "rss_start_kib": self.rss_start_kib,
            "rss_end_kib": self.rss_end_kib,
            "rss_peak_kib": self.rss_peak_kib,
        })
    }
}

/// The references kept: the versions a reader may still hold (it takes a new snapshot every 256
/// keys, microseconds apart, so a reader a whole window behind is a stall, and counts as wrong).
const REFERENCE_WINDOW: u64 = 128;

/// A membership's answers computed from a full build: sorted positions, their owners (indices into
/// `names`), and the members' names.
struct Reference {
    points: Vec<u64>,
    owners: Vec<u32>,
    names: Vec<Arc<str>>,
}

impl Reference {
    fn of(placement: Placement, members: &[(Arc<str>, u32)]) -> Reference {
        let fresh = Snapshot::new(
            placement,
            members
                .iter()
                .map(|(n, w)| Node::new(Arc::clone(n)).with_weight(*w)),
        )
        .expect("the soak membership builds");
        Reference {
            points: fresh.points().to_vec(),
            owners: fresh.point_owners().to_vec(),
            names: members.iter().map(|(n, _)| Arc::clone(n)).collect(),
        }
    }

    /// The owner of a key hash: the first point at or after it, wrapping (the native profile's rule).
    fn owner(&self, hash: u64) -> Option<&str> {
        if self.points.is_empty() {
            return None;
        }
        let at = self.points.partition_point(|&p| p < hash);
        let owner = self.owners[if at == self.points.len() { 0 } else { at }];
        Some(&self.names[owner as usize])
    }
}

/// The resident set now, in KiB (`/proc/self/statm`; 0 where it is not available).
fn rss_kib() -> u64 {
    let page_kib = 4; // Linux x86-64 and aarch64 default pages
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * page_kib)
}

/// Runs a soak (see the module docs).
pub fn run(plan: &SoakPlan) -> SoakReport {
    let placement = Placement::from_name("native", Some(plan.points_per_node))
        .expect("native is a profile and points per node > 0");
    let names: Vec<Arc<str>> = (0..plan.nodes)
        .map(|i| Arc::from(format!("node-{i:05}")))
        .collect();
    let mut members: Vec<(Arc<str>, u32)> = names.iter().map(|n| (Arc::clone(n), 1)).collect();
    let refs: Arc<RwLock<HashMap<u64, Arc<Reference>>>> = Arc::default();
    let router = Router::new(placement);
    // Version 1: the initial membership, its reference filed before it is published.
    refs.write().expect("no writer panicked").insert(
        router.version() + 1,
        Arc::new(Reference::of(placement, &members)),
    );
    router
        .update(|tx| {
            for (n, w) in &members {
                tx.add_node(Node::new(Arc::clone(n)).with_weight(*w))?;
            }
            Ok(())
        })
        .expect("the initial membership publishes");

    let stop = Arc::new(AtomicBool::new(false));
    let checked = Arc::new(AtomicU64::new(0));
    let wrong = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..plan.readers)
        .map(|t| {
            let (router, refs, keys) = (router.clone(), Arc::clone(&refs), Arc::clone(&plan.keys));
            let (stop, checked, wrong) =
                (Arc::clone(&stop), Arc::clone(&checked), Arc::clone(&wrong));
            thread::spawn(move || {
                let mut reader = router.reader();
                let mut at = (t * 7919) % keys.len();
                while !stop.load(Ordering::Relaxed) {
                    let snap = reader.snapshot();
                    let reference = refs
                        .read()
                        .expect("no writer panicked")
                        .get(&snap.version())
                        .cloned();
                    let mut bad = 0;
                    for _ in 0..256 {
                        let key = &keys[at];
                        at = (at + 1) % keys.len();
                        let got = snap.route(key).map(|n| n.name());
                        let want = reference.as_ref().and_then(|r| r.owner(snap.key_hash(key)));
                        if reference.is_none() || got != want {
                            bad += 1;
                        }
                    }
                    checked.fetch_add(256, Ordering::Relaxed);
                    if bad > 0 {
                        wrong.fetch_add(bad, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();

    let start = Instant::now();
    let end = start + Duration::from_secs_f64(plan.seconds);
    let period = Duration::from_secs_f64(1.0 / plan.churn.max(0.001));
    let mut next_change = start;
    // The first sample once the reference window has filled and the allocator has warmed up.
    let warmup = Duration::from_secs_f64((plan.seconds * 0.1).min(5.0));
    let mut next_sample = start + warmup;
    let (mut rss_start, mut rss_peak) = (0u64, 0u64);
    let mut publications = 1u64;
    let mut removed: Option<(Arc<str>, u32)> = None;
    let mut change = 0u64;
    while Instant::now() < end {
        let now = Instant::now();
        if now >= next_sample {
            let rss = rss_kib();
            if rss_start == 0 {
                rss_start = rss;
            }
            rss_peak = rss_peak.max(rss);
            next_sample += Duration::from_secs(1);
        }
        if now < next_change {
            thread::sleep((next_change - now).min(next_sample.saturating_duration_since(now)));
            continue;
        }
        next_change += period;
        change += 1;
        // The next membership: a node removed, the removed one added back, or a weight changed.
        let op: Change = if change.is_multiple_of(10) {
            let i = (change as usize * 31) % members.len();
            members[i].1 = 1 + (change % 3) as u32;
            let (n, w) = members[i].clone();
            Box::new(move |tx: &mut Builder| tx.set_weight(&n, w))
        } else if let Some((n, w)) = removed.take() {
            members.push((Arc::clone(&n), w));
            Box::new(move |tx: &mut Builder| tx.add_node(Node::new(n).with_weight(w)))
        } else {
            let i = (change as usize * 7919) % members.len();
            let (n, w) = members.remove(i);
            removed = Some((Arc::clone(&n), w));
            Box::new(move |tx: &mut Builder| tx.remove_node(&n).map(drop))
        };
        let version = router.version() + 1;
        {
            let mut refs = refs.write().expect("no reader panicked");
            refs.insert(version, Arc::new(Reference::of(placement, &members)));
            refs.retain(|&v, _| v + REFERENCE_WINDOW >= version);
        }
        router.update(op).expect("a soak change publishes");
        publications += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().expect("a reader panicked");
    }
    let rss_end = rss_kib();
    SoakReport {
        seconds: start.elapsed().as_secs_f64(),
        checked: checked.load(Ordering::Relaxed),
        wrong: wrong.load(Ordering::Relaxed),
        publications,
        rss_start_kib: if rss_start == 0 { rss_end } else { rss_start },
        rss_end_kib: rss_end,
        rss_peak_kib: rss_peak.max(rss_end),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_soak_checks_answers_and_finds_none_wrong() {
        let keys: Vec<Vec<u8>> = (0..5000)
            .map(|i| format!("user:{i:05}").into_bytes())
            .collect();
        let report = run(&SoakPlan {
            seconds: 1.5,
            nodes: 50,
            points_per_node: 40,
            readers: 2,
            churn: 200.0,
            keys: Arc::new(keys),
        });
        assert_eq!(report.wrong, 0);
        assert!(report.checked > 10_000, "{report:?}");
        assert!(report.publications > 50, "{report:?}");
        assert!(report.rss_peak_kib >= report.rss_start_kib && report.rss_start_kib > 0);
    }

    #[test]
    fn the_reference_wraps_and_takes_the_first_point_at_or_after() {
        let r = Reference {
            points: vec![10, 20, 30],
            owners: vec![0, 1, 2],
            names: vec![Arc::from("a"), Arc::from("b"), Arc::from("c")],
        };
        assert_eq!(r.owner(5), Some("a"));
        assert_eq!(r.owner(20), Some("b"));
        assert_eq!(r.owner(21), Some("c"));
        assert_eq!(r.owner(31), Some("a"));
    }
}
