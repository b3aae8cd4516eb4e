//! Static checks of a project: crpack.toml's settings, the entry point's source, the artifact
//! limits, native code that will not load on the runtime, and (on request) imports on aarch64.

use std::fs;
use std::path::Path;

use serde::Serialize;

use crate::bundle::{self, Additional, Plan};
use crate::diagnostic::{Diagnostic, Severity};
use crate::error::{Error, Result};
use crate::manifest::{BundleSpec, ErrorMessages, MANIFEST_NAME, Project};
use crate::platform;
use crate::progress::Reporter;
use crate::pycheck::{self, Declared};
use crate::venv::EnvEvent;

/// The outcome of checking a project.
#[derive(Debug, Serialize)]
pub struct CheckReport {
    pub ok: bool,
    pub errors: usize,
    pub warnings: usize,
    pub diagnostics: Vec<Diagnostic>,
}

/// Checks a loaded project: the entry point's source, the artifact limits and the settings
/// worth a warning. Errors in crpack.toml itself surface earlier, when it is loaded.
pub fn check_project(project: &Project) -> Result<CheckReport> {
    let mut diagnostics = Vec::new();
    let ep = &project.template.entry_point;
    match fs::read(project.entry_point_path()) {
        Err(e) => diagnostics.push(Diagnostic::error(
            "entry-point-unreadable",
            ep.clone(),
            format!(
                "cannot read the entry point: {e}; create it or fix [template] entry_point in {MANIFEST_NAME}"
            ),
        )),
        Ok(bytes) => match String::from_utf8(bytes) {
            Err(_) => diagnostics.push(Diagnostic::error(
                "entry-point-encoding",
                ep.clone(),
                "the entry point is not UTF-8 text; save it as UTF-8".to_string(),
            )),
            Ok(source) => {
                let params: Vec<String> = project
                    .template
                    .parameters
                    .iter()
                    .map(|p| p.name.clone())
                    .collect();
                let declared = Declared {
                    tables: &project.template.referenced_tables,
                    parameters: &params,
                };
                diagnostics.extend(pycheck::check_entry_point(ep, &source, &declared).diagnostics);
            }
        },
    }
    let file_name = ep.rsplit('/').next().unwrap_or(ep);
    let stem = file_name.trim_end_matches(".py");
    if stem.is_empty()
        || !stem
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        diagnostics.push(Diagnostic::warning(
            "entry-point-name",
            ep.clone(),
            format!(
                "{file_name:?}: Clean Rooms' troubleshooting guide asks for a lowercase snake_case .py file name; \
                 other names have made jobs fail to start"
            ),
        ));
    }
    if project.template.error_messages == ErrorMessages::Detailed {
        diagnostics.push(Diagnostic::warning(
            "detailed-errors",
            MANIFEST_NAME,
            "error_messages = \"detailed\" may expose data (PII) to the result receiver, and every data \
             provider must approve the template; use \"basic\" unless you are testing",
        ));
    }
    if project.template.referenced_tables.is_empty() {
        diagnostics.push(Diagnostic::warning(
            "no-tables",
            MANIFEST_NAME,
            "referenced_tables is empty: the template cannot read any data",
        ));
    }
    match Plan::resolve(project, Some(&project.root.join("dist"))) {
        Err(e) => diagnostics.push(Diagnostic::error("artifacts", MANIFEST_NAME, e.to_string())),
        // Native code that will not load on the runtime (Linux ARM64, Python 3.11).
        Ok(plan) => {
            let (file, findings) = match &plan.additional {
                Additional::Archive { path, .. } => {
                    let shown = path
                        .strip_prefix(&project.root)
                        .unwrap_or(path)
                        .display()
                        .to_string();
                    match platform::scan_tar_gz(path) {
                        Ok(findings) => (shown, findings),
                        Err(e) => {
                            diagnostics.push(Diagnostic::error(
                                "archive-unreadable",
                                shown.clone(),
                                format!(
                                    "{e}; or let crpack build the environment ([bundle] requirements and include)"
                                ),
                            ));
                            (shown, Vec::new())
                        }
                    }
                }
                Additional::Zip(files) => (
                    bundle::BUNDLE_FILE_NAME.to_string(),
                    scan_own(files, &mut diagnostics),
                ),
                Additional::Venv(venv) => {
                    let mut findings = scan_own(&venv.own, &mut diagnostics);
                    if let Some(reqs) = &venv.requirements {
                        findings.extend(scan_cached_wheels(reqs, &venv.target, &mut diagnostics));
                    }
                    (crate::venv::VENV_FILE_NAME.to_string(), findings)
                }
                Additional::None => (String::new(), Vec::new()),
            };
            diagnostics.extend(
                findings
                    .into_iter()
                    .map(|f| Diagnostic::warning(f.code, file.clone(), f.message)),
            );
        }
    }
    if let Some(BundleSpec::Sources { .. }) = &project.bundle {
        diagnostics.push(Diagnostic::warning(
            "zip-format",
            MANIFEST_NAME,
            "format = \"zip\": Clean Rooms documents the additional artifact as a virtual environment \
             (venv-pack .tar.gz); remove `format` to build one from the same files",
        ));
    }
    if let Some(BundleSpec::Archive(a)) = &project.bundle
        && !(a.ends_with(".tar.gz") || a.ends_with(".tgz"))
    {
        diagnostics.push(Diagnostic::warning(
            "archive-format",
            MANIFEST_NAME,
            format!("{a:?}: Clean Rooms documents venv-pack .tar.gz archives as the libraries file"),
        ));
    }
    diagnostics.sort_by(|a, b| {
        (a.severity, &a.file, a.line, a.column).cmp(&(b.severity, &b.file, b.line, b.column))
    });
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = diagnostics.len() - errors;
    Ok(CheckReport {
        ok: errors == 0,
        errors,
        warnings,
        diagnostics,
    })
}

