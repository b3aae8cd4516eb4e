//! The project file, `crpack.toml`: parsed strictly (unknown keys are errors that name the key
//! and line) and validated against the service's own patterns and limits.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::validate;
use crate::venv::target::Target;

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

// ---- The file as written (spans kept for error lines) ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    template: RawTemplate,
    bundle: Option<Spanned<RawBundle>>,
    publish: Option<RawPublish>,
    local: Option<RawLocal>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTemplate {
    name: Spanned<String>,
    #[serde(default)]
    description: Option<Spanned<String>>,
    entry_point: Spanned<String>,
    #[serde(default)]
    referenced_tables: Vec<Spanned<String>>,
    #[serde(default)]
    error_messages: ErrorMessages,
    #[serde(default)]
    parameters: Vec<Spanned<RawParameter>>,
    #[serde(default)]
    tags: Option<Spanned<BTreeMap<String, String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParameter {
    name: Spanned<String>,
    #[serde(default)]
    default: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBundle {
    #[serde(default)]
    include: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    exclude: Vec<Spanned<String>>,
    #[serde(default)]
    archive: Option<Spanned<String>>,
    #[serde(default)]
    requirements: Option<Spanned<String>>,
    #[serde(default)]
    format: Option<Spanned<String>>,
    #[serde(default)]
    target: Option<Spanned<RawTarget>>,
}

/// `[bundle.target]`: the runtime the environment is built for, when it is not today's.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    #[serde(default)]
    arch: Option<Spanned<String>>,
    #[serde(default)]
    glibc: Option<Spanned<String>>,
    #[serde(default)]
    python: Option<Spanned<String>>,
    #[serde(default)]
    python_full: Option<Spanned<String>>,
    #[serde(default)]
    interpreter: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPublish {
    bucket: Spanned<String>,
    #[serde(default)]
    prefix: Option<Spanned<String>>,
    role_arn: Spanned<String>,
    membership_id: Spanned<String>,
    #[serde(default)]
    region: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLocal {
    #[serde(default)]
    samples: BTreeMap<Spanned<String>, Spanned<String>>,
}

// ---- The validated project ----

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
    pub fn parse(text: &str, path: &Path, root: &Path) -> Result<Project, ProjectError> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| ProjectError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let v = Validator { text, path };
        let t = raw.template;

        v.check(&t.name, "template.name", validate::template_name)?;
        let description = match t.description {
            Some(d) => {
                v.check(&d, "template.description", validate::description)?;
                Some(d.into_inner())
            }
            None => None,
        };

        let entry_point = v.relative_path(&t.entry_point, "template.entry_point")?;
        if !entry_point.ends_with(".py") {
            return Err(v.invalid(
                t.entry_point.span(),
                "template.entry_point",
                format!("{entry_point:?} is not a .py file; the entry point is one Python file"),
            ));
        }
        let file_name = entry_point.rsplit('/').next().unwrap_or(&entry_point);
        if let Err(m) = validate::s3_key(file_name) {
            return Err(v.invalid(
                t.entry_point.span(),
                "template.entry_point",
                format!("the file name becomes part of an S3 key: {m}; rename the file"),
            ));
        }

        let mut seen = BTreeSet::new();
        let mut referenced_tables = Vec::new();
        for table in &t.referenced_tables {
            v.check(table, "template.referenced_tables", validate::table_name)?;
            if !seen.insert(table.get_ref().clone()) {
                return Err(v.invalid(
                    table.span(),
                    "template.referenced_tables",
                    format!("{:?} is listed twice", table.get_ref()),
                ));
            }
            referenced_tables.push(table.get_ref().clone());
        }

        if t.parameters.len() > validate::limits::PARAMETERS_MAX {
            return Err(v.invalid(
                t.parameters[validate::limits::PARAMETERS_MAX].span(),
                "template.parameters",
                format!(
                    "{} parameters declared; the service allows at most {}",
                    t.parameters.len(),
                    validate::limits::PARAMETERS_MAX
                ),
            ));
        }
        let mut names = BTreeSet::new();
        let mut parameters = Vec::new();
        for p in &t.parameters {
            let p = p.get_ref();
            v.check(&p.name, "template.parameters.name", validate::parameter_name)?;
            if !names.insert(p.name.get_ref().clone()) {
                return Err(v.invalid(
                    p.name.span(),
                    "template.parameters.name",
                    format!("parameter {:?} is declared twice", p.name.get_ref()),
                ));
            }
            if let Some(d) = &p.default {
                v.check(d, "template.parameters.default", |val| {
                    validate::parameter_value(p.name.get_ref(), val)
                })?;
            }
            parameters.push(Parameter {
                name: p.name.get_ref().clone(),
                default: p.default.as_ref().map(|d| d.get_ref().clone()),
            });
        }

        let tags = match t.tags {
            Some(tags) => {
                if tags.get_ref().len() > validate::limits::TAGS_MAX {
                    return Err(v.invalid(
                        tags.span(),
                        "template.tags",
                        format!("at most {} tags", validate::limits::TAGS_MAX),
                    ));
                }
                for (k, val) in tags.get_ref() {
                    if let Err(m) = validate::tag(k, val) {
                        return Err(v.invalid(tags.span(), "template.tags", m));
                    }
                }
                tags.into_inner()
            }
            None => BTreeMap::new(),
        };

        let bundle = match raw.bundle {
            None => None,
            Some(b) => Some(v.bundle(b)?),
        };

        let publish = match raw.publish {
            None => None,
            Some(p) => {
                v.check(&p.bucket, "publish.bucket", validate::bucket)?;
                v.check(&p.role_arn, "publish.role_arn", validate::role_arn)?;
                v.check(&p.membership_id, "publish.membership_id", validate::membership_id)?;
                let prefix = match &p.prefix {
                    Some(prefix) => {
                        let trimmed = prefix.get_ref().trim_matches('/').to_string();
                        if !trimmed.is_empty() {
                            v.check(prefix, "publish.prefix", |_| validate::s3_key(&trimmed))?;
                            if trimmed
                                .split('/')
                                .any(|seg| seg.is_empty() || seg == "." || seg == "..")
                            {
                                return Err(v.invalid(
                                    prefix.span(),
                                    "publish.prefix",
                                    format!("{:?} has an empty, `.` or `..` segment", prefix.get_ref()),
                                ));
                            }
                            if trimmed.len() > 512 {
                                return Err(v.invalid(
                                    prefix.span(),
                                    "publish.prefix",
                                    "the prefix is longer than 512 characters".to_string(),
                                ));
                            }
                        }
                        trimmed
                    }
                    None => String::new(),
                };
                let region = match p.region {
                    Some(r) => {
                        v.check(&r, "publish.region", |r| {
                            if !r.is_empty()
                                && r.bytes()
                                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                            {
                                Ok(())
                            } else {
                                Err(format!("{r:?} is not an AWS region name like us-east-1"))
                            }
                        })?;
                        Some(r.into_inner())
                    }
                    None => None,
                };
                Some(PublishConfig {
                    bucket: p.bucket.into_inner(),
                    prefix,
                    role_arn: p.role_arn.into_inner(),
                    membership_id: p.membership_id.into_inner(),
                    region,
                })
            }
        };

        let mut local = LocalConfig::default();
        if let Some(l) = raw.local {
            for (table, file) in &l.samples {
                if !referenced_tables.iter().any(|t| t == table.get_ref()) {
                    return Err(v.invalid(
                        table.span(),
                        "local.samples",
                        format!(
                            "table {:?} is not in [template] referenced_tables ({}); samples are for referenced tables only",
                            table.get_ref(),
                            if referenced_tables.is_empty() {
                                "none declared".to_string()
                            } else {
                                referenced_tables.join(", ")
                            }
                        ),
                    ));
                }
                let rel = v.relative_path(file, "local.samples")?;
                if !sample_format_ok(&rel) {
                    return Err(v.invalid(
                        file.span(),
                        "local.samples",
                        format!(
                            "{rel:?} for table {:?} is neither .csv (with a header row) nor .parquet",
                            table.get_ref()
                        ),
                    ));
                }
                local.samples.insert(table.get_ref().clone(), rel);
            }
        }

        Ok(Project {
            root: root.to_path_buf(),
            manifest_path: path.to_path_buf(),
            template: Template {
                name: t.name.into_inner(),
                description,
                entry_point,
                referenced_tables,
                error_messages: t.error_messages,
                parameters,
                tags,
            },
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

struct Validator<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Validator<'_> {
    fn line_of(&self, span: Range<usize>) -> usize {
        let end = span.start.min(self.text.len());
        self.text[..end].bytes().filter(|b| *b == b'\n').count() + 1
    }

    fn invalid(&self, span: Range<usize>, key: &str, message: String) -> ProjectError {
        ProjectError::Invalid {
            path: self.path.to_path_buf(),
            line: self.line_of(span),
            key: key.to_string(),
            message,
        }
    }

    fn check(
        &self,
        value: &Spanned<String>,
        key: &str,
        f: impl FnOnce(&str) -> Result<(), String>,
    ) -> Result<(), ProjectError> {
        f(value.get_ref()).map_err(|m| self.invalid(value.span(), key, m))
    }

    /// A path inside the project: relative, no `..`, `/`-separated, normalised.
    fn relative_path(&self, value: &Spanned<String>, key: &str) -> Result<String, ProjectError> {
        let raw = value.get_ref();
        let p = Path::new(raw);
        if raw.is_empty() {
            return Err(self.invalid(value.span(), key, "the path is empty".to_string()));
        }
        if p.is_absolute() || raw.starts_with('/') || raw.starts_with('\\') {
            return Err(self.invalid(
                value.span(),
                key,
                format!("{raw:?} is absolute; paths are relative to the project directory"),
            ));
        }
        let mut parts = Vec::new();
        for c in p.components() {
            match c {
                Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
                Component::CurDir => {}
                Component::ParentDir => {
                    return Err(self.invalid(
                        value.span(),
                        key,
                        format!("{raw:?} uses `..`; every file must be inside the project"),
                    ));
                }
                _ => {
                    return Err(self.invalid(value.span(), key, format!("{raw:?} is not a relative path")));
                }
            }
        }
        if parts.is_empty() {
            return Err(self.invalid(
                value.span(),
                key,
                format!("{raw:?} names the project directory itself"),
            ));
        }
        Ok(parts.join("/"))
    }

    /// `[bundle]`: which additional artifact, checked for contradictions.
    fn bundle(&self, b: Spanned<RawBundle>) -> Result<BundleSpec, ProjectError> {
        let span = b.span();
        let b = b.into_inner();
        let format = match &b.format {
            None => None,
            Some(f) => match f.get_ref().as_str() {
                "venv" => Some(BundleFormat::Venv),
                "zip" => Some(BundleFormat::Zip),
                other => {
                    return Err(self.invalid(
                        f.span(),
                        "bundle.format",
                        format!("{other:?} is not a bundle format; use \"venv\" (the default) or \"zip\""),
                    ));
                }
            },
        };
        if let Some(archive) = b.archive {
            let conflict = [
                (b.include.is_some(), "include"),
                (b.requirements.is_some(), "requirements"),
                (b.format.is_some(), "format"),
                (b.target.is_some(), "target"),
            ]
            .into_iter()
            .find(|(set, _)| *set);
            if let Some((_, key)) = conflict {
                return Err(self.invalid(
                    archive.span(),
                    "bundle.archive",
                    format!(
                        "`archive` and `{key}` are both set, but a template has at most one additional \
                         artifact: `archive` passes a prebuilt file through, `{key}` builds one; keep one of them"
                    ),
                ));
            }
            if !b.exclude.is_empty() {
                return Err(self.invalid(
                    b.exclude[0].span(),
                    "bundle.exclude",
                    "`exclude` applies to `include`; a prebuilt archive is passed through as it is"
                        .to_string(),
                ));
            }
            let rel = self.relative_path(&archive, "bundle.archive")?;
            let name = rel.rsplit('/').next().unwrap_or(&rel);
            if let Err(m) = validate::s3_key(name) {
                return Err(self.invalid(
                    archive.span(),
                    "bundle.archive",
                    format!("the file name becomes part of an S3 key: {m}; rename the file"),
                ));
            }
            return Ok(BundleSpec::Archive(rel));
        }
        if b.include.is_none() && b.requirements.is_none() {
            return Err(self.invalid(
                span,
                "bundle",
                "[bundle] needs `include` (your modules), `requirements` (a hash-pinned requirements \
                 file) or `archive` (a prebuilt .tar.gz); remove the section for no additional artifact"
                    .to_string(),
            ));
        }
        let include = match &b.include {
            Some(list) if list.is_empty() => {
                return Err(self.invalid(
                    span,
                    "bundle.include",
                    "`include` is empty; list files or directories, or remove it".to_string(),
                ));
            }
            Some(list) => list
                .iter()
                .map(|i| self.relative_path(i, "bundle.include"))
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        let mut exclude = Vec::new();
        for e in &b.exclude {
            if let Err(err) = globset::Glob::new(e.get_ref()) {
                return Err(self.invalid(
                    e.span(),
                    "bundle.exclude",
                    format!("{:?} is not a valid glob: {err}", e.get_ref()),
                ));
            }
            exclude.push(e.get_ref().clone());
        }
        if format == Some(BundleFormat::Zip) {
            if let Some(r) = &b.requirements {
                return Err(self.invalid(
                    r.span(),
                    "bundle.requirements",
                    "third-party packages need the venv format: remove `format = \"zip\"` (a zip holds only \
                     your own modules)"
                        .to_string(),
                ));
            }
            if let Some(t) = &b.target {
                return Err(self.invalid(
                    t.span(),
                    "bundle.target",
                    "[bundle.target] applies to the venv format; remove it or `format = \"zip\"`".to_string(),
                ));
            }
            return Ok(BundleSpec::Sources { include, exclude });
        }
        let requirements = match &b.requirements {
            Some(r) => Some(self.relative_path(r, "bundle.requirements")?),
            None => None,
        };
        let target = match b.target {
            Some(t) => self.target(t.into_inner())?,
            None => Target::default(),
        };
        Ok(BundleSpec::Venv(VenvSpec {
            include,
            exclude,
            requirements,
            target,
        }))
    }

    /// `[bundle.target]`: overrides of today's runtime, each checked for shape.
    fn target(&self, t: RawTarget) -> Result<Target, ProjectError> {
        let mut target = Target::default();
        if let Some(arch) = &t.arch {
            self.check(arch, "bundle.target.arch", |a| {
                if !a.is_empty() && a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    Ok(())
                } else {
                    Err(format!(
                        "{a:?} is not a CPU name as wheel tags write it (aarch64, x86_64)"
                    ))
                }
            })?;
            target.arch = arch.get_ref().clone();
        }
        let pair = |value: &Spanned<String>, key: &str, example: &str| -> Result<(u32, u32), ProjectError> {
            value
                .get_ref()
                .split_once('.')
                .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
                .ok_or_else(|| {
                    self.invalid(
                        value.span(),
                        key,
                        format!(
                            "{:?} is not a MAJOR.MINOR version like {example}",
                            value.get_ref()
                        ),
                    )
                })
        };
        if let Some(g) = &t.glibc {
            target.glibc = pair(g, "bundle.target.glibc", "2.34")?;
        }
        if let Some(p) = &t.python {
            target.python = pair(p, "bundle.target.python", "3.11")?;
            target.interpreter = format!("/usr/bin/python{}", target.python_version());
            target.python_full = target.python_version();
        }
        if let Some(full) = &t.python_full {
            let prefix = format!("{}.", target.python_version());
            self.check(full, "bundle.target.python_full", |f| {
                if f.starts_with(&prefix)
                    && f[prefix.len()..].bytes().all(|b| b.is_ascii_digit())
                    && f.len() > prefix.len()
                {
                    Ok(())
                } else {
                    Err(format!("{f:?} is not a {}.N version", target.python_version()))
                }
            })?;
            target.python_full = full.get_ref().clone();
        }
        if let Some(i) = &t.interpreter {
            self.check(i, "bundle.target.interpreter", |p| {
                if p.starts_with('/') && !p.contains(char::is_whitespace) {
                    Ok(())
                } else {
                    Err(format!("{p:?} is not an absolute path to the runtime's python"))
                }
            })?;
            target.interpreter = i.get_ref().clone();
        }
        Ok(target)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BundleFormat {
    Venv,
    Zip,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_that_are_not_utf8_are_located() {
        let bytes = b"[template]\nname = \"caf\xe9\"\n".to_vec();
        let e = String::from_utf8(bytes.clone()).unwrap_err().utf8_error();
        let err = not_utf8(Path::new("crpack.toml"), &bytes, e);
        assert!(
            matches!(
                err,
                ProjectError::NotUtf8 {
                    line: 2,
                    column: 12,
                    offset: 22,
                    ..
                }
            ),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.starts_with("crpack.toml:2: not UTF-8 text"), "{text}");
        assert!(
            text.contains("byte offset 22") && text.contains("iconv"),
            "{text}"
        );
    }

    const GOOD: &str = r#"
[template]
name = "audience-overlap"
description = "Overlap of customers"
entry_point = "src/entrypoint.py"
referenced_tables = ["orders", "customers"]
error_messages = "basic"
[[template.parameters]]
name = "min_count"
default = "100"
[template.tags]
team = "analytics"

[bundle]
include = ["lib", "data/lookup.csv"]
exclude = ["**/tests/**"]

[publish]
bucket = "my-artifacts"
prefix = "/templates/audience-overlap/"
role_arn = "arn:aws:iam::111122223333:role/service-role/cleanrooms-pyspark-read"
membership_id = "3c6b0ba0-0000-4000-8000-000000000001"
"#;

    fn parse(text: &str) -> Result<Project, ProjectError> {
        Project::parse(text, Path::new("crpack.toml"), Path::new("/p"))
    }

    fn invalid(text: &str) -> (usize, String, String) {
        match parse(text) {
            Err(ProjectError::Invalid {
                line, key, message, ..
            }) => (line, key, message),
            Err(other) => panic!("expected Invalid, got {other}"),
            Ok(_) => panic!("expected an error"),
        }
    }

    #[test]
    fn parses_the_documented_example() {
        let p = parse(GOOD).unwrap();
        assert_eq!(p.template.name, "audience-overlap");
        assert_eq!(p.template.entry_point, "src/entrypoint.py");
        assert_eq!(p.template.referenced_tables, ["orders", "customers"]);
        assert_eq!(
            p.template.parameters,
            [Parameter {
                name: "min_count".into(),
                default: Some("100".into())
            }]
        );
        assert_eq!(
            p.bundle,
            Some(BundleSpec::Venv(VenvSpec {
                include: vec!["lib".into(), "data/lookup.csv".into()],
                exclude: vec!["**/tests/**".into()],
                requirements: None,
                target: Target::clean_rooms(),
            }))
        );
        let publish = p.publish.unwrap();
        assert_eq!(publish.prefix, "templates/audience-overlap");
        assert_eq!(publish.region, None);
    }

    #[test]
    fn unknown_keys_name_the_key_and_line() {
        let text = GOOD.replace("error_messages = \"basic\"", "error_message = \"basic\"");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("error_message"), "{err}");
        assert!(err.contains("line 7"), "{err}");
    }

    #[test]
    fn invalid_values_name_the_key_and_line() {
        let (line, key, _) = invalid(&GOOD.replace("audience-overlap\"\ndesc", "bad--name\"\ndesc"));
        assert_eq!((line, key.as_str()), (3, "template.name"));
        let (line, key, _) = invalid(&GOOD.replace("min_count", "9lives"));
        assert_eq!((line, key.as_str()), (9, "template.parameters.name"));
        let (line, key, _) = invalid(&GOOD.replace("role/service-role", "user/service-role"));
        assert_eq!((line, key.as_str()), (21, "publish.role_arn"));
        let (_, key, _) = invalid(&GOOD.replace("3c6b0ba0-0000", "3C6B0BA0-0000"));
        assert_eq!(key, "publish.membership_id");
        let (_, key, _) = invalid(&GOOD.replace("my-artifacts", "My_Artifacts"));
        assert_eq!(key, "publish.bucket");
        let (_, key, _) = invalid(&GOOD.replace("/templates/audience-overlap/", "templates/a b"));
        assert_eq!(key, "publish.prefix");
    }

    #[test]
    fn paths_stay_inside_the_project() {
        for bad in ["../x.py", "/abs/x.py", "src/../../x.py"] {
            let (_, key, msg) = invalid(&GOOD.replace("src/entrypoint.py", bad));
            assert_eq!(key, "template.entry_point", "{bad}: {msg}");
        }
        let (_, _, msg) = invalid(&GOOD.replace("src/entrypoint.py", "src/entry.txt"));
        assert!(msg.contains(".py"), "{msg}");
        let (_, _, msg) = invalid(&GOOD.replace("src/entrypoint.py", "src/my entry.py"));
        assert!(msg.contains("S3 key"), "{msg}");
        let (_, key, _) = invalid(&GOOD.replace("\"lib\"", "\"../lib\""));
        assert_eq!(key, "bundle.include");
    }

    #[test]
    fn include_and_archive_together_is_an_error() {
        let text = GOOD.replace("exclude = [\"**/tests/**\"]", "archive = \"venv.tar.gz\"");
        let (line, key, msg) = invalid(&text);
        assert_eq!((line, key.as_str()), (16, "bundle.archive"));
        assert!(msg.contains("at most one"), "{msg}");
    }

    #[test]
    fn limits_are_enforced() {
        let mut text = GOOD.replace(
            "[[template.parameters]]\nname = \"min_count\"\ndefault = \"100\"\n",
            "",
        );
        for i in 0..51 {
            text = text.replace(
                "[template.tags]",
                &format!("[[template.parameters]]\nname = \"p{i}\"\n[template.tags]"),
            );
        }
        let (_, key, msg) = invalid(&text);
        assert_eq!(key, "template.parameters", "{msg}");
        let long = "x".repeat(1001);
        let (_, key, _) = invalid(&GOOD.replace("default = \"100\"", &format!("default = \"{long}\"")));
        assert_eq!(key, "template.parameters.default");
        let (_, key, _) = invalid(&GOOD.replace("Overlap of customers", &"d".repeat(256)));
        assert_eq!(key, "template.description");
        let (_, key, _) = invalid(&GOOD.replace("[\"orders\", \"customers\"]", "[\"orders\", \"orders\"]"));
        assert_eq!(key, "template.referenced_tables");
    }

    #[test]
    fn bundle_and_publish_are_optional() {
        let text = GOOD.split("[bundle]").next().unwrap();
        let p = parse(text).unwrap();
        assert!(p.bundle.is_none() && p.publish.is_none());
        assert!(p.publish_config().is_err());
        let text = format!("{text}[bundle]\narchive = \"build/pyspark_venv.tar.gz\"\n");
        assert_eq!(
            parse(&text).unwrap().bundle,
            Some(BundleSpec::Archive("build/pyspark_venv.tar.gz".into()))
        );
    }

    #[test]
    fn bundle_formats_and_targets() {
        let base = GOOD.split("[bundle]").next().unwrap();
        let bundle = |body: &str| parse(&format!("{base}[bundle]\n{body}"));
        // requirements alone make a venv; format = "zip" keeps the zip of modules.
        match bundle("requirements = \"requirements.txt\"\n").unwrap().bundle {
            Some(BundleSpec::Venv(v)) => {
                assert_eq!(v.requirements.as_deref(), Some("requirements.txt"));
                assert!(v.include.is_empty());
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            bundle("format = \"zip\"\ninclude = [\"lib\"]\n").unwrap().bundle,
            Some(BundleSpec::Sources { .. })
        ));
        // A future runtime.
        let p = bundle(
            "include = [\"lib\"]\n[bundle.target]\narch = \"aarch64\"\nglibc = \"2.39\"\npython = \"3.12\"\n",
        )
        .unwrap();
        let Some(BundleSpec::Venv(v)) = p.bundle else {
            panic!()
        };
        assert_eq!((v.target.glibc, v.target.python), ((2, 39), (3, 12)));
        assert_eq!(v.target.interpreter, "/usr/bin/python3.12");
        // Contradictions are errors naming the key.
        let err = |body: &str| {
            let text = format!("{base}[bundle]\n{body}");
            invalid(&text)
        };
        let (_, key, msg) = err("format = \"zip\"\ninclude = [\"lib\"]\nrequirements = \"r.txt\"\n");
        assert_eq!(key, "bundle.requirements", "{msg}");
        assert!(msg.contains("venv"), "{msg}");
        let (_, key, msg) = err("archive = \"a.tar.gz\"\nrequirements = \"r.txt\"\n");
        assert_eq!(key, "bundle.archive");
        assert!(msg.contains("requirements"), "{msg}");
        let (_, key, _) = err("format = \"wheel\"\ninclude = [\"lib\"]\n");
        assert_eq!(key, "bundle.format");
        let (_, key, _) = err("include = [\"lib\"]\n[bundle.target]\nglibc = \"two\"\n");
        assert_eq!(key, "bundle.target.glibc");
        let (_, key, _) = err("format = \"zip\"\n");
        assert_eq!(key, "bundle");
    }

    #[test]
    fn local_samples_are_validated() {
        let base = GOOD.split("[bundle]").next().unwrap();
        let text = format!(
            "{base}[local]\nsamples = {{ orders = \"samples/orders.csv\", customers = \"./data/c.parquet\" }}\n"
        );
        let p = parse(&text).unwrap();
        assert_eq!(p.local.samples["orders"], "samples/orders.csv");
        assert_eq!(p.local.samples["customers"], "data/c.parquet");
        assert_eq!(parse(base).unwrap().local, LocalConfig::default());

        // The table form works too, and reports the line of the bad key.
        let text = format!("{base}[local.samples]\norders = \"samples/orders.csv\"\nvisits = \"v.csv\"\n");
        let (line, key, msg) = invalid(&text);
        assert_eq!(key, "local.samples");
        assert_eq!(line, base.lines().count() + 3, "{msg}");
        assert!(
            msg.contains("\"visits\"") && msg.contains("orders, customers"),
            "{msg}"
        );

        for bad in ["../orders.csv", "/tmp/orders.csv"] {
            let text = format!("{base}[local]\nsamples = {{ orders = \"{bad}\" }}\n");
            let (line, key, _) = invalid(&text);
            assert_eq!(
                (line, key.as_str()),
                (base.lines().count() + 2, "local.samples"),
                "{bad}"
            );
        }
        let text = format!("{base}[local]\nsamples = {{ orders = \"samples/orders.json\" }}\n");
        let (_, key, msg) = invalid(&text);
        assert_eq!(key, "local.samples");
        assert!(msg.contains(".csv") && msg.contains("orders"), "{msg}");
    }

    #[test]
    fn local_keeps_unknown_keys_strict() {
        let base = GOOD.split("[bundle]").next().unwrap();
        let err = parse(&format!("{base}[local]\nsample = {{ orders = \"o.csv\" }}\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("sample"), "{err}");
        assert!(
            err.contains(&format!("line {}", base.lines().count() + 2)),
            "{err}"
        );
    }

    #[test]
    fn samples_default_to_the_samples_directory() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "{}[local]\nsamples = {{ customers = \"data/customers.csv\" }}\n",
            GOOD.split("[bundle]").next().unwrap()
        );
        let p = Project::parse(&text, Path::new("crpack.toml"), dir.path()).unwrap();
        assert_eq!(
            p.sample_source("orders"),
            SampleSource::Missing(vec!["samples/orders.csv".into(), "samples/orders.parquet".into()])
        );
        fs::create_dir_all(dir.path().join("samples")).unwrap();
        fs::write(dir.path().join("samples/orders.parquet"), b"x").unwrap();
        assert_eq!(
            p.sample_source("orders"),
            SampleSource::Default(dir.path().join("samples/orders.parquet"))
        );
        fs::write(dir.path().join("samples/orders.csv"), b"a\n").unwrap();
        assert_eq!(
            p.sample_source("orders"),
            SampleSource::Default(dir.path().join("samples/orders.csv"))
        );
        // A configured file wins even when it does not exist (the caller reports it).
        fs::write(dir.path().join("samples/customers.csv"), b"a\n").unwrap();
        assert_eq!(
            p.sample_source("customers"),
            SampleSource::Configured(dir.path().join("data/customers.csv"))
        );
    }
}
