//! The name → id index of a membership.
//!
//! A hash table of bare ids whose keys are the nodes' own names, looked up through a `name_of(id)`
//! accessor: it holds no copy of a name and no reference count, so the copy that each builder and
//! each snapshot takes is a copy of integers, and renumbering the ids after a removal rewrites them
//! in place without hashing a name again. (A map keyed by `Arc<str>` costs two atomic operations
//! per node per publication, measured at about a tenth of a 1000-node publication.)
//!
//! Names are hashed with foldhash (the hasher `hashbrown` itself defaults to), seeded at random per
//! process like the standard library's SipHash but several times faster on short strings; a name's
//! hash decides only where its id sits in this table, never where the node's keys go.

use std::hash::BuildHasher;

use foldhash::fast::RandomState;
use hashbrown::HashTable;

/// Ids keyed by the names that `name_of` gives them. Every method takes the accessor; it must give
/// the name of every id in the index (the index never asks for an id it does not hold).
#[derive(Clone, Default)]
pub(crate) struct NameIndex {
    table: HashTable<u32>,
    state: RandomState,
}

impl NameIndex {
    /// The number of names.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// The hash of `name`, for [`get_hashed`](Self::get_hashed) and
    /// [`insert_hashed`](Self::insert_hashed) (so that a lookup and an insert hash a name once).
    #[inline]
    pub(crate) fn hash(&self, name: &str) -> u64 {
        self.state.hash_one(name)
    }

    /// The id of `name`.
    #[inline]
    pub(crate) fn get<'a>(&self, name: &str, name_of: impl Fn(u32) -> &'a str) -> Option<u32> {
        self.get_hashed(self.hash(name), name, name_of)
    }

    /// The id of `name`, whose [`hash`](Self::hash) is `hash`.
    #[inline]
    pub(crate) fn get_hashed<'a>(
        &self,
        hash: u64,
        name: &str,
        name_of: impl Fn(u32) -> &'a str,
    ) -> Option<u32> {
        self.table.find(hash, |&id| name_of(id) == name).copied()
    }

    /// Adds `id` under `name`, which must not be in the index already.
    #[cfg(test)]
    pub(crate) fn insert<'a>(&mut self, name: &str, id: u32, name_of: impl Fn(u32) -> &'a str) {
        self.insert_hashed(self.hash(name), id, name_of);
    }

    /// Adds `id` under the name `name_of(id)`, whose [`hash`](Self::hash) is `hash` and which must
    /// not be in the index already.
    pub(crate) fn insert_hashed<'a>(
        &mut self,
        hash: u64,
        id: u32,
        name_of: impl Fn(u32) -> &'a str,
    ) {
        debug_assert!(self.get_hashed(hash, name_of(id), &name_of).is_none());
        let Self { table, state } = self;
        table.insert_unique(hash, id, |&i| state.hash_one(name_of(i)));
    }

    /// Makes room for `more` names without growing the table on the way.
    pub(crate) fn reserve<'a>(&mut self, more: usize, name_of: impl Fn(u32) -> &'a str) {
        let Self { table, state } = self;
        table.reserve(more, |&i| state.hash_one(name_of(i)));
    }

    /// Removes `name` and returns its id.
    pub(crate) fn remove<'a>(
        &mut self,
        name: &str,
        name_of: impl Fn(u32) -> &'a str,
    ) -> Option<u32> {
        let hash = self.state.hash_one(name);
        let entry = self
            .table
            .find_entry(hash, |&id| name_of(id) == name)
            .ok()?;
        Some(entry.remove().0)
    }

    /// Replaces every id by `f(id)` (names keep their hashes, so nothing moves in the table).
    pub(crate) fn renumber(&mut self, f: impl Fn(u32) -> u32) {
        for id in self.table.iter_mut() {
            *id = f(*id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_inserts_removes_and_renumbers() {
        let names: Vec<String> = (0..500).map(|i| format!("node-{i}")).collect();
        let of = |i: u32| names[i as usize].as_str();
        let mut idx = NameIndex::default();
        for i in 0..names.len() as u32 {
            idx.insert(&names[i as usize], i, of);
        }
        assert_eq!(idx.len(), 500);
        assert_eq!(idx.get("node-17", of), Some(17));
        assert_eq!(idx.get("node-500", of), None);
        assert_eq!(idx.remove("node-17", of), Some(17));
        assert_eq!(idx.remove("node-17", of), None);
        assert_eq!(idx.get("node-17", of), None);
        // Ids above 17 move one down: look up through the renumbered accessor.
        idx.renumber(|i| if i > 17 { i - 1 } else { i });
        let shifted = |i: u32| names[if i >= 17 { i as usize + 1 } else { i as usize }].as_str();
        for (i, name) in names.iter().enumerate().filter(|&(i, _)| i != 17) {
            let want = if i > 17 { i - 1 } else { i } as u32;
            assert_eq!(idx.get(name, shifted), Some(want), "{name}");
        }
        let copy = idx.clone();
        assert_eq!(copy.get("node-499", shifted), Some(498));
    }
}
