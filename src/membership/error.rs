//! The error of a membership file: where (file, node, field) and why, in one line.

use std::fmt;
use std::path::{Path, PathBuf};

/// A membership that cannot be read, decoded or built.
///
/// It names the file (when it came from one), the node (its index in the `nodes` list and, when it
/// has one, its name) and the field, so the message can be shown to an operator as it is:
///
/// ```text
/// ring.json: node 2 ("cache-c"): field "weight": expected an integer in 0..=4294967295, got "two"
/// ```
///
/// Nothing is loaded from a membership that has an error.
#[derive(Debug, Clone, PartialEq)]
pub struct MembershipError {
    /// The file the membership came from, if any.
    pub file: Option<PathBuf>,
    /// The index of the node in the `nodes` list and its name (if it has a readable one).
    pub node: Option<(usize, Option<String>)>,
    /// The field at fault (`weight`, `placement`, ...), if one is.
    pub field: Option<String>,
    /// What is wrong.
    pub reason: String,
}

impl MembershipError {
    /// An error with a reason only.
    pub(crate) fn new(reason: impl Into<String>) -> Self {
        Self {
            file: None,
            node: None,
            field: None,
            reason: reason.into(),
        }
    }

    /// An error about `field` of the ring's configuration (or the document's top level).
    pub(crate) fn field(field: &str, reason: impl Into<String>) -> Self {
        Self {
            field: Some(field.to_owned()),
            ..Self::new(reason)
        }
    }

    /// Says which node the error is about.
    pub(crate) fn at_node(mut self, index: usize, name: Option<&str>) -> Self {
        self.node = Some((index, name.map(str::to_owned)));
        self
    }

    /// Says which file the error is about (keeps a file already named).
    #[must_use]
    pub fn in_file(mut self, path: &Path) -> Self {
        if self.file.is_none() {
            self.file = Some(path.to_owned());
        }
        self
    }
}

impl fmt::Display for MembershipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}: ", file.display())?;
        }
        match &self.node {
            Some((i, Some(name))) => write!(f, "node {i} ({name:?}): ")?,
            Some((i, None)) => write!(f, "node {i}: ")?,
            None => {}
        }
        if let Some(field) = &self.field {
            write!(f, "field {field:?}: ")?;
        }
        // One line, whatever the reason's source wrote.
        f.write_str(&self.reason.replace('\n', " "))
    }
}

impl std::error::Error for MembershipError {}
