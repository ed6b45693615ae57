//! The booking lifecycle over HTTP: create, price, read, modify, cancel,
//! status changes, idempotency, access and concurrency.

use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{TestApp, day, paths};

both_backends!(
    guest_booking_is_priced_audited_and_counted,
    account_bookings_default_to_the_account,
    booking_input_is_validated_and_refusals_change_nothing,
    slots_that_cannot_be_booked_are_409,
    not_enough_room_is_400_with_the_spots_left,
    concurrent_creates_fill_a_slot_exactly,
    concurrent_mixed_changes_keep_every_invariant,
    modifications_move_capacity_exactly_once,
    cancellation_releases_and_cannot_repeat,
    status_transitions_follow_the_spec_exactly,
    idempotent_replay_creates_one_booking_under_concurrency,
    access_matrix_for_bookings,
    reference_lookup_needs_the_email,
    admin_list_history_and_manifest,
    cancelling_a_slot_cancels_its_bookings,
    pending_holds_expire_when_configured,
    quotes_match_bookings,
);

async fn guest_booking_is_priced_audited_and_counted(app: TestApp) {
    let f = app.fixture(15).await;
    let slot = f.slots[0];
    let r = app
        .send(Method::POST, paths::BOOKINGS, Some(&json!({
            "tour_id": f.tour, "booking_slot_id": slot, "num_adults": 2, "num_children": 1, "num_infants": 0,
            "customer_name": "John Doe", "customer_email": "john@example.com", "customer_phone": "+1234567890",
            "special_requirements": "Vegetarian meals", "dietary_restrictions": "Gluten-free",
            "accessibility_needs": "Wheelchair accessible"
        })), &[("user-agent", "tourdesk-tests/1.0")])
        .await;
    r.assert_status(201);
    let b = &r.body;
    assert_eq!(b["status"], "pending");
    assert_eq!(b["tour_name"], "Jerusalem Old City Tour");
    assert_eq!(b["tour_date"], f.dates[0].as_str());
    assert_eq!(b["tour_time"], "09:00:00");
    assert_eq!(b["total_people"], 3);
    assert_eq!(b["currency"], "USD");
    for (field, value) in [
        ("subtotal", "202.50"),
        ("tax_amount", "20.25"),
        ("total_amount", "222.75"),
        ("price_per_adult", "75.00"),
        ("price_per_child", "52.50"),
        ("price_per_infant", "0.00"),
        ("discount_amount", "0.00"),
    ] {
        assert!(
            r.text.contains(&format!("\"{field}\":{value}")),
            "{field} should be {value}: {}",
            r.text
        );
    }
    let reference = b["booking_reference"].as_str().expect("reference");
    assert!(
        reference.starts_with("ST-") && reference.len() == "ST-20251102-ABC123".len(),
        "{reference}"
    );
    assert!(b["manage_token"].as_str().is_some_and(|t| t.len() > 40));

    let s = app.slot(f.tour, slot).await;
    assert_eq!(s["current_bookings"], 3);
    assert_eq!(s["available_spots"], 12);

    let id = b["id"].as_i64().expect("id");
    let h = app
        .get_as(&f.admin, &paths::admin_booking_action(id, "history"))
        .await;
    h.assert_status(200);
    let first = &h.body[0];
    assert_eq!(first["modification_type"], "created");
    assert_eq!(first["actor"], "guest");
    assert_eq!(first["user_agent"], "tourdesk-tests/1.0");
    assert_eq!(first["ip_address"], "127.0.0.1");
    assert_eq!(first["new_value"]["total_people"], 3);

    let n = app
        .get_as(
            &f.admin,
            "/api/calendar/admin/notifications?type=booking.created",
        )
        .await;
    n.assert_status(200);
    assert_eq!(n.body[0]["payload"]["booking_reference"], reference);
    app.assert_consistent().await;
}

async fn account_bookings_default_to_the_account(app: TestApp) {
    let f = app.fixture(10).await;
    let token = app.customer("ada@example.com").await;
    let r = app
        .create_booking_as(
            &token,
            &json!({"tour_id": f.tour, "booking_slot_id": f.slots[1], "num_adults": 1}),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.body["customer_email"], "ada@example.com");
    assert_eq!(r.body["customer_name"], "Test Customer");
    let mine = app.get_as(&token, paths::MY_BOOKINGS).await;
    mine.assert_status(200);
    assert_eq!(mine.body.as_array().map(Vec::len), Some(1));
    let none = app
        .get_as(
            &token,
            "/api/calendar/bookings/user/me?status_filter=cancelled",
        )
        .await;
    assert_eq!(none.body, json!([]));
    app.get_as(&token, "/api/calendar/bookings/user/me?status_filter=lost")
        .await
        .assert_error(422, "validation_error");
    app.get(paths::MY_BOOKINGS)
        .await
        .assert_error(401, "unauthorized");
}

