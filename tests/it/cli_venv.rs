//! The environment as the additional artifact, through the real binary: built from the fixture
//! wheels (no network), byte-reproducible, laid out as venv-pack lays out a venv made on the
//! runtime, equal to what pip installs, and every bad input a clear error that leaves `dist/`
//! as it was.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

/// The fixture environment's hash (fixtures/golden-venv with the pure fixture wheel). It changes
/// only when the environment's byte layout changes on purpose, or the fixtures do: then update
/// it and say why in the commit.
const GOLDEN_VENV: &str = "b3696ea269d3e59e956defdc2f9a906fb010444f5b6c085f3781faaadfa38f11";

const PURE: &str = "crpack_fixture_pure-1.0.0-py3-none-any.whl";
const NATIVE_ARM: &str =
    "crpack_fixture_native-1.0.0-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl";
const NATIVE_X86: &str =
    "crpack_fixture_native-1.0.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl";
const SDIST: &str = "crpack_fixture_sdist-1.0.0.tar.gz";
const TAMPERED: &str = "crpack_fixture_tampered-1.0.0-py3-none-any.whl";

fn wheels() -> PathBuf {
    fixtures().join("wheels")
}

fn hash_of(file: &str) -> String {
    sha256_hex(&wheels().join(file))
}

/// A temporary folder holding a `venv_project` with `lines` at `p`.
fn temp_venv_project(lines: &[String]) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    venv_project(&dir, lines);
    (tmp, dir)
}

/// The pinned pure and aarch64-native fixture wheels.
fn pure_and_native() -> Vec<String> {
    vec![
        pin("crpack-fixture-pure", PURE),
        pin("crpack-fixture-native", NATIVE_ARM),
    ]
}

/// A copy of the golden environment project at `dir` whose requirements file holds `lines`
/// after the options that point pip at the fixture wheels only.
fn venv_project(dir: &Path, lines: &[String]) {
    let options = format!("--no-index\n--find-links {}\n", wheels().display());
    venv_project_with(dir, &options, lines);
}

/// A copy of the golden environment project at `dir` whose requirements file holds `options`
/// then `lines`.
fn venv_project_with(dir: &Path, options: &str, lines: &[String]) {
    copy_tree(&fixtures().join("golden-venv"), dir);
    let mut text = options.to_string();
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    fs::write(dir.join("requirements.txt"), text).unwrap();
}

fn pin(name: &str, file: &str) -> String {
    format!("{name}==1.0.0 --hash=sha256:{}", hash_of(file))
}

/// `crpack ARGS` in `dir` with its own wheel cache.
fn crpack_env(dir: &Path, cache: &Path, args: &[&str]) -> Command {
    let mut cmd = crpack(args);
    cmd.current_dir(dir).env("CRPACK_CACHE_DIR", cache);
    cmd
}

fn build(dir: &Path, cache: &Path) -> serde_json::Value {
    run(&mut crpack_env(dir, cache, &["--json", "build"]))
        .expect(0)
        .json()
}

fn additional(json: &serde_json::Value) -> &serde_json::Value {
    crate::common::item_where(&json["artifacts"], "role", "additional")
}

