//! Results: one [`Record`] per (implementation, mode, nodes, threads), printed as a table or as JSON
//! lines.

use serde_json::{json, Value};

use crate::cli::{Config, Mode};
use crate::paired::Paired;
use crate::run::{CellResult, SAMPLE_EVERY};
use crate::timer::{self, Clock};

/// Latency percentiles of the timed samples, in ns (timer bracket included, nothing subtracted).
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest sample.
    pub max: f64,
    /// How many samples.
    pub samples: u64,
}

/// What the churn writer did during one cell.
#[derive(Debug, Clone, Copy)]
pub struct ChurnStats {
    /// Requested changes per second.
    pub target: f64,
    /// Achieved changes per second.
    pub achieved: f64,
    /// Changes made.
    pub publishes: u64,
    /// Median publishing call, µs.
    pub p50_us: f64,
    /// 99th percentile publishing call, µs.
    pub p99_us: f64,
}

/// The result of one cell.
#[derive(Debug, Clone)]
pub struct Record {
    /// `ringroute` or the peer crate's name.
    pub imp: &'static str,
    /// Single or batch.
    pub mode: Mode,
    /// Nodes in the ring.
    pub nodes: usize,
    /// Reader threads.
    pub threads: usize,
    /// Keys routed in the throughput phase, all threads.
    pub lookups: u64,
    /// Lookups per second, all threads.
    pub lookups_per_sec: f64,
    /// Lookups per second of each thread.
    pub per_thread: Vec<f64>,
    /// Mean over threads of (thread wall time / thread keys): ns one thread spends per key.
    pub ns_per_key: f64,
    /// Mean over threads of (thread CPU time / thread keys): ns per key while on a core.
    pub ns_per_key_cpu: f64,
    /// Mean over threads of CPU time / wall time in the throughput phase (1.0: never preempted).
    pub on_cpu: f64,
    /// Timed-sample percentiles: one lookup (single) or one batch call (batch).
    pub latency: Option<Latency>,
    /// The writer's figures when `--churn` > 0 (ringroute only).
    pub churn: Option<ChurnStats>,
    /// Publish latency p50 / p99 with no readers, µs (ringroute only).
    pub publish_idle_us: Option<(f64, f64)>,
    /// The snapshot's search layout (ringroute only).
    pub layout: Option<String>,
    /// The fastest peer in the same (nodes, threads), when peers ran.
    pub fastest_peer: Option<&'static str>,
    /// The fastest peer's ns per key divided by this record's (how many times faster).
    pub vs_fastest_peer: Option<f64>,
    /// The same ratio from CPU-time ns per key (robust to other processes taking the cores).
    pub vs_fastest_peer_cpu: Option<f64>,
}

/// Building one implementation's ring.
#[derive(Debug, Clone)]
pub struct Build {
    /// Implementation.
    pub imp: &'static str,
    /// Nodes.
    pub nodes: usize,
    /// Time to build the whole ring, ms: the median of the builds after the first.
    pub build_ms: f64,
    /// The first build's time, ms (cold: the process's first ring of this size).
    pub first_ms: f64,
    /// Heap bytes the built ring holds (net bytes allocated during the build).
    pub heap_bytes: u64,
    /// ringroute's: its builds and publications timed in alternation with the fastest-building
    /// peer's builds (see [`paired`](crate::paired)), when peers ran.
    pub paired: Option<Paired>,
}

/// The machine and run facts printed above the table.
#[derive(Debug, Clone)]
pub struct Env {
    /// CPU model.
    pub cpu: String,
    /// Cores the harness can pin to.
    pub cores: usize,
    /// ringroute's batch kernel on this CPU.
    pub kernel: &'static str,
    /// Mean key length, bytes.
    pub key_len: f64,
    /// Distinct keys in the stream.
    pub distinct: usize,
    /// Peak resident set of the process, KiB.
    pub peak_rss_kib: u64,
}

