//! What customers and the calendar ask most: can this party go on this
//! date, and how full is each day of a month. Answered from the slot
//! counters, read directly or from the calendar cache ([`cache`]), which
//! serves a month only while nothing has been committed since it was read:
//! a change is visible in the next read from any instance.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use tourdesk_domain::availability::{BookingWindow, Level, level};
use tourdesk_store::Tx;
use tourdesk_store::blackouts::BlackoutRow;
use tourdesk_store::slots::{self, SlotRow};
use tourdesk_store::tours;

use crate::ledger::{self, Admission, Tour, Unbookable, load_tour};
use crate::validate::DateRange;
use crate::{Context, ServiceError, ServiceResult};

mod cache;
mod views;

use cache::View;
pub use cache::{Brief, CacheStats, CalendarCache};

/// Why a date is not available, in the order the checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    TourNotFound,
    TourInactive,
    DateBlackedOut,
    NoSlots,
    TooSoon,
    TooFar,
    FullyBooked,
}

impl Reason {
    pub fn code(self) -> &'static str {
        match self {
            Reason::TourNotFound => "tour_not_found",
            Reason::TourInactive => "tour_inactive",
            Reason::DateBlackedOut => "date_blacked_out",
            Reason::NoSlots => "no_slots",
            Reason::TooSoon => "too_soon",
            Reason::TooFar => "too_far",
            Reason::FullyBooked => "fully_booked",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Availability {
    pub tour: Option<Tour>,
    pub slots: Vec<Brief>,
    pub refusal: Option<(Reason, String)>,
    pub waitlist_available: bool,
    /// When refused for that date: departures the party could book instead
    /// (see [`Availability::alternatives`]).
    pub alternatives: Vec<Brief>,
}

/// How far either side of the requested date alternatives are looked for.
const ALTERNATIVES_DAYS: u64 = 14;
/// How many alternatives are offered at most.
const ALTERNATIVES_MAX: usize = 6;

#[derive(Debug, Clone)]
pub struct DaySummary {
    pub date: NaiveDate,
    pub available_spots: i64,
    pub num_time_slots: usize,
    /// Departures that can be booked now (open and inside the booking window).
    pub num_bookable_slots: usize,
    pub has_availability: bool,
    pub level: Level,
    pub min_price: Option<i64>,
    pub blackout: Option<String>,
}

/// A departure with whether a customer could book it now (`None`), or why
/// not, decided by the booking path's rule ([`ledger::bookability`]).
#[derive(Debug, Clone)]
pub struct Departure {
    pub slot: SlotRow,
    pub unbookable: Option<Unbookable>,
}

/// What a tour offers from today on: the lowest price and the first date
/// among departures a customer could book now.
#[derive(Debug, Clone, Copy, Default)]
pub struct Offer {
    pub from_price: Option<i64>,
    pub next_available: Option<NaiveDate>,
}

impl From<slots::OfferRow> for Offer {
    fn from(o: slots::OfferRow) -> Offer {
        Offer {
            from_price: o.from_price,
            next_available: o.next_available,
        }
    }
}

pub struct AvailabilityService<'a>(pub(crate) &'a Context);

/// A refusal, with the tour when there is one.
fn refuse(tour: Option<Tour>, r: Reason, why: String, waitlist: bool) -> Availability {
    Availability {
        tour,
        slots: Vec::new(),
        refusal: Some((r, why)),
        waitlist_available: waitlist,
        alternatives: Vec::new(),
    }
}

fn blackout_on(list: &[BlackoutRow], date: NaiveDate) -> Option<&BlackoutRow> {
    list.iter()
        .find(|b| b.start_date <= date && date <= b.end_date)
}

impl AvailabilityService<'_> {
    fn party_size(&self, n: i64) -> ServiceResult<()> {
        crate::validate::party_size(&self.0.settings, "num_people", n)
    }

    /// The spec's checks, in order: tour exists, is active, date not
    /// blacked out, has slots, is inside the booking window, has room.
    pub async fn check(
        &self,
        tour_id: i64,
        date: NaiveDate,
        num_people: i64,
        time: Option<NaiveTime>,
    ) -> ServiceResult<Availability> {
        self.party_size(num_people)?;
        ledger::check_date("requested_date", date)?;
        let mut conn = self.0.db.read().await?;
        self.check_on(&mut conn, tour_id, date, num_people, time)
            .await
    }