/// Python's own tarfile as the judge: every member's name, type, mode, mtime, owner and link.
fn list_with_python(archive: &Path) -> Vec<serde_json::Value> {
    let out = Command::new("python3")
        .arg("-c")
        .arg(
            "import json, sys, tarfile\n\
             with tarfile.open(sys.argv[1], 'r:gz') as t:\n\
             \x20   for m in t.getmembers():\n\
             \x20       print(json.dumps({'name': m.name, 'type': 'dir' if m.isdir() else 'sym' if m.issym() else 'file' if m.isfile() else 'other',\n\
             \x20           'mode': m.mode, 'mtime': m.mtime, 'uid': m.uid, 'gid': m.gid, 'uname': m.uname, 'gname': m.gname, 'link': m.linkname}))\n",
        )
        .arg(archive)
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Python's tarfile (the `data` filter) unpacks the environment's site-packages into `dest`.
fn unpack_site_packages(archive: &Path, dest: &Path) {
    let status = Command::new("python3")
        .args([
            "-c",
            "import sys, tarfile\n\
             t = tarfile.open(sys.argv[1])\n\
             site = [m for m in t if m.name.startswith('lib/python3.11/site-packages/')]\n\
             t.extractall(sys.argv[2], members=site, filter='data')",
        ])
        .arg(archive)
        .arg(dest)
        .status()
        .unwrap();
    assert!(status.success(), "python's tarfile unpacks the environment");
}

#[test]
fn the_environment_is_byte_reproducible_and_pinned() {
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("one"), tmp.path().join("elsewhere/two"));
    venv_project(&one, &[pin("crpack-fixture-pure", PURE)]);
    venv_project(&two, &[pin("crpack-fixture-pure", PURE)]);
    // Different mtimes and modes of the sources must not matter.
    let f = two.join("lib/overlap_lib/__init__.py");
    let file = fs::File::options().write(true).open(&f).unwrap();
    file.set_modified(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(2_000_000_000))
        .unwrap();
    // Nor the permission bits a stricter umask gives (read-only for the owner here).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&f, fs::Permissions::from_mode(0o600)).unwrap();
    }
    let first = build(&one, &tmp.path().join("cache-a"));
    let mut cmd = crpack_env(&two, &tmp.path().join("cache-b"), &["--json", "build"]);
    cmd.env("RAYON_NUM_THREADS", "1");
    let second = run(&mut cmd).expect(0).json();
    let (a, b) = (additional(&first), additional(&second));
    assert_eq!(a["file_name"], "pyspark_venv.tar.gz");
    assert_eq!(a["sha256"], b["sha256"], "same sources, same bytes");
    assert_eq!(
        a["sha256"], GOLDEN_VENV,
        "the fixture environment's bytes changed: if on purpose, update GOLDEN_VENV and say why"
    );
    // The inventory names the wheel with its hash.
    let wheels = first["environment"]["wheels"].as_array().unwrap();
    assert_eq!(wheels.len(), 1, "{first}");
    assert_eq!(wheels[0]["file_name"], PURE);
    assert_eq!(wheels[0]["sha256"], hash_of(PURE));
    assert_eq!(wheels[0]["native"], false);
    assert_eq!(wheels[0]["license"], "MIT");
    assert_eq!(
        first["environment"]["own_modules"],
        serde_json::json!(["overlap_lib"])
    );
    // The build record lists the same wheel for anyone to fetch again.
    let record: serde_json::Value =
        serde_json::from_slice(&fs::read(one.join("dist/crpack-build.json")).unwrap()).unwrap();
    assert_eq!(record["environment"]["wheels"][0]["sha256"], hash_of(PURE));
    assert!(
        record["environment"]["wheels"][0]["url"]
            .as_str()
            .is_some_and(|u| u.contains(PURE)),
        "{record}"
    );
    // SOURCE_DATE_EPOCH changes the mtimes, hence the bytes.
    let mut cmd = crpack_env(&two, &tmp.path().join("cache-b"), &["--json", "build"]);
    cmd.env("SOURCE_DATE_EPOCH", "1700000000");
    let third = run(&mut cmd).expect(0).json();
    assert_ne!(additional(&third)["sha256"], a["sha256"]);
}

