//! The name → id index of a membership.
//!
//! A hash table of bare ids whose keys are the nodes' own names, looked up through a `name_of(id)`
//! accessor: it holds no copy of a name and no reference count, so the copy that each builder and
//! each snapshot takes is a copy of integers, and renumbering the ids after a removal rewrites them
//! in place without hashing a name again. (A map keyed by `Arc<str>` costs two atomic operations
//! per node per publication, measured at about a tenth of a 1000-node publication.)
//!
//! The table is open addressing with linear probing over one array of `u64` slots, each a name's
//! *tag* (the top 32 bits of its hash) above its id: a copy of the index is one copy of that array
//! (a `hashbrown` table is copied entry by entry unless its element type is known to be `Copy`,
//! which needs a nightly compiler: ~16 k instructions a copy at 1000 nodes, about 4 % of a
//! publication), a probe compares tags before it reads a name, and a slot's tag gives its home, so
//! growing and removing never hash a name again. Removal shifts the entries after the removed one
//! back into the gap (no tombstones), so a table that sees churn stays as short to probe as a fresh
//! one. The table is at most three quarters full.
//!
//! Names are hashed with foldhash (the hasher `hashbrown` itself defaults to), seeded at random per
//! process like the standard library's SipHash but several times faster on short strings; a name's
//! hash decides only where its id sits in this table, never where the node's keys go.

use std::hash::BuildHasher;

use foldhash::fast::RandomState;

/// An empty slot (no id is `u32::MAX`: ids are below [`crate::MAX_NODES`]).
const EMPTY: u64 = u64::MAX;

/// The slot of `id` under a name whose hash is `hash`: the hash's top 32 bits above the id.
#[inline]
fn slot(hash: u64, id: u32) -> u64 {
    hash & !0xFFFF_FFFF | u64::from(id)
}

/// The id in a slot.
#[inline]
fn id_of(slot: u64) -> u32 {
    slot as u32
}

/// The tag of a slot (or of a hash): its top 32 bits, which also give its home slot.
#[inline]
fn tag(slot: u64) -> u64 {
    slot >> 32
}

/// Ids keyed by the names that `name_of` gives them. Every method that compares names takes the
/// accessor; it must give the name of every id in the index (the index never asks for an id it
/// does not hold).
#[derive(Clone, Default)]
pub(crate) struct NameIndex {
    /// A power of two of slots (or none), at most three quarters in use.
    slots: Box<[u64]>,
    len: usize,
    state: RandomState,
}

impl NameIndex {
    /// The number of names.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The hash of `name`, for [`get_hashed`](Self::get_hashed) and
    /// [`insert_hashed`](Self::insert_hashed) (so that a lookup and an insert hash a name once).
    #[inline]
    pub(crate) fn hash(&self, name: &str) -> u64 {
        self.state.hash_one(name)
    }

    /// The home slot of a tag.
    #[inline]
    fn home(&self, tag: u64) -> usize {
        tag as usize & (self.slots.len() - 1)
    }

