//! The membership as etcd holds it under a prefix, decoded key by key: node records, health and
//! the ring's config. A key whose value does not decode counts as absent (skipped, counted, logged
//! with its key), so every router derives the same ring from the same etcd revision.

use std::collections::{BTreeMap, BTreeSet};

use ringroute::membership::{Meta, NodeRecord, RingConfig};
use ringroute::{Router, Snapshot};
use serde_json::Value;

/// What a key under the prefix is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Key {
    /// `<prefix>/nodes/<name>`.
    Node(String),
    /// `<prefix>/health/<name>`.
    Health(String),
    /// `<prefix>/config`.
    Config,
}

/// The keys of one membership: `<prefix>/nodes/<name>`, `<prefix>/health/<name>`, `<prefix>/config`.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The prefix with one trailing `/`.
    root: String,
}

impl Layout {
    /// The layout under `prefix` (a trailing `/` is optional).
    pub fn new(prefix: &str) -> Self {
        Self {
            root: format!("{}/", prefix.trim_end_matches('/')),
        }
    }

    /// Every key of the membership starts with this (the prefix and a `/`).
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The key of node `name`'s record.
    pub fn node_key(&self, name: &str) -> String {
        format!("{}nodes/{name}", self.root)
    }

    /// The key of node `name`'s health (`up` or `down`).
    pub fn health_key(&self, name: &str) -> String {
        format!("{}health/{name}", self.root)
    }

    /// The key of the ring's config.
    pub fn config_key(&self) -> String {
        format!("{}config", self.root)
    }

    /// What `key` is, or `None` for a key this membership does not use.
    pub(crate) fn parse(&self, key: &[u8]) -> Option<Key> {
        let rest = std::str::from_utf8(key).ok()?.strip_prefix(&self.root)?;
        if rest == "config" {
            return Some(Key::Config);
        }
        if let Some(name) = rest.strip_prefix("nodes/") {
            return (!name.is_empty()).then(|| Key::Node(name.to_owned()));
        }
        let name = rest.strip_prefix("health/")?;
        (!name.is_empty()).then(|| Key::Health(name.to_owned()))
    }
}

/// Decodes a node record's value.
pub(crate) fn decode_node(value: &[u8]) -> Result<NodeRecord, String> {
    match serde_json::from_slice::<Value>(value) {
        Ok(Value::Object(map)) => NodeRecord::from_json(&map).map_err(|e| e.to_string()),
        Ok(other) => Err(format!("expected a JSON object, got {other}")),
        Err(e) => Err(e.to_string()),
    }
}

/// Decodes a health value: `up` or `down` (bare or as a JSON string). `true` is down.
pub(crate) fn decode_health(value: &[u8]) -> Result<bool, String> {
    match value {
        b"up" | b"\"up\"" => Ok(false),
        b"down" | b"\"down\"" => Ok(true),
        other => Err(format!(
            "expected up or down, got {:?}",
            String::from_utf8_lossy(other)
        )),
    }
}

/// Decodes a config value.
pub(crate) fn decode_config(value: &[u8]) -> Result<RingConfig, String> {
    match serde_json::from_slice::<Value>(value) {
        Ok(Value::Object(map)) => RingConfig::from_json(&map).map_err(|e| e.to_string()),
        Ok(other) => Err(format!("expected a JSON object, got {other}")),
        Err(e) => Err(e.to_string()),
    }
}

/// The nodes a batch of changes touched, or all of them (after a list).
#[derive(Debug, Default)]
pub(crate) struct Touched {
    /// Every node: compare the whole ring.
    pub all: bool,
    /// The names whose record or health changed.
    pub names: BTreeSet<String>,
}

/// The decoded membership of one etcd revision.
#[derive(Debug)]
pub(crate) struct Records {
    layout: Layout,
    nodes: BTreeMap<String, NodeRecord>,
    down: BTreeSet<String>,
    config: Option<RingConfig>,
    /// Values skipped since the start (bad records, configs the router cannot apply).
    pub skipped: u64,
}

impl Records {
    /// No records.
    pub fn new(layout: Layout) -> Self {
        Self {
            layout,
            nodes: BTreeMap::new(),
            down: BTreeSet::new(),
            config: None,
            skipped: 0,
        }
    }

    /// The keys these records are read from.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Forgets every record (before a list), keeping the count of skipped values.
    pub fn clear(&mut self) {
        self.nodes.clear();
        self.down.clear();
        self.config = None;
    }

