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
use tourdesk_domain::schedule::{self, Pattern, Recurrence};
use tourdesk_domain::{
    AuditKind, ContactDetails, Currency, EventKind, Needs, Phone, WaitlistStatus,
};
use tourdesk_store::audit::{self, NewLog};
use tourdesk_store::bookings::{self, BookingChange, BookingRow, NewBooking, TokenKind};
use tourdesk_store::schedules::ScheduleRow;
use tourdesk_store::slots::{self, NewSlot, SlotRow};
use tourdesk_store::tours::{self, TourRow};
use tourdesk_store::waitlist::{self, WaitlistRow};
use tourdesk_store::{Tx, capacity};

use crate::accounts::{hash_secret, new_secret};
use crate::caller::Caller;
use crate::{Context, ServiceError, ServiceResult};

mod admission;
mod amend;
mod departures;
mod minimum;
mod offers;
mod records;
mod schedules;
pub use admission::*;
pub use amend::*;
pub use departures::*;
pub use minimum::*;
pub use offers::*;
pub use records::*;
pub use schedules::*;

/// Longest free text a customer may attach (requirements, notes, reasons).
pub const MAX_TEXT: usize = tourdesk_domain::details::NOTE_MAX;

/// A party's needs as stored, or a 422 naming the first one refused.
pub fn validated_needs(needs: Needs) -> ServiceResult<Needs> {
    needs
        .validated()
        .map_err(|(field, e)| ServiceError::invalid(field, e.0))
}

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
    ServiceError::corrupt(what)
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

pub fn status_of(row: &BookingRow) -> ServiceResult<BookingStatus> {
    row.status
        .parse()
        .map_err(|e: String| corrupt(format!("booking {}: {e}", row.id)))
}

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
    match &tour.own_policy {
        Some(p) => p.clone(),
        None => default_policy(ctx, &tour.currency),
    }
}

/// The configuration's cancellation policy, its fee in `currency`'s minor
/// units (it is configured in hundredths of the major unit).
pub fn default_policy(ctx: &Context, currency: &Currency) -> CancellationPolicy {
    let s = &ctx.settings;
    let fee = match currency.exponent() {
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
