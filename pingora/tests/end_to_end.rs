//! The affinity proxy end to end on loopback: five real HTTP backends (each answers with its own
//! name), the proxy in front of them with pingora's health checks, and 10,000 sessions of several
//! requests each. Sessions stick; a killed backend's sessions (and only those) move to the next
//! backend of their walk and come back when it restarts; with bounded loads, a hot session key is
//! spread so that no backend serves more than its bound. Everything is stopped at the end.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pingora_load_balancing::selection::BackendSelection;
use pingora_load_balancing::Backend;
use ringroute::Snapshot;
use ringroute_pingora::proxy::{self, Affinity, ProxySettings, RunningProxy};
use ringroute_pingora::{Ring, RingConfig, RingSelection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const SESSIONS: usize = 10_000;
const REQUESTS_PER_SESSION: usize = 3;
const CLIENTS: usize = 64;
const TIMEOUT: Duration = Duration::from_secs(10);

/// One HTTP/1.1 backend on 127.0.0.1: answers every request with its name, holding the answer
/// `x-hold-ms` milliseconds if asked; counts its requests in flight and their maximum.
struct TestBackend {
    name: String,
    addr: SocketAddr,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
}

impl TestBackend {
    async fn start(name: &str, addr: SocketAddr) -> Self {
        let listener = TcpListener::bind(addr).await.expect("bind a backend");
        let b = TestBackend {
            name: name.to_owned(),
            addr: listener.local_addr().unwrap(),
            tasks: Arc::default(),
            in_flight: Arc::default(),
            max_in_flight: Arc::default(),
        };
        b.serve(listener);
        b
    }

    fn serve(&self, listener: TcpListener) {
        let (name, tasks) = (self.name.clone(), Arc::clone(&self.tasks));
        let (in_flight, max) = (Arc::clone(&self.in_flight), Arc::clone(&self.max_in_flight));
        let tasks2 = Arc::clone(&tasks);
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let conn = tokio::spawn(handle(
                    stream,
                    name.clone(),
                    Arc::clone(&in_flight),
                    Arc::clone(&max),
                ));
                tasks2.lock().unwrap().push(conn);
            }
        });
        tasks.lock().unwrap().push(accept);
    }

    /// Closes the listener and every connection, as a crashed process would.
    fn kill(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    async fn restart(&self) {
        let deadline = Instant::now() + TIMEOUT;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("rebinding {}: {e}", self.addr),
            }
        };
        self.serve(listener);
    }

    fn backend(&self) -> Backend {
        Backend::new(&self.addr.to_string()).unwrap()
    }
}

async fn handle(
    mut stream: TcpStream,
    name: String,
    in_flight: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
) {
    let mut buf = Vec::with_capacity(1024);
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        let (used, hold) = match req.parse(&buf) {
            Ok(httparse::Status::Complete(n)) => {
                let hold = req
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("x-hold-ms"))
                    .and_then(|h| std::str::from_utf8(h.value).ok()?.parse::<u64>().ok());
                (n, hold)
            }
            Ok(httparse::Status::Partial) => {
                let mut chunk = [0u8; 4096];
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
                continue;
            }
            Err(_) => return,
        };
        buf.drain(..used);
        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        max.fetch_max(now, Ordering::SeqCst);
        if let Some(ms) = hold {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        in_flight.fetch_sub(1, Ordering::SeqCst);
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{name}",
            name.len()
        );
        if stream.write_all(resp.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// A keep-alive client connection to the proxy.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Self {
        let stream = tokio::time::timeout(TIMEOUT, TcpStream::connect(addr))
            .await
            .unwrap()
            .unwrap();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    /// GET / with the session header; the status and body of the answer.
    async fn get(&mut self, session: &str, hold_ms: Option<u64>) -> (u16, String) {
        tokio::time::timeout(TIMEOUT, self.get_inner(session, hold_ms))
            .await
            .expect("the proxy answers in time")
    }

    async fn get_inner(&mut self, session: &str, hold_ms: Option<u64>) -> (u16, String) {
        let hold = hold_ms
            .map(|ms| format!("x-hold-ms: {ms}\r\n"))
            .unwrap_or_default();
        let req = format!("GET / HTTP/1.1\r\nhost: test\r\nx-session: {session}\r\n{hold}\r\n");
        self.stream.write_all(req.as_bytes()).await.unwrap();
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut resp = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(n) = resp.parse(&self.buf).unwrap() {
                let len: usize = resp
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .map(|h| {
                        std::str::from_utf8(h.value)
                            .unwrap()
                            .trim()
                            .parse()
                            .unwrap()
                    })
                    .unwrap_or(0);
                let code = resp.code.unwrap();
                if self.buf.len() >= n + len {
                    let body = String::from_utf8(self.buf[n..n + len].to_vec()).unwrap();
                    self.buf.drain(..n + len);
                    return (code, body);
                }
            }
            let mut chunk = [0u8; 4096];
            let got = self.stream.read(&mut chunk).await.unwrap();
            assert!(got > 0, "the proxy closed the connection");
            self.buf.extend_from_slice(&chunk[..got]);
        }
    }
}

