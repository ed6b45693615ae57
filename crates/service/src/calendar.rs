//! Calendar files: a booking as an `.ics` file, for whoever may see the
//! booking; and each tour's departures feed for guides and staff, opened by
//! a token an admin creates (shown once, stored as a hash) and can revoke.
//! Reads only; the files are rendered by [`crate::ics`] from plain data,
//! which [`booking_calendar`] and [`departure_event`] make.
//!
//! A booking's `SEQUENCE` is the number of its audit rows after the first
//! (one is written with every change, in the same transaction, a
//! departure's move by a schedule edit included); a departure's is its
//! `revision`, which every statement that changes the row increments.

use chrono::{DateTime, Days, Duration, NaiveDateTime, NaiveTime, Utc};
use tourdesk_domain::booking::BookingStatus;
use tourdesk_domain::contact::required_line;
use tourdesk_store::bookings::BookingRow;
use tourdesk_store::calendar::{self, BookingChanges, DepartureRow, FeedTokenRow};

use crate::accounts::{hash_secret, new_secret};
use crate::caller::{Admin, Caller};
use crate::ics::{self, Method, Status};
use crate::ledger::{self, Tour, load_tour, status_of};
use crate::{Context, ServiceError, ServiceResult};

/// The right-hand side of every UID: calendars tell events apart by it.
pub const UID_DOMAIN: &str = "tourdesk";

/// Most departures one feed lists (the earliest ones).
pub const FEED_LIMIT: i64 = 2000;

/// Longest label of a feed token.
pub const LABEL_MAX: usize = 200;

/// How often a subscribed calendar is asked to fetch a feed again.
pub const FEED_REFRESH_MINUTES: i64 = 60;

/// A rendered file and the name to save it under.
#[derive(Debug, Clone)]
pub struct CalendarFile {
    pub filename: String,
    pub body: String,
}

/// A new feed token: its row, and the secret itself (never stored; shown
/// to the admin this once).
#[derive(Debug, Clone)]
pub struct NewFeedToken {
    pub row: FeedTokenRow,
    pub token: String,
}

pub struct Calendars<'a>(pub(crate) &'a Context);

impl Calendars<'_> {
    /// A booking as an iCalendar file, for its owner, an admin or a holder
    /// of its manage token (anyone else gets the 404 of a missing booking).
    /// Jobs may pass [`Caller::system`].
    pub async fn booking_file(&self, id: i64, caller: &Caller) -> ServiceResult<CalendarFile> {
        // Counted before the booking is read: a change committed in between
        // then bumps the SEQUENCE one fetch early (harmless), never late.
        let changes = {
            let mut conn = self.0.db.read().await?;
            calendar::booking_changes(&mut conn, id).await?
        };
        let booking = self.0.bookings().get(id, caller).await?;
        let mut conn = self.0.db.read().await?;
        let tour = load_tour(&mut conn, booking.tour_id).await?;
        let departure = calendar::departure(&mut conn, booking.booking_slot_id)
            .await?
            .ok_or_else(|| ServiceError::Busy(format!("booking {id} moved meanwhile")))?;
        let cal = booking_calendar(&booking, &tour, &departure, &changes, self.0.clock.now())?;
        Ok(CalendarFile {
            filename: format!("{}.ics", booking.booking_reference),
            body: ics::render(&cal),
        })
    }

    /// A tour's departures from today (where the tour runs) to the booking
    /// horizon, for whoever holds a live feed token of that tour. A wrong,
    /// revoked or other tour's token, and a missing tour, are all the same
    /// 404. Cancelled departures stay in it (STATUS:CANCELLED) until their
    /// date has passed, so subscribed calendars drop them.
    pub async fn departures_feed(&self, tour_id: i64, token: &str) -> ServiceResult<CalendarFile> {
        let refused = || {
            ServiceError::not_found(format!(
                "no departures feed of tour {tour_id} opens with this token"
            ))
        };
        let mut conn = self.0.db.read().await?;
        let token = token.trim();
        if token.is_empty()
            || !calendar::feed_token_opens(&mut conn, tour_id, &hash_secret(token)).await?
        {
            return Err(refused());
        }
        let tour = load_tour(&mut conn, tour_id).await?;
        let now = self.0.clock.now();
        let today = tour.today(now);
        let horizon = today + Days::new(u64::from(self.0.settings.booking_advance_days));
        let rows =
            calendar::departures_between(&mut conn, tour_id, today, horizon, FEED_LIMIT).await?;
        let events = rows.iter().map(|d| departure_event(&tour, d)).collect();
        let cal = ics::Calendar {
            method: Method::Publish,
            name: Some(format!("{} departures", tour.row.name)),
            tz: tour.tz,
            stamp: now,
            refresh: Some(Duration::minutes(FEED_REFRESH_MINUTES)),
            events,
        };
        Ok(CalendarFile {
            filename: format!("tour-{tour_id}-departures.ics"),
            body: ics::render(&cal),
        })
    }

    /// Creates a token that opens the tour's departures feed; `label` says
    /// whose it is (a guide's name, "front desk").
    pub async fn create_feed_token(
        &self,
        _admin: &Admin,
        tour_id: i64,
        label: Option<&str>,
    ) -> ServiceResult<NewFeedToken> {
        let label = match label {
            None => String::new(),
            Some(l) => {
                required_line(l, LABEL_MAX).map_err(|e| ServiceError::invalid("label", e.0))?
            }
        };
        ledger::retry(|| async {
            let now = self.0.clock.now();
            let mut tx = self.0.db.begin().await?;
            load_tour(&mut tx, tour_id).await?;
            let token = new_secret("tdf");
            let row =
                calendar::insert_feed_token(&mut tx, tour_id, &label, &hash_secret(&token), now)
                    .await?;
            tx.commit().await?;
            Ok(NewFeedToken { row, token })
        })
        .await
    }

    /// The tour's feed tokens (never their secrets), revoked ones included.
    pub async fn feed_tokens(
        &self,
        _admin: &Admin,
        tour_id: i64,
    ) -> ServiceResult<Vec<FeedTokenRow>> {
        let mut conn = self.0.db.read().await?;
        load_tour(&mut conn, tour_id).await?;
        Ok(calendar::feed_tokens_of_tour(&mut conn, tour_id).await?)
    }

    /// Revokes a feed token of the tour: from now on it opens nothing.
    /// Revoking a revoked one changes nothing.
    pub async fn revoke_feed_token(
        &self,
        _admin: &Admin,
        tour_id: i64,
        token_id: i64,
    ) -> ServiceResult<FeedTokenRow> {
        ledger::retry(|| async {
            let mut tx = self.0.db.begin().await?;
            let row = calendar::revoke_feed_token(&mut tx, tour_id, token_id, self.0.clock.now())
                .await?
                .ok_or_else(|| {
                    ServiceError::not_found(format!(
                        "feed token {token_id} of tour {tour_id} not found"
                    ))
                })?;
            tx.commit().await?;
            Ok(row)
        })
        .await
    }
}

