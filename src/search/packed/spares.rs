//! Spare arrays for a ring's publications: the arrays of rings that are gone, kept for the rings
//! made after them.
//!
//! A flat publication writes the next ring's arrays whole (about 230 KiB at 100 nodes). Fresh
//! arrays each time cost more than the copy into them: the allocator grows its heap for them and
//! gives the top back when an old ring goes, and every regrowth faults the pages in again (in a
//! profile of 100-node publications, a sixth of the time was the kernel's and a twentieth
//! `malloc`'s). So the arrays of a ring that goes are given back to the rings of its lineage (every
//! ring published from the same full build shares one [`Spares`]), and the next publication takes
//! them: memory the process has, most often still in the cache.
//!
//! A publication in place (a removal leaving stand-ins, a node added back onto them; see `flat`)
//! changes a few hundred slots. Its slot array is then the array of a gone ancestor, brought up to
//! date by rewriting the ranks the rings since have changed ([`Record`]), where the lineage kept
//! one; its low bits are its parent's, shared.
//!
//! A paged ring's publication writes a new chunk of the pages it touches (~70 KiB at 1000 nodes)
//! and new page heads and starts (~48 KiB). Those go back the same way: a ring's heads and starts
//! when it goes, a chunk's lines when its last page is gone from every ring (see `merge`). A
//! ring's heads differ from its parent's only at the pages its publication wrote, so a kept heads
//! array goes back with its ring's [`Record`] of them, and a publication brings an ancestor's up
//! to date as a flat one does its slots (at 10,000 nodes, a few hundred heads written instead of
//! 32,768 copied: publications 6–7 % faster; at 1000 nodes even). Chunks vary in size by a few
//! pages, so a publication makes its chunk with an eighth to spare; without
//! that, an addition's chunk (a little larger than a removal's) never fitted a kept one. A full
//! build's chunk, and a repacking's, are the whole ring's size and are freed as they are. Measured
//! at 1000 nodes: publications 2–5 % faster in the steady state and 6–9 % over the first hundred
//! remove/add pairs after a build (see `docs/performance.md`).
//!
//! A lineage keeps at most [`KEEP`] arrays of each kind. Nothing waits on the lock: a ring can go
//! on any thread (the one that runs the epoch collector's deferred drops, a reader's included), so
//! giving back and taking use `try_lock`, and a busy lock means the arrays are freed, or made
//! afresh, as before.

use std::sync::Arc;

use super::{Head, Line};
use crate::sync::Mutex;

/// The most records a chain of in-place publications keeps (see [`Record`]): past it, a ring's
/// record starts a new chain, as a ring written whole does.
const CHAIN_MAX: u8 = 8;

/// Which entries an array of a ring holds, as a change from its parent's: a flat ring published in
/// place (see `flat`) differs from the ring it came from only at a few slot ranks, and a paged
/// ring's heads only at the pages its publication wrote, so the array of an ancestor that is gone
/// can be brought up to date by rewriting the entries its descendants changed, instead of copying
/// the whole array. A spare slot or heads array keeps its ring's record.
pub(super) struct Record {
    /// The entries (slot ranks, or pages) at which this ring's array differs from its parent's;
    /// `None` where no ancestor's array can be brought to this ring's (its arrays were written
    /// whole, or the chain was cut).
    changed: Option<Box<[u32]>>,
    /// The parent's record (`None` where `changed` is `None`).
    parent: Option<Arc<Record>>,
    /// How many records the chain holds below this one.
    depth: u8,
    /// Whether the ring was made in place from its parent (also where the chain was cut). Read for
    /// flat rings only (a paged ring's record says so whenever [`changed`](Self::changed) made it).
    in_place: bool,
}

impl Record {
    /// The record of a ring whose slot array was written whole.
    pub(super) fn whole() -> Arc<Record> {
        Arc::new(Record {
            changed: None,
            parent: None,
            depth: 0,
            in_place: false,
        })
    }

