//! Calendar files (issue #15): a booking's `.ics` and a tour's departures
//! feed, read back with two independent parsers (the `icalendar` crate and
//! the `ical` crate) and checked against chrono-tz and the server's own UTC
//! instants. The tour runs in Europe/Madrid with departures two days on
//! each side of the next DST change after the test clock's now; the clock
//! is moved to ten days before that change, so nothing depends on today.

use std::collections::BTreeMap;
use std::io::BufReader;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use icalendar::{CalendarDateTime, Component, DatePerhapsTime, EventStatus};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tourdesk_service::Clock;

use crate::both_backends;
use crate::helpers::{TestApp, TestResponse, paths};

both_backends!(
    a_booking_file_shows_local_time_with_its_zone_on_both_sides_of_a_dst_change,
    a_booking_file_grows_its_sequence_with_each_change_and_cancels,
    a_booking_file_opens_exactly_like_the_booking,
    feed_tokens_are_created_listed_and_revoked_by_admins,
    the_departures_feed_counts_people_and_follows_changes,
);

const TZ: Tz = chrono_tz::Europe::Madrid;

/// Seconds east of UTC in `tz` at local noon of `d`.
fn noon_offset(tz: Tz, d: NaiveDate) -> i32 {
    let noon = d.and_hms_opt(12, 0, 0).expect("noon");
    tz.from_local_datetime(&noon)
        .single()
        .expect("noon is never ambiguous")
        .offset()
        .fix()
        .local_minus_utc()
}

/// The local date of the first change of offset in `tz` after `after`.
fn next_dst_change(tz: Tz, after: DateTime<Utc>) -> NaiveDate {
    let mut d = after.with_timezone(&tz).date_naive();
    for _ in 0..400 {
        let next = d + Duration::days(1);
        if noon_offset(tz, next) != noon_offset(tz, d) {
            return next;
        }
        d = next;
    }
    panic!("{tz} changes offset at least once a year")
}

/// A tour in Madrid with a daily 09:00 departure (three hours) from three
/// days before the next DST change to three days after it.
struct DstTour {
    admin: String,
    tour: i64,
    /// The local date the offset changes.
    change: NaiveDate,
    /// Departure ids by date.
    slots: BTreeMap<NaiveDate, i64>,
    /// Each departure's start as the server placed it (UTC).
    starts: BTreeMap<i64, DateTime<Utc>>,
}

impl DstTour {
    fn slot(&self, days_from_change: i64) -> i64 {
        self.slots[&(self.change + Duration::days(days_from_change))]
    }
}

async fn dst_tour(app: &TestApp) -> DstTour {
    // A week of room, so that two days before the change is bookable.
    let change = next_dst_change(TZ, app.clock.now() + Duration::days(7));
    let ten_days_before = TZ
        .from_local_datetime(&(change - Duration::days(10)).and_hms_opt(12, 0, 0).unwrap())
        .single()
        .expect("noon")
        .with_timezone(&Utc);
    app.clock.advance(ten_days_before - app.clock.now());
    let admin = app.admin().await;
    let tour = app
        .tour(
            &admin,
            json!({
                "name": "Madrid de los Austrias, on foot",
                "timezone": "Europe/Madrid",
                "description": "Meet at the bear statue; Puerta del Sol.\nWear good shoes.",
            }),
        )
        .await;
    let (from, to) = (change - Duration::days(3), change + Duration::days(3));
    let schedule = app
        .schedule(
            &admin,
            tour,
            &from.to_string(),
            json!({"valid_until": to.to_string(), "max_capacity": 15}),
        )
        .await;
    app.generate(&admin, schedule, &from.to_string(), &to.to_string())
        .await
        .assert_status(200);
    let r = app
        .get(&format!(
            "/api/calendar/tours/{tour}/slots?start_date={from}&end_date={to}"
        ))
        .await;
    r.assert_status(200);
    let mut slots = BTreeMap::new();
    let mut starts = BTreeMap::new();
    for s in r.body.as_array().expect("slots") {
        let id = s["id"].as_i64().expect("id");
        let date: NaiveDate = s["slot_date"].as_str().unwrap().parse().unwrap();
        let at: DateTime<Utc> = s["starts_at"].as_str().unwrap().parse().unwrap();
        slots.insert(date, id);
        starts.insert(id, at);
    }
    assert_eq!(slots.len(), 7, "{}", r.text);
    DstTour {
        admin,
        tour,
        change,
        slots,
        starts,
    }
}

