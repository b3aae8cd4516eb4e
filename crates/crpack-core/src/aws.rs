//! AWS access: configuration from aws-config's default chain (environment, profiles, SSO,
//! credential_process, `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>`), clients with the
//! standard retry policy, and remote errors turned into one clear line with the fix.

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::interceptors::{BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextMut};
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::{BoxError, ProvideErrorMetadata, SdkError};
use aws_smithy_types::config_bag::{Storable, StoreReplace};

use crate::error::Error;
use crate::text::escape;

/// The AWS configuration cannot make clients.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Neither the options, the project nor the environment name a region.
    #[error("no AWS region configured: pass --region, set AWS_REGION, or add `region` to [publish]")]
    NoRegion,
}

/// A remote call that failed: which call, the service's error code when it sent one, and what
/// went wrong with the fix. Printed as `CALL: DETAIL` (or just the detail when no single call is
/// to blame).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteError {
    /// The call and what it was about, e.g. `PutObject s3://bucket/key`.
    pub call: Option<String>,
    /// The service's error code (`AccessDeniedException`), when the service answered with one.
    pub code: Option<String>,
    /// The cause and, where one is known, the fix.
    pub detail: String,
}

impl RemoteError {
    /// A failed call and why.
    pub fn call(call: impl Into<String>, detail: impl Into<String>) -> Self {
        RemoteError {
            call: Some(call.into()),
            code: None,
            detail: detail.into(),
        }
    }

    /// Remote state that is wrong, found after the calls themselves succeeded.
    pub fn state(detail: impl Into<String>) -> Self {
        RemoteError {
            call: None,
            code: None,
            detail: detail.into(),
        }
    }

    /// A call that succeeded but answered without the object it exists to return.
    pub fn empty_response(call: impl Into<String>) -> Self {
        RemoteError::call(call, "empty response")
    }
}

impl std::fmt::Display for RemoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.call {
            Some(call) => write!(f, "{call}: {}", self.detail),
            None => f.write_str(&self.detail),
        }
    }
}

impl std::error::Error for RemoteError {}

/// An SDK request value could not be built because a required field was not set: a defect
/// in crpack, not in the input.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot assemble the {input} of the request: {source}; this is a defect in crpack, not in your project: \
     report it with the command line that failed"
)]
pub struct RequestError {
    /// The SDK type being built, e.g. `S3Location`.
    pub input: &'static str,
    pub source: aws_smithy_types::error::operation::BuildError,
}

/// Turns the result of an SDK input builder's `.build()` into crpack's error, naming the input.
pub fn built<T>(
    input: &'static str,
    result: Result<T, aws_smithy_types::error::operation::BuildError>,
) -> Result<T, Error> {
    result.map_err(|source| Error::Request(RequestError { input, source }))
}

/// Attempts per call (the first try plus retries) for throttling, 5xx and transient errors.
pub const MAX_ATTEMPTS: u32 = 5;

/// Which profile and region to load; `None` leaves the choice to the default chain.
#[derive(Clone, Debug, Default)]
pub struct AwsOptions {
    pub profile: Option<String>,
    pub region: Option<String>,
}

/// Clients for one account and region.
#[derive(Clone, Debug)]
pub struct Aws {
    pub config: SdkConfig,
    pub s3: aws_sdk_s3::Client,
    pub cleanrooms: aws_sdk_cleanrooms::Client,
}

impl Aws {
    /// Loads the default chain. The options' profile and region win over `fallback_region`
    /// (e.g. `[publish] region`), which wins over the environment and profile.
    pub async fn load(args: &AwsOptions, fallback_region: Option<&str>) -> Result<Aws, Error> {
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
            // Configuration, not the command line: exit 3.
            return Err(ConfigError::NoRegion.into());
        }
        Ok(Aws::from_config(config))
    }

    /// Clients from an explicit configuration (used by the demo and tests).
    pub fn from_config(config: SdkConfig) -> Aws {
        let s3_conf = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(path_style_wanted(&config))
            .interceptor(TraceCalls)
            .build();
        let cleanrooms_conf = aws_sdk_cleanrooms::config::Builder::from(&config)
            .interceptor(TraceCalls)
            .build();
        Aws {
            s3: aws_sdk_s3::Client::from_conf(s3_conf),
            cleanrooms: aws_sdk_cleanrooms::Client::from_conf(cleanrooms_conf),
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
        .ok_or_else(|| RemoteError::empty_response(format!("GetMembership {membership_id}")).into())
}

/// Whether a service error has this code.
pub fn is_code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>, codes: &[&str]) -> bool {
    err.code().is_some_and(|c| codes.contains(&c))
}

