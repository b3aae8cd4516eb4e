//! Jobs and doctor through the real binary against the sandbox: an approved template's job
//! succeeds; an unapproved one fails with the service's error; a tampered pinned artifact fails
//! the job; cancel works; list paginates and filters; doctor reports broken preconditions.

use std::fs;
use std::time::{Duration, Instant};

use crate::common::*;

fn publish_and_approve() -> Published {
    let p = Published::start("templates/jobs");
    p.approve_dist().expect(0);
    p
}

impl Published {
    fn run_job(&self, arn: &str, extra: &[&str]) -> Run {
        let am = self.am();
        let mut args = vec!["--json", "run", "--template", arn, "--membership", &am];
        args.extend_from_slice(extra);
        self.sb.author(&self.dir, &args)
    }
}

#[test]
fn approved_jobs_succeed_unapproved_and_tampered_ones_fail() {
    let p = publish_and_approve();
    let ok = p.run_job(&p.arn, &[]).expect(0).json();
    let job = &ok["job"];
    assert_eq!(job["status"], "SUCCESS", "{ok}");
    assert_eq!(job["template_arn"], p.arn.as_str());
    assert!(
        job["duration_ms"].as_i64().unwrap() > 0,
        "a job that ran took time: {job}"
    );
    assert!(job["billed_crpu"].as_f64().unwrap() > 0.0, "{job}");
    assert!(
        job["result_location"].is_string() || !job["result_members"].as_array().unwrap().is_empty(),
        "where the results went: {job}"
    );
    let human =
        p.sb.author(&p.dir, &["jobs", "show", job["id"].as_str().unwrap()])
            .expect(0);
    assert!(
        human.stdout().contains("SUCCESS") && human.stdout().contains("CRPU"),
        "{}",
        human.stdout()
    );

    // A template nobody approved: the job fails with the service's error.
    let toml = fs::read_to_string(p.dir.join("crpack.toml")).unwrap();
    fs::write(
        p.dir.join("crpack.toml"),
        toml.replace("counted per segment", "counted per segment, v2"),
    )
    .unwrap();
    let v2 = p.sb.author(&p.dir, &["--json", "publish"]).expect(0).json();
    let v2_arn = v2["lock"]["template"]["arn"].as_str().unwrap().to_string();
    let failed = p.run_job(&v2_arn, &[]).expect(3).json();
    assert_eq!(failed["job"]["status"], "FAILED");
    assert_eq!(
        failed["job"]["error_code"], "ANALYSIS_TEMPLATE_NOT_ALLOWED",
        "{failed}"
    );
    let msg = failed["job"]["error_message"].as_str().unwrap();
    assert!(
        msg.contains("orders") || msg.contains("customers"),
        "names the table: {msg}"
    );

    // Parameters are checked before anything starts.
    let before =
        p.sb.author(&p.dir, &["--json", "jobs", "list", "--membership", &p.am()])
            .expect(0)
            .json();
    let r = p.run_job(&p.arn, &["--param", "nope=1"]).expect(2);
    assert!(r.stderr().contains("min_customers"), "{}", r.stderr());
    let after =
        p.sb.author(&p.dir, &["--json", "jobs", "list", "--membership", &p.am()])
            .expect(0)
            .json();
    assert_eq!(
        before["jobs"].as_array().unwrap().len(),
        after["jobs"].as_array().unwrap().len()
    );
    p.run_job(&p.arn, &["--param", "min_customers=2"]).expect(0);

    // Tampering with a pinned artifact (its version deleted) fails every later job.
    let aws = p.sb.clients(&p.sb.seed.author.identity);
    let ep = &p.lock["artifacts"][0];
    let field = |name: &str| ep[name].as_str().unwrap().to_string();
    let delete = aws
        .s3
        .delete_object()
        .bucket(field("bucket"))
        .key(field("key"))
        .version_id(field("version_id"));
    p.sb.rt.block_on(delete.send()).unwrap();
    let tampered = p.run_job(&p.arn, &[]).expect(3).json();
    assert_eq!(
        tampered["job"]["error_code"], "ARTIFACT_VERIFICATION_FAILED",
        "{tampered}"
    );

    // The jobs are listed, paged one at a time, and filtered by status.
    let am = p.am();
    let list = |filter: &[&str]| {
        let mut args = vec!["--json", "jobs", "list", "--membership", &am];
        args.extend_from_slice(filter);
        p.sb.author(&p.dir, &args).expect(0).json()
    };
    let all = list(&["--page-size", "1"]);
    assert_eq!(all["jobs"].as_array().unwrap().len(), 4, "{all}");
    let failed = list(&["--status", "failed"]);
    assert_eq!(failed["jobs"].as_array().unwrap().len(), 2, "{failed}");
}

