//! Placement profiles: how a membership becomes points on the ring and how a key becomes a position.
//!
//! A profile fixes the hash function, how each node's points are derived, how a key is hashed, and the
//! tie rule (does a key that lands exactly on a point belong to that point, or to the next one?).
//! Every profile is a published contract pinned by golden tests: a given profile, membership and key
//! give the same owner on every platform and in every release.
//!
//! All profiles share one search: the ring stores sorted `u64` positions and finds the first point
//! **at or after** a search position. A profile whose original rule is "first point strictly after the
//! hash" searches from `hash + 1` (wrapping): the first point `>= h + 1` is the first point `> h`, and
//! `u64::MAX + 1` wraps to 0, whose lower bound is the smallest point — exactly the wrap-around rule.
//!
//! Points narrower than 64 bits (the 32-bit ketama and CRC-32 schemes) are stored zero-extended.
//! Points wider than 64 bits (uhashring's 128-bit md5 integers, the only *wide* profile) store their top
//! 64 bits as the position and their low 64 bits in a cold side array of the ring, consulted only when a
//! key's top 64 bits equal a point's; see [`Profile::is_wide`].
//!
//! Each profile reproduces its original for the same membership **built fresh in the same insertion
//! order**: that is what the golden vectors and property tests check. Profiles whose points depend on
//! the whole membership ([`Profile::membership_dependent`]: the ketama family, continuum, libmemcached)
//! regenerate every point on any membership change, as the originals do; a change of `N` or of the total
//! weight then moves keys between nodes that did not change (about as many as the change itself moves,
//! often more: continuum and libmemcached re-split a fixed number of points).

mod continuum;
mod hash_ring;
mod libmemcached;
mod native;
mod native_points;
mod nginx;
mod uhashring;
mod uhashring_ketama;

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::node::Node;

