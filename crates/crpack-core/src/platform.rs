//! Target-platform preflight for the additional artifact: Clean Rooms runs PySpark jobs on
//! Linux ARM64 with Python 3.11, so native extensions built for another CPU or Python fail at
//! job time with nothing but an import error. This reads a venv-pack archive (or a bundle zip,
//! or the files that go into one) without unpacking it and reports what will not load there.
//!
//! Native code is judged by its header, not its name: every regular file that starts with the
//! ELF magic is checked for a 64-bit little-endian AArch64 ELF (`e_machine` 183), and a `.so`
//! that is not ELF at all (a macOS Mach-O or Windows PE library) is reported too. Only the first
//! [`HEAD_LEN`] bytes of each file are read; archives are read through [`crate::archive`], under
//! its limits. The CPython version is not in the ELF header, so it still comes from the
//! `cpython-3XY` tag of the file name.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use crate::archive::{self, ArchiveError, EntryKind, Options};

/// The architecture Clean Rooms runs on.
pub const TARGET_ARCH: &str = "aarch64";
/// The CPython tag of the runtime.
pub const TARGET_PYTHON: &str = "311";
/// How many bytes of each file are read: an ELF64 header.
pub const HEAD_LEN: u64 = 64;

/// `e_machine` of AArch64.
const EM_AARCH64: u16 = 183;

/// One finding about a file in the artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// `native-arch` (native code for another CPU or OS) or `native-python` (an extension for
    /// another CPython).
    pub code: &'static str,
    pub path: String,
    pub message: String,
}

/// What the first bytes of a file say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    /// An ELF file: its class (32 or 64-bit), byte order and `e_machine`.
    Elf {
        bits64: bool,
        little_endian: bool,
        machine: u16,
    },
    /// The ELF magic, but the header is cut short or its class/byte order is invalid.
    BadElf,
    /// A macOS Mach-O file (or a universal binary holding several).
    MachO,
    /// A Windows PE file (`MZ`).
    Pe,
    /// Anything else.
    Other,
}

/// Identifies a file from its first bytes (at least 20 are needed to read an ELF `e_machine`).
pub fn identify(head: &[u8]) -> Binary {
    if head.starts_with(b"\x7fELF") {
        let (Some(&class), Some(&data), Some(m)) = (head.get(4), head.get(5), head.get(18..20)) else {
            return Binary::BadElf;
        };
        let little_endian = match data {
            1 => true,
            2 => false,
            _ => return Binary::BadElf,
        };
        let bits64 = match class {
            1 => false,
            2 => true,
            _ => return Binary::BadElf,
        };
        let bytes = [m[0], m[1]];
        let machine = if little_endian {
            u16::from_le_bytes(bytes)
        } else {
            u16::from_be_bytes(bytes)
        };
        return Binary::Elf {
            bits64,
            little_endian,
            machine,
        };
    }
    match head.get(..4) {
        Some(
            [0xfe, 0xed, 0xfa, 0xce | 0xcf]
            | [0xce | 0xcf, 0xfa, 0xed, 0xfe]
            | [0xca, 0xfe, 0xba, 0xbe]
            | [0xbe, 0xba, 0xfe, 0xca],
        ) => Binary::MachO,
        _ if head.starts_with(b"MZ") => Binary::Pe,
        _ => Binary::Other,
    }
}

/// The CPU an ELF `e_machine` (with the file's class and byte order) is for, e.g. `x86-64`.
pub fn machine_name(machine: u16, bits64: bool, little_endian: bool) -> String {
    let name = match (machine, bits64) {
        (2, _) => "SPARC",
        (3, _) => "x86 (i386)",
        (8, _) if little_endian => "MIPS (little-endian)",
        (8, _) => "MIPS",
        (20, _) => "PowerPC (32-bit)",
        (21, _) if little_endian => "PowerPC 64 little-endian (ppc64le)",
        (21, _) => "PowerPC 64 (ppc64)",
        (22, true) => "IBM Z (s390x)",
        (22, false) => "IBM S/390 (s390)",
        (40, _) => "ARM 32-bit (armv7)",
        (43, _) => "SPARC V9",
        (50, _) => "Itanium (IA-64)",
        (62, true) => "x86-64",
        (62, false) => "x86-64 x32",
        (183, true) if little_endian => "AArch64",
        (183, true) => "AArch64 big-endian",
        (183, false) => "AArch64 ILP32 (32-bit)",
        (243, true) => "RISC-V 64-bit",
        (243, false) => "RISC-V 32-bit",
        (247, _) => "eBPF",
        (258, _) => "LoongArch",
        _ => return format!("an unknown CPU (ELF e_machine {machine})"),
    };
    name.to_string()
}

