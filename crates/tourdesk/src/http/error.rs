//! The one error type at the HTTP edge. Every refusal the API makes is
//! `{"detail": "<for a person>", "code": "<machine_code>", ...}`.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tourdesk_service::ServiceError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    /// Extra fields of the body (e.g. `field`, `available_spots`), boxed to
    /// keep the error small on the happy path.
    pub extra: Option<Box<Map<String, Value>>>,
    pub retry_after_secs: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
            extra: None,
            retry_after_secs: None,
        }
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    pub fn invalid(field: &str, detail: impl Into<String>) -> Self {
        let err = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            format!("{field}: {}", detail.into()),
        );
        err.with("field", field)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn too_many_requests(retry_after_secs: u32) -> Self {
        let mut err = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests; try again in {retry_after_secs} s"),
        );
        err.retry_after_secs = Some(retry_after_secs);
        err
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra
            .get_or_insert_with(Default::default)
            .insert(key.to_owned(), value.into());
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self.code {
            "slot_unavailable" => metrics::counter!("booking_conflicts_total").increment(1),
            "capacity_exceeded" => metrics::counter!("capacity_errors_total").increment(1),
            _ => {}
        }
        let mut body = Map::new();
        body.insert("detail".into(), Value::String(self.detail));
        body.insert("code".into(), Value::String(self.code.into()));
        if let Some(extra) = self.extra {
            body.extend(*extra);
        }
        let mut response = (self.status, Json(Value::Object(body))).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::Invalid { field, message } => ApiError::invalid(&field, message),
            ServiceError::Rule {
                field,
                rule,
                message,
            } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "party_rule_broken",
                message,
            )
            .with("field", field.as_str())
            .with("rule", rule),
            ServiceError::NotFound(detail) => ApiError::not_found(detail),
            ServiceError::Refused {
                code,
                message,
                extra,
            } => {
                let mut e = ApiError::new(StatusCode::BAD_REQUEST, code, message);
                e.extra = (!extra.is_empty()).then(|| Box::new(extra));
                e
            }
            ServiceError::Conflict { code, message } => {
                ApiError::new(StatusCode::CONFLICT, code, message)
            }
            ServiceError::Unauthenticated(detail) => ApiError::unauthorized(detail),
            ServiceError::Forbidden(detail) => ApiError::forbidden(detail),
            ServiceError::Limited {
                message,
                retry_after_secs,
            } => {
                let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
                e.retry_after_secs = Some(retry_after_secs);
                e
            }
            ServiceError::Busy(detail) | ServiceError::Unavailable(detail) => {
                tracing::warn!(%detail, "service unavailable");
                let mut e = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the service is busy or its database is unreachable; retry shortly",
                );
                e.retry_after_secs = Some(1);
                e
            }
            ServiceError::StorageFull(detail) => {
                tracing::error!(%detail, "the database's disk is full");
                let mut e = ApiError::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "storage_full",
                    "the server has run out of storage; nothing was changed; retry later",
                );
                e.retry_after_secs = Some(30);
                e
            }
            ServiceError::Internal(source) => {
                tracing::error!(error = %source, "internal error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "something went wrong on our side; it has been logged",
                )
            }
        }
    }
}

/// Splits serde's "path: message" into the field and the message.
fn field_and_message(text: &str) -> (Option<String>, String) {
    let text = text
        .split_once("target type: ")
        .map(|(_, rest)| rest)
        .unwrap_or(text);
    match text.split_once(": ") {
        Some((path, message))
            if !path.is_empty()
                && path
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.[]".contains(c)) =>
        {
            (Some(path.to_owned()), message.to_owned())
        }
        // A body missing a field or carrying an unknown one fails at the
        // top level; serde names the field in backquotes.
        _ => {
            let named = ["missing field `", "unknown field `"]
                .iter()
                .find_map(|p| text.split_once(p))
                .and_then(|(_, rest)| rest.split_once('`'))
                .map(|(name, _)| name)
                .filter(|n| {
                    !n.is_empty()
                        && n.len() <= 64
                        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                });
            (named.map(str::to_owned), text.to_owned())
        }
    }
}

