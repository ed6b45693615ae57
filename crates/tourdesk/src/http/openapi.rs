//! The OpenAPI document's shared parts: the error body every refusal uses,
//! the kinds of input the server validates (each one schema, stating exactly
//! what the domain accepts), and [`complete`], which gives every operation
//! the error answers it can give with their JSON body.
//!
//! Handlers' `#[utoipa::path]` annotations list only what is particular to
//! the operation (its 400/403/404/409/429 and what they mean); what follows
//! from the operation's shape is added here, once:
//! - 401 when it takes a bearer token (required or optional), and 403
//!   `csrf_failed` when it also changes state (a session cookie without its
//!   CSRF token),
//! - 413, 415 and 422 when it takes a body, 422 when it takes path or query
//!   parameters,
//! - 414 and 431 (an oversized request head) everywhere, 408 and 503 (with
//!   `Retry-After`) everywhere but the probes, and 507 `storage_full` (with
//!   `Retry-After`) on every operation that changes state.

use std::borrow::Cow;

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{
    KnownFormat, Object, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{Content, OpenApi, RefOr, ResponseBuilder};
use utoipa::{PartialSchema, ToSchema};

use crate::config::Config;

/// Every error body: `detail` for a person, `code` for a program, and on
/// some errors more fields.
#[derive(serde::Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// What went wrong, for a person.
    pub detail: String,
    /// What went wrong, for a program (`validation_error`, `not_found`,
    /// `capacity_exceeded`, `rate_limited`, `unavailable`, ...).
    pub code: String,
    /// 422: the input that is wrong (a body field, a query or path
    /// parameter, or a header).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// 400 `capacity_exceeded`: spots left on the departure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_spots: Option<i64>,
    /// 400 `capacity_exceeded`: whether the waitlist takes the party.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waitlist_available: Option<bool>,
}

// ---- patterns, shared by the input kinds below ----

/// A date 1900-01-01 to 2999-12-31 that exists (leap days included).
pub const DATE_PATTERN: &str = concat!(
    r"^(?:(?:19|2[0-9])[0-9]{2}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])",
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))",
    r"|(?:(?:19|2[0-9])(?:0[48]|[2468][048]|[13579][26])|2[048]00)-02-29)$"
);

/// `HH:MM:SS`, 00:00:00 to 23:59:59.
pub const TIME_PATTERN: &str = r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$";

pub use tourdesk_domain::details::{Note, OPTIONAL_TEXT_PATTERN};
use tourdesk_domain::{not_control, not_control_multiline, visible};

/// One line with something visible on it.
pub const LINE_PATTERN: &str = concat!("^", not_control!(), "*", visible!(), not_control!(), "*$");
/// Text (line breaks and tabs allowed) with something visible in it.
pub const TEXT_PATTERN: &str = concat!(
    "^",
    not_control_multiline!(),
    "*",
    visible!(),
    not_control_multiline!(),
    "*$"
);
/// Blank, or text with something visible in it.
pub const DESCRIPTION_PATTERN: &str = concat!(
    r"^[ \t\r\n]*$|^",
    not_control_multiline!(),
    "*",
    visible!(),
    not_control_multiline!(),
    "*$"
);
/// Empty, or a phone number: an optional leading `+`, 5 to 20 digits and
/// the separators ` ( ) - .` (`tourdesk_domain::Phone`).
pub const PHONE_PATTERN: &str = r"^$|^ *\+?[ ().-]*(?:[0-9][ ().-]*){5,20}$";
/// One RRULE line with a FREQ the server supports (`normalize_rrule`).
pub const RRULE_PATTERN: &str = concat!(
    r"^(?:RRULE:)?(?:[A-Za-z0-9=,+-]*;)*FREQ=(?:HOURLY|DAILY|WEEKLY|MONTHLY|YEARLY)",
    r"(?:;[A-Za-z0-9=;,+-]*)?$"
);
/// A decimal amount as text (`"75.50"`).
pub const AMOUNT_PATTERN: &str = r"^[0-9]{1,12}(?:\.[0-9]{1,2})?$";

