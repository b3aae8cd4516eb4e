//! `crpack sandbox --seed`: a ready world created through the public APIs with the real SDK
//! clients, so it works against any running sandbox (in-process or another process).
//!
//! As the author: a `SPARK` collaboration named `crpack-sandbox` in which the author can query,
//! run jobs and receive results and pays for query and job compute, with the provider invited as
//! a data provider (no abilities); the author's membership; and a versioned artifact bucket
//! `crpack-sandbox-artifacts`. As the provider: its membership, and configured tables `orders`
//! (`order_id`, `customer_id`, `amount`) and `customers` (`customer_id`, `segment`), each
//! `DIRECT_JOB`, with a `CUSTOM` analysis rule whose `allowedAnalyses` is empty (the model allows
//! an empty list; it blocks every analysis until the provider approves a template), associated
//! to the provider's membership under the same names.
//!
//! For protected jobs: the author's membership gets a `defaultJobResultConfiguration` writing to
//! the author-owned bucket `crpack-sandbox-results` ([`RESULTS_BUCKET`], not versioned) under the
//! key prefix [`RESULTS_KEY_PREFIX`], through the role [`RESULTS_ROLE_ARN`]; a job's results land
//! at `s3://crpack-sandbox-results/jobs/<jobId>/<resultName>/part-*.parquet` (or, for a run
//! simulated without a PySpark runtime, a `_SIMULATED` marker at `…/jobs/<jobId>/_SIMULATED`).
//!
//! **Glue emulation.** The provider's configured tables reference Glue tables
//! ([`GLUE_DATABASE`]`.orders` and `.customers`). The sandbox has no Glue: it reads a Glue table's
//! data from the CSV object (header row first) `s3://crpack-sandbox-glue-<owner account>/<databaseName>/<tableName>.csv`
//! in the table owner's account ([`glue_location`]). The seed creates the provider's bucket
//! `crpack-sandbox-glue-222222222222` as the provider and uploads [`ORDERS_CSV`] and
//! [`CUSTOMERS_CSV`] there (only if missing, so edited sample data survives a re-seed). Every
//! order's `customer_id` is in `customers`, so joining the two yields all 12 orders.
//!
//! Seeding is idempotent: each step first looks for what an earlier seed created (by name) and
//! only creates what is missing, so seeding a restarted sandbox with persisted state returns the
//! same ids.

use aws_sdk_cleanrooms::types as cr;
use aws_smithy_types::error::display::DisplayErrorContext;
use serde::{Deserialize, Serialize};

use super::REGION;
use super::identity::{self, Identity};

/// The seeded collaboration's name.
pub const COLLABORATION_NAME: &str = "crpack-sandbox";
/// The seeded, versioned artifact bucket (owned by the author).
pub const BUCKET: &str = "crpack-sandbox-artifacts";
/// The role the author names in `source.artifacts.roleArn` (the sandbox reads artifacts as the
/// role's account, the author).
pub const ROLE_ARN: &str = "arn:aws:iam::111111111111:role/service-role/cleanrooms-pyspark-read";
/// The role the provider's table associations name.
pub const TABLE_ROLE_ARN: &str = "arn:aws:iam::222222222222:role/service-role/cleanrooms-table-read";
/// The bucket the author receives protected job results in (owned by the author, not
/// versioned).
pub const RESULTS_BUCKET: &str = "crpack-sandbox-results";
/// The key prefix of the author's `defaultJobResultConfiguration`.
pub const RESULTS_KEY_PREFIX: &str = "jobs";
/// The role of the author's `defaultJobResultConfiguration` (the sandbox writes results as its
/// account, the author).
pub const RESULTS_ROLE_ARN: &str = "arn:aws:iam::111111111111:role/service-role/cleanrooms-results-write";
/// The Glue database the provider's configured tables reference.
pub const GLUE_DATABASE: &str = "crpack_sandbox";
/// The sample data of the Glue table `crpack_sandbox.orders` (12 rows).
pub const ORDERS_CSV: &str = "order_id,customer_id,amount
1,c1,120.50
2,c2,35.00
3,c1,80.25
4,c3,15.75
5,c4,200.00
6,c5,42.10
7,c2,64.90
8,c6,99.99
9,c3,10.00
10,c4,55.55
11,c5,300.00
12,c6,7.25
";
/// The sample data of the Glue table `crpack_sandbox.customers` (6 rows, 3 segments).
pub const CUSTOMERS_CSV: &str = "customer_id,segment
c1,retail
c2,retail
c3,wholesale
c4,wholesale
c5,online
c6,online
";

