//! A snapshot's node table, and a builder's edits over one.
//!
//! A [`NodeTable`] holds its nodes in chunks of [`CHUNK`] (`Arc`s of `Arc<Node>`s) and reads them
//! by dense id through an array of plain pointers into those nodes. The next snapshot's table
//! shares every chunk its publication did not change: a one-node publication copies the pointer
//! array (a `memcpy`), takes one reference per chunk, and copies the one or two chunks it changes.
//! A table of `Arc<Node>`s by id took one reference per node instead, and gave one back per node
//! when the old snapshot went: two atomic operations a node a publication, a fifth of a 1000-node
//! publication (measured; `docs/performance.md`).
//!
//! A node's *home* is its place in the chunks, `chunk * CHUNK + lane`. Homes stay as long as their
//! nodes do; a removed node's home is free for the next node added. Ids stay dense and in
//! insertion order, as the API has them.
//!
//! [`Edits`] is a builder's working membership over a base table: the base nodes by id, read
//! through the table, and the builder's own changes beside it, so that a builder made from a
//! snapshot copies nothing per node.
//!
//! This file holds the table's `unsafe`: the pointer reads and its `Send`/`Sync`. Each pointer is
//! made from an `Arc<Node>` that one of the table's own chunks holds, and chunks are written only
//! while the table that holds them is being made.

use std::ops::Index;
use std::ptr::NonNull;
use std::sync::Arc;

use crate::node::Node;

/// Nodes per chunk.
pub(crate) const CHUNK: usize = 16;

/// A chunk of homes: the nodes that live there.
type Chunk = [Option<Arc<Node>>; CHUNK];

/// An id or home that is none (ids and homes are below [`crate::MAX_NODES`]).
const NONE: u32 = u32::MAX;

/// A snapshot's nodes by dense id (see the module docs).
pub(crate) struct NodeTable {
    /// By id: the node, inside an `Arc` that a chunk of `chunks` holds (the invariant every
    /// `unsafe` read relies on).
    ptrs: Box<[NonNull<Node>]>,
    /// By id: the node's home.
    homes: Box<[u32]>,
    /// The homes. Never written once the table is made.
    chunks: Vec<Arc<Chunk>>,
    /// The homes below `chunks.len() * CHUNK` with no node, the lowest last.
    free: Vec<u32>,
}

// SAFETY: a table's pointers are shared references to `Node`s (which are `Send + Sync`) that the
// table's own chunks keep alive and never change; nothing is reachable through them mutably.
unsafe impl Send for NodeTable {}
// SAFETY: as for `Send`; every method takes `&self` and only reads.
unsafe impl Sync for NodeTable {}

/// A chunk with every home free.
fn empty_chunk() -> Chunk {
    std::array::from_fn(|_| None)
}

impl Default for NodeTable {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl NodeTable {
    /// A table of `nodes` in this order (ids `0..`), each at the home of its id.
    pub(crate) fn new(nodes: Vec<Arc<Node>>) -> Self {
        let len = nodes.len() as u32;
        let ptrs = nodes.iter().map(|n| NonNull::from(&**n)).collect();
        let homes = (0..len).collect();
        let mut chunks = Vec::with_capacity(nodes.len().div_ceil(CHUNK));
        let mut nodes = nodes.into_iter().peekable();
        while nodes.peek().is_some() {
            let mut chunk = empty_chunk();
            for (lane, n) in chunk.iter_mut().zip(&mut nodes) {
                *lane = Some(n);
            }
            chunks.push(Arc::new(chunk));
        }
        let end = (chunks.len() * CHUNK) as u32;
        Self {
            ptrs,
            homes,
            chunks,
            free: (len..end).rev().collect(),
        }
    }

    /// The number of nodes.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.ptrs.len()
    }

