//! The admin list's filters and the audit diff of a booking change.

use super::*;

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
pub(super) const MAX_SEARCH: usize = 100;

/// The admin list's filters, checked, as the store's query takes them.
pub(super) fn store_filter(f: &AdminFilter) -> ServiceResult<BookingFilter<'static>> {
    if let Some(d) = f.start_date {
        ledger::check_date("start_date", d)?;
    }
    if let Some(d) = f.end_date {
        ledger::check_date("end_date", d)?;
    }
    if let (Some(a), Some(b)) = (f.start_date, f.end_date) {
        DateRange::new(a, b)?;
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

pub(super) fn parse_status_filter(status: Option<&str>) -> ServiceResult<Option<BookingStatus>> {
    match status.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|e: String| ServiceError::invalid("status_filter", e)),
    }
}
