//! The build: the entry point copied as it is, and the one additional artifact — either a
//! byte-reproducible zip built from `[bundle] include`, or a prebuilt archive passed through.
//!
//! Reproducibility recipe: entries sorted by archive path bytes with `/` separators; no
//! directory entries; one fixed timestamp (`SOURCE_DATE_EPOCH` when set, else 1980-01-01
//! 00:00:00); permissions 0644, or 0755 when any execute bit is set; "made by" Unix; Deflate at
//! level 6 through one pinned backend; no extra fields; no comment. Compression runs in parallel
//! on batches of files and the results are written in order, so the output does not depend on
//! scheduling.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Cursor, Seek, Write};
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use rayon::prelude::*;
use serde::Serialize;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

use crate::artifact::{Artifact, Role};
use crate::digest::{BUFFER_SIZE, Sha256Digest};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{self, StagedDir};
use crate::manifest::{BundleSpec, Project};
use crate::validate::{self, limits};
use crate::venv::{EnvBuild, EnvEvent, VenvPlan};

/// The bundle zip's file name in the output directory (and its S3 key's last segment).
pub const BUNDLE_FILE_NAME: &str = "bundle.zip";
/// The build record written next to the artifacts.
pub const BUILD_RECORD: &str = "crpack-build.json";
/// Deflate level used for every entry.
pub const DEFLATE_LEVEL: i64 = 6;
/// Files up to this size are compressed in parallel in memory; larger ones are streamed.
const PARALLEL_MAX_FILE: u64 = 16 << 20;
/// Bytes of input compressed per parallel batch (bounds memory).
const BATCH_BYTES: u64 = 64 << 20;

/// Exclusions that always apply.
pub const DEFAULT_EXCLUDES: &[&str] = &[
    "**/.git",
    "**/.git/**",
    "**/__pycache__",
    "**/__pycache__/**",
    "**/*.pyc",
    "**/.DS_Store",
];

/// The built artifacts cannot be named or recorded.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// An artifact's file name is not a valid S3 key (the message says which rule it breaks).
    #[error("{0}")]
    InvalidName(String),
    /// Both artifacts have one name, so they would share an S3 key.
    #[error("the entry point and the additional artifact are both named {name}; rename one")]
    SameName { name: String },
    /// The build record could not be turned into JSON.
    #[error(
        "cannot write the build record: it does not serialise to JSON ({0}); this is a defect in crpack: report it"
    )]
    Record(serde_json::Error),
}

/// The build cannot proceed within the service's rules.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("the entry point {0} does not exist; create it or fix [template] entry_point")]
    EntryPointMissing(String),
    #[error("{0} is not a regular file")]
    NotAFile(String),
    #[error("`include` entry {0:?} matches no file; fix the path in [bundle] include or remove it")]
    IncludeMatchesNothing(String),
    #[error("the bundle would be empty: every included file is excluded")]
    EmptyBundle,
    #[error("{path} is a symlink to {target}, outside the project; copy the file into the project instead")]
    SymlinkEscapes { path: String, target: String },
    #[error("{0}: the file name is not valid UTF-8; rename it")]
    NonUtf8(String),
    #[error("{0}: the name contains a `\\`; use `/`-free file names")]
    Backslash(String),
    #[error("{path} and {other} would both be stored as {entry} in the bundle; rename one")]
    DuplicateEntry {
        path: String,
        other: String,
        entry: String,
    },
    #[error(
        "the artifacts total {total} bytes, over the service's limit of {limit} bytes for all artifacts of a template; \
         largest: {largest}; drop or replace the largest (a lighter package, fewer data files), or read large \
         data from the referenced tables instead of shipping it"
    )]
    TooLarge { total: u64, limit: u64, largest: String },
    #[error("the archive {0} does not exist; build it (e.g. venv-pack -o {0}) or fix [bundle] archive")]
    ArchiveMissing(String),
    #[error("SOURCE_DATE_EPOCH={0:?} is not a whole number of seconds since 1970")]
    BadSourceDateEpoch(String),
    #[error("cannot walk {path}: {message}")]
    Walk { path: String, message: String },
    #[error("writing the bundle failed: {0}")]
    Zip(String),
    #[error(
        "the requirements file {0} does not exist; create it (name==version --hash=sha256:... per line) or fix [bundle] requirements"
    )]
    RequirementsMissing(String),
    #[error(transparent)]
    Environment(Box<crate::venv::EnvError>),
}

