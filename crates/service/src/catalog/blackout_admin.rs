//! Blackouts: closing dates (whole tours or all of them) and reopening them.

use super::*;

impl Catalog<'_> {
    /// Creates a blackout (or, with `dry_run`, only reports what it would
    /// do): every covered departure closes to new people (derived, see the
    /// ledger); those with bookings keep them and are listed as conflicts;
    /// waitlist holds on them go back to the queue.
    pub async fn create_blackout(
        &self,
        _admin: &Admin,
        input: BlackoutInput,
        dry_run: bool,
    ) -> ServiceResult<BlackoutOutcome> {
        DateRange::new(input.start_date, input.end_date)?
            .at_most_months(36, "a blackout may cover at most 3 years")?;
        let kind = input.blackout_type.trim();
        if !matches!(kind, "holiday" | "maintenance" | "weather" | "custom") {
            return Err(ServiceError::invalid(
                "blackout_type",
                format!("unknown type `{kind}` (holiday, maintenance, weather or custom)"),
            ));
        }
        let name = required_text("name", &input.name, 200)?;
        let description = description_text(input.description.as_deref().unwrap_or_default())?;
        ledger::retry(|| async {
            let mut tx = self.0.db.begin().await?;
            if let Some(tour_id) = input.tour_id {
                load_tour(&mut tx, tour_id)
                    .await
                    .map_err(ServiceError::not_found_is_invalid("tour_id"))?;
            }
            let (tour_id, from, to) = (input.tour_id, input.start_date, input.end_date);
            if !dry_run {
                slots::lock_slots_between(&mut tx, tour_id, from, to).await?;
            }
            let conflicts = slots::occupied_slots_between(&mut tx, tour_id, from, to).await?;
            let free = slots::count_free_slots_between(&mut tx, tour_id, from, to).await?;
            if dry_run {
                return Ok(BlackoutOutcome {
                    blackout: None,
                    cancelled_slots: free,
                    conflicts,
                });
            }
            let row = blackouts::insert_blackout(
                &mut tx,
                &BlackoutFields {
                    tour_id,
                    start_date: from,
                    end_date: to,
                    blackout_type: kind,
                    name: &name,
                    description: description.trim(),
                },
                self.now(),
            )
            .await?;
            ledger::refresh_blackouts(&mut tx, tour_id, from, to, self.now()).await?;
            tx.commit().await?;
            Ok(BlackoutOutcome {
                blackout: Some(row),
                cancelled_slots: free,
                conflicts,
            })
        })
        .await
    }

    pub async fn blackouts(
        &self,
        _admin: &Admin,
        tour_id: Option<i64>,
        include_inactive: bool,
    ) -> ServiceResult<Vec<BlackoutRow>> {
        let mut conn = self.0.db.read().await?;
        Ok(blackouts::list_blackouts(&mut conn, tour_id, include_inactive).await?)
    }

    /// Deactivates a blackout: the departures it alone closed reopen (their
    /// closure is recomputed from the blackouts still active), and dates it
    /// kept from being generated get their departures, up to the booking
    /// horizon. Returns how many existing departures reopened.
    pub async fn remove_blackout(&self, _admin: &Admin, id: i64) -> ServiceResult<u64> {
        ledger::retry(|| async {
            let mut tx = self.0.db.begin().await?;
            let b = blackouts::blackout_by_id(&mut tx, id)
                .await?
                .filter(|b| b.is_active)
                .ok_or_else(|| {
                    ServiceError::not_found(format!("active blackout {id} not found"))
                })?;
            slots::lock_slots_between(&mut tx, b.tour_id, b.start_date, b.end_date).await?;
            let reopened = slots::count_reopened_by_removal(&mut tx, id).await?;
            blackouts::deactivate_blackout(&mut tx, id).await?;
            slots::refresh_blackouts(&mut tx, b.tour_id, b.start_date, b.end_date).await?;
            let now = self.now();
            for row in schedules::active_schedules(&mut tx).await? {
                if b.tour_id.is_some_and(|t| t != row.tour_id) {
                    continue;
                }
                let tour = load_tour(&mut tx, row.tour_id).await?;
                let horizon = tour.today(now)
                    + chrono::Days::new(u64::from(self.0.settings.booking_advance_days));
                let from = b.start_date.max(tour.today(now));
                let to = b.end_date.min(horizon);
                if from <= to {
                    ledger::generate(&mut tx, &tour, &row, from, to, now).await?;
                }
            }
            tx.commit().await?;
            Ok(reopened)
        })
        .await
    }

    // ---- slots ----
}
