//! Slot administration: the all-tours week view, capacity, price and the
//! open flag.

use std::collections::HashMap;

use axum::extract::State;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use tourdesk_service::Admin;
use tourdesk_service::catalog::{SlotPatch, Tour};
use tourdesk_store::slots::SlotRow;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::dto::{PriceInput, SlotDto};
use super::error::ApiError;
use super::extract::{Json, Path, Query};
use super::openapi;
use super::{AdminUser, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(patch))
        .routes(routes!(guarantee))
        .routes(routes!(decision))
        .routes(routes!(at_risk))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    #[param(value_type = openapi::CalendarDate)]
    start_date: NaiveDate,
    /// Inclusive; not before `start_date` and at most 62 days after it.
    #[param(value_type = openapi::CalendarDate)]
    end_date: NaiveDate,
}

/// Every tour's slots in a date range, including closed and cancelled ones.
#[utoipa::path(get, path = "/api/calendar/admin/slots", tag = "admin", security(("bearer" = [])),
    params(RangeQuery), responses((status = 200, body = Vec<SlotDto>), (status = 403)))]
async fn list(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Query(q): Query<RangeQuery>,
) -> Result<Json<Vec<SlotDto>>, ApiError> {
    let slots = state
        .ctx
        .catalog()
        .all_slots(&admin, q.start_date, q.end_date)
        .await?;
    let tours = tours_by_id(&state, &admin).await?;
    Ok(Json(
        slots
            .iter()
            .filter_map(|s| tours.get(&s.tour_id).map(|t| SlotDto::new(s, t)))
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlotPatchRequest {
    /// 1 to 10000, and not below what is booked and held (409 otherwise).
    #[schema(minimum = 1, maximum = 10000)]
    max_capacity: Option<i64>,
    #[schema(value_type = Option<openapi::Price>)]
    price_per_person: Option<PriceInput>,
    /// False closes the slot to new bookings.
    is_available: Option<bool>,
}

/// Changes a slot's capacity, price or open flag.
#[utoipa::path(patch, path = "/api/calendar/admin/slots/{slot_id}", tag = "admin", security(("bearer" = [])),
    params(("slot_id" = i64, Path)), request_body = SlotPatchRequest,
    responses((status = 200, body = SlotDto), (status = 403), (status = 404),
              (status = 409, description = "Capacity below what is booked and held")))]
async fn patch(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
    Json(body): Json<SlotPatchRequest>,
) -> Result<Json<SlotDto>, ApiError> {
    let slot = state
        .ctx
        .catalog()
        .patch_slot(
            &admin,
            id,
            SlotPatch {
                max_capacity: body.max_capacity,
                price_per_person: body.price_per_person.map(|p| p.text()),
                is_available: body.is_available,
            },
        )
        .await?;
    slot_dto(&state, &slot).await
}

async fn slot_dto(state: &AppState, slot: &SlotRow) -> Result<Json<SlotDto>, ApiError> {
    let tour = state.ctx.catalog().tour(slot.tour_id).await?;
    Ok(Json(SlotDto::new(slot, &tour)))
}

async fn tours_by_id(state: &AppState, admin: &Admin) -> Result<HashMap<i64, Tour>, ApiError> {
    Ok(state
        .ctx
        .catalog()
        .all_tours(admin)
        .await?
        .into_iter()
        .map(|t| (t.id(), t))
        .collect())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GuaranteeRequest {
    /// Why it runs below its minimum (kept in each booking's history).
    #[schema(value_type = Option<openapi::Note>)]
    reason: Option<String>,
}

/// Guarantees a departure that is waiting for its minimum: it runs
/// whatever it has booked, and is never cancelled at its deadline. Its
/// customers are told; each booking's history records it. The body may
/// be `{}`.
#[utoipa::path(post, path = "/api/calendar/admin/slots/{slot_id}/guarantee", tag = "admin",
    security(("bearer" = [])), params(("slot_id" = i64, Path)), request_body = GuaranteeRequest,
    responses((status = 200, body = SlotDto), (status = 403), (status = 404),
              (status = 409, description = "`no_minimum`, `already_guaranteed` or `slot_cancelled`")))]
async fn guarantee(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
    Json(body): Json<GuaranteeRequest>,
) -> Result<Json<SlotDto>, ApiError> {
    let slot = state
        .ctx
        .catalog()
        .guarantee_slot(&admin, id, body.reason.as_deref())
        .await?;
    slot_dto(&state, &slot).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// The new deadline: an RFC 3339 instant, or a local date and time in
    /// the tour's zone (`2026-12-01T09:00`, what a datetime-local input
    /// gives). In the future and before the departure starts.
    #[schema(example = "2026-12-01T09:00")]
    decision_at: String,
}

/// Moves the decision deadline of a departure waiting for its minimum
/// (usually later, to give it more time to fill).
#[utoipa::path(post, path = "/api/calendar/admin/slots/{slot_id}/decision", tag = "admin",
    security(("bearer" = [])), params(("slot_id" = i64, Path)), request_body = DecisionRequest,
    responses((status = 200, body = SlotDto), (status = 403), (status = 404),
              (status = 409, description = "`no_minimum`, `already_guaranteed` or `slot_cancelled`"),
              (status = 422, description = "`decision_at` is not a date and time, not in the future, or not before the departure")))]
async fn decision(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
    Json(body): Json<DecisionRequest>,
) -> Result<Json<SlotDto>, ApiError> {
    let slot = state
        .ctx
        .catalog()
        .set_decision_deadline(&admin, id, &body.decision_at)
        .await?;
    slot_dto(&state, &slot).await
}

/// A departure at risk, with its tour's name and zone.
#[derive(Debug, Serialize, ToSchema)]
pub struct AtRiskDto {
    #[serde(flatten)]
    slot: SlotDto,
    tour_name: String,
    /// The tour's IANA zone.
    timezone: String,
}

/// Departures that have not started and still wait for their minimum,
/// soonest deadline first: the ones an operator may guarantee, extend or
/// let be cancelled.
#[utoipa::path(get, path = "/api/calendar/admin/departures/at-risk", tag = "admin",
    security(("bearer" = [])), responses((status = 200, body = Vec<AtRiskDto>), (status = 403)))]
async fn at_risk(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
) -> Result<Json<Vec<AtRiskDto>>, ApiError> {
    let slots = state.ctx.catalog().at_risk(&admin).await?;
    let tours = tours_by_id(&state, &admin).await?;
    Ok(Json(
        slots
            .iter()
            .filter_map(|s| {
                tours.get(&s.tour_id).map(|t| AtRiskDto {
                    slot: SlotDto::new(s, t),
                    tour_name: t.row.name.clone(),
                    timezone: t.row.timezone.clone(),
                })
            })
            .collect(),
    ))
}
