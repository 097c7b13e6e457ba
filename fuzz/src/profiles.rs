//! Profile inputs: any names (any bytes), weights and virtual nodes under any profile. Building may
//! refuse them with an error, never a panic; what builds answers every key with a member that owns
//! points, and agrees with a second build of the same nodes.

use ringroute::{Builder, Placement, Profile, Snapshot};

use crate::input::Input;

/// Runs the profile check the bytes describe; panics on a broken invariant (or a panic inside).
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let profile = Profile::ALL[input.below(Profile::ALL.len() as u32) as usize];
    // Virtual nodes: the default, small numbers, or numbers so large that every node overflows or
    // the ring passes MAX_POINTS (refused before anything is hashed). Not the sizes in between:
    // a ring of tens of millions of points is legal, and only slow.
    let vn = match input.below(4) {
        0 => None,
        1 => Some(u32::from(input.byte())),
        2 => Some((input.u64() as u32) | (1 << 27)),
        _ => Some(1 + input.below(200)),
    };
    let Ok(placement) = Placement::new(profile, vn) else {
        return;
    };
    if profile == Profile::Maglev && placement.virtual_nodes() > 65_537 {
        return; // large tables are legal and only slow; the small ones cover the code
    }
    let mut nodes = Vec::new();
    let mut builder = Builder::new(placement);
    for _ in 0..input.below(9) {
        let raw = input.bytes(24);
        let name = String::from_utf8_lossy(raw).into_owned();
        let weight = match input.below(4) {
            0 => 0,
            1 => u32::MAX,
            2 => (input.u64() as u32) | (1 << 27),
            _ => input.below(5),
        };
        let node = ringroute::Node::new(name.as_str()).with_weight(weight);
        if builder.add_node(node).is_ok() {
            nodes.push((name, weight));
        }
    }
    let Ok(snap) = builder.build() else {
        return;
    };
    let again = Snapshot::new(
        placement,
        nodes
            .iter()
            .map(|(n, w)| ringroute::Node::new(n.as_str()).with_weight(*w)),
    )
    .expect("the same nodes build again");
    assert_eq!(snap.points(), again.points());
    assert_eq!(snap.point_owners(), again.point_owners());
    for i in 0..16u64 {
        let key = (input.u64() ^ i).to_le_bytes();
        match snap.route_id(key) {
            None => assert_eq!(
                snap.point_count(),
                0,
                "a ring with points left a key unanswered"
            ),
            Some(id) => {
                assert!(
                    snap.point_owners().contains(&id.get()),
                    "owner without points"
                );
                assert_eq!(again.route_id(key), Some(id));
            }
        }
    }
}