    /// [`Self::check`] on a connection: the tour, the date's blackouts and
    /// its departures are read with one statement
    /// ([`slots::tour_calendar`]), then decided in the spec's order.
    async fn check_on(
        &self,
        conn: &mut Tx,
        tour_id: i64,
        date: NaiveDate,
        num_people: i64,
        time: Option<NaiveTime>,
    ) -> ServiceResult<Availability> {
        let Some(cal) = slots::tour_calendar(conn, tour_id, date, date).await? else {
            return Ok(refuse(
                None,
                Reason::TourNotFound,
                format!("tour {tour_id} not found"),
                false,
            ));
        };
        let tour = Tour::from_row(cal.tour)?;
        let day = cal.slots.iter().map(Brief::of).collect();
        Ok(self.decide(tour, cal.blackouts.first(), day, date, num_people, time))
    }

    /// The spec's checks, in order, on what was read of the tour and the
    /// date: the first active blackout covering it, its departures.
    fn decide(
        &self,
        tour: Tour,
        blackout: Option<&BlackoutRow>,
        day: Vec<Brief>,
        date: NaiveDate,
        num_people: i64,
        time: Option<NaiveTime>,
    ) -> Availability {
        if !tour.row.is_active {
            let why = format!("{} is not currently offered", tour.row.name);
            return refuse(Some(tour), Reason::TourInactive, why, false);
        }
        if let Some(b) = blackout {
            let why = format!("{date} is blacked out: {}", b.name);
            return refuse(Some(tour), Reason::DateBlackedOut, why, false);
        }
        let day: Vec<Brief> = day
            .into_iter()
            .filter(|s| s.gate.is_open() && time.is_none_or(|t| s.start_time == t))
            .collect();
        if day.is_empty() {
            let at = time.map(|t| format!(" at {t}")).unwrap_or_default();
            let why = format!("{} does not run on {date}{at}", tour.row.name);
            return refuse(Some(tour), Reason::NoSlots, why, false);
        }
        let now = self.0.clock.now();
        let refusal =
            |s: &Brief| ledger::refusal_of(self.0, &s.gate, &tour, Admission::Customer, now);
        let in_window: Vec<Brief> = day
            .iter()
            .filter(|s| refusal(s).is_none())
            .cloned()
            .collect();
        if in_window.is_empty() {
            let (reason, why) = match day.iter().find_map(refusal) {
                Some(Unbookable::TooFarAhead) => (
                    Reason::TooFar,
                    format!(
                        "bookings open {} days ahead; {date} is further out",
                        self.0.settings.booking_advance_days
                    ),
                ),
                _ => (
                    Reason::TooSoon,
                    format!(
                        "bookings close {} hours before departure",
                        self.0.settings.booking_cutoff_hours
                    ),
                ),
            };
            return refuse(Some(tour), reason, why, false);
        }
        let fitting: Vec<Brief> = in_window
            .into_iter()
            .filter(|s| s.available_spots >= num_people)
            .collect();
        if fitting.is_empty() {
            let why =
                format!("no departure on {date} has {num_people} spot(s) left; join the waitlist");
            return refuse(Some(tour), Reason::FullyBooked, why, true);
        }
        Availability {
            tour: Some(tour),
            slots: fitting,
            refusal: None,
            waitlist_available: false,
            alternatives: Vec::new(),
        }
    }

    /// [`Self::check`], and when the date cannot take the party
    /// (full, closed, blacked out, no departures, outside the window) for
    /// a tour that is on sale, what it could book instead.
    pub async fn check_with_alternatives(
        &self,
        tour_id: i64,
        date: NaiveDate,
        num_people: i64,
        time: Option<NaiveTime>,
    ) -> ServiceResult<Availability> {
        self.party_size(num_people)?;
        ledger::check_date("requested_date", date)?;
        if let Some(view) = CalendarCache::view(self.0).await
            && let Some(a) = self
                .check_cached(&view, tour_id, date, num_people, time)
                .await?
        {
            return Ok(a);
        }
        let mut conn = self.0.db.read().await?;
        let mut a = self
            .check_on(&mut conn, tour_id, date, num_people, time)
            .await?;
        if a.refusal.is_some()
            && let Some(tour) = a.tour.as_ref().filter(|t| t.row.is_active)
        {
            a.alternatives = self
                .alternatives_on(&mut conn, tour, date, num_people, None)
                .await?;
        }
        Ok(a)
    }

