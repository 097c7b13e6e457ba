//! What a selection is built with: the placement, the last snapshot built (the next rebuild edits
//! it), the last build error, and the optional bounded-load router.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};

use pingora_load_balancing::Backend;
use ringroute::{BoundedLoad, Placement, Profile, Router, Snapshot};

use crate::bounded::BoundedBackends;
use crate::error::{Error, Result};
use crate::members::{apply, members};

/// The configuration of a [`RingSelection`](crate::RingSelection) (`BackendSelection::Config`):
/// the placement profile, and the state a rebuild starts from.
///
/// pingora builds a new selection whenever its discovered backend set changes, handing it the
/// config of its `LoadBalancer`. The config keeps the last snapshot it built, and the next build
/// edits that snapshot (backends that stay keep their points; the ring's unchanged pages are
/// shared), so a one-backend change costs a fraction of a full build. Clones share that state:
/// keep a clone to read [`last_error`](Self::last_error) or take [bounded
/// loads](Self::bounded_loads), and give each `LoadBalancer` a config of its own.
///
/// ```
/// use pingora_load_balancing::{discovery, Backend, Backends, LoadBalancer};
/// use ringroute_pingora::{RingConfig, RingSelection};
///
/// let backends: std::collections::BTreeSet<Backend> =
///     ["10.0.0.1:80", "10.0.0.2:80"].iter().map(|a| Backend::new(a).unwrap()).collect();
/// let config = RingConfig::default(); // the nginx profile: KetamaHashing's choices
/// let lb = LoadBalancer::<RingSelection>::from_backends_with_config(
///     Backends::new(discovery::Static::new(backends)),
///     Some(config.clone()),
/// );
/// // Discovery, then the build (pingora's background service runs this periodically).
/// tokio::runtime::Runtime::new()?.block_on(lb.update())?;
/// assert!(lb.select(b"user:42", 8).is_some());
/// assert!(config.last_error().is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct RingConfig {
    shared: Arc<Shared>,
}

struct Shared {
    placement: Placement,
    last: Mutex<Option<Arc<Snapshot>>>,
    error: Mutex<Option<Error>>,
    bounded: Option<BoundedLoad>,
}

/// The `nginx` profile with its default 160 points per unit of weight.
pub(crate) fn nginx() -> Placement {
    // The profile's own default number of points is always valid.
    Placement::new(Profile::Nginx, None).expect("the nginx profile's default is valid")
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Default for RingConfig {
    /// The `nginx` profile (160 points per unit of weight): exactly `KetamaHashing`'s backends.
    fn default() -> Self {
        Self::new(nginx())
    }
}

impl RingConfig {
    /// A config building rings of `placement` (any ringroute profile).
    pub fn new(placement: Placement) -> Self {
        Self {
            shared: Arc::new(Shared {
                placement,
                last: Mutex::new(None),
                error: Mutex::new(None),
                bounded: None,
            }),
        }
    }

    /// This config with bounded loads of balance `factor` (see [`BoundedBackends`]): every build
    /// also publishes the backend set to the router [`bounded_loads`](Self::bounded_loads) picks
    /// with. Starts afresh (a new config state, not shared with clones of `self`).
    ///
    /// Errors: [`ringroute::Error::BadBalanceFactor`] unless `factor` is finite and above 1.
    pub fn with_bounded_loads(self, factor: f64) -> Result<Self> {
        let placement = self.shared.placement;
        let load = BoundedLoad::new(Router::new(placement), factor)?;
        Ok(Self {
            shared: Arc::new(Shared {
                placement,
                last: Mutex::new(None),
                error: Mutex::new(None),
                bounded: Some(load),
            }),
        })
    }

    /// The placement this config builds with.
    pub fn placement(&self) -> Placement {
        self.shared.placement
    }

    /// The error of the last build, `None` if it succeeded. A failed build leaves the selection
    /// on the last backend set that built (no backends if none did).
    pub fn last_error(&self) -> Option<Error> {
        lock(&self.shared.error).clone()
    }

    /// The bounded-load picker fed by this config's builds, if
    /// [`with_bounded_loads`](Self::with_bounded_loads) made it.
    pub fn bounded_loads(&self) -> Option<BoundedBackends> {
        self.shared.bounded.clone().map(BoundedBackends::new)
    }

    /// The snapshot for `backends`: the last one edited into it (and published to the bounded-load
    /// router, if any), or on error the last one (an empty one at first), all or nothing.
    pub(crate) fn build(&self, backends: &BTreeSet<Backend>) -> Arc<Snapshot> {
        let mut last = lock(&self.shared.last);
        let prev = last
            .clone()
            .unwrap_or_else(|| Arc::new(Snapshot::empty(self.shared.placement)));
        match self.rebuild(&prev, backends) {
            Ok(snap) => {
                *last = Some(Arc::clone(&snap));
                *lock(&self.shared.error) = None;
                snap
            }
            Err(e) => {
                log::error!("ringroute-pingora: keeping the previous backends: {e}");
                *lock(&self.shared.error) = Some(e);
                prev
            }
        }
    }

    fn rebuild(&self, prev: &Arc<Snapshot>, backends: &BTreeSet<Backend>) -> Result<Arc<Snapshot>> {
        let wanted = members(backends)?;
        let mut builder = prev.edit();
        apply(&mut builder, prev, &wanted)?;
        let snap = if builder.is_changed() {
            Arc::new(builder.build()?)
        } else {
            Arc::clone(prev)
        };
        if let Some(load) = &self.shared.bounded {
            let router = load.router();
            let mut tx = router.transaction();
            let current = router.load();
            apply(&mut tx, &current, &wanted)?;
            tx.commit()?;
        }
        Ok(snap)
    }
}
