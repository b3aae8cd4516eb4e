//! `crpack doctor`: one line per precondition of publishing and running a PySpark template,
//! each failing one with its fix. Exit 0 when all pass, 1 when any fails.

use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_cleanrooms::types::{
    AnalysisMethod, AnalyticsEngine, MemberAbility, MembershipStatus, SelectedAnalysisMethod,
};
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::types::BucketVersioningStatus;
use serde::Serialize;

use crate::cli::{AwsArgs, Context};
use crate::error::Result;
use crate::output::{escape, escape_text};
use crpack_core::aws::{self, Aws};
use crpack_core::error::ExitCode;
use crpack_core::jobs::arn_account;
use crpack_core::manifest::Project;
use crpack_core::validate;

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// The membership to check (default: [publish] membership_id in crpack.toml).
    #[arg(long, value_name = "ID")]
    pub membership: Option<String>,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// One check's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    /// Passed, but something needs doing before it all works (`ok` stays true: a warning does
    /// not fail `doctor`).
    pub warning: bool,
    pub detail: String,
    /// How to fix it (failed checks and warnings).
    pub fix: Option<String>,
}

fn pass(name: &str, detail: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        ok: true,
        warning: false,
        detail: detail.into(),
        fix: None,
    }
}

fn fail(name: &str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        ok: false,
        warning: false,
        detail: detail.into(),
        fix: Some(fix.into()),
    }
}

fn warn(name: &str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        ok: true,
        warning: true,
        detail: detail.into(),
        fix: Some(fix.into()),
    }
}

/// The fix for a failed call: `when_refused` when the service answered and refused (a client
/// error: the resource, the name or the permission is wrong); otherwise there was no usable
/// answer (network, endpoint, throttling, an unparsable response) and the message says why.
fn remote_fix<E>(err: &SdkError<E, HttpResponse>, when_refused: &str) -> String {
    match (err, aws::status(err)) {
        (SdkError::ServiceError(_), Some(s)) if (400..500).contains(&s) && s != 429 => {
            when_refused.to_string()
        }
        _ => "fix what the message names (the endpoint, the network, or wait out throttling), then run \
              crpack doctor again"
            .to_string(),
    }
}

