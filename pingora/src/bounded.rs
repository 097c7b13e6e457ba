//! Bounded loads over pingora backends: a backend per request with in-flight accounting, and the
//! health feed that keeps the bounded-load router's view of health in step with pingora's checks.

use async_trait::async_trait;
use pingora_core::protocols::l4::socket::SocketAddr;
use pingora_load_balancing::health_check::{HealthObserve, HealthObserveCallback};
use pingora_load_balancing::Backend;
use ringroute::{BoundedLoad, Lease, Router};

/// Consistent hashing with bounded loads over the backends of a [`RingConfig`](crate::RingConfig)
/// made [`with_bounded_loads`](crate::RingConfig::with_bounded_loads): a key goes to its owner
/// unless the owner already serves its bound, then to the next backend of its walk with room.
///
/// With `m` requests in flight, backend `i` of weight `w_i` takes a new one only while it serves
/// fewer than `ceil(factor · (m + 1) · w_i / W)`, `W` being the total weight of the healthy
/// backends (see [`ringroute::BoundedLoad`]). A [`BackendLease`] counts its request until it is
/// dropped: hold it for the request's lifetime (in pingora-proxy, in the request context).
///
/// Health comes from pingora's health checks through [`health_observer`](Self::health_observer);
/// `LoadBalancer::select` is not involved, so this picks among the same backends the
/// `LoadBalancer` was last built with.
///
/// ```
/// use pingora_load_balancing::{discovery, Backend, Backends, LoadBalancer};
/// use ringroute_pingora::{RingConfig, RingSelection};
///
/// let backends: std::collections::BTreeSet<Backend> =
///     ["10.0.0.1:80", "10.0.0.2:80"].iter().map(|a| Backend::new(a).unwrap()).collect();
/// let config = RingConfig::default().with_bounded_loads(1.25)?;
/// let lb = LoadBalancer::<RingSelection>::from_backends_with_config(
///     Backends::new(discovery::Static::new(backends)),
///     Some(config.clone()),
/// );
/// tokio::runtime::Runtime::new()?.block_on(lb.update())?; // builds the ring, feeds the picks
/// let bounded = config.bounded_loads().unwrap();
/// let first = bounded.acquire(b"hot").unwrap();
/// let second = bounded.acquire(b"hot").unwrap(); // the owner holds ceil(1.25 · 2 / 2) = 2 at most
/// assert_eq!(bounded.in_flight(), 2);
/// let third = bounded.acquire(b"hot").unwrap(); // ceil(1.25 · 3 / 2) = 2: the other backend
/// assert_ne!(third.backend(), first.backend());
/// drop((first, second, third));
/// assert_eq!(bounded.in_flight(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct BoundedBackends {
    load: BoundedLoad,
}

/// A request in flight on a backend, from [`BoundedBackends::acquire`]; dropping it releases it.
#[must_use = "a lease is released as soon as it is dropped"]
pub struct BackendLease {
    backend: Backend,
    _lease: Lease<'static>,
}

impl BackendLease {
    /// The backend to send the request to.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Releases the lease (as dropping it does).
    pub fn release(self) {}
}

/// The node name of a backend (its `ip:port`), as the selections name it.
fn name(backend: &Backend) -> Option<String> {
    match &backend.addr {
        SocketAddr::Inet(addr) => Some(addr.to_string()),
        _ => None,
    }
}

impl BoundedBackends {
    pub(crate) fn new(load: BoundedLoad) -> Self {
        Self { load }
    }

    /// A lease on the backend for `key`. `None` only when there is no backend (or every backend
    /// is down; see [`ringroute::AllDown`]).
    pub fn acquire(&self, key: &[u8]) -> Option<BackendLease> {
        // A lease names the node it was taken on; a rebuild that removes that node between the
        // lease and the look-up of its backend sends us round once more.
        for _ in 0..4 {
            let lease = self.load.acquire_owned(key)?;
            let snap = self.load.router().load();
            if let Some(backend) = snap
                .node_by_name(lease.node())
                .and_then(|n| n.payload_as::<Backend>())
            {
                return Some(BackendLease {
                    backend: backend.clone(),
                    _lease: lease,
                });
            }
        }
        None
    }

    /// The balance factor.
    pub fn factor(&self) -> f64 {
        self.load.factor()
    }

    /// Requests in flight on every backend.
    pub fn in_flight(&self) -> u64 {
        self.load.in_flight()
    }

    /// Requests in flight on `backend` (`None` if it is not in the current set).
    pub fn load(&self, backend: &Backend) -> Option<u64> {
        self.load.load(&name(backend)?)
    }

    /// How many requests `backend` may hold now, the next one included (`None` if it is not in
    /// the current set).
    pub fn capacity(&self, backend: &Backend) -> Option<u64> {
        self.load.capacity(&name(backend)?)
    }

    /// The router the picks are made on (its snapshots carry the backends' health).
    pub fn router(&self) -> &Router {
        self.load.router()
    }

    /// Marks `backend` healthy or not for the picks (what the [health
    /// observer](Self::health_observer) does on each change pingora's health check reports).
    /// Backends outside the current set are ignored.
    pub fn set_healthy(&self, backend: &Backend, healthy: bool) {
        let Some(name) = name(backend) else {
            return;
        };
        let router = self.load.router();
        let result = if healthy {
            router.mark_up(&name)
        } else {
            router.mark_down(&name)
        };
        if let Err(e) = result {
            log::debug!("ringroute-pingora: health of {name} not applied: {e}");
        }
    }

    /// A callback for a pingora health check (`TcpHealthCheck::health_changed_callback`,
    /// `HttpHealthCheck::health_changed_callback`) that marks backends up and down for the picks.
    pub fn health_observer(&self) -> HealthObserveCallback {
        Box::new(HealthFeed(self.clone()))
    }
}

/// The health observer of [`BoundedBackends::health_observer`].
struct HealthFeed(BoundedBackends);

#[async_trait]
impl HealthObserve for HealthFeed {
    async fn observe(&self, target: &Backend, healthy: bool) {
        self.0.set_healthy(target, healthy);
    }
}
