//! A finished job's results: where the job wrote them, downloaded to a local folder with the
//! same layout (`<result>/part-*.parquet`, `_SUCCESS`, …), each file checked against S3's size
//! and checksum, and each result's Parquet files previewed.
//!
//! Where the results are: `result.output.s3.location` when the job names it (results sent to
//! the membership's default S3 location); for results sent to a member (`memberList`), the
//! receiver's `defaultJobResultConfiguration` (`s3://<bucket>/<keyPrefix>/<jobId>/`), which only
//! the receiver's own membership can read.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use aws_sdk_cleanrooms::types::{MembershipProtectedJobOutputConfiguration, ProtectedJobOutput};
use aws_sdk_s3::types::{ChecksumMode, ChecksumType};
use serde::Serialize;

use super::preview::{self, Column};
use crate::aws::{self, Aws, RemoteError};
use crate::digest::{Hasher, Sha256Digest};
use crate::error::{Error, Result};
use crate::progress::Reporter;
use crate::text::escape;

/// The object a sandbox run without a PySpark runtime writes instead of results.
pub const SIMULATED_MARKER: &str = "_SIMULATED";

/// Why a job's results cannot be downloaded.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    /// The job has not ended yet.
    #[error(
        "job {job_id} is {status}: a job writes its results when it succeeds; wait until it is SUCCESS \
         (watch it with `crpack jobs show {job_id}`) and run this again"
    )]
    NotFinished { job_id: String, status: String },
    /// The job failed or was cancelled: it wrote no results.
    #[error("job {job_id} is {status}{why}, so it has no results to download: {fix}")]
    NoResults {
        job_id: String,
        status: String,
        /// ` (CODE: message)`, or empty.
        why: String,
        /// What to do instead.
        fix: &'static str,
    },
    /// The job's results went to other accounts.
    #[error(
        "job {job_id} delivered its results to account(s) {receivers}, not to this membership's account \
         {account}: only the receiving members can read them from their default job result location"
    )]
    NotReceiver {
        job_id: String,
        receivers: String,
        account: String,
    },
    /// Results sent to the member, but the membership names no S3 location.
    #[error(
        "job {job_id} sent its results to this member, but membership {membership_id} has no \
         defaultJobResultConfiguration with an S3 output, so where they are cannot be found: set one with \
         `aws cleanrooms update-membership`, then look under <keyPrefix>/{job_id}/ of its bucket"
    )]
    NoResultLocation { job_id: String, membership_id: String },
    /// The service answered with a location that is not `s3://bucket/…`.
    #[error(
        "job {job_id} names its result location as {location:?}, which is not an s3://bucket/prefix address"
    )]
    BadLocation { job_id: String, location: String },
    /// The caller may not read the result location.
    #[error(
        "{call}: access denied to {location} as account {account}: the job's results are readable by the \
         owner of bucket {bucket}{writer} and by whom its bucket policy lets read; run this with credentials \
         that may s3:ListBucket on prefix {prefix} and s3:GetObject under it, or ask the bucket's owner for them"
    )]
    Unreadable {
        call: String,
        location: String,
        bucket: String,
        prefix: String,
        account: String,
        /// `, the account whose role <arn> wrote them`, or empty.
        writer: String,
    },
    /// A sandbox job ran without a PySpark runtime.
    #[error(
        "job {job_id} was simulated: the sandbox that ran it had no PySpark runtime, so the entry point did \
         not run and no results were written ({location}{marker}: {reason}); give the sandbox a PySpark \
         runtime (CRPACK_PYTHON naming a Python with pyspark 3.5) and run a new job"
    )]
    Simulated {
        job_id: String,
        location: String,
        marker: &'static str,
        reason: String,
    },
    /// An object key that would be written outside the output folder.
    #[error(
        "refusing to download s3://{bucket}/{key}: its key below {prefix} (\"{relative}\") would be written \
         outside {dir}; nothing was downloaded — the result location holds an object no job writes, ask its \
         owner to remove it"
    )]
    UnsafeKey {
        bucket: String,
        key: String,
        prefix: String,
        relative: String,
        dir: String,
    },
    /// A download's bytes differ from what S3 said it holds.
    #[error(
        "s3://{bucket}/{key}: the download does not match the object ({what}); nothing was kept for it — \
         run this again, and if it persists the object changed while it was read"
    )]
    Mismatch {
        bucket: String,
        key: String,
        what: String,
    },
    /// A downloaded result file is not readable Parquet.
    #[error(
        "{path}: {detail}; the job's files were downloaded to {dir}, but result {result} cannot be previewed"
    )]
    Unpreviewable {
        path: String,
        detail: String,
        dir: String,
        result: String,
    },
}

