//! XXH64 with seed 0 of eight keys at once (AVX-512F and AVX-512DQ), for batches of Maglev keys.
//!
//! A key of 4 to 31 bytes is hashed by XXH64's short-input steps only: up to three 8-byte
//! stripes, one 4-byte word, up to three single bytes, then the avalanche. Each lane of a 512-bit
//! vector runs one key's steps; a step a lane's key does not have leaves the lane as it is
//! (masks), and a step no lane has is skipped. A lane's words are gathered from its key's own
//! bytes only: a stripe or the word where the key has one, and its last bytes as the 4-byte word
//! that ends the key (shifted to the byte wanted), so no read goes past a key. A group with a key
//! outside 4..32 bytes is hashed one key at a time ([`super::key_hash`]). Every answer equals
//! `XXH64(key, 0)` (tested against the scalar hash below).
//!
//! Scalar XXH64 of a 10-byte key makes nine 64-bit multiplies (seven of them one after another),
//! and the multiplier takes one a cycle: a batch cannot go below ~9 cycles a key that way. Eight
//! lanes make the same nine multiplies for eight keys, and [`VECTORS`] vectors are hashed side by
//! side to hide the vector multiplies' latency.

use super::xxh64::{P1, P2, P3, P4, P5};

/// Whether this CPU can run [`hash_keys`]'s lanes (AVX-512F and AVX-512DQ).
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static LANES: OnceLock<bool> = OnceLock::new();
        *LANES.get_or_init(|| {
            std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512dq")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Keys per vector (the lanes of a vector of `u64`).
const LANES: usize = 8;

/// Vectors hashed together: their steps interleave, so that one vector's multiplies (~15 cycles
/// each on Intel's AVX-512) wait while the others' run. A criterion batch of 10-byte keys (Intel
/// guest): one vector 8.6 ns a key, four 3.6–3.8, eight 3.5, against 4.0 one key at a time.
const VECTORS: usize = 8;

/// Keys per group.
const GROUP: usize = LANES * VECTORS;

/// Writes `XXH64(keys[i], 0)` to `out[i]` for every key: [`GROUP`] keys at a time with `lanes`
/// where the CPU has them ([`available`]), else one at a time.
///
/// # Panics
/// If `out` is shorter than `keys`.
pub(crate) fn hash_keys<K: AsRef<[u8]>>(keys: &[K], out: &mut [u64], lanes: bool) {
    let out = &mut out[..keys.len()];
    let mut done = 0;
    if lanes && available() {
        for (ks, os) in keys.chunks_exact(GROUP).zip(out.chunks_exact_mut(GROUP)) {
            let mut addr = [0u64; GROUP];
            let mut len = [0u64; GROUP];
            let mut short = true;
            for (i, k) in ks.iter().enumerate() {
                let k = k.as_ref();
                addr[i] = k.as_ptr() as u64;
                len[i] = k.len() as u64;
                short &= (4..32).contains(&k.len());
            }
            if short {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: the CPU has AVX-512F and AVX-512DQ (`available`), all `hash_group`
                // enables; each lane is the address and length of a live key of 4 to 31 bytes
                // (`ks` is borrowed for the call), as `hash_group` requires.
                unsafe {
                    hash_group(&addr, &len, os.try_into().expect("a whole group"));
                }
            } else {
                for (o, k) in os.iter_mut().zip(ks) {
                    *o = super::key_hash(k.as_ref());
                }
            }
        }
        done = keys.len() - keys.len() % GROUP;
    }
    for (o, k) in out[done..].iter_mut().zip(&keys[done..]) {
        *o = super::key_hash(k.as_ref());
    }
}

/// XXH64 (seed 0) of the [`GROUP`] keys at addresses `addr` of lengths `len` into `out`.
///
/// # Safety
/// The CPU has AVX-512F and AVX-512DQ; for each key, `len` is 4 to 31 and `addr` is the address
/// of `len` readable bytes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn hash_group(addr: &[u64; GROUP], len: &[u64; GROUP], out: &mut [u64; GROUP]) {
    use std::arch::x86_64::*;

    let c = |x: u64| _mm512_set1_epi64(x as i64);
    let (p1, p2, p3, p4, p5) = (c(P1), c(P2), c(P3), c(P4), c(P5));
    let load = |v: &[u64; GROUP], g: usize| {
        // SAFETY: lanes `8g..8g + 8` of a `GROUP`-long array (`g < VECTORS`), read unaligned.
        unsafe { _mm512_loadu_si512(v[g * LANES..].as_ptr().cast()) }
    };
    let a: [__m512i; VECTORS] = std::array::from_fn(|g| load(addr, g));
    let n: [__m512i; VECTORS] = std::array::from_fn(|g| load(len, g));
    let zero = _mm512_setzero_si512();
    let zero32 = _mm256_setzero_si256();
    // Gathers take the keys' absolute addresses as offsets from a null base.
    let base = std::ptr::null::<u8>();
    let mut h: [__m512i; VECTORS] = std::array::from_fn(|g| _mm512_add_epi64(p5, n[g]));

    // The 8-byte stripes: lanes whose key has more than `8s + 7` bytes.
    let stripes: [__m512i; VECTORS] = std::array::from_fn(|g| _mm512_srli_epi64::<3>(n[g]));
    for s in 0..3u64 {
        let m: [__mmask8; VECTORS] =
            std::array::from_fn(|g| _mm512_cmpgt_epu64_mask(stripes[g], c(s)));
        if m.iter().all(|&m| m == 0) {
            break;
        }
        for g in 0..VECTORS {
            let at = _mm512_add_epi64(a[g], c(8 * s));
            // SAFETY: a lane in `m[g]` has `8s + 8` bytes or more at its address; the others are
            // not read (a masked gather touches only the lanes of its mask).
            let v = unsafe { _mm512_mask_i64gather_epi64::<1>(zero, m[g], at, base.cast()) };
            let k = _mm512_mullo_epi64(_mm512_rol_epi64::<31>(_mm512_mullo_epi64(v, p2)), p1);
            let x = _mm512_rol_epi64::<27>(_mm512_xor_si512(h[g], k));
            let next = _mm512_add_epi64(_mm512_mullo_epi64(x, p1), p4);
            h[g] = _mm512_mask_mov_epi64(h[g], m[g], next);
        }
    }

    // The 4-byte word after the stripes, where the key has four bytes or more left.
    let m: [__mmask8; VECTORS] = std::array::from_fn(|g| _mm512_test_epi64_mask(n[g], c(4)));
    if m.iter().any(|&m| m != 0) {
        for g in 0..VECTORS {
            let at = _mm512_add_epi64(a[g], _mm512_and_si512(n[g], c(!7)));
            // SAFETY: a lane in `m[g]` has `len & !7` bytes of stripes and then 4 bytes or more;
            // the others are not read.
            let w = unsafe { _mm512_mask_i64gather_epi32::<1>(zero32, m[g], at, base.cast()) };
            let w = _mm512_mullo_epi64(_mm512_cvtepu32_epi64(w), p1);
            let x = _mm512_rol_epi64::<23>(_mm512_xor_si512(h[g], w));
            let next = _mm512_add_epi64(_mm512_mullo_epi64(x, p2), p3);
            h[g] = _mm512_mask_mov_epi64(h[g], m[g], next);
        }
    }

    // The last `len & 3` bytes, one at a time, from the 4-byte word that ends the key (its top
    // `len & 3` bytes).
    let rest: [__m512i; VECTORS] = std::array::from_fn(|g| _mm512_and_si512(n[g], c(3)));
    let some: [__mmask8; VECTORS] =
        std::array::from_fn(|g| _mm512_test_epi64_mask(rest[g], rest[g]));
    if some.iter().any(|&m| m != 0) {
        let t: [__m512i; VECTORS] = std::array::from_fn(|g| {
            let at = _mm512_sub_epi64(_mm512_add_epi64(a[g], n[g]), c(4));
            // SAFETY: every key has 4 bytes or more, so its last four start at `addr + len - 4`;
            // the lanes with no byte left are not read.
            let t = unsafe { _mm512_mask_i64gather_epi32::<1>(zero32, some[g], at, base.cast()) };
            _mm512_cvtepu32_epi64(t)
        });
        for b in 0..3u64 {
            let m: [__mmask8; VECTORS] =
                std::array::from_fn(|g| _mm512_cmpgt_epu64_mask(rest[g], c(b)));
            if m.iter().all(|&m| m == 0) {
                break;
            }
            for g in 0..VECTORS {
                // Byte `b` of the rest is byte `4 - rest + b` of the word.
                let at = _mm512_add_epi64(_mm512_sub_epi64(c(4), rest[g]), c(b));
                let byte = _mm512_srlv_epi64(t[g], _mm512_slli_epi64::<3>(at));
                let byte = _mm512_mullo_epi64(_mm512_and_si512(byte, c(0xFF)), p5);
                let x = _mm512_rol_epi64::<11>(_mm512_xor_si512(h[g], byte));
                h[g] = _mm512_mask_mov_epi64(h[g], m[g], _mm512_mullo_epi64(x, p1));
            }
        }
    }

    // The avalanche.
    for (g, h) in h.iter_mut().enumerate() {
        let mut x = _mm512_xor_si512(*h, _mm512_srli_epi64::<33>(*h));
        x = _mm512_mullo_epi64(x, p2);
        x = _mm512_xor_si512(x, _mm512_srli_epi64::<29>(x));
        x = _mm512_mullo_epi64(x, p3);
        *h = _mm512_xor_si512(x, _mm512_srli_epi64::<32>(x));
        // SAFETY: lanes `8g..8g + 8` of the `GROUP`-long `out`, written unaligned.
        unsafe { _mm512_storeu_si512(out[g * LANES..].as_mut_ptr().cast(), *h) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Keys of every length up to 40, in groups that mix lengths (and groups of one length).
    #[test]
    fn every_length_in_every_lane_equals_the_scalar_hash() {
        let data: Vec<u8> = (0..4096u32).map(|i| (i * 131 + 7) as u8).collect();
        let mut keys: Vec<&[u8]> = Vec::new();
        for len in 0..=40usize {
            for start in 0..9 {
                keys.push(&data[start * 37..start * 37 + len]);
            }
        }
        // Mixed lengths in each group, then one length per group.
        let mut shuffled = keys.clone();
        shuffled.sort_by_key(|k| (k.len() * 7919 + k.as_ptr() as usize) % 101);
        for ks in [&keys, &shuffled] {
            let mut out = vec![0u64; ks.len()];
            hash_keys(ks, &mut out, true);
            for (k, h) in ks.iter().zip(&out) {
                assert_eq!(*h, xxhash_rust::xxh64::xxh64(k, 0), "{} bytes", k.len());
            }
        }
    }

    /// Keys that start right after an unreadable page and keys that end right before one: a lane
    /// that read a byte outside its key would fault. (Memory checkers do not run AVX-512 code, so
    /// guard pages stand in for them.)
    #[cfg(target_os = "linux")]
    #[test]
    fn no_lane_reads_outside_its_key() {
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap();
        // SAFETY: a fresh private anonymous mapping of three pages; nothing else refers to it.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                3 * page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(map, libc::MAP_FAILED);
        let first = map.cast::<u8>();
        // SAFETY: the first and last of the mapping's three pages, made unreadable; the middle
        // one stays readable and writable.
        unsafe {
            assert_eq!(libc::mprotect(first.cast(), page, libc::PROT_NONE), 0);
            assert_eq!(
                libc::mprotect(first.add(2 * page).cast(), page, libc::PROT_NONE),
                0
            );
        }
        // SAFETY: the middle page is mapped readable and writable, and only this slice refers to
        // it until the mapping is removed below.
        let data = unsafe { std::slice::from_raw_parts_mut(first.add(page), page) };
        for (i, b) in data.iter_mut().enumerate() {
            *b = (i * 131 + 7) as u8;
        }
        let data = &*data;
        // Every length of the lanes (4..32), at the page's start and at its end, in groups of 64.
        let keys: Vec<&[u8]> = (0..4 * GROUP)
            .map(|i| {
                let len = 4 + i % 28;
                if i % 2 == 0 {
                    &data[..len]
                } else {
                    &data[page - len..]
                }
            })
            .collect();
        let mut out = vec![0u64; keys.len()];
        hash_keys(&keys, &mut out, true);
        for (k, h) in keys.iter().zip(&out) {
            assert_eq!(*h, xxhash_rust::xxh64::xxh64(k, 0), "{} bytes", k.len());
        }
        drop(keys);
        // SAFETY: the mapping made above, no longer referred to (`keys` and `data` ended above).
        let unmapped = unsafe { libc::munmap(map, 3 * page) };
        assert_eq!(unmapped, 0);
    }

    proptest! {
        #[test]
        fn any_keys_equal_the_scalar_hash(
            keys in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..40)
        ) {
            let mut out = vec![0u64; keys.len()];
            hash_keys(&keys, &mut out, true);
            for (k, h) in keys.iter().zip(&out) {
                prop_assert_eq!(*h, xxhash_rust::xxh64::xxh64(k, 0));
            }
        }
    }
}
