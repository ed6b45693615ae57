//! The calendar's views: a tour's month at a glance (one query) and its
//! departures in a date range.

use super::*;

impl AvailabilityService<'_> {
    /// One line per day of the month that has slots or a blackout, and
    /// the first date from the month's first day (or today, if later) with
    /// a departure a customer can book now. From the calendar cache when
    /// the database is quiet (its departures totalled here,
    /// [`cache::day_totals`]); else one statement reads it all
    /// ([`slots::month_summary`]: the tour, the blackouts, each day's
    /// totals and the first such date after the month). Bookable means
    /// what [`ledger::refusal`] decides for a customer now: open, inside
    /// the booking window, of a tour on sale.
    pub async fn monthly(
        &self,
        tour_id: i64,
        year: i32,
        month: u32,
    ) -> ServiceResult<(Tour, Vec<DaySummary>, Option<NaiveDate>)> {
        if !(1..=12).contains(&month) {
            return Err(ServiceError::invalid("month", "must be between 1 and 12"));
        }
        if !ledger::DATE_RANGE.contains(&year) {
            return Err(ServiceError::invalid(
                "year",
                format!(
                    "must be between {} and {}",
                    ledger::DATE_RANGE.start(),
                    ledger::DATE_RANGE.end()
                ),
            ));
        }
        let first = NaiveDate::from_ymd_opt(year, month, 1)
            .ok_or_else(|| ServiceError::invalid("month", "no such month"))?;
        let last = first
            .checked_add_months(chrono::Months::new(1))
            .and_then(|d| d.pred_opt())
            .ok_or_else(|| ServiceError::invalid("year", "out of range"))?;
        let now = self.0.clock.now();
        if let Some(view) = CalendarCache::view(self.0).await
            && let Some(month) = self
                .monthly_cached(&view, tour_id, first, last, now)
                .await?
        {
            return Ok(month);
        }
        let (window_start, window_end) = self.booking_window(now);
        let horizon = self.horizon(now);
        let mut conn = self.0.db.read().await?;
        let summary = slots::month_summary(
            &mut conn,
            tour_id,
            first,
            last,
            window_start,
            window_end,
            horizon,
        )
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("tour {tour_id} not found")))?;
        let tour = Tour::from_row(summary.tour)?;
        let days = day_summaries(&tour, &summary.days, &summary.blackouts, first, last)?;
        // The first bookable date with a spot left: this month's from
        // `from` on, else the first after it (read with the month, unless
        // the whole month is behind `from`).
        let next = match self.next_in_month(&tour, &days, first, last, now) {
            Next::Found(d) => d,
            Next::After(from) if from == last.succ_opt().unwrap_or(from) => summary.next_after,
            Next::After(from) => {
                slots::next_bookable_date(
                    &mut conn,
                    tour_id,
                    from,
                    horizon,
                    window_start,
                    window_end,
                )
                .await?
            }
        };
        drop(conn);
        Ok((tour, days, next))
    }

    /// [`Self::monthly`] from the calendar cache; None when the tour is
    /// not there (the direct read answers).
    async fn monthly_cached(
        &self,
        view: &View<'_>,
        tour_id: i64,
        first: NaiveDate,
        last: NaiveDate,
        now: DateTime<Utc>,
    ) -> ServiceResult<Option<(Tour, Vec<DaySummary>, Option<NaiveDate>)>> {
        let Some(month) = view.month(tour_id, first).await? else {
            return Ok(None);
        };
        let window = self.booking_window(now);
        let totals = cache::day_totals(&month.slots, window);
        let tour = month.tour.clone();
        let days = day_summaries(&tour, &totals, &month.blackouts, first, last)?;
        let next = match self.next_in_month(&tour, &days, first, last, now) {
            Next::Found(d) => d,
            Next::After(from) => {
                // The next months from the cache; past them (a tour with
                // nothing to book for a while), one query.
                let horizon = self.horizon(now);
                let scanned = from
                    .checked_add_months(chrono::Months::new(NEXT_MONTHS_CACHED))
                    .and_then(cache::month_of)
                    .map_or(horizon, |(first, _)| first.pred_opt().unwrap_or(first))
                    .min(horizon);
                let Some(open) = view
                    .bookable_between(tour_id, (from, scanned), window, 1)
                    .await?
                else {
                    return Ok(None);
                };
                let found = open.first().map(|s| s.slot_date);
                match (found, scanned.succ_opt()) {
                    (Some(d), _) => Some(d),
                    (None, Some(after)) if after <= horizon => {
                        let mut conn = self.0.db.read().await?;
                        slots::next_bookable_date(
                            &mut conn, tour_id, after, horizon, window.0, window.1,
                        )
                        .await?
                    }
                    (None, _) => None,
                }
            }
        };
        Ok(Some((tour, days, next)))
    }

    /// The first date of the month from the tour's today on, up to the
    /// horizon, with a departure a customer can book now with a spot left;
    /// or where to look after the month.
    fn next_in_month(
        &self,
        tour: &Tour,
        days: &[DaySummary],
        first: NaiveDate,
        last: NaiveDate,
        now: DateTime<Utc>,
    ) -> Next {
        let from = first.max(tour.today(now));
        let horizon = self.horizon(now);
        // Nothing of a tour off sale is bookable (the rule's first check).
        if !tour.row.is_active || from > horizon {
            return Next::Found(None);
        }
        if let Some(d) = days
            .iter()
            .find(|d| d.date >= from && d.date <= horizon && d.min_price.is_some())
        {
            return Next::Found(Some(d.date));
        }
        match last.succ_opt() {
            Some(after) => Next::After(after.max(from)),
            None => Next::Found(None),
        }
    }

    /// Every slot of a tour in a date range (at most 366 days).
    pub async fn slots(
        &self,
        tour_id: i64,
        start: NaiveDate,
        end: NaiveDate,
    ) -> ServiceResult<(Tour, Vec<Departure>)> {
        DateRange::new(start, end)?.at_most_days(367, "the range may cover at most 366 days")?;
        let mut conn = self.0.db.read().await?;
        let tour = load_tour(&mut conn, tour_id).await?;
        let rows = slots::slots_between(&mut conn, tour_id, start, end).await?;
        let now = self.0.clock.now();
        let rows = rows
            .into_iter()
            .map(|slot| Departure {
                unbookable: ledger::bookability(self.0, &slot, &tour, now),
                slot,
            })
            .collect();
        Ok((tour, rows))
    }
}

