//! The ledger: the only code that moves capacity or changes booking,
//! departure (slot) and waitlist state. The use-case modules (`bookings`,
//! `waitlist`, `catalog`) validate input, open a transaction and call in
//! here; they never import each other, and this module imports none of them.
//!
//! # The rules every write transaction follows
//!
//! 1. **One lock order**, jobs included: departure rows first, in ascending
//!    id; then booking rows, in ascending id; then waitlist rows. A use case
//!    that must find out which departures it touches (a booking's, an entry's
//!    held one) reads them without a lock, locks the departures, then locks
//!    the booking or entry and checks it still points where it did; if it
//!    moved meanwhile the attempt ends with [`ServiceError::Busy`] and
//!    [`retry`] runs it again from the start.
//! 2. **Locking reads lock one table** (no joins under `FOR UPDATE`), and
//!    whatever is decided (sizes, departure, status, open or closed, price)
//!    is decided on rows read after their lock in the same transaction. A
//!    booking's reservation is the conditional UPDATE of invariant 2 with
//!    `RETURNING`, so it locks, checks room and openness, and hands back the
//!    row the rest of the decision is made on, in one round trip.
//! 3. **Transient conflicts are retried**: a deadlock, serialization failure
//!    or lock timeout reruns the whole transaction a bounded number of times
//!    with jitter ([`retry`]); one that persists is a 503 with Retry-After,
//!    never a 500.
//! 4. **Closures are derived**: a departure is blacked out exactly when an
//!    active blackout covers it (`slots::refresh_blackouts`, run under the
//!    departures' locks whenever a blackout changes) and withdrawn exactly
//!    when its schedule does not produce it ([`sync_schedule`]). Neither is
//!    remembered from the event that caused it, so overlapping blackouts and
//!    their removal in any order come out right. A departure that is
//!    cancelled, closed, blacked out or withdrawn takes no new booking,
//!    growth, move-in, claim or waitlist offer: the conditional UPDATEs in
//!    `store::capacity` refuse it, whatever the caller checked before.
//!
//! On SQLite the single writer connection serialises every write
//! transaction, so the locks are no-ops there; the code path is the same.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use rand::Rng;
use serde_json::{Value, json};
use tourdesk_domain::availability::{BookingWindow, WindowRefusal};
use tourdesk_domain::booking::{self, BookingStatus, Party, Pricing};
use tourdesk_domain::policy::{CancellationPolicy, PartyRules};
use tourdesk_domain::schedule::{self, Pattern, Recurrence, Weekdays};
use tourdesk_domain::{Currency, Phone};
use tourdesk_store::audit::{self, NewLog};
use tourdesk_store::bookings::{self, BookingChange, BookingRow, NewBooking, TokenKind};
use tourdesk_store::schedules::ScheduleRow;
use tourdesk_store::slots::{self, NewSlot, SlotRow};
use tourdesk_store::tours::{self, TourRow};
use tourdesk_store::waitlist::{self, WaitlistRow};
use tourdesk_store::{StoreError, Tx, capacity};

use crate::accounts::{hash_secret, new_secret};
use crate::caller::Caller;
use crate::{Context, ServiceError, ServiceResult};

/// Longest free text a customer may attach (requirements, notes, reasons).
pub const MAX_TEXT: usize = 1000;

/// How many times a transaction that hit a transient conflict is run.
const ATTEMPTS: u32 = 8;

/// Runs `attempt` (one whole transaction) again while it fails with a
/// transient conflict, with growing, jittered pauses; a conflict that
/// persists becomes `Unavailable` (503). Every other outcome is returned
/// as it is.
pub async fn retry<T, F, Fut>(mut attempt: F) -> ServiceResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ServiceResult<T>>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        match attempt().await {
            Err(ServiceError::Busy(why)) if tries < ATTEMPTS => {
                let base = 2u64 << tries.min(7);
                let pause = rand::rng().random_range(base / 2..=base);
                tracing::debug!(%why, tries, "transient conflict; retrying");
                tokio::time::sleep(StdDuration::from_millis(pause)).await;
            }
            Err(ServiceError::Busy(why)) => {
                return Err(ServiceError::Unavailable(format!(
                    "still conflicting after {ATTEMPTS} attempts: {why}"
                )));
            }
            other => return other,
        }
    }
}

