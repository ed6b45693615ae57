//! Schedules (admin): recurring timetables, their preview and slot generation.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};
use tourdesk_domain::schedule::WeekdaysEdit;
use tourdesk_service::catalog::{ScheduleInput, ScheduleView};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::dto::{PriceInput, ScheduleDto, SlotDto, double_option};
use super::error::ApiError;
use super::extract::{Json, Path, Query};
use super::openapi;
use super::{AdminUser, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get_one, update, deactivate))
        .routes(routes!(generate))
        .routes(routes!(preview))
}

/// The spec's schedule body, plus `rrule` and `is_active`. On PUT, fields
/// left out keep their values.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    /// The tour (on PUT, if given, the schedule's own tour).
    tour_id: Option<i64>,
    #[schema(value_type = Option<openapi::Name>, example = "Summer Morning Tours")]
    name: Option<String>,
    /// Local time in the tour's time zone.
    #[schema(value_type = Option<openapi::Time>)]
    start_time: Option<NaiveTime>,
    /// 1 to 20160 (14 days); default: the tour's duration.
    #[schema(minimum = 1, maximum = 20160)]
    duration_minutes: Option<i64>,
    /// `weekly` and `biweekly` need at least one weekday; `custom` needs `rrule`.
    #[schema(value_type = Option<openapi::Recurrence>, example = "weekly")]
    recurrence: Option<String>,
    /// Only for `custom` (empty or null otherwise).
    #[schema(value_type = Option<openapi::Rrule>)]
    rrule: Option<String>,
    #[serde(flatten)]
    #[schema(inline)]
    days: WeekdaysEdit,
    /// 1 to 10000.
    #[schema(minimum = 1, maximum = 10000)]
    max_capacity: Option<i64>,
    /// 0 to `max_capacity`; default 1.
    #[schema(minimum = 0, maximum = 10000)]
    min_capacity: Option<i64>,
    /// Hours before each departure its minimum is decided: below it then,
    /// the departure is cancelled (`minimum_not_reached`, full refunds);
    /// 1 to 8760, default 48. A minimum of 0 or 1 is no minimum.
    #[schema(minimum = 1, maximum = 8760)]
    decision_hours: Option<i64>,
    #[schema(value_type = Option<openapi::CalendarDate>)]
    valid_from: Option<NaiveDate>,
    /// Not before `valid_from`; null clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<openapi::CalendarDate>)]
    valid_until: Option<Option<NaiveDate>>,
    /// The departures' price instead of the tour's; null clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<openapi::Price>)]
    price_override: Option<Option<PriceInput>>,
    is_active: Option<bool>,
}

openapi::create_body!(
    /// A new schedule: [`ScheduleRequest`] with what a schedule cannot do without.
    NewSchedule = ScheduleRequest,
    ["tour_id", "name", "start_time", "recurrence", "max_capacity", "valid_from"]
);

impl From<ScheduleRequest> for ScheduleInput {
    fn from(r: ScheduleRequest) -> Self {
        ScheduleInput {
            tour_id: r.tour_id,
            name: r.name,
            start_time: r.start_time,
            duration_minutes: r.duration_minutes,
            recurrence: r.recurrence,
            rrule: r.rrule,
            weekdays: r.days,
            max_capacity: r.max_capacity,
            min_capacity: r.min_capacity,
            decision_hours: r.decision_hours,
            valid_from: r.valid_from,
            valid_until: r.valid_until,
            price_override: r.price_override.map(|p| p.map(|p| p.text())),
            is_active: r.is_active,
        }
    }
}

fn dto(v: &ScheduleView) -> ScheduleDto {
    ScheduleDto::new(&v.row, &v.tour.currency)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CreateQuery {
    /// Answer with the schedule and the departures it would create, and
    /// keep nothing (the console's preview).
    #[serde(default)]
    dry_run: bool,
    /// Create its departures up to the booking horizon now (default true).
    /// With `false` only the daily horizon job or "generate" makes them.
    #[serde(default = "yes")]
    generate: bool,
}

fn yes() -> bool {
    true
}

/// The departures a new schedule made (or would make).
#[derive(Debug, Serialize, ToSchema)]
pub struct InitialDeparturesDto {
    /// The range generated: the tour's today (or `valid_from`, if later)
    /// to the booking horizon (`BOOKING_ADVANCE_DAYS`), in the tour's zone.
    #[schema(value_type = String, format = Date)]
    from: NaiveDate,
    #[schema(value_type = String, format = Date)]
    until: NaiveDate,
    created: usize,
    /// Dates the schedule produces that a blackout covers.
    skipped_blackout: usize,
    /// The departures, in order.
    slots: Vec<SlotDto>,
}

/// A new schedule, and the departures it created (or, with `dry_run`,
/// would create).
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleCreated {
    #[serde(flatten)]
    schedule: ScheduleDto,
    dry_run: bool,
    /// Null with `generate=false` or for an inactive schedule.
    departures: Option<InitialDeparturesDto>,
}

/// Creates a schedule (the spec's body) and its departures up to the
/// booking horizon, so it is bookable at once; `dry_run=true` previews
/// both and keeps nothing, `generate=false` leaves generation to later.
#[utoipa::path(post, path = "/api/calendar/admin/schedules", tag = "admin", security(("bearer" = [])),
    params(CreateQuery),
    request_body = NewSchedule,
    responses((status = 201, body = ScheduleCreated, description = "Created"),
              (status = 200, body = ScheduleCreated, description = "With `dry_run=true`: what creating would do"),
              (status = 401), (status = 403),
              (status = 422, description = "A field is invalid (`field` names it)")))]
