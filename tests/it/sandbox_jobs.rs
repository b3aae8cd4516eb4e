//! Protected jobs in the sandbox, driven by the real `aws-sdk-cleanrooms` and `aws-sdk-s3` clients
//! against an in-process, seeded sandbox: the author publishes a PySpark template, the provider
//! approves it (or not), the author runs jobs and reads the results.
//!
//! Whether a job really runs depends on the local PySpark runtime
//! (`crpack_runner::runtime_available`): without one the sandbox simulates the run and writes a
//! `_SIMULATED` marker instead of results; the tests assert whichever applies.

use std::io::Write;
use std::time::{Duration, Instant};

use aws_sdk_cleanrooms::Client;
use aws_sdk_cleanrooms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cleanrooms::types as cr;

use crate::common::{fault as fault_of, ok, sandbox_at, template_artifact};
use crpack_sandbox::Sandbox;
use crpack_sandbox::cleanrooms::{SIMULATED_MARKER, job_error_codes as codes};
use crpack_sandbox::identity::{AUTHOR, Identity, OUTSIDER, PROVIDER};
use crpack_sandbox::seed::{self, SeedInfo, cleanrooms_client, s3_client};

type HttpResponse = aws_sdk_cleanrooms::config::http::HttpResponse;

/// How long a job may take to finish: a simulated run needs well under a second; a real local
/// Spark run starts a JVM.
fn job_timeout() -> Duration {
    if runtime() {
        Duration::from_secs(240)
    } else {
        Duration::from_secs(60)
    }
}

fn runtime() -> bool {
    crpack_runner::runtime_available().is_ok()
}

struct World {
    sb: Sandbox,
    info: SeedInfo,
    dir: tempfile::TempDir,
}

impl World {
    async fn start() -> World {
        let (dir, sb) = crate::common::temp_sandbox().await;
        let info = seed::seed(&sb.endpoint()).await.expect("seed");
        World { sb, info, dir }
    }

    fn cr(&self, who: &Identity) -> Client {
        cleanrooms_client(&self.sb.endpoint(), who)
    }

    fn s3(&self, who: &Identity) -> aws_sdk_s3::Client {
        s3_client(&self.sb.endpoint(), who)
    }

    fn author_membership(&self) -> &str {
        &self.info.author.membership_id
    }
}

/// The HTTP status, error code and typed error of a call that should fail.
fn fault<T: std::fmt::Debug, E: ProvideErrorMetadata + std::error::Error + 'static>(
    r: Result<T, SdkError<E, HttpResponse>>,
) -> (u16, String, E) {
    fault_of(r.expect_err("the call should fail"))
}

/// The typed error of a call that should fail with `expected` (HTTP status, error code).
#[track_caller]
fn refused<T: std::fmt::Debug, E: ProvideErrorMetadata + std::error::Error + 'static>(
    r: Result<T, SdkError<E, HttpResponse>>,
    expected: (u16, &str),
) -> E {
    let (status, code, e) = fault(r);
    assert_eq!((status, code.as_str()), expected);
    e
}

/// The entry point: joins the two seeded tables and counts orders per segment at or above the
/// `min_amount` parameter, using a constant from the bundle zip.
const ENTRY: &str = r#"from pyspark.sql import functions as F

from sandbox_job_helpers import SEGMENT


def entrypoint(context):
    tables = context["referencedTables"]
    minimum = float(context["analysisParameters"]["min_amount"])
    joined = tables["orders"].join(tables["customers"], "customer_id")
    kept = joined.where(F.col("amount").cast("double") >= minimum)
    return {"results": {"by_segment": kept.groupBy(SEGMENT).agg(F.count("*").alias("orders"))}}
"#;

fn bundle_zip() -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buf);
        zip.start_file("sandbox_job_helpers.py", zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(b"SEGMENT = \"segment\"\n").unwrap();
        zip.finish().unwrap();
    }
    buf.into_inner()
}

