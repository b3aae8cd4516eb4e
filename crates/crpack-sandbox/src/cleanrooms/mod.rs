//! The sandbox's Clean Rooms endpoint: an emulator of the AWS Clean Rooms REST-JSON API, enough
//! for the real `aws-sdk-cleanrooms` client (and boto3) to create collaborations, memberships,
//! configured tables with analysis rules, associations, schemas and analysis templates.
//!
//! How it is built:
//! * [`router`]: a static route table (method, URI template, operation, success code) taken from
//!   the service model; unknown paths get a 404 `UnknownOperationException`.
//! * [`model`]: the service model's shapes (`model.json`, trimmed from botocore by
//!   `fixtures/derive-routes.py`); every request is validated against its input shape, the way
//!   the service does, and answers `ValidationException` / `FIELD_VALIDATION_FAILED` with a
//!   `fieldList` naming each bad member. Debug builds also check every response against the
//!   output shape.
//! * `ops_*`: the operations' behaviour: who may see and change what, conflicts, derived
//!   resources (schemas), and `CreateAnalysisTemplate`'s reading of the artifacts from S3
//!   ([`artifacts`]), which pins each artifact's current version and SHA-256.
//! * [`ops_jobs`] and [`executor`]: protected jobs (`StartProtectedJob`, `GetProtectedJob`,
//!   `ListProtectedJobs`, `UpdateProtectedJob`): synchronous checks when a job is started, then a
//!   background task per job that checks the tables' analysis rules and the template's pinned
//!   artifacts, runs the entry point on the local PySpark runner (or simulates the run when there
//!   is no runtime) and writes the results to the receiver's S3 location.
//! * [`state`]: all state, persisted as one JSON file (written atomically after each mutation).
//!   Jobs that were still `SUBMITTED` or `STARTED` when the sandbox stopped are not resumed:
//!   loading the state marks them `FAILED` (`INTERNAL_ERROR`), and `CANCELLING` ones `CANCELLED`.
//!
//! Identity: the caller is the account of the SigV4 key that signed the request (verified by the
//! listener before [`CleanRoomsEndpoint::handle`] is called).

mod artifacts;
mod error;
mod executor;
mod model;
mod ops_collab;
mod ops_jobs;
mod ops_tables;
mod ops_templates;
pub mod router;
mod state;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::identity::Identity;
use super::{Body, REGION, full_body};
use error::ApiError;
use state::{Doc, State};

pub use executor::codes as job_error_codes;
pub use executor::{DEFAULT_WORKERS, DELAY_ENV as JOB_DELAY_ENV, SIMULATED_MARKER, glue_location};
pub use router::{ROUTES, Route};
pub use state::PinnedArtifact;

/// The Clean Rooms endpoint. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct CleanRoomsEndpoint {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    state: Mutex<State>,
    state_file: Option<PathBuf>,
    s3_endpoint: String,
    /// The running jobs' cancellation signals.
    jobs: executor::Registry,
}

impl CleanRoomsEndpoint {
    /// `state_file`: where state is persisted (loaded if it exists; rewritten atomically after
    /// every mutation). `None`: memory only. `s3_endpoint`: the URL of the sandbox's own S3
    /// endpoint, read through the S3 API like the service does.
    pub fn open(state_file: Option<PathBuf>, s3_endpoint: String) -> std::io::Result<Self> {
        let mut state = match &state_file {
            Some(path) => State::load(path)?,
            None => State::default(),
        };
        if executor::recover(&mut state)
            && let Some(path) = &state_file
        {
            state.save(path)?;
        }
        Ok(Self {
            inner: Arc::new(Inner {
                state: Mutex::new(state),
                state_file,
                s3_endpoint,
                jobs: executor::Registry::default(),
            }),
        })
    }

    /// The artifacts a `PYSPARK_1_0` template was pinned to when it was created (entry point
    /// first, then the additional artifacts in order): bucket, key, S3 version id, SHA-256 and
    /// size. `None` if no template has this ARN; an empty list for `SQL` templates.
    pub fn pinned_artifacts(&self, template_arn: &str) -> Option<Vec<PinnedArtifact>> {
        let state = self.inner.lock();
        state.template_by_arn(template_arn).map(|t| t.pinned.clone())
    }

