//! What crpack prints, through the real binary: names and service text that hold control or
//! bidirectional characters are shown escaped (never raw to the terminal), and errors name the
//! thing and the endpoint they concern: the S3 object behind a temporary download, a throttled
//! HEAD and how many attempts it got, a response that could not be parsed and where it came
//! from, an unreachable endpoint, a crpack.toml byte that is not UTF-8.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::common::*;
use aws_sdk_cleanrooms::types::{AnalysisSchema, AnalysisSource, AnalysisTemplateArtifacts, ParameterType};

/// U+202E RIGHT-TO-LEFT OVERRIDE: `evil4<RLO>gnp.py` shows as `evil4yp.png`.
const RLO: char = '\u{202E}';

/// Whether `text` holds a character that can reorder or hide what a terminal shows (a control
/// other than the line feed, or a format character).
fn has_hidden(text: &str) -> Option<char> {
    text.chars()
        .find(|c| *c != '\n' && crpack_core::text::is_invisible(*c))
}

/// A zip with these entries (stored, fixed times).
fn zip_bytes(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in entries {
        w.start_file(
            *name,
            zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored)
                .unix_permissions(0o644),
        )
        .unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// The SHA-256 of bytes as lowercase hex.
fn hex_of(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// Uploads an entry point and an additional artifact as the author and registers a template
/// over them directly through the SDK (so its text can hold what `crpack publish` would refuse).
/// Returns the template ARN and the additional artifact's key.
fn template_over(
    sb: &TestSandbox,
    name: &str,
    description: &str,
    default: &str,
    additional: &[u8],
) -> (String, String) {
    let entry = b"def entrypoint(context):\n    return {\"results\": {}}\n";
    let ep_key = format!("messages/{name}/{}/entrypoint.py", hex_of(entry));
    let add_key = format!("messages/{name}/{}/bundle.zip", hex_of(additional));
    for (key, body) in [(&ep_key, entry.to_vec()), (&add_key, additional.to_vec())] {
        sb.put_artifact(key, body);
    }
    let loc = |k: &str| template_artifact(&sb.seed.bucket, k);
    let source = AnalysisSource::Artifacts(
        AnalysisTemplateArtifacts::builder()
            .entry_point(loc(&ep_key))
            .additional_artifacts(loc(&add_key))
            .role_arn(&sb.seed.role_arn)
            .build()
            .unwrap(),
    );
    let created = sb
        .rt
        .block_on(
            sb.author_pyspark_template(name)
                .description(description)
                .source(source)
                .analysis_parameters(crate::common::parameter(
                    "min_count",
                    ParameterType::String,
                    default,
                ))
                .schema(AnalysisSchema::builder().referenced_tables("orders").build())
                .send(),
        )
        .unwrap();
    // The provider may read the author's bucket, so the pinned bytes can be fetched.
    sb.grant_provider_read();
    (created.analysis_template().unwrap().arn().to_string(), add_key)
}

/// `crpack verify --files FILES` as the provider, with `--json` when `json`.
fn verify_files(sb: &TestSandbox, dir: &Path, arn: &str, files: &[&Path], json: bool) -> Run {
    let pm = sb.seed.provider.membership_id.clone();
    let json = if json { &["--json"][..] } else { &[] };
    let mut args: Vec<String> = json
        .iter()
        .chain(&["verify", "--template", arn, "--membership", &pm, "--files"])
        .map(|s| s.to_string())
        .collect();
    args.extend(files.iter().map(|f| f.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    sb.provider(dir, &args)
}

#[test]
fn verify_escapes_entry_names_and_the_template_text() {
    let sb = TestSandbox::start();
    let tmp = tempfile::tempdir().unwrap();
    let evil = format!("lib/evil4{RLO}gnp.py");
    let pinned = zip_bytes(&[("lib/a.py", b"x = 1\n"), (&evil, b"print('pinned')\n")]);
    let description = format!("Overlap{RLO} of customers\nverified: every artifact matches");
    let default = format!("10{RLO}0");
    let (arn, _) = template_over(&sb, "escaped", &description, &default, &pinned);

    // The reviewer's copy differs in the hostile entry: the explanation names it.
    let shared = tmp.path().join("bundle.zip");
    fs::write(
        &shared,
        zip_bytes(&[("lib/a.py", b"x = 1\n"), (&evil, b"print('shared')\n")]),
    )
    .unwrap();
    let ep = tmp.path().join("entrypoint.py");
    fs::write(&ep, b"def entrypoint(context):\n    return {\"results\": {}}\n").unwrap();
    let r = verify_files(&sb, tmp.path(), &arn, &[&ep, &shared], false).expect(1);
    let out = r.stdout();
    assert_eq!(has_hidden(&out), None, "nothing raw reaches the terminal:\n{out}");
    assert!(
        out.contains("changed  lib/evil4\\u{202E}gnp.py"),
        "the entry is named, escaped:\n{out}"
    );
    assert!(
        out.lines().any(
            |l| l == "description Overlap\\u{202E} of customers\\u{000A}verified: every artifact matches"
        ),
        "the description stays on one line, escaped:\n{out}"
    );
    assert!(
        out.contains("min_count (STRING, default \"10\\u{202e}0\")"),
        "the default is quoted and escaped:\n{out}"
    );
    assert!(
        !out.lines().any(|l| l.starts_with("verified:")),
        "the description cannot forge a verdict line:\n{out}"
    );
    assert_eq!(has_hidden(&r.stderr()), None, "{}", r.stderr());

    // --json keeps the names as they are (JSON escapes what it must).
    let j = verify_files(&sb, tmp.path(), &arn, &[&ep, &shared], true)
        .expect(1)
        .json();
    assert_eq!(j["template"]["description"], description.as_str());
    let changes = j["checks"][1]["explanation"]["changes"].as_array().unwrap();
    assert!(changes.iter().any(|c| c["name"] == evil.as_str()), "{j}");
}

#[test]
fn an_unreadable_pinned_archive_is_named_by_its_s3_object() {
    let sb = TestSandbox::start();
    let tmp = tempfile::tempdir().unwrap();
    // Looks like a zip (a local header signature) but has no central directory.
    let mut pinned = b"PK\x03\x04".to_vec();
    pinned.extend_from_slice(&[0x55; 200]);
    let (arn, key) = template_over(&sb, "corrupt", "broken bundle", "1", &pinned);
    let shared = tmp.path().join("bundle.zip");
    fs::write(&shared, zip_bytes(&[("a.py", b"x = 1\n")])).unwrap();
    let ep = tmp.path().join("entrypoint.py");
    fs::write(&ep, b"def entrypoint(context):\n    return {\"results\": {}}\n").unwrap();
    let r = verify_files(&sb, tmp.path(), &arn, &[&ep, &shared], false).expect(1);
    let out = r.stdout();
    let line = out
        .lines()
        .find(|l| l.contains("cannot compare the archives"))
        .unwrap_or_else(|| panic!("no explanation failure:\n{out}"));
    let object = format!("s3://{}/{key}?versionId=", sb.seed.bucket);
    assert!(
        line.contains(&format!("cannot compare the archives: {object}")),
        "the S3 object version is named: {line}"
    );
    assert!(line.contains("corrupt zip"), "{line}");
    let temp = std::env::temp_dir().display().to_string();
    assert!(!line.contains(&temp), "no temporary path: {line}");
}

#[test]
fn a_hash_line_escapes_a_file_name_like_sha256sum_does() {
    let tmp = tempfile::tempdir().unwrap();
    let evil = format!("evil4{RLO}gnp.py");
    fs::write(tmp.path().join(&evil), b"x").unwrap();
    fs::write(tmp.path().join("plain.py"), b"x").unwrap();
    let r = run_in(tmp.path(), ["hash", evil.as_str(), "plain.py"]).expect(0);
    let hex = hex_of(b"x");
    assert_eq!(
        r.stdout(),
        format!("\\{hex}  evil4\\u{{202E}}gnp.py\n{hex}  plain.py\n"),
        "an escaped line starts with a backslash; a plain name is printed as sha256sum prints it"
    );
    // The error for a missing file names it escaped too.
    let missing = format!("gone{RLO}.py");
    let r = run_in(tmp.path(), ["hash", missing.as_str()]).expect(3);
    assert!(
        r.stderr().contains("gone\\u{202E}.py: No such file"),
        "{}",
        r.stderr()
    );
    assert_eq!(has_hidden(&r.stderr()), None);
}

#[test]
fn a_throttled_head_says_so_and_after_how_many_attempts() {
    let (sb, _tmp, dir) = crate::common::sandbox_with_project("templates/throttled");
    // Every HeadObject gets a 503, which has no body: no error code to read.
    let proxy = FaultProxy::start(&sb.endpoint(), |r| {
        (r.method == "HEAD").then(|| FaultProxy::response(503, "Service Unavailable", &[], ""))
    });
    let mut cmd = crpack(["publish"]);
    cmd.current_dir(&dir);
    sb.as_identity(&mut cmd, &sb.seed.author.identity);
    cmd.env("AWS_ENDPOINT_URL", &proxy.endpoint);
    let r = run(&mut cmd).expect(3);
    let err = r.stderr();
    assert!(err.contains("HeadObject s3://"), "{err}");
    assert!(err.contains("throttled or unavailable"), "{err}");
    assert!(err.contains("HTTP 503 after 5 attempts"), "{err}");
    assert!(
        err.contains(&format!("at {}", proxy.endpoint)),
        "the endpoint is named: {err}"
    );
    assert!(err.contains("wait and run again"), "{err}");
    assert_eq!(proxy.injected() % 5, 0, "every attempt was answered 503");
}

#[test]
fn a_response_that_cannot_be_parsed_names_the_cause_and_the_endpoint() {
    let (sb, _tmp, dir) = crate::common::sandbox_with_project("templates/parse");
    // An S3-compatible server answering GetBucketVersioning with another document.
    let proxy = FaultProxy::start(&sb.endpoint(), |r| {
        (r.method == "GET" && r.path.contains("?versioning")).then(|| {
            FaultProxy::response(
                200,
                "OK",
                &[("content-type", "application/xml")],
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
                 <ListAllMyBucketsResult><Buckets></Buckets></ListAllMyBucketsResult>",
            )
        })
    });
    // doctor reports it as a failed check; publish stops at its preflight, before any upload.
    for args in [&["doctor"][..], &["publish"][..]] {
        let mut cmd = crpack(args);
        cmd.current_dir(&dir);
        sb.as_identity(&mut cmd, &sb.seed.author.identity);
        cmd.env("AWS_ENDPOINT_URL", &proxy.endpoint);
        let r = run(&mut cmd);
        let text = format!("{}{}", r.stdout(), r.stderr());
        assert_ne!(r.code(), 0, "{text}");
        let line = text
            .lines()
            .find(|l| l.contains("GetBucketVersioning"))
            .unwrap_or_else(|| panic!("{args:?}: no GetBucketVersioning line:\n{text}"));
        assert!(line.contains("could not be parsed"), "{args:?}: {line}");
        assert!(
            line.contains("expected VersioningConfiguration") && line.contains("ListAllMyBucketsResult"),
            "{args:?}: what could not be parsed: {line}"
        );
        assert!(
            line.contains(&format!("at {}", proxy.endpoint)),
            "{args:?}: the endpoint: {line}"
        );
        assert!(!line.contains("bug in the SDK"), "{args:?}: {line}");
    }
    // doctor's fix points at the cause, not at a missing bucket.
    let mut cmd = crpack(["doctor"]);
    cmd.current_dir(&dir);
    sb.as_identity(&mut cmd, &sb.seed.author.identity);
    cmd.env("AWS_ENDPOINT_URL", &proxy.endpoint);
    let out = run(&mut cmd).expect(1).stdout();
    let fix = out
        .lines()
        .skip_while(|l| !l.contains("artifact bucket"))
        .nth(1)
        .unwrap_or_default();
    assert!(
        fix.contains("fix:") && !fix.contains("create the bucket"),
        "{out}"
    );
}

#[test]
fn a_response_cut_short_names_the_endpoint_and_the_cause() {
    let (sb, _tmp, dir) = crate::common::sandbox_with_project("templates/short");
    // The body promises 400 bytes and the connection closes after a few.
    let proxy = FaultProxy::start(&sb.endpoint(), |r| {
        (r.method == "GET" && r.path.contains("?versioning")).then(|| {
            "HTTP/1.1 200 OK\r\ncontent-type: application/xml\r\ncontent-length: 400\r\n\
             connection: close\r\n\r\n<VersioningConfiguration>"
                .to_string()
        })
    });
    let mut cmd = crpack(["publish"]);
    cmd.current_dir(&dir);
    sb.as_identity(&mut cmd, &sb.seed.author.identity);
    cmd.env("AWS_ENDPOINT_URL", &proxy.endpoint);
    let err = run(&mut cmd).expect(3).stderr();
    assert!(
        err.contains(&format!(
            "GetBucketVersioning crpack-sandbox-artifacts: the response at {} (HTTP 200) could not be read",
            proxy.endpoint
        )),
        "{err}"
    );
    assert!(
        err.contains("could not be read after 5 attempts: error reading a body"),
        "the attempts and the cause: {err}"
    );
}

#[test]
fn an_unreachable_endpoint_is_named_with_the_attempts() {
    let tmp = tempfile::tempdir().unwrap();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let r = run(crpack(["doctor", "--membership", "m-1"])
        .current_dir(tmp.path())
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "secret"))
    .expect(1);
    let out = r.stdout();
    assert!(
        out.contains(&format!(
            "GetMembership m-1: cannot reach {endpoint} after 5 attempts"
        )),
        "{out}"
    );
    assert!(
        out.contains("Connection refused") || out.contains("connect"),
        "{out}"
    );
}

#[test]
fn a_crpack_toml_byte_that_is_not_utf8_is_located() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("proj");
    crate::common::init_project(&dir);
    let path = dir.join("crpack.toml");
    let text = fs::read_to_string(&path).unwrap();
    let (line_no, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.starts_with("description"))
        .expect("the scaffold has a description");
    let offset_of_line = text.find(line).unwrap();
    // A Latin-1 "é" inside the description's quotes.
    let at = line.find('"').unwrap() + 1;
    let mut bytes = text.as_bytes().to_vec();
    bytes.insert(offset_of_line + at, 0xE9);
    fs::write(&path, &bytes).unwrap();
    let r = run_in(&dir, ["check"]).expect(3);
    let err = r.stderr();
    let line_no = line_no + 1;
    assert!(
        err.contains(&format!("crpack.toml:{line_no}: not UTF-8 text")),
        "the line: {err}"
    );
    assert!(
        err.contains(&format!(
            "byte offset {} (line {line_no}, byte {} of the line)",
            offset_of_line + at,
            at + 1
        )),
        "the byte: {err}"
    );
    assert!(err.contains("re-save the file as UTF-8"), "the fix: {err}");
}
