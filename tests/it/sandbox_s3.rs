//! The sandbox's S3 endpoint driven by the real `aws-sdk-s3` client over a loopback socket.

use crate::common::sandbox_at;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::delete_object::builders::DeleteObjectFluentBuilder;
use aws_sdk_s3::operation::get_bucket_versioning::builders::GetBucketVersioningFluentBuilder;
use aws_sdk_s3::operation::get_object::builders::GetObjectFluentBuilder;
use aws_sdk_s3::operation::get_object_attributes::builders::GetObjectAttributesFluentBuilder;
use aws_sdk_s3::operation::head_object::builders::HeadObjectFluentBuilder;
use aws_sdk_s3::operation::list_object_versions::builders::ListObjectVersionsFluentBuilder;
use aws_sdk_s3::operation::list_objects_v2::builders::ListObjectsV2FluentBuilder;
use aws_sdk_s3::operation::put_bucket_policy::builders::PutBucketPolicyFluentBuilder;
use aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload,
    CompletedPart, ObjectAttributes, VersioningConfiguration,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use crpack_sandbox::Sandbox;
use crpack_sandbox::identity::{self, Identity};
use sha2::Digest as _;

fn client_with(sandbox: &Sandbox, access_key: &str, secret: &str) -> Client {
    let credentials = Credentials::new(access_key, secret, None, None, "sandbox-test");
    let config = aws_sdk_s3::config::Builder::new()
        .endpoint_url(sandbox.endpoint())
        .force_path_style(true)
        .region(Region::new("us-east-1"))
        .behavior_version(BehaviorVersion::latest())
        .credentials_provider(credentials)
        .build();
    Client::from_conf(config)
}

fn client(sandbox: &Sandbox, who: Identity) -> Client {
    client_with(sandbox, who.access_key_id, who.secret_access_key)
}

fn sha256(data: &[u8]) -> Vec<u8> {
    sha2::Sha256::digest(data).to_vec()
}

fn sha256_b64(data: &[u8]) -> String {
    B64.encode(sha256(data))
}

fn md5_hex(data: &[u8]) -> String {
    use md5::Digest as _;
    hex::encode(md5::Md5::digest(data))
}

/// CRC-32 (IEEE), bitwise: independent of the implementations under test.
fn crc32_b64(data: &[u8]) -> String {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    B64.encode((!crc).to_be_bytes())
}

/// The service error code and HTTP status of a failed call.
fn failure<E: ProvideErrorMetadata, T: std::fmt::Debug>(result: Result<T, SdkError<E>>) -> (String, u16) {
    let err = result.expect_err("the call should fail");
    let status = err.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
    (err.code().unwrap_or("<none>").to_owned(), status)
}

/// A sandbox on a fresh folder (kept as long as the sandbox), the author's client, and the
/// author's new bucket `bucket` with `versioning` set, if any.
async fn author_bucket(
    bucket: &str,
    versioning: Option<BucketVersioningStatus>,
) -> (tempfile::TempDir, Sandbox, Client) {
    let (dir, sandbox) = crate::common::temp_sandbox().await;
    let c = client(&sandbox, identity::AUTHOR);
    c.create_bucket().bucket(bucket).send().await.unwrap();
    if let Some(status) = versioning {
        set_versioning(&c, bucket, status).await;
    }
    (dir, sandbox, c)
}

/// GetObject `key` from `bucket`; the caller adds the rest.
fn get_object(c: &Client, bucket: &str, key: &str) -> GetObjectFluentBuilder {
    c.get_object().bucket(bucket).key(key)
}

/// HeadObject `key` in `bucket`; the caller adds the rest.
fn head_object(c: &Client, bucket: &str, key: &str) -> HeadObjectFluentBuilder {
    c.head_object().bucket(bucket).key(key)
}

/// GetObject `key` from `bucket` with checksum mode on, so that the stored checksum is reported
/// (and checked by the SDK); the caller adds the rest.
fn get_checksummed(c: &Client, bucket: &str, key: &str) -> GetObjectFluentBuilder {
    get_object(c, bucket, key).checksum_mode(ChecksumMode::Enabled)
}

/// HeadObject `key` in `bucket` with checksum mode on; the caller adds the rest.
fn head_checksummed(c: &Client, bucket: &str, key: &str) -> HeadObjectFluentBuilder {
    head_object(c, bucket, key).checksum_mode(ChecksumMode::Enabled)
}

/// DeleteObject `key` in `bucket`; the caller adds the rest.
fn delete_object(c: &Client, bucket: &str, key: &str) -> DeleteObjectFluentBuilder {
    c.delete_object().bucket(bucket).key(key)
}

/// PutObject `key` in `bucket`; the caller adds the body and the rest.
fn put_object(c: &Client, bucket: &str, key: &str) -> PutObjectFluentBuilder {
    c.put_object().bucket(bucket).key(key)
}

/// GetObjectAttributes of `key` in `bucket` asking for its checksum; the caller may ask for more.
fn checksum_attributes(c: &Client, bucket: &str, key: &str) -> GetObjectAttributesFluentBuilder {
    c.get_object_attributes()
        .bucket(bucket)
        .key(key)
        .object_attributes(ObjectAttributes::Checksum)
}