/// A named placement scheme. Each variant's docs (and its file under `src/placement/`) say exactly what
/// it reproduces, what `virtual_nodes` means for it, and the known quirks of the original.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Profile {
    /// fastring's exact scheme (also accepted under the name `"fastring"`): point `i` of node `name` is
    /// `xxh3_64(name ‖ b"#" ‖ (i as u32).to_le_bytes())` for `i` in `0..virtual_nodes·weight`; a key is
    /// at `xxh3_64(key)`; its owner is the first point `>=` that position, wrapping to the smallest
    /// point; equal points are ordered by node insertion. Default 128 virtual nodes per unit of weight.
    Native,
    /// uhashring 2.x default mode (`HashRing(nodes)`, md5, `vnodes=160`): a position is the md5 digest
    /// of the UTF-8 text read as a 128-bit big-endian integer; node `name` gets the points
    /// `md5("{name}-{i}")` for `i` in `0..virtual_nodes·weight` (`virtual_nodes` = uhashring's
    /// `vnodes`, default 160); owner = first point `>` the key (`bisect_right`), wrapping; a point shared
    /// by two nodes belongs to the one added last (uhashring's ring is a dict). Wide: see
    /// [`Profile::is_wide`]. Quirk not reproduced: uhashring's `remove_node` also deletes a point the
    /// removed node shared with another node; ringroute gives what a fresh ring of the remaining nodes
    /// gives.
    Uhashring,
    /// uhashring 2.x `hash_fn="ketama"` (`vnodes=40`, `replicas=4`): node `name` of weight `w` among `N`
    /// nodes of total weight `W` gets `(virtual_nodes·N·w) // W` groups `g` (integer division;
    /// `virtual_nodes` = uhashring's `vnodes`, default 40), each `md5("{name}-{g}")` giving 4 points
    /// (digest bytes 0-3, 4-7, 8-11, 12-15, little-endian u32); a key is at md5 bytes 0-3
    /// little-endian; owner = first point `>` the key, wrapping; a shared point belongs to the node
    /// added last. Points depend on `N` and `W`: every membership change re-places every node. Quirk:
    /// it disagrees with [`Profile::HashRing`] on about 20 % of keys although both are called
    /// "ketama" (4 points per digest and integer division here, 3 points and float division there).
    UhashringKetama,
    /// amix's hash_ring 1.3.1 (`HashRing(nodes, weights)`): node `name` gets
    /// `floor(virtual_nodes·N·w / W)` groups (Python float division, reproduced to the last bit;
    /// `virtual_nodes` is hash_ring's hard-coded factor 40), each `md5("{name}-{g}")` giving only 3
    /// points (bytes 0-11, little-endian u32); a key is at md5 bytes 0-3 little-endian; owner = first
    /// point `>` the key, wrapping; a shared point belongs to the node added last; replicas =
    /// `iterate_nodes(key, distinct=True)`. Points depend on `N` and `W`. Quirk: disagrees with
    /// [`Profile::UhashringKetama`] on about 20 % of keys.
    HashRing,
    /// python-continuum 0.1.1 (`Continuum(totaldots)`, `add_server(host, port, capacity=weight)`):
    /// `virtual_nodes` is `totaldots`, the number of points of the **whole** ring (default 1000).
    /// Server `s` gets `dots = int(totaldots * (w / float(W)))` (Python doubles, in that order),
    /// `(d, m) = divmod(dots, 4)`;
    /// for `x` in `0..d`, the 4 little-endian words of `md5("%s-%d-%d" % (host, port, x))`; then `m`
    /// entries at the literal positions `0, 1, …, m-1` (a quirk of the original, kept); stable sort;
    /// a key is at md5 bytes 0-3 little-endian; owner = first entry `>` the key, wrapping; equal
    /// positions go to the server added first. A node name `host:port` (port a decimal `u16`) is split
    /// at the last colon; any other name is `(name, 11211)`. Quirk: the ring degrades past a few hundred
    /// servers (at 1000 servers every key goes to the first one; from 1001 on the ring is empty and
    /// every lookup returns `None`), reproduced exactly. Points depend on the whole membership.
    Continuum,
    /// nginx `hash $key consistent`, as Cloudflare's `pingora-ketama` (v1) reproduces it: a node name
    /// `host:port` (split at the last colon when the part after it is all digits; `unix:path` is
    /// `(path, "")`; any other name is `(name, "80")`; a bracketed IPv6 host is hashed without its
    /// brackets, as pingora does) gets `virtual_nodes·weight` points (default 160) from the CRC-32
    /// chain of [`crate::hash::crc32_chain`]; a key is at `crc32(key)`; owner = first point `>=` the
    /// key, wrapping; equal points are collapsed to one, kept for the node added first (nginx's and
    /// pingora's unstable sorts leave that case unspecified; ringroute fixes it this way).
    Nginx,
    /// libmemcached's ketama as pylibmc uses it with `behaviors={"ketama_weighted": True}` (md5 keys,
    /// libketama-compatible, shared with PHP and C clients): with `L` nodes of non-zero weight and total
    /// weight `W`, node `host:port` gets `floor(f32(w/W · virtual_nodes / 4 · L) + 1e-10)` md5 groups
    /// (libmemcached's single-precision formula; `virtual_nodes` = `MEMCACHED_POINTS_PER_SERVER_KETAMA`,
    /// 160), group `g` hashing `"host-g"` when the port is 11211 and `"host:port-g"` otherwise, 4
    /// little-endian points each; a key is at md5 bytes 0-3 little-endian; owner = first point `>=` the
    /// key, wrapping; equal points go to the node added first. A name without a port means port 11211.
    /// Verified against real memcached servers through pylibmc (`tests/libmemcached_oracle.rs`).
    Libmemcached,
    /// libmemcached's ketama as pylibmc uses it with `behaviors={"ketama": True}` (no
    /// `ketama_weighted`): keys and points use libmemcached's default hash, one-at-a-time
    /// ([`crate::hash::one_at_a_time`]), not md5. While every node has weight 1, each node gets
    /// `virtual_nodes` points (`MEMCACHED_POINTS_PER_SERVER`, default 100), point `g` being
    /// `one_at_a_time("host-g")` (`"host:port-g"` for a port other than 11211); as soon as any node
    /// has a weight above 1, libmemcached switches to the weighted layout of [`Profile::Libmemcached`]
    /// (md5 points, 160 per average node) while keys stay one-at-a-time. Owner = first point `>=` the
    /// key. Verified against real memcached servers through pylibmc.
    LibmemcachedKetama,
    /// Envoy's `maglev` load-balancing policy, bit for bit (its `MaglevTable`; see `src/maglev/`):
    /// not a ring of points but a lookup table of `virtual_nodes` entries (the table size `M`, a
    /// prime at most 5,000,011, default 65,537), filled from each node's permutation of the entries
    /// (offset `XXH64(name, 0) mod M`, skip `XXH64(name, 1) mod (M − 1) + 1`, weights normalised as
    /// Envoy does, nodes in the order of their names, so insertion order does not matter). A key is
    /// at `XXH64(key, 0)` (Envoy's header hash policy) and its owner is entry `hash mod M`. Its walk
    /// (replicas, health) is the owners of entries `hash mod M`, then the next entries, wrapping, so a
    /// down node's keys go to the next entry's up owner and no other key moves (unlike Envoy, which
    /// rebuilds its table from the healthy hosts). Every membership change builds the table afresh.
    Maglev,
}

