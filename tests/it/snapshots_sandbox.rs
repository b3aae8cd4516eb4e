//! What the commands that talk to the endpoints print, human and `--json`, with their exit
//! status, against the in-process sandbox: `publish` (dry run, first run, rerun), `doctor`,
//! `verify` (match, tampered, an unknown template), `approve`, `revoke`, `run`, `jobs
//! list|show|cancel|results`, `templates`, `diff`, a verification that could not be made, and
//! `crpack sandbox` itself. The `--json` snapshots are the documented
//! contract.

use std::fs;
use std::io::{BufReader, Read};
use std::path::Path;
use std::process::Stdio;

use crate::common::snap::{Filters, assert_both, assert_run, assert_text, render_parts};
use crate::common::*;

/// The filters of a test against `sb` with its project under `tmp`.
fn filters(sb: &TestSandbox, tmp: &Path) -> Filters {
    Filters::new().dir(tmp, "TMP").seeded(&sb.seed)
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn publish_and_doctor() {
    let sb = TestSandbox::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = sb.project(tmp.path(), "templates/snap");
    let f = filters(&sb, tmp.path());
    let author = |a: &[&str]| sb.author(&dir, a);

    assert_both!(f, "publish_dry_run", 0, author, &["publish", "--dry-run"]);
    assert_run!(f, "publish", author(&["publish"]).expect(0));
    assert_both!(f, "publish_up_to_date", 0, author, &["publish"]);

    // The first publish of another project, in JSON.
    let tmp2 = tempfile::tempdir().unwrap();
    let dir2 = sb.project(tmp2.path(), "templates/snap-json");
    let f2 = f.clone().dir(tmp2.path(), "TMP2");
    assert_run!(
        f2,
        "publish_json",
        sb.author(&dir2, &["--json", "publish"]).expect(0)
    );

    // No table allows a template yet: those checks fail, exit 1.
    let am = sb.seed.author.membership_id.clone();
    assert_both!(f, "doctor", 1, author, &["doctor", "--membership", &am]);
    // The provider's membership can neither run jobs nor receive results.
    let pm = sb.seed.provider.membership_id.clone();
    let provider = |a: &[&str]| sb.provider(&dir, a);
    assert_both!(f, "doctor_failing", 1, provider, &["doctor", "--membership", &pm]);
}

#[test]
fn the_reviewers_desk() {
    let Published {
        sb,
        tmp,
        dir,
        arn,
        lock: _,
    } = Published::start("templates/desk");
    let f = filters(&sb, tmp.path());
    let pm = sb.seed.provider.membership_id.clone();
    let provider = |a: &[&str]| sb.provider(&dir, a);
    assert_both!(f, "templates", 0, provider, &["templates", "--membership", &pm]);
    assert_both!(
        f,
        "templates_pending",
        0,
        provider,
        &["templates", "--membership", &pm, "--pending"]
    );
    // The provider may not read the author's bucket: the check could not be made, exit 3.
    let verify = ["verify", "--template", &arn, "--membership", &pm, "--from-s3"];
    assert_both!(f, "verify_unreadable", 3, provider, &verify);
    // A template compared with itself, from the recorded hashes alone.
    let diff = ["diff", &arn, &arn, "--membership", &pm];
    assert_both!(f, "diff_identical", 0, provider, &diff);
}

#[test]
fn verify_approve_revoke() {
    let Published {
        sb,
        tmp,
        dir,
        arn,
        lock,
    } = Published::start("templates/review");
    let f = filters(&sb, tmp.path());
    let pm = sb.seed.provider.membership_id.clone();
    let ep = dir.join("dist/entrypoint.py").display().to_string();
    let env = dir.join("dist/pyspark_venv.tar.gz").display().to_string();
    let provider = |a: &[&str]| sb.provider(&dir, a);
    // `COMMAND --template ARN --membership ID REST…`
    let args = |cmd: &'static str, template: &str, rest: &[&str]| -> Vec<String> {
        [cmd, "--template", template, "--membership", &pm]
            .iter()
            .chain(rest)
            .map(|a| a.to_string())
            .collect()
    };

    let verify = args("verify", &arn, &["--files", &ep, &env]);
    assert_both!(f, "verify_match", 0, provider, &strs(&verify));

    // One byte appended to the entry point.
    let tampered = tmp.path().join("tampered");
    fs::create_dir(&tampered).unwrap();
    let bad = tampered.join("entrypoint.py");
    let mut bytes = fs::read(&ep).unwrap();
    bytes.push(b'\n');
    fs::write(&bad, bytes).unwrap();
    let bad = bad.display().to_string();
    let verify_bad = args("verify", &arn, &["--files", &bad, &env]);
    assert_both!(f, "verify_tampered", 1, provider, &strs(&verify_bad));

    // A template that does not exist.
    let template_id = lock["template"]["id"].as_str().unwrap();
    let unknown = arn.replace(template_id, "00000000-0000-4000-8000-000000000000");
    let verify_unknown = args("verify", &unknown, &["--files", &ep, &env]);
    assert_both!(f, "verify_unknown_template", 3, provider, &strs(&verify_unknown));

    // Approve and revoke, each in both forms; a second revoke finds nothing to remove.
    let approve = args("approve", &arn, &["--files", &ep, &env]);
    let revoke = args("revoke", &arn, &[]);
    let json = |v: &[String]| -> Vec<String> {
        std::iter::once("--json".to_string())
            .chain(v.iter().cloned())
            .collect()
    };
    assert_run!(f, "approve", provider(&strs(&approve)).expect(0));
    assert_run!(f, "revoke", provider(&strs(&revoke)).expect(0));
    assert_run!(f, "approve_json", provider(&strs(&json(&approve))).expect(0));
    assert_run!(f, "revoke_json", provider(&strs(&json(&revoke))).expect(0));
    assert_run!(f, "revoke_not_approved", provider(&strs(&revoke)).expect(0));
    // A tampered file: approve verifies first and changes nothing.
    let approve_bad = args("approve", &arn, &["--files", &bad, &env]);
    assert_run!(f, "approve_tampered", provider(&strs(&approve_bad)).expect(1));
    // Result receivers: added by approve, removed by revoke only when named.
    let receiver = ["--result-receiver", "111111111111"];
    let mut with_receiver = approve.clone();
    with_receiver.extend(receiver.iter().map(|a| a.to_string()));
    assert_run!(f, "approve_receiver", provider(&strs(&with_receiver)).expect(0));
    let revoke_receiver = args("revoke", &arn, &receiver);
    assert_both!(f, "revoke_receiver", 0, provider, &strs(&revoke_receiver));
}

