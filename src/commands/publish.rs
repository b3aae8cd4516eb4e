//! `crpack publish [--dry-run]`: upload the artifacts and register the template.

use std::path::PathBuf;

use crate::cli::{AwsArgs, Context};
use crate::error::Result;
use crate::output::table;
use crpack_core::aws::Aws;
use crpack_core::error::ExitCode;
use crpack_core::manifest::Project;
use crpack_core::publish::{self, PublishOptions, PublishReport};

#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// Print what would be uploaded and created; touch nothing remote.
    #[arg(long)]
    pub dry_run: bool,
    /// Build output directory (default: dist/).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Where to write the lock (default: crpack.lock next to crpack.toml).
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Prints a publish report for humans.
pub fn print_report(ctx: &Context, r: &PublishReport) {
    let out = &ctx.out;
    if r.dry_run {
        out.line(out.strong("plan (dry run: nothing was uploaded or created)"));
        let mut rows = vec![vec!["ROLE".into(), "FILE".into(), "WOULD UPLOAD TO".into()]];
        for u in &r.uploads {
            rows.push(vec![
                u.role.to_string(),
                u.file_name.clone(),
                format!(
                    "s3://{}/{} (unless already there with the same SHA-256)",
                    u.bucket, u.key
                ),
            ]);
        }
        table(&rows).into_iter().for_each(|l| out.line(l));
        out.line(format!(
            "would create template {} (unless it exists with these hashes)",
            r.template_name
        ));
        return;
    }
    let Some(lock) = &r.lock else { return };
    if r.up_to_date {
        out.line(format!(
            "{} nothing changed since the last publish",
            out.good("up to date:")
        ));
    }
    out.line(format!(
        "template  {} ({})",
        lock.template.name, r.template_action
    ));
    out.line(format!("arn       {}", lock.template.arn));
    let mut rows = vec![vec![
        "ROLE".into(),
        "FILE".into(),
        "SHA256".into(),
        "S3 VERSION".into(),
        "ACTION".into(),
    ]];
    for (a, u) in lock.artifacts.iter().zip(&r.uploads) {
        rows.push(vec![
            a.role.to_string(),
            a.file_name.clone(),
            a.sha256.to_hex(),
            a.version_id.clone(),
            u.action.clone(),
        ]);
    }
    table(&rows).into_iter().for_each(|l| out.line(l));
    out.line(format!("lock      {}", r.lock_path.display()));
}

pub fn run(ctx: &Context, args: &PublishArgs) -> Result<ExitCode> {
    let project = Project::discover(&ctx.project_dir())?;
    let cfg = project.publish_config()?.clone();
    let rt = ctx.runtime()?;
    let report = rt.block_on(async {
        let aws = if args.dry_run {
            None
        } else {
            Some(Aws::load(&args.aws.options(), cfg.region.as_deref()).await?)
        };
        let opts = PublishOptions {
            dry_run: args.dry_run,
            out_dir: args.out.clone(),
            lock_path: args.lock.clone(),
        };
        publish::publish(&project, aws.as_ref(), &opts, &ctx.out).await
    })?;
    if ctx.out.json {
        ctx.out.json(&report);
    } else {
        print_report(ctx, &report);
    }
    Ok(ExitCode::Success)
}
