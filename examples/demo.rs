//! Builds a ring, routes keys, changes membership, and prints what moved.
//!
//! `cargo run --release --example demo`

use std::collections::HashMap;

use ringroute::{Node, Placement, Router, Snapshot};

fn shares(snap: &Snapshot, keys: &[String]) -> Vec<(String, f64)> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for k in keys {
        *counts.entry(snap.route(k).unwrap().name()).or_default() += 1;
    }
    let mut v: Vec<(String, f64)> = snap
        .nodes()
        .map(|n| {
            (
                n.name().to_owned(),
                counts.get(n.name()).copied().unwrap_or(0) as f64 / keys.len() as f64,
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// The share of keys whose owner changed, and whether every move involved `node` (to or from it).
fn moved(a: &Snapshot, b: &Snapshot, keys: &[String], node: &str) -> (f64, bool) {
    let mut n = 0;
    let mut all_involve = true;
    for k in keys {
        let (x, y) = (a.route(k).unwrap().name(), b.route(k).unwrap().name());
        if x != y {
            n += 1;
            all_involve &= x == node || y == node;
        }
    }
    (n as f64 / keys.len() as f64, all_involve)
}

fn main() -> Result<(), ringroute::Error> {
    let keys: Vec<String> = (0..200_000).map(|i| format!("user:{i}")).collect();
    let router = Router::new(Placement::native());
    router.update(|tx| {
        for i in 1..=4 {
            tx.add_node(
                Node::new(format!("cache-{i}"))
                    .with_hostname(format!("10.0.0.{i}"))
                    .with_port(11211),
            )?;
        }
        Ok(())
    })?;
    let s0 = router.load();
    println!(
        "ringroute demo: {} nodes, {} points, fingerprint {:016x}",
        s0.len(),
        s0.point_count(),
        s0.fingerprint()
    );
    for (name, share) in shares(&s0, &keys) {
        println!(
            "  {name:<10} {:>6.2}% of {} keys",
            share * 100.0,
            keys.len()
        );
    }
    let k = "user:42";
    let reps: Vec<&str> = s0
        .replicas(k, 2)
        .into_iter()
        .map(|id| s0.node(id).unwrap().name())
        .collect();
    println!(
        "  {k:?} -> {} (replicas {reps:?})",
        s0.route(k).unwrap().name()
    );

    router.add_node(Node::new("cache-5"))?;
    let s1 = router.load();
    let (m, only) = moved(&s0, &s1, &keys, "cache-5");
    println!(
        "add cache-5:      {:>6.2}% of keys moved (ideal 1/5 = 20%); all to cache-5: {only}",
        m * 100.0
    );

    router.remove_node("cache-2")?;
    let s2 = router.load();
    let (m, only) = moved(&s1, &s2, &keys, "cache-2");
    println!(
        "remove cache-2:   {:>6.2}% of keys moved; all from cache-2: {only}",
        m * 100.0
    );

    router.set_weight("cache-3", 3)?;
    let s3 = router.load();
    let (m, only) = moved(&s2, &s3, &keys, "cache-3");
    println!(
        "cache-3 weight 3: {:>6.2}% of keys moved; all to cache-3: {only}",
        m * 100.0
    );
    for (name, share) in shares(&s3, &keys) {
        println!("  {name:<10} {:>6.2}%", share * 100.0);
    }
    println!("version {} (one per publication)", s3.version());
    Ok(())
}