async fn booking_input_is_validated_and_refusals_change_nothing(app: TestApp) {
    let f = app.fixture(10).await;
    let base = json!({"tour_id": f.tour, "booking_slot_id": f.slots[0], "num_adults": 2,
                      "customer_name": "A Person", "customer_email": "a@example.com"});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = base.clone();
        b.as_object_mut().map(|o| o.remove(k));
        b
    };
    let cases = [
        (without("customer_name"), "customer_name"),
        (without("customer_email"), "customer_email"),
        (with("customer_email", json!("nope")), "customer_email"),
        (with("num_adults", json!(0)), "num_adults"),
        (with("num_adults", json!(-1)), "num_adults"),
        (with("num_children", json!(-2)), "num_children"),
        (with("num_adults", json!(51)), "num_adults"),
        (with("customer_phone", json!("phone me")), "customer_phone"),
        (
            with("special_requirements", json!("x".repeat(1001))),
            "special_requirements",
        ),
        (with("tour_id", json!(99999)), "tour_id"),
        (with("num_adults", json!("two")), "num_adults"),
        // The needs are one type flattened into the body: a wrong value
        // still names its own field.
        (
            with("dietary_restrictions", json!(5)),
            "dietary_restrictions",
        ),
        (
            with("accessibility_needs", json!(["ramp"])),
            "accessibility_needs",
        ),
        (
            with("special_requirements", json!("\u{0007}")),
            "special_requirements",
        ),
    ];
    for (body, field) in cases {
        let r = app.create_booking(&body).await;
        r.assert_error(422, "validation_error");
        assert_eq!(r.body["field"], field, "{}", r.text);
    }
    let s = app.slot(f.tour, f.slots[0]).await;
    assert_eq!(s["current_bookings"], 0, "refusals change nothing");
    let list = app.get_as(&f.admin, paths::ADMIN_BOOKINGS).await;
    assert_eq!(list.body["total"], 0);
}

