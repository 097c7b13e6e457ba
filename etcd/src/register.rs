//! Registration: a node's record put under an etcd lease that a background task keeps alive, so
//! the node leaves every ring when its process dies (the lease expires) or deregisters.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use etcd_client::{Client, PutOptions};
use tokio::task::JoinHandle;

use crate::error::EtcdError;

/// A node registered under a lease ([`crate::EtcdMembership::register`]). Dropping it stops the
/// keep-alive (the record goes when the lease expires); [`Registration::close`] deregisters at
/// once.
pub struct Registration {
    client: Client,
    key: String,
    lease: Arc<AtomicI64>,
    task: JoinHandle<()>,
}

/// Grants a lease of `ttl` seconds and puts `value` at `key` under it; returns the lease id.
async fn put_leased(
    client: &mut Client,
    key: &str,
    value: &str,
    ttl: i64,
) -> Result<i64, EtcdError> {
    let lease = client.lease_grant(ttl, None).await?.id();
    client
        .put(key, value, Some(PutOptions::new().with_lease(lease)))
        .await?;
    Ok(lease)
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("key", &self.key)
            .field("lease", &self.lease_id())
            .finish_non_exhaustive()
    }
}

impl Registration {
    /// Registers: grants the lease, puts the record, starts the keep-alive task.
    pub(crate) async fn start(
        mut client: Client,
        key: String,
        value: String,
        ttl: Duration,
    ) -> Result<Self, EtcdError> {
        let secs = ttl.as_secs() as i64;
        if secs < 1 || Duration::from_secs(secs as u64) != ttl {
            return Err(EtcdError::Invalid(format!(
                "ttl must be a whole number of seconds >= 1, got {ttl:?}"
            )));
        }
        let lease = Arc::new(AtomicI64::new(
            put_leased(&mut client, &key, &value, secs).await?,
        ));
        let task = tokio::spawn(keep_alive(
            client.clone(),
            key.clone(),
            value,
            secs,
            Arc::clone(&lease),
        ));
        Ok(Self {
            client,
            key,
            lease,
            task,
        })
    }

    /// The id of the lease the record is under (a new one after the lease was lost and the
    /// record put again).
    pub fn lease_id(&self) -> i64 {
        self.lease.load(Ordering::Acquire)
    }

    /// The key of the record.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Deregisters: stops the keep-alive and revokes the lease, which deletes the record.
    pub async fn close(mut self) -> Result<(), EtcdError> {
        self.task.abort();
        let lease = self.lease_id();
        self.client.lease_revoke(lease).await?;
        Ok(())
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Refreshes the lease every third of its ttl; if the lease is gone (expired while etcd was
/// unreachable), grants a new one and puts the record again.
async fn keep_alive(
    mut client: Client,
    key: String,
    value: String,
    ttl: i64,
    lease: Arc<AtomicI64>,
) {
    let period = Duration::from_millis((ttl as u64 * 1000 / 3).max(100));
    loop {
        let id = lease.load(Ordering::Acquire);
        let result: Result<bool, EtcdError> = async {
            let (mut keeper, mut stream) = client.lease_keep_alive(id).await?;
            loop {
                keeper.keep_alive().await?;
                match tokio::time::timeout(period, stream.message()).await {
                    Ok(Ok(Some(r))) if r.ttl() > 0 => {}
                    Ok(Ok(Some(_))) => return Ok(false),
                    Ok(Ok(None)) => return Err(EtcdError::WatchEnded("keep-alive closed".into())),
                    Ok(Err(e)) => return Err(e.into()),
                    Err(_) => return Err(EtcdError::Timeout(period)),
                }
                tokio::time::sleep(period).await;
            }
        }
        .await;
        match result {
            Ok(_lost) => {
                log::warn!(target: "ringroute_etcd", "lease of {key} expired; registering again");
                match put_leased(&mut client, &key, &value, ttl).await {
                    Ok(new) => lease.store(new, Ordering::Release),
                    Err(e) => {
                        log::warn!(target: "ringroute_etcd", "registering {key}: {e}");
                        tokio::time::sleep(period).await;
                    }
                }
            }
            Err(e) => {
                log::warn!(target: "ringroute_etcd", "keeping {key} alive: {e}");
                tokio::time::sleep(period.min(Duration::from_millis(500))).await;
            }
        }
    }
}
