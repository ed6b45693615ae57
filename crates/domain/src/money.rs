//! Money as integer minor units of an ISO 4217 currency, and exact decimal
//! rates (tax, discounts). No floating point touches an amount.

use std::fmt;
use std::str::FromStr;

/// Errors from parsing amounts, rates and currencies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("`{0}` is not a decimal number")]
    NotANumber(String),
    #[error("`{value}` has more decimals than {currency} allows ({exponent})")]
    TooPrecise {
        value: String,
        currency: String,
        exponent: u32,
    },
    #[error("`{0}` is out of range")]
    OutOfRange(String),
    #[error("`{0}` is not a three-letter ISO 4217 currency code")]
    BadCurrency(String),
}

/// A decimal parsed exactly from text: `digits / 10^scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Decimal {
    digits: i128,
    scale: u32,
}

impl Decimal {
    fn parse(text: &str) -> Result<Decimal, MoneyError> {
        let bad = || MoneyError::NotANumber(text.to_owned());
        let t = text.trim();
        let (negative, t) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        let (int, frac) = t.split_once('.').unwrap_or((t, ""));
        if int.is_empty() && frac.is_empty() {
            return Err(bad());
        }
        if !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        if int.len() + frac.len() > 30 {
            return Err(MoneyError::OutOfRange(text.to_owned()));
        }
        let frac = frac.trim_end_matches('0');
        let mut digits: i128 = 0;
        for c in int.chars().chain(frac.chars()) {
            digits = digits * 10 + i128::from(c as u8 - b'0');
        }
        let scale = u32::try_from(frac.len()).map_err(|_| bad())?;
        Ok(Decimal {
            digits: if negative { -digits } else { digits },
            scale,
        })
    }
}

/// An ISO 4217 currency code with its number of minor-unit digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Currency(String);

impl Currency {
    pub fn parse(code: &str) -> Result<Currency, MoneyError> {
        let upper = code.trim().to_ascii_uppercase();
        if upper.len() == 3 && upper.chars().all(|c| c.is_ascii_uppercase()) {
            Ok(Currency(upper))
        } else {
            Err(MoneyError::BadCurrency(code.to_owned()))
        }
    }

    /// US dollars, the default currency of a new tour.
    pub fn usd() -> Currency {
        Currency("USD".to_owned())
    }

    pub fn code(&self) -> &str {
        &self.0
    }

    /// Digits after the decimal point (ISO 4217 minor units).
    pub fn exponent(&self) -> u32 {
        match self.0.as_str() {
            "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF"
            | "UGX" | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
            "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
            _ => 2,
        }
    }

    /// Parses a decimal amount (`"75.5"`, `"75.50"`) into minor units,
    /// refusing more decimals than the currency has.
    pub fn parse_amount(&self, text: &str) -> Result<i64, MoneyError> {
        let d = Decimal::parse(text)?;
        let exp = self.exponent();
        if d.scale > exp {
            return Err(MoneyError::TooPrecise {
                value: text.to_owned(),
                currency: self.0.clone(),
                exponent: exp,
            });
        }
        let minor = d.digits * 10i128.pow(exp - d.scale);
        i64::try_from(minor)
            .ok()
            .filter(|m| m.abs() < 1_000_000_000_000_000)
            .ok_or_else(|| MoneyError::OutOfRange(text.to_owned()))
    }

    /// Formats minor units as a decimal with exactly the currency's digits.
    pub fn format(&self, minor: i64) -> String {
        let exp = self.exponent();
        if exp == 0 {
            return minor.to_string();
        }
        let unit = 10i64.pow(exp);
        let sign = if minor < 0 { "-" } else { "" };
        let abs = minor.unsigned_abs();
        let unit = unit.unsigned_abs();
        format!(
            "{sign}{}.{:0width$}",
            abs / unit,
            abs % unit,
            width = exp as usize
        )
    }
}

/// A stored code, decoded (`#[sqlx(try_from = "String")]`).
impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(code: String) -> Result<Currency, MoneyError> {
        Currency::parse(&code)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An amount in minor units of its currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    /// `75.50 USD`: the amount with its code, as customers read it.
    pub fn with_code(&self) -> String {
        format!("{} {}", self.currency.format(self.minor), self.currency)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.currency.format(self.minor))
    }
}

/// A fraction between 0 and 1 held exactly in millionths (`0.30` = 300000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rate {
    ppm: i64,
}

const PPM: i64 = 1_000_000;

impl Rate {
    pub const ZERO: Rate = Rate { ppm: 0 };
    pub const ONE: Rate = Rate { ppm: PPM };

