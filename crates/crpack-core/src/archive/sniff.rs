//! What kind of archive a file is, decided by content, not by file name.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use serde::Serialize;

use super::gzip::{GzMembers, read_gzip_header};
use super::read_up_to;

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
    let header = ::tar::Header::from_byte_slice(block);
    let sum: u32 = block[..148]
        .iter()
        .chain(&block[156..])
        .map(|b| u32::from(*b))
        .sum::<u32>()
        + 8 * u32::from(b' ');
    header.cksum().is_ok_and(|c| c == sum)
}

/// The end-of-central-directory record: its offset and the declared number of entries (from
/// the zip64 record when there is one).
pub(super) fn find_eocd<R: Read + Seek>(reader: &mut R) -> io::Result<Option<(u64, u64)>> {
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
