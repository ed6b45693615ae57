//! The operator's reports, for admins: bookings, cancellations and revenue
//! per day; utilization per tour and per departure; waitlist conversion;
//! no-shows. Each is one method that reads (the sums are the database's,
//! see `tourdesk_store::reports`) for a period of at most
//! [`MAX_PERIOD_DAYS`], optionally of one tour.
//!
//! Which day counts:
//! - the daily report counts a booking on the day it was made, and a
//!   cancellation on the day it happened, each as a calendar date where
//!   its tour runs (the tour's time zone), so a booking made at 01:00 in
//!   Jerusalem counts on that Jerusalem date whatever UTC says;
//! - utilization and no-shows take the departures dated in the period
//!   (their local date), the waitlist report the entries whose requested
//!   date is in it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use tourdesk_store::reports::{self, DepartureOccupancyRow, NoShowRow, TourOccupancyRow};
use tourdesk_store::tours;

use crate::caller::Admin;
use crate::ledger::{Tour, load_tour};
use crate::validate::DateRange;
use crate::{Context, ServiceResult};

/// The longest period a report covers: two years, a leap day included.
pub const MAX_PERIOD_DAYS: i64 = 731;

/// What every report is asked for: the dates `start..=end`, all tours or one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub tour_id: Option<i64>,
}

impl Period {
    /// How many days the period covers (both ends included).
    pub fn days(&self) -> i64 {
        (self.end - self.start).num_days() + 1
    }

    fn check(&self) -> ServiceResult<()> {
        DateRange::new(self.start, self.end)?.at_most_days(
            MAX_PERIOD_DAYS,
            &format!("a report covers at most {MAX_PERIOD_DAYS} days (two years)"),
        )?;
        Ok(())
    }

    fn dates(&self) -> Vec<NaiveDate> {
        (0..self.days())
            .filter_map(|i| self.start.checked_add_days(Days::new(i as u64)))
            .collect()
    }
}

/// `part` as a percentage of `whole`, rounded half up to one decimal;
/// `None` when `whole` is zero (there is nothing to divide by).
pub fn percent(part: i64, whole: i64) -> Option<f64> {
    if whole <= 0 {
        return None;
    }
    let tenths = (part.saturating_mul(1000) + whole / 2) / whole;
    Some(tenths as f64 / 10.0)
}

/// Money in one currency, in minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revenue {
    pub currency: String,
    /// The total of every booking made.
    pub gross: i64,
    /// What those bookings bring: the total of those not cancelled, plus
    /// for cancelled ones what was not refunded (nothing when no refund
    /// amount was recorded: they count as refunded in full).
    pub revenue: i64,
}

/// One day's figures, or the period's.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DailyFigures {
    /// Bookings made (whatever became of them since).
    pub bookings: i64,
    /// People on those bookings.
    pub people: i64,
    /// Bookings cancelled.
    pub cancellations: i64,
    /// People on those.
    pub cancelled_people: i64,
    /// One entry per currency of the report, in its order.
    pub revenue: Vec<Revenue>,
}

#[derive(Debug, Clone)]
pub struct DailyReport {
    pub period: Period,
    /// The currencies of the tours reported on and of their bookings.
    pub currencies: Vec<String>,
    /// Every day of the period, in order, days without anything included.
    pub days: Vec<(NaiveDate, DailyFigures)>,
    pub totals: DailyFigures,
}

/// Departures added up: how full they were.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Occupancy {
    pub departures: i64,
    pub capacity: i64,
    pub booked: i64,
    pub held: i64,
}

impl Occupancy {
    /// People booked as a percentage of capacity (held places not counted).
    pub fn utilization(&self) -> Option<f64> {
        percent(self.booked, self.capacity)
    }
}

#[derive(Debug, Clone)]
pub struct TourUtilization {
    pub tour_id: i64,
    pub tour_name: String,
    pub occupancy: Occupancy,
}

#[derive(Debug, Clone)]
pub struct UtilizationReport {
    pub period: Period,
    pub tours: Vec<TourUtilization>,
    pub departures: Vec<DepartureOccupancyRow>,
    pub totals: Occupancy,
}

/// Waitlist entries by what became of them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WaitlistFigures {
    pub joined: i64,
    pub waiting: i64,
    pub offered: i64,
    pub offer_open: i64,
    pub converted: i64,
    pub expired: i64,
    pub cancelled: i64,
}

