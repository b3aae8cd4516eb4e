//! Who may do what: the signing identity, bucket ownership and policy grants.

use super::*;

/// The identity that signed the request.
pub(super) fn caller<T>(req: &S3Request<T>) -> S3Result<&'static Identity> {
    let cred = req
        .credentials
        .as_ref()
        .ok_or_else(|| s3_error!(AccessDenied, "Anonymous access is not allowed"))?;
    identity::by_access_key(&cred.access_key).ok_or_else(|| {
        s3_error!(
            InvalidAccessKeyId,
            "The AWS Access Key Id you provided does not exist in our records."
        )
    })
}

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
pub(super) fn granted(meta: &BucketMeta, who: &Identity, actions: &[&str], key: Option<&str>) -> bool {
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

/// The bucket, mutable, if `who` owns it.
pub(super) fn owned_mut<'m>(
    buckets: &'m mut Buckets,
    bucket: &str,
    who: &Identity,
    expected_owner: Option<&str>,
) -> S3Result<&'m mut BucketMeta> {
    authorize(buckets, bucket, who, Need::Owner, None, expected_owner)?;
    Ok(buckets.get_mut(bucket).expect("authorized bucket exists"))
}