/// One file to put in the bundle.
#[derive(Debug, Clone)]
pub struct BundleFile {
    /// Where it is read from.
    pub source: PathBuf,
    /// Its path inside the zip (`/`-separated).
    pub entry: String,
    pub size: u64,
    pub executable: bool,
}

/// What `build` produced.
#[derive(Debug, Clone, Serialize)]
pub struct BuildOutput {
    pub out_dir: PathBuf,
    pub artifacts: Vec<Artifact>,
    /// Number of files in the bundle zip (0 without one).
    pub bundle_entries: usize,
    /// The zip timestamp used, as seconds since 1970.
    pub source_date_epoch: i64,
    /// The environment's inventory, when the additional artifact is a built venv.
    pub environment: Option<EnvBuild>,
}

/// The build record's shape (`crpack-build.json`).
#[derive(Debug, Serialize)]
struct BuildRecord<'a> {
    crpack_version: &'static str,
    template: &'a str,
    source_date_epoch: i64,
    bundle_entries: usize,
    artifacts: Vec<RecordArtifact<'a>>,
    /// The environment's target and every wheel's file name, SHA-256 and URL, so anyone can
    /// fetch exactly those files again.
    #[serde(skip_serializing_if = "Option::is_none")]
    environment: Option<&'a EnvBuild>,
}

#[derive(Debug, Serialize)]
struct RecordArtifact<'a> {
    role: Role,
    file: &'a str,
    size: u64,
    sha256: Sha256Digest,
}

/// The zip timestamp: `SOURCE_DATE_EPOCH` when set, else 1980-01-01 00:00:00 (the earliest a
/// zip can hold). Returns seconds since 1970 and the zip date-time.
pub fn zip_timestamp() -> Result<(i64, DateTime), BundleError> {
    let dos_epoch: i64 = 315_532_800; // 1980-01-01T00:00:00Z
    let secs = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse::<i64>()
            .map_err(|_| BundleError::BadSourceDateEpoch(v.clone()))?,
        _ => dos_epoch,
    };
    // Zip dates run from 1980 to 2107 with 2-second steps; clamp into range.
    let clamped = secs.clamp(dos_epoch, 4_354_819_198);
    let t = time::OffsetDateTime::from_unix_timestamp(clamped)
        .map_err(|_| BundleError::BadSourceDateEpoch(secs.to_string()))?;
    let dt = DateTime::from_date_and_time(
        t.year() as u16,
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
    )
    .map_err(|_| BundleError::BadSourceDateEpoch(secs.to_string()))?;
    Ok((clamped, dt))
}

fn display(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).display().to_string()
}

fn exclude_set(patterns: &[String]) -> Result<GlobSet, BundleError> {
    let mut b = GlobSetBuilder::new();
    for p in DEFAULT_EXCLUDES
        .iter()
        .copied()
        .chain(patterns.iter().map(String::as_str))
    {
        let glob = Glob::new(p).map_err(|e| BundleError::Walk {
            path: p.to_string(),
            message: e.to_string(),
        })?;
        b.add(glob);
    }
    b.build().map_err(|e| BundleError::Walk {
        path: "exclude".into(),
        message: e.to_string(),
    })
}

#[cfg(unix)]
fn is_executable(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &fs::Metadata) -> bool {
    false
}

