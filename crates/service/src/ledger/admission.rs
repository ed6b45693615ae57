//! Admission: whether a party may take seats on a departure, and the
//! reservation that takes them (invariant 2's conditional UPDATE).

use super::*;

/// Who is asking for room on a departure, which decides the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// A customer: the departure must be open and inside the booking window.
    Customer,
    /// An admin: the departure must be open; the window does not apply.
    Admin,
}

/// Why a departure cannot take people now, in the order the checks run.
/// [`admit`] (every path that adds people) and the calendar's `bookable`
/// flag ([`bookability`]) both decide with [`refusal`], so they agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unbookable {
    /// The tour is not offered.
    TourInactive,
    /// The operator cancelled the departure.
    Cancelled,
    /// An active blackout covers it.
    BlackedOut,
    /// Closed for booking, or no longer produced by its schedule.
    Closed,
    /// Inside the booking cutoff (or already started).
    CutoffPassed,
    /// Further ahead than bookings open.
    TooFarAhead,
    /// Open and inside the window, but no spot is left (the waitlist applies).
    Full,
}

impl Unbookable {
    /// The machine code clients see.
    pub fn code(self) -> &'static str {
        match self {
            Unbookable::TourInactive => "tour_inactive",
            Unbookable::Cancelled => "cancelled",
            Unbookable::BlackedOut => "blacked_out",
            Unbookable::Closed => "closed",
            Unbookable::CutoffPassed => "cutoff_passed",
            Unbookable::TooFarAhead => "too_far_ahead",
            Unbookable::Full => "full",
        }
    }
}

/// The rule: may `who` add people to this departure of `tour` at `now`,
/// room aside? (Room is the conditional UPDATE's to decide under the lock.)
pub fn refusal(
    ctx: &Context,
    slot: &SlotRow,
    tour: &Tour,
    who: Admission,
    now: DateTime<Utc>,
) -> Option<Unbookable> {
    refusal_of(ctx, &Gate::of(slot), tour, who, now)
}

/// What [`refusal`] reads of a departure: its closures and its start. The
/// calendar cache keeps departures in this shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gate {
    pub is_cancelled: bool,
    /// An active blackout covers it.
    pub blacked_out: bool,
    pub withdrawn: bool,
    pub is_available: bool,
    pub starts_at: DateTime<Utc>,
}

impl Gate {
    pub fn of(slot: &SlotRow) -> Gate {
        Gate {
            is_cancelled: slot.is_cancelled,
            blacked_out: slot.blackout_name.is_some() || slot.blackout_id.is_some(),
            withdrawn: slot.withdrawn,
            is_available: slot.is_available,
            starts_at: slot.starts_at,
        }
    }

    /// [`SlotRow::is_open`].
    pub fn is_open(&self) -> bool {
        self.is_available && !self.is_cancelled && !self.blacked_out && !self.withdrawn
    }
}

/// [`refusal`] on a departure's [`Gate`].
pub fn refusal_of(
    ctx: &Context,
    slot: &Gate,
    tour: &Tour,
    who: Admission,
    now: DateTime<Utc>,
) -> Option<Unbookable> {
    if !tour.row.is_active {
        return Some(Unbookable::TourInactive);
    }
    if slot.is_cancelled {
        return Some(Unbookable::Cancelled);
    }
    if slot.blacked_out {
        return Some(Unbookable::BlackedOut);
    }
    if slot.withdrawn || !slot.is_available {
        return Some(Unbookable::Closed);
    }
    if who == Admission::Admin {
        return None;
    }
    match window(ctx).check(slot.starts_at, now) {
        Ok(()) => None,
        Err(WindowRefusal::TooSoon) => Some(Unbookable::CutoffPassed),
        Err(WindowRefusal::TooFar) => Some(Unbookable::TooFarAhead),
    }
}

/// Whether a customer could book one person on this departure now: the
/// booking path's rule ([`refusal`]), then room for one (what
/// [`reserve`] asks the row). `None` is bookable.
pub fn bookability(
    ctx: &Context,
    slot: &SlotRow,
    tour: &Tour,
    now: DateTime<Utc>,
) -> Option<Unbookable> {
    if slot.tour_id != tour.id() {
        return Some(Unbookable::Closed);
    }
    refusal(ctx, slot, tour, Admission::Customer, now)
        .or((slot.available_spots < 1).then_some(Unbookable::Full))
}

/// Refuses a departure that cannot take people now: 409 `slot_unavailable`
/// for customers, `slot_closed` for an admin on a closed departure.
pub fn admit(
    ctx: &Context,
    slot: &SlotRow,
    tour: &Tour,
    who: Admission,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    let code = match who {
        Admission::Customer => "slot_unavailable",
        Admission::Admin => "slot_closed",
    };
    let when = format!("the {} {} departure", slot.slot_date, slot.start_time);
    if slot.tour_id != tour.id() {
        return Err(ServiceError::conflict(
            "slot_unavailable",
            format!("slot {} does not belong to tour {}", slot.id, tour.id()),
        ));
    }
    let Some(why) = refusal(ctx, slot, tour, who, now) else {
        return Ok(());
    };
    let why = match why {
        Unbookable::TourInactive => format!("tour {} is not open for booking", tour.id()),
        Unbookable::Cancelled => {
            let why = slot
                .cancellation_reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            format!("{when} is cancelled{why}")
        }
        Unbookable::BlackedOut => match &slot.blackout_name {
            Some(name) => format!("{when} falls on a blackout: {name}"),
            None => format!("{when} falls on a blackout"),
        },
        Unbookable::Closed if slot.withdrawn => format!("{when} is no longer offered"),
        Unbookable::Closed => format!("{when} is closed for booking"),
        Unbookable::CutoffPassed => format!(
            "bookings for {when} closed {} hours before it starts",
            ctx.settings.booking_cutoff_hours
        ),
        Unbookable::TooFarAhead => format!(
            "bookings open {} days ahead; the {} departure is further out",
            ctx.settings.booking_advance_days, slot.slot_date
        ),
        Unbookable::Full => format!("{when} is full"),
    };
    Err(ServiceError::conflict(code, why))
}

/// 400 `capacity_exceeded`, with what is left.
pub fn capacity_exceeded(slot: &SlotRow, wanted: i64) -> ServiceError {
    ServiceError::refused(
        "capacity_exceeded",
        format!(
            "only {} spot(s) left on the {} {} departure; {wanted} requested",
            slot.available_spots.max(0),
            slot.slot_date,
            slot.start_time
        ),
    )
    .with("available_spots", slot.available_spots.max(0))
    .with("waitlist_available", true)
}

/// Adds `n` people to a departure: the conditional UPDATE locks the row,
/// checks it is open with room, and returns it; the window and tour rules
/// are then checked on that locked row. Refusals name the real reason
/// (closed before full). The caller's transaction rolls back on error.
pub async fn reserve(
    ctx: &Context,
    tx: &mut Tx,
    tour: &Tour,
    slot_id: i64,
    n: i64,
    who: Admission,
    now: DateTime<Utc>,
) -> ServiceResult<SlotRow> {
    match capacity::reserve(tx, slot_id, n, now).await? {
        Some(slot) => {
            admit(ctx, &slot, tour, who, now)?;
            Ok(slot)
        }
        None => {
            let slot = slots::slot_by_id(tx, slot_id).await?.ok_or_else(|| {
                ServiceError::conflict("slot_unavailable", format!("slot {slot_id} does not exist"))
            })?;
            admit(ctx, &slot, tour, who, now)?;
            Err(capacity_exceeded(&slot, n))
        }
    }
}
