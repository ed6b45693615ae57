//! The waitlist: a party-size queue per tour and date. When spots free up on
//! a slot, the same transaction offers them to the first active entry (by
//! priority, then age) whose whole party fits, and holds them for it until
//! it claims or its window passes. A party that does not fit keeps its place.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::json;
use tourdesk_domain::Phone;
use tourdesk_domain::availability::WindowRefusal;
use tourdesk_domain::booking::Party;
use tourdesk_domain::contact::optional_text;
use tourdesk_store::audit;
use tourdesk_store::blackouts;
use tourdesk_store::bookings as booking_store;
use tourdesk_store::slots::{self, SlotRow};
use tourdesk_store::waitlist::{self, NewEntry, WaitlistRow};
use tourdesk_store::{Tx, capacity};

use crate::accounts::{hash_secret, new_secret};
use crate::bookings::{Bookings, Contact, MAX_TEXT};
use crate::caller::Caller;
use crate::catalog::{load_slot, load_tour};
use crate::{Context, ServiceError, ServiceResult};

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
    pub special_requirements: Option<String>,
    pub dietary_restrictions: Option<String>,
    pub accessibility_needs: Option<String>,
}

/// Offers free spots on `slot_id` to the waitlist, inside `tx`, as long as
/// an entry fits. Skipped when WAITLIST_AUTO_PROCESS is off, unless `manual`.
/// Returns how many entries were notified.
pub async fn offer_freed_spots(
    ctx: &Context,
    tx: &mut Tx,
    slot_id: i64,
    manual: bool,
) -> ServiceResult<usize> {
    if !manual && !ctx.settings.waitlist_auto_process {
        return Ok(0);
    }
    let now = ctx.clock.now();
    let window = Bookings(ctx).window();
    let mut notified = 0;
    loop {
        let slot = load_slot(tx, slot_id).await?;
        if !slot.is_open() || slot.available_spots <= 0 {
            break;
        }
        let closes_at = window.closes_at(slot.starts_at);
        if now >= closes_at {
            break; // too late to book: nobody could claim in time
        }
        let Some(entry) = waitlist::next_candidate(
            tx,
            slot.tour_id,
            slot.slot_date,
            slot.id,
            slot.available_spots,
        )
        .await?
        else {
            break;
        };
        if !capacity::hold(tx, slot.id, entry.num_people, now).await? {
            break;
        }
        let expiry =
            now + Duration::hours(i64::from(ctx.settings.waitlist_notification_expiry_hours));
        let expires_at = expiry.min(closes_at);
        if !waitlist::mark_notified(tx, entry.id, slot.id, now, expires_at).await? {
            capacity::release_hold(tx, slot.id, entry.num_people, now).await?;
            break;
        }
        audit::insert_event(
            tx,
            slot.tour_id,
            "waitlist.notified",
            json!({
                "waitlist_entry_id": entry.id,
                "tour_id": slot.tour_id,
                "booking_slot_id": slot.id,
                "slot_date": slot.slot_date,
                "start_time": slot.start_time,
                "num_people": entry.num_people,
                "customer_email": entry.customer_email,
                "expires_at": expires_at,
                "claim_link": format!("/account?claim={}", entry.id),
            }),
            now,
        )
        .await?;
        notified += 1;
    }
    Ok(notified)
}

/// When a slot is cancelled: entries holding spots on it or waiting for
/// exactly it are cancelled and their holds released. Date-wide entries stay.
pub async fn withdraw_for_cancelled_slot(
    ctx: &Context,
    tx: &mut Tx,
    slot: &SlotRow,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    let _ = ctx;
    for entry in waitlist::entries_bound_to_slot(tx, slot.id).await? {
        if waitlist::set_status(tx, entry.id, &entry.status, "cancelled", now).await? {
            if entry.status == "notified" {
                capacity::release_hold(tx, slot.id, entry.num_people, now).await?;
            }
            audit::insert_event(
                tx,
                slot.tour_id,
                "waitlist.cancelled",
                json!({"waitlist_entry_id": entry.id, "reason": "departure cancelled", "customer_email": entry.customer_email}),
                now,
            )
            .await?;
        }
    }
    Ok(())
}

pub struct Waitlist<'a>(pub(crate) &'a Context);

