//! The availability check, the month view and the slots range: exact,
//! live, and in the spec's shape.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use tourdesk_service::Clock;

use crate::both_backends;
use crate::helpers::{TestApp, day, paths};
use tourdesk_service::{CalendarCacheSettings, Context, Settings};

both_backends!(
    available_dates_list_open_slots_in_the_spec_shape,
    every_refusal_reason_in_order,
    window_edges_in_a_foreign_time_zone,
    month_summary_is_live_and_levelled,
    blackout_days_appear_in_the_month_view,
    ranges_and_months_are_validated,
    slots_say_whether_a_booking_would_be_taken_and_why_not,
    tours_and_months_point_at_the_first_bookable_departure_and_its_price,
    a_party_that_does_not_fit_is_offered_alternatives,
    reads_answer_not_modified_until_anything_they_show_changes,
    the_month_view_adds_up_what_the_slots_listing_says,
    the_calendar_cache_never_serves_a_stale_number,
    a_month_read_while_a_write_is_in_flight_is_not_kept_past_its_commit,
);

/// #17 item 9: when the party does not fit, the availability check and a
/// refused booking name departures it can book instead: the same day's
/// first, then the nearest days (earlier first at equal distance), only
/// those with room for the whole party, at most six.
async fn a_party_that_does_not_fit_is_offered_alternatives(app: TestApp) {
    let f = app.fixture(4).await;
    // Day index 5 is full; index 4 has 3 left (not enough for 4); a second
    // departure that same day, at 15:00, has room.
    let full = app.book(f.tour, f.slots[5], 4, 0, 0).await;
    full.assert_status(201);
    app.book(f.tour, f.slots[4], 1, 0, 0)
        .await
        .assert_status(201);
    let date = f.dates[5].clone();
    let afternoon = app
        .schedule(
            &f.admin,
            f.tour,
            &date,
            json!({"name": "Afternoons", "start_time": "15:00:00", "valid_until": date, "max_capacity": 4}),
        )
        .await;
    app.generate(&f.admin, afternoon, &date, &date)
        .await
        .assert_status(200);
    let later = app
        .get(&format!(
            "/api/calendar/tours/{}/slots?start_date={date}&end_date={date}",
            f.tour
        ))
        .await;
    let pm = later
        .body
        .as_array()
        .and_then(|a| a.iter().find(|s| s["schedule_id"] == afternoon))
        .and_then(|s| s["id"].as_i64())
        .expect("the 15:00 departure");
    app.book(f.tour, pm, 1, 0, 0).await.assert_status(201);

    let slot_ids = |v: &Value| -> Vec<i64> {
        v.as_array()
            .map(|a| a.iter().filter_map(|s| s["slot_id"].as_i64()).collect())
            .unwrap_or_default()
    };
    // Four people at 09:00 on the full day.
    let r = app
        .post(
            paths::AVAILABILITY,
            &json!({"tour_id": f.tour, "requested_date": date, "num_people": 4, "requested_time": "09:00:00"}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["available"], false);
    // 15:00 has only 4 - 1 = 3: not offered for four.
    let expected = vec![
        f.slots[6], f.slots[3], f.slots[7], f.slots[2], f.slots[8], f.slots[1],
    ];
    assert_eq!(slot_ids(&r.body["alternatives"]), expected, "{}", r.body);
    let first = &r.body["alternatives"][0];
    assert_eq!(first["date"], f.dates[6]);
    assert_eq!(first["start_time"], "09:00:00");
    assert_eq!(first["available_spots"], 4);
    assert_eq!(first["price_per_person"], 75.0);

    // Three people: the same day's 15:00 comes first, then day 4 (3 left).
    let r = check(&app, f.tour, &date, 3).await;
    assert_eq!(r["available"], true, "15:00 takes three: {r}");
    assert_eq!(r["alternatives"], json!([]), "none when available");
    let r = app
        .post(
            paths::AVAILABILITY,
            &json!({"tour_id": f.tour, "requested_date": date, "num_people": 3, "requested_time": "09:00:00"}),
        )
        .await;
    let ids = slot_ids(&r.body["alternatives"]);
    assert_eq!(&ids[..3], &[pm, f.slots[4], f.slots[6]], "{}", r.body);

    // A booking refused for want of room carries the same list.
    let refused = app.book(f.tour, f.slots[5], 4, 0, 0).await;
    assert!(
        matches!(refused.status.as_u16(), 400 | 409),
        "refused: {} {}",
        refused.status,
        refused.body
    );
    assert_eq!(
        slot_ids(&refused.body["alternatives"]),
        expected,
        "{}",
        refused.body
    );
    // And one larger than what is left on a departure with room.
    let refused = app.book(f.tour, pm, 4, 0, 0).await;
    refused.assert_error(400, "capacity_exceeded");
    assert_eq!(
        slot_ids(&refused.body["alternatives"]).first(),
        Some(&f.slots[6]),
        "{}",
        refused.body
    );
    // Nothing bookable near: an empty list, not an error.
    let others = f.slots.iter().enumerate().filter(|(i, _)| *i != 5);
    for s in others.map(|(_, s)| *s).chain([pm]) {
        app.send_as(
            &f.admin,
            Method::PATCH,
            &paths::admin_slot(s),
            Some(&json!({"is_available": false})),
        )
        .await
        .assert_status(200);
    }
    let r = check(&app, f.tour, &date, 4).await;
    assert_eq!(r["alternatives"], json!([]), "{r}");
    app.assert_consistent().await;
}

async fn check(app: &TestApp, tour: i64, date: &str, people: i64) -> Value {
    let r = app
        .post(
            paths::AVAILABILITY,
            &json!({"tour_id": tour, "requested_date": date, "num_people": people}),
        )
        .await;
    r.assert_status(200);
    r.body
}

async fn available_dates_list_open_slots_in_the_spec_shape(app: TestApp) {
    let f = app.fixture(15).await;
    let afternoon = app
        .schedule(
            &f.admin,
            f.tour,
            &day(3),
            json!({"start_time": "14:00:00", "max_capacity": 4, "price_override": 60}),
        )
        .await;
    app.generate(&f.admin, afternoon, &day(3), &day(12))
        .await
        .assert_status(200);
    app.book(f.tour, f.slots[0], 3, 0, 0)
        .await
        .assert_status(201);
    let r = app
        .post(
            paths::AVAILABILITY,
            &json!({"tour_id": f.tour, "requested_date": f.dates[0], "num_people": 4}),
        )
        .await;
    r.assert_status(200);
    let b = &r.body;
    assert_eq!(b["available"], true);
    assert_eq!(b["reason"], Value::Null);
    assert_eq!(b["waitlist_available"], false);
    assert_eq!(
        b["tour"],
        json!({"id": f.tour, "name": "Jerusalem Old City Tour", "duration_hours": 3.0})
    );
    assert_eq!(b["currency"], "USD");
    let slots = b["slots"].as_array().expect("slots");
    assert_eq!(slots.len(), 2);
    assert_eq!(slots[0]["start_time"], "09:00:00");
    assert_eq!(slots[0]["end_time"], "12:00:00");
    assert_eq!(slots[0]["available_spots"], 12);
    assert_eq!(slots[0]["current_bookings"], 3);
    assert_eq!(slots[0]["max_capacity"], 15);
    assert!(
        r.text.contains("\"price_per_person\":75.00")
            && r.text.contains("\"price_per_person\":60.00"),
        "{}",
        r.text
    );
    // A party of 5 only fits the morning; requested_time narrows.
    assert_eq!(
        check(&app, f.tour, &f.dates[0], 5).await["slots"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let r = app.post(paths::AVAILABILITY, &json!({"tour_id": f.tour, "requested_date": f.dates[0], "num_people": 2, "requested_time": "14:00:00"})).await;
    let slots = r.body["slots"].as_array().expect("slots");
    assert_eq!(slots.len(), 1);
    assert_eq!(slots[0]["start_time"], "14:00:00");
}

async fn every_refusal_reason_in_order(app: TestApp) {
    let f = app.fixture(4).await;
    let reason = |b: &Value| {
        (
            b["available"].clone(),
            b["reason_code"].clone(),
            b["waitlist_available"].clone(),
        )
    };
    assert_eq!(
        reason(&check(&app, 99999, &f.dates[0], 1).await),
        (json!(false), json!("tour_not_found"), json!(false))
    );
    let inactive = app
        .tour(&f.admin, json!({"name": "Closed", "is_active": false}))
        .await;
    assert_eq!(
        reason(&check(&app, inactive, &f.dates[0], 1).await).1,
        json!("tour_inactive")
    );
    app.post_as(&f.admin, paths::ADMIN_BLACKOUTS, &json!({"tour_id": f.tour, "start_date": f.dates[1], "end_date": f.dates[1], "blackout_type": "holiday", "name": "Sukkot"})).await.assert_status(201);
    let b = check(&app, f.tour, &f.dates[1], 1).await;
    assert_eq!(reason(&b).1, json!("date_blacked_out"));
    assert!(
        b["reason"].as_str().is_some_and(|r| r.contains("Sukkot")),
        "{b}"
    );
    assert_eq!(
        reason(&check(&app, f.tour, &day(40), 1).await).1,
        json!("no_slots")
    );
    app.book(f.tour, f.slots[2], 3, 0, 0)
        .await
        .assert_status(201);
    let b = check(&app, f.tour, &f.dates[2], 2).await;
    assert_eq!(
        reason(&b),
        (json!(false), json!("fully_booked"), json!(true))
    );
    assert_eq!(b["slots"], json!([]));
    assert_eq!(check(&app, f.tour, &f.dates[2], 1).await["available"], true);
    // Outside the window: a far slot, and a slot inside the cutoff.
    let far = app
        .schedule(&f.admin, f.tour, &day(120), json!({"recurrence": "none"}))
        .await;
    app.generate(&f.admin, far, &day(120), &day(120))
        .await
        .assert_status(200);
    assert_eq!(
        reason(&check(&app, f.tour, &day(120), 1).await).1,
        json!("too_far")
    );
    let starts: DateTime<Utc> = app.slot(f.tour, f.slots[0]).await["starts_at"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("starts_at");
    app.clock.freeze(starts - Duration::hours(10));
    assert_eq!(
        reason(&check(&app, f.tour, &f.dates[0], 1).await).1,
        json!("too_soon")
    );
    // A blackout wins over a full day.
    app.clock.freeze(starts - Duration::days(2));
    // Bad input is 422, not a refusal.
    for body in [
        json!({"tour_id": f.tour, "requested_date": f.dates[0], "num_people": 0}),
        json!({"tour_id": f.tour, "requested_date": f.dates[0], "num_people": 51}),
        json!({"tour_id": f.tour, "requested_date": "2025-13-01", "num_people": 1}),
        json!({"tour_id": f.tour, "requested_date": f.dates[0], "num_people": 1, "requested_time": "9am"}),
    ] {
        app.post(paths::AVAILABILITY, &body)
            .await
            .assert_error(422, "validation_error");
    }
}

async fn window_edges_in_a_foreign_time_zone(app: TestApp) {
    // The server runs in UTC; the tour in New York. A 10:00 slot on a fixed date.
    let admin = app.admin().await;
    let tour = app
        .tour(&admin, json!({"timezone": "America/New_York"}))
        .await;
    let date = (Utc::now().date_naive() + Duration::days(20)).to_string();
    let s = app
        .schedule(
            &admin,
            tour,
            &date,
            json!({"recurrence": "none", "start_time": "10:00:00"}),
        )
        .await;
    let slot = app.generate(&admin, s, &date, &date).await.body["slots"][0].clone();
    let starts: DateTime<Utc> = slot["starts_at"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("starts_at");
    let local = starts.with_timezone(&chrono_tz::America::New_York);
    assert_eq!(
        local.format("%H:%M").to_string(),
        "10:00",
        "10:00 in New York"
    );
    let slot_id = slot["id"].as_i64().expect("id");
    let code = |b: Value| b["reason_code"].clone();
    // Exactly at the cutoff (24 h before): still open. One second later: closed.
    app.clock.freeze(starts - Duration::hours(24));
    assert_eq!(check(&app, tour, &date, 1).await["available"], true);
    app.clock
        .freeze(starts - Duration::hours(24) + Duration::seconds(1));
    assert_eq!(code(check(&app, tour, &date, 1).await), "too_soon");
    app.book(tour, slot_id, 1, 0, 0)
        .await
        .assert_error(409, "slot_unavailable");
    // Exactly at the advance limit (90 days before): open. One second earlier: too far.
    app.clock.freeze(starts - Duration::days(90));
    assert_eq!(check(&app, tour, &date, 1).await["available"], true);
    app.clock
        .freeze(starts - Duration::days(90) - Duration::seconds(1));
    assert_eq!(code(check(&app, tour, &date, 1).await), "too_far");
    app.book(tour, slot_id, 1, 0, 0)
        .await
        .assert_error(409, "slot_unavailable");
}

async fn month(app: &TestApp, tour: i64, d: NaiveDate) -> crate::helpers::TestResponse {
    let r = app
        .get(&format!(
            "/api/calendar/tours/{tour}/monthly?year={}&month={}",
            d.year(),
            d.month()
        ))
        .await;
    r.assert_status(200);
    r
}

async fn month_summary_is_live_and_levelled(app: TestApp) {
    let f = app.fixture(10).await;
    let date: NaiveDate = f.dates[0].parse().expect("date");
    let r = month(&app, f.tour, date).await;
    assert_eq!(r.body["tour_id"], f.tour);
    assert_eq!(r.body["year"], date.year());
    assert_eq!(r.body["month"], date.month());
    let key = date.to_string();
    let day0 = &r.body["availability"][&key];
    assert_eq!(
        *day0,
        json!({"available_spots": 10, "num_time_slots": 1, "num_bookable_slots": 1, "has_availability": true, "level": "high",
                             "min_price": 75.0, "blackout": null})
    );
    assert!(r.text.contains("\"min_price\":75.00"));
    let levels = [
        (5, "high", 5),
        (1, "medium", 4),
        (2, "medium", 2),
        (1, "low", 1),
        (1, "none", 0),
    ];
    let mut ids = Vec::new();
    for (people, level, left) in levels {
        let b = app.book(f.tour, f.slots[0], people, 0, 0).await;
        b.assert_status(201);
        ids.push((
            b.body["id"].as_i64().expect("id"),
            b.body["manage_token"].as_str().expect("t").to_owned(),
        ));
        let d = month(&app, f.tour, date).await.body["availability"][&key].clone();
        assert_eq!(d["level"], level, "after booking {people}: {d}");
        assert_eq!(d["available_spots"], left);
        assert_eq!(d["has_availability"], left > 0);
    }
    // A cancellation shows at once.
    let (id, token) = ids.remove(0);
    app.send(
        Method::DELETE,
        &paths::booking(id),
        None,
        &[("x-manage-token", token.as_str())],
    )
    .await
    .assert_status(200);
    let d = month(&app, f.tour, date).await.body["availability"][&key].clone();
    assert_eq!(d["available_spots"], 5);
    assert_eq!(d["level"], "high");
    // Years past 2030 are fine.
    let r = app
        .get(&format!(
            "/api/calendar/tours/{}/monthly?year=2031&month=1",
            f.tour
        ))
        .await;
    r.assert_status(200);
    assert_eq!(r.body["availability"], json!({}));
}

async fn blackout_days_appear_in_the_month_view(app: TestApp) {
    let f = app.fixture(10).await;
    let date: NaiveDate = f.dates[4].parse().expect("date");
    app.post_as(&f.admin, paths::ADMIN_BLACKOUTS, &json!({"start_date": date, "end_date": date, "blackout_type": "holiday", "name": "Yom Kippur"})).await.assert_status(201);
    let r = app
        .get(&format!(
            "/api/calendar/tours/{}/monthly?year={}&month={}",
            f.tour,
            date.year(),
            date.month()
        ))
        .await;
    let d = &r.body["availability"][&date.to_string()];
    assert_eq!(d["blackout"], "Yom Kippur");
    assert_eq!(d["has_availability"], false);
    assert_eq!(d["level"], "none");
}

async fn ranges_and_months_are_validated(app: TestApp) {
    let f = app.fixture(10).await;
    app.get(&format!(
        "/api/calendar/tours/{}/monthly?year=2027&month=13",
        f.tour
    ))
    .await
    .assert_error(422, "validation_error");
    app.get(&format!("/api/calendar/tours/{}/monthly?year=2027", f.tour))
        .await
        .assert_error(422, "validation_error");
    app.get("/api/calendar/tours/99999/monthly?year=2027&month=1")
        .await
        .assert_error(404, "not_found");
    let base = format!("/api/calendar/tours/{}/slots", f.tour);
    app.get(&format!("{base}?start_date=2027-01-01&end_date=2028-01-03"))
        .await
        .assert_error(422, "validation_error");
    app.get(&format!("{base}?start_date=2027-01-05&end_date=2027-01-01"))
        .await
        .assert_error(422, "validation_error");
    app.get(&format!("{base}?start_date=2027-01-05"))
        .await
        .assert_error(422, "validation_error");
    let r = app
        .get(&format!(
            "{base}?start_date={}&end_date={}",
            f.dates[0], f.dates[2]
        ))
        .await;
    r.assert_status(200);
    let slots = r.body.as_array().expect("slots");
    assert_eq!(slots.len(), 3);
    for key in [
        "id",
        "tour_id",
        "schedule_id",
        "slot_date",
        "start_time",
        "end_time",
        "max_capacity",
        "current_bookings",
        "available_spots",
        "price_per_person",
        "is_available",
        "is_cancelled",
        "cancellation_reason",
    ] {
        assert!(slots[0].get(key).is_some(), "slot lacks {key}");
    }
}

/// The slots a range lists, keyed by id.
async fn listed(app: &TestApp, tour: i64, from: &str, to: &str) -> Vec<Value> {
    let r = app
        .get(&format!(
            "/api/calendar/tours/{tour}/slots?start_date={from}&end_date={to}"
        ))
        .await;
    r.assert_status(200);
    r.body.as_array().cloned().expect("slots")
}

/// Every listed slot's `bookable` is what a booking of one person answers:
/// 201 when bookable; otherwise 400 `capacity_exceeded` when full and 409
/// `slot_unavailable` for every other reason. Returns id → reason.
async fn bookable_agrees_with_booking(
    app: &TestApp,
    tour: i64,
    from: &str,
    to: &str,
) -> std::collections::BTreeMap<i64, Value> {
    let mut out = std::collections::BTreeMap::new();
    for s in listed(app, tour, from, to).await {
        let id = s["id"].as_i64().expect("id");
        let bookable = s["bookable"].as_bool().expect("bookable is a boolean");
        let reason = s["unbookable_reason"].clone();
        assert_eq!(bookable, reason.is_null(), "{s}");
        let r = app.book(tour, id, 1, 0, 0).await;
        match (bookable, reason.as_str()) {
            (true, _) => r.assert_status(201),
            (false, Some("full")) => r.assert_error(400, "capacity_exceeded"),
            (false, _) => r.assert_error(409, "slot_unavailable"),
        };
        out.insert(id, reason);
    }
    out
}

/// Issue #17: the calendar offered departures inside the booking cutoff and
/// the booking was refused on confirm. Each slot says whether a booking would
/// be taken now, and why not, by the booking path's own rule.
async fn slots_say_whether_a_booking_would_be_taken_and_why_not(app: TestApp) {
    let f = app.fixture(2).await;
    let starts: DateTime<Utc> = app.slot(f.tour, f.slots[0]).await["starts_at"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("starts_at");
    // Full, cancelled, blacked out, closed; slot 0 inside the cutoff.
    app.book(f.tour, f.slots[1], 2, 0, 0)
        .await
        .assert_status(201);
    app.post_as(
        &f.admin,
        &format!("/api/calendar/admin/slots/{}/cancel", f.slots[2]),
        &json!({"reason": "Storm"}),
    )
    .await
    .assert_status(200);
    app.post_as(&f.admin, paths::ADMIN_BLACKOUTS, &json!({"tour_id": f.tour, "start_date": f.dates[3], "end_date": f.dates[3], "blackout_type": "holiday", "name": "Sukkot"})).await.assert_status(201);
    app.patch_as(
        &f.admin,
        &format!("/api/calendar/admin/slots/{}", f.slots[4]),
        &json!({"is_available": false}),
    )
    .await
    .assert_status(200);
    app.clock.freeze(starts - Duration::hours(23));
    let reasons = bookable_agrees_with_booking(&app, f.tour, &f.dates[0], &f.dates[5]).await;
    let reason = |i: usize| {
        reasons
            .get(&f.slots[i])
            .cloned()
            .unwrap_or(json!("unlisted"))
    };
    assert_eq!(reason(0), "cutoff_passed");
    assert_eq!(reason(1), "full");
    assert_eq!(reason(2), "cancelled");
    assert_eq!(reason(3), "blacked_out");
    assert_eq!(reason(4), "closed");
    assert_eq!(reason(5), Value::Null);
    // The month agrees: the day inside the cutoff has nothing bookable.
    let d0: NaiveDate = f.dates[0].parse().expect("date");
    let m = month(&app, f.tour, d0).await;
    assert_eq!(m.body["availability"][&f.dates[0]]["num_bookable_slots"], 0);
    // Too far ahead: the last departure, one second before bookings open.
    let last: DateTime<Utc> = app.slot(f.tour, f.slots[9]).await["starts_at"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("starts_at");
    app.clock
        .freeze(last - Duration::days(90) - Duration::seconds(1));
    let reasons = bookable_agrees_with_booking(&app, f.tour, &f.dates[9], &f.dates[9]).await;
    assert_eq!(reasons.get(&f.slots[9]), Some(&json!("too_far_ahead")));
    // A tour that is not offered: nothing is bookable.
    app.clock.freeze(starts - Duration::days(2));
    app.put_as(
        &f.admin,
        &format!("/api/calendar/admin/tours/{}", f.tour),
        &json!({"is_active": false}),
    )
    .await
    .assert_status(200);
    let reasons = bookable_agrees_with_booking(&app, f.tour, &f.dates[6], &f.dates[8]).await;
    assert_eq!(reasons.len(), 3);
    assert!(
        reasons.values().all(|r| r == "tour_inactive"),
        "{reasons:?}"
    );
}

/// Issue #17: "from" showed the base price (149) although every departure
/// cost 159; the calendar had no "next available date". Both come from the
/// departures a customer can book now.
async fn tours_and_months_point_at_the_first_bookable_departure_and_its_price(app: TestApp) {
    let admin = app.admin().await;
    let tour = app.tour(&admin, json!({"base_price": 149})).await;
    // Nothing bookable yet: no price, no date.
    let r = app.get(&paths::tour(tour)).await;
    r.assert_status(200);
    assert_eq!(r.body["from_price"], Value::Null, "{}", r.text);
    assert_eq!(r.body["next_available_date"], Value::Null, "{}", r.text);
    assert!(r.text.contains("\"base_price\":149.00"), "{}", r.text);
    let s = app
        .schedule(
            &admin,
            tour,
            &day(40),
            json!({"price_override": 159, "max_capacity": 2}),
        )
        .await;
    app.generate(&admin, s, &day(40), &day(44))
        .await
        .assert_status(200);
    // A cheaper departure that cannot be booked does not count.
    let slots = listed(&app, tour, &day(40), &day(44)).await;
    assert_eq!(slots.len(), 5, "{slots:?}");
    let id = |i: usize| slots[i]["id"].as_i64().expect("id");
    app.patch_as(
        &admin,
        &format!("/api/calendar/admin/slots/{}", id(1)),
        &json!({"price_per_person": 99, "is_available": false}),
    )
    .await
    .assert_status(200);
    // The first departure is full: the next available date is the third's.
    app.book(tour, id(0), 2, 0, 0).await.assert_status(201);
    let r = app.get(&paths::tour(tour)).await;
    r.assert_status(200);
    assert!(r.text.contains("\"from_price\":159.00"), "{}", r.text);
    assert_eq!(r.body["next_available_date"], day(42), "{}", r.text);
    assert_eq!(r.body["base_price"], 149.0);
    let list = app.get(paths::TOURS).await;
    let listed_tour = list
        .body
        .as_array()
        .and_then(|a| a.iter().find(|t| t["id"] == tour).cloned())
        .expect("listed");
    assert_eq!(listed_tour["from_price"], 159.0);
    assert_eq!(listed_tour["next_available_date"], day(42));
    // The month view of today points at it too, as does the month itself.
    let today: NaiveDate = day(0).parse().expect("date");
    let target: NaiveDate = day(42).parse().expect("date");
    assert_eq!(
        month(&app, tour, today).await.body["next_available_date"],
        day(42)
    );
    assert_eq!(
        month(&app, tour, target).await.body["next_available_date"],
        day(42)
    );
    // A month after the last departure has none.
    let later = target + Duration::days(62);
    assert_eq!(
        month(&app, tour, later).await.body["next_available_date"],
        Value::Null
    );
}

/// Conditional GET (#19): a read carries a weak ETag made from its answer;
/// asking again with it is 304 until anything shown changes — a booking,
/// or the clock passing a departure's cutoff — and never a stale number.
async fn reads_answer_not_modified_until_anything_they_show_changes(app: TestApp) {
    let f = app.fixture(10).await;
    let path = format!(
        "/api/calendar/tours/{}/slots?start_date={}&end_date={}",
        f.tour,
        day(3),
        day(5)
    );
    let etag_of = |r: &crate::helpers::TestResponse| {
        r.headers
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no ETag: {:?}", r.headers))
    };
    let first = app.get(&path).await;
    first.assert_status(200);
    let tag = etag_of(&first);
    assert!(tag.starts_with("W/\""), "{tag}");
    assert_eq!(first.headers["cache-control"], "no-cache");
    let again = app
        .send(Method::GET, &path, None, &[("If-None-Match", tag.as_str())])
        .await;
    assert_eq!(again.status.as_u16(), 304, "{}", again.text);
    assert!(again.text.is_empty());
    assert_eq!(etag_of(&again), tag);
    // Someone books: the same question gets the new numbers and a new tag.
    app.book(f.tour, f.slots[0], 2, 0, 0)
        .await
        .assert_status(201);
    let after = app
        .send(Method::GET, &path, None, &[("If-None-Match", tag.as_str())])
        .await;
    after.assert_status(200);
    assert_ne!(etag_of(&after), tag);
    assert_eq!(after.body[0]["available_spots"], 8, "{}", after.text);
    // Time alone changes what is bookable: past the first departure's
    // cutoff the answer (and its tag) changes too.
    let tag = etag_of(&after);
    let starts: DateTime<Utc> = after.body[0]["starts_at"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("starts_at");
    app.clock.freeze(starts - Duration::hours(1));
    let later = app
        .send(Method::GET, &path, None, &[("If-None-Match", tag.as_str())])
        .await;
    later.assert_status(200);
    assert_eq!(later.body[0]["bookable"], false, "{}", later.text);
    assert_ne!(etag_of(&later), tag);
    app.clock.freeze(Utc::now());
    // With credentials, only the caller may keep it.
    let mine = app
        .get_as(&f.admin, "/api/calendar/admin/bookings?limit=5")
        .await;
    mine.assert_status(200);
    assert_eq!(mine.headers["cache-control"], "private, no-cache");
    let mine_again = app
        .send(
            Method::GET,
            "/api/calendar/admin/bookings?limit=5",
            None,
            &[
                ("authorization", format!("Bearer {}", f.admin).as_str()),
                ("If-None-Match", etag_of(&mine).as_str()),
            ],
        )
        .await;
    assert_eq!(mine_again.status.as_u16(), 304);
    // Writes and errors carry no validator.
    let missing = app
        .get("/api/calendar/tours/999999/slots?start_date=2030-01-01&end_date=2030-01-02")
        .await;
    assert!(
        missing.headers.get("etag").is_none(),
        "{:?}",
        missing.headers
    );
}

/// #19: the month view's day totals (added up by the database) are what
/// the slots listing (each departure decided by the booking rule) adds up
/// to, day by day, and its next available date is the listing's first
/// bookable one: across a full departure, a cancelled one, one the
/// operator closed, one inside the cutoff, ones too far ahead, a tour's
/// blackout over a booked departure, a global blackout over empty ones,
/// departures a schedule edit withdrew, and a tour taken off sale.
async fn the_month_view_adds_up_what_the_slots_listing_says(app: TestApp) {
    let f = app.fixture(4).await;
    // A dearer afternoon departure every day too.
    let afternoons = app
        .schedule(
            &f.admin,
            f.tour,
            &day(3),
            json!({"name": "Afternoons", "start_time": "15:00:00", "max_capacity": 6, "price_override": 90}),
        )
        .await;
    app.generate(&f.admin, afternoons, &day(3), &day(12))
        .await
        .assert_status(200);
    let listed = app.slots_between(f.tour, &day(3), &day(12)).await;
    let afternoon = |i: usize| {
        listed
            .iter()
            .find(|s| s["slot_date"] == f.dates[i] && s["start_time"] == "15:00:00")
            .and_then(|s| s["id"].as_i64())
            .expect("an afternoon departure")
    };
    for (slot, people) in [
        (f.slots[1], 4),
        (f.slots[3], 1),
        // The sixth day exactly half free (5 of 10): "high" at its edge.
        (f.slots[5], 2),
        (afternoon(5), 3),
        (afternoon(7), 6),
    ] {
        app.book(f.tour, slot, people, 0, 0)
            .await
            .assert_status(201);
    }
    for slot in [f.slots[2], f.slots[8]] {
        app.post_as(
            &f.admin,
            &paths::admin_slot_action(slot, "cancel"),
            &json!({"reason": "Storm"}),
        )
        .await
        .assert_status(200);
    }
    app.patch_as(
        &f.admin,
        &format!("/api/calendar/admin/slots/{}", f.slots[4]),
        &json!({"is_available": false}),
    )
    .await
    .assert_status(200);
    let blackouts = [
        (f.dates[3].clone(), "Sukkot"),
        (f.dates[6].clone(), "Yom Kippur"),
    ];
    app.post_as(&f.admin, paths::ADMIN_BLACKOUTS, &json!({"tour_id": f.tour, "start_date": blackouts[0].0, "end_date": blackouts[0].0, "blackout_type": "holiday", "name": blackouts[0].1})).await.assert_status(201);
    app.post_as(&f.admin, paths::ADMIN_BLACKOUTS, &json!({"start_date": blackouts[1].0, "end_date": blackouts[1].0, "blackout_type": "holiday", "name": blackouts[1].1})).await.assert_status(201);
    // The afternoons of the last two days are no longer produced.
    app.put_as(
        &f.admin,
        &paths::admin_schedule(afternoons),
        &json!({"valid_until": f.dates[7]}),
    )
    .await
    .assert_status(200);
    let withdrawn = app.slots_between(f.tour, &f.dates[8], &f.dates[9]).await;
    assert_eq!(
        withdrawn
            .iter()
            .filter(|s| s["start_time"] == "15:00:00" && s["is_cancelled"] == true)
            .count(),
        2,
        "{withdrawn:?}"
    );

    // The months of the departures, and one either side (nothing of
    // their own: their next date comes from the months after them).
    let months: std::collections::BTreeSet<NaiveDate> = [&f.dates[0], &f.dates[9]]
        .iter()
        .filter_map(|d| d.parse::<NaiveDate>().ok())
        .filter_map(|d| d.with_day(1))
        .flat_map(|d| {
            [
                d.checked_sub_months(chrono::Months::new(1)),
                Some(d),
                d.checked_add_months(chrono::Months::new(1)),
            ]
        })
        .flatten()
        .collect();
    let agree = |phase: &'static str| {
        let (app, months, blackouts) = (&app, &months, &blackouts);
        let edges = [&f.dates[0], &f.dates[9]];
        async move {
            let mut bookable_days = 0;
            let direct = without_cache(app);
            for &first in months {
                let last = first
                    .checked_add_months(chrono::Months::new(1))
                    .and_then(|d| d.pred_opt())
                    .expect("last");
                // The cache's answers (the app reads through it) are the
                // database's, for the month and for every day of it.
                let (y, m) = (first.year(), first.month());
                assert_eq!(
                    format!(
                        "{:?}",
                        app.ctx
                            .availability()
                            .monthly(f.tour, y, m)
                            .await
                            .expect("cached month")
                    ),
                    format!(
                        "{:?}",
                        direct
                            .availability()
                            .monthly(f.tour, y, m)
                            .await
                            .expect("month")
                    ),
                    "{phase}, {first}"
                );
                for date in first.iter_days().take_while(|d| *d <= last) {
                    for people in [1, 3] {
                        assert_eq!(
                            asked(&app.ctx, f.tour, date, people).await,
                            asked(&direct, f.tour, date, people).await,
                            "{phase}, {date}, {people}"
                        );
                    }
                }
                let listing = app
                    .slots_between(f.tour, &first.to_string(), &last.to_string())
                    .await;
                let mut days: std::collections::BTreeMap<String, Vec<&Value>> = Default::default();
                for s in listing.iter().filter(|s| s["is_cancelled"] == false) {
                    days.entry(s["slot_date"].as_str().expect("date").to_owned())
                        .or_default()
                        .push(s);
                }
                for (date, _) in blackouts.iter() {
                    let d: NaiveDate = date.parse().expect("date");
                    if first <= d && d <= last {
                        days.entry(date.clone()).or_default();
                    }
                }
                let mut expected = serde_json::Map::new();
                for (date, slots) in &days {
                    // Refused by the rule only for want of room still counts.
                    let decided: Vec<&&Value> = slots
                        .iter()
                        .filter(|s| s["bookable"] == true || s["unbookable_reason"] == "full")
                        .collect();
                    let spots = |s: &Value| s["available_spots"].as_i64().expect("spots");
                    let available: i64 = decided.iter().map(|s| spots(s).max(0)).sum();
                    let capacity: i64 = decided
                        .iter()
                        .map(|s| s["max_capacity"].as_i64().expect("capacity"))
                        .sum();
                    let min_price = decided
                        .iter()
                        .filter(|s| spots(s) > 0)
                        .filter_map(|s| s["price_per_person"].as_f64())
                        .reduce(f64::min);
                    let level = serde_json::to_value(tourdesk_domain::availability::level(
                        available, capacity,
                    ))
                    .expect("level");
                    let blackout = blackouts.iter().find(|(d, _)| d == date).map(|(_, n)| *n);
                    bookable_days += usize::from(available > 0);
                    expected.insert(
                        date.clone(),
                        json!({"available_spots": available, "num_time_slots": slots.len(),
                            "num_bookable_slots": decided.len(), "has_availability": available > 0,
                            "level": level, "min_price": min_price, "blackout": blackout}),
                    );
                }
                let later = app
                    .slots_between(
                        f.tour,
                        &first.to_string(),
                        &(first + Duration::days(100)).to_string(),
                    )
                    .await;
                let next = later
                    .iter()
                    .find(|s| s["bookable"] == true)
                    .map(|s| s["slot_date"].clone())
                    .unwrap_or(Value::Null);
                let r = month(app, f.tour, first).await;
                assert_eq!(
                    r.body["availability"],
                    Value::Object(expected),
                    "{phase}, {first}: {}",
                    r.text
                );
                assert_eq!(r.body["next_available_date"], next, "{phase}, {first}");
            }
            // The tour page and the tour list total the same rule in the
            // database: the cheapest and the first bookable departure from
            // now on, as the listing decides each.
            let now = app.clock.now().date_naive();
            let ahead = app
                .slots_between(
                    f.tour,
                    &(now - Duration::days(1)).to_string(),
                    &(now + Duration::days(100)).to_string(),
                )
                .await;
            let bookable = || ahead.iter().filter(|s| s["bookable"] == true);
            let next = bookable()
                .next()
                .map(|s| s["slot_date"].clone())
                .unwrap_or(Value::Null);
            let cheapest = bookable()
                .filter_map(|s| s["price_per_person"].as_f64())
                .reduce(f64::min)
                .map_or(Value::Null, |p| json!(p));
            // Off sale, the tour has no page, no place in the list and no
            // alternatives.
            let page = app.get(&paths::tour(f.tour)).await;
            let list = app.get(paths::TOURS).await;
            let listed = list
                .body
                .as_array()
                .and_then(|a| a.iter().find(|t| t["id"] == f.tour).cloned());
            let on_sale = page.status == 200;
            if on_sale {
                let listed = listed.expect("listed");
                for (what, tour) in [("page", &page.body), ("list", &listed)] {
                    assert_eq!(tour["next_available_date"], next, "{phase}, {what}: {tour}");
                    assert_eq!(tour["from_price"], cheapest, "{phase}, {what}: {tour}");
                }
            } else {
                page.assert_status(404);
                assert!(listed.is_none(), "{phase}: {}", list.text);
            }
            // Alternatives to a day without departures just before the
            // first and just after the last (the search is cut to the
            // window): the nearest bookable departures, as the listing
            // decides each.
            for (i, edge) in edges.into_iter().enumerate() {
                let d: NaiveDate = edge.parse().expect("date");
                let asked = if i == 0 {
                    d - Duration::days(3)
                } else {
                    d + Duration::days(3)
                };
                let mut near: Vec<&Value> = bookable()
                    .filter(|s| {
                        s["slot_date"]
                            .as_str()
                            .and_then(|x| x.parse::<NaiveDate>().ok())
                            .is_some_and(|x| (x - asked).num_days().abs() <= 14)
                    })
                    .collect();
                near.sort_by_key(|s| {
                    let x: NaiveDate = s["slot_date"]
                        .as_str()
                        .and_then(|x| x.parse().ok())
                        .expect("date");
                    ((x - asked).num_days().abs(), x, s["start_time"].to_string())
                });
                let expected: Vec<i64> = near
                    .iter()
                    .take(if on_sale { 6 } else { 0 })
                    .filter_map(|s| s["id"].as_i64())
                    .collect();
                let r = check(app, f.tour, &asked.to_string(), 1).await;
                assert_eq!(r["available"], false, "{phase}, {asked}: {r}");
                let offered: Vec<i64> = r["alternatives"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|s| s["slot_id"].as_i64()).collect())
                    .unwrap_or_default();
                assert_eq!(offered, expected, "{phase}, alternatives to {asked}: {r}");
            }
            bookable_days
        }
    };

    let starts = |slot: i64| {
        let app = &app;
        async move {
            app.slot(f.tour, slot).await["starts_at"]
                .as_str()
                .and_then(|s| s.parse::<DateTime<Utc>>().ok())
                .expect("starts_at")
        }
    };
    let reason = |slot: i64| {
        let app = &app;
        async move { app.slot(f.tour, slot).await["unbookable_reason"].clone() }
    };
    let (first_start, last_start) = (starts(f.slots[0]).await, starts(f.slots[9]).await);
    // Exactly at the first departure's cutoff: still bookable.
    app.clock.freeze(first_start - Duration::hours(24));
    assert_eq!(reason(f.slots[0]).await, Value::Null);
    assert!(agree("at the cutoff").await > 0);
    // A second later, inside it; every other reason is on show too.
    app.clock
        .freeze(first_start - Duration::hours(24) + Duration::seconds(1));
    let reasons: Vec<Value> = app
        .slots_between(f.tour, &day(3), &day(12))
        .await
        .iter()
        .map(|s| s["unbookable_reason"].clone())
        .collect();
    for r in [
        "cutoff_passed",
        "full",
        "cancelled",
        "blacked_out",
        "closed",
    ] {
        assert!(reasons.contains(&json!(r)), "{r}: {reasons:?}");
    }
    assert!(agree("inside the cutoff").await > 0);
    // Late: the ninth day's morning is cancelled and its afternoon
    // withdrawn (both with room), so the next date is the tenth (from the
    // months before, too).
    app.clock
        .freeze(starts(f.slots[8]).await - Duration::hours(25));
    assert!(agree("late").await > 0);
    let r = month(&app, f.tour, f.dates[0].parse().expect("date")).await;
    assert_eq!(r.body["next_available_date"], f.dates[9], "{}", r.text);
    // Exactly at the advance limit of the last departure, and a second
    // before bookings open for it.
    app.clock.freeze(last_start - Duration::days(90));
    assert_eq!(reason(f.slots[9]).await, Value::Null);
    assert!(agree("at the advance limit").await > 0);
    app.clock
        .freeze(last_start - Duration::days(90) - Duration::seconds(1));
    assert_eq!(reason(f.slots[9]).await, "too_far_ahead");
    assert!(agree("too far ahead").await > 0);
    // Weeks ahead, with the first day full: the next date is the second's,
    // from the month before too (read with that month, as it has none).
    app.clock.freeze(first_start - Duration::days(40));
    for (slot, people) in [(f.slots[0], 4), (afternoon(0), 6)] {
        app.book(f.tour, slot, people, 0, 0)
            .await
            .assert_status(201);
    }
    assert!(agree("weeks ahead").await > 0);
    let before = f.dates[0]
        .parse::<NaiveDate>()
        .ok()
        .and_then(|d| d.with_day(1))
        .and_then(|d| d.checked_sub_months(chrono::Months::new(1)))
        .expect("the month before");
    let r = month(&app, f.tour, before).await;
    assert_eq!(r.body["next_available_date"], f.dates[1], "{}", r.text);
    app.clock.freeze(Utc::now());
    // Off sale: nothing is bookable, nothing is next.
    app.put_as(
        &f.admin,
        &format!("/api/calendar/admin/tours/{}", f.tour),
        &json!({"is_active": false}),
    )
    .await
    .assert_status(200);
    assert_eq!(agree("off sale").await, 0);
}

/// #19: the month view and the availability check answer from the
/// calendar cache while nothing changes, and never from it once anything
/// was committed: a booking taken by another instance on the same
/// database, or a departure closed there, shows in this instance's next
/// read; a cutoff passing (no write at all) shows too.
async fn the_calendar_cache_never_serves_a_stale_number(app: TestApp) {
    let f = app.fixture(4).await;
    let other = TestApp::spawn_on(app.backend, &app.database.url, |_| {}).await;
    // Runs `$read` (reads with their assertions) until at least one of
    // them was answered from the cache. On PostgreSQL the token is the
    // server's snapshot, which other tests' commits on other databases
    // move too (a needless refill, never a stale hit), so one attempt may
    // refill instead; every attempt's answers are checked all the same.
    macro_rules! served_from_cache {
        ($read:expr) => {{
            let mut hit = false;
            for _ in 0..200 {
                let hits = other.ctx.availability().cache_stats().hits;
                $read;
                if other.ctx.availability().cache_stats().hits > hits {
                    hit = true;
                    break;
                }
            }
            assert!(hit, "never answered from the cache");
        }};
    }
    let date: NaiveDate = f.dates[0].parse().expect("date");
    let spots = |m: &Value| m["availability"][date.to_string()]["available_spots"].clone();
    let fills = other.ctx.availability().cache_stats().fills;
    served_from_cache!({
        assert_eq!(spots(&month(&other, f.tour, date).await.body), json!(4));
        assert_eq!(
            check(&other, f.tour, &f.dates[0], 4).await["available"],
            true
        );
    });
    assert!(other.ctx.availability().cache_stats().fills > fills);

    // A booking through the first instance: the second sees it at once.
    app.book(f.tour, f.slots[0], 3, 0, 0)
        .await
        .assert_status(201);
    assert_eq!(spots(&month(&other, f.tour, date).await.body), json!(1));
    let r = check(&other, f.tour, &f.dates[0], 4).await;
    assert_eq!(r["available"], false, "{r}");
    assert_eq!(r["reason_code"], "fully_booked", "{r}");
    assert_eq!(
        check(&other, f.tour, &f.dates[0], 1).await["slots"][0]["available_spots"],
        1
    );
    // Cached again, then the departure closed there.
    served_from_cache!(assert_eq!(
        spots(&month(&other, f.tour, date).await.body),
        json!(1)
    ));
    let admin = app.admin().await;
    app.patch_as(
        &admin,
        &format!("/api/calendar/admin/slots/{}", f.slots[0]),
        &json!({"is_available": false}),
    )
    .await
    .assert_status(200);
    let m = month(&other, f.tour, date).await;
    assert_eq!(spots(&m.body), json!(0), "{}", m.text);
    assert_eq!(
        m.body["availability"][date.to_string()]["num_bookable_slots"],
        0
    );
    let r = check(&other, f.tour, &f.dates[0], 1).await;
    assert_eq!(r["reason_code"], "no_slots", "{r}");

    // Time alone: the next departure's cutoff passes between reads with
    // nothing written in between; the reads from the cache know.
    let next: NaiveDate = f.dates[1].parse().expect("date");
    let starts = app.slot(f.tour, f.slots[1]).await["starts_at"]
        .as_str()
        .and_then(|s| s.parse::<DateTime<Utc>>().ok())
        .expect("starts_at");
    let cutoff = starts - Duration::hours(24);
    other.clock.freeze(cutoff);
    let at = |m: &Value| m["availability"][next.to_string()]["num_bookable_slots"].clone();
    served_from_cache!({
        assert_eq!(at(&month(&other, f.tour, next).await.body), json!(1));
        assert_eq!(
            check(&other, f.tour, &f.dates[1], 1).await["available"],
            true
        );
    });
    other.clock.freeze(cutoff + Duration::seconds(1));
    served_from_cache!({
        assert_eq!(at(&month(&other, f.tour, next).await.body), json!(0));
        let r = check(&other, f.tour, &f.dates[1], 1).await;
        assert_eq!(r["reason_code"], "too_soon", "{r}");
    });
}

/// #19, forced interleaving: a write transaction is open (its change not
/// yet visible) while another instance reads the month into its cache;
/// the write commits; the next read shows it. The token taken before the
/// fill names the write as still running, so it never matches a token
/// taken after the commit.
async fn a_month_read_while_a_write_is_in_flight_is_not_kept_past_its_commit(app: TestApp) {
    let f = app.fixture(4).await;
    let other = TestApp::spawn_on(app.backend, &app.database.url, |_| {}).await;
    let date: NaiveDate = f.dates[0].parse().expect("date");
    let spots = |m: &Value| m["availability"][date.to_string()]["available_spots"].clone();
    let mut tx = app.ctx.db.begin().await.expect("begin");
    let sql = "UPDATE booking_slots SET max_capacity = max_capacity + 5 WHERE id = $1";
    tourdesk_store::on!(tx, c => sqlx::query(sql).bind(f.slots[0]).execute(&mut *c).await.map(|_| ()))
        .expect("update");
    // Read (and cached) while the write is in flight: not yet visible.
    let fills = other.ctx.availability().cache_stats().fills;
    assert_eq!(spots(&month(&other, f.tour, date).await.body), json!(4));
    assert_eq!(spots(&month(&other, f.tour, date).await.body), json!(4));
    assert!(other.ctx.availability().cache_stats().fills > fills);
    tx.commit().await.expect("commit");
    assert_eq!(spots(&month(&other, f.tour, date).await.body), json!(9));
    let r = check(&other, f.tour, &f.dates[0], 9).await;
    assert_eq!(r["available"], true, "{r}");
}

/// The availability check's whole answer, to compare.
async fn asked(ctx: &Context, tour: i64, date: NaiveDate, people: i64) -> String {
    let a = ctx
        .availability()
        .check_with_alternatives(tour, date, people, None)
        .await
        .expect("check");
    format!("{a:?}")
}

/// The application's context with the calendar cache off: answers read
/// directly from the database, to hold the cache's answers against.
fn without_cache(app: &TestApp) -> Context {
    let mut settings: Settings = (*app.ctx.settings).clone();
    settings.calendar_cache = CalendarCacheSettings {
        departures: 0,
        ..settings.calendar_cache
    };
    Context::new(app.ctx.db.clone(), settings).with_clock(app.clock.clone())
}
