//! `crpack publish` through the real binary against the sandbox on an ephemeral port.

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::common::*;

/// All versions (and delete markers) under a prefix in the seeded bucket.
fn versions(sb: &TestSandbox, prefix: &str) -> Vec<(String, String)> {
    let s3 = sb.clients(&sb.seed.author.identity).s3;
    let listing = s3.list_object_versions().bucket(&sb.seed.bucket).prefix(prefix);
    let out = sb.rt.block_on(listing.send()).unwrap();
    out.versions()
        .iter()
        .map(|v| (v.key().unwrap().to_string(), v.version_id().unwrap().to_string()))
        .collect()
}

/// Whether every upload of a publish document has the action `action`.
fn every_upload(doc: &serde_json::Value, action: &str) -> bool {
    crate::common::strings_of(&doc["uploads"], "action")
        .iter()
        .all(|a| *a == action)
}

/// The stderr of a human `crpack publish` in `dir`, which must exit 3.
fn publish_fails(sb: &TestSandbox, dir: &std::path::Path) -> String {
    sb.author(dir, &["publish"]).expect(3).stderr()
}

/// Replaces `from` by `to` in the project's crpack.toml.
fn replace_in_manifest(dir: &std::path::Path, from: &str, to: &str) {
    let toml = fs::read_to_string(dir.join("crpack.toml")).unwrap();
    fs::write(dir.join("crpack.toml"), toml.replace(from, to)).unwrap();
}

fn template_count(sb: &TestSandbox) -> usize {
    sb.author_templates().len()
}

