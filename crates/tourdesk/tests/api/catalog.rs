//! Tours, schedules, slot generation, blackouts and slot administration.

use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{TestApp, day, paths};

both_backends!(
    tours_are_created_read_updated_and_listed,
    tour_input_is_validated,
    admin_routes_need_an_admin,
    schedules_take_the_spec_body_and_validate_it,
    generation_creates_priced_slots_and_is_idempotent,
    generation_respects_validity_blackouts_and_limits,
    dst_edges_place_slots_by_the_rules,
    blackouts_cancel_free_slots_and_removal_reopens_them,
    slots_can_be_patched_by_admins,
    deactivating_a_schedule_cancels_its_free_future_slots,
    preview_lists_dates_without_writing,
    a_new_schedule_is_bookable_at_once_up_to_the_horizon,
);

/// #17 item 19: creating a schedule creates its departures from the tour's
/// today to the booking horizon in the same transaction; `dry_run=true`
/// previews exactly that and keeps nothing; `generate=false` keeps the
/// manual flow; blackouts and `valid_until` are respected.
async fn a_new_schedule_is_bookable_at_once_up_to_the_horizon(app: TestApp) {
    let admin = app.admin().await;
    let tour = app.tour(&admin, json!({})).await;
    let horizon = i64::from(tourdesk_service::Settings::default().booking_advance_days);
    let body = json!({
        "tour_id": tour, "name": "Daily", "start_time": "09:00:00", "duration_minutes": 120,
        "recurrence": "daily", "max_capacity": 10, "valid_from": day(-30)
    });
    let slots_of = |from: String, to: String| {
        let app = &app;
        async move {
            app.get(&format!(
                "/api/calendar/tours/{tour}/slots?start_date={from}&end_date={to}"
            ))
            .await
            .body
            .as_array()
            .cloned()
            .unwrap_or_default()
        }
    };
    // The preview: the departures creating would make, nothing kept.
    let preview = app
        .post_as(&admin, "/api/calendar/admin/schedules?dry_run=true", &body)
        .await;
    preview.assert_status(200);
    assert_eq!(preview.body["dry_run"], true);
    let d = &preview.body["departures"];
    let from = d["from"].as_str().expect("from").to_owned();
    assert!(
        from == day(0) || from == day(1),
        "from the tour's today (Jerusalem may be a day ahead of UTC): {from}"
    );
    let from_date: chrono::NaiveDate = from.parse().expect("date");
    let until = (from_date + chrono::Duration::days(horizon)).to_string();
    assert_eq!(d["until"], until, "to the booking horizon");
    assert_eq!(d["created"], horizon + 1, "{}", preview.text);
    assert_eq!(d["slots"][0]["slot_date"], from);
    assert!(
        slots_of(day(-1), day(horizon + 2)).await.is_empty(),
        "nothing kept"
    );
    let list = app
        .get_as(
            &admin,
            &format!("/api/calendar/admin/schedules?tour_id={tour}"),
        )
        .await;
    assert_eq!(list.body, json!([]), "no schedule kept");

    // Created: the same departures, stored and bookable.
    let r = app.post_as(&admin, paths::ADMIN_SCHEDULES, &body).await;
    r.assert_status(201);
    assert_eq!(r.body["dry_run"], false);
    assert_eq!(r.body["departures"]["created"], horizon + 1);
    let stored = slots_of(day(-1), day(horizon + 2)).await;
    assert_eq!(stored.len() as i64, horizon + 1);
    assert_eq!(stored[0]["slot_date"], from);
    assert_eq!(stored[stored.len() - 1]["slot_date"], until);
    // Bookable at once: all but the first days (the cutoff) and the last
    // (whose start may lie just past now + the window).
    let middle = &stored[3..stored.len() - 1];
    assert!(
        middle.iter().all(|s| s["bookable"] == true),
        "bookable at once: {:?}",
        middle.iter().find(|s| s["bookable"] != true)
    );
    let sid = r.body["id"].as_i64().expect("id");
    app.book(tour, stored[5]["id"].as_i64().expect("slot"), 2, 0, 0)
        .await
        .assert_status(201);

    // valid_until and blackouts bound it.
    let other = app.tour(&admin, json!({"name": "Bounded"})).await;
    app.post_as(
        &admin,
        paths::ADMIN_BLACKOUTS,
        &json!({"tour_id": other, "start_date": day(10), "end_date": day(10),
                "blackout_type": "maintenance", "name": "Bus service"}),
    )
    .await
    .assert_status(201);
    let r = app
        .post_as(
            &admin,
            paths::ADMIN_SCHEDULES,
            &json!({"tour_id": other, "name": "Short run", "start_time": "10:00:00", "duration_minutes": 60,
                    "recurrence": "daily", "max_capacity": 5, "valid_from": day(5), "valid_until": day(20)}),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.body["departures"]["from"], day(5));
    assert_eq!(r.body["departures"]["until"], day(20));
    assert_eq!(r.body["departures"]["created"], 15, "{}", r.text);
    assert_eq!(r.body["departures"]["skipped_blackout"], 1);

    // generate=false: the schedule alone; "generate" still works.
    let third = app.tour(&admin, json!({"name": "Manual"})).await;
    let r = app
        .post_as(
            &admin,
            "/api/calendar/admin/schedules?generate=false",
            &json!({"tour_id": third, "name": "Later", "start_time": "10:00:00", "duration_minutes": 60,
                    "recurrence": "daily", "max_capacity": 5, "valid_from": day(5)}),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.body["departures"], Value::Null);
    let manual = r.body["id"].as_i64().expect("id");
    let g = app.generate(&admin, manual, &day(5), &day(6)).await;
    g.assert_status(200);
    assert_eq!(g.body["created"], 2);
    // Generating again over the created range adds nothing.
    let again = app.generate(&admin, sid, &from, &until).await;
    again.assert_status(200);
    assert_eq!(again.body["created"], 0, "{}", again.text);
    app.assert_consistent().await;
}

