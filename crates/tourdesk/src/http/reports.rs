//! The operator's reports, for admins: bookings, cancellations and revenue
//! per day; utilization per tour and per departure; waitlist conversion;
//! no-shows. Every report takes a period (`start_date..=end_date`, at most
//! 731 days) and optionally one tour. Percentages have one decimal and are
//! `null` when there is nothing to divide by.

use axum::extract::State;
use chrono::{NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};
use tourdesk_domain::Currency;
use tourdesk_service::reports::{
    DailyFigures, NoShowFigures, Occupancy, Period, Revenue, WaitlistFigures,
};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::dto::Amount;
use super::error::ApiError;
use super::extract::{Json, Query};
use super::openapi;
use super::{AdminUser, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(daily))
        .routes(routes!(utilization))
        .routes(routes!(waitlist))
        .routes(routes!(no_shows))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// The first day of the period.
    #[param(value_type = openapi::CalendarDate)]
    start_date: NaiveDate,
    /// The last day of the period (included): not before `start_date`, and
    /// at most 731 days from it counting both.
    #[param(value_type = openapi::CalendarDate)]
    end_date: NaiveDate,
    /// Only this tour (404 when there is no such tour).
    tour_id: Option<i64>,
}

impl ReportQuery {
    fn period(&self) -> Period {
        Period {
            start: self.start_date,
            end: self.end_date,
            tour_id: self.tour_id,
        }
    }
}

fn currency(code: &str) -> Currency {
    Currency::parse(code).unwrap_or_else(|_| Currency::usd())
}

/// Money in one currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevenueDto {
    currency: String,
    /// The total of the bookings made, whatever became of them.
    #[schema(value_type = f64, example = 990.00)]
    gross: Amount,
    /// What those bookings bring: the total of those not cancelled, and for
    /// cancelled (or refunded) ones their total less the refund recorded
    /// (nothing when no refund amount was recorded).
    #[schema(value_type = f64, example = 782.75)]
    revenue: Amount,
}

impl From<&Revenue> for RevenueDto {
    fn from(r: &Revenue) -> Self {
        let c = currency(&r.currency);
        RevenueDto {
            currency: r.currency.clone(),
            gross: Amount::new(&c, r.gross),
            revenue: Amount::new(&c, r.revenue),
        }
    }
}

/// One day's figures (or, without `date`, the period's).
#[derive(Debug, Serialize, ToSchema)]
pub struct DailyFiguresDto {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    date: Option<NaiveDate>,
    /// Bookings made that day (counted on the tour's local date).
    bookings: i64,
    /// People on those bookings.
    people: i64,
    /// Bookings cancelled that day.
    cancellations: i64,
    /// People on the bookings cancelled.
    cancelled_people: i64,
    /// One entry per currency of the report, in the order of `currencies`.
    revenue: Vec<RevenueDto>,
}

impl DailyFiguresDto {
    fn new(date: Option<NaiveDate>, f: &DailyFigures) -> Self {
        DailyFiguresDto {
            date,
            bookings: f.bookings,
            people: f.people,
            cancellations: f.cancellations,
            cancelled_people: f.cancelled_people,
            revenue: f.revenue.iter().map(RevenueDto::from).collect(),
        }
    }
}

/// The period a report covers (each report's first fields).
#[derive(Debug, Serialize, ToSchema)]
pub struct PeriodDto {
    #[schema(value_type = String, format = Date)]
    start_date: NaiveDate,
    #[schema(value_type = String, format = Date)]
    end_date: NaiveDate,
    /// The one tour reported on; null for all.
    tour_id: Option<i64>,
}

impl From<&Period> for PeriodDto {
    fn from(p: &Period) -> PeriodDto {
        PeriodDto {
            start_date: p.start,
            end_date: p.end,
            tour_id: p.tour_id,
        }
    }
}

/// Bookings, cancellations and revenue per day.
#[derive(Debug, Serialize, ToSchema)]
pub struct DailyReportDto {
    #[serde(flatten)]
    period: PeriodDto,
    /// The currencies of the tours reported on and of their bookings.
    currencies: Vec<String>,
    /// Every day of the period in order, days without anything included.
    days: Vec<DailyFiguresDto>,
    totals: DailyFiguresDto,
}

/// Per day of the period: bookings made and the people on them,
/// cancellations, and revenue per currency. A booking counts on the day it
/// was made and a cancellation on the day it happened, each on the
/// calendar of the tour's time zone.
#[utoipa::path(get, path = "/api/calendar/admin/reports/daily", tag = "admin", security(("bearer" = [])),
    params(ReportQuery),
    responses((status = 200, body = DailyReportDto), (status = 403), (status = 404, description = "No such tour")))]
