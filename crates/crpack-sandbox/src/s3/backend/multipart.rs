//! Multipart uploads: create, upload part, complete, abort, and their listings.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use s3s::dto::*;
use s3s::{S3Response, S3Result, s3_error};

use super::auth::{Need, authorize_bucket, caller, caller_and_input};
use super::checksums::{checksum_field, declared, stored_checksum};
use super::conditions::check_write_request;
use super::objects::new_version;
use super::{
    Answer, Backend, COMPOSITE, FULL_OBJECT, PartsPage, Req, new_id, no_such_upload, now_ms, owner_of,
    remove_files, sorted_metadata, take_content_headers, to_i64, ts,
};
use crate::identity;
use crate::s3::body::{self, Algo, internal, set_checksum_field};
use crate::s3::store::{BucketMeta, PartSummary, TempFile, Upload, UploadedPart, Version};

/// S3's minimum size of every part but the last.
const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

/// The in-progress upload `upload_id` of `key`.
fn upload_of<'m>(meta: &'m BucketMeta, upload_id: &str, key: &str) -> S3Result<&'m Upload> {
    meta.uploads
        .get(upload_id)
        .filter(|u| u.key == key)
        .ok_or_else(no_such_upload)
}

fn initiator(account: &str) -> Initiator {
    Initiator {
        display_name: identity::by_account(account).map(|i| i.name.to_owned()),
        id: Some(account.to_owned()),
    }
}

/// The composite checksum of parts: the digest of the concatenated raw part digests, with `-N`.
fn composite_checksum(algo: Algo, part_values: &[&str]) -> S3Result<String> {
    let mut raw = Vec::new();
    for v in part_values {
        raw.extend(B64.decode(v).map_err(internal)?);
    }
    Ok(format!("{}-{}", B64.encode(algo.digest(&raw)), part_values.len()))
}