fn corrupt(what: String) -> ServiceError {
    ServiceError::Internal(StoreError::Config(what))
}

/// A tour with its currency and time zone parsed.
#[derive(Debug, Clone)]
pub struct Tour {
    pub row: TourRow,
    pub currency: Currency,
    pub tz: Tz,
    /// The tour's own cancellation policy; None: the configuration's.
    pub own_policy: Option<CancellationPolicy>,
    /// The tour's own party rules; None: the configuration's.
    pub own_party_rules: Option<PartyRules>,
}

impl Tour {
    pub fn from_row(row: TourRow) -> ServiceResult<Tour> {
        let currency =
            Currency::parse(&row.currency).map_err(|e| corrupt(format!("tour {}: {e}", row.id)))?;
        let tz = row
            .timezone
            .parse::<Tz>()
            .map_err(|e| corrupt(format!("tour {}: {e}", row.id)))?;
        let own_policy = match &row.cancellation_policy {
            None => None,
            Some(text) => Some(
                serde_json::from_str::<CancellationPolicy>(text)
                    .map_err(|e| e.to_string())
                    .and_then(|p| p.revalidate().map_err(|e| e.to_string()))
                    .map_err(|e| corrupt(format!("tour {} cancellation policy: {e}", row.id)))?,
            ),
        };
        let own_party_rules = match &row.party_rules {
            None => None,
            Some(text) => Some(
                serde_json::from_str::<PartyRules>(text)
                    .map_err(|e| e.to_string())
                    .and_then(|p| p.revalidate().map_err(|e| e.to_string()))
                    .map_err(|e| corrupt(format!("tour {} party rules: {e}", row.id)))?,
            ),
        };
        Ok(Tour {
            row,
            currency,
            tz,
            own_policy,
            own_party_rules,
        })
    }

    pub fn id(&self) -> i64 {
        self.row.id
    }

    /// Today's date where the tour runs.
    pub fn today(&self, now: DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&self.tz).date_naive()
    }
}

/// Loads a tour or answers 404.
pub async fn load_tour(tx: &mut Tx, id: i64) -> ServiceResult<Tour> {
    let row = tours::tour_by_id(tx, id)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("tour {id} not found")))?;
    Tour::from_row(row)
}

/// Loads a slot or answers 404.
pub async fn load_slot(tx: &mut Tx, id: i64) -> ServiceResult<SlotRow> {
    slots::slot_by_id(tx, id)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("slot {id} not found")))
}

/// Loads a booking or answers 404.
pub async fn load_booking(tx: &mut Tx, id: i64) -> ServiceResult<BookingRow> {
    bookings::booking_by_id(tx, id)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("booking {id} not found")))
}

/// The dates Tourdesk accepts anywhere: outside them a date is a typo (and
/// date arithmetic or storage could overflow), answered 422 naming the field.
pub const DATE_RANGE: std::ops::RangeInclusive<i32> = 1900..=2999;

/// Refuses a date outside [`DATE_RANGE`].
pub fn check_date(field: &'static str, d: NaiveDate) -> ServiceResult<NaiveDate> {
    use chrono::Datelike;
    if DATE_RANGE.contains(&d.year()) {
        Ok(d)
    } else {
        Err(ServiceError::invalid(
            field,
            format!(
                "must be a date between {}-01-01 and {}-12-31",
                DATE_RANGE.start(),
                DATE_RANGE.end()
            ),
        ))
    }
}

/// A "not found" about a referenced id becomes an invalid `field`.
pub fn not_found_is_invalid(field: &'static str) -> impl FnOnce(ServiceError) -> ServiceError {
    move |e| match e {
        ServiceError::NotFound(m) => ServiceError::invalid(field, m),
        other => other,
    }
}

pub fn status_of(row: &BookingRow) -> ServiceResult<BookingStatus> {
    row.status
        .parse()
        .map_err(|e: String| corrupt(format!("booking {}: {e}", row.id)))
}

// ---- the operator's rules, from the context ----

pub fn window(ctx: &Context) -> BookingWindow {
    BookingWindow {
        cutoff_hours: ctx.settings.booking_cutoff_hours,
        advance_days: ctx.settings.booking_advance_days,
    }
}

