//! Recurrence: which local dates (and times) a schedule produces, and where
//! each falls on the UTC time line in the tour's time zone.
//!
//! Recurrence is evaluated on local wall-clock dates. A start time that falls
//! in a DST gap moves forward by the gap; an ambiguous one (the repeated hour
//! when clocks go back) takes the first occurrence — RFC 5545 behaviour.

use std::fmt;
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;

/// An input the schedule rules refuse: the field and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

fn field(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Recurrence {
    /// One slot, on `valid_from`.
    None,
    Daily,
    /// The selected weekdays of every week.
    Weekly,
    /// The selected weekdays of every second week, counted from the
    /// (Monday-based) week of `valid_from`.
    Biweekly,
    /// The day of month of `valid_from`; months without it are skipped.
    Monthly,
    /// An RFC 5545 RRULE.
    Custom,
}

impl Recurrence {
    pub fn as_str(self) -> &'static str {
        match self {
            Recurrence::None => "none",
            Recurrence::Daily => "daily",
            Recurrence::Weekly => "weekly",
            Recurrence::Biweekly => "biweekly",
            Recurrence::Monthly => "monthly",
            Recurrence::Custom => "custom",
        }
    }
}

impl FromStr for Recurrence {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "none" => Recurrence::None,
            "daily" => Recurrence::Daily,
            "weekly" => Recurrence::Weekly,
            "biweekly" => Recurrence::Biweekly,
            "monthly" => Recurrence::Monthly,
            "custom" => Recurrence::Custom,
            other => return Err(format!("unknown recurrence `{other}`")),
        })
    }
}

impl fmt::Display for Recurrence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of weekdays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Weekdays(u8);

impl Weekdays {
    pub fn from_flags(flags: [bool; 7]) -> Weekdays {
        // Monday first, as the spec lists them.
        Weekdays(
            flags
                .iter()
                .enumerate()
                .fold(0, |acc, (i, on)| if *on { acc | (1 << i) } else { acc }),
        )
    }

    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.num_days_from_monday()) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn flags(self) -> [bool; 7] {
        std::array::from_fn(|i| self.0 & (1 << i) != 0)
    }

    /// The days' field and column names, Monday first: a schedule's row,
    /// its answer and its request carry one boolean each, flattened.
    pub const NAMES: [&'static str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];

    /// Each day's name with whether it is in the set, Monday first.
    pub fn named(self) -> [(&'static str, bool); 7] {
        let flags = self.flags();
        std::array::from_fn(|i| (Weekdays::NAMES[i], flags[i]))
    }
}

/// Seven booleans, `monday` to `sunday` (flattened into a schedule).
impl serde::Serialize for Weekdays {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(7))?;
        for (name, on) in self.named() {
            map.serialize_entry(name, &on)?;
        }
        map.end()
    }
}

impl utoipa::PartialSchema for Weekdays {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        days_schema("Whether the schedule runs on each weekday.", true)
    }
}

impl utoipa::ToSchema for Weekdays {}

/// A row's seven day columns (`monday` … `sunday`).
#[cfg(feature = "sqlx")]
impl<'r, R: sqlx::Row> sqlx::FromRow<'r, R> for Weekdays
where
    &'static str: sqlx::ColumnIndex<R>,
    bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        let mut flags = [false; 7];
        for (flag, name) in flags.iter_mut().zip(Weekdays::NAMES) {
            *flag = row.try_get(name)?;
        }
        Ok(Weekdays::from_flags(flags))
    }
}

/// A schedule edit's days: each given day is set, each left out keeps its
/// value (`monday` … `sunday`, flattened into the request).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WeekdaysEdit(pub [Option<bool>; 7]);

impl WeekdaysEdit {
    /// The days after the edit.
    pub fn over(self, current: Weekdays) -> Weekdays {
        let now = current.flags();
        Weekdays::from_flags(std::array::from_fn(|i| self.0[i].unwrap_or(now[i])))
    }
}

