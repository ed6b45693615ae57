//! The console's Webhooks page in a real headless Chromium: an operator
//! registers an endpoint through the form (a 422 shows under the field it
//! names), sees its signing secret once, watches a booking's
//! `booking.created` delivery fail against a receiver that answers 500,
//! reads the attempt log, replays it, pauses the endpoint, rotates its
//! secret and deletes it. An injection-shaped description is shown as text
//! and never runs, and the pages report no Content-Security-Policy
//! violation.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::browser::{Browser, log_in_to_console};
use crate::helpers::{TestApp, paths};

both_backends!(the_console_registers_an_endpoint_and_replays_a_failed_delivery);

const ADMIN: &str = "hooks-admin@example.com";
const PASSWORD: &str = "admin password 123";
/// Sets `window.__x` if it ever runs.
const XSS: &str = r#""><img src=x onerror=window.__x=1>"#;

/// One request as the receiver got it.
#[derive(Debug, Clone)]
struct Hit {
    headers: HeaderMap,
    body: String,
}

impl Hit {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }
}

/// A webhook receiver on a free port of 127.0.0.1 that answers every
/// request with a 500 and keeps what it got.
struct Receiver {
    url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver");
        let port = listener.local_addr().expect("address").port();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let kept = hits.clone();
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: String| {
            let kept = kept.clone();
            async move {
                kept.lock().expect("hits").push(Hit { headers, body });
                (StatusCode::INTERNAL_SERVER_ERROR, "receiver says no")
            }
        });
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url: format!("http://127.0.0.1:{port}/tourdesk-hooks"),
            hits,
            server,
        }
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().expect("hits").clone()
    }

    /// Waits until at least `n` requests arrived; returns them all.
    async fn wait_for(&self, n: usize) -> Vec<Hit> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let hits = self.hits();
            if hits.len() >= n {
                return hits;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver got {} request(s), not {n}",
                hits.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Nothing injected ran or became markup: no `window.__x`, no image, no
/// inline event handler anywhere in the console.
async fn assert_not_injected(b: &Browser, page: &str) {
    let seen = b
        .js(
            "return { ran: window.__x !== undefined, \
                      images: document.querySelectorAll('#main img').length, \
                      handlers: [...document.querySelectorAll('#main *')] \
                        .filter((e) => [...e.attributes].some((a) => a.name.startsWith('on'))).length };",
            vec![],
        )
        .await
        .json()
        .clone();
    assert_eq!(
        seen,
        json!({"ran": false, "images": 0, "handlers": 0}),
        "{page}"
    );
}

/// How many rows the table in `container` shows.
async fn rows(b: &Browser, container: &str) -> usize {
    b.js(
        "return document.querySelectorAll(arguments[0] + ' tbody tr').length;",
        vec![json!(container)],
    )
    .await
    .json()
    .as_u64()
    .unwrap_or(0) as usize
}

/// Waits until the table in `container` shows at least `n` rows.
async fn wait_rows(b: &Browser, container: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let shown = rows(b, container).await;
        if shown >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{container} shows {shown} row(s), not {n}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn endpoints(app: &TestApp, admin: &str) -> Vec<Value> {
    let r = app.get_as(admin, paths::ADMIN_WEBHOOKS).await;
    r.assert_status(200);
    r.body.as_array().cloned().unwrap_or_default()
}

async fn the_console_registers_an_endpoint_and_replays_a_failed_delivery(app: TestApp) {
    let Some(b) = Browser::start(1280, 1400).await else {
        return;
    };
    let receiver = Receiver::start().await;
    let f = app.fixture(10).await;
    app.ctx
        .accounts()
        .ensure_admin(ADMIN, PASSWORD, "Hooks Admin")
        .await
        .expect("admin");
    b.record_csp_violations().await;
    log_in_to_console(&b, &app, ADMIN, PASSWORD).await;
    b.click("[data-tab='webhooks']").await;
    b.wait_text("#wh-list", "No endpoints yet").await;
    // With no endpoint yet, the form is open; the signing help is there.
    b.wait("#wn-form:not([hidden])").await;
    b.wait_text("#wh-help", "Tourdesk-Signature").await;

    // A URL the API refuses: its 422 shows under the URL field.
    b.type_into("#wn-url", "ftp://files.example.com/in").await;
    b.click("#wn-form input[name='event'][value='booking.created']")
        .await;
    b.click("#wn-form button[type='submit']").await;
    b.wait_text("[data-field-err='url']", "http").await;
    let invalid = b
        .js(
            "return document.getElementById('wn-url').getAttribute('aria-invalid');",
            vec![],
        )
        .await;
    assert_eq!(invalid.json(), &json!("true"));
    assert!(endpoints(&app, &f.admin).await.is_empty());
    b.screenshot("webhooks-form-error", app.backend).await;

    // The real one, with an injection-shaped description.
    b.type_into("#wn-url", &receiver.url).await;
    b.type_into("#wn-description", XSS).await;
    b.click("#wn-form button[type='submit']").await;
    b.wait_text("#wh-secret-box", "won't be shown again").await;
    let secret = b.wait_text("#wh-secret", "whsec_").await.trim().to_owned();
    b.wait_text("#flash", "Endpoint added").await;
    b.wait_text("#wh-description", XSS).await;
    b.wait_text("#view h1 [data-badge]", "Active").await;
    assert_not_injected(&b, "the new endpoint").await;
    b.screenshot("webhooks-new-secret", app.backend).await;
    let listed = endpoints(&app, &f.admin).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let hook = &listed[0];
    assert_eq!(hook["url"], json!(receiver.url));
    assert_eq!(hook["description"], json!(XSS));
    assert_eq!(hook["events"], json!(["booking.created"]));
    assert_eq!(hook["is_active"], json!(true));
    let tail: String = secret
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    assert_eq!(hook["secret_hint"], json!(format!("…{tail}")));
    let hook_id = hook["id"].as_i64().expect("id");

    // The list shows it, the description as text, and only the secret's end.
    b.click("#view a[href='#webhooks']").await;
    b.wait_text("#wh-list", XSS).await;
    let list = b.wait_text("#wh-list", "Active").await;
    assert!(list.contains(&format!("…{tail}")), "{list}");
    assert!(!list.contains(&secret), "the list shows the secret: {list}");
    assert!(list.contains("booking.created"), "{list}");
    assert_not_injected(&b, "the endpoint list").await;
    b.click(&format!("#wh-list a[href='#webhook/{hook_id}']"))
        .await;
    b.wait_text("#wh-deliveries", "No deliveries yet").await;
    let page = b.wait_text("#view", "Deliveries").await;
    assert!(!page.contains(&secret), "the secret is shown a second time");

    // A booking: its booking.created goes to the receiver, which answers 500.
    app.book(f.tour, f.slots[0], 2, 0, 0)
        .await
        .assert_status(201);
    let hits = receiver.wait_for(1).await;
    let first = &hits[0];
    let signature = first.header("tourdesk-signature");
    let t: i64 = signature
        .strip_prefix("t=")
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no timestamp in {signature}"));
    assert!(
        (chrono::Utc::now().timestamp() - t).abs() < 300,
        "{signature}"
    );
    assert_eq!(
        signature,
        tourdesk::webhooks::signature(&secret, t, &first.body),
        "signed with the secret the console showed"
    );
    assert_eq!(first.header("tourdesk-event-type"), "booking.created");
    let body: Value = serde_json::from_str(&first.body).expect("a JSON body");
    assert_eq!(body["type"], json!("booking.created"));
    let event_id = first.header("tourdesk-event-id").to_owned();
    assert_eq!(body["id"], json!(event_id));

    // The page follows its deliveries: the failed one shows up.
    b.wait_text("#wh-deliveries", "booking.created").await;
    b.wait_text("#wh-deliveries", &event_id).await;
    b.wait_text("#wh-deliveries", "answered 500").await;
    b.wait_text("#wh-deliveries .pill", "pending").await;
    b.screenshot("webhooks-endpoint", app.backend).await;
    // The status filter: nothing is delivered, one is pending.
    b.js(
        "document.querySelector('#wh-filter select').value = 'delivered';",
        vec![],
    )
    .await;
    b.click("#wh-filter button[type='submit']").await;
    b.wait_text("#wh-deliveries", "No deliveries with this status")
        .await;
    b.js(
        "document.querySelector('#wh-filter select').value = 'pending';",
        vec![],
    )
    .await;
    b.click("#wh-filter button[type='submit']").await;
    b.wait_text("#wh-deliveries", "booking.created").await;

    // Its detail: the attempt (HTTP 500 and what the receiver said), the
    // body pretty-printed.
    b.click("#wh-deliveries a[href^='#webhook-delivery/']")
        .await;
    b.wait_text("#wd-log", "receiver says no").await;
    let log = b.wait_text("#wd-log", "500").await;
    assert!(log.contains("answered 500"), "{log}");
    b.wait_text("#wd-summary", "pending").await;
    let shown_body = b.wait_text("#view pre.code-block", &event_id).await;
    assert!(
        shown_body.contains("\n  \"type\": \"booking.created\""),
        "{shown_body}"
    );
    assert_eq!(rows(&b, "#wd-log").await, 1);

    // Replay: sent again at once (its retry would wait 30 s), and attempted.
    let before = receiver.hits().len();
    b.click("#wd-replay").await;
    b.wait_text("#flash", "Replay queued").await;
    let hits = receiver.wait_for(before + 1).await;
    assert!(
        hits.len() >= 2,
        "the receiver got {} request(s)",
        hits.len()
    );
    let again = hits.last().expect("the replay");
    assert_eq!(
        again.header("tourdesk-event-id"),
        event_id,
        "the same event"
    );
    assert_eq!(again.body, first.body, "the same bytes");
    wait_rows(&b, "#wd-log", before + 1).await;
    b.wait_text("#wd-summary", "pending").await;
    let deliveries = app
        .get_as(
            &f.admin,
            &format!("/api/calendar/admin/webhooks/{hook_id}/deliveries"),
        )
        .await;
    deliveries.assert_status(200);
    let delivery_id = deliveries.body[0]["id"].as_i64().expect("delivery");
    let detail = app
        .get_as(
            &f.admin,
            &format!("/api/calendar/admin/webhook-deliveries/{delivery_id}"),
        )
        .await;
    detail.assert_status(200);
    let attempts = detail.body["attempt_log"].as_array().expect("attempt log");
    assert!(attempts.len() >= 2, "{}", detail.text);
    assert!(
        attempts.iter().all(|a| a["status_code"] == json!(500)),
        "{}",
        detail.text
    );
    b.screenshot("webhooks-delivery", app.backend).await;

    // Pause: the badge says so, and so does the API.
    b.click(&format!("#view a[href='#webhook/{hook_id}']"))
        .await;
    b.click("#wh-toggle").await;
    b.wait_text("#view h1 [data-badge]", "Paused").await;
    b.wait_text("#flash", "paused").await;
    b.wait_text("#wh-toggle", "Resume").await;
    assert_eq!(
        endpoints(&app, &f.admin).await[0]["is_active"],
        json!(false)
    );
    b.click("#view a[href='#webhooks']").await;
    b.wait_text("#wh-list [data-badge]", "Paused").await;

    // Rotate the secret (after confirming): a new one, shown once.
    b.click(&format!("#wh-list a[href='#webhook/{hook_id}']"))
        .await;
    b.wait("#wh-rotate").await;
    b.js("window.confirm = () => true;", vec![]).await;
    b.click("#wh-rotate").await;
    b.wait_until(&format!(
        "document.querySelector('#wh-secret') && document.querySelector('#wh-secret').textContent !== {}",
        json!(secret)
    ))
    .await;
    let rotated = b.wait_text("#wh-secret", "whsec_").await.trim().to_owned();
    b.wait_text("#wh-secret-box", "won't be shown again").await;
    let tail: String = rotated.chars().skip(rotated.chars().count() - 4).collect();
    assert_eq!(
        endpoints(&app, &f.admin).await[0]["secret_hint"],
        json!(format!("…{tail}"))
    );
    let violations = b.csp_violations().await;
    assert!(violations.is_empty(), "CSP violations: {violations:?}");
    assert_not_injected(&b, "the endpoint, rotated").await;

    // Delete (after confirming): gone from the list and the API.
    b.js("window.confirm = () => true;", vec![]).await;
    b.click("#wh-delete").await;
    b.wait_text("#flash", "Endpoint deleted").await;
    b.wait_text("#wh-list", "No endpoints yet").await;
    assert!(endpoints(&app, &f.admin).await.is_empty());
    let violations = b.csp_violations().await;
    assert!(violations.is_empty(), "CSP violations: {violations:?}");
    b.quit().await;
}
