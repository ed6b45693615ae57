//! What a booking change leaves behind: the audit rows and outbox events,
//! and the booking rows themselves (one at a time, or a batch's in one
//! multi-row INSERT).

use super::*;

/// What the audit trail keeps of a booking.
pub fn snapshot(b: &BookingRow) -> Value {
    json!({
        "booking_slot_id": b.booking_slot_id,
        "tour_date": b.tour_date,
        "tour_time": b.tour_time,
        "num_adults": b.party.adults,
        "num_children": b.party.children,
        "num_infants": b.party.infants,
        "total_people": b.total_people,
        "total_amount": b.pricing.total_amount,
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
        "customer_email": b.contact.customer_email,
    })
}

/// One audit row for a change to `b`, in the caller's transaction.
#[allow(clippy::too_many_arguments)]
pub async fn audit(
    tx: &mut Tx,
    b: &BookingRow,
    caller: &Caller,
    kind: AuditKind,
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

pub async fn booking_event(
    tx: &mut Tx,
    kind: EventKind,
    b: &BookingRow,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    audit::insert_event(tx, b.tour_id, kind, event_payload(b), now).await?;
    Ok(())
}

/// `booking.modified`, carrying what the booking was before (the email
/// shows old → new).
pub async fn booking_changed_event(
    tx: &mut Tx,
    old: &BookingRow,
    new: &BookingRow,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    let mut payload = event_payload(new);
    payload["previous"] = snapshot(old);
    audit::insert_event(tx, new.tour_id, EventKind::BookingModified, payload, now).await?;
    Ok(())
}

/// Inserts a booking whose people are already counted on `slot` (locked by
/// the caller), with its manage token (`token`, or a new random one), audit
/// row and outbox event: [`insert_bookings`] for one.
#[allow(clippy::too_many_arguments)]
pub async fn insert_booking(
    ctx: &Context,
    tx: &mut Tx,
    tour: &Tour,
    slot: &SlotRow,
    party: &Party,
    seats: i64,
    contact: &ContactDetails,
    owner: Option<i64>,
    caller: &Caller,
    token: Option<String>,
    now: DateTime<Utc>,
) -> ServiceResult<(BookingRow, String)> {
    let admitted = Admitted {
        tour,
        slot,
        party,
        seats,
        contact,
        owner,
        caller,
        token,
    };
    insert_bookings(ctx, tx, vec![admitted], now)
        .await?
        .pop()
        .ok_or_else(|| ServiceError::internal("a booking was inserted but not read back"))
}

/// A booking decided on a locked departure whose counter already holds its
/// seats: what [`insert_bookings`] writes.
pub struct Admitted<'a> {
    pub tour: &'a Tour,
    /// The departure as locked and updated (its price is the booking's;
    /// its people decide the guarantee).
    pub slot: &'a SlotRow,
    pub party: &'a Party,
    pub seats: i64,
    /// Validated.
    pub contact: &'a ContactDetails,
    pub owner: Option<i64>,
    pub caller: &'a Caller,
    /// Its manage token (derived from an Idempotency-Key), or `None` for a
    /// new random one.
    pub token: Option<String>,
}

