//! Property tests: for every profile, on random memberships (built in one pass, and reached through a
//! random sequence of incremental changes) and random keys, ringroute's owner and 3-replica walk equal
//! a plain reference implementation of the original library's rule, written here independently in the
//! originals' own style (lists of points, a stable sort or a dict, `bisect`).

use std::collections::BTreeMap;

use md5::{Digest, Md5};
use proptest::prelude::*;
use ringroute::{Node, Placement, Profile, Router, Snapshot};

fn md5(b: &[u8]) -> [u8; 16] {
    Md5::digest(b).into()
}

fn word(d: &[u8; 16], i: usize) -> u32 {
    (u32::from(d[4 * i + 3]) << 24)
        | (u32::from(d[4 * i + 2]) << 16)
        | (u32::from(d[4 * i + 1]) << 8)
        | u32::from(d[4 * i])
}

fn oaat(b: &[u8]) -> u32 {
    let mut v: u32 = 0;
    for &c in b {
        let c = if c >= 0x80 {
            u32::from(c) | 0xFFFF_FF00
        } else {
            u32::from(c)
        };
        v = v.wrapping_add(c);
        v = v.wrapping_add(v << 10);
        v ^= v >> 6;
    }
    v = v.wrapping_add(v << 3);
    v ^= v >> 11;
    v.wrapping_add(v << 15)
}

/// A reference ring: sorted positions with owner names, the search rule, and the key hash.
struct Reference {
    /// (position, owner) in the original's sorted order.
    points: Vec<(u128, String)>,
    /// `true`: owner is the first point `> h` (`bisect_right`); `false`: first point `>= h`.
    after: bool,
    hash: fn(&[u8]) -> u128,
    /// Maglev: the search position is the hash modulo this (the points are the table's entries).
    modulo: Option<u128>,
}

impl Reference {
    fn start(&self, key: &[u8]) -> Option<usize> {
        if self.points.is_empty() {
            return None;
        }
        let h = match self.modulo {
            Some(m) => (self.hash)(key) % m,
            None => (self.hash)(key),
        };
        let r = if self.after {
            self.points.partition_point(|(p, _)| *p <= h)
        } else {
            self.points.partition_point(|(p, _)| *p < h)
        };
        Some(if r == self.points.len() { 0 } else { r })
    }

    fn owner(&self, key: &[u8]) -> Option<&str> {
        self.start(key).map(|r| self.points[r].1.as_str())
    }

    fn walk3(&self, key: &[u8]) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        if let Some(r) = self.start(key) {
            for i in 0..self.points.len() {
                let n = self.points[(r + i) % self.points.len()].1.as_str();
                if !out.contains(&n) {
                    out.push(n);
                    if out.len() == 3 {
                        break;
                    }
                }
            }
        }
        out
    }
}

fn host_port(name: &str) -> Option<(&str, u16)> {
    let (h, p) = name.rsplit_once(':')?;
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((h, p.parse().ok()?))
}

/// A dict keyed by position (last write wins), then sorted: uhashring's and the ketama rings' owners.
fn dict_ring(points: impl IntoIterator<Item = (u128, String)>) -> Vec<(u128, String)> {
    let mut d: BTreeMap<u128, String> = BTreeMap::new();
    for (p, n) in points {
        d.insert(p, n);
    }
    d.into_iter().collect()
}

