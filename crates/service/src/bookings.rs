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
use tourdesk_store::audit::{self, LogRow};
use tourdesk_store::bookings::{self, BookingFilter, BookingRow, TokenKind};
use tourdesk_store::slots::SlotRow;

use crate::accounts::{hash_secret, new_secret};
use crate::caller::{Admin, Caller};
use crate::group::{Batch, BatchFuture};
use crate::ledger::{
    self, Admission, Contact, Rebooking, Tour, load_booking, load_slot, load_tour,
    not_found_is_invalid, status_of,
};
use crate::{Context, ServiceError, ServiceResult};

pub use crate::ledger::MAX_TEXT;

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

/// A booking's contact details, validated and owned (a queued request
/// carries them to its batch).
#[derive(Debug, Clone)]
struct ContactDetails {
    name: String,
    email: String,
    phone: Option<String>,
    special_requirements: Option<String>,
    dietary_restrictions: Option<String>,
    accessibility_needs: Option<String>,
}

impl ContactDetails {
    fn as_contact(&self) -> Contact<'_> {
        Contact {
            name: &self.name,
            email: &self.email,
            phone: self.phone.as_deref(),
            special_requirements: self.special_requirements.as_deref(),
            dietary_restrictions: self.dietary_restrictions.as_deref(),
            accessibility_needs: self.accessibility_needs.as_deref(),
        }
    }
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
    fn now(&self) -> DateTime<Utc> {
        self.0.clock.now()
    }

    /// The price of a party on a slot, computed by the server.
    pub async fn quote(
        &self,
        slot_id: i64,
        adults: i64,
        children: i64,
        infants: i64,
    ) -> ServiceResult<Quote> {
        let party = ledger::party(self.0, adults, children, infants)?;
        let mut conn = self.0.db.read().await?;
        let slot = load_slot(&mut conn, slot_id)
            .await
            .map_err(not_found_is_invalid("booking_slot_id"))?;
        let tour = load_tour(&mut conn, slot.tour_id).await?;
        ledger::seats_for(self.0, &tour, &party)?;
        let pricing = ledger::quote_price(self.0, &party, &slot);
        Ok(Quote {
            pricing,
            party,
            tour,
            slot,
        })
    }

    /// Creates a booking: validates, then in one transaction claims the
    /// Idempotency-Key, reserves the party on the departure (the
    /// conditional UPDATE that locks, checks and returns it) and writes the
    /// booking with its token, audit row and event.
    pub async fn create(
        &self,
        req: BookingRequest,
        caller: &Caller,
        idem: Option<IdempotencyKey>,
    ) -> ServiceResult<Created> {
        let party = ledger::party(self.0, req.num_adults, req.num_children, req.num_infants)?;
        let (name, email) =
            caller.contact(req.customer_name.as_deref(), req.customer_email.as_deref())?;
        let on_file = caller.user.as_ref().and_then(|u| u.phone.as_deref());
        let phone = ledger::phone_or(req.customer_phone.as_deref(), on_file, "customer_phone")?;
        let text = |field: &'static str, v: &Option<String>| {
            optional_text(v.as_deref(), MAX_TEXT).map_err(|e| ServiceError::invalid(field, e.0))
        };
        let special = text("special_requirements", &req.special_requirements)?;
        let dietary = text("dietary_restrictions", &req.dietary_restrictions)?;
        let access = text("accessibility_needs", &req.accessibility_needs)?;
        let contact = ContactDetails {
            name: name.as_str().to_owned(),
            email: email.as_str().to_owned(),
            phone: phone.as_ref().map(|p| p.as_str().to_owned()),
            special_requirements: special,
            dietary_restrictions: dietary,
            accessibility_needs: access,
        };
        let request = CreateRequest {
            req,
            party,
            contact,
            caller: caller.clone(),
            scope: idempotency_scope(caller),
            idem,
        };
        // Group commit: the request joins a batch on its departure's lane
        // (see `group`) and gets its own answer once the batch is durable;
        // a batch that failed as a whole is tried again.
        let departure = request.req.booking_slot_id;
        let lanes = self.0.batches.clone();
        ledger::retry(|| lanes.submit(self.0, departure, request.clone())).await
    }

    /// Creates a batch of bookings on one transaction (the caller commits)
    /// and returns each request's own answer, in arrival order.
    ///
    /// Every request is decided before anything is written, in arrival
    /// order, exactly as it would be alone: an Idempotency-Key already used
    /// replays its booking; then the pending cap (counting this batch's
    /// earlier bookings), the tour, the party and the departure's rules;
    /// then room, on the departure locked once (`FOR UPDATE` on
    /// PostgreSQL; SQLite's writer already excludes the others), earlier
    /// requests first: a party that does not fit is refused and a later,
    /// smaller one may still fit. A refused request has written nothing.
    /// Then, with the departure locked, each departure's counter moves once
    /// by the conditional UPDATE, and the bookings, their tokens, audit
    /// rows, events and Idempotency-Keys are written with one multi-row
    /// statement per table: a handful of statements between the lock and
    /// the commit, whatever the batch's size.
    async fn create_batch(
        &self,
        tx: &mut tourdesk_store::Tx,
        batch: Vec<CreateRequest>,
    ) -> ServiceResult<Vec<ServiceResult<Created>>> {
        let now = self.now();
        let n = batch.len();
        let mut answers: Vec<Option<ServiceResult<Created>>> = (0..n).map(|_| None).collect();

        // Idempotency-Keys: used before (replayed), or again within this
        // batch (replayed once the first is written).
        let key_hashes: Vec<Option<String>> = batch
            .iter()
            .map(|r| r.idem.as_ref().map(|k| hash_secret(&k.key)))
            .collect();
        let keys: Vec<(&str, &str)> = batch
            .iter()
            .zip(&key_hashes)
            .filter_map(|(r, h)| Some((r.scope.as_str(), h.as_deref()?)))
            .collect();
        let used: HashSet<(String, String)> = if keys.is_empty() {
            HashSet::new()
        } else {
            bookings::stored_idempotency_keys(tx, &keys)
                .await?
                .into_iter()
                .collect()
        };
        let mut first_with_key: HashMap<(&str, &str), usize> = HashMap::new();
        // (request, the earlier request of this batch with its key, if any)
        let mut replays: Vec<(usize, Option<usize>)> = Vec::new();
        for (i, r) in batch.iter().enumerate() {
            let Some(hash) = key_hashes[i].as_deref() else {
                continue;
            };
            let key = (r.scope.as_str(), hash);
            if used.contains(&(key.0.to_owned(), key.1.to_owned())) {
                replays.push((i, None));
            } else if let Some(&first) = first_with_key.get(&key) {
                replays.push((i, Some(first)));
            } else {
                first_with_key.insert(key, i);
            }
        }
        let deciding: Vec<usize> = (0..n)
            .filter(|i| !replays.iter().any(|(r, _)| r == i))
            .collect();

        // What the decisions read, before the departures are locked.
        let cap = i64::from(self.0.settings.max_pending_per_email);
        let capped = |r: &CreateRequest| r.caller.user.is_none() && !r.caller.is_admin() && cap > 0;
        let emails: Vec<String> = deciding
            .iter()
            .map(|&i| &batch[i])
            .filter(|r| capped(r))
            .map(|r| r.contact.email.to_lowercase())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut pending: HashMap<String, i64> = if emails.is_empty() {
            HashMap::new()
        } else {
            let emails: Vec<&str> = emails.iter().map(String::as_str).collect();
            bookings::pending_guest_bookings_of(tx, &emails)
                .await?
                .into_iter()
                .collect()
        };
        let mut tours: HashMap<i64, Option<Tour>> = HashMap::new();
        for &i in &deciding {
            let id = batch[i].req.tour_id;
            if let std::collections::hash_map::Entry::Vacant(e) = tours.entry(id) {
                e.insert(match load_tour(tx, id).await {
                    Ok(t) => Some(t),
                    Err(ServiceError::NotFound(_)) => None,
                    Err(e) => return Err(e),
                });
            }
        }

        // The departures, locked in id order; then every request decided
        // in arrival order on what they hold.
        let slot_ids: Vec<i64> = deciding
            .iter()
            .map(|&i| batch[i].req.booking_slot_id)
            .collect();
        let mut departures = ledger::lock_slots(tx, &slot_ids).await?;
        let mut seats_of: Vec<i64> = vec![0; n];
        let mut added: BTreeMap<i64, i64> = BTreeMap::new();
        for &i in &deciding {
            let r = &batch[i];
            let decided = (|| {
                if capped(r) {
                    let held = pending
                        .get(&r.contact.email.to_lowercase())
                        .copied()
                        .unwrap_or(0);
                    if held >= cap {
                        return Err(ServiceError::Limited {
                            message: format!(
                                "this email already holds {cap} unconfirmed bookings; confirm or cancel one first"
                            ),
                            retry_after_secs: 3600,
                        });
                    }
                }
                let tour = tours
                    .get(&r.req.tour_id)
                    .and_then(Option::as_ref)
                    .ok_or_else(|| {
                        ServiceError::invalid(
                            "tour_id",
                            format!("tour {} not found", r.req.tour_id),
                        )
                    })?;
                let seats = ledger::seats_for(self.0, tour, &r.party)?;
                let slot = departures.get_mut(&r.req.booking_slot_id).ok_or_else(|| {
                    ServiceError::conflict(
                        "slot_unavailable",
                        format!("slot {} does not exist", r.req.booking_slot_id),
                    )
                })?;
                ledger::admit(self.0, slot, tour, Admission::Customer, now)?;
                if slot.current_bookings + slot.held_spots + seats > slot.max_capacity {
                    return Err(ledger::capacity_exceeded(slot, seats));
                }
                // Counted here so later requests see what is left.
                slot.current_bookings += seats;
                slot.available_spots -= seats;
                Ok(seats)
            })();
            match decided {
                Ok(seats) => {
                    seats_of[i] = seats;
                    *added.entry(r.req.booking_slot_id).or_default() += seats;
                    if r.caller.user_id().is_none() {
                        *pending.entry(r.contact.email.to_lowercase()).or_default() += 1;
                    }
                }
                Err(e) => answers[i] = Some(Err(e)),
            }
        }

        // The counters, each moved once by the conditional UPDATE (which
        // also re-checks the room it was decided on).
        let mut updated: HashMap<i64, SlotRow> = HashMap::new();
        for (&slot_id, &seats) in &added {
            let row = tourdesk_store::capacity::reserve(tx, slot_id, seats, now)
                .await?
                .ok_or_else(|| {
                    ServiceError::Busy(format!(
                        "departure {slot_id} changed under its lock; the batch is tried again"
                    ))
                })?;
            updated.insert(slot_id, row);
        }

        // The admitted bookings' rows, in arrival order.
        let admitted: Vec<usize> = deciding
            .iter()
            .copied()
            .filter(|&i| answers[i].is_none())
            .collect();
        let salts: Vec<Option<String>> = admitted
            .iter()
            .map(|&i| batch[i].idem.as_ref().map(|_| new_secret("salt")))
            .collect();
        let mut rows = Vec::with_capacity(admitted.len());
        for (&i, salt) in admitted.iter().zip(&salts) {
            let r = &batch[i];
            let (Some(Some(tour)), Some(slot)) = (
                tours.get(&r.req.tour_id),
                updated.get(&r.req.booking_slot_id),
            ) else {
                return Err(ServiceError::Internal(tourdesk_store::StoreError::Config(
                    "an admitted booking lost its tour or departure".into(),
                )));
            };
            rows.push(ledger::Admitted {
                tour,
                slot,
                party: &r.party,
                seats: seats_of[i],
                contact: r.contact.as_contact(),
                owner: r.caller.user_id(),
                caller: &r.caller,
                token: match (&r.idem, salt) {
                    (Some(k), Some(salt)) => Some(replay_token(salt, &r.scope, &k.key)),
                    _ => None,
                },
            });
        }
        let written = ledger::insert_bookings(self.0, tx, rows, now).await?;
        let mut keys = Vec::new();
        for ((&i, salt), (booking, _)) in admitted.iter().zip(&salts).zip(&written) {
            if let (Some(k), Some(hash), Some(salt)) = (&batch[i].idem, &key_hashes[i], salt) {
                keys.push(bookings::NewIdempotencyKey {
                    scope: &batch[i].scope,
                    key_hash: hash,
                    request_hash: &k.request_hash,
                    token_salt: salt,
                    booking_id: booking.id,
                });
            }
        }
        if !keys.is_empty()
            && bookings::insert_idempotency_keys(tx, &keys, now).await? < keys.len() as u64
        {
            // Another request stored one of these keys after this batch
            // looked: try the batch again, and that request replays.
            return Err(ServiceError::Busy(
                "an Idempotency-Key of this batch was used by another request at the same moment"
                    .into(),
            ));
        }
        for (&i, (booking, manage_token)) in admitted.iter().zip(written) {
            answers[i] = Some(Ok(Created {
                booking,
                manage_token,
                replayed: false,
            }));
        }

        // Replays, now that this batch's own keys are written.
        for (i, first) in replays {
            let r = &batch[i];
            answers[i] = Some(match (first, &r.idem) {
                // The first request with the key was refused: this one is
                // decided afresh in a later batch, as it would be alone.
                (Some(first), _) if matches!(answers[first], Some(Err(_))) => Err(ServiceError::Busy(
                    "the request this Idempotency-Key was first sent with was refused; deciding again".into(),
                )),
                (_, Some(k)) => self.replay(tx, &r.scope, k).await,
                (_, None) => continue,
            });
        }
        Ok(answers
            .into_iter()
            .map(|a| {
                a.unwrap_or_else(|| {
                    Err(ServiceError::Internal(tourdesk_store::StoreError::Config(
                        "a booking request of the batch was left undecided".into(),
                    )))
                })
            })
            .collect())
    }

    async fn replay(
        &self,
        tx: &mut tourdesk_store::Tx,
        scope: &str,
        k: &IdempotencyKey,
    ) -> ServiceResult<Created> {
        let row = bookings::idempotency_key(tx, scope, &hash_secret(&k.key))
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
        if row.created_at < self.0.settings.idempotency_keys_valid_from(self.now()) {
            return Err(ServiceError::invalid(
                "Idempotency-Key",
                "this key expired; use a new one",
            ));
        }
        let Some(id) = row.booking_id else {
            return Err(ServiceError::conflict(
                "idempotency_conflict",
                "the first request with this key is still running; retry",
            ));
        };
        let booking = load_booking(tx, id).await?;
        let manage_token = match row.token_salt {
            Some(salt) => replay_token(&salt, scope, &k.key),
            // A key claimed before tokens were derived: its token was
            // wiped, so the retry gets a fresh one.
            None => {
                let token = new_secret("tdm");
                bookings::insert_manage_token(
                    tx,
                    booking.tour_id,
                    Some(id),
                    None,
                    TokenKind::Created,
                    &hash_secret(&token),
                    self.now(),
                )
                .await?;
                token
            }
        };
        Ok(Created {
            booking,
            manage_token,
            replayed: true,
        })
    }

    /// Whether `caller` may see and change `b`: its owner, an admin, or
    /// whoever holds one of its manage tokens.
    async fn authorize(
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
        let quote = policy.quote(row.total_amount, row.starts_at, now);
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
        if row.customer_email.to_lowercase() != email.trim().to_lowercase() {
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

    /// Refuses a customer's change once the departure's cutoff has passed
    /// (`changes_closed`), and any customer action once it has started
    /// (`departure_started`). Admins are not limited.
    fn time_rules(&self, caller: &Caller, b: &BookingRow, changing: bool) -> ServiceResult<()> {
        if caller.is_admin() {
            return Ok(());
        }
        let now = self.now();
        if now >= b.starts_at {
            return Err(ServiceError::conflict(
                "departure_started",
                format!(
                    "the {} {} departure has started; contact the operator",
                    b.tour_date, b.tour_time
                ),
            ));
        }
        if changing && now >= ledger::window(self.0).closes_at(b.starts_at) {
            return Err(ServiceError::conflict(
                "changes_closed",
                format!(
                    "changes close {} hours before the departure; contact the operator",
                    self.0.settings.booking_cutoff_hours
                ),
            ));
        }
        Ok(())
    }

    /// Changes the departure and/or the party in one transaction: reserves
    /// only what grows, releases what shrinks, re-prices, and audits old and
    /// new. Both departures are locked (ascending id) before the booking.
    pub async fn modify(
        &self,
        id: i64,
        caller: &Caller,
        m: Modification,
    ) -> ServiceResult<BookingRow> {
        let notes = optional_text(m.notes.as_deref(), MAX_TEXT)
            .map_err(|e| ServiceError::invalid("modification_notes", e.0))?;
        ledger::retry(|| self.modify_once(id, caller, &m, notes.as_deref())).await
    }

    async fn modify_once(
        &self,
        id: i64,
        caller: &Caller,
        m: &Modification,
        notes: Option<&str>,
    ) -> ServiceResult<BookingRow> {
        let now = self.now();
        let mut tx = self.0.db.begin().await?;
        let peek = load_booking(&mut tx, id).await?;
        self.authorize(&mut tx, caller, &peek).await?;
        let to_id = m.new_slot_id.unwrap_or(peek.booking_slot_id);
        let locked = ledger::lock_slots(&mut tx, &[peek.booking_slot_id, to_id]).await?;
        let old = ledger::lock_booking(&mut tx, id, &[peek.booking_slot_id, to_id]).await?;
        let status = status_of(&old)?;
        if !status.is_changeable() {
            return Err(ServiceError::conflict(
                "invalid_status",
                format!("a {status} booking cannot be changed"),
            ));
        }
        self.time_rules(caller, &old, true)?;
        let party = ledger::party(
            self.0,
            m.new_num_adults.unwrap_or(old.num_adults),
            m.new_num_children.unwrap_or(old.num_children),
            m.new_num_infants.unwrap_or(old.num_infants),
        )
        .map_err(|e| match e {
            // The request names the party `new_num_adults`, ...
            ServiceError::Invalid { field, message } => ServiceError::Invalid {
                field: format!("new_{field}"),
                message,
            },
            other => other,
        })?;
        let to_id = m.new_slot_id.unwrap_or(old.booking_slot_id);
        let to = locked.get(&to_id).ok_or_else(|| {
            ServiceError::conflict("slot_unavailable", format!("slot {to_id} does not exist"))
        })?;
        if to.tour_id != old.tour_id {
            return Err(ServiceError::conflict(
                "slot_unavailable",
                "the new slot belongs to another tour",
            ));
        }
        let moving = to.id != old.booking_slot_id;
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
        let tour = load_tour(&mut tx, old.tour_id).await?;
        let who = if caller.is_admin() {
            Admission::Admin
        } else {
            Admission::Customer
        };
        let new = ledger::rebook(
            self.0,
            &mut tx,
            Rebooking {
                old: &old,
                tour: &tour,
                to,
                party,
                who,
                notes,
            },
            caller,
            now,
        )
        .await?;
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
        if refund.is_some() && !caller.is_admin() {
            return Err(ServiceError::Forbidden(
                "only an admin may set refund_amount".into(),
            ));
        }
        if refund.is_some() && reason.is_none() {
            return Err(ServiceError::invalid(
                "cancellation_reason",
                "is required with refund_amount: say why the refund differs from the policy's",
            ));
        }
        ledger::retry(|| self.cancel_once(id, caller, reason.as_deref(), refund.as_deref())).await
    }

    async fn cancel_once(
        &self,
        id: i64,
        caller: &Caller,
        reason: Option<&str>,
        refund: Option<&str>,
    ) -> ServiceResult<BookingRow> {
        let now = self.now();
        let mut tx = self.0.db.begin().await?;
        let peek = load_booking(&mut tx, id).await?;
        self.authorize(&mut tx, caller, &peek).await?;
        ledger::lock_slots(&mut tx, &[peek.booking_slot_id]).await?;
        let row = ledger::lock_booking(&mut tx, id, &[peek.booking_slot_id]).await?;
        self.time_rules(caller, &row, false)?;
        let tour = load_tour(&mut tx, row.tour_id).await?;
        let refund_minor = match refund {
            None => None,
            Some(text) => {
                let currency = tourdesk_domain::Currency::parse(&row.currency).map_err(|e| {
                    ServiceError::Internal(tourdesk_store::StoreError::Config(e.to_string()))
                })?;
                let minor = currency
                    .parse_amount(text)
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
        let refund = ledger::Refund::by_policy(
            &ledger::policy_of(self.0, &tour),
            &row,
            now,
            refund_minor.map(|m| (m, reason.unwrap_or_default())),
        );
        let done = ledger::transition(
            self.0,
            &mut tx,
            &row,
            caller,
            BookingStatus::Cancelled,
            reason,
            Some(refund),
            "cancellation",
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(done)
    }

    /// An admin's status change, following BOOKING_STATUS_TRANSITIONS.
    pub async fn change_status(
        &self,
        id: i64,
        admin: &Admin,
        to: &str,
        reason: Option<&str>,
    ) -> ServiceResult<BookingRow> {
        let caller = admin.caller();

        let to: BookingStatus = to
            .parse()
            .map_err(|e: String| ServiceError::invalid("status", e))?;
        let reason =
            optional_text(reason, MAX_TEXT).map_err(|e| ServiceError::invalid("reason", e.0))?;
        ledger::retry(|| async {
            let now = self.now();
            let mut tx = self.0.db.begin().await?;
            let peek = load_booking(&mut tx, id).await?;
            ledger::lock_slots(&mut tx, &[peek.booking_slot_id]).await?;
            let row = ledger::lock_booking(&mut tx, id, &[peek.booking_slot_id]).await?;
            // A cancellation by status refunds by the tour's policy, as the
            // cancel action does.
            let refund = if to == BookingStatus::Cancelled {
                let tour = load_tour(&mut tx, row.tour_id).await?;
                Some(ledger::Refund::by_policy(
                    &ledger::policy_of(self.0, &tour),
                    &row,
                    now,
                    None,
                ))
            } else {
                None
            };
            let done = ledger::transition(
                self.0,
                &mut tx,
                &row,
                caller,
                to,
                reason.as_deref(),
                refund,
                "status_change",
                now,
            )
            .await?;
            tx.commit().await?;
            Ok(done)
        })
        .await
    }

    /// The admin's list: filters, newest first, one page and the total.
    pub async fn list(
        &self,
        _admin: &Admin,
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
        let filter = store_filter(f)?;
        let mut conn = self.0.db.read().await?;
        let rows = bookings::list_bookings(&mut conn, &filter, limit, offset).await?;
        let total = bookings::count_bookings(&mut conn, &filter).await?;
        Ok((rows, total))
    }

    /// The admin list's bookings for a CSV file: the same filters, newest
    /// first, at most [`EXPORT_LIMIT`] rows, and how many matched in all.
    pub async fn export(
        &self,
        _admin: &Admin,
        f: &AdminFilter,
    ) -> ServiceResult<(Vec<BookingRow>, i64)> {
        let filter = store_filter(f)?;
        let mut conn = self.0.db.read().await?;
        let rows = bookings::list_bookings(&mut conn, &filter, EXPORT_LIMIT, 0).await?;
        let total = bookings::count_bookings(&mut conn, &filter).await?;
        Ok((rows, total))
    }

    /// The same status change for several bookings, each in its own
    /// transaction: one refused booking does not stop the others. The
    /// answer is per id, in the order given.
    pub async fn bulk_status(
        &self,
        admin: &Admin,
        ids: &[i64],
        to: &str,
        reason: Option<&str>,
    ) -> ServiceResult<Vec<(i64, ServiceResult<BookingRow>)>> {
        if ids.is_empty() || ids.len() > MAX_BULK {
            return Err(ServiceError::invalid(
                "ids",
                format!("give 1 to {MAX_BULK} booking ids"),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = ids.iter().find(|id| !seen.insert(**id)) {
            return Err(ServiceError::invalid(
                "ids",
                format!("booking {dup} is listed twice"),
            ));
        }
        to.parse::<BookingStatus>()
            .map_err(|e: String| ServiceError::invalid("status", e))?;
        optional_text(reason, MAX_TEXT).map_err(|e| ServiceError::invalid("reason", e.0))?;
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            match self.change_status(id, admin, to, reason).await {
                // The booking's own answer: the others still go ahead.
                done @ (Ok(_)
                | Err(
                    ServiceError::NotFound(_)
                    | ServiceError::Conflict { .. }
                    | ServiceError::Refused { .. }
                    | ServiceError::Invalid { .. },
                )) => out.push((id, done)),
                // The database's: the rest would fail the same way.
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// The operator corrects a booking's name, email, phone or notes;
    /// audited as `contact_change` by the operator.
    pub async fn change_contact(
        &self,
        id: i64,
        admin: &Admin,
        c: ContactUpdate,
    ) -> ServiceResult<BookingRow> {
        let caller = admin.caller();
        let name = PersonName::parse(&c.customer_name)
            .map_err(|e| ServiceError::invalid("customer_name", e.0))?;
        let email = Email::parse(&c.customer_email)
            .map_err(|e| ServiceError::invalid("customer_email", e.0))?;
        let phone = ledger::phone_or(
            c.customer_phone.as_deref().filter(|p| !p.trim().is_empty()),
            None,
            "customer_phone",
        )?;
        let text = |field: &'static str, v: &Option<String>| {
            optional_text(v.as_deref(), MAX_TEXT).map_err(|e| ServiceError::invalid(field, e.0))
        };
        let special = text("special_requirements", &c.special_requirements)?;
        let dietary = text("dietary_restrictions", &c.dietary_restrictions)?;
        let access = text("accessibility_needs", &c.accessibility_needs)?;
        let contact = Contact {
            name: name.as_str(),
            email: email.as_str(),
            phone: phone.as_ref().map(|p| p.as_str()),
            special_requirements: special.as_deref(),
            dietary_restrictions: dietary.as_deref(),
            accessibility_needs: access.as_deref(),
        };
        ledger::retry(|| async {
            let now = self.now();
            let mut tx = self.0.db.begin().await?;
            let peek = load_booking(&mut tx, id).await?;
            ledger::lock_slots(&mut tx, &[peek.booking_slot_id]).await?;
            let row = ledger::lock_booking(&mut tx, id, &[peek.booking_slot_id]).await?;
            let done = ledger::change_contact(&mut tx, &row, &contact, caller, now).await?;
            tx.commit().await?;
            Ok(done)
        })
        .await
    }

    /// Books a cancelled booking's party and contact again on another
    /// departure of its tour (after a departure was cancelled, say): a new
    /// booking, made as the operator (an admin may use any open departure),
    /// whose customer gets the usual confirmation email. The cancelled one
    /// stays as it is, with a `rebooked` audit row naming the new one.
    pub async fn rebook(&self, id: i64, admin: &Admin, slot_id: i64) -> ServiceResult<BookingRow> {
        let caller = admin.caller();
        ledger::retry(|| async {
            let now = self.now();
            let mut tx = self.0.db.begin().await?;
            let peek = load_booking(&mut tx, id).await?;
            let locked = ledger::lock_slots(&mut tx, &[peek.booking_slot_id, slot_id]).await?;
            let old = ledger::lock_booking(&mut tx, id, &[peek.booking_slot_id, slot_id]).await?;
            if status_of(&old)? != BookingStatus::Cancelled {
                return Err(ServiceError::conflict(
                    "invalid_status",
                    format!(
                        "booking {} is {}, not cancelled: move it instead",
                        old.booking_reference, old.status
                    ),
                ));
            }
            let Some(to) = locked.get(&slot_id) else {
                return Err(ServiceError::invalid(
                    "booking_slot_id",
                    format!("slot {slot_id} does not exist"),
                ));
            };
            if to.tour_id != old.tour_id {
                return Err(ServiceError::invalid(
                    "booking_slot_id",
                    "the departure belongs to another tour",
                ));
            }
            let tour = load_tour(&mut tx, old.tour_id).await?;
            let party = Party {
                adults: old.num_adults,
                children: old.num_children,
                infants: old.num_infants,
            };
            // The operator rebooks the party as it was: the tour's party
            // rules decide its seats, but do not refuse it.
            let seats = ledger::party_rules_of(self.0, &tour).seats(&party);
            let slot = ledger::reserve(self.0, &mut tx, &tour, to.id, seats, Admission::Admin, now)
                .await?;
            let contact = Contact {
                name: &old.customer_name,
                email: &old.customer_email,
                phone: old.customer_phone.as_deref(),
                special_requirements: old.special_requirements.as_deref(),
                dietary_restrictions: old.dietary_restrictions.as_deref(),
                accessibility_needs: old.accessibility_needs.as_deref(),
            };
            let (new, _token) = ledger::insert_booking(
                self.0,
                &mut tx,
                &tour,
                &slot,
                &party,
                seats,
                &contact,
                old.user_id,
                caller,
                None,
                now,
            )
            .await?;
            ledger::audit(
                &mut tx,
                &old,
                caller,
                "rebooked",
                None,
                Some(serde_json::json!({
                    "booking_reference": new.booking_reference,
                    "booking_slot_id": new.booking_slot_id,
                    "tour_date": new.tour_date,
                    "tour_time": new.tour_time,
                })),
                None,
                now,
            )
            .await?;
            tx.commit().await?;
            Ok(new)
        })
        .await
    }

    /// Checks a booking in at its departure (`checked_in`), or undoes it.
    pub async fn check_in(
        &self,
        id: i64,
        admin: &Admin,
        checked_in: bool,
    ) -> ServiceResult<BookingRow> {
        let caller = admin.caller();
        ledger::retry(|| async {
            let now = self.now();
            let mut tx = self.0.db.begin().await?;
            let peek = load_booking(&mut tx, id).await?;
            ledger::lock_slots(&mut tx, &[peek.booking_slot_id]).await?;
            let row = ledger::lock_booking(&mut tx, id, &[peek.booking_slot_id]).await?;
            let done = ledger::set_check_in(&mut tx, &row, caller, checked_in, now).await?;
            tx.commit().await?;
            Ok(done)
        })
        .await
    }

    /// After a departure has started: checked-in bookings become
    /// `completed` (a pending one is confirmed first), confirmed ones not
    /// checked in `no_show`; pending ones not checked in are left for the
    /// operator (they were never confirmed). Each change goes through the
    /// status machine and is audited; one transaction.
    pub async fn close_departure(&self, slot_id: i64, admin: &Admin) -> ServiceResult<Closing> {
        let caller = admin.caller();
        let reason = "departure closed";
        ledger::retry(|| async {
            let now = self.now();
            let mut tx = self.0.db.begin().await?;
            let locked = ledger::lock_slots(&mut tx, &[slot_id]).await?;
            let slot = locked
                .get(&slot_id)
                .ok_or_else(|| ServiceError::not_found(format!("slot {slot_id} not found")))?;
            if slot.is_cancelled {
                return Err(ServiceError::conflict(
                    "slot_cancelled",
                    format!("slot {slot_id} is cancelled"),
                ));
            }
            if now < slot.starts_at {
                return Err(ServiceError::conflict(
                    "departure_not_started",
                    "a departure can be closed once it has started",
                ));
            }
            let mut out = Closing::default();
            for id in bookings::lock_active_bookings_on_slot(&mut tx, slot_id).await? {
                let row = load_booking(&mut tx, id).await?;
                let steps: &[BookingStatus] = match (status_of(&row)?, row.checked_in_at.is_some())
                {
                    (BookingStatus::Pending, true) => {
                        &[BookingStatus::Confirmed, BookingStatus::Completed]
                    }
                    (BookingStatus::Confirmed, true) => &[BookingStatus::Completed],
                    (BookingStatus::Confirmed, false) => &[BookingStatus::NoShow],
                    (BookingStatus::Pending, false) => {
                        out.left_pending += 1;
                        &[]
                    }
                    _ => &[],
                };
                let mut row = row;
                for &to in steps {
                    row = ledger::transition(
                        self.0,
                        &mut tx,
                        &row,
                        caller,
                        to,
                        Some(reason),
                        None,
                        "status_change",
                        now,
                    )
                    .await?;
                }
                match steps.last() {
                    Some(BookingStatus::Completed) => out.completed += 1,
                    Some(BookingStatus::NoShow) => out.no_show += 1,
                    _ => {}
                }
            }
            tx.commit().await?;
            Ok(out)
        })
        .await
    }

    /// A booking's audit trail; each row's actor has its account's name
    /// (`actor_name`), and [`changes`] says what changed.
    pub async fn history(&self, _admin: &Admin, id: i64) -> ServiceResult<Vec<LogRow>> {
        let mut conn = self.0.db.read().await?;
        load_booking(&mut conn, id).await?;
        Ok(audit::logs_of_booking(&mut conn, id).await?)
    }

    /// Who is coming on a slot (the bookings holding places) and, on a
    /// cancelled one, who was on it: its cancelled bookings, to contact and
    /// rebook them.
    pub async fn manifest(
        &self,
        _admin: &Admin,
        slot_id: i64,
    ) -> ServiceResult<(SlotRow, Tour, Vec<BookingRow>, Vec<BookingRow>)> {
        let mut conn = self.0.db.read().await?;
        let slot = load_slot(&mut conn, slot_id).await?;
        let tour = load_tour(&mut conn, slot.tour_id).await?;
        let rows = bookings::active_bookings_on_slot(&mut conn, slot_id).await?;
        let cancelled = if slot.is_cancelled {
            bookings::cancelled_bookings_on_slot(&mut conn, slot_id).await?
        } else {
            Vec::new()
        };
        Ok((slot, tour, rows, cancelled))
    }

    /// Cancels a departure and every active booking on it (see
    /// `ledger::cancel_departure`); answers the bookings it cancelled.
    pub async fn cancel_slot(
        &self,
        slot_id: i64,
        admin: &Admin,
        reason: &str,
    ) -> ServiceResult<(SlotRow, Vec<BookingRow>)> {
        let caller = admin.caller();

        let reason = reason.trim();
        if reason.is_empty() {
            return Err(ServiceError::invalid("reason", "is required"));
        }
        let reason = optional_text(Some(reason), MAX_TEXT)
            .map_err(|e| ServiceError::invalid("reason", e.0))?
            .unwrap_or_default();
        ledger::retry(|| async {
            let now = self.now();
            let mut tx = self.0.db.begin().await?;
            let (slot, _) = ledger::cancel_departure(
                self.0,
                &mut tx,
                slot_id,
                caller,
                &reason,
                "departure_cancelled",
                None,
                now,
            )
            .await?;
            // Each was cancelled with this transaction's `now`.
            let affected = bookings::cancelled_on_slot_at(&mut tx, slot_id, now).await?;
            tx.commit().await?;
            Ok((slot, affected))
        })
        .await
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
            let done = ledger::retry(|| async {
                let mut tx = self.0.db.begin().await?;
                let Some(peek) = bookings::booking_by_id(&mut tx, id).await? else {
                    return Ok(false);
                };
                ledger::lock_slots(&mut tx, &[peek.booking_slot_id]).await?;
                let row = ledger::lock_booking(&mut tx, id, &[peek.booking_slot_id]).await?;
                if row.status != BookingStatus::Pending.as_str() || row.created_at >= before {
                    return Ok(false); // confirmed or cancelled meanwhile
                }
                ledger::transition(
                    self.0,
                    &mut tx,
                    &row,
                    &system,
                    BookingStatus::Cancelled,
                    Some("pending hold expired"),
                    None,
                    "cancellation",
                    self.now(),
                )
                .await?;
                tx.commit().await?;
                Ok(true)
            })
            .await?;
            n += usize::from(done);
        }
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
    /// Part of a reference, name, email or phone number, any case.
    pub q: Option<String>,
}

/// The most rows one CSV export holds.
pub const EXPORT_LIMIT: i64 = 10_000;
/// The most bookings one bulk status change takes.
pub const MAX_BULK: usize = 200;
/// The longest search text.
const MAX_SEARCH: usize = 100;

/// The admin list's filters, checked, as the store's query takes them.
fn store_filter(f: &AdminFilter) -> ServiceResult<BookingFilter<'static>> {
    if let Some(d) = f.start_date {
        ledger::check_date("start_date", d)?;
    }
    if let Some(d) = f.end_date {
        ledger::check_date("end_date", d)?;
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
    let q = f.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if q.is_some_and(|q| q.chars().count() > MAX_SEARCH) {
        return Err(ServiceError::invalid(
            "q",
            format!("must be at most {MAX_SEARCH} characters"),
        ));
    }
    let phone = q
        .filter(|q| q.chars().any(|c| c.is_ascii_digit()))
        .map(|q| {
            q.chars()
                .filter(|c| *c != ' ' && *c != '-')
                .collect::<String>()
        });
    Ok(BookingFilter {
        tour_id: f.tour_id,
        status: status.map(BookingStatus::as_str),
        start_date: f.start_date,
        end_date: f.end_date,
        slot_id: f.slot_id,
        text_pattern: q.map(|q| bookings::like_pattern(&q.to_lowercase())),
        phone_pattern: phone.map(|p| bookings::like_pattern(&p)),
    })
}

/// A booking's contact details as the operator edits them (all given).
#[derive(Debug, Clone, Default)]
pub struct ContactUpdate {
    pub customer_name: String,
    pub customer_email: String,
    pub customer_phone: Option<String>,
    pub special_requirements: Option<String>,
    pub dietary_restrictions: Option<String>,
    pub accessibility_needs: Option<String>,
}

/// What closing a departure did.
#[derive(Debug, Clone, Default)]
pub struct Closing {
    pub completed: usize,
    pub no_show: usize,
    /// Pending bookings not checked in, left as they are.
    pub left_pending: usize,
}

/// One field an audit row changed, old and new as the trail stored them.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub field: String,
    pub from: Value,
    pub to: Value,
}

/// The fields that differ between an audit row's old and new values, by
/// name. A row without an old value (a creation) lists none.
pub fn changes(old: Option<&Value>, new: Option<&Value>) -> Vec<Change> {
    let (Some(Value::Object(old)), Some(Value::Object(new))) = (old, new) else {
        return Vec::new();
    };
    let mut out: Vec<Change> = new
        .iter()
        .filter(|(k, v)| old.get(*k).unwrap_or(&Value::Null) != *v)
        .map(|(k, v)| Change {
            field: k.clone(),
            from: old.get(k).cloned().unwrap_or(Value::Null),
            to: v.clone(),
        })
        .collect();
    out.extend(
        old.iter()
            .filter(|(k, v)| !new.contains_key(*k) && !v.is_null())
            .map(|(k, v)| Change {
                field: k.clone(),
                from: v.clone(),
                to: Value::Null,
            }),
    );
    out.sort_by(|a, b| a.field.cmp(&b.field));
    out
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
mod batch_tests {
    use chrono::{Duration, NaiveTime, Utc};
    use tourdesk_store::bulk::{self, BulkSlot};
    use tourdesk_store::tours::{self, TourFields};
    use tourdesk_store::{Db, capacity, on};

    use super::*;
    use crate::Settings;

    fn request(
        ctx: &Context,
        tour_id: i64,
        slot_id: i64,
        adults: i64,
        email: &str,
        key: Option<(&str, &str)>,
    ) -> CreateRequest {
        let caller = Caller {
            ip: Some("192.0.2.7".into()),
            ..Caller::default()
        };
        CreateRequest {
            req: BookingRequest {
                tour_id,
                booking_slot_id: slot_id,
                num_adults: adults,
                ..BookingRequest::default()
            },
            party: ledger::party(ctx, adults, 0, 0).expect("a valid party"),
            contact: ContactDetails {
                name: "Batch Guest".into(),
                email: email.into(),
                phone: None,
                special_requirements: None,
                dietary_restrictions: None,
                accessibility_needs: None,
            },
            scope: idempotency_scope(&caller),
            caller,
            idem: key.map(|(key, body)| IdempotencyKey {
                key: key.into(),
                request_hash: body.into(),
            }),
        }
    }

    fn outcome(a: &ServiceResult<Created>) -> String {
        match a {
            Ok(c) if c.replayed => format!("replayed {}", c.booking.id),
            Ok(c) => format!(
                "created {} ({} people)",
                c.booking.id, c.booking.total_people
            ),
            Err(ServiceError::Busy(_)) => "busy".into(),
            Err(ServiceError::Limited { .. }) => "limited".into(),
            Err(ServiceError::Invalid { field, .. }) => format!("invalid {field}"),
            Err(ServiceError::Conflict { code, .. }) => format!("conflict {code}"),
            Err(ServiceError::Refused { code, .. }) => format!("refused {code}"),
            Err(e) => format!("other {e}"),
        }
    }

    async fn count(db: &Db, sql: &'static str) -> i64 {
        let mut tx = db.begin().await.expect("begin");
        on!(tx, c => sqlx::query_scalar::<_, i64>(sql).fetch_one(c).await).expect("count")
    }

    async fn run(ctx: &Context, batch: Vec<CreateRequest>) -> Vec<ServiceResult<Created>> {
        let mut tx = ctx.db.begin().await.expect("begin");
        let answers = Bookings(ctx)
            .create_batch(&mut tx, batch)
            .await
            .expect("the batch's transaction works");
        tx.commit().await.expect("commit");
        answers
    }

    /// One batch of eleven creates over two departures decides each as it
    /// would be decided alone, in arrival order, and writes only what it
    /// admitted: one row, token, audit row, event and key each.
    async fn a_batch_decides_each_request_as_if_alone(db: Db) {
        let ctx = Context::new(
            db.clone(),
            Settings {
                max_pending_per_email: 2,
                ..Settings::default()
            },
        );
        let now = Utc::now();
        let mut tx = db.begin().await.expect("begin");
        let tour = tours::insert_tour(
            &mut tx,
            &TourFields {
                name: "Batch tour",
                description: "",
                duration_minutes: 60,
                base_price: 5000,
                currency: "USD",
                timezone: "UTC",
                is_active: true,
                cancellation_policy: None,
                party_rules: None,
            },
            now,
        )
        .await
        .expect("tour");
        let day = (now + Duration::days(5)).date_naive();
        let slot = |hour: u32, max_capacity: i64| {
            let start = NaiveTime::from_hms_opt(hour, 0, 0).expect("a time");
            BulkSlot {
                tour_id: tour.id,
                slot_date: day,
                start_time: start,
                end_time: start + Duration::hours(1),
                starts_at: day.and_time(start).and_utc(),
                max_capacity,
                price_per_person: 5000,
            }
        };
        let ids = bulk::insert_slots(&mut tx, &[slot(9, 10), slot(14, 5)], now)
            .await
            .expect("slots");
        tx.commit().await.expect("commit");
        let (t, a, b) = (tour.id, ids[0], ids[1]);

        let answers = run(
            &ctx,
            vec![
                request(&ctx, t, a, 4, "one@example.com", Some(("K1", "body-1"))),
                request(&ctx, t, a, 7, "two@example.com", None),
                request(&ctx, t, a, 6, "three@example.com", None),
                request(&ctx, t, a, 4, "one@example.com", Some(("K1", "body-1"))),
                request(&ctx, t, a, 8, "four@example.com", Some(("K2", "body-2"))),
                request(&ctx, t, a, 8, "four@example.com", Some(("K2", "body-2"))),
                request(&ctx, t + 1000, b, 1, "five@example.com", None),
                request(&ctx, t, b, 1, "capped@example.com", None),
                request(&ctx, t, b, 1, "Capped@Example.com", None),
                request(&ctx, t, b, 1, "capped@example.com", None),
                request(&ctx, t, b + 1000, 1, "six@example.com", None),
            ],
        )
        .await;
        let got: Vec<String> = answers.iter().map(outcome).collect();
        let id = |i: usize| answers[i].as_ref().map(|c| c.booking.id).unwrap_or(-1);
        assert_eq!(
            got,
            [
                format!("created {} (4 people)", id(0)),
                "refused capacity_exceeded".into(),
                format!("created {} (6 people)", id(2)),
                format!("replayed {}", id(0)),
                "refused capacity_exceeded".into(),
                "busy".into(),
                "invalid tour_id".into(),
                format!("created {} (1 people)", id(7)),
                format!("created {} (1 people)", id(8)),
                "limited".into(),
                "conflict slot_unavailable".into(),
            ],
            "each request's own answer, decided in arrival order"
        );
        let (first, replay) = (answers[0].as_ref(), answers[3].as_ref());
        assert_eq!(
            first.map(|c| &c.manage_token).ok(),
            replay.map(|c| &c.manage_token).ok(),
            "a key used twice in one batch returns the same booking and token"
        );
        if let Err(ServiceError::Refused { message, .. }) = &answers[1] {
            assert!(message.contains("only 6 spot(s) left"), "{message}");
        }

        let mut tx = db.begin().await.expect("begin");
        assert!(capacity::drift(&mut tx).await.expect("drift").is_empty());
        let counters: Vec<(i64, i64)> = on!(tx, c => sqlx::query_as(
            "SELECT id, current_bookings FROM booking_slots ORDER BY id"
        )
        .fetch_all(c)
        .await)
        .expect("counters");
        drop(tx);
        assert_eq!(
            counters,
            [(a, 10), (b, 2)],
            "each counter moved by what it admitted"
        );
        for (sql, want) in [
            ("SELECT COUNT(*) FROM bookings", 4),
            ("SELECT COUNT(*) FROM manage_tokens", 4),
            (
                "SELECT COUNT(*) FROM booking_modification_logs WHERE modification_type = 'created'",
                4,
            ),
            (
                "SELECT COUNT(*) FROM outbox_events WHERE event_type = 'booking.created'",
                4,
            ),
            (
                "SELECT COUNT(*) FROM idempotency_keys WHERE booking_id IS NOT NULL",
                1,
            ),
            ("SELECT COUNT(*) FROM idempotency_keys", 1),
        ] {
            assert_eq!(count(&db, sql).await, want, "{sql}");
        }
        // Each token opens its own booking.
        let mut tx = db.begin().await.expect("begin");
        for i in [0, 2, 7, 8] {
            let c = answers[i].as_ref().expect("created");
            assert!(
                bookings::token_opens_booking(
                    &mut tx,
                    c.booking.id,
                    &hash_secret(&c.manage_token),
                    (now - Duration::days(1)).date_naive()
                )
                .await
                .expect("token")
            );
        }
        drop(tx);

        // A later batch: the stored key replays; the key whose first
        // request was refused is decided afresh (and refused: still full).
        let answers = run(
            &ctx,
            vec![
                request(&ctx, t, a, 4, "one@example.com", Some(("K1", "body-1"))),
                request(&ctx, t, a, 8, "four@example.com", Some(("K2", "body-2"))),
                request(&ctx, t, a, 4, "one@example.com", Some(("K1", "other body"))),
            ],
        )
        .await;
        let got: Vec<String> = answers.iter().map(outcome).collect();
        assert_eq!(
            got,
            [
                format!("replayed {}", id(0)),
                "refused capacity_exceeded".into(),
                "invalid Idempotency-Key".into(),
            ]
        );
        assert_eq!(count(&db, "SELECT COUNT(*) FROM bookings").await, 4);
    }

    #[tokio::test]
    async fn a_batch_decides_each_request_as_if_alone_sqlite() {
        let t = crate::testdb::sqlite().await;
        a_batch_decides_each_request_as_if_alone(t.db.clone()).await;
        t.finish().await;
    }

    #[tokio::test]
    async fn a_batch_decides_each_request_as_if_alone_postgres() {
        let Some(t) = crate::testdb::postgres().await else {
            return;
        };
        a_batch_decides_each_request_as_if_alone(t.db.clone()).await;
        t.finish().await;
    }
}