/// Where the sandbox reads the data of Glue table `database.table` owned by `account`:
/// `(bucket, key)` = `("crpack-sandbox-glue-<account>", "<database>/<table>.csv")`.
pub fn glue_location(account: &str, database: &str, table: &str) -> (String, String) {
    super::cleanrooms::glue_location(account, database, table)
}

/// The provider's seeded tables and their columns.
pub const TABLES: [(&str, &[&str]); 2] = [
    ("orders", &["order_id", "customer_id", "amount"]),
    ("customers", &["customer_id", "segment"]),
];

/// What the seed created: everything a test or a user needs to act as each identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedInfo {
    /// The sandbox endpoint (for `AWS_ENDPOINT_URL`).
    pub endpoint: String,
    /// The region (`us-east-1`).
    pub region: String,
    /// The collaboration's id (a lowercase UUID).
    pub collaboration_id: String,
    /// The collaboration's ARN.
    pub collaboration_arn: String,
    /// The template author: can query, run jobs and receive results; owns the bucket.
    pub author: SeededMember,
    /// The data provider: owns the configured tables.
    pub provider: SeededMember,
    /// An identity that is not a member of the collaboration.
    pub outsider: SeededIdentity,
    /// The versioned artifact bucket (`crpack-sandbox-artifacts`).
    pub bucket: String,
    /// The artifact-reading role for `source.artifacts.roleArn`
    /// (`arn:aws:iam::111111111111:role/service-role/cleanrooms-pyspark-read`).
    pub role_arn: String,
    /// The provider's configured tables, in the order of [`TABLES`].
    pub tables: Vec<SeededTable>,
    /// The author's job results bucket (`crpack-sandbox-results`).
    #[serde(default)]
    pub results_bucket: String,
    /// The key prefix of the author's default job result location (`jobs`): results go to
    /// `s3://<results_bucket>/<results_key_prefix>/<jobId>/`.
    #[serde(default)]
    pub results_key_prefix: String,
    /// The provider's Glue emulation bucket (`crpack-sandbox-glue-222222222222`).
    #[serde(default)]
    pub glue_bucket: String,
}

/// An identity's credentials and account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeededIdentity {
    /// The 12-digit account id.
    pub account_id: String,
    /// The SigV4 access key id.
    pub access_key_id: String,
    /// The SigV4 secret access key.
    pub secret_access_key: String,
}

/// A member identity and its membership in the seeded collaboration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeededMember {
    /// The member's credentials (flattened into this object in JSON).
    #[serde(flatten)]
    pub identity: SeededIdentity,
    /// The membership id (a lowercase UUID).
    pub membership_id: String,
    /// The membership ARN.
    pub membership_arn: String,
}

/// One of the provider's tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeededTable {
    /// The table's name: the configured table's, the association's and the schema's.
    pub name: String,
    /// The configured table id.
    pub configured_table_id: String,
    /// The configured table ARN.
    pub configured_table_arn: String,
    /// The configured table association id (in the provider's membership).
    pub association_id: String,
}

impl SeedInfo {
    /// The environment that makes AWS clients act as `who` against this sandbox:
    /// `AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`.
    pub fn env_for(&self, who: &SeededIdentity) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".into(), self.endpoint.clone()),
            ("AWS_REGION".into(), self.region.clone()),
            ("AWS_ACCESS_KEY_ID".into(), who.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY".into(), who.secret_access_key.clone()),
        ]
    }
}

impl From<&Identity> for SeededIdentity {
    fn from(i: &Identity) -> Self {
        SeededIdentity {
            account_id: i.account_id.to_string(),
            access_key_id: i.access_key_id.to_string(),
            secret_access_key: i.secret_access_key.to_string(),
        }
    }
}

/// Why seeding failed: the step and the service's answer.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {message}")]
pub struct SeedError {
    /// What the seed was doing (`create the collaboration`).
    pub step: String,
    /// The error, with its causes.
    pub message: String,
}

fn fail<E: std::error::Error>(step: &str) -> impl FnOnce(E) -> SeedError + '_ {
    move |e| SeedError {
        step: step.to_string(),
        message: DisplayErrorContext(e).to_string(),
    }
}

fn build(step: &str) -> impl FnOnce(aws_smithy_types::error::operation::BuildError) -> SeedError + '_ {
    fail(step)
}

fn missing(step: &str, what: &str) -> SeedError {
    SeedError {
        step: step.to_string(),
        message: format!("the response has no {what}"),
    }
}

