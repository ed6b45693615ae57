//! Customer email, rendered from outbox events (#15).
//!
//! When the outbox delivers an event, [`render_event`] turns it into the
//! messages it means for customers (a booking confirmation, a waitlist
//! offer, ...), which are stored in `email_messages` in the same
//! transaction: `queued` when an SMTP server is configured, `held` (kept for
//! the console's preview) when not. The binary's sender job claims queued
//! messages with a lease ([`Mail::claim_due`]), sends them outside any
//! transaction, and records the outcome; a failure is retried with
//! exponential backoff and, after [`MailSettings::max_attempts`], is
//! dead-lettered for an admin to retry.
//!
//! Templates live in `templates/email/<language>/`: `<kind>.txt` (its first
//! line is the subject) and `<kind>.html`, rendered with minijinja (HTML
//! escaped by default). Dates and times are the tour's local time with the
//! zone named.

use std::sync::LazyLock;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use minijinja::{Environment, context};
use serde::Serialize;
use serde_json::Value;
use tourdesk_domain::{EventKind, WaitlistStatus};
use tourdesk_store::Tx;
use tourdesk_store::audit::EventRow;
use tourdesk_store::bookings::{self, BookingRow};
use tourdesk_store::messages::{self, MessageRow, NewMessage};
use tourdesk_store::slots::{self, SlotRow};
use tourdesk_store::tours::{self, TourRow};
use tourdesk_store::waitlist::{self, WaitlistRow};

use crate::caller::Admin;
use crate::{Context, ServiceError, ServiceResult};

mod format;
mod render;
mod templates;
use format::*;
pub(crate) use render::*;
use templates::*;

/// How email is addressed and whether it is sent.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// The origin links point at (`https://book.spirittours.com`), no
    /// trailing slash.
    pub public_base_url: String,
    /// The operator's name, shown in every message.
    pub operator_name: String,
    /// The brand colour (`#RRGGBB`) of the messages' buttons.
    pub brand_color: String,
    /// The absolute address of the operator's logo, shown atop each message.
    pub logo_url: Option<String>,
    /// Where customers' questions go (shown, and the Reply-To).
    pub support_email: Option<String>,
    /// An SMTP server is configured: messages are queued to send.
    pub delivery_enabled: bool,
    /// Attempts before a message is dead-lettered.
    pub max_attempts: u32,
}

impl Default for MailSettings {
    fn default() -> Self {
        MailSettings {
            public_base_url: "http://127.0.0.1:8080".into(),
            operator_name: "Tourdesk".into(),
            brand_color: "#0b5cad".into(),
            logo_url: None,
            support_email: None,
            delivery_enabled: false,
            max_attempts: 8,
        }
    }
}

/// One message, rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub kind: &'static str,
    pub to_email: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    /// The booking's calendar file, attached.
    pub ics: Option<String>,
    /// The waitlist entry its claim link opens.
    pub waitlist_entry_id: Option<i64>,
}

/// Stands in a stored claim link for the manage token minted when the
/// email is sent (no token is ever stored in plaintext).
pub const CLAIM_TOKEN_PLACEHOLDER: &str = "TOKEN-MADE-WHEN-SENT";

/// The pause before attempt `attempts + 1`: 1, 2, 4, ... minutes, at most 6 h.
pub fn backoff(attempts: i64) -> Duration {
    let exp = u32::try_from(attempts.clamp(1, 30) - 1).unwrap_or(0);
    Duration::minutes(2i64.saturating_pow(exp).min(360))
}

/// How long a claimed message is leased to its sender.
const LEASE_MINUTES: i64 = 5;

pub struct Mail<'a>(pub(crate) &'a Context);

