//! The waitlist: joining, strict priority-then-age offers of whole-party
//! holds, claims, expiry, and fairness under concurrency.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Fixture, TestApp, day, paths};

both_backends!(
    joining_is_allowed_only_when_full,
    freed_spots_are_held_for_the_first_entry_that_fits,
    priority_then_age_and_big_parties_keep_their_place,
    claims_book_held_spots_within_the_window,
    expiry_hands_spots_to_the_next_entry,
    the_claim_window_ends_at_the_booking_cutoff,
    leaving_releases_held_spots,
    manual_processing_when_automatic_is_off,
    concurrent_processors_never_notify_twice,
    claims_racing_cancellations_never_overbook,
    an_admin_claiming_for_a_guest_leaves_the_booking_the_guests,
    joining_again_tells_a_stranger_nothing,
);

/// #13: a join for an email already on the list answers a stranger exactly
/// as a join for a new email (201, the same fields, what they sent), hands
/// over no token and changes nothing; the entry's owner (account, manage
/// token, admin) is told `already_waitlisted`.
async fn joining_again_tells_a_stranger_nothing(app: TestApp) {
    let f = app.fixture(2).await;
    fill(&app, &f, f.slots[0], 2).await;
    let date = f.dates[0].clone();
    let first = join(&app, &f, &date, 2, "victim@example.com").await;
    first.assert_status(201);
    let victim_id = first.body["id"].as_i64().expect("id");
    let victim_token = first.body["manage_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let before = entry(&app, &f.admin, victim_id).await;

    let probe = |email: &'static str, name: &'static str| {
        let app = &app;
        let f = &f;
        let date = date.clone();
        async move {
            app.post(
                paths::WAITLIST,
                &json!({"tour_id": f.tour, "requested_date": date, "num_people": 1,
                        "customer_name": name, "customer_email": email, "customer_phone": "+34 600 000 000"}),
            )
            .await
        }
    };
    let fresh = probe("nobody@example.com", "Prying Pat").await;
    let known = probe("VICTIM@example.com", "Prying Pat").await;
    fresh.assert_status(201);
    known.assert_status(201);
    let keys = |v: &Value| {
        let mut k: Vec<String> = v
            .as_object()
            .map(|o| o.keys().filter(|k| *k != "manage_token").cloned().collect())
            .unwrap_or_default();
        k.sort();
        k
    };
    assert_eq!(keys(&fresh.body), keys(&known.body), "the same fields");
    for field in [
        "status",
        "num_people",
        "customer_name",
        "customer_phone",
        "priority",
        "notes",
    ] {
        assert_eq!(
            fresh.body[field], known.body[field],
            "{field} reveals nothing"
        );
    }
    assert_eq!(
        known.body["customer_email"], "VICTIM@example.com",
        "what they sent"
    );
    assert!(
        known.body.get("manage_token").is_none(),
        "no token to someone else's entry"
    );
    assert!(
        !known.text.contains("Waiting Will"),
        "nothing of the entry: {}",
        known.text
    );
    assert!(
        !known.text.contains("Flexible on time"),
        "nothing of the entry: {}",
        known.text
    );

    // Nothing changed: one entry for that email, as it was.
    assert_eq!(entry(&app, &f.admin, victim_id).await, before);
    let listed = app
        .get_as(
            &f.admin,
            &format!("/api/calendar/admin/waitlist?tour_id={}", f.tour),
        )
        .await;
    let of_victim = listed
        .body
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|e| {
                    e["customer_email"]
                        .as_str()
                        .is_some_and(|m| m.eq_ignore_ascii_case("victim@example.com"))
                })
                .count()
        })
        .unwrap_or(0);
    assert_eq!(of_victim, 1, "still one entry: {}", listed.body);
    // The stranger cannot reach it by the id either.
    app.get(&paths::waitlist_entry(victim_id))
        .await
        .assert_status(404);

    // Its owner is told plainly: by its token, or as an admin.
    for headers in [vec![("x-manage-token", victim_token.as_str())], vec![]] {
        let r = if headers.is_empty() {
            app.post_as(
                &f.admin,
                paths::WAITLIST,
                &json!({"tour_id": f.tour, "requested_date": date, "num_people": 2,
                        "customer_name": "Waiting Will", "customer_email": "victim@example.com"}),
            )
            .await
        } else {
            app.send(
                Method::POST,
                paths::WAITLIST,
                Some(&json!({"tour_id": f.tour, "requested_date": date, "num_people": 2,
                             "customer_name": "Waiting Will", "customer_email": "victim@example.com"})),
                &headers,
            )
            .await
        };
        r.assert_error(409, "already_waitlisted");
    }
    // An account's own entry: 409 to the account.
    let user = app.customer("waiter@example.com").await;
    let body = json!({"tour_id": f.tour, "requested_date": date, "num_people": 1});
    app.post_as(&user, paths::WAITLIST, &body)
        .await
        .assert_status(201);
    app.post_as(&user, paths::WAITLIST, &body)
        .await
        .assert_error(409, "already_waitlisted");
    app.assert_consistent().await;
}

