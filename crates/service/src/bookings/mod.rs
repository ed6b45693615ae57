//! The booking lifecycle: quote, create, read, modify, cancel, status
//! changes, and the admin's lists and manifest. Each change is one
//! transaction through the ledger (`crate::ledger`), which owns the lock
//! order, the capacity moves, the audit rows and the outbox events; each
//! is retried transparently on a transient conflict.
//!
//! Time rules: a customer may change a booking only until the departure's
//! booking cutoff, and may cancel it until it starts; admins may do both
//! at any time.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use tourdesk_domain::booking::{self, BookingStatus, Party, Pricing};
use tourdesk_domain::contact::{Email, PersonName, optional_text};
use tourdesk_domain::{AuditKind, ContactDetails, Needs};
use tourdesk_store::audit::{self, LogRow};
use tourdesk_store::bookings::{self, BookingFilter, BookingRow, TokenKind};
use tourdesk_store::slots::SlotRow;

use crate::accounts::{hash_secret, new_secret};
use crate::caller::{Admin, Caller};
use crate::group::{Batch, BatchFuture};
use crate::ledger::{
    self, Admission, Rebooking, Tour, load_booking, load_slot, load_tour, status_of,
};
use crate::validate::DateRange;
use crate::{Context, ServiceError, ServiceResult};

pub use crate::ledger::MAX_TEXT;

mod admin;
mod change;
mod create;
mod filters;
pub use filters::*;

/// Who is coming and how to reach them, as a booking request carries it.
#[derive(Debug, Clone, Default)]
pub struct BookingRequest {
    pub tour_id: i64,
    pub booking_slot_id: i64,
    pub num_adults: i64,
    pub num_children: i64,
    pub num_infants: i64,
    pub customer_name: Option<String>,
    pub customer_email: Option<String>,
    pub customer_phone: Option<String>,
    pub needs: Needs,
}

/// A client's Idempotency-Key and a hash of its request body.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub key: String,
    pub request_hash: String,
}

/// What cancelling a booking now would refund.
#[derive(Debug)]
pub struct CancellationQuote {
    pub booking: BookingRow,
    pub tour: ledger::Tour,
    pub policy: tourdesk_domain::policy::CancellationPolicy,
    pub quote: tourdesk_domain::policy::RefundQuote,
    /// Why the caller cannot cancel it now (the error a cancel would get).
    pub refusal: Option<ServiceError>,
    pub quoted_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Created {
    pub booking: BookingRow,
    /// Shown to the client once (and again on an idempotent replay).
    pub manage_token: String,
    pub replayed: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Modification {
    pub new_slot_id: Option<i64>,
    pub new_num_adults: Option<i64>,
    pub new_num_children: Option<i64>,
    pub new_num_infants: Option<i64>,
    pub notes: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Quote {
    pub pricing: Pricing,
    pub party: Party,
    pub tour: Tour,
    pub slot: SlotRow,
}

/// Where an Idempotency-Key lives: an account's keys are its own; a guest's
/// are scoped to the client address, so another guest who learns (or
/// guesses) a key and the body cannot replay it to get the booking and its
/// manage token; from their address it is a new request.
fn idempotency_scope(caller: &Caller) -> String {
    match (caller.user_id(), caller.ip.as_deref()) {
        (Some(id), _) => format!("user:{id}"),
        (None, Some(ip)) => format!("guest:{ip}"),
        (None, None) => "guest".into(),
    }
}

/// The manage token a booking made with an Idempotency-Key gets, derived
/// from a random per-key salt (stored) and the client's key (stored only as
/// a hash): a retry presenting the key gets the same token back, while the
/// table alone opens nothing.
fn replay_token(salt: &str, scope: &str, key: &str) -> String {
    format!(
        "tdm_{}",
        hash_secret(&format!(
            "tourdesk-replay-v1\u{0}{salt}\u{0}{scope}\u{0}{key}"
        ))
    )
}

/// A validated booking create waiting for its batch (see `group`).
#[derive(Clone)]
pub struct CreateRequest {
    req: BookingRequest,
    party: Party,
    contact: ContactDetails,
    caller: Caller,
    scope: String,
    idem: Option<IdempotencyKey>,
}

impl Batch for CreateRequest {
    type Output = Created;

    fn run<'t>(
        ctx: &'t Context,
        tx: &'t mut tourdesk_store::Tx,
        batch: Vec<Self>,
    ) -> BatchFuture<'t, ServiceResult<Vec<ServiceResult<Created>>>> {
        Box::pin(async move { Bookings(ctx).create_batch(tx, batch).await })
    }
}

pub struct Bookings<'a>(pub(crate) &'a Context);

