//! The reviewer's path: read a template through the collaboration, obtain the artifacts' bytes
//! (from S3, from shared files, by rebuilding the author's project, or through the author's
//! lock), hash them, and compare with `sourceMetadata`. One verdict per artifact; it goes on
//! past the first failure.

pub mod policy;
pub mod rules;
pub mod s3;

use std::path::{Path, PathBuf};

use aws_sdk_cleanrooms::types::{
    AnalysisFormat, AnalysisSource, CollaborationAnalysisTemplate, ErrorMessageType,
};
use rayon::prelude::*;

use crate::artifact::Role;
use crate::aws::{self, Aws};
use crate::bundle::{self, Plan};
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::explain;
use crate::lock::Lock;
use crate::manifest::Project;
use crate::publish::template::RecordedHashes;
use crate::report::{
    ArtifactCheck, ExpectedArtifact, ParameterSummary, TemplateSummary, Verdict, VerifyReport,
};

/// Where the bytes to check come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Download each artifact from its S3 location (current version), optionally saving it.
    S3 { save: Option<PathBuf> },
    /// Files shared out of band.
    Files(Vec<PathBuf>),
    /// Rebuild the author's project with crpack's deterministic build.
    Project(PathBuf),
    /// The author's `crpack.lock`: its versionIds select exactly which S3 versions to download.
    Lock(PathBuf),
}

impl Source {
    pub fn name(&self) -> &'static str {
        match self {
            Source::S3 { .. } => "s3",
            Source::Files(_) => "files",
            Source::Project(_) => "source",
            Source::Lock(_) => "lock",
        }
    }
}

/// Which template, seen through which collaboration. The caller checks the ARN's shape
/// (`validate::template_arn`) before it asks the service.
#[derive(Debug, Clone)]
pub struct Target {
    pub template_arn: String,
    pub via: Via,
}

/// How the reviewer reaches the template's collaboration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// The reviewer's membership (its collaboration is looked up).
    Membership(String),
    /// The collaboration itself.
    Collaboration(String),
}

/// A review or an approval cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The policy file is not valid TOML in the policy's shape.
    #[error("{}: {detail}", path.display())]
    InvalidPolicy { path: PathBuf, detail: String },

    /// The table has no CUSTOM analysis rule to add the template to.
    #[error(
        "table {table} (configured table {configured_table}) has no CUSTOM analysis rule, so no template can run on \
         it; create one that allows this template: aws cleanrooms create-configured-table-analysis-rule \
         --configured-table-identifier {configured_table} --analysis-rule-type CUSTOM --analysis-rule-policy \
         '{{\"v1\":{{\"custom\":{{\"allowedAnalyses\":[\"{template_arn}\"]}}}}}}'"
    )]
    NoCustomRule {
        table: String,
        configured_table: String,
        template_arn: String,
    },

    /// The table's rule allows any analysis, so one template cannot be approved or revoked.
    #[error(
        "table {table} allows {wildcard} (any analysis from the providers in allowedAnalysisProviders): \
         approving or revoking one template means nothing there; replace the wildcard with template \
         ARNs to review templates one by one"
    )]
    WildcardRule { table: String, wildcard: String },

    /// A result receiver named for approval cannot receive results in the collaboration.
    #[error(
        "account {account} cannot receive results in collaboration {collaboration_id}: {why}; name a member \
         with the CAN_RECEIVE_RESULTS ability as the result receiver (a PySpark job's results go to the \
         template's creator)"
    )]
    ReceiverCannotReceive {
        account: String,
        collaboration_id: String,
        why: &'static str,
    },
}

/// A template as a reviewer sees it.
#[derive(Debug, Clone)]
pub struct Reviewed {
    pub summary: TemplateSummary,
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
}

/// Resolves the collaboration id (given, or the reviewer's membership's).
pub async fn collaboration_id(aws: &Aws, target: &Target) -> Result<String> {
    match &target.via {
        Via::Collaboration(c) => Ok(c.clone()),
        Via::Membership(m) => Ok(aws::membership(aws, m).await?.collaboration_id().to_string()),
    }
}

