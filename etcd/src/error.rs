//! The errors of the etcd membership.

/// An error of [`crate::EtcdMembership`] or [`crate::Registration`].
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// etcd could not be reached, or answered with an error.
    #[error("etcd: {0}")]
    Etcd(#[from] etcd_client::Error),
    /// The watch was cancelled because its revision was compacted (the sync re-lists).
    #[error("watch revision {wanted} compacted (etcd keeps history from {compacted})")]
    Compacted {
        /// The revision the watch asked for.
        wanted: i64,
        /// etcd's compaction revision.
        compacted: i64,
    },
    /// The watch stream ended or was cancelled.
    #[error("watch ended: {0}")]
    WatchEnded(String),
    /// A response without the header every etcd response carries.
    #[error("etcd response without a header")]
    NoHeader,
    /// An invalid argument (an empty endpoint list, a zero ttl, a bad name).
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// Waited longer than asked.
    #[error("timed out after {0:?}")]
    Timeout(std::time::Duration),
}
