//! Runs a PySpark entry point the way Clean Rooms does, on local PySpark.
//!
//! The work is done by `harness.py` (embedded here, written to a temporary directory for each
//! run) in a child `python` process: it starts a local SparkSession, reads the sample tables,
//! builds the service's `context` dict, calls `entrypoint(context)`, checks the return value
//! against the service's contract, and writes each result DataFrame as Parquet. It reports
//! through one JSON document written to a file whose path it is given, so nothing Spark or the
//! script prints can corrupt it. Spark's logs are captured: they appear in the error of a failed
//! run, and are echoed to stderr only when `CRPACK_RUNNER_VERBOSE` is set.
//!
//! [`run`] is synchronous, thread-safe (every run has its own temporary directory, Spark
//! session and JVM) and prints nothing to the terminal.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The harness script, written to a temporary file for each run.
pub const HARNESS: &str = include_str!("harness.py");

/// Chooses the interpreter (default `python3`).
pub mod provision;

pub const PYTHON_ENV: &str = "CRPACK_PYTHON";
/// When set (to anything but empty or `0`), Spark's and the harness's logs are echoed to stderr.
pub const VERBOSE_ENV: &str = "CRPACK_RUNNER_VERBOSE";
/// The Spark version of the Clean Rooms `PYSPARK_1_0` runtime.
pub const SERVICE_SPARK_VERSION: &str = "3.5.3";
/// The Python version of the Clean Rooms `PYSPARK_1_0` runtime.
pub const SERVICE_PYTHON_VERSION: &str = "3.11";

/// Lines of captured log kept for error messages.
const LOG_TAIL_LINES: usize = 40;
/// Lines of captured log kept in memory (the tail is cut from these).
const LOG_KEEP_LINES: usize = 400;

/// The one line that says how to get a runtime.
pub const INSTALL_HINT: &str = "local runs need python3 with pyspark 3.5.x and a Java runtime: \
     pip install 'pyspark==3.5.3' and install a JDK 17 (e.g. apt-get install openjdk-17-jre-headless); \
     set CRPACK_PYTHON to choose the interpreter";

/// One run of an entry point.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The entry point `.py` file.
    pub entry_point: PathBuf,
    /// The additional artifact (a bundle zip for sys.path, or a venv-pack `.tar.gz`), if any.
    pub additional: Option<PathBuf>,
    /// Table name → sample data file (`.csv` with a header row, or `.parquet`).
    pub tables: BTreeMap<String, PathBuf>,
    /// Parameter name → value (strings, as the service passes them). `None` when the template
    /// declares no parameters (then `context` has no `analysisParameters`, as in the service).
    pub parameters: Option<BTreeMap<String, String>>,
    /// Each result DataFrame is written to `<out_dir>/<name>/` as Parquet.
    pub out_dir: PathBuf,
    /// Rows of each result to include in the preview.
    pub preview_rows: usize,
}

/// One result DataFrame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultSet {
    pub name: String,
    pub rows: u64,
    pub columns: Vec<String>,
    /// The directory its Parquet files were written to.
    pub path: PathBuf,
    /// The first rows, each as column values rendered as strings.
    pub preview: Vec<Vec<String>>,
}

/// A successful run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunOutput {
    pub results: Vec<ResultSet>,
    pub duration_ms: u64,
    /// Things worth a look that did not stop the run (a pyspark other than 3.5.3, native
    /// modules in a venv archive, extra keys in the return value...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// No usable runtime (python3 with pyspark 3.5.x, and Java): the message says how to install it.
    #[error("{0}")]
    RuntimeMissing(String),
    /// The script broke the service's contract (no entrypoint, a non-DataFrame result, an
    /// undeclared table...): `code` is stable, the message says what to fix.
    #[error("{code}: {message}")]
    Contract { code: String, message: String },
    /// The script raised an exception.
    #[error("the entry point failed: {message}")]
    Script { message: String, traceback: String },
    #[error("{0}")]
    Other(String),
}

