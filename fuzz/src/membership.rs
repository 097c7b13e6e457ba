//! Membership files: any bytes, read as a JSON and as a TOML membership document. Decoding gives a
//! membership or a typed error, never a panic; a decoded membership builds a ring (and a router) or
//! gives a typed error; what builds keeps its fingerprint through a JSON and a TOML round trip and
//! through a change of node order, and answers every key with one of its members.

use ringroute::membership::Membership;

/// The largest ring (nodes × virtual nodes × weight, a bound on its points) a decoded membership
/// is built into: larger ones are legal and only slow. The decoder is fuzzed whatever the size.
const MAX_BUILD_COST: u128 = 1 << 16;

/// The largest maglev table built (larger primes are legal and only slow).
const MAX_TABLE: u64 = 65_537;

/// Runs the membership checks on the bytes as JSON and as TOML; returns how many of the two
/// decoded into a ring that was built (for the corpus test). Panics on a broken invariant.
pub fn run(data: &[u8]) -> usize {
    let text = String::from_utf8_lossy(data);
    let mut built = 0;
    if let Ok(m) = Membership::from_json_str(&text) {
        built += usize::from(check(&m));
    }
    if let Ok(m) = Membership::from_toml_str(&text) {
        built += usize::from(check(&m));
    }
    built
}

/// Whether building `m` is cheap enough for a fuzz iteration.
fn cheap(m: &Membership) -> bool {
    if m.config.table_size.is_some_and(|t| t > MAX_TABLE) {
        return false;
    }
    let vn = m.config.virtual_nodes.map_or(160, u128::from);
    let heaviest = m
        .nodes
        .iter()
        .map(|n| n.record.weight.unwrap_or(1))
        .max()
        .unwrap_or(0);
    let cost = vn * m.nodes.len() as u128 * 4 * u128::from(heaviest.max(1));
    cost <= MAX_BUILD_COST
}

/// The checks on one decoded membership; returns whether it built a ring.
fn check(m: &Membership) -> bool {
    if !cheap(m) {
        return false;
    }
    // A membership builds or is refused with its typed error; the router agrees.
    let ring = match m.snapshot() {
        Ok(ring) => ring,
        Err(e) => {
            assert!(!e.to_string().is_empty(), "an error without a message");
            assert!(
                m.router().is_err(),
                "the router built what the snapshot refused"
            );
            return false;
        }
    };
    let router = m
        .router()
        .expect("the router builds what the snapshot built");
    assert_eq!(router.load().fingerprint(), ring.fingerprint());
    assert_eq!(ring.len(), m.nodes.len());

    // JSON round trip: the same records and the same fingerprint.
    let json = m.to_json_string();
    let back = Membership::from_json_str(&json)
        .unwrap_or_else(|e| panic!("written JSON does not decode: {e}\n{json}"));
    assert_eq!(
        &back, m,
        "the JSON round trip changed the membership\n{json}"
    );
    assert_eq!(
        back.snapshot().expect("rebuilds").fingerprint(),
        ring.fingerprint()
    );

    // The membership of the built ring rebuilds the same ring, through JSON and through TOML
    // (a built ring's membership has no null to stop TOML; only `meta` could hold one).
    let of = Membership::of(&ring);
    let of_json = Membership::from_json_str(&of.to_json_string()).expect("decodes");
    assert_eq!(
        of_json.snapshot().expect("rebuilds").fingerprint(),
        ring.fingerprint()
    );
    let has_meta = m.nodes.iter().any(|n| n.record.meta.is_some());
    match of.to_toml_string() {
        Ok(toml) => {
            let of_toml = Membership::from_toml_str(&toml)
                .unwrap_or_else(|e| panic!("written TOML does not decode: {e}\n{toml}"));
            assert_eq!(
                of_toml.snapshot().expect("rebuilds").fingerprint(),
                ring.fingerprint()
            );
            if !has_meta {
                assert_eq!(
                    of_toml, of,
                    "the TOML round trip changed the membership\n{toml}"
                );
            }
        }
        Err(e) => assert!(
            has_meta,
            "a membership without meta is refused by TOML: {e}"
        ),
    }
    // The decoded membership itself through TOML: written and read back, or refused (a null or a
    // number TOML cannot hold in `meta`) with a typed error.
    if let Ok(toml) = m.to_toml_string() {
        let back = Membership::from_toml_str(&toml)
            .unwrap_or_else(|e| panic!("written TOML does not decode: {e}\n{toml}"));
        assert_eq!(
            back.snapshot().expect("rebuilds").fingerprint(),
            ring.fingerprint()
        );
    }

    // Node order does not change the fingerprint.
    let mut reordered = m.clone();
    reordered.nodes.reverse();
    if reordered.nodes.len() > 2 {
        reordered.nodes.swap(0, 1);
    }
    assert_eq!(
        reordered
            .snapshot()
            .expect("the same nodes build")
            .fingerprint(),
        ring.fingerprint()
    );

    // Every key is answered by a member while one has points.
    for i in 0..8u32 {
        let key = i.to_le_bytes();
        match ring.route(key) {
            Some(node) => assert!(m.nodes.iter().any(|n| n.name == node.name())),
            None => assert_eq!(
                ring.point_count(),
                0,
                "a ring with points left a key unanswered"
            ),
        }
    }
    true
}
