//! `crpack run --local`: the scaffold runs on local PySpark with its sample data, parameters
//! and artifacts are passed the way Clean Rooms passes them, and contract breaches exit 3 with
//! their code.
//!
//! The interpreter is `$CRPACK_TEST_PYTHON`, else `.venv/bin/python` in the crate root if it
//! exists, else `python3`; it is passed to crpack as `CRPACK_PYTHON`. It needs pyspark 3.5.x
//! and a Java runtime: `bash scripts/test.sh` (through `scripts/install-test-deps.sh`) installs
//! them. A missing runtime fails these tests rather than skipping them.
//!
//! Every Spark start costs seconds, so only five tests start one.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::{Run, crpack, run};
use serde_json::{Value, json};

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("CRPACK_TEST_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("python3")
}

/// `crpack ARGS` in `dir` with the test interpreter.
fn crpack_in(dir: &Path, args: &[&str]) -> Run {
    run(crpack(args)
        .current_dir(dir)
        .env("CRPACK_PYTHON", python())
        .env_remove("CRPACK_RUNNER_VERBOSE"))
}

/// A fresh scaffold made by `crpack init`.
fn scaffold(tmp: &Path) -> PathBuf {
    let dir = tmp.join("proj");
    crpack_in(tmp, &["init", "proj", "--name", "audience-overlap"]).expect(0);
    dir
}

fn write_entry_point(dir: &Path, source: &str) {
    fs::write(dir.join("src/entrypoint.py"), source).unwrap();
}

/// `crpack --json run --local` of a fresh scaffold whose entry point is `source`.
fn json_run_of(source: &str) -> Run {
    let tmp = tempfile::tempdir().unwrap();
    let dir = scaffold(tmp.path());
    write_entry_point(&dir, source);
    crpack_in(&dir, &["--json", "run", "--local"])
}

/// The result named `name` in a `--json` run document.
fn result<'a>(doc: &'a Value, name: &str) -> &'a Value {
    crate::common::item_where(&doc["results"], "name", name)
}

fn parquet_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".parquet"))
        .collect();
    names.sort();
    names
}

/// A contract error from a `--json` run: exit 3 and `{"ok": false, "error": {...}}`.
#[track_caller]
fn contract_error(r: Run, code: &str) -> String {
    let r = r.expect(3);
    let doc = r.json();
    assert_eq!(doc["ok"], false, "{doc:#}");
    assert_eq!(doc["error"]["kind"], "contract", "{doc:#}");
    assert_eq!(doc["error"]["code"], code, "{doc:#}\nstderr:\n{}", r.stderr());
    let message = doc["error"]["message"].as_str().unwrap().to_string();
    assert!(r.stderr().contains(&format!("{code}: ")), "{}", r.stderr());
    message
}

#[test]
fn the_scaffold_runs_locally_as_generated() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = scaffold(tmp.path());
    let r = crpack_in(&dir, &["run", "--local", "--json"]).expect(0);
    let doc = r.json();
    assert_eq!(doc["ok"], true, "{doc:#}");
    assert!(doc["duration_ms"].as_u64().unwrap() > 0, "{doc:#}");
    let overlap = result(&doc, "overlap");
    // From templates/init/samples: customer 107 has no orders, order 11's customer 108 is in
    // no segment; min_customers defaults to "1".
    assert_eq!(overlap["columns"], json!(["segment", "customers", "revenue"]));
    assert_eq!(overlap["rows"], 3);
    assert_eq!(
        overlap["preview"],
        json!([
            ["bronze", "1", "100"],
            ["gold", "3", "515"],
            ["silver", "2", "125"]
        ])
    );
    // analysis_helpers came from the built environment (lib/ itself is not on sys.path).
    assert!(dir.join("dist/pyspark_venv.tar.gz").is_file());
    let out = dir.join("out/overlap");
    assert_eq!(Path::new(overlap["path"].as_str().unwrap()), out);
    assert!(
        !parquet_files(&out).is_empty(),
        "no parquet files in {}",
        out.display()
    );
    assert!(out.join("_SUCCESS").is_file());
    // Spark's logs stay out of a successful run's output.
    assert!(!r.stderr().contains("WARN"), "{}", r.stderr());
}

