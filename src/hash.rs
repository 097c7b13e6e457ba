//! The fixed hash functions that placement is built on.
//!
//! Placement is a published contract: these functions are never seeded at random and never change
//! between releases. Each placement profile says which of them it uses and how. md5 comes from the
//! `md-5` crate and CRC-32 from `crc32fast`; only libmemcached's one-at-a-time hash, which no
//! well-kept crate offers with libmemcached's exact byte handling, is written out here.
//!
//! The md5 functions here are scalar (one key at a time); batch lookups hash 8 or 16 keys at once
//! with a multi-lane md5 of the crate's own, tested against these.

use md5::{Digest, Md5};

/// XXH3-64 with seed 0 (the `xxh3_64` of the xxHash specification, as fastring and `xxhash-rust` compute
/// it). The key hash and point hash of the `native` profile.
///
/// ```
/// // fastring places key "key-0" at 9340302149712544120 (../shared/vectors/fastring.n10.tsv).
/// assert_eq!(ringroute::hash::xxh3_64(b"key-0"), 9340302149712544120);
/// ```
#[inline]
pub fn xxh3_64(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// XXH64 with seed 0 (the `XXH64` of the xxHash specification, as `xxhash-rust` and Envoy's
/// `HashUtil::xxHash64` compute it). The key hash of the `maglev` profile; inline for keys under
/// 32 bytes.
///
/// ```
/// assert_eq!(ringroute::hash::xxh64(b""), 0xef46db3751d8e999);
/// assert_eq!(ringroute::hash::xxh64(b"abc"), xxhash_rust::xxh64::xxh64(b"abc", 0));
/// ```
#[inline]
pub fn xxh64(bytes: &[u8]) -> u64 {
    crate::maglev::key_hash(bytes)
}

/// The 16-byte MD5 digest (RFC 1321) of `bytes`.
///
/// ```
/// let d = ringroute::hash::md5(b"");
/// assert_eq!(d[..4], [0xd4, 0x1d, 0x8c, 0xd9]);
/// ```
#[inline]
pub fn md5(bytes: &[u8]) -> [u8; 16] {
    Md5::digest(bytes).into()
}

/// The MD5 digest of `bytes` read as one 128-bit **big-endian** integer: Python's
/// `int(hashlib.md5(b).hexdigest(), 16)`, the point and key hash of uhashring's default mode.
///
/// ```
/// // uhashring places "key-0" at 239606560113066237791549349790285249783 (uhashring_md5.n10.tsv).
/// assert_eq!(ringroute::hash::md5_u128_be(b"key-0"), 239606560113066237791549349790285249783);
/// ```
#[inline]
pub fn md5_u128_be(bytes: &[u8]) -> u128 {
    u128::from_be_bytes(md5(bytes))
}

/// Word `i` (0..4) of an MD5 digest: bytes `4i..4i+4` read **little-endian**, the ketama point
/// layout (`(d[4i+3] << 24) | (d[4i+2] << 16) | (d[4i+1] << 8) | d[4i]`). Panics if `i >= 4`.
///
/// ```
/// use ringroute::hash::{md5, md5_word_le};
/// // libketama, uhashring's ketama mode, hash_ring and continuum place "key-0" at 2123055796.
/// assert_eq!(md5_word_le(&md5(b"key-0"), 0), 2123055796);
/// ```
#[inline]
pub fn md5_word_le(digest: &[u8; 16], i: usize) -> u32 {
    let b = &digest[4 * i..4 * i + 4];
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// The ketama key hash: the first little-endian word of `md5(bytes)`, as a `u32`.
#[inline]
pub fn ketama_hash(bytes: &[u8]) -> u32 {
    md5_word_le(&md5(bytes), 0)
}

/// CRC-32 (IEEE 802.3, the zlib/`ngx_crc32_long` polynomial) of `bytes`.
///
/// ```
/// assert_eq!(ringroute::hash::crc32(b"123456789"), 0xCBF4_3926);
/// ```
#[inline]
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// nginx's CRC-32 point chain (`ngx_http_upstream_update_chash`, also Cache::Memcached::Fast and
/// pingora-ketama): with `base` = the CRC-32 state after `host ‖ "\0" ‖ port`, point `j` is
/// `crc32(host ‖ "\0" ‖ port ‖ prev_j)` where `prev_0 = 0` and `prev_{j+1}` = point `j`, as 4
/// little-endian bytes. Appends `count` points to `out`.
pub fn crc32_chain(host: &[u8], port: &[u8], count: u32, out: &mut Vec<u32>) {
    let mut base = crc32fast::Hasher::new();
    base.update(host);
    base.update(b"\0");
    base.update(port);
    out.reserve(count as usize);
    let mut prev = 0u32;
    for _ in 0..count {
        let mut h = base.clone();
        h.update(&prev.to_le_bytes());
        prev = h.finalize();
        out.push(prev);
    }
}

/// libmemcached's default hash, Bob Jenkins' one-at-a-time (`hashkit_one_at_a_time`), bit for bit
/// with libmemcached on x86-64: each byte is read as a C `char`, which is **signed** there, so bytes
/// `0x80..=0xFF` enter sign-extended (`0xFFFFFF80..`). This is the key and point hash of libmemcached's
/// `ketama` behaviour without `ketama_weighted`.
///
/// ```
/// // Jenkins' published test value for "a" (pure ASCII, so the sign quirk does not apply).
/// assert_eq!(ringroute::hash::one_at_a_time(b"a"), 0xca2e_9442);
/// ```
pub fn one_at_a_time(bytes: &[u8]) -> u32 {
    let mut v = 0u32;
    for &b in bytes {
        // `(uint32_t) (char) b` on a signed-char platform.
        v = v.wrapping_add(b as i8 as i32 as u32);
        v = v.wrapping_add(v << 10);
        v ^= v >> 6;
    }
    v = v.wrapping_add(v << 3);
    v ^= v >> 11;
    v.wrapping_add(v << 15)
}

/// `floor(a / b)` where `/` is Python's true division of integers (correctly rounded to an IEEE
/// double) — the value of `math.floor(a / b)` or `int(a / b)` in Python 3, which can exceed the exact
/// integer quotient when `a / b` lies within half an ulp below an integer. `b` must be non-zero.
pub(crate) fn py_floor_true_div(a: u128, b: u128) -> u64 {
    debug_assert!(b != 0);
    let q = a / b;
    let r = a % b;
    if r == 0 || q >= (1 << 52) {
        // Exact, or beyond any count a ring can hold (callers bound q far below 2^52).
        return q as u64;
    }
    // a/b lies strictly between q and q + 1. Its double rounds up to q + 1 iff a/b is at least the
    // midpoint between q + 1 and the double just below it, q + 1 - s; a tie goes to q + 1, the even one.
    // With e = floor(log2(q + 1)), s = 2^(e-53) if q + 1 is a power of two, else 2^(e-52).
    let next = q + 1;
    let e = 127 - next.leading_zeros(); // floor(log2(next)), at most 52
    let half_s_exp = if next.is_power_of_two() {
        54 - e
    } else {
        53 - e
    }; // s/2 = 2^-half_s_exp
       // 1 - r/b <= 2^-t  <=>  (b - r) * 2^t <= b
    let up = (b - r)
        .checked_shl(half_s_exp)
        .is_some_and(|x| x >> half_s_exp == b - r && x <= b);
    (if up { next } else { q }) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn py_floor_true_div_matches_f64_division_where_that_is_exact() {
        // Below 2^53 both operands are exact doubles and IEEE division is correctly rounded.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let a = u128::from(x >> 11);
            let b = u128::from((x >> 40) | 1);
            let want = ((a as f64) / (b as f64)).floor() as u64;
            assert_eq!(py_floor_true_div(a, b), want, "{a}/{b}");
        }
        // A quotient just below an integer that a double rounds up: (2^60 - 1) / 2^40.
        let (a, b) = ((1u128 << 60) - 1, 1u128 << 40);
        assert_eq!(py_floor_true_div(a, b), 1 << 20);
        assert_eq!(py_floor_true_div(7, 2), 3);
        assert_eq!(py_floor_true_div(0, 5), 0);
    }

    #[test]
    fn crc32_chain_starts_from_zero_prev() {
        let mut out = Vec::new();
        crc32_chain(b"127.0.0.1", b"80", 2, &mut out);
        let mut first = b"127.0.0.1\x0080".to_vec();
        first.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(out[0], crc32(&first));
        let mut second = b"127.0.0.1\x0080".to_vec();
        second.extend_from_slice(&out[0].to_le_bytes());
        assert_eq!(out[1], crc32(&second));
    }

    #[test]
    fn one_at_a_time_sign_extends_high_bytes() {
        // Sign extension makes 0xFF differ from the unsigned reading.
        let unsigned = {
            let mut v = 0u32;
            v = v.wrapping_add(0xFF);
            v = v.wrapping_add(v << 10);
            v ^= v >> 6;
            v = v.wrapping_add(v << 3);
            v ^= v >> 11;
            v.wrapping_add(v << 15)
        };
        assert_ne!(one_at_a_time(&[0xFF]), unsigned);
    }
}