/// Whether a key that lands exactly on a point belongs to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tie {
    /// Owner is the first point `>=` the key's position.
    AtOrAfter,
    /// Owner is the first point `>` the key's position.
    After,
}

/// The key hash of a profile, for the batch lookups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyHasher {
    /// md5 of the key, digest word 0 (bytes 0-3, little-endian): the ketama family.
    Md5Word0,
    /// md5 of the key as a 128-bit big-endian integer: uhashring.
    Md5Wide,
    /// Anything else: [`Placement::key_hash`] one key at a time.
    Other,
}

/// What happens to points of equal position (equal in all their bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EqualPoints {
    /// All are kept, ordered by node insertion (a stable sort).
    All,
    /// Only the point of the node added first is kept (nginx's dedup after its sort).
    First,
    /// Only the point of the node added last is kept (a dict keyed by position).
    Last,
}

/// What a membership-dependent profile needs to know about the whole membership.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Membership {
    /// Registered nodes, drained (weight 0) ones included.
    pub(crate) nodes: u64,
    /// Nodes of non-zero weight.
    pub(crate) live: u64,
    /// Sum of the weights.
    pub(crate) total_weight: u64,
    /// Whether any node has a weight above 1.
    pub(crate) any_heavy: bool,
}

/// Running sums over a membership, kept up to date change by change (`crate::builder`), so that a
/// publication knows the [`Membership`] and, for a profile whose points depend on each node alone,
/// the ring's point count without reading every node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    nodes: u64,
    live: u64,
    total_weight: u64,
    /// Nodes of weight above 1.
    heavy: u64,
    /// The sum of [`Placement::own_point_count`] over the nodes (0 under a profile that has none).
    own_points: u64,
}

impl Tally {
    /// The sums with a node of weight `weight` added.
    pub(crate) fn add(&mut self, placement: &Placement, weight: u32) {
        self.nodes += 1;
        self.live += u64::from(weight > 0);
        self.total_weight += u64::from(weight);
        self.heavy += u64::from(weight > 1);
        self.own_points += placement.own_point_count(weight).unwrap_or(0);
    }

    /// The sums with a node of weight `weight` (one [`Tally::add`]ed before) removed.
    pub(crate) fn remove(&mut self, placement: &Placement, weight: u32) {
        self.nodes -= 1;
        self.live -= u64::from(weight > 0);
        self.total_weight -= u64::from(weight);
        self.heavy -= u64::from(weight > 1);
        self.own_points -= placement.own_point_count(weight).unwrap_or(0);
    }

