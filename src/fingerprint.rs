//! The membership fingerprint: a stable 64-bit hash of the placement and of each node's name and
//! weight, equal on every process with the same membership whatever the order nodes were added in.
//!
//! `xxh3_64("ringroute/fp/v1" ‖ profile code ‖ virtual_nodes (u32 LE) ‖ node count (u64 LE) ‖
//! Σ node_term (wrapping, u64 LE))`, where each node's term is `xxh3_64(name length (u32 LE) ‖ name
//! ‖ weight (u32 LE))`. The sum is kept up to date change by change by the builder, so a
//! publication hashes only the nodes it changed.

use crate::hash::xxh3_64;
use crate::placement::Placement;

/// The fingerprint of `count` nodes whose [`node_term`]s add up to `sum` (wrapping).
pub(crate) fn fingerprint(placement: &Placement, count: usize, sum: u64) -> u64 {
    let mut out = Vec::with_capacity(40);
    out.extend_from_slice(b"ringroute/fp/v1");
    out.extend_from_slice(&placement.fingerprint_bytes());
    out.extend_from_slice(&(count as u64).to_le_bytes());
    out.extend_from_slice(&sum.to_le_bytes());
    xxh3_64(&out)
}

/// One node's term of the fingerprint's sum: `xxh3_64(name length (u32 LE) ‖ name ‖ weight (u32 LE))`.
pub(crate) fn node_term(name: &str, weight: u32) -> u64 {
    let mut buf = Vec::with_capacity(name.len() + 8);
    buf.extend_from_slice(&(name.len() as u32).to_le_bytes());
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(&weight.to_le_bytes());
    xxh3_64(&buf)
}
