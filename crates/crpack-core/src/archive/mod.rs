//! One reader for the two archive formats crpack meets: zip (bundles) and gzip-compressed tar
//! (`venv-pack` environments). [`read_zip`] and [`read_tar_gz`] hand every entry of an archive,
//! in archive order, to a visitor as an [`Entry`]: its name, [`EntryKind`], mode, metadata and
//! a bounded read of its content ([`Entry::hash`], [`Entry::head`]). They return the facts
//! about the archive as a whole ([`Summary`]).
//!
//! Nothing is extracted to disk; entry names (even `../x` or absolute ones) are only handed on
//! as strings. Hostile input is bounded by [`Limits`]: at most [`MAX_ENTRIES`] entries,
//! [`MAX_UNCOMPRESSED_BYTES`] of decompressed data and [`MAX_TOTAL_NAME_BYTES`] of names per
//! archive, [`MAX_NAME_BYTES`] per name; past those the reader stops with an [`ArchiveError`].
//! Bad data is an error too, never a panic.

mod gzip;
mod sniff;
mod tar;
mod zip;

#[cfg(test)]
mod tests;

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::digest::{Hasher, Sha256Digest};

pub use self::gzip::GzHeader;
pub use self::sniff::{ArchiveKind, sniff};
pub use self::tar::read_tar_gz;
pub(crate) use self::tar::rfc3339;
pub use self::zip::read_zip;

/// At most this many entries are read from one archive.
pub const MAX_ENTRIES: usize = 200_000;
/// At most this many decompressed bytes are read from one archive (zip bombs stop here).
pub const MAX_UNCOMPRESSED_BYTES: u64 = 32 << 30;
/// At most this many bytes of entry names (and link targets, pax keys) are kept per archive.
pub const MAX_TOTAL_NAME_BYTES: u64 = 64 << 20;
/// A single entry name or link target may be at most this long.
pub const MAX_NAME_BYTES: u64 = 64 << 10;
/// Read buffer for entry data.
const READ_BUFFER: usize = 64 << 10;
/// Characters of free text (comments, file names in headers) kept from a header field.
const SHOWN_TEXT: usize = 80;

/// The bounds applied while reading one archive.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Entries. A tar's headers, extension headers included, may number at most four times
    /// this.
    pub entries: usize,
    /// Decompressed bytes.
    pub bytes: u64,
    /// Bytes of entry names, link targets and extension-header keys, all entries together.
    pub names: u64,
    /// Bytes of one name or link target.
    pub name: u64,
}

/// The `MAX_*` constants.
pub const LIMITS: Limits = Limits {
    entries: MAX_ENTRIES,
    bytes: MAX_UNCOMPRESSED_BYTES,
    names: MAX_TOTAL_NAME_BYTES,
    name: MAX_NAME_BYTES,
};

/// How to read an archive.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub limits: Limits,
    /// Tar: read on past an end-of-archive marker, so that concatenated archives
    /// (`cat a.tar.gz b.tar.gz`) are read whole. Otherwise what follows the marker is only
    /// drained and reported in [`Summary::TarGz`].
    pub concatenated: bool,
    /// Tar: hash the whole decompressed tar stream ([`Summary::TarGz`]'s `tar_digest`).
    pub hash_stream: bool,
}

impl Default for Options {
    /// [`LIMITS`], stop at the end-of-archive marker, hash the tar stream.
    fn default() -> Self {
        Options {
            limits: LIMITS,
            concatenated: false,
            hash_stream: true,
        }
    }
}

/// Why an archive could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
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

impl ArchiveError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            ArchiveError::Io { path, .. }
            | ArchiveError::NotAnArchive { path }
            | ArchiveError::Corrupt { path, .. }
            | ArchiveError::Unsupported { path, .. }
            | ArchiveError::TooManyEntries { path, .. }
            | ArchiveError::TooLarge { path, .. } => path,
        }
    }

    /// What is wrong, without the path (for callers that name the file another way, e.g. by
    /// the S3 object a temporary file was downloaded from).
    pub fn reason(&self) -> String {
        match self {
            ArchiveError::Io { source, .. } => source.to_string(),
            ArchiveError::NotAnArchive { .. } => "not a zip or a gzip-compressed tar archive".to_string(),
            ArchiveError::Corrupt { format, reason, .. } => format!("corrupt {format}: {reason}"),
            ArchiveError::Unsupported { format, reason, .. } => {
                format!("cannot read this {format}: {reason}")
            }
            ArchiveError::TooManyEntries { limit, .. } => {
                format!(
                    "more than {limit} entries; crpack stops reading there (a broken or hostile archive?)"
                )
            }
            ArchiveError::TooLarge { what, limit, .. } => format!(
                "{what} exceed {limit} bytes; crpack stops reading there (a zip bomb or a hostile archive?)"
            ),
        }
    }
}

