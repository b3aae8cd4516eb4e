//! The author's online path: check → build → preflight → upload → register → cross-check →
//! lock. Rerunning with nothing changed uploads nothing and creates nothing; a run that died
//! half-way finishes on the next run without duplicates (keys are content-addressed, uploads
//! conditional, the template name derives from the definition, and the lock is written last,
//! atomically). For the same reason a lost CreateAnalysisTemplate answer, or a concurrent
//! publish of the same definition, ends on the one template holding the derived name, once its
//! definition is checked to be ours.

pub mod share;
pub mod tables;
pub mod template;
pub mod upload;

use std::path::PathBuf;

use aws_sdk_cleanrooms::operation::create_analysis_template::CreateAnalysisTemplateError;
use aws_sdk_cleanrooms::types::{
    AnalysisTemplate, AnalyticsEngine, ConflictExceptionReason, MemberAbility, MembershipStatus,
};
use aws_sdk_s3::types::BucketVersioningStatus;
use serde::Serialize;

use crate::artifact::{Artifact, Role};
use crate::aws::{self, Aws};
use crate::bundle;
use crate::check::check_project;
use crate::digest::Sha256Digest;
use crate::error::{Error, Result};
use crate::lock::{LOCK_NAME, LOCK_VERSION, Lock, LockedArtifact, LockedTemplate, now_rfc3339};
use crate::manifest::Project;
use crate::progress::{NoProgress, Reporter};
use template::{Definition, Placed, RecordedHashes};
use upload::{UploadAction, object_key};

/// Uploads at least this large get a progress bar (on a terminal).
const PROGRESS_MIN_BYTES: u64 = 8 << 20;

/// Publishing cannot go on: the cause, and what to change before publishing again.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// An artifact's S3 key breaks the service's rules (the message says which rule).
    #[error("{0}")]
    InvalidKey(String),

    /// A publish that is not a dry run was asked for without AWS clients.
    #[error("publishing needs AWS clients")]
    NoClients,

    /// The artifact's key holds other bytes already.
    #[error(
        "s3://{bucket}/{key} already exists with other content (stored SHA-256 {stored}, ours {ours}); crpack never \
         overwrites an artifact key, because Clean Rooms pins object versions: use another [publish] prefix \
         or remove the stray object"
    )]
    KeyTaken {
        bucket: String,
        key: String,
        stored: String,
        ours: String,
    },

    /// S3 stored a checksum other than the full object's SHA-256.
    #[error(
        "S3 stored checksum {stored} for s3://{bucket}/{key}, not {ours}: the upload was not a single \
         full-object PUT"
    )]
    ChecksumNotFullObject {
        bucket: String,
        key: String,
        stored: String,
        ours: String,
    },

    /// The upload has no version: the bucket is not versioned.
    #[error("S3 returned no VersionId for s3://{bucket}/{key}: bucket versioning must be Enabled")]
    NoVersionId { bucket: String, key: String },

    /// The bytes sent are not the bytes built.
    #[error(
        "S3 rejected s3://{bucket}/{key}: the bytes sent do not hash to {sha256}; {} changed after the build, \
         run the publish again",
        path.display()
    )]
    ChangedAfterBuild {
        bucket: String,
        key: String,
        sha256: String,
        path: PathBuf,
    },

    /// The bucket is not versioned.
    #[error(
        "bucket versioning is {state} on {bucket}: Clean Rooms pins object versions, so it must be \
         Enabled; enable it with `aws s3api put-bucket-versioning --bucket {bucket} \
         --versioning-configuration Status=Enabled`"
    )]
    VersioningNotEnabled { bucket: String, state: String },

    /// The author's membership is not active.
    #[error(
        "membership {membership_id} is {status}, not ACTIVE: templates can only be created in an active membership"
    )]
    MembershipNotActive { membership_id: String, status: String },

    /// The author's membership cannot receive results.
    #[error(
        "membership {membership_id} cannot receive results: the creator of a PySpark template must be \
         the result receiver; ask the collaboration creator for CAN_RECEIVE_RESULTS or publish from that member"
    )]
    CannotReceiveResults { membership_id: String },

    /// The collaboration does not run Spark.
    #[error(
        "collaboration {collaboration_id} uses the {engine} analytics engine: PYSPARK_1_0 templates need a SPARK \
         collaboration"
    )]
    NotSpark {
        collaboration_id: String,
        engine: String,
    },

    /// A template under the derived name is some other definition.
    #[error(
        "membership {membership_id} already has a template named {name} ({arn}) that differs from this definition: \
         {differences}. The name derives from a digest of the definition, so that template was made some other \
         way (by hand or by another tool) and crpack will not take it for this one. Delete it (`aws cleanrooms \
         delete-analysis-template --membership-identifier {membership_id} --analysis-template-identifier {id}`) \
         or change [template] name, then publish again"
    )]
    TemplateDiffers {
        membership_id: String,
        name: String,
        arn: String,
        differences: String,
        id: String,
    },

    /// The service recorded other hashes than the uploaded artifacts'.
    #[error(
        "the service recorded other hashes than the artifacts we uploaded for {template_arn}: {mismatches}. \
         Someone may have replaced the objects between upload and registration. Nothing was recorded as \
         published; delete the template and publish again"
    )]
    RecordedHashesDiffer {
        template_arn: String,
        mismatches: String,
    },

    /// The definition has no entry point (the build always makes one).
    #[error("no entry point artifact")]
    NoEntryPoint,
}

