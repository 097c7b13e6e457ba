//! The `continuum` profile: python-continuum 0.1.1 (`Continuum(totaldots=1000)`,
//! `add_server(host, port, capacity)`, `resolve(key)`).
//!
//! `virtual_nodes` is `totaldots`, the size of the **whole** ring (default 1000). Server `s` of
//! capacity (weight) `w`, with total capacity `W`, gets `dots = int(totaldots * (w / float(W)))`
//! (Python's doubles in that order, reproduced exactly: the quotient is rounded before the
//! product), split as `(d, m) = divmod(dots, 4)`: for `x` in `0..d` the 4 little-endian `u32` words
//! of `md5("%s-%d-%d" % (host, port, x))`, then `m` entries at the literal positions `0, 1, …, m-1`
//! — a quirk of the original (it appends the loop counter instead of a hash), kept. The entries are
//! stably sorted by position; a key is at the first little-endian word of its md5; owner = first
//! entry `>` the key, wrapping to the first entry; equal positions go to the server
//! added first.
//!
//! Node names: `host:port` (port a decimal `u16`) is split at the last colon; any other name is
//! `(name, 11211)`. The port is printed with `%d` (no leading zeros).
//!
//! Quirk, reproduced exactly: the ring degrades past a few hundred servers. With 1000 equal servers
//! each gets one dot at position 0, so every key goes to the first server; from 1001 on every server
//! gets 0 dots, the ring is empty and every lookup returns `None` (continuum raises `IndexError`).
//! Points depend on the whole membership: any change regenerates every point.
//! Pinned by `tests/golden_profiles.rs` against `tests/data/continuum.*.tsv`.

use super::{decimal, push_md5_words, split_host_port, Membership};

/// continuum's default `totaldots`.
pub(super) const DEFAULT_VIRTUAL_NODES: u32 = 1000;

/// The port continuum is given for a name without one.
const DEFAULT_PORT: u16 = 11211;

pub(super) fn dots(w: u32, m: &Membership, vn: u32) -> u64 {
    if m.total_weight == 0 {
        return 0;
    }
    // Exactly continuum's `int(self.totaldots * (server.capacity / float(capacity)))`: the
    // quotient is rounded to a double first, then multiplied (a second rounding), then truncated.
    // That is not always `floor(totaldots·w / W)`: with totaldots = 22 and 15 of 22 capacity units,
    // Python gets 14 (`22 * (15 / 22.0)` is 14.999999999999998), not 15. IEEE doubles, as CPython.
    let share = f64::from(w) / m.total_weight as f64;
    (f64::from(vn) * share) as u64
}

pub(super) fn node_points(name: &str, w: u32, m: &Membership, vn: u32, out: &mut Vec<(u64, u64)>) {
    let (host, port) = split_host_port(name).unwrap_or((name, DEFAULT_PORT));
    let dots = dots(w, m, vn);
    let (d, rest) = (dots / 4, dots % 4);
    let mut buf = String::with_capacity(host.len() + 20);
    for x in 0..d {
        buf.clear();
        buf.push_str(host);
        buf.push('-');
        buf.push_str(decimal(u64::from(port)).as_str());
        buf.push('-');
        buf.push_str(decimal(x).as_str());
        push_md5_words(buf.as_bytes(), 4, out);
    }
    for x in 0..rest {
        out.push((x, 0));
    }
}
