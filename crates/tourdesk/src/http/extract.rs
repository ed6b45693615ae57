//! Extractors whose rejections speak the API's error format.

use axum::extract::{FromRequest, FromRequestParts};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// `axum::Json`, with rejections as [`ApiError`]s, and one leniency: a
/// number with a zero fraction (`2.0`) is taken where an integer is
/// expected, as JSON Schema (and so the OpenAPI document) counts it as an
/// integer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        // The content type, the size limit and the syntax, as axum checks them.
        let axum::Json(raw) =
            axum::Json::<Box<serde_json::value::RawValue>>::from_request(req, state).await?;
        parse_json(raw.get().as_bytes()).map(Json)
    }
}

/// Deserializes a JSON document. When that fails, it is tried once more
/// with every integral number (`2.0`, `1e2`) written as an integer, and the
/// first error stands if that does not help.
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let first = match axum::Json::<T>::from_bytes(bytes) {
        Ok(axum::Json(value)) => return Ok(value),
        Err(e) => e,
    };
    if let axum::extract::rejection::JsonRejection::JsonDataError(_) = &first
        && let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(bytes)
        && integral_numbers_as_integers(&mut value)
        && let Ok(parsed) = serde_json::from_value::<T>(value)
    {
        return Ok(parsed);
    }
    Err(first.into())
}

/// Rewrites floats without a fraction that fit an `i64` as integers;
/// whether anything changed.
fn integral_numbers_as_integers(value: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e18 => {
                *value = Value::from(f as i64);
                true
            }
            _ => false,
        },
        Value::Array(items) => items.iter_mut().fold(false, |changed, v| {
            integral_numbers_as_integers(v) | changed
        }),
        Value::Object(map) => map.values_mut().fold(false, |changed, v| {
            integral_numbers_as_integers(v) | changed
        }),
        _ => false,
    }
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `axum::extract::Query`, with rejections as [`ApiError`]s.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// `axum::extract::Path`, with rejections as [`ApiError`]s.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;
use tourdesk_service::Caller;

use super::AppState;
use super::auth::MaybeUser;
use super::client::ClientInfo;

/// Parses a JSON body read as bytes (for handlers that also need the raw
/// body); an empty body, or `null`, is `None`.
pub fn optional_json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Option<T>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let is_json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_json_content_type);
    if !is_json {
        return Err(ApiError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the request body as JSON with `Content-Type: application/json`",
        ));
    }
    parse_json::<Option<T>>(body)
}

/// The caller as the service layer sees it: the user behind the bearer
/// token (if any), the `X-Manage-Token` header, the client address and agent.
pub struct Who(pub Caller);

impl FromRequestParts<AppState> for Who {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        let MaybeUser(user) = MaybeUser::from_request_parts(parts, state).await?;
        let Ok(client) = ClientInfo::from_request_parts(parts, state).await;
        let manage_token = parts
            .headers
            .get("x-manage-token")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        Ok(Who(Caller {
            user,
            manage_token,
            ip: client.ip_string(),
            user_agent: client.user_agent,
            system: false,
        }))
    }
}

/// `application/json`, optionally with `charset=utf-8`, and nothing else
/// (`application/jsonfoo`, `text/json` and other charsets are not JSON here).
pub fn is_json_content_type(value: &str) -> bool {
    let mut parts = value.split(';').map(str::trim);
    let essence = parts.next().unwrap_or_default();
    essence.eq_ignore_ascii_case("application/json")
        && parts.all(|p| {
            p.is_empty()
                || p.split_once('=').is_some_and(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("charset")
                        && v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
                })
        })
}

#[cfg(test)]
mod tests {
    use super::is_json_content_type;

    #[test]
    fn only_application_json_is_json() {
        for ok in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=\"UTF-8\"",
        ] {
            assert!(is_json_content_type(ok), "{ok}");
        }
        for bad in [
            "application/jsonfoo",
            "application/json-patch",
            "text/json",
            "application/vnd.api+json",
            "application/json; charset=latin1",
            "application/json; boundary=x",
            "",
        ] {
            assert!(!is_json_content_type(bad), "{bad}");
        }
    }
}
