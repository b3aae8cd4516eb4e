//! Who may do what: the signing identity, bucket ownership and policy grants.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Result, s3_error};

use super::{access_denied, input_accessors, invalid_access_key, no_such_bucket};
use crate::identity::{self, Identity};
use crate::s3::policy::Policy;
use crate::s3::store::{BucketMeta, Buckets};

/// The identity that signed `req`, and its input.
pub(super) fn caller_and_input<T>(req: S3Request<T>) -> S3Result<(&'static Identity, T)> {
    let who = caller(&req)?;
    Ok((who, req.input))
}

/// The identity that signed the request.
pub(super) fn caller<T>(req: &S3Request<T>) -> S3Result<&'static Identity> {
    let cred = req
        .credentials
        .as_ref()
        .ok_or_else(|| s3_error!(AccessDenied, "Anonymous access is not allowed"))?;
    identity::by_access_key(&cred.access_key).ok_or_else(invalid_access_key)
}

/// A request addressed to one bucket: the bucket's name and the owner the client expects
/// (`x-amz-expected-bucket-owner`), when it sent one.
pub(super) trait BucketRequest {
    fn bucket(&self) -> &str;
    fn expected_owner(&self) -> Option<&str>;
}

input_accessors!(BucketRequest for
    HeadBucketInput,
    DeleteBucketInput,
    GetBucketVersioningInput,
    PutBucketVersioningInput,
    PutBucketPolicyInput,
    GetBucketPolicyInput,
    DeleteBucketPolicyInput,
    PutObjectInput,
    GetObjectInput,
    HeadObjectInput,
    GetObjectAttributesInput,
    DeleteObjectInput,
    DeleteObjectsInput,
    ListObjectsInput,
    ListObjectsV2Input,
    ListObjectVersionsInput,
    CreateMultipartUploadInput,
    UploadPartInput,
    CompleteMultipartUploadInput,
    AbortMultipartUploadInput,
    ListPartsInput,
    ListMultipartUploadsInput,
 => {
    fn bucket -> &str = bucket.as_str();
    fn expected_owner -> Option<&str> = expected_bucket_owner.as_deref();
});

/// What a request needs on the bucket: ownership, or every one of some read actions (granted to
/// other accounts by the bucket policy).
pub(super) enum Need<'a> {
    Owner,
    Read(&'a [&'a str]),
}

/// Checks that `who` may act on `bucket`.
pub(super) fn authorize<'m>(
    buckets: &'m Buckets,
    bucket: &str,
    who: &Identity,
    need: Need<'_>,
    key: Option<&str>,
    expected_owner: Option<&str>,
) -> S3Result<&'m BucketMeta> {
    let meta = buckets.get(bucket).ok_or_else(no_such_bucket)?;
    if expected_owner.is_some_and(|expected| expected != meta.owner) {
        return Err(access_denied());
    }
    if meta.owner == who.account_id {
        return Ok(meta);
    }
    if let Need::Read(actions) = need
        && granted(meta, who, actions, key)
    {
        return Ok(meta);
    }
    Err(access_denied())
}

/// Whether the bucket policy grants `who` every one of `actions` on the bucket or `key`.
fn granted(meta: &BucketMeta, who: &Identity, actions: &[&str], key: Option<&str>) -> bool {
    let Some(policy) = meta.policy.as_deref().and_then(|text| Policy::parse(text).ok()) else {
        return false;
    };
    let bucket = &meta.name;
    let resource = match key {
        Some(key) => format!("arn:aws:s3:::{bucket}/{key}"),
        None => format!("arn:aws:s3:::{bucket}"),
    };
    actions
        .iter()
        .all(|a| policy.allows(who.account_id, &[a], &resource))
}

/// As S3 does, a reader without `s3:ListBucket` learns nothing about missing keys: 403, not 404.
pub(super) fn hide_missing(err: S3Error, meta: &BucketMeta, who: &Identity) -> S3Error {
    if *err.code() == S3ErrorCode::NoSuchKey
        && err.headers().is_none()
        && meta.owner != who.account_id
        && !granted(meta, who, &["s3:ListBucket"], None)
    {
        access_denied()
    } else {
        err
    }
}

/// [`authorize`] for the bucket `input` addresses, with no object key.
pub(super) fn authorize_bucket<'m>(
    buckets: &'m Buckets,
    input: &impl BucketRequest,
    who: &Identity,
    need: Need<'_>,
) -> S3Result<&'m BucketMeta> {
    authorize(buckets, input.bucket(), who, need, None, input.expected_owner())
}

/// The bucket `input` addresses, mutable, if `who` owns it.
pub(super) fn owned_mut<'m>(
    buckets: &'m mut Buckets,
    input: &impl BucketRequest,
    who: &Identity,
) -> S3Result<&'m mut BucketMeta> {
    authorize_bucket(buckets, input, who, Need::Owner)?;
    buckets.get_mut(input.bucket()).ok_or_else(no_such_bucket)
}