    /// The position of `name`'s slot, whose hash is `hash`.
    #[inline]
    fn find<'a>(&self, hash: u64, name: &str, name_of: impl Fn(u32) -> &'a str) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(tag(hash));
        // The table is never full, so an empty slot ends every probe.
        loop {
            let s = self.slots[i];
            if s == EMPTY {
                return None;
            }
            if tag(s) == tag(hash) && name_of(id_of(s)) == name {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
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
        self.find(hash, name, name_of).map(|i| id_of(self.slots[i]))
    }

    /// Adds `id` under `name`, which must not be in the index already.
    #[cfg(test)]
    pub(crate) fn insert<'a>(&mut self, name: &str, id: u32, name_of: impl Fn(u32) -> &'a str) {
        debug_assert!(self.get(name, &name_of).is_none());
        self.insert_hashed(self.hash(name), id);
    }

    /// Adds `id` under a name whose [`hash`](Self::hash) is `hash` and which is not in the index
    /// already.
    pub(crate) fn insert_hashed(&mut self, hash: u64, id: u32) {
        debug_assert!(id != u32::MAX);
        self.reserve(1);
        self.place(slot(hash, id));
        self.len += 1;
    }

    /// Puts `s` in the first empty slot from its home (there is one: the table has room).
    #[inline]
    fn place(&mut self, s: u64) {
        let mask = self.slots.len() - 1;
        let mut i = self.home(tag(s));
        while self.slots[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.slots[i] = s;
    }

    /// Makes room for `more` names without growing the table on the way.
    pub(crate) fn reserve(&mut self, more: usize) {
        let want = self.len + more;
        if want * 4 <= self.slots.len() * 3 {
            return;
        }
        let size = (want * 4 / 3 + 1).next_power_of_two().max(8);
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; size].into_boxed_slice());
        for &s in old.iter().filter(|&&s| s != EMPTY) {
            self.place(s);
        }
    }

    /// Removes `name` and returns its id.
    pub(crate) fn remove<'a>(
        &mut self,
        name: &str,
        name_of: impl Fn(u32) -> &'a str,
    ) -> Option<u32> {
        let mut hole = self.find(self.hash(name), name, name_of)?;
        let id = id_of(self.slots[hole]);
        // Shift back each later entry of the probe run that may fill the hole: one whose home is
        // not after the hole (cyclically, up to its own place).
        let mask = self.slots.len() - 1;
        let mut j = (hole + 1) & mask;
        loop {
            let s = self.slots[j];
            if s == EMPTY {
                break;
            }
            let home = self.home(tag(s));
            if j.wrapping_sub(home) & mask >= j.wrapping_sub(hole) & mask {
                self.slots[hole] = s;
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.slots[hole] = EMPTY;
        self.len -= 1;
        Some(id)
    }

    /// Replaces every id by `f(id)` (names keep their hashes, so nothing moves in the table).
    pub(crate) fn renumber(&mut self, f: impl Fn(u32) -> u32) {
        for s in self.slots.iter_mut().filter(|s| **s != EMPTY) {
            *s = slot(*s, f(id_of(*s)));
        }
    }

    /// Renumbers the ids after the removal of the ids in `gaps` (ascending, none of them in the
    /// index): each id moves down by the count of gaps below it. One gap (a node removed) is a
    /// pass without branches or table reads, which the compiler vectorizes.
    pub(crate) fn close_gaps(&mut self, gaps: &[u32]) {
        match gaps {
            [] => {}
            &[gap] => {
                for s in self.slots.iter_mut() {
                    // An id above the gap is at least 1: the decrement stays in the id's bits.
                    *s -= u64::from(*s != EMPTY && id_of(*s) > gap);
                }
            }
            _ => self.renumber(|id| id - gaps.partition_point(|&g| g < id) as u32),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

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

    proptest! {
        /// Closing gaps (one, several, none) gives every id the count of ids below it that are
        /// not gaps, as a renumbering by the reference mapping does.
        #[test]
        fn closing_gaps_renumbers_as_the_reference_does(
            n in 0u32..300,
            gaps in proptest::collection::btree_set(0u32..300, 0..6),
        ) {
            let names: Vec<String> = (0..n).map(|i| format!("node-{i}")).collect();
            let gaps: Vec<u32> = gaps.into_iter().filter(|&g| g < n).collect();
            let mut idx = NameIndex::default();
            for i in (0..n).filter(|i| !gaps.contains(i)) {
                idx.insert(&names[i as usize], i, |j| names[j as usize].as_str());
            }
            let mut want = idx.clone();
            want.renumber(|id| id - gaps.iter().filter(|&&g| g < id).count() as u32);
            idx.close_gaps(&gaps);
            prop_assert_eq!(&idx.slots, &want.slots);
            let kept: Vec<&String> = (0..n as usize)
                .filter(|&i| !gaps.contains(&(i as u32)))
                .map(|i| &names[i])
                .collect();
            for (id, name) in kept.iter().enumerate() {
                prop_assert_eq!(idx.get(name, |j| kept[j as usize].as_str()), Some(id as u32));
            }
        }

        /// Any sequence of inserts, removals and renumberings answers as a map does, in small
        /// tables (long probe runs, wrapping at the end) as in larger ones.
        #[test]
        fn answers_as_a_map_does(
            ops in proptest::collection::vec((0u8..4, 0u32..64), 0..400),
        ) {
            // Names of the form `n{k}`; ids are positions in `names`, which only grows.
            let mut names: Vec<String> = Vec::new();
            let mut model: HashMap<String, u32> = HashMap::new();
            let mut idx = NameIndex::default();
            for (op, k) in ops {
                let name = format!("n{k}");
                match op {
                    0 | 1 => {
                        if let std::collections::hash_map::Entry::Vacant(e) = model.entry(name) {
                            let id = names.len() as u32;
                            names.push(e.key().clone());
                            idx.insert_hashed(idx.hash(e.key()), id);
                            e.insert(id);
                        }
                    }
                    2 => {
                        let of = |i: u32| names[i as usize].as_str();
                        prop_assert_eq!(idx.remove(&name, of), model.remove(&name));
                    }
                    _ => {
                        // A renumbering that is its own inverse (ids swap in pairs), so that
                        // `names` stays the accessor once it is applied to it too.
                        let len = names.len();
                        let swap = move |i: u32| if (i as usize) ^ 1 < len { i ^ 1 } else { i };
                        idx.renumber(swap);
                        let mut renamed = names.clone();
                        for (i, n) in names.iter().enumerate() {
                            renamed[swap(i as u32) as usize] = n.clone();
                        }
                        names = renamed;
                        for id in model.values_mut() {
                            *id = swap(*id);
                        }
                    }
                }
                let of = |i: u32| names[i as usize].as_str();
                prop_assert_eq!(idx.len(), model.len());
                for k in 0..64 {
                    let name = format!("n{k}");
                    prop_assert_eq!(idx.get(&name, of), model.get(&name).copied(), "{}", name);
                }
                let copy = idx.clone();
                prop_assert_eq!(copy.get("n0", of), model.get("n0").copied());
            }
        }
    }
}
