//! # ringroute-pingora
//!
//! ringroute's consistent hashing inside Cloudflare's [pingora]: backend selections for
//! `pingora-load-balancing` (0.9) that plug into `LoadBalancer` like its own `KetamaHashing`.
//!
//! - [`RingSelection`]: a hash ring of any ringroute profile; the default, `nginx`, picks exactly
//!   `KetamaHashing`'s backend for every key, from a faster index.
//! - [`MaglevSelection`]: Envoy's Maglev table, bit for bit.
//! - Both iterate a key's *distinct* backends (owner first, then its walk), so
//!   `LoadBalancer::select(key, max_iterations)` skips unhealthy backends as pingora users expect,
//!   `max_iterations` counting backends rather than ring points.
//! - Cheap rebuilds: pingora rebuilds the selection whenever the discovered backend set changes,
//!   through `build_with_config`; the config ([`RingConfig`], [`MaglevConfig`]) keeps the last
//!   ring, and the rebuild edits it (only the changed backends' points are hashed; unchanged pages
//!   of the ring are shared).
//! - Bounded loads ([`BoundedBackends`]): a backend per request with a lease counting it in
//!   flight, each backend capped at `ceil(factor · (in_flight + 1) · w_i / W)`; pingora's health
//!   checks feed it through [`BoundedBackends::health_observer`].
//! - With the `proxy` feature (on by default), [`proxy`]: a session-affinity reverse proxy on
//!   pingora-proxy (`examples/affinity_proxy.rs` runs it).
//!
//! ```
//! use pingora_load_balancing::{discovery, Backend, Backends, LoadBalancer};
//! use ringroute_pingora::{MaglevConfig, MaglevSelection};
//!
//! let backends: std::collections::BTreeSet<Backend> =
//!     ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"].iter().map(|a| Backend::new(a).unwrap()).collect();
//! let lb = LoadBalancer::<MaglevSelection>::from_backends_with_config(
//!     Backends::new(discovery::Static::new(backends)),
//!     Some(MaglevConfig::new(65_537)?),
//! );
//! tokio::runtime::Runtime::new()?.block_on(lb.update())?; // discovery, then the build
//! let backend = lb.select(b"session-1234", 3).unwrap(); // the first healthy of 3 distinct backends
//! assert_eq!(lb.select(b"session-1234", 3), Some(backend));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [pingora]: https://github.com/cloudflare/pingora

mod bounded;
mod config;
mod error;
mod maglev;
mod members;
#[cfg(feature = "proxy")]
pub mod proxy;
mod selection;

pub use bounded::{BackendLease, BoundedBackends};
pub use config::RingConfig;
pub use error::{Error, Result};
pub use maglev::{MaglevConfig, MaglevSelection};
pub use selection::{DistinctBackends, Ring, RingSelection};
