//! The author's offline path through the real binary: init, check, build, hash, completions,
//! man, exit codes and every validation error.

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::common::*;

/// The fixture project's artifact hashes. They change only when the build's byte layout
/// changes on purpose (or the fixture does): then update them and say why in the commit.
const GOLDEN_ENTRY_POINT: &str = "f89342ec46d06b221572e8e43f9353a74710a8d0c37e536da17004d7167e9024";
const GOLDEN_BUNDLE: &str = "ae0f654d4c220fb7257ff833d73c3aaff66e5fe73d2a6ffc52c54d8d9c6add4a";

fn golden_copy(dir: &Path) {
    copy_tree(&fixtures().join("golden-project"), dir);
}

fn build_json(dir: &Path, extra_env: &[(&str, &str)]) -> serde_json::Value {
    let mut cmd = crpack(["--json", "build"]);
    cmd.current_dir(dir);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    run(&mut cmd).expect(0).json()
}

fn artifact<'a>(json: &'a serde_json::Value, role: &str) -> &'a serde_json::Value {
    crate::common::item_where(&json["artifacts"], "role", role)
}

#[test]
fn init_scaffold_passes_check_and_build() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("audience-overlap");
    let init = run_in(tmp.path(), ["init", "audience-overlap"]).expect(0);
    assert!(init.stdout().contains("crpack.toml"), "{}", init.stdout());
    for f in [
        "crpack.toml",
        "src/entrypoint.py",
        "lib/analysis_helpers/__init__.py",
        ".gitignore",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let toml = fs::read_to_string(dir.join("crpack.toml")).unwrap();
    assert!(toml.contains("name = \"audience-overlap\""), "{toml}");
    assert!(
        fs::read_to_string(dir.join(".gitignore"))
            .unwrap()
            .contains("dist/")
    );

    let check = run_in(&dir, ["--json", "check"]).expect(0).json();
    assert_eq!(check["ok"], true);
    assert_eq!(check["errors"], 0);
    assert_eq!(check["warnings"], 0, "{check}");

    let build = build_json(&dir, &[]);
    assert_eq!(build["artifacts"].as_array().unwrap().len(), 2);
    let ep = artifact(&build, "entry_point");
    assert_eq!(ep["file_name"], "entrypoint.py");
    let bundle = artifact(&build, "additional");
    assert_eq!(bundle["file_name"], "pyspark_venv.tar.gz");
    for a in [ep, bundle] {
        let path = Path::new(a["path"].as_str().unwrap());
        assert_eq!(a["sha256"].as_str().unwrap(), sha256_hex(path));
        assert_eq!(a["size"].as_u64().unwrap(), fs::metadata(path).unwrap().len());
    }
    let record: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("dist/crpack-build.json")).unwrap()).unwrap();
    assert_eq!(record["artifacts"][1]["sha256"], bundle["sha256"]);
}

#[test]
fn init_refuses_to_overwrite_and_validates_the_name() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("crpack.toml"), "keep me").unwrap();
    let r = run_in(tmp.path(), ["init", "."]).expect(3);
    assert!(r.stderr().contains("refusing to overwrite"), "{}", r.stderr());
    assert_eq!(
        fs::read_to_string(tmp.path().join("crpack.toml")).unwrap(),
        "keep me"
    );
    assert!(!tmp.path().join("src").exists(), "nothing written when refusing");

    let r = run_in(tmp.path(), ["init", "other", "--name", "bad--name"]).expect(2);
    assert!(r.stderr().contains("template name"), "{}", r.stderr());
    assert!(!tmp.path().join("other/crpack.toml").exists());
}

#[test]
fn golden_hashes_are_fixed() {
    let tmp = tempfile::tempdir().unwrap();
    golden_copy(tmp.path());
    let build = build_json(tmp.path(), &[]);
    assert_eq!(artifact(&build, "entry_point")["sha256"], GOLDEN_ENTRY_POINT);
    assert_eq!(artifact(&build, "additional")["sha256"], GOLDEN_BUNDLE);
    assert_eq!(build["bundle_entries"], 4, "tests/ excluded: {build}");
}

