//! The report lines of a comparison.

use super::{ArchiveDiff, EntryChange, PackageChange, SHORT_HASH};
use crate::text::escape;

/// Human lines for the report: one per change, one per archive-level difference, then the
/// summary. Entry names, versions and header text come from the archives, so every control and
/// format character in a line (a terminal escape, a bidirectional override) is shown escaped.
pub fn render(diff: &ArchiveDiff) -> Vec<String> {
    let printable = |line: String| escape(&line).into_owned();
    let mut lines =
        Vec::with_capacity(diff.packages.len() + diff.changes.len() + diff.archive_level.len() + 2);
    if !diff.packages.is_empty() {
        lines.push("  distributions:".to_string());
    }
    for p in &diff.packages {
        lines.push(printable(match p {
            PackageChange::Added { name, version } => format!("    added    {name} {version}"),
            PackageChange::Removed { name, version } => format!("    removed  {name} {version}"),
            PackageChange::Version {
                name,
                expected_version,
                actual_version,
            } => format!("    version  {name} {expected_version} → {actual_version}"),
            PackageChange::Files { name, version } => {
                format!("    files    {name} {version}: same version, different installed files")
            }
        }));
    }
    if !diff.packages.is_empty() && !diff.changes.is_empty() {
        lines.push("  files:".to_string());
    }
    for change in &diff.changes {
        let line = match change {
            EntryChange::Added { name, size, sha256 } => format!(
                "  added    {name}  {size} bytes  sha256 {}…",
                sha256.short(SHORT_HASH)
            ),
            EntryChange::Removed { name, size, sha256 } => format!(
                "  removed  {name}  {size} bytes  sha256 {}…",
                sha256.short(SHORT_HASH)
            ),
            EntryChange::Changed {
                name,
                expected_size,
                actual_size,
                expected_sha256,
                actual_sha256,
            } => {
                let sizes = if expected_size == actual_size {
                    format!("{expected_size} bytes")
                } else {
                    format!("{expected_size} → {actual_size} bytes")
                };
                format!(
                    "  changed  {name}  {sizes}  sha256 {}… → {}…",
                    expected_sha256.short(SHORT_HASH),
                    actual_sha256.short(SHORT_HASH)
                )
            }
            EntryChange::MetadataOnly { name, differences } => {
                format!("  metadata {name}  {}", differences.join("; "))
            }
        };
        lines.push(printable(line));
    }
    for level in &diff.archive_level {
        lines.push(printable(format!("  archive  {level}")));
    }
    lines.push(printable(diff.summary.clone()));
    lines
}
