//! Exactly the pinned wheels, from a content-addressed cache; offline once cached.
//!
//! A wheel is stored under the SHA-256 of its bytes
//! (`<root>/wheels/sha256/<hh>/<hex>/<file name>`, with `origin.json` beside it saying where it
//! came from), so a requirement is satisfied from the cache when a file with one of its pinned
//! hashes is there and fits the target; nothing else is consulted. The missing ones are
//! downloaded in one `pip download` run for the target's platform tags, with pip's own
//! `--require-hashes` check, and hashed again before they enter the cache. An entry appears
//! whole or not at all: it is assembled in a temporary directory beside its place and renamed
//! into it, and every use re-hashes the file.
//!
//! pip reads its own configuration (`PIP_*` variables, `pip.conf`, `.netrc`, keyring) for
//! credentials and proxies; crpack only adds the index options of the requirements file.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::digest::Sha256Digest;
use crate::venv::requirements::{Requirement, Requirements, same_version};
use crate::venv::target::{Target, WheelName, normalize_name};

/// The environment variable naming the cache root.
pub const CACHE_DIR_ENV: &str = "CRPACK_CACHE_DIR";
/// The environment variable naming the Python whose pip downloads wheels.
pub const PIP_PYTHON_ENV: &str = "CRPACK_PIP_PYTHON";

/// The content-addressed wheel cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelCache {
    root: PathBuf,
}

/// Where a cached wheel came from (`origin.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The URL pip fetched it from (a `file://` URL for a local `--find-links` file), if known.
    pub url: Option<String>,
    pub file_name: String,
    pub size: u64,
    /// RFC 3339 UTC.
    pub fetched_at: String,
}

/// A wheel found in the cache, its bytes checked against its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedWheel {
    pub path: PathBuf,
    pub file_name: String,
    pub sha256: Sha256Digest,
    pub size: u64,
    pub origin: Option<Origin>,
}

impl WheelCache {
    /// A cache rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        WheelCache { root: root.into() }
    }

    /// The cache the environment names: `CRPACK_CACHE_DIR`, else `$XDG_CACHE_HOME/crpack`, else
    /// `$HOME/.cache/crpack`.
    pub fn from_env() -> Result<Self, FetchError> {
        cache_root_from(|name| std::env::var_os(name))
            .map(Self::new)
            .ok_or(FetchError::NoCacheDir)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of the entry for `digest`.
    pub fn entry_dir(&self, digest: &Sha256Digest) -> PathBuf {
        let hex = digest.to_hex();
        self.root.join("wheels").join("sha256").join(&hex[..2]).join(hex)
    }

    /// The wheel stored under `digest`, if there is one whose bytes still have that digest.
    pub fn get(&self, digest: &Sha256Digest) -> Option<CachedWheel> {
        let dir = self.entry_dir(digest);
        let wheel = fs::read_dir(&dir).ok()?.filter_map(Result::ok).find(|e| {
            e.file_name().to_string_lossy().ends_with(".whl") && e.file_type().is_ok_and(|t| t.is_file())
        })?;
        let path = wheel.path();
        let (actual, size) = Sha256Digest::of_file(&path).ok()?;
        if actual != *digest {
            return None;
        }
        let origin = fs::read(dir.join("origin.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        Some(CachedWheel {
            file_name: wheel.file_name().to_string_lossy().into_owned(),
            path,
            sha256: actual,
            size,
            origin,
        })
    }

    /// Moves `file` (already verified to have `digest`) into the cache as `file_name`; returns
    /// its new path. The entry is assembled beside its place and renamed into it, so it appears
    /// whole or not at all.
    pub fn insert(
        &self,
        file: &Path,
        file_name: &str,
        digest: &Sha256Digest,
        url: Option<&str>,
    ) -> io::Result<PathBuf> {
        let final_dir = self.entry_dir(digest);
        let parent = final_dir
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.root.clone());
        create_dirs(&parent)?;
        let staging = tempfile::Builder::new()
            .prefix(&format!(".{}.", digest.to_hex()))
            .suffix(".tmp")
            .tempdir_in(&parent)?;
        let dest = staging.path().join(file_name);
        if fs::rename(file, &dest).is_err() {
            fs::copy(file, &dest)?;
        }
        let size = {
            let f = fs::File::open(&dest)?;
            f.sync_all()?;
            f.metadata()?.len()
        };
        set_mode(&dest, 0o644)?;
        let origin = Origin {
            url: url.map(str::to_string),
            file_name: file_name.to_string(),
            size,
            fetched_at: crate::lock::now_rfc3339(),
        };
        let origin_path = staging.path().join("origin.json");
        let mut json = serde_json::to_vec_pretty(&origin).map_err(io::Error::other)?;
        json.push(b'\n');
        {
            let mut f = fs::File::create(&origin_path)?;
            f.write_all(&json)?;
            f.sync_all()?;
        }
        set_mode(&origin_path, 0o644)?;
        set_mode(staging.path(), 0o755)?;
        let placed = final_dir.join(file_name);
        if fs::rename(staging.path(), &final_dir).is_ok() {
            let _ = staging.keep();
            return Ok(placed);
        }
        // Someone else stored it meanwhile, or a damaged entry is in the way.
        if let Some(existing) = self.get(digest) {
            return Ok(existing.path);
        }
        fs::remove_dir_all(&final_dir)?;
        fs::rename(staging.path(), &final_dir)?;
        let _ = staging.keep();
        Ok(placed)
    }

    /// A fresh working directory inside the cache (same file system as the entries).
    fn work_dir(&self) -> io::Result<tempfile::TempDir> {
        let tmp = self.root.join("tmp");
        create_dirs(&tmp)?;
        tempfile::Builder::new().prefix("download-").tempdir_in(tmp)
    }
}

fn create_dirs(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o755);
    }
    builder.create(dir)
}

/// Gives a cached file or directory the usual mode (0644 / 0755), whatever the umask or the
/// temporary file's 0600.
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}

/// The cache root from environment variables (empty ones count as unset; `XDG_CACHE_HOME` only
/// when absolute, as the XDG spec says).
pub fn cache_root_from(var: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let set = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = set(CACHE_DIR_ENV) {
        return Some(dir);
    }
    if let Some(xdg) = set("XDG_CACHE_HOME").filter(|p| p.is_absolute()) {
        return Some(xdg.join("crpack"));
    }
    set("HOME").map(|home| home.join(".cache").join("crpack"))
}

/// How the missing wheels are downloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOptions {
    /// The Python whose pip downloads (`python3` unless `CRPACK_PIP_PYTHON` says otherwise).
    pub python: OsString,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            python: "python3".into(),
        }
    }
}

impl FetchOptions {
    /// The options the environment names.
    pub fn from_env() -> Self {
        FetchOptions {
            python: std::env::var_os(PIP_PYTHON_ENV)
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "python3".into()),
        }
    }
}

/// A wheel ready to install: in the cache, its bytes one of the pinned files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedWheel {
    /// The requirement's name as written.
    pub name: String,
    pub normalized: String,
    /// The pinned version.
    pub version: String,
    pub file_name: String,
    /// The file in the cache.
    pub path: PathBuf,
    pub sha256: Sha256Digest,
    pub size: u64,
    /// Where it was downloaded from, if known.
    pub url: Option<String>,
    /// The requirements file and line that pin it.
    pub requirement_file: PathBuf,
    pub requirement_line: usize,
}

/// Progress, for the command line to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchEvent {
    /// A requirement is satisfied from the cache.
    Cached {
        name: String,
        version: String,
        file_name: String,
    },
    /// pip starts downloading `count` requirements.
    Downloading { count: usize },
    /// A downloaded wheel passed its checks and is in the cache.
    Downloaded {
        name: String,
        version: String,
        file_name: String,
        size: u64,
    },
}

