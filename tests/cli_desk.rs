//! The reviewer's desk through the real binary against the sandbox: `crpack templates` lists the
//! collaboration's templates, and `--pending` follows approve and revoke across two tables.

mod common;

use common::*;

/// `crpack --json templates --membership <provider's> [extra]` as the provider.
fn desk(sb: &TestSandbox, dir: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let pm = sb.seed.provider.membership_id.clone();
    let mut args = vec!["--json", "templates", "--membership", &pm];
    args.extend_from_slice(extra);
    let r = sb.provider(dir, &args).expect(0).json();
    assert_eq!(r["ok"], true);
    r["desk"].clone()
}

/// `(table, allowed)` for each of the provider's tables the listed template reads.
fn access(entry: &serde_json::Value) -> Vec<(String, bool)> {
    entry["my_tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["table"].as_str().unwrap().to_string(),
                t["allowed"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// The ARNs a desk lists.
fn arns(desk: &serde_json::Value) -> Vec<String> {
    desk["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["arn"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn pending_follows_approve_and_revoke_across_two_tables() {
    let sb = TestSandbox::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = sb.project(tmp.path(), "templates/desk");
    let lock = sb.author(&dir, &["--json", "publish"]).expect(0).json()["lock"].clone();
    let arn = lock["template"]["arn"].as_str().unwrap().to_string();
    let pm = sb.seed.provider.membership_id.clone();
    let files = [
        dir.join("dist/entrypoint.py").display().to_string(),
        dir.join("dist/pyspark_venv.tar.gz").display().to_string(),
    ];
    let approve = |extra: &[&str]| {
        let mut args = vec!["--json", "approve", "--template", &arn, "--membership", &pm];
        args.extend_from_slice(extra);
        args.extend(["--files", &files[0], &files[1]]);
        sb.provider(&dir, &args).expect(0);
    };

    // Published, not reviewed: listed, and pending on both tables.
    let all = desk(&sb, &dir, &[]);
    assert_eq!(all["membership_id"], pm.as_str());
    assert_eq!(all["collaboration_id"], sb.seed.collaboration_id.as_str());
    assert_eq!(all["pending_only"], false);
    assert_eq!(arns(&all), [arn.as_str()]);
    let entry = &all["templates"][0];
    assert_eq!(
        entry["creator_account_id"],
        sb.seed.author.identity.account_id.as_str()
    );
    assert_eq!(entry["error_messages"], "BASIC");
    assert_eq!(
        entry["referenced_tables"],
        serde_json::json!(["orders", "customers"])
    );
    assert!(entry["created"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        access(entry),
        [("orders".to_string(), false), ("customers".to_string(), false)]
    );
    assert_eq!(entry["my_tables"][0]["reason"], "not_listed");
    assert_eq!(entry["pending"], true);
    assert_eq!(arns(&desk(&sb, &dir, &["--pending"])), [arn.as_str()]);

    // Allowed on one table of two: still pending.
    approve(&["--table", "orders"]);
    let pending = desk(&sb, &dir, &["--pending"]);
    assert_eq!(pending["pending_only"], true);
    assert_eq!(arns(&pending), [arn.as_str()]);
    assert_eq!(
        access(&pending["templates"][0]),
        [("orders".to_string(), true), ("customers".to_string(), false)]
    );
    assert_eq!(pending["templates"][0]["my_tables"][0]["reason"], "arn");

    // Allowed on both: no longer pending, still listed.
    approve(&[]);
    assert!(arns(&desk(&sb, &dir, &["--pending"])).is_empty());
    let all = desk(&sb, &dir, &[]);
    assert_eq!(all["templates"][0]["pending"], false);
    assert_eq!(
        access(&all["templates"][0]),
        [("orders".to_string(), true), ("customers".to_string(), true)]
    );

    // Revoked on one: pending again.
    sb.provider(
        &dir,
        &[
            "--json",
            "revoke",
            "--template",
            &arn,
            "--membership",
            &pm,
            "--table",
            "customers",
        ],
    )
    .expect(0);
    let pending = desk(&sb, &dir, &["--pending"]);
    assert_eq!(arns(&pending), [arn.as_str()]);
    assert_eq!(
        access(&pending["templates"][0]),
        [("orders".to_string(), true), ("customers".to_string(), false)]
    );

    // The human desk: one row per template, the tables' state in words, the count on stderr.
    let human = sb.provider(&dir, &["templates", "--membership", &pm]).expect(0);
    let out = human.stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "a header and one template:\n{out}");
    assert!(lines[0].starts_with("TEMPLATE"), "{out}");
    assert!(
        lines[1].contains("orders allowed, customers NOT allowed"),
        "{out}"
    );
    assert!(lines[1].ends_with(arn.as_str()), "{out}");
    assert!(
        human.stderr().contains("1 PySpark template(s) in collaboration")
            && human.stderr().contains("1 await"),
        "{}",
        human.stderr()
    );
}

#[test]
fn the_author_sees_templates_that_read_no_table_of_theirs() {
    let sb = TestSandbox::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = sb.project(tmp.path(), "templates/desk-author");
    sb.author(&dir, &["--json", "publish"]).expect(0);
    let am = sb.seed.author.membership_id.clone();
    let r = sb
        .author(&dir, &["--json", "templates", "--membership", &am])
        .expect(0)
        .json();
    let entry = &r["desk"]["templates"][0];
    assert_eq!(entry["my_tables"], serde_json::json!([]));
    assert_eq!(entry["pending"], false);
    let r = sb
        .author(&dir, &["--json", "templates", "--membership", &am, "--pending"])
        .expect(0)
        .json();
    assert_eq!(r["desk"]["templates"], serde_json::json!([]));
}

#[test]
fn an_outsider_gets_exit_3_with_the_cause() {
    let sb = TestSandbox::start();
    let tmp = tempfile::tempdir().unwrap();
    let pm = sb.seed.provider.membership_id.clone();
    let mut cmd = crpack(["--json", "templates", "--membership", &pm]);
    cmd.current_dir(tmp.path());
    sb.as_identity(&mut cmd, &sb.seed.outsider);
    let r = run(&mut cmd).expect(3);
    let doc = r.json();
    assert_eq!(doc["ok"], false);
    assert!(!doc["error"]["message"].as_str().unwrap().is_empty());
}