    /// [`Self::check_with_alternatives`] from the calendar cache; None
    /// when the tour is not there (the direct read answers).
    async fn check_cached(
        &self,
        view: &View<'_>,
        tour_id: i64,
        date: NaiveDate,
        num_people: i64,
        time: Option<NaiveTime>,
    ) -> ServiceResult<Option<Availability>> {
        let Some(month) = view.month(tour_id, date).await? else {
            return Ok(None);
        };
        let day = month
            .slots
            .iter()
            .filter(|s| s.slot_date == date)
            .cloned()
            .collect();
        let blackout = blackout_on(&month.blackouts, date);
        let mut a = self.decide(month.tour.clone(), blackout, day, date, num_people, time);
        if a.refusal.is_some()
            && let Some(tour) = a.tour.as_ref().filter(|t| t.row.is_active)
        {
            let now = self.0.clock.now();
            let Some((from, to)) = self.alternatives_range(tour, date, now) else {
                return Ok(Some(a));
            };
            let window = self.booking_window(now);
            let Some(candidates) = view
                .bookable_between(tour_id, (from, to), window, num_people)
                .await?
            else {
                return Ok(None);
            };
            a.alternatives = self.pick_alternatives(candidates, tour, date, num_people, None, now);
        }
        Ok(Some(a))
    }

    /// Alternatives to one departure the party could not have: that
    /// departure's tour and date, in the tour's currency. None when the
    /// departure or its tour is unknown or the tour is off sale.
    pub async fn alternatives_to_slot(
        &self,
        slot_id: i64,
        num_people: i64,
    ) -> ServiceResult<Option<(tourdesk_domain::Currency, Vec<Brief>)>> {
        let mut conn = self.0.db.read().await?;
        let Some((tour_id, date)) = slots::slot_by_id(&mut conn, slot_id)
            .await?
            .map(|s| (s.tour_id, s.slot_date))
        else {
            return Ok(None);
        };
        let Some(row) = tours::tour_by_id(&mut conn, tour_id).await? else {
            return Ok(None);
        };
        let tour = Tour::from_row(row)?;
        if !tour.row.is_active {
            return Ok(None);
        }
        let list = self
            .alternatives_on(&mut conn, &tour, date, num_people, Some(slot_id))
            .await?;
        Ok(Some((tour.currency, list)))
    }

    /// Departures of a tour a customer can book now with room for
    /// `num_people`, other than `except`: the requested day's first, then
    /// the nearest days (earlier before later at the same distance), within
    /// two weeks either side, at most six. The same rule as booking
    /// (`ledger::refusal`) decides what is bookable.
    pub async fn alternatives(
        &self,
        tour_id: i64,
        date: NaiveDate,
        num_people: i64,
        except: Option<i64>,
    ) -> ServiceResult<Vec<Brief>> {
        let mut conn = self.0.db.read().await?;
        let Some(row) = tours::tour_by_id(&mut conn, tour_id).await? else {
            return Ok(Vec::new());
        };
        let tour = Tour::from_row(row)?;
        self.alternatives_on(&mut conn, &tour, date, num_people, except)
            .await
    }

    /// [`Self::alternatives`] for a tour already read.
    async fn alternatives_on(
        &self,
        conn: &mut Tx,
        tour: &Tour,
        date: NaiveDate,
        num_people: i64,
        except: Option<i64>,
    ) -> ServiceResult<Vec<Brief>> {
        let now = self.0.clock.now();
        let Some((from, to)) = self.alternatives_range(tour, date, now) else {
            return Ok(Vec::new());
        };
        let (window_start, window_end) = self.booking_window(now);
        // Only open departures with room inside the window come back; the
        // rule decides.
        let candidates = slots::open_slots_between(
            conn,
            tour.id(),
            from,
            to,
            num_people,
            window_start,
            window_end,
        )
        .await?
        .iter()
        .map(Brief::of)
        .collect();
        Ok(self.pick_alternatives(candidates, tour, date, num_people, except, now))
    }

    /// The dates alternatives to `date` are looked for on: two weeks
    /// either side, cut to what can be booked now. Nothing before the
    /// tour's today or past the booking horizon can be: a date far outside
    /// the window asks nothing (a request for a day a year out used to
    /// read four weeks of departures only to refuse every one).
    fn alternatives_range(
        &self,
        tour: &Tour,
        date: NaiveDate,
        now: DateTime<Utc>,
    ) -> Option<(NaiveDate, NaiveDate)> {
        let span = chrono::Days::new(ALTERNATIVES_DAYS);
        let from = date.checked_sub_days(span)?.max(tour.today(now));
        let to = date.checked_add_days(span)?.min(self.horizon(now));
        (from <= to).then_some((from, to))
    }

