//! Test harness: runs the real `crpack` binary in isolated directories with a clean AWS
//! environment, and starts the sandbox in-process when a test needs endpoints.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_crpack"))
}

/// The repository's fixtures directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A crpack invocation with no AWS settings leaking in from the machine.
pub fn crpack<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .stdin(Stdio::null())
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_S3")
        .env_remove("AWS_ENDPOINT_URL_CLEANROOMS")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("NO_COLOR")
        .env("AWS_CONFIG_FILE", "/nonexistent/crpack-test/config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/crpack-test/credentials",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

/// The finished process, with helpers for assertions.
pub struct Run {
    pub output: Output,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.output.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout(),
                self.stderr()
            )
        })
    }
    /// Asserts the exit code, showing both streams on failure.
    #[track_caller]
    pub fn expect(self, code: i32) -> Self {
        assert_eq!(
            self.code(),
            code,
            "expected exit {code}, got {}\nstdout:\n{}\nstderr:\n{}",
            self.code(),
            self.stdout(),
            self.stderr()
        );
        self
    }
}

/// Runs a prepared command.
pub fn run(cmd: &mut Command) -> Run {
    Run {
        output: cmd.output().expect("run crpack"),
    }
}

/// Runs `crpack ARGS` with the current directory `dir`.
pub fn run_in<I, S>(dir: &Path, args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run(crpack(args).current_dir(dir))
}

/// Copies a directory tree.
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(from).unwrap();
        let dst = to.join(rel);
        if entry.file_type().is_dir() {
            fs::create_dir_all(&dst).unwrap();
        } else {
            fs::copy(entry.path(), &dst).unwrap();
        }
    }
}

/// The SHA-256 of a file as lowercase hex.
pub fn sha256_hex(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(fs::read(path).unwrap()))
}

/// A sandbox started in-process on an ephemeral port, with the seeded world.
pub struct TestSandbox {
    pub rt: tokio::runtime::Runtime,
    sandbox: Option<crpack_sandbox::Sandbox>,
    pub seed: crpack_sandbox::seed::SeedInfo,
    pub data: tempfile::TempDir,
}

impl TestSandbox {
    pub fn start() -> TestSandbox {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let data = tempfile::tempdir().unwrap();
        let sandbox = rt
            .block_on(crpack_sandbox::Sandbox::start(crpack_sandbox::SandboxOptions {
                listen: "127.0.0.1:0".parse().unwrap(),
                data_dir: Some(data.path().join("state")),
            }))
            .expect("start sandbox");
        let seed = rt
            .block_on(crpack_sandbox::seed::seed(&sandbox.endpoint()))
            .expect("seed sandbox");
        TestSandbox {
            rt,
            sandbox: Some(sandbox),
            seed,
            data,
        }
    }

    pub fn endpoint(&self) -> String {
        self.seed.endpoint.clone()
    }

    /// Stops the sandbox, lets `edit` change its persisted state, and starts it again on the
    /// same data directory (on a new port).
    pub fn restart_with(&mut self, edit: impl FnOnce(&Path)) {
        if let Some(sb) = self.sandbox.take() {
            self.rt.block_on(sb.stop());
        }
        let state = self.data.path().join("state");
        edit(&state);
        let sandbox = self
            .rt
            .block_on(crpack_sandbox::Sandbox::start(crpack_sandbox::SandboxOptions {
                listen: "127.0.0.1:0".parse().unwrap(),
                data_dir: Some(state),
            }))
            .expect("restart sandbox");
        self.seed.endpoint = sandbox.endpoint();
        self.sandbox = Some(sandbox);
    }

