//! `crpack check`: validate crpack.toml and statically check the entry point.

use std::fs;

use serde::Serialize;

use crate::bundle::{self, Additional, Plan};
use crate::cli::Context;
use crate::diagnostic::{Diagnostic, Severity};
use crate::error::{Error, ExitCode, Result};
use crate::manifest::{BundleSpec, ErrorMessages, MANIFEST_NAME, Project};
use crate::platform;
use crate::pycheck::{self, Declared};

#[derive(Debug, clap::Args)]
pub struct CheckArgs {}

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
                Additional::Archive { path, .. } => (
                    path.strip_prefix(&project.root)
                        .unwrap_or(path)
                        .display()
                        .to_string(),
                    // Not a gzip tar: the archive-format warning below says so.
                    platform::scan_tar_gz(path).unwrap_or_default(),
                ),
                Additional::Zip(files) => (
                    bundle::BUNDLE_FILE_NAME.to_string(),
                    platform::scan_names(files.iter().map(|f| f.entry.as_str())),
                ),
                Additional::None => (String::new(), Vec::new()),
            };
            diagnostics.extend(
                findings
                    .into_iter()
                    .map(|f| Diagnostic::warning(f.code, file.clone(), f.message)),
            );
        }
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

pub fn run(ctx: &Context, _args: &CheckArgs) -> Result<ExitCode> {
    let project = Project::discover(&ctx.project_dir())?;
    let report = check_project(&project)?;
    if ctx.out.json {
        ctx.out.json(&report);
    } else {
        for d in &report.diagnostics {
            match d.severity {
                Severity::Error => ctx.out.line(format!("{}", d).replacen(
                    ": error[",
                    &format!(": {}[", ctx.out.bad("error")),
                    1,
                )),
                Severity::Warning => ctx.out.line(format!("{}", d).replacen(
                    ": warning[",
                    &format!(": {}[", ctx.out.caution("warning")),
                    1,
                )),
            }
        }
        ctx.out.line(format!(
            "{}: {} error(s), {} warning(s)",
            project.template.name, report.errors, report.warnings
        ));
    }
    if report.errors > 0 {
        // The report (already printed, JSON included) is the result; the error goes to stderr.
        let err = Error::CheckFailed {
            errors: report.errors,
        };
        ctx.out.error(err.to_string());
        return Ok(err.exit_code());
    }
    Ok(ExitCode::Success)
}
