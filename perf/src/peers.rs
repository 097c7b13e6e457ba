//! The rings under test: ringroute and the peer crates, built from the same node list and the same
//! points per node.
//!
//! | impl | points per node | key hash, search | lookup called |
//! |---|---|---|---|
//! | `ringroute` | `P` (`native` placement) | xxh3-64, radix/Eytzinger index | `Reader::snapshot().route_id(key)` |
//! | `pingora-ketama` | `160 · weight`, weight = `max(1, round(P / 160))` (its v1 ring fixes 160 per weight) | crc32, binary search | `Continuum::node(key)` |
//! | `hashring` | `P` virtual nodes `(node, i)` | SipHash-1-3, binary search | `HashRing::get(&key)` |
//! | `conhash` | `P` replicas | md5 (allocates a `Vec`), `BTreeMap` range | `ConsistentHash::get(key)` |
//!
//! With `--placement maglev`, ringroute builds Envoy's Maglev table of `M` entries and the peers are
//! the Rust Maglev crates, each with a table of (about) `M` entries over the same node names:
//!
//! | impl | key hash | lookup called |
//! |---|---|---|
//! | `ringroute` | XXH64 (Envoy's), `hash mod M` | `Reader::snapshot().route_id(key)` |
//! | `maglev-hash` | std `DefaultHasher` (SipHash-1-3) | `MaglevTable::get(&key)` |
//! | `maglev` | std `DefaultHasher` | `Maglev::get(&key)` |
//! | `hash-rings` | std `DefaultHasher` | `maglev::Ring::get_node(&key)` |

use std::net::{Ipv4Addr, SocketAddr};

/// The names of the peer crates, in the order they run.
pub const PEERS: [&str; 3] = ["pingora-ketama", "hashring", "conhash"];

/// The names of the Maglev peer crates, in the order they run.
pub const MAGLEV_PEERS: [&str; 3] = ["maglev-hash", "maglev", "hash-rings"];

/// A `maglev-hash` table of about `m` entries over nodes `0..n`.
pub fn maglev_hash(n: usize, m: u64) -> maglev_hash::MaglevTable<String> {
    maglev_hash::MaglevTable::with_capacity((0..n).map(name).collect(), m as usize)
}

/// A `maglev` table of about `m` entries over nodes `0..n`.
pub fn maglev(n: usize, m: u64) -> maglev::Maglev<String> {
    maglev::Maglev::with_capacity((0..n).map(name), m as usize)
}

/// A `hash-rings` Maglev table of about `m` entries over the node names `names`.
pub fn hash_rings(names: &[String], m: u64) -> hash_rings::maglev::Ring<'_, String> {
    hash_rings::maglev::Ring::with_capacity_hint(names.iter().collect(), m as usize)
}

/// Node `i`'s address, `10.x.y.z:11211`: its name in every implementation.
pub fn addr(i: usize) -> SocketAddr {
    let i = i as u32;
    SocketAddr::from((Ipv4Addr::from(0x0A00_0000 | (i & 0x00FF_FFFF)), 11211))
}

/// Node `i`'s name (its address as text).
pub fn name(i: usize) -> String {
    addr(i).to_string()
}

/// pingora-ketama's weight for `points_per_node` (it makes 160 points per unit of weight).
pub fn pingora_weight(points_per_node: u32) -> u32 {
    ((f64::from(points_per_node) / 160.0).round() as u32).max(1)
}

/// A pingora-ketama continuum over nodes `0..n`.
pub fn pingora(n: usize, points_per_node: u32) -> pingora_ketama::Continuum {
    let w = pingora_weight(points_per_node);
    let buckets: Vec<_> = (0..n)
        .map(|i| pingora_ketama::Bucket::new(addr(i), w))
        .collect();
    pingora_ketama::Continuum::new(&buckets)
}

/// A virtual node of the `hashring` ring: point `replica` of node `node`.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub struct VNode {
    /// The node's index.
    pub node: u32,
    /// Which of its points this is.
    pub replica: u32,
}

/// A `hashring` ring over nodes `0..n`, `points_per_node` virtual nodes each.
pub fn hashring(n: usize, points_per_node: u32) -> hashring::HashRing<VNode> {
    let mut ring = hashring::HashRing::new();
    ring.batch_add(
        (0..n as u32)
            .flat_map(|node| (0..points_per_node).map(move |replica| VNode { node, replica }))
            .collect(),
    );
    ring
}

/// A node of the `conhash` ring.
#[derive(Debug, Clone)]
pub struct CNode {
    /// The node's index.
    pub idx: u32,
}

impl conhash::Node for CNode {
    fn name(&self) -> String {
        name(self.idx as usize)
    }
}

/// A `conhash` ring over nodes `0..n`, `points_per_node` replicas each.
pub fn conhash(n: usize, points_per_node: u32) -> conhash::ConsistentHash<CNode> {
    let mut ring = conhash::ConsistentHash::new();
    for idx in 0..n as u32 {
        ring.add(&CNode { idx }, points_per_node as usize);
    }
    ring
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_route_every_key_to_a_node() {
        let keys: Vec<String> = (0..200).map(|i| format!("user:{i:05}")).collect();
        let p = pingora(10, 160);
        let h = hashring(10, 16);
        let c = conhash(10, 16);
        for k in &keys {
            let a = p.node(k.as_bytes()).unwrap();
            assert!(a.port() == 11211);
            assert!(h.get(&k.as_bytes()).unwrap().node < 10);
            assert!(c.get(k.as_bytes()).unwrap().idx < 10);
        }
        assert_eq!(pingora_weight(160), 1);
        assert_eq!(pingora_weight(320), 2);
        assert_eq!(pingora_weight(10), 1);
        assert_eq!(name(258), "10.0.1.2:11211");
    }
}