#[cfg(unix)]
#[test]
fn bundle_is_reproducible_across_mtimes_umask_and_creation_order() {
    use std::os::unix::fs::PermissionsExt;
    let src = fixtures().join("golden-project");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Create the files in reverse order with odd permissions and scattered mtimes.
    let mut files: Vec<_> = walkdir::WalkDir::new(&src)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .collect();
    files.reverse();
    for (i, e) in files.iter().enumerate() {
        let dst = dir.join(e.path().strip_prefix(&src).unwrap());
        fs::create_dir_all(dst.parent().unwrap()).unwrap();
        fs::copy(e.path(), &dst).unwrap();
        fs::set_permissions(
            &dst,
            fs::Permissions::from_mode(if i % 2 == 0 { 0o600 } else { 0o664 }),
        )
        .unwrap();
        let f = fs::File::options().write(true).open(&dst).unwrap();
        f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000 + 7919 * i as u64))
            .unwrap();
    }
    let build = build_json(dir, &[]);
    assert_eq!(artifact(&build, "additional")["sha256"], GOLDEN_BUNDLE);

    // Rebuilding in place gives the same bytes too.
    let again = build_json(dir, &[]);
    assert_eq!(artifact(&again, "additional")["sha256"], GOLDEN_BUNDLE);

    // An execute bit is the one permission that is kept (as 0755), and it changes the bytes.
    let helper = dir.join("lib/geo/sub/codes.py");
    fs::set_permissions(&helper, fs::Permissions::from_mode(0o700)).unwrap();
    let exec = build_json(dir, &[]);
    assert_ne!(artifact(&exec, "additional")["sha256"], GOLDEN_BUNDLE);
    let mut zip = zip::ZipArchive::new(fs::File::open(dir.join("dist/bundle.zip")).unwrap()).unwrap();
    let modes: Vec<u32> = (0..zip.len())
        .map(|i| zip.by_index(i).unwrap().unix_mode().unwrap() & 0o777)
        .collect();
    assert!(modes.iter().all(|m| *m == 0o644 || *m == 0o755), "{modes:?}");
    assert_eq!(modes.iter().filter(|m| **m == 0o755).count(), 1);
}

#[test]
fn source_date_epoch_sets_the_timestamp() {
    let tmp = tempfile::tempdir().unwrap();
    golden_copy(tmp.path());
    let a = build_json(tmp.path(), &[("SOURCE_DATE_EPOCH", "1700000000")]);
    let b = build_json(tmp.path(), &[("SOURCE_DATE_EPOCH", "1700000000")]);
    let ha = artifact(&a, "additional")["sha256"].clone();
    assert_eq!(ha, artifact(&b, "additional")["sha256"]);
    assert_ne!(ha, GOLDEN_BUNDLE);
    assert_eq!(a["source_date_epoch"], 1_700_000_000);
    let mut zip = zip::ZipArchive::new(fs::File::open(tmp.path().join("dist/bundle.zip")).unwrap()).unwrap();
    let t = zip.by_index(0).unwrap().last_modified().unwrap();
    assert_eq!((t.year(), t.month(), t.day()), (2023, 11, 14));
    let bad = run(crpack(["build"])
        .current_dir(tmp.path())
        .env("SOURCE_DATE_EPOCH", "yesterday"))
    .expect(3);
    assert!(bad.stderr().contains("SOURCE_DATE_EPOCH"), "{}", bad.stderr());
}

#[test]
fn bundle_is_importable_with_zipimport() {
    let tmp = tempfile::tempdir().unwrap();
    golden_copy(tmp.path());
    build_json(tmp.path(), &[]);
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys; sys.path.insert(0, 'dist/bundle.zip'); import geo, geo.sub.codes; \
             print(geo.GREETING, geo.sub.codes.CODES['EU'])",
        ])
        .current_dir(tmp.path())
        .output()
        .expect("python3 is needed for this test");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "hello from the bundle Europe"
    );
}

