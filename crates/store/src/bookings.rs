//! Bookings, their manage tokens and idempotency keys.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use tourdesk_domain::booking::{Party, Pricing};
use tourdesk_domain::{ContactDetails, Currency, Money};

use crate::{StoreResult, Tx, built, exec, holding_statuses, locked, on};

/// A booking with what customers see of its tour and slot.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BookingRow {
    pub id: i64,
    pub booking_reference: String,
    pub user_id: Option<i64>,
    pub tour_id: i64,
    pub booking_slot_id: i64,
    /// Who is coming (`num_adults`, `num_children`, `num_infants`).
    #[sqlx(flatten)]
    pub party: Party,
    pub total_people: i64,
    /// The prices and totals, in minor units of `currency`.
    #[sqlx(flatten)]
    pub pricing: Pricing,
    pub refund_amount: Option<i64>,
    /// The currency of every amount here, parsed as the row is read.
    #[sqlx(try_from = "String")]
    pub currency: Currency,
    /// Its party's contact details and needs.
    #[sqlx(flatten)]
    pub contact: ContactDetails,
    pub status: String,
    pub cancellation_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
    /// When the operator checked the party in at the departure (0013).
    pub checked_in_at: Option<DateTime<Utc>>,
    /// The places held on the departure (0014): the people, less infants
    /// on a tour where infants take no seat.
    pub seats: i64,
    /// Refunded for people removed from the booking (0014).
    pub reduction_refund_amount: i64,
    pub tour_name: String,
    /// The tour's IANA zone.
    pub tour_timezone: String,
    pub tour_date: NaiveDate,
    pub tour_time: NaiveTime,
    pub tour_end_time: NaiveTime,
    pub starts_at: DateTime<Utc>,
    /// Its departure's standing on its minimum (0015).
    #[sqlx(flatten)]
    pub departure: crate::slots::Standing,
}

#[macro_export]
#[doc(hidden)]
macro_rules! booking_select {
    () => {
        concat!(
            "SELECT b.id, b.booking_reference, b.user_id, b.tour_id, b.booking_slot_id, b.num_adults, b.num_children, \
         b.num_infants, b.total_people, b.price_per_adult, b.price_per_child, b.price_per_infant, b.subtotal, \
         b.discount_amount, b.tax_amount, b.total_amount, b.refund_amount, b.currency, ",
            $crate::contact_cols!("b."),
            ", b.status, b.cancellation_reason, b.created_at, b.modified_at, b.cancelled_at, b.checked_in_at, \
         b.seats, b.reduction_refund_amount, t.name AS tour_name, t.timezone AS tour_timezone, \
         s.slot_date AS tour_date, s.start_time AS tour_time, s.end_time AS tour_end_time, s.starts_at, ",
            $crate::standing_cols!(),
            " FROM bookings b JOIN tours t ON t.id = b.tour_id JOIN booking_slots s ON s.id = b.booking_slot_id "
        )
    };
}

impl BookingRow {
    /// `minor` units of the booking's currency.
    pub fn money(&self, minor: i64) -> Money {
        Money::new(minor, self.currency.clone())
    }
}

pub struct NewBooking<'a> {
    pub booking_reference: &'a str,
    pub user_id: Option<i64>,
    pub tour_id: i64,
    pub booking_slot_id: i64,
    pub party: Party,
    pub pricing: Pricing,
    pub currency: &'a str,
    pub contact: &'a ContactDetails,
    pub status: &'a str,
    /// The places the party takes (see `BookingRow::seats`).
    pub seats: i64,
}

/// Inserts a booking; `None` when its reference is taken (pick another):
/// [`insert_bookings`] for one.
pub async fn insert_booking(
    tx: &mut Tx,
    b: &NewBooking<'_>,
    now: DateTime<Utc>,
) -> StoreResult<Option<i64>> {
    let inserted = insert_bookings(tx, std::slice::from_ref(b), now).await?;
    Ok(inserted.first().map(|(id, _)| *id))
}