/// Reads the template through the collaboration and summarises it.
pub async fn review(aws: &Aws, target: &Target) -> Result<Reviewed> {
    let collab = collaboration_id(aws, target).await?;
    let out = aws
        .cleanrooms
        .get_collaboration_analysis_template()
        .collaboration_identifier(&collab)
        .analysis_template_arn(&target.template_arn)
        .send()
        .await
        .map_err(|e| {
            if aws::is_code(&e, &["AccessDeniedException"]) {
                Error::Remote(aws::RemoteError {
                    call: Some("GetCollaborationAnalysisTemplate".into()),
                    code: Some("AccessDeniedException".into()),
                    detail: format!(
                        "access denied to collaboration {collab}: only members of the collaboration can read its \
                         templates; check --membership/--collaboration and that these credentials belong to a \
                         member account"
                    ),
                })
            } else {
                aws::describe(&format!("GetCollaborationAnalysisTemplate {}", target.template_arn), &e)
            }
        })?;
    let t = out
        .collaboration_analysis_template()
        .ok_or_else(|| aws::RemoteError::empty_response("GetCollaborationAnalysisTemplate"))?;
    Ok(summarise(t))
}

/// The review summary of a collaboration template, with template-level problems.
pub fn summarise(t: &CollaborationAnalysisTemplate) -> Reviewed {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let format = t.format().as_str().to_string();
    if *t.format() != AnalysisFormat::Pyspark10 {
        problems.push(format!(
            "the template's format is {format}, not PYSPARK_1_0: crpack verifies PySpark 1.0 templates only"
        ));
    }
    let recorded = RecordedHashes::from_metadata(t.source_metadata());
    let normal = |h: Option<&str>| -> Option<String> {
        h.map(|h| {
            Sha256Digest::parse(h)
                .map(|d| d.to_hex())
                .unwrap_or_else(|_| h.to_string())
        })
    };
    let mut artifacts = Vec::new();
    let mut role_arn = None;
    match t.source() {
        Some(AnalysisSource::Artifacts(a)) => {
            role_arn = Some(a.role_arn().to_string());
            let mut push =
                |role: Role, loc: Option<&aws_sdk_cleanrooms::types::S3Location>, rec: Option<&str>| {
                    if let Some(loc) = loc {
                        artifacts.push(ExpectedArtifact {
                            role,
                            bucket: loc.bucket().to_string(),
                            key: loc.key().to_string(),
                            file_name: loc.key().rsplit('/').next().unwrap_or(loc.key()).to_string(),
                            recorded_sha256: normal(rec),
                        });
                    }
                };
            push(
                Role::EntryPoint,
                a.entry_point().and_then(|e| e.location()),
                recorded.entry_point.as_deref(),
            );
            for (i, add) in a.additional_artifacts().iter().enumerate() {
                push(
                    Role::Additional,
                    add.location(),
                    recorded.additional.get(i).map(String::as_str),
                );
            }
            let count = 1 + a.additional_artifacts().len();
            let hashes = usize::from(recorded.entry_point.is_some()) + recorded.additional.len();
            if hashes != count {
                problems.push(format!(
                    "the template has {count} artifact(s) but sourceMetadata records {hashes} hash(es): \
                     every artifact must have exactly one recorded hash"
                ));
            }
            if a.additional_artifacts().len() > 1 {
                problems.push(format!(
                    "the template lists {} additional artifacts; the service allows at most one",
                    a.additional_artifacts().len()
                ));
            }
        }
        Some(AnalysisSource::Text(_)) => {
            problems.push("the template's source is SQL text, not artifacts".into())
        }
        _ => problems.push("the template shows no artifact source to this member".into()),
    }
    if let Some(ep) = artifacts.iter().find(|a| a.role == Role::EntryPoint)
        && !ep.key.ends_with(".py")
    {
        problems.push(format!(
            "the entry point {} is not a .py file: Clean Rooms runs the entry point as a Python script",
            ep.location()
        ));
    }
    for a in &artifacts {
        if let Some(rec) = &a.recorded_sha256
            && Sha256Digest::parse(rec).is_err()
        {
            problems.push(format!(
                "the recorded hash of {} is not a SHA-256: {rec:?}",
                a.location()
            ));
        }
    }
    let error_messages = match t.error_message_configuration().map(|c| c.r#type()) {
        Some(ErrorMessageType::Detailed) => {
            warnings.push(
                "errorMessageConfiguration is DETAILED: failed jobs may show data (possibly PII) to the result \
                 receiver; every data provider must approve this template"
                    .into(),
            );
            "DETAILED".to_string()
        }
        Some(other) => other.as_str().to_string(),
        None => "BASIC".to_string(),
    };
    let summary = TemplateSummary {
        arn: t.arn().to_string(),
        name: t.name().to_string(),
        description: t.description().map(str::to_string),
        creator_account_id: t.creator_account_id().to_string(),
        collaboration_id: t.collaboration_id().to_string(),
        format,
        referenced_tables: t
            .schema()
            .map(|s| s.referenced_tables().to_vec())
            .unwrap_or_default(),
        parameters: t
            .analysis_parameters()
            .iter()
            .map(|p| ParameterSummary {
                name: p.name().to_string(),
                kind: p.r#type().as_str().to_string(),
                default: p.default_value().map(str::to_string),
            })
            .collect(),
        error_messages,
        role_arn,
        artifacts,
    };
    Reviewed {
        summary,
        problems,
        warnings,
    }
}

