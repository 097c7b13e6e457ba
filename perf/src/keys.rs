//! The key stream: string keys of about 10 bytes (`user:00042`), sampled uniformly or from a Zipf
//! distribution over a fixed universe, pre-generated into one buffer in random (sampled) order.

use ringroute::Keys;

/// How many distinct keys there are: ids `0..UNIVERSE`, formatted as `user:{id:05}` (10 bytes).
pub const UNIVERSE: u64 = 100_000;

/// The distribution keys are drawn from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeyDist {
    /// Every id of the universe equally likely.
    Uniform,
    /// Rank `k` (1-based) drawn with probability proportional to `k^-s`; ranks are mapped to ids by a
    /// fixed random permutation, so hot keys are scattered over the ring.
    Zipf(f64),
}

impl KeyDist {
    /// Parses `uniform` or `zipf:S` (S a finite number > 0).
    pub fn parse(s: &str) -> Result<Self, String> {
        if s == "uniform" {
            return Ok(KeyDist::Uniform);
        }
        if let Some(exp) = s.strip_prefix("zipf:") {
            return match exp.parse::<f64>() {
                Ok(v) if v.is_finite() && v > 0.0 && v <= 10.0 => Ok(KeyDist::Zipf(v)),
                _ => Err(format!(
                    "zipf exponent must be a number in (0, 10], got {exp:?}"
                )),
            };
        }
        Err(format!(
            "expected `uniform` or `zipf:S` (e.g. zipf:1.1), got {s:?}"
        ))
    }

    /// The name as given on the command line (`uniform`, `zipf:1.1`).
    pub fn name(&self) -> String {
        match self {
            KeyDist::Uniform => "uniform".to_string(),
            KeyDist::Zipf(s) => format!("zipf:{s}"),
        }
    }
}

/// SplitMix64: a small, fast, fixed-seed generator (the key stream is the same on every run).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (Lemire's multiply-shift; the bias is below 2^-40 for our `n`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// The pre-generated keys, in sampling order, back to back in one core [`Keys`] buffer.
#[derive(Debug, Clone)]
pub struct KeySet {
    keys: Keys,
}

impl KeySet {
    /// `count` keys drawn from `dist` with a fixed seed.
    pub fn generate(dist: KeyDist, count: usize, seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let mut keys = Keys::with_capacity(count, count * 10);
        let mut push = |id: u64| {
            keys.push_with(|buf| {
                use std::io::Write;
                write!(buf, "user:{id:05}").expect("writing to a Vec cannot fail");
            })
        };
        match dist {
            KeyDist::Uniform => {
                for _ in 0..count {
                    let id = rng.below(UNIVERSE);
                    push(id);
                }
            }
            KeyDist::Zipf(s) => {
                let zipf = Zipf::new(UNIVERSE as usize, s);
                // Rank -> id: a random permutation of the universe.
                let mut perm: Vec<u64> = (0..UNIVERSE).collect();
                for i in (1..perm.len()).rev() {
                    let j = rng.below(i as u64 + 1) as usize;
                    perm.swap(i, j);
                }
                for _ in 0..count {
                    let rank = zipf.sample(&mut rng);
                    push(perm[rank]);
                }
            }
        }
        Self { keys }
    }

    /// The keys as byte slices, in sampling order.
    pub fn slices(&self) -> Vec<&[u8]> {
        self.keys.slices()
    }

    /// The mean key length in bytes.
    pub fn mean_len(&self) -> f64 {
        if self.keys.is_empty() {
            0.0
        } else {
            self.keys.total_bytes() as f64 / self.keys.len() as f64
        }
    }

    /// How many distinct keys the stream holds.
    pub fn distinct(&self) -> usize {
        let mut v = self.slices();
        v.sort_unstable();
        v.dedup();
        v.len()
    }
}

/// A Zipf distribution over ranks `0..n` (rank 0 the most likely), sampled by inverting its CDF.
#[derive(Debug, Clone)]
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    /// Ranks `0..n` with weights `(k + 1)^-s`.
    pub fn new(n: usize, s: f64) -> Self {
        let mut cdf = Vec::with_capacity(n);
        let mut acc = 0.0;
        for k in 1..=n {
            acc += (k as f64).powf(-s);
            cdf.push(acc);
        }
        for c in &mut cdf {
            *c /= acc;
        }
        Self { cdf }
    }

    /// One rank.
    pub fn sample(&self, rng: &mut SplitMix64) -> usize {
        let u = rng.unit();
        self.cdf
            .partition_point(|&c| c <= u)
            .min(self.cdf.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_distributions() {
        assert_eq!(KeyDist::parse("uniform"), Ok(KeyDist::Uniform));
        assert_eq!(KeyDist::parse("zipf:1.1"), Ok(KeyDist::Zipf(1.1)));
        assert!(KeyDist::parse("zipf:0").is_err());
        assert!(KeyDist::parse("zipf:-1").is_err());
        assert!(KeyDist::parse("zipf:nan").is_err());
        assert!(KeyDist::parse("zipf").is_err());
        assert!(KeyDist::parse("normal").is_err());
    }

    #[test]
    fn keys_are_ten_bytes_and_deterministic() {
        let a = KeySet::generate(KeyDist::Uniform, 1000, 7);
        let b = KeySet::generate(KeyDist::Uniform, 1000, 7);
        assert_eq!(a.slices(), b.slices());
        assert_eq!(a.slices().len(), 1000);
        assert!(a
            .slices()
            .iter()
            .all(|k| k.len() == 10 && k.starts_with(b"user:")));
        assert!(a.distinct() > 990);
    }

    #[test]
    fn zipf_is_skewed() {
        let z = KeySet::generate(KeyDist::Zipf(1.2), 20_000, 7);
        let u = KeySet::generate(KeyDist::Uniform, 20_000, 7);
        assert!(
            z.distinct() < u.distinct() / 2,
            "{} vs {}",
            z.distinct(),
            u.distinct()
        );
        let zipf = Zipf::new(100, 1.0);
        let mut rng = SplitMix64::new(1);
        let top = (0..10_000).filter(|_| zipf.sample(&mut rng) == 0).count();
        // P(rank 0) = 1 / H(100) ~ 0.193.
        assert!((1700..2200).contains(&top), "{top}");
    }
}