/// A published template: its ARN and the artifacts' keys and pinned versions.
struct Published {
    arn: String,
    entry_key: String,
    bundle_key: String,
    bundle_version: String,
}

/// Uploads the entry point and bundle as the author and creates a `PYSPARK_1_0` template
/// referencing both tables, with a `min_amount` parameter (default `0`).
async fn publish(w: &World, name: &str) -> Published {
    let s3 = w.s3(&AUTHOR);
    let entry_key = format!("jobs-test/{name}/job_entry.py");
    let bundle_key = format!("jobs-test/{name}/bundle.zip");
    let mut versions = Vec::new();
    for (key, body) in [
        (&entry_key, ENTRY.as_bytes().to_vec()),
        (&bundle_key, bundle_zip()),
    ] {
        let out = ok(s3
            .put_object()
            .bucket(&w.info.bucket)
            .key(key)
            .body(aws_sdk_s3::primitives::ByteStream::from(body))
            .send()
            .await);
        versions.push(out.version_id().unwrap().to_string());
    }
    let location = |key: &str| template_artifact(&w.info.bucket, key);
    let source = cr::AnalysisSource::Artifacts(
        cr::AnalysisTemplateArtifacts::builder()
            .entry_point(location(&entry_key))
            .additional_artifacts(location(&bundle_key))
            .role_arn(&w.info.role_arn)
            .build()
            .unwrap(),
    );
    let out = ok(w
        .cr(&AUTHOR)
        .create_analysis_template()
        .membership_identifier(w.author_membership())
        .name(name)
        .format(cr::AnalysisFormat::Pyspark10)
        .source(source)
        .schema(
            cr::AnalysisSchema::builder()
                .referenced_tables("orders")
                .referenced_tables("customers")
                .build(),
        )
        .analysis_parameters(crate::common::parameter(
            "min_amount",
            cr::ParameterType::Varchar,
            "0",
        ))
        .send()
        .await);
    Published {
        arn: out.analysis_template().unwrap().arn().to_string(),
        entry_key,
        bundle_key,
        bundle_version: versions[1].clone(),
    }
}

/// Adds `arn` to the `allowedAnalyses` of the provider's tables named in `tables`.
/// A template `name` published and approved on both seeded tables.
async fn publish_approved(w: &World, name: &str) -> Published {
    let t = publish(w, name).await;
    approve(w, &t.arn, &["orders", "customers"]).await;
    t
}

async fn approve(w: &World, arn: &str, tables: &[&str]) {
    let provider = w.cr(&PROVIDER);
    for name in tables {
        let table = w.info.tables.iter().find(|t| t.name == *name).unwrap();
        let rule = crate::common::custom_rule(&provider, &table.configured_table_id).await;
        let mut allowed = match rule.analysis_rule().unwrap().policy().unwrap() {
            cr::ConfiguredTableAnalysisRulePolicy::V1(cr::ConfiguredTableAnalysisRulePolicyV1::Custom(c)) => {
                c.allowed_analyses().to_vec()
            }
            other => panic!("{other:?}"),
        };
        allowed.push(arn.to_string());
        let custom = cr::AnalysisRuleCustom::builder()
            .set_allowed_analyses(Some(allowed))
            .build()
            .unwrap();
        ok(provider
            .update_configured_table_analysis_rule()
            .configured_table_identifier(&table.configured_table_id)
            .analysis_rule_type(cr::ConfiguredTableAnalysisRuleType::Custom)
            .analysis_rule_policy(cr::ConfiguredTableAnalysisRulePolicy::V1(
                cr::ConfiguredTableAnalysisRulePolicyV1::Custom(custom),
            ))
            .send()
            .await);
    }
}

fn job_parameters(arn: &str, params: &[(&str, &str)]) -> cr::ProtectedJobParameters {
    let mut b = cr::ProtectedJobParameters::builder().analysis_template_arn(arn);
    for (k, v) in params {
        b = b.parameters(*k, *v);
    }
    b.build().unwrap()
}