/// Runs a whole verification.
pub async fn verify(aws: &Aws, target: &Target, source: &Source) -> Result<VerifyReport> {
    let reviewed = review(aws, target).await?;
    let mut report = verify_reviewed(aws, reviewed, source).await?;
    if let Via::Membership(membership_id) = &target.via {
        let t = &report.template;
        match crate::review::templates::access_of(
            aws,
            membership_id,
            &t.referenced_tables,
            &t.arn,
            &t.creator_account_id,
        )
        .await
        {
            Ok(tables) => report.my_tables = Some(tables),
            Err(e) => report
                .warnings
                .push(format!("could not read your tables' analysis rules: {e}")),
        }
    }
    Ok(report)
}

/// Verifies an already reviewed template against a source.
pub async fn verify_reviewed(aws: &Aws, reviewed: Reviewed, source: &Source) -> Result<VerifyReport> {
    let Reviewed {
        summary,
        mut problems,
        warnings,
    } = reviewed;
    let checks = match source {
        Source::S3 { save } => s3::check_current(aws, &summary.artifacts, save.as_deref()).await?,
        Source::Lock(path) => {
            let lock = Lock::read(path)?;
            problems.extend(lock_problems(&lock, &summary));
            s3::check_locked(aws, &summary.artifacts, &lock).await?
        }
        Source::Files(files) => {
            let mut checks = check_files(&summary.artifacts, files)?;
            explain_local(aws, &summary.artifacts, &mut checks).await;
            checks
        }
        Source::Project(dir) => {
            let (mut checks, _temp) = check_rebuild(&summary.artifacts, dir)?;
            explain_local(aws, &summary.artifacts, &mut checks).await;
            checks
        }
    };
    Ok(VerifyReport {
        ok: false,
        outcome: crate::report::Outcome::Failed,
        source: source.name().to_string(),
        template: summary,
        checks,
        problems,
        warnings,
        my_tables: None,
    }
    .finish())
}

/// A check for `expected` given the actual digest of some bytes.
pub fn judge(expected: &ExpectedArtifact, actual: Sha256Digest, size: u64, checked: String) -> ArtifactCheck {
    let recorded = expected.recorded_digest();
    let verdict = if recorded == Some(actual) {
        Verdict::Match
    } else {
        Verdict::Mismatch
    };
    ArtifactCheck {
        role: expected.role,
        location: expected.location(),
        verdict,
        expected_sha256: expected.recorded_sha256.clone(),
        actual_sha256: Some(actual.to_hex()),
        size: Some(size),
        checked: Some(checked),
        version_id: None,
        matching_version_id: None,
        detail: if recorded.is_none() {
            Some("the template records no usable hash for this artifact".into())
        } else {
            None
        },
        explanation: None,
    }
}

