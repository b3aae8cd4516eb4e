//! `crpack sandbox` as a process: it prints where it listens, persists under --data across a
//! restart, and stops cleanly on Ctrl-C (SIGINT).

use std::io::BufReader;
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::common::*;

/// Starts `crpack sandbox ARGS --json` and returns the child and its JSON document. The caller
/// waits for the child (in `interrupt`).
fn start(args: &[&str]) -> (Child, serde_json::Value) {
    let mut cmd = crpack(["--json", "sandbox", "--listen", "127.0.0.1:0"]);
    cmd.args(args);
    let (child, doc, _) = spawn_json_sandbox(&mut cmd);
    (child, doc)
}

/// Ctrl-C, and the exit status once the sandbox stopped.
fn interrupt(child: &mut Child) -> std::process::ExitStatus {
    signal_and_wait(child, "INT", Duration::from_secs(5))
}

fn collaborations(endpoint: &str) -> usize {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let who = crpack_sandbox::identity::AUTHOR;
        let conf =
            crpack_core::aws::static_config(endpoint, "us-east-1", who.access_key_id, who.secret_access_key)
                .await;
        let aws = crpack_core::aws::Aws::from_config(conf);
        aws.cleanrooms
            .list_collaborations()
            .send()
            .await
            .unwrap()
            .collaboration_list()
            .len()
    })
}

#[test]
fn sandbox_seeds_persists_and_stops_on_ctrl_c() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().join("state");
    let d = data_dir.to_str().unwrap();
    let seed_out = data.path().join("seed.json");
    let (mut child, doc) = start(&["--data", d, "--seed", "--seed-out", seed_out.to_str().unwrap()]);
    let endpoint = doc["endpoint"].as_str().unwrap().to_string();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{doc}");
    assert_eq!(doc["identities"].as_array().unwrap().len(), 3);
    assert_eq!(doc["seed"]["bucket"], "crpack-sandbox-artifacts");
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(&seed_out).unwrap()).unwrap();
    assert_eq!(written, doc["seed"]);
    assert_eq!(collaborations(&endpoint), 1);
    let status = interrupt(&mut child);
    assert!(status.success(), "clean exit on Ctrl-C: {status:?}");

    // Restarted on the same data directory (no --seed): the world is still there.
    let (mut child, doc) = start(&["--data", d]);
    assert_eq!(collaborations(doc["endpoint"].as_str().unwrap()), 1);
    assert!(interrupt(&mut child).success());

    // Without --data, state is in memory: a fresh sandbox has no collaborations.
    let (mut child, doc) = start(&[]);
    assert_eq!(collaborations(doc["endpoint"].as_str().unwrap()), 0);
    assert!(interrupt(&mut child).success());

    // The human form prints the environment for each identity.
    let mut cmd = crpack(["sandbox", "--listen", "127.0.0.1:0"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let text = read_until(&mut reader, |t| t.contains("AKIASANDBOXOUTSIDER3"));
    assert!(
        text.contains("export AWS_ENDPOINT_URL=http://127.0.0.1:"),
        "{text}"
    );
    assert!(interrupt(&mut child).success());
}

/// `crpack run --cancel-on-interrupt`: Ctrl-C while watching cancels the job, and the command
/// waits for CANCELLED. Runs against a sandbox process whose jobs wait before starting.
#[test]
fn ctrl_c_while_watching_cancels_the_job() {
    let data = tempfile::tempdir().unwrap();
    let seed_out = data.path().join("seed.json");
    let mut cmd = crpack([
        "--json",
        "sandbox",
        "--listen",
        "127.0.0.1:0",
        "--seed",
        "--seed-out",
        seed_out.to_str().unwrap(),
    ]);
    cmd.env("CRPACK_SANDBOX_JOB_DELAY_MS", "20000")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut sandbox = cmd.spawn().unwrap();
    for _ in 0..200 {
        if seed_out.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let seed: crpack_sandbox::seed::SeedInfo =
        serde_json::from_slice(&std::fs::read(&seed_out).unwrap()).unwrap();
    let as_who = |cmd: &mut std::process::Command, who: &crpack_sandbox::seed::SeededIdentity| {
        cmd.env("AWS_ENDPOINT_URL", &seed.endpoint)
            .env("AWS_REGION", &seed.region)
            .env("AWS_ACCESS_KEY_ID", &who.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &who.secret_access_key);
    };

    let dir = data.path().join("proj");
    crate::common::scaffold(&dir, &seed, "templates/interrupt");
    let mut publish = crpack(["--json", "publish"]);
    publish.current_dir(&dir);
    as_who(&mut publish, &seed.author.identity);
    let lock = run(&mut publish).expect(0).json()["lock"].clone();
    let arn = lock["template"]["arn"].as_str().unwrap().to_string();
    let (ep, bundle) = (
        dir.join("dist/entrypoint.py"),
        dir.join("dist/pyspark_venv.tar.gz"),
    );
    let mut approve = crpack([
        "approve",
        "--template",
        &arn,
        "--membership",
        &seed.provider.membership_id,
        "--files",
    ]);
    approve.arg(&ep).arg(&bundle);
    as_who(&mut approve, &seed.provider.identity);
    run(&mut approve).expect(0);

    let mut watch = crpack([
        "--json",
        "run",
        "--template",
        &arn,
        "--membership",
        &seed.author.membership_id,
        "--cancel-on-interrupt",
    ]);
    watch.stdout(Stdio::piped()).stderr(Stdio::piped());
    as_who(&mut watch, &seed.author.identity);
    let mut child = watch.spawn().unwrap();
    // Kept open until the end: the run goes on writing to it.
    let mut err = BufReader::new(child.stderr.take().unwrap());
    read_until(&mut err, |t| t.contains("started job"));
    std::thread::sleep(Duration::from_millis(300));
    send_signal(&child, "INT");
    let out = child.wait_with_output().unwrap();
    let job: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(job["job"]["status"], "CANCELLED", "{job}");
    assert_eq!(out.status.code(), Some(3), "a cancelled job is not a success");
    assert!(interrupt(&mut sandbox).success());
}
