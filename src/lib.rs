//! # ringroute
//!
//! A consistent-hash routing engine: send each key (a user id, a cache key, a client address) to one
//! of many backends, and keep almost every key where it was when backends come and go.
//!
//! ## Quickstart
//!
//! ```
//! use ringroute::{Node, Placement, Router};
//!
//! // A router is shared by every thread of a service (it is `Send + Sync` and cheap to clone).
//! let router = Router::new(Placement::native());
//! router.update(|tx| {
//!     tx.add_node(Node::new("cache-a").with_hostname("10.0.0.1").with_port(11211))?;
//!     tx.add_node(Node::new("cache-b").with_hostname("10.0.0.2").with_port(11211))?;
//!     tx.add_node(Node::new("cache-c").with_weight(2))?;
//!     Ok(())
//! })?;
//!
//! // Readers pin the current snapshot once and route many keys against it, lock-free.
//! let snap = router.pin();
//! let owner = snap.route("user:42").expect("the ring has nodes");
//! let replicas = snap.replicas("user:42", 2); // distinct nodes, primary first
//! assert_eq!(snap.node(replicas[0]).unwrap().name(), owner.name());
//! drop(snap);
//!
//! // Removing a node moves only the keys it owned.
//! let before = router.load();
//! router.remove_node("cache-b")?;
//! let after = router.load();
//! for i in 0..1000 {
//!     let key = format!("key-{i}");
//!     let (was, now) = (before.route(&key).unwrap(), after.route(&key).unwrap());
//!     assert!(was.name() == now.name() || was.name() == "cache-b");
//! }
//! # Ok::<(), ringroute::Error>(())
//! ```
//!
//! ## How it works
//!
//! - **Read path** (lock-free, allocation-free): key bytes → the placement's key hash (a `u64`
//!   position) → the snapshot's search index → the owner's dense [`NodeId`] → `&`[`Node`]. A reader
//!   takes the current snapshot once ([`Router::pin`], [`Router::load`] or a cached [`Reader`]) and keeps
//!   it for a whole batch; nothing on the path locks, allocates, or writes shared memory.
//! - **Write path** (serialised among writers, never blocking readers): a [`Transaction`] validates each
//!   change against a working membership ([`Builder`]); commit hashes only the changed nodes' points,
//!   writes the pages of the search index those points fall in (a radix ring is stored in pages of
//!   40–64 points that snapshots share, so a one-node change at 1000 nodes rewrites ~4 % of them; a
//!   full rebuild only when the table's size changes), and publishes the new immutable [`Snapshot`]
//!   with one pointer swap. Readers of the new snapshot keep every unchanged page in their caches.
//!   Profiles whose points depend on the whole membership rebuild the ring at every change, as
//!   their originals do. An error anywhere publishes nothing.
//! - **Search** ([`search`], [`Layout`]): rings of up to 65,536 nodes use a radix-indexed array of
//!   packed points (48 position bits above a 16-bit owner, so the owner sits in the cache line just
//!   compared; the other 16 position bits in the page's cold tail); a table indexed by the top bits
//!   of a key gives its bucket of about two points, counted in one vector compare. Rings of up to
//!   16,384 buckets (~200 nodes of 160 points) are flat: their points in one array, and a directory
//!   of each bucket's first slot, read in one step; a publication writes them whole. Larger rings
//!   are paged: a lookup reads its page's address first, and a publication rewrites only the pages
//!   its points fall in. 32-bit profiles' positions are shifted to
//!   the top of the packed field. Rings of more nodes use a cache-line-aligned Eytzinger array with
//!   a parallel owner array, searched by a branchless descent with software prefetch. Both return
//!   exactly what a sorted-array lower bound with wrap-around ([`search::lower_bound_wrap`]) returns;
//!   the radix layout measured faster at every size (`benches/search.rs`, `docs/performance.md`).
//! - **Batch lookups** ([`Snapshot::route_batch`], [`Snapshot::route_hash_batch`]) hash and search
//!   many keys per call into a caller's slice: keys travel in groups whose memory loads overlap, and
//!   buckets are counted with AVX-512 or AVX2 compares, picked at run time ([`Kernel::detect`]), with a
//!   portable path for other CPUs; md5 profiles hash 8 or 16 keys at once (multi-lane md5). Every
//!   kernel gives the scalar reference's answers (property tests run each one the CPU has).
//! - **Placement** is a published contract ([`Placement`], [`Profile`]): hash functions are fixed and
//!   documented ([`hash`]), never seeded at random, and golden tests pin the key → node mapping. The
//!   `native` profile reproduces fastring's mapping bit for bit.
//!
//! ## Where the code is
//!
//! A key through [`Snapshot::route`]: `snapshot` (hash the key with the [`Placement`], apply the
//! profile's tie rule) → `ring` (the membership's points, held by their search index) → `search`
//! (the `search::Index` enum picks `radix` or `eytzinger`; `radix` counts the key's bucket in the
//! pages of `search::packed`, which holds the storage format and all its `unsafe`) → the owner's
//! [`NodeId`] → the snapshot's node table.
//!
//! A change through [`Router::transaction`]: `router` (the writer lock, the epoch-protected pointer
//! and its swap) → `builder` (the working membership, validated change by change; `build` numbers
//! the nodes) → `ring` (`merge`: the changed nodes' points hashed and handed to the index;
//! `build`: everything hashed afresh) → `search::packed::merge` (the pages the change touches
//! rewritten, the rest shared) → a new [`Snapshot`] published by `router`.
//!
//! The rest: `placement` (profiles and their hash rules, one file each), `maglev` (Envoy's Maglev
//! table, which the `maglev` placement's ring is made of; `search::table` looks it up), `hash` and
//! `md5x` (the hash functions, multi-lane md5), `fingerprint`, `names` (the name → id table), `node`,
//! `keys` ([`Keys`], a batch of keys in one buffer), `health` (down nodes, applied along a key's walk
//! by `snapshot::walk`; [`Router::mark_down`] publishes a snapshot with a new bitmap only),
//! `bounded` ([`BoundedLoad`]: leases over per-node in-flight counters), `analysis` (exact shares and
//! moved fractions), `movement` ([`movement()`]: the exact from → to flows between two rings),
//! `events` ([`ChangeEvent`]s for [`Router::subscribe`] and the `ringroute` log target), `timing`
//! ([`PublishTimes`]), `membership` (membership files, features `serde` and `toml`), `sync` (the
//! concurrency primitives, swapped for loom's under `--cfg loom`).
//! `unsafe` lives in `search::packed`, `search::simd`, `search::prefetch`, `md5x`, `maglev::lanes`
//! (the Maglev fill's AVX-512F probe), `maglev::hash_lanes` (XXH64 of Maglev batch keys in
//! AVX-512 lanes), `router` and `bounded` (its epoch-protected table, as `router`'s snapshot, and
//! `slot`), `node_table` (pointers into the nodes its chunks hold) and
//! `placement::native_points::lanes` (native point hashes in AVX-512 lanes), each block with its
//! `// SAFETY:` note (the workspace denies undocumented ones).
//!
//! ## Compatibility profiles
//!
//! A service that already routes with another library can move to ringroute without reshuffling its
//! caches: each profile gives exactly the owners (and replica walks) of its original, for the same
//! membership built in the same order, through the same snapshots, search and router.
//!
//! | profile | reproduces | verified by |
//! |---|---|---|
//! | `native` (`fastring`) | fastring 0.2.1 | `tests/golden_fastring.rs` (vectors) |
//! | `uhashring` | uhashring 2.x default (md5, 128-bit positions) | `tests/golden_profiles.rs` (vectors) |
//! | `uhashring-ketama` | uhashring 2.x `hash_fn="ketama"` | `tests/golden_profiles.rs` (vectors) |
//! | `hash_ring` | amix's hash_ring 1.3.1 | `tests/golden_profiles.rs` (vectors) |
//! | `continuum` | python-continuum 0.1.1, quirks included | `tests/golden_profiles.rs` (vectors) |
//! | `nginx` | nginx `hash $key consistent` / pingora-ketama | `tests/oracle_pingora.rs` (pingora-ketama, an nginx log) |
//! | `libmemcached` | libmemcached ketama, pylibmc `ketama_weighted` | `tests/libmemcached_oracle.rs` (real memcached) |
//! | `libmemcached-ketama` | libmemcached ketama, pylibmc `ketama` | `tests/libmemcached_oracle.rs` (real memcached) |
//!
//! Every profile is also checked against an independent reference implementation of its rule on
//! random memberships and keys (`tests/prop_profiles.rs`). How each profile reads `virtual_nodes`
//! differs (points per weight, md5 groups per average node, or points of the whole ring): see its
//! [`Profile`] variant.
//!
//! - **Tie rule**: the search is always "first point `>=` x"; a profile whose original says "first
//!   point `>` h" searches from `h + 1` (wrapping, which also gives the wrap-around for free).
//! - **Wide positions**: uhashring's 128-bit md5 positions are stored as their top 64 bits, with the low
//!   64 bits in a cold side array that is read only when a key's top 64 bits equal a point's, so every
//!   answer is exact ([`Snapshot::key_hash_wide`], [`Snapshot::route_wide`]).
//! - **Membership-dependent points** ([`Profile::membership_dependent`]: the ketama family, continuum,
//!   libmemcached): a node's points depend on the number of nodes and the total weight, so every change
//!   regenerates all points, as the originals do, and moves some keys between nodes that did not
//!   change.
//! - **Equal points** follow the original: kept in insertion order (fastring, continuum, libmemcached),
//!   collapsed to the node added last (uhashring's dict, the ketama rings) or first (nginx).
//! ## Trade-offs
//!
//! - A publication costs O(pages) for the page table and O(changed points) for the pages it writes;
//!   group changes in one transaction to pay once. Lookups never pay for updates.
//! - Equal point positions (a hash collision) are resolved by node insertion order (see the profile), so
//!   two processes that add the same nodes in a different order could disagree on such a point. The
//!   chance is about `points² / 2^65`: negligible, and [`Snapshot::fingerprint`] ignores order.
//! - Retired snapshots live until no reader can see them; a reader that pins for a very long time
//!   delays that (never a writer).

