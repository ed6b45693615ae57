//! The contract the OpenAPI document states, and the defects the fuzz run
//! (fuzz.rs) and its probes found, each pinned: every operation declares the
//! errors it can answer with their JSON body; limits follow the
//! configuration; requests the document calls valid are not refused as
//! malformed; a client's odd input is never a 5xx.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{TestApp, day, paths};

both_backends!(
    every_operation_declares_its_errors_with_their_body,
    party_limits_in_the_document_follow_the_configuration,
    dates_in_bodies_and_queries_carry_the_accepted_range,
    a_nul_byte_in_a_login_email_is_a_wrong_login_not_a_server_error,
    a_nul_byte_in_a_notification_type_is_422_naming_it,
    the_availability_check_names_requested_date,
    a_modification_names_the_fields_it_was_sent,
    a_delete_with_a_null_body_cancels_like_an_empty_one,
    integers_written_with_a_zero_fraction_are_integers,
);

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push((path.clone(), method.to_owned(), op));
            }
        }
    }
    out
}

/// The first fuzz run answered 415, 422 and 503 on operations that did not
/// declare them, and most declared errors had neither a description nor a
/// body (`"401": {}`); the manifest's JSON answer was lost under its CSV one.
async fn every_operation_declares_its_errors_with_their_body(app: TestApp) {
    let doc = app.get_openapi().await.body;
    let error = &doc["components"]["schemas"]["Error"];
    assert_eq!(error["required"], json!(["detail", "code"]), "{error}");
    for key in ["field", "available_spots", "waitlist_available"] {
        assert!(error["properties"][key].is_object(), "Error.{key}: {error}");
    }
    let ops = operations(&doc);
    assert!(ops.len() >= 45, "{} operations", ops.len());
    for (path, method, op) in ops {
        let at = format!("{} {path}", method.to_uppercase());
        let responses = op["responses"].as_object().expect("responses");
        let has = |s: &str| responses.contains_key(s);
        let probe = path == "/healthz" || path == "/readyz";
        if !probe {
            assert!(has("503") && has("408"), "{at}: {responses:?}");
            assert!(
                responses["503"]["headers"]["Retry-After"].is_object(),
                "{at}: 503 without Retry-After"
            );
        }
        assert!(
            has("414") && has("431"),
            "{at}: no 414/431 for an oversized head"
        );
        if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
            assert!(has("401"), "{at} takes a token but declares no 401");
            if method != "get" {
                assert!(
                    responses["403"]["description"]
                        .as_str()
                        .is_some_and(|d| d.contains("csrf_failed")),
                    "{at} changes state with a session but declares no 403 csrf_failed"
                );
            }
        }
        if op.get("requestBody").is_some() {
            for s in ["413", "415", "422"] {
                assert!(has(s), "{at} takes a body but declares no {s}");
            }
        }
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        if params
            .iter()
            .any(|p| p["in"] == "path" || p["in"] == "query")
        {
            assert!(has("422"), "{at} takes parameters but declares no 422");
        }
        for (status, response) in responses {
            assert!(
                response["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{at} {status}: no description"
            );
            let is_error = status.starts_with('4') || status.starts_with('5');
            if is_error && path != "/readyz" {
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/Error",
                    "{at} {status}"
                );
            }
        }
    }
    let manifest = &doc["paths"]["/api/calendar/admin/slots/{slot_id}/manifest"]["get"]["responses"]
        ["200"]["content"];
    assert_eq!(
        manifest["application/json"]["schema"]["$ref"],
        "#/components/schemas/Manifest"
    );
    assert!(manifest["text/csv"].is_object(), "{manifest}");
    // Optional credentials are declared as such, so clients send them.
    let create = &doc["paths"][paths::BOOKINGS]["post"];
    assert_eq!(create["security"], json!([{}, {"bearer": []}]));
}