/// Writes admitted bookings with one multi-row statement per table: the
/// bookings (each under a fresh reference), their manage tokens, one
/// `created` audit row each and one `booking.created` event each, in the
/// given order; then guarantees each departure whose people now reach its
/// minimum (its new bookings' own confirmations show it, so they are not
/// told again). Returns each booking as stored, with its token, in order.
pub async fn insert_bookings(
    ctx: &Context,
    tx: &mut Tx,
    mut admitted: Vec<Admitted<'_>>,
    now: DateTime<Utc>,
) -> ServiceResult<Vec<(BookingRow, String)>> {
    if admitted.is_empty() {
        return Ok(Vec::new());
    }
    let pricing: Vec<Pricing> = admitted
        .iter()
        .map(|a| price(ctx, a.party, a.slot.price_per_person))
        .collect();
    let prefix = &ctx.settings.booking_reference_prefix;
    let mut references: Vec<String> = admitted
        .iter()
        .map(|a| booking::new_reference(prefix, a.tour.today(now)))
        .collect();
    let mut ids: Vec<Option<i64>> = vec![None; admitted.len()];
    // A reference already taken is skipped by the insert; those draw again.
    while ids.iter().any(Option::is_none) {
        let todo: Vec<usize> = (0..admitted.len()).filter(|&i| ids[i].is_none()).collect();
        let rows: Vec<NewBooking<'_>> = todo
            .iter()
            .map(|&i| {
                let (a, p) = (&admitted[i], &pricing[i]);
                NewBooking {
                    booking_reference: &references[i],
                    user_id: a.owner,
                    tour_id: a.tour.id(),
                    booking_slot_id: a.slot.id,
                    party: *a.party,
                    pricing: *p,
                    currency: a.tour.currency.code(),
                    contact: a.contact,
                    status: BookingStatus::Pending.as_str(),
                    seats: a.seats,
                }
            })
            .collect();
        let inserted: HashMap<String, i64> = bookings::insert_bookings(tx, &rows, now)
            .await?
            .into_iter()
            .map(|(id, reference)| (reference, id))
            .collect();
        drop(rows);
        for i in todo {
            match inserted.get(&references[i]) {
                Some(&id) => ids[i] = Some(id),
                None => {
                    references[i] = booking::new_reference(prefix, admitted[i].tour.today(now));
                }
            }
        }
    }
    let ids: Vec<i64> = ids.into_iter().flatten().collect();
    let tokens: Vec<String> = admitted
        .iter_mut()
        .map(|a| a.token.take().unwrap_or_else(|| new_secret("tdm")))
        .collect();
    let hashes: Vec<String> = tokens.iter().map(|t| hash_secret(t)).collect();
    let new_tokens: Vec<bookings::NewToken<'_>> = admitted
        .iter()
        .zip(&ids)
        .zip(&hashes)
        .map(|((a, &id), hash)| bookings::NewToken {
            tour_id: a.tour.id(),
            booking_id: Some(id),
            waitlist_entry_id: None,
            kind: TokenKind::Created,
            token_hash: hash,
        })
        .collect();
    bookings::insert_manage_tokens(tx, &new_tokens, now).await?;
    let mut rows = read_back(tx, &ids).await?;
    let actors: Vec<String> = admitted.iter().map(|a| a.caller.actor()).collect();
    let logs: Vec<NewLog<'_>> = admitted
        .iter()
        .zip(&rows)
        .zip(&actors)
        .map(|((a, row), actor)| NewLog {
            booking_id: row.id,
            tour_id: row.tour_id,
            modified_by: a.caller.user_id(),
            actor,
            modification_type: AuditKind::Created,
            old_value: None,
            new_value: Some(snapshot(row)),
            reason: None,
            ip_address: a.caller.ip.as_deref(),
            user_agent: a.caller.user_agent.as_deref(),
        })
        .collect();
    audit::insert_logs(tx, &logs, now).await?;
    let events: Vec<audit::NewEvent> = rows
        .iter()
        .map(|row| audit::NewEvent {
            tour_id: row.tour_id,
            kind: EventKind::BookingCreated,
            payload: event_payload(row),
        })
        .collect();
    audit::insert_events(tx, &events, now).await?;
    // Each departure once, as updated by the last of its bookings here.
    let mut departures: BTreeMap<i64, &SlotRow> = BTreeMap::new();
    for a in &admitted {
        departures.insert(a.slot.id, a.slot);
    }
    let mut guaranteed = false;
    for slot in departures.values() {
        let own: Vec<i64> = rows
            .iter()
            .filter(|r| r.booking_slot_id == slot.id)
            .map(|r| r.id)
            .collect();
        guaranteed |= guarantee_if_reached(tx, slot, Tell::AllBut(&own), now).await?;
    }
    if guaranteed {
        rows = read_back(tx, &ids).await?;
    }
    Ok(rows.into_iter().zip(tokens).collect())
}

/// The bookings just inserted, in the order of `ids`.
async fn read_back(tx: &mut Tx, ids: &[i64]) -> ServiceResult<Vec<BookingRow>> {
    let mut by_id: HashMap<i64, BookingRow> = bookings::bookings_by_ids(tx, ids)
        .await?
        .into_iter()
        .map(|b| (b.id, b))
        .collect();
    ids.iter()
        .map(|id| {
            by_id.remove(id).ok_or_else(|| {
                ServiceError::internal(format!("booking {id} was inserted but not read back"))
            })
        })
        .collect()
}