impl std::fmt::Display for ArchiveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path().display(), self.reason())
    }
}

pub(crate) fn io_error(path: &Path, source: io::Error) -> ArchiveError {
    ArchiveError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Whether a read error means bad data (rather than permissions or a failing disk).
fn is_bad_data(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::InvalidData
            | io::ErrorKind::InvalidInput
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::Other
    )
}

/// A read error while parsing: bad data is corruption; anything else (permissions, a failing
/// disk) stays an I/O error.
fn read_error(path: &Path, format: &'static str, e: io::Error) -> ArchiveError {
    if is_bad_data(&e) {
        corrupt(path, format, e.to_string())
    } else {
        io_error(path, e)
    }
}

fn corrupt(path: &Path, format: &'static str, reason: impl Into<String>) -> ArchiveError {
    ArchiveError::Corrupt {
        path: path.to_path_buf(),
        format,
        reason: reason.into(),
    }
}

fn unsupported(path: &Path, format: &'static str, reason: impl Into<String>) -> ArchiveError {
    ArchiveError::Unsupported {
        path: path.to_path_buf(),
        format,
        reason: reason.into(),
    }
}

fn too_many(path: &Path, limit: usize) -> ArchiveError {
    ArchiveError::TooManyEntries {
        path: path.to_path_buf(),
        limit,
    }
}

fn too_large(path: &Path, limit: u64) -> ArchiveError {
    ArchiveError::TooLarge {
        path: path.to_path_buf(),
        what: "the uncompressed entries",
        limit,
    }
}

/// The budget of name bytes left for one archive.
struct NameBudget<'a> {
    path: &'a Path,
    left: u64,
    limit: u64,
}

impl<'a> NameBudget<'a> {
    fn new(path: &'a Path, limits: &Limits) -> Self {
        NameBudget {
            path,
            left: limits.names,
            limit: limits.names,
        }
    }

    /// Charges `n` bytes of names against the archive's budget.
    fn charge(&mut self, n: usize) -> Result<(), ArchiveError> {
        let n = n as u64;
        if n > self.left {
            return Err(ArchiveError::TooLarge {
                path: self.path.to_path_buf(),
                what: "the entry names",
                limit: self.limit,
            });
        }
        self.left -= n;
        Ok(())
    }
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

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    /// A symbolic link and its target (for a zip: the stored content, at most
    /// [`MAX_NAME_BYTES`]).
    Symlink(String),
    /// A tar hard link and its target.
    HardLink(String),
    /// A device, a fifo, or a type crpack does not know.
    Other,
}

impl EntryKind {
    /// `file`, `dir`, `symlink -> target`, `hardlink -> target` or `other`.
    pub fn label(&self) -> String {
        match self {
            EntryKind::File => "file".to_string(),
            EntryKind::Dir => "dir".to_string(),
            EntryKind::Symlink(target) => format!("symlink -> {target}"),
            EntryKind::HardLink(target) => format!("hardlink -> {target}"),
            EntryKind::Other => "other".to_string(),
        }
    }
}

/// One entry, as the visitor sees it; its content can be read once, from the start.
pub struct Entry<'a> {
    pub name: String,
    /// Position in the archive (zip: central directory order; tar: stream order, extension
    /// headers not counted).
    pub index: usize,
    pub kind: EntryKind,
    /// Unix permission bits (`& 0o7777`), when the archive records them.
    pub mode: Option<u32>,
    /// As stored: `1980-01-01 00:00:00` (zip DOS time) or RFC 3339 (tar).
    pub mtime: Option<String>,
    /// Zip compression method (`stored`, `deflated`, ...); `None` for tar.
    pub compression: Option<String>,
    /// Zip compressed size; `None` for tar.
    pub compressed_size: Option<u64>,
    /// Format-specific metadata as labelled values, e.g. `("owner", "0:0")`.
    pub extra: Vec<(&'static str, String)>,
    content: Content<'a>,
}

