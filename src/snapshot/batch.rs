//! Batch lookups: many keys (or key positions) hashed and searched per call, in chunks whose
//! positions sit in a stack buffer, with the kernel the CPU has; health applied afterwards.

use super::{Snapshot, NO_OWNER};
use crate::error::{Error, Result};
use crate::hash::xxh3_64;
use crate::node::NodeId;
use crate::placement::{KeyHasher, Profile};
use crate::search::Kernel;

/// Keys hashed ahead of the search in one go by the batch lookups (a stack buffer).
const BATCH_CHUNK: usize = 256;

impl Snapshot {
    /// Routes many key positions at once: `out[i]` = the owner id of `hashes[i]` (as
    /// [`route_hash`](Self::route_hash) gives it), or [`NO_OWNER`] for every key if no node owns a
    /// point. Uses the fastest [`Kernel`] this CPU has; allocates nothing.
    ///
    /// Errors: [`Error::BatchLength`] if `out` is not as long as `hashes`.
    ///
    /// ```
    /// use ringroute::{Node, Placement, Snapshot};
    /// let ring = Snapshot::new(Placement::native(), [Node::new("a"), Node::new("b")])?;
    /// let hashes: Vec<u64> = ["k1", "k2", "k3"].iter().map(|k| ring.key_hash(k)).collect();
    /// let mut out = [0u32; 3];
    /// ring.route_hash_batch(&hashes, &mut out)?;
    /// assert_eq!(out[1], ring.route_hash(hashes[1]).unwrap().get());
    /// # Ok::<(), ringroute::Error>(())
    /// ```
    #[inline]
    pub fn route_hash_batch(&self, hashes: &[u64], out: &mut [u32]) -> Result<()> {
        self.route_hash_batch_with(Kernel::detect(), hashes, out)
    }

    /// [`route_hash_batch`](Self::route_hash_batch) with a chosen kernel (every kernel gives the same
    /// answers). Errors: [`Error::BatchLength`], [`Error::KernelUnavailable`].
    pub fn route_hash_batch_with(
        &self,
        kernel: Kernel,
        hashes: &[u64],
        out: &mut [u32],
    ) -> Result<()> {
        if !self.batch_ready(kernel, hashes.len(), out)? {
            return Ok(());
        }
        match self.placement.profile() {
            // A native key's search position is its hash.
            Profile::Native if self.health.any_down() => {
                self.search_chunks(kernel, hashes, out, |hs, buf| buf.copy_from_slice(hs))
            }
            Profile::Native => self.ring.index.owners_batch(hashes, out, kernel),
            // `route_hash` applies health itself.
            p if p.is_wide() => {
                for (o, &h) in out.iter_mut().zip(hashes) {
                    *o = self.route_hash(h).map_or(NO_OWNER, NodeId::get);
                }
            }
            _ => self.search_chunks(kernel, hashes, out, |hs, buf| {
                for (b, &h) in buf.iter_mut().zip(hs) {
                    *b = self.placement.search_from(h);
                }
            }),
        }
        Ok(())
    }

    /// Routes many keys at once: hashes them and searches them in groups, `out[i]` = the owner id of
    /// `keys[i]` (as [`route_id`](Self::route_id) gives it), or [`NO_OWNER`] for every key if no node
    /// owns a point. Uses the fastest [`Kernel`] this CPU has; allocates nothing.
    ///
    /// Errors: [`Error::BatchLength`] if `out` is not as long as `keys`.
    ///
    /// ```
    /// use ringroute::{Node, Placement, Snapshot};
    /// let ring = Snapshot::new(Placement::native(), [Node::new("a"), Node::new("b")])?;
    /// let keys = ["user:1", "user:2", "user:3"];
    /// let mut out = [0u32; 3];
    /// ring.route_batch(&keys, &mut out)?;
    /// for (k, &o) in keys.iter().zip(&out) {
    ///     assert_eq!(Some(o), ring.route_id(k).map(|id| id.get()));
    /// }
    /// # Ok::<(), ringroute::Error>(())
    /// ```
    #[inline]
    pub fn route_batch<K: AsRef<[u8]>>(&self, keys: &[K], out: &mut [u32]) -> Result<()> {
        self.route_batch_with(Kernel::detect(), keys, out)
    }

