//! The on-disk store: one directory per bucket holding `meta.json` (the bucket's whole metadata,
//! rewritten atomically by temp file + rename after every change), `objects/` (one file per
//! object version) and `parts/` (uploaded multipart parts). `tmp/` under the root stages incoming
//! bodies so that a finished, verified upload is renamed into place.
//!
//! ```text
//! <root>/buckets/<bucket>/meta.json
//! <root>/buckets/<bucket>/objects/<uuid>
//! <root>/buckets/<bucket>/parts/<uuid>
//! <root>/tmp/<uuid>
//! ```

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

/// Content headers kept with an object version and replayed on GET/HEAD.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct ContentHeaders {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
}

/// A checksum as S3 stores it: the algorithm (`SHA256`, `CRC32`, ...), the base64 value (with a
/// `-N` suffix for composite multipart checksums) and the type (`FULL_OBJECT` or `COMPOSITE`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct StoredChecksum {
    pub algorithm: String,
    pub value: String,
    pub kind: String,
}

/// One part of a completed multipart object.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct PartSummary {
    pub number: i32,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

/// One version of a key: an object or a delete marker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Version {
    /// An opaque id, or `null` for the version written while versioning was off or suspended.
    pub version_id: String,
    #[serde(default)]
    pub delete_marker: bool,
    /// The data file under `objects/` (none for delete markers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default)]
    pub size: u64,
    /// The ETag without quotes.
    #[serde(default)]
    pub etag: String,
    pub last_modified_ms: i64,
    /// The checksum reported to clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<StoredChecksum>,
    /// The full-object SHA-256 (base64) when known (the client's algorithm was SHA-256 over
    /// the whole object); kept for inspection, never reported on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default)]
    pub headers: ContentHeaders,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Parts of a multipart object (empty for single PUTs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PartSummary>,
    /// The account that wrote this version.
    #[serde(default)]
    pub owner: String,
}

/// An uploaded part of an in-progress multipart upload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct UploadedPart {
    pub number: i32,
    pub size: u64,
    /// MD5 hex without quotes.
    pub etag: String,
    pub last_modified_ms: i64,
    /// The part file under `parts/`.
    pub file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<StoredChecksum>,
}

/// An in-progress multipart upload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Upload {
    pub upload_id: String,
    pub key: String,
    pub owner: String,
    pub initiated_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<String>,
    #[serde(default)]
    pub headers: ContentHeaders,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub parts: BTreeMap<i32, UploadedPart>,
}

/// Everything known about one bucket.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct BucketMeta {
    pub name: String,
    /// The owning account id.
    pub owner: String,
    pub created_ms: i64,
    /// `Enabled` or `Suspended`; `None` if versioning was never enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versioning: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Versions per key, oldest first: the last one is the current version.
    #[serde(default)]
    pub objects: BTreeMap<String, Vec<Version>>,
    #[serde(default)]
    pub uploads: BTreeMap<String, Upload>,
}

impl BucketMeta {
    pub fn versioning_enabled(&self) -> bool {
        self.versioning.as_deref() == Some("Enabled")
    }

    /// The current version of `key`, if any (it may be a delete marker).
    pub fn current(&self, key: &str) -> Option<&Version> {
        self.objects.get(key).and_then(|v| v.last())
    }

    /// The current version of `key` unless it is missing or a delete marker.
    pub fn current_object(&self, key: &str) -> Option<&Version> {
        self.current(key).filter(|v| !v.delete_marker)
    }
}

/// All buckets, keyed by name.
pub(super) type Buckets = BTreeMap<String, BucketMeta>;

/// The store: metadata in memory behind a mutex (never held across an await), mirrored to disk.
pub(super) struct Store {
    root: PathBuf,
    buckets: Mutex<Buckets>,
}

