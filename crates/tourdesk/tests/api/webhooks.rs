//! Signed webhooks (#15), received by a real HTTP server in the test that
//! checks every signature: what is sent and how it is signed, retries with
//! backoff and the per-attempt log, dead letters and replay, the faults a
//! receiver can show (500, redirect, timeout, nothing listening), that a
//! slow receiver never holds up a booking, and the admin API's checks.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{TestApp, paths};
use crate::webhook_receiver::{Receiver, Reply};

both_backends!(
    subscribed_events_arrive_signed_with_the_endpoints_secret,
    a_receiver_failing_twice_gets_the_event_once_as_a_success,
    faults_are_logged_per_attempt_then_dead_lettered_and_replayable,
    a_slow_receiver_never_holds_up_a_booking,
    a_cancelled_departure_is_one_event,
    endpoints_are_validated_and_admin_only,
    paused_endpoints_wait_and_deleted_ones_get_nothing,
);

const SECRET: &str = "whsec_test_secret_0123456789abcdef";
const WAIT: Duration = Duration::from_secs(30);

async fn register(app: &TestApp, admin: &str, url: &str, events: Value) -> Value {
    let r = app
        .post_as(
            admin,
            paths::ADMIN_WEBHOOKS,
            &json!({"url": url, "events": events, "secret": SECRET, "description": "Back office"}),
        )
        .await;
    r.assert_status(201);
    r.body
}

async fn deliveries(app: &TestApp, admin: &str, webhook: i64) -> Vec<Value> {
    let r = app
        .get_as(
            admin,
            &format!("/api/calendar/admin/webhooks/{webhook}/deliveries"),
        )
        .await;
    r.assert_status(200);
    r.body.as_array().cloned().unwrap_or_default()
}

async fn delivery(app: &TestApp, admin: &str, id: i64) -> Value {
    let r = app
        .get_as(
            admin,
            &format!("/api/calendar/admin/webhook-deliveries/{id}"),
        )
        .await;
    r.assert_status(200);
    r.body
}