#[test]
fn failed_build_keeps_the_previous_output() {
    let tmp = tempfile::tempdir().unwrap();
    golden_copy(tmp.path());
    build_json(tmp.path(), &[]);
    let before = sha256_hex(&tmp.path().join("dist/bundle.zip"));
    fs::remove_file(tmp.path().join("data/regions.csv")).unwrap();
    let r = run_in(tmp.path(), ["build"]).expect(3);
    assert!(r.stderr().contains("data/regions.csv"), "{}", r.stderr());
    assert_eq!(sha256_hex(&tmp.path().join("dist/bundle.zip")), before);
    let leftovers = staging_leftovers(tmp.path());
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn build_out_dir_and_prebuilt_archive() {
    let tmp = tempfile::tempdir().unwrap();
    golden_copy(tmp.path());
    let toml = fs::read_to_string(tmp.path().join("crpack.toml")).unwrap();
    let toml = toml.replace(
        "format = \"zip\"\ninclude = [\"lib/geo\", \"data/regions.csv\"]\nexclude = [\"**/tests/**\"]",
        "archive = \"build/pyspark_venv.tar.gz\"",
    );
    fs::write(tmp.path().join("crpack.toml"), toml).unwrap();
    fs::create_dir(tmp.path().join("build")).unwrap();
    let archive: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
    fs::write(tmp.path().join("build/pyspark_venv.tar.gz"), &archive).unwrap();
    let out = tmp.path().join("elsewhere");
    let r = run_in(tmp.path(), ["--json", "build", "--out", out.to_str().unwrap()])
        .expect(0)
        .json();
    let a = artifact(&r, "additional");
    assert_eq!(a["file_name"], "pyspark_venv.tar.gz");
    assert_eq!(
        fs::read(out.join("pyspark_venv.tar.gz")).unwrap(),
        archive,
        "byte for byte"
    );
    assert_eq!(
        a["sha256"].as_str().unwrap(),
        sha256_hex(&tmp.path().join("build/pyspark_venv.tar.gz"))
    );
}

/// Writes the golden project with `crpack.toml` edited by `edit` and returns the failed run.
fn invalid_project(edit: impl FnOnce(&Path, String) -> String) -> (tempfile::TempDir, Run) {
    let tmp = tempfile::tempdir().unwrap();
    golden_copy(tmp.path());
    let toml = fs::read_to_string(tmp.path().join("crpack.toml")).unwrap();
    let toml = edit(tmp.path(), toml);
    fs::write(tmp.path().join("crpack.toml"), toml).unwrap();
    let r = run_in(tmp.path(), ["build"]);
    (tmp, r)
}

#[track_caller]
fn assert_build_error(edit: impl FnOnce(&Path, String) -> String, needles: &[&str]) {
    let (tmp, r) = invalid_project(edit);
    let r = r.expect(3);
    for n in needles {
        assert!(r.stderr().contains(n), "expected {n:?} in:\n{}", r.stderr());
    }
    assert!(!tmp.path().join("dist").exists(), "nothing written on error");
}

#[test]
fn validation_errors_name_the_problem() {
    // (text replaced in crpack.toml, its replacement, what the error must name)
    let cases: [(&str, &str, &[&str]); 9] = [
        // Unknown key: named with its line.
        ("entry_point =", "entrypoint =", &["entrypoint", "line 6"]),
        // Service patterns.
        ("golden-fixture", "golden--fixture", &["template.name", ":4:"]),
        ("region_filter", "9region", &["template.parameters.name"]),
        // include and archive together.
        (
            "exclude = [",
            "archive = \"x.tar.gz\"\nexclude = [",
            &["bundle.archive", "at most one"],
        ),
        // `..` and absolute paths.
        ("\"lib/geo\"", "\"../lib/geo\"", &["bundle.include", ".."]),
        ("src/golden_entry.py", "/etc/passwd.py", &["absolute"]),
        // Not a .py entry point.
        ("golden_entry.py", "golden_entry.txt", &[".py"]),
        // Include matching nothing; entry point missing.
        (
            "data/regions.csv",
            "data/nope.csv",
            &["data/nope.csv", "matches no file"],
        ),
        ("golden_entry.py", "missing.py", &["missing.py", "does not exist"]),
    ];
    for (from, to, needles) in cases {
        assert_build_error(|_, t| t.replace(from, to), needles);
    }
    // A name S3 keys cannot carry.
    assert_build_error(
        |root, t| {
            fs::copy(root.join("src/golden_entry.py"), root.join("src/golden entry.py")).unwrap();
            t.replace("golden_entry.py", "golden entry.py")
        },
        &["S3 key"],
    );
}

#[test]
fn size_limit_is_checked_from_metadata_before_reading() {
    assert_build_error(
        |root, t| {
            // A sparse 1 GB + 1 byte file: costs no disk, and is never read.
            let f = fs::File::create(root.join("data/huge.bin")).unwrap();
            f.set_len(1_000_000_001).unwrap();
            t.replace("\"data/regions.csv\"", "\"data/regions.csv\", \"data/huge.bin\"")
        },
        &["1000000000", "data/huge.bin"],
    );
}

#[cfg(unix)]
#[test]
fn symlinks_out_of_the_project_and_non_utf8_names_are_errors() {
    use std::os::unix::ffi::OsStrExt;
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret.txt"), "s").unwrap();
    let target = outside.path().join("secret.txt");
    assert_build_error(
        move |root, t| {
            std::os::unix::fs::symlink(&target, root.join("lib/geo/leak.txt")).unwrap();
            t
        },
        &["lib/geo/leak.txt", "outside the project"],
    );
    assert_build_error(
        |root, t| {
            let name = std::ffi::OsStr::from_bytes(b"bad\xffname.py");
            fs::write(root.join("lib/geo").join(name), "x").unwrap();
            t
        },
        &["not valid UTF-8"],
    );
}

#[test]
fn check_reports_errors_and_warnings_with_exit_3() {
    let tmp = tempfile::tempdir().unwrap();
    golden_copy(tmp.path());
    fs::write(
        tmp.path().join("src/golden_entry.py"),
        "import boto3\n\ndef entrypoint(context):\n    t = context[\"referencedTables\"][\"ordrs\"]\n    return {\"results\": {\"x\": t.rdd}}\n",
    )
    .unwrap();
    let r = run_in(tmp.path(), ["--json", "check"]).expect(3);
    let j = r.json();
    assert_eq!(j["ok"], false);
    let codes: Vec<&str> = crate::common::strings_of(&j["diagnostics"], "code");
    for c in ["network-import", "undeclared-table", "rdd"] {
        assert!(codes.contains(&c), "{c} missing from {codes:?}");
    }
    let human = run_in(tmp.path(), ["check"]).expect(3);
    assert!(
        human
            .stdout()
            .contains("src/golden_entry.py:1:8: error[network-import]"),
        "{}",
        human.stdout()
    );

    fs::write(
        tmp.path().join("src/golden_entry.py"),
        "def entrypoint(context:\n    pass\n",
    )
    .unwrap();
    let j = run_in(tmp.path(), ["--json", "check"]).expect(3).json();
    let syntax = crate::common::item_where(&j["diagnostics"], "code", "syntax");
    assert_eq!(syntax["file"], "src/golden_entry.py");
    assert!(syntax["line"].as_u64().unwrap() >= 1);
}

#[test]
fn hash_prints_what_sha256sum_prints() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("a.txt"), "hello\n").unwrap();
    fs::write(tmp.path().join("b c.bin"), vec![0u8; 3 << 20]).unwrap();
    fs::write(tmp.path().join("back\\slash"), "x").unwrap();
    let files = ["a.txt", "b c.bin", "back\\slash"];
    let ours = run_in(tmp.path(), ["hash", "a.txt", "b c.bin", "back\\slash"]).expect(0);
    let theirs = std::process::Command::new("sha256sum")
        .args(files)
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert_eq!(ours.output.stdout, theirs.stdout);

    let missing = run_in(tmp.path(), ["hash", "a.txt", "nope"]).expect(3);
    assert!(
        missing
            .stdout()
            .starts_with("5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03  a.txt\n")
    );
    assert!(
        missing.stderr().contains("nope: No such file or directory"),
        "{}",
        missing.stderr()
    );

    let j = run_in(tmp.path(), ["--json", "hash", "a.txt"]).expect(0).json();
    assert_eq!(
        j["files"][0]["sha256"],
        "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
    );
    assert_eq!(j["files"][0]["size"], 6);

    let mut stdin = crpack(["hash"]);
    stdin
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = stdin.spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03  -\n"
    );
}

