//! `crpack check`: validate crpack.toml and statically check the entry point.

use crate::error::{CommandError, Error, Result};
use crpack_core::check::CheckError;
use crpack_core::check::{self, check_project};
use crpack_core::diagnostic::Severity;
use crpack_core::error::Error as CoreError;
use crpack_core::error::ExitCode;
use crpack_core::manifest::Project;

use crate::cli::Context;

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Also build the environment and import every top-level module in it on a real aarch64
    /// CPython 3.11 through qemu-user (needs qemu-user-static and an arm64 root: see the README).
    #[arg(long)]
    pub import_on_arm64: bool,
    /// The arm64 root with usr/bin/python3.11 (default: CRPACK_ARM64_ROOT, else
    /// ~/.cache/crpack/arm64-root).
    #[arg(long, value_name = "DIR", requires = "import_on_arm64")]
    pub arm64_root: Option<std::path::PathBuf>,
}

pub fn run(ctx: &Context, args: &CheckArgs) -> Result<ExitCode> {
    let project = Project::discover(&ctx.project_dir())?;
    let mut report = check_project(&project)?;
    if args.import_on_arm64 {
        check::import_on_arm64(
            &project,
            args.arm64_root.as_deref(),
            &mut report,
            &ctx.out,
            &mut crate::render::env_progress(ctx),
        )
        .map_err(|e| match e {
            // Said in the terms of the flags that asked for the check.
            CoreError::Check(CheckError::NoArm64Root) => CommandError::NoArm64Root.into(),
            CoreError::Check(CheckError::NotAnEnvironment) => CommandError::NotAnEnvironment.into(),
            e => Error::from(e),
        })?;
    }
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
        let err = CoreError::CheckFailed {
            errors: report.errors,
        };
        ctx.out.error(err.to_string());
        return Ok(err.exit_code());
    }
    Ok(ExitCode::Success)
}