/// The CPU and CPython a native extension's file name says it was built for, e.g.
/// `_foo.cpython-311-x86_64-linux-gnu.so` → (`x86_64`, `311`). Names can be wrong: the CPU is
/// judged from the file's header; only the CPython version is taken from here.
pub fn extension_target(name: &str) -> Option<(String, Option<String>)> {
    const ARCHES: [&str; 7] = ["x86_64", "aarch64", "arm64", "i686", "ppc64le", "s390x", "armv7l"];
    let file = name.rsplit('/').next().unwrap_or(name);
    let (_, tag) = file.strip_suffix(".so")?.rsplit_once('.')?;
    let parts: Vec<&str> = tag.split('-').collect();
    let arch = parts.iter().find(|p| ARCHES.contains(p))?;
    Some((arch.to_string(), extension_python(name)))
}

/// The CPython version in an extension's file name: `_foo.cpython-39-darwin.so` → `39`.
pub fn extension_python(name: &str) -> Option<String> {
    let file = name.rsplit('/').next().unwrap_or(name);
    let (_, tag) = file.strip_suffix(".so")?.rsplit_once('.')?;
    let version = tag.strip_prefix("cpython-")?.split('-').next()?;
    (version.len() >= 2 && version.bytes().all(|b| b.is_ascii_digit())).then(|| version.to_string())
}

/// A shared library by its name: `x.so`, `libfoo.so.1.2`.
fn is_shared_object(name: &str) -> bool {
    let file = name.rsplit('/').next().unwrap_or(name);
    file.ends_with(".so")
        || file.split_once(".so.").is_some_and(|(stem, version)| {
            !stem.is_empty()
                && version
                    .split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        })
}

fn add(found: &mut BTreeMap<String, Finding>, code: &'static str, path: &str, message: String) {
    found.entry(format!("{code}:{path}")).or_insert_with(|| Finding {
        code,
        path: path.to_string(),
        message,
    });
}

fn check_python(path: &str, found: &mut BTreeMap<String, Finding>) {
    if let Some(py) = extension_python(path)
        && py != TARGET_PYTHON
    {
        add(
            found,
            "native-python",
            path,
            format!(
                "{path} is built for CPython {}.{}; the PySpark runtime is Python 3.11: \
                 install the wheels built for cp311",
                &py[..1],
                &py[1..]
            ),
        );
    }
}

