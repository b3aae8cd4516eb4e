//! What the commands that need no endpoint print, human and `--json`, with their exit status:
//! `init`, `check` (clean and with findings), `build`, `hash`, `lock`, `completions`, and the
//! usage, project and region errors. The `--json` snapshots are the documented contract.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::snap::{Filters, assert_both, assert_run, assert_text};
use crate::common::*;

/// `crpack init` of a project named "audience-overlap" in `parent/proj`.
fn project(parent: &Path) -> PathBuf {
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
    // Each form in a directory of its own.
    let in_own_dir = |a: &[&str]| {
        let dir = tmp.path().join(if a[0] == "--json" { "json" } else { "human" });
        fs::create_dir_all(&dir).unwrap();
        run_in(&dir, a)
    };
    assert_both!(f, "init", 0, in_own_dir, &["init", "overlap"]);
    // An existing project: nothing is overwritten.
    assert_run!(
        f,
        "init_existing",
        run_in(&tmp.path().join("human"), ["init", "overlap"]).expect(3)
    );
}

/// `check` and `build` of the scaffold as generated.
#[test]
fn check_and_build() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = project(tmp.path());
    let f = filters(tmp.path());
    let in_project = |a: &[&str]| run_in(&dir, a);
    assert_both!(f, "check", 0, in_project, &["check"]);
    assert_both!(f, "build", 0, in_project, &["build"]);
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
    assert_both!(f, "check_findings", 3, |a: &[&str]| run_in(&dir, a), &["check"]);
}

#[test]
fn hash() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("a.txt"), "a\n").unwrap();
    fs::write(tmp.path().join("b.txt"), "").unwrap();
    let f = filters(tmp.path());
    let hash = |a: &[&str]| run_in(tmp.path(), a);
    assert_both!(f, "hash", 0, hash, &["hash", "a.txt", "b.txt"]);
    // A file that cannot be read: the others are still hashed, exit 3.
    assert_both!(f, "hash_missing", 3, hash, &["hash", "a.txt", "missing.txt"]);
}

/// `crpack lock` runs `uv pip compile` against the package index; offline, the snapshots are
/// of its errors: no input, and no `uv`.
#[test]
fn lock_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = project(tmp.path());
    let f = filters(tmp.path());
    let lock = |a: &[&str]| {
        let mut cmd = crpack(a);
        cmd.current_dir(&dir)
            .env("CRPACK_UV", "/nonexistent/crpack-test/uv");
        run(&mut cmd)
    };
    assert_both!(f, "lock_no_input", 3, lock, &["lock"]);
    fs::write(dir.join("requirements.in"), "six==1.16.0\n").unwrap();
    assert_both!(f, "lock_no_uv", 3, lock, &["lock"]);
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
fn man_pages() {
    let tmp = tempfile::tempdir().unwrap();
    let page = run_in(tmp.path(), ["man"]).expect(0);
    assert!(page.stdout().starts_with(".ie"), "roff: {}", page.stdout());
    assert_text!(Filters::new().exact_spacing(), "man", page.stdout());
    let json = run_in(tmp.path(), ["--json", "man"]).expect(0).json();
    assert_eq!(
        json["text"].as_str(),
        Some(page.stdout().as_str()),
        "the same page in JSON"
    );
    // Every page into a directory: each one whole, no staging left behind.
    let f = filters(tmp.path());
    let out = tmp.path().join("man");
    let args = ["man", "--out", out.to_str().unwrap()];
    assert_both!(f, "man_out", 0, |a: &[&str]| run_in(tmp.path(), a), &args);
    let mut names: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.iter().all(|n| n.ends_with(".1")), "{names:?}");
    assert!(names.contains(&"crpack-approve.1".to_string()), "{names:?}");
    let approve = fs::read_to_string(out.join("crpack-approve.1")).unwrap();
    assert!(approve.contains("result\\-receiver"), "{approve}");
}

/// A usage error (exit 2), and a command that needs a project run outside one (exit 3).
#[test]
fn usage_and_project_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let f = filters(tmp.path());
    let outside = |a: &[&str]| run_in(tmp.path(), a);
    assert_both!(f, "usage_error", 2, outside, &["bogus"]);
    assert_run!(
        f,
        "usage_error_flag",
        outside(&["build", "--no-such-flag"]).expect(2)
    );
    assert_both!(f, "no_project", 3, outside, &["check"]);
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
    assert_both!(f, "no_region", 3, |a: &[&str]| run_in(&dir, a), &["publish"]);
}
