//! The reviewer's report: what the template says, and one verdict per artifact.

use serde::Serialize;

use crate::artifact::Role;
use crate::digest::Sha256Digest;
use crate::explain::ArchiveDiff;

/// A parameter as the template declares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParameterSummary {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub default: Option<String>,
}

/// One artifact as the template records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpectedArtifact {
    pub role: Role,
    pub bucket: String,
    pub key: String,
    /// The key's last segment.
    pub file_name: String,
    /// The hash `sourceMetadata` records, normalised to lowercase hex when it parses.
    pub recorded_sha256: Option<String>,
}

impl ExpectedArtifact {
    pub fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    /// The recorded hash, when there is one and it parses.
    pub fn recorded_digest(&self) -> Option<Sha256Digest> {
        self.recorded_sha256
            .as_deref()
            .and_then(|r| Sha256Digest::parse(r).ok())
    }
}

/// What a reviewer needs to know about a template before allowing it.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateSummary {
    pub arn: String,
    pub name: String,
    pub description: Option<String>,
    pub creator_account_id: String,
    pub collaboration_id: String,
    pub format: String,
    pub referenced_tables: Vec<String>,
    pub parameters: Vec<ParameterSummary>,
    /// `BASIC` or `DETAILED` (detailed messages may expose data to the result receiver).
    pub error_messages: String,
    pub role_arn: Option<String>,
    pub artifacts: Vec<ExpectedArtifact>,
}

/// The outcome for one artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The bytes hash to the recorded SHA-256.
    Match,
    /// The bytes hash to something else.
    Mismatch,
    /// No bytes were found for this artifact.
    Missing,
    /// The bytes could not be read (access denied, I/O error).
    Unreadable,
}

impl Verdict {
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Match => "match",
            Verdict::Mismatch => "mismatch",
            Verdict::Missing => "missing",
            Verdict::Unreadable => "unreadable",
        }
    }
}

/// One artifact's check.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactCheck {
    pub role: Role,
    /// The template's S3 location.
    pub location: String,
    pub verdict: Verdict,
    pub expected_sha256: Option<String>,
    pub actual_sha256: Option<String>,
    pub size: Option<u64>,
    /// Where the checked bytes came from (a path, or an S3 URL with `?versionId=`).
    pub checked: Option<String>,
    /// The S3 version that was hashed (S3 and lock sources).
    pub version_id: Option<String>,
    /// Another version of the object whose bytes match the recorded hash, when the checked
    /// one did not.
    pub matching_version_id: Option<String>,
    pub detail: Option<String>,
    /// Per-entry explanation when an archive differs and both versions were at hand.
    pub explanation: Option<ArchiveDiff>,
}

/// What a verification established.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every artifact's bytes were obtained and match; the template has no problems.
    Verified,
    /// Something is wrong for certain: bytes that differ, an object or version that is gone (a
    /// job would fail), or a template-level problem.
    Failed,
    /// Nothing is known to be wrong, but some bytes could not be read (access denied,
    /// credentials, network): the check could not be made.
    Unchecked,
}

/// The whole verification.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// True only when every artifact matches and the template has no problems.
    pub ok: bool,
    /// `verified`, `failed` (exit 1) or `unchecked` (exit 3: some bytes could not be read).
    pub outcome: Outcome,
    /// `s3`, `files`, `source` or `lock`.
    pub source: String,
    pub template: TemplateSummary,
    pub checks: Vec<ArtifactCheck>,
    /// Template-level failures (format, hash count, lock disagreements).
    pub problems: Vec<String>,
    /// Things worth a reviewer's attention that do not fail the verification.
    pub warnings: Vec<String>,
    /// Verified through a membership: the reviewer's tables the template reads, whether each
    /// table's CUSTOM rule allows the template today, and who may receive the results. `None`
    /// through a collaboration, or when the rules could not be read (a warning says why).
    pub my_tables: Option<Vec<crate::review::templates::TableAccess>>,
}

impl VerifyReport {
    /// Recomputes `ok` from the checks and problems.
    pub fn finish(mut self) -> Self {
        self.ok = self.problems.is_empty()
            && !self.checks.is_empty()
            && self.checks.iter().all(|c| c.verdict == Verdict::Match);
        let wrong = !self.problems.is_empty()
            || self.checks.is_empty()
            || self
                .checks
                .iter()
                .any(|c| matches!(c.verdict, Verdict::Mismatch | Verdict::Missing));
        self.outcome = if self.ok {
            Outcome::Verified
        } else if wrong {
            Outcome::Failed
        } else {
            Outcome::Unchecked
        };
        self
    }

    /// One-line reasons the verification failed.
    pub fn failures(&self) -> Vec<String> {
        let mut out = self.problems.clone();
        for c in &self.checks {
            if c.verdict != Verdict::Match {
                out.push(format!("{} {}: {}", c.role, c.location, c.verdict.as_str()));
            }
        }
        out
    }
}