#[test]
fn the_layout_is_venv_packs() {
    let (tmp, dir) = temp_venv_project(&[pin("crpack-fixture-pure", PURE)]);
    build(&dir, &tmp.path().join("cache"));
    let members = list_with_python(&dir.join("dist/pyspark_venv.tar.gz"));
    let by_name = |n: &str| {
        members
            .iter()
            .find(|m| m["name"] == n)
            .unwrap_or_else(|| panic!("{n} not in the archive"))
            .clone()
    };
    for m in &members {
        assert_eq!((m["uid"].as_u64(), m["gid"].as_u64()), (Some(0), Some(0)), "{m}");
        assert_eq!(
            (m["uname"].as_str(), m["gname"].as_str()),
            (Some(""), Some("")),
            "{m}"
        );
        assert_eq!(m["mtime"], 315_532_800, "{m}");
        assert!(!m["name"].as_str().unwrap().starts_with('/'), "{m}");
        assert!(!m["name"].as_str().unwrap().contains("__pycache__"), "{m}");
        assert_ne!(m["type"], "other", "{m}");
    }
    let names: Vec<&str> = members.iter().map(|m| m["name"].as_str().unwrap()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "entries are sorted");
    assert_eq!(by_name("bin/python")["link"], "python3");
    assert_eq!(by_name("bin/python3")["link"], "python3.11");
    assert_eq!(by_name("bin/python3.11")["link"], "/usr/bin/python3.11");
    assert_eq!(by_name("lib64")["link"], "lib");
    assert_eq!(by_name("pyvenv.cfg")["mode"], 0o644);
    assert_eq!(by_name("lib/python3.11/site-packages")["type"], "dir");
    assert_eq!(
        by_name("lib/python3.11/site-packages/overlap_lib/__init__.py")["mode"],
        0o644
    );
    assert_eq!(
        by_name("lib/python3.11/site-packages/crpack_fixture_pure/__init__.py")["type"],
        "file"
    );
    let launcher = by_name("bin/fixture-hello");
    assert_eq!(launcher["mode"], 0o755);
    assert_eq!(
        by_name("lib/python3.11/site-packages/crpack_fixture_pure-1.0.0.dist-info/INSTALLER")["type"],
        "file"
    );
    // pyvenv.cfg as a venv on the runtime writes it.
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, tarfile; t = tarfile.open(sys.argv[1]); print(t.extractfile('pyvenv.cfg').read().decode(), end='')",
        ])
        .arg(dir.join("dist/pyspark_venv.tar.gz"))
        .output()
        .unwrap();
    let cfg = String::from_utf8(out.stdout).unwrap();
    assert!(
        cfg.starts_with("home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11."),
        "{cfg}"
    );
}

/// pip as the judge: site-packages holds what `pip install --target --platform ...` installs
/// from the same wheels (RECORD, INSTALLER, REQUESTED, direct_url.json and bin/ aside), plus the
/// project's own module.
#[test]
fn site_packages_equal_what_pip_installs() {
    let (tmp, dir) = temp_venv_project(&pure_and_native());
    build(&dir, &tmp.path().join("cache"));
    let unpacked = tmp.path().join("unpacked");
    unpack_site_packages(&dir.join("dist/pyspark_venv.tar.gz"), &unpacked);
    let pip_dir = tmp.path().join("pip");
    crate::common::output_ok(
        Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--no-index",
                "--target",
            ])
            .arg(&pip_dir)
            .args([
                "--platform",
                "manylinux2014_aarch64",
                "--python-version",
                "3.11",
                "--implementation",
                "cp",
                "--only-binary=:all:",
            ])
            .arg(wheels().join(PURE))
            .arg(wheels().join(NATIVE_ARM))
            .env("PIP_FIND_LINKS", "")
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1"),
        "pip",
    );
    let ignored = |rel: &str| {
        rel.starts_with("bin/")
            || rel.contains("__pycache__")
            || ["RECORD", "INSTALLER", "REQUESTED", "direct_url.json"]
                .iter()
                .any(|f| rel.ends_with(&format!(".dist-info/{f}")))
    };
    let files = |root: &Path| -> std::collections::BTreeMap<String, String> {
        walkdir::WalkDir::new(root)
            .into_iter()
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                let rel = e
                    .path()
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                (rel, sha256_hex(e.path()))
            })
            .filter(|(rel, _)| !ignored(rel))
            .collect()
    };
    let ours = files(&unpacked.join("lib/python3.11/site-packages"));
    let mut pips = files(&pip_dir);
    // pip --target puts .data/data and headers beside the packages; ours are at the venv root.
    pips.retain(|rel, _| !rel.starts_with("share/") && !rel.starts_with("include/"));
    let mut ours_wheels = ours.clone();
    ours_wheels.retain(|rel, _| !rel.starts_with("overlap_lib/"));
    assert_eq!(ours_wheels, pips, "site-packages differs from pip's install");
    assert!(ours.contains_key("overlap_lib/__init__.py"));
}

