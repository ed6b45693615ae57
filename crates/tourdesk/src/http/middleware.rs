//! Cross-cutting layers: one log line per request, and error responses made
//! by layers (body limit, timeout) rewritten into the API's JSON format.

use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, header};
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{DefaultOnResponse, MakeSpan, TraceLayer};
use tracing::{Level, Span};

use super::error::generic_body;

#[derive(Clone, Copy)]
pub struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, request: &Request<B>) -> Span {
        let request_id = request
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        tracing::info_span!(
            "request",
            method = %request.method(),
            path = %loggable_path(request.uri().path()),
            request_id = %request_id,
        )
    }
}

/// The path as logged: a booking reference in it (the reference lookup)
/// is replaced, so logs never carry what, with an email, opens a booking.
fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    const LOOKUP: &str = "/api/calendar/bookings/reference/";
    match path.strip_prefix(LOOKUP) {
        Some(rest) if !rest.is_empty() => format!("{LOOKUP}{{reference}}").into(),
        _ => path.into(),
    }
}

pub type Trace = TraceLayer<
    SharedClassifier<ServerErrorsAsFailures>,
    RequestSpan,
    (),
    DefaultOnResponse,
    (),
    (),
    (),
>;

/// Logs one line per request (method, path, request id, status, latency).
pub fn trace_layer() -> Trace {
    TraceLayer::new_for_http()
        .make_span_with(RequestSpan)
        .on_request(())
        .on_response(DefaultOnResponse::new().level(Level::INFO))
        .on_body_chunk(())
        .on_eos(())
        .on_failure(())
}

/// Most headers a request may carry, and most bytes of header names and
/// values together; more is 431 in the JSON error format.
pub const MAX_HEADERS: usize = 100;
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// Longest request target (path and query); longer is 414.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// Refuses an oversized request head with the API's JSON error, before
/// anything else reads it (hyper's own limits are set far higher, see
/// [`crate::server`], so they are not what answers).
pub async fn head_limits(request: Request<Body>, next: axum::middleware::Next) -> Response<Body> {
    use axum::response::IntoResponse;
    let headers = request.headers();
    let bytes: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return super::error::ApiError::new(
            axum::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!(
                "the request headers are too large: at most {MAX_HEADERS} headers and \
                 {MAX_HEADER_BYTES} bytes in all"
            ),
        )
        .into_response();
    }
    let uri_len = request
        .uri()
        .path_and_query()
        .map_or(0, |pq| pq.as_str().len());
    if uri_len > MAX_URI_BYTES {
        return super::error::ApiError::new(
            axum::http::StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the request path and query are longer than {MAX_URI_BYTES} bytes"),
        )
        .into_response();
    }
    next.run(request).await
}

/// A request body under `/api/` must be `application/json` (see
/// [`super::extract::is_json_content_type`]); anything else is 415 before
/// any handler runs.
/// A state-changing request runs to its end even when its client stops
/// waiting: the request timeout answering 408, or the client hanging up,
/// would otherwise drop the handler between its write and its answer (a
/// booking stored, yet answered as failed). Spawned, the write completes or
/// never starts, and a retry with the same `Idempotency-Key` learns which.
pub async fn finish_writes(request: Request<Body>, next: axum::middleware::Next) -> Response<Body> {
    if request.method().is_safe() {
        return next.run(request).await;
    }
    use tracing::Instrument;
    match tokio::spawn(next.run(request).in_current_span()).await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(error = %e, "a request handler ended abnormally");
            let mut response = Response::new(Body::from(
                generic_body(axum::http::StatusCode::INTERNAL_SERVER_ERROR).to_string(),
            ));
            *response.status_mut() = axum::http::StatusCode::INTERNAL_SERVER_ERROR;
            response
        }
    }
}

pub async fn json_only(request: Request<Body>, next: axum::middleware::Next) -> Response<Body> {
    use axum::response::IntoResponse;
    let has_body = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|n| n.trim() != "0")
        || request.headers().contains_key(header::TRANSFER_ENCODING);
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("\u{fffd}"));
    let refused = request.uri().path().starts_with("/api/")
        && match content_type {
            Some(ct) => !super::extract::is_json_content_type(ct),
            None => false,
        }
        && has_body;
    if refused {
        return super::error::ApiError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the request body as JSON with `Content-Type: application/json`",
        )
        .into_response();
    }
    next.run(request).await
}

/// The policy for the pages and components this binary serves: scripts
/// and styles only from this origin (no inline script or eval, no `style`
/// attribute or `<style>` element), nothing embedded from elsewhere. The
/// web components style their shadow roots with constructed stylesheets
/// (`adoptedStyleSheets`), which are not inline styles.
const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'";

/// Pages that hold a session or a manage token: never framed by anyone.
fn unframeable(path: &str) -> bool {
    ["/admin", "/account", "/manage"]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")))
}

