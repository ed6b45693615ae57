//! The operator's reports against figures worked out by hand from one
//! known story: two tours in two currencies and time zones, bookings made
//! on three days (one of them just after midnight where its tour runs,
//! still the day before in UTC), a cancellation with a refund and two
//! without, outcomes marked completed and no-show, a waitlist with a
//! claimed offer, an expired one, an open one and a leaver, and a
//! cancelled departure. The clock is frozen at set times of day, so the
//! story is the same whenever the test runs.

use chrono::{DateTime, Days, Duration, NaiveDate, NaiveTime, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Fixture, TestApp, TestResponse, paths};

both_backends!(
    every_report_matches_the_figures_worked_out_by_hand,
    periods_tours_and_callers_are_checked,
);

pub(crate) const PATHS: [&str; 4] = ["daily", "utilization", "waitlist", "no-shows"];

/// What the story left behind.
pub(crate) struct Story {
    pub f: Fixture,
    /// The second tour (EUR, America/New_York), "Harbour Cruise".
    pub cruise: i64,
    /// The day the story starts (UTC, which is also the local date of both
    /// tours at the times bookings are made on it).
    pub d0: NaiveDate,
}

impl Story {
    /// D0 + n, as YYYY-MM-DD.
    pub fn day(&self, n: i64) -> String {
        (self.d0 + Duration::days(n)).to_string()
    }
}

fn at(day: NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
    day.and_time(NaiveTime::from_hms_opt(h, m, 0).expect("time"))
        .and_utc()
}

fn id(r: &TestResponse) -> i64 {
    r.assert_status(201);
    r.body["id"].as_i64().expect("id")
}

fn token(r: &TestResponse) -> String {
    r.body["manage_token"]
        .as_str()
        .expect("manage token")
        .to_owned()
}

async fn set_status(app: &TestApp, admin: &str, booking: i64, steps: &[&str]) {
    for s in steps {
        app.post_as(
            admin,
            &paths::admin_booking_action(booking, "status"),
            &json!({"status": s}),
        )
        .await
        .assert_status(200);
    }
}

async fn guest_cancel(app: &TestApp, booking: i64, token: &str) {
    app.send(
        Method::DELETE,
        &paths::booking(booking),
        None,
        &[("x-manage-token", token)],
    )
    .await
    .assert_status(200);
}

async fn join(app: &TestApp, tour: i64, date: &str, people: i64, email: &str) -> TestResponse {
    let r = app
        .post(
            paths::WAITLIST,
            &json!({"tour_id": tour, "requested_date": date, "num_people": people,
                    "customer_name": "Waiting Will", "customer_email": email}),
        )
        .await;
    r.assert_status(201);
    r
}

async fn entry_status(app: &TestApp, admin: &str, id: i64) -> Value {
    let r = app.get_as(admin, &paths::waitlist_entry(id)).await;
    r.assert_status(200);
    r.body["status"].clone()
}

