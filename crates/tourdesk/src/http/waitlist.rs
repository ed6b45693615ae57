//! The waitlist over HTTP: join, my entries, leave, claim held spots, and
//! the admin's list, priorities and notifications.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tourdesk_domain::Needs;
use tourdesk_service::waitlist::{ClaimRequest, JoinRequest};
use tourdesk_store::waitlist::WaitlistRow;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::dto::BookingDto;
use super::error::ApiError;
use super::extract::{Json, Path, Query, Who};
use super::openapi;
use super::{AdminUser, AppState, CurrentUser};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(join))
        .routes(routes!(mine))
        .routes(routes!(get_one, leave))
        .routes(routes!(claim))
        .routes(routes!(admin_list))
        .routes(routes!(admin_patch))
        .routes(routes!(notifications))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WaitlistDto {
    id: i64,
    tour_id: i64,
    booking_slot_id: Option<i64>,
    #[schema(value_type = String, format = Date)]
    requested_date: NaiveDate,
    num_people: i64,
    customer_name: String,
    customer_email: String,
    customer_phone: Option<String>,
    notes: Option<String>,
    /// active, notified, converted, expired or cancelled.
    status: String,
    priority: i64,
    /// The slot whose spots are held while `notified`.
    held_slot_id: Option<i64>,
    notified_at: Option<DateTime<Utc>>,
    notification_expires_at: Option<DateTime<Utc>>,
    converted_at: Option<DateTime<Utc>>,
    booking_id: Option<i64>,
    created_at: DateTime<Utc>,
    /// Guests only, and only when joining.
    #[serde(skip_serializing_if = "Option::is_none")]
    manage_token: Option<String>,
}

impl From<&WaitlistRow> for WaitlistDto {
    fn from(e: &WaitlistRow) -> Self {
        WaitlistDto {
            id: e.id,
            tour_id: e.tour_id,
            booking_slot_id: e.booking_slot_id,
            requested_date: e.requested_date,
            num_people: e.num_people,
            customer_name: e.customer_name.clone(),
            customer_email: e.customer_email.clone(),
            customer_phone: e.customer_phone.clone(),
            notes: e.notes.clone(),
            status: e.status.to_string(),
            priority: e.priority,
            held_slot_id: e.held_slot_id,
            notified_at: e.notified_at,
            notification_expires_at: e.notification_expires_at,
            converted_at: e.converted_at,
            booking_id: e.booking_id,
            created_at: e.created_at,
            manage_token: None,
        }
    }
}

/// The spec's waitlist request, plus an optional slot.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinWaitlistRequest {
    tour_id: i64,
    #[schema(value_type = openapi::CalendarDate)]
    requested_date: NaiveDate,
    #[schema(value_type = openapi::PartySize)]
    num_people: i64,
    /// Wait for this departure (of that tour and date) only; without it,
    /// any departure that date.
    booking_slot_id: Option<i64>,
    /// Required without a bearer token; defaults to the account's name.
    #[schema(value_type = Option<openapi::Name>)]
    customer_name: Option<String>,
    /// Required without a bearer token; defaults to the account's email.
    #[schema(value_type = Option<openapi::Email>)]
    customer_email: Option<String>,
    #[schema(value_type = Option<openapi::Phone>)]
    customer_phone: Option<String>,
    #[schema(value_type = Option<openapi::Note>)]
    notes: Option<String>,
}

/// Joins the waitlist of a full departure (or a full date).
///
/// One person (account or email) has at most one open entry per tour and
/// date. Joining again answers `409 already_waitlisted` only to a caller who
/// shows the entry is theirs (its account, its manage token, an admin).
/// Anyone else gets the answer a join gets, describing what they sent,
/// without a `manage_token`; the entry is not changed and its owner is
/// emailed a link to it. So a join never tells a stranger whether an email
/// is on the list.
#[utoipa::path(post, path = "/api/calendar/waitlist", tag = "waitlist", request_body = JoinWaitlistRequest,
    security((), ("bearer" = [])),
    params(("X-Manage-Token" = Option<String>, Header, description = "Shows an existing entry is the caller's")),
    responses((status = 201, body = WaitlistDto),
              (status = 409, description = "`spots_available`, `already_waitlisted` (to the entry's owner), `date_blacked_out`, \
`outside_window`, `no_slots`, `tour_inactive` or `slot_unavailable`"),
              (status = 429, description = "Too many joins from this address or email")))]
