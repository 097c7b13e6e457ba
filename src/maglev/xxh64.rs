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

/// `XXH64(key, 0)`.
#[inline(always)]
pub(crate) fn xxh64_seed0(key: &[u8]) -> u64 {
    if key.len() >= 32 {
        return xxhash_rust::xxh64::xxh64(key, 0);
    }
    let mut h = P5.wrapping_add(key.len() as u64);
    let mut rest = key;
    while rest.len() >= 8 {
        let k = read64(rest)
            .wrapping_mul(P2)
            .rotate_left(31)
            .wrapping_mul(P1);
        h = (h ^ k).rotate_left(27).wrapping_mul(P1).wrapping_add(P4);
        rest = &rest[8..];
    }
    if rest.len() >= 4 {
        h ^= read32(rest).wrapping_mul(P1);
        h = h.rotate_left(23).wrapping_mul(P2).wrapping_add(P3);
        rest = &rest[4..];
    }
    for &b in rest {
        h ^= u64::from(b).wrapping_mul(P5);
        h = h.rotate_left(11).wrapping_mul(P1);
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
