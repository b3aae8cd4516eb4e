//! Built artifacts: the entry point and the one additional artifact, each with size and digest.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::digest::Sha256Digest;

/// Which slot of the template an artifact fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// `source.artifacts.entryPoint`: the `.py` file with `def entrypoint(context)`.
    EntryPoint,
    /// `source.artifacts.additionalArtifacts[0]`: the bundle zip or the venv archive.
    Additional,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::EntryPoint => "entry_point",
            Role::Additional => "additional",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One built artifact on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    pub role: Role,
    /// Where the built file is.
    pub path: PathBuf,
    /// The file name (the last segment of its S3 key).
    pub file_name: String,
    pub size: u64,
    pub sha256: Sha256Digest,
}
