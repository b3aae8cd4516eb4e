//! An independent second client checks the sandbox's wire format: `tests/wire/boto3_wire.py`
//! drives the real `crpack sandbox` process with boto3, whose botocore parses every response
//! against its own copy of the S3 and Clean Rooms service models.
//!
//! The Python interpreter is `$CRPACK_TEST_PYTHON`, else `.venv/bin/python` in the crate root if
//! it exists, else `python3`. It must be able to import boto3: `bash scripts/test.sh` (through
//! `scripts/install-test-deps.sh`) installs the pinned versions into `.venv`. A missing boto3
//! fails this test rather than skipping it.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long the sandbox may take to seed and print its JSON.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the whole Python run may take (it normally needs a few seconds).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);

const INSTALL_HINT: &str = "run `bash scripts/test.sh` (it runs scripts/install-test-deps.sh, which \
    installs the pinned boto3 into .venv), or point CRPACK_TEST_PYTHON at a Python that has \
    tests/wire/requirements.txt installed";

/// A child process killed (and reaped) when dropped, also when the test panics.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn crate_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The interpreter to run the script with.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("CRPACK_TEST_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let venv = crate_root().join(".venv").join("bin").join("python");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("python3")
}

/// A command for `python` with no AWS settings leaking in from the machine.
fn python_command(python: &Path) -> Command {
    let mut cmd = Command::new(python);
    cmd.stdin(Stdio::null())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .env("AWS_CONFIG_FILE", "/nonexistent/crpack-test/config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/crpack-test/credentials",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for var in [
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_CLEANROOMS",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_CA_BUNDLE",
        "AWS_REQUEST_CHECKSUM_CALCULATION",
        "AWS_RESPONSE_CHECKSUM_VALIDATION",
        "AWS_MAX_ATTEMPTS",
        "AWS_RETRY_MODE",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "http_proxy",
        "https_proxy",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// Fails (never skips) unless `python` runs and can import boto3.
fn require_boto3(python: &Path) {
    let out = python_command(python)
        .args([
            "-c",
            "import boto3, botocore; print(boto3.__version__, botocore.__version__)",
        ])
        .output();
    match out {
        Ok(out) if out.status.success() => {
            println!(
                "python {}: boto3/botocore {}",
                python.display(),
                String::from_utf8_lossy(&out.stdout).trim()
            );
        }
        Ok(out) => panic!(
            "{} cannot import boto3: {INSTALL_HINT}\n{}",
            python.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => panic!("cannot run {} ({e}): {INSTALL_HINT}", python.display()),
    }
}

/// Starts `crpack sandbox --listen 127.0.0.1:0 --seed --seed-out FILE --json` and waits for the
/// JSON document it prints once it listens and has seeded. Returns the process and the document.
fn start_sandbox(dir: &Path, seed_out: &Path) -> (KillOnDrop, serde_json::Value) {
    let stderr_path = dir.join("sandbox.stderr");
    let mut child = crate::common::crpack([
        "sandbox",
        "--listen",
        "127.0.0.1:0",
        "--seed",
        "--json",
        "--seed-out",
    ]);
    child
        .arg(seed_out)
        .stdout(Stdio::piped())
        .stderr(File::create(&stderr_path).expect("create the sandbox's stderr file"));
    let mut child = child.spawn().expect("start crpack sandbox");
    let stdout = child.stdout.take().expect("piped stdout");
    let child = KillOnDrop(child);

    // The process keeps running after printing, so read lines until they form one JSON document.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            text.push_str(&line);
            text.push('\n');
            if let Ok(doc) = serde_json::from_str::<serde_json::Value>(&text) {
                let _ = tx.send(Ok(doc));
                return;
            }
        }
        let _ = tx.send(Err(text));
    });
    let stderr = || std::fs::read_to_string(&stderr_path).unwrap_or_default();
    match rx.recv_timeout(START_TIMEOUT) {
        Ok(Ok(doc)) => (child, doc),
        Ok(Err(stdout)) => panic!(
            "crpack sandbox ended without printing its JSON\nstdout:\n{stdout}\nstderr:\n{}",
            stderr()
        ),
        Err(_) => panic!(
            "crpack sandbox printed no JSON within {START_TIMEOUT:?}\nstderr:\n{}",
            stderr()
        ),
    }
}

#[test]
fn boto3_agrees_with_the_sandbox_wire_format() {
    let python = python();
    require_boto3(&python);

    let dir = tempfile::tempdir().unwrap();
    let seed_out = dir.path().join("seed.json");
    let (_sandbox, doc) = start_sandbox(dir.path(), &seed_out);
    let endpoint = doc["endpoint"].as_str().expect("endpoint in the sandbox's JSON");
    assert!(
        endpoint.starts_with("http://127.0.0.1:") && !endpoint.ends_with(":0"),
        "endpoint {endpoint}"
    );
    let seed: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&seed_out).expect("the --seed-out file exists once the JSON is out"),
    )
    .expect("the seed-out file is JSON");
    assert_eq!(seed["endpoint"], doc["endpoint"], "seed-out and stdout disagree");
    assert_eq!(doc["seed"], seed, "the JSON's seed is the seed-out file");

    let script = crate_root().join("tests").join("wire").join("boto3_wire.py");
    let out_path = dir.path().join("script.stdout");
    let err_path = dir.path().join("script.stderr");
    let started = Instant::now();
    let mut cmd = python_command(&python);
    cmd.arg(&script)
        .arg(&seed_out)
        .stdout(File::create(&out_path).unwrap())
        .stderr(File::create(&err_path).unwrap());
    let mut script_run = KillOnDrop(cmd.spawn().expect("run the boto3 script"));
    let status = loop {
        if let Some(status) = script_run.0.try_wait().expect("wait for the boto3 script") {
            break status;
        }
        if started.elapsed() > SCRIPT_TIMEOUT {
            drop(script_run);
            panic!(
                "the boto3 script ran longer than {SCRIPT_TIMEOUT:?}\nstdout:\n{}\nstderr:\n{}",
                std::fs::read_to_string(&out_path).unwrap_or_default(),
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap();
    let stderr = std::fs::read_to_string(&err_path).unwrap();
    println!("{stdout}");
    println!("boto3 wire checks took {:.1?}", started.elapsed());
    let report = format!("{status}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(status.success(), "the boto3 wire checks failed: {report}");

    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    let (summary, checks) = lines.split_last().expect("the script printed nothing");
    let oks = checks.iter().filter(|l| l.starts_with("ok ")).count();
    assert_eq!(
        *summary,
        format!("{oks} passed, 0 failed"),
        "the last line is not the summary: {report}"
    );
    assert!(
        checks
            .iter()
            .all(|l| l.starts_with("ok ") || l.starts_with("xfail ")),
        "lines other than ok/xfail: {report}"
    );
    assert!(oks >= 25, "only {oks} checks passed: {report}");
}
