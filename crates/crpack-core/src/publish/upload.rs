//! Content-addressed, immutable uploads: one PutObject per artifact with the SHA-256 computed at
//! build time sent as `x-amz-checksum-sha256` (S3 checks it against the bytes and stores a
//! full-object checksum) and `If-None-Match: *` so nothing is ever overwritten.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, ChecksumType};
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use serde::Serialize;
use tokio::io::{AsyncRead, ReadBuf};

use super::PublishError;
use crate::artifact::Artifact;
use crate::aws::{self, Aws};
use crate::digest::Sha256Digest;
use crate::error::Result;
use crate::progress::Progress;

/// Bytes read per body chunk.
const CHUNK: usize = 256 * 1024;

/// What happened to one artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadAction {
    /// Uploaded now.
    Uploaded,
    /// The key already held exactly these bytes (its stored SHA-256 matched): nothing sent.
    Skipped,
}

/// The object an artifact ended up as.
#[derive(Debug, Clone)]
pub struct Uploaded {
    pub action: UploadAction,
    pub version_id: String,
}

/// The content-addressed key: `<prefix>/<sha256 hex>/<file name>`.
pub fn object_key(prefix: &str, sha: &Sha256Digest, file_name: &str) -> String {
    if prefix.is_empty() {
        format!("{}/{file_name}", sha.to_hex())
    } else {
        format!("{prefix}/{}/{file_name}", sha.to_hex())
    }
}

/// A file body read in chunks, reporting progress; re-created for each retry.
struct FileBody {
    file: Option<tokio::fs::File>,
    open_error: Option<io::Error>,
    remaining: u64,
    bar: Arc<dyn Progress>,
}

impl FileBody {
    fn open(path: &Path, size: u64, bar: Arc<dyn Progress>) -> Self {
        bar.restart();
        match std::fs::File::open(path) {
            Ok(f) => FileBody {
                file: Some(tokio::fs::File::from_std(f)),
                open_error: None,
                remaining: size,
                bar,
            },
            Err(e) => FileBody {
                file: None,
                open_error: Some(e),
                remaining: size,
                bar,
            },
        }
    }
}

impl Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if let Some(e) = self.open_error.take() {
            return Poll::Ready(Some(Err(e)));
        }
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let want = CHUNK.min(self.remaining as usize);
        let mut buf = vec![0u8; want];
        let mut read_buf = ReadBuf::new(&mut buf);
        let file = self.file.as_mut().expect("opened");
        match Pin::new(file).poll_read(cx, &mut read_buf) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Ok(())) => {
                let n = read_buf.filled().len();
                if n == 0 {
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the file shrank while it was being uploaded",
                    ))));
                }
                buf.truncate(n);
                self.remaining -= n as u64;
                self.bar.advance(n as u64);
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(buf)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0 && self.open_error.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

fn file_stream(path: PathBuf, size: u64, bar: Arc<dyn Progress>) -> ByteStream {
    ByteStream::new(SdkBody::retryable(move || {
        SdkBody::from_body_1_x(FileBody::open(&path, size, bar.clone()))
    }))
}

/// The stored full-object SHA-256 of the current version at `key`, with its version id.
/// `Ok(None)` when there is no such object.
pub async fn head_checksum(
    aws: &Aws,
    bucket: &str,
    key: &str,
) -> Result<Option<(Option<Sha256Digest>, String)>> {
    match aws
        .s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
    {
        Ok(h) => {
            let full = h.checksum_type().is_none_or(|t| *t == ChecksumType::FullObject);
            let sha = h
                .checksum_sha256()
                .filter(|_| full)
                .and_then(|c| Sha256Digest::parse(c).ok());
            Ok(Some((sha, h.version_id().unwrap_or("null").to_string())))
        }
        Err(e) if aws::status(&e) == Some(404) => Ok(None),
        Err(e) => Err(aws::describe(&format!("HeadObject s3://{bucket}/{key}"), &e)),
    }
}

/// Uploads `artifact` to `bucket`/`key` unless the key already holds exactly its bytes.
pub async fn upload(
    aws: &Aws,
    bucket: &str,
    key: &str,
    artifact: &Artifact,
    bar: Arc<dyn Progress>,
) -> Result<Uploaded> {
    let existing = |sha: Option<Sha256Digest>, version: String| -> Result<Uploaded> {
        if sha == Some(artifact.sha256) {
            return Ok(Uploaded {
                action: UploadAction::Skipped,
                version_id: version,
            });
        }
        Err(PublishError::KeyTaken {
            bucket: bucket.to_string(),
            key: key.to_string(),
            stored: sha
                .map(|s| s.to_hex())
                .unwrap_or_else(|| "none, or a composite multipart checksum".into()),
            ours: artifact.sha256.to_string(),
        }
        .into())
    };
    if let Some((sha, version)) = head_checksum(aws, bucket, key).await? {
        return existing(sha, version);
    }
    let put = aws
        .s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_length(artifact.size as i64)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .checksum_sha256(artifact.sha256.to_base64())
        .if_none_match("*")
        .content_type(content_type(&artifact.file_name))
        .body(file_stream(artifact.path.clone(), artifact.size, bar.clone()))
        .send()
        .await;
    bar.finish();
    match put {
        Ok(out) => {
            if let Some(stored) = out.checksum_sha256()
                && Sha256Digest::parse(stored).ok() != Some(artifact.sha256)
            {
                return Err(PublishError::ChecksumNotFullObject {
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                    stored: stored.to_string(),
                    ours: artifact.sha256.to_base64(),
                }
                .into());
            }
            let version_id =
                out.version_id()
                    .map(str::to_string)
                    .ok_or_else(|| PublishError::NoVersionId {
                        bucket: bucket.to_string(),
                        key: key.to_string(),
                    })?;
            Ok(Uploaded {
                action: UploadAction::Uploaded,
                version_id,
            })
        }
        // Someone created the key between our check and our PUT: judge what is there now.
        Err(e) if aws::status(&e) == Some(412) => match head_checksum(aws, bucket, key).await? {
            Some((sha, version)) => existing(sha, version),
            None => Err(aws::describe(&format!("PutObject s3://{bucket}/{key}"), &e)),
        },
        Err(e) if aws::is_code(&e, &["BadDigest", "XAmzContentSHA256Mismatch", "InvalidDigest"]) => {
            Err(PublishError::ChangedAfterBuild {
                bucket: bucket.to_string(),
                key: key.to_string(),
                sha256: artifact.sha256.to_string(),
                path: artifact.path.clone(),
            }
            .into())
        }
        Err(e) => Err(aws::describe(&format!("PutObject s3://{bucket}/{key}"), &e)),
    }
}

fn content_type(file_name: &str) -> &'static str {
    if file_name.ends_with(".py") {
        "text/x-python"
    } else if file_name.ends_with(".zip") {
        "application/zip"
    } else if file_name.ends_with(".tar.gz") || file_name.ends_with(".tgz") {
        "application/gzip"
    } else {
        "application/octet-stream"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_content_addressed_and_valid() {
        let sha = Sha256Digest::of(b"x");
        let k = object_key("templates/a", &sha, "entrypoint.py");
        assert_eq!(k, format!("templates/a/{}/entrypoint.py", sha.to_hex()));
        crate::validate::s3_key(&k).unwrap();
        assert_eq!(object_key("", &sha, "b.zip"), format!("{}/b.zip", sha.to_hex()));
    }
}