async fn tours_are_created_read_updated_and_listed(app: TestApp) {
    let admin = app.admin().await;
    let r = app
        .post_as(
            &admin,
            paths::ADMIN_TOURS,
            &json!({
                "name": "Dead Sea Float", "duration_minutes": 90, "base_price": 120.5,
                "description": "Salt and sun"
            }),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.body["currency"], "USD");
    assert_eq!(r.body["timezone"], "Asia/Jerusalem");
    assert_eq!(r.body["duration_hours"], 1.5);
    assert_eq!(r.body["is_active"], true);
    assert!(
        r.text.contains("\"base_price\":120.50"),
        "two decimals: {}",
        r.text
    );
    let id = r.body["id"].as_i64().expect("id");

    let r = app.get(&paths::tour(id)).await;
    r.assert_status(200);
    assert_eq!(r.body["name"], "Dead Sea Float");

    let r = app
        .put_as(
            &admin,
            &paths::admin_tour(id),
            &json!({"base_price": "99.90", "currency": "ils", "timezone": "America/New_York"}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["currency"], "ILS");
    assert_eq!(r.body["timezone"], "America/New_York");
    assert_eq!(r.body["name"], "Dead Sea Float", "untouched fields stay");
    assert!(r.text.contains("\"base_price\":99.90"));

    let other = app
        .tour(&admin, json!({"name": "Galilee", "is_active": false}))
        .await;
    let public = app.get(paths::TOURS).await;
    public.assert_status(200);
    let names: Vec<&str> = public
        .body
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, vec!["Dead Sea Float"]);
    app.get(&paths::tour(other))
        .await
        .assert_error(404, "not_found");
    let all = app.get_as(&admin, paths::ADMIN_TOURS).await;
    assert_eq!(all.body.as_array().map(Vec::len), Some(2));
    app.get_as(&admin, &paths::admin_tour(other))
        .await
        .assert_status(200);
    app.get("/api/calendar/tours/999999")
        .await
        .assert_error(404, "not_found");
    app.get("/api/calendar/tours/abc")
        .await
        .assert_error(422, "validation_error");
}

