//! `crpack demo`: the whole author path on the embedded sandbox, no AWS account needed.
//! Starts the sandbox with the seeded world, scaffolds a project, publishes it as the author,
//! and shows what the service recorded next to the local hashes.

use std::path::PathBuf;

use serde::Serialize;

use crate::cli::Context;
use crate::error::{CommandError, Error, Result};
use crate::output::{Output, table};
use crpack_core::artifact::Role;
use crpack_core::aws::{self, Aws};
use crpack_core::error::{ExitCode, IoContext};
use crpack_core::jobs::JobReport;
use crpack_core::manifest::Project;
use crpack_core::publish::template::RecordedHashes;
use crpack_core::publish::{self, PublishOptions};
use crpack_core::report::Verdict;
use crpack_core::verify::rules::{self, Change};
use crpack_core::verify::{self, Source, Target, Via};
use crpack_sandbox::seed::{SeedInfo, SeededIdentity};
use crpack_sandbox::{self as sandbox, Sandbox, SandboxOptions};

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Scaffold the demo project here (default: a temporary directory, removed afterwards).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Run the demo's jobs on a real local PySpark, provisioning one first when there is none (a
    /// large download, once). Without it, jobs run for real only when a runtime is already there.
    #[arg(long)]
    pub real_jobs: bool,
}

/// Clients acting as one of the seeded identities.
pub async fn clients_for(seed: &SeedInfo, who: &SeededIdentity) -> Aws {
    Aws::from_config(
        aws::static_config(
            &seed.endpoint,
            &seed.region,
            &who.access_key_id,
            &who.secret_access_key,
        )
        .await,
    )
}

/// Appends the seeded `[publish]` section to a scaffolded project's crpack.toml.
pub fn configure_publish(dir: &std::path::Path, seed: &SeedInfo, prefix: &str) -> Result<()> {
    let path = dir.join("crpack.toml");
    let mut text = std::fs::read_to_string(&path).with_path(&path)?;
    text.push_str(&format!(
        "\n[publish]\nbucket = \"{}\"\nprefix = \"{prefix}\"\nrole_arn = \"{}\"\nmembership_id = \"{}\"\nregion = \"{}\"\n",
        seed.bucket, seed.role_arn, seed.author.membership_id, seed.region
    ));
    crpack_core::fsutil::write_atomic(&path, text.as_bytes()).with_path(&path)?;
    Ok(())
}

/// What the demo established, for `--json`: one document once it is over.
#[derive(Debug, Default, Serialize)]
struct DemoSummary {
    ok: bool,
    endpoint: String,
    collaboration_id: String,
    project: String,
    /// The first release's template.
    template_arn: String,
    /// The hashes Clean Rooms recorded equal the local build's.
    recorded_hashes_match: bool,
    /// Publishing again uploaded and created nothing.
    republish_up_to_date: bool,
    /// The provider verified the shared files and approved on these tables.
    verified: bool,
    approved_tables: Vec<String>,
    /// Verifying from S3 after the author overwrote the entry point failed, as it must.
    tamper_caught: bool,
    /// The job on the template whose pinned version was deleted (it must fail).
    tampered_job: Option<JobReport>,
    /// The fixed release's template and job (it must succeed).
    release_template_arn: Option<String>,
    release_job: Option<JobReport>,
    /// The release job was simulated (no local PySpark runtime): no results were computed.
    simulated: bool,
}

fn step(out: &Output, n: u32, text: &str) {
    out.line(String::new());
    out.line(out.strong(&format!("{n}. {text}")));
}

pub fn run(ctx: &Context, args: &DemoArgs) -> Result<ExitCode> {
    let rt = ctx.runtime()?;
    rt.block_on(demo(ctx, args))
}

