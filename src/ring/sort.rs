//! Sorting a ring's points. Positions are hashes, spread evenly over the bits they use, so a
//! counting sort on their top bits puts almost every point in a bucket of its own, and sorting each
//! bucket afterwards is a handful of comparisons: linear time where a comparison sort takes
//! `n log n` (at 1,000 nodes of 160 points, the comparison sort was ~80 % of a full build).
//!
//! [`bucket_sort`] also hands back where each bucket starts, which a full build uses as the search
//! table as it is. Large inputs take two counting passes (the top bits into partitions that fit the cache, then
//! each partition by the next bits), so no pass scatters over more memory than the caches hold.
//! Inputs that are not spread evenly (a profile whose positions collide, or names chosen to crowd
//! one bucket) stay correct and `n log n`: a crowded bucket is sorted with the standard sort.

use super::build::Pt;
use super::parts::{self, Parts};
use crate::cache::{l2_bytes, L2_DEFAULT};
use crate::kept::Words;
use crate::search::{
    prefetch_read, radix_geometry, Index, PageWriter, ITEMS_TAIL, LOCAL_BITS, PAGE_MAX,
};

/// Buckets per page.
const LOCAL: usize = 1 << LOCAL_BITS;

/// What can be sorted here: a point, ordered as the ring orders points, with its position.
pub(super) trait Point: Copy + Ord {
    /// The position (as the profile has it).
    fn position(&self) -> u64;
}

impl Point for Pt {
    #[inline(always)]
    fn position(&self) -> u64 {
        self.0
    }
}

/// A bare position (the points of a node that leaves, found by position).
impl Point for u64 {
    #[inline(always)]
    fn position(&self) -> u64 {
        *self
    }
}

/// A narrow point as one number: its position above its owner's id (ordered as a [`Pt`] with no
/// low bits is).
impl Point for u128 {
    #[inline(always)]
    fn position(&self) -> u64 {
        (*self >> 64) as u64
    }
}

/// Below this many points the standard sort is used. From here on buckets cost less: a node's 160
/// points, sorted at each publication that adds a node, took 45 % fewer instructions by buckets
/// than by the standard sort (callgrind).
const SMALL: usize = 64;

/// The most bits one counting pass sorts by (a count table of 2^18 `u32`, 1 MiB).
const PASS_BITS: u32 = 18;

/// Bits of the first of two passes: 2^10 partitions, each written through its own cache line.
const FIRST_BITS: u32 = 10;

/// Bits of the first of [`sort_items`]' two passes. It writes two streams a partition (positions
/// and ids), so it takes fewer partitions than [`bucket_sort`].
const ITEM_FIRST_BITS: u32 = 8;

/// Buckets this small are finished by insertion sort; larger ones by the standard sort.
const INSERTION_MAX: usize = 24;

/// Sorts `pts` ascending (by position, low bits, owner), as `sort_unstable` would.
pub(super) fn sort_points<T: Point>(pts: &mut [T]) {
    let n = pts.len();
    if n < SMALL {
        pts.sort_unstable();
        return;
    }
    // The bits the positions use, and about one bucket per point over them.
    let used = 64
        - pts
            .iter()
            .fold(0u64, |acc, p| acc | p.position())
            .leading_zeros();
    let bits = (usize::BITS - 1 - n.leading_zeros()).min(used);
    if bits == 0 {
        pts.sort_unstable();
        return;
    }
    let top = used - bits;
    bucket_sort(pts, bits, |p| (p.position() >> top) as usize);
}

/// Sorts `pts` ascending (by position, low bits, owner), given `bucket`, a function of the
/// position that never decreases with it and is below `2^bits`; returns the rank of each bucket's
/// first point (`2^bits + 1` entries, the last `pts.len()`).
pub(super) fn bucket_sort<T: Point>(
    pts: &mut [T],
    bits: u32,
    bucket: impl Fn(&T) -> usize,
) -> Vec<u32> {
    let n = pts.len();
    debug_assert!(n < u32::MAX as usize);
    let mut starts = vec![0u32; (1 << bits) + 1];
    let mut scratch: Vec<T> = pts.to_vec();
    if bits <= PASS_BITS {
        scatter(&scratch, pts, &mut starts, &bucket);
        finish(pts, &starts);
        return starts;
    }
    // Two passes: the top `FIRST_BITS` of the bucket into `scratch`, then each partition by the
    // rest back into `pts`.
    let rest = bits - FIRST_BITS;
    let mask = (1usize << rest) - 1;
    let mut parts = vec![0u32; (1 << FIRST_BITS) + 1];
    scatter(pts, &mut scratch, &mut parts, |p| bucket(p) >> rest);
    for (i, w) in parts.windows(2).enumerate() {
        let (a, b) = (w[0] as usize, w[1] as usize);
        let local = &mut starts[i << rest..=(i + 1) << rest];
        local.fill(0);
        scatter(&scratch[a..b], &mut pts[a..b], local, |p| bucket(p) & mask);
        finish(&mut pts[a..b], local);
        for s in local.iter_mut() {
            *s += a as u32;
        }
    }
    starts
}

/// Where [`sort_items`] reads each node's normalized positions: from storage, or made afresh.
pub(super) trait Positions {
    /// Node `id`'s positions: borrowed from storage, or made into `buf`.
    fn of<'a>(&'a mut self, id: usize, buf: &'a mut Vec<u64>) -> &'a [u64];

    /// The positions' page counts, if they were counted as they were made (see [`PageCounts`]).
    fn counted(&mut self) -> Option<PageCounts> {
        None
    }
}

/// Positions made afresh: the function appends node `id`'s to the vector it is given.
pub(super) struct Fill<F>(pub(super) F);

impl<F: FnMut(usize, &mut Vec<u64>)> Positions for Fill<F> {
    #[inline(always)]
    fn of<'a>(&'a mut self, id: usize, buf: &'a mut Vec<u64>) -> &'a [u64] {
        buf.clear();
        (self.0)(id, buf);
        buf
    }
}

/// Positions stored node by node: node `id`'s are `q[ends[id - 1]..ends[id]]` (read in place, not
/// copied out for each pass).
pub(super) struct Stored<'q> {
    pub(super) q: &'q [u64],
    pub(super) ends: &'q [u32],
    /// Their page counts, when they were counted as they were stored.
    pub(super) counted: Option<PageCounts>,
}

impl<'q> Stored<'q> {
    /// Node `id`'s positions.
    #[inline(always)]
    pub(super) fn node(&self, id: usize) -> &'q [u64] {
        let start = if id == 0 {
            0
        } else {
            self.ends[id - 1] as usize
        };
        &self.q[start..self.ends[id] as usize]
    }
}

impl Positions for Stored<'_> {
    #[inline(always)]
    fn of<'a>(&'a mut self, id: usize, _: &'a mut Vec<u64>) -> &'a [u64] {
        self.node(id)
    }

    fn counted(&mut self) -> Option<PageCounts> {
        self.counted.take()
    }
}

/// The points of each page, counted as a full build makes its positions (while each node's are in
/// L1), for [`by_pages`]: in the geometry it takes for `estimate` points of `nodes` nodes.
pub(super) struct PageCounts {
    shift: u32,
    counts: Vec<u32>,
    /// The positions counted, or-ed together (their top bit is the largest's).
    ored: u64,
}

impl PageCounts {
    /// Empty counts for the pages [`by_pages`] would sort `estimate` points of `nodes` nodes into;
    /// `None` if it would not sort them.
    pub(super) fn new(nodes: usize, estimate: usize) -> Option<Self> {
        let (_, page_bits, page_shift) = pages_plan(nodes, estimate)?;
        Some(PageCounts {
            shift: page_shift,
            counts: vec![0; 1 << page_bits],
            ored: 0,
        })
    }

