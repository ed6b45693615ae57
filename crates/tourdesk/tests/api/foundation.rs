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
