//! The sandbox's Clean Rooms endpoint, driven by the real `aws-sdk-cleanrooms` and `aws-sdk-s3`
//! clients against an in-process sandbox (and, for wire-format details, by raw requests to the
//! endpoint itself).

use std::future::Future;
use std::path::Path;
use std::pin::Pin;

use aws_sdk_cleanrooms::Client;
use aws_sdk_cleanrooms::config::http::HttpResponse;
use aws_sdk_cleanrooms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cleanrooms::operation::create_analysis_template::CreateAnalysisTemplateError;
use aws_sdk_cleanrooms::operation::create_collaboration::builders::CreateCollaborationFluentBuilder;
use aws_sdk_cleanrooms::operation::create_membership::builders::CreateMembershipFluentBuilder;
use aws_sdk_cleanrooms::types as cr;
use aws_sdk_cleanrooms::types::Hash as ArtifactHash;
use aws_smithy_types::error::display::DisplayErrorContext;
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::common::{fault, ok, sandbox_at, template_artifact};
use crpack_sandbox::Sandbox;
use crpack_sandbox::cleanrooms::{CleanRoomsEndpoint, ROUTES};
use crpack_sandbox::identity::{self, AUTHOR, Identity, OUTSIDER, PROVIDER};
use crpack_sandbox::seed::{self, SeedInfo, cleanrooms_client, s3_client};

fn client(sb: &Sandbox, who: &Identity) -> Client {
    cleanrooms_client(&sb.endpoint(), who)
}

/// The author's, the provider's and the outsider's clients.
fn clients(sb: &Sandbox) -> (Client, Client, Client) {
    (client(sb, &AUTHOR), client(sb, &PROVIDER), client(sb, &OUTSIDER))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// One raw request to an endpoint: status, `x-amzn-errortype`, JSON body (Null when empty).
async fn raw(
    ep: &CleanRoomsEndpoint,
    who: &'static Identity,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Option<String>, Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(Bytes::from(body.map(|b| b.to_string()).unwrap_or_default()))
        .unwrap();
    let resp = ep.handle(who, req).await;
    let status = resp.status().as_u16();
    let code = resp
        .headers()
        .get("x-amzn-errortype")
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("JSON body")
    };
    (status, code, body)
}

fn memory_endpoint() -> CleanRoomsEndpoint {
    CleanRoomsEndpoint::open(None, "http://127.0.0.1:9".into()).unwrap()
}

/// CreateCollaboration `name` as the author, with no other members and query logs off; the
/// caller adds the creator's abilities and the rest.
fn new_collaboration(author: &Client, name: &str) -> CreateCollaborationFluentBuilder {
    author
        .create_collaboration()
        .name(name)
        .creator_display_name("author")
        .set_members(Some(vec![]))
        .query_log_status(cr::CollaborationQueryLogStatus::Disabled)
}

/// CreateMembership in `collaboration` for the client's account, query logs off.
fn join(who: &Client, collaboration: &str) -> CreateMembershipFluentBuilder {
    who.create_membership()
        .collaboration_identifier(collaboration)
        .query_log_status(cr::MembershipQueryLogStatus::Disabled)
}

/// GetCollaboration `id` as `who`, which must succeed.
async fn collaboration(who: &Client, id: &str) -> cr::Collaboration {
    let out = ok(who.get_collaboration().collaboration_identifier(id).send().await);
    out.collaboration().unwrap().clone()
}

/// GetMembership `id` as `who`, which must succeed.
async fn membership(who: &Client, id: &str) -> cr::Membership {
    let out = ok(who.get_membership().membership_identifier(id).send().await);
    out.membership().unwrap().clone()
}

/// What `name` says of each of `items`, in order (the names of a listing's summaries).
fn names<'a, T>(items: &'a [T], name: impl Fn(&'a T) -> &'a str) -> Vec<&'a str> {
    items.iter().map(name).collect()
}

/// A Glue table `database.table`.
fn glue_table(database: &str, table: &str) -> cr::TableReference {
    cr::TableReference::Glue(
        cr::GlueTableReference::builder()
            .database_name(database)
            .table_name(table)
            .build()
            .unwrap(),
    )
}

/// A call that must fail, as the HTTP status and error code it answers with; it is sent when
/// awaited, so a table of them runs in order.
type Refusal<'a> = Pin<Box<dyn Future<Output = (u16, String)> + 'a>>;

/// The request `call` (a `send()`) as a [`Refusal`]; anything but a service error fails the test.
fn refused<'a, T, E>(call: impl Future<Output = Result<T, SdkError<E, HttpResponse>>> + 'a) -> Refusal<'a>
where
    T: std::fmt::Debug,
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    Box::pin(async move {
        let (status, code, _) = fault(call.await.unwrap_err());
        (status, code)
    })
}