    /// Counts positions `xs`.
    #[inline]
    pub(super) fn add(&mut self, xs: &[u64]) {
        for &x in xs {
            self.ored |= x;
            self.counts[x.checked_shr(self.shift).unwrap_or(0) as usize] += 1;
        }
    }
}

/// The table geometry and plan of a sort by pages ([`by_pages`], [`by_partitions`]) of `estimate`
/// points of `nodes` nodes, known from the estimate alone (`radix_geometry` only needs the count,
/// the node count and whether the top bit is used, which the sorts check); `None` if the node ids
/// would not fit below the items' position bits or the points are too many or too few.
fn paged_plan(nodes: usize, estimate: usize) -> Option<((u32, u32), Plan)> {
    let id_bits = usize::BITS - nodes.saturating_sub(1).leading_zeros();
    if nodes > 1 << 16 || estimate >= (u32::MAX as usize) / 2 || estimate < SMALL {
        return None;
    }
    let geometry = radix_geometry(estimate, Some(u64::MAX), nodes);
    let plan = Plan::new(geometry, 0);
    (id_bits + plan.in_page <= 64).then_some((geometry, plan))
}

/// The geometry [`by_pages`] sorts `estimate` points of `nodes` nodes in, its page bits and the
/// shift of a position's page; `None` if it does not sort them.
fn pages_plan(nodes: usize, estimate: usize) -> Option<((u32, u32), u32, u32)> {
    let (geometry, plan) = paged_plan(nodes, estimate)?;
    let (bits, _) = geometry;
    if bits >= PARTITIONS_FROM || !PageWriter::paged(bits) {
        return None;
    }
    Some((geometry, bits - LOCAL_BITS, plan.in_page))
}

/// A narrow full build's points sorted into *items* (see [`sort_items`]).
pub(super) struct Items {
    /// Page by page, sorted within each page.
    pub(super) items: Vec<u64>,
    /// The rank of each table bucket's first point (`2^bits + 1` entries, the last `items.len()`).
    pub(super) buckets: Vec<u32>,
    /// The table geometry `(bits, shift)` of [`radix_geometry`] for these points.
    pub(super) geometry: (u32, u32),
    /// Whether every position is distinct (no two points meet).
    pub(super) distinct: bool,
}

/// What [`sort_items`] made of a narrow full build's points.
pub(super) enum Sorted {
    /// The items and their bucket starts, for [`Index::from_items`].
    Items(Items),
    /// The radix index itself, its pages written as the sort finished them ([`by_partitions`]).
    Index(Index),
    /// Two points meet (equal positions): the caller settles them by the profile's rule.
    Meet,
}

/// Sorts the points of a narrow full build into *items*, the form [`Index::from_items`] packs. An
/// item is a point's normalized position's bits below its page (`in_page = shift + LOCAL_BITS` of
/// them) at the top of a `u64`, above the node id: half the width of a (position, id) pair, and
/// ordered as one within a page.
///
/// `src` gives node `id`'s normalized positions (`nodes` nodes, about `estimate` points in all).
/// Paged rings are sorted by page and then each page by its buckets ([`PageSorter`]), and written
/// at once: the index itself comes back ([`Sorted::Index`], positions normalized by `norm`), from
/// [`by_partitions`] for rings of at least 2^[`PARTITIONS_FROM`] buckets (each point hashed once),
/// from [`by_pages`] for smaller ones. Flat rings, and rings whose points do not spread as hashes
/// do, are sorted [`by_counting`] by fine buckets (up to `extra` bits more than the table has: fewer
/// points of one bucket left out of order for the pages' finish, for a larger count), which hands
/// back the items ([`Sorted::Items`]).
///
/// `None` if the node ids do not fit below the items' position bits (fewer than ~8 points per node:
/// the geometry is made sparser for fewer than ~64) or the points are too many to rank in a `u32`.
///
/// [`radix_geometry`]: crate::search::radix_geometry
pub(super) fn sort_items(
    nodes: usize,
    estimate: usize,
    extra: u32,
    norm: u32,
    src: &mut impl Positions,
) -> Option<Sorted> {
    let most_bits = partition_bits_max(l2_bytes());
    by_partitions(nodes, estimate, most_bits, norm, src)
        .or_else(|| by_pages(nodes, estimate, norm, src))
        .or_else(|| by_counting(nodes, estimate, extra, src).map(Sorted::Items))
}

/// [`sort_items`] by a count of every point first. `src` is read twice per node, first to count
/// the points into buckets, then to place them: hashing a native point again costs less than
/// writing every position to memory and reading it back (a 10,000-node ring's positions are
/// 12.8 MB of fresh pages). Rings of more than 2^18 fine buckets sort in two passes, the second one
/// partition by partition in the cache, as [`bucket_sort`] does.
#[inline(never)]
fn by_counting(
    nodes: usize,
    estimate: usize,
    extra: u32,
    src: &mut impl Positions,
) -> Option<Items> {
    let mut buf: Vec<u64> = Vec::new();
    // Counts the points by `x >> shift` (below `counts.len() - 1`) into `counts[key + 1]`; the
    // count and the positions' bits or-ed together, which have the largest position's highest bit,
    // all the geometry reads of it (an or per point, where a running maximum was a compare and a
    // select waiting on the one before).
    let mut count = |counts: &mut [u32], shift: u32| {
        let (mut n, mut bits) = (0usize, 0u64);
        for id in 0..nodes {
            let pts = src.of(id, &mut buf);
            n += pts.len();
            for &x in pts {
                counts[(x >> shift) as usize + 1] += 1;
                bits |= x;
            }
        }
        (n, (n > 0).then_some(bits))
    };
    // The geometry is guessed from the estimate and a full 64-bit spread, and counted again in the
    // rare case the points say otherwise.
    let mut geometry = radix_geometry(estimate, Some(u64::MAX), nodes);
    let (mut counts, n, plan) = loop {
        let plan = Plan::new(geometry, extra);
        let mut counts = vec![0u32; (1 << plan.first_bits) + 1];
        let (n, bits) = count(&mut counts, plan.first_shift);
        let actual = radix_geometry(n, bits, nodes);
        if actual == geometry {
            break (counts, n, plan);
        }
        geometry = actual;
    };
    let id_bits = usize::BITS - nodes.saturating_sub(1).leading_zeros();
    if id_bits + plan.in_page > 64 || nodes > 1 << 16 || n >= u32::MAX as usize {
        return None;
    }
    let (bits, _) = geometry;
    let low = 64 - plan.in_page;
    let item = |x: u64, id: usize| x << low | id as u64;
    running_sum(&mut counts);
    let mut distinct = true;
    let first_shift = plan.first_shift;
    if plan.one_pass {
        // The counts are by fine bucket: place each point's item at once. Each bucket's start is
        // its cursor, which then ends at the next bucket's start (no copy of the counts).
        // Room past the points for a flat ring's slots, written over the items (see
        // `Index::from_items`).
        let mut items = crate::kept::held_words(n + ITEMS_TAIL);
        items.resize(n, 0u64);
        // With more cursors than the cache holds close, the cursor of the node's point
        // `CURSOR_AHEAD` on is fetched now: the cursors are read at random, and each item waits
        // on its cursor (below, fetching costs more than it saves).
        let far = counts.len() > CURSORS_NEAR;
        // Only an address for the prefetch, never read through.
        let cursors = counts.as_ptr();
        for id in 0..nodes {
            let pts = src.of(id, &mut buf);
            let mut place = |x: u64| {
                let at = &mut counts[(x >> first_shift) as usize];
                items[*at as usize] = item(x, id);
                *at += 1;
            };
            let ahead = if far {
                pts.get(CURSOR_AHEAD..).unwrap_or(&[])
            } else {
                &[]
            };
            for (&x, &y) in pts.iter().zip(ahead) {
                prefetch_read(cursors.wrapping_add((y >> first_shift) as usize));
                place(x);
            }
            pts[ahead.len()..].iter().for_each(|&x| place(x));
        }
        // The bucket starts, made in place in the counts (bucket `b` starts where fine bucket
        // `(b << extra) - 1` ended; read at or after where it is written, so nothing is
        // overwritten before it is read), then cut to the table's size.
        let mut buckets = counts;
        if plan.extra == 0 {
            buckets.copy_within(..1 << bits, 1);
        } else {
            for b in 1..=1usize << bits {
                buckets[b] = buckets[(b << plan.extra) - 1];
            }
        }
        buckets[0] = 0;
        buckets.truncate((1 << bits) + 1);
        finish_pages(&mut items, &buckets, 0, low, &mut distinct);
        return Some(Items {
            items,
            buckets,
            geometry,
            distinct,
        });
    }
    // Pass one: positions and ids into their partitions (the top `ITEM_FIRST_BITS` of the fine
    // bucket).
    let mut buckets = vec![0u32; (1 << bits) + 1];
    let mut next: Vec<u32> = counts[..counts.len() - 1].to_vec();
    let mut items = vec![0u64; n];
    let mut ids = vec![0u16; n];
    for id in 0..nodes {
        for &x in src.of(id, &mut buf) {
            let at = &mut next[(x >> first_shift) as usize];
            items[*at as usize] = x;
            ids[*at as usize] = id as u16;
            *at += 1;
        }
    }
    // Pass two: each partition by the rest of its fine bucket, its items written over its
    // positions (copied out first), its pages finished while they are in the cache.
    let per_part = 1usize << (bits - ITEM_FIRST_BITS);
    let mut sorter = Partitions::new(&plan, plan.fine_bits - ITEM_FIRST_BITS, low);
    for (i, w) in counts.windows(2).enumerate() {
        let (a, b) = (w[0] as usize, w[1] as usize);
        let local = &mut buckets[i * per_part..=(i + 1) * per_part];
        sorter.sort(&mut items, a..b, a, &ids[a..b], local, &mut distinct);
    }
    Some(Items {
        items,
        buckets,
        geometry,
        distinct,
    })
}

