//! Buckets: create, head, locate, delete, list, versioning and policies.

use std::collections::BTreeMap;

use s3s::dto::*;
use s3s::{S3Response, s3_error};

use super::auth::{Need, authorize, authorize_bucket, caller, caller_and_input, owned_mut};
use super::{Answer, Backend, Req, now_ms, owner_of, ts};
use crate::s3::body::internal;
use crate::s3::policy::Policy;
use crate::s3::store::BucketMeta;

impl Backend {
    pub async fn create_bucket(&self, req: Req<CreateBucketInput>) -> Answer<CreateBucketOutput> {
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

    pub async fn head_bucket(&self, req: Req<HeadBucketInput>) -> Answer<HeadBucketOutput> {
        let (who, buckets) = self.caller_and_buckets(&req)?;
        authorize_bucket(&buckets, &req.input, who, Need::Read(&["s3:ListBucket"]))?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(crate::REGION.to_owned()),
            ..Default::default()
        }))
    }

    pub async fn get_bucket_location(
        &self,
        req: Req<GetBucketLocationInput>,
    ) -> Answer<GetBucketLocationOutput> {
        let (who, buckets) = self.caller_and_buckets(&req)?;
        authorize(&buckets, &req.input.bucket, who, Need::Owner, None, None)?;
        // us-east-1 is reported as an empty LocationConstraint.
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    pub async fn delete_bucket(&self, req: Req<DeleteBucketInput>) -> Answer<DeleteBucketOutput> {
        let (who, input) = caller_and_input(req)?;
        let mut buckets = self.store.lock();
        let meta = owned_mut(&mut buckets, &input, who)?;
        if !meta.objects.is_empty() {
            return Err(s3_error!(
                BucketNotEmpty,
                "The bucket you tried to delete is not empty"
            ));
        }
        buckets.remove(&input.bucket);
        self.store.remove_bucket_dir(&input.bucket);
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    pub async fn list_buckets(&self, req: Req<ListBucketsInput>) -> Answer<ListBucketsOutput> {
        let (who, buckets) = self.caller_and_buckets(&req)?;
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
        req: Req<GetBucketVersioningInput>,
    ) -> Answer<GetBucketVersioningOutput> {
        let (who, buckets) = self.caller_and_buckets(&req)?;
        let meta = authorize_bucket(&buckets, &req.input, who, Need::Read(&["s3:GetBucketVersioning"]))?;
        Ok(S3Response::new(GetBucketVersioningOutput {
            mfa_delete: None,
            status: meta.versioning.clone().map(BucketVersioningStatus::from),
        }))
    }

    pub async fn put_bucket_versioning(
        &self,
        req: Req<PutBucketVersioningInput>,
    ) -> Answer<PutBucketVersioningOutput> {
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
        self.update_bucket(&req.input, who, |meta| {
            meta.versioning = Some(status);
            Ok(())
        })?;
        Ok(S3Response::new(PutBucketVersioningOutput {}))
    }

    pub async fn put_bucket_policy(&self, req: Req<PutBucketPolicyInput>) -> Answer<PutBucketPolicyOutput> {
        let who = caller(&req)?;
        let input = &req.input;
        self.update_bucket(input, who, |meta| {
            Policy::parse(&input.policy).map_err(|e| s3_error!(MalformedPolicy, "{e}"))?;
            meta.policy = Some(input.policy.clone());
            Ok(())
        })?;
        Ok(S3Response::new(PutBucketPolicyOutput {}))
    }

    pub async fn get_bucket_policy(&self, req: Req<GetBucketPolicyInput>) -> Answer<GetBucketPolicyOutput> {
        let (who, buckets) = self.caller_and_buckets(&req)?;
        let meta = authorize_bucket(&buckets, &req.input, who, Need::Owner)?;
        let policy = meta
            .policy
            .clone()
            .ok_or_else(|| s3_error!(NoSuchBucketPolicy, "The bucket policy does not exist"))?;
        Ok(S3Response::new(GetBucketPolicyOutput { policy: Some(policy) }))
    }

    pub async fn delete_bucket_policy(
        &self,
        req: Req<DeleteBucketPolicyInput>,
    ) -> Answer<DeleteBucketPolicyOutput> {
        let who = caller(&req)?;
        self.update_bucket(&req.input, who, |meta| {
            meta.policy = None;
            Ok(())
        })?;
        Ok(S3Response::new(DeleteBucketPolicyOutput {}))
    }
}