async fn an_admin_claiming_for_a_guest_leaves_the_booking_the_guests(app: TestApp) {
    let f = app.fixture(2).await;
    let booking = fill(&app, &f, f.slots[0], 2).await;
    let id = join(&app, &f, &f.dates[0], 2, "guest-w@example.com")
        .await
        .body["id"]
        .as_i64()
        .expect("id");
    cancel(&app, &booking).await;
    let r = app
        .post_as(
            &f.admin,
            &paths::waitlist_claim(id),
            &json!({"num_adults": 2}),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.body["customer_email"], "guest-w@example.com");
    let mine = app.get_as(&f.admin, paths::MY_BOOKINGS).await;
    assert_eq!(mine.body, json!([]), "the admin does not become the owner");
    let history = app
        .get_as(
            &f.admin,
            &format!("/api/calendar/admin/bookings/{}/history", r.body["id"]),
        )
        .await;
    assert!(
        history.body[0]["actor"]
            .as_str()
            .is_some_and(|a| a.starts_with("user:")),
        "the audit names the admin"
    );
    // The guest reaches it with the fresh manage token the claim returned.
    let token = r.body["manage_token"].as_str().expect("token");
    app.send(
        Method::GET,
        &format!("/api/calendar/bookings/{}", r.body["id"]),
        None,
        &[("x-manage-token", token)],
    )
    .await
    .assert_status(200);
    app.assert_consistent().await;
}

async fn join(
    app: &TestApp,
    f: &Fixture,
    date: &str,
    people: i64,
    email: &str,
) -> crate::helpers::TestResponse {
    app.post(
        paths::WAITLIST,
        &json!({
            "tour_id": f.tour, "requested_date": date, "num_people": people,
            "customer_name": "Waiting Will", "customer_email": email, "notes": "Flexible on time"
        }),
    )
    .await
}

/// Books the whole slot as one party; returns (id, manage token).
async fn fill(app: &TestApp, f: &Fixture, slot: i64, people: i64) -> (i64, String) {
    let r = app.book(f.tour, slot, people, 0, 0).await;
    r.assert_status(201);
    (
        r.body["id"].as_i64().expect("id"),
        r.body["manage_token"].as_str().expect("token").to_owned(),
    )
}

async fn cancel(app: &TestApp, booking: &(i64, String)) {
    app.send(
        Method::DELETE,
        &format!("/api/calendar/bookings/{}", booking.0),
        None,
        &[("x-manage-token", booking.1.as_str())],
    )
    .await
    .assert_status(200);
}

async fn entry(app: &TestApp, admin: &str, id: i64) -> Value {
    let r = app.get_as(admin, &paths::waitlist_entry(id)).await;
    r.assert_status(200);
    r.body
}

