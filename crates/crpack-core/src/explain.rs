//! Why two archives differ: `crpack verify` explains, entry by entry, how a rebuilt or shared
//! bundle differs from the one a template pinned.
//!
//! Both archives are read as streams: each entry is decompressed once, hashed while it is read
//! and dropped, so memory stays flat whatever the declared sizes. Nothing is extracted to disk;
//! entry names (even `../x` or absolute ones) are only compared as strings. Hostile input is
//! bounded: at most [`MAX_ENTRIES`] entries, [`MAX_UNCOMPRESSED_BYTES`] of decompressed data and
//! [`MAX_TOTAL_NAME_BYTES`] of names per archive; past those the reader stops with an error.
//!
//! Supported formats: zip, and gzip-compressed tar (e.g. `venv-pack` output). The kind is
//! decided by content, not by file name.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::mem;
use std::path::{Path, PathBuf};

use flate2::Crc;
use flate2::bufread::DeflateDecoder;
use serde::Serialize;
use zip::result::ZipError;
use zip::{CompressionMethod, ZipArchive};

use crate::digest::{Hasher, Sha256Digest};
use crate::text::escape;

/// At most this many entries are read from one archive.
pub const MAX_ENTRIES: usize = 200_000;
/// At most this many decompressed bytes are read from one archive (zip bombs stop here).
pub const MAX_UNCOMPRESSED_BYTES: u64 = 32 << 30;
/// At most this many bytes of entry names (and link targets, pax keys) are kept per archive.
pub const MAX_TOTAL_NAME_BYTES: u64 = 64 << 20;
/// A single entry name or link target may be at most this long.
pub const MAX_NAME_BYTES: u64 = 64 << 10;
/// A pax extended header may be at most this long.
const MAX_PAX_BYTES: u64 = 1 << 20;
/// Read buffer for entry data.
const READ_BUFFER: usize = 64 << 10;
/// Hex digits of a digest shown in the report.
const SHORT_HASH: usize = 12;
/// Characters of free text (comments, file names in headers) shown in the report.
const SHOWN_TEXT: usize = 80;

/// What kind of archive a file is (by content, not name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArchiveKind {
    Zip,
    /// A gzip-compressed tar (e.g. `venv-pack` output).
    TarGz,
    Other,
}

impl ArchiveKind {
    /// Short label: `zip`, `tar.gz` or `other`.
    pub fn label(self) -> &'static str {
        match self {
            ArchiveKind::Zip => "zip",
            ArchiveKind::TarGz => "tar.gz",
            ArchiveKind::Other => "other",
        }
    }

    /// For sentences: "a zip", "a gzip tar", "neither a zip nor a gzip tar".
    pub fn describe(self) -> &'static str {
        match self {
            ArchiveKind::Zip => "a zip",
            ArchiveKind::TarGz => "a gzip tar",
            ArchiveKind::Other => "neither a zip nor a gzip tar",
        }
    }
}

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

/// The distributions an environment's entry names show: normalized name → (name, version,
/// dist-info directory), from `…/site-packages/NAME-VERSION.dist-info/…`.
fn distributions<'a>(names: impl Iterator<Item = &'a str>) -> BTreeMap<String, (String, String, String)> {
    let mut out = BTreeMap::new();
    for name in names {
        let mut prefix_len = 0;
        for part in name.split('/') {
            if let Some(stem) = part.strip_suffix(".dist-info")
                && let Some((dist, version)) = stem.rsplit_once('-')
            {
                let dir = name[..prefix_len + part.len()].to_string();
                out.insert(
                    crate::venv::target::normalize_name(dist),
                    (dist.to_string(), version.to_string(), dir),
                );
                break;
            }
            prefix_len += part.len() + 1;
        }
    }
    out
}

/// Package-level changes between two environments, from their entry names and changes.
fn package_changes(expected: &[&str], actual: &[&str], changes: &[EntryChange]) -> Vec<PackageChange> {
    let e = distributions(expected.iter().copied());
    let a = distributions(actual.iter().copied());
    let mut out = Vec::new();
    let keys: BTreeSet<&String> = e.keys().chain(a.keys()).collect();
    for key in keys {
        match (e.get(key), a.get(key)) {
            (None, Some((name, version, _))) => out.push(PackageChange::Added {
                name: name.clone(),
                version: version.clone(),
            }),
            (Some((name, version, _)), None) => out.push(PackageChange::Removed {
                name: name.clone(),
                version: version.clone(),
            }),
            (Some((name, ev, _)), Some((_, av, _))) if ev != av => out.push(PackageChange::Version {
                name: name.clone(),
                expected_version: ev.clone(),
                actual_version: av.clone(),
            }),
            (Some((name, version, dir)), Some(_)) => {
                let record = format!("{dir}/RECORD");
                if changes.iter().any(|c| c.name() == record) {
                    out.push(PackageChange::Files {
                        name: name.clone(),
                        version: version.clone(),
                    });
                }
            }
            (None, None) => {}
        }
    }
    out
}

/// Why an archive could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    Io {
        path: PathBuf,
        source: io::Error,
    },
    NotAnArchive {
        path: PathBuf,
    },
    Corrupt {
        path: PathBuf,
        format: &'static str,
        reason: String,
    },
    Unsupported {
        path: PathBuf,
        format: &'static str,
        reason: String,
    },
    TooManyEntries {
        path: PathBuf,
        limit: usize,
    },
    TooLarge {
        path: PathBuf,
        what: &'static str,
        limit: u64,
    },
}

impl ExplainError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            ExplainError::Io { path, .. }
            | ExplainError::NotAnArchive { path }
            | ExplainError::Corrupt { path, .. }
            | ExplainError::Unsupported { path, .. }
            | ExplainError::TooManyEntries { path, .. }
            | ExplainError::TooLarge { path, .. } => path,
        }
    }

    /// What is wrong, without the path (for callers that name the file another way, e.g. by
    /// the S3 object a temporary file was downloaded from).
    pub fn reason(&self) -> String {
        match self {
            ExplainError::Io { source, .. } => source.to_string(),
            ExplainError::NotAnArchive { .. } => "not a zip or a gzip-compressed tar archive".to_string(),
            ExplainError::Corrupt { format, reason, .. } => format!("corrupt {format}: {reason}"),
            ExplainError::Unsupported { format, reason, .. } => {
                format!("cannot read this {format}: {reason}")
            }
            ExplainError::TooManyEntries { limit, .. } => {
                format!(
                    "more than {limit} entries; crpack stops reading there (a broken or hostile archive?)"
                )
            }
            ExplainError::TooLarge { what, limit, .. } => format!(
                "{what} exceed {limit} bytes; crpack stops reading there (a zip bomb or a hostile archive?)"
            ),
        }
    }
}

impl std::fmt::Display for ExplainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path().display(), self.reason())
    }
}

/// The bounds applied while reading one archive (the `MAX_*` constants; smaller in tests).
#[derive(Debug, Clone, Copy)]
struct Limits {
    entries: usize,
    bytes: u64,
    names: u64,
    name: u64,
}

const LIMITS: Limits = Limits {
    entries: MAX_ENTRIES,
    bytes: MAX_UNCOMPRESSED_BYTES,
    names: MAX_TOTAL_NAME_BYTES,
    name: MAX_NAME_BYTES,
};

// ---------------------------------------------------------------------------------------------
// Sniffing

/// What kind of archive `path` is, by content: a zip (local header or end-of-central-directory
/// record), a gzip stream whose first 512 decompressed bytes are a tar header (or an empty
/// tar), or something else.
pub fn sniff(path: &Path) -> io::Result<ArchiveKind> {
    let mut file = File::open(path)?;
    let mut head = [0u8; 4];
    let n = read_up_to(&mut file, &mut head)?;
    if n == 4 && &head[..2] == b"PK" && matches!(&head[2..], [3, 4] | [5, 6] | [7, 8]) {
        return Ok(ArchiveKind::Zip);
    }
    if n >= 3 && head[..3] == [0x1f, 0x8b, 8] {
        file.seek(SeekFrom::Start(0))?;
        if looks_like_tar_gz(BufReader::new(&mut file)) {
            return Ok(ArchiveKind::TarGz);
        }
        return Ok(ArchiveKind::Other);
    }
    // A zip with data in front of it (a self-extracting archive) still ends with an EOCD.
    if find_eocd(&mut file)?.is_some() {
        return Ok(ArchiveKind::Zip);
    }
    Ok(ArchiveKind::Other)
}

fn looks_like_tar_gz<R: BufRead>(mut reader: R) -> bool {
    if read_gzip_header(&mut reader).is_err() {
        return false;
    }
    let mut stream = GzMembers::new(reader);
    let mut block = [0u8; 512];
    match read_up_to(&mut stream, &mut block) {
        Ok(512) => block.iter().all(|b| *b == 0) || tar_checksum_ok(&block),
        _ => false,
    }
}

fn tar_checksum_ok(block: &[u8; 512]) -> bool {
    let header = tar::Header::from_byte_slice(block);
    let sum: u32 = block[..148]
        .iter()
        .chain(&block[156..])
        .map(|b| u32::from(*b))
        .sum::<u32>()
        + 8 * u32::from(b' ');
    header.cksum().is_ok_and(|c| c == sum)
}