impl<'de> serde::Deserialize<'de> for WeekdaysEdit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<WeekdaysEdit, D::Error> {
        struct Days;
        impl<'de> serde::de::Visitor<'de> for Days {
            type Value = WeekdaysEdit;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("weekdays")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<WeekdaysEdit, A::Error> {
                use serde::de::Error;
                let mut edit = WeekdaysEdit::default();
                while let Some(key) = map.next_key::<String>()? {
                    match Weekdays::NAMES.iter().position(|n| *n == key) {
                        // A wrong value names its day (serde cannot, flattened).
                        Some(i) => {
                            edit.0[i] = map
                                .next_value()
                                .map_err(|e| A::Error::custom(format!("{key}: {e}")))?;
                        }
                        None => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(edit)
            }
        }
        d.deserialize_struct("WeekdaysEdit", &Weekdays::NAMES, Days)
    }
}

impl utoipa::PartialSchema for WeekdaysEdit {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        days_schema(
            "The weekdays the schedule runs on; on PUT, days left out keep theirs.",
            false,
        )
    }
}

impl utoipa::ToSchema for WeekdaysEdit {}

/// An object of the seven days: booleans, required and never null in an
/// answer (`answer`), optional and nullable in a request.
fn days_schema(
    description: &str,
    answer: bool,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    let day = if answer {
        SchemaType::Type(Type::Boolean)
    } else {
        SchemaType::from_iter([Type::Boolean, Type::Null])
    };
    let mut object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(description));
    for name in Weekdays::NAMES {
        object = object.property(name, ObjectBuilder::new().schema_type(day.clone()));
        if answer {
            object = object.required(name);
        }
    }
    utoipa::openapi::RefOr::T(object.build().into())
}

/// The largest range one generation request may cover.
pub const MAX_GENERATION_DAYS: i64 = 3 * 366;

/// A schedule's recurrence, validated.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub recurrence: Recurrence,
    pub weekdays: Weekdays,
    pub rrule: Option<String>,
    pub start_time: NaiveTime,
    pub valid_from: NaiveDate,
    pub valid_until: Option<NaiveDate>,
}

impl Pattern {
    pub fn new(
        recurrence: Recurrence,
        weekdays: Weekdays,
        rrule: Option<&str>,
        start_time: NaiveTime,
        valid_from: NaiveDate,
        valid_until: Option<NaiveDate>,
    ) -> Result<Pattern, FieldError> {
        if let Some(until) = valid_until
            && until < valid_from
        {
            return Err(field("valid_until", "must not be before valid_from"));
        }
        if matches!(recurrence, Recurrence::Weekly | Recurrence::Biweekly) && weekdays.is_empty() {
            return Err(field(
                "monday",
                format!("a {recurrence} schedule needs at least one weekday"),
            ));
        }
        let rrule = match (recurrence, rrule.map(str::trim).filter(|r| !r.is_empty())) {
            (Recurrence::Custom, None) => {
                return Err(field(
                    "rrule",
                    "a custom schedule needs an RRULE, e.g. FREQ=WEEKLY;BYDAY=MO,FR",
                ));
            }
            (Recurrence::Custom, Some(rule)) => Some(normalize_rrule(rule)?),
            (_, Some(_)) => return Err(field("rrule", "only a custom schedule takes an RRULE")),
            (_, None) => None,
        };
        let pattern = Pattern {
            recurrence,
            weekdays,
            rrule,
            start_time,
            valid_from,
            valid_until,
        };
        if pattern.recurrence == Recurrence::Custom {
            // Evaluate once so an unusable rule is refused when saved.
            pattern.occurrences(valid_from, valid_from + Duration::days(366))?;
        }
        Ok(pattern)
    }