#[test]
fn usage_errors_exit_2_and_completions_and_man_work() {
    let tmp = tempfile::tempdir().unwrap();
    run_in(tmp.path(), ["frobnicate"]).expect(2);
    run_in(tmp.path(), ["build", "--no-such-flag"]).expect(2);
    let no_project = run_in(tmp.path(), ["check"]).expect(3);
    assert!(
        no_project.stderr().contains("crpack init"),
        "{}",
        no_project.stderr()
    );
    let j = run_in(tmp.path(), ["--json", "check"]).expect(3).json();
    assert_eq!(j["ok"], false);
    assert_eq!(j["error"]["kind"], "project");

    for shell in ["bash", "zsh", "fish"] {
        let c = run_in(tmp.path(), ["completions", shell]).expect(0);
        assert!(c.stdout().contains("crpack"), "{shell}");
        assert!(c.stdout().contains("build"), "{shell}");
    }
    let man = run_in(tmp.path(), ["man"]).expect(0);
    assert!(
        man.stdout().contains(".TH crpack"),
        "{}",
        &man.stdout()[..200.min(man.stdout().len())]
    );
    run_in(tmp.path(), ["man", "--out", "pages"]).expect(0);
    assert!(tmp.path().join("pages/crpack.1").is_file());
    assert!(tmp.path().join("pages/crpack-build.1").is_file());
}