impl Bookings<'_> {
    pub(super) fn now(&self) -> DateTime<Utc> {
        self.0.clock.now()
    }

    /// Whether `caller` may see and change `b`: its owner, an admin, or
    /// whoever holds one of its manage tokens.
    pub(super) async fn authorize(
        &self,
        tx: &mut tourdesk_store::Tx,
        caller: &Caller,
        b: &BookingRow,
    ) -> ServiceResult<()> {
        if caller.is_admin() || (caller.user_id().is_some() && caller.user_id() == b.user_id) {
            return Ok(());
        }
        let valid_from = self.0.settings.manage_tokens_valid_from(self.now());
        if let Some(hash) = caller.token_hash()
            && bookings::token_opens_booking(tx, b.id, &hash, valid_from).await?
        {
            return Ok(());
        }
        Err(caller.refusal("booking", b.id))
    }

    pub async fn get(&self, id: i64, caller: &Caller) -> ServiceResult<BookingRow> {
        let mut conn = self.0.db.read().await?;
        let row = load_booking(&mut conn, id).await?;
        self.authorize(&mut conn, caller, &row).await?;
        Ok(row)
    }

    /// What cancelling the booking now would refund under its tour's
    /// policy, and whether the caller may cancel it now.
    pub async fn cancellation_quote(
        &self,
        id: i64,
        caller: &Caller,
    ) -> ServiceResult<CancellationQuote> {
        let mut conn = self.0.db.read().await?;
        let row = load_booking(&mut conn, id).await?;
        self.authorize(&mut conn, caller, &row).await?;
        let tour = load_tour(&mut conn, row.tour_id).await?;
        let now = self.now();
        let policy = ledger::policy_of(self.0, &tour);
        let quote = policy.quote(row.pricing.total_amount, row.starts_at, now);
        let refusal = match status_of(&row)? {
            s if !s.can_become(BookingStatus::Cancelled) => Some(ServiceError::conflict(
                "invalid_status",
                format!("a {s} booking cannot be cancelled"),
            )),
            _ => self.time_rules(caller, &row, false).err(),
        };
        Ok(CancellationQuote {
            booking: row,
            tour,
            policy,
            quote,
            refusal,
            quoted_at: now,
        })
    }

    pub async fn of_user(
        &self,
        user_id: i64,
        status: Option<&str>,
    ) -> ServiceResult<Vec<BookingRow>> {
        let status = parse_status_filter(status)?;
        let mut conn = self.0.db.read().await?;
        Ok(
            bookings::bookings_of_user(&mut conn, user_id, status.map(BookingStatus::as_str))
                .await?,
        )
    }

    /// A booking by reference for whoever knows its customer email; issues a
    /// fresh manage token. A wrong email and an unknown reference look alike.
    pub async fn lookup(
        &self,
        reference: &str,
        email: &str,
    ) -> ServiceResult<(BookingRow, String)> {
        let not_found = || ServiceError::not_found("no booking with this reference and email");
        let reference = reference.trim().to_ascii_uppercase();
        if !booking::looks_like_reference(&reference) {
            return Err(not_found());
        }
        let mut tx = self.0.db.begin().await?;
        let row = bookings::booking_by_reference(&mut tx, &reference)
            .await?
            .ok_or_else(not_found)?;
        if row.contact.customer_email.to_lowercase() != email.trim().to_lowercase() {
            return Err(not_found());
        }
        // Each lookup's link replaces the one before: whoever found an old
        // link (a forwarded email, a shared screen) loses it.
        let token = new_secret("tdm");
        bookings::revoke_lookup_tokens(&mut tx, row.id, self.now()).await?;
        bookings::insert_manage_token(
            &mut tx,
            row.tour_id,
            Some(row.id),
            None,
            TokenKind::Lookup,
            &hash_secret(&token),
            self.now(),
        )
        .await?;
        tx.commit().await?;
        Ok((row, token))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Change, changes};

    #[test]
    fn changes_list_what_differs() {
        let old = json!({"status": "pending", "total_people": 2, "tour_date": "2026-01-02"});
        let new = json!({"status": "confirmed", "total_people": 2, "tour_date": "2026-01-02", "refund_amount": 500});
        assert_eq!(
            changes(Some(&old), Some(&new)),
            vec![
                Change {
                    field: "refund_amount".into(),
                    from: json!(null),
                    to: json!(500)
                },
                Change {
                    field: "status".into(),
                    from: json!("pending"),
                    to: json!("confirmed")
                },
            ]
        );
        assert!(changes(None, Some(&new)).is_empty());
    }
}

#[cfg(test)]
mod batch_tests;