/// The content of an entry, with what is needed to bound it and to name it in errors.
struct Content<'a> {
    reader: &'a mut dyn Read,
    path: &'a Path,
    format: &'static str,
    /// How errors name the entry, e.g. `entry 3 ("a.py")`.
    label: String,
    /// Decompressed bytes left for the archive, when the entry counts them itself (zip; a tar
    /// stream is bounded as a whole).
    budget: Option<(&'a mut u64, u64)>,
}

impl Content<'_> {
    /// One read into `buf`, charged to the budget.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ArchiveError> {
        let n = loop {
            match self.reader.read(buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let e = io::Error::new(e.kind(), format!("{}: {e}", self.label));
                    return Err(read_error(self.path, self.format, e));
                }
            }
        };
        if let Some((left, limit)) = &mut self.budget {
            if n as u64 > **left {
                return Err(too_large(self.path, *limit));
            }
            **left -= n as u64;
        }
        Ok(n)
    }
}

impl Entry<'_> {
    /// Reads the content to its end: its SHA-256 and length.
    pub fn hash(&mut self) -> Result<(Sha256Digest, u64), ArchiveError> {
        let mut hasher = Hasher::new();
        let mut buf = vec![0u8; READ_BUFFER];
        loop {
            let n = self.content.read(&mut buf)?;
            if n == 0 {
                return Ok(hasher.finish());
            }
            hasher.update(&buf[..n]);
        }
    }

    /// The first `len` bytes of the content (fewer when it is shorter); the rest is not read.
    pub fn head(&mut self, len: usize) -> Result<Vec<u8>, ArchiveError> {
        let mut head = vec![0u8; len];
        let mut filled = 0;
        while filled < len {
            let n = self.content.read(&mut head[filled..])?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        head.truncate(filled);
        Ok(head)
    }

    pub fn is_dir(&self) -> bool {
        self.kind == EntryKind::Dir
    }
}

/// A free-text or binary header field: its first bytes, its length and its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    head: Vec<u8>,
    len: u64,
    digest: Sha256Digest,
}

impl Field {
    pub fn new(bytes: &[u8]) -> Self {
        let mut head = bytes.to_vec();
        head.truncate(SHOWN_TEXT);
        Field {
            head,
            len: bytes.len() as u64,
            digest: Sha256Digest::of(bytes),
        }
    }

    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// As quoted text, cut after its first bytes: `"venv.tar"`, `"abc"… (300 bytes)`.
    pub fn text(&self) -> String {
        let shown = String::from_utf8_lossy(&self.head);
        if (self.head.len() as u64) < self.len {
            format!("{shown:?}… ({} bytes)", self.len)
        } else {
            format!("{shown:?}")
        }
    }

    /// As binary: `12 bytes (0123abcd)`.
    pub fn binary(&self) -> String {
        format!("{} bytes ({})", self.len, self.digest.short(8))
    }
}

/// The facts about an archive as a whole, beyond its entries.
#[derive(Debug, Clone)]
pub enum Summary {
    Zip {
        comment: Field,
        /// Bytes before the zip data (a self-extracting stub).
        offset: u64,
        /// The central directory repeats a name.
        duplicate_names: bool,
    },
    TarGz {
        /// The first gzip member's header.
        header: GzHeader,
        /// Gzip members in a row.
        members: usize,
        /// Bytes after the last gzip member that do not start another one.
        trailing: u64,
        trailing_nonzero: bool,
        /// The whole decompressed tar stream (when [`Options::hash_stream`]).
        tar_digest: Option<Sha256Digest>,
        /// Bytes from the end of the last entry's data to the end of the tar stream.
        padding: u64,
        /// Non-zero data after the end-of-archive marker.
        data_after_end: bool,
    },
}

/// Reads the archive at `path` as `kind`, handing each entry to `visit`.
pub fn read(
    path: &Path,
    kind: ArchiveKind,
    options: &Options,
    visit: impl FnMut(&mut Entry<'_>) -> Result<(), ArchiveError>,
) -> Result<Summary, ArchiveError> {
    let open = || File::open(path).map_err(|e| io_error(path, e));
    match kind {
        ArchiveKind::Zip => read_zip(open()?, path, options, visit),
        ArchiveKind::TarGz => read_tar_gz(open()?, path, options, visit),
        ArchiveKind::Other => Err(ArchiveError::NotAnArchive {
            path: path.to_path_buf(),
        }),
    }
}
