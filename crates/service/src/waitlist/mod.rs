//! The waitlist: a party-size queue per tour and date. When spots free up on
//! a departure, the same transaction offers them to the first active entry
//! (by priority, then age) whose whole party fits, and holds them for it
//! until it claims or its window passes (`ledger::offer_freed_spots`). A
//! party that does not fit keeps its place. Every change goes through the
//! ledger, departure locked before entry, and is retried on a transient
//! conflict.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;
use tourdesk_domain::availability::WindowRefusal;
use tourdesk_domain::booking::Party;
use tourdesk_domain::contact::optional_text;
use tourdesk_domain::{ContactDetails, EventKind, Needs, Phone, WaitlistStatus};
use tourdesk_store::Tx;
use tourdesk_store::audit;
use tourdesk_store::blackouts;
use tourdesk_store::bookings as booking_store;
use tourdesk_store::constraint;
use tourdesk_store::slots::{self, SlotRow};
use tourdesk_store::waitlist::{self, NewEntry, WaitlistRow};

use crate::accounts::{hash_secret, new_secret};
use crate::caller::{Admin, Caller};
use crate::ledger::{self, MAX_TEXT, load_slot, load_tour};
use crate::{Context, ServiceError, ServiceResult};

mod joining;

#[derive(Debug, Clone, Default)]
pub struct JoinRequest {
    pub tour_id: i64,
    pub booking_slot_id: Option<i64>,
    pub requested_date: NaiveDate,
    pub num_people: i64,
    pub customer_name: Option<String>,
    pub customer_email: Option<String>,
    pub customer_phone: Option<String>,
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ClaimRequest {
    pub num_adults: i64,
    pub num_children: i64,
    pub num_infants: i64,
    pub customer_phone: Option<String>,
    pub needs: Needs,
}

pub struct Waitlist<'a>(pub(crate) &'a Context);

