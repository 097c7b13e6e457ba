//! Native point hashes eight at a time in AVX-512 lanes, for full builds.
//!
//! A node's points differ only in the index their hash input ends with, so the steps the scalar
//! code takes for one point ([`super::short`], [`super::mid`]) are the same for every point:
//! the words with the index shifted in, each block's 64×64→128-bit multiply folded to 64 bits,
//! the avalanche. Each lane of a 512-bit vector runs one index. AVX-512 has no 64-bit multiply's
//! high half, so a fold is four 32×32→64-bit multiplies (`vpmuludq`) and their carries; the
//! avalanche's low-half multiply is `vpmullq` (AVX-512DQ) and the short shape's byte swap
//! `vpshufb` (AVX-512BW). Measured (`perf`, a 1000-node build on an Intel Xeon guest): the hashes
//! went from 13 % of the build's time to 6 % (`docs/performance.md`). Every answer equals the
//! scalar hash (tested below, every shape and lane).

use super::{Block, Shape, Word};

/// Indices per vector (the lanes of a vector of `u64`).
pub(super) const LANES: usize = 8;

/// Whether this CPU has the lanes' instructions (AVX-512F, DQ and BW).
pub(super) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static LANES_OK: OnceLock<bool> = OnceLock::new();
        *LANES_OK.get_or_init(|| {
            std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512dq")
                && std::arch::is_x86_feature_detected!("avx512bw")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Writes the positions of points `0..out.len()` (a whole number of [`LANES`]) of a node of
/// `shape`, each shifted left by `norm`, into `out`. `false` (nothing written) for a shape the
/// lanes do not take (the general one, or more blocks than the scalar code has) or a CPU without
/// them.
pub(super) fn positions(shape: &Shape, norm: u32, out: &mut [u64]) -> bool {
    debug_assert!(out.len().is_multiple_of(LANES) && norm < 64);
    if !available() {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    match shape {
        Shape::Short { len, lo, hi } => {
            // SAFETY: the CPU has AVX-512F, DQ and BW (`available`), all `short_lanes` enables.
            unsafe { short_lanes(*len, lo, hi, norm, out) };
            true
        }
        Shape::Mid {
            fixed,
            blocks,
            count,
        } if (1..=blocks.len()).contains(count) => {
            // SAFETY: the CPU has AVX-512F, DQ and BW (`available`), all `mid_lanes` enables.
            unsafe { mid_lanes(*fixed, &blocks[..*count], norm, out) };
            true
        }
        _ => false,
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (shape, out);
        false
    }
}

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// A word's lanes for indices `i`: its base xor each index shifted into place (see [`Word::at`]).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct WordLanes {
    base: __m512i,
    up: __m128i,
    down: __m128i,
}

#[cfg(target_arch = "x86_64")]
impl WordLanes {
    #[target_feature(enable = "avx512f")]
    fn new(w: &Word) -> Self {
        WordLanes {
            base: _mm512_set1_epi64(w.base as i64),
            up: _mm_cvtsi64_si128(i64::from(w.up)),
            down: _mm_cvtsi64_si128(i64::from(w.down)),
        }
    }

    /// `base ^ ((i << up) >> down)` in each lane (a shift by 63, an index outside the word, gives
    /// 0 as the scalar one does for a 32-bit index).
    #[target_feature(enable = "avx512f")]
    fn at(self, i: __m512i) -> __m512i {
        let shifted = _mm512_srl_epi64(_mm512_sll_epi64(i, self.up), self.down);
        _mm512_xor_si512(self.base, shifted)
    }
}

/// The low and high halves of each lane's 64×64→128-bit product xored (see [`super::fold`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn fold_lanes(a: __m512i, b: __m512i) -> __m512i {
    let low32 = _mm512_set1_epi64(0xFFFF_FFFF);
    let (a1, b1) = (_mm512_srli_epi64::<32>(a), _mm512_srli_epi64::<32>(b));
    // `vpmuludq` multiplies the low 32 bits of each lane.
    let p00 = _mm512_mul_epu32(a, b);
    let p01 = _mm512_mul_epu32(a, b1);
    let p10 = _mm512_mul_epu32(a1, b);
    let p11 = _mm512_mul_epu32(a1, b1);
    // The middle 64 bits' sum (below 2^34: no carry lost).
    let mid = _mm512_add_epi64(
        _mm512_add_epi64(_mm512_srli_epi64::<32>(p00), _mm512_and_si512(p01, low32)),
        _mm512_and_si512(p10, low32),
    );
    let lo = _mm512_or_si512(_mm512_and_si512(p00, low32), _mm512_slli_epi64::<32>(mid));
    let hi = _mm512_add_epi64(
        _mm512_add_epi64(p11, _mm512_srli_epi64::<32>(p01)),
        _mm512_add_epi64(_mm512_srli_epi64::<32>(p10), _mm512_srli_epi64::<32>(mid)),
    );
    _mm512_xor_si512(lo, hi)
}

/// XXH3's avalanche in each lane (see [`super::avalanche`]), then the shift by `norm`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
fn avalanche_lanes(h: __m512i, norm: __m128i) -> __m512i {
    let h = _mm512_xor_si512(h, _mm512_srli_epi64::<37>(h));
    let h = _mm512_mullo_epi64(h, _mm512_set1_epi64(0x1656_6791_9E37_79F9));
    _mm512_sll_epi64(_mm512_xor_si512(h, _mm512_srli_epi64::<32>(h)), norm)
}

/// Runs `point(indices)` for each [`LANES`] indices from 0 and stores the lanes into `out`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn each_vector(out: &mut [u64], mut point: impl FnMut(__m512i) -> __m512i) {
    let mut i = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
    let step = _mm512_set1_epi64(LANES as i64);
    for chunk in out.chunks_exact_mut(LANES) {
        let v = point(i);
        // SAFETY: `chunk` is `LANES` writable `u64`s, written unaligned.
        unsafe { _mm512_storeu_si512(chunk.as_mut_ptr().cast(), v) };
        i = _mm512_add_epi64(i, step);
    }
}