/// The columns of [`ContactDetails`], each after `$prefix` (`"b."`), in
/// the order of [`contact_values`].
#[macro_export]
#[doc(hidden)]
macro_rules! contact_cols {
    ($p:literal) => {
        concat!(
            $p,
            "customer_name, ",
            $p,
            "customer_email, ",
            $p,
            "customer_phone, ",
            $p,
            "special_requirements, ",
            $p,
            "dietary_restrictions, ",
            $p,
            "accessibility_needs"
        )
    };
}

/// A booking's contact details as `(column, value)`, in the order of
/// `contact_cols!`: what an INSERT or UPDATE binds.
fn contact_values(c: &ContactDetails) -> impl Iterator<Item = (&'static str, Option<&str>)> {
    [
        ("customer_name", Some(c.customer_name.as_str())),
        ("customer_email", Some(c.customer_email.as_str())),
        ("customer_phone", c.customer_phone.as_deref()),
    ]
    .into_iter()
    .chain(c.needs.fields())
}

pub async fn booking_by_id(tx: &mut Tx, id: i64) -> StoreResult<Option<BookingRow>> {
    const SQL: &str = concat!(booking_select!(), "WHERE b.id = $1");
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(id).fetch_optional(c).await)?)
}

pub async fn booking_by_reference(tx: &mut Tx, reference: &str) -> StoreResult<Option<BookingRow>> {
    const SQL: &str = concat!(booking_select!(), "WHERE b.booking_reference = $1");
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(reference).fetch_optional(c).await)?)
}

/// A user's bookings, newest first, optionally of one status.
pub async fn bookings_of_user(
    tx: &mut Tx,
    user_id: i64,
    status: Option<&str>,
) -> StoreResult<Vec<BookingRow>> {
    const SQL: &str = concat!(
        booking_select!(),
        "WHERE b.user_id = $1 AND ($2 IS NULL OR b.status = $2) ORDER BY b.created_at DESC, b.id DESC"
    );
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(user_id).bind(status).fetch_all(c).await)?)
}

/// The admin list's WHERE clause ($1 tour, $2 status, $3..$4 tour dates,
/// $5 slot, $6 a lowercase LIKE pattern for reference, name or email, $7
/// one for the phone with spaces and dashes left out), shared by the page
/// query, its count and the CSV export. Both patterns escape their
/// wildcards with a backslash ([`like_pattern`]).
macro_rules! booking_filter {
    () => {
        "WHERE ($1 IS NULL OR b.tour_id = $1) AND ($2 IS NULL OR b.status = $2) \
         AND ($3 IS NULL OR s.slot_date >= $3) AND ($4 IS NULL OR s.slot_date <= $4) \
         AND ($5 IS NULL OR b.booking_slot_id = $5) \
         AND ($6 IS NULL OR LOWER(b.booking_reference) LIKE $6 ESCAPE '\\' \
              OR LOWER(b.customer_name) LIKE $6 ESCAPE '\\' OR LOWER(b.customer_email) LIKE $6 ESCAPE '\\' \
              OR REPLACE(REPLACE(COALESCE(b.customer_phone, ''), ' ', ''), '-', '') LIKE $7 ESCAPE '\\')"
    };
}

/// A LIKE pattern matching `text` anywhere, its own `%`, `_` and `\`
/// matched literally (the filter says `ESCAPE '\'`).
pub fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The admin's filters; `None` means any.
pub struct BookingFilter<'a> {
    pub tour_id: Option<i64>,
    pub status: Option<&'a str>,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    pub slot_id: Option<i64>,
    /// [`like_pattern`] of the lowercased search text.
    pub text_pattern: Option<String>,
    /// [`like_pattern`] of the search text without spaces and dashes, when
    /// it has a digit (phone numbers are stored as typed).
    pub phone_pattern: Option<String>,
}

