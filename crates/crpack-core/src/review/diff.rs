//! What changed between two templates, for the reviewer who approved the old one: the metadata
//! (tables, parameters and defaults, error messages, role, artifact locations), the recorded
//! hashes, and, when the bytes are at hand and verified, a unified diff of the entry point and the
//! archive diff of the additional artifact (distributions first for environments).

use serde::Serialize;

use crate::artifact::Role;
use crate::aws::Aws;
use crate::error::Result;
use crate::explain::{self, ArchiveDiff};
use crate::report::{TemplateSummary, Verdict, VerifyReport};
use crate::review::obtain::{self, Obtained};
use crate::verify::{self, Source, Target};

/// One metadata field that differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    /// `name`, `description`, `format`, `referenced_tables`, `parameters`, `error_messages`,
    /// `role_arn`, `entry_point_location`, `additional_location`.
    pub field: &'static str,
    pub old: serde_json::Value,
    pub new: serde_json::Value,
}

/// How one artifact changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactStatus {
    /// The recorded SHA-256 is the same: the bytes are identical.
    Unchanged,
    Changed,
    Added,
    Removed,
}

/// One artifact, old and new.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactChange {
    pub role: Role,
    pub status: ArtifactStatus,
    pub old_location: Option<String>,
    pub new_location: Option<String>,
    /// The recorded hashes (lowercase hex).
    pub old_sha256: Option<String>,
    pub new_sha256: Option<String>,
    /// The entry point's unified diff (`---`/`+++` headers, `@@` hunks), when both sides'
    /// bytes were at hand and verified.
    pub code_diff: Option<Vec<String>>,
    /// The additional artifact's archive diff, under the same condition.
    pub archive_diff: Option<ArchiveDiff>,
    /// Why there is no content diff for a changed artifact.
    pub note: Option<String>,
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateDiff {
    /// Nothing differs: same metadata and the same recorded hashes.
    pub identical: bool,
    pub old: TemplateSummary,
    pub new: TemplateSummary,
    pub metadata: Vec<FieldChange>,
    pub artifacts: Vec<ArtifactChange>,
    /// The verifications of the bytes compared, when they were at hand.
    pub old_verification: Option<VerifyReport>,
    pub new_verification: Option<VerifyReport>,
}

/// Where each side's bytes come from; `None` compares the recorded hashes only.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub old: Option<Source>,
    pub new: Option<Source>,
}

/// Compares template `old` with `new` (both seen through `via`'s collaboration).
pub async fn diff(aws: &Aws, old: &Target, new: &Target, sources: &Sources) -> Result<TemplateDiff> {
    let old_reviewed = verify::review(aws, old).await?;
    let new_reviewed = verify::review(aws, new).await?;
    let metadata = metadata(&old_reviewed.summary, &new_reviewed.summary);
    let mut artifacts = recorded(&old_reviewed.summary, &new_reviewed.summary);
    let (old_summary, new_summary) = (old_reviewed.summary.clone(), new_reviewed.summary.clone());

    let mut old_verification = None;
    let mut new_verification = None;
    if let (Some(os), Some(ns)) = (&sources.old, &sources.new) {
        let ov = verify::verify_reviewed(aws, old_reviewed, os).await?;
        let nv = verify::verify_reviewed(aws, new_reviewed, ns).await?;
        let ob = obtain::obtain(Some(aws), &ov, os).await?;
        let nb = obtain::obtain(Some(aws), &nv, ns).await?;
        for change in artifacts
            .iter_mut()
            .filter(|c| c.status == ArtifactStatus::Changed)
        {
            content(change, (&ov, &ob), (&nv, &nb));
        }
        old_verification = Some(ov);
        new_verification = Some(nv);
    } else {
        for change in artifacts
            .iter_mut()
            .filter(|c| c.status == ArtifactStatus::Changed)
        {
            change.note = Some(
                "the recorded hashes differ; pass --from-s3, --old-files/--new-files or --old-source/--new-source \
                 to see how the bytes differ"
                    .into(),
            );
        }
    }
    let identical = metadata.is_empty() && artifacts.iter().all(|a| a.status == ArtifactStatus::Unchanged);
    Ok(TemplateDiff {
        identical,
        old: old_summary,
        new: new_summary,
        metadata,
        artifacts,
        old_verification,
        new_verification,
    })
}