pub fn party(ctx: &Context, adults: i64, children: i64, infants: i64) -> ServiceResult<Party> {
    let s = &ctx.settings;
    Party::new(
        adults,
        children,
        infants,
        i64::from(s.min_booking_size),
        i64::from(s.max_booking_size),
    )
    .map_err(|e| ServiceError::invalid(e.field, e.message))
}

/// The cancellation policy that applies on `tour`: its own, else the
/// configuration's (whose fee is given in hundredths of the currency's
/// major unit and converted to its minor unit, rounded half-up).
pub fn policy_of(ctx: &Context, tour: &Tour) -> CancellationPolicy {
    if let Some(p) = &tour.own_policy {
        return p.clone();
    }
    let s = &ctx.settings;
    let fee = match tour.currency.exponent() {
        2 => s.cancellation_fee_cents,
        e if e > 2 => s.cancellation_fee_cents * 10_i64.pow(e - 2),
        e => {
            let div = 10_i64.pow(2 - e);
            (s.cancellation_fee_cents + div / 2) / div
        }
    };
    CancellationPolicy::new(s.cancellation_tiers.clone(), fee)
        .unwrap_or_else(|_| CancellationPolicy::full_refund())
}

/// The party rules that apply on `tour`: its own, else the configuration's.
pub fn party_rules_of(ctx: &Context, tour: &Tour) -> PartyRules {
    tour.own_party_rules.unwrap_or(ctx.settings.party_rules)
}

/// Refuses a party that breaks the tour's rules (422 naming the rule) and
/// returns the seats it takes.
pub fn seats_for(ctx: &Context, tour: &Tour, party: &Party) -> ServiceResult<i64> {
    let rules = party_rules_of(ctx, tour);
    rules.check(party).map_err(|e| ServiceError::Rule {
        field: e.field.to_string(),
        rule: e.rule,
        message: e.message,
    })?;
    Ok(rules.seats(party))
}

pub fn price(ctx: &Context, party: &Party, adult_price: i64) -> Pricing {
    booking::price(
        party,
        adult_price,
        ctx.settings.child_discount,
        ctx.settings.tax_rate,
    )
}

// ---- locking (rule 1) ----

/// Locks departures in ascending id order; returns them in that order.
/// A missing id is skipped (the caller checks what it needs).
pub async fn lock_slots(tx: &mut Tx, ids: &[i64]) -> ServiceResult<BTreeMap<i64, SlotRow>> {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = BTreeMap::new();
    if tx.backend() == tourdesk_store::Backend::Sqlite && sorted.len() > 1 {
        // SQLite's one writer already excludes the others: one read.
        for row in slots::slots_by_ids(tx, &sorted).await? {
            out.insert(row.id, row);
        }
        return Ok(out);
    }
    for id in sorted {
        if let Some(row) = slots::lock_slot(tx, id).await? {
            out.insert(id, row);
        }
    }
    Ok(out)
}

/// Locks a booking whose departure the caller has locked (`locked` holds
/// the locked departures' ids) and re-reads it. If the booking moved to a
/// departure outside `locked` since the caller looked, the attempt is
/// abandoned as `Busy` and [`retry`] starts it again.
pub async fn lock_booking(tx: &mut Tx, id: i64, locked: &[i64]) -> ServiceResult<BookingRow> {
    let slot = bookings::lock_booking(tx, id)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("booking {id} not found")))?;
    if !locked.contains(&slot) {
        return Err(ServiceError::Busy(format!(
            "booking {id} moved to departure {slot} meanwhile"
        )));
    }
    load_booking(tx, id).await
}

/// Locks a waitlist entry after the departure it holds spots on (if the
/// caller locked it; `held` is what the caller saw) and re-reads it; an
/// entry whose hold changed meanwhile abandons the attempt as `Busy`.
pub async fn lock_entry(tx: &mut Tx, id: i64, held: Option<i64>) -> ServiceResult<WaitlistRow> {
    let entry = waitlist::entry_for_update(tx, id)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("waitlist entry {id} not found")))?;
    if entry.held_slot_id != held {
        return Err(ServiceError::Busy(format!(
            "waitlist entry {id} changed meanwhile"
        )));
    }
    Ok(entry)
}

