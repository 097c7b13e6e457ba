//! Envoy's Maglev table, bit for bit: the table Envoy's `envoy.load_balancing_policies.maglev` builds
//! for a set of weighted hosts, and its lookup.
//!
//! Reproduced from `source/extensions/load_balancing_policies/maglev/maglev_lb.{h,cc}` (before that
//! `source/common/upstream/maglev_lb.cc`) and the weight normalisation of
//! `source/common/upstream/thread_aware_lb_impl.cc`, pinned by the expected tables of Envoy's
//! `maglev_lb_test.cc` (see `tests.rs`). Envoy has three table classes: `OriginalMaglevTable`, a
//! vector of host pointers; `CompactMaglevTable`, a bit-packed array of indices into the sorted
//! hosts, used whenever it is the smaller (up to ~80 % as many hosts as entries; older versions also
//! required the runtime flag `allow_compact_maglev`); and, in the newest versions,
//! `DegenerateMaglevTable` for a single host. All three run the same fill and give every hash the
//! same host; this one stores host indices like the compact table (indices into the caller's slice),
//! as `u16` when there are at most 65,536 hosts (2 bytes an entry) and `u32` above.
//!
//! The build, as Envoy does it:
//! 1. **Weights**: each host's weight is normalised to `weight / Σ weights` (`f64`), and the largest
//!    normalised weight is kept. (Envoy rejects a sum above `u32::MAX`; so does [`MaglevTable::build`].)
//! 2. **Order**: hosts are sorted by their hash key (bytes, lexicographically), so the table does not
//!    depend on the order the hosts are given in.
//! 3. **Permutations**: host `h` visits the slots `(offset + j·skip) mod M`, `j = 0, 1, …`, with
//!    `offset = XXH64(key, 0) mod M` and `skip = XXH64(key, 1) mod (M − 1) + 1`; `M` is prime, so
//!    every host's sequence visits every slot.
//! 4. **Fill** (pseudocode listing 1 of the Maglev paper, weighted): in iterations `1, 2, …`, each host
//!    in sorted order takes its next free slot if `iteration · weight ≥ target`, and then adds the largest
//!    normalised weight to its `target`; so a host of the largest weight takes a slot every iteration and
//!    one of a third of it every third iteration. The fill stops when every slot is taken.
//!
//! A key's entry is `hash mod M`; Envoy's header hash policy hashes a value with XXH64, seed 0
//! ([`key_hash`]).
//!
//! The `maglev` placement ([`crate::Profile::Maglev`]) builds its ring from this table
//! (`crate::ring`), whose entries become the ring's lookup table (`crate::search`).

mod fill;
mod hash_lanes;
mod lanes;
#[cfg(test)]
mod tests;
mod xxh64;

use crate::error::{Error, Result};

use fill::BuildHost;

/// Envoy's default table size (`MaglevTable::DefaultTableSize`, the Maglev paper's recommendation).
pub(crate) const DEFAULT_TABLE_SIZE: u64 = 65_537;

/// The largest table size Envoy accepts (the `lte: 5000011` of `Maglev.table_size` in the
/// `maglev.v3` API).
pub(crate) const MAX_TABLE_SIZE: u64 = 5_000_011;

/// The largest number of hosts [`MaglevTable::build`] takes: the crate's [`crate::MAX_NODES`].
pub(crate) const MAX_HOSTS: usize = crate::MAX_NODES;

/// The largest sum of host weights Envoy accepts ("The sum of weights of all upstream hosts in a
/// locality exceeds 4294967295").
pub(crate) const MAX_TOTAL_WEIGHT: u64 = u32::MAX as u64;

/// The key hash of Envoy's hash policies for a string or bytes value (a header value, a cookie):
/// XXH64 with seed 0 (`HashUtil::xxHash64`). A key's table entry is `key_hash(key) mod M`.
#[inline(always)]
pub(crate) fn key_hash(key: &[u8]) -> u64 {
    xxh64::xxh64_seed0(key)
}

