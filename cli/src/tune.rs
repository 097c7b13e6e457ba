//! `ringroute tune`: the smallest `virtual_nodes` whose ring keeps the imbalance under a bound.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ringroute::membership::Membership;
use ringroute::{distribution, Placement, Profile, Snapshot, MAX_POINTS};

use crate::fail::Failure;
use crate::table::render;
use crate::MembershipArg;

/// Arguments of `tune`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    membership: MembershipArg,
    /// The bound on the imbalance: the largest share / expected share (weighted max / mean).
    #[arg(long, value_name = "RATIO")]
    max_imbalance: f64,
    /// Give up above this many virtual nodes.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    max_virtual_nodes: u32,
}

/// Points a linear scan of every setting up to the answer may hash in all, beyond which the answer
/// is the one found by doubling and bisection.
const SCAN_BUDGET: u64 = 60_000_000;

/// One measured setting.
struct Measure {
    vn: u32,
    points: u64,
    imbalance: f64,
    bytes: Option<usize>,
}

/// Builds the membership's ring with `vn` virtual nodes and measures it (with its heap bytes if
/// `memory`).
fn measure(m: &Membership, profile: Profile, vn: u32, memory: bool) -> Result<Measure, Failure> {
    let placement = Placement::new(profile, Some(vn)).map_err(|e| Failure::msg(e.to_string()))?;
    let before = crate::alloc::live_bytes();
    let snap = Snapshot::new(placement, m.nodes.iter().map(|r| r.record.to_node(&r.name)))
        .map_err(|e| Failure::msg(format!("virtual_nodes {vn}: {e}")))?;
    let bytes = memory.then(|| crate::alloc::live_bytes().saturating_sub(before));
    let d = distribution(&snap);
    Ok(Measure {
        vn,
        points: d.points,
        imbalance: d.weighted_imbalance(),
        bytes,
    })
}

fn human_bytes(b: usize) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut x = b as f64;
    let mut u = 0;
    while x >= 1024.0 && u + 1 < UNITS.len() {
        x /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{x:.1} {}", UNITS[u])
    }
}

/// Runs `ringroute tune`.
pub fn run(a: Args) -> Result<(), Failure> {
    let path = &a.membership.file;
    let m = Membership::load(path)?;
    let placement = m.placement().map_err(|e| e.in_file(path))?;
    let profile = placement.profile();
    if profile == Profile::Maglev {
        return Err(Failure::msg(
            "tune searches virtual nodes; the maglev placement's table size is not tuned here",
        ));
    }
    if !(a.max_imbalance.is_finite() && a.max_imbalance >= 1.0) {
        return Err(Failure::msg(format!(
            "--max-imbalance must be a number of at least 1, got {}",
            a.max_imbalance
        )));
    }
    // Validate the nodes once, at the file's own setting.
    m.snapshot().map_err(|e| e.in_file(path))?;
    let weight: u64 = m
        .nodes
        .iter()
        .map(|n| u64::from(n.record.weight.unwrap_or(1)))
        .sum();
    if weight == 0 {
        return Err(Failure::msg(format!(
            "{}: no node has a weight",
            path.display()
        )));
    }
    let progress = if std::io::stderr().is_terminal() {
        let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        pb.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        Some(pb)
    } else {
        None
    };
    let ok = |vn: u32| -> Result<bool, Failure> {
        let x = measure(&m, profile, vn, false)?;
        if let Some(pb) = &progress {
            pb.set_message(format!("virtual_nodes {vn}: imbalance {:.4}", x.imbalance));
        }
        Ok(x.imbalance <= a.max_imbalance)
    };
    // Points per unit of virtual nodes (a bound for the ring profiles, whose point counts grow
    // with weight x virtual nodes or with virtual nodes x nodes).
    let per_vn = weight.max(m.nodes.len() as u64);
    let limit = a.max_virtual_nodes.min((MAX_POINTS / per_vn).max(1) as u32);
    // Doubling: the first power of two that meets the bound.
    let (mut lo, mut hi) = (0u32, 1u32);
    while !ok(hi)? {
        if hi >= limit {
            return Err(Failure::msg(format!(
                "no virtual_nodes up to {limit} keeps the imbalance at or under {}",
                a.max_imbalance
            )));
        }
        lo = hi;
        hi = (hi * 2).min(limit);
    }
    // Imbalance is not monotonic in virtual nodes: scan every setting below the bound found when
    // that is affordable, bisect otherwise.
    let exact = per_vn
        .saturating_mul(u64::from(hi))
        .saturating_mul(u64::from(hi))
        / 2
        <= SCAN_BUDGET;
    let best = if exact {
        let mut best = hi;
        for vn in 1..hi {
            if ok(vn)? {
                best = vn;
                break;
            }
        }
        best
    } else {
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if ok(mid)? {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        hi
    };
    if let Some(pb) = progress {
        pb.finish_and_clear();
    }
    let mut settings = vec![
        best / 4,
        best / 2,
        best.saturating_sub(1),
        best,
        best + 1,
        best * 2,
    ];
    settings.retain(|&v| v >= 1 && v <= limit);
    settings.sort_unstable();
    settings.dedup();
    let rows = settings
        .iter()
        .map(|&vn| {
            let x = measure(&m, profile, vn, true)?;
            Ok(vec![
                if x.vn == best {
                    format!("{} *", x.vn)
                } else {
                    x.vn.to_string()
                },
                x.points.to_string(),
                format!("{:.4}", x.imbalance),
                if x.imbalance <= a.max_imbalance {
                    "yes"
                } else {
                    "no"
                }
                .to_owned(),
                human_bytes(x.bytes.unwrap_or(0)),
            ])
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    println!(
        "smallest virtual_nodes with imbalance <= {}: {best} ({}, placement {})",
        a.max_imbalance,
        if exact {
            "every smaller setting measured"
        } else {
            "found by bisection"
        },
        profile
    );
    print!(
        "{}",
        render(
            &["virtual_nodes", "points", "imbalance", "meets", "memory"],
            1,
            &rows
        )
    );
    Ok(())
}
