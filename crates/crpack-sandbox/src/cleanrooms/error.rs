//! The service's error shapes and how they go on the wire: the model's status code, the shape name
//! in `x-amzn-ErrorType`, a JSON body with `message` and the shape's other members.

use bytes::Bytes;
use serde_json::{Value, json};

use super::model::FieldError;
use crate::{Body, full_body};

/// `ResourceNotFoundException.resourceType` / `ConflictException.resourceType` values. The
/// model's enum has the first four; templates have no value there, so the sandbox sends
/// `ANALYSIS_TEMPLATE` (the SDK maps it to `ResourceType::Unknown`).
pub(crate) const COLLABORATION: &str = "COLLABORATION";
pub(crate) const MEMBERSHIP: &str = "MEMBERSHIP";
pub(crate) const CONFIGURED_TABLE: &str = "CONFIGURED_TABLE";
pub(crate) const CONFIGURED_TABLE_ASSOCIATION: &str = "CONFIGURED_TABLE_ASSOCIATION";
pub(crate) const ANALYSIS_TEMPLATE: &str = "ANALYSIS_TEMPLATE";

/// An error the endpoint answers with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ApiError {
    /// 400 `ValidationException`. `reason`: `FIELD_VALIDATION_FAILED` or `INVALID_CONFIGURATION`.
    Validation {
        message: String,
        reason: &'static str,
        fields: Vec<FieldError>,
    },
    /// 404 `ResourceNotFoundException`.
    NotFound {
        message: String,
        resource_id: String,
        resource_type: &'static str,
    },
    /// 409 `ConflictException`. `reason`: `ALREADY_EXISTS`, `SUBRESOURCES_EXIST`, `INVALID_STATE`.
    Conflict {
        message: String,
        resource_id: String,
        resource_type: Option<&'static str>,
        reason: &'static str,
    },
    /// 403 `AccessDeniedException`.
    AccessDenied { message: String },
    /// 500 `InternalServerException`.
    Internal { message: String },
    /// 404 `UnknownOperationException`: no route for the method and path.
    UnknownOperation { message: String },
    /// 400 `SerializationException`: the body is not a JSON object.
    Serialization { message: String },
}

impl ApiError {
    /// A `FIELD_VALIDATION_FAILED` error naming the violated fields.
    pub fn fields(fields: Vec<FieldError>) -> ApiError {
        let n = fields.len();
        let message = format!(
            "{n} validation error{} detected: {}",
            if n == 1 { "" } else { "s" },
            fields
                .iter()
                .map(|f| f.message.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        );
        ApiError::Validation {
            message,
            reason: "FIELD_VALIDATION_FAILED",
            fields,
        }
    }

    /// A `FIELD_VALIDATION_FAILED` error for one field.
    pub fn field(name: &str, message: impl Into<String>) -> ApiError {
        let message = message.into();
        ApiError::Validation {
            message: message.clone(),
            reason: "FIELD_VALIDATION_FAILED",
            fields: vec![FieldError {
                name: name.to_string(),
                message,
            }],
        }
    }

    /// An `INVALID_CONFIGURATION` error (the input is well formed but not acceptable).
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::Validation {
            message: message.into(),
            reason: "INVALID_CONFIGURATION",
            fields: Vec::new(),
        }
    }

    pub fn not_found(resource_type: &'static str, resource_id: &str) -> ApiError {
        let what = resource_type.to_lowercase().replace('_', " ");
        ApiError::NotFound {
            message: format!("Resource not found: {what} {resource_id} does not exist"),
            resource_id: resource_id.to_string(),
            resource_type,
        }
    }

    pub fn conflict(
        reason: &'static str,
        resource_type: Option<&'static str>,
        resource_id: &str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError::Conflict {
            message: message.into(),
            resource_id: resource_id.to_string(),
            resource_type,
            reason,
        }
    }

    pub fn denied(message: impl Into<String>) -> ApiError {
        ApiError::AccessDenied {
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::Internal {
            message: message.into(),
        }
    }

    /// The error shape name (`x-amzn-ErrorType`).
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Validation { .. } => "ValidationException",
            ApiError::NotFound { .. } => "ResourceNotFoundException",
            ApiError::Conflict { .. } => "ConflictException",
            ApiError::AccessDenied { .. } => "AccessDeniedException",
            ApiError::Internal { .. } => "InternalServerException",
            ApiError::UnknownOperation { .. } => "UnknownOperationException",
            ApiError::Serialization { .. } => "SerializationException",
        }
    }

    /// The HTTP status code (from the model's `error.httpStatusCode`).
    pub fn status(&self) -> u16 {
        match self {
            ApiError::Validation { .. } | ApiError::Serialization { .. } => 400,
            ApiError::NotFound { .. } | ApiError::UnknownOperation { .. } => 404,
            ApiError::Conflict { .. } => 409,
            ApiError::AccessDenied { .. } => 403,
            ApiError::Internal { .. } => 500,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        match self {
            ApiError::Validation {
                message,
                reason,
                fields,
            } => {
                let mut body = json!({ "message": message, "reason": reason });
                if !fields.is_empty() {
                    body["fieldList"] = fields
                        .iter()
                        .map(|f| json!({ "name": f.name, "message": f.message }))
                        .collect();
                }
                body
            }
            ApiError::NotFound {
                message,
                resource_id,
                resource_type,
            } => json!({ "message": message, "resourceId": resource_id, "resourceType": resource_type }),
            ApiError::Conflict {
                message,
                resource_id,
                resource_type,
                reason,
            } => {
                let mut body = json!({ "message": message, "resourceId": resource_id, "reason": reason });
                if let Some(t) = resource_type {
                    body["resourceType"] = json!(t);
                }
                body
            }
            ApiError::AccessDenied { message } => {
                json!({ "message": message, "reason": "INSUFFICIENT_PERMISSIONS" })
            }
            ApiError::Internal { message }
            | ApiError::UnknownOperation { message }
            | ApiError::Serialization { message } => json!({ "message": message }),
        }
    }

    /// The HTTP response.
    pub fn response(&self, request_id: &str) -> http::Response<Body> {
        http::Response::builder()
            .status(self.status())
            .header("content-type", "application/json")
            .header("x-amzn-errortype", self.code())
            .header("x-amzn-requestid", request_id)
            .body(full_body(Bytes::from(self.body().to_string())))
            .expect("valid error response")
    }
}