async fn create(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Query(q): Query<CreateQuery>,
    Json(body): Json<ScheduleRequest>,
) -> Result<(StatusCode, Json<ScheduleCreated>), ApiError> {
    let opts = tourdesk_service::catalog::ScheduleCreate {
        dry_run: q.dry_run,
        generate: q.generate,
    };
    let (view, initial) = state
        .ctx
        .catalog()
        .create_schedule(&admin, body.into(), opts)
        .await?;
    let tour = &view.tour;
    let departures = initial.map(|i| InitialDeparturesDto {
        from: i.from,
        until: i.until,
        created: i.report.created,
        skipped_blackout: i.report.skipped_blackout,
        slots: i
            .report
            .slots
            .iter()
            .map(|s| SlotDto::new(s, tour))
            .collect(),
    });
    let status = if q.dry_run {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(ScheduleCreated {
            schedule: dto(&view),
            dry_run: q.dry_run,
            departures,
        }),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this tour's schedules.
    tour_id: Option<i64>,
}

/// Schedules, optionally of one tour.
#[utoipa::path(get, path = "/api/calendar/admin/schedules", tag = "admin", security(("bearer" = [])),
    params(ListQuery),
    responses((status = 200, body = Vec<ScheduleDto>), (status = 403)))]
async fn list(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<ScheduleDto>>, ApiError> {
    let views = state.ctx.catalog().schedules(&admin, q.tour_id).await?;
    Ok(Json(views.iter().map(dto).collect()))
}

/// One schedule.
#[utoipa::path(get, path = "/api/calendar/admin/schedules/{schedule_id}", tag = "admin", security(("bearer" = [])),
    params(("schedule_id" = i64, Path)),
    responses((status = 200, body = ScheduleDto), (status = 403), (status = 404)))]
async fn get_one(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
) -> Result<Json<ScheduleDto>, ApiError> {
    Ok(Json(dto(&state.ctx.catalog().schedule(&admin, id).await?)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EditQuery {
    /// Report what would change; keep nothing.
    #[serde(default)]
    dry_run: bool,
    /// Also move departures that have bookings (each booking is audited).
    #[serde(default)]
    apply_to_booked: bool,
}

/// One future departure a schedule edit changes (or would change).
#[derive(Debug, Serialize, ToSchema)]
pub struct DepartureChangeDto {
    slot_id: i64,
    #[schema(value_type = String, format = Date)]
    slot_date: NaiveDate,
    #[schema(value_type = String)]
    start_time: NaiveTime,
    /// `moved`, `kept_booked`, `capacity_changed`, `price_changed`,
    /// `withdrawn`, `withdrawn_booked` or `restored`.
    actions: Vec<&'static str>,
    #[schema(value_type = Option<String>)]
    new_start_time: Option<NaiveTime>,
    max_capacity: i64,
    new_capacity: Option<i64>,
    #[schema(value_type = Option<f64>)]
    new_price_per_person: Option<super::dto::Amount>,
    /// People booked on it.
    booked: i64,
}

/// The schedule after the edit, and what it did (or would do) to its
/// future departures.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleEdited {
    #[serde(flatten)]
    schedule: ScheduleDto,
    dry_run: bool,
    /// Future departures changed (or that would change).
    departures: Vec<DepartureChangeDto>,
    /// Departures added for dates the schedule now produces.
    created_slots: usize,
}

/// Changes a schedule; fields left out keep their values. The change
/// applies to its future departures: start time and duration move them (a
/// booked one only with `apply_to_booked=true`, each booking audited),
/// capacity applies (never below what is booked), price applies to new
/// bookings, dates no longer produced are withdrawn unless booked, dates
/// produced again are restored. `dry_run=true` reports all this and keeps
/// nothing.
#[utoipa::path(put, path = "/api/calendar/admin/schedules/{schedule_id}", tag = "admin", security(("bearer" = [])),
    params(("schedule_id" = i64, Path), EditQuery), request_body = ScheduleRequest,
    responses((status = 200, body = ScheduleEdited), (status = 403), (status = 404)))]
