//! iCalendar (RFC 5545) files from plain data, with no database in sight:
//! the booking file and the guides' departures feed (`crate::calendar`)
//! render through [`render`], and so can anything else that has the data
//! (an email with the booking attached).
//!
//! A calendar is in one IANA time zone. Its events carry local times with
//! `TZID`, and the file carries the `VTIMEZONE` that defines that zone:
//! every change of offset chrono-tz knows in the year before the first
//! event to the year after the last, each a `STANDARD` or `DAYLIGHT`
//! observance with the offsets before and after, so a client converts each
//! time exactly as the tour's zone does, on either side of a DST change.
//!
//! Lines are built, escaped and folded by the `icalendar` crate. Its
//! calendar writer gives every component a DTSTAMP and a random UID, which
//! a VTIMEZONE must not have, so the BEGIN/END lines of the calendar and of
//! the zone are written here around the crate's properties and events.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::{OffsetComponents, OffsetName, Tz};
use icalendar::{Attendee, CalendarDateTime, Component, EventLike, EventStatus, Property};

/// Who made the files.
pub const PRODID: &str = "-//Tourdesk//Tourdesk calendar files//EN";

/// What a receiving calendar should do with the file (RFC 5546).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Here are events: add them, or update the copies with the same UID.
    Publish,
    /// These events (same UIDs) are cancelled.
    Cancel,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Publish => "PUBLISH",
            Method::Cancel => "CANCEL",
        }
    }
}

/// An event's `STATUS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Tentative,
    Confirmed,
    Cancelled,
}

/// A calendar user: the organizer or an attendee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    pub email: String,
}

/// One `VEVENT`.
#[derive(Debug, Clone)]
pub struct Event {
    /// The same for every version of the event.
    pub uid: String,
    /// Grows with every change (RFC 5545 `SEQUENCE`).
    pub sequence: u32,
    pub status: Status,
    /// Local wall-clock times in the calendar's zone.
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
    pub summary: String,
    pub description: String,
    pub location: Option<String>,
    pub url: Option<String>,
    pub last_modified: Option<DateTime<Utc>>,
    /// With the organizer, the attendees are listed too (an invitation);
    /// without one, neither is.
    pub organizer: Option<Person>,
    pub attendees: Vec<Person>,
}

/// One `VCALENDAR` in one time zone.
#[derive(Debug, Clone)]
pub struct Calendar {
    pub method: Method,
    /// Shown as the calendar's name when subscribed (`X-WR-CALNAME`).
    pub name: Option<String>,
    pub tz: Tz,
    /// When the file was made (each event's `DTSTAMP`).
    pub stamp: DateTime<Utc>,
    /// How often a subscribed client should fetch it again.
    pub refresh: Option<Duration>,
    pub events: Vec<Event>,
}

/// The calendar as an iCalendar document (CRLF line ends, folded lines).
pub fn render(cal: &Calendar) -> String {
    let mut out = String::from("BEGIN:VCALENDAR\r\n");
    let mut props = vec![
        Property::new("VERSION", "2.0"),
        Property::new("PRODID", PRODID),
        Property::new("CALSCALE", "GREGORIAN"),
        Property::new("METHOD", cal.method.as_str()),
    ];
    if let Some(name) = &cal.name {
        props.push(Property::new("X-WR-CALNAME", one_line(name)));
    }
    props.push(Property::new("X-WR-TIMEZONE", cal.tz.name()));
    if let Some(every) = cal.refresh {
        let every = duration_value(every);
        props.push(
            Property::new("REFRESH-INTERVAL", every.as_str())
                .add_parameter("VALUE", "DURATION")
                .done(),
        );
        props.push(Property::new("X-PUBLISHED-TTL", every));
    }
    for p in props {
        push(&mut out, p);
    }
    let (from, to, first) = span(cal);
    write_vtimezone(&mut out, cal.tz, from, to, first);
    for e in &cal.events {
        out.push_str(&event(cal, e).try_into_string().unwrap_or_default());
    }
    out.push_str("END:VCALENDAR\r\n");
    out
}

fn push(out: &mut String, property: Property) {
    let line: Result<String, std::fmt::Error> = property.try_into();
    out.push_str(&line.unwrap_or_default());
}

