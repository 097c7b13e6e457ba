//! `ringroute watch`: follows a membership held in etcd (through `ringroute-etcd`), prints one line
//! per publication of the ring with the etcd revision and what moved, and serves the ring's
//! Prometheus metrics (through `ringroute-prometheus`) while it runs.

mod line;
mod notice;
mod serve;

use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use prometheus_client::registry::Registry;
use ringroute::membership::RingConfig;
use ringroute::{ChangeEvent, Placement, Router};
use ringroute_etcd::{Applied, EtcdError, EtcdMembership};
use ringroute_prometheus::RingCollector;

use crate::fail::Failure;
use notice::Notice;

/// Arguments of `watch`.
#[derive(clap::Args)]
pub struct Args {
    /// etcd endpoints, comma-separated: `host:port` or `http://host:port`.
    #[arg(
        long = "etcd",
        value_name = "ENDPOINTS",
        value_delimiter = ',',
        required = true
    )]
    endpoints: Vec<String>,
    /// The membership's key prefix: node records under `P/nodes/<name>`, health under
    /// `P/health/<name>`, the ring's placement at `P/config`.
    #[arg(long, value_name = "P")]
    prefix: String,
    /// Serve Prometheus metrics at `http://ADDR/metrics` (e.g. 127.0.0.1:9464).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// The `ring` label of the metrics [default: the prefix's last segment].
    #[arg(long, value_name = "NAME")]
    ring: Option<String>,
    /// Give up (exit 1) when etcd cannot be reached within SECS at start [default: keep
    /// retrying].
    #[arg(long, value_name = "SECS", value_parser = seconds)]
    timeout: Option<Duration>,
}

/// A positive number of seconds.
fn seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if secs.is_finite() && secs > 0.0 && secs < 1e9 {
        Ok(Duration::from_secs_f64(secs))
    } else {
        Err(format!("{s} is not a positive number of seconds"))
    }
}

