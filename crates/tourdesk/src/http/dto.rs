//! JSON shapes shared by several resources. Amounts are JSON numbers with
//! exactly the currency's decimals (`192.50`), as the spec shows them.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use tourdesk_domain::availability::{Level, level};
use tourdesk_domain::booking::Party;
use tourdesk_domain::policy::{CancellationPolicy, PartyRules};
use tourdesk_domain::schedule::Weekdays;
use tourdesk_domain::{ContactDetails, Currency};
use tourdesk_service::Settings;
use tourdesk_service::availability::{Departure, Offer};
use tourdesk_service::catalog::Tour;
use tourdesk_store::blackouts::BlackoutRow;
use tourdesk_store::schedules::ScheduleRow;
use tourdesk_store::slots::{SlotRow, Standing};
use utoipa::ToSchema;

/// An amount rendered as a JSON number with the currency's decimals.
#[derive(Debug, Clone)]
pub struct Amount(String);

impl Amount {
    pub fn new(currency: &Currency, minor: i64) -> Amount {
        Amount(currency.format(minor))
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match RawValue::from_string(self.0.clone()) {
            Ok(raw) => raw.serialize(s),
            Err(_) => s.serialize_str(&self.0),
        }
    }
}

/// A price as clients send it: a JSON number (`75.5`) or a decimal string
/// (`"75.50"`); parsed exactly against the tour's currency. The number is
/// kept as the client wrote it (never through a float), so `1e-400` is
/// refused as not a plain decimal instead of being read as 0, and
/// `0.1 + 0.2`-style binary rounding never reaches a price.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct PriceInput(Box<RawValue>);

impl Clone for PriceInput {
    fn clone(&self) -> Self {
        PriceInput(self.0.clone())
    }
}

impl PriceInput {
    /// The decimal text: a string's contents, or the number as written.
    /// Anything else (`true`, `{}`) comes back as written and fails to parse
    /// as an amount, which names the field.
    pub fn text(&self) -> String {
        let raw = self.0.get().trim();
        if raw.starts_with('"') {
            serde_json::from_str::<String>(raw).unwrap_or_else(|_| raw.to_owned())
        } else {
            raw.to_owned()
        }
    }
}

/// Distinguishes an absent field from an explicit `null`.
pub fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TourDto {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub duration_minutes: i64,
    /// Hours, e.g. 3 or 1.5.
    pub duration_hours: f64,
    #[schema(value_type = f64, example = 75.00)]
    pub base_price: Amount,
    pub currency: String,
    pub timezone: String,
    pub is_active: bool,
    /// What a cancellation refunds, by notice: the tour's own policy or
    /// the configuration's (`source`).
    pub cancellation_policy: PolicyDto,
    /// Who may make up a party: the tour's own rules or the
    /// configuration's (`source`), with the age bands.
    pub party_rules: PartyRulesDto,
}