/// Why the pinned wheels cannot all be had.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "no cache directory: none of {CACHE_DIR_ENV}, XDG_CACHE_HOME and HOME is set; set {CACHE_DIR_ENV} to a writable directory"
    )]
    NoCacheDir,

    #[error(
        "the wheel cache at {}: {source}; make it writable or point {CACHE_DIR_ENV} at another directory",
        path.display()
    )]
    Cache { path: PathBuf, source: io::Error },

    #[error(
        "`{python} -m pip` is not available ({detail}); install pip for it (`{python} -m ensurepip --upgrade`, or the OS package python3-pip), or set {PIP_PYTHON_ENV} to a Python that has pip"
    )]
    PipMissing { python: String, detail: String },

    #[error("`pip download` failed ({status}):\n{detail}\nfix the cause above and run again")]
    PipFailed { status: String, detail: String },

    #[error(
        "{}:{line}: {requirement}: {wheel} has sha256 {actual}, but the requirement pins {}; nothing was cached. The pins may name only files for another platform (add the hash of the file for the runtime's Linux aarch64 / CPython 3.11, e.g. by regenerating the lock for that platform), or the project published new files (regenerate the lock); otherwise the file was tampered with on the way",
        file.display(),
        expected.iter().map(|d| d.to_hex()).collect::<Vec<_>>().join(" or ")
    )]
    HashMismatch {
        requirement: String,
        file: PathBuf,
        line: usize,
        /// The downloaded file (its URL when pip named it).
        wheel: String,
        expected: Vec<Sha256Digest>,
        actual: Box<Sha256Digest>,
    },

    #[error("{}", no_compatible_message(requirement, file, *line, target, found_tags, sdists))]
    NoCompatibleWheel {
        requirement: String,
        file: PathBuf,
        line: usize,
        target: Box<Target>,
        /// The tags of the wheels that exist for this name and version.
        found_tags: Vec<String>,
        /// The source distributions that exist for it.
        sdists: Vec<String>,
    },

    #[error(
        "{}:{line}: {requirement}: the index has {} for {target}, but none of them has a pinned hash (the lock pins other files); regenerate the lock for the target: `{}`",
        file.display(),
        files.join(", "),
        lock_command(target)
    )]
    UnpinnedFiles {
        requirement: String,
        file: PathBuf,
        line: usize,
        target: Box<Target>,
        files: Vec<String>,
    },

    #[error(
        "{}:{line}: no file of {requirement} was found; check the name and version, and that the index options (--index-url, --find-links, pip.conf) reach a place that has it. pip said:\n{detail}",
        file.display()
    )]
    NotFound {
        requirement: String,
        file: PathBuf,
        line: usize,
        detail: String,
    },

    #[error(
        "{}:{line}: {requirement}: pip chose {wheel}, which does not fit {target}; pin a version that ships a wheel for the target",
        file.display()
    )]
    NotForTarget {
        requirement: String,
        file: PathBuf,
        line: usize,
        wheel: String,
        target: String,
    },

    #[error(
        "`pip download` succeeded but left {wheel}, which no pinned requirement asked for; report this with the pip version (`python3 -m pip --version`)"
    )]
    Unexpected { wheel: String },

    #[error(
        "{}:{line}: `pip download` succeeded but saved no wheel for {requirement}:\n{detail}",
        file.display()
    )]
    NotDownloaded {
        requirement: String,
        file: PathBuf,
        line: usize,
        detail: String,
    },
}

fn no_compatible_message(
    requirement: &str,
    file: &Path,
    line: usize,
    target: &Target,
    found_tags: &[String],
    sdists: &[String],
) -> String {
    let at = format!("{}:{line}", file.display());
    let wanted = wanted_wheels(target);
    if found_tags.is_empty() {
        return format!(
            "{at}: {requirement} has only a source distribution ({}) and no wheel, and nothing can be compiled for the target ({target}): pick a version of it that ships {wanted}",
            sdists.join(", ")
        );
    }
    let fix = format!("crpack compiles nothing: pick a version of it that ships {wanted}");
    let mut message = format!(
        "{at}: no wheel of {requirement} fits {target}; its wheels are for {}",
        found_tags.join(", ")
    );
    if !sdists.is_empty() {
        let _ = write!(
            message,
            " (and a source distribution, {}, which cannot be compiled for the target)",
            sdists.join(", ")
        );
    }
    let _ = write!(message, "; {fix}");
    message
}

/// The wheels that fit the target, in words: "a manylinux aarch64 (glibc ≤ 2.34) or
/// py3-none-any wheel for CPython 3.11".
pub fn wanted_wheels(target: &Target) -> String {
    format!(
        "a manylinux {} (glibc <= {}.{}) or py3-none-any wheel for CPython {}",
        target.arch,
        target.glibc.0,
        target.glibc.1,
        target.python_version()
    )
}

/// The `--python-platform` uv is given for the target: the newest manylinux level uv names
/// (2.17, 2.28, 2.31 … 2.40) that is not newer than the target's glibc.
pub fn uv_platform(target: &Target) -> String {
    let (major, minor) = target.glibc;
    let level = (31..=40)
        .rev()
        .chain([28, 17])
        .find(|&m| major == 2 && m <= minor)
        .unwrap_or(17);
    format!("{}-manylinux_2_{level}", target.arch)
}

/// The arguments of `uv` that write a hash-pinned lock of `input` for the target into `output`.
pub fn uv_compile_args(target: &Target, input: &Path, output: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = ["pip", "compile", "--generate-hashes", "--python-platform"]
        .iter()
        .map(OsString::from)
        .collect();
    args.push(uv_platform(target).into());
    args.push("--python-version".into());
    args.push(target.python_version().into());
    args.push("--no-header".into());
    args.push(input.into());
    args.push("-o".into());
    args.push(output.into());
    args
}

/// The `uv` command that writes a hash-pinned lock for the target, for messages.
pub fn lock_command(target: &Target) -> String {
    uv_compile_args(
        target,
        Path::new("requirements.in"),
        Path::new("requirements.txt"),
    )
    .iter()
    .fold("uv".to_string(), |mut line, arg| {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
        line
    })
}

/// The environment variable naming the `uv` that writes locks.
pub const UV_ENV: &str = "CRPACK_UV";

/// Why a lock could not be written.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "`{uv}` cannot be run ({detail}); install uv (`python3 -m pip install uv`, or your OS package), or set {UV_ENV} to its path"
    )]
    UvMissing { uv: String, detail: String },

    #[error(
        "`uv pip compile` could not lock {} ({status}):\n{detail}\nfix the requirement or the index settings above and run again",
        input.display()
    )]
    UvFailed {
        input: PathBuf,
        status: String,
        detail: String,
    },

    #[error(
        "{}: {source}; check that the directory exists and is writable",
        path.display()
    )]
    Io { path: PathBuf, source: io::Error },

    #[error(
        "uv wrote a lock for {} that crpack cannot use ({source}); {} was left unchanged",
        input.display(),
        output.display()
    )]
    Invalid {
        input: PathBuf,
        output: PathBuf,
        source: Box<crate::venv::requirements::RequirementsError>,
    },
}

/// Writes a hash-pinned lock of `input` (loose requirements) for the target to `output`, with
/// uv from `CRPACK_UV` or `PATH`.
pub fn lock(input: &Path, output: &Path, target: &Target) -> Result<Requirements, LockError> {
    let uv = std::env::var_os(UV_ENV)
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "uv".into());
    lock_with(input, output, target, &uv)
}

/// Writes a hash-pinned lock of `input` for the target to `output` with the given `uv`, and
/// returns it parsed. The lock is written beside `output` and moved into place only when crpack
/// can use it; the pins already in `output` are kept where they still satisfy `input` (uv
/// prefers the versions of an existing output file).
pub fn lock_with(
    input: &Path,
    output: &Path,
    target: &Target,
    uv: &std::ffi::OsStr,
) -> Result<Requirements, LockError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LockError::Io { path, source }
    };
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "requirements.txt".into());
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // A new lock gets the mode a plain create gives (the umask applies); copying an existing
        // one below keeps its mode.
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    let staged = builder.tempfile_in(&dir).map_err(io_err(&dir))?;
    if output.exists() {
        fs::copy(output, staged.path()).map_err(io_err(output))?;
    }
    let uv_name = uv.to_string_lossy().into_owned();
    let result = Command::new(uv)
        .args(uv_compile_args(target, input, staged.path()))
        .stdin(Stdio::null())
        .output();
    let out = match result {
        Ok(out) => out,
        Err(e) => {
            let detail = if e.kind() == io::ErrorKind::NotFound {
                "not found".to_string()
            } else {
                e.to_string()
            };
            return Err(LockError::UvMissing { uv: uv_name, detail });
        }
    };
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        let start = lines.len().saturating_sub(20);
        return Err(LockError::UvFailed {
            input: input.to_path_buf(),
            status: out.status.to_string(),
            detail: lines[start..].join("\n"),
        });
    }
    crate::venv::requirements::parse_file(staged.path(), target).map_err(|e| LockError::Invalid {
        input: input.to_path_buf(),
        output: output.to_path_buf(),
        source: Box::new(e),
    })?;
    staged.persist(output).map_err(|e| LockError::Io {
        path: output.to_path_buf(),
        source: e.error,
    })?;
    crate::venv::requirements::parse_file(output, target).map_err(|e| LockError::Invalid {
        input: input.to_path_buf(),
        output: output.to_path_buf(),
        source: Box::new(e),
    })
}

/// Fetches every requirement for the target, with pip from `CRPACK_PIP_PYTHON` or `python3`.
pub fn fetch(
    reqs: &Requirements,
    target: &Target,
    cache: &WheelCache,
    events: &mut dyn FnMut(FetchEvent),
) -> Result<Vec<FetchedWheel>, FetchError> {
    fetch_with(reqs, target, cache, &FetchOptions::from_env(), events)
}

