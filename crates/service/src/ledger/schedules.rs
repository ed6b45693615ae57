//! Departures derived from schedules: blackouts, patterns, syncing a
//! schedule's departures with its pattern, and generating them.

use super::*;

/// Locks the departures a blackout range covers and recomputes their
/// blackout closure from the active blackouts (rule 4); waitlist holds on
/// the ones now blacked out go back to the queue. Run after the blackout
/// row itself was inserted or deactivated.
pub async fn refresh_blackouts(
    tx: &mut Tx,
    tour_id: Option<i64>,
    from: NaiveDate,
    to: NaiveDate,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    slots::lock_slots_between(tx, tour_id, from, to).await?;
    slots::refresh_blackouts(tx, tour_id, from, to).await?;
    for id in slots::blacked_out_with_holds(tx, tour_id, from, to).await? {
        requeue_holds(tx, id, now).await?;
    }
    Ok(())
}

pub fn pattern_of(row: &ScheduleRow) -> ServiceResult<Pattern> {
    let recurrence: Recurrence = row
        .recurrence
        .parse()
        .map_err(|e: String| corrupt(format!("schedule {}: {e}", row.id)))?;
    Ok(Pattern::new(
        recurrence,
        row.days,
        row.rrule.as_deref(),
        row.start_time,
        row.valid_from,
        row.valid_until,
    )?)
}

/// What a schedule edit does to one future departure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepartureAction {
    /// Its time changes.
    Moved,
    /// Booked: its time would change, and stays (`apply_to_booked` not set).
    KeptBooked,
    /// Its capacity changes (never below what is booked and held).
    CapacityChanged,
    /// Its price per person changes (bookings keep their agreed price).
    PriceChanged,
    /// The schedule no longer produces it: closed to new bookings.
    Withdrawn,
    /// No longer produced, but booked: closed to new people, stays for its
    /// bookings.
    WithdrawnBooked,
    /// Produced again: reopened.
    Restored,
    /// Its minimum or decision deadline changes (not once guaranteed or
    /// called off).
    MinimumChanged,
}

impl DepartureAction {
    pub fn as_str(self) -> &'static str {
        match self {
            DepartureAction::Moved => "moved",
            DepartureAction::KeptBooked => "kept_booked",
            DepartureAction::CapacityChanged => "capacity_changed",
            DepartureAction::PriceChanged => "price_changed",
            DepartureAction::Withdrawn => "withdrawn",
            DepartureAction::WithdrawnBooked => "withdrawn_booked",
            DepartureAction::Restored => "restored",
            DepartureAction::MinimumChanged => "minimum_changed",
        }
    }
}

/// One future departure a schedule edit changes (or would change).
#[derive(Debug, Clone)]
pub struct DepartureChange {
    pub slot: SlotRow,
    pub actions: Vec<DepartureAction>,
    pub new_start_time: Option<chrono::NaiveTime>,
    pub new_capacity: Option<i64>,
    pub new_price: Option<i64>,
    /// People booked on it.
    pub booked: i64,
}

/// What a schedule edit did (or, as a dry run, would do) to its future
/// departures.
#[derive(Debug, Clone, Default)]
pub struct ScheduleSync {
    pub changes: Vec<DepartureChange>,
    /// Departures the edit adds (dates now produced that had none).
    pub created: usize,
}

