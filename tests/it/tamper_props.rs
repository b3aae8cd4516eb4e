//! Property: whatever single change is made to what a reviewer is given — one byte changed, the
//! file truncated or appended to, in the entry point, in the bytes of the additional artifact, in
//! one entry of the zip or of the environment archive (repacked into a valid archive), or the two
//! artifacts swapped — `crpack verify --files` reports the changed artifact as a mismatch and
//! exits 1, and `crpack approve` exits 1 and changes no analysis rule. In every case.
//!
//! One published sandbox per kind of artifact, reused across its cases. The reviewer can read the
//! pinned bytes, so each mismatch also goes through the per-entry explanation of the damaged
//! bytes, which must not stop the verdict.

use std::fs;
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::*;
use aws_sdk_cleanrooms::types::AnalysisRuleCustom;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// Fails the case unless `run` exited 1, showing what `what` printed.
fn exits_1(run: &Run, what: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        run.code(),
        1,
        "{} must exit 1\nstdout:\n{}\nstderr:\n{}",
        what,
        run.stdout(),
        run.stderr()
    );
    Ok(())
}

/// Cases per kind: enough to hit every mutation many times, few enough to run in seconds.
const CASES: u32 = 32;
/// One case in this many also runs `approve` (and reads the rules back).
const APPROVE_EVERY: usize = 4;

/// What a case changes in a byte string.
#[derive(Debug, Clone)]
enum Edit {
    /// XOR one byte with a non-zero mask.
    Flip { at: Index, mask: u8 },
    /// Keep a strict prefix (possibly empty).
    Truncate { keep: Index },
    /// Add bytes at the end.
    Append(Vec<u8>),
}