async fn join(
    State(state): State<AppState>,
    Who(caller): Who,
    Json(b): Json<JoinWaitlistRequest>,
) -> Result<(StatusCode, Json<WaitlistDto>), ApiError> {
    super::client::check_booking(&state.rate_limits, &caller, b.customer_email.as_deref())?;
    let (row, token) = state
        .ctx
        .waitlist()
        .join(
            JoinRequest {
                tour_id: b.tour_id,
                booking_slot_id: b.booking_slot_id,
                requested_date: b.requested_date,
                num_people: b.num_people,
                customer_name: b.customer_name,
                customer_email: b.customer_email,
                customer_phone: b.customer_phone,
                notes: b.notes,
            },
            &caller,
        )
        .await?;
    let mut dto = WaitlistDto::from(&row);
    dto.manage_token = token;
    Ok((StatusCode::CREATED, Json(dto)))
}

/// The logged-in user's waitlist entries, newest first.
#[utoipa::path(get, path = "/api/calendar/waitlist/me", tag = "waitlist", security(("bearer" = [])),
    responses((status = 200, body = Vec<WaitlistDto>)))]
async fn mine(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<Vec<WaitlistDto>>, ApiError> {
    let rows = state.ctx.waitlist().of_user(user.id).await?;
    Ok(Json(rows.iter().map(WaitlistDto::from).collect()))
}

/// One entry, for its owner, an admin or its manage token.
#[utoipa::path(get, path = "/api/calendar/waitlist/{entry_id}", tag = "waitlist",
    security((), ("bearer" = [])),
    params(("entry_id" = i64, Path), ("X-Manage-Token" = Option<String>, Header)),
    responses((status = 200, body = WaitlistDto),
              (status = 401, description = "An invalid bearer token"),
              (status = 404, description = "No such entry, or not this caller's (the same answer)")))]
async fn get_one(
    State(state): State<AppState>,
    Who(caller): Who,
    Path(id): Path<i64>,
) -> Result<Json<WaitlistDto>, ApiError> {
    Ok(Json(WaitlistDto::from(
        &state.ctx.waitlist().get(id, &caller).await?,
    )))
}

/// Leaves the waitlist; spots held for the entry go to the next one.
#[utoipa::path(delete, path = "/api/calendar/waitlist/{entry_id}", tag = "waitlist",
    security((), ("bearer" = [])),
    params(("entry_id" = i64, Path), ("X-Manage-Token" = Option<String>, Header)),
    responses((status = 200, body = WaitlistDto),
              (status = 401, description = "An invalid bearer token"),
              (status = 404, description = "No such entry, or not this caller's (the same answer)"),
              (status = 409, description = "The entry has already ended")))]
async fn leave(
    State(state): State<AppState>,
    Who(caller): Who,
    Path(id): Path<i64>,
) -> Result<Json<WaitlistDto>, ApiError> {
    Ok(Json(WaitlistDto::from(
        &state.ctx.waitlist().cancel(id, &caller).await?,
    )))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimBody {
    /// The party, at most the entry's `num_people` in all.
    #[schema(value_type = openapi::PartySize)]
    num_adults: i64,
    #[serde(default)]
    #[schema(value_type = openapi::ExtraPeople)]
    num_children: i64,
    #[serde(default)]
    #[schema(value_type = openapi::ExtraPeople)]
    num_infants: i64,
    #[schema(value_type = Option<openapi::Phone>)]
    customer_phone: Option<String>,
    #[serde(flatten)]
    needs: Needs,
}

/// Books the spots held for a notified entry (at most its `num_people`);
/// unused spots go to the next entry. After the window: 409 `claim_expired`.
#[utoipa::path(post, path = "/api/calendar/waitlist/{entry_id}/claim", tag = "waitlist",
    security((), ("bearer" = [])),
    params(("entry_id" = i64, Path), ("X-Manage-Token" = Option<String>, Header)), request_body = ClaimBody,
    responses((status = 201, body = BookingDto),
              (status = 401, description = "An invalid bearer token"),
              (status = 404, description = "No such entry, or not this caller's (the same answer)"),
              (status = 409, description = "`claim_expired`, or the entry is not notified (`invalid_status`)"),
              (status = 422, description = "A field is invalid, or the party is larger than the spots held; `field` names it")))]