/// How many points ahead the one-pass placing of [`by_counting`] fetches a point's cursor, when
/// it has more than [`CURSORS_NEAR`]. Measured on an AMD EPYC guest (2 cores, 512 KiB of L2 a
/// core), probe builds: 1000 nodes (2^17 cursors) 3.19–3.22 ms against 3.28–4.29 without (8 and 16
/// ahead measured alike); 300 nodes (2^15 cursors) 0.85 against 0.81 ms fetching.
const CURSOR_AHEAD: usize = 8;

/// The most cursors the one-pass placing reads without fetching them ahead (256 KiB of them).
const CURSORS_NEAR: usize = 1 << 16;

/// The fewest table bits (2^18 buckets: about 1640 nodes of 160 points and up) for which a full
/// build sorts [`by_partitions`]; smaller rings count first. Probe medians on an AMD EPYC guest
/// (512 KiB of L2 a core), one counting pass against partitions: 1000 nodes (2^17 buckets) 3.0–4.0
/// against 3.7–4.1 ms; 1700 nodes 6.9–7.5 against 6.4–6.7; 2500 nodes 9.9–11.7 against 10.4–10.9;
/// 3200 nodes 15.2–16.7 against 13.6–16.4. (Partitions began past one counting pass's 2^18 fine
/// buckets before, about 3300 nodes.)
const PARTITIONS_FROM: u32 = 18;

/// Partitions for about this many points each in [`by_partitions`] (a partition's fine-bucket
/// counts then take a few KiB, in L1).
const PARTITION_POINTS: usize = 2048;

/// The most partition bits of [`by_partitions`] with an L2 of 512 KiB a core (as many write
/// streams as L1 has lines to spare); see [`partition_bits_max`] for larger ones.
/// On an AMD EPYC guest (2 cores, 512 KiB of L2 a core), 10,000-node builds: 128 partitions
/// against 256, alternating, probe medians 60–68 against 67–75 ms and harness builds 58.5–59.1
/// against 59.8–65.9 ms; 64 measured as 128, 16 and 32 slower. Gathering each partition's points
/// a cache line at a time before writing them out measured no faster.
const PARTITION_BITS_MAX: u32 = 7;

/// The most partition bits of [`by_partitions`] on a machine whose cores have `l2` bytes of L2:
/// [`PARTITION_BITS_MAX`] at 512 KiB or less, one bit fewer for each doubling above it, at least 4.
/// A larger L2 holds larger partitions while they are sorted, and fewer partitions are fewer write
/// streams while the points are spread into them. On an Intel Xeon guest (2 MiB of L2 a core),
/// probe builds, the median of six runs' fastest builds (alternating): 10,000 nodes 41.3 / 44.7 /
/// 50.6 / 50.4 ms with 16 / 32 / 64 / 128 partitions (fastest builds 33.1 / 28.7 / 40.3 / 42.5),
/// 5000 nodes 16.0 / 14.9 / 20.3 / 21.9, 2000 nodes 6.0 / 5.2 / 5.9 / 5.8.
fn partition_bits_max(l2: usize) -> u32 {
    let doublings = (l2 / L2_DEFAULT).max(1).ilog2();
    PARTITION_BITS_MAX.saturating_sub(doublings).max(4)
}

