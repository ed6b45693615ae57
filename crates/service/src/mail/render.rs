//! From an outbox event to the customer's messages: what each event means
//! for its customer, rendered, and the rows that store them.

use std::collections::HashMap;

use tourdesk_store::calendar::{BookingChanges, DepartureRow};

use super::*;
use crate::ledger::Tour;

/// What an event's messages are made from, loaded in the delivering
/// transaction.
pub(crate) struct EventData {
    pub booking: Option<BookingRow>,
    pub entry: Option<WaitlistRow>,
    pub tour: Option<TourRow>,
    /// For a booking on a cancelled departure: later departures with room.
    pub alternatives: Vec<SlotRow>,
    pub departure_cancelled: bool,
    /// The booking as an iCalendar file (the same as `GET .../ics`).
    pub ics: Option<String>,
}

impl EventData {
    /// What each event's messages are made from, by event id. The
    /// bookings, tours, departures and change counts of the whole batch
    /// are read with one statement each, whatever its size (the outbox
    /// delivers up to 100 events at a time: five statements per event
    /// were 500 for a full batch, and a booking costs the server a third to
    /// a half less CPU without them, as the README's Performance section
    /// measures); a waitlist
    /// entry, and the alternatives for a cancelled departure, are read per
    /// event.
    pub(crate) async fn load_batch(
        tx: &mut Tx,
        events: &[EventRow],
        today: NaiveDate,
    ) -> ServiceResult<HashMap<i64, EventData>> {
        let booking_ids = distinct(events.iter().filter_map(booking_id));
        let bookings: HashMap<i64, BookingRow> = bookings::bookings_by_ids(tx, &booking_ids)
            .await?
            .into_iter()
            .map(|b| (b.id, b))
            .collect();
        let booking_of = |e: &EventRow| booking_id(e).and_then(|id| bookings.get(&id));
        let tour_ids = distinct(
            events
                .iter()
                .map(|e| e.tour_id)
                .chain(bookings.values().map(|b| b.tour_id)),
        );
        let tours: HashMap<i64, TourRow> = tours::tours_by_ids(tx, &tour_ids)
            .await?
            .into_iter()
            .map(|t| (t.id, t))
            .collect();
        // The calendar files: each needs its departure and change count.
        let with_file: Vec<&BookingRow> = events
            .iter()
            .filter_map(|e| booking_of(e).filter(|b| gets_calendar_file(e, b)))
            .collect();
        let slot_ids = distinct(with_file.iter().map(|b| b.booking_slot_id));
        let departures: HashMap<i64, DepartureRow> =
            tourdesk_store::calendar::departures_by_ids(tx, &slot_ids)
                .await?
                .into_iter()
                .map(|d| (d.slot.id, d))
                .collect();
        let file_ids = distinct(with_file.iter().map(|b| b.id));
        let changes: HashMap<i64, BookingChanges> =
            tourdesk_store::calendar::booking_changes_of(tx, &file_ids)
                .await?
                .into_iter()
                .collect();
        let mut parsed: HashMap<i64, Tour> = HashMap::new();
        let mut out = HashMap::with_capacity(events.len());
        for e in events {
            let booking = booking_of(e).cloned();
            let entry = match e.payload.0.get("waitlist_entry_id").and_then(Value::as_i64) {
                Some(w) if e.kind().is_some_and(EventKind::is_waitlist) => {
                    waitlist::entry_by_id(tx, w).await?
                }
                _ => None,
            };
            let (departure_cancelled, alternatives) = match (&booking, e.kind()) {
                (Some(b), Some(EventKind::BookingCancelled)) => {
                    cancelled_departure(tx, b, today).await?
                }
                _ => (false, Vec::new()),
            };
            let ics = match &booking {
                Some(b) if gets_calendar_file(e, b) => match departures.get(&b.booking_slot_id) {
                    Some(departure) => {
                        let tour = match parsed.entry(b.tour_id) {
                            std::collections::hash_map::Entry::Occupied(t) => t.into_mut(),
                            std::collections::hash_map::Entry::Vacant(v) => {
                                let row = tours.get(&b.tour_id).cloned().ok_or_else(|| {
                                    ServiceError::not_found(format!("tour {} not found", b.tour_id))
                                })?;
                                v.insert(Tour::from_row(row)?)
                            }
                        };
                        let none = BookingChanges {
                            changes: 0,
                            last_change: None,
                        };
                        let changed = changes.get(&b.id).unwrap_or(&none);
                        let cal = crate::calendar::booking_calendar(
                            b,
                            tour,
                            departure,
                            changed,
                            now_of(e),
                        )?;
                        Some(crate::ics::render(&cal))
                    }
                    None => None,
                },
                _ => None,
            };
            let data = EventData {
                booking,
                entry,
                tour: tours.get(&e.tour_id).cloned(),
                alternatives,
                departure_cancelled,
                ics,
            };
            out.insert(e.id, data);
        }
        Ok(out)
    }
}