/// Makes a schedule's future departures (starting after now) follow `new`
/// (the schedule as it is after the edit, already written; `old` as it
/// was): the one place a schedule's edits flow to its departures. A dry run
/// is this same function in a transaction that is rolled back.
///
/// - A date `new` still produces keeps its departure: a changed start time
///   or duration moves it (a booked one only with `apply_to_booked`, each
///   booking audited as `schedule_change`; `apply_to_booked` also moves
///   booked departures an earlier edit left at their old time); a changed capacity applies,
///   never below what is booked and held; a changed price applies to new
///   bookings; a withdrawn departure is restored.
/// - A date `new` no longer produces (or an inactive schedule): an unbooked
///   departure is withdrawn (closed), a booked one stays for its bookings.
/// - Dates `new` produces that have no departure yet are created up to the
///   booking horizon (or the last existing departure, if later).
#[allow(clippy::too_many_arguments)]
pub async fn sync_schedule(
    ctx: &Context,
    tx: &mut Tx,
    tour: &Tour,
    old: &ScheduleRow,
    new: &ScheduleRow,
    apply_to_booked: bool,
    caller: &Caller,
) -> ServiceResult<ScheduleSync> {
    let now = ctx.clock.now();
    let existing = slots::lock_future_slots_of_schedule(tx, new.id, now).await?;
    let today = tour.today(now);
    let horizon = today + Duration::days(i64::from(ctx.settings.booking_advance_days));
    let last = existing
        .iter()
        .map(|s| s.slot_date)
        .max()
        .unwrap_or(horizon)
        .max(horizon);
    let produced: BTreeMap<NaiveDate, schedule::Placement> = if new.is_active {
        pattern_of(new)?
            .occurrences(today, last)?
            .into_iter()
            .map(|local| schedule::place(local, tour.tz, new.duration_minutes))
            .map(|p| (p.slot_date, p))
            .collect()
    } else {
        BTreeMap::new()
    };
    // Times follow the schedule when this edit changes them, or when the
    // operator asks to bring booked departures in line.
    let time_changed = old.start_time != new.start_time
        || old.duration_minutes != new.duration_minutes
        || apply_to_booked;
    let capacity_changed = old.max_capacity != new.max_capacity;
    let minimum_changed =
        old.min_capacity != new.min_capacity || old.decision_hours != new.decision_hours;
    let old_price = old.price_override.unwrap_or(tour.row.base_price);
    let new_price = new.price_override.unwrap_or(tour.row.base_price);
    let mut out = ScheduleSync::default();
    for slot in existing {
        let booked = slot.current_bookings;
        let occupied = !slot.is_empty();
        let mut change = DepartureChange {
            booked,
            actions: Vec::new(),
            new_start_time: None,
            new_capacity: None,
            new_price: None,
            slot,
        };
        let slot = &change.slot;
        match produced.get(&slot.slot_date) {
            None => {
                if !slot.withdrawn {
                    // Closed to new people either way; a booked one keeps
                    // its bookings (and shows as open for them).
                    change.actions.push(if occupied {
                        DepartureAction::WithdrawnBooked
                    } else {
                        DepartureAction::Withdrawn
                    });
                    slots::set_withdrawn(tx, slot.id, true, now).await?;
                    requeue_holds(tx, slot.id, now).await?;
                }
            }
            Some(p) => {
                if slot.withdrawn {
                    change.actions.push(DepartureAction::Restored);
                    slots::set_withdrawn(tx, slot.id, false, now).await?;
                }
                if time_changed && (slot.start_time != p.start_time || slot.end_time != p.end_time)
                {
                    change.new_start_time = Some(p.start_time);
                    if occupied && !apply_to_booked {
                        change.actions.push(DepartureAction::KeptBooked);
                    } else {
                        change.actions.push(DepartureAction::Moved);
                        move_departure(tx, slot, p, caller, now).await?;
                    }
                }
                if capacity_changed && slot.max_capacity != new.max_capacity {
                    let floor = slot.current_bookings + slot.held_spots;
                    let cap = new.max_capacity.max(floor);
                    if cap != slot.max_capacity {
                        change.new_capacity = Some(cap);
                        change.actions.push(DepartureAction::CapacityChanged);
                        slots::patch_slot(tx, slot.id, Some(cap), None, None, now).await?;
                    }
                }
                if old_price != new_price && slot.price_per_person != new_price {
                    change.new_price = Some(new_price);
                    change.actions.push(DepartureAction::PriceChanged);
                    slots::patch_slot(tx, slot.id, None, Some(new_price), None, now).await?;
                }
                if change.actions.contains(&DepartureAction::Restored)
                    || change.new_capacity.is_some_and(|c| c > slot.max_capacity)
                {
                    offer_freed_spots(ctx, tx, slot.id, false).await?;
                }
                let starts_at = if change.actions.contains(&DepartureAction::Moved) {
                    p.starts_at
                } else {
                    slot.starts_at
                };
                if minimum_changed
                    && apply_minimum(tx, Some(old), new, slot, starts_at, Tell::All, now).await?
                {
                    change.actions.push(DepartureAction::MinimumChanged);
                }
            }
        }
        if !change.actions.is_empty() {
            out.changes.push(change);
        }
    }
    let start = today.max(new.valid_from);
    if new.is_active && start <= last {
        out.created = generate(tx, tour, new, start, last, now).await?.created;
    }
    Ok(out)
}