/// Bookings matching the filters (by tour date), newest first, one page.
pub async fn list_bookings(
    tx: &mut Tx,
    f: &BookingFilter<'_>,
    limit: i64,
    offset: i64,
) -> StoreResult<Vec<BookingRow>> {
    const SQL: &str = concat!(
        booking_select!(),
        booking_filter!(),
        " ORDER BY b.created_at DESC, b.id DESC LIMIT $8 OFFSET $9"
    );
    Ok(on!(tx, c => sqlx::query_as(SQL)
        .bind(f.tour_id).bind(f.status).bind(f.start_date).bind(f.end_date).bind(f.slot_id)
        .bind(f.text_pattern.as_deref()).bind(f.phone_pattern.as_deref())
        .bind(limit).bind(offset).fetch_all(c).await)?)
}

pub async fn count_bookings(tx: &mut Tx, f: &BookingFilter<'_>) -> StoreResult<i64> {
    const SQL: &str = concat!(
        "SELECT COUNT(*) FROM bookings b JOIN booking_slots s ON s.id = b.booking_slot_id ",
        booking_filter!()
    );
    Ok(on!(tx, c => sqlx::query_scalar(SQL)
        .bind(f.tour_id).bind(f.status).bind(f.start_date).bind(f.end_date).bind(f.slot_id)
        .bind(f.text_pattern.as_deref()).bind(f.phone_pattern.as_deref())
        .fetch_one(c).await)?)
}

/// Bookings on a slot that hold capacity (the manifest), by name.
pub async fn active_bookings_on_slot(tx: &mut Tx, slot_id: i64) -> StoreResult<Vec<BookingRow>> {
    const SQL: &str = concat!(
        booking_select!(),
        "WHERE b.booking_slot_id = $1 AND b.status IN ",
        holding_statuses!(),
        " ORDER BY b.customer_name, b.id"
    );
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(slot_id).fetch_all(c).await)?)
}

/// The cancelled (or refunded) bookings on a slot, by name: the manifest
/// of a cancelled departure still shows who was on it.
pub async fn cancelled_bookings_on_slot(tx: &mut Tx, slot_id: i64) -> StoreResult<Vec<BookingRow>> {
    const SQL: &str = concat!(
        booking_select!(),
        "WHERE b.booking_slot_id = $1 AND b.status IN ('cancelled', 'refunded') ORDER BY b.customer_name, b.id"
    );
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(slot_id).fetch_all(c).await)?)
}

/// The bookings on a slot cancelled at exactly `at` (the ones one
/// departure cancellation, stamped with its transaction's `now`, took).
pub async fn cancelled_on_slot_at(
    tx: &mut Tx,
    slot_id: i64,
    at: DateTime<Utc>,
) -> StoreResult<Vec<BookingRow>> {
    const SQL: &str = concat!(
        booking_select!(),
        "WHERE b.booking_slot_id = $1 AND b.status = 'cancelled' AND b.cancelled_at = $2 \
         ORDER BY b.customer_name, b.id"
    );
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(slot_id).bind(at).fetch_all(c).await)?)
}

/// Replaces a booking's contact details (as validated by the service) if
/// it is still in `status`; false if it changed meanwhile.
pub async fn update_contact(
    tx: &mut Tx,
    id: i64,
    status: &str,
    contact: &ContactDetails,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let updated = built!(tx, "UPDATE bookings SET modified_at = ", |qb, c| {
        qb.push_bind(now);
        for (column, value) in contact_values(contact) {
            qb.push(", ").push(column).push(" = ").push_bind(value);
        }
        qb.push(" WHERE id = ").push_bind(id);
        qb.push(" AND status = ").push_bind(status);
        qb.build().execute(c).await?.rows_affected()
    });
    Ok(updated == 1)
}

/// Sets (`Some`) or clears a booking's check-in if it is still in
/// `status`; false if it changed meanwhile.
pub async fn set_checked_in(
    tx: &mut Tx,
    id: i64,
    status: &str,
    at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    const SQL: &str =
        "UPDATE bookings SET checked_in_at = $3, modified_at = $4 WHERE id = $1 AND status = $2";
    Ok(exec!(
        tx,
        sqlx::query(SQL).bind(id).bind(status).bind(at).bind(now)
    )? == 1)
}

