//! Regression tests for the sound write path (the numbered defects of the
//! write-path issue that are not about forced interleavings, which live in
//! `interleave.rs`): departure cancels and the waitlist, derived blackout
//! and schedule closures, schedule edits, time rules and refusal codes. Each
//! runs on SQLite and PostgreSQL.

use chrono::Duration;
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Fixture, TestApp, TestResponse, paths};

both_backends!(
    a_cancelled_departure_is_never_offered_to_the_waitlist,
    date_wide_entries_move_to_another_departure_that_day,
    overlapping_blackouts_removed_in_any_order_reopen_the_departure,
    a_blacked_out_departure_takes_no_booking_growth_or_offer,
    deactivating_then_reactivating_a_schedule_restores_its_departures,
    editing_a_schedule_moves_its_departures_instead_of_duplicating_them,
    a_schedule_edit_never_drops_capacity_below_bookings,
    an_admin_growing_a_booking_on_a_closed_departure_is_told_it_is_closed,
    customers_cannot_change_after_the_cutoff_nor_cancel_after_the_start,
    a_claim_rechecks_the_departure_and_the_tour,
    one_person_gets_one_waitlist_entry_per_date,
    closing_a_departure_returns_its_waitlist_holds_to_the_queue,
);

async fn guest_book(app: &TestApp, f: &Fixture, slot: i64, people: i64) -> (i64, String) {
    let r = app.book(f.tour, slot, people, 0, 0).await;
    r.assert_status(201);
    (
        r.body["id"].as_i64().expect("id"),
        r.body["manage_token"].as_str().expect("token").to_owned(),
    )
}