/// Plays the story (prices: 75.00 USD a person, children 30 % off, 10 %
/// tax; the cruise 100.00 EUR). Bookings (people, total):
/// - D0 09:00 UTC: b1 Old City 2 (165.00, completed), b2 Old City 1
///   (82.50, no-show), b3 Old City 3 (247.50, cancelled D2 with 100.00
///   refunded), b4 cruise 2 (220.00 EUR, cancelled D1, no refund), b5 Old
///   City 4 filling a departure (330.00, cancelled by the guest on D0),
///   b6 Old City 2 claimed from the waitlist (165.00);
/// - D1 10:00 UTC: b7 Old City 1 adult + 1 child (140.25, confirmed);
/// - D1 23:30 UTC (D2 01:30 or 02:30 in Jerusalem, D1 evening in New
///   York): b8 Old City 1 (82.50) counts on D2, b9 cruise 1 (110.00 EUR,
///   completed) on D1; b3 and b4 are cancelled at this instant.
///
/// The waitlist for b5's departure: w1 (2) claims its offer, w2 (2) lets
/// it expire, w3 (1) holds the spots w2 let go, w4 leaves before any offer.
/// The Old City's last departure is cancelled.
pub(crate) async fn play(app: &TestApp) -> Story {
    let d0 = Utc::now().date_naive();
    app.clock.freeze(at(d0, 9, 0));
    let f = app.fixture(4).await;
    let admin = f.admin.clone();
    let first: NaiveDate = f.dates[0].parse().expect("date");
    let cruise = app
        .tour(
            &admin,
            json!({"name": "Harbour Cruise", "base_price": 100.00, "currency": "EUR",
                   "timezone": "America/New_York"}),
        )
        .await;
    let third = (first + Days::new(2)).to_string();
    let schedule = app
        .schedule(
            &admin,
            cruise,
            &f.dates[0],
            json!({"start_time": "14:00:00", "max_capacity": 10, "valid_until": third}),
        )
        .await;
    app.generate(&admin, schedule, &f.dates[0], &third)
        .await
        .assert_status(200);
    let r = app
        .get(&format!(
            "/api/calendar/tours/{cruise}/slots?start_date={}&end_date={third}",
            f.dates[0]
        ))
        .await;
    r.assert_status(200);
    let cruises: Vec<i64> = r
        .body
        .as_array()
        .expect("slots")
        .iter()
        .filter_map(|s| s["id"].as_i64())
        .collect();
    assert_eq!(cruises.len(), 3, "{}", r.text);

    // D0, 09:00 UTC.
    let b1 = app.book(f.tour, f.slots[0], 2, 0, 0).await;
    assert_eq!(b1.body["total_amount"], json!(165.0));
    let b1 = id(&b1);
    let b2 = id(&app.book(f.tour, f.slots[0], 1, 0, 0).await);
    let b3 = app.book(f.tour, f.slots[1], 3, 0, 0).await;
    assert_eq!(b3.body["total_amount"], json!(247.5));
    let b3 = id(&b3);
    let b4 = app.book(cruise, cruises[0], 2, 0, 0).await;
    assert_eq!(b4.body["total_amount"], json!(220.0));
    assert_eq!(b4.body["currency"], "EUR");
    let b4_token = token(&b4);
    let b4 = id(&b4);
    let b5 = app.book(f.tour, f.slots[2], 4, 0, 0).await;
    let b5_token = token(&b5);
    let b5 = id(&b5);
    let w1 = join(app, f.tour, &f.dates[2], 2, "w1@example.com").await;
    let (w1, w1_token) = (id(&w1), token(&w1));
    let w2 = id(&join(app, f.tour, &f.dates[2], 2, "w2@example.com").await);
    let w3 = id(&join(app, f.tour, &f.dates[2], 1, "w3@example.com").await);
    let w4 = join(app, f.tour, &f.dates[2], 1, "w4@example.com").await;
    app.send(
        Method::DELETE,
        &format!("/api/calendar/waitlist/{}", id(&w4)),
        None,
        &[("x-manage-token", token(&w4).as_str())],
    )
    .await
    .assert_status(200);
    guest_cancel(app, b5, &b5_token).await; // 4 free: w1 and w2 hold 2 each
    assert_eq!(entry_status(app, &admin, w1).await, "notified");
    assert_eq!(entry_status(app, &admin, w2).await, "notified");
    assert_eq!(entry_status(app, &admin, w3).await, "active");
    let b6 = app
        .send(
            Method::POST,
            &paths::waitlist_claim(w1),
            Some(&json!({"num_adults": 2})),
            &[("x-manage-token", w1_token.as_str())],
        )
        .await;
    assert_eq!(b6.body["total_amount"], json!(165.0), "{}", b6.text);
    id(&b6);

    // D1, 10:00 UTC: w2's offer has lapsed; its spots go to w3.
    app.clock.freeze(at(d0 + Days::new(1), 10, 0));
    app.ctx
        .waitlist()
        .expire_due()
        .await
        .expect("expire offers");
    assert_eq!(entry_status(app, &admin, w2).await, "expired");
    assert_eq!(entry_status(app, &admin, w3).await, "notified");
    let b7 = app.book(f.tour, f.slots[3], 1, 1, 0).await;
    assert_eq!(b7.body["total_amount"], json!(140.25));
    let b7 = id(&b7);
    set_status(app, &admin, b1, &["confirmed", "completed"]).await;
    set_status(app, &admin, b2, &["confirmed", "no_show"]).await;
    set_status(app, &admin, b7, &["confirmed"]).await;

    // D1, 23:30 UTC: already D2 in Jerusalem, still D1 in New York.
    app.clock.freeze(at(d0 + Days::new(1), 23, 30));
    id(&app.book(f.tour, f.slots[4], 1, 0, 0).await);
    let b9 = app.book(cruise, cruises[1], 1, 0, 0).await;
    assert_eq!(b9.body["total_amount"], json!(110.0));
    set_status(app, &admin, id(&b9), &["confirmed", "completed"]).await;
    let r = app
        .cancel_booking(
            &admin,
            b3,
            Some(
                &json!({"refund_amount": "100.00", "cancellation_reason": "Partial refund agreed"}),
            ),
        )
        .await;
    r.assert_status(200);
    guest_cancel(app, b4, &b4_token).await;
    app.post_as(
        &admin,
        &format!("/api/calendar/admin/slots/{}/cancel", f.slots[9]),
        &json!({"reason": "Guide ill"}),
    )
    .await
    .assert_status(200);
    app.assert_consistent().await;
    Story { f, cruise, d0 }
}