/// Party sizes in the document are the server's MIN/MAX_BOOKING_SIZE.
async fn party_limits_in_the_document_follow_the_configuration(app: TestApp) {
    let doc = app.get_openapi().await.body;
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["PartySize"]["minimum"], 1);
    assert_eq!(schemas["PartySize"]["maximum"], 50);
    assert_eq!(schemas["ExtraPeople"]["maximum"], 49);
    assert_eq!(
        schemas["CreateBookingRequest"]["properties"]["num_adults"]["$ref"],
        "#/components/schemas/PartySize"
    );
    let backend = app.backend;
    drop(app);
    let Some(small) = TestApp::spawn(backend, |c| {
        c.min_booking_size = 2;
        c.max_booking_size = 8;
    })
    .await
    else {
        return;
    };
    let doc = small.get_openapi().await.body;
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["PartySize"]["maximum"], 8);
    assert_eq!(schemas["ExtraPeople"]["maximum"], 7);
    assert!(
        schemas["PartySize"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("2 to 8")),
        "{}",
        schemas["PartySize"]
    );
}

/// Every date a request takes is the `CalendarDate` component (1900-01-01
/// to 2999-12-31), in bodies and in query strings alike; a component named
/// `Date` had been inlined by utoipa as a plain `format: date` string.
async fn dates_in_bodies_and_queries_carry_the_accepted_range(app: TestApp) {
    let doc = app.get_openapi().await.body;
    let date = &doc["components"]["schemas"]["CalendarDate"];
    assert_eq!(date["format"], "date");
    assert!(
        date["pattern"]
            .as_str()
            .is_some_and(|p| p.contains("02-29"))
    );
    let reference = json!("#/components/schemas/CalendarDate");
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["AvailabilityRequest"]["properties"]["requested_date"]["$ref"],
        reference
    );
    assert_eq!(
        schemas["BlackoutRequest"]["properties"]["end_date"]["$ref"],
        reference
    );
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            for p in item[method]["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap_or_default();
                if name.ends_with("date") {
                    let schema = &p["schema"];
                    let refs = schema["$ref"] == reference
                        || schema["oneOf"]
                            .as_array()
                            .is_some_and(|o| o.iter().any(|s| s["$ref"] == reference));
                    assert!(refs, "{method} {path} {name}: {schema}");
                }
            }
        }
    }
}

/// PostgreSQL cannot hold a NUL in text: a login whose email had one was
/// sent to the database as it was and answered 500.
async fn a_nul_byte_in_a_login_email_is_a_wrong_login_not_a_server_error(app: TestApp) {
    app.customer("ada@example.com").await;
    for email in ["ada\u{0}@example.com", "\u{0}", "ada@example.com\u{0}"] {
        app.login(email, "correct horse battery")
            .await
            .assert_error(401, "unauthorized");
    }
    app.login("ada@example.com", "correct horse battery")
        .await
        .assert_status(200);
}

/// The notifications' `type` filter went to the database unchecked: a NUL
/// in it was a 500 on PostgreSQL.
async fn a_nul_byte_in_a_notification_type_is_422_naming_it(app: TestApp) {
    let admin = app.admin().await;
    for bad in ["a%00b", "%00", "booking%0Acreated", "Booking.Created"] {
        let r = app
            .get_as(
                &admin,
                &format!("/api/calendar/admin/notifications?type={bad}"),
            )
            .await;
        r.assert_error(422, "validation_error");
        assert_eq!(r.body["field"], "type", "{}", r.text);
    }
    let r = app
        .get_as(
            &admin,
            "/api/calendar/admin/notifications?type=booking.created",
        )
        .await;
    r.assert_status(200);
}

/// The availability check named a date out of range `date`, a field the
/// request does not have.
async fn the_availability_check_names_requested_date(app: TestApp) {
    let f = app.fixture(5).await;
    for bad in ["3000-01-01", "1899-12-31"] {
        let r = app
            .post(
                paths::AVAILABILITY,
                &json!({"tour_id": f.tour, "requested_date": bad, "num_people": 1}),
            )
            .await;
        r.assert_error(422, "validation_error");
        assert_eq!(r.body["field"], "requested_date", "{}", r.text);
    }
}

