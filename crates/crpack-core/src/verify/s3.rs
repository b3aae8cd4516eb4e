//! Reading artifacts from S3 for verification: one streaming pass per object (hash while
//! downloading; a file only with `--save`), and a search of the object's versions for the one
//! the template pinned.

use std::io::Write;
use std::path::Path;

use aws_sdk_s3::types::{ChecksumMode, ChecksumType};

use super::{Compared, absent, describe_difference, judge};
use crate::aws::{self, Aws};
use crate::digest::{Hasher, Sha256Digest};
use crate::error::{Error, Result};
use crate::lock::Lock;
use crate::report::{ArtifactCheck, ExpectedArtifact, Verdict};

/// How many versions of one object are searched for the pinned bytes.
const MAX_VERSIONS: usize = 100;

/// Why an object could not be read.
enum ReadError {
    Denied(String),
    NotFound(String),
    Failed(Error),
}

struct Downloaded {
    digest: Sha256Digest,
    size: u64,
    version_id: String,
}

async fn download(
    aws: &Aws,
    bucket: &str,
    key: &str,
    version: Option<&str>,
    save: Option<&Path>,
) -> std::result::Result<Downloaded, ReadError> {
    let resp = aws
        .s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version.map(str::to_string))
        .send()
        .await;
    let resp = match resp {
        Ok(r) => r,
        Err(e) => {
            let what = format!(
                "GetObject {}",
                crate::text::escape(&format!(
                    "s3://{bucket}/{key}{}",
                    version.map(|v| format!("?versionId={v}")).unwrap_or_default()
                ))
            );
            return Err(match aws::status(&e) {
                Some(403) => ReadError::Denied(what),
                Some(404) => ReadError::NotFound(what),
                _ => ReadError::Failed(aws::describe(&what, &e)),
            });
        }
    };
    let version_id = resp.version_id().unwrap_or("null").to_string();
    let mut file = match save {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).map_err(|e| ReadError::Failed(Error::io(p, e)))?,
        )),
        None => None,
    };
    let mut body = resp.body;
    let mut hasher = Hasher::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            ReadError::Failed(
                aws::RemoteError::call(
                    format!("reading {}", crate::text::escape(&format!("s3://{bucket}/{key}"))),
                    format!("the download broke off: {}; retry", aws::source_chain(&e)),
                )
                .into(),
            )
        })?;
        hasher.update(&chunk);
        if let (Some(f), Some(p)) = (file.as_mut(), save) {
            f.write_all(&chunk)
                .map_err(|e| ReadError::Failed(Error::io(p, e)))?;
        }
    }
    if let (Some(f), Some(p)) = (file, save) {
        f.into_inner()
            .map_err(|e| ReadError::Failed(Error::io(p, e.into_error())))?
            .sync_all()
            .map_err(|e| ReadError::Failed(Error::io(p, e)))?;
    }
    let (digest, size) = hasher.finish();
    Ok(Downloaded {
        digest,
        size,
        version_id,
    })
}

const OTHER_SOURCES: &str = "ask the author for the files (--files), their project (--source) or their \
                             crpack.lock together with read access (--lock)";

fn read_failure(exp: &ExpectedArtifact, err: ReadError) -> Result<ArtifactCheck> {
    match err {
        ReadError::Denied(what) => Ok(absent(
            exp,
            Verdict::Unreadable,
            format!("{what}: access denied: this account may not read the artifact bucket; {OTHER_SOURCES}"),
        )),
        ReadError::NotFound(what) => Ok(absent(
            exp,
            Verdict::Missing,
            format!("{what}: no such object or version"),
        )),
        ReadError::Failed(e) => Err(e),
    }
}

/// The versions of `key` (newest first), without delete markers.
async fn versions(aws: &Aws, bucket: &str, key: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut key_marker: Option<String> = None;
    let mut version_marker: Option<String> = None;
    loop {
        let page = aws
            .s3
            .list_object_versions()
            .bucket(bucket)
            .prefix(key)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(version_marker.clone())
            .send()
            .await
            .map_err(|e| {
                aws::describe(
                    &format!(
                        "ListObjectVersions {}",
                        crate::text::escape(&format!("s3://{bucket}/{key}"))
                    ),
                    &e,
                )
            })?;
        out.extend(
            page.versions()
                .iter()
                .filter(|v| v.key() == Some(key))
                .filter_map(|v| v.version_id().map(str::to_string)),
        );
        if !page.is_truncated().unwrap_or(false) || out.len() >= MAX_VERSIONS {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_string);
        version_marker = page.next_version_id_marker().map(str::to_string);
    }
    out.truncate(MAX_VERSIONS);
    Ok(out)
}

/// The version of the object whose bytes hash to `recorded`: by the stored full-object checksum
/// when there is one, else by downloading and hashing.
async fn find_matching_version(
    aws: &Aws,
    exp: &ExpectedArtifact,
    recorded: Sha256Digest,
) -> Result<Option<String>> {
    for v in versions(aws, &exp.bucket, &exp.key).await? {
        let head = aws
            .s3
            .head_object()
            .bucket(&exp.bucket)
            .key(&exp.key)
            .version_id(&v)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await;
        let stored = match head {
            Ok(h) => {
                let full = h.checksum_type().is_none_or(|t| *t == ChecksumType::FullObject);
                h.checksum_sha256()
                    .filter(|_| full)
                    .and_then(|c| Sha256Digest::parse(c).ok())
            }
            // Not readable this way: downloading may still be allowed.
            Err(e) if matches!(aws::status(&e), Some(400 | 403 | 404)) => None,
            Err(e) => {
                return Err(aws::describe(
                    &format!("HeadObject {}", crate::text::escape(&version_name(exp, &v))),
                    &e,
                ));
            }
        };
        let digest = match stored {
            Some(d) => Some(d),
            None => match download(aws, &exp.bucket, &exp.key, Some(&v), None).await {
                Ok(d) => Some(d.digest),
                Err(ReadError::Denied(_) | ReadError::NotFound(_)) => None,
                Err(ReadError::Failed(e)) => return Err(e),
            },
        };
        if digest == Some(recorded) {
            return Ok(Some(v));
        }
    }
    Ok(None)
}