/// Fetches every requirement for the target: from the cache when a pinned file fitting the
/// target is there, the rest in one `pip download` run. One wheel per requirement, in the
/// requirements' order.
pub fn fetch_with(
    reqs: &Requirements,
    target: &Target,
    cache: &WheelCache,
    options: &FetchOptions,
    events: &mut dyn FnMut(FetchEvent),
) -> Result<Vec<FetchedWheel>, FetchError> {
    let wanted: Vec<&Requirement> = reqs.for_target().collect();
    let mut found: Vec<Option<FetchedWheel>> = vec![None; wanted.len()];
    let mut missing = Vec::new();
    for (i, req) in wanted.iter().enumerate() {
        match best_cached(req, target, cache) {
            Some(wheel) => {
                events(FetchEvent::Cached {
                    name: req.name.clone(),
                    version: req.version.clone(),
                    file_name: wheel.file_name.clone(),
                });
                found[i] = Some(fetched(req, wheel));
            }
            None => missing.push(i),
        }
    }
    if !missing.is_empty() {
        events(FetchEvent::Downloading { count: missing.len() });
        let to_download: Vec<&Requirement> = missing.iter().map(|&i| wanted[i]).collect();
        let downloaded = download(reqs, &to_download, target, cache, options)?;
        for (slot, wheel) in missing.iter().zip(downloaded) {
            events(FetchEvent::Downloaded {
                name: wheel.name.clone(),
                version: wheel.version.clone(),
                file_name: wheel.file_name.clone(),
                size: wheel.size,
            });
            found[*slot] = Some(wheel);
        }
    }
    Ok(found.into_iter().flatten().collect())
}

/// The best-fitting cached file among the requirement's pinned ones.
fn best_cached(req: &Requirement, target: &Target, cache: &WheelCache) -> Option<CachedWheel> {
    req.hashes
        .iter()
        .filter_map(|digest| {
            let wheel = cache.get(digest)?;
            let name = WheelName::parse(&wheel.file_name)?;
            if name.normalized_name() != req.normalized {
                return None;
            }
            Some((target.rank(&name)?, wheel))
        })
        .min_by_key(|(rank, _)| *rank)
        .map(|(_, wheel)| wheel)
}

fn fetched(req: &Requirement, wheel: CachedWheel) -> FetchedWheel {
    FetchedWheel {
        name: req.name.clone(),
        normalized: req.normalized.clone(),
        version: req.version.clone(),
        file_name: wheel.file_name,
        path: wheel.path,
        sha256: wheel.sha256,
        size: wheel.size,
        url: wheel.origin.and_then(|o| o.url),
        requirement_file: req.file.clone(),
        requirement_line: req.line,
    }
}

/// The `pip download` command line for the target (without `-d` and `-r`).
pub fn pip_download_args(target: &Target) -> Vec<String> {
    let mut args: Vec<String> = [
        "-m",
        "pip",
        "download",
        "-vv",
        "--no-deps",
        "--only-binary=:all:",
        "--require-hashes",
        "--implementation",
        "cp",
        "--python-version",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(target.python_version());
    args.push("--abi".into());
    args.push(target.cpython_tag());
    for platform in target.pip_platforms() {
        args.push("--platform".into());
        args.push(platform);
    }
    args
}

/// Downloads `missing` in one pip run, checks each file, and moves them into the cache.
fn download(
    reqs: &Requirements,
    missing: &[&Requirement],
    target: &Target,
    cache: &WheelCache,
    options: &FetchOptions,
) -> Result<Vec<FetchedWheel>, FetchError> {
    let cache_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FetchError::Cache { path, source }
    };
    let work = cache.work_dir().map_err(cache_err(cache.root()))?;
    let dest = work.path().join("wheels");
    fs::create_dir(&dest).map_err(cache_err(&dest))?;
    let req_file = work.path().join("requirements.txt");
    let mut lines = reqs.index.to_lines();
    for req in missing {
        let mut line = format!("{}=={}", req.name, req.version);
        for digest in &req.hashes {
            let _ = write!(line, " --hash=sha256:{}", digest.to_hex());
        }
        lines.push(line);
    }
    let mut text = lines.join("\n");
    text.push('\n');
    fs::write(&req_file, text).map_err(cache_err(&req_file))?;
    let log_path = work.path().join("pip.log");
    let log_file = fs::File::create(&log_path).map_err(cache_err(&log_path))?;
    let log_err = log_file.try_clone().map_err(cache_err(&log_path))?;

    let python = options.python.to_string_lossy().into_owned();
    let mut command = Command::new(&options.python);
    command
        .args(pip_download_args(target))
        .arg("-d")
        .arg(&dest)
        .arg("-r")
        .arg(&req_file)
        .env("PIP_REQUIRE_VIRTUALENV", "0")
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err);
    let status = match command.status() {
        Ok(status) => status,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(FetchError::PipMissing {
                python,
                detail: format!("{} was not found", options.python.to_string_lossy()),
            });
        }
        Err(e) => {
            return Err(FetchError::PipMissing {
                python,
                detail: e.to_string(),
            });
        }
    };
    let log_bytes = fs::read(&log_path).map_err(cache_err(&log_path))?;
    let log_text = String::from_utf8_lossy(&log_bytes);
    let log = PipLog::new(&log_text);
    if !status.success() {
        return Err(log.diagnose(missing, target, &python, &status.to_string()));
    }

    // Check everything before caching anything.
    let urls = log.urls();
    let mut by_requirement: Vec<Option<(PathBuf, String, Sha256Digest)>> = vec![None; missing.len()];
    let entries = fs::read_dir(&dest).map_err(cache_err(&dest))?;
    for entry in entries {
        let entry = entry.map_err(cache_err(&dest))?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let Some(wheel) = WheelName::parse(&file_name) else {
            return Err(FetchError::Unexpected { wheel: file_name });
        };
        let Some(index) = missing
            .iter()
            .position(|r| r.normalized == wheel.normalized_name())
        else {
            return Err(FetchError::Unexpected { wheel: file_name });
        };
        let req = missing[index];
        let (actual, _) = Sha256Digest::of_file(&path).map_err(cache_err(&path))?;
        if !req.hashes.contains(&actual) {
            return Err(FetchError::HashMismatch {
                requirement: req.pin(),
                file: req.file.clone(),
                line: req.line,
                wheel: urls.get(&file_name).cloned().unwrap_or(file_name),
                expected: req.hashes.clone(),
                actual: Box::new(actual),
            });
        }
        if !target.accepts(&wheel) {
            return Err(FetchError::NotForTarget {
                requirement: req.pin(),
                file: req.file.clone(),
                line: req.line,
                wheel: file_name,
                target: target.to_string(),
            });
        }
        if by_requirement[index].is_some() {
            return Err(FetchError::Unexpected { wheel: file_name });
        }
        by_requirement[index] = Some((path, file_name, actual));
    }
    let mut out = Vec::with_capacity(missing.len());
    let mut checked = Vec::with_capacity(missing.len());
    for (req, slot) in missing.iter().zip(by_requirement) {
        match slot {
            Some(found) => checked.push((*req, found)),
            None => {
                return Err(FetchError::NotDownloaded {
                    requirement: req.pin(),
                    file: req.file.clone(),
                    line: req.line,
                    detail: log.tail(),
                });
            }
        }
    }
    for (req, (path, file_name, digest)) in checked {
        let url = urls.get(&file_name).cloned();
        let placed = cache
            .insert(&path, &file_name, &digest, url.as_deref())
            .map_err(cache_err(&cache.entry_dir(&digest)))?;
        let size = fs::metadata(&placed).map_err(cache_err(&placed))?.len();
        // Another process may have stored the same bytes first, under its own file name.
        let file_name = placed
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or(file_name);
        out.push(FetchedWheel {
            name: req.name.clone(),
            normalized: req.normalized.clone(),
            version: req.version.clone(),
            file_name,
            path: placed,
            sha256: digest,
            size,
            url,
            requirement_file: req.file.clone(),
            requirement_line: req.line,
        });
    }
    Ok(out)
}

/// The last path segment of a URL or path, percent-decoded, without query or fragment.
fn url_file_name(url: &str) -> String {
    let url = url.split(['#', '?']).next().unwrap_or(url);
    let last = url.rsplit(['/', '\\']).next().unwrap_or(url);
    percent_encoding::percent_decode_str(last)
        .decode_utf8_lossy()
        .into_owned()
}

/// A URL without its fragment (pip appends `#sha256=…`) and without any user or password
/// (pip masks passwords in its log, but a user name alone may still be there).
fn without_fragment(url: &str) -> String {
    let url = url.split('#').next().unwrap_or(url);
    if let Some((scheme, rest)) = url.split_once("://") {
        let authority_end = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            return format!("{scheme}://{}", &rest[at + 1..]);
        }
    }
    url.to_string()
}

/// `name-version.tar.gz` (or `.zip`, `.tar.bz2`, …) → (normalized name, version).
fn sdist_name(file_name: &str) -> Option<(String, String)> {
    let stem = [
        ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".tar", ".zip",
    ]
    .iter()
    .find_map(|ext| file_name.strip_suffix(ext))?;
    let (name, version) = stem.rsplit_once('-')?;
    if name.is_empty() || version.is_empty() {
        return None;
    }
    Some((normalize_name(name), version.to_string()))
}

