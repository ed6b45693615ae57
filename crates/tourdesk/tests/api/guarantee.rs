//! Issue #18, guaranteed departures, over HTTP on both engines: a
//! departure below its schedule's minimum is "not yet guaranteed" until it
//! has the people (then guaranteed at once, its customers told); at its
//! decision deadline the job cancels it with full refunds
//! (`minimum_not_reached`, customers told with alternatives), exactly once
//! however many instances decide; an admin can guarantee one or extend its
//! deadline; a late decision says so; bad input is 422 naming the field.

use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{TestApp, day, paths};

both_backends!(
    a_departure_is_guaranteed_once_its_minimum_is_booked,
    below_its_minimum_at_the_deadline_it_is_cancelled_with_full_refunds_exactly_once,
    a_decision_made_late_says_so_in_the_audit,
    a_departure_decided_only_after_it_started_is_not_called_off,
    a_move_or_a_larger_party_can_reach_the_minimum,
    an_admin_guarantees_a_departure_at_risk_or_extends_its_deadline,
    a_schedule_edit_moves_the_minimum_and_the_deadline,
    bad_minimum_input_is_refused_naming_the_field,
);

/// A tour (Asia/Jerusalem unless `tour_fields` says) with a daily 09:00
/// schedule of capacity 10 and `schedule_fields`, departures on days
/// +8..+10; returns (admin, tour, schedule, slot ids).
async fn minimum_tour(
    app: &TestApp,
    tour_fields: Value,
    schedule_fields: Value,
) -> (String, i64, i64, Vec<i64>) {
    let admin = app.admin().await;
    let tour = app.tour(&admin, tour_fields).await;
    let mut fields = json!({"max_capacity": 10, "min_capacity": 4});
    if let (Some(f), Some(extra)) = (fields.as_object_mut(), schedule_fields.as_object()) {
        for (k, v) in extra {
            f.insert(k.clone(), v.clone());
        }
    }
    let schedule = app.schedule(&admin, tour, &day(8), fields).await;
    app.generate(&admin, schedule, &day(8), &day(10))
        .await
        .assert_status(200);
    let slots = app
        .slots_between(tour, &day(8), &day(10))
        .await
        .iter()
        .filter_map(|s| s["id"].as_i64())
        .collect();
    (admin, tour, schedule, slots)
}

async fn book_as(app: &TestApp, tour: i64, slot: i64, adults: i64, email: &str) -> Value {
    let r = app
        .create_booking(&json!({
            "tour_id": tour, "booking_slot_id": slot, "num_adults": adults,
            "customer_name": "Guest Person", "customer_email": email
        }))
        .await;
    r.assert_status(201);
    r.body.clone()
}

fn instant(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an instant: {v}"))
}

async fn history(app: &TestApp, admin: &str, booking: i64) -> Vec<Value> {
    let r = app
        .get_as(admin, &paths::admin_booking_action(booking, "history"))
        .await;
    r.assert_status(200);
    r.body.as_array().cloned().unwrap_or_default()
}

async fn events(app: &TestApp, admin: &str, kind: &str) -> Vec<Value> {
    let r = app
        .get_as(
            admin,
            &format!("/api/calendar/admin/notifications?type={kind}&limit=500"),
        )
        .await;
    r.assert_status(200);
    r.body.as_array().cloned().unwrap_or_default()
}

/// The held (no SMTP) messages of `kind` to `to`, once the outbox job has
/// rendered at least `at_least` of them (it runs every 2 s).
async fn messages_to(
    app: &TestApp,
    admin: &str,
    to: &str,
    kind: &str,
    at_least: usize,
) -> Vec<Value> {
    let deadline = Instant::now() + StdDuration::from_secs(20);
    loop {
        let r = app
            .get_as(admin, &format!("/api/calendar/admin/messages?email={to}"))
            .await;
        r.assert_status(200);
        let found: Vec<Value> = r
            .body
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|m| m["kind"] == kind)
            .collect();
        if found.len() >= at_least {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "no {kind} message to {to}: {:?}",
            r.body
        );
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
}

