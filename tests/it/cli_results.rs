//! `crpack jobs results` through the real binary against the sandbox: a job run for real on
//! the local PySpark is downloaded byte for byte as S3 holds it, its preview is what Spark
//! itself reads from the files, a rerun replaces the files in place; a job that did not succeed,
//! a location the caller cannot read and a simulated job are errors that say why.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

fn published() -> Published {
    let p = Published::start("templates/results");
    p.approve_dist().expect(0);
    p
}

/// Runs a job to its end as the author; its `--json` document.
fn run_job(p: &Published, extra: &[&str]) -> serde_json::Value {
    let am = p.am();
    let mut args = vec!["--json", "run", "--template", &p.arn, "--membership", &am];
    args.extend_from_slice(extra);
    p.sb.author(&p.dir, &args).expect(0).json()
}

/// Every object under `prefix` in `bucket`, read as `who` with the SDK: key → bytes.
fn s3_objects(
    sb: &TestSandbox,
    who: &crpack_sandbox::seed::SeededIdentity,
    bucket: &str,
    prefix: &str,
) -> BTreeMap<String, Vec<u8>> {
    let aws = sb.clients(who);
    sb.rt.block_on(async {
        let mut out = BTreeMap::new();
        let mut pages = aws
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .max_keys(1)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for o in ok(page).contents() {
                let key = o.key().unwrap().to_string();
                let got = ok(aws.s3.get_object().bucket(bucket).key(&key).send().await);
                out.insert(key, got.body.collect().await.unwrap().into_bytes().to_vec());
            }
        }
        out
    })
}

/// Every file under `dir`: relative path (with `/`) → bytes.
fn files_under(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).unwrap();
            let rel: Vec<String> = rel.iter().map(|c| c.to_string_lossy().into_owned()).collect();
            (rel.join("/"), fs::read(e.path()).unwrap())
        })
        .collect()
}

fn python() -> String {
    std::env::var("CRPACK_TEST_PYTHON")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python").to_string())
}