    /// [`route_batch`](Self::route_batch) with a chosen kernel (every kernel gives the same answers).
    /// Errors: [`Error::BatchLength`], [`Error::KernelUnavailable`].
    pub fn route_batch_with<K: AsRef<[u8]>>(
        &self,
        kernel: Kernel,
        keys: &[K],
        out: &mut [u32],
    ) -> Result<()> {
        if !self.batch_ready(kernel, keys.len(), out)? {
            return Ok(());
        }
        // md5 profiles hash many lanes at a time ([`crate::md5x`]); the wide one then routes each
        // 128-bit position exactly (the tie-break of `route_wide`), the narrow ones search. The
        // 4 KiB digest buffer is made in those arms only, so other profiles' calls never zero it.
        match self.placement.profile().key_hasher() {
            KeyHasher::Md5Wide => {
                let mut words = [[0u32; 4]; BATCH_CHUNK];
                for (ks, out) in keys.chunks(BATCH_CHUNK).zip(out.chunks_mut(BATCH_CHUNK)) {
                    let words = &mut words[..ks.len()];
                    crate::md5x::md5_words(kernel, ks, words);
                    // `route_wide` applies health itself.
                    for (o, w) in out.iter_mut().zip(words.iter()) {
                        let pos = crate::md5x::words_to_u128_be(*w);
                        *o = self.route_wide(pos).map_or(NO_OWNER, NodeId::get);
                    }
                }
            }
            KeyHasher::Md5Word0 => {
                let mut words = [[0u32; 4]; BATCH_CHUNK];
                self.search_chunks(kernel, keys, out, |ks, buf| {
                    let words = &mut words[..ks.len()];
                    crate::md5x::md5_words(kernel, ks, words);
                    for (b, w) in buf.iter_mut().zip(words.iter()) {
                        *b = self.placement.search_from(u64::from(w[0]));
                    }
                })
            }
            KeyHasher::Other => match self.placement.profile() {
                Profile::Native => self.search_chunks(kernel, keys, out, |ks, buf| {
                    for (b, k) in buf.iter_mut().zip(ks) {
                        *b = xxh3_64(k.as_ref());
                    }
                }),
                // The AVX-512 kernel hashes eight keys a vector (`maglev::hash_lanes`).
                Profile::Maglev => self.search_chunks(kernel, keys, out, |ks, buf| {
                    crate::maglev::key_hashes(ks, buf, kernel == Kernel::Avx512)
                }),
                _ => self.search_chunks(kernel, keys, out, |ks, buf| {
                    for (b, k) in buf.iter_mut().zip(ks) {
                        *b = self
                            .placement
                            .search_from(self.placement.key_hash(k.as_ref()));
                    }
                }),
            },
        }
        Ok(())
    }

    /// The batch loop: `items` in chunks of [`BATCH_CHUNK`], each turned into search positions in a
    /// stack buffer by `positions(chunk, buffer)` (which fills `buffer[..chunk.len()]`), then
    /// searched together; when some node is down, the search also reads each key's next owner and
    /// the chunk is healed from both (see [`Snapshot::heal_pairs`]). `out.len() == items.len()`,
    /// and the ring has points.
    #[inline(always)]
    fn search_chunks<T>(
        &self,
        kernel: Kernel,
        items: &[T],
        out: &mut [u32],
        mut positions: impl FnMut(&[T], &mut [u64]),
    ) {
        let mut buf = [0u64; BATCH_CHUNK];
        if self.health.any_down() {
            let mut next = [0u32; BATCH_CHUNK];
            for (xs, out) in items.chunks(BATCH_CHUNK).zip(out.chunks_mut(BATCH_CHUNK)) {
                let (buf, next) = (&mut buf[..xs.len()], &mut next[..xs.len()]);
                positions(xs, buf);
                self.ring.index.owners_pair_batch(buf, out, next, kernel);
                self.heal_pairs(kernel, out, next, buf);
            }
            return;
        }
        for (xs, out) in items.chunks(BATCH_CHUNK).zip(out.chunks_mut(BATCH_CHUNK)) {
            let buf = &mut buf[..xs.len()];
            positions(xs, buf);
            self.ring.index.owners_batch(buf, out, kernel);
        }
    }

    /// Validates a batch call; `Ok(false)` (with `out` filled with [`NO_OWNER`]) if the ring has no
    /// points, so there is nothing to search.
    fn batch_ready(&self, kernel: Kernel, keys: usize, out: &mut [u32]) -> Result<bool> {
        if out.len() != keys {
            return Err(Error::BatchLength {
                keys,
                out: out.len(),
            });
        }
        if !kernel.is_available() {
            return Err(Error::KernelUnavailable {
                kernel: kernel.name(),
            });
        }
        if self.ring.len() == 0 {
            out.fill(NO_OWNER);
            return Ok(false);
        }
        Ok(true)
    }
}
