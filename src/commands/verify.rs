//! `crpack verify`: check that a template's artifacts are exactly the bytes it records.

use std::path::PathBuf;

use crate::cli::{AwsArgs, Context, SourceArgs, TargetArgs};
use crate::error::verification_exit;
use crate::error::{Error, Result};
use crate::output::escape;
use crate::render::print_verification;
use crpack_core::aws::Aws;
use crpack_core::error::ExitCode;
use crpack_core::fsutil;
use crpack_core::lock::now_rfc3339;
use crpack_core::report::VerifyReport;
use crpack_core::review::document::PolicyResult;
use crpack_core::review::{self, html, obtain};
use crpack_core::verify::policy::Policy;
use crpack_core::verify::{self, Source};

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub source: SourceArgs,
    /// Also write a self-contained HTML review to FILE: the template, the verdicts, the entry
    /// point's code with its findings, the additional artifact's contents and the policy.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
    /// Your rules for templates (TOML, as for approve); a violation fails the verification.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    #[command(flatten)]
    pub aws: AwsArgs,
}

pub fn run(ctx: &Context, args: &VerifyArgs) -> Result<ExitCode> {
    let source = args.source.source(false)?;
    let policy = args.policy.as_deref().map(Policy::load).transpose()?;
    let rt = ctx.runtime()?;
    let (report, policy) = rt.block_on(async {
        let aws = Aws::load(&args.aws.options(), None).await?;
        let report = verify::verify(&aws, &args.target.target()?, &source).await?;
        let policy = policy.zip(args.policy.as_ref()).map(|(p, file)| PolicyResult {
            file: file.display().to_string(),
            violations: p.violations(&report.template),
        });
        if let Some(path) = &args.report {
            write_review(ctx, &aws, &report, &source, policy.clone(), path).await?;
        }
        Ok::<_, Error>((report, policy))
    })?;
    let violations = policy.as_ref().map_or(0, |p| p.violations.len());
    if ctx.out.json {
        match &policy {
            // The report's fields, and what the policy found.
            Some(p) => ctx.out.json(&serde_json::json!({
                "ok": report.ok && violations == 0,
                "outcome": report.outcome,
                "source": report.source,
                "template": report.template,
                "checks": report.checks,
                "problems": report.problems,
                "warnings": report.warnings,
                "my_tables": report.my_tables,
                "policy": p,
            })),
            None => ctx.out.json(&report),
        }
    } else {
        print_verification(ctx, &report);
        for v in policy.iter().flat_map(|p| &p.violations) {
            ctx.out.line(format!("{} {}", ctx.out.bad("policy"), escape(v)));
        }
    }
    Ok(verification_exit(&report, violations))
}

/// Writes the HTML review of `report` to `path` (atomically), with the verified bytes fetched
/// again from `source`.
async fn write_review(
    ctx: &Context,
    aws: &Aws,
    report: &VerifyReport,
    source: &Source,
    policy: Option<PolicyResult>,
    path: &std::path::Path,
) -> Result<()> {
    let obtained = obtain::obtain(Some(aws), report, source).await?;
    for (role, why) in &obtained.missing {
        ctx.out.debug(format!("review: no {role} bytes to show: {why}"));
    }
    let doc = review::document(report.clone(), &obtained, policy, now_rfc3339());
    fsutil::write_atomic(path, html::render(&doc).as_bytes()).map_err(|e| Error::io(path, e))?;
    ctx.out.info(format!("review      wrote {}", path.display()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::ViaArgs;
    use crpack_core::verify::Via;

    const ARN: &str = "arn:aws:cleanrooms:us-east-1:111111111111:membership/3c6b0ba0-0000-4000-8000-000000000001/analysistemplate/3c6b0ba0-0000-4000-8000-000000000002";

    fn args(template: &str, membership: Option<&str>, collaboration: Option<&str>) -> TargetArgs {
        TargetArgs {
            template: template.into(),
            via: ViaArgs {
                membership: membership.map(str::to_string),
                collaboration: collaboration.map(str::to_string),
            },
        }
    }

    #[test]
    fn the_flags_become_a_target_or_a_usage_error() {
        let t = args(ARN, Some("m1"), None).target().unwrap();
        assert_eq!(t.via, Via::Membership("m1".into()));
        let t = args(ARN, None, Some("c1")).target().unwrap();
        assert_eq!(t.via, Via::Collaboration("c1".into()));
        let e = args(ARN, None, None).target().unwrap_err();
        assert_eq!(e.exit_code(), ExitCode::Usage);
        assert_eq!(e.to_string(), "pass --membership ID or --collaboration ID");
        let e = args("arn:nope", Some("m1"), None).target().unwrap_err();
        assert_eq!(e.exit_code(), ExitCode::Usage);
        assert!(e.to_string().contains("is not an analysis template ARN"), "{e}");
    }
}
