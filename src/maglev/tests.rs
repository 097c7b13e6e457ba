//! Envoy's own expected tables (`test/extensions/load_balancing_policies/maglev/maglev_lb_test.cc`),
//! a literal transcription of Envoy's build as a reference, and properties.
//!
//! Envoy's tests name hosts `makeTestHost(info_, "tcp://127.0.0.1:90")`, whose hash key is the
//! address string `127.0.0.1:90` (or the hostname, `90`, with `use_hostname_for_hashing`), give each
//! key `i` of `0..M` the hash `i` (so key `i` reads entry `i`), and list the expected host of every
//! entry as an index into the hosts in the order they were given. The vectors below are theirs.

use proptest::prelude::*;

use super::*;

/// Envoy's build written out as `maglev_lb.cc` and `thread_aware_lb_impl.cc` write it (weights
/// normalised in the given order, a sort by key, `(offset + skip * next) % M` recomputed at every
/// probe, the double loop with `table_index`): entry `i` is the caller's index of its host.
fn envoy_reference(hosts: &[(&[u8], u32)], table_size: u64) -> Vec<u32> {
    struct Entry {
        index: u32,
        offset: u64,
        skip: u64,
        weight: f64,
        target_weight: f64,
        next: u64,
    }
    let sum: u64 = hosts.iter().map(|h| u64::from(h.1)).sum();
    let mut max_normalized_weight = 0.0f64;
    let mut sorted: Vec<(&[u8], u32, f64)> = Vec::new();
    for (i, &(key, weight)) in hosts.iter().enumerate() {
        if weight == 0 {
            continue;
        }
        let w = f64::from(weight) * 1.0 / sum as f64;
        max_normalized_weight = max_normalized_weight.max(w);
        sorted.push((key, i as u32, w));
    }
    if sorted.is_empty() {
        return Vec::new();
    }
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut entries: Vec<Entry> = sorted
        .iter()
        .map(|&(key, index, weight)| Entry {
            index,
            offset: xxhash_rust::xxh64::xxh64(key, 0) % table_size,
            skip: xxhash_rust::xxh64::xxh64(key, 1) % (table_size - 1) + 1,
            weight,
            target_weight: 0.0,
            next: 0,
        })
        .collect();
    let mut table: Vec<Option<u32>> = vec![None; table_size as usize];
    let mut table_index = 0u64;
    let mut iteration: u32 = 1;
    while table_index < table_size {
        let mut i = 0;
        while i < entries.len() && table_index < table_size {
            let entry = &mut entries[i];
            i += 1;
            if f64::from(iteration) * entry.weight < entry.target_weight {
                continue;
            }
            entry.target_weight += max_normalized_weight;
            let mut c = (entry.offset + entry.skip * entry.next) % table_size;
            while table[c as usize].is_some() {
                entry.next += 1;
                c = (entry.offset + entry.skip * entry.next) % table_size;
            }
            table[c as usize] = Some(entry.index);
            entry.next += 1;
            table_index += 1;
        }
        iteration += 1;
    }
    table.into_iter().map(|e| e.expect("filled")).collect()
}

/// Every entry of `t`, in order (empty for an empty table).
fn entries(t: &MaglevTable) -> Vec<u32> {
    if t.is_empty() {
        return Vec::new();
    }
    (0..t.size()).map(|i| t.entry(i).unwrap()).collect()
}

/// Entries per host index, for `hosts` hosts.
fn counts(t: &MaglevTable, hosts: usize) -> Vec<u64> {
    let mut c = vec![0u64; hosts];
    for e in entries(t) {
        c[e as usize] += 1;
    }
    c
}

fn keys(names: &[String]) -> Vec<(&[u8], u32)> {
    names.iter().map(|n| (n.as_bytes(), 1)).collect()
}

fn addresses(ports: std::ops::Range<u32>) -> Vec<String> {
    ports.map(|p| format!("127.0.0.1:{p}")).collect()
}

