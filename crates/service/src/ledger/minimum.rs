//! Minimum-participants rules: the decision deadline, guaranteeing a
//! departure that reached its minimum, and cancelling one that did not.

use super::*;

/// A departure's decision deadline under its schedule.
pub fn deadline_of(row: &ScheduleRow, starts_at: DateTime<Utc>) -> DateTime<Utc> {
    starts_at - Duration::hours(row.decision_hours)
}

/// Where a new departure (nobody booked yet) starts out: waiting for its
/// minimum when it has one (more than one person) and its deadline is
/// still to come; otherwise no minimum applies (a departure made after its
/// deadline is not called off for people it never had time to find).
pub fn first_standing(
    row: &ScheduleRow,
    starts_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> &'static str {
    if row.min_capacity > 1 && deadline_of(row, starts_at) > now {
        slots::GUARANTEE_PENDING
    } else {
        slots::GUARANTEE_NONE
    }
}

/// A pending departure (locked, as updated) whose booked people now reach
/// its minimum.
pub fn reaches_minimum(slot: &SlotRow) -> bool {
    slot.is_pending_minimum() && slot.current_bookings >= slot.min_capacity
}

/// Guarantees a locked departure (as updated) if its people now reach its
/// minimum, as `system`: what every path that adds people, or lowers a
/// minimum, ends with. True when it did.
pub async fn guarantee_if_reached(
    tx: &mut Tx,
    slot: &SlotRow,
    tell: Tell<'_>,
    now: DateTime<Utc>,
) -> ServiceResult<bool> {
    if !reaches_minimum(slot) {
        return Ok(false);
    }
    guarantee_departure(
        tx,
        slot.id,
        "minimum_reached",
        &Caller::system(),
        None,
        tell,
        now,
    )
    .await
}

/// Which customers hear that their departure is guaranteed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tell<'a> {
    /// Every customer with a standing booking on it.
    All,
    /// All but these bookings' (those whose people reached the minimum:
    /// their own confirmations show the departure guaranteed).
    AllBut(&'a [i64]),
    /// Nobody (a departure adopted after an upgrade: nothing changed for
    /// its customers).
    Nobody,
}

/// Guarantees a locked, pending departure exactly once (false when it was
/// not pending): `by` is `minimum_reached`, `manual` or `deadline`. Each
/// of its bookings gets an audit row (as `caller`) and, as `tell` says, a
/// `booking.guaranteed` event its customer is emailed from; the departure
/// gets one `departure.guaranteed` event for webhooks.
pub async fn guarantee_departure(
    tx: &mut Tx,
    slot_id: i64,
    by: &str,
    caller: &Caller,
    note: Option<&str>,
    tell: Tell<'_>,
    now: DateTime<Utc>,
) -> ServiceResult<bool> {
    if !slots::guarantee(tx, slot_id, by, now).await? {
        return Ok(false);
    }
    let slot = load_slot(tx, slot_id).await?;
    let why = match by {
        "minimum_reached" => "the departure reached its minimum",
        "manual" => "an operator guaranteed the departure",
        _ => "the departure had its minimum at its decision deadline",
    };
    let reason = match note {
        Some(n) => format!("{why}: {n}"),
        None => why.to_owned(),
    };
    let detail = json!({
        "guarantee": slots::GUARANTEE_GUARANTEED,
        "guaranteed_by": by,
        "booked": slot.current_bookings,
        "min_capacity": slot.min_capacity,
    });
    for b in bookings::bookings_on_slot(tx, slot_id).await? {
        audit(
            tx,
            &b,
            caller,
            AuditKind::DepartureGuaranteed,
            Some(json!({"guarantee": slots::GUARANTEE_PENDING})),
            Some(detail.clone()),
            Some(&reason),
            now,
        )
        .await?;
        let told = match tell {
            Tell::All => true,
            Tell::AllBut(ids) => !ids.contains(&b.id),
            Tell::Nobody => false,
        };
        if told && matches!(b.status.as_str(), "pending" | "confirmed") {
            booking_event(tx, EventKind::BookingGuaranteed, &b, now).await?;
        }
    }
    audit::insert_event(
        tx,
        slot.tour_id,
        EventKind::DepartureGuaranteed,
        json!({
            "booking_slot_id": slot.id,
            "tour_id": slot.tour_id,
            "slot_date": slot.slot_date,
            "start_time": slot.start_time,
            "guaranteed_by": by,
            "booked": slot.current_bookings,
            "min_capacity": slot.min_capacity,
            "note": note,
        }),
        now,
    )
    .await?;
    Ok(true)
}

/// Gives a schedule's future departures that never had a deadline (made
/// before guaranteed departures existed) its minimum and deadline, under
/// their locks; those already at their minimum are guaranteed without
/// telling anyone (nothing changed for their customers). Run by the
/// horizon job in a transaction of its own.
pub async fn adopt_minimum(
    tx: &mut Tx,
    row: &ScheduleRow,
    now: DateTime<Utc>,
) -> ServiceResult<usize> {
    let ids: Vec<i64> = slots::without_deadline(tx, row.id, now)
        .await?
        .iter()
        .map(|s| s.id)
        .collect();
    let mut adopted = 0;
    for slot in lock_slots(tx, &ids).await?.values() {
        if slot.decision_at.is_none()
            && apply_minimum(tx, None, row, slot, slot.starts_at, Tell::Nobody, now).await?
        {
            adopted += 1;
        }
    }
    Ok(adopted)
}

