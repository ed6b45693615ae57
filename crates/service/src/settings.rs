//! The operator's rules from configuration, and the clock.

use chrono::{DateTime, Utc};
use tourdesk_domain::Rate;
use tourdesk_domain::policy::{PartyRules, RefundTier};

/// How long an Idempotency-Key replays its booking.
const IDEMPOTENCY_REPLAY_HOURS: i64 = 24;

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
            max_batch: 64,
            delay: std::time::Duration::from_millis(1),
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
    fn default() -> Self {
        Settings {
            booking_advance_days: 90,
            booking_cutoff_hours: 24,
            min_booking_size: 1,
            max_booking_size: 50,
            waitlist_notification_expiry_hours: 24,
            waitlist_auto_process: true,
            child_discount: Rate::from_ppm(300_000).unwrap_or(Rate::ZERO),
            tax_rate: Rate::from_ppm(100_000).unwrap_or(Rate::ZERO),
            booking_reference_prefix: "ST".into(),
            auth_token_ttl_hours: 24 * 7,
            max_pending_per_email: 10,
            manage_token_days_after_departure: 30,
            cancellation_tiers: vec![RefundTier {
                min_hours_before: 0,
                refund_percent: 100,
            }],
            cancellation_fee_cents: 0,
            party_rules: PartyRules::default(),
            infant_max_age: 2,
            child_max_age: 12,
            group_commit: GroupCommitSettings::default(),
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
