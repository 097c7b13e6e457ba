//! The `uhashring` profile: uhashring 2.x in its default mode (`HashRing(nodes)`, `hash_fn` md5).
//!
//! uhashring's `hashi(text)` is `int(md5(text.encode()).hexdigest(), 16)`, a 128-bit integer. Node
//! `name` of weight `w` gets the points `hashi(f"{name}-{i}")` for `i` in `0..vnodes·w` (`vnodes` =
//! `virtual_nodes`, default 160); points live in a dict, so a point shared by two nodes belongs to the
//! one written last (the node added last); the sorted keys are searched with `bisect_right`: owner =
//! first point `>` the key, wrapping to the first point.
//!
//! ringroute stores the top 64 bits of each point as its position and the low 64 bits in a cold side
//! array consulted only when a key's top 64 bits equal a point's, so every answer is exact, including
//! keys that land exactly on a point (they go to the next point, as `bisect_right` says).
//! Pinned by `tests/golden_profiles.rs` against `tests/data/uhashring_md5.*.tsv`.

use super::decimal;
use crate::hash::md5_u128_be;

/// uhashring's default `vnodes`.
pub(super) const DEFAULT_VIRTUAL_NODES: u32 = 160;

#[inline(always)]
pub(super) fn key_hash_wide(key: &[u8]) -> u128 {
    md5_u128_be(key)
}

pub(super) fn node_points(name: &str, count: u32, out: &mut Vec<(u64, u64)>) {
    let mut buf = String::with_capacity(name.len() + 11);
    for i in 0..count {
        buf.clear();
        buf.push_str(name);
        buf.push('-');
        buf.push_str(decimal(u64::from(i)).as_str());
        let h = md5_u128_be(buf.as_bytes());
        out.push(((h >> 64) as u64, h as u64));
    }
}
