//! The `libmemcached` and `libmemcached-ketama` profiles: libmemcached's consistent (ketama)
//! distribution as pylibmc drives it, so that a Rust or Python service can share a memcached pool
//! with C, PHP and pylibmc clients.
//!
//! Measured against libmemcached (libmemcached-awesome 1.1.4, Debian 12) through pylibmc 1.6.3 and real
//! memcached servers (`tests/libmemcached_oracle.rs`):
//!
//! - `behaviors={"ketama_weighted": True}` → profile `libmemcached`: key hash = md5 bytes 0-3
//!   little-endian; with `L` servers of total weight `W`, server of weight `w` gets
//!   `pps = floor((float)(pct·160/4·L) + 1e-10)·4` points, `pct = (float)w / (float)W`, all in single
//!   precision as `update_continuum` computes it (`virtual_nodes` = the 160 of
//!   `MEMCACHED_POINTS_PER_SERVER_KETAMA`); group `g` in `0..pps/4` hashes `"host-g"` when the port is
//!   11211 and `"host:port-g"` otherwise, giving the 4 little-endian words of its md5.
//! - `behaviors={"ketama": True}` → profile `libmemcached-ketama`: key hash = libmemcached's default
//!   one-at-a-time. While every server has weight 1: 100 points per server (`virtual_nodes`,
//!   `MEMCACHED_POINTS_PER_SERVER`), point `g` = `one_at_a_time("host-g")` / `("host:port-g")`. Once any
//!   server has a weight above 1, libmemcached switches to the weighted layout above (md5 points,
//!   160 per average server), keys staying one-at-a-time.
//!
//! Both: owner = first point `>=` the key (libmemcached's lower-bound search), wrapping; equal points
//! keep server order (glibc's `qsort` is a stable merge sort for such sizes). A node name
//! `host:port` is split at the last colon; a name without a port means 11211, which libmemcached leaves
//! out of the point text. A ringroute node of weight 0 (drained) is left out entirely (not counted in
//! `L`), so the ring equals libmemcached's for the pool without that server. Note that libmemcached
//! itself cannot drain a server this way: given weight 0 (pylibmc `"host:port:0"`) it uses weight 1
//! (measured), so give such a node weight 1 in ringroute to match a pool that lists it with weight 0. Host names longer than 1024 bytes (`NI_MAXHOST - 1`) are rejected.

use super::{decimal, split_host_port, Membership, Profile};
use crate::error::{Error, Result};
use crate::hash::{md5, md5_word_le, one_at_a_time};

/// `MEMCACHED_POINTS_PER_SERVER_KETAMA`.
pub(super) const DEFAULT_VIRTUAL_NODES_WEIGHTED: u32 = 160;
/// `MEMCACHED_POINTS_PER_SERVER`.
pub(super) const DEFAULT_VIRTUAL_NODES_UNWEIGHTED: u32 = 100;
/// libmemcached's default port, which it leaves out of the point text.
const DEFAULT_PORT: u16 = 11211;
/// The longest host libmemcached keeps (`MEMCACHED_NI_MAXHOST - 1`).
const MAX_HOST: usize = 1024;

#[inline(always)]
pub(super) fn key_hash_oaat(key: &[u8]) -> u64 {
    u64::from(one_at_a_time(key))
}

pub(super) fn check_name(profile: Profile, name: &str) -> Result<()> {
    let (host, _) = split_host_port(name).unwrap_or((name, DEFAULT_PORT));
    if host.len() > MAX_HOST {
        return Err(Error::InvalidNodeName {
            name: name.to_owned(),
            profile: profile.name(),
            reason: "libmemcached keeps host names of at most 1024 bytes",
        });
    }
    Ok(())
}

/// The text of point group `g`: `"host-g"`, or `"host:port-g"` for a port other than 11211.
fn point_text(buf: &mut String, host: &str, port: u16, g: u64) {
    buf.clear();
    buf.push_str(host);
    if port != DEFAULT_PORT {
        buf.push(':');
        buf.push_str(decimal(u64::from(port)).as_str());
    }
    buf.push('-');
    buf.push_str(decimal(g).as_str());
}

/// Points of a server in the weighted layout (`update_continuum` with weighted ketama).
pub(super) fn count_weighted(w: u32, m: &Membership, vn: u32) -> u64 {
    if w == 0 || m.total_weight == 0 {
        return 0;
    }
    let pct = w as f32 / m.total_weight as f32;
    let t = pct * vn as f32 / 4.0 * m.live as f32;
    let t = (f64::from(t) + 0.000_000_000_1) as f32;
    // Float-to-int `as` saturates, so absurd inputs cannot wrap.
    (t.floor() as u64).saturating_mul(4)
}

pub(super) fn count_oaat(w: u32, m: &Membership, vn: u32) -> u64 {
    if w == 0 {
        0
    } else if m.any_heavy {
        count_weighted(w, m, DEFAULT_VIRTUAL_NODES_WEIGHTED)
    } else {
        u64::from(vn)
    }
}

pub(super) fn node_points_weighted(
    name: &str,
    w: u32,
    m: &Membership,
    vn: u32,
    out: &mut Vec<(u64, u64)>,
) {
    let (host, port) = split_host_port(name).unwrap_or((name, DEFAULT_PORT));
    let mut buf = String::with_capacity(host.len() + 20);
    for g in 0..count_weighted(w, m, vn) / 4 {
        point_text(&mut buf, host, port, g);
        let d = md5(buf.as_bytes());
        for x in 0..4 {
            out.push((u64::from(md5_word_le(&d, x)), 0));
        }
    }
}

pub(super) fn node_points_oaat(
    name: &str,
    w: u32,
    m: &Membership,
    vn: u32,
    out: &mut Vec<(u64, u64)>,
) {
    if m.any_heavy {
        return node_points_weighted(name, w, m, DEFAULT_VIRTUAL_NODES_WEIGHTED, out);
    }
    let (host, port) = split_host_port(name).unwrap_or((name, DEFAULT_PORT));
    let mut buf = String::with_capacity(host.len() + 20);
    for g in 0..vn {
        point_text(&mut buf, host, port, u64::from(g));
        out.push((u64::from(one_at_a_time(buf.as_bytes())), 0));
    }
}
