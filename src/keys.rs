//! A batch of keys laid out for the batch lookups: every key's bytes back to back in one buffer,
//! so a front end that copies keys out of its own objects (a Python list, a generated stream) makes
//! two allocations for the whole batch, not one per key.

use std::fmt;

/// Keys back to back in one buffer, key `i` ending where `ends[i]` says; hand
/// [`slices`](Keys::slices) to [`crate::Snapshot::route_batch`].
///
/// ```
/// use ringroute::{Keys, Node, Placement, Snapshot};
/// let ring = Snapshot::new(Placement::native(), [Node::new("a"), Node::new("b")])?;
/// let mut keys = Keys::with_capacity(3, 32);
/// keys.push("user:1");
/// keys.push(b"user:2");
/// keys.push_with(|buf| buf.extend_from_slice(b"user:3"));
/// let mut out = vec![0u32; keys.len()];
/// ring.route_batch(&keys.slices(), &mut out)?;
/// assert_eq!(Some(out[2]), ring.route_id("user:3").map(|id| id.get()));
/// # Ok::<(), ringroute::Error>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Keys {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("len", &self.len())
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

impl Keys {
    /// No keys.
    pub fn new() -> Self {
        Self::default()
    }

    /// No keys, with room for `keys` keys of `bytes` bytes in all.
    pub fn with_capacity(keys: usize, bytes: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(keys),
        }
    }

    /// Appends a key.
    #[inline]
    pub fn push(&mut self, key: impl AsRef<[u8]>) {
        self.bytes.extend_from_slice(key.as_ref());
        self.ends.push(self.bytes.len());
    }

    /// Appends the key that `write` appends to the buffer (given whole, so a writer can reserve and
    /// copy as it likes, or `write!` into it).
    ///
    /// Panics if `write` leaves the buffer shorter than it found it (it removed earlier keys' bytes).
    #[inline]
    pub fn push_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.bytes.len();
        write(&mut self.bytes);
        assert!(
            self.bytes.len() >= start,
            "Keys::push_with: the writer removed bytes of earlier keys"
        );
        self.ends.push(self.bytes.len());
    }

    /// The number of keys.
    #[inline]
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are no keys.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The bytes of every key together.
    #[inline]
    pub fn total_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// Key `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let end = *self.ends.get(i)?;
        let start = i.checked_sub(1).map_or(0, |j| self.ends[j]);
        self.bytes.get(start..end)
    }

    /// The keys in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let key = &self.bytes[start..end];
            start = end;
            key
        })
    }

    /// The keys as slices of the buffer, in order: the argument of
    /// [`route_batch`](crate::Snapshot::route_batch).
    pub fn slices(&self) -> Vec<&[u8]> {
        self.iter().collect()
    }

    /// Removes every key, keeping the memory.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }
}

impl<K: AsRef<[u8]>> Extend<K> for Keys {
    fn extend<I: IntoIterator<Item = K>>(&mut self, keys: I) {
        for k in keys {
            self.push(k);
        }
    }
}

impl<K: AsRef<[u8]>> FromIterator<K> for Keys {
    fn from_iter<I: IntoIterator<Item = K>>(keys: I) -> Self {
        let mut out = Keys::new();
        out.extend(keys);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_back_as_pushed() {
        let mut keys: Keys = ["a", "", "ccc"].into_iter().collect();
        keys.push_with(|b| b.extend_from_slice(b"dd"));
        assert_eq!(keys.len(), 4);
        assert_eq!(keys.total_bytes(), 6);
        let want: [&[u8]; 4] = [b"a", b"", b"ccc", b"dd"];
        assert_eq!(keys.slices(), want);
        assert_eq!(keys.get(2), Some(&b"ccc"[..]));
        assert_eq!(keys.get(4), None);
        keys.clear();
        assert!(keys.is_empty());
        assert_eq!(keys.slices(), Vec::<&[u8]>::new());
    }

    #[test]
    #[should_panic(expected = "removed bytes")]
    fn a_writer_that_shortens_the_buffer_is_refused() {
        let mut keys: Keys = ["abc"].into_iter().collect();
        keys.push_with(|b| b.truncate(1));
    }
}
