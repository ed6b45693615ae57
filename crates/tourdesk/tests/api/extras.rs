//! The rolling slot horizon, cross-origin access for embedded components,
//! and the demo operator.

use reqwest::Method;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{TestApp, day, paths};
use chrono::{Duration, TimeZone, Utc};

both_backends!(
    the_rolling_horizon_keeps_schedules_generated_ahead,
    only_allowed_origins_may_call_the_api_from_a_browser,
    the_demo_fills_an_empty_database_once,
    the_demo_seeds_on_every_weekday_at_any_hour,
    a_demo_that_fails_leaves_nothing_behind,
);

async fn the_rolling_horizon_keeps_schedules_generated_ahead(app: TestApp) {
    let admin = app.admin().await;
    let tour = app.tour(&admin, json!({})).await;
    app.schedule(&admin, tour, &day(0), json!({})).await;
    let inactive = app
        .schedule(&admin, tour, &day(0), json!({"start_time": "15:00:00"}))
        .await;
    app.delete_as(&admin, &paths::admin_schedule(inactive), None)
        .await
        .assert_status(200);
    let created = app.ctx.catalog().extend_horizon().await.expect("horizon");
    // Today through BOOKING_ADVANCE_DAYS (90) ahead, in the tour's time zone,
    // for the active schedule only.
    assert!((90..=92).contains(&created), "created {created}");
    assert_eq!(
        app.ctx.catalog().extend_horizon().await.expect("again"),
        0,
        "idempotent"
    );
    let slots = app
        .get(&format!(
            "/api/calendar/tours/{tour}/slots?start_date={}&end_date={}",
            day(-1),
            day(100)
        ))
        .await;
    let open = slots
        .body
        .as_array()
        .expect("slots")
        .iter()
        .filter(|s| s["is_cancelled"] == false)
        .count();
    assert_eq!(open, created);
}

async fn only_allowed_origins_may_call_the_api_from_a_browser(app: TestApp) {
    let Some(app2) = TestApp::spawn(app.backend, |c| {
        c.allowed_origins = vec!["https://spirittours.example".into()]
    })
    .await
    else {
        return;
    };
    for (origin, allowed) in [
        ("https://spirittours.example", true),
        ("https://evil.example", false),
    ] {
        let r = app2
            .send(
                Method::OPTIONS,
                paths::BOOKINGS,
                None,
                &[
                    ("origin", origin),
                    ("access-control-request-method", "POST"),
                    (
                        "access-control-request-headers",
                        "content-type,idempotency-key",
                    ),
                ],
            )
            .await;
        let echoed = r
            .headers
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if allowed {
            assert_eq!(echoed.as_deref(), Some(origin));
            let headers = r
                .headers
                .get("access-control-allow-headers")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_lowercase();
            assert!(headers.contains("idempotency-key"), "{headers}");
        } else {
            assert_eq!(echoed, None, "{origin} must not be allowed");
        }
    }
    let r = app2
        .send(
            Method::GET,
            paths::TOURS,
            None,
            &[("origin", "https://spirittours.example")],
        )
        .await;
    assert_eq!(
        r.headers
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://spirittours.example")
    );
    // The default allows no other origin.
    let r = app
        .send(
            Method::GET,
            paths::TOURS,
            None,
            &[("origin", "https://spirittours.example")],
        )
        .await;
    assert!(r.headers.get("access-control-allow-origin").is_none());
    // The components are served to any page that includes them.
    let js = app.get("/assets/tourdesk.js").await;
    js.assert_status(200);
    assert!(
        js.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/javascript"))
    );
}

