//! Multi-lane MD5: hashes up to 16 short keys at once, for the batch lookups of the md5-based profiles
//! (uhashring, the ketama family, continuum, libmemcached).
//!
//! Each lane runs the standard MD5 compression of one single-block message (a key of at most
//! [`MAX_KEY`] bytes, padded as RFC 1321 says) in plain Rust over arrays of lanes. The same code is
//! compiled three times: with AVX-512F (16 lanes), with AVX2 (8 lanes), and without target features
//! (8 lanes, for any CPU); LLVM turns the lane loops into vector instructions. Longer keys go through
//! the scalar md5 (`md-5`). Property tests check every path against it bit for bit.

use crate::search::Kernel;

/// The longest key that fits one MD5 block (64 bytes less the 0x80 byte and the 8-byte length).
pub(crate) const MAX_KEY: usize = 55;

const S: [u32; 64] = [
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9,
    14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15,
    21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
];

/// MD5's additive constants, `floor(|sin(i + 1)| · 2^32)` (RFC 1321, section 3.4); the tests check
/// every path against the `md-5` crate.
const K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

/// The 16 message words of the single padded block of `key` (`key.len() <= MAX_KEY`).
#[inline]
fn block(key: &[u8]) -> [u32; 16] {
    let mut b = [0u8; 64];
    b[..key.len()].copy_from_slice(key);
    b[key.len()] = 0x80;
    b[56..].copy_from_slice(&((key.len() as u64) * 8).to_le_bytes());
    let mut w = [0u32; 16];
    for (i, w) in w.iter_mut().enumerate() {
        *w = u32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]]);
    }
    w
}

/// One MD5 step on every lane: `$fun` is the round's boolean function, `$i` the step (a constant
/// after unrolling, so the message word, the constant and the rotation are too).
macro_rules! step {
    ($L:ident, $a:ident, $b:ident, $c:ident, $d:ident, $m:ident, $fun:expr, $i:expr, $g:expr) => {{
        let (i, g) = ($i, $g);
        let mut f = [0u32; $L];
        for l in 0..$L {
            f[l] = $fun($b[l], $c[l], $d[l])
                .wrapping_add($a[l])
                .wrapping_add(K[i])
                .wrapping_add($m[g][l]);
        }
        $a = $d;
        $d = $c;
        $c = $b;
        for l in 0..$L {
            $b[l] = $b[l].wrapping_add(f[l].rotate_left(S[i]));
        }
    }};
}