async fn slots_that_cannot_be_booked_are_409(app: TestApp) {
    let f = app.fixture(10).await;
    let other = app.tour(&f.admin, json!({"name": "Other"})).await;
    app.book(other, f.slots[0], 1, 0, 0)
        .await
        .assert_error(409, "slot_unavailable");
    app.book(f.tour, 999_999, 1, 0, 0)
        .await
        .assert_error(409, "slot_unavailable");
    app.patch_as(
        &f.admin,
        &format!("/api/calendar/admin/slots/{}", f.slots[1]),
        &json!({"is_available": false}),
    )
    .await
    .assert_status(200);
    app.book(f.tour, f.slots[1], 1, 0, 0)
        .await
        .assert_error(409, "slot_unavailable");
    app.post_as(
        &f.admin,
        &format!("/api/calendar/admin/slots/{}/cancel", f.slots[2]),
        &json!({"reason": "Guide ill"}),
    )
    .await
    .assert_status(200);
    let r = app.book(f.tour, f.slots[2], 1, 0, 0).await;
    r.assert_error(409, "slot_unavailable");
    assert!(r.text.contains("Guide ill"));
    // Past the cutoff: move the clock to 23 hours before the first slot.
    let s = app.slot(f.tour, f.slots[0]).await;
    let starts: chrono::DateTime<chrono::Utc> = s["starts_at"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("starts_at");
    app.clock.freeze(starts - chrono::Duration::hours(23));
    app.book(f.tour, f.slots[0], 1, 0, 0)
        .await
        .assert_error(409, "slot_unavailable");
    // Too far ahead: 91 days before.
    app.clock.freeze(starts - chrono::Duration::days(91));
    app.book(f.tour, f.slots[0], 1, 0, 0)
        .await
        .assert_error(409, "slot_unavailable");
    app.clock.freeze(starts - chrono::Duration::days(2));
    app.book(f.tour, f.slots[0], 1, 0, 0)
        .await
        .assert_status(201);
    app.assert_consistent().await;
}

async fn not_enough_room_is_400_with_the_spots_left(app: TestApp) {
    let f = app.fixture(5).await;
    app.book(f.tour, f.slots[0], 3, 0, 0)
        .await
        .assert_status(201);
    let r = app.book(f.tour, f.slots[0], 2, 0, 1).await;
    r.assert_error(400, "capacity_exceeded");
    assert_eq!(r.body["available_spots"], 2);
    assert_eq!(r.body["waitlist_available"], true);
    app.book(f.tour, f.slots[0], 1, 1, 0)
        .await
        .assert_status(201);
    app.book(f.tour, f.slots[0], 1, 0, 0)
        .await
        .assert_error(400, "capacity_exceeded");
    assert_eq!(app.slot(f.tour, f.slots[0]).await["available_spots"], 0);
    app.assert_consistent().await;
}

async fn concurrent_creates_fill_a_slot_exactly(app: TestApp) {
    let f = app.fixture(20).await;
    let app = Arc::new(app);
    let mut tasks = Vec::new();
    for _ in 0..80 {
        let app = app.clone();
        let (tour, slot) = (f.tour, f.slots[0]);
        let size = rand::random_range(1..=4);
        tasks.push(tokio::spawn(async move {
            (size, app.book(tour, slot, size, 0, 0).await)
        }));
    }
    let mut booked = 0;
    let mut smallest_refused = i64::MAX;
    for t in tasks {
        let (size, r) = t.await.expect("task");
        match r.status.as_u16() {
            201 => booked += size,
            400 => {
                assert_eq!(r.code(), "capacity_exceeded", "{}", r.text);
                smallest_refused = smallest_refused.min(size);
            }
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    let s = app.slot(f.tour, f.slots[0]).await;
    assert_eq!(s["current_bookings"], booked);
    assert!(booked <= 20, "overbooked: {booked}");
    // Filled to capacity, or to the last party that fits: no refused party
    // would have fitted in what is left.
    assert!(
        20 - booked < smallest_refused,
        "left {} free but refused a party of {smallest_refused}",
        20 - booked
    );
    app.assert_consistent().await;
}

async fn concurrent_mixed_changes_keep_every_invariant(app: TestApp) {
    let f = app.fixture(12).await;
    let (a, b) = (f.slots[0], f.slots[1]);
    let app = Arc::new(app);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut workers = Vec::new();
    for w in 0..8 {
        let app = app.clone();
        let tour = f.tour;
        workers.push(tokio::spawn(async move {
            let mut mine: Vec<(i64, String)> = Vec::new();
            let mut ops = 0u32;
            while std::time::Instant::now() < deadline {
                ops += 1;
                let roll = rand::random_range(0..10);
                let slot = if rand::random_bool(0.5) { a } else { b };
                if roll < 4 || mine.is_empty() {
                    let r = app.book(tour, slot, rand::random_range(1..=3), 0, 0).await;
                    match r.status.as_u16() {
                        201 => mine.push((r.body["id"].as_i64().expect("id"), r.body["manage_token"].as_str().expect("token").to_owned())),
                        400 => assert_eq!(r.code(), "capacity_exceeded"),
                        s => panic!("worker {w}: create {s}: {}", r.text),
                    }
                } else if roll < 8 {
                    let (id, token) = mine[rand::random_range(0..mine.len())].clone();
                    let body = match rand::random_range(0..3) {
                        0 => json!({"new_num_adults": rand::random_range(1..=4)}),
                        1 => json!({"new_slot_id": slot}),
                        _ => json!({"new_slot_id": slot, "new_num_adults": rand::random_range(1..=4), "new_num_children": 0}),
                    };
                    let r = app.send(Method::PUT, &paths::booking(id), Some(&body), &[("x-manage-token", token.as_str())]).await;
                    assert!(matches!(r.status.as_u16(), 200 | 400 | 409 | 422), "worker {w}: modify {}: {}", r.status, r.text);
                } else {
                    let i = rand::random_range(0..mine.len());
                    let (id, token) = mine.swap_remove(i);
                    let r = app.send(Method::DELETE, &paths::booking(id), None, &[("x-manage-token", token.as_str())]).await;
                    assert!(matches!(r.status.as_u16(), 200 | 409), "worker {w}: cancel {}: {}", r.status, r.text);
                }
                if ops.is_multiple_of(10) {
                    for s in [a, b] {
                        let v = app.slot(tour, s).await;
                        let used = v["current_bookings"].as_i64().unwrap_or(0) + v["held_spots"].as_i64().unwrap_or(0);
                        assert!((0..=12).contains(&used), "slot {s} at {used} of 12");
                    }
                }
            }
            ops
        }));
    }
    let mut total_ops = 0;
    for w in workers {
        total_ops += w.await.expect("worker");
    }
    assert!(total_ops > 50, "only {total_ops} operations ran");
    app.assert_consistent().await;
}

async fn modifications_move_capacity_exactly_once(app: TestApp) {
    let f = app.fixture(6).await;
    let (a, b) = (f.slots[0], f.slots[1]);
    let r = app.book(f.tour, a, 2, 1, 0).await;
    let id = r.body["id"].as_i64().expect("id");
    let token = r.body["manage_token"].as_str().expect("token").to_owned();
    let put = |body: Value| {
        let app = &app;
        let token = token.clone();
        async move {
            app.send(
                Method::PUT,
                &paths::booking(id),
                Some(&body),
                &[("x-manage-token", token.as_str())],
            )
            .await
        }
    };
    // A party-size increase is capacity-checked.
    app.book(f.tour, a, 2, 0, 0).await.assert_status(201); // slot a: 5 of 6
    let r = put(json!({"new_num_adults": 4})).await;
    r.assert_error(400, "capacity_exceeded");
    assert_eq!(
        app.slot(f.tour, a).await["current_bookings"],
        5,
        "a refused change moves nothing"
    );
    // Growing by the one spot left works; only the difference is reserved.
    let r = put(json!({"new_num_adults": 3, "modification_notes": "one more"})).await;
    r.assert_status(200);
    assert_eq!(r.body["success"], true);
    assert_eq!(r.body["booking"]["total_people"], 4);
    assert_eq!(app.slot(f.tour, a).await["current_bookings"], 6);
    // A new count of 0 means zero, not "unchanged".
    let r = put(json!({"new_num_children": 0})).await;
    r.assert_status(200);
    assert_eq!(r.body["booking"]["num_children"], 0);
    assert_eq!(app.slot(f.tour, a).await["current_bookings"], 5);
    // Slot and party together are counted once on each side.
    let r = put(json!({"new_slot_id": b, "new_num_adults": 5})).await;
    r.assert_status(200);
    assert_eq!(r.body["booking"]["booking_slot_id"], b);
    assert_eq!(r.body["booking"]["tour_date"], f.dates[1].as_str());
    assert!(
        r.text.contains("\"total_amount\":412.50"),
        "5 × 75 + 10 % tax: {}",
        r.text
    );
    assert_eq!(app.slot(f.tour, a).await["current_bookings"], 2);
    assert_eq!(app.slot(f.tour, b).await["current_bookings"], 5);
    // Moving to a slot without room fails and moves nothing.
    app.book(f.tour, a, 4, 0, 0).await.assert_status(201); // a: 6 of 6
    put(json!({"new_slot_id": a}))
        .await
        .assert_error(400, "capacity_exceeded");
    assert_eq!(app.slot(f.tour, b).await["current_bookings"], 5);
    // Another tour's slot, nothing to change, a cancelled booking.
    let other = app.tour(&f.admin, json!({"name": "Other"})).await;
    let os = app.schedule(&f.admin, other, &day(3), json!({})).await;
    let other_slot = app.generate(&f.admin, os, &day(3), &day(3)).await.body["slots"][0]["id"]
        .as_i64()
        .expect("slot");
    put(json!({"new_slot_id": other_slot}))
        .await
        .assert_error(409, "slot_unavailable");
    put(json!({})).await.assert_error(422, "validation_error");
    app.send(
        Method::DELETE,
        &paths::booking(id),
        None,
        &[("x-manage-token", token.as_str())],
    )
    .await
    .assert_status(200);
    put(json!({"new_num_adults": 1}))
        .await
        .assert_error(409, "invalid_status");
    let h = app
        .get_as(&f.admin, &paths::admin_booking_action(id, "history"))
        .await;
    let kinds: Vec<&str> = h
        .body
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|e| e["modification_type"].as_str())
        .collect();
    assert_eq!(
        kinds,
        vec![
            "created",
            "party_change",
            "party_change",
            "date_and_party_change",
            "cancellation"
        ]
    );
    assert_eq!(h.body[1]["reason"], "one more");
    assert_eq!(h.body[3]["old_value"]["booking_slot_id"], a);
    assert_eq!(h.body[3]["new_value"]["booking_slot_id"], b);
    app.assert_consistent().await;
}

async fn cancellation_releases_and_cannot_repeat(app: TestApp) {
    let f = app.fixture(10).await;
    let r = app.book(f.tour, f.slots[0], 3, 0, 0).await;
    let id = r.body["id"].as_i64().expect("id");
    let token = r.body["manage_token"].as_str().expect("token").to_owned();
    let refund = json!({"cancellation_reason": "Plans changed", "refund_amount": 10});
    app.send(
        Method::DELETE,
        &paths::booking(id),
        Some(&refund),
        &[("x-manage-token", token.as_str())],
    )
    .await
    .assert_error(403, "forbidden");
    let r = app
        .send(
            Method::DELETE,
            &paths::booking(id),
            Some(&json!({"cancellation_reason": "Plans changed"})),
            &[("x-manage-token", token.as_str())],
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["status"], "cancelled");
    assert_eq!(r.body["cancellation_reason"], "Plans changed");
    assert!(r.body["cancelled_at"].is_string());
    assert_eq!(app.slot(f.tour, f.slots[0]).await["current_bookings"], 0);
    app.send(
        Method::DELETE,
        &paths::booking(id),
        None,
        &[("x-manage-token", token.as_str())],
    )
    .await
    .assert_error(409, "invalid_transition");
    // Admins may record a refund other than the policy's, saying why
    // (issue #18).
    let r2 = app.book(f.tour, f.slots[0], 2, 0, 0).await;
    let id2 = r2.body["id"].as_i64().expect("id");
    let r = app
        .cancel_booking(
            &f.admin,
            id2,
            Some(&json!({"refund_amount": "100.00", "cancellation_reason": "Agreed by phone"})),
        )
        .await;
    r.assert_status(200);
    assert!(r.text.contains("\"refund_amount\":100.00"));
    app.cancel_booking(
        &f.admin,
        id2,
        Some(&json!({"refund_amount": 5, "cancellation_reason": "Agreed by phone"})),
    )
    .await
    .assert_error(409, "invalid_transition");
    let r3 = app.book(f.tour, f.slots[0], 1, 0, 0).await;
    let id3 = r3.body["id"].as_i64().expect("id");
    app.cancel_booking(
        &f.admin,
        id3,
        Some(&json!({"refund_amount": 1000, "cancellation_reason": "Agreed by phone"})),
    )
    .await
    .assert_error(422, "validation_error");
    assert_eq!(
        app.cancel_booking(
            &f.admin,
            id3,
            Some(&json!({"refund_amount": 1000, "cancellation_reason": "Agreed by phone"})),
        )
        .await
        .body["field"],
        "refund_amount"
    );
    app.assert_consistent().await;
}

async fn status_transitions_follow_the_spec_exactly(app: TestApp) {
    let f = app.fixture(40).await;
    let statuses = [
        "pending",
        "confirmed",
        "cancelled",
        "completed",
        "no_show",
        "refunded",
    ];
    let allowed = [
        ("pending", "confirmed"),
        ("pending", "cancelled"),
        ("confirmed", "completed"),
        ("confirmed", "no_show"),
        ("confirmed", "cancelled"),
        ("cancelled", "refunded"),
    ];
    // A path to reach each status from pending.
    let path_to = |s: &str| -> Vec<&'static str> {
        match s {
            "pending" => vec![],
            "confirmed" => vec!["confirmed"],
            "cancelled" => vec!["cancelled"],
            "completed" => vec!["confirmed", "completed"],
            "no_show" => vec!["confirmed", "no_show"],
            _ => vec!["cancelled", "refunded"],
        }
    };
    for from in statuses {
        for to in statuses {
            let r = app.book(f.tour, f.slots[0], 1, 0, 0).await;
            r.assert_status(201);
            let id = r.body["id"].as_i64().expect("id");
            let url = paths::admin_booking_action(id, "status");
            for step in path_to(from) {
                app.post_as(&f.admin, &url, &json!({"status": step}))
                    .await
                    .assert_status(200);
            }
            let before = app.slot(f.tour, f.slots[0]).await["current_bookings"]
                .as_i64()
                .unwrap_or(-1);
            let r = app
                .post_as(&f.admin, &url, &json!({"status": to, "reason": "test"}))
                .await;
            if allowed.contains(&(from, to)) {
                r.assert_status(200);
                assert_eq!(r.body["status"], to);
                let after = app.slot(f.tour, f.slots[0]).await["current_bookings"]
                    .as_i64()
                    .unwrap_or(-1);
                let releases = to == "cancelled";
                assert_eq!(
                    after,
                    if releases { before - 1 } else { before },
                    "{from} → {to}"
                );
            } else {
                r.assert_error(409, "invalid_transition");
            }
        }
    }
    let id = app.book(f.tour, f.slots[1], 1, 0, 0).await.body["id"]
        .as_i64()
        .expect("id");
    app.post_as(
        &f.admin,
        &paths::admin_booking_action(id, "status"),
        &json!({"status": "lost"}),
    )
    .await
    .assert_error(422, "validation_error");
    let customer = app.customer("c@example.com").await;
    app.post_as(
        &customer,
        &paths::admin_booking_action(id, "status"),
        &json!({"status": "confirmed"}),
    )
    .await
    .assert_error(403, "forbidden");
    app.post_as(
        &f.admin,
        "/api/calendar/admin/bookings/999999/status",
        &json!({"status": "confirmed"}),
    )
    .await
    .assert_error(404, "not_found");
    app.assert_consistent().await;
}

async fn idempotent_replay_creates_one_booking_under_concurrency(app: TestApp) {
    let f = app.fixture(10).await;
    let body = json!({"tour_id": f.tour, "booking_slot_id": f.slots[0], "num_adults": 2,
                      "customer_name": "Retry Ray", "customer_email": "ray@example.com"});
    let app = Arc::new(app);
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let app = app.clone();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            app.send(
                Method::POST,
                paths::BOOKINGS,
                Some(&body),
                &[("idempotency-key", "key-123")],
            )
            .await
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        let r = t.await.expect("task");
        r.assert_status(201);
        ids.push((
            r.body["id"].as_i64().expect("id"),
            r.body["manage_token"].as_str().unwrap_or("").to_owned(),
        ));
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one booking, replayed: {ids:?}");
    assert_eq!(app.slot(f.tour, f.slots[0]).await["current_bookings"], 2);
    let mut other = body.clone();
    other["num_adults"] = json!(3);
    app.send(
        Method::POST,
        paths::BOOKINGS,
        Some(&other),
        &[("idempotency-key", "key-123")],
    )
    .await
    .assert_error(422, "validation_error");
    // Another key books again.
    app.send(
        Method::POST,
        paths::BOOKINGS,
        Some(&body),
        &[("idempotency-key", "key-456")],
    )
    .await
    .assert_status(201);
    assert_eq!(app.slot(f.tour, f.slots[0]).await["current_bookings"], 4);
    app.assert_consistent().await;
}

async fn access_matrix_for_bookings(app: TestApp) {
    let f = app.fixture(20).await;
    let owner = app.customer("owner@example.com").await;
    let stranger = app.customer("stranger@example.com").await;
    let r = app
        .create_booking_as(
            &owner,
            &json!({"tour_id": f.tour, "booking_slot_id": f.slots[0], "num_adults": 1}),
        )
        .await;
    let id = r.body["id"].as_i64().expect("id");
    let token = r.body["manage_token"].as_str().expect("token").to_owned();
    let url = paths::booking(id);
    // Not yours answers exactly as not there (no id enumeration).
    // GET
    app.get(&url).await.assert_error(404, "not_found");
    app.get_as(&stranger, &url)
        .await
        .assert_error(404, "not_found");
    app.send(Method::GET, &url, None, &[("x-manage-token", "tdm_wrong")])
        .await
        .assert_error(404, "not_found");
    app.get_as(&owner, &url).await.assert_status(200);
    app.get_as(&f.admin, &url).await.assert_status(200);
    app.send(
        Method::GET,
        &url,
        None,
        &[("x-manage-token", token.as_str())],
    )
    .await
    .assert_status(200);
    app.get("/api/calendar/bookings/999999")
        .await
        .assert_error(404, "not_found");
    // PUT
    let change = json!({"new_num_adults": 2});
    app.send(Method::PUT, &url, Some(&change), &[])
        .await
        .assert_error(404, "not_found");
    app.put_as(&stranger, &url, &change)
        .await
        .assert_error(404, "not_found");
    app.put_as(&owner, &url, &change).await.assert_status(200);
    app.put_as(&f.admin, &url, &json!({"new_num_adults": 3}))
        .await
        .assert_status(200);
    app.send(
        Method::PUT,
        &url,
        Some(&json!({"new_num_adults": 1})),
        &[("x-manage-token", token.as_str())],
    )
    .await
    .assert_status(200);
    // DELETE
    app.send(Method::DELETE, &url, None, &[])
        .await
        .assert_error(404, "not_found");
    app.delete_as(&stranger, &url, None)
        .await
        .assert_error(404, "not_found");
    assert_eq!(
        app.get_as(&owner, &url).await.body["status"],
        "pending",
        "refused calls changed nothing"
    );
    app.delete_as(&owner, &url, None).await.assert_status(200);
    // Admin-only views.
    for path in [
        paths::ADMIN_BOOKINGS.to_owned(),
        paths::admin_booking_action(id, "history"),
        format!("/api/calendar/admin/slots/{}/manifest", f.slots[0]),
        paths::ADMIN_WAITLIST.to_owned(),
        "/api/calendar/admin/notifications".to_owned(),
    ] {
        app.get(&path).await.assert_error(401, "unauthorized");
        app.get_as(&owner, &path)
            .await
            .assert_error(403, "forbidden");
        app.get_as(&f.admin, &path).await.assert_status(200);
    }
    app.assert_consistent().await;
}

async fn reference_lookup_needs_the_email(app: TestApp) {
    let f = app.fixture(10).await;
    let r = app.book(f.tour, f.slots[0], 1, 0, 0).await;
    let reference = r.body["booking_reference"]
        .as_str()
        .expect("ref")
        .to_owned();
    let id = r.body["id"].as_i64().expect("id");
    let ok = app
        .get(&format!(
            "/api/calendar/bookings/reference/{reference}?email=GUEST@example.com"
        ))
        .await;
    ok.assert_status(200);
    assert_eq!(ok.body["id"], id);
    let token = ok.body["manage_token"]
        .as_str()
        .expect("fresh token")
        .to_owned();
    app.send(
        Method::GET,
        &paths::booking(id),
        None,
        &[("x-manage-token", token.as_str())],
    )
    .await
    .assert_status(200);
    let wrong_email = app
        .get(&format!(
            "/api/calendar/bookings/reference/{reference}?email=other@example.com"
        ))
        .await;
    let unknown = app
        .get("/api/calendar/bookings/reference/ST-20250101-ACDEFG?email=guest@example.com")
        .await;
    wrong_email.assert_error(404, "not_found");
    unknown.assert_error(404, "not_found");
    assert_eq!(wrong_email.body, unknown.body);
    app.get(&format!("/api/calendar/bookings/reference/{reference}"))
        .await
        .assert_error(422, "validation_error");
}

async fn admin_list_history_and_manifest(app: TestApp) {
    let f = app.fixture(30).await;
    for i in 0..7 {
        let r = app.create_booking(&json!({
            "tour_id": f.tour, "booking_slot_id": f.slots[i % 2], "num_adults": 1, "num_children": 1,
            "customer_name": format!("Person {i}, \"the\" guest"), "customer_email": format!("p{i}@example.com"),
            "special_requirements": if i == 0 { "=cmd|' /C calc'!A0" } else { "none" }
        })).await;
        r.assert_status(201);
    }
    let page = app
        .get_as(
            &f.admin,
            &format!(
                "/api/calendar/admin/bookings?tour_id={}&limit=3&offset=0",
                f.tour
            ),
        )
        .await;
    page.assert_status(200);
    assert_eq!(page.body["total"], 7);
    assert_eq!(page.body["bookings"].as_array().map(Vec::len), Some(3));
    let newest = page.body["bookings"][0]["customer_email"].clone();
    assert_eq!(newest, "p6@example.com", "newest first");
    let last = app
        .get_as(&f.admin, "/api/calendar/admin/bookings?limit=3&offset=6")
        .await;
    assert_eq!(last.body["bookings"].as_array().map(Vec::len), Some(1));
    let by_date = app
        .get_as(
            &f.admin,
            &format!(
                "/api/calendar/admin/bookings?start_date={}&end_date={}",
                f.dates[1], f.dates[1]
            ),
        )
        .await;
    assert_eq!(by_date.body["total"], 3);
    let none = app
        .get_as(
            &f.admin,
            "/api/calendar/admin/bookings?status_filter=confirmed",
        )
        .await;
    assert_eq!(none.body["total"], 0);
    app.get_as(&f.admin, "/api/calendar/admin/bookings?limit=501")
        .await
        .assert_error(422, "validation_error");

    let m = app
        .get_as(
            &f.admin,
            &format!("/api/calendar/admin/slots/{}/manifest", f.slots[0]),
        )
        .await;
    m.assert_status(200);
    assert_eq!(m.body["total_people"], 8);
    assert_eq!(m.body["bookings"].as_array().map(Vec::len), Some(4));
    let csv = app
        .send(
            Method::GET,
            &format!("/api/calendar/admin/slots/{}/manifest", f.slots[0]),
            None,
            &[
                ("authorization", format!("Bearer {}", f.admin).as_str()),
                ("accept", "text/csv"),
            ],
        )
        .await;
    csv.assert_status(200);
    assert!(
        csv.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/csv"))
    );
    let lines: Vec<&str> = csv.text.lines().collect();
    assert_eq!(lines.len(), 5, "header + 4 bookings: {}", csv.text);
    assert!(lines[0].starts_with("booking_reference,status,customer_name"));
    assert!(
        csv.text.contains("\"Person 0, \"\"the\"\" guest\""),
        "{}",
        csv.text
    );
    assert!(
        csv.text.contains("'=cmd"),
        "formulas are neutralised: {}",
        csv.text
    );
}

async fn cancelling_a_slot_cancels_its_bookings(app: TestApp) {
    let f = app.fixture(10).await;
    let ids: Vec<i64> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(
                app.book(f.tour, f.slots[0], 2, 0, 0).await.body["id"]
                    .as_i64()
                    .expect("id"),
            );
        }
        v
    };
    app.post_as(
        &f.admin,
        &format!("/api/calendar/admin/bookings/{}/status", ids[0]),
        &json!({"status": "confirmed"}),
    )
    .await
    .assert_status(200);
    let r = app
        .post_as(
            &f.admin,
            &format!("/api/calendar/admin/slots/{}/cancel", f.slots[0]),
            &json!({"reason": "Storm"}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["cancelled_bookings"], 3);
    assert_eq!(r.body["slot"]["is_cancelled"], true);
    assert_eq!(r.body["slot"]["current_bookings"], 0);
    for id in ids {
        let b = app.get_booking(&f.admin, id).await;
        assert_eq!(b.body["status"], "cancelled");
        let h = app
            .get_as(&f.admin, &paths::admin_booking_action(id, "history"))
            .await;
        let last = h
            .body
            .as_array()
            .and_then(|a| a.last())
            .cloned()
            .unwrap_or_default();
        assert_eq!(last["modification_type"], "cancellation");
        assert!(last["reason"].as_str().is_some_and(|r| r.contains("Storm")));
    }
    app.post_as(
        &f.admin,
        &format!("/api/calendar/admin/slots/{}/cancel", f.slots[0]),
        &json!({"reason": "again"}),
    )
    .await
    .assert_error(409, "slot_cancelled");
    app.post_as(
        &f.admin,
        &format!("/api/calendar/admin/slots/{}/cancel", f.slots[1]),
        &json!({"reason": " "}),
    )
    .await
    .assert_error(422, "validation_error");
    // A blackout over a booked slot reports it and leaves it open.
    app.book(f.tour, f.slots[2], 2, 0, 0)
        .await
        .assert_status(201);
    let b = app.post_as(&f.admin, paths::ADMIN_BLACKOUTS, &json!({"tour_id": f.tour, "start_date": f.dates[2], "end_date": f.dates[3], "blackout_type": "weather", "name": "Heat"})).await;
    b.assert_status(201);
    assert_eq!(b.body["cancelled_slots"], 1);
    assert_eq!(b.body["conflicts"].as_array().map(Vec::len), Some(1));
    assert_eq!(b.body["conflicts"][0]["slot_id"], f.slots[2]);
    assert_eq!(b.body["conflicts"][0]["current_bookings"], 2);
    assert_eq!(app.slot(f.tour, f.slots[2]).await["is_cancelled"], false);
    // Capacity cannot go below what is booked.
    app.patch_as(
        &f.admin,
        &format!("/api/calendar/admin/slots/{}", f.slots[2]),
        &json!({"max_capacity": 1}),
    )
    .await
    .assert_error(409, "capacity_below_booked");
    app.assert_consistent().await;
}