/// Each id once, in order: what a batch read binds.
fn distinct(ids: impl Iterator<Item = i64>) -> Vec<i64> {
    ids.collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The booking an event is about, if it is about one.
fn booking_id(e: &EventRow) -> Option<i64> {
    e.payload
        .0
        .get("booking_id")
        .and_then(Value::as_i64)
        .filter(|_| e.kind().is_some_and(EventKind::is_booking))
}

/// Whether the event's email carries the booking's calendar file: every
/// booking email but the departure-guaranteed note and a status change to
/// anything but confirmed.
fn gets_calendar_file(e: &EventRow, b: &BookingRow) -> bool {
    e.kind() != Some(EventKind::BookingGuaranteed)
        && (e.kind() != Some(EventKind::BookingStatusChanged) || b.status == "confirmed")
}

/// For a cancelled booking: whether its departure was cancelled and, if
/// so, up to three later departures of the tour with room for its party.
async fn cancelled_departure(
    tx: &mut Tx,
    b: &BookingRow,
    today: NaiveDate,
) -> ServiceResult<(bool, Vec<SlotRow>)> {
    let slot = slots::slot_by_id(tx, b.booking_slot_id).await?;
    if !slot.as_ref().is_some_and(|s| s.is_cancelled) {
        return Ok((false, Vec::new()));
    }
    let until = today + chrono::Days::new(60);
    let alternatives = slots::slots_between(tx, b.tour_id, today.max(b.tour_date), until)
        .await?
        .into_iter()
        .filter(|s| {
            s.id != b.booking_slot_id
                && s.is_available
                && !s.is_cancelled
                && !s.withdrawn
                && s.blackout_id.is_none()
                && s.available_spots >= b.total_people
        })
        .take(3)
        .collect();
    Ok((true, alternatives))
}

/// When the event happened: the calendar file's DTSTAMP.
fn now_of(e: &EventRow) -> DateTime<Utc> {
    e.created_at
}

/// The messages an event means for its customer (none for most admin-side
/// events). Pure: everything it needs is passed in.
pub(crate) fn render_event(
    e: &EventRow,
    data: &EventData,
    cfg: &MailSettings,
    now: DateTime<Utc>,
) -> ServiceResult<Vec<Rendered>> {
    let Some(tour) = &data.tour else {
        return Ok(Vec::new());
    };
    let base = cfg.public_base_url.trim_end_matches('/');
    let tour_link = format!("{base}/tours/{}", tour.id);
    let env = environment().map_err(|e| ServiceError::internal(format!("email template: {e}")))?;
    let render = |kind: &'static str, to: &str, ctx: minijinja::Value| -> ServiceResult<Rendered> {
        let text = env
            .get_template(&format!("{kind}.txt"))
            .and_then(|t| t.render(&ctx))
            .map_err(template_error)?;
        let (subject, body) = text.split_once('\n').unwrap_or((text.as_str(), ""));
        let subject = subject.trim().to_owned();
        let html = env
            .get_template(&format!("{kind}.html"))
            .and_then(|t| t.render(context! { subject => subject.clone(), ..ctx }))
            .map_err(template_error)?;
        Ok(Rendered {
            kind,
            to_email: to.to_owned(),
            subject,
            text_body: body.trim_start_matches('\n').to_owned(),
            html_body: html,
            ics: None,
            waitlist_entry_id: None,
        })
    };
    let common = context! {
        operator => cfg.operator_name.clone(),
        brand => cfg.brand_color.clone(),
        logo => cfg.logo_url.clone(),
        support => cfg.support_email.clone(),
        tour_link => tour_link.clone(),
    };
    let mut out = Vec::new();
    if let Some(b) = &data.booking {
        let view = booking_view(b, tour);
        let manage_link = format!(
            "{base}/manage?reference={}&email={}",
            url_encode(&b.booking_reference),
            url_encode(&b.contact.customer_email)
        );
        let refund = b
            .refund_amount
            .filter(|r| *r > 0)
            .map(|r| b.money(r).with_code());
        let ctx =
            context! { b => view, manage_link => manage_link, refund => refund, ..common.clone() };
        let with_ics = |mut r: Rendered| {
            r.ics = data.ics.clone();
            r
        };
        match e.kind() {
            Some(EventKind::BookingCreated) => out.push(with_ics(render(
                "booking_created",
                &b.contact.customer_email,
                ctx,
            )?)),
            Some(EventKind::BookingReminder)
                if matches!(b.status.as_str(), "pending" | "confirmed") =>
            {
                out.push(with_ics(render(
                    "booking_reminder",
                    &b.contact.customer_email,
                    ctx,
                )?))
            }
            // Its departure reached its minimum (or was guaranteed): only
            // worth telling while the booking stands.
            Some(EventKind::BookingGuaranteed)
                if matches!(b.status.as_str(), "pending" | "confirmed") =>
            {
                out.push(render(
                    "departure_guaranteed",
                    &b.contact.customer_email,
                    ctx,
                )?)
            }
            Some(EventKind::BookingStatusChanged) if b.status == "confirmed" => out.push(with_ics(
                render("booking_confirmed", &b.contact.customer_email, ctx)?,
            )),
            Some(EventKind::BookingModified) => {
                let old = e.payload.0.get("previous").map(|p| {
                    let n = |k: &str| p.get(k).and_then(Value::as_i64).unwrap_or(0);
                    let date = p
                        .get("tour_date")
                        .and_then(Value::as_str)
                        .and_then(|d| d.parse::<NaiveDate>().ok());
                    let time = p
                        .get("tour_time")
                        .and_then(Value::as_str)
                        .and_then(|t| t.parse::<NaiveTime>().ok());
                    context! {
                        when => match (date, time) {
                            (Some(d), Some(t)) => local_when(&tour.timezone, d, t),
                            _ => String::new(),
                        },
                        party => party(n("num_adults"), n("num_children"), n("num_infants")),
                    }
                });
                out.push(with_ics(render(
                    "booking_changed",
                    &b.contact.customer_email,
                    context! { old => old, ..ctx },
                )?))
            }
            Some(EventKind::BookingCancelled) => {
                let reason = b.cancellation_reason.clone();
                if data.departure_cancelled {
                    let alternatives: Vec<_> = data
                        .alternatives
                        .iter()
                        .map(|s| {
                            context! {
                                when => local_when(&tour.timezone, s.slot_date, s.start_time),
                                spots => s.available_spots,
                                link => format!("{base}/tours/{}?date={}", tour.id, s.slot_date),
                            }
                        })
                        .collect();
                    out.push(with_ics(render(
                        "departure_cancelled",
                        &b.contact.customer_email,
                        context! {
                            reason => reason,
                            minimum => b.departure.called_off.then_some(b.departure.min_capacity),
                            alternatives => alternatives,
                            ..ctx
                        },
                    )?))
                } else {
                    out.push(with_ics(render(
                        "booking_cancelled",
                        &b.contact.customer_email,
                        context! { reason => reason, ..ctx },
                    )?))
                }
            }
            _ => {}
        }
    }
    if let Some(w) = &data.entry {
        let view = context! {
            name => w.customer_name.clone(),
            tour => tour.name.clone(),
            date => w.requested_date.format("%A %-d %B %Y").to_string(),
            people => people(w.num_people),
            when => e.payload.0.get("slot_date").and_then(Value::as_str)
                .and_then(|d| d.parse::<NaiveDate>().ok())
                .zip(e.payload.0.get("start_time").and_then(Value::as_str)
                    .and_then(|t| t.parse::<NaiveTime>().ok()))
                .map(|(d, t)| local_when(&tour.timezone, d, t))
                .unwrap_or_default(),
            until => w.notification_expires_at
                .or_else(|| e.payload.0.get("expires_at").and_then(Value::as_str)
                    .and_then(|t| t.parse::<DateTime<Utc>>().ok()))
                .map(|t| local_instant(&tour.timezone, t))
                .unwrap_or_default(),
        };
        let claim_link = format!(
            "{base}/manage?waitlist={}#token={CLAIM_TOKEN_PLACEHOLDER}",
            w.id
        );
        let ctx = context! { w => view, claim_link => claim_link, ..common.clone() };
        match e.kind() {
            Some(EventKind::WaitlistJoined) => {
                out.push(render("waitlist_joined", &w.customer_email, ctx)?)
            }
            // Only an offer still standing is worth an email.
            Some(EventKind::WaitlistNotified)
                if w.status == WaitlistStatus::Notified
                    && w.notification_expires_at.is_none_or(|t| t > now) =>
            {
                let mut r = render("waitlist_offer", &w.customer_email, ctx)?;
                r.waitlist_entry_id = Some(w.id);
                out.push(r)
            }
            Some(EventKind::WaitlistExpired) => {
                out.push(render("waitlist_expired", &w.customer_email, ctx)?)
            }
            // Someone joined again with this email: its owner gets the
            // link (with a token made when sent), the caller got nothing.
            Some(EventKind::WaitlistRejoined) if w.status.is_open() => {
                let mut r = render("waitlist_rejoined", &w.customer_email, ctx)?;
                r.waitlist_entry_id = Some(w.id);
                out.push(r)
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The rows that store what event `e` rendered to (sent later, or held for
/// preview when delivery is off).
pub(crate) fn new_messages<'a>(
    e: &EventRow,
    rendered: &'a [Rendered],
    cfg: &MailSettings,
) -> impl Iterator<Item = NewMessage<'a>> {
    let status = if cfg.delivery_enabled {
        "queued"
    } else {
        "held"
    };
    let (event_id, tour_id) = (e.id, e.tour_id);
    rendered.iter().map(move |r| NewMessage {
        event_id,
        tour_id,
        kind: r.kind,
        to_email: &r.to_email,
        subject: &r.subject,
        text_body: &r.text_body,
        html_body: &r.html_body,
        ics: r.ics.as_deref(),
        waitlist_entry_id: r.waitlist_entry_id,
        status,
    })
}