async fn demo(ctx: &Context, args: &DemoArgs) -> Result<ExitCode> {
    let out = &ctx.out;
    let chosen = std::env::var_os(crpack_runner::PYTHON_ENV).is_some_and(|v| !v.is_empty());
    if args.real_jobs && !chosen && crpack_runner::runtime_info().is_err() {
        crpack_runner::provision::ensure(&mut |line| out.info(line)).map_err(CommandError::Provision)?;
    }
    let temp = tempfile::Builder::new()
        .prefix("crpack-demo-")
        .tempdir()
        .with_path(std::env::temp_dir())?;
    let project_dir = args
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().join("audience-overlap"));

    step(
        out,
        1,
        "start the sandbox (local S3 + Clean Rooms) and seed a SPARK collaboration",
    );
    let sb = Sandbox::start(SandboxOptions {
        listen: "127.0.0.1:0".parse().expect("static address"),
        data_dir: Some(temp.path().join("sandbox")),
    })
    .await
    .map_err(CommandError::DemoSandbox)?;
    let seed = sandbox::seed::seed(&sb.endpoint())
        .await
        .map_err(CommandError::SandboxSeed)?;
    out.line(format!("endpoint        {}", seed.endpoint));
    out.line(format!("collaboration   {}", seed.collaboration_id));
    out.line(format!(
        "author          account {}  membership {}",
        seed.author.identity.account_id, seed.author.membership_id
    ));
    out.line(format!(
        "provider        account {}  membership {}",
        seed.provider.identity.account_id, seed.provider.membership_id
    ));
    out.line(format!("artifact bucket {} (versioning Enabled)", seed.bucket));
    let mut summary = DemoSummary {
        endpoint: seed.endpoint.clone(),
        collaboration_id: seed.collaboration_id.clone(),
        project: project_dir.display().to_string(),
        ..DemoSummary::default()
    };

    step(out, 2, "scaffold a template project (crpack init) and check it");
    let name = "audience-overlap";
    crate::scaffold::scaffold(&project_dir, name)?;
    configure_publish(&project_dir, &seed, &format!("templates/{name}"))?;
    out.line(format!("project         {}", project_dir.display()));
    let project = Project::discover(&project_dir)?;
    let check = crpack_core::check::check_project(&project)?;
    out.line(format!(
        "check           {} error(s), {} warning(s)",
        check.errors, check.warnings
    ));

    step(
        out,
        3,
        "publish as the author: build, upload (single PUT, SHA-256 checked by S3), register",
    );
    let author = clients_for(&seed, &seed.author.identity).await;
    let quiet = Output::silent();
    let report = publish::publish(&project, Some(&author), &PublishOptions::default(), &quiet).await?;
    let lock = report.lock.as_ref().ok_or(CommandError::PublishWroteNoLock)?;
    let mut rows = vec![vec![
        "ROLE".into(),
        "S3 OBJECT".into(),
        "VERSION".into(),
        "SIZE".into(),
    ]];
    for a in &lock.artifacts {
        rows.push(vec![
            a.role.to_string(),
            format!("s3://{}/{}", a.bucket, a.key),
            a.version_id.clone(),
            format!("{} B", a.size),
        ]);
    }
    table(&rows).into_iter().for_each(|l| out.line(l));
    out.line(format!("template        {}", lock.template.arn));
    summary.template_arn = lock.template.arn.clone();

    step(
        out,
        4,
        "what Clean Rooms recorded (sourceMetadata) next to the local hashes",
    );
    let t = author
        .cleanrooms
        .get_analysis_template()
        .membership_identifier(&lock.template.membership_id)
        .analysis_template_identifier(&lock.template.id)
        .send()
        .await
        .map_err(|e| aws::describe("GetAnalysisTemplate", &e))?;
    let recorded = RecordedHashes::from_metadata(t.analysis_template().and_then(|t| t.source_metadata()));
    let mut rows = vec![vec![
        "ROLE".into(),
        "LOCAL SHA256".into(),
        "RECORDED".into(),
        "".into(),
    ]];
    let mut all = true;
    for a in &lock.artifacts {
        let rec = recorded.for_role(a.role).unwrap_or("");
        let same = crpack_core::digest::Sha256Digest::parse(rec).ok() == Some(a.sha256);
        all &= same;
        rows.push(vec![
            a.role.to_string(),
            a.sha256.to_hex(),
            rec.to_string(),
            if same {
                out.good("match")
            } else {
                out.bad("MISMATCH")
            },
        ]);
    }
    table(&rows).into_iter().for_each(|l| out.line(l));
    summary.recorded_hashes_match = all;

    step(
        out,
        5,
        "publish again: nothing changed, so nothing is uploaded or created",
    );
    let again = publish::publish(&project, Some(&author), &PublishOptions::default(), &quiet).await?;
    out.line(format!(
        "up to date: {}; uploads: {}",
        again.up_to_date,
        again
            .uploads
            .iter()
            .map(|u| format!("{} {}", u.file_name, u.action))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    summary.republish_up_to_date = again.up_to_date;

    if !all {
        sb.stop().await;
        return Err(Error::verification_failed(
            "the recorded hashes differ from the local build",
        ));
    }

    let stage = Stage {
        out,
        seed: &seed,
        project: &project,
        lock,
    };
    let reviewer_ok = reviewer(&stage, &mut summary).await?;
    let jobs_ok = reviewer_ok && jobs_part(&stage, &mut summary).await?;
    sb.stop().await;
    out.line(String::new());
    if jobs_ok {
        summary.ok = true;
        out.json(&summary);
        out.line(out.good(
            "demo complete: the service's hashes equal the local build, the reviewer verified and approved, \
             the tampered artifact was caught, and the approved release ran",
        ));
        Ok(ExitCode::Success)
    } else {
        Err(Error::verification_failed(
            "the reviewer's half of the demo did not go as expected",
        ))
    }
}

/// What the demo's later parts work on: the output, the seeded world, the project and the
/// first release's lock.
struct Stage<'a> {
    out: &'a Output,
    seed: &'a SeedInfo,
    project: &'a Project,
    lock: &'a crpack_core::lock::Lock,
}