/// What PySpark reads from each result folder under `dir`: `{name: {columns: [[name, type]],
/// rows, preview}}`, the part files read one by one in name order, cells rendered as the
/// runner renders them.
fn spark_reads(dir: &Path, limit: usize) -> serde_json::Value {
    let script = r#"
import json, os, sys
from pyspark.sql import SparkSession
root, limit = sys.argv[1], int(sys.argv[2])
spark = (SparkSession.builder.master("local[1]").appName("judge")
         .config("spark.ui.enabled", "false").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")

def render(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "NaN" if v != v else repr(v)
    return str(v)

out = {}
for name in sorted(os.listdir(root)):
    folder = os.path.join(root, name)
    parts = sorted(f for f in os.listdir(folder) if f.endswith(".parquet")) if os.path.isdir(folder) else []
    if not parts:
        continue
    columns, rows, preview = None, 0, []
    for part in parts:
        df = spark.read.parquet(os.path.join(folder, part))
        if columns is None:
            columns = [list(c) for c in df.dtypes]
        rows += df.count()
        if len(preview) < limit:
            preview += [[render(v) for v in r] for r in df.take(limit - len(preview))]
    out[name] = {"columns": columns, "rows": rows, "preview": preview}
print(json.dumps(out))
"#;
    let out = output_ok(
        Command::new(python()).args(["-c", script, &dir.display().to_string(), &limit.to_string()]),
        "pyspark reading the downloaded results",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap_or("")).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Temporary files the downloads could have left under `dir`.
/// `crpack [--json] jobs results ID --out DIR` as the author.
fn results_run(p: &Published, id: &str, out: &str, json: bool) -> Run {
    let am = p.am();
    let mut args = vec!["jobs", "results", id, "--membership", &am, "--out", out];
    if json {
        args.insert(0, "--json");
    }
    p.sb.author(&p.dir, &args)
}

/// [`results_run`] without `--json`, which must exit 3: its stderr.
fn results_refused(p: &Published, id: &str, out: &str) -> String {
    results_run(p, id, out, false).expect(3).stderr()
}

fn temp_leftovers(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| {
            let n = e.file_name().to_string_lossy();
            n.starts_with('.') && n.ends_with(".tmp")
        })
        .map(|e| e.path().to_path_buf())
        .collect()
}

#[test]
fn results_of_a_real_job_are_the_objects_and_spark_reads_the_same_preview() {
    let p = published();
    let job = run_job(&p, &["--param", "min_customers=1"]);
    let id = job["job"]["id"].as_str().unwrap().to_string();
    let am = p.am();
    let out_dir = p.tmp.path().join("downloaded");
    let out_arg = out_dir.display().to_string();
    let doc = results_run(&p, &id, &out_arg, true).expect(0).json();

    // The files on disk are the objects S3 holds under the job's prefix, byte for byte.
    let prefix = format!("{}/{id}/", p.sb.seed.results_key_prefix);
    let objects = s3_objects(
        &p.sb,
        &p.sb.seed.author.identity,
        &p.sb.seed.results_bucket,
        &prefix,
    );
    assert!(
        objects.keys().any(|k| k.ends_with(".parquet")),
        "the job ran for real and wrote Parquet: {:?}",
        objects.keys()
    );
    let expected: BTreeMap<String, Vec<u8>> = objects
        .iter()
        .map(|(k, v)| (k.strip_prefix(&prefix).unwrap().to_string(), v.clone()))
        .collect();
    let on_disk = files_under(&out_dir);
    assert_eq!(
        on_disk.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    assert!(
        on_disk == expected,
        "the downloaded bytes differ from the objects"
    );
    assert_eq!(
        doc["location"],
        format!("s3://{}/{prefix}", p.sb.seed.results_bucket)
    );
    assert_eq!(doc["job_id"], id.as_str());
    let files = doc["files"].as_array().unwrap();
    assert_eq!(files.len(), objects.len(), "{doc}");
    for f in files {
        let bytes = &objects[f["key"].as_str().unwrap()];
        assert_eq!(f["bytes"], bytes.len() as u64);
        assert_eq!(fs::read(f["path"].as_str().unwrap()).unwrap(), *bytes);
        assert_eq!(f["sha256"], sha256_hex(Path::new(f["path"].as_str().unwrap())));
    }

    // The preview is what Spark reads from the same files.
    let judge = spark_reads(&out_dir, 10);
    let results = doc["results"].as_array().unwrap();
    assert_eq!(
        strings_of(&doc["results"], "name"),
        judge
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    for r in results {
        let seen = &judge[r["name"].as_str().unwrap()];
        let columns: Vec<serde_json::Value> = r["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| serde_json::json!([c["name"], c["type"]]))
            .collect();
        assert_eq!(serde_json::Value::from(columns), seen["columns"], "{r}");
        assert_eq!(r["rows"], seen["rows"], "{r}");
        assert_eq!(r["preview"], seen["preview"], "{r}");
        assert!(r["rows"].as_u64().unwrap() > 0, "{r}");
    }

    // A rerun into the same folder replaces what is there (a damaged file, too), keeps the
    // files' plain modes and leaves no temporary file.
    let part = files
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .find(|p| p.ends_with(".parquet"))
        .unwrap()
        .to_string();
    fs::write(&part, b"damaged").unwrap();
    let again = results_run(&p, &id, &out_arg, true).expect(0).json();
    assert_eq!(again["results"], doc["results"]);
    assert!(
        files_under(&out_dir) == expected,
        "the rerun restored the objects"
    );
    assert_eq!(temp_leftovers(&out_dir), Vec::<PathBuf>::new());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let plain = out_dir.join("plain");
        fs::write(&plain, b"").unwrap();
        let want = fs::metadata(&plain).unwrap().permissions().mode() & 0o777;
        fs::remove_file(&plain).unwrap();
        assert_eq!(fs::metadata(&part).unwrap().permissions().mode() & 0o777, want);
    }

    // Humans get the same preview: one row shown, the rest counted; the default folder is
    // ./JOB_ID in the current directory.
    let human = p.sb.author(
        &p.dir,
        &["jobs", "results", &id, "--membership", &am, "--preview", "1"],
    );
    let human = human.expect(0);
    let text = human.stdout();
    let overlap = &judge["overlap"];
    let column = |i: usize| -> Vec<&str> {
        overlap["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c[i].as_str().unwrap())
            .collect()
    };
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split_whitespace().collect()).collect();
    let header = lines
        .iter()
        .position(|l| *l == column(0))
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(lines[header + 1], column(1), "the types under the names: {text}");
    let first: Vec<&str> = overlap["preview"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(lines[header + 2], first, "the first row: {text}");
    let rows = overlap["rows"].as_u64().unwrap();
    assert!(text.contains(&format!("overlap  {rows} row(s)")), "{text}");
    if rows > 1 {
        assert!(text.contains(&format!("... {} more row(s)", rows - 1)), "{text}");
    }
    assert!(
        files_under(&p.dir.join(&id)) == expected,
        "downloaded to ./JOB_ID"
    );

    // An object whose key climbs out of the job's prefix is refused before anything is written.
    let author = p.sb.clients(&p.sb.seed.author.identity);
    let evil = format!("{prefix}../../escaped");
    ok(p.sb.rt.block_on(
        author
            .s3
            .put_object()
            .bucket(&p.sb.seed.results_bucket)
            .key(&evil)
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
            .send(),
    ));
    let refused_dir = p.tmp.path().join("nested/refused");
    let refused_arg = refused_dir.display().to_string();
    let r =
        p.sb.author(
            &p.dir,
            &["jobs", "results", &id, "--membership", &am, "--out", &refused_arg],
        )
        .expect(3);
    assert!(
        r.stderr().contains("refusing to download") && r.stderr().contains(&evil),
        "{}",
        r.stderr()
    );
    assert!(!refused_dir.exists(), "nothing was written");
    assert!(!p.tmp.path().join("escaped").exists() && !p.tmp.path().join("nested/escaped").exists());

    // Once the objects are gone there is nothing to download: said, not an error.
    for key in s3_objects(
        &p.sb,
        &p.sb.seed.author.identity,
        &p.sb.seed.results_bucket,
        &prefix,
    )
    .keys()
    {
        ok(p.sb.rt.block_on(
            author
                .s3
                .delete_object()
                .bucket(&p.sb.seed.results_bucket)
                .key(key)
                .send(),
        ));
    }
    let empty_dir = p.tmp.path().join("empty").display().to_string();
    let r =
        p.sb.author(
            &p.dir,
            &["jobs", "results", &id, "--membership", &am, "--out", &empty_dir],
        )
        .expect(0);
    assert!(r.stdout().contains("saved     0 file(s)"), "{}", r.stdout());
    assert!(r.stdout().contains("results   none"), "{}", r.stdout());
    assert!(
        r.stderr().contains(&format!(
            "no objects under s3://{}/{prefix}",
            p.sb.seed.results_bucket
        )) && r.stderr().contains("default job result location changed"),
        "{}",
        r.stderr()
    );
}

#[test]
fn a_job_that_did_not_succeed_and_an_unreadable_location_are_refused() {
    let p = published();
    let am = p.am();

    // A cancelled job has no results.
    let started = run_job(&p, &["--no-wait"]);
    let id = started["job_id"].as_str().unwrap().to_string();
    p.sb.author(&p.dir, &["jobs", "cancel", &id, "--membership", &am])
        .expect(0);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let j =
            p.sb.author(&p.dir, &["--json", "jobs", "show", &id, "--membership", &am])
                .expect(0);
        if j.json()["job"]["status"] == "CANCELLED" {
            break;
        }
        assert!(Instant::now() < deadline, "never CANCELLED");
        std::thread::sleep(Duration::from_millis(100));
    }
    let out_dir = p.tmp.path().join("cancelled");
    let out_arg = out_dir.display().to_string();
    let r = results_run(&p, &id, &out_arg, true).expect(3);
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(msg.contains(&format!("job {id} is CANCELLED")), "{msg}");
    assert!(
        msg.contains("cancelled before it wrote them; start a new job"),
        "{msg}"
    );
    assert!(!out_dir.exists(), "nothing was written");

    // Results written to a bucket the provider owns, through the provider's role: the author
    // who ran the job cannot read them, and is told where they are and who can.
    let provider_bucket = "crpack-provider-results";
    let provider = p.sb.clients(&p.sb.seed.provider.identity);
    p.sb.rt
        .block_on(provider.s3.create_bucket().bucket(provider_bucket).send())
        .unwrap();
    let role = "arn:aws:iam::222222222222:role/service-role/provider-results-write";
    let author = p.sb.clients(&p.sb.seed.author.identity);
    let config = aws_sdk_cleanrooms::types::MembershipProtectedJobResultConfiguration::builder()
        .output_configuration(
            aws_sdk_cleanrooms::types::MembershipProtectedJobOutputConfiguration::S3(
                aws_sdk_cleanrooms::types::ProtectedJobS3OutputConfigurationInput::builder()
                    .bucket(provider_bucket)
                    .key_prefix("out")
                    .build()
                    .unwrap(),
            ),
        )
        .role_arn(role)
        .build()
        .unwrap();
    ok(p.sb.rt.block_on(
        author
            .cleanrooms
            .update_membership()
            .membership_identifier(&am)
            .default_job_result_configuration(config)
            .send(),
    ));
    let job = run_job(&p, &[]);
    assert_eq!(job["job"]["status"], "SUCCESS", "{job}");
    let id = job["job"]["id"].as_str().unwrap().to_string();
    let written = s3_objects(&p.sb, &p.sb.seed.provider.identity, provider_bucket, "out/");
    assert!(!written.is_empty(), "the job wrote its results for the provider");
    let out_dir = p.tmp.path().join("denied");
    let out_arg = out_dir.display().to_string();
    let err = results_refused(&p, &id, &out_arg);
    assert!(
        err.contains(&format!("s3://{provider_bucket}/out/{id}/")),
        "{err}"
    );
    assert!(
        err.contains("access denied") && err.contains("111111111111"),
        "{err}"
    );
    assert!(
        err.contains(&format!("owner of bucket {provider_bucket}")),
        "{err}"
    );
    assert!(err.contains(role), "names the role that wrote them: {err}");
    assert!(
        !out_dir.exists() || files_under(&out_dir).is_empty(),
        "nothing was downloaded"
    );

    // A failed job (its pinned entry point deleted) has none either, and the error says why.
    let ep = &p.lock["artifacts"][0];
    let field = |name: &str| ep[name].as_str().unwrap().to_string();
    ok(p.sb.rt.block_on(
        author
            .s3
            .delete_object()
            .bucket(field("bucket"))
            .key(field("key"))
            .version_id(field("version_id"))
            .send(),
    ));
    let failed =
        p.sb.author(
            &p.dir,
            &["--json", "run", "--template", &p.arn, "--membership", &am],
        )
        .expect(3)
        .json();
    assert_eq!(failed["job"]["status"], "FAILED", "{failed}");
    let id = failed["job"]["id"].as_str().unwrap().to_string();
    let err = results_refused(&p, &id, &out_arg);
    assert!(
        err.contains(&format!("job {id} is FAILED (ARTIFACT_VERIFICATION_FAILED: ")),
        "{err}"
    );
    assert!(err.contains("fix the cause and start a new job"), "{err}");
}

/// A `crpack sandbox --seed` process that has no PySpark runtime, so its jobs are simulated.
#[test]
fn a_simulated_job_says_it_has_no_results() {
    let sb = ProcessSandbox::start("templates/simulated", |cmd| {
        cmd.env("CRPACK_PYTHON", "/nonexistent/crpack-test/python3");
    });
    let job = sb.publish_approve_run();
    let id = job["job"]["id"].as_str().unwrap().to_string();
    let out_dir = sb.tmp.path().join("simulated");
    let r = sb.results(&id, &out_dir, true).expect(3);
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(msg.contains(&format!("job {id} was simulated")), "{msg}");
    assert!(
        msg.contains("no PySpark runtime") && msg.contains("_SIMULATED"),
        "{msg}"
    );
    assert!(
        msg.contains("CRPACK_PYTHON"),
        "says how to run it for real: {msg}"
    );
    assert!(!out_dir.exists(), "nothing was written");
    sb.stop();
}