/// Every item of the paginated list request `$request`, or the failure of step `$step`.
macro_rules! all_items {
    ($request:expr, $step:expr) => {
        $request
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(fail($step))
    };
}

/// A payment configuration of type `$config` in which the member pays, or the failure of step
/// `$step` to build it.
macro_rules! responsible {
    ($config:ty, $step:expr) => {
        <$config>::builder()
            .is_responsible(true)
            .build()
            .map_err(build($step))
    };
}

/// Creates `bucket` unless it exists.
async fn ensure_bucket_exists(s3: &aws_sdk_s3::Client, bucket: &str, step: &str) -> Result<(), SeedError> {
    if s3.head_bucket().bucket(bucket).send().await.is_err() {
        s3.create_bucket()
            .bucket(bucket)
            .send()
            .await
            .map_err(fail(step))?;
    }
    Ok(())
}

fn credentials(who: &Identity) -> aws_credential_types::Credentials {
    aws_credential_types::Credentials::new(
        who.access_key_id,
        who.secret_access_key,
        None,
        None,
        "crpack-sandbox-seed",
    )
}

/// The configuration builder of the SDK crate `$sdk` for a client acting as `$who` against
/// `$endpoint`.
macro_rules! client_config {
    ($sdk:ident, $endpoint:expr, $who:expr) => {
        $sdk::Config::builder()
            .behavior_version($sdk::config::BehaviorVersion::latest())
            .endpoint_url($endpoint)
            .region($sdk::config::Region::new(REGION))
            .credentials_provider(credentials($who))
    };
}

/// A Clean Rooms client acting as `who` against `endpoint`.
pub fn cleanrooms_client(endpoint: &str, who: &Identity) -> aws_sdk_cleanrooms::Client {
    aws_sdk_cleanrooms::Client::from_conf(client_config!(aws_sdk_cleanrooms, endpoint, who).build())
}

/// An S3 client (path-style) acting as `who` against `endpoint`.
pub fn s3_client(endpoint: &str, who: &Identity) -> aws_sdk_s3::Client {
    let conf = client_config!(aws_sdk_s3, endpoint, who).force_path_style(true);
    aws_sdk_s3::Client::from_conf(conf.build())
}

/// Creates (or finds, if an earlier seed made it) the seeded world on the sandbox at `endpoint`.
pub async fn seed(endpoint: &str) -> Result<SeedInfo, SeedError> {
    let author = cleanrooms_client(endpoint, &identity::AUTHOR);
    let provider = cleanrooms_client(endpoint, &identity::PROVIDER);

    let (collaboration_id, collaboration_arn) = ensure_collaboration(&author).await?;
    let step = "author payment configuration";
    let author_payment = cr::MembershipPaymentConfiguration::builder()
        .query_compute(responsible!(cr::MembershipQueryComputePaymentConfig, step)?)
        .job_compute(responsible!(cr::MembershipJobComputePaymentConfig, step)?)
        .build();
    let (author_membership_id, author_membership_arn) =
        ensure_membership(&author, &collaboration_id, Some(author_payment), "author").await?;
    let author_s3 = s3_client(endpoint, &identity::AUTHOR);
    ensure_bucket(&author_s3).await?;
    ensure_job_results(&author, &author_s3, &author_membership_id).await?;
    let (provider_membership_id, provider_membership_arn) =
        ensure_membership(&provider, &collaboration_id, None, "provider").await?;
    let mut tables = Vec::new();
    for (name, columns) in TABLES {
        tables.push(ensure_table(&provider, &provider_membership_id, name, columns).await?);
    }
    let glue_bucket = ensure_glue_data(&s3_client(endpoint, &identity::PROVIDER)).await?;
    Ok(SeedInfo {
        endpoint: endpoint.to_string(),
        region: REGION.to_string(),
        collaboration_id,
        collaboration_arn,
        author: SeededMember {
            identity: (&identity::AUTHOR).into(),
            membership_id: author_membership_id,
            membership_arn: author_membership_arn,
        },
        provider: SeededMember {
            identity: (&identity::PROVIDER).into(),
            membership_id: provider_membership_id,
            membership_arn: provider_membership_arn,
        },
        outsider: (&identity::OUTSIDER).into(),
        bucket: BUCKET.to_string(),
        role_arn: ROLE_ARN.to_string(),
        tables,
        results_bucket: RESULTS_BUCKET.to_string(),
        results_key_prefix: RESULTS_KEY_PREFIX.to_string(),
        glue_bucket,
    })
}

