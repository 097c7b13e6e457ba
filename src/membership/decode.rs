//! Decoding a membership document (already parsed into JSON values), field by field, so that every
//! error names its node and field and no value is silently converted (`1.0` is not a weight).

use serde_json::{Map, Value};

use super::{MemberRecord, Membership, MembershipError, NodeRecord, RingConfig};

/// The fields of a node record, for messages.
const NODE_FIELDS: &str = "name, weight, hostname, port, meta";
/// The fields of the document's top level, for messages.
const TOP_FIELDS: &str = "placement, virtual_nodes, table_size, nodes";

/// A short description of a JSON value, for messages.
fn describe(v: &Value) -> String {
    let text = v.to_string();
    let short: String = text.chars().take(40).collect();
    if short.len() < text.len() {
        format!("{short}...")
    } else {
        text
    }
}

/// An unsigned integer of at most `max`, or `null` (`None`).
fn uint(v: &Value, field: &str, max: u64) -> Result<Option<u64>, MembershipError> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => match n.as_u64() {
            Some(x) if x <= max => Ok(Some(x)),
            _ => Err(MembershipError::field(
                field,
                format!("expected an integer in 0..={max}, got {n}"),
            )),
        },
        other => Err(MembershipError::field(
            field,
            format!("expected an integer in 0..={max}, got {}", describe(other)),
        )),
    }
}

/// A string, or `null` (`None`).
fn string(v: &Value, field: &str) -> Result<Option<String>, MembershipError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        other => Err(MembershipError::field(
            field,
            format!("expected a string, got {}", describe(other)),
        )),
    }
}

impl RingConfig {
    /// Decodes the ring settings of a document's top level (the `nodes` key is not looked at), so
    /// that a membership store can keep them apart from the nodes. Missing keys take the defaults;
    /// unknown keys are errors.
    ///
    /// Errors name the field; a setting the placement rejects (an unknown profile, a table size
    /// that is not a prime) is reported by [`RingConfig::placement`].
    pub fn from_json(doc: &Map<String, Value>) -> Result<Self, MembershipError> {
        for key in doc.keys() {
            if !matches!(
                key.as_str(),
                "placement" | "virtual_nodes" | "table_size" | "nodes"
            ) {
                return Err(MembershipError::field(
                    key,
                    format!("unknown field; valid: {TOP_FIELDS}"),
                ));
            }
        }
        let null = Value::Null;
        let get = |k: &str| doc.get(k).unwrap_or(&null);
        let placement =
            string(get("placement"), "placement")?.unwrap_or_else(|| "native".to_owned());
        let virtual_nodes =
            uint(get("virtual_nodes"), "virtual_nodes", u64::from(u32::MAX))?.map(|v| v as u32);
        let table_size = uint(get("table_size"), "table_size", u64::MAX)?;
        let config = RingConfig {
            placement,
            virtual_nodes,
            table_size,
        };
        config.placement()?;
        Ok(config)
    }
}

impl NodeRecord {
    /// Decodes one node record `{"weight", "hostname", "port", "meta"}` (every field optional;
    /// `name` is accepted and ignored here, as [`MemberRecord::from_json`] reads it). Unknown fields
    /// are errors, so that a typo does not pass silently.
    pub fn from_json(record: &Map<String, Value>) -> Result<Self, MembershipError> {
        for key in record.keys() {
            if !matches!(
                key.as_str(),
                "name" | "weight" | "hostname" | "port" | "meta"
            ) {
                return Err(MembershipError::field(
                    key,
                    format!("unknown field; valid: {NODE_FIELDS}"),
                ));
            }
        }
        let null = Value::Null;
        let get = |k: &str| record.get(k).unwrap_or(&null);
        let meta = match get("meta") {
            Value::Null => None,
            Value::Object(m) => Some(m.clone()),
            other => {
                return Err(MembershipError::field(
                    "meta",
                    format!("expected an object, got {}", describe(other)),
                ))
            }
        };
        Ok(NodeRecord {
            weight: uint(get("weight"), "weight", u64::from(u32::MAX))?.map(|w| w as u32),
            hostname: string(get("hostname"), "hostname")?,
            port: uint(get("port"), "port", u64::from(u16::MAX))?.map(|p| p as u16),
            meta,
        })
    }
}

impl MemberRecord {
    /// Decodes one entry of a `nodes` list: a bare name, or a record with a `name`.
    pub fn from_json(entry: &Value) -> Result<Self, MembershipError> {
        let (name, record) = match entry {
            Value::String(name) => (name.clone(), NodeRecord::default()),
            Value::Object(m) => {
                let name = match m.get("name") {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => {
                        return Err(MembershipError::field(
                            "name",
                            format!("expected a string, got {}", describe(other)),
                        ))
                    }
                    None => return Err(MembershipError::field("name", "missing")),
                };
                let record = NodeRecord::from_json(m).map_err(|e| e.at_node_name(Some(&name)))?;
                (name, record)
            }
            other => {
                return Err(MembershipError::new(format!(
                    "expected a name or an object, got {}",
                    describe(other)
                )))
            }
        };
        if name.is_empty() {
            return Err(MembershipError::field("name", "must not be empty"));
        }
        Ok(MemberRecord { name, record })
    }
}

impl MembershipError {
    /// Records the node's name on an error whose index the caller adds.
    fn at_node_name(mut self, name: Option<&str>) -> Self {
        self.node = Some((0, name.map(str::to_owned)));
        self
    }
}

impl Membership {
    /// Decodes a membership document: `{"placement", "virtual_nodes", "table_size", "nodes"}`,
    /// every key optional, each node a name or a record. Checks everything a ring would reject
    /// except the limits on points (checked when it is built): types, ranges, unknown fields,
    /// empty and duplicate names, the placement's settings.
    pub fn from_json(doc: &Value) -> Result<Self, MembershipError> {
        let Value::Object(top) = doc else {
            return Err(MembershipError::new(format!(
                "expected an object with a \"nodes\" list, got {}",
                describe(doc)
            )));
        };
        let config = RingConfig::from_json(top)?;
        let entries = match top.get("nodes") {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(a)) => a.as_slice(),
            Some(other) => {
                return Err(MembershipError::field(
                    "nodes",
                    format!("expected a list, got {}", describe(other)),
                ))
            }
        };
        let mut nodes: Vec<MemberRecord> = Vec::with_capacity(entries.len());
        let mut seen = std::collections::HashMap::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let member = MemberRecord::from_json(entry).map_err(|mut e| {
                let name = e
                    .node
                    .take()
                    .and_then(|(_, n)| n)
                    .or_else(|| entry.get("name").and_then(Value::as_str).map(str::to_owned));
                e.at_node(i, name.as_deref())
            })?;
            if let Some(first) = seen.insert(member.name.clone(), i) {
                return Err(MembershipError::field(
                    "name",
                    format!("duplicate: node {first} has the same name"),
                )
                .at_node(i, Some(&member.name)));
            }
            nodes.push(member);
        }
        Ok(Membership { config, nodes })
    }
}
