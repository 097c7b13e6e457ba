//! # ringroute-etcd
//!
//! Fleet membership over etcd: every process that syncs its [`Router`] with the same prefix routes
//! with the same ring, within milliseconds of a change, through etcd's failures.
//!
//! ## Keys
//!
//! - `<prefix>/nodes/<name>`: a node record, JSON `{"weight": 1, "hostname": "10.0.0.1", "port":
//!   11211, "meta": {...}}` (every field optional; `meta` becomes the node's payload, a
//!   [`ringroute::membership::Meta`]), decoded by [`NodeRecord::from_json`].
//! - `<prefix>/health/<name>`: `down` or `up` (bare or as a JSON string); absent is up.
//! - `<prefix>/config`: JSON `{"placement": "native", "virtual_nodes": null, "table_size": null}`,
//!   decoded by [`ringroute::membership::RingConfig::from_json`]; absent, the router's own
//!   settings. A live router keeps its placement, so a config naming another one is skipped.
//!
//! A value that does not decode, or a config the router cannot apply, is skipped: counted
//! ([`Status::skipped`]), logged with its key on the `ringroute_etcd` target, and the key counts as
//! absent, so every router derives the same ring from the same etcd revision. Nothing stops the
//! watch; nothing panics.
//!
//! ## How a router follows etcd
//!
//! [`EtcdMembership::start`] spawns a task that lists the prefix at revision R and publishes it as
//! one transaction, then watches from R + 1. etcd delivers the events of one revision (a multi-key
//! etcd transaction) in one watch response, and the task publishes each batch of responses that
//! arrived together as one router transaction: never half an etcd transaction, revisions in
//! order, each once ([`SyncHandle::applied`] reports them). On compaction, a lost connection or a
//! leader change (the client asks etcd to end watches on a member without a leader), the task
//! re-lists with exponential backoff; meanwhile the router keeps serving its last ring, and
//! [`SyncHandle::status`] says since when it is stale.
//!
//! ```no_run
//! use std::time::Duration;
//! use ringroute::{Placement, Router};
//! use ringroute::membership::NodeRecord;
//! use ringroute_etcd::EtcdMembership;
//!
//! # async fn demo() -> Result<(), ringroute_etcd::EtcdError> {
//! let membership = EtcdMembership::new(["127.0.0.1:2379"], "/ringroute/cache");
//! let router = Router::new(Placement::native());
//! let sync = membership.start(router.clone());
//! sync.wait_synced(Duration::from_secs(5)).await?;
//!
//! // This process serves as a node too: its record lives as long as the process.
//! let record = NodeRecord { hostname: Some("10.0.0.7".into()), port: Some(11211), ..Default::default() };
//! let registration = membership.register("cache-7", &record, Duration::from_secs(10)).await?;
//! sync.wait_revision(sync.revision() + 1, Duration::from_secs(5)).await?;
//! assert!(router.load().contains("cache-7"));
//! registration.close().await?;
//! # Ok(())
//! # }
//! ```

mod error;
mod records;
#[cfg(test)]
mod records_prop;
mod register;
mod status;
mod sync;

use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_client::{Client, ConnectOptions};
use ringroute::membership::NodeRecord;
use ringroute::{Placement, Router, Snapshot};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use error::EtcdError;
pub use records::Layout;
pub use register::Registration;
pub use status::{Applied, Status};

/// Where a fleet's membership lives: etcd endpoints and a key prefix.
#[derive(Debug, Clone)]
pub struct EtcdMembership {
    endpoints: Vec<String>,
    layout: Layout,
    /// Re-list backoff: first and longest wait.
    backoff: (Duration, Duration),
    /// Each unary request's timeout (a list, a put, a lease grant).
    timeout: Duration,
}

impl EtcdMembership {
    /// The membership under `prefix` in the etcd cluster at `endpoints` (`host:port`, or URLs).
    pub fn new<E: AsRef<str>>(endpoints: impl IntoIterator<Item = E>, prefix: &str) -> Self {
        Self {
            endpoints: endpoints
                .into_iter()
                .map(|e| e.as_ref().to_owned())
                .collect(),
            layout: Layout::new(prefix),
            backoff: (Duration::from_millis(50), Duration::from_secs(2)),
            timeout: Duration::from_secs(3),
        }
    }

