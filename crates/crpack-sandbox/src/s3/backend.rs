//! The S3 operations: buckets, versioning, policies, objects and multipart uploads over
//! [`Store`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use http::{HeaderMap, HeaderValue};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, TrailingHeaders, s3_error};
use time::OffsetDateTime;

use super::body::{self, Algo, FileStream, Received, internal, set_checksum_field};
use super::policy::Policy;
use super::store::{
    BucketMeta, Buckets, ContentHeaders, PartSummary, Store, StoredChecksum, TempFile, Upload, UploadedPart,
    Version,
};
use crate::identity::{self, Identity};

/// The parts of a GetObject/HeadObject answer that do not depend on which of the two it is.
struct PreparedRead {
    v: Version,
    versioned: bool,
    file: Option<std::fs::File>,
    start: u64,
    len: u64,
    content_range: Option<String>,
    checksum: Option<(Algo, String, String)>,
    parts_count: Option<i32>,
}

/// Calls `prepare_read` with the fields GetObjectInput and HeadObjectInput have in common.
macro_rules! prepare_read {
    ($self:ident, $who:ident, $input:ident, $open:expr) => {
        $self.prepare_read(
            $who,
            &$input.bucket,
            &$input.key,
            $input.version_id.as_deref(),
            $input.expected_bucket_owner.as_deref(),
            $open,
            (
                $input.if_match.as_ref(),
                $input.if_none_match.as_ref(),
                $input.if_modified_since.as_ref(),
                $input.if_unmodified_since.as_ref(),
            ),
            $input.range.as_ref(),
            $input.part_number,
            $input.checksum_mode.as_ref(),
        )?
    };
}

/// Sets the fields GetObjectOutput and HeadObjectOutput have in common.
macro_rules! fill_read_output {
    ($out:ident, $p:ident) => {{
        let v = &$p.v;
        $out.accept_ranges = Some("bytes".to_owned());
        $out.content_length = Some(to_i64($p.len));
        $out.content_range = $p.content_range.clone();
        $out.e_tag = Some(ETag::Strong(v.etag.clone()));
        $out.last_modified = Some(ts(v.last_modified_ms));
        $out.metadata = metadata_out(&v.metadata);
        $out.parts_count = $p.parts_count;
        $out.version_id = $p.versioned.then(|| v.version_id.clone());
        $out.content_type = v.headers.content_type.clone();
        $out.content_encoding = v.headers.content_encoding.clone();
        $out.content_disposition = v.headers.content_disposition.clone();
        $out.content_language = v.headers.content_language.clone();
        $out.cache_control = v.headers.cache_control.clone();
        if let Some((algo, value, kind)) = &$p.checksum {
            set_checksum_field!($out, *algo, Some(value.clone()));
            $out.checksum_type = Some(ChecksumType::from(kind.clone()));
        }
    }};
}

/// S3's minimum size of every part but the last.
const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
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

/// The identity that signed the request.
fn caller<T>(req: &S3Request<T>) -> S3Result<&'static Identity> {
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

fn precondition_failed() -> S3Error {
    s3_error!(
        PreconditionFailed,
        "At least one of the pre-conditions you specified did not hold"
    )
}

/// An error naming a delete marker (`x-amz-delete-marker: true`), as S3 sends for GET/HEAD.
fn delete_marker_error(mut err: S3Error, version_id: &str, versioned: bool) -> S3Error {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/xml"));
    headers.insert("x-amz-delete-marker", HeaderValue::from_static("true"));
    if versioned && let Ok(v) = HeaderValue::from_str(version_id) {
        headers.insert("x-amz-version-id", v);
    }
    err.set_headers(headers);
    err
}

/// What a request needs on the bucket: ownership, or every one of some read actions (granted to
/// other accounts by the bucket policy).
enum Need<'a> {
    Owner,
    Read(&'a [&'a str]),
}

/// Checks that `who` may act on `bucket`.
fn authorize<'m>(
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
fn hide_missing(err: S3Error, meta: &BucketMeta, who: &Identity) -> S3Error {
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
fn owned_mut<'m>(
    buckets: &'m mut Buckets,
    bucket: &str,
    who: &Identity,
    expected_owner: Option<&str>,
) -> S3Result<&'m mut BucketMeta> {
    authorize(buckets, bucket, who, Need::Owner, None, expected_owner)?;
    Ok(buckets.get_mut(bucket).expect("authorized bucket exists"))
}

/// The version a GET/HEAD addresses.
fn resolve<'m>(meta: &'m BucketMeta, key: &str, version_id: Option<&str>) -> S3Result<&'m Version> {
    let versioned = meta.versioning.is_some();
    match version_id {
        None => match meta.current(key) {
            None => Err(no_such_key()),
            Some(v) if v.delete_marker => Err(delete_marker_error(no_such_key(), &v.version_id, versioned)),
            Some(v) => Ok(v),
        },
        Some(id) => {
            let v = meta
                .objects
                .get(key)
                .and_then(|vs| vs.iter().find(|v| v.version_id == id))
                .ok_or_else(|| s3_error!(NoSuchVersion, "The specified version does not exist."))?;
            if v.delete_marker {
                let err = s3_error!(
                    MethodNotAllowed,
                    "The specified method is not allowed against this resource."
                );
                Err(delete_marker_error(err, id, true))
            } else {
                Ok(v)
            }
        }
    }
}