async fn joining_is_allowed_only_when_full(app: TestApp) {
    let f = app.fixture(4).await;
    join(&app, &f, &f.dates[0], 2, "a@example.com")
        .await
        .assert_error(409, "spots_available");
    fill(&app, &f, f.slots[0], 3).await;
    join(&app, &f, &f.dates[0], 1, "a@example.com")
        .await
        .assert_error(409, "spots_available");
    let r = join(&app, &f, &f.dates[0], 2, "a@example.com").await;
    r.assert_status(201);
    assert_eq!(r.body["status"], "active");
    assert_eq!(r.body["num_people"], 2);
    assert!(
        r.body["manage_token"].as_str().is_some(),
        "guests get a manage token"
    );
    // The same email again (any case): one entry. Only its owner (here,
    // the manage token) is told it is already on the list.
    let token = r.body["manage_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    app.send(
        Method::POST,
        paths::WAITLIST,
        Some(
            &json!({"tour_id": f.tour, "requested_date": f.dates[0], "num_people": 2,
                     "customer_name": "Waiting Will", "customer_email": "A@example.com"}),
        ),
        &[("x-manage-token", token.as_str())],
    )
    .await
    .assert_error(409, "already_waitlisted");
    // A specific slot: refused while it has room.
    let r = app
        .post(
            paths::WAITLIST,
            &json!({"tour_id": f.tour, "requested_date": f.dates[1], "booking_slot_id": f.slots[1],
        "num_people": 2, "customer_name": "B", "customer_email": "b@example.com"}),
        )
        .await;
    r.assert_error(409, "spots_available");
    app.post(
        paths::WAITLIST,
        &json!({"tour_id": f.tour, "requested_date": f.dates[2], "booking_slot_id": f.slots[1],
        "num_people": 2, "customer_name": "B", "customer_email": "b@example.com"}),
    )
    .await
    .assert_error(422, "validation_error");
    app.post_as(&f.admin, paths::ADMIN_BLACKOUTS, &json!({"tour_id": f.tour, "start_date": f.dates[3], "end_date": f.dates[3], "blackout_type": "weather", "name": "Khamsin"})).await;
    let r = join(&app, &f, &f.dates[3], 5, "c@example.com").await;
    r.assert_error(409, "date_blacked_out");
    assert!(r.text.contains("Khamsin"));
    // Before the schedule's first departure: no departures that date.
    join(&app, &f, &day(2), 2, "c@example.com")
        .await
        .assert_error(409, "no_slots");
    join(&app, &f, &f.dates[0], 0, "c@example.com")
        .await
        .assert_error(422, "validation_error");
    // Outside the window.
    let starts: DateTime<Utc> = app.slot(f.tour, f.slots[0]).await["starts_at"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("starts");
    app.clock.freeze(starts - Duration::hours(2));
    join(&app, &f, &f.dates[0], 2, "d@example.com")
        .await
        .assert_error(409, "outside_window");
    // With an account, name and email come from it.
    app.clock.freeze(starts - Duration::days(2));
    let token = app.customer("member@example.com").await;
    let r = app
        .post_as(
            &token,
            paths::WAITLIST,
            &json!({"tour_id": f.tour, "requested_date": f.dates[0], "num_people": 2}),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.body["customer_email"], "member@example.com");
    assert!(r.body.get("manage_token").is_none());
    let mine = app.get_as(&token, paths::MY_WAITLIST).await;
    assert_eq!(mine.body.as_array().map(Vec::len), Some(1));
}

async fn freed_spots_are_held_for_the_first_entry_that_fits(app: TestApp) {
    let f = app.fixture(4).await;
    let booking = fill(&app, &f, f.slots[0], 4).await;
    let w = join(&app, &f, &f.dates[0], 3, "w@example.com").await;
    let wid = w.body["id"].as_i64().expect("id");
    cancel(&app, &booking).await;
    let e = entry(&app, &f.admin, wid).await;
    assert_eq!(e["status"], "notified");
    assert_eq!(e["held_slot_id"], f.slots[0]);
    assert!(e["notification_expires_at"].is_string());
    let s = app.slot(f.tour, f.slots[0]).await;
    assert_eq!(s["held_spots"], 3);
    assert_eq!(s["available_spots"], 1);
    // A stranger cannot take the held spots; the availability check agrees.
    app.book(f.tour, f.slots[0], 2, 0, 0)
        .await
        .assert_error(400, "capacity_exceeded");
    let a = app
        .post(
            paths::AVAILABILITY,
            &json!({"tour_id": f.tour, "requested_date": f.dates[0], "num_people": 2}),
        )
        .await;
    assert_eq!(a.body["available"], false);
    app.book(f.tour, f.slots[0], 1, 0, 0)
        .await
        .assert_status(201);
    let n = app
        .get_as(
            &f.admin,
            "/api/calendar/admin/notifications?type=waitlist.notified",
        )
        .await;
    assert_eq!(n.body[0]["payload"]["waitlist_entry_id"], wid);
    assert_eq!(n.body[0]["payload"]["booking_slot_id"], f.slots[0]);
    assert!(n.body[0]["payload"]["claim_link"].is_string());
    app.assert_consistent().await;
}

async fn priority_then_age_and_big_parties_keep_their_place(app: TestApp) {
    let f = app.fixture(6).await;
    let first = fill(&app, &f, f.slots[0], 2).await;
    let second = fill(&app, &f, f.slots[0], 2).await;
    let third = fill(&app, &f, f.slots[0], 2).await;
    let big = join(&app, &f, &f.dates[0], 4, "big@example.com").await.body["id"]
        .as_i64()
        .expect("id");
    let old_small = join(&app, &f, &f.dates[0], 2, "old@example.com").await.body["id"]
        .as_i64()
        .expect("id");
    let young_small = join(&app, &f, &f.dates[0], 2, "young@example.com")
        .await
        .body["id"]
        .as_i64()
        .expect("id");
    let vip = join(&app, &f, &f.dates[0], 1, "vip@example.com").await.body["id"]
        .as_i64()
        .expect("id");
    app.patch_as(
        &f.admin,
        &format!("/api/calendar/admin/waitlist/{vip}"),
        &json!({"priority": 5}),
    )
    .await
    .assert_status(200);
    // Two spots free: the VIP (priority) goes first, then nobody else fits in 1.
    cancel(&app, &first).await;
    let status = |id| {
        let app = &app;
        let admin = f.admin.clone();
        async move {
            entry(app, &admin, id).await["status"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        }
    };
    assert_eq!(status(vip).await, "notified");
    assert_eq!(status(big).await, "active");
    assert_eq!(status(old_small).await, "active");
    // Two more free (3 in all): the big party of 4 does not fit and keeps its
    // place; the older small party is offered the spots.
    cancel(&app, &second).await;
    assert_eq!(status(old_small).await, "notified");
    assert_eq!(status(young_small).await, "active");
    assert_eq!(status(big).await, "active");
    // Everything frees up: the big party, still first in line, fits now.
    app.delete_as(&f.admin, &paths::waitlist_entry(vip), None)
        .await
        .assert_status(200);
    app.delete_as(&f.admin, &paths::waitlist_entry(old_small), None)
        .await
        .assert_status(200);
    cancel(&app, &third).await;
    assert_eq!(status(big).await, "notified");
    assert_eq!(status(young_small).await, "notified");
    let s = app.slot(f.tour, f.slots[0]).await;
    assert_eq!(s["held_spots"], 6);
    let list = app
        .get_as(
            &f.admin,
            &format!(
                "/api/calendar/admin/waitlist?tour_id={}&status=notified",
                f.tour
            ),
        )
        .await;
    assert_eq!(list.body.as_array().map(Vec::len), Some(2));
    app.get_as(&f.admin, "/api/calendar/admin/waitlist?status=odd")
        .await
        .assert_error(422, "validation_error");
    app.assert_consistent().await;
}

async fn claims_book_held_spots_within_the_window(app: TestApp) {
    let f = app.fixture(4).await;
    let booking = fill(&app, &f, f.slots[0], 4).await;
    let member = app.customer("claimer@example.com").await;
    let w = app
        .post_as(
            &member,
            paths::WAITLIST,
            &json!({"tour_id": f.tour, "requested_date": f.dates[0], "num_people": 3}),
        )
        .await;
    let wid = w.body["id"].as_i64().expect("id");
    let other = join(&app, &f, &f.dates[0], 1, "next@example.com")
        .await
        .body["id"]
        .as_i64()
        .expect("id");
    let claim_url = paths::waitlist_claim(wid);
    app.post_as(&member, &claim_url, &json!({"num_adults": 1}))
        .await
        .assert_error(409, "invalid_status");
    cancel(&app, &booking).await; // 4 free: member holds 3, the next entry 1
    assert_eq!(entry(&app, &f.admin, other).await["status"], "notified");
    let stranger = app.customer("stranger@example.com").await;
    app.post_as(&stranger, &claim_url, &json!({"num_adults": 1}))
        .await
        .assert_error(404, "not_found");
    app.post_as(
        &member,
        &claim_url,
        &json!({"num_adults": 3, "num_children": 1}),
    )
    .await
    .assert_error(422, "validation_error");
    // Claim 2 of the 3 held spots: the third goes back to the queue.
    let later = join(&app, &f, &f.dates[0], 1, "later@example.com").await;
    later.assert_status(201);
    let r = app
        .post_as(
            &member,
            &claim_url,
            &json!({"num_adults": 1, "num_children": 1, "special_requirements": "stroller"}),
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.body["total_people"], 2);
    assert_eq!(r.body["customer_email"], "claimer@example.com");
    assert!(
        r.text.contains("\"total_amount\":140.25"),
        "75 + 52.50 + 10 %: {}",
        r.text
    );
    let e = entry(&app, &f.admin, wid).await;
    assert_eq!(e["status"], "converted");
    assert_eq!(e["booking_id"], r.body["id"]);
    assert_eq!(
        entry(&app, &f.admin, later.body["id"].as_i64().expect("id")).await["status"],
        "notified"
    );
    let mine = app.get_as(&member, paths::MY_BOOKINGS).await;
    assert_eq!(mine.body.as_array().map(Vec::len), Some(1));
    app.post_as(&member, &claim_url, &json!({"num_adults": 1}))
        .await
        .assert_error(409, "invalid_status");
    let s = app.slot(f.tour, f.slots[0]).await;
    assert_eq!(s["current_bookings"], 2);
    assert_eq!(s["held_spots"], 2);
    app.assert_consistent().await;
}

async fn expiry_hands_spots_to_the_next_entry(app: TestApp) {
    let f = app.fixture(2).await;
    let booking = fill(&app, &f, f.slots[0], 2).await;
    let first = join(&app, &f, &f.dates[0], 2, "first@example.com").await;
    let first_id = first.body["id"].as_i64().expect("id");
    let first_token = first.body["manage_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let second = join(&app, &f, &f.dates[0], 2, "second@example.com")
        .await
        .body["id"]
        .as_i64()
        .expect("id");
    cancel(&app, &booking).await;
    assert_eq!(entry(&app, &f.admin, first_id).await["status"], "notified");
    assert_eq!(
        app.ctx.waitlist().expire_due().await.expect("expire"),
        0,
        "not yet"
    );
    app.clock.advance(Duration::hours(25));
    let claim = app
        .send(
            Method::POST,
            &paths::waitlist_claim(first_id),
            Some(&json!({"num_adults": 2})),
            &[("x-manage-token", first_token.as_str())],
        )
        .await;
    claim.assert_error(409, "claim_expired");
    // The background expiry job (every 30 s, on the same clock) may get
    // there first: whoever does, the hold expires exactly once.
    app.ctx.waitlist().expire_due().await.expect("expire");
    assert_eq!(app.ctx.waitlist().expire_due().await.expect("expire"), 0);
    let expired = app
        .ctx
        .notifications()
        .list(
            &tourdesk_service::Admin::system(),
            Some("waitlist.expired"),
            None,
            100,
        )
        .await
        .expect("events");
    assert_eq!(
        expired
            .iter()
            .filter(|e| e.payload.0["waitlist_entry_id"] == first_id)
            .count(),
        1,
        "the hold expired once"
    );
    assert_eq!(entry(&app, &f.admin, first_id).await["status"], "expired");
    assert_eq!(entry(&app, &f.admin, second).await["status"], "notified");
    assert_eq!(app.slot(f.tour, f.slots[0]).await["held_spots"], 2);
    app.assert_consistent().await;
}

async fn the_claim_window_ends_at_the_booking_cutoff(app: TestApp) {
    let Some(app) = TestApp::spawn(app.backend, |c| {
        c.waitlist_notification_expiry_hours = 24 * 10
    })
    .await
    else {
        return;
    };
    let f = app.fixture(2).await;
    let booking = fill(&app, &f, f.slots[0], 2).await;
    let id = join(&app, &f, &f.dates[0], 1, "w@example.com").await.body["id"]
        .as_i64()
        .expect("id");
    cancel(&app, &booking).await;
    let e = entry(&app, &f.admin, id).await;
    let starts: DateTime<Utc> = app.slot(f.tour, f.slots[0]).await["starts_at"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("starts");
    let expires: DateTime<Utc> = e["notification_expires_at"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("expires");
    assert_eq!(
        expires,
        starts - Duration::hours(24),
        "clipped to the cutoff, not 10 days"
    );
}

async fn leaving_releases_held_spots(app: TestApp) {
    let f = app.fixture(2).await;
    let booking = fill(&app, &f, f.slots[0], 2).await;
    let a = join(&app, &f, &f.dates[0], 2, "a@example.com").await;
    let (aid, atoken) = (
        a.body["id"].as_i64().expect("id"),
        a.body["manage_token"].as_str().expect("t").to_owned(),
    );
    let b = join(&app, &f, &f.dates[0], 2, "b@example.com").await.body["id"]
        .as_i64()
        .expect("id");
    cancel(&app, &booking).await;
    let url = paths::waitlist_entry(aid);
    app.send(Method::DELETE, &url, None, &[])
        .await
        .assert_error(404, "not_found");
    app.send(
        Method::DELETE,
        &url,
        None,
        &[("x-manage-token", "tdm_nope")],
    )
    .await
    .assert_error(404, "not_found");
    let r = app
        .send(
            Method::DELETE,
            &url,
            None,
            &[("x-manage-token", atoken.as_str())],
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["status"], "cancelled");
    assert_eq!(entry(&app, &f.admin, b).await["status"], "notified");
    app.send(
        Method::DELETE,
        &url,
        None,
        &[("x-manage-token", atoken.as_str())],
    )
    .await
    .assert_error(409, "invalid_status");
    // Cancelling the departure releases the spots held on it; the
    // date-wide entry goes back to the queue with its place (its age and
    // priority unchanged) rather than being dropped.
    let before = entry(&app, &f.admin, b).await;
    app.post_as(
        &f.admin,
        &format!("/api/calendar/admin/slots/{}/cancel", f.slots[0]),
        &json!({"reason": "Strike"}),
    )
    .await
    .assert_status(200);
    let after = entry(&app, &f.admin, b).await;
    assert_eq!(after["status"], "active");
    assert_eq!(after["held_slot_id"], Value::Null);
    assert_eq!(after["created_at"], before["created_at"]);
    assert_eq!(after["priority"], before["priority"]);
    assert_eq!(app.slot(f.tour, f.slots[0]).await["held_spots"], 0);
    app.assert_consistent().await;
}

async fn manual_processing_when_automatic_is_off(app: TestApp) {
    let Some(app) = TestApp::spawn(app.backend, |c| c.waitlist_auto_process = false).await else {
        return;
    };
    let f = app.fixture(3).await;
    let booking = fill(&app, &f, f.slots[0], 3).await;
    let id = join(&app, &f, &f.dates[0], 3, "w@example.com").await.body["id"]
        .as_i64()
        .expect("id");
    cancel(&app, &booking).await;
    assert_eq!(entry(&app, &f.admin, id).await["status"], "active");
    // A capacity increase does not trigger it either.
    app.patch_as(
        &f.admin,
        &format!("/api/calendar/admin/slots/{}", f.slots[0]),
        &json!({"max_capacity": 4}),
    )
    .await
    .assert_status(200);
    assert_eq!(entry(&app, &f.admin, id).await["status"], "active");
    let r = app
        .post_as(
            &f.admin,
            &format!("/api/calendar/admin/slots/{}/process-waitlist", f.slots[0]),
            &json!({}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["notified"], 1);
    assert_eq!(entry(&app, &f.admin, id).await["status"], "notified");
    app.assert_consistent().await;
}

async fn concurrent_processors_never_notify_twice(app: TestApp) {
    let Some(app) = TestApp::spawn(app.backend, |c| c.waitlist_auto_process = false).await else {
        return;
    };
    let f = app.fixture(10).await;
    let booking = fill(&app, &f, f.slots[0], 10).await;
    let mut ids = Vec::new();
    for i in 0..8 {
        let r = join(
            &app,
            &f,
            &f.dates[0],
            1 + i % 3,
            &format!("w{i}@example.com"),
        )
        .await;
        r.assert_status(201);
        ids.push(r.body["id"].as_i64().expect("id"));
    }
    cancel(&app, &booking).await;
    let app = Arc::new(app);
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let app = app.clone();
        let slot = f.slots[0];
        tasks.push(tokio::spawn(async move {
            app.ctx
                .waitlist()
                .process_slot(&tourdesk_service::Admin::system(), slot)
                .await
        }));
    }
    let mut notified = 0;
    for t in tasks {
        notified += t.await.expect("task").expect("process");
    }
    let notes = app
        .get_as(
            &f.admin,
            "/api/calendar/admin/notifications?type=waitlist.notified&limit=500",
        )
        .await;
    let mut seen: Vec<i64> = notes
        .body
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|n| n["payload"]["waitlist_entry_id"].as_i64())
        .collect();
    let total = seen.len();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), total, "an entry was notified twice");
    assert_eq!(total, notified);
    let s = app.slot(f.tour, f.slots[0]).await;
    assert!(s["held_spots"].as_i64().unwrap_or(99) <= 10);
    // Sizes 1,2,3,1,2,3,1,2 in order: 1+2+3+1+2 = 9 fits, then 3 does not, 1 does.
    assert_eq!(s["held_spots"], 10);
    app.assert_consistent().await;
}

async fn claims_racing_cancellations_never_overbook(app: TestApp) {
    let f = app.fixture(6).await;
    let mut bookings = Vec::new();
    for _ in 0..3 {
        bookings.push(fill(&app, &f, f.slots[0], 2).await);
    }
    let mut entries = Vec::new();
    for i in 0..4 {
        let r = join(&app, &f, &f.dates[0], 2, &format!("w{i}@example.com")).await;
        entries.push((
            r.body["id"].as_i64().expect("id"),
            r.body["manage_token"].as_str().expect("t").to_owned(),
        ));
    }
    let app = Arc::new(app);
    let mut tasks = Vec::new();
    for b in bookings {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            app.send(
                Method::DELETE,
                &format!("/api/calendar/bookings/{}", b.0),
                None,
                &[("x-manage-token", b.1.as_str())],
            )
            .await
            .status
            .as_u16()
        }));
    }
    for (id, token) in entries.clone() {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..20 {
                let r = app
                    .send(
                        Method::POST,
                        &paths::waitlist_claim(id),
                        Some(&json!({"num_adults": 2})),
                        &[("x-manage-token", token.as_str())],
                    )
                    .await;
                if r.status.as_u16() == 201 {
                    return 201;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            409
        }));
    }
    let (tour, slot) = (f.tour, f.slots[0]);
    for _ in 0..6 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            app.book(tour, slot, 1, 0, 0).await.status.as_u16()
        }));
    }
    for t in tasks {
        let code = t.await.expect("task");
        assert!(matches!(code, 200 | 201 | 400 | 409), "unexpected {code}");
    }
    let s = app.slot(f.tour, f.slots[0]).await;
    let used = s["current_bookings"].as_i64().unwrap_or(0) + s["held_spots"].as_i64().unwrap_or(0);
    assert!(used <= 6, "over capacity: {s}");
    app.assert_consistent().await;
}
