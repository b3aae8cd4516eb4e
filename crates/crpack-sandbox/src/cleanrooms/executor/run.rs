//! The run: the entry point on the local PySpark runner, or a simulated run without one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crpack_runner::{self as runner, RunnerError};

use super::io::{fetch_artifacts, fetch_tables, simulate, upload_results};
use super::{Failure, Plan, codes, failure};

/// Runs the plan; `Ok(simulated)` on success.
pub(super) async fn execute(plan: Plan) -> Result<bool, Failure> {
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
