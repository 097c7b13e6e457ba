//! The AVX2 kernel: counts a bucket 4 packed points per compare.

use std::arch::x86_64::{
    __m256i, _mm256_castsi256_pd, _mm256_cmpgt_epi64, _mm256_loadu_si256, _mm256_movemask_pd,
    _mm256_set1_epi64x, _mm256_xor_si256,
};

use crate::search::radix::Radix;

/// The lanes of `v` below `k` (the bucket's key, as `radix::window_count` takes it), as the low 4
/// bits of a mask. AVX2 compares are signed, so both sides are flipped at the sign bit to compare
/// unsigned.
#[target_feature(enable = "avx2")]
#[inline]
fn below(v: __m256i, k: u64) -> u32 {
    let sign = _mm256_set1_epi64x(i64::MIN);
    let xq = _mm256_xor_si256(_mm256_set1_epi64x(k as i64), sign);
    let lt = _mm256_cmpgt_epi64(xq, _mm256_xor_si256(v, sign));
    _mm256_movemask_pd(_mm256_castsi256_pd(lt)) as u32
}

/// Counts the slots of window `w` below the bucket's key `x`, in two 4-wide compares.
#[target_feature(enable = "avx2,popcnt")]
#[inline]
fn window(w: &[u64; 8], x: u64) -> u32 {
    // SAFETY: `w` is 8 `u64`s; each unaligned load reads 4 of them (32 bytes).
    let (a, b): (__m256i, __m256i) = unsafe {
        (
            _mm256_loadu_si256(w.as_ptr().cast()),
            _mm256_loadu_si256(w.as_ptr().add(4).cast()),
        )
    };
    below(a, x).count_ones() + below(b, x).count_ones()
}

/// Counts the slots of window `w` below the bucket's key `x`, in one 4-wide compare.
#[target_feature(enable = "avx2,popcnt")]
#[inline]
fn narrow(w: &[u64; 4], x: u64) -> u32 {
    // SAFETY: `w` is 4 `u64`s (32 bytes); the unaligned load reads exactly them.
    below(unsafe { _mm256_loadu_si256(w.as_ptr().cast()) }, x).count_ones()
}

/// The staged batch loop with this kernel's window counts, compiled with AVX2 enabled.
#[target_feature(enable = "avx2,popcnt")]
fn batch(radix: &Radix, xs: &[u64], out: &mut [u32], next: &mut [u32]) {
    radix.batch_with::<8>(xs, out, next, |w, x| window(w, x), |w, x| narrow(w, x));
}
/// Runs the AVX2 batch kernel.
pub(crate) fn radix_batch(radix: &Radix, xs: &[u64], out: &mut [u32], next: &mut [u32]) {
    assert!(
        std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("popcnt"),
        "the AVX2 kernel was selected on a CPU without AVX2"
    );
    // SAFETY: the CPU has AVX2 and POPCNT (checked just above), all that `batch` enables.
    unsafe { batch(radix, xs, out, next) }
}
