//! A session-affinity reverse proxy on pingora, picking backends with ringroute.
//!
//! ```text
//! cargo run --release -p ringroute-pingora --example affinity_proxy -- \
//!     --backends backends.json --listen 127.0.0.1:6188 --affinity header:x-session
//! ```
//!
//! `backends.json` is a list of addresses (`["127.0.0.1:8001", "127.0.0.1:8002"]`) or a node list
//! (`{"nodes": [{"name": "a", "hostname": "127.0.0.1", "port": 8001, "weight": 1}]}`). Requests
//! with the same session key (`header:NAME`, `cookie:NAME` or `client`) go to the same backend
//! while it is healthy; pingora's TCP health check probes every backend each
//! `--health-interval-ms`. `--bounded 1.25` caps each backend at 1.25 times its share of the
//! requests in flight. `--selection ketama` runs the same proxy with pingora's `KetamaHashing`.
//! Stops on SIGINT or SIGTERM.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use pingora_load_balancing::selection::consistent::{KetamaConfig, KetamaHashing};
use ringroute::Placement;
use ringroute_pingora::proxy::{self, Affinity, ProxySettings};
use ringroute_pingora::{MaglevConfig, MaglevSelection, RingConfig, RingSelection};

#[derive(Clone, Copy, ValueEnum)]
enum Selection {
    /// ringroute's ring (`--profile`, default nginx: the same backends as ketama).
    Ring,
    /// ringroute's Envoy-exact Maglev table (`--table-size`).
    Maglev,
    /// pingora's own KetamaHashing.
    Ketama,
}

#[derive(Parser)]
#[command(about = "A session-affinity reverse proxy on pingora, picking backends with ringroute")]
struct Args {
    /// The backends file (JSON).
    #[arg(long)]
    backends: PathBuf,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:6188")]
    listen: String,
    /// What requests stick by: `header:NAME`, `cookie:NAME` or `client`.
    #[arg(long, default_value = "header:x-session")]
    affinity: Affinity,
    /// The backend selection.
    #[arg(long, value_enum, default_value = "ring")]
    selection: Selection,
    /// The ring's ringroute profile (`--selection ring`).
    #[arg(long, default_value = "nginx")]
    profile: String,
    /// The Maglev table size, a prime (`--selection maglev`).
    #[arg(long, default_value_t = 65_537)]
    table_size: u64,
    /// Bounded loads with this balance factor (above 1; ring and maglev only).
    #[arg(long)]
    bounded: Option<f64>,
    /// Milliseconds between health checks of each backend.
    #[arg(long, default_value_t = 1000)]
    health_interval_ms: u64,
    /// How many backends of a key's walk to try.
    #[arg(long, default_value_t = 16)]
    max_iterations: usize,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let backends = proxy::load_backends(&args.backends)?;
    let settings = ProxySettings {
        listen: args.listen.clone(),
        affinity: args.affinity.clone(),
        health_check_interval: Duration::from_millis(args.health_interval_ms),
        max_iterations: args.max_iterations,
        threads: args.threads,
    };
    let stop: Box<dyn FnOnce()> = match args.selection {
        Selection::Ring => {
            let mut config = RingConfig::new(Placement::from_name(&args.profile, None)?);
            if let Some(f) = args.bounded {
                config = config.with_bounded_loads(f)?;
            }
            let bounded = config.bounded_loads();
            let p = proxy::start::<RingSelection>(settings, backends, Some(config), bounded)?;
            Box::new(move || p.stop())
        }
        Selection::Maglev => {
            let mut config = MaglevConfig::new(args.table_size)?;
            if let Some(f) = args.bounded {
                config = config.with_bounded_loads(f)?;
            }
            let bounded = config.bounded_loads();
            let p = proxy::start::<MaglevSelection>(settings, backends, Some(config), bounded)?;
            Box::new(move || p.stop())
        }
        Selection::Ketama => {
            if args.bounded.is_some() {
                return Err("--bounded needs --selection ring or maglev".into());
            }
            let config = KetamaConfig::default();
            let p = proxy::start::<KetamaHashing>(settings, backends, Some(config), None)?;
            Box::new(move || p.stop())
        }
    };
    eprintln!(
        "affinity_proxy: listening on {} ({})",
        args.listen, args.affinity
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    })?;
    stop();
    Ok(())
}
