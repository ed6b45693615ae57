//! Hostile input answered as the client's mistake: control characters and
//! invisible-only text are 422 naming the field (on PostgreSQL a NUL used to
//! be a 500), only `application/json` is JSON, and admin routes authorise
//! before they read the body. Nothing is changed by a refused request.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Fixture, TestApp, TestResponse, paths};

both_backends!(
    control_characters_and_invisible_text_are_refused_in_every_text_field,
    only_application_json_is_json,
    admin_routes_authorise_before_reading_the_body,
    every_response_carries_the_security_headers,
    dates_outside_1900_to_2999_are_refused_everywhere,
    prices_that_round_to_nothing_or_overflow_are_refused,
    oversized_request_heads_get_json_errors,
    a_client_that_never_finishes_its_head_is_cut_off,
    missing_and_unknown_fields_are_named,
);

/// A body without a required field, or (where the body is strict) with one
/// the API does not know, is a 422 whose `field` names it, and nothing is
/// created.
async fn missing_and_unknown_fields_are_named(app: TestApp) {
    let f = app.fixture(4).await;
    let before = count_bookings(&app, &f).await;
    let r = app
        .post(
            paths::WAITLIST,
            &json!({"tour_id": f.tour, "requested_date": f.dates[0], "num_people": 2, "colour": "red",
                    "customer_name": "Ann", "customer_email": "ann@example.com"}),
        )
        .await;
    r.assert_error(422, "validation_error");
    assert_eq!(r.body["field"], "colour", "{}", r.body);
    let r = app
        .post(
            paths::WAITLIST,
            &json!({"tour_id": f.tour, "num_people": 2, "customer_name": "Ann", "customer_email": "ann@example.com"}),
        )
        .await;
    r.assert_error(422, "validation_error");
    assert_eq!(r.body["field"], "requested_date", "{}", r.body);
    assert_eq!(count_bookings(&app, &f).await, before, "nothing created");
}

const BAD_TEXT: [&str; 5] = [
    "Ada\u{0}Lovelace",
    "bell\u{7}",
    "\u{1b}[31mred",
    "\u{200B}\u{200B}",
    "   ",
];

async fn count_bookings(app: &TestApp, f: &Fixture) -> i64 {
    let r = app
        .get_as(&f.admin, "/api/calendar/admin/bookings?limit=1")
        .await;
    r.body["total"].as_i64().unwrap_or(-1)
}