/// Pending bookings created before `before` (expired holds).
pub async fn pending_before(
    tx: &mut Tx,
    before: DateTime<Utc>,
    limit: i64,
) -> StoreResult<Vec<i64>> {
    const SQL: &str =
        "SELECT id FROM bookings WHERE status = 'pending' AND created_at < $1 ORDER BY id LIMIT $2";
    Ok(on!(tx, c => sqlx::query_scalar(SQL).bind(before).bind(limit).fetch_all(c).await)?)
}

/// New slot, party and prices after a modification.
pub struct BookingChange {
    pub booking_slot_id: i64,
    pub party: Party,
    pub pricing: Pricing,
    /// The places the new party takes.
    pub seats: i64,
    /// Refunded now for people removed (added to what was refunded before).
    pub reduction_refund: i64,
}

/// Applies a modification if the booking is still in `status`; false if it
/// changed meanwhile.
pub async fn apply_change(
    tx: &mut Tx,
    id: i64,
    status: &str,
    ch: &BookingChange,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    const SQL: &str = "UPDATE bookings SET booking_slot_id = $3, num_adults = $4, num_children = $5, num_infants = $6, \
         total_people = $4 + $5 + $6, price_per_adult = $7, price_per_child = $8, price_per_infant = $9, \
         subtotal = $10, discount_amount = $11, tax_amount = $12, total_amount = $13, modified_at = $14, \
         seats = $15, reduction_refund_amount = reduction_refund_amount + $16 \
         WHERE id = $1 AND status = $2";
    Ok(exec!(
        tx,
        sqlx::query(SQL)
            .bind(id)
            .bind(status)
            .bind(ch.booking_slot_id)
            .bind(ch.party.adults)
            .bind(ch.party.children)
            .bind(ch.party.infants)
            .bind(ch.pricing.price_per_adult)
            .bind(ch.pricing.price_per_child)
            .bind(ch.pricing.price_per_infant)
            .bind(ch.pricing.subtotal)
            .bind(ch.pricing.discount_amount)
            .bind(ch.pricing.tax_amount)
            .bind(ch.pricing.total_amount)
            .bind(now)
            .bind(ch.seats)
            .bind(ch.reduction_refund)
    )? == 1)
}

/// Moves a booking from status `from` to `to`; false if it was no longer in
/// `from` (a concurrent change won). Cancellation fields are set when given.
pub async fn set_status(
    tx: &mut Tx,
    id: i64,
    from: &str,
    to: &str,
    cancellation_reason: Option<&str>,
    refund_amount: Option<i64>,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    const SQL: &str = "UPDATE bookings SET status = $3, modified_at = $6, \
         cancellation_reason = COALESCE($4, cancellation_reason), refund_amount = COALESCE($5, refund_amount), \
         cancelled_at = CASE WHEN $3 = 'cancelled' THEN $6 ELSE cancelled_at END \
         WHERE id = $1 AND status = $2";
    Ok(exec!(
        tx,
        sqlx::query(SQL)
            .bind(id)
            .bind(from)
            .bind(to)
            .bind(cancellation_reason)
            .bind(refund_amount)
            .bind(now)
    )? == 1)
}

pub async fn insert_manage_token(
    tx: &mut Tx,
    tour_id: i64,
    booking_id: Option<i64>,
    waitlist_entry_id: Option<i64>,
    kind: TokenKind,
    token_hash: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    const SQL: &str = "INSERT INTO manage_tokens (tour_id, booking_id, waitlist_entry_id, kind, token_hash, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)";
    exec!(
        tx,
        sqlx::query(SQL)
            .bind(tour_id)
            .bind(booking_id)
            .bind(waitlist_entry_id)
            .bind(kind.as_str())
            .bind(token_hash)
            .bind(now)
    )?;
    Ok(())
}

/// Which flow issued a manage token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Handed out when the booking or waitlist entry was made.
    Created,
    /// Minted by a reference + email lookup; the next lookup revokes it.
    Lookup,
    /// Minted for a link in an email when the email is sent.
    Email,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Created => "created",
            TokenKind::Lookup => "lookup",
            TokenKind::Email => "email",
        }
    }
}

