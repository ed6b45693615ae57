//! Customer email, rendered from outbox events (#15).
//!
//! When the outbox delivers an event, [`render_event`] turns it into the
//! messages it means for customers (a booking confirmation, a waitlist
//! offer, ...), which are stored in `email_messages` in the same
//! transaction: `queued` when an SMTP server is configured, `held` (kept for
//! the console's preview) when not. The binary's sender job claims queued
//! messages with a lease ([`Mail::claim_due`]), sends them outside any
//! transaction, and records the outcome; a failure is retried with
//! exponential backoff and, after [`MailSettings::max_attempts`], is
//! dead-lettered for an admin to retry.
//!
//! Templates live in `templates/email/<language>/`: `<kind>.txt` (its first
//! line is the subject) and `<kind>.html`, rendered with minijinja (HTML
//! escaped by default). Dates and times are the tour's local time with the
//! zone named.

use std::sync::LazyLock;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use minijinja::{Environment, context};
use serde::Serialize;
use serde_json::Value;
use tourdesk_domain::Currency;
use tourdesk_store::Tx;
use tourdesk_store::audit::EventRow;
use tourdesk_store::bookings::{self, BookingRow};
use tourdesk_store::messages::{self, MessageRow, NewMessage};
use tourdesk_store::slots::{self, SlotRow};
use tourdesk_store::tours::{self, TourRow};
use tourdesk_store::waitlist::{self, WaitlistRow};

use crate::caller::Admin;
use crate::{Context, ServiceError, ServiceResult};

/// How email is addressed and whether it is sent.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// The origin links point at (`https://book.spirittours.com`), no
    /// trailing slash.
    pub public_base_url: String,
    /// The operator's name, shown in every message.
    pub operator_name: String,
    /// The brand colour (`#RRGGBB`) of the messages' buttons.
    pub brand_color: String,
    /// The absolute address of the operator's logo, shown atop each message.
    pub logo_url: Option<String>,
    /// Where customers' questions go (shown, and the Reply-To).
    pub support_email: Option<String>,
    /// An SMTP server is configured: messages are queued to send.
    pub delivery_enabled: bool,
    /// Attempts before a message is dead-lettered.
    pub max_attempts: u32,
}

impl Default for MailSettings {
    fn default() -> Self {
        MailSettings {
            public_base_url: "http://127.0.0.1:8080".into(),
            operator_name: "Tourdesk".into(),
            brand_color: "#0b5cad".into(),
            logo_url: None,
            support_email: None,
            delivery_enabled: false,
            max_attempts: 8,
        }
    }
}

/// One message, rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub kind: &'static str,
    pub to_email: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    /// The booking's calendar file, attached.
    pub ics: Option<String>,
    /// The waitlist entry its claim link opens.
    pub waitlist_entry_id: Option<i64>,
}

/// Stands in a stored claim link for the manage token minted when the
/// email is sent (no token is ever stored in plaintext).
pub const CLAIM_TOKEN_PLACEHOLDER: &str = "TOKEN-MADE-WHEN-SENT";

