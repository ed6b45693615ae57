//! The booking lifecycle: quote, create, read, modify, cancel, status
//! changes, and the admin's lists and manifest. Every change runs in one
//! transaction with its capacity move, audit row and outbox event; capacity
//! moves only through `tourdesk_store::capacity`.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};
use tourdesk_domain::Phone;
use tourdesk_domain::availability::{BookingWindow, WindowRefusal};
use tourdesk_domain::booking::{self, BookingStatus, Party, Pricing};
use tourdesk_domain::contact::optional_text;
use tourdesk_store::audit::{self, LogRow, NewLog};
use tourdesk_store::bookings::{self, BookingChange, BookingFilter, BookingRow, NewBooking};
use tourdesk_store::slots::{self, SlotRow};
use tourdesk_store::{Tx, capacity};

use crate::accounts::{hash_secret, new_secret};
use crate::caller::Caller;
use crate::catalog::{Tour, load_slot, load_tour};
use crate::waitlist;
use crate::{Context, ServiceError, ServiceResult};

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
    pub special_requirements: Option<String>,
    pub dietary_restrictions: Option<String>,
    pub accessibility_needs: Option<String>,
}

/// A client's Idempotency-Key and a hash of its request body.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub key: String,
    pub request_hash: String,
}

/// A booking's contact details, validated.
pub struct Contact<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub phone: Option<&'a str>,
    pub special_requirements: Option<&'a str>,
    pub dietary_restrictions: Option<&'a str>,
    pub accessibility_needs: Option<&'a str>,
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

pub const MAX_TEXT: usize = 1000;
const REPLAY_WINDOW_HOURS: i64 = 24;

fn party_error(e: booking::PartyError) -> ServiceError {
    ServiceError::invalid(e.field, e.message)
}

fn status_of(row: &BookingRow) -> ServiceResult<BookingStatus> {
    row.status.parse().map_err(|e: String| {
        ServiceError::Internal(tourdesk_store::StoreError::Config(format!(
            "booking {}: {e}",
            row.id
        )))
    })
}

/// What the audit trail keeps of a booking.
pub fn snapshot(b: &BookingRow) -> Value {
    json!({
        "booking_slot_id": b.booking_slot_id,
        "tour_date": b.tour_date,
        "tour_time": b.tour_time,
        "num_adults": b.num_adults,
        "num_children": b.num_children,
        "num_infants": b.num_infants,
        "total_people": b.total_people,
        "total_amount": b.total_amount,
        "status": b.status,
    })
}

fn event_payload(b: &BookingRow) -> Value {
    json!({
        "booking_id": b.id,
        "booking_reference": b.booking_reference,
        "tour_id": b.tour_id,
        "booking_slot_id": b.booking_slot_id,
        "tour_date": b.tour_date,
        "tour_time": b.tour_time,
        "status": b.status,
        "total_people": b.total_people,
        "customer_email": b.customer_email,
    })
}

pub struct Bookings<'a>(pub(crate) &'a Context);

