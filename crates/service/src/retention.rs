//! Retention: pruning rows that have served their purpose, so the tables
//! the hot paths touch stay small. A background job runs one round every
//! `RETENTION_INTERVAL_MINUTES`; tests run a round directly.
//!
//! What goes (see `tourdesk_store::retention` for the exact conditions):
//! delivered outbox events `OUTBOX_RETENTION_DAYS` after delivery, and
//! email messages sent (or held for preview) that long ago,
//! idempotency keys past their replay window, manage tokens that are
//! revoked or past `MANAGE_TOKEN_DAYS_AFTER_DEPARTURE`, and login/session
//! tokens that are revoked or expired. Undelivered events and the audit
//! log are never deleted.
//!
//! Rows are deleted `batch_size` at a time, one short transaction per
//! batch, yielding between batches: on SQLite the single writer is free
//! for bookings between any two batches, on PostgreSQL few rows are locked
//! at once. Several instances may prune at once; each row goes once.

use chrono::{DateTime, NaiveDate, Utc};
use tourdesk_store::retention;

use crate::caller::Admin;
use crate::{Context, ServiceError, ServiceResult, ledger};

pub struct Retention<'a>(pub(crate) &'a Context);

/// How long what is kept; built from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Days a delivered outbox event is kept after its delivery.
    pub outbox_retention_days: u32,
    /// Rows deleted per transaction.
    pub batch_size: u32,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy {
            outbox_retention_days: 30,
            batch_size: 500,
        }
    }
}

/// What one round deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub outbox_events: u64,
    pub email_messages: u64,
    pub webhook_deliveries: u64,
    pub idempotency_keys: u64,
    pub manage_tokens: u64,
    pub auth_tokens: u64,
    /// Transactions that deleted at least one row.
    pub batches: u64,
}

impl Pruned {
    pub fn total(&self) -> u64 {
        self.outbox_events
            + self.email_messages
            + self.webhook_deliveries
            + self.idempotency_keys
            + self.manage_tokens
            + self.auth_tokens
    }
}

#[derive(Debug, Clone, Copy)]
enum Dead {
    /// Delivered before this.
    Events(DateTime<Utc>),
    /// Sent or held before this.
    Messages(DateTime<Utc>),
    /// Webhook deliveries delivered before this.
    Deliveries(DateTime<Utc>),
    /// Claimed before this.
    IdempotencyKeys(DateTime<Utc>),
    /// Revoked, or of a departure before this date.
    ManageTokens(NaiveDate),
    /// Revoked, or expired at this moment.
    AuthTokens(DateTime<Utc>),
}

impl Retention<'_> {
    /// One retention round: deletes every row past its period, in batches,
    /// and returns how many of each kind went. The cut-offs are fixed when
    /// the round starts, so a round always ends.
    pub async fn prune(&self, _admin: &Admin, policy: &RetentionPolicy) -> ServiceResult<Pruned> {
        if policy.batch_size == 0 {
            return Err(ServiceError::invalid("batch_size", "must be at least 1"));
        }
        let now = self.0.clock.now();
        let settings = &self.0.settings;
        let mut pruned = Pruned::default();
        let events_before = now - chrono::Duration::days(i64::from(policy.outbox_retention_days));
        pruned.outbox_events = self
            .drain(Dead::Events(events_before), policy, &mut pruned.batches)
            .await?;
        pruned.email_messages = self
            .drain(Dead::Messages(events_before), policy, &mut pruned.batches)
            .await?;
        pruned.webhook_deliveries = self
            .drain(Dead::Deliveries(events_before), policy, &mut pruned.batches)
            .await?;
        pruned.idempotency_keys = self
            .drain(
                Dead::IdempotencyKeys(settings.idempotency_keys_valid_from(now)),
                policy,
                &mut pruned.batches,
            )
            .await?;
        pruned.manage_tokens = self
            .drain(
                Dead::ManageTokens(settings.manage_tokens_valid_from(now)),
                policy,
                &mut pruned.batches,
            )
            .await?;
        pruned.auth_tokens = self
            .drain(Dead::AuthTokens(now), policy, &mut pruned.batches)
            .await?;
        Ok(pruned)
    }

    /// Deletes batches of one kind until a batch comes back short.
    async fn drain(
        &self,
        dead: Dead,
        policy: &RetentionPolicy,
        batches: &mut u64,
    ) -> ServiceResult<u64> {
        let limit = i64::from(policy.batch_size);
        let mut total = 0;
        loop {
            let n = ledger::retry(|| self.delete_batch(dead, limit)).await?;
            total += n;
            if n > 0 {
                *batches += 1;
            }
            if n < policy.batch_size.into() {
                return Ok(total);
            }
            // Let the bookings waiting for the writer (SQLite) or for a
            // connection go first.
            tokio::task::yield_now().await;
        }
    }

    async fn delete_batch(&self, dead: Dead, limit: i64) -> ServiceResult<u64> {
        let mut tx = self.0.db.begin().await?;
        let n = match dead {
            Dead::Events(before) => {
                retention::delete_delivered_events(&mut tx, before, limit).await?
            }
            Dead::Messages(before) => {
                retention::delete_old_messages(&mut tx, before, limit).await?
            }
            Dead::Deliveries(before) => {
                retention::delete_delivered_webhooks(&mut tx, before, limit).await?
            }
            Dead::IdempotencyKeys(before) => {
                retention::delete_idempotency_keys(&mut tx, before, limit).await?
            }
            Dead::ManageTokens(valid_from) => {
                retention::delete_dead_manage_tokens(&mut tx, valid_from, limit).await?
            }
            Dead::AuthTokens(now) => {
                retention::delete_dead_auth_tokens(&mut tx, now, limit).await?
            }
        };
        tx.commit().await?;
        Ok(n)
    }
}
