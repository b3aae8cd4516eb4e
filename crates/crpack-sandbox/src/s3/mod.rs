//! The sandbox's S3 endpoint: a versioned, checksum-verifying object store on disk, served by
//! [s3s](https://docs.rs/s3s) (routing, XML, SigV4 including aws-chunked bodies and trailers).
//!
//! * Identities come from [`crate::identity`]: the access key names the account.
//!   Buckets belong to the account that created them; other accounts get `AccessDenied` unless
//!   the owner's bucket policy grants them read actions (see `policy.rs`). Writes are owner-only.
//! * Versioning (`Enabled` / `Suspended` / never enabled) follows S3: every PUT to an enabled
//!   bucket makes a new version, otherwise it replaces the `null` version; deletes make delete
//!   markers.
//! * PutObject and UploadPart verify `Content-MD5` and any `x-amz-checksum-*` value sent as a
//!   header or an aws-chunked trailer (400 `BadDigest` on mismatch, nothing stored) and store the
//!   client's checksum (a CRC64NVME when the client sent none, as S3 does). Multipart objects
//!   get S3's composite checksum (`base64(digest(part digests))-N`) and `md5-of-md5s-N` ETag.
//! * Bodies stream to a staged file while being hashed and are renamed into place once verified;
//!   GETs stream from disk. Metadata is one JSON file per bucket, rewritten atomically.

mod backend;
mod body;
mod policy;
mod store;

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use http_body_util::BodyExt;
use s3s::auth::{S3Auth, SecretKey};
use s3s::dto::*;
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{S3, S3Request, S3Response, S3Result};

use super::Body;
use super::identity;
use backend::Backend;

/// The S3 endpoint: a versioned, checksum-verifying object store on disk.
#[derive(Clone)]
pub struct S3Endpoint {
    service: S3Service,
}

impl S3Endpoint {
    /// Opens (or creates) the store under `root`; objects live on disk there. Reopening the same
    /// root restores every bucket, version, policy and in-progress multipart upload.
    pub fn open(root: &Path) -> std::io::Result<Self> {
        let backend = Arc::new(Backend {
            store: store::Store::open(root)?,
        });
        let mut builder = S3ServiceBuilder::new(Service(backend));
        builder.set_auth(SandboxAuth);
        Ok(Self {
            service: builder.build(),
        })
    }

    /// Serves one S3 request (SigV4 is verified here, by s3s).
    pub async fn handle(&self, req: http::Request<hyper::body::Incoming>) -> http::Response<Body> {
        let req = req.map(s3s::Body::from);
        match self.service.call(req).await {
            Ok(resp) => resp.map(|body| body.boxed()),
            Err(err) => {
                let err: s3s::StdError = err.into();
                let xml = format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InternalError</Code><Message>{}</Message></Error>",
                    xml_escape(&err.to_string())
                );
                http::Response::builder()
                    .status(500)
                    .header("content-type", "application/xml")
                    .body(super::full_body(xml))
                    .expect("static response")
            }
        }
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// SigV4 secrets from the sandbox identity table.
struct SandboxAuth;

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl S3Auth for SandboxAuth {
    fn get_secret_key<'life0, 'life1, 'async_trait>(
        &'life0 self,
        access_key: &'life1 str,
    ) -> BoxFut<'async_trait, S3Result<SecretKey>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            identity::by_access_key(access_key)
                .map(|i| SecretKey::from(i.secret_access_key))
                .ok_or_else(backend::invalid_access_key)
        })
    }
}

/// The s3s trait object: forwards each implemented operation to [`Backend`]. (The trait is
/// declared with `async_trait`; the methods are written out in its expanded form.)
struct Service(Arc<Backend>);

macro_rules! forward {
    ($($name:ident: $input:ty => $output:ty;)*) => {
        $(
            fn $name<'life0, 'async_trait>(
                &'life0 self,
                req: S3Request<$input>,
            ) -> BoxFut<'async_trait, S3Result<S3Response<$output>>>
            where
                'life0: 'async_trait,
                Self: 'async_trait,
            {
                Box::pin(async move { self.0.$name(req).await })
            }
        )*
    };
}

impl S3 for Service {
    forward! {
        create_bucket: CreateBucketInput => CreateBucketOutput;
        head_bucket: HeadBucketInput => HeadBucketOutput;
        get_bucket_location: GetBucketLocationInput => GetBucketLocationOutput;
        delete_bucket: DeleteBucketInput => DeleteBucketOutput;
        list_buckets: ListBucketsInput => ListBucketsOutput;
        get_bucket_versioning: GetBucketVersioningInput => GetBucketVersioningOutput;
        put_bucket_versioning: PutBucketVersioningInput => PutBucketVersioningOutput;
        put_bucket_policy: PutBucketPolicyInput => PutBucketPolicyOutput;
        get_bucket_policy: GetBucketPolicyInput => GetBucketPolicyOutput;
        delete_bucket_policy: DeleteBucketPolicyInput => DeleteBucketPolicyOutput;
        put_object: PutObjectInput => PutObjectOutput;
        get_object: GetObjectInput => GetObjectOutput;
        head_object: HeadObjectInput => HeadObjectOutput;
        get_object_attributes: GetObjectAttributesInput => GetObjectAttributesOutput;
        delete_object: DeleteObjectInput => DeleteObjectOutput;
        delete_objects: DeleteObjectsInput => DeleteObjectsOutput;
        list_objects: ListObjectsInput => ListObjectsOutput;
        list_objects_v2: ListObjectsV2Input => ListObjectsV2Output;
        list_object_versions: ListObjectVersionsInput => ListObjectVersionsOutput;
        create_multipart_upload: CreateMultipartUploadInput => CreateMultipartUploadOutput;
        upload_part: UploadPartInput => UploadPartOutput;
        complete_multipart_upload: CompleteMultipartUploadInput => CompleteMultipartUploadOutput;
        abort_multipart_upload: AbortMultipartUploadInput => AbortMultipartUploadOutput;
        list_parts: ListPartsInput => ListPartsOutput;
        list_multipart_uploads: ListMultipartUploadsInput => ListMultipartUploadsOutput;
    }
}