    /// The membership these sums describe.
    pub(crate) fn membership(&self) -> Membership {
        Membership {
            nodes: self.nodes,
            live: self.live,
            total_weight: self.total_weight,
            any_heavy: self.heavy > 0,
        }
    }

    /// The ring's point count under `placement` when each node's count depends on the node alone
    /// (`None` under a membership-dependent profile: then every node must be counted).
    pub(crate) fn own_points(&self, placement: &Placement) -> Option<u64> {
        (!placement.profile().membership_dependent()).then_some(self.own_points)
    }
}

impl Membership {
    pub(crate) fn of<'a>(nodes: impl IntoIterator<Item = &'a Node>) -> Self {
        let mut m = Membership::default();
        for n in nodes {
            m.nodes += 1;
            m.live += u64::from(n.weight > 0);
            m.total_weight += u64::from(n.weight);
            m.any_heavy |= n.weight > 1;
        }
        m
    }
}

impl Profile {
    /// Every profile, in the order [`Profile::names`] lists them.
    pub const ALL: &'static [Profile] = &[
        Profile::Native,
        Profile::Uhashring,
        Profile::UhashringKetama,
        Profile::HashRing,
        Profile::Continuum,
        Profile::Nginx,
        Profile::Libmemcached,
        Profile::LibmemcachedKetama,
        Profile::Maglev,
    ];

    /// The canonical name of the profile.
    pub const fn name(self) -> &'static str {
        match self {
            Profile::Native => "native",
            Profile::Uhashring => "uhashring",
            Profile::UhashringKetama => "uhashring-ketama",
            Profile::HashRing => "hash_ring",
            Profile::Continuum => "continuum",
            Profile::Nginx => "nginx",
            Profile::Libmemcached => "libmemcached",
            Profile::LibmemcachedKetama => "libmemcached-ketama",
            Profile::Maglev => "maglev",
        }
    }

    /// Every accepted name, aliases included, comma-separated (for error messages).
    pub fn names() -> String {
        let mut v: Vec<&str> = Vec::new();
        for p in Self::ALL {
            v.push(p.name());
            v.extend_from_slice(p.aliases());
        }
        v.join(", ")
    }

    const fn aliases(self) -> &'static [&'static str] {
        match self {
            Profile::Native => &["fastring"],
            _ => &[],
        }
    }

    /// The number of virtual nodes the original library uses by default; what the number means differs
    /// per profile (points per unit of weight, md5 groups per average node, or points of the whole
    /// ring): see each variant.
    pub const fn default_virtual_nodes(self) -> u32 {
        match self {
            Profile::Native => native::DEFAULT_VIRTUAL_NODES,
            Profile::Uhashring => uhashring::DEFAULT_VIRTUAL_NODES,
            Profile::UhashringKetama => uhashring_ketama::DEFAULT_VIRTUAL_NODES,
            Profile::HashRing => hash_ring::DEFAULT_VIRTUAL_NODES,
            Profile::Continuum => continuum::DEFAULT_VIRTUAL_NODES,
            Profile::Nginx => nginx::DEFAULT_VIRTUAL_NODES,
            Profile::Libmemcached => libmemcached::DEFAULT_VIRTUAL_NODES_WEIGHTED,
            Profile::LibmemcachedKetama => libmemcached::DEFAULT_VIRTUAL_NODES_UNWEIGHTED,
            Profile::Maglev => crate::maglev::DEFAULT_TABLE_SIZE as u32,
        }
    }

    /// A stable one-byte code of the profile, part of the membership fingerprint. Never reused.
    pub(crate) const fn code(self) -> u8 {
        match self {
            Profile::Native => 1,
            Profile::Uhashring => 2,
            Profile::UhashringKetama => 3,
            Profile::HashRing => 4,
            Profile::Continuum => 5,
            Profile::Nginx => 6,
            Profile::Libmemcached => 7,
            Profile::LibmemcachedKetama => 8,
            Profile::Maglev => 9,
        }
    }

    pub(crate) const fn tie(self) -> Tie {
        match self {
            Profile::Native
            | Profile::Nginx
            | Profile::Libmemcached
            | Profile::LibmemcachedKetama
            | Profile::Maglev => Tie::AtOrAfter,
            Profile::Uhashring
            | Profile::UhashringKetama
            | Profile::HashRing
            | Profile::Continuum => Tie::After,
        }
    }

    /// How keys are hashed, as far as the batch lookups need to know (they hash md5 keys many lanes
    /// at a time). Must agree with [`Placement::key_hash`]; the batch property tests check that it does.
    pub(crate) const fn key_hasher(self) -> KeyHasher {
        match self {
            Profile::Uhashring => KeyHasher::Md5Wide,
            Profile::UhashringKetama
            | Profile::HashRing
            | Profile::Continuum
            | Profile::Libmemcached => KeyHasher::Md5Word0,
            Profile::Native | Profile::Nginx | Profile::LibmemcachedKetama | Profile::Maglev => {
                KeyHasher::Other
            }
        }
    }

    pub(crate) const fn equal_points(self) -> EqualPoints {
        match self {
            Profile::Native
            | Profile::Continuum
            | Profile::Libmemcached
            | Profile::LibmemcachedKetama
            | Profile::Maglev => EqualPoints::All,
            Profile::Nginx => EqualPoints::First,
            Profile::Uhashring | Profile::UhashringKetama | Profile::HashRing => EqualPoints::Last,
        }
    }

    /// Whether a node's points depend on the whole membership (the number of nodes and the total
    /// weight), not on the node alone. For such profiles every membership change regenerates every
    /// point, as the original does, and moves keys between unchanged nodes too.
    pub const fn membership_dependent(self) -> bool {
        matches!(
            self,
            Profile::UhashringKetama
                | Profile::HashRing
                | Profile::Continuum
                | Profile::Libmemcached
                | Profile::LibmemcachedKetama
                | Profile::Maglev
        )
    }

    /// Whether positions are wider than 64 bits (only [`Profile::Uhashring`], 128 bits). A wide
    /// profile's [`Snapshot::points`](crate::Snapshot::points) and [`Placement::key_hash`] are the top
    /// 64 bits; [`Placement::key_hash_wide`] and
    /// [`Snapshot::route_wide`](crate::Snapshot::route_wide) take the full position.
    pub const fn is_wide(self) -> bool {
        matches!(self, Profile::Uhashring)
    }

    /// How many bits the profile's positions and key positions use: 64 for [`Profile::Native`] and
    /// [`Profile::Uhashring`] (whose ring compares the top 64 of its 128 bits), 32 for the ketama and
    /// CRC-32 profiles, whose values are zero-extended.
    pub const fn position_bits(self) -> u32 {
        match self {
            Profile::Native | Profile::Uhashring | Profile::Maglev => 64,
            Profile::UhashringKetama
            | Profile::HashRing
            | Profile::Continuum
            | Profile::Nginx
            | Profile::Libmemcached
            | Profile::LibmemcachedKetama => 32,
        }
    }

    /// The left shift that puts the profile's positions at the top of 64 bits (the radix layout's
    /// normalization).
    pub(crate) const fn position_norm(self) -> u32 {
        64 - self.position_bits()
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Profile {
    type Err = Error;

    /// Parses a profile name or alias; an unknown one lists the valid names.
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|p| p.name() == s || p.aliases().contains(&s))
            .ok_or_else(|| Error::UnknownProfile {
                name: s.to_owned(),
                valid: Self::names(),
            })
    }
}

