//! The `native` profile: fastring's placement, bit for bit.
//!
//! Point `i` of node `name` is `xxh3_64(name ‖ b"#" ‖ (i as u32).to_le_bytes())`; a key is at
//! `xxh3_64(key)`; owner = first point `>=` the key, wrapping. `virtual_nodes` = points per unit of
//! weight (fastring's `HashRing(virtual_nodes)`, default 128). Points are made in `native_points`. Pinned by
//! `tests/golden_fastring.rs`.

use crate::hash::xxh3_64;

/// fastring's default `virtual_nodes`.
pub(super) const DEFAULT_VIRTUAL_NODES: u32 = 128;

#[inline(always)]
pub(super) fn key_hash(key: &[u8]) -> u64 {
    xxh3_64(key)
}
