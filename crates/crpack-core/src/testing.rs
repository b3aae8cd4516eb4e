//! Helpers shared by the unit tests.

use std::ffi::OsStr;
use std::process::Command;

/// Runs `python3 -c SCRIPT ARGS…` and returns what it printed. Python (its `tarfile`, `gzip`,
/// pip's marker code) is the independent judge several tests check crpack's output against, so
/// a missing python3, or a script that fails, fails the test with its stderr.
pub(crate) fn python3<I, S>(script: &str, args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 is needed to check what crpack wrote: install it (apt-get install python3)");
    assert!(
        out.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