/// One tier: at least `min_hours_before` the departure refunds
/// `refund_percent` of the total.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierDto {
    #[schema(minimum = 0, maximum = 8784)]
    pub min_hours_before: u32,
    #[schema(minimum = 0, maximum = 100)]
    pub refund_percent: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyDto {
    /// `tour` (its own) or `default` (the configuration's).
    pub source: &'static str,
    /// Longest notice first; the last from 0 hours.
    pub tiers: Vec<TierDto>,
    /// Kept from every cancellation refund.
    #[schema(value_type = f64, example = 5.00)]
    pub fee: Amount,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PartyRulesDto {
    /// `tour` (its own) or `default` (the configuration's).
    pub source: &'static str,
    /// Whether infants take a seat (count toward capacity).
    pub infants_take_seat: bool,
    /// At least one adult per this many children and infants; null: any.
    pub max_minors_per_adult: Option<u32>,
    /// At most this many infants per adult; null: any.
    pub max_infants_per_adult: Option<u32>,
    /// Infants are 0 to this age.
    pub infant_max_age: u32,
    /// Children are `infant_max_age + 1` to this age.
    pub child_max_age: u32,
}

impl TourDto {
    pub fn new(t: &Tour, ctx: &tourdesk_service::Context) -> TourDto {
        use tourdesk_service::ledger::{party_rules_of, policy_of};
        let policy = policy_of(ctx, t);
        let rules = party_rules_of(ctx, t);
        TourDto {
            id: t.row.id,
            name: t.row.name.clone(),
            description: t.row.description.clone(),
            duration_minutes: t.row.duration_minutes,
            duration_hours: hours(t.row.duration_minutes),
            base_price: Amount::new(&t.currency, t.row.base_price),
            currency: t.currency.code().to_owned(),
            timezone: t.tz.name().to_owned(),
            is_active: t.row.is_active,
            cancellation_policy: PolicyDto::new(
                source(t.own_policy.is_some()),
                &policy,
                &t.currency,
            ),
            party_rules: PartyRulesDto::new(
                source(t.own_party_rules.is_some()),
                &rules,
                &ctx.settings,
            ),
        }
    }
}

/// `tour` when the tour has its own, else `default`.
fn source(own: bool) -> &'static str {
    if own { "tour" } else { "default" }
}

impl PolicyDto {
    pub fn new(source: &'static str, policy: &CancellationPolicy, currency: &Currency) -> Self {
        PolicyDto {
            source,
            tiers: policy
                .tiers()
                .iter()
                .map(|x| TierDto {
                    min_hours_before: x.min_hours_before,
                    refund_percent: x.refund_percent,
                })
                .collect(),
            fee: Amount::new(currency, policy.fee()),
        }
    }
}

impl PartyRulesDto {
    pub fn new(source: &'static str, rules: &PartyRules, settings: &Settings) -> Self {
        PartyRulesDto {
            source,
            infants_take_seat: rules.infants_take_seat,
            max_minors_per_adult: rules.max_minors_per_adult,
            max_infants_per_adult: rules.max_infants_per_adult,
            infant_max_age: settings.infant_max_age,
            child_max_age: settings.child_max_age,
        }
    }
}

/// The operator's configured booking rules: what a tour without its own
/// policy or party rules follows, and the limits every booking meets.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsDto {
    /// The default cancellation policy (`source` is `default`); its fee is
    /// in the major unit of whichever currency a tour uses.
    pub cancellation_policy: PolicyDto,
    /// The default party rules (`source` is `default`), with the age bands.
    pub party_rules: PartyRulesDto,
    /// How many days ahead customers may book.
    pub booking_advance_days: u32,
    /// Bookings close this many hours before a departure.
    pub booking_cutoff_hours: u32,
    /// The smallest party a booking may have.
    pub min_booking_size: u32,
    /// The largest party a booking may have.
    pub max_booking_size: u32,
    /// Hours a notified waitlist entry has to claim its spots.
    pub waitlist_notification_expiry_hours: u32,
    /// Whether freed spots go to the waitlist automatically.
    pub waitlist_auto_process: bool,
}

impl SettingsDto {
    pub fn new(ctx: &tourdesk_service::Context) -> SettingsDto {
        let s = &ctx.settings;
        // The fee is configured in hundredths of the major unit: any
        // two-decimal currency shows it as configured.
        let usd = Currency::usd();
        SettingsDto {
            cancellation_policy: PolicyDto::new(
                "default",
                &tourdesk_service::ledger::default_policy(ctx, &usd),
                &usd,
            ),
            party_rules: PartyRulesDto::new("default", &s.party_rules, s),
            booking_advance_days: s.booking_advance_days,
            booking_cutoff_hours: s.booking_cutoff_hours,
            min_booking_size: s.min_booking_size,
            max_booking_size: s.max_booking_size,
            waitlist_notification_expiry_hours: s.waitlist_notification_expiry_hours,
            waitlist_auto_process: s.waitlist_auto_process,
        }
    }
}

pub fn hours(minutes: i64) -> f64 {
    (minutes as f64 / 60.0 * 100.0).round() / 100.0
}

