//! Issue #18: a tour's cancellation policy (the refund quote, to the
//! second at each tier boundary, in two time zones; refunds recorded on
//! cancel and party reduction; the operator's cancellations in full) and
//! its party rules, over HTTP on both engines.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use tourdesk::config::RefundTiers;
use tourdesk_domain::policy::RefundTier;
use tourdesk_store::Backend;

use crate::both_backends;
use crate::helpers::{TestApp, day, paths};

both_backends!(
    the_refund_quote_follows_the_policy_to_the_second_in_two_zones,
    a_party_reduction_refunds_the_removed_people_by_the_policy,
    an_operator_cancelled_departure_refunds_in_full,
    an_admin_may_override_the_refund_with_a_reason,
    bad_policies_and_rules_are_refused_naming_the_field,
    party_rules_are_enforced_and_named,
    the_console_reads_the_configured_defaults,
);

const TIERS: &str = r#"[{"min_hours_before": 72, "refund_percent": 100},
    {"min_hours_before": 24, "refund_percent": 50}, {"min_hours_before": 0, "refund_percent": 0}]"#;

fn tiers() -> Value {
    serde_json::from_str(TIERS).expect("tiers")
}

/// A tour with `fields`, a daily 09:00 schedule and departures on days
/// +8..+12; returns (admin, tour, slot ids).
pub(crate) async fn tour_with(app: &TestApp, fields: Value) -> (String, i64, Vec<i64>) {
    let admin = app.admin().await;
    let tour = app.tour(&admin, fields).await;
    let schedule = app.schedule(&admin, tour, &day(8), json!({})).await;
    app.generate(&admin, schedule, &day(8), &day(12))
        .await
        .assert_status(200);
    let slots = app
        .slots_between(tour, &day(8), &day(12))
        .await
        .iter()
        .filter_map(|s| s["id"].as_i64())
        .collect();
    (admin, tour, slots)
}

/// Books as a guest; returns (booking, manage token).
async fn book(app: &TestApp, tour: i64, slot: i64, adults: i64, children: i64) -> (Value, String) {
    let r = app.book(tour, slot, adults, children, 0).await;
    r.assert_status(201);
    let token = r.body["manage_token"].as_str().expect("token").to_owned();
    (r.body.clone(), token)
}

/// A request carrying a guest's manage token.
async fn as_guest(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
    token: &str,
) -> crate::helpers::TestResponse {
    app.send(method, path, body, &[("X-Manage-Token", token)])
        .await
}

async fn quote(app: &TestApp, id: i64, token: &str) -> Value {
    let r = app
        .send(
            reqwest::Method::GET,
            &format!("/api/calendar/bookings/{id}/cancellation-quote"),
            None,
            &[("X-Manage-Token", token)],
        )
        .await;
    r.assert_status(200);
    r.body
}

