//! What `watch` says on stderr about its connection to etcd: once when it cannot reach etcd (and
//! again when the reason changes), once when the watch is live, once when it is lost, and when
//! values under the prefix are skipped.

use ringroute_etcd::Status;

/// The text of an etcd error without the debug dump of its transport source (what follows
/// `, source: `), which says the same again at length.
pub fn brief(text: &str) -> &str {
    text.split_once(", source: ").map_or(text, |(head, _)| head)
}

/// The state of what was last said.
pub struct Notice {
    endpoints: String,
    prefix: String,
    last_error: Option<String>,
    synced: bool,
    skipped: u64,
}

impl Notice {
    /// Notices about the membership under `prefix` at `endpoints`.
    pub fn new(endpoints: String, prefix: String) -> Self {
        Self {
            endpoints,
            prefix,
            last_error: None,
            synced: false,
            skipped: 0,
        }
    }

    /// The endpoints, comma-separated.
    pub fn endpoints(&self) -> &str {
        &self.endpoints
    }

    /// Says `text` on stderr, on one line.
    pub fn say(&self, text: &str) {
        eprintln!("ringroute: {}", text.replace('\n', " "));
    }

    /// etcd did not answer: says so, unless this reason was said last.
    pub fn unreachable(&mut self, err: &str) {
        if self.last_error.as_deref() != Some(err) {
            self.say(&format!(
                "etcd at {} not reachable ({err}); retrying",
                self.endpoints
            ));
            self.last_error = Some(err.to_owned());
        }
    }

    /// Says what changed in the sync's status since the last call.
    pub fn status(&mut self, s: &Status) {
        if s.synced && !self.synced {
            self.say(&format!(
                "watching {} at {} from revision {}",
                self.prefix, self.endpoints, s.revision
            ));
            self.last_error = None;
        } else if !s.synced {
            let err = brief(s.last_error.as_deref().unwrap_or("no answer yet"));
            if self.synced {
                self.say(&format!("lost etcd ({err}): the last ring stays, retrying"));
                self.last_error = Some(err.to_owned());
            } else if s.last_error.is_some() {
                self.unreachable(err);
            }
        }
        self.synced = s.synced;
        if s.skipped > self.skipped {
            self.say(&format!(
                "{} value(s) under {} skipped so far (a record that does not decode, or a \
                 config naming another placement): they count as absent",
                s.skipped, self.prefix
            ));
            self.skipped = s.skipped;
        }
    }
}