fn to_member(account: &str) -> cr::ProtectedJobResultConfigurationInput {
    cr::ProtectedJobResultConfigurationInput::builder()
        .output_configuration(cr::ProtectedJobOutputConfigurationInput::Member(
            cr::ProtectedJobMemberOutputConfigurationInput::builder()
                .account_id(account)
                .build()
                .unwrap(),
        ))
        .build()
}

fn workers(kind: cr::ProtectedJobWorkerComputeType, number: i32) -> cr::ProtectedJobComputeConfiguration {
    cr::ProtectedJobComputeConfiguration::Worker(
        cr::ProtectedJobWorkerComputeConfiguration::builder()
            .r#type(kind)
            .number(number)
            .build()
            .unwrap(),
    )
}

/// Starts a job as the author with results to the author's account; returns the job.
/// StartProtectedJob as the author for the PySpark template `arn` with `params`; the caller adds
/// the rest.
fn start_request(
    w: &World,
    arn: &str,
    params: &[(&str, &str)],
) -> aws_sdk_cleanrooms::operation::start_protected_job::builders::StartProtectedJobFluentBuilder {
    w.cr(&AUTHOR)
        .start_protected_job()
        .membership_identifier(w.author_membership())
        .r#type(cr::ProtectedJobType::Pyspark)
        .job_parameters(job_parameters(arn, params))
}

async fn start_job(w: &World, arn: &str, params: &[(&str, &str)]) -> cr::ProtectedJob {
    let out = ok(start_request(w, arn, params)
        .result_configuration(to_member(AUTHOR.account_id))
        .send()
        .await);
    out.protected_job().unwrap().clone()
}

async fn get_job(w: &World, id: &str) -> cr::ProtectedJob {
    ok(w.cr(&AUTHOR)
        .get_protected_job()
        .membership_identifier(w.author_membership())
        .protected_job_identifier(id)
        .send()
        .await)
    .protected_job()
    .unwrap()
    .clone()
}

fn terminal(status: &cr::ProtectedJobStatus) -> bool {
    matches!(
        status,
        cr::ProtectedJobStatus::Success | cr::ProtectedJobStatus::Failed | cr::ProtectedJobStatus::Cancelled
    )
}