async fn reviewer(stage: &Stage<'_>, summary: &mut DemoSummary) -> Result<bool> {
    let (out, seed, project, lock) = (stage.out, stage.seed, stage.project, stage.lock);
    let provider = clients_for(seed, &seed.provider.identity).await;
    let target = Target {
        template_arn: lock.template.arn.clone(),
        via: Via::Membership(seed.provider.membership_id.clone()),
    };
    let dist = project.root.join("dist");
    let shared: Vec<PathBuf> = lock.artifacts.iter().map(|a| dist.join(&a.file_name)).collect();

    step(
        out,
        6,
        "as the data provider: verify the files the author shared (crpack verify --files)",
    );
    let report = verify::verify(&provider, &target, &Source::Files(shared)).await?;
    for c in &report.checks {
        out.line(format!(
            "{:<12} {:<10} {}",
            c.role.as_str(),
            verdict(out, c.verdict),
            c.actual_sha256.as_deref().unwrap_or("")
        ));
    }

    step(
        out,
        7,
        "approve: verified, so add the template ARN to each CUSTOM rule's allowedAnalyses",
    );
    let approved = if report.ok {
        let tables = approve(
            &provider,
            seed,
            &lock.template.arn,
            &report.template.referenced_tables,
        )
        .await?;
        for t in &tables {
            out.line(format!(
                "table {:<12} {} (allowedAnalyses: {} entr{})",
                t.table,
                t.action,
                t.allowed_analyses.len(),
                if t.allowed_analyses.len() == 1 { "y" } else { "ies" }
            ));
        }
        summary.approved_tables = tables
            .iter()
            .filter(|t| t.action == "added")
            .map(|t| t.table.clone())
            .collect();
        tables.iter().all(|t| t.action == "added")
    } else {
        false
    };
    summary.verified = report.ok;

    step(
        out,
        8,
        "tamper: the author uploads a changed entry point as a new version under the same key",
    );
    let author = clients_for(seed, &seed.author.identity).await;
    crpack_core::publish::share::grant_read(&author, &seed.bucket, &seed.provider.identity.account_id)
        .await?;
    let ep = lock
        .artifact(Role::EntryPoint)
        .ok_or(CommandError::LockHasNoEntryPoint)?;
    let ep_path = dist.join(&ep.file_name);
    let mut tampered = std::fs::read(&ep_path).map_err(|e| Error::io(&ep_path, e))?;
    tampered.extend_from_slice(b"\nimport socket  # exfiltrate\n");
    let put = author
        .s3
        .put_object()
        .bucket(&ep.bucket)
        .key(&ep.key)
        .body(aws_sdk_s3::primitives::ByteStream::from(tampered))
        .send()
        .await
        .map_err(|e| aws::describe("PutObject (tamper)", &e))?;
    out.line(format!(
        "new version {} of s3://{}/{}",
        put.version_id().unwrap_or("?"),
        ep.bucket,
        ep.key
    ));

    step(
        out,
        9,
        "the reviewer verifies from S3 (crpack verify --from-s3): the change is caught",
    );
    let caught = verify::verify(&provider, &target, &Source::S3 { save: None }).await?;
    for c in &caught.checks {
        out.line(format!(
            "{:<12} {:<10} {}",
            c.role.as_str(),
            verdict(out, c.verdict),
            c.location
        ));
        if let Some(d) = &c.detail {
            out.line(format!("             {d}"));
        }
    }
    out.line(format!(
        "verification {} (crpack verify exits 1): approve would refuse and change no rule",
        if caught.ok { "passed" } else { "FAILED" }
    ));
    summary.tamper_caught = !caught.ok;
    Ok(report.ok && approved && !caught.ok)
}