fn event(cal: &Calendar, e: &Event) -> icalendar::Event {
    let at = |t: NaiveDateTime| CalendarDateTime::WithTimezone {
        date_time: t,
        tzid: cal.tz.name().to_owned(),
    };
    let mut out = icalendar::Event::new();
    out.uid(&e.uid)
        .timestamp(cal.stamp)
        .sequence(e.sequence)
        .starts(at(e.start))
        .ends(at(e.end))
        .summary(&one_line(&e.summary))
        .description(&multiline(&e.description))
        .status(match e.status {
            Status::Tentative => EventStatus::Tentative,
            Status::Confirmed => EventStatus::Confirmed,
            Status::Cancelled => EventStatus::Cancelled,
        });
    if let Some(location) = &e.location {
        out.location(&multiline(location));
    }
    if let Some(url) = &e.url {
        out.url(url);
    }
    if let Some(t) = e.last_modified {
        out.last_modified(t);
    }
    if let Some(organizer) = &e.organizer {
        out.append_property(
            Property::new("ORGANIZER", format!("mailto:{}", organizer.email))
                .add_parameter("CN", &parameter_text(&organizer.name))
                .done(),
        );
        for a in &e.attendees {
            out.attendee(
                Attendee::new(format!("mailto:{}", a.email))
                    .cn(parameter_text(&a.name))
                    .role(icalendar::Role::ReqParticipant),
            );
        }
    }
    out
}

/// Text values break lines with `\n` only (the crate escapes it); a CR
/// from a form would otherwise land in the file raw.
fn multiline(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

/// A parameter value (`CN=`) cannot hold a double quote or a line break.
fn parameter_text(text: &str) -> String {
    one_line(text).replace('"', "'")
}

/// An RFC 5545 duration of whole seconds (`PT1H`, `PT90S`).
fn duration_value(d: Duration) -> String {
    let s = d.num_seconds().max(1);
    match (s % 3600, s % 60) {
        (0, _) => format!("PT{}H", s / 3600),
        (_, 0) => format!("PT{}M", s / 60),
        _ => format!("PT{s}S"),
    }
}

/// The instants the zone definition must cover: a year before the first
/// event to a year after the last (the file's own moment when there is
/// none), and the first event's start.
fn span(cal: &Calendar) -> (DateTime<Utc>, DateTime<Utc>, DateTime<Utc>) {
    let instant = |t: NaiveDateTime| utc_of(cal.tz, t);
    let first = cal.events.iter().map(|e| instant(e.start)).min();
    let last = cal.events.iter().map(|e| instant(e.end)).max();
    let first = first.unwrap_or(cal.stamp);
    let last = last.unwrap_or(cal.stamp).max(first);
    let year = Duration::days(366);
    (first - year, last + year, first)
}

/// The instant a local time names in `tz` (its first occurrence; a time in
/// a gap is read with the offset before the gap).
fn utc_of(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local).earliest() {
        Some(t) => t.with_timezone(&Utc),
        None => {
            let before = observance(tz, Utc.from_utc_datetime(&local) - Duration::days(1));
            Utc.from_utc_datetime(&local) - Duration::seconds(i64::from(before.offset))
        }
    }
}

/// The zone's rule at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Observance {
    /// Seconds east of UTC.
    offset: i32,
    daylight: bool,
    name: Option<String>,
}

fn observance(tz: Tz, at: DateTime<Utc>) -> Observance {
    let o = tz.offset_from_utc_datetime(&at.naive_utc());
    let total = o.base_utc_offset() + o.dst_offset();
    Observance {
        offset: i32::try_from(total.num_seconds()).unwrap_or(0),
        daylight: !o.dst_offset().is_zero(),
        name: o.abbreviation().map(str::to_owned),
    }
}

/// A change of the zone's rule: the first instant the new one applies.
#[derive(Debug, Clone)]
struct Onset {
    at: DateTime<Utc>,
    before: Observance,
    after: Observance,
}

