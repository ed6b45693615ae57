//! The console's working tools (#17): the filtered booking list as a CSV
//! file, one status change for many bookings, correcting a booking's
//! contact details, rebooking a cancelled booking on another departure,
//! check-in at the departure and closing a departure that has run.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tourdesk_domain::{ContactDetails, Needs};
use tourdesk_service::bookings::EXPORT_LIMIT;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::admin_bookings::{ListQuery, csv_field};
use super::dto::BookingDto;
use super::error::ApiError;
use super::extract::{Json, Path, Query};
use super::openapi;
use super::{AdminUser, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(export))
        .routes(routes!(bulk_status))
        .routes(routes!(change_contact))
        .routes(routes!(rebook))
        .routes(routes!(check_in, undo_check_in))
        .routes(routes!(close_departure))
}

const CSV_HEADER: &str = "booking_reference,status,tour,tour_date,tour_time,customer_name,customer_email,\
customer_phone,num_adults,num_children,num_infants,total_people,total_amount,currency,created_at,checked_in_at";

/// The admin list's bookings (the same filters and search) as a CSV file,
/// newest first; at most 10,000 rows (`X-Total-Count` says how many
/// matched). Cells a spreadsheet would run as a formula are prefixed
/// with `'`.
#[utoipa::path(get, path = "/api/calendar/admin/bookings.csv", tag = "admin", security(("bearer" = [])),
    params(ListQuery),
    responses((status = 200, description = "The bookings as CSV", content_type = "text/csv", body = String),
              (status = 403)))]
async fn export(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let (rows, total) = state.ctx.bookings().export(&admin, &q.filter()).await?;
    let mut out = String::from(CSV_HEADER);
    out.push_str("\r\n");
    for b in &rows {
        let amount = b.currency.format(b.pricing.total_amount);
        let fields = [
            b.booking_reference.clone(),
            b.status.clone(),
            b.tour_name.clone(),
            b.tour_date.to_string(),
            b.tour_time.format("%H:%M").to_string(),
            b.contact.customer_name.clone(),
            b.contact.customer_email.clone(),
            b.contact.customer_phone.clone().unwrap_or_default(),
            b.party.adults.to_string(),
            b.party.children.to_string(),
            b.party.infants.to_string(),
            b.total_people.to_string(),
            amount,
            b.currency.to_string(),
            b.created_at.to_rfc3339(),
            b.checked_in_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
        ];
        out.push_str(
            &fields
                .iter()
                .map(|f| csv_field(f))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push_str("\r\n");
    }
    let mut response = out.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"bookings.csv\""),
    );
    headers.insert("x-total-count", HeaderValue::from(total));
    if total > EXPORT_LIMIT {
        headers.insert("x-truncated", HeaderValue::from_static("true"));
    }
    Ok(response)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkStatusRequest {
    /// 1 to 200 distinct booking ids.
    #[schema(min_items = 1, max_items = 200)]
    ids: Vec<i64>,
    /// The new status for each, as BOOKING_STATUS_TRANSITIONS allow.
    #[schema(value_type = openapi::BookingStatus)]
    status: String,
    #[schema(value_type = Option<openapi::Note>)]
    reason: Option<String>,
}

/// One booking's outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkResult {
    id: i64,
    ok: bool,
    /// The booking's status after the request (when `ok`).
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    /// Why it was refused: `not_found`, `invalid_transition`, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BulkStatusResponse {
    /// One per id, in the order given.
    results: Vec<BulkResult>,
    succeeded: usize,
    failed: usize,
}

/// Changes the status of several bookings, each on its own: a booking
/// that may not make the change is reported and the others go ahead.
#[utoipa::path(post, path = "/api/calendar/admin/bookings/bulk-status", tag = "admin", security(("bearer" = [])),
    request_body = BulkStatusRequest,
    responses((status = 200, body = BulkStatusResponse), (status = 403)))]
async fn bulk_status(
    State(state): State<AppState>,
    // Authorised before the body is parsed: anonymous callers get 401, not 422.
    AdminUser(admin): AdminUser,
    Json(body): Json<BulkStatusRequest>,
) -> Result<Json<BulkStatusResponse>, ApiError> {
    let outcomes = state
        .ctx
        .bookings()
        .bulk_status(&admin, &body.ids, &body.status, body.reason.as_deref())
        .await?;
    let results: Vec<BulkResult> = outcomes
        .into_iter()
        .map(|(id, done)| match done {
            Ok(row) => BulkResult {
                id,
                ok: true,
                status: Some(row.status),
                code: None,
                detail: None,
            },
            Err(e) => {
                let e = ApiError::from(e);
                BulkResult {
                    id,
                    ok: false,
                    status: None,
                    code: Some(e.code.to_owned()),
                    detail: Some(e.detail),
                }
            }
        })
        .collect();
    let succeeded = results.iter().filter(|r| r.ok).count();
    Ok(Json(BulkStatusResponse {
        failed: results.len() - succeeded,
        succeeded,
        results,
    }))
}

