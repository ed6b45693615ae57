//! Bookings for customers and guests: quote, create (with Idempotency-Key),
//! read, look up by reference, modify, cancel, and "my bookings".

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tourdesk_domain::Needs;
use tourdesk_service::bookings::{BookingRequest, IdempotencyKey, Modification};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::client::{self, ClientInfo};
use super::dto::{Amount, BookingDto, PriceInput, TierDto};
use super::error::ApiError;
use super::extract::{Json, Path, Query, Who, optional_json};
use super::openapi;
use super::{AppState, CurrentUser};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(quote))
        .routes(routes!(create))
        .routes(routes!(mine))
        .routes(routes!(by_reference))
        .routes(routes!(get_one, modify, cancel))
        .routes(routes!(cancellation_quote))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct QuoteRequest {
    booking_slot_id: i64,
    #[schema(value_type = openapi::PartySize)]
    num_adults: i64,
    #[serde(default)]
    #[schema(value_type = openapi::ExtraPeople)]
    num_children: i64,
    #[serde(default)]
    #[schema(value_type = openapi::ExtraPeople)]
    num_infants: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QuoteResponse {
    booking_slot_id: i64,
    num_adults: i64,
    num_children: i64,
    num_infants: i64,
    total_people: i64,
    #[schema(value_type = f64)]
    price_per_adult: Amount,
    #[schema(value_type = f64)]
    price_per_child: Amount,
    #[schema(value_type = f64)]
    price_per_infant: Amount,
    #[schema(value_type = f64)]
    subtotal: Amount,
    #[schema(value_type = f64)]
    discount_amount: Amount,
    #[schema(value_type = f64)]
    tax_amount: Amount,
    #[schema(value_type = f64)]
    total_amount: Amount,
    currency: String,
    /// Spots left on the slot right now.
    available_spots: i64,
}

/// The price of a party on a slot, computed by the server (the booking
/// flow never computes prices itself).
#[utoipa::path(post, path = "/api/calendar/quote", tag = "bookings", request_body = QuoteRequest,
    responses((status = 200, body = QuoteResponse),
              (status = 422, description = "No such slot, or the party is invalid; `field` names it")))]
async fn quote(
    State(state): State<AppState>,
    Json(body): Json<QuoteRequest>,
) -> Result<Json<QuoteResponse>, ApiError> {
    let q = state
        .ctx
        .bookings()
        .quote(
            body.booking_slot_id,
            body.num_adults,
            body.num_children,
            body.num_infants,
        )
        .await?;
    let c = &q.tour.currency;
    Ok(Json(QuoteResponse {
        booking_slot_id: q.slot.id,
        num_adults: q.party.adults,
        num_children: q.party.children,
        num_infants: q.party.infants,
        total_people: q.party.total(),
        price_per_adult: Amount::new(c, q.pricing.price_per_adult),
        price_per_child: Amount::new(c, q.pricing.price_per_child),
        price_per_infant: Amount::new(c, q.pricing.price_per_infant),
        subtotal: Amount::new(c, q.pricing.subtotal),
        discount_amount: Amount::new(c, q.pricing.discount_amount),
        tax_amount: Amount::new(c, q.pricing.tax_amount),
        total_amount: Amount::new(c, q.pricing.total_amount),
        currency: c.code().to_owned(),
        available_spots: q.slot.available_spots,
    }))
}

/// The spec's booking request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateBookingRequest {
    tour_id: i64,
    booking_slot_id: i64,
    #[schema(value_type = openapi::PartySize)]
    num_adults: i64,
    #[serde(default)]
    #[schema(value_type = openapi::ExtraPeople)]
    num_children: i64,
    #[serde(default)]
    #[schema(value_type = openapi::ExtraPeople)]
    num_infants: i64,
    /// Required without a bearer token; defaults to the account's name.
    #[schema(value_type = Option<openapi::Name>)]
    customer_name: Option<String>,
    /// Required without a bearer token; defaults to the account's email.
    #[schema(value_type = Option<openapi::Email>)]
    customer_email: Option<String>,
    /// Defaults to the account's phone.
    #[schema(value_type = Option<openapi::Phone>)]
    customer_phone: Option<String>,
    #[serde(flatten)]
    needs: Needs,
}

