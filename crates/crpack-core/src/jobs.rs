//! Protected jobs: start a PySpark job on an approved template, watch it, describe it;
//! download and preview a finished job's results (`results`, `preview`).

pub mod preview;
pub mod results;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_cleanrooms::types::{
    MemberStatus, ProtectedJob, ProtectedJobComputeConfiguration, ProtectedJobMemberOutputConfigurationInput,
    ProtectedJobOutput, ProtectedJobOutputConfigurationInput, ProtectedJobParameters,
    ProtectedJobResultConfigurationInput, ProtectedJobStatus, ProtectedJobType,
    ProtectedJobWorkerComputeConfiguration, ProtectedJobWorkerComputeType, TargetProtectedJobStatus,
    WorkerComputeConfigurationProperties,
};
use serde::Serialize;

use crate::aws::{self, Aws, RemoteError};
use crate::error::Result;

/// A protected job cannot be found.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// None of the caller's active memberships knows the job.
    #[error(
        "no membership of this account has job {job_id}: check the job id, or name the membership that \
         started it"
    )]
    NoMembershipHasJob { job_id: String },
    /// The account asked to pay for the job's compute is not an active member.
    #[error(
        "account {account} is not an active member of collaboration {collaboration_id}, so it cannot pay for \
         the job's compute: name an active member's account with --payer, or leave it out to pay yourself"
    )]
    PayerNotActive {
        account: String,
        collaboration_id: String,
    },
}

/// How to start a job: its runtime parameters and compute, and who pays.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// `jobParameters.parameters` (names the template declares).
    pub params: BTreeMap<String, String>,
    /// The worker type and count; `None` leaves the service's default.
    pub workers: Option<(WorkerType, i32)>,
    /// `computeConfiguration.worker.properties.spark` (needs `workers`).
    pub spark_properties: BTreeMap<String, String>,
    /// `jobComputePayerAccountId`: an active member who pays for the compute.
    pub payer: Option<String>,
}

/// Worker types of PySpark jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerType {
    /// 4 vCPU, 30 GB (the default).
    Cr1X,
    /// 16 vCPU, 120 GB.
    Cr4X,
}

impl WorkerType {
    /// Every worker type, in the service's order.
    pub const ALL: [WorkerType; 2] = [WorkerType::Cr1X, WorkerType::Cr4X];

    /// The service's name for it (`CR.1X`).
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerType::Cr1X => "CR.1X",
            WorkerType::Cr4X => "CR.4X",
        }
    }

    /// The worker count range the service model allows (`worker.number`, 4–1024 since
    /// 2026-04), for either type.
    pub fn range(self) -> (i32, i32) {
        (4, 1024)
    }

    /// The most workers of this type the user guide's table lists for PySpark jobs (128 `CR.1X`,
    /// 32 `CR.4X`); older than the model's 1024, so more is allowed but worth a warning.
    pub fn guide_max(self) -> i32 {
        match self {
            WorkerType::Cr1X => 128,
            WorkerType::Cr4X => 32,
        }
    }
}

/// A job as crpack reports it.
#[derive(Debug, Clone, Serialize)]
pub struct JobReport {
    pub id: String,
    pub membership_id: String,
    pub status: String,
    pub template_arn: Option<String>,
    pub created: String,
    pub duration_ms: Option<i64>,
    pub billed_crpu: Option<f64>,
    /// `s3://…` when results went to S3.
    pub result_location: Option<String>,
    /// Accounts that received results.
    pub result_members: Vec<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// `CR.1X` or `CR.4X`, when the job names its compute.
    pub worker_type: Option<String>,
    pub workers: Option<i32>,
    /// The Spark properties the job was started with.
    pub spark_properties: BTreeMap<String, String>,
    /// The account paying for the compute, when one was named.
    pub payer_account_id: Option<String>,
}

