//! Imports an environment on the runtime's CPU: CPython 3.11 for Linux aarch64, run through qemu
//! user emulation from an arm64 Debian root (made by `scripts/arm64-root.sh`).
//!
//! An environment built on another machine can hold native code that does not load on the
//! runtime, and the only sure test is to import it there. The interpreter is run as
//! `qemu-aarch64-static -L ROOT ROOT/usr/bin/python3.11 -I -B -c SCRIPT`: `-I` keeps the host's
//! environment variables and user site out, `-B` keeps the checked environment free of new
//! `.pyc` files. The environment's site-packages is added the way the runtime's venv adds it
//! (`site.addsitedir`, which also runs its `.pth` files). Paths outside ROOT are the host's: qemu
//! only redirects paths that exist inside ROOT.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::target::Target;
use super::unpack::{UnpackError, unpack_tar_gz};

/// How long one check may take in all.
pub const TIMEOUT: Duration = Duration::from_secs(600);

/// Where the arm64 root is looked for when neither a path nor `CRPACK_ARM64_ROOT` says.
const ROOT_DIR: &str = "crpack/arm64-root";
/// The interpreter inside the root.
const PYTHON: &str = "usr/bin/python3.11";
/// The qemu user-mode emulators, in order of preference.
const QEMUS: [&str; 2] = ["qemu-aarch64-static", "qemu-aarch64"];
/// How much of the interpreter's stderr an error quotes (the end of it).
const STDERR_TAIL: usize = 4000;

/// An arm64 root with CPython 3.11, and the qemu that runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arm64Root {
    root: PathBuf,
    qemu: PathBuf,
}

/// Why an import failed: the exception's type and message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportFailure {
    /// The exception's class name (`ImportError`, `ModuleNotFoundError`, ...), or `Crash` when
    /// the interpreter died while importing.
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
}

/// The outcome of importing one module.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportResult {
    pub module: String,
    pub ok: bool,
    pub error: Option<ImportFailure>,
    /// How long the import took (under emulation: much longer than on the runtime).
    pub seconds: f64,
}

/// Everything that stops a check (an import that fails is a result, not an error).
#[derive(Debug, thiserror::Error)]
pub enum EmulateError {
    #[error("cannot start {}: {source}; install qemu-user-static (scripts/arm64-root.sh does)", qemu.display())]
    Spawn { qemu: PathBuf, source: io::Error },

    #[error(
        "{} did not start under qemu ({status}): {stderr}; make the root again with scripts/arm64-root.sh",
        python.display()
    )]
    Startup {
        python: PathBuf,
        status: String,
        stderr: String,
    },

    #[error(
        "{} reports machine {machine:?} and Python {version:?}, not aarch64 and 3.11; make the root again with scripts/arm64-root.sh",
        python.display()
    )]
    WrongInterpreter {
        python: PathBuf,
        machine: String,
        version: String,
    },

    #[error(
        "the check did not finish within {} seconds{}; a module may hang on import: check it on its own",
        seconds,
        module.as_ref().map(|m| format!(" (it was importing {m})")).unwrap_or_default()
    )]
    Timeout { seconds: u64, module: Option<String> },

    #[error("the snippet failed on aarch64 ({status}): {stderr}")]
    Snippet { status: String, stderr: String },

    #[error(
        "the interpreter ended ({status}) outside any import: {stderr}; a .pth file in the site-packages may stop it: run python3.11 -c 'import site; site.addsitedir(...)' there"
    )]
    Ended { status: String, stderr: String },

    #[error("the checking script's output is not understood: {line:?}; this is a bug in crpack")]
    Protocol { line: String },

    #[error(transparent)]
    Unpack(#[from] UnpackError),

    #[error(
        "{}: the environment has no {site_packages} directory: it is not a Python 3.11 venv; build it for Python 3.11",
        archive.display()
    )]
    NoSitePackages { archive: PathBuf, site_packages: String },

    #[error("{}: {source}; check free space and permissions of the temporary directory", path.display())]
    Io { path: PathBuf, source: io::Error },
}

