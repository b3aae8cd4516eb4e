use super::*;
use std::io::Write;

use proptest::prelude::*;

/// What the reader saw of one entry: name, kind, mode, content.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    name: String,
    kind: EntryKind,
    mode: Option<u32>,
    data: Vec<u8>,
}

fn file_with(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(bytes).unwrap();
    f.flush().unwrap();
    f
}

fn read_all(
    bytes: &[u8],
    kind: ArchiveKind,
    options: &Options,
) -> Result<(Vec<Seen>, Summary), ArchiveError> {
    let file = file_with(bytes);
    let mut seen = Vec::new();
    let summary = read(file.path(), kind, options, |entry| {
        let data = entry.head(1 << 20)?;
        seen.push(Seen {
            name: entry.name.clone(),
            kind: entry.kind.clone(),
            mode: entry.mode,
            data,
        });
        Ok(())
    })?;
    Ok((seen, summary))
}

fn zip_bytes() -> Vec<u8> {
    let mut w = ::zip::ZipWriter::new(io::Cursor::new(Vec::new()));
    let options = ::zip::write::SimpleFileOptions::default()
        .compression_method(::zip::CompressionMethod::Deflated)
        .unix_permissions(0o755)
        .system(::zip::System::Unix);
    w.add_directory("pkg/", options).unwrap();
    w.start_file("pkg/run.sh", options).unwrap();
    w.write_all(b"#!/bin/sh\n").unwrap();
    w.add_symlink("pkg/link", "run.sh", options).unwrap();
    w.finish().unwrap().into_inner()
}

fn pax_record(key: &str, value: &str) -> String {
    // "LEN key=value\n", LEN counting itself.
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while format!("{len}{body}").len() != len {
        len += 1;
    }
    format!("{len}{body}")
}

fn header(kind: ::tar::EntryType, size: u64, mode: u32) -> ::tar::Header {
    let mut h = ::tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(1_714_557_600);
    h
}