    /// Whether the ring was made in place from its parent.
    pub(super) fn in_place(&self) -> bool {
        self.in_place
    }

    /// The record of a ring made in place from the ring of `parent`, differing from it at the
    /// slot ranks `changed`.
    pub(super) fn changed(parent: &Arc<Record>, changed: Vec<u32>) -> Arc<Record> {
        if parent.depth + 1 >= CHAIN_MAX {
            return Arc::new(Record {
                changed: None,
                parent: None,
                depth: 0,
                in_place: true,
            });
        }
        Arc::new(Record {
            changed: Some(changed.into_boxed_slice()),
            parent: Some(Arc::clone(parent)),
            depth: parent.depth + 1,
            in_place: true,
        })
    }
}

/// The most arrays of each kind a lineage keeps: the ring a publication replaced and, when readers
/// held it a while, the one before. A lineage so holds at most two rings' arrays besides its live
/// rings' (at 100 nodes of 160 points, ~230 KiB each). One or three kept measured the same as two
/// for publications with no reader (100 nodes, 2000 publications, 14.0–14.2 µs each way).
const KEEP: usize = 2;

/// The spare arrays of one lineage of rings (see the module docs).
#[derive(Default)]
pub(super) struct Spares {
    kept: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    /// Slot arrays, each with its ring's record (content intact; see [`Spares::take_updated`]).
    slots: Vec<(Arc<Record>, Vec<u64>)>,
    lows: Vec<Vec<u16>>,
    dirs: Vec<Vec<u16>>,
    /// A paged ring's page heads (content intact, with the ring's record; see
    /// [`Spares::take_updated_heads`]), page counts and block starts (see `starts`).
    heads: Vec<(Arc<Record>, Vec<Head>)>,
    counts: Vec<Vec<u8>>,
    starts: Vec<Vec<u32>>,
    /// The lines of a paged ring's publication chunks.
    lines: Vec<Vec<Line>>,
}

/// Takes the last array of `kept` that holds `len` elements with at most a quarter to spare (an
/// array far larger would keep memory a shrunk ring no longer needs), emptied; else a new one of
/// capacity `room`.
fn take<T>(kept: &mut Vec<Vec<T>>, len: usize, room: usize) -> Vec<T> {
    while let Some(mut v) = kept.pop() {
        if v.capacity() >= len && v.capacity() - v.capacity() / 4 <= len {
            v.clear();
            return v;
        }
    }
    Vec::with_capacity(room)
}

/// Takes the last array of `kept` (slots or heads) as [`take`] does (its record dropped).
fn take_recorded<T>(kept: &mut Vec<(Arc<Record>, Vec<T>)>, len: usize, room: usize) -> Vec<T> {
    while let Some((_, mut v)) = kept.pop() {
        if v.capacity() >= len && v.capacity() - v.capacity() / 4 <= len {
            v.clear();
            return v;
        }
    }
    Vec::with_capacity(room)
}

/// Keeps `v` in `kept` unless [`KEEP`] are kept already.
fn give<T>(kept: &mut Vec<Vec<T>>, v: Vec<T>) {
    if kept.len() < KEEP && v.capacity() > 0 {
        kept.push(v);
    }
}

/// Keeps an array with its ring's record (slots or heads), the oldest kept one dropped past
/// [`KEEP`]: the newest is the likeliest ancestor of the next publication's ring.
fn give_newest<T>(kept: &mut Vec<(Arc<Record>, Vec<T>)>, (record, v): (Arc<Record>, Vec<T>)) {
    if v.capacity() > 0 {
        if kept.len() >= KEEP {
            kept.remove(0);
        }
        kept.push((record, v));
    }
}

