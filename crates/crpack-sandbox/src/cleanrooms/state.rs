//! The endpoint's state: one record per resource, each holding its API document (the model's
//! output shape, with the model's member names) plus what the service keeps privately (owner
//! account, pinned artifact versions). Persisted as one JSON file.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A JSON object with the model's member names.
pub(crate) type Doc = Map<String, Value>;

/// One artifact of a `PYSPARK_1_0` template as read from S3 at creation time: the object version
/// the template is pinned to, and the SHA-256 of that version's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinnedArtifact {
    /// `true` for the entry point, `false` for an additional artifact.
    pub entry_point: bool,
    /// The bucket, as in `source.artifacts...location.bucket`.
    pub bucket: String,
    /// The key, as in `source.artifacts...location.key`.
    pub key: String,
    /// The S3 version id that was current when the template was created.
    pub version_id: String,
    /// Lowercase hex SHA-256 of that version's bytes (what `sourceMetadata` reports).
    pub sha256: String,
    /// The version's size in bytes.
    pub size: u64,
}

/// Every member may be missing from the state file (an empty list, version 0).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct State {
    /// A format marker for the state file.
    pub version: u32,
    pub collaborations: Vec<CollaborationRec>,
    pub memberships: Vec<MembershipRec>,
    pub configured_tables: Vec<TableRec>,
    pub associations: Vec<AssociationRec>,
    pub templates: Vec<TemplateRec>,
    pub jobs: Vec<JobRec>,
}

/// A collaboration. `doc` is the `Collaboration` shape without the caller-dependent members
/// (`memberStatus`, `membershipId`, `membershipArn`); `members` are `MemberSummary` documents,
/// the creator first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CollaborationRec {
    pub doc: Doc,
    pub members: Vec<Doc>,
    #[serde(default)]
    pub tags: Doc,
}

/// A membership (`Membership` shape), owned by `account_id`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MembershipRec {
    pub account_id: String,
    pub doc: Doc,
    #[serde(default)]
    pub tags: Doc,
}

/// A configured table (`ConfiguredTable` shape) and its analysis rules
/// (`ConfiguredTableAnalysisRule` shapes, the policy stored exactly as sent).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TableRec {
    pub account_id: String,
    pub doc: Doc,
    #[serde(default)]
    pub rules: Vec<Doc>,
    #[serde(default)]
    pub tags: Doc,
}

/// A configured table association (`ConfiguredTableAssociation` shape).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AssociationRec {
    pub account_id: String,
    pub collaboration_id: String,
    pub doc: Doc,
    #[serde(default)]
    pub tags: Doc,
}

/// An analysis template (`AnalysisTemplate` shape), its creator and pinned artifacts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TemplateRec {
    pub account_id: String,
    pub doc: Doc,
    #[serde(default)]
    pub pinned: Vec<PinnedArtifact>,
    #[serde(default)]
    pub tags: Doc,
}

/// A protected job (`ProtectedJob` shape, as `GetProtectedJob` returns it), who started it, and
/// where its results go (resolved when it was started).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct JobRec {
    /// The account that started the job (the membership's owner).
    pub account_id: String,
    pub collaboration_id: String,
    /// The account that receives the results.
    pub receiver_account: String,
    /// The bucket the results are written to (the receiver's `defaultJobResultConfiguration`).
    pub output_bucket: String,
    /// The key prefix the results are written under: `<keyPrefix>/<jobId>` (no trailing `/`).
    pub output_prefix: String,
    /// The account the results are written as (the account of the receiver's result role).
    pub writer_account: String,
    /// `createTime` in milliseconds since the epoch (for `totalDurationInMillis`).
    pub created_ms: i64,
    /// Set when the job ran without a PySpark runtime (see the executor).
    #[serde(default)]
    pub simulated: bool,
    pub doc: Doc,
}

/// A resource record that belongs to a membership: its API document.
pub(crate) trait MemberRecord {
    fn doc(&self) -> &Doc;
}

impl MemberRecord for AssociationRec {
    fn doc(&self) -> &Doc {
        &self.doc
    }
}

impl MemberRecord for TemplateRec {
    fn doc(&self) -> &Doc {
        &self.doc
    }
}

impl MemberRecord for JobRec {
    fn doc(&self) -> &Doc {
        &self.doc
    }
}

/// The record `id` of membership `membership_id` among `records`, if any.
pub(crate) fn in_membership<'a, R: MemberRecord>(
    records: &'a [R],
    membership_id: &str,
    id: &str,
) -> Option<&'a R> {
    records
        .iter()
        .find(|r| s(r.doc(), "id") == id && s(r.doc(), "membershipId") == membership_id)
}

/// The string member `key` of `doc` ("" when absent).
pub(crate) fn s<'a>(doc: &'a Doc, key: &str) -> &'a str {
    doc.get(key).and_then(Value::as_str).unwrap_or_default()
}

impl State {
    /// Loads `path`, or an empty state if it does not exist.
    pub fn load(path: &Path) -> std::io::Result<State> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: not a sandbox Clean Rooms state file: {e}", path.display()),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(e),
        }
    }

    /// Writes the state to `path` atomically (a temporary file in the same directory, renamed).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        serde_json::to_writer_pretty(&mut tmp, self).map_err(std::io::Error::other)?;
        tmp.write_all(b"\n")?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }

    pub fn collaboration(&self, id: &str) -> Option<&CollaborationRec> {
        self.collaborations.iter().find(|c| s(&c.doc, "id") == id)
    }

    pub fn membership(&self, id: &str) -> Option<&MembershipRec> {
        self.memberships.iter().find(|m| s(&m.doc, "id") == id)
    }

    /// The caller's membership in collaboration `collaboration_id`, if any.
    pub fn membership_of(&self, account: &str, collaboration_id: &str) -> Option<&MembershipRec> {
        self.memberships
            .iter()
            .find(|m| m.account_id == account && s(&m.doc, "collaborationId") == collaboration_id)
    }

    pub fn table(&self, id: &str) -> Option<&TableRec> {
        self.configured_tables.iter().find(|t| s(&t.doc, "id") == id)
    }

    pub fn template_by_arn(&self, arn: &str) -> Option<&TemplateRec> {
        self.templates.iter().find(|t| s(&t.doc, "arn") == arn)
    }

    pub fn job(&self, id: &str) -> Option<&JobRec> {
        self.jobs.iter().find(|j| s(&j.doc, "id") == id)
    }

    pub fn job_mut(&mut self, id: &str) -> Option<&mut JobRec> {
        self.jobs.iter_mut().find(|j| s(&j.doc, "id") == id)
    }
}
