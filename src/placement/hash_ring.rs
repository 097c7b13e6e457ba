//! The `hash_ring` profile: amix's hash_ring 1.3.1 (`HashRing(nodes, weights)`).
//!
//! With `N` nodes (drained ones included) of total weight `W`, node `name` of weight `w` gets
//! `factor = math.floor((40·N·w) / W)` groups, where `/` is Python 3's float division: ringroute
//! reproduces the correctly rounded double to the last bit, so a quotient within half an ulp below an
//! integer rounds up exactly as in Python (`virtual_nodes` = the factor 40, hard-coded in hash_ring).
//! Group `g` gives only 3 points, the little-endian `u32` words at bytes 0-3, 4-7, 8-11 of
//! `md5('%s-%s' % (node, g))`. A key is at the first little-endian word of its md5. Owner = first
//! point `>` the key (`bisect`), wrapping; `iterate_nodes(key, distinct=True)` walks clockwise from
//! there, which is [`crate::Snapshot::replicas`]. Duplicate positions map to the node written last.
//!
//! Points depend on `N` and `W`: any membership change regenerates every point, as
//! `_generate_circle` does. Quirk: disagrees with `uhashring-ketama` on about 20 % of keys although both
//! say "ketama". Pinned by `tests/golden_profiles.rs` against `tests/data/hash_ring.*.tsv`.

use super::{push_ketama_groups, Membership};
use crate::hash::py_floor_true_div;

/// hash_ring's factor 40.
pub(super) const DEFAULT_VIRTUAL_NODES: u32 = 40;

pub(super) fn groups(w: u32, m: &Membership, vn: u32) -> u64 {
    if m.total_weight == 0 {
        return 0;
    }
    let a = u128::from(vn) * u128::from(m.nodes) * u128::from(w);
    py_floor_true_div(a, u128::from(m.total_weight))
}

pub(super) fn node_points(name: &str, w: u32, m: &Membership, vn: u32, out: &mut Vec<(u64, u64)>) {
    push_ketama_groups(name, groups(w, m, vn), 3, out);
}