/// The provider approves `arn` on `tables` (its rules' receivers left as they are).
async fn approve(
    provider: &Aws,
    seed: &SeedInfo,
    arn: &str,
    tables: &[String],
) -> Result<Vec<rules::TableOutcome>> {
    let membership = &seed.provider.membership_id;
    Ok(rules::apply(provider, membership, arn, tables, false, Change::Approve, &[]).await?)
}

fn verdict(out: &Output, v: Verdict) -> String {
    match v {
        Verdict::Match => out.good("match"),
        other => out.bad(&other.as_str().to_uppercase()),
    }
}

/// Runs a job and waits for it (the demo's own quiet watcher).
async fn run_and_wait(aws: &Aws, membership: &str, arn: &str) -> Result<crpack_core::jobs::JobReport> {
    let id = crpack_core::jobs::start(aws, membership, arn, Default::default()).await?;
    let mut attempt = 0;
    loop {
        let j = crpack_core::jobs::get(aws, membership, &id).await?;
        if j.is_terminal() {
            return Ok(j);
        }
        tokio::time::sleep(crpack_core::jobs::poll_interval(attempt)).await;
        attempt += 1;
    }
}

/// The jobs: the tampered template's job fails, a fixed release is verified, approved and run.
async fn jobs_part(stage: &Stage<'_>, summary: &mut DemoSummary) -> Result<bool> {
    let (out, seed, project, lock) = (stage.out, stage.seed, stage.project, stage.lock);
    let author = clients_for(seed, &seed.author.identity).await;
    let provider = clients_for(seed, &seed.provider.identity).await;

    step(
        out,
        10,
        "tamper with the pinned bytes: the author deletes the version the template pinned",
    );
    let ep = lock
        .artifact(Role::EntryPoint)
        .ok_or(CommandError::LockHasNoEntryPoint)?;
    author
        .s3
        .delete_object()
        .bucket(&ep.bucket)
        .key(&ep.key)
        .version_id(&ep.version_id)
        .send()
        .await
        .map_err(|e| aws::describe("DeleteObject (tamper)", &e))?;
    out.line(format!(
        "deleted version {} of s3://{}/{}",
        ep.version_id, ep.bucket, ep.key
    ));
    let failed = run_and_wait(&author, &seed.author.membership_id, &lock.template.arn).await?;
    out.line(format!(
        "job {} on the tampered template: {} — {}: {}",
        failed.id,
        if failed.status == "FAILED" {
            out.bad("FAILED")
        } else {
            failed.status.clone()
        },
        failed.error_code.as_deref().unwrap_or(""),
        failed.error_message.as_deref().unwrap_or("")
    ));

    step(
        out,
        11,
        "a fixed release: publish under a new prefix, verify and approve it, run a job",
    );
    let path = project.manifest_path.clone();
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let text = text.replace(
        "prefix = \"templates/audience-overlap\"",
        "prefix = \"templates/audience-overlap-fixed\"",
    );
    crpack_core::fsutil::write_atomic(&path, text.as_bytes()).map_err(|e| Error::io(&path, e))?;
    let project = Project::discover(&project.root)?;
    let release = publish::publish(
        &project,
        Some(&author),
        &PublishOptions::default(),
        &Output::silent(),
    )
    .await?;
    let fixed = release.lock.ok_or(CommandError::PublishWroteNoLock)?;
    out.line(format!("template  {}", fixed.template.arn));
    summary.release_template_arn = Some(fixed.template.arn.clone());
    let dist = project.root.join("dist");
    let shared: Vec<PathBuf> = fixed.artifacts.iter().map(|a| dist.join(&a.file_name)).collect();
    let target = Target {
        template_arn: fixed.template.arn.clone(),
        via: Via::Membership(seed.provider.membership_id.clone()),
    };
    let report = verify::verify(&provider, &target, &Source::Files(shared)).await?;
    out.line(format!(
        "verified  {}",
        if report.ok {
            out.good("match")
        } else {
            out.bad("MISMATCH")
        }
    ));
    if !report.ok {
        return Ok(false);
    }
    approve(
        &provider,
        seed,
        &fixed.template.arn,
        &report.template.referenced_tables,
    )
    .await?;
    out.line("approved  on orders and customers");
    let job = run_and_wait(&author, &seed.author.membership_id, &fixed.template.arn).await?;
    crate::render::print_job(out, &job);
    // The results, as the result receiver sees them in its bucket.
    let prefix = format!("{}/{}/", seed.results_key_prefix, job.id);
    let listed = author
        .s3
        .list_objects_v2()
        .bucket(&seed.results_bucket)
        .prefix(&prefix)
        .send()
        .await
        .map_err(|e| aws::describe("ListObjectsV2 (results)", &e))?;
    for o in listed.contents() {
        let key = o.key().unwrap_or("");
        out.line(format!(
            "  s3://{}/{key}  {} B",
            seed.results_bucket,
            o.size().unwrap_or(0)
        ));
        if key.ends_with(crpack_core::jobs::results::SIMULATED_MARKER) {
            summary.simulated = true;
            let body = author
                .s3
                .get_object()
                .bucket(&seed.results_bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| aws::describe("GetObject (results)", &e))?;
            let text = body
                .body
                .collect()
                .await
                .map(|b| b.into_bytes())
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&text);
            out.line(format!("  {}", text.lines().next().unwrap_or("").trim()));
            out.line("  (run `crpack demo --real-jobs` to provision a local PySpark once and run jobs for real, or set CRPACK_PYTHON to a python3 with pyspark 3.5.x)");
        }
    }
    let ok = failed.status == "FAILED" && job.status == "SUCCESS";
    summary.tampered_job = Some(failed);
    summary.release_job = Some(job);
    Ok(ok)
}
