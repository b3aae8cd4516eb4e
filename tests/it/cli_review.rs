//! The reviewer's path through the real binary against the sandbox: verify from every source,
//! tamper cases (each exit 1, rule unchanged), approve/revoke preserving the rule, policies,
//! wildcards, missing rules, and non-members.

use std::fs;
use std::path::Path;

use crate::common::*;
use aws_sdk_cleanrooms::types::{AnalysisRuleCustom, ConfiguredTableAnalysisRuleType};

/// A published scaffold: the sandbox, the project dir, and the published lock.
type World = Published;

fn publish_world() -> World {
    Published::start("templates/review")
}

impl Published {
    /// `crpack --json verify` as the provider with extra source arguments.
    fn verify(&self, source: &[&str]) -> Run {
        let pm = self.pm();
        let mut args = vec!["--json", "verify", "--template", &self.arn, "--membership", &pm];
        args.extend_from_slice(source);
        self.sb.provider(&self.dir, &args)
    }

    fn approve(&self, extra: &[&str]) -> Run {
        let pm = self.pm();
        let mut args = vec!["--json", "approve", "--template", &self.arn, "--membership", &pm];
        args.extend_from_slice(extra);
        self.sb.provider(&self.dir, &args)
    }

    /// The arguments of a human `crpack verify --collaboration ... --files ENTRY BUNDLE`.
    fn verify_in_collaboration<'a>(&'a self, entry: &'a str, bundle: &'a str) -> [&'a str; 8] {
        [
            "verify",
            "--template",
            &self.arn,
            "--collaboration",
            &self.sb.seed.collaboration_id,
            "--files",
            entry,
            bundle,
        ]
    }

    /// `crpack approve` as the provider, with its human output.
    fn approve_human(&self, extra: &[&str]) -> Run {
        let pm = self.pm();
        let mut args = vec!["approve", "--template", &self.arn, "--membership", &pm];
        args.extend_from_slice(extra);
        self.sb.provider(&self.dir, &args)
    }

    /// Asserts that approving with `source` fails with exit 1 and changes no rule.
    #[track_caller]
    fn assert_approve_refused(&self, source: &[&str]) {
        let before = (self.rule("orders"), self.rule("customers"));
        let r = self.approve(source).expect(1).json();
        assert_eq!(r["approved"], false);
        assert_eq!(
            (self.rule("orders"), self.rule("customers")),
            before,
            "rules unchanged"
        );
    }
}

