//! The native profile's point hashes, `xxh3_64(name ‖ "#" ‖ (i as u32).to_le_bytes())` for
//! `i = 0, 1, 2, …`, computed with everything that does not depend on `i` worked out once per node.
//!
//! XXH3 reads an input of 9 to 128 bytes as a few 16-byte blocks, each mixed with its own part of
//! the secret and added up. Only the last four bytes (the index) change from point to point, so the
//! blocks that do not reach them add a constant, and the words that do are the name's bytes with
//! the index shifted in. A point then costs one or two 64×64→128-bit multiplies and the final
//! mixing, where the general function also dispatches on the length and reads every block again
//! (building a ring of 10,000 nodes spent ~20 % of its time there). Names of other lengths take the
//! general function. Every answer equals `xxhash_rust::xxh3::xxh3_64` (tested below for every
//! length up to 300 bytes).

use crate::hash::xxh3_64;

mod lanes;

/// XXH3's default secret (what the crate's `const_custom_default_secret` gives for seed 0).
const DEFAULT_SECRET: [u8; 192] = xxhash_rust::const_xxh3::const_custom_default_secret(0);

const PRIME64_1: u64 = 0x9E37_79B1_85EB_CA87;

#[inline(always)]
fn secret(at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&DEFAULT_SECRET[at..at + 8]);
    u64::from_le_bytes(w)
}

#[inline(always)]
fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    p as u64 ^ (p >> 64) as u64
}

#[inline(always)]
fn avalanche(mut h: u64) -> u64 {
    h ^= h >> 37;
    h = h.wrapping_mul(0x1656_6791_9E37_79F9);
    h ^ (h >> 32)
}

/// One 8-byte little-endian word of the input: `base` (its bytes of the name, zero where the index
/// lies) xor the index shifted into place, `(i << up) >> down`.
#[derive(Clone, Copy, Default)]
struct Word {
    base: u64,
    up: u32,
    down: u32,
}

impl Word {
    /// The word at byte `at` of an input of `len` bytes whose first `len - 4` bytes are `prefix`
    /// and last four the index.
    fn new(prefix: &[u8], len: usize, at: usize) -> Word {
        let mut bytes = [0u8; 8];
        for (j, b) in bytes.iter_mut().enumerate() {
            if let Some(&x) = prefix.get(at + j) {
                *b = x;
            }
        }
        let index_at = len - 4;
        let (up, down) = if index_at >= at && index_at - at < 8 {
            (8 * (index_at - at) as u32, 0)
        } else if index_at < at && at - index_at < 4 {
            (0, 8 * (at - index_at) as u32)
        } else {
            // The index lies wholly outside the word: a `u32` shifted down by 63 is 0.
            (0, 63)
        };
        Word {
            base: u64::from_le_bytes(bytes),
            up,
            down,
        }
    }

    /// Whether the index reaches into the word.
    fn varies(&self) -> bool {
        self.down != 63
    }

    #[inline(always)]
    fn at(&self, i: u32) -> u64 {
        self.base ^ ((u64::from(i) << self.up) >> self.down)
    }
}

/// A 16-byte block of a 17–128-byte input whose index reaches into it: its two words, each already
/// xored with its part of the secret.
#[derive(Clone, Copy, Default)]
struct Block {
    lo: Word,
    hi: Word,
}

/// How the points of one name are hashed.
enum Shape {
    /// 9–16 bytes in all: one multiply of the first and last words.
    Short { len: u64, lo: Word, hi: Word },
    /// 17–128 bytes: `fixed` (the length term and the blocks the index does not reach) plus the
    /// blocks it does (at most three of them).
    Mid {
        fixed: u64,
        blocks: [Block; 3],
        count: usize,
    },
    /// Any other length: the general function over a buffer.
    Other(Vec<u8>),
}

impl Shape {
    fn new(name: &[u8]) -> Shape {
        let mut prefix = Vec::with_capacity(name.len() + 5);
        prefix.extend_from_slice(name);
        prefix.push(b'#');
        let len = prefix.len() + 4;
        match len {
            9..=16 => {
                let mut lo = Word::new(&prefix, len, 0);
                let mut hi = Word::new(&prefix, len, len - 8);
                lo.base ^= secret(24) ^ secret(32);
                hi.base ^= secret(40) ^ secret(48);
                Shape::Short {
                    len: len as u64,
                    lo,
                    hi,
                }
            }
            17..=128 => {
                // (input offset, secret offset) of each block XXH3 mixes at this length.
                let mut at: Vec<(usize, usize)> = vec![(0, 0), (len - 16, 16)];
                if len > 32 {
                    at.extend([(16, 32), (len - 32, 48)]);
                }
                if len > 64 {
                    at.extend([(32, 64), (len - 48, 80)]);
                }
                if len > 96 {
                    at.extend([(48, 96), (len - 64, 112)]);
                }
                let mut fixed = (len as u64).wrapping_mul(PRIME64_1);
                let mut blocks = [Block::default(); 3];
                let mut count = 0;
                for (off, s) in at {
                    let mut lo = Word::new(&prefix, len, off);
                    let mut hi = Word::new(&prefix, len, off + 8);
                    lo.base ^= secret(s);
                    hi.base ^= secret(s + 8);
                    if lo.varies() || hi.varies() {
                        // At most three blocks reach the last four bytes: the last block, the first
                        // (under 20 bytes) and the second (under 36 bytes).
                        blocks[count] = Block { lo, hi };
                        count += 1;
                    } else {
                        fixed = fixed.wrapping_add(fold(lo.base, hi.base));
                    }
                }
                Shape::Mid {
                    fixed,
                    blocks,
                    count,
                }
            }
            _ => {
                prefix.extend_from_slice(&[0; 4]);
                Shape::Other(prefix)
            }
        }
    }
}

