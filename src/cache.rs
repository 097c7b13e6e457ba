//! What the library reads of the machine's caches, once: the size of a core's L2 cache. It tunes
//! how a large full build partitions its points (see `ring::sort`), never where a point goes: every
//! answer is the same on every machine.

use std::sync::OnceLock;

/// The L2 size assumed when the machine does not say: 512 KiB, an AMD EPYC (Zen) core's, the
/// machine the build's partition counts were first measured on.
pub(crate) const L2_DEFAULT: usize = 512 << 10;

/// A core's L2 cache in bytes: read once, on Linux from sysfs (the level-2 entry of cpu0's
/// caches), else [`L2_DEFAULT`].
pub(crate) fn l2_bytes() -> usize {
    static L2: OnceLock<usize> = OnceLock::new();
    *L2.get_or_init(|| read_l2().unwrap_or(L2_DEFAULT))
}

/// The level-2 cache size sysfs gives, if it gives one. (Miri runs isolated from the host: there
/// the default is taken without asking.)
fn read_l2() -> Option<usize> {
    if cfg!(miri) {
        return None;
    }
    (0..8).find_map(|i| {
        let dir = format!("/sys/devices/system/cpu/cpu0/cache/index{i}");
        let level = std::fs::read_to_string(format!("{dir}/level")).ok()?;
        if level.trim() != "2" {
            return None;
        }
        parse_size(std::fs::read_to_string(format!("{dir}/size")).ok()?.trim())
    })
}

/// A sysfs cache size (`2048K`, `1M`, or bytes) in bytes; `None` if it is not one, or zero.
fn parse_size(s: &str) -> Option<usize> {
    let (digits, unit) = match s.as_bytes().last()? {
        b'K' => (&s[..s.len() - 1], 1 << 10),
        b'M' => (&s[..s.len() - 1], 1 << 20),
        _ => (s, 1),
    };
    digits
        .parse::<usize>()
        .ok()?
        .checked_mul(unit)
        .filter(|&b| b > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysfs_sizes_parse() {
        assert_eq!(parse_size("2048K"), Some(2 << 20));
        assert_eq!(parse_size("1M"), Some(1 << 20));
        assert_eq!(parse_size("524288"), Some(512 << 10));
        assert_eq!(parse_size("0K"), None);
        assert_eq!(parse_size("K"), None);
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("12 K"), None);
    }

    #[test]
    fn the_l2_size_is_positive_and_stable() {
        let l2 = l2_bytes();
        assert!(l2 > 0);
        assert_eq!(l2_bytes(), l2);
    }
}