/// A booking's calendar: one event for its departure, published while the
/// booking stands (tentative while pending) and a `METHOD:CANCEL` once it
/// is cancelled or refunded.
pub fn booking_calendar(
    booking: &BookingRow,
    tour: &Tour,
    departure: &DepartureRow,
    changes: &BookingChanges,
    now: DateTime<Utc>,
) -> ServiceResult<ics::Calendar> {
    let (method, status) = match status_of(booking)? {
        BookingStatus::Pending => (Method::Publish, Status::Tentative),
        BookingStatus::Confirmed | BookingStatus::Completed | BookingStatus::NoShow => {
            (Method::Publish, Status::Confirmed)
        }
        BookingStatus::Cancelled | BookingStatus::Refunded => (Method::Cancel, Status::Cancelled),
    };
    let (start, end) = local_times(departure);
    let mut lines = vec![
        format!("Booking {}", booking.booking_reference),
        format!(
            "Party: {}",
            party(
                booking.party.adults,
                booking.party.children,
                booking.party.infants
            )
        ),
        format!("Status: {}", booking.status.replace('_', " ")),
    ];
    if let (Status::Cancelled, Some(reason)) = (status, &booking.cancellation_reason) {
        lines.push(format!("Cancelled: {reason}"));
    }
    push_tour_description(&mut lines, tour);
    let event = ics::Event {
        uid: format!("booking-{}@{UID_DOMAIN}", booking.id),
        sequence: sequence(changes.changes - 1),
        status,
        start,
        end,
        summary: tour.row.name.clone(),
        description: lines.join("\n"),
        // Tours have no meeting point of their own yet; their description
        // (below the booking's lines) says where to meet.
        location: None,
        url: None,
        last_modified: Some(changes.last_change.unwrap_or(booking.modified_at)),
        organizer: None,
        attendees: Vec::new(),
    };
    Ok(ics::Calendar {
        method,
        name: None,
        tz: tour.tz,
        stamp: now,
        refresh: None,
        events: vec![event],
    })
}

