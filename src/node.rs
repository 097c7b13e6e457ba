//! Nodes: the members of a ring, with their weight and metadata.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// The opaque user payload a node can carry (a client handle, a Python object, ...).
///
/// ringroute never looks inside it; [`Node::payload_as`] downcasts it back.
pub type Payload = Arc<dyn Any + Send + Sync>;

/// The dense index of a node inside one [`Snapshot`](crate::Snapshot).
///
/// Ids run from 0 to `len - 1` in insertion order and are local to the snapshot they came from: after a
/// node is removed, the nodes added after it move down by one. Names are the identity that lasts across
/// snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub(crate) u32);

impl NodeId {
    /// Wraps a raw index. Only meaningful for the snapshot whose ids it came from.
    #[inline]
    pub const fn new(index: u32) -> Self {
        Self(index)
    }

    /// The raw index into the snapshot's node table.
    #[inline]
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// The raw `u32`.
    #[inline]
    pub const fn get(self) -> u32 {
        self.0
    }
}

/// A member of the ring: a unique non-empty name, a weight, optional hostname and port, and an optional
/// opaque payload.
///
/// Build one with [`Node::new`] and the `with_*` methods; the ring validates it when it is added.
///
/// ```
/// use ringroute::Node;
/// let n = Node::new("cache-1").with_weight(2).with_hostname("10.0.0.1").with_port(11211);
/// assert_eq!(n.name(), "cache-1");
/// assert_eq!(n.weight(), 2);
/// assert_eq!(n.port(), Some(11211));
/// ```
#[derive(Clone)]
pub struct Node {
    pub(crate) name: Arc<str>,
    pub(crate) weight: u32,
    /// The hostname, port and payload, boxed apart: most nodes carry none, and a ring holds every
    /// node (32 bytes a node instead of 56).
    meta: Option<Box<Meta>>,
}

/// A node's optional metadata (see [`Node::meta`]).
#[derive(Clone, Default)]
struct Meta {
    hostname: Option<Arc<str>>,
    port: Option<u16>,
    payload: Option<Payload>,
}

impl Node {
    /// A node of weight 1 with no metadata.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Self {
            name: name.into(),
            weight: 1,
            meta: None,
        }
    }

    /// Sets the weight. Weight 0 registers the node but gives it no points (drained).
    #[must_use]
    pub fn with_weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    /// Sets the hostname metadata.
    #[must_use]
    pub fn with_hostname(mut self, hostname: impl Into<Arc<str>>) -> Self {
        self.set_hostname(Some(hostname.into()));
        self
    }

    /// Sets the port metadata.
    #[must_use]
    pub fn with_port(mut self, port: u16) -> Self {
        self.set_port(Some(port));
        self
    }

    /// Attaches an opaque payload.
    #[must_use]
    pub fn with_payload(mut self, payload: Payload) -> Self {
        self.set_payload(Some(payload));
        self
    }

    /// Sets or clears the hostname.
    pub(crate) fn set_hostname(&mut self, hostname: Option<Arc<str>>) {
        self.edit_meta(|m| m.hostname = hostname);
    }

    /// Sets or clears the port.
    pub(crate) fn set_port(&mut self, port: Option<u16>) {
        self.edit_meta(|m| m.port = port);
    }

    /// Sets or clears the payload.
    pub(crate) fn set_payload(&mut self, payload: Option<Payload>) {
        self.edit_meta(|m| m.payload = payload);
    }

    /// Changes the metadata with `edit`: boxed while something is set, freed once nothing is.
    fn edit_meta(&mut self, edit: impl FnOnce(&mut Meta)) {
        let mut meta = self.meta.take().map_or_else(Meta::default, |b| *b);
        edit(&mut meta);
        let empty = meta.hostname.is_none() && meta.port.is_none() && meta.payload.is_none();
        self.meta = (!empty).then(|| Box::new(meta));
    }

    /// The node's name, its identity across snapshots.
    #[inline]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The node's weight (0 = drained: registered, owns no points).
    #[inline]
    pub fn weight(&self) -> u32 {
        self.weight
    }

    /// The hostname, if one was set.
    #[inline]
    pub fn hostname(&self) -> Option<&str> {
        self.meta.as_deref()?.hostname.as_deref()
    }

    /// The port, if one was set.
    #[inline]
    pub fn port(&self) -> Option<u16> {
        self.meta.as_deref()?.port
    }

    /// The payload, if one was set.
    #[inline]
    pub fn payload(&self) -> Option<&Payload> {
        self.meta.as_deref()?.payload.as_ref()
    }

    /// The payload downcast to `T`, or `None` if there is none or it is of another type.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use ringroute::Node;
    /// let n = Node::new("a").with_payload(Arc::new(42u32));
    /// assert_eq!(n.payload_as::<u32>(), Some(&42));
    /// assert_eq!(n.payload_as::<String>(), None);
    /// ```
    pub fn payload_as<T: Any>(&self) -> Option<&T> {
        self.payload()?.downcast_ref::<T>()
    }
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.name)
            .field("weight", &self.weight)
            .field("hostname", &self.hostname())
            .field("port", &self.port())
            .field("payload", &self.payload().map(|_| ".."))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_boxed_apart_and_freed_once_cleared() {
        // A ring holds every node: the fields most nodes leave empty take one pointer.
        assert_eq!(std::mem::size_of::<Node>(), 32);
        let mut n = Node::new("a").with_hostname("h").with_port(7);
        assert_eq!((n.hostname(), n.port()), (Some("h"), Some(7)));
        assert!(n.payload().is_none());
        n.set_hostname(None);
        assert_eq!((n.hostname(), n.port()), (None, Some(7)));
        assert!(n.meta.is_some());
        n.set_port(None);
        assert!(n.meta.is_none(), "no metadata left: nothing boxed");
        n.set_payload(Some(Arc::new(5u8)));
        assert_eq!(n.payload_as::<u8>(), Some(&5));
        assert_eq!(
            format!("{n:?}"),
            r#"Node { name: "a", weight: 1, hostname: None, port: None, payload: Some("..") }"#
        );
    }
}