/// `If-Match` / `If-None-Match` on writes (S3 conditional writes).
fn check_write_conditions(
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
fn check_read_conditions(
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

/// The checksum a client declared for an upload: a header value, a trailer, or just an
/// algorithm (`x-amz-sdk-checksum-algorithm`).
struct Declared {
    algo: Option<Algo>,
    header_value: Option<String>,
    trailer: bool,
}

fn declared(headers: &HeaderMap, sdk_algorithm: Option<&ChecksumAlgorithm>) -> S3Result<Declared> {
    let sdk = sdk_algorithm
        .map(|a| {
            Algo::parse(a.as_str()).ok_or_else(|| {
                s3_error!(
                    InvalidRequest,
                    "Checksum algorithm provided is unsupported: {}",
                    a.as_str()
                )
            })
        })
        .transpose()?;
    let mut found = Vec::new();
    for algo in Algo::ALL {
        if let Some(v) = headers.get(algo.header()) {
            let v = v
                .to_str()
                .map_err(|_| s3_error!(InvalidRequest, "Value for {} header is invalid.", algo.header()))?;
            found.push((algo, v.trim().to_owned()));
        }
    }
    if found.len() > 1 {
        return Err(s3_error!(
            InvalidRequest,
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
        ));
    }
    if let Some((algo, value)) = found.pop() {
        algo.check_value(&value)?;
        if sdk.is_some_and(|s| s != algo) {
            return Err(s3_error!(
                InvalidRequest,
                "Value for x-amz-sdk-checksum-algorithm header is invalid."
            ));
        }
        return Ok(Declared {
            algo: Some(algo),
            header_value: Some(value),
            trailer: false,
        });
    }
    if let Some(trailer) = headers.get("x-amz-trailer").and_then(|v| v.to_str().ok()) {
        for name in trailer.split(',').map(str::trim) {
            if let Some(algo) = Algo::ALL
                .into_iter()
                .find(|a| a.header().eq_ignore_ascii_case(name))
            {
                return Ok(Declared {
                    algo: Some(algo),
                    header_value: None,
                    trailer: true,
                });
            }
        }
    }
    Ok(Declared {
        algo: sdk,
        header_value: None,
        trailer: false,
    })
}

/// Verifies a received body against `Content-MD5` and the declared checksum (header or
/// trailer). Returns the algorithm and its computed value.
fn verify(
    rec: &Received,
    decl: &Declared,
    fallback: Option<Algo>,
    trailers: Option<&TrailingHeaders>,
    content_md5: Option<&str>,
) -> S3Result<Option<(Algo, String)>> {
    if let Some(md5) = content_md5 {
        let raw = B64
            .decode(md5.trim())
            .ok()
            .filter(|r| r.len() == 16)
            .ok_or_else(|| s3_error!(InvalidDigest, "The Content-MD5 you specified was invalid."))?;
        if raw != rec.md5 {
            return Err(s3_error!(
                BadDigest,
                "The Content-MD5 you specified did not match what we received."
            ));
        }
    }
    let Some(algo) = decl.algo.or(fallback) else {
        return Ok(None);
    };
    let computed = algo
        .value(&rec.sums)
        .cloned()
        .ok_or_else(|| internal("checksum not computed"))?;
    let sent = match (&decl.header_value, decl.trailer) {
        (Some(v), _) => Some(v.clone()),
        (None, true) => trailers
            .and_then(|t| {
                t.read(|h| {
                    h.get(algo.header())
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                })
            })
            .flatten(),
        (None, false) => None,
    };
    if let Some(sent) = sent {
        algo.check_value(&sent)?;
        if sent.trim() != computed {
            return Err(s3_error!(
                BadDigest,
                "The {} you specified did not match the calculated checksum.",
                algo.name()
            ));
        }
    }
    Ok(Some((algo, computed)))
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

/// Adds `version` as the newest version of `key`, honouring the bucket's versioning state.
/// Returns the version id and the data files no longer referenced.
fn insert_version(meta: &mut BucketMeta, key: &str, mut version: Version) -> (String, Vec<String>) {
    let enabled = meta.versioning_enabled();
    let list = meta.objects.entry(key.to_owned()).or_default();
    let mut removed = Vec::new();
    if enabled {
        version.version_id = new_id();
    } else {
        version.version_id = NULL.to_owned();
        list.retain(|v| {
            if v.version_id == NULL {
                removed.extend(v.file.clone());
                false
            } else {
                true
            }
        });
    }
    let id = version.version_id.clone();
    list.push(version);
    (id, removed)
}

fn delete_marker(owner: &str) -> Version {
    Version {
        version_id: String::new(),
        delete_marker: true,
        file: None,
        size: 0,
        etag: String::new(),
        last_modified_ms: now_ms(),
        checksum: None,
        sha256: None,
        headers: ContentHeaders::default(),
        metadata: BTreeMap::new(),
        parts: Vec::new(),
        owner: owner.to_owned(),
    }
}

/// The outcome of deleting one key or version.
struct Deleted {
    delete_marker: bool,
    version_id: Option<String>,
    removed_files: Vec<String>,
}

/// DeleteObject semantics on one key.
fn delete_one(meta: &mut BucketMeta, key: &str, version_id: Option<&str>, who: &str) -> Deleted {
    match version_id {
        Some(id) => {
            let mut out = Deleted {
                delete_marker: false,
                version_id: Some(id.to_owned()),
                removed_files: Vec::new(),
            };
            if let Some(list) = meta.objects.get_mut(key)
                && let Some(pos) = list.iter().position(|v| v.version_id == id)
            {
                let v = list.remove(pos);
                out.delete_marker = v.delete_marker;
                out.removed_files.extend(v.file);
                if list.is_empty() {
                    meta.objects.remove(key);
                }
            }
            out
        }
        None if meta.versioning.is_none() => {
            let mut removed_files = Vec::new();
            if let Some(list) = meta.objects.remove(key) {
                removed_files.extend(list.into_iter().filter_map(|v| v.file));
            }
            Deleted {
                delete_marker: false,
                version_id: None,
                removed_files,
            }
        }
        None => {
            let (id, removed_files) = insert_version(meta, key, delete_marker(who));
            Deleted {
                delete_marker: true,
                version_id: Some(id),
                removed_files,
            }
        }
    }
}

/// `encoding-type=url`: percent-encode keys in listings.
const KEY_ENCODE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

fn encoder(encoding_type: Option<&EncodingType>) -> impl Fn(&str) -> String {
    let url = encoding_type.is_some_and(|e| e.as_str() == EncodingType::URL);
    move |s: &str| {
        if url {
            percent_encoding::utf8_percent_encode(s, KEY_ENCODE).to_string()
        } else {
            s.to_owned()
        }
    }
}

fn checksum_algorithms(v: &Version) -> Option<Vec<ChecksumAlgorithm>> {
    v.checksum
        .as_ref()
        .map(|c| vec![ChecksumAlgorithm::from(c.algorithm.clone())])
}

fn checksum_type(v: &Version) -> Option<ChecksumType> {
    v.checksum.as_ref().map(|c| ChecksumType::from(c.kind.clone()))
}

/// One row of a listing: a key (with its version) or a common prefix.
enum Row<'a> {
    Key(&'a str, &'a Version, bool),
    Prefix(String),
}

/// Groups `rows` (sorted key order) by `delimiter` after `prefix`.
fn common_prefix(key: &str, prefix: &str, delimiter: Option<&str>) -> Option<String> {
    let delimiter = delimiter.filter(|d| !d.is_empty())?;
    let rest = &key[prefix.len()..];
    rest.find(delimiter)
        .map(|i| format!("{prefix}{}", &rest[..i + delimiter.len()]))
}

fn decode_token(token: &str) -> S3Result<String> {
    B64.decode(token)
        .ok()
        .and_then(|raw| String::from_utf8(raw).ok())
        .ok_or_else(|| s3_error!(InvalidArgument, "The continuation token provided is incorrect"))
}

/// One object key's current version plus whether it is listed as a common prefix.
fn list_current<'m>(
    meta: &'m BucketMeta,
    prefix: &str,
    delimiter: Option<&str>,
    after: Option<&str>,
    max_keys: usize,
) -> (Vec<Row<'m>>, bool) {
    let mut rows = Vec::new();
    let mut last_prefix: Option<String> = None;
    let mut truncated = false;
    for (key, versions) in meta.objects.range(prefix.to_owned()..) {
        if !key.starts_with(prefix) {
            break;
        }
        let Some(current) = versions.last().filter(|v| !v.delete_marker) else {
            continue;
        };
        let row_name;
        let row = match common_prefix(key, prefix, delimiter) {
            Some(cp) => {
                if last_prefix.as_deref() == Some(cp.as_str()) {
                    continue;
                }
                last_prefix = Some(cp.clone());
                row_name = cp.clone();
                Row::Prefix(cp)
            }
            None => {
                row_name = key.clone();
                Row::Key(key, current, true)
            }
        };
        if after.is_some_and(|a| row_name.as_str() <= a) {
            continue;
        }
        if rows.len() == max_keys {
            truncated = true;
            break;
        }
        rows.push(row);
    }
    (rows, truncated)
}

fn row_name(row: &Row<'_>) -> String {
    match row {
        Row::Key(k, _, _) => (*k).to_owned(),
        Row::Prefix(p) => p.clone(),
    }
}

fn max_keys(n: Option<i32>) -> usize {
    n.map_or(1000, |n| usize::try_from(n.clamp(0, 1000)).unwrap_or(1000))
}

fn object_entry(key: &str, v: &Version, encode: &impl Fn(&str) -> String, fetch_owner: bool) -> Object {
    Object {
        checksum_algorithm: checksum_algorithms(v),
        checksum_type: checksum_type(v),
        e_tag: Some(ETag::Strong(v.etag.clone())),
        key: Some(encode(key)),
        last_modified: Some(ts(v.last_modified_ms)),
        owner: fetch_owner.then(|| owner_of(&v.owner)),
        restore_status: None,
        size: Some(to_i64(v.size)),
        storage_class: Some(ObjectStorageClass::from_static(ObjectStorageClass::STANDARD)),
    }
}

/// The composite checksum of parts: the digest of the concatenated raw part digests, with `-N`.
pub(super) fn composite_checksum(algo: Algo, part_values: &[&str]) -> S3Result<String> {
    let mut raw = Vec::new();
    for v in part_values {
        raw.extend(B64.decode(v).map_err(internal)?);
    }
    Ok(format!("{}-{}", B64.encode(algo.digest(&raw)), part_values.len()))
}

/// The multipart ETag: MD5 of the concatenated raw part MD5s, with `-N`.
pub(super) fn multipart_etag(part_etags: &[&str]) -> S3Result<String> {
    use s3s::crypto::Checksum as _;
    let mut raw = Vec::new();
    for e in part_etags {
        raw.extend(hex::decode(e).map_err(internal)?);
    }
    Ok(format!(
        "{}-{}",
        hex::encode(s3s::crypto::Md5::checksum(&raw)),
        part_etags.len()
    ))
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

    // --- buckets ---

    pub async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let who = caller(&req)?;
        let bucket = req.input.bucket;
        let mut buckets = self.store.lock();
        if let Some(existing) = buckets.get(&bucket) {
            return Err(if existing.owner == who.account_id {
                s3_error!(
                    BucketAlreadyOwnedByYou,
                    "Your previous request to create the named bucket succeeded and you already own it."
                )
            } else {
                s3_error!(
                    BucketAlreadyExists,
                    "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."
                )
            });
        }
        self.store.create_bucket_dirs(&bucket).map_err(internal)?;
        let meta = BucketMeta {
            name: bucket.clone(),
            owner: who.account_id.to_owned(),
            created_ms: now_ms(),
            versioning: None,
            policy: None,
            objects: BTreeMap::new(),
            uploads: BTreeMap::new(),
        };
        self.save(&meta)?;
        buckets.insert(bucket.clone(), meta);
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{bucket}")),
        }))
    }

    pub async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let who = caller(&req)?;
        let buckets = self.store.lock();
        authorize(
            &buckets,
            &req.input.bucket,
            who,
            Need::Read(&["s3:ListBucket"]),
            None,
            req.input.expected_bucket_owner.as_deref(),
        )?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(crate::REGION.to_owned()),
            ..Default::default()
        }))
    }

    pub async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let who = caller(&req)?;
        let buckets = self.store.lock();
        authorize(&buckets, &req.input.bucket, who, Need::Owner, None, None)?;
        // us-east-1 is reported as an empty LocationConstraint.
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    pub async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let who = caller(&req)?;
        let bucket = req.input.bucket;
        let mut buckets = self.store.lock();
        let meta = owned_mut(
            &mut buckets,
            &bucket,
            who,
            req.input.expected_bucket_owner.as_deref(),
        )?;
        if !meta.objects.is_empty() {
            return Err(s3_error!(
                BucketNotEmpty,
                "The bucket you tried to delete is not empty"
            ));
        }
        buckets.remove(&bucket);
        self.store.remove_bucket_dir(&bucket);
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    pub async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let who = caller(&req)?;
        let buckets = self.store.lock();
        let prefix = req.input.prefix.clone().unwrap_or_default();
        let list: Vec<Bucket> = buckets
            .values()
            .filter(|b| b.owner == who.account_id && b.name.starts_with(&prefix))
            .map(|b| Bucket {
                bucket_region: Some(crate::REGION.to_owned()),
                creation_date: Some(ts(b.created_ms)),
                name: Some(b.name.clone()),
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(list),
            continuation_token: None,
            owner: Some(owner_of(who.account_id)),
            prefix: req.input.prefix,
        }))
    }

    pub async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        let who = caller(&req)?;
        let buckets = self.store.lock();
        let meta = authorize(
            &buckets,
            &req.input.bucket,
            who,
            Need::Read(&["s3:GetBucketVersioning"]),
            None,
            req.input.expected_bucket_owner.as_deref(),
        )?;
        Ok(S3Response::new(GetBucketVersioningOutput {
            mfa_delete: None,
            status: meta.versioning.clone().map(BucketVersioningStatus::from),
        }))
    }

    pub async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        let who = caller(&req)?;
        let status = match req
            .input
            .versioning_configuration
            .status
            .as_ref()
            .map(|s| s.as_str())
        {
            Some(s @ (BucketVersioningStatus::ENABLED | BucketVersioningStatus::SUSPENDED)) => s.to_owned(),
            _ => {
                return Err(s3_error!(
                    MalformedXML,
                    "The XML you provided was not well-formed or did not validate against our published schema"
                ));
            }
        };
        let mut buckets = self.store.lock();
        let meta = owned_mut(
            &mut buckets,
            &req.input.bucket,
            who,
            req.input.expected_bucket_owner.as_deref(),
        )?;
        meta.versioning = Some(status);
        self.save(meta)?;
        Ok(S3Response::new(PutBucketVersioningOutput {}))
    }

    pub async fn put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        let who = caller(&req)?;
        let mut buckets = self.store.lock();
        let meta = owned_mut(
            &mut buckets,
            &req.input.bucket,
            who,
            req.input.expected_bucket_owner.as_deref(),
        )?;
        Policy::parse(&req.input.policy).map_err(|e| s3_error!(MalformedPolicy, "{e}"))?;
        meta.policy = Some(req.input.policy);
        self.save(meta)?;
        Ok(S3Response::new(PutBucketPolicyOutput {}))
    }

    pub async fn get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        let who = caller(&req)?;
        let buckets = self.store.lock();
        let meta = authorize(
            &buckets,
            &req.input.bucket,
            who,
            Need::Owner,
            None,
            req.input.expected_bucket_owner.as_deref(),
        )?;
        let policy = meta
            .policy
            .clone()
            .ok_or_else(|| s3_error!(NoSuchBucketPolicy, "The bucket policy does not exist"))?;
        Ok(S3Response::new(GetBucketPolicyOutput { policy: Some(policy) }))
    }

    pub async fn delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        let who = caller(&req)?;
        let mut buckets = self.store.lock();
        let meta = owned_mut(
            &mut buckets,
            &req.input.bucket,
            who,
            req.input.expected_bucket_owner.as_deref(),
        )?;
        meta.policy = None;
        self.save(meta)?;
        Ok(S3Response::new(DeleteBucketPolicyOutput {}))
    }

    // --- objects ---

    /// Renames a staged body into place as the newest version of `key`.
    #[allow(clippy::too_many_arguments)]
    fn commit_version(
        &self,
        bucket: &str,
        key: &str,
        version: Version,
        staged: TempFile,
        who: &Identity,
        expected_owner: Option<&str>,
        if_match: Option<&ETagCondition>,
        if_none_match: Option<&ETagCondition>,
    ) -> S3Result<(String, bool)> {
        let file = version
            .file
            .clone()
            .ok_or_else(|| internal("version without a file"))?;
        let (id, versioned, removed) = {
            let mut buckets = self.store.lock();
            let meta = owned_mut(&mut buckets, bucket, who, expected_owner)?;
            check_write_conditions(meta, key, if_match, if_none_match)?;
            staged
                .persist(&self.store.object_path(bucket, &file))
                .map_err(internal)?;
            let (id, removed) = insert_version(meta, key, version);
            self.save(meta)?;
            (id, meta.versioning.is_some(), removed)
        };
        remove_files(self.object_files(bucket, removed));
        Ok((id, versioned))
    }

    pub async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let who = caller(&req)?;
        let decl = declared(&req.headers, req.input.checksum_algorithm.as_ref())?;
        let trailers = req.trailing_headers.clone();
        let mut input = req.input;
        {
            let buckets = self.store.lock();
            let meta = authorize(
                &buckets,
                &input.bucket,
                who,
                Need::Owner,
                None,
                input.expected_bucket_owner.as_deref(),
            )?;
            check_write_conditions(
                meta,
                &input.key,
                input.if_match.as_ref(),
                input.if_none_match.as_ref(),
            )?;
        }
        // Without a client checksum S3 computes and stores a CRC64NVME.
        let algo = decl.algo.unwrap_or(Algo::Crc64Nvme);
        let body = input
            .body
            .take()
            .unwrap_or_else(|| StreamingBlob::from(s3s::Body::empty()));
        let rec = body::receive(body, self.store.tmp_path(), Some(algo)).await?;
        let (algo, value) = verify(
            &rec,
            &decl,
            Some(algo),
            trailers.as_ref(),
            input.content_md5.as_deref(),
        )?
        .ok_or_else(|| internal("no checksum"))?;
        let etag = hex::encode(&rec.md5);
        let version = Version {
            version_id: String::new(),
            delete_marker: false,
            file: Some(new_id()),
            size: rec.size,
            etag: etag.clone(),
            last_modified_ms: now_ms(),
            checksum: Some(StoredChecksum {
                algorithm: algo.name().to_owned(),
                value: value.clone(),
                kind: FULL_OBJECT.to_owned(),
            }),
            sha256: rec.sums.checksum_sha256.clone(),
            headers: content_headers(
                input.content_type.take(),
                input.content_encoding.take(),
                input.content_disposition.take(),
                input.content_language.take(),
                input.cache_control.take(),
            ),
            metadata: sorted_metadata(input.metadata.take()),
            parts: Vec::new(),
            owner: who.account_id.to_owned(),
        };
        let (id, versioned) = self.commit_version(
            &input.bucket,
            &input.key,
            version,
            rec.file,
            who,
            input.expected_bucket_owner.as_deref(),
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
        )?;
        let mut out = PutObjectOutput {
            e_tag: Some(ETag::Strong(etag)),
            version_id: versioned.then_some(id),
            checksum_type: Some(ChecksumType::from_static(ChecksumType::FULL_OBJECT)),
            ..Default::default()
        };
        set_checksum_field!(out, algo, Some(value));
        Ok(S3Response::new(out))
    }

    /// Looks up the version a GET/HEAD addresses; with `open`, also opens its data file (under
    /// the lock, so a concurrent delete cannot remove it first).
    fn lookup(
        &self,
        who: &Identity,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        expected_owner: Option<&str>,
        open: bool,
    ) -> S3Result<(Version, bool, Option<std::fs::File>)> {
        let actions: &[&str] = if version_id.is_some() {
            &["s3:GetObjectVersion"]
        } else {
            &["s3:GetObject"]
        };
        let buckets = self.store.lock();
        let meta = authorize(
            &buckets,
            bucket,
            who,
            Need::Read(actions),
            Some(key),
            expected_owner,
        )?;
        let v = resolve(meta, key, version_id).map_err(|e| hide_missing(e, meta, who))?;
        let file = if open {
            let path = self
                .store
                .object_path(bucket, v.file.as_deref().unwrap_or_default());
            Some(std::fs::File::open(path).map_err(internal)?)
        } else {
            None
        };
        Ok((v.clone(), meta.versioning.is_some(), file))
    }

    /// The byte range a GET/HEAD returns: `(start, len, Content-Range)`.
    fn span(
        v: &Version,
        range: Option<&Range>,
        part_number: Option<i32>,
    ) -> S3Result<(u64, u64, Option<String>)> {
        if let Some(n) = part_number {
            if range.is_some() {
                return Err(s3_error!(
                    InvalidRequest,
                    "Cannot specify both Range header and partNumber query parameter"
                ));
            }
            let count = v.parts.len().max(1);
            let idx = usize::try_from(n)
                .ok()
                .filter(|i| (1..=count).contains(i))
                .ok_or_else(|| {
                    let code =
                        S3ErrorCode::from_bytes(b"InvalidPartNumber").unwrap_or(S3ErrorCode::InvalidRange);
                    let mut e = S3Error::with_message(code, "The requested partnumber is not satisfiable");
                    e.set_status_code(http::StatusCode::RANGE_NOT_SATISFIABLE);
                    e
                })?;
            if v.parts.is_empty() {
                return Ok((0, v.size, None));
            }
            let start: u64 = v.parts[..idx - 1].iter().map(|p| p.size).sum();
            let len = v.parts[idx - 1].size;
            let end = (start + len).saturating_sub(1);
            return Ok((start, len, Some(format!("bytes {start}-{end}/{}", v.size))));
        }
        match range {
            None => Ok((0, v.size, None)),
            Some(r) => {
                let rg = r.check(v.size)?;
                let len = rg.end - rg.start;
                Ok((
                    rg.start,
                    len,
                    Some(format!("bytes {}-{}/{}", rg.start, rg.end - 1, v.size)),
                ))
            }
        }
    }

    /// What GetObject and HeadObject share: the version (after access and conditional checks),
    /// the byte span to serve, and whether the stored checksum may be reported.
    #[allow(clippy::too_many_arguments)]
    fn prepare_read(
        &self,
        who: &Identity,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        expected_owner: Option<&str>,
        open: bool,
        conditions: (
            Option<&ETagCondition>,
            Option<&ETagCondition>,
            Option<&Timestamp>,
            Option<&Timestamp>,
        ),
        range: Option<&Range>,
        part_number: Option<i32>,
        checksum_mode: Option<&ChecksumMode>,
    ) -> S3Result<PreparedRead> {
        let (v, versioned, file) = self.lookup(who, bucket, key, version_id, expected_owner, open)?;
        let (if_match, if_none_match, if_modified_since, if_unmodified_since) = conditions;
        check_read_conditions(
            &v,
            if_match,
            if_none_match,
            if_modified_since,
            if_unmodified_since,
        )?;
        let (start, len, content_range) = Self::span(&v, range, part_number)?;
        // Checksums describe whole objects (or whole parts of multipart objects read by number).
        let whole = content_range.is_none() || (part_number.is_some() && v.parts.is_empty());
        let checksum = if whole && checksum_mode.is_some_and(|m| m.as_str() == ChecksumMode::ENABLED) {
            v.checksum
                .as_ref()
                .and_then(|c| Algo::parse(&c.algorithm).map(|a| (a, c.value.clone(), c.kind.clone())))
        } else {
            None
        };
        let parts_count = (!v.parts.is_empty() && part_number.is_some())
            .then(|| i32::try_from(v.parts.len()).unwrap_or(i32::MAX));
        Ok(PreparedRead {
            v,
            versioned,
            file,
            start,
            len,
            content_range,
            checksum,
            parts_count,
        })
    }

    pub async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        let who = caller(&req)?;
        let input = req.input;
        let p = prepare_read!(self, who, input, true);
        let file = p.file.ok_or_else(|| internal("object file not opened"))?;
        let stream = FileStream::new(file, p.start, p.len).map_err(internal)?;
        let mut out = GetObjectOutput {
            body: Some(StreamingBlob::new(stream)),
            ..Default::default()
        };
        fill_read_output!(out, p);
        Ok(S3Response::new(out))
    }

    pub async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let who = caller(&req)?;
        let input = req.input;
        let p = prepare_read!(self, who, input, false);
        let mut out = HeadObjectOutput::default();
        fill_read_output!(out, p);
        Ok(S3Response::new(out))
    }

    pub async fn get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        let who = caller(&req)?;
        let input = req.input;
        // As S3 documents: with a version id both GetObjectVersion and
        // GetObjectVersionAttributes, otherwise GetObject and GetObjectAttributes.
        let actions: &[&str] = if input.version_id.is_some() {
            &["s3:GetObjectVersion", "s3:GetObjectVersionAttributes"]
        } else {
            &["s3:GetObject", "s3:GetObjectAttributes"]
        };
        let (v, versioned) = {
            let buckets = self.store.lock();
            let meta = authorize(
                &buckets,
                &input.bucket,
                who,
                Need::Read(actions),
                Some(&input.key),
                input.expected_bucket_owner.as_deref(),
            )?;
            let v = resolve(meta, &input.key, input.version_id.as_deref())
                .map_err(|e| hide_missing(e, meta, who))?;
            (v.clone(), meta.versioning.is_some())
        };
        // One header line per attribute (the Rust SDK) or one comma-joined line (botocore).
        let wants = |a: &str| {
            input
                .object_attributes
                .iter()
                .flat_map(|x| x.as_str().split(','))
                .any(|x| x.trim() == a)
        };
        let mut out = GetObjectAttributesOutput {
            last_modified: Some(ts(v.last_modified_ms)),
            version_id: versioned.then(|| v.version_id.clone()),
            ..Default::default()
        };
        if wants(ObjectAttributes::ETAG) {
            out.e_tag = Some(ETag::Strong(v.etag.clone()));
        }
        if wants(ObjectAttributes::OBJECT_SIZE) {
            out.object_size = Some(to_i64(v.size));
        }
        if wants(ObjectAttributes::STORAGE_CLASS) {
            out.storage_class = Some(StorageClass::from_static(StorageClass::STANDARD));
        }
        if wants(ObjectAttributes::CHECKSUM)
            && let Some(c) = &v.checksum
            && let Some(algo) = Algo::parse(&c.algorithm)
        {
            // GetObjectAttributes reports a composite checksum without the `-N` part count.
            let value = match c.value.rsplit_once('-') {
                Some((digest, n)) if c.kind == COMPOSITE && n.bytes().all(|b| b.is_ascii_digit()) => {
                    digest.to_owned()
                }
                _ => c.value.clone(),
            };
            let mut checksum = Checksum {
                checksum_type: Some(ChecksumType::from(c.kind.clone())),
                ..Default::default()
            };
            set_checksum_field!(checksum, algo, Some(value));
            out.checksum = Some(checksum);
        }
        if wants(ObjectAttributes::OBJECT_PARTS) && !v.parts.is_empty() {
            let marker = input.part_number_marker.unwrap_or(0);
            let max = usize::try_from(input.max_parts.unwrap_or(1000).clamp(0, 1000)).unwrap_or(1000);
            let algo = v.checksum.as_ref().and_then(|c| Algo::parse(&c.algorithm));
            let rest: Vec<&PartSummary> = v.parts.iter().filter(|p| p.number > marker).collect();
            let truncated = rest.len() > max;
            let page: Vec<ObjectPart> = rest
                .iter()
                .take(max)
                .map(|p| {
                    let mut part = ObjectPart {
                        part_number: Some(p.number),
                        size: Some(to_i64(p.size)),
                        ..Default::default()
                    };
                    if let Some(algo) = algo {
                        set_checksum_field!(part, algo, p.checksum.clone());
                    }
                    part
                })
                .collect();
            out.object_parts = Some(GetObjectAttributesParts {
                is_truncated: Some(truncated),
                max_parts: Some(i32::try_from(max).unwrap_or(1000)),
                next_part_number_marker: page.last().and_then(|p| p.part_number),
                part_number_marker: Some(marker),
                parts: Some(page),
                total_parts_count: Some(i32::try_from(v.parts.len()).unwrap_or(i32::MAX)),
            });
        }
        Ok(S3Response::new(out))
    }

    pub async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let who = caller(&req)?;
        let input = req.input;
        let (deleted, versioned) = {
            let mut buckets = self.store.lock();
            let meta = owned_mut(
                &mut buckets,
                &input.bucket,
                who,
                input.expected_bucket_owner.as_deref(),
            )?;
            if let Some(cond) = &input.if_match {
                check_write_conditions(meta, &input.key, Some(cond), None)?;
            }
            let deleted = delete_one(meta, &input.key, input.version_id.as_deref(), who.account_id);
            self.save(meta)?;
            (deleted, meta.versioning.is_some())
        };
        remove_files(self.object_files(&input.bucket, deleted.removed_files));
        Ok(S3Response::new(DeleteObjectOutput {
            delete_marker: deleted.delete_marker.then_some(true),
            request_charged: None,
            version_id: if versioned || input.version_id.is_some() {
                deleted.version_id
            } else {
                None
            },
        }))
    }

    pub async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let who = caller(&req)?;
        let input = req.input;
        let quiet = input.delete.quiet.unwrap_or(false);
        let mut done = Vec::new();
        let mut files = Vec::new();
        {
            let mut buckets = self.store.lock();
            let meta = owned_mut(
                &mut buckets,
                &input.bucket,
                who,
                input.expected_bucket_owner.as_deref(),
            )?;
            for obj in &input.delete.objects {
                let d = delete_one(meta, &obj.key, obj.version_id.as_deref(), who.account_id);
                files.extend(d.removed_files);
                if !quiet {
                    let marker_id =
                        (d.delete_marker && obj.version_id.is_none()).then(|| d.version_id.clone());
                    done.push(DeletedObject {
                        delete_marker: d.delete_marker.then_some(true),
                        delete_marker_version_id: marker_id.flatten(),
                        key: Some(obj.key.clone()),
                        version_id: obj.version_id.clone(),
                    });
                }
            }
            self.save(meta)?;
        }
        remove_files(self.object_files(&input.bucket, files));
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(done),
            errors: None,
            request_charged: None,
        }))
    }

    pub async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let who = caller(&req)?;
        let input = req.input;
        let token = input
            .continuation_token
            .as_deref()
            .map(decode_token)
            .transpose()?;
        let after = match (&token, &input.start_after) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(s)) => Some(s.clone()),
            (None, None) => None,
        };
        let prefix = input.prefix.clone().unwrap_or_default();
        let limit = max_keys(input.max_keys);
        let encode = encoder(input.encoding_type.as_ref());
        let buckets = self.store.lock();
        let meta = authorize(
            &buckets,
            &input.bucket,
            who,
            Need::Read(&["s3:ListBucket"]),
            None,
            input.expected_bucket_owner.as_deref(),
        )?;
        let (rows, truncated) =
            list_current(meta, &prefix, input.delimiter.as_deref(), after.as_deref(), limit);
        let next = truncated
            .then(|| rows.last().map(|r| B64.encode(row_name(r))))
            .flatten();
        let mut contents = Vec::new();
        let mut prefixes = Vec::new();
        for row in &rows {
            match row {
                Row::Key(k, v, _) => {
                    contents.push(object_entry(k, v, &encode, input.fetch_owner == Some(true)))
                }
                Row::Prefix(p) => prefixes.push(CommonPrefix {
                    prefix: Some(encode(p)),
                }),
            }
        }
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket.clone()),
            prefix: Some(encode(&prefix)),
            max_keys: Some(i32::try_from(limit).unwrap_or(1000)),
            key_count: Some(i32::try_from(rows.len()).unwrap_or(i32::MAX)),
            continuation_token: input.continuation_token.clone(),
            is_truncated: Some(truncated),
            next_continuation_token: next,
            contents: Some(contents),
            common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
            delimiter: input.delimiter.as_deref().map(&encode),
            encoding_type: input.encoding_type.clone(),
            start_after: input.start_after.as_deref().map(&encode),
            request_charged: None,
        }))
    }

    pub async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let who = caller(&req)?;
        let input = req.input;
        let prefix = input.prefix.clone().unwrap_or_default();
        let limit = max_keys(input.max_keys);
        let encode = encoder(input.encoding_type.as_ref());
        let buckets = self.store.lock();
        let meta = authorize(
            &buckets,
            &input.bucket,
            who,
            Need::Read(&["s3:ListBucket"]),
            None,
            input.expected_bucket_owner.as_deref(),
        )?;
        let (rows, truncated) = list_current(
            meta,
            &prefix,
            input.delimiter.as_deref(),
            input.marker.as_deref(),
            limit,
        );
        let next_marker = (truncated && input.delimiter.is_some())
            .then(|| rows.last().map(|r| encode(&row_name(r))))
            .flatten();
        let mut contents = Vec::new();
        let mut prefixes = Vec::new();
        for row in &rows {
            match row {
                Row::Key(k, v, _) => contents.push(object_entry(k, v, &encode, true)),
                Row::Prefix(p) => prefixes.push(CommonPrefix {
                    prefix: Some(encode(p)),
                }),
            }
        }
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket.clone()),
            prefix: Some(encode(&prefix)),
            marker: input.marker.as_deref().map(&encode),
            max_keys: Some(i32::try_from(limit).unwrap_or(1000)),
            is_truncated: Some(truncated),
            contents: Some(contents),
            common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
            delimiter: input.delimiter.as_deref().map(&encode),
            next_marker,
            encoding_type: input.encoding_type.clone(),
            request_charged: None,
        }))
    }

    pub async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let who = caller(&req)?;
        let input = req.input;
        let prefix = input.prefix.clone().unwrap_or_default();
        let delimiter = input.delimiter.as_deref();
        let limit = max_keys(input.max_keys);
        let encode = encoder(input.encoding_type.as_ref());
        let key_marker = input.key_marker.clone().filter(|k| !k.is_empty());
        let vid_marker = input.version_id_marker.clone().filter(|v| !v.is_empty());
        let buckets = self.store.lock();
        let meta = authorize(
            &buckets,
            &input.bucket,
            who,
            Need::Read(&["s3:ListBucketVersions"]),
            None,
            input.expected_bucket_owner.as_deref(),
        )?;

        // Every version (newest first within a key) or common prefix, in listing order.
        let mut rows: Vec<Row<'_>> = Vec::new();
        let mut last_prefix: Option<String> = None;
        for (key, versions) in meta.objects.range(prefix.clone()..) {
            if !key.starts_with(&prefix) {
                break;
            }
            if let Some(cp) = common_prefix(key, &prefix, delimiter) {
                if last_prefix.as_deref() != Some(cp.as_str()) {
                    last_prefix = Some(cp.clone());
                    if key_marker.as_deref().is_none_or(|m| cp.as_str() > m) {
                        rows.push(Row::Prefix(cp));
                    }
                }
                continue;
            }
            if let Some(m) = key_marker.as_deref() {
                if key.as_str() < m {
                    continue;
                }
                if key.as_str() == m && vid_marker.is_none() {
                    continue;
                }
            }
            let mut skipping = key_marker.as_deref() == Some(key.as_str());
            for (i, v) in versions.iter().rev().enumerate() {
                if skipping {
                    if Some(v.version_id.as_str()) == vid_marker.as_deref() {
                        skipping = false;
                    }
                    continue;
                }
                rows.push(Row::Key(key, v, i == 0));
            }
        }
        let truncated = rows.len() > limit;
        rows.truncate(limit);
        let (next_key, next_vid) = if truncated {
            match rows.last() {
                Some(Row::Key(k, v, _)) => (Some(encode(k)), Some(v.version_id.clone())),
                Some(Row::Prefix(p)) => (Some(encode(p)), None),
                None => (None, None),
            }
        } else {
            (None, None)
        };
        let mut versions = Vec::new();
        let mut markers = Vec::new();
        let mut prefixes = Vec::new();
        for row in rows {
            match row {
                Row::Key(k, v, latest) if v.delete_marker => markers.push(DeleteMarkerEntry {
                    is_latest: Some(latest),
                    key: Some(encode(k)),
                    last_modified: Some(ts(v.last_modified_ms)),
                    owner: Some(owner_of(&v.owner)),
                    version_id: Some(v.version_id.clone()),
                }),
                Row::Key(k, v, latest) => versions.push(ObjectVersion {
                    checksum_algorithm: checksum_algorithms(v),
                    checksum_type: checksum_type(v),
                    e_tag: Some(ETag::Strong(v.etag.clone())),
                    is_latest: Some(latest),
                    key: Some(encode(k)),
                    last_modified: Some(ts(v.last_modified_ms)),
                    owner: Some(owner_of(&v.owner)),
                    restore_status: None,
                    size: Some(to_i64(v.size)),
                    storage_class: Some(ObjectVersionStorageClass::from_static(
                        ObjectVersionStorageClass::STANDARD,
                    )),
                    version_id: Some(v.version_id.clone()),
                }),
                Row::Prefix(p) => prefixes.push(CommonPrefix {
                    prefix: Some(encode(&p)),
                }),
            }
        }
        Ok(S3Response::new(ListObjectVersionsOutput {
            common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
            delete_markers: (!markers.is_empty()).then_some(markers),
            delimiter: input.delimiter.as_deref().map(&encode),
            encoding_type: input.encoding_type.clone(),
            is_truncated: Some(truncated),
            key_marker: Some(key_marker.as_deref().map(&encode).unwrap_or_default()),
            max_keys: Some(i32::try_from(limit).unwrap_or(1000)),
            name: Some(input.bucket.clone()),
            next_key_marker: next_key,
            next_version_id_marker: next_vid,
            prefix: Some(encode(&prefix)),
            request_charged: None,
            version_id_marker: Some(vid_marker.unwrap_or_default()),
            versions: (!versions.is_empty()).then_some(versions),
        }))
    }

    // --- multipart uploads ---

    pub async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let who = caller(&req)?;
        let input = req.input;
        let algo = input
            .checksum_algorithm
            .as_ref()
            .map(|a| {
                Algo::parse(a.as_str())
                    .ok_or_else(|| s3_error!(InvalidRequest, "Checksum algorithm provided is unsupported"))
            })
            .transpose()?;
        let kind = match (algo, input.checksum_type.as_ref().map(|t| t.as_str())) {
            (None, Some(_)) => {
                return Err(s3_error!(
                    InvalidRequest,
                    "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."
                ));
            }
            (None, None) => None,
            (Some(a), Some(FULL_OBJECT)) if a.is_crc() => Some(FULL_OBJECT),
            (Some(a), Some(FULL_OBJECT)) => {
                return Err(s3_error!(
                    InvalidRequest,
                    "The FULL_OBJECT checksum type cannot be used with the {} checksum algorithm.",
                    a.name().to_lowercase()
                ));
            }
            (Some(Algo::Crc64Nvme), Some(COMPOSITE)) => {
                return Err(s3_error!(
                    InvalidRequest,
                    "The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm."
                ));
            }
            (Some(_), Some(COMPOSITE)) => Some(COMPOSITE),
            (Some(_), Some(other)) => {
                return Err(s3_error!(InvalidRequest, "Invalid checksum type: {other}"));
            }
            (Some(Algo::Crc64Nvme), None) => Some(FULL_OBJECT),
            (Some(_), None) => Some(COMPOSITE),
        };
        let upload_id = new_id();
        let upload = Upload {
            upload_id: upload_id.clone(),
            key: input.key.clone(),
            owner: who.account_id.to_owned(),
            initiated_ms: now_ms(),
            algorithm: algo.map(|a| a.name().to_owned()),
            checksum_type: kind.map(str::to_owned),
            headers: content_headers(
                input.content_type,
                input.content_encoding,
                input.content_disposition,
                input.content_language,
                input.cache_control,
            ),
            metadata: sorted_metadata(input.metadata),
            parts: BTreeMap::new(),
        };
        {
            let mut buckets = self.store.lock();
            let meta = owned_mut(
                &mut buckets,
                &input.bucket,
                who,
                input.expected_bucket_owner.as_deref(),
            )?;
            meta.uploads.insert(upload_id.clone(), upload);
            self.save(meta)?;
        }
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload_id),
            checksum_algorithm: algo.map(|a| ChecksumAlgorithm::from_static(a.name())),
            checksum_type: kind.map(ChecksumType::from_static),
            ..Default::default()
        }))
    }

    pub async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let who = caller(&req)?;
        let decl = declared(&req.headers, req.input.checksum_algorithm.as_ref())?;
        let trailers = req.trailing_headers.clone();
        let mut input = req.input;
        if !(1..=10_000).contains(&input.part_number) {
            return Err(s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive"
            ));
        }
        let upload_algo = {
            let buckets = self.store.lock();
            let meta = authorize(
                &buckets,
                &input.bucket,
                who,
                Need::Owner,
                None,
                input.expected_bucket_owner.as_deref(),
            )?;
            let upload = meta
                .uploads
                .get(&input.upload_id)
                .filter(|u| u.key == input.key)
                .ok_or_else(no_such_upload)?;
            upload.algorithm.as_deref().and_then(Algo::parse)
        };
        if let (Some(expected), Some(actual)) = (upload_algo, decl.algo)
            && expected != actual
        {
            return Err(s3_error!(
                InvalidRequest,
                "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
                expected.name().to_lowercase(),
                actual.name().to_lowercase()
            ));
        }
        let algo = decl.algo.or(upload_algo);
        let body = input
            .body
            .take()
            .unwrap_or_else(|| StreamingBlob::from(s3s::Body::empty()));
        let rec = body::receive(body, self.store.tmp_path(), algo).await?;
        let verified = verify(&rec, &decl, algo, trailers.as_ref(), input.content_md5.as_deref())?;
        let etag = hex::encode(&rec.md5);
        let file = new_id();
        let part = UploadedPart {
            number: input.part_number,
            size: rec.size,
            etag: etag.clone(),
            last_modified_ms: now_ms(),
            file: file.clone(),
            checksum: verified.as_ref().map(|(a, v)| StoredChecksum {
                algorithm: a.name().to_owned(),
                value: v.clone(),
                kind: FULL_OBJECT.to_owned(),
            }),
        };
        let replaced = {
            let mut buckets = self.store.lock();
            let meta = owned_mut(
                &mut buckets,
                &input.bucket,
                who,
                input.expected_bucket_owner.as_deref(),
            )?;
            let upload = meta
                .uploads
                .get_mut(&input.upload_id)
                .ok_or_else(no_such_upload)?;
            rec.file
                .persist(&self.store.part_path(&input.bucket, &file))
                .map_err(internal)?;
            let replaced = upload.parts.insert(input.part_number, part);
            self.save(meta)?;
            replaced
        };
        if let Some(old) = replaced {
            remove_files([self.store.part_path(&input.bucket, &old.file)]);
        }
        let mut out = UploadPartOutput {
            e_tag: Some(ETag::Strong(etag)),
            ..Default::default()
        };
        if let Some((algo, value)) = verified {
            set_checksum_field!(out, algo, Some(value));
        }
        Ok(S3Response::new(out))
    }

    pub async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let who = caller(&req)?;
        let input = req.input;
        let requested = input
            .multipart_upload
            .as_ref()
            .and_then(|m| m.parts.clone())
            .unwrap_or_default();
        if requested.is_empty() {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            ));
        }
        let invalid_part = || {
            s3_error!(
                InvalidPart,
                "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
            )
        };
        let (upload, parts) = {
            let buckets = self.store.lock();
            let meta = authorize(
                &buckets,
                &input.bucket,
                who,
                Need::Owner,
                None,
                input.expected_bucket_owner.as_deref(),
            )?;
            let upload = meta
                .uploads
                .get(&input.upload_id)
                .filter(|u| u.key == input.key)
                .ok_or_else(no_such_upload)?
                .clone();
            check_write_conditions(
                meta,
                &input.key,
                input.if_match.as_ref(),
                input.if_none_match.as_ref(),
            )?;
            let algo = upload.algorithm.as_deref().and_then(Algo::parse);
            let mut parts: Vec<UploadedPart> = Vec::new();
            let mut last = 0;
            for p in &requested {
                let n = p.part_number.ok_or_else(invalid_part)?;
                if n <= last {
                    return Err(s3_error!(
                        InvalidPartOrder,
                        "The list of parts was not in ascending order. The parts list must be specified in order by part number."
                    ));
                }
                last = n;
                let stored = upload.parts.get(&n).ok_or_else(invalid_part)?;
                if p.e_tag
                    .as_ref()
                    .is_some_and(|e| e.value().trim_matches('"') != stored.etag)
                {
                    return Err(invalid_part());
                }
                if let Some(algo) = algo {
                    let mut given = None;
                    for a in Algo::ALL {
                        let v = match a {
                            Algo::Crc32 => &p.checksum_crc32,
                            Algo::Crc32c => &p.checksum_crc32c,
                            Algo::Crc64Nvme => &p.checksum_crc64nvme,
                            Algo::Sha1 => &p.checksum_sha1,
                            Algo::Sha256 => &p.checksum_sha256,
                        };
                        if let Some(v) = v {
                            given = Some((a, v));
                        }
                    }
                    if let Some((a, v)) = given
                        && (a != algo
                            || stored.checksum.as_ref().map(|c| c.value.as_str()) != Some(v.as_str()))
                    {
                        return Err(invalid_part());
                    }
                }
                parts.push(stored.clone());
            }
            for p in &parts[..parts.len() - 1] {
                if p.size < MIN_PART_SIZE {
                    return Err(s3_error!(
                        EntityTooSmall,
                        "Your proposed upload is smaller than the minimum allowed object size."
                    ));
                }
            }
            (upload, parts)
        };

        let algo = upload.algorithm.as_deref().and_then(Algo::parse);
        let kind = upload.checksum_type.clone();
        // Full-object checksums are computed over the data; without a declared algorithm S3
        // stores a CRC64NVME.
        let full_algo = match (algo, kind.as_deref()) {
            (Some(a), Some(FULL_OBJECT)) => Some(a),
            (None, _) => Some(Algo::Crc64Nvme),
            _ => None,
        };
        let paths: Vec<PathBuf> = parts
            .iter()
            .map(|p| self.store.part_path(&input.bucket, &p.file))
            .collect();
        let staged = TempFile::new(self.store.tmp_path());
        let dest = staged.path().to_owned();
        let sums = tokio::task::spawn_blocking(move || body::concat_parts(&paths, &dest, full_algo))
            .await
            .map_err(internal)?
            .map_err(internal)?;

        let checksum = match (algo, kind.as_deref()) {
            (Some(a), Some(COMPOSITE)) => {
                let values: Vec<&str> = parts
                    .iter()
                    .map(|p| {
                        p.checksum
                            .as_ref()
                            .map(|c| c.value.as_str())
                            .ok_or_else(invalid_part)
                    })
                    .collect::<S3Result<_>>()?;
                StoredChecksum {
                    algorithm: a.name().to_owned(),
                    value: composite_checksum(a, &values)?,
                    kind: COMPOSITE.to_owned(),
                }
            }
            _ => {
                let a = full_algo.unwrap_or(Algo::Crc64Nvme);
                StoredChecksum {
                    algorithm: a.name().to_owned(),
                    value: a
                        .value(&sums)
                        .cloned()
                        .ok_or_else(|| internal("checksum not computed"))?,
                    kind: FULL_OBJECT.to_owned(),
                }
            }
        };
        // A full-object checksum sent with CompleteMultipartUpload must match.
        if let Some(a) = Algo::parse(&checksum.algorithm) {
            let given = match a {
                Algo::Crc32 => &input.checksum_crc32,
                Algo::Crc32c => &input.checksum_crc32c,
                Algo::Crc64Nvme => &input.checksum_crc64nvme,
                Algo::Sha1 => &input.checksum_sha1,
                Algo::Sha256 => &input.checksum_sha256,
            };
            if let Some(given) = given
                && given.trim() != checksum.value
                && given.trim() != checksum.value.split('-').next().unwrap_or_default()
            {
                return Err(s3_error!(
                    BadDigest,
                    "The {} you specified did not match the calculated checksum.",
                    a.name()
                ));
            }
        }
        if let Some(size) = input.mpu_object_size {
            let total: u64 = parts.iter().map(|p| p.size).sum();
            if u64::try_from(size).ok() != Some(total) {
                return Err(s3_error!(
                    InvalidRequest,
                    "The provided 'x-amz-mp-object-size' header value {size} does not match what was computed: {total}"
                ));
            }
        }
        let etags: Vec<&str> = parts.iter().map(|p| p.etag.as_str()).collect();
        let etag = multipart_etag(&etags)?;
        let version = Version {
            version_id: String::new(),
            delete_marker: false,
            file: Some(new_id()),
            size: parts.iter().map(|p| p.size).sum(),
            etag: etag.clone(),
            last_modified_ms: now_ms(),
            checksum: Some(checksum.clone()),
            sha256: sums.checksum_sha256.clone(),
            headers: upload.headers.clone(),
            metadata: upload.metadata.clone(),
            parts: parts
                .iter()
                .map(|p| PartSummary {
                    number: p.number,
                    size: p.size,
                    checksum: p.checksum.as_ref().map(|c| c.value.clone()),
                })
                .collect(),
            owner: who.account_id.to_owned(),
        };
        let file = version.file.clone().unwrap_or_default();
        let (id, versioned, removed) = {
            let mut buckets = self.store.lock();
            let meta = owned_mut(
                &mut buckets,
                &input.bucket,
                who,
                input.expected_bucket_owner.as_deref(),
            )?;
            check_write_conditions(
                meta,
                &input.key,
                input.if_match.as_ref(),
                input.if_none_match.as_ref(),
            )?;
            let upload = meta.uploads.remove(&input.upload_id).ok_or_else(no_such_upload)?;
            staged
                .persist(&self.store.object_path(&input.bucket, &file))
                .map_err(internal)?;
            let (id, removed) = insert_version(meta, &input.key, version);
            self.save(meta)?;
            let mut removed = self.object_files(&input.bucket, removed);
            removed.extend(
                upload
                    .parts
                    .values()
                    .map(|p| self.store.part_path(&input.bucket, &p.file)),
            );
            (id, meta.versioning.is_some(), removed)
        };
        remove_files(removed);
        let mut out = CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            e_tag: Some(ETag::Strong(etag)),
            key: Some(input.key.clone()),
            location: Some(format!("/{}/{}", input.bucket, input.key)),
            version_id: versioned.then_some(id),
            checksum_type: Some(ChecksumType::from(checksum.kind.clone())),
            ..Default::default()
        };
        if let Some(a) = Algo::parse(&checksum.algorithm) {
            set_checksum_field!(out, a, Some(checksum.value.clone()));
        }
        Ok(S3Response::new(out))
    }

    pub async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let who = caller(&req)?;
        let input = req.input;
        let upload = {
            let mut buckets = self.store.lock();
            let meta = owned_mut(
                &mut buckets,
                &input.bucket,
                who,
                input.expected_bucket_owner.as_deref(),
            )?;
            if meta
                .uploads
                .get(&input.upload_id)
                .is_none_or(|u| u.key != input.key)
            {
                return Err(no_such_upload());
            }
            let upload = meta.uploads.remove(&input.upload_id).ok_or_else(no_such_upload)?;
            self.save(meta)?;
            upload
        };
        remove_files(
            upload
                .parts
                .values()
                .map(|p| self.store.part_path(&input.bucket, &p.file)),
        );
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    pub async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        let who = caller(&req)?;
        let input = req.input;
        let buckets = self.store.lock();
        let meta = authorize(
            &buckets,
            &input.bucket,
            who,
            Need::Owner,
            None,
            input.expected_bucket_owner.as_deref(),
        )?;
        let upload = meta
            .uploads
            .get(&input.upload_id)
            .filter(|u| u.key == input.key)
            .ok_or_else(no_such_upload)?;
        let marker = input.part_number_marker.unwrap_or(0);
        let max = usize::try_from(input.max_parts.unwrap_or(1000).clamp(0, 1000)).unwrap_or(1000);
        let rest: Vec<&UploadedPart> = upload.parts.values().filter(|p| p.number > marker).collect();
        let truncated = rest.len() > max;
        let parts: Vec<Part> = rest
            .iter()
            .take(max)
            .map(|p| {
                let mut part = Part {
                    e_tag: Some(ETag::Strong(p.etag.clone())),
                    last_modified: Some(ts(p.last_modified_ms)),
                    part_number: Some(p.number),
                    size: Some(to_i64(p.size)),
                    ..Default::default()
                };
                if let Some(c) = &p.checksum
                    && let Some(a) = Algo::parse(&c.algorithm)
                {
                    set_checksum_field!(part, a, Some(c.value.clone()));
                }
                part
            })
            .collect();
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket.clone()),
            checksum_algorithm: upload.algorithm.clone().map(ChecksumAlgorithm::from),
            checksum_type: upload.checksum_type.clone().map(ChecksumType::from),
            initiator: Some(Initiator {
                display_name: identity::by_account(&upload.owner).map(|i| i.name.to_owned()),
                id: Some(upload.owner.clone()),
            }),
            is_truncated: Some(truncated),
            key: Some(upload.key.clone()),
            max_parts: Some(i32::try_from(max).unwrap_or(1000)),
            next_part_number_marker: parts.last().and_then(|p| p.part_number),
            owner: Some(owner_of(&upload.owner)),
            part_number_marker: Some(marker),
            parts: Some(parts),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            upload_id: Some(upload.upload_id.clone()),
            ..Default::default()
        }))
    }

    pub async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let who = caller(&req)?;
        let input = req.input;
        let buckets = self.store.lock();
        let meta = authorize(
            &buckets,
            &input.bucket,
            who,
            Need::Owner,
            None,
            input.expected_bucket_owner.as_deref(),
        )?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let mut uploads: Vec<&Upload> = meta
            .uploads
            .values()
            .filter(|u| u.key.starts_with(&prefix))
            .collect();
        uploads.sort_by(|a, b| (&a.key, a.initiated_ms).cmp(&(&b.key, b.initiated_ms)));
        let list = uploads
            .iter()
            .map(|u| MultipartUpload {
                checksum_algorithm: u.algorithm.clone().map(ChecksumAlgorithm::from),
                checksum_type: u.checksum_type.clone().map(ChecksumType::from),
                initiated: Some(ts(u.initiated_ms)),
                initiator: Some(Initiator {
                    display_name: identity::by_account(&u.owner).map(|i| i.name.to_owned()),
                    id: Some(u.owner.clone()),
                }),
                key: Some(u.key.clone()),
                owner: Some(owner_of(&u.owner)),
                storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                upload_id: Some(u.upload_id.clone()),
            })
            .collect();
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket.clone()),
            is_truncated: Some(false),
            max_uploads: Some(1000),
            prefix: input.prefix.clone(),
            uploads: Some(list),
            ..Default::default()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composite_checksum_is_the_digest_of_part_digests() {
        let a = B64.encode(Algo::Sha256.digest(b"part one"));
        let b = B64.encode(Algo::Sha256.digest(b"part two"));
        let mut raw = Algo::Sha256.digest(b"part one");
        raw.extend(Algo::Sha256.digest(b"part two"));
        let expected = format!("{}-2", B64.encode(Algo::Sha256.digest(&raw)));
        assert_eq!(composite_checksum(Algo::Sha256, &[&a, &b]).unwrap(), expected);
    }

    #[test]
    fn multipart_etag_is_md5_of_md5s() {
        // md5("") = d41d8cd98f00b204e9800998ecf8427e; md5 of two of those concatenated:
        let e = "d41d8cd98f00b204e9800998ecf8427e";
        let etag = multipart_etag(&[e, e]).unwrap();
        assert!(etag.ends_with("-2"));
        assert_eq!(etag.len(), 32 + 2);
    }

    #[test]
    fn common_prefixes_group_by_delimiter() {
        assert_eq!(common_prefix("a/b/c", "a/", Some("/")), Some("a/b/".to_owned()));
        assert_eq!(common_prefix("a/b", "a/", Some("/")), None);
        assert_eq!(common_prefix("a/b", "a/", None), None);
    }

    #[test]
    fn aws_chunked_is_not_a_stored_content_encoding() {
        let h = content_headers(None, Some("aws-chunked".into()), None, None, None);
        assert_eq!(h.content_encoding, None);
        let h = content_headers(None, Some("gzip, aws-chunked".into()), None, None, None);
        assert_eq!(h.content_encoding.as_deref(), Some("gzip"));
    }
}