fn string(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
}

/// Declares input kinds: a unit struct per kind whose schema is a component.
macro_rules! input_kind {
    ($(#[$doc:meta])* $name:ident => $schema:expr) => {
        $(#[$doc])*
        pub struct $name;
        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                let schema: Schema = $schema.into();
                RefOr::T(schema)
            }
        }
        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    };
}

input_kind!(
    /// A calendar date the server accepts. (Not named `Date`: utoipa takes
    /// a type of that name for chrono's and inlines a plain string.)
    CalendarDate => string("A date, YYYY-MM-DD, from 1900-01-01 to 2999-12-31.")
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
        .pattern(Some(DATE_PATTERN))
        .examples(["2026-12-25"])
        .build()
);

input_kind!(
    /// A local time of day.
    Time => string("A local time of day, HH:MM:SS.")
        .pattern(Some(TIME_PATTERN))
        .examples(["09:00:00"])
        .build()
);

input_kind!(
    /// An email address (`tourdesk_domain::Email`).
    Email => string(
        "An email address (at most 254 characters; no spaces, quotes or `<>()[],;:\\` characters; \
         a domain of at least two labels).",
    )
    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
    .min_length(Some(3))
    .max_length(Some(254))
    .examples(["ada@example.com"])
    .build()
);

input_kind!(
    /// A new password (`tourdesk_domain::Password`).
    Password => string("10 to 1024 characters, not the account's email.")
        .min_length(Some(10))
        .max_length(Some(1024))
        .build()
);

input_kind!(
    /// A name or title (`tourdesk_domain::contact::required_line`).
    Name => string(
        "One line of 1 to 200 characters with something visible: no control characters or line breaks.",
    )
    .min_length(Some(1))
    .max_length(Some(200))
    .pattern(Some(LINE_PATTERN))
    .build()
);

input_kind!(
    /// A phone number (`tourdesk_domain::Phone`).
    Phone => string(
        "A phone number: an optional leading +, 5 to 20 digits, spaces and ( ) - . separators; \
         empty means none.",
    )
    .max_length(Some(40))
    .pattern(Some(PHONE_PATTERN))
    .examples(["+972 2 555 1234"])
    .build()
);

input_kind!(
    /// A reason that must be given.
    Reason => string(
        "Free text of 1 to 1000 characters with something visible: line breaks and tabs allowed, \
         no other control characters.",
    )
    .min_length(Some(1))
    .max_length(Some(1000))
    .pattern(Some(TEXT_PATTERN))
    .build()
);

input_kind!(
    /// A description (`tourdesk_domain::contact::description`).
    Description => string(
        "Text of at most 5000 characters; line breaks and tabs allowed, no other control characters.",
    )
    .max_length(Some(5000))
    .pattern(Some(DESCRIPTION_PATTERN))
    .build()
);

input_kind!(
    /// An amount as clients send it.
    Price => OneOfBuilder::new()
        .description(Some(
            "An amount of at least 0 in the tour's currency, as a JSON number (75.5) or a \
             decimal string (\"75.50\"), with at most as many decimals as the currency has \
             (2 for most; 0 for JPY, KRW, ...; 3 for KWD, BHD, ...).",
        ))
        // No `multipleOf: 0.01`: validators compute it in floating point
        // and call 19.99 invalid; the decimals depend on the tour's currency
        // anyway, as the description says.
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Number)
                .minimum(Some(0))
                .maximum(Some(999_999_999_999_i64))
                .build(),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(AMOUNT_PATTERN))
                .build(),
        )
        .examples([serde_json::json!(75.5)])
        .build()
);

input_kind!(
    /// An ISO 4217 currency code.
    CurrencyCode => string("A three-letter ISO 4217 currency code (case-insensitive).")
        .pattern(Some(r"^[A-Za-z]{3}$"))
        .examples(["USD"])
        .build()
);

