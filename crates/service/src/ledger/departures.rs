//! An operator's changes to one departure: cancelling it (and its
//! bookings and waitlist holds) and patching its capacity or state.

use super::*;

/// Cancels a departure: locks every departure of its tour and date (the
/// ones its waitlist entries may move to), marks it cancelled *first*, then
/// cancels every capacity-holding booking found under its lock (each
/// audited), releases waitlist holds on it — date-wide entries go back to
/// the queue with their place and are offered another departure that day,
/// entries for exactly this departure are cancelled — and never offers the
/// cancelled departure to anyone. Returns it and how many bookings were
/// cancelled.
#[allow(clippy::too_many_arguments)]
pub async fn cancel_departure(
    ctx: &Context,
    tx: &mut Tx,
    slot_id: i64,
    caller: &Caller,
    reason: &str,
    refund_rule: &str,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> ServiceResult<(SlotRow, usize)> {
    let peek = load_slot(tx, slot_id).await?;
    let day = slots::lock_slots_of_date(tx, peek.tour_id, peek.slot_date).await?;
    let slot = day
        .iter()
        .find(|s| s.id == slot_id)
        .ok_or_else(|| ServiceError::Busy(format!("departure {slot_id} moved meanwhile")))?;
    if slot.is_cancelled {
        return Err(ServiceError::conflict(
            "slot_cancelled",
            format!("slot {slot_id} is already cancelled"),
        ));
    }
    slots::cancel_slot(tx, slot_id, reason, now).await?;
    let message = match note {
        Some(note) => format!("departure cancelled: {reason} ({note})"),
        None => format!("departure cancelled: {reason}"),
    };
    let mut rows = Vec::new();
    for id in bookings::lock_active_bookings_on_slot(tx, slot_id).await? {
        rows.push(load_booking(tx, id).await?);
    }
    // A departure some of whose people are already marked as having come
    // (or not shown up) has happened: cancelling it would leave them
    // counted on a cancelled departure.
    if let Some(done) = rows
        .iter()
        .find(|b| !status_of(b).is_ok_and(|s| s.can_become(BookingStatus::Cancelled)))
    {
        return Err(ServiceError::conflict(
            "departure_has_run",
            format!(
                "booking {} on this departure is {}; a departure that has run cannot be cancelled",
                done.booking_reference, done.status
            ),
        ));
    }
    let mut cancelled = 0;
    for row in rows {
        // The operator called it off, or it did not reach its minimum:
        // everything paid comes back.
        let refund = Refund::full(&row, refund_rule);
        transition(
            ctx,
            tx,
            &row,
            caller,
            BookingStatus::Cancelled,
            Some(&message),
            Some(refund),
            AuditKind::Cancellation,
            now,
        )
        .await?;
        cancelled += 1;
    }
    for entry in waitlist::lock_entries_bound_to_slot(tx, slot_id).await? {
        let date_wide = entry.booking_slot_id.is_none();
        let done = if entry.status == WaitlistStatus::Notified && date_wide {
            waitlist::requeue(tx, entry.id, now).await?
        } else {
            waitlist::set_status(tx, entry.id, entry.status, WaitlistStatus::Cancelled, now).await?
        };
        if !done {
            continue;
        }
        if entry.status == WaitlistStatus::Notified {
            capacity::release_hold(tx, slot_id, entry.num_people, now).await?;
        }
        let (kind, what) = if entry.status == WaitlistStatus::Notified && date_wide {
            (
                EventKind::WaitlistRequeued,
                "back in the queue: the departure was cancelled",
            )
        } else {
            (EventKind::WaitlistCancelled, "departure cancelled")
        };
        audit::insert_event(
            tx,
            entry.tour_id,
            kind,
            json!({"waitlist_entry_id": entry.id, "reason": what, "booking_slot_id": slot_id}),
            now,
        )
        .await?;
    }
    for other in day.iter().filter(|s| s.id != slot_id) {
        offer_freed_spots(ctx, tx, other.id, false).await?;
    }
    let slot = load_slot(tx, slot_id).await?;
    // For webhooks: one event for the departure (its bookings each have
    // their own `booking.cancelled`, which is what customers are emailed).
    audit::insert_event(
        tx,
        slot.tour_id,
        EventKind::DepartureCancelled,
        json!({
            "booking_slot_id": slot.id,
            "tour_id": slot.tour_id,
            "slot_date": slot.slot_date,
            "start_time": slot.start_time,
            "reason": reason,
            "note": note,
            "cancelled_bookings": cancelled,
        }),
        now,
    )
    .await?;
    Ok((slot, cancelled))
}

/// Changes a locked departure's capacity, price or open flag. A capacity
/// below what is booked and held is 409 `capacity_below_booked`, decided
/// on the locked row; more room or a reopening is offered to the waitlist.
pub async fn patch_departure(
    ctx: &Context,
    tx: &mut Tx,
    slot: &SlotRow,
    max_capacity: Option<i64>,
    price: Option<i64>,
    is_available: Option<bool>,
    now: DateTime<Utc>,
) -> ServiceResult<SlotRow> {
    if let Some(cap) = max_capacity
        && cap < slot.current_bookings + slot.held_spots
    {
        return Err(ServiceError::conflict(
            "capacity_below_booked",
            format!(
                "slot {} has {} booked and {} held; capacity cannot go below {}",
                slot.id,
                slot.current_bookings,
                slot.held_spots,
                slot.current_bookings + slot.held_spots
            ),
        ));
    }
    slots::patch_slot(tx, slot.id, max_capacity, price, is_available, now).await?;
    if is_available == Some(false) && slot.is_available {
        requeue_holds(tx, slot.id, now).await?;
    }
    if max_capacity.is_some_and(|c| c > slot.max_capacity) || is_available == Some(true) {
        offer_freed_spots(ctx, tx, slot.id, false).await?;
    }
    load_slot(tx, slot.id).await
}