    /// Points a command at the sandbox as `who`.
    pub fn as_identity<'a>(
        &self,
        cmd: &'a mut Command,
        who: &crpack_sandbox::seed::SeededIdentity,
    ) -> &'a mut Command {
        cmd.env("AWS_ENDPOINT_URL", self.endpoint())
            .env("AWS_REGION", &self.seed.region)
            .env("AWS_ACCESS_KEY_ID", &who.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &who.secret_access_key)
    }

    /// `crpack ARGS` in `dir` as the author.
    pub fn author(&self, dir: &Path, args: &[&str]) -> Run {
        let mut cmd = crpack(args);
        cmd.current_dir(dir);
        self.as_identity(&mut cmd, &self.seed.author.identity);
        run(&mut cmd)
    }

    /// `crpack ARGS` in `dir` as the data provider.
    pub fn provider(&self, dir: &Path, args: &[&str]) -> Run {
        let mut cmd = crpack(args);
        cmd.current_dir(dir);
        self.as_identity(&mut cmd, &self.seed.provider.identity);
        run(&mut cmd)
    }

    /// The author's bucket policy lets the provider read the artifacts (so a reviewer can fetch
    /// the pinned bytes).
    pub fn grant_provider_read(&self) {
        let author = self.clients(&self.seed.author.identity);
        self.rt
            .block_on(crpack_core::publish::share::grant_read(
                &author,
                &self.seed.bucket,
                &self.seed.provider.identity.account_id,
            ))
            .unwrap();
    }

    /// Uploads `body` as the author to `key` in the artifact bucket, with its SHA-256 checksum.
    pub fn put_artifact(&self, key: &str, body: Vec<u8>) {
        let author = self.clients(&self.seed.author.identity);
        self.rt
            .block_on(
                author
                    .s3
                    .put_object()
                    .bucket(&self.seed.bucket)
                    .key(key)
                    .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
                    .body(aws_sdk_s3::primitives::ByteStream::from(body))
                    .send(),
            )
            .unwrap();
    }

    /// SDK clients acting as `who`.
    pub fn clients(&self, who: &crpack_sandbox::seed::SeededIdentity) -> crpack_core::aws::Aws {
        self.rt.block_on(clients_for(&self.seed, who))
    }

    /// `(name, arn)` of every analysis template in the author's membership.
    pub fn author_templates(&self) -> Vec<(String, String)> {
        let aws = self.clients(&self.seed.author.identity);
        self.rt
            .block_on(
                aws.cleanrooms
                    .list_analysis_templates()
                    .membership_identifier(&self.seed.author.membership_id)
                    .send(),
            )
            .unwrap()
            .analysis_template_summaries()
            .iter()
            .map(|s| (s.name().to_string(), s.arn().to_string()))
            .collect()
    }

    /// A scaffolded project configured to publish into the seeded world.
    pub fn project(&self, parent: &Path, prefix: &str) -> PathBuf {
        let dir = parent.join("proj");
        scaffold(&dir, &self.seed, prefix);
        dir
    }
}

impl Drop for TestSandbox {
    fn drop(&mut self) {
        if let Some(sb) = self.sandbox.take() {
            self.rt.block_on(sb.stop());
        }
    }
}

/// A fault-injecting HTTP/1.1 proxy on 127.0.0.1 in front of the sandbox: each request runs
/// through `rule`, which may answer it with a canned response instead of forwarding it. One
/// request per connection (every response closes), so responses are relayed byte for byte.
pub struct FaultProxy {
    pub endpoint: String,
    pub injected: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// A request as the proxy saw it.
pub struct SeenRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub index: usize,
}