/// The status (`None` where any will do) and error code a refusal must answer with.
type Expected = (Option<u16>, &'static str);
const DENIED: Expected = (Some(403), "AccessDeniedException");
const NOT_FOUND: Expected = (Some(404), "ResourceNotFoundException");
const CONFLICT: Expected = (Some(409), "ConflictException");
const BAD_REQUEST: Expected = (Some(400), "ValidationException");
const INVALID: Expected = (None, "ValidationException");

/// Sends each case's call in turn: each must fail as its row expects (the row's first member
/// says what it checks).
async fn expect_refusals(cases: Vec<(&str, Refusal<'_>, Expected)>) {
    for (what, call, (status, code)) in cases {
        let (got_status, got_code) = call.await;
        assert_eq!(got_code, code, "{what}");
        if let Some(status) = status {
            assert_eq!(got_status, status, "{what}");
        }
    }
}

#[test]
fn route_table_matches_the_model_fixture() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cleanrooms-routes.json");
    let fixture: Vec<Value> = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let table: Vec<Value> = ROUTES
        .iter()
        .map(|r| json!({ "name": r.name, "method": r.method, "requestUri": r.uri, "responseCode": r.code }))
        .collect();
    assert_eq!(table, fixture);
    assert_eq!(table.len(), 35);
    let deletes: Vec<&str> = ROUTES.iter().filter(|r| r.code == 204).map(|r| r.name).collect();
    assert_eq!(
        deletes,
        [
            "DeleteConfiguredTable",
            "DeleteConfiguredTableAnalysisRule",
            "DeleteConfiguredTableAssociation",
            "DeleteAnalysisTemplate"
        ]
    );
}

#[tokio::test]
async fn unknown_paths_and_methods_get_unknown_operation() {
    let ep = memory_endpoint();
    let (status, code, body) = raw(&ep, &AUTHOR, "GET", "/no/such/thing", None).await;
    assert_eq!(
        (status, code.as_deref()),
        (404, Some("UnknownOperationException"))
    );
    assert!(body["message"].as_str().unwrap().contains("/no/such/thing"));
    let (status, code, _) = raw(&ep, &AUTHOR, "PUT", "/collaborations", None).await;
    assert_eq!(
        (status, code.as_deref()),
        (404, Some("UnknownOperationException"))
    );
    let (status, code, _) = raw(&ep, &AUTHOR, "POST", "/collaborations", Some(json!([1]))).await;
    assert_eq!((status, code.as_deref()), (400, Some("SerializationException")));
}

#[tokio::test]
async fn wire_format_of_successes_and_errors() {
    let ep = memory_endpoint();
    let create = json!({
        "name": "wire", "creatorDisplayName": "author", "creatorMemberAbilities": ["CAN_QUERY"],
        "members": [], "queryLogStatus": "DISABLED"
    });
    let (status, code, body) = raw(&ep, &AUTHOR, "POST", "/collaborations", Some(create)).await;
    assert_eq!((status, code), (200, None));
    let c = &body["collaboration"];
    assert!(
        c["createTime"].is_f64() || c["createTime"].is_u64(),
        "epoch seconds: {c}"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((c["createTime"].as_f64().unwrap() - now).abs() < 60.0);
    let id = c["id"].as_str().unwrap();
    assert_eq!(id, id.to_lowercase());
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().to_string(), id);
    assert_eq!(
        c["arn"],
        json!(format!(
            "arn:aws:cleanrooms:us-east-1:111111111111:collaboration/{id}"
        ))
    );
    assert_eq!(c["memberStatus"], "INVITED");
    assert!(c.get("membershipId").is_none());

    // A bad label and a bad query parameter: FIELD_VALIDATION_FAILED naming both members.
    let (status, code, body) = raw(
        &ep,
        &AUTHOR,
        "GET",
        "/collaborations/NOT-A-UUID/members?maxResults=0",
        None,
    )
    .await;
    assert_eq!((status, code.as_deref()), (400, Some("ValidationException")));
    assert_eq!(body["reason"], "FIELD_VALIDATION_FAILED");
    let names: Vec<&str> = crate::common::strings_of(&body["fieldList"], "name");
    // The label breaks both its pattern and its length; each violation is listed.
    assert_eq!(
        names,
        ["collaborationIdentifier", "collaborationIdentifier", "maxResults"]
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("3 validation errors detected")
    );

    // Not-found and conflict bodies carry the shape's members.
    let missing = "00000000-0000-4000-8000-000000000000";
    let (status, code, body) = raw(&ep, &AUTHOR, "GET", &format!("/memberships/{missing}"), None).await;
    assert_eq!(
        (status, code.as_deref()),
        (404, Some("ResourceNotFoundException"))
    );
    assert_eq!(body["resourceId"], missing);
    assert_eq!(body["resourceType"], "MEMBERSHIP");
    let join = json!({ "collaborationIdentifier": id, "queryLogStatus": "DISABLED" });
    let (status, _, first) = raw(&ep, &AUTHOR, "POST", "/memberships", Some(join.clone())).await;
    assert_eq!(status, 200);
    let (status, code, body) = raw(&ep, &AUTHOR, "POST", "/memberships", Some(join)).await;
    assert_eq!((status, code.as_deref()), (409, Some("ConflictException")));
    assert_eq!(body["reason"], "ALREADY_EXISTS");
    assert_eq!(body["resourceType"], "MEMBERSHIP");
    assert_eq!(body["resourceId"], first["membership"]["id"]);
    let (status, code, body) = raw(&ep, &OUTSIDER, "GET", &format!("/collaborations/{id}"), None).await;
    assert_eq!((status, code.as_deref()), (403, Some("AccessDeniedException")));
    assert_eq!(body["reason"], "INSUFFICIENT_PERMISSIONS");

    // Deletes answer 204 with an empty body; a policy keeps fields the model does not know.
    let table = json!({
        "name": "t", "tableReference": {"glue": {"databaseName": "db", "tableName": "t"}},
        "allowedColumns": ["a"], "analysisMethod": "DIRECT_JOB"
    });
    let (_, _, body) = raw(&ep, &PROVIDER, "POST", "/configuredTables", Some(table)).await;
    let table_id = body["configuredTable"]["id"].as_str().unwrap().to_string();
    let policy = json!({"v1": {"custom": {
        "allowedAnalyses": [], "futureMember": {"kept": [1, 2]}, "disallowedOutputColumns": ["a"]
    }}});
    let rule = json!({ "analysisRuleType": "CUSTOM", "analysisRulePolicy": policy });
    let path = format!("/configuredTables/{table_id}/analysisRule");
    let (status, _, body) = raw(&ep, &PROVIDER, "POST", &path, Some(rule)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["analysisRule"]["policy"], policy);
    let (_, _, body) = raw(&ep, &PROVIDER, "GET", &format!("{path}/CUSTOM"), None).await;
    assert_eq!(body["analysisRule"]["policy"], policy);
    let (status, code, body) = raw(&ep, &PROVIDER, "DELETE", &format!("{path}/CUSTOM"), None).await;
    assert_eq!((status, code, body), (204, None, Value::Null));
    let (status, _, body) = raw(
        &ep,
        &PROVIDER,
        "DELETE",
        &format!("/configuredTables/{table_id}"),
        None,
    )
    .await;
    assert_eq!((status, body), (204, Value::Null));
}

#[tokio::test]
async fn collaborations_members_and_memberships() {
    let (_dir, sb) = crate::common::temp_sandbox().await;
    let (author, provider, outsider) = clients(&sb);

    let member = cr::MemberSpecification::builder()
        .account_id(PROVIDER.account_id)
        .display_name("provider")
        .member_abilities(cr::MemberAbility::CanReceiveResults)
        .build()
        .unwrap();
    let out = ok(new_collaboration(&author, "collab one")
        .description("first")
        .creator_member_abilities(cr::MemberAbility::CanQuery)
        .creator_member_abilities(cr::MemberAbility::CanRunJob)
        .members(member)
        .job_log_status(cr::CollaborationJobLogStatus::Enabled)
        .analytics_engine(cr::AnalyticsEngine::Spark)
        .send()
        .await);
    let collab = out.collaboration().unwrap();
    let cid = collab.id().to_string();
    assert_eq!(collab.name(), "collab one");
    assert_eq!(collab.description(), Some("first"));
    assert_eq!(collab.creator_account_id(), AUTHOR.account_id);
    assert_eq!(collab.member_status(), &cr::MemberStatus::Invited);
    assert_eq!(collab.analytics_engine(), Some(&cr::AnalyticsEngine::Spark));
    assert_eq!(
        collab.job_log_status(),
        Some(&cr::CollaborationJobLogStatus::Enabled)
    );
    assert!(collab.create_time().secs() > 1_700_000_000);

    // The creator listed among the members, and CAN_RUN_JOB outside SPARK, are rejected.
    let me = cr::MemberSpecification::builder()
        .account_id(AUTHOR.account_id)
        .display_name("me again")
        .set_member_abilities(Some(vec![]))
        .build()
        .unwrap();
    let bad = || new_collaboration(&author, "bad");
    expect_refusals(vec![
        (
            "the creator among the members",
            refused(
                bad()
                    .creator_member_abilities(cr::MemberAbility::CanQuery)
                    .members(me)
                    .send(),
            ),
            BAD_REQUEST,
        ),
        (
            "CAN_RUN_JOB in a SQL collaboration",
            refused(
                bad()
                    .creator_member_abilities(cr::MemberAbility::CanRunJob)
                    .analytics_engine(cr::AnalyticsEngine::CleanRoomsSql)
                    .send(),
            ),
            INVALID,
        ),
    ])
    .await;

    // Before joining, the invited provider sees the collaboration but not its members.
    assert_eq!(
        collaboration(&provider, &cid).await.member_status(),
        &cr::MemberStatus::Invited
    );
    expect_refusals(vec![
        (
            "the provider lists the members before joining",
            refused(provider.list_members().collaboration_identifier(&cid).send()),
            DENIED,
        ),
        (
            "the outsider reads the collaboration",
            refused(outsider.get_collaboration().collaboration_identifier(&cid).send()),
            DENIED,
        ),
        (
            "the outsider joins",
            refused(join(&outsider, &cid).send()),
            DENIED,
        ),
        (
            "a membership in no collaboration",
            refused(join(&author, "00000000-0000-4000-8000-000000000000").send()),
            NOT_FOUND,
        ),
    ])
    .await;

    // Memberships: one per account per collaboration.
    let m = ok(join(&author, &cid).send().await);
    let am = m.membership().unwrap();
    let author_mid = am.id().to_string();
    assert_eq!(am.status(), &cr::MembershipStatus::Active);
    assert_eq!(am.collaboration_id(), cid);
    assert_eq!(am.collaboration_name(), "collab one");
    assert_eq!(
        am.member_abilities(),
        [cr::MemberAbility::CanQuery, cr::MemberAbility::CanRunJob]
    );
    assert_eq!(
        am.arn(),
        format!("arn:aws:cleanrooms:us-east-1:111111111111:membership/{author_mid}")
    );
    assert!(
        am.payment_configuration()
            .unwrap()
            .query_compute()
            .unwrap()
            .is_responsible()
    );
    let (status, code, e) = fault(join(&author, &cid).send().await.unwrap_err());
    assert_eq!((status, code.as_str()), (409, "ConflictException"));
    match e {
        aws_sdk_cleanrooms::operation::create_membership::CreateMembershipError::ConflictException(c) => {
            assert_eq!(c.reason(), Some(&cr::ConflictExceptionReason::AlreadyExists));
            assert_eq!(c.resource_id(), Some(author_mid.as_str()));
        }
        other => panic!("{other:?}"),
    }
    let got = collaboration(&author, &cid).await;
    assert_eq!(got.member_status(), &cr::MemberStatus::Active);
    assert_eq!(got.membership_id(), Some(author_mid.as_str()));

    // A result receiver may set a default job result configuration; the author (no
    // CAN_RECEIVE_RESULTS here) may not.
    let job_results = cr::MembershipProtectedJobResultConfiguration::builder()
        .output_configuration(cr::MembershipProtectedJobOutputConfiguration::S3(
            cr::ProtectedJobS3OutputConfigurationInput::builder()
                .bucket("provider-results")
                .key_prefix("jobs/")
                .build()
                .unwrap(),
        ))
        .role_arn("arn:aws:iam::222222222222:role/service-role/cleanrooms-results")
        .build()
        .unwrap();
    let pm = ok(join(&provider, &cid)
        .default_job_result_configuration(job_results.clone())
        .send()
        .await);
    let provider_mid = pm.membership().unwrap().id().to_string();
    assert_eq!(
        pm.membership().unwrap().default_job_result_configuration(),
        Some(&job_results)
    );
    let (_, code, _) = fault(
        author
            .update_membership()
            .membership_identifier(&author_mid)
            .default_job_result_configuration(job_results)
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(code, "ValidationException");

    let members = ok(provider
        .list_members()
        .collaboration_identifier(&cid)
        .send()
        .await);
    let summary: Vec<(String, cr::MemberStatus, Option<String>)> = members
        .member_summaries()
        .iter()
        .map(|m| {
            (
                m.account_id().to_string(),
                m.status().clone(),
                m.membership_id().map(str::to_string),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                AUTHOR.account_id.to_string(),
                cr::MemberStatus::Active,
                Some(author_mid.clone())
            ),
            (
                PROVIDER.account_id.to_string(),
                cr::MemberStatus::Active,
                Some(provider_mid.clone())
            ),
        ]
    );
    assert_eq!(
        members.member_summaries()[1].abilities(),
        [cr::MemberAbility::CanReceiveResults]
    );

    // A membership is visible to its own account only.
    expect_refusals(vec![(
        "another account's membership",
        refused(
            provider
                .get_membership()
                .membership_identifier(&author_mid)
                .send(),
        ),
        DENIED,
    )])
    .await;
    let updated = ok(author
        .update_membership()
        .membership_identifier(&author_mid)
        .query_log_status(cr::MembershipQueryLogStatus::Enabled)
        .send()
        .await);
    assert_eq!(
        updated.membership().unwrap().query_log_status(),
        &cr::MembershipQueryLogStatus::Enabled
    );
    assert_eq!(
        membership(&author, &author_mid).await.query_log_status(),
        &cr::MembershipQueryLogStatus::Enabled
    );

    // Pagination: three collaborations, one per page.
    for name in ["collab two", "collab three"] {
        ok(new_collaboration(&author, name)
            .creator_member_abilities(cr::MemberAbility::CanQuery)
            .send()
            .await);
    }
    let first = ok(author.list_collaborations().max_results(1).send().await);
    assert_eq!(first.collaboration_list().len(), 1);
    assert!(first.next_token().is_some());
    let all: Vec<String> = author
        .list_collaborations()
        .max_results(1)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .unwrap()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    assert_eq!(all, ["collab one", "collab two", "collab three"]);
    let active = ok(author
        .list_collaborations()
        .member_status(cr::FilterableMemberStatus::Active)
        .send()
        .await);
    assert_eq!(active.collaboration_list().len(), 1);
    assert_eq!(
        ok(provider.list_collaborations().send().await)
            .collaboration_list()
            .len(),
        1
    );
    assert!(
        ok(outsider.list_collaborations().send().await)
            .collaboration_list()
            .is_empty()
    );
    expect_refusals(vec![
        (
            "a made-up next token",
            refused(author.list_collaborations().next_token("garbage").send()),
            INVALID,
        ),
        (
            "more than 100 a page",
            refused(author.list_collaborations().max_results(101).send()),
            INVALID,
        ),
    ])
    .await;
    let mine = ok(provider.list_memberships().send().await);
    assert_eq!(mine.membership_summaries().len(), 1);
    assert_eq!(mine.membership_summaries()[0].id(), provider_mid);
    sb.stop().await;
}

fn custom_policy(custom: cr::AnalysisRuleCustom) -> cr::ConfiguredTableAnalysisRulePolicy {
    cr::ConfiguredTableAnalysisRulePolicy::V1(cr::ConfiguredTableAnalysisRulePolicyV1::Custom(custom))
}

#[tokio::test]
async fn configured_tables_rules_associations_and_schemas() {
    let (_dir, sb) = crate::common::temp_sandbox().await;
    let info = seed::seed(&sb.endpoint()).await.unwrap();
    let (author, provider, outsider) = clients(&sb);
    let orders = &info.tables[0];

    // Tables belong to their account.
    let got = ok(provider
        .get_configured_table()
        .configured_table_identifier(&orders.configured_table_id)
        .send()
        .await);
    let t = got.configured_table().unwrap();
    assert_eq!(t.name(), "orders");
    assert_eq!(t.allowed_columns(), ["order_id", "customer_id", "amount"]);
    assert_eq!(t.analysis_method(), &cr::AnalysisMethod::DirectJob);
    assert_eq!(
        t.analysis_rule_types(),
        [cr::ConfiguredTableAnalysisRuleType::Custom]
    );
    assert_eq!(
        t.arn(),
        format!(
            "arn:aws:cleanrooms:us-east-1:222222222222:configuredtable/{}",
            orders.configured_table_id
        )
    );
    match t.table_reference().unwrap() {
        cr::TableReference::Glue(g) => {
            assert_eq!((g.database_name(), g.table_name()), ("crpack_sandbox", "orders"))
        }
        other => panic!("{other:?}"),
    }
    let get_table = |who: &Client, id: &str| who.get_configured_table().configured_table_identifier(id);
    expect_refusals(vec![
        (
            "another account's table",
            refused(get_table(&author, &orders.configured_table_id).send()),
            DENIED,
        ),
        (
            "no such table",
            refused(get_table(&provider, "00000000-0000-4000-8000-000000000000").send()),
            NOT_FOUND,
        ),
    ])
    .await;
    let listed = ok(provider.list_configured_tables().send().await);
    assert_eq!(
        names(listed.configured_table_summaries(), |t| t.name()),
        ["orders", "customers"]
    );
    assert!(
        ok(author.list_configured_tables().send().await)
            .configured_table_summaries()
            .is_empty()
    );
    let (_, code, _) = fault(
        provider
            .create_configured_table()
            .name("multi")
            .table_reference(glue_table("db", "multi"))
            .allowed_columns("a")
            .analysis_method(cr::AnalysisMethod::Multiple)
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(code, "ValidationException");

    // The rule round-trips every field; an update replaces the whole policy.
    let rule = crate::common::custom_rule(&provider, &orders.configured_table_id).await;
    let empty = custom_policy(
        cr::AnalysisRuleCustom::builder()
            .set_allowed_analyses(Some(vec![]))
            .build()
            .unwrap(),
    );
    assert_eq!(rule.analysis_rule().unwrap().policy(), Some(&empty));
    let template_arn = format!(
        "arn:aws:cleanrooms:us-east-1:111111111111:membership/{}/analysistemplate/0b0c6f4e-9d43-4a4c-8d4e-1f2a3b4c5d6e",
        info.author.membership_id
    );
    let full = custom_policy(
        cr::AnalysisRuleCustom::builder()
            .allowed_analyses(&template_arn)
            .allowed_analysis_providers(AUTHOR.account_id)
            .additional_analyses(cr::AdditionalAnalyses::NotAllowed)
            .disallowed_output_columns("customer_id")
            .differential_privacy(
                cr::DifferentialPrivacyConfiguration::builder()
                    .columns(
                        cr::DifferentialPrivacyColumn::builder()
                            .name("customer_id")
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .allowed_result_receivers(AUTHOR.account_id)
            .build()
            .unwrap(),
    );
    // UpdateConfiguredTableAnalysisRule of the orders table's CUSTOM rule, as `who`.
    let update_rule = |who: &Client| {
        who.update_configured_table_analysis_rule()
            .configured_table_identifier(&orders.configured_table_id)
            .analysis_rule_type(cr::ConfiguredTableAnalysisRuleType::Custom)
    };
    let updated = ok(update_rule(&provider)
        .analysis_rule_policy(full.clone())
        .send()
        .await);
    assert_eq!(updated.analysis_rule().unwrap().policy(), Some(&full));
    let rule = crate::common::custom_rule(&provider, &orders.configured_table_id).await;
    let rule = rule.analysis_rule().unwrap();
    assert_eq!(rule.policy(), Some(&full));
    assert_eq!(rule.r#type(), &cr::ConfiguredTableAnalysisRuleType::Custom);
    assert_eq!(rule.configured_table_id(), orders.configured_table_id);
    assert!(rule.update_time() >= rule.create_time());

    // Bad entries are named; wildcards need providers; rules are unique per type.
    let bad = custom_policy(
        cr::AnalysisRuleCustom::builder()
            .allowed_analyses("ANY_JOB")
            .allowed_analyses("arn:aws:cleanrooms:us-east-1:111111111111:template/x")
            .build()
            .unwrap(),
    );
    let (status, _, e) = fault(
        update_rule(&provider)
            .analysis_rule_policy(bad)
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(status, 400);
    match e {
        aws_sdk_cleanrooms::operation::update_configured_table_analysis_rule::UpdateConfiguredTableAnalysisRuleError::ValidationException(v) => {
            let names: Vec<&str> = v.field_list().iter().map(|f| f.name()).collect();
            assert_eq!(names, ["analysisRulePolicy.v1.custom.allowedAnalyses.2.member"]);
            assert_eq!(v.reason(), Some(&cr::ValidationExceptionReason::FieldValidationFailed));
        }
        other => panic!("{other:?}"),
    }
    let wildcard = custom_policy(
        cr::AnalysisRuleCustom::builder()
            .allowed_analyses("ANY_JOB")
            .build()
            .unwrap(),
    );
    let create_rule = provider
        .create_configured_table_analysis_rule()
        .configured_table_identifier(&orders.configured_table_id)
        .analysis_rule_type(cr::ConfiguredTableAnalysisRuleType::Custom)
        .analysis_rule_policy(empty.clone());
    let aggregation_rule = provider
        .get_configured_table_analysis_rule()
        .configured_table_identifier(&orders.configured_table_id)
        .analysis_rule_type(cr::ConfiguredTableAnalysisRuleType::Aggregation);
    expect_refusals(vec![
        (
            "ANY_JOB without allowed analysis providers",
            refused(update_rule(&provider).analysis_rule_policy(wildcard).send()),
            INVALID,
        ),
        ("a second CUSTOM rule", refused(create_rule.send()), CONFLICT),
        (
            "another account's rule",
            refused(update_rule(&author).analysis_rule_policy(empty.clone()).send()),
            DENIED,
        ),
        (
            "a rule type the table lacks",
            refused(aggregation_rule.send()),
            NOT_FOUND,
        ),
    ])
    .await;

    // Associations: configuredTableId, unique names, only one's own tables.
    let customers = &info.tables[1];
    let a = ok(provider
        .get_configured_table_association()
        .membership_identifier(&info.provider.membership_id)
        .configured_table_association_identifier(&customers.association_id)
        .send()
        .await);
    let a = a.configured_table_association().unwrap();
    assert_eq!(a.configured_table_id(), customers.configured_table_id);
    assert_eq!(a.name(), "customers");
    assert_eq!(a.role_arn(), seed::TABLE_ROLE_ARN);
    assert_eq!(
        a.arn(),
        format!(
            "arn:aws:cleanrooms:us-east-1:222222222222:configuredtableassociation/{}/{}",
            info.provider.membership_id, customers.association_id
        )
    );
    let listed = ok(provider
        .list_configured_table_associations()
        .membership_identifier(&info.provider.membership_id)
        .send()
        .await);
    let listed: Vec<(&str, &str)> = listed
        .configured_table_association_summaries()
        .iter()
        .map(|a| (a.name(), a.configured_table_id()))
        .collect();
    assert_eq!(
        listed,
        [
            ("orders", orders.configured_table_id.as_str()),
            ("customers", customers.configured_table_id.as_str())
        ]
    );
    let extra = ok(provider
        .create_configured_table()
        .name("extra")
        .table_reference(glue_table("db", "extra"))
        .allowed_columns("x")
        .analysis_method(cr::AnalysisMethod::Multiple)
        .selected_analysis_methods(cr::SelectedAnalysisMethod::DirectJob)
        .selected_analysis_methods(cr::SelectedAnalysisMethod::DirectQuery)
        .send()
        .await);
    let extra_id = extra.configured_table().unwrap().id().to_string();
    // CreateConfiguredTableAssociation of the extra table in `membership`, as `who`.
    let associate = |who: &Client, membership: &str, name: &str, role: &str| {
        who.create_configured_table_association()
            .membership_identifier(membership)
            .configured_table_identifier(&extra_id)
            .name(name)
            .role_arn(role)
    };
    let provider_mid = &info.provider.membership_id;
    expect_refusals(vec![
        (
            "a name already associated",
            refused(associate(&provider, provider_mid, "orders", seed::TABLE_ROLE_ARN).send()),
            CONFLICT,
        ),
        (
            "another account's table",
            refused(
                associate(
                    &author,
                    &info.author.membership_id,
                    "stolen",
                    "arn:aws:iam::111111111111:role/service-role/cleanrooms-x",
                )
                .send(),
            ),
            DENIED,
        ),
        (
            "a role that is not an ARN",
            refused(associate(&provider, provider_mid, "extra", "not-a-role").send()),
            INVALID,
        ),
    ])
    .await;
    let extra_assoc = ok(associate(&provider, provider_mid, "extra", seed::TABLE_ROLE_ARN)
        .send()
        .await);
    let extra_assoc_id = extra_assoc
        .configured_table_association()
        .unwrap()
        .id()
        .to_string();
    expect_refusals(vec![(
        "a table still associated",
        refused(
            provider
                .delete_configured_table()
                .configured_table_identifier(&extra_id)
                .send(),
        ),
        CONFLICT,
    )])
    .await;

    // Schemas: every active member sees them, nobody else.
    let get_schema = |who: &Client, name: &str| {
        who.get_schema()
            .collaboration_identifier(&info.collaboration_id)
            .name(name)
    };
    let schema = ok(get_schema(&author, "customers").send().await);
    let schema = schema.schema().unwrap();
    let columns: Vec<(&str, &str)> = schema.columns().iter().map(|c| (c.name(), c.r#type())).collect();
    assert_eq!(columns, [("customer_id", "string"), ("segment", "string")]);
    assert_eq!(schema.creator_account_id(), PROVIDER.account_id);
    assert_eq!(schema.r#type(), &cr::SchemaType::Table);
    assert_eq!(schema.analysis_method(), Some(&cr::AnalysisMethod::DirectJob));
    assert_eq!(schema.analysis_rule_types(), [cr::AnalysisRuleType::Custom]);
    let status = &schema.schema_status_details()[0];
    assert_eq!(status.status(), &cr::SchemaStatus::NotReady);
    assert_eq!(
        status.reasons()[0].code(),
        &cr::SchemaStatusReasonCode::AnalysisTemplatesNotConfigured
    );
    match schema.schema_type_properties().unwrap() {
        cr::SchemaTypeProperties::ConfiguredTableAssociation(p) => {
            assert_eq!(p.configured_table_association_id(), customers.association_id)
        }
        other => panic!("{other:?}"),
    }
    let orders_schema = ok(get_schema(&provider, "orders").send().await);
    assert_eq!(
        orders_schema.schema().unwrap().schema_status_details()[0].status(),
        &cr::SchemaStatus::Ready
    );
    let extra_schema = ok(get_schema(&author, "extra").send().await);
    let extra_schema = extra_schema.schema().unwrap();
    assert_eq!(
        extra_schema.schema_status_details()[0].reasons()[0].code(),
        &cr::SchemaStatusReasonCode::AnalysisRuleMissing
    );
    assert_eq!(
        extra_schema.selected_analysis_methods(),
        [
            cr::SelectedAnalysisMethod::DirectJob,
            cr::SelectedAnalysisMethod::DirectQuery
        ]
    );
    let all = ok(author
        .list_schemas()
        .collaboration_identifier(&info.collaboration_id)
        .send()
        .await);
    assert_eq!(
        names(all.schema_summaries(), |s| s.name()),
        ["orders", "customers", "extra"]
    );
    expect_refusals(vec![
        (
            "a non-member",
            refused(get_schema(&outsider, "orders").send()),
            DENIED,
        ),
        (
            "no such table",
            refused(get_schema(&author, "nothing").send()),
            NOT_FOUND,
        ),
    ])
    .await;

    // Clean-up operations.
    ok(provider
        .delete_configured_table_association()
        .membership_identifier(&info.provider.membership_id)
        .configured_table_association_identifier(&extra_assoc_id)
        .send()
        .await);
    let updated = ok(provider
        .update_configured_table()
        .configured_table_identifier(&extra_id)
        .name("extra renamed")
        .analysis_method(cr::AnalysisMethod::DirectJob)
        .send()
        .await);
    let updated = updated.configured_table().unwrap();
    assert_eq!(updated.name(), "extra renamed");
    assert!(updated.selected_analysis_methods().is_empty());
    ok(provider
        .delete_configured_table()
        .configured_table_identifier(&extra_id)
        .send()
        .await);
    let (status, _, _) = fault(get_table(&provider, &extra_id).send().await.unwrap_err());
    assert_eq!(status, 404);
    ok(provider
        .delete_configured_table_analysis_rule()
        .configured_table_identifier(&orders.configured_table_id)
        .analysis_rule_type(cr::ConfiguredTableAnalysisRuleType::Custom)
        .send()
        .await);
    let t = ok(provider
        .get_configured_table()
        .configured_table_identifier(&orders.configured_table_id)
        .send()
        .await);
    assert!(t.configured_table().unwrap().analysis_rule_types().is_empty());
    sb.stop().await;
}

/// Uploads `bytes` to the seeded bucket as the author; returns the new version id.
async fn upload(sb: &Sandbox, bucket: &str, key: &str, bytes: &[u8]) -> String {
    let s3 = s3_client(&sb.endpoint(), &AUTHOR);
    let out = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(aws_sdk_s3::primitives::ByteStream::from(bytes.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("upload {key}: {}", DisplayErrorContext(e)));
    out.version_id().unwrap_or_default().to_string()
}

fn pyspark_source(info: &SeedInfo, entry: &str, extra: &[&str], role: &str) -> cr::AnalysisSource {
    cr::AnalysisSource::Artifacts(
        cr::AnalysisTemplateArtifacts::builder()
            .entry_point(template_artifact(&info.bucket, entry))
            .set_additional_artifacts(
                (!extra.is_empty())
                    .then(|| extra.iter().map(|k| template_artifact(&info.bucket, k)).collect()),
            )
            .role_arn(role)
            .build()
            .unwrap(),
    )
}

/// The members a ValidationException must name: these, in order, or just how many.
enum Fields {
    Named(&'static [&'static str]),
    Count(usize),
}

fn validation_fields(
    e: CreateAnalysisTemplateError,
) -> (Option<cr::ValidationExceptionReason>, Vec<String>, String) {
    match e {
        CreateAnalysisTemplateError::ValidationException(v) => (
            v.reason().cloned(),
            v.field_list().iter().map(|f| f.name().to_string()).collect(),
            v.message().unwrap_or_default().to_string(),
        ),
        other => panic!("expected a ValidationException, got {other:?}"),
    }
}

const ENTRY: &[u8] = b"def entrypoint(context):\n    return {\"results\": {}}\n";
const VENV: &[u8] = b"\x1f\x8b pretend this is a venv-pack archive";

#[tokio::test]
async fn pyspark_templates_pin_artifacts_read_from_s3() {
    let (dir, sb) = crate::common::temp_sandbox().await;
    let info = seed::seed(&sb.endpoint()).await.unwrap();
    let (author, provider, outsider) = clients(&sb);
    let entry_v1 = upload(&sb, &info.bucket, "templates/analysis-1.py", ENTRY).await;
    upload(&sb, &info.bucket, "templates/venv-1.tar.gz", VENV).await;
    upload(&sb, &info.bucket, "templates/venv-2.tar.gz", VENV).await;
    assert!(!entry_v1.is_empty(), "the seeded bucket is versioned");

    let create = || {
        author
            .create_analysis_template()
            .membership_identifier(&info.author.membership_id)
            .format(cr::AnalysisFormat::Pyspark10)
            .schema(cr::AnalysisSchema::builder().referenced_tables("orders").build())
    };
    let source = |entry: &str, extra: &[&str]| pyspark_source(&info, entry, extra, &info.role_arn);
    let out = ok(create()
        .name("order totals")
        .description("sums orders per customer")
        .source(source("templates/analysis-1.py", &["templates/venv-1.tar.gz"]))
        .analysis_parameters(crate::common::parameter(
            "min_amount",
            cr::ParameterType::String,
            "10",
        ))
        .error_message_configuration(
            cr::ErrorMessageConfiguration::builder()
                .r#type(cr::ErrorMessageType::Detailed)
                .build()
                .unwrap(),
        )
        .tags("team", "analytics")
        .send()
        .await);
    let t = out.analysis_template().unwrap();
    let template_id = t.id().to_string();
    let template_arn = t.arn().to_string();
    assert_eq!(
        template_arn,
        format!(
            "arn:aws:cleanrooms:us-east-1:111111111111:membership/{}/analysistemplate/{template_id}",
            info.author.membership_id
        )
    );
    assert_eq!(t.collaboration_id(), info.collaboration_id);
    assert_eq!(t.collaboration_arn(), info.collaboration_arn);
    assert_eq!(t.membership_arn(), info.author.membership_arn);
    assert_eq!(t.format(), &cr::AnalysisFormat::Pyspark10);
    assert_eq!(t.schema().unwrap().referenced_tables(), ["orders"]);
    assert_eq!(t.analysis_parameters()[0].default_value(), Some("10"));
    let metadata = match t.source_metadata().unwrap() {
        cr::AnalysisSourceMetadata::Artifacts(m) => m.clone(),
        other => panic!("{other:?}"),
    };
    let entry_hash = ArtifactHash::builder().sha256(sha256_hex(ENTRY)).build();
    let venv_hash = ArtifactHash::builder().sha256(sha256_hex(VENV)).build();
    assert_eq!(metadata.entry_point_hash(), Some(&entry_hash));
    assert_eq!(metadata.additional_artifact_hashes(), [venv_hash]);
    // Lowercase hex, as `sha256sum` prints it.
    let hex = metadata.entry_point_hash().unwrap().sha256().unwrap();
    assert_eq!(hex.len(), 64);
    assert!(
        hex.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );

    // A newer version of the entry point does not change what the template pinned.
    let entry_v2 = upload(
        &sb,
        &info.bucket,
        "templates/analysis-1.py",
        b"print('changed')\n",
    )
    .await;
    assert_ne!(entry_v1, entry_v2);
    // GetAnalysisTemplate in the author's membership, as `who`.
    let get_template = |who: &Client, id: &str| {
        who.get_analysis_template()
            .membership_identifier(&info.author.membership_id)
            .analysis_template_identifier(id)
    };
    let got = ok(get_template(&author, &template_id).send().await);
    let got = got.analysis_template().unwrap();
    assert_eq!(got.source_metadata(), t.source_metadata());
    assert_eq!(got.error_message_configuration(), t.error_message_configuration());

    // The provider reviews it through the collaboration (the ARN label is percent-encoded).
    let review = |who: &Client, arn: &str| {
        who.get_collaboration_analysis_template()
            .collaboration_identifier(&info.collaboration_id)
            .analysis_template_arn(arn)
    };
    let view = ok(review(&provider, &template_arn).send().await);
    let view = view.collaboration_analysis_template().unwrap();
    assert_eq!(view.creator_account_id(), AUTHOR.account_id);
    assert_eq!(view.source_metadata(), t.source_metadata());
    assert_eq!(view.source(), t.source());
    assert_eq!(view.name(), "order totals");
    let missing_arn = template_arn.replace(&template_id, "00000000-0000-4000-8000-000000000000");
    let batch = ok(provider
        .batch_get_collaboration_analysis_template()
        .collaboration_identifier(&info.collaboration_id)
        .analysis_template_arns(&template_arn)
        .analysis_template_arns(&missing_arn)
        .send()
        .await);
    assert_eq!(batch.collaboration_analysis_templates().len(), 1);
    assert_eq!(batch.collaboration_analysis_templates()[0].arn(), template_arn);
    assert_eq!(batch.errors().len(), 1);
    assert_eq!(batch.errors()[0].arn(), missing_arn);
    assert_eq!(batch.errors()[0].code(), "ResourceNotFoundException");
    let listed = ok(provider
        .list_collaboration_analysis_templates()
        .collaboration_identifier(&info.collaboration_id)
        .send()
        .await);
    let listed = listed.collaboration_analysis_template_summaries();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].arn(), listed[0].creator_account_id()),
        (template_arn.as_str(), AUTHOR.account_id)
    );
    expect_refusals(vec![
        (
            "a non-member's view",
            refused(review(&outsider, &template_arn).send()),
            DENIED,
        ),
        (
            "no such template",
            refused(review(&provider, &missing_arn).send()),
            NOT_FOUND,
        ),
        (
            "the provider reads it from the author's membership",
            refused(get_template(&provider, &template_id).send()),
            DENIED,
        ),
    ])
    .await;

    // The same name again: ConflictException ALREADY_EXISTS.
    let (status, _, e) = fault(
        create()
            .name("order totals")
            .source(source("templates/analysis-1.py", &[]))
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(status, 409);
    match e {
        CreateAnalysisTemplateError::ConflictException(c) => {
            assert_eq!(c.reason(), Some(&cr::ConflictExceptionReason::AlreadyExists));
            assert_eq!(c.resource_id(), Some(template_id.as_str()));
        }
        other => panic!("{other:?}"),
    }

    // Field validation: each bad member is named.
    let (status, _, e) = fault(
        create()
            .name("bad name-")
            .description("x".repeat(256))
            .source(pyspark_source(
                &info,
                "templates/has space.py",
                &["templates/venv-1.tar.gz", "templates/venv-2.tar.gz"],
                "arn:aws:iam::111111111111:user/someone-not-a-role",
            ))
            .analysis_parameters(
                cr::AnalysisParameter::builder()
                    .name("bad-param")
                    .r#type(cr::ParameterType::String)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(status, 400);
    let (reason, fields, message) = validation_fields(e);
    assert_eq!(reason, Some(cr::ValidationExceptionReason::FieldValidationFailed));
    assert_eq!(
        fields,
        [
            "description",
            "name",
            "source.artifacts.entryPoint.location.key",
            "source.artifacts.additionalArtifacts",
            "source.artifacts.roleArn",
            "analysisParameters.1.member.name"
        ]
    );
    assert!(message.starts_with("6 validation errors detected"), "{message}");

    // Two additional artifacts alone, a missing object, an unknown or foreign role account, an
    // unversioned bucket, a malformed table name, SQL text: each row is the template's name, its
    // source, the fields the ValidationException names and words its message must contain.
    let s3 = s3_client(&sb.endpoint(), &AUTHOR);
    ok(s3.create_bucket().bucket("crpack-unversioned").send().await);
    ok(s3
        .put_object()
        .bucket("crpack-unversioned")
        .key("a.py")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(ENTRY))
        .send()
        .await);
    let unversioned = cr::AnalysisSource::Artifacts(
        cr::AnalysisTemplateArtifacts::builder()
            .entry_point(template_artifact("crpack-unversioned", "a.py"))
            .role_arn(&info.role_arn)
            .build()
            .unwrap(),
    );
    let with_role = |role: &str| pyspark_source(&info, "templates/analysis-1.py", &[], role);
    let cases: Vec<(&str, cr::AnalysisSource, Fields, &[&str])> = vec![
        (
            "two extras",
            source(
                "templates/analysis-1.py",
                &["templates/venv-1.tar.gz", "templates/venv-2.tar.gz"],
            ),
            Fields::Named(&["source.artifacts.additionalArtifacts"]),
            &[],
        ),
        (
            "missing",
            source("templates/nothing-here.py", &[]),
            Fields::Named(&["source.artifacts.entryPoint.location"]),
            &["s3://crpack-sandbox-artifacts/templates/nothing-here.py"],
        ),
        (
            "extra missing",
            source("templates/analysis-1.py", &["templates/nothing.tar.gz"]),
            Fields::Named(&["source.artifacts.additionalArtifacts.1.member.location"]),
            &["templates/nothing.tar.gz"],
        ),
        (
            "unknown role",
            with_role("arn:aws:iam::999999999999:role/service-role/cleanrooms-read"),
            Fields::Named(&["source.artifacts.roleArn"]),
            &["cannot assume role"],
        ),
        (
            "foreign role",
            with_role("arn:aws:iam::333333333333:role/service-role/cleanrooms-read"),
            Fields::Count(1),
            &["cannot read"],
        ),
        (
            "unversioned",
            unversioned,
            Fields::Named(&["source.artifacts.entryPoint.location.bucket"]),
            &["versioning"],
        ),
        (
            "sql source",
            cr::AnalysisSource::Text("SELECT 1".into()),
            Fields::Named(&["source.artifacts"]),
            &[],
        ),
    ];
    for (name, bad_source, expected, words) in cases {
        let e = fault(create().name(name).source(bad_source).send().await.unwrap_err()).2;
        let (_, fields, message) = validation_fields(e);
        match expected {
            Fields::Named(names) => assert_eq!(fields, names, "{name}: {message}"),
            Fields::Count(n) => assert_eq!(fields.len(), n, "{name}: {message}"),
        }
        for word in words {
            assert!(message.contains(word), "{name}: {message}");
        }
    }
    // Not a TableAlias (a trailing hyphen). A well-formed name of a table that is not associated
    // yet is accepted, like the service does (sandbox_unassociated.rs).
    let malformed = create()
        .schema(
            cr::AnalysisSchema::builder()
                .referenced_tables("payments-")
                .build(),
        )
        .name("malformed table")
        .source(source("templates/analysis-1.py", &[]));
    let (_, fields, _) = validation_fields(fault(malformed.send().await.unwrap_err()).2);
    assert_eq!(fields, ["schema.referencedTables.1.member"]);

    // Only the membership's own account may create templates in it.
    let (status, code, _) = fault(
        provider
            .create_analysis_template()
            .membership_identifier(&info.author.membership_id)
            .format(cr::AnalysisFormat::Pyspark10)
            .name("intruder")
            .source(source("templates/analysis-1.py", &[]))
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!((status, code.as_str()), (403, "AccessDeniedException"));

    // List, update (description only), delete.
    let second = ok(create()
        .name("second")
        .source(source("templates/analysis-1.py", &[]))
        .send()
        .await);
    let second = second.analysis_template().unwrap();
    match second.source_metadata().unwrap() {
        cr::AnalysisSourceMetadata::Artifacts(m) => {
            assert_eq!(
                m.entry_point_hash().unwrap().sha256(),
                Some(sha256_hex(b"print('changed')\n").as_str())
            );
            assert!(m.additional_artifact_hashes().is_empty());
        }
        other => panic!("{other:?}"),
    }
    let listed = ok(author
        .list_analysis_templates()
        .membership_identifier(&info.author.membership_id)
        .send()
        .await);
    assert_eq!(
        names(listed.analysis_template_summaries(), |t| t.name()),
        ["order totals", "second"]
    );
    let updated = ok(author
        .update_analysis_template()
        .membership_identifier(&info.author.membership_id)
        .analysis_template_identifier(&template_id)
        .description("new words")
        .send()
        .await);
    let updated = updated.analysis_template().unwrap();
    assert_eq!(updated.description(), Some("new words"));
    assert_eq!(updated.source_metadata(), t.source_metadata());
    assert!(updated.update_time() >= updated.create_time());
    ok(author
        .delete_analysis_template()
        .membership_identifier(&info.author.membership_id)
        .analysis_template_identifier(second.id())
        .send()
        .await);
    expect_refusals(vec![(
        "a deleted template",
        refused(get_template(&author, second.id()).send()),
        NOT_FOUND,
    )])
    .await;

    // The pinned versions, as the state file records them.
    sb.stop().await;
    let state = CleanRoomsEndpoint::open(Some(dir.path().join("cleanrooms.json")), String::new()).unwrap();
    let pinned = state.pinned_artifacts(&template_arn).unwrap();
    assert_eq!(pinned.len(), 2);
    assert!(pinned[0].entry_point && !pinned[1].entry_point);
    assert_eq!(
        (
            pinned[0].key.as_str(),
            pinned[0].version_id.as_str(),
            pinned[0].sha256.as_str()
        ),
        (
            "templates/analysis-1.py",
            entry_v1.as_str(),
            sha256_hex(ENTRY).as_str()
        )
    );
    assert_eq!(pinned[0].size, ENTRY.len() as u64);
    assert_eq!(pinned[1].sha256, sha256_hex(VENV));
    assert_eq!(pinned[1].bucket, info.bucket);
    assert!(state.pinned_artifacts(&missing_arn).is_none());
}

#[tokio::test]
async fn pyspark_templates_need_spark_and_a_result_receiver() {
    let (_dir, sb) = crate::common::temp_sandbox().await;
    let author = client(&sb, &AUTHOR);
    let c = ok(new_collaboration(&author, "sql only")
        .creator_member_abilities(cr::MemberAbility::CanQuery)
        .analytics_engine(cr::AnalyticsEngine::CleanRoomsSql)
        .send()
        .await);
    let cid = c.collaboration().unwrap().id().to_string();
    let m = ok(join(&author, &cid).send().await);
    let mid = m.membership().unwrap().id().to_string();
    // A PySpark template `name` in the membership `mid`.
    let pyspark_in = |mid: &str, name: &str| {
        author
            .create_analysis_template()
            .membership_identifier(mid)
            .name(name)
            .format(cr::AnalysisFormat::Pyspark10)
            .source(cr::AnalysisSource::Artifacts(
                cr::AnalysisTemplateArtifacts::builder()
                    .entry_point(template_artifact("crpack-sandbox-artifacts", "a.py"))
                    .role_arn(seed::ROLE_ARN)
                    .build()
                    .unwrap(),
            ))
    };
    let (status, _, e) = fault(pyspark_in(&mid, "spark please").send().await.unwrap_err());
    assert_eq!(status, 400);
    let (reason, fields, message) = validation_fields(e);
    assert_eq!(reason, Some(cr::ValidationExceptionReason::InvalidConfiguration));
    assert!(fields.is_empty());
    assert!(message.contains("SPARK"), "{message}");

    // In a SPARK collaboration, the creator of a PySpark template must receive results.
    let spark = ok(new_collaboration(&author, "spark without receiver")
        .creator_member_abilities(cr::MemberAbility::CanRunJob)
        .analytics_engine(cr::AnalyticsEngine::Spark)
        .send()
        .await);
    let spark_mid = ok(join(&author, spark.collaboration().unwrap().id()).send().await)
        .membership()
        .unwrap()
        .id()
        .to_string();
    let (_, _, e) = fault(pyspark_in(&spark_mid, "no receiver").send().await.unwrap_err());
    let (reason, _, message) = validation_fields(e);
    assert_eq!(reason, Some(cr::ValidationExceptionReason::InvalidConfiguration));
    assert!(message.contains("CAN_RECEIVE_RESULTS"), "{message}");

    // SQL templates need text, and are stored without reading S3.
    let sql = ok(author
        .create_analysis_template()
        .membership_identifier(&mid)
        .name("count")
        .format(cr::AnalysisFormat::Sql)
        .source(cr::AnalysisSource::Text("SELECT COUNT(*) FROM t".into()))
        .send()
        .await);
    let sql = sql.analysis_template().unwrap();
    assert_eq!(
        sql.source(),
        Some(&cr::AnalysisSource::Text("SELECT COUNT(*) FROM t".into()))
    );
    assert!(sql.source_metadata().is_none());
    sb.stop().await;
}

#[tokio::test]
async fn seed_builds_a_consistent_world_and_is_idempotent() {
    let (_dir, sb) = crate::common::temp_sandbox().await;
    let info = seed::seed(&sb.endpoint()).await.unwrap();
    assert_eq!(info.endpoint, sb.endpoint());
    assert_eq!(info.region, "us-east-1");
    assert_eq!(info.bucket, "crpack-sandbox-artifacts");
    assert_eq!(
        info.role_arn,
        "arn:aws:iam::111111111111:role/service-role/cleanrooms-pyspark-read"
    );
    assert_eq!(info.author.identity.account_id, AUTHOR.account_id);
    assert_eq!(info.provider.identity.access_key_id, PROVIDER.access_key_id);
    assert_eq!(info.outsider.secret_access_key, OUTSIDER.secret_access_key);
    let names: Vec<&str> = info.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["orders", "customers"]);

    let author = client(&sb, &AUTHOR);
    let c = collaboration(&author, &info.collaboration_id).await;
    assert_eq!(c.name(), "crpack-sandbox");
    assert_eq!(c.arn(), info.collaboration_arn);
    assert_eq!(c.analytics_engine(), Some(&cr::AnalyticsEngine::Spark));
    assert_eq!(c.membership_id(), Some(info.author.membership_id.as_str()));
    let m = membership(&author, &info.author.membership_id).await;
    assert_eq!(m.arn(), info.author.membership_arn);
    assert_eq!(
        m.member_abilities(),
        [
            cr::MemberAbility::CanQuery,
            cr::MemberAbility::CanRunJob,
            cr::MemberAbility::CanReceiveResults
        ]
    );
    let pay = m.payment_configuration().unwrap();
    assert!(pay.query_compute().unwrap().is_responsible());
    assert!(pay.job_compute().unwrap().is_responsible());
    let members = ok(author
        .list_members()
        .collaboration_identifier(&info.collaboration_id)
        .send()
        .await);
    let provider_entry = &members.member_summaries()[1];
    assert_eq!(provider_entry.account_id(), PROVIDER.account_id);
    assert!(provider_entry.abilities().is_empty());
    assert_eq!(
        provider_entry.membership_id(),
        Some(info.provider.membership_id.as_str())
    );
    let s3 = s3_client(&sb.endpoint(), &AUTHOR);
    let versioning = ok(s3.get_bucket_versioning().bucket(&info.bucket).send().await);
    assert_eq!(
        versioning.status(),
        Some(&aws_sdk_s3::types::BucketVersioningStatus::Enabled)
    );
    let provider = client(&sb, &PROVIDER);
    for table in &info.tables {
        let schema = ok(provider
            .get_schema()
            .collaboration_identifier(&info.collaboration_id)
            .name(&table.name)
            .send()
            .await);
        match schema.schema().unwrap().schema_type_properties().unwrap() {
            cr::SchemaTypeProperties::ConfiguredTableAssociation(p) => {
                assert_eq!(p.configured_table_association_id(), table.association_id)
            }
            other => panic!("{other:?}"),
        }
        let rule = crate::common::custom_rule(&provider, &table.configured_table_id).await;
        match rule.analysis_rule().unwrap().policy().unwrap() {
            cr::ConfiguredTableAnalysisRulePolicy::V1(cr::ConfiguredTableAnalysisRulePolicyV1::Custom(c)) => {
                assert!(c.allowed_analyses().is_empty())
            }
            other => panic!("{other:?}"),
        }
    }
    let env = info.env_for(&info.provider.identity);
    assert_eq!(
        env,
        [
            ("AWS_ENDPOINT_URL".to_string(), sb.endpoint()),
            ("AWS_REGION".to_string(), "us-east-1".to_string()),
            (
                "AWS_ACCESS_KEY_ID".to_string(),
                PROVIDER.access_key_id.to_string()
            ),
            (
                "AWS_SECRET_ACCESS_KEY".to_string(),
                PROVIDER.secret_access_key.to_string()
            ),
        ]
    );
    let json = serde_json::to_value(&info).unwrap();
    assert_eq!(json["author"]["account_id"], AUTHOR.account_id);
    assert_eq!(
        json["author"]["membership_id"],
        info.author.membership_id.as_str()
    );
    assert_eq!(serde_json::from_value::<SeedInfo>(json).unwrap(), info);

    // Seeding again finds everything instead of duplicating it.
    let again = seed::seed(&sb.endpoint()).await.unwrap();
    assert_eq!(again, info);
    let listed = ok(author.list_collaborations().send().await);
    assert_eq!(listed.collaboration_list().len(), 1);
    sb.stop().await;
}

#[tokio::test]
async fn state_survives_a_restart() {
    let (dir, sb) = crate::common::temp_sandbox().await;
    let info = seed::seed(&sb.endpoint()).await.unwrap();
    upload(&sb, &info.bucket, "keep/entry.py", ENTRY).await;
    let author = client(&sb, &AUTHOR);
    let t = ok(author
        .create_analysis_template()
        .membership_identifier(&info.author.membership_id)
        .name("kept")
        .format(cr::AnalysisFormat::Pyspark10)
        .source(pyspark_source(&info, "keep/entry.py", &[], &info.role_arn))
        .send()
        .await);
    let before = t.analysis_template().unwrap().clone();
    sb.stop().await;
    assert!(dir.path().join("cleanrooms.json").is_file());

    let sb = sandbox_at(dir.path()).await;
    let author = client(&sb, &AUTHOR);
    let got = ok(author
        .get_analysis_template()
        .membership_identifier(&info.author.membership_id)
        .analysis_template_identifier(before.id())
        .send()
        .await);
    assert_eq!(got.analysis_template(), Some(&before));
    let c = collaboration(&author, &info.collaboration_id).await;
    assert_eq!(c.name(), "crpack-sandbox");
    let provider = client(&sb, &PROVIDER);
    let view = ok(provider
        .get_collaboration_analysis_template()
        .collaboration_identifier(&info.collaboration_id)
        .analysis_template_arn(before.arn())
        .send()
        .await);
    assert_eq!(
        view.collaboration_analysis_template().unwrap().source_metadata(),
        before.source_metadata()
    );
    let again = seed::seed(&sb.endpoint()).await.unwrap();
    assert_eq!(again.collaboration_id, info.collaboration_id);
    assert_eq!(again.tables, info.tables);
    sb.stop().await;
}

#[tokio::test]
async fn identities_without_sandbox_keys_are_refused() {
    // The listener verifies signatures before the endpoint sees a request.
    let (_dir, sb) = crate::common::temp_sandbox().await;
    let stranger = Identity {
        name: "stranger",
        access_key_id: "AKIANOTASANDBOXKEY00",
        secret_access_key: "nope",
        account_id: "444444444444",
    };
    let (status, code, _) = fault(
        client(&sb, &stranger)
            .list_collaborations()
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(status, 403);
    assert_eq!(code, "UnrecognizedClientException");
    assert!(identity::by_account("444444444444").is_none());
    sb.stop().await;
}
