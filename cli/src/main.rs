//! `ringroute`: route keys and measure memberships from the command line.
//!
//! Every command reads membership files (JSON or TOML, see `ringroute::membership`). Exit codes: 0
//! on success, 1 for bad input (one line on stderr, never a panic trace).

mod alloc;
mod diff;
mod dist;
mod fail;
mod plot;
mod route;
mod table;
mod tune;
#[cfg(feature = "watch")]
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use fail::Failure;

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

/// Consistent-hash routing from membership files: route keys, and see each node's exact share, what
/// a membership change moves, and how many virtual nodes a balance bound needs.
#[derive(Parser)]
#[command(
    name = "ringroute",
    version,
    after_help = "Example:\n  ringroute dist -m ring.json"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Route keys (from the arguments, or one per line on stdin) and print `key<TAB>node`.
    #[command(
        after_help = "Examples:\n  ringroute route -m ring.json user:1 user:2\n  \
        ringroute route -m ring.json --replicas 2 < keys.txt > routes.tsv"
    )]
    Route(route::Args),
    /// Each node's exact share of the key space against its weight's, and the imbalance.
    #[command(after_help = "Example:\n  ringroute dist -m ring.json --json")]
    Dist(dist::Args),
    /// What changes owner between two memberships: the moved share, per node and from -> to.
    #[command(after_help = "Example:\n  ringroute diff before.json after.json")]
    Diff(diff::Args),
    /// The smallest virtual_nodes that keeps the imbalance under a bound, for this membership.
    #[command(after_help = "Example:\n  ringroute tune -m ring.json --max-imbalance 1.05")]
    Tune(tune::Args),
    /// Follow a membership held in etcd: one line per change with what moved, and the ring's
    /// Prometheus metrics.
    #[cfg(feature = "watch")]
    #[command(
        after_help = "Example:\n  ringroute watch --etcd 127.0.0.1:2379 --prefix /ringroute/cache \
        --metrics 127.0.0.1:9464\n\n\
        Each publication of the ring prints one line: the etcd revision it reflects, the ring's \
        version, the nodes added, removed and reweighted, and the exact share of the key space \
        that changed owner (moved=). Stops on ctrl-c or SIGTERM (exit 0)."
    )]
    Watch(watch::Args),
}

/// The membership file argument shared by the commands that read one.
#[derive(clap::Args)]
struct MembershipArg {
    /// The membership file (JSON, or TOML if its name ends in .toml).
    #[arg(short = 'm', long = "membership", value_name = "FILE")]
    file: PathBuf,
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Route(a) => route::run(a),
        Command::Dist(a) => dist::run(a),
        Command::Diff(a) => diff::run(a),
        Command::Tune(a) => tune::run(a),
        #[cfg(feature = "watch")]
        Command::Watch(a) => watch::run(a),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version: print them as clap would, and succeed.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // clap's message up to its usage block, on one line.
            let text = e.render().to_string();
            let words: Vec<&str> = text
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            eprintln!(
                "ringroute: {}",
                words.join(" ").trim_start_matches("error: ")
            );
            return ExitCode::FAILURE;
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that went away (`ringroute route ... | head`) is not an error.
        Err(Failure::BrokenPipe) => ExitCode::SUCCESS,
        Err(Failure::Message(m)) => {
            eprintln!("ringroute: {}", m.replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}