impl JobReport {
    pub fn from_job(j: &ProtectedJob) -> JobReport {
        let worker = j.compute_configuration().and_then(|c| c.as_worker().ok());
        let (location, members) = match j.result().and_then(|r| r.output()) {
            Some(ProtectedJobOutput::S3(s)) => (Some(s.location().to_string()), vec![]),
            Some(ProtectedJobOutput::MemberList(m)) => {
                (None, m.iter().map(|o| o.account_id().to_string()).collect())
            }
            _ => (None, vec![]),
        };
        JobReport {
            id: j.id().to_string(),
            membership_id: j.membership_id().to_string(),
            status: j.status().as_str().to_string(),
            template_arn: j.job_parameters().map(|p| p.analysis_template_arn().to_string()),
            created: j.create_time().to_string(),
            duration_ms: j.statistics().and_then(|s| s.total_duration_in_millis()),
            billed_crpu: j
                .statistics()
                .and_then(|s| s.billed_resource_utilization())
                .map(|b| b.units()),
            result_location: location,
            result_members: members,
            error_code: j.error().map(|e| e.code().to_string()),
            error_message: j.error().map(|e| e.message().to_string()),
            worker_type: worker.map(|w| w.r#type().as_str().to_string()),
            workers: worker.map(|w| w.number()),
            spark_properties: worker
                .and_then(|w| w.properties())
                .and_then(|p| p.as_spark().ok())
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            payer_account_id: j.job_compute_payer_account_id().map(str::to_string),
        }
    }

    pub fn is_terminal(&self) -> bool {
        matches!(self.status.as_str(), "SUCCESS" | "FAILED" | "CANCELLED")
    }
}

/// The account in a membership ARN (`arn:aws:cleanrooms:REGION:ACCOUNT:membership/ID`).
pub fn arn_account(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

/// Starts a PySpark job; results go to the caller's member account.
pub async fn start(aws: &Aws, membership_id: &str, template_arn: &str, opts: StartOptions) -> Result<String> {
    let StartOptions {
        params,
        workers,
        spark_properties,
        payer,
    } = opts;
    let m = aws::membership(aws, membership_id).await?;
    if let Some(payer) = &payer {
        check_payer(aws, m.collaboration_id(), payer).await?;
    }
    let account = arn_account(m.arn())
        .ok_or_else(|| RemoteError::call(format!("GetMembership {membership_id}"), "no account in the ARN"))?
        .to_string();
    let job_params = aws::built(
        "ProtectedJobParameters",
        ProtectedJobParameters::builder()
            .analysis_template_arn(template_arn)
            .set_parameters(if params.is_empty() {
                None
            } else {
                Some(params.into_iter().collect())
            })
            .build(),
    )?;
    let result = ProtectedJobResultConfigurationInput::builder()
        .output_configuration(ProtectedJobOutputConfigurationInput::Member(aws::built(
            "ProtectedJobMemberOutputConfigurationInput",
            ProtectedJobMemberOutputConfigurationInput::builder()
                .account_id(account)
                .build(),
        )?))
        .build();
    let compute = match workers {
        None => None,
        Some((kind, n)) => Some(ProtectedJobComputeConfiguration::Worker(aws::built(
            "ProtectedJobWorkerComputeConfiguration",
            ProtectedJobWorkerComputeConfiguration::builder()
                .r#type(match kind {
                    WorkerType::Cr1X => ProtectedJobWorkerComputeType::Cr1X,
                    WorkerType::Cr4X => ProtectedJobWorkerComputeType::Cr4X,
                })
                .number(n)
                .set_properties(if spark_properties.is_empty() {
                    None
                } else {
                    Some(WorkerComputeConfigurationProperties::Spark(
                        spark_properties.into_iter().collect(),
                    ))
                })
                .build(),
        )?)),
    };
    let out = aws
        .cleanrooms
        .start_protected_job()
        .membership_identifier(membership_id)
        .r#type(ProtectedJobType::Pyspark)
        .job_parameters(job_params)
        .result_configuration(result)
        .set_compute_configuration(compute)
        .set_job_compute_payer_account_id(payer)
        .send()
        .await
        .map_err(|e| aws::describe("StartProtectedJob", &e))?;
    out.protected_job()
        .map(|j| j.id().to_string())
        .ok_or_else(|| RemoteError::empty_response("StartProtectedJob").into())
}

/// That `account` has an active membership in the collaboration (ListMembers).
async fn check_payer(aws: &Aws, collaboration_id: &str, account: &str) -> Result<()> {
    let members = aws::members(aws, collaboration_id).await?;
    if members
        .iter()
        .any(|m| m.account_id() == account && *m.status() == MemberStatus::Active)
    {
        return Ok(());
    }
    Err(JobError::PayerNotActive {
        account: account.to_string(),
        collaboration_id: collaboration_id.to_string(),
    }
    .into())
}

