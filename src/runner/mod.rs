//! Runs a PySpark entry point the way Clean Rooms does, on local PySpark (placeholder
//! interface; the implementation replaces the bodies).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

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

/// Checks for python3 + pyspark 3.5.x + Java; returns a description of the runtime.
pub fn runtime_available() -> Result<String, RunnerError> {
    Err(RunnerError::RuntimeMissing("the local runner is not built yet".into()))
}

/// Runs the entry point and writes its results.
pub fn run(_spec: &RunSpec) -> Result<RunOutput, RunnerError> {
    Err(RunnerError::RuntimeMissing("the local runner is not built yet".into()))
}