async fn as_guest(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> TestResponse {
    app.send(method, path, body, &[("x-manage-token", token)])
        .await
}

async fn join(app: &TestApp, f: &Fixture, date: &str, slot: Option<i64>, email: &str) -> i64 {
    let r = app
        .post(
            paths::WAITLIST,
            &json!({"tour_id": f.tour, "requested_date": date, "booking_slot_id": slot,
                    "num_people": 2, "customer_name": "Wanda Wait", "customer_email": email}),
        )
        .await;
    r.assert_status(201);
    r.body["id"].as_i64().expect("entry id")
}

async fn entry(app: &TestApp, f: &Fixture, id: i64) -> Value {
    let r = app.get_as(&f.admin, &paths::waitlist_entry(id)).await;
    r.assert_status(200);
    r.body
}

async fn cancel_departure(app: &TestApp, f: &Fixture, slot: i64) -> TestResponse {
    app.post_as(
        &f.admin,
        &paths::admin_slot_action(slot, "cancel"),
        &json!({"reason": "Guide ill"}),
    )
    .await
}

/// A second departure at 15:00 on each of the fixture's dates.
async fn afternoons(app: &TestApp, f: &Fixture, capacity: i64) -> Vec<i64> {
    let s = app
        .schedule(
            &f.admin,
            f.tour,
            &f.dates[0],
            json!({"start_time": "15:00:00", "max_capacity": capacity,
                   "valid_until": f.dates[f.dates.len() - 1]}),
        )
        .await;
    let r = app
        .generate(&f.admin, s, &f.dates[0], &f.dates[f.dates.len() - 1])
        .await;
    r.assert_status(200);
    r.body["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .filter_map(|s| s["id"].as_i64())
        .collect()
}

/// Defect 3: the departure cancel used to offer its own freed spots to the
/// waitlist before marking itself cancelled, so a date-wide entry was
/// notified for the cancelled departure (and could claim a booking on it).
async fn a_cancelled_departure_is_never_offered_to_the_waitlist(app: TestApp) {
    let f = app.fixture(2).await;
    guest_book(&app, &f, f.slots[0], 2).await;
    let wide = join(&app, &f, &f.dates[0], None, "w@example.com").await;
    let exact = join(&app, &f, &f.dates[0], Some(f.slots[0]), "x@example.com").await;
    cancel_departure(&app, &f, f.slots[0])
        .await
        .assert_status(200);
    let after = entry(&app, &f, wide).await;
    assert_eq!(
        after["status"], "active",
        "still waiting for that date: {after}"
    );
    assert_eq!(after["held_slot_id"], Value::Null, "{after}");
    let after = entry(&app, &f, exact).await;
    assert_eq!(
        after["status"], "cancelled",
        "an entry for exactly that departure ends with it: {after}"
    );
    let slot = app.slot(f.tour, f.slots[0]).await;
    assert_eq!(slot["held_spots"], 0);
    assert_eq!(slot["current_bookings"], 0);
    let notes = app
        .get_as(&f.admin, "/api/calendar/admin/notifications")
        .await;
    assert!(
        !notes.text.contains("waitlist.notified"),
        "nobody is offered a cancelled departure: {}",
        notes.text
    );
    app.assert_consistent().await;
}

/// A date-wide entry holding spots on a departure that is cancelled keeps
/// its place and is offered another departure that day with room.
async fn date_wide_entries_move_to_another_departure_that_day(app: TestApp) {
    let f = app.fixture(2).await;
    let pm = afternoons(&app, &f, 2).await;
    let morning = guest_book(&app, &f, f.slots[0], 2).await;
    let afternoon = guest_book(&app, &f, pm[0], 2).await;
    let e = join(&app, &f, &f.dates[0], None, "w@example.com").await;
    // The afternoon frees up: the entry is offered it.
    as_guest(
        &app,
        Method::DELETE,
        &format!("/api/calendar/bookings/{}", afternoon.0),
        &afternoon.1,
        None,
    )
    .await
    .assert_status(200);
    assert_eq!(entry(&app, &f, e).await["held_slot_id"], pm[0]);
    // Then the morning frees up (its party moves to another day) while the
    // entry holds the afternoon, and the afternoon is cancelled: the entry
    // moves to the morning with its place.
    app.put_as(
        &f.admin,
        &format!("/api/calendar/bookings/{}", morning.0),
        &json!({"new_slot_id": f.slots[2]}),
    )
    .await
    .assert_status(200);
    // The morning's freed spots could not go to the entry (it holds the
    // afternoon); now the afternoon is cancelled.
    cancel_departure(&app, &f, pm[0]).await.assert_status(200);
    let after = entry(&app, &f, e).await;
    assert_eq!(after["status"], "notified", "{after}");
    assert_eq!(after["held_slot_id"], f.slots[0], "{after}");
    assert_eq!(app.slot(f.tour, pm[0]).await["held_spots"], 0);
    assert_eq!(app.slot(f.tour, f.slots[0]).await["held_spots"], 2);
    app.assert_consistent().await;
}

async fn blackout(app: &TestApp, f: &Fixture, date: &str, name: &str) -> i64 {
    let r = app
        .post_as(
            &f.admin,
            paths::ADMIN_BLACKOUTS,
            &json!({"tour_id": f.tour, "start_date": date, "end_date": date,
                    "blackout_type": "weather", "name": name}),
        )
        .await;
    r.assert_status(201);
    r.body["blackout"]["id"].as_i64().expect("blackout id")
}

async fn remove_blackout(app: &TestApp, f: &Fixture, id: i64) {
    app.delete_as(&f.admin, &paths::admin_blackout(id), None)
        .await
        .assert_status(200);
}

/// Defect 6: only the first blackout's id was remembered on the slot, so
/// removing two overlapping blackouts left it cancelled for good.
async fn overlapping_blackouts_removed_in_any_order_reopen_the_departure(app: TestApp) {
    let f = app.fixture(4).await;
    for (first, second) in [(true, false), (false, true)] {
        let date = if first { &f.dates[1] } else { &f.dates[2] };
        let slot = if first { f.slots[1] } else { f.slots[2] };
        let a = blackout(&app, &f, date, "Storm").await;
        let b = blackout(&app, &f, date, "Road works").await;
        app.book(f.tour, slot, 1, 0, 0)
            .await
            .assert_error(409, "slot_unavailable");
        let (x, y) = if second { (b, a) } else { (a, b) };
        remove_blackout(&app, &f, x).await;
        let still = app.slot(f.tour, slot).await;
        assert_eq!(still["is_cancelled"], true, "one blackout still covers it");
        app.book(f.tour, slot, 1, 0, 0)
            .await
            .assert_error(409, "slot_unavailable");
        remove_blackout(&app, &f, y).await;
        let open = app.slot(f.tour, slot).await;
        assert_eq!(open["is_cancelled"], false, "{open}");
        assert_eq!(open["cancellation_reason"], Value::Null);
        app.book(f.tour, slot, 1, 0, 0).await.assert_status(201);
    }
    app.assert_consistent().await;
}

/// Defect 7: a blackout over a departure with bookings left it open to new
/// bookings, growth and waitlist offers.
async fn a_blacked_out_departure_takes_no_booking_growth_or_offer(app: TestApp) {
    let f = app.fixture(3).await;
    let first = guest_book(&app, &f, f.slots[0], 2).await;
    let second = guest_book(&app, &f, f.slots[0], 1).await;
    let e = join(&app, &f, &f.dates[0], None, "w@example.com").await;
    let r = app
        .post_as(
            &f.admin,
            paths::ADMIN_BLACKOUTS,
            &json!({"tour_id": f.tour, "start_date": f.dates[0], "end_date": f.dates[0],
                    "blackout_type": "weather", "name": "Storm"}),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.body["conflicts"][0]["slot_id"], f.slots[0], "{}", r.text);
    // The bookings made before it stay.
    let slot = app.slot(f.tour, f.slots[0]).await;
    assert_eq!(slot["current_bookings"], 3);
    assert_eq!(slot["is_cancelled"], false);
    // Spots freed by a cancellation are not offered to the waitlist, and
    // cannot be booked or grown into.
    as_guest(
        &app,
        Method::DELETE,
        &format!("/api/calendar/bookings/{}", second.0),
        &second.1,
        None,
    )
    .await
    .assert_status(200);
    assert_eq!(entry(&app, &f, e).await["status"], "active");
    app.book(f.tour, f.slots[0], 1, 0, 0)
        .await
        .assert_error(409, "slot_unavailable");
    as_guest(
        &app,
        Method::PUT,
        &format!("/api/calendar/bookings/{}", first.0),
        &first.1,
        Some(&json!({"new_num_adults": 3})),
    )
    .await
    .assert_error(409, "slot_unavailable");
    // Nor moved into.
    let other = guest_book(&app, &f, f.slots[1], 1).await;
    as_guest(
        &app,
        Method::PUT,
        &format!("/api/calendar/bookings/{}", other.0),
        &other.1,
        Some(&json!({"new_slot_id": f.slots[0]})),
    )
    .await
    .assert_error(409, "slot_unavailable");
    // The admin's manual processing offers nothing either.
    let r = app
        .post_as(
            &f.admin,
            &format!("/api/calendar/admin/slots/{}/process-waitlist", f.slots[0]),
            &json!({}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(entry(&app, &f, e).await["status"], "active");
    app.assert_consistent().await;
}

/// Defect 8: deactivating then reactivating a schedule lost its unbooked
/// departures (regeneration skipped the cancelled rows).
async fn deactivating_then_reactivating_a_schedule_restores_its_departures(app: TestApp) {
    let f = app.fixture(4).await;
    guest_book(&app, &f, f.slots[0], 1).await;
    let r = app
        .delete_as(
            &f.admin,
            &format!("/api/calendar/admin/schedules/{}", f.schedule),
            None,
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["cancelled_slots"], f.slots.len() - 1, "{}", r.text);
    app.book(f.tour, f.slots[1], 1, 0, 0)
        .await
        .assert_error(409, "slot_unavailable");
    assert_eq!(app.slot(f.tour, f.slots[1]).await["is_cancelled"], true);
    // The booked one stays for its booking, but takes nobody new.
    assert_eq!(app.slot(f.tour, f.slots[0]).await["is_cancelled"], false);
    app.book(f.tour, f.slots[0], 1, 0, 0)
        .await
        .assert_error(409, "slot_unavailable");
    let r = app
        .put_as(
            &f.admin,
            &format!("/api/calendar/admin/schedules/{}", f.schedule),
            &json!({"is_active": true}),
        )
        .await;
    r.assert_status(200);
    for slot in &f.slots[1..] {
        let s = app.slot(f.tour, *slot).await;
        assert_eq!(s["is_cancelled"], false, "{s}");
    }
    app.book(f.tour, f.slots[1], 1, 0, 0)
        .await
        .assert_status(201);
    app.assert_consistent().await;
}

async fn slots_on(app: &TestApp, f: &Fixture, date: &str) -> Vec<Value> {
    let r = app
        .get(&format!(
            "/api/calendar/tours/{}/slots?start_date={date}&end_date={date}",
            f.tour
        ))
        .await;
    r.assert_status(200);
    r.body.as_array().cloned().unwrap_or_default()
}

/// Defect 9: editing a schedule's start time after generation created a
/// second departure on every date (09:00 and 10:00 both bookable).
async fn editing_a_schedule_moves_its_departures_instead_of_duplicating_them(app: TestApp) {
    let f = app.fixture(4).await;
    let booked = guest_book(&app, &f, f.slots[0], 2).await;
    let path = format!("/api/calendar/admin/schedules/{}", f.schedule);
    // The dry run reports and keeps nothing.
    let dry = app
        .put_as(
            &f.admin,
            &format!("{path}?dry_run=true"),
            &json!({"start_time": "10:00:00"}),
        )
        .await;
    dry.assert_status(200);
    assert_eq!(dry.body["dry_run"], true);
    let actions = |r: &TestResponse, slot: i64| -> Vec<String> {
        r.body["departures"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|d| d["slot_id"] == slot)
            .map(|d| {
                d["actions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(actions(&dry, f.slots[0]), ["kept_booked"], "{}", dry.text);
    assert_eq!(actions(&dry, f.slots[1]), ["moved"], "{}", dry.text);
    assert_eq!(
        app.slot(f.tour, f.slots[1]).await["start_time"],
        "09:00:00",
        "a dry run changes nothing"
    );
    let sched = app.get_as(&f.admin, &path).await;
    assert_eq!(sched.body["start_time"], "09:00:00");

    let r = app
        .put_as(&f.admin, &path, &json!({"start_time": "10:00:00"}))
        .await;
    r.assert_status(200);
    assert_eq!(r.body["start_time"], "10:00:00");
    for (i, date) in f.dates.iter().enumerate() {
        let day = slots_on(&app, &f, date).await;
        assert_eq!(day.len(), 1, "one departure on {date}: {day:?}");
        let expected = if i == 0 { "09:00:00" } else { "10:00:00" };
        assert_eq!(day[0]["start_time"], expected, "{date}");
    }
    // Generating again creates nothing new.
    let g = app
        .generate(
            &f.admin,
            f.schedule,
            &f.dates[0],
            &f.dates[f.dates.len() - 1],
        )
        .await;
    g.assert_status(200);
    assert_eq!(g.body["created"], 0, "{}", g.text);
    // Moving the booked one needs apply_to_booked, and is audited.
    let r = app
        .put_as(
            &f.admin,
            &format!("{path}?apply_to_booked=true"),
            &json!({"start_time": "10:00:00"}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(
        slots_on(&app, &f, &f.dates[0]).await[0]["start_time"],
        "10:00:00"
    );
    let history = app
        .get_as(
            &f.admin,
            &format!("/api/calendar/admin/bookings/{}/history", booked.0),
        )
        .await;
    let moved = history
        .body
        .as_array()
        .and_then(|h| {
            h.iter()
                .find(|e| e["modification_type"] == "schedule_change")
        })
        .cloned()
        .unwrap_or_default();
    assert_eq!(moved["ip_address"], "127.0.0.1", "{}", history.text);
    app.assert_consistent().await;
}

async fn a_schedule_edit_never_drops_capacity_below_bookings(app: TestApp) {
    let f = app.fixture(6).await;
    guest_book(&app, &f, f.slots[0], 5).await;
    let r = app
        .put_as(
            &f.admin,
            &format!("/api/calendar/admin/schedules/{}", f.schedule),
            &json!({"max_capacity": 3}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(app.slot(f.tour, f.slots[0]).await["max_capacity"], 5);
    assert_eq!(app.slot(f.tour, f.slots[1]).await["max_capacity"], 3);
    app.assert_consistent().await;
}

/// Defect 11: an admin growing a booking on a closed departure was told
/// about capacity, with a wrong count.
async fn an_admin_growing_a_booking_on_a_closed_departure_is_told_it_is_closed(app: TestApp) {
    let f = app.fixture(10).await;
    let b = guest_book(&app, &f, f.slots[0], 2).await;
    app.patch_as(
        &f.admin,
        &format!("/api/calendar/admin/slots/{}", f.slots[0]),
        &json!({"is_available": false}),
    )
    .await
    .assert_status(200);
    app.put_as(
        &f.admin,
        &format!("/api/calendar/bookings/{}", b.0),
        &json!({"new_num_adults": 4}),
    )
    .await
    .assert_error(409, "slot_closed");
    // Shrinking is still possible.
    app.put_as(
        &f.admin,
        &format!("/api/calendar/bookings/{}", b.0),
        &json!({"new_num_adults": 1}),
    )
    .await
    .assert_status(200);
    app.assert_consistent().await;
}

/// Defect 13: customers could shrink or cancel after the cutoff and even
/// after the departure had started.
async fn customers_cannot_change_after_the_cutoff_nor_cancel_after_the_start(app: TestApp) {
    let f = app.fixture(10).await;
    let b = guest_book(&app, &f, f.slots[0], 3).await;
    let c = guest_book(&app, &f, f.slots[1], 1).await;
    let starts: chrono::DateTime<chrono::Utc> = app.slot(f.tour, f.slots[0]).await["starts_at"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("starts_at");
    let path = format!("/api/calendar/bookings/{}", b.0);
    // Inside the 24-hour cutoff: no change, but a cancel is still allowed.
    app.clock.freeze(starts - Duration::hours(2));
    as_guest(
        &app,
        Method::PUT,
        &path,
        &b.1,
        Some(&json!({"new_num_adults": 2})),
    )
    .await
    .assert_error(409, "changes_closed");
    // After the start: neither.
    app.clock.freeze(starts + Duration::minutes(5));
    as_guest(&app, Method::DELETE, &path, &b.1, None)
        .await
        .assert_error(409, "departure_started");
    // An admin still can.
    app.put_as(&f.admin, &path, &json!({"new_num_adults": 2}))
        .await
        .assert_status(200);
    app.delete_as(&f.admin, &path, None)
        .await
        .assert_status(200);
    // And a customer may cancel inside the cutoff, before the start.
    let starts: chrono::DateTime<chrono::Utc> = app.slot(f.tour, f.slots[1]).await["starts_at"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("starts_at");
    app.clock.freeze(starts - Duration::hours(1));
    as_guest(
        &app,
        Method::DELETE,
        &format!("/api/calendar/bookings/{}", c.0),
        &c.1,
        None,
    )
    .await
    .assert_status(200);
    app.assert_consistent().await;
}

/// Defect 13: a claim did not re-check that the departure was still open
/// and the tour active.
async fn a_claim_rechecks_the_departure_and_the_tour(app: TestApp) {
    let f = app.fixture(2).await;
    let b = guest_book(&app, &f, f.slots[0], 2).await;
    let r = app
        .post(
            paths::WAITLIST,
            &json!({"tour_id": f.tour, "requested_date": f.dates[0], "num_people": 2,
                    "customer_name": "Wanda Wait", "customer_email": "w@example.com"}),
        )
        .await;
    r.assert_status(201);
    let (e, token) = (
        r.body["id"].as_i64().expect("id"),
        r.body["manage_token"].as_str().expect("token").to_owned(),
    );
    as_guest(
        &app,
        Method::DELETE,
        &format!("/api/calendar/bookings/{}", b.0),
        &b.1,
        None,
    )
    .await
    .assert_status(200);
    assert_eq!(entry(&app, &f, e).await["status"], "notified");
    let claim = json!({"num_adults": 2});
    let path = paths::waitlist_claim(e);
    // The operator closes the departure: the offer is withdrawn (the
    // entry waits again) and the claim is refused; reopening offers again.
    app.patch_as(
        &f.admin,
        &format!("/api/calendar/admin/slots/{}", f.slots[0]),
        &json!({"is_available": false}),
    )
    .await
    .assert_status(200);
    as_guest(&app, Method::POST, &path, &token, Some(&claim))
        .await
        .assert_error(409, "invalid_status");
    assert_eq!(entry(&app, &f, e).await["status"], "active");
    app.patch_as(
        &f.admin,
        &format!("/api/calendar/admin/slots/{}", f.slots[0]),
        &json!({"is_available": true}),
    )
    .await
    .assert_status(200);
    assert_eq!(entry(&app, &f, e).await["status"], "notified");
    // The tour is withdrawn from sale: refused too.
    app.put_as(
        &f.admin,
        &format!("/api/calendar/admin/tours/{}", f.tour),
        &json!({"is_active": false}),
    )
    .await
    .assert_status(200);
    as_guest(&app, Method::POST, &path, &token, Some(&claim))
        .await
        .assert_error(409, "slot_unavailable");
    app.put_as(
        &f.admin,
        &format!("/api/calendar/admin/tours/{}", f.tour),
        &json!({"is_active": true}),
    )
    .await
    .assert_status(200);
    as_guest(&app, Method::POST, &path, &token, Some(&claim))
        .await
        .assert_status(201);
    app.assert_consistent().await;
}

/// Defect 10 (sequential half; the concurrent half is in `interleave.rs`):
/// one person has one open entry per tour and date, whatever the case of
/// the email.
async fn one_person_gets_one_waitlist_entry_per_date(app: TestApp) {
    let f = app.fixture(2).await;
    guest_book(&app, &f, f.slots[0], 2).await;
    let first = join(&app, &f, &f.dates[0], None, "Same@Example.com").await;
    let body = json!({"tour_id": f.tour, "requested_date": f.dates[0], "booking_slot_id": f.slots[0],
                      "num_people": 1, "customer_name": "Wanda Wait", "customer_email": "same@example.com"});
    // As an anonymous guest: the answer a join gets (#13), but no new entry.
    let r = app.post(paths::WAITLIST, &body).await;
    r.assert_status(201);
    assert!(r.body.get("manage_token").is_none(), "{}", r.body);
    // As an admin (who may see it): a clean 409.
    app.post_as(&f.admin, paths::WAITLIST, &body)
        .await
        .assert_error(409, "already_waitlisted");
    let list = app
        .get_as(
            &f.admin,
            &format!("/api/calendar/admin/waitlist?tour_id={}", f.tour),
        )
        .await;
    let ids: Vec<i64> = list
        .body
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["id"].as_i64()).collect())
        .unwrap_or_default();
    assert_eq!(ids, vec![first], "one entry: {}", list.body);
}

/// An offer on a departure that closes (a blackout, the operator's close)
/// could never be claimed: the entry goes back to the queue with its place
/// and the held spots are released.
async fn closing_a_departure_returns_its_waitlist_holds_to_the_queue(app: TestApp) {
    let f = app.fixture(2).await;
    for (i, close_by_blackout) in [(0usize, true), (1, false)] {
        let b = guest_book(&app, &f, f.slots[i], 2).await;
        let e = join(&app, &f, &f.dates[i], None, &format!("w{i}@example.com")).await;
        as_guest(
            &app,
            Method::DELETE,
            &format!("/api/calendar/bookings/{}", b.0),
            &b.1,
            None,
        )
        .await
        .assert_status(200);
        assert_eq!(entry(&app, &f, e).await["status"], "notified");
        if close_by_blackout {
            blackout(&app, &f, &f.dates[i], "Storm").await;
        } else {
            app.patch_as(
                &f.admin,
                &format!("/api/calendar/admin/slots/{}", f.slots[i]),
                &json!({"is_available": false}),
            )
            .await
            .assert_status(200);
        }
        let after = entry(&app, &f, e).await;
        assert_eq!(after["status"], "active", "{after}");
        assert_eq!(after["held_slot_id"], Value::Null, "{after}");
        assert_eq!(app.slot(f.tour, f.slots[i]).await["held_spots"], 0);
    }
    app.assert_consistent().await;
}
