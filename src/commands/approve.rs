//! `crpack approve` and `crpack revoke`: allow (or stop allowing) a template on your configured
//! tables. Approval always runs the verification first and acts only when it passes.

use std::path::PathBuf;

use serde::Serialize;

use crate::cli::{AwsArgs, Context};
use crate::cli::{SourceArgs, template_target};
use crate::error::verification_exit;
use crate::error::{Error, Result};
use crate::output::escape;
use crate::render::{print_verification, receivers};
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
        receivers: &[String],
    ) -> Result<Vec<TableOutcome>> {
        Ok(rules::apply(
            aws,
            &self.membership,
            &self.template,
            tables,
            explicit,
            change,
            receivers,
        )
        .await?)
    }
}

/// An AWS account id on the command line (12 digits).
fn account_id(value: &str) -> std::result::Result<String, String> {
    crpack_core::validate::account_id(value).map(|()| value.to_string())
}

#[derive(Debug, clap::Args)]
pub struct ApproveArgs {
    #[command(flatten)]
    pub which: TemplateTables,
    /// Also let results of jobs on your tables go to this member account: added to each
    /// table's CUSTOM rule `allowedResultReceivers` (repeatable; it must be an active member
    /// that can receive results). Without it the field is left as it is.
    #[arg(long = "result-receiver", value_name = "ACCOUNT", value_parser = account_id)]
    pub result_receivers: Vec<String>,
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
    /// Also stop letting results go to this account: removed from each table's
    /// `allowedResultReceivers` (repeatable). Without it the field is left as it is.
    #[arg(long = "result-receiver", value_name = "ACCOUNT", value_parser = account_id)]
    pub result_receivers: Vec<String>,
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
    warnings: &'a [String],
}

/// One line per table; table names come from the service and are escaped.
fn print_tables(ctx: &Context, tables: &[TableOutcome], arn: &str, change: Change) {
    let arn = escape(arn);
    for t in tables {
        let receivers_changed = !t.result_receivers_changed.is_empty();
        let what = match t.action.as_str() {
            "added" => format!("allowed {arn}"),
            "removed" => format!("no longer allows {arn}"),
            "already_approved" if receivers_changed => "already allows this template".to_string(),
            "already_approved" => "already allows this template: nothing changed".to_string(),
            "not_approved" if receivers_changed => "does not allow this template".to_string(),
            "not_approved" => "does not allow this template: nothing changed".to_string(),
            "not_yours" => "belongs to another member: skipped".to_string(),
            other => escape(other).into_owned(),
        };
        let changed = if receivers_changed {
            let named: Vec<_> = t.result_receivers_changed.iter().map(|a| escape(a)).collect();
            let verb = match change {
                Change::Approve => "now lets results go to",
                Change::Revoke => "no longer lets results go to",
            };
            format!("; {verb} {}", named.join(", "))
        } else {
            String::new()
        };
        ctx.out
            .line(format!("table {:<16} {what}{changed}", escape(&t.table)));
        if t.action != "not_yours" && (receivers_changed || t.allowed_result_receivers.is_some()) {
            ctx.out.line(format!(
                "      {:<16} results to {}",
                "",
                receivers(t.allowed_result_receivers.as_deref())
            ));
        }
    }
}

/// Tables whose rule, after the change, would keep the template's results from its creator,
/// who receives a PySpark job's results: jobs on them will fail.
fn creator_warnings(tables: &[TableOutcome], creator: &str) -> Vec<String> {
    tables
        .iter()
        .filter(|t| {
            t.allowed_result_receivers
                .as_ref()
                .is_some_and(|list| !list.iter().any(|a| a == creator))
        })
        .map(|t| {
            format!(
                "table {} lets results go only to {}, not to the template's creator {creator}, who receives a \
                 PySpark job's results: its jobs will fail until you add it with --result-receiver {creator}",
                escape(&t.table),
                receivers(t.allowed_result_receivers.as_deref()),
            )
        })
        .collect()
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
        if !args.result_receivers.is_empty() {
            // Before the verification's downloads: a receiver who cannot receive is a typo.
            let collaboration = verify::collaboration_id(&aws, &target).await?;
            rules::check_receivers(&aws, &collaboration, &args.result_receivers).await?;
        }
        let report = verify::verify(&aws, &target, &source).await?;
        let violations = policy.map(|p| p.violations(&report.template)).unwrap_or_default();
        let mut tables = Vec::new();
        let go = report.ok && violations.is_empty();
        if go {
            let (names, explicit) = selected(&args.which.tables, &report.template.referenced_tables)?;
            tables = args
                .which
                .apply(&aws, &names, explicit, Change::Approve, &args.result_receivers)
                .await?;
        }
        let warnings = creator_warnings(&tables, &report.template.creator_account_id);
        let json = ApproveJson {
            ok: go,
            approved: go,
            verification: &report,
            policy_violations: &violations,
            tables: &tables,
            warnings: &warnings,
        };
        ctx.out.result(&json, || {
            print_verification(ctx, &report);
            for v in &violations {
                ctx.out.line(format!("{} {}", ctx.out.bad("policy"), escape(v)));
            }
            if go {
                print_tables(ctx, &tables, &args.which.template, Change::Approve);
                for w in &warnings {
                    ctx.out.warn(w);
                }
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
            .apply(
                &aws,
                &referenced,
                explicit,
                Change::Revoke,
                &args.result_receivers,
            )
            .await?;
        ctx.out
            .result(&serde_json::json!({ "ok": true, "tables": tables }), || {
                print_tables(ctx, &tables, &args.which.template, Change::Revoke)
            });
        Ok(ExitCode::Success)
    })
}
