//! XXH64 with seed 0 for the keys a load balancer hashes (a header value, a cookie, a client
//! address: almost always under 32 bytes), inlined into the lookup. The crate's `xxh64` is an
//! out-of-line call with the general loops; for these keys its whole work is the tail steps below,
//! which the compiler lays out straight when they are inlined. Inputs of 32 bytes or more take the
//! crate's function. Every answer equals `xxhash_rust::xxh64::xxh64(key, 0)` (tested below).

pub(super) const P1: u64 = 0x9E37_79B1_85EB_CA87;
pub(super) const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
pub(super) const P3: u64 = 0x1656_67B1_9E37_79F9;
pub(super) const P4: u64 = 0x85EB_CA77_C2B2_AE63;
pub(super) const P5: u64 = 0x27D4_EB2F_1656_67C5;

/// `b · P5` for every byte `b`: a tail byte's multiply read from a table instead (one load, which
/// runs beside the dependent multiplies where another multiply would wait for the multiplier).
static BYTE_P5: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = (b as u64).wrapping_mul(P5);
        b += 1;
    }
    t
};

#[inline(always)]
fn read64(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[..8]);
    u64::from_le_bytes(w)
}

#[inline(always)]
fn read32(b: &[u8]) -> u64 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[..4]);
    u64::from(u32::from_le_bytes(w))
}

/// One 8-byte block's step.
#[inline(always)]
fn block(h: u64, k: u64) -> u64 {
    let k = k.wrapping_mul(P2).rotate_left(31).wrapping_mul(P1);
    (h ^ k).rotate_left(27).wrapping_mul(P1).wrapping_add(P4)
}

/// One tail byte's step.
#[inline(always)]
fn byte(h: u64, b: u8) -> u64 {
    (h ^ BYTE_P5[usize::from(b)])
        .rotate_left(11)
        .wrapping_mul(P1)
}

/// `XXH64(key, 0)`.
///
/// Keys under 32 bytes take straight-line steps: up to three 8-byte blocks, a 4-byte word, up to
/// three bytes, each step taken or skipped by one test of the length (a loop here measured slower:
/// its counter and exit add instructions to every call).
#[inline(always)]
pub(crate) fn xxh64_seed0(key: &[u8]) -> u64 {
    let len = key.len();
    if len >= 32 {
        return xxhash_rust::xxh64::xxh64(key, 0);
    }
    let mut h = P5.wrapping_add(len as u64);
    let mut rest = key;
    if rest.len() >= 16 {
        h = block(h, read64(rest));
        h = block(h, read64(&rest[8..]));
        rest = &rest[16..];
    }
    if rest.len() >= 8 {
        h = block(h, read64(rest));
        rest = &rest[8..];
    }
    if rest.len() >= 4 {
        h ^= read32(rest).wrapping_mul(P1);
        h = h.rotate_left(23).wrapping_mul(P2).wrapping_add(P3);
        rest = &rest[4..];
    }
    // At most three bytes are left.
    if let [b, more @ ..] = rest {
        h = byte(h, *b);
        if let [b, more @ ..] = more {
            h = byte(h, *b);
            if let [b, ..] = more {
                h = byte(h, *b);
            }
        }
    }
    h ^= h >> 33;
    h = h.wrapping_mul(P2);
    h ^= h >> 29;
    h = h.wrapping_mul(P3);
    h ^ (h >> 32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_length_up_to_64_equals_the_crate() {
        for len in 0..=64usize {
            let key: Vec<u8> = (0..len).map(|i| (i * 37 + len * 11) as u8).collect();
            assert_eq!(
                xxh64_seed0(&key),
                xxhash_rust::xxh64::xxh64(&key, 0),
                "{len}"
            );
        }
    }

    proptest! {
        #[test]
        fn any_key_equals_the_crate(key in proptest::collection::vec(any::<u8>(), 0..80)) {
            prop_assert_eq!(xxh64_seed0(&key), xxhash_rust::xxh64::xxh64(&key, 0));
        }
    }
}