/// Reads until `buf` is full or the reader ends; returns the bytes read.
fn read_up_to<R: Read + ?Sized>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The end-of-central-directory record: its offset and the declared number of entries (from
/// the zip64 record when there is one).
fn find_eocd<R: Read + Seek>(reader: &mut R) -> io::Result<Option<(u64, u64)>> {
    let len = reader.seek(SeekFrom::End(0))?;
    let tail_len = len.min(22 + 65_535);
    let tail_start = len - tail_len;
    reader.seek(SeekFrom::Start(tail_start))?;
    let mut tail = vec![0u8; tail_len as usize];
    reader.read_exact(&mut tail)?;
    let Some(pos) = (0..tail.len().saturating_sub(21)).rev().find(|&p| {
        tail[p..p + 4] == *b"PK\x05\x06"
            && p + 22 + usize::from(u16::from_le_bytes([tail[p + 20], tail[p + 21]])) <= tail.len()
    }) else {
        return Ok(None);
    };
    let eocd_offset = tail_start + pos as u64;
    let mut entries = u64::from(u16::from_le_bytes([tail[pos + 10], tail[pos + 11]]));
    // A zip64 locator sits right before the EOCD and points at the zip64 record.
    if pos >= 20 && tail[pos - 20..pos - 16] == *b"PK\x06\x07" {
        let at = pos - 20 + 8;
        let mut off = [0u8; 8];
        off.copy_from_slice(&tail[at..at + 8]);
        let record = u64::from_le_bytes(off);
        if record.checked_add(56).is_some_and(|end| end <= len) {
            reader.seek(SeekFrom::Start(record))?;
            let mut rec = [0u8; 56];
            reader.read_exact(&mut rec)?;
            if rec[..4] == *b"PK\x06\x06" {
                let mut n = [0u8; 8];
                n.copy_from_slice(&rec[32..40]);
                entries = entries.max(u64::from_le_bytes(n));
            }
        }
    }
    Ok(Some((eocd_offset, entries)))
}

// ---------------------------------------------------------------------------------------------
// Listing

/// One entry plus the format-specific metadata compared but not part of [`EntryInfo`]
/// (labelled values such as `("owner", "0:0")`).
#[derive(Debug, Clone)]
struct Item {
    info: EntryInfo,
    extra: Vec<(&'static str, String)>,
}

/// A free-text or binary header field: its first bytes, its length and its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
    head: Vec<u8>,
    len: u64,
    digest: Sha256Digest,
}

impl Field {
    fn new(bytes: &[u8]) -> Self {
        let mut head = bytes.to_vec();
        head.truncate(SHOWN_TEXT);
        Field {
            head,
            len: bytes.len() as u64,
            digest: Sha256Digest::of(bytes),
        }
    }

    fn text(&self) -> String {
        let shown = String::from_utf8_lossy(&self.head);
        if (self.head.len() as u64) < self.len {
            format!("{shown:?}… ({} bytes)", self.len)
        } else {
            format!("{shown:?}")
        }
    }

    fn binary(&self) -> String {
        format!("{} bytes ({})", self.len, self.digest.short(8))
    }
}

fn show_text(field: &Option<Field>) -> String {
    field.as_ref().map_or_else(|| "none".to_string(), Field::text)
}

/// A gzip member header.
#[derive(Debug, Clone, PartialEq, Eq)]
struct GzHeader {
    mtime: u32,
    xfl: u8,
    os: u8,
    name: Option<Field>,
    comment: Option<Field>,
    extra: Option<Field>,
    header_crc: bool,
}

#[derive(Debug, Clone)]
enum Level {
    Zip {
        comment: Field,
        offset: u64,
        duplicate_names: bool,
    },
    TarGz {
        header: GzHeader,
        members: usize,
        trailing: u64,
        trailing_nonzero: bool,
        tar_digest: Sha256Digest,
        padding: u64,
        data_after_end: bool,
    },
}

#[derive(Debug, Clone)]
struct Listing {
    items: Vec<Item>,
    level: Level,
}

/// Every entry of the archive at `path`, in archive order.
pub fn list_entries(path: &Path) -> Result<Vec<EntryInfo>, ExplainError> {
    let kind = sniff(path).map_err(|e| io_error(path, e))?;
    let listing = read_listing(path, kind, &LIMITS)?;
    Ok(listing.items.into_iter().map(|i| i.info).collect())
}

fn read_listing(path: &Path, kind: ArchiveKind, limits: &Limits) -> Result<Listing, ExplainError> {
    match kind {
        ArchiveKind::Zip => read_zip(path, limits),
        ArchiveKind::TarGz => read_tar_gz(path, limits),
        ArchiveKind::Other => Err(ExplainError::NotAnArchive {
            path: path.to_path_buf(),
        }),
    }
}

fn io_error(path: &Path, source: io::Error) -> ExplainError {
    ExplainError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A read error while parsing: bad data is corruption; anything else (permissions, a failing
/// disk) stays an I/O error.
fn read_error(path: &Path, format: &'static str, e: io::Error) -> ExplainError {
    match e.kind() {
        io::ErrorKind::InvalidData
        | io::ErrorKind::InvalidInput
        | io::ErrorKind::UnexpectedEof
        | io::ErrorKind::Other => corrupt(path, format, e.to_string()),
        _ => io_error(path, e),
    }
}

fn corrupt(path: &Path, format: &'static str, reason: impl Into<String>) -> ExplainError {
    ExplainError::Corrupt {
        path: path.to_path_buf(),
        format,
        reason: reason.into(),
    }
}

fn unsupported(path: &Path, format: &'static str, reason: impl Into<String>) -> ExplainError {
    ExplainError::Unsupported {
        path: path.to_path_buf(),
        format,
        reason: reason.into(),
    }
}

fn too_many(path: &Path, limit: usize) -> ExplainError {
    ExplainError::TooManyEntries {
        path: path.to_path_buf(),
        limit,
    }
}

fn too_large(path: &Path, what: &'static str, limit: u64) -> ExplainError {
    ExplainError::TooLarge {
        path: path.to_path_buf(),
        what,
        limit,
    }
}

/// Charges `n` bytes of names against the archive's budget.
fn charge_names(path: &Path, left: &mut u64, n: usize, limits: &Limits) -> Result<(), ExplainError> {
    let n = n as u64;
    if n > *left {
        return Err(too_large(path, "the entry names", limits.names));
    }
    *left -= n;
    Ok(())
}

/// Hashes a reader to its end with `buf`, charging the bytes to `remaining`; keeps the first
/// `keep` bytes. `Ok(None)` when `remaining` runs out.
fn hash_entry<R: Read + ?Sized>(
    reader: &mut R,
    buf: &mut [u8],
    remaining: &mut u64,
    keep: usize,
) -> io::Result<Option<(Sha256Digest, u64, Vec<u8>)>> {
    let mut hasher = Hasher::new();
    let mut head = Vec::new();
    loop {
        let n = match reader.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n as u64 > *remaining {
            return Ok(None);
        }
        *remaining -= n as u64;
        let chunk = &buf[..n];
        if head.len() < keep {
            let take = (keep - head.len()).min(n);
            head.extend_from_slice(&chunk[..take]);
        }
        hasher.update(chunk);
    }
    let (digest, len) = hasher.finish();
    Ok(Some((digest, len, head)))
}

// ---------------------------------------------------------------------------------------------
// Zip

const S_IFMT: u32 = 0o170_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;

fn dos_time(dt: zip::DateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

fn method_name(method: CompressionMethod) -> String {
    let name = method.to_string();
    if name == "Unknown" {
        #[allow(deprecated)]
        let number = match method {
            CompressionMethod::Unsupported(n) => n,
            _ => u16::MAX,
        };
        format!("method {number}")
    } else {
        name.to_lowercase()
    }
}

fn extra_fields_value(fields: &[&zip::ExtraField]) -> String {
    if fields.is_empty() {
        return "none".to_string();
    }
    let names: Vec<String> = fields
        .iter()
        .map(|f| match f {
            zip::ExtraField::Ntfs(_) => "NTFS".to_string(),
            zip::ExtraField::ExtendedTimestamp(_) => "UT".to_string(),
            zip::ExtraField::Zip64ExtendedInformation(_) => "zip64".to_string(),
            zip::ExtraField::UnicodeComment(_) => "unicode comment".to_string(),
            zip::ExtraField::UnicodePath(_) => "unicode path".to_string(),
            zip::ExtraField::DataStreamAlignment(_) => "alignment".to_string(),
            zip::ExtraField::Custom(c) => format!("0x{:04x}", c.header_id),
            _ => "other".to_string(),
        })
        .collect();
    let debug = format!("{fields:?}");
    format!(
        "{} ({})",
        names.join(","),
        Sha256Digest::of(debug.as_bytes()).short(8)
    )
}

fn zip_error(path: &Path, index: usize, name: &str, e: ZipError) -> ExplainError {
    let what = if name.is_empty() {
        format!("entry {index}")
    } else {
        format!("entry {index} ({name:?})")
    };
    match e {
        ZipError::UnsupportedArchive(reason) => unsupported(path, "zip", format!("{what}: {reason}")),
        ZipError::Io(e)
            if !matches!(
                e.kind(),
                io::ErrorKind::InvalidData
                    | io::ErrorKind::InvalidInput
                    | io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::Other
            ) =>
        {
            io_error(path, e)
        }
        other => corrupt(path, "zip", format!("{what}: {other}")),
    }
}

fn read_zip(path: &Path, limits: &Limits) -> Result<Listing, ExplainError> {
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let mut reader = BufReader::new(file);
    // Check the declared entry count before the zip crate parses the central directory.
    if let Some((_, declared)) = find_eocd(&mut reader).map_err(|e| read_error(path, "zip", e))?
        && declared > limits.entries as u64
    {
        return Err(too_many(path, limits.entries));
    }
    reader.seek(SeekFrom::Start(0)).map_err(|e| io_error(path, e))?;
    let mut zip = ZipArchive::new(reader).map_err(|e| match e {
        ZipError::Io(e) => read_error(path, "zip", e),
        ZipError::UnsupportedArchive(reason) => unsupported(path, "zip", reason),
        other => corrupt(path, "zip", other.to_string()),
    })?;
    if zip.len() > limits.entries {
        return Err(too_many(path, limits.entries));
    }
    let level = Level::Zip {
        comment: Field::new(zip.comment()),
        offset: zip.offset(),
        duplicate_names: zip.has_duplicate_names(),
    };
    let mut names_left = limits.names;
    let mut bytes_left = limits.bytes;
    let mut buf = vec![0u8; READ_BUFFER];
    let mut items = Vec::with_capacity(zip.len());
    for index in 0..zip.len() {
        let raw_name = zip
            .name_for_index(index)
            .and_then(Result::ok)
            .map(|n| n.into_owned())
            .unwrap_or_default();
        let mut file = zip
            .by_index(index)
            .map_err(|e| zip_error(path, index, &raw_name, e))?;
        let name = match file.name() {
            Ok(n) => n.into_owned(),
            Err(_) => String::from_utf8_lossy(file.name_raw()).into_owned(),
        };
        charge_names(path, &mut names_left, name.len(), limits)?;
        let unix = file.unix_mode();
        let file_type = unix.map_or(0, |m| m & S_IFMT);
        let is_symlink = file_type == S_IFLNK;
        let is_dir = file.is_dir() || file_type == S_IFDIR;
        let is_other = !matches!(file_type, 0 | S_IFDIR | S_IFREG | S_IFLNK);
        let (major, minor) = file.version_made_by();
        let system = format!("{:?}", file.system()).to_lowercase();
        let extra_fields: Vec<&zip::ExtraField> = file.extra_data_fields().collect();
        let extra = vec![
            ("made by", format!("{system} {major}.{minor}")),
            ("flags", format!("0x{:04x}", file.flags().as_u16())),
            (
                "external attributes",
                format!("0x{:08x}", file.external_attributes()),
            ),
            ("extra fields", extra_fields_value(&extra_fields)),
            ("entry comment", {
                let c = file.comment_raw();
                if c.is_empty() {
                    "none".to_string()
                } else {
                    Field::new(c).text()
                }
            }),
        ];
        // For zips made on DOS/Windows the zip crate synthesises a mode from the attribute byte;
        // only a Unix "made by" stores real permission bits.
        let mode = unix
            .filter(|_| file.system() == zip::System::Unix)
            .map(|m| m & 0o7777);
        let mtime = file.last_modified().map(dos_time);
        let compression = Some(method_name(file.compression()));
        let compressed_size = Some(file.compressed_size());
        let keep = if is_symlink { MAX_NAME_BYTES as usize } else { 0 };
        let Some((sha256, size, head)) =
            hash_entry(&mut file, &mut buf, &mut bytes_left, keep).map_err(|e| {
                let e = io::Error::new(e.kind(), format!("entry {index} ({name:?}): {e}"));
                read_error(path, "zip", e)
            })?
        else {
            return Err(too_large(path, "the uncompressed entries", limits.bytes));
        };
        let kind = if is_dir {
            "dir".to_string()
        } else if is_symlink {
            charge_names(path, &mut names_left, head.len(), limits)?;
            format!("symlink -> {}", String::from_utf8_lossy(&head))
        } else if is_other {
            "other".to_string()
        } else {
            "file".to_string()
        };
        items.push(Item {
            info: EntryInfo {
                name,
                index,
                size,
                sha256,
                mode,
                mtime,
                compression,
                compressed_size,
                is_dir,
                kind,
            },
            extra,
        });
    }
    Ok(Listing { items, level })
}

// ---------------------------------------------------------------------------------------------
// Gzip

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// Reads a zero-terminated header field, keeping at most `SHOWN_TEXT` bytes but hashing all.
fn read_cstring<R: BufRead>(reader: &mut R) -> io::Result<Field> {
    let mut head = Vec::new();
    let mut hasher = Hasher::new();
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the gzip header ends inside a zero-terminated field",
            ));
        }
        let (part, done) = match buf.iter().position(|b| *b == 0) {
            Some(p) => (&buf[..p], true),
            None => (buf, false),
        };
        hasher.update(part);
        if head.len() < SHOWN_TEXT {
            let take = (SHOWN_TEXT - head.len()).min(part.len());
            head.extend_from_slice(&part[..take]);
        }
        let used = part.len() + usize::from(done);
        reader.consume(used);
        if done {
            let (digest, len) = hasher.finish();
            return Ok(Field { head, len, digest });
        }
    }
}