input_kind!(
    /// An IANA time zone name.
    TimeZone => string("An IANA time zone name.")
        .enum_values(Some(chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name())))
        .examples(["Asia/Jerusalem"])
        .build()
);

input_kind!(
    /// A schedule's recurrence.
    Recurrence => string("How a schedule repeats; `custom` takes an `rrule`.")
        .enum_values(Some(["none", "daily", "weekly", "biweekly", "monthly", "custom"]))
        .build()
);

input_kind!(
    /// An RFC 5545 recurrence rule (`tourdesk_domain::schedule`).
    Rrule => string(
        "One RFC 5545 RRULE (an `RRULE:` prefix is allowed) with FREQ=HOURLY, DAILY, WEEKLY, \
         MONTHLY or YEARLY, e.g. FREQ=WEEKLY;INTERVAL=3;BYDAY=MO,FR; at most 500 characters.",
    )
    .max_length(Some(500))
    .pattern(Some(RRULE_PATTERN))
    .examples(["FREQ=WEEKLY;INTERVAL=3;BYDAY=MO,FR"])
    .build()
);

input_kind!(
    /// A booking status.
    BookingStatus => string("A booking status.")
        .enum_values(Some([
            "pending", "confirmed", "cancelled", "completed", "no_show", "refunded",
        ]))
        .build()
);

input_kind!(
    /// A filter on booking status.
    StatusFilter => string("Only bookings in this status; empty for any.")
        .enum_values(Some([
            "", "pending", "confirmed", "cancelled", "completed", "no_show", "refunded",
        ]))
        .build()
);

input_kind!(
    /// A waitlist entry status.
    WaitlistStatus => string("A waitlist entry's status.")
        .enum_values(Some(["active", "notified", "converted", "expired", "cancelled"]))
        .build()
);

input_kind!(
    /// A blackout's kind.
    BlackoutType => string("What kind of closure this is.")
        .enum_values(Some(["holiday", "maintenance", "weather", "custom"]))
        .build()
);

input_kind!(
    /// How many people: a party, or its adults. Bounds follow the server's
    /// MIN_BOOKING_SIZE..MAX_BOOKING_SIZE (set by [`complete`]).
    PartySize => ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(1))
        .maximum(Some(50))
        .build()
);

input_kind!(
    /// Children or infants in a party (set by [`complete`]).
    ExtraPeople => ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(0))
        .maximum(Some(49))
        .build()
);

input_kind!(
    /// An Idempotency-Key header value.
    IdempotencyKey => string("1 to 255 visible ASCII characters (spaces inside allowed).")
        .min_length(Some(1))
        .max_length(Some(255))
        .pattern(Some(r"^[!-~](?:[ !-~]*[!-~])?$"))
        .build()
);

/// The input kinds, for the document's components.
pub fn input_schemas() -> Vec<(String, RefOr<Schema>)> {
    fn entry<T: ToSchema>() -> (String, RefOr<Schema>) {
        (T::name().into_owned(), T::schema())
    }
    vec![
        entry::<ErrorBody>(),
        entry::<CalendarDate>(),
        entry::<Time>(),
        entry::<Email>(),
        entry::<Password>(),
        entry::<Name>(),
        entry::<Phone>(),
        entry::<Note>(),
        entry::<Reason>(),
        entry::<Description>(),
        entry::<Price>(),
        entry::<CurrencyCode>(),
        entry::<TimeZone>(),
        entry::<Recurrence>(),
        entry::<Rrule>(),
        entry::<BookingStatus>(),
        entry::<StatusFilter>(),
        entry::<WaitlistStatus>(),
        entry::<BlackoutType>(),
        entry::<PartySize>(),
        entry::<ExtraPeople>(),
        entry::<IdempotencyKey>(),
    ]
}