/// MD5 of one block per lane: `m[word][lane]` in, `[a, b, c, d][lane]` out (the digest's four
/// little-endian words). The four rounds are separate loops of 16 steps, which the compiler unrolls.
#[inline(always)]
fn compress<const L: usize>(m: &[[u32; L]; 16]) -> [[u32; L]; 4] {
    let (mut a, mut b, mut c, mut d) = (
        [0x6745_2301u32; L],
        [0xefcd_ab89u32; L],
        [0x98ba_dcfeu32; L],
        [0x1032_5476u32; L],
    );
    for i in 0..16 {
        step!(
            L,
            a,
            b,
            c,
            d,
            m,
            |x: u32, y: u32, z: u32| (x & y) | (!x & z),
            i,
            i
        );
    }
    for i in 16..32 {
        step!(
            L,
            a,
            b,
            c,
            d,
            m,
            |x: u32, y: u32, z: u32| (z & x) | (!z & y),
            i,
            (5 * i + 1) % 16
        );
    }
    for i in 32..48 {
        step!(
            L,
            a,
            b,
            c,
            d,
            m,
            |x: u32, y: u32, z: u32| x ^ y ^ z,
            i,
            (3 * i + 5) % 16
        );
    }
    for i in 48..64 {
        step!(
            L,
            a,
            b,
            c,
            d,
            m,
            |x: u32, y: u32, z: u32| y ^ (x | !z),
            i,
            (7 * i) % 16
        );
    }
    let mut out = [[0u32; L]; 4];
    for l in 0..L {
        out[0][l] = a[l].wrapping_add(0x6745_2301);
        out[1][l] = b[l].wrapping_add(0xefcd_ab89);
        out[2][l] = c[l].wrapping_add(0x98ba_dcfe);
        out[3][l] = d[l].wrapping_add(0x1032_5476);
    }
    out
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn compress_avx512(m: &[[u32; 16]; 16]) -> [[u32; 16]; 4] {
    compress::<16>(m)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn compress_avx2(m: &[[u32; 8]; 16]) -> [[u32; 8]; 4] {
    compress::<8>(m)
}

/// Runs `L` lanes of `compress` on `keys[..L]` (every key at most [`MAX_KEY`] bytes; missing lanes
/// hash the empty key) and writes each digest's four words into `out`.
fn lanes<const L: usize, K: AsRef<[u8]>>(
    keys: &[K],
    out: &mut [[u32; 4]],
    run: impl Fn(&[[u32; L]; 16]) -> [[u32; L]; 4],
) {
    let mut m = [[0u32; L]; 16];
    for (l, key) in keys.iter().enumerate() {
        let w = block(key.as_ref());
        for (word, &v) in w.iter().enumerate() {
            m[word][l] = v;
        }
    }
    let d = run(&m);
    for (l, o) in out.iter_mut().enumerate().take(keys.len()) {
        *o = [d[0][l], d[1][l], d[2][l], d[3][l]];
    }
}

/// The four little-endian digest words of MD5 of each key, `out[i]` for `keys[i]`, hashing short
/// keys many at a time with the widest path `kernel` allows (AVX-512F for [`Kernel::Avx512`], AVX2 for
/// [`Kernel::Avx2`], the portable lane loop for [`Kernel::Portable`]) and one at a time for
/// [`Kernel::Scalar`] and for keys longer than [`MAX_KEY`]. The caller has checked that `kernel` is
/// available; `out.len() == keys.len()`.
pub(crate) fn md5_words<K: AsRef<[u8]>>(kernel: Kernel, keys: &[K], out: &mut [[u32; 4]]) {
    debug_assert_eq!(keys.len(), out.len());
    let lanes_of = match kernel {
        Kernel::Scalar => 1,
        Kernel::Avx512 => 16,
        _ => 8,
    };
    let mut i = 0;
    while i < keys.len() {
        let end = (i + lanes_of).min(keys.len());
        let group = &keys[i..end];
        if lanes_of == 1 || group.iter().any(|k| k.as_ref().len() > MAX_KEY) {
            for (o, key) in out[i..end].iter_mut().zip(group) {
                *o = scalar_words(key.as_ref());
            }
        } else {
            let out = &mut out[i..end];
            match kernel {
                #[cfg(target_arch = "x86_64")]
                Kernel::Avx512 => lanes::<16, K>(group, out, |m| {
                    // SAFETY: the caller checked `Kernel::Avx512.is_available()`: the CPU has AVX-512F.
                    unsafe { compress_avx512(m) }
                }),
                #[cfg(target_arch = "x86_64")]
                Kernel::Avx2 => lanes::<8, K>(group, out, |m| {
                    // SAFETY: the caller checked `Kernel::Avx2.is_available()`: the CPU has AVX2.
                    unsafe { compress_avx2(m) }
                }),
                _ => lanes::<8, K>(group, out, compress::<8>),
            }
        }
        i = end;
    }
}

/// The four little-endian words of the scalar MD5 of `key` (the `md-5` crate).
#[inline]
pub(crate) fn scalar_words(key: &[u8]) -> [u32; 4] {
    let d = crate::hash::md5(key);
    [0, 1, 2, 3].map(|i| crate::hash::md5_word_le(&d, i))
}

/// The digest words as uhashring's 128-bit big-endian integer.
#[inline]
pub(crate) fn words_to_u128_be(w: [u32; 4]) -> u128 {
    let mut b = [0u8; 16];
    for (i, x) in w.iter().enumerate() {
        b[4 * i..4 * i + 4].copy_from_slice(&x.to_le_bytes());
    }
    u128::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Every path the CPU has equals the scalar `md-5` digest, for keys of every length around the
        /// one-block limit and batches that do not fill the lanes.
        #[test]
        fn every_path_equals_scalar_md5(keys in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..70), 0..40)) {
            let want: Vec<[u32; 4]> = keys.iter().map(|k| scalar_words(k)).collect();
            for kernel in crate::search::kernels_under_test("md5x::every_path_equals_scalar_md5") {
                let mut out = vec![[0u32; 4]; keys.len()];
                md5_words(kernel, &keys, &mut out);
                prop_assert_eq!(&out, &want, "{}", kernel);
            }
        }
    }

    #[test]
    fn known_digests() {
        // RFC 1321 test suite.
        let cases: [(&[u8], &str); 3] = [
            (b"", "d41d8cd98f00b204e9800998ecf8427e"),
            (b"abc", "900150983cd24fb0d6963f7d28e17f72"),
            (b"message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
        ];
        for kernel in crate::search::kernels_under_test("md5x::known_digests") {
            let keys: Vec<&[u8]> = cases.iter().map(|c| c.0).collect();
            let mut out = vec![[0u32; 4]; keys.len()];
            md5_words(kernel, &keys, &mut out);
            for (w, (_, hex)) in out.iter().zip(&cases) {
                assert_eq!(format!("{:032x}", words_to_u128_be(*w)), *hex, "{kernel}");
            }
        }
    }
}
