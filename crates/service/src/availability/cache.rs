//! The calendar cache (#19): the month view and the availability check
//! answer from tour-months held in memory while nothing has been
//! committed since they were read, so a quiet calendar costs no query.
//!
//! Exact, across instances: every read first takes a change token
//! ([`tourdesk_store::changes`]: one shared round trip for all readers
//! arriving meanwhile) and uses a cached month only if it was read at the
//! same token: nothing was committed in between, by this instance, another
//! one or another process. A different token empties the cache. What is
//! cached is the departures themselves, not answers: each read decides
//! with its own "now" (the cutoff, the advance window, the tour's today),
//! so time never makes a cached month stale.
//!
//! While commits keep coming (a token changed less than
//! [`crate::CalendarCacheSettings::quiet`] ago), reads skip the token and
//! the cache and read the database directly: whatever they filled would
//! be thrown away by the next commit. Bounded by
//! [`crate::CalendarCacheSettings::departures`]: full, it starts over.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveTime, Utc};
use tourdesk_store::blackouts::BlackoutRow;
use tourdesk_store::changes::Token;
use tourdesk_store::slots::{self, DayTotals, SlotRow};

use crate::ledger::{Gate, Tour};
use crate::{Context, ServiceResult};

/// What a customer sees of a departure and what the booking rule reads of
/// it: the calendar's reads work on these, from the database or the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Brief {
    pub id: i64,
    pub slot_date: NaiveDate,
    pub start_time: NaiveTime,
    pub end_time: NaiveTime,
    pub gate: Gate,
    pub max_capacity: i64,
    pub current_bookings: i64,
    pub held_spots: i64,
    pub available_spots: i64,
    pub price_per_person: i64,
}

impl Brief {
    pub fn of(s: &SlotRow) -> Brief {
        Brief {
            id: s.id,
            slot_date: s.slot_date,
            start_time: s.start_time,
            end_time: s.end_time,
            gate: Gate::of(s),
            max_capacity: s.max_capacity,
            current_bookings: s.current_bookings,
            held_spots: s.held_spots,
            available_spots: s.available_spots,
            price_per_person: s.price_per_person,
        }
    }

    /// [`SlotRow::looks_cancelled`].
    pub fn looks_cancelled(&self) -> bool {
        self.gate.is_cancelled
            || ((self.gate.blacked_out || self.gate.withdrawn)
                && self.current_bookings == 0
                && self.held_spots == 0)
    }

    /// Open and starting from `window.0` to `window.1`: the store's
    /// `bookable_in_window!` over one departure.
    pub fn bookable_in(&self, window: (DateTime<Utc>, DateTime<Utc>)) -> bool {
        self.gate.is_open() && window.0 <= self.gate.starts_at && self.gate.starts_at <= window.1
    }
}

/// The day totals of departures in date order, as
/// [`slots::month_summary`] adds them up in the database.
pub(crate) fn day_totals(list: &[Brief], window: (DateTime<Utc>, DateTime<Utc>)) -> Vec<DayTotals> {
    let mut out: Vec<DayTotals> = Vec::new();
    for s in list.iter().filter(|s| !s.looks_cancelled()) {
        if out.last().map(|d| d.slot_date) != Some(s.slot_date) {
            out.push(DayTotals {
                slot_date: s.slot_date,
                num_time_slots: 0,
                num_bookable_slots: 0,
                available_spots: 0,
                capacity: 0,
                min_price: None,
            });
        }
        let Some(day) = out.last_mut() else {
            continue;
        };
        day.num_time_slots += 1;
        if s.bookable_in(window) {
            day.num_bookable_slots += 1;
            day.capacity += s.max_capacity;
            if s.available_spots > 0 {
                day.available_spots += s.available_spots;
                day.min_price = Some(
                    day.min_price
                        .map_or(s.price_per_person, |p| p.min(s.price_per_person)),
                );
            }
        }
    }
    out
}

/// One tour's month, read at one token.
pub(crate) struct Month {
    pub tour: Tour,
    /// The active blackouts that apply to the tour overlapping the month.
    pub blackouts: Vec<BlackoutRow>,
    /// Its departures in time order.
    pub slots: Vec<Brief>,
}

/// See the module docs.
#[derive(Default)]
pub struct CalendarCache {
    state: Mutex<State>,
    hits: AtomicU64,
    fills: AtomicU64,
}

/// Months served from the cache and months read into it, since start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub fills: u64,
}

#[derive(Default)]
struct State {
    token: Option<Token>,
    /// When a token different from the one before was last seen.
    changed_at: Option<Instant>,
    /// By tour and first day of the month.
    months: HashMap<(i64, NaiveDate), Arc<Month>>,
    /// Departures held in `months`.
    departures: usize,
}

/// One read's use of the cache, at the token taken when it began.
pub(crate) struct View<'a> {
    ctx: &'a Context,
    token: Token,
    /// Whether this read read a month into the cache.
    filled: std::sync::atomic::AtomicBool,
    /// Whether it found no such tour (and is answered directly).
    missing: std::sync::atomic::AtomicBool,
}