async fn tour_input_is_validated(app: TestApp) {
    let admin = app.admin().await;
    let cases = [
        (json!({"duration_minutes": 60, "base_price": 10}), "name"),
        (json!({"name": "X", "base_price": 10}), "duration_minutes"),
        (
            json!({"name": "X", "duration_minutes": 0, "base_price": 10}),
            "duration_minutes",
        ),
        (json!({"name": "X", "duration_minutes": 60}), "base_price"),
        (
            json!({"name": "X", "duration_minutes": 60, "base_price": -1}),
            "base_price",
        ),
        (
            json!({"name": "X", "duration_minutes": 60, "base_price": 10.005}),
            "base_price",
        ),
        (
            json!({"name": "X", "duration_minutes": 60, "base_price": "ten"}),
            "base_price",
        ),
        (
            json!({"name": "X", "duration_minutes": 60, "base_price": 10, "currency": "DOLLARS"}),
            "currency",
        ),
        (
            json!({"name": "X", "duration_minutes": 60, "base_price": 10, "timezone": "Mars/Base"}),
            "timezone",
        ),
    ];
    for (body, field) in cases {
        let r = app.post_as(&admin, paths::ADMIN_TOURS, &body).await;
        r.assert_error(422, "validation_error");
        assert_eq!(r.body["field"], field, "{body}: {}", r.text);
    }
    let r = app
        .post_as(
            &admin,
            paths::ADMIN_TOURS,
            &json!({"name": "X", "duration_minutes": 60, "base_price": 1, "colour": "red"}),
        )
        .await;
    r.assert_status(422);
    assert!(r.text.contains("colour"), "{}", r.text);
    assert_eq!(
        app.get_as(&admin, paths::ADMIN_TOURS)
            .await
            .body
            .as_array()
            .map(Vec::len),
        Some(0)
    );
}

async fn admin_routes_need_an_admin(app: TestApp) {
    let admin = app.admin().await;
    let customer = app.customer("c@example.com").await;
    let tour = app.tour(&admin, json!({})).await;
    let schedule = app.schedule(&admin, tour, "2027-01-01", json!({})).await;
    let routes: Vec<(reqwest::Method, String, Option<Value>)> = vec![
        (
            reqwest::Method::POST,
            paths::ADMIN_TOURS.into(),
            Some(json!({"name": "X", "duration_minutes": 60, "base_price": 1})),
        ),
        (reqwest::Method::GET, paths::ADMIN_TOURS.into(), None),
        (
            reqwest::Method::PUT,
            paths::admin_tour(tour),
            Some(json!({"name": "Y"})),
        ),
        (
            reqwest::Method::POST,
            paths::ADMIN_SCHEDULES.into(),
            Some(json!({})),
        ),
        (reqwest::Method::GET, paths::ADMIN_SCHEDULES.into(), None),
        (
            reqwest::Method::DELETE,
            paths::admin_schedule(schedule),
            None,
        ),
        (
            reqwest::Method::POST,
            format!(
                "/api/calendar/admin/schedules/{schedule}/generate-slots?start_date=2027-01-01&end_date=2027-01-02"
            ),
            None,
        ),
        (
            reqwest::Method::POST,
            paths::ADMIN_BLACKOUTS.into(),
            Some(json!({})),
        ),
        (reqwest::Method::GET, paths::ADMIN_BLACKOUTS.into(), None),
        (
            reqwest::Method::PATCH,
            "/api/calendar/admin/slots/1".into(),
            Some(json!({})),
        ),
        (
            reqwest::Method::GET,
            "/api/calendar/admin/slots?start_date=2027-01-01&end_date=2027-01-02".into(),
            None,
        ),
    ];
    for (method, path, body) in routes {
        app.send(method.clone(), &path, body.as_ref(), &[])
            .await
            .assert_error(401, "unauthorized");
        app.send_as(&customer, method.clone(), &path, body.as_ref())
            .await
            .assert_error(403, "forbidden");
    }
    // Nothing changed.
    let r = app.get_as(&admin, &paths::admin_schedule(schedule)).await;
    assert_eq!(r.body["is_active"], true);
}