async fn claim(
    State(state): State<AppState>,
    Who(caller): Who,
    Path(id): Path<i64>,
    Json(b): Json<ClaimBody>,
) -> Result<(StatusCode, Json<BookingDto>), ApiError> {
    let (row, token) = state
        .ctx
        .waitlist()
        .claim(
            id,
            &caller,
            ClaimRequest {
                num_adults: b.num_adults,
                num_children: b.num_children,
                num_infants: b.num_infants,
                customer_phone: b.customer_phone,
                needs: b.needs,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(BookingDto::new(&row).with_token(token)),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminQuery {
    tour_id: Option<i64>,
    #[param(value_type = Option<openapi::CalendarDate>)]
    date: Option<NaiveDate>,
    #[param(value_type = Option<openapi::WaitlistStatus>)]
    status: Option<String>,
}

/// Waitlist entries, by date, priority and age.
#[utoipa::path(get, path = "/api/calendar/admin/waitlist", tag = "admin", security(("bearer" = [])),
    params(AdminQuery), responses((status = 200, body = Vec<WaitlistDto>), (status = 403)))]
async fn admin_list(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Query(q): Query<AdminQuery>,
) -> Result<Json<Vec<WaitlistDto>>, ApiError> {
    let rows = state
        .ctx
        .waitlist()
        .list(&admin, q.tour_id, q.date, q.status.as_deref())
        .await?;
    Ok(Json(rows.iter().map(WaitlistDto::from).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriorityBody {
    /// Higher goes first; -1000 to 1000.
    #[schema(minimum = -1000, maximum = 1000)]
    priority: i64,
}

/// Changes an entry's priority.
#[utoipa::path(patch, path = "/api/calendar/admin/waitlist/{entry_id}", tag = "admin", security(("bearer" = [])),
    params(("entry_id" = i64, Path)), request_body = PriorityBody,
    responses((status = 200, body = WaitlistDto), (status = 403), (status = 404)))]
async fn admin_patch(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
    Json(b): Json<PriorityBody>,
) -> Result<Json<WaitlistDto>, ApiError> {
    Ok(Json(WaitlistDto::from(
        &state
            .ctx
            .waitlist()
            .set_priority(&admin, id, b.priority)
            .await?,
    )))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NotificationQuery {
    /// An event type, e.g. waitlist.notified, booking.created.
    #[serde(rename = "type")]
    #[param(pattern = r"^[a-z0-9_.]{1,64}$")]
    event_type: Option<String>,
    /// Only notifications created at or after this instant (RFC 3339).
    since: Option<DateTime<Utc>>,
    /// 1 to 500; default 100.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationDto {
    id: i64,
    tour_id: i64,
    #[serde(rename = "type")]
    event_type: String,
    payload: serde_json::Value,
    created_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
}

/// Notifications (the outbox), newest first.
#[utoipa::path(get, path = "/api/calendar/admin/notifications", tag = "admin", security(("bearer" = [])),
    params(NotificationQuery), responses((status = 200, body = Vec<NotificationDto>), (status = 403)))]
async fn notifications(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Query(q): Query<NotificationQuery>,
) -> Result<Json<Vec<NotificationDto>>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    let rows = state
        .ctx
        .notifications()
        .list(&admin, q.event_type.as_deref(), q.since, limit)
        .await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| NotificationDto {
                id: r.id,
                tour_id: r.tour_id,
                event_type: r.event_type,
                payload: r.payload.0,
                created_at: r.created_at,
                delivered_at: r.delivered_at,
            })
            .collect(),
    ))
}
