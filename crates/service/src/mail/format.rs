//! How an email writes times, parties, money and links, and the booking
//! view its templates render.

use super::*;

/// A departure's local date and time with the zone named:
/// "Saturday 12 December 2026, 09:00 (Europe/Madrid, CET)".
pub(super) fn local_when(tz_name: &str, date: NaiveDate, time: NaiveTime) -> String {
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
pub(super) fn local_instant(tz_name: &str, at: DateTime<Utc>) -> String {
    match tz_name.parse::<chrono_tz::Tz>() {
        Ok(tz) => {
            let local = at.with_timezone(&tz);
            local_when(tz_name, local.date_naive(), local.time())
        }
        Err(_) => format!("{} UTC", at.format("%A %-d %B %Y, %H:%M")),
    }
}

pub(super) fn people(n: i64) -> String {
    if n == 1 {
        "1 person".into()
    } else {
        format!("{n} people")
    }
}

pub(super) fn party(adults: i64, children: i64, infants: i64) -> String {
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

pub(super) fn url_encode(text: &str) -> String {
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
pub(super) struct BookingView {
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

pub(super) fn booking_view(b: &BookingRow, tour: &TourRow) -> BookingView {
    let mut price_lines = Vec::new();
    if b.party.adults > 0 {
        price_lines.push(format!(
            "{} × adult {}",
            b.party.adults,
            b.money(b.pricing.price_per_adult).with_code()
        ));
    }
    if b.party.children > 0 {
        price_lines.push(format!(
            "{} × child {}",
            b.party.children,
            b.money(b.pricing.price_per_child).with_code()
        ));
    }
    if b.party.infants > 0 {
        price_lines.push(format!(
            "{} × infant {}",
            b.party.infants,
            b.money(b.pricing.price_per_infant).with_code()
        ));
    }
    if b.pricing.discount_amount > 0 {
        price_lines.push(format!(
            "discount −{}",
            b.money(b.pricing.discount_amount).with_code()
        ));
    }
    if b.pricing.tax_amount > 0 {
        price_lines.push(format!("tax {}", b.money(b.pricing.tax_amount).with_code()));
    }
    BookingView {
        reference: b.booking_reference.clone(),
        name: b.contact.customer_name.clone(),
        tour: b.tour_name.clone(),
        when: local_when(&tour.timezone, b.tour_date, b.tour_time),
        date_short: b.tour_date.format("%-d %b %Y").to_string(),
        party: party(b.party.adults, b.party.children, b.party.infants),
        status: b.status.clone(),
        show_price: true,
        price_lines,
        total: b.money(b.pricing.total_amount).with_code(),
        meeting: Some(tour.description.trim().to_owned()).filter(|d| !d.is_empty()),
        departure: departure_line(b, tour),
    }
}