/// Collects the files `[bundle] include` names, minus exclusions, sorted by entry path bytes.
/// `skip` is a directory never to descend into (the output directory).
pub fn collect_files(
    root: &Path,
    include: &[String],
    exclude: &[String],
    skip: Option<&Path>,
) -> Result<Vec<BundleFile>, BundleError> {
    let excluded = exclude_set(exclude)?;
    let canonical_root = fs::canonicalize(root).map_err(|e| BundleError::Walk {
        path: root.display().to_string(),
        message: e.to_string(),
    })?;
    let skip = skip.and_then(|s| fs::canonicalize(s).ok());
    let mut by_entry: BTreeMap<Vec<u8>, BundleFile> = BTreeMap::new();
    for inc in include {
        let inc_path = root.join(inc);
        if fs::symlink_metadata(&inc_path).is_err() {
            return Err(BundleError::IncludeMatchesNothing(inc.clone()));
        }
        // Archive paths are relative to the include root's parent, so `lib/pkg` becomes `pkg/...`.
        let base = inc_path.parent().unwrap_or(root).to_path_buf();
        let mut matched = 0usize;
        let walker = walkdir::WalkDir::new(&inc_path)
            .follow_links(true)
            .sort_by_file_name();
        let mut it = walker.into_iter();
        while let Some(item) = it.next() {
            let item = item.map_err(|e| BundleError::Walk {
                path: e.path().map(|p| display(root, p)).unwrap_or_else(|| inc.clone()),
                message: e.to_string(),
            })?;
            let path = item.path();
            let rel_to_root = path.strip_prefix(root).unwrap_or(path);
            let rel_str = rel_to_root
                .to_str()
                .ok_or_else(|| BundleError::NonUtf8(rel_to_root.to_string_lossy().into_owned()))?;
            if excluded.is_match(rel_str) {
                if item.file_type().is_dir() {
                    it.skip_current_dir();
                }
                continue;
            }
            if item.path_is_symlink() {
                let target = fs::canonicalize(path).map_err(|e| BundleError::Walk {
                    path: rel_str.to_string(),
                    message: e.to_string(),
                })?;
                stays_inside(&canonical_root, &target, rel_str)?;
            }
            if item.file_type().is_dir() {
                if let Some(skip) = &skip
                    && fs::canonicalize(path).ok().as_ref() == Some(skip)
                {
                    it.skip_current_dir();
                }
                continue;
            }
            if !item.file_type().is_file() {
                continue; // sockets, fifos: not files to ship
            }
            let entry_rel = path.strip_prefix(&base).unwrap_or(path);
            let mut parts = Vec::new();
            for c in entry_rel.components() {
                let s = c
                    .as_os_str()
                    .to_str()
                    .ok_or_else(|| BundleError::NonUtf8(rel_str.to_string()))?;
                if s.contains('\\') {
                    return Err(BundleError::Backslash(rel_str.to_string()));
                }
                parts.push(s);
            }
            let entry = parts.join("/");
            let meta = item.metadata().map_err(|e| BundleError::Walk {
                path: rel_str.to_string(),
                message: e.to_string(),
            })?;
            let file = BundleFile {
                source: path.to_path_buf(),
                entry: entry.clone(),
                size: meta.len(),
                executable: is_executable(&meta),
            };
            if let Some(prev) = by_entry.get(entry.as_bytes()) {
                if prev.source != file.source {
                    return Err(BundleError::DuplicateEntry {
                        path: rel_str.to_string(),
                        other: display(root, &prev.source),
                        entry,
                    });
                }
                continue;
            }
            matched += 1;
            by_entry.insert(entry.into_bytes(), file);
        }
        if matched == 0 {
            return Err(BundleError::IncludeMatchesNothing(inc.clone()));
        }
    }
    if by_entry.is_empty() {
        return Err(BundleError::EmptyBundle);
    }
    Ok(by_entry.into_values().collect())
}

fn options(dt: DateTime, executable: bool) -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(DEFLATE_LEVEL))
        .last_modified_time(dt)
        .unix_permissions(if executable { 0o755 } else { 0o644 })
        .system(zip::System::Unix)
        .large_file(false)
}

fn zip_err(e: impl std::fmt::Display) -> BundleError {
    BundleError::Zip(e.to_string())
}

/// Compresses one file into a single-entry zip in memory (run in parallel, copied raw later).
fn compress_alone(file: &BundleFile, dt: DateTime) -> Result<Vec<u8>, BundleError> {
    let data = fs::read(&file.source).map_err(|e| BundleError::Walk {
        path: file.source.display().to_string(),
        message: e.to_string(),
    })?;
    let mut w = ZipWriter::new(Cursor::new(Vec::with_capacity(data.len() / 2 + 128)));
    w.start_file(file.entry.as_str(), options(dt, file.executable))
        .map_err(zip_err)?;
    w.write_all(&data).map_err(zip_err)?;
    Ok(w.finish().map_err(zip_err)?.into_inner())
}