/// Waits until the delivery satisfies `pred` (the sender runs every second).
async fn wait_delivery(
    app: &TestApp,
    admin: &str,
    id: i64,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let d = delivery(app, admin, id).await;
        if pred(&d) {
            return d;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "delivery {id} never got there: {d:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits for the endpoint's only delivery of `event_type` and returns its id.
async fn first_delivery(app: &TestApp, admin: &str, webhook: i64, event_type: &str) -> i64 {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Some(id) = deliveries(app, admin, webhook)
            .await
            .iter()
            .find(|d| d["event_type"] == event_type)
            .and_then(|d| d["id"].as_i64())
        {
            return id;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {event_type} delivery"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn cancel(app: &TestApp, booking: &Value) {
    let id = booking["id"].as_i64().expect("booking id");
    let token = booking["manage_token"].as_str().expect("manage token");
    app.send(
        Method::DELETE,
        &paths::booking(id),
        Some(&json!({"cancellation_reason": "Plans changed"})),
        &[("x-manage-token", token)],
    )
    .await
    .assert_status(200);
}

async fn subscribed_events_arrive_signed_with_the_endpoints_secret(app: TestApp) {
    let f = app.fixture(10).await;
    let rx = Receiver::start(SECRET).await;
    let hook = register(
        &app,
        &f.admin,
        &rx.url,
        json!(["booking.created", "booking.cancelled"]),
    )
    .await;
    // The secret is answered once, when set; afterwards only a hint.
    assert_eq!(hook["secret"], SECRET);
    assert_eq!(hook["secret_hint"], "…cdef");
    assert_eq!(
        hook["events"],
        json!(["booking.created", "booking.cancelled"])
    );
    let id = hook["id"].as_i64().expect("webhook id");
    let listed = app.get_as(&f.admin, paths::ADMIN_WEBHOOKS).await;
    listed.assert_status(200);
    assert!(!listed.text.contains(SECRET), "the secret is never listed");
    assert_eq!(listed.body[0]["url"], rx.url.as_str());

    let booking = app.book(f.tour, f.slots[0], 2, 1, 0).await;
    booking.assert_status(201);
    cancel(&app, &booking.body).await;
    // A waitlist join is not subscribed: it must not arrive.
    app.post(
        paths::WAITLIST,
        &json!({"tour_id": f.tour, "booking_slot_id": f.slots[1], "requested_date": f.dates[1],
                "num_people": 2, "customer_name": "Wai Ting", "customer_email": "wait@example.com"}),
    )
    .await;

    let got = rx
        .wait_until(WAIT, |g| {
            // Deliveries go out in parallel: no order is promised.
            ["booking.created", "booking.cancelled"]
                .iter()
                .all(|t| g.iter().any(|g| g.event_type == *t))
        })
        .await;
    let reference = booking.body["booking_reference"]
        .as_str()
        .unwrap_or_default();
    let created = got
        .iter()
        .find(|g| g.event_type == "booking.created")
        .expect("booking.created arrived");
    for g in &got {
        assert!(g.signature_ok, "signature checks with the secret: {g:?}");
        assert_eq!(g.content_type, "application/json");
        assert!(
            g.user_agent.starts_with("Tourdesk-Webhooks/"),
            "{}",
            g.user_agent
        );
        assert_eq!(g.attempt, "1");
        assert_eq!(
            g.body["id"],
            g.event_id.as_str(),
            "header and body carry one id"
        );
        assert_eq!(g.body["type"], g.event_type.as_str());
        assert!(g.event_id.starts_with("evt_"), "{}", g.event_id);
        assert!(g.timestamp > 1_600_000_000);
    }
    assert_eq!(created.body["data"]["booking_reference"], reference);
    assert_eq!(created.body["data"]["total_people"], 3);
    assert_eq!(created.body["tour_id"], f.tour);
    assert!(created.body["created_at"].is_string());
    // Tampering is caught by the same check a receiver runs.
    let forged = created
        .raw
        .replace("\"total_people\":3", "\"total_people\":30");
    let header = format!("t={},v1=00", created.timestamp);
    assert!(crate::webhook_receiver::verify(SECRET, &header, forged.as_bytes()).is_none());
    assert!(
        !got.iter().any(|g| g.event_type.starts_with("waitlist.")),
        "unsubscribed events are not sent"
    );
    assert_eq!(got.len(), 2, "each event once: {got:?}");

    // The log shows each delivery delivered, with its one attempt.
    let list = deliveries(&app, &f.admin, id).await;
    assert_eq!(list.len(), 2);
    let d = wait_delivery(&app, &f.admin, list[0]["id"].as_i64().unwrap_or(0), |d| {
        d["status"] == "delivered"
    })
    .await;
    assert_eq!(d["attempts"], 1);
    let log = d["attempt_log"].as_array().expect("attempt log");
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["status_code"], 200);
    assert!(log[0]["error"].is_null());
    assert!(log[0]["latency_ms"].as_i64().is_some_and(|ms| ms >= 0));
    assert_eq!(log[0]["response_excerpt"], "receiver says 200");
    let body: Value = serde_json::from_str(d["body"].as_str().unwrap_or("")).expect("body is JSON");
    assert_eq!(body["id"], d["event_id"]);

    // A rotated secret signs from then on; the old one no longer checks.
    let r = app
        .post_as(
            &f.admin,
            &format!("/api/calendar/admin/webhooks/{id}/secret"),
            &json!({}),
        )
        .await;
    r.assert_status(200);
    let new_secret = r.body["secret"].as_str().expect("new secret").to_owned();
    assert!(new_secret.starts_with("whsec_") && new_secret != SECRET);
    rx.set_secret(&new_secret);
    app.book(f.tour, f.slots[2], 1, 0, 0)
        .await
        .assert_status(201);
    let got = rx.wait_until(WAIT, |g| g.len() == 3).await;
    assert!(got[2].signature_ok, "signed with the rotated secret");
    assert!(crate::webhook_receiver::verify(SECRET, "t=1,v1=00", got[2].raw.as_bytes()).is_none());
}

async fn a_receiver_failing_twice_gets_the_event_once_as_a_success(app: TestApp) {
    let f = app.fixture(10).await;
    let rx = Receiver::start(SECRET).await;
    rx.script([Reply::Status(500), Reply::Status(503)]);
    let hook = register(&app, &f.admin, &rx.url, json!(["booking.created"])).await;
    let webhook = hook["id"].as_i64().expect("id");
    app.book(f.tour, f.slots[0], 2, 0, 0)
        .await
        .assert_status(201);
    let id = first_delivery(&app, &f.admin, webhook, "booking.created").await;

    let d = wait_delivery(&app, &f.admin, id, |d| {
        d["attempts"] == 1 && d["status"] == "pending"
    })
    .await;
    assert_eq!(d["last_error"], "answered 500 Internal Server Error");
    // Retried after 30 s, then 60 s (the clock is moved, not waited).
    app.clock.advance(chrono::Duration::seconds(31));
    wait_delivery(&app, &f.admin, id, |d| {
        d["attempts"] == 2 && d["status"] == "pending"
    })
    .await;
    app.clock.advance(chrono::Duration::seconds(61));
    let d = wait_delivery(&app, &f.admin, id, |d| d["status"] == "delivered").await;

    assert_eq!(d["attempts"], 3);
    assert!(d["last_error"].is_null());
    let log: Vec<Value> = d["attempt_log"].as_array().cloned().unwrap_or_default();
    let codes: Vec<&Value> = log.iter().map(|a| &a["status_code"]).collect();
    assert_eq!(codes, [&json!(500), &json!(503), &json!(200)]);
    assert_eq!(log[1]["error"], "answered 503 Service Unavailable");
    assert_eq!(log[1]["response_excerpt"], "receiver says 503");

    let got = rx.got();
    assert_eq!(got.len(), 3, "three requests: {got:?}");
    assert!(
        got.iter()
            .all(|g| g.event_id == got[0].event_id && g.raw == got[0].raw),
        "every attempt is the same event, byte for byte"
    );
    assert_eq!(
        got.iter().map(|g| g.attempt.as_str()).collect::<Vec<_>>(),
        ["1", "2", "3"]
    );
    assert_eq!(
        got.iter().filter(|g| g.answered == 200).count(),
        1,
        "one success"
    );
    // Nothing more comes: the success is final.
    app.clock.advance(chrono::Duration::hours(7));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(rx.got().len(), 3);
}

async fn faults_are_logged_per_attempt_then_dead_lettered_and_replayable(app: TestApp) {
    let f = app.fixture(10).await;
    let mut app = app;
    app.stop().await;
    let app = TestApp::spawn_on(app.backend, &app.database.url, |c| {
        c.webhook_timeout_seconds = 1;
        c.webhook_max_attempts = 4;
    })
    .await;
    let rx = Receiver::start(SECRET).await;
    rx.script([
        Reply::Redirect("https://elsewhere.example/hook".into()),
        Reply::Slow(Duration::from_secs(3)),
    ]);
    rx.otherwise(Reply::Status(500));
    let hook = register(&app, &f.admin, &rx.url, json!(["*"])).await;
    let webhook = hook["id"].as_i64().expect("id");
    // A second endpoint where nothing listens.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        l.local_addr().expect("addr").port()
    };
    let dead_end = register(
        &app,
        &f.admin,
        &format!("http://127.0.0.1:{closed}/nobody"),
        json!(["booking.created"]),
    )
    .await;
    app.book(f.tour, f.slots[0], 2, 0, 0)
        .await
        .assert_status(201);
    let id = first_delivery(&app, &f.admin, webhook, "booking.created").await;

    let step = |n: i64| move |d: &Value| d["attempts"] == n && d["status"] != "sending";
    wait_delivery(&app, &f.admin, id, step(1)).await;
    for wait in [31, 61, 121] {
        app.clock.advance(chrono::Duration::seconds(wait));
        let n = match wait {
            31 => 2,
            61 => 3,
            _ => 4,
        };
        wait_delivery(&app, &f.admin, id, step(n)).await;
    }
    let d = wait_delivery(&app, &f.admin, id, |d| d["status"] == "dead").await;
    let log = d["attempt_log"].as_array().cloned().unwrap_or_default();
    assert_eq!(log.len(), 4, "{d:#}");
    assert_eq!(log[0]["status_code"], 302);
    let why = log[0]["error"].as_str().unwrap_or("");
    assert!(
        why.contains("redirect to https://elsewhere.example/hook"),
        "{why}"
    );
    assert!(log[1]["status_code"].is_null());
    let why = log[1]["error"].as_str().unwrap_or("");
    assert!(why.contains("no answer within"), "{why}");
    assert_eq!(log[2]["status_code"], 500);
    assert_eq!(d["last_error"], "answered 500 Internal Server Error");

    // Nothing listening: "cannot connect", retried like the rest.
    let other = first_delivery(
        &app,
        &f.admin,
        dead_end["id"].as_i64().unwrap_or(0),
        "booking.created",
    )
    .await;
    let d = wait_delivery(&app, &f.admin, other, |d| {
        d["attempts"].as_i64() >= Some(1) && d["status"] != "sending"
    })
    .await;
    let why = d["attempt_log"][0]["error"].as_str().unwrap_or("");
    assert!(why.starts_with("cannot connect"), "{why}");

    // Dead letters are listed by status, and a replay sends the same event.
    let r = app
        .get_as(
            &f.admin,
            &format!("/api/calendar/admin/webhooks/{webhook}/deliveries?status=dead"),
        )
        .await;
    r.assert_status(200);
    assert!(
        r.body
            .as_array()
            .is_some_and(|a| a.iter().any(|d| d["id"] == id))
    );
    rx.otherwise(Reply::Status(204));
    let before = rx.got().len();
    let r = app
        .post_as(
            &f.admin,
            &format!("/api/calendar/admin/webhook-deliveries/{id}/replay"),
            &json!({}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["status"], "pending");
    assert_eq!(r.body["attempts"], 0);
    let d = wait_delivery(&app, &f.admin, id, |d| d["status"] == "delivered").await;
    assert_eq!(
        d["attempt_log"].as_array().map(Vec::len),
        Some(5),
        "the log keeps every attempt"
    );
    let got = rx.got();
    assert!(got.len() > before);
    let last = got.last().expect("the replay arrived");
    assert_eq!(last.event_id, got[0].event_id);
    assert!(last.signature_ok);
    // A delivered one can be replayed too (a receiver that lost it).
    app.post_as(
        &f.admin,
        &format!("/api/calendar/admin/webhook-deliveries/{id}/replay"),
        &json!({}),
    )
    .await
    .assert_status(200);
    wait_delivery(&app, &f.admin, id, |d| {
        d["status"] == "delivered" && d["attempts"] == 1
    })
    .await;
    app.post_as(
        &f.admin,
        "/api/calendar/admin/webhook-deliveries/999999/replay",
        &json!({}),
    )
    .await
    .assert_error(404, "not_found");
}

async fn a_slow_receiver_never_holds_up_a_booking(app: TestApp) {
    let f = app.fixture(20).await;
    let rx = Receiver::start(SECRET).await;
    rx.otherwise(Reply::Hold);
    register(&app, &f.admin, &rx.url, json!(["booking.created"])).await;
    app.book(f.tour, f.slots[0], 1, 0, 0)
        .await
        .assert_status(201);
    // The receiver now holds the first delivery open and answers nothing.
    rx.wait_until(WAIT, |g| !g.is_empty()).await;
    for slot in &f.slots[1..6] {
        app.book(f.tour, *slot, 2, 0, 0).await.assert_status(201);
    }
    assert!(
        rx.got().iter().all(|g| g.answered == 200),
        "still held while the bookings were answered"
    );
    rx.release();
    rx.wait_until(WAIT, |g| g.len() >= 6).await;
}

async fn a_cancelled_departure_is_one_event(app: TestApp) {
    let f = app.fixture(10).await;
    let rx = Receiver::start(SECRET).await;
    register(
        &app,
        &f.admin,
        &rx.url,
        json!(["departure.cancelled", "booking.cancelled"]),
    )
    .await;
    app.book(f.tour, f.slots[0], 2, 0, 0)
        .await
        .assert_status(201);
    app.book(f.tour, f.slots[0], 1, 0, 0)
        .await
        .assert_status(201);
    app.post_as(
        &f.admin,
        &format!("/api/calendar/admin/slots/{}/cancel", f.slots[0]),
        &json!({"reason": "Storm warning"}),
    )
    .await
    .assert_status(200);
    let got = rx
        .wait_until(WAIT, |g| {
            g.iter().any(|g| g.event_type == "departure.cancelled")
                && g.iter()
                    .filter(|g| g.event_type == "booking.cancelled")
                    .count()
                    == 2
        })
        .await;
    let dep = got
        .iter()
        .find(|g| g.event_type == "departure.cancelled")
        .expect("departure.cancelled");
    assert_eq!(dep.body["data"]["booking_slot_id"], f.slots[0]);
    assert_eq!(dep.body["data"]["reason"], "Storm warning");
    assert_eq!(dep.body["data"]["cancelled_bookings"], 2);
    assert_eq!(dep.body["data"]["slot_date"], f.dates[0].as_str());
}

async fn endpoints_are_validated_and_admin_only(app: TestApp) {
    let admin = app.admin().await;
    let path = paths::ADMIN_WEBHOOKS;
    let ok = json!({"url": "https://hooks.example.com/in", "events": ["booking.created"]});
    app.post(path, &ok).await.assert_status(401);
    let customer = app.customer("nosy@example.com").await;
    app.post_as(&customer, path, &ok).await.assert_status(403);
    app.get_as(&customer, path).await.assert_status(403);
    let cases = [
        (
            json!({"url": "ftp://example.com/in", "events": ["*"]}),
            "url",
        ),
        (
            json!({"url": "javascript:alert(1)", "events": ["*"]}),
            "url",
        ),
        (json!({"url": "https://", "events": ["*"]}), "url"),
        (json!({"url": "not a url", "events": ["*"]}), "url"),
        (
            json!({"url": format!("https://e.com/{}", "a".repeat(2100)), "events": ["*"]}),
            "url",
        ),
        (json!({"events": ["*"]}), "url"),
        (json!({"url": "https://e.com/in", "events": []}), "events"),
        (
            json!({"url": "https://e.com/in", "events": ["booking.exploded"]}),
            "events",
        ),
        (json!({"url": "https://e.com/in"}), "events"),
        (
            json!({"url": "https://e.com/in", "events": ["*"], "secret": "short"}),
            "secret",
        ),
        (
            json!({"url": "https://e.com/in", "events": ["*"], "secret": "has spaces in it, sixteen+"}),
            "secret",
        ),
        (
            json!({"url": "https://e.com/in", "events": ["*"], "description": "a\nb"}),
            "description",
        ),
    ];
    for (body, field) in cases {
        let r = app.post_as(&admin, path, &body).await;
        r.assert_status(422);
        assert!(r.text.contains(field), "{body} → {}", r.text);
    }
    app.post_as(
        &admin,
        path,
        &json!({"url": "https://e.com/in", "events": ["*"], "colour": "red"}),
    )
    .await
    .assert_status(422);
    let listed = app.get_as(&admin, path).await;
    assert_eq!(
        listed.body,
        json!([]),
        "nothing was stored by a refused request"
    );

    // Made without a secret: one is generated, shown once.
    let r = app.post_as(&admin, path, &ok).await;
    r.assert_status(201);
    let secret = r.body["secret"].as_str().unwrap_or("");
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    let id = r.body["id"].as_i64().expect("id");
    let one = app.get_as(&admin, &format!("{path}/{id}")).await;
    one.assert_status(200);
    assert!(one.body.get("secret").is_none());
    assert!(!one.text.contains(secret));

    let r = app
        .patch_as(
            &admin,
            &format!("{path}/{id}"),
            &json!({"events": ["*"], "is_active": false}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["events"], json!(["*"]));
    assert_eq!(r.body["is_active"], false);
    assert_eq!(r.body["url"], "https://hooks.example.com/in");
    app.patch_as(
        &admin,
        &format!("{path}/{id}"),
        &json!({"url": "gopher://x"}),
    )
    .await
    .assert_status(422);
    app.patch_as(
        &admin,
        &format!("{path}/999999"),
        &json!({"is_active": true}),
    )
    .await
    .assert_error(404, "not_found");
    app.patch_as(
        &customer,
        &format!("{path}/{id}"),
        &json!({"is_active": true}),
    )
    .await
    .assert_status(403);
    let types = app.get_as(&admin, &format!("{path}/event-types")).await;
    types.assert_status(200);
    for t in [
        "booking.created",
        "booking.changed",
        "booking.cancelled",
        "booking.status_changed",
        "waitlist.notified",
        "waitlist.claimed",
        "waitlist.expired",
        "departure.cancelled",
    ] {
        assert!(
            types.body.as_array().is_some_and(|a| a.contains(&json!(t))),
            "{t}"
        );
    }
    app.get_as(&admin, &format!("{path}/{id}/deliveries?status=lost"))
        .await
        .assert_status(422);
    app.get_as(&admin, &format!("{path}/999999/deliveries"))
        .await
        .assert_error(404, "not_found");
    app.delete_as(&customer, &format!("{path}/{id}"), None)
        .await
        .assert_status(403);
    app.delete_as(&admin, &format!("{path}/{id}"), None)
        .await
        .assert_status(204);
    app.delete_as(&admin, &format!("{path}/{id}"), None)
        .await
        .assert_error(404, "not_found");
}

async fn paused_endpoints_wait_and_deleted_ones_get_nothing(app: TestApp) {
    let f = app.fixture(10).await;
    let rx = Receiver::start(SECRET).await;
    let hook = register(&app, &f.admin, &rx.url, json!(["booking.created"])).await;
    let id = hook["id"].as_i64().expect("id");
    let path = format!("/api/calendar/admin/webhooks/{id}");
    app.patch_as(&f.admin, &path, &json!({"is_active": false}))
        .await
        .assert_status(200);
    app.book(f.tour, f.slots[0], 1, 0, 0)
        .await
        .assert_status(201);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(rx.got().is_empty(), "a paused endpoint gets nothing");
    let held = deliveries(&app, &f.admin, id).await;
    assert_eq!(held.len(), 1, "what happens meanwhile is kept: {held:?}");
    assert_eq!(held[0]["status"], "pending");
    // Resumed: the held event goes, then new ones as they come.
    app.patch_as(&f.admin, &path, &json!({"is_active": true}))
        .await
        .assert_status(200);
    rx.wait_until(WAIT, |g| g.len() == 1).await;
    app.book(f.tour, f.slots[1], 1, 0, 0)
        .await
        .assert_status(201);
    let got = rx.wait_until(WAIT, |g| g.len() == 2).await;
    assert_ne!(got[0].event_id, got[1].event_id);
    app.delete_as(&f.admin, &path, None)
        .await
        .assert_status(204);
    app.book(f.tour, f.slots[2], 1, 0, 0)
        .await
        .assert_status(201);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(rx.got().len(), 2, "a deleted endpoint gets nothing more");
}
