//! Why a selection could not be built.

/// Why a selection could not be built from a backend set. The selection then keeps serving the
/// last backend set it was built from (none at first), and [`crate::RingConfig::last_error`]
/// reports the error.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A backend's weight does not fit the 32 bits ringroute weighs nodes with.
    #[error(
        "backend {backend} has weight {weight}, above the largest node weight {}",
        u32::MAX
    )]
    WeightTooLarge {
        /// The backend's address.
        backend: String,
        /// Its weight.
        weight: usize,
    },
    /// ringroute refused the membership (too many nodes or points, a weight sum Maglev rejects...).
    #[error(transparent)]
    Ring(#[from] ringroute::Error),
}

/// A result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