impl FaultProxy {
    pub fn start<F>(upstream: &str, rule: F) -> FaultProxy
    where
        F: Fn(&SeenRequest) -> Option<String> + Send + Sync + 'static,
    {
        use std::io::Write;
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

        let (listener, endpoint) = local_listener();
        let upstream = upstream.trim_start_matches("http://").to_string();
        let injected = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let rule = Arc::new(rule);
        let count = Arc::new(AtomicUsize::new(0));
        let (inj, stp) = (injected.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stp.load(Ordering::SeqCst) {
                let (mut client, _) = match listener.accept() {
                    Ok(c) => c,
                    Err(_) => {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                        continue;
                    }
                };
                let (rule, inj, upstream, count) =
                    (rule.clone(), inj.clone(), upstream.clone(), count.clone());
                std::thread::spawn(move || {
                    client.set_nonblocking(false).unwrap();
                    let Some((buf, head, head_end)) = read_request(&mut client) else {
                        return;
                    };
                    let mut parts = head.split_whitespace();
                    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                    let index = count.fetch_add(1, Ordering::SeqCst);
                    if let Some(resp) = rule(&SeenRequest { method, path, index }) {
                        inj.fetch_add(1, Ordering::SeqCst);
                        let _ = client.write_all(resp.as_bytes());
                        return;
                    }
                    // Forward with `connection: close` and relay the response until EOF.
                    let Some(mut up) = forward_request(&buf, &head, head_end, &upstream) else {
                        return;
                    };
                    let _ = std::io::copy(&mut up, &mut client);
                });
            }
        });
        FaultProxy {
            endpoint,
            injected,
            stop,
        }
    }

    /// A canned HTTP response (the connection closes after it).
    pub fn response(status: u16, reason: &str, headers: &[(&str, &str)], body: &str) -> String {
        let mut r = format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-length: {}\r\nconnection: close\r\n",
            body.len()
        );
        for (k, v) in headers {
            r.push_str(&format!("{k}: {v}\r\n"));
        }
        r.push_str("\r\n");
        r.push_str(body);
        r
    }

    pub fn injected(&self) -> usize {
        self.injected.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Reads one HTTP/1.1 request from `client`: the head, then the body by Content-Length.
/// Returns the raw bytes, the head as text and where the body starts; `None` when the peer
/// closed first.
/// Sends the request read by `read_request` to `upstream` (host:port) with `connection: close`,
/// so that its answer ends at EOF; `None` when it cannot be sent.
pub fn forward_request(
    buf: &[u8],
    head: &str,
    head_end: usize,
    upstream: &str,
) -> Option<std::net::TcpStream> {
    use std::io::Write;
    let mut lines: Vec<&str> = head[..head.len() - 4]
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    lines.push("connection: close");
    let mut req = lines.join("\r\n").into_bytes();
    req.extend_from_slice(b"\r\n\r\n");
    req.extend_from_slice(&buf[head_end..]);
    let mut up = std::net::TcpStream::connect(upstream).ok()?;
    up.write_all(&req).ok()?;
    Some(up)
}

pub fn read_request(client: &mut std::net::TcpStream) -> Option<(Vec<u8>, String, usize)> {
    use std::io::Read;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        match client.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        match client.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    Some((buf, head, head_end))
}

/// SDK clients acting as `who` in the seeded world.
pub async fn clients_for(
    seed: &crpack_sandbox::seed::SeedInfo,
    who: &crpack_sandbox::seed::SeededIdentity,
) -> crpack_core::aws::Aws {
    crpack_core::aws::Aws::from_config(
        crpack_core::aws::static_config(
            &seed.endpoint,
            &seed.region,
            &who.access_key_id,
            &who.secret_access_key,
        )
        .await,
    )
}

/// `crpack init` of an "audience-overlap" project in `dir`, without the `[publish]` section.
pub fn init_project(dir: &Path) {
    let out = run(crpack(["init", "--name", "audience-overlap"]).arg(dir));
    assert_eq!(out.code(), 0, "crpack init failed: {}", out.stderr());
}

/// `crpack init` in `dir`, then a `[publish]` section for the seeded world under `prefix`.
pub fn scaffold(dir: &Path, seed: &crpack_sandbox::seed::SeedInfo, prefix: &str) {
    init_project(dir);
    let path = dir.join("crpack.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!(
        "\n[publish]\nbucket = \"{}\"\nprefix = \"{prefix}\"\nrole_arn = \"{}\"\nmembership_id = \"{}\"\nregion = \"{}\"\n",
        seed.bucket, seed.role_arn, seed.author.membership_id, seed.region
    ));
    std::fs::write(&path, text).unwrap();
}
pub mod snap;

/// A sandbox started on an ephemeral port with its state under `dir`.
pub async fn sandbox_at(dir: &Path) -> crpack_sandbox::Sandbox {
    crpack_sandbox::Sandbox::start(crpack_sandbox::SandboxOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: Some(dir.to_path_buf()),
    })
    .await
    .expect("sandbox starts")
}

/// Spawns `cmd` (a `crpack --json sandbox …`) with stdout and stderr piped, and returns once it
/// has printed its JSON document: the child, the document, and the rest of stdout. The caller
/// waits for the child.
#[allow(clippy::zombie_processes)]
pub fn spawn_json_sandbox(
    cmd: &mut Command,
) -> (
    std::process::Child,
    serde_json::Value,
    std::io::BufReader<std::process::ChildStdout>,
) {
    use std::io::BufRead;
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut doc = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            let status = child.wait().unwrap();
            panic!("sandbox exited ({status:?}) before printing its endpoint: {doc}");
        }
        doc.push_str(&line);
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&doc) {
            return (child, v, reader);
        }
    }
}

/// Sends `signal` (`INT`, `TERM`, …) to `child`.
pub fn send_signal(child: &std::process::Child, signal: &str) {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap()
            .success()
    );
}

