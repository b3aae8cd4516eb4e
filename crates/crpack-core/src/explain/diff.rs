//! Comparing two archives: entries by name, their content and metadata, the archive-level
//! facts, and the one-line summary.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use super::packages::package_changes;
use super::{
    ArchiveDiff, ArchiveKind, EntryChange, ExplainError, Item, Listing, SHORT_HASH, read_listing, sniff,
};
use crate::archive::{Field, LIMITS, Limits, Summary, io_error, rfc3339};
use crate::digest::Sha256Digest;

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
fn unexplained(expected: &Summary, actual: &Summary) -> String {
    match (expected, actual) {
        (Summary::TarGz { tar_digest: e, .. }, Summary::TarGz { tar_digest: a, .. })
            if e.is_some() && e == a =>
        {
            "the uncompressed tar streams are identical; only the compressed data differs \
                        (compression level or deflate implementation)"
                .to_string()
        }
        (Summary::TarGz { .. }, _) => "the tar streams differ in header fields crpack does not compare \
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

fn show_text(field: &Option<Field>) -> String {
    field.as_ref().map_or_else(|| "none".to_string(), Field::text)
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

/// Adds "LABEL EXPECTED → ACTUAL" to `out` when the two differ.
fn differs<T: PartialEq>(out: &mut Vec<String>, label: &str, e: T, a: T, show: impl Fn(T) -> String) {
    if e != a {
        out.push(format!("{label} {} → {}", show(e), show(a)));
    }
}

fn level_differences(e: &Summary, a: &Summary) -> Vec<String> {
    let mut out = Vec::new();
    match (e, a) {
        (
            Summary::Zip {
                comment: ec,
                offset: eo,
                duplicate_names: ed,
            },
            Summary::Zip {
                comment: ac,
                offset: ao,
                duplicate_names: ad,
            },
        ) => {
            let comment = |c: &Field| {
                if c.is_empty() {
                    "none".to_string()
                } else {
                    c.text()
                }
            };
            differs(&mut out, "zip comment", ec, ac, comment);
            differs(&mut out, "bytes before the zip data", eo, ao, u64::to_string);
            for (side, dup) in [("expected", ed), ("actual", ad)] {
                if *dup {
                    out.push(format!(
                        "{side} repeats entry names in its central directory; only one of each is read"
                    ));
                }
            }
        }
        (
            Summary::TarGz {
                header: eh,
                members: em,
                trailing: et,
                trailing_nonzero: etn,
                padding: ep,
                data_after_end: ede,
                ..
            },
            Summary::TarGz {
                header: ah,
                members: am,
                trailing: at,
                trailing_nonzero: atn,
                padding: ap,
                data_after_end: ade,
                ..
            },
        ) => {
            differs(&mut out, "gzip header mtime", eh.mtime, ah.mtime, gz_mtime);
            differs(&mut out, "gzip original file name", &eh.name, &ah.name, show_text);
            differs(&mut out, "gzip OS byte", eh.os, ah.os, |os| {
                format!("{os} ({})", os_name(os))
            });
            differs(&mut out, "gzip extra flags", eh.xfl, ah.xfl, |xfl| {
                format!("{xfl} ({})", xfl_name(xfl))
            });
            differs(&mut out, "gzip comment", &eh.comment, &ah.comment, show_text);
            differs(&mut out, "gzip extra field", &eh.extra, &ah.extra, |f| {
                f.as_ref().map_or_else(|| "none".to_string(), Field::binary)
            });
            differs(&mut out, "gzip header CRC", eh.header_crc, ah.header_crc, |b| {
                if b { "yes" } else { "no" }.to_string()
            });
            differs(&mut out, "gzip members", em, am, usize::to_string);
            differs(
                &mut out,
                "bytes after the gzip data",
                (et, etn),
                (at, atn),
                |(n, nz)| {
                    if *nz {
                        format!("{n} (not all zero)")
                    } else {
                        n.to_string()
                    }
                },
            );
            if ep != ap {
                out.push(format!("tar end-of-archive padding {ep} → {ap} bytes"));
            }
            differs(&mut out, "after the tar end-of-archive marker:", ede, ade, |b| {
                if *b { "non-zero data" } else { "zeros only" }.to_string()
            });
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
