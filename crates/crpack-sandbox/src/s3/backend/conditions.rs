//! Conditional requests: `If-Match` / `If-None-Match` on writes, and the four read conditions.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Result, s3_error};
use time::OffsetDateTime;

use super::{input_accessors, no_such_key};
use crate::s3::store::{BucketMeta, Version};

fn precondition_failed() -> S3Error {
    s3_error!(
        PreconditionFailed,
        "At least one of the pre-conditions you specified did not hold"
    )
}

/// A write that may carry `If-Match` / `If-None-Match` on its key.
pub(super) trait ConditionalWrite {
    fn key(&self) -> &str;
    fn if_match(&self) -> Option<&ETagCondition>;
    fn if_none_match(&self) -> Option<&ETagCondition>;
}

input_accessors!(ConditionalWrite for PutObjectInput, CompleteMultipartUploadInput => {
    fn key -> &str = key.as_str();
    fn if_match -> Option<&ETagCondition> = if_match.as_ref();
    fn if_none_match -> Option<&ETagCondition> = if_none_match.as_ref();
});

/// [`check_write_conditions`] for the key `input` writes, with its conditions.
pub(super) fn check_write_request(meta: &BucketMeta, input: &impl ConditionalWrite) -> S3Result<()> {
    check_write_conditions(meta, input.key(), input.if_match(), input.if_none_match())
}

/// `If-Match` / `If-None-Match` on writes (S3 conditional writes).
pub(super) fn check_write_conditions(
    meta: &BucketMeta,
    key: &str,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<()> {
    let current = meta.current_object(key);
    if let Some(cond) = if_none_match {
        if !cond.is_any() {
            return Err(s3_error!(
                NotImplemented,
                "A header you provided implies functionality that is not implemented: If-None-Match accepts only *"
            ));
        }
        if current.is_some() {
            return Err(precondition_failed());
        }
    }
    if let Some(cond) = if_match {
        let Some(current) = current else {
            return Err(no_such_key());
        };
        if !cond.is_any() && cond.as_etag().map(ETag::value) != Some(current.etag.as_str()) {
            return Err(precondition_failed());
        }
    }
    Ok(())
}

/// `If-Match`, `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since` on reads.
pub(super) fn check_read_conditions(
    v: &Version,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<()> {
    let etag_matches =
        |c: &ETagCondition| c.is_any() || c.as_etag().map(ETag::value) == Some(v.etag.as_str());
    let modified_s = v.last_modified_ms.div_euclid(1000);
    let secs = |t: &Timestamp| OffsetDateTime::from(t.clone()).unix_timestamp();
    if let Some(c) = if_match
        && !etag_matches(c)
    {
        return Err(precondition_failed());
    }
    if if_match.is_none()
        && let Some(t) = if_unmodified_since
        && modified_s > secs(t)
    {
        return Err(precondition_failed());
    }
    let not_modified = || {
        let mut e = S3Error::new(S3ErrorCode::NotModified);
        e.set_status_code(http::StatusCode::NOT_MODIFIED);
        e
    };
    if let Some(c) = if_none_match
        && etag_matches(c)
    {
        return Err(not_modified());
    }
    if if_none_match.is_none()
        && let Some(t) = if_modified_since
        && modified_s <= secs(t)
    {
        return Err(not_modified());
    }
    Ok(())
}
