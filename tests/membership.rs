//! Membership files: decoding with errors that name the file, node and field; all-or-nothing
//! builds; round trips (JSON and TOML) that keep the fingerprint; order-independence.

use proptest::prelude::*;
use ringroute::membership::{Membership, Meta};
use ringroute::{Node, Placement, Snapshot};

fn decode_err(doc: &str) -> String {
    Membership::from_json_str(doc).unwrap_err().to_string()
}

#[test]
fn documented_example_builds() {
    let m = Membership::from_json_str(
        r#"{"placement": "native", "virtual_nodes": null, "table_size": null,
            "nodes": [{"name": "cache-a", "weight": 1, "hostname": "10.0.0.1", "port": 11211,
                       "meta": {"zone": "a", "tags": [1, 2]}}, "cache-b"]}"#,
    )
    .unwrap();
    let ring = m.snapshot().unwrap();
    assert_eq!(ring.len(), 2);
    assert_eq!(ring.placement(), Placement::native());
    let a = ring.node_by_name("cache-a").unwrap();
    assert_eq!(
        (a.hostname(), a.port(), a.weight()),
        (Some("10.0.0.1"), Some(11211), 1)
    );
    let meta = a.payload_as::<Meta>().unwrap();
    assert_eq!(meta["zone"], "a");
    assert_eq!(meta["tags"], serde_json::json!([1, 2]));
    let b = ring.node_by_name("cache-b").unwrap();
    assert_eq!(
        (b.weight(), b.hostname(), b.payload().is_none()),
        (1, None, true)
    );
    let same = Snapshot::new(
        Placement::native(),
        [Node::new("cache-a"), Node::new("cache-b")],
    )
    .unwrap();
    assert_eq!(ring.fingerprint(), same.fingerprint());
}

#[test]
fn errors_name_the_node_and_field() {
    let cases = [
        (
            r#"[1]"#,
            r#"expected an object with a "nodes" list, got [1]"#,
        ),
        (
            r#"{"nodes": {}}"#,
            r#"field "nodes": expected a list, got {}"#,
        ),
        (
            r#"{"placement": "ketama"}"#,
            r#"field "placement": unknown placement profile "ketama"; valid profiles: native, fastring, uhashring, uhashring-ketama, hash_ring, continuum, nginx, libmemcached, libmemcached-ketama, maglev"#,
        ),
        (
            r#"{"virtual_nodes": 0}"#,
            r#"field "virtual_nodes": virtual_nodes must be at least 1 (got 0)"#,
        ),
        (
            r#"{"virtual_nodes": 1.5}"#,
            r#"field "virtual_nodes": expected an integer in 0..=4294967295, got 1.5"#,
        ),
        (
            r#"{"table_size": 7}"#,
            r#"field "table_size": table_size is the maglev placement's setting, not "native"'s"#,
        ),
        (
            r#"{"placement": "maglev", "table_size": 8}"#,
            r#"field "table_size": maglev table size 8 is not a prime number"#,
        ),
        (
            r#"{"placement": "maglev", "virtual_nodes": 8}"#,
            r#"field "virtual_nodes": the maglev placement has no virtual nodes: give table_size (a prime)"#,
        ),
        (
            r#"{"nodez": []}"#,
            r#"field "nodez": unknown field; valid: placement, virtual_nodes, table_size, nodes"#,
        ),
        (
            r#"{"nodes": ["a", 5]}"#,
            r#"node 1: expected a name or an object, got 5"#,
        ),
        (
            r#"{"nodes": ["a", ""]}"#,
            r#"node 1: field "name": must not be empty"#,
        ),
        (
            r#"{"nodes": ["a", {"weight": 2}]}"#,
            r#"node 1: field "name": missing"#,
        ),
        (
            r#"{"nodes": [{"name": 7}]}"#,
            r#"node 0: field "name": expected a string, got 7"#,
        ),
        (
            r#"{"nodes": ["a", {"name": "b", "weight": "two"}]}"#,
            r#"node 1 ("b"): field "weight": expected an integer in 0..=4294967295, got "two""#,
        ),
        (
            r#"{"nodes": [{"name": "b", "weight": -1}]}"#,
            r#"node 0 ("b"): field "weight": expected an integer in 0..=4294967295, got -1"#,
        ),
        (
            r#"{"nodes": [{"name": "b", "weight": 1.0}]}"#,
            r#"node 0 ("b"): field "weight": expected an integer in 0..=4294967295, got 1.0"#,
        ),
        (
            r#"{"nodes": [{"name": "b", "port": 70000}]}"#,
            r#"node 0 ("b"): field "port": expected an integer in 0..=65535, got 70000"#,
        ),
        (
            r#"{"nodes": [{"name": "b", "hostname": 1}]}"#,
            r#"node 0 ("b"): field "hostname": expected a string, got 1"#,
        ),
        (
            r#"{"nodes": [{"name": "b", "meta": [1]}]}"#,
            r#"node 0 ("b"): field "meta": expected an object, got [1]"#,
        ),
        (
            r#"{"nodes": [{"name": "b", "vnodes": 3}]}"#,
            r#"node 0 ("b"): field "vnodes": unknown field; valid: name, weight, hostname, port, meta"#,
        ),
        (
            r#"{"nodes": ["a", "b", {"name": "a"}]}"#,
            r#"node 2 ("a"): field "name": duplicate: node 0 has the same name"#,
        ),
    ];
    for (doc, want) in cases {
        assert_eq!(decode_err(doc), want, "for {doc}");
    }
    // A syntax error is one line with its position.
    let syntax = decode_err("{\"nodes\": [\n\"a\",\n}");
    assert!(syntax.contains("line 3"), "{syntax}");
    assert!(!syntax.contains('\n'));
}