/// A booking's contact details: every field is set as given (null or
/// empty clears the optional ones).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactRequest {
    #[schema(value_type = openapi::Name)]
    customer_name: String,
    #[schema(value_type = openapi::Email)]
    customer_email: String,
    #[schema(value_type = Option<openapi::Phone>)]
    customer_phone: Option<String>,
    #[serde(flatten)]
    needs: Needs,
}

/// Corrects a pending or confirmed booking's contact details; audited as
/// `contact_change` by the operator.
#[utoipa::path(put, path = "/api/calendar/admin/bookings/{booking_id}/contact", tag = "admin", security(("bearer" = [])),
    params(("booking_id" = i64, Path)), request_body = ContactRequest,
    responses((status = 200, body = BookingDto), (status = 403), (status = 404),
              (status = 409, description = "`invalid_status`: the booking is no longer pending or confirmed")))]
async fn change_contact(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
    Json(body): Json<ContactRequest>,
) -> Result<Json<BookingDto>, ApiError> {
    let row = state
        .ctx
        .bookings()
        .change_contact(
            id,
            &admin,
            ContactDetails {
                customer_name: body.customer_name,
                customer_email: body.customer_email,
                customer_phone: body.customer_phone,
                needs: body.needs,
            },
        )
        .await?;
    Ok(Json(BookingDto::new(&row)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RebookRequest {
    /// An open departure of the booking's tour.
    booking_slot_id: i64,
}

/// Books a cancelled booking's party and contact again on another
/// departure of its tour: a new booking (the customer gets its
/// confirmation email); the cancelled one keeps a `rebooked` history row.
/// A pending or confirmed booking is moved with
/// `PUT /api/calendar/bookings/{booking_id}` instead.
#[utoipa::path(post, path = "/api/calendar/admin/bookings/{booking_id}/rebook", tag = "admin", security(("bearer" = [])),
    params(("booking_id" = i64, Path)), request_body = RebookRequest,
    responses((status = 201, body = BookingDto), (status = 400, description = "`capacity_exceeded`"),
              (status = 403), (status = 404),
              (status = 409, description = "`invalid_status` (not cancelled) or `slot_closed`")))]
async fn rebook(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
    Json(body): Json<RebookRequest>,
) -> Result<(StatusCode, Json<BookingDto>), ApiError> {
    let row = state
        .ctx
        .bookings()
        .rebook(id, &admin, body.booking_slot_id)
        .await?;
    Ok((StatusCode::CREATED, Json(BookingDto::new(&row))))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckIn {
    booking_id: i64,
    booking_reference: String,
    status: String,
    checked_in: bool,
    checked_in_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl CheckIn {
    fn of(row: &tourdesk_store::bookings::BookingRow) -> CheckIn {
        CheckIn {
            booking_id: row.id,
            booking_reference: row.booking_reference.clone(),
            status: row.status.clone(),
            checked_in: row.checked_in_at.is_some(),
            checked_in_at: row.checked_in_at,
        }
    }
}

/// Checks a pending or confirmed booking's party in at the departure
/// (again: no change).
#[utoipa::path(post, path = "/api/calendar/admin/bookings/{booking_id}/check-in", tag = "admin", security(("bearer" = [])),
    params(("booking_id" = i64, Path)),
    responses((status = 200, body = CheckIn), (status = 403), (status = 404),
              (status = 409, description = "`invalid_status`: not pending or confirmed")))]
async fn check_in(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
) -> Result<Json<CheckIn>, ApiError> {
    let row = state.ctx.bookings().check_in(id, &admin, true).await?;
    Ok(Json(CheckIn::of(&row)))
}

/// Undoes a check-in.
#[utoipa::path(delete, path = "/api/calendar/admin/bookings/{booking_id}/check-in", tag = "admin", security(("bearer" = [])),
    params(("booking_id" = i64, Path)),
    responses((status = 200, body = CheckIn), (status = 403), (status = 404),
              (status = 409, description = "`invalid_status`: not pending or confirmed")))]
async fn undo_check_in(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
) -> Result<Json<CheckIn>, ApiError> {
    let row = state.ctx.bookings().check_in(id, &admin, false).await?;
    Ok(Json(CheckIn::of(&row)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClosedDeparture {
    /// Checked-in bookings now `completed`.
    completed: usize,
    /// Confirmed bookings not checked in, now `no_show`.
    no_show: usize,
    /// Pending bookings not checked in, left as they were.
    left_pending: usize,
}

/// Once a departure has started: checked-in bookings become `completed`,
/// confirmed ones not checked in `no_show`, each audited.
#[utoipa::path(post, path = "/api/calendar/admin/slots/{slot_id}/close", tag = "admin", security(("bearer" = [])),
    params(("slot_id" = i64, Path)),
    responses((status = 200, body = ClosedDeparture), (status = 403), (status = 404),
              (status = 409, description = "`departure_not_started` or `slot_cancelled`")))]
async fn close_departure(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(slot_id): Path<i64>,
) -> Result<Json<ClosedDeparture>, ApiError> {
    let c = state
        .ctx
        .bookings()
        .close_departure(slot_id, &admin)
        .await?;
    Ok(Json(ClosedDeparture {
        completed: c.completed,
        no_show: c.no_show,
        left_pending: c.left_pending,
    }))
}
