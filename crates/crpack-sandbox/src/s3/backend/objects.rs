//! Object writes and deletes: PutObject, DeleteObject(s), and the version bookkeeping behind them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use s3s::dto::*;
use s3s::{S3Response, S3Result};

use super::auth::{BucketRequest, Need, authorize_bucket, caller, caller_and_input, owned_mut};
use super::checksums::{declared, stored_checksum};
use super::conditions::{ConditionalWrite, check_write_conditions, check_write_request};
use super::{
    Answer, Backend, FULL_OBJECT, NULL, Req, new_id, now_ms, remove_files, sorted_metadata,
    take_content_headers,
};
use crate::identity::Identity;
use crate::s3::body::{Algo, internal, set_checksum_field};
use crate::s3::store::{BucketMeta, ContentHeaders, TempFile, Version};

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

/// An empty version written now by `owner`; [`insert_version`] gives it its id.
pub(super) fn new_version(owner: &str) -> Version {
    Version {
        version_id: String::new(),
        delete_marker: false,
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

pub(super) fn delete_marker(owner: &str) -> Version {
    Version {
        delete_marker: true,
        ..new_version(owner)
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

impl Backend {
    /// Renames a staged body into place as the newest version of the key `input` writes, after
    /// checking (under the bucket lock) that `who` owns the bucket and that the write conditions
    /// hold. `settle` runs under the same lock just before, and returns more files to remove
    /// once the version is in place. Returns the version id and whether the bucket is versioned.
    pub(super) fn commit_version<I: BucketRequest + ConditionalWrite>(
        &self,
        input: &I,
        who: &Identity,
        version: Version,
        staged: TempFile,
        settle: impl FnOnce(&mut BucketMeta) -> S3Result<Vec<PathBuf>>,
    ) -> S3Result<(String, bool)> {
        let bucket = input.bucket();
        let file = version
            .file
            .clone()
            .ok_or_else(|| internal("version without a file"))?;
        let (id, versioned, removed) = {
            let mut buckets = self.store.lock();
            let meta = owned_mut(&mut buckets, input, who)?;
            check_write_request(meta, input)?;
            let settled = settle(meta)?;
            staged
                .persist(&self.store.object_path(bucket, &file))
                .map_err(internal)?;
            let (id, removed) = insert_version(meta, input.key(), version);
            self.save(meta)?;
            let mut removed = self.object_files(bucket, removed);
            removed.extend(settled);
            (id, meta.versioning.is_some(), removed)
        };
        remove_files(removed);
        Ok((id, versioned))
    }

    pub async fn put_object(&self, req: Req<PutObjectInput>) -> Answer<PutObjectOutput> {
        let who = caller(&req)?;
        let decl = declared(&req.headers, req.input.checksum_algorithm.as_ref())?;
        let trailers = req.trailing_headers.clone();
        let mut input = req.input;
        {
            let buckets = self.store.lock();
            let meta = authorize_bucket(&buckets, &input, who, Need::Owner)?;
            check_write_request(meta, &input)?;
        }
        // Without a client checksum S3 computes and stores a CRC64NVME.
        let algo = decl.algo.unwrap_or(Algo::Crc64Nvme);
        let (rec, verified) = self
            .receive_verified(
                input.body.take(),
                Some(algo),
                &decl,
                trailers.as_ref(),
                input.content_md5.as_deref(),
            )
            .await?;
        let (algo, value) = verified.ok_or_else(|| internal("no checksum"))?;
        let etag = hex::encode(&rec.md5);
        let version = Version {
            file: Some(new_id()),
            size: rec.size,
            etag: etag.clone(),
            checksum: Some(stored_checksum(algo, value.clone(), FULL_OBJECT)),
            sha256: rec.sums.checksum_sha256.clone(),
            headers: take_content_headers!(input),
            metadata: sorted_metadata(input.metadata.take()),
            ..new_version(who.account_id)
        };
        let (id, versioned) = self.commit_version(&input, who, version, rec.file, |_| Ok(Vec::new()))?;
        let mut out = PutObjectOutput {
            e_tag: Some(ETag::Strong(etag)),
            version_id: versioned.then_some(id),
            checksum_type: Some(ChecksumType::from_static(ChecksumType::FULL_OBJECT)),
            ..Default::default()
        };
        set_checksum_field!(out, algo, Some(value));
        Ok(S3Response::new(out))
    }

    pub async fn delete_object(&self, req: Req<DeleteObjectInput>) -> Answer<DeleteObjectOutput> {
        let (who, input) = caller_and_input(req)?;
        let (deleted, versioned) = self.update_bucket(&input, who, |meta| {
            if let Some(cond) = &input.if_match {
                check_write_conditions(meta, &input.key, Some(cond), None)?;
            }
            let deleted = delete_one(meta, &input.key, input.version_id.as_deref(), who.account_id);
            Ok((deleted, meta.versioning.is_some()))
        })?;
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

    pub async fn delete_objects(&self, req: Req<DeleteObjectsInput>) -> Answer<DeleteObjectsOutput> {
        let (who, input) = caller_and_input(req)?;
        let quiet = input.delete.quiet.unwrap_or(false);
        let mut done = Vec::new();
        let mut files = Vec::new();
        self.update_bucket(&input, who, |meta| {
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
            Ok(())
        })?;
        remove_files(self.object_files(&input.bucket, files));
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(done),
            errors: None,
            request_charged: None,
        }))
    }
}
