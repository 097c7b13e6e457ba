//! `ringroute route`: keys in, `key<TAB>node` out, in batches with buffered I/O.

use std::io::{self, IsTerminal, Read, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ringroute::{NodeId, Snapshot, NO_OWNER};

use crate::fail::{load_ring, Failure};
use crate::MembershipArg;

/// Arguments of `route`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    membership: MembershipArg,
    /// Print the first N distinct nodes of each key's walk (the owner first), comma-separated.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    replicas: Option<u32>,
    /// Keys to route; when none are given, one key per line is read from stdin (a trailing `\r`
    /// is dropped).
    keys: Vec<String>,
}

/// Bytes read from stdin at a time; every complete line of a block is routed in one batch.
const BLOCK: usize = 1 << 20;

/// Routes keys and writes their lines into an output buffer.
struct Router<'s> {
    snap: &'s Snapshot,
    /// Each node's name, by id.
    names: Vec<Vec<u8>>,
    replicas: Option<usize>,
    ids: Vec<u32>,
    walk: Vec<NodeId>,
    out: Vec<u8>,
}

impl<'s> Router<'s> {
    fn new(snap: &'s Snapshot, replicas: Option<u32>) -> Self {
        Self {
            snap,
            names: snap.nodes().map(|n| n.name().as_bytes().to_vec()).collect(),
            replicas: replicas.map(|r| r as usize),
            ids: Vec::new(),
            walk: Vec::new(),
            out: Vec::with_capacity(BLOCK * 2),
        }
    }

    /// Routes `keys` and appends their lines to the output buffer.
    fn route(&mut self, keys: &[&[u8]]) -> Result<(), Failure> {
        if let Some(n) = self.replicas {
            for key in keys {
                let pos = self.snap.key_hash_wide(key);
                self.snap.replicas_wide_into(pos, n, &mut self.walk);
                self.out.extend_from_slice(key);
                self.out.push(b'\t');
                for (i, id) in self.walk.iter().enumerate() {
                    if i > 0 {
                        self.out.push(b',');
                    }
                    self.out.extend_from_slice(&self.names[id.index()]);
                }
                self.out.push(b'\n');
            }
            return Ok(());
        }
        self.ids.clear();
        self.ids.resize(keys.len(), NO_OWNER);
        self.snap
            .route_batch(keys, &mut self.ids)
            .map_err(|e| Failure::msg(e.to_string()))?;
        for (key, &id) in keys.iter().zip(&self.ids) {
            self.out.extend_from_slice(key);
            self.out.push(b'\t');
            if let Some(name) = self.names.get(id as usize) {
                self.out.extend_from_slice(name);
            }
            self.out.push(b'\n');
        }
        Ok(())
    }

    /// Writes the output buffer out and empties it.
    fn flush(&mut self, w: &mut impl Write) -> Result<(), Failure> {
        w.write_all(&self.out)?;
        self.out.clear();
        Ok(())
    }
}

/// The lines of `block` (which ends with a newline, or is the input's last line), each without
/// its newline and a trailing `\r`.
fn lines(block: &[u8]) -> Vec<&[u8]> {
    let mut keys = Vec::with_capacity(block.len() / 16);
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', block) {
        keys.push(strip_cr(&block[start..end]));
        start = end + 1;
    }
    if start < block.len() {
        keys.push(strip_cr(&block[start..]));
    }
    keys
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Runs `ringroute route`.
pub fn run(a: Args) -> Result<(), Failure> {
    let snap = load_ring(&a.membership.file)?;
    if snap.point_count() == 0 {
        return Err(Failure::msg(format!(
            "{}: no node owns keys (the membership is empty or every weight is 0)",
            a.membership.file.display()
        )));
    }
    let mut router = Router::new(&snap, a.replicas);
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if !a.keys.is_empty() {
        let keys: Vec<&[u8]> = a.keys.iter().map(|k| k.as_bytes()).collect();
        router.route(&keys)?;
        return router.flush(&mut out);
    }
    let progress = if io::stderr().is_terminal() {
        let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        pb.set_style(
            ProgressStyle::with_template("{spinner} {human_pos} keys routed ({per_sec})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        Some(pb)
    } else {
        None
    };
    let mut stdin = io::stdin().lock();
    let mut buf = vec![0u8; BLOCK];
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            // One line longer than the buffer: make room for it.
            buf.resize(buf.len() * 2, 0);
        }
        let n = match stdin.read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        let end = if n == 0 {
            filled
        } else {
            filled += n;
            match memchr::memrchr(b'\n', &buf[..filled]) {
                Some(i) => i + 1,
                None => continue,
            }
        };
        let keys = lines(&buf[..end]);
        router.route(&keys)?;
        router.flush(&mut out)?;
        if let Some(pb) = &progress {
            pb.inc(keys.len() as u64);
        }
        buf.copy_within(end..filled, 0);
        filled -= end;
        if n == 0 {
            break;
        }
    }
    if let Some(pb) = progress {
        pb.finish_and_clear();
    }
    out.flush()?;
    Ok(())
}
