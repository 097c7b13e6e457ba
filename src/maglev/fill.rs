//! The weighted fill of Envoy's `constructImplementationInternals`, with the same result and less work.
//!
//! Envoy's loop, for `M` slots and hosts in sorted order:
//!
//! ```text
//! for iteration in 1.. while placed < M:
//!     for each host h, in order, while placed < M:
//!         if iteration * h.weight < h.target: continue
//!         h.target += max_weight
//!         c = (h.offset + h.skip * h.next) % M;  while slot c is taken: h.next += 1, recompute c
//!         take c for h;  h.next += 1;  placed += 1
//! ```
//!
//! Two parts, done separately here: the *schedule* (which host takes the next slot; it depends only on
//! the weights) and the *probe* (which slot it takes; it depends on the slots taken so far).
//!
//! - **Schedule**: with equal weights, hosts in turn ([`round_robin`]: every host passes every
//!   check). When the weights are near equal, Envoy's double loop itself ([`scan_schedule`]: each
//!   iteration picks most hosts). When they are skewed, most of its checks fail (a host of 1/1000 the
//!   largest weight is checked 1000 times a pick), so [`event_schedule`] computes, per host, the next
//!   iteration whose check passes and takes hosts in (iteration, sorted index) order from a heap: the
//!   same order, one heap step a pick. Both compute `iteration * weight < target` in `f64` exactly as
//!   Envoy does, `target` accumulated by the same additions.
//! - **Probe**: `(offset + skip · next) mod M` is kept as a running slot advanced by `skip` with a
//!   conditional subtraction (no multiplication or division), in groups of two or four slots with
//!   one branch a group (only the group's first slot is on the step's dependency chain), and taken
//!   slots are a bitmap (`M / 8` bytes, in L1 for the default size) apart from the entries.
//! - **Windows** (CPUs with AVX-512F): a probe's branches are mispredicted about once a pick, so
//!   picks are gathered into windows of distinct hosts (consecutive hosts under round robin) and
//!   probed sixteen at once against the bitmap as it is ([`lanes`]); then each takes its slot in
//!   pick order. A pick whose slot an earlier pick of its window took probes on from there, so the
//!   table is the one of picking one at a time. Windows shrink as slots run out (`left / 8` picks),
//!   which keeps those collisions rare.
//! - **Endgame**: with `k` free slots a pick probes ~`M / k` slots, so the last `√M` picks would
//!   take about half of all probes. There, each pick instead ranks the free slots in its host's
//!   permutation (`(slot − offset) · skip⁻¹ mod M`) and takes the first: the slot the probes would
//!   reach, found in `k` multiplications.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::lanes;

/// One host's inputs to the fill, in Envoy's order (sorted by key).
#[derive(Clone, Copy, Debug)]
pub(super) struct BuildHost {
    /// The host's index in the caller's slice (what the table stores).
    pub(super) index: u32,
    /// `XXH64(key, 0) mod M`.
    pub(super) offset: u32,
    /// `XXH64(key, 1) mod (M − 1) + 1`.
    pub(super) skip: u32,
    /// The normalised weight, `weight / Σ weights`.
    pub(super) weight: f64,
}

/// A table entry type: a host index narrow enough for the host count.
pub(super) trait Entry: Copy + Default {
    /// The entry for host index `i` (which fits, by the caller's choice of type).
    fn from_index(i: u32) -> Self;
}

impl Entry for u16 {
    #[inline]
    fn from_index(i: u32) -> Self {
        i as u16
    }
}

impl Entry for u32 {
    #[inline]
    fn from_index(i: u32) -> Self {
        i
    }
}

/// Hosts whose (largest / mean weight) is at most this use [`scan_schedule`], others
/// [`event_schedule`]: the scan checks about `ratio` hosts a pick, the heap about `2·log2(n)` steps.
const SCAN_MAX_SKEW: f64 = 4.0;