/// A tour as customers see it: [`TourDto`] plus what it offers now.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicTourDto {
    #[serde(flatten)]
    pub tour: TourDto,
    /// The lowest price per adult among the departures a customer can book
    /// now (open, inside the booking window, with room); null when none.
    #[schema(value_type = Option<f64>, example = 75.00)]
    pub from_price: Option<Amount>,
    /// The first date (the tour's local date) with such a departure; null
    /// when none.
    #[schema(value_type = Option<String>, format = Date)]
    pub next_available_date: Option<NaiveDate>,
}

impl PublicTourDto {
    pub fn new(t: &Tour, offer: &Offer, ctx: &tourdesk_service::Context) -> PublicTourDto {
        PublicTourDto {
            tour: TourDto::new(t, ctx),
            from_price: offer.from_price.map(|p| Amount::new(&t.currency, p)),
            next_available_date: offer.next_available,
        }
    }
}

/// A booking slot: the spec's fields plus `held_spots` (waitlist holds),
/// `starts_at` (UTC), `level` and `currency`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlotDto {
    pub id: i64,
    /// The same as `id`, under the name the availability check uses.
    pub slot_id: i64,
    pub tour_id: i64,
    pub schedule_id: Option<i64>,
    #[schema(value_type = String, format = Date)]
    pub slot_date: NaiveDate,
    #[schema(value_type = String, example = "09:00:00")]
    pub start_time: NaiveTime,
    #[schema(value_type = String, example = "12:00:00")]
    pub end_time: NaiveTime,
    pub starts_at: DateTime<Utc>,
    pub max_capacity: i64,
    pub current_bookings: i64,
    pub held_spots: i64,
    pub available_spots: i64,
    #[schema(value_type = f64, example = 75.00)]
    pub price_per_person: Amount,
    pub currency: String,
    pub is_available: bool,
    pub is_cancelled: bool,
    pub cancellation_reason: Option<String>,
    pub level: Level,
    /// Where it stands on its minimum.
    pub guarantee: GuaranteeDto,
}

/// A departure's standing on its minimum number of people: whether it is
/// sure to run, and if not, how many more it needs by when.
#[derive(Debug, Serialize, ToSchema)]
pub struct GuaranteeDto {
    /// `none` (no minimum), `pending` (needs more people by
    /// `decision_at`), `guaranteed` (runs) or `cancelled` (the departure
    /// is cancelled: for `minimum_not_reached`, or by the operator).
    #[schema(example = "pending")]
    pub status: String,
    /// People it needs to go ahead (0 or 1: no minimum).
    pub min_capacity: i64,
    /// People booked on it now.
    pub booked: i64,
    /// People still needed (0 unless pending).
    pub needed: i64,
    /// When it is decided.
    pub decision_at: Option<DateTime<Utc>>,
    /// The same instant in the tour's zone, with its offset: its date and
    /// time are the tour's wall clock.
    #[schema(example = "2026-12-01T09:00:00+02:00")]
    pub decision_at_local: Option<String>,
    pub guaranteed_at: Option<DateTime<Utc>>,
    /// `minimum_reached`, `manual` or `deadline`.
    pub guaranteed_by: Option<String>,
}

impl GuaranteeDto {
    pub fn new(s: &Standing, tz: Tz) -> GuaranteeDto {
        GuaranteeDto {
            status: s.status().to_owned(),
            min_capacity: s.min_capacity,
            booked: s.booked,
            needed: s.needed(),
            decision_at: s.decision_at,
            decision_at_local: s.decision_at.map(|d| {
                d.with_timezone(&tz)
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            }),
            guaranteed_at: s.guaranteed_at,
            guaranteed_by: s.guaranteed_by.clone(),
        }
    }
}