/// Writes the deterministic zip of `files` (already sorted) to `out`.
pub fn write_zip<W: Write + Seek>(files: &[BundleFile], dt: DateTime, out: W) -> Result<W, BundleError> {
    let mut zip = ZipWriter::new(out);
    let mut i = 0;
    while i < files.len() {
        if files[i].size > PARALLEL_MAX_FILE {
            let f = &files[i];
            zip.start_file(f.entry.as_str(), options(dt, f.executable))
                .map_err(zip_err)?;
            let mut src = File::open(&f.source).map_err(|e| BundleError::Walk {
                path: f.source.display().to_string(),
                message: e.to_string(),
            })?;
            io::copy(&mut src, &mut zip).map_err(zip_err)?;
            i += 1;
            continue;
        }
        let start = i;
        let mut bytes = 0u64;
        while i < files.len() && files[i].size <= PARALLEL_MAX_FILE && (bytes < BATCH_BYTES || i == start) {
            bytes += files[i].size;
            i += 1;
        }
        let compressed: Vec<Vec<u8>> = files[start..i]
            .par_iter()
            .map(|f| compress_alone(f, dt))
            .collect::<Result<_, _>>()?;
        for single in compressed {
            let mut archive = ZipArchive::new(Cursor::new(single)).map_err(zip_err)?;
            let entry = archive.by_index_raw(0).map_err(zip_err)?;
            zip.raw_copy_file(entry).map_err(zip_err)?;
        }
    }
    zip.finish().map_err(zip_err)
}

/// Copies `src` to `dst`, hashing the bytes as they pass (reading on a second thread for
/// large files). Build outputs are not fsynced: they are rebuilt at will, and whatever is
/// uploaded is checked by S3 against the digest computed here.
pub fn copy_hashing(src: &Path, dst: &Path) -> io::Result<(Sha256Digest, u64)> {
    let input = File::open(src)?;
    let len = input.metadata().map(|m| m.len()).unwrap_or(0);
    let mut output = BufWriter::with_capacity(BUFFER_SIZE, File::create(dst)?);
    let result = if len >= crate::digest::PIPELINE_MIN {
        Sha256Digest::pipelined(input, |chunk| output.write_all(chunk))?
    } else {
        Sha256Digest::of_reader_with(input, |chunk| output.write_all(chunk))?
    };
    output.into_inner().map_err(|e| e.into_error())?;
    Ok(result)
}

impl From<crate::venv::EnvError> for BundleError {
    fn from(e: crate::venv::EnvError) -> Self {
        BundleError::Environment(Box::new(e))
    }
}