/// [`key_hash`] of every key into `out` (at least as long as `keys`): with `lanes`, eight keys a
/// vector where the CPU can (`hash_lanes`), else one at a time; the same answers either way.
#[inline]
pub(crate) fn key_hashes<K: AsRef<[u8]>>(keys: &[K], out: &mut [u64], lanes: bool) {
    hash_lanes::hash_keys(keys, out, lanes)
}

/// The hash Envoy looks up on retry `attempt` of a pick whose hash is `hash` (`chooseHost(hash,
/// attempt)`): the hash itself on attempt 0, else `hash ^ (2^64 − attempt)` ("a value with most bits
/// set", so retries land far from the first pick).
#[cfg(test)]
#[inline]
pub(crate) fn attempt_hash(hash: u64, attempt: u32) -> u64 {
    if attempt == 0 {
        hash
    } else {
        hash ^ u64::from(attempt).wrapping_neg()
    }
}

/// A built Maglev table: entry `i` is the index (into the `hosts` slice given to
/// [`MaglevTable::build`]) of the host that owns entry `i`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MaglevTable {
    /// `M`, a prime.
    size: u64,
    /// The `M` entries; [`Entries::Empty`] when no host has a weight above 0.
    entries: Entries,
}

/// The entries of a table, as narrow as the host count allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Entries {
    /// No host: every lookup misses (Envoy's `chooseHost` returns no host).
    Empty,
    /// Up to 65,536 hosts: 2 bytes an entry.
    Narrow(Box<[u16]>),
    /// More hosts: 4 bytes an entry.
    Wide(Box<[u32]>),
}

impl MaglevTable {
    /// Builds Envoy's table of `table_size` entries for `hosts`, given as `(hash key, weight)` in the
    /// caller's order. The key is what Envoy hashes for the host (its address, hostname or metadata
    /// `hash_key`; here the node's name bytes). The table does not depend on the order of `hosts`;
    /// hosts of weight 0 get no entries (Envoy has no such hosts: it requires weights of at least 1),
    /// and without any host of weight above 0 the table is empty.
    ///
    /// Errors, checked in this order: [`Error::TableSizeTooLarge`] above [`MAX_TABLE_SIZE`],
    /// [`Error::TableSizeNotPrime`] for a size that is not a prime (0 and 1 included: Envoy's prime
    /// check passes them, and its build then divides by zero), [`Error::TooManyNodes`] for more than
    /// [`MAX_HOSTS`] hosts, [`Error::EmptyName`] for an empty key of a host of weight above 0,
    /// [`Error::DuplicateNode`] for two such hosts with the same key (Envoy would order them by
    /// pointer address), [`Error::TotalWeightTooLarge`] for weights summing above
    /// [`MAX_TOTAL_WEIGHT`].
    pub(crate) fn build(hosts: &[(&[u8], u32)], table_size: u64) -> Result<Self> {
        Self::build_with(hosts, table_size, None, true)
    }

