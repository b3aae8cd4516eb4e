//! `crpack build`: write the entry point and the additional artifact into a directory.

use std::path::PathBuf;

use serde::Serialize;

use crate::cli::Context;
use crate::error::Result;
use crate::output::{escape, human_bytes, table};
use crpack_core::artifact::Artifact;
use crpack_core::bundle::{self, BuildOutput};
use crpack_core::error::ExitCode;
use crpack_core::manifest::Project;
use crpack_core::venv::EnvBuild;

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// Output directory (default: dist/ in the project). Replaced atomically.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Serialize)]
struct BuildJson<'a> {
    ok: bool,
    template: &'a str,
    out_dir: &'a std::path::Path,
    source_date_epoch: i64,
    bundle_entries: usize,
    artifacts: &'a [Artifact],
    #[serde(skip_serializing_if = "Option::is_none")]
    environment: Option<&'a EnvBuild>,
}

/// Prints what the environment holds: one row per distribution, then the project's modules.
pub fn print_environment(ctx: &Context, env: &EnvBuild) {
    let mut rows = vec![vec![
        "DISTRIBUTION".to_string(),
        "VERSION".into(),
        "KIND".into(),
        "INSTALLED".into(),
        "WHEEL".into(),
    ]];
    for w in &env.wheels {
        rows.push(vec![
            escape(&w.name).into_owned(),
            escape(&w.version).into_owned(),
            if w.native { "native" } else { "pure" }.to_string(),
            human_bytes(w.installed_bytes),
            escape(&w.file_name).into_owned(),
        ]);
    }
    if env.wheels.is_empty() {
        ctx.out
            .line(format!("environment for {}: no third-party packages", env.target));
    } else {
        ctx.out.line(format!("environment for {}:", env.target));
        for line in table(&rows) {
            ctx.out.line(format!("  {line}"));
        }
    }
    if !env.own_modules.is_empty() {
        ctx.out.line(format!(
            "  your modules: {}",
            env.own_modules
                .iter()
                .map(|m| escape(m))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
}

/// Prints the artifact rows: role, file, size, sha256.
pub fn print_artifacts(ctx: &Context, artifacts: &[Artifact]) {
    let mut rows = vec![vec![
        "ROLE".to_string(),
        "FILE".into(),
        "SIZE".into(),
        "SHA256".into(),
    ]];
    for a in artifacts {
        rows.push(vec![
            a.role.to_string(),
            a.path.display().to_string(),
            human_bytes(a.size),
            a.sha256.to_hex(),
        ]);
    }
    for line in table(&rows) {
        ctx.out.line(line);
    }
}

/// The output directory: `--out` or `dist/` in the project.
pub fn out_dir(project: &Project, out: Option<&PathBuf>) -> PathBuf {
    match out {
        Some(p) => std::path::absolute(p).unwrap_or_else(|_| p.clone()),
        None => project.root.join("dist"),
    }
}

pub fn run(ctx: &Context, args: &BuildArgs) -> Result<ExitCode> {
    let project = Project::discover(&ctx.project_dir())?;
    let out = out_dir(&project, args.out.as_ref());
    ctx.out.debug(format!(
        "building {} into {}",
        project.template.name,
        out.display()
    ));
    let BuildOutput {
        out_dir,
        artifacts,
        bundle_entries,
        source_date_epoch,
        environment,
    } = bundle::build_with(&project, &out, &mut crate::render::env_progress(ctx))?;
    if ctx.out.json {
        ctx.out.json(&BuildJson {
            ok: true,
            template: &project.template.name,
            out_dir: &out_dir,
            source_date_epoch,
            bundle_entries,
            artifacts: &artifacts,
            environment: environment.as_ref(),
        });
    } else {
        print_artifacts(ctx, &artifacts);
        if let Some(env) = &environment {
            print_environment(ctx, env);
        }
        ctx.out.info(format!(
            "built {} artifact(s) into {}{}",
            artifacts.len(),
            out_dir.display(),
            if bundle_entries > 0 {
                format!(" ({bundle_entries} file(s) in {})", bundle::BUNDLE_FILE_NAME)
            } else {
                String::new()
            }
        ));
    }
    Ok(ExitCode::Success)
}
