//! The profile API: names, parsing, defaults, fingerprints, errors on names a profile cannot take, and
//! the rebuild-everything path of membership-dependent profiles.

use ringroute::{Error, Node, Placement, Profile, Snapshot};

#[test]
fn canonical_names_parse_and_round_trip() {
    let names = [
        "native",
        "uhashring",
        "uhashring-ketama",
        "hash_ring",
        "continuum",
        "nginx",
        "libmemcached",
        "libmemcached-ketama",
        "maglev",
    ];
    assert_eq!(Profile::ALL.len(), names.len());
    for (p, n) in Profile::ALL.iter().zip(names) {
        assert_eq!(p.name(), n);
        assert_eq!(n.parse::<Profile>().unwrap(), *p);
        assert_eq!(p.to_string(), n);
    }
    assert_eq!("fastring".parse::<Profile>().unwrap(), Profile::Native);
    match "ketama".parse::<Profile>() {
        Err(Error::UnknownProfile { name, valid }) => {
            assert_eq!(name, "ketama");
            for n in names {
                assert!(valid.contains(n), "{valid}");
            }
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn defaults_are_the_originals() {
    let d = |p: Profile| Placement::new(p, None).unwrap().virtual_nodes();
    assert_eq!(d(Profile::Native), 128);
    assert_eq!(d(Profile::Uhashring), 160);
    assert_eq!(d(Profile::UhashringKetama), 40);
    assert_eq!(d(Profile::HashRing), 40);
    assert_eq!(d(Profile::Continuum), 1000);
    assert_eq!(d(Profile::Nginx), 160);
    assert_eq!(d(Profile::Libmemcached), 160);
    assert_eq!(d(Profile::LibmemcachedKetama), 100);
    assert_eq!(d(Profile::Maglev), 65_537);
    // Maglev's number is its table size: a prime of at most 5,000,011.
    assert!(matches!(
        Placement::new(Profile::Maglev, Some(65_536)),
        Err(Error::TableSizeNotPrime { size: 65_536 })
    ));
    assert!(matches!(
        Placement::maglev(5_000_021),
        Err(Error::TableSizeTooLarge { .. })
    ));
    assert_eq!(
        Placement::maglev(5_000_011).unwrap().virtual_nodes(),
        5_000_011
    );
    assert!(Placement::new(Profile::Nginx, Some(0)).is_err());
}

#[test]
fn fingerprints_differ_between_profiles() {
    let mut seen = std::collections::HashSet::new();
    for &p in Profile::ALL {
        let s = Snapshot::new(
            Placement::new(p, Some(if p == Profile::Maglev { 41 } else { 40 })).unwrap(),
            [Node::new("a"), Node::new("b")],
        )
        .unwrap();
        assert!(seen.insert(s.fingerprint()), "{p}: fingerprint collides");
    }
}

#[test]
fn wide_and_narrow_profiles() {
    for &p in Profile::ALL {
        assert_eq!(p.is_wide(), p == Profile::Uhashring);
        let s = Snapshot::new(Placement::new(p, None).unwrap(), [Node::new("a")]).unwrap();
        assert_eq!(s.point_lows().is_some(), p.is_wide());
        if !matches!(p, Profile::Native | Profile::Uhashring | Profile::Maglev) {
            // 32-bit schemes: every point and key fits in u32.
            assert!(s.points().iter().all(|&x| x <= u64::from(u32::MAX)), "{p}");
            assert!(s.key_hash("some key") <= u64::from(u32::MAX), "{p}");
        }
    }
}

#[test]
fn libmemcached_rejects_host_names_it_would_truncate() {
    let long = "h".repeat(1025);
    for p in [Profile::Libmemcached, Profile::LibmemcachedKetama] {
        let err = Snapshot::new(
            Placement::new(p, None).unwrap(),
            [Node::new(format!("{long}:1234"))],
        )
        .unwrap_err();
        assert!(matches!(err, Error::InvalidNodeName { .. }), "{err:?}");
        assert!(Snapshot::new(
            Placement::new(p, None).unwrap(),
            [Node::new("h".repeat(1024))]
        )
        .is_ok());
    }
    // Other profiles accept it.
    assert!(Snapshot::new(
        Placement::new(Profile::Nginx, None).unwrap(),
        [Node::new(long)]
    )
    .is_ok());
}

#[test]
fn membership_dependent_profiles_rebuild_every_point() {
    for &p in Profile::ALL {
        let placement = Placement::new(p, None).unwrap();
        let a = Snapshot::new(placement, [Node::new("a:1"), Node::new("b:2")]).unwrap();
        // Adding a drained node changes N for the ketama family, so "a"'s points change there.
        let mut b = a.edit();
        b.add_node(Node::new("c:3").with_weight(0)).unwrap();
        let b = b.build().unwrap();
        let a_pts = |s: &Snapshot| {
            let id = s.id_of("a:1").unwrap().get();
            s.points()
                .iter()
                .zip(s.point_owners())
                .filter(|(_, &o)| o == id)
                .map(|(&x, _)| x)
                .collect::<Vec<_>>()
        };
        let changed = a_pts(&a) != a_pts(&b);
        let n_dependent = matches!(p, Profile::UhashringKetama | Profile::HashRing);
        assert_eq!(
            changed, n_dependent,
            "{p}: drained node changed a's points: {changed}"
        );
        assert_eq!(
            p.membership_dependent(),
            !matches!(p, Profile::Native | Profile::Uhashring | Profile::Nginx)
        );
        // Re-weighting b changes a's points exactly for membership-dependent profiles.
        let mut c = b.edit();
        c.set_weight("b:2", 3).unwrap();
        let c = c.build().unwrap();
        assert_eq!(a_pts(&b) != a_pts(&c), p.membership_dependent(), "{p}");
    }
}

#[test]
fn all_drained_rings_are_empty_not_errors() {
    for &p in Profile::ALL {
        let s = Snapshot::new(
            Placement::new(p, None).unwrap(),
            [Node::new("a").with_weight(0)],
        )
        .unwrap();
        assert_eq!(s.point_count(), 0);
        assert!(s.route("k").is_none());
        assert!(s.replicas("k", 3).is_empty());
        assert!(s.route_wide(5).is_none());
    }
}