/// [`sort_items`] for rings of at least 2^[`PARTITIONS_FROM`] buckets, with each point hashed once
/// and no count of the whole ring: when the positions spread evenly over 64 bits (hashes do), the
/// number of points whose top `k` bits are `p` is about `n / 2^k`, within a few standard
/// deviations. So the points go straight into `2^k` partitions of room `n / 2^k + 8σ + 16` each
/// ([`Parts`]: a word a point, its position and its id), while each page's points are counted. Each
/// partition is then sorted by page and each page by its buckets in the cache ([`PageSorter`], the
/// page counts giving each page's start), and written at once through a [`PageWriter`] whose
/// room the page counts made exact: the radix
/// index itself ([`Sorted::Index`]), or [`Sorted::Meet`] if two points meet. `None` (and the
/// caller counts first) if a partition overflows its room (for hashed positions, about a chance
/// in 10^12 per build), the positions do not use the top bit, or the items do not fit.
#[inline(never)]
fn by_partitions(
    nodes: usize,
    estimate: usize,
    most_bits: u32,
    norm: u32,
    src: &mut impl Positions,
) -> Option<Sorted> {
    // The partitions cut the table by whole pages.
    let (geometry, plan) = paged_plan(nodes, estimate)?;
    let (bits, _) = geometry;
    // Rings of fewer than 2^PARTITIONS_FROM buckets sort by pages (see there).
    if bits < PARTITIONS_FROM || bits < LOCAL_BITS {
        return None;
    }
    let part_bits = (usize::BITS - 1 - (estimate / PARTITION_POINTS).max(1).leading_zeros())
        .min(most_bits)
        .min(bits - LOCAL_BITS);
    let parts = 1usize << part_bits;
    let mean = estimate as f64 / parts as f64;
    let room = (mean + 8.0 * mean.sqrt()) as usize + 16;
    let mut partitions = Parts::new(part_bits, room, nodes)?;
    // The points of each page (modulo 2^8: a page holds at most 255), for the pages' room:
    // exact, so that the written chunk is not copied to shrink it (a copy of the whole ring,
    // lines being over-aligned for the allocator to shrink in place).
    let page_bits = bits - LOCAL_BITS;
    let mut per_page = vec![0u8; 1 << page_bits];
    // A point's page: its top `page_bits` bits (`in_page + page_bits` is 64, the full spread);
    // its partition: the page's top `part_bits`.
    let page_shift = plan.in_page;
    // At least 2^(PARTITIONS_FROM - LOCAL_BITS) pages: a page's bits are below the top.
    if page_shift >= 64 {
        return None;
    }
    // The positions or-ed together: their top bit is the largest position's.
    let (mut n, mut ored) = (0usize, 0u64);
    let mut buf: Vec<u64> = Vec::new();
    for id in 0..nodes {
        let pts = src.of(id, &mut buf);
        n += pts.len();
        for &x in pts {
            ored |= x;
            let page = (x >> page_shift) as usize;
            per_page[page] = per_page[page].wrapping_add(1);
            if !partitions.push(x, id as u32) {
                return None;
            }
        }
    }
    if n != estimate || ored >> 63 == 0 {
        return None;
    }
    // Each partition by page into `scratch` (in the cache; the page counts give each page's
    // start), then each page sorted straight into its slots: the sorted items are never stored
    // whole nor read back from memory.
    let low = 64 - plan.in_page;
    let pages_per_part = 1usize << (page_bits - part_bits);
    let mut pages = PageWriter::new(geometry, norm, &per_page)?;
    let mut sorter = PageSorter::new(pages_per_part, low);
    // Every word of a partition's part is placed before `finish` reads it, and `finish` checks
    // each page got its count.
    let mut scratch = Words::stale(partitions.room());
    let page_mask = pages_per_part - 1;
    for (i, (words, n)) in partitions.iter().enumerate() {
        let counts = &per_page[i * pages_per_part..(i + 1) * pages_per_part];
        sorter.start(counts.iter().map(|&m| u32::from(m)), n)?;
        let out = &mut scratch[..n];
        for (x, id) in parts::points(words, part_bits) {
            // The position without its partition bits: its page in the partition, and its item
            // (the bits above a page's are shifted out either way).
            let page = (x >> page_shift) as usize & page_mask;
            sorter.put(out, page, x << low | u64::from(id));
        }
        if !sorter.finish(out, counts, &mut pages)? {
            return Some(Sorted::Meet);
        }
    }
    Index::from_pages(pages).map(Sorted::Index)
}

/// [`sort_items`] for paged rings of fewer than 2^[`PARTITIONS_FROM`] buckets: each page's points
/// are counted (as the positions were stored, when `src` has the counts, or in a pass over `src`),
/// each point's item is placed among its page's (a cursor a page, all in L1), and each page is then
/// sorted in the cache and written at once (see [`PageSorter`]). `None` (and the caller counts by buckets) for flat rings,
/// for positions that do not use the top bit, and for pages that would hold more than a page can.
#[inline(never)]
fn by_pages(nodes: usize, estimate: usize, norm: u32, src: &mut impl Positions) -> Option<Sorted> {
    let (geometry, page_bits, page_shift) = pages_plan(nodes, estimate)?;
    let mut buf: Vec<u64> = Vec::new();
    let counted = match src.counted() {
        Some(c) if c.shift == page_shift && c.counts.len() == 1 << page_bits => c,
        _ => {
            let mut c = PageCounts::new(nodes, estimate)?;
            for id in 0..nodes {
                c.add(src.of(id, &mut buf));
            }
            c
        }
    };
    let PageCounts { counts, ored, .. } = counted;
    let n = counts.iter().map(|&m| m as usize).sum::<usize>();
    if n != estimate || ored >> 63 == 0 || counts.iter().any(|&m| m as usize > PAGE_MAX) {
        return None;
    }
    let per_page: Vec<u8> = counts.iter().map(|&m| m as u8).collect();
    let low = 64 - page_shift;
    let mut pages = PageWriter::new(geometry, norm, &per_page)?;
    let mut sorter = PageSorter::new(1 << page_bits, low);
    sorter.start(counts.iter().copied(), n)?;
    // Every item is placed before `finish` reads it, and `finish` checks each page got its count.
    let mut items = Words::stale(n);
    let page_of = |x: u64| x.checked_shr(page_shift).unwrap_or(0) as usize;
    for id in 0..nodes {
        let pts = src.of(id, &mut buf);
        let ahead = pts.get(PUT_AHEAD..).unwrap_or(&[]);
        for (&x, &y) in pts.iter().zip(ahead) {
            sorter.fetch(&items, page_of(y));
            sorter.put(&mut items, page_of(x), x << low | id as u64);
        }
        for &x in &pts[ahead.len()..] {
            sorter.put(&mut items, page_of(x), x << low | id as u64);
        }
    }
    match sorter.finish(&items, &per_page, &mut pages)? {
        true => Index::from_pages(pages).map(Sorted::Index),
        false => Some(Sorted::Meet),
    }
}

/// How many points ahead [`by_pages`] fetches the line a point's item will be written to (a
/// page's cursor is in L1, its line mostly not: 2^12 pages at 1000 nodes). Intel Xeon guest
/// (2 MiB of L2 a core), probe builds of 1000 nodes, alternating: 2.09–2.15 ms (8 ahead) against
/// 2.17–2.24 without; 16 and 32 ahead measured as 8. In the partitions (a partition's items in
/// L2 already) it measured even, and is not done.
const PUT_AHEAD: usize = 16;

/// Sorts the items of consecutive pages (as [`sort_items`] makes them) and writes the pages: the
/// items are placed by page first ([`put`](Self::put), a cursor a page, from the pages' counts),
/// then each page is sorted straight into its slots in the [`PageWriter`] ([`sort_page`]). The
/// cursors are reused from one run of pages to the next.
struct PageSorter {
    low: u32,
    /// Where each page's next item goes; once all are placed, where each page ends.
    next: Vec<u32>,
}

impl PageSorter {
    fn new(pages: usize, low: u32) -> Self {
        PageSorter {
            low,
            next: Vec::with_capacity(pages),
        }
    }

    /// Makes ready to place the items of the pages whose counts are `counts` (modulo 2^8: `None`
    /// if they do not add up to `total`).
    fn start(&mut self, counts: impl Iterator<Item = u32>, total: usize) -> Option<()> {
        self.next.clear();
        let mut sum = 0u32;
        for m in counts {
            self.next.push(sum);
            sum += m;
        }
        (sum as usize == total).then_some(())
    }

    /// Fetches the line where page `page`'s next item goes into the cache (only an address).
    #[inline(always)]
    fn fetch(&self, out: &[u64], page: usize) {
        prefetch_read(out.as_ptr().wrapping_add(self.next[page] as usize));
    }

    /// Places `item` among the items of page `page` (of those [`start`](Self::start) counted).
    #[inline(always)]
    fn put(&mut self, out: &mut [u64], page: usize, item: u64) {
        let at = &mut self.next[page];
        out[*at as usize] = item;
        *at += 1;
    }