// ---- admission: may this departure take people now? ----

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
    if !tour.row.is_active {
        return Some(Unbookable::TourInactive);
    }
    if slot.is_cancelled {
        return Some(Unbookable::Cancelled);
    }
    if slot.blackout_name.is_some() || slot.blackout_id.is_some() {
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

// ---- audit and events ----

/// What the audit trail keeps of a booking.
pub fn snapshot(b: &BookingRow) -> Value {
    json!({
        "booking_slot_id": b.booking_slot_id,
        "tour_date": b.tour_date,
        "tour_time": b.tour_time,
        "num_adults": b.num_adults,
        "num_children": b.num_children,
        "num_infants": b.num_infants,
        "total_people": b.total_people,
        "total_amount": b.total_amount,
        "status": b.status,
    })
}

fn event_payload(b: &BookingRow) -> Value {
    json!({
        "booking_id": b.id,
        "booking_reference": b.booking_reference,
        "tour_id": b.tour_id,
        "booking_slot_id": b.booking_slot_id,
        "tour_date": b.tour_date,
        "tour_time": b.tour_time,
        "status": b.status,
        "total_people": b.total_people,
        "customer_email": b.customer_email,
    })
}

/// One audit row for a change to `b`, in the caller's transaction.
#[allow(clippy::too_many_arguments)]
pub async fn audit(
    tx: &mut Tx,
    b: &BookingRow,
    caller: &Caller,
    kind: &str,
    old: Option<Value>,
    new: Option<Value>,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    let actor = caller.actor();
    audit::insert_log(
        tx,
        NewLog {
            booking_id: b.id,
            tour_id: b.tour_id,
            modified_by: caller.user_id(),
            actor: &actor,
            modification_type: kind,
            old_value: old,
            new_value: new,
            reason,
            ip_address: caller.ip.as_deref(),
            user_agent: caller.user_agent.as_deref(),
        },
        now,
    )
    .await?;
    Ok(())
}

pub async fn booking_event(
    tx: &mut Tx,
    kind: &str,
    b: &BookingRow,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    audit::insert_event(tx, b.tour_id, kind, event_payload(b), now).await?;
    Ok(())
}

/// `booking.modified`, carrying what the booking was before (the email
/// shows old → new).
pub async fn booking_changed_event(
    tx: &mut Tx,
    old: &BookingRow,
    new: &BookingRow,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    let mut payload = event_payload(new);
    payload["previous"] = snapshot(old);
    audit::insert_event(tx, new.tour_id, "booking.modified", payload, now).await?;
    Ok(())
}

// ---- bookings ----

/// A booking's contact details, validated.
#[derive(Clone, Copy)]
pub struct Contact<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub phone: Option<&'a str>,
    pub special_requirements: Option<&'a str>,
    pub dietary_restrictions: Option<&'a str>,
    pub accessibility_needs: Option<&'a str>,
}

/// Inserts a booking whose people are already counted on `slot` (locked by
/// the caller), with its manage token (`token`, or a new random one), audit
/// row and outbox event: [`insert_bookings`] for one.
#[allow(clippy::too_many_arguments)]
pub async fn insert_booking(
    ctx: &Context,
    tx: &mut Tx,
    tour: &Tour,
    slot: &SlotRow,
    party: &Party,
    seats: i64,
    contact: &Contact<'_>,
    owner: Option<i64>,
    caller: &Caller,
    token: Option<String>,
    now: DateTime<Utc>,
) -> ServiceResult<(BookingRow, String)> {
    let admitted = Admitted {
        tour,
        slot,
        party,
        seats,
        contact: *contact,
        owner,
        caller,
        token,
    };
    insert_bookings(ctx, tx, vec![admitted], now)
        .await?
        .pop()
        .ok_or_else(|| corrupt("a booking was inserted but not read back".into()))
}

/// A booking decided on a locked departure whose counter already holds its
/// seats: what [`insert_bookings`] writes.
pub struct Admitted<'a> {
    pub tour: &'a Tour,
    /// The departure as locked and updated (its price is the booking's;
    /// its people decide the guarantee).
    pub slot: &'a SlotRow,
    pub party: &'a Party,
    pub seats: i64,
    pub contact: Contact<'a>,
    pub owner: Option<i64>,
    pub caller: &'a Caller,
    /// Its manage token (derived from an Idempotency-Key), or `None` for a
    /// new random one.
    pub token: Option<String>,
}

