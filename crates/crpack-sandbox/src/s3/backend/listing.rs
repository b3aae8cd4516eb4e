//! Listings: ListObjects, ListObjectsV2 and ListObjectVersions.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use s3s::dto::*;
use s3s::{S3Response, S3Result, s3_error};

use super::auth::{Need, authorize_bucket, caller_and_input};
use super::{Answer, Backend, Req, owner_of, to_i64, ts};
use crate::s3::store::{BucketMeta, Version};

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

/// A ListObjects(V2) page's `Contents` and `CommonPrefixes`.
fn contents_and_prefixes(
    rows: &[Row<'_>],
    encode: &impl Fn(&str) -> String,
    fetch_owner: bool,
) -> (Vec<Object>, Vec<CommonPrefix>) {
    let mut contents = Vec::new();
    let mut prefixes = Vec::new();
    for row in rows {
        match row {
            Row::Key(k, v, _) => contents.push(object_entry(k, v, encode, fetch_owner)),
            Row::Prefix(p) => prefixes.push(CommonPrefix {
                prefix: Some(encode(p)),
            }),
        }
    }
    (contents, prefixes)
}

impl Backend {
    pub async fn list_objects_v2(&self, req: Req<ListObjectsV2Input>) -> Answer<ListObjectsV2Output> {
        let (who, input) = caller_and_input(req)?;
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
        let meta = authorize_bucket(&buckets, &input, who, Need::Read(&["s3:ListBucket"]))?;
        let (rows, truncated) =
            list_current(meta, &prefix, input.delimiter.as_deref(), after.as_deref(), limit);
        let next = truncated
            .then(|| rows.last().map(|r| B64.encode(row_name(r))))
            .flatten();
        let (contents, prefixes) = contents_and_prefixes(&rows, &encode, input.fetch_owner == Some(true));
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

    pub async fn list_objects(&self, req: Req<ListObjectsInput>) -> Answer<ListObjectsOutput> {
        let (who, input) = caller_and_input(req)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let limit = max_keys(input.max_keys);
        let encode = encoder(input.encoding_type.as_ref());
        let buckets = self.store.lock();
        let meta = authorize_bucket(&buckets, &input, who, Need::Read(&["s3:ListBucket"]))?;
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
        let (contents, prefixes) = contents_and_prefixes(&rows, &encode, true);
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
        req: Req<ListObjectVersionsInput>,
    ) -> Answer<ListObjectVersionsOutput> {
        let (who, input) = caller_and_input(req)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let delimiter = input.delimiter.as_deref();
        let limit = max_keys(input.max_keys);
        let encode = encoder(input.encoding_type.as_ref());
        let key_marker = input.key_marker.clone().filter(|k| !k.is_empty());
        let vid_marker = input.version_id_marker.clone().filter(|v| !v.is_empty());
        let buckets = self.store.lock();
        let meta = authorize_bucket(&buckets, &input, who, Need::Read(&["s3:ListBucketVersions"]))?;

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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_prefixes_group_by_delimiter() {
        assert_eq!(common_prefix("a/b/c", "a/", Some("/")), Some("a/b/".to_owned()));
        assert_eq!(common_prefix("a/b", "a/", Some("/")), None);
        assert_eq!(common_prefix("a/b", "a/", None), None);
    }
}
