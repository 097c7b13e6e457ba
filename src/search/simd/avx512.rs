//! The AVX-512F kernel: counts a bucket 8 packed points per compare (4 in a paged ring, with
//! AVX-512VL's 256-bit compares).

use std::arch::x86_64::{
    __m256i, __m512i, _mm256_cmplt_epu64_mask, _mm256_loadu_si256, _mm256_set1_epi64x,
    _mm512_loadu_si512, _mm512_mask_cmplt_epu64_mask, _mm512_set1_epi64,
};

use crate::search::radix::Radix;

/// Counts the slots of window `w` below the bucket's key `x` (see `radix::window_count`), 8 per
/// compare.
#[target_feature(enable = "avx512f,popcnt")]
#[inline]
fn window(w: &[u64; 8], x: u64) -> u32 {
    let xq = _mm512_set1_epi64(x as i64);
    // SAFETY: `w` is 8 `u64`s (64 bytes); the unaligned load reads exactly them.
    let v: __m512i = unsafe { _mm512_loadu_si512(w.as_ptr().cast()) };
    _mm512_mask_cmplt_epu64_mask(0xFF, v, xq).count_ones()
}

/// Counts the slots of window `w` below the bucket's key `x`, 4 per compare.
#[target_feature(enable = "avx512f,avx512vl,popcnt")]
#[inline]
fn narrow(w: &[u64; 4], x: u64) -> u32 {
    let xq = _mm256_set1_epi64x(x as i64);
    // SAFETY: `w` is 4 `u64`s (32 bytes); the unaligned load reads exactly them.
    let v: __m256i = unsafe { _mm256_loadu_si256(w.as_ptr().cast()) };
    _mm256_cmplt_epu64_mask(v, xq).count_ones()
}

/// The staged batch loop with this kernel's window counts, compiled with AVX-512F and VL enabled.
#[target_feature(enable = "avx512f,avx512vl,popcnt")]
fn batch(radix: &Radix, xs: &[u64], out: &mut [u32], next: &mut [u32]) {
    radix.batch_with::<8>(xs, out, next, |w, x| window(w, x), |w, x| narrow(w, x));
}
/// Runs the AVX-512F batch kernel.
pub(crate) fn radix_batch(radix: &Radix, xs: &[u64], out: &mut [u32], next: &mut [u32]) {
    assert!(
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("popcnt"),
        "the AVX-512F kernel was selected on a CPU without AVX-512F and VL"
    );
    // SAFETY: the CPU has AVX-512F, AVX-512VL and POPCNT (checked just above), all that `batch`
    // enables.
    unsafe { batch(radix, xs, out, next) }
}

/// Writes to `list` the indices `i` of the first `16 · ⌊ids.len() / 16⌋` ids whose bit is set in
/// the bitmap `words` (bit `id % 32` of word `id / 32`; an id past the bitmap is not set), in
/// order, 16 ids a step; returns how many. The caller lists the rest. `list` holds `ids.len()` at
/// least.
#[target_feature(enable = "avx512f")]
fn set_bits(ids: &[u32], words: &[u32], list: &mut [u32]) -> usize {
    use std::arch::x86_64::*;
    assert!(list.len() >= ids.len() && !words.is_empty() && ids.len() < 1 << 31);
    let last = _mm512_set1_epi32(words.len() as i32 - 1);
    let len = _mm512_set1_epi32(words.len() as i32);
    let steps = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let mut n = 0;
    for (c, chunk) in ids.chunks_exact(16).enumerate() {
        // SAFETY: `chunk` is 16 `u32`s (64 bytes), read unaligned.
        let id = unsafe { _mm512_loadu_si512(chunk.as_ptr().cast()) };
        let word = _mm512_srli_epi32::<5>(id);
        let inside = _mm512_cmplt_epu32_mask(word, len);
        // SAFETY: every index is clamped to the bitmap's last word, so each 4-byte read is one of
        // `words`.
        let w = unsafe {
            _mm512_i32gather_epi32::<4>(_mm512_min_epu32(word, last), words.as_ptr().cast())
        };
        let bit = _mm512_srlv_epi32(w, _mm512_and_si512(id, _mm512_set1_epi32(31)));
        let set = _mm512_mask_test_epi32_mask(inside, bit, _mm512_set1_epi32(1));
        let index = _mm512_add_epi32(steps, _mm512_set1_epi32((c * 16) as i32));
        // SAFETY: the compressed store writes `set.count_ones()` lanes from `list[n]` on, and
        // `n + 16 <= c * 16 + 16 <= ids.len() <= list.len()` (n counts at most the ids before
        // this chunk).
        unsafe { _mm512_mask_compressstoreu_epi32(list.as_mut_ptr().add(n).cast(), set, index) };
        n += set.count_ones() as usize;
    }
    n
}

/// [`set_bits`] where the CPU has AVX-512F, else `None`.
pub(crate) fn list_set_bits(ids: &[u32], words: &[u32], list: &mut [u32]) -> Option<usize> {
    if !std::arch::is_x86_feature_detected!("avx512f") || words.is_empty() {
        return None;
    }
    // SAFETY: the CPU has AVX-512F (checked just above), all that `set_bits` enables.
    Some(unsafe { set_bits(ids, words, list) })
}