    /// Sorts each page of `out` (every item placed; `counts` the pages' counts, modulo 2^8) and
    /// writes it to `pages`. `Some(false)` if two points meet, `None` if a page is refused or did
    /// not get the items counted for it.
    fn finish(&mut self, out: &[u64], counts: &[u8], pages: &mut PageWriter) -> Option<bool> {
        let (mut start, low) = (0usize, self.low);
        let mut distinct = true;
        for (&end, &m) in self.next.iter().zip(counts) {
            let items = out.get(start..end as usize)?;
            // Each page's items ended where the next page's begin: as many were placed as counted.
            if items.len() as u8 != m {
                return None;
            }
            let written = pages.page_with(items.len(), |slots, table| {
                distinct &= sort_page(items, slots, table, low);
            });
            if !written {
                return None;
            }
            if !distinct {
                return Some(false);
            }
            start = end as usize;
        }
        Some(true)
    }
}

/// Bits of an item [`sort_page`] counts by: 2^8 *sub-buckets* a page, 8 a bucket of its table.
const SUB_BITS: u32 = 8;

/// Sorts one page's `items` (in any order, at most [`PAGE_MAX`]) into `out` (as long), fills the
/// page's `table` (where each of its buckets' first item is, then the count) and tells whether no
/// two points meet (equal bits above `low`).
///
/// The items are counted by their top [`SUB_BITS`] (a page's ~40–64 items in 256 sub-buckets: two
/// share one about once in seven), placed by those counts, and the few left out of order put in
/// place by an insertion sort, whose branch is then almost never taken. Byte counters, since a page
/// holds at most 255 items, summed eight at a time: a word's bytes times `0x0101…01` is their
/// running sum (no byte carries, as no sum passes 255). Its table is the sums of every eighth
/// sub-bucket.
#[inline]
fn sort_page(items: &[u64], out: &mut [u64], table: &mut [u32; LOCAL + 1], low: u32) -> bool {
    const TOP: u32 = 64 - SUB_BITS;
    const ONES: u64 = 0x0101_0101_0101_0101;
    const PER_BUCKET: usize = 1 << (SUB_BITS - LOCAL_BITS);
    let m = items.len();
    debug_assert!(m <= PAGE_MAX && out.len() == m);
    let mut next = [0u8; 1 << SUB_BITS];
    for &x in items {
        next[(x >> TOP) as usize] += 1;
    }
    // Each sub-bucket's start (the sum of the counts before it), in place.
    let mut run = 0u64;
    for word in next.chunks_exact_mut(8) {
        let counts = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        let sums = counts.wrapping_mul(ONES);
        word.copy_from_slice(
            &(sums << 8)
                .wrapping_add(run.wrapping_mul(ONES))
                .to_le_bytes(),
        );
        run += sums >> 56;
    }
    for (t, &start) in table.iter_mut().zip(next.iter().step_by(PER_BUCKET)) {
        *t = u32::from(start);
    }
    table[LOCAL] = m as u32;
    for &x in items {
        let at = &mut next[(x >> TOP) as usize];
        out[usize::from(*at)] = x;
        *at = at.wrapping_add(1);
    }
    insertion_sort(out);
    no_meeting(out, low)
}

/// The second pass of [`by_counting`]'s two-pass sort: each partition's points (positions in
/// `items`, ids beside them) counted by the `rest` bits of their fine bucket below the partition's,
/// placed as items, and their pages finished; the buffers are reused from one partition to the
/// next.
struct Partitions {
    mask: usize,
    fine_shift: u32,
    extra: u32,
    low: u32,
    fine: Vec<u32>,
    next: Vec<u32>,
    xs: Vec<u64>,
}

impl Partitions {
    fn new(plan: &Plan, rest: u32, low: u32) -> Self {
        Partitions {
            mask: (1usize << rest) - 1,
            fine_shift: plan.fine_shift,
            extra: plan.extra,
            low,
            fine: vec![0u32; (1 << rest) + 1],
            next: Vec::with_capacity(1 << rest),
            xs: Vec::new(),
        }
    }

    /// Sorts the partition whose positions are `items[src]` and ids `ids` into items at
    /// `items[dst..]` (`dst` at or before `src.start`, or the same range: the positions are copied
    /// out first), writes its table buckets' starts into `local` (`dst` onward) and finishes its
    /// pages.
    fn sort(
        &mut self,
        items: &mut [u64],
        src: std::ops::Range<usize>,
        dst: usize,
        ids: &[u16],
        local: &mut [u32],
        distinct: &mut bool,
    ) {
        let count = src.len();
        let mut xs = std::mem::take(&mut self.xs);
        xs.clear();
        xs.extend_from_slice(&items[src]);
        let out = &mut items[dst..dst + count];
        self.place(&xs, ids, out, local, dst as u32, distinct);
        self.xs = xs;
    }

    /// Sorts a partition's positions `xs` and ids `ids` into items in `out` (as long), writes its
    /// table buckets' starts into `local` (from `base`) and finishes its pages.
    fn place(
        &mut self,
        xs: &[u64],
        ids: &[u16],
        out: &mut [u64],
        local: &mut [u32],
        base: u32,
        distinct: &mut bool,
    ) {
        let (mask, fine_shift, low) = (self.mask, self.fine_shift, self.low);
        self.fine.fill(0);
        for &x in xs {
            self.fine[((x >> fine_shift) as usize & mask) + 1] += 1;
        }
        running_sum(&mut self.fine);
        self.next.clear();
        self.next
            .extend_from_slice(&self.fine[..self.fine.len() - 1]);
        for (&x, &id) in xs.iter().zip(ids) {
            let at = &mut self.next[(x >> fine_shift) as usize & mask];
            out[*at as usize] = x << low | u64::from(id);
            *at += 1;
        }
        for (b, start) in local.iter_mut().enumerate() {
            *start = self.fine[b << self.extra] + base;
        }
        finish_pages(out, local, base, low, distinct);
    }
}

/// Finishes the pages of `items` (the points from rank `base` on, counted into `buckets`): each
/// page's items in order (the counting sort ordered the fine buckets, so this only orders points
/// within one), checked for points that meet (equal positions: bits above `low`) while the page is
/// in the cache. Two pages at a time (see [`finish_two_pages`]).
fn finish_pages(items: &mut [u64], buckets: &[u32], base: u32, low: u32, distinct: &mut bool) {
    let pages = (buckets.len() - 1) / LOCAL;
    let start = |p: usize| (buckets[p * LOCAL] - base) as usize;
    let mut p = 0;
    while p + 1 < pages {
        let (a, b, c) = (start(p), start(p + 1), start(p + 2));
        let (x, y) = items[a..c].split_at_mut(b - a);
        *distinct &= finish_two_pages(x, y, low);
        p += 2;
    }
    if p < pages {
        *distinct &= finish_page(&mut items[start(p)..start(p + 1)], low);
    }
}

/// The three largest items so far of a page being finished (see [`finish_page`]), ascending:
/// `c <= b <= a`.
struct Window {
    c: u64,
    b: u64,
    a: u64,
}

impl Window {
    /// The window of `page` (at least four items) before its fourth item: its first three sorted.
    #[inline(always)]
    fn start(page: &mut [u64]) -> Window {
        insertion_sort(&mut page[..3]);
        Window {
            c: page[0],
            b: page[1],
            a: page[2],
        }
    }