    /// Whether the table has no node.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.ptrs.is_empty()
    }

    /// The nodes by id.
    #[inline]
    pub(crate) fn as_slice(&self) -> &[&Node] {
        // SAFETY: `NonNull<Node>` is a non-null `*const Node` (`repr(transparent)`), which has the
        // layout of `&Node`; each pointer is to a `Node` inside an `Arc` that one of `self.chunks`
        // holds (invariant), so it is valid, and never written, for as long as `self` is borrowed.
        unsafe { std::slice::from_raw_parts(self.ptrs.as_ptr().cast::<&Node>(), self.ptrs.len()) }
    }

    /// The node with id `id`, if there is one.
    #[inline]
    pub(crate) fn get(&self, id: usize) -> Option<&Node> {
        self.as_slice().get(id).copied()
    }

    /// The node with id `id` as its chunk holds it (`id` below [`len`](Self::len)).
    pub(crate) fn arc(&self, id: usize) -> &Arc<Node> {
        let home = self.homes[id] as usize;
        self.chunks[home / CHUNK][home % CHUNK]
            .as_ref()
            .expect("an id's home holds its node")
    }

    /// The next table: this one's nodes in id order, less those whose entry in `edits` is `None`
    /// and with the others' replaced by their entries (`edits`: `(id, entry)`, ascending by id,
    /// each id below [`len`](Self::len)), then `added` in order.
    pub(crate) fn next(&self, edits: &[(u32, Option<Arc<Node>>)], added: Vec<Arc<Node>>) -> Self {
        debug_assert!(edits.windows(2).all(|w| w[0].0 < w[1].0));
        let removed = edits.iter().filter(|e| e.1.is_none()).count();
        let live = self.len() - removed + added.len();
        if live < self.chunks.len() * CHUNK / 4 {
            // Mostly free homes (a membership that shrank a lot): the chunks made afresh.
            let mut nodes: Vec<Arc<Node>> = Vec::with_capacity(live);
            let mut e = edits.iter().peekable();
            for id in 0..self.len() {
                match e.next_if(|(i, _)| *i as usize == id) {
                    Some((_, Some(n))) => nodes.push(Arc::clone(n)),
                    Some((_, None)) => {}
                    None => nodes.push(Arc::clone(self.arc(id))),
                }
            }
            nodes.extend(added);
            return Self::new(nodes);
        }
        let mut chunks = self.chunks.clone();
        let mut free = self.free.clone();
        let mut ptrs: Vec<NonNull<Node>> = Vec::with_capacity(live);
        let mut homes: Vec<u32> = Vec::with_capacity(live);
        // The unedited runs copied as they are; each edited node's home written in a copy of its
        // chunk (`make_mut`: the chunks are shared with this table).
        let mut from = 0;
        for (id, entry) in edits {
            let id = *id as usize;
            ptrs.extend_from_slice(&self.ptrs[from..id]);
            homes.extend_from_slice(&self.homes[from..id]);
            from = id + 1;
            let home = self.homes[id];
            let chunk = Arc::make_mut(&mut chunks[home as usize / CHUNK]);
            chunk[home as usize % CHUNK].clone_from(entry);
            match entry {
                Some(n) => {
                    ptrs.push(NonNull::from(&**n));
                    homes.push(home);
                }
                None => free.push(home),
            }
        }
        ptrs.extend_from_slice(&self.ptrs[from..]);
        homes.extend_from_slice(&self.homes[from..]);
        // Freed homes kept the lowest last, so that new nodes fill the low chunks first.
        free.sort_unstable_by(|a, b| b.cmp(a));
        for n in added {
            let home = free.pop().unwrap_or_else(|| {
                let start = (chunks.len() * CHUNK) as u32;
                chunks.push(Arc::new(empty_chunk()));
                free.extend((start + 1..start + CHUNK as u32).rev());
                start
            });
            ptrs.push(NonNull::from(&*n));
            homes.push(home);
            Arc::make_mut(&mut chunks[home as usize / CHUNK])[home as usize % CHUNK] = Some(n);
        }
        Self {
            ptrs: ptrs.into(),
            homes: homes.into(),
            chunks,
            free,
        }
    }
}

impl Index<usize> for NodeTable {
    type Output = Node;

    /// The node with id `id` (which must be below the table's length).
    #[inline]
    fn index(&self, id: usize) -> &Node {
        self.as_slice()[id]
    }
}

/// A builder's nodes by entry slot over a base table (see the module docs): the slots below the
/// base's length are its ids, read through it unless edited; the later slots are the builder's
/// own, in the order added.
#[derive(Clone, Default)]
pub(crate) struct Edits {
    base: Arc<NodeTable>,
    /// The edited base ids and their entries (`None`: removed), in the order first edited.
    edited: Vec<(u32, Option<Arc<Node>>)>,
    /// By base id, once more than [`SCAN`] are edited: where its entry is in `edited`, or `NONE`.
    at: Vec<u32>,
    /// The entries of the slots after the base's (`None`: removed).
    added: Vec<Option<Arc<Node>>>,
}

/// The most edited base ids looked for by a scan of the list, before a table by id is made.
const SCAN: usize = 16;

