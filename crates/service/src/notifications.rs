//! Delivering the outbox: each event is logged (ids only), turned into the
//! customer email it means (rendered and stored in the same transaction;
//! see [`crate::mail`]) and into a delivery for every webhook subscribed to
//! it (see [`crate::webhooks`]), and kept as a notification record admins
//! can list.

use chrono::{DateTime, Utc};
use tourdesk_store::audit::{self, EventRow};

use crate::caller::Admin;
use crate::{Context, ServiceError, ServiceResult};

pub struct Notifications<'a>(pub(crate) &'a Context);

impl Notifications<'_> {
    pub async fn list(
        &self,
        _admin: &Admin,
        event_type: Option<&str>,
        since: Option<DateTime<Utc>>,
        limit: i64,
    ) -> ServiceResult<Vec<EventRow>> {
        if !(1..=500).contains(&limit) {
            return Err(ServiceError::invalid("limit", "must be between 1 and 500"));
        }
        if let Some(t) = event_type
            && !is_event_type(t)
        {
            return Err(ServiceError::invalid(
                "type",
                "must be an event type such as booking.created (1 to 64 of a-z, 0-9, _ and .)",
            ));
        }
        let mut conn = self.0.db.read().await?;
        Ok(audit::list_events(&mut conn, event_type, since, limit).await?)
    }

    /// Delivers a batch of undelivered events (several instances may run
    /// this at once; each event is taken by one). Returns how many.
    pub async fn deliver_batch(&self) -> ServiceResult<usize> {
        let mut tx = self.0.db.begin().await?;
        let events = audit::claim_undelivered(&mut tx, 100).await?;
        let now = self.0.clock.now();
        let today = now.date_naive();
        for e in &events {
            let data = crate::mail::EventData::load(&mut tx, e, today).await?;
            match crate::mail::render_event(e, &data, &self.0.mail, now) {
                Ok(rendered) => {
                    crate::mail::store_rendered(&mut tx, e, &rendered, &self.0.mail, now).await?
                }
                // A template bug must not hold up the outbox: logged, skipped.
                Err(err) => tracing::error!(event_id = e.id, error = %err, "cannot render email"),
            }
            // Ids only: the payload carries the customer's email and the
            // booking reference, which together mint a manage token.
            let booking_id = e.payload.0.get("booking_id").and_then(|v| v.as_i64());
            let entry_id = e
                .payload
                .0
                .get("waitlist_entry_id")
                .and_then(|v| v.as_i64());
            tracing::info!(
                notification = %e.event_type,
                event_id = e.id,
                tour_id = e.tour_id,
                booking_id,
                waitlist_entry_id = entry_id,
                "notification"
            );
            crate::webhooks::fan_out(&mut tx, e, now).await?;
            audit::mark_delivered(&mut tx, e.id, now).await?;
        }
        tx.commit().await?;
        Ok(events.len())
    }
}

/// What an event type looks like (`booking.created`, `waitlist.notified`).
pub fn is_event_type(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
}