async fn control_characters_and_invisible_text_are_refused_in_every_text_field(app: TestApp) {
    let f = app.fixture(4).await;
    let base = json!({"tour_id": f.tour, "booking_slot_id": f.slots[0], "num_adults": 1,
                      "customer_name": "Ada Lovelace", "customer_email": "ada@example.com"});
    for field in [
        "customer_name",
        "special_requirements",
        "dietary_restrictions",
        "accessibility_needs",
    ] {
        for bad in BAD_TEXT {
            let mut body = base.clone();
            body[field] = json!(bad);
            let r = app.create_booking(&body).await;
            r.assert_error(422, "validation_error");
            assert_eq!(r.body["field"], field, "{bad:?}: {}", r.text);
        }
    }
    // A name with a line break is refused; notes may have one.
    let mut body = base.clone();
    body["customer_name"] = json!("Ada\nLovelace");
    app.create_booking(&body)
        .await
        .assert_error(422, "validation_error");
    let mut body = base.clone();
    body["special_requirements"] = json!("Vegetarian\nNo nuts");
    let created = app.create_booking(&body).await;
    created.assert_status(201);
    assert_eq!(count_bookings(&app, &f).await, 1, "only the valid one");
    let id = created.body["id"].as_i64().expect("id");
    let token = created.body["manage_token"].as_str().expect("token");
    // Modification notes and the cancellation reason, as the guest.
    for bad in BAD_TEXT {
        let r = app
            .send(
                Method::PUT,
                &paths::booking(id),
                Some(&json!({"new_num_adults": 2, "modification_notes": bad})),
                &[("x-manage-token", token)],
            )
            .await;
        r.assert_error(422, "validation_error");
        assert_eq!(r.body["field"], "modification_notes");
        let r = app
            .send(
                Method::DELETE,
                &paths::booking(id),
                Some(&json!({"cancellation_reason": bad})),
                &[("x-manage-token", token)],
            )
            .await;
        r.assert_error(422, "validation_error");
        assert_eq!(r.body["field"], "cancellation_reason");
    }
    let b = app.get_booking(&f.admin, id).await;
    assert_eq!(b.body["status"], "pending", "nothing changed: {}", b.text);
    assert_eq!(b.body["num_adults"], 1);
    // Waitlist notes (the departure is full first).
    app.book(f.tour, f.slots[1], 4, 0, 0)
        .await
        .assert_status(201);
    for bad in BAD_TEXT {
        let r = app
            .post(
                paths::WAITLIST,
                &json!({"tour_id": f.tour, "requested_date": f.dates[1], "num_people": 1,
                        "customer_name": "Wanda", "customer_email": "w@example.com", "notes": bad}),
            )
            .await;
        r.assert_error(422, "validation_error");
        assert_eq!(r.body["field"], "notes");
    }
    // The operator's texts: a tour name and description, a blackout name.
    for bad in BAD_TEXT {
        let r = app
            .post_as(
                &f.admin,
                paths::ADMIN_TOURS,
                &json!({"name": bad, "duration_minutes": 60, "base_price": 10}),
            )
            .await;
        r.assert_error(422, "validation_error");
        assert_eq!(r.body["field"], "name");
        let r = app
            .post_as(
                &f.admin,
                paths::ADMIN_BLACKOUTS,
                &json!({"start_date": f.dates[5], "end_date": f.dates[5],
                        "blackout_type": "weather", "name": bad}),
            )
            .await;
        r.assert_error(422, "validation_error");
        assert_eq!(r.body["field"], "name");
    }
    let r = app
        .post_as(
            &f.admin,
            paths::ADMIN_TOURS,
            &json!({"name": "Night walk", "description": "dark\u{0}", "duration_minutes": 60, "base_price": 10}),
        )
        .await;
    r.assert_error(422, "validation_error");
    assert_eq!(r.body["field"], "description");
    let tours = app.get(paths::TOURS).await;
    assert_eq!(tours.body.as_array().map(Vec::len), Some(1));
    app.assert_consistent().await;
}

async fn only_application_json_is_json(app: TestApp) {
    let f = app.fixture(4).await;
    let body = json!({"tour_id": f.tour, "booking_slot_id": f.slots[0], "num_adults": 1,
                      "customer_name": "Ada Lovelace", "customer_email": "ada@example.com"})
    .to_string();
    for ct in [
        "application/jsonfoo",
        "text/json",
        "application/json; charset=latin1",
        "text/plain",
    ] {
        let r = app
            .client
            .post(app.url(paths::BOOKINGS))
            .header("content-type", ct)
            .body(body.clone())
            .send()
            .await
            .expect("send");
        let r = TestApp::read(r).await;
        r.assert_error(415, "unsupported_media_type");
    }
    assert_eq!(count_bookings(&app, &f).await, 0);
    for ct in ["application/json", "application/json; charset=UTF-8"] {
        let r = app
            .client
            .post(app.url(paths::BOOKINGS))
            .header("content-type", ct)
            .body(body.clone())
            .send()
            .await
            .expect("send");
        TestApp::read(r).await.assert_status(201);
    }
}

