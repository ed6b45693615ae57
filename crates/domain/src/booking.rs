//! Bookings' pure rules: the party, its price, the status machine and the
//! booking reference.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use rand::Rng;

use crate::money::Rate;

/// Who is coming. Infants count toward capacity (`total_people`). A
/// booking row's `num_adults`, `num_children` and `num_infants`, flattened
/// into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct Party {
    #[serde(rename = "num_adults")]
    #[cfg_attr(feature = "sqlx", sqlx(rename = "num_adults"))]
    pub adults: i64,
    #[serde(rename = "num_children")]
    #[cfg_attr(feature = "sqlx", sqlx(rename = "num_children"))]
    pub children: i64,
    #[serde(rename = "num_infants")]
    #[cfg_attr(feature = "sqlx", sqlx(rename = "num_infants"))]
    pub infants: i64,
}

/// Why a party was refused; `field` names the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PartyError {
    pub field: &'static str,
    pub message: String,
}

impl Party {
    /// A party of `min..=max` people with at least one adult.
    pub fn new(
        adults: i64,
        children: i64,
        infants: i64,
        min: i64,
        max: i64,
    ) -> Result<Party, PartyError> {
        let err = |field, message: String| Err(PartyError { field, message });
        for (field, n) in [
            ("num_adults", adults),
            ("num_children", children),
            ("num_infants", infants),
        ] {
            if n < 0 {
                return err(field, "must not be negative".into());
            }
            if n > 100_000 {
                return err(field, "is too large".into());
            }
        }
        if adults < 1 {
            return err("num_adults", "at least one adult must come".into());
        }
        let total = adults + children + infants;
        if total < min || total > max {
            return err(
                "num_adults",
                format!("a party must have {min} to {max} people (this one has {total})"),
            );
        }
        Ok(Party {
            adults,
            children,
            infants,
        })
    }

    pub fn total(&self) -> i64 {
        self.adults + self.children + self.infants
    }
}

/// Per-person prices and totals of a booking, in minor units (a booking
/// row's price columns, flattened into it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct Pricing {
    pub price_per_adult: i64,
    pub price_per_child: i64,
    pub price_per_infant: i64,
    pub subtotal: i64,
    pub discount_amount: i64,
    pub tax_amount: i64,
    pub total_amount: i64,
}

/// Adults pay full price, children `1 − child_discount` of it, infants
/// nothing; tax is `tax_rate × (subtotal − discount)`. Each amount is
/// rounded half-up to the minor unit.
pub fn price(party: &Party, adult_price: i64, child_discount: Rate, tax_rate: Rate) -> Pricing {
    let price_per_child = child_discount.complement().apply(adult_price);
    let subtotal = party.adults * adult_price + party.children * price_per_child;
    let discount_amount = 0;
    let tax_amount = tax_rate.apply(subtotal - discount_amount);
    Pricing {
        price_per_adult: adult_price,
        price_per_child,
        price_per_infant: 0,
        subtotal,
        discount_amount,
        tax_amount,
        total_amount: subtotal - discount_amount + tax_amount,
    }
}

/// The spec's booking statuses.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum BookingStatus {
    Pending,
    Confirmed,
    Cancelled,
    Completed,
    NoShow,
    Refunded,
}

impl BookingStatus {
    pub const ALL: [BookingStatus; 6] = [
        BookingStatus::Pending,
        BookingStatus::Confirmed,
        BookingStatus::Cancelled,
        BookingStatus::Completed,
        BookingStatus::NoShow,
        BookingStatus::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BookingStatus::Pending => "pending",
            BookingStatus::Confirmed => "confirmed",
            BookingStatus::Cancelled => "cancelled",
            BookingStatus::Completed => "completed",
            BookingStatus::NoShow => "no_show",
            BookingStatus::Refunded => "refunded",
        }
    }

    /// The spec's BOOKING_STATUS_TRANSITIONS, exactly.
    pub fn can_become(self, next: BookingStatus) -> bool {
        use BookingStatus::*;
        matches!(
            (self, next),
            (Pending, Confirmed)
                | (Pending, Cancelled)
                | (Confirmed, Completed)
                | (Confirmed, NoShow)
                | (Confirmed, Cancelled)
                | (Cancelled, Refunded)
        )
    }

    /// Statuses whose people count against the slot's capacity.
    pub fn holds_capacity(self) -> bool {
        matches!(
            self,
            BookingStatus::Pending
                | BookingStatus::Confirmed
                | BookingStatus::Completed
                | BookingStatus::NoShow
        )
    }

    /// Whether a customer may still change or cancel the booking.
    pub fn is_changeable(self) -> bool {
        matches!(self, BookingStatus::Pending | BookingStatus::Confirmed)
    }
}

impl FromStr for BookingStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        BookingStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown status `{s}` (pending, confirmed, cancelled, completed, no_show, refunded)"))
    }
}