/// The array of the ring whose record is `record`, made from the kept array of one of its
/// ancestors (taken out of `kept`) brought up to date: every entry a ring between them changed
/// rewritten from `current`, that ring's array. `None` if no kept array is one.
fn updated<T: Copy>(
    kept: &mut Vec<(Arc<Record>, Vec<T>)>,
    record: &Arc<Record>,
    current: &[T],
) -> Option<Vec<T>> {
    // The ancestors, nearest first, and for each the records of the rings after it.
    let mut newer: Vec<&Record> = vec![record];
    let mut at = record.parent.as_ref();
    while let Some(ancestor) = at {
        if let Some(i) = kept.iter().position(|(r, _)| Arc::ptr_eq(r, ancestor)) {
            let (_, mut array) = kept.swap_remove(i);
            if array.len() != current.len() {
                return None;
            }
            for rec in &newer {
                for &r in rec.changed.as_deref()? {
                    let r = r as usize;
                    array[r] = *current.get(r)?;
                }
            }
            return Some(array);
        }
        newer.push(ancestor);
        at = ancestor.parent.as_ref();
    }
    None
}

impl Spares {
    /// Arrays for a ring of `slots` slots, `lows` low bits and `dir` directory entries (no slots
    /// or low bits where `None`: the ring has them otherwise): kept ones where they fit, emptied,
    /// else new ones of capacity `room(len)` for each `len`.
    pub(super) fn take(
        &self,
        (slots, lows, dir): (Option<usize>, Option<usize>, usize),
        room: impl Fn(usize) -> usize,
    ) -> (Option<Vec<u64>>, Option<Vec<u16>>, Vec<u16>) {
        match self.kept.try_lock() {
            Ok(mut k) => (
                slots.map(|slots| take_recorded(&mut k.slots, slots, room(slots))),
                lows.map(|lows| take(&mut k.lows, lows, room(lows))),
                take(&mut k.dirs, dir, dir),
            ),
            Err(_) => (
                slots.map(|slots| Vec::with_capacity(room(slots))),
                lows.map(|lows| Vec::with_capacity(room(lows))),
                Vec::with_capacity(dir),
            ),
        }
    }

    /// The slot array of the ring whose record is `record`, made from a kept array of one of its
    /// ancestors brought up to date (every rank a ring between them changed rewritten from
    /// `current`, that ring's slots); `None` if no kept array is one (the caller copies).
    pub(super) fn take_updated(&self, record: &Arc<Record>, current: &[u64]) -> Option<Vec<u64>> {
        updated(&mut self.kept.try_lock().ok()?.slots, record, current)
    }

    /// The heads of the paged ring whose record is `record`, made as
    /// [`take_updated`](Self::take_updated) makes slots (`current`: the ring's heads).
    pub(super) fn take_updated_heads(
        &self,
        record: &Arc<Record>,
        current: &[Head],
    ) -> Option<Vec<Head>> {
        updated(&mut self.kept.try_lock().ok()?.heads, record, current)
    }

    /// Gives back a gone ring's point arrays (freed instead if the lock is busy or enough are
    /// kept).
    pub(super) fn give_points(
        &self,
        (record, slots): (Arc<Record>, Vec<u64>),
        lows: Option<Vec<u16>>,
    ) {
        if let Ok(mut k) = self.kept.try_lock() {
            give_newest(&mut k.slots, (record, slots));
            if let Some(lows) = lows {
                give(&mut k.lows, lows);
            }
        }
    }

    /// Gives back a gone ring's directory (as [`give_points`](Self::give_points)).
    pub(super) fn give_dir(&self, dir: Vec<u16>) {
        if let Ok(mut k) = self.kept.try_lock() {
            give(&mut k.dirs, dir);
        }
    }

    /// An array of `kind` for `len` elements: a kept one where it fits, emptied, else a new one of
    /// capacity `room` (also when the lock is busy).
    fn take_kind<T>(
        &self,
        kind: impl FnOnce(&mut Kept) -> &mut Vec<Vec<T>>,
        len: usize,
        room: usize,
    ) -> Vec<T> {
        match self.kept.try_lock() {
            Ok(mut k) => take(kind(&mut k), len, room),
            Err(_) => Vec::with_capacity(room),
        }
    }