/// How to publish.
#[derive(Debug, Clone, Default)]
pub struct PublishOptions {
    /// Print the plan; touch nothing remote and write nothing but the build.
    pub dry_run: bool,
    /// Build output directory (default `dist/`).
    pub out_dir: Option<PathBuf>,
    /// Where to write the lock (default `crpack.lock` next to `crpack.toml`).
    pub lock_path: Option<PathBuf>,
}

/// What `publish` did for one artifact.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactAction {
    pub role: Role,
    pub file_name: String,
    pub bucket: String,
    pub key: String,
    /// `uploaded`, `skipped` (already there with the same SHA-256) or `planned` (dry run).
    pub action: String,
    pub version_id: Option<String>,
}

/// The result of a publish.
#[derive(Debug, Clone, Serialize)]
pub struct PublishReport {
    pub ok: bool,
    pub dry_run: bool,
    /// Nothing changed since the lock: nothing uploaded, nothing created.
    pub up_to_date: bool,
    /// `created`, `reused` (found with matching hashes) or `planned` (dry run).
    pub template_action: String,
    pub template_name: String,
    pub uploads: Vec<ArtifactAction>,
    pub warnings: Vec<String>,
    /// The lock as written (absent on a dry run).
    pub lock: Option<Lock>,
    pub lock_path: PathBuf,
}