/// The stable contract codes ([`RunnerError::Contract`]'s `code`).
pub mod codes {
    /// The script defines no callable `entrypoint`.
    pub const ENTRYPOINT_NOT_FOUND: &str = "ENTRYPOINT_NOT_FOUND";
    /// `entrypoint` cannot be called with one argument (`context`).
    pub const ENTRYPOINT_SIGNATURE: &str = "ENTRYPOINT_SIGNATURE";
    /// The return value is not a dict with a `"results"` dict.
    pub const INVALID_RETURN: &str = "INVALID_RETURN";
    /// A `results` value is not a Spark DataFrame (or its key is not a usable output name).
    pub const INVALID_RESULT: &str = "INVALID_RESULT";
    /// The script read a table the template does not declare.
    pub const UNDECLARED_TABLE: &str = "UNDECLARED_TABLE";
}

/// Extra controls for [`run_with`].
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Kill the run after this long (an [`RunnerError::Other`] says so).
    pub timeout: Option<Duration>,
    /// Set to `true` from another thread to kill the run.
    pub cancel: Option<Arc<AtomicBool>>,
}

/// What the runtime check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeInfo {
    /// The interpreter as given (`CRPACK_PYTHON` or `python3`).
    pub python: String,
    /// `sys.executable`.
    pub python_executable: String,
    pub python_version: String,
    pub pyspark_version: String,
    /// The first line of `java -version`.
    pub java: String,
    /// Differences from the service's runtime that do not stop local runs.
    pub warnings: Vec<String>,
}

impl RuntimeInfo {
    /// One line: interpreter, versions, and any warnings.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "python {} ({}), pyspark {}, {}",
            self.python_version, self.python_executable, self.pyspark_version, self.java
        );
        for w in &self.warnings {
            s.push_str("; warning: ");
            s.push_str(w);
        }
        s
    }
}

/// The interpreter: `CRPACK_PYTHON` if set, else the runtime crpack provisioned (when there is
/// one), else `python3`.
pub fn python_command() -> OsString {
    match std::env::var_os(PYTHON_ENV) {
        Some(p) if !p.is_empty() => p,
        _ => provision::cached()
            .map(|r| r.python.into_os_string())
            .unwrap_or_else(|| OsString::from("python3")),
    }
}

/// The JDK of the provisioned runtime, when it is the one in use and brought its own.
fn provisioned_java_home() -> Option<PathBuf> {
    match std::env::var_os(PYTHON_ENV) {
        Some(p) if !p.is_empty() => None,
        _ => provision::cached().and_then(|r| r.java_home),
    }
}

fn verbose() -> bool {
    std::env::var_os(VERBOSE_ENV).is_some_and(|v| !v.is_empty() && v != "0")
}

fn missing(detail: impl AsRef<str>) -> RunnerError {
    RunnerError::RuntimeMissing(format!("{} ({INSTALL_HINT})", detail.as_ref()))
}

/// Checks for python3 + pyspark 3.5.x + Java; returns a description of the runtime.
pub fn runtime_available() -> Result<String, RunnerError> {
    runtime_info().map(|i| i.describe())
}

/// Like [`runtime_available`], with the details. Cached per process and interpreter.
pub fn runtime_info() -> Result<RuntimeInfo, RunnerError> {
    static CACHE: OnceLock<Mutex<HashMap<OsString, Result<RuntimeInfo, String>>>> = OnceLock::new();
    let python = python_command();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(hit) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&python) {
        return hit.clone().map_err(RunnerError::RuntimeMissing);
    }
    let result = check_runtime(&python).map_err(|e| e.to_string());
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(python, result.clone());
    result.map_err(RunnerError::RuntimeMissing)
}

const PROBE: &str = r#"
import json, sys
doc = {"python": "%d.%d.%d" % sys.version_info[:3], "executable": sys.executable}
try:
    import pyspark
    doc["pyspark"] = pyspark.__version__
except Exception as e:
    doc["pyspark_error"] = "%s: %s" % (type(e).__name__, e)
print(json.dumps(doc))
"#;

#[derive(Deserialize)]
struct Probe {
    python: String,
    executable: String,
    pyspark: Option<String>,
    pyspark_error: Option<String>,
}

