//! Batch-search kernels and their run-time selection. The submodules hold the vector `std::arch`
//! code of the search (`md5x` has the crate's other vector kernels, for hashing).
//!
//! Each kernel module names `radix` and `radix` names them back: `radix` owns one generic staged
//! loop (`Radix::batch_with`, `#[inline(always)]`, generic over how a window of slots is counted),
//! and each kernel is a `#[target_feature]` function that instantiates that loop with its own window
//! count, so the whole loop is compiled with the feature enabled; `radix` dispatches to them by
//! [`Kernel`]. That back-and-forth is the usual way to compile one loop under several target
//! features, and it is kept because it is the clearest form: the loop is written once, and each
//! kernel file holds only its intrinsics.

use std::fmt;
use std::str::FromStr;

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;

/// How a batch lookup searches. Every kernel returns exactly what the scalar reference returns
/// (property tests check each one the CPU has); they differ only in speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// One key at a time, no interleaving: the reference.
    Scalar,
    /// Keys in groups whose memory loads overlap (group prefetching); plain Rust, any CPU.
    Portable,
    /// As `Portable`, comparing 4 points per instruction with AVX2 (x86-64 with AVX2 and POPCNT).
    Avx2,
    /// As `Portable`, comparing 8 points per instruction with AVX-512F (4 in a paged ring's
    /// buckets, whose pages hold pads for 4; x86-64 with AVX-512F, AVX-512VL and POPCNT).
    Avx512,
}

impl Kernel {
    /// Every kernel, slowest first.
    pub const ALL: [Kernel; 4] = [
        Kernel::Scalar,
        Kernel::Portable,
        Kernel::Avx2,
        Kernel::Avx512,
    ];

    /// Whether this CPU can run the kernel.
    pub fn is_available(self) -> bool {
        match self {
            Kernel::Scalar | Kernel::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("popcnt")
            }
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("popcnt")
            }
            #[cfg(not(target_arch = "x86_64"))]
            Kernel::Avx2 | Kernel::Avx512 => false,
        }
    }

    /// The kernels this CPU can run.
    pub fn available() -> Vec<Kernel> {
        Self::ALL.into_iter().filter(|k| k.is_available()).collect()
    }

    /// The kernel batch lookups use by default: the widest this CPU has (detected once).
    pub fn detect() -> Kernel {
        use std::sync::OnceLock;
        static BEST: OnceLock<Kernel> = OnceLock::new();
        *BEST.get_or_init(|| {
            [Kernel::Avx512, Kernel::Avx2]
                .into_iter()
                .find(|k| k.is_available())
                .unwrap_or(Kernel::Portable)
        })
    }

    /// The kernel's name as [`FromStr`] accepts it.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Scalar => "scalar",
            Kernel::Portable => "portable",
            Kernel::Avx2 => "avx2",
            Kernel::Avx512 => "avx512",
        }
    }
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Kernel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("unknown kernel {s:?} (scalar, portable, avx2, avx512)"))
    }
}

/// The indices `i` of `ids` whose node is set in the bitmap `down` (bit `id % 64` of word
/// `id / 64`; an id past the bitmap is not set), in order, into `list` (at least as long as `ids`);
/// returns how many. The AVX-512 kernel tests 16 ids a step (a gather of bitmap words and a
/// compressed store of the indices); the others one at a time, without a branch per id. Every
/// kernel gives the same list: health's first pass over a batch's answers.
pub(crate) fn list_set(kernel: Kernel, ids: &[u32], down: &[u64], list: &mut [u32]) -> usize {
    // The ids listed by vectors (whole steps of 16), and how many of them were set.
    let (mut done, mut n) = (0, 0);
    #[cfg(target_arch = "x86_64")]
    if kernel == Kernel::Avx512 {
        // Bit `i` of a `u64` word is bit `i % 32` of its `u32` half `i / 32` (little-endian).
        let words: &[u32] = bytemuck::cast_slice(down);
        if let Some(set) = avx512::list_set_bits(ids, words, &mut list[..ids.len()]) {
            (done, n) = (ids.len() / 16 * 16, set);
        }
    }
    let _ = kernel;
    for (i, &id) in ids.iter().enumerate().skip(done) {
        list[n] = i as u32;
        let w = down.get(id as usize / 64).copied().unwrap_or(0);
        n += (w >> (id % 64) & 1) as usize;
    }
    n
}

/// The kernels a test runs (every one this CPU has), said once per test on stderr with the ones
/// it cannot run, so a test log shows which kernels were checked. Written to the stream directly,
/// which the test harness does not capture.
#[cfg(test)]
pub(crate) fn kernels_under_test(test: &'static str) -> Vec<Kernel> {
    use std::io::Write;
    static SAID: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut said = SAID.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if !said.contains(&test) {
        said.push(test);
        let names = |ks: &mut dyn Iterator<Item = Kernel>| -> String {
            let v: Vec<&str> = ks.map(Kernel::name).collect();
            if v.is_empty() {
                "none".to_owned()
            } else {
                v.join(", ")
            }
        };
        let ran = names(&mut Kernel::ALL.into_iter().filter(|k| k.is_available()));
        let not = names(&mut Kernel::ALL.into_iter().filter(|k| !k.is_available()));
        let _ = writeln!(
            std::io::stderr(),
            "{test}: kernels run: {ran}; NOT tested (this CPU lacks them): {not}"
        );
    }
    Kernel::available()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Every kernel lists exactly the ids whose bit is set, in order, ids past the bitmap
        /// included (never set), for lengths on and off the vector steps.
        #[test]
        fn list_set_equals_the_reference(
            down in prop::collection::vec(any::<u64>(), 1..5),
            ids in prop::collection::vec(0u32..400, 0..90),
            far in prop::collection::vec(any::<u32>(), 0..4),
        ) {
            let mut ids = ids;
            ids.extend(far);
            let want: Vec<u32> = (0..ids.len() as u32)
                .filter(|&i| {
                    let id = ids[i as usize];
                    down.get(id as usize / 64).is_some_and(|w| w >> (id % 64) & 1 == 1)
                })
                .collect();
            for kernel in kernels_under_test("simd::list_set_equals_the_reference") {
                let mut list = vec![u32::MAX; ids.len()];
                let n = list_set(kernel, &ids, &down, &mut list);
                prop_assert_eq!(&list[..n], &want[..], "kernel {}", kernel);
            }
        }
    }
}