/// Every session's backend: `sessions` sessions of `REQUESTS_PER_SESSION` requests each, from
/// `clients` keep-alive connections; asserts that each session's requests all reach one backend.
async fn run_sessions(proxy: SocketAddr, sessions: usize, clients: usize) -> Vec<String> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..clients {
        let next = Arc::clone(&next);
        workers.push(tokio::spawn(async move {
            let mut client = Client::connect(proxy).await;
            let mut seen = Vec::new();
            loop {
                let s = next.fetch_add(1, Ordering::Relaxed);
                if s >= sessions {
                    return seen;
                }
                let session = format!("session-{s}");
                let (code, first) = client.get(&session, None).await;
                assert_eq!(code, 200, "{session}: {first}");
                for _ in 1..REQUESTS_PER_SESSION {
                    let (code, again) = client.get(&session, None).await;
                    assert_eq!(
                        (code, again.as_str()),
                        (200, first.as_str()),
                        "{session} moved mid-session"
                    );
                }
                seen.push((s, first));
            }
        }));
    }
    let mut out = vec![String::new(); sessions];
    for w in workers {
        for (s, name) in w.await.unwrap() {
            out[s] = name;
        }
    }
    out
}

/// The backend names of `key`'s walk in an nginx ring of `backends` (the ring `RingSelection`
/// builds; `tests/selection.rs` checks it against pingora's `KetamaHashing`).
fn walk_names(ring: &Snapshot, names: &HashMap<String, String>, key: &str) -> Vec<String> {
    ring.replicas(key, ring.len())
        .into_iter()
        .map(|id| names[ring.node(id).unwrap().name()].clone())
        .collect()
}

fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

async fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn start_proxy(
    listen: SocketAddr,
    backends: &[TestBackend],
    config: RingConfig,
) -> RunningProxy<RingSelection> {
    let settings = ProxySettings {
        listen: listen.to_string(),
        affinity: Affinity::Header("x-session".into()),
        health_check_interval: Duration::from_millis(100),
        max_iterations: backends.len(),
        threads: 2,
    };
    let set: BTreeSet<Backend> = backends.iter().map(TestBackend::backend).collect();
    let bounded = config.bounded_loads();
    proxy::start::<RingSelection>(settings, set, Some(config), bounded).expect("the proxy starts")
}

async fn wait_listening(addr: SocketAddr) {
    let deadline = Instant::now() + TIMEOUT;
    while TcpStream::connect(addr).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "the proxy does not listen on {addr}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `n` concurrent requests for one session key, each held `hold_ms` by its backend.
async fn hot_burst(proxy: SocketAddr, n: usize, hold_ms: u64) -> HashMap<String, usize> {
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let mut tasks = Vec::new();
    for _ in 0..n {
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(proxy).await;
            barrier.wait().await;
            client.get("hot", Some(hold_ms)).await
        }));
    }
    let mut by_backend = HashMap::new();
    for t in tasks {
        let (code, name) = t.await.unwrap();
        assert_eq!(code, 200);
        *by_backend.entry(name).or_insert(0) += 1;
    }
    by_backend
}

