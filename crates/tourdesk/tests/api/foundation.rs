//! The foundation: health, readiness, the error format, limits, OpenAPI.

use reqwest::Method;
use serde_json::json;

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(
    health_and_readiness_answer,
    migrations_run_twice_without_error,
    unknown_routes_and_methods_answer_in_the_error_format,
    bodies_over_one_mebibyte_are_refused,
    openapi_and_docs_are_served_offline,
    every_response_carries_a_request_id,
    readiness_reports_a_closed_database,
    bad_ids_get_a_friendly_answer_and_pages_have_a_favicon,
    answers_are_compressed_for_clients_that_accept_it,
);

async fn health_and_readiness_answer(app: TestApp) {
    let r = app.get_healthz().await;
    r.assert_status(200);
    assert_eq!(r.body["status"], "ok");
    let r = app.get_readyz().await;
    r.assert_status(200);
    let engine = match app.backend {
        tourdesk_store::Backend::Sqlite => "sqlite",
        tourdesk_store::Backend::Postgres => "postgres",
    };
    assert_eq!(r.body["database"], engine);
}

async fn migrations_run_twice_without_error(app: TestApp) {
    // The app migrated at start; twice more must be no-ops.
    app.ctx.db.migrate().await.expect("second migration run");
    app.ctx.db.migrate().await.expect("third migration run");
    app.get_readyz().await.assert_status(200);
}

async fn unknown_routes_and_methods_answer_in_the_error_format(app: TestApp) {
    app.get("/api/no/such/route")
        .await
        .assert_error(404, "not_found");
    app.send(Method::POST, "/no/such/route", None, &[])
        .await
        .assert_error(404, "not_found");
    // Pages outside the API answer a person with an HTML page.
    let page = app.get("/no/such/page").await;
    page.assert_status(404);
    let html = page
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    assert!(html.is_some_and(|t| t.starts_with("text/html")), "{html:?}");
    assert!(page.text.contains("Page not found"));
    app.send(Method::DELETE, "/healthz", None, &[])
        .await
        .assert_error(405, "method_not_allowed");
}

async fn bodies_over_one_mebibyte_are_refused(app: TestApp) {
    let big = "x".repeat(1024 * 1024 + 10);
    let r = app.post("/healthz", &json!({ "pad": big })).await;
    // Refused before routing: a 413 in the error format.
    r.assert_error(413, "payload_too_large");
}

async fn openapi_and_docs_are_served_offline(app: TestApp) {
    let r = app.get_openapi().await;
    r.assert_status(200);
    assert!(
        r.body["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3."))
    );
    assert!(r.body["paths"]["/readyz"].is_object());
    let docs = app.get("/api/docs/").await;
    docs.assert_status(200);
    assert!(docs.text.contains("swagger"), "docs page: {}", docs.text);
    // Nothing may come from a CDN: every script and stylesheet is local.
    for needle in ["https://", "http://"] {
        for line in docs
            .text
            .lines()
            .filter(|l| l.contains("<script") || l.contains("<link"))
        {
            assert!(
                !line.contains(needle),
                "external asset in docs page: {line}"
            );
        }
    }
}

async fn every_response_carries_a_request_id(app: TestApp) {
    let r = app.get_healthz().await;
    let id = r
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(id.len() >= 16, "x-request-id: {id:?}");
    let r = app
        .send(
            Method::GET,
            "/healthz",
            None,
            &[("x-request-id", "abc-123-from-client")],
        )
        .await;
    assert_eq!(
        r.headers.get("x-request-id").and_then(|v| v.to_str().ok()),
        Some("abc-123-from-client")
    );
}

async fn readiness_reports_a_closed_database(app: TestApp) {
    app.ctx.db.close().await;
    let r = app.get_readyz().await;
    r.assert_status(503);
    assert_eq!(r.body["status"], "unavailable");
    assert!(r.body["reason"].as_str().is_some_and(|s| !s.is_empty()));
}

