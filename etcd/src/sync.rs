//! The sync task: list the prefix at revision R and publish it as one transaction, watch from
//! R + 1, publish each batch of watch events (whole etcd revisions, coalesced when they arrive
//! together) as one transaction; on compaction, a lost connection or a leader change, re-list
//! with backoff while the router keeps its last ring.

use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_client::{Client, EventType, GetOptions, WatchOptions, WatchResponse};
use ringroute::Router;
use tokio::sync::{mpsc as tmpsc, watch};
use tokio::task::JoinHandle;

use crate::error::EtcdError;
use crate::records::{Records, Touched};
use crate::status::{Applied, Status};
use crate::EtcdMembership;

/// What the task shares with its handle.
pub(crate) struct Shared {
    pub status: watch::Sender<Status>,
    pub applied: Mutex<Vec<mpsc::Sender<Applied>>>,
}

impl Shared {
    fn update(&self, f: impl FnOnce(&mut Status)) {
        self.status.send_modify(f);
    }

    fn lost(&self, err: &EtcdError) {
        log::warn!(target: "ringroute_etcd", "membership sync lost: {err}; re-listing");
        self.update(|s| {
            if s.synced || s.lost_at.is_none() {
                s.lost_at = Some(Instant::now());
            }
            s.synced = false;
            s.last_error = Some(err.to_string());
        });
    }

