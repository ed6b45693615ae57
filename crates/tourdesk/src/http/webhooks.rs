//! Webhook endpoints for admins: register, list, change, delete, rotate the
//! secret; each endpoint's deliveries with every attempt; replay.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tourdesk_service::webhooks::{
    self as hooks, EndpointInput, event_id, events_list, secret_hint,
};
use tourdesk_store::webhooks::{AttemptRow, DeliveryRow, EndpointRow};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::error::ApiError;
use super::extract::{Json, Path, Query};
use super::{AdminUser, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(event_types))
        .routes(routes!(get_one, update, delete))
        .routes(routes!(rotate_secret))
        .routes(routes!(deliveries))
        .routes(routes!(delivery))
        .routes(routes!(replay))
}

/// A registered endpoint. Its secret is never shown again after it is set.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDto {
    id: i64,
    url: String,
    description: String,
    /// The event types sent, or `["*"]` for all.
    events: Vec<String>,
    is_active: bool,
    /// The secret's last characters, to tell which one is in use.
    secret_hint: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<&EndpointRow> for WebhookDto {
    fn from(e: &EndpointRow) -> Self {
        WebhookDto {
            id: e.id,
            url: e.url.clone(),
            description: e.description.clone(),
            events: events_list(&e.events),
            is_active: e.is_active,
            secret_hint: secret_hint(&e.secret),
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// An endpoint with its signing secret: answered once, when it is set.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    webhook: WebhookDto,
    /// Sign-checking key (`whsec_…` when made for you). Keep it: it is not
    /// shown again.
    secret: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    /// Where events are POSTed: an absolute http:// or https:// URL.
    #[schema(max_length = 2048, example = "https://hooks.example.com/tourdesk")]
    url: Option<String>,
    /// Event types to send (see `GET /api/calendar/admin/webhooks/event-types`),
    /// or `["*"]` for all.
    #[schema(example = json!(["booking.created", "booking.cancelled"]))]
    events: Option<Vec<String>>,
    /// 16 to 256 printable characters; made for you when left out.
    #[schema(min_length = 16, max_length = 256)]
    secret: Option<String>,
    #[schema(max_length = 200)]
    description: Option<String>,
    /// False pauses deliveries (they wait, and go when it is re-enabled).
    is_active: Option<bool>,
}

impl From<WebhookRequest> for EndpointInput {
    fn from(r: WebhookRequest) -> Self {
        EndpointInput {
            url: r.url,
            events: r.events,
            secret: r.secret,
            description: r.description,
            is_active: r.is_active,
        }
    }
}

/// One webhook delivery: an event on its way to one endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryDto {
    id: i64,
    webhook_id: i64,
    /// The event's id (`evt_…`), the same on every attempt and replay: a
    /// receiver drops a duplicate by it.
    event_id: String,
    event_type: String,
    /// `pending` (due, or waiting to be retried), `sending`, `delivered` or
    /// `dead` (gave up: replay it).
    status: String,
    attempts: i64,
    next_attempt_at: DateTime<Utc>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
    /// The JSON body sent (in `GET .../webhook-deliveries/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    /// Every attempt, oldest first (in `GET .../webhook-deliveries/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    attempt_log: Option<Vec<AttemptDto>>,
}

/// One attempt to deliver.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptDto {
    attempt: i64,
    attempted_at: DateTime<Utc>,
    /// The receiver's HTTP status; none when it could not be reached.
    status_code: Option<i64>,
    latency_ms: i64,
    /// Why it failed; none when it succeeded.
    error: Option<String>,
    /// The start of what the receiver answered (at most 512 bytes).
    response_excerpt: Option<String>,
}

fn delivery_dto(d: DeliveryRow, attempts: Option<Vec<AttemptRow>>) -> DeliveryDto {
    let with_body = attempts.is_some();
    DeliveryDto {
        id: d.id,
        webhook_id: d.endpoint_id,
        event_id: event_id(d.event_id),
        event_type: d.event_type,
        status: d.status,
        attempts: d.attempts,
        next_attempt_at: d.next_attempt_at,
        last_error: d.last_error,
        created_at: d.created_at,
        delivered_at: d.delivered_at,
        body: with_body.then_some(d.body),
        attempt_log: attempts.map(|a| {
            a.into_iter()
                .map(|a| AttemptDto {
                    attempt: a.attempt,
                    attempted_at: a.attempted_at,
                    status_code: a.status_code,
                    latency_ms: a.latency_ms,
                    error: a.error,
                    response_excerpt: a.response_excerpt,
                })
                .collect()
        }),
    }
}

/// Registered webhook endpoints.
#[utoipa::path(get, path = "/api/calendar/admin/webhooks", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Vec<WebhookDto>), (status = 401), (status = 403)))]
async fn list(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
) -> Result<Json<Vec<WebhookDto>>, ApiError> {
    let rows = state.ctx.webhooks().list(&admin).await?;
    Ok(Json(rows.iter().map(WebhookDto::from).collect()))
}

