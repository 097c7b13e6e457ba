//! What the command line's tests share.

use std::process::Output;

/// The one line a failing run printed, checked: exit code 1, one line on stderr, no panic,
/// nothing on stdout. `args` names the run in messages.
pub fn one_line_failure(args: &[&str], out: Output) -> String {
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.stdout.is_empty());
    err.trim_end().to_owned()
}
