//! `ringroute-etcd-register ENDPOINTS PREFIX NAME TTL_SECONDS [WEIGHT]`: registers node NAME under
//! a lease of TTL_SECONDS and keeps it alive until standard input closes (then deregisters) or the
//! process dies (then the lease expires). Prints `registered <key> lease <id>` once registered.
//! ENDPOINTS is a comma-separated list of `host:port`.

use std::io::Read;
use std::time::Duration;

use ringroute::membership::NodeRecord;
use ringroute_etcd::EtcdMembership;

fn usage() -> ! {
    eprintln!("usage: ringroute-etcd-register ENDPOINTS PREFIX NAME TTL_SECONDS [WEIGHT]");
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 || args.len() > 5 {
        usage();
    }
    let ttl: u64 = args[3].parse().unwrap_or_else(|_| usage());
    let weight: Option<u32> = args.get(4).map(|w| w.parse().unwrap_or_else(|_| usage()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| {
            eprintln!("cannot start a runtime: {e}");
            std::process::exit(1)
        });
    let result = runtime.block_on(async {
        let membership = EtcdMembership::new(args[0].split(','), &args[1]);
        let record = NodeRecord {
            weight,
            ..NodeRecord::default()
        };
        let registration = membership
            .register(&args[2], &record, Duration::from_secs(ttl))
            .await?;
        println!(
            "registered {} lease {}",
            registration.key(),
            registration.lease_id()
        );
        // Until standard input closes.
        tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
        })
        .await
        .ok();
        registration.close().await
    });
    if let Err(e) = result {
        eprintln!("ringroute-etcd-register: {e}");
        std::process::exit(1);
    }
}