/// Judges one regular file from its first bytes (and, for the CPython version, its name).
fn judge(path: &str, head: &[u8], found: &mut BTreeMap<String, Finding>) {
    const FIX: &str = "Clean Rooms runs Linux ARM64 (aarch64), so it will not load there: \
                       install the manylinux aarch64 wheels (build the environment for linux/arm64)";
    let named = extension_target(path)
        .map(|(arch, _)| arch)
        .filter(|a| a == TARGET_ARCH || a == "arm64")
        .map(|a| format!(" (its name says {a}, its header does not)"))
        .unwrap_or_default();
    match identify(head) {
        Binary::Elf {
            bits64,
            little_endian,
            machine,
        } if !(machine == EM_AARCH64 && bits64 && little_endian) => {
            let cpu = machine_name(machine, bits64, little_endian);
            let bits = if bits64 { 64 } else { 32 };
            add(
                found,
                "native-arch",
                path,
                format!(
                    "{path} is native code for {cpu} ({bits}-bit ELF, e_machine {machine}){named}; {FIX}"
                ),
            );
        }
        Binary::BadElf => add(
            found,
            "native-arch",
            path,
            format!(
                "{path} starts like an ELF file but its header is cut short or invalid, so it \
                 cannot be loaded: the file is damaged; rebuild the environment"
            ),
        ),
        Binary::MachO if is_shared_object(path) => add(
            found,
            "native-arch",
            path,
            format!("{path} is a macOS (Mach-O) library, not a Linux ELF one; {FIX}"),
        ),
        Binary::Pe if is_shared_object(path) => add(
            found,
            "native-arch",
            path,
            format!("{path} is a Windows (PE) library, not a Linux ELF one; {FIX}"),
        ),
        // A GNU ld linker script named `.so` is text for the linker, never loaded.
        Binary::Other if is_shared_object(path) && !head.starts_with(b"/* GNU ld script") => {
            let start: String = head.iter().take(4).map(|b| format!("{b:02x}")).collect();
            let what = if head.is_empty() {
                "is empty".to_string()
            } else {
                format!("starts with bytes {start}")
            };
            add(
                found,
                "native-arch",
                path,
                format!(
                    "{path} is named like a shared library but is not an ELF file (it {what}), so \
                     Linux cannot load it; {FIX}"
                ),
            );
        }
        _ => {}
    }
    check_python(path, found);
}

/// The first [`HEAD_LEN`] bytes of a reader.
fn read_head<R: Read>(reader: R) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(HEAD_LEN as usize);
    reader.take(HEAD_LEN).read_to_end(&mut head)?;
    Ok(head)
}

/// An error about a whole archive: which file, what it was read as, the cause and the fix.
fn archive_error(path: &Path, what: &str, cause: &dyn std::fmt::Display, fix: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: cannot read it as {what}: {cause}; {fix}", path.display()),
    )
}

const TAR_FIX: &str = "the file is truncated or corrupt: rebuild it (venv-pack -f -o NAME.tar.gz) \
                       and copy it again";

fn open(path: &Path) -> io::Result<File> {
    File::open(path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("{}: cannot open it: {e}; check the path", path.display()),
        )
    })
}