#[test]
fn sessions_stick_move_with_their_backend_and_come_back() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut backends = Vec::new();
        for i in 0..5 {
            backends.push(
                TestBackend::start(&format!("backend-{i}"), "127.0.0.1:0".parse().unwrap()).await,
            );
        }
        let names: HashMap<String, String> = backends
            .iter()
            .map(|b| (b.addr.to_string(), b.name.clone()))
            .collect();
        let ring = RingSelection::build(&backends.iter().map(TestBackend::backend).collect());
        let ring = ring.snapshot();

        let listen = free_addr();
        let proxy = start_proxy(listen, &backends, RingConfig::default());
        wait_listening(listen).await;

        // Every session sticks, to its key's owner.
        let before = run_sessions(listen, SESSIONS, CLIENTS).await;
        for (s, got) in before.iter().enumerate() {
            assert_eq!(
                got,
                &walk_names(ring, &names, &format!("session-{s}"))[0],
                "session-{s}"
            );
        }
        let victim = &backends[2];
        let victims = before.iter().filter(|b| **b == victim.name).count();
        assert!(victims > 0 && victims < SESSIONS);

        // Kill one: once the health check sees it down, only its sessions move, each to the next
        // backend of its walk.
        victim.kill();
        let lb = proxy.lb();
        wait_for("the health check to see the backend down", || {
            !lb.backends().ready(&victim.backend())
        })
        .await;
        let during = run_sessions(listen, SESSIONS, CLIENTS).await;
        for (s, (was, now)) in before.iter().zip(&during).enumerate() {
            if *was == victim.name {
                let walk = walk_names(ring, &names, &format!("session-{s}"));
                assert_eq!(
                    now, &walk[1],
                    "session-{s} goes to the next backend of its walk"
                );
            } else {
                assert_eq!(now, was, "session-{s} keeps its backend");
            }
        }

        // Restart it: its sessions come back.
        victim.restart().await;
        wait_for("the health check to see the backend up", || {
            lb.backends().ready(&victim.backend())
        })
        .await;
        let after = run_sessions(listen, SESSIONS, CLIENTS).await;
        assert_eq!(after, before);

        // Without bounded loads, a hot key's concurrent requests all go to its owner.
        let hot_owner = walk_names(ring, &names, "hot")[0].clone();
        let burst = hot_burst(listen, 40, 100).await;
        assert_eq!(burst, HashMap::from([(hot_owner, 40)]));
        proxy.stop();

        // With bounded loads (factor 1.25), the same burst is spread: no backend holds more than
        // ceil(1.25 · 40 · 1/5) = 10 at once (plus one per proxy thread racing for the same room).
        for b in &backends {
            b.max_in_flight.store(0, Ordering::SeqCst);
        }
        let listen = free_addr();
        let config = RingConfig::default().with_bounded_loads(1.25).unwrap();
        let proxy = start_proxy(listen, &backends, config);
        wait_listening(listen).await;
        let burst = hot_burst(listen, 40, 100).await;
        assert!(burst.len() >= 4, "the hot key is spread: {burst:?}");
        let bound = (1.25f64 * 40.0 / 5.0).ceil() as usize + 2;
        for b in &backends {
            let max = b.max_in_flight.load(Ordering::SeqCst);
            assert!(
                max <= bound,
                "{} held {max} requests at once (bound {bound})",
                b.name
            );
        }
        let bounded = proxy.bounded().unwrap().clone();
        wait_for("the leases to be released", || bounded.in_flight() == 0).await;
        // Under bounded loads a session stays with its owner while the owner has room: always,
        // one request at a time (with 64 at once, an owner above ceil(1.25 · 65 / 5) = 17 sends
        // the next one on, as it should).
        let sticky = run_sessions(listen, 1000, 1).await;
        assert_eq!(sticky, before[..1000]);

        proxy.stop();
        for b in &backends {
            b.kill();
        }
    });
}