impl From<ResultsError> for Error {
    fn from(e: ResultsError) -> Error {
        Error::Results(Box::new(e))
    }
}

/// What to download and preview.
#[derive(Debug, Clone)]
pub struct ResultsOptions {
    /// The folder the objects are written to, with their layout below the job's prefix.
    pub out_dir: PathBuf,
    /// Rows of each result to preview.
    pub preview_rows: usize,
}

/// One downloaded object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResultFile {
    /// Its S3 key.
    pub key: String,
    /// Where it was written.
    pub path: PathBuf,
    pub bytes: u64,
    pub sha256: String,
}

/// One result (a folder of Parquet part files) and its preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResultSummary {
    pub name: String,
    /// Its folder in the output folder.
    pub path: PathBuf,
    /// The number of Parquet part files.
    pub files: usize,
    pub columns: Vec<Column>,
    pub rows: u64,
    pub preview: Vec<Vec<String>>,
}

/// A finished download.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResultsReport {
    pub job_id: String,
    pub membership_id: String,
    /// `s3://bucket/prefix/`.
    pub location: String,
    pub out_dir: PathBuf,
    pub files: Vec<ResultFile>,
    pub results: Vec<ResultSummary>,
}

/// Where a job's results are: a bucket and a key prefix ending in `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub bucket: String,
    pub prefix: String,
}

impl Location {
    /// Parses `s3://bucket/prefix`; the prefix gets a trailing `/` (empty stays empty).
    pub fn parse(url: &str) -> Option<Location> {
        let rest = url.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return None;
        }
        Some(Location {
            bucket: bucket.to_string(),
            prefix: with_slash(prefix),
        })
    }

    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }
}

fn with_slash(prefix: &str) -> String {
    let p = prefix.trim_start_matches('/');
    if p.is_empty() || p.ends_with('/') {
        p.to_string()
    } else {
        format!("{p}/")
    }
}

/// The path below the output folder an object's key maps to: its key below `prefix`, split at
/// `/`. `None` for a key outside the prefix or one with an empty, `.` or `..` segment, a
/// backslash, a NUL or a control character (which could name another place, or none).
pub fn relative_path(prefix: &str, key: &str) -> Option<PathBuf> {
    let rel = key.strip_prefix(prefix)?;
    if rel.is_empty() {
        return None;
    }
    let mut path = PathBuf::new();
    for part in rel.split('/') {
        if part.is_empty()
            || part == "."
            || part == ".."
            || part.contains('\\')
            || part.chars().any(|c| c.is_control())
            || (cfg!(windows) && part.contains(':'))
        {
            return None;
        }
        path.push(part);
    }
    Some(path)
}

/// Where a succeeded job's results are, the caller's account, and whether the place was
/// inferred from the membership's current default result configuration.
struct Located {
    location: Location,
    account: String,
    inferred: bool,
}