    /// An array for a paged ring's `len` heads: a kept one where it fits, emptied (its record
    /// dropped), else a new one.
    pub(super) fn take_heads(&self, len: usize) -> Vec<Head> {
        match self.kept.try_lock() {
            Ok(mut k) => take_recorded(&mut k.heads, len, len),
            Err(_) => Vec::with_capacity(len),
        }
    }

    /// An array for a paged ring's `len` page counts.
    pub(super) fn take_counts(&self, len: usize) -> Vec<u8> {
        self.take_kind(|k| &mut k.counts, len, len)
    }

    /// An array for a paged ring's `len` block starts.
    pub(super) fn take_starts(&self, len: usize) -> Vec<u32> {
        self.take_kind(|k| &mut k.starts, len, len)
    }

    /// Gives back a gone paged ring's heads (with its record), page counts and block starts (as
    /// [`give_points`](Self::give_points)).
    pub(super) fn give_paged(
        &self,
        heads: (Arc<Record>, Vec<Head>),
        (counts, starts): (Vec<u8>, Vec<u32>),
    ) {
        if let Ok(mut k) = self.kept.try_lock() {
            give_newest(&mut k.heads, heads);
            give(&mut k.counts, counts);
            give(&mut k.starts, starts);
        }
    }

    /// Lines for a publication's chunk of `len` lines: a kept chunk's where they fit, emptied,
    /// else new ones of capacity `room`.
    pub(super) fn take_lines(&self, len: usize, room: usize) -> Vec<Line> {
        self.take_kind(|k| &mut k.lines, len, room)
    }

    /// Gives back a gone chunk's lines (as [`give_points`](Self::give_points)).
    pub(super) fn give_lines(&self, lines: Vec<Line>) {
        if let Ok(mut k) = self.kept.try_lock() {
            give(&mut k.lines, lines);
        }
    }

    /// How many arrays of each kind are kept (slots, low bits, directories).
    #[cfg(test)]
    pub(super) fn counts(&self) -> (usize, usize, usize) {
        let k = self.kept.lock().unwrap();
        (k.slots.len(), k.lows.len(), k.dirs.len())
    }

