//! Protected jobs: `StartProtectedJob`, `GetProtectedJob`, `ListProtectedJobs` and
//! `UpdateProtectedJob`. What happens after a job is started (its lifecycle, failure codes,
//! statistics, results) is the [`executor`](super::executor)'s business.
//!
//! `StartProtectedJob` answers synchronously, in this order (after the model's own checks):
//! * the membership exists (`ResourceNotFoundException`), belongs to the caller and is active
//!   (`AccessDeniedException`);
//! * the membership has the `CAN_RUN_JOB` ability, else `AccessDeniedException` whose message
//!   says the membership lacks `CAN_RUN_JOB` (the service refuses callers that may not run jobs
//!   as a permission problem, not as a malformed request);
//! * `jobParameters.analysisTemplateArn` names a template of the membership's collaboration
//!   (`ResourceNotFoundException`, `resourceType` `ANALYSIS_TEMPLATE`) whose format is PySpark
//!   (`ValidationException` otherwise);
//! * every key of `jobParameters.parameters` is declared by the template, and every declared
//!   parameter without a `defaultValue` is given (`ValidationException`,
//!   `FIELD_VALIDATION_FAILED`, one `fieldList` entry named `jobParameters.parameters` per
//!   problem);
//! * the result receiver (`resultConfiguration.outputConfiguration.member.accountId`, or the
//!   caller when `resultConfiguration` is absent) is a member with `CAN_RECEIVE_RESULTS`, an
//!   active membership and a `defaultJobResultConfiguration` (`ValidationException` naming the
//!   field otherwise);
//! * `computeConfiguration.worker.number` is 4–1024, checked with the model's other limits (the
//!   user guide's older table lists 4–128 `CR.1X` and 4–32 `CR.4X` workers);
//! * `jobComputePayerAccountId`, when given, is an active member of the collaboration.
//!
//! The job starts `SUBMITTED`. Its documents:
//! * `resultConfiguration` echoes the request (`outputConfiguration.member.accountId`); without
//!   one, it shows the S3 location the caller's `defaultJobResultConfiguration` names
//!   (`outputConfiguration.s3 {bucket, keyPrefix}`).
//! * On success `result.output` is `memberList: [{accountId}]` for a member output and
//!   `s3.location` (`s3://bucket/<keyPrefix>/<jobId>/`) for the default S3 output. Either way
//!   the files are under `<keyPrefix>/<jobId>/` in the receiver's default job result bucket.
//!
//! Only the membership that started a job sees it (`GetProtectedJob`, `ListProtectedJobs`);
//! other memberships get `ResourceNotFoundException` / `AccessDeniedException` like for every
//! membership-scoped resource. `ListProtectedJobs` lists the newest job first, filters by
//! `status`, and pages with `maxResults` / `nextToken` (an offset: a job started while paging
//! shifts the pages by one).
//!
//! `UpdateProtectedJob` (`targetStatus` `CANCELLED`, the only value the model allows):
//! `SUBMITTED` or `STARTED` → `CANCELLING` (the executor then stops the job and sets
//! `CANCELLED`); a `CANCELLING` or `CANCELLED` job is returned unchanged (the operation is
//! idempotent); a `SUCCESS` or `FAILED` job cannot be cancelled: `ConflictException` with
//! reason `INVALID_STATE`.

use std::sync::Arc;

use serde_json::{Value, json};

use super::artifacts::role_account;
use super::error::{self, ApiError};
use super::executor::{self, JobStatus};
use super::identity_account as account;
use super::model::{FieldError, model};
use super::ops_collab::{
    get_in_membership, member_entry, own_membership, read_in_membership, write_in_membership,
};
use super::state::{Doc, JobRec, State, in_membership, s};
use super::{Inner, new_id, page_response};
use crate::identity::{self, Identity};

/// `ResourceNotFoundException.resourceType` for jobs (the model's enum has no value for them).
const PROTECTED_JOB: &str = "PROTECTED_JOB";