impl Bookings<'_> {
    fn now(&self) -> DateTime<Utc> {
        self.0.clock.now()
    }

    pub fn window(&self) -> BookingWindow {
        BookingWindow {
            cutoff_hours: self.0.settings.booking_cutoff_hours,
            advance_days: self.0.settings.booking_advance_days,
        }
    }

    pub(crate) fn party(&self, adults: i64, children: i64, infants: i64) -> ServiceResult<Party> {
        let s = &self.0.settings;
        Party::new(
            adults,
            children,
            infants,
            i64::from(s.min_booking_size),
            i64::from(s.max_booking_size),
        )
        .map_err(party_error)
    }

    fn price(&self, party: &Party, adult_price: i64) -> Pricing {
        booking::price(
            party,
            adult_price,
            self.0.settings.child_discount,
            self.0.settings.tax_rate,
        )
    }

    /// Refuses a slot that cannot be booked now: 409 `slot_unavailable`.
    fn bookable(&self, slot: &SlotRow, tour: &Tour) -> ServiceResult<()> {
        let refuse = |why: String| Err(ServiceError::conflict("slot_unavailable", why));
        if slot.tour_id != tour.id() {
            return refuse(format!(
                "slot {} does not belong to tour {}",
                slot.id,
                tour.id()
            ));
        }
        if !tour.row.is_active {
            return refuse(format!("tour {} is not open for booking", tour.id()));
        }
        if slot.is_cancelled {
            return refuse(format!(
                "the {} {} departure is cancelled{}",
                slot.slot_date,
                slot.start_time,
                slot.cancellation_reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ));
        }
        if !slot.is_available {
            return refuse(format!(
                "the {} {} departure is closed for booking",
                slot.slot_date, slot.start_time
            ));
        }
        match self.window().check(slot.starts_at, self.now()) {
            Ok(()) => Ok(()),
            Err(WindowRefusal::TooSoon) => refuse(format!(
                "bookings for the {} {} departure closed {} hours before it starts",
                slot.slot_date, slot.start_time, self.0.settings.booking_cutoff_hours
            )),
            Err(WindowRefusal::TooFar) => refuse(format!(
                "bookings open {} days ahead; the {} departure is further out",
                self.0.settings.booking_advance_days, slot.slot_date
            )),
        }
    }

    fn capacity_exceeded(slot: &SlotRow, wanted: i64) -> ServiceError {
        ServiceError::refused(
            "capacity_exceeded",
            format!(
                "only {} spot(s) left on the {} {} departure; {wanted} requested",
                slot.available_spots.max(0),
                slot.slot_date,
                slot.start_time
            ),
        )
        .with("available_spots", slot.available_spots.max(0))
        .with("waitlist_available", true)
    }

    /// The price of a party on a slot, computed by the server.
    pub async fn quote(
        &self,
        slot_id: i64,
        adults: i64,
        children: i64,
        infants: i64,
    ) -> ServiceResult<Quote> {
        let party = self.party(adults, children, infants)?;
        let mut conn = self.0.db.read().await?;
        let slot = load_slot(&mut conn, slot_id).await.map_err(|e| match e {
            ServiceError::NotFound(m) => ServiceError::invalid("booking_slot_id", m),
            other => other,
        })?;
        let tour = load_tour(&mut conn, slot.tour_id).await?;
        let pricing = self.price(&party, slot.price_per_person);
        Ok(Quote {
            pricing,
            party,
            tour,
            slot,
        })
    }

    /// Creates a booking; see the module documentation for the guarantees.
    pub async fn create(
        &self,
        req: BookingRequest,
        caller: &Caller,
        idem: Option<IdempotencyKey>,
    ) -> ServiceResult<Created> {
        let party = self.party(req.num_adults, req.num_children, req.num_infants)?;
        let (name, email) =
            caller.contact(req.customer_name.as_deref(), req.customer_email.as_deref())?;
        let phone = match (req.customer_phone.as_deref(), &caller.user) {
            (Some(p), _) => Phone::parse_optional(Some(p))
                .map_err(|e| ServiceError::invalid("customer_phone", e.0))?,
            (None, Some(u)) => u.phone.as_deref().and_then(|p| Phone::parse(p).ok()),
            (None, None) => None,
        };
        let text = |field: &'static str, v: &Option<String>| {
            optional_text(v.as_deref(), MAX_TEXT).map_err(|e| ServiceError::invalid(field, e.0))
        };
        let special = text("special_requirements", &req.special_requirements)?;
        let dietary = text("dietary_restrictions", &req.dietary_restrictions)?;
        let access = text("accessibility_needs", &req.accessibility_needs)?;
        let scope = caller
            .user_id()
            .map(|id| format!("user:{id}"))
            .unwrap_or_else(|| "guest".into());

        let now = self.now();
        let mut tx = self.0.db.begin().await?;
        if let Some(k) = &idem
            && !bookings::claim_idempotency_key(&mut tx, &scope, &k.key, &k.request_hash, now)
                .await?
        {
            return self.replay(&mut tx, &scope, k).await;
        }
        let tour = load_tour(&mut tx, req.tour_id).await.map_err(|e| match e {
            ServiceError::NotFound(m) => ServiceError::invalid("tour_id", m),
            other => other,
        })?;
        let slot = slots::slot_by_id(&mut tx, req.booking_slot_id)
            .await?
            .ok_or_else(|| {
                ServiceError::conflict(
                    "slot_unavailable",
                    format!("slot {} does not exist", req.booking_slot_id),
                )
            })?;
        self.bookable(&slot, &tour)?;
        if !capacity::reserve(&mut tx, slot.id, party.total(), now).await? {
            let fresh = load_slot(&mut tx, slot.id).await?;
            self.bookable(&fresh, &tour)?;
            return Err(Self::capacity_exceeded(&fresh, party.total()));
        }
        let contact = Contact {
            name: name.as_str(),
            email: email.as_str(),
            phone: phone.as_ref().map(Phone::as_str),
            special_requirements: special.as_deref(),
            dietary_restrictions: dietary.as_deref(),
            accessibility_needs: access.as_deref(),
        };
        let (row, token) = self
            .insert_new(
                &mut tx,
                &tour,
                &slot,
                &party,
                &contact,
                caller.user_id(),
                caller,
                now,
            )
            .await?;
        let id = row.id;
        if let Some(k) = &idem {
            bookings::complete_idempotency_key(&mut tx, &scope, &k.key, id, &token).await?;
        }
        tx.commit().await?;
        Ok(Created {
            booking: row,
            manage_token: token,
            replayed: false,
        })
    }

    /// Inserts a booking whose spots are already counted on `slot`, with
    /// its manage token, audit row and outbox event.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn insert_new(
        &self,
        tx: &mut Tx,
        tour: &Tour,
        slot: &SlotRow,
        party: &Party,
        contact: &Contact<'_>,
        owner: Option<i64>,
        caller: &Caller,
        now: DateTime<Utc>,
    ) -> ServiceResult<(BookingRow, String)> {
        let pricing = self.price(party, slot.price_per_person);
        let id = loop {
            let reference =
                booking::new_reference(&self.0.settings.booking_reference_prefix, tour.today(now));
            let inserted = bookings::insert_booking(
                tx,
                &NewBooking {
                    booking_reference: &reference,
                    user_id: owner,
                    tour_id: tour.id(),
                    booking_slot_id: slot.id,
                    num_adults: party.adults,
                    num_children: party.children,
                    num_infants: party.infants,
                    price_per_adult: pricing.price_per_adult,
                    price_per_child: pricing.price_per_child,
                    price_per_infant: pricing.price_per_infant,
                    subtotal: pricing.subtotal,
                    discount_amount: pricing.discount_amount,
                    tax_amount: pricing.tax_amount,
                    total_amount: pricing.total_amount,
                    currency: tour.currency.code(),
                    customer_name: contact.name,
                    customer_email: contact.email,
                    customer_phone: contact.phone,
                    special_requirements: contact.special_requirements,
                    dietary_restrictions: contact.dietary_restrictions,
                    accessibility_needs: contact.accessibility_needs,
                    status: BookingStatus::Pending.as_str(),
                },
                now,
            )
            .await?;
            if let Some(id) = inserted {
                break id;
            }
        };
        let token = new_secret("tdm");
        bookings::insert_manage_token(tx, tour.id(), Some(id), None, &hash_secret(&token), now)
            .await?;
        let row = load_booking(tx, id).await?;
        self.audit(
            tx,
            &row,
            caller,
            "created",
            None,
            Some(snapshot(&row)),
            None,
            now,
        )
        .await?;
        audit::insert_event(tx, tour.id(), "booking.created", event_payload(&row), now).await?;
        Ok((row, token))
    }

    async fn replay(&self, tx: &mut Tx, scope: &str, k: &IdempotencyKey) -> ServiceResult<Created> {
        let row = bookings::idempotency_key(tx, scope, &k.key)
            .await?
            .ok_or_else(|| {
                ServiceError::conflict(
                    "idempotency_conflict",
                    "the Idempotency-Key is being used; retry",
                )
            })?;
        if row.request_hash != k.request_hash {
            return Err(ServiceError::invalid(
                "Idempotency-Key",
                "this key was already used with a different request body",
            ));
        }
        if row.created_at < self.now() - chrono::Duration::hours(REPLAY_WINDOW_HOURS) {
            return Err(ServiceError::invalid(
                "Idempotency-Key",
                "this key expired; use a new one",
            ));
        }
        match (row.booking_id, row.manage_token) {
            (Some(id), Some(token)) => Ok(Created {
                booking: load_booking(tx, id).await?,
                manage_token: token,
                replayed: true,
            }),
            _ => Err(ServiceError::conflict(
                "idempotency_conflict",
                "the first request with this key is still running; retry",
            )),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn audit(
        &self,
        tx: &mut Tx,
        b: &BookingRow,
        caller: &Caller,
        kind: &str,
        old: Option<Value>,
        new: Option<Value>,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> ServiceResult<()> {
        let actor = caller.actor();
        audit::insert_log(
            tx,
            NewLog {
                booking_id: b.id,
                tour_id: b.tour_id,
                modified_by: caller.user_id(),
                actor: &actor,
                modification_type: kind,
                old_value: old,
                new_value: new,
                reason,
                ip_address: caller.ip.as_deref(),
                user_agent: caller.user_agent.as_deref(),
            },
            now,
        )
        .await?;
        Ok(())
    }

    /// Whether `caller` may see and change `b`: its owner, an admin, or
    /// whoever holds one of its manage tokens.
    async fn authorize(&self, tx: &mut Tx, caller: &Caller, b: &BookingRow) -> ServiceResult<()> {
        if caller.is_admin() || (caller.user_id().is_some() && caller.user_id() == b.user_id) {
            return Ok(());
        }
        if let Some(hash) = caller.token_hash()
            && bookings::token_opens_booking(tx, b.id, &hash).await?
        {
            return Ok(());
        }
        Err(caller.refusal("booking"))
    }

    pub async fn get(&self, id: i64, caller: &Caller) -> ServiceResult<BookingRow> {
        let mut conn = self.0.db.read().await?;
        let row = load_booking(&mut conn, id).await?;
        self.authorize(&mut conn, caller, &row).await?;
        Ok(row)
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
        if row.customer_email.to_lowercase() != email.trim().to_lowercase() {
            return Err(not_found());
        }
        let token = new_secret("tdm");
        bookings::insert_manage_token(
            &mut tx,
            row.tour_id,
            Some(row.id),
            None,
            &hash_secret(&token),
            self.now(),
        )
        .await?;
        tx.commit().await?;
        Ok((row, token))
    }

    /// Changes the slot and/or the party in one transaction: reserves only
    /// what grows, releases what shrinks, re-prices, and audits old and new.
    pub async fn modify(
        &self,
        id: i64,
        caller: &Caller,
        m: Modification,
    ) -> ServiceResult<BookingRow> {
        let notes = optional_text(m.notes.as_deref(), MAX_TEXT)
            .map_err(|e| ServiceError::invalid("modification_notes", e.0))?;
        let now = self.now();
        let mut tx = self.0.db.begin().await?;
        let old = bookings::booking_for_update(&mut tx, id)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("booking {id} not found")))?;
        self.authorize(&mut tx, caller, &old).await?;
        let status = status_of(&old)?;
        if !status.is_changeable() {
            return Err(ServiceError::conflict(
                "invalid_status",
                format!("a {status} booking cannot be changed"),
            ));
        }
        let party = self.party(
            m.new_num_adults.unwrap_or(old.num_adults),
            m.new_num_children.unwrap_or(old.num_children),
            m.new_num_infants.unwrap_or(old.num_infants),
        )?;
        let tour = load_tour(&mut tx, old.tour_id).await?;
        let new_slot_id = m.new_slot_id.unwrap_or(old.booking_slot_id);
        let moving = new_slot_id != old.booking_slot_id;
        let new_slot = if moving {
            let s = slots::slot_by_id(&mut tx, new_slot_id)
                .await?
                .ok_or_else(|| {
                    ServiceError::conflict(
                        "slot_unavailable",
                        format!("slot {new_slot_id} does not exist"),
                    )
                })?;
            if s.tour_id != old.tour_id {
                return Err(ServiceError::conflict(
                    "slot_unavailable",
                    "the new slot belongs to another tour",
                ));
            }
            s
        } else {
            load_slot(&mut tx, old.booking_slot_id).await?
        };
        let grows = party.total() > old.total_people;
        if (moving || grows) && !caller.is_admin() {
            self.bookable(&new_slot, &tour)?;
        } else if moving && !new_slot.is_open() {
            return Err(ServiceError::conflict(
                "slot_unavailable",
                "the new departure is cancelled or closed",
            ));
        }
        let old_party = Party {
            adults: old.num_adults,
            children: old.num_children,
            infants: old.num_infants,
        };
        if !moving && party == old_party {
            return Err(ServiceError::invalid(
                "new_slot_id",
                "nothing to change: give a new slot or a new party size",
            ));
        }

        // Capacity: touch slots in ascending id order so that concurrent
        // swaps between two slots cannot deadlock.
        if moving {
            let (new_id, old_id, n) = (new_slot.id, old.booking_slot_id, party.total());
            if new_id < old_id {
                if !capacity::reserve(&mut tx, new_id, n, now).await? {
                    return Err(Self::capacity_exceeded(
                        &load_slot(&mut tx, new_id).await?,
                        n,
                    ));
                }
                capacity::release(&mut tx, old_id, old.total_people, now).await?;
            } else {
                capacity::release(&mut tx, old_id, old.total_people, now).await?;
                if !capacity::reserve(&mut tx, new_id, n, now).await? {
                    return Err(Self::capacity_exceeded(
                        &load_slot(&mut tx, new_id).await?,
                        n,
                    ));
                }
            }
        } else {
            let delta = party.total() - old.total_people;
            if delta > 0 && !capacity::reserve(&mut tx, new_slot.id, delta, now).await? {
                let fresh = load_slot(&mut tx, new_slot.id).await?;
                return Err(Self::capacity_exceeded(&fresh, delta));
            }
            if delta < 0 {
                capacity::release(&mut tx, new_slot.id, -delta, now).await?;
            }
        }
        // Same slot keeps the agreed price; a new slot is priced as it is now.
        let adult_price = if moving {
            new_slot.price_per_person
        } else {
            old.price_per_adult
        };
        let pricing = self.price(&party, adult_price);
        let applied = bookings::apply_change(
            &mut tx,
            id,
            status.as_str(),
            &BookingChange {
                booking_slot_id: new_slot.id,
                num_adults: party.adults,
                num_children: party.children,
                num_infants: party.infants,
                price_per_adult: pricing.price_per_adult,
                price_per_child: pricing.price_per_child,
                price_per_infant: pricing.price_per_infant,
                subtotal: pricing.subtotal,
                discount_amount: pricing.discount_amount,
                tax_amount: pricing.tax_amount,
                total_amount: pricing.total_amount,
            },
            now,
        )
        .await?;
        if !applied {
            return Err(ServiceError::conflict(
                "invalid_status",
                "the booking changed meanwhile; reload and retry",
            ));
        }
        let new = load_booking(&mut tx, id).await?;
        let kind = match (moving, party != old_party) {
            (true, true) => "date_and_party_change",
            (true, false) => "date_change",
            _ => "party_change",
        };
        self.audit(
            &mut tx,
            &new,
            caller,
            kind,
            Some(snapshot(&old)),
            Some(snapshot(&new)),
            notes.as_deref(),
            now,
        )
        .await?;
        audit::insert_event(
            &mut tx,
            new.tour_id,
            "booking.modified",
            event_payload(&new),
            now,
        )
        .await?;
        // Spots freed on the old slot (a move) or by a smaller party.
        if moving {
            waitlist::offer_freed_spots(self.0, &mut tx, old.booking_slot_id, false).await?;
        } else if party.total() < old.total_people {
            waitlist::offer_freed_spots(self.0, &mut tx, new_slot.id, false).await?;
        }
        tx.commit().await?;
        Ok(new)
    }

    /// Cancels a pending or confirmed booking and releases its spots.
    pub async fn cancel(
        &self,
        id: i64,
        caller: &Caller,
        reason: Option<&str>,
        refund: Option<String>,
    ) -> ServiceResult<BookingRow> {
        let reason = optional_text(reason, MAX_TEXT)
            .map_err(|e| ServiceError::invalid("cancellation_reason", e.0))?;
        let mut tx = self.0.db.begin().await?;
        let row = bookings::booking_for_update(&mut tx, id)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("booking {id} not found")))?;
        self.authorize(&mut tx, caller, &row).await?;
        let refund_minor = match refund {
            None => None,
            Some(_) if !caller.is_admin() => {
                return Err(ServiceError::Forbidden(
                    "only an admin may set refund_amount".into(),
                ));
            }
            Some(text) => {
                let currency = tourdesk_domain::Currency::parse(&row.currency).map_err(|e| {
                    ServiceError::Internal(tourdesk_store::StoreError::Config(e.to_string()))
                })?;
                let minor = currency
                    .parse_amount(&text)
                    .map_err(|e| ServiceError::invalid("refund_amount", e.to_string()))?;
                if minor < 0 || minor > row.total_amount {
                    return Err(ServiceError::invalid(
                        "refund_amount",
                        "must be between 0 and the booking's total",
                    ));
                }
                Some(minor)
            }
        };
        let done = self
            .transition(
                &mut tx,
                &row,
                caller,
                BookingStatus::Cancelled,
                reason.as_deref(),
                refund_minor,
                "cancellation",
            )
            .await?;
        tx.commit().await?;
        Ok(done)
    }

    /// An admin's status change, following BOOKING_STATUS_TRANSITIONS.
    pub async fn change_status(
        &self,
        id: i64,
        caller: &Caller,
        to: &str,
        reason: Option<&str>,
    ) -> ServiceResult<BookingRow> {
        caller.require_admin()?;
        let to: BookingStatus = to
            .parse()
            .map_err(|e: String| ServiceError::invalid("status", e))?;
        let reason =
            optional_text(reason, MAX_TEXT).map_err(|e| ServiceError::invalid("reason", e.0))?;
        let mut tx = self.0.db.begin().await?;
        let row = bookings::booking_for_update(&mut tx, id)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("booking {id} not found")))?;
        let done = self
            .transition(
                &mut tx,
                &row,
                caller,
                to,
                reason.as_deref(),
                None,
                "status_change",
            )
            .await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Moves a booking to `to` inside `tx`: checks the transition, releases
    /// capacity when leaving a capacity-holding status, audits, emits the
    /// event and offers freed spots to the waitlist.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn transition(
        &self,
        tx: &mut Tx,
        row: &BookingRow,
        caller: &Caller,
        to: BookingStatus,
        reason: Option<&str>,
        refund: Option<i64>,
        kind: &str,
    ) -> ServiceResult<BookingRow> {
        let from = status_of(row)?;
        if !from.can_become(to) {
            return Err(ServiceError::conflict(
                "invalid_transition",
                format!("a {from} booking cannot become {to}"),
            ));
        }
        let now = self.now();
        if !bookings::set_status(tx, row.id, from.as_str(), to.as_str(), reason, refund, now)
            .await?
        {
            return Err(ServiceError::conflict(
                "invalid_transition",
                "the booking changed meanwhile; reload and retry",
            ));
        }
        let releases = from.holds_capacity() && !to.holds_capacity();
        if releases {
            capacity::release(tx, row.booking_slot_id, row.total_people, now).await?;
        }
        let new = load_booking(tx, row.id).await?;
        let mut new_value = snapshot(&new);
        if let (Some(r), Some(obj)) = (refund, new_value.as_object_mut()) {
            obj.insert("refund_amount".into(), json!(r));
        }
        self.audit(
            tx,
            &new,
            caller,
            kind,
            Some(snapshot(row)),
            Some(new_value),
            reason,
            now,
        )
        .await?;
        let event = if to == BookingStatus::Cancelled {
            "booking.cancelled"
        } else {
            "booking.status_changed"
        };
        audit::insert_event(tx, new.tour_id, event, event_payload(&new), now).await?;
        if releases {
            waitlist::offer_freed_spots(self.0, tx, row.booking_slot_id, false).await?;
        }
        Ok(new)
    }

    /// The admin's list: filters, newest first, one page and the total.
    pub async fn list(
        &self,
        f: &AdminFilter,
        limit: i64,
        offset: i64,
    ) -> ServiceResult<(Vec<BookingRow>, i64)> {
        if !(1..=500).contains(&limit) {
            return Err(ServiceError::invalid("limit", "must be between 1 and 500"));
        }
        if offset < 0 {
            return Err(ServiceError::invalid("offset", "must not be negative"));
        }
        if let (Some(a), Some(b)) = (f.start_date, f.end_date)
            && b < a
        {
            return Err(ServiceError::invalid(
                "end_date",
                "must not be before start_date",
            ));
        }
        let status = parse_status_filter(f.status.as_deref())?;
        let filter = BookingFilter {
            tour_id: f.tour_id,
            status: status.map(BookingStatus::as_str),
            start_date: f.start_date,
            end_date: f.end_date,
            slot_id: f.slot_id,
        };
        let mut conn = self.0.db.read().await?;
        let rows = bookings::list_bookings(&mut conn, &filter, limit, offset).await?;
        let total = bookings::count_bookings(&mut conn, &filter).await?;
        Ok((rows, total))
    }

    pub async fn history(&self, id: i64) -> ServiceResult<Vec<LogRow>> {
        let mut conn = self.0.db.read().await?;
        load_booking(&mut conn, id).await?;
        Ok(audit::logs_of_booking(&mut conn, id).await?)
    }

    /// Who is coming on a slot.
    pub async fn manifest(&self, slot_id: i64) -> ServiceResult<(SlotRow, Tour, Vec<BookingRow>)> {
        let mut conn = self.0.db.read().await?;
        let slot = load_slot(&mut conn, slot_id).await?;
        let tour = load_tour(&mut conn, slot.tour_id).await?;
        let rows = bookings::active_bookings_on_slot(&mut conn, slot_id).await?;
        Ok((slot, tour, rows))
    }

    /// Cancels a slot and every active booking on it, each audited; waitlist
    /// entries for it are cancelled and their holds released.
    pub async fn cancel_slot(
        &self,
        slot_id: i64,
        caller: &Caller,
        reason: &str,
    ) -> ServiceResult<(SlotRow, usize)> {
        caller.require_admin()?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(ServiceError::invalid("reason", "is required"));
        }
        let now = self.now();
        let mut tx = self.0.db.begin().await?;
        let slot = load_slot(&mut tx, slot_id).await?;
        if slot.is_cancelled {
            return Err(ServiceError::conflict(
                "slot_cancelled",
                format!("slot {slot_id} is already cancelled"),
            ));
        }
        waitlist::withdraw_for_cancelled_slot(self.0, &mut tx, &slot, now).await?;
        let ids: Vec<i64> = bookings::active_bookings_on_slot(&mut tx, slot_id)
            .await?
            .iter()
            .map(|b| b.id)
            .collect();
        let mut cancelled = 0;
        for id in ids {
            let row = load_booking(&mut tx, id).await?;
            let status = status_of(&row)?;
            if status.can_become(BookingStatus::Cancelled) {
                let message = format!("departure cancelled: {reason}");
                self.transition(
                    &mut tx,
                    &row,
                    caller,
                    BookingStatus::Cancelled,
                    Some(&message),
                    None,
                    "cancellation",
                )
                .await?;
                cancelled += 1;
            }
        }
        slots::cancel_slot(&mut tx, slot_id, reason, now).await?;
        let slot = load_slot(&mut tx, slot_id).await?;
        tx.commit().await?;
        Ok((slot, cancelled))
    }

    /// Cancels pending bookings older than PENDING_HOLD_MINUTES, as `system`.
    pub async fn expire_pending(&self, hold_minutes: u32) -> ServiceResult<usize> {
        if hold_minutes == 0 {
            return Ok(0);
        }
        let before = self.now() - chrono::Duration::minutes(i64::from(hold_minutes));
        let mut conn = self.0.db.read().await?;
        let ids = bookings::pending_before(&mut conn, before, 200).await?;
        drop(conn);
        let system = Caller::system();
        let mut n = 0;
        for id in ids {
            let mut tx = self.0.db.begin().await?;
            let Some(row) = bookings::booking_for_update(&mut tx, id).await? else {
                continue;
            };
            if row.status != BookingStatus::Pending.as_str() || row.created_at >= before {
                continue; // confirmed or cancelled meanwhile
            }
            self.transition(
                &mut tx,
                &row,
                &system,
                BookingStatus::Cancelled,
                Some("pending hold expired"),
                None,
                "cancellation",
            )
            .await?;
            tx.commit().await?;
            n += 1;
        }
        Ok(n)
    }

    /// Forgets idempotency keys past their replay window.
    pub async fn purge_idempotency_keys(&self) -> ServiceResult<u64> {
        let mut tx = self.0.db.begin().await?;
        let n = bookings::purge_idempotency_keys(
            &mut tx,
            self.now() - chrono::Duration::hours(REPLAY_WINDOW_HOURS),
        )
        .await?;
        tx.commit().await?;
        Ok(n)
    }
}

/// The admin list's filters.
#[derive(Debug, Clone, Default)]
pub struct AdminFilter {
    pub tour_id: Option<i64>,
    pub status: Option<String>,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    pub slot_id: Option<i64>,
}

fn parse_status_filter(status: Option<&str>) -> ServiceResult<Option<BookingStatus>> {
    match status.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|e: String| ServiceError::invalid("status_filter", e)),
    }
}

pub async fn load_booking(tx: &mut Tx, id: i64) -> ServiceResult<BookingRow> {
    bookings::booking_by_id(tx, id)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("booking {id} not found")))
}
