//! The operator's rules from configuration, and the clock.

use std::num::NonZeroU32;

use chrono::{DateTime, Utc};
use tourdesk_domain::policy::{CancellationPolicy, PartyRules, RefundTier};
use tourdesk_domain::{Currency, Rate};

/// How long an Idempotency-Key replays its booking.
const IDEMPOTENCY_REPLAY_HOURS: i64 = 24;

/// The configuration's defaults, defined once: the server's flags
/// (`tourdesk serve --help`) and [`Settings::default`] (tests, tools) both
/// take them from here, and the console reads them back through
/// `GET /api/calendar/admin/settings`.
pub mod defaults {
    pub const BOOKING_ADVANCE_DAYS: u32 = 90;
    pub const BOOKING_CUTOFF_HOURS: u32 = 24;
    pub const MIN_BOOKING_SIZE: u32 = 1;
    pub const MAX_BOOKING_SIZE: u32 = 50;
    pub const WAITLIST_NOTIFICATION_EXPIRY_HOURS: u32 = 24;
    pub const WAITLIST_AUTO_PROCESS: bool = true;
    /// A decimal fraction.
    pub const CHILD_DISCOUNT: &str = "0.30";
    /// A decimal fraction.
    pub const TAX_RATE: &str = "0.10";
    pub const BOOKING_REFERENCE_PREFIX: &str = "ST";
    pub const AUTH_TOKEN_TTL_HOURS: u32 = 24 * 7;
    pub const MAX_PENDING_PER_EMAIL: u32 = 10;
    pub const MANAGE_TOKEN_DAYS_AFTER_DEPARTURE: u32 = 30;
    /// `hours:percent` tiers: a full refund until the departure.
    pub const CANCELLATION_POLICY: &str = "0:100";
    /// In the major unit.
    pub const CANCELLATION_FEE: &str = "0";
    pub const INFANTS_TAKE_SEAT: bool = true;
    /// 0: no limit.
    pub const MAX_MINORS_PER_ADULT: u32 = 0;
    /// 0: no limit.
    pub const MAX_INFANTS_PER_ADULT: u32 = 0;
    pub const INFANT_MAX_AGE: u32 = 2;
    pub const CHILD_MAX_AGE: u32 = 12;
    pub const GROUP_COMMIT_MAX_BATCH: u32 = 64;
    pub const GROUP_COMMIT_DELAY_MS: u32 = 1;
    pub const CALENDAR_CACHE_DEPARTURES: u32 = 200_000;
    pub const CALENDAR_CACHE_QUIET_MS: u32 = 50;
}

/// Booking rules, as configured (see the README's configuration table).
#[derive(Debug, Clone)]
pub struct Settings {
    pub booking_advance_days: u32,
    pub booking_cutoff_hours: u32,
    pub min_booking_size: u32,
    pub max_booking_size: u32,
    pub waitlist_notification_expiry_hours: u32,
    pub waitlist_auto_process: bool,
    pub child_discount: Rate,
    pub tax_rate: Rate,
    pub booking_reference_prefix: String,
    pub auth_token_ttl_hours: u32,
    /// Most pending guest bookings one email may hold; 0 is no cap.
    pub max_pending_per_email: u32,
    /// Days after the departure a manage token keeps working.
    pub manage_token_days_after_departure: u32,
    /// The default cancellation policy's tiers (a tour may have its own).
    pub cancellation_tiers: Vec<RefundTier>,
    /// The default policy's fee, in hundredths of the major unit.
    pub cancellation_fee_cents: i64,
    /// The default party rules (a tour may have its own).
    pub party_rules: PartyRules,
    /// Oldest age that is an infant, and a child (the party step's bands).
    pub infant_max_age: u32,
    pub child_max_age: u32,
    /// How concurrent booking creates share transactions (see [`crate::group`]).
    pub group_commit: GroupCommitSettings,
    /// What the calendar cache keeps (see [`crate::availability`]).
    pub calendar_cache: CalendarCacheSettings,
}

/// The calendar cache's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CalendarCacheSettings {
    /// Departures held at most (about 100 bytes each); 0 turns it off.
    pub departures: usize,
    /// How long the database must have been without a commit before reads
    /// fill the cache (until then they read the database directly, as
    /// every fill would be thrown away by the next commit).
    pub quiet: std::time::Duration,
}

