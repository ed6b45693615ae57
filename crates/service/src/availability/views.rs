//! The calendar's views: a tour's month at a glance (one query) and its
//! departures in a date range.

use super::*;

impl AvailabilityService<'_> {
    /// One line per day of the month that has slots or a blackout, and
    /// the first date from the month's first day (or today, if later) with
    /// a departure a customer can book now. One statement reads it all
    /// ([`slots::month_summary`]: the tour, the blackouts, each day's
    /// totals and the first such date after the month), with bookable
    /// meaning what [`ledger::refusal`] decides for a customer now: open,
    /// inside the booking window, of a tour on sale.
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
        // Nothing of a tour off sale is bookable (the rule's first check).
        let on_sale = tour.row.is_active;
        let mut days: BTreeMap<NaiveDate, DaySummary> = BTreeMap::new();
        for d in &summary.days {
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
            if let Some(b) = blackout_on(&summary.blackouts, date) {
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
        // The first bookable date with a spot left: this month's from
        // `from` on, else the first after it (read with the month, unless
        // the whole month is behind `from`).
        let from = first.max(tour.today(now));
        let next = if !on_sale || from > horizon {
            None
        } else if let Some(d) = days
            .values()
            .find(|d| d.date >= from && d.date <= horizon && d.min_price.is_some())
        {
            Some(d.date)
        } else if last.succ_opt().is_some_and(|after| from <= after) {
            summary.next_after
        } else {
            slots::next_bookable_date(&mut conn, tour_id, from, horizon, window_start, window_end)
                .await?
        };
        drop(conn);
        Ok((tour, days.into_values().collect(), next))
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