/// Runs every check that the available information allows.
pub async fn diagnose(aws: &Aws, project: Option<&Project>, membership: Option<&str>) -> Vec<Check> {
    let mut checks = Vec::new();
    let publish = project.and_then(|p| p.publish.as_ref());

    // Credentials.
    let provider = aws.config.credentials_provider();
    let creds = match provider {
        Some(p) => p.provide_credentials().await.map_err(|e| e.to_string()),
        None => Err("no credentials provider is configured".to_string()),
    };
    let mut account = None;
    match &creds {
        Ok(c) => {
            let key = c.access_key_id();
            let shown = if key.len() > 8 { format!("…{}", &key[key.len() - 8..]) } else { key.to_string() };
            checks.push(pass("credentials", format!("resolved (access key {shown}, region {})", aws.region())));
        }
        Err(e) => checks.push(fail(
            "credentials",
            e.clone(),
            "configure credentials: `aws configure`, `aws sso login`, --profile, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
        )),
    }

    // The role ARN's shape.
    if let Some(p) = publish {
        match validate::role_arn(&p.role_arn) {
            Ok(()) => checks.push(pass("role ARN", p.role_arn.clone())),
            Err(e) => checks.push(fail("role ARN", e, "fix [publish] role_arn in crpack.toml")),
        }
    }

    // The artifact bucket.
    if let Some(p) = publish {
        let name = "artifact bucket";
        match aws.s3.get_bucket_versioning().bucket(&p.bucket).send().await {
            Ok(v) if v.status() == Some(&BucketVersioningStatus::Enabled) => {
                checks.push(pass(name, format!("{}: versioning Enabled", p.bucket)))
            }
            Ok(v) => checks.push(fail(
                name,
                format!(
                    "{}: versioning is {}",
                    p.bucket,
                    v.status().map(|s| s.as_str()).unwrap_or("not enabled")
                ),
                format!(
                    "aws s3api put-bucket-versioning --bucket {} --versioning-configuration Status=Enabled",
                    p.bucket
                ),
            )),
            Err(e) => checks.push(fail(
                name,
                aws::describe(&format!("GetBucketVersioning {}", p.bucket), &e).to_string(),
                match aws::status(&e) {
                    Some(404) => format!(
                        "create the bucket with versioning on (aws s3api create-bucket --bucket {0}, then \
                         aws s3api put-bucket-versioning --bucket {0} --versioning-configuration Status=Enabled), \
                         or fix [publish] bucket",
                        p.bucket
                    ),
                    Some(403) => format!(
                        "these credentials may not read bucket {}: run doctor with the author's credentials \
                         (the account that publishes), or grant s3:GetBucketVersioning on it",
                        p.bucket
                    ),
                    _ => remote_fix(&e, "fix [publish] bucket"),
                },
            )),
        }
    }

    // The membership, its collaboration and abilities.
    let Some(membership) = membership else {
        checks.push(fail(
            "membership",
            "no membership to check",
            "pass --membership ID or set [publish] membership_id in crpack.toml",
        ));
        return checks;
    };
    let found = aws
        .cleanrooms
        .get_membership()
        .membership_identifier(membership)
        .send()
        .await;
    let m = match found.map(|o| o.membership) {
        Ok(Some(m)) => m,
        Ok(None) => {
            checks.push(fail(
                "membership",
                format!("GetMembership {membership}: empty response"),
                "check that the endpoint is the Clean Rooms service (AWS_ENDPOINT_URL)",
            ));
            return checks;
        }
        Err(e) => {
            checks.push(fail(
                "membership",
                aws::describe(&format!("GetMembership {membership}"), &e).to_string(),
                remote_fix(
                    &e,
                    "check the membership id and that these credentials belong to its account",
                ),
            ));
            return checks;
        }
    };
    account = account.or_else(|| arn_account(m.arn()).map(str::to_string));
    if let (Some(a), Ok(_)) = (&account, &creds) {
        checks[0].detail.push_str(&format!(", account {a}"));
    }
    if *m.status() == MembershipStatus::Active {
        checks.push(pass("membership", format!("{membership}: ACTIVE")));
    } else {
        checks.push(fail(
            "membership",
            format!("{membership}: {}", m.status().as_str()),
            "only an ACTIVE membership can create templates and run jobs",
        ));
    }
    let abilities = m.member_abilities();
    for (ability, what) in [
        (MemberAbility::CanRunJob, "to run PySpark jobs"),
        (
            MemberAbility::CanReceiveResults,
            "to create PySpark templates (the creator must receive results)",
        ),
    ] {
        let name = format!("ability {}", ability.as_str());
        if abilities.contains(&ability) {
            checks.push(pass(&name, format!("needed {what}")));
        } else {
            checks.push(fail(
                &name,
                format!("missing: needed {what}"),
                "ask the collaboration creator to grant it (member abilities are set when the collaboration is created)",
            ));
        }
    }
    let collab_id = m.collaboration_id().to_string();
    match aws
        .cleanrooms
        .get_collaboration()
        .collaboration_identifier(&collab_id)
        .send()
        .await
    {
        Ok(c) => {
            let engine = c.collaboration().and_then(|c| c.analytics_engine());
            if engine == Some(&AnalyticsEngine::Spark) {
                checks.push(pass(
                    "analytics engine",
                    format!("collaboration {collab_id}: SPARK"),
                ));
            } else {
                checks.push(fail(
                    "analytics engine",
                    format!(
                        "collaboration {collab_id}: {}",
                        engine.map(|e| e.as_str()).unwrap_or("CLEAN_ROOMS_SQL (default)")
                    ),
                    "PySpark templates need a collaboration created with analyticsEngine SPARK",
                ));
            }
        }
        Err(e) => checks.push(fail(
            "analytics engine",
            aws::describe(&format!("GetCollaboration {collab_id}"), &e).to_string(),
            remote_fix(&e, "check access to the collaboration"),
        )),
    }

    // Referenced tables.
    if let Some(p) = project {
        for table in &p.template.referenced_tables {
            let name = format!("table {table}");
            let schema = aws
                .cleanrooms
                .get_schema()
                .collaboration_identifier(&collab_id)
                .name(table)
                .send()
                .await;
            let s = match schema {
                Ok(o) => match o.schema {
                    Some(s) => s,
                    None => continue,
                },
                // Clean Rooms accepts templates naming tables to be associated later, so this
                // does not block publishing; a job cannot read the table until it is associated.
                Err(e) if aws::status(&e) == Some(404) => {
                    checks.push(warn(
                        &name,
                        format!(
                            "not associated with collaboration {collab_id} yet: templates may name it, \
                             but a job cannot read it until it is"
                        ),
                        format!(
                            "the table's owner must associate its configured table with the collaboration \
                             under the name {table} (CreateConfiguredTableAssociation), or fix referenced_tables \
                             in crpack.toml"
                        ),
                    ));
                    continue;
                }
                Err(e) => {
                    checks.push(fail(
                        &name,
                        aws::describe(&format!("GetSchema {table}"), &e).to_string(),
                        remote_fix(
                            &e,
                            "check the table name in referenced_tables and access to the collaboration",
                        ),
                    ));
                    continue;
                }
            };
            let direct_job = match s.analysis_method() {
                Some(AnalysisMethod::DirectJob) => true,
                Some(AnalysisMethod::Multiple) => s
                    .selected_analysis_methods()
                    .contains(&SelectedAnalysisMethod::DirectJob),
                _ => false,
            };
            let reasons: Vec<String> = s
                .schema_status_details()
                .iter()
                .flat_map(|d| {
                    d.reasons()
                        .iter()
                        .map(|r| format!("{}: {}", escape(r.code().as_str()), escape(r.message())))
                })
                .collect();
            let ready = s
                .schema_status_details()
                .iter()
                .any(|d| d.status().as_str() == "READY");
            let method = s.analysis_method().map(|m| m.as_str()).unwrap_or("none");
            if !direct_job {
                checks.push(fail(
                    &name,
                    format!("analysisMethod {method}"),
                    "the owner must set the configured table's analysisMethod to DIRECT_JOB (or MULTIPLE with DIRECT_JOB)",
                ));
            } else if !ready && !reasons.is_empty() {
                checks.push(fail(
                    &name,
                    format!("analysisMethod {method}; not ready: {}", reasons.join("; ")),
                    "the owner must allow analysis templates on the table (CUSTOM analysis rule) — crpack approve does it",
                ));
            } else {
                checks.push(pass(
                    &name,
                    format!("analysisMethod {method}, owner {}", s.creator_account_id()),
                ));
            }
        }
    }
    checks
}

