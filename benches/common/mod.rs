//! Shared by the benches (each declares `mod common;`): the key stream they all route.

/// `n` string keys of about 10 bytes (`user:NNNNN`) in random order: a fixed xorshift sequence, so
/// every run and every bench routes the same keys.
pub fn keys(n: usize) -> Vec<String> {
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            format!("user:{:05}", s % 100_000)
        })
        .collect()
}
