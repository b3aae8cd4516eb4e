//! Bodies and checksums: streaming a request body to a staged file while hashing it, streaming a
//! stored file back, and the checksum algorithms S3 knows.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use s3s::checksum::ChecksumHasher;
use s3s::crypto::Checksum as _;
use s3s::dto::StreamingBlob;
use s3s::stream::{ByteStream, RemainingLength};
use s3s::{S3Error, S3ErrorCode, S3Result, s3_error};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};

use super::store::TempFile;

/// A checksum algorithm S3 supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Algo {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl Algo {
    pub const ALL: [Algo; 5] = [
        Algo::Crc32,
        Algo::Crc32c,
        Algo::Crc64Nvme,
        Algo::Sha1,
        Algo::Sha256,
    ];

    /// The name used in `x-amz-checksum-algorithm` and in XML (`SHA256`, `CRC32`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Algo::Crc32 => "CRC32",
            Algo::Crc32c => "CRC32C",
            Algo::Crc64Nvme => "CRC64NVME",
            Algo::Sha1 => "SHA1",
            Algo::Sha256 => "SHA256",
        }
    }

    pub fn parse(name: &str) -> Option<Algo> {
        Algo::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    /// The header carrying a value of this algorithm (`x-amz-checksum-sha256`, ...).
    pub fn header(self) -> &'static str {
        match self {
            Algo::Crc32 => "x-amz-checksum-crc32",
            Algo::Crc32c => "x-amz-checksum-crc32c",
            Algo::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Algo::Sha1 => "x-amz-checksum-sha1",
            Algo::Sha256 => "x-amz-checksum-sha256",
        }
    }

    pub fn digest_len(self) -> usize {
        match self {
            Algo::Crc32 | Algo::Crc32c => 4,
            Algo::Crc64Nvme => 8,
            Algo::Sha1 => 20,
            Algo::Sha256 => 32,
        }
    }

    /// Whether S3 can combine part checksums of this algorithm into a full-object checksum.
    pub fn is_crc(self) -> bool {
        matches!(self, Algo::Crc32 | Algo::Crc32c | Algo::Crc64Nvme)
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let mut h = ChecksumHasher::default();
        self.enable(&mut h);
        h.update(data);
        let sums = h.finalize();
        B64.decode(self.value(&sums).expect("enabled algorithm"))
            .expect("s3s encodes base64")
    }

    pub fn enable(self, h: &mut ChecksumHasher) {
        use s3s::crypto::{Crc32, Crc32c, Crc64Nvme, Sha1, Sha256};
        match self {
            Algo::Crc32 => h.crc32 = Some(Crc32::new()),
            Algo::Crc32c => h.crc32c = Some(Crc32c::new()),
            Algo::Crc64Nvme => h.crc64nvme = Some(Crc64Nvme::new()),
            Algo::Sha1 => h.sha1 = Some(Sha1::new()),
            Algo::Sha256 => h.sha256 = Some(Sha256::new()),
        }
    }

    /// This algorithm's value in a checksum set.
    pub fn value(self, sums: &s3s::dto::Checksum) -> Option<&String> {
        match self {
            Algo::Crc32 => sums.checksum_crc32.as_ref(),
            Algo::Crc32c => sums.checksum_crc32c.as_ref(),
            Algo::Crc64Nvme => sums.checksum_crc64nvme.as_ref(),
            Algo::Sha1 => sums.checksum_sha1.as_ref(),
            Algo::Sha256 => sums.checksum_sha256.as_ref(),
        }
    }

    /// Validates a client-supplied base64 value's shape (S3: InvalidRequest).
    pub fn check_value(self, value: &str) -> S3Result<()> {
        match B64.decode(value.trim()) {
            Ok(raw) if raw.len() == self.digest_len() => Ok(()),
            _ => Err(s3_error!(
                InvalidRequest,
                "Value for {} header is invalid.",
                self.header()
            )),
        }
    }
}

/// Sets one algorithm's field in a DTO with the five `checksum_*` fields.
macro_rules! set_checksum_field {
    ($out:expr, $algo:expr, $value:expr) => {{
        let value: Option<String> = $value;
        match $algo {
            $crate::s3::body::Algo::Crc32 => $out.checksum_crc32 = value,
            $crate::s3::body::Algo::Crc32c => $out.checksum_crc32c = value,
            $crate::s3::body::Algo::Crc64Nvme => $out.checksum_crc64nvme = value,
            $crate::s3::body::Algo::Sha1 => $out.checksum_sha1 = value,
            $crate::s3::body::Algo::Sha256 => $out.checksum_sha256 = value,
        }
    }};
}
pub(super) use set_checksum_field;

/// A body received into a staged file.
pub(super) struct Received {
    pub file: TempFile,
    pub size: u64,
    /// Raw MD5 digest.
    pub md5: Vec<u8>,
    /// The requested algorithm's value, base64.
    pub sums: s3s::dto::Checksum,
}