/// Writes admitted bookings with one multi-row statement per table: the
/// bookings (each under a fresh reference), their manage tokens, one
/// `created` audit row each and one `booking.created` event each, in the
/// given order; then guarantees each departure whose people now reach its
/// minimum (its new bookings' own confirmations show it, so they are not
/// told again). Returns each booking as stored, with its token, in order.
pub async fn insert_bookings(
    ctx: &Context,
    tx: &mut Tx,
    mut admitted: Vec<Admitted<'_>>,
    now: DateTime<Utc>,
) -> ServiceResult<Vec<(BookingRow, String)>> {
    if admitted.is_empty() {
        return Ok(Vec::new());
    }
    let pricing: Vec<Pricing> = admitted
        .iter()
        .map(|a| price(ctx, a.party, a.slot.price_per_person))
        .collect();
    let prefix = &ctx.settings.booking_reference_prefix;
    let mut references: Vec<String> = admitted
        .iter()
        .map(|a| booking::new_reference(prefix, a.tour.today(now)))
        .collect();
    let mut ids: Vec<Option<i64>> = vec![None; admitted.len()];
    // A reference already taken is skipped by the insert; those draw again.
    while ids.iter().any(Option::is_none) {
        let todo: Vec<usize> = (0..admitted.len()).filter(|&i| ids[i].is_none()).collect();
        let rows: Vec<NewBooking<'_>> = todo
            .iter()
            .map(|&i| {
                let (a, p) = (&admitted[i], &pricing[i]);
                NewBooking {
                    booking_reference: &references[i],
                    user_id: a.owner,
                    tour_id: a.tour.id(),
                    booking_slot_id: a.slot.id,
                    num_adults: a.party.adults,
                    num_children: a.party.children,
                    num_infants: a.party.infants,
                    price_per_adult: p.price_per_adult,
                    price_per_child: p.price_per_child,
                    price_per_infant: p.price_per_infant,
                    subtotal: p.subtotal,
                    discount_amount: p.discount_amount,
                    tax_amount: p.tax_amount,
                    total_amount: p.total_amount,
                    currency: a.tour.currency.code(),
                    customer_name: a.contact.name,
                    customer_email: a.contact.email,
                    customer_phone: a.contact.phone,
                    special_requirements: a.contact.special_requirements,
                    dietary_restrictions: a.contact.dietary_restrictions,
                    accessibility_needs: a.contact.accessibility_needs,
                    status: BookingStatus::Pending.as_str(),
                    seats: a.seats,
                }
            })
            .collect();
        let inserted: HashMap<String, i64> = bookings::insert_bookings(tx, &rows, now)
            .await?
            .into_iter()
            .map(|(id, reference)| (reference, id))
            .collect();
        drop(rows);
        for i in todo {
            match inserted.get(&references[i]) {
                Some(&id) => ids[i] = Some(id),
                None => {
                    references[i] = booking::new_reference(prefix, admitted[i].tour.today(now));
                }
            }
        }
    }
    let ids: Vec<i64> = ids.into_iter().flatten().collect();
    let tokens: Vec<String> = admitted
        .iter_mut()
        .map(|a| a.token.take().unwrap_or_else(|| new_secret("tdm")))
        .collect();
    let hashes: Vec<String> = tokens.iter().map(|t| hash_secret(t)).collect();
    let new_tokens: Vec<bookings::NewToken<'_>> = admitted
        .iter()
        .zip(&ids)
        .zip(&hashes)
        .map(|((a, &id), hash)| bookings::NewToken {
            tour_id: a.tour.id(),
            booking_id: Some(id),
            waitlist_entry_id: None,
            kind: TokenKind::Created,
            token_hash: hash,
        })
        .collect();
    bookings::insert_manage_tokens(tx, &new_tokens, now).await?;
    let mut rows = read_back(tx, &ids).await?;
    let actors: Vec<String> = admitted.iter().map(|a| a.caller.actor()).collect();
    let logs: Vec<NewLog<'_>> = admitted
        .iter()
        .zip(&rows)
        .zip(&actors)
        .map(|((a, row), actor)| NewLog {
            booking_id: row.id,
            tour_id: row.tour_id,
            modified_by: a.caller.user_id(),
            actor,
            modification_type: "created",
            old_value: None,
            new_value: Some(snapshot(row)),
            reason: None,
            ip_address: a.caller.ip.as_deref(),
            user_agent: a.caller.user_agent.as_deref(),
        })
        .collect();
    audit::insert_logs(tx, &logs, now).await?;
    let events: Vec<audit::NewEvent<'_>> = rows
        .iter()
        .map(|row| audit::NewEvent {
            tour_id: row.tour_id,
            event_type: "booking.created",
            payload: event_payload(row),
        })
        .collect();
    audit::insert_events(tx, &events, now).await?;
    // Each departure once, as updated by the last of its bookings here.
    let mut departures: BTreeMap<i64, &SlotRow> = BTreeMap::new();
    for a in &admitted {
        departures.insert(a.slot.id, a.slot);
    }
    let mut guaranteed = false;
    for slot in departures.values() {
        let own: Vec<i64> = rows
            .iter()
            .filter(|r| r.booking_slot_id == slot.id)
            .map(|r| r.id)
            .collect();
        guaranteed |= guarantee_if_reached(tx, slot, Tell::AllBut(&own), now).await?;
    }
    if guaranteed {
        rows = read_back(tx, &ids).await?;
    }
    Ok(rows.into_iter().zip(tokens).collect())
}

