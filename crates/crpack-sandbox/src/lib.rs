//! `crpack sandbox`: one loopback process serving an S3-compatible endpoint and a Clean Rooms
//! endpoint. Requests are told apart by the SigV4 credential scope's service name (`s3` or
//! `cleanrooms`), so a single `AWS_ENDPOINT_URL` points every client at it.
//!
//! The author and reviewer code paths never import this module: they only see endpoints.

pub mod cleanrooms;
pub mod identity;
pub mod s3;
pub mod seed;
mod server;
mod sigv4;

pub use server::{Sandbox, SandboxOptions};

use bytes::Bytes;

/// The error type carried by response bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The response body type every sandbox endpoint returns.
pub type Body = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// The region the sandbox claims to be in.
pub const REGION: &str = "us-east-1";

/// A body holding `bytes`.
pub fn full_body(bytes: impl Into<Bytes>) -> Body {
    use http_body_util::BodyExt;
    http_body_util::Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}
