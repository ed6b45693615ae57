//! Prometheus metrics (issue #16): the `metrics` facade everywhere, the
//! Prometheus exporter's recorder installed once per process, `GET /metrics`
//! rendering it, and a job refreshing the gauges that come from the
//! database (so every instance reports the same, right value).
//!
//! The spec's metrics keep the spec's names: `bookings_created_total`,
//! `bookings_cancelled_total`, `waitlist_conversions_total` (and
//! `waitlist_offers_total`, `waitlist_expirations_total`, to compute the
//! conversion ratio), counted per `tour_id` as the outbox delivers each
//! event (once per event, whichever instance delivers it);
//! `booking_conflicts_total` (slot-unavailable refusals) and
//! `capacity_errors_total` (capacity refusals), counted at the HTTP edge;
//! `average_booking_time_seconds`, a histogram of booking-creation latency;
//! and `slot_utilization_percentage`, a gauge per tour.

use std::net::IpAddr;
use std::sync::OnceLock;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tourdesk_service::Context;

use crate::http::AppState;
use crate::http::error::ApiError;

/// Latency buckets (seconds) for request-like histograms.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Buckets for background job rounds (seconds).
const JOB_BUCKETS: &[f64] = &[0.001, 0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0];

/// Requests per group-committed batch (powers of two up to the largest batch allowed).
const BATCH_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// The per-tour counters the outbox delivery increments.
const BUSINESS_COUNTERS: &[&str] = &[
    "bookings_created_total",
    "bookings_cancelled_total",
    "waitlist_conversions_total",
    "waitlist_offers_total",
    "waitlist_expirations_total",
    "waitlist_joins_total",
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's recorder, installed on first use (`None` if another
/// recorder was installed first; metrics are then not served).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE.get_or_init(install).as_ref()
}

fn install() -> Option<PrometheusHandle> {
    let builder = PrometheusBuilder::new();
    let with_buckets = |b: PrometheusBuilder| {
        b.set_buckets_for_metric(
            Matcher::Full("average_booking_time_seconds".into()),
            LATENCY_BUCKETS,
        )?
        .set_buckets_for_metric(
            Matcher::Full("http_request_duration_seconds".into()),
            LATENCY_BUCKETS,
        )?
        .set_buckets_for_metric(
            Matcher::Full("db_pool_acquire_seconds".into()),
            LATENCY_BUCKETS,
        )?
        .set_buckets_for_metric(Matcher::Full("job_duration_seconds".into()), JOB_BUCKETS)?
        .set_buckets_for_metric(
            Matcher::Full("group_commit_batch_size".into()),
            BATCH_BUCKETS,
        )
    };
    let handle = match with_buckets(builder).map(|b| b.install_recorder()) {
        Ok(Ok(h)) => h,
        Ok(Err(e)) | Err(e) => {
            tracing::warn!(error = %e, "metrics are off: cannot install the Prometheus recorder");
            return None;
        }
    };
    describe();
    // Present (at 0) from the start, so rules and dashboards see a series.
    metrics::counter!("booking_conflicts_total").increment(0);
    metrics::counter!("capacity_errors_total").increment(0);
    metrics::counter!("group_commit_flushes_total").increment(0);
    Some(handle)
}

fn describe() {
    describe_counter!(
        "bookings_created_total",
        "Bookings created, per tour (counted as the outbox delivers booking.created)"
    );
    describe_counter!("bookings_cancelled_total", "Bookings cancelled, per tour");
    describe_counter!(
        "booking_conflicts_total",
        "Requests refused because the departure cannot take bookings (409 slot_unavailable)"
    );
    describe_counter!(
        "capacity_errors_total",
        "Requests refused for lack of room (400 capacity_exceeded)"
    );
    describe_counter!(
        "waitlist_conversions_total",
        "Waitlist offers claimed (turned into bookings), per tour"
    );
    describe_counter!(
        "waitlist_offers_total",
        "Waitlist entries offered held spots, per tour"
    );
    describe_counter!(
        "waitlist_expirations_total",
        "Waitlist offers that expired unclaimed, per tour"
    );
    describe_counter!("waitlist_joins_total", "Waitlist entries created, per tour");
    describe_histogram!(
        "average_booking_time_seconds",
        Unit::Seconds,
        "Time to create a booking (POST /api/calendar/bookings answered 201); the average is rate(_sum) / rate(_count)"
    );
    describe_gauge!(
        "slot_utilization_percentage",
        Unit::Percent,
        "Booked and held places over capacity of a tour's upcoming open departures, from the database"
    );
    describe_counter!(
        "http_requests_total",
        "HTTP requests by method, matched route template and status"
    );
    describe_histogram!(
        "http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency by method and matched route template"
    );
    describe_gauge!(
        "db_pool_connections",
        "Database connections by pool and state (in_use, idle)"
    );
    describe_histogram!(
        "db_pool_acquire_seconds",
        Unit::Seconds,
        "Time waiting for a connection (SQLite writer: for the write lock), by pool"
    );
    describe_gauge!("outbox_backlog_events", "Outbox events not delivered yet");
    describe_gauge!(
        "outbox_oldest_event_age_seconds",
        Unit::Seconds,
        "Age of the oldest undelivered outbox event (0 when none)"
    );
    describe_gauge!(
        "email_messages_queued",
        "Email messages waiting to be sent (queued) or given up on (dead)"
    );
    describe_gauge!(
        "webhook_deliveries_waiting",
        "Webhook deliveries waiting (pending, sending) or given up on (dead)"
    );
    describe_histogram!(
        "group_commit_batch_size",
        "Booking requests served by one group-committed transaction (one commit flush)"
    );
    describe_counter!(
        "group_commit_flushes_total",
        "Group-committed transactions that committed (each one commit flush)"
    );
    describe_counter!(
        "calendar_cache_reads_total",
        "Month views and availability checks by how they were answered: hit (every month they needed was cached), fill (some were read and cached), direct (the database was busy: read without the cache)"
    );
    describe_gauge!(
        "sqlite_wal_frames",
        "SQLite: pages in the write-ahead log after the last checkpoint (the log starts over once all are in the database file)"
    );
    describe_counter!("job_runs_total", "Background job rounds run, by job name");
    describe_counter!(
        "job_failures_total",
        "Background job rounds that failed, by job name"
    );
    describe_histogram!(
        "job_duration_seconds",
        Unit::Seconds,
        "Background job round duration, by job name"
    );
    describe_gauge!(
        "process_resident_memory_bytes",
        Unit::Bytes,
        "Resident memory of the server process"
    );
}