/// The author's results bucket and `defaultJobResultConfiguration` (set only if missing or
/// different).
async fn ensure_job_results(
    author: &aws_sdk_cleanrooms::Client,
    s3: &aws_sdk_s3::Client,
    membership_id: &str,
) -> Result<(), SeedError> {
    ensure_bucket_exists(s3, RESULTS_BUCKET, "create the job results bucket").await?;
    let step = "set the author's default job result configuration";
    let wanted = cr::MembershipProtectedJobResultConfiguration::builder()
        .output_configuration(cr::MembershipProtectedJobOutputConfiguration::S3(
            cr::ProtectedJobS3OutputConfigurationInput::builder()
                .bucket(RESULTS_BUCKET)
                .key_prefix(RESULTS_KEY_PREFIX)
                .build()
                .map_err(build(step))?,
        ))
        .role_arn(RESULTS_ROLE_ARN)
        .build()
        .map_err(build(step))?;
    let current = author
        .get_membership()
        .membership_identifier(membership_id)
        .send()
        .await
        .map_err(fail(step))?;
    let current = current
        .membership()
        .and_then(|m| m.default_job_result_configuration());
    if current != Some(&wanted) {
        author
            .update_membership()
            .membership_identifier(membership_id)
            .default_job_result_configuration(wanted)
            .send()
            .await
            .map_err(fail(step))?;
    }
    Ok(())
}

/// The provider's Glue emulation bucket and the tables' sample CSVs (uploaded only if missing);
/// returns the bucket's name.
async fn ensure_glue_data(s3: &aws_sdk_s3::Client) -> Result<String, SeedError> {
    let mut bucket_name = String::new();
    for (table, csv) in [("orders", ORDERS_CSV), ("customers", CUSTOMERS_CSV)] {
        let (bucket, key) = glue_location(identity::PROVIDER.account_id, GLUE_DATABASE, table);
        if bucket_name.is_empty() {
            ensure_bucket_exists(s3, &bucket, "create the provider's Glue emulation bucket").await?;
            bucket_name = bucket.clone();
        }
        let step = format!("upload the sample data of {table}");
        if s3.head_object().bucket(&bucket).key(&key).send().await.is_err() {
            s3.put_object()
                .bucket(&bucket)
                .key(&key)
                .content_type("text/csv")
                .body(aws_sdk_s3::primitives::ByteStream::from_static(csv.as_bytes()))
                .send()
                .await
                .map_err(fail(&step))?;
        }
    }
    Ok(bucket_name)
}

async fn ensure_collaboration(author: &aws_sdk_cleanrooms::Client) -> Result<(String, String), SeedError> {
    let step = "list the author's collaborations";
    let existing = all_items!(author.list_collaborations(), step)?;
    if let Some(c) = existing
        .iter()
        .find(|c| c.name() == COLLABORATION_NAME && c.creator_account_id() == identity::AUTHOR.account_id)
    {
        return Ok((c.id().to_string(), c.arn().to_string()));
    }
    let step = "create the collaboration";
    let provider = cr::MemberSpecification::builder()
        .account_id(identity::PROVIDER.account_id)
        .display_name("provider")
        .set_member_abilities(Some(Vec::new()))
        .build()
        .map_err(build(step))?;
    let payment = cr::PaymentConfiguration::builder()
        .query_compute(responsible!(cr::QueryComputePaymentConfig, step)?)
        .job_compute(responsible!(cr::JobComputePaymentConfig, step)?)
        .build();
    let out = author
        .create_collaboration()
        .name(COLLABORATION_NAME)
        .description("The crpack sandbox: the author writes PySpark templates, the provider owns the tables.")
        .creator_display_name("author")
        .creator_member_abilities(cr::MemberAbility::CanQuery)
        .creator_member_abilities(cr::MemberAbility::CanRunJob)
        .creator_member_abilities(cr::MemberAbility::CanReceiveResults)
        .creator_payment_configuration(payment)
        .members(provider)
        .query_log_status(cr::CollaborationQueryLogStatus::Disabled)
        .job_log_status(cr::CollaborationJobLogStatus::Disabled)
        .analytics_engine(cr::AnalyticsEngine::Spark)
        .send()
        .await
        .map_err(fail(step))?;
    let c = out
        .collaboration()
        .ok_or_else(|| missing(step, "collaboration"))?;
    Ok((c.id().to_string(), c.arn().to_string()))
}