/// Issue #17: `/tours/abc` showed the path parser's message; no favicon.
async fn bad_ids_get_a_friendly_answer_and_pages_have_a_favicon(app: TestApp) {
    let r = app.get("/api/calendar/tours/abc").await;
    r.assert_error(422, "validation_error");
    assert_eq!(r.body["field"], "tour_id", "{}", r.text);
    let detail = r.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("whole number") && detail.contains("abc"),
        "{detail}"
    );
    assert!(
        !detail.contains("Cannot parse") && !detail.contains("i64"),
        "{detail}"
    );
    let r = app
        .get("/api/calendar/tours/1/monthly?year=2030&month=1")
        .await;
    r.assert_error(404, "not_found");
    // The page: a friendly 404 in the site's look, under the same policy.
    for path in ["/tours/abc", "/tours/-3", "/tours/1%3Cb%3E"] {
        let r = app.get(path).await;
        r.assert_status(404);
        assert!(r.text.contains("Tour not found"), "{path}: {}", r.text);
        assert!(
            !r.text.contains("Cannot parse") && !r.text.contains("<b>"),
            "{path}: {}",
            r.text
        );
        let csp = r.headers["content-security-policy"]
            .to_str()
            .unwrap_or_default();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
    }
    app.get("/tours/7").await.assert_status(200);
    // The favicon: linked by every page, served where browsers look.
    for page in [
        "/",
        "/tours/7",
        "/manage",
        "/account",
        "/admin",
        "/no-such-page",
    ] {
        let r = app.get(page).await;
        assert!(
            r.text.contains("rel=\"icon\" href=\"/assets/favicon.svg\""),
            "{page}: {}",
            r.text
        );
    }
    for path in ["/assets/favicon.svg", "/favicon.ico"] {
        let r = app.get(path).await;
        r.assert_status(200);
        assert_eq!(r.headers["content-type"], "image/svg+xml", "{path}");
        assert!(r.text.starts_with("<svg"), "{path}: {}", r.text);
    }
}

/// Issue #17: answers were never compressed. gzip or Brotli as the client
/// asks, with the security headers kept; nothing changes for a client that
/// does not ask.
async fn answers_are_compressed_for_clients_that_accept_it(app: TestApp) {
    let f = app.fixture(10).await;
    let slots = format!(
        "/api/calendar/tours/{}/slots?start_date={}&end_date={}",
        f.tour, f.dates[0], f.dates[9]
    );
    let plain = app.get(&slots).await;
    plain.assert_status(200);
    assert!(plain.headers.get("content-encoding").is_none());
    assert_eq!(plain.body.as_array().map(Vec::len), Some(10));
    for path in [
        slots.as_str(),
        "/assets/booking-calendar.js",
        "/",
        "/api/openapi.json",
        "/metrics",
    ] {
        for (asked, magic) in [("gzip", &[0x1f_u8, 0x8b][..]), ("br", &[][..])] {
            let resp = app
                .client
                .get(app.url(path))
                .header("accept-encoding", asked)
                .send()
                .await
                .expect("send");
            assert_eq!(resp.status().as_u16(), 200, "{path}");
            let h = resp.headers().clone();
            assert_eq!(
                h.get("content-encoding").map(|v| v.to_str().unwrap_or("")),
                Some(asked),
                "{path} {asked}: {h:?}"
            );
            assert!(
                h.get("vary").is_some_and(|v| v
                    .to_str()
                    .unwrap_or("")
                    .to_ascii_lowercase()
                    .contains("accept-encoding")),
                "{path}: {h:?}"
            );
            assert!(h.contains_key("content-security-policy"), "{path}: {h:?}");
            assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
            assert!(h.contains_key("x-request-id"), "{path}");
            let bytes = resp.bytes().await.expect("body");
            assert!(bytes.starts_with(magic), "{path} {asked}");
            if path == slots {
                assert!(
                    bytes.len() < plain.text.len() / 2,
                    "{path} {asked}: {} bytes",
                    bytes.len()
                );
            }
        }
    }
    // A client that refuses compression still gets errors in the JSON format.
    let r = app
        .send(
            Method::GET,
            "/api/calendar/tours/abc",
            None,
            &[("accept-encoding", "identity")],
        )
        .await;
    r.assert_error(422, "validation_error");
}