    /// The local date-times this pattern produces within `from..=to`
    /// (inclusive, clipped to the validity window), in order, without repeats.
    pub fn occurrences(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<NaiveDateTime>, FieldError> {
        let from = from.max(self.valid_from);
        let to = match self.valid_until {
            Some(until) => to.min(until),
            None => to,
        };
        if to < from {
            return Ok(Vec::new());
        }
        if self.recurrence == Recurrence::Custom {
            return self.custom_occurrences(from, to);
        }
        let at = |d: NaiveDate| d.and_time(self.start_time);
        let mut out = Vec::new();
        match self.recurrence {
            Recurrence::None => {
                if (from..=to).contains(&self.valid_from) {
                    out.push(at(self.valid_from));
                }
            }
            _ => {
                for day in from.iter_days().take_while(|d| *d <= to) {
                    if self.matches(day) {
                        out.push(at(day));
                    }
                }
            }
        }
        Ok(out)
    }

    fn matches(&self, day: NaiveDate) -> bool {
        match self.recurrence {
            Recurrence::Daily => true,
            Recurrence::Weekly => self.weekdays.contains(day.weekday()),
            Recurrence::Biweekly => {
                let week = |d: NaiveDate| {
                    d - Duration::days(i64::from(d.weekday().num_days_from_monday()))
                };
                let weeks = (week(day) - week(self.valid_from)).num_days() / 7;
                weeks % 2 == 0 && self.weekdays.contains(day.weekday())
            }
            Recurrence::Monthly => day.day() == self.valid_from.day(),
            Recurrence::None => day == self.valid_from,
            Recurrence::Custom => false,
        }
    }

    /// Evaluates the RRULE in floating wall-clock time (written as UTC so
    /// that no DST shift happens inside the rule engine); DST is applied
    /// afterwards by [`place`], the same way as for every other recurrence.
    fn custom_occurrences(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<NaiveDateTime>, FieldError> {
        let rule = self.rrule.as_deref().unwrap_or_default();
        let start = self.valid_from.and_time(self.start_time);
        let text = format!("DTSTART:{}Z\nRRULE:{rule}", start.format("%Y%m%dT%H%M%S"));
        let set: rrule::RRuleSet = text
            .parse()
            .map_err(|e: rrule::RRuleError| field("rrule", format!("invalid RRULE: {e}")))?;
        let utc = rrule::Tz::UTC;
        let after = utc.from_utc_datetime(&(from.and_time(NaiveTime::MIN) - Duration::seconds(1)));
        let before = utc.from_utc_datetime(&(to.and_time(NaiveTime::MIN) + Duration::days(1)));
        let result = set.after(after).before(before).all(u16::MAX);
        if result.limited && result.dates.len() >= usize::from(u16::MAX) {
            return Err(field(
                "rrule",
                "the rule produces too many occurrences in this range",
            ));
        }
        let mut out: Vec<NaiveDateTime> = result
            .dates
            .iter()
            .map(|d| d.naive_utc())
            .filter(|d| d.date() >= from && d.date() <= to)
            .collect();
        out.dedup();
        Ok(out)
    }
}

/// Checks an RRULE's text and returns it without an `RRULE:` prefix.
fn normalize_rrule(rule: &str) -> Result<String, FieldError> {
    let body = rule
        .strip_prefix("RRULE:")
        .unwrap_or(rule)
        .trim()
        .to_ascii_uppercase();
    if body.len() > 500 {
        return Err(field("rrule", "must be at most 500 characters"));
    }
    if !body
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "=;,+-".contains(c))
    {
        return Err(field(
            "rrule",
            "must be one RRULE line such as FREQ=WEEKLY;INTERVAL=3;BYDAY=MO,FR",
        ));
    }
    let freq = body
        .split(';')
        .find_map(|part| part.strip_prefix("FREQ="))
        .ok_or_else(|| field("rrule", "needs FREQ (DAILY, WEEKLY, MONTHLY or YEARLY)"))?;
    if !matches!(freq, "DAILY" | "WEEKLY" | "MONTHLY" | "YEARLY" | "HOURLY") {
        return Err(field(
            "rrule",
            format!("FREQ={freq} is not supported; use HOURLY, DAILY, WEEKLY, MONTHLY or YEARLY"),
        ));
    }
    Ok(body)
}

/// Where a slot sits: its local date and times and its UTC start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub slot_date: NaiveDate,
    pub start_time: NaiveTime,
    pub end_time: NaiveTime,
    pub starts_at: DateTime<Utc>,
}

