//! A schedule edit merged over the stored schedule and checked as a whole.

use super::*;

/// A schedule's fields after merging input over the current row.
pub(super) struct MergedSchedule {
    tour_id: i64,
    name: String,
    start_time: NaiveTime,
    duration_minutes: i64,
    recurrence: Recurrence,
    rrule: Option<String>,
    weekdays: Weekdays,
    max_capacity: i64,
    min_capacity: i64,
    decision_hours: i64,
    valid_from: NaiveDate,
    valid_until: Option<NaiveDate>,
    price_override: Option<i64>,
    is_active: bool,
}

impl MergedSchedule {
    pub(super) fn as_fields(&self) -> ScheduleFields<'_> {
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

pub(super) fn merge_schedule(
    tour: &Tour,
    current: Option<&ScheduleRow>,
    input: &ScheduleInput,
) -> ServiceResult<MergedSchedule> {
    let name = match (&input.name, current) {
        (Some(n), _) => required_text("name", n, 200)?,
        (None, Some(c)) => c.name.clone(),
        (None, None) => return Err(ServiceError::invalid("name", "is required")),
    };
    let start_time = required(
        "start_time",
        input.start_time,
        current.map(|c| c.start_time),
    )?;
    let duration_minutes = merge_duration(tour, current, input)?;
    let recurrence = merge_recurrence(current, input)?;
    let weekdays = input
        .weekdays
        .over(current.map(|c| c.days).unwrap_or_default());
    let (max_capacity, min_capacity) = merge_capacity(current, input)?;
    let decision_hours = merge_decision_hours(current, input)?;
    let (valid_from, valid_until) = merge_validity(current, input)?;
    let rrule = match (&input.rrule, current) {
        (Some(r), _) => Some(r.clone()),
        (None, Some(c)) if recurrence == Recurrence::Custom => c.rrule.clone(),
        _ => None,
    };
    let price_override = merge_price(tour, current, input)?;
    // The recurrence as a whole: weekdays for weekly, an RRULE for custom.
    let pattern = Pattern::new(
        recurrence,
        weekdays,
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

/// The given value, else the current one; a new schedule must give it.
fn required<T>(field: &str, given: Option<T>, current: Option<T>) -> ServiceResult<T> {
    given
        .or(current)
        .ok_or_else(|| ServiceError::invalid(field, "is required"))
}

/// Given, current, or the tour's: 1 minute to 14 days.
fn merge_duration(
    tour: &Tour,
    current: Option<&ScheduleRow>,
    input: &ScheduleInput,
) -> ServiceResult<i64> {
    let minutes = input
        .duration_minutes
        .or(current.map(|c| c.duration_minutes))
        .unwrap_or(tour.row.duration_minutes);
    if !(1..=60 * 24 * 14).contains(&minutes) {
        return Err(ServiceError::invalid(
            "duration_minutes",
            "must be between 1 and 20160 (14 days)",
        ));
    }
    Ok(minutes)
}

fn merge_recurrence(
    current: Option<&ScheduleRow>,
    input: &ScheduleInput,
) -> ServiceResult<Recurrence> {
    match (&input.recurrence, current) {
        (Some(r), _) => r.parse().map_err(|e: String| {
            ServiceError::invalid(
                "recurrence",
                format!("{e}; expected none, daily, weekly, biweekly, monthly or custom"),
            )
        }),
        (None, Some(c)) => c.recurrence.parse().map_err(ServiceError::corrupt),
        (None, None) => Err(ServiceError::invalid("recurrence", "is required")),
    }
}

/// `(max, min)`: 1 to [`MAX_CAPACITY`] places, a minimum of 0 to the
/// maximum (default 1, no minimum).
fn merge_capacity(
    current: Option<&ScheduleRow>,
    input: &ScheduleInput,
) -> ServiceResult<(i64, i64)> {
    let max = required(
        "max_capacity",
        input.max_capacity,
        current.map(|c| c.max_capacity),
    )?;
    if !(1..=MAX_CAPACITY).contains(&max) {
        return Err(ServiceError::invalid(
            "max_capacity",
            format!("must be between 1 and {MAX_CAPACITY}"),
        ));
    }
    let min = input
        .min_capacity
        .or(current.map(|c| c.min_capacity))
        .unwrap_or(1);
    if min < 0 {
        return Err(ServiceError::invalid(
            "min_capacity",
            "must not be negative",
        ));
    }
    if min > max {
        return Err(ServiceError::invalid(
            "min_capacity",
            "must not exceed max_capacity",
        ));
    }
    Ok((max, min))
}

/// Hours before each departure its minimum is decided: 1 to
/// [`MAX_DECISION_HOURS`], default [`DEFAULT_DECISION_HOURS`].
fn merge_decision_hours(
    current: Option<&ScheduleRow>,
    input: &ScheduleInput,
) -> ServiceResult<i64> {
    let hours = input
        .decision_hours
        .or(current.map(|c| c.decision_hours))
        .unwrap_or(DEFAULT_DECISION_HOURS);
    if !(1..=MAX_DECISION_HOURS).contains(&hours) {
        return Err(ServiceError::invalid(
            "decision_hours",
            format!(
                "must be between 1 and {MAX_DECISION_HOURS} hours before the departure \
                 (a deadline at or after the departure cannot decide it)"
            ),
        ));
    }
    Ok(hours)
}

/// `(valid_from, valid_until)`, each a plausible date (their order is the
/// pattern's to check); `valid_until` may be cleared.
fn merge_validity(
    current: Option<&ScheduleRow>,
    input: &ScheduleInput,
) -> ServiceResult<(NaiveDate, Option<NaiveDate>)> {
    let from = required(
        "valid_from",
        input.valid_from,
        current.map(|c| c.valid_from),
    )?;
    let until = match input.valid_until {
        Some(v) => v,
        None => current.and_then(|c| c.valid_until),
    };
    ledger::check_date("valid_from", from)?;
    if let Some(d) = until {
        ledger::check_date("valid_until", d)?;
    }
    Ok((from, until))
}

/// The departures' price instead of the tour's, in its currency; may be
/// cleared, never negative.
fn merge_price(
    tour: &Tour,
    current: Option<&ScheduleRow>,
    input: &ScheduleInput,
) -> ServiceResult<Option<i64>> {
    let price = match &input.price_override {
        Some(Some(p)) => Some(
            tour.currency
                .parse_amount(p)
                .map_err(|e| money_error("price_override", e))?,
        ),
        Some(None) => None,
        None => current.and_then(|c| c.price_override),
    };
    if price.is_some_and(|p| p < 0) {
        return Err(ServiceError::invalid(
            "price_override",
            "must not be negative",
        ));
    }
    Ok(price)
}