async fn daily(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Query(q): Query<ReportQuery>,
) -> Result<Json<DailyReportDto>, ApiError> {
    let r = state.ctx.reports().daily(&admin, q.period()).await?;
    Ok(Json(DailyReportDto {
        period: PeriodDto::from(&r.period),
        currencies: r.currencies,
        days: r
            .days
            .iter()
            .map(|(d, f)| DailyFiguresDto::new(Some(*d), f))
            .collect(),
        totals: DailyFiguresDto::new(None, &r.totals),
    }))
}

/// How full departures were.
#[derive(Debug, Serialize, ToSchema)]
pub struct OccupancyDto {
    departures: i64,
    /// Places on those departures.
    capacity: i64,
    /// People booked (pending, confirmed, completed or no-show).
    booked: i64,
    /// Places held for waitlist offers.
    held: i64,
    /// `booked` as a percentage of `capacity`.
    #[schema(example = 62.5)]
    utilization_percent: Option<f64>,
}

impl From<&Occupancy> for OccupancyDto {
    fn from(o: &Occupancy) -> Self {
        OccupancyDto {
            departures: o.departures,
            capacity: o.capacity,
            booked: o.booked,
            held: o.held,
            utilization_percent: o.utilization(),
        }
    }
}

/// One tour's departures in the period.
#[derive(Debug, Serialize, ToSchema)]
pub struct TourUtilizationDto {
    tour_id: i64,
    tour_name: String,
    #[serde(flatten)]
    occupancy: OccupancyDto,
}

/// One departure.
#[derive(Debug, Serialize, ToSchema)]
pub struct DepartureUtilizationDto {
    slot_id: i64,
    tour_id: i64,
    #[schema(value_type = String, format = Date)]
    slot_date: NaiveDate,
    #[schema(value_type = String, example = "09:00:00")]
    start_time: NaiveTime,
    capacity: i64,
    booked: i64,
    held: i64,
    utilization_percent: Option<f64>,
}

/// Utilization per tour and per departure.
#[derive(Debug, Serialize, ToSchema)]
pub struct UtilizationReportDto {
    #[serde(flatten)]
    period: PeriodDto,
    /// By tour name.
    tours: Vec<TourUtilizationDto>,
    /// In time order.
    departures: Vec<DepartureUtilizationDto>,
    totals: OccupancyDto,
}

/// The departures dated in the period that run (not cancelled, withdrawn
/// from their schedule or blacked out), per tour and each: capacity,
/// people booked, places held for the waitlist, and utilization (booked
/// over capacity).
#[utoipa::path(get, path = "/api/calendar/admin/reports/utilization", tag = "admin", security(("bearer" = [])),
    params(ReportQuery),
    responses((status = 200, body = UtilizationReportDto), (status = 403), (status = 404, description = "No such tour")))]
async fn utilization(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Query(q): Query<ReportQuery>,
) -> Result<Json<UtilizationReportDto>, ApiError> {
    let r = state.ctx.reports().utilization(&admin, q.period()).await?;
    Ok(Json(UtilizationReportDto {
        period: PeriodDto::from(&r.period),
        tours: r
            .tours
            .iter()
            .map(|t| TourUtilizationDto {
                tour_id: t.tour_id,
                tour_name: t.tour_name.clone(),
                occupancy: OccupancyDto::from(&t.occupancy),
            })
            .collect(),
        departures: r
            .departures
            .iter()
            .map(|d| DepartureUtilizationDto {
                slot_id: d.slot_id,
                tour_id: d.tour_id,
                slot_date: d.slot_date,
                start_time: d.start_time,
                capacity: d.capacity,
                booked: d.booked,
                held: d.held,
                utilization_percent: tourdesk_service::reports::percent(d.booked, d.capacity),
            })
            .collect(),
        totals: OccupancyDto::from(&r.totals),
    }))
}

/// Waitlist entries by what became of them.
#[derive(Debug, Serialize, ToSchema)]
pub struct WaitlistFiguresDto {
    /// Every entry.
    joined: i64,
    /// Still waiting for an offer.
    waiting: i64,
    /// Offered spots (held for them) at some point.
    offered: i64,
    /// Holding an offer now.
    offer_open: i64,
    /// Claimed their offer: a booking.
    converted: i64,
    /// Let their offer lapse.
    expired: i64,
    /// Left the waitlist.
    cancelled: i64,
    /// `converted` as a percentage of `offered`.
    #[schema(example = 33.3)]
    conversion_percent: Option<f64>,
}

