//! Membership files: a ring's configuration and its nodes as a document (JSON, or TOML with the
//! `toml` feature), to rebuild a ring at boot or persist it, and the record types a membership store
//! shares.
//!
//! ```json
//! {"placement": "native", "virtual_nodes": null, "table_size": null,
//!  "nodes": ["cache-a", {"name": "cache-b", "weight": 2, "hostname": "10.0.0.2", "port": 11211,
//!                         "meta": {"zone": "b"}}]}
//! ```
//!
//! - [`RingConfig`]: `placement` (a profile name, default `"native"`), `virtual_nodes` (`null`: the
//!   profile's default), `table_size` (the `maglev` placement's, and only its, setting).
//! - [`NodeRecord`]: `weight` (default 1), `hostname`, `port`, `meta` (any JSON object, the node's
//!   payload: [`Node::payload_as`]`::<`[`Meta`]`>()`); every field optional.
//! - [`Membership`]: the configuration and the `nodes` list, each a [`MemberRecord`] (a name and its
//!   record, or a bare name).
//!
//! Decoding ([`Membership::from_json`], [`Membership::load`]) checks every field and reports the
//! first problem as a [`MembershipError`] that names the file, the node (index and name) and the
//! field; building ([`Membership::snapshot`]) is all or nothing. Node order does not change the
//! [`Snapshot::fingerprint`], and [`Membership::of`] gives back a membership that rebuilds a ring of
//! the same fingerprint.
//!
//! ```
//! use ringroute::membership::Membership;
//! let m = Membership::from_json_str(r#"{"nodes": ["a", {"name": "b", "weight": 2}]}"#)?;
//! let ring = m.snapshot()?;
//! assert_eq!(ring.len(), 2);
//! assert_eq!(Membership::of(&ring).snapshot()?.fingerprint(), ring.fingerprint());
//!
//! let bad = Membership::from_json_str(r#"{"nodes": ["a", {"name": "b", "weight": "two"}]}"#);
//! assert_eq!(
//!     bad.unwrap_err().to_string(),
//!     r#"node 1 ("b"): field "weight": expected an integer in 0..=4294967295, got "two""#
//! );
//! # Ok::<(), ringroute::membership::MembershipError>(())
//! ```

mod decode;
mod error;

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use error::MembershipError;

use crate::builder::Builder;
use crate::error::Error;
use crate::node::Node;
use crate::placement::{Placement, Profile};
use crate::router::Router;
use crate::snapshot::Snapshot;

/// A node's `meta`: any JSON object. Nodes built from a membership carry it as their payload.
pub type Meta = Map<String, Value>;

/// A ring's settings: which placement, and its one number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingConfig {
    /// The placement profile's name ([`Profile::names`]); `"native"` by default.
    pub placement: String,
    /// The profile's virtual nodes; `None` for its default (see [`Placement::new`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_nodes: Option<u32>,
    /// The `maglev` placement's table size (a prime); `None` for its default. Not for ring
    /// profiles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_size: Option<u64>,
}

impl Default for RingConfig {
    fn default() -> Self {
        Self::of(Placement::native())
    }
}

impl RingConfig {
    /// The settings of `placement`, with its number written out.
    pub fn of(placement: Placement) -> Self {
        let maglev = placement.profile() == Profile::Maglev;
        let n = placement.virtual_nodes();
        Self {
            placement: placement.profile().name().to_owned(),
            virtual_nodes: (!maglev).then_some(n),
            table_size: maglev.then_some(u64::from(n)),
        }
    }

    /// The placement these settings describe. Errors name the field: an unknown profile,
    /// `virtual_nodes` for `maglev` or `table_size` for a ring profile, a table size that is not a
    /// prime, zero virtual nodes.
    pub fn placement(&self) -> Result<Placement, MembershipError> {
        let profile: Profile = self
            .placement
            .parse()
            .map_err(|e: Error| MembershipError::field("placement", e.to_string()))?;
        match (profile, self.virtual_nodes, self.table_size) {
            (Profile::Maglev, Some(_), _) => Err(MembershipError::field(
                "virtual_nodes",
                "the maglev placement has no virtual nodes: give table_size (a prime)",
            )),
            (Profile::Maglev, None, size) => {
                Placement::maglev(size.unwrap_or(u64::from(profile.default_virtual_nodes())))
                    .map_err(|e| MembershipError::field("table_size", e.to_string()))
            }
            (_, _, Some(_)) => Err(MembershipError::field(
                "table_size",
                format!(
                    "table_size is the maglev placement's setting, not {:?}'s",
                    self.placement
                ),
            )),
            (_, vn, None) => Placement::new(profile, vn)
                .map_err(|e| MembershipError::field("virtual_nodes", e.to_string())),
        }
    }
}

/// One node's record: every field optional (the name is the key it is stored under, or the
/// `name` of a [`MemberRecord`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// The weight; 1 when absent. 0 registers the node without points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// The hostname metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The port metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Any JSON object, carried as the node's payload ([`Meta`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

impl NodeRecord {
    /// The record of `node`: its weight, hostname and port, and its payload if that is a [`Meta`]
    /// (any other payload is not part of a membership and is left out).
    pub fn of(node: &Node) -> Self {
        Self {
            weight: Some(node.weight()),
            hostname: node.hostname().map(str::to_owned),
            port: node.port(),
            meta: node.payload_as::<Meta>().cloned(),
        }
    }