/// Moves a locked departure to a new placement and audits each of its
/// bookings (`schedule_change`, as the caller).
async fn move_departure(
    tx: &mut Tx,
    slot: &SlotRow,
    p: &schedule::Placement,
    caller: &Caller,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    let before = bookings::bookings_on_slot(tx, slot.id).await?;
    // The deadline keeps its distance from the start.
    let decision_at = slot.decision_at.map(|d| p.starts_at - (slot.starts_at - d));
    slots::reschedule(
        tx,
        slot.id,
        p.slot_date,
        p.start_time,
        p.end_time,
        p.starts_at,
        decision_at,
        now,
    )
    .await?;
    for old in &before {
        let new = load_booking(tx, old.id).await?;
        audit(
            tx,
            &new,
            caller,
            AuditKind::ScheduleChange,
            Some(snapshot(old)),
            Some(snapshot(&new)),
            Some("the departure's schedule changed"),
            now,
        )
        .await?;
        booking_changed_event(tx, old, &new, now).await?;
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct GenerationReport {
    pub created: usize,
    pub skipped_existing: usize,
    pub skipped_blackout: usize,
    pub slots: Vec<SlotRow>,
}

/// Creates the departures a schedule produces in `start..=end` that it has
/// no departure for yet (one per date, whatever its state), skipping
/// blacked-out dates. Idempotent.
pub async fn generate(
    tx: &mut Tx,
    tour: &Tour,
    row: &ScheduleRow,
    start: NaiveDate,
    end: NaiveDate,
    now: DateTime<Utc>,
) -> ServiceResult<GenerationReport> {
    let pattern = pattern_of(row)?;
    let occurrences = pattern.occurrences(start, end)?;
    let blackouts =
        tourdesk_store::blackouts::active_blackouts_between(tx, tour.id(), start, end).await?;
    let blacked_out = |d: NaiveDate| {
        blackouts
            .iter()
            .any(|b| b.start_date <= d && d <= b.end_date)
    };
    let price = row.price_override.unwrap_or(tour.row.base_price);
    let mut report = GenerationReport {
        created: 0,
        skipped_existing: 0,
        skipped_blackout: 0,
        slots: Vec::new(),
    };
    for local in occurrences {
        let placed = schedule::place(local, tour.tz, row.duration_minutes);
        if blacked_out(placed.slot_date) {
            report.skipped_blackout += 1;
            continue;
        }
        let new = NewSlot {
            tour_id: tour.id(),
            schedule_id: Some(row.id),
            slot_date: placed.slot_date,
            start_time: placed.start_time,
            end_time: placed.end_time,
            starts_at: placed.starts_at,
            max_capacity: row.max_capacity,
            price_per_person: price,
            min_capacity: row.min_capacity,
            decision_at: Some(deadline_of(row, placed.starts_at)),
            guarantee: first_standing(row, placed.starts_at, now),
        };
        match slots::insert_slot_if_absent(tx, &new, now).await? {
            Some(slot) => {
                report.created += 1;
                report.slots.push(slot);
            }
            None => report.skipped_existing += 1,
        }
    }
    Ok(report)
}

/// A phone as given, else the one on file, validated.
pub fn phone_or(
    given: Option<&str>,
    on_file: Option<&str>,
    field: &'static str,
) -> ServiceResult<Option<Phone>> {
    match given {
        Some(p) => Phone::parse_optional(Some(p)).map_err(|e| ServiceError::invalid(field, e.0)),
        None => Ok(on_file.and_then(|p| Phone::parse(p).ok())),
    }
}

/// The booking of `party` priced on `slot`, for quotes.
pub fn quote_price(ctx: &Context, party: &Party, slot: &SlotRow) -> Pricing {
    price(ctx, party, slot.price_per_person)
}
