//! The booking lifecycle: quote, create, read, modify, cancel, status
//! changes, and the admin's lists and manifest. Each change is one
//! transaction through the ledger (`crate::ledger`), which owns the lock
//! order, the capacity moves, the audit rows and the outbox events; each
//! is retried transparently on a transient conflict.
//!
//! Time rules: a customer may change a booking only until the departure's
//! booking cutoff, and may cancel it until it starts; admins may do both
//! at any time.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use tourdesk_domain::booking::{self, BookingStatus, Party, Pricing};
use tourdesk_domain::contact::{Email, PersonName, optional_text};
use tourdesk_store::audit::{self, LogRow};
use tourdesk_store::bookings::{self, BookingFilter, BookingRow, TokenKind};
use tourdesk_store::slots::SlotRow;

use crate::accounts::{hash_secret, new_secret};
use crate::caller::{Admin, Caller};
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
        let scope = idempotency_scope(caller);
        // Group commit: the request joins a batch on its departure's lane
        // (see `group`); its work is the same as alone, on the batch's
        // transaction. A conflict undoes it alone and it is tried again.
        let departure = req.booking_slot_id;
        ledger::retry(|| {
            let (ctx, req, contact) = (self.0.clone(), req.clone(), contact.clone());
            let (caller, scope, idem) = (caller.clone(), scope.clone(), idem.clone());
            self.0.batched(departure, move |tx| {
                Box::pin(async move {
                    let contact = contact.as_contact();
                    Bookings(&ctx)
                        .create_in(tx, &req, &party, &contact, &caller, &scope, idem.as_ref())
                        .await
                })
            })
        })
        .await
    }

    /// One booking's writes on `tx` (the caller commits).
    #[allow(clippy::too_many_arguments)]
    async fn create_in(
        &self,
        tx: &mut tourdesk_store::Tx,
        req: &BookingRequest,
        party: &Party,
        contact: &Contact<'_>,
        caller: &Caller,
        scope: &str,
        idem: Option<&IdempotencyKey>,
    ) -> ServiceResult<Created> {
        let now = self.now();
        let key_hash = idem.map(|k| hash_secret(&k.key));
        let mut derived_token = None;
        if let (Some(k), Some(key_hash)) = (idem, key_hash.as_deref()) {
            let salt = new_secret("salt");
            if !bookings::claim_idempotency_key(tx, scope, key_hash, &k.request_hash, &salt, now)
                .await?
            {
                return self.replay(tx, scope, k).await;
            }
            derived_token = Some(replay_token(&salt, scope, &k.key));
        }
        let cap = i64::from(self.0.settings.max_pending_per_email);
        if caller.user.is_none()
            && !caller.is_admin()
            && cap > 0
            && bookings::pending_guest_bookings(tx, &contact.email.to_lowercase()).await? >= cap
        {
            return Err(ServiceError::Limited {
                message: format!(
                    "this email already holds {cap} unconfirmed bookings; confirm or cancel one first"
                ),
                retry_after_secs: 3600,
            });
        }
        let tour = load_tour(tx, req.tour_id)
            .await
            .map_err(not_found_is_invalid("tour_id"))?;
        let seats = ledger::seats_for(self.0, &tour, party)?;
        let slot = ledger::reserve(
            self.0,
            tx,
            &tour,
            req.booking_slot_id,
            seats,
            Admission::Customer,
            now,
        )
        .await?;
        let (row, token) = ledger::insert_booking(
            self.0,
            tx,
            &tour,
            &slot,
            party,
            seats,
            contact,
            caller.user_id(),
            caller,
            derived_token,
            now,
        )
        .await?;
        if let Some(key_hash) = key_hash.as_deref() {
            bookings::complete_idempotency_key(tx, scope, key_hash, row.id).await?;
        }
        Ok(Created {
            booking: row,
            manage_token: token,
            replayed: false,
        })
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