/// Revokes the live tokens earlier lookups issued for a booking.
pub async fn revoke_lookup_tokens(
    tx: &mut Tx,
    booking_id: i64,
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    const SQL: &str = "UPDATE manage_tokens SET revoked_at = $2 \
         WHERE booking_id = $1 AND kind = 'lookup' AND revoked_at IS NULL";
    exec!(tx, sqlx::query(SQL).bind(booking_id).bind(now))
}

/// Whether `token_hash` is a live manage token of the booking: not revoked,
/// and the booking's departure is on or after `departed_since` (tokens
/// expire a configured time after the departure).
pub async fn token_opens_booking(
    tx: &mut Tx,
    booking_id: i64,
    token_hash: &str,
    departed_since: NaiveDate,
) -> StoreResult<bool> {
    const SQL: &str = "SELECT COUNT(*) FROM manage_tokens t \
         JOIN bookings b ON b.id = t.booking_id \
         JOIN booking_slots s ON s.id = b.booking_slot_id \
         WHERE t.booking_id = $1 AND t.token_hash = $2 AND t.revoked_at IS NULL \
         AND s.slot_date >= $3";
    let n: i64 = on!(tx, c => sqlx::query_scalar(SQL)
        .bind(booking_id)
        .bind(token_hash)
        .bind(departed_since)
        .fetch_one(c)
        .await)?;
    Ok(n > 0)
}

/// Whether `token_hash` is a live manage token of the waitlist entry (not
/// revoked, its date on or after `departed_since`).
pub async fn token_opens_waitlist_entry(
    tx: &mut Tx,
    entry_id: i64,
    token_hash: &str,
    departed_since: NaiveDate,
) -> StoreResult<bool> {
    const SQL: &str = "SELECT COUNT(*) FROM manage_tokens t \
         JOIN waitlist_entries w ON w.id = t.waitlist_entry_id \
         WHERE t.waitlist_entry_id = $1 AND t.token_hash = $2 AND t.revoked_at IS NULL \
         AND w.requested_date >= $3";
    let n: i64 = on!(tx, c => sqlx::query_scalar(SQL)
        .bind(entry_id)
        .bind(token_hash)
        .bind(departed_since)
        .fetch_one(c)
        .await)?;
    Ok(n > 0)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IdempotencyRow {
    pub request_hash: String,
    pub booking_id: Option<i64>,
    /// The salt the manage token is derived from (with the client's key,
    /// which is stored only as a hash). NULL on rows from before 0007.
    pub token_salt: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn idempotency_key(
    tx: &mut Tx,
    scope: &str,
    key: &str,
) -> StoreResult<Option<IdempotencyRow>> {
    const SQL: &str = "SELECT request_hash, booking_id, token_salt, created_at FROM idempotency_keys \
         WHERE scope = $1 AND idem_key = $2";
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(scope).bind(key).fetch_optional(c).await)?)
}

/// Locks a booking's row (PostgreSQL; SQLite has one writer) and returns
/// the departure it is on. Locks the `bookings` table alone: the caller
/// re-reads the whole row (with its tour and slot) after the lock, so a
/// concurrent move can never make a locked booking look missing.
pub async fn lock_booking(tx: &mut Tx, id: i64) -> StoreResult<Option<i64>> {
    Ok(locked!(
        tx,
        "SELECT booking_slot_id FROM bookings WHERE id = $1",
        "FOR UPDATE",
        |c, SQL| sqlx::query_scalar(SQL).bind(id).fetch_optional(c).await
    )?)
}

/// Locks the capacity-holding bookings of a departure in ascending id
/// order; the caller holds the departure's lock, so none can join or leave.
pub async fn lock_active_bookings_on_slot(tx: &mut Tx, slot_id: i64) -> StoreResult<Vec<i64>> {
    Ok(locked!(
        tx,
        concat!(
            "SELECT id FROM bookings WHERE booking_slot_id = $1 AND status IN ",
            holding_statuses!(),
            " ORDER BY id"
        ),
        "FOR UPDATE",
        |c, SQL| sqlx::query_scalar(SQL).bind(slot_id).fetch_all(c).await
    )?)
}