impl Waitlist<'_> {
    fn now(&self) -> DateTime<Utc> {
        self.0.clock.now()
    }

    /// Joins the waitlist for a full slot (or a full date).
    pub async fn join(
        &self,
        req: JoinRequest,
        caller: &Caller,
    ) -> ServiceResult<(WaitlistRow, Option<String>)> {
        let s = &self.0.settings;
        if req.num_people < i64::from(s.min_booking_size)
            || req.num_people > i64::from(s.max_booking_size)
        {
            return Err(ServiceError::invalid(
                "num_people",
                format!(
                    "must be between {} and {}",
                    s.min_booking_size, s.max_booking_size
                ),
            ));
        }
        let (name, email) =
            caller.contact(req.customer_name.as_deref(), req.customer_email.as_deref())?;
        let phone = Phone::parse_optional(req.customer_phone.as_deref())
            .map_err(|e| ServiceError::invalid("customer_phone", e.0))?;
        let notes = optional_text(req.notes.as_deref(), MAX_TEXT)
            .map_err(|e| ServiceError::invalid("notes", e.0))?;

        let now = self.now();
        let mut tx = self.0.db.begin().await?;
        let tour = load_tour(&mut tx, req.tour_id).await.map_err(|e| match e {
            ServiceError::NotFound(m) => ServiceError::invalid("tour_id", m),
            other => other,
        })?;
        if !tour.row.is_active {
            return Err(ServiceError::conflict(
                "tour_inactive",
                format!("{} is not open for booking", tour.row.name),
            ));
        }
        let date = req.requested_date;
        if let Some(b) = blackouts::active_blackouts_between(&mut tx, tour.id(), date, date)
            .await?
            .first()
        {
            return Err(ServiceError::conflict(
                "date_blacked_out",
                format!("{date} is blacked out: {}", b.name),
            ));
        }
        let candidates: Vec<SlotRow> = match req.booking_slot_id {
            Some(id) => {
                let slot = slots::slot_by_id(&mut tx, id).await?.ok_or_else(|| {
                    ServiceError::invalid("booking_slot_id", format!("slot {id} not found"))
                })?;
                if slot.tour_id != tour.id() || slot.slot_date != date {
                    return Err(ServiceError::invalid(
                        "booking_slot_id",
                        "the slot is not on that tour and date",
                    ));
                }
                if !slot.is_open() {
                    return Err(ServiceError::conflict(
                        "slot_unavailable",
                        "that departure is cancelled or closed",
                    ));
                }
                vec![slot]
            }
            None => slots::slots_between(&mut tx, tour.id(), date, date)
                .await?
                .into_iter()
                .filter(SlotRow::is_open)
                .collect(),
        };
        if candidates.is_empty() {
            return Err(ServiceError::conflict(
                "no_slots",
                format!("{} does not run on {date}", tour.row.name),
            ));
        }
        let window = Bookings(self.0).window();
        let in_window: Vec<&SlotRow> = candidates
            .iter()
            .filter(|s| window.check(s.starts_at, now).is_ok())
            .collect();
        if in_window.is_empty() {
            let why = match candidates
                .iter()
                .map(|s| window.check(s.starts_at, now))
                .next()
            {
                Some(Err(WindowRefusal::TooFar)) => format!("bookings for {date} are not open yet"),
                _ => format!("bookings for {date} have closed"),
            };
            return Err(ServiceError::conflict("outside_window", why));
        }
        if let Some(free) = in_window
            .iter()
            .find(|s| s.available_spots >= req.num_people)
        {
            return Err(ServiceError::conflict(
                "spots_available",
                format!(
                    "the {} departure has {} spot(s): book it instead",
                    free.start_time, free.available_spots
                ),
            ));
        }
        if waitlist::has_open_entry(
            &mut tx,
            tour.id(),
            date,
            caller.user_id(),
            &email.normalized(),
        )
        .await?
        {
            return Err(ServiceError::conflict(
                "already_waitlisted",
                format!("you are already on the waitlist for {date}"),
            ));
        }
        let row = waitlist::insert_entry(
            &mut tx,
            &NewEntry {
                user_id: caller.user_id(),
                tour_id: tour.id(),
                booking_slot_id: req.booking_slot_id,
                requested_date: date,
                num_people: req.num_people,
                customer_name: name.as_str(),
                customer_email: email.as_str(),
                customer_phone: phone.as_ref().map(Phone::as_str),
                notes: notes.as_deref(),
            },
            now,
        )
        .await?;
        let token = if caller.user.is_none() {
            let t = new_secret("tdm");
            booking_store::insert_manage_token(
                &mut tx,
                tour.id(),
                None,
                Some(row.id),
                &hash_secret(&t),
                now,
            )
            .await?;
            Some(t)
        } else {
            None
        };
        audit::insert_event(
            &mut tx,
            tour.id(),
            "waitlist.joined",
            json!({"waitlist_entry_id": row.id, "tour_id": tour.id(), "requested_date": date,
                   "num_people": row.num_people, "customer_email": row.customer_email}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok((row, token))
    }

    async fn authorize(&self, tx: &mut Tx, caller: &Caller, e: &WaitlistRow) -> ServiceResult<()> {
        if caller.is_admin() || (caller.user_id().is_some() && caller.user_id() == e.user_id) {
            return Ok(());
        }
        if let Some(hash) = caller.token_hash()
            && booking_store::token_opens_waitlist_entry(tx, e.id, &hash).await?
        {
            return Ok(());
        }
        Err(caller.refusal("waitlist entry"))
    }

    async fn locked(&self, tx: &mut Tx, id: i64, caller: &Caller) -> ServiceResult<WaitlistRow> {
        let entry = waitlist::entry_for_update(tx, id)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("waitlist entry {id} not found")))?;
        self.authorize(tx, caller, &entry).await?;
        Ok(entry)
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

    /// Leaves the waitlist; held spots go back (and to the next entry).
    pub async fn cancel(&self, id: i64, caller: &Caller) -> ServiceResult<WaitlistRow> {
        let now = self.now();
        let mut tx = self.0.db.begin().await?;
        let entry = self.locked(&mut tx, id, caller).await?;
        if !matches!(entry.status.as_str(), "active" | "notified") {
            return Err(ServiceError::conflict(
                "invalid_status",
                format!("a {} entry cannot be cancelled", entry.status),
            ));
        }
        waitlist::set_status(&mut tx, id, &entry.status, "cancelled", now).await?;
        if let (true, Some(slot_id)) = (entry.status == "notified", entry.held_slot_id) {
            capacity::release_hold(&mut tx, slot_id, entry.num_people, now).await?;
            offer_freed_spots(self.0, &mut tx, slot_id, false).await?;
        }
        audit::insert_event(&mut tx, entry.tour_id, "waitlist.cancelled",
            json!({"waitlist_entry_id": id, "reason": "left the waitlist", "customer_email": entry.customer_email}), now).await?;
        let entry = waitlist::entry_by_id(&mut tx, id)
            .await?
            .ok_or_else(|| ServiceError::not_found("entry vanished"))?;
        tx.commit().await?;
        Ok(entry)
    }

    /// Turns held spots into a booking. The party may be smaller than the
    /// entry's; the rest goes back to the waitlist.
    pub async fn claim(
        &self,
        id: i64,
        caller: &Caller,
        req: ClaimRequest,
    ) -> ServiceResult<(tourdesk_store::bookings::BookingRow, String)> {
        let bookings = Bookings(self.0);
        let party: Party = bookings.party(req.num_adults, req.num_children, req.num_infants)?;
        let text = |field: &'static str, v: &Option<String>| {
            optional_text(v.as_deref(), MAX_TEXT).map_err(|e| ServiceError::invalid(field, e.0))
        };
        let special = text("special_requirements", &req.special_requirements)?;
        let dietary = text("dietary_restrictions", &req.dietary_restrictions)?;
        let access = text("accessibility_needs", &req.accessibility_needs)?;
        let now = self.now();
        let mut tx = self.0.db.begin().await?;
        let entry = self.locked(&mut tx, id, caller).await?;
        let expired = entry.status == "expired"
            || (entry.status == "notified"
                && entry.notification_expires_at.is_none_or(|t| t <= now));
        if expired {
            return Err(ServiceError::conflict(
                "claim_expired",
                "the claim window has passed",
            ));
        }
        if entry.status != "notified" {
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
        let slot_id = entry.held_slot_id.ok_or_else(|| {
            ServiceError::conflict("invalid_status", "nothing is held for this entry")
        })?;
        let phone = match req.customer_phone.as_deref() {
            Some(p) => Phone::parse_optional(Some(p))
                .map_err(|e| ServiceError::invalid("customer_phone", e.0))?,
            None => entry
                .customer_phone
                .as_deref()
                .and_then(|p| Phone::parse(p).ok()),
        };
        capacity::convert_hold(&mut tx, slot_id, entry.num_people, party.total(), now).await?;
        let slot = load_slot(&mut tx, slot_id).await?;
        let tour = load_tour(&mut tx, slot.tour_id).await?;
        // The booking belongs to the entry's account (none for a guest's
        // entry), whoever claims it; the audit row records who did.
        let contact = Contact {
            name: &entry.customer_name,
            email: &entry.customer_email,
            phone: phone.as_ref().map(Phone::as_str),
            special_requirements: special.as_deref(),
            dietary_restrictions: dietary.as_deref(),
            accessibility_needs: access.as_deref(),
        };
        let (booking, token) = bookings
            .insert_new(
                &mut tx,
                &tour,
                &slot,
                &party,
                &contact,
                entry.user_id,
                caller,
                now,
            )
            .await?;
        if !waitlist::mark_converted(&mut tx, id, booking.id, now).await? {
            return Err(ServiceError::conflict(
                "invalid_status",
                "the entry changed meanwhile; reload and retry",
            ));
        }
        audit::insert_event(&mut tx, tour.id(), "waitlist.converted",
            json!({"waitlist_entry_id": id, "booking_id": booking.id, "booking_reference": booking.booking_reference}), now).await?;
        if party.total() < entry.num_people {
            offer_freed_spots(self.0, &mut tx, slot_id, false).await?;
        }
        tx.commit().await?;
        Ok((booking, token))
    }

    /// Expires notified entries past their window, releases their spots and
    /// offers them to the next entries. Returns how many expired.
    pub async fn expire_due(&self) -> ServiceResult<usize> {
        let mut total = 0;
        loop {
            let now = self.now();
            let mut tx = self.0.db.begin().await?;
            let due = waitlist::expired_notifications(&mut tx, now, 100).await?;
            if due.is_empty() {
                break;
            }
            let mut touched = BTreeSet::new();
            for entry in &due {
                if !waitlist::set_status(&mut tx, entry.id, "notified", "expired", now).await? {
                    continue;
                }
                if let Some(slot_id) = entry.held_slot_id {
                    capacity::release_hold(&mut tx, slot_id, entry.num_people, now).await?;
                    touched.insert(slot_id);
                }
                audit::insert_event(
                    &mut tx,
                    entry.tour_id,
                    "waitlist.expired",
                    json!({"waitlist_entry_id": entry.id, "customer_email": entry.customer_email}),
                    now,
                )
                .await?;
                total += 1;
            }
            for slot_id in touched {
                offer_freed_spots(self.0, &mut tx, slot_id, false).await?;
            }
            tx.commit().await?;
        }
        Ok(total)
    }

    pub async fn list(
        &self,
        tour_id: Option<i64>,
        date: Option<NaiveDate>,
        status: Option<&str>,
    ) -> ServiceResult<Vec<WaitlistRow>> {
        if let Some(s) = status
            && !matches!(
                s,
                "active" | "notified" | "converted" | "expired" | "cancelled"
            )
        {
            return Err(ServiceError::invalid(
                "status",
                format!("unknown status `{s}`"),
            ));
        }
        let mut conn = self.0.db.read().await?;
        Ok(waitlist::list_entries(&mut conn, tour_id, date, status, 1000).await?)
    }

    pub async fn set_priority(&self, id: i64, priority: i64) -> ServiceResult<WaitlistRow> {
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
    pub async fn process_slot(&self, slot_id: i64) -> ServiceResult<usize> {
        let mut tx = self.0.db.begin().await?;
        load_slot(&mut tx, slot_id).await?;
        let n = offer_freed_spots(self.0, &mut tx, slot_id, true).await?;
        tx.commit().await?;
        Ok(n)
    }
}