#[test]
fn run_and_jobs() {
    let published = Published::start("templates/jobs");
    published.approve_dist().expect(0);
    let Published {
        sb, tmp, dir, arn, ..
    } = published;
    let am = sb.seed.author.membership_id.clone();
    let author = |a: &[&str]| sb.author(&dir, a);
    let job = ["run", "--template", arn.as_str(), "--membership", am.as_str()];
    let first = author(&job).expect(0);
    let second = author(&[&["--json"][..], &job].concat()).expect(0);
    let second_id = second.json()["job"]["id"].as_str().unwrap().to_string();
    let listed = author(&["--json", "jobs", "list", "--membership", &am]).expect(0);
    let first_id = listed.json()["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_string())
        .find(|id| *id != second_id)
        .unwrap();
    let f = filters(&sb, tmp.path())
        .name(&first_id, "JOB_1")
        .name(&second_id, "JOB_2")
        // The states a job passes through while watched: how many of them a poll sees depends
        // on timing (and on whether PySpark really runs), only the final one is certain.
        .pattern(r"(?m)^job \[JOB_\d\]: (SUBMITTED|STARTED)\n", "");
    assert_run!(f, "run", first);
    assert_run!(f, "run_json", second);
    assert_both!(f, "jobs_list", 0, author, &["jobs", "list", "--membership", &am]);
    let show = ["jobs", "show", second_id.as_str(), "--membership", am.as_str()];
    assert_both!(f, "jobs_show", 0, author, &show);
    // Cancelling a job that has ended.
    let cancel = ["jobs", "cancel", second_id.as_str(), "--membership", am.as_str()];
    assert_both!(f, "jobs_cancel_ended", 3, author, &cancel);

    // Its results, downloaded twice into the same folder. What Spark writes is the same from
    // run to run but for the sizes and digests of its files.
    let out = tmp.path().join("results").display().to_string();
    let results = ["jobs", "results", &second_id, "--membership", &am, "--out", &out];
    let fr = f
        .clone()
        .pattern(r#""sha256": "[0-9a-f]{64}""#, r#""sha256": "[SHA256]""#)
        .pattern(r#""bytes": \d+"#, r#""bytes": "[BYTES]""#)
        .pattern(r"(?m)^(saved +\d+ file\(s\), )[0-9.]+ [KMG]?i?B", "$1[SIZE]");
    assert_both!(fr, "jobs_results", 0, author, &results);
    // A job that was cancelled has none.
    let started = author(&[&["--json"][..], &job, &["--no-wait"]].concat()).expect(0);
    let cancelled = started.json()["job_id"].as_str().unwrap().to_string();
    author(&["jobs", "cancel", &cancelled, "--membership", &am]).expect(0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while author(&["--json", "jobs", "show", &cancelled, "--membership", &am]).json()["job"]["status"]
        != "CANCELLED"
    {
        assert!(std::time::Instant::now() < deadline, "never CANCELLED");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let fc = f.clone().name(&cancelled, "JOB_3");
    let results = ["jobs", "results", &cancelled, "--membership", &am, "--out", &out];
    assert_both!(fc, "jobs_results_cancelled", 3, author, &results);
}

/// `crpack sandbox --seed` as a process: what it prints until it listens, then on Ctrl-C.
fn sandbox_process(json: bool) -> String {
    let mut args = vec!["sandbox", "--listen", "127.0.0.1:0", "--seed"];
    if json {
        args.insert(0, "--json");
    }
    let mut child = crpack(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    // What it prints before it waits: the JSON document, or up to the seeded `customers` table.
    let mut text = read_until(&mut stdout, |t| {
        if json {
            serde_json::from_str::<serde_json::Value>(t).is_ok()
        } else {
            t.contains("table customers")
        }
    });
    send_signal(&child, "INT");
    stdout.read_to_string(&mut text).unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let status = child.wait().unwrap();
    render_parts(status.code().unwrap_or(-1), &text, &stderr)
}

#[test]
fn sandbox_startup() {
    let f = Filters::new();
    assert_text!(f, "sandbox", sandbox_process(false));
    assert_text!(f, "sandbox_json", sandbox_process(true));
}

/// `crpack demo` into `dir`, its jobs simulated whatever this machine has (an interpreter that
/// always fails), so the text does not depend on a local PySpark.
fn demo(dir: &std::path::Path, json: bool) -> Run {
    let target = dir.join(if json { "json" } else { "human" });
    let target = target.display().to_string();
    let mut args = vec!["demo", "--dir", target.as_str()];
    if json {
        args.insert(0, "--json");
    }
    let mut cmd = crpack(&args);
    cmd.current_dir(dir).env("CRPACK_PYTHON", "/bin/false");
    run(&mut cmd)
}

#[test]
fn the_demo() {
    let tmp = tempfile::tempdir().unwrap();
    let f = Filters::new().dir(tmp.path(), "TMP");
    let human = demo(tmp.path(), false).expect(0);
    assert!(human.stdout().contains("demo complete"), "{}", human.stdout());
    assert_run!(f, "demo", human);
    let json = demo(tmp.path(), true).expect(0);
    let doc = json.json();
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["tampered_job"]["status"], "FAILED", "{doc}");
    assert_eq!(doc["release_job"]["status"], "SUCCESS", "{doc}");
    assert_run!(f, "demo_json", json);
}