impl Mail<'_> {
    /// Queues the reminder of every booking departing within `hours` that
    /// has not had one (an outbox event `booking.reminder` each, rendered
    /// like every other message). A booking made inside that window gets
    /// none: its confirmation just arrived. Returns how many.
    pub async fn queue_reminders(&self, _admin: &Admin, hours: u32) -> ServiceResult<usize> {
        if hours == 0 {
            return Ok(0);
        }
        let now = self.0.clock.now();
        let until = now + Duration::hours(i64::from(hours));
        let mut total = 0;
        loop {
            let mut tx = self.0.db.begin().await?;
            let ids = messages::take_due_reminders(&mut tx, now, until, 200).await?;
            for id in &ids {
                let Some(b) = bookings::booking_by_id(&mut tx, *id).await? else {
                    continue;
                };
                if b.created_at > b.starts_at - Duration::hours(i64::from(hours)) {
                    continue;
                }
                crate::ledger::booking_event(&mut tx, EventKind::BookingReminder, &b, now).await?;
                total += 1;
            }
            tx.commit().await?;
            if ids.len() < 200 {
                return Ok(total);
            }
        }
    }

    /// Claims up to `limit` due messages for sending (each leased for a few
    /// minutes, so a crashed sender's messages come due again).
    pub async fn claim_due(&self, limit: i64) -> ServiceResult<Vec<MessageRow>> {
        let now = self.0.clock.now();
        let mut tx = self.0.db.begin().await?;
        let mut rows =
            messages::claim_due(&mut tx, now, now + Duration::minutes(LEASE_MINUTES), limit)
                .await?;
        // A claim link gets its manage token now, kept only as a hash.
        for m in rows.iter_mut() {
            let Some(entry) = m.waitlist_entry_id else {
                continue;
            };
            if !m.text_body.contains(CLAIM_TOKEN_PLACEHOLDER) {
                continue;
            }
            let token = crate::accounts::new_secret("tdm");
            bookings::insert_manage_token(
                &mut tx,
                m.tour_id,
                None,
                Some(entry),
                bookings::TokenKind::Email,
                &crate::accounts::hash_secret(&token),
                now,
            )
            .await?;
            m.text_body = m.text_body.replace(CLAIM_TOKEN_PLACEHOLDER, &token);
            m.html_body = m.html_body.replace(CLAIM_TOKEN_PLACEHOLDER, &token);
        }
        tx.commit().await?;
        Ok(rows)
    }

    pub async fn mark_sent(&self, id: i64) -> ServiceResult<()> {
        let now = self.0.clock.now();
        let mut tx = self.0.db.begin().await?;
        messages::mark_sent(&mut tx, id, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a failed attempt: retried after [`backoff`], or dead-lettered
    /// once the attempts are used up (or at once when `permanent`).
    pub async fn mark_failed(
        &self,
        m: &MessageRow,
        error: &str,
        permanent: bool,
    ) -> ServiceResult<()> {
        let now = self.0.clock.now();
        let max = i64::from(self.0.mail.max_attempts.max(1));
        let retry_at = (!permanent && m.attempts < max).then(|| now + backoff(m.attempts));
        let error: String = error.chars().take(500).collect();
        let mut tx = self.0.db.begin().await?;
        messages::mark_failed(&mut tx, m.id, &error, retry_at).await?;
        tx.commit().await?;
        if retry_at.is_none() {
            tracing::warn!(
                message_id = m.id,
                attempts = m.attempts,
                "email dead-lettered"
            );
        }
        Ok(())
    }

    pub async fn list(
        &self,
        _admin: &Admin,
        status: Option<&str>,
        to_email: Option<&str>,
        limit: i64,
    ) -> ServiceResult<Vec<MessageRow>> {
        if !(1..=500).contains(&limit) {
            return Err(ServiceError::invalid("limit", "must be between 1 and 500"));
        }
        if let Some(s) = status
            && !matches!(s, "queued" | "sent" | "dead" | "held")
        {
            return Err(ServiceError::invalid(
                "status",
                "must be one of queued, sent, dead, held",
            ));
        }
        let mut conn = self.0.db.read().await?;
        Ok(messages::list_messages(&mut conn, status, to_email, limit).await?)
    }

    pub async fn get(&self, _admin: &Admin, id: i64) -> ServiceResult<MessageRow> {
        let mut conn = self.0.db.read().await?;
        messages::message_by_id(&mut conn, id)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("message {id} not found")))
    }

    /// Sends a dead (or held) message again: back in the queue with fresh
    /// attempts. Refused when no SMTP server is configured.
    pub async fn retry(&self, admin: &Admin, id: i64) -> ServiceResult<MessageRow> {
        if !self.0.mail.delivery_enabled {
            return Err(ServiceError::conflict(
                "email_off",
                "email delivery is off (no SMTP_URL): the message can be previewed, not sent",
            ));
        }
        let now = self.0.clock.now();
        let mut tx = self.0.db.begin().await?;
        let requeued = messages::requeue(&mut tx, id, now).await?;
        tx.commit().await?;
        let m = self.get(admin, id).await?;
        if !requeued {
            return Err(ServiceError::conflict(
                "not_retryable",
                format!(
                    "message {id} is {}; only dead or held messages are sent again",
                    m.status
                ),
            ));
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests;
