//! Golden test: the `native` profile gives fastring's own answers (owners, key positions and
//! 3-replica walks) for every row of `tests/data/fastring.*.tsv` (copied from the shared vectors,
//! produced by fastring 0.2.1 with `HashRing(128)`).

use ringroute::{Node, Placement, Snapshot};

struct Row {
    key: Vec<u8>,
    hash: u64,
    node: String,
    replicas: Vec<String>,
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn rows(file: &str) -> Vec<Row> {
    let path = format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 5, "bad row {line:?}");
            Row {
                key: hex(f[0]),
                hash: f[2].parse().unwrap(),
                node: f[3].to_owned(),
                replicas: f[4].split(',').map(str::to_owned).collect(),
            }
        })
        .collect()
}

fn ring(nodes: &[(&str, u32)]) -> Snapshot {
    Snapshot::new(
        Placement::native(),
        nodes.iter().map(|&(n, w)| Node::new(n).with_weight(w)),
    )
    .unwrap()
}

fn check(file: &str, ring: &Snapshot) {
    let rows = rows(file);
    assert!(rows.len() > 10_000, "{file}: only {} rows", rows.len());
    let mut reps = Vec::new();
    for r in &rows {
        assert_eq!(ring.key_hash(&r.key), r.hash, "{file}: hash of {:?}", r.key);
        let owner = ring.route(&r.key).unwrap();
        assert_eq!(owner.name(), r.node, "{file}: owner of {:?}", r.key);
        assert_eq!(ring.route_hash(r.hash), ring.id_of(&r.node));
        ring.replicas_hash_into(r.hash, 3, &mut reps);
        let names: Vec<&str> = reps
            .iter()
            .map(|&id| ring.node(id).unwrap().name())
            .collect();
        assert_eq!(names, r.replicas, "{file}: replicas of {:?}", r.key);
    }
}

#[test]
fn fastring_ip3() {
    check(
        "fastring.ip3.tsv",
        &ring(&[
            ("10.0.0.1:11211", 1),
            ("10.0.0.2:11211", 1),
            ("10.0.0.3:11211", 1),
        ]),
    );
}

#[test]
fn fastring_n10() {
    let names: Vec<String> = (0..10).map(|i| format!("node-{i}")).collect();
    let nodes: Vec<(&str, u32)> = names.iter().map(|n| (n.as_str(), 1)).collect();
    check("fastring.n10.tsv", &ring(&nodes));
}

#[test]
fn fastring_w5() {
    let weights = [1, 2, 1, 3, 1];
    let names: Vec<String> = (0..5).map(|i| format!("node-{i}")).collect();
    let nodes: Vec<(&str, u32)> = names
        .iter()
        .zip(weights)
        .map(|(n, w)| (n.as_str(), w))
        .collect();
    check("fastring.w5.tsv", &ring(&nodes));
}

/// The same mapping when the ring is grown one node at a time through a router (incremental merges)
/// instead of built in one pass.
#[test]
fn fastring_n10_built_incrementally() {
    let router = ringroute::Router::new(Placement::native());
    for i in 0..10 {
        router.add_node(Node::new(format!("node-{i}"))).unwrap();
    }
    check("fastring.n10.tsv", &router.load());
}
