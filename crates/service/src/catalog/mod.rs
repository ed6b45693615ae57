//! The catalogue an operator manages: tours, schedules, slot generation,
//! blackouts and slot administration. What changes departures (schedule
//! edits, blackouts, slot changes) goes through the ledger, which locks
//! departures in id order and derives their closures.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use tourdesk_domain::contact::optional_text;
use tourdesk_domain::policy::{CancellationPolicy, PartyRules, RefundTier, RuleError};
use tourdesk_domain::schedule::{self, FieldError, Pattern, Recurrence, Weekdays, WeekdaysEdit};
use tourdesk_domain::{Currency, MoneyError};
use tourdesk_store::Tx;
use tourdesk_store::blackouts::{self, BlackoutFields, BlackoutRow};
use tourdesk_store::schedules::{self, ScheduleFields, ScheduleRow};
use tourdesk_store::slots::{self, SlotRow};
use tourdesk_store::tours::{self, TourFields};

use crate::caller::Admin;
use crate::ledger::{self, ScheduleSync};
pub use crate::ledger::{GenerationReport, Tour, load_slot, load_tour, pattern_of};
use crate::validate::DateRange;
use crate::{Context, ServiceError, ServiceResult};

mod blackout_admin;
mod departure_admin;
mod merge;
mod schedule_admin;
use merge::*;

impl From<FieldError> for ServiceError {
    fn from(e: FieldError) -> Self {
        ServiceError::invalid(e.field, e.message)
    }
}

fn money_error(field: &str, e: MoneyError) -> ServiceError {
    ServiceError::invalid(field, e.to_string())
}

/// A tour as an admin sends it; on update, absent fields keep their values.
#[derive(Debug, Clone, Default)]
pub struct TourInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub duration_minutes: Option<i64>,
    /// Decimal text, e.g. "75.00".
    pub base_price: Option<String>,
    pub currency: Option<String>,
    pub timezone: Option<String>,
    pub is_active: Option<bool>,
    /// Some(None) goes back to the configuration's default policy.
    pub cancellation_policy: Option<Option<PolicyInput>>,
    /// Some(None) goes back to the configuration's default rules.
    pub party_rules: Option<Option<PartyRules>>,
}

/// A tour's own cancellation policy as an admin sends it.
#[derive(Debug, Clone, Default)]
pub struct PolicyInput {
    pub tiers: Vec<RefundTier>,
    /// Decimal text in the tour's currency; none is no fee.
    pub fee: Option<String>,
}

/// Checks a tour's policy and rules and gives their stored JSON.
fn rules_json(
    currency: &Currency,
    policy: Option<&PolicyInput>,
    rules: Option<&PartyRules>,
) -> ServiceResult<(Option<String>, Option<String>)> {
    let field = |e: RuleError, prefix: &str| {
        ServiceError::invalid(format!("{prefix}.{}", e.field), e.message)
    };
    let policy = match policy {
        None => None,
        Some(p) => {
            let fee = match &p.fee {
                None => 0,
                Some(text) => currency
                    .parse_amount(text)
                    .map_err(|e| money_error("cancellation_policy.fee", e))?,
            };
            let checked = CancellationPolicy::new(p.tiers.clone(), fee)
                .map_err(|e| field(e, "cancellation_policy"))?;
            Some(
                serde_json::to_string(&checked).map_err(ServiceError::internal_from(
                    "cannot serialize a validated value",
                ))?,
            )
        }
    };
    let rules = match rules {
        None => None,
        Some(r) => {
            let checked = r.revalidate().map_err(|e| field(e, "party_rules"))?;
            Some(
                serde_json::to_string(&checked).map_err(ServiceError::internal_from(
                    "cannot serialize a validated value",
                ))?,
            )
        }
    };
    Ok((policy, rules))
}

/// A schedule with its tour: what an answer about it needs (prices in the
/// tour's currency, departures in its zone), from one call.
#[derive(Debug, Clone)]
pub struct ScheduleView {
    pub row: ScheduleRow,
    pub tour: Tour,
}

/// A schedule as an admin sends it (the spec's body); on update, absent
/// fields keep their values.
#[derive(Debug, Clone, Default)]
pub struct ScheduleInput {
    pub tour_id: Option<i64>,
    pub name: Option<String>,
    pub start_time: Option<NaiveTime>,
    pub duration_minutes: Option<i64>,
    pub recurrence: Option<String>,
    pub rrule: Option<String>,
    /// A day left out keeps its current value.
    pub weekdays: WeekdaysEdit,
    pub max_capacity: Option<i64>,
    pub min_capacity: Option<i64>,
    /// Hours before each departure its minimum is decided (default 48).
    pub decision_hours: Option<i64>,
    pub valid_from: Option<NaiveDate>,
    /// `Some(None)` clears it.
    pub valid_until: Option<Option<NaiveDate>>,
    /// Decimal text; `Some(None)` clears it.
    pub price_override: Option<Option<String>>,
    pub is_active: Option<bool>,
}