impl Arm64Root {
    /// Finds the arm64 root: `explicit`, else `CRPACK_ARM64_ROOT`, else
    /// `$XDG_CACHE_HOME/crpack/arm64-root` or `$HOME/.cache/crpack/arm64-root`. The first place
    /// named decides; it is usable when `usr/bin/python3.11` exists there and
    /// `qemu-aarch64-static` (or `qemu-aarch64`) is on `PATH`.
    pub fn locate(explicit: Option<&Path>) -> Option<Arm64Root> {
        locate_in(explicit, &|key| std::env::var_os(key))
    }

    /// The root directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The qemu that runs the root's programs.
    pub fn qemu(&self) -> &Path {
        &self.qemu
    }

    /// The root's interpreter, as a host path.
    pub fn python(&self) -> PathBuf {
        self.root.join(PYTHON)
    }
}

fn locate_in(explicit: Option<&Path>, env: &dyn Fn(&str) -> Option<OsString>) -> Option<Arm64Root> {
    let set = |key: &str| env(key).filter(|v| !v.is_empty());
    let candidates: Vec<PathBuf> = if let Some(p) = explicit {
        vec![p.to_path_buf()]
    } else if let Some(p) = set("CRPACK_ARM64_ROOT") {
        vec![PathBuf::from(p)]
    } else {
        let mut v = Vec::new();
        if let Some(xdg) = set("XDG_CACHE_HOME") {
            v.push(PathBuf::from(xdg).join(ROOT_DIR));
        }
        if let Some(home) = set("HOME") {
            v.push(PathBuf::from(home).join(".cache").join(ROOT_DIR));
        }
        v
    };
    let root = candidates
        .into_iter()
        .find(|r| fs::symlink_metadata(r.join(PYTHON)).is_ok())?;
    let qemu = find_on_path(&set("PATH")?)?;
    Some(Arm64Root { root, qemu })
}

fn find_on_path(path: &OsStr) -> Option<PathBuf> {
    QEMUS.iter().find_map(|name| {
        std::env::split_paths(path)
            .map(|dir| dir.join(name))
            .find(|p| is_executable(p))
    })
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file()
}

/// The checking script. argv: results file, site-packages, modules. It writes JSON lines to
/// the results file (not stdout, which imported modules may print to): the interpreter first,
/// then `start` and `done` around each import, so a crash names the module it happened in.
const IMPORT_SCRIPT: &str = r#"
import importlib, json, platform, site, sys, time
out = open(sys.argv[1], "a", encoding="utf-8")
def say(**record):
    out.write(json.dumps(record) + "\n")
    out.flush()
say(event="env", machine=platform.machine(), version=sys.version)
if platform.machine() != "aarch64" or sys.version_info[:2] != (3, 11):
    sys.exit(0)
site.addsitedir(sys.argv[2])
for name in sys.argv[3:]:
    say(event="start", module=name)
    began = time.perf_counter()
    try:
        importlib.import_module(name)
        error = None
    except BaseException as e:
        error = {"type": type(e).__name__, "message": str(e)}
    say(event="done", module=name, ok=error is None, error=error,
        seconds=time.perf_counter() - began)
"#;

/// Runs a snippet: argv: results file, site-packages, code. The interpreter is reported to the
/// results file; the snippet's stdout is returned.
const SNIPPET_SCRIPT: &str = r#"
import json, platform, site, sys
with open(sys.argv[1], "a", encoding="utf-8") as out:
    out.write(json.dumps({"event": "env", "machine": platform.machine(), "version": sys.version}) + "\n")
if platform.machine() != "aarch64" or sys.version_info[:2] != (3, 11):
    sys.exit(0)
site.addsitedir(sys.argv[2])
code = sys.argv[3]
del sys.argv[1:]
exec(compile(code, "<snippet>", "exec"), {"__name__": "__main__"})
"#;

#[derive(Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
enum Event {
    Env {
        machine: String,
        version: String,
    },
    Start {
        module: String,
    },
    Done {
        module: String,
        ok: bool,
        error: Option<ImportFailure>,
        seconds: f64,
    },
}

/// How one run of the interpreter ended.
struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    events: Vec<Event>,
}