/// The HTTP status of a service error, if the call got that far.
pub fn status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// Where a call went and how many attempts it made, as the clients' interceptor recorded it: on
/// the response when there is one (service and response errors), and on the error when the
/// endpoint could not be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallTrace {
    /// `scheme://host[:port]` of the last attempt's request.
    pub endpoint: String,
    /// Attempts made, the first try included.
    pub attempts: u32,
}

impl CallTrace {
    fn attempts_text(&self) -> String {
        match self.attempts {
            1 => "after 1 attempt".to_string(),
            n => format!("after {n} attempts"),
        }
    }
}

#[derive(Debug, Clone)]
struct Attempts(u32);

impl Storable for Attempts {
    type Storer = StoreReplace<Self>;
}

#[derive(Debug, Clone)]
struct LastEndpoint(String);

impl Storable for LastEndpoint {
    type Storer = StoreReplace<Self>;
}

/// A connection-level failure with the endpoint it concerned. The SDK's own error keeps no trace
/// of the request, so the interceptor wraps it in this one once the retries are over.
#[derive(Debug)]
struct Unreachable {
    trace: CallTrace,
    source: BoxError,
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no response from {} {}",
            self.trace.endpoint,
            self.trace.attempts_text()
        )
    }
}

impl std::error::Error for Unreachable {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.source.as_ref())
    }
}

/// Records each call's endpoint and attempt count for [`describe`].
#[derive(Debug)]
struct TraceCalls;

impl Intercept for TraceCalls {
    fn name(&self) -> &'static str {
        "crpack::aws::TraceCalls"
    }

    fn read_before_attempt(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let n = cfg.load::<Attempts>().map_or(0, |a| a.0);
        cfg.interceptor_state().store_put(Attempts(n + 1));
        Ok(())
    }

    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state()
            .store_put(LastEndpoint(endpoint_of(ctx.request().uri())));
        Ok(())
    }

    fn modify_before_completion(
        &self,
        ctx: &mut FinalizerInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(LastEndpoint(endpoint)) = cfg.load::<LastEndpoint>().cloned() else {
            return Ok(()); // nothing was sent (e.g. no credentials): nothing to name
        };
        let trace = CallTrace {
            endpoint,
            attempts: cfg.load::<Attempts>().map_or(1, |a| a.0),
        };
        if let Some(response) = ctx.response_mut() {
            response.add_extension(trace);
            return Ok(());
        }
        let unreachable = matches!(ctx.output_or_error(), Some(Err(e)) if e.is_connector_error());
        if unreachable && let Some(Err(original)) = ctx.inner_mut().take_output_or_error() {
            // Failing this hook replaces the error; the original stays the source.
            return Err(Box::new(Unreachable {
                trace,
                source: Box::new(original),
            }));
        }
        Ok(())
    }
}

/// `scheme://authority` of a request URI (the whole URI when it does not parse).
fn endpoint_of(uri: &str) -> String {
    match uri.parse::<http::Uri>() {
        Ok(u) => match (u.scheme_str(), u.authority()) {
            (Some(scheme), Some(authority)) => format!("{scheme}://{authority}"),
            _ => uri.to_string(),
        },
        Err(_) => uri.to_string(),
    }
}

/// The call's trace: from the response, or from a connection failure.
pub fn trace<E>(err: &SdkError<E, HttpResponse>) -> Option<CallTrace>
where
    E: std::error::Error + 'static,
{
    if let Some(t) = err.raw_response().and_then(|r| r.extension::<CallTrace>()) {
        return Some(t.clone());
    }
    find_unreachable(err).map(|u| u.trace.clone())
}

fn find_unreachable<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a Unreachable> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(u) = e.downcast_ref::<Unreachable>() {
            return Some(u);
        }
        cur = e.source();
    }
    None
}

/// HTTP statuses the SDK's standard retry policy retries whatever the error code.
const RETRIED_STATUSES: [u16; 4] = [500, 502, 503, 504];

/// Whether an error code says the caller was throttled (the SDK retries these).
fn is_throttling(code: &str) -> bool {
    code.contains("Throttl")
        || matches!(
            code,
            "SlowDown" | "TooManyRequestsException" | "RequestLimitExceeded" | "BandwidthLimitExceeded"
        )
}

/// Runs `$body` on every page of a paginated `$request` (a fluent builder, before
/// `into_paginator`), in order; a page that fails ends the enclosing function with the error
/// [`describe`]d as the call `$what` (a `&str`, built only on failure). `$body` may `return`.
macro_rules! each_page {
    ($request:expr, $what:expr, |$page:ident| $body:expr) => {{
        let mut pages = $request.into_paginator().send();
        while let Some($page) = pages.next().await {
            let $page = $page.map_err(|e| $crate::aws::describe($what, &e))?;
            $body;
        }
    }};
}
pub(crate) use each_page;