async fn schedules_take_the_spec_body_and_validate_it(app: TestApp) {
    let admin = app.admin().await;
    let tour = app.tour(&admin, json!({})).await;
    let spec_body = json!({
        "tour_id": tour, "name": "Summer Morning Tours", "start_time": "09:00:00", "duration_minutes": 180,
        "recurrence": "weekly", "monday": false, "tuesday": true, "wednesday": true, "thursday": true,
        "friday": false, "saturday": true, "sunday": true, "max_capacity": 15, "min_capacity": 4,
        "valid_from": "2027-06-01", "valid_until": "2027-09-30", "price_override": 85.00
    });
    let r = app
        .post_as(&admin, paths::ADMIN_SCHEDULES, &spec_body)
        .await;
    r.assert_status(201);
    for key in [
        "name",
        "start_time",
        "recurrence",
        "tuesday",
        "max_capacity",
        "min_capacity",
        "valid_from",
        "valid_until",
    ] {
        assert_eq!(r.body[key], spec_body[key], "{key}");
    }
    assert!(r.text.contains("\"price_override\":85.00"));
    let id = r.body["id"].as_i64().expect("id");

    let with = |patch: Value| {
        let mut b = spec_body.clone();
        if let (Some(b), Some(p)) = (b.as_object_mut(), patch.as_object()) {
            for (k, v) in p {
                b.insert(k.clone(), v.clone());
            }
        }
        b
    };
    let none_days = json!({"monday": false, "tuesday": false, "wednesday": false, "thursday": false,
                           "friday": false, "saturday": false, "sunday": false});
    let cases = [
        (with(json!({"valid_until": "2027-05-01"})), "valid_until"),
        (with(none_days.clone()), "monday"),
        (
            with({
                let mut d = none_days.clone();
                d["recurrence"] = json!("biweekly");
                d
            }),
            "monday",
        ),
        (with(json!({"min_capacity": 20})), "min_capacity"),
        (with(json!({"max_capacity": 0})), "max_capacity"),
        (with(json!({"max_capacity": 100000})), "max_capacity"),
        (with(json!({"recurrence": "fortnightly"})), "recurrence"),
        (
            with(json!({"recurrence": "custom", "rrule": "FREQ=SOMETIMES"})),
            "rrule",
        ),
        (with(json!({"recurrence": "custom"})), "rrule"),
        (with(json!({"price_override": -5})), "price_override"),
        (with(json!({"tour_id": 999999})), "tour_id"),
        (with(json!({"start_time": "25:00:00"})), "start_time"),
        (with(json!({"valid_from": "2027-02-30"})), "valid_from"),
    ];
    for (body, field) in cases {
        let r = app.post_as(&admin, paths::ADMIN_SCHEDULES, &body).await;
        r.assert_status(422);
        assert!(
            r.body["field"] == field || r.text.contains(field),
            "{field}: {}",
            r.text
        );
    }
    // Custom RRULE schedules are accepted.
    let r = app
        .post_as(
            &admin,
            paths::ADMIN_SCHEDULES,
            &with(json!({"recurrence": "custom", "rrule": "FREQ=WEEKLY;INTERVAL=3;BYDAY=MO,FR"})),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.body["rrule"], "FREQ=WEEKLY;INTERVAL=3;BYDAY=MO,FR");

    // PUT changes only what it names; null clears an optional field.
    let r = app
        .put_as(
            &admin,
            &paths::admin_schedule(id),
            &json!({"max_capacity": 20, "price_override": null}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["max_capacity"], 20);
    assert_eq!(r.body["price_override"], Value::Null);
    assert_eq!(r.body["min_capacity"], 4);
    let list = app
        .get_as(
            &admin,
            &format!("/api/calendar/admin/schedules?tour_id={tour}"),
        )
        .await;
    assert_eq!(list.body.as_array().map(Vec::len), Some(2));
}

async fn generation_creates_priced_slots_and_is_idempotent(app: TestApp) {
    let admin = app.admin().await;
    let tour = app.tour(&admin, json!({"base_price": 75})).await;
    let weekly = app.schedule(&admin, tour, "2027-06-01", json!({
        "recurrence": "weekly", "tuesday": true, "saturday": true, "price_override": 85, "max_capacity": 12,
        "start_time": "22:30:00", "duration_minutes": 120
    })).await;
    let r = app
        .generate(&admin, weekly, "2027-06-01", "2027-06-14")
        .await;
    r.assert_status(200);
    assert_eq!(r.body["created"], 4);
    assert_eq!(r.body["skipped_existing"], 0);
    let slots = r.body["slots"].as_array().expect("slots");
    let dates: Vec<&str> = slots
        .iter()
        .filter_map(|s| s["slot_date"].as_str())
        .collect();
    assert_eq!(
        dates,
        vec!["2027-06-01", "2027-06-05", "2027-06-08", "2027-06-12"]
    );
    let first = &slots[0];
    assert_eq!(first["start_time"], "22:30:00");
    assert_eq!(
        first["end_time"], "00:30:00",
        "a slot may end after midnight"
    );
    assert_eq!(first["max_capacity"], 12);
    assert_eq!(first["available_spots"], 12);
    assert_eq!(first["current_bookings"], 0);
    assert_eq!(first["schedule_id"], weekly);
    assert_eq!(
        first["starts_at"], "2027-06-01T19:30:00Z",
        "Jerusalem is UTC+3 in summer"
    );
    assert!(r.text.contains("\"price_per_person\":85.00"));

    let again = app
        .generate(&admin, weekly, "2027-06-01", "2027-06-21")
        .await;
    again.assert_status(200);
    assert_eq!(again.body["created"], 2);
    assert_eq!(again.body["skipped_existing"], 4);

    // Without an override the tour's price applies.
    let daily = app.schedule(&admin, tour, "2027-06-01", json!({})).await;
    let r = app
        .generate(&admin, daily, "2027-06-01", "2027-06-01")
        .await;
    assert!(r.text.contains("\"price_per_person\":75.00"), "{}", r.text);
}

async fn generation_respects_validity_blackouts_and_limits(app: TestApp) {
    let admin = app.admin().await;
    let tour = app.tour(&admin, json!({})).await;
    let other_tour = app.tour(&admin, json!({"name": "Other"})).await;
    let sched = app
        .schedule(
            &admin,
            tour,
            "2027-03-10",
            json!({"valid_until": "2027-03-20"}),
        )
        .await;
    // A tour blackout, a global one, and another tour's (which must not apply).
    for body in [
        json!({"tour_id": tour, "start_date": "2027-03-12", "end_date": "2027-03-13", "blackout_type": "maintenance", "name": "Bus service"}),
        json!({"start_date": "2027-03-15", "end_date": "2027-03-15", "blackout_type": "holiday", "name": "Festival"}),
        json!({"tour_id": other_tour, "start_date": "2027-03-16", "end_date": "2027-03-16", "blackout_type": "weather", "name": "Storm"}),
    ] {
        app.post_as(&admin, paths::ADMIN_BLACKOUTS, &body)
            .await
            .assert_status(201);
    }
    let r = app
        .generate(&admin, sched, "2027-03-01", "2027-03-31")
        .await;
    r.assert_status(200);
    assert_eq!(r.body["created"], 8, "{}", r.text); // 10..=20 is 11 days, minus 3 blacked out
    assert_eq!(r.body["skipped_blackout"], 3);
    let dates: Vec<&str> = r.body["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .filter_map(|s| s["slot_date"].as_str())
        .collect();
    assert_eq!(dates.first(), Some(&"2027-03-10"));
    assert_eq!(dates.last(), Some(&"2027-03-20"));
    assert!(!dates.contains(&"2027-03-12") && !dates.contains(&"2027-03-15"));
    assert!(dates.contains(&"2027-03-16"));

    app.generate(&admin, sched, "2027-01-01", "2030-01-02")
        .await
        .assert_error(422, "validation_error");
    app.generate(&admin, sched, "2027-03-10", "2027-03-01")
        .await
        .assert_error(422, "validation_error");
    app.generate(&admin, sched, "2027-03-10", "bad")
        .await
        .assert_error(422, "validation_error");
    app.generate(&admin, 99999, "2027-03-10", "2027-03-11")
        .await
        .assert_error(404, "not_found");
    app.delete_as(&admin, &paths::admin_schedule(sched), None)
        .await
        .assert_status(200);
    app.generate(&admin, sched, "2027-03-01", "2027-03-31")
        .await
        .assert_error(409, "schedule_inactive");
}

async fn dst_edges_place_slots_by_the_rules(app: TestApp) {
    let admin = app.admin().await;
    let ny = app
        .tour(&admin, json!({"timezone": "America/New_York"}))
        .await;
    let spring = app
        .schedule(
            &admin,
            ny,
            "2026-03-07",
            json!({"start_time": "02:30:00", "duration_minutes": 60}),
        )
        .await;
    let r = app
        .generate(&admin, spring, "2026-03-07", "2026-03-09")
        .await;
    let slots = r.body["slots"].as_array().expect("slots").clone();
    assert_eq!(slots.len(), 3);
    assert_eq!(slots[0]["start_time"], "02:30:00");
    assert_eq!(slots[0]["starts_at"], "2026-03-07T07:30:00Z");
    // 2026-03-08 02:30 does not exist in New York: it moves forward by the gap.
    assert_eq!(slots[1]["slot_date"], "2026-03-08");
    assert_eq!(slots[1]["start_time"], "03:30:00");
    assert_eq!(slots[1]["starts_at"], "2026-03-08T07:30:00Z");
    assert_eq!(slots[2]["starts_at"], "2026-03-09T06:30:00Z");
    // Regenerating finds them all.
    assert_eq!(
        app.generate(&admin, spring, "2026-03-07", "2026-03-09")
            .await
            .body["skipped_existing"],
        3
    );

    let fall = app
        .schedule(
            &admin,
            ny,
            "2026-11-01",
            json!({"start_time": "01:30:00", "duration_minutes": 60}),
        )
        .await;
    let r = app.generate(&admin, fall, "2026-11-01", "2026-11-01").await;
    let slot = &r.body["slots"][0];
    assert_eq!(slot["start_time"], "01:30:00");
    assert_eq!(
        slot["starts_at"], "2026-11-01T05:30:00Z",
        "the first 01:30 (EDT)"
    );
    assert_eq!(
        slot["end_time"], "01:30:00",
        "an hour later it is 01:30 again (EST)"
    );

    let jerusalem = app.tour(&admin, json!({})).await;
    let s = app
        .schedule(
            &admin,
            jerusalem,
            "2026-03-27",
            json!({"start_time": "02:30:00"}),
        )
        .await;
    let r = app.generate(&admin, s, "2026-03-27", "2026-03-27").await;
    assert_eq!(r.body["slots"][0]["start_time"], "03:30:00");
}

async fn blackouts_cancel_free_slots_and_removal_reopens_them(app: TestApp) {
    let admin = app.admin().await;
    let tour = app.tour(&admin, json!({})).await;
    let sched = app.schedule(&admin, tour, "2027-04-01", json!({})).await;
    app.generate(&admin, sched, "2027-04-01", "2027-04-10")
        .await
        .assert_status(200);
    let body = json!({"tour_id": tour, "start_date": "2027-04-03", "end_date": "2027-04-05",
                      "blackout_type": "holiday", "name": "Passover", "description": "Closed"});
    let preview = app
        .post_as(&admin, "/api/calendar/admin/blackouts?dry_run=true", &body)
        .await;
    preview.assert_status(200);
    assert_eq!(preview.body["cancelled_slots"], 3);
    assert_eq!(preview.body["conflicts"], json!([]));
    assert!(preview.body.get("blackout").is_none());
    let listed = app
        .get_as(
            &admin,
            &format!("/api/calendar/admin/blackouts?tour_id={tour}"),
        )
        .await;
    assert_eq!(listed.body, json!([]), "a dry run writes nothing");

    let r = app.post_as(&admin, paths::ADMIN_BLACKOUTS, &body).await;
    r.assert_status(201);
    assert_eq!(r.body["cancelled_slots"], 3);
    assert_eq!(r.body["blackout"]["name"], "Passover");
    let id = r.body["blackout"]["id"].as_i64().expect("id");
    let slots = app
        .get_as(
            &admin,
            "/api/calendar/admin/slots?start_date=2027-04-01&end_date=2027-04-10",
        )
        .await;
    let cancelled: Vec<&Value> = slots
        .body
        .as_array()
        .expect("slots")
        .iter()
        .filter(|s| s["is_cancelled"] == true)
        .collect();
    assert_eq!(cancelled.len(), 3);
    assert!(
        cancelled
            .iter()
            .all(|s| s["cancellation_reason"] == "Passover")
    );

    // An overlapping global blackout keeps 04-05 closed after the first is removed.
    app.post_as(&admin, paths::ADMIN_BLACKOUTS, &json!({"start_date": "2027-04-05", "end_date": "2027-04-06", "blackout_type": "weather", "name": "Storm"})).await.assert_status(201);
    let r = app
        .delete_as(&admin, &paths::admin_blackout(id), None)
        .await;
    r.assert_status(200);
    assert_eq!(r.body["reopened_slots"], 2);
    app.delete_as(&admin, &paths::admin_blackout(id), None)
        .await
        .assert_error(404, "not_found");
    let listed = app
        .get_as(
            &admin,
            &format!("/api/calendar/admin/blackouts?tour_id={tour}"),
        )
        .await;
    assert_eq!(
        listed.body.as_array().map(Vec::len),
        Some(1),
        "only the global one is active"
    );

    let bad = [
        (
            json!({"start_date": "2027-04-05", "end_date": "2027-04-01", "blackout_type": "holiday", "name": "X"}),
            "end_date",
        ),
        (
            json!({"start_date": "2027-04-05", "end_date": "2027-04-06", "blackout_type": "party", "name": "X"}),
            "blackout_type",
        ),
        (
            json!({"start_date": "2027-04-05", "end_date": "2027-04-06", "blackout_type": "holiday", "name": " "}),
            "name",
        ),
        (
            json!({"tour_id": 99999, "start_date": "2027-04-05", "end_date": "2027-04-06", "blackout_type": "holiday", "name": "X"}),
            "tour_id",
        ),
    ];
    for (body, field) in bad {
        let r = app.post_as(&admin, paths::ADMIN_BLACKOUTS, &body).await;
        r.assert_error(422, "validation_error");
        assert_eq!(r.body["field"], field);
    }
}

async fn slots_can_be_patched_by_admins(app: TestApp) {
    let admin = app.admin().await;
    let tour = app.tour(&admin, json!({})).await;
    let sched = app.schedule(&admin, tour, "2027-05-01", json!({})).await;
    let r = app
        .generate(&admin, sched, "2027-05-01", "2027-05-01")
        .await;
    let slot = r.body["slots"][0]["id"].as_i64().expect("slot");
    let r = app
        .patch_as(
            &admin,
            &paths::admin_slot(slot),
            &json!({"max_capacity": 20, "price_per_person": "80.25", "is_available": false}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["max_capacity"], 20);
    assert_eq!(r.body["available_spots"], 20);
    assert_eq!(r.body["is_available"], false);
    assert_eq!(r.body["level"], "none", "a closed slot offers nothing");
    assert!(r.text.contains("\"price_per_person\":80.25"));
    app.patch_as(
        &admin,
        &paths::admin_slot(slot),
        &json!({"max_capacity": 0}),
    )
    .await
    .assert_error(422, "validation_error");
    app.patch_as(
        &admin,
        &paths::admin_slot(slot),
        &json!({"price_per_person": -1}),
    )
    .await
    .assert_error(422, "validation_error");
    app.patch_as(
        &admin,
        "/api/calendar/admin/slots/999999",
        &json!({"max_capacity": 3}),
    )
    .await
    .assert_error(404, "not_found");
}

async fn deactivating_a_schedule_cancels_its_free_future_slots(app: TestApp) {
    let admin = app.admin().await;
    let tour = app.tour(&admin, json!({})).await;
    let sched = app.schedule(&admin, tour, "2027-07-01", json!({})).await;
    app.generate(&admin, sched, "2027-07-01", "2027-07-05")
        .await;
    let r = app
        .delete_as(&admin, &paths::admin_schedule(sched), None)
        .await;
    r.assert_status(200);
    assert_eq!(r.body["cancelled_slots"], 5);
    assert_eq!(r.body["schedule"]["is_active"], false);
}

async fn preview_lists_dates_without_writing(app: TestApp) {
    let admin = app.admin().await;
    let tour = app.tour(&admin, json!({})).await;
    let sched = app
        .schedule(
            &admin,
            tour,
            "2027-08-01",
            json!({"recurrence": "custom", "rrule": "FREQ=WEEKLY;BYDAY=SU"}),
        )
        .await;
    let r = app.get_as(&admin, &format!("/api/calendar/admin/schedules/{sched}/preview?start_date=2027-08-01&end_date=2027-08-31")).await;
    r.assert_status(200);
    let dates: Vec<&str> = r
        .body
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|p| p["slot_date"].as_str())
        .collect();
    assert_eq!(
        dates,
        vec![
            "2027-08-01",
            "2027-08-08",
            "2027-08-15",
            "2027-08-22",
            "2027-08-29"
        ]
    );
    let slots = app
        .get_as(
            &admin,
            "/api/calendar/admin/slots?start_date=2027-08-01&end_date=2027-08-31",
        )
        .await;
    assert_eq!(slots.body, json!([]));
}