async fn ensure_membership(
    client: &aws_sdk_cleanrooms::Client,
    collaboration_id: &str,
    payment: Option<cr::MembershipPaymentConfiguration>,
    who: &str,
) -> Result<(String, String), SeedError> {
    let step = format!("list the {who}'s memberships");
    let existing = all_items!(client.list_memberships(), &step)?;
    if let Some(m) = existing.iter().find(|m| m.collaboration_id() == collaboration_id) {
        return Ok((m.id().to_string(), m.arn().to_string()));
    }
    let step = format!("create the {who}'s membership");
    let out = client
        .create_membership()
        .collaboration_identifier(collaboration_id)
        .query_log_status(cr::MembershipQueryLogStatus::Disabled)
        .job_log_status(cr::MembershipJobLogStatus::Disabled)
        .set_payment_configuration(payment)
        .send()
        .await
        .map_err(fail(&step))?;
    let m = out.membership().ok_or_else(|| missing(&step, "membership"))?;
    Ok((m.id().to_string(), m.arn().to_string()))
}

async fn ensure_bucket(s3: &aws_sdk_s3::Client) -> Result<(), SeedError> {
    ensure_bucket_exists(s3, BUCKET, "create the artifact bucket").await?;
    let step = "enable versioning on the artifact bucket";
    s3.put_bucket_versioning()
        .bucket(BUCKET)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .map_err(fail(step))?;
    Ok(())
}

/// The id and ARN of the configured table a response of `step` holds.
fn table_ids(table: Option<&cr::ConfiguredTable>, step: &str) -> Result<(String, String), SeedError> {
    let table = table.ok_or_else(|| missing(step, "configuredTable"))?;
    Ok((table.id().to_string(), table.arn().to_string()))
}

async fn ensure_table(
    provider: &aws_sdk_cleanrooms::Client,
    membership_id: &str,
    name: &str,
    columns: &[&str],
) -> Result<SeededTable, SeedError> {
    let step = format!("list the provider's table associations for {name}");
    let existing = all_items!(
        provider
            .list_configured_table_associations()
            .membership_identifier(membership_id),
        &step
    )?;
    if let Some(a) = existing.iter().find(|a| a.name() == name) {
        let step = format!("read configured table {name}");
        let request = provider
            .get_configured_table()
            .configured_table_identifier(a.configured_table_id());
        let out = request.send().await.map_err(fail(&step))?;
        let (configured_table_id, configured_table_arn) = table_ids(out.configured_table(), &step)?;
        return Ok(SeededTable {
            name: name.to_string(),
            configured_table_id,
            configured_table_arn,
            association_id: a.id().to_string(),
        });
    }

    let step = format!("create configured table {name}");
    let reference = cr::TableReference::Glue(
        cr::GlueTableReference::builder()
            .database_name(GLUE_DATABASE)
            .table_name(name)
            .build()
            .map_err(build(&step))?,
    );
    let out = provider
        .create_configured_table()
        .name(name)
        .description(format!(
            "The sandbox's {name} table (Glue {GLUE_DATABASE}.{name}, read from s3://crpack-sandbox-glue-{}/{GLUE_DATABASE}/{name}.csv).",
            identity::PROVIDER.account_id
        ))
        .table_reference(reference)
        .set_allowed_columns(Some(columns.iter().map(|c| c.to_string()).collect()))
        .analysis_method(cr::AnalysisMethod::DirectJob)
        .send()
        .await
        .map_err(fail(&step))?;
    let (table_id, table_arn) = table_ids(out.configured_table(), &step)?;

    let step = format!("create the CUSTOM analysis rule of {name}");
    let custom = cr::AnalysisRuleCustom::builder()
        .set_allowed_analyses(Some(Vec::new()))
        .build()
        .map_err(build(&step))?;
    provider
        .create_configured_table_analysis_rule()
        .configured_table_identifier(&table_id)
        .analysis_rule_type(cr::ConfiguredTableAnalysisRuleType::Custom)
        .analysis_rule_policy(cr::ConfiguredTableAnalysisRulePolicy::V1(
            cr::ConfiguredTableAnalysisRulePolicyV1::Custom(custom),
        ))
        .send()
        .await
        .map_err(fail(&step))?;

    let step = format!("associate configured table {name}");
    let out = provider
        .create_configured_table_association()
        .membership_identifier(membership_id)
        .configured_table_identifier(&table_id)
        .name(name)
        .role_arn(TABLE_ROLE_ARN)
        .send()
        .await
        .map_err(fail(&step))?;
    let association = out
        .configured_table_association()
        .ok_or_else(|| missing(&step, "configuredTableAssociation"))?;
    Ok(SeededTable {
        name: name.to_string(),
        configured_table_id: table_id,
        configured_table_arn: table_arn,
        association_id: association.id().to_string(),
    })
}