impl fmt::Display for BookingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Characters of the random part: no 0/O, 1/I/L, 5/S, 2/Z, 8/B look-alikes.
const REFERENCE_ALPHABET: &[u8] = b"ACDEFGHJKMNPQRTUVWXY34679";

/// A new booking reference: `<PREFIX>-<YYYYMMDD>-<6 chars>`.
pub fn new_reference(prefix: &str, date: NaiveDate) -> String {
    let mut rng = rand::rng();
    let tail: String = (0..6)
        .map(|_| char::from(REFERENCE_ALPHABET[rng.random_range(0..REFERENCE_ALPHABET.len())]))
        .collect();
    format!("{prefix}-{}-{tail}", date.format("%Y%m%d"))
}

/// Whether text has the shape of a booking reference (before any lookup).
pub fn looks_like_reference(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() == 3
        && (1..=8).contains(&parts[0].len())
        && parts[0]
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && parts[1].len() == 8
        && parts[1].chars().all(|c| c.is_ascii_digit())
        && parts[2].len() == 6
        && parts[2].bytes().all(|b| REFERENCE_ALPHABET.contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rate(s: &str) -> Rate {
        s.parse().unwrap()
    }

    #[test]
    fn the_issue_example_prices_exactly() {
        // 2 adults + 1 child at 75.00 with 10 % tax and 30 % child discount.
        let party = Party::new(2, 1, 0, 1, 50).unwrap();
        let p = price(&party, 7500, rate("0.30"), rate("0.10"));
        assert_eq!(p.price_per_child, 5250);
        assert_eq!(p.subtotal, 20250);
        assert_eq!(p.tax_amount, 2025);
        assert_eq!(p.total_amount, 22275);
    }

    #[test]
    fn rounding_is_half_up_to_the_cent() {
        // Child of 12.35 at 30 % off is 8.645 → 8.65; tax of 10 % on 8.65 is 0.865 → 0.87.
        let party = Party::new(1, 1, 2, 1, 50).unwrap();
        let p = price(&party, 1235, rate("0.30"), rate("0.10"));
        assert_eq!(p.price_per_child, 865);
        assert_eq!(p.price_per_infant, 0);
        assert_eq!(p.subtotal, 2100);
        assert_eq!(p.tax_amount, 210);
        let p = price(
            &Party::new(1, 0, 0, 1, 50).unwrap(),
            865,
            rate("0"),
            rate("0.10"),
        );
        assert_eq!(p.tax_amount, 87);
        assert_eq!(p.total_amount, 952);
    }

    #[test]
    fn parties_are_validated() {
        assert_eq!(Party::new(0, 2, 0, 1, 50).unwrap_err().field, "num_adults");
        assert_eq!(
            Party::new(1, -1, 0, 1, 50).unwrap_err().field,
            "num_children"
        );
        assert!(Party::new(30, 20, 1, 1, 50).is_err(), "51 people");
        assert!(Party::new(1, 0, 0, 2, 50).is_err(), "below the minimum");
        assert_eq!(Party::new(1, 1, 1, 1, 50).unwrap().total(), 3);
    }

    #[test]
    fn transitions_are_exactly_the_specs() {
        use BookingStatus::*;
        let allowed = [
            (Pending, Confirmed),
            (Pending, Cancelled),
            (Confirmed, Completed),
            (Confirmed, NoShow),
            (Confirmed, Cancelled),
            (Cancelled, Refunded),
        ];
        for from in BookingStatus::ALL {
            for to in BookingStatus::ALL {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{from} → {to}"
                );
            }
        }
        assert!(Pending.holds_capacity() && NoShow.holds_capacity());
        assert!(!Cancelled.holds_capacity() && !Refunded.holds_capacity());
    }

    #[test]
    fn references_have_the_documented_shape() {
        let d = NaiveDate::from_ymd_opt(2025, 11, 2).unwrap();
        let r = new_reference("ST", d);
        assert!(r.starts_with("ST-20251102-"), "{r}");
        assert!(looks_like_reference(&r), "{r}");
        assert!(!looks_like_reference("ST-20251102-ABC12O"));
        assert!(!looks_like_reference("nonsense"));
    }

    proptest! {
        #[test]
        fn totals_add_up(adults in 1i64..20, children in 0i64..20, infants in 0i64..10, cents in 0i64..100_000) {
            let party = Party::new(adults, children, infants, 1, 50).unwrap();
            let p = price(&party, cents, rate("0.30"), rate("0.10"));
            prop_assert_eq!(p.subtotal, adults * cents + children * p.price_per_child);
            prop_assert_eq!(p.total_amount, p.subtotal - p.discount_amount + p.tax_amount);
            prop_assert!(p.price_per_child <= cents);
        }
    }
}