/// A check with no bytes.
pub fn absent(expected: &ExpectedArtifact, verdict: Verdict, detail: String) -> ArtifactCheck {
    ArtifactCheck {
        role: expected.role,
        location: expected.location(),
        verdict,
        expected_sha256: expected.recorded_sha256.clone(),
        actual_sha256: None,
        size: None,
        checked: None,
        version_id: None,
        matching_version_id: None,
        detail: Some(detail),
        explanation: None,
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Matches shared files to the template's artifacts (the entry point by name; the additional
/// artifact by name, or by its recorded hash) and judges each.
pub fn check_files(expected: &[ExpectedArtifact], files: &[PathBuf]) -> Result<Vec<ArtifactCheck>> {
    let hashed: Vec<(PathBuf, std::io::Result<(Sha256Digest, u64)>)> = files
        .par_iter()
        .map(|f| (f.clone(), Sha256Digest::of_file(f)))
        .collect();
    let mut used = vec![false; hashed.len()];
    let mut checks = Vec::new();
    for exp in expected {
        let recorded = exp.recorded_digest();
        let by_name = hashed
            .iter()
            .enumerate()
            .find(|(i, (p, _))| !used[*i] && file_name(p) == exp.file_name)
            .map(|(i, _)| i);
        let by_hash = || {
            hashed
                .iter()
                .enumerate()
                .find(|(i, (_, h))| !used[*i] && h.as_ref().ok().map(|(d, _)| Some(*d)) == Some(recorded))
                .map(|(i, _)| i)
        };
        let pick = match exp.role {
            Role::EntryPoint => by_name,
            Role::Additional => by_name.or_else(by_hash),
        };
        match pick {
            None => checks.push(absent(
                exp,
                Verdict::Missing,
                format!(
                    "no file named {} among the files given{}",
                    exp.file_name,
                    if exp.role == Role::Additional {
                        " (nor one with the recorded hash)"
                    } else {
                        ""
                    }
                ),
            )),
            Some(i) => {
                used[i] = true;
                let (path, h) = &hashed[i];
                checks.push(match h {
                    Ok((d, size)) => judge(exp, *d, *size, path.display().to_string()),
                    Err(e) => absent(exp, Verdict::Unreadable, format!("{}: {e}", path.display())),
                });
            }
        }
    }
    Ok(checks)
}

/// Rebuilds the project at `dir` in a temporary directory and judges each artifact. Returns
/// the temporary directory so explanations can read the rebuilt files.
pub fn check_rebuild(
    expected: &[ExpectedArtifact],
    dir: &Path,
) -> Result<(Vec<ArtifactCheck>, tempfile::TempDir)> {
    let project = Project::discover(dir)?;
    let plan = Plan::resolve(&project, None)?;
    let stamp = bundle::Stamp::from_env()?;
    let epoch = stamp.epoch;
    let temp = tempfile::Builder::new()
        .prefix("crpack-rebuild-")
        .tempdir()
        .map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let built = bundle::build_into(&plan, temp.path(), &stamp, &mut |_| {})?.artifacts;
    let mut checks = Vec::new();
    for exp in expected {
        match built.iter().find(|a| a.role == exp.role) {
            Some(a) => {
                let mut c = judge(exp, a.sha256, a.size, a.path.display().to_string());
                if c.verdict == Verdict::Mismatch && exp.role == Role::Additional {
                    c.detail = Some(format!(
                        "rebuilt with SOURCE_DATE_EPOCH={epoch}; the author's build must have used the same \
                         timestamp and the same sources"
                    ));
                }
                checks.push(c);
            }
            None => checks.push(absent(
                exp,
                Verdict::Missing,
                format!("the project at {} builds no {} artifact", dir.display(), exp.role),
            )),
        }
    }
    Ok((checks, temp))
}

/// Disagreements between the author's lock and the template.
pub fn lock_problems(lock: &Lock, t: &TemplateSummary) -> Vec<String> {
    let mut out = Vec::new();
    if lock.template.arn != t.arn {
        out.push(format!(
            "the lock names template {}, not {}: it is not the evidence for this template",
            lock.template.arn, t.arn
        ));
    }
    if lock.artifacts.len() != t.artifacts.len() {
        out.push(format!(
            "the lock lists {} artifact(s), the template {}",
            lock.artifacts.len(),
            t.artifacts.len()
        ));
    }
    for exp in &t.artifacts {
        match lock.artifact(exp.role) {
            None => out.push(format!("the lock has no {} artifact", exp.role)),
            Some(l) => {
                if l.bucket != exp.bucket || l.key != exp.key {
                    out.push(format!(
                        "the lock's {} is s3://{}/{}, the template's {}",
                        exp.role,
                        l.bucket,
                        l.key,
                        exp.location()
                    ));
                }
                let rec = exp.recorded_digest();
                if rec != Some(l.sha256) {
                    out.push(format!(
                        "the lock's {} hash {} differs from the recorded {}",
                        exp.role,
                        l.sha256,
                        exp.recorded_sha256.as_deref().unwrap_or("(none)")
                    ));
                }
            }
        }
    }
    out
}

/// For mismatching local files: fetch the bytes the template pinned (a version of the object
/// whose checksum equals the recorded hash, when readable) and explain the difference.
async fn explain_local(aws: &Aws, expected: &[ExpectedArtifact], checks: &mut [ArtifactCheck]) {
    for (exp, check) in expected.iter().zip(checks.iter_mut()) {
        if check.verdict != Verdict::Mismatch {
            continue;
        }
        let Some(local) = check.checked.clone().map(PathBuf::from) else {
            continue;
        };
        let Some(recorded) = exp.recorded_digest() else {
            continue;
        };
        match s3::fetch_matching(aws, exp, recorded).await {
            Ok(Some((version, temp))) => {
                let pinned = s3::version_name(exp, &version);
                let local_name = local.display().to_string();
                check.matching_version_id = Some(version);
                describe_difference(
                    check,
                    Compared {
                        path: temp.path(),
                        name: &pinned,
                    },
                    Compared {
                        path: &local,
                        name: &local_name,
                    },
                );
            }
            Ok(None) => {
                check.detail = Some(join(
                    check.detail.take(),
                    "no version of the S3 object hashes to the recorded value, so the difference cannot be shown",
                ))
            }
            Err(e) => {
                check.detail = Some(join(
                    check.detail.take(),
                    &format!("the pinned bytes could not be fetched to explain the difference: {e}"),
                ))
            }
        }
    }
}

fn join(a: Option<String>, b: &str) -> String {
    match a {
        Some(a) => format!("{a}; {b}"),
        None => b.to_string(),
    }
}

/// A file to compare, and what to call it in messages: a temporary download is named by the
/// S3 object version it holds, not by a path that is gone once the command ends.
#[derive(Debug, Clone, Copy)]
pub struct Compared<'a> {
    pub path: &'a Path,
    pub name: &'a str,
}

/// Fills in the explanation of how `actual` differs from `expected`: per entry for archives,
/// the first differing line for text.
pub fn describe_difference(check: &mut ArtifactCheck, expected: Compared<'_>, actual: Compared<'_>) {
    let name_of = |path: &Path| {
        if path == expected.path {
            expected.name
        } else {
            actual.name
        }
    };
    let unreadable = |check: &mut ArtifactCheck, side: Compared<'_>, e: std::io::Error| {
        check.detail = Some(join(
            check.detail.take(),
            &format!("cannot read {} to explain the difference: {e}", side.name),
        ));
    };
    let kinds = match (explain::sniff(expected.path), explain::sniff(actual.path)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) => return unreadable(check, expected, e),
        (_, Err(e)) => return unreadable(check, actual, e),
    };
    if kinds.0 != explain::ArchiveKind::Other || kinds.1 != explain::ArchiveKind::Other {
        match explain::diff_archives(expected.path, actual.path) {
            Ok(d) => check.explanation = Some(d),
            Err(e) => {
                check.detail = Some(join(
                    check.detail.take(),
                    &format!(
                        "cannot compare the archives: {}: {}",
                        name_of(e.path()),
                        e.reason()
                    ),
                ))
            }
        }
        return;
    }
    match (std::fs::read(expected.path), std::fs::read(actual.path)) {
        (Ok(a), Ok(b)) => check.detail = Some(join(check.detail.take(), &first_difference(&a, &b))),
        (Err(e), _) => unreadable(check, expected, e),
        (_, Err(e)) => unreadable(check, actual, e),
    }
}

