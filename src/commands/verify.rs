//! `crpack verify`: check that a template's artifacts are exactly the bytes it records.

use std::path::PathBuf;

use crate::cli::{AwsArgs, Context, ViaArgs};
use crate::commands::error::{Error, Result};
use crate::output::escape;
use crpack_core::aws::Aws;
use crpack_core::error::ExitCode;
use crpack_core::explain;
use crpack_core::fsutil;
use crpack_core::lock::now_rfc3339;
use crpack_core::report::{Outcome, Verdict, VerifyReport};
use crpack_core::review::document::PolicyResult;
use crpack_core::review::{self, html, obtain};
use crpack_core::verify::policy::Policy;
use crpack_core::verify::{self, Source, Target, Via};

/// Which template, seen through which collaboration.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// The analysis template ARN.
    #[arg(long, value_name = "ARN")]
    pub template: String,
    #[command(flatten)]
    pub via: ViaArgs,
}

/// Where the bytes to check come from (exactly one).
#[derive(Debug, Clone, clap::Args)]
pub struct SourceArgs {
    /// Download each artifact from its S3 location (needs read access to the bucket).
    #[arg(long, conflicts_with_all = ["files", "source_dir", "lock"])]
    pub from_s3: bool,
    /// Keep the downloaded artifacts in DIR (with --from-s3).
    #[arg(long, value_name = "DIR", requires = "from_s3")]
    pub save: Option<PathBuf>,
    /// Files shared by the author: the entry point by name, the additional artifact by name or hash.
    #[arg(long, value_name = "PATH", num_args = 1.., conflicts_with_all = ["source_dir", "lock"])]
    pub files: Vec<PathBuf>,
    /// Rebuild the author's project in DIR with crpack's deterministic build and compare.
    #[arg(long = "source", value_name = "DIR", conflicts_with = "lock")]
    pub source_dir: Option<PathBuf>,
    /// The author's crpack.lock: its version ids select exactly which S3 versions to download.
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,
}

impl SourceArgs {
    /// The chosen source; `--from-s3` when none is given and `default_s3` is set.
    pub fn source(&self, default_s3: bool) -> Result<Source> {
        if !self.files.is_empty() {
            Ok(Source::Files(self.files.clone()))
        } else if let Some(d) = &self.source_dir {
            Ok(Source::Project(d.clone()))
        } else if let Some(l) = &self.lock {
            Ok(Source::Lock(l.clone()))
        } else if self.from_s3 || default_s3 {
            Ok(Source::S3 {
                save: self.save.clone(),
            })
        } else {
            Err(Error::Usage(
                "say where the bytes come from: --from-s3, --files PATH..., --source DIR or --lock FILE"
                    .into(),
            ))
        }
    }
}

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

impl TargetArgs {
    /// The target the flags name: a well-formed template ARN, seen through the membership or
    /// the collaboration.
    pub fn target(&self) -> Result<Target> {
        template_target(&self.template, self.via.via()?)
    }
}

/// A target from a template ARN given on the command line; a malformed ARN is a usage error.
pub fn template_target(template_arn: &str, via: Via) -> Result<Target> {
    crpack_core::validate::template_arn(template_arn).map_err(Error::Usage)?;
    Ok(Target {
        template_arn: template_arn.to_string(),
        via,
    })
}

