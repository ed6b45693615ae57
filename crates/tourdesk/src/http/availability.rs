//! The calendar's reads: the availability check, the month summary and the
//! slots of a date range. Every number is live.

use std::collections::BTreeMap;

use axum::extract::State;
use chrono::{NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};
use tourdesk_domain::availability::Level;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::dto::{Amount, CalendarSlotDto, hours};
use super::error::ApiError;
use super::extract::{Json, Path, Query};
use super::openapi;
use tourdesk_service::availability::Brief;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(check))
        .routes(routes!(monthly))
        .routes(routes!(slots))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AvailabilityRequest {
    tour_id: i64,
    #[schema(value_type = openapi::CalendarDate)]
    requested_date: NaiveDate,
    #[schema(value_type = openapi::PartySize)]
    num_people: i64,
    /// Only the slot starting at this time.
    #[schema(value_type = Option<openapi::Time>)]
    requested_time: Option<NaiveTime>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AvailableSlot {
    slot_id: i64,
    #[schema(value_type = String)]
    start_time: NaiveTime,
    #[schema(value_type = String)]
    end_time: NaiveTime,
    available_spots: i64,
    max_capacity: i64,
    #[schema(value_type = f64, example = 75.00)]
    price_per_person: Amount,
    current_bookings: i64,
    /// Always true here: only departures a customer can book are listed.
    bookable: bool,
    /// Always null here (see `bookable`).
    unbookable_reason: Option<String>,
}

/// A departure the party could book instead (#17: "suggest alternatives").
#[derive(Debug, Serialize, ToSchema)]
pub struct Alternative {
    slot_id: i64,
    #[schema(value_type = String, format = Date)]
    date: NaiveDate,
    #[schema(value_type = String)]
    start_time: NaiveTime,
    #[schema(value_type = String)]
    end_time: NaiveTime,
    available_spots: i64,
    #[schema(value_type = f64, example = 75.00)]
    price_per_person: Amount,
}

impl Alternative {
    pub(crate) fn list(currency: &tourdesk_domain::Currency, rows: &[Brief]) -> Vec<Alternative> {
        rows.iter()
            .map(|s| Alternative {
                slot_id: s.id,
                date: s.slot_date,
                start_time: s.start_time,
                end_time: s.end_time,
                available_spots: s.available_spots,
                price_per_person: Amount::new(currency, s.price_per_person),
            })
            .collect()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TourSummary {
    id: i64,
    name: String,
    duration_hours: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AvailabilityResponse {
    available: bool,
    /// Open slots inside the booking window with room for the party.
    slots: Vec<AvailableSlot>,
    /// Why not, for a person (null when available).
    reason: Option<String>,
    /// tour_not_found, tour_inactive, date_blacked_out, no_slots, too_soon,
    /// too_far or fully_booked (null when available).
    reason_code: Option<&'static str>,
    /// True when the date is full and its waitlist takes entries.
    waitlist_available: bool,
    /// When not available: departures of this tour the party can book
    /// instead, that day's first, then the nearest days (two weeks either
    /// side, at most six). Empty when available.
    alternatives: Vec<Alternative>,
    tour: Option<TourSummary>,
    currency: Option<String>,
}

/// Can this party go on this date? Refusals are `available: false` with a
/// reason, in the spec's order of checks.
#[utoipa::path(post, path = "/api/calendar/availability", tag = "calendar", request_body = AvailabilityRequest,
    responses((status = 200, body = AvailabilityResponse), (status = 422, description = "Party size or date malformed; `field` names it")))]
async fn check(
    State(state): State<AppState>,
    Json(body): Json<AvailabilityRequest>,
) -> Result<Json<AvailabilityResponse>, ApiError> {
    let a = state
        .ctx
        .availability()
        .check_with_alternatives(
            body.tour_id,
            body.requested_date,
            body.num_people,
            body.requested_time,
        )
        .await?;
    let currency = a.tour.as_ref().map(|t| t.currency.clone());
    Ok(Json(AvailabilityResponse {
        available: a.refusal.is_none(),
        slots: a
            .slots
            .iter()
            .filter_map(|s| {
                currency.as_ref().map(|c| AvailableSlot {
                    slot_id: s.id,
                    start_time: s.start_time,
                    end_time: s.end_time,
                    available_spots: s.available_spots,
                    max_capacity: s.max_capacity,
                    price_per_person: Amount::new(c, s.price_per_person),
                    current_bookings: s.current_bookings,
                    bookable: true,
                    unbookable_reason: None,
                })
            })
            .collect(),
        reason: a.refusal.as_ref().map(|(_, why)| why.clone()),
        reason_code: a.refusal.as_ref().map(|(r, _)| r.code()),
        waitlist_available: a.waitlist_available,
        alternatives: a
            .tour
            .as_ref()
            .map(|t| Alternative::list(&t.currency, &a.alternatives))
            .unwrap_or_default(),
        tour: a.tour.as_ref().map(|t| TourSummary {
            id: t.id(),
            name: t.row.name.clone(),
            duration_hours: hours(t.row.duration_minutes),
        }),
        currency: currency.map(|c| c.code().to_owned()),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MonthQuery {
    /// 1900 to 2999.
    #[param(minimum = 1900, maximum = 2999)]
    year: i32,
    /// 1 to 12.
    #[param(minimum = 1, maximum = 12)]
    month: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DayAvailability {
    /// Free spots in bookable slots.
    available_spots: i64,
    /// Departures that day (not cancelled).
    num_time_slots: usize,
    /// Departures that can be booked now: open and inside the booking
    /// window. 0 with departures means "not bookable now", not "full".
    num_bookable_slots: usize,
    has_availability: bool,
    /// high (≥ 50 % free), medium (≥ 20 %), low (> 0) or none.
    level: Level,
    /// Lowest price among departures with room.
    #[schema(value_type = Option<f64>)]
    min_price: Option<Amount>,
    /// The blackout's name, on blacked-out days.
    blackout: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MonthlyResponse {
    tour_id: i64,
    year: i32,
    month: u32,
    currency: String,
    /// Keyed by date (YYYY-MM-DD); days without departures are absent.
    availability: BTreeMap<String, DayAvailability>,
    /// The first date, from this month's first day (or today, if later) on,
    /// with a departure a customer can book now (open, inside the booking
    /// window, with room); null when there is none.
    #[schema(value_type = Option<String>, format = Date)]
    next_available_date: Option<NaiveDate>,
}

/// The month at a glance, day by day, for the calendar.
#[utoipa::path(get, path = "/api/calendar/tours/{tour_id}/monthly", tag = "calendar",
    params(("tour_id" = i64, Path), MonthQuery),
    responses((status = 200, body = MonthlyResponse), (status = 404)))]
async fn monthly(
    State(state): State<AppState>,
    Path(tour_id): Path<i64>,
    Query(q): Query<MonthQuery>,
) -> Result<Json<MonthlyResponse>, ApiError> {
    let (tour, days, next) = state
        .ctx
        .availability()
        .monthly(tour_id, q.year, q.month)
        .await?;
    Ok(Json(MonthlyResponse {
        tour_id,
        year: q.year,
        month: q.month,
        currency: tour.currency.code().to_owned(),
        availability: days
            .into_iter()
            .map(|d| {
                (
                    d.date.to_string(),
                    DayAvailability {
                        available_spots: d.available_spots,
                        num_time_slots: d.num_time_slots,
                        num_bookable_slots: d.num_bookable_slots,
                        has_availability: d.has_availability,
                        level: d.level,
                        min_price: d.min_price.map(|p| Amount::new(&tour.currency, p)),
                        blackout: d.blackout,
                    },
                )
            })
            .collect(),
        next_available_date: next,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    #[param(value_type = openapi::CalendarDate)]
    start_date: NaiveDate,
    /// Inclusive; not before `start_date` and at most 366 days after it.
    #[param(value_type = openapi::CalendarDate)]
    end_date: NaiveDate,
}

/// All of a tour's slots in a date range, with live numbers and whether a
/// customer can book each now (`bookable`, else `unbookable_reason`).
#[utoipa::path(get, path = "/api/calendar/tours/{tour_id}/slots", tag = "calendar",
    params(("tour_id" = i64, Path), RangeQuery),
    responses((status = 200, body = Vec<CalendarSlotDto>), (status = 404)))]
async fn slots(
    State(state): State<AppState>,
    Path(tour_id): Path<i64>,
    Query(q): Query<RangeQuery>,
) -> Result<Json<Vec<CalendarSlotDto>>, ApiError> {
    let (tour, rows) = state
        .ctx
        .availability()
        .slots(tour_id, q.start_date, q.end_date)
        .await?;
    Ok(Json(
        rows.iter()
            .map(|d| CalendarSlotDto::new(d, &tour))
            .collect(),
    ))
}
