//! Issue #18 in a real headless Chromium: a customer sees what cancelling
//! refunds before confirming, and the party step shows the age bands and
//! the tour's party rules inline.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use tourdesk::config::RefundTiers;
use tourdesk_domain::policy::RefundTier;
use tourdesk_store::Backend;

use crate::both_backends;
use crate::browser::{Browser, CAL, FLOW, log_in_to_console, open_calendar_at};
use crate::helpers::{TestApp, day, paths};
use crate::operator_rules::tour_with;

both_backends!(
    a_customer_sees_the_refund_before_cancelling,
    the_console_history_says_how_a_refund_was_worked_out,
    the_party_step_shows_age_bands_and_refuses_a_broken_rule_inline,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_tour_starts_from_the_configured_defaults_sqlite() {
    a_new_tour_starts_from_the_configured_defaults(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_tour_starts_from_the_configured_defaults_postgres() {
    a_new_tour_starts_from_the_configured_defaults(Backend::Postgres).await;
}

/// The console's tour form starts from the policy the server is configured
/// with (`GET /api/calendar/admin/settings`), even when no tour follows it:
/// it used to guess 72/24/0 then.
async fn a_new_tour_starts_from_the_configured_defaults(backend: Backend) {
    let Some(app) = TestApp::spawn(backend, |c| {
        c.cancellation_policy = RefundTiers(vec![
            RefundTier {
                min_hours_before: 48,
                refund_percent: 80,
            },
            RefundTier {
                min_hours_before: 0,
                refund_percent: 10,
            },
        ]);
        c.max_minors_per_adult = 4;
    })
    .await
    else {
        return;
    };
    let Some(b) = Browser::start(1280, 1100).await else {
        return;
    };
    app.ctx
        .accounts()
        .ensure_admin(
            "defaults-admin@example.com",
            "admin password 123",
            "Defaults Admin",
        )
        .await
        .expect("admin");
    // The only tour has its own policy and rules: no tour shows the defaults.
    let admin = app
        .login_token("defaults-admin@example.com", "admin password 123")
        .await;
    app.tour(
        &admin,
        json!({"cancellation_policy": {"tiers": [{"min_hours_before": 0, "refund_percent": 100}]},
               "party_rules": {"infants_take_seat": false}}),
    )
    .await;
    log_in_to_console(&b, &app, "defaults-admin@example.com", "admin password 123").await;
    b.goto(&app.url("/admin#tours")).await;
    b.wait("[data-tour-form] [data-tiers]").await;
    let read = "const f = document.querySelector('[data-tour-form]'); \
                return [...f.querySelectorAll('[data-tiers] input')].map((i) => i.name + '=' + i.value) \
                  .concat([f.querySelector('#tf-minors').value]);";
    let fields = b.js(read, vec![]).await.json().clone();
    assert_eq!(
        fields,
        json!([
            "cancellation_policy.tiers[0].min_hours_before=48",
            "cancellation_policy.tiers[0].refund_percent=80",
            "cancellation_policy.tiers[1].min_hours_before=0",
            "cancellation_policy.tiers[1].refund_percent=10",
            "4"
        ]),
        "the new tour's own policy and rules start from the configured defaults"
    );
}

async fn a_customer_sees_the_refund_before_cancelling(app: TestApp) {
    let Some(b) = Browser::start(1280, 1400).await else {
        return;
    };
    let (admin, tour, slots) = tour_with(
        &app,
        json!({"timezone": "America/New_York", "cancellation_policy": {"tiers": [
                {"min_hours_before": 72, "refund_percent": 100},
                {"min_hours_before": 24, "refund_percent": 50},
                {"min_hours_before": 0, "refund_percent": 0}], "fee": 2.50}}),
    )
    .await;
    let slot = slots[0];
    let r = app.book(tour, slot, 2, 0, 0).await;
    r.assert_status(201);
    let reference = r.body["booking_reference"]
        .as_str()
        .expect("ref")
        .to_owned();
    let start: DateTime<Utc> = r.body["starts_at"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("starts_at");
    // 48 hours before: the 50 % tier, 82.50 of 165.00 less the 2.50 fee.
    app.clock.freeze(start - Duration::hours(48));
    b.goto(&app.url("/manage")).await;
    b.type_into("#reference", &reference).await;
    b.type_into("#email", "guest@example.com").await;
    b.click("#lookup button[type='submit']").await;
    let text = b.wait_text("[data-refund-quote]", "you get back").await;
    assert!(text.contains("$80.00"), "{text}");
    assert!(text.contains("50 %"), "{text}");
    assert!(text.contains("$2.50 fee"), "{text}");
    // When it drops, in the tour's zone, named.
    let drops = b.wait_text("[data-refund-drops]", "drops to 0 %").await;
    let ends = (start - Duration::hours(24)).with_timezone(&chrono_tz::America::New_York);
    assert!(drops.contains("(America/New_York)"), "{drops}");
    assert!(drops.contains(&ends.format("%H:%M").to_string()), "{drops}");
    b.screenshot("refund-quote", app.backend).await;
    b.click("#cancel button[type='submit']").await;
    // The confirmation names the amount before anything happens.
    let mut alert = String::new();
    for _ in 0..50 {
        if let Ok(t) = b.d().get_alert_text().await {
            alert = t;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(alert.contains("$80.00"), "{alert}");
    let id = r.body["id"].as_i64().expect("id");
    let before = app.get_booking(&admin, id).await;
    assert_eq!(
        before.body["status"], "pending",
        "nothing happens before the confirmation"
    );
    b.d()
        .accept_alert()
        .await
        .expect("confirm the cancellation");
    let done = b.wait_text("#booking", "Your booking is cancelled").await;
    assert!(done.contains("Refund: $80.00"), "{done}");
    app.clock.freeze(Utc::now());
    let after = app.get_booking(&admin, id).await;
    assert_eq!(after.body["status"], "cancelled");
    assert_eq!(after.body["refund_amount"], 80.0);
    b.quit().await;
}

async fn the_party_step_shows_age_bands_and_refuses_a_broken_rule_inline(app: TestApp) {
    let Some(b) = Browser::start(1280, 1100).await else {
        return;
    };
    let (_, tour, slots) =
        tour_with(&app, json!({"party_rules": {"max_minors_per_adult": 2}})).await;
    let slot = slots[0];
    let date = day(8);
    open_calendar_at(&b, &app, tour, &date).await;
    b.click(&format!("{CAL} >>> td[data-date='{date}']")).await;
    b.click(&format!("{CAL} >>> .slot[data-slot='{slot}']"))
        .await;
    b.click(&format!("{FLOW} >>> [data-act='next']")).await;
    // The bands come from INFANT_MAX_AGE / CHILD_MAX_AGE; the rule is said.
    let step = b
        .wait_text(&format!("{FLOW} >>> [data-party-rules]"), "every 2")
        .await;
    assert!(step.contains("At least one adult"), "{step}");
    let labels = b
        .js(
            "return deep(arguments[0]).textContent;",
            vec![json!(format!("{FLOW} >>> label[for='p-children']"))],
        )
        .await;
    assert!(
        labels.json().as_str().unwrap_or("").contains("3–12"),
        "{:?}",
        labels.json()
    );
    // One adult (of the default two) and three children breaks it: said
    // inline, naming the rule, and Continue is off.
    b.click(&format!("{FLOW} >>> [data-dec='adults']")).await;
    for _ in 0..3 {
        b.click(&format!("{FLOW} >>> [data-inc='children']")).await;
    }
    let err = b
        .wait_text(&format!("{FLOW} >>> .price [role='alert']"), "adult")
        .await;
    assert!(err.contains("every 2"), "{err}");
    let disabled = b
        .js(
            "return deep(arguments[0]).disabled;",
            vec![json!(format!("{FLOW} >>> [data-act='next']"))],
        )
        .await;
    assert_eq!(disabled.json(), &json!(true));
    b.screenshot("party-rule-inline", app.backend).await;
    // Back within the rule, the price comes back and Continue is on.
    b.click(&format!("{FLOW} >>> [data-dec='children']")).await;
    b.wait_until(&format!(
        "deep({}) && !deep({}).disabled",
        json!(format!("{FLOW} >>> [data-total]")),
        json!(format!("{FLOW} >>> [data-act='next']"))
    ))
    .await;
    b.quit().await;
}

async fn the_console_history_says_how_a_refund_was_worked_out(app: TestApp) {
    let Some(b) = Browser::start(1280, 1100).await else {
        return;
    };
    app.ctx
        .accounts()
        .ensure_admin(
            "rules-admin@example.com",
            "admin password 123",
            "Rules Admin",
        )
        .await
        .expect("admin");
    let admin = app
        .login_token("rules-admin@example.com", "admin password 123")
        .await;
    let (_, tour, slots) = tour_with(
        &app,
        json!({"cancellation_policy": {"tiers": [
                {"min_hours_before": 24, "refund_percent": 50},
                {"min_hours_before": 0, "refund_percent": 0}]}}),
    )
    .await;
    let slot = slots[0];
    // 3 adults (247.50), then 1 (82.50): two removed at 50 %.
    let r = app.book(tour, slot, 3, 0, 0).await;
    r.assert_status(201);
    let id = r.body["id"].as_i64().expect("id");
    let token = r.body["manage_token"].as_str().expect("token").to_owned();
    app.send(
        reqwest::Method::PUT,
        &paths::booking(id),
        Some(&json!({"new_num_adults": 1})),
        &[("X-Manage-Token", token.as_str())],
    )
    .await
    .assert_status(200);
    app.cancel_booking(
        &admin,
        id,
        Some(&json!({"refund_amount": 60, "cancellation_reason": "Goodwill"})),
    )
    .await
    .assert_status(200);
    log_in_to_console(&b, &app, "rules-admin@example.com", "admin password 123").await;
    b.goto(&app.url(&format!("/admin#booking/{id}"))).await;
    let text = b.wait_text("#view", "Refund for people removed").await;
    assert!(text.contains("$82.50"), "{text}");
    assert!(text.contains("50 % of $165.00"), "{text}");
    assert!(
        text.contains("set by the operator (the policy gave $41.25): Goodwill"),
        "{text}"
    );
    assert!(text.contains("$60.00"), "{text}");
    b.quit().await;
}