#![warn(missing_docs)]

mod analysis;
mod bounded;
mod builder;
mod cache;
mod error;
mod events;
mod fingerprint;
mod flags;
pub mod hash;
mod health;
mod kept;
mod keys;
mod maglev;
mod md5x;
#[cfg(feature = "serde")]
pub mod membership;
mod movement;
mod names;
mod node;
mod node_table;
mod placement;
mod ring;
mod router;
pub mod search;
mod snapshot;
mod sync;
mod timing;

pub use analysis::{distribution, key_space, moved_arc, moved_fraction, Distribution, NodeShare};
pub use bounded::{BoundedLoad, Lease};
pub use builder::{Builder, MAX_NODES, MAX_POINTS};
pub use error::{Error, Result};
pub use events::{ChangeEvent, Reweight};
pub use health::AllDown;
pub use keys::Keys;
pub use movement::{movement, Flow, Movement};
pub use node::{Node, NodeId, Payload};
pub use placement::{Placement, Profile};
pub use router::{Pinned, Reader, Router, Transaction};
pub use search::{Kernel, Layout};
pub use snapshot::{Snapshot, NO_OWNER};
pub use timing::{PublishTimes, PUBLISH_BUCKETS};

/// Frees the memory full builds keep for the builds after them, and returns how many bytes it
/// held.
///
/// A full build of a large ring writes megabytes of scratch (at 10,000 nodes of 160 points, 14 MB
/// besides the ring's own 16 MB of pages). Freed to the system allocator, that memory often comes
/// back as fresh pages that fault in again, a fifth of such a build's time. So a build keeps its
/// scratch, and a ring that is gone its pages' memory, for the next build of about the same size:
/// process-wide, one array of pages, one of partitions and two of scratch, each the size of a ring
/// built before (30 MB after a 10,000-node build, 4.2 MB after a 1000-node one). A process done
/// building rings for a while can give them back with this; the next build then allocates afresh.
///
/// ```
/// use ringroute::{Node, Placement, Snapshot};
///
/// let ring = Snapshot::new(Placement::default(), (0..1000).map(|i| Node::new(format!("n{i}"))))?;
/// drop(ring);
/// assert!(ringroute::release_build_memory() > 0);
/// assert_eq!(ringroute::release_build_memory(), 0);
/// # Ok::<(), ringroute::Error>(())
/// ```
pub fn release_build_memory() -> usize {
    kept::release()
}

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