/// Makes a locked departure that is neither guaranteed nor cancelled
/// follow its schedule's minimum (`new`, after an edit from `old`, or an
/// adoption without one); true when anything changed. Its deadline is
/// `decision_hours` before `starts_at` (its start after the edit), unless
/// an admin moved it: then it keeps its distance from the start. One that
/// waits for its minimum keeps waiting (a deadline already past is decided
/// on the job's next round, never dropped); one that had none gets one
/// only while its deadline is ahead. One that already has the people is
/// guaranteed at once.
#[allow(clippy::too_many_arguments)]
pub(super) async fn apply_minimum(
    tx: &mut Tx,
    old: Option<&ScheduleRow>,
    new: &ScheduleRow,
    slot: &SlotRow,
    starts_at: DateTime<Utc>,
    tell: Tell<'_>,
    now: DateTime<Utc>,
) -> ServiceResult<bool> {
    if slot.guarantee == slots::GUARANTEE_GUARANTEED || slot.is_cancelled {
        return Ok(false);
    }
    let moved_by_admin = match (old, slot.decision_at) {
        (Some(old), Some(at)) => at != deadline_of(old, slot.starts_at),
        _ => false,
    };
    let decision_at = match slot.decision_at {
        Some(at) if moved_by_admin => starts_at - (slot.starts_at - at),
        _ => deadline_of(new, starts_at),
    };
    let standing = if new.min_capacity <= 1 {
        slots::GUARANTEE_NONE
    } else if slot.guarantee == slots::GUARANTEE_PENDING || decision_at > now {
        slots::GUARANTEE_PENDING
    } else {
        slots::GUARANTEE_NONE
    };
    if slot.min_capacity == new.min_capacity
        && slot.decision_at == Some(decision_at)
        && slot.guarantee == standing
    {
        return Ok(false);
    }
    slots::set_minimum(
        tx,
        slot.id,
        new.min_capacity,
        Some(decision_at),
        standing,
        now,
    )
    .await?;
    let slot = load_slot(tx, slot.id).await?;
    guarantee_if_reached(tx, &slot, tell, now).await?;
    Ok(true)
}

/// Moves the decision deadline of a locked departure waiting for its
/// minimum (an admin's extension), audited on each of its bookings.
pub async fn move_deadline(
    tx: &mut Tx,
    slot: &SlotRow,
    at: DateTime<Utc>,
    caller: &Caller,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    slots::set_decision_at(tx, slot.id, at, now).await?;
    for b in bookings::bookings_on_slot(tx, slot.id).await? {
        audit(
            tx,
            &b,
            caller,
            AuditKind::DecisionDeadlineMoved,
            Some(json!({"decision_at": slot.decision_at})),
            Some(json!({"decision_at": at})),
            None,
            now,
        )
        .await?;
    }
    Ok(())
}

/// How a decision went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Someone else decided it first, or its deadline moved.
    NotDue,
    Guaranteed,
    /// Called off for its minimum, with this many bookings cancelled.
    Cancelled(usize),
}

/// Decides a departure whose deadline has come, as `system`, exactly once
/// (under the locks of its date's departures, and only while still
/// pending): with its minimum it is guaranteed; without, it is cancelled
/// with reason `minimum_not_reached` and every booking refunded in full.
/// A departure some of whose people have already come or been marked
/// absent has run, and is guaranteed. A decision more than `grace` after
/// the deadline (the server was down) says so in the audit.
pub async fn decide_departure(
    ctx: &Context,
    tx: &mut Tx,
    slot_id: i64,
    grace: Duration,
    now: DateTime<Utc>,
) -> ServiceResult<Decision> {
    let peek = load_slot(tx, slot_id).await?;
    let day = slots::lock_slots_of_date(tx, peek.tour_id, peek.slot_date).await?;
    let Some(slot) = day.iter().find(|s| s.id == slot_id) else {
        return Ok(Decision::NotDue);
    };
    let Some(deadline) = slot.decision_at.filter(|d| *d <= now) else {
        return Ok(Decision::NotDue);
    };
    if !slot.is_pending_minimum() {
        return Ok(Decision::NotDue);
    }
    let late = now - deadline;
    let note = (late > grace).then(|| {
        format!(
            "decided late: its deadline was {}, {} minutes before this decision",
            deadline.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            late.num_minutes()
        )
    });
    let system = Caller::system();
    // A departure decided only after it started (the server was down
    // through its deadline and its start) has most likely run: it is
    // never called off then, nor one some of whose people have come.
    let started = now >= slot.starts_at;
    let has_run = started
        || bookings::bookings_on_slot(tx, slot_id)
            .await?
            .iter()
            .any(|b| {
                matches!(b.status.as_str(), "completed" | "no_show") || b.checked_in_at.is_some()
            });
    if slot.current_bookings >= slot.min_capacity || has_run {
        let ran = if started {
            "decided after the departure started"
        } else {
            "it has already run"
        };
        let note = match (has_run, note) {
            (true, Some(n)) => Some(format!("{n}; {ran}")),
            (true, None) => Some(ran.to_owned()),
            (false, n) => n,
        };
        guarantee_departure(
            tx,
            slot_id,
            "deadline",
            &system,
            note.as_deref(),
            Tell::All,
            now,
        )
        .await?;
        return Ok(Decision::Guaranteed);
    }
    let (_, cancelled) = cancel_departure(
        ctx,
        tx,
        slot_id,
        &system,
        slots::MINIMUM_NOT_REACHED,
        slots::MINIMUM_NOT_REACHED,
        note.as_deref(),
        now,
    )
    .await?;
    Ok(Decision::Cancelled(cancelled))
}