/// Every booking on a departure, in id order (a schedule edit audits each).
pub async fn bookings_on_slot(tx: &mut Tx, slot_id: i64) -> StoreResult<Vec<BookingRow>> {
    const SQL: &str = concat!(
        booking_select!(),
        "WHERE b.booking_slot_id = $1 AND b.status IN ",
        holding_statuses!(),
        " ORDER BY b.id"
    );
    Ok(on!(tx, c => sqlx::query_as(SQL).bind(slot_id).fetch_all(c).await)?)
}

// ---- many at once (a group-committed batch of creates) ----

/// Rows bound per multi-row statement: under both engines' limits on bound
/// parameters (SQLite 32,766, PostgreSQL 65,535) for the widest row here.
const ROWS_PER_STATEMENT: usize = 500;

/// Inserts bookings with one statement per 500 and returns `(id,
/// reference)` of those inserted; a row whose reference is already taken
/// is skipped (its caller draws another reference and inserts it again).
pub async fn insert_bookings(
    tx: &mut Tx,
    rows: &[NewBooking<'_>],
    now: DateTime<Utc>,
) -> StoreResult<Vec<(i64, String)>> {
    let mut inserted = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        inserted.extend(built!(tx, concat!("INSERT INTO bookings (booking_reference, user_id, tour_id, booking_slot_id, num_adults, \
                     num_children, num_infants, total_people, price_per_adult, price_per_child, price_per_infant, \
                     subtotal, discount_amount, tax_amount, total_amount, currency, ", contact_cols!(""), ", status, \
                     created_at, modified_at, seats) "), |qb, c| {
                qb.push_values(chunk, |mut q, b| {
                    q.push_bind(b.booking_reference).push_bind(b.user_id).push_bind(b.tour_id)
                        .push_bind(b.booking_slot_id).push_bind(b.party.adults).push_bind(b.party.children)
                        .push_bind(b.party.infants).push_bind(b.party.total())
                        .push_bind(b.pricing.price_per_adult).push_bind(b.pricing.price_per_child)
                        .push_bind(b.pricing.price_per_infant).push_bind(b.pricing.subtotal)
                        .push_bind(b.pricing.discount_amount).push_bind(b.pricing.tax_amount)
                        .push_bind(b.pricing.total_amount).push_bind(b.currency);
                    for (_, value) in contact_values(b.contact) {
                        q.push_bind(value);
                    }
                    q.push_bind(b.status).push_bind(now).push_bind(now).push_bind(b.seats);
                });
                qb.push(" ON CONFLICT (booking_reference) DO NOTHING RETURNING id, booking_reference");
                let got: Vec<(i64, String)> = qb.build_query_as().fetch_all(c).await?;
                got
        }));
    }
    Ok(inserted)
}

/// Bookings by id, in id order (those that exist).
pub async fn bookings_by_ids(tx: &mut Tx, ids: &[i64]) -> StoreResult<Vec<BookingRow>> {
    crate::rows_for_ids!(
        tx,
        concat!(booking_select!(), "WHERE b.id IN ("),
        ids,
        ") ORDER BY b.id"
    )
}

/// A manage token to store (its hash only).
pub struct NewToken<'a> {
    pub tour_id: i64,
    pub booking_id: Option<i64>,
    pub waitlist_entry_id: Option<i64>,
    pub kind: TokenKind,
    pub token_hash: &'a str,
}

/// Stores manage tokens, one statement per 500.
pub async fn insert_manage_tokens(
    tx: &mut Tx,
    rows: &[NewToken<'_>],
    now: DateTime<Utc>,
) -> StoreResult<()> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        built!(
            tx,
            "INSERT INTO manage_tokens (tour_id, booking_id, waitlist_entry_id, kind, token_hash, created_at) ",
            |qb, c| {
                qb.push_values(chunk, |mut q, t| {
                    q.push_bind(t.tour_id)
                        .push_bind(t.booking_id)
                        .push_bind(t.waitlist_entry_id)
                        .push_bind(t.kind.as_str())
                        .push_bind(t.token_hash)
                        .push_bind(now);
                });
                qb.build().execute(c).await?;
            }
        )
    }
    Ok(())
}