fn unprocessable(code: &'static str, what: &str, text: &str) -> ApiError {
    let (field, message) = field_and_message(text);
    match field {
        Some(field) => ApiError::invalid(&field, message),
        None => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            code,
            format!("{what}: {message}"),
        ),
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => {
                unprocessable("validation_error", "request body", &e.body_text())
            }
            JsonRejection::JsonSyntaxError(e) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "malformed_json",
                format!("the request body is not valid JSON: {}", e.body_text()),
            ),
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the request body as JSON with `Content-Type: application/json`",
            ),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => payload_too_large(),
            other => ApiError::new(other.status(), "bad_request", other.body_text()),
        }
    }
}

pub fn payload_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "the request body is larger than 1 MiB",
    )
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        unprocessable("validation_error", "query string", &rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        path_rejection(rejection, &[])
    }
}

/// A path value that did not parse, named by its parameter when `params`
/// (the route's raw parameters) tell which one it was.
pub fn path_rejection(rejection: PathRejection, params: &[(String, String)]) -> ApiError {
    use axum::extract::path::ErrorKind;
    if let PathRejection::FailedToDeserializePathParams(e) = &rejection {
        let (key, value, expected_type) = match e.kind() {
            ErrorKind::ParseErrorAtKey {
                key,
                value,
                expected_type,
            } => (Some(key.as_str()), value, *expected_type),
            ErrorKind::ParseError {
                value,
                expected_type,
            } => (
                params
                    .iter()
                    .find(|(_, v)| v == value)
                    .map(|(k, _)| k.as_str()),
                value,
                *expected_type,
            ),
            _ => return unprocessable("validation_error", "path", &rejection.body_text()),
        };
        return match key {
            Some(key) => ApiError::invalid(key, expected(value, expected_type)),
            None => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_error",
                format!("path: {}", expected(value, expected_type)),
            ),
        };
    }
    unprocessable("validation_error", "path", &rejection.body_text())
}

/// "must be a whole number, not `abc`", for a path value that did not parse
/// (a person may have typed the address); a long value is cut short.
fn expected(value: &str, expected_type: &str) -> String {
    let integer = expected_type
        .strip_prefix(['i', 'u'])
        .is_some_and(|bits| !bits.is_empty() && bits.chars().all(|c| c.is_ascii_digit()));
    let what = if integer {
        "a whole number (an id such as 42)".to_owned()
    } else {
        format!("a valid {expected_type}")
    };
    let shown: String = value.chars().take(40).collect();
    let more = if value.chars().count() > 40 {
        "…"
    } else {
        ""
    };
    format!("must be {what}, not `{shown}{more}`")
}

/// The body for an error response some layer produced without one.
pub fn generic_body(status: StatusCode) -> Value {
    let code = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        s if s.is_server_error() => "internal_error",
        _ => "bad_request",
    };
    let detail = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is larger than 1 MiB".to_owned(),
        StatusCode::REQUEST_TIMEOUT => "the request took too long to answer; a change it started \
            still completes: retry with the same Idempotency-Key to learn the outcome"
            .to_owned(),
        s => s.canonical_reason().unwrap_or("error").to_owned(),
    };
    json!({ "detail": detail, "code": code })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_paths_become_fields() {
        let (field, msg) = field_and_message(
            "Failed to deserialize the JSON body into the target type: tour_id: invalid type: string \"x\", expected i64 at line 1 column 15",
        );
        assert_eq!(field.as_deref(), Some("tour_id"));
        assert!(msg.starts_with("invalid type"));
        let (field, _) = field_and_message(
            "Failed to deserialize the JSON body into the target type: missing field `tour_id` at line 1 column 2",
        );
        assert_eq!(
            field.as_deref(),
            Some("tour_id"),
            "a missing field is named"
        );
        let (field, _) = field_and_message(
            "Failed to deserialize the JSON body into the target type: unknown field `colour`, expected one of `tour_id`, `name` at line 1 column 10",
        );
        assert_eq!(
            field.as_deref(),
            Some("colour"),
            "an unknown field is named"
        );
        let (field, _) = field_and_message(
            "Failed to deserialize the JSON body into the target type: invalid type: map, expected a string at line 1 column 1",
        );
        assert_eq!(field, None);
    }
}