#[test]
fn parameters_override_defaults_and_a_venv_archive_is_importable() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = scaffold(tmp.path());
    // Unknown parameter names are usage errors, caught before anything runs.
    let r = crpack_in(&dir, &["run", "--local", "--param", "min_segment=3"]).expect(2);
    assert!(
        r.stderr().contains("min_segment") && r.stderr().contains("min_customers"),
        "{}",
        r.stderr()
    );

    // Ship analysis_helpers in a venv-pack style archive instead of the bundle zip.
    let archive = dir.join("build/pyspark_venv.tar.gz");
    fs::create_dir_all(archive.parent().unwrap()).unwrap();
    let gz = flate2::write::GzEncoder::new(fs::File::create(&archive).unwrap(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    tar.append_path_with_name(
        dir.join("lib/analysis_helpers/__init__.py"),
        "lib/python3.11/site-packages/analysis_helpers/__init__.py",
    )
    .unwrap();
    tar.into_inner().unwrap().finish().unwrap();
    fs::remove_dir_all(dir.join("lib")).unwrap();
    let manifest = fs::read_to_string(dir.join("crpack.toml")).unwrap();
    let manifest = manifest.replace(
        "include = [\"lib/analysis_helpers\"]\nexclude = [\"**/tests/**\"]\nrequirements = \"requirements.txt\"",
        "archive = \"build/pyspark_venv.tar.gz\"",
    );
    assert!(manifest.contains("archive = "), "{manifest}");
    fs::write(dir.join("crpack.toml"), manifest).unwrap();

    let r = crpack_in(
        &dir,
        &[
            "run",
            "--local",
            "--param",
            "min_customers=3",
            "--out",
            "results",
            "--preview",
            "5",
        ],
    )
    .expect(0);
    let stdout = r.stdout();
    assert!(stdout.contains("overlap  1 row(s)"), "{stdout}");
    let lines: Vec<&str> = stdout.lines().map(str::trim).collect();
    assert!(lines.contains(&"segment  customers  revenue"), "{stdout}");
    assert!(lines.contains(&"gold     3          515"), "{stdout}");
    assert!(
        !stdout.contains("silver") && !stdout.contains("bronze"),
        "{stdout}"
    );
    assert!(!parquet_files(&dir.join("results/overlap")).is_empty());
    assert!(!dir.join("out").exists());
}

/// Entry points that break the contract: each row is what it does wrong, its source, the code
/// the run fails with, and words its message must contain.
const CONTRACT_BREAKS: &[(&str, &str, &str, &[&str])] = &[
    (
        "a result that is not a DataFrame",
        "def entrypoint(context):\n    orders = context[\"referencedTables\"][\"orders\"]\n    \
         return {\"results\": {\"orders\": orders, \"total\": orders.count()}}\n",
        "INVALID_RESULT",
        &["'total'", "int"],
    ),
    (
        "reading an undeclared table (the message names it and the declared ones)",
        "def entrypoint(context):\n    visits = context[\"referencedTables\"][\"visits\"]\n    \
         return {\"results\": {\"visits\": visits}}\n",
        "UNDECLARED_TABLE",
        &["'visits'", "customers", "orders"],
    ),
    (
        "no entrypoint (it fails fast, naming the file and what it found)",
        "def main(context):\n    return {\"results\": {}}\n",
        "ENTRYPOINT_NOT_FOUND",
        &["entrypoint.py", "main"],
    ),
];

#[test]
fn scripts_that_break_the_contract_fail_with_its_code() {
    for (what, source, code, words) in CONTRACT_BREAKS {
        let message = contract_error(json_run_of(source), code);
        for word in *words {
            assert!(message.contains(word), "{what}: {message}");
        }
    }
}

#[test]
fn a_script_exception_shows_its_message_and_traceback() {
    let r = json_run_of(
        "def entrypoint(context):\n    n = context[\"analysisParameters\"][\"min_customers\"]\n    \
         raise ValueError(\"not enough customers: \" + n)\n",
    )
    .expect(3);
    let doc = r.json();
    assert_eq!(doc["error"]["kind"], "script", "{doc:#}");
    assert_eq!(
        doc["error"]["message"], "ValueError: not enough customers: 1",
        "{doc:#}"
    );
    let tb = doc["error"]["traceback"].as_str().unwrap();
    assert!(tb.contains("entrypoint.py\", line 3, in entrypoint"), "{tb}");
    assert!(!tb.contains("crpack_harness"), "{tb}");
    let stderr = r.stderr();
    assert!(
        stderr.contains("the entry point failed: ValueError: not enough customers: 1"),
        "{stderr}"
    );
    assert!(stderr.contains("raise ValueError"), "{stderr}");
}

#[test]
fn a_missing_sample_names_the_table_and_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = scaffold(tmp.path());
    fs::remove_file(dir.join("samples/customers.csv")).unwrap();
    let r = crpack_in(&dir, &["run", "--local"]).expect(3);
    assert!(
        r.stderr().contains("\"customers\"") && r.stderr().contains("samples/customers.csv"),
        "{}",
        r.stderr()
    );
    // Without the [local] mapping, the default name is looked for and named.
    let manifest = fs::read_to_string(dir.join("crpack.toml")).unwrap();
    let manifest = manifest.replace(", customers = \"samples/customers.csv\"", "");
    fs::write(dir.join("crpack.toml"), manifest).unwrap();
    let r = crpack_in(&dir, &["run", "--local"]).expect(3);
    assert!(
        r.stderr().contains("\"customers\"")
            && r.stderr().contains("samples/customers.csv")
            && r.stderr().contains("samples/customers.parquet"),
        "{}",
        r.stderr()
    );
}

