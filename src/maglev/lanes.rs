//! The Maglev fill's probes, sixteen hosts at once (AVX-512F): for each of a window of picks, the
//! first slot of the host's permutation, from its cursor, that a bitmap shows free.
//!
//! Each of the sixteen lanes follows one pick's permutation and tests four slots a round (one
//! gather of bitmap words each, the four independent of one another); a lane that finds a free slot
//! writes it out and takes the next pick of the window, so lanes stay busy however long each pick
//! probes. The answers are those of probing one slot at a time against the same bitmap; the caller
//! (`fill`) commits them in pick order and probes again where an earlier pick of the window took
//! the slot.

/// Whether this CPU can run [`Found::first_free`] (AVX-512F and POPCNT).
pub(super) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static AVX512F: OnceLock<bool> = OnceLock::new();
        *AVX512F.get_or_init(|| {
            std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("popcnt")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Slots each lane tests a round (even, at least 2).
const PROBES: usize = 4;

/// [`Found::first_free`]'s answers, and its scratch (kept between calls).
#[derive(Default)]
pub(super) struct Found {
    /// The answers, by pick.
    slots: Vec<u32>,
}

impl Found {
    /// For each pick `k`, the first slot `(start[k] + j · skip[k]) mod m`, `j = 0, 1, …`, whose bit
    /// in `taken` is clear.
    ///
    /// # Panics
    /// If [`available`] is false, if the slices' lengths differ, if `taken` has fewer than `m`
    /// bits, if `m` is 2^31 or more, or if a start or skip is `m` or more. (A pick whose
    /// permutation has no free slot would never end; the caller only asks while slots are free,
    /// and `m` is prime, so every permutation visits every slot.)
    pub(super) fn first_free(
        &mut self,
        taken: &[u64],
        m: u32,
        start: &[u32],
        skip: &[u32],
    ) -> &[u32] {
        let n = start.len();
        assert!(
            available(),
            "the AVX-512F probe was chosen on a CPU without it"
        );
        assert!(skip.len() == n);
        assert!(m < 1 << 31 && taken.len() as u64 * 64 >= u64::from(m));
        assert!(start.iter().chain(skip).all(|&x| x < m));
        if self.slots.len() < n {
            self.slots.resize(n, 0);
        }
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX-512F and POPCNT (asserted above), all `probe` enables; its other
        // requirements (starts and skips below `m < 2^31`, `taken` covering `m` bits, an output of
        // `n` or more) are asserted or made just above.
        unsafe {
            probe::<PROBES>(taken, m, start, skip, &mut self.slots)
        };
        &self.slots[..n]
    }
}

/// The probe loop. Requires AVX-512F and POPCNT, every `start` and `skip` below `m < 2^31`, `taken`
/// of at least `m` bits, and `out` of at least `start.len()`; writes pick `k`'s slot to `out[k]`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,popcnt")]
unsafe fn probe<const P: usize>(
    taken: &[u64],
    m: u32,
    start: &[u32],
    skip: &[u32],
    out: &mut [u32],
) {
    use std::arch::x86_64::*;

    let n = start.len();
    let words = taken.as_ptr().cast::<i32>();
    let mv = _mm512_set1_epi32(m as i32);
    let one = _mm512_set1_epi32(1);
    let lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    // (a + b) mod m for a, b < m: the sum is below 2^32 (m < 2^31).
    let step = |a: __m512i, b: __m512i| {
        let s = _mm512_add_epi32(a, b);
        _mm512_mask_sub_epi32(s, _mm512_cmpge_epu32_mask(s, mv), s, mv)
    };
    // Lanes of `active` whose slot's bit is clear. Inactive lanes load nothing.
    let free = |active: __mmask16, c: __m512i| {
        let index = _mm512_srli_epi32::<5>(c);
        // SAFETY: every active lane's slot is below m, so its word index is below m / 32, within
        // `taken` (at least m bits, read as 32-bit words: u64 words are little-endian pairs of
        // them, and their alignment suits u32 reads).
        let w = unsafe {
            _mm512_mask_i32gather_epi32::<4>(_mm512_setzero_si512(), active, index, words)
        };
        let bit = _mm512_srlv_epi32(w, _mm512_and_si512(c, _mm512_set1_epi32(31)));
        active & !_mm512_test_epi32_mask(bit, one)
    };

    // Lanes load picks `next..`: `k` lanes of mask `into`, the lowest set bits first.
    let mut next = 0usize;
    let mut active: __mmask16 = 0;
    let (mut c, mut sk, mut sk2, mut pick) = (
        _mm512_setzero_si512(),
        _mm512_setzero_si512(),
        _mm512_setzero_si512(),
        _mm512_setzero_si512(),
    );
    let mut written = 0usize;
    loop {
        // Refill the idle lanes, as many as picks remain.
        let idle = !active;
        let left = n - next;
        let into = match left {
            0 => 0,
            1..16 => lowest_bits(idle, left as u32),
            _ => idle,
        };
        if into != 0 {
            // SAFETY: `into` has at most `n − next` lanes, so the expanding loads read within
            // `start[next..]` and `skip[next..]`.
            unsafe {
                c = _mm512_mask_expandloadu_epi32(c, into, start.as_ptr().add(next).cast());
                sk = _mm512_mask_expandloadu_epi32(sk, into, skip.as_ptr().add(next).cast());
            }
            sk2 = _mm512_mask_mov_epi32(sk2, into, step(sk, sk));
            let picks = _mm512_add_epi32(lane, _mm512_set1_epi32(next as i32));
            pick = _mm512_mask_expand_epi32(pick, into, picks);
            next += into.count_ones() as usize;
            active |= into;
        }
        if active == 0 {
            break;
        }
        // P slots of each lane's permutation: c, c + s, c + 2s, …
        let mut slots = [c; P];
        slots[1] = step(c, sk);
        for j in 2..P {
            slots[j] = step(slots[j - 2], sk2);
        }
        let mut free_at = [0 as __mmask16; P];
        for j in 0..P {
            free_at[j] = free(active, slots[j]);
        }
        let done = free_at.iter().fold(0, |a, &f| a | f);
        // The first free of the P, by lane.
        let mut first = slots[P - 1];
        for j in (0..P - 1).rev() {
            first = _mm512_mask_mov_epi32(first, free_at[j], slots[j]);
        }
        // SAFETY: the lanes of `done` hold picks below `n` (loaded as `next..n`), so the scatter
        // writes within `out`'s `n` or more `u32`s.
        unsafe { _mm512_mask_i32scatter_epi32::<4>(out.as_mut_ptr().cast(), done, pick, first) };
        written += done.count_ones() as usize;
        c = step(slots[P - 2], sk2);
        active &= !done;
    }
    debug_assert_eq!(written, n);
}

/// The lowest `k` set bits of `mask` (all of them if it has `k` or fewer).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn lowest_bits(mut mask: u16, k: u32) -> u16 {
    while mask.count_ones() > k {
        mask &= !(1 << (15 - mask.leading_zeros()));
    }
    mask
}

/// The index in `free` (not empty) of the slot of least rank `(slot − offset) · inverse mod m` in
/// a host's permutation (`inverse` = its `skip⁻¹ mod m`): the slot its probes would reach first.
/// Eight slots a step, in `f64` (products below 2^52 are exact).
///
/// # Panics
/// If [`available`] is false, if `free` is empty, if `m` is 2^26 or more, or if a free slot,
/// `offset` or `inverse` is `m` or more.
pub(super) fn least_rank(free: &[u32], offset: u32, inverse: u32, m: u32) -> usize {
    assert!(
        available(),
        "the AVX-512F probe was chosen on a CPU without it"
    );
    assert!(!free.is_empty() && m < 1 << 26 && offset < m && inverse < m);
    assert!(free.iter().all(|&s| s < m));
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the CPU has AVX-512F (asserted above), all `rank_min` enables.
    unsafe {
        rank_min(free, offset, inverse, m)
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("`available` is false off x86-64")
}

/// [`least_rank`]'s loop. Requires AVX-512F and its arguments' bounds. Every rank is an integer
/// below `m < 2^26`: `d · inverse < 2^52` is exact, the quotient estimate `⌊x · (1 / m)⌋` is off by
/// at most one, and `x − q · m` by a fused multiply-add is exact, then brought into `[0, m)`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn rank_min(free: &[u32], offset: u32, inverse: u32, m: u32) -> usize {
    use std::arch::x86_64::*;

    let mf = _mm512_set1_pd(f64::from(m));
    let reciprocal = _mm512_set1_pd(1.0 / f64::from(m));
    let (off, inv) = (
        _mm512_set1_pd(f64::from(offset)),
        _mm512_set1_pd(f64::from(inverse)),
    );
    let zero = _mm512_setzero_pd();
    let mut best = _mm512_set1_pd(f64::INFINITY);
    let mut best_at = _mm512_setzero_si512();
    let mut at = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
    for chunk in free.chunks(8) {
        let lanes: __mmask8 = 0xFF >> (8 - chunk.len());
        // SAFETY: the mask covers `chunk.len()` lanes, so the load reads within `chunk`.
        let v = unsafe { _mm512_maskz_loadu_epi32(__mmask16::from(lanes), chunk.as_ptr().cast()) };
        let s = _mm512_cvtepu32_pd(_mm512_castsi512_si256(v));
        let d = _mm512_sub_pd(s, off);
        let d = _mm512_mask_add_pd(d, _mm512_cmp_pd_mask::<_CMP_LT_OQ>(d, zero), d, mf);
        let x = _mm512_mul_pd(d, inv);
        let q = _mm512_roundscale_pd::<{ _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC }>(
            _mm512_mul_pd(x, reciprocal),
        );
        let r = _mm512_fnmadd_pd(q, mf, x);
        let r = _mm512_mask_add_pd(r, _mm512_cmp_pd_mask::<_CMP_LT_OQ>(r, zero), r, mf);
        let r = _mm512_mask_sub_pd(r, _mm512_cmp_pd_mask::<_CMP_GE_OQ>(r, mf), r, mf);
        let less = _mm512_mask_cmp_pd_mask::<_CMP_LT_OQ>(lanes, r, best);
        best = _mm512_mask_mov_pd(best, less, r);
        best_at = _mm512_mask_mov_epi64(best_at, less, at);
        at = _mm512_add_epi64(at, _mm512_set1_epi64(8));
    }
    // Ranks are distinct (a permutation), so one lane holds the least.
    let least = _mm512_reduce_min_pd(best);
    let lane = _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(best, _mm512_set1_pd(least)).trailing_zeros();
    let mut index = [0i64; 8];
    // SAFETY: `index` is 8 `i64`s, the 64 bytes the unaligned store writes.
    unsafe { _mm512_storeu_si512(index.as_mut_ptr().cast(), best_at) };
    index[lane as usize] as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The vector rank's least is the scalar one's, up to the largest table size (where the
        /// products come nearest 2^52).
        #[test]
        fn least_rank_is_the_scalar_least(
            m in prop::sample::select(&[2u32, 7, 65_537, 131_071, 4_999_963, 5_000_011][..]),
            seed in any::<u64>(),
            len in 1usize..300,
        ) {
            if !available() {
                // Nothing to compare: the fill never calls it on this CPU.
                return Ok(());
            }
            let mut x = seed | 1;
            let mut next = || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % u64::from(m)) as u32
            };
            let mut free: Vec<u32> = (0..len).map(|_| next()).collect();
            free.sort_unstable();
            free.dedup();
            let (offset, inverse) = (next(), next().max(1));
            let rank = |s: u32| {
                let d = (u64::from(s) + u64::from(m) - u64::from(offset)) % u64::from(m);
                d * u64::from(inverse) % u64::from(m)
            };
            let expected = (0..free.len()).min_by_key(|&k| rank(free[k])).unwrap();
            prop_assert_eq!(least_rank(&free, offset, inverse, m), expected);
        }
    }
}
