//! The HTTP face: routes, extractors, DTOs. Handlers are thin: they parse,
//! call one service method, and shape the answer. Each resource has a file
//! exporting `router()`; they are merged here once.

mod admin_bookings;
mod admin_console;
mod admin_slots;
mod auth;
mod availability;
mod blackouts;
mod bookings;
mod calendar_files;
mod client;
pub mod dto;
pub mod error;
pub mod extract;
mod health;
mod messages;
mod middleware;
pub mod openapi;
mod reports;
mod schedules;
mod tours;
mod waitlist;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode, Uri};
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::Config;
use error::ApiError;
use tourdesk_service::Context;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub ctx: Context,
    pub config: Arc<Config>,
    pub rate_limits: Arc<RateLimits>,
    /// Sends customer email; `None` without `SMTP_URL`.
    pub mail_sender: Option<Arc<crate::mail::Sender>>,
    /// Sends webhook deliveries.
    pub webhook_sender: Arc<crate::webhooks::Sender>,
    /// The operator's name, colour and logo on the pages.
    pub brand: Arc<crate::web::Brand>,
}

pub use auth::{AdminUser, CurrentUser, MaybeUser};
pub use client::{ClientInfo, RateLimits};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tourdesk API",
        description = "Booking and availability calendar for tour operators. \
Errors are `{\"detail\": ..., \"code\": ...}` (the `Error` schema); amounts are decimal \
numbers in the tour's currency. Every operation lists the errors it can answer; 503 (with \
`Retry-After`) means the database is unavailable or busy.",
    ),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "auth", description = "Accounts and bearer tokens"),
        (name = "tours", description = "The tours customers can book"),
        (name = "calendar", description = "Availability: the check, month views and slots"),
        (name = "bookings", description = "Booking, changing and cancelling"),
        (name = "waitlist", description = "Waiting for a full departure"),
        (name = "calendar files", description = "iCalendar files: a booking's event, a tour's departures feed"),
        (name = "admin", description = "The operator's console: tours, schedules, slots, blackouts"),
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// Declares the bearer scheme every protected route uses.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API's routes with their OpenAPI document.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::router())
        .merge(auth::router())
        .merge(tours::router())
        .merge(schedules::router())
        .merge(blackouts::router())
        .merge(admin_slots::router())
        .merge(availability::router())
        .merge(bookings::router())
        .merge(admin_bookings::router())
        .merge(admin_console::router())
        .merge(waitlist::router())
        .merge(messages::router())
        .merge(reports::router())
        .merge(webhooks::router())
        .merge(calendar_files::router())
}

/// The OpenAPI document, as served at `/api/openapi.json` by a server with
/// this configuration (party-size bounds follow it).
pub fn openapi(config: &Config) -> utoipa::openapi::OpenApi {
    let mut doc = api().split_for_parts().1;
    openapi::complete(&mut doc, config);
    doc
}

pub fn router(state: AppState) -> Router {
    let (api_routes, mut openapi) = api().split_for_parts();
    openapi::complete(&mut openapi, &state.config);
    let request_id = ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(middleware::trace_layer())
        .layer(PropagateRequestIdLayer::x_request_id());
    let cors = cors_layer(&state.config.allowed_origins);
    let request_timeout = state.config.request_timeout_seconds;
    Router::new()
        .merge(api_routes)
        .merge(crate::web::router())
        .merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", openapi))
        .route("/metrics", axum::routing::get(crate::metrics::serve))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(axum::middleware::from_fn(middleware::json_only))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(middleware::finish_writes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(u64::from(request_timeout)),
        ))
        // Conditional GET (ETag from the answer's bytes, 304 on a match);
        // inside compression, so it tags the JSON itself.
        .layer(axum::middleware::from_fn(middleware::conditional_get))
        // Outside the limits, so their bare responses get the JSON format too.
        .layer(axum::middleware::map_response(middleware::json_errors))
        // gzip or Brotli when the client accepts it (`Vary: Accept-Encoding`);
        // outside everything that writes bodies, so it sees final ones. The
        // default predicate leaves tiny bodies, images and event streams be.
        .layer(CompressionLayer::new())
        .layer(cors)
        .layer(axum::middleware::from_fn(middleware::head_limits))
        .layer(axum::middleware::from_fn(middleware::security_headers))
        .layer(axum::middleware::from_fn(middleware::http_metrics))
        .layer(request_id)
}

async fn not_found(method: Method, uri: Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    if method == Method::GET && crate::web::is_ui_path(uri.path()) {
        return crate::web::html_not_found();
    }
    ApiError::not_found(format!("no such route: {method} {}", uri.path())).into_response()
}

/// Cross-origin access for the embedded components on operators' sites.
fn cors_layer(origins: &[String]) -> tower_http::cors::CorsLayer {
    use axum::http::{HeaderName, HeaderValue, header};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(list)
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static("x-manage-token"),
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([HeaderName::from_static("x-request-id"), header::RETRY_AFTER])
        .max_age(Duration::from_secs(600))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}