impl Drop for View<'_> {
    fn drop(&mut self) {
        let outcome = if self.missing.load(Ordering::Relaxed) {
            "direct"
        } else if self.filled.load(Ordering::Relaxed) {
            "fill"
        } else {
            "hit"
        };
        metrics::counter!("calendar_cache_reads_total", "outcome" => outcome).increment(1);
    }
}

/// The first and last day of `date`'s month.
pub(crate) fn month_of(date: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
    let first = date.with_day0(0)?;
    let last = first.checked_add_months(Months::new(1))?.pred_opt()?;
    Some((first, last))
}

impl CalendarCache {
    /// The cache for one read, or None: read the database directly (the
    /// cache is off, the database is busy, or the token cannot be read,
    /// in which case the direct read reports the outage).
    pub(crate) async fn view(ctx: &Context) -> Option<View<'_>> {
        let view = Self::try_view(ctx).await;
        if view.is_none() && ctx.settings.calendar_cache.departures > 0 {
            metrics::counter!("calendar_cache_reads_total", "outcome" => "direct").increment(1);
        }
        view
    }

    async fn try_view(ctx: &Context) -> Option<View<'_>> {
        let settings = ctx.settings.calendar_cache;
        if settings.departures == 0 || ctx.calendar.busy(settings.quiet) {
            return None;
        }
        let token = ctx.db.change_token().await.ok()?;
        {
            let mut state = ctx.calendar.state.lock().ok()?;
            if state.token.as_ref() != Some(&token) {
                if state.token.is_some() {
                    state.changed_at = Some(Instant::now());
                }
                state.token = Some(token.clone());
                state.months.clear();
                state.departures = 0;
            }
        }
        if ctx.calendar.busy(settings.quiet) {
            return None;
        }
        Some(View {
            ctx,
            token,
            filled: Default::default(),
            missing: Default::default(),
        })
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            fills: self.fills.load(Ordering::Relaxed),
        }
    }

    fn busy(&self, quiet: std::time::Duration) -> bool {
        self.state
            .lock()
            .map(|s| s.changed_at.is_some_and(|t| t.elapsed() < quiet))
            .unwrap_or(true)
    }
}

impl View<'_> {
    /// The month of `date` of tour `tour_id`, from the cache or read now;
    /// None when there is no such tour.
    pub(crate) async fn month(
        &self,
        tour_id: i64,
        date: NaiveDate,
    ) -> ServiceResult<Option<Arc<Month>>> {
        let Some((first, last)) = month_of(date) else {
            return Ok(None);
        };
        let cache = &self.ctx.calendar;
        if let Ok(state) = cache.state.lock()
            && state.token.as_ref() == Some(&self.token)
            && let Some(m) = state.months.get(&(tour_id, first))
        {
            cache.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(m.clone()));
        }
        cache.fills.fetch_add(1, Ordering::Relaxed);
        self.filled.store(true, Ordering::Relaxed);
        let mut conn = self.ctx.db.read().await?;
        let Some(cal) = slots::tour_calendar(&mut conn, tour_id, first, last).await? else {
            self.missing.store(true, Ordering::Relaxed);
            return Ok(None);
        };
        drop(conn);
        let month = Arc::new(Month {
            tour: Tour::from_row(cal.tour)?,
            blackouts: cal.blackouts,
            slots: cal.slots.iter().map(Brief::of).collect(),
        });
        let limit = self.ctx.settings.calendar_cache.departures;
        if let Ok(mut state) = cache.state.lock()
            // Read at this token: kept only while it is still the cache's.
            && state.token.as_ref() == Some(&self.token)
        {
            let n = month.slots.len().max(1);
            if state.departures + n > limit {
                state.months.clear();
                state.departures = 0;
            }
            if n <= limit {
                state.departures += n;
                state.months.insert((tour_id, first), month.clone());
            }
        }
        Ok(Some(month))
    }

    /// Tour `tour_id`'s departures from `from` to `to` that a customer
    /// could book at the window's starts with `room` spots left (what
    /// `slots::open_slots_between` returns), in time order; None when
    /// there is no such tour.
    pub(crate) async fn bookable_between(
        &self,
        tour_id: i64,
        (from, to): (NaiveDate, NaiveDate),
        window: (DateTime<Utc>, DateTime<Utc>),
        room: i64,
    ) -> ServiceResult<Option<Vec<Brief>>> {
        let Some(months) = self.months(tour_id, from, to).await? else {
            return Ok(None);
        };
        Ok(Some(
            months
                .iter()
                .flat_map(|m| m.slots.iter())
                .filter(|s| {
                    from <= s.slot_date
                        && s.slot_date <= to
                        && s.bookable_in(window)
                        && s.available_spots >= room
                })
                .cloned()
                .collect(),
        ))
    }

    /// The months of tour `tour_id` covering `from..=to`, in order; None
    /// when there is no such tour.
    async fn months(
        &self,
        tour_id: i64,
        from: NaiveDate,
        to: NaiveDate,
    ) -> ServiceResult<Option<Vec<Arc<Month>>>> {
        let mut out = Vec::new();
        let mut at = month_of(from).map(|(first, _)| first);
        while let Some(first) = at.filter(|f| *f <= to) {
            let Some(m) = self.month(tour_id, first).await? else {
                return Ok(None);
            };
            out.push(m);
            at = first.checked_add_months(Months::new(1));
        }
        Ok(Some(out))
    }
}