async fn admin_routes_authorise_before_reading_the_body(app: TestApp) {
    let f = app.fixture(4).await;
    let garbage = json!({"nonsense": true});
    let customer = app.customer("eve@example.com").await;
    let routes: Vec<(Method, String)> = vec![
        (
            Method::POST,
            format!("/api/calendar/admin/slots/{}/cancel", f.slots[0]),
        ),
        (Method::POST, "/api/calendar/admin/bookings/1/status".into()),
        (
            Method::PATCH,
            format!("/api/calendar/admin/slots/{}", f.slots[0]),
        ),
        (Method::POST, paths::ADMIN_BLACKOUTS.into()),
        (
            Method::PUT,
            format!("/api/calendar/admin/schedules/{}", f.schedule),
        ),
        (Method::POST, paths::ADMIN_TOURS.into()),
    ];
    for (method, path) in &routes {
        let r = app.send(method.clone(), path, Some(&garbage), &[]).await;
        r.assert_error(401, "unauthorized");
        let auth = format!("Bearer {customer}");
        let r = app
            .send(
                method.clone(),
                path,
                Some(&garbage),
                &[("authorization", auth.as_str())],
            )
            .await;
        r.assert_error(403, "forbidden");
    }
    let slot: Value = app.slot(f.tour, f.slots[0]).await;
    assert_eq!(slot["is_cancelled"], false);
}

/// Nobody sells out the departures in a burst: booking creates and
/// waitlist joins are limited per address and per email, and one email
/// holds a bounded number of unconfirmed guest bookings.
mod abuse_limits {
    use serde_json::json;
    use tourdesk_store::Backend;

    use crate::helpers::{TestApp, paths};

    fn booking(tour: i64, slot: i64, email: &str) -> serde_json::Value {
        json!({"tour_id": tour, "booking_slot_id": slot, "num_adults": 1,
               "customer_name": "Burst Buyer", "customer_email": email})
    }

    async fn per_address(backend: Backend) {
        let Some(app) = TestApp::spawn(backend, |c| {
            c.rate_limit_booking_per_minute = 3;
            c.rate_limit_window_seconds = 600;
        })
        .await
        else {
            return;
        };
        let f = app.fixture(50).await;
        for i in 0..3 {
            app.create_booking(&booking(f.tour, f.slots[0], &format!("b{i}@example.com")))
                .await
                .assert_status(201);
        }
        let r = app
            .create_booking(&booking(f.tour, f.slots[0], "b9@example.com"))
            .await;
        r.assert_error(429, "rate_limited");
        assert!(r.headers.get("retry-after").is_some());
        // Waitlist joins share the allowance.
        app.post(
            paths::WAITLIST,
            &json!({"tour_id": f.tour, "requested_date": f.dates[0], "num_people": 1,
                    "customer_name": "W", "customer_email": "w@example.com"}),
        )
        .await
        .assert_error(429, "rate_limited");
        // The operator is not limited.
        app.create_booking_as(&f.admin, &booking(f.tour, f.slots[0], "phone@example.com"))
            .await
            .assert_status(201);
        let slot = app.slot(f.tour, f.slots[0]).await;
        assert_eq!(slot["current_bookings"], 4, "the refused one took nothing");
    }

