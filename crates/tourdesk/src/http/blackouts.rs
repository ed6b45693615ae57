//! Blackouts (admin): days a tour, or every tour, does not run.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use tourdesk_service::catalog::BlackoutInput;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::dto::BlackoutDto;
use super::error::ApiError;
use super::extract::{Json, Path, Query};
use super::openapi;
use super::{AdminUser, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(remove))
}

/// The spec's blackout body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlackoutRequest {
    /// Omit (or null) for a blackout of every tour.
    tour_id: Option<i64>,
    #[schema(value_type = openapi::CalendarDate)]
    start_date: NaiveDate,
    /// Not before `start_date`, and at most 3 years after it.
    #[schema(value_type = openapi::CalendarDate)]
    end_date: NaiveDate,
    #[schema(value_type = openapi::BlackoutType)]
    blackout_type: String,
    #[schema(value_type = openapi::Name)]
    name: String,
    #[schema(value_type = Option<openapi::Description>)]
    description: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CreateQuery {
    /// Only report what would happen; write nothing.
    #[serde(default)]
    dry_run: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlotConflict {
    slot_id: i64,
    tour_id: i64,
    #[schema(value_type = String, format = Date)]
    slot_date: NaiveDate,
    #[schema(value_type = String)]
    start_time: chrono::NaiveTime,
    /// People booked on it.
    current_bookings: i64,
    /// Spots held for waitlist entries.
    held_spots: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BlackoutResponse {
    /// Absent on a dry run.
    #[serde(skip_serializing_if = "Option::is_none")]
    blackout: Option<BlackoutDto>,
    dry_run: bool,
    /// Covered slots without bookings that were (or would be) cancelled.
    cancelled_slots: u64,
    /// Covered slots holding bookings: not cancelled; the operator decides.
    conflicts: Vec<SlotConflict>,
}

/// Creates a blackout. Covered slots without bookings are cancelled;
/// covered slots with bookings are listed under `conflicts` and left open.
/// `?dry_run=true` reports the same without writing.
#[utoipa::path(post, path = "/api/calendar/admin/blackouts", tag = "admin", security(("bearer" = [])),
    params(CreateQuery), request_body = BlackoutRequest,
    responses((status = 201, body = BlackoutResponse), (status = 200, description = "Dry run", body = BlackoutResponse),
              (status = 403)))]
async fn create(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Query(q): Query<CreateQuery>,
    Json(body): Json<BlackoutRequest>,
) -> Result<(StatusCode, Json<BlackoutResponse>), ApiError> {
    let outcome = state
        .ctx
        .catalog()
        .create_blackout(
            &admin,
            BlackoutInput {
                tour_id: body.tour_id,
                start_date: body.start_date,
                end_date: body.end_date,
                blackout_type: body.blackout_type,
                name: body.name,
                description: body.description,
            },
            q.dry_run,
        )
        .await?;
    let status = if q.dry_run {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(BlackoutResponse {
            blackout: outcome.blackout.as_ref().map(BlackoutDto::from),
            dry_run: q.dry_run,
            cancelled_slots: outcome.cancelled_slots,
            conflicts: outcome
                .conflicts
                .iter()
                .map(|s| SlotConflict {
                    slot_id: s.id,
                    tour_id: s.tour_id,
                    slot_date: s.slot_date,
                    start_time: s.start_time,
                    current_bookings: s.current_bookings,
                    held_spots: s.held_spots,
                })
                .collect(),
        }),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// This tour's blackouts and the global ones.
    tour_id: Option<i64>,
    /// Include removed blackouts.
    #[serde(default)]
    include_inactive: bool,
}

/// Blackouts, by start date.
#[utoipa::path(get, path = "/api/calendar/admin/blackouts", tag = "admin", security(("bearer" = [])),
    params(ListQuery), responses((status = 200, body = Vec<BlackoutDto>), (status = 403)))]
async fn list(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<BlackoutDto>>, ApiError> {
    let rows = state
        .ctx
        .catalog()
        .blackouts(&admin, q.tour_id, q.include_inactive)
        .await?;
    Ok(Json(rows.iter().map(BlackoutDto::from).collect()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RemovedBlackout {
    /// Slots the blackout had cancelled that are open again.
    reopened_slots: u64,
}

/// Removes (deactivates) a blackout and reopens the slots it cancelled,
/// unless another blackout still covers them.
#[utoipa::path(delete, path = "/api/calendar/admin/blackouts/{blackout_id}", tag = "admin", security(("bearer" = [])),
    params(("blackout_id" = i64, Path)),
    responses((status = 200, body = RemovedBlackout), (status = 403),
              (status = 404, description = "No active blackout with this id")))]
async fn remove(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
) -> Result<Json<RemovedBlackout>, ApiError> {
    let reopened_slots = state.ctx.catalog().remove_blackout(&admin, id).await?;
    Ok(Json(RemovedBlackout { reopened_slots }))
}
