use super::*;
use crate::archive::Limits;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

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

/// A temporary directory with the paths of an expected (`e.zip`) and an actual (`a.zip`) archive.
fn zip_pair() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (e, a) = (dir.path().join("e.zip"), dir.path().join("a.zip"));
    (dir, e, a)
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
    let (_dir, e, a) = zip_pair();
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
    let (_dir, e, a) = zip_pair();
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
    let (_dir, e, a) = zip_pair();
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
    let (_dir, e, a) = zip_pair();
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
    let (_dir, e, a) = zip_pair();
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
    let (_dir, e, a) = zip_pair();
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
