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
//!    (or `ANY_JOB` with the job's account in `allowedAnalysisProviders`). When the rule has
//!    `allowedResultReceivers`, the job's result receiver must be one of them (an empty list
//!    admits none; a rule without the field restricts no receiver).
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
//! | `RESULT_RECEIVER_NOT_ALLOWED` | a referenced table's CUSTOM rule has `allowedResultReceivers` and the job's result receiver is not in it; the message names the table, the receiver and the fix |
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
//!
//! # Layout
//!
//! * `lifecycle`: the background task, status changes (start, finish, recovery) and billing;
//! * `admission`: whether the referenced tables' analysis rules let the job run;
//! * `run`: the run itself on the local runner;
//! * `io`: reading artifacts and table data from S3, writing results (or the simulation marker);
//! * `job`: the typed job state the executor reads from and writes to the job's document.

mod admission;
mod io;
mod job;
mod lifecycle;
mod run;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::state::PinnedArtifact;

pub(crate) use job::JobStatus;
pub(crate) use lifecycle::{recover, spawn};

/// The environment variable with the delay between `SUBMITTED` and `STARTED`, in milliseconds.
pub const DELAY_ENV: &str = "CRPACK_SANDBOX_JOB_DELAY_MS";
const DEFAULT_DELAY_MS: u64 = 300;

/// The worker count a job without `computeConfiguration` is billed for (`CR.1X`).
pub const DEFAULT_WORKERS: i64 = 16;

/// The stable `error.code` values (see the module documentation).
pub mod codes {
    pub const ANALYSIS_TEMPLATE_NOT_ALLOWED: &str = "ANALYSIS_TEMPLATE_NOT_ALLOWED";
    /// A referenced table's CUSTOM rule names result receivers, and the job's is not one.
    pub const RESULT_RECEIVER_NOT_ALLOWED: &str = "RESULT_RECEIVER_NOT_ALLOWED";
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

/// The name of the marker object a simulated run writes into the result location: the one
/// `crpack jobs results` recognises.
pub use crpack_core::jobs::results::SIMULATED_MARKER;

/// Where the sandbox reads the data of the Glue table `database.table` owned by `account`:
/// `(bucket, key)` = `(crpack-sandbox-glue-<account>, <database>/<table>.csv)`.
pub fn glue_location(account: &str, database: &str, table: &str) -> (String, String) {
    (
        format!("crpack-sandbox-glue-{account}"),
        format!("{database}/{table}.csv"),
    )
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
