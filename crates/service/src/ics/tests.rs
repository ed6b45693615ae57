//! Calendar files: what they say, read back by a parser.

use chrono::NaiveDate;
use icalendar::parser::{Component as Parsed, read_calendar, unfold};

use super::*;

fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, m, d)
        .and_then(|d| d.and_hms_opt(h, min, 0))
        .expect("a valid date")
}

fn sample(tz: Tz, start: NaiveDateTime, status: Status) -> Calendar {
    Calendar {
        method: Method::Publish,
        name: Some("Old City, walking; tour".into()),
        tz,
        stamp: Utc.with_ymd_and_hms(2026, 1, 5, 12, 0, 0).unwrap(),
        refresh: Some(Duration::hours(1)),
        events: vec![Event {
            uid: "booking-7@tourdesk".into(),
            sequence: 3,
            status,
            start,
            end: start + Duration::hours(3),
            summary: "Walk, talk; eat".into(),
            description: "Booking ST-1\r\nParty: 2 adults, 1 child\\ok".into(),
            location: None,
            url: None,
            last_modified: None,
            organizer: None,
            attendees: vec![],
        }],
    }
}

fn prop(c: &Parsed<'_>, name: &str) -> Option<String> {
    c.find_prop(name).map(|p| p.val.as_str().to_owned())
}

fn component<'a>(within: &'a [Parsed<'a>], name: &str) -> Vec<&'a Parsed<'a>> {
    within.iter().filter(|x| x.name == name).collect()
}

fn calendar_prop(cal: &icalendar::parser::Calendar<'_>, name: &str) -> Option<String> {
    cal.properties
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.val.as_str().to_owned())
}

#[test]
fn offsets_are_written_as_rfc_5545_says() {
    assert_eq!(utc_offset(3600), "+0100");
    assert_eq!(utc_offset(-16200), "-0430");
    assert_eq!(utc_offset(0), "+0000");
    assert_eq!(utc_offset(3208), "+005328");
    assert_eq!(duration_value(Duration::hours(1)), "PT1H");
    assert_eq!(duration_value(Duration::minutes(90)), "PT90M");
}

#[test]
fn onsets_are_found_to_the_second_with_their_offsets() {
    let tz: Tz = "Europe/Madrid".parse().unwrap();
    let from = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let to = Utc.with_ymd_and_hms(2026, 12, 31, 0, 0, 0).unwrap();
    let found = onsets(tz, from, to);
    assert_eq!(found.len(), 2, "{found:?}");
    // Spring forward: 01:00 UTC, +01:00 -> +02:00.
    assert_eq!(
        found[0].at,
        Utc.with_ymd_and_hms(2026, 3, 29, 1, 0, 0).unwrap()
    );
    assert_eq!(
        (found[0].before.offset, found[0].after.offset),
        (3600, 7200)
    );
    assert!(found[0].after.daylight);
    assert_eq!(found[0].after.name.as_deref(), Some("CEST"));
    // Fall back: 01:00 UTC, +02:00 -> +01:00.
    assert_eq!(
        found[1].at,
        Utc.with_ymd_and_hms(2026, 10, 25, 1, 0, 0).unwrap()
    );
    assert_eq!(
        (found[1].before.offset, found[1].after.offset),
        (7200, 3600)
    );
    assert!(!found[1].after.daylight);
    let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
    assert!(onsets(tokyo, from, to).is_empty());
}

