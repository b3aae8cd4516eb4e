//! `crpack diff OLD_ARN NEW_ARN --membership ID`: what changed between two templates, for the
//! reviewer who approved the old one.

use std::path::PathBuf;

use crpack_core::aws::Aws;
use crpack_core::error::ExitCode;
use crpack_core::explain;
use crpack_core::fsutil;
use crpack_core::lock::now_rfc3339;
use crpack_core::review::diff::{self, ArtifactStatus, FieldChange, Sources, TemplateDiff};
use crpack_core::review::html;
use crpack_core::verify::Source;

use crate::cli::template_target;
use crate::cli::{AwsArgs, Context, via};
use crate::error::{Error, Result};
use crate::output::{Output, escape};

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The template you reviewed before.
    #[arg(value_name = "OLD_ARN")]
    pub old: String,
    /// The template to review now.
    #[arg(value_name = "NEW_ARN")]
    pub new: String,
    /// Your membership in the templates' collaboration.
    #[arg(long, value_name = "ID", required_unless_present = "collaboration")]
    pub membership: Option<String>,
    /// The collaboration id (instead of --membership).
    #[arg(long, value_name = "ID", conflicts_with = "membership")]
    pub collaboration: Option<String>,
    /// Download both templates' artifacts from S3 (needs read access) to compare their bytes.
    #[arg(long)]
    pub from_s3: bool,
    /// The old template's artifacts, shared by the author.
    #[arg(long, value_name = "PATH", num_args = 1.., conflicts_with = "old_source")]
    pub old_files: Vec<PathBuf>,
    /// The new template's artifacts, shared by the author.
    #[arg(long, value_name = "PATH", num_args = 1.., conflicts_with = "new_source")]
    pub new_files: Vec<PathBuf>,
    /// Rebuild the old template's project in DIR.
    #[arg(long, value_name = "DIR")]
    pub old_source: Option<PathBuf>,
    /// Rebuild the new template's project in DIR.
    #[arg(long, value_name = "DIR")]
    pub new_source: Option<PathBuf>,
    /// Also write the comparison as a self-contained HTML page to FILE.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
    #[command(flatten)]
    pub aws: AwsArgs,
}

impl DiffArgs {
    /// Each side's bytes: its files, its project, or S3 with `--from-s3`; both sides or none.
    fn sources(&self) -> Result<Sources> {
        let side = |files: &[PathBuf], dir: &Option<PathBuf>| -> Option<Source> {
            if !files.is_empty() {
                Some(Source::Files(files.to_vec()))
            } else if let Some(d) = dir {
                Some(Source::Project(d.clone()))
            } else if self.from_s3 {
                Some(Source::S3 { save: None })
            } else {
                None
            }
        };
        let sources = Sources {
            old: side(&self.old_files, &self.old_source),
            new: side(&self.new_files, &self.new_source),
        };
        match (&sources.old, &sources.new) {
            (Some(_), None) => Err(Error::Usage(
                "the new template's bytes are missing: add --new-files, --new-source or --from-s3".into(),
            )),
            (None, Some(_)) => Err(Error::Usage(
                "the old template's bytes are missing: add --old-files, --old-source or --from-s3".into(),
            )),
            _ => Ok(sources),
        }
    }
}

pub fn run(ctx: &Context, args: &DiffArgs) -> Result<ExitCode> {
    let sources = args.sources()?;
    let via = via(args.membership.as_deref(), args.collaboration.as_deref())?;
    let old = template_target(&args.old, via.clone())?;
    let new = template_target(&args.new, via)?;
    let rt = ctx.runtime()?;
    let d = rt.block_on(async {
        let aws = Aws::load(&args.aws.options(), None).await?;
        diff::diff(&aws, &old, &new, &sources).await
    })?;
    if let Some(path) = &args.report {
        let page = html::render_diff(&d, env!("CARGO_PKG_VERSION"), &now_rfc3339());
        fsutil::write_atomic(path, page.as_bytes()).map_err(|e| Error::io(path, e))?;
        ctx.out.info(format!("review      wrote {}", path.display()));
    }
    if ctx.out.json {
        ctx.out.json(&serde_json::json!({
            "ok": d.identical,
            "identical": d.identical,
            "old": d.old,
            "new": d.new,
            "metadata": d.metadata,
            "artifacts": d.artifacts,
            "old_verification": d.old_verification,
            "new_verification": d.new_verification,
        }));
    } else {
        print(&ctx.out, &d);
    }
    Ok(if d.identical {
        ExitCode::Success
    } else {
        ExitCode::VerificationFailed
    })
}

fn print(out: &Output, d: &TemplateDiff) {
    out.line(format!("old  {}  {}", escape(&d.old.name), escape(&d.old.arn)));
    out.line(format!("new  {}  {}", escape(&d.new.name), escape(&d.new.arn)));
    if !d.metadata.is_empty() {
        out.line(String::new());
        out.line("metadata");
        for c in &d.metadata {
            out.line(format!("  {:<22} {}", c.field, out.bad(&show(c, false))));
            out.line(format!("  {:<22} {}", "", out.good(&show(c, true))));
        }
    }
    out.line(String::new());
    out.line("artifacts");
    for a in &d.artifacts {
        let status = match a.status {
            ArtifactStatus::Unchanged => out.good("unchanged"),
            ArtifactStatus::Changed => out.caution("changed"),
            ArtifactStatus::Added => out.caution("added"),
            ArtifactStatus::Removed => out.bad("removed"),
        };
        out.line(format!("  {:<12} {status}", a.role.as_str()));
        let sha = |s: &Option<String>| -> String {
            s.as_deref().map_or("(none)".into(), |h| escape(h).into_owned())
        };
        if a.status == ArtifactStatus::Unchanged {
            out.line(format!(
                "               byte-identical (SHA-256 {})",
                sha(&a.new_sha256)
            ));
            continue;
        }
        out.line(format!("               old SHA-256 {}", sha(&a.old_sha256)));
        out.line(format!("               new SHA-256 {}", sha(&a.new_sha256)));
        if let Some(lines) = &a.code_diff {
            for l in lines {
                let shown = escape(l);
                let painted = if l.starts_with('+') && !l.starts_with("+++") {
                    out.good(&shown)
                } else if l.starts_with('-') && !l.starts_with("---") {
                    out.bad(&shown)
                } else {
                    shown.into_owned()
                };
                out.line(format!("    {painted}"));
            }
        }
        if let Some(ad) = &a.archive_diff {
            for l in explain::render(ad) {
                out.line(format!("    {l}"));
            }
        }
        if let Some(n) = &a.note {
            out.line(format!("               {}", escape(n)));
        }
    }
    out.line(String::new());
    if d.identical {
        out.line(out.good("identical: same metadata, byte-identical artifacts"));
    } else {
        let changed = d
            .artifacts
            .iter()
            .filter(|a| a.status != ArtifactStatus::Unchanged)
            .count();
        out.line(out.caution(&format!(
            "the templates differ: {} metadata field(s), {changed} artifact(s)",
            d.metadata.len()
        )));
    }
}

/// A metadata value for people, escaped.
fn show(c: &FieldChange, new: bool) -> String {
    escape(&diff::shown(if new { &c.new } else { &c.old })).into_owned()
}
