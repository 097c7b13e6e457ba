//! A session-affinity reverse proxy on pingora-proxy: each request's session key (a header, a
//! cookie or the client's address: [`Affinity`]) picks its backend through a `LoadBalancer`
//! (any selection: [`RingSelection`](crate::RingSelection),
//! [`MaglevSelection`](crate::MaglevSelection), or pingora's own `KetamaHashing` to compare), skipping backends
//! pingora's health checks find down; or, with bounded loads, through [`BoundedBackends`], holding
//! a lease for the request's lifetime. `examples/affinity_proxy.rs` runs it from the command line.

mod affinity;
mod backends_file;
mod server;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora_core::protocols::l4::socket::SocketAddr;
use pingora_core::upstreams::peer::{HttpPeer, Peer};
use pingora_core::{Error, ErrorType, Result};
use pingora_load_balancing::selection::{BackendIter, BackendSelection};
use pingora_load_balancing::LoadBalancer;
use pingora_proxy::{ProxyHttp, Session};

use crate::bounded::{BackendLease, BoundedBackends};

pub use affinity::{Affinity, BadAffinity};
pub use backends_file::{load_backends, parse_backends, BackendsFileError};
pub use server::{start, ProxySettings, RunningProxy, StartError};

/// How long the proxy waits to connect to a backend.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long the proxy waits for a backend's response to start (and between reads).
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The pingora-proxy service: picks each request's backend by its session key.
pub struct AffinityProxy<S: BackendSelection> {
    lb: Arc<LoadBalancer<S>>,
    affinity: Affinity,
    bounded: Option<BoundedBackends>,
    max_iterations: usize,
}

/// A request's state: its bounded-load lease (released when the request ends) and the address
/// it could not connect to (skipped on the retry).
#[derive(Default)]
pub struct RequestCtx {
    lease: Option<BackendLease>,
    failed: Option<SocketAddr>,
}

impl<S: BackendSelection> AffinityProxy<S> {
    /// Picks through `lb` (`LoadBalancer::select(key, max_iterations)`), or through `bounded` if
    /// given (the `LoadBalancer` then only runs the health checks and discovery feeding it).
    pub fn new(
        lb: Arc<LoadBalancer<S>>,
        affinity: Affinity,
        bounded: Option<BoundedBackends>,
        max_iterations: usize,
    ) -> Self {
        Self {
            lb,
            affinity,
            bounded,
            max_iterations,
        }
    }
}

#[async_trait]
impl<S> ProxyHttp for AffinityProxy<S>
where
    S: BackendSelection + Send + Sync + 'static,
    S::Iter: BackendIter,
{
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::default()
    }

    async fn upstream_peer(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        let key = self
            .affinity
            .key(session.req_header(), session.client_addr());
        let backend = match &self.bounded {
            Some(bounded) => {
                ctx.lease = None; // a retry gives back the lease of the failed attempt
                let lease = bounded.acquire(&key);
                let backend = lease.as_ref().map(|l| l.backend().clone());
                ctx.lease = lease;
                backend
            }
            None => self
                .lb
                .select_with(&key, self.max_iterations, |b, healthy| {
                    healthy && ctx.failed.as_ref() != Some(&b.addr)
                }),
        };
        let backend = backend
            .ok_or_else(|| Error::explain(ErrorType::HTTPStatus(503), "no backend is up"))?;
        let mut peer = HttpPeer::new(backend, false, String::new());
        peer.options.connection_timeout = Some(CONNECT_TIMEOUT);
        peer.options.read_timeout = Some(READ_TIMEOUT);
        Ok(Box::new(peer))
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        // The health check has not seen it down yet: try the next backend of the key's walk, once.
        // (Under bounded loads the retry takes a new lease, from the same health view.)
        if ctx.failed.is_none() {
            ctx.failed = Some(peer.address().clone());
            e.set_retry(true);
        }
        e
    }
}