/// Books a slot. With a bearer token the booking belongs to that account;
/// without one it is a guest booking. The same `Idempotency-Key` with the
/// same body within 24 hours returns the first booking and creates nothing.
#[utoipa::path(post, path = "/api/calendar/bookings", tag = "bookings", request_body = CreateBookingRequest,
    security((), ("bearer" = [])),
    params(("Idempotency-Key" = Option<openapi::IdempotencyKey>, Header, description = "Makes retries safe")),
    responses(
        (status = 201, body = BookingDto),
        (status = 400, description = "`capacity_exceeded`: not enough room (with `available_spots`, `waitlist_available` \
and `alternatives`: departures the party can book instead)"),
        (status = 409, description = "`slot_unavailable`: missing, cancelled, closed, full or outside the booking window (with `alternatives`); \
`tour_inactive`; `idempotency_conflict`: the first request with this key is still running"),
        (status = 422, description = "A field is invalid (`field` names it), or the Idempotency-Key was used with another body"),
        (status = 429, description = "Too many bookings from this address or email, or too many unconfirmed bookings for this email")))]
async fn create(
    State(state): State<AppState>,
    Who(caller): Who,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<BookingDto>), ApiError> {
    let started = std::time::Instant::now();
    let req: CreateBookingRequest = optional_json(&headers, &body)?
        .ok_or_else(|| ApiError::invalid("body", "send the booking as JSON"))?;
    client::check_booking(&state.rate_limits, &caller, req.customer_email.as_deref())?;
    let idem = match headers.get("idempotency-key") {
        None => None,
        Some(v) => {
            let key = v.to_str().map(str::trim).unwrap_or_default();
            if key.is_empty() || key.len() > 255 {
                return Err(ApiError::invalid(
                    "Idempotency-Key",
                    "must be 1 to 255 visible characters",
                ));
            }
            // Hash the parsed body so whitespace and key order do not matter.
            let canonical: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let hash = hex::encode(Sha256::digest(canonical.to_string().as_bytes()));
            Some(IdempotencyKey {
                key: key.to_owned(),
                request_hash: hash,
            })
        }
    };
    let created = state
        .ctx
        .bookings()
        .create(
            BookingRequest {
                tour_id: req.tour_id,
                booking_slot_id: req.booking_slot_id,
                num_adults: req.num_adults,
                num_children: req.num_children,
                num_infants: req.num_infants,
                customer_name: req.customer_name,
                customer_email: req.customer_email,
                customer_phone: req.customer_phone,
                needs: req.needs,
            },
            &caller,
            idem,
        )
        .await;
    let created = match created {
        Ok(c) => c,
        Err(e) => {
            let party = req
                .num_adults
                .saturating_add(req.num_children)
                .saturating_add(req.num_infants);
            return Err(with_alternatives(&state, e.into(), req.booking_slot_id, party).await);
        }
    };
    metrics::histogram!("average_booking_time_seconds").record(started.elapsed().as_secs_f64());
    Ok((
        StatusCode::CREATED,
        Json(BookingDto::new(&created.booking).with_token(created.manage_token)),
    ))
}

/// A departure that cannot take the party (`capacity_exceeded`, or
/// `slot_unavailable`: full, closed, past the cutoff) answers with the
/// departures it could book instead, as the availability check does.
/// Finding them is best effort: the refusal stands if that read fails.
async fn with_alternatives(
    state: &AppState,
    mut err: ApiError,
    slot_id: i64,
    party: i64,
) -> ApiError {
    if !matches!(err.code, "capacity_exceeded" | "slot_unavailable") || party < 1 {
        return err;
    }
    match state
        .ctx
        .availability()
        .alternatives_to_slot(slot_id, party)
        .await
    {
        Ok(Some((currency, rows))) => {
            let list =
                serde_json::to_value(super::availability::Alternative::list(&currency, &rows))
                    .unwrap_or_default();
            err.extra
                .get_or_insert_with(Default::default)
                .insert("alternatives".into(), list);
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "could not list alternatives"),
    }
    err
}

/// A booking, for its owner, an admin, or the holder of its manage token
/// (`X-Manage-Token`).
#[utoipa::path(get, path = "/api/calendar/bookings/{booking_id}", tag = "bookings",
    security((), ("bearer" = [])),
    params(("booking_id" = i64, Path), ("X-Manage-Token" = Option<String>, Header)),
    responses((status = 200, body = BookingDto),
              (status = 401, description = "An invalid bearer token"),
              (status = 404, description = "No such booking, or not this caller's (the same answer)")))]
