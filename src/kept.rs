//! Memory a full build leaves for the next one: the large arrays a build writes (its scratch, and
//! the memory of a ring's points, once the ring is gone), kept process-wide for the next build
//! that needs an array of about the same size.
//!
//! A full build's arrays are megabytes (at 10,000 nodes of 160 points: 13.3 MB of partitions and
//! a 16 MB chunk of pages). Freed to the system allocator, they come back from wherever its heap
//! has room: glibc puts the next build's blocks in the holes the last one left only when no small
//! allocation has split them in between, and otherwise grows its heap, and every fresh page faults
//! in. In runs of twelve builds of one ring, four or five faulted ~3900 pages in this way (a fifth
//! of a 10,000-node build; Intel Xeon guest), and at 1000 nodes three faulted ~410 (a fifth of the
//! build again); which ones depended on the allocations around them. A 100-node ring's points
//! (130 KiB) are just over glibc's threshold for a mapping of their own, and faulted in on every
//! build (31 pages, a quarter of it). Kept here, the arrays are memory the process has written
//! before: no build after the first faults them in.
//!
//! The first array of each kind is freed, not kept. glibc learns from the large blocks a process
//! frees: it maps every block over a threshold (128 KiB at first) afresh, and freeing a mapped
//! block raises the threshold to its size (up to 32 MB). A process whose first large blocks were
//! all kept went on mapping, and faulting in, the arrays of its publications: at 10,000 nodes,
//! twice the faults and 10 % more time a publication.
//!
//! What is kept is what the builds before left, so a process that stops building holds it: one
//! chunk of pages, one block of partitions and [`KEEP_WORDS`] arrays of words, each the size of a
//! ring built before (30 MB after a 10,000-node build, 4.2 MB after a 1000-node one).
//! [`release`] frees them (`ringroute::release_build_memory`). Arrays under [`KEEP_MIN`] bytes are
//! not kept: the allocator's own caches serve those. A kept array is handed out only to a build
//! that needs no more than its room and not much less ([`held_most`] for an array a ring keeps,
//! [`scratch_most`] for scratch). Nothing waits on the locks: a ring can go on any
//! thread (the epoch collector's deferred drops), so giving back and taking use `try_lock`, and a
//! busy lock means the array is freed, or made afresh, as without this module. Under loom nothing
//! is kept.

use std::mem::MaybeUninit;

use crate::search::Line;
use crate::sync::StaticMutex;

/// The most word arrays kept: a build can use two at once (a ring's positions and its items, at
/// 1000 nodes). One chunk of lines and one block of partitions are kept: a build uses one of each.
const KEEP_WORDS: usize = 2;

/// The fewest bytes an array must have to be kept.
pub(crate) const KEEP_MIN: usize = 64 << 10;

/// Arrays of one kind, kept for the next build.
struct Shelf<T> {
    kept: StaticMutex<Kept<T>>,
    /// The most arrays kept.
    keep: usize,
}

/// What a [`Shelf`] holds.
struct Kept<T> {
    arrays: Vec<T>,
    /// Whether an array has been given to the shelf yet: the first is freed, not kept (see the
    /// module docs).
    given: bool,
}

/// An array with a capacity (in elements).
trait Room {
    fn room(&self) -> usize;
    fn bytes(&self) -> usize;
}

impl<T> Room for Vec<T> {
    fn room(&self) -> usize {
        self.capacity()
    }
    fn bytes(&self) -> usize {
        self.capacity() * std::mem::size_of::<T>()
    }
}

impl<T> Room for Box<[T]> {
    fn room(&self) -> usize {
        self.len()
    }
    fn bytes(&self) -> usize {
        std::mem::size_of_val(&**self)
    }
}

impl<T: Room> Shelf<T> {
    const fn new(keep: usize) -> Self {
        Shelf {
            kept: StaticMutex::new(Kept {
                arrays: Vec::new(),
                given: false,
            }),
            keep,
        }
    }

    /// The kept array of the least room between `need` and `most` elements, if there is one.
    fn take(&self, need: usize, most: usize) -> Option<T> {
        if cfg!(loom) {
            return None;
        }
        let mut kept = self.kept.try_lock().ok()?;
        let kept = &mut kept.arrays;
        let best = (kept.iter().enumerate())
            .filter(|(_, a)| (need..=most).contains(&a.room()))
            .min_by_key(|(_, a)| a.room())
            .map(|(i, _)| i)?;
        #[cfg(test)]
        TAKEN.with(|t| t.set(t.get() + 1));
        Some(kept.remove(best))
    }

    /// Keeps `array` for a later build (in place of the oldest kept, when the shelf is full), or
    /// frees it (the first array given, or when the lock is busy).
    fn give(&self, array: T) {
        if array.bytes() < KEEP_MIN || cfg!(loom) {
            return;
        }
        let Ok(mut kept) = self.kept.try_lock() else {
            return;
        };
        if !std::mem::replace(&mut kept.given, true) {
            drop(kept);
            return;
        }
        let oldest = (kept.arrays.len() == self.keep).then(|| kept.arrays.remove(0));
        kept.arrays.push(array);
        // The oldest freed once the lock is let go.
        drop(kept);
        drop(oldest);
    }