impl Default for CalendarCacheSettings {
    fn default() -> Self {
        CalendarCacheSettings {
            departures: defaults::CALENDAR_CACHE_DEPARTURES as usize,
            quiet: std::time::Duration::from_millis(u64::from(defaults::CALENDAR_CACHE_QUIET_MS)),
        }
    }
}

/// Group commit's bounds: how many requests one batch serves, and how long
/// a queued request may wait for its batch to form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupCommitSettings {
    /// Requests per batch at most; 1 turns batching off.
    pub max_batch: usize,
    /// Longest wait for a batch to form once requests queue.
    pub delay: std::time::Duration,
}

impl Default for GroupCommitSettings {
    fn default() -> Self {
        GroupCommitSettings {
            max_batch: defaults::GROUP_COMMIT_MAX_BATCH as usize,
            delay: std::time::Duration::from_millis(u64::from(defaults::GROUP_COMMIT_DELAY_MS)),
        }
    }
}

impl Settings {
    /// Manage tokens of departures before this date no longer open anything.
    pub fn manage_tokens_valid_from(&self, now: DateTime<Utc>) -> chrono::NaiveDate {
        now.date_naive() - chrono::Days::new(u64::from(self.manage_token_days_after_departure))
    }

    /// Idempotency keys claimed before this no longer replay (the promised
    /// replay window is 24 hours); retention deletes them.
    pub fn idempotency_keys_valid_from(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - chrono::Duration::hours(IDEMPOTENCY_REPLAY_HOURS)
    }
}

impl Default for Settings {
    /// The configuration's defaults ([`defaults`]); a default that does not
    /// parse is a bug a unit test catches.
    fn default() -> Self {
        use defaults as d;
        let rate = |text: &str| text.parse::<Rate>().unwrap_or(Rate::ZERO);
        Settings {
            booking_advance_days: d::BOOKING_ADVANCE_DAYS,
            booking_cutoff_hours: d::BOOKING_CUTOFF_HOURS,
            min_booking_size: d::MIN_BOOKING_SIZE,
            max_booking_size: d::MAX_BOOKING_SIZE,
            waitlist_notification_expiry_hours: d::WAITLIST_NOTIFICATION_EXPIRY_HOURS,
            waitlist_auto_process: d::WAITLIST_AUTO_PROCESS,
            child_discount: rate(d::CHILD_DISCOUNT),
            tax_rate: rate(d::TAX_RATE),
            booking_reference_prefix: d::BOOKING_REFERENCE_PREFIX.into(),
            auth_token_ttl_hours: d::AUTH_TOKEN_TTL_HOURS,
            max_pending_per_email: d::MAX_PENDING_PER_EMAIL,
            manage_token_days_after_departure: d::MANAGE_TOKEN_DAYS_AFTER_DEPARTURE,
            cancellation_tiers: CancellationPolicy::parse_tiers(d::CANCELLATION_POLICY)
                .unwrap_or_default(),
            cancellation_fee_cents: Currency::usd()
                .parse_amount(d::CANCELLATION_FEE)
                .unwrap_or(0),
            party_rules: PartyRules::new(
                d::INFANTS_TAKE_SEAT,
                NonZeroU32::new(d::MAX_MINORS_PER_ADULT).map(NonZeroU32::get),
                NonZeroU32::new(d::MAX_INFANTS_PER_ADULT).map(NonZeroU32::get),
            )
            .unwrap_or_default(),
            infant_max_age: d::INFANT_MAX_AGE,
            child_max_age: d::CHILD_MAX_AGE,
            group_commit: GroupCommitSettings::default(),
            calendar_cache: CalendarCacheSettings::default(),
        }
    }
}

/// The source of "now". The real clock everywhere; tests of time-dependent
/// rules (cutoffs, expiries) inject their own.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_parses() {
        use defaults as d;
        let s = Settings::default();
        assert_eq!(s.child_discount, d::CHILD_DISCOUNT.parse().unwrap());
        assert_eq!(s.tax_rate, d::TAX_RATE.parse().unwrap());
        assert_eq!(
            s.cancellation_tiers,
            CancellationPolicy::parse_tiers(d::CANCELLATION_POLICY).unwrap()
        );
        assert!(!s.cancellation_tiers.is_empty());
        assert_eq!(
            s.cancellation_fee_cents,
            Currency::usd().parse_amount(d::CANCELLATION_FEE).unwrap()
        );
        assert_eq!(s.party_rules.infants_take_seat, d::INFANTS_TAKE_SEAT);
    }
}