/// A tar with a file, a directory, a symlink, a hard link, a GNU long name and a pax path.
fn tar_bytes(pax_path: &str) -> Vec<u8> {
    let mut b = ::tar::Builder::new(Vec::new());
    let mut h = header(::tar::EntryType::Regular, 5, 0o644);
    b.append_data(&mut h, "a.py", &b"x = 1"[..]).unwrap();
    let mut h = header(::tar::EntryType::Directory, 0, 0o755);
    b.append_data(&mut h, "lib/", &[][..]).unwrap();
    let mut h = header(::tar::EntryType::Symlink, 0, 0o777);
    b.append_link(&mut h, "bin/python", "python3.11").unwrap();
    let mut h = header(::tar::EntryType::Link, 0, 0o644);
    b.append_link(&mut h, "b.py", "a.py").unwrap();
    let long = format!("lib/{}.py", "g".repeat(120));
    let mut h = ::tar::Header::new_gnu();
    h.set_size(2);
    h.set_mode(0o600);
    b.append_data(&mut h, &long, &b"ok"[..]).unwrap();
    // A pax header naming the next entry.
    let record = pax_record("path", pax_path);
    let mut x = header(::tar::EntryType::XHeader, record.len() as u64, 0o644);
    x.set_path("PaxHeaders/x").unwrap();
    x.set_cksum();
    b.append(&x, record.as_bytes()).unwrap();
    let mut h = header(::tar::EntryType::Regular, 3, 0o640);
    h.set_path("short-name").unwrap();
    h.set_cksum();
    b.append(&h, &b"pax"[..]).unwrap();
    b.into_inner().unwrap()
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn zip_entries_kinds_modes_and_content() {
    let (seen, summary) = read_all(&zip_bytes(), ArchiveKind::Zip, &Options::default()).unwrap();
    assert_eq!(
        seen,
        [
            Seen {
                name: "pkg/".into(),
                kind: EntryKind::Dir,
                mode: Some(0o755),
                data: vec![]
            },
            Seen {
                name: "pkg/run.sh".into(),
                kind: EntryKind::File,
                mode: Some(0o755),
                data: b"#!/bin/sh\n".to_vec()
            },
            Seen {
                name: "pkg/link".into(),
                kind: EntryKind::Symlink("run.sh".into()),
                mode: Some(0o755),
                data: b"run.sh".to_vec()
            },
        ]
    );
    assert!(matches!(
        summary,
        Summary::Zip {
            offset: 0,
            duplicate_names: false,
            ..
        }
    ));
    assert_eq!(EntryKind::Symlink("run.sh".into()).label(), "symlink -> run.sh");
}

#[test]
fn tar_gz_entries_with_long_names_pax_paths_and_links() {
    let pax_path = format!("lib/python3.11/site-packages/{}/mod.py", "p".repeat(200));
    let bytes = gz(&tar_bytes(&pax_path));
    let (seen, summary) = read_all(&bytes, ArchiveKind::TarGz, &Options::default()).unwrap();
    let got: Vec<(&str, &EntryKind, Option<u32>, &[u8])> = seen
        .iter()
        .map(|s| (s.name.as_str(), &s.kind, s.mode, s.data.as_slice()))
        .collect();
    let long = format!("lib/{}.py", "g".repeat(120));
    assert_eq!(
        got,
        [
            ("a.py", &EntryKind::File, Some(0o644), &b"x = 1"[..]),
            ("lib/", &EntryKind::Dir, Some(0o755), &b""[..]),
            (
                "bin/python",
                &EntryKind::Symlink("python3.11".into()),
                Some(0o777),
                &b""[..]
            ),
            ("b.py", &EntryKind::HardLink("a.py".into()), Some(0o644), &b""[..]),
            (long.as_str(), &EntryKind::File, Some(0o600), &b"ok"[..]),
            (pax_path.as_str(), &EntryKind::File, Some(0o640), &b"pax"[..]),
        ]
    );
    let Summary::TarGz {
        members,
        trailing,
        tar_digest,
        data_after_end,
        ..
    } = summary
    else {
        panic!("a tar.gz summary");
    };
    assert_eq!((members, trailing, data_after_end), (1, 0, false));
    assert_eq!(tar_digest, Some(Sha256Digest::of(&tar_bytes(&pax_path))));
}

#[test]
fn an_unread_entry_is_skipped_and_a_head_is_bounded() {
    let mut b = ::tar::Builder::new(Vec::new());
    let big = vec![7u8; 300_000];
    let mut h = header(::tar::EntryType::Regular, big.len() as u64, 0o644);
    b.append_data(&mut h, "big.bin", &big[..]).unwrap();
    let mut h = header(::tar::EntryType::Regular, 2, 0o644);
    b.append_data(&mut h, "after.py", &b"ok"[..]).unwrap();
    let file = file_with(&gz(&b.into_inner().unwrap()));
    let mut heads = Vec::new();
    read(file.path(), ArchiveKind::TarGz, &Options::default(), |entry| {
        heads.push((entry.name.clone(), entry.head(4)?));
        Ok(())
    })
    .unwrap();
    assert_eq!(
        heads,
        [
            ("big.bin".to_string(), vec![7u8; 4]),
            ("after.py".to_string(), b"ok".to_vec())
        ]
    );
}

#[test]
fn concatenated_tars_are_read_whole_only_when_asked() {
    let one = |name: &str| {
        let mut b = ::tar::Builder::new(Vec::new());
        let mut h = header(::tar::EntryType::Regular, 1, 0o644);
        b.append_data(&mut h, name, &b"1"[..]).unwrap();
        gz(&b.into_inner().unwrap())
    };
    let mut cat = one("first.py");
    cat.extend(one("second.py"));
    let names = |options: &Options| -> Vec<String> {
        let (seen, _) = read_all(&cat, ArchiveKind::TarGz, options).unwrap();
        seen.into_iter().map(|s| s.name).collect()
    };
    assert_eq!(names(&Options::default()), ["first.py"]);
    let (_, summary) = read_all(&cat, ArchiveKind::TarGz, &Options::default()).unwrap();
    assert!(matches!(
        summary,
        Summary::TarGz {
            members: 2,
            data_after_end: true,
            ..
        }
    ));
    let whole = Options {
        concatenated: true,
        hash_stream: false,
        ..Options::default()
    };
    assert_eq!(names(&whole), ["first.py", "second.py"]);
}

#[test]
fn truncated_and_corrupt_archives_are_typed_errors() {
    let tgz = gz(&tar_bytes("x/y.py"));
    for len in (0..tgz.len()).step_by(5) {
        let err = read_all(&tgz[..len], ArchiveKind::TarGz, &Options::default()).unwrap_err();
        assert!(
            matches!(err, ArchiveError::Corrupt { format: "tar.gz", .. }),
            "cut at {len}: {err}"
        );
    }
    let mut bad_crc = tgz.clone();
    let at = bad_crc.len() - 8;
    bad_crc[at] ^= 1;
    let err = read_all(&bad_crc, ArchiveKind::TarGz, &Options::default()).unwrap_err();
    assert!(err.reason().contains("CRC"), "{err}");

    let zip = zip_bytes();
    for len in (0..zip.len()).step_by(5) {
        match read_all(&zip[..len], ArchiveKind::Zip, &Options::default()) {
            Err(ArchiveError::Corrupt { format: "zip", .. } | ArchiveError::Unsupported { .. }) => {}
            other => panic!("cut at {len}: {:?}", other.map(|(s, _)| s)),
        }
    }
    let read_path =
        |path: &str, kind| read(Path::new(path), kind, &Options::default(), |_| Ok(())).unwrap_err();
    let missing = read_path("/nonexistent/a.zip", ArchiveKind::Zip);
    assert!(matches!(missing, ArchiveError::Io { .. }), "{missing}");
    let other = read_path("x", ArchiveKind::Other);
    assert!(matches!(other, ArchiveError::NotAnArchive { .. }));
}

#[test]
fn limits_bound_entries_bytes_and_names() {
    let small = |limits: Limits| Options {
        limits,
        ..Options::default()
    };
    let limits = Limits {
        entries: 2,
        bytes: 1 << 20,
        names: 1 << 20,
        name: 1 << 10,
    };
    let tgz = gz(&tar_bytes("x/y.py"));
    let err = read_all(&tgz, ArchiveKind::TarGz, &small(limits)).unwrap_err();
    assert!(
        matches!(err, ArchiveError::TooManyEntries { limit: 2, .. }),
        "{err}"
    );
    let err = read_all(&zip_bytes(), ArchiveKind::Zip, &small(limits)).unwrap_err();
    assert!(
        matches!(err, ArchiveError::TooManyEntries { limit: 2, .. }),
        "{err}"
    );

    let few_bytes = Limits {
        entries: 100,
        bytes: 4,
        ..limits
    };
    let err = read_all(&zip_bytes(), ArchiveKind::Zip, &small(few_bytes)).unwrap_err();
    assert!(matches!(err, ArchiveError::TooLarge { limit: 4, .. }), "{err}");
    let err = read_all(&tgz, ArchiveKind::TarGz, &small(few_bytes)).unwrap_err();
    assert!(matches!(err, ArchiveError::TooLarge { limit: 4, .. }), "{err}");

    let short_names = Limits {
        entries: 100,
        name: 50,
        ..limits
    };
    let err = read_all(&tgz, ArchiveKind::TarGz, &small(short_names)).unwrap_err();
    assert!(err.reason().contains("GNU long name"), "{err}");
    let few_names = Limits {
        entries: 100,
        names: 8,
        ..limits
    };
    let err = read_all(&zip_bytes(), ArchiveKind::Zip, &small(few_names)).unwrap_err();
    assert!(
        matches!(
            err,
            ArchiveError::TooLarge {
                what: "the entry names",
                limit: 8,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_visitor_error_stops_the_read() {
    let file = file_with(&gz(&tar_bytes("x/y.py")));
    let mut calls = 0;
    let err = read(file.path(), ArchiveKind::TarGz, &Options::default(), |_| {
        calls += 1;
        Err(ArchiveError::NotAnArchive {
            path: PathBuf::from("stop"),
        })
    })
    .unwrap_err();
    assert_eq!(calls, 1);
    assert_eq!(err.path(), Path::new("stop"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random bytes, alone or behind a zip or gzip magic, are read or refused, never a panic.
    #[test]
    fn random_bytes_never_panic(
        prefix in prop::sample::select(vec![&b""[..], &b"PK\x03\x04"[..], &[0x1f, 0x8b, 8, 0][..]]),
        body in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        let bytes = [prefix, &body[..]].concat();
        for kind in [ArchiveKind::Zip, ArchiveKind::TarGz] {
            let _ = read_all(&bytes, kind, &Options::default());
        }
    }

    /// A valid tar.gz with bytes flipped is read or refused, never a panic.
    #[test]
    fn damaged_tar_gz_never_panics(at in any::<prop::sample::Index>(), mask in 1u8..) {
        let mut bytes = gz(&tar_bytes("x/y.py"));
        let i = at.index(bytes.len());
        bytes[i] ^= mask;
        let _ = read_all(&bytes, ArchiveKind::TarGz, &Options::default());
    }
}
