//! Zip archives: the central directory, read entry by entry.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use zip::result::ZipError;
use zip::{CompressionMethod, ZipArchive};

use super::sniff::find_eocd;
use super::{
    ArchiveError, Content, Entry, EntryKind, Field, MAX_NAME_BYTES, NameBudget, Options, Summary, corrupt,
    io_error, is_bad_data, read_error, too_many, unsupported,
};
use crate::digest::Sha256Digest;

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

fn zip_error(path: &Path, index: usize, name: &str, e: ZipError) -> ArchiveError {
    let what = if name.is_empty() {
        format!("entry {index}")
    } else {
        format!("entry {index} ({name:?})")
    };
    match e {
        ZipError::UnsupportedArchive(reason) => unsupported(path, "zip", format!("{what}: {reason}")),
        ZipError::Io(e) if !is_bad_data(&e) => io_error(path, e),
        other => corrupt(path, "zip", format!("{what}: {other}")),
    }
}

/// Reads the zip in `file` (named `path` in errors), handing each entry, in central directory
/// order, to `visit`. The declared entry count is checked before the directory is parsed; every
/// byte the visitor reads counts against [`super::Limits::bytes`].
pub fn read_zip(
    file: File,
    path: &Path,
    options: &Options,
    mut visit: impl FnMut(&mut Entry<'_>) -> Result<(), ArchiveError>,
) -> Result<Summary, ArchiveError> {
    let limits = &options.limits;
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
    let summary = Summary::Zip {
        comment: Field::new(zip.comment()),
        offset: zip.offset(),
        duplicate_names: zip.has_duplicate_names(),
    };
    let mut names = NameBudget::new(path, limits);
    let mut bytes_left = limits.bytes;
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
        names.charge(name.len())?;
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
        let label = format!("entry {index} ({name:?})");
        // A symlink's target is its content: read the start of it, then hand on the whole.
        let mut target = Vec::new();
        if is_symlink && !is_dir {
            (&mut file)
                .take(MAX_NAME_BYTES)
                .read_to_end(&mut target)
                .map_err(|e| read_error(path, "zip", io::Error::new(e.kind(), format!("{label}: {e}"))))?;
            names.charge(target.len())?;
        }
        let kind = if is_dir {
            EntryKind::Dir
        } else if is_symlink {
            EntryKind::Symlink(String::from_utf8_lossy(&target).into_owned())
        } else if is_other {
            EntryKind::Other
        } else {
            EntryKind::File
        };
        let mut content = io::Cursor::new(target).chain(file);
        let mut entry = Entry {
            name,
            index,
            kind,
            mode,
            mtime,
            compression,
            compressed_size,
            extra,
            content: Content {
                reader: &mut content,
                path,
                format: "zip",
                label,
                budget: Some((&mut bytes_left, limits.bytes)),
            },
        };
        visit(&mut entry)?;
    }
    Ok(summary)
}
