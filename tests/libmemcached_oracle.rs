//! The `libmemcached` and `libmemcached-ketama` profiles against the real thing: several
//! `memcached` servers on free 127.0.0.1 ports, keys written through pylibmc (libmemcached) with
//! `behaviors={"ketama_weighted": True}` or `{"ketama": True}`, then each server asked which keys
//! it holds. Every key must be on exactly one server, and that server must be the one ringroute
//! predicts. libmemcached's own answer (`memcached_server_by_key`, asked through
//! `tests/oracle/libmemcached_locate.py`, which connects to nothing) must agree too; that helper
//! then checks the one case free ports cannot show, a server on the default port 11211, with no
//! server there.
//!
//! Needs `memcached` and Python's `pylibmc` (`scripts/test-all` installs both). Without them, or
//! when a server does not start, the tests fail with a message saying what is missing. Outside CI,
//! `RINGROUTE_SKIP_MEMCACHED_ORACLE=1` skips them explicitly (said on stderr, uncaptured); in CI
//! (`CI` set) that opt-out is refused. Nothing here talks to any address but 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ringroute::{Node, Placement, Profile, Snapshot};

const SKIP_VAR: &str = "RINGROUTE_SKIP_MEMCACHED_ORACLE";

fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// Writes straight to the process's stderr: the test harness captures `eprintln!` of passing tests,
/// and a skip must never be silent.
fn loud(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// Whether `what` is to run: `false` only for an explicit opt-out outside CI (said loudly). Panics,
/// naming what is missing, when `memcached` (if `need_memcached`) or pylibmc is not there.
fn required(what: &str, need_memcached: bool) -> bool {
    if std::env::var_os(SKIP_VAR).is_some_and(|v| !v.is_empty()) {
        assert!(
            !in_ci(),
            "{SKIP_VAR} is set, but so is CI: in CI {what} may not be skipped"
        );
        loud(&format!(
            "SKIPPED explicitly ({SKIP_VAR} is set): {what} was NOT run"
        ));
        return false;
    }
    let mut missing = Vec::new();
    if need_memcached {
        match Command::new("memcached").arg("-h").output() {
            Ok(o) if o.status.success() => {}
            Ok(o) => missing.push(format!(
                "`memcached` (`memcached -h` exited with {})",
                o.status
            )),
            Err(e) => missing.push(format!("`memcached` (not runnable from PATH: {e})")),
        }
    }
    match Command::new("python3")
        .args(["-c", "import pylibmc"])
        .output()
    {
        Ok(o) if o.status.success() => {}
        Ok(o) => missing.push(format!(
            "Python's pylibmc (`python3 -c \"import pylibmc\"` failed: {})",
            String::from_utf8_lossy(&o.stderr)
                .trim()
                .lines()
                .last()
                .unwrap_or("")
        )),
        Err(e) => missing.push(format!("`python3` (not runnable from PATH: {e})")),
    }
    let otherwise = if in_ci() {
        "; in CI a missing tool is a failure, not a skip".to_owned()
    } else {
        format!(", or set {SKIP_VAR}=1 to skip it explicitly")
    };
    assert!(
        missing.is_empty(),
        "{what} needs {}. Install with `apt-get update && apt-get install -y memcached \
         libmemcached-dev && python3 -m pip install pylibmc` (scripts/test-all does){otherwise}",
        missing.join(" and "),
    );
    true
}

struct Server {
    port: u16,
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Starts memcached on 127.0.0.1:`port`, or says why it did not come up.
fn start_server(port: u16) -> Result<Server, String> {
    let mut cmd = Command::new("memcached");
    cmd.args([
        "-l",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-U",
        "0",
        "-m",
        "16",
        "-t",
        "1",
    ]);
    if is_root() {
        cmd.args(["-u", "root"]);
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not spawn memcached: {e}"))?;
    let mut server = Server { port, child };
    let exited = |server: &mut Server| -> Option<String> {
        let status = server.child.try_wait().ok()??;
        let mut err = String::new();
        if let Some(mut e) = server.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        Some(format!(
            "memcached on port {port} exited with {status}: {}",
            err.trim()
        ))
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            // Make sure the listener is ours: a memcached that could not bind (someone else took the
            // port meanwhile) exits at once, and we must never flush someone else's server.
            std::thread::sleep(Duration::from_millis(200));
            return match exited(&mut server) {
                None => Ok(server),
                Some(why) => Err(why),
            };
        }
        if let Some(why) = exited(&mut server) {
            return Err(why);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!(
        "memcached on port {port} did not listen within 5 s"
    ))
}

/// `n` memcached servers, each on a free 127.0.0.1 port (a few ports tried each, in case another
/// process takes one between our probe and memcached's bind). Failing to start one fails the test.
fn start_servers(n: usize) -> Vec<Server> {
    (0..n)
        .map(|_| {
            let mut why = Vec::new();
            for _ in 0..5 {
                match start_server(free_port()) {
                    Ok(s) => return s,
                    Err(e) => why.push(e),
                }
            }
            panic!(
                "could not start memcached on a free 127.0.0.1 port (5 tries): {}",
                why.join("; ")
            )
        })
        .collect()
}

/// One text-protocol connection to a server.
struct Conn {
    r: BufReader<TcpStream>,
}

impl Conn {
    fn new(port: u16) -> Self {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Self {
            r: BufReader::new(s),
        }
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.r.read_line(&mut l).unwrap();
        l
    }

    fn flush_all(&mut self) {
        self.r.get_mut().write_all(b"flush_all\r\n").unwrap();
        assert_eq!(self.line(), "OK\r\n");
    }

    /// Which of `keys` this server holds.
    fn held(&mut self, keys: &[Vec<u8>]) -> Vec<bool> {
        let mut held = vec![false; keys.len()];
        for (chunk_no, chunk) in keys.chunks(100).enumerate() {
            let mut req = b"get".to_vec();
            for k in chunk {
                req.push(b' ');
                req.extend_from_slice(k);
            }
            req.extend_from_slice(b"\r\n");
            self.r.get_mut().write_all(&req).unwrap();
            loop {
                let mut l = Vec::new();
                self.r.read_until(b'\n', &mut l).unwrap();
                if l == b"END\r\n" {
                    break;
                }
                // VALUE <key> <flags> <bytes>\r\n<data>\r\n
                let head = &l[..l.len() - 2];
                assert!(
                    head.starts_with(b"VALUE "),
                    "{:?}",
                    String::from_utf8_lossy(&l)
                );
                let rest = &head[6..];
                let mut fields = rest.rsplitn(3, |&b| b == b' ');
                let bytes: usize = std::str::from_utf8(fields.next().unwrap())
                    .unwrap()
                    .parse()
                    .unwrap();
                let _flags = fields.next().unwrap();
                let key = fields.next().unwrap();
                let mut data = vec![0; bytes + 2];
                self.r.read_exact(&mut data).unwrap();
                let i = chunk
                    .iter()
                    .position(|k| k == key)
                    .expect("a key we asked for");
                held[chunk_no * 100 + i] = true;
            }
        }
        held
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn keys() -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = (0..3000).map(|i| format!("key-{i}").into_bytes()).collect();
    // Non-ASCII keys: one-at-a-time reads bytes as signed chars; md5 does not care.
    for i in 0..300 {
        keys.push(format!("ключ-{i}").into_bytes());
        keys.push(format!("ü{i}é").into_bytes());
        keys.push(format!("日本-{i}-🎉").into_bytes());
    }
    keys.push(b"a".to_vec());
    keys.push(vec![b'k'; 250]);
    keys
}

/// Runs `tests/oracle/{script}` with `args`, feeds it `keys` in hex on stdin, returns its stdout.
fn python(script: &str, args: &[String], keys: &[Vec<u8>]) -> String {
    let path = format!("{}/tests/oracle/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut py = Command::new("python3")
        .arg(&path)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not run python3 {path}: {e}"));
    let mut stdin = py.stdin.take().unwrap();
    let input: String = keys.iter().map(|k| hex(k) + "\n").collect();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = py.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "{script} failed: {}", out.status);
    String::from_utf8(out.stdout).unwrap()
}

/// libmemcached's own choice of server ("host:port") for each key, as `memcached_server_by_key`
/// gives it for `servers` (host:port, weight) and `behaviors`; no server is contacted.
fn libmemcached_says(behaviors: &str, servers: &[(String, u32)], keys: &[Vec<u8>]) -> Vec<String> {
    let mut args = vec![behaviors.to_owned()];
    args.extend(servers.iter().map(|(s, w)| format!("{s}:{w}")));
    let out = python("libmemcached_locate.py", &args, keys);
    let said: Vec<String> = out.lines().map(str::to_owned).collect();
    assert_eq!(
        said.len(),
        keys.len(),
        "libmemcached_locate.py answered for {} of {} keys",
        said.len(),
        keys.len()
    );
    said
}

fn ring(profile: Profile, servers: &[(String, u32)]) -> Snapshot {
    Snapshot::new(
        Placement::new(profile, None).unwrap(),
        servers
            .iter()
            .map(|(s, w)| Node::new(s.as_str()).with_weight(*w)),
    )
    .unwrap()
}

/// Up to 5 examples of `(key, got, want)` for a failure message.
fn examples(v: &[(String, String, String)]) -> &[(String, String, String)] {
    &v[..v.len().min(5)]
}

/// Writes `keys` through pylibmc with `behaviors` to `servers` (with weights), reads back where
/// each one landed, and asserts: pylibmc wrote every key; each key is on exactly one server (none
/// lost, none twice), so the keys found number the keys written; every server got some;
/// ringroute's `profile` predicts the server of every key; and libmemcached's
/// `memcached_server_by_key` (the helper the 11211 test relies on) names that same server.
fn run(profile: Profile, behaviors: &str, servers: &[(&Server, u32)], keys: &[Vec<u8>]) {
    for (s, _) in servers {
        Conn::new(s.port).flush_all();
    }
    let named: Vec<(String, u32)> = servers
        .iter()
        .map(|(s, w)| (format!("127.0.0.1:{}", s.port), *w))
        .collect();
    let mut args = vec![behaviors.to_owned()];
    args.extend(named.iter().map(|(s, w)| format!("{s}:{w}")));
    let written: usize = python("pylibmc_write.py", &args, keys)
        .trim()
        .parse()
        .expect("pylibmc_write.py prints how many keys it wrote");

    let held: Vec<Vec<bool>> = servers
        .iter()
        .map(|(s, _)| Conn::new(s.port).held(keys))
        .collect();
    let per_server: Vec<usize> = held
        .iter()
        .map(|h| h.iter().filter(|&&x| x).count())
        .collect();
    let found: usize = per_server.iter().sum();
    let snap = ring(profile, &named);
    let said = libmemcached_says(behaviors, &named, keys);
    let (mut lost, mut twice) = (Vec::new(), Vec::new());
    let (mut wrong, mut lib_wrong) = (Vec::new(), Vec::new());
    for (i, k) in keys.iter().enumerate() {
        let key = String::from_utf8_lossy(k).into_owned();
        let at: Vec<usize> = (0..servers.len()).filter(|&s| held[s][i]).collect();
        match at[..] {
            [] => lost.push(key),
            [s] => {
                let want = &named[s].0;
                let got = snap.route(k).map_or("<none>", |n| n.name());
                if got != want {
                    wrong.push((key.clone(), got.to_owned(), want.clone()));
                }
                if said[i] != *want {
                    lib_wrong.push((key, said[i].clone(), want.clone()));
                }
            }
            _ => twice.push((key, at)),
        }
    }
    let what = format!("{profile} {behaviors} over {named:?}");
    assert_eq!(
        written,
        keys.len(),
        "{what}: pylibmc wrote {written} of {} keys",
        keys.len()
    );
    assert!(
        lost.is_empty() && twice.is_empty() && found == written,
        "{what}: {found} keys found for {written} written; {} on no server (e.g. {:?}), {} on more \
         than one (e.g. {:?})",
        lost.len(),
        &lost[..lost.len().min(5)],
        twice.len(),
        &twice[..twice.len().min(5)]
    );
    assert!(
        per_server.iter().all(|&n| n > 0),
        "{what}: a server got no key at all ({per_server:?} keys per server)"
    );
    assert!(
        wrong.is_empty(),
        "{what}: ringroute predicted {} of {} keys wrongly, e.g. (key, predicted, actual) {:?}",
        wrong.len(),
        keys.len(),
        examples(&wrong)
    );
    assert!(
        lib_wrong.is_empty(),
        "{what}: libmemcached_locate.py disagrees with where pylibmc wrote {} of {} keys, e.g. \
         (key, said, actual) {:?}",
        lib_wrong.len(),
        keys.len(),
        examples(&lib_wrong)
    );
}

const BEHAVIORS: [(Profile, &str); 2] = [
    (Profile::Libmemcached, r#"{"ketama_weighted": true}"#),
    (Profile::LibmemcachedKetama, r#"{"ketama": true}"#),
];

#[test]
fn libmemcached_profiles_predict_where_pylibmc_writes() {
    if !required("the libmemcached oracle (memcached + pylibmc)", true) {
        return;
    }
    let servers = start_servers(5);
    let keys = keys();
    let ones: Vec<(&Server, u32)> = servers.iter().map(|s| (s, 1)).collect();
    let mixed: Vec<(&Server, u32)> = servers.iter().zip([1, 3, 2, 1, 5]).collect();
    let three: Vec<(&Server, u32)> = servers[..3].iter().map(|s| (s, 1)).collect();
    for (profile, behaviors) in BEHAVIORS {
        run(profile, behaviors, &ones, &keys);
        run(profile, behaviors, &mixed, &keys);
        run(profile, behaviors, &three, &keys);
    }
}

/// libmemcached leaves the default port 11211 out of a server's point text (`"host-g"` instead of
/// `"host:port-g"`). Writing through a server on 127.0.0.1:11211 would need that port free, so
/// this asks libmemcached itself (`memcached_server_by_key` in the library pylibmc loads, checked
/// against real writes by the test above) where each key goes; nothing listens on, or connects
/// to, any port.
#[test]
fn default_port_11211_is_left_out_of_point_text() {
    if !required("the libmemcached 11211 point-text oracle (pylibmc)", false) {
        return;
    }
    let keys = keys();
    let with_default = |w: [u32; 3]| -> Vec<(String, u32)> {
        ["127.0.0.1:11211", "127.0.0.1:21211", "127.0.0.1:31211"]
            .iter()
            .zip(w)
            .map(|(s, w)| (s.to_string(), w))
            .collect()
    };
    for (profile, behaviors) in BEHAVIORS {
        for servers in [with_default([1, 1, 1]), with_default([2, 1, 1])] {
            let said = libmemcached_says(behaviors, &servers, &keys);
            let snap = ring(profile, &servers);
            let mut on_default = 0;
            let mut wrong = Vec::new();
            for (k, want) in keys.iter().zip(&said) {
                on_default += usize::from(want == "127.0.0.1:11211");
                let got = snap.route(k).map_or("<none>", |n| n.name());
                if got != want {
                    wrong.push((
                        String::from_utf8_lossy(k).into_owned(),
                        got.to_owned(),
                        want.clone(),
                    ));
                }
            }
            assert!(
                on_default > 0,
                "{profile} {behaviors} {servers:?}: libmemcached put no key on the 11211 server"
            );
            assert!(
                wrong.is_empty(),
                "{profile} {behaviors} {servers:?}: ringroute predicted {} of {} keys wrongly, e.g. \
                 (key, predicted, libmemcached) {:?}",
                wrong.len(),
                keys.len(),
                examples(&wrong)
            );
        }
    }
}
