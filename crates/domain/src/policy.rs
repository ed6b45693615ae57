//! An operator's rules per tour: how much a cancellation refunds, and who
//! may make up a party. Each has a default from configuration; a tour may
//! carry its own.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::booking::Party;

/// Why a rule set was refused; `field` names the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RuleError {
    pub field: String,
    pub message: String,
}

fn rule_error(field: impl Into<String>, message: impl Into<String>) -> RuleError {
    RuleError {
        field: field.into(),
        message: message.into(),
    }
}

/// Longest notice a tier may ask for: a year.
pub const MAX_TIER_HOURS: u32 = 24 * 366;

/// One step of a policy: a cancellation at least `min_hours_before` the
/// departure refunds `refund_percent` of the booking's total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundTier {
    pub min_hours_before: u32,
    pub refund_percent: u32,
}

/// Ordered tiers (longest notice first, the last from 0 hours) and a fixed
/// fee, in minor units, kept from every refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancellationPolicy {
    tiers: Vec<RefundTier>,
    fee: i64,
}

/// What cancelling now gives back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundQuote {
    /// The tier that applies now (index into the policy's tiers).
    pub tier: usize,
    pub refund_percent: u32,
    /// The fee kept (at most the percentage's amount).
    pub fee: i64,
    pub refund_amount: i64,
    /// The last instant this tier applies; a second later the next one
    /// does. None in the last tier.
    pub tier_ends_at: Option<DateTime<Utc>>,
    /// What the next tier would refund.
    pub next: Option<(u32, i64)>,
}

/// `amount × percent / 100`, rounded half-up to the minor unit.
pub fn percent_of(amount: i64, percent: u32) -> i64 {
    let product = i128::from(amount) * i128::from(percent);
    let rounded = (product + 50).div_euclid(100);
    i64::try_from(rounded).unwrap_or(amount)
}

impl CancellationPolicy {
    /// Tiers strictly ordered by notice (longest first), ending with one from
    /// 0 hours, each refunding 0–100 % and none more than the tier before;
    /// a fee of zero or more.
    pub fn new(tiers: Vec<RefundTier>, fee: i64) -> Result<CancellationPolicy, RuleError> {
        if tiers.is_empty() {
            return Err(rule_error("tiers", "give at least one tier"));
        }
        if tiers.len() > 10 {
            return Err(rule_error("tiers", "at most 10 tiers"));
        }
        for (i, t) in tiers.iter().enumerate() {
            if t.refund_percent > 100 {
                return Err(rule_error(
                    format!("tiers[{i}].refund_percent"),
                    "must be 0 to 100",
                ));
            }
            if t.min_hours_before > MAX_TIER_HOURS {
                return Err(rule_error(
                    format!("tiers[{i}].min_hours_before"),
                    format!("must be at most {MAX_TIER_HOURS} (a year)"),
                ));
            }
            if i > 0 {
                let before = tiers[i - 1];
                if t.min_hours_before >= before.min_hours_before {
                    return Err(rule_error(
                        format!("tiers[{i}].min_hours_before"),
                        "tiers must be ordered from the longest notice down, without repeating or overlapping one another",
                    ));
                }
                if t.refund_percent > before.refund_percent {
                    return Err(rule_error(
                        format!("tiers[{i}].refund_percent"),
                        "a tier with less notice cannot refund more than the one before it",
                    ));
                }
            }
        }
        let last = tiers.len() - 1;
        if tiers[last].min_hours_before != 0 {
            return Err(rule_error(
                format!("tiers[{last}].min_hours_before"),
                "the last tier must start at 0 hours, so every cancellation falls in one",
            ));
        }
        if fee < 0 {
            return Err(rule_error("fee", "must not be negative"));
        }
        Ok(CancellationPolicy { tiers, fee })
    }

    /// The same checks on a stored policy (JSON written by `new`).
    pub fn revalidate(self) -> Result<CancellationPolicy, RuleError> {
        CancellationPolicy::new(self.tiers, self.fee)
    }

    /// Full refund at any time, no fee.
    pub fn full_refund() -> CancellationPolicy {
        CancellationPolicy {
            tiers: vec![RefundTier {
                min_hours_before: 0,
                refund_percent: 100,
            }],
            fee: 0,
        }
    }

    /// The configuration's form: `hours:percent` pairs separated by commas,
    /// longest notice first, e.g. `72:100,24:50,0:0`.
    pub fn parse_tiers(text: &str) -> Result<Vec<RefundTier>, RuleError> {
        text.split(',')
            .map(|pair| {
                let (h, p) = pair.trim().split_once(':').ok_or_else(|| {
                    rule_error("tiers", format!("`{}` is not hours:percent", pair.trim()))
                })?;
                let num = |s: &str, what: &str| {
                    s.trim().parse::<u32>().map_err(|_| {
                        rule_error(
                            "tiers",
                            format!("`{}` is not a whole number of {what}", s.trim()),
                        )
                    })
                };
                Ok(RefundTier {
                    min_hours_before: num(h, "hours")?,
                    refund_percent: num(p, "percent")?,
                })
            })
            .collect()
    }