async fn pending_holds_expire_when_configured(app: TestApp) {
    let f = app.fixture(10).await;
    let old = app.book(f.tour, f.slots[0], 2, 0, 0).await.body["id"]
        .as_i64()
        .expect("id");
    let confirmed = app.book(f.tour, f.slots[0], 1, 0, 0).await.body["id"]
        .as_i64()
        .expect("id");
    app.post_as(
        &f.admin,
        &paths::admin_booking_action(confirmed, "status"),
        &json!({"status": "confirmed"}),
    )
    .await
    .assert_status(200);
    assert_eq!(
        app.ctx.bookings().expire_pending(30).await.expect("expire"),
        0,
        "nothing is old yet"
    );
    app.clock.advance(chrono::Duration::minutes(31));
    let fresh = app.book(f.tour, f.slots[0], 1, 0, 0).await.body["id"]
        .as_i64()
        .expect("id");
    assert_eq!(
        app.ctx.bookings().expire_pending(30).await.expect("expire"),
        1
    );
    assert_eq!(app.ctx.bookings().expire_pending(0).await.expect("off"), 0);
    for (id, status) in [
        (old, "cancelled"),
        (confirmed, "confirmed"),
        (fresh, "pending"),
    ] {
        let r = app.get_booking(&f.admin, id).await;
        assert_eq!(r.body["status"], status);
    }
    let h = app
        .get_as(&f.admin, &paths::admin_booking_action(old, "history"))
        .await;
    assert_eq!(h.body[1]["actor"], "system");
    assert_eq!(app.slot(f.tour, f.slots[0]).await["current_bookings"], 2);
    app.assert_consistent().await;
}

async fn quotes_match_bookings(app: TestApp) {
    let f = app.fixture(10).await;
    let q = app
        .post(
            paths::QUOTE,
            &json!({"booking_slot_id": f.slots[0], "num_adults": 2, "num_children": 1}),
        )
        .await;
    q.assert_status(200);
    assert!(q.text.contains("\"total_amount\":222.75"), "{}", q.text);
    assert_eq!(q.body["available_spots"], 10);
    let b = app.book(f.tour, f.slots[0], 2, 1, 0).await;
    assert_eq!(b.body["total_amount"], q.body["total_amount"]);
    app.post(
        paths::QUOTE,
        &json!({"booking_slot_id": f.slots[0], "num_adults": 0}),
    )
    .await
    .assert_error(422, "validation_error");
    app.post(
        paths::QUOTE,
        &json!({"booking_slot_id": 99999, "num_adults": 1}),
    )
    .await
    .assert_error(422, "validation_error");
}
