//! Changes to an existing booking: a move or resize (`rebook`), contact
//! details, check-in, status transitions and refunds.

use super::*;

/// A booking's new departure and party, decided by the caller on locked rows.
pub struct Rebooking<'a> {
    pub old: &'a BookingRow,
    pub tour: &'a Tour,
    /// The departure it ends on (locked); the same as the old one when not moving.
    pub to: &'a SlotRow,
    pub party: Party,
    pub who: Admission,
    pub notes: Option<&'a str>,
}

/// Moves and/or resizes a booking whose departures are locked: reserves
/// only what grows, releases what shrinks, re-prices (a move takes the new
/// departure's price, the same departure keeps the agreed one), audits old
/// and new, emits the event and offers freed spots to the waitlist.
pub async fn rebook(
    ctx: &Context,
    tx: &mut Tx,
    r: Rebooking<'_>,
    caller: &Caller,
    now: DateTime<Utc>,
) -> ServiceResult<BookingRow> {
    let old = r.old;
    let status = status_of(old)?;
    let moving = r.to.id != old.booking_slot_id;
    let n = seats_for(ctx, r.tour, &r.party)?;
    if moving {
        reserve(ctx, tx, r.tour, r.to.id, n, r.who, now).await?;
        capacity::release(tx, old.booking_slot_id, old.seats, now).await?;
    } else {
        let delta = n - old.seats;
        if delta > 0 {
            reserve(ctx, tx, r.tour, r.to.id, delta, r.who, now).await?;
        } else if delta < 0 {
            capacity::release(tx, r.to.id, -delta, now).await?;
        }
    }
    let adult_price = if moving {
        r.to.price_per_person
    } else {
        old.pricing.price_per_adult
    };
    let pricing = price(ctx, &r.party, adult_price);
    // People removed are refunded by the tour's policy, as of now and the
    // departure they were booked on, at the prices they were booked at.
    let old_party = old.party;
    let reduction = if r.party.total() < old_party.total() {
        let kept = price(ctx, &r.party, old.pricing.price_per_adult).total_amount;
        let removed = (old.pricing.total_amount - kept).max(0);
        let (percent, amount) =
            policy_of(ctx, r.tour).reduction_refund(removed, old.starts_at, now);
        Some((removed, percent, amount))
    } else {
        None
    };
    let applied = bookings::apply_change(
        tx,
        old.id,
        status.as_str(),
        &BookingChange {
            booking_slot_id: r.to.id,
            party: r.party,
            pricing,
            seats: n,
            reduction_refund: reduction.map_or(0, |(_, _, amount)| amount),
        },
        now,
    )
    .await?;
    if !applied {
        // Impossible under the booking's lock; kept as a guard.
        return Err(ServiceError::Busy(format!(
            "booking {} changed meanwhile",
            old.id
        )));
    }
    let new = load_booking(tx, old.id).await?;
    let mut new_value = snapshot(&new);
    if let (Some((removed, percent, amount)), Some(obj)) = (reduction, new_value.as_object_mut()) {
        obj.insert(
            "reduction_refund".into(),
            json!({"removed_amount": removed, "refund_percent": percent, "refund_amount": amount}),
        );
    }
    let kind = AuditKind::of_modification(moving, r.party != old_party);
    audit(
        tx,
        &new,
        caller,
        kind,
        Some(snapshot(old)),
        Some(new_value),
        r.notes,
        now,
    )
    .await?;
    booking_changed_event(tx, old, &new, now).await?;
    let mut new = new;
    if n > old.seats || moving {
        let to = load_slot(tx, r.to.id).await?;
        if guarantee_if_reached(tx, &to, Tell::AllBut(&[old.id]), now).await? {
            new = load_booking(tx, old.id).await?;
        }
    }
    if moving {
        offer_freed_spots(ctx, tx, old.booking_slot_id, false).await?;
    } else if n < old.seats {
        offer_freed_spots(ctx, tx, r.to.id, false).await?;
    }
    Ok(new)
}

/// What the audit trail keeps of a booking's contact details.
fn contact_snapshot(b: &BookingRow) -> Value {
    serde_json::to_value(&b.contact).unwrap_or_default()
}

/// Replaces a locked, changeable booking's contact details (validated by
/// the caller) and audits old and new as `contact_change`.
pub async fn change_contact(
    tx: &mut Tx,
    old: &BookingRow,
    contact: &ContactDetails,
    caller: &Caller,
    now: DateTime<Utc>,
) -> ServiceResult<BookingRow> {
    let status = status_of(old)?;
    if !status.is_changeable() {
        return Err(ServiceError::conflict(
            "invalid_status",
            format!("a {status} booking cannot be changed"),
        ));
    }
    if !bookings::update_contact(tx, old.id, status.as_str(), contact, now).await? {
        return Err(ServiceError::Busy(format!(
            "booking {} changed meanwhile",
            old.id
        )));
    }
    let new = load_booking(tx, old.id).await?;
    audit(
        tx,
        &new,
        caller,
        AuditKind::ContactChange,
        Some(contact_snapshot(old)),
        Some(contact_snapshot(&new)),
        None,
        now,
    )
    .await?;
    Ok(new)
}

