//! Why two archives differ: `crpack verify` explains, entry by entry, how a rebuilt or shared
//! bundle differs from the one a template pinned.
//!
//! Both archives are read as streams ([`crate::archive`]): each entry is decompressed once,
//! hashed while it is read and dropped, so memory stays flat whatever the declared sizes.
//! Nothing is extracted to disk; entry names (even `../x` or absolute ones) are only compared as
//! strings. Hostile input is bounded: at most [`MAX_ENTRIES`] entries,
//! [`MAX_UNCOMPRESSED_BYTES`] of decompressed data and [`MAX_TOTAL_NAME_BYTES`] of names per
//! archive; past those the reader stops with an error.
//!
//! Supported formats: zip, and gzip-compressed tar (e.g. `venv-pack` output). The kind is
//! decided by content, not by file name.
//!
//! The parts: reading an archive into a listing (here), comparing two listings (`diff`),
//! the distributions of an environment (`packages`) and the report lines (`render`).

mod diff;
mod packages;
mod render;

#[cfg(test)]
mod tests;

use std::mem;
use std::path::Path;

use serde::Serialize;

use crate::archive::{self, Limits, Options, Summary};
use crate::digest::Sha256Digest;

pub use crate::archive::ArchiveError as ExplainError;
pub use crate::archive::{
    ArchiveKind, MAX_ENTRIES, MAX_NAME_BYTES, MAX_TOTAL_NAME_BYTES, MAX_UNCOMPRESSED_BYTES, sniff,
};
pub use diff::diff_archives;
pub use render::render;

/// Hex digits of a digest shown in the report.
const SHORT_HASH: usize = 12;

/// One entry of an archive, read in full.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryInfo {
    pub name: String,
    /// Position in the archive (zip: central directory order; tar: stream order, extension
    /// headers not counted).
    pub index: usize,
    /// Uncompressed size, as read.
    pub size: u64,
    /// SHA-256 of the uncompressed bytes (for a zip symlink: of the stored target).
    pub sha256: Sha256Digest,
    /// Unix permission bits (`& 0o7777`), when the archive records them.
    pub mode: Option<u32>,
    /// As stored: `1980-01-01 00:00:00` (zip DOS time) or RFC 3339 (tar).
    pub mtime: Option<String>,
    /// Zip compression method (`stored`, `deflated`, ...); `None` for tar.
    pub compression: Option<String>,
    /// Zip compressed size; `None` for tar.
    pub compressed_size: Option<u64>,
    pub is_dir: bool,
    /// `file`, `dir`, `symlink -> target`, `hardlink -> target` (tar) or `other`.
    pub kind: String,
}

/// How one entry differs between the two archives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum EntryChange {
    /// Only in `actual`.
    Added {
        name: String,
        size: u64,
        sha256: Sha256Digest,
    },
    /// Only in `expected`.
    Removed {
        name: String,
        size: u64,
        sha256: Sha256Digest,
    },
    /// The content differs.
    Changed {
        name: String,
        expected_size: u64,
        actual_size: u64,
        expected_sha256: Sha256Digest,
        actual_sha256: Sha256Digest,
    },
    /// Same content; the listed metadata differs (`"mode 0644 → 0755"`, ...).
    MetadataOnly { name: String, differences: Vec<String> },
}

impl EntryChange {
    pub fn name(&self) -> &str {
        match self {
            EntryChange::Added { name, .. }
            | EntryChange::Removed { name, .. }
            | EntryChange::Changed { name, .. }
            | EntryChange::MetadataOnly { name, .. } => name,
        }
    }
}

/// The explanation of why two archives differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchiveDiff {
    /// `zip`, `tar.gz` or `other`.
    pub expected_kind: String,
    pub actual_kind: String,
    /// Sorted by entry name.
    pub changes: Vec<EntryChange>,
    /// Entries equal in content and in every compared piece of metadata.
    pub identical_entries: usize,
    /// One line, e.g. "2 changed, 1 added, 0 removed, 3 differ only in metadata (mtime, mode)".
    pub summary: String,
    /// The entries both archives hold come in a different order.
    pub order_differs: bool,
    /// Differences outside the entries: zip comment, gzip header, trailing bytes, formats.
    pub archive_level: Vec<String>,
    /// For environments: distributions added, removed, or changed (from the `*.dist-info`
    /// directories both archives hold), shown before the files.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<PackageChange>,
}

/// How one installed distribution differs between two environments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum PackageChange {
    /// Only in `actual`.
    Added { name: String, version: String },
    /// Only in `expected`.
    Removed { name: String, version: String },
    /// Installed in both, at another version.
    Version {
        name: String,
        expected_version: String,
        actual_version: String,
    },
    /// The same version, but its installed files differ (its RECORD changed).
    Files { name: String, version: String },
}

/// One entry plus the format-specific metadata compared but not part of [`EntryInfo`]
/// (labelled values such as `("owner", "0:0")`).
#[derive(Debug, Clone)]
struct Item {
    info: EntryInfo,
    extra: Vec<(&'static str, String)>,
}

/// Every entry of one archive, and the facts about it as a whole.
#[derive(Debug, Clone)]
struct Listing {
    items: Vec<Item>,
    level: Summary,
}

/// Every entry of the archive at `path`, in archive order.
pub fn list_entries(path: &Path) -> Result<Vec<EntryInfo>, ExplainError> {
    let kind = sniff(path).map_err(|e| archive::io_error(path, e))?;
    let listing = read_listing(path, kind, &archive::LIMITS)?;
    Ok(listing.items.into_iter().map(|i| i.info).collect())
}

/// Reads and hashes every entry of the archive at `path`.
fn read_listing(path: &Path, kind: ArchiveKind, limits: &Limits) -> Result<Listing, ExplainError> {
    let options = Options {
        limits: *limits,
        ..Options::default()
    };
    let mut items = Vec::new();
    let level = archive::read(path, kind, &options, |entry| {
        let (sha256, size) = entry.hash()?;
        items.push(Item {
            info: EntryInfo {
                name: mem::take(&mut entry.name),
                index: entry.index,
                size,
                sha256,
                mode: entry.mode,
                mtime: entry.mtime.take(),
                compression: entry.compression.take(),
                compressed_size: entry.compressed_size,
                is_dir: entry.is_dir(),
                kind: entry.kind.label(),
            },
            extra: mem::take(&mut entry.extra),
        });
        Ok(())
    })?;
    Ok(Listing { items, level })
}