    /// The node `name` with this record's settings; `meta`, if any, becomes its payload.
    pub fn to_node(&self, name: &str) -> Node {
        let mut node = Node::new(name).with_weight(self.weight.unwrap_or(1));
        if let Some(h) = &self.hostname {
            node = node.with_hostname(h.as_str());
        }
        if let Some(p) = self.port {
            node = node.with_port(p);
        }
        if let Some(m) = &self.meta {
            node = node.with_payload(Arc::new(m.clone()));
        }
        node
    }
}

/// An entry of a membership's `nodes` list: a name and its record (written as one object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberRecord {
    /// The node's name, unique and non-empty.
    pub name: String,
    /// Its settings.
    #[serde(flatten)]
    pub record: NodeRecord,
}

/// A ring's settings and nodes, as a membership file holds them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Membership {
    /// The placement and its number.
    #[serde(flatten)]
    pub config: RingConfig,
    /// The nodes, in insertion order.
    pub nodes: Vec<MemberRecord>,
}

/// The format of a membership file, by its extension: `.toml` is TOML, anything else JSON.
fn is_toml(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
}

impl Membership {
    /// The membership of `snap`: its placement and its nodes in id order (see [`NodeRecord::of`]).
    pub fn of(snap: &Snapshot) -> Self {
        Self {
            config: RingConfig::of(snap.placement()),
            nodes: snap
                .nodes()
                .map(|n| MemberRecord {
                    name: n.name().to_owned(),
                    record: NodeRecord::of(n),
                })
                .collect(),
        }
    }

    /// Decodes a JSON document (see [`Membership::from_json`]).
    pub fn from_json_str(text: &str) -> Result<Self, MembershipError> {
        let doc: Value =
            serde_json::from_str(text).map_err(|e| MembershipError::new(e.to_string()))?;
        Self::from_json(&doc)
    }

    /// Decodes a TOML document: the same keys as JSON, `null` written by leaving the key out.
    #[cfg(feature = "toml")]
    pub fn from_toml_str(text: &str) -> Result<Self, MembershipError> {
        let doc: Value = toml::from_str(text).map_err(|e| MembershipError::new(e.to_string()))?;
        Self::from_json(&doc)
    }

    /// Reads and decodes a membership file (see [`Membership::parse`]). Every error names the file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, MembershipError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| MembershipError::new(e.to_string()).in_file(path))?;
        Self::parse(path, &text)
    }

    /// Decodes the text of the membership file `path`: TOML if its name ends in `.toml` (with the
    /// `toml` feature), JSON otherwise. Every error names the file.
    pub fn parse(path: &Path, text: &str) -> Result<Self, MembershipError> {
        let decoded = if is_toml(path) {
            #[cfg(feature = "toml")]
            {
                Self::from_toml_str(text)
            }
            #[cfg(not(feature = "toml"))]
            {
                Err(MembershipError::new(
                    "TOML membership files need ringroute's `toml` feature",
                ))
            }
        } else {
            Self::from_json_str(text)
        };
        decoded.map_err(|e| e.in_file(path))
    }

    /// The membership as pretty-printed JSON.
    pub fn to_json_string(&self) -> String {
        // A membership is strings, integers and JSON objects: serialising it cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// The membership as TOML (`None` settings left out).
    #[cfg(feature = "toml")]
    pub fn to_toml_string(&self) -> Result<String, MembershipError> {
        toml::to_string(self).map_err(|e| {
            MembershipError::new(format!(
                "cannot write TOML: {e} (TOML has no null; write JSON instead)"
            ))
        })
    }

    /// The text of the membership file `path`: TOML if its name ends in `.toml` (with the `toml`
    /// feature), JSON otherwise.
    pub fn encode(&self, path: &Path) -> Result<String, MembershipError> {
        if is_toml(path) {
            #[cfg(feature = "toml")]
            {
                self.to_toml_string().map_err(|e| e.in_file(path))
            }
            #[cfg(not(feature = "toml"))]
            {
                Err(
                    MembershipError::new("TOML membership files need ringroute's `toml` feature")
                        .in_file(path),
                )
            }
        } else {
            Ok(self.to_json_string())
        }
    }

    /// Writes the membership to `path` (see [`Membership::encode`]), whole: to a temporary file
    /// beside it, then renamed over it.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), MembershipError> {
        let path = path.as_ref();
        let text = self.encode(path)?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let io = |e: std::io::Error| MembershipError::new(e.to_string()).in_file(path);
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// The placement of the membership's settings.
    pub fn placement(&self) -> Result<Placement, MembershipError> {
        self.config.placement()
    }

    /// Builds the ring, all or nothing; an error names the node that the ring rejects.
    pub fn snapshot(&self) -> Result<Snapshot, MembershipError> {
        self.snapshot_with(|_, m| m.record.to_node(&m.name))
    }

    /// Builds the ring with nodes made by `make` from each record and its index (a binding that
    /// carries its own payloads), all or nothing. `make` should keep each record's name.
    pub fn snapshot_with(
        &self,
        mut make: impl FnMut(usize, &MemberRecord) -> Node,
    ) -> Result<Snapshot, MembershipError> {
        let mut builder = Builder::new(self.placement()?);
        for (i, m) in self.nodes.iter().enumerate() {
            builder
                .add_node(make(i, m))
                .map_err(|e| MembershipError::new(e.to_string()).at_node(i, Some(&m.name)))?;
        }
        builder
            .build()
            .map_err(|e| MembershipError::new(e.to_string()))
    }

    /// A router over the built ring (see [`Membership::snapshot`]).
    pub fn router(&self) -> Result<Router, MembershipError> {
        self.snapshot().map(Router::from_snapshot)
    }
}
