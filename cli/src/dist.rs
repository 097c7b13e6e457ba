//! `ringroute dist`: each node's exact share of the key space against its weight's.

use std::path::PathBuf;

use ringroute::{distribution, Profile, Snapshot};
use serde_json::json;

use crate::fail::{load_ring, Failure};
use crate::table::{pct, render};
use crate::MembershipArg;

/// Arguments of `dist`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    membership: MembershipArg,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Also draw the shares against their expectation as a bar chart (PNG).
    #[arg(long, value_name = "OUT.png")]
    plot: Option<PathBuf>,
}

/// The placement as text: `native (128 virtual nodes)`, `maglev (table of 65537)`.
pub fn describe_placement(snap: &Snapshot) -> String {
    let p = snap.placement();
    if p.profile() == Profile::Maglev {
        format!("maglev (table of {})", p.virtual_nodes())
    } else {
        format!("{} ({} virtual nodes)", p.profile(), p.virtual_nodes())
    }
}

/// The `dist` report of `snap`: the table (or JSON) text.
pub fn report(snap: &Snapshot, as_json: bool) -> String {
    let d = distribution(snap);
    let names: Vec<&str> = snap.nodes().map(|n| n.name()).collect();
    if as_json {
        let nodes: Vec<_> = d
            .nodes
            .iter()
            .map(|n| {
                json!({"name": names[n.id.index()], "weight": n.weight, "points": n.points,
                       "share": n.share, "expected": n.expected})
            })
            .collect();
        let v = json!({
            "placement": snap.placement().profile().name(),
            "virtual_nodes": snap.placement().virtual_nodes(),
            "points": d.points,
            "imbalance": d.imbalance(),
            "weighted_imbalance": d.weighted_imbalance(),
            "nodes": nodes,
        });
        return serde_json::to_string_pretty(&v).unwrap_or_default() + "\n";
    }
    let rows: Vec<Vec<String>> = d
        .nodes
        .iter()
        .map(|n| {
            let ratio = if n.expected > 0.0 {
                format!("{:.4}", n.share / n.expected)
            } else {
                "-".to_owned()
            };
            vec![
                names[n.id.index()].to_owned(),
                n.weight.to_string(),
                n.points.to_string(),
                pct(n.share),
                pct(n.expected),
                ratio,
            ]
        })
        .collect();
    let mut out = render(
        &[
            "node",
            "weight",
            "points",
            "share",
            "expected",
            "share/expected",
        ],
        1,
        &rows,
    );
    out.push_str(&format!(
        "{} nodes ({} owning keys), {} points, placement {}\n",
        d.nodes.len(),
        d.owning_nodes(),
        d.points,
        describe_placement(snap)
    ));
    out.push_str(&format!(
        "imbalance {:.4} (max share / mean share), weighted {:.4} (max share / expected)\n",
        d.imbalance(),
        d.weighted_imbalance()
    ));
    out
}

/// Runs `ringroute dist`.
pub fn run(a: Args) -> Result<(), Failure> {
    let snap = load_ring(&a.membership.file)?;
    if let Some(path) = &a.plot {
        crate::plot::shares(&snap, path)?;
    }
    print!("{}", report(&snap, a.json));
    Ok(())
}