/// Each schedule of `scans`, probed one host at a time and (where the CPU can) sixteen at once.
fn fills(scans: &[Option<bool>]) -> Vec<(Option<bool>, bool)> {
    let lanes: &[bool] = if super::lanes::available() {
        &[false, true]
    } else {
        &[false]
    };
    scans
        .iter()
        .flat_map(|&scan| lanes.iter().map(move |&l| (scan, l)))
        .collect()
}

/// Checks a table by every lookup path against Envoy's expected entries: `owner(i)` for the hashes
/// `i` of three rounds of the table (Envoy's tests read `3 * M` keys), `entry(i)`, and the reference.
fn assert_envoy_table(hosts: &[(&[u8], u32)], size: u64, expected: &[u32]) {
    for (scan, lanes) in fills(&[None, Some(true), Some(false)]) {
        let t = MaglevTable::build_with(hosts, size, scan, lanes).unwrap();
        assert_eq!(entries(&t), expected, "schedule {scan:?}, lanes {lanes}");
        for hash in 0..3 * size {
            assert_eq!(t.owner(hash), Some(expected[(hash % size) as usize]));
        }
    }
    assert_eq!(envoy_reference(hosts, size), expected);
}

// ---- Envoy's test cases -------------------------------------------------------------------------

/// `MaglevLoadBalancerTest.Basic` (and `BasicStability`, `BasicWithRetryHostPredicate`): six hosts
/// `127.0.0.1:90..95`, M = 7, min 1 and max 2 entries a host.
#[test]
fn envoy_basic() {
    let names = addresses(90..96);
    let hosts = keys(&names);
    assert_envoy_table(&hosts, 7, &[2, 4, 0, 1, 5, 0, 3]);
    let c = counts(&MaglevTable::build(&hosts, 7).unwrap(), 6);
    assert_eq!((*c.iter().min().unwrap(), *c.iter().max().unwrap()), (1, 2));
}

/// `BasicStability`: the same table (by host) after the hosts are shuffled.
#[test]
fn envoy_basic_stability() {
    let names = addresses(90..96);
    let mut shuffled = names.clone();
    shuffled.swap(0, 4);
    shuffled.swap(1, 5);
    shuffled.swap(2, 3);
    let t = MaglevTable::build(&keys(&shuffled), 7).unwrap();
    let by_name: Vec<&str> = entries(&t)
        .iter()
        .map(|&i| shuffled[i as usize].as_str())
        .collect();
    let expected: Vec<&str> = [2, 4, 0, 1, 5, 0, 3]
        .iter()
        .map(|&i: &usize| names[i].as_str())
        .collect();
    assert_eq!(by_name, expected);
}

/// `BasicWithHostName` (and `BasicWithMetadataHashKey`, `BasicWithBoundedLoad`, whose keys are the
/// same): keys `90..95`, M = 7.
#[test]
fn envoy_basic_with_host_name() {
    let names: Vec<String> = (90..96).map(|p| p.to_string()).collect();
    assert_envoy_table(&keys(&names), 7, &[2, 5, 0, 3, 4, 1, 0]);
}

/// `BasicWithRetryHostPredicate`: hash 10 picks host 1, its retry 1 host 0 and retry 2 host 5.
#[test]
fn envoy_basic_with_retry_host_predicate() {
    let names = addresses(90..96);
    let t = MaglevTable::build(&keys(&names), 7).unwrap();
    assert_eq!(t.owner_on_attempt(10, 0), Some(1));
    assert_eq!(t.owner_on_attempt(10, 1), Some(0));
    assert_eq!(t.owner_on_attempt(10, 2), Some(5));
    assert_eq!(attempt_hash(10, 1), !10);
}

/// `Weighted`: `127.0.0.1:90` of weight 1 and `127.0.0.1:91` of weight 2, M = 17; 6 and 11 entries.
#[test]
fn envoy_weighted() {
    let names = addresses(90..92);
    let hosts = [(names[0].as_bytes(), 1), (names[1].as_bytes(), 2)];
    let expected = [1, 0, 0, 1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 0, 1];
    assert_envoy_table(&hosts, 17, &expected);
    assert_eq!(counts(&MaglevTable::build(&hosts, 17).unwrap(), 2), [6, 11]);
}