fn expect_build_error(dir: &Path, cache: &Path, needles: &[&str]) -> String {
    let r = run(&mut crpack_env(dir, cache, &["build"])).expect(3);
    let err = r.stderr();
    for n in needles {
        assert!(err.contains(n), "{n:?} not in:\n{err}");
    }
    err
}

#[test]
fn bad_requirements_are_clear_errors_that_keep_dist() {
    let (tmp, dir) = temp_venv_project(&[pin("crpack-fixture-pure", PURE)]);
    let cache = tmp.path().join("cache");
    let good = build(&dir, &cache);
    let good_hash = additional(&good)["sha256"].as_str().unwrap().to_string();
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            "crpack-fixture-pure>=1.0".into(),
            vec!["requirements.txt:3", "pin"],
        ),
        (
            "crpack-fixture-pure==1.0.0".into(),
            vec!["requirements.txt:3", "--hash"],
        ),
        (
            format!("crpack-fixture-pure==1.0.0 --hash=sha256:{}", "ab".repeat(32)),
            vec!["crpack-fixture-pure", "pins"],
        ),
        (
            pin("crpack-fixture-native", NATIVE_X86),
            vec!["crpack-fixture-native", "another platform"],
        ),
        (
            pin("crpack-fixture-sdist", SDIST),
            vec!["crpack-fixture-sdist", "source distribution"],
        ),
        (
            pin("crpack-fixture-tampered", TAMPERED),
            vec!["crpack_fixture_tampered", "RECORD"],
        ),
    ];
    for (line, needles) in cases {
        let reqs = format!("--no-index\n--find-links {}\n{line}\n", wheels().display());
        fs::write(dir.join("requirements.txt"), reqs).unwrap();
        expect_build_error(&dir, &cache, &needles);
        assert_eq!(
            sha256_hex(&dir.join("dist/pyspark_venv.tar.gz")),
            good_hash,
            "the previous dist/ is untouched after {line}"
        );
        let leftovers = staging_leftovers(&dir);
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}

/// An index that has only a wheel for another CPU: the error names the tags that exist.
#[test]
fn only_a_foreign_wheel_names_its_tags() {
    let tmp = tempfile::tempdir().unwrap();
    let links = tmp.path().join("links");
    fs::create_dir_all(&links).unwrap();
    fs::copy(wheels().join(NATIVE_X86), links.join(NATIVE_X86)).unwrap();
    let dir = tmp.path().join("p");
    venv_project_with(
        &dir,
        &format!("--no-index\n--find-links {}\n", links.display()),
        &[pin("crpack-fixture-native", NATIVE_X86)],
    );
    expect_build_error(
        &dir,
        &tmp.path().join("cache"),
        &[
            "requirements.txt:3",
            "crpack-fixture-native==1.0.0",
            "cp311-cp311-manylinux_2_17_x86_64",
            "aarch64",
        ],
    );
    assert!(!dir.join("dist").exists(), "a failed first build writes no dist/");
}

#[test]
fn a_module_both_mine_and_in_a_wheel_is_an_error() {
    let (tmp, dir) = temp_venv_project(&[pin("crpack-fixture-pure", PURE)]);
    fs::create_dir_all(dir.join("lib/crpack_fixture_pure")).unwrap();
    fs::write(dir.join("lib/crpack_fixture_pure/__init__.py"), "x = 1\n").unwrap();
    let toml = fs::read_to_string(dir.join("crpack.toml")).unwrap().replace(
        r#"include = ["lib/overlap_lib"]"#,
        r#"include = ["lib/overlap_lib", "lib/crpack_fixture_pure"]"#,
    );
    fs::write(dir.join("crpack.toml"), toml).unwrap();
    expect_build_error(
        &dir,
        &tmp.path().join("cache"),
        &["crpack_fixture_pure/__init__.py", PURE, "installed twice"],
    );
}