impl Record {
    /// Summarises a cell.
    pub fn new(
        imp: &'static str,
        mode: Mode,
        nodes: usize,
        cfg: &Config,
        clock: &Clock,
        r: CellResult,
    ) -> Self {
        let per_thread: Vec<f64> = r
            .threads
            .iter()
            .map(|t| t.lookups as f64 * 1e9 / t.elapsed_ns.max(1) as f64)
            .collect();
        let ns_per_key = r
            .threads
            .iter()
            .map(|t| t.elapsed_ns as f64 / t.lookups.max(1) as f64)
            .sum::<f64>()
            / r.threads.len().max(1) as f64;
        let mean = |f: &dyn Fn(&crate::run::ThreadResult) -> f64| {
            r.threads.iter().map(f).sum::<f64>() / r.threads.len().max(1) as f64
        };
        let ns_per_key_cpu = mean(&|t| t.cpu_ns as f64 / t.lookups.max(1) as f64);
        let on_cpu = mean(&|t| t.cpu_ns as f64 / t.elapsed_ns.max(1) as f64);
        let mut hist = timer::new_histogram();
        for t in &r.threads {
            hist.add(&t.hist).expect("same bounds");
        }
        let latency = (!hist.is_empty()).then(|| Latency {
            p50: clock.ns(hist.value_at_quantile(0.5)),
            p99: clock.ns(hist.value_at_quantile(0.99)),
            p999: clock.ns(hist.value_at_quantile(0.999)),
            max: clock.ns(hist.max()),
            samples: hist.len(),
        });
        let churn = r.churn.map(|c| ChurnStats {
            target: cfg.churn,
            achieved: c.achieved_per_sec,
            publishes: c.publishes,
            p50_us: c.hist.value_at_quantile(0.5) as f64 / 1e3,
            p99_us: c.hist.value_at_quantile(0.99) as f64 / 1e3,
        });
        Self {
            imp,
            mode,
            nodes,
            threads: r.threads.len(),
            lookups: r.threads.iter().map(|t| t.lookups).sum(),
            lookups_per_sec: per_thread.iter().sum(),
            per_thread,
            ns_per_key,
            ns_per_key_cpu,
            on_cpu,
            latency,
            churn,
            publish_idle_us: None,
            layout: None,
            fastest_peer: None,
            vs_fastest_peer: None,
            vs_fastest_peer_cpu: None,
        }
    }
}

