//! Who receives results: `approve --result-receiver` writes the CUSTOM rule's
//! `allowedResultReceivers` (every other field kept), `revoke` leaves it unless asked, the
//! sandbox fails a job whose receiver a referenced table's rule does not allow, and `templates`
//! and `verify` show the receivers allowed.

use crate::common::*;

const AUTHOR: &str = "111111111111";

impl Published {
    /// `crpack --json <command> --template ARN --membership PM <extra>` as the provider.
    fn as_provider(&self, command: &str, extra: &[&str]) -> Run {
        let pm = self.pm();
        let mut args = vec!["--json", command, "--template", &self.arn, "--membership", &pm];
        args.extend_from_slice(extra);
        self.sb.provider(&self.dir, &args)
    }

    /// The author's job on the template, waited for (`--json`).
    fn job(&self) -> serde_json::Value {
        let am = self.am();
        let args = ["--json", "run", "--template", &self.arn, "--membership", &am];
        self.sb.author(&self.dir, &args).json()
    }
}

/// The CUSTOM rule of the provider's table `table`, which the seed gives every table.
fn rule_of(p: &Published, table: &str) -> aws_sdk_cleanrooms::types::AnalysisRuleCustom {
    p.rule(table).expect("the seed gives each table a CUSTOM rule")
}

#[test]
fn receivers_are_written_kept_enforced_and_shown() {
    let p = Published::start("templates/receivers");
    let ep = p.dist("entrypoint.py");
    let env = p.dist("pyspark_venv.tar.gz");
    let files = ["--files", ep.as_str(), env.as_str()];

    // The orders rule carries fields crpack must keep: a column that may not be output.
    let before = rule_of(&p, "orders");
    assert_eq!(
        before.allowed_result_receivers, None,
        "the seed names no receivers"
    );
    let mut with_columns = before.clone();
    with_columns.disallowed_output_columns = Some(vec!["amount".into()]);
    p.set_rule("orders", with_columns);

    // Approve, naming the author as the one receiver.
    let mut args = files.to_vec();
    args.extend(["--result-receiver", AUTHOR]);
    let approved = p.as_provider("approve", &args).expect(0).json();
    let tables = &approved["tables"];
    assert_eq!(strings_of(tables, "action"), ["added", "added"], "{approved}");
    for t in tables.as_array().unwrap() {
        assert_eq!(t["allowed_result_receivers"], serde_json::json!([AUTHOR]), "{t}");
        assert_eq!(t["result_receivers_changed"], serde_json::json!([AUTHOR]), "{t}");
    }
    assert_eq!(approved["warnings"], serde_json::json!([]), "{approved}");
    let orders = rule_of(&p, "orders");
    assert_eq!(orders.allowed_result_receivers, Some(vec![AUTHOR.to_string()]));
    assert_eq!(orders.allowed_analyses, vec![p.arn.clone()]);
    assert_eq!(
        orders.disallowed_output_columns,
        Some(vec!["amount".to_string()]),
        "every other field of the rule is kept"
    );
    assert_eq!(p.job()["job"]["status"], "SUCCESS");

    // Approving again with the same receiver changes nothing.
    let again = p.as_provider("approve", &args).expect(0).json();
    assert_eq!(
        strings_of(&again["tables"], "action"),
        ["already_approved", "already_approved"]
    );
    assert_eq!(
        again["tables"][0]["result_receivers_changed"],
        serde_json::json!([])
    );

    // The owner lets results of jobs on orders go to another account only: the author's job
    // fails as the service fails it, naming the table, the receiver and the fix.
    let mut elsewhere = rule_of(&p, "orders");
    elsewhere.allowed_result_receivers = Some(vec!["333333333333".into()]);
    p.set_rule("orders", elsewhere);
    let failed = p.job();
    let job = &failed["job"];
    assert_eq!(job["status"], "FAILED", "{failed}");
    assert_eq!(job["error_code"], "RESULT_RECEIVER_NOT_ALLOWED", "{failed}");
    let message = job["error_message"].as_str().unwrap();
    assert!(
        message.contains("table orders") && message.contains(&format!("account {AUTHOR}")),
        "{message}"
    );

    // The desk and the verification show who may receive results.
    let pm = p.pm();
    let desk =
        p.sb.provider(&p.dir, &["--json", "templates", "--membership", &pm])
            .expect(0)
            .json();
    let entry = item_where(&desk["desk"]["templates"], "arn", &p.arn);
    let orders = item_where(&entry["my_tables"], "table", "orders");
    assert_eq!(orders["allowed"], true);
    assert_eq!(
        orders["allowed_result_receivers"],
        serde_json::json!(["333333333333"])
    );
    let desk =
        p.sb.provider(&p.dir, &["templates", "--membership", &pm])
            .expect(0)
            .stdout();
    assert!(
        desk.contains("orders allowed (results to account(s) 333333333333 only)"),
        "{desk}"
    );
    let verified = p.as_provider("verify", &files).expect(0).json();
    let orders = item_where(&verified["my_tables"], "table", "orders");
    assert_eq!(
        orders["allowed_result_receivers"],
        serde_json::json!(["333333333333"])
    );
    let customers = item_where(&verified["my_tables"], "table", "customers");
    assert_eq!(customers["allowed_result_receivers"], serde_json::json!([AUTHOR]));
    let pm = p.pm();
    let human_args = [
        "verify",
        "--template",
        &p.arn,
        "--membership",
        &pm,
        "--files",
        &ep,
        &env,
    ];
    let human = p.sb.provider(&p.dir, &human_args).expect(0).stdout();
    assert!(
        human.contains("orders allows this template; results to account(s) 333333333333 only"),
        "{human}"
    );

    // Approving without a receiver warns that the creator cannot receive the results.
    let warned = p.as_provider("approve", &files).expect(0).json();
    let warnings = warned["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warned}");
    assert!(
        warnings[0]
            .as_str()
            .unwrap()
            .contains("--result-receiver 111111111111"),
        "{warned}"
    );

    // Adding the author back: the job succeeds again; the other receiver stays.
    let fixed = p.as_provider("approve", &args).expect(0).json();
    let orders = item_where(&fixed["tables"], "table", "orders");
    assert_eq!(orders["action"], "already_approved");
    assert_eq!(orders["result_receivers_changed"], serde_json::json!([AUTHOR]));
    assert_eq!(
        orders["allowed_result_receivers"],
        serde_json::json!(["333333333333", AUTHOR])
    );
    assert_eq!(p.job()["job"]["status"], "SUCCESS");

    // Revoking leaves the receivers unless asked.
    let revoked = p
        .as_provider("revoke", &["--table", "customers"])
        .expect(0)
        .json();
    assert_eq!(revoked["tables"][0]["action"], "removed");
    assert_eq!(
        rule_of(&p, "customers").allowed_result_receivers,
        Some(vec![AUTHOR.to_string()])
    );
    // Asked: the receiver goes, and the emptied list admits no one rather than anyone.
    let revoked = p
        .as_provider("revoke", &["--table", "customers", "--result-receiver", AUTHOR])
        .expect(0)
        .json();
    assert_eq!(revoked["tables"][0]["action"], "not_approved");
    assert_eq!(
        revoked["tables"][0]["result_receivers_changed"],
        serde_json::json!([AUTHOR])
    );
    assert_eq!(rule_of(&p, "customers").allowed_result_receivers, Some(vec![]));
    let orders = rule_of(&p, "orders");
    assert_eq!(
        orders.allowed_result_receivers,
        Some(vec!["333333333333".to_string(), AUTHOR.to_string()]),
        "a table not named keeps its rule"
    );
}