/// A modification's party errors named `num_adults` while the request's
/// fields are `new_num_adults`, ...
async fn a_modification_names_the_fields_it_was_sent(app: TestApp) {
    let f = app.fixture(60).await;
    let r = app.book(f.tour, f.slots[0], 2, 0, 0).await;
    r.assert_status(201);
    let id = r.body["id"].as_i64().expect("id");
    let token = r.body["manage_token"].as_str().expect("token").to_owned();
    let cases = [
        (json!({"new_num_adults": 0}), "new_num_adults"),
        (json!({"new_num_adults": 51}), "new_num_adults"),
        (json!({"new_num_children": -1}), "new_num_children"),
        (json!({"new_num_infants": -1}), "new_num_infants"),
    ];
    for (body, field) in cases {
        let r = app
            .send(
                Method::PUT,
                &paths::booking(id),
                Some(&body),
                &[("x-manage-token", token.as_str())],
            )
            .await;
        r.assert_error(422, "validation_error");
        assert_eq!(r.body["field"], field, "{body}: {}", r.text);
    }
    let s = app.slot(f.tour, f.slots[0]).await;
    assert_eq!(s["current_bookings"], 2, "refusals change nothing");
}

/// The cancel body is optional; `null` (what a generated client sends for
/// "no body") was refused as malformed.
async fn a_delete_with_a_null_body_cancels_like_an_empty_one(app: TestApp) {
    let f = app.fixture(5).await;
    let r = app.book(f.tour, f.slots[0], 1, 0, 0).await;
    r.assert_status(201);
    let id = r.body["id"].as_i64().expect("id");
    let token = r.body["manage_token"].as_str().expect("token").to_owned();
    let r = app
        .send(
            Method::DELETE,
            &paths::booking(id),
            Some(&Value::Null),
            &[("x-manage-token", token.as_str())],
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["status"], "cancelled");
    assert_eq!(app.slot(f.tour, f.slots[0]).await["current_bookings"], 0);
    app.assert_consistent().await;
}

/// JSON Schema's `integer` is any number without a fraction, `2.0`
/// included; such numbers were refused as "floating point, expected i64".
/// A real fraction still is.
async fn integers_written_with_a_zero_fraction_are_integers(app: TestApp) {
    let f = app.fixture(10).await;
    let r = app
        .post(
            paths::QUOTE,
            &json!({"booking_slot_id": f.slots[0], "num_adults": 2.0, "num_children": 1e0}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["num_adults"], 2);
    assert_eq!(r.body["num_children"], 1);
    let r = app
        .create_booking(&json!({"tour_id": f.tour as f64, "booking_slot_id": f.slots[1] as f64,
                    "num_adults": 3.0, "customer_name": "Ada", "customer_email": "ada@example.com"}),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.body["total_people"], 3);
    // Decided on the digits, never through a float: beside an integer
    // written 60.0, a price is kept exactly as written, so 1e-400 is still
    // refused rather than read as 0.
    let tour = |price: &str| {
        serde_json::from_str::<Value>(&format!(
            r#"{{"name": "Float", "duration_minutes": 60.0, "base_price": {price}}}"#
        ))
        .expect("a body")
    };
    let r = app.post_as(&f.admin, paths::ADMIN_TOURS, &tour("75")).await;
    r.assert_status(201);
    assert_eq!(r.body["duration_minutes"], 60);
    assert_eq!(r.body["base_price"], json!(75.0));
    let raw = app
        .client
        .post(app.url(paths::ADMIN_TOURS))
        .bearer_auth(&f.admin)
        .header("content-type", "application/json")
        .body(r#"{"name": "Float", "duration_minutes": 60.0, "base_price": 1e-400}"#)
        .send()
        .await
        .expect("send");
    let r = TestApp::read(raw).await;
    r.assert_error(422, "validation_error");
    assert_eq!(r.body["field"], "base_price", "{}", r.text);
    let r = app
        .post(
            paths::QUOTE,
            &json!({"booking_slot_id": f.slots[0], "num_adults": 2.5}),
        )
        .await;
    r.assert_error(422, "validation_error");
    assert_eq!(r.body["field"], "num_adults");
    let r = app
        .post(
            paths::AVAILABILITY,
            &json!({"tour_id": f.tour, "requested_date": day(5), "num_people": 1e30}),
        )
        .await;
    r.assert_error(422, "validation_error");
    assert_eq!(r.body["field"], "num_people");
}
