//! Answers the server got wrong to input a client may send, each pinned: a
//! client's odd input is never a 5xx, names the field it got wrong, and input
//! the API documents as valid is not refused as malformed.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{TestApp, day};

both_backends!(
    a_nul_byte_in_a_login_email_is_a_wrong_login_not_a_server_error,
    a_nul_byte_in_a_notification_type_is_422_naming_it,
    the_availability_check_names_requested_date,
    a_modification_names_the_fields_it_was_sent,
    a_delete_with_a_null_body_cancels_like_an_empty_one,
    integers_written_with_a_zero_fraction_are_integers,
);

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

async fn the_availability_check_names_requested_date(app: TestApp) {
    let f = app.fixture(5).await;
    for bad in ["3000-01-01", "1899-12-31"] {
        let r = app
            .post(
                "/api/calendar/availability",
                &json!({"tour_id": f.tour, "requested_date": bad, "num_people": 1}),
            )
            .await;
        r.assert_error(422, "validation_error");
        assert_eq!(r.body["field"], "requested_date", "{}", r.text);
    }
}

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
                &format!("/api/calendar/bookings/{id}"),
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

async fn a_delete_with_a_null_body_cancels_like_an_empty_one(app: TestApp) {
    let f = app.fixture(5).await;
    let r = app.book(f.tour, f.slots[0], 1, 0, 0).await;
    r.assert_status(201);
    let id = r.body["id"].as_i64().expect("id");
    let token = r.body["manage_token"].as_str().expect("token").to_owned();
    let r = app
        .send(
            Method::DELETE,
            &format!("/api/calendar/bookings/{id}"),
            Some(&Value::Null),
            &[("x-manage-token", token.as_str())],
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["status"], "cancelled");
    assert_eq!(app.slot(f.tour, f.slots[0]).await["current_bookings"], 0);
    app.assert_consistent().await;
}

async fn integers_written_with_a_zero_fraction_are_integers(app: TestApp) {
    let f = app.fixture(10).await;
    let r = app
        .post(
            "/api/calendar/quote",
            &json!({"booking_slot_id": f.slots[0], "num_adults": 2.0, "num_children": 1e0}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["num_adults"], 2);
    assert_eq!(r.body["num_children"], 1);
    let r = app
        .post(
            "/api/calendar/bookings",
            &json!({"tour_id": f.tour as f64, "booking_slot_id": f.slots[1] as f64,
                    "num_adults": 3.0, "customer_name": "Ada", "customer_email": "ada@example.com"}),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.body["total_people"], 3);
    let r = app
        .post(
            "/api/calendar/quote",
            &json!({"booking_slot_id": f.slots[0], "num_adults": 2.5}),
        )
        .await;
    r.assert_error(422, "validation_error");
    assert_eq!(r.body["field"], "num_adults");
    let r = app
        .post(
            "/api/calendar/availability",
            &json!({"tour_id": f.tour, "requested_date": day(5), "num_people": 1e30}),
        )
        .await;
    r.assert_error(422, "validation_error");
    assert_eq!(r.body["field"], "num_people");
}