/// Native code among the project's own files, judged by each file's header.
fn scan_own(files: &[bundle::BundleFile], diagnostics: &mut Vec<Diagnostic>) -> Vec<platform::Finding> {
    let pairs: Vec<(&str, &std::path::Path)> = files
        .iter()
        .map(|f| (f.entry.as_str(), f.source.as_path()))
        .collect();
    match platform::scan_files(&pairs) {
        Ok(found) => found,
        Err(e) => {
            diagnostics.push(Diagnostic::error("unreadable", MANIFEST_NAME, e.to_string()));
            Vec::new()
        }
    }
}

/// For requirements whose wheels are already cached: that a wheel fits the target, and the
/// native code inside it. Requirements not cached yet are checked when the build fetches them.
fn scan_cached_wheels(
    reqs: &crate::venv::requirements::Requirements,
    target: &crate::venv::Target,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<platform::Finding> {
    let Ok(cache) = crate::venv::fetch::WheelCache::from_env() else {
        return Vec::new();
    };
    let mut findings = Vec::new();
    for req in reqs.for_target() {
        let cached: Vec<std::path::PathBuf> = req
            .hashes
            .iter()
            .filter_map(|h| cache.get(h))
            .map(|w| w.path)
            .collect();
        if cached.is_empty() {
            continue;
        }
        let fitting: Vec<_> = cached
            .iter()
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .and_then(crate::venv::target::WheelName::parse)
                    .is_some_and(|w| target.accepts(&w))
            })
            .collect();
        if fitting.is_empty() {
            let names: Vec<String> = cached
                .iter()
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect();
            diagnostics.push(Diagnostic::error(
                "wheel-tags",
                req.location(),
                format!(
                    "{}: the pinned files ({}) have no wheel for {target}; pin a version that ships a \
                     manylinux aarch64 or py3-none-any wheel for CPython {}",
                    req.pin(),
                    names.join(", "),
                    target.python_version()
                ),
            ));
            continue;
        }
        for path in fitting {
            match platform::scan_zip(path) {
                Ok(found) => findings.extend(found),
                Err(e) => diagnostics.push(Diagnostic::error("unreadable", req.location(), e.to_string())),
            }
        }
    }
    findings
}

