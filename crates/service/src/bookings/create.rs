//! Quoting and creating bookings: the group-commit batch that admits a
//! whole queue of requests in one transaction, and idempotent replay.

use super::*;

impl Bookings<'_> {
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
            .map_err(ServiceError::not_found_is_invalid("booking_slot_id"))?;
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
        let contact = ContactDetails {
            customer_name: name.as_str().to_owned(),
            customer_email: email.as_str().to_owned(),
            customer_phone: phone.as_ref().map(|p| p.as_str().to_owned()),
            needs: ledger::validated_needs(req.needs.clone())?,
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
    pub(super) async fn create_batch(
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
            .map(|r| r.contact.customer_email.to_lowercase())
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
        // The batch's tours, in one statement (None: no such tour).
        let tour_ids: Vec<i64> = deciding
            .iter()
            .map(|&i| batch[i].req.tour_id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut tours: HashMap<i64, Option<Tour>> = tour_ids.iter().map(|&id| (id, None)).collect();
        for row in tourdesk_store::tours::tours_by_ids(tx, &tour_ids).await? {
            tours.insert(row.id, Some(Tour::from_row(row)?));
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
                        .get(&r.contact.customer_email.to_lowercase())
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
                        *pending
                            .entry(r.contact.customer_email.to_lowercase())
                            .or_default() += 1;
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
                return Err(ServiceError::internal(
                    "an admitted booking lost its tour or departure",
                ));
            };
            rows.push(ledger::Admitted {
                tour,
                slot,
                party: &r.party,
                seats: seats_of[i],
                contact: &r.contact,
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
                    Err(ServiceError::internal(
                        "a booking request of the batch was left undecided",
                    ))
                })
            })
            .collect())
    }

    pub(super) async fn replay(
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
}
