//! AWS access: configuration from aws-config's default chain (environment, profiles, SSO,
//! credential_process, `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>`), clients with the
//! standard retry policy, and remote errors turned into one clear line with the fix.

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use crate::cli::AwsArgs;
use crate::error::Error;

/// Attempts per call (the first try plus retries) for throttling, 5xx and transient errors.
pub const MAX_ATTEMPTS: u32 = 5;

/// Clients for one account and region.
#[derive(Clone, Debug)]
pub struct Aws {
    pub config: SdkConfig,
    pub s3: aws_sdk_s3::Client,
    pub cleanrooms: aws_sdk_cleanrooms::Client,
}

impl Aws {
    /// Loads the default chain. `--profile`/`--region` win over `fallback_region` (e.g.
    /// `[publish] region`), which wins over the environment and profile.
    pub async fn load(args: &AwsArgs, fallback_region: Option<&str>) -> Result<Aws, Error> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
        if let Some(p) = &args.profile {
            loader = loader.profile_name(p);
        }
        if let Some(r) = args.region.as_deref().or(fallback_region) {
            loader = loader.region(Region::new(r.to_string()));
        }
        let config = loader.load().await;
        if config.region().is_none() {
            return Err(Error::Usage(
                "no AWS region configured: pass --region, set AWS_REGION, or add `region` to [publish]"
                    .into(),
            ));
        }
        Ok(Aws::from_config(config))
    }

    /// Clients from an explicit configuration (used by the demo and tests).
    pub fn from_config(config: SdkConfig) -> Aws {
        let s3_conf = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(path_style_wanted(&config))
            .build();
        Aws {
            s3: aws_sdk_s3::Client::from_conf(s3_conf),
            cleanrooms: aws_sdk_cleanrooms::Client::new(&config),
            config,
        }
    }

    /// The configured region.
    pub fn region(&self) -> String {
        self.config.region().map(|r| r.to_string()).unwrap_or_default()
    }
}

/// Path-style S3 addressing when an endpoint override points at a host without wildcard DNS
/// (an IP address or `localhost`), as local S3-compatible servers need.
fn path_style_wanted(config: &SdkConfig) -> bool {
    let candidates = [
        std::env::var("AWS_ENDPOINT_URL_S3").ok(),
        config.endpoint_url().map(str::to_string),
        std::env::var("AWS_ENDPOINT_URL").ok(),
    ];
    candidates.into_iter().flatten().any(|url| {
        let host = url
            .split("://")
            .nth(1)
            .unwrap_or(&url)
            .split(['/', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        host == "localhost" || host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[')
    })
}

/// A config for explicit static credentials and an endpoint (the sandbox).
pub async fn static_config(endpoint: &str, region: &str, access_key: &str, secret_key: &str) -> SdkConfig {
    let creds = aws_credential_types::Credentials::new(access_key, secret_key, None, None, "crpack-static");
    aws_config::defaults(BehaviorVersion::latest())
        .no_credentials()
        .credentials_provider(creds)
        .region(Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .load()
        .await
}

/// Reads a membership (`GetMembership`), with the error described.
pub async fn membership(
    aws: &Aws,
    membership_id: &str,
) -> Result<aws_sdk_cleanrooms::types::Membership, Error> {
    let out = aws
        .cleanrooms
        .get_membership()
        .membership_identifier(membership_id)
        .send()
        .await
        .map_err(|e| describe(&format!("GetMembership {membership_id}"), &e))?;
    out.membership
        .ok_or_else(|| Error::Remote(format!("GetMembership {membership_id}: empty response")))
}

/// Whether a service error has this code.
pub fn is_code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>, codes: &[&str]) -> bool {
    err.code().is_some_and(|c| codes.contains(&c))
}

/// The HTTP status of a service error, if the call got that far.
pub fn status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// One line for a failed remote call: what failed, why, and what to do.
pub fn describe<E>(what: &str, err: &SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = err.code().unwrap_or("");
    let message = err.message().unwrap_or("").to_string();
    let text = match err {
        SdkError::ConstructionFailure(_) => {
            format!("{what}: the request could not be built: {}", source_chain(err))
        }
        SdkError::TimeoutError(_) => {
            format!("{what}: timed out; check the network and the endpoint, then retry")
        }
        SdkError::DispatchFailure(d) => {
            let chain = source_chain(err);
            if chain.contains("credential") || d.as_other().is_some() && chain.contains("provider") {
                format!(
                    "{what}: no usable AWS credentials ({chain}); configure them with `aws configure`, \
                     `aws sso login`, --profile, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
                )
            } else {
                format!(
                    "{what}: cannot reach the endpoint ({chain}); check the network, the region, \
                     and AWS_ENDPOINT_URL if you use one"
                )
            }
        }
        SdkError::ResponseError(_) => {
            format!("{what}: the response could not be read: {}", source_chain(err))
        }
        SdkError::ServiceError(_) => {
            let status = status(err).unwrap_or(0);
            let fix = match code {
                "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" => {
                    " — the credentials have expired: refresh them (e.g. `aws sso login`) and retry"
                }
                "InvalidAccessKeyId" | "UnrecognizedClientException" | "InvalidClientTokenId" => {
                    " — the access key is not known: check AWS_ACCESS_KEY_ID / the profile"
                }
                "SignatureDoesNotMatch" | "InvalidSignatureException" => {
                    " — the secret key does not match the access key: check the credentials"
                }
                "AccessDenied" | "AccessDeniedException" | "Forbidden" => {
                    " — the caller lacks permission: check the IAM policy (and the bucket policy or collaboration membership)"
                }
                "NoSuchBucket" => " — the bucket does not exist: create it or fix [publish] bucket",
                "ThrottlingException" | "SlowDown" | "TooManyRequestsException" => {
                    " — still throttled after retries: wait and run again"
                }
                "ServiceQuotaExceededException" => {
                    " — a service quota is exhausted: ask for an increase or clean up"
                }
                _ => "",
            };
            let detail = validation_detail(err);
            let code = if code.is_empty() {
                format!("HTTP {status}")
            } else {
                code.to_string()
            };
            let message = if message.is_empty() {
                String::new()
            } else {
                format!(": {message}")
            };
            format!("{what}: {code}{message}{detail}{fix}")
        }
        _ => format!("{what}: {}", source_chain(err)),
    };
    Error::Remote(text)
}

/// `reason` and `fieldList` of a Clean Rooms ValidationException, read from the raw body.
fn validation_detail<E>(err: &SdkError<E, HttpResponse>) -> String {
    let Some(body) = err.raw_response().and_then(|r| r.body().bytes()) else {
        return String::new();
    };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        return String::new();
    };
    let mut out = String::new();
    if let Some(reason) = json.get("reason").and_then(|r| r.as_str()) {
        out.push_str(&format!(" (reason {reason})"));
    }
    if let Some(fields) = json.get("fieldList").and_then(|f| f.as_array()) {
        let parts: Vec<String> = fields
            .iter()
            .map(|f| {
                format!(
                    "{}: {}",
                    f.get("name").and_then(|v| v.as_str()).unwrap_or("?"),
                    f.get("message").and_then(|v| v.as_str()).unwrap_or("")
                )
            })
            .collect();
        if !parts.is_empty() {
            out.push_str(&format!("; fields: {}", parts.join("; ")));
        }
    }
    out
}

fn source_chain(err: &dyn std::error::Error) -> String {
    let mut parts = Vec::new();
    let mut cur: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = cur {
        let s = e.to_string();
        if parts.last() != Some(&s) {
            parts.push(s);
        }
        cur = e.source();
    }
    parts.join(": ")
}
