//! The console's API (#17, operator side) on both engines: booking search
//! and its CSV export, bulk status, contact changes, who a departure
//! cancellation affected and rebooking them, the readable history, and
//! check-in with closing a departure. Bad input is a 422 naming the
//! field; nobody but an admin gets in.

use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Fixture, TestApp, paths};

both_backends!(
    search_finds_reference_name_email_and_phone,
    csv_export_follows_the_filters_and_neutralises_formulas,
    bulk_status_answers_per_booking,
    contact_changes_are_audited_with_readable_changes,
    a_cancelled_departure_names_who_it_affected_and_they_can_be_rebooked,
    check_in_then_close_the_departure,
    console_routes_refuse_anonymous_and_customers,
);

/// Books `adults` on `slot` as `name` <`email`>, phone `phone`; returns the booking.
async fn book(
    app: &TestApp,
    f: &Fixture,
    slot: i64,
    name: &str,
    email: &str,
    phone: &str,
) -> Value {
    let r = app
        .create_booking(
            &json!({"tour_id": f.tour, "booking_slot_id": slot, "num_adults": 2,
                "customer_name": name, "customer_email": email, "customer_phone": phone}),
        )
        .await;
    r.assert_status(201);
    r.body
}

fn refs(page: &Value) -> Vec<String> {
    let mut out: Vec<String> = page["bookings"]
        .as_array()
        .expect("bookings")
        .iter()
        .map(|b| {
            b["booking_reference"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    out.sort();
    out
}

async fn search(app: &TestApp, admin: &str, q: &str) -> Value {
    let q = url_escape(q);
    let r = app
        .get_as(admin, &format!("/api/calendar/admin/bookings?q={q}"))
        .await;
    r.assert_status(200);
    r.body
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn search_finds_reference_name_email_and_phone(app: TestApp) {
    let f = app.fixture(20).await;
    let ada = book(
        &app,
        &f,
        f.slots[0],
        "Ada Lovelace",
        "ada@example.com",
        "+972 50-123 4567",
    )
    .await;
    let bob = book(
        &app,
        &f,
        f.slots[1],
        "Bob 100%_Sure",
        "bob@example.org",
        "+44 20 7946 0000",
    )
    .await;
    let _cy = book(&app, &f, f.slots[1], "Cy Young", "cy@example.net", "").await;
    let a = ada["booking_reference"].as_str().expect("ref").to_owned();
    let b = bob["booking_reference"].as_str().expect("ref").to_owned();

    assert_eq!(
        refs(&search(&app, &f.admin, "lovelace").await),
        vec![a.clone()],
        "name, any case"
    );
    assert_eq!(
        refs(&search(&app, &f.admin, "EXAMPLE.ORG").await),
        vec![b.clone()],
        "email, any case"
    );
    assert_eq!(
        refs(&search(&app, &f.admin, &a.to_lowercase()).await),
        vec![a.clone()],
        "reference"
    );
    assert_eq!(
        refs(&search(&app, &f.admin, "50-1234567").await),
        vec![a.clone()],
        "phone without its spaces and dashes"
    );
    assert_eq!(
        refs(&search(&app, &f.admin, "50 123").await),
        vec![a.clone()],
        "phone as typed"
    );
    // LIKE wildcards are literal: `%` and `_` match only themselves.
    assert_eq!(
        refs(&search(&app, &f.admin, "100%_").await),
        vec![b.clone()]
    );
    assert_eq!(search(&app, &f.admin, "%").await["total"], 1);
    assert_eq!(search(&app, &f.admin, "_").await["total"], 1);
    assert_eq!(search(&app, &f.admin, "nobody-like-this").await["total"], 0);
    // With the other filters.
    let r = app
        .get_as(
            &f.admin,
            &format!(
                "/api/calendar/admin/bookings?q=example&booking_slot_id={}",
                f.slots[1]
            ),
        )
        .await;
    assert_eq!(r.body["total"], 2, "{}", r.text);

    let long = "x".repeat(101);
    let r = app
        .get_as(&f.admin, &format!("/api/calendar/admin/bookings?q={long}"))
        .await;
    r.assert_error(422, "validation_error");
    assert_eq!(r.body["field"], "q", "{}", r.text);
}

async fn csv_export_follows_the_filters_and_neutralises_formulas(app: TestApp) {
    let f = app.fixture(20).await;
    book(
        &app,
        &f,
        f.slots[0],
        "=HYPERLINK(\"http://evil\")",
        "eve@example.com",
        "",
    )
    .await;
    book(&app, &f, f.slots[0], "Smith, \"Jo\"", "jo@example.com", "").await;
    book(&app, &f, f.slots[1], "Elsewhere", "else@example.com", "").await;
    let r = app
        .get_as(
            &f.admin,
            &format!(
                "/api/calendar/admin/bookings.csv?booking_slot_id={}",
                f.slots[0]
            ),
        )
        .await;
    r.assert_status(200);
    let ct = r
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(ct.starts_with("text/csv"), "{ct}");
    assert!(
        r.headers
            .get("content-disposition")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("attachment")),
    );
    let lines: Vec<&str> = r.text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines.len(),
        3,
        "header + the two bookings of that slot: {}",
        r.text
    );
    assert!(
        lines[0].starts_with("booking_reference,status,tour,tour_date"),
        "{}",
        lines[0]
    );
    assert!(
        r.text.contains("\"'=HYPERLINK(\"\"http://evil\"\")\""),
        "the formula is neutralised and quoted: {}",
        r.text
    );
    assert!(r.text.contains("\"Smith, \"\"Jo\"\"\""), "{}", r.text);
    assert!(!r.text.contains("Elsewhere"));
    assert_eq!(
        r.headers.get("x-total-count").and_then(|v| v.to_str().ok()),
        Some("2")
    );

    let q = app
        .get_as(&f.admin, "/api/calendar/admin/bookings.csv?q=ELSE")
        .await;
    q.assert_status(200);
    assert!(
        q.text.contains("Elsewhere") && !q.text.contains("Smith"),
        "{}",
        q.text
    );
    let bad = app
        .get_as(
            &f.admin,
            "/api/calendar/admin/bookings.csv?status_filter=nonsense",
        )
        .await;
    bad.assert_error(422, "validation_error");
    assert_eq!(bad.body["field"], "status_filter");
}

async fn bulk_status_answers_per_booking(app: TestApp) {
    let f = app.fixture(20).await;
    let a = book(&app, &f, f.slots[0], "A", "a@example.com", "").await;
    let b = book(&app, &f, f.slots[0], "B", "b@example.com", "").await;
    let c = book(&app, &f, f.slots[0], "C", "c@example.com", "").await;
    let (a, b, c) = (
        a["id"].as_i64().expect("id"),
        b["id"].as_i64().expect("id"),
        c["id"].as_i64().expect("id"),
    );
    app.post_as(
        &f.admin,
        &paths::admin_booking_action(c, "status"),
        &json!({"status": "cancelled"}),
    )
    .await
    .assert_status(200);
    let r = app
        .post_as(
            &f.admin,
            paths::ADMIN_BULK_STATUS,
            &json!({"ids": [a, 999_999, b, c], "status": "confirmed"}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["succeeded"], 2, "{}", r.text);
    assert_eq!(r.body["failed"], 2);
    let results = r.body["results"].as_array().expect("results");
    assert_eq!(
        results
            .iter()
            .map(|x| x["id"].as_i64().unwrap_or(0))
            .collect::<Vec<_>>(),
        vec![a, 999_999, b, c]
    );
    assert_eq!(results[0]["status"], "confirmed");
    assert_eq!(results[1]["code"], "not_found");
    assert_eq!(results[2]["ok"], true);
    assert_eq!(results[3]["code"], "invalid_transition");
    for id in [a, b] {
        let got = app.get_booking(&f.admin, id).await;
        assert_eq!(got.body["status"], "confirmed");
    }

    for (body, field) in [
        (json!({"ids": [], "status": "confirmed"}), "ids"),
        (json!({"ids": [a, a], "status": "confirmed"}), "ids"),
        (
            json!({"ids": (1..=201).collect::<Vec<i64>>(), "status": "confirmed"}),
            "ids",
        ),
        (json!({"ids": [a], "status": "maybe"}), "status"),
        (json!({"ids": "a", "status": "confirmed"}), "ids"),
    ] {
        let r = app.post_as(&f.admin, paths::ADMIN_BULK_STATUS, &body).await;
        r.assert_error(422, "validation_error");
        assert_eq!(r.body["field"], field, "{body}: {}", r.text);
    }
}

async fn contact_changes_are_audited_with_readable_changes(app: TestApp) {
    let f = app.fixture(20).await;
    let b = book(&app, &f, f.slots[0], "Typo Nmae", "typo@example.com", "").await;
    let id = b["id"].as_i64().expect("id");
    let r = app
        .put_as(
            &f.admin,
            &paths::admin_booking_action(id, "contact"),
            &json!({"customer_name": "Typo Name", "customer_email": "right@example.com",
                "customer_phone": "+1 555 0100", "dietary_restrictions": "vegetarian"}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["customer_name"], "Typo Name");
    assert_eq!(r.body["customer_email"], "right@example.com");
    assert_eq!(r.body["customer_phone"], "+1 555 0100");
    assert_eq!(r.body["dietary_restrictions"], "vegetarian");

    let h = app
        .get_as(&f.admin, &paths::admin_booking_action(id, "history"))
        .await;
    h.assert_status(200);
    let entries = h.body.as_array().expect("history");
    let change = entries
        .iter()
        .find(|e| e["modification_type"] == "contact_change")
        .unwrap_or_else(|| panic!("no contact_change: {}", h.text));
    assert_eq!(
        change["actor_name"], "Admin",
        "the operator by name: {change}"
    );
    assert!(
        change["actor"]
            .as_str()
            .is_some_and(|a| a.starts_with("user:"))
    );
    let changes = change["changes"].as_array().expect("changes");
    let fields: Vec<&str> = changes.iter().filter_map(|c| c["field"].as_str()).collect();
    assert_eq!(
        fields,
        vec![
            "customer_email",
            "customer_name",
            "customer_phone",
            "dietary_restrictions"
        ]
    );
    assert_eq!(changes[1]["from"], "Typo Nmae");
    assert_eq!(changes[1]["to"], "Typo Name");
    let created = &entries[0];
    assert_eq!(created["modification_type"], "created");
    assert_eq!(created["actor"], "guest");
    assert!(created["actor_name"].is_null());

    for (body, field) in [
        (
            json!({"customer_name": "X", "customer_email": "not an email"}),
            "customer_email",
        ),
        (
            json!({"customer_name": "", "customer_email": "x@example.com"}),
            "customer_name",
        ),
        (
            json!({"customer_name": "X", "customer_email": "x@example.com", "customer_phone": "call me"}),
            "customer_phone",
        ),
        (
            json!({"customer_name": 7, "customer_email": "x@example.com"}),
            "customer_name",
        ),
    ] {
        let r = app
            .put_as(&f.admin, &paths::admin_booking_action(id, "contact"), &body)
            .await;
        r.assert_error(422, "validation_error");
        assert_eq!(r.body["field"], field, "{body}: {}", r.text);
    }
    // A cancelled booking keeps its details.
    app.post_as(
        &f.admin,
        &paths::admin_booking_action(id, "status"),
        &json!({"status": "cancelled"}),
    )
    .await
    .assert_status(200);
    app.put_as(
        &f.admin,
        &paths::admin_booking_action(id, "contact"),
        &json!({"customer_name": "Late", "customer_email": "late@example.com"}),
    )
    .await
    .assert_error(409, "invalid_status");
}

async fn a_cancelled_departure_names_who_it_affected_and_they_can_be_rebooked(app: TestApp) {
    let f = app.fixture(10).await;
    let a = book(
        &app,
        &f,
        f.slots[0],
        "Ann Affected",
        "ann@example.com",
        "+972 50 000 0001",
    )
    .await;
    let b = book(&app, &f, f.slots[0], "Ben Affected", "ben@example.com", "").await;
    let cancelled_before = book(&app, &f, f.slots[0], "Cal Earlier", "cal@example.com", "").await;
    let cal = cancelled_before["id"].as_i64().expect("id");
    app.post_as(
        &f.admin,
        &paths::admin_booking_action(cal, "status"),
        &json!({"status": "cancelled"}),
    )
    .await
    .assert_status(200);
    let r = app
        .post_as(
            &f.admin,
            &format!("/api/calendar/admin/slots/{}/cancel", f.slots[0]),
            &json!({"reason": "storm"}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["cancelled_bookings"], 2);
    let affected = r.body["affected_bookings"].as_array().expect("affected");
    assert_eq!(
        affected
            .iter()
            .map(|x| x["customer_name"].as_str().unwrap_or(""))
            .collect::<Vec<_>>(),
        vec!["Ann Affected", "Ben Affected"],
        "the two it cancelled, not the one cancelled before: {}",
        r.text
    );
    assert_eq!(affected[0]["customer_email"], "ann@example.com");
    assert_eq!(affected[0]["customer_phone"], "+972 50 000 0001");
    assert_eq!(affected[0]["booking_reference"], a["booking_reference"]);
    assert_eq!(affected[0]["total_people"], 2);
    assert_eq!(affected[0]["status"], "cancelled");

    let m = app
        .get_as(
            &f.admin,
            &format!("/api/calendar/admin/slots/{}/manifest", f.slots[0]),
        )
        .await;
    m.assert_status(200);
    assert_eq!(
        m.body["bookings"].as_array().map(Vec::len),
        Some(0),
        "nobody holds a place"
    );
    let listed = m.body["cancelled_bookings"]
        .as_array()
        .expect("cancelled_bookings");
    assert_eq!(
        listed.len(),
        3,
        "the cancelled departure still lists who was on it: {}",
        m.text
    );

    // Rebook Ben on another departure: a new booking for the same party and contact.
    let ben = b["id"].as_i64().expect("id");
    let r = app
        .post_as(
            &f.admin,
            &paths::admin_booking_action(ben, "rebook"),
            &json!({"booking_slot_id": f.slots[2]}),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.body["booking_slot_id"], f.slots[2]);
    assert_eq!(r.body["customer_email"], "ben@example.com");
    assert_eq!(r.body["num_adults"], 2);
    assert_ne!(r.body["booking_reference"], b["booking_reference"]);
    assert_eq!(app.slot(f.tour, f.slots[2]).await["current_bookings"], 2);
    let h = app
        .get_as(&f.admin, &paths::admin_booking_action(ben, "history"))
        .await;
    assert!(
        h.body
            .as_array()
            .expect("history")
            .iter()
            .any(|e| e["modification_type"] == "rebooked"
                && e["new_value"]["booking_reference"] == r.body["booking_reference"]),
        "{}",
        h.text
    );
    // Not onto the cancelled departure, not another tour's, not an active booking.
    let ann = a["id"].as_i64().expect("id");
    app.post_as(
        &f.admin,
        &paths::admin_booking_action(ann, "rebook"),
        &json!({"booking_slot_id": f.slots[0]}),
    )
    .await
    .assert_error(409, "slot_closed");
    let r = app
        .post_as(
            &f.admin,
            &paths::admin_booking_action(ann, "rebook"),
            &json!({"booking_slot_id": 987_654}),
        )
        .await;
    r.assert_error(422, "validation_error");
    assert_eq!(r.body["field"], "booking_slot_id");
    let r = app
        .post_as(
            &f.admin,
            &paths::admin_booking_action(ann, "rebook"),
            &json!({}),
        )
        .await;
    // A missing field: the shared JSON rejection names it in the detail.
    r.assert_error(422, "validation_error");
    assert!(r.text.contains("booking_slot_id"), "{}", r.text);
    let active = app.book(f.tour, f.slots[3], 1, 0, 0).await;
    app.post_as(
        &f.admin,
        &format!("/api/calendar/admin/bookings/{}/rebook", active.body["id"]),
        &json!({"booking_slot_id": f.slots[4]}),
    )
    .await
    .assert_error(409, "invalid_status");
    app.assert_consistent().await;
}

async fn check_in_then_close_the_departure(app: TestApp) {
    let f = app.fixture(10).await;
    let came = book(&app, &f, f.slots[0], "Came Along", "came@example.com", "").await;
    let away = book(&app, &f, f.slots[0], "Stayed Home", "away@example.com", "").await;
    let (came, away) = (
        came["id"].as_i64().expect("id"),
        away["id"].as_i64().expect("id"),
    );
    let r = app
        .post_as(
            &f.admin,
            paths::ADMIN_BULK_STATUS,
            &json!({"ids": [came, away], "status": "confirmed"}),
        )
        .await;
    assert_eq!(r.body["succeeded"], 2, "{}", r.text);

    // Check in, undo, check in again.
    let r = app
        .send_as(
            &f.admin,
            reqwest::Method::POST,
            &paths::admin_booking_action(away, "check-in"),
            None,
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["checked_in"], true);
    let r = app
        .send_as(
            &f.admin,
            reqwest::Method::DELETE,
            &paths::admin_booking_action(away, "check-in"),
            None,
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["checked_in"], false);
    assert!(r.body["checked_in_at"].is_null());
    let r = app
        .send_as(
            &f.admin,
            reqwest::Method::POST,
            &paths::admin_booking_action(came, "check-in"),
            None,
        )
        .await;
    r.assert_status(200);
    let m = app
        .get_as(
            &f.admin,
            &format!("/api/calendar/admin/slots/{}/manifest", f.slots[0]),
        )
        .await;
    let by_name = |name: &str| {
        m.body["bookings"]
            .as_array()
            .and_then(|a| a.iter().find(|b| b["customer_name"] == name).cloned())
            .unwrap_or_else(|| panic!("{name} not on the manifest: {}", m.text))
    };
    assert!(by_name("Came Along")["checked_in_at"].is_string());
    assert!(by_name("Stayed Home")["checked_in_at"].is_null());
    let h = app
        .get_as(&f.admin, &paths::admin_booking_action(away, "history"))
        .await;
    let kinds: Vec<&str> = h
        .body
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|e| e["modification_type"].as_str())
        .collect();
    assert!(
        kinds.ends_with(&["check_in", "check_in_undone"]),
        "{kinds:?}"
    );

    // Not before the departure has started.
    app.send_as(
        &f.admin,
        reqwest::Method::POST,
        &format!("/api/calendar/admin/slots/{}/close", f.slots[0]),
        None,
    )
    .await
    .assert_error(409, "departure_not_started");
    app.clock.advance(chrono::Duration::days(4));
    let r = app
        .send_as(
            &f.admin,
            reqwest::Method::POST,
            &format!("/api/calendar/admin/slots/{}/close", f.slots[0]),
            None,
        )
        .await;
    r.assert_status(200);
    assert_eq!(
        r.body,
        json!({"completed": 1, "no_show": 1, "left_pending": 0})
    );
    for (id, status) in [(came, "completed"), (away, "no_show")] {
        let b = app.get_booking(&f.admin, id).await;
        assert_eq!(b.body["status"], status);
    }
    // A completed booking is no longer checked in or out.
    app.send_as(
        &f.admin,
        reqwest::Method::DELETE,
        &paths::admin_booking_action(came, "check-in"),
        None,
    )
    .await
    .assert_error(409, "invalid_status");
    app.send_as(
        &f.admin,
        reqwest::Method::POST,
        "/api/calendar/admin/bookings/999999/check-in",
        None,
    )
    .await
    .assert_error(404, "not_found");
    app.assert_consistent().await;
}

async fn console_routes_refuse_anonymous_and_customers(app: TestApp) {
    let f = app.fixture(10).await;
    let b = book(&app, &f, f.slots[0], "Someone", "someone@example.com", "").await;
    let id = b["id"].as_i64().expect("id");
    let customer = app.customer("customer@example.com").await;
    let routes: Vec<(reqwest::Method, String, Option<Value>)> = vec![
        (
            reqwest::Method::GET,
            "/api/calendar/admin/bookings?q=some".into(),
            None,
        ),
        (
            reqwest::Method::GET,
            "/api/calendar/admin/bookings.csv".into(),
            None,
        ),
        (
            reqwest::Method::POST,
            paths::ADMIN_BULK_STATUS.into(),
            Some(json!({"ids": [id], "status": "confirmed"})),
        ),
        (
            reqwest::Method::PUT,
            paths::admin_booking_action(id, "contact"),
            Some(json!({"customer_name": "X", "customer_email": "x@example.com"})),
        ),
        (
            reqwest::Method::POST,
            paths::admin_booking_action(id, "rebook"),
            Some(json!({"booking_slot_id": f.slots[1]})),
        ),
        (
            reqwest::Method::POST,
            paths::admin_booking_action(id, "check-in"),
            None,
        ),
        (
            reqwest::Method::DELETE,
            paths::admin_booking_action(id, "check-in"),
            None,
        ),
        (
            reqwest::Method::POST,
            format!("/api/calendar/admin/slots/{}/close", f.slots[0]),
            None,
        ),
    ];
    for (method, path, body) in &routes {
        let anon = app.send(method.clone(), path, body.as_ref(), &[]).await;
        assert_eq!(anon.status.as_u16(), 401, "{method} {path}: {}", anon.text);
        let cust = app
            .send_as(&customer, method.clone(), path, body.as_ref())
            .await;
        assert_eq!(cust.status.as_u16(), 403, "{method} {path}: {}", cust.text);
    }
    let still = app.get_booking(&f.admin, id).await;
    assert_eq!(still.body["status"], "pending");
    assert_eq!(still.body["customer_name"], "Someone");
}