#[test]
fn build_errors_name_the_node_and_load_nothing() {
    // Decodes, but the ring rejects node 1: weight × virtual nodes overflows.
    let m = Membership::from_json_str(
        r#"{"virtual_nodes": 1000, "nodes": ["a", {"name": "big", "weight": 4294967295}]}"#,
    )
    .unwrap();
    let e = m.snapshot().unwrap_err();
    assert_eq!(e.node, Some((1, Some("big".to_owned()))));
    assert!(e.to_string().starts_with(r#"node 1 ("big"): "#), "{e}");
    assert!(m.router().is_err());
}

#[test]
fn files_are_named_in_errors_and_round_trip() {
    let dir = std::env::temp_dir().join(format!("ringroute-membership-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("missing.json");
    let e = Membership::load(&missing).unwrap_err();
    assert!(
        e.to_string()
            .starts_with(&format!("{}: ", missing.display())),
        "{e}"
    );

    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{"nodes": [{"name": "x", "port": "80"}]}"#).unwrap();
    assert_eq!(
        Membership::load(&bad).unwrap_err().to_string(),
        format!(
            r#"{}: node 0 ("x"): field "port": expected an integer in 0..=65535, got "80""#,
            bad.display()
        )
    );

    let m = Membership::from_json_str(
        r#"{"placement": "libmemcached", "nodes": [{"name": "a", "weight": 3, "meta": {"k": {"n": [1.5, "x"]}}},
            {"name": "b", "hostname": "h", "port": 1}, "c"]}"#,
    )
    .unwrap();
    let ring = m.snapshot().unwrap();
    for file in ["ring.json", "ring.toml"] {
        let path = dir.join(file);
        Membership::of(&ring).save(&path).unwrap();
        let back = Membership::load(&path).unwrap();
        assert_eq!(back, Membership::of(&ring), "{file}");
        let again = back.snapshot().unwrap();
        assert_eq!(again.fingerprint(), ring.fingerprint(), "{file}");
        assert_eq!(again.placement(), ring.placement());
        assert_eq!(
            again.node_by_name("a").unwrap().payload_as::<Meta>(),
            ring.node_by_name("a").unwrap().payload_as::<Meta>()
        );
    }
    // TOML has no null: a meta holding one is refused, naming the file, and nothing is written.
    let nulls =
        Membership::from_json_str(r#"{"nodes": [{"name": "a", "meta": {"k": null}}]}"#).unwrap();
    let null_toml = dir.join("null.toml");
    let e = nulls.save(&null_toml).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}: cannot write TOML", null_toml.display())),
        "{e}"
    );
    assert!(!null_toml.exists());
    let toml_bad = dir.join("bad.toml");
    std::fs::write(
        &toml_bad,
        "placement = \"native\"\n[[nodes]]\nname = \"a\"\nweight = \"x\"\n",
    )
    .unwrap();
    assert_eq!(
        Membership::load(&toml_bad).unwrap_err().to_string(),
        format!(
            r#"{}: node 0 ("a"): field "weight": expected an integer in 0..=4294967295, got "x""#,
            toml_bad.display()
        )
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn maglev_settings_round_trip() {
    let m = Membership::from_json_str(
        r#"{"placement": "maglev", "table_size": 251, "nodes": ["a", "b"]}"#,
    )
    .unwrap();
    let ring = m.snapshot().unwrap();
    assert_eq!(ring.placement(), Placement::maglev(251).unwrap());
    let back = Membership::of(&ring);
    assert_eq!(
        (back.config.virtual_nodes, back.config.table_size),
        (None, Some(251))
    );
    assert_eq!(back.snapshot().unwrap().fingerprint(), ring.fingerprint());
}

#[test]
fn meta_numbers_survive_the_json_round_trip() {
    // Numbers beyond 64 bits are floats in JSON values; writing one and reading it back must give
    // the same float (serde_json's `float_roundtrip`), so the membership compares equal.
    for number in [
        "122222222200000000000000003422972222516261319",
        "2.2250738585072011e-308",
        "0.30000000000000004",
        "1e300",
        "-7.000000000000001",
    ] {
        let m = Membership::from_json_str(&format!(
            r#"{{"nodes": [{{"name": "a", "meta": {{"n": [{number}, 2.5]}}}}]}}"#
        ))
        .unwrap();
        let back = Membership::from_json_str(&m.to_json_string()).unwrap();
        assert_eq!(back, m, "{number}");
    }
}

proptest! {
    /// Any membership: its file round trip keeps the fingerprint and the records, and the order of
    /// the nodes in the file does not change the fingerprint.
    #[test]
    fn round_trip_and_order(
        weights in proptest::collection::vec(0u32..5, 1..12),
        vn in 1u32..64,
        rotate in 0usize..12,
    ) {
        let nodes: Vec<Node> = weights.iter().enumerate()
            .map(|(i, &w)| Node::new(format!("node-{i}")).with_weight(w).with_port(1000 + i as u16))
            .collect();
        let ring = Snapshot::new(Placement::from_name("native", Some(vn)).unwrap(), nodes).unwrap();
        let m = Membership::of(&ring);
        let back = Membership::from_json_str(&m.to_json_string()).unwrap();
        prop_assert_eq!(&back, &m);
        prop_assert_eq!(back.snapshot().unwrap().fingerprint(), ring.fingerprint());
        let mut shuffled = m.clone();
        let k = rotate % shuffled.nodes.len();
        shuffled.nodes.rotate_left(k);
        shuffled.nodes.reverse();
        prop_assert_eq!(shuffled.snapshot().unwrap().fingerprint(), ring.fingerprint());
    }
}