/// A profile with its settings: everything that decides where points and keys land.
///
/// ```
/// use ringroute::{Placement, Profile};
/// let p = Placement::native();
/// assert_eq!(p.profile(), Profile::Native);
/// assert_eq!(p.virtual_nodes(), 128);
/// assert_eq!(Placement::from_name("fastring", Some(160)).unwrap().virtual_nodes(), 160);
/// assert_eq!(Placement::from_name("uhashring", None).unwrap().virtual_nodes(), 160);
/// assert!(Placement::from_name("nope", None).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Placement {
    profile: Profile,
    virtual_nodes: u32,
}

impl Default for Placement {
    fn default() -> Self {
        Self::native()
    }
}

impl Placement {
    /// The native profile with its default 128 virtual nodes per unit of weight.
    pub const fn native() -> Self {
        Self {
            profile: Profile::Native,
            virtual_nodes: native::DEFAULT_VIRTUAL_NODES,
        }
    }

    /// Envoy's Maglev table of `table_size` entries (see [`Profile::Maglev`]).
    ///
    /// Errors: [`Error::TableSizeNotPrime`], [`Error::TableSizeTooLarge`] (above 5,000,011).
    ///
    /// ```
    /// use ringroute::{Node, Placement, Snapshot};
    /// let snap = Snapshot::new(Placement::maglev(65_537)?, [Node::new("a"), Node::new("b")])?;
    /// assert_eq!(snap.point_count(), 65_537); // one entry per point
    /// assert!(snap.route("user:42").is_some());
    /// assert!(Placement::maglev(65_536).is_err()); // not a prime
    /// # Ok::<(), ringroute::Error>(())
    /// ```
    pub fn maglev(table_size: u64) -> Result<Self> {
        crate::maglev::validate_size(table_size)?;
        Ok(Self {
            profile: Profile::Maglev,
            virtual_nodes: table_size as u32,
        })
    }

