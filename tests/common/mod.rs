//! Shared by the integration tests: reading the vector files of `tests/data/` and their node sets
//! (the golden tests), and a placement for any profile from a small number (the property tests).
#![allow(dead_code)] // each test binary uses its own part

use ringroute::{Node, Placement, Profile, Router};

/// `profile` with `vn` virtual nodes; for Maglev, whose number is its table size (a prime), one of
/// a few small primes picked by `vn`.
pub fn placement(profile: Profile, vn: u32) -> Placement {
    let vn = match profile {
        Profile::Maglev => [7, 13, 101, 251, 1009][vn as usize % 5],
        _ => vn,
    };
    Placement::from_name(profile.name(), Some(vn)).unwrap()
}

/// One row of a vector file.
pub struct Row {
    /// The key's exact bytes.
    pub key: Vec<u8>,
    /// The key's position on the scheme's ring (128 bits for uhashring).
    pub hash: u128,
    /// Its owner.
    pub node: String,
    /// The first 3 distinct nodes of the library's clockwise walk, where the file has them.
    pub replicas: Option<Vec<String>>,
}

pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Every row of `tests/data/{file}`.
pub fn rows(file: &str) -> Vec<Row> {
    let path = format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    assert!(
        header.len() == 4 || header.len() == 5,
        "{file}: header {header:?}"
    );
    lines
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), header.len(), "{file}: bad row {line:?}");
            Row {
                key: hex(f[0]),
                hash: f[2].parse().unwrap(),
                node: f[3].to_owned(),
                replicas: f.get(4).map(|r| r.split(',').map(str::to_owned).collect()),
            }
        })
        .collect()
}

/// The nodes of a vector file's node set (`ip3`, `n10`, `w5`), in the order they were added.
pub fn nodeset(name: &str) -> Vec<(String, u32)> {
    match name {
        "ip3" => ["10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11211"]
            .iter()
            .map(|n| (n.to_string(), 1))
            .collect(),
        "n10" => (0..10).map(|i| (format!("node-{i}"), 1)).collect(),
        "w5" => [1, 2, 1, 3, 1]
            .iter()
            .enumerate()
            .map(|(i, &w)| (format!("node-{i}"), w))
            .collect(),
        _ => unreachable!(),
    }
}

/// A router under `placement` with `nodes` (name, weight), added in one publication.
pub fn router_with(placement: Placement, nodes: &[(String, u32)]) -> Router {
    let router = Router::new(placement);
    router
        .update(|tx| {
            for (n, w) in nodes {
                tx.add_node(Node::new(n.as_str()).with_weight(*w))?;
            }
            Ok(())
        })
        .unwrap();
    router
}