/// What pip's `-vv` output says.
struct PipLog<'a> {
    lines: Vec<&'a str>,
}

/// A link pip looked at and skipped, with its reason.
struct SkippedLink {
    file_name: String,
    reason: String,
}

impl<'a> PipLog<'a> {
    fn new(text: &'a str) -> Self {
        PipLog {
            lines: text.lines().collect(),
        }
    }

    /// File name → URL of every file pip fetched (`Added NAME==VER from URL …` or
    /// `Downloading URL`).
    fn urls(&self) -> HashMap<String, String> {
        let mut urls = HashMap::new();
        for line in &self.lines {
            let line = line.trim();
            let url = if let Some(rest) = line.strip_prefix("Added ") {
                rest.split_once(" from ")
                    .and_then(|(_, r)| r.split_whitespace().next())
            } else if let Some(rest) = line.strip_prefix("Downloading ") {
                rest.split_whitespace().next().filter(|u| u.contains("://"))
            } else {
                None
            };
            if let Some(url) = url {
                let url = without_fragment(url);
                let name = url_file_name(&url);
                if name.ends_with(".whl") {
                    urls.entry(name).or_insert(url);
                }
            }
        }
        urls
    }

    /// `Skipping link: REASON: LINK` lines.
    fn skipped_links(&self) -> Vec<SkippedLink> {
        self.lines
            .iter()
            .filter_map(|line| {
                let rest = line.trim().strip_prefix("Skipping link: ")?;
                let (reason, link) = rest.rsplit_once(": ")?;
                let url = link.split_whitespace().next()?;
                Some(SkippedLink {
                    file_name: url_file_name(url),
                    reason: reason.to_string(),
                })
            })
            .collect()
    }

    /// File names from `Found link LINK, version: V` lines (links pip considered candidates).
    fn found_links(&self) -> Vec<String> {
        self.lines
            .iter()
            .filter_map(|line| {
                let rest = line.trim().strip_prefix("Found link ")?;
                let url = rest.split([' ', ',']).next()?;
                Some(url_file_name(url))
            })
            .collect()
    }

    /// pip's `ERROR:`/`WARNING:` lines with their indented continuation lines.
    fn messages(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut in_message = false;
        for line in &self.lines {
            if line.starts_with("ERROR:") || line.starts_with("WARNING:") {
                in_message = true;
                if !out.iter().any(|l| l == line) {
                    out.push(line.to_string());
                }
            } else if in_message && line.starts_with(char::is_whitespace) && !line.trim().is_empty() {
                out.push(line.to_string());
            } else {
                in_message = false;
            }
        }
        out
    }

    /// The messages, or the last lines when there are none.
    fn tail(&self) -> String {
        let messages = self.messages();
        let lines: Vec<String> = if messages.is_empty() {
            self.lines
                .iter()
                .filter(|l| !l.trim().is_empty())
                .map(|l| l.to_string())
                .collect()
        } else {
            messages
        };
        let start = lines.len().saturating_sub(15);
        lines[start..].join("\n")
    }

    /// Requirements pip names in `No matching distribution found for NAME==VER`.
    fn unmatched(&self) -> Vec<String> {
        self.lines
            .iter()
            .filter_map(|line| {
                let rest = line
                    .trim()
                    .strip_prefix("ERROR: No matching distribution found for ")?;
                let spec = rest.split_whitespace().next()?;
                let name_end = spec
                    .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
                    .unwrap_or(spec.len());
                Some(normalize_name(&spec[..name_end]))
            })
            .collect()
    }

    /// The `THESE PACKAGES DO NOT MATCH THE HASHES` report: (normalized name, URL, expected,
    /// got) per package.
    fn hash_mismatches(&self) -> Vec<(String, String, Vec<Sha256Digest>, Option<Sha256Digest>)> {
        let mut out = Vec::new();
        let Some(start) = self
            .lines
            .iter()
            .position(|l| l.contains("DO NOT MATCH THE HASHES"))
        else {
            return out;
        };
        for line in &self.lines[start + 1..] {
            let trimmed = line.trim();
            if trimmed.is_empty() || !line.starts_with(char::is_whitespace) {
                break;
            }
            if let Some(hex) = trimmed.strip_prefix("Expected") {
                let Some(last) = hex.split_whitespace().last() else {
                    continue;
                };
                if let (Some(entry), Ok(d)) = (out.last_mut(), Sha256Digest::parse(last)) {
                    entry.2.push(d);
                }
            } else if let Some(hex) = trimmed.strip_prefix("Got") {
                if let (Some(entry), Ok(d)) = (out.last_mut(), Sha256Digest::parse(hex.trim())) {
                    entry.3 = Some(d);
                }
            } else if let Some((spec, rest)) = trimmed.split_once(" from ") {
                let name = spec.split("==").next().unwrap_or(spec);
                let url = rest.split_whitespace().next().unwrap_or(rest);
                out.push((
                    normalize_name(name),
                    without_fragment(url.trim_end_matches(':')),
                    Vec::new(),
                    None,
                ));
            }
        }
        out
    }