    /// Takes item `i >= 3` of `page` (the items before the window, `page[..i - 3]`, in order and
    /// none above `c`).
    #[inline(always)]
    fn take(&mut self, page: &mut [u64], i: usize) {
        let x = page[i];
        if self.c > x {
            // Below the window (rare): into the items before it, each above it one place on.
            let mut j = i - 3;
            while j > 0 && page[j - 1] > x {
                page[j] = page[j - 1];
                j -= 1;
            }
            page[j] = x;
            return;
        }
        // c is the least of c, b, a and x: its place is final. The window takes the rest:
        // x, b, a (x below b); b, x, a (x below a only); b, a, x (neither). Selects the
        // compiler must not turn back into branches (it did, for plain `if`s).
        let pick = std::hint::select_unpredictable;
        let (ga, gb) = (self.a > x, self.b > x);
        page[i - 3] = self.c;
        (self.c, self.b, self.a) = (
            pick(gb, x, self.b),
            pick(gb, self.b, pick(ga, x, self.a)),
            pick(ga, self.a, x),
        );
    }

    /// Puts the window back at the end of `page`.
    #[inline(always)]
    fn end(self, page: &mut [u64]) {
        let n = page.len();
        page[n - 3..].copy_from_slice(&[self.c, self.b, self.a]);
    }
}

/// Sorts `page`, whose items are each at most a few places after their own (the counting sort left
/// only the items of one fine bucket, in node order, out of order), and tells whether no two of
/// them meet (equal bits above `low`). The same result as [`insertion_sort`] and a check of every
/// neighbour (`finish_page_reference`, in the tests), without its branch per item: the three
/// largest items so far stay in registers (a [`Window`]), and an item that does not go below the
/// third is placed among them by selects, the least of the four going to its final place. An
/// insertion sort's branches, taken at random for a third of the items, were most of a full
/// build's page pass.
#[inline]
fn finish_page(page: &mut [u64], low: u32) -> bool {
    if page.len() >= 4 {
        let mut w = Window::start(page);
        for i in 3..page.len() {
            w.take(page, i);
        }
        w.end(page);
    } else {
        insertion_sort(page);
    }
    no_meeting(page, low)
}

/// [`finish_page`] of two pages at once, their items taken in turn: each item's selects wait on
/// the item before it, so one page's chain of them leaves the core idle half the time, which the
/// other page's fills. True if no two items of either page meet.
#[inline]
fn finish_two_pages(x: &mut [u64], y: &mut [u64], low: u32) -> bool {
    if x.len() < 4 || y.len() < 4 {
        return finish_page(x, low) & finish_page(y, low);
    }
    let (mut u, mut v) = (Window::start(x), Window::start(y));
    let both = x.len().min(y.len());
    for i in 3..both {
        u.take(x, i);
        v.take(y, i);
    }
    for i in both..x.len() {
        u.take(x, i);
    }
    for i in both..y.len() {
        v.take(y, i);
    }
    u.end(x);
    v.end(y);
    no_meeting(x, low) & no_meeting(y, low)
}

/// Whether no two neighbours of sorted `page` meet: agree above `low`, their xor below `unit`.
/// (`low` is below 64: a page's position bits are at least its `LOCAL_BITS`.) One pass over the
/// sorted page, in the cache: cheaper than a check inside the sort, whose operations are its limit.
#[inline(always)]
fn no_meeting(page: &[u64], low: u32) -> bool {
    debug_assert!(low < 64);
    let unit = 1u64 << low;
    let mut meet = false;
    for w in page.windows(2) {
        meet |= (w[0] ^ w[1]) < unit;
    }
    !meet
}

/// What [`finish_page`] does, plainly: the page sorted, then every pair of neighbours compared.
#[cfg(test)]
fn finish_page_reference(page: &mut [u64], low: u32) -> bool {
    insertion_sort(page);
    page.windows(2).all(|w| w[0] >> low != w[1] >> low)
}

/// How [`sort_items`] counts in a geometry.
struct Plan {
    /// The position bits below a page.
    in_page: u32,
    /// Bits the counting sort adds to the table's.
    extra: u32,
    /// The fine buckets: `x >> fine_shift`, below `2^fine_bits`.
    fine_bits: u32,
    fine_shift: u32,
    /// Whether one counting pass sorts by the fine buckets (else partitions first).
    one_pass: bool,
    /// What the first count is by: `x >> first_shift`, below `2^first_bits`.
    first_bits: u32,
    first_shift: u32,
}

impl Plan {
    fn new((bits, shift): (u32, u32), extra: u32) -> Plan {
        let extra = extra.min(shift);
        let (fine_bits, fine_shift) = (bits + extra, shift - extra);
        let one_pass = fine_bits <= PASS_BITS;
        let first_bits = if one_pass { fine_bits } else { ITEM_FIRST_BITS };
        Plan {
            in_page: shift + LOCAL_BITS,
            extra,
            fine_bits,
            fine_shift,
            one_pass,
            first_bits,
            first_shift: fine_shift + fine_bits - first_bits,
        }
    }
}

/// A stable counting sort of `src` into `dst` by `bucket` (below `counts.len() - 1`), `counts`
/// zeroed; leaves `counts[i]` = the start of bucket `i` in `dst` and the last entry `src.len()`.
#[inline(always)]
fn scatter<T: Point>(src: &[T], dst: &mut [T], counts: &mut [u32], bucket: impl Fn(&T) -> usize) {
    debug_assert_eq!(src.len(), dst.len());
    for p in src {
        counts[bucket(p) + 1] += 1;
    }
    running_sum(counts);
    // `next[i]` = where bucket i's next point goes: the start, moved on as points are placed.
    let mut next: Vec<u32> = counts[..counts.len() - 1].to_vec();
    for p in src {
        let at = &mut next[bucket(p)];
        dst[*at as usize] = *p;
        *at += 1;
    }
}

/// Turns counts into running sums, in place. (The sum is kept in a register: summing through the
/// slice, `c[i] += c[i - 1]`, waits on a store and a load per entry, and took half of a small
/// ring's sort.)
#[inline(always)]
pub(super) fn running_sum(counts: &mut [u32]) {
    let mut sum = 0u32;
    for c in counts {
        sum += *c;
        *c = sum;
    }
}

/// Sorts each bucket of `pts` (bucket `i` = `counts[i]..counts[i + 1]`).
fn finish<T: Point>(pts: &mut [T], counts: &[u32]) {
    if counts
        .windows(2)
        .all(|w| (w[1] - w[0]) as usize <= INSERTION_MAX)
    {
        // One insertion sort over all of it: no point moves past its bucket's start, so this
        // costs no more than sorting each bucket, without a loop per bucket.
        insertion_sort(pts);
        return;
    }
    for w in counts.windows(2) {
        let bucket = &mut pts[w[0] as usize..w[1] as usize];
        if bucket.len() <= INSERTION_MAX {
            insertion_sort(bucket);
        } else {
            bucket.sort_unstable();
        }
    }
}

