//! The catalogue an operator manages: tours, schedules, slot generation,
//! blackouts and slot administration. What changes departures (schedule
//! edits, blackouts, slot changes) goes through the ledger, which locks
//! departures in id order and derives their closures.

use chrono::{DateTime, Months, NaiveDate, NaiveTime, Utc};
use tourdesk_domain::contact::optional_text;
use tourdesk_domain::policy::{CancellationPolicy, PartyRules, RefundTier, RuleError};
use tourdesk_domain::schedule::{self, FieldError, Pattern, Recurrence, Weekdays};
use tourdesk_domain::{Currency, MoneyError};
use tourdesk_store::blackouts::{self, BlackoutFields, BlackoutRow};
use tourdesk_store::schedules::{self, ScheduleFields, ScheduleRow};
use tourdesk_store::slots::{self, SlotRow};
use tourdesk_store::tours::{self, TourFields};
use tourdesk_store::{StoreError, Tx};

use crate::caller::Admin;
use crate::ledger::{self, ScheduleSync, not_found_is_invalid, weekdays_of};
pub use crate::ledger::{GenerationReport, Tour, load_slot, load_tour, pattern_of};
use crate::{Context, ServiceError, ServiceResult};

fn corrupt(what: String) -> ServiceError {
    ServiceError::Internal(StoreError::Config(what))
}

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
                serde_json::to_string(&checked)
                    .map_err(|e| ServiceError::Internal(StoreError::Config(e.to_string())))?,
            )
        }
    };
    let rules = match rules {
        None => None,
        Some(r) => {
            let checked = r.revalidate().map_err(|e| field(e, "party_rules"))?;
            Some(
                serde_json::to_string(&checked)
                    .map_err(|e| ServiceError::Internal(StoreError::Config(e.to_string())))?,
            )
        }
    };
    Ok((policy, rules))
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
    /// Monday first; None keeps the current value.
    pub weekdays: [Option<bool>; 7],
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
    fn now(&self) -> DateTime<Utc> {
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

    /// Creates a schedule and, unless told not to, its departures from the
    /// tour's today to the booking horizon (`BOOKING_ADVANCE_DAYS`), in the
    /// same transaction: a new schedule is bookable at once, as far ahead
    /// as customers may book. With `dry_run` the same work runs in a
    /// transaction that is rolled back, so the preview is exactly what
    /// creating would do.
    pub async fn create_schedule(
        &self,
        _admin: &Admin,
        input: ScheduleInput,
        opts: ScheduleCreate,
    ) -> ServiceResult<(ScheduleRow, Option<InitialDepartures>)> {
        let tour_id = input
            .tour_id
            .ok_or_else(|| ServiceError::invalid("tour_id", "is required"))?;
        ledger::retry(|| async {
            let mut tx = self.0.db.begin().await?;
            let tour = load_tour(&mut tx, tour_id).await.map_err(|e| match e {
                ServiceError::NotFound(m) => ServiceError::invalid("tour_id", m),
                other => other,
            })?;
            let fields = merge_schedule(&tour, None, &input)?;
            let now = self.now();
            let row = schedules::insert_schedule(&mut tx, &fields.as_fields(), now).await?;
            let initial = if opts.generate && row.is_active {
                let today = tour.today(now);
                let horizon =
                    today + chrono::Days::new(u64::from(self.0.settings.booking_advance_days));
                let from = today.max(row.valid_from);
                let until = row.valid_until.map_or(horizon, |u| u.min(horizon));
                let report = if from <= until {
                    ledger::generate(&mut tx, &tour, &row, from, until, now).await?
                } else {
                    GenerationReport {
                        created: 0,
                        skipped_existing: 0,
                        skipped_blackout: 0,
                        slots: Vec::new(),
                    }
                };
                Some(InitialDepartures {
                    from,
                    until,
                    report,
                })
            } else {
                None
            };
            if opts.dry_run {
                tx.rollback().await?;
            } else {
                tx.commit().await?;
            }
            Ok((row, initial))
        })
        .await
    }

    /// Changes a schedule (absent fields keep their values) and makes its
    /// future departures follow (see `ledger::sync_schedule`). With
    /// `dry_run` nothing is kept: the same change runs in a transaction
    /// that is rolled back, so the report is exactly what would happen.
    pub async fn update_schedule(
        &self,
        id: i64,
        input: ScheduleInput,
        opts: ScheduleEdit,
        admin: &Admin,
    ) -> ServiceResult<(ScheduleRow, ScheduleSync)> {
        let caller = admin.caller();

        ledger::retry(|| async {
            let mut tx = self.0.db.begin().await?;
            // The schedule row first: concurrent edits of one schedule queue,
            // and each merges over (and syncs from) what the last one wrote.
            let current = schedules::lock_schedule(&mut tx, id)
                .await?
                .ok_or_else(|| ServiceError::not_found(format!("schedule {id} not found")))?;
            if input.tour_id.is_some_and(|t| t != current.tour_id) {
                return Err(ServiceError::invalid(
                    "tour_id",
                    "a schedule cannot move to another tour",
                ));
            }
            let tour = load_tour(&mut tx, current.tour_id).await?;
            let fields = merge_schedule(&tour, Some(&current), &input)?;
            schedules::update_schedule(&mut tx, id, &fields.as_fields(), self.now()).await?;
            let row = load_schedule(&mut tx, id).await?;
            let sync = ledger::sync_schedule(
                self.0,
                &mut tx,
                &tour,
                &current,
                &row,
                opts.apply_to_booked,
                caller,
            )
            .await?;
            if opts.dry_run {
                tx.rollback().await?;
            } else {
                tx.commit().await?;
            }
            Ok((row, sync))
        })
        .await
    }

    pub async fn schedule(&self, _admin: &Admin, id: i64) -> ServiceResult<ScheduleRow> {
        let mut conn = self.0.db.read().await?;
        load_schedule(&mut conn, id).await
    }

    pub async fn schedules(
        &self,
        _admin: &Admin,
        tour_id: Option<i64>,
    ) -> ServiceResult<Vec<ScheduleRow>> {
        let mut conn = self.0.db.read().await?;
        Ok(schedules::list_schedules(&mut conn, tour_id).await?)
    }

    /// Deactivates a schedule: nothing more is generated from it, and its
    /// future departures without bookings are withdrawn (closed); booked
    /// ones stay. Reactivating it (`is_active: true`) restores them.
    /// Returns how many were withdrawn.
    pub async fn deactivate_schedule(
        &self,
        id: i64,
        admin: &Admin,
    ) -> ServiceResult<(ScheduleRow, u64)> {
        let input = ScheduleInput {
            is_active: Some(false),
            ..ScheduleInput::default()
        };
        let (row, sync) = self
            .update_schedule(id, input, ScheduleEdit::default(), admin)
            .await?;
        let withdrawn = sync
            .changes
            .iter()
            .filter(|c| c.actions.contains(&ledger::DepartureAction::Withdrawn))
            .count();
        Ok((row, u64::try_from(withdrawn).unwrap_or(u64::MAX)))
    }

    /// The dates a schedule would produce in a range, without writing
    /// anything (the admin console's preview).
    pub async fn preview_schedule(
        &self,
        _admin: &Admin,
        id: i64,
        start: NaiveDate,
        end: NaiveDate,
    ) -> ServiceResult<Vec<schedule::Placement>> {
        check_range(start, end)?;
        let mut conn = self.0.db.read().await?;
        let row = load_schedule(&mut conn, id).await?;
        let tour = load_tour(&mut conn, row.tour_id).await?;
        let pattern = pattern_of(&row)?;
        Ok(pattern
            .occurrences(start, end)?
            .into_iter()
            .map(|local| schedule::place(local, tour.tz, row.duration_minutes))
            .collect())
    }

    /// Creates the slots a schedule produces in `start..=end` that do not
    /// exist yet, skipping blacked-out dates. Idempotent.
    pub async fn generate_slots(
        &self,
        _admin: &Admin,
        schedule_id: i64,
        start: NaiveDate,
        end: NaiveDate,
    ) -> ServiceResult<GenerationReport> {
        check_range(start, end)?;
        ledger::retry(|| async {
            let mut tx = self.0.db.begin().await?;
            let row = load_schedule(&mut tx, schedule_id).await?;
            if !row.is_active {
                return Err(ServiceError::conflict(
                    "schedule_inactive",
                    format!("schedule {schedule_id} is inactive"),
                ));
            }
            let tour = load_tour(&mut tx, row.tour_id).await?;
            let report = ledger::generate(&mut tx, &tour, &row, start, end, self.now()).await?;
            tx.commit().await?;
            Ok(report)
        })
        .await
    }

    /// Keeps every active schedule generated from today up to
    /// `BOOKING_ADVANCE_DAYS` ahead; returns how many slots were created.
    pub async fn extend_horizon(&self) -> ServiceResult<usize> {
        let mut conn = self.0.db.read().await?;
        let list = schedules::active_schedules(&mut conn).await?;
        drop(conn);
        let mut created = 0;
        let days = u64::from(self.0.settings.booking_advance_days);
        for row in list {
            created += ledger::retry(|| async {
                let mut tx = self.0.db.begin().await?;
                let tour = load_tour(&mut tx, row.tour_id).await?;
                let today = tour.today(self.now());
                let end = today + chrono::Days::new(days);
                ledger::adopt_minimum(&mut tx, &row, self.now()).await?;
                let report = ledger::generate(&mut tx, &tour, &row, today, end, self.now()).await?;
                tx.commit().await?;
                Ok(report.created)
            })
            .await?;
        }
        Ok(created)
    }

    // ---- blackouts ----

    /// Creates a blackout (or, with `dry_run`, only reports what it would
    /// do): every covered departure closes to new people (derived, see the
    /// ledger); those with bookings keep them and are listed as conflicts;
    /// waitlist holds on them go back to the queue.
    pub async fn create_blackout(
        &self,
        _admin: &Admin,
        input: BlackoutInput,
        dry_run: bool,
    ) -> ServiceResult<BlackoutOutcome> {
        ledger::check_date("start_date", input.start_date)?;
        ledger::check_date("end_date", input.end_date)?;
        if input.end_date < input.start_date {
            return Err(ServiceError::invalid(
                "end_date",
                "must not be before start_date",
            ));
        }
        if input.end_date > input.start_date + Months::new(36) {
            return Err(ServiceError::invalid(
                "end_date",
                "a blackout may cover at most 3 years",
            ));
        }
        let kind = input.blackout_type.trim();
        if !matches!(kind, "holiday" | "maintenance" | "weather" | "custom") {
            return Err(ServiceError::invalid(
                "blackout_type",
                format!("unknown type `{kind}` (holiday, maintenance, weather or custom)"),
            ));
        }
        let name = required_text("name", &input.name, 200)?;
        let description = description_text(input.description.as_deref().unwrap_or_default())?;
        ledger::retry(|| async {
            let mut tx = self.0.db.begin().await?;
            if let Some(tour_id) = input.tour_id {
                load_tour(&mut tx, tour_id)
                    .await
                    .map_err(not_found_is_invalid("tour_id"))?;
            }
            let (tour_id, from, to) = (input.tour_id, input.start_date, input.end_date);
            if !dry_run {
                slots::lock_slots_between(&mut tx, tour_id, from, to).await?;
            }
            let conflicts = slots::occupied_slots_between(&mut tx, tour_id, from, to).await?;
            let free = slots::count_free_slots_between(&mut tx, tour_id, from, to).await?;
            if dry_run {
                return Ok(BlackoutOutcome {
                    blackout: None,
                    cancelled_slots: free,
                    conflicts,
                });
            }
            let row = blackouts::insert_blackout(
                &mut tx,
                &BlackoutFields {
                    tour_id,
                    start_date: from,
                    end_date: to,
                    blackout_type: kind,
                    name: &name,
                    description: description.trim(),
                },
                self.now(),
            )
            .await?;
            ledger::refresh_blackouts(&mut tx, tour_id, from, to, self.now()).await?;
            tx.commit().await?;
            Ok(BlackoutOutcome {
                blackout: Some(row),
                cancelled_slots: free,
                conflicts,
            })
        })
        .await
    }

    pub async fn blackouts(
        &self,
        _admin: &Admin,
        tour_id: Option<i64>,
        include_inactive: bool,
    ) -> ServiceResult<Vec<BlackoutRow>> {
        let mut conn = self.0.db.read().await?;
        Ok(blackouts::list_blackouts(&mut conn, tour_id, include_inactive).await?)
    }

    /// Deactivates a blackout: the departures it alone closed reopen (their
    /// closure is recomputed from the blackouts still active), and dates it
    /// kept from being generated get their departures, up to the booking
    /// horizon. Returns how many existing departures reopened.
    pub async fn remove_blackout(&self, _admin: &Admin, id: i64) -> ServiceResult<u64> {
        ledger::retry(|| async {
            let mut tx = self.0.db.begin().await?;
            let b = blackouts::blackout_by_id(&mut tx, id)
                .await?
                .filter(|b| b.is_active)
                .ok_or_else(|| {
                    ServiceError::not_found(format!("active blackout {id} not found"))
                })?;
            slots::lock_slots_between(&mut tx, b.tour_id, b.start_date, b.end_date).await?;
            let reopened = slots::count_reopened_by_removal(&mut tx, id).await?;
            blackouts::deactivate_blackout(&mut tx, id).await?;
            slots::refresh_blackouts(&mut tx, b.tour_id, b.start_date, b.end_date).await?;
            let now = self.now();
            for row in schedules::active_schedules(&mut tx).await? {
                if b.tour_id.is_some_and(|t| t != row.tour_id) {
                    continue;
                }
                let tour = load_tour(&mut tx, row.tour_id).await?;
                let horizon = tour.today(now)
                    + chrono::Days::new(u64::from(self.0.settings.booking_advance_days));
                let from = b.start_date.max(tour.today(now));
                let to = b.end_date.min(horizon);
                if from <= to {
                    ledger::generate(&mut tx, &tour, &row, from, to, now).await?;
                }
            }
            tx.commit().await?;
            Ok(reopened)
        })
        .await
    }

    // ---- slots ----

    pub async fn slot(&self, id: i64) -> ServiceResult<SlotRow> {
        let mut conn = self.0.db.read().await?;
        load_slot(&mut conn, id).await
    }

    /// Changes capacity, price or the open flag. Capacity below what is
    /// booked and held is a 409; nothing changes then.
    pub async fn patch_slot(
        &self,
        _admin: &Admin,
        id: i64,
        patch: SlotPatch,
    ) -> ServiceResult<SlotRow> {
        if let Some(cap) = patch.max_capacity
            && !(1..=MAX_CAPACITY).contains(&cap)
        {
            return Err(ServiceError::invalid(
                "max_capacity",
                format!("must be between 1 and {MAX_CAPACITY}"),
            ));
        }
        ledger::retry(|| async {
            let mut tx = self.0.db.begin().await?;
            let slot = lock_slot(&mut tx, id).await?;
            if let Some(cap) = patch.max_capacity
                && slot.is_pending_minimum()
                && cap < slot.min_capacity
            {
                return Err(ServiceError::invalid(
                    "max_capacity",
                    format!(
                        "must not be below the departure's minimum of {} people",
                        slot.min_capacity
                    ),
                ));
            }
            let tour = load_tour(&mut tx, slot.tour_id).await?;
            let price = match &patch.price_per_person {
                Some(p) => {
                    let minor = tour
                        .currency
                        .parse_amount(p)
                        .map_err(|e| money_error("price_per_person", e))?;
                    if minor < 0 {
                        return Err(ServiceError::invalid(
                            "price_per_person",
                            "must not be negative",
                        ));
                    }
                    Some(minor)
                }
                None => None,
            };
            let slot = ledger::patch_departure(
                self.0,
                &mut tx,
                &slot,
                patch.max_capacity,
                price,
                patch.is_available,
                self.now(),
            )
            .await?;
            tx.commit().await?;
            Ok(slot)
        })
        .await
    }

    // ---- guaranteed departures ----

    /// Guarantees a departure waiting for its minimum, whatever it has
    /// booked (the operator runs it anyway). 409 when it has no minimum,
    /// is guaranteed already or is cancelled.
    pub async fn guarantee_slot(
        &self,
        admin: &Admin,
        id: i64,
        reason: Option<&str>,
    ) -> ServiceResult<SlotRow> {
        let reason = optional_text(reason, ledger::MAX_TEXT)
            .map_err(|e| ServiceError::invalid("reason", e.0))?;
        ledger::retry(|| async {
            let now = self.now();
            let mut tx = self.0.db.begin().await?;
            let slot = lock_slot(&mut tx, id).await?;
            not_pending(&slot)?;
            ledger::guarantee_departure(
                &mut tx,
                id,
                "manual",
                admin.caller(),
                reason.as_deref(),
                ledger::Tell::All,
                now,
            )
            .await?;
            let slot = load_slot(&mut tx, id).await?;
            tx.commit().await?;
            Ok(slot)
        })
        .await
    }

    /// Moves the decision deadline of a departure waiting for its minimum.
    /// `decision_at` is an instant (RFC 3339) or a local date and time in
    /// the tour's zone (`2026-12-01T09:00`); it must be in the future and
    /// before the departure starts (422 `decision_at`).
    pub async fn set_decision_deadline(
        &self,
        admin: &Admin,
        id: i64,
        decision_at: &str,
    ) -> ServiceResult<SlotRow> {
        ledger::retry(|| async {
            let now = self.now();
            let mut tx = self.0.db.begin().await?;
            let slot = lock_slot(&mut tx, id).await?;
            let tour = load_tour(&mut tx, slot.tour_id).await?;
            let at = parse_instant(decision_at, tour.tz)?;
            if at >= slot.starts_at {
                return Err(ServiceError::invalid(
                    "decision_at",
                    format!(
                        "must be before the departure starts ({})",
                        slot.starts_at
                            .with_timezone(&tour.tz)
                            .format("%Y-%m-%d %H:%M %Z")
                    ),
                ));
            }
            if at <= now {
                return Err(ServiceError::invalid(
                    "decision_at",
                    "must be in the future",
                ));
            }
            not_pending(&slot)?;
            ledger::move_deadline(&mut tx, &slot, at, admin.caller(), now).await?;
            let slot = load_slot(&mut tx, id).await?;
            tx.commit().await?;
            Ok(slot)
        })
        .await
    }

    /// Departures still waiting for their minimum that have not started,
    /// by deadline (at most 500).
    pub async fn at_risk(&self, _admin: &Admin) -> ServiceResult<Vec<SlotRow>> {
        let mut conn = self.0.db.read().await?;
        Ok(slots::at_risk(&mut conn, self.now(), 500).await?)
    }

    /// Decides every departure whose deadline has come (the decision job's
    /// round): each in its own transaction, exactly once however many
    /// instances run it. `grace` is how late a decision may be before the
    /// audit says it was late. Returns (guaranteed, cancelled) counts.
    pub async fn decide_due(&self, grace: chrono::Duration) -> ServiceResult<(usize, usize)> {
        let mut decided = (0, 0);
        loop {
            let due = {
                let mut conn = self.0.db.read().await?;
                slots::due_for_decision(&mut conn, self.now(), 100).await?
            };
            let mut progressed = false;
            let mut failed = None;
            for id in &due {
                let d = ledger::retry(|| async {
                    let now = self.now();
                    let mut tx = self.0.db.begin().await?;
                    let d = ledger::decide_departure(self.0, &mut tx, *id, grace, now).await?;
                    tx.commit().await?;
                    Ok(d)
                })
                .await;
                // One departure that cannot be decided (an outage, a
                // corrupt row) does not hold up the others; the round
                // reports it and the next round tries it again.
                match d {
                    Ok(ledger::Decision::Guaranteed) => decided.0 += 1,
                    Ok(ledger::Decision::Cancelled(_)) => decided.1 += 1,
                    Ok(ledger::Decision::NotDue) => continue,
                    Err(e) => {
                        tracing::error!(slot_id = id, error = %e, "a departure could not be decided");
                        failed.get_or_insert(e);
                        continue;
                    }
                }
                progressed = true;
            }
            if let Some(e) = failed {
                return Err(e);
            }
            if due.len() < 100 || !progressed {
                return Ok(decided);
            }
        }
    }

    /// Every tour's slots in a date range (at most 62 days): the admin's
    /// week and day views.
    pub async fn all_slots(
        &self,
        _admin: &Admin,
        from: NaiveDate,
        to: NaiveDate,
    ) -> ServiceResult<Vec<SlotRow>> {
        ledger::check_date("start_date", from)?;
        ledger::check_date("end_date", to)?;
        if to < from {
            return Err(ServiceError::invalid(
                "end_date",
                "must not be before start_date",
            ));
        }
        if (to - from).num_days() > 62 {
            return Err(ServiceError::invalid(
                "end_date",
                "the range may cover at most 62 days",
            ));
        }
        let mut conn = self.0.db.read().await?;
        Ok(slots::all_slots_between(&mut conn, from, to).await?)
    }
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
    ledger::check_date("start_date", start)?;
    ledger::check_date("end_date", end)?;
    if end < start {
        return Err(ServiceError::invalid(
            "end_date",
            "must not be before start_date",
        ));
    }
    if end > start + Months::new(36) {
        return Err(ServiceError::invalid(
            "end_date",
            "the range may cover at most 3 years",
        ));
    }
    Ok(())
}