/// Every member of a collaboration (ListMembers, all pages).
pub async fn members(
    aws: &Aws,
    collaboration_id: &str,
) -> Result<Vec<aws_sdk_cleanrooms::types::MemberSummary>, Error> {
    let mut out = Vec::new();
    let request = aws.cleanrooms.list_members();
    each_page!(
        request.collaboration_identifier(collaboration_id),
        &format!("ListMembers {collaboration_id}"),
        |page| out.extend(page.member_summaries().iter().cloned())
    );
    Ok(out)
}

/// One line for a failed remote call: what failed, why, where, and what to do. Text that came
/// from the service or the network is escaped (see [`escape`]).
pub fn describe<E>(what: &str, err: &SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = escape(err.code().unwrap_or("")).into_owned();
    let message = escape(err.message().unwrap_or("")).into_owned();
    let trace = trace(err);
    let at = trace
        .as_ref()
        .map(|t| format!(" at {}", t.endpoint))
        .unwrap_or_default();
    let attempts = trace
        .as_ref()
        .map(CallTrace::attempts_text)
        .unwrap_or_else(|| format!("after up to {MAX_ATTEMPTS} attempts"));
    let text = match err {
        SdkError::ConstructionFailure(_) => {
            format!("{what}: the request could not be built: {}", source_chain(err))
        }
        SdkError::TimeoutError(_) => {
            format!("{what}: timed out{at}; check the network and the endpoint, then retry")
        }
        SdkError::DispatchFailure(d) => match find_unreachable(err) {
            Some(u) => {
                // Below the wrapper: the SDK's orchestrator error, then the connector's chain.
                let chain = u
                    .source
                    .source()
                    .map(source_chain)
                    .unwrap_or_else(|| source_chain(u.source.as_ref()));
                format!(
                    "{what}: cannot reach {} {} ({chain}); check the network, the region, and \
                     AWS_ENDPOINT_URL if you use one",
                    u.trace.endpoint,
                    u.trace.attempts_text()
                )
            }
            None => {
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
        },
        SdkError::ResponseError(_) => {
            let status = status(err).map(|s| format!(" (HTTP {s})")).unwrap_or_default();
            let cause = std::error::Error::source(err).map_or_else(|| source_chain(err), source_chain);
            format!(
                "{what}: the response{at}{status} could not be read {attempts}: {cause}; retry, and if it \
                 persists check that the endpoint is the service it should be"
            )
        }
        SdkError::ServiceError(_) if code.is_empty() => {
            let status = status(err).unwrap_or(0);
            if (200..300).contains(&status) {
                let cause = err
                    .as_service_error()
                    .and_then(|e| e.source())
                    .map(source_chain)
                    .unwrap_or_else(|| "no detail".to_string());
                format!(
                    "{what}: the response{at} (HTTP {status}) could not be parsed: {cause}; the endpoint does \
                     not answer as the AWS service does: check AWS_ENDPOINT_URL (or the AWS_ENDPOINT_URL_<SERVICE> \
                     variable) and that the server implements this operation"
                )
            } else if status == 429 || RETRIED_STATUSES.contains(&status) {
                let said = match (message.is_empty(), what.starts_with("Head")) {
                    (false, _) => format!(": {message}"),
                    (true, true) => " (a HEAD response has no body to carry an error code)".to_string(),
                    (true, false) => " (the response carried no error code)".to_string(),
                };
                format!(
                    "{what}: throttled or unavailable{at}: HTTP {status} {attempts}{said} — the service is \
                     overloaded or down: wait and run again"
                )
            } else {
                let message = if message.is_empty() {
                    String::new()
                } else {
                    format!(": {message}")
                };
                format!("{what}: HTTP {status}{at}{message}")
            }
        }
        SdkError::ServiceError(_) => {
            let fix = match code.as_str() {
                "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" => {
                    " — the credentials have expired: refresh them (e.g. `aws sso login`) and retry".to_string()
                }
                "InvalidAccessKeyId" | "UnrecognizedClientException" | "InvalidClientTokenId" => {
                    " — the access key is not known: check AWS_ACCESS_KEY_ID / the profile".to_string()
                }
                "SignatureDoesNotMatch" | "InvalidSignatureException" => {
                    " — the secret key does not match the access key: check the credentials".to_string()
                }
                "AccessDenied" | "AccessDeniedException" | "Forbidden" => {
                    " — the caller lacks permission: check the IAM policy (and the bucket policy or collaboration membership)".to_string()
                }
                "NoSuchBucket" => " — the bucket does not exist: create it or fix [publish] bucket".to_string(),
                "ServiceQuotaExceededException" => {
                    " — a service quota is exhausted: ask for an increase or clean up".to_string()
                }
                c if is_throttling(c) => format!(" — still throttled {attempts}: wait and run again"),
                _ => String::new(),
            };
            let detail = validation_detail(err);
            let message = if message.is_empty() {
                String::new()
            } else {
                format!(": {message}")
            };
            format!("{what}: {code}{at}{message}{detail}{fix}")
        }
        _ => format!("{what}: {}", source_chain(err)),
    };
    let code = (!code.is_empty()).then_some(code);
    let remote = match text.strip_prefix(what).and_then(|t| t.strip_prefix(": ")) {
        Some(detail) => RemoteError {
            call: Some(what.to_string()),
            code,
            detail: detail.to_string(),
        },
        None => RemoteError {
            call: None,
            code,
            detail: text,
        },
    };
    Error::Remote(remote)
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
        out.push_str(&format!(" (reason {})", escape(reason)));
    }
    if let Some(fields) = json.get("fieldList").and_then(|f| f.as_array()) {
        let parts: Vec<String> = fields
            .iter()
            .map(|f| {
                format!(
                    "{}: {}",
                    escape(f.get("name").and_then(|v| v.as_str()).unwrap_or("?")),
                    escape(f.get("message").and_then(|v| v.as_str()).unwrap_or(""))
                )
            })
            .collect();
        if !parts.is_empty() {
            out.push_str(&format!("; fields: {}", parts.join("; ")));
        }
    }
    out
}