impl SlotDto {
    pub fn new(s: &SlotRow, tour: &Tour) -> SlotDto {
        let currency = &tour.currency;
        let open = s.is_open();
        SlotDto {
            id: s.id,
            slot_id: s.id,
            tour_id: s.tour_id,
            schedule_id: s.schedule_id,
            slot_date: s.slot_date,
            start_time: s.start_time,
            end_time: s.end_time,
            starts_at: s.starts_at,
            max_capacity: s.max_capacity,
            current_bookings: s.current_bookings,
            held_spots: s.held_spots,
            available_spots: s.available_spots,
            price_per_person: Amount::new(currency, s.price_per_person),
            currency: currency.code().to_owned(),
            is_available: s.is_available,
            is_cancelled: s.looks_cancelled(),
            cancellation_reason: s.closure_reason(),
            level: if open {
                level(s.available_spots, s.max_capacity)
            } else {
                Level::None
            },
            guarantee: GuaranteeDto::new(&s.standing(), tour.tz),
        }
    }
}

/// A departure as the public calendar lists it: [`SlotDto`] plus whether a
/// customer can book it now, decided by the same rule as a booking.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarSlotDto {
    #[serde(flatten)]
    pub slot: SlotDto,
    /// True when a booking for one person would be accepted now.
    pub bookable: bool,
    /// Why not (null when bookable): tour_inactive, cancelled, blacked_out,
    /// closed, cutoff_passed, too_far_ahead or full (the waitlist applies).
    #[schema(example = "cutoff_passed")]
    pub unbookable_reason: Option<String>,
}

