//! A customer's or an admin's changes to one booking: modify, cancel and
//! status changes, under the departure's time rules.

use super::*;

impl Bookings<'_> {
    /// Refuses a customer's change once the departure's cutoff has passed
    /// (`changes_closed`), and any customer action once it has started
    /// (`departure_started`). Admins are not limited.
    pub(super) fn time_rules(
        &self,
        caller: &Caller,
        b: &BookingRow,
        changing: bool,
    ) -> ServiceResult<()> {
        if caller.is_admin() {
            return Ok(());
        }
        let now = self.now();
        if now >= b.starts_at {
            return Err(ServiceError::conflict(
                "departure_started",
                format!(
                    "the {} {} departure has started; contact the operator",
                    b.tour_date, b.tour_time
                ),
            ));
        }
        if changing && now >= ledger::window(self.0).closes_at(b.starts_at) {
            return Err(ServiceError::conflict(
                "changes_closed",
                format!(
                    "changes close {} hours before the departure; contact the operator",
                    self.0.settings.booking_cutoff_hours
                ),
            ));
        }
        Ok(())
    }

    /// Changes the departure and/or the party in one transaction: reserves
    /// only what grows, releases what shrinks, re-prices, and audits old and
    /// new. Both departures are locked (ascending id) before the booking.
    pub async fn modify(
        &self,
        id: i64,
        caller: &Caller,
        m: Modification,
    ) -> ServiceResult<BookingRow> {
        let notes = optional_text(m.notes.as_deref(), MAX_TEXT)
            .map_err(|e| ServiceError::invalid("modification_notes", e.0))?;
        ledger::retry(|| self.modify_once(id, caller, &m, notes.as_deref())).await
    }

    async fn modify_once(
        &self,
        id: i64,
        caller: &Caller,
        m: &Modification,
        notes: Option<&str>,
    ) -> ServiceResult<BookingRow> {
        let now = self.now();
        let mut tx = self.0.db.begin().await?;
        let peek = load_booking(&mut tx, id).await?;
        self.authorize(&mut tx, caller, &peek).await?;
        let to_id = m.new_slot_id.unwrap_or(peek.booking_slot_id);
        let locked = ledger::lock_slots(&mut tx, &[peek.booking_slot_id, to_id]).await?;
        let old = ledger::lock_booking(&mut tx, id, &[peek.booking_slot_id, to_id]).await?;
        let status = status_of(&old)?;
        if !status.is_changeable() {
            return Err(ServiceError::conflict(
                "invalid_status",
                format!("a {status} booking cannot be changed"),
            ));
        }
        self.time_rules(caller, &old, true)?;
        let party = ledger::party(
            self.0,
            m.new_num_adults.unwrap_or(old.party.adults),
            m.new_num_children.unwrap_or(old.party.children),
            m.new_num_infants.unwrap_or(old.party.infants),
        )
        .map_err(|e| match e {
            // The request names the party `new_num_adults`, ...
            ServiceError::Invalid { field, message } => ServiceError::Invalid {
                field: format!("new_{field}"),
                message,
            },
            other => other,
        })?;
        let to_id = m.new_slot_id.unwrap_or(old.booking_slot_id);
        let to = locked.get(&to_id).ok_or_else(|| {
            ServiceError::conflict("slot_unavailable", format!("slot {to_id} does not exist"))
        })?;
        if to.tour_id != old.tour_id {
            return Err(ServiceError::conflict(
                "slot_unavailable",
                "the new slot belongs to another tour",
            ));
        }
        let moving = to.id != old.booking_slot_id;
        let old_party = old.party;
        if !moving && party == old_party {
            return Err(ServiceError::invalid(
                "new_slot_id",
                "nothing to change: give a new slot or a new party size",
            ));
        }
        let tour = load_tour(&mut tx, old.tour_id).await?;
        let who = if caller.is_admin() {
            Admission::Admin
        } else {
            Admission::Customer
        };
        let new = ledger::rebook(
            self.0,
            &mut tx,
            Rebooking {
                old: &old,
                tour: &tour,
                to,
                party,
                who,
                notes,
            },
            caller,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(new)
    }

    /// Cancels a pending or confirmed booking and releases its spots.
    pub async fn cancel(
        &self,
        id: i64,
        caller: &Caller,
        reason: Option<&str>,
        refund: Option<String>,
    ) -> ServiceResult<BookingRow> {
        let reason = optional_text(reason, MAX_TEXT)
            .map_err(|e| ServiceError::invalid("cancellation_reason", e.0))?;
        if refund.is_some() && !caller.is_admin() {
            return Err(ServiceError::Forbidden(
                "only an admin may set refund_amount".into(),
            ));
        }
        if refund.is_some() && reason.is_none() {
            return Err(ServiceError::invalid(
                "cancellation_reason",
                "is required with refund_amount: say why the refund differs from the policy's",
            ));
        }
        ledger::retry(|| self.cancel_once(id, caller, reason.as_deref(), refund.as_deref())).await
    }

    async fn cancel_once(
        &self,
        id: i64,
        caller: &Caller,
        reason: Option<&str>,
        refund: Option<&str>,
    ) -> ServiceResult<BookingRow> {
        let now = self.now();
        let mut tx = self.0.db.begin().await?;
        let peek = load_booking(&mut tx, id).await?;
        self.authorize(&mut tx, caller, &peek).await?;
        ledger::lock_slots(&mut tx, &[peek.booking_slot_id]).await?;
        let row = ledger::lock_booking(&mut tx, id, &[peek.booking_slot_id]).await?;
        self.time_rules(caller, &row, false)?;
        let tour = load_tour(&mut tx, row.tour_id).await?;
        let refund_minor = match refund {
            None => None,
            Some(text) => {
                let minor = row
                    .currency
                    .parse_amount(text)
                    .map_err(|e| ServiceError::invalid("refund_amount", e.to_string()))?;
                if minor < 0 || minor > row.pricing.total_amount {
                    return Err(ServiceError::invalid(
                        "refund_amount",
                        "must be between 0 and the booking's total",
                    ));
                }
                Some(minor)
            }
        };
        let refund = ledger::Refund::by_policy(
            &ledger::policy_of(self.0, &tour),
            &row,
            now,
            refund_minor.map(|m| (m, reason.unwrap_or_default())),
        );
        let done = ledger::transition(
            self.0,
            &mut tx,
            &row,
            caller,
            BookingStatus::Cancelled,
            reason,
            Some(refund),
            AuditKind::Cancellation,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(done)
    }

    /// An admin's status change, following BOOKING_STATUS_TRANSITIONS.
    pub async fn change_status(
        &self,
        id: i64,
        admin: &Admin,
        to: &str,
        reason: Option<&str>,
    ) -> ServiceResult<BookingRow> {
        let caller = admin.caller();

        let to: BookingStatus = to
            .parse()
            .map_err(|e: String| ServiceError::invalid("status", e))?;
        let reason =
            optional_text(reason, MAX_TEXT).map_err(|e| ServiceError::invalid("reason", e.0))?;
        ledger::retry(|| async {
            let now = self.now();
            let mut tx = self.0.db.begin().await?;
            let peek = load_booking(&mut tx, id).await?;
            ledger::lock_slots(&mut tx, &[peek.booking_slot_id]).await?;
            let row = ledger::lock_booking(&mut tx, id, &[peek.booking_slot_id]).await?;
            // A cancellation by status refunds by the tour's policy, as the
            // cancel action does.
            let refund = if to == BookingStatus::Cancelled {
                let tour = load_tour(&mut tx, row.tour_id).await?;
                Some(ledger::Refund::by_policy(
                    &ledger::policy_of(self.0, &tour),
                    &row,
                    now,
                    None,
                ))
            } else {
                None
            };
            let done = ledger::transition(
                self.0,
                &mut tx,
                &row,
                caller,
                to,
                reason.as_deref(),
                refund,
                AuditKind::StatusChange,
                now,
            )
            .await?;
            tx.commit().await?;
            Ok(done)
        })
        .await
    }
}