fn reference(profile: Profile, nodes: &[(String, u32)]) -> Reference {
    let n_all = nodes.len() as u64;
    let total: u64 = nodes.iter().map(|(_, w)| u64::from(*w)).sum();
    let mut pts: Vec<(u128, String)> = Vec::new();
    let (after, hash): (bool, fn(&[u8]) -> u128) = match profile {
        Profile::Native => {
            for (name, w) in nodes {
                for i in 0..(128 * w) {
                    let mut b = name.as_bytes().to_vec();
                    b.push(b'#');
                    b.extend_from_slice(&i.to_le_bytes());
                    pts.push((u128::from(xxhash_rust::xxh3::xxh3_64(&b)), name.clone()));
                }
            }
            pts.sort_by_key(|p| p.0); // stable: insertion order among equals
            (false, |k| u128::from(xxhash_rust::xxh3::xxh3_64(k)))
        }
        Profile::Uhashring => {
            let mut all = Vec::new();
            for (name, w) in nodes {
                for i in 0..(160 * w) {
                    let t = format!("{name}-{i}");
                    all.push((u128::from_be_bytes(md5(t.as_bytes())), name.clone()));
                }
            }
            pts = dict_ring(all);
            (true, |k| u128::from_be_bytes(md5(k)))
        }
        Profile::UhashringKetama | Profile::HashRing => {
            let mut all = Vec::new();
            for (name, w) in nodes {
                if total == 0 {
                    break;
                }
                let (groups, per) = if profile == Profile::HashRing {
                    (
                        ((40 * n_all * u64::from(*w)) as f64 / total as f64).floor() as u64,
                        3,
                    )
                } else {
                    ((40 * n_all * u64::from(*w)) / total, 4)
                };
                for g in 0..groups {
                    let d = md5(format!("{name}-{g}").as_bytes());
                    for i in 0..per {
                        all.push((u128::from(word(&d, i)), name.clone()));
                    }
                }
            }
            pts = dict_ring(all);
            (true, |k| u128::from(word(&md5(k), 0)))
        }
        Profile::Continuum => {
            for (name, w) in nodes {
                if total == 0 {
                    break;
                }
                let (host, port) = host_port(name).unwrap_or((name, 11211));
                // continuum.py: int(self.totaldots * (server.capacity / capacity)), capacity a float.
                let dots = (1000.0 * (f64::from(*w) / total as f64)) as u64;
                let (d, m) = (dots / 4, dots % 4);
                for x in 0..d {
                    let dg = md5(format!("{host}-{port}-{x}").as_bytes());
                    for i in 0..4 {
                        pts.push((u128::from(word(&dg, i)), name.clone()));
                    }
                }
                for x in 0..m {
                    pts.push((u128::from(x), name.clone()));
                }
            }
            pts.sort_by_key(|p| p.0);
            (true, |k| u128::from(word(&md5(k), 0)))
        }
        Profile::Nginx => {
            for (name, w) in nodes {
                let (host, port) = match name.rsplit_once(':') {
                    Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => (h, p),
                    _ => (name.as_str(), "80"),
                };
                let mut prev = 0u32;
                for _ in 0..(160 * w) {
                    let mut b = format!("{host}\0{port}").into_bytes();
                    b.extend_from_slice(&prev.to_le_bytes());
                    prev = crc32fast::hash(&b);
                    pts.push((u128::from(prev), name.clone()));
                }
            }
            pts.sort_by_key(|p| p.0);
            pts.dedup_by(|b, a| a.0 == b.0); // keeps the first of equal positions
            (false, |k| u128::from(crc32fast::hash(k)))
        }
        Profile::Libmemcached | Profile::LibmemcachedKetama => {
            let live: Vec<&(String, u32)> = nodes.iter().filter(|(_, w)| *w > 0).collect();
            let weighted = profile == Profile::Libmemcached || live.iter().any(|(_, w)| *w > 1);
            for (name, w) in &live {
                let (host, port) = host_port(name).unwrap_or((name, 11211));
                let text = |g: u64| {
                    if port == 11211 {
                        format!("{host}-{g}")
                    } else {
                        format!("{host}:{port}-{g}")
                    }
                };
                if weighted {
                    let pct = *w as f32 / total as f32;
                    let t = pct * 160f32 / 4f32 * live.len() as f32;
                    let pps = ((f64::from(t) + 0.0000000001) as f32).floor() as u64 * 4;
                    for g in 0..pps / 4 {
                        let d = md5(text(g).as_bytes());
                        for i in 0..4 {
                            pts.push((u128::from(word(&d, i)), name.clone()));
                        }
                    }
                } else {
                    for g in 0..100 {
                        pts.push((u128::from(oaat(text(g).as_bytes())), name.clone()));
                    }
                }
            }
            pts.sort_by_key(|p| p.0);
            if profile == Profile::Libmemcached {
                (false, |k| u128::from(word(&md5(k), 0)))
            } else {
                (false, |k| u128::from(oaat(k)))
            }
        }
        Profile::Maglev => {
            let m = 65_537;
            for (i, owner) in maglev_reference(nodes, m).into_iter().enumerate() {
                pts.push((i as u128, owner));
            }
            return Reference {
                points: pts,
                after: false,
                hash: |k| u128::from(xxhash_rust::xxh64::xxh64(k, 0)),
                modulo: Some(u128::from(m)),
            };
        }
        _ => unreachable!("a profile without a reference"),
    };
    Reference {
        points: pts,
        after,
        hash,
        modulo: None,
    }
}