#[test]
fn a_file_parses_back_with_its_event_in_local_time_and_its_zone() {
    let tz: Tz = "America/New_York".parse().unwrap();
    let text = render(&sample(tz, local(2026, 3, 7, 9, 30), Status::Confirmed));
    assert!(text.ends_with("END:VCALENDAR\r\n"));
    assert!(
        text.split("\r\n").all(|l| l.len() <= 75),
        "lines are folded:\n{text}"
    );
    let unfolded = unfold(&text);
    let parsed = read_calendar(&unfolded).expect("parses");
    assert_eq!(calendar_prop(&parsed, "METHOD").as_deref(), Some("PUBLISH"));
    // Escaped in the file by the crate, read back as written.
    assert!(
        text.contains("X-WR-CALNAME:Old City\\, walking\\; tour\r\n"),
        "{text}"
    );
    assert!(text.contains("SUMMARY:Walk\\, talk\\; eat\r\n"), "{text}");
    assert_eq!(
        calendar_prop(&parsed, "X-WR-CALNAME").as_deref(),
        Some("Old City, walking; tour")
    );
    let zones = component(&parsed.components, "VTIMEZONE");
    assert_eq!(zones.len(), 1);
    assert_eq!(prop(zones[0], "TZID").as_deref(), Some("America/New_York"));
    assert!(prop(zones[0], "UID").is_none() && prop(zones[0], "DTSTAMP").is_none());
    // The onset just before the event (Nov 2025) and the one after it
    // (Mar 8 2026, 02:00 local) are both there with their offsets.
    let daylight = component(&zones[0].components, "DAYLIGHT");
    let standard = component(&zones[0].components, "STANDARD");
    assert!(
        daylight
            .iter()
            .any(|d| prop(d, "DTSTART").as_deref() == Some("20260308T020000")
                && prop(d, "TZOFFSETFROM").as_deref() == Some("-0500")
                && prop(d, "TZOFFSETTO").as_deref() == Some("-0400")
                && prop(d, "TZNAME").as_deref() == Some("EDT"))
    );
    assert!(
        standard
            .iter()
            .any(|s| prop(s, "DTSTART").as_deref() == Some("20251102T020000")
                && prop(s, "TZOFFSETFROM").as_deref() == Some("-0400")
                && prop(s, "TZOFFSETTO").as_deref() == Some("-0500"))
    );
    let events = component(&parsed.components, "VEVENT");
    assert_eq!(events.len(), 1);
    let e = events[0];
    let start = e.find_prop("DTSTART").expect("DTSTART");
    assert_eq!(start.val.as_str(), "20260307T093000");
    assert!(
        start
            .params
            .iter()
            .any(|p| p.key == "TZID"
                && p.val.as_ref().map(|v| v.as_str()) == Some("America/New_York"))
    );
    assert_eq!(prop(e, "SEQUENCE").as_deref(), Some("3"));
    assert_eq!(prop(e, "STATUS").as_deref(), Some("CONFIRMED"));
    assert_eq!(prop(e, "DTSTAMP").as_deref(), Some("20260105T120000Z"));
    // A CR LF from a form is a plain line break.
    assert_eq!(prop(e, "SUMMARY").as_deref(), Some("Walk, talk; eat"));
    assert_eq!(
        prop(e, "DESCRIPTION").as_deref(),
        Some("Booking ST-1\nParty: 2 adults, 1 child\\ok")
    );
    // The crate's own reader agrees on the event.
    let cal: icalendar::Calendar = text.parse().expect("parses into the builder's types");
    let ev = cal.events().next().expect("one event");
    assert_eq!(ev.get_summary(), Some("Walk, talk; eat"));
    assert_eq!(ev.get_uid(), Some("booking-7@tourdesk"));
}

#[test]
fn a_zone_without_changes_gets_one_standard_observance() {
    let tz: Tz = "Asia/Tokyo".parse().unwrap();
    let text = render(&sample(tz, local(2026, 7, 1, 9, 0), Status::Tentative));
    let unfolded = unfold(&text);
    let parsed = read_calendar(&unfolded).expect("parses");
    let zone = component(&parsed.components, "VTIMEZONE")[0];
    let standard = component(&zone.components, "STANDARD");
    assert_eq!(standard.len(), 1);
    assert!(component(&zone.components, "DAYLIGHT").is_empty());
    assert_eq!(prop(standard[0], "TZOFFSETTO").as_deref(), Some("+0900"));
    assert_eq!(prop(standard[0], "TZOFFSETFROM").as_deref(), Some("+0900"));
}

#[test]
fn a_cancellation_carries_its_method_and_status() {
    let tz: Tz = "Europe/Madrid".parse().unwrap();
    let mut cal = sample(tz, local(2026, 10, 24, 9, 0), Status::Cancelled);
    cal.method = Method::Cancel;
    cal.events[0].organizer = Some(Person {
        name: "Spirit \"Tours\", Ltd".into(),
        email: "ops@example.com".into(),
    });
    cal.events[0].attendees = vec![Person {
        name: "Ada".into(),
        email: "ada@example.com".into(),
    }];
    let text = render(&cal);
    let unfolded = unfold(&text);
    let parsed = read_calendar(&unfolded).expect("parses");
    assert_eq!(calendar_prop(&parsed, "METHOD").as_deref(), Some("CANCEL"));
    let e = component(&parsed.components, "VEVENT")[0];
    assert_eq!(prop(e, "STATUS").as_deref(), Some("CANCELLED"));
    assert_eq!(
        prop(e, "ORGANIZER").as_deref(),
        Some("mailto:ops@example.com")
    );
    assert!(prop(e, "ATTENDEE").is_some());
}