#[test]
fn no_color_and_pipes_get_plain_output() {
    let tmp = tempfile::tempdir().unwrap();
    golden_copy(tmp.path());
    let r = run_in(tmp.path(), ["build"]).expect(0);
    assert!(!r.stdout().contains('\u{1b}'), "no escape codes when piped");
    // The fixture's zip format is a warning: its label is coloured when colour is forced, even
    // into a pipe, and plain when it is refused.
    let forced = run_in(tmp.path(), ["--color", "always", "check"]).expect(0);
    assert!(forced.stdout().contains("\u{1b}["), "{:?}", forced.stdout());
    let never = run_in(tmp.path(), ["--color", "never", "check"]).expect(0);
    assert!(!never.stdout().contains('\u{1b}') && never.stdout().contains("warning["));
}

/// On a real terminal (`script` gives the process one), `auto` colours the findings unless
/// `NO_COLOR` is set.
#[cfg(target_os = "linux")]
#[test]
fn no_color_is_honoured_on_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    golden_copy(tmp.path());
    let on_tty = |no_color: bool| {
        let mut cmd = std::process::Command::new("script");
        cmd.args([
            "-qec",
            &format!("{} --color auto check", bin().display()),
            "/dev/null",
        ])
        .current_dir(tmp.path())
        .env_remove("NO_COLOR");
        if no_color {
            cmd.env("NO_COLOR", "1");
        }
        let out = cmd.output().expect("script (util-linux) runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let coloured = on_tty(false);
    assert!(coloured.contains("warning\u{1b}[0m[zip-format]"), "{coloured:?}");
    let plain = on_tty(true);
    assert!(
        plain.contains("warning[") && !plain.contains('\u{1b}'),
        "{plain:?}"
    );
}

#[test]
fn quiet_and_verbose_change_only_stderr() {
    let tmp = tempfile::tempdir().unwrap();
    golden_copy(tmp.path());
    let normal = run_in(tmp.path(), ["build"]).expect(0);
    assert!(
        normal.stderr().contains("built 2 artifact(s)"),
        "{}",
        normal.stderr()
    );
    let quiet = run_in(tmp.path(), ["-q", "build"]).expect(0);
    assert_eq!(quiet.stderr(), "");
    assert_eq!(quiet.stdout(), normal.stdout(), "results are the same");
    let verbose = run_in(tmp.path(), ["-v", "build"]).expect(0);
    assert!(
        verbose.stderr().contains("building golden-fixture into"),
        "{}",
        verbose.stderr()
    );
    run_in(tmp.path(), ["-q", "-v", "build"]).expect(2);
}

#[test]
fn check_warns_about_native_code_for_another_platform() {
    let tmp = tempfile::tempdir().unwrap();
    golden_copy(tmp.path());
    // A venv-pack style archive with an x86_64 CPython 3.9 extension.
    let archive = tmp.path().join("build/pyspark_venv.tar.gz");
    fs::create_dir_all(archive.parent().unwrap()).unwrap();
    let gz = flate2::write::GzEncoder::new(fs::File::create(&archive).unwrap(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for name in [
        "lib/python3.9/site-packages/numpy/core/_umath.cpython-39-x86_64-linux-gnu.so",
        "lib/python3.9/site-packages/six.py",
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, &b"x"[..]).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
    let toml = fs::read_to_string(tmp.path().join("crpack.toml")).unwrap();
    fs::write(
        tmp.path().join("crpack.toml"),
        toml.replace(
            "format = \"zip\"\ninclude = [\"lib/geo\", \"data/regions.csv\"]\nexclude = [\"**/tests/**\"]",
            "archive = \"build/pyspark_venv.tar.gz\"",
        ),
    )
    .unwrap();
    let j = run_in(tmp.path(), ["--json", "check"]).expect(0).json();
    let codes: Vec<&str> = crate::common::strings_of(&j["diagnostics"], "code");
    assert!(
        codes.contains(&"native-arch") && codes.contains(&"native-python"),
        "{codes:?}"
    );
    let native = crate::common::item_where(&j["diagnostics"], "code", "native-arch");
    assert_eq!(native["severity"], "warning");
    assert_eq!(native["file"], "build/pyspark_venv.tar.gz");
    assert!(native["message"].as_str().unwrap().contains("aarch64"));
}

/// A prebuilt archive that cannot be read (random bytes, truncated, ten bytes) is a check error,
/// and every gzip member is read: a second member hides no foreign native code.
#[test]
fn unreadable_or_concatenated_archives_are_judged_whole() {
    use std::io::Write as _;
    let tmp = tempfile::tempdir().unwrap();
    golden_copy(tmp.path());
    let toml = fs::read_to_string(tmp.path().join("crpack.toml"))
        .unwrap()
        .replace(
            "format = \"zip\"\ninclude = [\"lib/geo\", \"data/regions.csv\"]\nexclude = [\"**/tests/**\"]",
            "archive = \"build/pyspark_venv.tar.gz\"",
        );
    fs::write(tmp.path().join("crpack.toml"), toml).unwrap();
    fs::create_dir_all(tmp.path().join("build")).unwrap();
    let archive = tmp.path().join("build/pyspark_venv.tar.gz");
    let member = |name: &str, data: &[u8]| -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, data).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar.into_inner().unwrap()).unwrap();
        gz.finish().unwrap()
    };
    let good = member("lib/python3.11/site-packages/six.py", b"x = 1\n");
    let random: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
        .collect();
    for (what, bytes) in [
        ("random", random),
        ("truncated", good[..good.len() / 2].to_vec()),
        ("ten bytes", good[..10].to_vec()),
    ] {
        fs::write(&archive, bytes).unwrap();
        let j = run_in(tmp.path(), ["--json", "check"]).expect(3).json();
        let unreadable = j["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["code"] == "archive-unreadable" && d["severity"] == "error");
        assert!(unreadable, "{what}: {j}");
    }
    // An x86-64 ELF in the second gzip member (`cat a.tar.gz b.tar.gz`).
    let mut elf = vec![0u8; 64];
    elf[..4].copy_from_slice(b"\x7fELF");
    elf[4] = 2; // 64-bit
    elf[5] = 1; // little-endian
    elf[18] = 62; // e_machine: x86-64
    let mut both = member("lib/python3.11/site-packages/six.py", b"x = 1\n");
    both.extend(member(
        "lib/python3.11/site-packages/_fast.cpython-311-aarch64-linux-gnu.so",
        &elf,
    ));
    fs::write(&archive, both).unwrap();
    let j = run_in(tmp.path(), ["--json", "check"]).expect(0).json();
    // None means the second member was not read.
    let arch = crate::common::item_where(&j["diagnostics"], "code", "native-arch");
    assert!(arch["message"].as_str().unwrap().contains("_fast"), "{arch}");
}

/// A missing region is configuration, not a usage error: exit 3 with the fix.
#[test]
fn no_region_is_a_configuration_error() {
    let tmp = tempfile::tempdir().unwrap();
    let r = run_in(
        tmp.path(),
        [
            "jobs",
            "list",
            "--membership",
            "3c6b0ba0-0000-4000-8000-000000000001",
        ],
    )
    .expect(3);
    assert!(
        r.stderr().contains("no AWS region configured") && r.stderr().contains("--region"),
        "{}",
        r.stderr()
    );
}
