//! `crpack lock [INPUT] [--output FILE]`: turns loose requirements (`requirements.in`) into the
//! hash-pinned requirements file the environment is built from, resolved for the runtime's
//! platform by `uv pip compile` (crpack writes no resolver: the lock is the resolution).

use std::path::PathBuf;

use serde::Serialize;

use crate::cli::Context;
use crate::error::{CommandError, Result};
use crate::output::escape;
use crpack_core::error::ExitCode;
use crpack_core::manifest::{BundleSpec, Project};
use crpack_core::venv::Target;
use crpack_core::venv::fetch;

#[derive(Debug, clap::Args)]
pub struct LockArgs {
    /// The loose requirements (default: requirements.in in the project).
    #[arg(value_name = "INPUT")]
    pub input: Option<PathBuf>,
    /// The hash-pinned file to write (default: [bundle] requirements, else requirements.txt).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Serialize)]
struct LockJson<'a> {
    ok: bool,
    input: &'a std::path::Path,
    output: &'a std::path::Path,
    target: &'a Target,
    requirements: Vec<LockedRequirement>,
}

#[derive(Serialize)]
struct LockedRequirement {
    name: String,
    version: String,
    hashes: Vec<String>,
}

pub fn run(ctx: &Context, args: &LockArgs) -> Result<ExitCode> {
    let project = Project::discover(&ctx.project_dir())?;
    let (configured, target) = match &project.bundle {
        Some(BundleSpec::Venv(v)) => (v.requirements.clone(), v.target.clone()),
        _ => (None, Target::default()),
    };
    let input = match &args.input {
        Some(p) => std::path::absolute(p).unwrap_or_else(|_| p.clone()),
        None => project.root.join("requirements.in"),
    };
    if !input.is_file() {
        return Err(CommandError::NoLockInput { input }.into());
    }
    let output = match &args.output {
        Some(p) => std::path::absolute(p).unwrap_or_else(|_| p.clone()),
        None => project
            .root
            .join(configured.as_deref().unwrap_or("requirements.txt")),
    };
    ctx.out.info(format!(
        "locking {} for {target} with uv pip compile",
        input.display()
    ));
    let locked = fetch::lock(&input, &output, &target).map_err(CommandError::Lock)?;
    let requirements: Vec<LockedRequirement> = locked
        .for_target()
        .map(|r| LockedRequirement {
            name: r.name.clone(),
            version: r.version.clone(),
            hashes: r.hashes.iter().map(|h| h.to_hex()).collect(),
        })
        .collect();
    if ctx.out.json {
        ctx.out.json(&LockJson {
            ok: true,
            input: &input,
            output: &output,
            target: &target,
            requirements,
        });
    } else {
        for r in &requirements {
            ctx.out.line(format!(
                "{}=={}  ({} hash{})",
                escape(&r.name),
                escape(&r.version),
                r.hashes.len(),
                if r.hashes.len() == 1 { "" } else { "es" }
            ));
        }
        ctx.out.info(format!(
            "wrote {} pinned requirement(s) to {}",
            requirements.len(),
            output.display()
        ));
        if configured.is_none() {
            ctx.out.info(format!(
                "add `requirements = \"{}\"` to [bundle] in crpack.toml to build the environment from it",
                output.strip_prefix(&project.root).unwrap_or(&output).display()
            ));
        }
    }
    Ok(ExitCode::Success)
}