/// `T`'s schema with `fields` required and not null: the body of a create,
/// where an update of the same resource may leave them out.
pub fn requiring<T: PartialSchema>(fields: &[&str]) -> RefOr<Schema> {
    let mut schema = T::schema();
    // A body with an inlined flattened part (a schedule's days) is an
    // `allOf` of objects: one object first.
    if let RefOr::T(s) = &schema
        && let Some(one) = one_object(s, &Default::default(), 0)
    {
        schema = RefOr::T(Schema::Object(one));
    }
    if let RefOr::T(Schema::Object(object)) = &mut schema {
        for field in fields {
            if let Some(property) = object.properties.get_mut(*field) {
                not_null(property);
            }
            if !object.required.iter().any(|r| r == field) {
                object.required.push((*field).to_owned());
            }
        }
    }
    schema
}

/// Takes `null` out of what a property accepts: `Option<T>` is rendered as
/// `type: [T, "null"]`, or as `oneOf: [{type: null}, {$ref}]` for components.
fn not_null(property: &mut RefOr<Schema>) {
    let is_null = |item: &RefOr<Schema>| matches!(item, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::Type(Type::Null));
    match property {
        RefOr::T(Schema::Object(o)) => {
            if let SchemaType::Array(types) = &o.schema_type {
                let rest: Vec<Type> = types
                    .iter()
                    .filter(|t| **t != Type::Null)
                    .cloned()
                    .collect();
                o.schema_type = match rest.as_slice() {
                    [one] => SchemaType::Type(one.clone()),
                    _ => SchemaType::Array(rest),
                };
            }
        }
        RefOr::T(Schema::OneOf(one_of)) => {
            one_of.items.retain(|item| !is_null(item));
            if one_of.items.len() == 1 {
                let description = one_of.description.take();
                let mut only = one_of.items.remove(0);
                if let (RefOr::Ref(r), Some(d)) = (&mut only, description) {
                    r.description = d;
                }
                *property = only;
            }
        }
        _ => {}
    }
}

/// Declares a marker type whose schema is `$base`'s with `$fields` required.
macro_rules! create_body {
    ($(#[$doc:meta])* $name:ident = $base:ty, [$($field:literal),+ $(,)?]) => {
        $(#[$doc])*
        pub struct $name;
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $crate::http::openapi::requiring::<$base>(&[$($field),+])
            }
        }
        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }
            fn schemas(
                schemas: &mut Vec<(
                    String,
                    utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
                )>,
            ) {
                <$base as utoipa::ToSchema>::schemas(schemas);
            }
        }
    };
}
pub(crate) use create_body;

// ---- the error answers ----

/// What each status means when the operation says nothing more.
fn default_description(status: &str) -> &'static str {
    match status {
        "400" => "A business rule refused the request",
        "401" => "Missing or invalid credentials (`Authorization: Bearer <token>`)",
        "403" => "Not allowed for this account",
        "404" => "Not found",
        "408" => {
            "The request took longer than `REQUEST_TIMEOUT_SECONDS` (30 s by default); a change it \
             started still completes: retry with the same `Idempotency-Key` to learn the outcome"
        }
        "409" => "The request conflicts with the current state",
        "413" => "The request body is larger than 1 MiB",
        "414" => "The request path and query are longer than 8 KiB",
        "415" => "The request body is not `application/json`",
        "422" => "Malformed input; `field` names it",
        "429" => "Too many requests; retry after `Retry-After` seconds",
        "431" => "The request headers are too large (more than 100, or 32 KiB in all)",
        "503" => {
            "The database is unavailable, busy or refuses writes (read-only, deleted); nothing was \
             changed; retry after `Retry-After` seconds"
        }
        "507" => {
            "`storage_full`: the server's disk is full; nothing was changed; retry after \
             `Retry-After` seconds"
        }
        _ => "Error",
    }
}

fn error_response(status: &str, description: Option<&str>) -> RefOr<utoipa::openapi::Response> {
    let description = description
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| default_description(status));
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
            "Error",
        )))),
    );
    if matches!(status, "429" | "503" | "507") {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(1)),
                ))
                .description(Some("Seconds to wait before retrying"))
                .build(),
        );
    }
    RefOr::T(response.build())
}

