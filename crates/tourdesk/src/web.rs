//! The web UI, embedded in the binary: the customer pages, the admin
//! console and the `<booking-calendar>` / `<booking-flow>` components (plain
//! ES modules, no build step). `/assets/tourdesk.js` is the one script an
//! operator's own website includes to embed the booking flow.

use axum::Router;
use axum::extract::{Path, State};
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

/// The operator's brand (#17 item 22): the name in page headers and
/// titles, the colour of links and buttons (`/brand.css` sets the pages'
/// `--td-brand`), and an optional logo served at `/brand/logo`.
#[derive(Debug, Clone)]
pub struct Brand {
    pub name: String,
    pub color: String,
    /// The logo's bytes and content type.
    pub logo: Option<(Vec<u8>, &'static str)>,
}

impl Brand {
    /// The brand from the configuration; the logo file is read now, so a
    /// bad path stops the start with a message naming `BRAND_LOGO`.
    pub fn from_config(config: &crate::config::Config) -> Result<Brand, String> {
        let logo = match &config.brand_logo {
            None => None,
            Some(path) => Some(read_logo(path).map_err(|e| format!("BRAND_LOGO: {e}"))?),
        };
        Ok(Brand {
            name: config.operator_name.trim().to_owned(),
            color: config.brand_color.to_ascii_lowercase(),
            logo,
        })
    }

    /// A page with the brand filled in: `{{operator}}` (titles) and
    /// `{{brand}}` (the header's link: logo and name), both escaped.
    fn render(&self, template: &str) -> String {
        let name = escape(&self.name);
        let brand = if self.logo.is_some() {
            format!("<img class=\"logo\" src=\"/brand/logo\" alt=\"\">{name}")
        } else {
            name.clone()
        };
        template
            .replace("{{operator}}", &name)
            .replace("{{brand}}", &brand)
    }
}

const LOGO_MAX_BYTES: u64 = 512 * 1024;

fn read_logo(path: &std::path::Path) -> Result<(Vec<u8>, &'static str), String> {
    let shown = path.display();
    let kind = match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        _ => {
            return Err(format!(
                "{shown}: must be an .svg, .png, .jpg or .webp file"
            ));
        }
    };
    let size = std::fs::metadata(path)
        .map_err(|e| format!("cannot read {shown}: {e}"))?
        .len();
    if size == 0 || size > LOGO_MAX_BYTES {
        return Err(format!(
            "{shown}: must be 1 byte to 512 KB (it is {size} bytes)"
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    Ok((bytes, kind))
}

/// `#RRGGBB` on which white text keeps a contrast of at least 4.5:1
/// (WCAG AA), so buttons stay readable.
pub fn validate_brand_color(text: &str) -> Result<(), String> {
    let hex = text
        .strip_prefix('#')
        .filter(|h| h.len() == 6 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| format!("`{text}` is not a colour like #0b5cad"))?;
    let channel = |i: usize| {
        let v = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0)) / 255.0;
        if v <= 0.03928 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    let luminance = 0.2126 * channel(0) + 0.7152 * channel(2) + 0.0722 * channel(4);
    let contrast = 1.05 / (luminance + 0.05);
    if contrast < 4.5 {
        return Err(format!(
            "{text} is too light for white text on it (contrast {contrast:.1}:1, at least 4.5:1 is needed)"
        ));
    }
    Ok(())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(brand: &Brand, name: &str) -> Response {
    match Assets::get(name) {
        Some(file) => match std::str::from_utf8(&file.data) {
            Ok(text) => Html(brand.render(text)).into_response(),
            Err(_) => not_found_page(),
        },
        None => not_found_page(),
    }
}

/// The pages' brand colour, after `tourdesk.css` (which has the default).
async fn brand_css(State(state): State<AppState>) -> Response {
    let body = format!(
        ":root {{ --td-brand: {}; }}\n.brand .logo {{ height: 1.75rem; width: auto; vertical-align: middle; margin-right: .5rem; }}\n",
        state.brand.color
    );
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (
                header::CACHE_CONTROL,
                "public, max-age=300, must-revalidate",
            ),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        body,
    )
        .into_response()
}

async fn brand_logo(State(state): State<AppState>) -> Response {
    match &state.brand.logo {
        Some((bytes, kind)) => (
            [
                (header::CONTENT_TYPE, *kind),
                (
                    header::CACHE_CONTROL,
                    "public, max-age=300, must-revalidate",
                ),
                (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            ],
            bytes.clone(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no logo is configured").into_response(),
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
async fn tour_page(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match id.parse::<i64>() {
        Ok(n) if n > 0 => page(&state.brand, "tour.html"),
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
            // Public files any page may load, the components included: a
            // module script from another origin needs CORS even where that
            // origin may not call the API, and then says so itself (#17).
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
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

type BrandState = State<AppState>;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/",
            get(|s: BrandState| async move { page(&s.0.brand, "index.html") }),
        )
        .route("/tours/{id}", get(tour_page))
        .route(
            "/manage",
            get(|s: BrandState| async move { page(&s.0.brand, "manage.html") }),
        )
        .route(
            "/account",
            get(|s: BrandState| async move { page(&s.0.brand, "account.html") }),
        )
        .route(
            "/admin",
            get(|s: BrandState| async move { page(&s.0.brand, "admin.html") }),
        )
        .route("/brand.css", get(brand_css))
        .route("/brand/logo", get(brand_logo))
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
