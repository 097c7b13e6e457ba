//! Property tests of the records without etcd: any sequence of puts and deletes (good and bad
//! values), published batch by batch on a router, leaves the ring a build from scratch of the
//! final records gives; bad values count as absent and are counted.

use proptest::prelude::*;
use ringroute::{Placement, Router};

use crate::records::{decode_health, Layout, Records, Touched};

/// A put (`Some`) or delete (`None`) of a key of a small pool.
fn event() -> impl Strategy<Value = (String, Option<String>)> {
    let name = (0..8u8).prop_map(|i| format!("n{i}"));
    let node_value = prop_oneof![
        (0..4u32, proptest::option::of(1..3u16)).prop_map(|(w, p)| match p {
            Some(p) => format!(r#"{{"weight": {w}, "port": {p}, "meta": {{"z": {p}}}}}"#),
            None => format!(r#"{{"weight": {w}}}"#),
        }),
        Just("{}".to_owned()),
        Just(r#"{"weight": -1}"#.to_owned()),
        Just("not json".to_owned()),
    ];
    let health_value = prop_oneof![
        Just("up".to_owned()),
        Just("down".to_owned()),
        Just("\"down\"".to_owned()),
        Just("maybe".to_owned()),
    ];
    prop_oneof![
        4 => (name.clone(), proptest::option::of(node_value)).prop_map(|(n, v)| (format!("/p/nodes/{n}"), v)),
        2 => (name, proptest::option::of(health_value)).prop_map(|(n, v)| (format!("/p/health/{n}"), v)),
        1 => Just(("/p/other/key".to_owned(), Some("x".to_owned()))),
        1 => Just(("/p/config".to_owned(), Some(r#"{"placement": "native"}"#.to_owned()))),
    ]
}

fn state(snap: &ringroute::Snapshot) -> Vec<(String, u32, Option<u16>, bool)> {
    let mut v: Vec<_> = snap
        .nodes()
        .map(|n| {
            let up = snap.is_up(snap.id_of(n.name()).unwrap());
            (n.name().to_owned(), n.weight(), n.port(), up)
        })
        .collect();
    v.sort();
    v
}

proptest! {
    #[test]
    fn batches_published_incrementally_equal_a_fresh_build(
        batches in proptest::collection::vec(proptest::collection::vec(event(), 1..6), 1..20)
    ) {
        let router = Router::new(Placement::native());
        let mut records = Records::new(Layout::new("/p"));
        let mut bad = 0;
        for batch in &batches {
            let mut touched = Touched::default();
            for (key, value) in batch {
                let before = records.skipped;
                records.apply(key.as_bytes(), value.as_deref().map(str::as_bytes), &mut touched);
                bad += records.skipped - before;
            }
            records.publish(&router, &touched).unwrap();
            let fresh = records.snapshot(Placement::native()).unwrap();
            prop_assert_eq!(state(&router.load()), state(&fresh));
            prop_assert_eq!(router.load().fingerprint(), fresh.fingerprint());
        }
        prop_assert_eq!(records.skipped, bad);
    }
}

#[test]
fn keys_and_health_values() {
    let layout = Layout::new("/ringroute/cache/");
    assert_eq!(layout.node_key("a"), "/ringroute/cache/nodes/a");
    assert_eq!(layout.health_key("a"), "/ringroute/cache/health/a");
    assert_eq!(layout.config_key(), "/ringroute/cache/config");
    use crate::records::Key;
    assert_eq!(
        layout.parse(b"/ringroute/cache/nodes/a"),
        Some(Key::Node("a".into()))
    );
    assert_eq!(
        layout.parse(b"/ringroute/cache/health/a"),
        Some(Key::Health("a".into()))
    );
    assert_eq!(layout.parse(b"/ringroute/cache/config"), Some(Key::Config));
    assert_eq!(layout.parse(b"/ringroute/cache/nodes/"), None);
    assert_eq!(layout.parse(b"/ringroute/cache2/nodes/a"), None);
    assert_eq!(layout.parse(b"/ringroute/cache/\xff"), None);
    assert_eq!(decode_health(b"down"), Ok(true));
    assert_eq!(decode_health(b"\"up\""), Ok(false));
    assert!(decode_health(b"DOWN").is_err());
}
