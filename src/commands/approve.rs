//! `crpack approve` and `crpack revoke`: allow (or stop allowing) a template on your configured
//! tables. Approval always runs the verification first and acts only when it passes.

use std::path::PathBuf;

use serde::Serialize;

use crate::cli::{AwsArgs, Context};
use crate::cli::{SourceArgs, template_target};
use crate::error::verification_exit;
use crate::error::{Error, Result};
use crate::output::escape;
use crate::render::print_verification;
use crpack_core::aws::Aws;
use crpack_core::error::ExitCode;
use crpack_core::report::VerifyReport;
use crpack_core::verify::policy::Policy;
use crpack_core::verify::rules::{self, Change, TableOutcome};
use crpack_core::verify::{self, Target, Via};

/// Which template, on which of your tables.
#[derive(Debug, Clone, clap::Args)]
pub struct TemplateTables {
    /// The analysis template ARN.
    #[arg(long, value_name = "ARN")]
    pub template: String,
    /// Your membership in the template's collaboration.
    #[arg(long, value_name = "ID")]
    pub membership: String,
    /// Only these of your tables (default: every table of yours the template references).
    #[arg(long = "table", value_name = "NAME")]
    pub tables: Vec<String>,
}

impl TemplateTables {
    fn target(&self) -> Result<Target> {
        template_target(&self.template, Via::Membership(self.membership.clone()))
    }

    /// Makes `change` to the rules of `tables` (`explicit`: named on the command line).
    async fn apply(
        &self,
        aws: &Aws,
        tables: &[String],
        explicit: bool,
        change: Change,
    ) -> Result<Vec<TableOutcome>> {
        Ok(rules::apply(aws, &self.membership, &self.template, tables, explicit, change).await?)
    }
}

#[derive(Debug, clap::Args)]
pub struct ApproveArgs {
    #[command(flatten)]
    pub which: TemplateTables,
    /// Your rules (TOML), checked before approving; a violation blocks approval.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Where the bytes come from (default: --from-s3).
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    #[command(flatten)]
    pub which: TemplateTables,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Serialize)]
struct ApproveJson<'a> {
    ok: bool,
    approved: bool,
    verification: &'a VerifyReport,
    policy_violations: &'a [String],
    tables: &'a [TableOutcome],
}

/// One line per table; table names come from the service and are escaped.
fn print_tables(ctx: &Context, tables: &[TableOutcome], arn: &str) {
    let arn = escape(arn);
    for t in tables {
        let what = match t.action.as_str() {
            "added" => format!("allowed {arn}"),
            "removed" => format!("no longer allows {arn}"),
            "already_approved" => "already allows this template: nothing changed".to_string(),
            "not_approved" => "does not allow this template: nothing changed".to_string(),
            "not_yours" => "belongs to another member: skipped".to_string(),
            other => escape(other).into_owned(),
        };
        ctx.out.line(format!("table {:<16} {what}", escape(&t.table)));
    }
}

/// The tables to act on: the named ones (which the template must reference) or all referenced.
fn selected(named: &[String], referenced: &[String]) -> Result<(Vec<String>, bool)> {
    if named.is_empty() {
        return Ok((referenced.to_vec(), false));
    }
    for n in named {
        if !referenced.contains(n) {
            let referenced: Vec<_> = referenced.iter().map(|r| escape(r)).collect();
            return Err(Error::Usage(format!(
                "the template does not reference table {n:?} (it references: {})",
                referenced.join(", ")
            )));
        }
    }
    Ok((named.to_vec(), true))
}

pub fn run_approve(ctx: &Context, args: &ApproveArgs) -> Result<ExitCode> {
    let source = args.source.source(true)?;
    let policy = args.policy.as_deref().map(Policy::load).transpose()?;
    let rt = ctx.runtime()?;
    rt.block_on(async {
        let aws = Aws::load(&args.aws.options(), None).await?;
        let target = args.which.target()?;
        let report = verify::verify(&aws, &target, &source).await?;
        let violations = policy.map(|p| p.violations(&report.template)).unwrap_or_default();
        let mut tables = Vec::new();
        let go = report.ok && violations.is_empty();
        if go {
            let (names, explicit) = selected(&args.which.tables, &report.template.referenced_tables)?;
            tables = args.which.apply(&aws, &names, explicit, Change::Approve).await?;
        }
        let json = ApproveJson {
            ok: go,
            approved: go,
            verification: &report,
            policy_violations: &violations,
            tables: &tables,
        };
        ctx.out.result(&json, || {
            print_verification(ctx, &report);
            for v in &violations {
                ctx.out.line(format!("{} {}", ctx.out.bad("policy"), escape(v)));
            }
            if go {
                print_tables(ctx, &tables, &args.which.template);
            } else {
                ctx.out
                    .line(ctx.out.bad("not approved: no analysis rule was changed"));
            }
        });
        Ok(verification_exit(&report, violations.len()))
    })
}

pub fn run_revoke(ctx: &Context, args: &RevokeArgs) -> Result<ExitCode> {
    let rt = ctx.runtime()?;
    rt.block_on(async {
        let aws = Aws::load(&args.aws.options(), None).await?;
        let target = args.which.target()?;
        // Revoking needs no verification, but the template must be readable to know its tables.
        let referenced = if args.which.tables.is_empty() {
            verify::review(&aws, &target).await?.summary.referenced_tables
        } else {
            args.which.tables.clone()
        };
        let explicit = !args.which.tables.is_empty();
        let tables = args
            .which
            .apply(&aws, &referenced, explicit, Change::Revoke)
            .await?;
        ctx.out
            .result(&serde_json::json!({ "ok": true, "tables": tables }), || {
                print_tables(ctx, &tables, &args.which.template)
            });
        Ok(ExitCode::Success)
    })
}
