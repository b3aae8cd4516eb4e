//! The executor's state of a protected job, typed.
//!
//! A job's record keeps its `ProtectedJob` document exactly as `GetProtectedJob` returns it (and
//! as the state file stores it). The members the executor reads (`jobParameters`,
//! `computeConfiguration`, `resultConfiguration`) and writes (`status`, `error`, `result`,
//! `statistics`) go through the types below, which serialize to the same JSON the service
//! model describes, so the document, the API answers and state files written by earlier
//! sandboxes keep their shape. A member that is absent or not of the expected shape reads as
//! absent.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::super::state::{Doc, JobRec};

/// `ProtectedJob.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum JobStatus {
    Submitted,
    Started,
    Cancelling,
    Cancelled,
    Success,
    Failed,
}

impl JobStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            JobStatus::Submitted => "SUBMITTED",
            JobStatus::Started => "STARTED",
            JobStatus::Cancelling => "CANCELLING",
            JobStatus::Cancelled => "CANCELLED",
            JobStatus::Success => "SUCCESS",
            JobStatus::Failed => "FAILED",
        }
    }

    /// Whether the job is still running (and may be cancelled).
    pub(crate) fn is_active(self) -> bool {
        matches!(self, JobStatus::Submitted | JobStatus::Started)
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `ProtectedJob.error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct JobError {
    pub code: String,
    pub message: String,
}

/// `ProtectedJob.statistics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobStatistics {
    pub total_duration_in_millis: i64,
    pub billed_resource_utilization: BilledResourceUtilization,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct BilledResourceUtilization {
    /// CRPU-hours.
    pub units: f64,
}

/// `ProtectedJob.result`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct JobResult {
    pub output: JobOutput,
}

/// `ProtectedJobOutput`: the member who received the results, or the S3 location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum JobOutput {
    #[serde(rename = "memberList")]
    MemberList(Vec<MemberAccount>),
    #[serde(rename = "s3")]
    S3 { location: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MemberAccount {
    pub account_id: String,
}

/// `ProtectedJob.jobParameters`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct JobParameters {
    pub analysis_template_arn: String,
    pub parameters: BTreeMap<String, String>,
}

/// `ProtectedJob.computeConfiguration`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub(crate) struct ComputeConfiguration {
    pub worker: Option<Worker>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub(crate) struct Worker {
    /// `CR.1X` or `CR.4X`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub number: Option<i64>,
}

/// `ProtectedJob.resultConfiguration`, as far as the executor reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ResultConfiguration {
    output_configuration: OutputConfiguration,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
struct OutputConfiguration {
    member: Option<MemberAccount>,
}

/// Member `key` of `doc` as a `T`; `None` when absent or of another shape.
pub(crate) fn member<T: DeserializeOwned>(doc: &Doc, key: &str) -> Option<T> {
    doc.get(key).and_then(|v| T::deserialize(v).ok())
}

/// Sets member `key` of `doc` to `value` (in place when it is already there, so the document
/// keeps its member order).
pub(crate) fn set_member(doc: &mut Doc, key: &str, value: &impl Serialize) {
    // The types above hold only strings and numbers, which always serialize.
    let value = serde_json::to_value(value).unwrap_or(Value::Null);
    doc.insert(key.to_string(), value);
}

impl JobRec {
    /// The job's status; `None` if the document holds none the executor knows.
    pub(crate) fn status(&self) -> Option<JobStatus> {
        member(&self.doc, "status")
    }

    pub(crate) fn set_status(&mut self, status: JobStatus) {
        set_member(&mut self.doc, "status", &status);
    }

    pub(crate) fn set_error(&mut self, error: &JobError) {
        set_member(&mut self.doc, "error", error);
    }

    pub(crate) fn set_result(&mut self, result: &JobResult) {
        set_member(&mut self.doc, "result", result);
    }

    pub(crate) fn set_statistics(&mut self, statistics: &JobStatistics) {
        set_member(&mut self.doc, "statistics", statistics);
    }

    pub(crate) fn job_parameters(&self) -> JobParameters {
        member(&self.doc, "jobParameters").unwrap_or_default()
    }

    pub(crate) fn compute_configuration(&self) -> Option<ComputeConfiguration> {
        member(&self.doc, "computeConfiguration")
    }

    /// The member account named as the result receiver (`resultConfiguration.
    /// outputConfiguration.member`), if the results go to a member rather than the default S3
    /// output.
    pub(crate) fn result_member(&self) -> Option<MemberAccount> {
        member::<ResultConfiguration>(&self.doc, "resultConfiguration")
            .and_then(|r| r.output_configuration.member)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cleanrooms::state::State;
    use serde_json::json;

    #[test]
    fn written_members_have_the_model_shape() {
        let mut doc = Doc::new();
        set_member(&mut doc, "status", &JobStatus::Cancelling);
        set_member(
            &mut doc,
            "error",
            &JobError {
                code: "SCRIPT_ERROR".into(),
                message: "boom".into(),
            },
        );
        set_member(
            &mut doc,
            "statistics",
            &JobStatistics {
                total_duration_in_millis: 1500,
                billed_resource_utilization: BilledResourceUtilization { units: 0.266667 },
            },
        );
        let member = JobResult {
            output: JobOutput::MemberList(vec![MemberAccount {
                account_id: "111111111111".into(),
            }]),
        };
        let s3 = JobResult {
            output: JobOutput::S3 {
                location: "s3://b/p/j/".into(),
            },
        };
        assert_eq!(
            serde_json::to_string(&doc).unwrap(),
            r#"{"status":"CANCELLING","error":{"code":"SCRIPT_ERROR","message":"boom"},"statistics":{"totalDurationInMillis":1500,"billedResourceUtilization":{"units":0.266667}}}"#
        );
        assert_eq!(
            serde_json::to_string(&member).unwrap(),
            r#"{"output":{"memberList":[{"accountId":"111111111111"}]}}"#
        );
        assert_eq!(
            serde_json::to_string(&s3).unwrap(),
            r#"{"output":{"s3":{"location":"s3://b/p/j/"}}}"#
        );
    }

    #[test]
    fn a_status_change_keeps_the_member_order() {
        let mut doc = json!({ "id": "j", "status": "SUBMITTED", "resultConfiguration": {} })
            .as_object()
            .unwrap()
            .clone();
        set_member(&mut doc, "status", &JobStatus::Started);
        let keys: Vec<&str> = doc.keys().map(String::as_str).collect();
        assert_eq!(keys, ["id", "status", "resultConfiguration"]);
        assert_eq!(doc["status"], "STARTED");
    }

    #[test]
    fn unknown_or_malformed_members_read_as_absent() {
        let doc = json!({ "status": "PAUSED", "computeConfiguration": "big", "jobParameters": 3 })
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(member::<JobStatus>(&doc, "status"), None);
        assert_eq!(member::<ComputeConfiguration>(&doc, "computeConfiguration"), None);
        assert_eq!(member::<JobParameters>(&doc, "jobParameters"), None);
        assert_eq!(member::<JobStatus>(&doc, "missing"), None);
    }

    /// A state file as sandboxes before the typed job state wrote it: the job's members are read
    /// through the types, and saving it again writes the same JSON.
    #[test]
    fn state_files_of_earlier_sandboxes_load_and_round_trip() {
        let text = r#"{
  "version": 0,
  "jobs": [
    {
      "account_id": "111111111111",
      "collaboration_id": "c1",
      "receiver_account": "222222222222",
      "output_bucket": "results",
      "output_prefix": "out/j1",
      "writer_account": "222222222222",
      "created_ms": 1700000000000,
      "simulated": true,
      "doc": {
        "id": "j1",
        "membershipId": "m1",
        "membershipArn": "arn:aws:cleanrooms:us-east-1:111111111111:membership/m1",
        "createTime": 1700000000.0,
        "jobParameters": {
          "analysisTemplateArn": "arn:aws:cleanrooms:us-east-1:111111111111:membership/m1/analysistemplate/t1",
          "parameters": { "threshold": "5" }
        },
        "status": "SUCCESS",
        "resultConfiguration": { "outputConfiguration": { "member": { "accountId": "222222222222" } } },
        "computeConfiguration": { "worker": { "type": "CR.4X", "number": 4 } },
        "result": { "output": { "memberList": [ { "accountId": "222222222222" } ] } },
        "statistics": { "totalDurationInMillis": 1234, "billedResourceUtilization": { "units": 0.266667 } }
      }
    }
  ]
}"#;
        let state: State = serde_json::from_str(text).unwrap();
        let job = &state.jobs[0];
        assert_eq!(job.status(), Some(JobStatus::Success));
        let params = job.job_parameters();
        assert!(params.analysis_template_arn.ends_with("/analysistemplate/t1"));
        assert_eq!(params.parameters["threshold"], "5");
        let worker = job.compute_configuration().and_then(|c| c.worker).unwrap();
        assert_eq!((worker.kind.as_deref(), worker.number), (Some("CR.4X"), Some(4)));
        assert_eq!(job.result_member().unwrap().account_id, "222222222222");
        assert_eq!(
            member::<JobResult>(&job.doc, "result").unwrap().output,
            JobOutput::MemberList(vec![MemberAccount {
                account_id: "222222222222".into()
            }])
        );
        let before: Value = serde_json::from_str(text).unwrap();
        let mut after = serde_json::to_value(&state).unwrap();
        // Collections the file did not hold are written empty.
        for key in [
            "collaborations",
            "memberships",
            "configured_tables",
            "associations",
            "templates",
        ] {
            assert_eq!(after.as_object_mut().unwrap().remove(key), Some(json!([])));
        }
        assert_eq!(after, before);
    }
}