/// Fills a table of `m` entries for `hosts` (non-empty, sorted, every weight above 0) whose largest
/// weight is `max_weight`. `scan` forces [`scan_schedule`] (`Some(true)`) or [`event_schedule`]
/// (`Some(false)`); `None` picks by the weights' skew. Every choice gives the same table.
pub(super) fn fill<E: Entry>(
    hosts: &[BuildHost],
    max_weight: f64,
    m: u32,
    scan: Option<bool>,
    lanes: bool,
) -> Box<[E]> {
    let mut filler = Filler::new(hosts, m, lanes && lanes::available());
    match scan {
        None if hosts.iter().all(|h| h.weight == max_weight) => {
            round_robin(hosts.len(), &mut filler)
        }
        None if hosts.len() as f64 * max_weight <= SCAN_MAX_SKEW => {
            scan_schedule(hosts, max_weight, &mut filler)
        }
        None => event_schedule(hosts, max_weight, m, &mut filler),
        Some(true) => scan_schedule(hosts, max_weight, &mut filler),
        Some(false) => event_schedule(hosts, max_weight, m, &mut filler),
    }
    filler.table
}

/// The table being filled, and where each host's permutation is.
struct Filler<'a, E> {
    hosts: &'a [BuildHost],
    m: u32,
    table: Box<[E]>,
    /// One bit a slot: taken.
    taken: Box<[u64]>,
    /// Per host, the slot its permutation is at: `(offset + skip · next) mod M`.
    slot: Vec<u32>,
    /// Per host, `skip`.
    skip: Vec<u32>,
    /// Per host, `2 · skip mod M`.
    skip2: Vec<u32>,
    /// Slots not yet taken.
    left: u32,
    /// At this many free slots or fewer, [`Filler::place_endgame`] takes over.
    endgame_at: u32,
    /// The endgame's state, made when it starts.
    endgame: Option<Endgame>,
    /// Picks waiting for [`Filler::flush`] (with [`lanes`]; `None` without).
    window: Option<Window>,
    /// The probe's answers for a window, and its scratch.
    found: lanes::Found,
}

/// A window of picks probed together by `lanes::Found::first_free`: distinct hosts, in pick order.
struct Window {
    /// The hosts, in pick order.
    hosts: Vec<u32>,
    /// Per host, the number of the window it last joined.
    joined: Vec<u32>,
    /// This window's number (from 1; `joined` starts at 0).
    number: u32,
    /// The most picks this window takes.
    cap: usize,
    /// The picks' starts and skips (copied from the hosts' cursors).
    start: Vec<u32>,
    skip: Vec<u32>,
}

/// Windows of fewer picks are probed one by one: too few to fill the lanes.
const WINDOW_MIN: usize = 8;

/// The most picks a window takes.
const WINDOW_MAX: usize = 1024;

/// The most picks a window takes when `left` slots are free: fewer as slots run out, since the more
/// picks a window has, the more often an earlier one takes the slot a later one found (`left / 8`
/// measured best, against `/ 2` to `/ 32`).
fn window_cap(left: u32) -> usize {
    (left as usize / 8).clamp(WINDOW_MIN, WINDOW_MAX)
}

/// The last few free slots, found by rank instead of by probing.
struct Endgame {
    /// The free slots (unordered).
    free: Vec<u32>,
    /// Per host, `skip⁻¹ mod M` once computed (0 before: an inverse is never 0).
    inverse: Vec<u32>,
    /// `⌊(2^64 − 1) / M⌋`, for a division-free `mod M`.
    mu: u64,
}