impl Edit {
    fn apply(&self, bytes: &mut Vec<u8>) {
        assert!(!bytes.is_empty(), "edits apply to non-empty bytes");
        match self {
            Edit::Flip { at, mask } => {
                let i = at.index(bytes.len());
                bytes[i] ^= mask;
            }
            Edit::Truncate { keep } => bytes.truncate(keep.index(bytes.len())),
            Edit::Append(more) => bytes.extend_from_slice(more),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Which {
    EntryPoint,
    Additional,
}

/// One case: what the reviewer is handed instead of the published artifacts.
#[derive(Debug, Clone)]
enum Case {
    /// An edit of one artifact file's bytes.
    File(Which, Edit),
    /// An edit of one entry's content inside the additional artifact, repacked as a valid archive.
    Entry(Index, Edit),
    /// Each artifact's bytes under the other's name.
    Swap,
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<Index>(), 1u8..=255).prop_map(|(at, mask)| Edit::Flip { at, mask }),
        any::<Index>().prop_map(|keep| Edit::Truncate { keep }),
        prop::collection::vec(any::<u8>(), 1..64).prop_map(Edit::Append),
    ]
}

fn entry_point_cases() -> impl Strategy<Value = Case> {
    prop_oneof![
        6 => edit().prop_map(|e| Case::File(Which::EntryPoint, e)),
        1 => Just(Case::Swap),
    ]
}

fn archive_cases() -> impl Strategy<Value = Case> {
    prop_oneof![
        3 => edit().prop_map(|e| Case::File(Which::Additional, e)),
        3 => (any::<Index>(), edit()).prop_map(|(i, e)| Case::Entry(i, e)),
        1 => Just(Case::Swap),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Format {
    Venv,
    Zip,
}

/// A published template, the reviewer's copies of its artifacts, and the rules before anything.
struct World {
    sb: TestSandbox,
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    arn: String,
    format: Format,
    names: [String; 2],
    bytes: [Vec<u8>; 2],
    provider: crpack_core::aws::Aws,
    rules_before: Vec<Option<AnalysisRuleCustom>>,
    cases: AtomicUsize,
}

impl World {
    fn publish(format: Format) -> World {
        let (sb, tmp, dir) = crate::common::sandbox_with_project("templates/tamper");
        if format == Format::Zip {
            let path = dir.join("crpack.toml");
            let toml = fs::read_to_string(&path).unwrap();
            assert_eq!(toml.matches("\nrequirements = \"requirements.txt\"\n").count(), 1);
            fs::write(
                &path,
                toml.replace("\nrequirements = \"requirements.txt\"\n", "\nformat = \"zip\"\n"),
            )
            .unwrap();
        }
        let lock = sb.author(&dir, &["--json", "publish"]).expect(0).json()["lock"].clone();
        let arn = lock["template"]["arn"].as_str().unwrap().to_string();
        let name = |i: usize| lock["artifacts"][i]["file_name"].as_str().unwrap().to_string();
        let names = [name(0), name(1)];
        assert_eq!(lock["artifacts"][0]["role"], "entry_point");
        let expected_suffix = match format {
            Format::Venv => ".tar.gz",
            Format::Zip => ".zip",
        };
        assert!(names[1].ends_with(expected_suffix), "{names:?}");
        let bytes = [
            fs::read(dir.join("dist").join(&names[0])).unwrap(),
            fs::read(dir.join("dist").join(&names[1])).unwrap(),
        ];
        // The reviewer may read the pinned bytes, so mismatches are explained entry by entry.
        sb.grant_provider_read();
        let provider = sb.clients(&sb.seed.provider.identity);
        let mut w = World {
            sb,
            _tmp: tmp,
            dir,
            arn,
            format,
            names,
            bytes,
            provider,
            rules_before: Vec::new(),
            cases: AtomicUsize::new(0),
        };
        w.rules_before = w.rules();
        // The untouched artifacts verify: every failure below is the edit's doing.
        let given = w.write_case("original", &w.bytes.clone());
        let j = w.verify(&given).expect(0).json();
        assert_eq!(verdicts(&j), ["entry_point=match", "additional=match"]);
        w
    }

    fn rules(&self) -> Vec<Option<AnalysisRuleCustom>> {
        ["orders", "customers"]
            .iter()
            .map(|t| {
                let id = &self
                    .sb
                    .seed
                    .tables
                    .iter()
                    .find(|s| s.name == *t)
                    .unwrap()
                    .configured_table_id;
                self.sb
                    .rt
                    .block_on(crpack_core::verify::rules::read_custom(&self.provider, id))
                    .unwrap()
            })
            .collect()
    }

    /// Writes the two files a case hands the reviewer, under the published file names.
    fn write_case(&self, label: &str, bytes: &[Vec<u8>; 2]) -> [String; 2] {
        let dir = self.dir.join("cases").join(label);
        fs::create_dir_all(&dir).unwrap();
        let mut out = [String::new(), String::new()];
        for i in 0..2 {
            let path = dir.join(&self.names[i]);
            fs::write(&path, &bytes[i]).unwrap();
            out[i] = path.display().to_string();
        }
        out
    }

    fn provider_run(&self, command: &str, files: &[String; 2]) -> Run {
        let pm = &self.sb.seed.provider.membership_id;
        self.sb.provider(
            &self.dir,
            &[
                "--json",
                command,
                "--template",
                &self.arn,
                "--membership",
                pm,
                "--files",
                &files[0],
                &files[1],
            ],
        )
    }

    fn verify(&self, files: &[String; 2]) -> Run {
        self.provider_run("verify", files)
    }

    /// The bytes a case hands the reviewer, the index of each artifact expected to mismatch,
    /// and the archive entry whose content changed (for entry edits).
    fn tamper(&self, case: &Case) -> ([Vec<u8>; 2], [bool; 2], Option<String>) {
        let mut bytes = self.bytes.clone();
        match case {
            Case::File(which, edit) => {
                let i = (*which == Which::Additional) as usize;
                edit.apply(&mut bytes[i]);
                let mut changed = [false; 2];
                changed[i] = true;
                (bytes, changed, None)
            }
            Case::Entry(index, edit) => {
                let (archive, entry) = match self.format {
                    Format::Zip => edit_zip_entry(&bytes[1], index, edit),
                    Format::Venv => edit_tar_gz_entry(&bytes[1], index, edit),
                };
                bytes[1] = archive;
                (bytes, [false, true], Some(entry))
            }
            Case::Swap => {
                bytes.swap(0, 1);
                (bytes, [true, true], None)
            }
        }
    }

    /// Runs one case; `Err` describes the first broken expectation.
    fn check(&self, case: Case) -> Result<(), TestCaseError> {
        let n = self.cases.fetch_add(1, Ordering::SeqCst);
        let (bytes, changed, entry) = self.tamper(&case);
        prop_assert!(
            bytes[0] != self.bytes[0] || bytes[1] != self.bytes[1],
            "the case changes nothing"
        );
        let files = self.write_case(&format!("case-{n}"), &bytes);
        let run = self.verify(&files);
        exits_1(&run, "verify")?;
        let j = run.json();
        prop_assert_eq!(&j["ok"], &serde_json::json!(false));
        let verdict = |c: bool| if c { "mismatch" } else { "match" };
        prop_assert_eq!(
            verdicts(&j),
            vec![
                format!("entry_point={}", verdict(changed[0])),
                format!("additional={}", verdict(changed[1])),
            ]
        );
        for i in 0..2 {
            let actual = sha256_hex(Path::new(&files[i]));
            prop_assert_eq!(j["checks"][i]["actual_sha256"].as_str(), Some(actual.as_str()));
        }
        if let Some(entry) = entry {
            // A valid archive with one entry's content changed: the explanation names it.
            let changes = &j["checks"][1]["explanation"]["changes"];
            let named = changes.as_array().is_some_and(|a| {
                a.iter().any(|c| {
                    c["change"] == "changed"
                        && c["name"].as_str().map(|s| s.trim_start_matches("./"))
                            == Some(entry.trim_start_matches("./"))
                })
            });
            prop_assert!(
                named,
                "entry {} is not explained as changed: {}",
                entry,
                j["checks"][1]
            );
        }
        if n.is_multiple_of(APPROVE_EVERY) {
            self.assert_approve_refused(&files)?;
        }
        Ok(())
    }

    fn assert_approve_refused(&self, files: &[String; 2]) -> Result<(), TestCaseError> {
        let run = self.provider_run("approve", files);
        exits_1(&run, "approve")?;
        let j = run.json();
        prop_assert_eq!(&j["approved"], &serde_json::json!(false));
        prop_assert!(self.rules() == self.rules_before, "approve changed a rule");
        Ok(())
    }

    /// Runs `CASES` cases of `strategy`, then the swap once more (it must be covered).
    fn run(&self, strategy: impl Strategy<Value = Case>) {
        let config = Config {
            cases: CASES,
            failure_persistence: None,
            // Every shrink step runs the binary: keep a failure's report quick.
            max_shrink_iters: 24,
            ..Config::default()
        };
        let mut runner = TestRunner::new(config);
        if let Err(e) = runner.run(&strategy, |case| self.check(case)) {
            panic!("{e}");
        }
        self.check(Case::Swap).unwrap_or_else(|e| panic!("swap: {e}"));
        self.assert_approve_refused(&self.write_case("approve-last", &self.tamper(&Case::Swap).0))
            .unwrap_or_else(|e| panic!("swap approve: {e}"));
    }
}

fn verdicts(j: &serde_json::Value) -> Vec<String> {
    j["checks"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    format!(
                        "{}={}",
                        c["role"].as_str().unwrap_or("?"),
                        c["verdict"].as_str().unwrap_or("?")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `zip` with the content of one non-empty file entry edited; the other entries are copied raw.
/// Returns the new archive and the edited entry's name.
fn edit_zip_entry(zip: &[u8], index: &Index, edit: &Edit) -> (Vec<u8>, String) {
    let mut archive = zip::ZipArchive::new(Cursor::new(zip)).unwrap();
    let candidates: Vec<usize> = (0..archive.len())
        .filter(|i| {
            let f = archive.by_index_raw(*i).unwrap();
            f.is_file() && f.size() > 0
        })
        .collect();
    assert!(!candidates.is_empty(), "the bundle has a non-empty file");
    let target = candidates[index.index(candidates.len())];
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let mut name = String::new();
    for i in 0..archive.len() {
        if i != target {
            out.raw_copy_file(archive.by_index_raw(i).unwrap()).unwrap();
            continue;
        }
        let mut f = archive.by_index(i).unwrap();
        name = f.name().unwrap().into_owned();
        let mut content = Vec::new();
        f.read_to_end(&mut content).unwrap();
        edit.apply(&mut content);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(f.last_modified().unwrap_or_default())
            .unix_permissions(f.unix_mode().unwrap_or(0o644));
        drop(f);
        out.start_file(name.as_str(), options).unwrap();
        out.write_all(&content).unwrap();
    }
    (out.finish().unwrap().into_inner(), name)
}

/// The gzipped tar `tgz` with the content of one non-empty regular file edited (its header's
/// size updated), repacked. Returns the new archive and the edited entry's path.
fn edit_tar_gz_entry(tgz: &[u8], index: &Index, edit: &Edit) -> (Vec<u8>, String) {
    let mut entries: Vec<(tar::Header, PathBuf, Vec<u8>)> = Vec::new();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tgz));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let header = entry.header().clone();
        let path = entry.path().unwrap().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        entries.push((header, path, data));
    }
    let candidates: Vec<usize> = entries
        .iter()
        .enumerate()
        .filter(|(_, (h, _, d))| h.entry_type().is_file() && !d.is_empty())
        .map(|(i, _)| i)
        .collect();
    assert!(!candidates.is_empty(), "the environment has a non-empty file");
    let target = candidates[index.index(candidates.len())];
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::new(6),
    ));
    let mut name = String::new();
    for (i, (mut header, path, mut data)) in entries.into_iter().enumerate() {
        if i == target {
            edit.apply(&mut data);
            header.set_size(data.len() as u64);
            name = path.to_string_lossy().into_owned();
        }
        builder.append_data(&mut header, &path, data.as_slice()).unwrap();
    }
    let gz = builder.into_inner().unwrap();
    (gz.finish().unwrap(), name)
}

#[test]
fn any_change_to_the_entry_point_file_is_a_mismatch_and_blocks_approval() {
    World::publish(Format::Venv).run(entry_point_cases());
}

#[test]
fn any_change_in_the_environment_archive_is_a_mismatch_and_blocks_approval() {
    World::publish(Format::Venv).run(archive_cases());
}

#[test]
fn any_change_in_the_zip_bundle_is_a_mismatch_and_blocks_approval() {
    World::publish(Format::Zip).run(archive_cases());
}