/// Sends `signal` to `child` and waits up to `limit` for it to exit; kills it and fails if it
/// does not.
pub fn signal_and_wait(
    child: &mut std::process::Child,
    signal: &str,
    limit: std::time::Duration,
) -> std::process::ExitStatus {
    send_signal(child, signal);
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("the sandbox did not stop on SIG{signal}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Reads whole lines from `reader` until what was read satisfies `done`, and returns it; fails
/// when the stream ends first.
pub fn read_until(reader: &mut impl std::io::BufRead, done: impl Fn(&str) -> bool) -> String {
    let mut text = String::new();
    while !done(&text) {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "the stream ended early: {text}"
        );
        text.push_str(&line);
    }
    text
}

/// The names of build staging directories left in `dir`.
pub fn staging_leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("staging"))
        .collect()
}

/// A scaffold published as the author into a sandbox of its own.
pub struct Published {
    pub sb: TestSandbox,
    pub tmp: tempfile::TempDir,
    /// The project.
    pub dir: PathBuf,
    /// The template's ARN.
    pub arn: String,
    /// The lock the publish wrote (its `--json` document's `lock`).
    pub lock: serde_json::Value,
}

impl Published {
    /// Starts a sandbox and publishes a scaffold under the key prefix `prefix`.
    pub fn start(prefix: &str) -> Published {
        let sb = TestSandbox::start();
        let tmp = tempfile::tempdir().unwrap();
        let dir = sb.project(tmp.path(), prefix);
        let (arn, lock) = sb.publish(&dir);
        Published {
            sb,
            tmp,
            dir,
            arn,
            lock,
        }
    }

    /// The author's membership id.
    pub fn am(&self) -> String {
        self.sb.seed.author.membership_id.clone()
    }

    /// The provider's membership id.
    pub fn pm(&self) -> String {
        self.sb.seed.provider.membership_id.clone()
    }

    /// The path of a built artifact, `dist/NAME`.
    pub fn dist(&self, name: &str) -> String {
        self.dir.join("dist").join(name).display().to_string()
    }

    /// `crpack approve --files` of the built artifacts as the provider: the template becomes
    /// allowed on both tables.
    pub fn approve_dist(&self) -> Run {
        self.sb.approve_dist(&self.dir, &self.arn)
    }

    /// The provider's configured table id behind association `name`.
    pub fn table_id(&self, name: &str) -> String {
        self.sb
            .seed
            .tables
            .iter()
            .find(|t| t.name == name)
            .unwrap()
            .configured_table_id
            .clone()
    }

    /// The CUSTOM rule of the provider's table `table` (None: it has none).
    pub fn rule(&self, table: &str) -> Option<aws_sdk_cleanrooms::types::AnalysisRuleCustom> {
        let aws = self.sb.clients(&self.sb.seed.provider.identity);
        self.sb
            .rt
            .block_on(crpack_core::verify::rules::read_custom(
                &aws,
                &self.table_id(table),
            ))
            .unwrap()
    }

    /// Replaces the CUSTOM rule of the provider's table `table` with `rule`.
    pub fn set_rule(&self, table: &str, rule: aws_sdk_cleanrooms::types::AnalysisRuleCustom) {
        let aws = self.sb.clients(&self.sb.seed.provider.identity);
        self.sb
            .rt
            .block_on(
                aws.cleanrooms
                    .update_configured_table_analysis_rule()
                    .configured_table_identifier(self.table_id(table))
                    .analysis_rule_type(aws_sdk_cleanrooms::types::ConfiguredTableAnalysisRuleType::Custom)
                    .analysis_rule_policy(aws_sdk_cleanrooms::types::ConfiguredTableAnalysisRulePolicy::V1(
                        aws_sdk_cleanrooms::types::ConfiguredTableAnalysisRulePolicyV1::Custom(rule),
                    ))
                    .send(),
            )
            .unwrap();
    }
}

impl TestSandbox {
    /// `crpack --json publish` of the project in `dir` as the author: the template's ARN and
    /// the lock.
    pub fn publish(&self, dir: &Path) -> (String, serde_json::Value) {
        let lock = self.author(dir, &["--json", "publish"]).expect(0).json()["lock"].clone();
        let arn = lock["template"]["arn"].as_str().unwrap().to_string();
        (arn, lock)
    }

    /// `crpack approve --files` of the artifacts built in `dir` as the provider: `arn` becomes
    /// allowed on both tables.
    pub fn approve_dist(&self, dir: &Path, arn: &str) -> Run {
        let pm = self.seed.provider.membership_id.clone();
        let ep = dir.join("dist/entrypoint.py").display().to_string();
        let env = dir.join("dist/pyspark_venv.tar.gz").display().to_string();
        let args = [
            "approve",
            "--template",
            arn,
            "--membership",
            &pm,
            "--files",
            &ep,
            &env,
        ];
        self.provider(dir, &args)
    }
}