impl<'a, E: Entry> Filler<'a, E> {
    fn new(hosts: &'a [BuildHost], m: u32, lanes: bool) -> Self {
        Filler {
            hosts,
            m,
            table: vec![E::default(); m as usize].into_boxed_slice(),
            taken: vec![0u64; (m as usize).div_ceil(64)].into_boxed_slice(),
            slot: hosts.iter().map(|h| h.offset).collect(),
            skip: hosts.iter().map(|h| h.skip).collect(),
            skip2: hosts.iter().map(|h| step(h.skip, h.skip, m)).collect(),
            left: m,
            endgame_at: m.isqrt(),
            endgame: None,
            window: lanes.then(|| Window {
                hosts: Vec::new(),
                joined: vec![0; hosts.len()],
                number: 1,
                cap: 0,
                start: Vec::new(),
                skip: Vec::new(),
            }),
            found: lanes::Found::default(),
        }
    }

    /// Host `h` takes the first free slot of its permutation from where it is (Envoy's
    /// `while (occupied[c]) { next++; c = permutation(entry); }`). With lanes, the pick may wait in
    /// the window; it is made, in order, before any pick outside the window.
    #[inline(always)]
    fn place(&mut self, h: usize) {
        if let Some(w) = &mut self.window {
            // Slots left when this pick is made, after the window's picks before it.
            if self.left as usize - w.hosts.len() > self.endgame_at as usize {
                if w.joined[h] == w.number {
                    self.flush();
                }
                let w = self.window.as_mut().expect("windows are on");
                if w.hosts.is_empty() {
                    w.cap = window_cap(self.left);
                }
                w.hosts.push(h as u32);
                w.joined[h] = w.number;
                if w.hosts.len() >= w.cap {
                    self.flush();
                }
                return;
            }
            self.flush();
        }
        if self.left > self.endgame_at {
            self.probe(h);
        } else {
            self.place_endgame(h);
        }
    }

    /// [`Filler::place`] by probing; while more than `endgame_at` slots are free. Slots are probed
    /// in groups (two, four from half full) with one branch a group, "is any of them free?"; the
    /// first free one is chosen with masks. A branch on each slot would be mispredicted about as
    /// often as slots are taken, which is what the fill's time went to.
    #[inline(always)]
    fn probe(&mut self, h: usize) {
        let m = self.m;
        let (mut c, skip, skip2) = (self.slot[h], self.skip[h], self.skip2[h]);
        let taken = &self.taken;
        // The taken bit of slot `c` in bit 0.
        let bit = |c: u32| taken[(c >> 6) as usize] >> (c & 63);
        let sel = |taken_bit: u64, a: u32, b: u32| {
            let mask = 0u32.wrapping_sub((taken_bit & 1) as u32);
            (a & !mask) | (b & mask)
        };
        let slot = if self.left > self.m / 2 {
            loop {
                let then = step(c, skip, m);
                let (at_c, at_then) = (bit(c), bit(then));
                if at_c & at_then & 1 == 0 {
                    break sel(at_c, c, then);
                }
                c = step(c, skip2, m);
            }
        } else {
            loop {
                let p1 = step(c, skip, m);
                let p2 = step(c, skip2, m);
                let p3 = step(p1, skip2, m);
                let (b0, b1, b2, b3) = (bit(c), bit(p1), bit(p2), bit(p3));
                if b0 & b1 & b2 & b3 & 1 == 0 {
                    break sel(b0, c, sel(b1, p1, sel(b2, p2, p3)));
                }
                c = step(p2, skip2, m);
            }
        };
        self.take(h, slot);
    }

    /// Makes the window's picks: probes them together, then takes their slots in pick order.
    fn flush(&mut self) {
        let Some(w) = &mut self.window else {
            return;
        };
        if w.hosts.is_empty() {
            return;
        }
        let hosts = std::mem::take(&mut w.hosts);
        if hosts.len() < WINDOW_MIN {
            for &h in &hosts {
                self.probe(h as usize);
            }
        } else {
            self.place_together(&hosts);
        }
        let w = self.window.as_mut().expect("windows are on");
        w.hosts = hosts;
        w.hosts.clear();
        w.number += 1;
    }

