//! File-system helpers: atomic writes and atomic directory replacement, so a failed run never
//! leaves a half-written file or directory in place of a good one.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Writes `contents` to `path` atomically: a temporary file in the same directory, fsync, rename.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = parent_dir(path);
    fs::create_dir_all(&dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", file_name_lossy(path)))
        .suffix(".tmp")
        .tempfile_in(&dir)?;
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// A directory being built next to its final place; `commit` swaps it in.
pub struct StagedDir {
    target: PathBuf,
    staging: Option<tempfile::TempDir>,
}

impl StagedDir {
    /// Creates a staging directory beside `target` (same file system, so the rename is atomic).
    pub fn new(target: &Path) -> io::Result<Self> {
        let dir = parent_dir(target);
        fs::create_dir_all(&dir)?;
        let staging = tempfile::Builder::new()
            .prefix(&format!(".{}.", file_name_lossy(target)))
            .suffix(".staging")
            .tempdir_in(&dir)?;
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
            let old = staging.with_extension("old");
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
}