impl WaitlistFigures {
    /// Converted as a percentage of the entries offered spots.
    pub fn conversion(&self) -> Option<f64> {
        percent(self.converted, self.offered)
    }
}

#[derive(Debug, Clone)]
pub struct TourWaitlist {
    pub tour_id: i64,
    pub tour_name: String,
    pub figures: WaitlistFigures,
}

#[derive(Debug, Clone)]
pub struct WaitlistReport {
    pub period: Period,
    pub tours: Vec<TourWaitlist>,
    pub totals: WaitlistFigures,
}

/// Outcomes of bookings on departures.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NoShowFigures {
    pub completed: i64,
    pub no_show: i64,
    pub unmarked: i64,
}

impl NoShowFigures {
    /// No-shows as a percentage of the bookings marked either way.
    pub fn rate(&self) -> Option<f64> {
        percent(self.no_show, self.completed + self.no_show)
    }
}

#[derive(Debug, Clone)]
pub struct TourNoShows {
    pub tour_id: i64,
    pub tour_name: String,
    pub figures: NoShowFigures,
}

#[derive(Debug, Clone)]
pub struct NoShowReport {
    pub period: Period,
    pub tours: Vec<TourNoShows>,
    pub totals: NoShowFigures,
}

pub struct Reports<'a>(pub(crate) &'a Context);