/// Security headers on every response: `nosniff` and a same-origin
/// referrer everywhere; a strict Content-Security-Policy on pages and API
/// answers (the API's forbids everything: it is data, never rendered);
/// `frame-ancestors 'none'` (and X-Frame-Options) on the console, the
/// account and the manage pages. The customer pages and the embeddable
/// components stay frameable and embeddable. The API documentation keeps
/// its own (Swagger UI) behaviour.
pub async fn security_headers(
    request: Request<Body>,
    next: axum::middleware::Next,
) -> Response<Body> {
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if path.starts_with("/api/docs") {
        return response;
    }
    // A handler that sets its own policy (the sandboxed email preview)
    // keeps it, and may be framed by the console only.
    if h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("SAMEORIGIN"),
        );
        return response;
    }
    let csp = if path.starts_with("/api/") || path == "/healthz" || path == "/readyz" {
        "default-src 'none'; frame-ancestors 'none'".to_owned()
    } else if unframeable(&path) {
        format!("{PAGE_CSP}; frame-ancestors 'none'")
    } else {
        PAGE_CSP.to_owned()
    };
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    if unframeable(&path) || path.starts_with("/api/") {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    response
}

/// Error responses without a JSON or HTML body get the API's JSON body.
pub async fn json_errors(response: Response<Body>) -> Response<Body> {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/json") || content_type.starts_with("text/html") {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let body = generic_body(status).to_string();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

/// Counts every request by method, matched route template and status, and
/// times it (`http_requests_total`, `http_request_duration_seconds`). The
/// route is the template (`/api/calendar/bookings/{booking_id}`), so the
/// label stays bounded; unknown methods count as `other`.
pub async fn http_metrics(request: Request<Body>, next: axum::middleware::Next) -> Response<Body> {
    let method: &'static str = match request.method().as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The largest JSON answer given a validator (bigger ones pass as they are).
const MAX_VALIDATED_BODY: u64 = 4 * 1024 * 1024;

/// Conditional GET for the API's JSON reads (#19): every successful JSON
/// answer to a GET carries a weak `ETag` made from its bytes, and a request
/// whose `If-None-Match` names it gets `304 Not Modified` without a body.
/// The validator is the answer itself, so it can never be stale: any
/// change to a departure, a booking, a blackout or the clock's view of
/// what is bookable changes the answer and with it the tag. Weak, because
/// the compression layer outside may encode the same answer differently.
/// `Cache-Control: no-cache` (private when the request carried credentials)
/// lets clients keep the answer but always revalidate.
pub async fn conditional_get(
    request: Request<Body>,
    next: axum::middleware::Next,
) -> Response<Body> {
    use axum::body::HttpBody as _;
    if request.method() != axum::http::Method::GET {
        return next.run(request).await;
    }
    let asked = request.headers().get(header::IF_NONE_MATCH).cloned();
    let private = request.headers().contains_key(header::AUTHORIZATION)
        || request.headers().contains_key("x-manage-token");
    let response = next.run(request).await;
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    let size = response.body().size_hint().exact();
    if response.status() != axum::http::StatusCode::OK
        || !is_json
        || response.headers().contains_key(header::ETAG)
        || size.is_none_or(|n| n > MAX_VALIDATED_BODY)
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_VALIDATED_BODY as usize).await else {
        // Unreachable for a body of known size under the limit; answer
        // honestly if it happens.
        // (json_errors, outside, gives it the API's error body.)
        let mut failed = Response::new(Body::empty());
        *failed.status_mut() = axum::http::StatusCode::INTERNAL_SERVER_ERROR;
        return failed;
    };
    use sha2::Digest;
    let tag = format!("W/\"{}\"", hex::encode(&sha2::Sha256::digest(&bytes)[..16]));
    let Ok(etag) = HeaderValue::from_str(&tag) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    if !parts.headers.contains_key(header::CACHE_CONTROL) {
        parts.headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(if private {
                "private, no-cache"
            } else {
                "no-cache"
            }),
        );
    }
    parts.headers.insert(header::ETAG, etag);
    let matches = asked
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .is_some_and(|list| {
            list.trim() == "*"
                || list.split(',').any(|t| {
                    // Weak comparison: W/"x" and "x" name the same tag.
                    t.trim().trim_start_matches("W/") == tag.trim_start_matches("W/")
                })
        });
    if matches {
        parts.status = axum::http::StatusCode::NOT_MODIFIED;
        parts.headers.remove(header::CONTENT_TYPE);
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::empty());
    }
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
mod tests {
    #[test]
    fn references_are_not_logged() {
        assert_eq!(
            super::loggable_path("/api/calendar/bookings/reference/ST-20261102-ACD347"),
            "/api/calendar/bookings/reference/{reference}"
        );
        assert_eq!(
            super::loggable_path("/api/calendar/bookings/7"),
            "/api/calendar/bookings/7"
        );
    }
}