fn check_runtime(python: &OsString) -> Result<RuntimeInfo, RunnerError> {
    let shown = python.to_string_lossy().into_owned();
    let out = Command::new(python)
        .args(["-c", PROBE])
        .stdin(Stdio::null())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .map_err(|e| missing(format!("cannot run {shown}: {e}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let probe: Probe = match stdout.lines().rev().find_map(|l| serde_json::from_str(l).ok()) {
        Some(p) if out.status.success() => p,
        _ => {
            let err = String::from_utf8_lossy(&out.stderr);
            let last = err.lines().last().unwrap_or("").trim();
            return Err(missing(format!("{shown} did not run ({}): {last}", out.status)));
        }
    };
    let (pyspark, warnings) = check_versions(&probe).map_err(|m| missing(format!("{shown}: {m}")))?;
    let java = java_version().map_err(missing)?;
    Ok(RuntimeInfo {
        python: shown,
        python_executable: probe.executable,
        python_version: probe.python,
        pyspark_version: pyspark,
        java,
        warnings,
    })
}

/// The pyspark version, or why it is unusable; and warnings for differences from the service.
fn check_versions(probe: &Probe) -> Result<(String, Vec<String>), String> {
    let pyspark = match (&probe.pyspark, &probe.pyspark_error) {
        (Some(v), _) => v.clone(),
        (None, Some(e)) => return Err(format!("cannot import pyspark ({e})")),
        (None, None) => return Err("cannot import pyspark".to_string()),
    };
    let mut warnings = Vec::new();
    if !(pyspark.starts_with("3.5.") || pyspark == "3.5") {
        return Err(format!(
            "pyspark {pyspark} is installed, but Clean Rooms runs Spark {SERVICE_SPARK_VERSION}"
        ));
    }
    if pyspark != SERVICE_SPARK_VERSION {
        warnings.push(format!(
            "pyspark {pyspark} differs from the service's Spark {SERVICE_SPARK_VERSION}"
        ));
    }
    let minor = probe.python.split('.').take(2).collect::<Vec<_>>().join(".");
    if minor != SERVICE_PYTHON_VERSION {
        warnings.push(format!(
            "python {} differs from the service's Python {SERVICE_PYTHON_VERSION}",
            probe.python
        ));
    }
    Ok((pyspark, warnings))
}

/// The first line of `java -version` (from `$JAVA_HOME/bin/java` when JAVA_HOME is set, as
/// Spark does).
fn java_version() -> Result<String, String> {
    let java = match provisioned_java_home()
        .map(PathBuf::into_os_string)
        .or_else(|| std::env::var_os("JAVA_HOME"))
    {
        Some(home) if !home.is_empty() => PathBuf::from(home).join("bin").join("java"),
        _ => PathBuf::from("java"),
    };
    let out = Command::new(&java)
        .arg("-version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("no Java runtime: cannot run {}: {e}", java.display()))?;
    let text = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string();
    if !out.status.success() || first.is_empty() {
        return Err(format!("{} -version failed: {first}", java.display()));
    }
    Ok(first)
}

/// How a sample file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    /// CSV with a header row (schema inferred); `.csv` or `.csv.gz`.
    Csv,
    /// Parquet: a `.parquet` file, or a directory of part files.
    Parquet,
}

/// The format of a sample file from its name (a directory is read as Parquet).
pub fn table_format(path: &Path) -> Option<TableFormat> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    if name.ends_with(".csv") || name.ends_with(".csv.gz") {
        Some(TableFormat::Csv)
    } else if name.ends_with(".parquet") || path.is_dir() {
        Some(TableFormat::Parquet)
    } else {
        None
    }
}

/// The kind of additional artifact, from its first bytes (file names are not to be trusted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactKind {
    /// A zip of modules, put on `sys.path`.
    Zip,
    /// A gzipped tar, read as a venv-pack archive.
    TarGz,
}

/// Sniffs an additional artifact's kind; `None` when it is neither (or unreadable).
pub fn artifact_kind(path: &Path) -> Option<ArtifactKind> {
    let mut head = [0u8; 4];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .ok()?;
    let head = &head[..n];
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Some(ArtifactKind::Zip)
    } else if head.starts_with(&[0x1f, 0x8b]) {
        Some(ArtifactKind::TarGz)
    } else {
        None
    }
}

