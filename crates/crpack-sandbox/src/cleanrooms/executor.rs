//! The protected job executor: one background tokio task per job, started by
//! `StartProtectedJob`.
//!
//! # Lifecycle
//!
//! `SUBMITTED` → (a short delay, [`DELAY_ENV`]) → `STARTED` → `SUCCESS` | `FAILED`. Cancelling
//! (`UpdateProtectedJob`) moves a `SUBMITTED`/`STARTED` job to `CANCELLING`; the task notices at
//! once (it waits on a per-job signal alongside every step), stops and sets `CANCELLED`. A run
//! handed to the local runner is killed (through the runner's cancel flag) and its output
//! discarded. Results already uploaded when the cancellation arrives stay where they are. Every status change is
//! persisted like any other mutation.
//!
//! The delay between `SUBMITTED` and `STARTED` is `$CRPACK_SANDBOX_JOB_DELAY_MS` milliseconds
//! (default 300), so that a job can be observed `SUBMITTED` and cancelled deterministically.
//!
//! A sandbox restarted on persisted state does not resume jobs: [`recover`] marks jobs found
//! `SUBMITTED` or `STARTED` `FAILED` with code `INTERNAL_ERROR`, and `CANCELLING` ones
//! `CANCELLED`. The task holds only a weak reference to the endpoint, so it ends once the
//! sandbox that started it is gone.
//!
//! # What a started job does, in order
//!
//! 1. **Analysis rules.** Each table of the template's `schema.referencedTables` is looked up in
//!    the collaboration's configured table associations by name, then its configured table. The
//!    table must allow direct jobs (`analysisMethod` `DIRECT_JOB`, or `MULTIPLE` with `DIRECT_JOB`
//!    selected) and have a `CUSTOM` analysis rule whose `allowedAnalyses` holds the template ARN
//!    (or `ANY_JOB` with the job's account in `allowedAnalysisProviders`).
//! 2. **Artifacts.** Each artifact version the template pinned when it was created is read
//!    through the S3 API as the account of `source.artifacts.roleArn` (as `CreateAnalysisTemplate`
//!    did) and must still exist and hash to the recorded SHA-256.
//! 3. **Table data** (Glue emulation): a configured table referencing the Glue table
//!    `databaseName.tableName` is read from `s3://crpack-sandbox-glue-<owner account>/<databaseName>/<tableName>.csv`
//!    (CSV with a header row) as the table owner's account. See [`glue_location`].
//! 4. **Run.** If [`crpack_runner::runtime_available`] fails, the run is *simulated*: the job
//!    succeeds, a `_SIMULATED` object whose body gives the reason is written to the result
//!    location, and the sandbox prints one line on stderr. Otherwise the entry point runs on the
//!    local runner with the downloaded artifacts, the tables' CSV files and the parameters (the
//!    template's defaults overridden by the job's; `None` when the template declares none).
//! 5. **Results.** Each result DataFrame's Parquet files are uploaded, as the account of the
//!    receiver's `defaultJobResultConfiguration.roleArn`, to
//!    `s3://<bucket>/<keyPrefix>/<jobId>/<resultName>/part-*.parquet` (the receiver's default job
//!    result location).
//!
//! # Error codes (`ProtectedJob.error.code`)
//!
//! | code | when |
//! |---|---|
//! | `ANALYSIS_TEMPLATE_NOT_ALLOWED` | a referenced table does not allow the template (no `CUSTOM` rule, the ARN not in `allowedAnalyses`, or no `DIRECT_JOB` analysis method); the message names the table |
//! | `RESOURCE_NOT_FOUND` | a referenced table is not associated with the collaboration (not yet: templates may name tables to be associated later; or no longer), or its configured table is gone; the message names the table and the fix |
//! | `ARTIFACT_VERIFICATION_FAILED` | a pinned artifact version is gone, unreadable, or no longer hashes to the recorded SHA-256; the message names `s3://bucket/key` and the version |
//! | `TABLE_DATA_NOT_FOUND` | a table's data object (see step 3) is missing or unreadable, or the table is not a Glue table |
//! | `SCRIPT_ERROR` | the runner reported a contract violation (message `<runner code>: <message>`) or the script raised (its message; the traceback too when the template's `errorMessageConfiguration` is `DETAILED`) |
//! | `RESULT_WRITE_FAILED` | the results could not be written to the receiver's bucket |
//! | `INTERNAL_ERROR` | anything else, including a job interrupted by a sandbox restart |
//!
//! # Statistics
//!
//! Terminal jobs (`SUCCESS`, `FAILED`, `CANCELLED`) get `statistics`: `totalDurationInMillis`
//! from `createTime` to completion, and `billedResourceUtilization.units` in CRPU-hours:
//! `workers × factor × max(duration, 1 minute) / 1 hour`, where `factor` is 1 for `CR.1X` and 4
//! for `CR.4X`, and a job without `computeConfiguration` counts as 16 `CR.1X` workers; rounded
//! to 6 decimals.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use super::Inner;
use super::artifacts::{describe, role_account, s3_as, status};
use super::state::{Doc, PinnedArtifact, State, s};
use crate::identity;
use crpack_runner::{self as runner, RunnerError};

