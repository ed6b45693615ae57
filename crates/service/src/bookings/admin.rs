//! The operator's booking tools: lists and exports, bulk status changes,
//! contact edits, rebooking, check-in, closing and cancelling departures,
//! the manifest and history, and expiring unpaid holds.

use super::*;

impl Bookings<'_> {
    /// The admin's list: filters, newest first, one page and the total.
    pub async fn list(
        &self,
        _admin: &Admin,
        f: &AdminFilter,
        limit: i64,
        offset: i64,
    ) -> ServiceResult<(Vec<BookingRow>, i64)> {
        if !(1..=500).contains(&limit) {
            return Err(ServiceError::invalid("limit", "must be between 1 and 500"));
        }
        if offset < 0 {
            return Err(ServiceError::invalid("offset", "must not be negative"));
        }
        let filter = store_filter(f)?;
        let mut conn = self.0.db.read().await?;
        let rows = bookings::list_bookings(&mut conn, &filter, limit, offset).await?;
        let total = bookings::count_bookings(&mut conn, &filter).await?;
        Ok((rows, total))
    }

    /// The admin list's bookings for a CSV file: the same filters, newest
    /// first, at most [`EXPORT_LIMIT`] rows, and how many matched in all.
    pub async fn export(
        &self,
        _admin: &Admin,
        f: &AdminFilter,
    ) -> ServiceResult<(Vec<BookingRow>, i64)> {
        let filter = store_filter(f)?;
        let mut conn = self.0.db.read().await?;
        let rows = bookings::list_bookings(&mut conn, &filter, EXPORT_LIMIT, 0).await?;
        let total = bookings::count_bookings(&mut conn, &filter).await?;
        Ok((rows, total))
    }

    /// The same status change for several bookings, each in its own
    /// transaction: one refused booking does not stop the others. The
    /// answer is per id, in the order given.
    pub async fn bulk_status(
        &self,
        admin: &Admin,
        ids: &[i64],
        to: &str,
        reason: Option<&str>,
    ) -> ServiceResult<Vec<(i64, ServiceResult<BookingRow>)>> {
        if ids.is_empty() || ids.len() > MAX_BULK {
            return Err(ServiceError::invalid(
                "ids",
                format!("give 1 to {MAX_BULK} booking ids"),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = ids.iter().find(|id| !seen.insert(**id)) {
            return Err(ServiceError::invalid(
                "ids",
                format!("booking {dup} is listed twice"),
            ));
        }
        to.parse::<BookingStatus>()
            .map_err(|e: String| ServiceError::invalid("status", e))?;
        optional_text(reason, MAX_TEXT).map_err(|e| ServiceError::invalid("reason", e.0))?;
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            match self.change_status(id, admin, to, reason).await {
                // The booking's own answer: the others still go ahead.
                done @ (Ok(_)
                | Err(
                    ServiceError::NotFound(_)
                    | ServiceError::Conflict { .. }
                    | ServiceError::Refused { .. }
                    | ServiceError::Invalid { .. },
                )) => out.push((id, done)),
                // The database's: the rest would fail the same way.
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// The operator corrects a booking's name, email, phone or notes;
    /// audited as `contact_change` by the operator.
    pub async fn change_contact(
        &self,
        id: i64,
        admin: &Admin,
        c: ContactDetails,
    ) -> ServiceResult<BookingRow> {
        let caller = admin.caller();
        let name = PersonName::parse(&c.customer_name)
            .map_err(|e| ServiceError::invalid("customer_name", e.0))?;
        let email = Email::parse(&c.customer_email)
            .map_err(|e| ServiceError::invalid("customer_email", e.0))?;
        let phone = ledger::phone_or(
            c.customer_phone.as_deref().filter(|p| !p.trim().is_empty()),
            None,
            "customer_phone",
        )?;
        let contact = ContactDetails {
            customer_name: name.as_str().to_owned(),
            customer_email: email.as_str().to_owned(),
            customer_phone: phone.as_ref().map(|p| p.as_str().to_owned()),
            needs: ledger::validated_needs(c.needs)?,
        };
        ledger::retry(|| async {
            let now = self.now();
            let mut tx = self.0.db.begin().await?;
            let peek = load_booking(&mut tx, id).await?;
            ledger::lock_slots(&mut tx, &[peek.booking_slot_id]).await?;
            let row = ledger::lock_booking(&mut tx, id, &[peek.booking_slot_id]).await?;
            let done = ledger::change_contact(&mut tx, &row, &contact, caller, now).await?;
            tx.commit().await?;
            Ok(done)
        })
        .await
    }

    /// Books a cancelled booking's party and contact again on another
    /// departure of its tour (after a departure was cancelled, say): a new
    /// booking, made as the operator (an admin may use any open departure),
    /// whose customer gets the usual confirmation email. The cancelled one
    /// stays as it is, with a `rebooked` audit row naming the new one.
    pub async fn rebook(&self, id: i64, admin: &Admin, slot_id: i64) -> ServiceResult<BookingRow> {
        let caller = admin.caller();
        ledger::retry(|| async {
            let now = self.now();
            let mut tx = self.0.db.begin().await?;
            let peek = load_booking(&mut tx, id).await?;
            let locked = ledger::lock_slots(&mut tx, &[peek.booking_slot_id, slot_id]).await?;
            let old = ledger::lock_booking(&mut tx, id, &[peek.booking_slot_id, slot_id]).await?;
            if status_of(&old)? != BookingStatus::Cancelled {
                return Err(ServiceError::conflict(
                    "invalid_status",
                    format!(
                        "booking {} is {}, not cancelled: move it instead",
                        old.booking_reference, old.status
                    ),
                ));
            }
            let Some(to) = locked.get(&slot_id) else {
                return Err(ServiceError::invalid(
                    "booking_slot_id",
                    format!("slot {slot_id} does not exist"),
                ));
            };
            if to.tour_id != old.tour_id {
                return Err(ServiceError::invalid(
                    "booking_slot_id",
                    "the departure belongs to another tour",
                ));
            }
            let tour = load_tour(&mut tx, old.tour_id).await?;
            let party = old.party;
            // The operator rebooks the party as it was: the tour's party
            // rules decide its seats, but do not refuse it.
            let seats = ledger::party_rules_of(self.0, &tour).seats(&party);
            let slot = ledger::reserve(self.0, &mut tx, &tour, to.id, seats, Admission::Admin, now)
                .await?;
            let (new, _token) = ledger::insert_booking(
                self.0,
                &mut tx,
                &tour,
                &slot,
                &party,
                seats,
                &old.contact,
                old.user_id,
                caller,
                None,
                now,
            )
            .await?;
            ledger::audit(
                &mut tx,
                &old,
                caller,
                AuditKind::Rebooked,
                None,
                Some(serde_json::json!({
                    "booking_reference": new.booking_reference,
                    "booking_slot_id": new.booking_slot_id,
                    "tour_date": new.tour_date,
                    "tour_time": new.tour_time,
                })),
                None,
                now,
            )
            .await?;
            tx.commit().await?;
            Ok(new)
        })
        .await
    }

    /// Checks a booking in at its departure (`checked_in`), or undoes it.
    pub async fn check_in(
        &self,
        id: i64,
        admin: &Admin,
        checked_in: bool,
    ) -> ServiceResult<BookingRow> {
        let caller = admin.caller();
        ledger::retry(|| async {
            let now = self.now();
            let mut tx = self.0.db.begin().await?;
            let peek = load_booking(&mut tx, id).await?;
            ledger::lock_slots(&mut tx, &[peek.booking_slot_id]).await?;
            let row = ledger::lock_booking(&mut tx, id, &[peek.booking_slot_id]).await?;
            let done = ledger::set_check_in(&mut tx, &row, caller, checked_in, now).await?;
            tx.commit().await?;
            Ok(done)
        })
        .await
    }

    /// After a departure has started: checked-in bookings become
    /// `completed` (a pending one is confirmed first), confirmed ones not
    /// checked in `no_show`; pending ones not checked in are left for the
    /// operator (they were never confirmed). Each change goes through the
    /// status machine and is audited; one transaction.
    pub async fn close_departure(&self, slot_id: i64, admin: &Admin) -> ServiceResult<Closing> {
        let caller = admin.caller();
        let reason = "departure closed";
        ledger::retry(|| async {
            let now = self.now();
            let mut tx = self.0.db.begin().await?;
            let locked = ledger::lock_slots(&mut tx, &[slot_id]).await?;
            let slot = locked
                .get(&slot_id)
                .ok_or_else(|| ServiceError::not_found(format!("slot {slot_id} not found")))?;
            if slot.is_cancelled {
                return Err(ServiceError::conflict(
                    "slot_cancelled",
                    format!("slot {slot_id} is cancelled"),
                ));
            }
            if now < slot.starts_at {
                return Err(ServiceError::conflict(
                    "departure_not_started",
                    "a departure can be closed once it has started",
                ));
            }
            let mut out = Closing::default();
            for id in bookings::lock_active_bookings_on_slot(&mut tx, slot_id).await? {
                let row = load_booking(&mut tx, id).await?;
                let steps: &[BookingStatus] = match (status_of(&row)?, row.checked_in_at.is_some())
                {
                    (BookingStatus::Pending, true) => {
                        &[BookingStatus::Confirmed, BookingStatus::Completed]
                    }
                    (BookingStatus::Confirmed, true) => &[BookingStatus::Completed],
                    (BookingStatus::Confirmed, false) => &[BookingStatus::NoShow],
                    (BookingStatus::Pending, false) => {
                        out.left_pending += 1;
                        &[]
                    }
                    _ => &[],
                };
                let mut row = row;
                for &to in steps {
                    row = ledger::transition(
                        self.0,
                        &mut tx,
                        &row,
                        caller,
                        to,
                        Some(reason),
                        None,
                        AuditKind::StatusChange,
                        now,
                    )
                    .await?;
                }
                match steps.last() {
                    Some(BookingStatus::Completed) => out.completed += 1,
                    Some(BookingStatus::NoShow) => out.no_show += 1,
                    _ => {}
                }
            }
            tx.commit().await?;
            Ok(out)
        })
        .await
    }

    /// A booking's audit trail; each row's actor has its account's name
    /// (`actor_name`), and [`changes`] says what changed.
    pub async fn history(&self, _admin: &Admin, id: i64) -> ServiceResult<Vec<LogRow>> {
        let mut conn = self.0.db.read().await?;
        load_booking(&mut conn, id).await?;
        Ok(audit::logs_of_booking(&mut conn, id).await?)
    }

    /// Who is coming on a slot (the bookings holding places) and, on a
    /// cancelled one, who was on it: its cancelled bookings, to contact and
    /// rebook them.
    pub async fn manifest(
        &self,
        _admin: &Admin,
        slot_id: i64,
    ) -> ServiceResult<(SlotRow, Tour, Vec<BookingRow>, Vec<BookingRow>)> {
        let mut conn = self.0.db.read().await?;
        let slot = load_slot(&mut conn, slot_id).await?;
        let tour = load_tour(&mut conn, slot.tour_id).await?;
        let rows = bookings::active_bookings_on_slot(&mut conn, slot_id).await?;
        let cancelled = if slot.is_cancelled {
            bookings::cancelled_bookings_on_slot(&mut conn, slot_id).await?
        } else {
            Vec::new()
        };
        Ok((slot, tour, rows, cancelled))
    }

    /// Cancels a departure and every active booking on it (see
    /// `ledger::cancel_departure`); answers the bookings it cancelled.
    pub async fn cancel_slot(
        &self,
        slot_id: i64,
        admin: &Admin,
        reason: &str,
    ) -> ServiceResult<(SlotRow, Vec<BookingRow>)> {
        let caller = admin.caller();

        let reason = reason.trim();
        if reason.is_empty() {
            return Err(ServiceError::invalid("reason", "is required"));
        }
        let reason = optional_text(Some(reason), MAX_TEXT)
            .map_err(|e| ServiceError::invalid("reason", e.0))?
            .unwrap_or_default();
        ledger::retry(|| async {
            let now = self.now();
            let mut tx = self.0.db.begin().await?;
            let (slot, _) = ledger::cancel_departure(
                self.0,
                &mut tx,
                slot_id,
                caller,
                &reason,
                "departure_cancelled",
                None,
                now,
            )
            .await?;
            // Each was cancelled with this transaction's `now`.
            let affected = bookings::cancelled_on_slot_at(&mut tx, slot_id, now).await?;
            tx.commit().await?;
            Ok((slot, affected))
        })
        .await
    }

    /// Cancels pending bookings older than PENDING_HOLD_MINUTES, as `system`.
    pub async fn expire_pending(&self, hold_minutes: u32) -> ServiceResult<usize> {
        if hold_minutes == 0 {
            return Ok(0);
        }
        let before = self.now() - chrono::Duration::minutes(i64::from(hold_minutes));
        let mut conn = self.0.db.read().await?;
        let ids = bookings::pending_before(&mut conn, before, 200).await?;
        drop(conn);
        let system = Caller::system();
        let mut n = 0;
        for id in ids {
            let done = ledger::retry(|| async {
                let mut tx = self.0.db.begin().await?;
                let Some(peek) = bookings::booking_by_id(&mut tx, id).await? else {
                    return Ok(false);
                };
                ledger::lock_slots(&mut tx, &[peek.booking_slot_id]).await?;
                let row = ledger::lock_booking(&mut tx, id, &[peek.booking_slot_id]).await?;
                if row.status != BookingStatus::Pending.as_str() || row.created_at >= before {
                    return Ok(false); // confirmed or cancelled meanwhile
                }
                ledger::transition(
                    self.0,
                    &mut tx,
                    &row,
                    &system,
                    BookingStatus::Cancelled,
                    Some("pending hold expired"),
                    None,
                    AuditKind::Cancellation,
                    self.now(),
                )
                .await?;
                tx.commit().await?;
                Ok(true)
            })
            .await?;
            n += usize::from(done);
        }
        Ok(n)
    }
}
