//! File-system helpers: atomic writes and atomic directory replacement, so a failed run never
//! leaves a half-written file or directory in place of a good one, and an interrupted run's
//! leftovers are removed by the next one.
//!
//! Files and directories crpack writes for the user get the modes a plain create gives (0666 or
//! 0777 less the umask), not the owner-only modes of temporary files.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// How long a staging directory must have been left untouched before a new run removes it when
/// its owner cannot be checked (no `/proc`, another PID namespace, or an unnamed owner).
pub const STALE_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// Writes `contents` to `path` atomically: a temporary file in the same directory, fsync, rename.
/// A new file gets the mode `File::create` would give it (0666 less the umask); a replaced file
/// keeps its mode.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = parent_dir(path);
    fs::create_dir_all(&dir)?;
    let prefix = format!(".{}.", file_name_lossy(path));
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The kernel applies the umask to this mode, as it does for a plain create.
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(&dir)?;
    if let Ok(existing) = fs::metadata(path)
        && existing.is_file()
    {
        tmp.as_file().set_permissions(existing.permissions())?;
    }
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// A directory being built next to its final place; `commit` swaps it in.
///
/// The staging directory is named `.<target>.<pid>.<pidns>.<random>.staging` after the process
/// that owns it (`<pidns>` is the PID namespace's inode on Linux, 0 elsewhere), so a later run
/// can tell a stage abandoned by a killed process from one a concurrent run is still writing.
pub struct StagedDir {
    target: PathBuf,
    staging: Option<tempfile::TempDir>,
}

impl StagedDir {
    /// Creates a staging directory beside `target` (same file system, so the rename is atomic),
    /// after removing what killed runs left beside it (see [`sweep_stale`]).
    pub fn new(target: &Path) -> io::Result<Self> {
        let dir = parent_dir(target);
        fs::create_dir_all(&dir)?;
        sweep_stale(target);
        let prefix = format!(
            ".{}.{}.{}.",
            file_name_lossy(target),
            std::process::id(),
            own_pid_namespace().unwrap_or(0)
        );
        let mut builder = tempfile::Builder::new();
        builder
            .prefix(&prefix)
            .suffix(STAGING_SUFFIX)
            .rand_bytes(RAND_LEN);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // It becomes the user's output directory: the mode of a plain mkdir.
            builder.permissions(fs::Permissions::from_mode(0o777));
        }
        let staging = builder.tempdir_in(&dir)?;
        Ok(Self {
            target: target.to_path_buf(),
            staging: Some(staging),
        })
    }

    /// Where to write the new contents.
    pub fn path(&self) -> &Path {
        self.staging.as_ref().expect("not committed").path()
    }

    /// Replaces `target` with the staged directory. An existing target is moved aside first and
    /// removed only after the new one is in place.
    pub fn commit(mut self) -> io::Result<PathBuf> {
        let staging = self.staging.take().expect("not committed").keep();
        let mut aside = None;
        if self.target.exists() {
            let meta = fs::symlink_metadata(&self.target)?;
            if !meta.is_dir() {
                let _ = fs::remove_dir_all(&staging);
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists and is not a directory", self.target.display()),
                ));
            }
            let old = staging.with_extension(&ASIDE_SUFFIX[1..]);
            fs::rename(&self.target, &old)?;
            aside = Some(old);
        }
        if let Err(e) = fs::rename(&staging, &self.target) {
            if let Some(old) = &aside {
                let _ = fs::rename(old, &self.target);
            }
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
        if let Some(old) = aside {
            let _ = fs::remove_dir_all(old);
        }
        Ok(self.target.clone())
    }
}

const STAGING_SUFFIX: &str = ".staging";
const ASIDE_SUFFIX: &str = ".old";
const RAND_LEN: usize = 6;

/// What [`sweep_stale`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Directories removed.
    pub removed: Vec<PathBuf>,
    /// A moved-aside copy put back as `target`, when a run was killed between moving the old
    /// directory aside and moving the new one in.
    pub restored: Option<PathBuf>,
}