    /// A profile with `virtual_nodes` (`None`: the profile's default; see each [`Profile`] variant
    /// for what the number means there; for [`Profile::Maglev`] it is the table size).
    pub fn new(profile: Profile, virtual_nodes: Option<u32>) -> Result<Self> {
        let virtual_nodes = virtual_nodes.unwrap_or(profile.default_virtual_nodes());
        if profile == Profile::Maglev {
            return Self::maglev(u64::from(virtual_nodes));
        }
        if virtual_nodes == 0 {
            return Err(Error::InvalidVirtualNodes(virtual_nodes));
        }
        Ok(Self {
            profile,
            virtual_nodes,
        })
    }

    /// Like [`Placement::new`], with the profile given by name (see [`Profile::names`]).
    pub fn from_name(name: &str, virtual_nodes: Option<u32>) -> Result<Self> {
        Self::new(name.parse()?, virtual_nodes)
    }

    /// The profile.
    #[inline]
    pub const fn profile(&self) -> Profile {
        self.profile
    }

    /// The profile's `virtual_nodes` setting.
    #[inline]
    pub const fn virtual_nodes(&self) -> u32 {
        self.virtual_nodes
    }

    /// The position of `key` on the ring under this profile: the value that [`crate::Snapshot::route_hash`]
    /// takes. For the 32-bit profiles it is the original's `u32` hash, zero-extended; for the wide
    /// profile ([`Profile::Uhashring`]) it is the top 64 bits of the 128-bit position.
    #[inline]
    pub fn key_hash(&self, key: &[u8]) -> u64 {
        // The xxHash profiles inline (a few nanoseconds a key), the rest out of line: a small body
        // that callers in other crates inline too.
        match self.profile {
            Profile::Native => native::key_hash(key),
            Profile::Maglev => crate::maglev::key_hash(key),
            _ => self.key_hash_other(key),
        }
    }