    /// Serves one authenticated Clean Rooms request from `caller`.
    pub async fn handle(&self, caller: &'static Identity, req: http::Request<Bytes>) -> http::Response<Body> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let matched = match router::route(req.method().as_str(), req.uri().path()) {
            Ok(m) => m,
            Err(_) => {
                return ApiError::UnknownOperation {
                    message: format!(
                        "no Clean Rooms operation matches {} {}",
                        req.method(),
                        req.uri().path()
                    ),
                }
                .response(&request_id);
            }
        };
        let op = matched.route.name;
        let result = match assemble_input(op, &matched.labels, req.uri().query().unwrap_or(""), req.body()) {
            Ok(input) => self.inner.dispatch(op, caller, &input).await,
            Err(e) => Err(e),
        };
        match result.and_then(|out| check_output(op, out)) {
            Ok(out) => success(matched.route.code, &out, &request_id),
            Err(e) => e.response(&request_id),
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs a read-only `f` on the state.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&State) -> Result<R, ApiError>) -> Result<R, ApiError> {
        f(&self.lock())
    }

    /// Runs `f` on a copy of the state; if it succeeds, persists the copy and makes it current,
    /// so a failed operation changes nothing.
    pub(crate) fn write<R>(&self, f: impl FnOnce(&mut State) -> Result<R, ApiError>) -> Result<R, ApiError> {
        let mut state = self.lock();
        let mut draft = state.clone();
        let out = f(&mut draft)?;
        if let Some(path) = &self.state_file {
            draft
                .save(path)
                .map_err(|e| ApiError::internal(format!("could not persist the sandbox state: {e}")))?;
        }
        *state = draft;
        Ok(out)
    }

    async fn dispatch(
        self: &Arc<Self>,
        op: &str,
        caller: &'static Identity,
        input: &Doc,
    ) -> Result<Value, ApiError> {
        use ops_collab as c;
        use ops_jobs as j;
        use ops_tables as t;
        use ops_templates as a;
        match op {
            "CreateCollaboration" => c::create_collaboration(self, caller, input),
            "GetCollaboration" => c::get_collaboration(self, caller, input),
            "ListCollaborations" => c::list_collaborations(self, caller, input),
            "ListMembers" => c::list_members(self, caller, input),
            "CreateMembership" => c::create_membership(self, caller, input),
            "GetMembership" => c::get_membership(self, caller, input),
            "ListMemberships" => c::list_memberships(self, caller, input),
            "UpdateMembership" => c::update_membership(self, caller, input),
            "CreateConfiguredTable" => t::create_table(self, caller, input),
            "GetConfiguredTable" => t::get_table(self, caller, input),
            "ListConfiguredTables" => t::list_tables(self, caller, input),
            "UpdateConfiguredTable" => t::update_table(self, caller, input),
            "DeleteConfiguredTable" => t::delete_table(self, caller, input),
            "CreateConfiguredTableAnalysisRule" => t::create_rule(self, caller, input),
            "GetConfiguredTableAnalysisRule" => t::get_rule(self, caller, input),
            "UpdateConfiguredTableAnalysisRule" => t::update_rule(self, caller, input),
            "DeleteConfiguredTableAnalysisRule" => t::delete_rule(self, caller, input),
            "CreateConfiguredTableAssociation" => t::create_association(self, caller, input),
            "GetConfiguredTableAssociation" => t::get_association(self, caller, input),
            "ListConfiguredTableAssociations" => t::list_associations(self, caller, input),
            "DeleteConfiguredTableAssociation" => t::delete_association(self, caller, input),
            "GetSchema" => t::get_schema(self, caller, input),
            "ListSchemas" => t::list_schemas(self, caller, input),
            "CreateAnalysisTemplate" => a::create_template(self, caller, input).await,
            "GetAnalysisTemplate" => a::get_template(self, caller, input),
            "ListAnalysisTemplates" => a::list_templates(self, caller, input),
            "UpdateAnalysisTemplate" => a::update_template(self, caller, input),
            "DeleteAnalysisTemplate" => a::delete_template(self, caller, input),
            "GetCollaborationAnalysisTemplate" => a::get_collaboration_template(self, caller, input),
            "BatchGetCollaborationAnalysisTemplate" => {
                a::batch_get_collaboration_templates(self, caller, input)
            }
            "ListCollaborationAnalysisTemplates" => a::list_collaboration_templates(self, caller, input),
            "StartProtectedJob" => j::start_job(self, caller, input),
            "GetProtectedJob" => j::get_job(self, caller, input),
            "ListProtectedJobs" => j::list_jobs(self, caller, input),
            "UpdateProtectedJob" => j::update_job(self, caller, input),
            other => Err(ApiError::UnknownOperation {
                message: format!("operation {other} is not implemented by the sandbox"),
            }),
        }
    }
}

