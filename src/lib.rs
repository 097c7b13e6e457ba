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
//!   change against a working membership ([`Builder`]); commit merges the changed nodes' points into the
//!   old sorted points (O(points), unchanged nodes are never re-hashed), builds the search index, and
//!   publishes the new immutable [`Snapshot`] with one pointer swap. An error anywhere publishes nothing.
//! - **Search**: the sorted points are laid out in a cache-line-aligned Eytzinger array with a parallel
//!   owner array, searched by a branchless descent with software prefetch; it returns exactly what a
//!   sorted-array lower bound with wrap-around ([`search::lower_bound_wrap`]) returns.
//! - **Placement** is a published contract ([`Placement`], [`Profile`]): hash functions are fixed and
//!   documented, never seeded at random, and golden tests pin the key → node mapping. The `native`
//!   profile reproduces fastring's mapping bit for bit.
//!
//! ## Trade-offs
//!
//! - Every update copies the point arrays: O(points) per transaction. Group changes in one transaction
//!   to pay once. Lookups never pay for updates.
//! - Equal point positions (a 64-bit hash collision) are ordered by node insertion, as fastring does, so
//!   two processes that add the same nodes in a different order could disagree on such a point. The
//!   chance is about `points² / 2^65`: negligible, and [`Snapshot::fingerprint`] ignores order.
//! - Retired snapshots live until no reader can see them; a reader that pins for a very long time
//!   delays that (never a writer).

#![warn(missing_docs)]

mod analysis;
mod builder;
mod error;
pub mod hash;
mod node;
mod placement;
mod router;
pub mod search;
mod snapshot;
mod sync;

pub use analysis::{distribution, key_space, moved_arc, moved_fraction, Distribution, NodeShare};
pub use builder::{Builder, MAX_NODES, MAX_POINTS};
pub use error::{Error, Result};
pub use node::{Node, NodeId, Payload};
pub use placement::{Placement, Profile};
pub use router::{Pinned, Reader, Router, Transaction};
pub use snapshot::Snapshot;