/// Books `adults` on `slot` as a guest; returns the booking.
async fn book(app: &TestApp, t: &DstTour, slot: i64, adults: i64) -> Value {
    let r = app.book(t.tour, slot, adults, 0, 0).await;
    r.assert_status(201);
    r.body
}

fn ics_path(id: i64) -> String {
    format!("/api/calendar/bookings/{id}/ics")
}

async fn get_with_token(app: &TestApp, path: &str, manage_token: &str) -> TestResponse {
    app.send(Method::GET, path, None, &[("x-manage-token", manage_token)])
        .await
}

/// A calendar answer: 200, `text/calendar; charset=utf-8`, an attachment.
#[track_caller]
fn assert_calendar(r: &TestResponse, filename: &str) {
    r.assert_status(200);
    assert_eq!(
        r.headers["content-type"], "text/calendar; charset=utf-8",
        "{:?}",
        r.headers
    );
    assert_eq!(
        r.headers["content-disposition"],
        format!("attachment; filename=\"{filename}\"").as_str()
    );
    assert!(r.text.starts_with("BEGIN:VCALENDAR\r\n"), "{}", r.text);
}

/// The file parsed by the `icalendar` crate.
fn parse(text: &str) -> icalendar::Calendar {
    text.parse().unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn events(cal: &icalendar::Calendar) -> Vec<&icalendar::Event> {
    cal.events().collect()
}

/// An event's local start or end with its TZID.
fn local(when: Option<DatePerhapsTime>) -> (NaiveDateTime, String) {
    match when {
        Some(DatePerhapsTime::DateTime(CalendarDateTime::WithTimezone { date_time, tzid })) => {
            (date_time, tzid)
        }
        other => panic!("not a local time with TZID: {other:?}"),
    }
}

/// The same file through the `ical` crate, an independent parser.
fn parse_independently(text: &str) -> ical::parser::ical::component::IcalCalendar {
    let mut parser = ical::IcalParser::new(BufReader::new(text.as_bytes()));
    let cal = parser
        .next()
        .expect("one calendar")
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(parser.next().is_none(), "exactly one calendar");
    cal
}

fn value(props: &[ical::property::Property], name: &str) -> Option<String> {
    props
        .iter()
        .find(|p| p.name == name)
        .and_then(|p| p.value.clone())
}

fn param(props: &[ical::property::Property], name: &str, key: &str) -> Option<String> {
    props
        .iter()
        .find(|p| p.name == name)
        .and_then(|p| p.params.as_ref())
        .and_then(|ps| ps.iter().find(|(k, _)| k == key))
        .and_then(|(_, v)| v.first().cloned())
}

/// Seconds east of UTC from an RFC 5545 UTC-OFFSET (`+0100`, `-0430`).
fn offset_seconds(text: &str) -> i32 {
    let sign = if text.starts_with('-') { -1 } else { 1 };
    let digits = &text[1..];
    let h: i32 = digits[0..2].parse().expect("hours");
    let m: i32 = digits[2..4].parse().expect("minutes");
    let s: i32 = digits.get(4..6).map_or(0, |s| s.parse().expect("seconds"));
    sign * (h * 3600 + m * 60 + s)
}

/// The UTC instant of a local time as the file's own VTIMEZONE defines it:
/// the offset of the latest observance that began at or before it. This
/// reads nothing but the file.
fn instant_by_vtimezone(
    cal: &ical::parser::ical::component::IcalCalendar,
    tzid: &str,
    at: NaiveDateTime,
) -> DateTime<Utc> {
    let zone = cal
        .timezones
        .iter()
        .find(|z| value(&z.properties, "TZID").as_deref() == Some(tzid))
        .unwrap_or_else(|| panic!("no VTIMEZONE {tzid}"));
    let mut onsets: Vec<(NaiveDateTime, i32)> = zone
        .transitions
        .iter()
        .map(|t| {
            let start = value(&t.properties, "DTSTART").expect("DTSTART");
            let start = NaiveDateTime::parse_from_str(&start, "%Y%m%dT%H%M%S").expect("local");
            let to = value(&t.properties, "TZOFFSETTO").expect("TZOFFSETTO");
            (start, offset_seconds(&to))
        })
        .collect();
    onsets.sort();
    let offset = onsets
        .iter()
        .rev()
        .find(|(start, _)| *start <= at)
        .map(|(_, o)| *o)
        .unwrap_or_else(|| panic!("no observance covers {at}"));
    Utc.from_utc_datetime(&(at - Duration::seconds(i64::from(offset))))
}

/// The event's start and end, read by both parsers, as local Madrid times
/// and as the instants the file's VTIMEZONE makes of them.
struct Times {
    start: NaiveDateTime,
    end: NaiveDateTime,
    start_utc: DateTime<Utc>,
}

fn times_by_uid(text: &str, uid: &str) -> Times {
    let cal = parse(text);
    let event = events(&cal)
        .into_iter()
        .find(|e| e.get_uid() == Some(uid))
        .unwrap_or_else(|| panic!("no event {uid}"));
    let (start, tzid) = local(event.get_start());
    let (end, end_tzid) = local(event.get_end());
    assert_eq!(tzid, "Europe/Madrid");
    assert_eq!(end_tzid, "Europe/Madrid");
    let other = parse_independently(text);
    let e = other
        .events
        .iter()
        .find(|e| value(&e.properties, "UID").as_deref() == Some(uid))
        .expect("the same event");
    assert_eq!(
        value(&e.properties, "DTSTART"),
        Some(start.format("%Y%m%dT%H%M%S").to_string())
    );
    assert_eq!(
        param(&e.properties, "DTSTART", "TZID").as_deref(),
        Some("Europe/Madrid")
    );
    let start_utc = instant_by_vtimezone(&other, "Europe/Madrid", start);
    // The file's zone and chrono-tz agree on the instant.
    assert_eq!(
        Some(start_utc),
        TZ.from_local_datetime(&start)
            .single()
            .map(|t| t.with_timezone(&Utc)),
        "{uid} at {start}"
    );
    Times {
        start,
        end,
        start_utc,
    }
}

fn at_nine(d: NaiveDate) -> NaiveDateTime {
    d.and_hms_opt(9, 0, 0).expect("09:00")
}

async fn a_booking_file_shows_local_time_with_its_zone_on_both_sides_of_a_dst_change(app: TestApp) {
    let t = dst_tour(&app).await;
    let mut offsets = Vec::new();
    for days in [-2, 2] {
        let slot = t.slot(days);
        let b = book(&app, &t, slot, 2).await;
        let id = b["id"].as_i64().unwrap();
        let reference = b["booking_reference"].as_str().unwrap();
        let token = b["manage_token"].as_str().unwrap();
        let r = get_with_token(&app, &ics_path(id), token).await;
        assert_calendar(&r, &format!("{reference}.ics"));
        let uid = format!("booking-{id}@tourdesk");
        let times = times_by_uid(&r.text, &uid);
        let date = t.change + Duration::days(days);
        // 09:00 to 12:00 on the wall clock in Madrid, whichever side ...
        assert_eq!(times.start, at_nine(date));
        assert_eq!(times.end, date.and_hms_opt(12, 0, 0).unwrap());
        // ... and the instant the server placed the departure at.
        assert_eq!(times.start_utc, t.starts[&slot]);
        offsets.push((times.start.and_utc() - times.start_utc).num_seconds());

        let cal = parse(&r.text);
        assert_eq!(cal.property_value("METHOD"), Some("PUBLISH"));
        let e = events(&cal)[0];
        assert_eq!(e.get_summary(), Some("Madrid de los Austrias, on foot"));
        assert_eq!(e.get_status(), Some(EventStatus::Tentative), "pending");
        assert_eq!(e.get_sequence(), Some(0));
        assert!(e.get_timestamp().is_some(), "DTSTAMP");
        let description = e.get_description().expect("DESCRIPTION");
        assert!(description.contains(reference), "{description}");
        assert!(description.contains("2 adults"), "{description}");
        assert!(
            description.contains("Meet at the bear statue; Puerta del Sol.\nWear good shoes."),
            "{description}"
        );
        // The same UID every time the file is fetched.
        let again = get_with_token(&app, &ics_path(id), token).await;
        assert_eq!(events(&parse(&again.text))[0].get_uid(), Some(uid.as_str()));
    }
    // Two sides of the change: two different offsets, each Madrid's.
    assert_ne!(offsets[0], offsets[1], "{offsets:?}");
    for (days, offset) in [-2, 2].into_iter().zip(&offsets) {
        let d = t.change + Duration::days(days);
        assert_eq!(i64::from(noon_offset(TZ, d)), *offset);
    }
    // The VTIMEZONE holds the change itself with the offsets around it.
    let b = book(&app, &t, t.slot(2), 1).await;
    let r = get_with_token(
        &app,
        &ics_path(b["id"].as_i64().unwrap()),
        b["manage_token"].as_str().unwrap(),
    )
    .await;
    let cal = parse_independently(&r.text);
    assert_eq!(cal.timezones.len(), 1);
    let zone = &cal.timezones[0];
    assert_eq!(
        value(&zone.properties, "TZID").as_deref(),
        Some("Europe/Madrid")
    );
    let (before, after) = (offsets[0] as i32, offsets[1] as i32);
    let onset = zone
        .transitions
        .iter()
        .find(|tr| {
            value(&tr.properties, "DTSTART")
                .is_some_and(|s| s.starts_with(&t.change.format("%Y%m%d").to_string()))
        })
        .unwrap_or_else(|| panic!("no observance begins on {}: {}", t.change, r.text));
    assert_eq!(
        value(&onset.properties, "TZOFFSETFROM").map(|o| offset_seconds(&o)),
        Some(before)
    );
    assert_eq!(
        value(&onset.properties, "TZOFFSETTO").map(|o| offset_seconds(&o)),
        Some(after)
    );
    let daylight = matches!(
        onset.transition,
        ical::parser::ical::component::IcalTimeZoneTransitionType::DAYLIGHT
    );
    assert_eq!(daylight, after > before, "summer time is the later offset");
    // Both kinds of observance, with Madrid's two offsets.
    let kinds: Vec<(bool, i32)> = zone
        .transitions
        .iter()
        .map(|tr| {
            (
                matches!(
                    tr.transition,
                    ical::parser::ical::component::IcalTimeZoneTransitionType::DAYLIGHT
                ),
                offset_seconds(&value(&tr.properties, "TZOFFSETTO").unwrap()),
            )
        })
        .collect();
    assert!(kinds.contains(&(true, 7200)), "{kinds:?}");
    assert!(kinds.contains(&(false, 3600)), "{kinds:?}");
}

async fn a_booking_file_grows_its_sequence_with_each_change_and_cancels(app: TestApp) {
    let t = dst_tour(&app).await;
    let b = book(&app, &t, t.slot(-2), 2).await;
    let id = b["id"].as_i64().unwrap();
    let token = b["manage_token"].as_str().unwrap().to_owned();
    let uid = format!("booking-{id}@tourdesk");
    let fetch = || async {
        let r = get_with_token(&app, &ics_path(id), &token).await;
        r.assert_status(200);
        r.text
    };
    let sequence = |text: &str| events(&parse(text))[0].get_sequence().expect("SEQUENCE");
    let first = fetch().await;
    assert_eq!(sequence(&first), 0);
    // Nothing changed: the same file but for DTSTAMP.
    assert_eq!(sequence(&fetch().await), 0);

    // The customer changes the party.
    app.send(
        Method::PUT,
        &paths::booking(id),
        Some(&json!({"new_num_adults": 3})),
        &[("x-manage-token", token.as_str())],
    )
    .await
    .assert_status(200);
    let text = fetch().await;
    assert_eq!(sequence(&text), 1);
    let e = parse(&text);
    assert!(
        events(&e)[0]
            .get_description()
            .unwrap()
            .contains("3 adults")
    );

    // The operator confirms it.
    app.post_as(
        &t.admin,
        &paths::admin_booking_action(id, "status"),
        &json!({"status": "confirmed"}),
    )
    .await
    .assert_status(200);
    let text = fetch().await;
    assert_eq!(sequence(&text), 2);
    assert_eq!(
        events(&parse(&text))[0].get_status(),
        Some(EventStatus::Confirmed)
    );

    // The customer moves to the departure after the DST change.
    app.send(
        Method::PUT,
        &paths::booking(id),
        Some(&json!({"new_slot_id": t.slot(2)})),
        &[("x-manage-token", token.as_str())],
    )
    .await
    .assert_status(200);
    let text = fetch().await;
    assert_eq!(sequence(&text), 3);
    let times = times_by_uid(&text, &uid);
    assert_eq!(times.start, at_nine(t.change + Duration::days(2)));
    assert_eq!(times.start_utc, t.starts[&t.slot(2)]);

    // The schedule moves its booked departures to 10:00: the booking did
    // not change itself, its event did.
    let schedule = app
        .get_as(&t.admin, paths::ADMIN_SCHEDULES)
        .await
        .body
        .as_array()
        .and_then(|a| a.iter().find(|s| s["tour_id"] == t.tour).cloned())
        .expect("the tour's schedule");
    app.put_as(
        &t.admin,
        &format!(
            "/api/calendar/admin/schedules/{}?apply_to_booked=true",
            schedule["id"]
        ),
        &json!({"start_time": "10:00:00"}),
    )
    .await
    .assert_status(200);
    let text = fetch().await;
    assert_eq!(sequence(&text), 4);
    let times = times_by_uid(&text, &uid);
    assert_eq!(
        times.start,
        (t.change + Duration::days(2))
            .and_hms_opt(10, 0, 0)
            .unwrap()
    );

    // Cancelled: a METHOD:CANCEL for the same UID with a higher SEQUENCE.
    app.send(
        Method::DELETE,
        &paths::booking(id),
        Some(&json!({"cancellation_reason": "Plans changed"})),
        &[("x-manage-token", token.as_str())],
    )
    .await
    .assert_status(200);
    let text = fetch().await;
    let cal = parse(&text);
    assert_eq!(cal.property_value("METHOD"), Some("CANCEL"));
    let e = events(&cal)[0];
    assert_eq!(e.get_uid(), Some(uid.as_str()));
    assert_eq!(e.get_status(), Some(EventStatus::Cancelled));
    assert_eq!(e.get_sequence(), Some(5));
    assert!(e.get_description().unwrap().contains("Plans changed"));
    let other = parse_independently(&text);
    assert_eq!(
        value(&other.properties, "METHOD").as_deref(),
        Some("CANCEL")
    );
    assert_eq!(
        value(&other.events[0].properties, "STATUS").as_deref(),
        Some("CANCELLED")
    );
}

async fn a_booking_file_opens_exactly_like_the_booking(app: TestApp) {
    let t = dst_tour(&app).await;
    let owner = app.customer("owner@example.com").await;
    let stranger = app.customer("stranger@example.com").await;
    let r = app
        .create_booking_as(
            &owner,
            &json!({"tour_id": t.tour, "booking_slot_id": t.slot(-1), "num_adults": 1}),
        )
        .await;
    r.assert_status(201);
    let id = r.body["id"].as_i64().unwrap();
    let token = r.body["manage_token"].as_str().unwrap().to_owned();
    let file = format!("{}.ics", r.body["booking_reference"].as_str().unwrap());
    let path = ics_path(id);

    assert_calendar(&app.get_as(&owner, &path).await, &file);
    assert_calendar(&app.get_as(&t.admin, &path).await, &file);
    assert_calendar(&get_with_token(&app, &path, &token).await, &file);

    // Anyone else gets exactly the answer for an id that does not exist.
    let missing = 987_654_321;
    let unknown = app.get_as(&stranger, &ics_path(missing)).await;
    unknown.assert_error(404, "not_found");
    let refusals = [
        app.get_as(&stranger, &path).await,
        app.get(&path).await,
        get_with_token(&app, &path, "tdm_not_a_token").await,
    ];
    for r in refusals {
        r.assert_error(404, "not_found");
        assert_eq!(
            r.text,
            unknown.text.replace(&missing.to_string(), &id.to_string()),
            "a refusal must look like a missing booking"
        );
        assert_eq!(r.headers["content-type"], unknown.headers["content-type"]);
    }
    // The same rules as the booking itself.
    app.get_booking(&stranger, id)
        .await
        .assert_error(404, "not_found");
}

async fn feed_tokens_are_created_listed_and_revoked_by_admins(app: TestApp) {
    let t = dst_tour(&app).await;
    let other_tour = app.tour(&t.admin, json!({"name": "Toledo day trip"})).await;
    let tokens = |tour: i64| format!("/api/calendar/admin/tours/{tour}/feed-tokens");

    // Admins only.
    let customer = app.customer("guide@example.com").await;
    app.post_as(&customer, &tokens(t.tour), &json!({}))
        .await
        .assert_status(403);
    app.post(&tokens(t.tour), &json!({}))
        .await
        .assert_status(401);
    app.post_as(&t.admin, &tokens(987_654), &json!({}))
        .await
        .assert_error(404, "not_found");
    app.post_as(&t.admin, &tokens(t.tour), &json!({"label": "  "}))
        .await
        .assert_error(422, "validation_error");

    let r = app
        .post_as(&t.admin, &tokens(t.tour), &json!({"label": "Guide: María"}))
        .await;
    r.assert_status(201);
    let maria = r.body["token"].as_str().unwrap().to_owned();
    let maria_id = r.body["id"].as_i64().unwrap();
    assert!(maria.starts_with("tdf_") && maria.len() > 60, "{maria}");
    assert_eq!(r.body["label"], "Guide: María");
    assert_eq!(r.body["active"], true);
    assert_eq!(
        r.body["feed_url"],
        format!(
            "/api/calendar/tours/{}/departures.ics?token={maria}",
            t.tour
        )
    );
    let feed_url = r.body["feed_url"].as_str().unwrap().to_owned();
    // No body at all is fine too.
    let r = app
        .send_as(&t.admin, Method::POST, &tokens(t.tour), None)
        .await;
    r.assert_status(201);
    let desk = r.body["token"].as_str().unwrap().to_owned();
    let r = app
        .post_as(&t.admin, &tokens(other_tour), &json!({"label": "Toledo"}))
        .await;
    r.assert_status(201);
    let toledo = r.body["token"].as_str().unwrap().to_owned();

    // Listed without their secrets; stored only as SHA-256 hashes.
    let list = app.get_as(&t.admin, &tokens(t.tour)).await;
    list.assert_status(200);
    let rows = list.body.as_array().expect("a list");
    assert_eq!(rows.len(), 2, "{}", list.text);
    assert!(rows.iter().all(|row| row.get("token").is_none()));
    assert!(!list.text.contains(&maria) && !list.text.contains(&desk));
    let mut conn = app.ctx.db.read().await.expect("a connection");
    let hashes: Vec<String> = tourdesk_store::on!(conn, c => sqlx::query_scalar(
        "SELECT token_hash FROM calendar_feed_tokens ORDER BY id").fetch_all(c).await)
    .expect("hashes");
    drop(conn);
    let sha = |s: &str| hex::encode(Sha256::digest(s.as_bytes()));
    assert_eq!(hashes, vec![sha(&maria), sha(&desk), sha(&toledo)]);

    // The token opens its own tour's feed, and nothing else.
    let feed =
        |tour: i64, token: &str| format!("/api/calendar/tours/{tour}/departures.ics?token={token}");
    let ok = app.get(&feed_url).await;
    assert_calendar(&ok, &format!("tour-{}-departures.ics", t.tour));
    assert_calendar(
        &app.get(&feed(t.tour, &desk)).await,
        &format!("tour-{}-departures.ics", t.tour),
    );
    let refused = [
        app.get(&feed(t.tour, &toledo)).await,
        app.get(&feed(other_tour, &maria)).await,
        app.get(&feed(t.tour, "tdf_wrong")).await,
        app.get(&feed(987_654, &maria)).await,
    ];
    for r in refused {
        r.assert_error(404, "not_found");
        assert_eq!(r.headers["content-type"], "application/json");
    }
    app.get(&format!("/api/calendar/tours/{}/departures.ics", t.tour))
        .await
        .assert_error(422, "validation_error");

    // Revoked through the other tour: no such token there.
    app.delete_as(
        &t.admin,
        &format!("{}/{maria_id}", tokens(other_tour)),
        None,
    )
    .await
    .assert_error(404, "not_found");
    app.delete_as(&customer, &format!("{}/{maria_id}", tokens(t.tour)), None)
        .await
        .assert_status(403);
    let r = app
        .delete_as(&t.admin, &format!("{}/{maria_id}", tokens(t.tour)), None)
        .await;
    r.assert_status(200);
    assert_eq!(r.body["active"], false);
    let revoked_at = r.body["revoked_at"].clone();
    assert!(revoked_at.is_string(), "{}", r.text);
    app.get(&feed_url).await.assert_error(404, "not_found");
    // The other token still works; revoking again changes nothing.
    app.get(&feed(t.tour, &desk)).await.assert_status(200);
    let again = app
        .delete_as(&t.admin, &format!("{}/{maria_id}", tokens(t.tour)), None)
        .await;
    again.assert_status(200);
    assert_eq!(again.body["revoked_at"], revoked_at);
    let list = app.get_as(&t.admin, &tokens(t.tour)).await;
    let states: Vec<(i64, bool)> = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|row| (row["id"].as_i64().unwrap(), row["active"] == true))
        .collect();
    assert_eq!(states[0], (maria_id, false), "{}", list.text);
    assert!(states[1].1);
}