pub async fn load_schedule(tx: &mut Tx, id: i64) -> ServiceResult<ScheduleRow> {
    schedules::schedule_by_id(tx, id)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("schedule {id} not found")))
}

/// A schedule's fields after merging input over the current row.
struct MergedSchedule {
    tour_id: i64,
    name: String,
    start_time: NaiveTime,
    duration_minutes: i64,
    recurrence: Recurrence,
    rrule: Option<String>,
    weekdays: [bool; 7],
    max_capacity: i64,
    min_capacity: i64,
    decision_hours: i64,
    valid_from: NaiveDate,
    valid_until: Option<NaiveDate>,
    price_override: Option<i64>,
    is_active: bool,
}

impl MergedSchedule {
    fn as_fields(&self) -> ScheduleFields<'_> {
        ScheduleFields {
            tour_id: self.tour_id,
            name: &self.name,
            start_time: self.start_time,
            duration_minutes: self.duration_minutes,
            recurrence: self.recurrence.as_str(),
            rrule: self.rrule.as_deref(),
            weekdays: self.weekdays,
            max_capacity: self.max_capacity,
            min_capacity: self.min_capacity,
            decision_hours: self.decision_hours,
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            price_override: self.price_override,
            is_active: self.is_active,
        }
    }
}

fn merge_schedule(
    tour: &Tour,
    current: Option<&ScheduleRow>,
    input: &ScheduleInput,
) -> ServiceResult<MergedSchedule> {
    let name = match (&input.name, current) {
        (Some(n), _) => required_text("name", n, 200)?,
        (None, Some(c)) => c.name.clone(),
        (None, None) => return Err(ServiceError::invalid("name", "is required")),
    };
    let start_time = input
        .start_time
        .or(current.map(|c| c.start_time))
        .ok_or_else(|| ServiceError::invalid("start_time", "is required"))?;
    let duration_minutes = input
        .duration_minutes
        .or(current.map(|c| c.duration_minutes))
        .unwrap_or(tour.row.duration_minutes);
    if !(1..=60 * 24 * 14).contains(&duration_minutes) {
        return Err(ServiceError::invalid(
            "duration_minutes",
            "must be between 1 and 20160 (14 days)",
        ));
    }
    let recurrence: Recurrence = match (&input.recurrence, current) {
        (Some(r), _) => r.parse().map_err(|e: String| {
            ServiceError::invalid(
                "recurrence",
                format!("{e}; expected none, daily, weekly, biweekly, monthly or custom"),
            )
        })?,
        (None, Some(c)) => c.recurrence.parse().map_err(|e: String| corrupt(e))?,
        (None, None) => return Err(ServiceError::invalid("recurrence", "is required")),
    };
    let current_days = current.map(weekdays_of).unwrap_or([false; 7]);
    let weekdays: [bool; 7] = std::array::from_fn(|i| input.weekdays[i].unwrap_or(current_days[i]));
    let max_capacity = input
        .max_capacity
        .or(current.map(|c| c.max_capacity))
        .ok_or_else(|| ServiceError::invalid("max_capacity", "is required"))?;
    if !(1..=MAX_CAPACITY).contains(&max_capacity) {
        return Err(ServiceError::invalid(
            "max_capacity",
            format!("must be between 1 and {MAX_CAPACITY}"),
        ));
    }
    let min_capacity = input
        .min_capacity
        .or(current.map(|c| c.min_capacity))
        .unwrap_or(1);
    if min_capacity < 0 {
        return Err(ServiceError::invalid(
            "min_capacity",
            "must not be negative",
        ));
    }
    if min_capacity > max_capacity {
        return Err(ServiceError::invalid(
            "min_capacity",
            "must not exceed max_capacity",
        ));
    }
    let decision_hours = input
        .decision_hours
        .or(current.map(|c| c.decision_hours))
        .unwrap_or(DEFAULT_DECISION_HOURS);
    if !(1..=MAX_DECISION_HOURS).contains(&decision_hours) {
        return Err(ServiceError::invalid(
            "decision_hours",
            format!(
                "must be between 1 and {MAX_DECISION_HOURS} hours before the departure \
                 (a deadline at or after the departure cannot decide it)"
            ),
        ));
    }
    let valid_from = input
        .valid_from
        .or(current.map(|c| c.valid_from))
        .ok_or_else(|| ServiceError::invalid("valid_from", "is required"))?;
    let valid_until = match input.valid_until {
        Some(v) => v,
        None => current.and_then(|c| c.valid_until),
    };
    ledger::check_date("valid_from", valid_from)?;
    if let Some(d) = valid_until {
        ledger::check_date("valid_until", d)?;
    }
    let rrule = match (&input.rrule, current) {
        (Some(r), _) => Some(r.clone()),
        (None, Some(c)) if recurrence == Recurrence::Custom => c.rrule.clone(),
        _ => None,
    };
    let price_override = match &input.price_override {
        Some(Some(p)) => Some(
            tour.currency
                .parse_amount(p)
                .map_err(|e| money_error("price_override", e))?,
        ),
        Some(None) => None,
        None => current.and_then(|c| c.price_override),
    };
    if price_override.is_some_and(|p| p < 0) {
        return Err(ServiceError::invalid(
            "price_override",
            "must not be negative",
        ));
    }
    let pattern = Pattern::new(
        recurrence,
        Weekdays::from_flags(weekdays),
        rrule.as_deref(),
        start_time,
        valid_from,
        valid_until,
    )?;
    Ok(MergedSchedule {
        tour_id: tour.id(),
        name,
        start_time,
        duration_minutes,
        recurrence,
        rrule: pattern.rrule,
        weekdays,
        max_capacity,
        min_capacity,
        decision_hours,
        valid_from,
        valid_until,
        price_override,
        is_active: input
            .is_active
            .or(current.map(|c| c.is_active))
            .unwrap_or(true),
    })
}