/// The environment variable with the delay between `SUBMITTED` and `STARTED`, in milliseconds.
pub const DELAY_ENV: &str = "CRPACK_SANDBOX_JOB_DELAY_MS";
const DEFAULT_DELAY_MS: u64 = 300;

/// The worker count a job without `computeConfiguration` is billed for (`CR.1X`).
pub const DEFAULT_WORKERS: i64 = 16;

/// The statuses of a job that is still running (may be cancelled).
pub(crate) const ACTIVE_STATUSES: [&str; 2] = ["SUBMITTED", "STARTED"];

/// The stable `error.code` values (see the module documentation).
pub mod codes {
    pub const ANALYSIS_TEMPLATE_NOT_ALLOWED: &str = "ANALYSIS_TEMPLATE_NOT_ALLOWED";
    /// A referenced table is not associated with the collaboration, or its configured table is
    /// gone. One of the codes the API reference documents for `ProtectedJobError.code` ("a
    /// referenced resource doesn't exist"); see `check_tables`.
    pub const RESOURCE_NOT_FOUND: &str = "RESOURCE_NOT_FOUND";
    pub const ARTIFACT_VERIFICATION_FAILED: &str = "ARTIFACT_VERIFICATION_FAILED";
    pub const TABLE_DATA_NOT_FOUND: &str = "TABLE_DATA_NOT_FOUND";
    pub const SCRIPT_ERROR: &str = "SCRIPT_ERROR";
    pub const RESULT_WRITE_FAILED: &str = "RESULT_WRITE_FAILED";
    pub const INTERNAL_ERROR: &str = "INTERNAL_ERROR";
}

/// The name of the marker object a simulated run writes into the result location.
pub const SIMULATED_MARKER: &str = "_SIMULATED";

/// Where the sandbox reads the data of the Glue table `database.table` owned by `account`:
/// `(bucket, key)` = `(crpack-sandbox-glue-<account>, <database>/<table>.csv)`.
pub fn glue_location(account: &str, database: &str, table: &str) -> (String, String) {
    (
        format!("crpack-sandbox-glue-{account}"),
        format!("{database}/{table}.csv"),
    )
}

/// Member `key` of `doc` (`Null` when absent; indexing a `Map` directly panics instead).
fn at<'a>(doc: &'a Doc, key: &str) -> &'a Value {
    static NULL: Value = Value::Null;
    doc.get(key).unwrap_or(&NULL)
}

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// The running jobs' cancellation signals.
#[derive(Default)]
pub(crate) struct Registry(Mutex<HashMap<String, Arc<Notify>>>);

impl Registry {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Notify>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn register(&self, id: &str) -> Arc<Notify> {
        self.map().entry(id.to_string()).or_default().clone()
    }

    fn remove(&self, id: &str) {
        self.map().remove(id);
    }

    /// Tells job `id`'s task that it was cancelled (remembered if it is not waiting yet).
    pub(crate) fn cancel(&self, id: &str) {
        if let Some(n) = self.map().get(id) {
            n.notify_one();
        }
    }
}

/// Settles jobs a stopped sandbox left running; returns whether anything changed.
pub(crate) fn recover(state: &mut State) -> bool {
    let mut changed = false;
    for job in &mut state.jobs {
        let status = s(&job.doc, "status").to_string();
        if ACTIVE_STATUSES.contains(&status.as_str()) {
            job.doc.insert("status".into(), json!("FAILED"));
            job.doc.insert(
                "error".into(),
                json!({
                    "code": codes::INTERNAL_ERROR,
                    "message": format!(
                        "the sandbox stopped while the job was {status}; the sandbox does not resume jobs after a restart: start the job again"
                    )
                }),
            );
            changed = true;
        } else if status == "CANCELLING" {
            job.doc.insert("status".into(), json!("CANCELLED"));
            changed = true;
        }
    }
    changed
}

