//! `crpack jobs list|show|cancel|results`: the protected jobs of a membership, and a finished
//! job's results.

use std::path::PathBuf;

use aws_sdk_cleanrooms::types::ProtectedJobStatus;

use crate::cli::{AwsArgs, Context};
use crate::error::{CommandError, Error, Result};
use crate::output::{escape, human_bytes, table};
use crate::render::{ResultPreview, print_job, print_result_preview};
use crpack_core::aws::Aws;
use crpack_core::error::ExitCode;
use crpack_core::jobs;
use crpack_core::jobs::results::{ResultsOptions, ResultsReport};

#[derive(Debug, clap::Args)]
pub struct JobsArgs {
    #[command(subcommand)]
    pub command: JobsCommand,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Job statuses to filter on.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum StatusFilter {
    Submitted,
    Started,
    Cancelled,
    Cancelling,
    Failed,
    Success,
}

impl StatusFilter {
    fn to_sdk(self) -> ProtectedJobStatus {
        match self {
            StatusFilter::Submitted => ProtectedJobStatus::Submitted,
            StatusFilter::Started => ProtectedJobStatus::Started,
            StatusFilter::Cancelled => ProtectedJobStatus::Cancelled,
            StatusFilter::Cancelling => ProtectedJobStatus::Cancelling,
            StatusFilter::Failed => ProtectedJobStatus::Failed,
            StatusFilter::Success => ProtectedJobStatus::Success,
        }
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum JobsCommand {
    /// List a membership's jobs (all pages).
    List {
        #[arg(long, value_name = "ID")]
        membership: String,
        /// Only jobs in this status.
        #[arg(long, value_enum)]
        status: Option<StatusFilter>,
        /// Results per page requested from the service (1–100).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(1..=100))]
        page_size: Option<i32>,
    },
    /// Show one job.
    Show {
        job_id: String,
        /// The membership the job belongs to (default: searched among yours).
        #[arg(long, value_name = "ID")]
        membership: Option<String>,
    },
    /// Cancel a job.
    Cancel {
        job_id: String,
        #[arg(long, value_name = "ID")]
        membership: Option<String>,
    },
    /// Download a finished job's result objects and preview each Parquet result.
    Results {
        job_id: String,
        /// The membership that started the job.
        #[arg(long, value_name = "ID")]
        membership: String,
        /// Where the objects are written, with their layout below the job's result prefix
        /// (default: ./JOB_ID/). Files already there are replaced.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Rows of each result to show.
        #[arg(long, value_name = "N", default_value_t = 10)]
        preview: usize,
    },
}

pub fn run(ctx: &Context, args: &JobsArgs) -> Result<ExitCode> {
    let rt = ctx.runtime()?;
    rt.block_on(async {
        let aws = Aws::load(&args.aws.options(), None).await?;
        match &args.command {
            JobsCommand::List {
                membership,
                status,
                page_size,
            } => {
                let list = jobs::list(&aws, membership, status.map(StatusFilter::to_sdk), *page_size).await?;
                ctx.out
                    .result(&serde_json::json!({"ok": true, "jobs": list}), || {
                        let mut rows = vec![vec!["JOB".into(), "STATUS".into(), "CREATED".into()]];
                        rows.extend(list.iter().map(|j| {
                            vec![
                                escape(&j.id).into_owned(),
                                escape(&j.status).into_owned(),
                                escape(&j.created).into_owned(),
                            ]
                        }));
                        table(&rows).into_iter().for_each(|l| ctx.out.line(l));
                        ctx.out.info(format!("{} job(s)", list.len()));
                    });
                Ok(ExitCode::Success)
            }
            JobsCommand::Show { job_id, membership } => {
                let m = find_membership(&aws, membership.as_deref(), job_id).await?;
                let j = jobs::get(&aws, &m, job_id).await?;
                ctx.out.result(&serde_json::json!({"ok": true, "job": j}), || {
                    print_job(&ctx.out, &j)
                });
                Ok(ExitCode::Success)
            }
            JobsCommand::Cancel { job_id, membership } => {
                let m = find_membership(&aws, membership.as_deref(), job_id).await?;
                let j = jobs::cancel(&aws, &m, job_id).await?;
                ctx.out.result(&serde_json::json!({"ok": true, "job": j}), || {
                    ctx.out
                        .line(format!("job {} is {}", escape(&j.id), escape(&j.status)))
                });
                Ok(ExitCode::Success)
            }
            JobsCommand::Results {
                job_id,
                membership,
                out,
                preview,
            } => {
                let out_dir = match out {
                    Some(d) => d.clone(),
                    None => default_out_dir(job_id)?,
                };
                let out_dir = std::path::absolute(&out_dir).unwrap_or(out_dir);
                let opts = ResultsOptions {
                    out_dir,
                    preview_rows: *preview,
                };
                let report = jobs::results::fetch(&aws, membership, job_id, &opts, &ctx.out).await?;
                let doc = ResultsJson {
                    ok: true,
                    report: &report,
                };
                ctx.out.result(&doc, || print_results(ctx, &report));
                Ok(ExitCode::Success)
            }
        }
    })
}

/// `jobs results --json`: the report's fields after `ok`.
#[derive(serde::Serialize)]
struct ResultsJson<'a> {
    ok: bool,
    #[serde(flatten)]
    report: &'a ResultsReport,
}

/// `./JOB_ID`, when the job id can name a folder.
fn default_out_dir(job_id: &str) -> Result<PathBuf> {
    let plain = !job_id.is_empty()
        && job_id.len() <= 128
        && job_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !plain {
        return Err(Error::Usage(format!(
            "job id {:?} cannot name the download folder: pass --out DIR",
            escape(job_id)
        )));
    }
    Ok(PathBuf::from(".").join(job_id))
}

/// A path below the current directory relative to it, others as they are.
fn shown(path: &std::path::Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(|p| p.display().to_string()))
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| path.display().to_string())
}

fn print_results(ctx: &Context, r: &ResultsReport) {
    let out = &ctx.out;
    let bytes: u64 = r.files.iter().map(|f| f.bytes).sum();
    out.line(format!("job       {}", escape(&r.job_id)));
    out.line(format!("location  {}", escape(&r.location)));
    out.line(format!(
        "saved     {} file(s), {} in {}",
        r.files.len(),
        human_bytes(bytes),
        escape(&shown(&r.out_dir))
    ));
    if r.results.is_empty() {
        out.line("results   none (the job wrote no Parquet result)");
    }
    for res in &r.results {
        out.line("");
        let location = format!("{} ({} file(s))", shown(&res.path), res.files);
        print_result_preview(
            out,
            &ResultPreview {
                name: &res.name,
                rows: res.rows,
                location: &location,
                columns: res.columns.iter().map(|c| c.name.as_str()).collect(),
                types: Some(res.columns.iter().map(|c| c.kind.as_str()).collect()),
                preview: &res.preview,
            },
        );
    }
}

/// The membership the command line names, or else the one that holds the job.
async fn find_membership(aws: &Aws, named: Option<&str>, job_id: &str) -> Result<String> {
    if let Some(m) = named {
        return Ok(m.to_string());
    }
    jobs::find_membership(aws, job_id).await.map_err(|e| match e {
        // Said in the terms of the flag that would have named it.
        crpack_core::error::Error::Job(jobs::JobError::NoMembershipHasJob { job_id }) => {
            CommandError::NoMembershipHasJob { job_id }.into()
        }
        e => e.into(),
    })
}
