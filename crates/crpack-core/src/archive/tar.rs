//! Gzip-compressed tar archives: every gzip member, GNU long names and pax headers read by hand
//! (so that their sizes are bounded), the end-of-archive marker and what follows it.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::mem;
use std::path::Path;

use super::gzip::{Counted, GzMembers, read_gzip_header};
use super::{
    ArchiveError, Content, Entry, EntryKind, NameBudget, Options, READ_BUFFER, Summary, corrupt, read_error,
    too_large, too_many, unsupported,
};

/// A pax extended header may be at most this long.
const MAX_PAX_BYTES: u64 = 1 << 20;

/// A time as RFC 3339, with `fraction` (digits) of a second when not empty.
pub(crate) fn rfc3339(secs: i64, fraction: &str) -> String {
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
) -> Result<Vec<u8>, ArchiveError> {
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

/// Reads the entries of a tar stream, handing each to `visit`; returns where the last entry's
/// data ends.
fn read_tar_entries<R: Read>(
    archive: &mut tar::Archive<R>,
    path: &Path,
    options: &Options,
    visit: &mut impl FnMut(&mut Entry<'_>) -> Result<(), ArchiveError>,
) -> Result<u64, ArchiveError> {
    let limits = &options.limits;
    let tar_err = |e: io::Error| read_error(path, "tar.gz", e);
    let mut names = NameBudget::new(path, limits);
    let mut count = 0usize;
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
        if count >= limits.entries {
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
        names.charge(name.len())?;
        let link = long_link
            .or(pax_link)
            .or_else(|| header.link_name_bytes().map(|l| l.into_owned()))
            .map(|l| String::from_utf8_lossy(&l).into_owned())
            .unwrap_or_default();
        let kind = if entry_type.is_dir() {
            EntryKind::Dir
        } else if entry_type.is_file() || entry_type.is_contiguous() {
            EntryKind::File
        } else if entry_type.is_symlink() {
            names.charge(link.len())?;
            EntryKind::Symlink(link)
        } else if entry_type.is_hard_link() {
            names.charge(link.len())?;
            EntryKind::HardLink(link)
        } else {
            EntryKind::Other
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
        names.charge(extensions.len())?;
        let label = format!("entry {name:?}");
        let index = count;
        count += 1;
        let mut item = Entry {
            name,
            index,
            kind,
            mode: Some(mode),
            mtime: Some(mtime),
            compression: None,
            compressed_size: None,
            extra: vec![
                ("owner", owner),
                ("owner names", owner_names),
                ("header format", format.to_string()),
                ("extension headers", extensions),
            ],
            content: Content {
                reader: &mut entry,
                path,
                format: "tar.gz",
                label,
                budget: None,
            },
        };
        visit(&mut item)?;
    }
    if pending.long_name.is_some() || pending.long_link.is_some() || pending.pax.is_some() {
        return Err(corrupt(
            path,
            "tar.gz",
            "an extension header at the end describes no entry",
        ));
    }
    Ok(data_end)
}

/// Reads the gzip tar in `file` (named `path` in errors), every gzip member of it, handing each
/// entry, in stream order, to `visit`. The whole decompressed stream counts against
/// [`super::Limits::bytes`], whether the visitor reads an entry's content or not. The stream is
/// read to its end, so a truncated file or a wrong CRC is an error even after the last entry.
pub fn read_tar_gz(
    file: File,
    path: &Path,
    options: &Options,
    mut visit: impl FnMut(&mut Entry<'_>) -> Result<(), ArchiveError>,
) -> Result<Summary, ArchiveError> {
    let limits = &options.limits;
    let mut reader = BufReader::new(file);
    let header = read_gzip_header(&mut reader).map_err(|e| read_error(path, "tar.gz", e))?;
    let counted = Counted::new(GzMembers::new(reader), limits.bytes, options.hash_stream);
    let mut archive = tar::Archive::new(counted);
    archive.set_ignore_zeros(options.concatenated);
    let result = read_tar_entries(&mut archive, path, options, &mut visit);
    let mut counted = archive.into_inner();
    if counted.exceeded {
        return Err(too_large(path, limits.bytes));
    }
    let data_end = result?;
    // Drain what follows the end-of-archive marker (padding, or data a tar reader ignores).
    let mut data_after_end = false;
    let mut buf = vec![0u8; READ_BUFFER];
    loop {
        let n = match counted.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) if counted.exceeded => return Err(too_large(path, limits.bytes)),
            Err(e) => return Err(read_error(path, "tar.gz", e)),
        };
        // The first block after the entries was read by the tar reader and is all zeros.
        data_after_end |= buf[..n].iter().any(|b| *b != 0);
    }
    let (members, tar_len, tar_digest) = counted.finish();
    Ok(Summary::TarGz {
        header,
        members: members.members,
        trailing: members.trailing,
        trailing_nonzero: members.trailing_nonzero,
        tar_digest,
        padding: tar_len.saturating_sub(data_end),
        data_after_end,
    })
}
