//! A router that follows a membership in etcd and logs what it publishes: one JSON line per
//! publication, `{"revision", "revisions", "list", "fingerprint"}`, after a `{"synced": revision}`
//! line, until standard input closes. The fleet tests run it beside Python routers
//! (python/tests/etcd_follow.py prints the same lines).
//!
//! `cargo run --release -p ringroute-etcd --example follow ENDPOINTS PREFIX` (ENDPOINTS: a
//! comma-separated list of `host:port`).

use std::io::{Read, Write};
use std::time::Duration;

use ringroute::{Placement, Router};
use ringroute_etcd::EtcdMembership;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 2 {
        eprintln!("usage: follow ENDPOINTS PREFIX");
        std::process::exit(2);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| {
            eprintln!("cannot start a runtime: {e}");
            std::process::exit(1)
        });
    let membership = EtcdMembership::new(args[0].split(','), &args[1]);
    let router = Router::new(Placement::native());
    let _guard = runtime.enter();
    let (sync, log) = membership.start_with_applied(router);
    let sync = std::sync::Arc::new(sync);
    let synced = runtime.block_on(sync.wait_synced(Duration::from_secs(30)));
    let synced = synced.unwrap_or_else(|e| {
        eprintln!("follow: {e}");
        std::process::exit(1)
    });
    // Publications are printed by their own thread, in order, each as it happens; a re-list
    // says why.
    let status = std::sync::Arc::clone(&sync);
    let printer = std::thread::spawn(move || {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        let _ = writeln!(out, "{}", serde_json::json!({ "synced": synced }));
        let _ = out.flush();
        for a in log {
            let line = serde_json::json!({
                "revision": a.revision,
                "revisions": a.revisions,
                "list": a.list,
                "fingerprint": a.fingerprint,
                "error": status.status().last_error,
            });
            if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                return;
            }
        }
    });
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    drop(sync);
    drop(printer);
}