#[test]
fn check_reports_requirement_errors_and_foreign_wheels() {
    let (tmp, dir) = temp_venv_project(&["crpack-fixture-pure>=1".to_string()]);
    let r = run(&mut crpack_env(
        &dir,
        &tmp.path().join("cache"),
        &["--json", "check"],
    ))
    .expect(3);
    let json = r.json();
    let text = json.to_string();
    assert!(text.contains("requirements.txt:3"), "{text}");
}

#[test]
fn the_cache_makes_builds_offline() {
    let (tmp, dir) = temp_venv_project(&[pin("crpack-fixture-pure", PURE)]);
    let cache = tmp.path().join("cache");
    let first = build(&dir, &cache);
    // No pip at all now: the cached wheel is enough.
    let mut cmd = crpack_env(&dir, &cache, &["--json", "build"]);
    cmd.env("CRPACK_PIP_PYTHON", "/nonexistent/python3");
    let second = run(&mut cmd).expect(0).json();
    assert_eq!(additional(&first)["sha256"], additional(&second)["sha256"]);
    // The cache is content-addressed by the wheel's SHA-256.
    let h = hash_of(PURE);
    assert!(
        cache
            .join(format!("wheels/sha256/{}/{h}/{PURE}", &h[..2]))
            .is_file(),
        "the wheel is cached under its hash"
    );
}

/// The arm64 root the test setup makes (scripts/arm64-root.sh). Unset outside CI, the test says
/// so loudly and is skipped; in CI it must be there.
fn arm64_root() -> Option<PathBuf> {
    match std::env::var_os("CRPACK_TEST_ARM64_ROOT") {
        Some(p) => Some(PathBuf::from(p)),
        None => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI runs the aarch64 tests: scripts/test.sh sets CRPACK_TEST_ARM64_ROOT"
            );
            eprintln!("** skipped: run scripts/arm64-root.sh and set CRPACK_TEST_ARM64_ROOT");
            None
        }
    }
}

