//! The operator's booking tools: the filtered list and its search, a
//! booking's audit history, status changes, the slot manifest, slot
//! cancellation and running the waitlist by hand. (The console's other
//! tools, export, bulk, contact, rebooking and check-in, are in
//! `admin_console.rs`.)

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tourdesk_domain::booking::Party;
use tourdesk_domain::{ContactDetails, Needs};
use tourdesk_service::bookings::{AdminFilter, changes};
use tourdesk_store::bookings::BookingRow;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::dto::{BookingDto, SlotDto};
use super::error::ApiError;
use super::extract::{Json, Path, Query};
use super::openapi;
use super::{AdminUser, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(history))
        .routes(routes!(set_status))
        .routes(routes!(manifest))
        .routes(routes!(cancel_slot))
        .routes(routes!(process_waitlist))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    tour_id: Option<i64>,
    #[param(value_type = Option<openapi::StatusFilter>)]
    status_filter: Option<String>,
    /// Tour dates from (inclusive).
    #[param(value_type = Option<openapi::CalendarDate>)]
    start_date: Option<NaiveDate>,
    /// Tour dates to (inclusive); not before `start_date`.
    #[param(value_type = Option<openapi::CalendarDate>)]
    end_date: Option<NaiveDate>,
    booking_slot_id: Option<i64>,
    /// Part of a booking reference, customer name, email or phone number
    /// (any case; `%` and `_` match themselves; at most 100 characters).
    q: Option<String>,
    /// 1 to 500; default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// Default 0.
    #[param(minimum = 0)]
    offset: Option<i64>,
}

impl ListQuery {
    pub(super) fn filter(self) -> AdminFilter {
        AdminFilter {
            tour_id: self.tour_id,
            status: self.status_filter,
            start_date: self.start_date,
            end_date: self.end_date,
            slot_id: self.booking_slot_id,
            q: self.q,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BookingPage {
    total: i64,
    limit: i64,
    offset: i64,
    bookings: Vec<BookingDto>,
}

/// Bookings with the spec's filters and a search (`q`), newest first, a
/// page at a time.
#[utoipa::path(get, path = "/api/calendar/admin/bookings", tag = "admin", security(("bearer" = [])),
    params(ListQuery), responses((status = 200, body = BookingPage), (status = 403)))]
async fn list(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Query(q): Query<ListQuery>,
) -> Result<Json<BookingPage>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    let offset = q.offset.unwrap_or(0);
    let filter = q.filter();
    let (rows, total) = state
        .ctx
        .bookings()
        .list(&admin, &filter, limit, offset)
        .await?;
    Ok(Json(BookingPage {
        total,
        limit,
        offset,
        bookings: rows.iter().map(BookingDto::new).collect(),
    }))
}

/// One field an entry changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldChange {
    field: String,
    from: serde_json::Value,
    to: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEntry {
    id: i64,
    /// `user:<id>`, `guest` or `system`.
    actor: String,
    /// The account's name for `user:<id>`; absent for `guest` and `system`.
    actor_name: Option<String>,
    modified_by: Option<i64>,
    /// created, party_change, date_change, date_and_party_change, contact_change,
    /// cancellation, status_change, check_in, check_in_undone, rebooked.
    modification_type: String,
    /// The fields that differ between `old_value` and `new_value`.
    changes: Vec<FieldChange>,
    old_value: Option<serde_json::Value>,
    new_value: Option<serde_json::Value>,
    reason: Option<String>,
    ip_address: Option<String>,
    user_agent: Option<String>,
    created_at: DateTime<Utc>,
}

/// A booking's audit trail, oldest first.
#[utoipa::path(get, path = "/api/calendar/admin/bookings/{booking_id}/history", tag = "admin", security(("bearer" = [])),
    params(("booking_id" = i64, Path)),
    responses((status = 200, body = Vec<HistoryEntry>), (status = 403), (status = 404)))]
