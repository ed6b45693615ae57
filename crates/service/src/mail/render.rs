//! From an outbox event to the customer's messages: what each event means
//! for its customer, rendered, and the rows that store them.

use super::*;

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
    pub(crate) async fn load(
        tx: &mut Tx,
        e: &EventRow,
        today: NaiveDate,
    ) -> ServiceResult<EventData> {
        let p = &e.payload.0;
        let id = |k: &str| p.get(k).and_then(Value::as_i64);
        let booking = match id("booking_id") {
            Some(b) if e.kind().is_some_and(EventKind::is_booking) => {
                bookings::booking_by_id(tx, b).await?
            }
            _ => None,
        };
        let entry = match id("waitlist_entry_id") {
            Some(w) if e.kind().is_some_and(EventKind::is_waitlist) => {
                waitlist::entry_by_id(tx, w).await?
            }
            _ => None,
        };
        let tour = tours::tour_by_id(tx, e.tour_id).await?;
        let mut alternatives = Vec::new();
        let mut departure_cancelled = false;
        if let (Some(b), Some(EventKind::BookingCancelled)) = (&booking, e.kind()) {
            let slot = slots::slot_by_id(tx, b.booking_slot_id).await?;
            departure_cancelled = slot.as_ref().is_some_and(|s| s.is_cancelled);
            if departure_cancelled {
                let until = today + chrono::Days::new(60);
                alternatives = slots::slots_between(tx, b.tour_id, today.max(b.tour_date), until)
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
            }
        }
        let ics = match &booking {
            Some(b)
                if e.kind() != Some(EventKind::BookingGuaranteed)
                    && (e.kind() != Some(EventKind::BookingStatusChanged)
                        || b.status == "confirmed") =>
            {
                booking_ics(tx, b, now_of(e)).await?
            }
            _ => None,
        };
        Ok(EventData {
            booking,
            entry,
            tour,
            alternatives,
            departure_cancelled,
            ics,
        })
    }
}

/// When the event happened: the calendar file's DTSTAMP.
fn now_of(e: &EventRow) -> DateTime<Utc> {
    e.created_at
}

async fn booking_ics(
    tx: &mut Tx,
    b: &BookingRow,
    at: DateTime<Utc>,
) -> ServiceResult<Option<String>> {
    let changes = tourdesk_store::calendar::booking_changes(tx, b.id).await?;
    let Some(departure) = tourdesk_store::calendar::departure(tx, b.booking_slot_id).await? else {
        return Ok(None);
    };
    let tour = crate::ledger::load_tour(tx, b.tour_id).await?;
    let cal = crate::calendar::booking_calendar(b, &tour, &departure, &changes, at)?;
    Ok(Some(crate::ics::render(&cal)))
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
