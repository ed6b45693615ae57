//! The waitlist side of capacity: offering freed spots, claiming an offer,
//! ending an entry and putting held offers back in the queue.

use super::*;

/// Offers free spots on a departure the caller has locked to the waitlist,
/// as long as an entry fits: the first active entry (priority, then age)
/// whose whole party fits gets the spots held until it claims or its
/// window passes. Skipped when WAITLIST_AUTO_PROCESS is off, unless
/// `manual`. A departure that is not open (cancelled, closed, blacked out,
/// withdrawn) or past its cutoff is never offered. Returns how many
/// entries were notified.
pub async fn offer_freed_spots(
    ctx: &Context,
    tx: &mut Tx,
    slot_id: i64,
    manual: bool,
) -> ServiceResult<usize> {
    if !manual && !ctx.settings.waitlist_auto_process {
        return Ok(0);
    }
    let now = ctx.clock.now();
    let window = window(ctx);
    let mut notified = 0;
    loop {
        let slot = load_slot(tx, slot_id).await?;
        if !slot.is_open() || slot.available_spots <= 0 {
            break;
        }
        let closes_at = window.closes_at(slot.starts_at);
        if now >= closes_at {
            break; // too late to book: nobody could claim in time
        }
        let Some(entry) = waitlist::next_candidate(
            tx,
            slot.tour_id,
            slot.slot_date,
            slot.id,
            slot.available_spots,
        )
        .await?
        else {
            break;
        };
        if !capacity::hold(tx, slot.id, entry.num_people, now).await? {
            break;
        }
        let expiry =
            now + Duration::hours(i64::from(ctx.settings.waitlist_notification_expiry_hours));
        let expires_at = expiry.min(closes_at);
        if !waitlist::mark_notified(tx, entry.id, slot.id, now, expires_at).await? {
            capacity::release_hold(tx, slot.id, entry.num_people, now).await?;
            break;
        }
        audit::insert_event(
            tx,
            slot.tour_id,
            EventKind::WaitlistNotified,
            json!({
                "waitlist_entry_id": entry.id,
                "tour_id": slot.tour_id,
                "booking_slot_id": slot.id,
                "slot_date": slot.slot_date,
                "start_time": slot.start_time,
                "num_people": entry.num_people,
                "customer_email": entry.customer_email,
                "expires_at": expires_at,
                "claim_link": format!("/account?claim={}", entry.id),
            }),
            now,
        )
        .await?;
        notified += 1;
    }
    Ok(notified)
}

/// Turns a locked entry's held spots (on its locked departure) into a
/// booking of `party` (at most the held size); the rest goes back to the
/// waitlist. The departure must still be open and bookable now and the
/// tour active.
#[allow(clippy::too_many_arguments)]
pub async fn claim(
    ctx: &Context,
    tx: &mut Tx,
    entry: &WaitlistRow,
    slot: &SlotRow,
    party: &Party,
    contact: &ContactDetails,
    caller: &Caller,
    now: DateTime<Utc>,
) -> ServiceResult<(BookingRow, String)> {
    let tour = load_tour(tx, slot.tour_id).await?;
    admit(ctx, slot, &tour, Admission::Customer, now)?;
    let seats = seats_for(ctx, &tour, party)?;
    capacity::convert_hold(tx, slot.id, entry.num_people, seats, now).await?;
    let slot = load_slot(tx, slot.id).await?;
    // The booking belongs to the entry's account (none for a guest's
    // entry), whoever claims it; the audit row records who did.
    let (booking, token) = insert_booking(
        ctx,
        tx,
        &tour,
        &slot,
        party,
        seats,
        contact,
        entry.user_id,
        caller,
        None,
        now,
    )
    .await?;
    if !waitlist::mark_converted(tx, entry.id, booking.id, now).await? {
        return Err(ServiceError::Busy(format!(
            "waitlist entry {} changed meanwhile",
            entry.id
        )));
    }
    audit::insert_event(tx, tour.id(), EventKind::WaitlistConverted,
        json!({"waitlist_entry_id": entry.id, "booking_id": booking.id, "booking_reference": booking.booking_reference}), now).await?;
    if seats < entry.num_people {
        offer_freed_spots(ctx, tx, slot.id, false).await?;
    }
    Ok((booking, token))
}

/// Ends a locked entry (`to` is `cancelled` or `expired`), releasing its
/// hold on its locked departure. The caller offers the freed spots.
pub async fn end_entry(
    tx: &mut Tx,
    entry: &WaitlistRow,
    to: WaitlistStatus,
    why: &str,
    now: DateTime<Utc>,
) -> ServiceResult<bool> {
    if !waitlist::set_status(tx, entry.id, entry.status, to, now).await? {
        return Ok(false);
    }
    if let (true, Some(slot_id)) = (entry.status == WaitlistStatus::Notified, entry.held_slot_id) {
        capacity::release_hold(tx, slot_id, entry.num_people, now).await?;
    }
    let kind = if to == WaitlistStatus::Expired {
        EventKind::WaitlistExpired
    } else {
        EventKind::WaitlistCancelled
    };
    audit::insert_event(
        tx,
        entry.tour_id,
        kind,
        json!({"waitlist_entry_id": entry.id, "reason": why, "customer_email": entry.customer_email}),
        now,
    )
    .await?;
    Ok(true)
}

/// Puts every waitlist entry holding spots on a departure that just closed
/// (blackout, withdrawal, the operator's close) back in the queue with its
/// place, releasing the spots: an offer that can no longer be claimed is
/// not left standing. The caller holds the departure's lock.
pub async fn requeue_holds(tx: &mut Tx, slot_id: i64, now: DateTime<Utc>) -> ServiceResult<usize> {
    let mut n = 0;
    for entry in waitlist::lock_entries_bound_to_slot(tx, slot_id).await? {
        if entry.status != WaitlistStatus::Notified || !waitlist::requeue(tx, entry.id, now).await?
        {
            continue;
        }
        capacity::release_hold(tx, slot_id, entry.num_people, now).await?;
        audit::insert_event(
            tx,
            entry.tour_id,
            EventKind::WaitlistRequeued,
            json!({"waitlist_entry_id": entry.id, "reason": "back in the queue: the departure closed",
                   "booking_slot_id": slot_id}),
            now,
        )
        .await?;
        n += 1;
    }
    Ok(n)
}
