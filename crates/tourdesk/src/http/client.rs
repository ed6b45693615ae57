//! Who is calling, from where: the client address (the socket's, or the
//! X-Forwarded-For entry the outermost trusted proxy wrote), the user agent, and
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
        let forwarded = forwarded_client(&parts.headers, state.config.trust_proxy);
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

/// The client address behind `hops` trusted proxies: the X-Forwarded-For
/// entry `hops` places from the right (each proxy appends the address it
/// saw, so entries further left were written by the client and are not
/// believed); the leftmost entry when there are fewer. None when `hops` is 0
/// or the entry is not an address.
pub fn forwarded_client(headers: &axum::http::HeaderMap, hops: u32) -> Option<IpAddr> {
    if hops == 0 {
        return None;
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    let hops = usize::try_from(hops).unwrap_or(usize::MAX);
    let pick = entries.len().saturating_sub(hops);
    entries.get(pick)?.parse::<IpAddr>().ok()
}

impl ClientInfo {
    pub fn ip_string(&self) -> Option<String> {
        self.ip.map(|ip| ip.to_string())
    }
}

/// One limiter per guarded action, keyed by client address (and, for
/// bookings and waitlist joins, also by email). `None` is a limit turned off.
pub struct RateLimits {
    pub login: DefaultKeyedRateLimiter<IpAddr>,
    pub register: DefaultKeyedRateLimiter<IpAddr>,
    pub lookup: DefaultKeyedRateLimiter<IpAddr>,
    pub booking: Option<DefaultKeyedRateLimiter<IpAddr>>,
    pub booking_email: Option<DefaultKeyedRateLimiter<String>>,
}

fn limiter<K: std::hash::Hash + Eq + Clone>(
    per_window: u32,
    window_secs: u32,
) -> DefaultKeyedRateLimiter<K> {
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
            booking: (config.rate_limit_booking_per_minute > 0)
                .then(|| limiter(config.rate_limit_booking_per_minute, w)),
            booking_email: (config.rate_limit_booking_per_email > 0)
                .then(|| limiter(config.rate_limit_booking_per_email, w)),
        }
    }

    /// Forgets addresses whose allowance is full again (keeps memory flat).
    pub fn shrink(&self) {
        self.login.retain_recent();
        self.register.retain_recent();
        self.lookup.retain_recent();
        if let Some(l) = &self.booking {
            l.retain_recent();
        }
        if let Some(l) = &self.booking_email {
            l.retain_recent();
        }
    }
}

/// Counts one request against `limiter`; 429 with `Retry-After` past the limit.
/// Requests with no known address share one allowance.
pub fn check(
    limiter: &DefaultKeyedRateLimiter<IpAddr>,
    client: &ClientInfo,
) -> Result<(), ApiError> {
    check_key(limiter, &client.ip.unwrap_or(IpAddr::from([0, 0, 0, 0])))
}

fn check_key<K: std::hash::Hash + Eq + Clone>(
    limiter: &DefaultKeyedRateLimiter<K>,
    key: &K,
) -> Result<(), ApiError> {
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        ApiError::too_many_requests(wait.as_secs_f64().ceil().clamp(1.0, 86_400.0) as u32)
    })
}

/// Booking creates and waitlist joins: one allowance per client address and
/// one per email (the one given, else the account's), so nobody can take
/// every seat in a burst. Admins are not limited.
pub fn check_booking(
    limits: &RateLimits,
    caller: &tourdesk_service::Caller,
    email: Option<&str>,
) -> Result<(), ApiError> {
    if caller.is_admin() {
        return Ok(());
    }
    if let Some(l) = &limits.booking {
        let ip = caller
            .ip
            .as_deref()
            .and_then(|ip| ip.parse::<IpAddr>().ok())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        check_key(l, &ip)?;
    }
    let email = email.or(caller.user.as_ref().map(|u| u.email.as_str()));
    if let (Some(l), Some(email)) = (&limits.booking_email, email) {
        check_key(l, &email.trim().to_lowercase())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    use super::forwarded_client;

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    #[test]
    fn the_client_cannot_choose_its_address() {
        let spoofed = xff(&["6.6.6.6, 203.0.113.9"]);
        assert_eq!(forwarded_client(&spoofed, 0), None);
        assert_eq!(
            forwarded_client(&spoofed, 1).map(|a| a.to_string()),
            Some("203.0.113.9".into())
        );
        let two = xff(&["6.6.6.6", "203.0.113.9, 10.0.0.2"]);
        assert_eq!(
            forwarded_client(&two, 2).map(|a| a.to_string()),
            Some("203.0.113.9".into())
        );
        assert_eq!(
            forwarded_client(&xff(&["203.0.113.9"]), 3).map(|a| a.to_string()),
            Some("203.0.113.9".into())
        );
        assert_eq!(forwarded_client(&xff(&["not-an-ip"]), 1), None);
    }
}