pub fn run(ctx: &Context, args: &DoctorArgs) -> Result<ExitCode> {
    let mut pre = Vec::new();
    let project = match Project::discover(&ctx.project_dir()) {
        Ok(p) => Some(p),
        Err(crpack_core::manifest::ProjectError::NotFound { .. }) => None,
        Err(e) => {
            pre.push(fail(
                "crpack.toml",
                e.to_string(),
                "fix crpack.toml (see the README's project file section)",
            ));
            None
        }
    };
    let membership = args.membership.clone().or_else(|| {
        project
            .as_ref()
            .and_then(|p| p.publish.as_ref())
            .map(|p| p.membership_id.clone())
    });
    let region = project
        .as_ref()
        .and_then(|p| p.publish.as_ref())
        .and_then(|p| p.region.clone());
    let rt = ctx.runtime()?;
    let checks = rt.block_on(async {
        let aws = Aws::load(&args.aws.options(), region.as_deref()).await?;
        let mut all = pre;
        all.extend(diagnose(&aws, project.as_ref(), membership.as_deref()).await);
        Ok::<_, crpack_core::error::Error>(all)
    })?;
    let mut checks = checks;
    checks.push(local_runtime());
    let ok = checks.iter().all(|c| c.ok);
    if ctx.out.json {
        ctx.out.json(&serde_json::json!({"ok": ok, "checks": checks}));
    } else {
        for c in &checks {
            let mark = if !c.ok {
                ctx.out.bad("FAIL")
            } else if c.warning {
                ctx.out.caution("warn")
            } else {
                ctx.out.good("ok  ")
            };
            // Details quote service responses and names: escaped, their own line breaks kept
            // (a crpack.toml syntax error spans lines).
            ctx.out.line(format!(
                "{mark} {:<24} {}",
                escape(&c.name),
                escape_text(&c.detail)
            ));
            if let Some(f) = &c.fix {
                ctx.out.line(format!("     {:<24} fix: {}", "", escape_text(f)));
            }
        }
    }
    Ok(if ok {
        ExitCode::Success
    } else {
        ExitCode::VerificationFailed
    })
}

/// The local PySpark `run --local` and sandbox jobs use: `CRPACK_PYTHON`'s, the provisioned
/// one, or `python3`'s. Missing is a warning: nothing but local runs needs it, and the first
/// `run --local` provisions it.
fn local_runtime() -> Check {
    const NAME: &str = "local runtime";
    let chosen = std::env::var_os(crpack_runner::PYTHON_ENV).is_some_and(|v| !v.is_empty());
    let provisioned = crpack_runner::provision::cached();
    match crpack_runner::runtime_info() {
        Ok(info) => {
            let from = match (&provisioned, chosen) {
                (_, true) => "CRPACK_PYTHON".to_string(),
                (Some(r), false) => format!("provisioned in {}", r.root.display()),
                (None, false) => "python3".to_string(),
            };
            pass(
                NAME,
                format!(
                    "pyspark {} on Python {} with {} ({from})",
                    info.pyspark_version, info.python_version, info.java
                ),
            )
        }
        Err(e) if chosen => warn(
            NAME,
            e.to_string(),
            "point CRPACK_PYTHON at an interpreter with pyspark 3.5.x, or unset it to let crpack provision one",
        ),
        Err(_) => warn(
            NAME,
            "no local PySpark yet",
            format!(
                "the first `crpack run --local` provisions pyspark {} under {}; or set CRPACK_PYTHON",
                crpack_runner::provision::PYSPARK_VERSION,
                crpack_runner::provision::cache_root()
                    .map(|d| d.display().to_string())
                    .unwrap_or_else(|| "the cache directory".into())
            ),
        ),
    }
}