const TEMPLATES: &[(&str, &str)] = &[
    (
        "layout.html",
        include_str!("../templates/email/en/layout.html"),
    ),
    (
        "booking_details.html",
        include_str!("../templates/email/en/booking_details.html"),
    ),
    (
        "booking_details.txt",
        include_str!("../templates/email/en/booking_details.txt"),
    ),
    (
        "booking_created.txt",
        include_str!("../templates/email/en/booking_created.txt"),
    ),
    (
        "booking_created.html",
        include_str!("../templates/email/en/booking_created.html"),
    ),
    (
        "booking_confirmed.txt",
        include_str!("../templates/email/en/booking_confirmed.txt"),
    ),
    (
        "booking_confirmed.html",
        include_str!("../templates/email/en/booking_confirmed.html"),
    ),
    (
        "booking_reminder.txt",
        include_str!("../templates/email/en/booking_reminder.txt"),
    ),
    (
        "booking_reminder.html",
        include_str!("../templates/email/en/booking_reminder.html"),
    ),
    (
        "booking_changed.txt",
        include_str!("../templates/email/en/booking_changed.txt"),
    ),
    (
        "booking_changed.html",
        include_str!("../templates/email/en/booking_changed.html"),
    ),
    (
        "booking_cancelled.txt",
        include_str!("../templates/email/en/booking_cancelled.txt"),
    ),
    (
        "booking_cancelled.html",
        include_str!("../templates/email/en/booking_cancelled.html"),
    ),
    (
        "departure_cancelled.txt",
        include_str!("../templates/email/en/departure_cancelled.txt"),
    ),
    (
        "departure_cancelled.html",
        include_str!("../templates/email/en/departure_cancelled.html"),
    ),
    (
        "departure_guaranteed.txt",
        include_str!("../templates/email/en/departure_guaranteed.txt"),
    ),
    (
        "departure_guaranteed.html",
        include_str!("../templates/email/en/departure_guaranteed.html"),
    ),
    (
        "waitlist_joined.txt",
        include_str!("../templates/email/en/waitlist_joined.txt"),
    ),
    (
        "waitlist_joined.html",
        include_str!("../templates/email/en/waitlist_joined.html"),
    ),
    (
        "waitlist_offer.txt",
        include_str!("../templates/email/en/waitlist_offer.txt"),
    ),
    (
        "waitlist_offer.html",
        include_str!("../templates/email/en/waitlist_offer.html"),
    ),
    (
        "waitlist_rejoined.txt",
        include_str!("../templates/email/en/waitlist_rejoined.txt"),
    ),
    (
        "waitlist_rejoined.html",
        include_str!("../templates/email/en/waitlist_rejoined.html"),
    ),
    (
        "waitlist_expired.txt",
        include_str!("../templates/email/en/waitlist_expired.txt"),
    ),
    (
        "waitlist_expired.html",
        include_str!("../templates/email/en/waitlist_expired.html"),
    ),
];

/// The email templates, compiled once (compiling them was most of what
/// rendering an email cost).
fn environment() -> Result<&'static Environment<'static>, String> {
    static COMPILED: LazyLock<Result<Environment<'static>, String>> =
        LazyLock::new(|| compile().map_err(|e| format!("{e:#}")));
    COMPILED.as_ref().map_err(Clone::clone)
}

fn compile() -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    // HTML templates escape every value; text templates do not.
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            minijinja::AutoEscape::Html
        } else {
            minijinja::AutoEscape::None
        }
    });
    env.set_trim_blocks(true);
    for (name, source) in TEMPLATES {
        env.add_template(name, source)?;
    }
    Ok(env)
}

fn template_error(e: minijinja::Error) -> ServiceError {
    ServiceError::Internal(tourdesk_store::StoreError::Config(format!(
        "email template: {e:#}"
    )))
}

/// A departure's local date and time with the zone named:
/// "Saturday 12 December 2026, 09:00 (Europe/Madrid, CET)".
fn local_when(tz_name: &str, date: NaiveDate, time: NaiveTime) -> String {
    let day = date.format("%A %-d %B %Y").to_string();
    let clock = time.format("%H:%M").to_string();
    let abbr = tz_name
        .parse::<chrono_tz::Tz>()
        .ok()
        .and_then(|tz| tz.from_local_datetime(&date.and_time(time)).earliest())
        .map(|d| d.format("%Z").to_string());
    match abbr {
        Some(a) if a != tz_name && !a.starts_with(['+', '-']) => {
            format!("{day}, {clock} ({tz_name}, {a})")
        }
        _ => format!("{day}, {clock} ({tz_name})"),
    }
}

/// An instant shown in the tour's zone.
fn local_instant(tz_name: &str, at: DateTime<Utc>) -> String {
    match tz_name.parse::<chrono_tz::Tz>() {
        Ok(tz) => {
            let local = at.with_timezone(&tz);
            local_when(tz_name, local.date_naive(), local.time())
        }
        Err(_) => format!("{} UTC", at.format("%A %-d %B %Y, %H:%M")),
    }
}

fn people(n: i64) -> String {
    if n == 1 {
        "1 person".into()
    } else {
        format!("{n} people")
    }
}

fn party(adults: i64, children: i64, infants: i64) -> String {
    let mut parts = vec![format!(
        "{adults} adult{}",
        if adults == 1 { "" } else { "s" }
    )];
    if children > 0 {
        parts.push(format!(
            "{children} child{}",
            if children == 1 { "" } else { "ren" }
        ));
    }
    if infants > 0 {
        parts.push(format!(
            "{infants} infant{}",
            if infants == 1 { "" } else { "s" }
        ));
    }
    parts.join(", ")
}

