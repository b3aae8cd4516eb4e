//! What the commands that talk to the endpoints print, human and `--json`, with their exit
//! status, against the in-process sandbox: `publish` (dry run, first run, rerun), `doctor`,
//! `verify` (match, tampered, an unknown template), `approve`, `revoke`, `run`, `jobs
//! list|show|cancel`, and `crpack sandbox` itself. The `--json` snapshots are the documented
//! contract.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::common::snap::{Filters, assert_run, assert_text, render_parts};
use crate::common::*;

/// The filters of a test against `sb` with its project under `tmp`.
fn filters(sb: &TestSandbox, tmp: &Path) -> Filters {
    Filters::new().dir(tmp, "TMP").seeded(&sb.seed)
}

#[test]
fn publish_and_doctor() {
    let sb = TestSandbox::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = sb.project(tmp.path(), "templates/snap");
    let f = filters(&sb, tmp.path());

    assert_run!(
        f,
        "publish_dry_run",
        sb.author(&dir, &["publish", "--dry-run"]).expect(0)
    );
    assert_run!(
        f,
        "publish_dry_run_json",
        sb.author(&dir, &["--json", "publish", "--dry-run"]).expect(0)
    );
    assert_run!(f, "publish", sb.author(&dir, &["publish"]).expect(0));
    assert_run!(f, "publish_up_to_date", sb.author(&dir, &["publish"]).expect(0));
    assert_run!(
        f,
        "publish_up_to_date_json",
        sb.author(&dir, &["--json", "publish"]).expect(0)
    );

    // The first publish of another project, in JSON.
    let tmp2 = tempfile::tempdir().unwrap();
    let dir2 = sb.project(tmp2.path(), "templates/snap-json");
    let f2 = f.clone().dir(tmp2.path(), "TMP2");
    assert_run!(
        f2,
        "publish_json",
        sb.author(&dir2, &["--json", "publish"]).expect(0)
    );

    let am = sb.seed.author.membership_id.clone();
    assert_run!(f2, "doctor", sb.author(&dir, &["doctor", "--membership", &am]));
    assert_run!(
        f2,
        "doctor_json",
        sb.author(&dir, &["--json", "doctor", "--membership", &am])
    );
    // The provider's membership cannot receive results: a failing check, exit 1.
    let pm = sb.seed.provider.membership_id.clone();
    assert_run!(
        f2,
        "doctor_failing",
        sb.provider(&dir, &["doctor", "--membership", &pm])
    );
    assert_run!(
        f2,
        "doctor_failing_json",
        sb.provider(&dir, &["--json", "doctor", "--membership", &pm])
    );
}

#[test]
fn verify_approve_revoke() {
    let sb = TestSandbox::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = sb.project(tmp.path(), "templates/review");
    let lock = sb.author(&dir, &["--json", "publish"]).expect(0).json()["lock"].clone();
    let arn = lock["template"]["arn"].as_str().unwrap().to_string();
    let f = filters(&sb, tmp.path());
    let pm = sb.seed.provider.membership_id.clone();
    let target = ["--template", arn.as_str(), "--membership", pm.as_str()];
    let ep = dir.join("dist/entrypoint.py").display().to_string();
    let env = dir.join("dist/pyspark_venv.tar.gz").display().to_string();
    let with = |json: bool, cmd: &str, rest: &[&str]| {
        let mut args = if json { vec!["--json", cmd] } else { vec![cmd] };
        args.extend_from_slice(&target);
        args.extend_from_slice(rest);
        sb.provider(&dir, &args)
    };
    let files = ["--files", ep.as_str(), env.as_str()];

    assert_run!(f, "verify_match", with(false, "verify", &files).expect(0));
    assert_run!(f, "verify_match_json", with(true, "verify", &files).expect(0));

    // One byte appended to the entry point.
    let tampered = tmp.path().join("tampered");
    fs::create_dir(&tampered).unwrap();
    let bad = tampered.join("entrypoint.py");
    let mut bytes = fs::read(&ep).unwrap();
    bytes.push(b'\n');
    fs::write(&bad, bytes).unwrap();
    let bad = bad.display().to_string();
    let bad_files = ["--files", bad.as_str(), env.as_str()];
    assert_run!(f, "verify_tampered", with(false, "verify", &bad_files).expect(1));
    assert_run!(
        f,
        "verify_tampered_json",
        with(true, "verify", &bad_files).expect(1)
    );

    // A template that does not exist.
    let template_id = lock["template"]["id"].as_str().unwrap();
    let unknown = arn.replace(template_id, "00000000-0000-4000-8000-000000000000");
    let unknown_target = [
        "verify",
        "--template",
        unknown.as_str(),
        "--membership",
        pm.as_str(),
        "--files",
        ep.as_str(),
        env.as_str(),
    ];
    assert_run!(
        f,
        "verify_unknown_template",
        sb.provider(&dir, &unknown_target).expect(3)
    );
    let mut json_args = vec!["--json"];
    json_args.extend_from_slice(&unknown_target);
    assert_run!(
        f,
        "verify_unknown_template_json",
        sb.provider(&dir, &json_args).expect(3)
    );

    // Approve and revoke, each in both forms; a second revoke finds nothing to remove.
    assert_run!(f, "approve", with(false, "approve", &files).expect(0));
    assert_run!(f, "revoke", with(false, "revoke", &[]).expect(0));
    assert_run!(f, "approve_json", with(true, "approve", &files).expect(0));
    assert_run!(f, "revoke_json", with(true, "revoke", &[]).expect(0));
    assert_run!(f, "revoke_not_approved", with(false, "revoke", &[]).expect(0));
    // A tampered file: approve verifies first and changes nothing.
    assert_run!(
        f,
        "approve_tampered",
        with(false, "approve", &bad_files).expect(1)
    );
}