/// Runs the whole publish for `project` with `aws` clients.
/// `aws` may be `None` only for a dry run, which touches nothing remote.
pub async fn publish(
    project: &Project,
    aws: Option<&Aws>,
    opts: &PublishOptions,
    out: &dyn Reporter,
) -> Result<PublishReport> {
    let cfg = project.publish_config()?.clone();
    let lock_path = opts
        .lock_path
        .clone()
        .unwrap_or_else(|| project.root.join(LOCK_NAME));
    let mut warnings = Vec::new();

    // check
    let report = check_project(project)?;
    for d in &report.diagnostics {
        if d.severity == crate::diagnostic::Severity::Warning {
            out.warn(&d.to_string());
            warnings.push(d.to_string());
        } else {
            out.error(&d.to_string());
        }
    }
    if report.errors > 0 {
        return Err(Error::CheckFailed {
            errors: report.errors,
        });
    }

    // build
    let out_dir = opts.out_dir.clone().unwrap_or_else(|| project.root.join("dist"));
    let built = bundle::build_with(project, &out_dir, &mut |e| {
        if let crate::venv::EnvEvent::Fetch(f) = e {
            out.info(&f.to_string());
        }
    })?;
    let placed: Vec<Placed> = built
        .artifacts
        .iter()
        .map(|a| Placed {
            role: a.role,
            file_name: a.file_name.clone(),
            size: a.size,
            sha256: a.sha256,
            bucket: cfg.bucket.clone(),
            key: object_key(&cfg.prefix, &a.sha256, &a.file_name),
        })
        .collect();
    for p in &placed {
        crate::validate::s3_key(&p.key).map_err(PublishError::InvalidKey)?;
    }
    let definition = Definition::new(project, &cfg.membership_id, &cfg.role_arn, placed.clone());
    let name = definition.registered_name();
    let def_digest = definition.digest();
    out.info(&format!(
        "template {} registers as {name} (the configured name plus a digest of its definition: templates are \
         immutable, so a changed definition gets a new name)",
        project.template.name
    ));

    if opts.dry_run {
        let uploads = placed
            .iter()
            .map(|p| ArtifactAction {
                role: p.role,
                file_name: p.file_name.clone(),
                bucket: p.bucket.clone(),
                key: p.key.clone(),
                action: "planned".into(),
                version_id: None,
            })
            .collect();
        return Ok(PublishReport {
            ok: true,
            dry_run: true,
            up_to_date: false,
            template_action: "planned".into(),
            template_name: name,
            uploads,
            warnings,
            lock: None,
            lock_path,
        });
    }

    let aws = aws.ok_or(PublishError::NoClients)?;

    // Nothing changed since the last publish? Check the lock against the service.
    if let Some(lock) = Lock::read_if_exists(&lock_path)?
        && lock.template.definition_sha256 == def_digest
        && lock.template.membership_id == cfg.membership_id
    {
        match fetch_template(aws, &cfg.membership_id, &lock.template.id).await? {
            Some(t) => {
                let recorded = RecordedHashes::from_metadata(t.source_metadata());
                if recorded.mismatches(&local_digests(&built.artifacts)).is_empty() {
                    out.info(&format!(
                        "up to date: {} is registered with these hashes; nothing to do",
                        lock.template.arn
                    ));
                    for a in &lock.artifacts {
                        if !version_exists(aws, &a.bucket, &a.key, &a.version_id).await? {
                            let w = format!(
                                "the pinned version {} of s3://{}/{} is gone: jobs on this template will fail; \
                                 publish under a new [publish] prefix",
                                a.version_id, a.bucket, a.key
                            );
                            out.warn(&w);
                            warnings.push(w);
                        }
                    }
                    let uploads = lock
                        .artifacts
                        .iter()
                        .map(|a| ArtifactAction {
                            role: a.role,
                            file_name: a.file_name.clone(),
                            bucket: a.bucket.clone(),
                            key: a.key.clone(),
                            action: "skipped".into(),
                            version_id: Some(a.version_id.clone()),
                        })
                        .collect();
                    return Ok(PublishReport {
                        ok: true,
                        dry_run: false,
                        up_to_date: true,
                        template_action: "reused".into(),
                        template_name: lock.template.name.clone(),
                        uploads,
                        warnings,
                        lock: Some(lock),
                        lock_path,
                    });
                }
                out.warn(&format!(
                    "{} no longer records these hashes; publishing again",
                    lock.template.arn
                ));
            }
            None => out.warn(&format!(
                "the locked template {} no longer exists; publishing again",
                lock.template.arn
            )),
        }
    }

    // preflight
    let collaboration_id = preflight(aws, &cfg.bucket, &cfg.membership_id, out, &mut warnings).await?;
    // The service accepts tables to be associated later; a job cannot read them until then.
    let missing =
        tables::unassociated_tables(aws, &cfg.membership_id, &project.template.referenced_tables).await?;
    if !missing.is_empty() {
        let w = format!(
            "referenced table(s) not associated with the collaboration yet: {}; the template is accepted, but \
             jobs cannot read them until each table's owner associates its configured table under that name",
            missing
                .iter()
                .map(|t| crate::text::escape(t).into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        );
        out.warn(&w);
        warnings.push(w);
    }

    // upload
    let mut uploads = Vec::new();
    for (p, a) in placed.iter().zip(&built.artifacts) {
        // A bar only where there is something to watch.
        let bar = if a.size >= PROGRESS_MIN_BYTES {
            out.bytes(a.size, &a.file_name)
        } else {
            std::sync::Arc::new(NoProgress)
        };
        let done = upload::upload(aws, &p.bucket, &p.key, a, bar).await?;
        out.info(&format!(
            "{:<11} {:<12} s3://{}/{}  {} (version {})",
            "upload",
            a.role.as_str(),
            p.bucket,
            p.key,
            match done.action {
                UploadAction::Uploaded => "uploaded",
                UploadAction::Skipped => "already there with the same SHA-256",
            },
            done.version_id
        ));
        uploads.push(ArtifactAction {
            role: a.role,
            file_name: a.file_name.clone(),
            bucket: p.bucket.clone(),
            key: p.key.clone(),
            action: match done.action {
                UploadAction::Uploaded => "uploaded".into(),
                UploadAction::Skipped => "skipped".into(),
            },
            version_id: Some(done.version_id),
        });
    }

    // register (or find the template an interrupted run, a lost answer or a twin created)
    let (template, action) = register(aws, &definition, &name, out).await?;

    // cross-check
    let recorded = RecordedHashes::from_metadata(template.source_metadata());
    let mismatches = recorded.mismatches(&local_digests(&built.artifacts));
    if !mismatches.is_empty() {
        return Err(PublishError::RecordedHashesDiffer {
            template_arn: template.arn().to_string(),
            mismatches: mismatches.join("; "),
        }
        .into());
    }
    for a in &built.artifacts {
        out.info(&format!(
            "{:<11} {:<12} local {} = recorded {}",
            "cross-check",
            a.role.as_str(),
            a.sha256,
            recorded.for_role(a.role).unwrap_or("")
        ));
    }

    // lock
    let lock = Lock {
        lock_version: LOCK_VERSION,
        crpack_version: env!("CARGO_PKG_VERSION").to_string(),
        published_at: now_rfc3339(),
        region: aws.region(),
        template: LockedTemplate {
            name: template.name().to_string(),
            arn: template.arn().to_string(),
            id: template.id().to_string(),
            membership_id: cfg.membership_id.clone(),
            collaboration_id,
            definition_sha256: def_digest,
        },
        artifacts: placed
            .iter()
            .zip(&uploads)
            .map(|(p, u)| LockedArtifact {
                role: p.role,
                file_name: p.file_name.clone(),
                size: p.size,
                sha256: p.sha256,
                bucket: p.bucket.clone(),
                key: p.key.clone(),
                version_id: u.version_id.clone().unwrap_or_default(),
            })
            .collect(),
        wheels: built
            .environment
            .as_ref()
            .map(|e| e.wheels.clone())
            .unwrap_or_default(),
    };
    lock.write(&lock_path)?;
    out.info(&format!("{:<11} wrote {}", "lock", lock_path.display()));
    Ok(PublishReport {
        ok: true,
        dry_run: false,
        up_to_date: false,
        template_action: action.into(),
        template_name: name,
        uploads,
        warnings,
        lock: Some(lock),
        lock_path,
    })
}

fn local_digests(artifacts: &[Artifact]) -> Vec<(Role, &str, Sha256Digest)> {
    artifacts
        .iter()
        .map(|a| (a.role, a.file_name.as_str(), a.sha256))
        .collect()
}

/// Bucket versioning Enabled; membership ACTIVE in a SPARK collaboration and able to receive
/// results; a warning when nobody can run jobs. Returns the collaboration id.
pub async fn preflight(
    aws: &Aws,
    bucket: &str,
    membership_id: &str,
    out: &dyn Reporter,
    warnings: &mut Vec<String>,
) -> Result<String> {
    let versioning = aws
        .s3
        .get_bucket_versioning()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| aws::describe(&format!("GetBucketVersioning {bucket}"), &e))?;
    match versioning.status() {
        Some(BucketVersioningStatus::Enabled) => {}
        other => {
            let state = other
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|| "not enabled".into());
            return Err(PublishError::VersioningNotEnabled {
                bucket: bucket.to_string(),
                state,
            }
            .into());
        }
    }
    out.info(&format!(
        "{:<11} bucket {bucket}: versioning Enabled",
        "preflight"
    ));

    let m = aws::membership(aws, membership_id).await?;
    if *m.status() != MembershipStatus::Active {
        return Err(PublishError::MembershipNotActive {
            membership_id: membership_id.to_string(),
            status: m.status().as_str().to_string(),
        }
        .into());
    }
    if !m.member_abilities().contains(&MemberAbility::CanReceiveResults) {
        return Err(PublishError::CannotReceiveResults {
            membership_id: membership_id.to_string(),
        }
        .into());
    }
    let collab_id = m.collaboration_id().to_string();
    let collab = aws
        .cleanrooms
        .get_collaboration()
        .collaboration_identifier(&collab_id)
        .send()
        .await
        .map_err(|e| aws::describe(&format!("GetCollaboration {collab_id}"), &e))?;
    let engine = collab.collaboration().and_then(|c| c.analytics_engine());
    if engine != Some(&AnalyticsEngine::Spark) {
        return Err(PublishError::NotSpark {
            collaboration_id: collab_id,
            engine: engine
                .map(|e| e.as_str())
                .unwrap_or("default (CLEAN_ROOMS_SQL)")
                .to_string(),
        }
        .into());
    }
    out.info(&format!(
        "{:<11} membership {membership_id}: ACTIVE, collaboration {collab_id} (SPARK), can receive results",
        "preflight"
    ));
    let members = aws::members(aws, &collab_id).await?;
    if !members
        .iter()
        .any(|s| s.abilities().contains(&MemberAbility::CanRunJob))
    {
        let w = format!(
            "no member of collaboration {collab_id} has CAN_RUN_JOB: nobody will be able to run this template"
        );
        out.warn(&w);
        warnings.push(w);
    }
    Ok(collab_id)
}