/// [`positions`] for a 17–128-byte input: `fixed` plus each block's fold, then the avalanche.
///
/// # Safety
/// The CPU has AVX-512F and AVX-512DQ.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn mid_lanes(fixed: u64, blocks: &[Block], norm: u32, out: &mut [u64]) {
    let lanes = |b: &Block| (WordLanes::new(&b.lo), WordLanes::new(&b.hi));
    match blocks {
        [a] => mid_n([lanes(a)], fixed, norm, out),
        [a, b] => mid_n([lanes(a), lanes(b)], fixed, norm, out),
        [a, b, c] => mid_n([lanes(a), lanes(b), lanes(c)], fixed, norm, out),
        _ => unreachable!("one to three blocks reach the index"),
    }
}

/// [`mid_lanes`] with its blocks' count known (the folds unrolled).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
fn mid_n<const N: usize>(
    words: [(WordLanes, WordLanes); N],
    fixed: u64,
    norm: u32,
    out: &mut [u64],
) {
    let (fixed, norm) = (
        _mm512_set1_epi64(fixed as i64),
        _mm_cvtsi64_si128(i64::from(norm)),
    );
    each_vector(out, |i| {
        let mut acc = fixed;
        for (lo, hi) in words {
            acc = _mm512_add_epi64(acc, fold_lanes(lo.at(i), hi.at(i)));
        }
        avalanche_lanes(acc, norm)
    });
}

/// [`positions`] for a 9–16-byte input: `len + swap_bytes(lo) + hi + fold(lo, hi)`, then the
/// avalanche.
///
/// # Safety
/// The CPU has AVX-512F, AVX-512DQ and AVX-512BW.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512bw")]
unsafe fn short_lanes(len: u64, lo: &Word, hi: &Word, norm: u32, out: &mut [u64]) {
    let (lo, hi) = (WordLanes::new(lo), WordLanes::new(hi));
    let (len, norm) = (
        _mm512_set1_epi64(len as i64),
        _mm_cvtsi64_si128(i64::from(norm)),
    );
    // Each 64-bit lane's bytes reversed: byte `k` of a 16-byte lane takes byte `7 - k` of its low
    // half, or `23 - k` of its high half.
    let (rev_lo, rev_hi) = (0x0001_0203_0405_0607_i64, 0x0809_0A0B_0C0D_0E0F_i64);
    let reverse = _mm512_set_epi64(
        rev_hi, rev_lo, rev_hi, rev_lo, rev_hi, rev_lo, rev_hi, rev_lo,
    );
    each_vector(out, |i| {
        let (l, h) = (lo.at(i), hi.at(i));
        let swapped = _mm512_shuffle_epi8(l, reverse);
        let acc = _mm512_add_epi64(
            _mm512_add_epi64(len, swapped),
            _mm512_add_epi64(h, fold_lanes(l, h)),
        );
        avalanche_lanes(acc, norm)
    });
}

#[cfg(test)]
mod tests {
    use super::super::Shape;
    use super::*;
    use proptest::prelude::*;

    /// The scalar positions of points `0..count` of `name`, shifted by `norm`.
    fn scalar(name: &str, count: u32, norm: u32) -> Vec<u64> {
        let mut shape = Shape::new(name.as_bytes());
        (0..count).map(|i| shape.point(i) << norm).collect()
    }

    fn check(name: &str, count: u32, norm: u32) {
        let shape = Shape::new(name.as_bytes());
        let mut out = vec![0u64; count as usize / LANES * LANES];
        if positions(&shape, norm, &mut out) {
            let want = scalar(name, count, norm);
            assert_eq!(out, want[..out.len()], "{name:?} norm {norm}");
        } else {
            // Only the general shape, or a CPU without the lanes, declines.
            assert!(matches!(shape, Shape::Other(_)) || !available(), "{name:?}");
        }
    }

    #[test]
    fn every_length_and_lane_equals_the_scalar_hash() {
        for len in 0..=140usize {
            let name: String = (0..len)
                .map(|j| char::from(b'a' + ((j * 11 + len) % 26) as u8))
                .collect();
            check(&name, 320, 0);
            check(&name, 64, 16);
        }
    }

    proptest! {
        /// Names of any length and bytes, counts past 2^8 and 2^16 (indices reaching every byte
        /// of the index word), any shift.
        #[test]
        fn any_name_equals_the_scalar_hash(
            name in "\\PC{0,140}",
            count in prop_oneof![0u32..300, 65_530u32..65_560],
            norm in 0u32..64,
        ) {
            check(&name, count, norm);
        }
    }
}