/// Parses one gzip member header (RFC 1952), leaving `reader` at the deflate data.
fn read_gzip_header<R: BufRead>(reader: &mut R) -> io::Result<GzHeader> {
    let mut fixed = [0u8; 10];
    reader.read_exact(&mut fixed)?;
    if fixed[..2] != [0x1f, 0x8b] {
        return Err(invalid("not a gzip member (bad magic bytes)"));
    }
    if fixed[2] != 8 {
        return Err(invalid(format!(
            "gzip compression method {} is not deflate",
            fixed[2]
        )));
    }
    let flags = fixed[3];
    if flags & 0xe0 != 0 {
        return Err(invalid("reserved gzip header flags are set"));
    }
    let mtime = u32::from_le_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
    let extra = if flags & 0x04 != 0 {
        let mut len = [0u8; 2];
        reader.read_exact(&mut len)?;
        let mut data = vec![0u8; usize::from(u16::from_le_bytes(len))];
        reader.read_exact(&mut data)?;
        Some(Field::new(&data))
    } else {
        None
    };
    let name = if flags & 0x08 != 0 {
        Some(read_cstring(reader)?)
    } else {
        None
    };
    let comment = if flags & 0x10 != 0 {
        Some(read_cstring(reader)?)
    } else {
        None
    };
    let header_crc = flags & 0x02 != 0;
    if header_crc {
        let mut crc = [0u8; 2];
        reader.read_exact(&mut crc)?;
    }
    Ok(GzHeader {
        mtime,
        xfl: fixed[8],
        os: fixed[9],
        name,
        comment,
        extra,
        header_crc,
    })
}

enum GzState<R> {
    Body(Box<DeflateDecoder<R>>, Crc),
    Between(R),
    Done,
    Failed,
}

/// The decompressed data of every gzip member in a row; bytes after the last member that do
/// not start another member are counted as trailing data. The first header must already have
/// been read.
struct GzMembers<R> {
    state: GzState<R>,
    members: usize,
    trailing: u64,
    trailing_nonzero: bool,
}

impl<R: BufRead> GzMembers<R> {
    fn new(reader: R) -> Self {
        GzMembers {
            state: GzState::Body(Box::new(DeflateDecoder::new(reader)), Crc::new()),
            members: 1,
            trailing: 0,
            trailing_nonzero: false,
        }
    }
}

impl<R: BufRead> Read for GzMembers<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            match mem::replace(&mut self.state, GzState::Failed) {
                GzState::Body(mut decoder, mut crc) => {
                    let n = decoder.read(out)?;
                    if n > 0 {
                        crc.update(&out[..n]);
                        self.state = GzState::Body(decoder, crc);
                        return Ok(n);
                    }
                    let mut reader = decoder.into_inner();
                    let mut trailer = [0u8; 8];
                    reader.read_exact(&mut trailer).map_err(|_| {
                        io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the gzip data is truncated (no CRC trailer)",
                        )
                    })?;
                    let sum = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
                    let size = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
                    if sum != crc.sum() || size != crc.amount() {
                        return Err(invalid("gzip CRC or length mismatch"));
                    }
                    self.state = GzState::Between(reader);
                }
                GzState::Between(mut reader) => {
                    let next = reader.fill_buf()?.first().copied();
                    match next {
                        None => {
                            self.state = GzState::Done;
                            return Ok(0);
                        }
                        Some(0x1f) => {
                            read_gzip_header(&mut reader)?;
                            self.members += 1;
                            self.state = GzState::Body(Box::new(DeflateDecoder::new(reader)), Crc::new());
                        }
                        Some(_) => {
                            loop {
                                let buf = reader.fill_buf()?;
                                if buf.is_empty() {
                                    break;
                                }
                                self.trailing_nonzero |= buf.iter().any(|b| *b != 0);
                                self.trailing += buf.len() as u64;
                                let n = buf.len();
                                reader.consume(n);
                            }
                            self.state = GzState::Done;
                            return Ok(0);
                        }
                    }
                }
                GzState::Done => {
                    self.state = GzState::Done;
                    return Ok(0);
                }
                GzState::Failed => return Err(invalid("the gzip stream failed earlier")),
            }
        }
    }
}

/// Counts, hashes and bounds the decompressed tar stream.
struct Counted<R> {
    inner: R,
    hasher: Hasher,
    limit: u64,
    exceeded: bool,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.exceeded {
            return Err(io::Error::other("decompressed size limit exceeded"));
        }
        let n = self.inner.read(out)?;
        self.hasher.update(&out[..n]);
        if self.hasher.len() > self.limit {
            self.exceeded = true;
            return Err(io::Error::other("decompressed size limit exceeded"));
        }
        Ok(n)
    }
}

// ---------------------------------------------------------------------------------------------
// Tar

fn rfc3339(secs: i64, fraction: &str) -> String {
    match time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
    {
        Some(text) => match (fraction.is_empty(), text.strip_suffix('Z')) {
            (false, Some(base)) => format!("{base}.{fraction}Z"),
            _ => text,
        },
        None => format!("@{secs}{}", if fraction.is_empty() { "" } else { "." }) + fraction,
    }
}

/// A pax `mtime` value (`seconds[.fraction]`) as RFC 3339.
fn pax_time(value: &str) -> Option<String> {
    let (secs, fraction) = value.split_once('.').unwrap_or((value, ""));
    let secs: i64 = secs.parse().ok()?;
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(rfc3339(secs, fraction.trim_end_matches('0')))
}

fn strip_nuls(mut bytes: Vec<u8>) -> Vec<u8> {
    while bytes.last() == Some(&0) {
        bytes.pop();
    }
    bytes
}

/// Extension headers seen before the entry they describe.
#[derive(Default)]
struct Pending {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Option<Vec<u8>>,
}

/// Reads an extension header's data, refusing more than `cap` bytes.
fn read_extension<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    cap: u64,
    what: &str,
    path: &Path,
) -> Result<Vec<u8>, ExplainError> {
    if entry.size() > cap {
        return Err(corrupt(
            path,
            "tar.gz",
            format!("a {what} of {} bytes (more than {cap})", entry.size()),
        ));
    }
    let mut data = Vec::new();
    entry
        .take(cap)
        .read_to_end(&mut data)
        .map_err(|e| read_error(path, "tar.gz", e))?;
    Ok(data)
}

struct TarRead {
    items: Vec<Item>,
    data_end: u64,
}

fn read_tar_entries<R: Read>(
    archive: &mut tar::Archive<R>,
    path: &Path,
    limits: &Limits,
) -> Result<TarRead, ExplainError> {
    let tar_err = |e: io::Error| read_error(path, "tar.gz", e);
    let mut names_left = limits.names;
    let mut no_limit = u64::MAX;
    let mut buf = vec![0u8; READ_BUFFER];
    let mut items = Vec::new();
    let mut pending = Pending::default();
    let mut raw_count = 0usize;
    let mut data_end = 0u64;
    for entry in archive.entries().map_err(tar_err)?.raw(true) {
        let mut entry = entry.map_err(tar_err)?;
        raw_count += 1;
        if raw_count > limits.entries.saturating_mul(4) {
            return Err(too_many(path, limits.entries));
        }
        let header = entry.header().clone();
        let size = entry.size();
        data_end = entry
            .raw_file_position()
            .saturating_add(size.saturating_add(511) & !511);
        let entry_type = header.entry_type();
        if entry_type.is_gnu_longname() || entry_type.is_gnu_longlink() {
            let is_name = entry_type.is_gnu_longname();
            let slot = if is_name {
                &mut pending.long_name
            } else {
                &mut pending.long_link
            };
            if slot.is_some() {
                return Err(corrupt(path, "tar.gz", "two GNU long names for one entry"));
            }
            let what = if is_name {
                "GNU long name"
            } else {
                "GNU long link name"
            };
            *slot = Some(strip_nuls(read_extension(&mut entry, limits.name, what, path)?));
            continue;
        }
        if entry_type.is_pax_local_extensions() {
            if pending.pax.is_some() {
                return Err(corrupt(path, "tar.gz", "two pax headers for one entry"));
            }
            pending.pax = Some(read_extension(&mut entry, MAX_PAX_BYTES, "pax header", path)?);
            continue;
        }
        if entry_type.is_pax_global_extensions() {
            continue;
        }
        if entry_type.is_gnu_sparse() {
            return Err(unsupported(
                path,
                "tar.gz",
                "GNU sparse entries are not supported",
            ));
        }
        if items.len() >= limits.entries {
            return Err(too_many(path, limits.entries));
        }
        let Pending {
            long_name,
            long_link,
            pax,
        } = mem::take(&mut pending);
        let mut pax_path = None;
        let mut pax_link = None;
        let mut pax_mtime = None;
        let mut pax_keys = Vec::new();
        if let Some(pax) = &pax {
            for record in tar::PaxExtensions::new(pax) {
                let record = record.map_err(tar_err)?;
                let key = String::from_utf8_lossy(record.key_bytes()).into_owned();
                match key.as_str() {
                    "path" => pax_path = Some(record.value_bytes().to_vec()),
                    "linkpath" => pax_link = Some(record.value_bytes().to_vec()),
                    "mtime" => pax_mtime = Some(String::from_utf8_lossy(record.value_bytes()).into_owned()),
                    "size" => {
                        let declared = record.value().ok().and_then(|v| v.parse::<u64>().ok());
                        if declared != Some(size) {
                            return Err(unsupported(
                                path,
                                "tar.gz",
                                "a pax header overrides an entry's size, which crpack does not support",
                            ));
                        }
                    }
                    _ => {}
                }
                pax_keys.push(key);
            }
        }
        for long in [&pax_path, &pax_link] {
            if long.as_ref().is_some_and(|p| p.len() as u64 > limits.name) {
                return Err(corrupt(path, "tar.gz", "a pax path longer than the limit"));
            }
        }
        let (used_long_name, used_long_link) = (long_name.is_some(), long_link.is_some());
        let name_bytes = long_name
            .or(pax_path)
            .unwrap_or_else(|| header.path_bytes().into_owned());
        let name = String::from_utf8_lossy(&name_bytes).into_owned();
        charge_names(path, &mut names_left, name.len(), limits)?;
        let link = long_link
            .or(pax_link)
            .or_else(|| header.link_name_bytes().map(|l| l.into_owned()))
            .map(|l| String::from_utf8_lossy(&l).into_owned())
            .unwrap_or_default();
        let kind = if entry_type.is_dir() {
            "dir".to_string()
        } else if entry_type.is_file() || entry_type.is_contiguous() {
            "file".to_string()
        } else if entry_type.is_symlink() {
            charge_names(path, &mut names_left, link.len(), limits)?;
            format!("symlink -> {link}")
        } else if entry_type.is_hard_link() {
            charge_names(path, &mut names_left, link.len(), limits)?;
            format!("hardlink -> {link}")
        } else {
            "other".to_string()
        };
        let mode = header.mode().map_err(tar_err)? & 0o7777;
        let mtime = match pax_mtime.as_deref().and_then(pax_time) {
            Some(t) => t,
            None => {
                let secs = header.mtime().map_err(tar_err)?;
                rfc3339(i64::try_from(secs).unwrap_or(i64::MAX), "")
            }
        };
        let owner = format!(
            "{}:{}",
            header.uid().map_or_else(|_| "?".to_string(), |u| u.to_string()),
            header.gid().map_or_else(|_| "?".to_string(), |g| g.to_string())
        );
        let owner_names = format!(
            "{}:{}",
            String::from_utf8_lossy(header.username_bytes().unwrap_or_default()),
            String::from_utf8_lossy(header.groupname_bytes().unwrap_or_default())
        );
        let format = if header.as_ustar().is_some() {
            "ustar"
        } else if header.as_gnu().is_some() {
            "gnu"
        } else {
            "v7"
        };
        let mut extensions = Vec::new();
        if pax.is_some() {
            extensions.push(format!("pax({})", pax_keys.join(",")));
        }
        if used_long_name {
            extensions.push("GNU long name".to_string());
        }
        if used_long_link {
            extensions.push("GNU long link".to_string());
        }
        let extensions = if extensions.is_empty() {
            "none".to_string()
        } else {
            extensions.join(", ")
        };
        charge_names(path, &mut names_left, extensions.len(), limits)?;
        let Some((sha256, read, _)) = hash_entry(&mut entry, &mut buf, &mut no_limit, 0).map_err(|e| {
            let e = io::Error::new(e.kind(), format!("entry {name:?}: {e}"));
            tar_err(e)
        })?
        else {
            return Err(too_large(path, "the uncompressed entries", limits.bytes));
        };
        let index = items.len();
        items.push(Item {
            info: EntryInfo {
                name,
                index,
                size: read,
                sha256,
                mode: Some(mode),
                mtime: Some(mtime),
                compression: None,
                compressed_size: None,
                is_dir: entry_type.is_dir(),
                kind,
            },
            extra: vec![
                ("owner", owner),
                ("owner names", owner_names),
                ("header format", format.to_string()),
                ("extension headers", extensions),
            ],
        });
    }
    if pending.long_name.is_some() || pending.long_link.is_some() || pending.pax.is_some() {
        return Err(corrupt(
            path,
            "tar.gz",
            "an extension header at the end describes no entry",
        ));
    }
    Ok(TarRead { items, data_end })
}

