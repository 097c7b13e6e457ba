//! Command-line flags and their defaults.

use clap::{value_parser, Arg, ArgAction, Command};

use crate::keys::KeyDist;

/// A lookup mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One key per call, the snapshot held through a cached `Reader`.
    Single,
    /// `--batch-size` keys per `route_batch` call.
    Batch,
}

impl Mode {
    /// The name used in the table and the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Single => "single",
            Mode::Batch => "batch",
        }
    }
}

/// The placement ringroute runs, which also picks the peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The `native` ring (xxh3, `--points-per-node` points), against the ring crates.
    Native,
    /// The `maglev` table (Envoy's, `--table-size` entries), against the Maglev crates.
    Maglev,
}

impl Kind {
    /// The name used in the table and the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Native => "native",
            Kind::Maglev => "maglev",
        }
    }
}

/// The run's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Ring sizes, in nodes.
    pub nodes: Vec<usize>,
    /// Points per node.
    pub points_per_node: u32,
    /// Reader thread counts.
    pub threads: Vec<usize>,
    /// Modes to run (ringroute; peers run single only).
    pub modes: Vec<Mode>,
    /// Keys per batch call.
    pub batch_size: usize,
    /// Key distribution.
    pub keys: KeyDist,
    /// Length of the pre-generated key stream.
    pub key_count: usize,
    /// Membership changes per second published by a writer thread while readers run (0: none).
    pub churn: f64,
    /// Seconds per cell (throughput + latency phases; a short warm-up comes on top).
    pub duration: f64,
    /// JSON lines on stdout instead of the table.
    pub json: bool,
    /// Also run the peer crates.
    pub peers: bool,
    /// The placement (and so the peers).
    pub kind: Kind,
    /// Maglev table entries.
    pub table_size: u64,
    /// Soak mode for this many seconds instead of the table (see `soak.rs`).
    pub soak: Option<f64>,
}

/// The largest ring the harness builds (pingora-ketama indexes nodes with a `u16`).
pub const MAX_NODES: u64 = 65_536;

fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 3600.0 => Ok(v),
        _ => Err(format!("expected seconds in (0, 3600], got {s:?}")),
    }
}

fn soak_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 86_400.0 => Ok(v),
        _ => Err(format!("expected seconds in (0, 86400], got {s:?}")),
    }
}

fn rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=1_000_000.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "expected changes per second in [0, 1000000], got {s:?}"
        )),
    }
}

fn table_size(s: &str) -> Result<u64, String> {
    let m: u64 = s
        .parse()
        .map_err(|_| format!("expected a prime table size, got {s:?}"))?;
    ringroute::Placement::maglev(m)
        .map(|_| m)
        .map_err(|e| e.to_string())
}

