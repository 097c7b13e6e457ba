//! The AVX2 kernel: counts a bucket 4 packed points per compare.

use std::arch::x86_64::{
    __m256i, _mm256_castsi256_pd, _mm256_cmpgt_epi64, _mm256_loadu_si256, _mm256_movemask_pd,
    _mm256_set1_epi64x, _mm256_xor_si256,
};

use crate::search::radix::Radix;

/// Counts the packed points whose top 48 bits are below `x`'s, in windows of 8 (two 4-wide compares)
/// from `s` until `e` is covered (see `radix::count_window` for why counting past `e` is exact). AVX2
/// compares are signed, so both sides are flipped at the sign bit to compare unsigned.
#[target_feature(enable = "avx2,popcnt")]
#[inline]
fn count(packed: &[u64], s: usize, e: usize, x: u64) -> usize {
    let sign = _mm256_set1_epi64x(i64::MIN);
    let xq = _mm256_xor_si256(_mm256_set1_epi64x((x & !0xFFFF) as i64), sign);
    let mut c = 0u32;
    let mut i = s;
    loop {
        let window = &packed[i..i + 8];
        // SAFETY: `window` is 8 in-bounds `u64`s; each unaligned load reads 4 of them (32 bytes).
        let (a, b): (__m256i, __m256i) = unsafe {
            (
                _mm256_loadu_si256(window.as_ptr().cast()),
                _mm256_loadu_si256(window.as_ptr().add(4).cast()),
            )
        };
        let lt_a = _mm256_cmpgt_epi64(xq, _mm256_xor_si256(a, sign));
        let lt_b = _mm256_cmpgt_epi64(xq, _mm256_xor_si256(b, sign));
        c += (_mm256_movemask_pd(_mm256_castsi256_pd(lt_a)) as u32).count_ones()
            + (_mm256_movemask_pd(_mm256_castsi256_pd(lt_b)) as u32).count_ones();
        i += 8;
        if i >= e {
            return c as usize;
        }
    }
}

/// The staged batch loop with this kernel's count, compiled with AVX2 enabled.
#[target_feature(enable = "avx2,popcnt")]
fn batch(radix: &Radix, points: &[u64], xs: &[u64], out: &mut [u32]) {
    radix.batch_with(points, xs, out, |p, s, e, x| count(p, s, e, x));
}

/// Runs the AVX2 batch kernel.
pub(crate) fn radix_batch(radix: &Radix, points: &[u64], xs: &[u64], out: &mut [u32]) {
    assert!(
        std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("popcnt"),
        "the AVX2 kernel was selected on a CPU without AVX2"
    );
    // SAFETY: the CPU has AVX2 and POPCNT (checked just above), all that `batch` enables.
    unsafe { batch(radix, points, xs, out) }
}