async fn get_one(
    State(state): State<AppState>,
    Who(caller): Who,
    Path(id): Path<i64>,
) -> Result<Json<BookingDto>, ApiError> {
    let row = state.ctx.bookings().get(id, &caller).await?;
    Ok(Json(BookingDto::new(&row)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LookupQuery {
    /// The customer email of the booking (case-insensitive).
    email: String,
}

/// A booking by its reference, for whoever knows its customer email. Returns
/// a fresh `manage_token`. A wrong email and an unknown reference give the
/// same 404; the lookup is rate limited per address.
#[utoipa::path(get, path = "/api/calendar/bookings/reference/{reference}", tag = "bookings",
    params(("reference" = String, Path), LookupQuery),
    responses((status = 200, body = BookingDto),
              (status = 404, description = "No booking with this reference and email"),
              (status = 429, description = "Too many lookups from this address")))]
async fn by_reference(
    State(state): State<AppState>,
    client: ClientInfo,
    Path(reference): Path<String>,
    Query(q): Query<LookupQuery>,
) -> Result<Json<BookingDto>, ApiError> {
    client::check(&state.rate_limits.lookup, &client)?;
    let (row, token) = state.ctx.bookings().lookup(&reference, &q.email).await?;
    Ok(Json(BookingDto::new(&row).with_token(token)))
}

/// The spec's modification body. A field left out keeps its value; 0 is 0.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModifyRequest {
    /// Another departure of the same tour.
    new_slot_id: Option<i64>,
    #[schema(value_type = Option<openapi::PartySize>)]
    new_num_adults: Option<i64>,
    #[schema(value_type = Option<openapi::ExtraPeople>)]
    new_num_children: Option<i64>,
    #[schema(value_type = Option<openapi::ExtraPeople>)]
    new_num_infants: Option<i64>,
    #[schema(value_type = Option<openapi::Note>)]
    modification_notes: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModifyResponse {
    success: bool,
    message: String,
    booking_reference: String,
    booking: BookingDto,
}

/// Changes the slot and/or party size in one step; the price follows.
#[utoipa::path(put, path = "/api/calendar/bookings/{booking_id}", tag = "bookings",
    security((), ("bearer" = [])),
    params(("booking_id" = i64, Path), ("X-Manage-Token" = Option<String>, Header)), request_body = ModifyRequest,
    responses((status = 200, body = ModifyResponse), (status = 400, description = "`capacity_exceeded`"),
              (status = 401, description = "An invalid bearer token"),
              (status = 404, description = "No such booking, or not this caller's (the same answer)"),
              (status = 409, description = "Not changeable (`invalid_status`, `changes_closed`, `departure_started`), \
or the new slot is unavailable (`slot_unavailable`)"),
              (status = 422, description = "A field is invalid, or nothing would change; `field` names it")))]
async fn modify(
    State(state): State<AppState>,
    Who(caller): Who,
    Path(id): Path<i64>,
    Json(body): Json<ModifyRequest>,
) -> Result<Json<ModifyResponse>, ApiError> {
    let row = state
        .ctx
        .bookings()
        .modify(
            id,
            &caller,
            Modification {
                new_slot_id: body.new_slot_id,
                new_num_adults: body.new_num_adults,
                new_num_children: body.new_num_children,
                new_num_infants: body.new_num_infants,
                notes: body.modification_notes,
            },
        )
        .await?;
    Ok(Json(ModifyResponse {
        success: true,
        message: "Booking modified".into(),
        booking_reference: row.booking_reference.clone(),
        booking: BookingDto::new(&row),
    }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    #[schema(value_type = Option<openapi::Note>)]
    cancellation_reason: Option<String>,
    /// Admins only: the amount refunded instead of what the tour's
    /// cancellation policy gives (see the cancellation quote), at most the
    /// booking's total; needs `cancellation_reason`, and both are audited.
    #[schema(value_type = Option<openapi::Price>)]
    refund_amount: Option<PriceInput>,
}

/// Cancels a booking and releases its spots (to the waitlist first). The
/// refund recorded is what the tour's cancellation policy gives now (see
/// `cancellation-quote`); a departure the operator cancels refunds 100 %.
#[utoipa::path(delete, path = "/api/calendar/bookings/{booking_id}", tag = "bookings",
    security((), ("bearer" = [])),
    params(("booking_id" = i64, Path), ("X-Manage-Token" = Option<String>, Header)), request_body = Option<CancelRequest>,
    responses((status = 200, body = BookingDto),
              (status = 401, description = "An invalid bearer token"),
              (status = 403, description = "`refund_amount` from a non-admin"),
              (status = 404, description = "No such booking, or not this caller's (the same answer)"),
              (status = 409, description = "Already cancelled, or no longer cancellable (`departure_started`)")))]