/// Removes the staging directories and moved-aside old copies that killed runs left beside
/// `target`. A directory is left alone while its owning process may still be running: on Linux
/// it is removed when `/proc/<pid>` of its owner (in the same PID namespace) is gone; when the
/// owner cannot be checked, when it has been untouched for [`STALE_AFTER`]. When `target`
/// itself is missing, the newest abandoned old copy is put back instead of removed. Best effort:
/// what cannot be read or removed is skipped.
pub fn sweep_stale(target: &Path) -> Swept {
    let mut swept = Swept::default();
    let Ok(entries) = fs::read_dir(parent_dir(target)) else {
        return swept;
    };
    let prefix = format!(".{}.", file_name_lossy(target));
    let now = SystemTime::now();
    let mut asides = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(leftover) = Leftover::parse(name, &prefix) else {
            continue;
        };
        let Ok(meta) = fs::symlink_metadata(entry.path()) else {
            continue;
        };
        if !meta.is_dir() {
            continue;
        }
        let modified = meta.modified().unwrap_or(now);
        if !leftover.abandoned(modified, now) {
            continue;
        }
        if leftover.aside {
            asides.push((modified, entry.path()));
        } else if fs::remove_dir_all(entry.path()).is_ok() {
            swept.removed.push(entry.path());
        }
    }
    asides.sort();
    if fs::symlink_metadata(target).is_err()
        && let Some((_, newest)) = asides.pop()
        && fs::rename(&newest, target).is_ok()
    {
        swept.restored = Some(newest);
    }
    for (_, path) in asides {
        if fs::remove_dir_all(&path).is_ok() {
            swept.removed.push(path);
        }
    }
    swept
}

/// A name `.<target>.<pid>.<pidns>.<random>.staging` (or `.old`), or the older
/// `.<target>.<random>.staging` without an owner.
struct Leftover {
    owner: Option<(u32, u64)>,
    aside: bool,
}

impl Leftover {
    fn parse(name: &str, prefix: &str) -> Option<Leftover> {
        let rest = name.strip_prefix(prefix)?;
        let (middle, aside) = if let Some(m) = rest.strip_suffix(STAGING_SUFFIX) {
            (m, false)
        } else {
            (rest.strip_suffix(ASIDE_SUFFIX)?, true)
        };
        let parts: Vec<&str> = middle.split('.').collect();
        let random = |s: &str| s.len() == RAND_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric());
        let decimal = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let owner = match parts.as_slice() {
            [pid, ns, r] if decimal(pid) && decimal(ns) && random(r) => {
                Some((pid.parse().ok()?, ns.parse().ok()?))
            }
            [r] if random(r) => None,
            _ => return None,
        };
        Some(Leftover { owner, aside })
    }

    /// Whether no live process can still be using it.
    fn abandoned(&self, modified: SystemTime, now: SystemTime) -> bool {
        if let (Some((pid, ns)), Some(own)) = (self.owner, own_pid_namespace())
            && ns == own
        {
            return !Path::new("/proc").join(pid.to_string()).exists();
        }
        now.duration_since(modified).is_ok_and(|age| age > STALE_AFTER)
    }
}

