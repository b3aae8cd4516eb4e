//! The distributions an environment holds, from its `*.dist-info` directories.

use std::collections::{BTreeMap, BTreeSet};

use super::{EntryChange, PackageChange};

/// The distributions an environment's entry names show: normalized name → (name, version,
/// dist-info directory), from `…/site-packages/NAME-VERSION.dist-info/…`.
fn distributions<'a>(names: impl Iterator<Item = &'a str>) -> BTreeMap<String, (String, String, String)> {
    let mut out = BTreeMap::new();
    for name in names {
        let mut prefix_len = 0;
        for part in name.split('/') {
            if let Some(stem) = part.strip_suffix(".dist-info")
                && let Some((dist, version)) = stem.rsplit_once('-')
            {
                let dir = name[..prefix_len + part.len()].to_string();
                out.insert(
                    crate::venv::target::normalize_name(dist),
                    (dist.to_string(), version.to_string(), dir),
                );
                break;
            }
            prefix_len += part.len() + 1;
        }
    }
    out
}

/// Package-level changes between two environments, from their entry names and changes.
pub(super) fn package_changes(
    expected: &[&str],
    actual: &[&str],
    changes: &[EntryChange],
) -> Vec<PackageChange> {
    let e = distributions(expected.iter().copied());
    let a = distributions(actual.iter().copied());
    let mut out = Vec::new();
    let keys: BTreeSet<&String> = e.keys().chain(a.keys()).collect();
    for key in keys {
        match (e.get(key), a.get(key)) {
            (None, Some((name, version, _))) => out.push(PackageChange::Added {
                name: name.clone(),
                version: version.clone(),
            }),
            (Some((name, version, _)), None) => out.push(PackageChange::Removed {
                name: name.clone(),
                version: version.clone(),
            }),
            (Some((name, ev, _)), Some((_, av, _))) if ev != av => out.push(PackageChange::Version {
                name: name.clone(),
                expected_version: ev.clone(),
                actual_version: av.clone(),
            }),
            (Some((name, version, dir)), Some(_)) => {
                let record = format!("{dir}/RECORD");
                if changes.iter().any(|c| c.name() == record) {
                    out.push(PackageChange::Files {
                        name: name.clone(),
                        version: version.clone(),
                    });
                }
            }
            (None, None) => {}
        }
    }
    out
}