/// The distributions that take the room in an environment, largest first (for the message of
/// an environment over the service's size limit).
pub fn largest_packages(env: &EnvBuild) -> String {
    let mut by_size: Vec<(u64, String)> = env
        .wheels
        .iter()
        .map(|w| (w.installed_bytes, format!("{} {}", w.name, w.version)))
        .collect();
    by_size.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    by_size
        .iter()
        .take(5)
        .map(|(s, n)| format!("{n} ({s} bytes installed)"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The files that will make up the template, checked against the limits before any byte is
/// read or written.
#[derive(Debug, Clone)]
pub struct Plan {
    pub entry_point: PathBuf,
    pub entry_point_size: u64,
    pub additional: Additional,
}

/// The additional artifact to produce.
#[derive(Debug, Clone)]
pub enum Additional {
    None,
    /// A virtual environment (the default format).
    Venv(Box<VenvPlan>),
    Zip(Vec<BundleFile>),
    Archive {
        path: PathBuf,
        size: u64,
    },
}

impl Plan {
    /// Resolves the project's artifacts and checks names, symlinks and the size limit from
    /// metadata. `out_dir` is never bundled.
    pub fn resolve(project: &Project, out_dir: Option<&Path>) -> Result<Plan, BundleError> {
        let root = &project.root;
        let ep_rel = &project.template.entry_point;
        let ep = project.entry_point_path();
        let meta = regular_file_inside(root, &ep, ep_rel, BundleError::EntryPointMissing)?;
        let additional = match &project.bundle {
            None => Additional::None,
            Some(BundleSpec::Sources { include, exclude }) => {
                Additional::Zip(collect_files(root, include, exclude, out_dir)?)
            }
            Some(BundleSpec::Venv(spec)) => {
                let own = if spec.include.is_empty() {
                    Vec::new()
                } else {
                    collect_files(root, &spec.include, &spec.exclude, out_dir)?
                };
                let requirements = match &spec.requirements {
                    None => None,
                    Some(rel) => {
                        let path = root.join(rel);
                        if !path.is_file() {
                            return Err(BundleError::RequirementsMissing(rel.clone()));
                        }
                        Some(
                            crate::venv::requirements::parse_file(&path, &spec.target)
                                .map_err(|e| BundleError::from(crate::venv::EnvError::from(e)))?,
                        )
                    }
                };
                Additional::Venv(Box::new(VenvPlan {
                    target: spec.target.clone(),
                    own,
                    requirements,
                }))
            }
            Some(BundleSpec::Archive(rel)) => {
                let path = root.join(rel);
                let m = regular_file_inside(root, &path, rel, BundleError::ArchiveMissing)?;
                Additional::Archive { path, size: m.len() }
            }
        };
        let plan = Plan {
            entry_point: ep,
            entry_point_size: meta.len(),
            additional,
        };
        plan.check_size(root)?;
        Ok(plan)
    }

    /// Total input bytes (an upper bound for the zip, which compresses).
    pub fn input_bytes(&self) -> u64 {
        self.entry_point_size
            + match &self.additional {
                Additional::None => 0,
                Additional::Zip(files) => files.iter().map(|f| f.size).sum(),
                Additional::Venv(v) => v.own.iter().map(|f| f.size).sum(),
                Additional::Archive { size, .. } => *size,
            }
    }

    fn check_size(&self, root: &Path) -> Result<(), BundleError> {
        let total = self.input_bytes();
        if total <= limits::TOTAL_ARTIFACT_BYTES {
            return Ok(());
        }
        let mut sizes: Vec<(u64, String)> = vec![(self.entry_point_size, display(root, &self.entry_point))];
        match &self.additional {
            Additional::None => {}
            Additional::Zip(files) => sizes.extend(files.iter().map(|f| (f.size, display(root, &f.source)))),
            Additional::Venv(v) => sizes.extend(v.own.iter().map(|f| (f.size, display(root, &f.source)))),
            Additional::Archive { path, size } => sizes.push((*size, display(root, path))),
        }
        sizes.sort_by_key(|s| std::cmp::Reverse(s.0));
        let largest = sizes
            .iter()
            .take(3)
            .map(|(s, p)| format!("{p} ({s} bytes)"))
            .collect::<Vec<_>>()
            .join(", ");
        Err(BundleError::TooLarge {
            total,
            limit: limits::TOTAL_ARTIFACT_BYTES,
            largest,
        })
    }
}

/// The metadata of `path` (shown as `shown`), a regular file, or through a symlink that stays
/// inside `root`; `missing` names the error when nothing is there.
fn regular_file_inside(
    root: &Path,
    path: &Path,
    shown: &str,
    missing: fn(String) -> BundleError,
) -> Result<fs::Metadata, BundleError> {
    let meta = fs::symlink_metadata(path).map_err(|_| missing(shown.to_string()))?;
    if meta.file_type().is_symlink() {
        check_symlink_inside(root, path, shown)?;
    }
    let meta = fs::metadata(path).map_err(|_| missing(shown.to_string()))?;
    if !meta.is_file() {
        return Err(BundleError::NotAFile(shown.to_string()));
    }
    Ok(meta)
}

fn check_symlink_inside(root: &Path, path: &Path, shown: &str) -> Result<(), BundleError> {
    let target = fs::canonicalize(path).map_err(|_| BundleError::NotAFile(shown.to_string()))?;
    let root = fs::canonicalize(root).map_err(|e| BundleError::Walk {
        path: root.display().to_string(),
        message: e.to_string(),
    })?;
    stays_inside(&root, &target, shown)
}

/// A link's resolved `target` must lie under the (canonical) `root`; `shown` names the link.
fn stays_inside(root: &Path, target: &Path, shown: &str) -> Result<(), BundleError> {
    if !target.starts_with(root) {
        return Err(BundleError::SymlinkEscapes {
            path: shown.to_string(),
            target: target.display().to_string(),
        });
    }
    Ok(())
}

/// The one timestamp every build output carries.
#[derive(Debug, Clone, Copy)]
pub struct Stamp {
    /// Seconds since 1970 (`SOURCE_DATE_EPOCH`, else 1980-01-01).
    pub epoch: i64,
    /// The same time as a zip date-time.
    pub dt: DateTime,
}

impl Stamp {
    /// `SOURCE_DATE_EPOCH` when set, else 1980-01-01 00:00:00.
    pub fn from_env() -> Result<Stamp, BundleError> {
        let (epoch, dt) = zip_timestamp()?;
        Ok(Stamp { epoch, dt })
    }
}

/// What `build_into` wrote.
#[derive(Debug, Clone)]
pub struct Built {
    pub artifacts: Vec<Artifact>,
    /// The environment's inventory, when the additional artifact is a built venv.
    pub environment: Option<EnvBuild>,
}

/// Builds the project's artifacts into `out_dir`, replacing it atomically.
pub fn build(project: &Project, out_dir: &Path) -> Result<BuildOutput> {
    build_with(project, out_dir, &mut |_| {})
}

/// Like [`build`], reporting the environment build's progress to `events`.
pub fn build_with(
    project: &Project,
    out_dir: &Path,
    events: &mut dyn FnMut(EnvEvent),
) -> Result<BuildOutput> {
    let plan = Plan::resolve(project, Some(out_dir))?;
    let stamp = Stamp::from_env()?;
    let staged = StagedDir::new(out_dir).with_path(out_dir)?;
    let built = build_into(&plan, staged.path(), &stamp, events)?;
    let artifacts = built.artifacts;
    let bundle_entries = match &plan.additional {
        Additional::Zip(files) => files.len(),
        _ => 0,
    };
    let record = BuildRecord {
        crpack_version: env!("CARGO_PKG_VERSION"),
        template: &project.template.name,
        source_date_epoch: stamp.epoch,
        bundle_entries,
        artifacts: artifacts
            .iter()
            .map(|a| RecordArtifact {
                role: a.role,
                file: &a.file_name,
                size: a.size,
                sha256: a.sha256,
            })
            .collect(),
        environment: built.environment.as_ref(),
    };
    let json = serde_json::to_vec_pretty(&record).map_err(ArtifactError::Record)?;
    fsutil::write_atomic(&staged.path().join(BUILD_RECORD), &json).with_path(out_dir)?;
    let out_dir = staged.commit().with_path(out_dir)?;
    let artifacts = artifacts
        .into_iter()
        .map(|mut a| {
            a.path = out_dir.join(&a.file_name);
            a
        })
        .collect();
    Ok(BuildOutput {
        out_dir,
        artifacts,
        bundle_entries,
        source_date_epoch: stamp.epoch,
        environment: built.environment,
    })
}

/// Writes the plan's artifacts into `dir` (which exists and is empty) and hashes them.
pub fn build_into(plan: &Plan, dir: &Path, stamp: &Stamp, events: &mut dyn FnMut(EnvEvent)) -> Result<Built> {
    let ep_name = plan
        .entry_point
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| BundleError::NonUtf8(plan.entry_point.display().to_string()))?
        .to_string();
    validate::s3_key(&ep_name).map_err(ArtifactError::InvalidName)?;
    let ep_dst = dir.join(&ep_name);
    let (sha, size) = copy_hashing(&plan.entry_point, &ep_dst).with_path(&plan.entry_point)?;
    let mut artifacts = vec![Artifact {
        role: Role::EntryPoint,
        path: ep_dst,
        file_name: ep_name.clone(),
        size,
        sha256: sha,
    }];
    let mut environment = None;
    let additional = match &plan.additional {
        Additional::None => None,
        Additional::Zip(files) => {
            let dst = dir.join(BUNDLE_FILE_NAME);
            let out = File::create(&dst).with_path(&dst)?;
            let out = write_zip(files, stamp.dt, BufWriter::with_capacity(BUFFER_SIZE, out))?;
            drop(out.into_inner().map_err(|e| Error::io(&dst, e.into_error()))?);
            let (sha, size) = Sha256Digest::of_file(&dst).with_path(&dst)?;
            Some((BUNDLE_FILE_NAME.to_string(), dst, sha, size))
        }
        Additional::Venv(venv) => {
            let dst = dir.join(crate::venv::VENV_FILE_NAME);
            let options = crate::venv::build::BuildOptions::from_env();
            let env = crate::venv::build::build(venv, &dst, stamp.epoch.max(0) as u64, &options, events)
                .map_err(BundleError::from)?;
            let out = (env.file_name.clone(), dst, env.sha256, env.size);
            environment = Some(env);
            Some(out)
        }
        Additional::Archive { path, .. } => {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| BundleError::NonUtf8(path.display().to_string()))?
                .to_string();
            let dst = dir.join(&name);
            let (sha, size) = copy_hashing(path, &dst).with_path(path)?;
            Some((name, dst, sha, size))
        }
    };
    if let Some((name, path, sha, size)) = additional {
        if name == ep_name {
            return Err(ArtifactError::SameName { name }.into());
        }
        artifacts.push(Artifact {
            role: Role::Additional,
            path,
            file_name: name,
            size,
            sha256: sha,
        });
    }
    let total: u64 = artifacts.iter().map(|a| a.size).sum();
    if total > limits::TOTAL_ARTIFACT_BYTES {
        let largest = match &environment {
            Some(env) => largest_packages(env),
            None => artifacts
                .iter()
                .map(|a| format!("{} ({} bytes)", a.file_name, a.size))
                .collect::<Vec<_>>()
                .join(", "),
        };
        return Err(BundleError::TooLarge {
            total,
            limit: limits::TOTAL_ARTIFACT_BYTES,
            largest,
        }
        .into());
    }
    Ok(Built {
        artifacts,
        environment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (p, c) in files {
            let path = dir.path().join(p);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, c).unwrap();
        }
        dir
    }

    fn entries(files: &[BundleFile]) -> Vec<&str> {
        files.iter().map(|f| f.entry.as_str()).collect()
    }

    #[test]
    fn entries_are_relative_to_the_include_roots_parent_and_sorted() {
        let d = tree(&[
            ("lib/pkg/__init__.py", ""),
            ("lib/pkg/b.py", "b"),
            ("lib/pkg/a.py", "a"),
            ("data/lookup.csv", "x,y"),
            ("lib/pkg/__pycache__/a.cpython-311.pyc", "junk"),
            ("lib/pkg/c.pyc", "junk"),
            ("lib/pkg/tests/test_a.py", "t"),
            ("lib/.DS_Store", "junk"),
        ]);
        let files = collect_files(
            d.path(),
            &["lib/pkg".into(), "data/lookup.csv".into()],
            &["**/tests/**".into()],
            None,
        )
        .unwrap();
        assert_eq!(
            entries(&files),
            ["lookup.csv", "pkg/__init__.py", "pkg/a.py", "pkg/b.py"]
        );
    }

    #[test]
    fn include_that_matches_nothing_is_an_error() {
        let d = tree(&[("lib/a.py", "")]);
        let err = collect_files(d.path(), &["nope".into()], &[], None).unwrap_err();
        assert!(matches!(err, BundleError::IncludeMatchesNothing(ref p) if p == "nope"));
        let err = collect_files(d.path(), &["lib".into()], &["**/*.py".into()], None).unwrap_err();
        assert!(matches!(err, BundleError::IncludeMatchesNothing(_)), "{err}");
    }

    #[test]
    fn duplicate_entries_are_an_error() {
        let d = tree(&[("a/x.py", "1"), ("b/x.py", "2")]);
        let err = collect_files(d.path(), &["a/x.py".into(), "b/x.py".into()], &[], None).unwrap_err();
        assert!(matches!(err, BundleError::DuplicateEntry { .. }), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_leaving_the_project_are_an_error() {
        let outside = tree(&[("secret.txt", "s")]);
        let d = tree(&[("lib/a.py", "")]);
        std::os::unix::fs::symlink(outside.path().join("secret.txt"), d.path().join("lib/link.txt")).unwrap();
        let err = collect_files(d.path(), &["lib".into()], &[], None).unwrap_err();
        assert!(
            matches!(err, BundleError::SymlinkEscapes { ref path, .. } if path == "lib/link.txt"),
            "{err}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_names_are_an_error() {
        use std::os::unix::ffi::OsStrExt;
        let d = tree(&[("lib/a.py", "")]);
        let name = std::ffi::OsStr::from_bytes(b"bad\xff.py");
        fs::write(d.path().join("lib").join(name), "x").unwrap();
        let err = collect_files(d.path(), &["lib".into()], &[], None).unwrap_err();
        assert!(matches!(err, BundleError::NonUtf8(_)), "{err}");
    }

    #[test]
    fn zip_is_identical_across_input_order_and_batches() {
        let d = tree(&[("p/a.py", "print(1)\n"), ("p/b.py", "print(2)\n")]);
        let dt = DateTime::default();
        let mut files = collect_files(d.path(), &["p".into()], &[], None).unwrap();
        let one = write_zip(&files, dt, Cursor::new(Vec::new()))
            .unwrap()
            .into_inner();
        files.reverse();
        files.sort_by(|a, b| a.entry.as_bytes().cmp(b.entry.as_bytes()));
        let two = write_zip(&files, dt, Cursor::new(Vec::new()))
            .unwrap()
            .into_inner();
        assert_eq!(one, two);
        let mut z = ZipArchive::new(Cursor::new(one)).unwrap();
        assert_eq!(z.len(), 2);
        let mut s = String::new();
        z.by_name("p/a.py").unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "print(1)\n");
        assert_eq!(
            z.by_name("p/a.py").unwrap().unix_mode().map(|m| m & 0o777),
            Some(0o644)
        );
    }

    #[test]
    fn an_oversized_environment_names_its_largest_packages() {
        let wheel = |name: &str, bytes: u64| crate::venv::WheelRecord {
            name: name.into(),
            version: "1.0".into(),
            file_name: format!("{name}-1.0-py3-none-any.whl"),
            sha256: crate::digest::Sha256Digest::of(name.as_bytes()),
            url: None,
            native: false,
            license: None,
            installed_bytes: bytes,
            modules: vec![],
        };
        let env = EnvBuild {
            file_name: "pyspark_venv.tar.gz".into(),
            sha256: crate::digest::Sha256Digest::of(b""),
            size: 2_000_000_000,
            target: crate::venv::Target::default(),
            wheels: ["a", "b", "c", "d", "e", "f"]
                .iter()
                .enumerate()
                .map(|(i, n)| wheel(n, (i as u64 + 1) * 100))
                .collect(),
            own_modules: vec![],
            entries: 0,
        };
        let text = largest_packages(&env);
        assert!(
            text.starts_with("f 1.0 (600 bytes installed), e 1.0 (500"),
            "{text}"
        );
        assert!(!text.contains("a 1.0"), "five at most: {text}");
        let err = BundleError::TooLarge {
            total: env.size,
            limit: limits::TOTAL_ARTIFACT_BYTES,
            largest: text,
        };
        assert!(err.to_string().contains("largest: f 1.0"), "{err}");
    }

    #[test]
    fn timestamp_defaults_to_1980() {
        // SOURCE_DATE_EPOCH is read from the environment; the integration tests cover setting it.
        if std::env::var_os("SOURCE_DATE_EPOCH").is_none() {
            let (secs, dt) = zip_timestamp().unwrap();
            assert_eq!(secs, 315_532_800);
            assert_eq!((dt.year(), dt.month(), dt.day(), dt.hour()), (1980, 1, 1, 0));
        }
    }
}
