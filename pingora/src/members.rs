//! A pingora backend set as a ringroute membership: each backend's node (named by its address,
//! weighted by its weight, carrying the [`Backend`] as payload), and the edit that turns one
//! membership into another while reusing the previous ring.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use pingora_core::protocols::l4::socket::SocketAddr;
use pingora_load_balancing::Backend;
use ringroute::{Builder, Node, Snapshot};

use crate::error::{Error, Result};

/// One backend as a node: its name (the address as `ip:port`, `[ip6]:port` for IPv6, the name
/// nginx and `KetamaHashing` hash) and its weight.
pub(crate) struct Member<'a> {
    pub(crate) name: String,
    pub(crate) weight: u32,
    pub(crate) backend: &'a Backend,
}

/// The members of a backend set, in the set's order. Backends on Unix sockets are left out, as
/// `KetamaHashing` leaves them out. Errors: [`Error::WeightTooLarge`].
pub(crate) fn members(backends: &BTreeSet<Backend>) -> Result<Vec<Member<'_>>> {
    let mut out: Vec<Member<'_>> = Vec::with_capacity(backends.len());
    let mut index: HashMap<String, usize> = HashMap::with_capacity(backends.len());
    for backend in backends {
        let SocketAddr::Inet(addr) = backend.addr else {
            continue;
        };
        let weight = u32::try_from(backend.weight).map_err(|_| Error::WeightTooLarge {
            backend: addr.to_string(),
            weight: backend.weight,
        })?;
        let name = addr.to_string();
        // The same address twice (two weights): its points are those of the larger weight, as in
        // `KetamaHashing`, whose equal points collapse to one.
        if let Some(&i) = index.get(&name) {
            if weight > out[i].weight {
                out[i] = Member {
                    name,
                    weight,
                    backend,
                };
            }
            continue;
        }
        index.insert(name.clone(), out.len());
        out.push(Member {
            name,
            weight,
            backend,
        });
    }
    Ok(out)
}

/// Edits `builder` (a copy of `current`'s membership) into `wanted`: removes the nodes that left,
/// adds the new ones in the set's order, changes the weights and payloads that differ. Nodes that
/// stay keep their points, so the build reuses the ring's unchanged pages.
pub(crate) fn apply(
    builder: &mut Builder,
    current: &Snapshot,
    wanted: &[Member<'_>],
) -> Result<()> {
    let by_name: HashMap<&str, &Member<'_>> = wanted.iter().map(|m| (m.name.as_str(), m)).collect();
    for node in current.nodes() {
        if !by_name.contains_key(node.name()) {
            builder.remove_node(node.name())?;
        }
    }
    for m in wanted {
        match builder.node(&m.name) {
            None => builder.add_node(
                Node::new(m.name.as_str())
                    .with_weight(m.weight)
                    .with_payload(Arc::new(m.backend.clone())),
            )?,
            Some(node) => {
                let same_backend = node.payload_as::<Backend>() == Some(m.backend);
                if node.weight() != m.weight {
                    builder.set_weight(&m.name, m.weight)?;
                }
                if !same_backend {
                    builder.set_payload(&m.name, Some(Arc::new(m.backend.clone())))?;
                }
            }
        }
    }
    Ok(())
}