/// Checks one endpoint: `host:port` or `http://host:port`.
fn check_endpoint(e: &str) -> Result<(), String> {
    if e.starts_with("https://") {
        return Err(format!("etcd endpoint {e:?}: TLS (https) is not supported"));
    }
    let rest = e.strip_prefix("http://").unwrap_or(e).trim_end_matches('/');
    let bad = |why: &str| format!("etcd endpoint {e:?}: {why}");
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| bad("expected host:port"))?;
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || "/@?#".contains(c)) {
        return Err(bad("expected host:port"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(bad("the port is not a number from 1 to 65535")),
    }
}

/// Checks the prefix: some key path, without control characters.
fn check_prefix(p: &str) -> Result<(), String> {
    if p.trim_matches('/').is_empty() {
        return Err(format!(
            "--prefix {p:?}: give the membership's key prefix, such as /ringroute/cache"
        ));
    }
    if p.contains(char::is_control) {
        return Err(format!("--prefix {p:?}: control characters in the prefix"));
    }
    Ok(())
}

/// Runs `ringroute watch` until SIGINT or SIGTERM.
pub fn run(a: Args) -> Result<(), Failure> {
    for e in &a.endpoints {
        check_endpoint(e).map_err(Failure::msg)?;
    }
    check_prefix(&a.prefix).map_err(Failure::msg)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = rt.block_on(watch(a));
    rt.shutdown_timeout(Duration::from_millis(500));
    result
}

async fn watch(a: Args) -> Result<(), Failure> {
    let listener = match a.metrics {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| Failure::msg(format!("--metrics {addr}: {e}")))?,
        ),
        None => None,
    };
    let membership = EtcdMembership::new(&a.endpoints, &a.prefix);
    let mut notice = Notice::new(a.endpoints.join(","), a.prefix.clone());
    let mut stop = Box::pin(signalled()?);
    let placement = tokio::select! {
        p = placement(&membership, a.timeout, &mut notice) => p?,
        () = &mut stop => return Ok(()),
    };
    let router = Router::new(placement);
    let events = router.subscribe();
    let mut server = None;
    if let Some(listener) = listener {
        let ring = a.ring.clone().unwrap_or_else(|| ring_label(&a.prefix));
        let mut registry = Registry::default();
        registry.register_collector(Box::new(RingCollector::new(router.clone(), ring)));
        let addr = listener.local_addr()?;
        eprintln!("ringroute: metrics at http://{addr}/metrics");
        server = Some(tokio::spawn(serve::serve(listener, registry)));
    }
    let (sync, applied) = membership.start_with_applied(router.clone());
    let nodes = router.load().len();
    let (done_tx, mut done) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(print_lines(&applied, &events, nodes));
    });
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let server_ended = async {
        match server {
            Some(task) => task.await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(server_ended);
    loop {
        tokio::select! {
            () = &mut stop => break,
            r = &mut done => {
                sync.stop();
                return r.unwrap_or(Ok(()));
            }
            _ = tick.tick() => notice.status(&sync.status()),
            r = &mut server_ended => {
                let why = match r {
                    Ok(Ok(())) => "stopped".to_owned(),
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => e.to_string(),
                };
                return Err(Failure::msg(format!("metrics endpoint: {why}")));
            }
        }
    }
    sync.stop();
    Ok(())
}

/// Resolves on SIGINT (ctrl-c) or SIGTERM.
fn signalled() -> io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// The metrics' default `ring` label: the prefix's last segment (`/ringroute/cache` → `cache`).
fn ring_label(prefix: &str) -> String {
    let p = prefix.trim_end_matches('/');
    p.rsplit('/').next().unwrap_or(p).to_owned()
}

/// The placement `P/config` names (the native one when there is none, or when it does not decode,
/// as the sync then skips it too), retrying until etcd answers or `timeout` has passed.
async fn placement(
    membership: &EtcdMembership,
    timeout: Option<Duration>,
    notice: &mut Notice,
) -> Result<Placement, Failure> {
    let start = Instant::now();
    let mut wait = Duration::from_millis(50);
    // The last error etcd gave, for the message when the time is up.
    let mut last: Option<String> = None;
    loop {
        let left = timeout.map(|t| t.saturating_sub(start.elapsed()));
        let attempt = read_config(membership);
        let result = match left {
            Some(left) => tokio::time::timeout(left, attempt)
                .await
                .unwrap_or(Err(EtcdError::Timeout(left))),
            None => attempt.await,
        };
        let err = match result {
            Ok(None) => return Ok(Placement::native()),
            Ok(Some(value)) => return Ok(config_placement(membership, &value, notice)),
            Err(EtcdError::Timeout(_)) if last.is_some() => last.clone().unwrap_or_default(),
            Err(e) => notice::brief(&e.to_string()).to_owned(),
        };
        if let Some(t) = timeout.filter(|&t| start.elapsed() >= t) {
            return Err(Failure::msg(format!(
                "etcd at {} not reachable within {}s: {err}",
                notice.endpoints(),
                t.as_secs_f64()
            )));
        }
        last = Some(err.clone());
        notice.unreachable(&err);
        let nap = match timeout {
            Some(t) => wait.min(t.saturating_sub(start.elapsed())),
            None => wait,
        };
        tokio::time::sleep(nap).await;
        wait = (wait * 2).min(Duration::from_secs(2));
    }
}

/// The value of `P/config`, if any.
async fn read_config(membership: &EtcdMembership) -> Result<Option<Vec<u8>>, EtcdError> {
    let mut client = membership.connect().await?;
    let resp = client.get(membership.layout().config_key(), None).await?;
    Ok(resp.kvs().first().map(|kv| kv.value().to_vec()))
}

/// The placement a config value names; the native one (said on stderr) when it does not decode.
fn config_placement(membership: &EtcdMembership, value: &[u8], notice: &Notice) -> Placement {
    let decoded = match serde_json::from_slice::<serde_json::Value>(value) {
        Ok(serde_json::Value::Object(map)) => RingConfig::from_json(&map)
            .and_then(|c| c.placement())
            .map_err(|e| e.to_string()),
        Ok(other) => Err(format!("expected a JSON object, got {other}")),
        Err(e) => Err(e.to_string()),
    };
    decoded.unwrap_or_else(|e| {
        notice.say(&format!(
            "{} skipped ({e}): using the native placement",
            membership.layout().config_key()
        ));
        Placement::native()
    })
}

/// Prints one line per publication, in order, until the sync ends or stdout is closed (a closed
/// stdout ends the command quietly, as `route` does).
fn print_lines(
    applied: &mpsc::Receiver<Applied>,
    events: &mpsc::Receiver<Arc<ChangeEvent>>,
    mut nodes: usize,
) -> Result<(), Failure> {
    let mut held: Option<Arc<ChangeEvent>> = None;
    let stdout = io::stdout();
    for a in applied {
        // The router sends a publication's event before the sync reports the publication, and
        // a publication that changed nothing sends none.
        let mut event = None;
        loop {
            let next = match held.take() {
                Some(e) => e,
                None => match events.try_recv() {
                    Ok(e) => e,
                    Err(_) => break,
                },
            };
            if next.version > a.version {
                held = Some(next);
                break;
            }
            if next.version == a.version {
                event = Some(next);
                break;
            }
        }
        if let Some(e) = &event {
            nodes = nodes + e.added.len() - e.removed.len();
        }
        let text = line::format(&a, event.as_deref(), nodes);
        let mut out = stdout.lock();
        match writeln!(out, "{text}").and_then(|()| out.flush()) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_host_and_port() {
        for ok in [
            "127.0.0.1:2379",
            "http://etcd-1:2379",
            "[::1]:2379",
            "http://10.0.0.1:1/",
        ] {
            assert_eq!(check_endpoint(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "127.0.0.1",
            "127.0.0.1:0",
            "127.0.0.1:65536",
            ":2379",
            "https://etcd:2379",
            "user@etcd:2379",
            "etcd:2379/x",
            "et cd:2379",
        ] {
            assert!(check_endpoint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prefixes_and_ring_labels() {
        assert!(check_prefix("/ringroute/cache").is_ok());
        assert!(check_prefix("cache").is_ok());
        for bad in ["", "/", "//", "/a\nb"] {
            assert!(check_prefix(bad).is_err(), "{bad:?}");
        }
        assert_eq!(ring_label("/ringroute/cache/"), "cache");
        assert_eq!(ring_label("cache"), "cache");
        assert_eq!(seconds("1.5"), Ok(Duration::from_millis(1500)));
        assert!(seconds("0").is_err() && seconds("x").is_err() && seconds("inf").is_err());
    }
}
