//! The JSON bodies of the contract, as snapshots: a booking, a departure,
//! a month view and the error bodies. A change to any of them shows up as a
//! reviewed diff of `tests/api/snapshots/*.snap` (`cargo insta review`),
//! never silently. Both engines must produce the same bytes.
//!
//! The clock is frozen and every date is fixed, so the bodies do not depend
//! on the day the suite runs; ids, references, tokens and timestamps are
//! redacted (they differ between engines and runs, and have their own
//! tests).

use chrono::{TimeZone, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{TestApp, paths};

both_backends!(contract_bodies_match_their_snapshots);

/// Asserts `body` against the snapshot `name`, with the volatile fields
/// redacted wherever they stand (top level, in arrays, in `availability`).
fn snapshot(name: &str, body: &Value) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.set_sort_maps(true);
    // Redacted where present; a null stays null (it says something).
    let id = || insta::dynamic_redaction(|v, _| if v.is_nil() { v } else { "[id]".into() });
    let at = || insta::dynamic_redaction(|v, _| if v.is_nil() { v } else { "[timestamp]".into() });
    for field in [
        "id",
        "tour_id",
        "booking_slot_id",
        "slot_id",
        "schedule_id",
        "user_id",
        "booking_id",
    ] {
        for path in [".", "[].", ".alternatives[]."] {
            settings.add_redaction(&format!("{path}{field}"), id());
        }
    }
    for field in [
        "created_at",
        "updated_at",
        "modified_at",
        "cancelled_at",
        "confirmed_at",
    ] {
        for path in [".", "[]."] {
            settings.add_redaction(&format!("{path}{field}"), at());
        }
    }
    settings.add_redaction(".booking_reference", "[reference]");
    settings.add_redaction(".manage_token", "[token]");
    settings.add_redaction(".manage_url", "[manage url]");
    settings.add_redaction(".request_id", "[request id]");
    settings.bind(|| insta::assert_json_snapshot!(name, body));
}

async fn contract_bodies_match_their_snapshots(app: TestApp) {
    // Monday 3 March 2031, 08:00 UTC: every date below is fixed.
    let now = Utc
        .with_ymd_and_hms(2031, 3, 3, 8, 0, 0)
        .single()
        .expect("a valid instant");
    app.clock.freeze(now);
    let admin = app.admin().await;
    let tour = app.tour(&admin, json!({"name": "Snapshot Walk"})).await;
    let schedule = app
        .schedule(
            &admin,
            tour,
            "2031-03-10",
            json!({"max_capacity": 4, "valid_until": "2031-03-14"}),
        )
        .await;
    app.generate(&admin, schedule, "2031-03-10", "2031-03-14")
        .await
        .assert_status(200);
    let slots = app.slots_between(tour, "2031-03-10", "2031-03-14").await;
    assert_eq!(slots.len(), 5, "one departure a day: {slots:?}");
    let slot = slots[0]["id"].as_i64().expect("slot id");

    let r = app
        .create_booking(&json!({
            "tour_id": tour, "booking_slot_id": slot, "num_adults": 2, "num_children": 1,
            "num_infants": 0, "customer_name": "Ada Lovelace", "customer_email": "ada@example.com",
            "customer_phone": "+44 20 7946 0000", "special_requirements": "Window seat",
            "dietary_restrictions": "Vegetarian", "accessibility_needs": "None"
        }))
        .await;
    r.assert_status(201);
    snapshot("booking_created", &r.body);
    let booking = r.body["id"].as_i64().expect("booking id");

    let r = app.get_booking(&admin, booking).await;
    r.assert_status(200);
    snapshot("booking_read", &r.body);

    let r = app
        .get(&format!(
            "/api/calendar/tours/{tour}/slots?start_date=2031-03-10&end_date=2031-03-11"
        ))
        .await;
    r.assert_status(200);
    snapshot("slots", &r.body);

    let r = app
        .get(&format!(
            "/api/calendar/tours/{tour}/monthly?year=2031&month=3"
        ))
        .await;
    r.assert_status(200);
    snapshot("month_view", &r.body);

    // The error bodies: a full departure, a bad field, a missing booking,
    // a missing token.
    let r = app
        .create_booking(&json!({
            "tour_id": tour, "booking_slot_id": slot, "num_adults": 2, "num_children": 0,
            "num_infants": 0, "customer_name": "Grace Hopper", "customer_email": "grace@example.com"
        }))
        .await;
    r.assert_status(400);
    snapshot("error_capacity_exceeded", &r.body);

    let r = app
        .create_booking(&json!({
            "tour_id": tour, "booking_slot_id": slot, "num_adults": 0, "num_children": 0,
            "num_infants": 0, "customer_name": "Grace Hopper", "customer_email": "grace@example.com"
        }))
        .await;
    r.assert_status(422);
    snapshot("error_invalid_field", &r.body);

    let r = app.get_as(&admin, "/api/calendar/bookings/999999").await;
    r.assert_status(404);
    snapshot("error_not_found", &r.body);

    let r = app
        .send(Method::GET, paths::ADMIN_BOOKINGS, None, &[])
        .await;
    r.assert_status(401);
    snapshot("error_unauthenticated", &r.body);

    app.assert_consistent().await;
}