async fn message_text(app: &TestApp, admin: &str, m: &Value) -> String {
    let id = m["id"].as_i64().expect("message id");
    let r = app
        .get_as(admin, &format!("/api/calendar/admin/messages/{id}"))
        .await;
    r.assert_status(200);
    r.body["text_body"].as_str().unwrap_or_default().to_owned()
}

/// The decision job's round, as the server runs it every minute.
async fn decide(app: &TestApp) -> (usize, usize) {
    app.ctx
        .catalog()
        .decide_due(Duration::minutes(2))
        .await
        .expect("decision round")
}

async fn a_departure_is_guaranteed_once_its_minimum_is_booked(app: TestApp) {
    let (admin, tour, _, slots) = minimum_tour(&app, json!({}), json!({})).await;
    let slot = app.slot(tour, slots[0]).await;
    let g = &slot["guarantee"];
    assert_eq!(g["status"], "pending", "{slot}");
    assert_eq!(g["min_capacity"], 4);
    assert_eq!(g["needed"], 4);
    // 48 hours before the start, stated in the tour's zone too (with the
    // offset of that moment: a clock change in between moves the hour).
    let starts = instant(&slot["starts_at"]);
    let deadline = starts - Duration::hours(48);
    assert_eq!(instant(&g["decision_at"]), deadline);
    assert_eq!(
        g["decision_at_local"].as_str().expect("local deadline"),
        deadline
            .with_timezone(&chrono_tz::Asia::Jerusalem)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );

    let first = book_as(&app, tour, slots[0], 2, "first@example.com").await;
    assert_eq!(first["departure_guarantee"]["status"], "pending");
    assert_eq!(first["departure_guarantee"]["needed"], 2);
    let second = book_as(&app, tour, slots[0], 1, "second@example.com").await;
    assert_eq!(second["departure_guarantee"]["needed"], 1);
    assert!(
        events(&app, &admin, "departure.guaranteed")
            .await
            .is_empty()
    );

    // The fourth person guarantees it at once.
    let third = book_as(&app, tour, slots[0], 1, "third@example.com").await;
    assert_eq!(
        third["departure_guarantee"]["status"], "guaranteed",
        "{third}"
    );
    assert_eq!(third["departure_guarantee"]["needed"], 0);
    assert_eq!(
        third["departure_guarantee"]["guaranteed_by"],
        "minimum_reached"
    );
    let g = &app.slot(tour, slots[0]).await["guarantee"];
    assert_eq!(g["status"], "guaranteed");
    assert_eq!(g["booked"], 4);
    let ev = events(&app, &admin, "departure.guaranteed").await;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0]["payload"]["booking_slot_id"], slots[0]);
    assert_eq!(ev[0]["payload"]["guaranteed_by"], "minimum_reached");
    // Every booking's history says so, as `system`.
    for b in [&first, &second, &third] {
        let h = history(&app, &admin, b["id"].as_i64().expect("id")).await;
        let row = h
            .iter()
            .find(|r| r["modification_type"] == "departure_guaranteed")
            .unwrap_or_else(|| panic!("no guarantee in {h:?}"));
        assert_eq!(row["actor"], "system", "{row}");
    }
    // The customers already booked are told; the one who completed it
    // gets their own confirmation, which says so.
    let mut told: Vec<i64> = events(&app, &admin, "booking.guaranteed")
        .await
        .iter()
        .filter_map(|e| e["payload"]["booking_id"].as_i64())
        .collect();
    told.sort_unstable();
    let mut expected: Vec<i64> = [&first, &second]
        .iter()
        .filter_map(|b| b["id"].as_i64())
        .collect();
    expected.sort_unstable();
    assert_eq!(told, expected, "told the two already booked, once each");
    let m = messages_to(&app, &admin, "first@example.com", "departure_guaranteed", 1).await;
    let text = message_text(&app, &admin, &m[0]).await;
    assert!(text.contains("guaranteed to run"), "{text}");
    messages_to(
        &app,
        &admin,
        "second@example.com",
        "departure_guaranteed",
        1,
    )
    .await;
    let m = messages_to(&app, &admin, "third@example.com", "booking_created", 1).await;
    let text = message_text(&app, &admin, &m[0]).await;
    assert!(text.contains("Departure: guaranteed to run"), "{text}");

    // Guaranteed stays guaranteed when people leave.
    let token = first["manage_token"].as_str().expect("token");
    app.send(
        reqwest::Method::DELETE,
        &format!("/api/calendar/bookings/{}", first["id"]),
        Some(&json!({"cancellation_reason": "Plans changed"})),
        &[("X-Manage-Token", token)],
    )
    .await
    .assert_status(200);
    let g = &app.slot(tour, slots[0]).await["guarantee"];
    assert_eq!(g["status"], "guaranteed", "{g}");
    // The other departures still wait for theirs.
    assert_eq!(
        app.slot(tour, slots[1]).await["guarantee"]["status"],
        "pending"
    );
    app.assert_consistent().await;
}