/// Prints the review summary and the verdicts. Everything the template, S3 or the archives
/// supplied (names, description, keys, versions, messages) is escaped before it is printed, so
/// a bidirectional override or a terminal escape cannot disguise what a reviewer approves.
pub fn print_report(ctx: &Context, r: &VerifyReport) {
    let out = &ctx.out;
    let t = &r.template;
    out.line(format!("template    {}", out.strong(&escape(&t.name))));
    out.line(format!("arn         {}", escape(&t.arn)));
    if let Some(d) = &t.description {
        out.line(format!("description {}", escape(d)));
    }
    out.line(format!("creator     account {}", escape(&t.creator_account_id)));
    let format = if t.format == "PYSPARK_1_0" {
        t.format.clone()
    } else {
        out.bad(&escape(&t.format))
    };
    out.line(format!("format      {format}"));
    let tables: Vec<_> = t.referenced_tables.iter().map(|n| escape(n)).collect();
    out.line(format!("tables      {}", tables.join(", ")));
    if t.parameters.is_empty() {
        out.line("parameters  (none)");
    }
    for (i, p) in t.parameters.iter().enumerate() {
        out.line(format!(
            "{}{} ({}{})",
            if i == 0 { "parameters  " } else { "            " },
            escape(&p.name),
            escape(&p.kind),
            p.default
                .as_ref()
                // Debug quoting escapes control and format characters too (as `\u{202e}`).
                .map(|d| format!(", default {d:?}"))
                .unwrap_or_default()
        ));
    }
    let errors = if t.error_messages == "DETAILED" {
        out.caution("DETAILED (may expose data to the result receiver)")
    } else {
        escape(&t.error_messages).into_owned()
    };
    out.line(format!("errors      {errors}"));
    out.line(format!(
        "role        {}",
        t.role_arn.as_deref().map_or("(not shown)".into(), escape)
    ));
    out.line(String::new());
    out.line(format!("verdicts (source: {})", r.source));
    for c in &r.checks {
        let v = match c.verdict {
            Verdict::Match => out.good("match      "),
            other => out.bad(&format!("{:<10} ", other.as_str().to_uppercase())),
        };
        out.line(format!("  {v}{:<12} {}", c.role.as_str(), escape(&c.location)));
        out.line(format!(
            "            expected {}",
            c.expected_sha256
                .as_deref()
                .map_or("(none recorded)".into(), escape)
        ));
        if let Some(a) = &c.actual_sha256 {
            out.line(format!(
                "            actual   {a}{}",
                c.checked
                    .as_ref()
                    .map(|p| format!("  ({})", escape(p)))
                    .unwrap_or_default()
            ));
        }
        if let Some(v) = &c.matching_version_id {
            out.line(format!(
                "            version {} holds the recorded bytes",
                escape(v)
            ));
        }
        if let Some(d) = &c.detail {
            out.line(format!("            {}", escape(d)));
        }
        if let Some(e) = &c.explanation {
            for l in explain::render(e) {
                out.line(format!("            {l}"));
            }
        }
    }
    for p in &r.problems {
        out.line(format!("  {} {}", out.bad("problem"), escape(p)));
    }
    for w in &r.warnings {
        out.warn(w);
    }
    out.line(String::new());
    match r.outcome {
        Outcome::Verified => {
            out.line(out.good("verified: every artifact matches the hashes the template records"))
        }
        Outcome::Failed => {
            out.line(out.bad(&format!("verification FAILED: {} problem(s)", r.failures().len())))
        }
        Outcome::Unchecked => out.line(out.caution(&format!(
            "could not verify: {} artifact(s) could not be read (nothing is known to differ); fix the access \
             and run again, or verify from another source",
            r.checks.iter().filter(|c| c.verdict == Verdict::Unreadable).count()
        ))),
    }
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
                "policy": p,
            })),
            None => ctx.out.json(&report),
        }
    } else {
        print_report(ctx, &report);
        for v in policy.iter().flat_map(|p| &p.violations) {
            ctx.out.line(format!("{} {}", ctx.out.bad("policy"), escape(v)));
        }
    }
    Ok(exit_code(&report, violations))
}

/// 0 verified, 1 when something is wrong for certain (differing bytes, a gone object or
/// version, a template problem, a policy violation), 3 when the check could not be made.
pub fn exit_code(report: &VerifyReport, policy_violations: usize) -> ExitCode {
    match report.outcome {
        Outcome::Verified if policy_violations == 0 => ExitCode::Success,
        Outcome::Unchecked if policy_violations == 0 => ExitCode::Error,
        _ => ExitCode::VerificationFailed,
    }
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