impl Edits {
    /// No edits over `base`.
    pub(crate) fn over(base: Arc<NodeTable>) -> Self {
        Self {
            base,
            ..Self::default()
        }
    }

    /// Entry slots in use: the base's and the added ones, removed ones included.
    pub(crate) fn len(&self) -> usize {
        self.base.len() + self.added.len()
    }

    /// Makes room for `more` added slots.
    pub(crate) fn reserve(&mut self, more: usize) {
        self.added.reserve(more);
    }

    /// Where base id `id`'s entry is in `edited`, if it is edited.
    fn edited_at(&self, id: usize) -> Option<usize> {
        if self.at.is_empty() {
            self.edited.iter().position(|e| e.0 as usize == id)
        } else {
            Some(self.at[id] as usize).filter(|&k| k != NONE as usize)
        }
    }

    /// The node in entry slot `slot`, unless the slot is empty (removed, or past the end).
    pub(crate) fn get(&self, slot: usize) -> Option<&Arc<Node>> {
        if slot < self.base.len() {
            match self.edited_at(slot) {
                Some(k) => self.edited[k].1.as_ref(),
                None => Some(self.base.arc(slot)),
            }
        } else {
            self.added.get(slot - self.base.len())?.as_ref()
        }
    }

    /// The entry of slot `slot` to write (a base slot's edited from then on).
    fn entry_mut(&mut self, slot: usize) -> Option<&mut Option<Arc<Node>>> {
        let base = self.base.len();
        if slot >= base {
            return self.added.get_mut(slot - base);
        }
        let k = match self.edited_at(slot) {
            Some(k) => k,
            None => {
                let k = self.edited.len();
                self.edited
                    .push((slot as u32, Some(Arc::clone(self.base.arc(slot)))));
                if !self.at.is_empty() {
                    self.at[slot] = k as u32;
                } else if self.edited.len() > SCAN {
                    self.at = vec![NONE; base];
                    for (k, e) in self.edited.iter().enumerate() {
                        self.at[e.0 as usize] = k as u32;
                    }
                }
                k
            }
        };
        Some(&mut self.edited[k].1)
    }

    /// The node in entry slot `slot`, to change (its base version stays the base's).
    pub(crate) fn get_mut(&mut self, slot: usize) -> Option<&mut Arc<Node>> {
        self.entry_mut(slot)?.as_mut()
    }

    /// Empties entry slot `slot` and returns its node.
    pub(crate) fn take(&mut self, slot: usize) -> Option<Arc<Node>> {
        self.entry_mut(slot)?.take()
    }

    /// Adds a slot holding `node`; returns the slot.
    pub(crate) fn push(&mut self, node: Arc<Node>) -> usize {
        self.added.push(Some(node));
        self.len() - 1
    }

    /// The entry slots that hold no node (removed nodes'), ascending.
    pub(crate) fn empty_slots(&self) -> Vec<u32> {
        let base = self.base.len();
        let mut empty: Vec<u32> = (self.edited.iter())
            .filter(|e| e.1.is_none())
            .map(|e| e.0)
            .collect();
        empty.sort_unstable();
        let added = self.added.iter().enumerate();
        empty.extend(
            added
                .filter(|(_, n)| n.is_none())
                .map(|(i, _)| (base + i) as u32),
        );
        empty
    }