/// Places a local wall-clock start in `tz`: a time in a DST gap moves
/// forward by the gap, an ambiguous time takes its first occurrence. The end
/// is `duration_minutes` of real time later, shown in local time (it may be
/// on the next day).
pub fn place(local: NaiveDateTime, tz: Tz, duration_minutes: i64) -> Placement {
    let start = match tz.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) => t,
        chrono::LocalResult::Ambiguous(first, _) => first,
        chrono::LocalResult::None => {
            // In a gap: use the offset in force just before it, which lands
            // the instant exactly `gap` later on the wall clock.
            let before = (1..=48)
                .map(|q| local - Duration::minutes(15 * q))
                .find_map(|t| tz.from_local_datetime(&t).earliest());
            match before {
                Some(b) => {
                    let offset = b.offset().fix();
                    let utc = local - Duration::seconds(i64::from(offset.local_minus_utc()));
                    tz.from_utc_datetime(&utc)
                }
                None => tz.from_utc_datetime(&local),
            }
        }
    };
    let end = start + Duration::minutes(duration_minutes);
    Placement {
        slot_date: start.date_naive(),
        start_time: start.time(),
        end_time: end.time(),
        starts_at: start.with_timezone(&Utc),
    }
}

use chrono::Offset;

/// Parses an IANA time zone name.
pub fn parse_timezone(name: &str) -> Result<Tz, FieldError> {
    name.trim().parse::<Tz>().map_err(|_| {
        field(
            "timezone",
            format!("`{name}` is not an IANA time zone (e.g. Asia/Jerusalem)"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }
    fn t(s: &str) -> NaiveTime {
        s.parse().unwrap()
    }
    fn dates(p: &Pattern, from: &str, to: &str) -> Vec<String> {
        p.occurrences(d(from), d(to))
            .unwrap()
            .iter()
            .map(|x| x.date().to_string())
            .collect()
    }
    fn pat(
        r: Recurrence,
        days: [bool; 7],
        rule: Option<&str>,
        from: &str,
        until: Option<&str>,
    ) -> Pattern {
        Pattern::new(
            r,
            Weekdays::from_flags(days),
            rule,
            t("09:00:00"),
            d(from),
            until.map(d),
        )
        .unwrap()
    }
    const NONE: [bool; 7] = [false; 7];
    const TUE_SAT: [bool; 7] = [false, true, false, false, false, true, false];

    #[test]
    fn recurrence_table() {
        // (pattern, from, to, expected dates)
        let cases: Vec<(Pattern, &str, &str, Vec<&str>)> = vec![
            (
                pat(Recurrence::None, NONE, None, "2026-03-10", None),
                "2026-03-01",
                "2026-03-31",
                vec!["2026-03-10"],
            ),
            (
                pat(Recurrence::None, NONE, None, "2026-03-10", None),
                "2026-03-11",
                "2026-03-31",
                vec![],
            ),
            (
                pat(
                    Recurrence::Daily,
                    NONE,
                    None,
                    "2026-02-27",
                    Some("2026-03-02"),
                ),
                "2026-01-01",
                "2026-12-31",
                vec!["2026-02-27", "2026-02-28", "2026-03-01", "2026-03-02"],
            ),
            (
                pat(Recurrence::Weekly, TUE_SAT, None, "2026-06-01", None),
                "2026-06-01",
                "2026-06-14",
                vec!["2026-06-02", "2026-06-06", "2026-06-09", "2026-06-13"],
            ),
            // Biweekly counts from the week of valid_from (Mon 2026-12-21 week), across a year end.
            (
                pat(Recurrence::Biweekly, TUE_SAT, None, "2026-12-24", None),
                "2026-12-20",
                "2027-01-20",
                vec!["2026-12-26", "2027-01-05", "2027-01-09", "2027-01-19"],
            ),
            // Monthly on the 31st skips short months.
            (
                pat(Recurrence::Monthly, NONE, None, "2026-01-31", None),
                "2026-01-01",
                "2026-08-31",
                vec![
                    "2026-01-31",
                    "2026-03-31",
                    "2026-05-31",
                    "2026-07-31",
                    "2026-08-31",
                ],
            ),
            // Monthly on 29 February appears only in leap years.
            (
                pat(Recurrence::Monthly, NONE, None, "2028-02-29", None),
                "2028-02-01",
                "2028-04-30",
                vec!["2028-02-29", "2028-03-29", "2028-04-29"],
            ),
            (
                pat(Recurrence::Daily, NONE, None, "2028-02-28", None),
                "2028-02-28",
                "2028-03-01",
                vec!["2028-02-28", "2028-02-29", "2028-03-01"],
            ),
            (
                pat(
                    Recurrence::Custom,
                    NONE,
                    Some("FREQ=WEEKLY;INTERVAL=3;BYDAY=MO,FR"),
                    "2026-06-01",
                    None,
                ),
                "2026-06-01",
                "2026-07-10",
                vec!["2026-06-01", "2026-06-05", "2026-06-22", "2026-06-26"],
            ),
            (
                pat(
                    Recurrence::Custom,
                    NONE,
                    Some("RRULE:FREQ=MONTHLY;BYDAY=1SA"),
                    "2026-01-01",
                    None,
                ),
                "2026-01-01",
                "2026-03-31",
                vec!["2026-01-03", "2026-02-07", "2026-03-07"],
            ),
            (
                pat(
                    Recurrence::Custom,
                    NONE,
                    Some("FREQ=DAILY;COUNT=3"),
                    "2026-05-01",
                    None,
                ),
                "2026-05-02",
                "2026-05-31",
                vec!["2026-05-02", "2026-05-03"],
            ),
            (
                pat(
                    Recurrence::Custom,
                    NONE,
                    Some("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29"),
                    "2026-01-01",
                    None,
                ),
                "2026-01-01",
                "2032-12-31",
                vec!["2028-02-29", "2032-02-29"],
            ),
        ];
        for (i, (p, from, to, want)) in cases.iter().enumerate() {
            assert_eq!(dates(p, from, to), *want, "case {i}: {:?}", p.recurrence);
        }
    }

    #[test]
    fn invalid_patterns_name_the_field() {
        let e = |r, days, rule: Option<&str>, from: &str, until: Option<&str>| {
            Pattern::new(
                r,
                Weekdays::from_flags(days),
                rule,
                t("09:00:00"),
                d(from),
                until.map(d),
            )
            .unwrap_err()
            .field
        };
        assert_eq!(
            e(
                Recurrence::Daily,
                NONE,
                None,
                "2026-06-10",
                Some("2026-06-01")
            ),
            "valid_until"
        );
        assert_eq!(
            e(Recurrence::Weekly, NONE, None, "2026-06-10", None),
            "monday"
        );
        assert_eq!(
            e(Recurrence::Biweekly, NONE, None, "2026-06-10", None),
            "monday"
        );
        assert_eq!(
            e(Recurrence::Custom, NONE, None, "2026-06-10", None),
            "rrule"
        );
        assert_eq!(
            e(
                Recurrence::Custom,
                NONE,
                Some("FREQ=SOMETIMES"),
                "2026-06-10",
                None
            ),
            "rrule"
        );
        assert_eq!(
            e(
                Recurrence::Custom,
                NONE,
                Some("FREQ=MINUTELY"),
                "2026-06-10",
                None
            ),
            "rrule"
        );
        assert_eq!(
            e(
                Recurrence::Custom,
                NONE,
                Some("FREQ=DAILY\nEXDATE:20260101"),
                "2026-06-10",
                None
            ),
            "rrule"
        );
        assert_eq!(
            e(
                Recurrence::Custom,
                NONE,
                Some("FREQ=WEEKLY;BYDAY=XX"),
                "2026-06-10",
                None
            ),
            "rrule"
        );
        assert_eq!(
            e(
                Recurrence::Daily,
                NONE,
                Some("FREQ=DAILY"),
                "2026-06-10",
                None
            ),
            "rrule"
        );
    }

    fn placed(tz: &str, date: &str, time: &str) -> Placement {
        place(d(date).and_time(t(time)), tz.parse().unwrap(), 90)
    }

    #[test]
    fn dst_spring_forward_moves_by_the_gap() {
        // New York, 2026-03-08: 02:00 → 03:00. A 02:30 start becomes 03:30 EDT.
        let p = placed("America/New_York", "2026-03-08", "02:30:00");
        assert_eq!(p.start_time, t("03:30:00"));
        assert_eq!(p.starts_at.to_rfc3339(), "2026-03-08T07:30:00+00:00");
        assert_eq!(p.end_time, t("05:00:00"));
        // Jerusalem, 2026-03-27: 02:00 → 03:00.
        let p = placed("Asia/Jerusalem", "2026-03-27", "02:30:00");
        assert_eq!(p.start_time, t("03:30:00"));
        assert_eq!(p.starts_at.to_rfc3339(), "2026-03-27T00:30:00+00:00");
    }

    #[test]
    fn dst_fall_back_takes_the_first_occurrence() {
        // New York, 2026-11-01: 02:00 → 01:00. 01:30 happens twice; take EDT.
        let p = placed("America/New_York", "2026-11-01", "01:30:00");
        assert_eq!(p.start_time, t("01:30:00"));
        assert_eq!(p.starts_at.to_rfc3339(), "2026-11-01T05:30:00+00:00");
        // 90 minutes of real time later is 02:00 EST.
        assert_eq!(p.end_time, t("02:00:00"));
        // Jerusalem, 2026-10-25: 02:00 → 01:00.
        let p = placed("Asia/Jerusalem", "2026-10-25", "01:30:00");
        assert_eq!(p.starts_at.to_rfc3339(), "2026-10-24T22:30:00+00:00");
    }

    #[test]
    fn slots_may_end_after_midnight() {
        let p = placed("Asia/Jerusalem", "2026-07-01", "23:00:00");
        assert_eq!(p.slot_date, d("2026-07-01"));
        assert_eq!(p.end_time, t("00:30:00"));
    }

    #[test]
    fn timezones_parse() {
        assert!(parse_timezone("Asia/Jerusalem").is_ok());
        assert_eq!(
            parse_timezone("Mars/Olympus").unwrap_err().field,
            "timezone"
        );
    }

    fn any_pattern() -> impl Strategy<Value = Pattern> {
        let rec = prop_oneof![
            Just(Recurrence::None),
            Just(Recurrence::Daily),
            Just(Recurrence::Weekly),
            Just(Recurrence::Biweekly),
            Just(Recurrence::Monthly),
            Just(Recurrence::Custom)
        ];
        (
            rec,
            1u8..128,
            0i64..800,
            proptest::option::of(0i64..400),
            0u32..24,
        )
            .prop_map(|(r, mask, from, len, hour)| {
                let flags: [bool; 7] = std::array::from_fn(|i| mask & (1 << i) != 0);
                let from = d("2026-01-01") + Duration::days(from);
                let rule =
                    (r == Recurrence::Custom).then_some("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH");
                Pattern::new(
                    r,
                    Weekdays::from_flags(flags),
                    rule,
                    NaiveTime::from_hms_opt(hour, 30, 0).unwrap(),
                    from,
                    len.map(|l| from + Duration::days(l)),
                )
                .unwrap()
            })
    }

    proptest! {
        #[test]
        fn occurrences_stay_in_range_and_window_without_repeats(p in any_pattern(), a in 0i64..1200, len in 0i64..400) {
            let from = d("2026-01-01") + Duration::days(a);
            let to = from + Duration::days(len);
            let occ = p.occurrences(from, to).unwrap();
            for w in occ.windows(2) {
                prop_assert!(w[0] < w[1], "ordered and unique");
            }
            for o in &occ {
                prop_assert!(o.date() >= from && o.date() <= to);
                prop_assert!(o.date() >= p.valid_from);
                if let Some(u) = p.valid_until { prop_assert!(o.date() <= u); }
            }
        }
    }

    #[test]
    fn weekdays_are_seven_named_booleans_and_an_edit_keeps_what_it_leaves_out() {
        let days = Weekdays::from_flags([true, false, true, false, false, false, true]);
        let json = serde_json::to_value(days).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"monday": true, "tuesday": false, "wednesday": true, "thursday": false,
                               "friday": false, "saturday": false, "sunday": true})
        );
        let edit: WeekdaysEdit =
            serde_json::from_str(r#"{"monday": false, "friday": true, "name": "x"}"#).unwrap();
        assert_eq!(
            edit.over(days).flags(),
            [false, false, true, false, true, false, true]
        );
        let err = serde_json::from_str::<WeekdaysEdit>(r#"{"sunday": "yes"}"#).unwrap_err();
        assert!(err.to_string().starts_with("sunday: invalid type"), "{err}");
    }
}