/// Checks a locked pending or confirmed booking in (`true`) or undoes it,
/// audited as `check_in` / `check_in_undone`. Closing the departure later
/// turns the check-in into a status.
pub async fn set_check_in(
    tx: &mut Tx,
    row: &BookingRow,
    caller: &Caller,
    checked_in: bool,
    now: DateTime<Utc>,
) -> ServiceResult<BookingRow> {
    let status = status_of(row)?;
    if !matches!(status, BookingStatus::Pending | BookingStatus::Confirmed) {
        return Err(ServiceError::conflict(
            "invalid_status",
            format!("a {status} booking cannot be checked in or out"),
        ));
    }
    let at = checked_in.then_some(row.checked_in_at.unwrap_or(now));
    if !bookings::set_checked_in(tx, row.id, status.as_str(), at, now).await? {
        return Err(ServiceError::Busy(format!(
            "booking {} changed meanwhile",
            row.id
        )));
    }
    let new = load_booking(tx, row.id).await?;
    if row.checked_in_at.is_some() != checked_in {
        let kind = if checked_in {
            AuditKind::CheckIn
        } else {
            AuditKind::CheckInUndone
        };
        audit(
            tx,
            &new,
            caller,
            kind,
            Some(json!({"checked_in": row.checked_in_at.is_some()})),
            Some(json!({"checked_in": checked_in})),
            None,
            now,
        )
        .await?;
    }
    Ok(new)
}

/// Moves a locked booking (on a locked departure) to `to`: checks the
/// transition, releases capacity when leaving a capacity-holding status,
/// audits, emits the event and offers freed spots to the waitlist.
#[allow(clippy::too_many_arguments)]
pub async fn transition(
    ctx: &Context,
    tx: &mut Tx,
    row: &BookingRow,
    caller: &Caller,
    to: BookingStatus,
    reason: Option<&str>,
    refund: Option<Refund>,
    kind: AuditKind,
    now: DateTime<Utc>,
) -> ServiceResult<BookingRow> {
    let from = status_of(row)?;
    if !from.can_become(to) {
        return Err(ServiceError::conflict(
            "invalid_transition",
            format!("a {from} booking cannot become {to}"),
        ));
    }
    let amount = refund.as_ref().map(|r| r.amount);
    if !bookings::set_status(tx, row.id, from.as_str(), to.as_str(), reason, amount, now).await? {
        return Err(ServiceError::Busy(format!(
            "booking {} changed meanwhile",
            row.id
        )));
    }
    let releases = from.holds_capacity() && !to.holds_capacity();
    if releases {
        capacity::release(tx, row.booking_slot_id, row.seats, now).await?;
    }
    let new = load_booking(tx, row.id).await?;
    let mut new_value = snapshot(&new);
    if let (Some(r), Some(obj)) = (refund, new_value.as_object_mut()) {
        obj.insert("refund_amount".into(), json!(r.amount));
        obj.insert("refund".into(), r.basis);
    }
    audit(
        tx,
        &new,
        caller,
        kind,
        Some(snapshot(row)),
        Some(new_value),
        reason,
        now,
    )
    .await?;
    let event = if to == BookingStatus::Cancelled {
        EventKind::BookingCancelled
    } else {
        EventKind::BookingStatusChanged
    };
    booking_event(tx, event, &new, now).await?;
    if releases {
        offer_freed_spots(ctx, tx, row.booking_slot_id, false).await?;
    }
    Ok(new)
}

/// A refund recorded with a cancellation: the amount (minor units) and
/// how it was arrived at, for the audit trail.
#[derive(Debug, Clone)]
pub struct Refund {
    pub amount: i64,
    pub basis: Value,
}

impl Refund {
    /// Everything paid, for a cancellation that was not the customer's
    /// doing (`why`: `departure_cancelled`, `minimum_not_reached`).
    pub fn full(b: &BookingRow, why: &str) -> Refund {
        Refund {
            amount: b.pricing.total_amount,
            basis: json!({"rule": why, "refund_percent": 100, "refund_amount": b.pricing.total_amount}),
        }
    }

    /// What the tour's policy gives back at `now`, or an admin's amount
    /// in its place (with the reason, and what the policy said).
    pub fn by_policy(
        policy: &CancellationPolicy,
        b: &BookingRow,
        now: DateTime<Utc>,
        admin_override: Option<(i64, &str)>,
    ) -> Refund {
        let q = policy.quote(b.pricing.total_amount, b.starts_at, now);
        let tier = policy.tiers()[q.tier];
        let mut basis = json!({
            "rule": "policy",
            "tier_min_hours_before": tier.min_hours_before,
            "refund_percent": q.refund_percent,
            "fee": q.fee,
            "policy_refund_amount": q.refund_amount,
        });
        let amount = match (admin_override, basis.as_object_mut()) {
            (Some((amount, reason)), Some(obj)) => {
                obj.insert("rule".into(), json!("admin_override"));
                obj.insert("override_reason".into(), json!(reason));
                amount
            }
            _ => q.refund_amount,
        };
        if let Some(obj) = basis.as_object_mut() {
            obj.insert("refund_amount".into(), json!(amount));
        }
        Refund { amount, basis }
    }
}