/// Insertion sort, for the few points of a bucket (or points that are each at most a few places
/// from their own).
#[inline(always)]
fn insertion_sort<T: Copy + Ord>(v: &mut [T]) {
    for i in 1..v.len() {
        let x = v[i];
        let mut j = i;
        while j > 0 && v[j - 1] > x {
            v[j] = v[j - 1];
            j -= 1;
        }
        v[j] = x;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(mut pts: Vec<Pt>) {
        let mut want = pts.clone();
        want.sort_unstable();
        sort_points(&mut pts);
        assert_eq!(pts, want);
    }

    /// Hash-like positions (a fixed mixing of the index), owners in insertion order.
    fn spread(n: usize, bits_used: u32, seed: u64) -> Vec<Pt> {
        (0..n as u64)
            .map(|i| {
                let h = (i ^ seed)
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    .rotate_left(29)
                    .wrapping_mul(0xBF58_476D_1CE4_E5B9);
                (h >> (64 - bits_used), 0, (i % 997) as u32)
            })
            .collect()
    }

    #[test]
    fn sorts_every_size_and_width_as_the_standard_sort() {
        for n in [0, 1, 63, 64, 65, 160, 511, 512, 513, 4_000, 70_000, 300_000] {
            for bits_used in [64, 32, 20, 3] {
                check(spread(n, bits_used, n as u64));
            }
        }
    }

    #[test]
    fn crowded_and_equal_positions_keep_owner_order() {
        let mut pts = spread(5_000, 64, 1);
        // A crowd in one bucket, equal positions of several owners, and equal positions with
        // different low bits.
        pts.extend((0..3_000u32).map(|i| (1 << 40 | u64::from(i % 7), u64::from(i % 3), i)));
        pts.extend((0..100u32).map(|i| (u64::MAX, 0, 100 - i)));
        check(pts);
    }

    /// `nodes` nodes of `per_node` hash-like 64-bit positions each.
    fn hashed(nodes: usize, per_node: usize, seed: u64) -> Vec<Vec<u64>> {
        (0..nodes)
            .map(|id| {
                (0..per_node)
                    .map(|i| {
                        ((id * per_node + i) as u64 ^ seed)
                            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                            .rotate_left(29)
                            .wrapping_mul(0xBF58_476D_1CE4_E5B9)
                    })
                    .collect()
            })
            .collect()
    }

    fn same_items(a: &Items, b: &Items) {
        assert_eq!(a.items, b.items);
        assert_eq!(a.buckets, b.buckets);
        assert_eq!(a.geometry, b.geometry);
        assert_eq!(a.distinct, b.distinct);
    }

    fn items_of(sorted: Sorted) -> Items {
        match sorted {
            Sorted::Items(items) => items,
            Sorted::Index(_) | Sorted::Meet => panic!("not items"),
        }
    }

    /// The pages of a radix index, as words, and its page starts.
    fn pages_of(index: &Index) -> (Vec<u64>, Vec<u32>) {
        match index {
            Index::Radix(r) => {
                r.check();
                r.page_words()
            }
            _ => panic!("not a radix index"),
        }
    }

    #[test]
    fn partitions_write_the_pages_the_count_gives() {
        // 3000 × 160 points: 2^19 fine buckets, past one counting pass.
        // 1700 × 160 points: 2^18 buckets, which one counting pass would also sort.
        // Each in as many partitions as a small, a middling and a large L2 gives.
        for (nodes, per_node, extra, most_bits) in [
            (3000, 160, 1, 7),
            (2100, 200, 2, 5),
            (4000, 160, 0, 4),
            (4000, 160, 0, 7),
            (1700, 160, 0, 5),
            // Few points a node in 16 partitions: some runs of 15 nodes or more without a point in
            // a partition, each an escape in the partition's words.
            (40_000, 8, 0, 4),
        ] {
            let pts = hashed(nodes, per_node, nodes as u64);
            if per_node == 8 {
                let mut last = [0usize; 16];
                let mut escapes = 0;
                for (id, xs) in pts.iter().enumerate() {
                    for &x in xs {
                        let p = (x >> 60) as usize;
                        escapes += usize::from(id - last[p] >= 15);
                        last[p] = id;
                    }
                }
                assert!(escapes > 0, "no escapes");
            }
            let fill = |id: usize, out: &mut Vec<u64>| out.extend_from_slice(&pts[id]);
            let n = nodes * per_node;
            let parted = match by_partitions(nodes, n, most_bits, 0, &mut Fill(fill)) {
                Some(Sorted::Index(index)) => index,
                _ => panic!("hashes spread, and none meet"),
            };
            let (words, starts) = pages_of(&parted);
            assert_eq!(
                (words, starts.clone()),
                counted_pages(nodes, n, extra, fill)
            );
            assert_eq!(starts.last().copied(), Some(n as u32));
        }
    }

    /// The pages (words and starts) of the `n` points of `nodes` nodes that `fill` makes, counted
    /// by buckets (`extra` fine bits) and packed from their items; none of them meet.
    fn counted_pages(
        nodes: usize,
        n: usize,
        extra: u32,
        fill: impl FnMut(usize, &mut Vec<u64>),
    ) -> (Vec<u64>, Vec<u32>) {
        let counted = by_counting(nodes, n, extra, &mut Fill(fill)).unwrap();
        assert!(counted.distinct);
        let index =
            Index::from_items(counted.items, &counted.buckets, counted.geometry, 0).unwrap();
        pages_of(&index)
    }

    #[test]
    fn pages_write_the_pages_the_count_gives() {
        // Paged rings below the partitions' size: 2^15 to 2^17 buckets, the last with the sparser
        // geometry of few points a node.
        for (nodes, per_node) in [(300, 160), (1000, 160), (2000, 40), (3000, 20)] {
            let pts = hashed(nodes, per_node, 3 * nodes as u64);
            let fill = |id: usize, out: &mut Vec<u64>| out.extend_from_slice(&pts[id]);
            let n = nodes * per_node;
            let paged = match by_pages(nodes, n, 0, &mut Fill(fill)) {
                Some(Sorted::Index(index)) => index,
                _ => panic!("hashes spread, and none meet"),
            };
            let (words, starts) = pages_of(&paged);
            assert_eq!(
                (words.clone(), starts.clone()),
                counted_pages(nodes, n, 0, fill)
            );
            assert_eq!(starts.last().copied(), Some(n as u32));
            // `sort_items` takes this way for them.
            let sorted = sort_items(nodes, n, 0, 0, &mut Fill(fill)).unwrap();
            let Sorted::Index(index) = sorted else {
                panic!("sorted by pages")
            };
            assert_eq!(pages_of(&index), (words, starts));
        }
    }

    #[test]
    fn pages_take_counts_made_as_positions_were_stored_and_refuse_wrong_ones() {
        let (nodes, per_node) = (1000, 160);
        let pts = hashed(nodes, per_node, 9);
        let q: Vec<u64> = pts.iter().flatten().copied().collect();
        let ends: Vec<u32> = (1..=nodes).map(|i| (i * per_node) as u32).collect();
        let fill = |id: usize, out: &mut Vec<u64>| out.extend_from_slice(&pts[id]);
        let want = match by_pages(nodes, q.len(), 0, &mut Fill(fill)) {
            Some(Sorted::Index(index)) => pages_of(&index),
            _ => panic!("hashes spread, and none meet"),
        };
        let counted = |q: &[u64]| {
            let mut c = PageCounts::new(nodes, q.len()).unwrap();
            c.add(q);
            Some(c)
        };
        let mut stored = Stored {
            q: &q,
            ends: &ends,
            counted: counted(&q),
        };
        match by_pages(nodes, q.len(), 0, &mut stored) {
            Some(Sorted::Index(index)) => assert_eq!(pages_of(&index), want),
            _ => panic!("sorted by the counts given"),
        }
        // Counts of other positions (one point in another page, the total the same): refused.
        let mut other = q.clone();
        other[7] ^= 1 << 63;
        let mut stored = Stored {
            q: &q,
            ends: &ends,
            counted: counted(&other),
        };
        assert!(by_pages(nodes, q.len(), 0, &mut stored).is_none());
    }

    #[test]
    fn pages_decline_what_they_cannot_place() {
        let (nodes, per_node) = (1000, 160);
        let n = nodes * per_node;
        let mut pts = hashed(nodes, per_node, 5);
        // Two points meet.
        pts[5][3] = pts[900][7];
        {
            let fill = |id: usize, out: &mut Vec<u64>| out.extend_from_slice(&pts[id]);
            assert!(matches!(
                by_pages(nodes, n, 0, &mut Fill(fill)),
                Some(Sorted::Meet)
            ));
            assert!(by_pages(nodes, n + 1, 0, &mut Fill(fill)).is_none());
        }
        // A page past what a page holds: the count by buckets takes them.
        for v in pts[0..2].iter_mut().flatten() {
            *v = u64::MAX - (*v >> 20);
        }
        let fill = |id: usize, out: &mut Vec<u64>| out.extend_from_slice(&pts[id]);
        assert!(by_pages(nodes, n, 0, &mut Fill(fill)).is_none());
        let counted = items_of(sort_items(nodes, n, 0, 0, &mut Fill(fill)).unwrap());
        same_items(
            &counted,
            &by_counting(nodes, n, 0, &mut Fill(fill)).unwrap(),
        );
        // A flat ring (100 nodes: 2^13 buckets) is not paged here.
        let fill = |id: usize, out: &mut Vec<u64>| out.extend_from_slice(&pts[id]);
        assert!(by_pages(100, 100 * per_node, 0, &mut Fill(fill)).is_none());
    }

    #[test]
    fn larger_caches_take_fewer_partitions() {
        let kib = 1 << 10;
        assert_eq!(partition_bits_max(256 * kib), PARTITION_BITS_MAX);
        assert_eq!(partition_bits_max(L2_DEFAULT), PARTITION_BITS_MAX);
        assert_eq!(partition_bits_max(1280 * kib), PARTITION_BITS_MAX - 1);
        assert_eq!(partition_bits_max(2048 * kib), PARTITION_BITS_MAX - 2);
        assert_eq!(partition_bits_max(1 << 40), 4);
    }

    #[test]
    fn partitions_tell_when_points_meet() {
        let (nodes, per_node) = (3000, 160);
        let mut pts = hashed(nodes, per_node, 11);
        pts[5][3] = pts[2000][7];
        let fill = |id: usize, out: &mut Vec<u64>| out.extend_from_slice(&pts[id]);
        let n = nodes * per_node;
        assert!(matches!(
            by_partitions(nodes, n, PARTITION_BITS_MAX, 0, &mut Fill(fill)),
            Some(Sorted::Meet)
        ));
        assert!(!by_counting(nodes, n, 1, &mut Fill(fill)).unwrap().distinct);
    }

    #[test]
    fn partitions_decline_what_they_cannot_place() {
        let (nodes, per_node) = (3000, 160);
        let mut pts = hashed(nodes, per_node, 7);
        let n = nodes * per_node;
        // A wrong estimate; positions that leave the top bit unused; a crowd in one partition.
        {
            let fill = |id: usize, out: &mut Vec<u64>| out.extend_from_slice(&pts[id]);
            assert!(by_partitions(nodes, n + 1, PARTITION_BITS_MAX, 0, &mut Fill(fill)).is_none());
        }
        for v in pts.iter_mut().flatten() {
            *v >>= 1;
        }
        {
            let fill = |id: usize, out: &mut Vec<u64>| out.extend_from_slice(&pts[id]);
            assert!(by_partitions(nodes, n, PARTITION_BITS_MAX, 0, &mut Fill(fill)).is_none());
            // `sort_items` then counts, and agrees with the count.
            same_items(
                &items_of(sort_items(nodes, n, 1, 0, &mut Fill(fill)).unwrap()),
                &by_counting(nodes, n, 1, &mut Fill(fill)).unwrap(),
            );
        }
        for v in pts[0..200].iter_mut().flatten() {
            *v = u64::MAX - (*v >> 20);
        }
        let fill = |id: usize, out: &mut Vec<u64>| out.extend_from_slice(&pts[id]);
        assert!(by_partitions(nodes, n, PARTITION_BITS_MAX, 0, &mut Fill(fill)).is_none());
        same_items(
            &items_of(sort_items(nodes, n, 1, 0, &mut Fill(fill)).unwrap()),
            &by_counting(nodes, n, 1, &mut Fill(fill)).unwrap(),
        );
    }

    /// A page as the counting sort leaves it: its fine buckets in order, each its items (position
    /// bits above `low`, node id below) in node order.
    fn page_as_counted(buckets: &[Vec<(u64, u16)>], low: u32) -> Vec<u64> {
        let mut page = Vec::new();
        for (f, items) in buckets.iter().enumerate() {
            let mut items = items.clone();
            items.sort_by_key(|&(_, id)| id);
            // The fine bucket above the position's rest, then the id.
            page.extend(
                items
                    .iter()
                    .map(|&(pos, id)| ((f as u64) << 30 | pos) << low | u64::from(id)),
            );
        }
        page
    }

    proptest! {
        #[test]
        fn finishing_a_page_equals_the_insertion_sort(
            buckets in proptest::collection::vec(
                proptest::collection::vec((0u64..64, 0u16..40), 0..7), 0..40),
            low in 8u32..20,
        ) {
            // Positions from a small range, so that some meet (equal positions, or one node's
            // point twice).
            let page = page_as_counted(&buckets, low);
            let (mut fast, mut plain) = (page.clone(), page);
            let ok = finish_page(&mut fast, low);
            prop_assert_eq!(ok, finish_page_reference(&mut plain, low));
            prop_assert_eq!(fast, plain);
        }

        #[test]
        fn finishing_two_pages_at_once_equals_finishing_each(
            first in proptest::collection::vec(
                proptest::collection::vec((0u64..64, 0u16..40), 0..7), 0..40),
            second in proptest::collection::vec(
                proptest::collection::vec((0u64..64, 0u16..40), 0..7), 0..40),
            low in 8u32..20,
        ) {
            let (x, y) = (page_as_counted(&first, low), page_as_counted(&second, low));
            let (mut a, mut b) = (x.clone(), y.clone());
            let ok = finish_two_pages(&mut a, &mut b, low);
            let (mut c, mut d) = (x, y);
            let want = finish_page_reference(&mut c, low) & finish_page_reference(&mut d, low);
            prop_assert_eq!(ok, want);
            prop_assert_eq!(a, c);
            prop_assert_eq!(b, d);
        }

        #[test]
        fn sorting_a_page_equals_the_standard_sort(
            items in proptest::collection::vec(any::<u64>(), 0..=PAGE_MAX),
            crowd in 0u64..4,
            low in 8u32..20,
        ) {
            // Some items crowded into few buckets, or made equal above `low`.
            let items: Vec<u64> = items.iter().map(|&x| x >> (crowd * 20) << (crowd * 20)).collect();
            let mut out = vec![0u64; items.len()];
            let mut table = [0u32; LOCAL + 1];
            let ok = sort_page(&items, &mut out, &mut table, low);
            let mut want = items.clone();
            want.sort_unstable();
            prop_assert_eq!(&out[..items.len()], &want[..]);
            prop_assert_eq!(ok, want.windows(2).all(|w| w[0] >> low != w[1] >> low));
            for (l, &t) in table.iter().enumerate() {
                let below = want.iter().filter(|&&x| ((x >> (64 - LOCAL_BITS)) as usize) < l).count();
                prop_assert_eq!(t as usize, below);
            }
        }

        #[test]
        fn equals_the_standard_sort(
            pts in proptest::collection::vec((any::<u64>(), 0u64..4, 0u32..50), 0..3_000),
            shift in 0u32..64,
        ) {
            check(pts.into_iter().map(|(p, l, o)| (p >> shift, l, o)).collect());
        }
    }
}
