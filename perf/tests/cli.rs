//! The `ringroute-perf` binary end to end, on tiny configurations (a fraction of a second per cell):
//! the JSON records parse and hold sane values, `--peers` adds the peer crates and the ratios, churn
//! reports publish latency, the table prints, and bad flags fail with a clear message.

use std::process::{Command, Output};

use serde_json::Value;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ringroute-perf"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// Runs with `--json` and parses every stdout line as one JSON object.
fn run_json(args: &[&str]) -> Vec<Value> {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = run(&all);
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        out.status.success(),
        "exit {:?}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn num(r: &Value, field: &str) -> f64 {
    r[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} is not a number in {r}"))
}

/// The fields every record has, with sane values.
fn check_record(r: &Value) {
    for field in ["impl", "mode", "keys", "timer", "latency_of"] {
        assert!(r[field].is_string(), "{field} in {r}");
    }
    assert!(["single", "batch"].contains(&r["mode"].as_str().unwrap()));
    for field in ["nodes", "threads", "points_per_node", "lookups"] {
        assert!(r[field].as_u64().unwrap() > 0, "{field} in {r}");
    }
    let ns = num(r, "ns_per_key");
    let rate = num(r, "lookups_per_sec");
    assert!(ns > 0.0 && ns < 1e7, "ns_per_key {ns}");
    assert!(num(r, "ns_per_key_cpu") > 0.0);
    assert!(rate > 0.0);
    // Total rate = sum of the per-thread rates; each thread's rate = 1e9 / its ns per key.
    let per_thread: Vec<f64> = r["lookups_per_sec_per_thread"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(per_thread.len() as u64, r["threads"].as_u64().unwrap());
    let sum: f64 = per_thread.iter().sum();
    assert!(
        (sum - rate).abs() <= 0.01 * rate + per_thread.len() as f64,
        "{sum} vs {rate}"
    );
    let mean_ns = per_thread.iter().map(|v| 1e9 / v).sum::<f64>() / per_thread.len() as f64;
    assert!((mean_ns - ns).abs() <= 0.02 * ns, "{mean_ns} vs {ns}");
    let (p50, p99, p999, max) = (
        num(r, "latency_p50_ns"),
        num(r, "latency_p99_ns"),
        num(r, "latency_p999_ns"),
        num(r, "latency_max_ns"),
    );
    assert!(p50 > 0.0 && p50 <= p99 && p99 <= p999 && p999 <= max, "{r}");
    assert!(r["latency_samples"].as_u64().unwrap() > 0);
    assert!(num(r, "peak_rss_kib") > 0.0);
    assert!(num(r, "build_ms") >= 0.0);
    assert!(num(r, "build_first_ms") >= 0.0);
    assert!(r["ring_heap_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn tiny_json_run_has_every_field() {
    let recs = run_json(&["--nodes", "10", "--duration", "0.2", "--threads", "1"]);
    assert_eq!(recs.len(), 2, "{recs:?}");
    for r in &recs {
        check_record(r);
        assert_eq!(r["impl"], "ringroute");
        assert_eq!(r["nodes"], 10);
        assert_eq!(r["threads"], 1);
        assert_eq!(r["points_per_node"], 160);
        assert_eq!(r["keys"], "uniform");
        assert!(r["publish_idle_p50_us"].as_f64().unwrap() > 0.0);
        assert!(r["layout"].is_string());
        assert!(r["fastest_peer"].is_null() && r["vs_fastest_peer"].is_null());
        assert!(r["paired_peer"].is_null() && r["paired_build_ratio"].is_null());
    }
    assert_eq!(recs[0]["mode"], "single");
    assert_eq!(recs[0]["batch_size"], Value::Null);
    assert_eq!(recs[1]["mode"], "batch");
    assert_eq!(recs[1]["batch_size"], 64);
    assert_eq!(recs[1]["latency_of"], "batch_call");
}

#[test]
fn peers_run_the_same_workload_and_get_ratios() {
    let recs = run_json(&[
        "--nodes",
        "10",
        "--duration",
        "0.1",
        "--threads",
        "1",
        "--peers",
        "--points-per-node",
        "40",
    ]);
    let impls: Vec<&str> = recs.iter().map(|r| r["impl"].as_str().unwrap()).collect();
    assert_eq!(
        impls,
        [
            "ringroute",
            "ringroute",
            "pingora-ketama",
            "hashring",
            "conhash"
        ]
    );
    for r in &recs {
        check_record(r);
        assert_eq!(r["points_per_node"], 40);
        if r["impl"] == "ringroute" {
            let best = r["fastest_peer"].as_str().unwrap();
            assert!(["pingora-ketama", "hashring", "conhash"].contains(&best));
            let best_ns = recs
                .iter()
                .find(|p| p["impl"] == best)
                .map(|p| num(p, "ns_per_key"))
                .unwrap();
            let ratio = num(r, "vs_fastest_peer");
            assert!((ratio - best_ns / num(r, "ns_per_key")).abs() < 0.02 * ratio + 0.01);
            assert!(num(r, "vs_fastest_peer_cpu") > 0.0);
            // Paired with the peer whose build median was the least.
            let fastest = recs
                .iter()
                .filter(|p| p["impl"] != "ringroute")
                .min_by(|a, b| num(a, "build_ms").total_cmp(&num(b, "build_ms")))
                .unwrap();
            assert_eq!(r["paired_peer"], fastest["impl"]);
            assert!(r["paired_rounds"].as_u64().unwrap() >= 3);
            assert!(num(r, "paired_build_ratio") > 0.0);
            assert!(num(r, "paired_publish_ratio") > 0.0);
        } else {
            assert!(r["paired_peer"].is_null());
            assert_eq!(r["mode"], "single");
        }
    }
}

#[test]
fn maglev_runs_against_the_maglev_crates() {
    let recs = run_json(&[
        "--nodes",
        "10",
        "--duration",
        "0.1",
        "--threads",
        "1",
        "--peers",
        "--placement",
        "maglev",
        "--table-size",
        "251",
    ]);
    let impls: Vec<&str> = recs.iter().map(|r| r["impl"].as_str().unwrap()).collect();
    assert_eq!(
        impls,
        [
            "ringroute",
            "ringroute",
            "maglev-hash",
            "maglev",
            "hash-rings"
        ]
    );
    for r in &recs {
        check_record(r);
        assert_eq!(r["placement"], "maglev");
        assert_eq!(r["table_size"], 251);
        assert!(r["build_ms"].as_f64().unwrap() > 0.0);
        assert!(r["build_first_ms"].as_f64().unwrap() > 0.0);
        if r["impl"] == "ringroute" {
            assert_eq!(r["layout"], "table");
            let best = r["fastest_peer"].as_str().unwrap();
            assert!(["maglev-hash", "maglev", "hash-rings"].contains(&best));
            assert!(num(r, "vs_fastest_peer") > 0.0);
            // Maglev tables are rebuilt, not published into: builds only.
            assert!(num(r, "paired_build_ratio") > 0.0);
            assert!(r["paired_publish_ratio"].is_null());
        }
    }
}

#[test]
fn churn_reports_publish_latency() {
    let recs = run_json(&[
        "--nodes",
        "20",
        "--duration",
        "0.3",
        "--threads",
        "1,2",
        "--mode",
        "single",
        "--churn",
        "200",
        "--keys",
        "zipf:1.1",
    ]);
    assert_eq!(recs.len(), 2);
    for r in &recs {
        check_record(r);
        assert_eq!(r["keys"], "zipf:1.1");
        assert_eq!(num(r, "churn_per_sec"), 200.0);
        assert!(r["publishes"].as_u64().unwrap() > 0, "{r}");
        assert!(num(r, "churn_achieved_per_sec") > 0.0);
        assert!(
            num(r, "publish_p50_us") > 0.0 && num(r, "publish_p50_us") <= num(r, "publish_p99_us")
        );
    }
    assert_eq!(recs[1]["threads"], 2);
}

#[test]
fn table_is_printed_by_default() {
    let out = run(&[
        "--nodes",
        "10",
        "--duration",
        "0.1",
        "--threads",
        "1",
        "--batch-size",
        "16",
    ]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    for want in [
        "ns/key",
        "Mkeys/s",
        "p99.9 ns",
        "ringroute",
        "batch 16",
        "peak memory",
        "publish idle",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in\n{stdout}");
    }
}

#[test]
fn bad_flags_fail_clearly() {
    for (args, mentions) in [
        (&["--nodes", "0"][..], "--nodes"),
        (&["--nodes", "ten"], "--nodes"),
        (&["--threads", "0"], "--threads"),
        (&["--mode", "fast"], "--mode"),
        (&["--keys", "zipf:x"], "zipf"),
        (&["--keys", "gaussian"], "uniform"),
        (&["--duration", "0"], "--duration"),
        (&["--churn", "-1"], "--churn"),
        (&["--no-such-flag"], "--no-such-flag"),
    ] {
        let out = run(args);
        assert!(!out.status.success(), "{args:?} should fail");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.contains("error"), "{args:?}: {stderr}");
        assert!(
            stderr.contains(mentions),
            "{args:?} should mention {mentions}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
    }
}

#[test]
fn help_lists_the_flags() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--nodes",
        "--points-per-node",
        "--threads",
        "--mode",
        "--batch-size",
        "--keys",
        "--churn",
        "--duration",
        "--json",
        "--peers",
        "--placement",
        "--table-size",
        "--soak",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}

#[test]
fn soak_checks_every_answer_and_reports_memory() {
    let records = run_json(&[
        "--soak",
        "1.5",
        "--nodes",
        "40",
        "--threads",
        "2",
        "--churn",
        "300",
    ]);
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert_eq!(r["mode"], "soak");
    assert_eq!(num(r, "wrong"), 0.0);
    assert!(num(r, "checked") > 10_000.0, "{r}");
    assert!(num(r, "publications") > 100.0, "{r}");
    assert!(num(r, "rss_start_kib") > 0.0 && num(r, "rss_peak_kib") >= num(r, "rss_end_kib"));
}