    pub fn tiers(&self) -> &[RefundTier] {
        &self.tiers
    }

    pub fn fee(&self) -> i64 {
        self.fee
    }

    /// The tier a cancellation at `now` falls in.
    fn tier_at(&self, starts_at: DateTime<Utc>, now: DateTime<Utc>) -> usize {
        let notice = starts_at - now;
        self.tiers
            .iter()
            .position(|t| notice >= Duration::hours(i64::from(t.min_hours_before)))
            .unwrap_or(self.tiers.len() - 1)
    }

    fn refund(&self, total: i64, percent: u32) -> (i64, i64) {
        let gross = percent_of(total, percent);
        let fee = self.fee.min(gross);
        (gross - fee, fee)
    }

    /// What cancelling a booking of `total` on a departure starting at
    /// `starts_at` refunds at `now`.
    pub fn quote(&self, total: i64, starts_at: DateTime<Utc>, now: DateTime<Utc>) -> RefundQuote {
        let i = self.tier_at(starts_at, now);
        let tier = self.tiers[i];
        let (refund_amount, fee) = self.refund(total, tier.refund_percent);
        let next = self
            .tiers
            .get(i + 1)
            .map(|n| (n.refund_percent, self.refund(total, n.refund_percent).0));
        RefundQuote {
            tier: i,
            refund_percent: tier.refund_percent,
            fee,
            refund_amount,
            tier_ends_at: next
                .map(|_| starts_at - Duration::hours(i64::from(tier.min_hours_before))),
            next,
        }
    }

    /// What removing people worth `removed` (the fall in the booking's
    /// total) refunds at `now`: the same percentage, without the fee, which
    /// is for cancelling.
    pub fn reduction_refund(
        &self,
        removed: i64,
        starts_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> (u32, i64) {
        let percent = self.tiers[self.tier_at(starts_at, now)].refund_percent;
        (percent, percent_of(removed.max(0), percent))
    }
}

/// Who may make up a party on a tour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyRules {
    /// Whether infants take a seat (count toward capacity).
    pub infants_take_seat: bool,
    /// At least one adult per this many children and infants (None: any).
    pub max_minors_per_adult: Option<u32>,
    /// At most this many infants per adult (None: any).
    pub max_infants_per_adult: Option<u32>,
}

impl Default for PartyRules {
    fn default() -> Self {
        PartyRules {
            infants_take_seat: true,
            max_minors_per_adult: None,
            max_infants_per_adult: None,
        }
    }
}

/// A party that breaks a tour's rule: `rule` names it for clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PartyRuleBroken {
    pub rule: &'static str,
    pub field: &'static str,
    pub message: String,
}

impl PartyRules {
    pub fn new(
        infants_take_seat: bool,
        max_minors_per_adult: Option<u32>,
        max_infants_per_adult: Option<u32>,
    ) -> Result<PartyRules, RuleError> {
        for (field, v) in [
            ("max_minors_per_adult", max_minors_per_adult),
            ("max_infants_per_adult", max_infants_per_adult),
        ] {
            if let Some(n) = v
                && !(1..=100).contains(&n)
            {
                return Err(rule_error(field, "must be 1 to 100, or null for no limit"));
            }
        }
        Ok(PartyRules {
            infants_take_seat,
            max_minors_per_adult,
            max_infants_per_adult,
        })
    }

    pub fn revalidate(self) -> Result<PartyRules, RuleError> {
        PartyRules::new(
            self.infants_take_seat,
            self.max_minors_per_adult,
            self.max_infants_per_adult,
        )
    }

    /// The places a party takes on a departure.
    pub fn seats(&self, p: &Party) -> i64 {
        if self.infants_take_seat {
            p.adults + p.children + p.infants
        } else {
            p.adults + p.children
        }
    }

