//! `crpack jobs list|show|cancel`: the protected jobs of a membership.

use aws_sdk_cleanrooms::types::ProtectedJobStatus;

use crate::cli::{AwsArgs, Context};
use crate::error::{CommandError, Result};
use crate::output::{escape, table};
use crate::render::print_job;
use crpack_core::aws::Aws;
use crpack_core::error::ExitCode;
use crpack_core::jobs;

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
        }
    })
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