async fn fetch_template(aws: &Aws, membership_id: &str, id: &str) -> Result<Option<AnalysisTemplate>> {
    match aws
        .cleanrooms
        .get_analysis_template()
        .membership_identifier(membership_id)
        .analysis_template_identifier(id)
        .send()
        .await
    {
        Ok(o) => Ok(o.analysis_template),
        Err(e) if aws::status(&e) == Some(404) => Ok(None),
        Err(e) => Err(aws::describe(&format!("GetAnalysisTemplate {id}"), &e)),
    }
}

async fn find_by_name(aws: &Aws, membership_id: &str, name: &str) -> Result<Option<AnalysisTemplate>> {
    let request = aws.cleanrooms.list_analysis_templates();
    aws::each_page!(
        request.membership_identifier(membership_id),
        &format!("ListAnalysisTemplates {membership_id}"),
        |page| {
            let summaries = page.analysis_template_summaries();
            if let Some(s) = summaries.iter().find(|s| s.name() == name) {
                return fetch_template(aws, membership_id, s.id()).await;
            }
        }
    );
    Ok(None)
}

/// Finds the template under the derived name or creates it; returns it with `created` or
/// `reused`. The name is a digest of the whole definition, so a template already holding it is
/// ours when its definition equals ours: an interrupted run's, one created by an attempt whose
/// answer was lost (the SDK's retry then gets a ConflictException), or a concurrent publish's.
/// Those are reused; one that differs is refused.
async fn register(
    aws: &Aws,
    def: &Definition,
    name: &str,
    out: &dyn Reporter,
) -> Result<(AnalysisTemplate, &'static str)> {
    if let Some(t) = find_by_name(aws, &def.membership_id, name).await? {
        ensure_same(def, &t)?;
        out.info(&format!(
            "{:<11} found {} already registered under this name (by an earlier run or a concurrent \
             publish), with this definition",
            "register",
            t.arn()
        ));
        return Ok((t, "reused"));
    }
    match create(aws, def, name).await? {
        Created::New(t) => {
            out.info(&format!("{:<11} created {}", "register", t.arn()));
            Ok((*t, "created"))
        }
        Created::Conflict {
            error,
            already_exists,
        } => {
            // Eventually consistent listings may trail the write that took the name.
            let mut attempt = 0;
            let found = loop {
                match find_by_name(aws, &def.membership_id, name).await? {
                    Some(t) => break Some(t),
                    None if already_exists && attempt < CONFLICT_LOOKUPS => {
                        attempt += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(500 * u64::from(attempt))).await;
                    }
                    None => break None,
                }
            };
            // Not under this name: the conflict has another cause; report it as the service said.
            let t = found.ok_or(error)?;
            ensure_same(def, &t)?;
            out.info(&format!(
                "{:<11} found {} after CreateAnalysisTemplate answered that the name is taken (by an attempt \
                 whose answer was lost, or by a concurrent publish); its definition is this one",
                "register",
                t.arn()
            ));
            Ok((t, "reused"))
        }
    }
}

