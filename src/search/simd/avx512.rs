//! The AVX-512F kernel: counts a bucket 8 packed points per compare.

use std::arch::x86_64::{
    __m512i, _mm512_loadu_si512, _mm512_mask_cmplt_epu64_mask, _mm512_set1_epi64,
};

use crate::search::radix::Radix;

/// Counts the packed points whose top 48 bits are below `x`'s, in windows of 8 from `s` until `e` is
/// covered (see `radix::count_window` for why counting past `e` is exact).
#[target_feature(enable = "avx512f,popcnt")]
#[inline]
fn count(packed: &[u64], s: usize, e: usize, x: u64) -> usize {
    let xq = _mm512_set1_epi64((x & !0xFFFF) as i64);
    let mut c = 0u32;
    let mut i = s;
    loop {
        let window = &packed[i..i + 8];
        // SAFETY: `window` is 8 in-bounds `u64`s (64 bytes), the unaligned load reads exactly them.
        let v: __m512i = unsafe { _mm512_loadu_si512(window.as_ptr().cast()) };
        c += _mm512_mask_cmplt_epu64_mask(0xFF, v, xq).count_ones();
        i += 8;
        if i >= e {
            return c as usize;
        }
    }
}

/// The staged batch loop with this kernel's count, compiled with AVX-512F enabled.
#[target_feature(enable = "avx512f,popcnt")]
fn batch(radix: &Radix, points: &[u64], xs: &[u64], out: &mut [u32]) {
    radix.batch_with(points, xs, out, |p, s, e, x| count(p, s, e, x));
}

/// Runs the AVX-512F batch kernel.
pub(crate) fn radix_batch(radix: &Radix, points: &[u64], xs: &[u64], out: &mut [u32]) {
    assert!(
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("popcnt"),
        "the AVX-512F kernel was selected on a CPU without AVX-512F"
    );
    // SAFETY: the CPU has AVX-512F and POPCNT (checked just above), all that `batch` enables.
    unsafe { batch(radix, points, xs, out) }
}