async fn below_its_minimum_at_the_deadline_it_is_cancelled_with_full_refunds_exactly_once(
    app: TestApp,
) {
    // A policy that would refund nothing this late: the operator's
    // cancellation refunds in full anyway.
    let (admin, tour, _, slots) = minimum_tour(
        &app,
        json!({"cancellation_policy": {"tiers": [
            {"min_hours_before": 72, "refund_percent": 100},
            {"min_hours_before": 0, "refund_percent": 0}]}}),
        json!({}),
    )
    .await;
    let a = book_as(&app, tour, slots[0], 2, "alice@example.com").await;
    let b = book_as(&app, tour, slots[0], 1, "bob@example.com").await;
    let deadline = instant(&a["departure_guarantee"]["decision_at"]);

    // A second before its deadline nothing is decided.
    app.clock.freeze(deadline - Duration::seconds(1));
    assert_eq!(decide(&app).await, (0, 0));
    assert_eq!(
        app.slot(tour, slots[0]).await["guarantee"]["status"],
        "pending"
    );

    // At the deadline two instances decide at once: one cancellation.
    app.clock.freeze(deadline);
    let (x, y) = tokio::join!(decide(&app), decide(&app));
    assert_eq!(x.1 + y.1, 1, "decided exactly once: {x:?} {y:?}");
    assert_eq!(decide(&app).await, (0, 0), "nothing left to decide");

    let slot = app.slot(tour, slots[0]).await;
    assert_eq!(slot["is_cancelled"], true, "{slot}");
    assert_eq!(slot["cancellation_reason"], "minimum_not_reached");
    assert_eq!(slot["guarantee"]["status"], "cancelled");
    for (booking, email) in [(&a, "alice@example.com"), (&b, "bob@example.com")] {
        let id = booking["id"].as_i64().expect("id");
        let r = app.get_booking(&admin, id).await;
        r.assert_status(200);
        assert_eq!(r.body["status"], "cancelled");
        // In full, whatever the policy says this late.
        assert_eq!(
            r.body["refund_amount"], booking["total_amount"],
            "{}",
            r.body
        );
        assert_eq!(r.body["departure_guarantee"]["status"], "cancelled");
        let h = history(&app, &admin, id).await;
        let cancel: Vec<&Value> = h
            .iter()
            .filter(|r| r["modification_type"] == "cancellation")
            .collect();
        assert_eq!(cancel.len(), 1, "{h:?}");
        assert_eq!(cancel[0]["actor"], "system");
        assert!(
            cancel[0]["reason"]
                .as_str()
                .is_some_and(|r| r.contains("minimum_not_reached") && !r.contains("late")),
            "{}",
            cancel[0]
        );
        assert_eq!(
            cancel[0]["new_value"]["refund"]["rule"],
            "minimum_not_reached"
        );
        // Told, with the reason and other dates that have room.
        let m = messages_to(&app, &admin, email, "departure_cancelled", 1).await;
        assert_eq!(m.len(), 1, "one message each: {m:?}");
        let text = message_text(&app, &admin, &m[0]).await;
        assert!(text.contains("did not reach the 4 travellers"), "{text}");
        assert!(text.contains("still have room"), "{text}");
    }
    let ev = events(&app, &admin, "departure.cancelled").await;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0]["payload"]["reason"], "minimum_not_reached");
    assert_eq!(ev[0]["payload"]["cancelled_bookings"], 2);
    // Its neighbours (no deadline yet) are untouched.
    assert_eq!(
        app.slot(tour, slots[1]).await["guarantee"]["status"],
        "pending"
    );
    app.assert_consistent().await;
}