/// `LocalityWeightedSameLocalityWeights` and `LocalityWeightedGlobalPanic`: hosts of weights 1 and 2
/// alone in localities of equal weight normalise to 0.5 each, exactly what weights 1 and 1 give.
/// M = 17; 8 and 9 entries.
#[test]
fn envoy_locality_weighted_same_locality_weights() {
    let names = addresses(90..92);
    let hosts = [(names[0].as_bytes(), 1), (names[1].as_bytes(), 1)];
    let expected = [1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0, 1];
    assert_envoy_table(&hosts, 17, &expected);
    assert_eq!(counts(&MaglevTable::build(&hosts, 17).unwrap(), 2), [9, 8]);
}

/// `LocalityWeightedDifferentLocalityWeights`: localities of weights 8, 0 and 2 holding
/// `127.0.0.1:90` (weight 1), `:92` (3) and `:91` (2) normalise to 0.8, nothing and 0.2: the same
/// doubles as host weights 4, 0 and 1 (`4/5`, `1/5`). M = 17; 4 and 13 entries, none for `:92`.
#[test]
fn envoy_locality_weighted_different_locality_weights() {
    let names = addresses(90..93);
    let hosts = [
        (names[0].as_bytes(), 4),
        (names[1].as_bytes(), 1),
        (names[2].as_bytes(), 0),
    ];
    assert_eq!(8.0f64 / 10.0, 4.0 / 5.0);
    assert_eq!(2.0 * (2.0f64 / 10.0) / 2.0, 1.0 / 5.0);
    let expected = [1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0];
    assert_envoy_table(&hosts, 17, &expected);
    assert_eq!(
        counts(&MaglevTable::build(&hosts, 17).unwrap(), 3),
        [13, 4, 0]
    );
}

/// `LocalityWeightedLopsided`: `127.0.0.1:0` alone in a locality of weight 127 and `:1..:1023` in
/// one of weight 1, M = 65,537: each light host gets one entry, the heavy one the rest. The same
/// doubles as host weights 127·1023 and 1 (`127/128` and `1/(128·1023)`).
#[test]
fn envoy_locality_weighted_lopsided() {
    let names = addresses(0..1024);
    let hosts: Vec<(&[u8], u32)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_bytes(), if i == 0 { 127 * 1023 } else { 1 }))
        .collect();
    assert_eq!(f64::from(127 * 1023) / f64::from(128 * 1023), 127.0 / 128.0);
    assert_eq!(1.0 / f64::from(128 * 1023), (1.0f64 / 128.0) / 1023.0);
    for (scan, lanes) in fills(&[None, Some(false)]) {
        let t = MaglevTable::build_with(&hosts, DEFAULT_TABLE_SIZE, scan, lanes).unwrap();
        let c = counts(&t, 1024);
        assert_eq!(c[0], DEFAULT_TABLE_SIZE - 1023);
        assert!(c[1..].iter().all(|&n| n == 1));
    }
    let t = MaglevTable::build(&hosts, DEFAULT_TABLE_SIZE).unwrap();
    assert_eq!(entries(&t), envoy_reference(&hosts, DEFAULT_TABLE_SIZE));
}

/// `SingleHost` (M = 7) and `WeightedSingleHost` (weight 7, M = 17): every hash picks the host.
#[test]
fn envoy_single_host() {
    for (weight, size) in [(1, 7), (7, 17)] {
        let t = MaglevTable::build(&[(b"127.0.0.1:90".as_slice(), weight)], size).unwrap();
        assert_eq!(entries(&t), vec![0; size as usize]);
        assert!((0..5).all(|h| t.owner(h) == Some(0)));
    }
}

/// `NoHost`: no host picked; also when every host has weight 0.
#[test]
fn envoy_no_host() {
    for hosts in [&[][..], &[(b"127.0.0.1:90".as_slice(), 0)][..]] {
        let t = MaglevTable::build(hosts, 7).unwrap();
        assert!(t.is_empty());
        assert_eq!(t.size(), 7);
        assert_eq!(t.owner(0), None);
        assert_eq!(t.owner_on_attempt(3, 1), None);
        assert_eq!(t.entry(0), None);
    }
}