/// How messages name one version of an artifact's object.
pub fn version_name(exp: &ExpectedArtifact, version: &str) -> String {
    format!("{}?versionId={version}", exp.location())
}

/// Downloads the version of `exp` that hashes to `recorded` into a temporary file.
pub async fn fetch_matching(
    aws: &Aws,
    exp: &ExpectedArtifact,
    recorded: Sha256Digest,
) -> Result<Option<(String, tempfile::NamedTempFile)>> {
    let Some(v) = find_matching_version(aws, exp, recorded).await? else {
        return Ok(None);
    };
    let temp = fetch_version(aws, exp, &v).await?;
    Ok(Some((v, temp)))
}

/// Downloads one version of `exp` into a temporary file.
pub async fn fetch_version(
    aws: &Aws,
    exp: &ExpectedArtifact,
    version: &str,
) -> Result<tempfile::NamedTempFile> {
    let temp = tempfile::NamedTempFile::new().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    match download(aws, &exp.bucket, &exp.key, Some(version), Some(temp.path())).await {
        Ok(_) => Ok(temp),
        Err(ReadError::Failed(e)) => Err(e),
        Err(ReadError::Denied(w)) | Err(ReadError::NotFound(w)) => Err(aws::RemoteError::state(w).into()),
    }
}

/// Judges downloaded bytes against the recorded hash; `object` is the S3 URL they came from.
fn judge_download(exp: &ExpectedArtifact, d: &Downloaded, object: String) -> ArtifactCheck {
    let mut c = judge(
        exp,
        d.digest,
        d.size,
        format!("{object}?versionId={}", d.version_id),
    );
    c.version_id = Some(d.version_id.clone());
    c
}

/// `--from-s3`: the current version of each artifact. When it does not match, the object's
/// versions are searched for one that does; both are reported, and archives are explained.
pub async fn check_current(
    aws: &Aws,
    expected: &[ExpectedArtifact],
    save: Option<&Path>,
) -> Result<Vec<ArtifactCheck>> {
    if let Some(dir) = save {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let mut checks = Vec::new();
    for exp in expected {
        let recorded = exp.recorded_digest();
        // One streaming pass: hashed as it arrives, written to disk only with --save.
        let saved_to = save.map(|d| d.join(&exp.file_name));
        match download(aws, &exp.bucket, &exp.key, None, saved_to.as_deref()).await {
            Err(e) => checks.push(read_failure(exp, e)?),
            Ok(d) => {
                let mut c = judge_download(exp, &d, exp.location());
                if c.verdict == Verdict::Mismatch
                    && let Some(recorded) = recorded
                {
                    match fetch_matching(aws, exp, recorded).await {
                        Ok(Some((v, pinned))) => {
                            c.matching_version_id = Some(v.clone());
                            c.detail = Some(format!(
                                "the current version {} was changed after the template was created; version {v} \
                                 holds the recorded bytes (jobs run the pinned version, but the object at this \
                                 key is not what was reviewed)",
                                d.version_id
                            ));
                            // Only on this failure path are the current bytes fetched again
                            // (that exact version), to explain the difference.
                            let current = match &saved_to {
                                Some(p) => Some((p.clone(), None)),
                                None => fetch_version(aws, exp, &d.version_id)
                                    .await
                                    .ok()
                                    .map(|t| (t.path().to_path_buf(), Some(t))),
                            };
                            if let Some((p, _keep)) = current {
                                let (pinned_name, current_name) =
                                    (version_name(exp, &v), version_name(exp, &d.version_id));
                                describe_difference(
                                    &mut c,
                                    Compared {
                                        path: pinned.path(),
                                        name: &pinned_name,
                                    },
                                    Compared {
                                        path: &p,
                                        name: &current_name,
                                    },
                                );
                            }
                        }
                        Ok(None) => {
                            c.detail = Some("no version of the object hashes to the recorded value".into());
                        }
                        Err(e) => c.detail = Some(format!("could not search the object's versions: {e}")),
                    }
                }
                checks.push(c);
            }
        }
    }
    Ok(checks)
}

/// `--lock`: exactly the versions the author's lock names.
pub async fn check_locked(
    aws: &Aws,
    expected: &[ExpectedArtifact],
    lock: &Lock,
) -> Result<Vec<ArtifactCheck>> {
    let mut checks = Vec::new();
    for exp in expected {
        let Some(locked) = lock.artifact(exp.role) else {
            checks.push(absent(
                exp,
                Verdict::Missing,
                format!("the lock has no {} artifact", exp.role),
            ));
            continue;
        };
        match download(aws, &locked.bucket, &locked.key, Some(&locked.version_id), None).await {
            Err(e) => checks.push(read_failure(exp, e)?),
            Ok(d) => {
                let mut c = judge_download(exp, &d, format!("s3://{}/{}", locked.bucket, locked.key));
                if d.digest != locked.sha256 {
                    c.verdict = Verdict::Mismatch;
                    c.detail = Some(format!(
                        "the locked version does not hash to the lock's {}",
                        locked.sha256
                    ));
                }
                checks.push(c);
            }
        }
    }
    Ok(checks)
}