/// Envoy's Maglev table (`maglev_lb.cc`): the owner's name of each of `m` entries, empty without a
/// node of weight above 0. Hosts sorted by key; each fills its permutation `(offset + j·skip) % m`
/// in turns, a turn whenever `iteration · weight / Σw >= target`, the target growing by the largest
/// normalised weight.
fn maglev_reference(nodes: &[(String, u32)], m: u64) -> Vec<String> {
    let sum: f64 = nodes.iter().map(|(_, w)| f64::from(*w)).sum();
    let mut hosts: Vec<(&String, f64)> = nodes
        .iter()
        .filter(|(_, w)| *w > 0)
        .map(|(n, w)| (n, f64::from(*w) / sum))
        .collect();
    if hosts.is_empty() {
        return Vec::new();
    }
    hosts.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let max = hosts.iter().map(|h| h.1).fold(0.0, f64::max);
    let perm: Vec<(u64, u64)> = hosts
        .iter()
        .map(|(n, _)| {
            let x = |seed| xxhash_rust::xxh64::xxh64(n.as_bytes(), seed);
            (x(0) % m, x(1) % (m - 1) + 1)
        })
        .collect();
    let mut target = vec![0.0f64; hosts.len()];
    let mut next = vec![0u64; hosts.len()];
    let mut table: Vec<Option<usize>> = vec![None; m as usize];
    let mut filled = 0;
    let mut iteration = 1.0f64;
    while filled < m {
        for h in 0..hosts.len() {
            if filled == m {
                break;
            }
            if iteration * hosts[h].1 < target[h] {
                continue;
            }
            target[h] += max;
            loop {
                let c = ((perm[h].0 + perm[h].1 * next[h]) % m) as usize;
                next[h] += 1;
                if table[c].is_none() {
                    table[c] = Some(h);
                    filled += 1;
                    break;
                }
            }
        }
        iteration += 1.0;
    }
    table
        .into_iter()
        .map(|h| hosts[h.unwrap()].0.clone())
        .collect()
}

fn check(profile: Profile, snap: &Snapshot, nodes: &[(String, u32)], keys: &[Vec<u8>]) {
    let r = reference(profile, nodes);
    assert_eq!(snap.point_count(), r.points.len(), "{profile}: point count");
    for k in keys {
        let got = snap.route(k).map(|n| n.name());
        assert_eq!(got, r.owner(k), "{profile}: owner of {k:?}");
        let reps: Vec<&str> = snap
            .replicas(k, 3)
            .iter()
            .map(|&id| snap.node(id).unwrap().name())
            .collect();
        assert_eq!(reps, r.walk3(k), "{profile}: replicas of {k:?}");
        assert_eq!(
            snap.key_hash_wide(k),
            (r.hash)(k),
            "{profile}: hash of {k:?}"
        );
    }
}

fn name_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,8}",
        "[a-z]{1,6}-[0-9]{1,3}",
        (1u8..255, 0u8..255, 1u16..65535).prop_map(|(a, b, p)| format!("10.{a}.{b}.1:{p}")),
        (1u8..255).prop_map(|a| format!("10.0.0.{a}:11211")),
        "[a-zé]{1,5}",
    ]
}

fn membership() -> impl Strategy<Value = Vec<(String, u32)>> {
    prop::collection::vec(
        (name_strategy(), prop_oneof![4 => 1u32..4, 1 => Just(0u32)]),
        0..12,
    )
    .prop_map(|v| {
        let mut seen = std::collections::HashSet::new();
        v.into_iter()
            .filter(|(n, _)| seen.insert(n.clone()))
            .collect()
    })
}