    /// [`key_hash`](Self::key_hash) for the profiles other than `native` and `maglev`, which it
    /// answers only by leaving them to `key_hash` (the match names every profile, so a new one
    /// must choose its hash here).
    #[inline(never)]
    fn key_hash_other(&self, key: &[u8]) -> u64 {
        match self.profile {
            Profile::Native | Profile::Maglev => self.key_hash(key),
            Profile::Uhashring => (uhashring::key_hash_wide(key) >> 64) as u64,
            Profile::UhashringKetama
            | Profile::HashRing
            | Profile::Continuum
            | Profile::Libmemcached => u64::from(crate::hash::ketama_hash(key)),
            Profile::Nginx => nginx::key_hash(key),
            Profile::LibmemcachedKetama => libmemcached::key_hash_oaat(key),
        }
    }

    /// The full position of `key` exactly as the original computes it: for [`Profile::Uhashring`] the
    /// 128-bit md5 integer (uhashring's `hashi`), for every other profile [`Placement::key_hash`]
    /// widened. (Always inlined, as [`Placement::key_hash`]'s own fast arms are: a call here cost
    /// about a nanosecond of a Python `get_replicas`.)
    #[inline(always)]
    pub fn key_hash_wide(&self, key: &[u8]) -> u128 {
        match self.profile {
            Profile::Uhashring => uhashring::key_hash_wide(key),
            _ => u128::from(self.key_hash(key)),
        }
    }

    /// The position to run the `>=` search from for a key at `hash` (see the module docs).
    #[inline(always)]
    pub(crate) fn search_from(&self, hash: u64) -> u64 {
        match self.profile.tie() {
            Tie::AtOrAfter => hash,
            Tie::After => hash.wrapping_add(1),
        }
    }

    /// Checks that a node of this name and weight can join a ring under this placement: the name must
    /// be one the profile can hash, and for the per-weight profiles `weight × virtual_nodes` must fit a
    /// `u32` point index.
    pub(crate) fn check_node(&self, name: &str, weight: u32) -> Result<()> {
        if self.profile == Profile::Libmemcached || self.profile == Profile::LibmemcachedKetama {
            libmemcached::check_name(self.profile, name)?;
        }
        if self.profile.membership_dependent() {
            return Ok(());
        }
        let n = u64::from(weight) * u64::from(self.virtual_nodes);
        if n > u64::from(u32::MAX) {
            return Err(Error::WeightOverflow {
                name: name.to_owned(),
                weight,
                virtual_nodes: self.virtual_nodes,
                limit: u64::from(u32::MAX),
            });
        }
        Ok(())
    }

    /// How many points `node` gets in membership `m` (before equal points are collapsed).
    pub(crate) fn point_count(&self, node: &Node, m: &Membership) -> u64 {
        let (w, vn) = (node.weight, self.virtual_nodes);
        if w == 0 {
            return 0;
        }
        match self.profile {
            Profile::Native | Profile::Uhashring | Profile::Nginx => {
                self.own_point_count(w).unwrap_or(0)
            }
            Profile::UhashringKetama => 4 * uhashring_ketama::groups(w, m, vn),
            Profile::HashRing => 3 * hash_ring::groups(w, m, vn),
            Profile::Continuum => continuum::dots(w, m, vn),
            Profile::Libmemcached => libmemcached::count_weighted(w, m, vn),
            Profile::LibmemcachedKetama => libmemcached::count_oaat(w, m, vn),
            // A table, not points: its entries are counted once for the ring (the table size).
            Profile::Maglev => 0,
        }
    }

    /// A node's point count when it depends on the node's weight alone (`virtual_nodes · weight`:
    /// the profiles that are not membership-dependent, native, uhashring and nginx); `None` under a
    /// membership-dependent profile.
    #[inline]
    pub(crate) fn own_point_count(&self, weight: u32) -> Option<u64> {
        (!self.profile.membership_dependent())
            .then(|| u64::from(weight) * u64::from(self.virtual_nodes))
    }