fn money(currency: &str, minor: i64) -> String {
    match Currency::parse(currency) {
        Ok(c) => format!("{} {currency}", c.format(minor)),
        Err(_) => format!("{minor} {currency}"),
    }
}

fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b))
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[derive(Serialize)]
struct BookingView {
    reference: String,
    name: String,
    tour: String,
    when: String,
    date_short: String,
    party: String,
    status: String,
    show_price: bool,
    price_lines: Vec<String>,
    total: String,
    meeting: Option<String>,
    /// Whether the departure is sure to run, when it has a minimum.
    departure: Option<String>,
}

/// "Guaranteed to run", or how many more people it needs by when, for a
/// departure with a minimum; nothing otherwise.
fn departure_line(b: &BookingRow, tour: &TourRow) -> Option<String> {
    let d = &b.departure;
    match d.status() {
        "guaranteed" if d.min_capacity > 1 => Some("guaranteed to run".into()),
        "pending" => {
            let n = d.needed();
            let who = if n == 1 { "traveller" } else { "travellers" };
            let by = d
                .decision_at
                .map(|at| format!("; decided on {}", local_instant(&tour.timezone, at)))
                .unwrap_or_default();
            Some(format!("needs {n} more {who} to go ahead{by}"))
        }
        _ => None,
    }
}