/// The bookings just inserted, in the order of `ids`.
async fn read_back(tx: &mut Tx, ids: &[i64]) -> ServiceResult<Vec<BookingRow>> {
    let mut by_id: HashMap<i64, BookingRow> = bookings::bookings_by_ids(tx, ids)
        .await?
        .into_iter()
        .map(|b| (b.id, b))
        .collect();
    ids.iter()
        .map(|id| {
            by_id
                .remove(id)
                .ok_or_else(|| corrupt(format!("booking {id} was inserted but not read back")))
        })
        .collect()
}

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
        old.price_per_adult
    };
    let pricing = price(ctx, &r.party, adult_price);
    // People removed are refunded by the tour's policy, as of now and the
    // departure they were booked on, at the prices they were booked at.
    let old_party = Party {
        adults: old.num_adults,
        children: old.num_children,
        infants: old.num_infants,
    };
    let reduction = if r.party.total() < old_party.total() {
        let kept = price(ctx, &r.party, old.price_per_adult).total_amount;
        let removed = (old.total_amount - kept).max(0);
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
            num_adults: r.party.adults,
            num_children: r.party.children,
            num_infants: r.party.infants,
            price_per_adult: pricing.price_per_adult,
            price_per_child: pricing.price_per_child,
            price_per_infant: pricing.price_per_infant,
            subtotal: pricing.subtotal,
            discount_amount: pricing.discount_amount,
            tax_amount: pricing.tax_amount,
            total_amount: pricing.total_amount,
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
    let kind = match (moving, r.party != old_party) {
        (true, true) => "date_and_party_change",
        (true, false) => "date_change",
        _ => "party_change",
    };
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
    json!({
        "customer_name": b.customer_name,
        "customer_email": b.customer_email,
        "customer_phone": b.customer_phone,
        "special_requirements": b.special_requirements,
        "dietary_restrictions": b.dietary_restrictions,
        "accessibility_needs": b.accessibility_needs,
    })
}