/// Registers an endpoint. Each event is POSTed to it as JSON, signed with
/// HMAC-SHA256 in `Tourdesk-Signature: t=<unix>,v1=<hex>` over
/// `"<t>.<body>"`. The secret is answered this once.
#[utoipa::path(post, path = "/api/calendar/admin/webhooks", tag = "admin", security(("bearer" = [])),
    request_body = WebhookRequest,
    responses((status = 201, body = WebhookWithSecret), (status = 401), (status = 403), (status = 422)))]
async fn create(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Json(body): Json<WebhookRequest>,
) -> Result<(StatusCode, Json<WebhookWithSecret>), ApiError> {
    let (row, secret) = state.ctx.webhooks().create(&admin, body.into()).await?;
    Ok((
        StatusCode::CREATED,
        Json(WebhookWithSecret {
            webhook: WebhookDto::from(&row),
            secret,
        }),
    ))
}

/// The event types an endpoint can subscribe to.
#[utoipa::path(get, path = "/api/calendar/admin/webhooks/event-types", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Vec<String>), (status = 401), (status = 403)))]
async fn event_types(AdminUser(_admin): AdminUser) -> Json<Vec<&'static str>> {
    Json(hooks::event_types().collect())
}

#[utoipa::path(get, path = "/api/calendar/admin/webhooks/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1)),
    responses((status = 200, body = WebhookDto), (status = 401), (status = 403), (status = 404)))]
async fn get_one(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
) -> Result<Json<WebhookDto>, ApiError> {
    let row = state.ctx.webhooks().get(&admin, id).await?;
    Ok(Json(WebhookDto::from(&row)))
}

/// Changes what is given (a new `secret` replaces the old one at once).
#[utoipa::path(patch, path = "/api/calendar/admin/webhooks/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1)), request_body = WebhookRequest,
    responses((status = 200, body = WebhookDto), (status = 401), (status = 403), (status = 404), (status = 422)))]
async fn update(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
    Json(body): Json<WebhookRequest>,
) -> Result<Json<WebhookDto>, ApiError> {
    let (row, _) = state.ctx.webhooks().update(&admin, id, body.into()).await?;
    Ok(Json(WebhookDto::from(&row)))
}

/// Deletes an endpoint and its delivery log; nothing more is sent to it.
#[utoipa::path(delete, path = "/api/calendar/admin/webhooks/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1)),
    responses((status = 204), (status = 401), (status = 403), (status = 404)))]
async fn delete(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.ctx.webhooks().delete(&admin, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces the signing secret with a new one, answered this once.
#[utoipa::path(post, path = "/api/calendar/admin/webhooks/{id}/secret", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1)),
    responses((status = 200, body = WebhookWithSecret), (status = 401), (status = 403), (status = 404)))]
async fn rotate_secret(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
) -> Result<Json<WebhookWithSecret>, ApiError> {
    let (row, secret) = state.ctx.webhooks().rotate_secret(&admin, id).await?;
    Ok(Json(WebhookWithSecret {
        webhook: WebhookDto::from(&row),
        secret,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    #[param(pattern = "^(pending|sending|delivered|dead)$")]
    status: Option<String>,
    /// 1 to 500; default 100.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// An endpoint's deliveries, newest first.
#[utoipa::path(get, path = "/api/calendar/admin/webhooks/{id}/deliveries", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1), DeliveryQuery),
    responses((status = 200, body = Vec<DeliveryDto>), (status = 401), (status = 403), (status = 404)))]
async fn deliveries(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
    Query(q): Query<DeliveryQuery>,
) -> Result<Json<Vec<DeliveryDto>>, ApiError> {
    let rows = state
        .ctx
        .webhooks()
        .deliveries(
            &admin,
            Some(id),
            q.status.as_deref(),
            q.limit.unwrap_or(100),
        )
        .await?;
    Ok(Json(
        rows.into_iter().map(|d| delivery_dto(d, None)).collect(),
    ))
}

/// One delivery with its body and every attempt.
#[utoipa::path(get, path = "/api/calendar/admin/webhook-deliveries/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1)),
    responses((status = 200, body = DeliveryDto), (status = 401), (status = 403), (status = 404)))]
async fn delivery(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
) -> Result<Json<DeliveryDto>, ApiError> {
    let (d, attempts) = state.ctx.webhooks().delivery(&admin, id).await?;
    Ok(Json(delivery_dto(d, Some(attempts))))
}

/// Sends a delivery again now (the same event id and body, freshly
/// signed), with fresh attempts.
#[utoipa::path(post, path = "/api/calendar/admin/webhook-deliveries/{id}/replay", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1)),
    responses((status = 200, body = DeliveryDto), (status = 401), (status = 403), (status = 404),
              (status = 409, description = "`not_replayable`: it is being sent right now")))]
async fn replay(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
) -> Result<Json<DeliveryDto>, ApiError> {
    let d = state.ctx.webhooks().replay(&admin, id).await?;
    Ok(Json(delivery_dto(d, None)))
}