/// ListObjectsV2 in `bucket`; the caller adds the rest.
fn list_objects(c: &Client, bucket: &str) -> ListObjectsV2FluentBuilder {
    c.list_objects_v2().bucket(bucket)
}

/// ListObjectVersions in `bucket`; the caller adds the rest.
fn list_versions(c: &Client, bucket: &str) -> ListObjectVersionsFluentBuilder {
    c.list_object_versions().bucket(bucket)
}

/// PutBucketPolicy on `bucket`; the caller adds the policy.
fn put_policy(c: &Client, bucket: &str) -> PutBucketPolicyFluentBuilder {
    c.put_bucket_policy().bucket(bucket)
}

/// GetBucketVersioning of `bucket`.
fn versioning(c: &Client, bucket: &str) -> GetBucketVersioningFluentBuilder {
    c.get_bucket_versioning().bucket(bucket)
}

/// A bucket policy of one statement: the provider's account may do `action` on `resource`.
fn provider_may(action: &str, resource: &str) -> String {
    serde_json::json!({
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": identity::PROVIDER.account_id},
            "Action": action,
            "Resource": resource
        }]
    })
    .to_string()
}

/// The checksum GetObjectAttributes reported: its SHA-256 and its type.
fn reported_sha256(
    attrs: &aws_sdk_s3::operation::get_object_attributes::GetObjectAttributesOutput,
) -> (Option<&str>, Option<&ChecksumType>) {
    let checksum = attrs.checksum().unwrap();
    (checksum.checksum_sha256(), checksum.checksum_type())
}

