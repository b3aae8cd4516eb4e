//! `crpack build`: write the entry point and the additional artifact into a directory.

use std::path::PathBuf;

use serde::Serialize;

use crate::artifact::Artifact;
use crate::bundle::{self, BuildOutput};
use crate::cli::Context;
use crate::error::{ExitCode, Result};
use crate::manifest::Project;
use crate::output::{human_bytes, table};

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
    } = bundle::build(&project, &out)?;
    if ctx.out.json {
        ctx.out.json(&BuildJson {
            ok: true,
            template: &project.template.name,
            out_dir: &out_dir,
            source_date_epoch,
            bundle_entries,
            artifacts: &artifacts,
        });
    } else {
        print_artifacts(ctx, &artifacts);
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