/// The multipart ETag: MD5 of the concatenated raw part MD5s, with `-N`.
fn multipart_etag(part_etags: &[&str]) -> S3Result<String> {
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

impl Backend {
    /// The data files of `upload`'s parts.
    fn part_files(&self, bucket: &str, upload: &Upload) -> Vec<PathBuf> {
        upload
            .parts
            .values()
            .map(|p| self.store.part_path(bucket, &p.file))
            .collect()
    }

    pub async fn create_multipart_upload(
        &self,
        req: Req<CreateMultipartUploadInput>,
    ) -> Answer<CreateMultipartUploadOutput> {
        let (who, mut input) = caller_and_input(req)?;
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
            headers: take_content_headers!(input),
            metadata: sorted_metadata(input.metadata.take()),
            parts: BTreeMap::new(),
        };
        self.update_bucket(&input, who, |meta| {
            meta.uploads.insert(upload_id.clone(), upload);
            Ok(())
        })?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload_id),
            checksum_algorithm: algo.map(|a| ChecksumAlgorithm::from_static(a.name())),
            checksum_type: kind.map(ChecksumType::from_static),
            ..Default::default()
        }))
    }

    pub async fn upload_part(&self, req: Req<UploadPartInput>) -> Answer<UploadPartOutput> {
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
            let meta = authorize_bucket(&buckets, &input, who, Need::Owner)?;
            let upload = upload_of(meta, &input.upload_id, &input.key)?;
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
        let (rec, verified) = self
            .receive_verified(
                input.body.take(),
                algo,
                &decl,
                trailers.as_ref(),
                input.content_md5.as_deref(),
            )
            .await?;
        let etag = hex::encode(&rec.md5);
        let file = new_id();
        let part = UploadedPart {
            number: input.part_number,
            size: rec.size,
            etag: etag.clone(),
            last_modified_ms: now_ms(),
            file: file.clone(),
            checksum: verified
                .as_ref()
                .map(|(a, v)| stored_checksum(*a, v.clone(), FULL_OBJECT)),
        };
        let replaced = self.update_bucket(&input, who, |meta| {
            let upload = meta
                .uploads
                .get_mut(&input.upload_id)
                .ok_or_else(no_such_upload)?;
            rec.file
                .persist(&self.store.part_path(&input.bucket, &file))
                .map_err(internal)?;
            Ok(upload.parts.insert(input.part_number, part))
        })?;
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
        req: Req<CompleteMultipartUploadInput>,
    ) -> Answer<CompleteMultipartUploadOutput> {
        let (who, input) = caller_and_input(req)?;
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
            let meta = authorize_bucket(&buckets, &input, who, Need::Owner)?;
            let upload = upload_of(meta, &input.upload_id, &input.key)?.clone();
            check_write_request(meta, &input)?;
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
                    // The last algorithm the client sent a value for.
                    let given = Algo::ALL
                        .into_iter()
                        .rev()
                        .find_map(|a| checksum_field!(p, a).as_ref().map(|v| (a, v)));
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
                stored_checksum(a, composite_checksum(a, &values)?, COMPOSITE)
            }
            _ => {
                let a = full_algo.unwrap_or(Algo::Crc64Nvme);
                let value = a
                    .value(&sums)
                    .cloned()
                    .ok_or_else(|| internal("checksum not computed"))?;
                stored_checksum(a, value, FULL_OBJECT)
            }
        };
        // A full-object checksum sent with CompleteMultipartUpload must match.
        if let Some(a) = Algo::parse(&checksum.algorithm)
            && let Some(given) = checksum_field!(input, a)
            && given.trim() != checksum.value
            && given.trim() != checksum.value.split('-').next().unwrap_or_default()
        {
            return Err(s3_error!(
                BadDigest,
                "The {} you specified did not match the calculated checksum.",
                a.name()
            ));
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
            file: Some(new_id()),
            size: parts.iter().map(|p| p.size).sum(),
            etag: etag.clone(),
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
            ..new_version(who.account_id)
        };
        let (id, versioned) = self.commit_version(&input, who, version, staged, |meta| {
            let upload = meta.uploads.remove(&input.upload_id).ok_or_else(no_such_upload)?;
            Ok(self.part_files(&input.bucket, &upload))
        })?;
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
        req: Req<AbortMultipartUploadInput>,
    ) -> Answer<AbortMultipartUploadOutput> {
        let (who, input) = caller_and_input(req)?;
        let upload = self.update_bucket(&input, who, |meta| {
            upload_of(meta, &input.upload_id, &input.key)?;
            meta.uploads.remove(&input.upload_id).ok_or_else(no_such_upload)
        })?;
        remove_files(self.part_files(&input.bucket, &upload));
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    pub async fn list_parts(&self, req: Req<ListPartsInput>) -> Answer<ListPartsOutput> {
        let (who, input) = caller_and_input(req)?;
        let buckets = self.store.lock();
        let meta = authorize_bucket(&buckets, &input, who, Need::Owner)?;
        let upload = upload_of(meta, &input.upload_id, &input.key)?;
        let page = PartsPage::new(
            upload.parts.values(),
            |p| p.number,
            input.part_number_marker,
            input.max_parts,
        );
        let parts: Vec<Part> = page
            .parts
            .iter()
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
            initiator: Some(initiator(&upload.owner)),
            is_truncated: Some(page.truncated),
            key: Some(upload.key.clone()),
            max_parts: Some(page.max_parts()),
            next_part_number_marker: parts.last().and_then(|p| p.part_number),
            owner: Some(owner_of(&upload.owner)),
            part_number_marker: Some(page.marker),
            parts: Some(parts),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            upload_id: Some(upload.upload_id.clone()),
            ..Default::default()
        }))
    }

    pub async fn list_multipart_uploads(
        &self,
        req: Req<ListMultipartUploadsInput>,
    ) -> Answer<ListMultipartUploadsOutput> {
        let (who, input) = caller_and_input(req)?;
        let buckets = self.store.lock();
        let meta = authorize_bucket(&buckets, &input, who, Need::Owner)?;
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
                initiator: Some(initiator(&u.owner)),
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
}