fn delay() -> Duration {
    let ms = std::env::var(DELAY_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(DEFAULT_DELAY_MS);
    Duration::from_millis(ms)
}

/// Starts job `id`'s background task.
pub(crate) fn spawn(inner: &Arc<Inner>, id: String) {
    let cancel = inner.jobs.register(&id);
    let weak = Arc::downgrade(inner);
    tokio::spawn(async move {
        let task = {
            let (weak, id) = (weak.clone(), id.clone());
            tokio::spawn(async move { drive(&weak, &id, cancel).await })
        };
        if let Err(e) = task.await
            && e.is_panic()
        {
            finish(
                &weak,
                &id,
                End::Failed(failure(
                    codes::INTERNAL_ERROR,
                    "sandbox bug: the job's task panicked (see the sandbox's stderr)",
                )),
            );
        }
        if let Some(inner) = weak.upgrade() {
            inner.jobs.remove(&id);
        }
    });
}

/// Why a job failed: `error.code` and `error.message`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Failure {
    pub code: &'static str,
    pub message: String,
}

fn failure(code: &'static str, message: impl Into<String>) -> Failure {
    Failure {
        code,
        message: message.into(),
    }
}

/// How a job ended.
enum End {
    Success { simulated: bool },
    Failed(Failure),
    Cancelled,
}

/// A referenced table, resolved when the job starts.
#[derive(Debug, Clone)]
struct TablePlan {
    name: String,
    owner_account: String,
    /// `(databaseName, tableName)` for a Glue table.
    glue: Option<(String, String)>,
}

/// Everything the run needs, copied from the state when the job starts.
struct Plan {
    job_id: String,
    s3_endpoint: String,
    template_arn: String,
    role_arn: String,
    pinned: Vec<PinnedArtifact>,
    tables: Result<Vec<TablePlan>, Failure>,
    parameters: Option<BTreeMap<String, String>>,
    detailed_errors: bool,
    output_bucket: String,
    output_prefix: String,
    writer_account: String,
}

async fn drive(weak: &Weak<Inner>, id: &str, cancel: Arc<Notify>) {
    let cancelled = tokio::select! {
        _ = tokio::time::sleep(delay()) => false,
        _ = cancel.notified() => true,
    };
    if cancelled {
        finish(weak, id, End::Cancelled);
        return;
    }
    let Some(inner) = weak.upgrade() else { return };
    let plan = inner.write(|state| Ok(start(state, id, &inner.s3_endpoint)));
    drop(inner);
    let plan = match plan {
        Ok(Some(plan)) => plan,
        // Cancelled before it started (already settled), or the state could not be saved.
        Ok(None) | Err(_) => {
            finish(weak, id, End::Cancelled);
            return;
        }
    };
    let end = tokio::select! {
        end = execute(plan) => match end {
            Ok(simulated) => End::Success { simulated },
            Err(f) => End::Failed(f),
        },
        _ = cancel.notified() => End::Cancelled,
    };
    finish(weak, id, end);
}