    /// Turns a failed run into the most precise error the log allows.
    fn diagnose(&self, missing: &[&Requirement], target: &Target, python: &str, status: &str) -> FetchError {
        if self.lines.iter().any(|l| l.contains("No module named pip")) {
            return FetchError::PipMissing {
                python: python.to_string(),
                detail: "No module named pip".into(),
            };
        }
        for (name, url, expected, got) in self.hash_mismatches() {
            if let (Some(req), Some(actual)) = (missing.iter().find(|r| r.normalized == name), got) {
                return FetchError::HashMismatch {
                    requirement: req.pin(),
                    file: req.file.clone(),
                    line: req.line,
                    wheel: url,
                    expected: if expected.is_empty() {
                        req.hashes.clone()
                    } else {
                        expected
                    },
                    actual: Box::new(actual),
                };
            }
        }
        let skipped = self.skipped_links();
        let found = self.found_links();
        for name in self.unmatched() {
            let Some(req) = missing.iter().find(|r| r.normalized == name) else {
                continue;
            };
            let same = |file_name: &str| -> Option<bool> {
                if let Some(w) = WheelName::parse(file_name) {
                    return Some(
                        w.normalized_name() == req.normalized && same_version(&w.version, &req.version),
                    );
                }
                let (n, v) = sdist_name(file_name)?;
                Some(n == req.normalized && same_version(&v, &req.version))
            };
            let mut found_tags = Vec::new();
            let mut sdists = Vec::new();
            let mut other_reasons = Vec::new();
            for link in &skipped {
                if same(&link.file_name) != Some(true) {
                    continue;
                }
                match WheelName::parse(&link.file_name) {
                    Some(w) => {
                        if link.reason.starts_with("none of the wheel's tags") {
                            let tags = w.tag_string();
                            if !found_tags.contains(&tags) {
                                found_tags.push(tags);
                            }
                        } else {
                            other_reasons.push(format!("{}: {}", link.file_name, link.reason));
                        }
                    }
                    None => {
                        if !sdists.contains(&link.file_name) {
                            sdists.push(link.file_name.clone());
                        }
                    }
                }
            }
            let fitting: Vec<String> = found
                .iter()
                .filter(|f| same(f) == Some(true) && WheelName::parse(f).is_some_and(|w| target.accepts(&w)))
                .cloned()
                .collect();
            if !fitting.is_empty() {
                return FetchError::UnpinnedFiles {
                    requirement: req.pin(),
                    file: req.file.clone(),
                    line: req.line,
                    target: Box::new(target.clone()),
                    files: fitting,
                };
            }
            if !found_tags.is_empty() || !sdists.is_empty() {
                return FetchError::NoCompatibleWheel {
                    requirement: req.pin(),
                    file: req.file.clone(),
                    line: req.line,
                    target: Box::new(target.clone()),
                    found_tags,
                    sdists,
                };
            }
            other_reasons.push(self.tail());
            return FetchError::NotFound {
                requirement: req.pin(),
                file: req.file.clone(),
                line: req.line,
                detail: other_reasons.join("\n"),
            };
        }
        FetchError::PipFailed {
            status: status.to_string(),
            detail: self.tail(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venv::requirements::parse_file;
    use crate::venv::test_support::names_in;
    use zip::ZipWriter;
    use zip::write::SimpleFileOptions;

    /// A temporary project: a `--find-links` directory, a cache, and a requirements file.
    struct Project {
        dir: tempfile::TempDir,
    }

    impl Project {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            fs::create_dir(dir.path().join("links")).unwrap();
            Project { dir }
        }

        fn links(&self) -> PathBuf {
            self.dir.path().join("links")
        }

        fn cache(&self) -> WheelCache {
            WheelCache::new(self.dir.path().join("cache"))
        }

        /// The wheel `file` of `name==version` as the only requirement, pinned to its hash:
        /// its digest, the parsed requirements and the (empty) cache.
        fn one_wheel(
            &self,
            file: &str,
            name: &str,
            version: &str,
        ) -> (Sha256Digest, Requirements, WheelCache) {
            let digest = self.wheel(file);
            let reqs = self.requirements(&[pin(name, version, &[digest])]);
            (digest, reqs, self.cache())
        }

        /// Writes a minimal valid wheel into the links directory; returns its digest.
        fn wheel(&self, file_name: &str) -> Sha256Digest {
            let w = WheelName::parse(file_name).unwrap();
            let path = self.links().join(file_name);
            write_wheel(&path, &w.name, &w.version, &w.tag_string(), b"VALUE = 1\n");
            Sha256Digest::of_file(&path).unwrap().0
        }

        /// Writes a source distribution into the links directory; returns its digest.
        fn sdist(&self, name: &str, version: &str) -> Sha256Digest {
            let path = self.links().join(format!("{name}-{version}.tar.gz"));
            let file = fs::File::create(&path).unwrap();
            let gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
            let mut tar = tar::Builder::new(gz);
            let data = b"from setuptools import setup\nsetup()\n";
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, format!("{name}-{version}/setup.py"), &data[..])
                .unwrap();
            tar.into_inner().unwrap().finish().unwrap();
            Sha256Digest::of_file(&path).unwrap().0
        }

        /// Writes `requirements.txt` (offline: `--no-index`, `--find-links links`) and parses it.
        fn requirements(&self, lines: &[String]) -> Requirements {
            let mut text = String::from("--no-index\n--find-links links\n");
            for line in lines {
                text.push_str(line);
                text.push('\n');
            }
            let path = self.dir.path().join("requirements.txt");
            fs::write(&path, text).unwrap();
            parse_file(&path, &Target::default()).unwrap()
        }

        /// An executable script, written by `cp` so that no file descriptor of this (threaded)
        /// process is open on it for writing when it runs.
        fn script(&self, name: &str, body: &str) -> OsString {
            let src = self.dir.path().join(format!("{name}.src"));
            fs::write(&src, format!("#!/bin/sh\n{body}\n")).unwrap();
            set_mode(&src, 0o755).unwrap();
            let dst = self.dir.path().join(name);
            let status = Command::new("cp").arg(&src).arg(&dst).status().unwrap();
            assert!(status.success());
            dst.into_os_string()
        }

        /// A `python` that records each run and the requirements file it got, then runs pip.
        fn recording_python(&self) -> OsString {
            let log = self.dir.path().join("runs.txt");
            let seen = self.dir.path().join("seen.txt");
            self.script(
                "recording-python",
                &format!(
                    "echo run >> '{}'\nprev=\nfor a in \"$@\"; do\n  if [ \"$prev\" = -r ]; then cat \"$a\" >> '{}'; fi\n  prev=$a\ndone\nexec python3 \"$@\"",
                    log.display(),
                    seen.display()
                ),
            )
        }

        /// A `python` that pretends pip succeeded and leaves `file` in the download directory.
        fn fake_pip_leaving(&self, file: &Path) -> OsString {
            self.script(
                "fake-python",
                &format!(
                    "prev=\nfor a in \"$@\"; do\n  if [ \"$prev\" = -d ]; then cp '{}' \"$a/\"; fi\n  prev=$a\ndone\nexit 0",
                    file.display()
                ),
            )
        }

        fn runs(&self) -> usize {
            fs::read_to_string(self.dir.path().join("runs.txt"))
                .map(|t| t.lines().count())
                .unwrap_or(0)
        }

        fn seen(&self) -> String {
            fs::read_to_string(self.dir.path().join("seen.txt")).unwrap_or_default()
        }
    }

    fn write_wheel(path: &Path, name: &str, version: &str, tag: &str, payload: &[u8]) {
        let mut w = ZipWriter::new(fs::File::create(path).unwrap());
        let options = SimpleFileOptions::default();
        let dist_info = format!("{name}-{version}.dist-info");
        let files: [(String, Vec<u8>); 4] = [
            (format!("{name}/__init__.py"), payload.to_vec()),
            (
                format!("{dist_info}/METADATA"),
                format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n").into_bytes(),
            ),
            (
                format!("{dist_info}/WHEEL"),
                format!("Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: {tag}\n")
                    .into_bytes(),
            ),
            (format!("{dist_info}/RECORD"), Vec::new()),
        ];
        for (file, data) in files {
            w.start_file(file, options).unwrap();
            w.write_all(&data).unwrap();
        }
        w.finish().unwrap();
    }

    fn pin(name: &str, version: &str, digests: &[Sha256Digest]) -> String {
        let mut line = format!("{name}=={version}");
        for d in digests {
            line.push_str(&format!(" --hash=sha256:{}", d.to_hex()));
        }
        line
    }

    fn python3() -> FetchOptions {
        FetchOptions {
            python: "python3".into(),
        }
    }

    fn offline() -> FetchOptions {
        FetchOptions {
            python: "/nonexistent/python3".into(),
        }
    }

    fn run(
        reqs: &Requirements,
        cache: &WheelCache,
        options: &FetchOptions,
    ) -> (Result<Vec<FetchedWheel>, FetchError>, Vec<FetchEvent>) {
        let mut events = Vec::new();
        let result = fetch_with(reqs, &Target::default(), cache, options, &mut |e| events.push(e));
        (result, events)
    }

    /// Every regular file under the cache's `wheels/` directory.
    fn cached_files(cache: &WheelCache) -> Vec<PathBuf> {
        walkdir::WalkDir::new(cache.root().join("wheels"))
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(|e| e.into_path())
            .collect()
    }

    fn leftover_work_dirs(cache: &WheelCache) -> usize {
        fs::read_dir(cache.root().join("tmp"))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn first_fetch_downloads_and_caches_then_the_cache_serves_offline() {
        let p = Project::new();
        let file = "crpack_pure-1.0-py3-none-any.whl";
        let (digest, reqs, cache) = p.one_wheel(file, "crpack-pure", "1.0");

        let (result, events) = run(&reqs, &cache, &python3());
        let wheels = result.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(wheels.len(), 1);
        let w = &wheels[0];
        let entry = cache.entry_dir(&digest);
        assert_eq!(
            entry,
            cache
                .root()
                .join("wheels/sha256")
                .join(&digest.to_hex()[..2])
                .join(digest.to_hex())
        );
        assert_eq!(w.path, entry.join(file));
        assert_eq!(w.file_name, file);
        assert_eq!(w.sha256, digest);
        assert_eq!(w.size, fs::metadata(p.links().join(file)).unwrap().len());
        assert_eq!(
            (w.name.as_str(), w.normalized.as_str(), w.version.as_str()),
            ("crpack-pure", "crpack-pure", "1.0")
        );
        assert_eq!(w.requirement_line, 3);
        assert_eq!(
            fs::read(&w.path).unwrap(),
            fs::read(p.links().join(file)).unwrap()
        );
        let url = w.url.clone().expect("the URL is read from pip's log");
        assert!(url.starts_with("file://") && url.ends_with(file), "{url}");
        assert_eq!(mode(&w.path), 0o644);
        assert_eq!(mode(&entry), 0o755);

        let origin: Origin = serde_json::from_slice(&fs::read(entry.join("origin.json")).unwrap()).unwrap();
        assert_eq!(origin.file_name, file);
        assert_eq!(origin.size, w.size);
        assert_eq!(origin.url, w.url);
        assert!(origin.fetched_at.ends_with('Z'), "{}", origin.fetched_at);
        assert_eq!(mode(&entry.join("origin.json")), 0o644);
        assert_eq!(
            events,
            [
                FetchEvent::Downloading { count: 1 },
                FetchEvent::Downloaded {
                    name: "crpack-pure".into(),
                    version: "1.0".into(),
                    file_name: file.into(),
                    size: w.size,
                }
            ]
        );
        assert_eq!(leftover_work_dirs(&cache), 0);
        assert_eq!(cached_files(&cache).len(), 2, "the wheel and origin.json");

        // No pip at all, and no source either: the cache alone serves it.
        fs::remove_file(p.links().join(file)).unwrap();
        let (again, events) = run(&reqs, &cache, &offline());
        let again = again.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again, wheels);
        assert_eq!(
            events,
            [FetchEvent::Cached {
                name: "crpack-pure".into(),
                version: "1.0".into(),
                file_name: file.into(),
            }]
        );
    }

    #[test]
    fn a_damaged_cache_entry_is_not_used() {
        let p = Project::new();
        let file = "crpack_pure-1.0-py3-none-any.whl";
        let (digest, reqs, cache) = p.one_wheel(file, "crpack-pure", "1.0");
        run(&reqs, &cache, &python3()).0.unwrap();
        let cached = cache.entry_dir(&digest).join(file);
        fs::write(&cached, b"truncated").unwrap();
        assert!(cache.get(&digest).is_none());

        let (result, _) = run(&reqs, &cache, &offline());
        assert!(matches!(result, Err(FetchError::PipMissing { .. })), "{result:?}");
        let (result, events) = run(&reqs, &cache, &python3());
        let wheels = result.unwrap();
        assert_eq!(Sha256Digest::of_file(&wheels[0].path).unwrap().0, digest);
        assert_eq!(events[0], FetchEvent::Downloading { count: 1 });
    }

    #[test]
    fn a_wrong_pinned_hash_is_a_mismatch_and_nothing_is_cached() {
        let p = Project::new();
        let actual = p.wheel("crpack_pure-1.0-py3-none-any.whl");
        let wrong = Sha256Digest::of(b"something else");
        let reqs = p.requirements(&[pin("crpack-pure", "1.0", &[wrong])]);
        let cache = p.cache();
        let (result, _) = run(&reqs, &cache, &python3());
        match result {
            Err(FetchError::HashMismatch {
                requirement,
                line,
                expected,
                actual: got,
                wheel,
                ..
            }) => {
                assert_eq!(requirement, "crpack-pure==1.0");
                assert_eq!(line, 3);
                assert_eq!(expected, [wrong]);
                assert_eq!(*got, actual);
                assert!(wheel.ends_with("crpack_pure-1.0-py3-none-any.whl"), "{wheel}");
            }
            other => panic!("expected a hash mismatch, got {other:?}"),
        }
        assert!(cached_files(&cache).is_empty());
        assert_eq!(leftover_work_dirs(&cache), 0);
    }

    #[test]
    fn a_file_pip_lets_through_with_another_hash_is_refused() {
        let p = Project::new();
        let pinned = p.wheel("crpack_pure-1.0-py3-none-any.whl");
        let other = p.dir.path().join("crpack_pure-1.0-py3-none-any.whl");
        write_wheel(&other, "crpack_pure", "1.0", "py3-none-any", b"VALUE = 2\n");
        let other_digest = Sha256Digest::of_file(&other).unwrap().0;
        let reqs = p.requirements(&[pin("crpack-pure", "1.0", &[pinned])]);
        let cache = p.cache();
        let options = FetchOptions {
            python: p.fake_pip_leaving(&other),
        };
        let err = run(&reqs, &cache, &options).0.unwrap_err();
        match &err {
            FetchError::HashMismatch { expected, actual, .. } => {
                assert_eq!(expected, &[pinned]);
                assert_eq!(**actual, other_digest);
            }
            other => panic!("expected a hash mismatch, got {other:?}"),
        }
        let message = err.to_string();
        assert!(message.contains("requirements.txt:3"), "{message}");
        assert!(message.contains(&other_digest.to_hex()), "{message}");
        assert!(message.contains("nothing was cached"), "{message}");
        assert!(cached_files(&cache).is_empty());
    }

    #[test]
    fn a_downloaded_wheel_for_another_platform_is_refused() {
        let p = Project::new();
        let file = "crpack_native-2.0-cp311-cp311-manylinux_2_17_x86_64.whl";
        let (_, reqs, cache) = p.one_wheel(file, "crpack-native", "2.0");
        let options = FetchOptions {
            python: p.fake_pip_leaving(&p.links().join(file)),
        };
        let err = run(&reqs, &cache, &options).0.unwrap_err();
        assert!(matches!(err, FetchError::NotForTarget { .. }), "{err:?}");
        assert!(cached_files(&cache).is_empty());
    }

    #[test]
    fn pip_saving_nothing_is_an_error() {
        let p = Project::new();
        let digest = p.wheel("crpack_pure-1.0-py3-none-any.whl");
        let reqs = p.requirements(&[pin("crpack-pure", "1.0", &[digest])]);
        let options = FetchOptions {
            python: p.script("quiet-python", "echo 'Successfully downloaded nothing'\nexit 0"),
        };
        let err = run(&reqs, &p.cache(), &options).0.unwrap_err();
        assert!(
            matches!(err, FetchError::NotDownloaded { line: 3, .. }),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("Successfully downloaded nothing"),
            "{err}"
        );
    }

    /// `err` says no wheel fits: for the requirement on its line, with these tags and sdists.
    fn assert_no_compatible_wheel(err: &FetchError, at: (&str, usize), tags: &[&str], sdists: &[&str]) {
        match err {
            FetchError::NoCompatibleWheel {
                requirement,
                line,
                found_tags,
                sdists: found_sdists,
                ..
            } => {
                assert_eq!((requirement.as_str(), *line), at);
                assert_eq!(found_tags, tags);
                assert_eq!(found_sdists, sdists);
            }
            other => panic!("expected no compatible wheel, got {other:?}"),
        }
    }

    #[test]
    fn an_x86_64_only_requirement_names_the_tags_found() {
        let p = Project::new();
        let digest = p.wheel("crpack_native-2.0-cp311-cp311-manylinux_2_17_x86_64.whl");
        // Another version and another project in the same directory are not reported.
        p.wheel("crpack_native-1.0-cp311-cp311-win_amd64.whl");
        p.wheel("crpack_other-2.0-cp311-cp311-macosx_11_0_arm64.whl");
        let reqs = p.requirements(&[pin("crpack-native", "2.0", &[digest])]);
        let cache = p.cache();
        let err = run(&reqs, &cache, &python3()).0.unwrap_err();
        assert_no_compatible_wheel(
            &err,
            ("crpack-native==2.0", 3),
            &["cp311-cp311-manylinux_2_17_x86_64"],
            &[],
        );
        let message = err.to_string();
        assert!(message.contains("requirements.txt:3"), "{message}");
        assert!(message.contains(&Target::default().to_string()), "{message}");
        assert!(message.contains("cp311-cp311-manylinux_2_17_x86_64"), "{message}");
        assert!(
            message.contains("a manylinux aarch64 (glibc <= 2.34) or py3-none-any wheel for CPython 3.11"),
            "{message}"
        );
        assert!(message.contains("compiles nothing"), "{message}");
        assert!(cached_files(&cache).is_empty());
        assert_eq!(leftover_work_dirs(&cache), 0);
    }

    #[test]
    fn an_sdist_only_requirement_says_nothing_can_be_compiled() {
        let p = Project::new();
        let digest = p.sdist("crpack_src", "3.0");
        let reqs = p.requirements(&[pin("crpack-src", "3.0", &[digest])]);
        let err = run(&reqs, &p.cache(), &python3()).0.unwrap_err();
        match &err {
            FetchError::NoCompatibleWheel {
                found_tags, sdists, ..
            } => {
                assert!(found_tags.is_empty(), "{found_tags:?}");
                assert_eq!(sdists, &["crpack_src-3.0.tar.gz"]);
            }
            other => panic!("expected no compatible wheel, got {other:?}"),
        }
        let message = err.to_string();
        assert!(message.contains("only a source distribution"), "{message}");
        assert!(
            message.contains("nothing can be compiled for the target"),
            "{message}"
        );
    }

    #[test]
    fn a_missing_project_says_what_pip_said() {
        let p = Project::new();
        let reqs = p.requirements(&[pin("crpack-absent", "1.0", &[Sha256Digest::of(b"x")])]);
        let err = run(&reqs, &p.cache(), &python3()).0.unwrap_err();
        assert!(matches!(err, FetchError::NotFound { line: 3, .. }), "{err:?}");
        let message = err.to_string();
        assert!(
            message.contains("No matching distribution found for crpack-absent==1.0"),
            "{message}"
        );
        assert!(!message.contains("Traceback"), "{message}");
    }

    #[test]
    fn only_the_missing_requirement_is_downloaded_in_one_run() {
        let p = Project::new();
        let a = p.wheel("crpack_a-1.0-py3-none-any.whl");
        let b = p.wheel("crpack_b-2.0-py2.py3-none-any.whl");
        let c = p.wheel("crpack_c-3.0-py3-none-any.whl");
        let cache = p.cache();
        let first = p.requirements(&[pin("crpack-a", "1.0", &[a])]);
        run(&first, &cache, &python3()).0.unwrap();

        let reqs = p.requirements(&[
            pin("crpack-b", "2.0", &[b]),
            pin("crpack-a", "1.0", &[a]),
            "crpack-x==9.0 ; sys_platform == \"win32\" --hash=sha256:".to_string()
                + &Sha256Digest::of(b"x").to_hex(),
            pin("crpack-c", "3.0", &[c]),
        ]);
        let options = FetchOptions {
            python: p.recording_python(),
        };
        let (result, events) = run(&reqs, &cache, &options);
        let wheels = result.unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<&str> = wheels.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names, ["crpack-b", "crpack-a", "crpack-c"], "requirement order");
        assert_eq!(p.runs(), 1, "one pip run");
        let seen = p.seen();
        assert!(seen.contains(&pin("crpack-b", "2.0", &[b])), "{seen}");
        assert!(seen.contains(&pin("crpack-c", "3.0", &[c])), "{seen}");
        assert!(
            !seen.contains("crpack-a"),
            "the cached one is not asked for: {seen}"
        );
        assert!(!seen.contains("crpack-x"), "not for the target: {seen}");
        assert!(seen.contains("--no-index"), "{seen}");
        let links = std::path::absolute(p.links()).unwrap();
        assert!(
            seen.contains(&format!("--find-links {}", links.display())),
            "{seen}"
        );
        assert!(!seen.contains(';'), "no markers: {seen}");
        assert_eq!(
            events[0],
            FetchEvent::Cached {
                name: "crpack-a".into(),
                version: "1.0".into(),
                file_name: "crpack_a-1.0-py3-none-any.whl".into(),
            }
        );
        assert_eq!(events[1], FetchEvent::Downloading { count: 2 });
        assert_eq!(events.len(), 4);

        // Everything is cached now: no run at all.
        let (result, _) = run(&reqs, &cache, &options);
        assert_eq!(result.unwrap(), wheels);
        assert_eq!(p.runs(), 1);
    }