impl Reports<'_> {
    /// Checks the period and that its tour exists (404 otherwise); returns
    /// the tours it covers.
    async fn open(&self, period: &Period) -> ServiceResult<(tourdesk_store::Tx, Vec<Tour>)> {
        period.check()?;
        let mut conn = self.0.db.read().await?;
        let tours = match period.tour_id {
            Some(id) => vec![load_tour(&mut conn, id).await?],
            None => tours::list_tours(&mut conn, false)
                .await?
                .into_iter()
                .map(Tour::from_row)
                .collect::<ServiceResult<_>>()?,
        };
        Ok((conn, tours))
    }

    /// Per day of the period: bookings made, people on them, cancellations,
    /// and revenue per currency (see [`Revenue`]); each counted on the
    /// tour's local date.
    pub async fn daily(&self, _admin: &Admin, period: Period) -> ServiceResult<DailyReport> {
        let (mut conn, tours) = self.open(&period).await?;
        let mut currencies: BTreeSet<String> =
            tours.iter().map(|t| t.currency.code().to_owned()).collect();
        // One statement per time zone: the windows of a local day are the
        // zone's own.
        let mut zones: BTreeMap<&str, Tz> = BTreeMap::new();
        for t in &tours {
            zones.insert(t.row.timezone.as_str(), t.tz);
        }
        let mut made: Vec<reports::BookingsMadeRow> = Vec::new();
        let mut cancelled: Vec<reports::CancellationsRow> = Vec::new();
        for (name, tz) in zones {
            let starts = day_starts(tz, &period);
            made.extend(reports::bookings_made(&mut conn, name, period.tour_id, &starts).await?);
            cancelled
                .extend(reports::cancellations(&mut conn, name, period.tour_id, &starts).await?);
        }
        currencies.extend(made.iter().map(|r| r.currency.clone()));
        let currencies: Vec<String> = currencies.into_iter().collect();
        let blank = || DailyFigures {
            revenue: currencies
                .iter()
                .map(|c| Revenue {
                    currency: c.clone(),
                    gross: 0,
                    revenue: 0,
                })
                .collect(),
            ..DailyFigures::default()
        };
        let mut days: Vec<(NaiveDate, DailyFigures)> =
            period.dates().into_iter().map(|d| (d, blank())).collect();
        let mut totals = blank();
        for r in &made {
            let Some((_, day)) = usize::try_from(r.day).ok().and_then(|i| days.get_mut(i)) else {
                continue;
            };
            let at = currencies.iter().position(|c| *c == r.currency);
            for f in [day, &mut totals] {
                f.bookings += r.bookings;
                f.people += r.people;
                if let Some(m) = at.and_then(|i| f.revenue.get_mut(i)) {
                    m.gross += r.gross;
                    m.revenue += r.revenue;
                }
            }
        }
        for r in &cancelled {
            let Some((_, day)) = usize::try_from(r.day).ok().and_then(|i| days.get_mut(i)) else {
                continue;
            };
            for f in [day, &mut totals] {
                f.cancellations += r.cancellations;
                f.cancelled_people += r.people;
            }
        }
        Ok(DailyReport {
            period,
            currencies,
            days,
            totals,
        })
    }

    /// The departures dated in the period that run (not cancelled,
    /// withdrawn from their schedule or blacked out): per tour and each,
    /// capacity, people booked and places held for the waitlist.
    pub async fn utilization(
        &self,
        _admin: &Admin,
        period: Period,
    ) -> ServiceResult<UtilizationReport> {
        let (mut conn, _) = self.open(&period).await?;
        let by_tour =
            reports::occupancy_by_tour(&mut conn, period.start, period.end, period.tour_id).await?;
        let departures =
            reports::occupancy_by_departure(&mut conn, period.start, period.end, period.tour_id)
                .await?;
        let mut totals = Occupancy::default();
        let tours = by_tour
            .into_iter()
            .map(|r: TourOccupancyRow| {
                let occupancy = Occupancy {
                    departures: r.departures,
                    capacity: r.capacity,
                    booked: r.booked,
                    held: r.held,
                };
                totals.departures += occupancy.departures;
                totals.capacity += occupancy.capacity;
                totals.booked += occupancy.booked;
                totals.held += occupancy.held;
                TourUtilization {
                    tour_id: r.tour_id,
                    tour_name: r.tour_name,
                    occupancy,
                }
            })
            .collect();
        Ok(UtilizationReport {
            period,
            tours,
            departures,
            totals,
        })
    }

    /// Waitlist entries for dates in the period, per tour: joined, still
    /// waiting, offered spots, holding an offer now, converted into a
    /// booking, let the offer expire, left.
    pub async fn waitlist(&self, _admin: &Admin, period: Period) -> ServiceResult<WaitlistReport> {
        let (mut conn, _) = self.open(&period).await?;
        let rows =
            reports::waitlist_outcomes(&mut conn, period.start, period.end, period.tour_id).await?;
        let mut totals = WaitlistFigures::default();
        let tours = rows
            .into_iter()
            .map(|r| {
                let figures = WaitlistFigures {
                    joined: r.joined,
                    waiting: r.waiting,
                    offered: r.offered,
                    offer_open: r.offer_open,
                    converted: r.converted,
                    expired: r.expired,
                    cancelled: r.cancelled,
                };
                totals.joined += figures.joined;
                totals.waiting += figures.waiting;
                totals.offered += figures.offered;
                totals.offer_open += figures.offer_open;
                totals.converted += figures.converted;
                totals.expired += figures.expired;
                totals.cancelled += figures.cancelled;
                TourWaitlist {
                    tour_id: r.tour_id,
                    tour_name: r.tour_name,
                    figures,
                }
            })
            .collect();
        Ok(WaitlistReport {
            period,
            tours,
            totals,
        })
    }

    /// Bookings on departures dated in the period, per tour: marked
    /// completed, marked no-show, and left unmarked (pending or confirmed)
    /// on a departure that has started.
    pub async fn no_shows(&self, _admin: &Admin, period: Period) -> ServiceResult<NoShowReport> {
        let (mut conn, _) = self.open(&period).await?;
        let now = self.0.clock.now();
        let rows =
            reports::no_shows(&mut conn, period.start, period.end, period.tour_id, now).await?;
        let mut totals = NoShowFigures::default();
        let tours = rows
            .into_iter()
            .map(|r: NoShowRow| {
                let figures = NoShowFigures {
                    completed: r.completed,
                    no_show: r.no_show,
                    unmarked: r.unmarked,
                };
                totals.completed += figures.completed;
                totals.no_show += figures.no_show;
                totals.unmarked += figures.unmarked;
                TourNoShows {
                    tour_id: r.tour_id,
                    tour_name: r.tour_name,
                    figures,
                }
            })
            .collect();
        Ok(NoShowReport {
            period,
            tours,
            totals,
        })
    }
}

/// The UTC instants at which each local day of the period starts in `tz`,
/// and the end of its last day: one more than the days.
fn day_starts(tz: Tz, period: &Period) -> Vec<DateTime<Utc>> {
    period
        .dates()
        .into_iter()
        .chain(period.end.succ_opt())
        .map(|d| start_of_day(tz, d))
        .collect()
}

/// When the local date `date` begins in `tz`: its first midnight (the
/// earlier of two when clocks go back over it), or when clocks go forward
/// over midnight, the first minute that exists.
fn start_of_day(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_time(NaiveTime::MIN);
    (0..=24 * 60)
        .find_map(|m| {
            tz.from_local_datetime(&(midnight + chrono::Duration::minutes(m)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| midnight.and_utc())
}

#[cfg(test)]
mod tests;
