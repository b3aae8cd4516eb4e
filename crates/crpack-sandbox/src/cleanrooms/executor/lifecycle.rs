//! A job's life: the background task, `SUBMITTED` → `STARTED` → a final status, the recovery
//! of jobs a stopped sandbox left running, and billing.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Notify;

use super::admission::{Parties, check_tables};
use super::job::{
    BilledResourceUtilization, ComputeConfiguration, JobError, JobOutput, JobResult, JobStatistics, JobStatus,
};
use super::run::execute;
use super::{DEFAULT_DELAY_MS, DEFAULT_WORKERS, DELAY_ENV, End, Plan, codes, failure, now_ms};
use crate::cleanrooms::Inner;
use crate::cleanrooms::state::{Doc, State};

/// Settles jobs a stopped sandbox left running; returns whether anything changed.
pub(crate) fn recover(state: &mut State) -> bool {
    let mut changed = false;
    for job in &mut state.jobs {
        match job.status() {
            Some(status) if status.is_active() => {
                job.set_status(JobStatus::Failed);
                job.set_error(&JobError {
                    code: codes::INTERNAL_ERROR.to_string(),
                    message: format!(
                        "the sandbox stopped while the job was {status}; the sandbox does not resume jobs after a restart: start the job again"
                    ),
                });
                changed = true;
            }
            Some(JobStatus::Cancelling) => {
                job.set_status(JobStatus::Cancelled);
                changed = true;
            }
            _ => {}
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

/// What the executor reads from an analysis template's document.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct TemplateView {
    schema: TemplateSchema,
    analysis_parameters: Vec<AnalysisParameter>,
    source: TemplateSource,
    error_message_configuration: ErrorMessageConfiguration,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct TemplateSchema {
    referenced_tables: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct AnalysisParameter {
    name: String,
    default_value: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TemplateSource {
    artifacts: TemplateArtifacts,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct TemplateArtifacts {
    role_arn: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ErrorMessageConfiguration {
    #[serde(rename = "type")]
    kind: String,
}

impl TemplateView {
    fn of(doc: &Doc) -> TemplateView {
        TemplateView::deserialize(&Value::Object(doc.clone())).unwrap_or_default()
    }

    /// The run's parameters: each declared parameter, given by the job or else its default;
    /// `None` when the template declares none.
    fn parameters(&self, given: &BTreeMap<String, String>) -> Option<BTreeMap<String, String>> {
        (!self.analysis_parameters.is_empty()).then(|| {
            self.analysis_parameters
                .iter()
                .map(|p| {
                    let value = given
                        .get(&p.name)
                        .or(p.default_value.as_ref())
                        .cloned()
                        .unwrap_or_default();
                    (p.name.clone(), value)
                })
                .collect()
        })
    }
}

/// `SUBMITTED` → `STARTED`, and the plan; `None` if the job is no longer `SUBMITTED`
/// (a `CANCELLING` job becomes `CANCELLED` here).
fn start(state: &mut State, id: &str, s3_endpoint: &str) -> Option<Plan> {
    let job = state.job(id)?;
    if job.status() != Some(JobStatus::Submitted) {
        return None;
    }
    let job_parameters = job.job_parameters();
    let template_arn = job_parameters.analysis_template_arn;
    let collaboration_id = job.collaboration_id.clone();
    let runner_account = job.account_id.clone();
    let (output_bucket, output_prefix, writer_account) = (
        job.output_bucket.clone(),
        job.output_prefix.clone(),
        job.writer_account.clone(),
    );
    let template = state.template_by_arn(&template_arn);
    let view = template.map(|t| TemplateView::of(&t.doc));
    let tables = match &view {
        None => Err(failure(
            codes::INTERNAL_ERROR,
            format!("analysis template {template_arn} was deleted before the job started"),
        )),
        Some(v) => check_tables(
            state,
            &collaboration_id,
            &template_arn,
            Parties {
                runner: &runner_account,
                receiver: &job.receiver_account,
            },
            &v.schema.referenced_tables,
        ),
    };
    let (role_arn, pinned, parameters, detailed_errors) = match (template, view) {
        (Some(t), Some(v)) => (
            v.source.artifacts.role_arn.clone(),
            t.pinned.clone(),
            v.parameters(&job_parameters.parameters),
            v.error_message_configuration.kind == "DETAILED",
        ),
        _ => (String::new(), Vec::new(), None, false),
    };
    let job = state.job_mut(id)?;
    job.set_status(JobStatus::Started);
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

/// Settles the job: the final status, `error`, `result` and `statistics`. A job that is no
/// longer running is left alone; a `CANCELLING` one always ends `CANCELLED`.
fn finish(weak: &Weak<Inner>, id: &str, end: End) {
    let Some(inner) = weak.upgrade() else { return };
    let result = inner.write(|state| {
        let Some(job) = state.job_mut(id) else {
            return Ok(());
        };
        let end = match job.status() {
            Some(JobStatus::Cancelling) => End::Cancelled,
            Some(status) if status.is_active() => end,
            _ => return Ok(()),
        };
        match end {
            End::Success { simulated } => {
                job.set_status(JobStatus::Success);
                job.simulated = simulated;
                let output = match job.result_member() {
                    Some(member) => JobOutput::MemberList(vec![member]),
                    None => JobOutput::S3 {
                        location: format!("s3://{}/{}/", job.output_bucket, job.output_prefix),
                    },
                };
                job.set_result(&JobResult { output });
            }
            End::Failed(f) => {
                job.set_status(JobStatus::Failed);
                job.set_error(&JobError {
                    code: f.code.to_string(),
                    message: f.message,
                });
            }
            End::Cancelled => job.set_status(JobStatus::Cancelled),
        }
        let duration = (now_ms() - job.created_ms).max(0);
        let units = billed_units(job.compute_configuration().as_ref(), duration);
        job.set_statistics(&JobStatistics {
            total_duration_in_millis: duration,
            billed_resource_utilization: BilledResourceUtilization { units },
        });
        Ok(())
    });
    if let Err(e) = result {
        eprintln!("crpack sandbox: could not record the end of protected job {id}: {e:?}");
    }
}

/// CRPU-hours billed for `duration_ms` on `compute` (see the module documentation).
pub(crate) fn billed_units(compute: Option<&ComputeConfiguration>, duration_ms: i64) -> f64 {
    let worker = compute.and_then(|c| c.worker.as_ref());
    let workers = worker.and_then(|w| w.number).unwrap_or(DEFAULT_WORKERS);
    let factor = match worker.and_then(|w| w.kind.as_deref()) {
        Some("CR.4X") => 4,
        _ => 1,
    };
    let billed_ms = duration_ms.max(60_000);
    let units = (workers * factor) as f64 * billed_ms as f64 / 3_600_000.0;
    (units * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cleanrooms::state::{JobRec, s};
    use serde_json::json;

    fn compute(value: Value) -> ComputeConfiguration {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn billing_has_a_one_minute_minimum_and_a_type_factor() {
        assert_eq!(billed_units(None, 1_000), 0.266667);
        let four = compute(json!({ "worker": { "type": "CR.4X", "number": 4 } }));
        assert_eq!(billed_units(Some(&four), 3_600_000), 16.0);
        let one = compute(json!({ "worker": { "type": "CR.1X", "number": 10 } }));
        assert_eq!(billed_units(Some(&one), 30_000), 0.166667);
        assert_eq!(billed_units(Some(&one), 360_000), 1.0);
    }

    fn job(status: &str) -> JobRec {
        JobRec {
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
        }
    }

    #[test]
    fn recovery_fails_running_jobs_and_settles_cancelling_ones() {
        let mut state = State::default();
        for st in ["SUBMITTED", "STARTED", "CANCELLING", "SUCCESS"] {
            state.jobs.push(job(st));
        }
        assert!(recover(&mut state));
        let statuses: Vec<&str> = state.jobs.iter().map(|j| s(&j.doc, "status")).collect();
        assert_eq!(statuses, ["FAILED", "FAILED", "CANCELLED", "SUCCESS"]);
        assert_eq!(state.jobs[1].doc["error"]["code"], codes::INTERNAL_ERROR);
        assert_eq!(
            state.jobs[1].doc["error"]["message"],
            "the sandbox stopped while the job was STARTED; the sandbox does not resume jobs after a restart: start the job again"
        );
        assert!(!recover(&mut state));
    }

    #[test]
    fn template_parameters_take_the_job_value_or_the_default() {
        let doc = json!({
            "analysisParameters": [
                { "name": "a", "type": "VARCHAR", "defaultValue": "1" },
                { "name": "b", "type": "VARCHAR" },
                { "name": "c", "type": "VARCHAR", "defaultValue": "3" }
            ],
            "source": { "artifacts": { "roleArn": "arn:aws:iam::1:role/r" } },
            "errorMessageConfiguration": { "type": "DETAILED" },
            "schema": { "referencedTables": ["t1", "t2"] }
        });
        let view = TemplateView::of(doc.as_object().unwrap());
        let given = BTreeMap::from([
            ("b".to_string(), "x".to_string()),
            ("c".to_string(), "y".to_string()),
        ]);
        let params = view.parameters(&given).unwrap();
        assert_eq!(
            params.into_iter().collect::<Vec<_>>(),
            [
                ("a".into(), "1".into()),
                ("b".into(), "x".into()),
                ("c".into(), "y".into())
            ]
        );
        assert_eq!(view.source.artifacts.role_arn, "arn:aws:iam::1:role/r");
        assert_eq!(view.error_message_configuration.kind, "DETAILED");
        assert_eq!(view.schema.referenced_tables, ["t1", "t2"]);
        assert_eq!(TemplateView::of(&Doc::new()).parameters(&given), None);
    }
}