/// `NoPrimeNumber` (8) and the other sizes Envoy refuses or cannot build; 2 and 3 work.
#[test]
fn table_size_errors() {
    let hosts = [(b"a".as_slice(), 1), (b"b".as_slice(), 1)];
    for size in [0, 1, 4, 8, 9, 15, 65_535, 65_536, 4_999_995, 5_000_009] {
        assert_eq!(
            MaglevTable::build(&hosts, size).err(),
            Some(Error::TableSizeNotPrime { size })
        );
    }
    for size in [MAX_TABLE_SIZE + 1, 5_000_077, u64::MAX] {
        assert_eq!(
            MaglevTable::build(&hosts, size).err(),
            Some(Error::TableSizeTooLarge {
                size,
                limit: MAX_TABLE_SIZE
            })
        );
    }
    // Checked without hosts too, as Envoy checks the size when the balancer is made.
    assert!(MaglevTable::build(&[], 8).is_err());
    assert_eq!(
        MaglevTable::build(&hosts, 8).unwrap_err().to_string(),
        "maglev table size 8 is not a prime number"
    );
    for size in [2, 3, 5] {
        let t = MaglevTable::build(&hosts, size).unwrap();
        assert_eq!(entries(&t), envoy_reference(&hosts, size));
    }
    assert!(is_prime(MAX_TABLE_SIZE) && is_prime(DEFAULT_TABLE_SIZE));
}

#[test]
fn host_errors() {
    assert_eq!(
        MaglevTable::build(&[(b"a".as_slice(), 1), (b"".as_slice(), 1)], 7),
        Err(Error::EmptyName)
    );
    // An empty key of weight 0 takes no part.
    assert!(MaglevTable::build(&[(b"a".as_slice(), 1), (b"".as_slice(), 0)], 7).is_ok());
    assert_eq!(
        MaglevTable::build(&[(b"a".as_slice(), 1), (b"b", 2), (b"a", 3)], 7),
        Err(Error::DuplicateNode { name: "a".into() })
    );
    assert_eq!(
        MaglevTable::build(&[(b"a".as_slice(), u32::MAX), (b"b", 1)], 7),
        Err(Error::TotalWeightTooLarge {
            total: u64::from(u32::MAX) + 1,
            limit: MAX_TOTAL_WEIGHT
        })
    );
    let t = MaglevTable::build(&[(b"a".as_slice(), u32::MAX - 1), (b"b", 1)], 7).unwrap();
    assert_eq!(
        entries(&t),
        envoy_reference(&[(b"a", u32::MAX - 1), (b"b", 1)], 7)
    );
}

/// The key hash is XXH64 with seed 0 (the specification's test value for empty input).
#[test]
fn key_hash_is_xxh64() {
    assert_eq!(key_hash(b""), 0xEF46_DB37_51D8_E999);
    assert_eq!(
        key_hash(b"127.0.0.1:90"),
        xxhash_rust::xxh64::xxh64(b"127.0.0.1:90", 0)
    );
}

/// The default size at 100 and 1,000 equal hosts: Envoy's table, `⌊M/N⌋` or `⌈M/N⌉` entries a host,
/// 2 bytes an entry.
#[test]
fn default_size_at_100_and_1000_hosts() {
    for n in [100u32, 1000] {
        let names: Vec<String> = (0..n)
            .map(|i| format!("10.0.{}.{}:80", i / 256, i % 256))
            .collect();
        let hosts = keys(&names);
        let t = MaglevTable::build(&hosts, DEFAULT_TABLE_SIZE).unwrap();
        assert_eq!(t.entry_bytes(), 2);
        assert_eq!(entries(&t), envoy_reference(&hosts, DEFAULT_TABLE_SIZE));
        let lo = DEFAULT_TABLE_SIZE / u64::from(n);
        assert!(counts(&t, n as usize)
            .iter()
            .all(|&c| c == lo || c == lo + 1));
    }
}

