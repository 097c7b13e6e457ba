//! [`MaglevSelection`]: Envoy's Maglev table as a pingora `BackendSelection`.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::ops::Deref;
use std::sync::Arc;

use pingora_load_balancing::selection::BackendSelection;
use pingora_load_balancing::Backend;
use ringroute::{Placement, Snapshot};

use crate::config::RingConfig;
use crate::error::Result;
use crate::selection::{hold, DistinctBackends, Hold, Ring, Routed};

/// Envoy's Maglev table over pingora backends, bit for bit (`envoy.load_balancing_policies.maglev`,
/// the same host for every key hash; keys hash with XXH64 as Envoy's hash policies do). Lookups
/// are one table read; a backend change moves about its share of the keys (Maglev's minimal
/// disruption), and the table is rebuilt whole, as Envoy does.
///
/// [`iter`](BackendSelection::iter) yields the key's table entry first, then the next distinct
/// backends of the following table entries (the fallback walk of [`ringroute::Profile::Maglev`]).
pub struct MaglevSelection {
    routed: Routed,
}

/// The configuration of a [`MaglevSelection`]: a [`RingConfig`] whose placement is a Maglev table
/// (its methods, such as [`RingConfig::bounded_loads`], are reached through `Deref`).
#[derive(Clone)]
pub struct MaglevConfig(RingConfig);

impl MaglevConfig {
    /// A table of `table_size` entries (a prime up to 5,000,011; Envoy's default is 65,537).
    ///
    /// Errors: [`ringroute::Error::TableSizeNotPrime`], [`ringroute::Error::TableSizeTooLarge`].
    pub fn new(table_size: u64) -> Result<Self> {
        Ok(Self(RingConfig::new(Placement::maglev(table_size)?)))
    }

    /// This config with bounded loads (see [`RingConfig::with_bounded_loads`]).
    pub fn with_bounded_loads(self, factor: f64) -> Result<Self> {
        Ok(Self(self.0.with_bounded_loads(factor)?))
    }
}

impl Default for MaglevConfig {
    /// Envoy's default table of 65,537 entries.
    fn default() -> Self {
        Self(RingConfig::new(
            Placement::new(ringroute::Profile::Maglev, None)
                .expect("the maglev profile's default table size is valid"),
        ))
    }
}

impl Deref for MaglevConfig {
    type Target = RingConfig;

    fn deref(&self) -> &RingConfig {
        &self.0
    }
}

impl Ring for MaglevSelection {
    fn snapshot(&self) -> &Snapshot {
        self.routed.snapshot()
    }

    #[inline]
    fn backend(&self, id: ringroute::NodeId) -> Option<&Backend> {
        self.routed.backend(id)
    }

    #[inline]
    fn held(this: &Arc<Self>) -> Hold<Self> {
        hold(&MAGLEV_HELD, this)
    }
}

thread_local! {
    static MAGLEV_HELD: RefCell<Option<Hold<MaglevSelection>>> = const { RefCell::new(None) };
}

impl MaglevSelection {
    /// A selection over `backends` built with `config` (as pingora builds it).
    pub fn with_config(backends: &BTreeSet<Backend>, config: &MaglevConfig) -> Self {
        Self {
            routed: Routed::new(config.build(backends)),
        }
    }
}

impl BackendSelection for MaglevSelection {
    type Iter = DistinctBackends<MaglevSelection>;
    type Config = MaglevConfig;

    fn build_with_config(backends: &BTreeSet<Backend>, config: &MaglevConfig) -> Self {
        Self::with_config(backends, config)
    }

    /// A table of Envoy's default size, built afresh.
    fn build(backends: &BTreeSet<Backend>) -> Self {
        Self::with_config(backends, &MaglevConfig::default())
    }

    fn iter(self: &Arc<Self>, key: &[u8]) -> Self::Iter {
        DistinctBackends::new(Self::held(self), key)
    }
}
