//! Slot administration: the all-tours week view, capacity, price and the
//! open flag.

use std::collections::HashMap;

use axum::extract::State;
use chrono::NaiveDate;
use serde::Deserialize;
use tourdesk_service::catalog::SlotPatch;
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
    let currencies: HashMap<i64, _> = state
        .ctx
        .catalog()
        .all_tours(&admin)
        .await?
        .into_iter()
        .map(|t| (t.id(), t.currency))
        .collect();
    Ok(Json(
        slots
            .iter()
            .filter_map(|s| currencies.get(&s.tour_id).map(|c| SlotDto::new(s, c)))
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
    let tour = state.ctx.catalog().tour(slot.tour_id).await?;
    Ok(Json(SlotDto::new(&slot, &tour.currency)))
}
