//! The AVX-512F kernel: counts a bucket 8 packed points per compare.

use std::arch::x86_64::{
    __m512i, _mm512_loadu_si512, _mm512_mask_cmplt_epu64_mask, _mm512_set1_epi64,
};

use crate::search::radix::Radix;

/// Counts the slots of window `w` whose top 48 bits are below `x`'s, 8 per compare.
#[target_feature(enable = "avx512f,popcnt")]
#[inline]
fn window(w: &[u64; 8], x: u64) -> u32 {
    let xq = _mm512_set1_epi64((x & !0xFFFF) as i64);
    // SAFETY: `w` is 8 `u64`s (64 bytes); the unaligned load reads exactly them.
    let v: __m512i = unsafe { _mm512_loadu_si512(w.as_ptr().cast()) };
    _mm512_mask_cmplt_epu64_mask(0xFF, v, xq).count_ones()
}

/// The staged batch loop with this kernel's window count, compiled with AVX-512F enabled.
#[target_feature(enable = "avx512f,popcnt")]
fn batch(radix: &Radix, xs: &[u64], out: &mut [u32], next: &mut [u32]) {
    radix.batch_with::<8>(xs, out, next, |w, x| window(w, x));
}
/// Runs the AVX-512F batch kernel.
pub(crate) fn radix_batch(radix: &Radix, xs: &[u64], out: &mut [u32], next: &mut [u32]) {
    assert!(
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("popcnt"),
        "the AVX-512F kernel was selected on a CPU without AVX-512F"
    );
    // SAFETY: the CPU has AVX-512F and POPCNT (checked just above), all that `batch` enables.
    unsafe { batch(radix, xs, out, next) }
}