#[test]
fn without_a_runtime_the_error_is_one_line_that_says_how_to_install() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = scaffold(tmp.path());
    let r = run(crpack(["run", "--local"])
        .current_dir(&dir)
        .env("CRPACK_PYTHON", "/nonexistent/python"))
    .expect(3);
    let stderr = r.stderr();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    for needle in [
        "/nonexistent/python",
        "pip install 'pyspark==3.5.3'",
        "JDK 17",
        "CRPACK_PYTHON",
    ] {
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }
    assert!(r.stdout().is_empty(), "{}", r.stdout());
}

/// An environment with native wheels for the runtime's aarch64: on this x86-64 machine the run
/// names the package that cannot load here; when the lock also pins the host's wheel of the
/// same version (a universal lock), the run uses a twin built from the same pins and says so.
#[cfg(target_arch = "x86_64")]
#[test]
fn native_environments_run_on_a_host_twin_from_a_universal_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = scaffold(tmp.path());
    let wheels = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/wheels");
    let hash = |f: &str| crate::common::sha256_hex(&wheels.join(f));
    let arm = "crpack_fixture_native-1.0.0-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl";
    let x86 = "crpack_fixture_native-1.0.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl";
    let cache = tmp.path().join("cache");
    let local = |hashes: &[&str]| {
        let pins: String = hashes.iter().map(|h| format!(" --hash=sha256:{h}")).collect();
        fs::write(
            dir.join("requirements.txt"),
            format!(
                "--no-index\n--find-links {}\ncrpack-fixture-native==1.0.0{pins}\n",
                wheels.display()
            ),
        )
        .unwrap();
        run(crpack(["--json", "run", "--local"])
            .current_dir(&dir)
            .env("CRPACK_PYTHON", python())
            .env("CRPACK_CACHE_DIR", &cache))
        .expect(0)
    };
    let aarch64_only = local(&[&hash(arm)]);
    let warnings = aarch64_only.json()["warnings"].to_string();
    assert!(
        warnings.contains("cannot load on this x86_64 machine: crpack_fixture_native (AArch64)"),
        "{warnings}"
    );
    assert!(!aarch64_only.stderr().contains("host twin"));

    let universal = local(&[&hash(arm), &hash(x86)]);
    assert!(
        universal
            .stderr()
            .contains("running on a host twin of the environment")
            && universal.stderr().contains("x86_64"),
        "{}",
        universal.stderr()
    );
    let warnings = universal.json()["warnings"].to_string();
    assert!(!warnings.contains("cannot load"), "{warnings}");
    // The published environment is still the runtime's.
    let record: Value =
        serde_json::from_slice(&fs::read(dir.join("dist/crpack-build.json")).unwrap()).unwrap();
    assert_eq!(record["environment"]["wheels"][0]["file_name"], arm);
}

/// A prebuilt environment whose members would land outside it — a chain of links that each look
/// inside but resolve to `/` once made, then a file written through it — is refused before
/// anything is extracted, and nothing appears outside the run's directory.
#[cfg(unix)]
#[test]
fn an_environment_that_escapes_its_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = scaffold(tmp.path());
    let archive = dir.join("build/pyspark_venv.tar.gz");
    fs::create_dir_all(archive.parent().unwrap()).unwrap();
    let gz = flate2::write::GzEncoder::new(fs::File::create(&archive).unwrap(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let mut link = |name: &str, target: &str| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        h.set_cksum();
        tar.append_link(&mut h, name, target).unwrap();
    };
    link("lib/python3.11/site-packages/a", ".");
    link("lib/python3.11/site-packages/b", "a/..");
    link("lib/python3.11/site-packages/c", "b/../../../..");
    let marker = tmp.path().join("escaped-marker");
    let through = format!(
        "lib/python3.11/site-packages/c{}",
        marker.display().to_string().replace("//", "/")
    );
    let mut h = tar::Header::new_gnu();
    h.set_size(2);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append_data(&mut h, &through, &b"x\n"[..]).unwrap();
    tar.into_inner().unwrap().finish().unwrap();
    let manifest = fs::read_to_string(dir.join("crpack.toml")).unwrap().replace(
        "include = [\"lib/analysis_helpers\"]\nexclude = [\"**/tests/**\"]\nrequirements = \"requirements.txt\"",
        "archive = \"build/pyspark_venv.tar.gz\"",
    );
    fs::write(dir.join("crpack.toml"), manifest).unwrap();
    let r = crpack_in(&dir, &["run", "--local"]).expect(3);
    assert!(
        r.stderr().contains("cannot unpack the environment") && r.stderr().contains("site-packages/"),
        "{}",
        r.stderr()
    );
    assert!(!marker.exists(), "nothing was written outside the environment");
}
