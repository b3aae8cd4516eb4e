//! What crpack leaves on disk: no staging directories after a killed build, the modes a plain
//! create gives under the user's umask, and no temporary state after the sandbox is stopped by
//! a signal.

#![cfg(unix)]

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// `crpack ARGS` run by `sh` after `umask MASK`, with the harness's clean environment.
fn crpack_umask(mask: &str, args: &[&str]) -> Command {
    let base = crpack(args);
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("umask {mask}; exec \"$0\" \"$@\""))
        .arg(bin())
        .args(args)
        .stdin(Stdio::null());
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// A temporary folder with a fresh project in it.
fn temp_project() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let project = init_project(tmp.path());
    (tmp, project)
}

fn init_project(parent: &Path) -> PathBuf {
    run_in(parent, ["init", "proj"]).expect(0);
    parent.join("proj")
}

/// Entries of `dir` whose names start with `.dist.` (staging and moved-aside directories).
fn leftovers(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".dist."))
        .collect();
    names.sort();
    names
}

/// This process's PID namespace, as crpack writes it into a staging directory's name.
fn pid_namespace() -> u64 {
    let link = fs::read_link("/proc/self/ns/pid").unwrap();
    let link = link.to_str().unwrap();
    link.trim_start_matches("pid:[")
        .trim_end_matches(']')
        .parse()
        .unwrap()
}

/// A process id no process can have (above Linux's largest `pid_max`).
const DEAD_PID: u32 = 4_294_967_295;

/// A directory beside `dist` named as the process `pid` would name it, with a file inside.
fn fake_leftover(project: &Path, pid: u32, suffix: &str) -> PathBuf {
    let dir = project.join(format!(".dist.{pid}.{}.Ab3xYz.{suffix}", pid_namespace()));
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("pyspark_venv.tar.gz"), vec![0u8; 4096]).unwrap();
    dir
}

/// Pseudo-random bytes: they do not compress, so packing them takes a while.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

#[cfg(target_os = "linux")]
#[test]
fn a_build_killed_midway_leaves_nothing_behind_after_the_next_build() {
    let (_tmp, project) = temp_project();
    fs::write(
        project.join("lib/analysis_helpers/blob.bin"),
        noise(48 * 1024 * 1024),
    )
    .unwrap();

    // Kill the build as soon as its staging directory appears.
    let mut child = crpack(["build"])
        .current_dir(&project)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut seen = Vec::new();
    while seen.is_empty() && started.elapsed() < Duration::from_secs(60) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        seen = leftovers(&project);
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let left = leftovers(&project);
    assert!(
        !left.is_empty() && left.iter().all(|n| n.ends_with(".staging")),
        "the killed build left its staging directory: {left:?} (seen {seen:?})"
    );
    assert!(
        left[0].starts_with(&format!(".dist.{}.", child.id())),
        "the stage is named after its process {}: {left:?}",
        child.id()
    );

    // Also what a process killed while swapping the output in leaves.
    fake_leftover(&project, DEAD_PID, "staging");
    fake_leftover(&project, DEAD_PID, "old");

    let build = run_in(&project, ["--json", "build"]).expect(0).json();
    assert_eq!(build["artifacts"].as_array().unwrap().len(), 2, "{build}");
    assert_eq!(
        leftovers(&project),
        Vec::<String>::new(),
        "stages of dead processes are removed"
    );
    assert!(project.join("dist/pyspark_venv.tar.gz").is_file());
    assert!(project.join("dist/crpack-build.json").is_file());
}

#[cfg(target_os = "linux")]
#[test]
fn a_stage_of_a_live_process_is_left_alone() {
    let (_tmp, project) = temp_project();
    // This test process is alive: its stage may be a concurrent build's.
    let live = fake_leftover(&project, std::process::id(), "staging");
    let live_aside = fake_leftover(&project, std::process::id(), "old");
    // A stage of an older crpack, which did not name the owner: kept while recent.
    let unnamed = project.join(".dist.Q7w2Zk.staging");
    fs::create_dir(&unnamed).unwrap();
    // Somebody else's directory whose name merely resembles a stage.
    let other = project.join(".dist.notes.staging");
    fs::create_dir(&other).unwrap();
    let dead = fake_leftover(&project, DEAD_PID, "staging");

    run_in(&project, ["build"]).expect(0);
    assert!(live.join("pyspark_venv.tar.gz").is_file(), "live stage kept");
    assert!(live_aside.join("pyspark_venv.tar.gz").is_file());
    assert!(unnamed.is_dir(), "a recent unnamed stage is kept");
    assert!(other.is_dir(), "a directory crpack did not name is kept");
    assert!(!dead.exists(), "a dead process's stage is removed");
    assert!(project.join("dist/crpack-build.json").is_file());
}