    /// Sets the re-list backoff: the first wait after a failure, doubled up to `max`.
    #[must_use]
    pub fn with_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff = (min, max.max(min));
        self
    }

    /// Sets the timeout of each request (default 3 s).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The keys of this membership.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// A client of the cluster, with request timeouts, HTTP/2 keep-alives that notice a dead
    /// member within ~8 s, and watches that end when their member has no leader.
    ///
    /// The keep-alive pings are 6 s apart: etcd's server closes a connection that pings more often
    /// than its `--grpc-keepalive-min-time` (5 s by default) while nothing is sent back, which an
    /// idle watch is (with pings every 500 ms, an idle watch was cut and re-listed every ~2 s).
    pub async fn connect(&self) -> Result<Client, EtcdError> {
        if self.endpoints.is_empty() {
            return Err(EtcdError::Invalid("no etcd endpoints".into()));
        }
        let options = ConnectOptions::new()
            .with_timeout(self.timeout)
            .with_connect_timeout(self.timeout)
            .with_keep_alive(Duration::from_secs(6), Duration::from_secs(2))
            .with_keep_alive_while_idle(true)
            .with_require_leader(true);
        Ok(Client::connect(&self.endpoints, Some(options)).await?)
    }

    /// Starts syncing `router` with the membership, on the current tokio runtime (panics outside
    /// one, as [`tokio::spawn`] does). The router keeps its ring until the first list. On a
    /// multi-thread runtime each publication runs in [`tokio::task::block_in_place`], since it
    /// takes the router's (blocking) writer lock.
    ///
    /// A subscriber through [`SyncHandle::applied`] sees the publications made after it
    /// subscribed, so it may miss the first list; [`EtcdMembership::start_with_applied`] sees them
    /// all.
    pub fn start(&self, router: Router) -> SyncHandle {
        self.spawn(router, Vec::new())
    }

    /// Starts syncing `router` as [`EtcdMembership::start`] does, with a subscriber to its
    /// publications ([`Applied`], in order) made before the sync starts, so that it sees every
    /// one, the first list included.
    pub fn start_with_applied(&self, router: Router) -> (SyncHandle, mpsc::Receiver<Applied>) {
        let (tx, rx) = mpsc::channel();
        (self.spawn(router, vec![tx]), rx)
    }

    fn spawn(&self, router: Router, subscribers: Vec<mpsc::Sender<Applied>>) -> SyncHandle {
        let (status, _) = watch::channel(Status::default());
        let shared = Arc::new(sync::Shared {
            status,
            applied: Mutex::new(subscribers),
        });
        let task = tokio::spawn(sync::run(self.clone(), router, Arc::clone(&shared)));
        SyncHandle {
            shared,
            task,
            started: Instant::now(),
        }
    }

    /// Registers node `name` with `record` under a lease of `ttl` (whole seconds, at least 1) kept
    /// alive by a background task: the node is in every synced ring until the registration is
    /// closed, or until `ttl` after its process dies.
    pub async fn register(
        &self,
        name: &str,
        record: &NodeRecord,
        ttl: Duration,
    ) -> Result<Registration, EtcdError> {
        if name.is_empty() || name.contains('/') {
            return Err(EtcdError::Invalid(format!(
                "node name {name:?}: must be non-empty, without '/'"
            )));
        }
        let value = serde_json::to_string(record)
            .map_err(|e| EtcdError::Invalid(format!("record of {name:?}: {e}")))?;
        let client = self.connect().await?;
        Registration::start(client, self.layout.node_key(name), value, ttl).await
    }

    /// The ring of the membership at `revision` (0: the latest) built from scratch with
    /// `placement`, and the revision read. Bad records are skipped as the sync skips them, so a
    /// router synced at that revision has the same fingerprint.
    pub async fn snapshot_at(
        &self,
        client: &mut Client,
        placement: Placement,
        revision: i64,
    ) -> Result<(Snapshot, i64), EtcdError> {
        let mut options = etcd_client::GetOptions::new().with_prefix();
        if revision > 0 {
            options = options.with_revision(revision);
        }
        let resp = client.get(self.layout.root(), Some(options)).await?;
        let read = resp.header().ok_or(EtcdError::NoHeader)?.revision();
        let mut records = records::Records::new(self.layout.clone());
        let mut touched = records::Touched::default();
        for kv in resp.kvs() {
            records.apply(kv.key(), Some(kv.value()), &mut touched);
        }
        let snap = records
            .snapshot(placement)
            .map_err(|e| EtcdError::Invalid(e.to_string()))?;
        Ok((snap, if revision > 0 { revision } else { read }))
    }
}

/// A running sync of one router ([`EtcdMembership::start`]). Dropping it (or
/// [`SyncHandle::stop`]) stops the sync; the router keeps its last ring.
#[derive(Debug)]
pub struct SyncHandle {
    shared: Arc<sync::Shared>,
    task: JoinHandle<()>,
    started: Instant,
}

impl std::fmt::Debug for sync::Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl SyncHandle {
    /// The sync's status: revision, whether synced, since when not, what was skipped.
    pub fn status(&self) -> Status {
        self.shared.status.borrow().clone()
    }

    /// The last etcd revision applied to the router (0 before the first list).
    pub fn revision(&self) -> i64 {
        self.shared.status.borrow().revision
    }

    /// Whether the watch is live (the ring is etcd's as of the last event delivered).
    pub fn synced(&self) -> bool {
        self.shared.status.borrow().synced
    }

    /// How long the ring may have been behind etcd: `None` while synced.
    pub fn staleness(&self) -> Option<Duration> {
        self.shared.status.borrow().staleness(self.started)
    }

    /// Waits until the sync is live; returns the revision applied then.
    pub async fn wait_synced(&self, timeout: Duration) -> Result<i64, EtcdError> {
        let mut rx = self.shared.status.subscribe();
        let waited = tokio::time::timeout(timeout, rx.wait_for(|s| s.synced))
            .await
            .map(|r| r.map(|s| s.revision));
        match waited {
            Ok(Ok(revision)) => Ok(revision),
            _ => Err(EtcdError::Timeout(timeout)),
        }
    }

    /// Waits until the router has applied `revision` (or a later one).
    pub async fn wait_revision(&self, revision: i64, timeout: Duration) -> Result<(), EtcdError> {
        let mut rx = self.shared.status.subscribe();
        let waited = tokio::time::timeout(timeout, rx.wait_for(|s| s.revision >= revision))
            .await
            .map(|r| r.map(drop));
        match waited {
            Ok(Ok(())) => Ok(()),
            _ => Err(EtcdError::Timeout(timeout)),
        }
    }

    /// Subscribes to the sync's publications from now on, one [`Applied`] each, in order (an
    /// unbounded channel: drop the receiver to unsubscribe). To see the first list too, start
    /// with [`EtcdMembership::start_with_applied`].
    pub fn applied(&self) -> mpsc::Receiver<Applied> {
        let (tx, rx) = mpsc::channel();
        self.shared
            .applied
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(tx);
        rx
    }

    /// Stops the sync; the router keeps its last ring. A publication is synchronous, so stopping
    /// never leaves half of one.
    pub fn stop(self) {
        self.task.abort();
    }
}

impl Drop for SyncHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}