/// The command's definition.
pub fn command() -> Command {
    Command::new("ringroute-perf")
        .about(
            "Throughput harness of ringroute: lookups/s per thread and in total, ns per key, \
             single-lookup latency percentiles, publish latency and peak memory, optionally with the \
             peer crates (hashring, pingora-ketama, conhash; with --placement maglev, maglev-hash, \
             maglev and hash-rings) on the same nodes and keys.",
        )
        .after_help(
            "Runs on built-in defaults with no arguments (about 20 s). Examples:\n  \
             ringroute-perf --peers\n  \
             ringroute-perf --nodes 1000 --threads 1,2 --churn 1000 --mode single\n  \
             ringroute-perf --placement maglev --peers --threads 1\n  \
             ringroute-perf --nodes 10 --duration 0.2 --json",
        )
        .arg(
            Arg::new("nodes")
                .long("nodes")
                .value_name("N")
                .help("Ring sizes in nodes: repeat the flag or give a comma list [default: 100,1000,10000]")
                .action(ArgAction::Append)
                .value_delimiter(',')
                .value_parser(value_parser!(u64).range(1..=MAX_NODES)),
        )
        .arg(
            Arg::new("points-per-node")
                .long("points-per-node")
                .value_name("P")
                .help("Points (virtual nodes) per node")
                .default_value("160")
                .value_parser(value_parser!(u32).range(1..=4096)),
        )
        .arg(
            Arg::new("threads")
                .long("threads")
                .value_name("T")
                .help("Reader thread counts, each thread pinned to a core: repeat or comma list [default: 1,2]")
                .action(ArgAction::Append)
                .value_delimiter(',')
                .value_parser(value_parser!(u64).range(1..=256)),
        )
        .arg(
            Arg::new("mode")
                .long("mode")
                .value_name("MODE")
                .help("single: one key per call; batch: --batch-size keys per route_batch call")
                .default_value("both")
                .value_parser(["single", "batch", "both"]),
        )
        .arg(
            Arg::new("batch-size")
                .long("batch-size")
                .value_name("B")
                .help("Keys per batch call")
                .default_value("64")
                .value_parser(value_parser!(u64).range(1..=65_536)),
        )
        .arg(
            Arg::new("keys")
                .long("keys")
                .value_name("DIST")
                .help("Key distribution over 100,000 ten-byte keys user:00000..user:99999: uniform or zipf:S")
                .default_value("uniform")
                .value_parser(KeyDist::parse),
        )
        .arg(
            Arg::new("key-count")
                .long("key-count")
                .value_name("K")
                .help("Length of the pre-generated key stream (random order), cycled by every thread")
                .default_value("65536")
                .value_parser(value_parser!(u64).range(1..=(1 << 26))),
        )
        .arg(
            Arg::new("churn")
                .long("churn")
                .value_name("R")
                .help("Membership changes per second published by a writer thread while readers run (ringroute only)")
                .default_value("0")
                .allow_negative_numbers(true)
                .value_parser(rate),
        )
        .arg(
            Arg::new("duration")
                .long("duration")
                .value_name("S")
                .help("Seconds per cell: 80% throughput, 20% sampled latency (plus a warm-up of up to 0.1 s)")
                .default_value("1.2")
                .allow_negative_numbers(true)
                .value_parser(positive_seconds),
        )
        .arg(
            Arg::new("json")
                .long("json")
                .help("Print one JSON record per (impl, mode, nodes, threads) on stdout instead of the table")
                .action(ArgAction::SetTrue),
        )
        .arg(
            Arg::new("soak")
                .long("soak")
                .value_name("S")
                .help(
                    "Soak mode: readers check every answer against a fresh build while a writer \
                     churns (--churn, default 200/s) for S seconds; RSS sampled; exit 1 on a wrong \
                     answer. Uses the first --nodes (default 100) and the largest --threads",
                )
                .allow_negative_numbers(true)
                .value_parser(soak_seconds),
        )
        .arg(
            Arg::new("peers")
                .long("peers")
                .help("Also run the peers (single mode) on the same nodes and keys: pingora-ketama, hashring and conhash; with --placement maglev, maglev-hash, maglev and hash-rings")
                .action(ArgAction::SetTrue),
        )
        .arg(
            Arg::new("placement")
                .long("placement")
                .value_name("P")
                .help("native: the xxh3 ring of --points-per-node points per node; maglev: Envoy's Maglev table of --table-size entries")
                .default_value("native")
                .value_parser(["native", "maglev"]),
        )
        .arg(
            Arg::new("table-size")
                .long("table-size")
                .value_name("M")
                .help("Maglev table entries (a prime, at most 5000011)")
                .default_value("65537")
                .value_parser(table_size),
        )
}