    /// Appends the points of `node` in membership `m` to `out` as `(position, low bits)` pairs, in the
    /// order the original generates them. The low bits are 0 except for wide profiles.
    pub(crate) fn node_points(&self, node: &Node, m: &Membership, out: &mut Vec<(u64, u64)>) {
        let (name, w, vn) = (&*node.name, node.weight, self.virtual_nodes);
        if w == 0 {
            return;
        }
        out.reserve(self.point_count(node, m) as usize);
        match self.profile {
            Profile::Native => native_points::node_points(name, w * vn, out),
            Profile::Uhashring => uhashring::node_points(name, w * vn, out),
            Profile::UhashringKetama => uhashring_ketama::node_points(name, w, m, vn, out),
            Profile::HashRing => hash_ring::node_points(name, w, m, vn, out),
            Profile::Continuum => continuum::node_points(name, w, m, vn, out),
            Profile::Nginx => nginx::node_points(name, w * vn, out),
            Profile::Libmemcached => libmemcached::node_points_weighted(name, w, m, vn, out),
            Profile::LibmemcachedKetama => libmemcached::node_points_oaat(name, w, m, vn, out),
            // The table is built for the whole membership (`Ring::build`), not from points.
            Profile::Maglev => {}
        }
    }

    /// Appends the positions of `node`'s points (as [`node_points`](Self::node_points) makes them,
    /// low bits dropped), each shifted left by `norm`, to `out`; `scratch` is working space.
    pub(crate) fn node_positions(
        &self,
        node: &Node,
        m: &Membership,
        norm: u32,
        out: &mut Vec<u64>,
        scratch: &mut Vec<(u64, u64)>,
    ) {
        if self.profile == Profile::Native {
            if node.weight > 0 {
                native_points::node_positions(
                    &node.name,
                    node.weight * self.virtual_nodes,
                    norm,
                    out,
                );
            }
            return;
        }
        scratch.clear();
        self.node_points(node, m, scratch);
        out.extend(scratch.iter().map(|&(p, _)| p << norm));
    }

    /// Bytes that identify the placement in the fingerprint.
    pub(crate) fn fingerprint_bytes(&self) -> [u8; 5] {
        let v = self.virtual_nodes.to_le_bytes();
        [self.profile.code(), v[0], v[1], v[2], v[3]]
    }
}

/// Splits a node name `host:port` at its last colon when what follows is a decimal port (`u16`).
/// A bracketed IPv6 host (`[::1]:80`) loses its brackets. Returns `None` for a name without a port.
pub(crate) fn split_host_port(name: &str) -> Option<(&str, u16)> {
    let (host, port) = name.rsplit_once(':')?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let port: u16 = port.parse().ok()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    Some((host, port))
}

/// Pushes the 4 little-endian words of an md5 digest (the first `words` of them) as points.
#[inline]
pub(crate) fn push_md5_words(text: &[u8], words: usize, out: &mut Vec<(u64, u64)>) {
    let d = crate::hash::md5(text);
    for i in 0..words {
        out.push((u64::from(crate::hash::md5_word_le(&d, i)), 0));
    }
}

/// The points of the ketama family: for each group `g` in `0..groups`, the first `words` little-endian
/// words of `md5("{name}-{g}")` (uhashring-ketama takes 4 per digest, hash_ring 3).
pub(crate) fn push_ketama_groups(name: &str, groups: u64, words: usize, out: &mut Vec<(u64, u64)>) {
    let mut buf = String::with_capacity(name.len() + 21);
    for g in 0..groups {
        buf.clear();
        buf.push_str(name);
        buf.push('-');
        buf.push_str(decimal(g).as_str());
        push_md5_words(buf.as_bytes(), words, out);
    }
}

/// Decimal text of `i` without allocating through `format!` (as Python's `str(int)`).
pub(crate) fn decimal(i: u64) -> Decimal {
    let mut b = [0u8; 20];
    let mut n = i;
    let mut at = b.len();
    loop {
        at -= 1;
        b[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    Decimal { b, at }
}

/// The digits written by [`decimal`].
pub(crate) struct Decimal {
    b: [u8; 20],
    at: usize,
}

impl Decimal {
    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII digits were written.
        std::str::from_utf8(&self.b[self.at..]).unwrap_or_default()
    }
}
