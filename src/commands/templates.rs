//! `crpack templates --membership ID [--pending]`: the collaboration's PySpark templates, and
//! whether each of the reviewer's tables they read allows them.

use crpack_core::aws::Aws;
use crpack_core::error::ExitCode;
use crpack_core::review::templates::{self, TemplateEntry};

use crate::cli::{AwsArgs, Context};
use crate::error::Result;
use crate::output::{escape, table};
use crate::render::receivers;

#[derive(Debug, clap::Args)]
pub struct TemplatesArgs {
    /// Your membership in the collaboration.
    #[arg(long, value_name = "ID")]
    pub membership: String,
    /// Only templates that read at least one of your tables and are not allowed on all of them.
    #[arg(long)]
    pub pending: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

pub fn run(ctx: &Context, args: &TemplatesArgs) -> Result<ExitCode> {
    let rt = ctx.runtime()?;
    let report = rt.block_on(async {
        let aws = Aws::load(&args.aws.options(), None).await?;
        templates::list(&aws, &args.membership, args.pending).await
    })?;
    if ctx.out.json {
        ctx.out.json(&serde_json::json!({ "ok": true, "desk": report }));
        return Ok(ExitCode::Success);
    }
    let mut rows = vec![vec![
        "TEMPLATE".to_string(),
        "CREATOR".to_string(),
        "CREATED".to_string(),
        "ERRORS".to_string(),
        "YOUR TABLES".to_string(),
        "ARN".to_string(),
    ]];
    rows.extend(report.templates.iter().map(row));
    table(&rows).into_iter().for_each(|l| ctx.out.line(l));
    let pending = report.templates.iter().filter(|t| t.pending).count();
    let collaboration = escape(&report.collaboration_id);
    if report.pending_only {
        ctx.out.info(format!(
            "{pending} PySpark template(s) in collaboration {collaboration} await your review"
        ));
    } else {
        ctx.out.info(format!(
            "{} PySpark template(s) in collaboration {collaboration}; {pending} await your review",
            report.templates.len()
        ));
    }
    Ok(ExitCode::Success)
}

/// One line of the desk: each of my tables as `name allowed` or `name NOT allowed` (plain text,
/// so the columns line up on every terminal).
fn row(t: &TemplateEntry) -> Vec<String> {
    let tables = if t.my_tables.is_empty() {
        "-".to_string()
    } else {
        t.my_tables
            .iter()
            .map(|a| {
                let name = escape(&a.table);
                let state = if a.allowed { "allowed" } else { "NOT allowed" };
                match &a.allowed_result_receivers {
                    None => format!("{name} {state}"),
                    Some(list) => format!("{name} {state} (results to {})", receivers(Some(list))),
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    vec![
        escape(&t.name).into_owned(),
        escape(&t.creator_account_id).into_owned(),
        escape(&t.created).into_owned(),
        escape(&t.error_messages).into_owned(),
        tables,
        escape(&t.arn).into_owned(),
    ]
}
