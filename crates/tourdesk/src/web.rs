//! The web UI, embedded in the binary: the customer pages, the admin
//! console and the `<booking-calendar>` / `<booking-flow>` components (plain
//! ES modules, no build step). `/assets/tourdesk.js` is the one script an
//! operator's own website includes to embed the booking flow.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use rust_embed::RustEmbed;

use crate::http::AppState;

#[derive(RustEmbed)]
#[folder = "web/"]
struct Assets;

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

fn page(name: &str) -> Response {
    match Assets::get(name) {
        Some(file) => Html(file.data.into_owned()).into_response(),
        None => not_found_page(),
    }
}

fn not_found_page() -> Response {
    let body = "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Not found · Tourdesk</title>\
                <link rel=\"stylesheet\" href=\"/assets/tourdesk.css\"><main class=\"page\"><h1>Page not found</h1>\
                <p><a href=\"/\">Back to the tours</a></p></main></html>";
    (StatusCode::NOT_FOUND, Html(body)).into_response()
}

async fn asset(Path(path): Path<String>) -> Response {
    let key = format!("assets/{path}");
    match Assets::get(&key) {
        Some(file) => {
            let mut response = file.data.into_owned().into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(content_type(&key)),
            );
            // Short cache plus revalidation: a new binary ships new assets.
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300, must-revalidate"),
            );
            if let Ok(etag) = HeaderValue::from_str(&format!(
                "\"{}\"",
                hex::encode(&file.metadata.sha256_hash()[..8])
            )) {
                headers.insert(header::ETAG, etag);
            }
            response
        }
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { page("index.html") }))
        .route("/tours/{id}", get(|| async { page("tour.html") }))
        .route("/manage", get(|| async { page("manage.html") }))
        .route("/account", get(|| async { page("account.html") }))
        .route("/admin", get(|| async { page("admin.html") }))
        .route("/assets/{*path}", get(asset))
}

/// Whether a request path belongs to the web UI (HTML 404 pages there).
pub fn is_ui_path(path: &str) -> bool {
    !path.starts_with("/api/") && path != "/healthz" && path != "/readyz"
}

pub fn html_not_found() -> Response {
    not_found_page()
}