/// The value of a successful SDK call (S3 or Clean Rooms); a failure fails the test with the
/// whole error chain.
pub fn ok<T, E: std::error::Error + 'static, R: std::fmt::Debug>(
    r: Result<T, aws_sdk_cleanrooms::error::SdkError<E, R>>,
) -> T {
    r.unwrap_or_else(|e| panic!("{}", aws_smithy_types::error::display::DisplayErrorContext(e)))
}

/// The HTTP status, error code and typed error of a failed SDK call; anything but a service
/// error fails the test.
pub fn fault<E>(
    err: aws_sdk_cleanrooms::error::SdkError<E, aws_sdk_cleanrooms::config::http::HttpResponse>,
) -> (u16, String, E)
where
    E: aws_sdk_cleanrooms::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_cleanrooms::error::SdkError;
    let status = err.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
    match err {
        SdkError::ServiceError(e) => {
            let e = e.into_err();
            (status, e.code().unwrap_or_default().to_string(), e)
        }
        other => panic!(
            "expected a service error, got {}",
            aws_smithy_types::error::display::DisplayErrorContext(other)
        ),
    }
}

/// A template artifact at `s3://bucket/key`.
pub fn template_artifact(bucket: &str, key: &str) -> aws_sdk_cleanrooms::types::AnalysisTemplateArtifact {
    aws_sdk_cleanrooms::types::AnalysisTemplateArtifact::builder()
        .location(
            aws_sdk_cleanrooms::types::S3Location::builder()
                .bucket(bucket)
                .key(key)
                .build()
                .unwrap(),
        )
        .build()
}

/// The string `field` of each object in the JSON array `array`, in order; anything else fails
/// the test.
pub fn strings_of<'a>(array: &'a serde_json::Value, field: &str) -> Vec<&'a str> {
    array
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item[field].as_str().unwrap())
        .collect()
}

/// A sandbox, a temporary folder and a scaffolded project in it publishing under `prefix`.
pub fn sandbox_with_project(prefix: &str) -> (TestSandbox, tempfile::TempDir, PathBuf) {
    let sb = TestSandbox::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = sb.project(tmp.path(), prefix);
    (sb, tmp, dir)
}

/// The first object in the JSON array `array` whose `field` equals `value`; none fails the test.
pub fn item_where<'a>(array: &'a serde_json::Value, field: &str, value: &str) -> &'a serde_json::Value {
    array
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item[field] == value)
        .unwrap_or_else(|| panic!("no item with {field} = {value:?} in {array:#}"))
}

/// `item[first]`, `sep` and `item[second]` as one string (both fields must be strings).
pub fn two_fields(item: &serde_json::Value, first: &str, sep: &str, second: &str) -> String {
    format!(
        "{}{sep}{}",
        item[first].as_str().unwrap(),
        item[second].as_str().unwrap()
    )
}

/// A sandbox on a fresh temporary folder (kept as long as the sandbox).
pub async fn temp_sandbox() -> (tempfile::TempDir, crpack_sandbox::Sandbox) {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = sandbox_at(dir.path()).await;
    (dir, sandbox)
}

/// Runs `cmd` and fails the test, naming `what` and its stderr, unless it succeeds.
pub fn output_ok(cmd: &mut Command, what: &str) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl TestSandbox {
    /// The `--json` plan of `crpack publish --dry-run` in `dir`, which must exit 0.
    pub fn publish_plan(&self, dir: &Path) -> serde_json::Value {
        self.author(dir, &["--json", "publish", "--dry-run"])
            .expect(0)
            .json()
    }
}

/// An analysis parameter `name` of type `kind` with the default value `default`.
pub fn parameter(
    name: &str,
    kind: aws_sdk_cleanrooms::types::ParameterType,
    default: &str,
) -> aws_sdk_cleanrooms::types::AnalysisParameter {
    aws_sdk_cleanrooms::types::AnalysisParameter::builder()
        .name(name)
        .r#type(kind)
        .default_value(default)
        .build()
        .unwrap()
}