/// The metadata fields that differ.
pub fn metadata(old: &TemplateSummary, new: &TemplateSummary) -> Vec<FieldChange> {
    let location =
        |t: &TemplateSummary, role: Role| t.artifacts.iter().find(|a| a.role == role).map(|a| a.location());
    let fields: [(&'static str, serde_json::Value, serde_json::Value); 9] = [
        ("name", old.name.clone().into(), new.name.clone().into()),
        ("description", json(&old.description), json(&new.description)),
        ("format", old.format.clone().into(), new.format.clone().into()),
        (
            "referenced_tables",
            json(&old.referenced_tables),
            json(&new.referenced_tables),
        ),
        ("parameters", json(&old.parameters), json(&new.parameters)),
        (
            "error_messages",
            old.error_messages.clone().into(),
            new.error_messages.clone().into(),
        ),
        ("role_arn", json(&old.role_arn), json(&new.role_arn)),
        (
            "entry_point_location",
            json(&location(old, Role::EntryPoint)),
            json(&location(new, Role::EntryPoint)),
        ),
        (
            "additional_location",
            json(&location(old, Role::Additional)),
            json(&location(new, Role::Additional)),
        ),
    ];
    fields
        .into_iter()
        .filter(|(_, o, n)| o != n)
        .map(|(field, old, new)| FieldChange { field, old, new })
        .collect()
}

/// A metadata value for people: lists joined, parameters as `name=default (TYPE)`.
pub fn shown(v: &serde_json::Value) -> String {
    let one = |v: &serde_json::Value| -> String {
        match v {
            serde_json::Value::Null => "(none)".into(),
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Object(p) if p.contains_key("name") => format!(
                "{}={} ({})",
                p["name"].as_str().unwrap_or_default(),
                p["default"].as_str().unwrap_or("(no default)"),
                p["type"].as_str().unwrap_or_default()
            ),
            other => other.to_string(),
        }
    };
    match v {
        serde_json::Value::Array(items) if items.is_empty() => "(none)".into(),
        serde_json::Value::Array(items) => items.iter().map(one).collect::<Vec<_>>().join(", "),
        other => one(other),
    }
}

fn json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// Each role's recorded hashes, old and new.
fn recorded(old: &TemplateSummary, new: &TemplateSummary) -> Vec<ArtifactChange> {
    [Role::EntryPoint, Role::Additional]
        .into_iter()
        .filter_map(|role| {
            let o = old.artifacts.iter().find(|a| a.role == role);
            let n = new.artifacts.iter().find(|a| a.role == role);
            let status = match (o, n) {
                (None, None) => return None,
                (Some(_), None) => ArtifactStatus::Removed,
                (None, Some(_)) => ArtifactStatus::Added,
                (Some(o), Some(n))
                    if o.recorded_sha256.is_some() && o.recorded_sha256 == n.recorded_sha256 =>
                {
                    ArtifactStatus::Unchanged
                }
                (Some(_), Some(_)) => ArtifactStatus::Changed,
            };
            Some(ArtifactChange {
                role,
                status,
                old_location: o.map(|a| a.location()),
                new_location: n.map(|a| a.location()),
                old_sha256: o.and_then(|a| a.recorded_sha256.clone()),
                new_sha256: n.and_then(|a| a.recorded_sha256.clone()),
                code_diff: None,
                archive_diff: None,
                note: None,
            })
        })
        .collect()
}

/// Fills in how a changed artifact's verified bytes differ.
fn content(change: &mut ArtifactChange, old: (&VerifyReport, &Obtained), new: (&VerifyReport, &Obtained)) {
    let role = change.role;
    let verdict = |r: &VerifyReport| r.checks.iter().find(|c| c.role == role).map(|c| c.verdict);
    for (side, (report, _)) in [("old", old), ("new", new)] {
        if verdict(report) != Some(Verdict::Match) {
            change.note = Some(format!(
                "the {side} template's {role} bytes were not verified ({}): only verified bytes are compared",
                verdict(report).map_or("no check", |v| v.as_str())
            ));
            return;
        }
    }
    let (Some(o), Some(n)) = (old.1.path(role), new.1.path(role)) else {
        change.note = Some(format!(
            "the {role} bytes could not be read again after the verification"
        ));
        return;
    };
    match role {
        Role::EntryPoint => match (std::fs::read(o), std::fs::read(n)) {
            (Ok(a), Ok(b)) => match (String::from_utf8(a), String::from_utf8(b)) {
                (Ok(a), Ok(b)) => {
                    let name = |loc: &Option<String>| loc.clone().unwrap_or_else(|| role.to_string());
                    change.code_diff = Some(unified(
                        &a,
                        &b,
                        &name(&change.old_location),
                        &name(&change.new_location),
                    ));
                }
                _ => change.note = Some("the entry point is not UTF-8 text on one side".into()),
            },
            (Err(e), _) | (_, Err(e)) => {
                change.note = Some(format!("the entry point cannot be read again: {e}"))
            }
        },
        Role::Additional => match explain::diff_archives(o, n) {
            Ok(d) => change.archive_diff = Some(d),
            Err(e) => change.note = Some(format!("the archives cannot be compared: {}", e.reason())),
        },
    }
}

/// A unified diff with three lines of context, one string per line (no trailing newlines).
pub fn unified(old: &str, new: &str, old_name: &str, new_name: &str) -> Vec<String> {
    let diff = similar::TextDiff::from_lines(old, new);
    let text = diff
        .unified_diff()
        .context_radius(3)
        .missing_newline_hint(true)
        .header(old_name, new_name)
        .to_string();
    text.lines().map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{ExpectedArtifact, ParameterSummary};

    fn summary(default: &str, ep_sha: &str) -> TemplateSummary {
        TemplateSummary {
            arn: "arn:t".into(),
            name: "t".into(),
            description: None,
            creator_account_id: "111111111111".into(),
            collaboration_id: "c".into(),
            format: "PYSPARK_1_0".into(),
            referenced_tables: vec!["orders".into()],
            parameters: vec![ParameterSummary {
                name: "min".into(),
                kind: "STRING".into(),
                default: Some(default.into()),
            }],
            error_messages: "BASIC".into(),
            role_arn: Some("arn:role".into()),
            artifacts: vec![ExpectedArtifact {
                role: Role::EntryPoint,
                bucket: "b".into(),
                key: format!("p/{ep_sha}/entrypoint.py"),
                file_name: "entrypoint.py".into(),
                recorded_sha256: Some(ep_sha.into()),
            }],
        }
    }

    #[test]
    fn a_changed_default_and_location_are_listed_and_same_hashes_are_unchanged() {
        let old = summary("1", "aa");
        let new = summary("2", "aa");
        let m = metadata(&old, &new);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].field, "parameters");
        assert_eq!(m[0].old[0]["default"], "1");
        assert_eq!(m[0].new[0]["default"], "2");
        let a = recorded(&old, &new);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].status, ArtifactStatus::Unchanged);

        let newer = summary("1", "bb");
        let m = metadata(&old, &newer);
        assert_eq!(
            m.iter().map(|c| c.field).collect::<Vec<_>>(),
            ["entry_point_location"]
        );
        assert_eq!(recorded(&old, &newer)[0].status, ArtifactStatus::Changed);
        assert!(metadata(&old, &old).is_empty());
    }

    #[test]
    fn an_additional_artifact_that_appears_is_added() {
        let old = summary("1", "aa");
        let mut new = summary("1", "aa");
        new.artifacts.push(ExpectedArtifact {
            role: Role::Additional,
            bucket: "b".into(),
            key: "p/cc/pyspark_venv.tar.gz".into(),
            file_name: "pyspark_venv.tar.gz".into(),
            recorded_sha256: Some("cc".into()),
        });
        let a = recorded(&old, &new);
        assert_eq!(a[1].status, ArtifactStatus::Added);
        assert_eq!(a[1].old_sha256, None);
    }

    #[test]
    fn unified_diff_shows_the_changed_line_with_context() {
        let old = "a\nb\nc\nd\n";
        let new = "a\nb\nC\nd\n";
        let d = unified(old, new, "old/entrypoint.py", "new/entrypoint.py");
        assert_eq!(
            d,
            [
                "--- old/entrypoint.py",
                "+++ new/entrypoint.py",
                "@@ -1,4 +1,4 @@",
                " a",
                " b",
                "-c",
                "+C",
                " d"
            ]
        );
        assert!(unified(old, old, "x", "y").is_empty());
    }
}
