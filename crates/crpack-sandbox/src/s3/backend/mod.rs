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

use std::collections::BTreeMap;
use std::path::PathBuf;

use s3s::dto::*;
use s3s::{S3Error, S3Result, TrailingHeaders, s3_error};
use time::OffsetDateTime;

use crate::identity::{self, Identity};
use crate::s3::body::{self, Algo, Received, internal};
use crate::s3::store::{BucketMeta, ContentHeaders, Store};
use auth::{BucketRequest, owned_mut};
use checksums::{Declared, verify};

/// An operation's request and answer.
type Req<T> = s3s::S3Request<T>;
type Answer<T> = S3Result<s3s::S3Response<T>>;

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

/// A request signed with a key the sandbox does not know.
pub(super) fn invalid_access_key() -> S3Error {
    s3_error!(
        InvalidAccessKeyId,
        "The AWS Access Key Id you provided does not exist in our records."
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

/// The content headers a PutObject or CreateMultipartUpload request sets, taken from it.
macro_rules! take_content_headers {
    ($input:ident) => {
        $crate::s3::backend::content_headers(
            $input.content_type.take(),
            $input.content_encoding.take(),
            $input.content_disposition.take(),
            $input.content_language.take(),
            $input.cache_control.take(),
        )
    };
}
use take_content_headers;

/// Implements the accessor trait `$trait` for each of the s3s inputs `$input`: each method
/// `$name` answers the input's field `$field`, through `$how` if given (`key.as_str()`).
macro_rules! input_accessors {
    ($trait:ident for $($input:ty),+ $(,)? => $methods:tt) => {
        $($crate::s3::backend::input_accessors!(@impl $trait, $input, $methods);)+
    };
    (@impl $trait:ident, $input:ty, { $(fn $name:ident -> $ret:ty = $field:ident $(.$how:ident())?;)* }) => {
        impl $trait for $input {
            $(fn $name(&self) -> $ret {
                self.$field $(.$how())?
            })*
        }
    };
}
use input_accessors;

/// One page of a part listing (ListParts, GetObjectAttributes): the parts numbered after
/// `marker`, at most `max` of them.
struct PartsPage<'a, P> {
    marker: i32,
    max: usize,
    parts: Vec<&'a P>,
    truncated: bool,
}

impl<'a, P> PartsPage<'a, P> {
    /// Pages `parts` (in part-number order) as S3 does: after `part-number-marker` (default 0),
    /// at most `max-parts` (default and ceiling 1000; negative counts as 0).
    fn new(
        parts: impl IntoIterator<Item = &'a P>,
        number: impl Fn(&P) -> i32,
        marker: Option<i32>,
        max_parts: Option<i32>,
    ) -> Self {
        let marker = marker.unwrap_or(0);
        let max = usize::try_from(max_parts.unwrap_or(1000).clamp(0, 1000)).unwrap_or(1000);
        let mut parts: Vec<&P> = parts.into_iter().filter(|p| number(p) > marker).collect();
        let truncated = parts.len() > max;
        parts.truncate(max);
        PartsPage {
            marker,
            max,
            parts,
            truncated,
        }
    }

    /// `max-parts` as the answer reports it.
    fn max_parts(&self) -> i32 {
        i32::try_from(self.max).unwrap_or(1000)
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

    /// The identity that signed `req`, and the buckets (locked).
    fn caller_and_buckets<T>(
        &self,
        req: &s3s::S3Request<T>,
    ) -> S3Result<(
        &'static Identity,
        std::sync::MutexGuard<'_, crate::s3::store::Buckets>,
    )> {
        Ok((auth::caller(req)?, self.store.lock()))
    }

    fn object_files(&self, bucket: &str, files: Vec<String>) -> Vec<PathBuf> {
        files.iter().map(|f| self.store.object_path(bucket, f)).collect()
    }

    /// Changes the bucket `input` addresses, which `who` must own, and saves it.
    fn update_bucket<T>(
        &self,
        input: &impl BucketRequest,
        who: &Identity,
        change: impl FnOnce(&mut BucketMeta) -> S3Result<T>,
    ) -> S3Result<T> {
        let mut buckets = self.store.lock();
        let meta = owned_mut(&mut buckets, input, who)?;
        let out = change(meta)?;
        self.save(meta)?;
        Ok(out)
    }

    /// Receives a request body into a staged file, computing `algo`, and verifies it against
    /// `Content-MD5` and the checksum the client declared.
    async fn receive_verified(
        &self,
        body: Option<StreamingBlob>,
        algo: Option<Algo>,
        decl: &Declared,
        trailers: Option<&TrailingHeaders>,
        content_md5: Option<&str>,
    ) -> S3Result<(Received, Option<(Algo, String)>)> {
        let body = body.unwrap_or_else(|| StreamingBlob::from(s3s::Body::empty()));
        let rec = body::receive(body, self.store.tmp_path(), algo).await?;
        let verified = verify(&rec, decl, algo, trailers, content_md5)?;
        Ok((rec, verified))
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

    #[test]
    fn parts_pages_start_after_the_marker_and_stop_at_max_parts() {
        let numbers = [1, 2, 3, 4, 5];
        let page = PartsPage::new(&numbers, |n| *n, Some(2), Some(2));
        assert_eq!(page.parts, [&3, &4]);
        assert!(page.truncated);
        assert_eq!((page.marker, page.max_parts()), (2, 2));

        let rest = PartsPage::new(&numbers, |n| *n, Some(4), None);
        assert_eq!(rest.parts, [&5]);
        assert!(!rest.truncated);
        assert_eq!((rest.marker, rest.max_parts()), (4, 1000));
    }

    #[test]
    fn parts_pages_clamp_max_parts() {
        let numbers: Vec<i32> = (1..=1001).collect();
        let page = PartsPage::new(&numbers, |n| *n, None, Some(5000));
        assert_eq!(
            (page.parts.len(), page.max_parts(), page.truncated),
            (1000, 1000, true)
        );
        let none = PartsPage::new(&numbers, |n| *n, None, Some(-1));
        assert_eq!((none.parts.len(), none.max_parts(), none.truncated), (0, 0, true));
    }
}
