//! Running the proxy: a pingora `Server` with the proxy service and the `LoadBalancer`'s health
//! checks, on a thread of its own, stopped on demand.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use pingora_core::server::configuration::ServerConf;
use pingora_core::server::{RunArgs, Server, ShutdownSignal, ShutdownSignalWatch};
use pingora_core::services::background::background_service;
use pingora_load_balancing::health_check::TcpHealthCheck;
use pingora_load_balancing::selection::{BackendIter, BackendSelection};
use pingora_load_balancing::{discovery, Backend, Backends, LoadBalancer};
use tokio::sync::oneshot;

use super::{Affinity, AffinityProxy};
use crate::bounded::BoundedBackends;

/// How to run the proxy.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    /// The address to listen on (`ip:port`).
    pub listen: String,
    /// What requests stick by.
    pub affinity: Affinity,
    /// How often pingora's TCP health check probes every backend.
    pub health_check_interval: Duration,
    /// `LoadBalancer::select`'s `max_iterations`: how many backends of a key's walk to try.
    pub max_iterations: usize,
    /// Worker threads of the proxy service.
    pub threads: usize,
}

/// Why the proxy did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The backend set is empty.
    #[error("no backends")]
    NoBackends,
    /// pingora's server could not be made.
    #[error("pingora server: {0}")]
    Server(String),
    /// The selection could not be built (see [`crate::RingConfig::last_error`]).
    #[error("selection: {0}")]
    Selection(String),
    /// The server thread could not be spawned.
    #[error("spawning the server thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// A proxy running on its own thread; [`stop`](Self::stop) (or dropping it) shuts it down.
pub struct RunningProxy<S: BackendSelection> {
    lb: Arc<LoadBalancer<S>>,
    bounded: Option<BoundedBackends>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl<S: BackendSelection> RunningProxy<S> {
    /// The load balancer: its backends' health (`lb().backends().ready(&b)`) and selection.
    pub fn lb(&self) -> &Arc<LoadBalancer<S>> {
        &self.lb
    }

    /// The bounded-load picker, when the proxy runs with bounded loads.
    pub fn bounded(&self) -> Option<&BoundedBackends> {
        self.bounded.as_ref()
    }

    /// Shuts the proxy down (fast: open connections are dropped) and waits for its thread.
    pub fn stop(mut self) {
        self.shutdown_now();
    }

    fn shutdown_now(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl<S: BackendSelection> Drop for RunningProxy<S> {
    fn drop(&mut self) {
        self.shutdown_now();
    }
}

/// Resolves when [`RunningProxy::stop`] is called (or the handle is dropped).
struct StopSignal(Mutex<Option<oneshot::Receiver<()>>>);

#[async_trait]
impl ShutdownSignalWatch for StopSignal {
    async fn recv(&self) -> ShutdownSignal {
        let rx = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(rx) = rx {
            let _ = rx.await;
        }
        ShutdownSignal::FastShutdown
    }
}

/// Starts the proxy over `backends` with selection `S` built with `config`, on a thread of its
/// own: the proxy service listening at `settings.listen`, and the `LoadBalancer` as a background
/// service running pingora's TCP health check every `settings.health_check_interval`. With
/// `bounded` (from the same config's [`bounded_loads`](crate::RingConfig::bounded_loads)), the
/// health check feeds it and requests are picked by it.
///
/// Returns once the selection is built; the listener is bound by the server thread shortly after.
pub fn start<S>(
    settings: ProxySettings,
    backends: BTreeSet<Backend>,
    config: Option<S::Config>,
    bounded: Option<BoundedBackends>,
) -> Result<RunningProxy<S>, StartError>
where
    S: BackendSelection + Send + Sync + 'static,
    S::Iter: BackendIter,
{
    if backends.is_empty() {
        return Err(StartError::NoBackends);
    }
    let mut lb = LoadBalancer::<S>::from_backends_with_config(
        Backends::new(discovery::Static::new(backends.clone())),
        config,
    );
    // Static discovery never waits: the first update builds the selection right here.
    futures::executor::block_on(lb.update()).map_err(|e| StartError::Selection(e.to_string()))?;
    let mut hc = TcpHealthCheck::new();
    hc.peer_template.options.connection_timeout = Some(Duration::from_millis(500));
    if let Some(b) = &bounded {
        hc.health_changed_callback = Some(b.health_observer());
    }
    lb.set_health_check(hc);
    lb.health_check_frequency = Some(settings.health_check_interval);
    lb.parallel_health_check = true;

    let conf = ServerConf {
        threads: settings.threads.max(1),
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(0),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let background = background_service("health check", lb);
    let lb = background.task();
    let mut proxy = pingora_proxy::http_proxy_service(
        &server.configuration,
        AffinityProxy::new(
            Arc::clone(&lb),
            settings.affinity,
            bounded.clone(),
            settings.max_iterations,
        ),
    );
    proxy.add_tcp(&settings.listen);
    server.add_service(proxy);
    server.add_service(background);

    let (tx, rx) = oneshot::channel();
    let signal = StopSignal(Mutex::new(Some(rx)));
    let thread = std::thread::Builder::new()
        .name("affinity-proxy".into())
        .spawn(move || {
            server.run(RunArgs {
                shutdown_signal: Box::new(signal),
            })
        })?;
    Ok(RunningProxy {
        lb,
        bounded,
        shutdown: Some(tx),
        thread: Some(thread),
    })
}
