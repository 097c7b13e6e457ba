//! The fixed hash functions that placement is built on.
//!
//! Placement is a published contract: these functions are never seeded at random and never change
//! between releases. Each placement profile says which of them it uses and how.

/// XXH3-64 with seed 0 (the `xxh3_64` of the xxHash specification, as fastring and `xxhash-rust` compute
/// it). The key hash and point hash of the `native` profile.
///
/// ```
/// // fastring places key "key-0" at 9340302149712544120 (../shared/vectors/fastring.n10.tsv).
/// assert_eq!(ringroute::hash::xxh3_64(b"key-0"), 9340302149712544120);
/// ```
#[inline]
pub fn xxh3_64(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}