impl CalendarSlotDto {
    pub fn new(d: &Departure, tour: &Tour) -> CalendarSlotDto {
        CalendarSlotDto {
            slot: SlotDto::new(&d.slot, tour),
            bookable: d.unbookable.is_none(),
            unbookable_reason: d.unbookable.map(|u| u.code().to_owned()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleDto {
    pub id: i64,
    pub tour_id: i64,
    pub name: String,
    #[schema(value_type = String, example = "09:00:00")]
    pub start_time: NaiveTime,
    pub duration_minutes: i64,
    /// none, daily, weekly, biweekly, monthly or custom.
    pub recurrence: String,
    pub rrule: Option<String>,
    #[serde(flatten)]
    #[schema(inline)]
    pub days: Weekdays,
    pub max_capacity: i64,
    pub min_capacity: i64,
    /// Hours before each departure its minimum is decided.
    pub decision_hours: i64,
    #[schema(value_type = String, format = Date)]
    pub valid_from: NaiveDate,
    #[schema(value_type = Option<String>, format = Date)]
    pub valid_until: Option<NaiveDate>,
    #[schema(value_type = Option<f64>)]
    pub price_override: Option<Amount>,
    pub is_active: bool,
}

impl ScheduleDto {
    pub fn new(s: &ScheduleRow, currency: &Currency) -> ScheduleDto {
        ScheduleDto {
            id: s.id,
            tour_id: s.tour_id,
            name: s.name.clone(),
            start_time: s.start_time,
            duration_minutes: s.duration_minutes,
            recurrence: s.recurrence.clone(),
            rrule: s.rrule.clone(),
            days: s.days,
            max_capacity: s.max_capacity,
            min_capacity: s.min_capacity,
            decision_hours: s.decision_hours,
            valid_from: s.valid_from,
            valid_until: s.valid_until,
            price_override: s.price_override.map(|p| Amount::new(currency, p)),
            is_active: s.is_active,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BlackoutDto {
    pub id: i64,
    /// None for a blackout of every tour.
    pub tour_id: Option<i64>,
    #[schema(value_type = String, format = Date)]
    pub start_date: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub end_date: NaiveDate,
    pub blackout_type: String,
    pub name: String,
    pub description: String,
    pub is_active: bool,
}

impl From<&BlackoutRow> for BlackoutDto {
    fn from(b: &BlackoutRow) -> Self {
        BlackoutDto {
            id: b.id,
            tour_id: b.tour_id,
            start_date: b.start_date,
            end_date: b.end_date,
            blackout_type: b.blackout_type.clone(),
            name: b.name.clone(),
            description: b.description.clone(),
            is_active: b.is_active,
        }
    }
}

use tourdesk_store::bookings::BookingRow;

/// A booking: the spec's response fields plus prices, contact details and
/// timestamps. `manage_token` appears only when the booking is created (or
/// found by reference + email).
#[derive(Debug, Serialize, ToSchema)]
pub struct BookingDto {
    pub id: i64,
    #[schema(example = "ST-20251102-ACD347")]
    pub booking_reference: String,
    pub tour_id: i64,
    pub tour_name: String,
    pub booking_slot_id: i64,
    #[schema(value_type = String)]
    pub status: String,
    #[schema(value_type = String, format = Date)]
    pub tour_date: NaiveDate,
    #[schema(value_type = String, example = "09:00:00")]
    pub tour_time: NaiveTime,
    #[schema(value_type = String, example = "12:00:00")]
    pub tour_end_time: NaiveTime,
    pub starts_at: DateTime<Utc>,
    /// `num_adults`, `num_children`, `num_infants`.
    #[serde(flatten)]
    pub party: Party,
    pub total_people: i64,
    #[schema(value_type = f64)]
    pub price_per_adult: Amount,
    #[schema(value_type = f64)]
    pub price_per_child: Amount,
    #[schema(value_type = f64)]
    pub price_per_infant: Amount,
    #[schema(value_type = f64)]
    pub subtotal: Amount,
    #[schema(value_type = f64)]
    pub discount_amount: Amount,
    #[schema(value_type = f64)]
    pub tax_amount: Amount,
    #[schema(value_type = f64, example = 192.50)]
    pub total_amount: Amount,
    /// The refund recorded with the cancellation (by the tour's policy, or
    /// an admin's amount); null while not cancelled.
    #[schema(value_type = Option<f64>)]
    pub refund_amount: Option<Amount>,
    /// Refunded for people removed from the party, by the tour's policy.
    #[schema(value_type = f64)]
    pub reduction_refund_amount: Amount,
    /// The places the party holds on its departure (infants take none on a
    /// tour where they do not take a seat).
    pub seats: i64,
    pub currency: String,
    #[serde(flatten)]
    pub contact: ContactDetails,
    pub cancellation_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Whether its departure is sure to run.
    pub departure_guarantee: GuaranteeDto,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manage_token: Option<String>,
}

impl BookingDto {
    pub fn new(b: &BookingRow) -> BookingDto {
        let currency = &b.currency;
        let amt = |m: i64| Amount::new(currency, m);
        BookingDto {
            id: b.id,
            booking_reference: b.booking_reference.clone(),
            tour_id: b.tour_id,
            tour_name: b.tour_name.clone(),
            booking_slot_id: b.booking_slot_id,
            status: b.status.clone(),
            tour_date: b.tour_date,
            tour_time: b.tour_time,
            tour_end_time: b.tour_end_time,
            starts_at: b.starts_at,
            party: b.party,
            total_people: b.total_people,
            price_per_adult: amt(b.pricing.price_per_adult),
            price_per_child: amt(b.pricing.price_per_child),
            price_per_infant: amt(b.pricing.price_per_infant),
            subtotal: amt(b.pricing.subtotal),
            discount_amount: amt(b.pricing.discount_amount),
            tax_amount: amt(b.pricing.tax_amount),
            total_amount: amt(b.pricing.total_amount),
            refund_amount: b.refund_amount.map(amt),
            reduction_refund_amount: amt(b.reduction_refund_amount),
            seats: b.seats,
            currency: currency.code().to_owned(),
            contact: b.contact.clone(),
            cancellation_reason: b.cancellation_reason.clone(),
            created_at: b.created_at,
            modified_at: b.modified_at,
            cancelled_at: b.cancelled_at,
            departure_guarantee: GuaranteeDto::new(
                &b.departure,
                b.tour_timezone.parse().unwrap_or(Tz::UTC),
            ),
            manage_token: None,
        }
    }

    pub fn with_token(mut self, token: String) -> Self {
        self.manage_token = Some(token);
        self
    }
}