    pub fn from_ppm(ppm: i64) -> Option<Rate> {
        (0..=PPM).contains(&ppm).then_some(Rate { ppm })
    }

    pub fn ppm(self) -> i64 {
        self.ppm
    }

    /// `1 - self`.
    pub fn complement(self) -> Rate {
        Rate {
            ppm: PPM - self.ppm,
        }
    }

    /// `amount × rate`, rounded half away from zero to the minor unit.
    pub fn apply(self, amount_minor: i64) -> i64 {
        let product = i128::from(amount_minor) * i128::from(self.ppm);
        let half = i128::from(PPM) / 2;
        let rounded = if product >= 0 {
            (product + half) / i128::from(PPM)
        } else {
            (product - half) / i128::from(PPM)
        };
        // |amount × rate| <= |amount| since rate <= 1, so this always fits.
        i64::try_from(rounded).unwrap_or(amount_minor)
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Rate, String> {
        let d = Decimal::parse(s).map_err(|e| e.to_string())?;
        if d.scale > 6 {
            return Err(format!("`{s}` has more than 6 decimals"));
        }
        let ppm = d.digits * 10i128.pow(6 - d.scale);
        i64::try_from(ppm)
            .ok()
            .and_then(Rate::from_ppm)
            .ok_or_else(|| format!("`{s}` must be between 0 and 1"))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = format!("{}.{:06}", self.ppm / PPM, self.ppm % PPM);
        let s = s.trim_end_matches('0');
        let s = if s.ends_with('.') {
            format!("{s}00")
        } else {
            s.to_owned()
        };
        f.write_str(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn usd() -> Currency {
        Currency::parse("usd").unwrap()
    }

    #[test]
    fn amounts_parse_exactly() {
        assert_eq!(usd().parse_amount("75"), Ok(7500));
        assert_eq!(usd().parse_amount("75.5"), Ok(7550));
        assert_eq!(usd().parse_amount("75.50"), Ok(7550));
        assert_eq!(usd().parse_amount("0.07"), Ok(7));
        assert_eq!(usd().parse_amount("85.000"), Ok(8500));
        assert!(matches!(
            usd().parse_amount("85.005"),
            Err(MoneyError::TooPrecise { .. })
        ));
        assert!(usd().parse_amount("abc").is_err());
        assert!(usd().parse_amount("").is_err());
        assert!(usd().parse_amount("1e5").is_err());
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(jpy.parse_amount("1200"), Ok(1200));
        assert!(jpy.parse_amount("1200.5").is_err());
    }

    #[test]
    fn amounts_format_with_the_currency_digits() {
        assert_eq!(usd().format(19250), "192.50");
        assert_eq!(usd().format(7), "0.07");
        assert_eq!(usd().format(-150), "-1.50");
        assert_eq!(Currency::parse("JPY").unwrap().format(1200), "1200");
        assert_eq!(Currency::parse("KWD").unwrap().format(1234), "1.234");
    }

    #[test]
    fn currencies_are_three_letters() {
        assert!(Currency::parse("US").is_err());
        assert!(Currency::parse("US1").is_err());
        assert_eq!(Currency::parse(" ils ").unwrap().code(), "ILS");
    }

    #[test]
    fn rates_parse_and_round_half_up() {
        let tax: Rate = "0.10".parse().unwrap();
        assert_eq!(tax.apply(20250), 2025);
        assert_eq!(tax.apply(20255), 2026); // 2025.5 rounds up
        let child: Rate = "0.30".parse().unwrap();
        assert_eq!(child.complement().apply(7500), 5250);
        assert!("1.5".parse::<Rate>().is_err());
        assert!("-0.1".parse::<Rate>().is_err());
        assert!("0.1234567".parse::<Rate>().is_err());
        assert_eq!("0.3".parse::<Rate>().unwrap().to_string(), "0.3");
        assert_eq!("1".parse::<Rate>().unwrap().to_string(), "1.00");
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(minor in -1_000_000_000_000i64..1_000_000_000_000) {
            prop_assert_eq!(usd().parse_amount(&usd().format(minor)), Ok(minor));
        }

        #[test]
        fn applying_a_rate_never_exceeds_the_amount(minor in 0i64..1_000_000_000_000, ppm in 0i64..=1_000_000) {
            let r = Rate::from_ppm(ppm).unwrap();
            let part = r.apply(minor);
            prop_assert!(part >= 0 && part <= minor);
            prop_assert!((r.apply(minor) + r.complement().apply(minor) - minor).abs() <= 1);
        }
    }
}