    /// Frees every kept array; the bytes they held.
    fn clear(&self) -> usize {
        let mut kept = match self.kept.lock() {
            Ok(k) => k,
            Err(poisoned) => poisoned.into_inner(),
        };
        kept.arrays.drain(..).map(|a| a.bytes()).sum()
    }
}

/// The shelves of every kind.
struct Shelves {
    lines: Shelf<Vec<Line>>,
    words: Shelf<Vec<u64>>,
    blocks: Shelf<Box<[MaybeUninit<u64>]>>,
}

impl Shelves {
    const fn new() -> Self {
        Shelves {
            lines: Shelf::new(1),
            words: Shelf::new(KEEP_WORDS),
            blocks: Shelf::new(1),
        }
    }
}

/// The process's shelves.
#[cfg(not(test))]
static SHELVES: Shelves = Shelves::new();

/// Runs `f` on the process's shelves.
#[cfg(not(test))]
fn shelves<R>(f: impl FnOnce(&Shelves) -> R) -> R {
    f(&SHELVES)
}

#[cfg(test)]
thread_local! {
    /// In the unit tests, each thread's own shelves: tests run side by side, and one that fills
    /// the shelves must find what it put there.
    static SHELVES: Shelves = const { Shelves::new() };
    /// How many arrays this thread's builds have taken from its shelves.
    static TAKEN: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[cfg(test)]
fn shelves<R>(f: impl FnOnce(&Shelves) -> R) -> R {
    SHELVES.with(f)
}

/// How much more room than asked an array a ring holds may have: a sixty-fourth (a ring keeps
/// its arrays' room as long as it lives).
pub(crate) fn held_most(need: usize) -> usize {
    need + need / 64
}

/// How much more room than asked a build's scratch may have: an eighth.
fn scratch_most(need: usize) -> usize {
    need + need / 8
}

/// An empty vector of room for `need` lines at least (and at most a sixty-fourth more): a ring's
/// chunk.
pub(crate) fn lines(need: usize) -> Vec<Line> {
    match shelves(|s| s.lines.take(need, held_most(need))) {
        Some(mut v) => {
            v.clear();
            v
        }
        None => Vec::with_capacity(need),
    }
}

/// An empty vector of room for `need` words at least (and at most a sixty-fourth more), for an
/// array a ring holds (a flat ring's slots).
pub(crate) fn held_words(need: usize) -> Vec<u64> {
    match shelves(|s| s.words.take(need, held_most(need))) {
        Some(mut v) => {
            v.clear();
            v
        }
        None => Vec::with_capacity(need),
    }
}

/// Keeps the words of a ring that is gone (a flat ring's slots, the last of its lineage).
pub(crate) fn give_held_words(v: Vec<u64>) {
    // Kept as a build's scratch is (see `Words`'s drop).
    drop(Words(v));
}

/// Keeps the lines of a chunk that is gone (a full build's or a repacking's).
pub(crate) fn give_lines(v: Vec<Line>) {
    shelves(|s| s.lines.give(v));
}

/// A build's scratch of words, given back to be kept when it goes.
pub(crate) struct Words(Vec<u64>);

impl Words {
    /// `n` words, each either `0` or what an earlier build left there: for scratch whose every
    /// word is written before it is read, or whose reader checks what it reads.
    pub(crate) fn stale(n: usize) -> Words {
        Words(match shelves(|s| s.words.take(n, scratch_most(n))) {
            Some(mut v) => {
                // Kept vectors are whole (their length is their room): this only shortens.
                v.truncate(n);
                v
            }
            None => vec![0; n],
        })
    }

    /// An empty vector of room for `n` words at least.
    pub(crate) fn empty(n: usize) -> Words {
        let mut v = Words::stale(n);
        v.0.clear();
        v
    }
}

impl std::ops::Deref for Words {
    type Target = Vec<u64>;
    fn deref(&self) -> &Vec<u64> {
        &self.0
    }
}

impl std::ops::DerefMut for Words {
    fn deref_mut(&mut self) -> &mut Vec<u64> {
        &mut self.0
    }
}

impl Drop for Words {
    fn drop(&mut self) {
        let mut v = std::mem::take(&mut self.0);
        if v.capacity() * 8 >= KEEP_MIN {
            // Every word up to the room written: a later `stale` may hand out any of them.
            v.resize(v.capacity(), 0);
            shelves(|s| s.words.give(v));
        }
    }
}

/// A block of `n` words, not written yet (or left as an earlier build wrote them).
pub(crate) fn block(n: usize) -> Box<[MaybeUninit<u64>]> {
    match shelves(|s| s.blocks.take(n, scratch_most(n))) {
        Some(b) => b,
        None => Box::new_uninit_slice(n),
    }
}

/// Keeps a build's block.
pub(crate) fn give_block(b: Box<[MaybeUninit<u64>]>) {
    shelves(|s| s.blocks.give(b));
}

/// Frees every array kept for later builds; the bytes they held.
pub(crate) fn release() -> usize {
    shelves(|s| s.lines.clear() + s.words.clear() + s.blocks.clear())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Node, Placement, Snapshot};

    /// This thread's count of arrays taken from its shelves.
    fn taken() -> usize {
        TAKEN.with(|t| t.get())
    }

    #[test]
    fn a_shelf_hands_out_the_least_room_that_fits_and_keeps_at_most_two() {
        let shelf: Shelf<Vec<u64>> = Shelf::new(2);
        let words = |n: usize| Vec::<u64>::with_capacity(n);
        let n = KEEP_MIN / 8;
        // Too small to keep; and the first array given is freed.
        shelf.give(words(n - 1));
        shelf.give(words(2 * n));
        assert!(shelf.take(1, usize::MAX).is_none());
        shelf.give(words(2 * n));
        shelf.give(words(3 * n));
        // Nothing in the range: nothing taken, nothing lost.
        assert!(shelf.take(n, 2 * n - 1).is_none());
        assert!(shelf.take(3 * n + 1, 4 * n).is_none());
        // Both fit: the lesser room comes first.
        assert_eq!(shelf.take(n, 3 * n).map(|v| v.capacity()), Some(2 * n));
        shelf.give(words(2 * n));
        // A third array sends the oldest (3n) away.
        shelf.give(words(4 * n));
        assert!(shelf.take(3 * n, 3 * n).is_none());
        assert_eq!(shelf.clear(), (2 * n + 4 * n) * 8);
        assert_eq!(shelf.clear(), 0);
        assert!(shelf.take(1, usize::MAX).is_none());
    }

    #[test]
    fn words_hand_back_their_room_written_and_are_taken_again() {
        release();
        // This thread's first array of words given is freed, not kept.
        drop(Words::empty(KEEP_MIN));
        let mut w = Words::empty(KEEP_MIN);
        w.extend([7, 8, 9]);
        let room = w.capacity();
        drop(w);
        let before = taken();
        // A stale scratch of the same size takes them: their words are what was left.
        let w = Words::stale(room);
        assert_eq!(taken(), before + 1);
        assert_eq!((w.len(), &w[..3]), (room, &[7, 8, 9][..]));
        drop(w);
        // Far less than the room: not taken (and a fresh scratch is zeroed).
        let w = Words::stale(room / 2);
        assert_eq!(taken(), before + 1);
        assert!(w.iter().all(|&x| x == 0));
        drop(w);
        assert!(release() >= room * 8);
    }

    /// Every array this thread keeps, its memory overwritten with a pattern no build writes.
    fn pollute() {
        shelves(|s| {
            for v in s.words.kept.lock().unwrap().arrays.iter_mut() {
                v.fill(0xA5A5_A5A5_A5A5_A5A5);
            }
            for b in s.blocks.kept.lock().unwrap().arrays.iter_mut() {
                b.fill(MaybeUninit::new(0x5A5A_5A5A_5A5A_5A5A));
            }
            for v in s.lines.kept.lock().unwrap().arrays.iter_mut() {
                v.resize(v.capacity(), Line([0xC3C3_C3C3_C3C3_C3C3; 8]));
                v.clear();
            }
        });
    }

    fn ring(placement: Placement, nodes: usize) -> Snapshot {
        Snapshot::new(
            placement,
            (0..nodes).map(|i| Node::new(format!("10.1.{}.{}:80", i / 256, i % 256))),
        )
        .unwrap()
    }

    #[test]
    fn builds_on_kept_memory_make_the_rings_fresh_memory_makes() {
        // Flat (100 nodes), by pages (1000, positions stored), by partitions (3000 native), and a
        // profile whose positions are stored at any size.
        let cases = [
            (Placement::default(), 100),
            (Placement::default(), 1000),
            (Placement::default(), 3000),
            (
                Placement::from_name("libmemcached-ketama", None).unwrap(),
                1500,
            ),
        ];
        // The first array of each kind given is freed, not kept.
        drop(ring(Placement::default(), 3000));
        for (placement, nodes) in cases {
            release();
            let fresh = ring(placement, nodes);
            let (points, owners) = (fresh.points().to_vec(), fresh.point_owners().to_vec());
            let hashes: Vec<u64> = (0..4096u64)
                .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
                .collect();
            let routes: Vec<_> = hashes.iter().map(|&h| fresh.route_hash(h)).collect();
            drop(fresh);
            // Twice on what the last builds left, made unlike anything a build writes.
            for _ in 0..2 {
                pollute();
                let before = taken();
                let again = ring(placement, nodes);
                assert!(taken() > before, "{nodes} nodes: no kept array taken");
                assert_eq!(again.points(), &points[..], "{nodes} nodes");
                assert_eq!(again.point_owners(), &owners[..], "{nodes} nodes");
                let got: Vec<_> = hashes.iter().map(|&h| again.route_hash(h)).collect();
                assert_eq!(got, routes, "{nodes} nodes");
            }
        }
        release();
    }
}