    /// Makes the picks of `hosts` (distinct, with lanes, more slots left than picks): probes them
    /// together from the hosts' cursors, then commits them in order.
    fn place_together(&mut self, hosts: &[u32]) {
        let w = self.window.as_mut().expect("windows are on");
        w.start.clear();
        w.skip.clear();
        w.start.extend(hosts.iter().map(|&h| self.slot[h as usize]));
        w.skip.extend(hosts.iter().map(|&h| self.skip[h as usize]));
        let mut found = std::mem::take(&mut self.found);
        let answers = found.first_free(&self.taken, self.m, &w.start, &w.skip);
        self.commit(hosts.iter().map(|&h| h as usize), answers);
        self.found = found;
    }

    /// Makes the picks of `hosts` (distinct) in turn, or as many as there are slots left; true if
    /// no slot is left. With lanes, the picks are probed together in windows of consecutive picks
    /// while the endgame is not near (the window machinery of [`Filler::place`] without its
    /// per-pick checks: the hosts are known to be distinct).
    fn place_all(&mut self, hosts: &[u32]) -> bool {
        let mut rest = hosts;
        if self.window.is_some() {
            self.flush();
            while let Some(count) = self.window_for(rest.len()) {
                let (now, later) = rest.split_at(count);
                self.place_together(now);
                rest = later;
            }
        }
        for &h in rest {
            self.place(h as usize);
            if self.left == 0 {
                return true;
            }
        }
        false
    }

    /// How many of the next `picks` (distinct hosts) one window takes now: [`window_cap`]'s share,
    /// or `None` when that is too few to fill the lanes or would reach the endgame.
    fn window_for(&self, picks: usize) -> Option<usize> {
        let count = window_cap(self.left).min(picks);
        (count >= WINDOW_MIN && (count as u64) + u64::from(self.endgame_at) < u64::from(self.left))
            .then_some(count)
    }

    /// Makes the picks of hosts `first..first + count` in turn, probed together (round robin's
    /// windows: the hosts' cursors are the probe's input as they are).
    fn place_range(&mut self, first: usize, count: usize) {
        let range = first..first + count;
        let mut found = std::mem::take(&mut self.found);
        let answers = found.first_free(
            &self.taken,
            self.m,
            &self.slot[range.clone()],
            &self.skip[range],
        );
        self.commit(first.., answers);
        self.found = found;
    }

    /// Each host of `picks` takes its slot of `found`, in order: the first free slot of its
    /// permutation before the window's earlier picks were made. Where one of them took it, the host
    /// probes on from there.
    #[inline(always)]
    fn commit(&mut self, picks: impl Iterator<Item = usize>, found: &[u32]) {
        let m = self.m;
        for (h, &slot) in picks.zip(found) {
            // `take`'s steps, with the bitmap word tested and set through one reference (calling
            // `take` after the test was 1–3 % slower a 100-node build).
            let word = &mut self.taken[(slot >> 6) as usize];
            let bit = 1u64 << (slot & 63);
            if *word & bit != 0 {
                self.probe_from(h, slot);
                continue;
            }
            *word |= bit;
            self.table[slot as usize] = E::from_index(self.hosts[h].index);
            self.slot[h] = step(slot, self.skip[h], m);
            self.left -= 1;
        }
    }

    /// Host `h` probes on from `slot`, taken by an earlier pick of its window.
    #[cold]
    #[inline(never)]
    fn probe_from(&mut self, h: usize, slot: u32) {
        self.slot[h] = slot;
        self.probe(h);
    }

    /// Records `slot` as host `h`'s, and moves `h`'s permutation past it.
    #[inline(always)]
    fn take(&mut self, h: usize, slot: u32) {
        self.taken[(slot >> 6) as usize] |= 1 << (slot & 63);
        self.table[slot as usize] = E::from_index(self.hosts[h].index);
        self.slot[h] = step(slot, self.skip[h], self.m);
        self.left -= 1;
    }

