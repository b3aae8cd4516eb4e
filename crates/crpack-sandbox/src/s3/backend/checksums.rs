//! The checksums a client declares for an upload, and verifying a received body against them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use http::HeaderMap;
use s3s::dto::*;
use s3s::{S3Result, TrailingHeaders, s3_error};

use crate::s3::body::{Algo, Received, internal};
use crate::s3::store::StoredChecksum;

/// The checksum a client declared for an upload: a header value, a trailer, or just an
/// algorithm (`x-amz-sdk-checksum-algorithm`).
pub(super) struct Declared {
    pub(super) algo: Option<Algo>,
    header_value: Option<String>,
    trailer: bool,
}

pub(super) fn declared(headers: &HeaderMap, sdk_algorithm: Option<&ChecksumAlgorithm>) -> S3Result<Declared> {
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
pub(super) fn verify(
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

/// A checksum as the store keeps it.
pub(super) fn stored_checksum(algo: Algo, value: String, kind: &str) -> StoredChecksum {
    StoredChecksum {
        algorithm: algo.name().to_owned(),
        value,
        kind: kind.to_owned(),
    }
}

/// The `checksum_<algo>` member of an s3s input or output.
macro_rules! checksum_field {
    ($dto:expr, $algo:expr) => {
        match $algo {
            Algo::Crc32 => &$dto.checksum_crc32,
            Algo::Crc32c => &$dto.checksum_crc32c,
            Algo::Crc64Nvme => &$dto.checksum_crc64nvme,
            Algo::Sha1 => &$dto.checksum_sha1,
            Algo::Sha256 => &$dto.checksum_sha256,
        }
    };
}
pub(super) use checksum_field;