    #[test]
    fn the_best_fitting_cached_file_is_chosen() {
        let p = Project::new();
        let pure = p.wheel("crpack_multi-1.0-py3-none-any.whl");
        let native = p.wheel("crpack_multi-1.0-cp311-cp311-manylinux_2_28_aarch64.whl");
        let x86 = p.wheel("crpack_multi-1.0-cp311-cp311-manylinux_2_28_x86_64.whl");
        let cache = p.cache();
        for (digest, file) in [
            (pure, "crpack_multi-1.0-py3-none-any.whl"),
            (native, "crpack_multi-1.0-cp311-cp311-manylinux_2_28_aarch64.whl"),
            (x86, "crpack_multi-1.0-cp311-cp311-manylinux_2_28_x86_64.whl"),
        ] {
            let tmp = p.dir.path().join("copy.whl");
            fs::copy(p.links().join(file), &tmp).unwrap();
            cache.insert(&tmp, file, &digest, None).unwrap();
        }
        let reqs = p.requirements(&[pin("crpack-multi", "1.0", &[x86, pure, native])]);
        let wheels = run(&reqs, &cache, &offline()).0.unwrap();
        assert_eq!(
            wheels[0].file_name,
            "crpack_multi-1.0-cp311-cp311-manylinux_2_28_aarch64.whl"
        );
        assert_eq!(wheels[0].url, None);

        // Only the x86_64 one cached: it does not count, so pip is needed.
        let reqs = p.requirements(&[pin("crpack-multi", "1.0", &[x86])]);
        let err = run(&reqs, &cache, &offline()).0.unwrap_err();
        assert!(matches!(err, FetchError::PipMissing { .. }), "{err:?}");
    }