#[cfg(test)]
impl Shape {
    /// The position of point `i`.
    fn point(&mut self, i: u32) -> u64 {
        match self {
            Shape::Short { len, lo, hi } => short(*len, lo, hi, i),
            Shape::Mid {
                fixed,
                blocks,
                count,
            } => mid(*fixed, &blocks[..*count], i),
            Shape::Other(buf) => other(buf, i),
        }
    }
}

#[inline(always)]
fn short(len: u64, lo: &Word, hi: &Word, i: u32) -> u64 {
    let (l, h) = (lo.at(i), hi.at(i));
    avalanche(
        len.wrapping_add(l.swap_bytes())
            .wrapping_add(h)
            .wrapping_add(fold(l, h)),
    )
}

#[inline(always)]
fn mid(fixed: u64, blocks: &[Block], i: u32) -> u64 {
    let acc = blocks.iter().fold(fixed, |acc, b| {
        acc.wrapping_add(fold(b.lo.at(i), b.hi.at(i)))
    });
    avalanche(acc)
}

/// [`mid`] with its blocks' count known: the blocks' multiplies unrolled and interleaved.
#[inline(always)]
fn mid_n<const N: usize>(fixed: u64, blocks: &[Block; N], i: u32) -> u64 {
    let mut acc = fixed;
    for b in blocks {
        acc = acc.wrapping_add(fold(b.lo.at(i), b.hi.at(i)));
    }
    avalanche(acc)
}

fn other(buf: &mut [u8], i: u32) -> u64 {
    let base = buf.len() - 4;
    buf[base..].copy_from_slice(&i.to_le_bytes());
    xxh3_64(buf)
}

/// Appends `make(position of point i)` for points `0..count` of node `name` to `out`, in order:
/// one loop per shape (the shape is not matched per point), each an `extend` of known length (no
/// capacity check per point).
#[inline(always)]
fn extend_points<T>(name: &str, count: u32, out: &mut Vec<T>, make: impl Fn(u64) -> T) {
    extend_shape(Shape::new(name.as_bytes()), 0..count, out, make);
}

/// [`extend_points`] for points `points` of a node of `shape`.
#[inline(always)]
fn extend_shape<T>(
    shape: Shape,
    points: std::ops::Range<u32>,
    out: &mut Vec<T>,
    make: impl Fn(u64) -> T,
) {
    match shape {
        Shape::Short { len, lo, hi } => out.extend(points.map(|i| make(short(len, &lo, &hi, i)))),
        Shape::Mid {
            fixed,
            blocks: [a, ..],
            count: 1,
        } => out.extend(points.map(|i| make(mid_n(fixed, &[a], i)))),
        Shape::Mid {
            fixed,
            blocks: [a, b, _],
            count: 2,
        } => out.extend(points.map(|i| make(mid_n(fixed, &[a, b], i)))),
        Shape::Mid {
            fixed,
            blocks,
            count: 3,
        } => out.extend(points.map(|i| make(mid_n(fixed, &blocks, i)))),
        Shape::Mid {
            fixed,
            blocks,
            count: n,
        } => out.extend(points.map(|i| make(mid(fixed, &blocks[..n], i)))),
        Shape::Other(mut buf) => out.extend(points.map(|i| make(other(&mut buf, i)))),
    }
}

/// Appends the positions of points `0..count` of node `name` to `out`, as `(position, 0)`.
pub(super) fn node_points(name: &str, count: u32, out: &mut Vec<(u64, u64)>) {
    extend_points(name, count, out, |p| (p, 0));
}

/// Appends the positions of points `0..count` of node `name` to `out`, each shifted left by `norm`:
/// eight at a time in vector lanes where the CPU has them ([`lanes`]), the rest one at a time.
pub(super) fn node_positions(name: &str, count: u32, norm: u32, out: &mut Vec<u64>) {
    let shape = Shape::new(name.as_bytes());
    if !lanes::available() {
        return extend_shape(shape, 0..count, out, |p| p << norm);
    }
    let whole = count as usize / lanes::LANES * lanes::LANES;
    let start = out.len();
    out.resize(start + whole, 0);
    let done = if lanes::positions(&shape, norm, &mut out[start..]) {
        whole as u32
    } else {
        out.truncate(start);
        0
    };
    extend_shape(shape, done..count, out, |p| p << norm);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(name: &[u8], i: u32) -> u64 {
        let mut buf = name.to_vec();
        buf.push(b'#');
        buf.extend_from_slice(&i.to_le_bytes());
        xxh3_64(&buf)
    }

    #[test]
    fn every_length_up_to_300_equals_xxh3() {
        for len in 0..=300usize {
            let name: String = (0..len)
                .map(|j| char::from(b'a' + ((j * 7 + len) % 26) as u8))
                .collect();
            let mut out = Vec::new();
            node_points(&name, 300, &mut out);
            assert_eq!(out.len(), 300);
            let mut positions = Vec::new();
            node_positions(&name, 300, 0, &mut positions);
            assert!(positions.iter().zip(&out).all(|(&q, &(p, _))| q == p));
            for (i, &(p, low)) in out.iter().enumerate() {
                assert_eq!(
                    p,
                    reference(name.as_bytes(), i as u32),
                    "{name:?} point {i}"
                );
                assert_eq!(low, 0);
            }
        }
    }

    proptest! {
        /// Large indices reach every byte of the index words.
        #[test]
        fn any_name_and_index_equals_xxh3(name in "\\PC{0,140}", i in any::<u32>()) {
            let mut shape = Shape::new(name.as_bytes());
            prop_assert_eq!(shape.point(i), reference(name.as_bytes(), i));
        }
    }
}