/// A departure in its tour's feed: its times, how full it is, and whether
/// it runs (cancelled, or closed by a blackout or its schedule with nobody
/// on it, it does not).
pub fn departure_event(tour: &Tour, d: &DepartureRow) -> ics::Event {
    let s = &d.slot;
    let cancelled = s.looks_cancelled();
    let (start, end) = local_times(d);
    let summary = if cancelled {
        format!("Cancelled: {}", tour.row.name)
    } else {
        format!(
            "{} ({} of {} booked)",
            tour.row.name, s.current_bookings, s.max_capacity
        )
    };
    let mut lines = vec![format!(
        "Booked: {} of {} places",
        s.current_bookings, s.max_capacity
    )];
    if s.held_spots > 0 {
        lines.push(format!("Held for the waitlist: {}", s.held_spots));
    }
    lines.push(format!("Free: {}", s.available_spots.max(0)));
    if cancelled {
        let why = s.closure_reason().unwrap_or_else(|| "cancelled".into());
        lines.push(format!("Cancelled: {why}"));
    } else if !s.is_open() {
        let why = s
            .closure_reason()
            .unwrap_or_else(|| "closed by the operator".into());
        lines.push(format!(
            "Closed to new bookings ({why}); it runs for those booked"
        ));
    }
    push_tour_description(&mut lines, tour);
    ics::Event {
        uid: format!("departure-{}@{UID_DOMAIN}", s.id),
        sequence: sequence(d.revision),
        status: if cancelled {
            Status::Cancelled
        } else {
            Status::Confirmed
        },
        start,
        end,
        summary,
        description: lines.join("\n"),
        location: None,
        url: None,
        last_modified: None,
        organizer: None,
        attendees: Vec::new(),
    }
}

fn push_tour_description(lines: &mut Vec<String>, tour: &Tour) {
    let about = tour.row.description.trim();
    if !about.is_empty() {
        lines.push(String::new());
        lines.push(about.to_owned());
    }
}

/// An RFC 5545 SEQUENCE: a non-negative 32-bit integer.
fn sequence(n: i64) -> u32 {
    u32::try_from(n.clamp(0, i64::from(i32::MAX))).unwrap_or(0)
}

/// "2 adults, 1 child, 1 infant".
pub fn party(adults: i64, children: i64, infants: i64) -> String {
    let mut parts = Vec::new();
    for (n, one, many) in [
        (adults, "adult", "adults"),
        (children, "child", "children"),
        (infants, "infant", "infants"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {}", if n == 1 { one } else { many }));
        }
    }
    parts.join(", ")
}

/// A departure's local start and end. The row keeps the end's time of day
/// only; the end is the one on the day nearest to the start plus the
/// length the departure was placed with, so tours that end after midnight
/// or run for days end on the right day.
fn local_times(d: &DepartureRow) -> (NaiveDateTime, NaiveDateTime) {
    let start = d.slot.slot_date.and_time(d.slot.start_time);
    (start, local_end(start, d.slot.end_time, d.duration_minutes))
}

fn local_end(start: NaiveDateTime, end_time: NaiveTime, minutes: i64) -> NaiveDateTime {
    let nominal = start + Duration::minutes(minutes.max(1));
    [-1, 0, 1]
        .into_iter()
        .map(|days| (nominal.date() + Duration::days(days)).and_time(end_time))
        .filter(|end| *end > start)
        .min_by_key(|end| (*end - nominal).num_seconds().abs())
        .unwrap_or(nominal)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    fn at(d: u32, h: u32, m: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 3, d)
            .and_then(|d| d.and_hms_opt(h, m, 0))
            .expect("a valid time")
    }

    fn time(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).expect("a valid time")
    }

    #[test]
    fn the_end_lands_on_the_right_day() {
        // Same day.
        assert_eq!(local_end(at(10, 9, 0), time(12, 0), 180), at(10, 12, 0));
        // After midnight.
        assert_eq!(local_end(at(10, 22, 0), time(1, 0), 180), at(11, 1, 0));
        // Exactly a day, and three days.
        assert_eq!(local_end(at(10, 9, 0), time(9, 0), 1440), at(11, 9, 0));
        assert_eq!(
            local_end(at(10, 9, 0), time(11, 0), 3 * 1440 + 120),
            at(13, 11, 0)
        );
        // Over a DST change the wall clock shows an hour more or less.
        assert_eq!(local_end(at(29, 0, 30), time(4, 30), 180), at(29, 4, 30));
        // A schedule that got longer later: the departure keeps its end.
        assert_eq!(local_end(at(10, 9, 0), time(12, 0), 240), at(10, 12, 0));
    }

    #[test]
    fn parties_read_like_english() {
        assert_eq!(party(2, 1, 0), "2 adults, 1 child");
        assert_eq!(party(1, 0, 2), "1 adult, 2 infants");
        assert_eq!(party(3, 2, 1), "3 adults, 2 children, 1 infant");
    }

    #[test]
    fn sequences_stay_in_range() {
        assert_eq!(sequence(-1), 0);
        assert_eq!(sequence(5), 5);
        assert_eq!(sequence(i64::MAX), 2_147_483_647);
    }
}