/// Checks what can be checked before starting Spark.
fn check_spec(spec: &RunSpec) -> Result<(), RunnerError> {
    let require = |holds: bool, problem: String| {
        if holds {
            Ok(())
        } else {
            Err(RunnerError::Other(problem))
        }
    };
    let entry_point = spec.entry_point.display();
    require(
        spec.entry_point.is_file(),
        format!("the entry point {entry_point} does not exist"),
    )?;
    if let Some(a) = &spec.additional {
        let shown = a.display();
        require(
            a.is_file(),
            format!("the additional artifact {shown} does not exist"),
        )?;
        require(
            artifact_kind(a).is_some(),
            format!("the additional artifact {shown} is neither a zip nor a venv-pack .tar.gz"),
        )?;
    }
    for (table, path) in &spec.tables {
        let data = format!("the sample data of table {table:?}, {}", path.display());
        require(path.exists(), format!("{data}, does not exist"))?;
        require(
            table_format(path).is_some(),
            format!("{data}, is neither .csv (with a header row) nor .parquet"),
        )?;
    }
    Ok(())
}

/// What the harness is given (SPEC.json).
#[derive(Serialize)]
struct HarnessSpec<'a> {
    entry_point: PathBuf,
    additional: Option<PathBuf>,
    /// For a venv archive: its site-packages, already unpacked (safely, by crpack) under
    /// `work_dir/environment/` as Spark unpacks `spark.archives=...#environment`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    site_packages: Vec<PathBuf>,
    tables: BTreeMap<&'a str, PathBuf>,
    parameters: Option<&'a BTreeMap<String, String>>,
    out_dir: PathBuf,
    preview_rows: usize,
    work_dir: &'a Path,
    verbose: bool,
}