pub(crate) async fn report(
    app: &TestApp,
    token: &str,
    path: &str,
    start: &str,
    end: &str,
    tour: Option<i64>,
) -> Value {
    let r = app.get_as(token, &report_url(path, start, end, tour)).await;
    r.assert_status(200);
    r.body
}

pub(crate) fn report_url(path: &str, start: &str, end: &str, tour: Option<i64>) -> String {
    let tour = tour.map(|t| format!("&tour_id={t}")).unwrap_or_default();
    format!("/api/calendar/admin/reports/{path}?start_date={start}&end_date={end}{tour}")
}

/// A day's (or the totals') figures: bookings, people, cancellations,
/// cancelled people, then (currency, gross, revenue) per currency.
fn figures(date: Option<&str>, counts: [i64; 4], money: &[(&str, f64, f64)]) -> Value {
    let mut v = json!({
        "bookings": counts[0], "people": counts[1], "cancellations": counts[2],
        "cancelled_people": counts[3],
        "revenue": money.iter().map(|(c, g, r)| json!({"currency": c, "gross": g, "revenue": r}))
            .collect::<Vec<_>>(),
    });
    if let Some(d) = date {
        v["date"] = json!(d);
    }
    v
}

async fn every_report_matches_the_figures_worked_out_by_hand(app: TestApp) {
    let s = play(&app).await;
    let admin = &s.f.admin;
    let (old_city, cruise) = (s.f.tour, s.cruise);
    let (from, to) = (s.day(-1), s.day(3));

    // Daily, every tour: D0 to D2 hold the story, the days around are zeros.
    let daily = report(&app, admin, "daily", &from, &to, None).await;
    let zero = [("EUR", 0.0, 0.0), ("USD", 0.0, 0.0)];
    assert_eq!(daily["currencies"], json!(["EUR", "USD"]));
    assert_eq!(daily["start_date"], json!(from));
    assert_eq!(daily["tour_id"], Value::Null);
    assert_eq!(
        daily["days"],
        json!([
            figures(Some(&s.day(-1)), [0, 0, 0, 0], &zero),
            figures(
                Some(&s.day(0)),
                [6, 14, 1, 4],
                &[("EUR", 220.0, 0.0), ("USD", 990.0, 560.0)]
            ),
            figures(
                Some(&s.day(1)),
                [2, 3, 1, 2],
                &[("EUR", 110.0, 110.0), ("USD", 140.25, 140.25)]
            ),
            figures(
                Some(&s.day(2)),
                [1, 1, 1, 3],
                &[("EUR", 0.0, 0.0), ("USD", 82.5, 82.5)]
            ),
            figures(Some(&s.day(3)), [0, 0, 0, 0], &zero),
        ])
    );
    assert_eq!(
        daily["totals"],
        figures(
            None,
            [9, 18, 3, 9],
            &[("EUR", 330.0, 110.0), ("USD", 1212.75, 782.75)]
        )
    );
    // Amounts carry their currency's decimals, as everywhere in the API.
    let text = app
        .get_as(admin, &report_url("daily", &from, &to, None))
        .await
        .text;
    assert!(
        text.contains("\"gross\":1212.75,\"revenue\":782.75"),
        "{text}"
    );
    assert!(
        text.contains("\"gross\":330.00,\"revenue\":110.00"),
        "{text}"
    );

    // One tour: its own currency only, its own days.
    let daily = report(&app, admin, "daily", &from, &to, Some(old_city)).await;
    assert_eq!(daily["currencies"], json!(["USD"]));
    assert_eq!(daily["tour_id"], json!(old_city));
    let days: Vec<Value> = daily["days"].as_array().expect("days").clone();
    assert_eq!(days.len(), 5);
    assert_eq!(
        days[1],
        figures(Some(&s.day(0)), [5, 12, 1, 4], &[("USD", 990.0, 560.0)])
    );
    assert_eq!(
        days[2],
        figures(Some(&s.day(1)), [1, 2, 0, 0], &[("USD", 140.25, 140.25)])
    );
    assert_eq!(
        days[3],
        figures(Some(&s.day(2)), [1, 1, 1, 3], &[("USD", 82.5, 82.5)])
    );
    assert_eq!(
        daily["totals"],
        figures(None, [7, 15, 2, 7], &[("USD", 1212.75, 782.75)])
    );
    let daily = report(&app, admin, "daily", &from, &to, Some(cruise)).await;
    assert_eq!(daily["currencies"], json!(["EUR"]));
    assert_eq!(
        daily["days"][1],
        figures(Some(&s.day(0)), [1, 2, 0, 0], &[("EUR", 220.0, 0.0)])
    );
    assert_eq!(
        daily["days"][2],
        figures(Some(&s.day(1)), [1, 1, 1, 2], &[("EUR", 110.0, 110.0)])
    );
    assert_eq!(
        daily["totals"],
        figures(None, [2, 3, 1, 2], &[("EUR", 330.0, 110.0)])
    );

    // Utilization over the fixture's ten days: the cancelled departure is
    // left out; the cruise runs on the first three.
    let (first, last) = (s.f.dates[0].clone(), s.f.dates[9].clone());
    let u = report(&app, admin, "utilization", &first, &last, None).await;
    assert_eq!(
        u["tours"],
        json!([
            {"tour_id": cruise, "tour_name": "Harbour Cruise", "departures": 3, "capacity": 30,
             "booked": 1, "held": 0, "utilization_percent": 3.3},
            {"tour_id": old_city, "tour_name": "Jerusalem Old City Tour", "departures": 9,
             "capacity": 36, "booked": 8, "held": 1, "utilization_percent": 22.2},
        ])
    );
    assert_eq!(
        u["totals"],
        json!({"departures": 12, "capacity": 66, "booked": 9, "held": 1, "utilization_percent": 13.6})
    );
    let departures = u["departures"].as_array().expect("departures");
    let shown: Vec<(String, String, i64, i64, i64, Value)> = departures
        .iter()
        .map(|d| {
            (
                d["slot_date"].as_str().unwrap_or_default().to_owned(),
                d["start_time"].as_str().unwrap_or_default().to_owned(),
                d["tour_id"].as_i64().unwrap_or_default(),
                d["booked"].as_i64().unwrap_or_default(),
                d["held"].as_i64().unwrap_or_default(),
                d["utilization_percent"].clone(),
            )
        })
        .collect();
    let dep = |i: usize, time: &str, tour: i64, booked: i64, held: i64, pct: f64| {
        (
            s.f.dates[i].clone(),
            time.to_owned(),
            tour,
            booked,
            held,
            json!(pct),
        )
    };
    let mut expected = vec![
        dep(0, "09:00:00", old_city, 3, 0, 75.0),
        dep(0, "14:00:00", cruise, 0, 0, 0.0),
        dep(1, "09:00:00", old_city, 0, 0, 0.0),
        dep(1, "14:00:00", cruise, 1, 0, 10.0),
        dep(2, "09:00:00", old_city, 2, 1, 50.0),
        dep(2, "14:00:00", cruise, 0, 0, 0.0),
        dep(3, "09:00:00", old_city, 2, 0, 50.0),
        dep(4, "09:00:00", old_city, 1, 0, 25.0),
    ];
    expected.extend((5..9).map(|i| dep(i, "09:00:00", old_city, 0, 0, 0.0)));
    assert_eq!(shown, expected);
    assert_eq!(departures[0]["slot_id"], json!(s.f.slots[0]));
    assert_eq!(departures[0]["capacity"], json!(4));
    let u = report(&app, admin, "utilization", &first, &last, Some(cruise)).await;
    assert_eq!(u["tours"].as_array().map(Vec::len), Some(1));
    assert_eq!(u["departures"].as_array().map(Vec::len), Some(3));
    assert_eq!(u["totals"]["utilization_percent"], json!(3.3));

    // Waitlist: four joined, three were offered spots, one converted.
    let w = report(&app, admin, "waitlist", &first, &last, None).await;
    let old_city_waitlist = json!({"joined": 4, "waiting": 0, "offered": 3, "offer_open": 1,
        "converted": 1, "expired": 1, "cancelled": 1, "conversion_percent": 33.3});
    let mut row = old_city_waitlist.clone();
    row["tour_id"] = json!(old_city);
    row["tour_name"] = json!("Jerusalem Old City Tour");
    assert_eq!(w["tours"], json!([row]));
    assert_eq!(w["totals"], old_city_waitlist);
    let w = report(&app, admin, "waitlist", &first, &last, Some(cruise)).await;
    assert_eq!(w["tours"], json!([]));
    assert_eq!(
        w["totals"],
        json!({"joined": 0, "waiting": 0, "offered": 0, "offer_open": 0, "converted": 0,
               "expired": 0, "cancelled": 0, "conversion_percent": null})
    );
    // The entries waited for the third day: a period without it has none.
    let w = report(&app, admin, "waitlist", &first, &s.f.dates[1], None).await;
    assert_eq!(w["totals"]["joined"], json!(0));

    // No-shows: one of two marked Old City bookings; the cruise's one came.
    let n = report(&app, admin, "no-shows", &first, &last, None).await;
    assert_eq!(
        n["tours"],
        json!([
            {"tour_id": cruise, "tour_name": "Harbour Cruise", "completed": 1, "no_show": 0,
             "unmarked": 0, "no_show_percent": 0.0},
            {"tour_id": old_city, "tour_name": "Jerusalem Old City Tour", "completed": 1,
             "no_show": 1, "unmarked": 0, "no_show_percent": 50.0},
        ])
    );
    assert_eq!(
        n["totals"],
        json!({"completed": 2, "no_show": 1, "unmarked": 0, "no_show_percent": 33.3})
    );
    // Once the fourth departure has started, the claimed booking (third
    // day) and the confirmed one (fourth) are still waiting to be marked.
    let fourth = app.slot(s.f.tour, s.f.slots[3]).await;
    let starts: DateTime<Utc> = fourth["starts_at"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("starts_at");
    app.clock.freeze(starts + Duration::hours(1));
    let admin = app.admin().await;
    let n = report(&app, &admin, "no-shows", &first, &last, Some(old_city)).await;
    assert_eq!(
        n["totals"],
        json!({"completed": 1, "no_show": 1, "unmarked": 2, "no_show_percent": 50.0})
    );
}

async fn periods_tours_and_callers_are_checked(app: TestApp) {
    let f = app.fixture(4).await;
    let today = Utc::now().date_naive();
    let d = |n: u64| (today + Days::new(n)).to_string();
    let customer = app.customer("curious@example.com").await;
    for path in PATHS {
        // Reversed: 422 naming end_date.
        let r = app
            .get_as(&f.admin, &report_url(path, &d(1), &d(0), None))
            .await;
        r.assert_error(422, "validation_error");
        assert_eq!(r.body["field"], "end_date", "{path}: {}", r.text);
        // Two years (731 days) at most.
        app.get_as(&f.admin, &report_url(path, &d(0), &d(730), None))
            .await
            .assert_status(200);
        let r = app
            .get_as(&f.admin, &report_url(path, &d(0), &d(731), None))
            .await;
        r.assert_error(422, "validation_error");
        assert_eq!(r.body["field"], "end_date", "{path}: {}", r.text);
        // Both dates are required.
        app.get_as(
            &f.admin,
            &format!("/api/calendar/admin/reports/{path}?start_date={}", d(0)),
        )
        .await
        .assert_error(422, "validation_error");
        app.get_as(
            &f.admin,
            &format!(
                "/api/calendar/admin/reports/{path}?start_date=2026-02-30&end_date={}",
                d(0)
            ),
        )
        .await
        .assert_error(422, "validation_error");
        // An unknown tour is 404; a known one is fine.
        app.get_as(&f.admin, &report_url(path, &d(0), &d(30), Some(999_999)))
            .await
            .assert_error(404, "not_found");
        app.get_as(&f.admin, &report_url(path, &d(0), &d(30), Some(f.tour)))
            .await
            .assert_status(200);
        // Admins only.
        app.get_as(&customer, &report_url(path, &d(0), &d(30), None))
            .await
            .assert_error(403, "forbidden");
        app.get(&report_url(path, &d(0), &d(30), None))
            .await
            .assert_error(401, "unauthorized");
    }
    // The longest daily report lists every one of its 731 days.
    let daily = report(&app, &f.admin, "daily", &d(0), &d(730), None).await;
    let days = daily["days"].as_array().expect("days");
    assert_eq!(days.len(), 731);
    assert_eq!(days[730]["date"], json!(d(730)));
}
