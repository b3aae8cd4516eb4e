//! `crpack hash`: SHA-256 of files, printed exactly as `sha256sum` prints them. Several files are
//! hashed in parallel; output keeps the argument order.

use std::io::Write;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use crate::cli::Context;
use crate::error::{Error, Result};
use crpack_core::digest::Sha256Digest;
use crpack_core::error::ExitCode;

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

/// The line `sha256sum` prints for a path, made safe for a terminal. `sha256sum` marks a line
/// whose name it escaped with a leading `\`, and escapes `\` as `\\`, LF as `\n` and CR as `\r`;
/// crpack does the same, and on such a line also shows every other control or format character
/// (bidirectional overrides, zero-width characters, terminal escapes; not the tab), which
/// `sha256sum` prints raw, as `\u{XXXX}`. Names without those characters, and bytes that are not
/// UTF-8, are printed exactly as `sha256sum` prints them.
pub fn sha256sum_line(digest: &Sha256Digest, path: &Path) -> Vec<u8> {
    let raw = path_bytes(path);
    let hidden = |c: char| c != '\t' && crate::output::is_invisible(c);
    let needs_escape = raw.utf8_chunks().any(|chunk| {
        chunk
            .valid()
            .chars()
            .any(|c| matches!(c, '\\' | '\n' | '\r') || hidden(c))
    });
    let mut line = Vec::with_capacity(raw.len() + 68);
    if needs_escape {
        line.push(b'\\');
    }
    line.extend_from_slice(digest.to_hex().as_bytes());
    line.extend_from_slice(b"  ");
    if !needs_escape {
        line.extend_from_slice(&raw);
    } else {
        for chunk in raw.utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    '\\' => line.extend_from_slice(b"\\\\"),
                    '\n' => line.extend_from_slice(b"\\n"),
                    '\r' => line.extend_from_slice(b"\\r"),
                    c if hidden(c) => line.extend_from_slice(format!("\\u{{{:04X}}}", c as u32).as_bytes()),
                    c => line.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
                }
            }
            line.extend_from_slice(chunk.invalid());
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
                let name = path.display().to_string();
                ctx.out
                    .error(format!("{}: {message}", crate::output::escape(&name)));
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

    /// Each name with the line expected after the hash (a `\` first when the line is escaped).
    fn assert_lines(cases: &[(&str, bool, &str)]) {
        let d = Sha256Digest::of(b"x");
        let hex = d.to_hex();
        for (name, escaped, shown) in cases {
            let lead = if *escaped { "\\" } else { "" };
            assert_eq!(
                sha256sum_line(&d, Path::new(name)),
                format!("{lead}{hex}  {shown}\n").into_bytes(),
                "{name:?}"
            );
        }
    }

    #[test]
    fn lines_match_sha256sum_escaping() {
        assert_lines(&[
            ("a b", false, "a b"),
            ("a\\b", true, "a\\\\b"),
            ("n\nl", true, "n\\nl"),
            ("c\rr", true, "c\\rr"),
            ("tab\there", false, "tab\there"),
        ]);
    }

    #[test]
    fn invisible_characters_are_escaped_on_an_escaped_line() {
        assert_lines(&[
            ("evil4\u{202E}gnp.py", true, "evil4\\u{202E}gnp.py"),
            ("a\\b\x1b[2J", true, "a\\\\b\\u{001B}[2J"),
        ]);
    }

    #[cfg(unix)]
    #[test]
    fn bytes_that_are_not_utf8_stay_as_they_are() {
        use std::os::unix::ffi::OsStrExt;
        let d = Sha256Digest::of(b"x");
        let hex = d.to_hex();
        let name = std::ffi::OsStr::from_bytes(b"caf\xe9");
        let mut want = format!("{hex}  caf").into_bytes();
        want.extend_from_slice(b"\xe9\n");
        assert_eq!(sha256sum_line(&d, Path::new(name)), want);
        let name = std::ffi::OsStr::from_bytes(b"caf\xe9\n");
        let mut want = format!("\\{hex}  caf").into_bytes();
        want.extend_from_slice(b"\xe9\\n\n");
        assert_eq!(sha256sum_line(&d, Path::new(name)), want);
    }
}