/// Replaces a locked, changeable booking's contact details (validated by
/// the caller) and audits old and new as `contact_change`.
pub async fn change_contact(
    tx: &mut Tx,
    old: &BookingRow,
    contact: &Contact<'_>,
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
    let change = bookings::ContactChange {
        customer_name: contact.name,
        customer_email: contact.email,
        customer_phone: contact.phone,
        special_requirements: contact.special_requirements,
        dietary_restrictions: contact.dietary_restrictions,
        accessibility_needs: contact.accessibility_needs,
    };
    if !bookings::update_contact(tx, old.id, status.as_str(), &change, now).await? {
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
        "contact_change",
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
            "check_in"
        } else {
            "check_in_undone"
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
    kind: &str,
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
        "booking.cancelled"
    } else {
        "booking.status_changed"
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
            amount: b.total_amount,
            basis: json!({"rule": why, "refund_percent": 100, "refund_amount": b.total_amount}),
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
        let q = policy.quote(b.total_amount, b.starts_at, now);
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

// ---- departures ----

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
            "cancellation",
            now,
        )
        .await?;
        cancelled += 1;
    }
    for entry in waitlist::lock_entries_bound_to_slot(tx, slot_id).await? {
        let date_wide = entry.booking_slot_id.is_none();
        let done = if entry.status == "notified" && date_wide {
            waitlist::requeue(tx, entry.id, now).await?
        } else {
            waitlist::set_status(tx, entry.id, &entry.status, "cancelled", now).await?
        };
        if !done {
            continue;
        }
        if entry.status == "notified" {
            capacity::release_hold(tx, slot_id, entry.num_people, now).await?;
        }
        let (kind, what) = if entry.status == "notified" && date_wide {
            (
                "waitlist.requeued",
                "back in the queue: the departure was cancelled",
            )
        } else {
            ("waitlist.cancelled", "departure cancelled")
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
        "departure.cancelled",
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

// ---- guaranteed departures ----

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
            "departure_guaranteed",
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
            booking_event(tx, "booking.guaranteed", &b, now).await?;
        }
    }
    audit::insert_event(
        tx,
        slot.tour_id,
        "departure.guaranteed",
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
async fn apply_minimum(
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
            "decision_deadline_moved",
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

// ---- the waitlist ----

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
            "waitlist.notified",
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
    contact: &Contact<'_>,
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
    audit::insert_event(tx, tour.id(), "waitlist.converted",
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
    to: &str,
    why: &str,
    now: DateTime<Utc>,
) -> ServiceResult<bool> {
    if !waitlist::set_status(tx, entry.id, &entry.status, to, now).await? {
        return Ok(false);
    }
    if let (true, Some(slot_id)) = (entry.status == "notified", entry.held_slot_id) {
        capacity::release_hold(tx, slot_id, entry.num_people, now).await?;
    }
    let kind = if to == "expired" {
        "waitlist.expired"
    } else {
        "waitlist.cancelled"
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
        if entry.status != "notified" || !waitlist::requeue(tx, entry.id, now).await? {
            continue;
        }
        capacity::release_hold(tx, slot_id, entry.num_people, now).await?;
        audit::insert_event(
            tx,
            entry.tour_id,
            "waitlist.requeued",
            json!({"waitlist_entry_id": entry.id, "reason": "back in the queue: the departure closed",
                   "booking_slot_id": slot_id}),
            now,
        )
        .await?;
        n += 1;
    }
    Ok(n)
}

// ---- blackouts ----

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

// ---- schedules ----

pub fn weekdays_of(row: &ScheduleRow) -> [bool; 7] {
    [
        row.monday,
        row.tuesday,
        row.wednesday,
        row.thursday,
        row.friday,
        row.saturday,
        row.sunday,
    ]
}

pub fn pattern_of(row: &ScheduleRow) -> ServiceResult<Pattern> {
    let recurrence: Recurrence = row
        .recurrence
        .parse()
        .map_err(|e: String| corrupt(format!("schedule {}: {e}", row.id)))?;
    Ok(Pattern::new(
        recurrence,
        Weekdays::from_flags(weekdays_of(row)),
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
            "schedule_change",
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_transient_conflict_is_retried_until_it_clears() {
        let calls = AtomicU32::new(0);
        let out = retry(|| async {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(ServiceError::Busy("deadlock detected".into()))
            } else {
                Ok(7)
            }
        })
        .await;
        assert!(matches!(out, Ok(7)));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_conflict_that_persists_is_unavailable_not_internal() {
        let calls = AtomicU32::new(0);
        let out: ServiceResult<()> = retry(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(ServiceError::Busy("deadlock detected".into()))
        })
        .await;
        assert!(matches!(out, Err(ServiceError::Unavailable(_))), "{out:?}");
        assert_eq!(calls.load(Ordering::SeqCst), ATTEMPTS);
    }

    #[tokio::test]
    async fn other_errors_are_not_retried() {
        let calls = AtomicU32::new(0);
        let out: ServiceResult<()> = retry(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(ServiceError::not_found("booking 1 not found"))
        })
        .await;
        assert!(matches!(out, Err(ServiceError::NotFound(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