async fn body_of(out: aws_sdk_s3::operation::get_object::GetObjectOutput) -> Vec<u8> {
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

/// The bytes of the version `version` of `key` in `bucket`.
async fn body_at(c: &Client, bucket: &str, key: &str, version: &str) -> Vec<u8> {
    body_of(
        get_object(c, bucket, key)
            .version_id(version)
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn set_versioning(c: &Client, bucket: &str, status: BucketVersioningStatus) {
    c.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(VersioningConfiguration::builder().status(status).build())
        .send()
        .await
        .unwrap();
}

async fn put(
    c: &Client,
    bucket: &str,
    key: &str,
    data: &[u8],
) -> aws_sdk_s3::operation::put_object::PutObjectOutput {
    put_object(c, bucket, key)
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn buckets_belong_to_their_creator() {
    let (_dir, sandbox) = crate::common::temp_sandbox().await;
    let author = client(&sandbox, identity::AUTHOR);
    let provider = client(&sandbox, identity::PROVIDER);

    author
        .create_bucket()
        .bucket("author-bucket")
        .send()
        .await
        .unwrap();
    author.head_bucket().bucket("author-bucket").send().await.unwrap();
    assert_eq!(
        failure(author.create_bucket().bucket("author-bucket").send().await),
        ("BucketAlreadyOwnedByYou".to_owned(), 409)
    );
    assert_eq!(
        failure(provider.create_bucket().bucket("author-bucket").send().await),
        ("BucketAlreadyExists".to_owned(), 409)
    );
    provider
        .create_bucket()
        .bucket("provider-bucket")
        .send()
        .await
        .unwrap();

    let listed = author.list_buckets().send().await.unwrap();
    let names: Vec<&str> = listed.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["author-bucket"]);
    assert_eq!(
        listed.owner().and_then(|o| o.id()),
        Some(identity::AUTHOR.account_id)
    );

    assert_eq!(
        failure(head_object(&author, "no-such-bucket", "k").send().await).1,
        404
    );
    assert_eq!(
        failure(get_object(&author, "no-such-bucket", "k").send().await),
        ("NoSuchBucket".to_owned(), 404)
    );

    put(&author, "author-bucket", "k", b"x").await;
    assert_eq!(
        failure(author.delete_bucket().bucket("author-bucket").send().await),
        ("BucketNotEmpty".to_owned(), 409)
    );
    delete_object(&author, "author-bucket", "k").send().await.unwrap();
    author
        .delete_bucket()
        .bucket("author-bucket")
        .send()
        .await
        .unwrap();
    assert_eq!(
        failure(author.head_bucket().bucket("author-bucket").send().await).1,
        404
    );
    sandbox.stop().await;
}

#[tokio::test]
async fn versioning_off_enabled_and_suspended() {
    let (_dir, sandbox, c) = author_bucket("vers", None).await;

    // Never enabled: no Status, no version ids, a PUT replaces the object.
    let v = versioning(&c, "vers").send().await.unwrap();
    assert_eq!(v.status(), None);
    let out = put(&c, "vers", "k", b"one").await;
    assert_eq!(out.version_id(), None);
    assert_eq!(out.e_tag(), Some(format!("\"{}\"", md5_hex(b"one")).as_str()));
    put(&c, "vers", "k", b"two").await;
    let versions = list_versions(&c, "vers").send().await.unwrap();
    assert_eq!(versions.versions().len(), 1);
    assert_eq!(versions.versions()[0].version_id(), Some("null"));

    // Enabled: every PUT makes a new version and the old ones stay readable.
    set_versioning(&c, "vers", BucketVersioningStatus::Enabled).await;
    let v = versioning(&c, "vers").send().await.unwrap();
    assert_eq!(v.status(), Some(&BucketVersioningStatus::Enabled));
    let a = put(&c, "vers", "k", b"three").await.version_id.unwrap();
    let b = put(&c, "vers", "k", b"four").await.version_id.unwrap();
    assert_ne!(a, b);
    assert_ne!(a, "null");
    let got = get_object(&c, "vers", "k").send().await.unwrap();
    assert_eq!(got.version_id(), Some(b.as_str()));
    assert_eq!(body_of(got).await, b"four");
    assert_eq!(body_at(&c, "vers", "k", &a).await, b"three");
    assert_eq!(body_at(&c, "vers", "k", "null").await, b"two");
    assert_eq!(
        failure(get_object(&c, "vers", "k").version_id("nonexistent").send().await),
        ("NoSuchVersion".to_owned(), 404)
    );

    // Suspended: PUTs write (and replace) the "null" version; older versions stay.
    set_versioning(&c, "vers", BucketVersioningStatus::Suspended).await;
    let v = versioning(&c, "vers").send().await.unwrap();
    assert_eq!(v.status(), Some(&BucketVersioningStatus::Suspended));
    assert_eq!(put(&c, "vers", "k", b"five").await.version_id(), Some("null"));
    assert_eq!(put(&c, "vers", "k", b"six").await.version_id(), Some("null"));
    let versions = list_versions(&c, "vers").send().await.unwrap();
    let ids: Vec<(&str, bool)> = versions
        .versions()
        .iter()
        .map(|v| (v.version_id().unwrap(), v.is_latest().unwrap()))
        .collect();
    assert_eq!(ids, [("null", true), (b.as_str(), false), (a.as_str(), false)]);
    let got = get_object(&c, "vers", "k").send().await.unwrap();
    assert_eq!(body_of(got).await, b"six");
    sandbox.stop().await;
}

#[tokio::test]
async fn sha256_checksums_are_verified_stored_and_reported() {
    let (dir, sandbox, c) = author_bucket("sums", Some(BucketVersioningStatus::Enabled)).await;

    let data = b"print('hello from pyspark')\n".repeat(100);
    let sum = sha256_b64(&data);
    let out = put_object(&c, "sums", "entry.py")
        .checksum_sha256(&sum)
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(out.checksum_sha256(), Some(sum.as_str()));
    let version = out.version_id().unwrap().to_owned();

    let got = get_checksummed(&c, "sums", "entry.py").send().await.unwrap();
    assert_eq!(got.checksum_sha256(), Some(sum.as_str()));
    assert_eq!(got.checksum_type(), Some(&ChecksumType::FullObject));
    assert_eq!(body_of(got).await, data);

    let head = head_checksummed(&c, "sums", "entry.py")
        .version_id(&version)
        .send()
        .await
        .unwrap();
    assert_eq!(head.checksum_sha256(), Some(sum.as_str()));
    assert_eq!(head.content_length(), Some(data.len() as i64));

    let attrs = checksum_attributes(&c, "sums", "entry.py")
        .version_id(&version)
        .object_attributes(ObjectAttributes::ObjectSize)
        .object_attributes(ObjectAttributes::Etag)
        .send()
        .await
        .unwrap();
    assert_eq!(
        reported_sha256(&attrs),
        (Some(sum.as_str()), Some(&ChecksumType::FullObject))
    );
    assert_eq!(attrs.object_size(), Some(data.len() as i64));
    assert_eq!(attrs.version_id(), Some(version.as_str()));
    assert_eq!(
        attrs.e_tag().map(|e| e.trim_matches('"')),
        Some(md5_hex(&data).as_str())
    );

    // A wrong checksum is rejected and nothing is stored.
    let wrong = sha256_b64(b"something else");
    let result = put_object(&c, "sums", "bad.py")
        .checksum_sha256(&wrong)
        .body(ByteStream::from(data.clone()))
        .send()
        .await;
    assert_eq!(failure(result), ("BadDigest".to_owned(), 400));
    assert_eq!(failure(head_object(&c, "sums", "bad.py").send().await).1, 404);
    let versions = list_versions(&c, "sums").prefix("bad").send().await.unwrap();
    assert!(versions.versions().is_empty());
    // Nothing was left behind in the staging area or the object store.
    assert_eq!(std::fs::read_dir(dir.path().join("s3/tmp")).unwrap().count(), 0);
    assert_eq!(
        std::fs::read_dir(dir.path().join("s3/buckets/sums/objects"))
            .unwrap()
            .count(),
        1
    );
    sandbox.stop().await;
}

#[tokio::test]
async fn default_sdk_upload_with_crc32_trailer_works() {
    let (dir, sandbox, c) = author_bucket("plain", None).await;

    // No checksum given: the SDK streams aws-chunked with an x-amz-checksum-crc32 trailer.
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let out = put(&c, "plain", "data.bin", &data).await;
    assert_eq!(out.checksum_crc32(), Some(crc32_b64(&data).as_str()));
    assert_eq!(out.checksum_sha256(), None);

    // The SDK validates the CRC32 on download; S3 reports only the algorithm the client used.
    let got = get_checksummed(&c, "plain", "data.bin").send().await.unwrap();
    assert_eq!(got.checksum_crc32(), Some(crc32_b64(&data).as_str()));
    assert_eq!(got.checksum_sha256(), None);
    assert_eq!(got.content_length(), Some(data.len() as i64));
    assert_eq!(body_of(got).await, data);

    let attrs = checksum_attributes(&c, "plain", "data.bin").send().await.unwrap();
    assert_eq!(
        attrs.checksum().and_then(|c| c.checksum_crc32()),
        Some(crc32_b64(&data).as_str())
    );
    assert_eq!(attrs.checksum().and_then(|c| c.checksum_sha256()), None);

    // A streaming body (from a file) goes out aws-chunked with the CRC32 in a trailer.
    let path = dir.path().join("upload.bin");
    std::fs::write(&path, &data).unwrap();
    let out = put_object(&c, "plain", "streamed.bin")
        .body(ByteStream::from_path(&path).await.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(out.checksum_crc32(), Some(crc32_b64(&data).as_str()));
    let got = get_object(&c, "plain", "streamed.bin").send().await.unwrap();
    assert_eq!(body_of(got).await, data);

    // No checksum at all: S3 (and the sandbox) computes and stores a CRC64NVME, which the SDK
    // then validates on download.
    let bare = Client::from_conf(
        c.config()
            .to_builder()
            .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
            .build(),
    );
    let out = put(&bare, "plain", "bare.bin", &data).await;
    assert_eq!(out.checksum_crc32(), None);
    let crc64 = out
        .checksum_crc64_nvme()
        .expect("a CRC64NVME is stored")
        .to_owned();
    let got = get_object(&c, "plain", "bare.bin").send().await.unwrap();
    assert_eq!(got.checksum_crc64_nvme(), Some(crc64.as_str()));
    assert_eq!(got.checksum_type(), Some(&ChecksumType::FullObject));
    assert_eq!(body_of(got).await, data);

    // A range read.
    let got = get_object(&c, "plain", "data.bin")
        .range("bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_range(), Some("bytes 10-19/300000"));
    assert_eq!(body_of(got).await, &data[10..20]);

    // A bad CRC32 header is rejected too.
    let result = put_object(&c, "plain", "bad.bin")
        .checksum_crc32(crc32_b64(b"other"))
        .body(ByteStream::from(data.clone()))
        .send()
        .await;
    assert_eq!(failure(result), ("BadDigest".to_owned(), 400));
    sandbox.stop().await;
}

#[tokio::test]
async fn if_none_match_star_refuses_to_overwrite() {
    let (_dir, sandbox, c) = author_bucket("cond", Some(BucketVersioningStatus::Enabled)).await;

    let first = put_object(&c, "cond", "artifact.zip")
        .if_none_match("*")
        .body(ByteStream::from_static(b"v1"))
        .send()
        .await
        .unwrap();
    let result = put_object(&c, "cond", "artifact.zip")
        .if_none_match("*")
        .body(ByteStream::from_static(b"v2"))
        .send()
        .await;
    assert_eq!(failure(result), ("PreconditionFailed".to_owned(), 412));
    let versions = list_versions(&c, "cond").send().await.unwrap();
    assert_eq!(versions.versions().len(), 1);
    assert_eq!(versions.versions()[0].version_id(), first.version_id());

    // After a delete marker the key no longer "exists", so the conditional write succeeds.
    delete_object(&c, "cond", "artifact.zip").send().await.unwrap();
    put_object(&c, "cond", "artifact.zip")
        .if_none_match("*")
        .body(ByteStream::from_static(b"v3"))
        .send()
        .await
        .unwrap();
    sandbox.stop().await;
}

#[tokio::test]
async fn versions_delete_markers_and_listings() {
    let (_dir, sandbox, c) = author_bucket("list", Some(BucketVersioningStatus::Enabled)).await;

    let a1 = put(&c, "list", "a.py", b"a1").await.version_id.unwrap();
    let a2 = put(&c, "list", "a.py", b"a2").await.version_id.unwrap();
    let a3 = put(&c, "list", "a.py", b"a3").await.version_id.unwrap();
    let b1 = put(&c, "list", "b.py", b"b1").await.version_id.unwrap();
    put(&c, "list", "lib/x.py", b"x").await;
    put(&c, "list", "lib/y.py", b"y").await;

    let del = delete_object(&c, "list", "a.py").send().await.unwrap();
    assert_eq!(del.delete_marker(), Some(true));
    let marker = del.version_id().unwrap().to_owned();
    assert!(![&a1, &a2, &a3].contains(&&marker));

    let err = get_object(&c, "list", "a.py").send().await;
    assert_eq!(failure(err), ("NoSuchKey".to_owned(), 404));
    assert_eq!(body_at(&c, "list", "a.py", &a2).await, b"a2");

    let versions = list_versions(&c, "list").prefix("a").send().await.unwrap();
    let listed: Vec<(&str, bool, i64)> = versions
        .versions()
        .iter()
        .map(|v| (v.version_id().unwrap(), v.is_latest().unwrap(), v.size().unwrap()))
        .collect();
    assert_eq!(
        listed,
        [
            (a3.as_str(), false, 2),
            (a2.as_str(), false, 2),
            (a1.as_str(), false, 2)
        ]
    );
    assert_eq!(
        versions.versions()[0].e_tag(),
        Some(format!("\"{}\"", md5_hex(b"a3")).as_str())
    );
    assert!(versions.versions()[0].last_modified().is_some());
    let markers: Vec<(&str, &str, bool)> = versions
        .delete_markers()
        .iter()
        .map(|m| (m.key().unwrap(), m.version_id().unwrap(), m.is_latest().unwrap()))
        .collect();
    assert_eq!(markers, [("a.py", marker.as_str(), true)]);

    // Paging through all versions two at a time visits every one exactly once.
    let mut seen = Vec::new();
    let (mut key_marker, mut vid_marker) = (None::<String>, None::<String>);
    loop {
        let page = list_versions(&c, "list")
            .max_keys(2)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(vid_marker.clone())
            .send()
            .await
            .unwrap();
        for v in page.versions() {
            seen.push(v.version_id().unwrap().to_owned());
        }
        for m in page.delete_markers() {
            seen.push(m.version_id().unwrap().to_owned());
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        vid_marker = page.next_version_id_marker().map(str::to_owned);
    }
    assert_eq!(seen.len(), 7);
    for id in [&a1, &a2, &a3, &b1, &marker] {
        assert!(seen.contains(id), "{id} missing from {seen:?}");
    }

    // ListObjectsV2 shows only current, non-deleted objects.
    let objects = list_objects(&c, "list").send().await.unwrap();
    let keys: Vec<&str> = objects.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["b.py", "lib/x.py", "lib/y.py"]);
    assert_eq!(objects.key_count(), Some(3));
    let grouped = list_objects(&c, "list").delimiter("/").send().await.unwrap();
    let keys: Vec<&str> = grouped.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["b.py"]);
    let prefixes: Vec<&str> = grouped
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(prefixes, ["lib/"]);
    let prefixed = list_objects(&c, "list").prefix("lib/").send().await.unwrap();
    assert_eq!(prefixed.contents().len(), 2);

    let page1 = list_objects(&c, "list").max_keys(2).send().await.unwrap();
    assert_eq!(page1.is_truncated(), Some(true));
    let page2 = list_objects(&c, "list")
        .max_keys(2)
        .continuation_token(page1.next_continuation_token().unwrap())
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = page1
        .contents()
        .iter()
        .chain(page2.contents())
        .filter_map(|o| o.key())
        .collect();
    assert_eq!(keys, ["b.py", "lib/x.py", "lib/y.py"]);
    assert_eq!(page2.is_truncated(), Some(false));

    // Deleting the marker by id brings a3 back; deleting a3 permanently makes a2 current.
    let del = delete_object(&c, "list", "a.py")
        .version_id(&marker)
        .send()
        .await
        .unwrap();
    assert_eq!(del.delete_marker(), Some(true));
    assert_eq!(del.version_id(), Some(marker.as_str()));
    let got = get_object(&c, "list", "a.py").send().await.unwrap();
    assert_eq!(body_of(got).await, b"a3");
    let del = delete_object(&c, "list", "a.py")
        .version_id(&a3)
        .send()
        .await
        .unwrap();
    assert_eq!(del.delete_marker(), None);
    let got = get_object(&c, "list", "a.py").send().await.unwrap();
    assert_eq!(got.version_id(), Some(a2.as_str()));
    assert_eq!(
        failure(get_object(&c, "list", "a.py").version_id(&a3).send().await),
        ("NoSuchVersion".to_owned(), 404)
    );

    // Unversioned buckets: DELETE removes the object outright.
    c.create_bucket().bucket("flat").send().await.unwrap();
    put(&c, "flat", "k", b"1").await;
    let del = delete_object(&c, "flat", "k").send().await.unwrap();
    assert_eq!(del.delete_marker(), None);
    assert_eq!(del.version_id(), None);
    let versions = list_versions(&c, "flat").send().await.unwrap();
    assert!(versions.versions().is_empty() && versions.delete_markers().is_empty());
    sandbox.stop().await;
}

#[tokio::test]
async fn multipart_upload_gets_composite_sha256() {
    let (_dir, sandbox, c) = author_bucket("mpu", Some(BucketVersioningStatus::Enabled)).await;

    // The requests on the multipart upload `id` of `key`.
    let upload_part = |key: &str, id: &str, n: i32| {
        c.upload_part()
            .bucket("mpu")
            .key(key)
            .upload_id(id)
            .part_number(n)
    };
    let list_parts = |key: &str, id: &str| c.list_parts().bucket("mpu").key(key).upload_id(id);
    let complete = |key: &str, id: &str, parts: Vec<CompletedPart>| {
        c.complete_multipart_upload()
            .bucket("mpu")
            .key(key)
            .upload_id(id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
    };

    let part1: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    let part2: Vec<u8> = b"tail of the venv archive".repeat(1000);
    let created = c
        .create_multipart_upload()
        .bucket("mpu")
        .key("venv.tar.gz")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .send()
        .await
        .unwrap();
    assert_eq!(created.checksum_type(), Some(&ChecksumType::Composite));
    let upload_id = created.upload_id().unwrap();

    // A part whose checksum does not match is rejected.
    let bad = upload_part("venv.tar.gz", upload_id, 1)
        .checksum_sha256(sha256_b64(b"nope"))
        .body(ByteStream::from(part1.clone()))
        .send()
        .await;
    assert_eq!(failure(bad), ("BadDigest".to_owned(), 400));

    let mut completed = Vec::new();
    for (n, data) in [(1, &part1), (2, &part2)] {
        let out = upload_part("venv.tar.gz", upload_id, n)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        assert_eq!(out.checksum_sha256(), Some(sha256_b64(data).as_str()));
        assert_eq!(out.e_tag(), Some(format!("\"{}\"", md5_hex(data)).as_str()));
        completed.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().unwrap())
                .checksum_sha256(out.checksum_sha256().unwrap())
                .build(),
        );
    }
    let parts = list_parts("venv.tar.gz", upload_id).send().await.unwrap();
    assert_eq!(parts.parts().len(), 2);

    let done = complete("venv.tar.gz", upload_id, completed)
        .send()
        .await
        .unwrap();

    let mut raw = sha256(&part1);
    raw.extend(sha256(&part2));
    let composite = sha256_b64(&raw);
    assert_eq!(done.checksum_sha256(), Some(format!("{composite}-2").as_str()));
    assert_eq!(done.checksum_type(), Some(&ChecksumType::Composite));
    let mut md5s = hex::decode(md5_hex(&part1)).unwrap();
    md5s.extend(hex::decode(md5_hex(&part2)).unwrap());
    let etag = format!("\"{}-2\"", md5_hex(&md5s));
    assert_eq!(done.e_tag(), Some(etag.as_str()));
    let version = done.version_id().unwrap().to_owned();

    let head = head_checksummed(&c, "mpu", "venv.tar.gz").send().await.unwrap();
    assert_eq!(head.checksum_sha256(), Some(format!("{composite}-2").as_str()));
    assert_eq!(head.checksum_type(), Some(&ChecksumType::Composite));
    assert_eq!(head.e_tag(), Some(etag.as_str()));
    assert_eq!(head.version_id(), Some(version.as_str()));
    assert_eq!(head.content_length(), Some((part1.len() + part2.len()) as i64));

    let attrs = checksum_attributes(&c, "mpu", "venv.tar.gz")
        .version_id(&version)
        .object_attributes(ObjectAttributes::ObjectParts)
        .send()
        .await
        .unwrap();
    assert_eq!(
        reported_sha256(&attrs),
        (Some(composite.as_str()), Some(&ChecksumType::Composite))
    );
    let object_parts = attrs.object_parts().unwrap();
    assert_eq!(object_parts.total_parts_count(), Some(2));
    assert_eq!(
        object_parts.parts()[1].checksum_sha256(),
        Some(sha256_b64(&part2).as_str())
    );

    let got = get_object(&c, "mpu", "venv.tar.gz").send().await.unwrap();
    let bytes = body_of(got).await;
    assert_eq!(bytes.len(), part1.len() + part2.len());
    assert_eq!(
        sha256(&bytes),
        sha256(&[part1.as_slice(), part2.as_slice()].concat())
    );

    // Parts smaller than 5 MiB (but the last) are refused; aborting removes the upload.
    let small = c
        .create_multipart_upload()
        .bucket("mpu")
        .key("small")
        .send()
        .await
        .unwrap();
    let small_id = small.upload_id().unwrap();
    let mut small_parts = Vec::new();
    for n in 1..=2 {
        let out = upload_part("small", small_id, n)
            .body(ByteStream::from_static(b"tiny"))
            .send()
            .await
            .unwrap();
        small_parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().unwrap())
                .build(),
        );
    }
    let result = complete("small", small_id, small_parts).send().await;
    assert_eq!(failure(result), ("EntityTooSmall".to_owned(), 400));
    c.abort_multipart_upload()
        .bucket("mpu")
        .key("small")
        .upload_id(small_id)
        .send()
        .await
        .unwrap();
    let result = list_parts("small", small_id).send().await;
    assert_eq!(failure(result), ("NoSuchUpload".to_owned(), 404));
    sandbox.stop().await;
}

#[tokio::test]
async fn other_accounts_need_a_bucket_policy() {
    let (_dir, sandbox, author) = author_bucket("shared", Some(BucketVersioningStatus::Enabled)).await;
    let provider = client(&sandbox, identity::PROVIDER);
    let outsider = client(&sandbox, identity::OUTSIDER);
    let version = put(&author, "shared", "entry.py", b"print(1)")
        .await
        .version_id
        .unwrap();

    let denied = ("AccessDenied".to_owned(), 403);
    assert_eq!(
        failure(get_object(&provider, "shared", "entry.py").send().await),
        denied
    );
    assert_eq!(failure(list_objects(&provider, "shared").send().await), denied);
    assert_eq!(failure(versioning(&provider, "shared").send().await), denied);
    assert_eq!(
        failure(head_object(&provider, "shared", "entry.py").send().await).1,
        403
    );

    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{}:root", identity::PROVIDER.account_id)},
                "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectAttributes"],
                "Resource": "arn:aws:s3:::shared/*"
            },
            {
                "Effect": "Allow",
                "Principal": {"AWS": identity::PROVIDER.account_id},
                "Action": ["s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketVersioning"],
                "Resource": "arn:aws:s3:::shared"
            }
        ]
    })
    .to_string();
    // Only the owner manages the policy.
    assert_eq!(
        failure(put_policy(&provider, "shared").policy(&policy).send().await),
        denied
    );
    assert_eq!(
        failure(put_policy(&author, "shared").policy("{not json").send().await),
        ("MalformedPolicy".to_owned(), 400)
    );
    // Without s3:ListBucket a reader cannot tell a missing key from a forbidden one.
    let get_only = provider_may("s3:GetObject", "arn:aws:s3:::shared/*");
    put_policy(&author, "shared")
        .policy(get_only)
        .send()
        .await
        .unwrap();
    get_object(&provider, "shared", "entry.py").send().await.unwrap();
    assert_eq!(
        failure(get_object(&provider, "shared", "missing").send().await),
        denied
    );

    put_policy(&author, "shared")
        .policy(&policy)
        .send()
        .await
        .unwrap();
    assert_eq!(
        failure(get_object(&provider, "shared", "missing").send().await),
        ("NoSuchKey".to_owned(), 404)
    );
    let stored = author.get_bucket_policy().bucket("shared").send().await.unwrap();
    assert_eq!(stored.policy(), Some(policy.as_str()));
    assert_eq!(
        failure(provider.get_bucket_policy().bucket("shared").send().await),
        denied
    );

    // The provider may now read; the outsider still may not.
    let got = get_object(&provider, "shared", "entry.py").send().await.unwrap();
    assert_eq!(body_of(got).await, b"print(1)");
    assert_eq!(
        body_at(&provider, "shared", "entry.py", &version).await,
        b"print(1)"
    );
    let listed = list_objects(&provider, "shared").send().await.unwrap();
    assert_eq!(listed.contents().len(), 1);
    list_versions(&provider, "shared").send().await.unwrap();
    let v = versioning(&provider, "shared").send().await.unwrap();
    assert_eq!(v.status(), Some(&BucketVersioningStatus::Enabled));
    checksum_attributes(&provider, "shared", "entry.py")
        .send()
        .await
        .unwrap();
    // With a version id S3 also requires s3:GetObjectVersionAttributes, which was not granted.
    assert_eq!(
        failure(
            checksum_attributes(&provider, "shared", "entry.py")
                .version_id(&version)
                .send()
                .await
        ),
        denied
    );
    assert_eq!(
        failure(get_object(&outsider, "shared", "entry.py").send().await),
        denied
    );

    // Writes stay owner-only whatever the policy says.
    let write = put_object(&provider, "shared", "evil.py")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_eq!(failure(write), denied);
    assert_eq!(
        failure(delete_object(&provider, "shared", "entry.py").send().await),
        denied
    );

    author
        .delete_bucket_policy()
        .bucket("shared")
        .send()
        .await
        .unwrap();
    assert_eq!(
        failure(get_object(&provider, "shared", "entry.py").send().await),
        denied
    );
    assert_eq!(
        failure(author.get_bucket_policy().bucket("shared").send().await),
        ("NoSuchBucketPolicy".to_owned(), 404)
    );
    sandbox.stop().await;
}