    /// Counts and logs a skipped value.
    fn skip(&mut self, key: &[u8], why: &str) {
        self.skipped += 1;
        log::warn!(
            target: "ringroute_etcd",
            "skipped {}: {why}",
            String::from_utf8_lossy(key)
        );
    }

    /// Applies a put (`Some(value)`) or a delete (`None`) of `key`; records the node it touches.
    pub fn apply(&mut self, key: &[u8], value: Option<&[u8]>, touched: &mut Touched) {
        match self.layout.parse(key) {
            None => {}
            Some(Key::Node(name)) => {
                let record = match value.map(decode_node) {
                    None => None,
                    Some(Ok(r)) => Some(r),
                    Some(Err(e)) => {
                        self.skip(key, &e);
                        None
                    }
                };
                match record {
                    Some(r) => self.nodes.insert(name.clone(), r),
                    None => self.nodes.remove(&name),
                };
                touched.names.insert(name);
            }
            Some(Key::Health(name)) => {
                let down = match value.map(decode_health) {
                    None => false,
                    Some(Ok(d)) => d,
                    Some(Err(e)) => {
                        self.skip(key, &e);
                        false
                    }
                };
                if down {
                    self.down.insert(name.clone());
                } else {
                    self.down.remove(&name);
                }
                touched.names.insert(name);
            }
            Some(Key::Config) => {
                self.config = match value.map(decode_config) {
                    None => None,
                    Some(Ok(c)) => Some(c),
                    Some(Err(e)) => {
                        self.skip(key, &e);
                        None
                    }
                };
                touched.all = true;
            }
        }
    }

    /// Checks the config against the router's placement: a config naming another placement is
    /// one the router cannot apply (a live router keeps its placement), so it is skipped.
    fn check_config(&mut self, snap: &Snapshot) {
        let Some(config) = &self.config else { return };
        let wanted = config.placement();
        if wanted.as_ref().ok() != Some(&snap.placement()) {
            let why = match wanted {
                Ok(p) => format!(
                    "cannot apply placement {p:?}: the router's is {:?}",
                    snap.placement()
                ),
                Err(e) => e.to_string(),
            };
            let key = self.layout.config_key();
            self.skip(key.as_bytes(), &why);
            self.config = None;
        }
    }

    /// Publishes the records' ring on `router` in one transaction, comparing the nodes `touched`
    /// names (or every node). Publishes nothing if nothing differs; on a build error, nothing.
    pub fn publish(
        &mut self,
        router: &Router,
        touched: &Touched,
    ) -> Result<std::sync::Arc<Snapshot>, ringroute::Error> {
        let current = router.load();
        if touched.all {
            self.check_config(&current);
        }
        let names: BTreeSet<String> = if touched.all {
            current
                .nodes()
                .map(|n| n.name().to_owned())
                .chain(self.nodes.keys().cloned())
                .collect()
        } else {
            touched.names.clone()
        };
        let mut tx = router.transaction();
        for name in &names {
            let present = tx.node(name).cloned();
            match (self.nodes.get(name), present) {
                (None, None) => continue,
                (None, Some(_)) => {
                    tx.remove_node(name)?;
                    continue;
                }
                (Some(r), None) => tx.add_node(r.to_node(name))?,
                (Some(r), Some(node)) => {
                    let weight = r.weight.unwrap_or(1);
                    if node.weight() != weight {
                        tx.set_weight(name, weight)?;
                    }
                    if node.hostname() != r.hostname.as_deref() {
                        tx.set_hostname(name, r.hostname.as_deref().map(Into::into))?;
                    }
                    if node.port() != r.port {
                        tx.set_port(name, r.port)?;
                    }
                    if node.payload_as::<Meta>() != r.meta.as_ref() {
                        let payload = r
                            .meta
                            .clone()
                            .map(|m| std::sync::Arc::new(m) as ringroute::Payload);
                        tx.set_payload(name, payload)?;
                    }
                }
            }
            let down = self.down.contains(name);
            if tx.is_up(name) == Some(down) {
                if down {
                    tx.mark_down(name)?;
                } else {
                    tx.mark_up(name)?;
                }
            }
        }
        tx.commit()
    }

    /// The ring these records describe, built from scratch with `placement` (for checks: a
    /// router synced at this revision has its fingerprint).
    pub fn snapshot(&self, placement: ringroute::Placement) -> Result<Snapshot, ringroute::Error> {
        let mut b = ringroute::Builder::new(placement);
        for (name, r) in &self.nodes {
            b.add_node(r.to_node(name))?;
            if self.down.contains(name) {
                b.mark_down(name)?;
            }
        }
        b.build()
    }
}
