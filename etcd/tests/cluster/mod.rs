//! A real etcd cluster for the tests: `etcd` processes on free 127.0.0.1 ports, data dirs in a temp
//! folder, stopped (SIGKILL) when dropped. A missing `etcd` binary fails the tests with a message;
//! outside CI, `RINGROUTE_SKIP_ETCD=1` skips them explicitly (said on stderr); in CI that opt-out is
//! refused. Nothing here talks to any address but 127.0.0.1.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

const SKIP_VAR: &str = "RINGROUTE_SKIP_ETCD";

/// Whether the etcd tests are to run: `false` only for an explicit opt-out outside CI.
pub fn enabled() -> bool {
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    let skip = std::env::var_os(SKIP_VAR).is_some_and(|v| !v.is_empty());
    if skip && ci {
        panic!("{SKIP_VAR} is set, but so is CI: in CI the etcd tests may not be skipped");
    }
    if skip {
        eprintln!("{SKIP_VAR} set: etcd tests SKIPPED (not run, not passed)");
        return false;
    }
    true
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// One member: its ports, its data dir, its process while it runs.
pub struct Member {
    pub name: String,
    pub client_port: u16,
    pub peer_port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Member {
    /// `127.0.0.1:<client port>`.
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

/// A cluster of `etcd` processes.
pub struct Cluster {
    pub members: Vec<Member>,
    initial: String,
    _tmp: TempDir,
}

impl Cluster {
    /// Starts `n` members and waits until every one answers its health check. A cluster that is
    /// not healthy within 30 s (a port taken between its probe and etcd's bind, a start starved on
    /// a loaded machine) is stopped and started afresh on new ports, up to three times; the last
    /// failure panics with the members' log tails.
    pub fn start(n: usize) -> Cluster {
        let mut failures = Vec::new();
        for attempt in 1..=3 {
            let cluster = Self::start_once(n);
            match cluster.healthy_within(Duration::from_secs(30)) {
                Ok(()) => return cluster,
                Err(why) => {
                    let logs = cluster.log_tails();
                    eprintln!("etcd cluster, attempt {attempt}: {why}; starting afresh");
                    failures.push(format!("attempt {attempt}: {why}\n{logs}"));
                }
            }
        }
        panic!("etcd cluster did not start:\n{}", failures.join("\n"));
    }

    /// The last lines of each member's log.
    fn log_tails(&self) -> String {
        self.members
            .iter()
            .map(|m| {
                let log = std::fs::read_to_string(self._tmp.path().join(format!("{}.log", m.name)))
                    .unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                format!(
                    "{}: {}",
                    m.name,
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n  ")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Starts `n` members on fresh ports, without waiting.
    fn start_once(n: usize) -> Cluster {
        // In memory where the machine has it (etcd syncs its log to disk at every write).
        let shm = std::path::Path::new("/dev/shm");
        let mut builder = tempfile::Builder::new();
        builder.prefix("ringroute-etcd-");
        let tmp = if shm.is_dir() {
            builder.tempdir_in(shm).or_else(|_| builder.tempdir())
        } else {
            builder.tempdir()
        }
        .expect("a temp dir");
        let members: Vec<Member> = (0..n)
            .map(|i| Member {
                name: format!("m{i}"),
                client_port: free_port(),
                peer_port: free_port(),
                dir: tmp.path().join(format!("m{i}")),
                child: None,
            })
            .collect();
        let initial = members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer_port))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = Cluster {
            members,
            initial,
            _tmp: tmp,
        };
        for i in 0..n {
            cluster.spawn(i);
        }
        cluster
    }

    fn spawn(&mut self, i: usize) {
        let m = &self.members[i];
        let client = format!("http://127.0.0.1:{}", m.client_port);
        let peer = format!("http://127.0.0.1:{}", m.peer_port);
        let log = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(self._tmp.path().join(format!("{}.log", m.name)))
            .expect("a log file");
        let child = Command::new("etcd")
            .args(["--name", &m.name])
            .arg("--data-dir")
            .arg(&m.dir)
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &self.initial])
            .args(["--initial-cluster-state", "new"])
            .args(["--initial-cluster-token", "ringroute-test"])
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .args(["--logger", "zap", "--log-outputs", "stderr"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start etcd ({e}): install it (Debian: apt-get install etcd-server \
                     etcd-client; scripts/test-all does); in CI a missing etcd is a failure, \
                     not a skip"
                )
            });
        self.members[i].child = Some(child);
    }

    /// Every member's endpoint, running or not.
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(Member::endpoint).collect()
    }

    /// `etcdctl` with the given member endpoints.
    fn etcdctl(endpoints: &[String], args: &[&str]) -> std::io::Result<std::process::Output> {
        Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", endpoints.join(",")))
            .args(["--dial-timeout=1s", "--command-timeout=2s"])
            .args(args)
            .stdin(Stdio::null())
            .output()
    }

    /// Waits until every running member says it is healthy (it has a leader and answers).
    pub fn wait_healthy(&self, timeout: Duration) {
        if let Err(why) = self.healthy_within(timeout) {
            panic!("{why}");
        }
    }

    /// Waits until every running member says it is healthy; an error if `timeout` passes first.
    fn healthy_within(&self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let running: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.is_running())
            .map(Member::endpoint)
            .collect();
        loop {
            let ok = running.iter().all(|e| {
                Self::etcdctl(std::slice::from_ref(e), &["endpoint", "health"])
                    .map(|o| o.status.success())
                    .unwrap_or(false)
            });
            if ok {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "etcd cluster not healthy after {timeout:?} (etcdctl from etcd-client needed)"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The index of the current leader, asked of the running members.
    pub fn leader(&self) -> Option<usize> {
        for m in self.members.iter().filter(|m| m.is_running()) {
            let out = Self::etcdctl(&[m.endpoint()], &["endpoint", "status", "-w", "json"]).ok()?;
            let text = String::from_utf8_lossy(&out.stdout);
            let v: serde_json::Value = match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(_) => continue,
            };
            let status = &v[0]["Status"];
            let (Some(member), Some(leader)) = (
                status["header"]["member_id"].as_u64(),
                status["leader"].as_u64(),
            ) else {
                continue;
            };
            if member == leader {
                return self.members.iter().position(|x| x.name == m.name);
            }
        }
        None
    }

    /// Kills member `i` (SIGKILL) and reaps it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts member `i` again on its data dir (etcd ignores the initial-cluster flags there).
    pub fn restart(&mut self, i: usize) {
        assert!(self.members[i].child.is_none(), "member {i} is running");
        self.spawn(i);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}