const CAN_RUN_JOB: &str = "CAN_RUN_JOB";
const CAN_RECEIVE_RESULTS: &str = "CAN_RECEIVE_RESULTS";

fn abilities(doc: &Doc, key: &str) -> Vec<String> {
    doc.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

/// Where a new job's results go, resolved from the receiver's membership.
struct Receiver {
    account: String,
    bucket: String,
    key_prefix: Option<String>,
    writer_account: String,
    /// The job's `resultConfiguration`.
    result_configuration: Value,
}

fn resolve_receiver(
    state: &State,
    collaboration_id: &str,
    caller_account: &str,
    input: &Doc,
) -> Result<Receiver, ApiError> {
    let explicit = input
        .get("resultConfiguration")
        .and_then(|r| r["outputConfiguration"]["member"]["accountId"].as_str());
    let (receiver, field) = match explicit {
        Some(a) => (a, "resultConfiguration.outputConfiguration.member.accountId"),
        None => (caller_account, "resultConfiguration"),
    };
    let collab = state
        .collaboration(collaboration_id)
        .ok_or_else(|| ApiError::not_found(error::COLLABORATION, collaboration_id))?;
    let entry = member_entry(collab, receiver).ok_or_else(|| {
        ApiError::field(
            field,
            format!("account {receiver} is not a member of collaboration {collaboration_id}"),
        )
    })?;
    if !abilities(entry, "abilities")
        .iter()
        .any(|a| a == CAN_RECEIVE_RESULTS)
    {
        return Err(ApiError::field(
            field,
            format!(
                "member {receiver} cannot receive results: it lacks the CAN_RECEIVE_RESULTS ability in collaboration {collaboration_id}"
            ),
        ));
    }
    let membership = state
        .membership_of(receiver, collaboration_id)
        .filter(|m| s(&m.doc, "status") == "ACTIVE")
        .ok_or_else(|| {
            ApiError::field(
                field,
                format!(
                    "member {receiver} has no active membership in collaboration {collaboration_id} to receive results"
                ),
            )
        })?;
    let config = membership.doc.get("defaultJobResultConfiguration");
    let s3 = config
        .and_then(|c| c["outputConfiguration"]["s3"].as_object())
        .filter(|s3| !s(s3, "bucket").is_empty())
        .ok_or_else(|| {
            ApiError::field(
                field,
                format!(
                    "member {receiver} cannot receive job results: membership {} has no defaultJobResultConfiguration with an S3 output (set one with UpdateMembership)",
                    s(&membership.doc, "id")
                ),
            )
        })?;
    let bucket = s(s3, "bucket").to_string();
    let key_prefix = s3.get("keyPrefix").and_then(Value::as_str).map(str::to_string);
    let role = config.and_then(|c| c["roleArn"].as_str()).unwrap_or_default();
    let writer_account = role_account(role)
        .filter(|a| identity::by_account(a).is_some())
        .unwrap_or(receiver)
        .to_string();
    let result_configuration = match explicit {
        Some(a) => json!({ "outputConfiguration": { "member": { "accountId": a } } }),
        None => {
            let mut out = json!({ "bucket": bucket });
            if let Some(p) = &key_prefix {
                out["keyPrefix"] = json!(p);
            }
            json!({ "outputConfiguration": { "s3": out } })
        }
    };
    Ok(Receiver {
        account: receiver.to_string(),
        bucket,
        key_prefix,
        writer_account,
        result_configuration,
    })
}

/// Checks the job's parameters against the template's declarations.
fn check_parameters(template: &Doc, template_arn: &str, input: &Doc) -> Result<(), ApiError> {
    let declared: Vec<(&str, bool)> = template
        .get("analysisParameters")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    (
                        p["name"].as_str().unwrap_or_default(),
                        p.get("defaultValue").is_some(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let given = input["jobParameters"]
        .get("parameters")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let names = if declared.is_empty() {
        "none".to_string()
    } else {
        declared.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
    };
    let mut errors = Vec::new();
    for key in given.keys() {
        if !declared.iter().any(|(n, _)| n == key) {
            errors.push(FieldError {
                name: "jobParameters.parameters".into(),
                message: format!(
                    "parameter {key} is not declared by analysis template {template_arn} (declared parameters: {names})"
                ),
            });
        }
    }
    for (name, has_default) in &declared {
        if !has_default && !given.contains_key(*name) {
            errors.push(FieldError {
                name: "jobParameters.parameters".into(),
                message: format!(
                    "analysis template {template_arn} declares parameter {name} without a default value: the job must set it"
                ),
            });
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::fields(errors))
    }
}

fn check_payer(state: &State, collaboration_id: &str, input: &Doc) -> Result<(), ApiError> {
    if let Some(payer) = input.get("jobComputePayerAccountId").and_then(Value::as_str)
        && state
            .membership_of(payer, collaboration_id)
            .is_none_or(|m| s(&m.doc, "status") != "ACTIVE")
    {
        return Err(ApiError::field(
            "jobComputePayerAccountId",
            format!("account {payer} has no active membership in collaboration {collaboration_id}"),
        ));
    }
    Ok(())
}

/// All synchronous checks; on success, the new job's record.
fn new_job(state: &State, caller: &Identity, input: &Doc, id: &str) -> Result<JobRec, ApiError> {
    let membership_id = s(input, "membershipIdentifier");
    let membership = own_membership(state, caller, membership_id)?;
    if s(&membership.doc, "status") != "ACTIVE" {
        return Err(ApiError::denied(format!(
            "membership {membership_id} is {}: only an active membership can start protected jobs",
            s(&membership.doc, "status")
        )));
    }
    if !abilities(&membership.doc, "memberAbilities")
        .iter()
        .any(|a| a == CAN_RUN_JOB)
    {
        return Err(ApiError::denied(format!(
            "membership {membership_id} lacks the CAN_RUN_JOB member ability: only a member who can run jobs may start a protected job"
        )));
    }
    let collaboration_id = s(&membership.doc, "collaborationId");
    let template_arn = input["jobParameters"]["analysisTemplateArn"]
        .as_str()
        .unwrap_or_default();
    let template = state
        .template_by_arn(template_arn)
        .filter(|t| s(&t.doc, "collaborationId") == collaboration_id)
        .ok_or_else(|| ApiError::NotFound {
            message: format!(
                "analysis template {template_arn} does not exist in collaboration {collaboration_id}"
            ),
            resource_id: template_arn.to_string(),
            resource_type: error::ANALYSIS_TEMPLATE,
        })?;
    let format = s(&template.doc, "format");
    if !format.starts_with("PYSPARK") {
        return Err(ApiError::field(
            "jobParameters.analysisTemplateArn",
            format!(
                "analysis template {template_arn} has format {format}: protected jobs run PySpark templates"
            ),
        ));
    }
    check_parameters(&template.doc, template_arn, input)?;
    let receiver = resolve_receiver(state, collaboration_id, account(caller), input)?;
    check_payer(state, collaboration_id, input)?;

    let created_ms = executor::now_ms();
    let mut doc = Doc::new();
    doc.insert("id".into(), json!(id));
    doc.insert("membershipId".into(), json!(membership_id));
    doc.insert("membershipArn".into(), membership.doc["arn"].clone());
    doc.insert("createTime".into(), json!(created_ms as f64 / 1000.0));
    doc.insert("jobParameters".into(), input["jobParameters"].clone());
    doc.insert("status".into(), json!(JobStatus::Submitted.as_str()));
    doc.insert("resultConfiguration".into(), receiver.result_configuration);
    for key in ["computeConfiguration", "jobComputePayerAccountId"] {
        if let Some(v) = input.get(key).filter(|v| !v.is_null()) {
            doc.insert(key.into(), v.clone());
        }
    }
    let prefix = receiver
        .key_prefix
        .as_deref()
        .map(|p| p.trim_matches('/'))
        .unwrap_or_default();
    let output_prefix = if prefix.is_empty() {
        id.to_string()
    } else {
        format!("{prefix}/{id}")
    };
    Ok(JobRec {
        account_id: account(caller).to_string(),
        collaboration_id: collaboration_id.to_string(),
        receiver_account: receiver.account,
        output_bucket: receiver.bucket,
        output_prefix,
        writer_account: receiver.writer_account,
        created_ms,
        simulated: false,
        doc,
    })
}

pub(crate) fn start_job(inner: &Arc<Inner>, caller: &Identity, input: &Doc) -> Result<Value, ApiError> {
    let id = new_id();
    let doc = inner.write(|state| {
        let job = new_job(state, caller, input, &id)?;
        let doc = job.doc.clone();
        state.jobs.push(job);
        Ok(doc)
    })?;
    executor::spawn(inner, id);
    Ok(json!({ "protectedJob": doc }))
}

/// The job `id` of membership `membership_id` (`ResourceNotFoundException` otherwise).
fn job_in<'a>(state: &'a State, membership_id: &str, id: &str) -> Result<&'a JobRec, ApiError> {
    in_membership(&state.jobs, membership_id, id).ok_or_else(|| job_not_found(membership_id, id))
}

fn job_not_found(membership_id: &str, id: &str) -> ApiError {
    ApiError::NotFound {
        message: format!("protected job {id} does not exist in membership {membership_id}"),
        resource_id: id.to_string(),
        resource_type: PROTECTED_JOB,
    }
}

pub(crate) fn get_job(inner: &Inner, caller: &Identity, input: &Doc) -> Result<Value, ApiError> {
    get_in_membership(
        inner,
        caller,
        input,
        ("protectedJob", "protectedJobIdentifier"),
        job_in,
    )
}

/// A job's `ProtectedJobSummary`.
fn summary(job: &JobRec) -> Value {
    let mut doc = model().project("ProtectedJobSummary", &job.doc);
    doc.insert(
        "receiverConfigurations".into(),
        json!([{
            "analysisType": "DIRECT_ANALYSIS",
            "configurationDetails": {
                "directAnalysisConfigurationDetails": { "receiverAccountIds": [job.receiver_account] }
            }
        }]),
    );
    Value::Object(doc)
}

pub(crate) fn list_jobs(inner: &Inner, caller: &Identity, input: &Doc) -> Result<Value, ApiError> {
    let wanted = input.get("status").and_then(Value::as_str);
    let items = read_in_membership(inner, caller, input, |state, membership_id| {
        let mut jobs: Vec<&JobRec> = state
            .jobs
            .iter()
            .rev()
            .filter(|j| s(&j.doc, "membershipId") == membership_id)
            .filter(|j| wanted.is_none_or(|w| s(&j.doc, "status") == w))
            .collect();
        jobs.sort_by_key(|j| std::cmp::Reverse(j.created_ms));
        Ok(jobs.into_iter().map(summary).collect())
    })?;
    page_response("ListProtectedJobs", "protectedJobs", items, input)
}

pub(crate) fn update_job(inner: &Inner, caller: &Identity, input: &Doc) -> Result<Value, ApiError> {
    let id = s(input, "protectedJobIdentifier");
    let (doc, signal) = write_in_membership(inner, caller, input, |state, membership_id| {
        job_in(state, membership_id, id)?;
        let Some(job) = state.job_mut(id) else {
            return Err(job_not_found(membership_id, id));
        };
        match job.status() {
            Some(status) if status.is_active() => {
                job.set_status(JobStatus::Cancelling);
                Ok((job.doc.clone(), true))
            }
            Some(JobStatus::Cancelling | JobStatus::Cancelled) => Ok((job.doc.clone(), false)),
            _ => {
                let other = s(&job.doc, "status");
                Err(ApiError::conflict(
                    "INVALID_STATE",
                    None,
                    id,
                    format!(
                        "protected job {id} is {other}: only a SUBMITTED or STARTED job can be cancelled"
                    ),
                ))
            }
        }
    })?;
    if signal {
        inner.jobs.cancel(id);
    }
    Ok(json!({ "protectedJob": doc }))
}