fn read_tar_gz(path: &Path, limits: &Limits) -> Result<Listing, ExplainError> {
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let mut reader = BufReader::new(file);
    let header = read_gzip_header(&mut reader).map_err(|e| read_error(path, "tar.gz", e))?;
    let counted = Counted {
        inner: GzMembers::new(reader),
        hasher: Hasher::new(),
        limit: limits.bytes,
        exceeded: false,
    };
    let mut archive = tar::Archive::new(counted);
    let result = read_tar_entries(&mut archive, path, limits);
    let mut counted = archive.into_inner();
    if counted.exceeded {
        return Err(too_large(path, "the uncompressed entries", limits.bytes));
    }
    let TarRead { items, data_end } = result?;
    // Drain what follows the end-of-archive marker (padding, or data a tar reader ignores).
    let mut data_after_end = false;
    let mut buf = vec![0u8; READ_BUFFER];
    loop {
        let n = match counted.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) if counted.exceeded => {
                return Err(too_large(path, "the uncompressed entries", limits.bytes));
            }
            Err(e) => return Err(read_error(path, "tar.gz", e)),
        };
        // The first block after the entries was read by the tar reader and is all zeros.
        data_after_end |= buf[..n].iter().any(|b| *b != 0);
    }
    let Counted { inner, hasher, .. } = counted;
    let (tar_digest, tar_len) = hasher.finish();
    Ok(Listing {
        items,
        level: Level::TarGz {
            header,
            members: inner.members,
            trailing: inner.trailing,
            trailing_nonzero: inner.trailing_nonzero,
            tar_digest,
            padding: tar_len.saturating_sub(data_end),
            data_after_end,
        },
    })
}

// ---------------------------------------------------------------------------------------------
// Diffing

/// Labels of metadata differences, in the order they are listed.
const LABELS: &[&str] = &[
    "mtime",
    "mode",
    "compression",
    "compressed size",
    "position",
    "kind",
    "is_dir",
    "made by",
    "flags",
    "external attributes",
    "extra fields",
    "entry comment",
    "owner",
    "owner names",
    "header format",
    "extension headers",
];

fn opt<T: ToString>(value: &Option<T>) -> String {
    value
        .as_ref()
        .map_or_else(|| "none".to_string(), ToString::to_string)
}

fn opt_mode(mode: Option<u32>) -> String {
    mode.map_or_else(|| "none".to_string(), |m| format!("{m:04o}"))
}

/// Compares `expected` (e.g. the pinned or downloaded artifact) with `actual` (rebuilt or
/// shared), entry by entry.
pub fn diff_archives(expected: &Path, actual: &Path) -> Result<ArchiveDiff, ExplainError> {
    diff_with(expected, actual, &LIMITS)
}

fn diff_with(expected: &Path, actual: &Path, limits: &Limits) -> Result<ArchiveDiff, ExplainError> {
    let expected_kind = sniff(expected).map_err(|e| io_error(expected, e))?;
    let actual_kind = sniff(actual).map_err(|e| io_error(actual, e))?;
    if expected_kind != actual_kind || expected_kind == ArchiveKind::Other {
        return formats_differ(expected, actual, expected_kind, actual_kind);
    }
    let e = read_listing(expected, expected_kind, limits)?;
    let a = read_listing(actual, actual_kind, limits)?;
    let mut diff = compare(&e, &a);
    diff.expected_kind = expected_kind.label().to_string();
    diff.actual_kind = actual_kind.label().to_string();
    if diff.changes.is_empty() && diff.archive_level.is_empty() && !diff.order_differs {
        let (ed, _) = Sha256Digest::of_file(expected).map_err(|err| io_error(expected, err))?;
        let (ad, _) = Sha256Digest::of_file(actual).map_err(|err| io_error(actual, err))?;
        if ed != ad {
            diff.archive_level.push(unexplained(&e.level, &a.level));
        }
    }
    diff.summary = summary(&diff);
    Ok(diff)
}

/// The line for files that differ although every compared entry and field matches.
fn unexplained(expected: &Level, actual: &Level) -> String {
    match (expected, actual) {
        (Level::TarGz { tar_digest: e, .. }, Level::TarGz { tar_digest: a, .. }) if e == a => {
            "the uncompressed tar streams are identical; only the compressed data differs \
                        (compression level or deflate implementation)"
                .to_string()
        }
        (Level::TarGz { .. }, _) => "the tar streams differ in header fields crpack does not compare \
                                     (device numbers, number encodings, padding inside headers)"
            .to_string(),
        _ => "the entries and their compared metadata match; the zip files differ in bytes \
              crpack does not compare (local headers, data descriptors, central directory layout)"
            .to_string(),
    }
}

fn formats_differ(
    expected: &Path,
    actual: &Path,
    expected_kind: ArchiveKind,
    actual_kind: ArchiveKind,
) -> Result<ArchiveDiff, ExplainError> {
    let mut archive_level = Vec::new();
    let summary = if expected_kind == actual_kind {
        let (ed, es) = Sha256Digest::of_file(expected).map_err(|e| io_error(expected, e))?;
        let (ad, asz) = Sha256Digest::of_file(actual).map_err(|e| io_error(actual, e))?;
        archive_level
            .push("neither file is a zip or a gzip tar; they cannot be compared entry by entry".to_string());
        if ed == ad {
            archive_level.push("the files are byte-identical".to_string());
        } else {
            archive_level.push(format!(
                "the files differ: {es} → {asz} bytes, sha256 {} → {}",
                ed.short(SHORT_HASH),
                ad.short(SHORT_HASH)
            ));
        }
        "not archives: no entries compared".to_string()
    } else {
        archive_level.push(format!(
            "expected is {}, actual is {}",
            expected_kind.describe(),
            actual_kind.describe()
        ));
        format!(
            "different archive formats ({} → {}): no entries compared",
            expected_kind.label(),
            actual_kind.label()
        )
    };
    Ok(ArchiveDiff {
        expected_kind: expected_kind.label().to_string(),
        actual_kind: actual_kind.label().to_string(),
        changes: Vec::new(),
        identical_entries: 0,
        summary,
        order_differs: false,
        archive_level,
        packages: Vec::new(),
    })
}

/// Names → the last entry of that name; and the names seen more than once.
fn by_name(items: &[Item]) -> (HashMap<&str, &Item>, BTreeSet<&str>) {
    let mut map = HashMap::with_capacity(items.len());
    let mut duplicates = BTreeSet::new();
    for item in items {
        if map.insert(item.info.name.as_str(), item).is_some() {
            duplicates.insert(item.info.name.as_str());
        }
    }
    (map, duplicates)
}

/// The rank of each entry of `map` among the entries whose names `other` also holds.
fn common_order<'a>(
    map: &HashMap<&'a str, &'a Item>,
    other: &HashMap<&'a str, &'a Item>,
) -> HashMap<&'a str, usize> {
    let mut common: Vec<&Item> = map
        .values()
        .filter(|i| other.contains_key(i.info.name.as_str()))
        .copied()
        .collect();
    common.sort_by_key(|i| i.info.index);
    common
        .into_iter()
        .enumerate()
        .map(|(rank, i)| (i.info.name.as_str(), rank))
        .collect()
}

fn compare(e: &Listing, a: &Listing) -> ArchiveDiff {
    let mut archive_level = level_differences(&e.level, &a.level);
    let (emap, edups) = by_name(&e.items);
    let (amap, adups) = by_name(&a.items);
    for (side, dups) in [("expected", &edups), ("actual", &adups)] {
        if let Some(first) = dups.iter().next() {
            archive_level.push(format!(
                "{side} has {} entry name(s) more than once (e.g. {first:?}); the last of each is compared",
                dups.len()
            ));
        }
    }
    // Relative order of the names both hold.
    let erank = common_order(&emap, &amap);
    let arank = common_order(&amap, &emap);
    let order_differs = erank.iter().any(|(name, r)| arank.get(name) != Some(r));

    let names: BTreeSet<&str> = emap.keys().chain(amap.keys()).copied().collect();
    let expected_names: Vec<&str> = emap.keys().copied().collect();
    let actual_names: Vec<&str> = amap.keys().copied().collect();
    let mut changes = Vec::new();
    let mut identical_entries = 0;
    for name in names {
        match (emap.get(name), amap.get(name)) {
            (None, Some(a)) => changes.push(EntryChange::Added {
                name: name.to_string(),
                size: a.info.size,
                sha256: a.info.sha256,
            }),
            (Some(e), None) => changes.push(EntryChange::Removed {
                name: name.to_string(),
                size: e.info.size,
                sha256: e.info.sha256,
            }),
            (Some(e), Some(a)) => {
                if e.info.sha256 != a.info.sha256 || e.info.size != a.info.size {
                    changes.push(EntryChange::Changed {
                        name: name.to_string(),
                        expected_size: e.info.size,
                        actual_size: a.info.size,
                        expected_sha256: e.info.sha256,
                        actual_sha256: a.info.sha256,
                    });
                    continue;
                }
                let moved = erank.get(name) != arank.get(name);
                let differences = metadata_differences(e, a, moved);
                if differences.is_empty() {
                    identical_entries += 1;
                } else {
                    changes.push(EntryChange::MetadataOnly {
                        name: name.to_string(),
                        differences,
                    });
                }
            }
            (None, None) => {}
        }
    }
    let packages = package_changes(&expected_names, &actual_names, &changes);
    ArchiveDiff {
        expected_kind: String::new(),
        actual_kind: String::new(),
        changes,
        identical_entries,
        summary: String::new(),
        order_differs,
        archive_level,
        packages,
    }
}

