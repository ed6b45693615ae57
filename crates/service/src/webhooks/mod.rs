//! Signed webhooks: endpoints admins register, a delivery per endpoint and
//! outbox event (fanned out by [`crate::notifications`] in the transaction
//! that delivers the event), and the bookkeeping of each attempt. Sending
//! itself (HTTP, signing) is the server's job; this module decides what is
//! sent, to whom, when it is tried again and when it is given up.
//!
//! Event types are a public contract, named for receivers; the outbox's
//! own names map onto them through `EventKind::public_name`.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use tourdesk_domain::EventKind;
use tourdesk_store::Tx;
use tourdesk_store::audit::EventRow;
use tourdesk_store::webhooks::{
    self as store, AttemptRow, DeliveryRow, EndpointFields, EndpointRow, NewAttempt, Next,
};

use crate::caller::Admin;
use crate::{Context, ServiceError, ServiceResult};

mod validate;
pub use validate::*;

/// The event types a webhook can subscribe to, by their public names (the
/// outbox kinds that have one; see `EventKind::public_name`).
pub fn event_types() -> impl Iterator<Item = &'static str> {
    EventKind::ALL.iter().filter_map(|k| k.public_name())
}

/// Every event type, as an endpoint's `events` may say.
pub const ALL_EVENTS: &str = "*";

const MAX_URL: usize = 2048;
const MAX_DESCRIPTION: usize = 200;
const MAX_ATTEMPT_EXCERPT: usize = 512;

/// The JSON body sent for an event: fixed when the delivery is queued, so
/// every attempt and replay sends the same bytes (and the same `id`, which
/// receivers use to drop duplicates).
pub fn event_body(e: &EventRow, public: &str) -> String {
    json!({
        "id": event_id(e.id),
        "type": public,
        "created_at": e.created_at,
        "tour_id": e.tour_id,
        "data": e.payload.0,
    })
    .to_string()
}

/// The public id of an outbox event (`evt_42`).
pub fn event_id(id: i64) -> String {
    format!("evt_{id}")
}

/// How long to wait after the `attempts`-th failed attempt: 30 s, 1, 2,
/// 4 ... minutes, at most 6 hours.
pub fn backoff(attempts: i64) -> Duration {
    let exp = attempts.saturating_sub(1).clamp(0, 16) as u32;
    Duration::seconds((30i64 << exp).min(6 * 3600))
}

/// The endpoints a batch of events fans out to, read once per batch in the
/// delivering transaction (not once per event: on SQLite that transaction
/// holds the writer).
pub(crate) async fn endpoints_for_batch(tx: &mut Tx) -> ServiceResult<Vec<EndpointRow>> {
    Ok(store::list_endpoints(tx).await?)
}

/// What `e` fans out to: a delivery for every endpoint subscribed to it,
/// as (endpoint, public event type, body), queued by the transaction
/// delivering the event. A paused endpoint's deliveries are queued too:
/// they wait, and go when it is resumed.
pub(crate) fn fan_out(endpoints: &[EndpointRow], e: &EventRow) -> Vec<(i64, &'static str, String)> {
    let Some(public) = e.kind().and_then(EventKind::public_name) else {
        return Vec::new();
    };
    let mut body = None;
    endpoints
        .iter()
        .filter(|ep| subscribes(&ep.events, public))
        .map(|ep| {
            let body = body.get_or_insert_with(|| event_body(e, public)).clone();
            (ep.id, public, body)
        })
        .collect()
}

fn subscribes(events: &str, public: &str) -> bool {
    events
        .split_whitespace()
        .any(|t| t == ALL_EVENTS || t == public)
}

/// An endpoint as an admin registers it.
#[derive(Debug, Clone, Default)]
pub struct EndpointInput {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    /// The signing secret; a new one is made when absent.
    pub secret: Option<String>,
    pub description: Option<String>,
    pub is_active: Option<bool>,
}

/// A delivery claimed for sending, with where and how to sign it.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub delivery: DeliveryRow,
    pub url: String,
    pub secret: String,
}

/// What an attempt found out, as the sender saw it.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub attempted_at: DateTime<Utc>,
    pub status_code: Option<u16>,
    pub latency_ms: i64,
    /// Why it failed (`None`: a 2xx answer).
    pub error: Option<String>,
    /// The start of what the receiver answered.
    pub response_excerpt: Option<String>,
    /// Trying again cannot help (the URL is not HTTP(S), say).
    pub permanent: bool,
}

pub struct Webhooks<'a>(pub(crate) &'a Context);

