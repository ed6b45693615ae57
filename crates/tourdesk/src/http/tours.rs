//! Tours: the public list and detail, and their administration.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use tourdesk_service::catalog::TourInput;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::dto::{PriceInput, PublicTourDto, TourDto};
use super::error::ApiError;
use super::extract::{Json, Path};
use super::openapi;
use super::{AdminUser, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_public))
        .routes(routes!(get_public))
        .routes(routes!(create, list_admin))
        .routes(routes!(get_admin, update))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TourRequest {
    #[schema(value_type = Option<openapi::Name>)]
    name: Option<String>,
    #[schema(value_type = Option<openapi::Description>)]
    description: Option<String>,
    /// 1 to 20160 (14 days).
    #[schema(minimum = 1, maximum = 20160)]
    duration_minutes: Option<i64>,
    #[schema(value_type = Option<openapi::Price>)]
    base_price: Option<PriceInput>,
    /// ISO 4217 code; default USD.
    #[schema(value_type = Option<openapi::CurrencyCode>)]
    currency: Option<String>,
    /// IANA time zone; default Asia/Jerusalem.
    #[schema(value_type = Option<openapi::TimeZone>)]
    timezone: Option<String>,
    is_active: Option<bool>,
}

openapi::create_body!(
    /// A new tour: [`TourRequest`] with its name, duration and price.
    NewTour = TourRequest,
    ["name", "duration_minutes", "base_price"]
);

impl From<TourRequest> for TourInput {
    fn from(r: TourRequest) -> Self {
        TourInput {
            name: r.name,
            description: r.description,
            duration_minutes: r.duration_minutes,
            base_price: r.base_price.map(|p| p.text()),
            currency: r.currency,
            timezone: r.timezone,
            is_active: r.is_active,
        }
    }
}

/// Active tours, by name, each with its lowest bookable price and first
/// bookable date.
#[utoipa::path(get, path = "/api/calendar/tours", tag = "tours",
    responses((status = 200, body = Vec<PublicTourDto>)))]
async fn list_public(State(state): State<AppState>) -> Result<Json<Vec<PublicTourDto>>, ApiError> {
    let tours = state.ctx.availability().tours().await?;
    Ok(Json(
        tours
            .iter()
            .map(|(t, offer)| PublicTourDto::new(t, offer))
            .collect(),
    ))
}

/// One active tour, with its lowest bookable price and first bookable date.
#[utoipa::path(get, path = "/api/calendar/tours/{tour_id}", tag = "tours",
    params(("tour_id" = i64, Path)),
    responses((status = 200, body = PublicTourDto), (status = 404)))]
async fn get_public(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<PublicTourDto>, ApiError> {
    let (tour, offer) = state.ctx.availability().tour(id).await?;
    if !tour.row.is_active {
        return Err(ApiError::not_found(format!("tour {id} not found")));
    }
    Ok(Json(PublicTourDto::new(&tour, &offer)))
}

/// Creates a tour.
#[utoipa::path(post, path = "/api/calendar/admin/tours", tag = "admin", security(("bearer" = [])),
    request_body = NewTour,
    responses((status = 201, body = TourDto), (status = 403)))]
async fn create(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Json(body): Json<TourRequest>,
) -> Result<(StatusCode, Json<TourDto>), ApiError> {
    let tour = state.ctx.catalog().create_tour(&admin, body.into()).await?;
    Ok((StatusCode::CREATED, Json(TourDto::from(&tour))))
}

/// Every tour, active or not.
#[utoipa::path(get, path = "/api/calendar/admin/tours", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Vec<TourDto>), (status = 403)))]
async fn list_admin(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
) -> Result<Json<Vec<TourDto>>, ApiError> {
    let tours = state.ctx.catalog().all_tours(&admin).await?;
    Ok(Json(tours.iter().map(TourDto::from).collect()))
}

/// One tour, active or not.
#[utoipa::path(get, path = "/api/calendar/admin/tours/{tour_id}", tag = "admin", security(("bearer" = [])),
    params(("tour_id" = i64, Path)),
    responses((status = 200, body = TourDto), (status = 403), (status = 404)))]
async fn get_admin(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Path(id): Path<i64>,
) -> Result<Json<TourDto>, ApiError> {
    Ok(Json(TourDto::from(&state.ctx.catalog().tour(id).await?)))
}

/// Changes a tour; fields left out keep their values.
#[utoipa::path(put, path = "/api/calendar/admin/tours/{tour_id}", tag = "admin", security(("bearer" = [])),
    params(("tour_id" = i64, Path)), request_body = TourRequest,
    responses((status = 200, body = TourDto), (status = 403), (status = 404)))]
async fn update(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
    Json(body): Json<TourRequest>,
) -> Result<Json<TourDto>, ApiError> {
    let tour = state
        .ctx
        .catalog()
        .update_tour(&admin, id, body.into())
        .await?;
    Ok(Json(TourDto::from(&tour)))
}