/// `check --import-on-arm64` on real aarch64 CPython 3.11: the pure wheel and the project's own
/// module import; the fixture "native" wheel, whose extension is not loadable code, is reported
/// with the error the runtime would raise.
#[test]
fn check_imports_every_module_on_aarch64() {
    let Some(root) = arm64_root() else { return };
    let (tmp, dir) = temp_venv_project(&pure_and_native());
    let mut cmd = crpack_env(
        &dir,
        &tmp.path().join("cache"),
        &["--json", "check", "--import-on-arm64"],
    );
    cmd.env("CRPACK_ARM64_ROOT", &root);
    let r = run(&mut cmd).expect(3);
    let json = r.json();
    let failed: Vec<&serde_json::Value> = json["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "import-arm64")
        .collect();
    assert_eq!(failed.len(), 1, "{json}");
    let msg = failed[0]["message"].as_str().unwrap();
    assert!(
        msg.contains("import crpack_fixture_native") && msg.contains("aarch64"),
        "{msg}"
    );
    assert!(
        r.stderr().contains("imported 3 of 4 module(s) on aarch64"),
        "{}",
        r.stderr()
    );
}

/// A real native package from the index: numpy 1.26.4's aarch64 wheel, installed by crpack into
/// the environment, imports and computes on aarch64 CPython 3.11 — next to a pure wheel and the
/// project's own module.
#[test]
fn a_real_native_environment_runs_on_aarch64() {
    let Some(root) = arm64_root() else { return };
    const NUMPY: &str =
        "numpy==1.26.4 --hash=sha256:7ab55401287bfec946ced39700c053796e7cc0e3acbef09993a9ad2adba6ca6e";
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    // The pure fixture from its directory, numpy from the package index.
    venv_project_with(
        &dir,
        &format!("--find-links {}\n", wheels().display()),
        &[pin("crpack-fixture-pure", PURE), NUMPY.to_string()],
    );
    let cache = std::env::var_os("CRPACK_TEST_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.path().join("cache"));
    let mut cmd = crpack_env(&dir, &cache, &["--json", "check", "--import-on-arm64"]);
    cmd.env("CRPACK_ARM64_ROOT", &root);
    let r = run(&mut cmd).expect(0);
    assert!(
        r.stderr().contains("imported 4 of 4 module(s) on aarch64"),
        "{}",
        r.stderr()
    );
    // And it computes: unpack the built environment and sum an array there.
    let json = build(&dir, &cache);
    let wheels = json["environment"]["wheels"].as_array().unwrap();
    let numpy = wheels
        .iter()
        .find(|w| w["name"] == "numpy")
        .expect("numpy installed");
    assert_eq!(numpy["native"], true);
    assert!(
        numpy["file_name"].as_str().unwrap().contains("aarch64"),
        "{numpy}"
    );
    let unpacked = tmp.path().join("env");
    unpack_site_packages(&dir.join("dist/pyspark_venv.tar.gz"), &unpacked);
    let qemu = if Command::new("qemu-aarch64-static")
        .arg("--version")
        .output()
        .is_ok()
    {
        "qemu-aarch64-static"
    } else {
        "qemu-aarch64"
    };
    let out = Command::new(qemu)
        .arg("-L")
        .arg(&root)
        .arg(root.join("usr/bin/python3.11"))
        .args([
            "-I",
            "-B",
            "-c",
            "import sys, platform; sys.path.insert(0, sys.argv[1]); import numpy, crpack_fixture_pure, overlap_lib; \
             print(platform.machine(), numpy.arange(1000001).sum(), crpack_fixture_pure.hello())",
        ])
        .arg(unpacked.join("lib/python3.11/site-packages"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "aarch64 500000500000 hello from crpack_fixture_pure"
    );
}

/// `crpack lock` hands the loose requirements to `uv pip compile` for the runtime's platform and
/// checks what it wrote before keeping it; the environment then builds from that lock (pip's own
/// settings, here PIP_FIND_LINKS and PIP_NO_INDEX, reach the download).
#[cfg(unix)]
#[test]
fn lock_pins_for_the_runtime_then_builds() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    copy_tree(&fixtures().join("golden-venv"), &dir);
    fs::write(dir.join("requirements.in"), "crpack-fixture-pure\n").unwrap();
    // A stand-in for uv that checks its arguments and writes what uv would.
    let uv = tmp.path().join("uv");
    fs::write(
        &uv,
        format!(
            "#!/bin/sh\n\
             args=\"$*\"\n\
             case \"$args\" in *'pip compile --generate-hashes --python-platform aarch64-manylinux_2_34 --python-version 3.11'*) ;; \
             *) echo \"unexpected arguments: $args\" >&2; exit 2;; esac\n\
             while [ $# -gt 0 ]; do if [ \"$1\" = -o ]; then out=$2; fi; shift; done\n\
             printf 'crpack-fixture-pure==1.0.0 \\\\\\n    --hash=sha256:{}\\n    # via -r requirements.in\\n' > \"$out\"\n",
            hash_of(PURE)
        ),
    )
    .unwrap();
    fs::set_permissions(&uv, fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = crpack_env(&dir, &tmp.path().join("cache"), &["--json", "lock"]);
    cmd.env("CRPACK_UV", &uv);
    let json = run(&mut cmd).expect(0).json();
    assert_eq!(json["requirements"][0]["name"], "crpack-fixture-pure");
    assert_eq!(json["requirements"][0]["hashes"][0], hash_of(PURE));
    assert_eq!(json["target"]["arch"], "aarch64");
    let lock = fs::read_to_string(dir.join("requirements.txt")).unwrap();
    assert!(lock.contains(&hash_of(PURE)), "{lock}");
    let mut cmd = crpack_env(&dir, &tmp.path().join("cache"), &["--json", "build"]);
    cmd.env("PIP_FIND_LINKS", wheels()).env("PIP_NO_INDEX", "1");
    let built = run(&mut cmd).expect(0).json();
    assert_eq!(built["environment"]["wheels"][0]["file_name"], PURE);
    assert_eq!(
        additional(&built)["sha256"],
        GOLDEN_VENV,
        "the same wheels give the same bytes"
    );
}

/// The author publishes an environment with wheels; the lock lists them; a reviewer rebuilds it
/// from the author's project (`verify --source`) and gets the recorded hash; a project whose
/// requirements changed is explained by distribution first.
#[test]
fn published_environments_rebuild_for_reviewers() {
    let sb = TestSandbox::start();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let dir = sb.project(tmp.path(), "templates/venv");
    fs::write(
        dir.join("requirements.txt"),
        format!(
            "--no-index\n--find-links {}\n{}\n",
            wheels().display(),
            pin("crpack-fixture-pure", PURE)
        ),
    )
    .unwrap();
    let as_who = |who: &crpack_sandbox::seed::SeededIdentity, dir: &Path, args: &[&str]| {
        let mut cmd = crpack(args);
        cmd.current_dir(dir).env("CRPACK_CACHE_DIR", &cache);
        sb.as_identity(&mut cmd, who);
        run(&mut cmd)
    };
    let published = as_who(&sb.seed.author.identity, &dir, &["--json", "publish"])
        .expect(0)
        .json();
    let lock = &published["lock"];
    assert_eq!(lock["wheels"][0]["file_name"], PURE, "{lock}");
    assert_eq!(lock["wheels"][0]["sha256"], hash_of(PURE));
    assert!(
        lock["artifacts"][1]["key"]
            .as_str()
            .unwrap()
            .ends_with("/pyspark_venv.tar.gz")
    );
    let arn = lock["template"]["arn"].as_str().unwrap().to_string();
    let pm = sb.seed.provider.membership_id.clone();

    // The reviewer's own checkout of the author's project, elsewhere, with an empty cache of
    // their own: the same bytes.
    let review = tmp.path().join("review");
    copy_tree(&dir, &review);
    fs::remove_dir_all(review.join("dist")).unwrap();
    let src = review.display().to_string();
    let verify = [
        "--json",
        "verify",
        "--template",
        &arn,
        "--membership",
        &pm,
        "--source",
        &src,
    ];
    let j = as_who(&sb.seed.provider.identity, &review, &verify)
        .expect(0)
        .json();
    assert_eq!(j["checks"][1]["verdict"], "match", "{j}");

    // The author adds a package: the rebuilt environment differs, explained by distribution.
    sb.grant_provider_read();
    fs::write(
        review.join("requirements.txt"),
        format!(
            "--no-index\n--find-links {}\n{}\n{}\n",
            wheels().display(),
            pin("crpack-fixture-pure", PURE),
            pin("crpack-fixture-native", NATIVE_ARM)
        ),
    )
    .unwrap();
    let j = as_who(&sb.seed.provider.identity, &review, &verify)
        .expect(1)
        .json();
    assert_eq!(j["checks"][1]["verdict"], "mismatch", "{j}");
    let packages = &j["checks"][1]["explanation"]["packages"];
    assert_eq!(packages[0]["change"], "added", "{}", j["checks"][1]);
    assert_eq!(packages[0]["name"], "crpack_fixture_native");
    // The same without --json.
    let human = as_who(&sb.seed.provider.identity, &review, &verify[1..]).expect(1);
    let out = human.stdout();
    let dists = out.find("distributions:").expect("distributions first");
    let added = out
        .find("added    crpack_fixture_native 1.0.0")
        .expect("the added package");
    assert!(dists < added, "{out}");
}