/// What the harness reports (RESULT.json).
#[derive(Debug, Deserialize)]
struct HarnessResult {
    ok: bool,
    #[serde(default)]
    results: Vec<ResultSet>,
    #[serde(default)]
    warnings: Vec<String>,
    error: Option<HarnessError>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum HarnessError {
    Contract { code: String, message: String },
    Script { message: String, traceback: String },
    Other { message: String },
}

/// Runs the entry point and writes its results.
pub fn run(spec: &RunSpec) -> Result<RunOutput, RunnerError> {
    run_with(spec, &RunOptions::default())
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// [`run`] with a timeout and/or a cancel flag.
pub fn run_with(spec: &RunSpec, opts: &RunOptions) -> Result<RunOutput, RunnerError> {
    let started = Instant::now();
    let info = runtime_info()?;
    let mut warnings = info.warnings.clone();
    let (result, tail) = execute(
        &python_command(),
        Path::new(&info.python_executable),
        spec,
        opts,
        started,
    )?;
    warnings.extend(result.warnings.iter().cloned());
    interpret(result, warnings, &tail, started.elapsed())
}

/// Runs the harness with `python` (workers use `executable`) and reads its result document;
/// also returns the tail of the captured log.
fn execute(
    python: &OsString,
    executable: &Path,
    spec: &RunSpec,
    opts: &RunOptions,
    started: Instant,
) -> Result<(HarnessResult, String), RunnerError> {
    check_spec(spec)?;
    std::fs::create_dir_all(&spec.out_dir)
        .map_err(|e| RunnerError::Other(format!("cannot create {}: {e}", spec.out_dir.display())))?;

    let work = tempfile::Builder::new()
        .prefix("crpack-run-")
        .tempdir()
        .map_err(|e| RunnerError::Other(format!("cannot create a temporary directory: {e}")))?;
    let harness = work.path().join("crpack_harness.py");
    let spec_path = work.path().join("spec.json");
    let mut venv_warnings = Vec::new();
    let site_packages = match spec.additional.as_deref() {
        Some(a) if artifact_kind(a) == Some(ArtifactKind::TarGz) => {
            let (dirs, warnings) = unpack_environment(a, &work.path().join("environment"))?;
            venv_warnings = warnings;
            dirs
        }
        _ => Vec::new(),
    };
    let result_path = work.path().join("result.json");
    let doc = HarnessSpec {
        entry_point: absolute(&spec.entry_point),
        additional: if site_packages.is_empty() {
            spec.additional.as_deref().map(absolute)
        } else {
            None
        },
        site_packages,
        tables: spec
            .tables
            .iter()
            .map(|(k, v)| (k.as_str(), absolute(v)))
            .collect(),
        parameters: spec.parameters.as_ref(),
        out_dir: absolute(&spec.out_dir),
        preview_rows: spec.preview_rows,
        work_dir: work.path(),
        verbose: verbose(),
    };
    let spec_json = serde_json::to_vec(&doc).map_err(|e| RunnerError::Other(e.to_string()))?;
    std::fs::write(&harness, HARNESS)
        .and_then(|_| std::fs::write(&spec_path, spec_json))
        .map_err(|e| RunnerError::Other(format!("cannot write to {}: {e}", work.path().display())))?;

    let mut cmd = Command::new(python);
    if let Some(home) = provisioned_java_home() {
        cmd.env("JAVA_HOME", home);
    }
    cmd.arg(&harness)
        .arg(&spec_path)
        .arg(&result_path)
        .current_dir(work.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // The executors' Python workers use the same interpreter as the driver.
        .env("PYSPARK_PYTHON", executable)
        .env("PYSPARK_DRIVER_PYTHON", executable)
        // No __pycache__ next to the user's files.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .env("SPARK_LOCAL_IP", "127.0.0.1")
        .env_remove("PYSPARK_SUBMIT_ARGS")
        .env_remove("SPARK_CONF_DIR");
    let mut child = cmd
        .spawn()
        .map_err(|e| missing(format!("cannot run {}: {e}", python.to_string_lossy())))?;

    let log = Arc::new(Mutex::new(VecDeque::<String>::new()));
    let echo = verbose();
    let readers: Vec<_> = [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
        child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|stream| {
        let log = Arc::clone(&log);
        std::thread::spawn(move || collect_lines(stream, &log, echo))
    })
    .collect();

    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) => {}
            Err(e) => break Err(format!("waiting for the runner failed: {e}")),
        }
        let cancelled = opts.cancel.as_ref().is_some_and(|c| c.load(Ordering::SeqCst));
        let timed_out = opts.timeout.is_some_and(|t| started.elapsed() >= t);
        if cancelled || timed_out {
            let _ = child.kill();
            let _ = child.wait();
            break Err(if cancelled {
                "the run was cancelled".to_string()
            } else {
                format!(
                    "the run took longer than {} s and was stopped",
                    opts.timeout.unwrap_or_default().as_secs()
                )
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    for r in readers {
        let _ = r.join();
    }
    let tail = log_tail(&log.lock().unwrap_or_else(|e| e.into_inner()));
    let status = status.map_err(|m| RunnerError::Other(with_tail(m, &tail)))?;

    let text = match std::fs::read_to_string(&result_path) {
        Ok(t) => t,
        Err(_) => {
            return Err(RunnerError::Other(with_tail(
                format!("the local runner exited ({status}) without a result"),
                &tail,
            )));
        }
    };
    let mut result: HarnessResult = serde_json::from_str(&text)
        .map_err(|e| RunnerError::Other(format!("the local runner's result is not valid JSON: {e}")))?;
    result.warnings.splice(0..0, venv_warnings);
    Ok((result, tail))
}

/// The ELF `e_machine` of the CPU this process runs on, when known.
fn host_machine() -> Option<u16> {
    match std::env::consts::ARCH {
        "x86_64" | "x86" => Some(if cfg!(target_pointer_width = "64") { 62 } else { 3 }),
        "aarch64" => Some(183),
        "arm" => Some(40),
        "riscv64" => Some(243),
        "powerpc64" => Some(21),
        "s390x" => Some(22),
        _ => None,
    }
}

/// Unpacks a venv archive into `dest` as Spark would (`#environment`), refusing members that
/// would land outside it, and returns its site-packages directories plus warnings: the
/// distributions whose native code is for another CPU than this host's (they run on Clean
/// Rooms' aarch64, not here).
fn unpack_environment(archive: &Path, dest: &Path) -> Result<(Vec<PathBuf>, Vec<String>), RunnerError> {
    crpack_core::venv::unpack::unpack_tar_gz(archive, dest).map_err(|e| {
        RunnerError::Other(format!(
            "cannot unpack the environment {}: {e}",
            archive.display()
        ))
    })?;
    let mut dirs = Vec::new();
    let lib = dest.join("lib");
    if let Ok(entries) = std::fs::read_dir(&lib) {
        let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        names.sort();
        for p in names {
            let is_python = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("python3"));
            let site = p.join("site-packages");
            if is_python && std::fs::symlink_metadata(&site).is_ok_and(|m| m.is_dir()) {
                dirs.push(site);
            }
        }
    }
    if dirs.is_empty() {
        return Err(RunnerError::Other(format!(
            "the environment {} has no lib/python3*/site-packages; build it with crpack ([bundle] requirements) \
             or venv-pack",
            archive.display()
        )));
    }
    let mut warnings = Vec::new();
    let host = std::env::consts::ARCH;
    let host_machine = host_machine();
    let mut foreign: BTreeMap<String, String> = BTreeMap::new();
    for site in &dirs {
        for entry in walkdir::WalkDir::new(site).into_iter().filter_map(|e| e.ok()) {
            if !entry.file_type().is_file() {
                continue;
            }
            let mut head = [0u8; 64];
            let n = std::fs::File::open(entry.path())
                .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
                .unwrap_or(0);
            if let crpack_core::platform::Binary::Elf {
                bits64,
                little_endian,
                machine,
            } = crpack_core::platform::identify(&head[..n])
                && Some(machine) != host_machine
            {
                let arch = crpack_core::platform::machine_name(machine, bits64, little_endian);
                let rel = entry.path().strip_prefix(site).unwrap_or(entry.path());
                let top = rel
                    .components()
                    .next()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .unwrap_or_default();
                foreign.entry(top).or_insert(arch);
            }
        }
    }
    if !foreign.is_empty() {
        let names: Vec<String> = foreign
            .iter()
            .map(|(pkg, arch)| format!("{} ({arch})", crpack_core::text::escape(pkg)))
            .collect();
        warnings.push(format!(
            "native code in the environment cannot load on this {host} machine: {}; importing these fails \
             here although it works on Clean Rooms' Linux aarch64 (`crpack check --import-on-arm64` imports \
             them on aarch64)",
            names.join(", ")
        ));
    }
    Ok((dirs, warnings))
}

/// Turns the harness's document into the run's outcome.
fn interpret(
    result: HarnessResult,
    warnings: Vec<String>,
    tail: &str,
    elapsed: Duration,
) -> Result<RunOutput, RunnerError> {
    match (result.ok, result.error) {
        (true, _) => Ok(RunOutput {
            results: result.results,
            duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            warnings,
        }),
        (false, Some(HarnessError::Contract { code, message })) => {
            Err(RunnerError::Contract { code, message })
        }
        (false, Some(HarnessError::Script { message, traceback })) => {
            Err(RunnerError::Script { message, traceback })
        }
        (false, Some(HarnessError::Other { message })) => Err(RunnerError::Other(with_tail(message, tail))),
        (false, None) => Err(RunnerError::Other(with_tail(
            "the local runner failed without saying why".to_string(),
            tail,
        ))),
    }
}

fn collect_lines(stream: Box<dyn Read + Send>, log: &Mutex<VecDeque<String>>, echo: bool) {
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf).trim_end().to_string();
                if echo {
                    eprintln!("{line}");
                }
                let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                log.push_back(line);
                while log.len() > LOG_KEEP_LINES {
                    log.pop_front();
                }
            }
        }
    }
}

