//! Who is calling, from where: the client address (the socket's, or the
//! first X-Forwarded-For entry behind a trusted proxy), the user agent, and
//! per-address rate limits for the endpoints that invite guessing.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::USER_AGENT;
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use super::AppState;
use super::error::ApiError;
use crate::config::Config;

/// The caller's address and user agent, as recorded in audit rows.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let socket = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let forwarded = state
            .config
            .trust_proxy
            .then(|| parts.headers.get("x-forwarded-for"))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|first| first.trim().parse::<IpAddr>().ok());
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(512).collect());
        Ok(ClientInfo {
            ip: forwarded.or(socket),
            user_agent,
        })
    }
}

impl ClientInfo {
    pub fn ip_string(&self) -> Option<String> {
        self.ip.map(|ip| ip.to_string())
    }
}

/// One limiter per guarded action, keyed by client address.
pub struct RateLimits {
    pub login: DefaultKeyedRateLimiter<IpAddr>,
    pub register: DefaultKeyedRateLimiter<IpAddr>,
    pub lookup: DefaultKeyedRateLimiter<IpAddr>,
}

fn limiter(per_window: u32, window_secs: u32) -> DefaultKeyedRateLimiter<IpAddr> {
    let burst = NonZeroU32::new(per_window.max(1)).unwrap_or(NonZeroU32::MIN);
    let period = Duration::from_secs(u64::from(window_secs.max(1))) / burst.get();
    let quota = Quota::with_period(period.max(Duration::from_nanos(1)))
        .unwrap_or_else(|| Quota::per_minute(burst))
        .allow_burst(burst);
    DefaultKeyedRateLimiter::keyed(quota)
}

impl RateLimits {
    pub fn new(config: &Config) -> RateLimits {
        let w = config.rate_limit_window_seconds;
        RateLimits {
            login: limiter(config.rate_limit_login_per_minute, w),
            register: limiter(config.rate_limit_register_per_minute, w),
            lookup: limiter(config.rate_limit_lookup_per_minute, w),
        }
    }

    /// Forgets addresses whose allowance is full again (keeps memory flat).
    pub fn shrink(&self) {
        self.login.retain_recent();
        self.register.retain_recent();
        self.lookup.retain_recent();
    }
}

/// Counts one request against `limiter`; 429 with `Retry-After` past the limit.
/// Requests with no known address share one allowance.
pub fn check(
    limiter: &DefaultKeyedRateLimiter<IpAddr>,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    let key = client.ip.unwrap_or(IpAddr::from([0, 0, 0, 0]));
    limiter.check_key(&key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        ApiError::too_many_requests(wait.as_secs_f64().ceil().clamp(1.0, 86_400.0) as u32)
    })
}