impl From<&WaitlistFigures> for WaitlistFiguresDto {
    fn from(f: &WaitlistFigures) -> Self {
        WaitlistFiguresDto {
            joined: f.joined,
            waiting: f.waiting,
            offered: f.offered,
            offer_open: f.offer_open,
            converted: f.converted,
            expired: f.expired,
            cancelled: f.cancelled,
            conversion_percent: f.conversion(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TourWaitlistDto {
    tour_id: i64,
    tour_name: String,
    #[serde(flatten)]
    figures: WaitlistFiguresDto,
}

/// Waitlist conversion per tour.
#[derive(Debug, Serialize, ToSchema)]
pub struct WaitlistReportDto {
    #[serde(flatten)]
    period: PeriodDto,
    /// Tours with entries, by name.
    tours: Vec<TourWaitlistDto>,
    totals: WaitlistFiguresDto,
}

/// Waitlist entries for dates in the period, per tour: joined, waiting,
/// offered spots, holding an offer now, converted into a booking, expired,
/// left; conversion is converted over offered.
#[utoipa::path(get, path = "/api/calendar/admin/reports/waitlist", tag = "admin", security(("bearer" = [])),
    params(ReportQuery),
    responses((status = 200, body = WaitlistReportDto), (status = 403), (status = 404, description = "No such tour")))]
async fn waitlist(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Query(q): Query<ReportQuery>,
) -> Result<Json<WaitlistReportDto>, ApiError> {
    let r = state.ctx.reports().waitlist(&admin, q.period()).await?;
    Ok(Json(WaitlistReportDto {
        period: PeriodDto::from(&r.period),
        tours: r
            .tours
            .iter()
            .map(|t| TourWaitlistDto {
                tour_id: t.tour_id,
                tour_name: t.tour_name.clone(),
                figures: WaitlistFiguresDto::from(&t.figures),
            })
            .collect(),
        totals: WaitlistFiguresDto::from(&r.totals),
    }))
}

/// How bookings on departures went.
#[derive(Debug, Serialize, ToSchema)]
pub struct NoShowFiguresDto {
    /// Marked completed.
    completed: i64,
    /// Marked no-show.
    no_show: i64,
    /// Still pending or confirmed on a departure that has started.
    unmarked: i64,
    /// `no_show` as a percentage of `completed + no_show`.
    #[schema(example = 12.5)]
    no_show_percent: Option<f64>,
}

impl From<&NoShowFigures> for NoShowFiguresDto {
    fn from(f: &NoShowFigures) -> Self {
        NoShowFiguresDto {
            completed: f.completed,
            no_show: f.no_show,
            unmarked: f.unmarked,
            no_show_percent: f.rate(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TourNoShowsDto {
    tour_id: i64,
    tour_name: String,
    #[serde(flatten)]
    figures: NoShowFiguresDto,
}

/// No-shows per tour.
#[derive(Debug, Serialize, ToSchema)]
pub struct NoShowReportDto {
    #[serde(flatten)]
    period: PeriodDto,
    /// Tours with marked or unmarked bookings, by name.
    tours: Vec<TourNoShowsDto>,
    totals: NoShowFiguresDto,
}

/// Bookings on departures dated in the period, per tour: marked completed,
/// marked no-show, and still unmarked on a departure that has started; the
/// no-show rate is no-shows over completed plus no-shows.
#[utoipa::path(get, path = "/api/calendar/admin/reports/no-shows", tag = "admin", security(("bearer" = [])),
    params(ReportQuery),
    responses((status = 200, body = NoShowReportDto), (status = 403), (status = 404, description = "No such tour")))]
async fn no_shows(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Query(q): Query<ReportQuery>,
) -> Result<Json<NoShowReportDto>, ApiError> {
    let r = state.ctx.reports().no_shows(&admin, q.period()).await?;
    Ok(Json(NoShowReportDto {
        period: PeriodDto::from(&r.period),
        tours: r
            .tours
            .iter()
            .map(|t| TourNoShowsDto {
                tour_id: t.tour_id,
                tour_name: t.tour_name.clone(),
                figures: NoShowFiguresDto::from(&t.figures),
            })
            .collect(),
        totals: NoShowFiguresDto::from(&r.totals),
    }))
}