pub const MAX_CAPACITY: i64 = 10_000;
/// Hours before a departure its minimum is decided, unless the schedule
/// says otherwise.
pub const DEFAULT_DECISION_HOURS: i64 = 48;
/// At most a year ahead.
pub const MAX_DECISION_HOURS: i64 = 8760;

/// How a new schedule is made.
#[derive(Debug, Clone, Copy)]
pub struct ScheduleCreate {
    /// Report the schedule and the departures it would create; keep nothing.
    pub dry_run: bool,
    /// Create its departures up to the booking horizon at once (the
    /// default); without, only the horizon job or "generate" makes them.
    pub generate: bool,
}

impl Default for ScheduleCreate {
    fn default() -> Self {
        ScheduleCreate {
            dry_run: false,
            generate: true,
        }
    }
}

/// What creating a schedule generated (or would generate).
#[derive(Debug, Clone)]
pub struct InitialDepartures {
    /// The range generated: the tour's today (or the schedule's first day,
    /// if later) to the booking horizon.
    pub from: NaiveDate,
    pub until: NaiveDate,
    pub report: GenerationReport,
}

/// How a schedule edit is applied.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScheduleEdit {
    /// Report what would change, keep nothing.
    pub dry_run: bool,
    /// Also move departures that have bookings (each booking is audited).
    pub apply_to_booked: bool,
}

#[derive(Debug, Clone)]
pub struct BlackoutInput {
    pub tour_id: Option<i64>,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub blackout_type: String,
    pub name: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone)]
pub struct BlackoutOutcome {
    /// None on a dry run.
    pub blackout: Option<BlackoutRow>,
    pub cancelled_slots: u64,
    /// Covered slots that hold bookings or waitlist holds: closed to new
    /// people, their bookings kept, listed for the
    /// operator to decide.
    pub conflicts: Vec<SlotRow>,
}

#[derive(Debug, Clone, Default)]
pub struct SlotPatch {
    pub max_capacity: Option<i64>,
    pub price_per_person: Option<String>,
    pub is_available: Option<bool>,
}

fn required_text(field: &'static str, value: &str, max: usize) -> ServiceResult<String> {
    tourdesk_domain::contact::required_line(value, max)
        .map_err(|e| ServiceError::invalid(field, e.0))
}

fn description_text(value: &str) -> ServiceResult<String> {
    tourdesk_domain::contact::description(value, 5000)
        .map_err(|e| ServiceError::invalid("description", e.0))
}

pub struct Catalog<'a>(pub(crate) &'a Context);

impl Catalog<'_> {
    pub(super) fn now(&self) -> DateTime<Utc> {
        self.0.clock.now()
    }

    // ---- tours ----

    pub async fn create_tour(&self, _admin: &Admin, input: TourInput) -> ServiceResult<Tour> {
        let name = required_text("name", input.name.as_deref().unwrap_or_default(), 200)?;
        let description = description_text(&input.description.unwrap_or_default())?;
        let duration = input
            .duration_minutes
            .ok_or_else(|| ServiceError::invalid("duration_minutes", "is required"))?;
        let currency = Currency::parse(input.currency.as_deref().unwrap_or("USD"))
            .map_err(|e| money_error("currency", e))?;
        let tz = schedule::parse_timezone(input.timezone.as_deref().unwrap_or("Asia/Jerusalem"))?;
        let price_text = input
            .base_price
            .ok_or_else(|| ServiceError::invalid("base_price", "is required"))?;
        let base_price = currency
            .parse_amount(&price_text)
            .map_err(|e| money_error("base_price", e))?;
        validate_tour_numbers(duration, base_price)?;
        let (policy, rules) = rules_json(
            &currency,
            input.cancellation_policy.as_ref().and_then(Option::as_ref),
            input.party_rules.as_ref().and_then(Option::as_ref),
        )?;
        let mut tx = self.0.db.begin().await?;
        let row = tours::insert_tour(
            &mut tx,
            &TourFields {
                name: &name,
                description: description.trim(),
                duration_minutes: duration,
                base_price,
                currency: currency.code(),
                timezone: tz.name(),
                is_active: input.is_active.unwrap_or(true),
                cancellation_policy: policy.as_deref(),
                party_rules: rules.as_deref(),
            },
            self.now(),
        )
        .await?;
        tx.commit().await?;
        Tour::from_row(row)
    }

    pub async fn update_tour(
        &self,
        _admin: &Admin,
        id: i64,
        input: TourInput,
    ) -> ServiceResult<Tour> {
        let mut tx = self.0.db.begin().await?;
        let current = load_tour(&mut tx, id).await?;
        let name = match &input.name {
            Some(n) => required_text("name", n, 200)?,
            None => current.row.name.clone(),
        };
        let description = match &input.description {
            Some(d) => description_text(d)?,
            None => current.row.description.clone(),
        };
        let currency = match &input.currency {
            Some(c) => Currency::parse(c).map_err(|e| money_error("currency", e))?,
            None => current.currency.clone(),
        };
        let tz = match &input.timezone {
            Some(t) => schedule::parse_timezone(t)?,
            None => current.tz,
        };
        let base_price = match &input.base_price {
            Some(p) => currency
                .parse_amount(p)
                .map_err(|e| money_error("base_price", e))?,
            None => current.row.base_price,
        };
        let duration = input
            .duration_minutes
            .unwrap_or(current.row.duration_minutes);
        validate_tour_numbers(duration, base_price)?;
        let (new_policy, new_rules) = rules_json(
            &currency,
            input.cancellation_policy.as_ref().and_then(Option::as_ref),
            input.party_rules.as_ref().and_then(Option::as_ref),
        )?;
        let policy = match &input.cancellation_policy {
            None => current.row.cancellation_policy.clone(),
            Some(_) => new_policy,
        };
        let rules = match &input.party_rules {
            None => current.row.party_rules.clone(),
            Some(_) => new_rules,
        };
        tours::update_tour(
            &mut tx,
            id,
            &TourFields {
                name: &name,
                description: description.trim(),
                duration_minutes: duration,
                base_price,
                currency: currency.code(),
                timezone: tz.name(),
                is_active: input.is_active.unwrap_or(current.row.is_active),
                cancellation_policy: policy.as_deref(),
                party_rules: rules.as_deref(),
            },
            self.now(),
        )
        .await?;
        let tour = load_tour(&mut tx, id).await?;
        tx.commit().await?;
        Ok(tour)
    }

    pub async fn tour(&self, id: i64) -> ServiceResult<Tour> {
        let mut conn = self.0.db.read().await?;
        load_tour(&mut conn, id).await
    }

    /// The active tours, as the public sees them.
    pub async fn tours(&self) -> ServiceResult<Vec<Tour>> {
        self.list_tours(true).await
    }

    /// Every tour, active or not.
    pub async fn all_tours(&self, _admin: &Admin) -> ServiceResult<Vec<Tour>> {
        self.list_tours(false).await
    }

    async fn list_tours(&self, active_only: bool) -> ServiceResult<Vec<Tour>> {
        let mut conn = self.0.db.read().await?;
        tours::list_tours(&mut conn, active_only)
            .await?
            .into_iter()
            .map(Tour::from_row)
            .collect()
    }

    // ---- schedules ----
}