async fn the_demo_fills_an_empty_database_once(app: TestApp) {
    let login = tourdesk::demo::seed(&app.ctx, None)
        .await
        .expect("seed")
        .expect("seeded");
    assert!(login.password.is_some());
    let password = login.password.clone().unwrap_or_default();
    let admin = app.login_token(&login.email, &password).await;
    let tours = app.get(paths::TOURS).await;
    let names: Vec<&str> = tours
        .body
        .as_array()
        .expect("tours")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        names.contains(&"Jerusalem Old City Tour")
            && names.contains(&"Dead Sea & Masada")
            && names.contains(&"Galilee & Nazareth")
    );
    let bookings = app
        .get_as(&admin, "/api/calendar/admin/bookings?limit=1")
        .await;
    assert!(
        bookings.body["total"].as_i64().is_some_and(|n| n > 10),
        "{}",
        bookings.text
    );
    let waitlist = app.get_as(&admin, paths::ADMIN_WAITLIST).await;
    assert_eq!(waitlist.body.as_array().map(Vec::len), Some(2));
    let blackouts = app.get_as(&admin, paths::ADMIN_BLACKOUTS).await;
    assert_eq!(blackouts.body.as_array().map(Vec::len), Some(1));
    // The Masada sunrise shows guaranteed departures: its first one needs
    // two more people, its second is guaranteed; the other tours have no
    // minimum.
    let at_risk = app.get_as(&admin, paths::ADMIN_AT_RISK).await;
    let at_risk = at_risk.body.as_array().cloned().unwrap_or_default();
    assert!(
        at_risk
            .iter()
            .all(|s| s["tour_name"] == "Dead Sea & Masada"),
        "{at_risk:?}"
    );
    assert_eq!(at_risk[0]["guarantee"]["needed"], 2, "{:?}", at_risk[0]);
    let sea_id = tours
        .body
        .as_array()
        .and_then(|a| a.iter().find(|t| t["name"] == "Dead Sea & Masada"))
        .and_then(|t| t["id"].as_i64())
        .expect("the Dead Sea tour");
    let slots = app
        .get(&format!(
            "/api/calendar/tours/{sea_id}/slots?start_date={}&end_date={}",
            crate::helpers::day(0),
            crate::helpers::day(40)
        ))
        .await;
    assert!(
        slots
            .body
            .as_array()
            .is_some_and(|a| a.iter().any(|s| s["guarantee"]["status"] == "guaranteed")),
        "{}",
        slots.text
    );
    app.assert_consistent().await;
    // A database that already holds tours is left as it is.
    assert!(
        tourdesk::demo::seed(&app.ctx, None)
            .await
            .expect("second")
            .is_none()
    );
    let again = app
        .get_as(&admin, "/api/calendar/admin/bookings?limit=1")
        .await;
    assert_eq!(again.body["total"], bookings.body["total"]);
}

/// The demo is valid whatever the date: seeded on seven consecutive days
/// (every weekday) at hours spread over the day, on a fresh database each
/// time, it completes with its bookings, its waitlist and its blackout.
async fn the_demo_seeds_on_every_weekday_at_any_hour(app: TestApp) {
    let backend = app.backend;
    drop(app);
    let monday = Utc
        .with_ymd_and_hms(2027, 3, 1, 0, 30, 0)
        .single()
        .expect("a date");
    // With the abuse limits at their defaults, as `serve --demo` runs (the
    // harness turns them off for other tests).
    let defaults = tourdesk::config::Config::defaults();
    for k in 0..7 {
        let Some(app) = TestApp::spawn(backend, |c| {
            c.rate_limit_booking_per_minute = defaults.rate_limit_booking_per_minute;
            c.rate_limit_booking_per_email = defaults.rate_limit_booking_per_email;
            c.max_pending_per_email = defaults.max_pending_per_email;
        })
        .await
        else {
            return;
        };
        let at = monday + Duration::days(k) + Duration::hours(k * 3 + 1);
        app.clock.freeze(at);
        let login = tourdesk::demo::seed(&app.ctx, None)
            .await
            .unwrap_or_else(|e| panic!("the demo failed at {at}: {e:#}"))
            .expect("seeded");
        let admin = app
            .login_token(&login.email, login.password.as_deref().unwrap_or_default())
            .await;
        let bookings = app
            .get_as(&admin, "/api/calendar/admin/bookings?limit=1")
            .await;
        assert!(
            bookings.body["total"].as_i64().is_some_and(|n| n > 10),
            "{at}: {}",
            bookings.text
        );
        let waitlist = app.get_as(&admin, paths::ADMIN_WAITLIST).await;
        assert_eq!(waitlist.body.as_array().map(Vec::len), Some(2), "{at}");
        app.assert_consistent().await;
    }
}

/// A seed that fails half-way (here: a party larger than the configured
/// maximum) erases what it wrote, so the next start can seed again.
async fn a_demo_that_fails_leaves_nothing_behind(app: TestApp) {
    let backend = app.backend;
    drop(app);
    let Some(app) = TestApp::spawn(backend, |c| c.max_booking_size = 2).await else {
        return;
    };
    let err = tourdesk::demo::seed(&app.ctx, None)
        .await
        .err()
        .expect("a party of 3 is over the maximum of 2");
    assert!(format!("{err:#}").contains("nothing was kept"), "{err:#}");
    assert_eq!(app.get(paths::TOURS).await.body, json!([]));
    let mut conn = app.ctx.db.read().await.expect("a connection");
    assert!(
        !tourdesk_store::bulk::holds_operator_data(&mut conn)
            .await
            .expect("count")
    );
}
