//! The proxy's backends, read from a JSON file: a list of addresses
//! (`["127.0.0.1:8001", "127.0.0.1:8002"]`), or ringroute's node list
//! (`{"nodes": [{"name": "a", "hostname": "127.0.0.1", "port": 8001, "weight": 2}]}`, `weight`
//! optional, 1 by default; `name` is a label, the ring hashes the address as pingora does).

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use pingora_load_balancing::Backend;
use serde::Deserialize;

/// Why a backends file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendsFileError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not one of the two JSON shapes.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: String,
        /// The error.
        source: serde_json::Error,
    },
    /// An address is not `ip:port` (host names are not resolved).
    #[error("backend {0:?}: not an ip:port address")]
    BadAddress(String),
    /// The same address twice.
    #[error("backend {0} is listed twice")]
    Duplicate(SocketAddr),
    /// No backend at all.
    #[error("the file lists no backend")]
    Empty,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum File {
    List(Vec<String>),
    Nodes { nodes: Vec<NodeEntry> },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeEntry {
    #[serde(rename = "name")]
    _name: Option<String>,
    hostname: String,
    port: u16,
    #[serde(default = "one")]
    weight: usize,
}

fn one() -> usize {
    1
}

/// The backends of a JSON document (see the module docs).
pub fn parse_backends(json: &str) -> Result<BTreeSet<Backend>, BackendsFileError> {
    let file: File = serde_json::from_str(json).map_err(|source| BackendsFileError::Json {
        path: "<json>".into(),
        source,
    })?;
    let entries: Vec<(SocketAddr, usize)> = match file {
        File::List(addrs) => addrs
            .into_iter()
            .map(|a| {
                a.parse::<SocketAddr>()
                    .map(|s| (s, 1))
                    .map_err(|_| BackendsFileError::BadAddress(a))
            })
            .collect::<Result<_, _>>()?,
        File::Nodes { nodes } => nodes
            .into_iter()
            .map(|n| {
                n.hostname
                    .parse::<IpAddr>()
                    .map(|ip| (SocketAddr::new(ip, n.port), n.weight))
                    .map_err(|_| {
                        BackendsFileError::BadAddress(format!("{}:{}", n.hostname, n.port))
                    })
            })
            .collect::<Result<_, _>>()?,
    };
    if entries.is_empty() {
        return Err(BackendsFileError::Empty);
    }
    let mut seen = BTreeSet::new();
    let mut out = BTreeSet::new();
    for (addr, weight) in entries {
        if !seen.insert(addr) {
            return Err(BackendsFileError::Duplicate(addr));
        }
        out.insert(Backend {
            addr: pingora_core::protocols::l4::socket::SocketAddr::Inet(addr),
            weight,
            ext: Default::default(),
        });
    }
    Ok(out)
}

/// The backends listed in the JSON file at `path`.
pub fn load_backends(path: &Path) -> Result<BTreeSet<Backend>, BackendsFileError> {
    let shown = path.display().to_string();
    let json = std::fs::read_to_string(path).map_err(|source| BackendsFileError::Io {
        path: shown.clone(),
        source,
    })?;
    parse_backends(&json).map_err(|e| match e {
        BackendsFileError::Json { source, .. } => BackendsFileError::Json {
            path: shown,
            source,
        },
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(set: &BTreeSet<Backend>) -> Vec<(String, usize)> {
        set.iter().map(|b| (b.addr.to_string(), b.weight)).collect()
    }

    #[test]
    fn both_shapes_parse() {
        let list = parse_backends(r#"["127.0.0.1:8002", "127.0.0.1:8001", "[::1]:80"]"#).unwrap();
        assert_eq!(
            addrs(&list),
            [
                ("127.0.0.1:8001".into(), 1),
                ("127.0.0.1:8002".into(), 1),
                ("[::1]:80".into(), 1)
            ]
        );
        let nodes = parse_backends(
            r#"{"nodes": [{"name": "a", "hostname": "10.0.0.1", "port": 80, "weight": 3},
                          {"hostname": "10.0.0.2", "port": 81}]}"#,
        )
        .unwrap();
        assert_eq!(
            addrs(&nodes),
            [("10.0.0.1:80".into(), 3), ("10.0.0.2:81".into(), 1)]
        );
    }

    #[test]
    fn bad_files_are_refused() {
        assert!(matches!(
            parse_backends("[]"),
            Err(BackendsFileError::Empty)
        ));
        assert!(matches!(
            parse_backends(r#"{"nodes": []}"#),
            Err(BackendsFileError::Empty)
        ));
        assert!(matches!(
            parse_backends(r#"["localhost:80"]"#),
            Err(BackendsFileError::BadAddress(_))
        ));
        assert!(matches!(
            parse_backends(r#"{"nodes": [{"hostname": "db.local", "port": 1}]}"#),
            Err(BackendsFileError::BadAddress(_))
        ));
        assert!(matches!(
            parse_backends(r#"["10.0.0.1:80", "10.0.0.1:80"]"#),
            Err(BackendsFileError::Duplicate(_))
        ));
        for bad in [
            "",
            "{}",
            r#"{"nodes": [{"hostname": "10.0.0.1"}]}"#,
            r#"[1, 2]"#,
            r#"{"nodes": [{"hostname": "10.0.0.1", "port": 70000}]}"#,
            r#"{"nodes": [{"hostname": "10.0.0.1", "port": 1, "wieght": 2}]}"#,
        ] {
            assert!(
                matches!(parse_backends(bad), Err(BackendsFileError::Json { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            load_backends(Path::new("/nonexistent/backends.json")),
            Err(BackendsFileError::Io { .. })
        ));
    }
}
