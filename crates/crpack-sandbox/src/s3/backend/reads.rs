//! Object reads: GetObject, HeadObject and GetObjectAttributes.

use http::{HeaderMap, HeaderValue};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Response, S3Result, s3_error};

use super::auth::{BucketRequest, Need, authorize, caller_and_input, hide_missing};
use super::conditions::check_read_conditions;
use super::{
    Answer, Backend, COMPOSITE, PartsPage, Req, input_accessors, metadata_out, no_such_key, to_i64, ts,
};
use crate::identity::Identity;
use crate::s3::body::{Algo, FileStream, internal, set_checksum_field};
use crate::s3::store::{BucketMeta, Version};

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

/// A request addressed to one object: its key and, optionally, a version.
trait ObjectRequest: BucketRequest {
    fn key(&self) -> &str;
    fn version_id(&self) -> Option<&str>;
}

/// What GetObject and HeadObject requests have in common beyond the object they address.
trait ReadRequest: ObjectRequest {
    fn if_match(&self) -> Option<&ETagCondition>;
    fn if_none_match(&self) -> Option<&ETagCondition>;
    fn if_modified_since(&self) -> Option<&Timestamp>;
    fn if_unmodified_since(&self) -> Option<&Timestamp>;
    fn range(&self) -> Option<&Range>;
    fn part_number(&self) -> Option<i32>;
    fn checksum_mode(&self) -> Option<&ChecksumMode>;
}

input_accessors!(ObjectRequest for GetObjectInput, HeadObjectInput, GetObjectAttributesInput => {
    fn key -> &str = key.as_str();
    fn version_id -> Option<&str> = version_id.as_deref();
});

input_accessors!(ReadRequest for GetObjectInput, HeadObjectInput => {
    fn if_match -> Option<&ETagCondition> = if_match.as_ref();
    fn if_none_match -> Option<&ETagCondition> = if_none_match.as_ref();
    fn if_modified_since -> Option<&Timestamp> = if_modified_since.as_ref();
    fn if_unmodified_since -> Option<&Timestamp> = if_unmodified_since.as_ref();
    fn range -> Option<&Range> = range.as_ref();
    fn part_number -> Option<i32> = part_number;
    fn checksum_mode -> Option<&ChecksumMode> = checksum_mode.as_ref();
});

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

impl Backend {
    /// Looks up the version `input` addresses, which `who` needs all of `actions` on (or to own
    /// the bucket); with `open`, also opens its data file (under the lock, so a concurrent
    /// delete cannot remove it first). Returns the version and whether the bucket is versioned.
    fn lookup(
        &self,
        who: &Identity,
        input: &impl ObjectRequest,
        actions: &[&str],
        open: bool,
    ) -> S3Result<(Version, bool, Option<std::fs::File>)> {
        let buckets = self.store.lock();
        let meta = authorize(
            &buckets,
            input.bucket(),
            who,
            Need::Read(actions),
            Some(input.key()),
            input.expected_owner(),
        )?;
        let v = resolve(meta, input.key(), input.version_id()).map_err(|e| hide_missing(e, meta, who))?;
        let file = if open {
            let path = self
                .store
                .object_path(input.bucket(), v.file.as_deref().unwrap_or_default());
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
    fn prepare_read(&self, who: &Identity, input: &impl ReadRequest, open: bool) -> S3Result<PreparedRead> {
        let actions: &[&str] = if input.version_id().is_some() {
            &["s3:GetObjectVersion"]
        } else {
            &["s3:GetObject"]
        };
        let (v, versioned, file) = self.lookup(who, input, actions, open)?;
        check_read_conditions(
            &v,
            input.if_match(),
            input.if_none_match(),
            input.if_modified_since(),
            input.if_unmodified_since(),
        )?;
        let part_number = input.part_number();
        let checksum_mode = input.checksum_mode();
        let (start, len, content_range) = Self::span(&v, input.range(), part_number)?;
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

    pub async fn get_object(&self, req: Req<GetObjectInput>) -> Answer<GetObjectOutput> {
        let (who, input) = caller_and_input(req)?;
        let p = self.prepare_read(who, &input, true)?;
        let file = p.file.ok_or_else(|| internal("object file not opened"))?;
        let stream = FileStream::new(file, p.start, p.len).map_err(internal)?;
        let mut out = GetObjectOutput {
            body: Some(StreamingBlob::new(stream)),
            ..Default::default()
        };
        fill_read_output!(out, p);
        Ok(S3Response::new(out))
    }

    pub async fn head_object(&self, req: Req<HeadObjectInput>) -> Answer<HeadObjectOutput> {
        let (who, input) = caller_and_input(req)?;
        let p = self.prepare_read(who, &input, false)?;
        let mut out = HeadObjectOutput::default();
        fill_read_output!(out, p);
        Ok(S3Response::new(out))
    }

    pub async fn get_object_attributes(
        &self,
        req: Req<GetObjectAttributesInput>,
    ) -> Answer<GetObjectAttributesOutput> {
        let (who, input) = caller_and_input(req)?;
        // As S3 documents: with a version id both GetObjectVersion and
        // GetObjectVersionAttributes, otherwise GetObject and GetObjectAttributes.
        let actions: &[&str] = if input.version_id.is_some() {
            &["s3:GetObjectVersion", "s3:GetObjectVersionAttributes"]
        } else {
            &["s3:GetObject", "s3:GetObjectAttributes"]
        };
        let (v, versioned, _) = self.lookup(who, &input, actions, false)?;
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
            let algo = v.checksum.as_ref().and_then(|c| Algo::parse(&c.algorithm));
            let page = PartsPage::new(&v.parts, |p| p.number, input.part_number_marker, input.max_parts);
            let parts: Vec<ObjectPart> = page
                .parts
                .iter()
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
                is_truncated: Some(page.truncated),
                max_parts: Some(page.max_parts()),
                next_part_number_marker: parts.last().and_then(|p| p.part_number),
                part_number_marker: Some(page.marker),
                parts: Some(parts),
                total_parts_count: Some(i32::try_from(v.parts.len()).unwrap_or(i32::MAX)),
            });
        }
        Ok(S3Response::new(out))
    }
}