fn booking_view(b: &BookingRow, tour: &TourRow) -> BookingView {
    let c = &b.currency;
    let mut price_lines = Vec::new();
    if b.num_adults > 0 {
        price_lines.push(format!(
            "{} × adult {}",
            b.num_adults,
            money(c, b.price_per_adult)
        ));
    }
    if b.num_children > 0 {
        price_lines.push(format!(
            "{} × child {}",
            b.num_children,
            money(c, b.price_per_child)
        ));
    }
    if b.num_infants > 0 {
        price_lines.push(format!(
            "{} × infant {}",
            b.num_infants,
            money(c, b.price_per_infant)
        ));
    }
    if b.discount_amount > 0 {
        price_lines.push(format!("discount −{}", money(c, b.discount_amount)));
    }
    if b.tax_amount > 0 {
        price_lines.push(format!("tax {}", money(c, b.tax_amount)));
    }
    BookingView {
        reference: b.booking_reference.clone(),
        name: b.customer_name.clone(),
        tour: b.tour_name.clone(),
        when: local_when(&tour.timezone, b.tour_date, b.tour_time),
        date_short: b.tour_date.format("%-d %b %Y").to_string(),
        party: party(b.num_adults, b.num_children, b.num_infants),
        status: b.status.clone(),
        show_price: true,
        price_lines,
        total: money(c, b.total_amount),
        meeting: Some(tour.description.trim().to_owned()).filter(|d| !d.is_empty()),
        departure: departure_line(b, tour),
    }
}

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
            Some(b) if e.event_type.starts_with("booking.") => {
                bookings::booking_by_id(tx, b).await?
            }
            _ => None,
        };
        let entry = match id("waitlist_entry_id") {
            Some(w) if e.event_type.starts_with("waitlist.") => {
                waitlist::entry_by_id(tx, w).await?
            }
            _ => None,
        };
        let tour = tours::tour_by_id(tx, e.tour_id).await?;
        let mut alternatives = Vec::new();
        let mut departure_cancelled = false;
        if let (Some(b), "booking.cancelled") = (&booking, e.event_type.as_str()) {
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
                if e.event_type != "booking.guaranteed"
                    && (e.event_type != "booking.status_changed" || b.status == "confirmed") =>
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
    let env = environment().map_err(|e| {
        ServiceError::Internal(tourdesk_store::StoreError::Config(format!(
            "email template: {e}"
        )))
    })?;
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
            url_encode(&b.customer_email)
        );
        let refund = b
            .refund_amount
            .filter(|r| *r > 0)
            .map(|r| money(&b.currency, r));
        let ctx =
            context! { b => view, manage_link => manage_link, refund => refund, ..common.clone() };
        let with_ics = |mut r: Rendered| {
            r.ics = data.ics.clone();
            r
        };
        match e.event_type.as_str() {
            "booking.created" => {
                out.push(with_ics(render("booking_created", &b.customer_email, ctx)?))
            }
            "booking.reminder" if matches!(b.status.as_str(), "pending" | "confirmed") => out.push(
                with_ics(render("booking_reminder", &b.customer_email, ctx)?),
            ),
            // Its departure reached its minimum (or was guaranteed): only
            // worth telling while the booking stands.
            "booking.guaranteed" if matches!(b.status.as_str(), "pending" | "confirmed") => {
                out.push(render("departure_guaranteed", &b.customer_email, ctx)?)
            }
            "booking.status_changed" if b.status == "confirmed" => out.push(with_ics(render(
                "booking_confirmed",
                &b.customer_email,
                ctx,
            )?)),
            "booking.modified" => {
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
                    &b.customer_email,
                    context! { old => old, ..ctx },
                )?))
            }
            "booking.cancelled" => {
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
                        &b.customer_email,
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
                        &b.customer_email,
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
        match e.event_type.as_str() {
            "waitlist.joined" => out.push(render("waitlist_joined", &w.customer_email, ctx)?),
            // Only an offer still standing is worth an email.
            "waitlist.notified"
                if w.status == "notified" && w.notification_expires_at.is_none_or(|t| t > now) =>
            {
                let mut r = render("waitlist_offer", &w.customer_email, ctx)?;
                r.waitlist_entry_id = Some(w.id);
                out.push(r)
            }
            "waitlist.expired" => out.push(render("waitlist_expired", &w.customer_email, ctx)?),
            // Someone joined again with this email: its owner gets the
            // link (with a token made when sent), the caller got nothing.
            "waitlist.rejoined" if matches!(w.status.as_str(), "active" | "notified") => {
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

/// The pause before attempt `attempts + 1`: 1, 2, 4, ... minutes, at most 6 h.
pub fn backoff(attempts: i64) -> Duration {
    let exp = u32::try_from(attempts.clamp(1, 30) - 1).unwrap_or(0);
    Duration::minutes(2i64.saturating_pow(exp).min(360))
}

/// How long a claimed message is leased to its sender.
const LEASE_MINUTES: i64 = 5;

pub struct Mail<'a>(pub(crate) &'a Context);

impl Mail<'_> {
    /// Queues the reminder of every booking departing within `hours` that
    /// has not had one (an outbox event `booking.reminder` each, rendered
    /// like every other message). A booking made inside that window gets
    /// none: its confirmation just arrived. Returns how many.
    pub async fn queue_reminders(&self, _admin: &Admin, hours: u32) -> ServiceResult<usize> {
        if hours == 0 {
            return Ok(0);
        }
        let now = self.0.clock.now();
        let until = now + Duration::hours(i64::from(hours));
        let mut total = 0;
        loop {
            let mut tx = self.0.db.begin().await?;
            let ids = messages::take_due_reminders(&mut tx, now, until, 200).await?;
            for id in &ids {
                let Some(b) = bookings::booking_by_id(&mut tx, *id).await? else {
                    continue;
                };
                if b.created_at > b.starts_at - Duration::hours(i64::from(hours)) {
                    continue;
                }
                crate::ledger::booking_event(&mut tx, "booking.reminder", &b, now).await?;
                total += 1;
            }
            tx.commit().await?;
            if ids.len() < 200 {
                return Ok(total);
            }
        }
    }

    /// Claims up to `limit` due messages for sending (each leased for a few
    /// minutes, so a crashed sender's messages come due again).
    pub async fn claim_due(&self, limit: i64) -> ServiceResult<Vec<MessageRow>> {
        let now = self.0.clock.now();
        let mut tx = self.0.db.begin().await?;
        let mut rows =
            messages::claim_due(&mut tx, now, now + Duration::minutes(LEASE_MINUTES), limit)
                .await?;
        // A claim link gets its manage token now, kept only as a hash.
        for m in rows.iter_mut() {
            let Some(entry) = m.waitlist_entry_id else {
                continue;
            };
            if !m.text_body.contains(CLAIM_TOKEN_PLACEHOLDER) {
                continue;
            }
            let token = crate::accounts::new_secret("tdm");
            bookings::insert_manage_token(
                &mut tx,
                m.tour_id,
                None,
                Some(entry),
                bookings::TokenKind::Email,
                &crate::accounts::hash_secret(&token),
                now,
            )
            .await?;
            m.text_body = m.text_body.replace(CLAIM_TOKEN_PLACEHOLDER, &token);
            m.html_body = m.html_body.replace(CLAIM_TOKEN_PLACEHOLDER, &token);
        }
        tx.commit().await?;
        Ok(rows)
    }

    pub async fn mark_sent(&self, id: i64) -> ServiceResult<()> {
        let now = self.0.clock.now();
        let mut tx = self.0.db.begin().await?;
        messages::mark_sent(&mut tx, id, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a failed attempt: retried after [`backoff`], or dead-lettered
    /// once the attempts are used up (or at once when `permanent`).
    pub async fn mark_failed(
        &self,
        m: &MessageRow,
        error: &str,
        permanent: bool,
    ) -> ServiceResult<()> {
        let now = self.0.clock.now();
        let max = i64::from(self.0.mail.max_attempts.max(1));
        let retry_at = (!permanent && m.attempts < max).then(|| now + backoff(m.attempts));
        let error: String = error.chars().take(500).collect();
        let mut tx = self.0.db.begin().await?;
        messages::mark_failed(&mut tx, m.id, &error, retry_at).await?;
        tx.commit().await?;
        if retry_at.is_none() {
            tracing::warn!(
                message_id = m.id,
                attempts = m.attempts,
                "email dead-lettered"
            );
        }
        Ok(())
    }

    pub async fn list(
        &self,
        _admin: &Admin,
        status: Option<&str>,
        to_email: Option<&str>,
        limit: i64,
    ) -> ServiceResult<Vec<MessageRow>> {
        if !(1..=500).contains(&limit) {
            return Err(ServiceError::invalid("limit", "must be between 1 and 500"));
        }
        if let Some(s) = status
            && !matches!(s, "queued" | "sent" | "dead" | "held")
        {
            return Err(ServiceError::invalid(
                "status",
                "must be one of queued, sent, dead, held",
            ));
        }
        let mut conn = self.0.db.read().await?;
        Ok(messages::list_messages(&mut conn, status, to_email, limit).await?)
    }

    pub async fn get(&self, _admin: &Admin, id: i64) -> ServiceResult<MessageRow> {
        let mut conn = self.0.db.read().await?;
        messages::message_by_id(&mut conn, id)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("message {id} not found")))
    }

    /// Sends a dead (or held) message again: back in the queue with fresh
    /// attempts. Refused when no SMTP server is configured.
    pub async fn retry(&self, admin: &Admin, id: i64) -> ServiceResult<MessageRow> {
        if !self.0.mail.delivery_enabled {
            return Err(ServiceError::conflict(
                "email_off",
                "email delivery is off (no SMTP_URL): the message can be previewed, not sent",
            ));
        }
        let now = self.0.clock.now();
        let mut tx = self.0.db.begin().await?;
        let requeued = messages::requeue(&mut tx, id, now).await?;
        tx.commit().await?;
        let m = self.get(admin, id).await?;
        if !requeued {
            return Err(ServiceError::conflict(
                "not_retryable",
                format!(
                    "message {id} is {}; only dead or held messages are sent again",
                    m.status
                ),
            ));
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        assert!(environment().is_ok(), "{:?}", environment().err());
    }

    #[test]
    fn local_times_name_the_zone_across_dst() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap_or_default();
        let t = NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default();
        let winter = local_when("Europe/Madrid", d("2030-01-15"), t);
        let summer = local_when("Europe/Madrid", d("2030-07-15"), t);
        assert!(winter.ends_with("09:00 (Europe/Madrid, CET)"), "{winter}");
        assert!(summer.ends_with("09:00 (Europe/Madrid, CEST)"), "{summer}");
        let instant = "2030-07-15T07:00:00Z"
            .parse::<DateTime<Utc>>()
            .unwrap_or_default();
        assert_eq!(local_instant("Europe/Madrid", instant), summer);
    }

    #[test]
    fn backoff_doubles_up_to_six_hours() {
        assert_eq!(backoff(1), Duration::minutes(1));
        assert_eq!(backoff(2), Duration::minutes(2));
        assert_eq!(backoff(4), Duration::minutes(8));
        assert_eq!(backoff(20), Duration::minutes(360));
    }

    #[test]
    fn links_are_encoded() {
        assert_eq!(url_encode("a+b@x.com"), "a%2Bb%40x.com");
    }
}