/// Reads a job.
pub async fn get(aws: &Aws, membership_id: &str, job_id: &str) -> Result<JobReport> {
    Ok(JobReport::from_job(&get_job(aws, membership_id, job_id).await?))
}

/// The service's document of a job (GetProtectedJob).
pub async fn get_job(aws: &Aws, membership_id: &str, job_id: &str) -> Result<ProtectedJob> {
    let out = aws
        .cleanrooms
        .get_protected_job()
        .membership_identifier(membership_id)
        .protected_job_identifier(job_id)
        .send()
        .await
        .map_err(|e| aws::describe(&format!("GetProtectedJob {job_id}"), &e))?;
    out.protected_job
        .ok_or_else(|| RemoteError::empty_response("GetProtectedJob").into())
}

/// Asks the service to cancel a job.
pub async fn cancel(aws: &Aws, membership_id: &str, job_id: &str) -> Result<JobReport> {
    let out = aws
        .cleanrooms
        .update_protected_job()
        .membership_identifier(membership_id)
        .protected_job_identifier(job_id)
        .target_status(TargetProtectedJobStatus::Cancelled)
        .send()
        .await
        .map_err(|e| aws::describe(&format!("UpdateProtectedJob {job_id} CANCELLED"), &e))?;
    out.protected_job()
        .map(JobReport::from_job)
        .ok_or_else(|| RemoteError::empty_response("UpdateProtectedJob").into())
}

/// Finds which of the caller's active memberships holds a job.
pub async fn find_membership(aws: &Aws, job_id: &str) -> Result<String> {
    aws::each_page!(aws.cleanrooms.list_memberships(), "ListMemberships", |page| {
        for m in page.membership_summaries() {
            let found = aws
                .cleanrooms
                .get_protected_job()
                .membership_identifier(m.id())
                .protected_job_identifier(job_id)
                .send()
                .await;
            if found.is_ok() {
                return Ok(m.id().to_string());
            }
        }
    });
    Err(JobError::NoMembershipHasJob {
        job_id: job_id.to_string(),
    }
    .into())
}

/// Lists jobs, newest first as the service returns them.
pub async fn list(
    aws: &Aws,
    membership_id: &str,
    status: Option<ProtectedJobStatus>,
    page_size: Option<i32>,
) -> Result<Vec<JobReport>> {
    let mut out = Vec::new();
    let request = aws
        .cleanrooms
        .list_protected_jobs()
        .membership_identifier(membership_id)
        .set_status(status)
        .set_max_results(page_size);
    aws::each_page!(request, &format!("ListProtectedJobs {membership_id}"), |page| {
        for s in page.protected_jobs() {
            out.push(JobReport {
                id: s.id().to_string(),
                membership_id: s.membership_id().to_string(),
                status: s.status().as_str().to_string(),
                template_arn: None,
                created: s.create_time().to_string(),
                duration_ms: None,
                billed_crpu: None,
                result_location: None,
                result_members: vec![],
                error_code: None,
                error_message: None,
                worker_type: None,
                workers: None,
                spark_properties: BTreeMap::new(),
                payer_account_id: s.job_compute_payer_account_id().map(str::to_string),
            });
        }
    });
    Ok(out)
}

/// Poll interval while watching: quick at first, then every few seconds.
pub fn poll_interval(attempt: u32) -> Duration {
    Duration::from_millis(match attempt {
        0..=4 => 250,
        5..=20 => 1000,
        _ => 3000,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_job_names_the_cause_and_the_fix() {
        let e = crate::error::Error::from(JobError::NoMembershipHasJob { job_id: "j1".into() });
        let msg = e.to_string();
        assert!(msg.contains("no membership of this account has job j1"), "{msg}");
        assert!(msg.contains("name the membership"), "{msg}");
        assert!(!msg.contains("--"), "{msg}");
        assert_eq!(e.exit_code(), crate::error::ExitCode::Error);
        assert_eq!(e.kind(), "other");
    }

    #[test]
    fn accounts_from_arns() {
        assert_eq!(
            arn_account("arn:aws:cleanrooms:us-east-1:111111111111:membership/abc"),
            Some("111111111111")
        );
        assert_eq!(arn_account("nonsense"), None);
    }
}
