//! Target-platform preflight for the additional artifact: Clean Rooms runs PySpark jobs on
//! Linux ARM64 with Python 3.11, so native extensions built for another CPU or Python fail at
//! job time with nothing but an import error. This reads a venv-pack archive (or the files of a
//! bundle) without unpacking it and reports what will not load there.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// The architecture Clean Rooms runs on.
pub const TARGET_ARCH: &str = "aarch64";
/// The CPython tag of the runtime.
pub const TARGET_PYTHON: &str = "311";

/// One finding about a file in the artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// `native-arch` (an extension for another CPU) or `native-python` (for another CPython).
    pub code: &'static str,
    pub path: String,
    pub message: String,
}

/// The CPU and CPython a native extension's file name says it was built for, e.g.
/// `_foo.cpython-311-x86_64-linux-gnu.so` → (`x86_64`, `311`).
pub fn extension_target(name: &str) -> Option<(String, Option<String>)> {
    const ARCHES: [&str; 7] = ["x86_64", "aarch64", "arm64", "i686", "ppc64le", "s390x", "armv7l"];
    let file = name.rsplit('/').next().unwrap_or(name);
    let (_, tag) = file.strip_suffix(".so")?.rsplit_once('.')?;
    let parts: Vec<&str> = tag.split('-').collect();
    let arch = parts.iter().find(|p| ARCHES.contains(p))?;
    let python = match parts.as_slice() {
        ["cpython", version, ..] if version.bytes().all(|b| b.is_ascii_digit()) => Some(version.to_string()),
        _ => None,
    };
    Some((arch.to_string(), python))
}

fn check_name(path: &str, found: &mut BTreeMap<String, Finding>) {
    if let Some((arch, python)) = extension_target(path) {
        let arch_ok = arch == TARGET_ARCH || arch == "arm64";
        if !arch_ok {
            found.entry(format!("arch:{path}")).or_insert(Finding {
                code: "native-arch",
                path: path.to_string(),
                message: format!(
                    "{path} is a native extension built for {arch}; Clean Rooms runs Linux ARM64 (aarch64), \
                     so it will not load there: build the environment on or for linux/arm64"
                ),
            });
        }
        if let Some(py) = python
            && py != TARGET_PYTHON
        {
            found.entry(format!("py:{path}")).or_insert(Finding {
                code: "native-python",
                path: path.to_string(),
                message: format!(
                    "{path} is built for CPython {}.{}; the PySpark runtime is Python 3.11",
                    &py[..1],
                    &py[1..]
                ),
            });
        }
    }
}

/// Reads a gzip tar (venv-pack's format) and reports native extensions that will not load on
/// the runtime. Only names are read; file contents are skipped.
pub fn scan_tar_gz(path: &Path) -> io::Result<Vec<Finding>> {
    let gz = flate2::read::GzDecoder::new(File::open(path)?);
    scan_tar(gz)
}

fn scan_tar<R: Read>(reader: R) -> io::Result<Vec<Finding>> {
    let mut archive = tar::Archive::new(reader);
    let mut found = BTreeMap::new();
    for entry in archive.entries()? {
        let entry = entry?;
        let name = entry.path()?.to_string_lossy().into_owned();
        check_name(&name, &mut found);
    }
    Ok(found.into_values().collect())
}

/// Reports native extensions among files that go into a bundle zip.
pub fn scan_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<Finding> {
    let mut found = BTreeMap::new();
    for n in names {
        check_name(n, &mut found);
    }
    found.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    fn tar_gz(names: &[&str]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        let gz = flate2::write::GzEncoder::new(file.reopen().unwrap(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        for n in names {
            let mut h = tar::Header::new_gnu();
            h.set_size(1);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, n, &b"x"[..]).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap();
        file
    }

    #[test]
    fn venv_archives_are_scanned_without_unpacking() {
        let ok = tar_gz(&[
            "bin/python",
            "lib/python3.11/site-packages/pandas/_libs/lib.cpython-311-aarch64-linux-gnu.so",
            "lib/python3.11/site-packages/six.py",
        ]);
        assert!(scan_tar_gz(ok.path()).unwrap().is_empty());
        let bad = tar_gz(&[
            "lib/python3.9/site-packages/numpy/core/_umath.cpython-39-x86_64-linux-gnu.so",
            "lib/python3.9/site-packages/six.py",
        ]);
        let f = scan_tar_gz(bad.path()).unwrap();
        let codes: Vec<&str> = f.iter().map(|f| f.code).collect();
        assert_eq!(codes, ["native-arch", "native-python"]);
        assert!(
            f[0].message.contains("x86_64") && f[1].message.contains("3.9"),
            "{f:?}"
        );
    }

    #[test]
    fn bundle_names_are_scanned() {
        let f = scan_names(["pkg/__init__.py", "pkg/_speed.cpython-311-x86_64-linux-gnu.so"]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, "native-arch");
    }
}
