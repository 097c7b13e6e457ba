//! The `ringroute` binary, run as a user runs it: golden output for small memberships, exit codes
//! and one-line errors, the pictures, and routes that agree with the library.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ringroute::membership::Membership;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Runs the binary in `tests/data` (so file names in messages are short), with `stdin`.
fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringroute"))
        .args(args)
        .current_dir(data(""))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn stdout_of(args: &[&str]) -> String {
    let out = run(args, b"");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Compares with `tests/golden/<name>`; `RINGROUTE_BLESS=1` rewrites the file instead.
fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("RINGROUTE_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(actual, want, "golden file {name} differs");
}

/// A failing run: exit code 1, one line on stderr, no panic, nothing on stdout.
fn fails(args: &[&str], stdin: &[u8]) -> String {
    common::one_line_failure(args, run(args, stdin))
}

#[test]
fn dist_golden() {
    golden("dist.txt", &stdout_of(&["dist", "-m", "before.json"]));
    golden(
        "dist.json",
        &stdout_of(&["dist", "-m", "before.json", "--json"]),
    );
}

#[test]
fn diff_golden() {
    golden(
        "diff.txt",
        &stdout_of(&["diff", "before.json", "after.toml"]),
    );
    golden(
        "diff.json",
        &stdout_of(&["diff", "before.json", "after.toml", "--json"]),
    );
    // ketama's points depend on the membership: adding mc-4 also moves keys between mc-1..3.
    let ketama = stdout_of(&["diff", "ketama-before.json", "ketama-after.json"]);
    golden("diff-ketama.txt", &ketama);
    assert!(!ketama.contains("moved between nodes present in both: 0.0000%"));
}

#[test]
fn route_golden_and_agrees_with_the_library() {
    let args = stdout_of(&["route", "-m", "before.json", "user:1", "user:2", "user:3"]);
    golden("route.txt", &args);
    let keys: String = (0..2000).map(|i| format!("key-{i}\n")).collect();
    let out = run(&["route", "-m", "before.json"], keys.as_bytes());
    assert!(out.status.success());
    let ring = Membership::load(data("before.json"))
        .unwrap()
        .snapshot()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 2000);
    for (i, line) in text.lines().enumerate() {
        let key = format!("key-{i}");
        assert_eq!(line, format!("{key}\t{}", ring.route(&key).unwrap().name()));
    }
    // Replicas, a CRLF line and a last line without a newline.
    let out = run(
        &["route", "-m", "before.json", "--replicas", "3"],
        b"a\r\nb\nc",
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let want: String = ["a", "b", "c"]
        .iter()
        .map(|k| {
            let names: Vec<&str> = ring
                .replicas(k, 3)
                .iter()
                .map(|&id| ring.node(id).unwrap().name())
                .collect();
            format!("{k}\t{}\n", names.join(","))
        })
        .collect();
    assert_eq!(text, want);
    golden("route-replicas.txt", &text);
}

#[test]
fn route_handles_lines_longer_than_its_buffer() {
    let long = "k".repeat(3 << 20);
    let out = run(
        &["route", "-m", "before.json"],
        format!("{long}\nshort\n").as_bytes(),
    );
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].starts_with(&long) && lines[1].starts_with("short\t"));
}

#[test]
fn tune_finds_the_smallest_setting() {
    let out = stdout_of(&["tune", "-m", "before.json", "--max-imbalance", "1.05"]);
    let first = out.lines().next().unwrap();
    golden("tune-first-line.txt", &format!("{first}\n"));
    // Check the answer against the library: it meets the bound, and no smaller setting does.
    let best: u32 = first
        .split(": ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let m = Membership::load(data("before.json")).unwrap();
    let imbalance = |vn: u32| {
        let mut m = m.clone();
        m.config.virtual_nodes = Some(vn);
        ringroute::distribution(&m.snapshot().unwrap()).weighted_imbalance()
    };
    assert!(imbalance(best) <= 1.05);
    assert!((1..best).all(|vn| imbalance(vn) > 1.05));
    // Each row: a setting, its points, its imbalance, whether it meets the bound, its memory.
    for row in out.lines().skip(2) {
        let cells: Vec<&str> = row.split_whitespace().filter(|c| *c != "*").collect();
        let vn: u32 = cells[0].parse().unwrap();
        let meets = imbalance(vn) <= 1.05;
        assert_eq!(cells[3], if meets { "yes" } else { "no" }, "{row}");
        assert!(cells[4].parse::<f64>().unwrap() > 0.0, "{row}");
    }
    assert!(fails(
        &["tune", "-m", "before.json", "--max-imbalance", "0.5"],
        b""
    )
    .contains("--max-imbalance must be a number of at least 1"));
}

#[test]
fn plots_are_png_pictures() {
    let dir = std::env::temp_dir().join(format!("ringroute-cli-plots-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dist = dir.join("dist.png");
    let diff = dir.join("diff.png");
    stdout_of(&[
        "dist",
        "-m",
        "before.json",
        "--plot",
        dist.to_str().unwrap(),
    ]);
    stdout_of(&[
        "diff",
        "before.json",
        "after.toml",
        "--plot",
        diff.to_str().unwrap(),
    ]);
    for p in [&dist, &diff] {
        let bytes = std::fs::read(p).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{}", p.display());
        assert!(bytes.len() > 4000, "{}: {} bytes", p.display(), bytes.len());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_input_is_one_line_and_exit_1() {
    let cases: [(&[&str], &str); 7] = [
        (
            &["dist", "-m", "bad.json"],
            r#"ringroute: bad.json: node 1 ("cache-b"): field "weight": expected an integer in 0..=4294967295, got "two""#,
        ),
        (&["dist", "-m", "missing.json"], "ringroute: missing.json: No such file or directory (os error 2)"),
        (&["dist"], "ringroute: the following required arguments were not provided: --membership <FILE>"),
        (&["nope"], "ringroute: unrecognized subcommand 'nope'"),
        (
            &["route", "-m", "before.json", "--replicas", "0", "k"],
            "ringroute: invalid value '0' for '--replicas <N>': 0 is not in 1..=4294967295",
        ),
        (
            &["diff", "before.json", "ketama-after.json"],
            "ringroute: cannot compare placement native (128 virtual nodes) with placement libmemcached (160 virtual nodes): keys are hashed differently",
        ),
        (
            &["tune", "-m", "before.json", "--max-imbalance", "x"],
            "ringroute: invalid value 'x' for '--max-imbalance <RATIO>': invalid float literal",
        ),
    ];
    for (args, want) in cases {
        assert_eq!(fails(args, b""), want, "{args:?}");
    }
    let empty = std::env::temp_dir().join(format!("ringroute-empty-{}.json", std::process::id()));
    std::fs::write(&empty, r#"{"nodes": []}"#).unwrap();
    let err = fails(&["route", "-m", empty.to_str().unwrap(), "k"], b"");
    assert!(
        err.ends_with("no node owns keys (the membership is empty or every weight is 0)"),
        "{err}"
    );
    std::fs::remove_file(&empty).unwrap();
}

#[test]
fn help_on_every_command_has_an_example() {
    for cmd in [
        &["--help"][..],
        &["route", "--help"],
        &["dist", "--help"],
        &["diff", "--help"],
        &["tune", "--help"],
    ] {
        let out = stdout_of(cmd);
        assert!(out.contains("Example"), "{cmd:?}: {out}");
    }
}
