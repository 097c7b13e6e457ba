//! Golden test: the `native` profile gives fastring's own answers (owners, key positions and
//! 3-replica walks) for every row of `tests/data/fastring.*.tsv` (copied from the shared vectors,
//! produced by fastring 0.2.1 with `HashRing(128)`).

mod common;

use common::{nodeset, rows};
use ringroute::{Node, Placement, Snapshot};

fn ring(set: &str) -> Snapshot {
    Snapshot::new(
        Placement::native(),
        nodeset(set)
            .into_iter()
            .map(|(n, w)| Node::new(n).with_weight(w)),
    )
    .unwrap()
}

fn check(file: &str, ring: &Snapshot) {
    let rows = rows(file);
    assert!(rows.len() > 10_000, "{file}: only {} rows", rows.len());
    let mut reps = Vec::new();
    for r in &rows {
        let hash = u64::try_from(r.hash).expect("fastring positions are 64-bit");
        assert_eq!(ring.key_hash(&r.key), hash, "{file}: hash of {:?}", r.key);
        let owner = ring.route(&r.key).unwrap();
        assert_eq!(owner.name(), r.node, "{file}: owner of {:?}", r.key);
        assert_eq!(ring.route_hash(hash), ring.id_of(&r.node));
        ring.replicas_hash_into(hash, 3, &mut reps);
        let names: Vec<&str> = reps
            .iter()
            .map(|&id| ring.node(id).unwrap().name())
            .collect();
        let want = r
            .replicas
            .as_ref()
            .expect("fastring files have a replica column");
        assert_eq!(&names, want, "{file}: replicas of {:?}", r.key);
    }
}

#[test]
fn fastring_ip3() {
    check("fastring.ip3.tsv", &ring("ip3"));
}

#[test]
fn fastring_n10() {
    check("fastring.n10.tsv", &ring("n10"));
}

#[test]
fn fastring_w5() {
    check("fastring.w5.tsv", &ring("w5"));
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