fn keys() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..24), 1..64)
}

/// A change applied to a router: remove the i-th node, re-weight it, or add a node.
#[derive(Debug, Clone)]
enum Op {
    Remove(usize),
    Reweight(usize, u32),
    Add(String, u32),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            any::<usize>().prop_map(Op::Remove),
            (any::<usize>(), 0u32..4).prop_map(|(i, w)| Op::Reweight(i, w)),
            (name_strategy(), 0u32..4).prop_map(|(n, w)| Op::Add(n, w)),
        ],
        0..6,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_profile_matches_its_reference(nodes in membership(), keys in keys()) {
        for &profile in Profile::ALL {
            let snap = Snapshot::new(
                Placement::new(profile, None).unwrap(),
                nodes.iter().map(|(n, w)| Node::new(n.as_str()).with_weight(*w)),
            )
            .unwrap();
            check(profile, &snap, &nodes, &keys);
        }
    }

    #[test]
    fn incremental_changes_match_a_fresh_reference(
        nodes in membership(),
        ops in ops(),
        keys in keys(),
    ) {
        for &profile in Profile::ALL {
            let router = Router::new(Placement::new(profile, None).unwrap());
            let mut model: Vec<(String, u32)> = Vec::new();
            for (n, w) in &nodes {
                router.add_node(Node::new(n.as_str()).with_weight(*w)).unwrap();
                model.push((n.clone(), *w));
            }
            for op in &ops {
                match op {
                    Op::Remove(i) if !model.is_empty() => {
                        let (n, _) = model.remove(i % model.len());
                        router.remove_node(&n).unwrap();
                    }
                    Op::Reweight(i, w) if !model.is_empty() => {
                        let at = i % model.len();
                        model[at].1 = *w;
                        router.update(|tx| tx.set_weight(&model[at].0, *w)).unwrap();
                    }
                    Op::Add(n, w) if !model.iter().any(|(m, _)| m == n) => {
                        router.add_node(Node::new(n.as_str()).with_weight(*w)).unwrap();
                        model.push((n.clone(), *w));
                    }
                    _ => {}
                }
            }
            check(profile, &router.load(), &model, &keys);
        }
    }
}

/// Equal positions from different nodes do occur for continuum (its literal positions 0..m-1): the
/// entry of the server added first wins, and a key below every hashed point goes there.
#[test]
fn continuum_literal_positions_go_to_the_first_server() {
    // 6 servers of capacity 1: 1000/6 = 166 dots = 41 groups + 2 literal entries (0 and 1) each.
    let names: Vec<(String, u32)> = (0..6).map(|i| (format!("s{i}:1"), 1)).collect();
    let snap = Snapshot::new(
        Placement::new(Profile::Continuum, None).unwrap(),
        names
            .iter()
            .map(|(n, w)| Node::new(n.as_str()).with_weight(*w)),
    )
    .unwrap();
    assert_eq!(&snap.points()[..12], &[0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
    // A position of 0 is owned by the first entry > 0: the first server's entry at 1.
    assert_eq!(snap.route_hash(0).map(|id| id.index()), Some(0));
}

/// continuum's collapse: 1000 equal servers put every key on the first; 1001 leave the ring empty.
#[test]
fn continuum_collapses_past_a_few_hundred_servers() {
    let placement = Placement::new(Profile::Continuum, None).unwrap();
    let s1000 = Snapshot::new(placement, (0..1000).map(|i| Node::new(format!("h{i}")))).unwrap();
    assert_eq!(s1000.point_count(), 1000);
    for k in ["a", "b", "key-1", "zzz"] {
        assert_eq!(s1000.route(k).unwrap().name(), "h0");
    }
    let s1001 = Snapshot::new(placement, (0..1001).map(|i| Node::new(format!("h{i}")))).unwrap();
    assert_eq!(s1001.point_count(), 0);
    assert!(s1001.route("a").is_none());
}