/// Judges the head of every entry `judged` accepts, reading the archive with `read`.
fn scan_archive(
    read: impl FnOnce(
        &Options,
        &mut dyn FnMut(&mut archive::Entry<'_>) -> Result<(), ArchiveError>,
    ) -> Result<archive::Summary, ArchiveError>,
    judged: impl Fn(&EntryKind) -> bool,
) -> Result<Vec<Finding>, ArchiveError> {
    let options = Options {
        concatenated: true,
        hash_stream: false,
        ..Options::default()
    };
    let mut found = BTreeMap::new();
    read(&options, &mut |entry| {
        if judged(&entry.kind) {
            // Only the head is read; the reader skips the rest of the data.
            let head = entry.head(HEAD_LEN as usize)?;
            judge(&entry.name, &head, &mut found);
        }
        Ok(())
    })?;
    Ok(found.into_values().collect())
}

/// Reads a gzip tar (venv-pack's format), every gzip member of it, and reports native code that
/// will not load on the runtime. Only the first [`HEAD_LEN`] bytes of each file are read; the
/// rest is skipped while streaming. A file that is not a complete, valid gzip tar is an error
/// (never an empty result). Concatenated archives (`cat a.tar.gz b.tar.gz`) are read to the
/// end: every member counts.
pub fn scan_tar_gz(path: &Path) -> io::Result<Vec<Finding>> {
    const WHAT: &str = "a gzip tar (venv-pack .tar.gz)";
    let mut file = open(path)?;
    let mut magic = Vec::with_capacity(2);
    (&mut file)
        .take(2)
        .read_to_end(&mut magic)
        .and_then(|_| file.seek(SeekFrom::Start(0)))
        .map_err(|e| archive_error(path, WHAT, &e, TAR_FIX))?;
    if magic != [0x1f, 0x8b] {
        let start = if magic.is_empty() {
            "the file is empty".to_string()
        } else {
            format!("it starts with {} instead of 1f8b", hex::encode(&magic))
        };
        return Err(archive_error(
            path,
            WHAT,
            &format!("not gzip data ({start})"),
            "the libraries file must be a venv-pack .tar.gz",
        ));
    }
    scan_archive(
        |options, visit| archive::read_tar_gz(file, path, options, visit),
        |kind| *kind == EntryKind::File,
    )
    .map_err(|e| archive_error(path, WHAT, &e.reason(), TAR_FIX))
}

/// Reads a zip bundle and reports native code in it that will not load on the runtime. Only
/// the first [`HEAD_LEN`] bytes of each file are decompressed. A file that is not a valid zip
/// is an error.
pub fn scan_zip(path: &Path) -> io::Result<Vec<Finding>> {
    const WHAT: &str = "a zip archive";
    const FIX: &str = "the file is truncated or corrupt: build it again (crpack build)";
    let file = open(path)?;
    scan_archive(
        |options, visit| archive::read_zip(file, path, options, visit),
        // Whatever is neither a directory nor a symlink is extracted as a file.
        |kind| !matches!(kind, EntryKind::Dir | EntryKind::Symlink(_)),
    )
    .map_err(|e| archive_error(path, WHAT, &e.reason(), FIX))
}

/// Reports native code among the files that go into a bundle zip: `(name in the bundle, file on
/// disk)`. Only the first [`HEAD_LEN`] bytes of each file are read. A file that cannot be read
/// is an error.
pub fn scan_files<S: AsRef<str>, P: AsRef<Path>>(files: &[(S, P)]) -> io::Result<Vec<Finding>> {
    let mut found = BTreeMap::new();
    for (entry, source) in files {
        let (entry, source) = (entry.as_ref(), source.as_ref());
        let head = File::open(source).and_then(read_head).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "{} (bundled as {entry}): cannot read it: {e}; check that it exists and is readable",
                    source.display()
                ),
            )
        })?;
        judge(entry, &head, &mut found);
    }
    Ok(found.into_values().collect())
}