async fn locate(aws: &Aws, membership_id: &str, job_id: &str) -> Result<Located> {
    let job = super::get_job(aws, membership_id, job_id).await?;
    let status = job.status().as_str().to_string();
    match status.as_str() {
        "SUCCESS" => {}
        "FAILED" | "CANCELLED" => {
            let why = job
                .error()
                .map(|e| format!(" ({}: {})", escape(e.code()), escape(e.message())))
                .unwrap_or_default();
            let fix = if status == "FAILED" {
                "fix the cause and start a new job"
            } else {
                "it was cancelled before it wrote them; start a new job to get results"
            };
            return Err(ResultsError::NoResults {
                job_id: job_id.to_string(),
                status,
                why,
                fix,
            }
            .into());
        }
        _ => {
            return Err(ResultsError::NotFinished {
                job_id: job_id.to_string(),
                status: escape(&status).into_owned(),
            }
            .into());
        }
    }
    let account = super::arn_account(job.membership_arn()).unwrap_or("").to_string();
    let output = job.result().and_then(|r| r.output());
    if let Some(ProtectedJobOutput::S3(s3)) = output {
        let location = Location::parse(s3.location()).ok_or_else(|| ResultsError::BadLocation {
            job_id: job_id.to_string(),
            location: escape(s3.location()).into_owned(),
        })?;
        return Ok(Located {
            location,
            account,
            inferred: false,
        });
    }
    if let Some(ProtectedJobOutput::MemberList(members)) = output
        && !members.is_empty()
        && !members.iter().any(|m| m.account_id() == account)
    {
        let receivers: Vec<String> = members
            .iter()
            .map(|m| escape(m.account_id()).into_owned())
            .collect();
        return Err(ResultsError::NotReceiver {
            job_id: job_id.to_string(),
            receivers: receivers.join(", "),
            account,
        }
        .into());
    }
    // Sent to this member (or not said): the membership's default result location.
    let membership = aws::membership(aws, membership_id).await?;
    let s3 = membership
        .default_job_result_configuration()
        .and_then(|c| match c.output_configuration() {
            Some(MembershipProtectedJobOutputConfiguration::S3(s3)) => Some(s3),
            _ => None,
        })
        .ok_or_else(|| ResultsError::NoResultLocation {
            job_id: job_id.to_string(),
            membership_id: membership_id.to_string(),
        })?;
    let base = with_slash(s3.key_prefix().unwrap_or(""));
    let location = Location {
        bucket: s3.bucket().to_string(),
        prefix: format!("{base}{}/", job.id()),
    };
    Ok(Located {
        location,
        account,
        inferred: true,
    })
}

/// The role that writes the membership's results, for an access-denied message.
async fn result_role(aws: &Aws, membership_id: &str) -> Option<String> {
    let m = aws::membership(aws, membership_id).await.ok()?;
    m.default_job_result_configuration()
        .map(|c| c.role_arn().to_string())
}

async fn unreadable<E>(
    aws: &Aws,
    membership_id: &str,
    call: String,
    location: &Location,
    account: &str,
    err: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> Error
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    if aws::status(err) != Some(403) {
        return aws::describe(&call, err);
    }
    let writer = match result_role(aws, membership_id).await {
        Some(role) => match super::arn_account(&role) {
            Some(a) => format!(
                ", the account ({}) whose role {} wrote them",
                escape(a),
                escape(&role)
            ),
            None => String::new(),
        },
        None => String::new(),
    };
    ResultsError::Unreadable {
        call,
        location: escape(&location.url()).into_owned(),
        bucket: escape(&location.bucket).into_owned(),
        prefix: escape(&location.prefix).into_owned(),
        account: escape(account).into_owned(),
        writer,
    }
    .into()
}

/// One listed object.
struct Listed {
    key: String,
    size: u64,
}

/// Every object under the location (ListObjectsV2, all pages).
async fn list(aws: &Aws, membership_id: &str, location: &Location, account: &str) -> Result<Vec<Listed>> {
    let call = format!("ListObjectsV2 {}", escape(&location.url()));
    let mut pages = aws
        .s3
        .list_objects_v2()
        .bucket(&location.bucket)
        .prefix(&location.prefix)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(p) => p,
            Err(e) => return Err(unreadable(aws, membership_id, call, location, account, &e).await),
        };
        for o in page.contents() {
            let Some(key) = o.key() else { continue };
            out.push(Listed {
                key: key.to_string(),
                size: o.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
            });
        }
    }
    Ok(out)
}