    /// The alternatives among `candidates` (in time order): what the rule
    /// lets the party book, other than `except`, nearest to `date` first
    /// (earlier before later at the same distance), at most six.
    fn pick_alternatives(
        &self,
        candidates: Vec<Brief>,
        tour: &Tour,
        date: NaiveDate,
        num_people: i64,
        except: Option<i64>,
        now: DateTime<Utc>,
    ) -> Vec<Brief> {
        let mut out: Vec<Brief> = candidates
            .into_iter()
            .filter(|s| {
                Some(s.id) != except
                    && s.available_spots >= num_people
                    && ledger::refusal_of(self.0, &s.gate, tour, Admission::Customer, now).is_none()
            })
            .collect();
        out.sort_by_key(|s| {
            (
                (s.slot_date - date).num_days().abs(),
                s.slot_date,
                s.start_time,
            )
        });
        out.truncate(ALTERNATIVES_MAX);
        out
    }

    /// The active tours, by name, each with what it offers now: two
    /// statements whatever the number of tours.
    pub async fn tours(&self) -> ServiceResult<Vec<(Tour, Offer)>> {
        let mut conn = self.0.db.read().await?;
        let now = self.0.clock.now();
        let rows = tours::list_tours(&mut conn, true).await?;
        let (window_start, window_end) = self.booking_window(now);
        // From the earliest "today" of any time zone: the window (which
        // starts no earlier than now) leaves out what is behind a tour's
        // own today.
        let from = now.date_naive().pred_opt().unwrap_or(NaiveDate::MIN);
        let mut offers: HashMap<i64, Offer> = slots::offers(
            &mut conn,
            true,
            from,
            self.horizon(now),
            window_start,
            window_end,
        )
        .await?
        .into_iter()
        .map(|o| (o.tour_id, Offer::from(o)))
        .collect();
        drop(conn);
        rows.into_iter()
            .map(|row| {
                let tour = Tour::from_row(row)?;
                let offer = offers.remove(&tour.id()).unwrap_or_default();
                Ok((tour, offer))
            })
            .collect()
    }

    /// One tour (active or not) with what it offers now.
    pub async fn tour(&self, tour_id: i64) -> ServiceResult<(Tour, Offer)> {
        let mut conn = self.0.db.read().await?;
        let tour = load_tour(&mut conn, tour_id).await?;
        let now = self.0.clock.now();
        let until = self.horizon(now);
        let from = tour.today(now);
        // Nothing of a tour off sale is bookable (the rule's first check).
        if !tour.row.is_active || from > until {
            return Ok((tour, Offer::default()));
        }
        let (window_start, window_end) = self.booking_window(now);
        let offer = slots::offer(&mut conn, tour_id, from, until, window_start, window_end).await?;
        Ok((tour, Offer::from(offer)))
    }

    /// The last date a departure a customer could book at `now` can be
    /// on: none after the advance limit is bookable; a day's margin covers
    /// the tour's time zone.
    pub(super) fn horizon(&self, now: DateTime<Utc>) -> NaiveDate {
        let advance = Duration::days(i64::from(self.0.settings.booking_advance_days) + 1);
        now.checked_add_signed(advance)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
            .date_naive()
    }

    /// The starts a customer may book at `now`, inclusive: what
    /// [`ledger::window`] accepts (`BookingWindow::check`), as bounds a
    /// query can compare with (see [`slots::month_summary`]).
    pub(super) fn booking_window(&self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        window_bounds(ledger::window(self.0), now)
    }

    /// What the calendar cache has served and read since start.
    pub fn cache_stats(&self) -> CacheStats {
        self.0.calendar.stats()
    }

    /// Slots whose stored counters disagree with their rows (design
    /// invariant 1); empty when everything is consistent.
    pub async fn drift(&self) -> ServiceResult<Vec<tourdesk_store::capacity::Drift>> {
        let mut conn = self.0.db.read().await?;
        Ok(tourdesk_store::capacity::drift(&mut conn).await?)
    }
}

/// The starts [`BookingWindow::check`] accepts at `now`, inclusive: from
/// the cutoff ahead of `now` to the advance limit.
fn window_bounds(window: BookingWindow, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let after = |d: Duration| {
        now.checked_add_signed(d)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    };
    (
        after(Duration::hours(i64::from(window.cutoff_hours))),
        after(Duration::days(i64::from(window.advance_days))),
    )
}

/// A count from the database as a length.
fn count(n: i64) -> ServiceResult<usize> {
    usize::try_from(n)
        .map_err(|_| ServiceError::internal(format!("a negative count from the database: {n}")))
}

#[cfg(test)]
mod tests;