    /// [`Filler::place`] when few slots are free: every slot before a host's position in its
    /// permutation is taken (it probed them all), so its next slot is the free slot `s` that comes
    /// first in its permutation, the one of least rank `(s − offset) · skip⁻¹ mod M`. That is one
    /// multiplication a free slot instead of ~`M / free` probes.
    #[cold]
    #[inline(never)]
    fn place_endgame(&mut self, h: usize) {
        let m = self.m;
        let endgame = self.endgame.get_or_insert_with(|| Endgame {
            free: free_slots(&self.taken, m),
            inverse: vec![0; self.hosts.len()],
            mu: u64::MAX / u64::from(m),
        });
        if endgame.inverse[h] == 0 {
            endgame.inverse[h] = inverse_mod(self.skip[h], m);
        }
        let (inverse, offset, mu) = (
            u64::from(endgame.inverse[h]),
            self.hosts[h].offset,
            endgame.mu,
        );
        let k = if self.window.is_some() {
            lanes::least_rank(&endgame.free, offset, inverse as u32, m)
        } else {
            // The least (rank, index in `free`), packed in one u64.
            let mut best = u64::MAX;
            for (k, &s) in endgame.free.iter().enumerate() {
                let d = if s >= offset {
                    s - offset
                } else {
                    s + m - offset
                };
                let rank = mul_mod(u64::from(d), inverse, u64::from(m), mu);
                best = best.min(rank << 32 | k as u64);
            }
            best as u32 as usize
        };
        let slot = endgame.free.swap_remove(k);
        self.take(h, slot);
    }
}

/// The free slots of a bitmap of `m` slots.
fn free_slots(taken: &[u64], m: u32) -> Vec<u32> {
    let mut free = Vec::new();
    for (w, &word) in (0u32..).zip(taken) {
        let mut bits = !word;
        while bits != 0 {
            let s = w * 64 + bits.trailing_zeros();
            if s < m {
                free.push(s);
            }
            bits &= bits - 1;
        }
    }
    free
}

/// `a⁻¹ mod m` for `0 < a < m`, `m` prime (extended Euclid).
fn inverse_mod(a: u32, m: u32) -> u32 {
    let (mut r0, mut r1) = (i64::from(m), i64::from(a));
    let (mut t0, mut t1) = (0i64, 1i64);
    while r1 != 0 {
        let q = r0 / r1;
        (r0, r1) = (r1, r0 - q * r1);
        (t0, t1) = (t1, t0 - q * t1);
    }
    debug_assert_eq!(r0, 1);
    t0.rem_euclid(i64::from(m)) as u32
}

/// `a · b mod m` for `a, b < m < 2^32`, with `mu = ⌊(2^64 − 1) / m⌋` (Barrett: the quotient
/// estimate is exact or one short).
#[inline(always)]
fn mul_mod(a: u64, b: u64, m: u64, mu: u64) -> u64 {
    let x = a * b;
    let q = ((u128::from(x) * u128::from(mu)) >> 64) as u64;
    let r = x - q * m;
    if r >= m {
        r - m
    } else {
        r
    }
}

/// The next slot of a permutation: `(c + skip) mod m` for `c, skip < m`.
#[inline(always)]
fn step(c: u32, skip: u32, m: u32) -> u32 {
    let n = c + skip;
    if n >= m {
        n - m
    } else {
        n
    }
}

/// Makes the `m` picks of Envoy's loop when every host has the same weight. A host of the largest
/// weight passes the check in every iteration (`iteration · w` exceeds `target`, a sum of
/// `iteration − 1` additions of `w`, by about `w`, far above their rounding errors), so the loop
/// picks hosts `0, 1, …, n − 1, 0, 1, …`.
fn round_robin<E: Entry>(n: usize, filler: &mut Filler<E>) {
    let mut h = 0;
    if filler.window.is_some() {
        // Windows of consecutive hosts, each host once.
        while let Some(count) = filler.window_for(n - h) {
            filler.place_range(h, count);
            h += count;
            if h == n {
                h = 0;
            }
        }
    }
    while filler.left > 0 {
        filler.place(h);
        h += 1;
        if h == n {
            h = 0;
        }
    }
}