/// Merges URI labels, query parameters and the JSON body into one input object, typed by the
/// operation's input shape, and validates it against the model.
fn assemble_input(
    op: &str,
    labels: &std::collections::HashMap<String, String>,
    query: &str,
    body: &Bytes,
) -> Result<Doc, ApiError> {
    let m = model::model();
    let shape = m
        .input(op)
        .ok_or_else(|| ApiError::internal(format!("no input shape for {op}")))?;
    let mut input: Doc = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => map,
            Ok(_) => {
                return Err(ApiError::Serialization {
                    message: "the request body must be a JSON object".into(),
                });
            }
            Err(e) => {
                return Err(ApiError::Serialization {
                    message: format!("the request body is not valid JSON: {e}"),
                });
            }
        }
    };
    let params: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let d = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (d(k), d(v))
        })
        .collect();
    let mut errors = Vec::new();
    for (name, member) in m.members(shape) {
        match member.location.as_deref() {
            Some("uri") => {
                input.remove(name);
                if let Some(v) = labels.get(&member.location_name) {
                    input.insert(name.clone(), Value::String(v.clone()));
                }
            }
            Some("querystring") => {
                input.remove(name);
                if let Some((_, v)) = params.iter().find(|(k, _)| *k == member.location_name) {
                    let value = match m.shape(&member.shape) {
                        Some(model::Shape::Integer { .. }) => match v.parse::<i64>() {
                            Ok(n) => json!(n),
                            Err(_) => {
                                errors.push(model::FieldError {
                                    name: name.clone(),
                                    message: format!(
                                        "Value '{v}' at '{name}' failed to satisfy constraint: Member must be an integer"
                                    ),
                                });
                                continue;
                            }
                        },
                        _ => Value::String(v.clone()),
                    };
                    input.insert(name.clone(), value);
                }
            }
            _ => {}
        }
    }
    if errors.is_empty() {
        m.validate(shape, &Value::Object(input.clone()), "", &mut errors);
    }
    if errors.is_empty() {
        Ok(input)
    } else {
        Err(ApiError::fields(errors))
    }
}

/// In debug builds, checks a success response against the operation's output shape, so a
/// response the SDK could not trust never leaves the sandbox unnoticed. (The state change, if
/// any, is already made: this is a bug detector, not a validation.)
fn check_output(op: &str, out: Value) -> Result<Value, ApiError> {
    if cfg!(debug_assertions) {
        let m = model::model();
        if let Some(shape) = m.output(op) {
            let mut errors = Vec::new();
            m.validate_output(shape, &out, &mut errors);
            if !errors.is_empty() {
                let detail: Vec<String> = errors.iter().map(|e| e.message.clone()).collect();
                let message = format!(
                    "sandbox bug: the {op} response does not match the model: {}",
                    detail.join("; ")
                );
                eprintln!("{message}");
                return Err(ApiError::internal(message));
            }
        }
    }
    Ok(out)
}

fn success(code: u16, out: &Value, request_id: &str) -> http::Response<Body> {
    let builder = http::Response::builder()
        .status(code)
        .header("x-amzn-requestid", request_id);
    if code == 204 {
        builder.body(full_body(Bytes::new())).expect("valid response")
    } else {
        builder
            .header("content-type", "application/json")
            .body(full_body(Bytes::from(out.to_string())))
            .expect("valid response")
    }
}

/// The current time as the service sends timestamps: epoch seconds, millisecond precision.
pub(crate) fn now() -> Value {
    let millis = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    json!(millis as f64 / 1000.0)
}

