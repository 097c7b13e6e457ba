//! The `nginx` profile: nginx's `hash $key consistent` (`ngx_http_upstream_hash_module`), as
//! Cloudflare's `pingora-ketama` crate (v1 rings) reproduces it.
//!
//! A node name is split as nginx splits a server address: `host:port` at the last colon when the part
//! after it is all digits, `unix:path` as `(path, "")`, any other name as `(name, "80")`; a bracketed
//! IPv6 host (`[::1]:80`) is hashed without its brackets, as pingora hashes `SocketAddr::ip()`. The
//! node gets `virtual_nodes·weight` points (default 160, nginx's constant) from the CRC-32 chain
//! `crc32(host ‖ "\0" ‖ port ‖ prev)` (see [`crate::hash::crc32_chain`]). A key is at `crc32(key)`.
//! Owner = first point `>=` the key, wrapping. Equal positions are collapsed to one point (nginx and
//! pingora dedup after sorting); which node keeps it is unspecified in both (their sorts are
//! unstable), ringroute keeps the node added first.
//!
//! Pinned by `tests/oracle_pingora.rs`, which builds pingora-ketama rings over random node sets and
//! compares every key's owner and point walk.

use crate::hash::{crc32, crc32_chain};

/// nginx's 160 points per unit of weight.
pub(super) const DEFAULT_VIRTUAL_NODES: u32 = 160;

#[inline(always)]
pub(super) fn key_hash(key: &[u8]) -> u64 {
    u64::from(crc32(key))
}

/// `(host, port)` as nginx hashes them.
pub(super) fn host_port(name: &str) -> (&str, &str) {
    if name.len() >= 5 && name.as_bytes()[..5].eq_ignore_ascii_case(b"unix:") {
        return (&name[5..], "");
    }
    if let Some((host, port)) = name.rsplit_once(':') {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            let host = host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(host);
            return (host, port);
        }
    }
    (name, "80")
}

pub(super) fn node_points(name: &str, count: u32, out: &mut Vec<(u64, u64)>) {
    let (host, port) = host_port(name);
    let mut pts = Vec::with_capacity(count as usize);
    crc32_chain(host.as_bytes(), port.as_bytes(), count, &mut pts);
    out.extend(pts.into_iter().map(|p| (u64::from(p), 0)));
}