    #[test]
    fn a_missing_python_gives_the_install_fix() {
        let p = Project::new();
        let digest = p.wheel("crpack_pure-1.0-py3-none-any.whl");
        let reqs = p.requirements(&[pin("crpack-pure", "1.0", &[digest])]);
        let err = run(&reqs, &p.cache(), &offline()).0.unwrap_err();
        let message = err.to_string();
        assert!(message.contains("/nonexistent/python3 -m pip"), "{message}");
        assert!(message.contains("ensurepip"), "{message}");
        assert!(message.contains(PIP_PYTHON_ENV), "{message}");

        let options = FetchOptions {
            python: p.script(
                "no-pip-python",
                "echo '/usr/bin/python3: No module named pip' >&2\nexit 1",
            ),
        };
        let err = run(&reqs, &p.cache(), &options).0.unwrap_err();
        assert!(matches!(err, FetchError::PipMissing { .. }), "{err:?}");
    }

    #[test]
    fn no_requirements_need_no_pip() {
        let p = Project::new();
        let reqs = p.requirements(&[]);
        let (result, events) = run(&reqs, &p.cache(), &offline());
        assert!(result.unwrap().is_empty());
        assert!(events.is_empty());
    }

    #[test]
    fn the_cache_root_follows_the_environment() {
        let vars = |pairs: &'static [(&str, &str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        assert_eq!(
            cache_root_from(vars(&[
                ("CRPACK_CACHE_DIR", "/c"),
                ("XDG_CACHE_HOME", "/x"),
                ("HOME", "/h")
            ])),
            Some(PathBuf::from("/c"))
        );
        assert_eq!(
            cache_root_from(vars(&[
                ("CRPACK_CACHE_DIR", ""),
                ("XDG_CACHE_HOME", "/x"),
                ("HOME", "/h")
            ])),
            Some(PathBuf::from("/x/crpack"))
        );
        assert_eq!(
            cache_root_from(vars(&[("XDG_CACHE_HOME", "relative"), ("HOME", "/h")])),
            Some(PathBuf::from("/h/.cache/crpack"))
        );
        assert_eq!(cache_root_from(vars(&[])), None);
    }

    #[test]
    fn pip_is_asked_for_the_target_only() {
        let args = pip_download_args(&Target::default());
        let joined = args.join(" ");
        assert!(joined.starts_with("-m pip download -vv --no-deps --only-binary=:all: --require-hashes --implementation cp --python-version 3.11 --abi cp311 --platform manylinux_2_34_aarch64"), "{joined}");
        assert_eq!(args.iter().filter(|a| *a == "--platform").count(), 19);
        assert!(joined.contains("--platform manylinux2014_aarch64"));
        assert!(!joined.contains("--platform any"));
    }

    /// A `uv` that records its arguments and what the output file held before, then writes
    /// `lock` to it (or fails with `stderr` when `lock` is `None`).
    fn fake_uv(p: &Project, lock: Option<&str>, stderr: &str) -> OsString {
        let args = p.dir.path().join("uv-args.txt");
        let before = p.dir.path().join("uv-saw.txt");
        let lock_src = p.dir.path().join("lock-to-write.txt");
        let act = match lock {
            Some(text) => {
                fs::write(&lock_src, text).unwrap();
                format!(
                    "cat \"$out\" > '{}' 2>/dev/null\ncp '{}' \"$out\"\nexit 0",
                    before.display(),
                    lock_src.display()
                )
            }
            None => format!("echo '{stderr}' >&2\nexit 2"),
        };
        p.script(
            "fake-uv",
            &format!(
                "prev=\nout=\nfor a in \"$@\"; do\n  echo \"$a\" >> '{}'\n  if [ \"$prev\" = -o ]; then out=$a; fi\n  prev=$a\ndone\n{act}",
                args.display()
            ),
        )
    }

    #[test]
    fn lock_writes_a_checked_lock_and_keeps_existing_pins_visible() {
        let p = Project::new();
        let out_dir = p.dir.path().join("locked");
        fs::create_dir(&out_dir).unwrap();
        let input = p.dir.path().join("requirements.in");
        fs::write(&input, "six\n").unwrap();
        let output = out_dir.join("requirements.txt");
        fs::write(&output, "six==1.15.0 --hash=sha256:00\n").unwrap();
        let digest = Sha256Digest::of(b"six");
        let lock_text = format!(
            "six==1.16.0 \\\n    --hash=sha256:{}\n    # via -r requirements.in\n",
            digest.to_hex()
        );
        let uv = fake_uv(&p, Some(&lock_text), "");

        let reqs = lock_with(&input, &output, &Target::default(), &uv).unwrap();
        assert_eq!(fs::read_to_string(&output).unwrap(), lock_text);
        assert_eq!(reqs.requirements.len(), 1);
        assert_eq!(reqs.requirements[0].pin(), "six==1.16.0");
        assert_eq!(reqs.files, std::slice::from_ref(&output));
        assert_eq!(mode(&output), 0o644);
        assert_eq!(names_in(&out_dir), ["requirements.txt"], "no temporary file left");
        assert_eq!(
            fs::read_to_string(p.dir.path().join("uv-saw.txt")).unwrap(),
            "six==1.15.0 --hash=sha256:00\n",
            "uv sees the existing pins"
        );
        let args = fs::read_to_string(p.dir.path().join("uv-args.txt")).unwrap();
        let args: Vec<&str> = args.lines().collect();
        assert_eq!(
            args[..9],
            [
                "pip",
                "compile",
                "--generate-hashes",
                "--python-platform",
                "aarch64-manylinux_2_34",
                "--python-version",
                "3.11",
                "--no-header",
                input.to_str().unwrap(),
            ]
        );
        assert_eq!(args[9], "-o");
        assert!(
            Path::new(args[10]).starts_with(&out_dir),
            "written beside the output"
        );
    }

    #[test]
    fn an_unusable_lock_leaves_the_output_alone() {
        let p = Project::new();
        let input = p.dir.path().join("requirements.in");
        fs::write(&input, "numpy\n").unwrap();
        let output = p.dir.path().join("requirements.txt");
        fs::write(&output, "old\n").unwrap();
        let uv = fake_uv(&p, Some("numpy>=1.26\n"), "");
        let err = lock_with(&input, &output, &Target::default(), &uv).unwrap_err();
        assert!(matches!(err, LockError::Invalid { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("not pinned"), "{message}");
        assert!(message.contains("left unchanged"), "{message}");
        assert_eq!(fs::read_to_string(&output).unwrap(), "old\n");
        assert!(!names_in(p.dir.path()).iter().any(|n| n.ends_with(".tmp")));
    }

    #[test]
    fn a_failing_or_missing_uv_is_explained() {
        let p = Project::new();
        let input = p.dir.path().join("requirements.in");
        fs::write(&input, "nosuchproject\n").unwrap();
        let output = p.dir.path().join("requirements.txt");
        let uv = fake_uv(&p, None, "No solution found when resolving dependencies");
        let err = lock_with(&input, &output, &Target::default(), &uv).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, LockError::UvFailed { .. }), "{message}");
        assert!(message.contains("No solution found"), "{message}");
        assert!(message.contains("requirements.in"), "{message}");
        assert!(!output.exists());

        let err = lock_with(&input, &output, &Target::default(), "/nonexistent/uv".as_ref()).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, LockError::UvMissing { .. }), "{message}");
        assert!(message.contains("pip install uv"), "{message}");
        assert!(message.contains(UV_ENV), "{message}");
        assert!(!output.exists());
    }

    #[test]
    fn uv_is_given_the_newest_level_it_knows_for_the_target() {
        let with_glibc = |minor| Target {
            glibc: (2, minor),
            ..Target::default()
        };
        assert_eq!(uv_platform(&Target::default()), "aarch64-manylinux_2_34");
        assert_eq!(uv_platform(&with_glibc(30)), "aarch64-manylinux_2_28");
        assert_eq!(uv_platform(&with_glibc(17)), "aarch64-manylinux_2_17");
        assert_eq!(uv_platform(&with_glibc(45)), "aarch64-manylinux_2_40");
        assert!(lock_command(&Target::default()).starts_with(
            "uv pip compile --generate-hashes --python-platform aarch64-manylinux_2_34 --python-version 3.11 --no-header requirements.in -o requirements.txt"
        ));
    }

    fn requirement(name: &str, version: &str) -> Requirement {
        Requirement {
            name: name.into(),
            normalized: normalize_name(name),
            extras: vec![],
            version: version.into(),
            hashes: vec![Sha256Digest::of(name.as_bytes())],
            file: PathBuf::from("requirements.txt"),
            line: 7,
            marker: None,
            for_target: true,
        }
    }

    /// A remote index's links carry `(from …)` and `(requires-python:…)` after the URL.
    #[test]
    fn an_index_log_is_diagnosed() {
        let log = "\
Looking in indexes: https://pypi.org/simple
Skipping link: none of the wheel's tags (cp311-cp311-macosx_11_0_arm64) are compatible (run pip debug --verbose to show compatible tags): https://files.example/packages/ab/Some_Pkg-1.2.0-cp311-cp311-macosx_11_0_arm64.whl#sha256=00 (from https://pypi.org/simple/some-pkg/) (requires-python:>=3.9)
Skipping link: none of the wheel's tags (cp311-cp311-manylinux_2_17_x86_64, cp311-cp311-manylinux2014_x86_64) are compatible (run pip debug --verbose to show compatible tags): https://files.example/packages/ab/some_pkg-1.2.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl#sha256=11 (from https://pypi.org/simple/some-pkg/) (requires-python:>=3.9)
Skipping link: none of the wheel's tags (cp310-cp310-manylinux_2_17_aarch64) are compatible (run pip debug --verbose to show compatible tags): https://files.example/packages/ab/some_pkg-1.1.0-cp310-cp310-manylinux_2_17_aarch64.whl#sha256=22 (from https://pypi.org/simple/some-pkg/)
Skipping link: No binaries permitted for some-pkg: https://files.example/packages/ab/some-pkg-1.2.0.tar.gz#sha256=33 (from https://pypi.org/simple/some-pkg/) (requires-python:>=3.9)
Skipping link: No sources permitted for some-pkg: https://files.example/packages/ab/some_pkg-1.2.zip#sha256=44 (from https://pypi.org/simple/some-pkg/)
ERROR: Could not find a version that satisfies the requirement Some.Pkg==1.2.0 (from versions: none)
ERROR: No matching distribution found for Some.Pkg==1.2.0
";
        let req = requirement("Some.Pkg", "1.2.0");
        let other = requirement("other", "1.0");
        let err = PipLog::new(log).diagnose(&[&other, &req], &Target::default(), "python3", "exit status: 1");
        assert_no_compatible_wheel(
            &err,
            ("Some.Pkg==1.2.0", 7),
            &[
                "cp311-cp311-macosx_11_0_arm64",
                "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64",
            ],
            &["some-pkg-1.2.0.tar.gz", "some_pkg-1.2.zip"],
        );
    }

    #[test]
    fn other_reasons_to_skip_a_file_are_kept() {
        let log = "\
Skipping link: 1.2.0 Requires-Python >=3.12: https://files.example/p/some_pkg-1.2.0-py3-none-any.whl#sha256=55 (from https://pypi.org/simple/some-pkg/) (requires-python:>=3.12)
ERROR: Could not find a version that satisfies the requirement some-pkg==1.2.0 (from versions: 1.0)
ERROR: No matching distribution found for some-pkg==1.2.0
";
        let req = requirement("some-pkg", "1.2.0");
        let err = PipLog::new(log).diagnose(&[&req], &Target::default(), "python3", "exit status: 1");
        let message = err.to_string();
        assert!(matches!(err, FetchError::NotFound { .. }), "{message}");
        assert!(
            message.contains("some_pkg-1.2.0-py3-none-any.whl: 1.2.0 Requires-Python >=3.12"),
            "{message}"
        );
        assert!(message.contains("from versions: 1.0"), "{message}");
    }

    #[test]
    fn fitting_files_with_other_hashes_are_reported_as_such() {
        let log = "\
Found link https://files.example/p/some_pkg-1.2.0-py3-none-any.whl#sha256=55 (from https://pypi.org/simple/some-pkg/), version: 1.2.0
Checked 1 links for project 'some-pkg' against 1 hashes (0 matches, 0 no digest): discarding 1 non-matches:
  https://files.example/p/some_pkg-1.2.0-py3-none-any.whl#sha256=55 (from https://pypi.org/simple/some-pkg/)
ERROR: No matching distribution found for some-pkg==1.2.0
";
        let req = requirement("some-pkg", "1.2.0");
        let err = PipLog::new(log).diagnose(&[&req], &Target::default(), "python3", "exit status: 1");
        assert!(
            matches!(&err, FetchError::UnpinnedFiles { files, .. } if files == &["some_pkg-1.2.0-py3-none-any.whl"]),
            "{err:?}"
        );
        assert!(err.to_string().contains("regenerate the lock"), "{err}");
    }

    #[test]
    fn an_unexplained_failure_keeps_pips_error_lines() {
        let log = "\
Created temporary directory: /tmp/x
WARNING: Retrying (Retry(total=0)) after connection broken by 'NewConnectionError': /simple/six/
ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device
Exception information:
Traceback (most recent call last):
  File \"x.py\", line 1, in <module>
OSError: [Errno 28] No space left on device
";
        let req = requirement("six", "1.16.0");
        let err = PipLog::new(log).diagnose(&[&req], &Target::default(), "python3", "exit status: 1");
        let message = err.to_string();
        assert!(matches!(err, FetchError::PipFailed { .. }), "{message}");
        assert!(message.contains("No space left on device"), "{message}");
        assert!(message.contains("Retrying"), "{message}");
        assert!(!message.contains("Traceback"), "{message}");
        assert!(!message.contains("temporary directory"), "{message}");
    }

    #[test]
    fn urls_come_from_the_log() {
        let log = "\
  Added some-pkg==1.2.0 from https://files.example/p/some_pkg-1.2.0-py3-none-any.whl#sha256=55 (from -r /tmp/r.txt (line 1)) to build tracker '/tmp/t'
Downloading https://__token__:****@files.example/p/other-1.0-py3-none-any.whl (12 kB)
Downloading other-2.0-py3-none-any.whl (12 kB)
";
        let urls = PipLog::new(log).urls();
        assert_eq!(
            urls.get("some_pkg-1.2.0-py3-none-any.whl").map(String::as_str),
            Some("https://files.example/p/some_pkg-1.2.0-py3-none-any.whl")
        );
        assert_eq!(
            urls.get("other-1.0-py3-none-any.whl").map(String::as_str),
            Some("https://files.example/p/other-1.0-py3-none-any.whl")
        );
        assert_eq!(urls.len(), 2);
        assert_eq!(
            url_file_name("https://x/a%2Bb-1.0-py3-none-any.whl?x=1#y"),
            "a+b-1.0-py3-none-any.whl"
        );
        assert_eq!(
            sdist_name("python-dateutil-2.8.2.tar.gz"),
            Some(("python-dateutil".into(), "2.8.2".into()))
        );
        assert_eq!(sdist_name("x.whl"), None);
    }
}
