//! Delivering the outbox: each event is logged (ids only), turned into the
//! customer email it means (rendered and stored in the same transaction;
//! see [`crate::mail`]) and into a delivery for every webhook subscribed to
//! it (see [`crate::webhooks`]), and kept as a notification record admins
//! can list.

use chrono::{DateTime, Utc};
use tourdesk_domain::EventKind;
use tourdesk_store::audit::{self, EventRow};
use tourdesk_store::messages;
use tourdesk_store::monitoring;
use tourdesk_store::webhooks::{self, NewDelivery};

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
        const BATCH: i64 = 100;
        let now = self.0.clock.now();
        let today = now.date_naive();
        // Load and render on a read connection first: the write transaction
        // (on SQLite the one writer every booking waits for) is held only
        // to store what was rendered. An event claimed below that was not
        // rendered here (it arrived meanwhile) is rendered in it.
        let mut rendered = std::collections::HashMap::new();
        {
            let mut conn = self.0.db.read().await?;
            let events = audit::undelivered(&mut conn, BATCH).await?;
            let mut data = crate::mail::EventData::load_batch(&mut conn, &events, today).await?;
            for e in &events {
                if let Some(d) = data.remove(&e.id) {
                    let r = crate::mail::render_event(e, &d, &self.0.mail, now);
                    rendered.insert(e.id, r);
                }
            }
        }
        // The writer is held for a handful of statements whatever the
        // batch's size: claim, endpoints, then one multi-row statement each
        // for the messages, the webhook deliveries and the delivered marks.
        let mut tx = self.0.db.begin().await?;
        let events = audit::claim_undelivered(&mut tx, BATCH).await?;
        let endpoints = if events.is_empty() {
            Vec::new()
        } else {
            crate::webhooks::endpoints_for_batch(&mut tx).await?
        };
        let late: Vec<_> = events
            .iter()
            .filter(|e| !rendered.contains_key(&e.id))
            .cloned()
            .collect();
        let mut late = crate::mail::EventData::load_batch(&mut tx, &late, today).await?;
        let mut outputs = Vec::with_capacity(events.len());
        for e in &events {
            let r = match (rendered.remove(&e.id), late.remove(&e.id)) {
                (Some(r), _) => r,
                (None, Some(data)) => crate::mail::render_event(e, &data, &self.0.mail, now),
                (None, None) => Err(ServiceError::internal(format!(
                    "event {} was not loaded",
                    e.id
                ))),
            };
            let messages = r.unwrap_or_else(|err| {
                // A template bug must not hold up the outbox: logged, skipped.
                tracing::error!(event_id = e.id, error = %err, "cannot render email");
                Vec::new()
            });
            outputs.push((messages, crate::webhooks::fan_out(&endpoints, e)));
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
        }
        let messages: Vec<_> = events
            .iter()
            .zip(&outputs)
            .flat_map(|(e, (m, _))| crate::mail::new_messages(e, m, &self.0.mail))
            .collect();
        messages::insert_messages(&mut tx, &messages, now).await?;
        let deliveries: Vec<_> = events
            .iter()
            .zip(&outputs)
            .flat_map(|(e, (_, d))| {
                d.iter().map(|(endpoint_id, event_type, body)| NewDelivery {
                    endpoint_id: *endpoint_id,
                    event_id: e.id,
                    event_type,
                    body,
                })
            })
            .collect();
        webhooks::insert_deliveries(&mut tx, &deliveries, now).await?;
        let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
        audit::mark_delivered(&mut tx, &ids, now).await?;
        tx.commit().await?;
        // Counted once committed: each event is delivered once, by one
        // instance, so the counters summed over instances are exact.
        for e in &events {
            count_event(e);
        }
        Ok(events.len())
    }

    /// What the metrics job reports about the outbox and what it feeds,
    /// and the utilization of each tour's upcoming departures.
    pub async fn health_snapshot(&self) -> ServiceResult<Snapshot> {
        let now = self.0.clock.now();
        let mut conn = self.0.db.read().await?;
        let (outbox_backlog, oldest) = monitoring::outbox_backlog(&mut conn).await?;
        let of = |rows: &[(String, i64)], s: &str| {
            rows.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n)
        };
        let email = monitoring::email_statuses(&mut conn).await?;
        let hooks = monitoring::webhook_statuses(&mut conn).await?;
        let utilization = monitoring::upcoming_utilization(&mut conn, now)
            .await?
            .into_iter()
            .map(|(tour, used, cap)| {
                let pct = if cap > 0 {
                    100.0 * used as f64 / cap as f64
                } else {
                    0.0
                };
                (tour, pct)
            })
            .collect();
        Ok(Snapshot {
            outbox_backlog,
            oldest_age_seconds: oldest.map_or(0, |t| (now - t).num_seconds().max(0)),
            email_queued: of(&email, "queued"),
            email_dead: of(&email, "dead"),
            webhooks_pending: of(&hooks, "pending"),
            webhooks_sending: of(&hooks, "sending"),
            webhooks_dead: of(&hooks, "dead"),
            utilization,
        })
    }
}

/// The outbox and its consumers at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub outbox_backlog: i64,
    pub oldest_age_seconds: i64,
    pub email_queued: i64,
    pub email_dead: i64,
    pub webhooks_pending: i64,
    pub webhooks_sending: i64,
    pub webhooks_dead: i64,
    /// Per tour: booked and held places over capacity of its upcoming open
    /// departures, in percent.
    pub utilization: Vec<(i64, f64)>,
}

/// The spec's business counters, from delivered events.
fn count_event(e: &EventRow) {
    let name = match e.kind() {
        Some(EventKind::BookingCreated) => "bookings_created_total",
        Some(EventKind::BookingCancelled) => "bookings_cancelled_total",
        Some(EventKind::WaitlistConverted) => "waitlist_conversions_total",
        Some(EventKind::WaitlistNotified) => "waitlist_offers_total",
        Some(EventKind::WaitlistExpired) => "waitlist_expirations_total",
        Some(EventKind::WaitlistJoined) => "waitlist_joins_total",
        _ => return,
    };
    metrics::counter!(name, "tour_id" => e.tour_id.to_string()).increment(1);
}

/// What an event type looks like (`booking.created`, `waitlist.notified`).
pub fn is_event_type(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
}