async fn history(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
) -> Result<Json<Vec<HistoryEntry>>, ApiError> {
    let rows = state.ctx.bookings().history(&admin, id).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| HistoryEntry {
                changes: changes(
                    r.old_value.as_ref().map(|j| &j.0),
                    r.new_value.as_ref().map(|j| &j.0),
                )
                .into_iter()
                .map(|c| FieldChange {
                    field: c.field,
                    from: c.from,
                    to: c.to,
                })
                .collect(),
                id: r.id,
                actor: r.actor,
                actor_name: r.actor_name,
                modified_by: r.modified_by,
                modification_type: r.modification_type,
                old_value: r.old_value.map(|j| j.0),
                new_value: r.new_value.map(|j| j.0),
                reason: r.reason,
                ip_address: r.ip_address,
                user_agent: r.user_agent,
                created_at: r.created_at,
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    /// The new status, as BOOKING_STATUS_TRANSITIONS allow (409 otherwise).
    #[schema(value_type = openapi::BookingStatus)]
    status: String,
    #[schema(value_type = Option<openapi::Note>)]
    reason: Option<String>,
}

/// Moves a booking along BOOKING_STATUS_TRANSITIONS; anything else is 409.
#[utoipa::path(post, path = "/api/calendar/admin/bookings/{booking_id}/status", tag = "admin", security(("bearer" = [])),
    params(("booking_id" = i64, Path)), request_body = StatusRequest,
    responses((status = 200, body = BookingDto), (status = 403), (status = 404),
              (status = 409, description = "`invalid_transition`: the status machine does not allow it")))]
