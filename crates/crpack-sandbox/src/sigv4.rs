//! SigV4 header-signature parsing and verification for the Clean Rooms endpoint.
//!
//! Implements the canonical-request recipe of AWS Signature Version 4 for services other than
//! S3 (double URI-encoded path, sorted query, signed headers, payload hash).

use sha2::{Digest, Sha256};

use super::identity::{self, Identity};

/// Why a request was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the request is not signed with SigV4 (no Authorization header)")]
    Missing,
    #[error("malformed Authorization header: {0}")]
    Malformed(&'static str),
    #[error("the security token included in the request is invalid: unknown access key {0}")]
    UnknownKey(String),
    #[error(
        "the request signature we calculated does not match the signature you provided; check your secret access key"
    )]
    BadSignature,
}

impl AuthError {
    /// The error code the service would send.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "MissingAuthenticationTokenException",
            AuthError::Malformed(_) => "IncompleteSignatureException",
            AuthError::UnknownKey(_) => "UnrecognizedClientException",
            AuthError::BadSignature => "InvalidSignatureException",
        }
    }
}

struct Authorization<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Result<Authorization<'_>, AuthError> {
    let rest = value
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or(AuthError::Malformed("expected the AWS4-HMAC-SHA256 algorithm"))?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed_headers = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let credential = credential.ok_or(AuthError::Malformed("no Credential"))?;
    let mut scope = credential.split('/');
    let (Some(access_key), Some(date), Some(region), Some(service), Some("aws4_request"), None) = (
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
    ) else {
        return Err(AuthError::Malformed(
            "credential scope is not KEY/DATE/REGION/SERVICE/aws4_request",
        ));
    };
    Ok(Authorization {
        access_key,
        date,
        region,
        service,
        signed_headers: signed_headers.ok_or(AuthError::Malformed("no SignedHeaders"))?,
        signature: signature.ok_or(AuthError::Malformed("no Signature"))?,
    })
}

/// The service name in the request's SigV4 credential scope (header or presigned query).
pub fn scope_service<B>(req: &http::Request<B>) -> Option<String> {
    if let Some(value) = req.headers().get(http::header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        return parse_authorization(value).ok().map(|a| a.service.to_string());
    }
    let query = req.uri().query()?;
    for pair in query.split('&') {
        if let Some(v) = pair.strip_prefix("X-Amz-Credential=") {
            let decoded = percent_encoding::percent_decode_str(v).decode_utf8().ok()?;
            return decoded.split('/').nth(3).map(str::to_string);
        }
    }
    None
}

/// Verifies the request's header signature and returns the calling identity.
pub fn verify<B>(req: &http::Request<B>, body: &[u8]) -> Result<&'static Identity, AuthError> {
    let header = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .ok_or(AuthError::Missing)?
        .to_str()
        .map_err(|_| AuthError::Malformed("not ASCII"))?;
    let auth = parse_authorization(header)?;
    let identity = identity::by_access_key(auth.access_key)
        .ok_or_else(|| AuthError::UnknownKey(auth.access_key.to_string()))?;
    let amz_date = header_value(req, "x-amz-date").ok_or(AuthError::Malformed("no x-amz-date header"))?;

    let payload_hash = match header_value(req, "x-amz-content-sha256") {
        Some(v) => v,
        None => hex::encode(Sha256::digest(body)),
    };
    let mut canonical_headers = String::new();
    for name in auth.signed_headers.split(';') {
        let values: Vec<String> = req
            .headers()
            .get_all(name)
            .iter()
            .map(|v| collapse_spaces(&String::from_utf8_lossy(v.as_bytes())))
            .collect();
        if values.is_empty() && name != "host" {
            return Err(AuthError::Malformed("a signed header is missing"));
        }
        let value = if name == "host" && values.is_empty() {
            req.uri().authority().map(|a| a.to_string()).unwrap_or_default()
        } else {
            values.join(",")
        };
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        canonical_headers.push_str(&value);
        canonical_headers.push('\n');
    }
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method().as_str(),
        canonical_uri(req.uri().path()),
        canonical_query(req.uri().query().unwrap_or("")),
        canonical_headers,
        auth.signed_headers,
        payload_hash
    );
    let scope = format!("{}/{}/{}/aws4_request", auth.date, auth.region, auth.service);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let mut key = hmac(
        format!("AWS4{}", identity.secret_access_key).as_bytes(),
        auth.date.as_bytes(),
    );
    for part in [auth.region, auth.service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let expected = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    if constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        Ok(identity)
    } else {
        Err(AuthError::BadSignature)
    }
}

fn header_value<B>(req: &http::Request<B>, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn collapse_spaces(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Characters SigV4 leaves unencoded: `A-Z a-z 0-9 - _ . ~`.
const SIGV4_SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Non-S3 services encode each segment of the path as sent once more.
fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        return "/".to_string();
    }
    path.split('/')
        .map(|segment| percent_encoding::utf8_percent_encode(segment, SIGV4_SET).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            let encode = |s: String| percent_encoding::utf8_percent_encode(&s, SIGV4_SET).to_string();
            (encode(decode(k)), encode(decode(v)))
        })
        .collect();
    pairs.sort();
    pairs
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// HMAC-SHA256 (RFC 2104).
fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner);
    outer.finalize().into()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let mac = hmac(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn canonical_uri_double_encodes() {
        assert_eq!(canonical_uri("/a/arn%3Aaws"), "/a/arn%253Aaws");
        assert_eq!(canonical_uri(""), "/");
    }

    #[test]
    fn canonical_query_sorts_and_encodes() {
        assert_eq!(canonical_query("b=2&a=x%20y&a=1"), "a=1&a=x%20y&b=2");
    }

    #[test]
    fn scope_service_reads_header() {
        let req = http::Request::builder()
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIA/20260101/us-east-1/cleanrooms/aws4_request, SignedHeaders=host, Signature=00",
            )
            .body(())
            .unwrap();
        assert_eq!(scope_service(&req).as_deref(), Some("cleanrooms"));
        let unsigned = http::Request::builder().body(()).unwrap();
        assert_eq!(scope_service(&unsigned), None);
    }
}