/// Fills in every operation's error answers (see the module comment) and
/// sets the party-size bounds from the configuration.
pub fn complete(doc: &mut OpenApi, config: &Config) {
    let components = doc.components.get_or_insert_with(Default::default);
    for (name, schema) in input_schemas() {
        components.schemas.entry(name).or_insert(schema);
    }
    let (min, max) = (
        i64::from(config.min_booking_size.max(1)),
        i64::from(config.max_booking_size.max(1)),
    );
    if let Some(RefOr::T(Schema::Object(o))) = components.schemas.get_mut("PartySize") {
        set_bounds(o, 1, max);
        o.description = Some(format!(
            "How many people (or adults): 1 to {max}. A party as a whole must have {min} to {max} \
             people (MIN_BOOKING_SIZE, MAX_BOOKING_SIZE), at least one of them an adult."
        ));
    }
    if let Some(RefOr::T(Schema::Object(o))) = components.schemas.get_mut("ExtraPeople") {
        set_bounds(o, 0, max - 1);
        o.description = Some(format!(
            "Children or infants: 0 to {}; the party as a whole must have {min} to {max} people.",
            max - 1
        ));
    }
    merge_flattened(components);
    for (path, item) in doc.paths.paths.iter_mut() {
        let ops = [
            item.get.as_mut(),
            item.put.as_mut(),
            item.post.as_mut(),
            item.delete.as_mut(),
            item.patch.as_mut(),
        ];
        let ops = ["get", "put", "post", "delete", "patch"]
            .into_iter()
            .zip(ops);
        for (method, op) in ops {
            if let Some(op) = op {
                complete_operation(path, method, op);
            }
        }
    }
}

/// A body that shares a type with others through `#[serde(flatten)]` (the
/// contact details, a party's needs, a tour) is documented by utoipa as an
/// `allOf` of that type and its own fields. On the wire it is one flat
/// object, and clients (and their code generators) read it best as one:
/// each such schema becomes a single object with every part's properties
/// and required fields.
fn merge_flattened(components: &mut utoipa::openapi::Components) {
    let all = components.schemas.clone();
    for schema in components.schemas.values_mut() {
        if let RefOr::T(s @ Schema::AllOf(_)) = schema
            && let Some(merged) = one_object(s, &all, 0)
        {
            *s = Schema::Object(merged);
        }
    }
}

/// `schema` as one object: an object as it is, an `allOf` of objects
/// (given or referenced, at any depth) merged; `None` for anything else.
fn one_object(
    schema: &Schema,
    all: &std::collections::BTreeMap<String, RefOr<Schema>>,
    depth: usize,
) -> Option<Object> {
    match schema {
        Schema::Object(o) if o.schema_type == SchemaType::Type(Type::Object) => Some(o.clone()),
        Schema::AllOf(a) if depth < 8 => {
            let mut merged = ObjectBuilder::new().schema_type(Type::Object).build();
            merged.description = a.description.clone();
            for item in &a.items {
                let part = match item {
                    RefOr::T(s) => one_object(s, all, depth + 1)?,
                    RefOr::Ref(r) => {
                        let name = r.ref_location.rsplit('/').next()?;
                        match all.get(name)? {
                            RefOr::T(s) => one_object(s, all, depth + 1)?,
                            RefOr::Ref(_) => return None,
                        }
                    }
                };
                merged.properties.extend(part.properties);
                for field in part.required {
                    if !merged.required.contains(&field) {
                        merged.required.push(field);
                    }
                }
            }
            Some(merged)
        }
        _ => None,
    }
}

fn set_bounds(o: &mut Object, min: i64, max: i64) {
    o.minimum = Some(min.into());
    o.maximum = Some(max.max(min).into());
}

/// What a 403 also means on an operation that changes state with a session.
const CSRF_FAILED: &str = "`csrf_failed`: a session cookie without its CSRF token";