/// The CUSTOM analysis rule of the configured table `table`, read by `client`.
pub async fn custom_rule(
    client: &aws_sdk_cleanrooms::Client,
    table: &str,
) -> aws_sdk_cleanrooms::operation::get_configured_table_analysis_rule::GetConfiguredTableAnalysisRuleOutput {
    ok(client
        .get_configured_table_analysis_rule()
        .configured_table_identifier(table)
        .analysis_rule_type(aws_sdk_cleanrooms::types::ConfiguredTableAnalysisRuleType::Custom)
        .send()
        .await)
}

/// A listener on an ephemeral local port and its `http://` address.
pub fn local_listener() -> (std::net::TcpListener, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    (listener, endpoint)
}

impl TestSandbox {
    /// CreateAnalysisTemplate as the author in the seeded membership, for a PySpark template
    /// `name`; the caller adds the rest.
    pub fn author_pyspark_template(
        &self,
        name: &str,
    ) -> aws_sdk_cleanrooms::operation::create_analysis_template::builders::CreateAnalysisTemplateFluentBuilder
    {
        self.clients(&self.seed.author.identity)
            .cleanrooms
            .create_analysis_template()
            .membership_identifier(&self.seed.author.membership_id)
            .name(name)
            .format(aws_sdk_cleanrooms::types::AnalysisFormat::Pyspark10)
    }
}

/// A `crpack sandbox --seed` process (not in-process: its jobs run on whatever runtime that
/// process finds), with a scaffolded project publishing into it.
pub struct ProcessSandbox {
    pub child: std::process::Child,
    pub seed: crpack_sandbox::seed::SeedInfo,
    pub tmp: tempfile::TempDir,
    /// The project.
    pub dir: PathBuf,
    _stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl ProcessSandbox {
    /// Starts the sandbox with `env` changing its environment, and scaffolds a project
    /// publishing under `prefix`.
    pub fn start(prefix: &str, env: impl FnOnce(&mut Command)) -> ProcessSandbox {
        let mut cmd = crpack(["--json", "sandbox", "--listen", "127.0.0.1:0", "--seed"]);
        env(&mut cmd);
        let (child, doc, stdout) = spawn_json_sandbox(&mut cmd);
        let seed: crpack_sandbox::seed::SeedInfo = serde_json::from_value(doc["seed"].clone()).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("proj");
        scaffold(&dir, &seed, prefix);
        ProcessSandbox {
            child,
            seed,
            tmp,
            dir,
            _stdout: stdout,
        }
    }

    /// `crpack ARGS` in the project as `who`.
    pub fn as_who(&self, who: &crpack_sandbox::seed::SeededIdentity, args: &[&str]) -> Run {
        let mut c = crpack(args);
        c.current_dir(&self.dir);
        for (k, v) in self.seed.env_for(who) {
            c.env(k, v);
        }
        run(&mut c)
    }

    /// Publishes as the author, approves the built files as the provider and runs a job as the
    /// author: the job's `--json` document.
    pub fn publish_approve_run(&self) -> serde_json::Value {
        let lock = self
            .as_who(&self.seed.author.identity, &["--json", "publish"])
            .expect(0)
            .json();
        let arn = lock["lock"]["template"]["arn"].as_str().unwrap().to_string();
        let ep = self.dir.join("dist/entrypoint.py").display().to_string();
        let env = self.dir.join("dist/pyspark_venv.tar.gz").display().to_string();
        let pm = self.seed.provider.membership_id.clone();
        let approve = [
            "approve",
            "--template",
            &arn,
            "--membership",
            &pm,
            "--files",
            &ep,
            &env,
        ];
        self.as_who(&self.seed.provider.identity, &approve).expect(0);
        let am = self.seed.author.membership_id.clone();
        let run = ["--json", "run", "--template", &arn, "--membership", &am];
        self.as_who(&self.seed.author.identity, &run).expect(0).json()
    }

    /// `crpack [--json] jobs results ID --membership AM --out DIR` as the author.
    pub fn results(&self, job_id: &str, out: &Path, json: bool) -> Run {
        let am = self.seed.author.membership_id.clone();
        let out = out.display().to_string();
        let mut args = vec!["jobs", "results", job_id, "--membership", &am, "--out", &out];
        if json {
            args.insert(0, "--json");
        }
        self.as_who(&self.seed.author.identity, &args)
    }

    /// Stops the sandbox (Ctrl-C) and waits for it.
    pub fn stop(mut self) {
        signal_and_wait(&mut self.child, "INT", std::time::Duration::from_secs(30));
    }
}