    /// The nodes of the working membership, in slot order.
    pub(crate) fn nodes(&self) -> impl Iterator<Item = &Node> + '_ {
        (0..self.len()).filter_map(|s| self.get(s).map(|n| &**n))
    }

    /// The table of the working membership: its nodes in slot order, ids dense (the base table
    /// itself when nothing was edited or added).
    pub(crate) fn into_table(mut self) -> Arc<NodeTable> {
        let added: Vec<Arc<Node>> = self.added.into_iter().flatten().collect();
        if self.edited.is_empty() {
            if added.is_empty() {
                return self.base;
            }
            if self.base.is_empty() {
                return Arc::new(NodeTable::new(added));
            }
        }
        self.edited.sort_unstable_by_key(|e| e.0);
        Arc::new(self.base.next(&self.edited, added))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One change to a working membership.
    #[derive(Clone, Debug)]
    enum Op {
        /// Adds a node of a new name.
        Add,
        /// Removes the node in the slot at this fraction of the slots (if it holds one).
        Remove(f64),
        /// Replaces the node in the slot at this fraction of the slots with a copy of weight 2.
        Replace(f64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            Just(Op::Add),
            (0.0..1.0f64).prop_map(Op::Remove),
            (0.0..1.0f64).prop_map(Op::Replace),
        ]
    }

    /// Checks `table` against the model (the nodes by id): names, weights, the pointers against
    /// the chunks' nodes, and every home used once.
    fn check(table: &NodeTable, model: &[Arc<Node>]) {
        assert_eq!(table.len(), model.len());
        let mut homes = std::collections::HashSet::new();
        for (id, want) in model.iter().enumerate() {
            assert!(Arc::ptr_eq(table.arc(id), want), "id {id}");
            assert!(std::ptr::eq(table.as_slice()[id], &**want));
            assert!(std::ptr::eq(&table[id], &**want));
            assert!(homes.insert(table.homes[id]));
        }
        let lanes: usize = (table.chunks.iter())
            .map(|c| c.iter().filter(|n| n.is_some()).count())
            .sum();
        assert_eq!(lanes, model.len(), "a chunk holds a node that left");
        for &f in &table.free {
            let f = f as usize;
            assert!(table.chunks[f / CHUNK][f % CHUNK].is_none());
            assert!(!homes.contains(&(f as u32)));
        }
        assert_eq!(table.free.len() + model.len(), table.chunks.len() * CHUNK);
    }

    proptest! {
        /// Rounds of edits through [`Edits`] make the table a plain list of the nodes would have,
        /// the base tables stay as they were, and unedited chunks are shared, not copied.
        #[test]
        fn edits_make_the_table_of_the_model(
            start in 0usize..300,
            rounds in prop::collection::vec(prop::collection::vec(op(), 0..40), 1..6),
        ) {
            let mut names = 0;
            let mut fresh = || {
                names += 1;
                Arc::new(Node::new(format!("n{names}")))
            };
            let mut model: Vec<Arc<Node>> = (0..start).map(|_| fresh()).collect();
            let mut table = Arc::new(NodeTable::new(model.clone()));
            check(&table, &model);
            for ops in rounds {
                let before = model.clone();
                let mut edits = Edits::over(Arc::clone(&table));
                let mut slots: Vec<Option<Arc<Node>>> = model.iter().cloned().map(Some).collect();
                let mut edited_chunks = std::collections::HashSet::new();
                for op in ops {
                    let at = |f: f64| (f * slots.len() as f64) as usize;
                    match op {
                        Op::Add => {
                            let n = fresh();
                            prop_assert_eq!(edits.push(Arc::clone(&n)), slots.len());
                            slots.push(Some(n));
                        }
                        Op::Remove(f) if !slots.is_empty() => {
                            let s = at(f);
                            prop_assert_eq!(edits.take(s).map(|n| n.name.clone()),
                                slots[s].take().map(|n| n.name.clone()));
                            if s < table.len() {
                                edited_chunks.insert(table.homes[s] as usize / CHUNK);
                            }
                        }
                        Op::Replace(f) if !slots.is_empty() => {
                            let s = at(f);
                            if let Some(n) = edits.get_mut(s) {
                                Arc::make_mut(n).weight = 2;
                                slots[s] = Some(Arc::clone(n));
                                if s < table.len() {
                                    edited_chunks.insert(table.homes[s] as usize / CHUNK);
                                }
                            }
                        }
                        _ => {}
                    }
                    for (s, want) in slots.iter().enumerate() {
                        prop_assert_eq!(edits.get(s).map(|n| (n.name.clone(), n.weight)),
                            want.as_ref().map(|n| (n.name.clone(), n.weight)));
                    }
                    let empty: Vec<u32> = (0..slots.len() as u32)
                        .filter(|&s| slots[s as usize].is_none())
                        .collect();
                    prop_assert_eq!(edits.empty_slots(), empty);
                }
                model = slots.into_iter().flatten().collect();
                let next = edits.into_table();
                check(&next, &model);
                check(&table, &before);
                // A chunk no edit touched is shared (unless the table was made afresh).
                if next.chunks.len() >= table.chunks.len() && next.len() >= table.chunks.len() * CHUNK / 4 {
                    for (c, chunk) in table.chunks.iter().enumerate() {
                        if !edited_chunks.contains(&c) {
                            let same = Arc::ptr_eq(chunk, &next.chunks[c]);
                            // New nodes may fill a freed home of an unedited chunk.
                            prop_assert!(same || chunk.iter().any(Option::is_none));
                        }
                    }
                }
                table = next;
            }
        }
    }
}
