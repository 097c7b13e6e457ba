//! The error type of every fallible ringroute operation.

use thiserror::Error;

/// Everything that can go wrong when building or changing a ring.
///
/// Every variant names the node and, where there is one, the limit it ran into, so the message can be
/// shown to an operator as it is. No operation of ringroute panics on bad input: it returns one of
/// these, and a transaction that returns one publishes nothing.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum Error {
    /// A node name must be non-empty.
    #[error("node name must not be empty")]
    EmptyName,
    /// A node with this name is already in the ring.
    #[error("node {name:?} is already in the ring")]
    DuplicateNode {
        /// The name that was added twice.
        name: String,
    },
    /// No node with this name is in the ring.
    #[error("node {name:?} is not in the ring")]
    UnknownNode {
        /// The name that was looked up.
        name: String,
    },
    /// `weight × virtual_nodes` does not fit the point index (a `u32`, as in fastring).
    #[error(
        "node {name:?}: weight {weight} x {virtual_nodes} virtual nodes overflows the per-node point limit {limit}"
    )]
    WeightOverflow {
        /// The node whose weight is too large.
        name: String,
        /// Its weight.
        weight: u32,
        /// Virtual nodes per unit of weight.
        virtual_nodes: u32,
        /// The largest number of points one node may have.
        limit: u64,
    },
    /// The whole ring would hold more points than [`crate::MAX_POINTS`].
    #[error("ring would hold {points} points, over the limit of {limit}")]
    TooManyPoints {
        /// Points the membership would need.
        points: u64,
        /// The limit, [`crate::MAX_POINTS`].
        limit: u64,
    },
    /// The ring would hold more nodes than [`crate::MAX_NODES`].
    #[error("ring would hold {nodes} nodes, over the limit of {limit}")]
    TooManyNodes {
        /// Nodes the membership would hold.
        nodes: u64,
        /// The limit, [`crate::MAX_NODES`].
        limit: u64,
    },
    /// A node name that the placement profile cannot hash as its original would.
    #[error("node {name:?} cannot join a {profile} ring: {reason}")]
    InvalidNodeName {
        /// The name.
        name: String,
        /// The profile that rejects it.
        profile: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// Virtual nodes per unit of weight must be at least 1.
    #[error("virtual_nodes must be at least 1 (got {0})")]
    InvalidVirtualNodes(u32),
    /// A batch lookup's output slice is not as long as its input.
    #[error("batch of {keys} keys needs an output slice of {keys}, got {out}")]
    BatchLength {
        /// Number of keys.
        keys: usize,
        /// Length of the output slice.
        out: usize,
    },
    /// A batch kernel was asked for that this CPU cannot run.
    #[error("search kernel {kernel:?} is not available on this CPU")]
    KernelUnavailable {
        /// The kernel's name.
        kernel: &'static str,
    },
    /// A placement profile name that ringroute does not know.
    #[error("unknown placement profile {name:?}; valid profiles: {valid}")]
    UnknownProfile {
        /// The name asked for.
        name: String,
        /// The valid names, comma-separated.
        valid: String,
    },
    /// A Maglev table size that is not a prime number (Envoy: "The table size of maglev must be prime
    /// number"). 0 and 1 are not primes.
    #[error("maglev table size {size} is not a prime number")]
    TableSizeNotPrime {
        /// The size asked for.
        size: u64,
    },
    /// A Maglev table size above the largest Envoy accepts.
    #[error("maglev table size {size} is over the limit of {limit}")]
    TableSizeTooLarge {
        /// The size asked for.
        size: u64,
        /// The largest table size, 5,000,011 (Envoy's `Maglev.table_size` bound).
        limit: u64,
    },
    /// Host weights whose sum Envoy rejects (it accumulates them in a `uint32_t`-bounded sum).
    #[error("host weights sum to {total}, over the limit of {limit}")]
    TotalWeightTooLarge {
        /// The sum of the weights.
        total: u64,
        /// The limit, `u32::MAX`.
        limit: u64,
    },
    /// A bounded-load balance factor must be a finite number above 1 ([`crate::BoundedLoad::new`]).
    #[error("balance factor must be a finite number above 1, got {factor}")]
    BadBalanceFactor {
        /// The factor asked for.
        factor: f64,
    },
}

/// `Result` with ringroute's [`Error`](enum@Error).
pub type Result<T, E = Error> = std::result::Result<T, E>;
