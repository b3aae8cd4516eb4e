//! `crpack hash`: SHA-256 of files, printed exactly as `sha256sum` prints them. Several files are
//! hashed in parallel; output keeps the argument order.

use std::io::Write;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use crate::cli::Context;
use crate::digest::Sha256Digest;
use crate::error::{Error, ExitCode, Result};

#[derive(Debug, clap::Args)]
pub struct HashArgs {
    /// Files to hash; `-` or none reads standard input.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Serialize)]
struct HashedFile {
    path: String,
    size: u64,
    sha256: Sha256Digest,
}

#[derive(Debug, Serialize)]
struct HashFailure {
    path: String,
    message: String,
}

/// The bytes `sha256sum` prints for a path: names with `\`, LF or CR are escaped and the line
/// is prefixed with `\`.
pub fn sha256sum_line(digest: &Sha256Digest, path: &Path) -> Vec<u8> {
    let raw = path_bytes(path);
    let needs_escape = raw.iter().any(|b| matches!(b, b'\\' | b'\n' | b'\r'));
    let mut line = Vec::with_capacity(raw.len() + 68);
    if needs_escape {
        line.push(b'\\');
    }
    line.extend_from_slice(digest.to_hex().as_bytes());
    line.extend_from_slice(b"  ");
    for &b in &raw {
        match (needs_escape, b) {
            (true, b'\\') => line.extend_from_slice(b"\\\\"),
            (true, b'\n') => line.extend_from_slice(b"\\n"),
            (true, b'\r') => line.extend_from_slice(b"\\r"),
            _ => line.push(b),
        }
    }
    line.push(b'\n');
    line
}

#[cfg(unix)]
fn path_bytes(path: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().to_vec()
}

#[cfg(not(unix))]
fn path_bytes(path: &Path) -> Vec<u8> {
    path.to_string_lossy().into_owned().into_bytes()
}

fn hash_one(path: &Path) -> std::io::Result<(Sha256Digest, u64)> {
    if path == Path::new("-") {
        return Sha256Digest::of_reader(std::io::stdin().lock());
    }
    if std::fs::metadata(path)?.is_dir() {
        return Err(std::io::Error::other("Is a directory"));
    }
    Sha256Digest::of_file(path)
}

fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".to_string(),
        _ => e.to_string(),
    }
}

pub fn run(ctx: &Context, args: &HashArgs) -> Result<ExitCode> {
    let files: Vec<PathBuf> = if args.files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        args.files.clone()
    };
    // Standard input cannot be shared between threads; everything else runs in parallel.
    let results: Vec<std::io::Result<(Sha256Digest, u64)>> = if files.iter().any(|f| f == Path::new("-")) {
        files.iter().map(|f| hash_one(f)).collect()
    } else {
        files.par_iter().map(|f| hash_one(f)).collect()
    };
    let mut hashed = Vec::new();
    let mut failures = Vec::new();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for (path, result) in files.iter().zip(results) {
        match result {
            Ok((digest, size)) => {
                if !ctx.out.json {
                    out.write_all(&sha256sum_line(&digest, path))
                        .map_err(|e| Error::io("<stdout>", e))?;
                }
                hashed.push(HashedFile {
                    path: path.display().to_string(),
                    size,
                    sha256: digest,
                });
            }
            Err(e) => {
                let message = io_message(&e);
                ctx.out.error(format!("{}: {message}", path.display()));
                failures.push(HashFailure {
                    path: path.display().to_string(),
                    message,
                });
            }
        }
    }
    drop(out);
    ctx.out.json(&serde_json::json!({
        "ok": failures.is_empty(),
        "files": hashed,
        "errors": failures,
    }));
    Ok(if failures.is_empty() {
        ExitCode::Success
    } else {
        ExitCode::Error
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_match_sha256sum_escaping() {
        let d = Sha256Digest::of(b"x");
        let hex = d.to_hex();
        assert_eq!(
            sha256sum_line(&d, Path::new("a b")),
            format!("{hex}  a b\n").into_bytes()
        );
        assert_eq!(
            sha256sum_line(&d, Path::new("a\\b")),
            format!("\\{hex}  a\\\\b\n").into_bytes()
        );
        assert_eq!(
            sha256sum_line(&d, Path::new("n\nl")),
            format!("\\{hex}  n\\nl\n").into_bytes()
        );
        assert_eq!(
            sha256sum_line(&d, Path::new("c\rr")),
            format!("\\{hex}  c\\rr\n").into_bytes()
        );
    }
}