#[test]
fn cancel_stops_a_job_and_members_without_can_run_job_are_refused() {
    let p = publish_and_approve();
    let started = p.run_job(&p.arn, &["--no-wait"]).expect(0).json();
    let id = started["job_id"].as_str().unwrap().to_string();
    let c =
        p.sb.author(&p.dir, &["--json", "jobs", "cancel", &id])
            .expect(0)
            .json();
    let status = c["job"]["status"].as_str().unwrap().to_string();
    assert!(["CANCELLING", "CANCELLED"].contains(&status.as_str()), "{c}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let j =
            p.sb.author(&p.dir, &["--json", "jobs", "show", &id, "--membership", &p.am()])
                .expect(0)
                .json();
        if j["job"]["status"] == "CANCELLED" {
            break;
        }
        assert!(Instant::now() < deadline, "never CANCELLED: {j}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The provider's membership has no CAN_RUN_JOB.
    let pm = p.sb.seed.provider.membership_id.clone();
    let r =
        p.sb.provider(&p.dir, &["run", "--template", &p.arn, "--membership", &pm])
            .expect(3);
    assert!(r.stderr().contains("CAN_RUN_JOB"), "{}", r.stderr());

    // Workers are checked against the model's range (4–1024) before the call.
    for n in ["1025", "3"] {
        let refused = p
            .run_job(&p.arn, &["--worker-type", "CR.4X", "--workers", n])
            .expect(2);
        assert!(
            refused.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("4 to 1024")
        );
    }
    let big = p
        .run_job(&p.arn, &["--worker-type", "CR.4X", "--workers", "8"])
        .expect(0);
    assert!(!big.stderr().contains("user guide"), "{}", big.stderr());
    assert!(big.json()["job"]["billed_crpu"].as_f64().unwrap() > 0.0);
    // More than the user guide's table lists: allowed, with a warning; the service takes it.
    let bigger = p
        .run_job(&p.arn, &["--worker-type", "CR.4X", "--workers", "64"])
        .expect(0);
    assert!(
        bigger.stderr().contains("lists at most 32 CR.4X workers"),
        "{}",
        bigger.stderr()
    );
    assert_eq!(bigger.json()["job"]["workers"], 64);
}

#[test]
fn doctor_reports_each_broken_precondition() {
    let (sb, _tmp, dir) = crate::common::sandbox_with_project("templates/doctor");

    // Before any approval: the tables have no allowed templates yet.
    let j = sb.author(&dir, &["--json", "doctor"]).expect(1).json();
    let failing = |j: &serde_json::Value| -> Vec<String> {
        j["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["ok"] == false)
            .map(|c| crate::common::two_fields(c, "name", ": ", "detail"))
            .collect()
    };
    let f = failing(&j);
    assert!(f.iter().all(|c| c.starts_with("table ")), "{f:?}");
    assert!(
        f.iter().any(|c| c.contains("ANALYSIS_TEMPLATES_NOT_CONFIGURED")),
        "{f:?}"
    );

    // Approve a template on both tables: everything passes.
    let (arn, _) = sb.publish(&dir);
    sb.approve_dist(&dir, &arn).expect(0);
    let pm = sb.seed.provider.membership_id.clone();
    let healthy = sb.author(&dir, &["--json", "doctor"]).expect(0).json();
    assert!(failing(&healthy).is_empty(), "{healthy}");
    let human = sb.author(&dir, &["doctor"]).expect(0);
    assert!(human.stdout().contains("ok   credentials"), "{}", human.stdout());
    assert!(
        human.stdout().contains("account 111111111111"),
        "{}",
        human.stdout()
    );

    // Break the world: versioning suspended, a table that does not exist, the provider's
    // membership (no abilities) instead of the author's.
    let aws = sb.clients(&sb.seed.author.identity);
    let suspended = aws_sdk_s3::types::VersioningConfiguration::builder()
        .status(aws_sdk_s3::types::BucketVersioningStatus::Suspended)
        .build();
    sb.rt
        .block_on(
            aws.s3
                .put_bucket_versioning()
                .bucket(&sb.seed.bucket)
                .versioning_configuration(suspended)
                .send(),
        )
        .unwrap();
    let toml = fs::read_to_string(dir.join("crpack.toml")).unwrap();
    fs::write(
        dir.join("crpack.toml"),
        toml.replace(
            "\"orders\", \"customers\"]",
            "\"orders\", \"customers\", \"payments\"]",
        ),
    )
    .unwrap();
    fs::write(
        dir.join("src/entrypoint.py"),
        "def entrypoint(context):\n    return {\"results\": {}}\n",
    )
    .unwrap();
    let broken = sb.author(&dir, &["--json", "doctor"]).expect(1).json();
    let f = failing(&broken);
    assert!(
        f.iter()
            .any(|c| c.starts_with("artifact bucket") && c.contains("Suspended")),
        "{f:?}"
    );
    // A table not associated yet is a warning: templates may name tables to be associated later.
    assert!(!f.iter().any(|c| c.starts_with("table payments")), "{f:?}");
    assert!(
        broken["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "table payments"
                && c["ok"] == true
                && c["warning"] == true
                && c["detail"].as_str().unwrap().contains("not associated")),
        "{broken}"
    );
    let checks = broken["checks"].as_array().unwrap();
    let fixes: Vec<&str> = checks.iter().filter_map(|c| c["fix"].as_str()).collect();
    assert!(
        fixes.iter().any(|f| f.contains("put-bucket-versioning")),
        "{fixes:?}"
    );

    let as_provider = sb
        .provider(&dir, &["--json", "doctor", "--membership", &pm])
        .expect(1)
        .json();
    let f = failing(&as_provider);
    assert!(f.iter().any(|c| c.starts_with("ability CAN_RUN_JOB")), "{f:?}");
    assert!(
        f.iter().any(|c| c.starts_with("ability CAN_RECEIVE_RESULTS")),
        "{f:?}"
    );
    // The provider may not read the author's bucket: the fix says whose credentials doctor wants,
    // not to create a bucket that exists.
    let bucket = item_where(&as_provider["checks"], "name", "artifact bucket");
    let fix = bucket["fix"].as_str().unwrap();
    assert!(fix.contains("the author's credentials"), "{bucket}");
    assert!(!fix.contains("create"), "{bucket}");

    // A malformed crpack.toml is reported as a failing line, and the rest still runs.
    let toml = fs::read_to_string(dir.join("crpack.toml")).unwrap();
    fs::write(
        dir.join("crpack.toml"),
        toml.replace("role/service-role", "user/service-role"),
    )
    .unwrap();
    let bad = sb
        .author(
            &dir,
            &["--json", "doctor", "--membership", &sb.seed.author.membership_id],
        )
        .expect(1)
        .json();
    let f = failing(&bad);
    assert!(
        f.iter()
            .any(|c| c.starts_with("crpack.toml") && c.contains("role_arn")),
        "{f:?}"
    );
    assert!(
        bad["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "membership" && c["ok"] == true)
    );
}

/// The interpreter with boto3 (`CRPACK_TEST_PYTHON`, which the test setup points at .venv).
fn boto3_python() -> String {
    std::env::var("CRPACK_TEST_PYTHON").unwrap_or_else(|_| {
        let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python");
        if std::path::Path::new(venv).exists() {
            venv.into()
        } else {
            "python3".into()
        }
    })
}

#[test]
fn job_options_reach_the_service_as_boto3_sees_them() {
    let p = publish_and_approve();
    let provider_account = p.sb.seed.provider.identity.account_id.clone();
    let started = p
        .run_job(
            &p.arn,
            &[
                "--no-wait",
                "--worker-type",
                "CR.4X",
                "--workers",
                "8",
                "--spark-property",
                "spark.sql.adaptive.enabled=true",
                "--spark-property",
                "spark.sql.shuffle.partitions=64",
                "--payer",
                &provider_account,
            ],
        )
        .expect(0)
        .json();
    let job_id = started["job_id"].as_str().unwrap().to_string();

    // An independent client: boto3's GetProtectedJob and ListProtectedJobs.
    let script = r#"
import json, os, sys, boto3
c = boto3.client("cleanrooms", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1",
                 aws_access_key_id=os.environ["KEY"], aws_secret_access_key=os.environ["SECRET"])
job = c.get_protected_job(membershipIdentifier=sys.argv[1], protectedJobIdentifier=sys.argv[2])["protectedJob"]
listed = c.list_protected_jobs(membershipIdentifier=sys.argv[1])["protectedJobs"]
print(json.dumps({"worker": job["computeConfiguration"]["worker"],
                  "payer": job.get("jobComputePayerAccountId"),
                  "listed_payer": [j.get("jobComputePayerAccountId") for j in listed if j["id"] == sys.argv[2]]}))
"#;
    let who = &p.sb.seed.author.identity;
    let out = std::process::Command::new(boto3_python())
        .args(["-c", script, &p.am(), &job_id])
        .env("ENDPOINT", p.sb.endpoint())
        .env("KEY", &who.access_key_id)
        .env("SECRET", &who.secret_access_key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "boto3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["worker"]["type"], "CR.4X");
    assert_eq!(seen["worker"]["number"], 8);
    assert_eq!(
        seen["worker"]["properties"]["spark"],
        serde_json::json!({"spark.sql.adaptive.enabled": "true", "spark.sql.shuffle.partitions": "64"})
    );
    assert_eq!(seen["payer"], provider_account.as_str());
    assert_eq!(seen["listed_payer"], serde_json::json!([provider_account]));

    // crpack shows them too.
    let am = p.am();
    let shown =
        p.sb.author(&p.dir, &["--json", "jobs", "show", &job_id, "--membership", &am])
            .expect(0)
            .json();
    assert_eq!(shown["job"]["worker_type"], "CR.4X");
    assert_eq!(
        shown["job"]["spark_properties"]["spark.sql.shuffle.partitions"],
        "64"
    );
    assert_eq!(shown["job"]["payer_account_id"], provider_account.as_str());

    // Checked before the call: an outsider cannot pay, and the limits are the model's.
    let outsider = p.sb.seed.outsider.account_id.clone();
    let r = p.run_job(&p.arn, &["--payer", &outsider]).expect(3);
    assert!(r.stderr().contains("not an active member"), "{}", r.stderr());
    p.run_job(&p.arn, &["--payer", "12345"]).expect(2);
    let long_key = format!("{}=1", "k".repeat(201));
    p.run_job(&p.arn, &["--workers", "4", "--spark-property", &long_key])
        .expect(2);
    p.run_job(&p.arn, &["--spark-property", "a=1"]).expect(2);
    p.run_job(&p.arn, &["--param", "bad-name=1"]).expect(2);
    let long_value = format!("min_customers={}", "9".repeat(1001));
    p.run_job(&p.arn, &["--param", &long_value]).expect(2);
}