/// Locks one departure, or answers 404.
async fn lock_slot(tx: &mut Tx, id: i64) -> ServiceResult<SlotRow> {
    ledger::lock_slots(tx, &[id])
        .await?
        .remove(&id)
        .ok_or_else(|| ServiceError::not_found(format!("slot {id} not found")))
}

/// 409 unless the departure is waiting for its minimum.
fn not_pending(slot: &SlotRow) -> ServiceResult<()> {
    if slot.is_cancelled {
        return Err(ServiceError::conflict(
            "slot_cancelled",
            format!("slot {} is cancelled", slot.id),
        ));
    }
    match slot.guarantee.as_str() {
        slots::GUARANTEE_PENDING => Ok(()),
        slots::GUARANTEE_GUARANTEED => Err(ServiceError::conflict(
            "already_guaranteed",
            format!("slot {} is already guaranteed to run", slot.id),
        )),
        _ => Err(ServiceError::conflict(
            "no_minimum",
            format!("slot {} has no minimum to decide", slot.id),
        )),
    }
}

/// An instant as RFC 3339, or a local date and time in `tz`
/// (`2026-12-01T09:00`, seconds optional; in a DST gap or overlap: 422).
fn parse_instant(text: &str, tz: chrono_tz::Tz) -> ServiceResult<DateTime<Utc>> {
    use chrono::TimeZone;
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let local = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M"))
        .map_err(|_| {
            ServiceError::invalid(
                "decision_at",
                "must be a date and time: 2026-12-01T09:00 (the tour's zone) or RFC 3339",
            )
        })?;
    ledger::check_date("decision_at", local.date())?;
    tz.from_local_datetime(&local)
        .single()
        .map(|at| at.with_timezone(&Utc))
        .ok_or_else(|| {
            ServiceError::invalid(
                "decision_at",
                format!("{local} does not exist or is ambiguous in {tz} (a clock change)"),
            )
        })
}

fn validate_tour_numbers(duration: i64, base_price: i64) -> ServiceResult<()> {
    if !(1..=60 * 24 * 14).contains(&duration) {
        return Err(ServiceError::invalid(
            "duration_minutes",
            "must be between 1 and 20160 (14 days)",
        ));
    }
    if base_price < 0 {
        return Err(ServiceError::invalid("base_price", "must not be negative"));
    }
    Ok(())
}

fn check_range(start: NaiveDate, end: NaiveDate) -> ServiceResult<()> {
    DateRange::new(start, end)?.at_most_months(36, "the range may cover at most 3 years")?;
    Ok(())
}

pub async fn load_schedule(tx: &mut Tx, id: i64) -> ServiceResult<ScheduleRow> {
    schedules::schedule_by_id(tx, id)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("schedule {id} not found")))
}