/// Maps an error raised while reading a request body (s3s's aws-chunked or payload-hash
/// verification) to the S3 error a client would get.
fn body_error(err: &(dyn std::error::Error + 'static)) -> S3Error {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    if text.contains("SignatureMismatch") {
        s3_error!(
            SignatureDoesNotMatch,
            "The chunk signature we calculated does not match the signature you provided."
        )
    } else if text.contains("Sha256Mismatch") {
        let code = S3ErrorCode::from_bytes(b"XAmzContentSHA256Mismatch").unwrap_or(S3ErrorCode::BadDigest);
        let mut e = S3Error::with_message(
            code,
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        );
        e.set_status_code(http::StatusCode::BAD_REQUEST);
        e
    } else {
        s3_error!(IncompleteBody, "could not read the request body: {text}")
    }
}

pub(super) fn internal(err: impl std::fmt::Display) -> S3Error {
    s3_error!(InternalError, "{err}")
}

/// Streams `body` into `tmp`, computing MD5 and `algo` on the way.
pub(super) async fn receive(mut body: StreamingBlob, tmp: PathBuf, algo: Option<Algo>) -> S3Result<Received> {
    let guard = TempFile::new(tmp);
    let file = tokio::fs::File::create(guard.path()).await.map_err(internal)?;
    let mut out = tokio::io::BufWriter::with_capacity(1 << 20, file);
    let mut md5 = s3s::crypto::Md5::new();
    let mut sums = ChecksumHasher::default();
    if let Some(algo) = algo {
        algo.enable(&mut sums);
    }
    let mut size = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| body_error(&*e))?;
        md5.update(&chunk);
        sums.update(&chunk);
        size += chunk.len() as u64;
        out.write_all(&chunk).await.map_err(internal)?;
    }
    out.flush().await.map_err(internal)?;
    out.into_inner().shutdown().await.map_err(internal)?;
    Ok(Received {
        file: guard,
        size,
        md5: md5.finalize().as_ref().to_vec(),
        sums: sums.finalize(),
    })
}

/// A stored file (or a byte range of it) as a response body stream.
pub(super) struct FileStream {
    file: tokio::fs::File,
    remaining: u64,
    buf: Vec<u8>,
}

impl FileStream {
    /// Streams `len` bytes of `file` starting at `start`.
    pub fn new(mut file: std::fs::File, start: u64, len: u64) -> std::io::Result<FileStream> {
        if start > 0 {
            file.seek(SeekFrom::Start(start))?;
        }
        Ok(FileStream {
            file: tokio::fs::File::from_std(file),
            remaining: len,
            buf: vec![0; 256 * 1024],
        })
    }
}

impl Stream for FileStream {
    type Item = Result<Bytes, s3s::StdError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        let want = this
            .buf
            .len()
            .min(usize::try_from(this.remaining).unwrap_or(usize::MAX));
        let mut read = ReadBuf::new(&mut this.buf[..want]);
        match Pin::new(&mut this.file).poll_read(cx, &mut read) {
            Poll::Ready(Ok(())) => {
                let filled = read.filled();
                if filled.is_empty() {
                    this.remaining = 0;
                    let err =
                        std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "stored object is truncated");
                    return Poll::Ready(Some(Err(Box::new(err))));
                }
                this.remaining -= filled.len() as u64;
                Poll::Ready(Some(Ok(Bytes::copy_from_slice(filled))))
            }
            Poll::Ready(Err(err)) => {
                this.remaining = 0;
                Poll::Ready(Some(Err(Box::new(err))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, None)
    }
}

impl ByteStream for FileStream {
    fn remaining_length(&self) -> RemainingLength {
        RemainingLength::new_exact(usize::try_from(self.remaining).unwrap_or(usize::MAX))
    }
}

/// Concatenates part files into `dest`, computing `algo` (if given) over the whole data. Blocking: call from `spawn_blocking`.
pub(super) fn concat_parts(
    parts: &[PathBuf],
    dest: &std::path::Path,
    algo: Option<Algo>,
) -> std::io::Result<s3s::dto::Checksum> {
    use std::io::Write;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(dest)?);
    let mut sums = ChecksumHasher::default();
    if let Some(algo) = algo {
        algo.enable(&mut sums);
    }
    let mut buf = vec![0u8; 1 << 20];
    for part in parts {
        let mut f = std::fs::File::open(part)?;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            sums.update(&buf[..n]);
            out.write_all(&buf[..n])?;
        }
    }
    out.flush()?;
    Ok(sums.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_match_known_values() {
        // sha256("abc")
        assert_eq!(
            hex::encode(Algo::Sha256.digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // crc32("123456789") = 0xCBF43926
        assert_eq!(hex::encode(Algo::Crc32.digest(b"123456789")), "cbf43926");
        // crc32c("123456789") = 0xE3069283
        assert_eq!(hex::encode(Algo::Crc32c.digest(b"123456789")), "e3069283");
        for algo in Algo::ALL {
            assert_eq!(Algo::parse(&algo.name().to_lowercase()), Some(algo));
            assert_eq!(algo.digest(b"x").len(), algo.digest_len());
        }
    }

    #[test]
    fn checksum_values_are_shape_checked() {
        assert!(Algo::Sha256.check_value(&B64.encode([0u8; 32])).is_ok());
        assert!(Algo::Sha256.check_value(&B64.encode([0u8; 4])).is_err());
        assert!(Algo::Crc32.check_value("not base64!").is_err());
    }
}