    async fn per_email_and_pending(backend: Backend) {
        let Some(app) = TestApp::spawn(backend, |c| {
            c.rate_limit_booking_per_email = 3;
            c.max_pending_per_email = 2;
            c.rate_limit_window_seconds = 600;
        })
        .await
        else {
            return;
        };
        let f = app.fixture(50).await;
        for _ in 0..2 {
            app.create_booking(&booking(f.tour, f.slots[1], "Same@Example.com"))
                .await
                .assert_status(201);
        }
        // A third unconfirmed booking for the same email is refused.
        app.create_booking(&booking(f.tour, f.slots[1], "same@example.com"))
            .await
            .assert_error(429, "rate_limited");
        // Another email is fine; then the per-email window is spent too.
        app.create_booking(&booking(f.tour, f.slots[1], "other@example.com"))
            .await
            .assert_status(201);
        app.create_booking(&booking(f.tour, f.slots[1], "same@example.com"))
            .await
            .assert_error(429, "rate_limited");
        assert_eq!(app.slot(f.tour, f.slots[1]).await["current_bookings"], 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        per_address(Backend::Sqlite).await;
        per_email_and_pending(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        per_address(Backend::Postgres).await;
        per_email_and_pending(Backend::Postgres).await;
    }
}

async fn every_response_carries_the_security_headers(app: TestApp) {
    let f = app.fixture(2).await;
    let header = |r: &crate::helpers::TestResponse, name: &str| -> String {
        r.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let tour_page = format!("/tours/{}", f.tour);
    let paths = [
        "/",
        tour_page.as_str(),
        "/admin",
        "/account",
        "/manage",
        "/assets/tourdesk.js",
        paths::TOURS,
        "/api/no-such-route",
        "/healthz",
    ];
    for path in paths {
        let r = app.get(path).await;
        assert_eq!(header(&r, "x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header(&r, "referrer-policy"), "same-origin", "{path}");
        let csp = header(&r, "content-security-policy");
        if path.starts_with("/api/") || path == "/healthz" {
            assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        } else {
            assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
            assert!(!csp.contains("unsafe-eval"), "{path}: {csp}");
            assert!(
                !csp.contains("script-src 'self' 'unsafe-inline'"),
                "{path}: {csp}"
            );
            // Styles from this origin only: no style attribute, no <style>.
            assert!(csp.contains("style-src 'self';"), "{path}: {csp}");
            assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        }
        let unframeable = ["/admin", "/account", "/manage"].contains(&path);
        assert_eq!(
            csp.contains("frame-ancestors 'none'"),
            unframeable || path.starts_with("/api/") || path == "/healthz",
            "{path}: {csp}"
        );
        if unframeable {
            assert_eq!(header(&r, "x-frame-options"), "DENY", "{path}");
        }
    }
    // Every operation of the API, as a stranger and as the admin, whatever
    // it answers (2xx, 401, 404, 415, 422...): the headers are there.
    let doc = app.get_openapi().await.body;
    let ops = doc["paths"].as_object().expect("paths").clone();
    let mut checked = 0;
    for (template, item) in ops {
        let path = template
            .split('/')
            .map(|seg| {
                if seg.starts_with('{') {
                    f.tour.to_string()
                } else {
                    seg.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            for auth in [None, Some(format!("Bearer {}", f.admin))] {
                let mut headers = Vec::new();
                if let Some(a) = auth.as_deref() {
                    headers.push(("authorization", a));
                }
                let r = app.send(m.clone(), &path, None, &headers).await;
                let what = format!("{method} {path} -> {}", r.status);
                assert_eq!(header(&r, "x-content-type-options"), "nosniff", "{what}");
                assert_eq!(header(&r, "referrer-policy"), "same-origin", "{what}");
                assert!(
                    header(&r, "content-security-policy").contains("frame-ancestors 'none'"),
                    "{what}"
                );
                assert!(r.status.as_u16() < 500, "{what}: {}", r.text);
                if r.status.is_client_error() {
                    assert!(r.body["code"].is_string(), "{what}: not JSON: {}", r.text);
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 60, "only {checked} operations checked");
}

/// A date outside 1900-2999 is a typo, answered 422 naming the field; near
/// the end of chrono's range, date arithmetic (`+ 36 months`) used to panic
/// and a year-10000 date stored on SQLite could not be read back (500).
async fn dates_outside_1900_to_2999_are_refused_everywhere(app: TestApp) {
    let f = app.fixture(2).await;
    for bad in ["3000-01-01", "1899-12-31", "9999-12-01"] {
        let r = app
            .post_as(
                &f.admin,
                paths::ADMIN_SCHEDULES,
                &json!({"tour_id": f.tour, "name": "Far", "start_time": "09:00:00", "recurrence": "daily",
                        "max_capacity": 5, "valid_from": f.dates[0], "valid_until": bad}),
            )
            .await;
        r.assert_error(422, "validation_error");
        assert_eq!(r.body["field"], "valid_until", "{}", r.text);
        let r = app
            .post_as(
                &f.admin,
                paths::ADMIN_BLACKOUTS,
                &json!({"start_date": bad, "end_date": bad, "blackout_type": "custom", "name": "Far"}),
            )
            .await;
        r.assert_error(422, "validation_error");
        assert_eq!(r.body["field"], "start_date", "{}", r.text);
        app.generate(&f.admin, f.schedule, &f.dates[0], bad)
            .await
            .assert_error(422, "validation_error");
        app.get(&format!(
            "/api/calendar/tours/{}/slots?start_date={}&end_date={bad}",
            f.tour, f.dates[0]
        ))
        .await
        .assert_error(422, "validation_error");
        app.get_as(
            &f.admin,
            &format!("/api/calendar/admin/slots?start_date={bad}&end_date={bad}"),
        )
        .await
        .assert_error(422, "validation_error");
        let r = app
            .post(
                paths::WAITLIST,
                &json!({"tour_id": f.tour, "requested_date": bad, "num_people": 1,
                        "customer_name": "W", "customer_email": "w@example.com"}),
            )
            .await;
        r.assert_error(422, "validation_error");
        assert_eq!(r.body["field"], "requested_date");
    }
    let listed = app.get_as(&f.admin, paths::ADMIN_BLACKOUTS).await;
    assert_eq!(listed.body, json!([]), "nothing was written");
}

/// Sends `raw` as the JSON body, byte for byte (a `serde_json::Value` would
/// already have rounded `1e-400` to 0).
async fn send_raw(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    raw: &str,
) -> TestResponse {
    let resp = app
        .client
        .request(method, app.url(path))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(raw.to_owned())
        .send()
        .await
        .expect("send");
    TestApp::read(resp).await
}

async fn prices_that_round_to_nothing_or_overflow_are_refused(app: TestApp) {
    let f = app.fixture(5).await;
    let tours_before = app.get(paths::TOURS).await.text;
    let slot_before = app.slot(f.tour, f.slots[0]).await;
    for number in [
        "1e-400",
        "1e400",
        "1e-2",
        "7.5e1",
        "\"1e-400\"",
        "99999999999999999999999",
        "true",
    ] {
        let r = send_raw(
            &app,
            &f.admin,
            Method::POST,
            paths::ADMIN_TOURS,
            &format!(r#"{{"name": "Night walk", "duration_minutes": 90, "base_price": {number}}}"#),
        )
        .await;
        r.assert_error(422, "validation_error");
        assert_eq!(r.body["field"], "base_price", "{number}: {}", r.text);

        let r = send_raw(
            &app,
            &f.admin,
            Method::PATCH,
            &format!("/api/calendar/admin/slots/{}", f.slots[0]),
            &format!(r#"{{"price_per_person": {number}}}"#),
        )
        .await;
        assert_eq!(r.status.as_u16(), 422, "{number}: {}", r.text);
        assert_eq!(r.body["field"], "price_per_person", "{number}: {}", r.text);

        let r = send_raw(
            &app,
            &f.admin,
            Method::PUT,
            &format!("/api/calendar/admin/schedules/{}", f.schedule),
            &format!(r#"{{"price_override": {number}}}"#),
        )
        .await;
        assert_eq!(r.status.as_u16(), 422, "{number}: {}", r.text);
        assert_eq!(r.body["field"], "price_override", "{number}: {}", r.text);
    }
    assert_eq!(app.get(paths::TOURS).await.text, tours_before);
    assert_eq!(app.slot(f.tour, f.slots[0]).await, slot_before);
    // Plain decimals, as numbers or strings, still work.
    for ok in ["80", "80.5", "\"80.50\""] {
        send_raw(
            &app,
            &f.admin,
            Method::POST,
            paths::ADMIN_TOURS,
            &format!(r#"{{"name": "Night walk", "duration_minutes": 90, "base_price": {ok}}}"#),
        )
        .await
        .assert_status(201);
    }
}

async fn oversized_request_heads_get_json_errors(app: TestApp) {
    let f = app.fixture(5).await;
    let before = count_bookings(&app, &f).await;
    let body = json!({"tour_id": f.tour, "booking_slot_id": f.slots[0], "num_adults": 1,
                      "customer_name": "Ada Lovelace", "customer_email": "ada@example.com"});
    let send = |headers: Vec<(String, String)>, path: String| {
        let app = &app;
        let body = body.clone();
        async move {
            let mut req = app.client.post(app.url(&path)).json(&body);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            TestApp::read(req.send().await.expect("send")).await
        }
    };
    let many: Vec<_> = (0..150)
        .map(|i| (format!("x-extra-{i}"), "1".to_owned()))
        .collect();
    let big = vec![("x-big".to_owned(), "a".repeat(40 * 1024))];
    for headers in [many, big] {
        let r = send(headers, paths::BOOKINGS.into()).await;
        r.assert_error(431, "headers_too_large");
        assert!(
            r.body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("headers"))
        );
        assert_eq!(r.headers["x-content-type-options"], "nosniff");
    }
    let long = format!("/api/calendar/bookings?x={}", "a".repeat(9 * 1024));
    send(vec![], long).await.assert_error(414, "uri_too_long");
    assert_eq!(count_bookings(&app, &f).await, before, "nothing was booked");
    // Just under the limits is served.
    let fine: Vec<_> = (0..80)
        .map(|i| (format!("x-extra-{i}"), "b".repeat(100)))
        .collect();
    send(fine, paths::BOOKINGS.into()).await.assert_status(201);
}

/// A client that opens a connection and sends its head a byte at a time
/// (or not at all) is disconnected after the header read timeout instead
/// of holding the connection forever; everyone else is served meanwhile.
async fn a_client_that_never_finishes_its_head_is_cut_off(app: TestApp) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.address.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    app.get("/healthz").await.assert_status(200);
    let mut buf = Vec::new();
    let read = tokio::time::timeout(
        tourdesk::server::HEADER_READ_TIMEOUT + std::time::Duration::from_secs(10),
        slow.read_to_end(&mut buf),
    )
    .await;
    assert!(
        read.is_ok(),
        "the connection was still open {} s later",
        tourdesk::server::HEADER_READ_TIMEOUT.as_secs() + 10
    );
    let text = String::from_utf8_lossy(&buf);
    assert!(!text.contains("200 OK"), "{text}");
    // On a new connection: the client's pooled one may have been closed as
    // idle at the same moment (keep-alive idle timeout = header timeout).
    let fresh = reqwest::Client::new()
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("a new connection is served");
    assert_eq!(fresh.status(), 200);
}

/// `HTTP_MAX_CONNECTIONS` caps the connections served at once (the next
/// waits in the listen queue until one closes, so idle clients cannot take
/// every file descriptor), and an idle keep-alive connection is closed after
/// the header read timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped_and_idle_ones_closed() {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(app) = TestApp::spawn(tourdesk_store::Backend::Sqlite, |c| {
        c.http_max_connections = 2;
    })
    .await
    else {
        return;
    };
    let addr = app.address.trim_start_matches("http://").to_owned();
    async fn ask(stream: &mut tokio::net::TcpStream) -> String {
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        let mut buf = vec![0u8; 4096];
        let n = stream.read(&mut buf).await.expect("read");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
    let connect = || tokio::net::TcpStream::connect(addr.clone());
    let mut first = connect().await.expect("connect");
    assert!(ask(&mut first).await.starts_with("HTTP/1.1 200"));
    let mut second = connect().await.expect("connect");
    assert!(ask(&mut second).await.starts_with("HTTP/1.1 200"));
    let idle_since = Instant::now();
    // A third is accepted by the kernel but not served while two are open.
    let mut third = connect().await.expect("connect");
    let waiting = tokio::time::timeout(Duration::from_millis(800), ask(&mut third)).await;
    assert!(
        waiting.is_err(),
        "a third connection was served beyond the cap"
    );
    drop(first);
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), third.read(&mut buf))
        .await
        .expect("served once a slot freed")
        .expect("read");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // The idle keep-alive connection is closed by the server.
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(
        tourdesk::server::HEADER_READ_TIMEOUT + Duration::from_secs(10),
        second.read_to_end(&mut rest),
    )
    .await;
    assert!(closed.is_ok(), "an idle keep-alive connection stayed open");
    assert!(idle_since.elapsed() >= tourdesk::server::HEADER_READ_TIMEOUT - Duration::from_secs(1));
}