/// Downloads one object into `path` through a temporary file beside it; returns its SHA-256.
async fn download(
    aws: &Aws,
    membership_id: &str,
    location: &Location,
    account: &str,
    object: &Listed,
    path: &Path,
    meter: &dyn crate::progress::Progress,
) -> Result<Sha256Digest> {
    let bucket = &location.bucket;
    let key = &object.key;
    let shown = escape(&format!("s3://{bucket}/{key}")).into_owned();
    let resp = match aws
        .s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => {
            return Err(unreadable(
                aws,
                membership_id,
                format!("GetObject {shown}"),
                location,
                account,
                &e,
            )
            .await);
        }
    };
    let mismatch = |what: String| -> Error {
        ResultsError::Mismatch {
            bucket: escape(bucket).into_owned(),
            key: escape(key).into_owned(),
            what,
        }
        .into()
    };
    let full_object = resp
        .checksum_type()
        .is_none_or(|t| *t == ChecksumType::FullObject);
    let stored_sha256 = resp
        .checksum_sha256()
        .filter(|_| full_object)
        .and_then(|c| Sha256Digest::parse(c).ok());
    let declared = resp.content_length().and_then(|n| u64::try_from(n).ok());
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp_prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&temp_prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // A plain create's mode (0666 less the umask), not a temporary file's 0600.
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let tmp = builder.tempfile_in(dir).map_err(|e| Error::io(dir, e))?;
    let mut file = std::io::BufWriter::new(tmp);
    let mut hasher = Hasher::new();
    let mut got: u64 = 0;
    let mut body = resp.body;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            RemoteError::call(
                format!("reading {shown}"),
                format!(
                    "the download broke off or failed its checksum: {}; run this again",
                    aws::source_chain(&e)
                ),
            )
        })?;
        hasher.update(&chunk);
        file.write_all(&chunk).map_err(|e| Error::io(path, e))?;
        got += chunk.len() as u64;
        meter.advance(chunk.len() as u64);
    }
    if got != object.size || declared.is_some_and(|d| d != got) {
        return Err(mismatch(format!(
            "{got} bytes read, the listing says {} and the response {}",
            object.size,
            declared.map_or("nothing".to_string(), |d| d.to_string())
        )));
    }
    let (sha256, _) = hasher.finish();
    if let Some(stored) = stored_sha256
        && stored != sha256
    {
        return Err(mismatch(format!(
            "SHA-256 {} read, S3 stores {}",
            sha256.to_hex(),
            stored.to_hex()
        )));
    }
    let tmp = file.into_inner().map_err(|e| Error::io(path, e.into_error()))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(sha256)
}