impl Store {
    /// Opens the store under `root`, loading every bucket's metadata and clearing stale staging
    /// files.
    pub fn open(root: &Path) -> io::Result<Store> {
        let buckets_dir = root.join("buckets");
        std::fs::create_dir_all(&buckets_dir)?;
        let tmp = root.join("tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir_all(&tmp)?;
        let mut buckets = Buckets::new();
        for entry in std::fs::read_dir(&buckets_dir)? {
            let entry = entry?;
            let meta_path = entry.path().join("meta.json");
            if !meta_path.is_file() {
                continue;
            }
            let text = std::fs::read(&meta_path)?;
            let meta: BucketMeta = serde_json::from_slice(&text).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", meta_path.display()),
                )
            })?;
            buckets.insert(meta.name.clone(), meta);
        }
        Ok(Store {
            root: root.to_owned(),
            buckets: Mutex::new(buckets),
        })
    }

    /// Locks the metadata. Never hold the guard across an `.await`.
    pub fn lock(&self) -> MutexGuard<'_, Buckets> {
        self.buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.root.join("buckets").join(bucket)
    }

    pub fn object_path(&self, bucket: &str, file: &str) -> PathBuf {
        self.bucket_dir(bucket).join("objects").join(file)
    }

    pub fn part_path(&self, bucket: &str, file: &str) -> PathBuf {
        self.bucket_dir(bucket).join("parts").join(file)
    }

    /// A fresh staging path under `tmp/`.
    pub fn tmp_path(&self) -> PathBuf {
        self.root
            .join("tmp")
            .join(uuid::Uuid::new_v4().simple().to_string())
    }

    /// Creates the directories of a new bucket.
    pub fn create_bucket_dirs(&self, bucket: &str) -> io::Result<()> {
        let dir = self.bucket_dir(bucket);
        std::fs::create_dir_all(dir.join("objects"))?;
        std::fs::create_dir_all(dir.join("parts"))
    }

    /// Writes a bucket's metadata atomically (temp file + rename). Call with the lock held so
    /// writes of one bucket never interleave.
    pub fn save(&self, meta: &BucketMeta) -> io::Result<()> {
        let dir = self.bucket_dir(&meta.name);
        let tmp = dir.join(format!(".meta.json.{}", uuid::Uuid::new_v4().simple()));
        let json = serde_json::to_vec(meta).map_err(io::Error::other)?;
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, dir.join("meta.json")).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }

    /// Removes a deleted bucket's directory.
    pub fn remove_bucket_dir(&self, bucket: &str) {
        let _ = std::fs::remove_dir_all(self.bucket_dir(bucket));
    }
}

/// A staged file removed on drop unless it was moved into place.
pub(super) struct TempFile {
    path: Option<PathBuf>,
}

impl TempFile {
    pub fn new(path: PathBuf) -> TempFile {
        TempFile { path: Some(path) }
    }

    pub fn path(&self) -> &Path {
        self.path.as_deref().expect("temp file already persisted")
    }

    /// Renames the file to `dest`; the guard no longer removes it.
    pub fn persist(mut self, dest: &Path) -> io::Result<()> {
        let path = self.path.take().expect("temp file already persisted");
        std::fs::rename(&path, dest).inspect_err(|_| {
            let _ = std::fs::remove_file(&path);
        })
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips_through_disk() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.create_bucket_dirs("b").unwrap();
        let mut meta = BucketMeta {
            name: "b".into(),
            owner: "111111111111".into(),
            created_ms: 1,
            versioning: Some("Enabled".into()),
            policy: Some("{}".into()),
            objects: BTreeMap::new(),
            uploads: BTreeMap::new(),
        };
        meta.objects.insert(
            "k".into(),
            vec![Version {
                version_id: "v1".into(),
                delete_marker: false,
                file: Some("f".into()),
                size: 3,
                etag: "e".into(),
                last_modified_ms: 2,
                checksum: Some(StoredChecksum {
                    algorithm: "SHA256".into(),
                    value: "x".into(),
                    kind: "FULL_OBJECT".into(),
                }),
                sha256: None,
                headers: ContentHeaders::default(),
                metadata: BTreeMap::new(),
                parts: vec![],
                owner: "111111111111".into(),
            }],
        );
        store.save(&meta).unwrap();
        std::fs::write(dir.path().join("tmp").join("stale"), b"x").unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        let buckets = store.lock();
        let loaded = &buckets["b"];
        assert_eq!(loaded.owner, "111111111111");
        assert!(loaded.versioning_enabled());
        assert_eq!(
            loaded.current("k").unwrap().checksum.as_ref().unwrap().algorithm,
            "SHA256"
        );
        assert!(!dir.path().join("tmp").join("stale").exists());
    }

    #[test]
    fn temp_files_are_removed_unless_persisted() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::fs::write(&a, b"x").unwrap();
        drop(TempFile::new(a.clone()));
        assert!(!a.exists());
        let b = dir.path().join("b");
        std::fs::write(&b, b"x").unwrap();
        TempFile::new(b.clone()).persist(&dir.path().join("c")).unwrap();
        assert!(dir.path().join("c").exists());
    }
}