#[cfg(target_os = "linux")]
#[test]
fn the_output_dir_moved_aside_by_a_killed_build_is_swept_when_dist_exists() {
    let (_tmp, project) = temp_project();
    run_in(&project, ["build"]).expect(0);
    let aside = fake_leftover(&project, DEAD_PID, "old");
    run_in(&project, ["build"]).expect(0);
    assert!(!aside.exists());
    assert_eq!(leftovers(&project), Vec::<String>::new());
}

/// Init, build and their files under `mask`; expected modes for files and directories.
fn assert_modes(mask: &str, file: u32, dir: u32) {
    let tmp = tempfile::tempdir().unwrap();
    let r = run(crpack_umask(mask, &["init", "proj"]).current_dir(tmp.path())).expect(0);
    let project = tmp.path().join("proj");
    for f in [
        "crpack.toml",
        "src/entrypoint.py",
        "lib/analysis_helpers/__init__.py",
        "requirements.txt",
        "samples/orders.csv",
        ".gitignore",
    ] {
        assert_eq!(
            mode(&project.join(f)),
            file,
            "init's {f} under umask {mask} ({})",
            r.stdout()
        );
    }
    for d in ["src", "lib/analysis_helpers"] {
        assert_eq!(mode(&project.join(d)), dir, "init's {d}/ under umask {mask}");
    }

    run(crpack_umask(mask, &["build"]).current_dir(&project)).expect(0);
    let dist = project.join("dist");
    assert_eq!(mode(&dist), dir, "dist/ under umask {mask}");
    for f in ["entrypoint.py", "pyspark_venv.tar.gz", "crpack-build.json"] {
        assert_eq!(mode(&dist.join(f)), file, "dist/{f} under umask {mask}");
    }
    // A rebuild replaces dist/ with the same modes.
    run(crpack_umask(mask, &["build"]).current_dir(&project)).expect(0);
    assert_eq!(mode(&dist), dir);
    assert_eq!(mode(&dist.join("crpack-build.json")), file);
}

#[test]
fn files_get_the_modes_of_a_plain_create_under_umask_022() {
    assert_modes("022", 0o644, 0o755);
}

#[test]
fn files_get_the_modes_of_a_plain_create_under_umask_077() {
    assert_modes("077", 0o600, 0o700);
}

#[test]
fn the_lock_gets_the_mode_of_a_plain_create() {
    let sb = TestSandbox::start();
    for (mask, want) in [("022", 0o644), ("077", 0o600)] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = sb.project(tmp.path(), &format!("modes-{mask}"));
        let mut cmd = crpack_umask(mask, &["publish"]);
        cmd.current_dir(&dir);
        sb.as_identity(&mut cmd, &sb.seed.author.identity);
        run(&mut cmd).expect(0);
        assert_eq!(mode(&dir.join("crpack.lock")), want, "umask {mask}");
    }
}

/// Starts `crpack --json sandbox` with its temporary directory under `tmpdir`; returns once it
/// has printed where it listens.
fn start_sandbox(tmpdir: &Path) -> Child {
    spawn_json_sandbox(crpack(["--json", "sandbox", "--listen", "127.0.0.1:0"]).env("TMPDIR", tmpdir)).0
}

fn sandbox_dirs(tmpdir: &Path) -> Vec<String> {
    fs::read_dir(tmpdir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("crpack-sandbox-"))
        .collect()
}

#[test]
fn the_sandbox_stops_cleanly_on_sigterm_sighup_and_sigint() {
    for signal in ["TERM", "HUP", "INT"] {
        let tmp = tempfile::tempdir().unwrap();
        let mut child = start_sandbox(tmp.path());
        assert_eq!(
            sandbox_dirs(tmp.path()).len(),
            1,
            "the sandbox keeps its state under TMPDIR"
        );
        let status = signal_and_wait(&mut child, signal, Duration::from_secs(20));
        let mut stderr = String::new();
        child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        assert_eq!(status.code(), Some(0), "SIG{signal}: {status:?}\n{stderr}");
        assert!(stderr.contains("stopping the sandbox"), "{stderr}");
        assert_eq!(
            sandbox_dirs(tmp.path()),
            Vec::<String>::new(),
            "SIG{signal} removes the temporary state"
        );
    }
}
