//! The project file, `crpack.toml`: parsed strictly (unknown keys are errors that name the key
//! and line) and validated against the service's own patterns and limits.
//!
//! `raw` holds the file as serde reads it (with spans for error lines), `sections` validates
//! each section into the types here.

mod raw;
mod sections;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::venv::target::Target;
use raw::RawManifest;
use sections::Validator;

/// The project file's name.
pub const MANIFEST_NAME: &str = "crpack.toml";

/// `crpack.toml` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error(
        "no {MANIFEST_NAME} in {} or any parent directory; run `crpack init` to create a project, or pass -C DIR",
        start.display()
    )]
    NotFound { start: PathBuf },
    #[error("cannot read {}: {source}; check that it is a readable file", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error(
        "{}:{line}: not UTF-8 text: invalid UTF-8 at byte offset {offset} (line {line}, byte {column} of \
         the line); TOML files must be UTF-8: re-save the file as UTF-8 (e.g. with `iconv -f latin1 -t utf-8`) \
         or retype the character there",
        path.display()
    )]
    NotUtf8 {
        path: PathBuf,
        /// 1-based line of the first invalid byte.
        line: usize,
        /// 1-based byte within that line.
        column: usize,
        /// 0-based byte offset in the file.
        offset: usize,
    },
    #[error("{}: {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    #[error("{}:{line}: `{key}`: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        key: String,
        message: String,
    },
}

/// How much detail a failed job's error message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorMessages {
    /// The service's default: no details.
    #[default]
    Basic,
    /// Detailed messages; they may expose data to the result receiver, so every data provider
    /// must approve the template.
    Detailed,
}

/// Where the first byte that is not UTF-8 lies, as line, byte within the line and offset.
fn not_utf8(path: &Path, bytes: &[u8], e: std::str::Utf8Error) -> ProjectError {
    let offset = e.valid_up_to();
    let before = &bytes[..offset];
    let line_start = before.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
    ProjectError::NotUtf8 {
        path: path.to_path_buf(),
        line: before.iter().filter(|b| **b == b'\n').count() + 1,
        column: offset - line_start + 1,
        offset,
    }
}

/// A loaded, validated project.
#[derive(Debug, Clone)]
pub struct Project {
    /// The directory that holds `crpack.toml` (absolute).
    pub root: PathBuf,
    pub manifest_path: PathBuf,
    pub template: Template,
    pub bundle: Option<BundleSpec>,
    pub publish: Option<PublishConfig>,
    /// `[local]`: settings for `crpack run --local` (empty when the section is absent).
    pub local: LocalConfig,
}

/// `[template]`.
#[derive(Debug, Clone, Serialize)]
pub struct Template {
    pub name: String,
    pub description: Option<String>,
    /// Relative to the project root, `/`-separated.
    pub entry_point: String,
    pub referenced_tables: Vec<String>,
    pub error_messages: ErrorMessages,
    pub parameters: Vec<Parameter>,
    pub tags: BTreeMap<String, String>,
}

/// One `[[template.parameters]]` entry. PySpark parameters are strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Parameter {
    pub name: String,
    pub default: Option<String>,
}

/// `[bundle]`: the one additional artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleSpec {
    /// A byte-reproducible virtual environment (`pyspark_venv.tar.gz`, the default format): the
    /// project's own modules plus the wheels a hash-pinned requirements file names.
    Venv(VenvSpec),
    /// `format = "zip"`: a deterministic zip built from these files and directories (relative
    /// to the root). The service does not document this format.
    Sources {
        include: Vec<String>,
        exclude: Vec<String>,
    },
    /// A prebuilt archive (e.g. venv-pack's `.tar.gz`), passed through byte for byte.
    Archive(String),
}

/// `[bundle]` with the venv format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenvSpec {
    /// The project's own files and directories, installed into site-packages (mapped as in the
    /// zip: each include root's parent is the site-packages root).
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// The hash-pinned requirements file (relative to the root), if any.
    pub requirements: Option<String>,
    /// The runtime the environment is for.
    pub target: Target,
}

/// `[publish]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishConfig {
    pub bucket: String,
    /// Key prefix without leading or trailing `/` (may be empty).
    pub prefix: String,
    pub role_arn: String,
    pub membership_id: String,
    /// Overrides the region from the AWS configuration.
    pub region: Option<String>,
}

