//! What the commands that need no endpoint print, human and `--json`, with their exit status:
//! `init`, `check` (clean and with findings), `build`, `hash`, `lock`, `completions`, and the
//! usage, project and region errors. The `--json` snapshots are the documented contract.

use std::fs;
use std::path::Path;

use crate::common::snap::{Filters, assert_run, assert_text};
use crate::common::*;

/// `crpack init` of a project named "audience-overlap" in `parent/proj`.
fn project(parent: &Path) -> std::path::PathBuf {
    let dir = parent.join("proj");
    init_project(&dir);
    dir
}

/// The filters of a test in `tmp`.
fn filters(tmp: &Path) -> Filters {
    Filters::new().dir(tmp, "TMP")
}

#[test]
fn init() {
    let tmp = tempfile::tempdir().unwrap();
    let f = filters(tmp.path());
    assert_run!(f, "init", run_in(tmp.path(), ["init", "overlap"]).expect(0));
    assert_run!(
        f,
        "init_json",
        run_in(tmp.path(), ["--json", "init", "overlap-json"]).expect(0)
    );
    // An existing project: nothing is overwritten.
    assert_run!(f, "init_existing", run_in(tmp.path(), ["init", "overlap"]));
}

#[test]
fn check_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = project(tmp.path());
    let f = filters(tmp.path());
    assert_run!(f, "check", run_in(&dir, ["check"]).expect(0));
    assert_run!(f, "check_json", run_in(&dir, ["--json", "check"]).expect(0));
}

/// An entry point with an error (a network import) and warnings (an unused table and
/// parameter, no `"results"`).
const FINDINGS: &str = "import requests\n\n\ndef entrypoint(context):\n    \
    orders = context[\"referencedTables\"][\"orders\"]\n    return {\"rows\": orders}\n";

#[test]
fn check_with_findings() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = project(tmp.path());
    fs::write(dir.join("src/entrypoint.py"), FINDINGS).unwrap();
    let f = filters(tmp.path());
    assert_run!(f, "check_findings", run_in(&dir, ["check"]).expect(3));
    assert_run!(
        f,
        "check_findings_json",
        run_in(&dir, ["--json", "check"]).expect(3)
    );
}

#[test]
fn build() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = project(tmp.path());
    let f = filters(tmp.path());
    assert_run!(f, "build", run_in(&dir, ["build"]).expect(0));
    assert_run!(f, "build_json", run_in(&dir, ["--json", "build"]).expect(0));
}

#[test]
fn hash() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("a.txt"), "a\n").unwrap();
    fs::write(tmp.path().join("b.txt"), "").unwrap();
    let f = filters(tmp.path());
    assert_run!(
        f,
        "hash",
        run_in(tmp.path(), ["hash", "a.txt", "b.txt"]).expect(0)
    );
    assert_run!(
        f,
        "hash_json",
        run_in(tmp.path(), ["--json", "hash", "a.txt", "b.txt"]).expect(0)
    );
    // A file that cannot be read: the others are still hashed, exit 3.
    assert_run!(
        f,
        "hash_missing",
        run_in(tmp.path(), ["hash", "a.txt", "missing.txt"]).expect(3)
    );
    assert_run!(
        f,
        "hash_missing_json",
        run_in(tmp.path(), ["--json", "hash", "a.txt", "missing.txt"]).expect(3)
    );
}

/// `crpack lock` runs `uv pip compile` against the package index; offline, the snapshots are
/// of its errors: no input, and no `uv`.
#[test]
fn lock_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = project(tmp.path());
    let f = filters(tmp.path());
    let lock = |json: bool| {
        let mut cmd = crpack(if json {
            vec!["--json", "lock"]
        } else {
            vec!["lock"]
        });
        cmd.current_dir(&dir)
            .env("CRPACK_UV", "/nonexistent/crpack-test/uv");
        run(&mut cmd)
    };
    assert_run!(f, "lock_no_input", lock(false).expect(3));
    assert_run!(f, "lock_no_input_json", lock(true).expect(3));
    fs::write(dir.join("requirements.in"), "six==1.16.0\n").unwrap();
    assert_run!(f, "lock_no_uv", lock(false).expect(3));
    assert_run!(f, "lock_no_uv_json", lock(true).expect(3));
}

#[test]
fn completions() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run_in(tmp.path(), ["completions", "bash"]).expect(0);
    assert!(out.stdout().contains("_crpack()"), "{}", out.stdout());
    assert_text!(Filters::new().exact_spacing(), "completions_bash", out.stdout());
    assert_run!(
        Filters::new(),
        "completions_unknown_shell",
        run_in(tmp.path(), ["completions", "tcsh"]).expect(2)
    );
}

#[test]
fn usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let f = filters(tmp.path());
    assert_run!(f, "usage_error", run_in(tmp.path(), ["bogus"]).expect(2));
    assert_run!(
        f,
        "usage_error_json",
        run_in(tmp.path(), ["--json", "bogus"]).expect(2)
    );
    assert_run!(
        f,
        "usage_error_flag",
        run_in(tmp.path(), ["build", "--no-such-flag"]).expect(2)
    );
}

#[test]
fn missing_project() {
    let tmp = tempfile::tempdir().unwrap();
    let f = filters(tmp.path());
    assert_run!(f, "no_project", run_in(tmp.path(), ["check"]).expect(3));
    assert_run!(
        f,
        "no_project_json",
        run_in(tmp.path(), ["--json", "check"]).expect(3)
    );
}

#[test]
fn no_region() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = project(tmp.path());
    let path = dir.join("crpack.toml");
    let mut toml = fs::read_to_string(&path).unwrap();
    toml.push_str(
        "\n[publish]\nbucket = \"crpack-test-artifacts\"\nprefix = \"templates/overlap\"\n\
         role_arn = \"arn:aws:iam::111122223333:role/service-role/cleanrooms-pyspark-read\"\n\
         membership_id = \"3c6b0ba0-0000-4000-8000-000000000001\"\n",
    );
    fs::write(&path, toml).unwrap();
    let f = filters(tmp.path());
    assert_run!(f, "no_region", run_in(&dir, ["publish"]).expect(3));
    assert_run!(f, "no_region_json", run_in(&dir, ["--json", "publish"]).expect(3));
}