/// Extra ListAnalysisTemplates rounds after an ALREADY_EXISTS conflict finds nothing.
const CONFLICT_LOOKUPS: u32 = 2;

/// An existing template under the derived name must be this definition.
fn ensure_same(def: &Definition, t: &AnalysisTemplate) -> Result<()> {
    let differences = def.differences(t);
    if differences.is_empty() {
        return Ok(());
    }
    Err(PublishError::TemplateDiffers {
        membership_id: def.membership_id.clone(),
        name: t.name().to_string(),
        arn: t.arn().to_string(),
        differences: differences.join("; "),
        id: t.id().to_string(),
    }
    .into())
}

/// What CreateAnalysisTemplate did.
enum Created {
    New(Box<AnalysisTemplate>),
    /// A ConflictException, described; `already_exists` when its reason is ALREADY_EXISTS.
    Conflict {
        error: Error,
        already_exists: bool,
    },
}

async fn create(aws: &Aws, def: &Definition, name: &str) -> Result<Created> {
    let res = aws
        .cleanrooms
        .create_analysis_template()
        .membership_identifier(&def.membership_id)
        .name(name)
        .set_description(def.description.clone())
        .format(aws_sdk_cleanrooms::types::AnalysisFormat::Pyspark10)
        .source(def.source()?)
        .schema(def.schema())
        .set_analysis_parameters(def.parameters()?)
        .set_tags(if def.tags.is_empty() {
            None
        } else {
            Some(def.tags.clone().into_iter().collect())
        })
        .set_error_message_configuration(def.error_message_configuration()?)
        .send()
        .await;
    match res {
        Ok(o) => o
            .analysis_template
            .map(|t| Created::New(Box::new(t)))
            .ok_or_else(|| aws::RemoteError::empty_response("CreateAnalysisTemplate").into()),
        Err(e) => {
            let error = aws::describe(&format!("CreateAnalysisTemplate {name}"), &e);
            match e.as_service_error() {
                Some(CreateAnalysisTemplateError::ConflictException(c)) => Ok(Created::Conflict {
                    error,
                    already_exists: c.reason() == Some(&ConflictExceptionReason::AlreadyExists),
                }),
                _ => Err(error),
            }
        }
    }
}

/// Whether a specific object version still exists.
pub async fn version_exists(aws: &Aws, bucket: &str, key: &str, version_id: &str) -> Result<bool> {
    match aws
        .s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .version_id(version_id)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if matches!(aws::status(&e), Some(404) | Some(400)) => Ok(false),
        Err(e) => Err(aws::describe(
            &format!("HeadObject s3://{bucket}/{key}?versionId={version_id}"),
            &e,
        )),
    }
}