fn complete_operation(path: &str, method: &str, op: &mut Operation) {
    let probe = path == "/healthz" || path == "/readyz";
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let changes_state = method != "get";
    let mut derived: Vec<&str> = vec!["414", "431"];
    if secured {
        derived.push("401");
    }
    if secured && changes_state {
        match op.responses.responses.get_mut("403") {
            Some(RefOr::T(r)) if !r.description.contains("csrf_failed") => {
                r.description = match r.description.as_str() {
                    "" => format!("{}; or {CSRF_FAILED}", default_description("403")),
                    d => format!("{d}; or {CSRF_FAILED}"),
                };
            }
            Some(_) => {}
            None => {
                op.responses
                    .responses
                    .insert("403".to_owned(), error_response("403", Some(CSRF_FAILED)));
            }
        }
    }
    if op.request_body.is_some() {
        derived.extend(["413", "415", "422"]);
    }
    let takes_params = op.parameters.iter().flatten().any(|p| {
        matches!(p, RefOr::T(p) if matches!(p.parameter_in, ParameterIn::Path | ParameterIn::Query))
    });
    if takes_params {
        derived.push("422");
    }
    if !probe {
        derived.extend(["408", "503"]);
    }
    if !probe && changes_state {
        derived.push("507");
    }
    let responses = &mut op.responses.responses;
    for status in derived {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| error_response(status, None));
    }
    for (status, response) in responses.iter_mut() {
        let RefOr::T(r) = response else { continue };
        let is_error = status.starts_with('4') || status.starts_with('5');
        if is_error && r.content.is_empty() {
            *response = error_response(status, Some(&r.description));
        } else if r.description.is_empty() {
            r.description = status
                .parse::<u16>()
                .ok()
                .and_then(|s| axum::http::StatusCode::from_u16(s).ok())
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Success")
                .to_owned();
        }
    }
}

#[cfg(test)]
mod tests {
    //! The document's patterns against the domain's own checks: whatever a
    //! pattern lets through, the server accepts.

    use chrono::{NaiveDate, NaiveTime};
    use proptest::prelude::*;
    use regex::Regex;
    use tourdesk_domain::contact::{description, optional_text, required_line};
    use tourdesk_domain::{Currency, PersonName, Phone};

    use super::*;

    fn re(pattern: &str) -> Regex {
        Regex::new(pattern).expect("a valid pattern")
    }

    #[test]
    fn dates_match_exactly_the_days_the_server_takes() {
        let date = re(DATE_PATTERN);
        let years = [
            1, 1899, 1900, 1901, 1904, 1999, 2000, 2023, 2024, 2100, 2400, 2999, 3000, 9999,
        ];
        for y in years {
            for m in 0..=13 {
                for d in 0..=32 {
                    let text = format!("{y:04}-{m:02}-{d:02}");
                    let valid =
                        NaiveDate::from_ymd_opt(y, m, d).is_some() && (1900..=2999).contains(&y);
                    assert_eq!(date.is_match(&text), valid, "{text}");
                }
            }
        }
        for bad in [
            "2024-1-01",
            " 2024-01-01",
            "2024-01-01T00:00:00",
            "",
            "20240101",
        ] {
            assert!(!date.is_match(bad), "{bad}");
        }
    }

    #[test]
    fn times_match_what_the_server_parses() {
        let time = re(TIME_PATTERN);
        for h in 0..=25 {
            for m in 0..=61 {
                for s in [0, 1, 30, 59, 60, 61] {
                    let text = format!("{h:02}:{m:02}:{s:02}");
                    let parsed: Result<NaiveTime, _> =
                        serde_json::from_value(serde_json::json!(text));
                    assert_eq!(time.is_match(&text), h < 24 && m < 60 && s < 60, "{text}");
                    if time.is_match(&text) {
                        assert!(parsed.is_ok(), "{text}");
                    }
                }
            }
        }
    }