    /// [`MaglevTable::build`], with the fill's schedule forced (`Some(true)`: Envoy's scan,
    /// `Some(false)`: the event heap) or chosen by the weights (`None`), and its probes made
    /// sixteen hosts at once where the CPU can (`lanes`) or one at a time; all give the same table.
    fn build_with(
        hosts: &[(&[u8], u32)],
        table_size: u64,
        scan: Option<bool>,
        lanes: bool,
    ) -> Result<Self> {
        let m = validate_size(table_size)?;
        if hosts.len() > MAX_HOSTS {
            return Err(Error::TooManyNodes {
                nodes: hosts.len() as u64,
                limit: MAX_HOSTS as u64,
            });
        }
        // Envoy's order: sorted by key (`std::sort` of (key, host, weight) tuples; keys are unique here).
        let mut live: Vec<(&[u8], u32, u32)> = Vec::with_capacity(hosts.len());
        let mut total: u64 = 0;
        for (index, &(key, weight)) in (0u32..).zip(hosts) {
            if weight == 0 {
                continue;
            }
            if key.is_empty() {
                return Err(Error::EmptyName);
            }
            total += u64::from(weight);
            live.push((key, weight, index));
        }
        if total > MAX_TOTAL_WEIGHT {
            return Err(Error::TotalWeightTooLarge {
                total,
                limit: MAX_TOTAL_WEIGHT,
            });
        }
        if live.is_empty() {
            return Ok(MaglevTable {
                size: table_size,
                entries: Entries::Empty,
            });
        }
        live.sort_unstable_by(|a, b| a.0.cmp(b.0));
        if let Some(pair) = live.windows(2).find(|p| p[0].0 == p[1].0) {
            return Err(Error::DuplicateNode {
                name: String::from_utf8_lossy(pair[0].0).into_owned(),
            });
        }

        // thread_aware_lb_impl.cc, normalizeHostWeights without localities: `weight * 1.0 / sum` in
        // doubles, the maximum starting from 0.0.
        let sum = total as f64;
        let mut max_weight = 0.0f64;
        let build: Vec<BuildHost> = live
            .iter()
            .map(|&(key, weight, index)| {
                let weight = f64::from(weight) * 1.0 / sum;
                max_weight = max_weight.max(weight);
                BuildHost {
                    index,
                    offset: (xxhash_rust::xxh64::xxh64(key, 0) % table_size) as u32,
                    skip: (xxhash_rust::xxh64::xxh64(key, 1) % (table_size - 1) + 1) as u32,
                    weight,
                }
            })
            .collect();

        let entries = if hosts.len() <= 1 << 16 {
            Entries::Narrow(fill::fill(&build, max_weight, m, scan, lanes))
        } else {
            Entries::Wide(fill::fill(&build, max_weight, m, scan, lanes))
        };
        Ok(MaglevTable {
            size: table_size,
            entries,
        })
    }

    /// The host index owning `hash`: entry `hash mod M`. `None` for an empty table.
    #[cfg(test)]
    #[inline]
    pub(crate) fn owner(&self, hash: u64) -> Option<u32> {
        self.entry(hash % self.size)
    }

    /// The host index Envoy picks for `hash` on retry `attempt` (0 is the first pick): the owner of
    /// [`attempt_hash`]`(hash, attempt)`. `None` for an empty table.
    #[cfg(test)]
    #[inline]
    pub(crate) fn owner_on_attempt(&self, hash: u64, attempt: u32) -> Option<u32> {
        self.owner(attempt_hash(hash, attempt))
    }

    /// The number of entries, `M` (also for an empty table).
    #[inline]
    #[cfg(test)]
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// Whether the table has no entries (no host of weight above 0): every lookup gives `None`.
    #[cfg(test)]
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        matches!(self.entries, Entries::Empty)
    }

    /// The entries, host indices in entry order (for the search table, without a copy).
    pub(crate) fn into_entries(self) -> Entries {
        self.entries
    }

    /// The host index of entry `i`; `None` for an empty table or `i >= M`.
    #[cfg(test)]
    pub(crate) fn entry(&self, i: u64) -> Option<u32> {
        let i = usize::try_from(i).ok()?;
        match &self.entries {
            Entries::Empty => None,
            Entries::Narrow(e) => e.get(i).map(|&h| u32::from(h)),
            Entries::Wide(e) => e.get(i).copied(),
        }
    }

    /// Bytes per entry: 2 up to 65,536 hosts, 4 above, 0 for an empty table.
    #[cfg(test)]
    fn entry_bytes(&self) -> usize {
        match self.entries {
            Entries::Empty => 0,
            Entries::Narrow(_) => 2,
            Entries::Wide(_) => 4,
        }
    }
}

/// Checks a table size against Envoy's rules and returns it as a `u32` (every valid size fits).
pub(crate) fn validate_size(size: u64) -> Result<u32> {
    if size > MAX_TABLE_SIZE {
        return Err(Error::TableSizeTooLarge {
            size,
            limit: MAX_TABLE_SIZE,
        });
    }
    if !is_prime(size) {
        return Err(Error::TableSizeNotPrime { size });
    }
    // Below MAX_TABLE_SIZE, so it fits.
    Ok(size as u32)
}

/// Whether `n` is a prime (trial division by odd numbers; `n` is at most [`MAX_TABLE_SIZE`] here).
fn is_prime(n: u64) -> bool {
    if n < 4 {
        return n >= 2;
    }
    if n.is_multiple_of(2) {
        return false;
    }
    let mut d = 3;
    while d * d <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 2;
    }
    true
}