/// `[local]`: how `crpack run --local` runs the entry point on this machine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LocalConfig {
    /// Table name → sample data file (relative to the root, `/`-separated): `.csv` (with a
    /// header row, optionally `.csv.gz`) or `.parquet` (a file or a directory of part files).
    pub samples: BTreeMap<String, String>,
}

/// The directory the default sample files are looked up in (`samples/<table>.csv`, then
/// `samples/<table>.parquet`).
pub const SAMPLES_DIR: &str = "samples";

/// Where a referenced table's local sample data comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SampleSource {
    /// Mapped in `[local] samples` (the path may not exist).
    Configured(PathBuf),
    /// Found by the default naming, `samples/<table>.csv` or `samples/<table>.parquet`.
    Default(PathBuf),
    /// Neither: the files that were looked for (relative to the root).
    Missing(Vec<String>),
}

/// Whether a sample file name has a format the local runner reads.
pub fn sample_format_ok(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.ends_with(".csv") || lower.ends_with(".csv.gz") || lower.ends_with(".parquet")
}

impl Project {
    /// Finds `crpack.toml` in `start` or its parents and loads it.
    pub fn discover(start: &Path) -> Result<Project, ProjectError> {
        let start_abs = std::path::absolute(start).unwrap_or_else(|_| start.to_path_buf());
        let mut dir = Some(start_abs.as_path());
        while let Some(d) = dir {
            let candidate = d.join(MANIFEST_NAME);
            if candidate.is_file() {
                return Project::load(&candidate);
            }
            dir = d.parent();
        }
        Err(ProjectError::NotFound { start: start_abs })
    }

    /// Loads and validates the manifest at `path`.
    pub fn load(path: &Path) -> Result<Project, ProjectError> {
        let bytes = fs::read(path).map_err(|source| ProjectError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let text = String::from_utf8(bytes).map_err(|e| not_utf8(path, e.as_bytes(), e.utf8_error()))?;
        let root = std::path::absolute(path)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("."));
        Project::parse(&text, path, &root)
    }

    /// Parses and validates manifest text; `root` is the project directory for path checks.
    /// The sections are checked in the order `[template]`, `[bundle]`, `[publish]`, `[local]`.
    pub fn parse(text: &str, path: &Path, root: &Path) -> Result<Project, ProjectError> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| ProjectError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let v = Validator { text, path };
        let template = v.template(raw.template)?;
        let bundle = raw.bundle.map(|b| v.bundle(b)).transpose()?;
        let publish = raw.publish.map(|p| v.publish(p)).transpose()?;
        let local = match raw.local {
            Some(l) => v.local(&l, &template.referenced_tables)?,
            None => LocalConfig::default(),
        };
        Ok(Project {
            root: root.to_path_buf(),
            manifest_path: path.to_path_buf(),
            template,
            bundle,
            publish,
            local,
        })
    }

    /// Where the local sample data of `table` comes from: `[local] samples`, else
    /// `samples/<table>.csv`, else `samples/<table>.parquet` (whichever exists).
    pub fn sample_source(&self, table: &str) -> SampleSource {
        if let Some(rel) = self.local.samples.get(table) {
            return SampleSource::Configured(self.root.join(rel));
        }
        let candidates = [
            format!("{SAMPLES_DIR}/{table}.csv"),
            format!("{SAMPLES_DIR}/{table}.parquet"),
        ];
        for c in &candidates {
            let p = self.root.join(c);
            if p.exists() {
                return SampleSource::Default(p);
            }
        }
        SampleSource::Missing(candidates.to_vec())
    }

    /// The entry point's absolute path.
    pub fn entry_point_path(&self) -> PathBuf {
        self.root.join(&self.template.entry_point)
    }

    /// The `[publish]` section, or an error that says how to add it.
    pub fn publish_config(&self) -> Result<&PublishConfig, ProjectError> {
        self.publish.as_ref().ok_or_else(|| ProjectError::Invalid {
            path: self.manifest_path.clone(),
            line: 1,
            key: "publish".to_string(),
            message: "no [publish] section: add bucket, prefix, role_arn and membership_id".to_string(),
        })
    }
}
