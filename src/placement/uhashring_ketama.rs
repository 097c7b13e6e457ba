//! The `uhashring-ketama` profile: uhashring 2.x with `hash_fn="ketama"` (its `KetamaRing`, `vnodes=40`,
//! `replicas=4`).
//!
//! With `N` nodes (drained ones included) of total weight `W`, node `name` of weight `w` gets
//! `ks = (vnodes·N·w) // W` groups (exact integer division; `vnodes` = `virtual_nodes`, default 40);
//! group `g` gives 4 points, the little-endian `u32` words of `md5(f"{name}-{g}")`. A key is at the
//! first little-endian word of its md5. Owner = first point `>` the key (`bisect`), wrapping. uhashring
//! keeps duplicate positions in its sorted list but maps each to the node written last, so a shared
//! point belongs to the node added last (ringroute keeps that position once).
//!
//! Points depend on `N` and `W`: any membership change regenerates every point, as uhashring's
//! `_create_ring` does. Quirk: although both say "ketama", this and `hash_ring` disagree on about 20 %
//! of keys (4 points per digest and integer division here; 3 points and float division there).
//! Pinned by `tests/golden_profiles.rs` against `tests/data/uhashring_ketama.*.tsv`.

use super::{push_ketama_groups, Membership};

/// uhashring's default `vnodes` in ketama mode.
pub(super) const DEFAULT_VIRTUAL_NODES: u32 = 40;

pub(super) fn groups(w: u32, m: &Membership, vn: u32) -> u64 {
    if m.total_weight == 0 {
        return 0;
    }
    let g = u128::from(vn) * u128::from(m.nodes) * u128::from(w) / u128::from(m.total_weight);
    g as u64
}

pub(super) fn node_points(name: &str, w: u32, m: &Membership, vn: u32, out: &mut Vec<(u64, u64)>) {
    push_ketama_groups(name, groups(w, m, vn), 4, out);
}
