//! Tours: the public list and detail, and their administration.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use tourdesk_domain::policy::{PartyRules, RefundTier};
use tourdesk_service::catalog::{PolicyInput, TourInput};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::dto::{PriceInput, PublicTourDto, SettingsDto, TierDto, TourDto, double_option};
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
        .routes(routes!(settings))
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
    /// The tour's own cancellation policy; null goes back to the
    /// configuration's (CANCELLATION_POLICY, CANCELLATION_FEE).
    #[serde(default, deserialize_with = "double_option")]
    cancellation_policy: Option<Option<PolicyRequest>>,
    /// The tour's own party rules; null goes back to the configuration's.
    #[serde(default, deserialize_with = "double_option")]
    party_rules: Option<Option<PartyRulesRequest>>,
}

/// A cancellation policy: tiers ordered from the longest notice down,
/// the last from 0 hours, each refunding no more than the one before; and
/// a fee kept from every refund.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyRequest {
    #[schema(min_items = 1, max_items = 10)]
    tiers: Vec<TierDto>,
    #[schema(value_type = Option<openapi::Price>)]
    fee: Option<PriceInput>,
}

/// Party rules; absent fields take their defaults (infants take a seat, no
/// ratios).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartyRulesRequest {
    infants_take_seat: Option<bool>,
    /// 1 to 100; null: no limit.
    #[schema(minimum = 1, maximum = 100)]
    max_minors_per_adult: Option<u32>,
    /// 1 to 100; null: no limit.
    #[schema(minimum = 1, maximum = 100)]
    max_infants_per_adult: Option<u32>,
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
            cancellation_policy: r.cancellation_policy.map(|p| {
                p.map(|p| PolicyInput {
                    tiers: p
                        .tiers
                        .into_iter()
                        .map(|t| RefundTier {
                            min_hours_before: t.min_hours_before,
                            refund_percent: t.refund_percent,
                        })
                        .collect(),
                    fee: p.fee.map(|f| f.text()),
                })
            }),
            party_rules: r.party_rules.map(|r| {
                r.map(|r| PartyRules {
                    infants_take_seat: r.infants_take_seat.unwrap_or(true),
                    max_minors_per_adult: r.max_minors_per_adult,
                    max_infants_per_adult: r.max_infants_per_adult,
                })
            }),
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
            .map(|(t, offer)| PublicTourDto::new(t, offer, &state.ctx))
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
    Ok(Json(PublicTourDto::new(&tour, &offer, &state.ctx)))
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
    Ok((StatusCode::CREATED, Json(TourDto::new(&tour, &state.ctx))))
}

/// Every tour, active or not.
#[utoipa::path(get, path = "/api/calendar/admin/tours", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Vec<TourDto>), (status = 403)))]
async fn list_admin(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
) -> Result<Json<Vec<TourDto>>, ApiError> {
    let tours = state.ctx.catalog().all_tours(&admin).await?;
    Ok(Json(
        tours.iter().map(|t| TourDto::new(t, &state.ctx)).collect(),
    ))
}

/// The operator's configured booking rules: the cancellation policy and
/// party rules a tour without its own follows (the console's tour form
/// starts from them), the booking window and the party sizes.
#[utoipa::path(get, path = "/api/calendar/admin/settings", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = SettingsDto), (status = 403)))]
async fn settings(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
) -> Result<Json<SettingsDto>, ApiError> {
    Ok(Json(SettingsDto::new(&state.ctx)))
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
    Ok(Json(TourDto::new(
        &state.ctx.catalog().tour(id).await?,
        &state.ctx,
    )))
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
    Ok(Json(TourDto::new(&tour, &state.ctx)))
}
