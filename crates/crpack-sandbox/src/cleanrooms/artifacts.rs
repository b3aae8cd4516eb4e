//! How `CreateAnalysisTemplate` reads a `PYSPARK_1_0` template's artifacts: through the S3 API
//! of the sandbox's own S3 endpoint, signed as the account that owns `source.artifacts.roleArn`
//! (the sandbox's stand-in for assuming that role). Like the service it requires bucket
//! versioning, pins each artifact's current version id, and hashes exactly that version.
//!
//! The job executor reuses [`s3_as`] to read and write S3 as other accounts the same way.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::SdkError;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::state::PinnedArtifact;
use crate::{REGION, identity};

/// The most all of a template's artifacts may weigh together (1 GB).
const MAX_TOTAL_BYTES: u64 = 1_000_000_000;

/// One artifact to read: its location and the input member path errors should name.
pub(crate) struct ArtifactRef {
    pub entry_point: bool,
    pub bucket: String,
    pub key: String,
    pub field: String,
}

/// The account id in `arn:aws:iam::<account>:role/...`.
pub(crate) fn role_account(role_arn: &str) -> Option<&str> {
    role_arn.strip_prefix("arn:aws:iam::")?.split(':').next()
}

/// The HTTP status of a failed S3 call, if the endpoint answered.
pub(crate) fn status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// The service's message for a failed S3 call (or the transport error, with its causes).
pub(crate) fn describe<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + 'static,
{
    match err {
        // An error S3 names but the SDK does not model (NoSuchVersion) displays as "unhandled
        // error": its code and message say what happened.
        SdkError::ServiceError(e) => match (e.err().code(), e.err().message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_string(),
            _ => e.err().to_string(),
        },
        other => aws_smithy_types::error::display::DisplayErrorContext(other).to_string(),
    }
}

/// An S3 client for the sandbox's own S3 endpoint, signing as `who` (the sandbox's stand-in for
/// Clean Rooms assuming a role in `who`'s account).
pub(crate) fn s3_as(s3_endpoint: &str, who: &identity::Identity) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(s3_endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            who.access_key_id,
            who.secret_access_key,
            None,
            None,
            "crpack-sandbox-cleanrooms",
        ))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// Reads every artifact and returns what the template pins: version id, SHA-256, size.
pub(crate) async fn pin(
    s3_endpoint: &str,
    role_arn: &str,
    artifacts: &[ArtifactRef],
) -> Result<Vec<PinnedArtifact>, ApiError> {
    let role_field = "source.artifacts.roleArn";
    let account = role_account(role_arn).unwrap_or_default();
    let who = identity::by_account(account).ok_or_else(|| {
        ApiError::field(
            role_field,
            format!("Clean Rooms cannot assume role {role_arn}: account {account} is not a sandbox identity"),
        )
    })?;
    let client = s3_as(s3_endpoint, who);

    let mut checked_buckets: Vec<&str> = Vec::new();
    let mut pinned = Vec::new();
    let mut total = 0u64;
    for artifact in artifacts {
        let location = format!("s3://{}/{}", artifact.bucket, artifact.key);
        let field = format!("{}.location", artifact.field);
        let cannot_read =
            |what: &str| ApiError::field(&field, format!("role {role_arn} cannot read {location}: {what}"));
        // A failed HeadObject or GetObject of the artifact: its HTTP status and cause.
        let object_error = |status: Option<u16>, cause: String| match status {
            Some(404) => ApiError::field(
                &field,
                format!("no artifact at {location}: the object does not exist"),
            ),
            Some(403) => cannot_read("access denied"),
            _ => ApiError::internal(format!("could not read {location}: {cause}")),
        };
        if !checked_buckets.contains(&artifact.bucket.as_str()) {
            let versioning = client
                .get_bucket_versioning()
                .bucket(&artifact.bucket)
                .send()
                .await
                .map_err(|e| match status(&e) {
                    Some(404) => ApiError::field(
                        &format!("{field}.bucket"),
                        format!("the artifact bucket {} does not exist", artifact.bucket),
                    ),
                    Some(403) => cannot_read(&format!("access to bucket {} is denied", artifact.bucket)),
                    _ => ApiError::internal(format!(
                        "could not read the versioning of bucket {}: {}",
                        artifact.bucket,
                        describe(&e)
                    )),
                })?;
            if versioning.status().map(|s| s.as_str()) != Some("Enabled") {
                return Err(ApiError::field(
                    &format!("{field}.bucket"),
                    format!(
                        "the artifact bucket {} must have versioning enabled (it is {})",
                        artifact.bucket,
                        versioning.status().map(|s| s.as_str()).unwrap_or("never enabled")
                    ),
                ));
            }
            checked_buckets.push(&artifact.bucket);
        }
        let head = client
            .head_object()
            .bucket(&artifact.bucket)
            .key(&artifact.key)
            .send()
            .await
            .map_err(|e| object_error(status(&e), describe(&e)))?;
        let version_id = head
            .version_id()
            .map(str::to_string)
            .ok_or_else(|| ApiError::field(&field, format!("{location} has no version id")))?;
        total += head.content_length().unwrap_or(0).max(0) as u64;
        if total > MAX_TOTAL_BYTES {
            return Err(ApiError::field(
                "source.artifacts",
                format!("the artifacts weigh more than {MAX_TOTAL_BYTES} bytes together"),
            ));
        }
        let object = client
            .get_object()
            .bucket(&artifact.bucket)
            .key(&artifact.key)
            .version_id(&version_id)
            .send()
            .await
            .map_err(|e| object_error(status(&e), describe(&e)))?;
        let mut body = object.body;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| ApiError::internal(format!("could not read {location}: {e}")))?
        {
            size += chunk.len() as u64;
            hasher.update(&chunk);
        }
        pinned.push(PinnedArtifact {
            entry_point: artifact.entry_point,
            bucket: artifact.bucket.clone(),
            key: artifact.key.clone(),
            version_id,
            sha256: hex::encode(hasher.finalize()),
            size,
        });
    }
    Ok(pinned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_account_is_the_fifth_arn_field() {
        assert_eq!(
            role_account("arn:aws:iam::111111111111:role/service-role/x"),
            Some("111111111111")
        );
        assert_eq!(role_account("arn:aws-cn:iam::1:role/x"), None);
    }
}
