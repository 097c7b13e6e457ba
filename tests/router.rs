//! The router under real threads: readers racing writers always see whole snapshots, and membership
//! changes publish atomically.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use ringroute::{Builder, Error, Node, Placement, Router, MAX_NODES};

/// Every published snapshot has the shape "nodes g0..g{k-1} of generation g": a reader that ever sees
/// a mix of generations, or a node count that does not match the generation, has seen a half-built
/// ring.
fn check_whole(snap: &ringroute::Snapshot, t: usize) {
    let gen = snap.version();
    if gen == 0 {
        assert!(snap.is_empty());
        return;
    }
    assert_eq!(
        snap.len(),
        (gen % 5 + 1) as usize,
        "thread {t} version {gen}"
    );
    for (i, n) in snap.nodes().enumerate() {
        assert_eq!(n.name(), format!("g{gen}-{i}"));
    }
    for k in 0..64 {
        let owner = snap.route(format!("k{k}")).unwrap();
        assert!(owner.name().starts_with(&format!("g{gen}-")));
    }
}

#[test]
fn readers_see_whole_snapshots_while_a_writer_publishes() {
    let router = Router::new(Placement::from_name("native", Some(16)).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let readers: Vec<_> = (0..2)
        .map(|t| {
            let router = router.clone();
            let stop = Arc::clone(&stop);
            let reads = Arc::clone(&reads);
            thread::spawn(move || {
                let mut reader = router.reader();
                let mut last = 0;
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    // All three ways of reading; versions never go backwards for one reader.
                    let v = match i % 3 {
                        0 => {
                            let s = router.pin();
                            check_whole(&s, t);
                            s.version()
                        }
                        1 => {
                            let s = router.load();
                            check_whole(&s, t);
                            s.version()
                        }
                        _ => {
                            let s = reader.snapshot();
                            check_whole(s, t);
                            s.version()
                        }
                    };
                    assert!(
                        v >= last,
                        "thread {t}: version went back from {last} to {v}"
                    );
                    last = v;
                    i += 1;
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let mut gen = 0u64;
    // At least 300 publications, and keep going until the readers have done real work alongside.
    while gen < 300 || reads.load(Ordering::Relaxed) < 2000 {
        gen += 1;
        let snap = router
            .update(|tx| {
                let old: Vec<String> = router.load().nodes().map(|n| n.name().to_owned()).collect();
                for name in old {
                    tx.remove_node(&name)?;
                }
                for i in 0..(gen % 5 + 1) {
                    tx.add_node(Node::new(format!("g{gen}-{i}")))?;
                }
                Ok(())
            })
            .unwrap();
        assert_eq!(snap.version(), gen);
        assert!(gen < 10_000_000, "readers made no progress");
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
}

#[test]
fn pinned_guard_keeps_its_snapshot_across_publications() {
    let router = Router::new(Placement::native());
    router.add_node(Node::new("a")).unwrap();
    let pinned = router.pin();
    router.add_node(Node::new("b")).unwrap();
    router.remove_node("a").unwrap();
    assert_eq!(pinned.len(), 1);
    assert_eq!(pinned.route("x").unwrap().name(), "a");
    drop(pinned);
    assert_eq!(router.pin().route("x").unwrap().name(), "b");
}

#[test]
fn reader_refreshes_after_publication() {
    let router = Router::new(Placement::native());
    let mut reader = router.reader();
    assert!(reader.snapshot().route("x").is_none());
    router.add_node(Node::new("a")).unwrap();
    assert_eq!(reader.snapshot().route("x").unwrap().name(), "a");
    assert_eq!(reader.snapshot().version(), router.version());
}

#[test]
fn errors_name_the_node_and_publish_nothing() {
    let router = Router::new(Placement::native());
    router.add_node(Node::new("a")).unwrap();
    let v = router.version();
    let cases: Vec<(Result<_, Error>, &str)> = vec![
        (
            router.add_node(Node::new("a")),
            "node \"a\" is already in the ring",
        ),
        (
            router.add_node(Node::new("")),
            "node name must not be empty",
        ),
        (router.remove_node("zz"), "node \"zz\" is not in the ring"),
        (router.set_weight("zz", 2), "node \"zz\" is not in the ring"),
        (
            router.add_node(Node::new("huge").with_weight(u32::MAX)),
            "node \"huge\": weight 4294967295 x 128 virtual nodes overflows",
        ),
        (
            router.update(|tx| {
                for i in 0..600 {
                    tx.add_node(Node::new(format!("n{i}")).with_weight(1000))?;
                }
                Ok(())
            }),
            "ring would hold 76800128 points, over the limit of 67108864",
        ),
    ];
    for (res, msg) in cases {
        let err = res.expect_err(msg);
        assert!(err.to_string().starts_with(msg), "{err} vs {msg}");
        assert_eq!(router.version(), v, "{msg}: published");
    }
    assert!(matches!(
        Placement::from_name("ketchup", None),
        Err(Error::UnknownProfile { .. })
    ));
    assert_eq!(
        Placement::from_name("native", Some(0)),
        Err(Error::InvalidVirtualNodes(0))
    );
}

/// The node limit is checked by the change that would pass it, not at build or commit: the add
/// fails, the builder (or transaction) keeps what it had, and a removal makes room again.
#[test]
fn the_node_limit_fails_the_add_that_passes_it() {
    let mut b = Builder::new(Placement::native());
    for i in 0..MAX_NODES {
        b.add_node(Node::new(format!("n{i}")).with_weight(0))
            .unwrap();
    }
    let err = b
        .add_node(Node::new("one-more").with_weight(0))
        .unwrap_err();
    assert!(matches!(err, Error::TooManyNodes { .. }), "{err}");
    assert_eq!(b.len(), MAX_NODES);
    assert!(!b.contains("one-more"));
    // An existing name is still a duplicate, not a limit error.
    assert!(matches!(
        b.add_node(Node::new("n0")),
        Err(Error::DuplicateNode { .. })
    ));
    b.remove_node("n7").unwrap();
    b.add_node(Node::new("one-more").with_weight(0)).unwrap();
    assert_eq!(b.build().unwrap().len(), MAX_NODES);

    let router = Router::new(Placement::native());
    let res = router.update(|tx| {
        for i in 0..=MAX_NODES {
            if let Err(e) = tx.add_node(Node::new(format!("n{i}")).with_weight(0)) {
                assert_eq!(i, MAX_NODES, "the add past the limit fails, no other");
                return Err(e);
            }
        }
        Ok(())
    });
    assert!(matches!(res, Err(Error::TooManyNodes { .. })));
    assert_eq!(router.version(), 0);
}

#[test]
fn drained_nodes_are_members_without_points() {
    let router = Router::new(Placement::native());
    router.add_node(Node::new("a")).unwrap();
    router.add_node(Node::new("b").with_weight(0)).unwrap();
    let s = router.load();
    assert_eq!(s.len(), 2);
    assert!(s.contains("b"));
    assert_eq!(s.point_count(), 128);
    for k in 0..100 {
        assert_eq!(s.route(format!("{k}")).unwrap().name(), "a");
    }
    router.set_weight("a", 0).unwrap();
    assert!(router.load().route("x").is_none());
    assert_eq!(router.load().replicas("x", 3), vec![]);
    // Metadata-only changes keep the points.
    router
        .update(|tx| tx.set_hostname("b", Some("10.0.0.2".into())))
        .unwrap();
    assert_eq!(
        router.load().node_by_name("b").unwrap().hostname(),
        Some("10.0.0.2")
    );
}

#[test]
fn router_is_send_sync_and_snapshot_is_shareable() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Router>();
    assert_send_sync::<ringroute::Snapshot>();
    assert_send_sync::<Node>();
}

#[test]
fn retired_snapshots_are_freed() {
    // A payload whose drop we can observe: once the node is gone from every live snapshot and the
    // router has reclaimed, its payload must be dropped.
    struct Tracker(Arc<AtomicBool>);
    impl Drop for Tracker {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let freed = Arc::new(AtomicBool::new(false));
    let router = Router::new(Placement::native());
    router
        .add_node(Node::new("a").with_payload(Arc::new(Tracker(Arc::clone(&freed)))))
        .unwrap();
    router.add_node(Node::new("b")).unwrap();
    router.remove_node("a").unwrap();
    router.add_node(Node::new("c")).unwrap();
    // Other tests in this process pin the global epoch too, so give the collector time to advance
    // (this is a liveness check with a generous deadline, not a timing assertion).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !freed.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
        router.reclaim();
        thread::sleep(std::time::Duration::from_millis(1));
    }
    assert!(
        freed.load(Ordering::SeqCst),
        "snapshot holding node a was never freed"
    );
}