fn starts_at(b: &Value) -> DateTime<Utc> {
    b["starts_at"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("starts_at")
}

fn amount(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

async fn the_refund_quote_follows_the_policy_to_the_second_in_two_zones(app: TestApp) {
    // Jerusalem without a fee, total 11.01 (50 % is 5.505: rounded half-up
    // to 5.51); New York with a fee of 2.50, total 165.00.
    for (zone, price, adults, fee, total, half, full) in [
        ("Asia/Jerusalem", 10.01, 1, 0.0, 11.01, 5.51, 11.01),
        ("America/New_York", 75.00, 2, 2.50, 165.00, 80.00, 162.50),
    ] {
        let (_, tour, slots) = tour_with(
            &app,
            json!({"timezone": zone, "base_price": price,
                "cancellation_policy": {"tiers": tiers(), "fee": fee}}),
        )
        .await;
        let (b, token) = book(&app, tour, slots[2], adults, 0).await;
        assert_eq!(amount(&b["total_amount"]), total, "{zone}");
        let id = b["id"].as_i64().expect("id");
        let start = starts_at(&b);
        let tz: chrono_tz::Tz = zone.parse().expect("zone");
        let local = |t: DateTime<Utc>| t.with_timezone(&tz).to_rfc3339();

        // Exactly 72 h before: still 100 %, until that very second.
        app.clock.freeze(start - Duration::hours(72));
        let q = quote(&app, id, &token).await;
        assert_eq!(q["cancellable"], true, "{q}");
        assert_eq!(q["refund_percent"], 100, "{zone}: {q}");
        assert_eq!(amount(&q["refund_amount"]), full, "{zone}: {q}");
        assert_eq!(amount(&q["fee"]), fee, "{zone}: {q}");
        assert_eq!(q["tier"]["min_hours_before"], 72);
        let ends = start - Duration::hours(72);
        assert_eq!(
            q["tier_ends_at"]
                .as_str()
                .and_then(|s| s.parse::<DateTime<Utc>>().ok()),
            Some(ends)
        );
        assert_eq!(q["tier_ends_at_local"], local(ends).as_str(), "{zone}");
        assert_eq!(q["timezone"], zone);
        assert_eq!(q["next_refund_percent"], 50);
        assert_eq!(amount(&q["next_refund_amount"]), half);

        // One second later: 50 %, until 24 h before.
        app.clock
            .freeze(start - Duration::hours(72) + Duration::seconds(1));
        let q = quote(&app, id, &token).await;
        assert_eq!(q["refund_percent"], 50, "{zone}: {q}");
        assert_eq!(amount(&q["refund_amount"]), half, "{zone}: {q}");
        assert_eq!(
            q["tier_ends_at_local"],
            local(start - Duration::hours(24)).as_str()
        );

        app.clock.freeze(start - Duration::hours(24));
        assert_eq!(quote(&app, id, &token).await["refund_percent"], 50);
        app.clock
            .freeze(start - Duration::hours(24) + Duration::seconds(1));
        let q = quote(&app, id, &token).await;
        assert_eq!(q["refund_percent"], 0, "{zone}: {q}");
        assert_eq!(amount(&q["refund_amount"]), 0.0);
        assert_eq!(amount(&q["fee"]), 0.0, "the fee never exceeds the refund");
        assert!(q["tier_ends_at"].is_null() && q["next_refund_percent"].is_null());

        // Cancelling at 30 h records exactly what the quote said then.
        app.clock.freeze(start - Duration::hours(30));
        let said = quote(&app, id, &token).await;
        let r = as_guest(
            &app,
            reqwest::Method::DELETE,
            &paths::booking(id),
            Some(&json!({"cancellation_reason": "Plans changed"})),
            &token,
        )
        .await;
        r.assert_status(200);
        assert_eq!(amount(&r.body["refund_amount"]), half, "{zone}: {}", r.body);
        assert_eq!(r.body["refund_amount"], said["refund_amount"]);
        // Once cancelled, the quote says it cannot be cancelled again.
        let q = quote(&app, id, &token).await;
        assert_eq!(q["cancellable"], false);
        assert_eq!(q["reason"], "invalid_status");
        // After the departure has started a customer cannot cancel.
        let (b2, token2) = book(&app, tour, slots[3], 1, 0).await;
        app.clock.freeze(starts_at(&b2) + Duration::seconds(1));
        let q = quote(&app, b2["id"].as_i64().expect("id"), &token2).await;
        assert_eq!(q["cancellable"], false);
        assert_eq!(q["reason"], "departure_started");
        app.clock.freeze(Utc::now());
    }
    app.assert_consistent().await;
}

async fn a_party_reduction_refunds_the_removed_people_by_the_policy(app: TestApp) {
    let (admin, tour, slots) =
        tour_with(&app, json!({"cancellation_policy": {"tiers": tiers()}})).await;
    // 3 adults at 75.00 plus 10 % tax: 247.50.
    let (b, token) = book(&app, tour, slots[1], 3, 0).await;
    let id = b["id"].as_i64().expect("id");
    app.clock.freeze(starts_at(&b) - Duration::hours(48));
    let r = as_guest(
        &app,
        reqwest::Method::PUT,
        &paths::booking(id),
        Some(&json!({"new_num_adults": 1})),
        &token,
    )
    .await;
    r.assert_status(200);
    let after = &r.body["booking"];
    assert_eq!(amount(&after["total_amount"]), 82.50);
    // Two people worth 165.00 removed at 48 h: 50 %.
    assert_eq!(amount(&after["reduction_refund_amount"]), 82.50, "{after}");
    assert_eq!(app.slot(tour, slots[1]).await["current_bookings"], 1);
    // Cancelling the rest refunds by the same tier, on what is left.
    let r = as_guest(
        &app,
        reqwest::Method::DELETE,
        &paths::booking(id),
        None,
        &token,
    )
    .await;
    r.assert_status(200);
    assert_eq!(amount(&r.body["refund_amount"]), 41.25);
    assert_eq!(amount(&r.body["reduction_refund_amount"]), 82.50);
    // The history records both, with how they were worked out.
    app.clock.freeze(Utc::now());
    let r = app
        .get_as(&admin, &paths::admin_booking_action(id, "history"))
        .await;
    r.assert_status(200);
    let text = r.body.to_string();
    assert!(text.contains("reduction_refund"), "{text}");
    assert!(text.contains("\"refund_percent\":50"), "{text}");
    // Growing the party refunds nothing.
    let (b, token) = book(&app, tour, slots[2], 1, 0).await;
    let id = b["id"].as_i64().expect("id");
    let r = as_guest(
        &app,
        reqwest::Method::PUT,
        &paths::booking(id),
        Some(&json!({"new_num_adults": 2})),
        &token,
    )
    .await;
    r.assert_status(200);
    assert_eq!(amount(&r.body["booking"]["reduction_refund_amount"]), 0.0);
    app.clock.freeze(Utc::now());
    app.assert_consistent().await;
}

async fn an_operator_cancelled_departure_refunds_in_full(app: TestApp) {
    // A policy that never refunds a customer's cancellation...
    let (admin, tour, slots) = tour_with(
        &app,
        json!({"cancellation_policy": {"tiers": [{"min_hours_before": 0, "refund_percent": 0}], "fee": 5}}),
    )
    .await;
    let (b, _) = book(&app, tour, slots[0], 2, 1).await;
    let id = b["id"].as_i64().expect("id");
    // ...still refunds everything when the operator calls the departure off.
    let r = app
        .post_as(
            &admin,
            &format!("/api/calendar/admin/slots/{}/cancel", slots[0]),
            &json!({"reason": "Storm"}),
        )
        .await;
    r.assert_status(200);
    let r = app.get_booking(&admin, id).await;
    r.assert_status(200);
    assert_eq!(r.body["status"], "cancelled");
    assert_eq!(r.body["refund_amount"], b["total_amount"], "{}", r.body);
    // While a customer's own cancellation gets nothing back.
    let (b, token) = book(&app, tour, slots[1], 1, 0).await;
    let r = as_guest(
        &app,
        reqwest::Method::DELETE,
        &format!("/api/calendar/bookings/{}", b["id"]),
        None,
        &token,
    )
    .await;
    r.assert_status(200);
    assert_eq!(amount(&r.body["refund_amount"]), 0.0);
    app.assert_consistent().await;
}

async fn an_admin_may_override_the_refund_with_a_reason(app: TestApp) {
    let (admin, tour, slots) =
        tour_with(&app, json!({"cancellation_policy": {"tiers": tiers()}})).await;
    let (b, token) = book(&app, tour, slots[0], 2, 0).await;
    let id = b["id"].as_i64().expect("id");
    let path = paths::booking(id);
    // A customer may not choose the refund.
    let r = app
        .send(
            reqwest::Method::DELETE,
            &path,
            Some(&json!({"refund_amount": 165.00, "cancellation_reason": "please"})),
            &[("X-Manage-Token", token.as_str())],
        )
        .await;
    r.assert_status(403);
    // An admin's amount needs a reason; nothing changes without one.
    let r = app
        .delete_as(&admin, &path, Some(&json!({"refund_amount": 100.00})))
        .await;
    r.assert_error(422, "validation_error");
    assert_eq!(r.body["field"], "cancellation_reason");
    assert_eq!(app.get_as(&admin, &path).await.body["status"], "pending");
    app.clock.freeze(starts_at(&b) - Duration::hours(30));
    // A session opened at the frozen time: the one from the real clock
    // expires first when the departure is more than its lifetime away
    // (between 00:00 and 01:00 UTC, day(8) 07:00 minus 30 h is).
    let admin = app.admin().await;
    let r = app
        .delete_as(
            &admin,
            &path,
            Some(&json!({"refund_amount": 100.00, "cancellation_reason": "Goodwill: a family emergency"})),
        )
        .await;
    r.assert_status(200);
    assert_eq!(amount(&r.body["refund_amount"]), 100.0);
    let r = app
        .get_as(&admin, &paths::admin_booking_action(id, "history"))
        .await;
    let text = r.body.to_string();
    assert!(text.contains("admin_override"), "{text}");
    assert!(text.contains("Goodwill"), "{text}");
    // What the policy would have given (50 % of 165.00) is kept beside it.
    assert!(text.contains("8250"), "{text}");
    app.clock.freeze(Utc::now());
}

async fn bad_policies_and_rules_are_refused_naming_the_field(app: TestApp) {
    let admin = app.admin().await;
    let tour = app.tour(&admin, json!({})).await;
    let path = paths::admin_tour(tour);
    for (body, field) in [
        (
            json!({"cancellation_policy": {"tiers": [{"min_hours_before": 24, "refund_percent": 50},
                {"min_hours_before": 72, "refund_percent": 100}, {"min_hours_before": 0, "refund_percent": 0}]}}),
            "cancellation_policy.tiers[1].min_hours_before",
        ),
        (
            json!({"cancellation_policy": {"tiers": [{"min_hours_before": 72, "refund_percent": 100},
                {"min_hours_before": 72, "refund_percent": 50}, {"min_hours_before": 0, "refund_percent": 0}]}}),
            "cancellation_policy.tiers[1].min_hours_before",
        ),
        (
            json!({"cancellation_policy": {"tiers": [{"min_hours_before": 0, "refund_percent": 101}]}}),
            "cancellation_policy.tiers[0].refund_percent",
        ),
        (
            json!({"cancellation_policy": {"tiers": [{"min_hours_before": 24, "refund_percent": 100}]}}),
            "cancellation_policy.tiers[0].min_hours_before",
        ),
        (
            json!({"cancellation_policy": {"tiers": []}}),
            "cancellation_policy.tiers",
        ),
        (
            json!({"cancellation_policy": {"tiers": [{"min_hours_before": 0, "refund_percent": 100}], "fee": -1}}),
            "cancellation_policy.fee",
        ),
        (
            json!({"party_rules": {"max_minors_per_adult": 0}}),
            "party_rules.max_minors_per_adult",
        ),
        (
            json!({"party_rules": {"max_infants_per_adult": 101}}),
            "party_rules.max_infants_per_adult",
        ),
    ] {
        let r = app.put_as(&admin, &path, &body).await;
        r.assert_error(422, "validation_error");
        assert_eq!(r.body["field"], field, "{body}: {}", r.body);
    }
    let r = app.get_as(&admin, &path).await;
    r.assert_status(200);
    assert_eq!(r.body["cancellation_policy"]["source"], "default");
    assert_eq!(r.body["party_rules"]["source"], "default");
    // A good one is kept; null goes back to the default.
    let r = app
        .put_as(
            &admin,
            &path,
            &json!({"cancellation_policy": {"tiers": tiers(), "fee": 2.5}}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["cancellation_policy"]["source"], "tour");
    assert_eq!(r.body["cancellation_policy"]["tiers"], tiers());
    assert_eq!(amount(&r.body["cancellation_policy"]["fee"]), 2.5);
    let public = app.get(&paths::tour(tour)).await;
    assert_eq!(public.body["cancellation_policy"]["tiers"], tiers());
    let r = app
        .put_as(&admin, &path, &json!({"cancellation_policy": null}))
        .await;
    r.assert_status(200);
    assert_eq!(r.body["cancellation_policy"]["source"], "default");
    assert_eq!(
        r.body["cancellation_policy"]["tiers"],
        json!([{"min_hours_before": 0, "refund_percent": 100}])
    );
}

async fn party_rules_are_enforced_and_named(app: TestApp) {
    let (_, tour, slots) = tour_with(
        &app,
        json!({"party_rules": {"infants_take_seat": false, "max_minors_per_adult": 2, "max_infants_per_adult": 1}}),
    )
    .await;
    // The public tour shows the rules and the age bands.
    let t = app.get(&paths::tour(tour)).await;
    assert_eq!(t.body["party_rules"]["infant_max_age"], 2);
    assert_eq!(t.body["party_rules"]["child_max_age"], 12);
    assert_eq!(t.body["party_rules"]["max_minors_per_adult"], 2);
    for ((adults, children, infants), rule, field) in [
        ((1, 3, 0), "max_minors_per_adult", "num_adults"),
        ((1, 1, 2), "max_minors_per_adult", "num_adults"),
        ((2, 0, 3), "max_infants_per_adult", "num_infants"),
    ] {
        let r = app.book(tour, slots[0], adults, children, infants).await;
        r.assert_error(422, "party_rule_broken");
        assert_eq!(r.body["rule"], rule, "{}", r.body);
        assert_eq!(r.body["field"], field);
        let q = app
            .post(
                paths::QUOTE,
                &json!({"booking_slot_id": slots[0], "num_adults": adults,
                    "num_children": children, "num_infants": infants}),
            )
            .await;
        q.assert_error(422, "party_rule_broken");
    }
    assert_eq!(app.slot(tour, slots[0]).await["current_bookings"], 0);
    // Infants take no seat here: 2 adults, 1 child, 2 infants hold 3.
    let r = app.book(tour, slots[0], 2, 1, 2).await;
    r.assert_status(201);
    assert_eq!(r.body["seats"], 3);
    assert_eq!(r.body["total_people"], 5);
    assert_eq!(app.slot(tour, slots[0]).await["current_bookings"], 3);
    // A change that breaks a rule is refused too.
    let id = r.body["id"].as_i64().expect("id");
    let token = r.body["manage_token"].as_str().expect("token").to_owned();
    let m = as_guest(
        &app,
        reqwest::Method::PUT,
        &paths::booking(id),
        Some(&json!({"new_num_adults": 1})),
        &token,
    )
    .await;
    m.assert_error(422, "party_rule_broken");
    assert_eq!(app.slot(tour, slots[0]).await["current_bookings"], 3);
    let r = as_guest(
        &app,
        reqwest::Method::DELETE,
        &paths::booking(id),
        None,
        &token,
    )
    .await;
    r.assert_status(200);
    assert_eq!(app.slot(tour, slots[0]).await["current_bookings"], 0);
    app.assert_consistent().await;
}

/// With nothing configured, the console is told the built-in defaults
/// (a full refund until the departure, any party), and only an admin is.
async fn the_console_reads_the_configured_defaults(app: TestApp) {
    let admin = app.admin().await;
    let d = app.get_as(&admin, paths::ADMIN_SETTINGS).await;
    d.assert_status(200);
    let policy = &d.body["cancellation_policy"];
    assert_eq!(policy["source"], "default");
    assert_eq!(
        policy["tiers"],
        json!([{"min_hours_before": 0, "refund_percent": 100}])
    );
    assert_eq!(amount(&policy["fee"]), 0.0);
    assert_eq!(d.body["party_rules"]["infants_take_seat"], true);
    assert_eq!(d.body["party_rules"]["max_minors_per_adult"], Value::Null);
    assert_eq!(d.body["party_rules"]["infant_max_age"], 2);
    assert_eq!(d.body["party_rules"]["child_max_age"], 12);
    assert_eq!(d.body["booking_advance_days"], 90);
    assert_eq!(d.body["booking_cutoff_hours"], 24);
    assert_eq!(d.body["min_booking_size"], 1);
    assert_eq!(d.body["max_booking_size"], 50);
    let customer = app.customer("defaults@example.com").await;
    app.get_as(&customer, paths::ADMIN_SETTINGS)
        .await
        .assert_status(403);
    app.get(paths::ADMIN_SETTINGS).await.assert_status(401);
}

/// The configuration's defaults apply to a tour without its own.
async fn configured_defaults(backend: Backend) {
    let Some(app) = TestApp::spawn(backend, |c| {
        c.cancellation_policy = RefundTiers(vec![
            RefundTier {
                min_hours_before: 48,
                refund_percent: 80,
            },
            RefundTier {
                min_hours_before: 0,
                refund_percent: 0,
            },
        ]);
        c.cancellation_fee = 300;
        c.max_minors_per_adult = 3;
    })
    .await
    else {
        return;
    };
    let (admin, tour, slots) = tour_with(&app, json!({})).await;
    let t = app.get(&paths::tour(tour)).await;
    assert_eq!(t.body["cancellation_policy"]["source"], "default");
    // The console's tour form starts from the same defaults.
    let d = app.get_as(&admin, paths::ADMIN_SETTINGS).await;
    d.assert_status(200);
    assert_eq!(
        d.body["cancellation_policy"]["tiers"],
        t.body["cancellation_policy"]["tiers"]
    );
    assert_eq!(
        d.body["cancellation_policy"]["tiers"],
        json!([{"min_hours_before": 48, "refund_percent": 80}, {"min_hours_before": 0, "refund_percent": 0}])
    );
    assert_eq!(amount(&d.body["cancellation_policy"]["fee"]), 3.0);
    assert_eq!(d.body["party_rules"]["max_minors_per_adult"], 3);
    assert_eq!(d.body["party_rules"]["source"], "default");
    assert_eq!(amount(&t.body["cancellation_policy"]["fee"]), 3.0);
    let r = app.book(tour, slots[0], 1, 4, 0).await;
    r.assert_error(422, "party_rule_broken");
    let (b, token) = book(&app, tour, slots[0], 2, 0).await;
    app.clock.freeze(starts_at(&b) - Duration::hours(48));
    let q = quote(&app, b["id"].as_i64().expect("id"), &token).await;
    // 80 % of 165.00 = 132.00, less the fee of 3.00.
    assert_eq!(amount(&q["refund_amount"]), 129.0, "{q}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_defaults_sqlite() {
    configured_defaults(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_defaults_postgres() {
    configured_defaults(Backend::Postgres).await;
}