/// `GET /metrics`: the Prometheus text format. Open to loopback callers
/// (unless a trusted proxy forwarded the request); anyone else needs
/// `METRICS_TOKEN` as a bearer token. With `METRICS_BIND` set, it is
/// served there instead, without a token, and not on the main address.
pub async fn serve(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if state.config.metrics_bind.is_some() {
        return ApiError::not_found("metrics are served on METRICS_BIND").into_response();
    }
    let forwarded = state.config.trust_proxy > 0 && headers.contains_key("x-forwarded-for");
    let local = is_loopback(peer.ip()) && !forwarded;
    if !local && !token_matches(state.config.metrics_token.as_deref(), &headers) {
        let why = if state.config.metrics_token.is_some() {
            "metrics need the METRICS_TOKEN as a bearer token"
        } else {
            "metrics are served to the loopback address only (set METRICS_TOKEN or METRICS_BIND)"
        };
        let mut r = ApiError::unauthorized(why).into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"metrics\""),
        );
        return r;
    }
    render()
}

/// The exposition, with its content type.
pub fn render() -> Response {
    match handle() {
        Some(h) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            )],
            h.render(),
        )
            .into_response(),
        None => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics_off",
            "metrics are not available in this process",
        )
        .into_response(),
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

fn token_matches(expected: Option<&str>, headers: &HeaderMap) -> bool {
    let Some(expected) = expected else {
        return false;
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // Constant time over the expected length.
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

/// One refresh of the gauges read from the database and the process.
pub async fn refresh(ctx: &Context) -> Result<(), String> {
    if let Some(h) = handle() {
        h.run_upkeep();
    }
    for p in ctx.db.pool_stats() {
        let in_use = p.size.saturating_sub(p.idle) as f64;
        metrics::gauge!("db_pool_connections", "pool" => p.name, "state" => "in_use").set(in_use);
        metrics::gauge!("db_pool_connections", "pool" => p.name, "state" => "idle")
            .set(p.idle as f64);
    }
    if let Some(rss) = resident_memory_bytes() {
        metrics::gauge!("process_resident_memory_bytes").set(rss as f64);
    }
    let snapshot = ctx
        .notifications()
        .health_snapshot()
        .await
        .map_err(|e| e.to_string())?;
    metrics::gauge!("outbox_backlog_events").set(snapshot.outbox_backlog as f64);
    metrics::gauge!("outbox_oldest_event_age_seconds").set(snapshot.oldest_age_seconds as f64);
    for (status, n) in [
        ("queued", snapshot.email_queued),
        ("dead", snapshot.email_dead),
    ] {
        metrics::gauge!("email_messages_queued", "status" => status).set(n as f64);
    }
    for (status, n) in [
        ("pending", snapshot.webhooks_pending),
        ("sending", snapshot.webhooks_sending),
        ("dead", snapshot.webhooks_dead),
    ] {
        metrics::gauge!("webhook_deliveries_waiting", "status" => status).set(n as f64);
    }
    for (tour_id, pct) in snapshot.utilization {
        let tour = tour_id.to_string();
        metrics::gauge!("slot_utilization_percentage", "tour_id" => tour.clone()).set(pct);
        // Each bookable tour's business counters exist (at 0 until the
        // first event), so a ratio over them is defined from the start.
        for name in BUSINESS_COUNTERS {
            metrics::counter!(*name, "tour_id" => tour.clone()).increment(0);
        }
    }
    Ok(())
}

/// Resident memory from `/proc/self/status` (Linux; `None` elsewhere).
fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_must_match_exactly() {
        let mut h = HeaderMap::new();
        assert!(!token_matches(Some("s3cret-token"), &h));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3cret-token"),
        );
        assert!(token_matches(Some("s3cret-token"), &h));
        assert!(!token_matches(Some("s3cret-token-longer"), &h));
        assert!(!token_matches(Some("s3cret-toke"), &h));
        assert!(!token_matches(None, &h));
    }

    #[test]
    fn loopback_includes_mapped_ipv4() {
        assert!(is_loopback(
            "127.0.0.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
        ));
        assert!(is_loopback(
            "::1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
        ));
        assert!(is_loopback(
            "::ffff:127.0.0.1"
                .parse()
                .unwrap_or(IpAddr::from([0, 0, 0, 0]))
        ));
        assert!(!is_loopback(
            "10.0.0.1".parse().unwrap_or(IpAddr::from([127, 0, 0, 1]))
        ));
    }
}