/// Makes the `m` picks of Envoy's loop, in its order, by running that loop. Each iteration first
/// lists the hosts that pass its check, without branches (whether a host passes is as good as
/// random), then places them in order.
fn scan_schedule<E: Entry>(hosts: &[BuildHost], max_weight: f64, filler: &mut Filler<E>) {
    let mut target = vec![0.0f64; hosts.len()];
    let mut passing = vec![0u32; hosts.len()];
    // Every iteration picks at least the hosts of the largest weight, so this ends within M iterations.
    let mut iteration: u32 = 1;
    loop {
        let count = passing_hosts(iteration, hosts, max_weight, &mut target, &mut passing);
        // Hosts after the last slot had their targets raised too; nothing reads them again.
        if filler.place_all(&passing[..count]) {
            return;
        }
        iteration += 1;
    }
}

/// Lists in `passing` the hosts whose check passes in `iteration`, in order, raising their targets;
/// returns how many. Kept out of line: inlined into the fill, its loop lost its registers.
#[inline(never)]
fn passing_hosts(
    iteration: u32,
    hosts: &[BuildHost],
    max_weight: f64,
    target: &mut [f64],
    passing: &mut [u32],
) -> usize {
    let mut count = 0;
    for ((h, host), target) in (0u32..).zip(hosts).zip(target) {
        let pass = f64::from(iteration) * host.weight >= *target;
        *target += if pass { max_weight } else { 0.0 };
        passing[count] = h;
        count += usize::from(pass);
    }
    count
}

/// Makes the `m` picks of Envoy's loop, in its order, from a heap of each host's next passing
/// iteration.
fn event_schedule<E: Entry>(hosts: &[BuildHost], max_weight: f64, m: u32, filler: &mut Filler<E>) {
    // No pick happens after iteration M (each iteration picks the hosts of the largest weight).
    let never = u64::from(m) + 1;
    let mut target = vec![0.0f64; hosts.len()];
    // Key: iteration << 32 | sorted index, so the heap yields Envoy's (iteration, index) order. In
    // iteration 1 every target is 0 and every host passes.
    let mut heap: BinaryHeap<Reverse<u64>> = (0..hosts.len() as u64)
        .map(|h| Reverse(1 << 32 | h))
        .collect();
    for _ in 0..m {
        let Some(Reverse(key)) = heap.pop() else {
            debug_assert!(
                false,
                "the hosts of the largest weight are always in the heap"
            );
            return;
        };
        let (iteration, h) = (key >> 32, (key & 0xFFFF_FFFF) as usize);
        target[h] += max_weight;
        filler.place(h);
        let next = first_passing(iteration + 1, hosts[h].weight, target[h], never);
        if next < never {
            heap.push(Reverse(next << 32 | h as u64));
        }
    }
}

/// The first iteration `i >= from` with `i as f64 * weight >= target` (Envoy's check passing), or
/// `never` if it is `never` or later. `i as f64 * weight` grows with `i` (rounding is monotonic), so
/// the answer is found from the estimate `ceil(target / weight)` in a step or two.
fn first_passing(from: u64, weight: f64, target: f64, never: u64) -> u64 {
    if from as f64 * weight >= target {
        return from;
    }
    let estimate = (target / weight).ceil();
    // Below `never`, every integer is exact in an f64.
    if estimate.is_nan() || estimate >= never as f64 {
        return never;
    }
    let mut i = (estimate as u64).max(from + 1);
    while i > from + 1 && (i - 1) as f64 * weight >= target {
        i -= 1;
    }
    while i < never && (i as f64 * weight) < target {
        i += 1;
    }
    i
}