/// How many months after the month shown the cache is searched for the
/// next available date before asking the database.
const NEXT_MONTHS_CACHED: u32 = 3;

/// Where the month view's next available date is.
enum Next {
    Found(Option<NaiveDate>),
    /// The first from this date on, up to the horizon.
    After(NaiveDate),
}

/// The month's days as the calendar shows them, from its day totals and
/// blackouts (none bookable when the tour is off sale).
fn day_summaries(
    tour: &Tour,
    totals: &[slots::DayTotals],
    blackouts: &[BlackoutRow],
    first: NaiveDate,
    last: NaiveDate,
) -> ServiceResult<Vec<DaySummary>> {
    // Nothing of a tour off sale is bookable (the rule's first check).
    let on_sale = tour.row.is_active;
    let mut days: BTreeMap<NaiveDate, DaySummary> = BTreeMap::new();
    for d in totals {
        let (bookable, available, capacity, min_price) = if on_sale {
            (
                d.num_bookable_slots,
                d.available_spots,
                d.capacity,
                d.min_price,
            )
        } else {
            (0, 0, 0, None)
        };
        days.insert(
            d.slot_date,
            DaySummary {
                date: d.slot_date,
                available_spots: available,
                num_time_slots: count(d.num_time_slots)?,
                num_bookable_slots: count(bookable)?,
                has_availability: available > 0,
                level: level(available, capacity),
                min_price,
                blackout: None,
            },
        );
    }
    for date in first.iter_days().take_while(|d| *d <= last) {
        if let Some(b) = blackout_on(blackouts, date) {
            days.entry(date)
                .or_insert_with(|| DaySummary {
                    date,
                    available_spots: 0,
                    num_time_slots: 0,
                    num_bookable_slots: 0,
                    has_availability: false,
                    level: level(0, 0),
                    min_price: None,
                    blackout: None,
                })
                .blackout = Some(b.name.clone());
        }
    }
    Ok(days.into_values().collect())
}