fn metadata_differences(e: &Item, a: &Item, moved: bool) -> Vec<String> {
    let (ei, ai) = (&e.info, &a.info);
    let mut out = Vec::new();
    if ei.mtime != ai.mtime {
        out.push(format!("mtime {} → {}", opt(&ei.mtime), opt(&ai.mtime)));
    }
    if ei.mode != ai.mode {
        out.push(format!("mode {} → {}", opt_mode(ei.mode), opt_mode(ai.mode)));
    }
    if ei.compression != ai.compression {
        out.push(format!(
            "compression {} → {}",
            opt(&ei.compression),
            opt(&ai.compression)
        ));
    }
    if ei.compressed_size != ai.compressed_size {
        out.push(format!(
            "compressed size {} → {}",
            opt(&ei.compressed_size),
            opt(&ai.compressed_size)
        ));
    }
    if moved {
        out.push(format!("position {} → {}", ei.index, ai.index));
    }
    if ei.kind != ai.kind {
        out.push(format!("kind {} → {}", ei.kind, ai.kind));
    } else if ei.is_dir != ai.is_dir {
        out.push(format!("is_dir {} → {}", ei.is_dir, ai.is_dir));
    }
    for (label, ev) in &e.extra {
        // The external attributes hold the mode; report them only when the mode is not the story.
        if *label == "external attributes" && ei.mode != ai.mode {
            continue;
        }
        let av = a
            .extra
            .iter()
            .find(|(l, _)| l == label)
            .map_or("none", |(_, v)| v.as_str());
        if ev != av {
            out.push(format!("{label} {ev} → {av}"));
        }
    }
    out
}

fn os_name(os: u8) -> &'static str {
    match os {
        0 => "FAT",
        1 => "Amiga",
        2 => "VMS",
        3 => "Unix",
        4 => "VM/CMS",
        5 => "Atari TOS",
        6 => "HPFS",
        7 => "Macintosh",
        8 => "Z-System",
        9 => "CP/M",
        10 => "TOPS-20",
        11 => "NTFS",
        12 => "QDOS",
        13 => "Acorn RISCOS",
        255 => "unknown",
        _ => "undefined",
    }
}

fn xfl_name(xfl: u8) -> &'static str {
    match xfl {
        0 => "none",
        2 => "maximum compression",
        4 => "fastest compression",
        _ => "nonstandard",
    }
}

fn gz_mtime(mtime: u32) -> String {
    if mtime == 0 {
        "0 (unset)".to_string()
    } else {
        format!("{mtime} ({})", rfc3339(i64::from(mtime), ""))
    }
}

fn level_differences(e: &Level, a: &Level) -> Vec<String> {
    let mut out = Vec::new();
    match (e, a) {
        (
            Level::Zip {
                comment: ec,
                offset: eo,
                duplicate_names: ed,
            },
            Level::Zip {
                comment: ac,
                offset: ao,
                duplicate_names: ad,
            },
        ) => {
            if ec != ac {
                let show = |c: &Field| if c.len == 0 { "none".to_string() } else { c.text() };
                out.push(format!("zip comment {} → {}", show(ec), show(ac)));
            }
            if eo != ao {
                out.push(format!("bytes before the zip data {eo} → {ao}"));
            }
            for (side, dup) in [("expected", ed), ("actual", ad)] {
                if *dup {
                    out.push(format!(
                        "{side} repeats entry names in its central directory; only one of each is read"
                    ));
                }
            }
        }
        (
            Level::TarGz {
                header: eh,
                members: em,
                trailing: et,
                trailing_nonzero: etn,
                padding: ep,
                data_after_end: ede,
                ..
            },
            Level::TarGz {
                header: ah,
                members: am,
                trailing: at,
                trailing_nonzero: atn,
                padding: ap,
                data_after_end: ade,
                ..
            },
        ) => {
            if eh.mtime != ah.mtime {
                out.push(format!(
                    "gzip header mtime {} → {}",
                    gz_mtime(eh.mtime),
                    gz_mtime(ah.mtime)
                ));
            }
            if eh.name != ah.name {
                out.push(format!(
                    "gzip original file name {} → {}",
                    show_text(&eh.name),
                    show_text(&ah.name)
                ));
            }
            if eh.os != ah.os {
                out.push(format!(
                    "gzip OS byte {} ({}) → {} ({})",
                    eh.os,
                    os_name(eh.os),
                    ah.os,
                    os_name(ah.os)
                ));
            }
            if eh.xfl != ah.xfl {
                out.push(format!(
                    "gzip extra flags {} ({}) → {} ({})",
                    eh.xfl,
                    xfl_name(eh.xfl),
                    ah.xfl,
                    xfl_name(ah.xfl)
                ));
            }
            if eh.comment != ah.comment {
                out.push(format!(
                    "gzip comment {} → {}",
                    show_text(&eh.comment),
                    show_text(&ah.comment)
                ));
            }
            if eh.extra != ah.extra {
                let show = |f: &Option<Field>| f.as_ref().map_or_else(|| "none".to_string(), Field::binary);
                out.push(format!(
                    "gzip extra field {} → {}",
                    show(&eh.extra),
                    show(&ah.extra)
                ));
            }
            if eh.header_crc != ah.header_crc {
                let yn = |b: bool| if b { "yes" } else { "no" };
                out.push(format!(
                    "gzip header CRC {} → {}",
                    yn(eh.header_crc),
                    yn(ah.header_crc)
                ));
            }
            if em != am {
                out.push(format!("gzip members {em} → {am}"));
            }
            if et != at || etn != atn {
                let show = |n: &u64, nz: &bool| {
                    if *nz {
                        format!("{n} (not all zero)")
                    } else {
                        n.to_string()
                    }
                };
                out.push(format!(
                    "bytes after the gzip data {} → {}",
                    show(et, etn),
                    show(at, atn)
                ));
            }
            if ep != ap {
                out.push(format!("tar end-of-archive padding {ep} → {ap} bytes"));
            }
            if ede != ade {
                let show = |b: &bool| if *b { "non-zero data" } else { "zeros only" };
                out.push(format!(
                    "after the tar end-of-archive marker: {} → {}",
                    show(ede),
                    show(ade)
                ));
            }
        }
        _ => out.push("the archive formats differ".to_string()),
    }
    out
}

fn summary(diff: &ArchiveDiff) -> String {
    let (mut changed, mut added, mut removed, mut meta) = (0, 0, 0, 0);
    let mut labels = BTreeSet::new();
    for change in &diff.changes {
        match change {
            EntryChange::Added { .. } => added += 1,
            EntryChange::Removed { .. } => removed += 1,
            EntryChange::Changed { .. } => changed += 1,
            EntryChange::MetadataOnly { differences, .. } => {
                meta += 1;
                for d in differences {
                    // The longest label that prefixes the line ("owner names" over "owner").
                    if let Some((pos, _)) = LABELS
                        .iter()
                        .enumerate()
                        .filter(|(_, l)| d.strip_prefix(**l).is_some_and(|rest| rest.starts_with(' ')))
                        .max_by_key(|(_, l)| l.len())
                    {
                        labels.insert(pos);
                    }
                }
            }
        }
    }
    let mut line =
        format!("{changed} changed, {added} added, {removed} removed, {meta} differ only in metadata");
    if !labels.is_empty() {
        let names: Vec<&str> = labels.iter().map(|&i| LABELS[i]).collect();
        let _ = write!(line, " ({})", names.join(", "));
    }
    if diff.order_differs {
        line.push_str("; entry order differs");
    }
    if !diff.archive_level.is_empty() {
        let _ = write!(
            line,
            "; {} archive-level difference{}",
            diff.archive_level.len(),
            if diff.archive_level.len() == 1 { "" } else { "s" }
        );
    }
    line
}