#[test]
fn publish_happy_path_records_sha256sum_hashes_and_reruns_idempotently() {
    let (sb, _tmp, dir) = crate::common::sandbox_with_project("templates/happy");
    let r = sb.author(&dir, &["--json", "publish"]).expect(0).json();
    assert_eq!(r["ok"], true);
    assert_eq!(r["up_to_date"], false);
    assert_eq!(r["template_action"], "created");
    let lock = &r["lock"];
    let arn = lock["template"]["arn"].as_str().unwrap().to_string();
    assert!(
        arn.starts_with("arn:aws:cleanrooms:us-east-1:111111111111:membership/"),
        "{arn}"
    );
    assert!(
        lock["template"]["name"]
            .as_str()
            .unwrap()
            .starts_with("audience-overlap-")
    );

    // The lock on disk is the one reported, and its hashes are what sha256sum prints.
    let on_disk: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("crpack.lock")).unwrap()).unwrap();
    assert_eq!(&on_disk, lock);
    let sums = std::process::Command::new("sha256sum")
        .args(["dist/entrypoint.py", "dist/pyspark_venv.tar.gz"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let sums = String::from_utf8(sums.stdout).unwrap();
    let hex: Vec<&str> = sums
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(lock["artifacts"][0]["sha256"], hex[0]);
    assert_eq!(lock["artifacts"][1]["sha256"], hex[1]);

    // The service recorded exactly those hashes for the pinned versions.
    let aws = sb.clients(&sb.seed.author.identity);
    let t = sb
        .rt
        .block_on(
            aws.cleanrooms
                .get_analysis_template()
                .membership_identifier(&sb.seed.author.membership_id)
                .analysis_template_identifier(lock["template"]["id"].as_str().unwrap())
                .send(),
        )
        .unwrap();
    let t = t.analysis_template().unwrap();
    let meta = t.source_metadata().unwrap().as_artifacts().unwrap();
    assert_eq!(meta.entry_point_hash().unwrap().sha256().unwrap(), hex[0]);
    assert_eq!(meta.additional_artifact_hashes()[0].sha256().unwrap(), hex[1]);
    assert_eq!(t.format().as_str(), "PYSPARK_1_0");
    assert_eq!(t.schema().unwrap().referenced_tables(), ["orders", "customers"]);
    assert_eq!(t.analysis_parameters()[0].name(), "min_customers");
    assert!(
        t.error_message_configuration().is_none(),
        "basic unless asked for"
    );

    // S3 stored a full-object SHA-256 equal to ours, under the version the lock names.
    for a in lock["artifacts"].as_array().unwrap() {
        let head = sb
            .rt
            .block_on(
                aws.s3
                    .head_object()
                    .bucket(a["bucket"].as_str().unwrap())
                    .key(a["key"].as_str().unwrap())
                    .version_id(a["version_id"].as_str().unwrap())
                    .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
                    .send(),
            )
            .unwrap();
        let stored = crpack_core::digest::Sha256Digest::parse(head.checksum_sha256().unwrap()).unwrap();
        assert_eq!(stored.to_hex(), a["sha256"].as_str().unwrap());
        let key = a["key"].as_str().unwrap();
        assert!(
            key.starts_with(&format!("templates/happy/{}/", a["sha256"].as_str().unwrap())),
            "{key}"
        );
    }

    // Rerun: nothing uploaded, nothing created.
    let before = versions(&sb, "templates/happy/");
    let again = sb.author(&dir, &["--json", "publish"]).expect(0).json();
    assert_eq!(again["up_to_date"], true);
    assert_eq!(again["template_action"], "reused");
    assert!(every_upload(&again, "skipped"), "{again}");
    assert_eq!(versions(&sb, "templates/happy/"), before);
    assert_eq!(template_count(&sb), 1);

    // A human run says so too.
    let human = sb.author(&dir, &["publish"]).expect(0);
    assert!(human.stdout().contains("up to date"), "{}", human.stdout());

    // A changed entry point: a new template under a new name; the unchanged bundle is not re-sent.
    let ep = dir.join("src/entrypoint.py");
    let mut text = fs::read_to_string(&ep).unwrap();
    text.push_str("\n# v2\n");
    fs::write(&ep, text).unwrap();
    let v2 = sb.author(&dir, &["--json", "publish"]).expect(0).json();
    assert_eq!(v2["template_action"], "created");
    assert_ne!(v2["template_name"], r["template_name"]);
    let actions: Vec<&str> = crate::common::strings_of(&v2["uploads"], "action");
    assert_eq!(actions, ["uploaded", "skipped"]);
    assert_eq!(template_count(&sb), 2);
}

#[test]
fn dry_run_touches_nothing_remote() {
    let (sb, _tmp, dir) = crate::common::sandbox_with_project("templates/dry");
    let r = sb.publish_plan(&dir);
    assert_eq!(r["dry_run"], true);
    assert_eq!(r["template_action"], "planned");
    assert!(every_upload(&r, "planned"), "{r}");
    assert!(versions(&sb, "templates/dry/").is_empty());
    assert_eq!(template_count(&sb), 0);
    assert!(!dir.join("crpack.lock").exists());
    // Even with an endpoint nobody listens on, the dry run succeeds: it makes no calls.
    let mut cmd = crpack(["publish", "--dry-run"]);
    cmd.current_dir(&dir)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_REGION", "us-east-1");
    let human = run(&mut cmd).expect(0).stdout();
    assert!(
        human.contains("would create template audience-overlap-"),
        "{human}"
    );
}

#[test]
fn unversioned_bucket_is_refused_before_any_upload() {
    let sb = TestSandbox::start();
    let aws = sb.clients(&sb.seed.author.identity);
    sb.rt
        .block_on(aws.s3.create_bucket().bucket("unversioned-bucket").send())
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = sb.project(tmp.path(), "p");
    replace_in_manifest(&dir, &sb.seed.bucket, "unversioned-bucket");
    let r = sb.author(&dir, &["publish"]).expect(3);
    assert!(r.stderr().contains("versioning"), "{}", r.stderr());
    assert!(
        r.stderr()
            .contains("put-bucket-versioning --bucket unversioned-bucket"),
        "{}",
        r.stderr()
    );
    let objects = sb
        .rt
        .block_on(aws.s3.list_objects_v2().bucket("unversioned-bucket").send())
        .unwrap();
    assert_eq!(objects.key_count(), Some(0));
    assert!(!dir.join("crpack.lock").exists());
    // --json gives a machine-readable error with the same exit code.
    let j = sb.author(&dir, &["--json", "publish"]).expect(3).json();
    assert_eq!(j["ok"], false);
    assert!(j["error"]["message"].as_str().unwrap().contains("versioning"));
}

#[test]
fn an_existing_key_with_other_content_stops_the_publish() {
    let (sb, _tmp, dir) = crate::common::sandbox_with_project("templates/clash");
    let build = run_in(&dir, ["--json", "build"]).expect(0).json();
    let sha = build["artifacts"][0]["sha256"].as_str().unwrap().to_string();
    let key = format!("templates/clash/{sha}/entrypoint.py");
    let aws = sb.clients(&sb.seed.author.identity);
    sb.rt
        .block_on(
            aws.s3
                .put_object()
                .bucket(&sb.seed.bucket)
                .key(&key)
                .body(aws_sdk_s3::primitives::ByteStream::from_static(
                    b"not the entry point",
                ))
                .send(),
        )
        .unwrap();
    let err = publish_fails(&sb, &dir);
    assert!(err.contains("already exists with other content"), "{err}");
    assert!(err.contains(&key), "{err}");
    assert_eq!(
        versions(&sb, &key).len(),
        1,
        "the stray object was not overwritten"
    );
    assert_eq!(template_count(&sb), 0);
}

#[test]
fn service_validation_errors_show_reason_and_fields() {
    let (sb, _tmp, dir) = crate::common::sandbox_with_project("templates/role");
    let toml = fs::read_to_string(dir.join("crpack.toml")).unwrap();
    // A well-formed role ARN in an account the service cannot assume a role in.
    let toml = toml.replace(
        &sb.seed.role_arn,
        "arn:aws:iam::999999999999:role/service-role/cleanrooms-nobody",
    );
    fs::write(dir.join("crpack.toml"), toml).unwrap();
    let err = publish_fails(&sb, &dir);
    assert!(err.contains("CreateAnalysisTemplate"), "{err}");
    assert!(err.contains("ValidationException"), "{err}");
    assert!(err.contains("roleArn"), "fieldList shown: {err}");
    assert!(!dir.join("crpack.lock").exists());
}

#[test]
fn two_additional_artifacts_are_rejected_before_upload() {
    let (sb, _tmp, dir) = crate::common::sandbox_with_project("templates/two");
    replace_in_manifest(&dir, "exclude = [\"**/tests/**\"]", "archive = \"venv.tar.gz\"");
    let err = publish_fails(&sb, &dir);
    assert!(err.contains("at most one additional artifact"), "{err}");
    assert!(versions(&sb, "templates/two/").is_empty());
}

#[test]
fn missing_credentials_and_unknown_keys_are_one_clear_line() {
    let (sb, _tmp, dir) = crate::common::sandbox_with_project("templates/creds");
    let mut cmd = crpack(["publish"]);
    cmd.current_dir(&dir)
        .env("AWS_ENDPOINT_URL", sb.endpoint())
        .env("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNKEY000000")
        .env("AWS_SECRET_ACCESS_KEY", "nope");
    let r = run(&mut cmd).expect(3);
    assert!(r.stderr().contains("InvalidAccessKeyId"), "{}", r.stderr());
    assert_eq!(
        r.stderr().lines().filter(|l| l.starts_with("error")).count(),
        1,
        "{}",
        r.stderr()
    );

    let mut cmd = crpack(["publish"]);
    cmd.current_dir(&dir).env("AWS_ENDPOINT_URL", sb.endpoint());
    let r = run(&mut cmd).expect(3);
    assert!(r.stderr().contains("credentials"), "{}", r.stderr());
}

#[test]
fn a_publish_killed_mid_upload_finishes_on_rerun() {
    let (sb, _tmp, dir) = crate::common::sandbox_with_project("templates/killed");
    // A large prebuilt archive so the upload is still running when the process is killed.
    replace_in_manifest(
        &dir,
        "include = [\"lib/analysis_helpers\"]\nexclude = [\"**/tests/**\"]\nrequirements = \"requirements.txt\"",
        "archive = \"build/pyspark_venv.tar.gz\"",
    );
    fs::create_dir_all(dir.join("build")).unwrap();
    let block: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let big = block.repeat(160);
    // A real gzip tar (stored, so it stays as large as its content) with the random bytes in it.
    let out = fs::File::create(dir.join("build/pyspark_venv.tar.gz")).unwrap();
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(out, flate2::Compression::none()));
    let mut h = tar::Header::new_gnu();
    h.set_size(big.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append_data(&mut h, "lib/python3.11/site-packages/big.bin", &big[..])
        .unwrap();
    tar.into_inner().unwrap().finish().unwrap();
    drop(big);

    let mut cmd = crpack(["publish"]);
    cmd.current_dir(&dir);
    sb.as_identity(&mut cmd, &sb.seed.author.identity);
    let mut child = cmd.spawn().unwrap();
    // Kill once the big upload has begun (the entry point is uploaded first).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if !versions(&sb, "templates/killed/").is_empty() || std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(150));
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the publish should not have finished yet");
    assert!(!dir.join("crpack.lock").exists(), "no lock from a killed run");
    assert!(
        fs::read_dir(&dir).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("crpack.lock")),
        "no half-written lock temp file"
    );

    let r = sb.author(&dir, &["--json", "publish"]).expect(0).json();
    assert_eq!(r["template_action"], "created");
    let lock = Path::new(&dir).join("crpack.lock");
    assert!(lock.is_file());
    let all = versions(&sb, "templates/killed/");
    assert_eq!(all.len(), 2, "one version per artifact, no duplicates: {all:?}");
    assert_eq!(template_count(&sb), 1);
    assert_eq!(
        r["lock"]["artifacts"][1]["sha256"].as_str().unwrap(),
        sha256_hex(&dir.join("build/pyspark_venv.tar.gz"))
    );
}

#[test]
fn throttling_and_server_errors_are_retried() {
    let (sb, _tmp, dir) = crate::common::sandbox_with_project("templates/retry");
    // The second request (GetMembership, Clean Rooms) is throttled; the fifth (HeadObject, S3)
    // gets a 503. The retried requests get new indices, so each fault fires once.
    let proxy = FaultProxy::start(&sb.endpoint(), |r| match r.index {
        1 => Some(FaultProxy::response(
            429,
            "Too Many Requests",
            &[
                ("x-amzn-errortype", "ThrottlingException"),
                ("content-type", "application/json"),
            ],
            "{\"message\":\"Rate exceeded\"}",
        )),
        4 => Some(FaultProxy::response(503, "Service Unavailable", &[], "")),
        _ => None,
    });
    let mut cmd = crpack(["--json", "publish"]);
    cmd.current_dir(&dir);
    sb.as_identity(&mut cmd, &sb.seed.author.identity);
    cmd.env("AWS_ENDPOINT_URL", &proxy.endpoint);
    let r = run(&mut cmd).expect(0).json();
    assert_eq!(r["template_action"], "created");
    assert_eq!(proxy.injected(), 2, "both faults were hit and retried");
}