fn dedup<T: PartialEq + Copy>(v: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut out = Vec::new();
    for x in v {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}

/// Parses the process's arguments (exits with clap's message and status 2 on a bad flag).
pub fn parse() -> Config {
    from_matches(&command().get_matches())
}

/// Builds the configuration from parsed arguments.
pub fn from_matches(m: &clap::ArgMatches) -> Config {
    let list = |name: &str, default: &[u64]| -> Vec<usize> {
        let v: Vec<u64> = m
            .get_many::<u64>(name)
            .map(|v| v.copied().collect())
            .unwrap_or_else(|| default.to_vec());
        dedup(v.into_iter().map(|x| x as usize))
    };
    let modes = match m.get_one::<String>("mode").map(String::as_str) {
        Some("single") => vec![Mode::Single],
        Some("batch") => vec![Mode::Batch],
        _ => vec![Mode::Single, Mode::Batch],
    };
    Config {
        nodes: list("nodes", &[100, 1000, 10_000]),
        points_per_node: *m.get_one::<u32>("points-per-node").expect("has a default"),
        threads: list("threads", &[1, 2]),
        modes,
        batch_size: *m.get_one::<u64>("batch-size").expect("has a default") as usize,
        keys: *m.get_one::<KeyDist>("keys").expect("has a default"),
        key_count: *m.get_one::<u64>("key-count").expect("has a default") as usize,
        churn: *m.get_one::<f64>("churn").expect("has a default"),
        duration: *m.get_one::<f64>("duration").expect("has a default"),
        json: m.get_flag("json"),
        peers: m.get_flag("peers"),
        kind: match m.get_one::<String>("placement").map(String::as_str) {
            Some("maglev") => Kind::Maglev,
            _ => Kind::Native,
        },
        table_size: *m.get_one::<u64>("table-size").expect("has a default"),
        soak: m.get_one::<f64>("soak").copied(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_args(args: &[&str]) -> Result<Config, clap::Error> {
        let mut v = vec!["ringroute-perf"];
        v.extend_from_slice(args);
        command().try_get_matches_from(v).map(|m| from_matches(&m))
    }

    #[test]
    fn defaults() {
        let c = parse_args(&[]).unwrap();
        assert_eq!(c.nodes, vec![100, 1000, 10_000]);
        assert_eq!(c.threads, vec![1, 2]);
        assert_eq!(c.modes, vec![Mode::Single, Mode::Batch]);
        assert_eq!(c.points_per_node, 160);
        assert_eq!(c.batch_size, 64);
        assert_eq!(c.keys, KeyDist::Uniform);
        assert_eq!(c.churn, 0.0);
        assert!(!c.json && !c.peers && c.soak.is_none());
        assert_eq!((c.kind, c.table_size), (Kind::Native, 65_537));
        let c = parse_args(&["--placement", "maglev", "--table-size", "251"]).unwrap();
        assert_eq!((c.kind, c.table_size), (Kind::Maglev, 251));
    }

    #[test]
    fn lists_repeat_and_commas() {
        let c = parse_args(&["--nodes", "10", "--nodes", "20,30", "--threads", "2,1,2"]).unwrap();
        assert_eq!(c.nodes, vec![10, 20, 30]);
        assert_eq!(c.threads, vec![2, 1]);
        let c = parse_args(&["--keys", "zipf:0.99", "--mode", "batch", "--churn", "500"]).unwrap();
        assert_eq!(c.keys, KeyDist::Zipf(0.99));
        assert_eq!(c.modes, vec![Mode::Batch]);
        assert_eq!(c.churn, 500.0);
    }

    #[test]
    fn bad_flags_are_errors() {
        for bad in [
            &["--nodes", "0"][..],
            &["--nodes", "x"],
            &["--nodes", "70000"],
            &["--threads", "0"],
            &["--mode", "fast"],
            &["--keys", "zipf:-1"],
            &["--duration", "0"],
            &["--duration", "-1"],
            &["--churn", "-5"],
            &["--batch-size", "0"],
            &["--placement", "ketama"],
            &["--table-size", "65536"],
            &["--table-size", "5000077"],
            &["--soak", "0"],
            &["--soak", "-3"],
            &["--frobnicate"],
        ] {
            assert!(parse_args(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