    /// How many arrays of each paged kind are kept (heads, page counts, block starts, chunk
    /// lines).
    #[cfg(test)]
    pub(super) fn paged_counts(&self) -> (usize, usize, usize, usize) {
        let k = self.kept.lock().unwrap();
        (k.heads.len(), k.counts.len(), k.starts.len(), k.lines.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_given_back_are_taken_again_when_they_fit() {
        let spares = Spares::default();
        let slots = Vec::with_capacity(1000);
        let ptr = slots.as_ptr();
        spares.give_points((Record::whole(), slots), Some(Vec::with_capacity(900)));
        spares.give_dir(Vec::with_capacity(300));
        assert_eq!(spares.counts(), (1, 1, 1));
        let (s, l, d) = spares.take((Some(990), Some(900), 300), |n| n + n / 16);
        let (s, l) = (s.unwrap(), l.unwrap());
        assert_eq!(s.as_ptr(), ptr);
        assert!(s.is_empty() && l.capacity() == 900 && d.capacity() == 300);
        assert_eq!(spares.counts(), (0, 0, 0));
    }

    #[test]
    fn arrays_too_small_or_far_too_large_are_not_taken() {
        let spares = Spares::default();
        let slots = (Record::whole(), Vec::with_capacity(100));
        spares.give_points(slots, Some(Vec::with_capacity(4000)));
        let (s, l, _) = spares.take((Some(200), Some(1000), 10), |n| n + 1);
        let (s, l) = (s.unwrap(), l.unwrap());
        assert_eq!((s.capacity(), l.capacity()), (201, 1001));
        // Both were looked at and dropped.
        assert_eq!(spares.counts(), (0, 0, 0));
    }

    #[test]
    fn paged_arrays_given_back_are_taken_again_when_they_fit() {
        let spares = Spares::default();
        let heads: Vec<Head> = Vec::with_capacity(4096);
        let (counts, starts): (Vec<u8>, Vec<u32>) =
            (Vec::with_capacity(4096), Vec::with_capacity(257));
        let lines: Vec<Line> = Vec::with_capacity(1200);
        let ptrs = (
            heads.as_ptr(),
            counts.as_ptr(),
            starts.as_ptr(),
            lines.as_ptr(),
        );
        spares.give_paged((Record::whole(), heads), (counts, starts));
        spares.give_lines(lines);
        assert_eq!(spares.paged_counts(), (1, 1, 1, 1));
        let (h, c, s) = (
            spares.take_heads(4096),
            spares.take_counts(4096),
            spares.take_starts(257),
        );
        let l = spares.take_lines(1100, 1237);
        assert_eq!((h.as_ptr(), c.as_ptr(), s.as_ptr(), l.as_ptr()), ptrs);
        assert!(h.is_empty() && c.is_empty() && s.is_empty() && l.is_empty());
        assert_eq!(spares.paged_counts(), (0, 0, 0, 0));
        // Lines too few for a chunk, or far too many, are dropped, and new ones made.
        spares.give_lines(Vec::with_capacity(1000));
        spares.give_lines(Vec::with_capacity(1800));
        let l = spares.take_lines(1100, 1237);
        assert_eq!(l.capacity(), 1237);
        assert_eq!(spares.paged_counts(), (0, 0, 0, 0));
    }

    #[test]
    fn kept_heads_are_brought_up_to_date_from_an_ancestor() {
        // Three generations: the ancestor's heads, then two publications writing pages {2, 5}
        // and {5, 7}.
        let spares = Spares::default();
        let head = |i: usize| Head(std::ptr::null::<u64>().wrapping_add(i));
        let ancestor = Record::whole();
        let middle = Record::changed(&ancestor, vec![2, 5]);
        let current = Record::changed(&middle, vec![5, 7]);
        let old: Vec<Head> = (0..10).map(head).collect();
        let ptr = old.as_ptr();
        spares.give_paged((Arc::clone(&ancestor), old), (Vec::new(), Vec::new()));
        // The current ring's heads: every entry different from the ancestor's.
        let now: Vec<Head> = (100..110).map(head).collect();
        let got = spares
            .take_updated_heads(&current, &now)
            .expect("an ancestor's heads");
        assert_eq!(got.as_ptr(), ptr, "the kept array");
        // Only the pages written since the ancestor were rewritten.
        for (i, h) in got.iter().enumerate() {
            let want = if [2, 5, 7].contains(&i) {
                now[i]
            } else {
                head(i)
            };
            assert!(h.0 == want.0, "head {i}");
        }
        assert_eq!(spares.paged_counts().0, 0, "taken");
        // A ring with no kept ancestor, or heads of another length, gets none.
        assert!(spares.take_updated_heads(&current, &now).is_none());
        spares.give_paged(
            (ancestor, (0..9).map(head).collect()),
            (Vec::new(), Vec::new()),
        );
        assert!(spares.take_updated_heads(&current, &now).is_none());
    }

    #[test]
    fn at_most_keep_arrays_are_kept() {
        let spares = Spares::default();
        for _ in 0..KEEP + 2 {
            let slots = (Record::whole(), Vec::with_capacity(8));
            spares.give_points(slots, Some(Vec::with_capacity(8)));
        }
        assert_eq!(spares.counts(), (KEEP, KEEP, 0));
        for _ in 0..KEEP + 2 {
            spares.give_paged(
                (Record::whole(), Vec::with_capacity(8)),
                (Vec::with_capacity(8), Vec::with_capacity(2)),
            );
            spares.give_lines(Vec::with_capacity(8));
        }
        assert_eq!(spares.paged_counts(), (KEEP, KEEP, KEEP, KEEP));
    }
}
