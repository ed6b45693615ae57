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
    error_page("Page not found", "There is nothing at this address.")
}

/// A 404 page in the site's look; `title` and `text` are constants.
fn error_page(title: &'static str, text: &'static str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Tourdesk</title>\
         <link rel=\"icon\" href=\"/assets/favicon.svg\" type=\"image/svg+xml\">\
         <link rel=\"stylesheet\" href=\"/assets/tourdesk.css\"><main class=\"page\"><h1>{title}</h1>\
         <p>{text}</p><p><a href=\"/\">Back to the tours</a></p></main></html>"
    );
    (StatusCode::NOT_FOUND, Html(body)).into_response()
}

/// A tour's page; an address whose id is not a tour id (`/tours/abc`) is a
/// friendly 404 rather than a page that shows the API's refusal.
async fn tour_page(Path(id): Path<String>) -> Response {
    match id.parse::<i64>() {
        Ok(n) if n > 0 => page("tour.html"),
        _ => error_page(
            "Tour not found",
            "There is no tour at this address. It may have been mistyped.",
        ),
    }
}

/// The favicon browsers ask for by default: the SVG icon the pages link.
async fn favicon() -> Response {
    asset(Path("favicon.svg".to_owned())).await
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
        .route("/tours/{id}", get(tour_page))
        .route("/manage", get(|| async { page("manage.html") }))
        .route("/account", get(|| async { page("account.html") }))
        .route("/admin", get(|| async { page("admin.html") }))
        .route("/assets/{*path}", get(asset))
        .route("/favicon.ico", get(favicon))
        .route("/favicon.svg", get(favicon))
}

/// Whether a request path belongs to the web UI (HTML 404 pages there).
pub fn is_ui_path(path: &str) -> bool {
    !path.starts_with("/api/") && path != "/healthz" && path != "/readyz"
}

pub fn html_not_found() -> Response {
    not_found_page()
}
