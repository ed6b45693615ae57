//! A waitlist entry's states and the moves between them.

use std::fmt;
use std::str::FromStr;

/// Where a waitlist entry stands. `Active` waits in the queue; `Notified`
/// holds seats for a limited time (an offer); the other three are final.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum WaitlistStatus {
    Active,
    Notified,
    Converted,
    Expired,
    Cancelled,
}

impl WaitlistStatus {
    pub const ALL: [WaitlistStatus; 5] = [
        WaitlistStatus::Active,
        WaitlistStatus::Notified,
        WaitlistStatus::Converted,
        WaitlistStatus::Expired,
        WaitlistStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WaitlistStatus::Active => "active",
            WaitlistStatus::Notified => "notified",
            WaitlistStatus::Converted => "converted",
            WaitlistStatus::Expired => "expired",
            WaitlistStatus::Cancelled => "cancelled",
        }
    }

    /// Still in the queue or holding an offer: the person may leave, and
    /// may not join the same date twice.
    pub fn is_open(self) -> bool {
        matches!(self, WaitlistStatus::Active | WaitlistStatus::Notified)
    }

    /// Whether an entry may move from `self` to `next`.
    pub fn can_become(self, next: WaitlistStatus) -> bool {
        use WaitlistStatus::*;
        matches!(
            (self, next),
            (Active, Notified)
                | (Active, Cancelled)
                | (Notified, Active)
                | (Notified, Converted)
                | (Notified, Expired)
                | (Notified, Cancelled)
        )
    }
}

impl FromStr for WaitlistStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        WaitlistStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown waitlist status `{s}` (active, notified, converted, expired, cancelled)"
                )
            })
    }
}

/// Rows decode through this (`#[sqlx(try_from = "String")]`).
impl TryFrom<String> for WaitlistStatus {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl fmt::Display for WaitlistStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::WaitlistStatus::{self, *};

    #[test]
    fn every_status_reads_back_as_itself() {
        for s in WaitlistStatus::ALL {
            assert_eq!(s.as_str().parse::<WaitlistStatus>(), Ok(s));
            assert_eq!(WaitlistStatus::try_from(s.to_string()), Ok(s));
        }
        assert!("waiting".parse::<WaitlistStatus>().is_err());
    }

    #[test]
    fn only_open_entries_move_and_final_ones_stay() {
        for from in WaitlistStatus::ALL {
            for to in WaitlistStatus::ALL {
                if from.can_become(to) {
                    assert!(from.is_open(), "{from} -> {to}");
                }
            }
        }
        assert!(Active.is_open() && Notified.is_open());
        assert!(!Converted.is_open() && !Expired.is_open() && !Cancelled.is_open());
        assert!(Notified.can_become(Converted) && !Active.can_become(Converted));
    }
}