/// Imports each module on aarch64 CPython 3.11 with `site_packages` on `sys.path`, in one
/// interpreter. An import that raises is a failed result with the exception; an interpreter
/// that dies during an import (a crash in native code) fails that module, and the modules after
/// it are imported in a fresh interpreter. At most [`TIMEOUT`] in all.
pub fn import_check(
    root: &Arm64Root,
    site_packages: &Path,
    modules: &[String],
) -> Result<Vec<ImportResult>, EmulateError> {
    import_check_within(root, site_packages, modules, TIMEOUT)
}

fn import_check_within(
    root: &Arm64Root,
    site_packages: &Path,
    modules: &[String],
    timeout: Duration,
) -> Result<Vec<ImportResult>, EmulateError> {
    let deadline = Instant::now() + timeout;
    let mut results: Vec<ImportResult> = Vec::new();
    loop {
        let remaining = &modules[results.len()..];
        let mut args: Vec<OsString> = vec![site_packages.into()];
        args.extend(remaining.iter().map(OsString::from));
        let run = run_python(root, IMPORT_SCRIPT, &args, deadline, timeout)?;
        let mut started: Option<String> = None;
        for event in run.events {
            match event {
                Event::Env { .. } => {}
                Event::Start { module } => started = Some(module),
                Event::Done {
                    module,
                    ok,
                    error,
                    seconds,
                } => {
                    started = None;
                    results.push(ImportResult {
                        module,
                        ok,
                        error,
                        seconds,
                    });
                }
            }
        }
        if results.len() == modules.len() {
            return Ok(results);
        }
        // The interpreter ended before every module was done: it died importing `started`.
        let Some(module) = started else {
            return Err(EmulateError::Ended {
                status: describe(&run.status),
                stderr: run.stderr,
            });
        };
        results.push(ImportResult {
            module,
            ok: false,
            error: Some(ImportFailure {
                kind: "Crash".into(),
                message: format!(
                    "the interpreter died while importing it ({}): {}",
                    describe(&run.status),
                    run.stderr.trim()
                ),
            }),
            seconds: 0.0,
        });
        if results.len() == modules.len() {
            return Ok(results);
        }
    }
}

/// Runs Python `code` on aarch64 CPython 3.11 with `site_packages` on `sys.path` and returns
/// what it printed. An exception (or a non-zero exit) is an error with its traceback.
pub fn run_snippet(root: &Arm64Root, site_packages: &Path, code: &str) -> Result<String, EmulateError> {
    let args = [site_packages.as_os_str().to_owned(), OsString::from(code)];
    let run = run_python(root, SNIPPET_SCRIPT, &args, Instant::now() + TIMEOUT, TIMEOUT)?;
    if !run.status.success() {
        return Err(EmulateError::Snippet {
            status: describe(&run.status),
            stderr: run.stderr.trim().to_string(),
        });
    }
    Ok(run.stdout)
}

/// A fresh directory under the system's temporary directory, its name starting with `prefix`.
fn temp_dir(prefix: &str) -> Result<tempfile::TempDir, EmulateError> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|source| EmulateError::Io {
            path: std::env::temp_dir(),
            source,
        })
}

/// Unpacks an environment archive (safely, into a temporary directory), then imports each
/// module from its `lib/python3.11/site-packages` with [`import_check`].
pub fn import_check_archive(
    root: &Arm64Root,
    archive: &Path,
    modules: &[String],
) -> Result<Vec<ImportResult>, EmulateError> {
    let tmp = temp_dir("crpack-env.")?;
    let env = tmp.path().join("env");
    unpack_tar_gz(archive, &env)?;
    let relative = Target::clean_rooms().site_packages();
    let site_packages = env.join(&relative);
    let real_dir = fs::symlink_metadata(&site_packages).is_ok_and(|m| m.file_type().is_dir());
    if !real_dir {
        return Err(EmulateError::NoSitePackages {
            archive: archive.to_path_buf(),
            site_packages: relative,
        });
    }
    import_check(root, &site_packages, modules)
}

/// `exit code 1`, `signal 11`.
fn describe(status: &ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit code {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("killed by signal {signal}");
        }
    }
    status.to_string()
}

fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_end();
    match text.char_indices().rev().nth(STDERR_TAIL) {
        Some((at, _)) => format!("...{}", &text[at..]),
        None => text.to_string(),
    }
}

fn read_all<R: Read + Send + 'static>(reader: Option<R>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut r) = reader {
            let _ = r.read_to_end(&mut buf);
        }
        buf
    })
}

/// Runs `script` with `args` on the root's interpreter (the results file first), waits for it
/// until `deadline`, checks the interpreter it reported and returns what it wrote.
fn run_python(
    root: &Arm64Root,
    script: &str,
    args: &[OsString],
    deadline: Instant,
    timeout: Duration,
) -> Result<Finished, EmulateError> {
    let work = temp_dir("crpack-aarch64.")?;
    let results = work.path().join("results.jsonl");
    let python = root.python();
    let mut child = Command::new(&root.qemu)
        .arg("-L")
        .arg(&root.root)
        .arg(&python)
        .args(["-I", "-B", "-c", script])
        .arg(&results)
        .args(args)
        .current_dir(work.path())
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", work.path())
        .env("LC_ALL", "C.UTF-8")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| EmulateError::Spawn {
            qemu: root.qemu.clone(),
            source,
        })?;
    let stdout = read_all(child.stdout.take());
    let stderr = read_all(child.stderr.take());
    let status = match wait_until(&mut child, deadline) {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            let events = read_events(&results).unwrap_or_default();
            let module = events.into_iter().rev().find_map(|e| match e {
                Event::Start { module } => Some(module),
                _ => None,
            });
            return Err(EmulateError::Timeout {
                seconds: timeout.as_secs(),
                module,
            });
        }
    };
    let stdout = String::from_utf8_lossy(&stdout.join().unwrap_or_default()).into_owned();
    let stderr = tail(&stderr.join().unwrap_or_default());
    let events = read_events(&results)?;
    match events.first() {
        Some(Event::Env { machine, version }) => {
            if machine != "aarch64" || !version.starts_with("3.11.") {
                return Err(EmulateError::WrongInterpreter {
                    python,
                    machine: machine.clone(),
                    version: version.split_whitespace().next().unwrap_or("").to_string(),
                });
            }
        }
        _ => {
            return Err(EmulateError::Startup {
                python,
                status: describe(&status),
                stderr,
            });
        }
    }
    Ok(Finished {
        status,
        stdout,
        stderr,
        events,
    })
}

/// Waits for the child; `None` when the deadline passed first.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) => {}
            // The child cannot be waited for: treat it like one that does not finish.
            Err(_) => return None,
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        thread::sleep((deadline - now).min(Duration::from_millis(50)));
    }
}

/// The records the script wrote; a missing file is no records.
fn read_events(results: &Path) -> Result<Vec<Event>, EmulateError> {
    let text = match fs::read_to_string(results) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(EmulateError::Io {
                path: results.to_path_buf(),
                source,
            });
        }
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut events = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        match serde_json::from_str(line) {
            Ok(event) => events.push(event),
            // A crash can cut the last record short: it is dropped.
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => {}
            Err(_) => {
                return Err(EmulateError::Protocol {
                    line: line.to_string(),
                });
            }
        }
    }
    Ok(events)
}