/// Where two byte strings first differ, as a line and a short excerpt.
pub fn first_difference(expected: &[u8], actual: &[u8]) -> String {
    let pos = expected
        .iter()
        .zip(actual)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(actual.len()));
    let line = expected[..pos].iter().filter(|b| **b == b'\n').count() + 1;
    if pos == expected.len().min(actual.len()) {
        let (longer, which) = if actual.len() > expected.len() {
            (actual, "actual")
        } else {
            (expected, "expected")
        };
        let extra = String::from_utf8_lossy(&longer[pos..]);
        let mut extra: String = extra.chars().take(120).collect();
        if longer.len() - pos > 120 {
            extra.push('…');
        }
        return format!(
            "the {which} bytes go on after byte {pos} (line {line}) where the other ends: {extra:?} \
             ({} vs {} bytes)",
            expected.len(),
            actual.len()
        );
    }
    let excerpt = |data: &[u8]| {
        let start = data[..pos.min(data.len())]
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |p| p + 1);
        let end = data[start..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(data.len(), |p| start + p);
        let text = String::from_utf8_lossy(&data[start..end]);
        let mut t: String = text.chars().take(120).collect();
        if text.chars().count() > 120 {
            t.push('…');
        }
        t
    };
    format!(
        "first difference at byte {pos} (line {line}): expected {:?}, got {:?} ({} vs {} bytes)",
        excerpt(expected),
        excerpt(actual),
        expected.len(),
        actual.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected(role: Role, name: &str, data: &[u8]) -> ExpectedArtifact {
        ExpectedArtifact {
            role,
            bucket: "b".into(),
            key: format!("p/{}/{name}", Sha256Digest::of(data)),
            file_name: name.into(),
            recorded_sha256: Some(Sha256Digest::of(data).to_hex()),
        }
    }

    #[test]
    fn files_match_by_name_then_by_hash() {
        let dir = tempfile::tempdir().unwrap();
        let ep = dir.path().join("entrypoint.py");
        let venv = dir.path().join("renamed.tar.gz");
        std::fs::write(&ep, b"print(1)\n").unwrap();
        std::fs::write(&venv, b"venv bytes").unwrap();
        let exp = [
            expected(Role::EntryPoint, "entrypoint.py", b"print(1)\n"),
            expected(Role::Additional, "pyspark_venv.tar.gz", b"venv bytes"),
        ];
        let checks = check_files(&exp, &[venv.clone(), ep.clone()]).unwrap();
        assert!(checks.iter().all(|c| c.verdict == Verdict::Match), "{checks:?}");
        let checks = check_files(&exp, &[ep]).unwrap();
        assert_eq!(checks[1].verdict, Verdict::Missing);
    }

    #[test]
    fn first_difference_names_the_line() {
        let d = first_difference(b"a\nb\nc\n", b"a\nB\nc\n");
        assert!(d.contains("line 2"), "{d}");
        assert!(d.contains("\"b\"") && d.contains("\"B\""), "{d}");
        let d = first_difference(b"a\n", b"a\nimport socket\n");
        assert!(
            d.contains("actual bytes go on after byte 2") && d.contains("import socket"),
            "{d}"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Any single-byte change anywhere in either artifact is detected.
        #[test]
        fn single_byte_changes_are_always_detected(
            ep in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..2048),
            add in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..4096),
            which in 0usize..2,
            pos_seed in proptest::prelude::any::<usize>(),
            delta in 1u8..=255,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let exp = [
                expected(Role::EntryPoint, "entrypoint.py", &ep),
                expected(Role::Additional, "bundle.zip", &add),
            ];
            let (mut ep2, mut add2) = (ep.clone(), add.clone());
            let target = if which == 0 { &mut ep2 } else { &mut add2 };
            let pos = pos_seed % target.len();
            target[pos] = target[pos].wrapping_add(delta);
            let (p1, p2) = (dir.path().join("entrypoint.py"), dir.path().join("bundle.zip"));
            std::fs::write(&p1, &ep2).unwrap();
            std::fs::write(&p2, &add2).unwrap();
            let checks = check_files(&exp, &[p1, p2]).unwrap();
            let verdicts: Vec<Verdict> = checks.iter().map(|c| c.verdict).collect();
            proptest::prop_assert_eq!(verdicts[which], Verdict::Mismatch);
            proptest::prop_assert_eq!(verdicts[1 - which], Verdict::Match);
        }
    }
}