#[tokio::test]
async fn bad_credentials_and_anonymous_requests_are_refused() {
    let (_dir, sandbox, author) = author_bucket("locked", None).await;
    put(&author, "locked", "k", b"secret").await;

    let unknown = client_with(&sandbox, "AKIANOBODY0000000000", "whatever");
    assert_eq!(
        failure(unknown.list_buckets().send().await),
        ("InvalidAccessKeyId".to_owned(), 403)
    );
    let wrong_secret = client_with(&sandbox, identity::AUTHOR.access_key_id, "not-the-secret");
    assert_eq!(
        failure(get_object(&wrong_secret, "locked", "k").send().await),
        ("SignatureDoesNotMatch".to_owned(), 403)
    );

    // An unsigned request.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(sandbox.addr()).await.unwrap();
    let request = format!(
        "GET /locked/k HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        sandbox.addr()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
    assert!(response.contains("<Code>AccessDenied</Code>"), "{response}");
    sandbox.stop().await;
}

#[tokio::test]
async fn a_64_mib_object_round_trips_with_its_sha256() {
    let (dir, sandbox, c) = author_bucket("big", Some(BucketVersioningStatus::Enabled)).await;

    let mut data = vec![0u8; 64 * 1024 * 1024];
    let mut x = 0x9E37_79B9u32;
    for chunk in data.chunks_mut(4) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    let sum = sha256_b64(&data);
    let path = dir.path().join("venv.tar.gz");
    std::fs::write(&path, &data).unwrap();
    // As the publisher uploads: streamed from the file, SHA-256 precomputed.
    let out = put_object(&c, "big", "venv.tar.gz")
        .checksum_sha256(&sum)
        .body(ByteStream::from_path(&path).await.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(out.checksum_sha256(), Some(sum.as_str()));

    let attrs = checksum_attributes(&c, "big", "venv.tar.gz")
        .object_attributes(ObjectAttributes::ObjectSize)
        .send()
        .await
        .unwrap();
    assert_eq!(
        attrs.checksum().and_then(|c| c.checksum_sha256()),
        Some(sum.as_str())
    );
    assert_eq!(attrs.object_size(), Some(data.len() as i64));

    let head = head_checksummed(&c, "big", "venv.tar.gz").send().await.unwrap();
    assert_eq!(head.checksum_sha256(), Some(sum.as_str()));
    assert_eq!(head.checksum_type(), Some(&ChecksumType::FullObject));

    // Stream the download (the SDK validates the returned ChecksumSHA256 on the way) and compare
    // it with what was uploaded, whose SHA-256 is `sum`.
    let got = get_object(&c, "big", "venv.tar.gz").send().await.unwrap();
    assert_eq!(got.content_length(), Some(data.len() as i64));
    let mut body = got.body;
    let mut offset = 0usize;
    while let Some(chunk) = body.try_next().await.unwrap() {
        assert!(
            chunk[..] == data[offset..offset + chunk.len()],
            "mismatch at byte {offset}"
        );
        offset += chunk.len();
    }
    assert_eq!(offset, data.len());
    sandbox.stop().await;
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (v1, v2, marker, upload_id);
    {
        let sandbox = sandbox_at(dir.path()).await;
        let c = client(&sandbox, identity::AUTHOR);
        c.create_bucket().bucket("keep").send().await.unwrap();
        set_versioning(&c, "keep", BucketVersioningStatus::Enabled).await;
        v1 = put_object(&c, "keep", "a.py")
            .checksum_sha256(sha256_b64(b"one"))
            .body(ByteStream::from_static(b"one"))
            .send()
            .await
            .unwrap()
            .version_id
            .unwrap();
        v2 = put(&c, "keep", "a.py", b"two").await.version_id.unwrap();
        marker = delete_object(&c, "keep", "a.py")
            .send()
            .await
            .unwrap()
            .version_id
            .unwrap();
        let policy = provider_may("s3:GetObjectVersion", "arn:aws:s3:::keep/*");
        put_policy(&c, "keep").policy(policy).send().await.unwrap();
        upload_id = c
            .create_multipart_upload()
            .bucket("keep")
            .key("big")
            .send()
            .await
            .unwrap()
            .upload_id
            .unwrap();
        sandbox.stop().await;
    }

    let sandbox = sandbox_at(dir.path()).await;
    let c = client(&sandbox, identity::AUTHOR);
    let v = versioning(&c, "keep").send().await.unwrap();
    assert_eq!(v.status(), Some(&BucketVersioningStatus::Enabled));
    let versions = list_versions(&c, "keep").send().await.unwrap();
    let ids: Vec<&str> = versions
        .versions()
        .iter()
        .filter_map(|v| v.version_id())
        .collect();
    assert_eq!(ids, [v2.as_str(), v1.as_str()]);
    assert_eq!(versions.delete_markers()[0].version_id(), Some(marker.as_str()));
    assert_eq!(
        failure(get_object(&c, "keep", "a.py").send().await),
        ("NoSuchKey".to_owned(), 404)
    );
    let got = get_checksummed(&c, "keep", "a.py")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    assert_eq!(got.checksum_sha256(), Some(sha256_b64(b"one").as_str()));
    assert_eq!(body_of(got).await, b"one");
    // The policy survived too: the provider may read a pinned version.
    let provider = client(&sandbox, identity::PROVIDER);
    assert_eq!(body_at(&provider, "keep", "a.py", &v2).await, b"two");
    let uploads = c.list_multipart_uploads().bucket("keep").send().await.unwrap();
    assert_eq!(uploads.uploads()[0].upload_id(), Some(upload_id.as_str()));
    // New writes after the restart keep working.
    let v3 = put(&c, "keep", "a.py", b"three").await.version_id.unwrap();
    assert!(![&v1, &v2, &marker].contains(&&v3));
    sandbox.stop().await;
}

#[tokio::test]
async fn concurrent_puts_each_get_their_own_version() {
    let (_dir, sandbox, c) = author_bucket("race", Some(BucketVersioningStatus::Enabled)).await;
    let mut tasks = Vec::new();
    for i in 0..16u32 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let data = vec![i as u8; 100_000 + i as usize];
            let key = format!("k{}", i % 4);
            let out = put_object(&c, "race", &key)
                .checksum_sha256(sha256_b64(&data))
                .body(ByteStream::from(data.clone()))
                .send()
                .await
                .unwrap();
            (key, out.version_id.unwrap(), data)
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    let versions = list_versions(&c, "race").send().await.unwrap();
    assert_eq!(versions.versions().len(), 16);
    for (key, version, data) in results {
        let got = get_object(&c, "race", &key)
            .version_id(&version)
            .send()
            .await
            .unwrap();
        assert_eq!(body_of(got).await, data);
    }
    sandbox.stop().await;
}