#[test]
fn receivers_are_checked_before_anything_is_changed() {
    let p = Published::start("templates/receivers-bad");
    let ep = p.dist("entrypoint.py");
    let env = p.dist("pyspark_venv.tar.gz");

    // Not an account id: a usage error.
    let bad = p.as_provider("approve", &["--files", &ep, &env, "--result-receiver", "12345"]);
    let bad = bad.expect(2).json();
    assert_eq!(bad["error"]["kind"], "usage", "{bad}");
    assert!(
        bad["error"]["message"].as_str().unwrap().contains("12 digits"),
        "{bad}"
    );

    // Not a member, and a member that cannot receive results: exit 3 naming why; no rule changed.
    let provider = p.sb.seed.provider.identity.account_id.clone();
    for (account, why) in [
        ("333333333333", "it is not a member"),
        (provider.as_str(), "lacks the CAN_RECEIVE_RESULTS ability"),
    ] {
        let refused = p.as_provider("approve", &["--files", &ep, &env, "--result-receiver", account]);
        let refused = refused.expect(3).json();
        let message = refused["error"]["message"].as_str().unwrap();
        assert!(message.contains(account) && message.contains(why), "{message}");
    }
    for table in ["orders", "customers"] {
        let rule = rule_of(&p, table);
        assert!(rule.allowed_analyses.is_empty(), "{table}: {rule:?}");
        assert_eq!(rule.allowed_result_receivers, None, "{table}");
    }
}
