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

mod native;

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::node::Node;

/// A named placement scheme. See the module docs of each variant for exactly what it reproduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Profile {
    /// fastring's exact scheme (also accepted under the name `"fastring"`): point `i` of node `name` is
    /// `xxh3_64(name ‖ b"#" ‖ (i as u32).to_le_bytes())` for `i` in `0..virtual_nodes·weight`; a key is
    /// at `xxh3_64(key)`; its owner is the first point `>=` that position, wrapping to the smallest
    /// point; equal points are ordered by node insertion. Default 128 virtual nodes per unit of weight.
    Native,
}

/// Whether a key that lands exactly on a point belongs to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tie {
    /// Owner is the first point `>=` the key's position.
    AtOrAfter,
    /// Owner is the first point `>` the key's position.
    #[allow(dead_code)] // used by the profiles of other libraries
    After,
}

impl Profile {
    /// Every profile, in the order [`Profile::names`] lists them.
    pub const ALL: &'static [Profile] = &[Profile::Native];

    /// The canonical name of the profile.
    pub const fn name(self) -> &'static str {
        match self {
            Profile::Native => "native",
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
        }
    }

    /// The number of virtual nodes per unit of weight the original library uses by default.
    pub const fn default_virtual_nodes(self) -> u32 {
        match self {
            Profile::Native => native::DEFAULT_VIRTUAL_NODES,
        }
    }

    /// A stable one-byte code of the profile, part of the membership fingerprint. Never reused.
    pub(crate) const fn code(self) -> u8 {
        match self {
            Profile::Native => 1,
        }
    }

    pub(crate) const fn tie(self) -> Tie {
        match self {
            Profile::Native => Tie::AtOrAfter,
        }
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

    /// A profile with `virtual_nodes` points per unit of weight (`None`: the profile's default).
    pub fn new(profile: Profile, virtual_nodes: Option<u32>) -> Result<Self> {
        let virtual_nodes = virtual_nodes.unwrap_or(profile.default_virtual_nodes());
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

    /// Virtual nodes (points) per unit of weight.
    #[inline]
    pub const fn virtual_nodes(&self) -> u32 {
        self.virtual_nodes
    }

    /// The position of `key` on the ring under this profile: the value that [`crate::Snapshot::route_hash`]
    /// takes.
    #[inline]
    pub fn key_hash(&self, key: &[u8]) -> u64 {
        match self.profile {
            Profile::Native => native::key_hash(key),
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

    /// How many points a node of `weight` gets, or the error naming the node if that overflows.
    pub(crate) fn points_for(&self, name: &str, weight: u32) -> Result<u64> {
        let n = u64::from(weight) * u64::from(self.virtual_nodes);
        if n > u64::from(u32::MAX) {
            return Err(Error::WeightOverflow {
                name: name.to_owned(),
                weight,
                virtual_nodes: self.virtual_nodes,
                limit: u64::from(u32::MAX),
            });
        }
        Ok(n)
    }

    /// Appends the points of `node` to `out` (in the order the original generates them).
    ///
    /// Only for profiles whose points depend on the node alone (all profiles so far).
    pub(crate) fn node_points(&self, node: &Node, out: &mut Vec<u64>) {
        let count = u64::from(node.weight) * u64::from(self.virtual_nodes);
        match self.profile {
            Profile::Native => native::node_points(&node.name, count as u32, out),
        }
    }

    /// Bytes that identify the placement in the fingerprint.
    pub(crate) fn fingerprint_bytes(&self) -> [u8; 5] {
        let v = self.virtual_nodes.to_le_bytes();
        [self.profile.code(), v[0], v[1], v[2], v[3]]
    }
}