/// The default size with weights 1..=100 at 1,000 hosts and with a few heavy hosts among many light
/// ones (each schedule), against the literal transcription.
#[test]
fn weighted_default_size_matches_reference() {
    let names: Vec<String> = (0..1000)
        .map(|i| format!("backend-{i}.example:443"))
        .collect();
    let spread: Vec<(&[u8], u32)> = (0u32..)
        .zip(&names)
        .map(|(i, n)| (n.as_bytes(), 1 + i * 37 % 100))
        .collect();
    let heavy: Vec<(&[u8], u32)> = (0u32..)
        .zip(&names)
        .map(|(i, n)| (n.as_bytes(), if i % 250 == 0 { 5000 } else { 3 }))
        .collect();
    for hosts in [spread, heavy] {
        let expected = envoy_reference(&hosts, DEFAULT_TABLE_SIZE);
        for (scan, lanes) in fills(&[None, Some(true), Some(false)]) {
            let t = MaglevTable::build_with(&hosts, DEFAULT_TABLE_SIZE, scan, lanes).unwrap();
            assert!(entries(&t) == expected, "schedule {scan:?}, lanes {lanes}");
        }
    }
}

/// Probing sixteen hosts at once gives the table of probing one at a time, for host counts below,
/// near and above the window's sizes, up to the largest table, equal and spread weights, and each
/// schedule. (Without AVX-512F both builds probe one host at a time.)
#[test]
fn lanes_fill_as_one_host_at_a_time() {
    for (n, size) in [
        (7, 65_537),
        (33, 65_537),
        (250, 65_537),
        (2000, 131_071),
        (9, 1009),
        (20, 5_000_011),
    ] {
        let names: Vec<String> = (0..n).map(|i| format!("host-{i}.example")).collect();
        let equal = keys(&names);
        let spread: Vec<(&[u8], u32)> = (0u32..)
            .zip(&names)
            .map(|(i, n)| (n.as_bytes(), 1 + i * 37 % 100))
            .collect();
        for hosts in [equal, spread] {
            for scan in [None, Some(true), Some(false)] {
                let one = MaglevTable::build_with(&hosts, size, scan, false).unwrap();
                let lanes = MaglevTable::build_with(&hosts, size, scan, true).unwrap();
                assert!(
                    entries(&one) == entries(&lanes),
                    "{n} hosts, M = {size}, {scan:?}"
                );
            }
        }
    }
}

/// Over 65,536 hosts the entries are `u32`, still Envoy's table.
#[test]
fn wide_entries_above_65536_hosts() {
    let names: Vec<String> = (0..70_000).map(|i| format!("host-{i}")).collect();
    let hosts = keys(&names);
    let t = MaglevTable::build(&hosts, 131_071).unwrap();
    assert_eq!(t.entry_bytes(), 4);
    assert_eq!(entries(&t), envoy_reference(&hosts, 131_071));
    let at_65536 = MaglevTable::build(&hosts[..65_536], 131_071).unwrap();
    assert_eq!(at_65536.entry_bytes(), 2);
    assert!(entries(&at_65536).contains(&65_535));
}

// ---- Properties ---------------------------------------------------------------------------------

const SIZES: [u64; 12] = [2, 3, 5, 7, 11, 13, 17, 31, 101, 257, 1009, 4099];

/// 1..60 distinct keys with weights (0 in about one in six).
fn hosts_strategy(max_weight: u32) -> impl Strategy<Value = Vec<(Vec<u8>, u32)>> {
    prop::collection::btree_set(prop::collection::vec(any::<u8>(), 1..12), 1..60).prop_flat_map(
        move |keys| {
            let n = keys.len();
            (
                Just(keys.into_iter().collect::<Vec<_>>()),
                prop::collection::vec(prop_oneof![1 => Just(0u32), 5 => 1..=max_weight], n),
            )
                .prop_map(|(k, w)| k.into_iter().zip(w).collect())
        },
    )
}

fn as_hosts(h: &[(Vec<u8>, u32)]) -> Vec<(&[u8], u32)> {
    h.iter().map(|(k, w)| (k.as_slice(), *w)).collect()
}