/// An error and its sources, one after the other, escaped for printing. The SDK's
/// "This is likely a bug in the SDK." after a parse error is dropped: here it is the endpoint's
/// answer that does not fit.
pub fn source_chain(err: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = cur {
        let s = e.to_string();
        let s = match s.strip_suffix(" This is likely a bug in the SDK.") {
            Some(rest) => rest.trim_end_matches('.').to_string(),
            None => s,
        };
        if parts.last() != Some(&s) {
            parts.push(s);
        }
        cur = e.source();
    }
    escape(&parts.join(": ")).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_scheme_and_authority() {
        assert_eq!(
            endpoint_of("http://127.0.0.1:4566/bucket/key?versionId=1"),
            "http://127.0.0.1:4566"
        );
        assert_eq!(
            endpoint_of("https://b.s3.us-east-1.amazonaws.com/k"),
            "https://b.s3.us-east-1.amazonaws.com"
        );
        assert_eq!(endpoint_of("/relative"), "/relative");
    }

    #[derive(Debug)]
    struct Leaf(&'static str);
    impl std::fmt::Display for Leaf {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Leaf {}

    #[test]
    fn a_service_error_keeps_the_call_the_code_and_the_fix() {
        use aws_sdk_s3::error::ErrorMetadata;
        use aws_sdk_s3::operation::get_object::GetObjectError;
        let raw = HttpResponse::new(403.try_into().unwrap(), aws_smithy_types::body::SdkBody::empty());
        let meta = ErrorMetadata::builder()
            .code("AccessDenied")
            .message("no")
            .build();
        let err = SdkError::service_error(GetObjectError::generic(meta), raw);
        let Error::Remote(r) = describe("GetObject s3://b/k", &err) else {
            panic!("not a remote error");
        };
        assert_eq!(r.call.as_deref(), Some("GetObject s3://b/k"));
        assert_eq!(r.code.as_deref(), Some("AccessDenied"));
        let text = r.to_string();
        assert!(text.starts_with("GetObject s3://b/k: AccessDenied: no"), "{text}");
        assert!(text.contains("check the IAM policy"), "{text}");
    }

    #[test]
    fn remote_errors_print_the_call_then_the_detail() {
        assert_eq!(
            RemoteError::empty_response("StartProtectedJob").to_string(),
            "StartProtectedJob: empty response"
        );
        assert_eq!(
            RemoteError::state("the rule vanished").to_string(),
            "the rule vanished"
        );
        let e = Error::from(RemoteError::state("x"));
        assert_eq!(
            (e.kind(), e.exit_code()),
            ("remote", crate::error::ExitCode::Error)
        );
    }

    #[test]
    fn configuration_and_request_errors_say_the_cause_and_the_fix() {
        let e = Error::from(ConfigError::NoRegion);
        assert_eq!(e.exit_code(), crate::error::ExitCode::Error);
        assert_eq!(e.kind(), "other");
        assert!(e.to_string().contains("set AWS_REGION"));
        let e = built(
            "S3Location",
            aws_sdk_cleanrooms::types::S3Location::builder().build(),
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("S3Location") && msg.contains("report it"), "{msg}");
        assert_eq!(
            (e.kind(), e.exit_code()),
            ("other", crate::error::ExitCode::Error)
        );
    }

    #[test]
    fn chains_are_escaped_and_drop_the_sdk_hint() {
        let e = Leaf("expected VersioningConfiguration but got Foo. This is likely a bug in the SDK.");
        assert_eq!(source_chain(&e), "expected VersioningConfiguration but got Foo");
        let e = Leaf("bad\u{202E}name\n");
        assert_eq!(source_chain(&e), "bad\\u{202E}name\\u{000A}");
    }
}
