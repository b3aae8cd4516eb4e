//! The S3 operations over [`Store`], one file per concern:
//!
//! * `auth`: the signing identity, bucket ownership and bucket-policy grants;
//! * `conditions`: conditional reads and writes (`If-Match`, `If-None-Match`, ...);
//! * `checksums`: declared checksums (headers, trailers) and body verification;
//! * `buckets`: bucket operations, versioning and policies;
//! * `objects`: PutObject, deletes and the version bookkeeping;
//! * `reads`: GetObject, HeadObject, GetObjectAttributes;
//! * `listing`: ListObjects(V2) and ListObjectVersions;
//! * `multipart`: multipart uploads and their composite checksums and ETags.

mod auth;
mod buckets;
mod checksums;
mod conditions;
mod listing;
mod multipart;
mod objects;
mod reads;

use auth::*;
use checksums::*;
use conditions::*;
use objects::*;

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use http::{HeaderMap, HeaderValue};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, TrailingHeaders, s3_error};
use time::OffsetDateTime;

use crate::identity::{self, Identity};
use crate::s3::body::{self, Algo, FileStream, Received, internal, set_checksum_field};
use crate::s3::policy::Policy;
use crate::s3::store::{
    BucketMeta, Buckets, ContentHeaders, PartSummary, Store, StoredChecksum, TempFile, Upload, UploadedPart,
    Version,
};

const NULL: &str = "null";
const FULL_OBJECT: &str = "FULL_OBJECT";
const COMPOSITE: &str = "COMPOSITE";

/// The S3 implementation behind the endpoint.
pub(super) struct Backend {
    pub store: Store,
}

// ---------------------------------------------------------------------------------------------
// helpers

fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

fn ts(ms: i64) -> Timestamp {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .into()
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn owner_of(account: &str) -> Owner {
    Owner {
        display_name: identity::by_account(account).map(|i| i.name.to_owned()),
        id: Some(account.to_owned()),
    }
}

fn no_such_bucket() -> S3Error {
    s3_error!(NoSuchBucket, "The specified bucket does not exist")
}

fn no_such_key() -> S3Error {
    s3_error!(NoSuchKey, "The specified key does not exist.")
}

fn no_such_upload() -> S3Error {
    s3_error!(
        NoSuchUpload,
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
    )
}

fn access_denied() -> S3Error {
    s3_error!(AccessDenied, "Access Denied")
}

fn content_headers(
    content_type: Option<String>,
    content_encoding: Option<String>,
    content_disposition: Option<String>,
    content_language: Option<String>,
    cache_control: Option<String>,
) -> ContentHeaders {
    // `aws-chunked` is a transfer detail, never stored (as S3 does).
    let content_encoding = content_encoding.and_then(|enc| {
        let rest: Vec<&str> = enc
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("aws-chunked"))
            .collect();
        (!rest.is_empty()).then(|| rest.join(","))
    });
    ContentHeaders {
        content_type,
        content_encoding,
        content_disposition,
        content_language,
        cache_control,
    }
}

fn remove_files(paths: impl IntoIterator<Item = PathBuf>) {
    for p in paths {
        let _ = std::fs::remove_file(p);
    }
}

fn sorted_metadata(m: Option<Metadata>) -> BTreeMap<String, String> {
    m.unwrap_or_default().into_iter().collect()
}

fn metadata_out(m: &BTreeMap<String, String>) -> Option<Metadata> {
    (!m.is_empty()).then(|| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

// ---------------------------------------------------------------------------------------------
// operations

impl Backend {
    fn save(&self, meta: &BucketMeta) -> S3Result<()> {
        self.store.save(meta).map_err(internal)
    }

    fn object_files(&self, bucket: &str, files: Vec<String>) -> Vec<PathBuf> {
        files.iter().map(|f| self.store.object_path(bucket, f)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_chunked_is_not_a_stored_content_encoding() {
        let h = content_headers(None, Some("aws-chunked".into()), None, None, None);
        assert_eq!(h.content_encoding, None);
        let h = content_headers(None, Some("gzip, aws-chunked".into()), None, None, None);
        assert_eq!(h.content_encoding.as_deref(), Some("gzip"));
    }
}