/// Every change of rule in `(from, to]`. A zone's changes are worked out
/// once per calendar year (UTC) and kept: every calendar file and email of
/// a zone asks for the same few years, and the search costs thousands of
/// zone lookups.
fn onsets(tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Onset> {
    let mut out = Vec::new();
    for year in from.year()..=to.year() {
        out.extend(
            year_onsets(tz, year)
                .iter()
                .filter(|o| o.at > from && o.at <= to)
                .cloned(),
        );
    }
    out
}

/// The changes of rule in `(1 January year, 1 January year + 1]` (UTC).
fn year_onsets(tz: Tz, year: i32) -> Arc<Vec<Onset>> {
    type Years = HashMap<(&'static str, i32), Arc<Vec<Onset>>>;
    static KNOWN: LazyLock<Mutex<Years>> = LazyLock::new(Mutex::default);
    let key = (tz.name(), year);
    if let Some(known) = KNOWN.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return known.clone();
    }
    let start = |y: i32| {
        NaiveDate::from_ymd_opt(y, 1, 1)
            .map(|d| d.and_time(NaiveTime::MIN).and_utc())
            .unwrap_or_default()
    };
    let found = Arc::new(search_onsets(tz, start(year), start(year + 1)));
    let mut known = KNOWN.lock().unwrap_or_else(|p| p.into_inner());
    // Bounded: a few zones and years are what anyone asks for.
    if known.len() >= 10_000 {
        known.clear();
    }
    known.insert(key, found.clone());
    found
}

/// Every change of rule in `(from, to]`, found by sampling every six hours
/// and bisecting to the second (zones change at most once in that long).
fn search_onsets(tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Onset> {
    let step = Duration::hours(6);
    let mut out = Vec::new();
    let mut t = second(from.timestamp());
    let mut current = observance(tz, t);
    while t < to {
        let next = (t + step).min(to);
        if observance(tz, next) == current {
            t = next;
            continue;
        }
        // Whole seconds: the old rule holds at `lo`, the new one at `hi`.
        let (mut lo, mut hi) = (t.timestamp(), next.timestamp());
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if observance(tz, second(mid)) == current {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let hi = second(hi);
        let after = observance(tz, hi);
        out.push(Onset {
            at: hi,
            before: current,
            after: after.clone(),
        });
        current = after;
        t = hi;
    }
    out
}

fn second(unix: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix, 0).unwrap_or_default()
}

/// The `VTIMEZONE` for `tz` over `from..=to`: each onset in the span, and
/// (when none precedes the first event) the rule in force at `from`.
fn write_vtimezone(
    out: &mut String,
    tz: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    first_event: DateTime<Utc>,
) {
    let changes = onsets(tz, from, to);
    out.push_str("BEGIN:VTIMEZONE\r\n");
    push(out, Property::new("TZID", tz.name()));
    push(out, Property::new("X-LIC-LOCATION", tz.name()));
    if changes.first().is_none_or(|c| c.at > first_event) {
        let rule = observance(tz, from);
        write_observance(out, from, &rule, &rule);
    }
    for c in &changes {
        write_observance(out, c.at, &c.before, &c.after);
    }
    out.push_str("END:VTIMEZONE\r\n");
}

fn write_observance(out: &mut String, at: DateTime<Utc>, before: &Observance, after: &Observance) {
    let kind = if after.daylight {
        "DAYLIGHT"
    } else {
        "STANDARD"
    };
    // DTSTART is the onset as the wall clock showed it just before.
    let local = at.naive_utc() + Duration::seconds(i64::from(before.offset));
    out.push_str(&format!("BEGIN:{kind}\r\n"));
    push(
        out,
        Property::new("DTSTART", local.format("%Y%m%dT%H%M%S").to_string()),
    );
    push(
        out,
        Property::new("TZOFFSETFROM", utc_offset(before.offset)),
    );
    push(out, Property::new("TZOFFSETTO", utc_offset(after.offset)));
    if let Some(name) = &after.name {
        push(out, Property::new("TZNAME", name.as_str()));
    }
    out.push_str(&format!("END:{kind}\r\n"));
}

/// An RFC 5545 UTC-OFFSET: `+0100`, `-0430`, `+005328` (seconds when any).
fn utc_offset(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let s = seconds.unsigned_abs();
    let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60);
    if sec == 0 {
        format!("{sign}{h:02}{m:02}")
    } else {
        format!("{sign}{h:02}{m:02}{sec:02}")
    }
}

#[cfg(test)]
mod tests;