/// The top-level modules a venv archive installs into `lib/python3.11/site-packages`, from
/// its member names (for a prebuilt archive, whose inventory crpack did not make).
pub fn archive_modules(archive: &Path) -> io::Result<Vec<String>> {
    let prefix = format!("{}/", Target::clean_rooms().site_packages());
    let file = fs::File::open(archive)?;
    let mut tar = tar::Archive::new(flate2::read::MultiGzDecoder::new(io::BufReader::new(file)));
    let mut modules = std::collections::BTreeSet::new();
    for entry in tar.entries()? {
        let entry = entry?;
        let path = entry.path()?;
        let name = path.to_string_lossy();
        let name = name.trim_start_matches("./");
        if let Some(rel) = name.strip_prefix(&prefix)
            && let Some(m) = super::build::top_level_module(rel.trim_end_matches('/'))
        {
            modules.insert(m);
        }
    }
    Ok(modules.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Sha256Digest;
    use std::fs::File;
    use std::io::Write;

    /// The arm64 root of the tests: `CRPACK_TEST_ARM64_ROOT`. Unset, the test says so loudly and
    /// is skipped, except in CI (`CI` set), where the test setup always makes one; set to
    /// something unusable, the test fails.
    fn test_root() -> Option<Arm64Root> {
        let Some(path) = std::env::var_os("CRPACK_TEST_ARM64_ROOT") else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI runs the aarch64 tests: scripts/test.sh sets CRPACK_TEST_ARM64_ROOT"
            );
            eprintln!(
                "\n**********\n** skipped: run scripts/arm64-root.sh and set CRPACK_TEST_ARM64_ROOT \
                 to the root it prints\n**********\n"
            );
            return None;
        };
        let root = Arm64Root::locate(Some(Path::new(&path))).unwrap_or_else(|| {
            panic!(
                "CRPACK_TEST_ARM64_ROOT={} has no usr/bin/python3.11, or no qemu-aarch64-static is on \
                 PATH: run scripts/arm64-root.sh",
                Path::new(&path).display()
            )
        });
        Some(root)
    }

    fn write(path: &Path, text: &[u8]) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    /// A 64-byte ELF64 header of an x86-64 shared object, and some bytes after it.
    fn x86_64_elf() -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2; // 64-bit
        h[5] = 1; // little-endian
        h[6] = 1; // version
        h[16..18].copy_from_slice(&3u16.to_le_bytes()); // ET_DYN
        h[18..20].copy_from_slice(&62u16.to_le_bytes()); // EM_X86_64
        h[20..24].copy_from_slice(&1u32.to_le_bytes());
        h[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
        h[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        h.extend([0xc3u8; 256]);
        h
    }

    fn result<'a>(results: &'a [ImportResult], module: &str) -> &'a ImportResult {
        results
            .iter()
            .find(|r| r.module == module)
            .unwrap_or_else(|| panic!("no result for {module}: {results:#?}"))
    }

    fn modules(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[cfg(unix)]
    fn executable(path: &Path, text: &str) {
        use std::os::unix::fs::PermissionsExt;
        write(path, text.as_bytes());
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn the_root_is_found_where_it_is_named_first() {
        let tmp = tempfile::tempdir().unwrap();
        let bin = tmp.path().join("bin");
        executable(&bin.join("qemu-aarch64"), "#!/bin/sh\n");
        let make_root = |p: &Path| write(&p.join(PYTHON), b"");
        let explicit = tmp.path().join("explicit");
        let from_env = tmp.path().join("env-root");
        let xdg = tmp.path().join("xdg");
        let home = tmp.path().join("home");
        for r in [&explicit, &from_env] {
            make_root(r);
        }
        make_root(&home.join(".cache").join(ROOT_DIR));
        let vars = |pairs: Vec<(&'static str, OsString)>| {
            move |key: &str| pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone())
        };
        let path = ("PATH", OsString::from(format!("/nonexistent:{}", bin.display())));
        let all = vars(vec![
            path.clone(),
            ("CRPACK_ARM64_ROOT", from_env.clone().into()),
            ("XDG_CACHE_HOME", xdg.clone().into()),
            ("HOME", home.clone().into()),
        ]);
        let found = locate_in(Some(&explicit), &all).unwrap();
        assert_eq!(found.path(), explicit);
        assert_eq!(found.qemu(), bin.join("qemu-aarch64"));
        assert_eq!(locate_in(None, &all).unwrap().path(), from_env);
        // The cache: XDG first (nothing there), then HOME.
        let cache = vars(vec![
            path.clone(),
            ("XDG_CACHE_HOME", xdg.clone().into()),
            ("HOME", home.clone().into()),
        ]);
        assert_eq!(
            locate_in(None, &cache).unwrap().path(),
            home.join(".cache").join(ROOT_DIR)
        );
        make_root(&xdg.join(ROOT_DIR));
        assert_eq!(locate_in(None, &cache).unwrap().path(), xdg.join(ROOT_DIR));
        // The static build is preferred.
        executable(&bin.join("qemu-aarch64-static"), "#!/bin/sh\n");
        assert_eq!(
            locate_in(None, &cache).unwrap().qemu(),
            bin.join("qemu-aarch64-static")
        );

        // A named place without the interpreter, or no qemu: not usable.
        let empty = tmp.path().join("empty");
        fs::create_dir(&empty).unwrap();
        assert_eq!(locate_in(Some(&empty), &all), None);
        let env_empty = vars(vec![path, ("CRPACK_ARM64_ROOT", empty.into())]);
        assert_eq!(locate_in(None, &env_empty), None, "the variable decides");
        let no_qemu = vars(vec![("PATH", "/nonexistent".into())]);
        assert_eq!(locate_in(Some(&explicit), &no_qemu), None);
    }

    /// A "qemu" that runs the host's python3 instead: the interpreter check must notice.
    #[cfg(unix)]
    #[test]
    fn another_interpreter_is_not_taken_for_the_runtime() {
        let tmp = tempfile::tempdir().unwrap();
        let host = tmp.path().join("host-qemu");
        // argv: -L ROOT ROOT/usr/bin/python3.11 -I -B -c SCRIPT ...
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("python3 is needed for this test: install it (apt-get install python3)");
        let python3 = String::from_utf8(out.stdout).unwrap().trim().to_string();
        executable(&host, &format!("#!/bin/sh\nshift 3\nexec '{python3}' \"$@\"\n"));
        let root = Arm64Root {
            root: tmp.path().to_path_buf(),
            qemu: host,
        };
        let sp = tmp.path().join("sp");
        fs::create_dir(&sp).unwrap();
        let machine = std::env::consts::ARCH;
        if machine != "aarch64" {
            let err = import_check(&root, &sp, &modules(&["json"])).unwrap_err();
            assert!(
                matches!(&err, EmulateError::WrongInterpreter { machine: m, .. } if m == machine),
                "{err:?}"
            );
            let err = run_snippet(&root, &sp, "print(1)").unwrap_err();
            assert!(matches!(err, EmulateError::WrongInterpreter { .. }), "{err:?}");
        }

        // One that does not start at all.
        let broken = tmp.path().join("broken-qemu");
        executable(&broken, "#!/bin/sh\necho 'no such interpreter' >&2\nexit 127\n");
        let root = Arm64Root {
            root: tmp.path().to_path_buf(),
            qemu: broken,
        };
        let err = import_check(&root, &sp, &modules(&["json"])).unwrap_err();
        assert!(
            matches!(&err, EmulateError::Startup { status, stderr, .. }
                if status == "exit code 127" && stderr.contains("no such interpreter")),
            "{err:?}"
        );
        let root = Arm64Root {
            root: tmp.path().to_path_buf(),
            qemu: tmp.path().join("missing-qemu"),
        };
        let err = import_check(&root, &sp, &modules(&["json"])).unwrap_err();
        assert!(matches!(err, EmulateError::Spawn { .. }), "{err:?}");
    }

    #[test]
    fn imports_that_work_fail_and_crash_are_each_reported() {
        let Some(root) = test_root() else { return };
        let tmp = tempfile::tempdir().unwrap();
        let sp = tmp.path().join("site-packages");
        write(
            &sp.join("pure_ok.py"),
            b"import json\nVALUE = json.dumps([1])\nprint('noise on stdout')\n",
        );
        write(&sp.join("raises.py"), b"raise RuntimeError('boom at import')\n");
        // An extension for x86-64 under the name of an aarch64 one.
        write(&sp.join("fast/__init__.py"), b"from . import _x\n");
        write(
            &sp.join("fast/_x.cpython-311-aarch64-linux-gnu.so"),
            &x86_64_elf(),
        );
        write(&sp.join("dies.py"), b"import os\nos._exit(7)\n");
        write(
            &sp.join("after.py"),
            b"import platform\nMACHINE = platform.machine()\n",
        );
        // A .pth file is run, as on the runtime.
        write(&sp.join("extra.pth"), b"extra_dir\n");
        write(&sp.join("extra_dir/from_pth.py"), b"");
        let names = modules(&[
            "pure_ok",
            "raises",
            "fast",
            "missing_mod",
            "dies",
            "after",
            "from_pth",
        ]);
        let results = import_check(&root, &sp, &names).unwrap();
        assert_eq!(
            results.iter().map(|r| r.module.as_str()).collect::<Vec<_>>(),
            names,
            "one result per module, in order"
        );
        let ok = result(&results, "pure_ok");
        assert!(ok.ok && ok.error.is_none() && ok.seconds >= 0.0, "{ok:?}");

        let raises = result(&results, "raises");
        assert!(!raises.ok);
        assert_eq!(
            raises.error,
            Some(ImportFailure {
                kind: "RuntimeError".into(),
                message: "boom at import".into()
            })
        );

        let fast = result(&results, "fast");
        let err = fast.error.as_ref().unwrap();
        assert!(!fast.ok && err.kind == "ImportError", "{fast:?}");
        assert!(
            err.message.contains("_x.cpython-311-aarch64-linux-gnu.so"),
            "{err:?}"
        );

        assert_eq!(
            result(&results, "missing_mod").error.as_ref().unwrap().kind,
            "ModuleNotFoundError"
        );
        let dies = result(&results, "dies");
        let err = dies.error.as_ref().unwrap();
        assert!(
            !dies.ok && err.kind == "Crash" && err.message.contains("exit code 7"),
            "{dies:?}"
        );
        assert!(
            result(&results, "after").ok,
            "imported in a fresh interpreter: {results:#?}"
        );
        assert!(result(&results, "from_pth").ok, "{results:#?}");
    }

    #[test]
    fn a_hanging_import_times_out() {
        let Some(root) = test_root() else { return };
        let tmp = tempfile::tempdir().unwrap();
        write(&tmp.path().join("sleepy.py"), b"import time\ntime.sleep(300)\n");
        let started = Instant::now();
        let err = import_check_within(
            &root,
            tmp.path(),
            &modules(&["json", "sleepy"]),
            Duration::from_secs(8),
        )
        .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(30));
        assert!(
            matches!(&err, EmulateError::Timeout { seconds: 8, module: Some(m) } if m == "sleepy"),
            "{err:?}"
        );
        assert!(err.to_string().contains("sleepy"), "{err}");
    }

    #[test]
    fn snippets_print_and_fail_on_aarch64() {
        let Some(root) = test_root() else { return };
        let tmp = tempfile::tempdir().unwrap();
        write(
            &tmp.path().join("helper_mod.py"),
            b"def twice(x):\n    return 2 * x\n",
        );
        let out = run_snippet(
            &root,
            tmp.path(),
            "import platform, sys, helper_mod\nprint(platform.machine(), sys.version_info[:2], helper_mod.twice(21))",
        )
        .unwrap();
        assert_eq!(out.trim(), "aarch64 (3, 11) 42");
        let err = run_snippet(&root, tmp.path(), "raise ValueError('bad value 17')").unwrap_err();
        assert!(
            matches!(&err, EmulateError::Snippet { stderr, .. } if stderr.contains("ValueError: bad value 17")),
            "{err:?}"
        );
    }

    const NUMPY_WHEEL: &str = "numpy-1.26.4-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl";
    /// The wheel's SHA-256 as the package index lists it.
    const NUMPY_SHA256: &str = "7ab55401287bfec946ced39700c053796e7cc0e3acbef09993a9ad2adba6ca6e";

    /// The numpy 1.26.4 wheel for aarch64: from `CRPACK_TEST_WHEEL_DIR` when it is there with
    /// the pinned hash, else downloaded by pip (hash-pinned) into that directory or a temporary
    /// one.
    fn numpy_wheel(scratch: &Path) -> PathBuf {
        let dir = std::env::var_os("CRPACK_TEST_WHEEL_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| scratch.join("wheels"));
        let wheel = dir.join(NUMPY_WHEEL);
        let pinned = |p: &Path| Sha256Digest::of_file(p).is_ok_and(|(d, _)| d.to_hex() == NUMPY_SHA256);
        if pinned(&wheel) {
            return wheel;
        }
        fs::create_dir_all(&dir).unwrap();
        let requirements = scratch.join("requirements.txt");
        fs::write(
            &requirements,
            format!("numpy==1.26.4 --hash=sha256:{NUMPY_SHA256}\n"),
        )
        .unwrap();
        let out = Command::new("python3")
            .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
            .args(["--platform", "manylinux2014_aarch64", "--python-version", "3.11"])
            .args([
                "--implementation",
                "cp",
                "--abi",
                "cp311",
                "--require-hashes",
                "-r",
            ])
            .arg(&requirements)
            .arg("-d")
            .arg(&dir)
            .output()
            .expect("python3 with pip is needed to download numpy for aarch64: install python3-pip");
        assert!(
            out.status.success(),
            "pip download of numpy 1.26.4 for aarch64 failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(pinned(&wheel), "{} is not the pinned wheel", wheel.display());
        wheel
    }

    #[test]
    fn real_numpy_for_aarch64_imports_and_computes() {
        let Some(root) = test_root() else { return };
        let tmp = tempfile::tempdir().unwrap();
        let wheel = numpy_wheel(tmp.path());
        let sp = tmp.path().join("lib/python3.11/site-packages");
        fs::create_dir_all(&sp).unwrap();
        let mut zip = zip::ZipArchive::new(File::open(&wheel).unwrap()).unwrap();
        zip.extract(&sp).unwrap();
        assert!(sp.join("numpy/__init__.py").is_file());

        let results = import_check(&root, &sp, &modules(&["numpy", "numpy.linalg"])).unwrap();
        assert!(results.iter().all(|r| r.ok), "{results:#?}");
        let out = run_snippet(
            &root,
            &sp,
            "import numpy as np\n\
             a = np.arange(1_000_000, dtype=np.int64)\n\
             m = np.array([[2.0, 1.0], [1.0, 3.0]])\n\
             print(np.__version__, int(a.sum()), round(float(np.linalg.det(m)), 6))",
        )
        .unwrap();
        assert_eq!(out.trim(), "1.26.4 499999500000 5.0");
    }

    /// A venv-like environment archive.
    fn env_archive(path: &Path, site_packages: &str, files: &[(&str, &[u8])]) {
        let gz = flate2::write::GzEncoder::new(File::create(path).unwrap(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Symlink);
        link.set_size(0);
        b.append_link(&mut link, "bin/python3.11", "/usr/bin/python3.11")
            .unwrap();
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, format!("{site_packages}/{name}"), *data)
                .unwrap();
        }
        b.into_inner().unwrap().finish().unwrap().flush().unwrap();
    }

    #[test]
    fn archives_are_unpacked_safely_then_imported() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("py39.tar.gz");
        env_archive(&missing, "lib/python3.9/site-packages", &[("six.py", b"")]);
        let unsafe_archive = tmp.path().join("unsafe.tar.gz");
        fs::write(&unsafe_archive, b"not gzip at all").unwrap();
        let good = tmp.path().join("env.tar.gz");
        env_archive(
            &good,
            "lib/python3.11/site-packages",
            &[("six.py", b"X = 1\n"), ("bad.py", b"import does_not_exist\n")],
        );

        let Some(root) = test_root() else { return };
        let err = import_check_archive(&root, &missing, &modules(&["six"])).unwrap_err();
        assert!(
            matches!(&err, EmulateError::NoSitePackages { site_packages, .. } if site_packages == "lib/python3.11/site-packages"),
            "{err:?}"
        );
        let err = import_check_archive(&root, &unsafe_archive, &modules(&["six"])).unwrap_err();
        assert!(
            matches!(err, EmulateError::Unpack(UnpackError::Corrupt { .. })),
            "{err:?}"
        );

        let results = import_check_archive(&root, &good, &modules(&["six", "bad"])).unwrap();
        assert!(result(&results, "six").ok, "{results:#?}");
        let bad = result(&results, "bad");
        assert_eq!(bad.error.as_ref().unwrap().kind, "ModuleNotFoundError", "{bad:?}");
    }
}
