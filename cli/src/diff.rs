//! `ringroute diff`: what changes owner between two memberships, exactly.

use std::collections::HashSet;
use std::path::PathBuf;

use ringroute::{movement, Movement, Snapshot};
use serde_json::json;

use crate::fail::{load_ring, Failure};
use crate::table::{pct, render};

/// Arguments of `diff`.
#[derive(clap::Args)]
pub struct Args {
    /// The membership before (JSON, or TOML if its name ends in .toml).
    a: PathBuf,
    /// The membership after.
    b: PathBuf,
    /// Print JSON (with the full from -> to matrix) instead of a table.
    #[arg(long)]
    json: bool,
    /// Also draw the from -> to movement matrix as a heat map (PNG).
    #[arg(long, value_name = "OUT.png")]
    plot: Option<PathBuf>,
}

/// Every node name of `a` then the new ones of `b`, in insertion order.
pub fn union_names(a: &Snapshot, b: &Snapshot) -> Vec<String> {
    let mut seen = HashSet::new();
    a.nodes()
        .chain(b.nodes())
        .filter(|n| seen.insert(n.name().to_owned()))
        .map(|n| n.name().to_owned())
        .collect()
}

/// What happened to node `name`: added, removed, reweighted (with both weights) or kept.
fn status(a: &Snapshot, b: &Snapshot, name: &str) -> String {
    match (a.node_by_name(name), b.node_by_name(name)) {
        (None, _) => "added".to_owned(),
        (_, None) => "removed".to_owned(),
        (Some(x), Some(y)) if x.weight() != y.weight() => {
            format!("weight {} -> {}", x.weight(), y.weight())
        }
        _ => "kept".to_owned(),
    }
}

/// The movement between `a` and `b`, or an error if they cannot be compared.
pub fn compute(a: &Snapshot, b: &Snapshot) -> Result<Movement, Failure> {
    movement(a, b).ok_or_else(|| {
        Failure::msg(format!(
            "cannot compare placement {} with placement {}: keys are hashed differently",
            crate::dist::describe_placement(a),
            crate::dist::describe_placement(b)
        ))
    })
}

/// The from → to movement matrix: the nodes before (rows) and after (columns), in id order, and
/// the share of the key space each pair's flow carries (0 where none flows).
pub fn matrix(
    a: &Snapshot,
    b: &Snapshot,
    m: &Movement,
) -> (Vec<String>, Vec<String>, Vec<Vec<f64>>) {
    let rows: Vec<String> = a.nodes().map(|n| n.name().to_owned()).collect();
    let cols: Vec<String> = b.nodes().map(|n| n.name().to_owned()).collect();
    let mut cells = vec![vec![0.0f64; cols.len()]; rows.len()];
    for f in &m.flows {
        let r = f
            .from
            .as_ref()
            .and_then(|n| rows.iter().position(|x| x == n));
        let c = f.to.as_ref().and_then(|n| cols.iter().position(|x| x == n));
        if let (Some(r), Some(c)) = (r, c) {
            cells[r][c] = f.share;
        }
    }
    (rows, cols, cells)
}

/// The `diff` report: the table (or JSON) text.
pub fn report(a: &Snapshot, b: &Snapshot, m: &Movement, as_json: bool) -> String {
    let names = union_names(a, b);
    let per = m.per_node();
    let share_of = |name: &str| {
        per.iter()
            .find(|p| p.0 == name)
            .map_or((0.0, 0.0), |p| (p.1, p.2))
    };
    let label = |n: &Option<String>| n.clone().unwrap_or_else(|| "(no owner)".to_owned());
    if as_json {
        let nodes: Vec<_> = names
            .iter()
            .map(|n| {
                let (lost, gained) = share_of(n);
                json!({"name": n, "status": status(a, b, n), "lost": lost, "gained": gained})
            })
            .collect();
        let (rows, cols, matrix) = matrix(a, b, m);
        let flows: Vec<_> = m
            .flows
            .iter()
            .map(|f| json!({"from": f.from, "to": f.to, "share": f.share}))
            .collect();
        let v = json!({
            "moved": m.moved_fraction(),
            "moved_between_kept_nodes": m.between_kept(a, b),
            "nodes": nodes,
            "flows": flows,
            "matrix": {"from": rows, "to": cols, "share": matrix},
        });
        return serde_json::to_string_pretty(&v).unwrap_or_default() + "\n";
    }
    let mut out = format!(
        "moved {} of the key space ({} -> {} nodes, placement {})\n",
        pct(m.moved_fraction()),
        a.len(),
        b.len(),
        crate::dist::describe_placement(b)
    );
    out.push_str(&format!(
        "moved between nodes present in both: {}\n\n",
        pct(m.between_kept(a, b))
    ));
    let rows: Vec<Vec<String>> = names
        .iter()
        .map(|n| {
            let (lost, gained) = share_of(n);
            vec![n.clone(), status(a, b, n), pct(lost), pct(gained)]
        })
        .collect();
    out.push_str(&render(&["node", "change", "lost", "gained"], 2, &rows));
    out.push('\n');
    let flows: Vec<Vec<String>> = m
        .flows
        .iter()
        .map(|f| vec![label(&f.from), label(&f.to), pct(f.share)])
        .collect();
    out.push_str(&render(&["from", "to", "moved"], 2, &flows));
    out
}

/// Runs `ringroute diff`.
pub fn run(a: Args) -> Result<(), Failure> {
    let (x, y) = (load_ring(&a.a)?, load_ring(&a.b)?);
    let m = compute(&x, &y)?;
    if let Some(path) = &a.plot {
        let (rows, cols, cells) = matrix(&x, &y, &m);
        crate::plot::movement(&rows, &cols, &cells, m.moved_fraction(), path)?;
    }
    print!("{}", report(&x, &y, &m, a.json));
    Ok(())
}