async fn the_departures_feed_counts_people_and_follows_changes(app: TestApp) {
    let t = dst_tour(&app).await;
    let r = app
        .post_as(
            &t.admin,
            &format!("/api/calendar/admin/tours/{}/feed-tokens", t.tour),
            &json!({"label": "Guides"}),
        )
        .await;
    r.assert_status(201);
    let feed_url = r.body["feed_url"].as_str().unwrap().to_owned();
    let fetch = || async {
        let r = app.get(&feed_url).await;
        r.assert_status(200);
        r.text
    };
    let uid = |slot: i64| format!("departure-{slot}@tourdesk");
    book(&app, &t, t.slot(-2), 3).await;
    book(&app, &t, t.slot(2), 2).await;
    book(&app, &t, t.slot(2), 4).await;

    let text = fetch().await;
    let cal = parse(&text);
    assert_eq!(
        cal.property_value("X-WR-CALNAME"),
        Some("Madrid de los Austrias, on foot departures")
    );
    assert_eq!(cal.property_value("X-WR-TIMEZONE"), Some("Europe/Madrid"));
    let evs = events(&cal);
    assert_eq!(evs.len(), 7, "one event per departure:\n{text}");
    let by_uid: BTreeMap<&str, &icalendar::Event> =
        evs.iter().map(|e| (e.get_uid().unwrap(), *e)).collect();
    let summary = |slot: i64| by_uid[uid(slot).as_str()].get_summary().unwrap().to_owned();
    assert_eq!(
        summary(t.slot(-2)),
        "Madrid de los Austrias, on foot (3 of 15 booked)"
    );
    assert_eq!(
        summary(t.slot(2)),
        "Madrid de los Austrias, on foot (6 of 15 booked)"
    );
    assert_eq!(
        summary(t.slot(0)),
        "Madrid de los Austrias, on foot (0 of 15 booked)"
    );
    let description = by_uid[uid(t.slot(2)).as_str()].get_description().unwrap();
    assert!(
        description.contains("Booked: 6 of 15 places"),
        "{description}"
    );
    assert!(description.contains("Free: 9"), "{description}");
    // Local times with TZID on both sides of the change, as placed.
    for days in [-3, -2, -1, 0, 1, 2, 3] {
        let slot = t.slot(days);
        let times = times_by_uid(&text, &uid(slot));
        assert_eq!(times.start, at_nine(t.change + Duration::days(days)));
        assert_eq!(times.start_utc, t.starts[&slot], "departure {days:+}");
        assert_eq!(
            by_uid[uid(slot).as_str()].get_status(),
            Some(EventStatus::Confirmed)
        );
    }
    let seq = |text: &str, slot: i64| {
        events(&parse(text))
            .into_iter()
            .find(|e| e.get_uid() == Some(uid(slot).as_str()))
            .and_then(|e| e.get_sequence())
            .expect("SEQUENCE")
    };
    // Fetched again: the same UIDs and sequences.
    let again = fetch().await;
    for slot in t.slots.values() {
        assert_eq!(seq(&again, *slot), seq(&text, *slot));
    }

    // More room on one departure: a new SEQUENCE and the new count.
    let before = seq(&text, t.slot(1));
    app.patch_as(
        &t.admin,
        &format!("/api/calendar/admin/slots/{}", t.slot(1)),
        &json!({"max_capacity": 20}),
    )
    .await
    .assert_status(200);
    let text = fetch().await;
    assert!(seq(&text, t.slot(1)) > before);
    assert_eq!(seq(&text, t.slot(0)), seq(&again, t.slot(0)), "untouched");
    let cal = parse(&text);
    let moved = events(&cal)
        .into_iter()
        .find(|e| e.get_uid() == Some(uid(t.slot(1)).as_str()))
        .unwrap()
        .get_summary()
        .unwrap()
        .to_owned();
    assert_eq!(moved, "Madrid de los Austrias, on foot (0 of 20 booked)");

    // A cancelled departure stays, cancelled, with a higher SEQUENCE.
    let before = seq(&text, t.slot(2));
    app.post_as(
        &t.admin,
        &format!("/api/calendar/admin/slots/{}/cancel", t.slot(2)),
        &json!({"reason": "Strike on the metro"}),
    )
    .await
    .assert_status(200);
    let text = fetch().await;
    assert!(seq(&text, t.slot(2)) > before);
    let cal = parse(&text);
    let cancelled = events(&cal)
        .into_iter()
        .find(|e| e.get_uid() == Some(uid(t.slot(2)).as_str()))
        .expect("a cancelled departure stays in the feed");
    assert_eq!(cancelled.get_status(), Some(EventStatus::Cancelled));
    assert_eq!(
        cancelled.get_summary(),
        Some("Cancelled: Madrid de los Austrias, on foot")
    );
    assert!(
        cancelled
            .get_description()
            .unwrap()
            .contains("Strike on the metro")
    );
    let other = parse_independently(&text);
    assert_eq!(
        value(&other.properties, "METHOD").as_deref(),
        Some("PUBLISH")
    );
    assert_eq!(other.timezones.len(), 1);

    // Days later, departures in the past have left the feed.
    let noon_before_change = TZ
        .from_local_datetime(
            &(t.change - Duration::days(1))
                .and_hms_opt(12, 0, 0)
                .unwrap(),
        )
        .single()
        .unwrap()
        .with_timezone(&Utc);
    app.clock.advance(noon_before_change - app.clock.now());
    let text = fetch().await;
    let uids: Vec<String> = events(&parse(&text))
        .iter()
        .map(|e| e.get_uid().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = (-1..=3).map(|d| uid(t.slot(d))).collect();
    assert_eq!(uids, expected);
}