/// Importing the environment on arm64 cannot run. The texts name no command-line flag: the
/// caller knows how the user asked for the check and may phrase it in those terms.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// No emulator or no arm64 root.
    #[error(
        "importing on arm64 needs qemu-user-static on PATH and an arm64 root with usr/bin/python3.11 \
         (the given root, CRPACK_ARM64_ROOT or ~/.cache/crpack/arm64-root): crpack's scripts/arm64-root.sh \
         installs and makes both on Debian or Ubuntu"
    )]
    NoArm64Root,
    /// The project's additional artifact is not a virtual environment.
    #[error(
        "importing on arm64 checks a virtual environment: this project's additional artifact is not one \
         ([bundle] requirements/include, or archive = a venv-pack .tar.gz)"
    )]
    NotAnEnvironment,
    /// The build of a `[bundle] requirements` project produced no environment.
    #[error("no environment was built")]
    NoEnvironmentBuilt,
    /// The archive's module list cannot be read.
    #[error("{source}")]
    ArchiveModules {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// The emulated interpreter could not run.
    #[error(transparent)]
    Emulation(#[from] crate::venv::emulate::EmulateError),
}

/// `--import-on-arm64`: builds the environment and imports each of its top-level modules on
/// aarch64 CPython 3.11 under qemu; a module that fails is an error diagnostic.
pub fn import_on_arm64(
    project: &Project,
    arm64_root: Option<&Path>,
    report: &mut CheckReport,
    reporter: &dyn Reporter,
    events: &mut dyn FnMut(EnvEvent),
) -> Result<()> {
    use crate::venv::emulate::{self, Arm64Root};
    let root = Arm64Root::locate(arm64_root).ok_or(CheckError::NoArm64Root)?;
    let plan = Plan::resolve(project, Some(&project.root.join("dist")))?;
    let temp = tempfile::Builder::new()
        .prefix("crpack-check-")
        .tempdir()
        .map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let (archive, modules) = match &plan.additional {
        Additional::Archive { path, .. } => (path.clone(), None),
        Additional::Venv(_) => {
            reporter.info("building the environment to import it on aarch64");
            let stamp = bundle::Stamp::from_env()?;
            let built = bundle::build_into(&plan, temp.path(), &stamp, events)?;
            let env = built.environment.ok_or(CheckError::NoEnvironmentBuilt)?;
            let mut modules = env.own_modules.clone();
            for w in &env.wheels {
                modules.extend(w.modules.iter().cloned());
            }
            (temp.path().join(&env.file_name), Some(modules))
        }
        _ => {
            return Err(CheckError::NotAnEnvironment.into());
        }
    };
    let modules = match modules {
        Some(m) => m,
        None => emulate::archive_modules(&archive).map_err(|source| CheckError::ArchiveModules {
            path: archive.clone(),
            source,
        })?,
    };
    reporter.info(&format!(
        "importing {} module(s) on aarch64 CPython 3.11 under {}",
        modules.len(),
        root.qemu().display()
    ));
    let results = emulate::import_check_archive(&root, &archive, &modules).map_err(CheckError::Emulation)?;
    // A prebuilt archive by its path in the project; a built one by its file name in dist/.
    let file = match archive.strip_prefix(&project.root) {
        Ok(rel) => rel.display().to_string(),
        Err(_) => crate::venv::VENV_FILE_NAME.to_string(),
    };
    for r in &results {
        if let Some(err) = r.error.as_ref().filter(|_| !r.ok) {
            report.diagnostics.push(Diagnostic::error(
                "import-arm64",
                file.clone(),
                format!(
                    "`import {}` fails on the runtime's CPU and Python (aarch64, CPython 3.11): {}: {}",
                    crate::text::escape(&r.module),
                    err.kind,
                    crate::text::escape(&err.message)
                ),
            ));
        } else {
            reporter.debug(&format!("import {} ok on aarch64 ({:.1} s)", r.module, r.seconds));
        }
    }
    report.recount();
    reporter.info(&format!(
        "imported {} of {} module(s) on aarch64",
        results.iter().filter(|r| r.ok).count(),
        results.len()
    ));
    Ok(())
}

impl CheckReport {
    /// Recomputes the counts after diagnostics were added.
    pub fn recount(&mut self) {
        self.errors = self
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        self.warnings = self.diagnostics.len() - self.errors;
        self.ok = self.errors == 0;
    }
}