async fn a_decision_made_late_says_so_in_the_audit(app: TestApp) {
    let (admin, tour, _, slots) = minimum_tour(&app, json!({}), json!({})).await;
    let a = book_as(&app, tour, slots[0], 1, "late@example.com").await;
    let deadline = instant(&a["departure_guarantee"]["decision_at"]);
    // The server was down three hours past the deadline.
    app.clock.freeze(deadline + Duration::hours(3));
    assert_eq!(decide(&app).await, (0, 1));
    let h = history(&app, &admin, a["id"].as_i64().expect("id")).await;
    let cancel = h
        .iter()
        .find(|r| r["modification_type"] == "cancellation")
        .expect("cancelled");
    let reason = cancel["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("decided late"), "{reason}");
    assert!(reason.contains("180 minutes"), "{reason}");
    let ev = events(&app, &admin, "departure.cancelled").await;
    assert!(
        ev[0]["payload"]["note"]
            .as_str()
            .is_some_and(|n| n.contains("decided late")),
        "{ev:?}"
    );
}

async fn an_admin_guarantees_a_departure_at_risk_or_extends_its_deadline(app: TestApp) {
    let (admin, tour, _, slots) = minimum_tour(&app, json!({}), json!({})).await;
    let a = book_as(&app, tour, slots[0], 1, "risky@example.com").await;
    let at_risk = app.get_as(&admin, paths::ADMIN_AT_RISK).await;
    at_risk.assert_status(200);
    let list = at_risk.body.as_array().cloned().unwrap_or_default();
    let ids: Vec<i64> = list.iter().filter_map(|s| s["id"].as_i64()).collect();
    assert_eq!(ids, slots, "soonest deadline first: {list:?}");
    assert_eq!(list[0]["tour_name"], "Jerusalem Old City Tour");
    assert_eq!(list[0]["timezone"], "Asia/Jerusalem");
    assert_eq!(list[0]["guarantee"]["needed"], 3);

    // Customers may not.
    let customer = app.customer("someone@example.com").await;
    let path = format!("/api/calendar/admin/slots/{}/guarantee", slots[0]);
    app.post_as(&customer, &path, &json!({}))
        .await
        .assert_status(403);
    app.post(&path, &json!({})).await.assert_status(401);

    // The operator runs it anyway.
    let r = app
        .post_as(
            &admin,
            &path,
            &json!({"reason": "the guide is going anyway"}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["guarantee"]["status"], "guaranteed", "{}", r.body);
    assert_eq!(r.body["guarantee"]["guaranteed_by"], "manual");
    app.post_as(&admin, &path, &json!({}))
        .await
        .assert_error(409, "already_guaranteed");
    let h = history(&app, &admin, a["id"].as_i64().expect("id")).await;
    let row = h
        .iter()
        .find(|r| r["modification_type"] == "departure_guaranteed")
        .expect("audited");
    assert!(
        row["actor"]
            .as_str()
            .is_some_and(|a| a.starts_with("user:")),
        "{row}"
    );
    assert!(
        row["reason"]
            .as_str()
            .is_some_and(|r| r.contains("the guide is going anyway")),
        "{row}"
    );
    let list = app.get_as(&admin, paths::ADMIN_AT_RISK).await;
    assert!(
        !list
            .body
            .as_array()
            .is_some_and(|l| l.iter().any(|s| s["id"] == slots[0])),
        "no longer at risk"
    );
    // Its deadline passes and nothing happens to it.
    let deadline = instant(&a["departure_guarantee"]["decision_at"]);
    app.clock.freeze(deadline + Duration::seconds(1));
    assert_eq!(decide(&app).await, (0, 0));
    assert_eq!(app.slot(tour, slots[0]).await["is_cancelled"], false);
    app.clock.freeze(Utc::now());

    // Extending: a local time in the tour's zone, 24 hours before.
    let slot = app.slot(tour, slots[1]).await;
    let starts = instant(&slot["starts_at"]);
    let path = format!("/api/calendar/admin/slots/{}/decision", slots[1]);
    let local_day = slot["slot_date"].as_str().expect("date").to_owned();
    let day_before = (local_day.parse::<chrono::NaiveDate>().expect("date") - Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    let r = app
        .post_as(
            &admin,
            &path,
            &json!({"decision_at": format!("{day_before}T09:00")}),
        )
        .await;
    r.assert_status(200);
    let local_deadline =
        chrono::NaiveDateTime::parse_from_str(&format!("{day_before}T09:00"), "%Y-%m-%dT%H:%M")
            .expect("local time")
            .and_local_timezone(chrono_tz::Asia::Jerusalem)
            .single()
            .expect("not in a clock change")
            .with_timezone(&Utc);
    assert_eq!(
        instant(&r.body["guarantee"]["decision_at"]),
        local_deadline,
        "{}",
        r.body
    );
    // Each booking's history records who moved it.
    let b = book_as(&app, tour, slots[1], 1, "later@example.com").await;
    app.post_as(
        &admin,
        &path,
        &json!({"decision_at": local_deadline.to_rfc3339()}),
    )
    .await
    .assert_status(200);
    let h = history(&app, &admin, b["id"].as_i64().expect("id")).await;
    let moved = h
        .iter()
        .find(|r| r["modification_type"] == "decision_deadline_moved")
        .expect("audited");
    assert!(
        moved["actor"]
            .as_str()
            .is_some_and(|a| a.starts_with("user:")),
        "{moved}"
    );
    // After the departure, in the past, or not a time: 422 naming it.
    for bad in [
        json!({"decision_at": format!("{local_day}T09:00")}),
        json!({"decision_at": (starts + Duration::hours(1)).to_rfc3339()}),
        json!({"decision_at": "2001-01-01T00:00:00Z"}),
        json!({"decision_at": "next tuesday"}),
    ] {
        let r = app.post_as(&admin, &path, &bad).await;
        r.assert_error(422, "validation_error");
        assert!(r.text.contains("decision_at"), "{bad}: {}", r.text);
    }
    // The old deadline passes: still waiting; the new one decides it.
    app.clock.freeze(starts - Duration::hours(47));
    assert_eq!(decide(&app).await, (0, 0));
    app.clock.freeze(local_deadline);
    assert!(decide(&app).await.1 >= 1);
    assert_eq!(
        app.slot(tour, slots[1]).await["cancellation_reason"],
        "minimum_not_reached"
    );
    // A cancelled one can be neither guaranteed nor extended (the admin's
    // session is younger than the frozen clock's week).
    app.clock.freeze(Utc::now());
    app.post_as(
        &admin,
        &format!("/api/calendar/admin/slots/{}/guarantee", slots[1]),
        &json!({}),
    )
    .await
    .assert_error(409, "slot_cancelled");
}

async fn a_schedule_edit_moves_the_minimum_and_the_deadline(app: TestApp) {
    let (admin, tour, schedule, slots) = minimum_tour(&app, json!({}), json!({})).await;
    book_as(&app, tour, slots[0], 2, "edit@example.com").await;
    // An admin gave the third departure 60 hours.
    let third = app.slot(tour, slots[2]).await;
    let extended = instant(&third["starts_at"]) - Duration::hours(60);
    app.post_as(
        &admin,
        &format!("/api/calendar/admin/slots/{}/decision", slots[2]),
        &json!({"decision_at": extended.to_rfc3339()}),
    )
    .await
    .assert_status(200);
    // Lowering the minimum to what is booked guarantees it at once;
    // the others take the new deadline.
    let r = app
        .put_as(
            &admin,
            &paths::admin_schedule(schedule),
            &json!({"min_capacity": 2, "decision_hours": 24}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["decision_hours"], 24);
    let first = app.slot(tour, slots[0]).await;
    assert_eq!(first["guarantee"]["status"], "guaranteed", "{first}");
    assert_eq!(first["guarantee"]["guaranteed_by"], "minimum_reached");
    let second = app.slot(tour, slots[1]).await;
    assert_eq!(second["guarantee"]["status"], "pending");
    assert_eq!(second["guarantee"]["min_capacity"], 2);
    assert_eq!(
        instant(&second["guarantee"]["decision_at"]),
        instant(&second["starts_at"]) - Duration::hours(24)
    );
    // The admin's deadline stays.
    let third = app.slot(tour, slots[2]).await;
    assert_eq!(
        instant(&third["guarantee"]["decision_at"]),
        extended,
        "{third}"
    );
    // No minimum at all (0 or 1): nothing to decide.
    app.put_as(
        &admin,
        &paths::admin_schedule(schedule),
        &json!({"min_capacity": 1}),
    )
    .await
    .assert_status(200);
    let second = app.slot(tour, slots[1]).await;
    assert_eq!(second["guarantee"]["status"], "none", "{second}");
    assert_eq!(
        app.slot(tour, slots[0]).await["guarantee"]["status"],
        "guaranteed",
        "a guarantee is never taken back"
    );
    // A departure made after its deadline has passed is not called off
    // for people it had no time to find.
    let late_schedule = app
        .schedule(
            &admin,
            tour,
            &day(1),
            json!({"start_time": "15:00:00", "min_capacity": 4, "decision_hours": 72}),
        )
        .await;
    app.generate(&admin, late_schedule, &day(1), &day(1))
        .await
        .assert_status(200);
    let made_late = app
        .slots_between(tour, &day(1), &day(1))
        .await
        .into_iter()
        .find(|s| s["start_time"] == "15:00:00")
        .expect("departure on day 1");
    assert_eq!(made_late["guarantee"]["status"], "none", "{made_late}");
}

async fn bad_minimum_input_is_refused_naming_the_field(app: TestApp) {
    let (admin, tour, schedule, slots) = minimum_tour(&app, json!({}), json!({})).await;
    let path = paths::admin_schedule(schedule);
    for (body, field) in [
        (json!({"decision_hours": -1}), "decision_hours"),
        (json!({"decision_hours": 0}), "decision_hours"),
        (json!({"decision_hours": 9000}), "decision_hours"),
        (json!({"min_capacity": 11}), "min_capacity"),
    ] {
        let r = app.put_as(&admin, &path, &body).await;
        r.assert_error(422, "validation_error");
        assert!(r.text.contains(field), "{body}: {}", r.text);
    }
    // A departure's capacity below its minimum.
    let r = app
        .patch_as(
            &admin,
            &format!("/api/calendar/admin/slots/{}", slots[0]),
            &json!({"max_capacity": 3}),
        )
        .await;
    r.assert_error(422, "validation_error");
    assert!(r.text.contains("max_capacity"), "{}", r.text);
    // Nothing changed.
    let slot = app.slot(tour, slots[0]).await;
    assert_eq!(slot["max_capacity"], 10);
    assert_eq!(slot["guarantee"]["min_capacity"], 4);
    let s = app.get_as(&admin, &path).await;
    assert_eq!(s.body["decision_hours"], 48);
    // Unknown fields and departures.
    app.post_as(
        &admin,
        &format!("/api/calendar/admin/slots/{}/guarantee", slots[0]),
        &json!({"why": "x"}),
    )
    .await
    .assert_status(422);
    app.post_as(
        &admin,
        "/api/calendar/admin/slots/999999/guarantee",
        &json!({}),
    )
    .await
    .assert_status(404);
    // A departure without a minimum has nothing to decide.
    let plain = app.fixture(5).await;
    app.post_as(
        &plain.admin,
        &format!("/api/calendar/admin/slots/{}/guarantee", plain.slots[0]),
        &json!({}),
    )
    .await
    .assert_error(409, "no_minimum");
}

/// A decision locking its date's departures.
const DECIDING: &str =
    "%FROM booking_slots WHERE tour_id = $1 AND slot_date = $2 ORDER BY id%FOR UPDATE%";
/// A booking (its group-commit batch) locking its departure before it
/// decides and reserves.
const RESERVING: &str = "SELECT %FROM booking_slots WHERE id = $1 FOR UPDATE";

/// Waits until `n` statements like `pattern` of this database wait for a
/// lock (only those: the servers' own jobs may wait on it too).
async fn queued(monitor: &mut sqlx::PgConnection, pattern: &str, n: i64) {
    const WAITERS: &str = "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1";
    let until = Instant::now() + StdDuration::from_secs(10);
    loop {
        let waiting: i64 = sqlx::query_scalar(WAITERS)
            .bind(pattern)
            .fetch_one(&mut *monitor)
            .await
            .expect("pg_stat_activity");
        if waiting >= n {
            return;
        }
        assert!(Instant::now() < until, "only {waiting} of {n} queued");
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
}

/// Forced interleavings on PostgreSQL, with a second server on the same
/// database: a departure's row is held by another connection while the
/// booking that would reach its minimum and both servers' decision rounds
/// queue behind it, in one order and then the other. Whichever goes first,
/// the outcome is one of the two coherent ones, decided once: guaranteed
/// with the booking kept, or cancelled with the booking refused and every
/// earlier booking refunded.
#[tokio::test]
async fn a_booking_reaching_the_minimum_and_two_deciders_at_the_deadline_agree() {
    use sqlx::{Connection, PgConnection};
    use tourdesk_store::Backend;

    let Some(app) = TestApp::spawn(Backend::Postgres, |_| {}).await else {
        return;
    };
    let other = TestApp::spawn_on(Backend::Postgres, &app.database.url, |_| {}).await;
    let (admin, tour, _, slots) = minimum_tour(&app, json!({}), json!({})).await;
    for (round, booking_first) in [(0, true), (1, false)] {
        let slot = slots[round];
        let early = book_as(&app, tour, slot, 3, "early@example.com").await;
        let deadline = instant(&early["departure_guarantee"]["decision_at"]);
        app.clock.freeze(deadline);
        other.clock.freeze(deadline);

        let mut locker = PgConnection::connect(&app.database.url)
            .await
            .expect("a second connection");
        let mut monitor = PgConnection::connect(&app.database.url)
            .await
            .expect("a monitoring connection");
        sqlx::query("BEGIN")
            .execute(&mut locker)
            .await
            .expect("BEGIN");
        sqlx::query("SELECT id FROM booking_slots WHERE id = $1 FOR UPDATE")
            .bind(slot)
            .execute(&mut locker)
            .await
            .expect("lock the departure");
        let book = {
            let url = app.url(paths::BOOKINGS);
            let client = app.client.clone();
            move || {
                tokio::spawn(async move {
                    client
                        .post(url)
                        .json(&json!({
                            "tour_id": tour, "booking_slot_id": slot, "num_adults": 1,
                            "customer_name": "Last Person", "customer_email": "last@example.com"
                        }))
                        .send()
                        .await
                        .expect("booking request")
                        .status()
                        .as_u16()
                })
            }
        };
        let decider = |ctx: tourdesk_service::Context| {
            tokio::spawn(async move {
                ctx.catalog()
                    .decide_due(Duration::minutes(2))
                    .await
                    .expect("decision round")
            })
        };
        let (booking, deciders) = if booking_first {
            let b = book();
            queued(&mut monitor, RESERVING, 1).await;
            let d = [decider(app.ctx.clone()), decider(other.ctx.clone())];
            queued(&mut monitor, DECIDING, 2).await;
            (b, d)
        } else {
            let d = [decider(app.ctx.clone()), decider(other.ctx.clone())];
            queued(&mut monitor, DECIDING, 2).await;
            let b = book();
            queued(&mut monitor, RESERVING, 1).await;
            (b, d)
        };
        sqlx::query("ROLLBACK")
            .execute(&mut locker)
            .await
            .expect("release");
        let status = booking.await.expect("booking task");
        let mut cancelled = 0;
        for d in deciders {
            cancelled += d.await.expect("decider task").1;
        }
        // Back to now: the admin's session is younger than a week.
        app.clock.freeze(Utc::now());
        other.clock.freeze(Utc::now());
        let s = app.slot(tour, slot).await;
        let g = &s["guarantee"];
        let early_now = app
            .get_as(&admin, &format!("/api/calendar/bookings/{}", early["id"]))
            .await;
        match status {
            201 => {
                assert_eq!(g["status"], "guaranteed", "round {round}: {s}");
                assert_eq!(g["guaranteed_by"], "minimum_reached");
                assert_eq!(cancelled, 0, "round {round}");
                assert_eq!(early_now.body["status"], "pending");
            }
            409 => {
                assert_eq!(g["status"], "cancelled", "round {round}: {s}");
                assert_eq!(cancelled, 1, "decided once: round {round}");
                assert_eq!(early_now.body["status"], "cancelled");
                assert_eq!(early_now.body["refund_amount"], early["total_amount"]);
            }
            other => panic!("round {round}: the booking answered {other}"),
        }
        // FIFO behind the row lock: whoever queued first decides it.
        let expected = if booking_first { 201 } else { 409 };
        assert_eq!(status, expected, "round {round}: first in the queue wins");
    }
    let guaranteed = events(&app, &admin, "departure.guaranteed").await;
    let cancelled = events(&app, &admin, "departure.cancelled").await;
    assert_eq!(
        guaranteed.len() + cancelled.len(),
        2,
        "{guaranteed:?} {cancelled:?}"
    );
    app.assert_consistent().await;
}

async fn a_departure_decided_only_after_it_started_is_not_called_off(app: TestApp) {
    let (admin, tour, _, slots) = minimum_tour(&app, json!({}), json!({})).await;
    let a = book_as(&app, tour, slots[0], 1, "ran@example.com").await;
    // The server was down through the deadline and the start.
    app.clock
        .freeze(instant(&a["starts_at"]) + Duration::minutes(10));
    // It is guaranteed; the two later ones, empty past their deadlines,
    // are called off.
    assert_eq!(decide(&app).await, (1, 2));
    app.clock.freeze(Utc::now());
    let g = &app.slot(tour, slots[0]).await["guarantee"];
    assert_eq!(g["status"], "guaranteed", "{g}");
    assert_eq!(g["guaranteed_by"], "deadline");
    let h = history(&app, &admin, a["id"].as_i64().expect("id")).await;
    let row = h
        .iter()
        .find(|r| r["modification_type"] == "departure_guaranteed")
        .expect("audited");
    assert_eq!(row["actor"], "system");
    let reason = row["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("decided late") && reason.contains("decided after the departure started"),
        "{reason}"
    );
    let r = app
        .get_as(&admin, &format!("/api/calendar/bookings/{}", a["id"]))
        .await;
    assert_eq!(r.body["status"], "pending", "its booking stands");
}

async fn a_move_or_a_larger_party_can_reach_the_minimum(app: TestApp) {
    let (admin, tour, _, slots) = minimum_tour(&app, json!({}), json!({})).await;
    let stay = book_as(&app, tour, slots[0], 2, "stay@example.com").await;
    let mover = book_as(&app, tour, slots[1], 2, "mover@example.com").await;
    let modify = |b: &Value, body: Value| {
        let token = b["manage_token"].as_str().unwrap_or_default().to_owned();
        let path = format!("/api/calendar/bookings/{}", b["id"]);
        let app = &app;
        async move {
            let r = app
                .send(
                    reqwest::Method::PUT,
                    &path,
                    Some(&body),
                    &[("X-Manage-Token", token.as_str())],
                )
                .await;
            r.assert_status(200);
            r.body["booking"].clone()
        }
    };
    // Moving two people onto the first departure brings it to four.
    let moved = modify(&mover, json!({"new_slot_id": slots[0]})).await;
    assert_eq!(
        moved["departure_guarantee"]["status"], "guaranteed",
        "{moved}"
    );
    let told: Vec<i64> = events(&app, &admin, "booking.guaranteed")
        .await
        .iter()
        .filter_map(|e| e["payload"]["booking_id"].as_i64())
        .collect();
    assert_eq!(
        told,
        vec![stay["id"].as_i64().expect("id")],
        "the mover saw it in its answer"
    );
    // Growing a party on the second departure (now empty) to its minimum.
    let grower = book_as(&app, tour, slots[1], 3, "grower@example.com").await;
    assert_eq!(grower["departure_guarantee"]["needed"], 1);
    let grown = modify(&grower, json!({"new_num_adults": 4})).await;
    assert_eq!(
        grown["departure_guarantee"]["status"], "guaranteed",
        "{grown}"
    );
    assert_eq!(
        grown["departure_guarantee"]["guaranteed_by"],
        "minimum_reached"
    );
    // Shrinking it again does not take the guarantee back.
    let shrunk = modify(&grower, json!({"new_num_adults": 1})).await;
    assert_eq!(shrunk["departure_guarantee"]["status"], "guaranteed");
    assert_eq!(shrunk["departure_guarantee"]["booked"], 1);
    assert_eq!(events(&app, &admin, "departure.guaranteed").await.len(), 2);
    app.assert_consistent().await;
}
