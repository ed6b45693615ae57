//! Joining a waitlist: the checks, the entry, its manage token, and joining
//! again (an open entry for the same person and date is updated, not
//! duplicated).

use super::*;
use tourdesk_domain::availability::BookingWindow;

impl Waitlist<'_> {
    /// Joins the waitlist for a full slot (or a full date).
    pub async fn join(
        &self,
        req: JoinRequest,
        caller: &Caller,
    ) -> ServiceResult<(WaitlistRow, Option<String>)> {
        crate::validate::party_size(&self.0.settings, "num_people", req.num_people)?;
        ledger::check_date("requested_date", req.requested_date)?;
        let (name, email) =
            caller.contact(req.customer_name.as_deref(), req.customer_email.as_deref())?;
        let phone = Phone::parse_optional(req.customer_phone.as_deref())
            .map_err(|e| ServiceError::invalid("customer_phone", e.0))?;
        let notes = optional_text(req.notes.as_deref(), MAX_TEXT)
            .map_err(|e| ServiceError::invalid("notes", e.0))?;

        let contact = JoinContact {
            name: name.as_str(),
            email: email.as_str(),
            email_lower: email.normalized(),
            phone: phone.as_ref().map(Phone::as_str),
            notes: notes.as_deref(),
        };
        ledger::retry(|| self.join_once(&req, &contact, caller)).await
    }

    async fn join_once(
        &self,
        req: &JoinRequest,
        contact: &JoinContact<'_>,
        caller: &Caller,
    ) -> ServiceResult<(WaitlistRow, Option<String>)> {
        let now = self.now();
        let mut tx = self.0.db.begin().await?;
        let tour = load_tour(&mut tx, req.tour_id)
            .await
            .map_err(ServiceError::not_found_is_invalid("tour_id"))?;
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
        // The date's departures, locked: a cancellation committing between
        // the "is it full?" check and the insert would otherwise offer its
        // spots before this entry exists, leaving it waiting beside free seats.
        let candidates = waited_for(&mut tx, &tour, req).await?;
        refuse_if_bookable(&ledger::window(self.0), &candidates, req, now)?;
        if let Some(existing) = waitlist::open_entry(
            &mut tx,
            tour.id(),
            date,
            caller.user_id(),
            &contact.email_lower,
        )
        .await?
        {
            return self.rejoin(tx, caller, existing, req, contact, now).await;
        }
        let (row, token) = insert_entry(&mut tx, &tour, req, contact, caller, now).await?;
        tx.commit().await?;
        Ok((row, token))
    }

    /// A join for someone who already waits for that tour and date.
    ///
    /// The entry's owner (its account, a manage token for it, an admin)
    /// hears `409 already_waitlisted`. Anyone else gets the answer a new
    /// join gets (201, the same fields, describing what they sent) without
    /// a manage token, and nothing about the entry changes: telling them
    /// would reveal that this email waits (#13), handing them a token would
    /// hand over someone else's entry. The entry's owner is emailed a link
    /// to it instead (`waitlist.rejoined`), so a customer who simply joined
    /// twice still reaches their entry.
    async fn rejoin(
        &self,
        mut tx: Tx,
        caller: &Caller,
        existing: WaitlistRow,
        req: &JoinRequest,
        contact: &JoinContact<'_>,
        now: DateTime<Utc>,
    ) -> ServiceResult<(WaitlistRow, Option<String>)> {
        match self.authorize(&mut tx, caller, &existing).await {
            Ok(()) => return Err(already_waitlisted(existing.requested_date)),
            Err(ServiceError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        audit::insert_event(
            &mut tx,
            existing.tour_id,
            EventKind::WaitlistRejoined,
            json!({"waitlist_entry_id": existing.id, "tour_id": existing.tour_id,
                   "requested_date": existing.requested_date, "num_people": req.num_people}),
            now,
        )
        .await?;
        tx.commit().await?;
        let answer = WaitlistRow {
            id: existing.id,
            user_id: caller.user_id(),
            tour_id: existing.tour_id,
            booking_slot_id: req.booking_slot_id,
            requested_date: existing.requested_date,
            num_people: req.num_people,
            customer_name: contact.name.to_owned(),
            customer_email: contact.email.to_owned(),
            customer_phone: contact.phone.map(str::to_owned),
            notes: contact.notes.map(str::to_owned),
            status: WaitlistStatus::Active,
            priority: 0,
            held_slot_id: None,
            notified_at: None,
            notification_expires_at: None,
            converted_at: None,
            booking_id: None,
            created_at: now,
        };
        Ok((answer, None))
    }
}

/// The departures an entry for `req` waits for, locked: the one it names,
/// or every open one that day. Refuses a named departure on another tour or
/// date, or not open, and a date with none.
async fn waited_for(
    tx: &mut Tx,
    tour: &ledger::Tour,
    req: &JoinRequest,
) -> ServiceResult<Vec<SlotRow>> {
    let date = req.requested_date;
    let day = slots::lock_slots_of_date(tx, tour.id(), date).await?;
    let candidates: Vec<SlotRow> = match req.booking_slot_id {
        Some(id) => {
            let slot = match day.iter().find(|s| s.id == id) {
                Some(s) => s.clone(),
                None => slots::slot_by_id(tx, id).await?.ok_or_else(|| {
                    ServiceError::invalid("booking_slot_id", format!("slot {id} not found"))
                })?,
            };
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
        None => day.into_iter().filter(SlotRow::is_open).collect(),
    };
    if candidates.is_empty() {
        return Err(ServiceError::conflict(
            "no_slots",
            format!("{} does not run on {date}", tour.row.name),
        ));
    }
    Ok(candidates)
}

/// Refuses to queue a party that cannot book any of `candidates` now
/// (outside the booking window) or could book one of them (it has room).
fn refuse_if_bookable(
    window: &BookingWindow,
    candidates: &[SlotRow],
    req: &JoinRequest,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    let date = req.requested_date;
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
    Ok(())
}

/// Writes a new entry with, for a guest, its manage token, and its
/// `waitlist.joined` event.
async fn insert_entry(
    tx: &mut Tx,
    tour: &ledger::Tour,
    req: &JoinRequest,
    contact: &JoinContact<'_>,
    caller: &Caller,
    now: DateTime<Utc>,
) -> ServiceResult<(WaitlistRow, Option<String>)> {
    // The unique index backs the caller's check against concurrent joins.
    let row = waitlist::insert_entry(
        tx,
        &NewEntry {
            user_id: caller.user_id(),
            tour_id: tour.id(),
            booking_slot_id: req.booking_slot_id,
            requested_date: req.requested_date,
            num_people: req.num_people,
            customer_name: contact.name,
            customer_email: contact.email,
            customer_phone: contact.phone,
            notes: contact.notes,
        },
        now,
    )
    .await
    .map_err(|e| {
        if e.is_unique(constraint::OPEN_WAITLIST_ENTRY) {
            // A concurrent join for this person won: the next attempt
            // finds its entry and answers as `rejoin` does.
            ServiceError::Busy("a concurrent join for the same person".into())
        } else {
            e.into()
        }
    })?;
    let token = if caller.user.is_none() {
        let t = new_secret("tdm");
        booking_store::insert_manage_token(
            tx,
            tour.id(),
            None,
            Some(row.id),
            booking_store::TokenKind::Created,
            &hash_secret(&t),
            now,
        )
        .await?;
        Some(t)
    } else {
        None
    };
    audit::insert_event(
        tx,
        tour.id(),
        EventKind::WaitlistJoined,
        json!({"waitlist_entry_id": row.id, "tour_id": tour.id(), "requested_date": req.requested_date,
               "num_people": row.num_people, "customer_email": row.customer_email}),
        now,
    )
    .await?;
    Ok((row, token))
}
