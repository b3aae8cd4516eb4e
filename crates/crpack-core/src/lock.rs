//! `crpack.lock`: what was published, written atomically after a successful publish. A partner
//! can use it as the evidence bundle for `crpack verify --lock`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::artifact::Role;
use crate::digest::Sha256Digest;
use crate::error::{IoContext, Result};
use crate::fsutil;

/// The lock file's name, next to `crpack.toml`.
pub const LOCK_NAME: &str = "crpack.lock";
/// The lock format version; bumped on incompatible changes.
pub const LOCK_VERSION: u32 = 1;

/// The whole lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    pub lock_version: u32,
    /// The crpack version that wrote it.
    pub crpack_version: String,
    /// RFC 3339 UTC time of the publish that wrote it.
    pub published_at: String,
    pub region: String,
    pub template: LockedTemplate,
    pub artifacts: Vec<LockedArtifact>,
    /// The wheels installed into the environment (a built venv only): file name, SHA-256 and
    /// URL of each, so anyone can fetch exactly those files again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wheels: Vec<crate::venv::WheelRecord>,
}

/// The registered template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedTemplate {
    /// The registered name (the configured name plus a short digest of the definition).
    pub name: String,
    pub arn: String,
    pub id: String,
    pub membership_id: String,
    pub collaboration_id: String,
    /// SHA-256 of the canonical template definition (artifacts, tables, parameters, settings):
    /// equal definitions give equal names.
    pub definition_sha256: Sha256Digest,
}

/// One uploaded artifact, pinned by version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedArtifact {
    pub role: Role,
    pub file_name: String,
    pub size: u64,
    pub sha256: Sha256Digest,
    pub bucket: String,
    pub key: String,
    pub version_id: String,
}

/// `crpack.lock` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The file is not JSON in the lock's shape.
    #[error("{} is not a crpack lock file ({source}); it is written by `crpack publish`", path.display())]
    NotALock {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// The lock could not be turned into JSON (a value JSON cannot hold).
    #[error(
        "cannot write {}: the lock does not serialise to JSON ({source}); this is a defect in crpack: report it",
        path.display()
    )]
    Serialize {
        path: PathBuf,
        source: serde_json::Error,
    },
}

impl Lock {
    /// Reads a lock file.
    pub fn read(path: &Path) -> Result<Lock> {
        let bytes = std::fs::read(path).with_path(path)?;
        serde_json::from_slice(&bytes).map_err(|source| {
            LockError::NotALock {
                path: path.to_path_buf(),
                source,
            }
            .into()
        })
    }

    /// Reads a lock file if it exists.
    pub fn read_if_exists(path: &Path) -> Result<Option<Lock>> {
        if path.exists() {
            Lock::read(path).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Writes the lock atomically (temporary file + rename).
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut json = serde_json::to_vec_pretty(self).map_err(|source| LockError::Serialize {
            path: path.to_path_buf(),
            source,
        })?;
        json.push(b'\n');
        fsutil::write_atomic(path, &json).with_path(path)
    }

    /// The artifact in a role.
    pub fn artifact(&self, role: Role) -> Option<&LockedArtifact> {
        self.artifacts.iter().find(|a| a.role == role)
    }
}

/// Now, as RFC 3339 UTC.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Lock {
        Lock {
            lock_version: LOCK_VERSION,
            crpack_version: "0.1.0".into(),
            published_at: "2026-01-01T00:00:00Z".into(),
            region: "us-east-1".into(),
            template: LockedTemplate {
                name: "t-0123abcd".into(),
                arn: "arn:aws:cleanrooms:us-east-1:111111111111:membership/m/analysistemplate/t".into(),
                id: "t".into(),
                membership_id: "m".into(),
                collaboration_id: "c".into(),
                definition_sha256: Sha256Digest::of(b"def"),
            },
            artifacts: vec![LockedArtifact {
                role: Role::EntryPoint,
                file_name: "entrypoint.py".into(),
                size: 3,
                sha256: Sha256Digest::of(b"abc"),
                bucket: "b".into(),
                key: "p/ba78/entrypoint.py".into(),
                version_id: "v1".into(),
            }],
            wheels: Vec::new(),
        }
    }

    #[test]
    fn round_trips_and_rejects_unknown_fields() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(LOCK_NAME);
        sample().write(&p).unwrap();
        assert_eq!(Lock::read(&p).unwrap(), sample());
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("\"role\": \"entry_point\""), "{text}");
        std::fs::write(&p, text.replace("\"region\"", "\"extra\": 1, \"region\"")).unwrap();
        assert!(Lock::read(&p).is_err());
        assert!(now_rfc3339().ends_with('Z'));
    }
}
