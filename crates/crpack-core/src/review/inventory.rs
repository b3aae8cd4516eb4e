//! What an additional artifact holds, for a person: a virtual environment's distributions (name,
//! version, license from METADATA, native or pure from RECORD) and the project's own modules, or
//! any other archive's entries. Read once through the archive reader, without unpacking.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::archive::{self, ArchiveError, EntryKind, Options};
use crate::explain::{ArchiveKind, sniff};
use crate::review::document::{ArchiveEntry, Distribution, Inventory};

/// METADATA and RECORD files are read up to this many bytes.
const MAX_META: usize = 4 << 20;

/// What one `*.dist-info` directory says.
#[derive(Debug, Default)]
struct DistInfo {
    metadata: Option<String>,
    record: Option<String>,
}

/// The inventory of the archive at `path`.
pub fn of(path: &Path) -> Result<Inventory, ArchiveError> {
    let kind = sniff(path).map_err(|e| ArchiveError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let mut entries = Vec::new();
    let mut dist_infos: BTreeMap<String, DistInfo> = BTreeMap::new();
    let mut site_packages: Option<String> = None;
    let mut top_level: BTreeSet<String> = BTreeSet::new();
    archive::read(path, kind, &Options::default(), |e| {
        let name = e.name.trim_start_matches("./").to_string();
        if let Some((sp, rest)) = split_site_packages(&name) {
            site_packages.get_or_insert_with(|| sp.to_string());
            let first = rest.split('/').next().unwrap_or_default();
            if let Some(dist) = first.strip_suffix(".dist-info") {
                let file = &rest[first.len()..].trim_start_matches('/');
                if matches!(*file, "METADATA" | "RECORD") && e.kind == EntryKind::File {
                    let text = String::from_utf8_lossy(&e.head(MAX_META)?).into_owned();
                    let info = dist_infos.entry(dist.to_string()).or_default();
                    if *file == "METADATA" {
                        info.metadata = Some(text);
                    } else {
                        info.record = Some(text);
                    }
                }
            } else if !first.is_empty() {
                top_level.insert(first.to_string());
            }
        }
        if e.kind == EntryKind::File {
            let (_, size) = e.hash()?;
            entries.push(ArchiveEntry { name, size });
        }
        Ok(())
    })?;
    if kind != ArchiveKind::TarGz || site_packages.is_none() {
        return Ok(Inventory::Archive { entries });
    }
    let mut owned: BTreeSet<String> = BTreeSet::new();
    let mut distributions = Vec::new();
    for (dir, info) in &dist_infos {
        let meta = info.metadata.as_deref().unwrap_or_default();
        let record = info.record.as_deref().unwrap_or_default();
        for line in record.lines() {
            let path = line.split(',').next().unwrap_or_default();
            if let Some(first) = path
                .split('/')
                .next()
                .filter(|f| !f.is_empty() && !f.starts_with(".."))
            {
                owned.insert(first.to_string());
            }
        }
        let (fallback_name, fallback_version) = dir.rsplit_once('-').unwrap_or((dir, ""));
        distributions.push(Distribution {
            name: header(meta, "Name").unwrap_or_else(|| fallback_name.to_string()),
            version: header(meta, "Version").unwrap_or_else(|| fallback_version.to_string()),
            license: license(meta),
            native: record.lines().any(|l| {
                let p = l.split(',').next().unwrap_or_default();
                p.ends_with(".so") || p.contains(".so.") || p.ends_with(".pyd")
            }),
        });
    }
    distributions.sort_by_key(|d| d.name.to_lowercase());
    let own_modules = top_level
        .into_iter()
        .filter(|t| !owned.contains(t) && t != "__pycache__" && !t.ends_with(".pth"))
        .map(|t| t.strip_suffix(".py").map(str::to_string).unwrap_or(t))
        .collect();
    Ok(Inventory::Environment {
        distributions,
        own_modules,
    })
}

/// `(".../site-packages", "rest")` for a path inside a venv's site-packages.
fn split_site_packages(name: &str) -> Option<(&str, &str)> {
    let i = name.find("/site-packages/")?;
    let end = i + "/site-packages".len();
    Some((&name[..end], &name[end + 1..]))
}

/// The first value of a METADATA header (the headers end at the first empty line).
fn header(meta: &str, key: &str) -> Option<String> {
    meta.lines()
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// `License-Expression`, else a one-line `License`, else the `License ::` classifiers.
fn license(meta: &str) -> Option<String> {
    if let Some(l) = header(meta, "License-Expression") {
        return Some(l);
    }
    if let Some(l) = header(meta, "License").filter(|l| l.len() <= 100 && l != "UNKNOWN") {
        return Some(l);
    }
    let classifiers: Vec<&str> = meta
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.strip_prefix("Classifier: License :: "))
        .map(|c| c.rsplit(" :: ").next().unwrap_or(c))
        .collect();
    (!classifiers.is_empty()).then(|| classifiers.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licenses_come_from_the_expression_the_field_or_the_classifiers() {
        assert_eq!(
            license("Name: a\nLicense-Expression: MIT\nLicense: BSD\n\nbody"),
            Some("MIT".into())
        );
        assert_eq!(
            license("Name: a\nLicense: BSD-3-Clause\n"),
            Some("BSD-3-Clause".into())
        );
        assert_eq!(
            license(
                "Name: a\nLicense: UNKNOWN\nClassifier: License :: OSI Approved :: Apache Software License\n"
            ),
            Some("Apache Software License".into())
        );
        assert_eq!(
            license("Name: a\n\nClassifier: License :: OSI Approved :: MIT\n"),
            None
        );
    }

    #[test]
    fn site_packages_paths_split() {
        assert_eq!(
            split_site_packages("lib/python3.11/site-packages/six.py"),
            Some(("lib/python3.11/site-packages", "six.py"))
        );
        assert_eq!(split_site_packages("bin/python"), None);
    }

    fn tar_gz(files: &[(&str, &str)]) -> tempfile::NamedTempFile {
        let out = tempfile::NamedTempFile::new().unwrap();
        let gz = flate2::write::GzEncoder::new(out.reopen().unwrap(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        for (name, body) in files {
            let mut h = tar::Header::new_ustar();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            tar.append_data(&mut h, name, body.as_bytes()).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap();
        out
    }

    #[test]
    fn an_environment_lists_its_distributions_and_own_modules() {
        let sp = "lib/python3.11/site-packages";
        let files = [
            ("pyvenv.cfg".to_string(), "home = /usr/bin\n"),
            (format!("{sp}/six.py"), "x = 1\n"),
            (
                format!("{sp}/six-1.16.0.dist-info/METADATA"),
                "Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\nLicense: MIT\n\nSix.\n",
            ),
            (
                format!("{sp}/six-1.16.0.dist-info/RECORD"),
                "six.py,sha256=x,6\nsix-1.16.0.dist-info/RECORD,,\n",
            ),
            (
                format!("{sp}/numpy/core/_m.cpython-311-aarch64-linux-gnu.so"),
                "ELF",
            ),
            (
                format!("{sp}/numpy-1.26.4.dist-info/METADATA"),
                "Name: numpy\nVersion: 1.26.4\nClassifier: License :: OSI Approved :: BSD License\n",
            ),
            (
                format!("{sp}/numpy-1.26.4.dist-info/RECORD"),
                "numpy/core/_m.cpython-311-aarch64-linux-gnu.so,sha256=y,3\n",
            ),
            (format!("{sp}/analysis_helpers/__init__.py"), "def f(): pass\n"),
            (format!("{sp}/solo.py"), "y = 2\n"),
        ];
        let refs: Vec<(&str, &str)> = files.iter().map(|(n, b)| (n.as_str(), *b)).collect();
        let archive = tar_gz(&refs);
        let Inventory::Environment {
            distributions,
            own_modules,
        } = of(archive.path()).unwrap()
        else {
            panic!("an environment");
        };
        assert_eq!(
            distributions,
            [
                Distribution {
                    name: "numpy".into(),
                    version: "1.26.4".into(),
                    license: Some("BSD License".into()),
                    native: true,
                },
                Distribution {
                    name: "six".into(),
                    version: "1.16.0".into(),
                    license: Some("MIT".into()),
                    native: false,
                },
            ]
        );
        assert_eq!(own_modules, ["analysis_helpers", "solo"]);
    }

    #[test]
    fn any_other_archive_lists_its_files() {
        let archive = tar_gz(&[("data/a.txt", "abc"), ("b.py", "")]);
        let Inventory::Archive { entries } = of(archive.path()).unwrap() else {
            panic!("an archive");
        };
        assert_eq!(
            entries,
            [
                ArchiveEntry {
                    name: "data/a.txt".into(),
                    size: 3
                },
                ArchiveEntry {
                    name: "b.py".into(),
                    size: 0
                },
            ]
        );
    }
}
