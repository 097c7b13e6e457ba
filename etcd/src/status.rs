//! How current a router's ring is: the last applied etcd revision, whether the watch is live,
//! since when it is not, and what was skipped.

use std::time::{Duration, Instant};

/// The state of a membership sync ([`crate::SyncHandle::status`]).
#[derive(Debug, Clone, Default)]
pub struct Status {
    /// The last etcd revision applied to the router (0 before the first list).
    pub revision: i64,
    /// Whether the watch is live: the ring is etcd's as of the last event it delivered.
    pub synced: bool,
    /// When the sync was last lost (`None` while synced, or before the first list).
    pub lost_at: Option<Instant>,
    /// How many times the prefix was listed (the first list and each re-list).
    pub lists: u64,
    /// Values skipped: records that do not decode, configs the router cannot apply.
    pub skipped: u64,
    /// Publications the router refused (a ring over its limits); the last ring stays.
    pub failed_publications: u64,
    /// The last error met (connection, compaction, refused publication), if any.
    pub last_error: Option<String>,
}

impl Status {
    /// How long the ring may have been behind etcd: `None` while synced, the time since the sync
    /// was lost otherwise (or since the start, before the first list).
    pub fn staleness(&self, started: Instant) -> Option<Duration> {
        if self.synced {
            None
        } else {
            Some(self.lost_at.unwrap_or(started).elapsed())
        }
    }
}

/// One publication of the sync task, in the order they happen ([`crate::SyncHandle::applied`]).
#[derive(Debug, Clone)]
pub struct Applied {
    /// The etcd revision the router's ring now reflects: every event up to it, none after.
    pub revision: i64,
    /// The revisions of the watch events applied (ascending, each once); empty for a list.
    pub revisions: Vec<i64>,
    /// Whether this is a (re-)list of the whole prefix rather than watch events.
    pub list: bool,
    /// The router's snapshot version after it.
    pub version: u64,
    /// The router's ring fingerprint after it.
    pub fingerprint: u64,
    /// When it was published.
    pub at: Instant,
}