fn verdicts(j: &serde_json::Value) -> Vec<String> {
    j["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| crate::common::two_fields(c, "role", "=", "verdict"))
        .collect()
}

fn copy_with_flip(from: &str, to: &Path, at: usize) -> String {
    let mut bytes = fs::read(from).unwrap();
    let i = at.min(bytes.len() - 1);
    bytes[i] ^= 0x01;
    fs::write(to, bytes).unwrap();
    to.display().to_string()
}

#[test]
fn verify_from_every_source_matches_and_summarises_the_template() {
    let w = publish_world();
    let (ep, bundle) = (w.dist("entrypoint.py"), w.dist("pyspark_venv.tar.gz"));
    let j = w.verify(&["--files", &ep, &bundle]).expect(0).json();
    assert_eq!(j["ok"], true);
    assert_eq!(verdicts(&j), ["entry_point=match", "additional=match"]);
    let t = &j["template"];
    assert_eq!(t["creator_account_id"], "111111111111");
    assert_eq!(t["format"], "PYSPARK_1_0");
    assert_eq!(t["referenced_tables"], serde_json::json!(["orders", "customers"]));
    assert_eq!(t["parameters"][0]["name"], "min_customers");
    assert_eq!(t["parameters"][0]["default"], "1");
    assert_eq!(t["error_messages"], "BASIC");
    assert_eq!(t["role_arn"], w.sb.seed.role_arn.as_str());
    assert_eq!(
        t["artifacts"][0]["recorded_sha256"],
        w.lock["artifacts"][0]["sha256"]
    );

    // Through --collaboration too, and in human form.
    let pm = w.pm();
    let human = w.sb.provider(&w.dir, &w.verify_in_collaboration(&ep, &bundle));
    let human = human.expect(0);
    assert!(
        human.stdout().contains("verified: every artifact matches"),
        "{}",
        human.stdout()
    );
    assert!(
        human.stdout().contains("creator     account 111111111111"),
        "{}",
        human.stdout()
    );

    // Rebuilding the author's project.
    let dir = w.dir.display().to_string();
    assert_eq!(w.verify(&["--source", &dir]).expect(0).json()["ok"], true);

    // From S3: denied until the author grants read access, then a match; --save keeps the bytes.
    // Denied is "could not check" (exit 3), not "differs" (exit 1); approve refuses on it too.
    let denied = w.verify(&["--from-s3"]).expect(3).json();
    assert_eq!(
        verdicts(&denied),
        ["entry_point=unreadable", "additional=unreadable"]
    );
    assert_eq!(denied["ok"], false);
    assert_eq!(denied["outcome"], "unchecked");
    let human = w.sb.provider(
        &w.dir,
        &["verify", "--template", &w.arn, "--membership", &pm, "--from-s3"],
    );
    assert!(
        human
            .expect(3)
            .stdout()
            .contains("could not verify: 2 artifact(s) could not be read")
    );
    let refused = w.approve(&["--from-s3"]).expect(3).json();
    assert_eq!(refused["approved"], false);
    assert_eq!(w.rule("orders").unwrap().allowed_analyses, Vec::<String>::new());
    let detail = denied["checks"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("access denied") && detail.contains("--files"),
        "{detail}"
    );
    w.sb.grant_provider_read();
    let save = w.dir.join("downloaded");
    let save_s = save.display().to_string();
    let j = w.verify(&["--from-s3", "--save", &save_s]).expect(0).json();
    assert_eq!(j["checks"][0]["version_id"], w.lock["artifacts"][0]["version_id"]);
    assert_eq!(
        fs::read(save.join("pyspark_venv.tar.gz")).unwrap(),
        fs::read(&bundle).unwrap()
    );

    // The author's lock as evidence.
    let lock = w.dir.join("crpack.lock").display().to_string();
    assert_eq!(w.verify(&["--lock", &lock]).expect(0).json()["ok"], true);

    // No source is a usage error; two sources too.
    w.sb.provider(&w.dir, &["verify", "--template", &w.arn, "--membership", &pm])
        .expect(2);
    w.verify(&["--from-s3", "--lock", &lock]).expect(2);
}

#[test]
fn tampering_is_detected_and_blocks_approval() {
    let w = publish_world();
    let tmp = tempfile::tempdir().unwrap();
    let (ep, bundle) = (w.dist("entrypoint.py"), w.dist("pyspark_venv.tar.gz"));

    // A byte flipped in the entry point.
    let bad_ep = copy_with_flip(&ep, &tmp.path().join("entrypoint.py"), 100);
    let j = w.verify(&["--files", &bad_ep, &bundle]).expect(1).json();
    assert_eq!(verdicts(&j), ["entry_point=mismatch", "additional=match"]);
    assert_eq!(
        j["checks"][0]["expected_sha256"],
        w.lock["artifacts"][0]["sha256"]
    );
    assert_eq!(
        j["checks"][0]["actual_sha256"].as_str().unwrap(),
        sha256_hex(Path::new(&bad_ep))
    );
    w.assert_approve_refused(&["--files", &bad_ep, &bundle]);

    // A byte flipped in the bundle: explained per entry once the pinned bytes can be read.
    let bad_zip = tmp.path().join("pyspark_venv.tar.gz");
    let mut z = fs::read(&bundle).unwrap();
    // Flip a byte inside the compressed data of the first entry (after its 30-byte header + name).
    z[80] ^= 0x40;
    fs::write(&bad_zip, &z).unwrap();
    let bad_zip = bad_zip.display().to_string();
    let j = w.verify(&["--files", &ep, &bad_zip]).expect(1).json();
    assert_eq!(verdicts(&j), ["entry_point=match", "additional=mismatch"]);
    w.assert_approve_refused(&["--files", &ep, &bad_zip]);
    w.sb.grant_provider_read();
    let j = w.verify(&["--files", &ep, &bad_zip]).expect(1).json();
    assert_eq!(
        j["checks"][1]["matching_version_id"],
        w.lock["artifacts"][1]["version_id"]
    );
    assert!(
        j["checks"][1]["explanation"].is_object() || j["checks"][1]["detail"].is_string(),
        "an explanation or the reason there is none: {}",
        j["checks"][1]
    );

    // A rebuild from changed sources: the bundle difference is explained per entry.
    let changed_src = tmp.path().join("changed-project");
    copy_tree(&w.dir, &changed_src);
    let helper = changed_src.join("lib/analysis_helpers/__init__.py");
    let mut text = fs::read_to_string(&helper).unwrap();
    text.push_str("\nEXTRA = 1\n");
    fs::write(&helper, text).unwrap();
    let j = w
        .verify(&["--source", changed_src.to_str().unwrap()])
        .expect(1)
        .json();
    assert_eq!(verdicts(&j), ["entry_point=match", "additional=mismatch"]);
    let changes = &j["checks"][1]["explanation"]["changes"];
    assert_eq!(changes.as_array().unwrap().len(), 1, "{}", j["checks"][1]);
    assert_eq!(changes[0]["change"], "changed");
    assert_eq!(
        changes[0]["name"],
        "lib/python3.11/site-packages/analysis_helpers/__init__.py"
    );
    let human = w.sb.provider(
        &w.dir,
        &[
            "verify",
            "--template",
            &w.arn,
            "--membership",
            &w.pm(),
            "--source",
            changed_src.to_str().unwrap(),
        ],
    );
    let human = human.expect(1);
    assert!(
        human.stdout().contains("analysis_helpers/__init__.py"),
        "{}",
        human.stdout()
    );

    // An artifact missing.
    let j = w.verify(&["--files", &ep]).expect(1).json();
    assert_eq!(verdicts(&j), ["entry_point=match", "additional=missing"]);
    w.assert_approve_refused(&["--files", &ep]);

    // A new version uploaded under the entry point's key after the template was created.
    let aws = w.sb.clients(&w.sb.seed.author.identity);
    let key = w.lock["artifacts"][0]["key"].as_str().unwrap();
    let mut changed = fs::read(&ep).unwrap();
    changed.extend_from_slice(b"\nimport socket\n");
    w.sb.rt
        .block_on(
            aws.s3
                .put_object()
                .bucket(&w.sb.seed.bucket)
                .key(key)
                .body(aws_sdk_s3::primitives::ByteStream::from(changed))
                .send(),
        )
        .unwrap();
    let j = w.verify(&["--from-s3"]).expect(1).json();
    assert_eq!(verdicts(&j), ["entry_point=mismatch", "additional=match"]);
    assert_eq!(
        j["checks"][0]["matching_version_id"],
        w.lock["artifacts"][0]["version_id"]
    );
    assert_ne!(j["checks"][0]["version_id"], w.lock["artifacts"][0]["version_id"]);
    assert!(
        j["checks"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("import socket"),
        "{}",
        j["checks"][0]
    );
    w.assert_approve_refused(&["--from-s3"]);
    // The lock pins versions, so the evidence the author shared still verifies.
    let lock = w.dir.join("crpack.lock").display().to_string();
    assert_eq!(w.verify(&["--lock", &lock]).expect(0).json()["ok"], true);
    // A lock for another template is refused.
    let mut other: serde_json::Value = serde_json::from_str(&fs::read_to_string(&lock).unwrap()).unwrap();
    other["template"]["arn"] = serde_json::json!(w.arn.replace("analysistemplate/", "analysistemplate/0"));
    let other_path = tmp.path().join("other.lock");
    fs::write(&other_path, serde_json::to_vec(&other).unwrap()).unwrap();
    let j = w
        .verify(&["--lock", other_path.to_str().unwrap()])
        .expect(1)
        .json();
    assert!(
        j["problems"][0]
            .as_str()
            .unwrap()
            .contains("not the evidence for this template"),
        "{j}"
    );
}

#[test]
fn swapped_artifacts_and_missing_hashes_fail() {
    let mut w = publish_world();
    // A template whose entry point and additional artifact locations are swapped.
    let author = w.sb.clients(&w.sb.seed.author.identity);
    let (ep_key, zip_key) = (
        w.lock["artifacts"][0]["key"].as_str().unwrap().to_string(),
        w.lock["artifacts"][1]["key"].as_str().unwrap().to_string(),
    );
    let loc = |k: &str| template_artifact(&w.sb.seed.bucket, k);
    let source = aws_sdk_cleanrooms::types::AnalysisSource::Artifacts(
        aws_sdk_cleanrooms::types::AnalysisTemplateArtifacts::builder()
            .entry_point(loc(&zip_key))
            .additional_artifacts(loc(&ep_key))
            .role_arn(&w.sb.seed.role_arn)
            .build()
            .unwrap(),
    );
    let swapped =
        w.sb.rt
            .block_on(
                author
                    .cleanrooms
                    .create_analysis_template()
                    .membership_identifier(&w.sb.seed.author.membership_id)
                    .name("swapped")
                    .format(aws_sdk_cleanrooms::types::AnalysisFormat::Pyspark10)
                    .source(source)
                    .schema(
                        aws_sdk_cleanrooms::types::AnalysisSchema::builder()
                            .referenced_tables("orders")
                            .build(),
                    )
                    .send(),
            )
            .unwrap();
    let swapped_arn = swapped.analysis_template().unwrap().arn().to_string();
    let pm = w.pm();
    let dir = w.dir.display().to_string();
    let verify_swapped = |source: &[&str]| {
        let mut args = vec![
            "--json",
            "verify",
            "--template",
            &swapped_arn,
            "--membership",
            &pm,
        ];
        args.extend_from_slice(source);
        w.sb.provider(&w.dir, &args).expect(1).json()
    };
    let r = verify_swapped(&["--source", &dir]);
    assert_eq!(verdicts(&r), ["entry_point=mismatch", "additional=mismatch"]);
    let (ep, bundle) = (w.dist("entrypoint.py"), w.dist("pyspark_venv.tar.gz"));
    let r = verify_swapped(&["--files", &ep, &bundle]);
    assert!(
        r["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().contains(".py")),
        "an entry point that is not a .py file is a problem: {r}"
    );

    // A template whose sourceMetadata records fewer hashes than it has artifacts.
    w.sb.restart_with(|state| {
        let path = state.join("cleanrooms.json");
        let mut doc: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        let mut edited = 0;
        for t in doc["templates"].as_array_mut().unwrap() {
            if let Some(a) = t["doc"]["sourceMetadata"]["artifacts"].as_object_mut() {
                a.remove("additionalArtifactHashes");
                edited += 1;
            }
        }
        assert!(edited > 0);
        fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
    });
    let r = w.verify(&["--files", &ep, &bundle]).expect(1).json();
    assert!(
        r["problems"][0].as_str().unwrap().contains("records 1 hash(es)"),
        "{}",
        r["problems"]
    );
    w.assert_approve_refused(&["--files", &ep, &bundle]);
}

#[test]
fn approve_preserves_every_other_field_and_revoke_restores_the_rule() {
    let w = publish_world();
    let other_arn = w.arn.replace("analysistemplate/", "analysistemplate/f");
    let original = AnalysisRuleCustom::builder()
        .allowed_analyses(other_arn.clone())
        .disallowed_output_columns("customer_id")
        .additional_analyses(aws_sdk_cleanrooms::types::AdditionalAnalyses::NotAllowed)
        .differential_privacy(
            aws_sdk_cleanrooms::types::DifferentialPrivacyConfiguration::builder()
                .columns(
                    aws_sdk_cleanrooms::types::DifferentialPrivacyColumn::builder()
                        .name("customer_id")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    w.set_rule("orders", original.clone());
    let customers_before = w.rule("customers").unwrap();

    let (ep, bundle) = (w.dist("entrypoint.py"), w.dist("pyspark_venv.tar.gz"));
    let r = w.approve(&["--files", &ep, &bundle]).expect(0).json();
    assert_eq!(r["approved"], true);
    let actions: Vec<&str> = crate::common::strings_of(&r["tables"], "action");
    assert_eq!(actions, ["added", "added"]);
    let after = w.rule("orders").unwrap();
    let mut expected = original.clone();
    expected.allowed_analyses.push(w.arn.clone());
    assert_eq!(
        after, expected,
        "only allowedAnalyses changed, by exactly this ARN"
    );
    assert_eq!(w.rule("customers").unwrap().allowed_analyses, vec![w.arn.clone()]);

    // Again: already approved, nothing changes.
    let r = w.approve(&["--files", &ep, &bundle]).expect(0).json();
    assert_eq!(r["tables"][0]["action"], "already_approved");
    assert_eq!(w.rule("orders").unwrap(), expected);

    // Revoke restores the rules exactly.
    let pm = w.pm();
    let r =
        w.sb.provider(
            &w.dir,
            &["--json", "revoke", "--template", &w.arn, "--membership", &pm],
        )
        .expect(0)
        .json();
    assert_eq!(r["tables"][0]["action"], "removed");
    assert_eq!(w.rule("orders").unwrap(), original);
    assert_eq!(w.rule("customers").unwrap(), customers_before);

    // --table limits the change to the named table; a table the template does not use is a usage error.
    let r = w
        .approve(&["--table", "customers", "--files", &ep, &bundle])
        .expect(0)
        .json();
    assert_eq!(r["tables"].as_array().unwrap().len(), 1);
    assert_eq!(w.rule("orders").unwrap(), original);
    w.approve(&["--table", "payments", "--files", &ep, &bundle])
        .expect(2);
}

#[test]
fn wildcards_missing_rules_policies_and_non_members() {
    let w = publish_world();
    let (ep, bundle) = (w.dist("entrypoint.py"), w.dist("pyspark_venv.tar.gz"));

    // A policy violation blocks approval with exit 1.
    let policy = w.dir.join("policy.toml");
    fs::write(
        &policy,
        "allowed_creator_accounts = [\"999999999999\"]\nallowed_parameters = []\n",
    )
    .unwrap();
    let p = policy.display().to_string();
    let before = (w.rule("orders"), w.rule("customers"));
    let r = w
        .approve(&["--policy", &p, "--files", &ep, &bundle])
        .expect(1)
        .json();
    assert_eq!(r["policy_violations"].as_array().unwrap().len(), 2, "{r}");
    assert_eq!((w.rule("orders"), w.rule("customers")), before);
    fs::write(
        &policy,
        "allow_detailed_errors = false\nallowed_tables = [\"orders\", \"customers\"]\n",
    )
    .unwrap();
    w.approve(&["--policy", &p, "--table", "orders", "--files", &ep, &bundle])
        .expect(0);

    // A wildcard rule: refused and explained, unchanged.
    let wildcard = AnalysisRuleCustom::builder()
        .allowed_analyses("ANY_JOB")
        .allowed_analysis_providers("111111111111")
        .build()
        .unwrap();
    w.set_rule("customers", wildcard.clone());
    let r = w
        .approve_human(&["--table", "customers", "--files", &ep, &bundle])
        .expect(3);
    assert!(
        r.stderr().contains("ANY_JOB") && r.stderr().contains("wildcard"),
        "{}",
        r.stderr()
    );
    assert_eq!(w.rule("customers").unwrap(), wildcard);

    // No CUSTOM rule: say what to create.
    let aws = w.sb.clients(&w.sb.seed.provider.identity);
    w.sb.rt
        .block_on(
            aws.cleanrooms
                .delete_configured_table_analysis_rule()
                .configured_table_identifier(w.table_id("customers"))
                .analysis_rule_type(ConfiguredTableAnalysisRuleType::Custom)
                .send(),
        )
        .unwrap();
    let r = w
        .approve_human(&["--table", "customers", "--files", &ep, &bundle])
        .expect(3);
    assert!(r.stderr().contains("no CUSTOM analysis rule"), "{}", r.stderr());
    assert!(
        r.stderr().contains("create-configured-table-analysis-rule"),
        "{}",
        r.stderr()
    );

    // A non-member: AccessDenied, surfaced clearly.
    let mut cmd = crpack(w.verify_in_collaboration(&ep, &bundle));
    w.sb.as_identity(&mut cmd, &w.sb.seed.outsider);
    let r = run(&mut cmd).expect(3);
    assert!(
        r.stderr().contains("access denied") && r.stderr().contains("member"),
        "{}",
        r.stderr()
    );
}

#[test]
fn approve_rereads_and_retries_on_conflict() {
    let w = publish_world();
    let fired = std::sync::atomic::AtomicBool::new(false);
    // The first rule update is answered with a ConflictException, as when another writer got there
    // first; approve must re-read the rule and apply the change again.
    let proxy =
        FaultProxy::start(&w.sb.endpoint(), move |r| {
            (r.method == "PATCH"
            && r.path.starts_with("/configuredTables/")
            && !fired.swap(true, std::sync::atomic::Ordering::SeqCst))
        .then(|| {
            FaultProxy::response(
                409,
                "Conflict",
                &[("x-amzn-errortype", "ConflictException"), ("content-type", "application/json")],
                "{\"message\":\"the analysis rule was updated concurrently\",\"reason\":\"INVALID_STATE\"}",
            )
        })
        });
    let (ep, bundle) = (w.dist("entrypoint.py"), w.dist("pyspark_venv.tar.gz"));
    let pm = w.pm();
    let mut cmd = crpack([
        "--json",
        "approve",
        "--template",
        &w.arn,
        "--membership",
        &pm,
        "--files",
        &ep,
        &bundle,
    ]);
    cmd.current_dir(&w.dir);
    w.sb.as_identity(&mut cmd, &w.sb.seed.provider.identity);
    // Clean Rooms through the faulty proxy; S3 straight to the sandbox.
    cmd.env("AWS_ENDPOINT_URL_CLEANROOMS", &proxy.endpoint);
    let r = run(&mut cmd).expect(0).json();
    assert_eq!(proxy.injected(), 1);
    let actions: Vec<&str> = crate::common::strings_of(&r["tables"], "action");
    assert_eq!(actions, ["added", "added"]);
    assert_eq!(w.rule("orders").unwrap().allowed_analyses, vec![w.arn.clone()]);
}
