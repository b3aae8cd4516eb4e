//! A template may name a table that is not associated with the collaboration yet, as the service
//! allows ("tables to be associated later"): the sandbox accepts it, a job on it fails with
//! `RESOURCE_NOT_FOUND` until the table's owner associates it and then succeeds, `crpack doctor`
//! warns about the table with the fix, and `publish::tables::unassociated_tables` names it.

use std::fs;
use std::time::{Duration, Instant};

use crate::common::*;
use aws_sdk_cleanrooms::types as cr;
use crpack_core::publish::tables::unassociated_tables;
use crpack_sandbox::cleanrooms::job_error_codes as codes;
use crpack_sandbox::seed;

const TABLE: &str = "payments";

/// Reads the one table it names and returns it as the result.
const ENTRY: &str = "def entrypoint(context):\n    payments = context[\"referencedTables\"][\"payments\"]\n    \
                     return {\"results\": {\"payments\": payments}}\n";

/// The seeded Glue table `orders`.
fn glue_orders() -> cr::TableReference {
    cr::TableReference::Glue(
        cr::GlueTableReference::builder()
            .database_name(seed::GLUE_DATABASE)
            .table_name("orders")
            .build()
            .unwrap(),
    )
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Uploads the entry point as the author and creates a template referencing only [`TABLE`].
fn create_template(sb: &TestSandbox) -> String {
    let key = "unassociated/payments_entry.py";
    sb.put_artifact(key, ENTRY.as_bytes().to_vec());
    let source = cr::AnalysisSource::Artifacts(
        cr::AnalysisTemplateArtifacts::builder()
            .entry_point(template_artifact(&sb.seed.bucket, key))
            .role_arn(&sb.seed.role_arn)
            .build()
            .unwrap(),
    );
    let out = ok(sb.rt.block_on(
        sb.author_pyspark_template("reads payments")
            .source(source)
            .schema(cr::AnalysisSchema::builder().referenced_tables(TABLE).build())
            .send(),
    ));
    let t = out.analysis_template().unwrap();
    assert_eq!(t.schema().unwrap().referenced_tables(), [TABLE]);
    assert!(t.source_metadata().is_some(), "the artifacts were pinned: {t:?}");
    t.arn().to_string()
}

/// As the provider: a configured table over the seeded Glue table `orders` (whose data the
/// sandbox has), `DIRECT_JOB`, with a CUSTOM rule allowing `allowed`. Returns its id.
fn create_table(
    sb: &TestSandbox,
    provider: &crpack_core::aws::Aws,
    name: &str,
    allowed: &[String],
) -> String {
    let reference = glue_orders();
    let table = ok(sb.rt.block_on(
        provider
            .cleanrooms
            .create_configured_table()
            .name(name)
            .table_reference(reference)
            .set_allowed_columns(Some(names(&["order_id", "customer_id", "amount"])))
            .analysis_method(cr::AnalysisMethod::DirectJob)
            .send(),
    ));
    let id = table.configured_table().unwrap().id().to_string();
    if !allowed.is_empty() {
        let custom = cr::AnalysisRuleCustom::builder()
            .set_allowed_analyses(Some(allowed.to_vec()))
            .build()
            .unwrap();
        ok(sb.rt.block_on(
            provider
                .cleanrooms
                .create_configured_table_analysis_rule()
                .configured_table_identifier(&id)
                .analysis_rule_type(cr::ConfiguredTableAnalysisRuleType::Custom)
                .analysis_rule_policy(cr::ConfiguredTableAnalysisRulePolicy::V1(
                    cr::ConfiguredTableAnalysisRulePolicyV1::Custom(custom),
                ))
                .send(),
        ));
    }
    id
}

/// As the provider: associates configured table `id` with the collaboration as `name`.
fn associate(sb: &TestSandbox, provider: &crpack_core::aws::Aws, id: &str, name: &str) {
    ok(sb.rt.block_on(
        provider
            .cleanrooms
            .create_configured_table_association()
            .membership_identifier(&sb.seed.provider.membership_id)
            .configured_table_identifier(id)
            .name(name)
            .role_arn(seed::TABLE_ROLE_ARN)
            .send(),
    ));
}

/// Starts a job on `arn` as the author and waits until it ends.
fn run_job(sb: &TestSandbox, arn: &str) -> cr::ProtectedJob {
    let author = sb.clients(&sb.seed.author.identity);
    let membership = &sb.seed.author.membership_id;
    let started = ok(sb.rt.block_on(
        author
            .cleanrooms
            .start_protected_job()
            .membership_identifier(membership)
            .r#type(cr::ProtectedJobType::Pyspark)
            .job_parameters(
                cr::ProtectedJobParameters::builder()
                    .analysis_template_arn(arn)
                    .build()
                    .unwrap(),
            )
            .send(),
    ));
    let id = started.protected_job().unwrap().id().to_string();
    // A real local Spark run starts a JVM; a simulated one takes well under a second.
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let job = ok(sb.rt.block_on(
            author
                .cleanrooms
                .get_protected_job()
                .membership_identifier(membership)
                .protected_job_identifier(&id)
                .send(),
        ))
        .protected_job
        .unwrap();
        if matches!(
            job.status(),
            cr::ProtectedJobStatus::Success
                | cr::ProtectedJobStatus::Failed
                | cr::ProtectedJobStatus::Cancelled
        ) {
            return job;
        }
        assert!(Instant::now() < deadline, "job {id} is still {:?}", job.status());
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn unassociated(sb: &TestSandbox, tables: &[&str]) -> Vec<String> {
    let author = sb.clients(&sb.seed.author.identity);
    sb.rt
        .block_on(unassociated_tables(
            &author,
            &sb.seed.author.membership_id,
            &names(tables),
        ))
        .unwrap()
}

#[test]
fn a_table_to_be_associated_later_is_accepted_then_read_once_associated() {
    let sb = TestSandbox::start();
    let tmp = tempfile::tempdir().unwrap();

    // Accepted although no member has associated a table named payments.
    let arn = create_template(&sb);
    assert_eq!(
        unassociated(&sb, &["orders", TABLE, "customers", TABLE]),
        [TABLE],
        "the seeded tables are the provider's associations, visible to the author"
    );
    assert!(unassociated(&sb, &[]).is_empty());

    // doctor: a warning with the fix, not a failure.
    let dir = sb.project(tmp.path(), "templates/unassociated");
    let toml = fs::read_to_string(dir.join("crpack.toml")).unwrap();
    let toml = toml
        .replace(
            "referenced_tables = [\"orders\", \"customers\"]",
            "referenced_tables = [\"payments\"]",
        )
        .replace(
            "samples = { orders = \"samples/orders.csv\", customers = \"samples/customers.csv\" }",
            "",
        );
    fs::write(dir.join("crpack.toml"), toml).unwrap();
    let human = sb.author(&dir, &["doctor"]).expect(0);
    let out = human.stdout();
    let line = out
        .lines()
        .position(|l| l.starts_with("warn table payments"))
        .unwrap_or_else(|| panic!("no warning line for the table:\n{out}"));
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[line].contains(&format!(
            "not associated with collaboration {} yet",
            sb.seed.collaboration_id
        )),
        "{out}"
    );
    assert!(
        lines[line + 1]
            .contains("fix: the table's owner must associate its configured table with the collaboration")
            && lines[line + 1].contains("CreateConfiguredTableAssociation"),
        "{out}"
    );
    let j = sb.author(&dir, &["--json", "doctor"]).expect(0).json();
    let check = crate::common::item_where(&j["checks"], "name", "table payments").clone();
    assert_eq!(
        (&check["ok"], &check["warning"]),
        (&true.into(), &true.into()),
        "{check}"
    );
    assert!(
        check["fix"].as_str().unwrap().contains("under the name payments"),
        "{check}"
    );
    assert!(
        j["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["name"] != "table payments")
            .all(|c| c["warning"] == false),
        "{j}"
    );

    // The provider's table exists and allows the template, but is not associated: the job
    // cannot read it.
    let provider = sb.clients(&sb.seed.provider.identity);
    let table_id = create_table(&sb, &provider, TABLE, std::slice::from_ref(&arn));
    let failed = run_job(&sb, &arn);
    assert_eq!(failed.status(), &cr::ProtectedJobStatus::Failed);
    let error = failed.error().unwrap();
    assert_eq!(error.code(), codes::RESOURCE_NOT_FOUND);
    assert!(
        error
            .message()
            .contains("table payments is not associated with collaboration")
            && error.message().contains(&arn)
            && error
                .message()
                .contains("CreateConfiguredTableAssociation with name payments"),
        "{}",
        error.message()
    );

    associate(&sb, &provider, &table_id, TABLE);
    assert!(unassociated(&sb, &["orders", TABLE]).is_empty());

    // Associated: the same template's job reads it.
    let done = run_job(&sb, &arn);
    assert_eq!(
        done.status(),
        &cr::ProtectedJobStatus::Success,
        "{:?}",
        done.error()
    );
    let j = sb.author(&dir, &["--json", "doctor"]).expect(0).json();
    let check = crate::common::item_where(&j["checks"], "name", "table payments").clone();
    assert_eq!(check["warning"], false, "{check}");
    assert!(
        !check["detail"].as_str().unwrap().contains("not associated"),
        "{check}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_collaborations_tables_are_read_past_the_first_page() {
    // In memory: more than a page of associations without persisting the state at each one.
    let sb = crpack_sandbox::Sandbox::start(crpack_sandbox::SandboxOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: None,
    })
    .await
    .unwrap();
    let info = seed::seed(&sb.endpoint()).await.unwrap();
    let author = crate::common::clients_for(&info, &info.author.identity).await;
    let provider = crate::common::clients_for(&info, &info.provider.identity).await;
    let glue = glue_orders();
    // ListSchemas pages at 100: the seeded two, 100 more, then payments on the second page.
    for i in 0..=100 {
        let name = if i == 100 {
            TABLE.to_string()
        } else {
            format!("filler_{i:03}")
        };
        let table = ok(provider
            .cleanrooms
            .create_configured_table()
            .name(&name)
            .table_reference(glue.clone())
            .set_allowed_columns(Some(names(&["order_id"])))
            .analysis_method(cr::AnalysisMethod::DirectJob)
            .send()
            .await);
        if i == 100 {
            let wanted = names(&[TABLE, "filler_099", "orders"]);
            let before = unassociated_tables(&author, &info.author.membership_id, &wanted)
                .await
                .unwrap();
            assert_eq!(before, [TABLE]);
        }
        ok(provider
            .cleanrooms
            .create_configured_table_association()
            .membership_identifier(&info.provider.membership_id)
            .configured_table_identifier(table.configured_table().unwrap().id())
            .name(&name)
            .role_arn(seed::TABLE_ROLE_ARN)
            .send()
            .await);
    }
    let page = ok(author
        .cleanrooms
        .list_schemas()
        .collaboration_identifier(&info.collaboration_id)
        .send()
        .await);
    assert!(
        page.next_token().is_some() && !page.schema_summaries().iter().any(|s| s.name() == TABLE),
        "payments is not on the first page"
    );
    let after = unassociated_tables(
        &author,
        &info.author.membership_id,
        &names(&["customers", TABLE, "filler_000"]),
    )
    .await
    .unwrap();
    assert!(after.is_empty(), "{after:?}");

    // A membership the caller cannot read is an error that says what failed.
    let e = unassociated_tables(&provider, &info.author.membership_id, &names(&[TABLE]))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("GetMembership"), "{e}");
    sb.stop().await;
}

#[test]
fn a_malformed_table_name_is_still_refused() {
    let sb = TestSandbox::start();
    let err = sb
        .rt
        .block_on(
            sb.author_pyspark_template("malformed")
                .source(cr::AnalysisSource::Artifacts(
                    cr::AnalysisTemplateArtifacts::builder()
                        .entry_point(template_artifact(&sb.seed.bucket, "absent.py"))
                        .role_arn(&sb.seed.role_arn)
                        .build()
                        .unwrap(),
                ))
                .schema(
                    cr::AnalysisSchema::builder()
                        .referenced_tables("-payments")
                        .build(),
                )
                .send(),
        )
        .unwrap_err();
    let e = err.into_service_error();
    let text = format!("{e:?}");
    assert!(e.is_validation_exception(), "{text}");
    assert!(text.contains("schema.referencedTables"), "{text}");
}

/// `crpack publish` registers a template naming a table no member has associated yet, and says
/// which one, with the fix.
#[test]
fn publish_warns_about_tables_to_be_associated_later() {
    let (sb, _tmp, dir) = crate::common::sandbox_with_project("templates/later");
    let toml = std::fs::read_to_string(dir.join("crpack.toml")).unwrap().replace(
        "referenced_tables = [\"orders\", \"customers\"]",
        "referenced_tables = [\"orders\", \"customers\", \"payments\"]",
    );
    assert!(toml.contains("\"payments\"]"), "{toml}");
    std::fs::write(dir.join("crpack.toml"), toml).unwrap();
    let r = sb.author(&dir, &["--json", "publish"]).expect(0);
    let json = r.json();
    assert_eq!(json["template_action"], "created");
    let warnings = json["warnings"].to_string();
    assert!(
        warnings.contains("not associated with the collaboration yet: payments"),
        "{warnings}"
    );
    assert!(
        !warnings.contains("orders,") && !warnings.contains("customers;"),
        "{warnings}"
    );
}