/// `SUBMITTED` → `STARTED`, and the plan; `None` if the job is no longer `SUBMITTED`
/// (a `CANCELLING` job becomes `CANCELLED` here).
fn start(state: &mut State, id: &str, s3_endpoint: &str) -> Option<Plan> {
    let job = state.job(id)?;
    if s(&job.doc, "status") != "SUBMITTED" {
        return None;
    }
    let template_arn = at(&job.doc, "jobParameters")["analysisTemplateArn"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let given = at(&job.doc, "jobParameters")
        .get("parameters")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let collaboration_id = job.collaboration_id.clone();
    let runner_account = job.account_id.clone();
    let (output_bucket, output_prefix, writer_account) = (
        job.output_bucket.clone(),
        job.output_prefix.clone(),
        job.writer_account.clone(),
    );
    let template = state.template_by_arn(&template_arn);
    let tables = match template {
        None => Err(failure(
            codes::INTERNAL_ERROR,
            format!("analysis template {template_arn} was deleted before the job started"),
        )),
        Some(t) => {
            let referenced: Vec<String> = at(&t.doc, "schema")["referencedTables"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default();
            check_tables(
                state,
                &collaboration_id,
                &template_arn,
                &runner_account,
                &referenced,
            )
        }
    };
    let (role_arn, pinned, parameters, detailed_errors) = match template {
        Some(t) => {
            let declared = t.doc.get("analysisParameters").and_then(Value::as_array);
            let parameters = declared.filter(|d| !d.is_empty()).map(|d| {
                d.iter()
                    .map(|p| {
                        let name = p["name"].as_str().unwrap_or_default().to_string();
                        let value = given
                            .get(&name)
                            .or_else(|| p.get("defaultValue"))
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string();
                        (name, value)
                    })
                    .collect()
            });
            (
                at(&t.doc, "source")["artifacts"]["roleArn"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                t.pinned.clone(),
                parameters,
                at(&t.doc, "errorMessageConfiguration")["type"] == "DETAILED",
            )
        }
        None => (String::new(), Vec::new(), None, false),
    };
    let job = state.job_mut(id)?;
    job.doc.insert("status".into(), json!("STARTED"));
    Some(Plan {
        job_id: id.to_string(),
        s3_endpoint: s3_endpoint.to_string(),
        template_arn,
        role_arn,
        pinned,
        tables,
        parameters,
        detailed_errors,
        output_bucket,
        output_prefix,
        writer_account,
    })
}

/// Whether configured table `table` lets jobs by `runner_account` run template `template_arn`;
/// the reason (naming the table as `name`) if not.
fn table_allows(
    table: &Doc,
    rules: &[Doc],
    name: &str,
    template_arn: &str,
    runner_account: &str,
) -> Result<(), String> {
    let table_id = s(table, "id");
    let method = s(table, "analysisMethod");
    let selected = table
        .get("selectedAnalysisMethods")
        .and_then(Value::as_array)
        .is_some_and(|m| m.iter().any(|x| x == "DIRECT_JOB"));
    if !(method == "DIRECT_JOB" || (method == "MULTIPLE" && selected)) {
        return Err(format!(
            "table {name} (configured table {table_id}) does not allow PySpark jobs: its analysisMethod is {} (jobs need DIRECT_JOB, or MULTIPLE with DIRECT_JOB selected)",
            if method.is_empty() { "unset" } else { method }
        ));
    }
    let Some(rule) = rules.iter().find(|r| s(r, "type") == "CUSTOM") else {
        return Err(format!(
            "table {name} (configured table {table_id}) has no CUSTOM analysis rule, so it allows no analysis template"
        ));
    };
    let custom = &rule["policy"]["v1"]["custom"];
    let strings = |key: &str| -> Vec<String> {
        custom[key]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default()
    };
    let allowed = strings("allowedAnalyses");
    let providers = strings("allowedAnalysisProviders");
    if allowed.iter().any(|a| a == template_arn)
        || (allowed.iter().any(|a| a == "ANY_JOB") && providers.iter().any(|p| p == runner_account))
    {
        return Ok(());
    }
    Err(format!(
        "table {name} (configured table {table_id}) does not allow analysis template {template_arn}: its CUSTOM analysis rule's allowedAnalyses is [{}]; the table's owner must add the template's ARN",
        allowed.join(", ")
    ))
}

fn check_tables(
    state: &State,
    collaboration_id: &str,
    template_arn: &str,
    runner_account: &str,
    referenced: &[String],
) -> Result<Vec<TablePlan>, Failure> {
    let mut plans = Vec::new();
    for name in referenced {
        // CreateAnalysisTemplate accepts tables that are not associated yet, so the job is where
        // an unassociated table surfaces. The API reference documents these values of
        // `ProtectedJobError.code`: MALFORMED_SCRIPT, RESOURCE_NOT_FOUND ("a referenced resource
        // doesn't exist"), INVALID_RESOURCE (it exists but cannot be used), RESOURCE_ACCESS_DENIED
        // (a permission is missing), INSUFFICIENT_COMPUTE, TRANSIENT_ERROR, INTERNAL_ERROR and
        // UNKNOWN_ERROR. A table name with no association in the collaboration is a referenced
        // resource that does not exist there, so RESOURCE_NOT_FOUND: not INVALID_RESOURCE (there
        // is nothing to be misconfigured) and not RESOURCE_ACCESS_DENIED (that is what the
        // analysis rule check below is about). Starting the job again after the owner associates
        // the table succeeds, so the message says exactly that.
        let association = state
            .associations
            .iter()
            .find(|a| a.collaboration_id == collaboration_id && s(&a.doc, "name") == name)
            .ok_or_else(|| {
                failure(
                    codes::RESOURCE_NOT_FOUND,
                    format!(
                        "table {name} is not associated with collaboration {collaboration_id}: analysis template {template_arn} references it, but no member has associated a configured table under that name; the table's owner must associate it (CreateConfiguredTableAssociation with name {name}), then start the job again"
                    ),
                )
            })?;
        let table_id = s(&association.doc, "configuredTableId");
        let table = state.table(table_id).ok_or_else(|| {
            failure(
                codes::RESOURCE_NOT_FOUND,
                format!(
                    "table {name}: configured table {table_id} no longer exists; its owner must associate an existing configured table as {name}, then start the job again"
                ),
            )
        })?;
        table_allows(&table.doc, &table.rules, name, template_arn, runner_account)
            .map_err(|m| failure(codes::ANALYSIS_TEMPLATE_NOT_ALLOWED, m))?;
        let glue = at(&table.doc, "tableReference").get("glue").map(|g| {
            (
                g["databaseName"].as_str().unwrap_or_default().to_string(),
                g["tableName"].as_str().unwrap_or_default().to_string(),
            )
        });
        plans.push(TablePlan {
            name: name.clone(),
            owner_account: table.account_id.clone(),
            glue,
        });
    }
    Ok(plans)
}

/// Settles the job: the final status, `error`, `result` and `statistics`. A job that is no
/// longer running is left alone; a `CANCELLING` one always ends `CANCELLED`.
fn finish(weak: &Weak<Inner>, id: &str, end: End) {
    let Some(inner) = weak.upgrade() else { return };
    let result = inner.write(|state| {
        let Some(job) = state.job_mut(id) else {
            return Ok(());
        };
        let status = s(&job.doc, "status").to_string();
        if !ACTIVE_STATUSES.contains(&status.as_str()) && status != "CANCELLING" {
            return Ok(());
        }
        let end = if status == "CANCELLING" {
            End::Cancelled
        } else {
            end
        };
        match end {
            End::Success { simulated } => {
                job.doc.insert("status".into(), json!("SUCCESS"));
                job.simulated = simulated;
                let output = match at(&job.doc, "resultConfiguration")["outputConfiguration"].get("member") {
                    Some(member) => json!({ "memberList": [{ "accountId": member["accountId"] }] }),
                    None => json!({
                        "s3": { "location": format!("s3://{}/{}/", job.output_bucket, job.output_prefix) }
                    }),
                };
                job.doc.insert("result".into(), json!({ "output": output }));
            }
            End::Failed(f) => {
                job.doc.insert("status".into(), json!("FAILED"));
                job.doc
                    .insert("error".into(), json!({ "code": f.code, "message": f.message }));
            }
            End::Cancelled => {
                job.doc.insert("status".into(), json!("CANCELLED"));
            }
        }
        let duration = (now_ms() - job.created_ms).max(0);
        let units = billed_units(job.doc.get("computeConfiguration"), duration);
        job.doc.insert(
            "statistics".into(),
            json!({
                "totalDurationInMillis": duration,
                "billedResourceUtilization": { "units": units }
            }),
        );
        Ok(())
    });
    if let Err(e) = result {
        eprintln!("crpack sandbox: could not record the end of protected job {id}: {e:?}");
    }
}

/// CRPU-hours billed for `duration_ms` on `compute` (see the module documentation).
pub(crate) fn billed_units(compute: Option<&Value>, duration_ms: i64) -> f64 {
    let worker = compute.and_then(|c| c.get("worker"));
    let workers = worker
        .and_then(|w| w["number"].as_i64())
        .unwrap_or(DEFAULT_WORKERS);
    let factor = match worker.and_then(|w| w["type"].as_str()) {
        Some("CR.4X") => 4,
        _ => 1,
    };
    let billed_ms = duration_ms.max(60_000);
    let units = (workers * factor) as f64 * billed_ms as f64 / 3_600_000.0;
    (units * 1e6).round() / 1e6
}

/// Runs the plan; `Ok(simulated)` on success.
async fn execute(plan: Plan) -> Result<bool, Failure> {
    let tables = plan.tables.clone()?;
    let work = tempfile::Builder::new()
        .prefix("crpack-sandbox-job-")
        .tempdir()
        .map_err(|e| {
            failure(
                codes::INTERNAL_ERROR,
                format!("could not create a work directory: {e}"),
            )
        })?;
    let (entry_point, additional) = fetch_artifacts(&plan, work.path()).await?;
    let table_files = fetch_tables(&plan, &tables, work.path()).await?;

    let runtime = tokio::task::spawn_blocking(runner::runtime_available)
        .await
        .map_err(|e| failure(codes::INTERNAL_ERROR, format!("the runtime check panicked: {e}")))?;
    if let Err(e) = runtime {
        simulate(&plan, &e.to_string(), &tables).await?;
        return Ok(true);
    }
    let out_dir = work.path().join("results");
    let spec = runner::RunSpec {
        entry_point,
        additional,
        tables: table_files,
        parameters: plan.parameters.clone(),
        out_dir,
        preview_rows: 5,
    };
    // Cancelling the job drops this future: the guard then tells the runner to kill the run. The
    // work directory moves into the blocking task, so it outlives a cancelled job's run.
    let kill = Arc::new(AtomicBool::new(false));
    let _kill_on_drop = KillOnDrop(kill.clone());
    let options = runner::RunOptions {
        cancel: Some(kill),
        ..Default::default()
    };
    let (outcome, work) = tokio::task::spawn_blocking(move || (runner::run_with(&spec, &options), work))
        .await
        .map_err(|e| failure(codes::INTERNAL_ERROR, format!("the runner panicked: {e}")))?;
    let output = match outcome {
        Ok(output) => output,
        Err(RunnerError::RuntimeMissing(reason)) => {
            simulate(&plan, &reason, &tables).await?;
            return Ok(true);
        }
        Err(RunnerError::Contract { code, message }) => {
            return Err(failure(codes::SCRIPT_ERROR, format!("{code}: {message}")));
        }
        Err(RunnerError::Script { message, traceback }) => {
            let message = if plan.detailed_errors && !traceback.trim().is_empty() {
                format!("{message}\n{}", traceback.trim_end())
            } else {
                message
            };
            return Err(failure(codes::SCRIPT_ERROR, message));
        }
        Err(RunnerError::Other(message)) => return Err(failure(codes::INTERNAL_ERROR, message)),
    };
    upload_results(&plan, &output.results).await?;
    drop(work);
    Ok(false)
}

/// Sets the flag when dropped (a cancelled job's future is dropped mid-run).
struct KillOnDrop(Arc<AtomicBool>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn file_name(key: &str) -> String {
    key.rsplit('/')
        .next()
        .filter(|n| !n.is_empty() && *n != "." && *n != "..")
        .unwrap_or("artifact")
        .to_string()
}

/// Reads each pinned version as the template role's account, checks its SHA-256 and saves it;
/// returns the entry point's path and the additional artifact's.
async fn fetch_artifacts(plan: &Plan, dir: &Path) -> Result<(PathBuf, Option<PathBuf>), Failure> {
    let fail = |m: String| failure(codes::ARTIFACT_VERIFICATION_FAILED, m);
    let account = role_account(&plan.role_arn).unwrap_or_default();
    let who = identity::by_account(account).ok_or_else(|| {
        fail(format!(
            "Clean Rooms cannot assume role {} to read the artifacts: account {account} is not a sandbox identity",
            plan.role_arn
        ))
    })?;
    let client = s3_as(&plan.s3_endpoint, who);
    let mut entry_point = None;
    let mut additional = None;
    if plan.pinned.is_empty() {
        return Err(fail(format!(
            "analysis template {} pins no artifacts",
            plan.template_arn
        )));
    }
    for (i, a) in plan.pinned.iter().enumerate() {
        let what = format!("s3://{}/{} (version {})", a.bucket, a.key, a.version_id);
        let object = client
            .get_object()
            .bucket(&a.bucket)
            .key(&a.key)
            .version_id(&a.version_id)
            .send()
            .await
            .map_err(|e| match status(&e) {
                Some(404) => fail(format!(
                    "the artifact {what} no longer exists: the template is pinned to that version ({})",
                    describe(&e)
                )),
                Some(403) => fail(format!(
                    "role {} cannot read the artifact {what}: access denied",
                    plan.role_arn
                )),
                _ => fail(format!("could not read the artifact {what}: {}", describe(&e))),
            })?;
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| fail(format!("could not read the artifact {what}: {e}")))?
            .into_bytes();
        let sha256 = hex::encode(Sha256::digest(&bytes));
        if sha256 != a.sha256 {
            return Err(fail(format!(
                "the artifact {what} no longer matches the template: its SHA-256 is {sha256}, the template recorded {}",
                a.sha256
            )));
        }
        let sub = dir.join(if a.entry_point {
            "entry".to_string()
        } else {
            format!("additional-{i}")
        });
        std::fs::create_dir_all(&sub)
            .map_err(|e| failure(codes::INTERNAL_ERROR, format!("could not save {what}: {e}")))?;
        let path = sub.join(file_name(&a.key));
        tokio::fs::write(&path, &bytes)
            .await
            .map_err(|e| failure(codes::INTERNAL_ERROR, format!("could not save {what}: {e}")))?;
        if a.entry_point {
            entry_point = Some(path);
        } else if additional.is_none() {
            additional = Some(path);
        }
    }
    let entry_point = entry_point.ok_or_else(|| {
        fail(format!(
            "analysis template {} pins no entry point",
            plan.template_arn
        ))
    })?;
    Ok((entry_point, additional))
}

/// Reads each table's sample data (Glue emulation) as the table owner's account.
async fn fetch_tables(
    plan: &Plan,
    tables: &[TablePlan],
    dir: &Path,
) -> Result<BTreeMap<String, PathBuf>, Failure> {
    let fail = |m: String| failure(codes::TABLE_DATA_NOT_FOUND, m);
    let tables_dir = dir.join("tables");
    std::fs::create_dir_all(&tables_dir).map_err(|e| {
        failure(
            codes::INTERNAL_ERROR,
            format!("could not create a work directory: {e}"),
        )
    })?;
    let mut files = BTreeMap::new();
    for t in tables {
        let Some((database, table)) = &t.glue else {
            return Err(fail(format!(
                "table {}: the sandbox only reads Glue tables (from s3://crpack-sandbox-glue-<owner account>/<databaseName>/<tableName>.csv)",
                t.name
            )));
        };
        let (bucket, key) = glue_location(&t.owner_account, database, table);
        let location = format!("s3://{bucket}/{key}");
        let who = identity::by_account(&t.owner_account).ok_or_else(|| {
            fail(format!(
                "table {}: its owner {} is not a sandbox identity",
                t.name, t.owner_account
            ))
        })?;
        let object = s3_as(&plan.s3_endpoint, who)
            .get_object()
            .bucket(&bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| {
                fail(format!(
                    "table {}: no data for Glue table {database}.{table} at {location} (the sandbox reads a Glue table's data from that CSV object in the owner's account): {}",
                    t.name,
                    describe(&e)
                ))
            })?;
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| fail(format!("table {}: could not read {location}: {e}", t.name)))?
            .into_bytes();
        let path = tables_dir.join(format!("{}.csv", t.name));
        tokio::fs::write(&path, &bytes).await.map_err(|e| {
            failure(
                codes::INTERNAL_ERROR,
                format!("could not save table {}: {e}", t.name),
            )
        })?;
        files.insert(t.name.clone(), path);
    }
    Ok(files)
}

fn writer(plan: &Plan) -> Result<aws_sdk_s3::Client, Failure> {
    let who = identity::by_account(&plan.writer_account).ok_or_else(|| {
        failure(
            codes::RESULT_WRITE_FAILED,
            format!(
                "account {} (of the result role) is not a sandbox identity",
                plan.writer_account
            ),
        )
    })?;
    Ok(s3_as(&plan.s3_endpoint, who))
}

async fn put(client: &aws_sdk_s3::Client, plan: &Plan, key: &str, body: Vec<u8>) -> Result<(), Failure> {
    client
        .put_object()
        .bucket(&plan.output_bucket)
        .key(key)
        .body(aws_sdk_s3::primitives::ByteStream::from(body))
        .send()
        .await
        .map_err(|e| {
            failure(
                codes::RESULT_WRITE_FAILED,
                format!(
                    "could not write s3://{}/{key} as account {}: {}",
                    plan.output_bucket,
                    plan.writer_account,
                    describe(&e)
                ),
            )
        })?;
    Ok(())
}

/// The simulated run: the `_SIMULATED` marker and one line on stderr.
async fn simulate(plan: &Plan, reason: &str, tables: &[TablePlan]) -> Result<(), Failure> {
    let key = format!("{}/{SIMULATED_MARKER}", plan.output_prefix);
    let artifacts: Vec<String> = plan
        .pinned
        .iter()
        .map(|a| {
            format!(
                "  s3://{}/{} version {} sha256 {}",
                a.bucket, a.key, a.version_id, a.sha256
            )
        })
        .collect();
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let body = format!(
        "This protected job was simulated: no PySpark runtime was found, so the entry point did not run and no results were written.\n\
         Reason: {reason}\n\
         Job: {}\n\
         Analysis template: {}\n\
         Verified artifacts:\n{}\n\
         Tables read: {}\n",
        plan.job_id,
        plan.template_arn,
        artifacts.join("\n"),
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    );
    put(&writer(plan)?, plan, &key, body.into_bytes()).await?;
    eprintln!(
        "crpack sandbox: protected job {} simulated (no PySpark runtime: {reason}); wrote s3://{}/{key}",
        plan.job_id, plan.output_bucket
    );
    Ok(())
}

/// Uploads each result's Parquet files to `<prefix>/<result>/part-*.parquet`.
async fn upload_results(plan: &Plan, results: &[runner::ResultSet]) -> Result<(), Failure> {
    let client = writer(plan)?;
    for result in results {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&result.path)
            .map_err(|e| {
                failure(
                    codes::INTERNAL_ERROR,
                    format!(
                        "could not read the result {} at {}: {e}",
                        result.name,
                        result.path.display()
                    ),
                )
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.extension().is_some_and(|x| x == "parquet")
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| !n.starts_with('.') && !n.starts_with('_'))
            })
            .collect();
        files.sort();
        for (i, path) in files.iter().enumerate() {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .filter(|n| n.starts_with("part-"))
                .map(str::to_string)
                .unwrap_or_else(|| format!("part-{i:05}.parquet"));
            let bytes = tokio::fs::read(path).await.map_err(|e| {
                failure(
                    codes::INTERNAL_ERROR,
                    format!("could not read {}: {e}", path.display()),
                )
            })?;
            let key = format!("{}/{}/{name}", plan.output_prefix, result.name);
            put(&client, plan, &key, bytes).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billing_has_a_one_minute_minimum_and_a_type_factor() {
        assert_eq!(billed_units(None, 1_000), 0.266667);
        let four = json!({ "worker": { "type": "CR.4X", "number": 4 } });
        assert_eq!(billed_units(Some(&four), 3_600_000), 16.0);
        let one = json!({ "worker": { "type": "CR.1X", "number": 10 } });
        assert_eq!(billed_units(Some(&one), 30_000), 0.166667);
        assert_eq!(billed_units(Some(&one), 360_000), 1.0);
    }

    #[test]
    fn tables_allow_listed_templates_and_any_job_providers() {
        let arn = "arn:aws:cleanrooms:us-east-1:111111111111:membership/m/analysistemplate/t";
        let table = json!({ "id": "ct", "analysisMethod": "DIRECT_JOB" });
        let table = table.as_object().unwrap();
        let rule = |custom: Value| {
            json!({ "type": "CUSTOM", "policy": { "v1": { "custom": custom } } })
                .as_object()
                .unwrap()
                .clone()
        };
        assert!(
            table_allows(
                table,
                &[rule(json!({ "allowedAnalyses": [arn] }))],
                "orders",
                arn,
                "1"
            )
            .is_ok()
        );
        let e = table_allows(
            table,
            &[rule(json!({ "allowedAnalyses": [] }))],
            "orders",
            arn,
            "1",
        )
        .unwrap_err();
        assert!(e.contains("table orders") && e.contains(arn), "{e}");
        assert!(
            table_allows(table, &[], "orders", arn, "1")
                .unwrap_err()
                .contains("no CUSTOM")
        );
        let any = rule(json!({ "allowedAnalyses": ["ANY_JOB"], "allowedAnalysisProviders": ["1"] }));
        assert!(table_allows(table, std::slice::from_ref(&any), "orders", arn, "1").is_ok());
        assert!(table_allows(table, &[any], "orders", arn, "2").is_err());
        let sql_only = json!({ "id": "ct", "analysisMethod": "DIRECT_QUERY" });
        let e = table_allows(
            sql_only.as_object().unwrap(),
            &[rule(json!({ "allowedAnalyses": [arn] }))],
            "orders",
            arn,
            "1",
        )
        .unwrap_err();
        assert!(e.contains("DIRECT_QUERY"), "{e}");
        let multiple = json!({ "id": "ct", "analysisMethod": "MULTIPLE", "selectedAnalysisMethods": ["DIRECT_QUERY", "DIRECT_JOB"] });
        assert!(
            table_allows(
                multiple.as_object().unwrap(),
                &[rule(json!({ "allowedAnalyses": [arn] }))],
                "orders",
                arn,
                "1"
            )
            .is_ok()
        );
    }

    #[test]
    fn recovery_fails_running_jobs_and_settles_cancelling_ones() {
        let job = |status: &str| super::super::state::JobRec {
            account_id: "1".into(),
            collaboration_id: "c".into(),
            receiver_account: "1".into(),
            output_bucket: "b".into(),
            output_prefix: "p".into(),
            writer_account: "1".into(),
            created_ms: 0,
            simulated: false,
            doc: json!({ "id": status, "status": status })
                .as_object()
                .unwrap()
                .clone(),
        };
        let mut state = State::default();
        for st in ["SUBMITTED", "STARTED", "CANCELLING", "SUCCESS"] {
            state.jobs.push(job(st));
        }
        assert!(recover(&mut state));
        let statuses: Vec<&str> = state.jobs.iter().map(|j| s(&j.doc, "status")).collect();
        assert_eq!(statuses, ["FAILED", "FAILED", "CANCELLED", "SUCCESS"]);
        assert_eq!(state.jobs[1].doc["error"]["code"], codes::INTERNAL_ERROR);
        assert!(!recover(&mut state));
    }
}