/// For every ringroute record whose (nodes, threads) also has peer records: the fastest peer (the
/// lowest ns per key; peers run single lookups only) and how many times faster ringroute is.
pub fn attach_ratios(records: &mut [Record]) {
    let best: Vec<(usize, usize, &'static str, f64, f64)> = records
        .iter()
        .filter(|r| r.imp != "ringroute")
        .fold(Vec::new(), |mut acc, r| {
            let entry = (r.nodes, r.threads, r.imp, r.ns_per_key, r.ns_per_key_cpu);
            match acc
                .iter_mut()
                .find(|(n, t, ..)| *n == r.nodes && *t == r.threads)
            {
                Some(e) if r.ns_per_key < e.3 => *e = entry,
                Some(_) => {}
                None => acc.push(entry),
            }
            acc
        });
    for r in records.iter_mut().filter(|r| r.imp == "ringroute") {
        if let Some(&(_, _, name, ns, cpu)) = best
            .iter()
            .find(|(n, t, ..)| *n == r.nodes && *t == r.threads)
        {
            r.fastest_peer = Some(name);
            r.vs_fastest_peer = Some(ns / r.ns_per_key);
            r.vs_fastest_peer_cpu = Some(cpu / r.ns_per_key_cpu.max(f64::MIN_POSITIVE));
        }
    }
}

fn opt<T: Into<Value>>(v: Option<T>) -> Value {
    v.map_or(Value::Null, Into::into)
}

fn round(v: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (v * f).round() / f
}

/// One JSON object per record, one per line, on stdout.
pub fn print_json(
    records: &[Record],
    builds: &[Build],
    cfg: &Config,
    clock: &Clock,
    peak_rss_kib: u64,
    key_len: f64,
) {
    for r in records {
        let build = builds.iter().find(|b| b.imp == r.imp && b.nodes == r.nodes);
        let paired = build.and_then(|b| b.paired.as_ref());
        let lat = r.latency;
        let v = json!({
            "impl": r.imp,
            "mode": r.mode.name(),
            "nodes": r.nodes,
            "threads": r.threads,
            "placement": cfg.kind.name(),
            "table_size": if cfg.kind == crate::cli::Kind::Maglev { Value::from(cfg.table_size) } else { Value::Null },
            "points_per_node": cfg.points_per_node,
            "batch_size": if r.mode == Mode::Batch { Value::from(cfg.batch_size) } else { Value::Null },
            "keys": cfg.keys.name(),
            "key_count": cfg.key_count,
            "key_bytes_mean": round(key_len, 2),
            "duration_s": cfg.duration,
            "lookups": r.lookups,
            "lookups_per_sec": round(r.lookups_per_sec, 0),
            "lookups_per_sec_per_thread": r.per_thread.iter().map(|v| round(*v, 0)).collect::<Vec<_>>(),
            "ns_per_key": round(r.ns_per_key, 3),
            "ns_per_key_cpu": round(r.ns_per_key_cpu, 3),
            "on_cpu": round(r.on_cpu, 3),
            "latency_of": if r.mode == Mode::Batch { "batch_call" } else { "lookup" },
            "latency_sample_every": if r.mode == Mode::Batch { 1 } else { SAMPLE_EVERY },
            "latency_samples": opt(lat.map(|l| l.samples)),
            "latency_p50_ns": opt(lat.map(|l| round(l.p50, 1))),
            "latency_p99_ns": opt(lat.map(|l| round(l.p99, 1))),
            "latency_p999_ns": opt(lat.map(|l| round(l.p999, 1))),
            "latency_max_ns": opt(lat.map(|l| round(l.max, 1))),
            "timer": timer::CLOCK,
            "timer_overhead_ns": round(clock.overhead_ns, 1),
            "churn_per_sec": if r.imp == "ringroute" { Value::from(cfg.churn) } else { Value::from(0.0) },
            "churn_achieved_per_sec": opt(r.churn.map(|c| round(c.achieved, 1))),
            "publishes": opt(r.churn.map(|c| c.publishes)),
            "publish_p50_us": opt(r.churn.map(|c| round(c.p50_us, 1))),
            "publish_p99_us": opt(r.churn.map(|c| round(c.p99_us, 1))),
            "publish_idle_p50_us": opt(r.publish_idle_us.map(|p| round(p.0, 1))),
            "publish_idle_p99_us": opt(r.publish_idle_us.map(|p| round(p.1, 1))),
            // Four decimals (0.1 µs): a warm build of a small table takes a few µs.
            "build_ms": opt(build.map(|b| round(b.build_ms, 4))),
            "build_first_ms": opt(build.map(|b| round(b.first_ms, 4))),
            "ring_heap_bytes": opt(build.map(|b| b.heap_bytes)),
            "paired_peer": opt(paired.map(|p| p.peer)),
            "paired_rounds": opt(paired.map(|p| p.rounds)),
            "paired_build_ratio": opt(paired.map(|p| round(p.build_ratio, 3))),
            "paired_publish_ratio": opt(paired.and_then(|p| p.publish_ratio).map(|v| round(v, 1))),
            "peak_rss_kib": peak_rss_kib,
            "layout": opt(r.layout.clone()),
            "kernel": if r.imp == "ringroute" && r.mode == Mode::Batch { Value::from(ringroute::Kernel::detect().name()) } else { Value::Null },
            "fastest_peer": opt(r.fastest_peer),
            "vs_fastest_peer": opt(r.vs_fastest_peer.map(|v| round(v, 2))),
            "vs_fastest_peer_cpu": opt(r.vs_fastest_peer_cpu.map(|v| round(v, 2))),
        });
        println!("{v}");
    }
}

fn fmt_rate(v: f64) -> String {
    format!("{:.1}", v / 1e6)
}

fn fmt_ns(v: f64) -> String {
    if v >= 100_000.0 {
        format!("{:.0}k", v / 1e3)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// The human-readable report on stdout.
pub fn print_table(records: &[Record], builds: &[Build], cfg: &Config, clock: &Clock, env: &Env) {
    let placement = match cfg.kind {
        crate::cli::Kind::Native => format!("native, {} points/node", cfg.points_per_node),
        crate::cli::Kind::Maglev => format!("maglev, table of {} entries", cfg.table_size),
    };
    println!(
        "ringroute-perf: {placement}, keys {} ({} keys of ~{:.0} B, {} distinct, random order), batch {}, {} s/cell, churn {}/s",
        cfg.keys.name(),
        cfg.key_count,
        env.key_len,
        env.distinct,
        cfg.batch_size,
        cfg.duration,
        cfg.churn
    );
    println!(
        "machine: {} ({} cores), ringroute batch kernel {}, timer {} ({:.3} ns/tick, empty bracket {:.1} ns)",
        env.cpu, env.cores, env.kernel, timer::CLOCK, clock.ns_per_tick, clock.overhead_ns
    );
    println!();
    let churn = records.iter().any(|r| r.churn.is_some());
    let mut header = format!(
        "{:<15} {:<6} {:>6} {:>3} {:>8} {:>8} {:>6} {:>9} {:>15} {:>8} {:>8} {:>8}",
        "impl",
        "mode",
        "nodes",
        "thr",
        "ns/key",
        "cpu ns",
        "on-cpu",
        "Mkeys/s",
        "Mkeys/s/thread",
        "p50 ns",
        "p99 ns",
        "p99.9 ns"
    );
    if churn {
        header.push_str(&format!(
            " {:>9} {:>10} {:>10}",
            "churn/s*", "pub p50 µs", "pub p99 µs"
        ));
    }
    let peers = records.iter().any(|r| r.vs_fastest_peer.is_some());
    if peers {
        header.push_str(&format!(" {:>14}", "vs best peer"));
    }
    println!("{header}");
    println!("{}", "-".repeat(header.chars().count()));
    let mut last_nodes = None;
    for r in records {
        if last_nodes.is_some() && last_nodes != Some(r.nodes) {
            println!();
        }
        last_nodes = Some(r.nodes);
        let (p50, p99, p999) = r.latency.map_or(("-".into(), "-".into(), "-".into()), |l| {
            (fmt_ns(l.p50), fmt_ns(l.p99), fmt_ns(l.p999))
        });
        let per_thread = r
            .per_thread
            .iter()
            .map(|v| fmt_rate(*v))
            .collect::<Vec<_>>()
            .join("/");
        let mut line = format!(
            "{:<15} {:<6} {:>6} {:>3} {:>8.2} {:>8.2} {:>5.0}% {:>9} {:>15} {:>8} {:>8} {:>8}",
            r.imp,
            r.mode.name(),
            r.nodes,
            r.threads,
            r.ns_per_key,
            r.ns_per_key_cpu,
            r.on_cpu * 100.0,
            fmt_rate(r.lookups_per_sec),
            per_thread,
            p50,
            p99,
            p999
        );
        if churn {
            match r.churn {
                Some(c) => line.push_str(&format!(
                    " {:>9} {:>10.1} {:>10.1}",
                    format!("{:.0}/{:.0}", c.achieved, c.target),
                    c.p50_us,
                    c.p99_us
                )),
                None => line.push_str(&format!(" {:>9} {:>10} {:>10}", "-", "-", "-")),
            }
        }
        if peers {
            match (r.vs_fastest_peer, r.fastest_peer) {
                (Some(v), Some(_)) => line.push_str(&format!(" {:>13.1}×", v)),
                _ => line.push_str(&format!(" {:>14}", "")),
            }
        }
        println!("{line}");
    }
    println!();
    println!(
        "ns/key: per thread, wall time of the throughput phase (80% of the cell, nothing timed inside the loop) / keys it routed; \
         cpu ns: the same with the thread's CPU time; on-cpu: CPU time / wall time (below 100%: other processes took the core)."
    );
    println!(
        "p50/p99/p99.9: single = one lookup in every {SAMPLE_EVERY} (Reader::snapshot + route_id), batch = one whole route_batch call of {} keys; \
         each bracketed by lfence/rdtsc..rdtscp/lfence, empty bracket ({:.1} ns) included, not subtracted.",
        cfg.batch_size, clock.overhead_ns
    );
    if churn {
        println!(
            "churn/s*: membership changes per second the writer thread achieved / requested (one publish at a time: a publish slower \
             than 1/rate caps it); pub p50/p99: duration of each remove_node / add_node call (build + publish) while the readers ran."
        );
    }
    if peers {
        let names: Vec<&str> =
            records
                .iter()
                .filter_map(|r| r.fastest_peer)
                .fold(Vec::new(), |mut v, n| {
                    if !v.contains(&n) {
                        v.push(n);
                    }
                    v
                });
        println!(
            "vs best peer: the fastest peer's single-lookup ns/key at the same nodes and threads ({}) / ringroute's ns/key in that mode \
             (wall time; the CPU-time ratio is in --json as vs_fastest_peer_cpu).",
            names.join(", ")
        );
        if cfg.churn > 0.0 {
            println!("peers run without churn (they have no concurrent update path).");
        }
    }

    println!();
    println!(
        "{:<15} {:>6} {:>10} {:>10} {:>9} {:>8} {:>22} {:>22}",
        "ring",
        "nodes",
        "build ms",
        "first ms",
        "heap MiB",
        "B/point",
        "publish idle p50/p99 µs",
        "vs fastest peer build"
    );
    let points = |nodes: usize| match cfg.kind {
        crate::cli::Kind::Native => nodes as f64 * f64::from(cfg.points_per_node),
        crate::cli::Kind::Maglev => cfg.table_size as f64,
    };
    for b in builds {
        let idle_us = records
            .iter()
            .find(|r| r.imp == b.imp && r.nodes == b.nodes)
            .and_then(|r| r.publish_idle_us);
        let idle = idle_us.map_or("-".to_string(), |(a, c)| format!("{a:.0} / {c:.0}"));
        // ringroute's rows: the fastest-building peer's build time over ringroute's build, and
        // over ringroute's one-node publication (a peer's only way to change its ring is a build).
        let peer = builds
            .iter()
            .filter(|p| p.nodes == b.nodes && p.imp != "ringroute")
            .min_by(|x, y| x.build_ms.total_cmp(&y.build_ms));
        let vs = match (b.imp, peer) {
            ("ringroute", Some(p)) => {
                let publish = idle_us.map_or(String::new(), |(p50, _)| {
                    format!(", publish {:.0}×", p.build_ms * 1e3 / p50.max(1e-3))
                });
                format!("build {:.2}×{publish}", p.build_ms / b.build_ms.max(1e-9))
            }
            _ => String::new(),
        };
        println!(
            "{:<15} {:>6} {:>10.2} {:>10.2} {:>9.1} {:>8.1} {:>22} {:>22}",
            b.imp,
            b.nodes,
            b.build_ms,
            b.first_ms,
            b.heap_bytes as f64 / (1024.0 * 1024.0),
            b.heap_bytes as f64 / points(b.nodes),
            idle,
            vs
        );
    }
    println!(
        "build ms: median of up to {} builds after the first (~1 s); first ms: the first build (cold: fresh memory); heap MiB, B/point: heap bytes the built ring holds (counted by the harness's allocator), per point (Maglev: per table entry); publish idle: remove_node / add_node of one node (build + publish), no readers, up to {} calls (at most ~1 s); vs fastest peer build: the fastest-building peer's build time / ringroute's build time, and / ringroute's publish p50 (a peer's only way to change its ring is a full build).",
        crate::BUILD_RUNS,
        2 * crate::IDLE_PUBLISH_PAIRS
    );
    for b in builds {
        if let Some(p) = &b.paired {
            let publish = p
                .publish_ratio
                .map_or(String::new(), |v| format!(", publish {v:.0}×"));
            println!(
                "paired with {} at {} nodes ({} rounds): build {:.2}×{publish}",
                p.peer, b.nodes, p.rounds, p.build_ratio
            );
        }
    }
    if builds.iter().any(|b| b.paired.is_some()) {
        println!(
            "paired: ringroute's builds and publications timed in alternation with the fastest-building peer's builds, round by round (which builds first alternates); the median of the rounds' ratios (peer build / ringroute build, peer build / the median of the round's {} publications).",
            crate::paired::PUBLISHES
        );
    }
    println!(
        "peak memory (getrusage ru_maxrss): {:.1} MiB",
        env.peak_rss_kib as f64 / 1024.0
    );
}
