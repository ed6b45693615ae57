//! One departure at a time: patching it, guaranteeing it, moving its
//! decision deadline, the at-risk list and the deadline job.

use super::*;

impl Catalog<'_> {
    pub async fn slot(&self, id: i64) -> ServiceResult<SlotRow> {
        let mut conn = self.0.db.read().await?;
        load_slot(&mut conn, id).await
    }

    /// Changes capacity, price or the open flag. Capacity below what is
    /// booked and held is a 409; nothing changes then.
    pub async fn patch_slot(
        &self,
        _admin: &Admin,
        id: i64,
        patch: SlotPatch,
    ) -> ServiceResult<SlotRow> {
        if let Some(cap) = patch.max_capacity
            && !(1..=MAX_CAPACITY).contains(&cap)
        {
            return Err(ServiceError::invalid(
                "max_capacity",
                format!("must be between 1 and {MAX_CAPACITY}"),
            ));
        }
        ledger::retry(|| async {
            let mut tx = self.0.db.begin().await?;
            let slot = lock_slot(&mut tx, id).await?;
            if let Some(cap) = patch.max_capacity
                && slot.is_pending_minimum()
                && cap < slot.min_capacity
            {
                return Err(ServiceError::invalid(
                    "max_capacity",
                    format!(
                        "must not be below the departure's minimum of {} people",
                        slot.min_capacity
                    ),
                ));
            }
            let tour = load_tour(&mut tx, slot.tour_id).await?;
            let price = match &patch.price_per_person {
                Some(p) => {
                    let minor = tour
                        .currency
                        .parse_amount(p)
                        .map_err(|e| money_error("price_per_person", e))?;
                    if minor < 0 {
                        return Err(ServiceError::invalid(
                            "price_per_person",
                            "must not be negative",
                        ));
                    }
                    Some(minor)
                }
                None => None,
            };
            let slot = ledger::patch_departure(
                self.0,
                &mut tx,
                &slot,
                patch.max_capacity,
                price,
                patch.is_available,
                self.now(),
            )
            .await?;
            tx.commit().await?;
            Ok(slot)
        })
        .await
    }

    // ---- guaranteed departures ----

    /// Guarantees a departure waiting for its minimum, whatever it has
    /// booked (the operator runs it anyway). 409 when it has no minimum,
    /// is guaranteed already or is cancelled.
    pub async fn guarantee_slot(
        &self,
        admin: &Admin,
        id: i64,
        reason: Option<&str>,
    ) -> ServiceResult<SlotRow> {
        let reason = optional_text(reason, ledger::MAX_TEXT)
            .map_err(|e| ServiceError::invalid("reason", e.0))?;
        ledger::retry(|| async {
            let now = self.now();
            let mut tx = self.0.db.begin().await?;
            let slot = lock_slot(&mut tx, id).await?;
            not_pending(&slot)?;
            ledger::guarantee_departure(
                &mut tx,
                id,
                "manual",
                admin.caller(),
                reason.as_deref(),
                ledger::Tell::All,
                now,
            )
            .await?;
            let slot = load_slot(&mut tx, id).await?;
            tx.commit().await?;
            Ok(slot)
        })
        .await
    }

    /// Moves the decision deadline of a departure waiting for its minimum.
    /// `decision_at` is an instant (RFC 3339) or a local date and time in
    /// the tour's zone (`2026-12-01T09:00`); it must be in the future and
    /// before the departure starts (422 `decision_at`).
    pub async fn set_decision_deadline(
        &self,
        admin: &Admin,
        id: i64,
        decision_at: &str,
    ) -> ServiceResult<SlotRow> {
        ledger::retry(|| async {
            let now = self.now();
            let mut tx = self.0.db.begin().await?;
            let slot = lock_slot(&mut tx, id).await?;
            let tour = load_tour(&mut tx, slot.tour_id).await?;
            let at = parse_instant(decision_at, tour.tz)?;
            if at >= slot.starts_at {
                return Err(ServiceError::invalid(
                    "decision_at",
                    format!(
                        "must be before the departure starts ({})",
                        slot.starts_at
                            .with_timezone(&tour.tz)
                            .format("%Y-%m-%d %H:%M %Z")
                    ),
                ));
            }
            if at <= now {
                return Err(ServiceError::invalid(
                    "decision_at",
                    "must be in the future",
                ));
            }
            not_pending(&slot)?;
            ledger::move_deadline(&mut tx, &slot, at, admin.caller(), now).await?;
            let slot = load_slot(&mut tx, id).await?;
            tx.commit().await?;
            Ok(slot)
        })
        .await
    }

    /// Departures still waiting for their minimum that have not started,
    /// by deadline (at most 500).
    pub async fn at_risk(&self, _admin: &Admin) -> ServiceResult<Vec<SlotRow>> {
        let mut conn = self.0.db.read().await?;
        Ok(slots::at_risk(&mut conn, self.now(), 500).await?)
    }

    /// Decides every departure whose deadline has come (the decision job's
    /// round): each in its own transaction, exactly once however many
    /// instances run it. `grace` is how late a decision may be before the
    /// audit says it was late. Returns (guaranteed, cancelled) counts.
    pub async fn decide_due(&self, grace: chrono::Duration) -> ServiceResult<(usize, usize)> {
        let mut decided = (0, 0);
        loop {
            let due = {
                let mut conn = self.0.db.read().await?;
                slots::due_for_decision(&mut conn, self.now(), 100).await?
            };
            let mut progressed = false;
            let mut failed = None;
            for id in &due {
                let d = ledger::retry(|| async {
                    let now = self.now();
                    let mut tx = self.0.db.begin().await?;
                    let d = ledger::decide_departure(self.0, &mut tx, *id, grace, now).await?;
                    tx.commit().await?;
                    Ok(d)
                })
                .await;
                // One departure that cannot be decided (an outage, a
                // corrupt row) does not hold up the others; the round
                // reports it and the next round tries it again.
                match d {
                    Ok(ledger::Decision::Guaranteed) => decided.0 += 1,
                    Ok(ledger::Decision::Cancelled(_)) => decided.1 += 1,
                    Ok(ledger::Decision::NotDue) => continue,
                    Err(e) => {
                        tracing::error!(slot_id = id, error = %e, "a departure could not be decided");
                        failed.get_or_insert(e);
                        continue;
                    }
                }
                progressed = true;
            }
            if let Some(e) = failed {
                return Err(e);
            }
            if due.len() < 100 || !progressed {
                return Ok(decided);
            }
        }
    }

    /// Every tour's slots in a date range (at most 62 days): the admin's
    /// week and day views.
    pub async fn all_slots(
        &self,
        _admin: &Admin,
        from: NaiveDate,
        to: NaiveDate,
    ) -> ServiceResult<Vec<SlotRow>> {
        DateRange::new(from, to)?.at_most_days(63, "the range may cover at most 62 days")?;
        let mut conn = self.0.db.read().await?;
        Ok(slots::all_slots_between(&mut conn, from, to).await?)
    }
}
