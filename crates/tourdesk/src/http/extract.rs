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

/// Deserializes a JSON document. When that fails on the data (not the
/// syntax), it is tried once more with every integral number (`2.0`, `1e2`)
/// written as an integer, and the first error stands if that does not help.
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let first = match axum::Json::<T>::from_bytes(bytes) {
        Ok(axum::Json(value)) => return Ok(value),
        Err(e) => e,
    };
    if let axum::extract::rejection::JsonRejection::JsonDataError(_) = &first
        && let Ok(text) = std::str::from_utf8(bytes)
        && let Some(rewritten) = integral_numbers_as_integers(text)
        && let Ok(axum::Json(parsed)) = axum::Json::<T>::from_bytes(rewritten.as_bytes())
    {
        return Ok(parsed);
    }
    Err(first.into())
}

/// The JSON text with every number that is an integer written with a
/// fraction or an exponent (`2.0`, `1e2`, `2.50e1`) written as one (`2`,
/// `100`, `25`); `None` when there is none. Decided on the digits, never
/// through a float, so `0.5` and `1e-400` (a price must refuse it, not read
/// it as 0) stay as they are, and so does every other byte.
fn integral_numbers_as_integers(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let (mut i, mut copied) = (0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < bytes.len()
                    && matches!(bytes[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                if let Some(integer) = text.get(start..i).and_then(integer_literal) {
                    out.push_str(&text[copied..start]);
                    out.push_str(&integer);
                    copied = i;
                }
            }
            _ => i += 1,
        }
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&text[copied..]);
    Some(out)
}

/// A number literal with a fraction or an exponent, as integer digits when
/// its value is an integer that fits an `i64`.
fn integer_literal(number: &str) -> Option<String> {
    let (negative, unsigned) = match number.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, number),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], unsigned[at + 1..].parse::<i64>().ok()?),
        None if unsigned.contains('.') => (unsigned, 0),
        None => return None,
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !all_digits(int) || !all_digits(frac) || exponent.abs() > 40 {
        return None;
    }
    // The value is `digits` × 10^shift.
    let digits = format!("{int}{frac}");
    let shift = exponent - i64::try_from(frac.len()).ok()?;
    let integer = if shift >= 0 {
        format!("{digits}{}", "0".repeat(usize::try_from(shift).ok()?))
    } else {
        let drop = usize::try_from(-shift).ok()?;
        let keep = digits.len().saturating_sub(drop);
        if !digits[keep..].bytes().all(|b| b == b'0') {
            return None;
        }
        digits[..keep].to_owned()
    };
    let integer = integer.trim_start_matches('0');
    if integer.len() > 18 {
        return None;
    }
    Some(match (integer, negative) {
        ("", _) => "0".to_owned(),
        (i, true) => format!("-{i}"),
        (i, false) => i.to_owned(),
    })
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

/// `axum::extract::Path`, with rejections as [`ApiError`]s that name the
/// parameter (`tour_id: must be a whole number ...`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => {
                let params: Vec<(String, String)> =
                    axum::extract::RawPathParams::from_request_parts(parts, state)
                        .await
                        .map(|raw| {
                            raw.iter()
                                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                                .collect()
                        })
                        .unwrap_or_default();
                Err(super::error::path_rejection(rejection, &params))
            }
        }
    }
}

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
    use super::{integer_literal, integral_numbers_as_integers, is_json_content_type};

    #[test]
    fn integral_numbers_are_rewritten_on_their_digits() {
        for (number, integer) in [
            ("2.0", Some("2")),
            ("1e2", Some("100")),
            ("2.50e1", Some("25")),
            ("-3.000", Some("-3")),
            ("-0.0", Some("0")),
            ("0e5", Some("0")),
            ("1E+1", Some("10")),
            ("1200e-2", Some("12")),
            ("0.5", None),
            ("1e-400", None),
            ("1.5e-1", None),
            ("1e30", None),
            ("7", None),
            ("-", None),
        ] {
            assert_eq!(integer_literal(number).as_deref(), integer, "{number}");
        }
        assert_eq!(
            integral_numbers_as_integers(
                r#"{"a": 2.0, "b": "3.0", "c\"": [1e1, 0.5], "p": 1e-400}"#
            )
            .as_deref(),
            Some(r#"{"a": 2, "b": "3.0", "c\"": [10, 0.5], "p": 1e-400}"#)
        );
        assert_eq!(integral_numbers_as_integers(r#"{"a": 2, "b": 0.5}"#), None);
    }

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