/// Polls `GetProtectedJob` until the job is terminal.
async fn wait(w: &World, id: &str) -> cr::ProtectedJob {
    let deadline = Instant::now() + job_timeout();
    loop {
        let job = get_job(w, id).await;
        if terminal(job.status()) {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "job {id} is still {:?} after {:?}",
            job.status(),
            job_timeout()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The job `id` once it ended, which must be a success.
async fn wait_success(w: &World, id: &str) -> cr::ProtectedJob {
    let done = wait(w, id).await;
    assert_eq!(
        done.status(),
        &cr::ProtectedJobStatus::Success,
        "{:?}",
        done.error()
    );
    done
}

fn error_of(job: &cr::ProtectedJob) -> (&str, &str) {
    let e = job
        .error()
        .unwrap_or_else(|| panic!("job {} has no error: {job:?}", job.id()));
    (e.code(), e.message())
}

/// Fails unless the job `id` wrote nothing under the results bucket.
async fn assert_no_results(w: &World, id: &str) {
    let keys = keys_under(w, seed::RESULTS_BUCKET, &format!("jobs/{id}/")).await;
    assert!(keys.is_empty(), "{keys:?}");
}

async fn keys_under(w: &World, bucket: &str, prefix: &str) -> Vec<String> {
    let out = ok(w
        .s3(&AUTHOR)
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await);
    out.contents()
        .iter()
        .filter_map(|o| o.key())
        .map(str::to_string)
        .collect()
}

#[test]
fn the_seeded_sample_tables_join() {
    let customers: Vec<(&str, &str)> = seed::CUSTOMERS_CSV
        .lines()
        .skip(1)
        .map(|l| l.split_once(',').unwrap())
        .collect();
    assert_eq!(customers.len(), 6);
    let mut segments: Vec<&str> = customers.iter().map(|(_, s)| *s).collect();
    segments.sort();
    segments.dedup();
    assert_eq!(segments.len(), 3);
    let orders: Vec<Vec<&str>> = seed::ORDERS_CSV
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(orders.len(), 12);
    assert!(orders.iter().all(|o| customers.iter().any(|(c, _)| *c == o[1])));
    assert_eq!(
        seed::glue_location("222222222222", seed::GLUE_DATABASE, "orders"),
        (
            "crpack-sandbox-glue-222222222222".to_string(),
            "crpack_sandbox/orders.csv".to_string()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_approved_job_succeeds_and_writes_results() {
    let w = World::start().await;
    assert_eq!(w.info.results_bucket, seed::RESULTS_BUCKET);
    assert_eq!(w.info.glue_bucket, "crpack-sandbox-glue-222222222222");
    let t = publish_approved(&w, "succeeds").await;

    let started = ok(start_request(&w, &t.arn, &[("min_amount", "50")])
        .result_configuration(to_member(AUTHOR.account_id))
        .compute_configuration(workers(cr::ProtectedJobWorkerComputeType::Cr1X, 4))
        .send()
        .await);
    let job = started.protected_job().unwrap();
    assert_eq!(job.status(), &cr::ProtectedJobStatus::Submitted);
    assert_eq!(job.membership_id(), w.author_membership());
    assert_eq!(job.membership_arn(), w.info.author.membership_arn);
    assert!(job.statistics().is_none() && job.result().is_none());
    assert_eq!(job.job_parameters().unwrap().analysis_template_arn(), t.arn);
    match job
        .result_configuration()
        .unwrap()
        .output_configuration()
        .unwrap()
    {
        cr::ProtectedJobOutputConfigurationOutput::Member(m) => {
            assert_eq!(m.account_id(), AUTHOR.account_id)
        }
        other => panic!("{other:?}"),
    }

    let done = wait_success(&w, job.id()).await;
    let stats = done.statistics().expect("statistics");
    assert!(stats.total_duration_in_millis().unwrap() > 0);
    // 4 CR.1X workers for at least the one-minute minimum.
    let units = stats.billed_resource_utilization().unwrap().units();
    assert!(units >= 4.0 / 60.0 - 1e-6, "units {units}");
    match done.result().unwrap().output().unwrap() {
        cr::ProtectedJobOutput::MemberList(m) => {
            assert_eq!(m.len(), 1);
            assert_eq!(m[0].account_id(), AUTHOR.account_id);
        }
        other => panic!("{other:?}"),
    }

    let prefix = format!("{}/{}/", seed::RESULTS_KEY_PREFIX, job.id());
    let keys = keys_under(&w, seed::RESULTS_BUCKET, &prefix).await;
    if runtime() {
        assert!(
            !keys.is_empty()
                && keys.iter().all(|k| {
                    k.starts_with(&format!("{prefix}by_segment/part-")) && k.ends_with(".parquet")
                }),
            "{keys:?}"
        );
    } else {
        assert_eq!(keys, [format!("{prefix}{SIMULATED_MARKER}")]);
        let marker = ok(w
            .s3(&AUTHOR)
            .get_object()
            .bucket(seed::RESULTS_BUCKET)
            .key(&keys[0])
            .send()
            .await);
        let body = String::from_utf8(marker.body.collect().await.unwrap().to_vec()).unwrap();
        assert!(
            body.contains("simulated") && body.contains("no PySpark runtime"),
            "{body}"
        );
        assert!(body.contains(&t.arn) && body.contains(&t.entry_key), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unapproved_template_fails_naming_the_table() {
    let w = World::start().await;
    let t = publish(&w, "half-approved").await;
    approve(&w, &t.arn, &["orders"]).await;
    let job = start_job(&w, &t.arn, &[]).await;
    let done = wait(&w, job.id()).await;
    assert_eq!(done.status(), &cr::ProtectedJobStatus::Failed);
    let (code, message) = error_of(&done);
    assert_eq!(code, codes::ANALYSIS_TEMPLATE_NOT_ALLOWED);
    assert!(
        message.contains("table customers") && message.contains(&t.arn),
        "{message}"
    );
    assert!(done.statistics().is_some() && done.result().is_none());
    assert_no_results(&w, job.id()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deleted_artifact_version_fails_verification() {
    let w = World::start().await;
    let t = publish_approved(&w, "tampered").await;
    ok(w.s3(&AUTHOR)
        .delete_object()
        .bucket(&w.info.bucket)
        .key(&t.bundle_key)
        .version_id(&t.bundle_version)
        .send()
        .await);
    let job = start_job(&w, &t.arn, &[("min_amount", "1")]).await;
    let done = wait(&w, job.id()).await;
    assert_eq!(done.status(), &cr::ProtectedJobStatus::Failed);
    let (code, message) = error_of(&done);
    assert_eq!(code, codes::ARTIFACT_VERIFICATION_FAILED);
    let location = format!("s3://{}/{}", w.info.bucket, t.bundle_key);
    assert!(
        message.contains(&location) && message.contains(&t.bundle_version),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn missing_table_data_fails_the_job() {
    let w = World::start().await;
    let t = publish_approved(&w, "no-data").await;
    let customers_csv = w.s3(&PROVIDER).delete_object().bucket(&w.info.glue_bucket);
    ok(customers_csv.key("crpack_sandbox/customers.csv").send().await);
    let done = wait(&w, start_job(&w, &t.arn, &[]).await.id()).await;
    let (code, message) = error_of(&done);
    assert_eq!(code, codes::TABLE_DATA_NOT_FOUND);
    assert!(
        message.contains("s3://crpack-sandbox-glue-222222222222/crpack_sandbox/customers.csv"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancelling_a_job() {
    let w = World::start().await;
    let t = publish_approved(&w, "cancelled").await;
    let author = w.cr(&AUTHOR);
    let job = start_job(&w, &t.arn, &[]).await;
    let cancel = || {
        author
            .update_protected_job()
            .membership_identifier(w.author_membership())
            .protected_job_identifier(job.id())
            .target_status(cr::TargetProtectedJobStatus::Cancelled)
            .send()
    };
    let first = ok(cancel().await);
    let status = first.protected_job().unwrap().status().clone();
    assert!(
        matches!(
            status,
            cr::ProtectedJobStatus::Cancelling | cr::ProtectedJobStatus::Cancelled
        ),
        "{status:?}"
    );
    let done = wait(&w, job.id()).await;
    assert_eq!(done.status(), &cr::ProtectedJobStatus::Cancelled);
    assert!(done.error().is_none() && done.result().is_none());
    // Idempotent.
    let again = ok(cancel().await);
    assert_eq!(
        again.protected_job().unwrap().status(),
        &cr::ProtectedJobStatus::Cancelled
    );
    assert_no_results(&w, job.id()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn listing_jobs_paginates_and_filters_by_status() {
    let w = World::start().await;
    let t = publish(&w, "listed").await;
    // Not approved anywhere: every job fails.
    let author = w.cr(&AUTHOR);
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(start_job(&w, &t.arn, &[]).await.id().to_string());
    }
    ok(author
        .update_protected_job()
        .membership_identifier(w.author_membership())
        .protected_job_identifier(&ids[1])
        .target_status(cr::TargetProtectedJobStatus::Cancelled)
        .send()
        .await);
    for id in &ids {
        wait(&w, id).await;
    }

    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = ok(author
            .list_protected_jobs()
            .membership_identifier(w.author_membership())
            .max_results(1)
            .set_next_token(token.clone())
            .send()
            .await);
        assert!(page.protected_jobs().len() <= 1);
        for s in page.protected_jobs() {
            assert_eq!(s.membership_id(), w.author_membership());
            let receivers = s.receiver_configurations();
            assert_eq!(receivers.len(), 1);
            assert_eq!(
                receivers[0].analysis_type(),
                &cr::ProtectedJobAnalysisType::DirectAnalysis
            );
            seen.push(s.id().to_string());
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    // Newest first.
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);

    let with_status = |status: cr::ProtectedJobStatus| {
        let author = author.clone();
        let membership = w.author_membership().to_string();
        async move {
            ok(author
                .list_protected_jobs()
                .membership_identifier(membership)
                .status(status)
                .send()
                .await)
            .protected_jobs()
            .iter()
            .map(|s| s.id().to_string())
            .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        with_status(cr::ProtectedJobStatus::Failed).await,
        [ids[2].clone(), ids[0].clone()]
    );
    assert_eq!(
        with_status(cr::ProtectedJobStatus::Cancelled).await,
        [ids[1].clone()]
    );
    assert!(with_status(cr::ProtectedJobStatus::Success).await.is_empty());

    // A finished job cannot be cancelled: ConflictException.
    refused(
        author
            .update_protected_job()
            .membership_identifier(w.author_membership())
            .protected_job_identifier(&ids[0])
            .target_status(cr::TargetProtectedJobStatus::Cancelled)
            .send()
            .await,
        (409, "ConflictException"),
    );

    // Only the membership that started a job sees it.
    refused(
        w.cr(&PROVIDER)
            .get_protected_job()
            .membership_identifier(&w.info.provider.membership_id)
            .protected_job_identifier(&ids[0])
            .send()
            .await,
        (404, "ResourceNotFoundException"),
    );
    refused(
        w.cr(&PROVIDER)
            .list_protected_jobs()
            .membership_identifier(w.author_membership())
            .send()
            .await,
        (403, "AccessDeniedException"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn default_result_configuration_writes_to_the_members_s3_location() {
    let w = World::start().await;
    let t = publish_approved(&w, "default-output").await;
    let out = ok(start_request(&w, &t.arn, &[]).send().await);
    let job = out.protected_job().unwrap();
    match job
        .result_configuration()
        .unwrap()
        .output_configuration()
        .unwrap()
    {
        cr::ProtectedJobOutputConfigurationOutput::S3(s3) => {
            assert_eq!(s3.bucket(), seed::RESULTS_BUCKET);
            assert_eq!(s3.key_prefix(), Some(seed::RESULTS_KEY_PREFIX));
        }
        other => panic!("{other:?}"),
    }
    let done = wait_success(&w, job.id()).await;
    match done.result().unwrap().output().unwrap() {
        cr::ProtectedJobOutput::S3(s3) => assert_eq!(
            s3.location(),
            format!("s3://{}/jobs/{}/", seed::RESULTS_BUCKET, job.id())
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn start_checks_the_caller_the_template_and_the_request() {
    let w = World::start().await;
    let t = publish(&w, "checked").await;
    let author = w.cr(&AUTHOR);
    let start = |client: &Client, membership: &str, params: cr::ProtectedJobParameters| {
        client
            .start_protected_job()
            .membership_identifier(membership)
            .r#type(cr::ProtectedJobType::Pyspark)
            .job_parameters(params)
    };

    // The provider's membership has no abilities: no CAN_RUN_JOB.
    let e = refused(
        start(
            &w.cr(&PROVIDER),
            &w.info.provider.membership_id,
            job_parameters(&t.arn, &[]),
        )
        .send()
        .await,
        (403, "AccessDeniedException"),
    );
    assert!(e.message().unwrap().contains("CAN_RUN_JOB"), "{e:?}");
    // Someone else's membership.
    refused(
        start(
            &w.cr(&OUTSIDER),
            w.author_membership(),
            job_parameters(&t.arn, &[]),
        )
        .send()
        .await,
        (403, "AccessDeniedException"),
    );

    // An undeclared parameter.
    let e = refused(
        start(
            &author,
            w.author_membership(),
            job_parameters(&t.arn, &[("nope", "1")]),
        )
        .send()
        .await,
        (400, "ValidationException"),
    );
    match e {
        aws_sdk_cleanrooms::operation::start_protected_job::StartProtectedJobError::ValidationException(
            v,
        ) => {
            assert_eq!(
                v.reason(),
                Some(&cr::ValidationExceptionReason::FieldValidationFailed)
            );
            let fields: Vec<(&str, &str)> = v.field_list().iter().map(|f| (f.name(), f.message())).collect();
            assert_eq!(fields.len(), 1, "{fields:?}");
            assert_eq!(fields[0].0, "jobParameters.parameters");
            assert!(
                fields[0].1.contains("nope") && fields[0].1.contains("min_amount"),
                "{fields:?}"
            );
        }
        other => panic!("{other:?}"),
    }

    // A template that is not in the collaboration.
    let missing = t.arn.rsplit_once('/').unwrap().0.to_string() + "/00000000-0000-4000-8000-000000000000";
    refused(
        start(&author, w.author_membership(), job_parameters(&missing, &[]))
            .send()
            .await,
        (404, "ResourceNotFoundException"),
    );

    // Too many workers: the model allows 1024 of either type.
    let e = refused(
        start(&author, w.author_membership(), job_parameters(&t.arn, &[]))
            .compute_configuration(workers(cr::ProtectedJobWorkerComputeType::Cr4X, 1025))
            .send()
            .await,
        (400, "ValidationException"),
    );
    assert!(e.message().unwrap().contains("1024"), "{e:?}");
    let (_, code, _) = fault(
        start(&author, w.author_membership(), job_parameters(&t.arn, &[]))
            .compute_configuration(workers(cr::ProtectedJobWorkerComputeType::Cr1X, 3))
            .send()
            .await,
    );
    assert_eq!(code, "ValidationException");

    // The provider cannot receive results.
    let e = refused(
        start(&author, w.author_membership(), job_parameters(&t.arn, &[]))
            .result_configuration(to_member(PROVIDER.account_id))
            .send()
            .await,
        (400, "ValidationException"),
    );
    assert!(e.message().unwrap().contains("CAN_RECEIVE_RESULTS"), "{e:?}");

    // Nothing was started by the refused calls.
    let listed = ok(author
        .list_protected_jobs()
        .membership_identifier(w.author_membership())
        .send()
        .await);
    assert!(listed.protected_jobs().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_fails_jobs_that_were_running() {
    let w = World::start().await;
    let t = publish(&w, "interrupted").await;
    let job = start_job(&w, &t.arn, &[]).await;
    wait(&w, job.id()).await;
    let World { sb, info, dir } = w;
    sb.stop().await;
    // Make the persisted job look as if the sandbox had stopped while it ran.
    let path = dir.path().join("cleanrooms.json");
    let mut state: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let jobs = state["jobs"].as_array_mut().unwrap();
    assert_eq!(jobs.len(), 1);
    let doc = jobs[0]["doc"].as_object_mut().unwrap();
    doc.insert("status".into(), "STARTED".into());
    doc.remove("error");
    doc.remove("statistics");
    std::fs::write(&path, serde_json::to_vec(&state).unwrap()).unwrap();

    let sb = sandbox_at(dir.path()).await;
    let w = World { sb, info, dir };
    let job = get_job(&w, job.id()).await;
    assert_eq!(job.status(), &cr::ProtectedJobStatus::Failed);
    let (code, message) = error_of(&job);
    assert_eq!(code, codes::INTERNAL_ERROR);
    assert!(message.contains("restart"), "{message}");
}