/// Reports native extensions by file name alone, for when the contents are not at hand: the CPU
/// in the name can be wrong, so prefer [`scan_files`], which reads the ELF headers.
pub fn scan_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<Finding> {
    let mut found = BTreeMap::new();
    for path in names {
        if let Some((arch, _)) = extension_target(path)
            && arch != TARGET_ARCH
            && arch != "arm64"
        {
            add(
                &mut found,
                "native-arch",
                path,
                format!(
                    "{path} is a native extension built for {arch} (by its name); Clean Rooms runs \
                     Linux ARM64 (aarch64), so it will not load there: build the environment on or \
                     for linux/arm64"
                ),
            );
        }
        check_python(path, &mut found);
    }
    found.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A 64-byte ELF header (shared object) for a CPU, followed by some code-like bytes.
    fn elf(bits64: bool, little_endian: bool, machine: u16) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = if bits64 { 2 } else { 1 };
        h[5] = if little_endian { 1 } else { 2 };
        h[6] = 1;
        let (e_type, e_machine) = if little_endian {
            (3u16.to_le_bytes(), machine.to_le_bytes())
        } else {
            (3u16.to_be_bytes(), machine.to_be_bytes())
        };
        h[16..18].copy_from_slice(&e_type);
        h[18..20].copy_from_slice(&e_machine);
        h.extend((0..3000u32).map(|i| (i * 7 % 251) as u8));
        h
    }

    fn x86_64() -> Vec<u8> {
        elf(true, true, 62)
    }

    fn aarch64() -> Vec<u8> {
        elf(true, true, 183)
    }

    /// Bytes that do not compress, from a fixed seed.
    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed;
        (0..len)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (x >> 56) as u8
            })
            .collect()
    }

    /// An uncompressed tar of regular files.
    fn tar_bytes(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn file_with(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        f.flush().unwrap();
        f
    }

    fn tar_gz(files: &[(&str, &[u8])]) -> tempfile::NamedTempFile {
        file_with(&gz(&tar_bytes(files)))
    }

    /// Python's `tarfile` (which reads every gzip member) lists an archive: the independent
    /// judge of what the test archives hold.
    fn python_tar_names(path: &Path) -> Vec<String> {
        crate::testing::python3(
            "import sys, tarfile\n\
             with tarfile.open(sys.argv[1], 'r:gz', ignore_zeros=True) as t:\n    \
             print('\\n'.join(t.getnames()))",
            [path],
        )
        .lines()
        .map(str::to_string)
        .collect()
    }

    fn codes(f: &[Finding]) -> Vec<(&str, &str)> {
        f.iter().map(|f| (f.code, f.path.as_str())).collect()
    }

    const SP: &str = "lib/python3.11/site-packages";

    #[test]
    fn extension_names() {
        assert_eq!(
            extension_target(
                "lib/python3.11/site-packages/numpy/_core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so"
            ),
            Some(("x86_64".into(), Some("311".into())))
        );
        assert_eq!(
            extension_target("x/_cffi_backend.cpython-39-aarch64-linux-gnu.so"),
            Some(("aarch64".into(), Some("39".into())))
        );
        assert_eq!(
            extension_target("x/_rust.abi3.so"),
            None,
            "no architecture in the name"
        );
        assert_eq!(extension_target("x/libfoo.so"), None);
        assert_eq!(extension_target("x/module.py"), None);
        assert_eq!(
            extension_python("x/_foo.cpython-39-darwin.so").as_deref(),
            Some("39")
        );
        assert_eq!(extension_python("x/_foo.abi3.so"), None);
        assert_eq!(extension_python("x/_foo.cpython-311.py"), None);
        assert!(is_shared_object("a/libopenblas-r0.so"));
        assert!(is_shared_object("a/libgfortran.so.5.0.0"));
        assert!(!is_shared_object("a/notes.so.txt"));
        assert!(!is_shared_object("a/x.py"));
    }

    #[test]
    fn headers_are_identified() {
        assert_eq!(
            identify(&x86_64()),
            Binary::Elf {
                bits64: true,
                little_endian: true,
                machine: 62
            }
        );
        assert_eq!(
            identify(&elf(true, false, 21)),
            Binary::Elf {
                bits64: true,
                little_endian: false,
                machine: 21
            },
            "big-endian e_machine"
        );
        assert_eq!(identify(b"\x7fELF\x02\x01\x01"), Binary::BadElf);
        let mut bad_class = aarch64();
        bad_class[4] = 9;
        assert_eq!(identify(&bad_class), Binary::BadElf);
        assert_eq!(identify(&[0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1]), Binary::MachO);
        assert_eq!(identify(&[0xfe, 0xed, 0xfa, 0xcf]), Binary::MachO);
        assert_eq!(identify(b"MZ\x90\x00"), Binary::Pe);
        assert_eq!(identify(b"import os\n"), Binary::Other);
        assert_eq!(identify(b""), Binary::Other);
        assert_eq!(machine_name(62, true, true), "x86-64");
        assert_eq!(machine_name(3, false, true), "x86 (i386)");
        assert_eq!(machine_name(40, false, true), "ARM 32-bit (armv7)");
        assert_eq!(machine_name(21, true, true), "PowerPC 64 little-endian (ppc64le)");
        assert_eq!(machine_name(22, true, false), "IBM Z (s390x)");
        assert_eq!(machine_name(243, true, true), "RISC-V 64-bit");
        assert!(machine_name(9999, true, true).contains("9999"));
    }

    #[test]
    fn the_header_decides_not_the_name() {
        let lying = format!("{SP}/fast/_x.cpython-311-aarch64-linux-gnu.so");
        let honest = format!("{SP}/fast/_y.cpython-311-x86_64-linux-gnu.so");
        let archive = tar_gz(&[
            ("bin/python", b"x"),
            (&lying, &x86_64()),
            (&honest, &aarch64()),
            (&format!("{SP}/six.py"), b"import sys\n"),
        ]);
        let f = scan_tar_gz(archive.path()).unwrap();
        assert_eq!(
            codes(&f),
            [("native-arch", lying.as_str())],
            "only the x86-64 ELF is flagged, whatever the names say: {f:?}"
        );
        assert!(
            f[0].message.contains("x86-64")
                && f[0].message.contains("e_machine 62")
                && f[0].message.contains("its name says aarch64"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn foreign_cpus_32_bit_and_non_elf_libraries_are_reported() {
        let files: Vec<(String, Vec<u8>)> = vec![
            (
                format!("{SP}/a/_arm.cpython-311-arm-linux-gnueabihf.so"),
                elf(false, true, 40),
            ),
            (format!("{SP}/a/_ilp32.so"), elf(false, true, 183)),
            (format!("{SP}/a/_be.so"), elf(true, false, 183)),
            (format!("{SP}/a/_ppc.so"), elf(true, true, 21)),
            (format!("{SP}/a/_s390.so"), elf(true, false, 22)),
            (format!("{SP}/a/_rv.so"), elf(true, true, 243)),
            (format!("{SP}/a/_i386.so"), elf(false, true, 3)),
            ("bin/tool".into(), x86_64()),
            (
                format!("{SP}/a/_mac.cpython-311-darwin.so"),
                vec![0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1, 3],
            ),
            (format!("{SP}/a/_win.so"), b"MZ\x90\x00\x03".to_vec()),
            (format!("{SP}/a/_text.so"), b"hello".to_vec()),
            (format!("{SP}/a/_empty.so"), Vec::new()),
            (format!("{SP}/a/_short.so"), b"\x7fELF\x02".to_vec()),
            // Not native code, or native code for the runtime: nothing to say.
            (
                format!("{SP}/a/libc.so"),
                b"/* GNU ld script\nGROUP ( x )".to_vec(),
            ),
            (format!("{SP}/a/libok.so.1.2"), aarch64()),
            (format!("{SP}/a/Data.class"), vec![0xca, 0xfe, 0xba, 0xbe, 0, 0]),
            (format!("{SP}/a/setup.exe.txt"), b"MZ is a text".to_vec()),
        ];
        let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
        let f = scan_tar_gz(tar_gz(&refs).path()).unwrap();
        let flagged: Vec<&str> = f.iter().map(|f| f.path.as_str()).collect();
        let expected: Vec<&str> = files[..13].iter().map(|(n, _)| n.as_str()).collect();
        let mut expected_sorted = expected.clone();
        expected_sorted.sort();
        assert_eq!(flagged, expected_sorted, "{f:#?}");
        assert!(f.iter().all(|f| f.code == "native-arch"), "{f:#?}");
        let message = |suffix: &str| {
            f.iter()
                .find(|f| f.path.ends_with(suffix))
                .map(|f| f.message.clone())
                .unwrap()
        };
        assert!(message("_arm.cpython-311-arm-linux-gnueabihf.so").contains("ARM 32-bit"));
        assert!(message("_ilp32.so").contains("32-bit"));
        assert!(message("_be.so").contains("big-endian"));
        assert!(message("_ppc.so").contains("ppc64le"));
        assert!(message("_s390.so").contains("s390x"));
        assert!(message("_rv.so").contains("RISC-V"));
        assert!(message("_i386.so").contains("i386"));
        assert!(message("bin/tool").contains("x86-64"));
        assert!(message("_mac.cpython-311-darwin.so").contains("Mach-O"));
        assert!(message("_win.so").contains("PE"));
        assert!(message("_text.so").contains("68656c6c"));
        assert!(message("_empty.so").contains("empty"));
        assert!(message("_short.so").contains("cut short"));
    }

    #[test]
    fn python_version_still_comes_from_the_name() {
        let old = "lib/python3.9/site-packages/numpy/core/_umath.cpython-39-aarch64-linux-gnu.so";
        let both = "lib/python3.9/site-packages/numpy/core/_x.cpython-39-x86_64-linux-gnu.so";
        let archive = tar_gz(&[(old, &aarch64()), (both, &x86_64())]);
        let f = scan_tar_gz(archive.path()).unwrap();
        assert_eq!(
            codes(&f),
            [
                ("native-arch", both),
                ("native-python", old),
                ("native-python", both)
            ]
        );
        assert!(f[1].message.contains("3.9"), "{}", f[1].message);
    }

    #[test]
    fn every_gzip_member_is_read() {
        let foreign = format!("{SP}/pkg/_c.cpython-311-aarch64-linux-gnu.so");
        let tar = tar_bytes(&[
            (&format!("{SP}/pkg/__init__.py"), b"x = 1\n"),
            (&foreign, &x86_64()),
        ]);
        // The first member ends after the first entry (a header and one data block).
        let (first, second) = tar.split_at(1024);
        let mut two = gz(first);
        two.extend(gz(second));
        let archive = file_with(&two);
        assert!(
            python_tar_names(archive.path()).contains(&foreign),
            "the second member holds the foreign extension"
        );
        // A reader of the first member alone sees a complete-looking archive without it.
        let single = flate2::read::GzDecoder::new(File::open(archive.path()).unwrap());
        let mut names = Vec::new();
        for e in tar::Archive::new(single).entries().unwrap() {
            names.push(e.unwrap().path().unwrap().display().to_string());
        }
        assert!(!names.contains(&foreign), "{names:?}");

        let f = scan_tar_gz(archive.path()).unwrap();
        assert_eq!(codes(&f), [("native-arch", foreign.as_str())]);

        // Two whole archives concatenated (`cat a.tar.gz b.tar.gz`): the second one counts too.
        let mut cat = gz(&tar_bytes(&[("a.py", b"a")]));
        cat.extend(gz(&tar_bytes(&[(&foreign, &x86_64())])));
        let archive = file_with(&cat);
        assert!(python_tar_names(archive.path()).contains(&foreign));
        let f = scan_tar_gz(archive.path()).unwrap();
        assert_eq!(codes(&f), [("native-arch", foreign.as_str())]);
    }

    #[test]
    fn only_the_head_of_each_file_is_needed() {
        // A large file is skipped, not buffered: the entry after it is still judged.
        let big = noise(3 << 20, 1);
        let archive = tar_gz(&[("data/big.bin", &big), ("x/_x.so", &x86_64())]);
        let f = scan_tar_gz(archive.path()).unwrap();
        assert_eq!(codes(&f), [("native-arch", "x/_x.so")]);
    }

    #[test]
    fn unreadable_archives_are_errors_not_empty_results() {
        let good = gz(&tar_bytes(&[
            ("data/n.bin", &noise(200_000, 2)),
            ("x/_x.so", &x86_64()),
        ]));
        assert_eq!(scan_tar_gz(file_with(&good).path()).unwrap().len(), 1);

        let mut corrupt = good.clone();
        let mid = corrupt.len() / 2;
        corrupt[mid] ^= 0x55;
        let mut bad_crc = good.clone();
        let crc_at = bad_crc.len() - 8;
        bad_crc[crc_at] ^= 1;
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("truncated in the middle", good[..good.len() / 2].to_vec()),
            ("truncated trailer", good[..good.len() - 4].to_vec()),
            ("10 bytes (a gzip header)", good[..10].to_vec()),
            ("random bytes", noise(4096, 3)),
            (
                "gzip header then random bytes",
                [&good[..10], &noise(4096, 4)[..]].concat(),
            ),
            ("corrupt deflate data", corrupt),
            ("wrong CRC", bad_crc),
            ("gzip of text, not a tar", gz(b"hello, this is not a tar archive")),
            ("empty file", Vec::new()),
        ];
        for (what, bytes) in cases {
            let file = file_with(&bytes);
            let err = scan_tar_gz(file.path()).expect_err(&format!("{what}: must be an error, not a result"));
            let message = err.to_string();
            assert!(
                message.contains(&file.path().display().to_string())
                    && message.contains("cannot read it as a gzip tar"),
                "{what}: {message}"
            );
        }
        let err = scan_tar_gz(Path::new("/nonexistent/env.tar.gz")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("/nonexistent/env.tar.gz"));
    }

    #[test]
    fn reader_errors_name_the_cause_and_the_fix() {
        let good = gz(&tar_bytes(&[("data/n.bin", &noise(200_000, 7))]));
        let file = file_with(&good[..good.len() / 2]);
        let message = scan_tar_gz(file.path()).unwrap_err().to_string();
        assert!(
            message.contains("cannot read it as a gzip tar (venv-pack .tar.gz): corrupt tar.gz: ")
                && message.ends_with("rebuild it (venv-pack -f -o NAME.tar.gz) and copy it again"),
            "{message}"
        );
        // Extension headers the scan cannot honour are refused, not misread.
        let mut pax = tar_bytes(&[("x/_x.so", &x86_64())]);
        let record = b"15 size=999999\n";
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_size(record.len() as u64);
        h.set_cksum();
        let mut block = h.as_bytes().to_vec();
        block.extend_from_slice(record);
        block.resize(1024, 0);
        block.append(&mut pax);
        let message = scan_tar_gz(file_with(&gz(&block)).path())
            .unwrap_err()
            .to_string();
        assert!(message.contains("overrides an entry's size"), "{message}");
    }

    #[test]
    fn a_valid_empty_archive_has_no_findings() {
        let archive = file_with(&gz(&tar_bytes(&[])));
        assert_eq!(scan_tar_gz(archive.path()).unwrap(), []);
    }

    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        let options =
            zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in files {
            w.start_file(*name, options).unwrap();
            w.write_all(data).unwrap();
        }
        w.add_symlink("pkg/link.so", "_fast.so", options).unwrap();
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn zip_bundles_are_read_by_header() {
        let bytes = zip_of(&[
            ("pkg/__init__.py", b""),
            ("pkg/_fast.cpython-311-aarch64-linux-gnu.so", &x86_64()),
            ("pkg/_ok.cpython-311-x86_64-linux-gnu.so", &aarch64()),
            ("pkg/big.bin", &noise(1 << 20, 5)),
        ]);
        let file = file_with(&bytes);
        let f = scan_zip(file.path()).unwrap();
        assert_eq!(
            codes(&f),
            [("native-arch", "pkg/_fast.cpython-311-aarch64-linux-gnu.so")]
        );

        for (what, bad) in [
            ("truncated", bytes[..bytes.len() / 2].to_vec()),
            ("random", noise(4096, 6)),
            ("empty", Vec::new()),
        ] {
            let file = file_with(&bad);
            let err = scan_zip(file.path()).expect_err(what);
            assert!(
                err.to_string().contains("cannot read it as a zip archive"),
                "{what}: {err}"
            );
        }
    }

    #[test]
    fn bundle_files_on_disk_are_read_by_header() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, data: &[u8]| {
            let p = dir.path().join(name);
            std::fs::write(&p, data).unwrap();
            p
        };
        let files = vec![
            ("pkg/__init__.py".to_string(), write("init.py", b"")),
            (
                "pkg/_speed.cpython-311-aarch64-linux-gnu.so".to_string(),
                write("speed.so", &x86_64()),
            ),
            (
                "pkg/_ok.cpython-311-aarch64-linux-gnu.so".to_string(),
                write("ok.so", &aarch64()),
            ),
        ];
        let f = scan_files(&files).unwrap();
        assert_eq!(
            codes(&f),
            [("native-arch", "pkg/_speed.cpython-311-aarch64-linux-gnu.so")]
        );
        let missing = [("pkg/gone.py", dir.path().join("gone.py"))];
        let err = scan_files(&missing).unwrap_err();
        assert!(
            err.to_string().contains("gone.py") && err.to_string().contains("pkg/gone.py"),
            "{err}"
        );
    }

    #[test]
    fn names_alone_still_say_something() {
        let f = scan_names(["pkg/__init__.py", "pkg/_speed.cpython-310-x86_64-linux-gnu.so"]);
        assert_eq!(
            codes(&f),
            [
                ("native-arch", "pkg/_speed.cpython-310-x86_64-linux-gnu.so"),
                ("native-python", "pkg/_speed.cpython-310-x86_64-linux-gnu.so")
            ]
        );
    }
}