    /// Refuses a party that breaks a rule, naming the rule.
    pub fn check(&self, p: &Party) -> Result<(), PartyRuleBroken> {
        if let Some(n) = self.max_minors_per_adult {
            let minors = p.children + p.infants;
            if minors > p.adults * i64::from(n) {
                return Err(PartyRuleBroken {
                    rule: "max_minors_per_adult",
                    field: "num_adults",
                    message: format!(
                        "at least one adult must come for every {n} {} and infants; {} need {} adults",
                        if n == 1 { "child" } else { "children" },
                        minors,
                        (minors + i64::from(n) - 1) / i64::from(n)
                    ),
                });
            }
        }
        if let Some(n) = self.max_infants_per_adult
            && p.infants > p.adults * i64::from(n)
        {
            return Err(PartyRuleBroken {
                rule: "max_infants_per_adult",
                field: "num_infants",
                message: format!(
                    "at most {n} {} per adult",
                    if n == 1 { "infant" } else { "infants" }
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn policy(text: &str, fee: i64) -> CancellationPolicy {
        CancellationPolicy::new(CancellationPolicy::parse_tiers(text).unwrap(), fee).unwrap()
    }

    #[test]
    fn a_tier_holds_to_its_boundary_second_and_drops_a_second_later() {
        let p = policy("72:100,24:50,0:0", 0);
        let start = Utc.with_ymd_and_hms(2027, 3, 10, 9, 0, 0).unwrap();
        let at = |h: i64, s: i64| start - Duration::hours(h) + Duration::seconds(s);
        let q = p.quote(10_000, start, at(72, 0));
        assert_eq!((q.refund_percent, q.refund_amount), (100, 10_000));
        assert_eq!(q.tier_ends_at, Some(at(72, 0)));
        assert_eq!(q.next, Some((50, 5_000)));
        let q = p.quote(10_000, start, at(72, 1));
        assert_eq!((q.refund_percent, q.refund_amount), (50, 5_000));
        assert_eq!(q.tier_ends_at, Some(at(24, 0)));
        let q = p.quote(10_000, start, at(24, 0));
        assert_eq!(q.refund_percent, 50);
        let q = p.quote(10_000, start, at(24, 1));
        assert_eq!(
            (q.refund_percent, q.refund_amount, q.tier_ends_at),
            (0, 0, None)
        );
        // After the start: still the last tier.
        assert_eq!(p.quote(10_000, start, at(0, 3600)).refund_percent, 0);
    }

    #[test]
    fn refunds_round_half_up_and_keep_the_fee() {
        let p = policy("24:50,0:0", 250);
        let start = Utc.with_ymd_and_hms(2027, 3, 10, 9, 0, 0).unwrap();
        let now = start - Duration::hours(30);
        // 50 % of 3 333 = 1 666.5 → 1 667, less the fee of 250.
        let q = p.quote(3_333, start, now);
        assert_eq!((q.refund_amount, q.fee), (1_417, 250));
        // The fee never makes a refund negative.
        let q = p.quote(300, start, now);
        assert_eq!((q.refund_amount, q.fee), (0, 150));
        assert_eq!(percent_of(1, 50), 1);
        assert_eq!(percent_of(3, 50), 2);
        assert_eq!(p.reduction_refund(3_333, start, now), (50, 1_667));
    }

    #[test]
    fn bad_policies_name_the_field() {
        let bad = |text: &str| {
            CancellationPolicy::new(CancellationPolicy::parse_tiers(text).unwrap(), 0)
                .unwrap_err()
                .field
        };
        assert_eq!(bad("24:50,72:100,0:0"), "tiers[1].min_hours_before");
        assert_eq!(bad("72:100,72:50,0:0"), "tiers[1].min_hours_before");
        assert_eq!(bad("72:101,0:0"), "tiers[0].refund_percent");
        assert_eq!(bad("72:50,0:100"), "tiers[1].refund_percent");
        assert_eq!(bad("72:100,24:0"), "tiers[1].min_hours_before");
        assert!(CancellationPolicy::parse_tiers("72-100").is_err());
        assert!(CancellationPolicy::new(vec![], 0).is_err());
        assert_eq!(
            CancellationPolicy::new(CancellationPolicy::parse_tiers("0:100").unwrap(), -1)
                .unwrap_err()
                .field,
            "fee"
        );
    }

    #[test]
    fn party_rules_name_the_rule_broken() {
        let party = |a, c, i| Party {
            adults: a,
            children: c,
            infants: i,
        };
        let r = PartyRules::new(false, Some(4), Some(1)).unwrap();
        assert_eq!(r.seats(&party(2, 3, 1)), 5);
        assert!(r.check(&party(1, 3, 1)).is_ok());
        assert_eq!(
            r.check(&party(1, 4, 1)).unwrap_err().rule,
            "max_minors_per_adult"
        );
        assert_eq!(
            r.check(&party(2, 0, 3)).unwrap_err().rule,
            "max_infants_per_adult"
        );
        assert!(r.check(&party(2, 0, 2)).is_ok());
        assert_eq!(PartyRules::default().seats(&party(2, 3, 1)), 6);
        assert!(PartyRules::default().check(&party(1, 30, 30)).is_ok());
        assert!(PartyRules::new(true, Some(0), None).is_err());
    }
}
