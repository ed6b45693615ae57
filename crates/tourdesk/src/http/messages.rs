//! Customer email for admins: what was (or, without SMTP, would be) sent,
//! a preview of each message, and a retry for dead-lettered ones.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tourdesk_store::messages::MessageRow;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::error::ApiError;
use super::extract::{Json, Path, Query};
use super::{AdminUser, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get_one))
        .routes(routes!(html))
        .routes(routes!(retry))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageQuery {
    /// `queued` (waiting to be sent), `sent`, `dead` (gave up; retry it) or
    /// `held` (email delivery is off: kept for preview).
    #[param(pattern = "^(queued|sent|dead|held)$")]
    status: Option<String>,
    /// Only messages to this address.
    #[param(max_length = 254)]
    email: Option<String>,
    /// 1 to 500; default 100.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// One email message.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageDto {
    id: i64,
    /// The outbox event it was rendered from.
    event_id: i64,
    tour_id: i64,
    /// booking_created, booking_confirmed, booking_changed,
    /// booking_cancelled, departure_cancelled, departure_guaranteed, waitlist_joined,
    /// waitlist_offer, waitlist_rejoined, waitlist_expired (also booking_reminder).
    kind: String,
    to_email: String,
    subject: String,
    /// `queued`, `sent`, `dead` or `held`.
    status: String,
    attempts: i64,
    next_attempt_at: DateTime<Utc>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
    /// The plain-text part (with `GET .../html`, exactly what is sent).
    #[serde(skip_serializing_if = "Option::is_none")]
    text_body: Option<String>,
}

fn dto(m: MessageRow, with_body: bool) -> MessageDto {
    MessageDto {
        id: m.id,
        event_id: m.event_id,
        tour_id: m.tour_id,
        kind: m.kind,
        to_email: m.to_email,
        subject: m.subject,
        status: m.status,
        attempts: m.attempts,
        next_attempt_at: m.next_attempt_at,
        last_error: m.last_error,
        created_at: m.created_at,
        sent_at: m.sent_at,
        text_body: with_body.then_some(m.text_body),
    }
}

/// Email messages, newest first.
#[utoipa::path(get, path = "/api/calendar/admin/messages", tag = "admin", security(("bearer" = [])),
    params(MessageQuery), responses((status = 200, body = Vec<MessageDto>), (status = 403)))]
async fn list(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Query(q): Query<MessageQuery>,
) -> Result<Json<Vec<MessageDto>>, ApiError> {
    let rows = state
        .ctx
        .mail()
        .list(
            &admin,
            q.status.as_deref(),
            q.email.as_deref(),
            q.limit.unwrap_or(100),
        )
        .await?;
    Ok(Json(rows.into_iter().map(|m| dto(m, false)).collect()))
}

/// One message with its plain-text part.
#[utoipa::path(get, path = "/api/calendar/admin/messages/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1)),
    responses((status = 200, body = MessageDto), (status = 403), (status = 404)))]
async fn get_one(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
) -> Result<Json<MessageDto>, ApiError> {
    Ok(Json(dto(state.ctx.mail().get(&admin, id).await?, true)))
}

/// The message's HTML part, exactly as sent, for the console's preview. It
/// is served sandboxed: no script runs and nothing loads from elsewhere.
#[utoipa::path(get, path = "/api/calendar/admin/messages/{id}/html", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1)),
    responses((status = 200, content_type = "text/html", body = String), (status = 403), (status = 404)))]
async fn html(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let m = state.ctx.mail().get(&admin, id).await?;
    let mut response = m.html_body.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // The email's own inline styles, nothing else; framable by the console.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'",
        ),
    );
    Ok(response)
}

/// Sends a dead-lettered (or held) message again.
#[utoipa::path(post, path = "/api/calendar/admin/messages/{id}/retry", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, minimum = 1)),
    responses((status = 200, body = MessageDto), (status = 403), (status = 404),
              (status = 409, description = "`email_off` (no SMTP_URL) or `not_retryable` (already queued or sent)")))]
async fn retry(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
) -> Result<Json<MessageDto>, ApiError> {
    Ok(Json(dto(state.ctx.mail().retry(&admin, id).await?, false)))
}