/// Downloads a succeeded job's result objects into `opts.out_dir` and previews each result.
pub async fn fetch(
    aws: &Aws,
    membership_id: &str,
    job_id: &str,
    opts: &ResultsOptions,
    out: &dyn Reporter,
) -> Result<ResultsReport> {
    let Located {
        location,
        account,
        inferred,
    } = locate(aws, membership_id, job_id).await?;
    out.debug(&format!(
        "results of job {} are at {}",
        escape(job_id),
        escape(&location.url())
    ));
    let objects = list(aws, membership_id, &location, &account).await?;
    let dir = &opts.out_dir;
    if objects.is_empty() {
        out.warn(&format!(
            "no objects under {}: the job wrote no results, or they were removed{}",
            escape(&location.url()),
            if inferred {
                " (or the membership's default job result location changed since the job ran)"
            } else {
                ""
            }
        ));
    }
    if let Some(marker) = objects
        .iter()
        .find(|o| o.key.strip_prefix(&location.prefix) == Some(SIMULATED_MARKER))
    {
        return Err(simulated(aws, job_id, &location, &marker.key).await);
    }
    // Every key is checked before anything is written.
    let mut planned = Vec::new();
    for o in objects {
        if o.key.ends_with('/') && o.size == 0 {
            continue; // a "folder" placeholder
        }
        let Some(rel) = relative_path(&location.prefix, &o.key) else {
            return Err(ResultsError::UnsafeKey {
                bucket: escape(&location.bucket).into_owned(),
                key: escape(&o.key).into_owned(),
                prefix: escape(&location.prefix).into_owned(),
                relative: escape(o.key.get(location.prefix.len()..).unwrap_or(&o.key)).into_owned(),
                dir: dir.display().to_string(),
            }
            .into());
        };
        planned.push((o, rel));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let total: u64 = planned.iter().map(|(o, _)| o.size).sum();
    let meter = out.bytes(total, "results");
    let mut files = Vec::new();
    for (o, rel) in &planned {
        let path = dir.join(rel);
        let done = download(aws, membership_id, &location, &account, o, &path, meter.as_ref()).await;
        let sha256 = match done {
            Ok(s) => s,
            Err(e) => {
                meter.finish();
                return Err(e);
            }
        };
        files.push(ResultFile {
            key: o.key.clone(),
            path,
            bytes: o.size,
            sha256: sha256.to_hex(),
        });
    }
    meter.finish();
    let results = previews(&planned, dir, opts.preview_rows).await?;
    Ok(ResultsReport {
        job_id: job_id.to_string(),
        membership_id: membership_id.to_string(),
        location: location.url(),
        out_dir: dir.clone(),
        files,
        results,
    })
}

/// The simulation marker's first lines (its reason), for the error.
async fn simulated(aws: &Aws, job_id: &str, location: &Location, key: &str) -> Error {
    let reason = match aws.s3.get_object().bucket(&location.bucket).key(key).send().await {
        Ok(r) => match r.body.collect().await {
            Ok(b) => {
                let text = String::from_utf8_lossy(&b.into_bytes()).into_owned();
                text.lines()
                    .find_map(|l| l.strip_prefix("Reason: "))
                    .map(|r| r.chars().take(500).collect::<String>())
                    .unwrap_or_else(|| "no reason given".into())
            }
            Err(_) => "its marker could not be read".into(),
        },
        Err(_) => "its marker could not be read".into(),
    };
    ResultsError::Simulated {
        job_id: job_id.to_string(),
        location: escape(&location.url()).into_owned(),
        marker: SIMULATED_MARKER,
        reason: escape(&reason).into_owned(),
    }
    .into()
}

/// Groups the downloaded Parquet files by result (the first folder below the prefix) and reads
/// each group's preview. Files whose name starts with `_` or `.` (`_SUCCESS`, checksums) are
/// not data.
async fn previews(planned: &[(Listed, PathBuf)], dir: &Path, limit: usize) -> Result<Vec<ResultSummary>> {
    let mut groups: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for (_, rel) in planned {
        let mut parts = rel.components();
        let (Some(first), Some(name)) = (parts.next(), rel.file_name()) else {
            continue;
        };
        let name = name.to_string_lossy();
        if rel.components().count() < 2
            || !name.ends_with(".parquet")
            || name.starts_with('_')
            || name.starts_with('.')
        {
            continue;
        }
        let result = first.as_os_str().to_string_lossy().into_owned();
        groups.entry(result).or_default().push(dir.join(rel));
    }
    let mut out = Vec::new();
    for (name, mut paths) in groups {
        paths.sort();
        let files = paths.clone();
        let read = tokio::task::spawn_blocking(move || preview::read(&files, limit))
            .await
            .map_err(|e| RemoteError::state(format!("reading the Parquet files stopped: {e}")))?;
        let p = read.map_err(|e| ResultsError::Unpreviewable {
            path: e.path.display().to_string(),
            detail: e.detail,
            dir: dir.display().to_string(),
            result: escape(&name).into_owned(),
        })?;
        out.push(ResultSummary {
            path: dir.join(&name),
            name,
            files: paths.len(),
            columns: p.columns,
            rows: p.rows,
            preview: p.preview,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_below_the_folder_or_are_refused() {
        let p = "jobs/j1/";
        assert_eq!(
            relative_path(p, "jobs/j1/overlap/part-00000.parquet"),
            Some(PathBuf::from("overlap/part-00000.parquet"))
        );
        assert_eq!(
            relative_path(p, "jobs/j1/_SUCCESS"),
            Some(PathBuf::from("_SUCCESS"))
        );
        for bad in [
            "jobs/j1/../../etc/passwd",
            "jobs/j1/..",
            "jobs/j1/a/../../b",
            "jobs/j1/./a",
            "jobs/j1//etc/passwd",
            "jobs/j1/",
            "jobs/j1/a//b",
            "jobs/j1/a\\..\\..\\b",
            "jobs/j1/a\u{0}b",
            "jobs/j1/a\nb",
            "jobs/j2/a",
            "other",
            "",
        ] {
            assert_eq!(relative_path(p, bad), None, "{bad:?}");
        }
        // Without a prefix, an absolute-looking key has an empty first segment.
        assert_eq!(relative_path("", "/etc/passwd"), None);
        assert_eq!(relative_path("", "a/b"), Some(PathBuf::from("a/b")));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        /// Whatever the key, a mapped path is plain segments only: it stays below the folder.
        #[test]
        fn no_key_maps_outside_the_folder(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::prelude::Just(String::from("..")),
                    proptest::prelude::Just(String::from(".")),
                    proptest::prelude::Just(String::new()),
                    "[a-z._\\\\:\u{0}-\u{1f}\u{202e}-]{1,6}",
                ],
                0..6,
            ),
        ) {
            let key = format!("jobs/j1/{}", parts.join("/"));
            if let Some(path) = relative_path("jobs/j1/", &key) {
                proptest::prop_assert!(path.components().count() >= 1);
                proptest::prop_assert!(
                    path.components().all(|c| matches!(c, std::path::Component::Normal(_))),
                    "{key:?} -> {path:?}"
                );
            }
        }
    }

    #[test]
    fn locations_parse_and_end_in_a_slash() {
        let l = Location::parse("s3://bucket/jobs/j1").unwrap();
        assert_eq!((l.bucket.as_str(), l.prefix.as_str()), ("bucket", "jobs/j1/"));
        assert_eq!(l.url(), "s3://bucket/jobs/j1/");
        assert_eq!(
            Location::parse("s3://bucket/jobs/j1/").unwrap().prefix,
            "jobs/j1/"
        );
        assert_eq!(Location::parse("s3://bucket").unwrap().prefix, "");
        assert_eq!(Location::parse("s3://bucket//x").unwrap().prefix, "x/");
        assert_eq!(Location::parse("s3:///x"), None);
        assert_eq!(Location::parse("https://bucket/x"), None);
        assert_eq!(Location::parse(""), None);
    }

    #[test]
    fn errors_say_the_cause_and_the_fix_and_exit_3() {
        let e = Error::from(ResultsError::NotFinished {
            job_id: "j1".into(),
            status: "STARTED".into(),
        });
        assert!(e.to_string().contains("job j1 is STARTED") && e.to_string().contains("wait until"));
        assert_eq!(e.exit_code(), crate::error::ExitCode::Error);
        let e = Error::from(ResultsError::Unreadable {
            call: "ListObjectsV2 s3://b/jobs/j1/".into(),
            location: "s3://b/jobs/j1/".into(),
            bucket: "b".into(),
            prefix: "jobs/j1/".into(),
            account: "111".into(),
            writer: String::new(),
        });
        let msg = e.to_string();
        assert!(
            msg.contains("s3://b/jobs/j1/") && msg.contains("owner of bucket b"),
            "{msg}"
        );
        assert_eq!(e.kind(), "other");
    }
}