/// A new resource id: a lowercase UUID.
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `arn:aws:cleanrooms:us-east-1:<account>:<resource>`.
pub(crate) fn arn(account: &str, resource: &str) -> String {
    format!("arn:aws:cleanrooms:{REGION}:{account}:{resource}")
}

/// The string member `key` of the input, if present.
pub(crate) fn opt_str<'a>(input: &'a Doc, key: &str) -> Option<&'a str> {
    input.get(key).and_then(Value::as_str)
}

/// Copies the members `keys` present in `from` into `to`.
pub(crate) fn copy_members(from: &Doc, to: &mut Doc, keys: &[&str]) {
    for key in keys {
        if let Some(v) = from.get(*key)
            && !v.is_null()
        {
            to.insert((*key).to_string(), v.clone());
        }
    }
}

/// One page of `items` per the request's `maxResults` (1–100, default 100) and opaque
/// `nextToken`; returns the page and the token for the next one.
pub(crate) fn paginate(
    op: &str,
    items: Vec<Value>,
    input: &Doc,
) -> Result<(Vec<Value>, Option<String>), ApiError> {
    let max = input.get("maxResults").and_then(Value::as_u64).unwrap_or(100) as usize;
    let start = match opt_str(input, "nextToken") {
        None => 0,
        Some(token) => base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|t| {
                t.strip_prefix(&format!("crpack-sandbox:{op}:"))
                    .map(str::to_string)
            })
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n <= items.len())
            .ok_or_else(|| ApiError::field("nextToken", "The nextToken is invalid or expired"))?,
    };
    let end = (start + max).min(items.len());
    let next = (end < items.len()).then(|| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("crpack-sandbox:{op}:{end}"))
    });
    Ok((items[start..end].to_vec(), next))
}

/// `{ key: page, "nextToken": next? }`.
pub(crate) fn page_response(op: &str, key: &str, items: Vec<Value>, input: &Doc) -> Result<Value, ApiError> {
    let (page, next) = paginate(op, items, input)?;
    let mut out = json!({ key: page });
    if let Some(next) = next {
        out["nextToken"] = json!(next);
    }
    Ok(out)
}

/// A resource looked up for the caller, or why the caller may not use it.
pub(crate) type Found<'a, T> = Result<&'a T, ApiError>;

/// `found`, the resource `(type, id)` (`ResourceNotFoundException` when `None`), if the caller
/// is `allowed` to use it (`AccessDeniedException` with the message `denied` otherwise).
pub(crate) fn found_allowed<'a, T>(
    found: Option<&'a T>,
    (resource_type, id): (&'static str, &str),
    allowed: impl FnOnce(&T) -> bool,
    denied: impl FnOnce() -> String,
) -> Found<'a, T> {
    let found = found.ok_or_else(|| ApiError::not_found(resource_type, id))?;
    if !allowed(found) {
        return Err(ApiError::denied(denied()));
    }
    Ok(found)
}

/// `{ key: doc }`: the document `find` looks up in the state.
pub(crate) fn get_doc(
    inner: &Inner,
    key: &str,
    find: impl FnOnce(&State) -> Result<&Doc, ApiError>,
) -> Result<Value, ApiError> {
    inner.read(|state| Ok(json!({ key: find(state)? })))
}

/// A list operation's answer: the items `read` collects from the state, paged per the request.
pub(crate) fn list_page(
    inner: &Inner,
    input: &Doc,
    op: &str,
    key: &str,
    read: impl FnOnce(&State) -> Result<Vec<Value>, ApiError>,
) -> Result<Value, ApiError> {
    let items = inner.read(read)?;
    page_response(op, key, items, input)
}

/// `doc` projected onto the model's shape `shape`, as a value.
pub(crate) fn projected(shape: &str, doc: &Doc) -> Value {
    Value::Object(model::model().project(shape, doc))
}

/// The request's `tags` (empty when it has none).
pub(crate) fn input_tags(input: &Doc) -> Doc {
    input
        .get("tags")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// The caller's account id.
pub(crate) fn identity_account(caller: &Identity) -> &'static str {
    caller.account_id
}