    fn notify(&self, applied: Applied) {
        let mut subs = self.applied.lock().unwrap_or_else(|p| p.into_inner());
        subs.retain(|s| s.send(applied.clone()).is_ok());
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What the watch reader hands to the applier.
enum Msg {
    /// The watch is created: events from the asked revision follow.
    Created,
    /// A response with events (or a cancellation).
    Response(WatchResponse),
}

/// The applier's state across sessions.
struct Applier {
    router: Router,
    records: Records,
    shared: Arc<Shared>,
    /// The last revision published.
    revision: i64,
    /// A publication failed: compare every node at the next one.
    retry_all: bool,
    /// Revisions applied to the records but not yet published (after a failed publication).
    pending: Vec<i64>,
}

impl Applier {
    /// Publishes the records at `revision`; `revisions` are the watch events' revisions.
    fn publish(&mut self, mut touched: Touched, revision: i64, revisions: Vec<i64>, list: bool) {
        touched.all |= self.retry_all;
        self.pending.extend(revisions);
        // The router's writer lock is a blocking lock and a large publication takes a while:
        // on a multi-thread runtime, the worker hands its other tasks over while it waits.
        let (records, router) = (&mut self.records, &self.router);
        let mut publish = || records.publish(router, &touched);
        let multi = matches!(
            tokio::runtime::Handle::current().runtime_flavor(),
            tokio::runtime::RuntimeFlavor::MultiThread
        );
        let result = if multi {
            tokio::task::block_in_place(publish)
        } else {
            publish()
        };
        match result {
            Ok(snap) => {
                self.retry_all = false;
                self.revision = revision;
                let skipped = self.records.skipped;
                self.shared.update(|s| {
                    s.revision = revision;
                    s.skipped = skipped;
                });
                self.shared.notify(Applied {
                    revision,
                    revisions: std::mem::take(&mut self.pending),
                    list,
                    version: snap.version(),
                    fingerprint: snap.fingerprint(),
                    at: Instant::now(),
                });
            }
            Err(e) => {
                self.retry_all = true;
                log::error!(
                    target: "ringroute_etcd",
                    "membership at revision {revision} not published, the last ring stays: {e}"
                );
                let skipped = self.records.skipped;
                self.shared.update(|s| {
                    s.failed_publications += 1;
                    s.skipped = skipped;
                    s.last_error = Some(e.to_string());
                });
            }
        }
    }

    /// One session: list, then watch until an error ends it.
    async fn session(
        &mut self,
        client: &Client,
        backoff: &mut Duration,
        min: Duration,
    ) -> EtcdError {
        match self.list_and_watch(client, backoff, min).await {
            Ok(never) => match never {},
            Err(e) => e,
        }
    }

    async fn list_and_watch(
        &mut self,
        client: &Client,
        backoff: &mut Duration,
        min: Duration,
    ) -> Result<std::convert::Infallible, EtcdError> {
        let root = self.records.layout().root().to_owned();
        let mut kv = client.kv_client();
        let resp = kv
            .get(root.as_str(), Some(GetOptions::new().with_prefix()))
            .await?;
        let listed = resp.header().ok_or(EtcdError::NoHeader)?.revision();
        self.records.clear();
        let mut touched = Touched {
            all: true,
            ..Touched::default()
        };
        for item in resp.kvs() {
            self.records
                .apply(item.key(), Some(item.value()), &mut touched);
        }
        self.pending.clear();
        self.shared.update(|s| s.lists += 1);
        self.publish(touched, listed, Vec::new(), true);

        let (tx, mut rx) = tmpsc::unbounded_channel::<Result<Msg, EtcdError>>();
        let mut watch_client = client.watch_client();
        let options = WatchOptions::new()
            .with_prefix()
            .with_start_revision(listed + 1);
        let reader = AbortOnDrop(tokio::spawn(async move {
            let (_watcher, mut stream) = match watch_client.watch(root, Some(options)).await {
                Ok(w) => w,
                Err(e) => {
                    let _ = tx.send(Err(e.into()));
                    return;
                }
            };
            if tx.send(Ok(Msg::Created)).is_err() {
                return;
            }
            loop {
                let msg = match stream.message().await {
                    Ok(Some(r)) => Ok(Msg::Response(r)),
                    Ok(None) => Err(EtcdError::WatchEnded("stream closed".into())),
                    Err(e) => Err(e.into()),
                };
                let end = msg.is_err();
                if tx.send(msg).is_err() || end {
                    return;
                }
            }
        }));
        loop {
            let Some(first) = rx.recv().await else {
                drop(reader);
                return Err(EtcdError::WatchEnded("watch task ended".into()));
            };
            // Coalesce what has arrived already; an error ends the session after the events
            // before it are published.
            let mut batch = vec![first];
            while let Ok(m) = rx.try_recv() {
                let end = m.is_err();
                batch.push(m);
                if end {
                    break;
                }
            }
            let mut touched = Touched::default();
            let mut revisions: Vec<i64> = Vec::new();
            let mut end = None;
            for msg in batch {
                match msg {
                    Err(e) => end = Some(e),
                    Ok(Msg::Created) => {
                        *backoff = min;
                        self.shared.update(|s| {
                            s.synced = true;
                            s.lost_at = None;
                        });
                    }
                    Ok(Msg::Response(r)) => {
                        if r.canceled() || r.compact_revision() > 0 {
                            end = Some(if r.compact_revision() > 0 {
                                EtcdError::Compacted {
                                    wanted: self.revision + 1,
                                    compacted: r.compact_revision(),
                                }
                            } else {
                                EtcdError::WatchEnded(format!("cancelled: {}", r.cancel_reason()))
                            });
                            break;
                        }
                        for event in r.events() {
                            let Some(item) = event.kv() else { continue };
                            let rev = item.mod_revision();
                            if rev <= self.revision || revisions.last().is_some_and(|&l| rev < l) {
                                continue;
                            }
                            let value = match event.event_type() {
                                EventType::Put => Some(item.value()),
                                EventType::Delete => None,
                            };
                            self.records.apply(item.key(), value, &mut touched);
                            if revisions.last() != Some(&rev) {
                                revisions.push(rev);
                            }
                        }
                    }
                }
                if end.is_some() {
                    break;
                }
            }
            if let Some(&last) = revisions.last() {
                self.publish(touched, last, revisions, false);
            }
            if let Some(e) = end {
                return Err(e);
            }
        }
    }
}

/// Runs the sync of `router` with `membership` for ever (until the task is aborted).
pub(crate) async fn run(membership: EtcdMembership, router: Router, shared: Arc<Shared>) {
    let (min, max) = membership.backoff;
    let mut applier = Applier {
        router,
        records: Records::new(membership.layout.clone()),
        shared: Arc::clone(&shared),
        revision: 0,
        retry_all: false,
        pending: Vec::new(),
    };
    let mut backoff = min;
    let mut client: Option<Client> = None;
    loop {
        let c = match &client {
            Some(c) => c.clone(),
            None => match membership.connect().await {
                Ok(c) => {
                    client = Some(c.clone());
                    c
                }
                Err(e) => {
                    shared.lost(&e);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(max);
                    continue;
                }
            },
        };
        let err = applier.session(&c, &mut backoff, min).await;
        shared.lost(&err);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(max);
    }
}