async fn set_status(
    State(state): State<AppState>,
    // Authorised before the body is parsed: anonymous callers get 401, not 422.
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
    Json(body): Json<StatusRequest>,
) -> Result<Json<BookingDto>, ApiError> {
    let row = state
        .ctx
        .bookings()
        .change_status(id, &admin, &body.status, body.reason.as_deref())
        .await?;
    Ok(Json(BookingDto::new(&row)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ManifestEntry {
    booking_id: i64,
    booking_reference: String,
    status: String,
    /// When the party was checked in at the departure.
    checked_in_at: Option<DateTime<Utc>>,
    /// Set on cancelled bookings (a cancelled departure lists them).
    cancellation_reason: Option<String>,
    #[serde(flatten)]
    contact: ContactDetails,
    #[serde(flatten)]
    party: Party,
    total_people: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Manifest {
    slot: SlotDto,
    tour_name: String,
    total_people: i64,
    /// The bookings that hold places.
    bookings: Vec<ManifestEntry>,
    /// On a cancelled departure, its cancelled bookings; otherwise empty.
    cancelled_bookings: Vec<ManifestEntry>,
}

impl ManifestEntry {
    fn new(b: &BookingRow) -> ManifestEntry {
        ManifestEntry {
            booking_id: b.id,
            booking_reference: b.booking_reference.clone(),
            status: b.status.clone(),
            checked_in_at: b.checked_in_at,
            cancellation_reason: b.cancellation_reason.clone(),
            contact: b.contact.clone(),
            party: b.party,
            total_people: b.total_people,
        }
    }
}

/// Quotes a CSV field; a leading =, +, - or @ is neutralised so that
/// spreadsheets do not run it as a formula.
pub(super) fn csv_field(value: &str) -> String {
    let guarded = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

/// Who is coming on a slot: JSON, or CSV with `Accept: text/csv`. The JSON
/// of a cancelled departure also lists the bookings it had, cancelled, to
/// contact and rebook them.
#[utoipa::path(get, path = "/api/calendar/admin/slots/{slot_id}/manifest", tag = "admin", security(("bearer" = [])),
    params(("slot_id" = i64, Path)),
    responses((status = 200, description = "The manifest: JSON, or CSV with `Accept: text/csv`",
               content((Manifest = "application/json"), (String = "text/csv"))),
              (status = 403), (status = 404)))]
async fn manifest(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(slot_id): Path<i64>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (slot, tour, rows, cancelled) = state.ctx.bookings().manifest(&admin, slot_id).await?;
    let entries: Vec<ManifestEntry> = rows.iter().map(ManifestEntry::new).collect();
    let wants_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/csv"));
    if wants_csv {
        let header: Vec<&str> = [
            "booking_reference",
            "status",
            "customer_name",
            "customer_email",
            "customer_phone",
            "num_adults",
            "num_children",
            "num_infants",
            "total_people",
        ]
        .into_iter()
        .chain(Needs::names())
        .chain(["checked_in"])
        .collect();
        let mut out = header.join(",") + "\r\n";
        for e in &entries {
            let c = &e.contact;
            let fields: Vec<String> = [
                e.booking_reference.clone(),
                e.status.clone(),
                c.customer_name.clone(),
                c.customer_email.clone(),
                c.customer_phone.clone().unwrap_or_default(),
                e.party.adults.to_string(),
                e.party.children.to_string(),
                e.party.infants.to_string(),
                e.total_people.to_string(),
            ]
            .into_iter()
            .chain(
                c.needs
                    .fields()
                    .map(|(_, v)| v.unwrap_or_default().to_owned()),
            )
            .chain([if e.checked_in_at.is_some() { "yes" } else { "" }.to_owned()])
            .collect();
            out.push_str(
                &fields
                    .iter()
                    .map(|f| csv_field(f))
                    .collect::<Vec<_>>()
                    .join(","),
            );
            out.push_str("\r\n");
        }
        let filename = format!(
            "attachment; filename=\"manifest-{}-{}.csv\"",
            slot.slot_date, slot.id
        );
        let mut response = out.into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        if let Ok(v) = HeaderValue::from_str(&filename) {
            response
                .headers_mut()
                .insert(header::CONTENT_DISPOSITION, v);
        }
        return Ok(response);
    }
    Ok(Json(Manifest {
        total_people: entries.iter().map(|e| e.total_people).sum(),
        cancelled_bookings: cancelled.iter().map(ManifestEntry::new).collect(),
        slot: SlotDto::new(&slot, &tour),
        tour_name: tour.row.name.clone(),
        bookings: entries,
    })
    .into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelSlotRequest {
    #[schema(value_type = openapi::Reason)]
    reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CancelledSlot {
    slot: SlotDto,
    cancelled_bookings: usize,
    /// The bookings it cancelled, with how to reach each customer (each is
    /// emailed the cancellation through the outbox).
    affected_bookings: Vec<ManifestEntry>,
}

/// Cancels a departure and every active booking on it, each audited;
/// answers who was affected.
#[utoipa::path(post, path = "/api/calendar/admin/slots/{slot_id}/cancel", tag = "admin", security(("bearer" = [])),
    params(("slot_id" = i64, Path)), request_body = CancelSlotRequest,
    responses((status = 200, body = CancelledSlot), (status = 403), (status = 404),
              (status = 409, description = "Already cancelled, or `departure_has_run`")))]
async fn cancel_slot(
    State(state): State<AppState>,
    // Authorised before the body is parsed: anonymous callers get 401, not 422.
    AdminUser(admin): AdminUser,
    Path(slot_id): Path<i64>,
    Json(body): Json<CancelSlotRequest>,
) -> Result<Json<CancelledSlot>, ApiError> {
    let (slot, affected) = state
        .ctx
        .bookings()
        .cancel_slot(slot_id, &admin, &body.reason)
        .await?;
    let tour = state.ctx.catalog().tour(slot.tour_id).await?;
    Ok(Json(CancelledSlot {
        slot: SlotDto::new(&slot, &tour),
        cancelled_bookings: affected.len(),
        affected_bookings: affected.iter().map(ManifestEntry::new).collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProcessedWaitlist {
    /// Entries notified (and spots held for them).
    notified: usize,
}

/// Offers a slot's free spots to its waitlist now (also when automatic
/// processing is off).
#[utoipa::path(post, path = "/api/calendar/admin/slots/{slot_id}/process-waitlist", tag = "admin", security(("bearer" = [])),
    params(("slot_id" = i64, Path)),
    responses((status = 200, body = ProcessedWaitlist), (status = 403), (status = 404)))]
async fn process_waitlist(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(slot_id): Path<i64>,
) -> Result<Json<ProcessedWaitlist>, ApiError> {
    let notified = state.ctx.waitlist().process_slot(&admin, slot_id).await?;
    Ok(Json(ProcessedWaitlist { notified }))
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_formulas_neutralised() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(csv_field("line\nbreak"), "\"line\nbreak\"");
    }
}