/// Human lines for the report: one per change, one per archive-level difference, then the
/// summary. Entry names, versions and header text come from the archives, so every control and
/// format character in a line (a terminal escape, a bidirectional override) is shown escaped.
pub fn render(diff: &ArchiveDiff) -> Vec<String> {
    let printable = |line: String| escape(&line).into_owned();
    let mut lines =
        Vec::with_capacity(diff.packages.len() + diff.changes.len() + diff.archive_level.len() + 2);
    if !diff.packages.is_empty() {
        lines.push("  distributions:".to_string());
    }
    for p in &diff.packages {
        lines.push(printable(match p {
            PackageChange::Added { name, version } => format!("    added    {name} {version}"),
            PackageChange::Removed { name, version } => format!("    removed  {name} {version}"),
            PackageChange::Version {
                name,
                expected_version,
                actual_version,
            } => format!("    version  {name} {expected_version} → {actual_version}"),
            PackageChange::Files { name, version } => {
                format!("    files    {name} {version}: same version, different installed files")
            }
        }));
    }
    if !diff.packages.is_empty() && !diff.changes.is_empty() {
        lines.push("  files:".to_string());
    }
    for change in &diff.changes {
        let line = match change {
            EntryChange::Added { name, size, sha256 } => format!(
                "  added    {name}  {size} bytes  sha256 {}…",
                sha256.short(SHORT_HASH)
            ),
            EntryChange::Removed { name, size, sha256 } => format!(
                "  removed  {name}  {size} bytes  sha256 {}…",
                sha256.short(SHORT_HASH)
            ),
            EntryChange::Changed {
                name,
                expected_size,
                actual_size,
                expected_sha256,
                actual_sha256,
            } => {
                let sizes = if expected_size == actual_size {
                    format!("{expected_size} bytes")
                } else {
                    format!("{expected_size} → {actual_size} bytes")
                };
                format!(
                    "  changed  {name}  {sizes}  sha256 {}… → {}…",
                    expected_sha256.short(SHORT_HASH),
                    actual_sha256.short(SHORT_HASH)
                )
            }
            EntryChange::MetadataOnly { name, differences } => {
                format!("  metadata {name}  {}", differences.join("; "))
            }
        };
        lines.push(printable(line));
    }
    for level in &diff.archive_level {
        lines.push(printable(format!("  archive  {level}")));
    }
    lines.push(printable(diff.summary.clone()));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;
    use zip::{DateTime, ZipWriter};

    fn when(y: u16, mo: u8, d: u8, h: u8, mi: u8, s: u8) -> DateTime {
        DateTime::from_date_and_time(y, mo, d, h, mi, s).unwrap()
    }

    #[derive(Clone)]
    struct Z {
        name: &'static str,
        data: Vec<u8>,
        mode: u32,
        time: DateTime,
        method: CompressionMethod,
    }

    fn z(name: &'static str, data: &[u8]) -> Z {
        Z {
            name,
            data: data.to_vec(),
            mode: 0o644,
            time: DateTime::default(),
            method: CompressionMethod::Deflated,
        }
    }

    fn write_zip(path: &Path, entries: &[Z]) {
        let mut w = ZipWriter::new(File::create(path).unwrap());
        for e in entries {
            let level = (e.method == CompressionMethod::Deflated).then_some(6);
            let options = SimpleFileOptions::default()
                .compression_method(e.method)
                .compression_level(level)
                .last_modified_time(e.time)
                .unix_permissions(e.mode)
                .system(zip::System::Unix);
            w.start_file(e.name, options).unwrap();
            w.write_all(&e.data).unwrap();
        }
        w.finish().unwrap();
    }

    #[derive(Clone)]
    struct T {
        name: &'static str,
        data: Vec<u8>,
        mode: u32,
        mtime: u64,
        uid: u64,
    }

    fn t(name: &'static str, data: &[u8]) -> T {
        T {
            name,
            data: data.to_vec(),
            mode: 0o644,
            mtime: 1_714_557_600,
            uid: 0,
        }
    }

    fn tar_bytes(entries: &[T]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for e in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(e.data.len() as u64);
            h.set_mode(e.mode);
            h.set_mtime(e.mtime);
            h.set_uid(e.uid);
            h.set_gid(e.uid);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, e.name, &e.data[..]).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn gzip(path: &Path, data: &[u8], mtime: u32, level: u32) {
        let f = File::create(path).unwrap();
        let mut gz = flate2::GzBuilder::new()
            .mtime(mtime)
            .write(f, flate2::Compression::new(level));
        gz.write_all(data).unwrap();
        gz.finish().unwrap();
    }

    fn write_tar_gz(path: &Path, entries: &[T], gz_mtime: u32) {
        gzip(path, &tar_bytes(entries), gz_mtime, 6);
    }

    fn info(path: &Path, name: &str) -> EntryInfo {
        list_entries(path)
            .unwrap()
            .into_iter()
            .find(|e| e.name == name)
            .unwrap()
    }

    fn metadata_only(name: &str, differences: &[&str]) -> EntryChange {
        EntryChange::MetadataOnly {
            name: name.to_string(),
            differences: differences.iter().map(|d| d.to_string()).collect(),
        }
    }

    fn small_limits() -> Limits {
        Limits {
            entries: 2,
            bytes: 8192,
            names: 1000,
            name: 50,
        }
    }

    /// Environments are explained by distribution first: added, removed, at another version,
    /// or the same version with other files (its RECORD changed).
    #[test]
    fn environments_differ_by_distribution_first() {
        let dir = tempfile::tempdir().unwrap();
        let (e, a) = (dir.path().join("e.tar.gz"), dir.path().join("a.tar.gz"));
        let sp = "lib/python3.11/site-packages";
        let names = [
            format!("{sp}/numpy-1.26.4.dist-info/RECORD"),
            format!("{sp}/six-1.16.0.dist-info/RECORD"),
            format!("{sp}/Old_Pkg-2.0.dist-info/RECORD"),
            format!("{sp}/numpy-1.26.3.dist-info/RECORD"),
            format!("{sp}/six-1.16.0.dist-info/RECORD"),
            format!("{sp}/new_pkg-0.1.dist-info/RECORD"),
        ];
        let leak = |s: &String| -> &'static str { Box::leak(s.clone().into_boxed_str()) };
        write_tar_gz(
            &e,
            &[
                t(leak(&names[0]), b"n"),
                t(leak(&names[1]), b"six"),
                t(leak(&names[2]), b"o"),
            ],
            0,
        );
        write_tar_gz(
            &a,
            &[
                t(leak(&names[3]), b"n"),
                t(leak(&names[4]), b"six changed"),
                t(leak(&names[5]), b"p"),
            ],
            0,
        );
        let diff = diff_archives(&e, &a).unwrap();
        assert_eq!(
            diff.packages,
            [
                PackageChange::Added {
                    name: "new_pkg".into(),
                    version: "0.1".into()
                },
                PackageChange::Version {
                    name: "numpy".into(),
                    expected_version: "1.26.4".into(),
                    actual_version: "1.26.3".into()
                },
                PackageChange::Removed {
                    name: "Old_Pkg".into(),
                    version: "2.0".into()
                },
                PackageChange::Files {
                    name: "six".into(),
                    version: "1.16.0".into()
                },
            ]
        );
        let lines = render(&diff);
        assert_eq!(lines[0], "  distributions:");
        assert!(lines[2].contains("numpy 1.26.4 → 1.26.3"), "{lines:?}");
        let files_at = lines.iter().position(|l| l == "  files:").unwrap();
        assert_eq!(files_at, 5, "{lines:?}");
    }

    #[test]
    fn identical_archives_have_no_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (e, a) = (dir.path().join("e.zip"), dir.path().join("a.zip"));
        let entries = [z("a.py", b"print(1)\n"), z("pkg/b.py", b"x = 2\n")];
        write_zip(&e, &entries);
        write_zip(&a, &entries);
        let diff = diff_archives(&e, &a).unwrap();
        assert_eq!(
            diff,
            ArchiveDiff {
                expected_kind: "zip".into(),
                actual_kind: "zip".into(),
                changes: vec![],
                identical_entries: 2,
                summary: "0 changed, 0 added, 0 removed, 0 differ only in metadata".into(),
                order_differs: false,
                archive_level: vec![],
                packages: Vec::new(),
            }
        );
        assert_eq!(
            render(&diff),
            vec!["0 changed, 0 added, 0 removed, 0 differ only in metadata"]
        );
    }

    #[test]
    fn lists_zip_entries_in_full() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.zip");
        let mut exe = z("bin/run.sh", b"#!/bin/sh\necho hi\n");
        exe.mode = 0o755;
        exe.time = when(2024, 5, 1, 10, 0, 0);
        write_zip(&p, &[z("a.py", b"print(1)\n"), exe]);
        let entries = list_entries(&p).unwrap();
        assert_eq!(entries.len(), 2);
        let run = &entries[1];
        assert_eq!(run.name, "bin/run.sh");
        assert_eq!(run.index, 1);
        assert_eq!(run.size, 18);
        assert_eq!(run.sha256, Sha256Digest::of(b"#!/bin/sh\necho hi\n"));
        assert_eq!(run.mode, Some(0o755));
        assert_eq!(run.mtime.as_deref(), Some("2024-05-01 10:00:00"));
        assert_eq!(run.compression.as_deref(), Some("deflated"));
        assert!(run.compressed_size.is_some());
        assert!(!run.is_dir);
        assert_eq!(run.kind, "file");
        assert_eq!(entries[0].mtime.as_deref(), Some("1980-01-01 00:00:00"));
    }

    #[test]
    fn dos_made_zips_have_no_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("dos.zip");
        let mut w = ZipWriter::new(File::create(&p).unwrap());
        w.start_file("a.txt", SimpleFileOptions::default().system(zip::System::Dos))
            .unwrap();
        w.write_all(b"hi").unwrap();
        w.add_directory("d/", SimpleFileOptions::default().system(zip::System::Dos))
            .unwrap();
        w.finish().unwrap();
        let entries = list_entries(&p).unwrap();
        assert_eq!(entries[0].mode, None);
        assert_eq!(entries[0].kind, "file");
        assert_eq!((entries[1].name.as_str(), entries[1].is_dir), ("d/", true));
        assert_eq!(entries[1].kind, "dir");
    }

    #[test]
    fn changed_added_and_removed_entries() {
        let dir = tempfile::tempdir().unwrap();
        let (e, a) = (dir.path().join("e.zip"), dir.path().join("a.zip"));
        write_zip(&e, &[z("a.py", b"one"), z("b.py", b"two"), z("c.py", b"three")]);
        write_zip(&a, &[z("a.py", b"one!"), z("b.py", b"two"), z("d.py", b"four")]);
        let diff = diff_archives(&e, &a).unwrap();
        let (one, one_bang) = (Sha256Digest::of(b"one"), Sha256Digest::of(b"one!"));
        assert_eq!(
            diff.changes,
            vec![
                EntryChange::Changed {
                    name: "a.py".into(),
                    expected_size: 3,
                    actual_size: 4,
                    expected_sha256: one,
                    actual_sha256: one_bang,
                },
                EntryChange::Removed {
                    name: "c.py".into(),
                    size: 5,
                    sha256: Sha256Digest::of(b"three"),
                },
                EntryChange::Added {
                    name: "d.py".into(),
                    size: 4,
                    sha256: Sha256Digest::of(b"four"),
                },
            ]
        );
        assert_eq!(diff.identical_entries, 1);
        assert!(!diff.order_differs);
        assert!(diff.archive_level.is_empty());
        assert_eq!(
            diff.summary,
            "1 changed, 1 added, 1 removed, 0 differ only in metadata"
        );
        assert_eq!(
            render(&diff),
            vec![
                format!(
                    "  changed  a.py  3 → 4 bytes  sha256 {}… → {}…",
                    one.short(12),
                    one_bang.short(12)
                ),
                format!(
                    "  removed  c.py  5 bytes  sha256 {}…",
                    Sha256Digest::of(b"three").short(12)
                ),
                format!(
                    "  added    d.py  4 bytes  sha256 {}…",
                    Sha256Digest::of(b"four").short(12)
                ),
                "1 changed, 1 added, 1 removed, 0 differ only in metadata".to_string(),
            ]
        );
    }

    #[test]
    fn mtime_and_mode_differences_are_metadata_only() {
        let dir = tempfile::tempdir().unwrap();
        let (e, a) = (dir.path().join("e.zip"), dir.path().join("a.zip"));
        let mut newer = z("a.py", b"print(1)\n");
        newer.time = when(2024, 5, 1, 10, 0, 0);
        let mut exec = z("run.sh", b"#!/bin/sh\n");
        exec.mode = 0o755;
        write_zip(&e, &[z("a.py", b"print(1)\n"), z("run.sh", b"#!/bin/sh\n")]);
        write_zip(&a, &[newer, exec]);
        let diff = diff_archives(&e, &a).unwrap();
        assert_eq!(
            diff.changes,
            vec![
                metadata_only("a.py", &["mtime 1980-01-01 00:00:00 → 2024-05-01 10:00:00"]),
                metadata_only("run.sh", &["mode 0644 → 0755"]),
            ]
        );
        assert_eq!(
            diff.summary,
            "0 changed, 0 added, 0 removed, 2 differ only in metadata (mtime, mode)"
        );
        assert_eq!(
            render(&diff)[..2],
            [
                "  metadata a.py  mtime 1980-01-01 00:00:00 → 2024-05-01 10:00:00".to_string(),
                "  metadata run.sh  mode 0644 → 0755".to_string(),
            ]
        );
    }

    #[test]
    fn compression_difference_is_metadata_only() {
        let dir = tempfile::tempdir().unwrap();
        let (e, a) = (dir.path().join("e.zip"), dir.path().join("a.zip"));
        let data = b"import os\n".repeat(40);
        let mut stored = z("a.py", &data);
        stored.method = CompressionMethod::Stored;
        write_zip(&e, &[z("a.py", &data)]);
        write_zip(&a, &[stored]);
        let deflated = info(&e, "a.py").compressed_size.unwrap();
        assert!(deflated < 400);
        let diff = diff_archives(&e, &a).unwrap();
        assert_eq!(
            diff.changes,
            vec![metadata_only(
                "a.py",
                &[
                    "compression deflated → stored",
                    &format!("compressed size {deflated} → 400"),
                    // The zip crate derives "version made by" from the version needed to extract.
                    "made by unix 2.0 → unix 1.0",
                ]
            )]
        );
        assert_eq!(
            diff.summary,
            "0 changed, 0 added, 0 removed, 1 differ only in metadata (compression, compressed size, made by)"
        );
    }

    #[test]
    fn order_differences_report_positions() {
        let dir = tempfile::tempdir().unwrap();
        let (e, a) = (dir.path().join("e.zip"), dir.path().join("a.zip"));
        let (x, y, w) = (z("a", b"1"), z("b", b"2"), z("c", b"3"));
        write_zip(&e, &[x.clone(), y.clone(), w.clone()]);
        write_zip(&a, &[w, x, y]);
        let diff = diff_archives(&e, &a).unwrap();
        assert!(diff.order_differs);
        assert_eq!(
            diff.changes,
            vec![
                metadata_only("a", &["position 0 → 1"]),
                metadata_only("b", &["position 1 → 2"]),
                metadata_only("c", &["position 2 → 0"]),
            ]
        );
        assert_eq!(
            diff.summary,
            "0 changed, 0 added, 0 removed, 3 differ only in metadata (position); entry order differs"
        );
    }

    #[test]
    fn an_added_entry_does_not_count_as_reordering() {
        let dir = tempfile::tempdir().unwrap();
        let (e, a) = (dir.path().join("e.zip"), dir.path().join("a.zip"));
        write_zip(&e, &[z("b", b"2"), z("c", b"3")]);
        write_zip(&a, &[z("a", b"1"), z("b", b"2"), z("c", b"3")]);
        let diff = diff_archives(&e, &a).unwrap();
        assert!(!diff.order_differs);
        assert_eq!(diff.identical_entries, 2);
        assert_eq!(
            diff.changes,
            vec![EntryChange::Added {
                name: "a".into(),
                size: 1,
                sha256: Sha256Digest::of(b"1"),
            }]
        );
    }

    #[test]
    fn crpack_bundle_against_a_stored_zip_of_the_same_files() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("pkg")).unwrap();
        let files: [(&str, Vec<u8>, bool); 3] = [
            ("pkg/__init__.py", b"".to_vec(), false),
            ("pkg/model.py", b"def f(x):\n    return x * 2\n".repeat(20), false),
            ("run.sh", b"#!/bin/sh\nexec python -m pkg\n".to_vec(), true),
        ];
        let mut bundle_files = Vec::new();
        let mut plain = Vec::new();
        for (entry, data, executable) in &files {
            let source = src.join(entry);
            std::fs::write(&source, data).unwrap();
            bundle_files.push(crate::bundle::BundleFile {
                source,
                entry: entry.to_string(),
                size: data.len() as u64,
                executable: *executable,
            });
            let mut s = z(entry, data);
            s.method = CompressionMethod::Stored;
            s.mode = if *executable { 0o755 } else { 0o644 };
            plain.push(s);
        }
        let e = dir.path().join("bundle.zip");
        let out = File::create(&e).unwrap();
        crate::bundle::write_zip(&bundle_files, DateTime::default(), out).unwrap();
        let a = dir.path().join("shared.zip");
        write_zip(&a, &plain);

        let diff = diff_archives(&e, &a).unwrap();
        assert_eq!(diff.changes.len(), 3);
        for (change, (entry, data, _)) in diff.changes.iter().zip(&files) {
            let packed = info(&e, entry).compressed_size.unwrap();
            assert_eq!(
                change,
                &metadata_only(
                    entry,
                    &[
                        "compression deflated → stored",
                        &format!("compressed size {packed} → {}", data.len()),
                        "made by unix 2.0 → unix 1.0",
                    ]
                ),
                "{entry}"
            );
        }
        assert_eq!(diff.identical_entries, 0);
        assert!(!diff.order_differs);
        assert!(diff.archive_level.is_empty());
    }

    #[test]
    fn tar_gz_entries_and_differences() {
        let dir = tempfile::tempdir().unwrap();
        let (e, a) = (dir.path().join("e.tar.gz"), dir.path().join("a.tar.gz"));
        let mut changed_mode = t("bin/python", b"ELF");
        changed_mode.mode = 0o755;
        let mut newer = t("lib/site.py", b"import sys\n");
        newer.mtime = 1_714_557_601;
        let mut owned = t("lib/owned.py", b"x\n");
        owned.uid = 1000;
        write_tar_gz(
            &e,
            &[
                t("bin/python", b"ELF"),
                t("lib/site.py", b"import sys\n"),
                t("lib/owned.py", b"x\n"),
                t("lib/gone.py", b"bye"),
            ],
            0,
        );
        write_tar_gz(&a, &[changed_mode, newer, owned], 0);

        let site = info(&e, "lib/site.py");
        assert_eq!(
            site,
            EntryInfo {
                name: "lib/site.py".into(),
                index: 1,
                size: 11,
                sha256: Sha256Digest::of(b"import sys\n"),
                mode: Some(0o644),
                mtime: Some("2024-05-01T10:00:00Z".into()),
                compression: None,
                compressed_size: None,
                is_dir: false,
                kind: "file".into(),
            }
        );
        let diff = diff_archives(&e, &a).unwrap();
        assert_eq!(diff.expected_kind, "tar.gz");
        assert_eq!(
            diff.changes,
            vec![
                metadata_only("bin/python", &["mode 0644 → 0755"]),
                EntryChange::Removed {
                    name: "lib/gone.py".into(),
                    size: 3,
                    sha256: Sha256Digest::of(b"bye"),
                },
                metadata_only("lib/owned.py", &["owner 0:0 → 1000:1000"]),
                metadata_only(
                    "lib/site.py",
                    &["mtime 2024-05-01T10:00:00Z → 2024-05-01T10:00:01Z"]
                ),
            ]
        );
        assert_eq!(
            diff.summary,
            "0 changed, 0 added, 1 removed, 3 differ only in metadata (mtime, mode, owner)"
        );
        assert!(diff.archive_level.is_empty(), "{:?}", diff.archive_level);
    }

    #[test]
    fn tar_symlinks_dirs_and_long_names() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.tar.gz");
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        b.append_data(&mut h, "lib/", &[][..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        b.append_link(&mut h, "bin/python3", "python3.12").unwrap();
        let long = format!("lib/{}.py", "x".repeat(150));
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(2);
        b.append_data(&mut h, &long, &b"ok"[..]).unwrap();
        let mut evil = tar::Header::new_gnu();
        evil.set_mode(0o644);
        evil.set_size(1);
        evil.as_gnu_mut().unwrap().name[..10].copy_from_slice(b"../evil.py");
        evil.set_cksum();
        b.append(&evil, &b"!"[..]).unwrap();
        gzip(&p, &b.into_inner().unwrap(), 0, 6);

        let entries = list_entries(&p).unwrap();
        let kinds: Vec<(&str, &str, bool, usize)> = entries
            .iter()
            .map(|e| (e.name.as_str(), e.kind.as_str(), e.is_dir, e.index))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("lib/", "dir", true, 0),
                ("bin/python3", "symlink -> python3.12", false, 1),
                (long.as_str(), "file", false, 2),
                ("../evil.py", "file", false, 3),
            ]
        );
        assert_eq!(entries[1].mode, Some(0o777));
        assert!(!dir.path().join("evil.py").exists());
        // The long name is bounded.
        let err = read_listing(&p, ArchiveKind::TarGz, &small_limits()).unwrap_err();
        assert!(
            matches!(&err, ExplainError::Corrupt { format: "tar.gz", reason, .. }
                if reason == "a GNU long name of 158 bytes (more than 50)"),
            "{err}"
        );
    }

    #[test]
    fn gzip_header_differences_are_archive_level() {
        let dir = tempfile::tempdir().unwrap();
        let (e, a) = (dir.path().join("e.tar.gz"), dir.path().join("a.tar.gz"));
        let entries = [t("a.py", b"print(1)\n")];
        write_tar_gz(&e, &entries, 0);
        write_tar_gz(&a, &entries, 1_714_557_600);
        let diff = diff_archives(&e, &a).unwrap();
        assert!(diff.changes.is_empty());
        assert_eq!(diff.identical_entries, 1);
        assert_eq!(
            diff.archive_level,
            vec!["gzip header mtime 0 (unset) → 1714557600 (2024-05-01T10:00:00Z)"]
        );
        assert_eq!(
            diff.summary,
            "0 changed, 0 added, 0 removed, 0 differ only in metadata; 1 archive-level difference"
        );
        assert_eq!(
            render(&diff)[0],
            "  archive  gzip header mtime 0 (unset) → 1714557600 (2024-05-01T10:00:00Z)"
        );

        // File name, OS byte and extra flags.
        let b = dir.path().join("b.tar.gz");
        let f = File::create(&b).unwrap();
        let mut gz = flate2::GzBuilder::new()
            .filename("venv.tar")
            .operating_system(3)
            .write(f, flate2::Compression::best());
        gz.write_all(&tar_bytes(&entries)).unwrap();
        gz.finish().unwrap();
        let diff = diff_archives(&e, &b).unwrap();
        assert_eq!(
            diff.archive_level,
            vec![
                "gzip original file name none → \"venv.tar\"",
                "gzip OS byte 255 (unknown) → 3 (Unix)",
                "gzip extra flags 0 (none) → 2 (maximum compression)",
            ]
        );
    }

    #[test]
    fn trailing_bytes_padding_and_members() {
        let dir = tempfile::tempdir().unwrap();
        let e = dir.path().join("e.tar.gz");
        let entries = [t("a.py", b"print(1)\n"), t("b.py", b"2\n")];
        let tar = tar_bytes(&entries);
        write_tar_gz(&e, &entries, 0);

        // Zeros after the gzip member.
        let trailing = dir.path().join("trailing.tar.gz");
        let mut bytes = std::fs::read(&e).unwrap();
        bytes.extend_from_slice(&[0u8; 512]);
        std::fs::write(&trailing, &bytes).unwrap();
        let diff = diff_archives(&e, &trailing).unwrap();
        assert_eq!(diff.archive_level, vec!["bytes after the gzip data 0 → 512"]);

        // Record padding (tar(1) pads to 10240 bytes).
        let padded = dir.path().join("padded.tar.gz");
        let mut long = tar.clone();
        long.resize(10240, 0);
        gzip(&padded, &long, 0, 6);
        let diff = diff_archives(&e, &padded).unwrap();
        assert_eq!(
            diff.archive_level,
            vec!["tar end-of-archive padding 1024 → 8192 bytes"]
        );

        // Two gzip members that decompress to the same tar.
        let multi = dir.path().join("multi.tar.gz");
        let (first, second) = tar.split_at(1024);
        let one = dir.path().join("one.gz");
        let two = dir.path().join("two.gz");
        gzip(&one, first, 0, 6);
        gzip(&two, second, 0, 6);
        let mut joined = std::fs::read(&one).unwrap();
        joined.extend(std::fs::read(&two).unwrap());
        std::fs::write(&multi, &joined).unwrap();
        assert_eq!(list_entries(&multi).unwrap(), list_entries(&e).unwrap());
        let diff = diff_archives(&e, &multi).unwrap();
        assert_eq!(diff.archive_level, vec!["gzip members 1 → 2"]);
    }

    #[test]
    fn same_tar_compressed_differently_is_explained() {
        let dir = tempfile::tempdir().unwrap();
        let (e, a) = (dir.path().join("e.tar.gz"), dir.path().join("a.tar.gz"));
        let data: Vec<u8> = (0..20_000u32)
            .flat_map(|i| format!("line {} {}\n", i % 97, i % 13).into_bytes())
            .collect();
        let tar = tar_bytes(&[t("data.txt", &data)]);
        gzip(&e, &tar, 0, 2);
        gzip(&a, &tar, 0, 6);
        assert_ne!(std::fs::read(&e).unwrap(), std::fs::read(&a).unwrap());
        let diff = diff_archives(&e, &a).unwrap();
        assert!(diff.changes.is_empty());
        assert_eq!(
            diff.archive_level,
            vec![
                "the uncompressed tar streams are identical; only the compressed data differs \
                 (compression level or deflate implementation)"
            ]
        );
    }

    #[test]
    fn different_formats_are_reported_without_entries() {
        let dir = tempfile::tempdir().unwrap();
        let (e, a) = (dir.path().join("e.zip"), dir.path().join("a.bin"));
        write_zip(&e, &[z("a.py", b"1")]);
        write_tar_gz(&a, &[t("a.py", b"1")], 0);
        let diff = diff_archives(&e, &a).unwrap();
        assert_eq!(
            diff,
            ArchiveDiff {
                expected_kind: "zip".into(),
                actual_kind: "tar.gz".into(),
                changes: vec![],
                identical_entries: 0,
                summary: "different archive formats (zip → tar.gz): no entries compared".into(),
                order_differs: false,
                archive_level: vec!["expected is a zip, actual is a gzip tar".into()],
                packages: Vec::new(),
            }
        );

        let (x, y) = (dir.path().join("x.txt"), dir.path().join("y.txt"));
        std::fs::write(&x, "hello").unwrap();
        std::fs::write(&y, "hello").unwrap();
        let diff = diff_archives(&x, &y).unwrap();
        assert_eq!(diff.expected_kind, "other");
        assert_eq!(
            diff.archive_level,
            vec![
                "neither file is a zip or a gzip tar; they cannot be compared entry by entry",
                "the files are byte-identical",
            ]
        );
        assert!(matches!(list_entries(&x), Err(ExplainError::NotAnArchive { .. })));
    }

    #[test]
    fn sniffs_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let zip_path = dir.path().join("archive.tar.gz");
        write_zip(&zip_path, &[z("a", b"1")]);
        assert_eq!(sniff(&zip_path).unwrap(), ArchiveKind::Zip);
        let tgz = dir.path().join("bundle.zip");
        write_tar_gz(&tgz, &[t("a", b"1")], 0);
        assert_eq!(sniff(&tgz).unwrap(), ArchiveKind::TarGz);
        let empty_tar = dir.path().join("empty.tgz");
        write_tar_gz(&empty_tar, &[], 0);
        assert_eq!(sniff(&empty_tar).unwrap(), ArchiveKind::TarGz);
        assert_eq!(list_entries(&empty_tar).unwrap(), vec![]);
        let gz_text = dir.path().join("notes.gz");
        gzip(&gz_text, &b"just some text\n".repeat(100), 0, 6);
        assert_eq!(sniff(&gz_text).unwrap(), ArchiveKind::Other);
        let empty = dir.path().join("empty");
        std::fs::write(&empty, b"").unwrap();
        assert_eq!(sniff(&empty).unwrap(), ArchiveKind::Other);
        // A zip with a stub in front of it (self-extracting).
        let sfx = dir.path().join("sfx");
        let mut bytes = b"#!/bin/sh\nexit 0\n".to_vec();
        bytes.extend(std::fs::read(&zip_path).unwrap());
        std::fs::write(&sfx, &bytes).unwrap();
        assert_eq!(sniff(&sfx).unwrap(), ArchiveKind::Zip);
        assert!(sniff(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn corrupt_archives_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.zip");
        let data = b"some python code\n".repeat(50);
        write_zip(&good, &[z("a.py", &data), z("b.py", b"x")]);
        let bytes = std::fs::read(&good).unwrap();

        let truncated = dir.path().join("truncated.zip");
        std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
        let err = diff_archives(&good, &truncated).unwrap_err();
        assert!(
            matches!(err, ExplainError::Corrupt { format: "zip", .. }),
            "{err}"
        );

        // Damage the compressed data of the first entry (after its 30 + 4 byte local header).
        let flipped = dir.path().join("flipped.zip");
        let mut damaged = bytes.clone();
        for b in &mut damaged[40..60] {
            *b ^= 0xff;
        }
        std::fs::write(&flipped, &damaged).unwrap();
        let err = list_entries(&flipped).unwrap_err();
        assert!(
            matches!(&err, ExplainError::Corrupt { format: "zip", reason, .. } if reason.contains("a.py")),
            "{err}"
        );

        let garbage = dir.path().join("garbage.zip");
        let mut g = b"PK\x03\x04".to_vec();
        g.extend((0..5000u32).map(|i| (i * 7919 % 251) as u8));
        std::fs::write(&garbage, &g).unwrap();
        assert!(matches!(
            list_entries(&garbage),
            Err(ExplainError::Corrupt { .. })
        ));

        // Every truncation of a tar.gz is an error, never a panic.
        let tgz = dir.path().join("good.tar.gz");
        write_tar_gz(&tgz, &[t("a.py", &data), t("b.py", b"x")], 0);
        let tbytes = std::fs::read(&tgz).unwrap();
        let cut = dir.path().join("cut.tar.gz");
        for len in (3..tbytes.len()).step_by(7) {
            std::fs::write(&cut, &tbytes[..len]).unwrap();
            if sniff(&cut).unwrap() == ArchiveKind::TarGz {
                assert!(list_entries(&cut).is_err(), "cut at {len}");
            }
        }
        let mut bad_crc = tbytes.clone();
        let n = bad_crc.len();
        bad_crc[n - 8] ^= 1;
        std::fs::write(&cut, &bad_crc).unwrap();
        let err = list_entries(&cut).unwrap_err();
        assert!(
            matches!(&err, ExplainError::Corrupt { format: "tar.gz", reason, .. }
                if reason.contains("CRC")),
            "{err}"
        );
    }

    #[test]
    fn limits_stop_hostile_archives() {
        let dir = tempfile::tempdir().unwrap();
        let many = dir.path().join("many.zip");
        write_zip(&many, &[z("a", b"1"), z("b", b"2"), z("c", b"3")]);
        let err = read_listing(&many, ArchiveKind::Zip, &small_limits()).unwrap_err();
        assert!(
            matches!(err, ExplainError::TooManyEntries { limit: 2, .. }),
            "{err}"
        );

        // A small zip that inflates past the byte limit (a tiny zip bomb).
        let bomb = dir.path().join("bomb.zip");
        write_zip(&bomb, &[z("zeros", &vec![0u8; 1 << 20])]);
        assert!(std::fs::metadata(&bomb).unwrap().len() < 10_000);
        let err = read_listing(&bomb, ArchiveKind::Zip, &small_limits()).unwrap_err();
        assert!(matches!(err, ExplainError::TooLarge { limit: 8192, .. }), "{err}");
        let tbomb = dir.path().join("bomb.tar.gz");
        write_tar_gz(&tbomb, &[t("zeros", &vec![0u8; 1 << 20])], 0);
        let err = read_listing(&tbomb, ArchiveKind::TarGz, &small_limits()).unwrap_err();
        assert!(matches!(err, ExplainError::TooLarge { limit: 8192, .. }), "{err}");
        let tmany = dir.path().join("many.tar.gz");
        write_tar_gz(&tmany, &[t("a", b"1"), t("b", b"2"), t("c", b"3")], 0);
        let err = read_listing(&tmany, ArchiveKind::TarGz, &small_limits()).unwrap_err();
        assert!(
            matches!(err, ExplainError::TooManyEntries { limit: 2, .. }),
            "{err}"
        );
        // A header declaring a huge size does not allocate it: the data just ends early.
        let mut huge = tar_bytes(&[t("a", b"1")]);
        huge[124..136].copy_from_slice(b"77777777777\0");
        let mut h = tar::Header::from_byte_slice(&huge[..512]).clone();
        h.set_cksum();
        huge[..512].copy_from_slice(h.as_bytes());
        let hp = dir.path().join("huge.tar.gz");
        gzip(&hp, &huge, 0, 6);
        assert!(matches!(list_entries(&hp), Err(ExplainError::Corrupt { .. })));
    }

    #[test]
    fn duplicates_and_zip_comments_are_archive_level() {
        let dir = tempfile::tempdir().unwrap();
        let (e, a) = (dir.path().join("e.tar.gz"), dir.path().join("a.tar.gz"));
        write_tar_gz(&e, &[t("a.py", b"1")], 0);
        write_tar_gz(&a, &[t("a.py", b"0"), t("a.py", b"1")], 0);
        let diff = diff_archives(&e, &a).unwrap();
        assert!(diff.changes.is_empty());
        assert_eq!(
            diff.archive_level,
            vec!["actual has 1 entry name(s) more than once (e.g. \"a.py\"); the last of each is compared"]
        );

        let (ze, za) = (dir.path().join("e.zip"), dir.path().join("a.zip"));
        write_zip(&ze, &[z("a.py", b"1")]);
        let mut w = ZipWriter::new(File::create(&za).unwrap());
        w.set_comment("built by hand").unwrap();
        w.start_file(
            "a.py",
            SimpleFileOptions::default()
                .compression_level(Some(6))
                .unix_permissions(0o644)
                .system(zip::System::Unix),
        )
        .unwrap();
        w.write_all(b"1").unwrap();
        w.finish().unwrap();
        let diff = diff_archives(&ze, &za).unwrap();
        assert_eq!(diff.archive_level, vec!["zip comment none → \"built by hand\""]);
    }

    #[test]
    fn render_escapes_bidirectional_controls_in_names_and_distributions() {
        let digest = Sha256Digest::of(b"x");
        let diff = ArchiveDiff {
            expected_kind: "tar.gz".into(),
            actual_kind: "tar.gz".into(),
            changes: vec![EntryChange::Added {
                name: "evil4\u{202E}gnp.py".into(),
                size: 1,
                sha256: digest,
            }],
            identical_entries: 0,
            summary: "0 changed, 1 added, 0 removed, 0 differ only in metadata".into(),
            order_differs: false,
            archive_level: vec!["gzip comment \"a\u{2066}b\" → none".into()],
            packages: vec![PackageChange::Added {
                name: "pkg\u{200B}".into(),
                version: "1.0\u{202E}".into(),
            }],
        };
        let lines = render(&diff);
        assert_eq!(lines[1], "    added    pkg\\u{200B} 1.0\\u{202E}");
        assert!(
            lines[3].starts_with("  added    evil4\\u{202E}gnp.py  1 bytes"),
            "{lines:?}"
        );
        assert_eq!(lines[4], "  archive  gzip comment \"a\\u{2066}b\" → none");
        assert!(
            lines.iter().all(|l| !l.chars().any(crate::text::is_invisible)),
            "{lines:?}"
        );
    }

    #[test]
    fn render_escapes_control_characters_and_serde_tags_changes() {
        let diff = ArchiveDiff {
            expected_kind: "zip".into(),
            actual_kind: "zip".into(),
            changes: vec![metadata_only("evil\x1b[2J.py", &["mode 0644 → 0755"])],
            identical_entries: 0,
            summary: "0 changed, 0 added, 0 removed, 1 differ only in metadata (mode)".into(),
            order_differs: false,
            archive_level: vec![],
            packages: Vec::new(),
        };
        assert_eq!(
            render(&diff)[0],
            "  metadata evil\\u{001B}[2J.py  mode 0644 → 0755"
        );
        let json = serde_json::to_value(&diff.changes[0]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "change": "metadata_only",
                "name": "evil\x1b[2J.py",
                "differences": ["mode 0644 → 0755"],
            })
        );
    }
}