#[test]
fn run_and_jobs() {
    let sb = TestSandbox::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = sb.project(tmp.path(), "templates/jobs");
    let lock = sb.author(&dir, &["--json", "publish"]).expect(0).json()["lock"].clone();
    let arn = lock["template"]["arn"].as_str().unwrap().to_string();
    let pm = sb.seed.provider.membership_id.clone();
    let ep = dir.join("dist/entrypoint.py").display().to_string();
    let env = dir.join("dist/pyspark_venv.tar.gz").display().to_string();
    sb.provider(
        &dir,
        &[
            "approve",
            "--template",
            &arn,
            "--membership",
            &pm,
            "--files",
            &ep,
            &env,
        ],
    )
    .expect(0);
    let am = sb.seed.author.membership_id.clone();
    let job = ["--template", arn.as_str(), "--membership", am.as_str()];

    let mut human = vec!["run"];
    human.extend_from_slice(&job);
    let first = sb.author(&dir, &human).expect(0);
    let mut json = vec!["--json", "run"];
    json.extend_from_slice(&job);
    let second = sb.author(&dir, &json).expect(0);
    let second_id = second.json()["job"]["id"].as_str().unwrap().to_string();

    let list = sb.author(&dir, &["jobs", "list", "--membership", &am]).expect(0);
    let list_json = sb
        .author(&dir, &["--json", "jobs", "list", "--membership", &am])
        .expect(0);
    let first_id = list_json.json()["jobs"]
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
    assert_run!(f, "jobs_list", list);
    assert_run!(f, "jobs_list_json", list_json);
    let show = |json: bool, cmd: &str| {
        let mut args = if json {
            vec!["--json", "jobs"]
        } else {
            vec!["jobs"]
        };
        args.extend_from_slice(&[cmd, second_id.as_str(), "--membership", am.as_str()]);
        sb.author(&dir, &args)
    };
    assert_run!(f, "jobs_show", show(false, "show").expect(0));
    assert_run!(f, "jobs_show_json", show(true, "show").expect(0));
    // Cancelling a job that has ended.
    assert_run!(f, "jobs_cancel_ended", show(false, "cancel"));
    assert_run!(f, "jobs_cancel_ended_json", show(true, "cancel"));
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
    let mut text = String::new();
    // The last line it prints before it waits: the end of the JSON document, or the seeded
    // `customers` table.
    let last = if json { "}\n" } else { "table customers" };
    while !text.lines().last().is_some_and(|l| {
        if json {
            text.ends_with(last) && l == "}"
        } else {
            l.contains(last)
        }
    }) {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "{text}");
        text.push_str(&line);
    }
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    stdout.read_to_string(&mut text).unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let status = wait_for(&mut child, Duration::from_secs(20));
    render_parts(status.code().unwrap_or(-1), &text, &stderr)
}

fn wait_for(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            child.kill().unwrap();
            panic!("the sandbox did not stop on SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sandbox_startup() {
    let f = Filters::new();
    assert_text!(f, "sandbox", sandbox_process(false));
    assert_text!(f, "sandbox_json", sandbox_process(true));
}
