//! The one error of the command line: a one-line message (exit code 1), or a closed output pipe.

use std::io;

use ringroute::membership::{Membership, MembershipError};
use ringroute::Snapshot;

/// Why a command stopped.
pub enum Failure {
    /// Bad input or an I/O error: the message is printed on one line and the exit code is 1.
    Message(String),
    /// The reader of stdout went away: stop quietly.
    BrokenPipe,
}

impl Failure {
    /// A failure with this message.
    pub fn msg(m: impl Into<String>) -> Self {
        Failure::Message(m.into())
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Failure::BrokenPipe
        } else {
            Failure::Message(e.to_string())
        }
    }
}

impl From<MembershipError> for Failure {
    fn from(e: MembershipError) -> Self {
        Failure::Message(e.to_string())
    }
}

/// Loads and builds the ring of a membership file; errors name the file.
pub fn load_ring(path: &std::path::Path) -> Result<Snapshot, Failure> {
    let m = Membership::load(path)?;
    Ok(m.snapshot().map_err(|e| e.in_file(path))?)
}