/// The inode of this process's PID namespace (Linux), which tells whether a process id named in
/// a directory can be looked up in this `/proc`. `None` where there is no such `/proc`.
fn own_pid_namespace() -> Option<u64> {
    static NS: OnceLock<Option<u64>> = OnceLock::new();
    *NS.get_or_init(|| {
        let link = fs::read_link("/proc/self/ns/pid").ok()?;
        let ns = link
            .to_str()?
            .strip_prefix("pid:[")?
            .strip_suffix(']')?
            .parse()
            .ok()?;
        // Only a /proc that numbers processes as this process sees them can answer for a pid.
        let own = fs::read_link("/proc/self").ok()?;
        (own.to_str()? == std::process::id().to_string()).then_some(ns)
    })
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn file_name_lossy(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "crpack".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn staged_dir_swaps_in_and_drop_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("dist");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("old.txt"), "old").unwrap();

        let abandoned = StagedDir::new(&target).unwrap();
        fs::write(abandoned.path().join("half.txt"), "x").unwrap();
        drop(abandoned);
        assert!(
            target.join("old.txt").exists(),
            "an abandoned build keeps the old output"
        );
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no staging left behind"
        );

        let staged = StagedDir::new(&target).unwrap();
        fs::write(staged.path().join("new.txt"), "new").unwrap();
        staged.commit().unwrap();
        assert!(target.join("new.txt").exists());
        assert!(!target.join("old.txt").exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[cfg(unix)]
    #[test]
    fn write_atomic_creates_like_a_plain_create_and_keeps_a_replaced_files_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let probe = dir.path().join("probe");
        fs::File::create(&probe).unwrap();
        let p = dir.path().join("new.json");
        write_atomic(&p, b"{}").unwrap();
        assert_eq!(mode(&p), mode(&probe), "a new file: 0666 less the umask");

        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&p, b"[]").unwrap();
        assert_eq!(mode(&p), 0o640, "a replaced file keeps its mode");
        assert_eq!(fs::read(&p).unwrap(), b"[]");
    }

    #[cfg(unix)]
    #[test]
    fn a_staged_dir_gets_the_mode_of_a_plain_mkdir() {
        let dir = tempfile::tempdir().unwrap();
        let probe = dir.path().join("probe");
        fs::create_dir(&probe).unwrap();
        let target = dir.path().join("dist");
        let out = StagedDir::new(&target).unwrap().commit().unwrap();
        assert_eq!(mode(&out), mode(&probe));
    }

    #[test]
    fn leftover_names_are_recognised_only_in_crpacks_forms() {
        let p = ".dist.";
        let l = Leftover::parse(".dist.42.4026531836.aB3dE9.staging", p).unwrap();
        assert_eq!((l.owner, l.aside), (Some((42, 4026531836)), false));
        let l = Leftover::parse(".dist.42.0.aB3dE9.old", p).unwrap();
        assert_eq!((l.owner, l.aside), (Some((42, 0)), true));
        let l = Leftover::parse(".dist.aB3dE9.staging", p).unwrap();
        assert_eq!((l.owner, l.aside), (None, false));
        for other in [
            ".dist.notes.staging",
            ".dist.42.aB3dE9.staging",
            ".dist.x.42.1.aB3dE9.staging",
            ".dist.42.1.aB3dE9.tmp",
            ".dist.v2.42.1.aB3dE9.staging",
            ".dister.42.1.aB3dE9.staging",
            "dist",
        ] {
            assert!(Leftover::parse(other, p).is_none(), "{other}");
        }
        assert!(Leftover::parse(".dist.v2.42.1.aB3dE9.staging", ".dist.v2.").is_some());
    }

    #[cfg(target_os = "linux")]
    fn leftover(parent: &Path, pid: u32, suffix: &str, marker: &str) -> PathBuf {
        let ns = own_pid_namespace().expect("Linux with /proc");
        let dir = parent.join(format!(".dist.{pid}.{ns}.{marker}.{suffix}"));
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("marker"), marker).unwrap();
        dir
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sweep_removes_dead_owners_leftovers_and_keeps_live_ones() {
        const DEAD: u32 = u32::MAX;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("dist");
        fs::create_dir(&target).unwrap();
        let dead_stage = leftover(dir.path(), DEAD, "staging", "aaaaaa");
        let dead_aside = leftover(dir.path(), DEAD, "old", "bbbbbb");
        let live = leftover(dir.path(), std::process::id(), "staging", "cccccc");
        let young_unnamed = dir.path().join(".dist.dddddd.staging");
        fs::create_dir(&young_unnamed).unwrap();
        let old_unnamed = dir.path().join(".dist.eeeeee.staging");
        fs::create_dir(&old_unnamed).unwrap();
        let long_ago = SystemTime::now() - STALE_AFTER - Duration::from_secs(60);
        fs::File::open(&old_unnamed)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        let file_not_dir = dir.path().join(".dist.ffffff.staging");
        fs::write(&file_not_dir, "").unwrap();
        fs::File::open(&file_not_dir)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();

        let mut swept = sweep_stale(&target);
        swept.removed.sort();
        let mut want = vec![dead_stage.clone(), dead_aside.clone(), old_unnamed.clone()];
        want.sort();
        assert_eq!(
            swept,
            Swept {
                removed: want,
                restored: None
            }
        );
        assert!(live.join("marker").exists());
        assert!(young_unnamed.exists());
        assert!(file_not_dir.exists(), "only directories are swept");
        assert!(target.exists());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sweep_puts_back_the_output_a_killed_swap_had_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("dist");
        let older = leftover(dir.path(), u32::MAX, "old", "aaaaaa");
        let long_ago = SystemTime::now() - Duration::from_secs(3600);
        fs::File::open(&older).unwrap().set_modified(long_ago).unwrap();
        let newer = leftover(dir.path(), u32::MAX - 1, "old", "bbbbbb");
        let stage = leftover(dir.path(), u32::MAX - 1, "staging", "cccccc");

        let swept = sweep_stale(&target);
        assert_eq!(swept.restored, Some(newer));
        assert_eq!(fs::read_to_string(target.join("marker")).unwrap(), "bbbbbb");
        assert!(!older.exists() && !stage.exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