/// Which of these `(scope, key hash)` idempotency keys are already stored.
pub async fn stored_idempotency_keys(
    tx: &mut Tx,
    keys: &[(&str, &str)],
) -> StoreResult<Vec<(String, String)>> {
    let mut found = Vec::new();
    for chunk in keys.chunks(ROWS_PER_STATEMENT) {
        found.extend(built!(
            tx,
            "SELECT scope, idem_key FROM idempotency_keys WHERE (scope, idem_key) IN (",
            |qb, c| {
                qb.push_values(chunk, |mut q, (scope, key)| {
                    q.push_bind(*scope).push_bind(*key);
                });
                qb.push(")");
                let got: Vec<(String, String)> = qb.build_query_as().fetch_all(c).await?;
                got
            }
        ));
    }
    Ok(found)
}

/// An idempotency key stored with the booking it made.
pub struct NewIdempotencyKey<'a> {
    pub scope: &'a str,
    pub key_hash: &'a str,
    pub request_hash: &'a str,
    pub token_salt: &'a str,
    pub booking_id: i64,
}

/// Stores used idempotency keys with their bookings; returns how many were
/// stored (fewer than given when another transaction stored one of them
/// first: on PostgreSQL this waits for that transaction to finish).
pub async fn insert_idempotency_keys(
    tx: &mut Tx,
    rows: &[NewIdempotencyKey<'_>],
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    let mut stored = 0;
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        stored += built!(
            tx,
            "INSERT INTO idempotency_keys (scope, idem_key, request_hash, token_salt, created_at, booking_id) ",
            |qb, c| {
                qb.push_values(chunk, |mut q, k| {
                    q.push_bind(k.scope)
                        .push_bind(k.key_hash)
                        .push_bind(k.request_hash)
                        .push_bind(k.token_salt)
                        .push_bind(now)
                        .push_bind(k.booking_id);
                });
                qb.push(" ON CONFLICT (scope, idem_key) DO NOTHING");
                qb.build().execute(c).await?.rows_affected()
            }
        );
    }
    Ok(stored)
}

/// Unconfirmed guest bookings per lowercased email, for these emails
/// (those with none are left out).
pub async fn pending_guest_bookings_of(
    tx: &mut Tx,
    emails_lower: &[&str],
) -> StoreResult<Vec<(String, i64)>> {
    let mut found = Vec::new();
    for chunk in emails_lower.chunks(ROWS_PER_STATEMENT) {
        found.extend(built!(
            tx,
            "SELECT LOWER(customer_email), COUNT(*) FROM bookings WHERE status = 'pending' \
                     AND user_id IS NULL AND LOWER(customer_email) IN (",
            |qb, c| {
                let mut list = qb.separated(", ");
                for e in chunk {
                    list.push_bind(*e);
                }
                qb.push(") GROUP BY LOWER(customer_email)");
                let got: Vec<(String, i64)> = qb.build_query_as().fetch_all(c).await?;
                got
            }
        ));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn like_patterns_match_wildcards_literally() {
        assert_eq!(like_pattern("ann"), "%ann%");
        assert_eq!(like_pattern("50%_off"), "%50\\%\\_off%");
        assert_eq!(like_pattern("a\\b"), "%a\\\\b%");
    }
}

#[cfg(test)]
mod contact_tests {
    use super::*;

    #[test]
    fn the_contact_columns_are_the_values_bound() {
        let columns: Vec<&str> = contact_cols!("").split(", ").collect();
        let bound: Vec<&str> = contact_values(&ContactDetails::default())
            .map(|(column, _)| column)
            .collect();
        assert_eq!(columns, bound);
    }
}