proptest! {
    /// Every schedule gives the literal transcription's table, for any weights (equal, skewed, zero).
    #[test]
    fn same_table_as_envoy_reference(
        hosts in prop_oneof![hosts_strategy(1), hosts_strategy(4), hosts_strategy(1000)],
        size in prop::sample::select(&SIZES[..]),
    ) {
        let hosts = as_hosts(&hosts);
        let expected = envoy_reference(&hosts, size);
        for (scan, lanes) in fills(&[None, Some(true), Some(false)]) {
            let t = MaglevTable::build_with(&hosts, size, scan, lanes).unwrap();
            prop_assert_eq!(entries(&t), expected.clone());
        }
    }

    /// The table does not depend on the order of the hosts (by host key), every entry belongs to a
    /// host of weight above 0, and every host of weight above 0 has an entry when they fit.
    #[test]
    fn order_independent_and_weighted_hosts_only(
        hosts in hosts_strategy(50),
        size in prop::sample::select(&SIZES[..]),
        seed in any::<u64>(),
    ) {
        let a = as_hosts(&hosts);
        let mut b = a.clone();
        // A seeded Fisher-Yates shuffle.
        let mut s = seed | 1;
        for i in (1..b.len()).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            b.swap(i, (s % (i as u64 + 1)) as usize);
        }
        let (ta, tb) = (MaglevTable::build(&a, size).unwrap(), MaglevTable::build(&b, size).unwrap());
        let ka: Vec<&[u8]> = entries(&ta).iter().map(|&i| a[i as usize].0).collect();
        let kb: Vec<&[u8]> = entries(&tb).iter().map(|&i| b[i as usize].0).collect();
        prop_assert_eq!(ka, kb);
        let live = a.iter().filter(|h| h.1 > 0).count() as u64;
        prop_assert_eq!(ta.is_empty(), live == 0);
        let c = counts(&ta, a.len());
        for (h, &(_, w)) in a.iter().enumerate() {
            prop_assert!(w > 0 || c[h] == 0);
            prop_assert!(w == 0 || live > size || c[h] > 0);
        }
    }

    /// Equal weights: `⌊M/N⌋` or `⌈M/N⌉` entries a host (Envoy's `min/max_entries_per_host`), the
    /// `M mod N` extra entries going to the first hosts in key order (the last, partial iteration).
    #[test]
    fn equal_weights_bounds(
        hosts in hosts_strategy(1),
        size in prop::sample::select(&SIZES[..]),
        weight in 1u32..1000,
    ) {
        let hosts: Vec<(&[u8], u32)> =
            as_hosts(&hosts).into_iter().filter(|h| h.1 > 0).map(|(k, _)| (k, weight)).collect();
        prop_assume!(!hosts.is_empty());
        let t = MaglevTable::build(&hosts, size).unwrap();
        let n = hosts.len() as u64;
        let c = counts(&t, hosts.len());
        let mut order: Vec<usize> = (0..hosts.len()).collect();
        order.sort_by_key(|&i| hosts[i].0);
        for (rank, &h) in order.iter().enumerate() {
            let extra = u64::from((rank as u64) < size % n);
            prop_assert_eq!(c[h], size / n + extra);
        }
    }

    /// Lookups read entry `hash mod M`, and retries read the entry of the mutated hash.
    #[test]
    fn owner_reads_hash_mod_size(
        hosts in hosts_strategy(3),
        size in prop::sample::select(&SIZES[..]),
        hash in any::<u64>(),
        attempt in 0u32..5,
    ) {
        let hosts = as_hosts(&hosts);
        let t = MaglevTable::build(&hosts, size).unwrap();
        prop_assert_eq!(t.owner(hash), t.entry(hash % size));
        let mutated = if attempt == 0 { hash } else { hash ^ (!0u64 - u64::from(attempt) + 1) };
        prop_assert_eq!(t.owner_on_attempt(hash, attempt), t.owner(mutated));
        prop_assert_eq!(t.entry(size), None);
    }
}