/// The last lines of the log that say something (Spark's chatter about native libraries and
/// log levels is left out).
fn log_tail(log: &VecDeque<String>) -> String {
    const NOISE: &[&str] = &[
        "NativeCodeLoader",
        "Setting default log level",
        "To adjust logging level",
        "Using Spark's default log4j profile",
    ];
    let useful: Vec<&String> = log
        .iter()
        .filter(|l| !l.trim().is_empty() && !NOISE.iter().any(|n| l.contains(n)))
        .collect();
    let start = useful.len().saturating_sub(LOG_TAIL_LINES);
    useful[start..]
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

fn with_tail(message: String, tail: &str) -> String {
    if tail.is_empty() {
        message
    } else {
        format!("{message}\n--- runner log (last lines) ---\n{tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(python: &str, pyspark: Option<&str>) -> Probe {
        Probe {
            python: python.into(),
            executable: "/usr/bin/python3".into(),
            pyspark: pyspark.map(str::to_string),
            pyspark_error: pyspark
                .is_none()
                .then(|| "ModuleNotFoundError: No module named 'pyspark'".into()),
        }
    }

    #[test]
    fn versions_are_checked_against_the_service() {
        let (v, w) = check_versions(&probe("3.11.7", Some("3.5.3"))).unwrap();
        assert_eq!(v, "3.5.3");
        assert!(w.is_empty(), "{w:?}");
        let (_, w) = check_versions(&probe("3.12.1", Some("3.5.1"))).unwrap();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("3.5.1") && w[1].contains("3.12.1"), "{w:?}");
        let err = check_versions(&probe("3.11.7", Some("4.0.0"))).unwrap_err();
        assert!(err.contains("4.0.0") && err.contains("3.5.3"), "{err}");
        let err = check_versions(&probe("3.11.7", None)).unwrap_err();
        assert!(err.contains("No module named 'pyspark'"), "{err}");
    }

    #[test]
    fn a_missing_interpreter_is_one_line_that_says_how_to_install() {
        let err = check_runtime(&OsString::from("/nonexistent/python")).unwrap_err();
        let RunnerError::RuntimeMissing(msg) = &err else {
            panic!("expected RuntimeMissing, got {err:?}");
        };
        assert!(!msg.contains('\n'), "{msg}");
        assert!(msg.contains("/nonexistent/python"), "{msg}");
        assert!(msg.contains("pip install 'pyspark==3.5.3'"), "{msg}");
        assert!(msg.contains("openjdk-17"), "{msg}");
        assert!(msg.contains(PYTHON_ENV), "{msg}");
    }

    #[test]
    fn table_formats_come_from_the_name() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(table_format(Path::new("s/orders.csv")), Some(TableFormat::Csv));
        assert_eq!(table_format(Path::new("s/orders.CSV.gz")), Some(TableFormat::Csv));
        assert_eq!(
            table_format(Path::new("s/orders.parquet")),
            Some(TableFormat::Parquet)
        );
        assert_eq!(table_format(dir.path()), Some(TableFormat::Parquet));
        assert_eq!(table_format(Path::new("s/orders.json")), None);
    }

    fn spec(dir: &Path) -> RunSpec {
        RunSpec {
            entry_point: dir.join("entry.py"),
            additional: None,
            tables: BTreeMap::new(),
            parameters: None,
            out_dir: dir.join("out"),
            preview_rows: 5,
        }
    }

    #[test]
    fn the_spec_is_checked_before_spark_starts() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = spec(dir.path());
        let err = check_spec(&s).unwrap_err().to_string();
        assert!(
            err.contains("entry.py") && err.contains("does not exist"),
            "{err}"
        );
        std::fs::write(&s.entry_point, "def entrypoint(context): pass\n").unwrap();
        check_spec(&s).unwrap();
        s.tables.insert("orders".into(), dir.path().join("orders.csv"));
        let err = check_spec(&s).unwrap_err().to_string();
        assert!(err.contains("\"orders\"") && err.contains("orders.csv"), "{err}");
        std::fs::write(dir.path().join("orders.json"), "{}").unwrap();
        s.tables.insert("orders".into(), dir.path().join("orders.json"));
        let err = check_spec(&s).unwrap_err().to_string();
        assert!(err.contains("neither .csv"), "{err}");
        s.tables.clear();
        let whl = dir.path().join("lib.tar.gz");
        s.additional = Some(whl.clone());
        let err = check_spec(&s).unwrap_err().to_string();
        assert!(
            err.contains("lib.tar.gz") && err.contains("does not exist"),
            "{err}"
        );
        std::fs::write(&whl, "not an archive").unwrap();
        let err = check_spec(&s).unwrap_err().to_string();
        assert!(err.contains("neither a zip"), "{err}");
        // The kind comes from the bytes, not the name.
        std::fs::write(&whl, b"PK\x03\x04rest").unwrap();
        assert_eq!(artifact_kind(&whl), Some(ArtifactKind::Zip));
        check_spec(&s).unwrap();
        std::fs::write(&whl, [0x1f, 0x8b, 8, 0]).unwrap();
        assert_eq!(artifact_kind(&whl), Some(ArtifactKind::TarGz));
    }

    fn parse(json: &str) -> Result<RunOutput, RunnerError> {
        let r: HarnessResult = serde_json::from_str(json).unwrap();
        interpret(r, vec![], "spark said\nthis", Duration::from_millis(1234))
    }

    #[test]
    fn the_harness_protocol_maps_to_results_and_errors() {
        let ok = parse(
            r#"{"ok": true, "warnings": [], "results": [{"name": "overlap", "rows": 2,
                "columns": ["segment", "customers"], "path": "/o/overlap",
                "preview": [["gold", "3"], ["silver", "1"]]}]}"#,
        )
        .unwrap();
        assert_eq!(ok.duration_ms, 1234);
        assert_eq!(ok.results[0].name, "overlap");
        assert_eq!(ok.results[0].preview[1], ["silver", "1"]);

        let err = parse(
            r#"{"ok": false, "warnings": [], "error": {"kind": "contract",
                "code": "INVALID_RESULT", "message": "results['x'] is a int"}}"#,
        )
        .unwrap_err();
        assert!(
            matches!(&err, RunnerError::Contract { code, .. } if code == codes::INVALID_RESULT),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "INVALID_RESULT: results['x'] is a int");

        let err = parse(
            r#"{"ok": false, "error": {"kind": "script", "message": "ValueError: boom",
                "traceback": "Traceback...\nValueError: boom\n"}}"#,
        )
        .unwrap_err();
        assert!(
            matches!(&err, RunnerError::Script { message, traceback } if message == "ValueError: boom" && traceback.contains("Traceback")),
            "{err:?}"
        );

        let err =
            parse(r#"{"ok": false, "error": {"kind": "other", "message": "cannot read"}}"#).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("cannot read\n") && text.ends_with("spark said\nthis"),
            "{text}"
        );
    }

    #[test]
    fn the_log_tail_skips_noise_and_keeps_the_end() {
        let mut log: VecDeque<String> = (0..100).map(|i| format!("line {i}")).collect();
        log.push_back("26/01/01 WARN NativeCodeLoader: Unable to load native-hadoop library".into());
        log.push_back(String::new());
        let tail = log_tail(&log);
        assert_eq!(tail.lines().count(), LOG_TAIL_LINES);
        assert!(tail.ends_with("line 99"), "{tail}");
        assert_eq!(with_tail("m".into(), ""), "m");
    }

    /// Runs the harness with plain `python3` (no pyspark needed: these fail before Spark).
    fn harness_outcome(source: &str) -> Option<Result<RunOutput, RunnerError>> {
        let python = OsString::from("python3");
        let ok = Command::new(&python)
            .args([
                "-c",
                "import ast, sys; sys.exit(0 if hasattr(ast, 'unparse') else 1)",
            ])
            .status()
            .is_ok_and(|s| s.success());
        // python3 is part of the test setup (the README's test command installs it): a missing
        // one fails these tests rather than passing them unchecked.
        assert!(ok, "these tests need python3 >= 3.9 on PATH");
        let dir = tempfile::tempdir().unwrap();
        let s = spec(dir.path());
        std::fs::write(&s.entry_point, source).unwrap();
        let started = Instant::now();
        let (result, tail) =
            execute(&python, Path::new("python3"), &s, &RunOptions::default(), started).unwrap();
        Some(interpret(result, vec![], &tail, started.elapsed()))
    }

    fn contract_code(outcome: Result<RunOutput, RunnerError>) -> (String, String) {
        match outcome {
            Err(RunnerError::Contract { code, message }) => (code, message),
            other => panic!("expected a contract error, got {other:?}"),
        }
    }

    #[test]
    fn mistakes_in_the_source_are_reported_before_spark_starts() {
        let Some(out) = harness_outcome("def main(context):\n    return {}\n\ndef helper(x):\n    pass\n")
        else {
            return;
        };
        let (code, msg) = contract_code(out);
        assert_eq!(code, codes::ENTRYPOINT_NOT_FOUND, "{msg}");
        assert!(msg.contains("entry.py") && msg.contains("main, helper"), "{msg}");

        for source in [
            "def entrypoint():\n    pass\n",
            "def entrypoint(context, other):\n    pass\n",
            "def entrypoint(*, context):\n    pass\n",
        ] {
            let (code, msg) = contract_code(harness_outcome(source).unwrap());
            assert_eq!(code, codes::ENTRYPOINT_SIGNATURE, "{source}: {msg}");
            assert!(msg.contains("def entrypoint(context)"), "{msg}");
        }

        match harness_outcome("def entrypoint(context:\n    pass\n").unwrap() {
            Err(RunnerError::Script { message, traceback }) => {
                assert!(message.starts_with("SyntaxError"), "{message}");
                assert!(message.contains("while loading entry.py"), "{message}");
                assert!(traceback.contains("entry.py"), "{traceback}");
            }
            other => panic!("expected a script error, got {other:?}"),
        }
    }
}