impl Webhooks<'_> {
    pub async fn list(&self, _admin: &Admin) -> ServiceResult<Vec<EndpointRow>> {
        let mut conn = self.0.db.read().await?;
        Ok(store::list_endpoints(&mut conn).await?)
    }

    pub async fn get(&self, _admin: &Admin, id: i64) -> ServiceResult<EndpointRow> {
        let mut conn = self.0.db.read().await?;
        store::endpoint_by_id(&mut conn, id)
            .await?
            .ok_or_else(|| endpoint_not_found(id))
    }

    /// Registers an endpoint; returns it and its secret (shown this once).
    pub async fn create(
        &self,
        _admin: &Admin,
        input: EndpointInput,
    ) -> ServiceResult<(EndpointRow, String)> {
        let url = check_url(input.url.as_deref().ok_or_else(|| {
            ServiceError::invalid(
                "url",
                "is required (the https:// address to POST events to)",
            )
        })?)?;
        let events = check_events(input.events.as_deref().ok_or_else(|| {
            ServiceError::invalid(
                "events",
                "is required: a list of event types, or [\"*\"] for all",
            )
        })?)?;
        let secret = match input.secret.as_deref() {
            Some(s) => check_secret(s)?,
            None => crate::accounts::new_secret("whsec"),
        };
        let description = check_description(input.description.as_deref().unwrap_or(""))?;
        let now = self.0.clock.now();
        let mut tx = self.0.db.begin().await?;
        let row = store::insert_endpoint(
            &mut tx,
            &EndpointFields {
                url: &url,
                description: &description,
                events: &events,
                secret: &secret,
                is_active: input.is_active.unwrap_or(true),
            },
            now,
        )
        .await?;
        tx.commit().await?;
        tracing::info!(webhook_id = row.id, "webhook endpoint registered");
        Ok((row, secret))
    }

    /// Changes what is given; a new `secret` is returned (shown this once).
    pub async fn update(
        &self,
        _admin: &Admin,
        id: i64,
        input: EndpointInput,
    ) -> ServiceResult<(EndpointRow, Option<String>)> {
        let url = input.url.as_deref().map(check_url).transpose()?;
        let events = input.events.as_deref().map(check_events).transpose()?;
        let secret = input.secret.as_deref().map(check_secret).transpose()?;
        let description = input
            .description
            .as_deref()
            .map(check_description)
            .transpose()?;
        self.change(id, |old| EndpointChange {
            url: url.clone().unwrap_or(old.url.clone()),
            events: events.clone().unwrap_or(old.events.clone()),
            secret: secret.clone().unwrap_or(old.secret.clone()),
            description: description.clone().unwrap_or(old.description.clone()),
            is_active: input.is_active.unwrap_or(old.is_active),
        })
        .await
        .map(|row| (row, secret))
    }

    /// Replaces the signing secret with a new random one, returned once.
    pub async fn rotate_secret(
        &self,
        _admin: &Admin,
        id: i64,
    ) -> ServiceResult<(EndpointRow, String)> {
        let secret = crate::accounts::new_secret("whsec");
        let row = self
            .change(id, |old| EndpointChange {
                url: old.url.clone(),
                events: old.events.clone(),
                secret: secret.clone(),
                description: old.description.clone(),
                is_active: old.is_active,
            })
            .await?;
        Ok((row, secret))
    }

    async fn change(
        &self,
        id: i64,
        f: impl Fn(&EndpointRow) -> EndpointChange,
    ) -> ServiceResult<EndpointRow> {
        let now = self.0.clock.now();
        let mut tx = self.0.db.begin().await?;
        let old = store::endpoint_by_id(&mut tx, id)
            .await?
            .ok_or_else(|| endpoint_not_found(id))?;
        let new = f(&old);
        let row = store::update_endpoint(
            &mut tx,
            id,
            &EndpointFields {
                url: &new.url,
                description: &new.description,
                events: &new.events,
                secret: &new.secret,
                is_active: new.is_active,
            },
            now,
        )
        .await?
        .ok_or_else(|| endpoint_not_found(id))?;
        tx.commit().await?;
        Ok(row)
    }

    /// Deletes an endpoint with its delivery log.
    pub async fn delete(&self, _admin: &Admin, id: i64) -> ServiceResult<()> {
        let mut tx = self.0.db.begin().await?;
        if !store::delete_endpoint(&mut tx, id).await? {
            return Err(endpoint_not_found(id));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deliveries, newest first.
    pub async fn deliveries(
        &self,
        _admin: &Admin,
        endpoint_id: Option<i64>,
        status: Option<&str>,
        limit: i64,
    ) -> ServiceResult<Vec<DeliveryRow>> {
        if !(1..=500).contains(&limit) {
            return Err(ServiceError::invalid("limit", "must be between 1 and 500"));
        }
        if let Some(s) = status
            && !matches!(s, "pending" | "sending" | "delivered" | "dead")
        {
            return Err(ServiceError::invalid(
                "status",
                "must be one of pending, sending, delivered, dead",
            ));
        }
        let mut conn = self.0.db.read().await?;
        if let Some(id) = endpoint_id
            && store::endpoint_by_id(&mut conn, id).await?.is_none()
        {
            return Err(endpoint_not_found(id));
        }
        Ok(store::list_deliveries(&mut conn, endpoint_id, status, limit).await?)
    }

    /// One delivery with every attempt, oldest first.
    pub async fn delivery(
        &self,
        _admin: &Admin,
        id: i64,
    ) -> ServiceResult<(DeliveryRow, Vec<AttemptRow>)> {
        let mut conn = self.0.db.read().await?;
        let d = store::delivery_by_id(&mut conn, id)
            .await?
            .ok_or_else(|| delivery_not_found(id))?;
        let attempts = store::attempts_of(&mut conn, id).await?;
        Ok((d, attempts))
    }

    /// Sends a delivery again (dead, delivered, or waiting for a retry):
    /// due now, with fresh attempts. Refused while it is being sent.
    pub async fn replay(&self, admin: &Admin, id: i64) -> ServiceResult<DeliveryRow> {
        let now = self.0.clock.now();
        let mut tx = self.0.db.begin().await?;
        let replayed = store::replay(&mut tx, id, now).await?;
        tx.commit().await?;
        let (d, _) = self.delivery(admin, id).await?;
        if !replayed {
            return Err(ServiceError::conflict(
                "not_replayable",
                format!("delivery {id} is being sent right now; try again in a moment"),
            ));
        }
        Ok(d)
    }

    /// Claims up to `limit` due deliveries for sending, each leased for
    /// `lease` (a sender that dies mid-send leaves it due again then).
    pub async fn claim_due(&self, limit: i64, lease: Duration) -> ServiceResult<Vec<Claimed>> {
        let now = self.0.clock.now();
        let mut tx = self.0.db.begin().await?;
        let rows = store::claim_due(&mut tx, now, now + lease, limit).await?;
        let mut endpoints: BTreeMap<i64, EndpointRow> = BTreeMap::new();
        let mut claimed = Vec::with_capacity(rows.len());
        for d in rows {
            if !endpoints.contains_key(&d.endpoint_id)
                && let Some(ep) = store::endpoint_by_id(&mut tx, d.endpoint_id).await?
            {
                endpoints.insert(ep.id, ep);
            }
            if let Some(ep) = endpoints.get(&d.endpoint_id) {
                claimed.push(Claimed {
                    url: ep.url.clone(),
                    secret: ep.secret.clone(),
                    delivery: d,
                });
            }
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Logs an attempt and moves its delivery on: delivered on a 2xx,
    /// otherwise retried after [`backoff`] until `max_attempts` are used
    /// (or at once for a permanent failure), then dead-lettered.
    pub async fn record(
        &self,
        claimed: &Claimed,
        outcome: &Outcome,
        max_attempts: u32,
    ) -> ServiceResult<()> {
        let d = &claimed.delivery;
        let next = match &outcome.error {
            None => Next::Delivered,
            Some(_) if outcome.permanent || d.attempts >= i64::from(max_attempts.max(1)) => {
                Next::Dead
            }
            Some(_) => Next::RetryAt(outcome.attempted_at + backoff(d.attempts)),
        };
        let dead = matches!(next, Next::Dead);
        let error: Option<String> = outcome.error.as_ref().map(|e| clip(e, 500));
        let excerpt: Option<String> = outcome
            .response_excerpt
            .as_ref()
            .map(|e| clip(e, MAX_ATTEMPT_EXCERPT));
        let mut tx = self.0.db.begin().await?;
        let moved = store::record_attempt(
            &mut tx,
            d.id,
            d.attempts,
            &NewAttempt {
                attempted_at: outcome.attempted_at,
                status_code: outcome.status_code.map(i64::from),
                latency_ms: outcome.latency_ms,
                error: error.as_deref(),
                response_excerpt: excerpt.as_deref(),
            },
            next,
        )
        .await?;
        tx.commit().await?;
        if moved && dead {
            tracing::warn!(
                delivery_id = d.id,
                webhook_id = d.endpoint_id,
                attempts = d.attempts,
                "webhook delivery dead-lettered"
            );
        }
        Ok(())
    }
}

struct EndpointChange {
    url: String,
    events: String,
    secret: String,
    description: String,
    is_active: bool,
}

fn endpoint_not_found(id: i64) -> ServiceError {
    ServiceError::not_found(format!("webhook {id} not found"))
}

fn delivery_not_found(id: i64) -> ServiceError {
    ServiceError::not_found(format!("webhook delivery {id} not found"))
}

fn clip(text: &str, max_chars: usize) -> String {
    text.chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .take(max_chars)
        .collect()
}

#[cfg(test)]
mod tests;