async fn update(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
    Query(q): Query<EditQuery>,
    Json(body): Json<ScheduleRequest>,
) -> Result<Json<ScheduleEdited>, ApiError> {
    let opts = tourdesk_service::catalog::ScheduleEdit {
        dry_run: q.dry_run,
        apply_to_booked: q.apply_to_booked,
    };
    let (view, sync) = state
        .ctx
        .catalog()
        .update_schedule(id, body.into(), opts, &admin)
        .await?;
    let schedule = dto(&view);
    let tour = &view.tour;
    let departures = sync
        .changes
        .iter()
        .map(|c| DepartureChangeDto {
            slot_id: c.slot.id,
            slot_date: c.slot.slot_date,
            start_time: c.slot.start_time,
            actions: c.actions.iter().map(|a| a.as_str()).collect(),
            new_start_time: c.new_start_time,
            max_capacity: c.slot.max_capacity,
            new_capacity: c.new_capacity,
            new_price_per_person: c
                .new_price
                .map(|p| super::dto::Amount::new(&tour.currency, p)),
            booked: c.booked,
        })
        .collect();
    Ok(Json(ScheduleEdited {
        schedule,
        dry_run: q.dry_run,
        departures,
        created_slots: sync.created,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeactivatedSchedule {
    schedule: ScheduleDto,
    /// Future departures without bookings that were withdrawn (closed).
    cancelled_slots: u64,
}

/// Deactivates a schedule: nothing more is generated from it and its future
/// departures without bookings are withdrawn; booked ones stay. Setting
/// `is_active: true` again (PUT) restores them.
#[utoipa::path(delete, path = "/api/calendar/admin/schedules/{schedule_id}", tag = "admin", security(("bearer" = [])),
    params(("schedule_id" = i64, Path)),
    responses((status = 200, body = DeactivatedSchedule), (status = 403), (status = 404)))]
async fn deactivate(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
) -> Result<Json<DeactivatedSchedule>, ApiError> {
    let (view, cancelled_slots) = state.ctx.catalog().deactivate_schedule(id, &admin).await?;
    Ok(Json(DeactivatedSchedule {
        schedule: dto(&view),
        cancelled_slots,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    #[param(value_type = openapi::CalendarDate)]
    start_date: NaiveDate,
    /// Inclusive; not before `start_date` and at most 3 years after it.
    #[param(value_type = openapi::CalendarDate)]
    end_date: NaiveDate,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GenerationResponse {
    created: usize,
    skipped_existing: usize,
    skipped_blackout: usize,
    /// The slots created by this call.
    slots: Vec<SlotDto>,
}

/// Generates the schedule's slots in a date range. Idempotent: existing
/// slots are skipped, and so are blacked-out dates.
#[utoipa::path(post, path = "/api/calendar/admin/schedules/{schedule_id}/generate-slots", tag = "admin",
    security(("bearer" = [])), params(("schedule_id" = i64, Path), RangeQuery),
    responses((status = 200, body = GenerationResponse), (status = 403), (status = 404),
              (status = 409, description = "`schedule_inactive`: the schedule is inactive")))]
async fn generate(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
    Query(q): Query<RangeQuery>,
) -> Result<Json<GenerationResponse>, ApiError> {
    let (report, tour) = state
        .ctx
        .catalog()
        .generate_slots(&admin, id, q.start_date, q.end_date)
        .await?;
    Ok(Json(GenerationResponse {
        created: report.created,
        skipped_existing: report.skipped_existing,
        skipped_blackout: report.skipped_blackout,
        slots: report
            .slots
            .iter()
            .map(|s| SlotDto::new(s, &tour))
            .collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewEntry {
    #[schema(value_type = String, format = Date)]
    slot_date: NaiveDate,
    #[schema(value_type = String)]
    start_time: NaiveTime,
    #[schema(value_type = String)]
    end_time: NaiveTime,
    starts_at: chrono::DateTime<chrono::Utc>,
}

/// The dates and times the schedule would generate in a range (nothing is written).
#[utoipa::path(get, path = "/api/calendar/admin/schedules/{schedule_id}/preview", tag = "admin",
    security(("bearer" = [])), params(("schedule_id" = i64, Path), RangeQuery),
    responses((status = 200, body = Vec<PreviewEntry>), (status = 403), (status = 404)))]
async fn preview(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
    Query(q): Query<RangeQuery>,
) -> Result<Json<Vec<PreviewEntry>>, ApiError> {
    let placements = state
        .ctx
        .catalog()
        .preview_schedule(&admin, id, q.start_date, q.end_date)
        .await?;
    Ok(Json(
        placements
            .into_iter()
            .map(|p| PreviewEntry {
                slot_date: p.slot_date,
                start_time: p.start_time,
                end_time: p.end_time,
                starts_at: p.starts_at,
            })
            .collect(),
    ))
}