async fn cancel(
    State(state): State<AppState>,
    Who(caller): Who,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<BookingDto>, ApiError> {
    let req: CancelRequest = optional_json(&headers, &body)?.unwrap_or_default();
    let row = state
        .ctx
        .bookings()
        .cancel(
            id,
            &caller,
            req.cancellation_reason.as_deref(),
            req.refund_amount.map(|r| r.text()),
        )
        .await?;
    Ok(Json(BookingDto::new(&row)))
}

/// What cancelling now would refund, under the tour's policy.
#[derive(Debug, Serialize, ToSchema)]
pub struct CancellationQuoteDto {
    booking_id: i64,
    booking_reference: String,
    /// Whether the caller may cancel the booking now; when not, `reason`
    /// is the code a cancel would answer and `message` says why.
    cancellable: bool,
    reason: Option<&'static str>,
    message: Option<String>,
    currency: String,
    #[schema(value_type = f64)]
    total_amount: Amount,
    /// The tier that applies now.
    tier: TierDto,
    refund_percent: u32,
    /// The fee kept from this refund.
    #[schema(value_type = f64)]
    fee: Amount,
    /// What the customer gets back if they cancel now.
    #[schema(value_type = f64)]
    refund_amount: Amount,
    /// The last moment this refund applies (UTC); a second later the next
    /// tier does. Null in the last tier.
    tier_ends_at: Option<DateTime<Utc>>,
    /// The same moment in the tour's time zone, with its offset.
    #[schema(example = "2027-03-07T09:00:00+02:00")]
    tier_ends_at_local: Option<String>,
    /// The tour's time zone.
    timezone: String,
    next_refund_percent: Option<u32>,
    #[schema(value_type = Option<f64>)]
    next_refund_amount: Option<Amount>,
    /// The whole policy.
    policy: Vec<TierDto>,
    quoted_at: DateTime<Utc>,
}

/// What cancelling the booking now would refund: the tier that applies,
/// the amount (in minor-unit precision, rounded half-up), when it drops to
/// the next tier (UTC and the tour's zone), and whether the caller may
/// cancel now.
#[utoipa::path(get, path = "/api/calendar/bookings/{booking_id}/cancellation-quote", tag = "bookings",
    security((), ("bearer" = [])),
    params(("booking_id" = i64, Path), ("X-Manage-Token" = Option<String>, Header)),
    responses((status = 200, body = CancellationQuoteDto),
              (status = 401, description = "An invalid bearer token"),
              (status = 404, description = "No such booking, or not this caller's (the same answer)")))]
async fn cancellation_quote(
    State(state): State<AppState>,
    Who(caller): Who,
    Path(id): Path<i64>,
) -> Result<Json<CancellationQuoteDto>, ApiError> {
    let q = state.ctx.bookings().cancellation_quote(id, &caller).await?;
    let currency = &q.tour.currency;
    let amt = |m: i64| Amount::new(currency, m);
    let tier = q.policy.tiers()[q.quote.tier];
    let (reason, message) = match &q.refusal {
        None => (None, None),
        Some(e) => (Some(refusal_code(e)), Some(e.to_string())),
    };
    Ok(Json(CancellationQuoteDto {
        booking_id: q.booking.id,
        booking_reference: q.booking.booking_reference.clone(),
        cancellable: q.refusal.is_none(),
        reason,
        message,
        currency: currency.code().to_owned(),
        total_amount: amt(q.booking.pricing.total_amount),
        tier: TierDto {
            min_hours_before: tier.min_hours_before,
            refund_percent: tier.refund_percent,
        },
        refund_percent: q.quote.refund_percent,
        fee: amt(q.quote.fee),
        refund_amount: amt(q.quote.refund_amount),
        tier_ends_at: q.quote.tier_ends_at,
        tier_ends_at_local: q
            .quote
            .tier_ends_at
            .map(|t| t.with_timezone(&q.tour.tz).to_rfc3339()),
        timezone: q.tour.tz.name().to_owned(),
        next_refund_percent: q.quote.next.map(|(p, _)| p),
        next_refund_amount: q.quote.next.map(|(_, a)| amt(a)),
        policy: q
            .policy
            .tiers()
            .iter()
            .map(|t| TierDto {
                min_hours_before: t.min_hours_before,
                refund_percent: t.refund_percent,
            })
            .collect(),
        quoted_at: q.quoted_at,
    }))
}

fn refusal_code(e: &tourdesk_service::ServiceError) -> &'static str {
    match e {
        tourdesk_service::ServiceError::Conflict { code, .. } => code,
        _ => "not_cancellable",
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MineQuery {
    /// Only bookings in this status.
    #[param(value_type = Option<openapi::StatusFilter>)]
    status_filter: Option<String>,
}

/// The logged-in user's bookings, newest first.
#[utoipa::path(get, path = "/api/calendar/bookings/user/me", tag = "bookings", security(("bearer" = [])),
    params(MineQuery), responses((status = 200, body = Vec<BookingDto>)))]
async fn mine(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Query(q): Query<MineQuery>,
) -> Result<Json<Vec<BookingDto>>, ApiError> {
    let rows = state
        .ctx
        .bookings()
        .of_user(user.id, q.status_filter.as_deref())
        .await?;
    Ok(Json(rows.iter().map(BookingDto::new).collect()))
}