    /// Characters that make text interesting here: controls, line breaks,
    /// white space, invisible ones, and ordinary letters.
    fn tricky_char() -> impl Strategy<Value = char> {
        prop_oneof![
            3 => any::<char>(),
            3 => prop::sample::select(vec![
                '\0', '\t', '\n', '\r', '\x0b', '\x0c', '\x1b', '\x7f', '\u{85}', '\u{a0}',
                '\u{ad}', '\u{180e}', '\u{2000}', '\u{200b}', '\u{200d}', '\u{2028}', '\u{202e}',
                '\u{2060}', '\u{2066}', '\u{3000}', '\u{feff}', ' ',
            ]),
            4 => prop::sample::select(vec!['a', 'Z', '7', 'é', '名', '-', '.', '@']),
        ]
    }

    fn tricky_text(max: usize) -> impl Strategy<Value = String> {
        prop::collection::vec(tricky_char(), 0..max).prop_map(|c| c.into_iter().collect())
    }

    proptest! {
        #[test]
        fn a_line_the_pattern_allows_is_a_valid_name(text in tricky_text(12)) {
            if re(LINE_PATTERN).is_match(&text) {
                prop_assert!(required_line(&text, 200).is_ok(), "{:?}", text);
                prop_assert!(PersonName::parse(&text).is_ok(), "{:?}", text);
            }
        }

        #[test]
        fn text_the_patterns_allow_is_valid_text(text in tricky_text(12)) {
            if re(OPTIONAL_TEXT_PATTERN).is_match(&text) {
                prop_assert!(optional_text(Some(&text), 1000).is_ok(), "{:?}", text);
            }
            if re(TEXT_PATTERN).is_match(&text) {
                prop_assert!(
                    matches!(optional_text(Some(&text), 1000), Ok(Some(t)) if !t.is_empty()),
                    "{:?}", text
                );
            }
            if re(DESCRIPTION_PATTERN).is_match(&text) {
                prop_assert!(description(&text, 5000).is_ok(), "{:?}", text);
            }
        }

        #[test]
        fn a_phone_the_pattern_allows_is_a_valid_phone(
            text in prop::collection::vec(prop::sample::select(
                "0123456789 +-().x\t".chars().collect::<Vec<_>>()), 0..45)
                .prop_map(|c| c.into_iter().collect::<String>())
        ) {
            if re(PHONE_PATTERN).is_match(&text) && text.chars().count() <= 40 {
                prop_assert!(Phone::parse_optional(Some(&text)).is_ok(), "{:?}", text);
            }
        }

        #[test]
        fn an_amount_the_pattern_allows_is_a_valid_price(
            text in "[0-9]{0,14}(\\.[0-9]{0,3})?",
        ) {
            if re(AMOUNT_PATTERN).is_match(&text) {
                for code in ["USD", "KWD"] {
                    let currency = Currency::parse(code).expect("currency");
                    prop_assert!(
                        currency.parse_amount(&text).is_ok_and(|m| m >= 0),
                        "{} {:?}", code, text
                    );
                }
            }
        }
    }

    #[test]
    fn examples_pass_their_patterns() {
        assert!(re(PHONE_PATTERN).is_match("+972 2 555 1234"));
        assert!(re(PHONE_PATTERN).is_match("(02) 555-1234"));
        assert!(re(PHONE_PATTERN).is_match(""));
        assert!(!re(PHONE_PATTERN).is_match("1+2345678"));
        assert!(re(LINE_PATTERN).is_match("Jerusalem Old City Tour"));
        assert!(!re(LINE_PATTERN).is_match("two\nlines"));
        assert!(!re(LINE_PATTERN).is_match("\u{200b}\u{200b}"));
        assert!(re(AMOUNT_PATTERN).is_match("75.50"));
        let rrule = re(RRULE_PATTERN);
        assert!(rrule.is_match("FREQ=WEEKLY;INTERVAL=3;BYDAY=MO,FR"));
        assert!(rrule.is_match("RRULE:INTERVAL=2;FREQ=DAILY"));
        assert!(!rrule.is_match("FREQ=SECONDLY"));
    }
}
