//! Calendar files (iCalendar, RFC 5545): a booking's `.ics`, a tour's
//! departures feed for guides' calendars, and the admin's feed tokens.
//! The files are made by `tourdesk_service::calendar`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tourdesk_service::calendar::CalendarFile;
use tourdesk_store::calendar::FeedTokenRow;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::error::ApiError;
use super::extract::{Json, Path, Query, Who, optional_json};
use super::openapi;
use super::{AdminUser, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(booking_ics))
        .routes(routes!(departures_feed))
        .routes(routes!(create_feed_token, list_feed_tokens))
        .routes(routes!(revoke_feed_token))
}

/// The path of a tour's departures feed opened by `token`.
pub fn feed_path(tour_id: i64, token: &str) -> String {
    format!("/api/calendar/tours/{tour_id}/departures.ics?token={token}")
}

/// A calendar file as the answer: `text/calendar`, to be saved under its
/// name, never cached (it holds people's bookings and changes with them).
fn calendar_response(file: CalendarFile) -> Response {
    let disposition = format!("attachment; filename=\"{}\"", file.filename);
    let mut response = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/calendar; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        file.body,
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// A booking as an iCalendar file (one event, in the tour's time zone),
/// for its owner, an admin, or the holder of its manage token
/// (`X-Manage-Token`). A cancelled booking's file is a `METHOD:CANCEL`,
/// which removes the event from the calendars it was added to.
#[utoipa::path(get, path = "/api/calendar/bookings/{booking_id}/ics", tag = "calendar files",
    security((), ("bearer" = [])),
    params(("booking_id" = i64, Path), ("X-Manage-Token" = Option<String>, Header)),
    responses(
        (status = 200, description = "The booking's event, `attachment; filename=\"<reference>.ics\"`",
         content((String = "text/calendar")),
         headers(("Content-Disposition" = String, description = "attachment; filename=\"<reference>.ics\""))),
        (status = 404, description = "No such booking, or not this caller's (the same answer)")))]
async fn booking_ics(
    State(state): State<AppState>,
    Who(caller): Who,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let file = state.ctx.calendars().booking_file(id, &caller).await?;
    Ok(calendar_response(file))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// A feed token of this tour (from `POST .../feed-tokens`).
    #[param(min_length = 1, max_length = 200)]
    token: String,
}

/// A tour's departures from today to the booking horizon as a calendar to
/// subscribe to: each departure with its booked and total places, in the
/// tour's time zone. Cancelled departures stay listed (`STATUS:CANCELLED`)
/// until their date has passed. Opened by a feed token in the query
/// (calendar apps cannot send headers); a wrong, revoked or other tour's
/// token is 404, as is a missing tour.
#[utoipa::path(get, path = "/api/calendar/tours/{tour_id}/departures.ics", tag = "calendar files",
    params(("tour_id" = i64, Path), FeedQuery),
    responses(
        (status = 200, description = "The departures feed", content((String = "text/calendar")),
         headers(("Content-Disposition" = String, description = "attachment; filename=\"tour-<id>-departures.ics\""))),
        (status = 404, description = "No such tour, or the token does not open its feed (the same answer)")))]
async fn departures_feed(
    State(state): State<AppState>,
    Path(tour_id): Path<i64>,
    Query(q): Query<FeedQuery>,
) -> Result<Response, ApiError> {
    let file = state
        .ctx
        .calendars()
        .departures_feed(tour_id, &q.token)
        .await?;
    Ok(calendar_response(file))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedTokenRequest {
    /// Whose token this is ("guide: Maria", "front desk").
    #[schema(value_type = Option<openapi::Name>)]
    label: Option<String>,
}

/// A feed token as listed: never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedTokenDto {
    id: i64,
    tour_id: i64,
    label: String,
    created_at: DateTime<Utc>,
    /// Set once revoked; a revoked token opens nothing.
    revoked_at: Option<DateTime<Utc>>,
    active: bool,
}

impl FeedTokenDto {
    fn new(row: &FeedTokenRow) -> FeedTokenDto {
        FeedTokenDto {
            id: row.id,
            tour_id: row.tour_id,
            label: row.label.clone(),
            created_at: row.created_at,
            revoked_at: row.revoked_at,
            active: row.revoked_at.is_none(),
        }
    }
}

/// A new feed token, with its secret: shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewFeedTokenDto {
    #[serde(flatten)]
    token_row: FeedTokenDto,
    /// The secret (`tdf_...`); only its hash is kept.
    token: String,
    /// The feed's URL on this server, token included, to subscribe to
    /// (prefix the server's origin; `webcal://` for one-click subscribing).
    feed_url: String,
}

/// Creates a token that opens the tour's departures feed. The answer holds
/// the token and the feed's URL; they are not shown again.
#[utoipa::path(post, path = "/api/calendar/admin/tours/{tour_id}/feed-tokens", tag = "admin",
    security(("bearer" = [])),
    params(("tour_id" = i64, Path)), request_body = Option<FeedTokenRequest>,
    responses((status = 201, body = NewFeedTokenDto), (status = 403), (status = 404, description = "No such tour")))]
async fn create_feed_token(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(tour_id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<NewFeedTokenDto>), ApiError> {
    let req: FeedTokenRequest = optional_json(&headers, &body)?.unwrap_or_default();
    let created = state
        .ctx
        .calendars()
        .create_feed_token(&admin, tour_id, req.label.as_deref())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(NewFeedTokenDto {
            token_row: FeedTokenDto::new(&created.row),
            feed_url: feed_path(tour_id, &created.token),
            token: created.token,
        }),
    ))
}

/// The tour's feed tokens, revoked ones included, without their secrets.
#[utoipa::path(get, path = "/api/calendar/admin/tours/{tour_id}/feed-tokens", tag = "admin",
    security(("bearer" = [])), params(("tour_id" = i64, Path)),
    responses((status = 200, body = Vec<FeedTokenDto>), (status = 403), (status = 404, description = "No such tour")))]
async fn list_feed_tokens(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(tour_id): Path<i64>,
) -> Result<Json<Vec<FeedTokenDto>>, ApiError> {
    let rows = state.ctx.calendars().feed_tokens(&admin, tour_id).await?;
    Ok(Json(rows.iter().map(FeedTokenDto::new).collect()))
}

/// Revokes a feed token: the calendars subscribed with it get 404 from now
/// on. Revoking it again changes nothing.
#[utoipa::path(delete, path = "/api/calendar/admin/tours/{tour_id}/feed-tokens/{token_id}", tag = "admin",
    security(("bearer" = [])), params(("tour_id" = i64, Path), ("token_id" = i64, Path)),
    responses((status = 200, body = FeedTokenDto), (status = 403),
              (status = 404, description = "The tour has no such token")))]
async fn revoke_feed_token(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path((tour_id, token_id)): Path<(i64, i64)>,
) -> Result<Json<FeedTokenDto>, ApiError> {
    let row = state
        .ctx
        .calendars()
        .revoke_feed_token(&admin, tour_id, token_id)
        .await?;
    Ok(Json(FeedTokenDto::new(&row)))
}