impl Waitlist<'_> {
    pub(super) fn now(&self) -> DateTime<Utc> {
        self.0.clock.now()
    }

    pub(super) async fn authorize(
        &self,
        tx: &mut Tx,
        caller: &Caller,
        e: &WaitlistRow,
    ) -> ServiceResult<()> {
        if caller.is_admin() || (caller.user_id().is_some() && caller.user_id() == e.user_id) {
            return Ok(());
        }
        let valid_from = self.0.settings.manage_tokens_valid_from(self.0.clock.now());
        if let Some(hash) = caller.token_hash()
            && booking_store::token_opens_waitlist_entry(tx, e.id, &hash, valid_from).await?
        {
            return Ok(());
        }
        Err(caller.refusal("waitlist entry", e.id))
    }

    pub async fn get(&self, id: i64, caller: &Caller) -> ServiceResult<WaitlistRow> {
        let mut conn = self.0.db.read().await?;
        let entry = waitlist::entry_by_id(&mut conn, id)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("waitlist entry {id} not found")))?;
        self.authorize(&mut conn, caller, &entry).await?;
        Ok(entry)
    }

    pub async fn of_user(&self, user_id: i64) -> ServiceResult<Vec<WaitlistRow>> {
        let mut conn = self.0.db.read().await?;
        Ok(waitlist::entries_of_user(&mut conn, user_id).await?)
    }

    /// Locks an entry for a change by `caller`: its held departure first
    /// (if any), then the entry, re-checked (see the ledger's lock order).
    async fn lock_for(
        &self,
        tx: &mut Tx,
        id: i64,
        caller: &Caller,
    ) -> ServiceResult<(WaitlistRow, Option<SlotRow>)> {
        let peek = waitlist::entry_by_id(tx, id)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("waitlist entry {id} not found")))?;
        self.authorize(tx, caller, &peek).await?;
        let held = match peek.held_slot_id {
            Some(slot_id) => ledger::lock_slots(tx, &[slot_id]).await?.remove(&slot_id),
            None => None,
        };
        let entry = ledger::lock_entry(tx, id, peek.held_slot_id).await?;
        Ok((entry, held))
    }

    /// Leaves the waitlist; held spots go back (and to the next entry).
    pub async fn cancel(&self, id: i64, caller: &Caller) -> ServiceResult<WaitlistRow> {
        ledger::retry(|| async {
            let now = self.now();
            let mut tx = self.0.db.begin().await?;
            let (entry, held) = self.lock_for(&mut tx, id, caller).await?;
            if !entry.status.is_open() {
                return Err(ServiceError::conflict(
                    "invalid_status",
                    format!("a {} entry cannot be cancelled", entry.status),
                ));
            }
            ledger::end_entry(
                &mut tx,
                &entry,
                WaitlistStatus::Cancelled,
                "left the waitlist",
                now,
            )
            .await?;
            if let Some(slot) = held {
                ledger::offer_freed_spots(self.0, &mut tx, slot.id, false).await?;
            }
            let entry = waitlist::entry_by_id(&mut tx, id)
                .await?
                .ok_or_else(|| ServiceError::not_found("entry vanished"))?;
            tx.commit().await?;
            Ok(entry)
        })
        .await
    }

    /// Turns held spots into a booking. The party may be smaller than the
    /// entry's; the rest goes back to the waitlist. The departure must still
    /// be open and bookable and the tour active.
    pub async fn claim(
        &self,
        id: i64,
        caller: &Caller,
        req: ClaimRequest,
    ) -> ServiceResult<(tourdesk_store::bookings::BookingRow, String)> {
        let party: Party =
            ledger::party(self.0, req.num_adults, req.num_children, req.num_infants)?;
        let needs = ledger::validated_needs(req.needs)?;
        if let Some(p) = req.customer_phone.as_deref() {
            Phone::parse_optional(Some(p))
                .map_err(|e| ServiceError::invalid("customer_phone", e.0))?;
        }
        ledger::retry(|| async {
            let now = self.now();
            let mut tx = self.0.db.begin().await?;
            let (entry, held) = self.lock_for(&mut tx, id, caller).await?;
            let expired = entry.status == WaitlistStatus::Expired
                || (entry.status == WaitlistStatus::Notified
                    && entry.notification_expires_at.is_none_or(|t| t <= now));
            if expired {
                return Err(ServiceError::conflict(
                    "claim_expired",
                    "the claim window has passed",
                ));
            }
            if entry.status != WaitlistStatus::Notified {
                return Err(ServiceError::conflict(
                    "invalid_status",
                    format!(
                        "only a notified entry can be claimed; this one is {}",
                        entry.status
                    ),
                ));
            }
            if party.total() > entry.num_people {
                return Err(ServiceError::invalid(
                    "num_adults",
                    format!(
                        "{} spots are held for you; this party has {}",
                        entry.num_people,
                        party.total()
                    ),
                ));
            }
            let slot = held.ok_or_else(|| {
                ServiceError::conflict("invalid_status", "nothing is held for this entry")
            })?;
            let phone = ledger::phone_or(
                req.customer_phone.as_deref(),
                entry.customer_phone.as_deref(),
                "customer_phone",
            )?;
            let contact = ContactDetails {
                customer_name: entry.customer_name.clone(),
                customer_email: entry.customer_email.clone(),
                customer_phone: phone.as_ref().map(|p| p.as_str().to_owned()),
                needs: needs.clone(),
            };
            let done = ledger::claim(
                self.0, &mut tx, &entry, &slot, &party, &contact, caller, now,
            )
            .await?;
            tx.commit().await?;
            Ok(done)
        })
        .await
    }

    /// Expires notified entries past their window, releases their spots and
    /// offers them to the next entries. One transaction per departure:
    /// the departure is locked, then its entries, each re-checked. Returns
    /// how many expired.
    pub async fn expire_due(&self) -> ServiceResult<usize> {
        let mut total = 0;
        loop {
            let mut conn = self.0.db.read().await?;
            let due = waitlist::expired_notifications(&mut conn, self.now(), 100).await?;
            drop(conn);
            if due.is_empty() {
                break;
            }
            let mut by_slot: BTreeMap<Option<i64>, Vec<i64>> = BTreeMap::new();
            for entry in &due {
                by_slot
                    .entry(entry.held_slot_id)
                    .or_default()
                    .push(entry.id);
            }
            let mut progressed = 0;
            for (slot_id, ids) in by_slot {
                progressed += ledger::retry(|| self.expire_on(slot_id, &ids)).await?;
            }
            total += progressed;
            if progressed == 0 {
                break; // everything due was claimed or changed meanwhile
            }
        }
        Ok(total)
    }

    async fn expire_on(&self, slot_id: Option<i64>, ids: &[i64]) -> ServiceResult<usize> {
        let now = self.now();
        let mut tx = self.0.db.begin().await?;
        if let Some(slot_id) = slot_id {
            ledger::lock_slots(&mut tx, &[slot_id]).await?;
        }
        let mut n = 0;
        for &id in ids {
            let Some(entry) = waitlist::entry_for_update(&mut tx, id).await? else {
                continue;
            };
            let due = entry.status == WaitlistStatus::Notified
                && entry.held_slot_id == slot_id
                && entry.notification_expires_at.is_some_and(|t| t <= now);
            if due
                && ledger::end_entry(
                    &mut tx,
                    &entry,
                    WaitlistStatus::Expired,
                    "hold expired",
                    now,
                )
                .await?
            {
                n += 1;
            }
        }
        if let Some(slot_id) = slot_id {
            ledger::offer_freed_spots(self.0, &mut tx, slot_id, false).await?;
        }
        tx.commit().await?;
        Ok(n)
    }

    pub async fn list(
        &self,
        _admin: &Admin,
        tour_id: Option<i64>,
        date: Option<NaiveDate>,
        status: Option<&str>,
    ) -> ServiceResult<Vec<WaitlistRow>> {
        let status = status
            .map(str::parse::<WaitlistStatus>)
            .transpose()
            .map_err(|e| ServiceError::invalid("status", e))?;
        let mut conn = self.0.db.read().await?;
        Ok(waitlist::list_entries(&mut conn, tour_id, date, status, 1000).await?)
    }

    pub async fn set_priority(
        &self,
        _admin: &Admin,
        id: i64,
        priority: i64,
    ) -> ServiceResult<WaitlistRow> {
        if !(-1000..=1000).contains(&priority) {
            return Err(ServiceError::invalid(
                "priority",
                "must be between -1000 and 1000",
            ));
        }
        let mut tx = self.0.db.begin().await?;
        if !waitlist::set_priority(&mut tx, id, priority, self.now()).await? {
            return Err(ServiceError::not_found(format!(
                "waitlist entry {id} not found"
            )));
        }
        let row = waitlist::entry_by_id(&mut tx, id)
            .await?
            .ok_or_else(|| ServiceError::not_found("entry vanished"))?;
        tx.commit().await?;
        Ok(row)
    }

    /// Runs the waitlist step for a slot by hand (also when automatic
    /// processing is off); returns how many entries were notified.
    pub async fn process_slot(&self, _admin: &Admin, slot_id: i64) -> ServiceResult<usize> {
        ledger::retry(|| async {
            let mut tx = self.0.db.begin().await?;
            load_slot(&mut tx, slot_id).await?;
            ledger::lock_slots(&mut tx, &[slot_id]).await?;
            let n = ledger::offer_freed_spots(self.0, &mut tx, slot_id, true).await?;
            tx.commit().await?;
            Ok(n)
        })
        .await
    }
}

/// A waitlist entry's validated contact details.
struct JoinContact<'a> {
    name: &'a str,
    email: &'a str,
    email_lower: String,
    phone: Option<&'a str>,
    notes: Option<&'a str>,
}

fn already_waitlisted(date: NaiveDate) -> ServiceError {
    ServiceError::conflict(
        "already_waitlisted",
        format!("you are already on the waitlist for {date}"),
    )
}
