//! The outbox's event kinds: what happened, as customers' emails, webhooks
//! and the metrics hear of it. Stored as their dotted names.

use std::fmt;
use std::str::FromStr;

macro_rules! event_kinds {
    ($($variant:ident => $name:literal, $public:expr;)+) => {
        /// One kind of outbox event.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventKind {
            $($variant,)+
        }

        impl EventKind {
            pub const ALL: &'static [EventKind] = &[$(EventKind::$variant,)+];

            /// The stored name (`booking.created`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(EventKind::$variant => $name,)+
                }
            }

            /// The name webhooks subscribe to and receive, for the kinds
            /// they can subscribe to (`waitlist.converted` is published as
            /// `waitlist.claimed`, `booking.modified` as `booking.changed`).
            pub fn public_name(self) -> Option<&'static str> {
                match self {
                    $(EventKind::$variant => $public,)+
                }
            }
        }
    };
}

event_kinds! {
    BookingCreated => "booking.created", Some("booking.created");
    BookingModified => "booking.modified", Some("booking.changed");
    BookingCancelled => "booking.cancelled", Some("booking.cancelled");
    BookingStatusChanged => "booking.status_changed", Some("booking.status_changed");
    BookingGuaranteed => "booking.guaranteed", None;
    BookingReminder => "booking.reminder", None;
    WaitlistJoined => "waitlist.joined", Some("waitlist.joined");
    WaitlistRejoined => "waitlist.rejoined", None;
    WaitlistNotified => "waitlist.notified", Some("waitlist.notified");
    WaitlistConverted => "waitlist.converted", Some("waitlist.claimed");
    WaitlistExpired => "waitlist.expired", Some("waitlist.expired");
    WaitlistCancelled => "waitlist.cancelled", Some("waitlist.cancelled");
    WaitlistRequeued => "waitlist.requeued", None;
    DepartureCancelled => "departure.cancelled", Some("departure.cancelled");
    DepartureGuaranteed => "departure.guaranteed", Some("departure.guaranteed");
}

impl EventKind {
    /// The kind published under `public` (a webhook subscription's name).
    pub fn from_public(public: &str) -> Option<EventKind> {
        EventKind::ALL
            .iter()
            .copied()
            .find(|k| k.public_name() == Some(public))
    }

    pub fn is_booking(self) -> bool {
        self.as_str().starts_with("booking.")
    }

    pub fn is_waitlist(self) -> bool {
        self.as_str().starts_with("waitlist.")
    }
}

impl FromStr for EventKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        EventKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown event type `{s}`"))
    }
}

/// Rows decode through this (`#[sqlx(try_from = "String")]`).
impl TryFrom<String> for EventKind {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::EventKind;

    #[test]
    fn names_read_back_and_public_names_are_unique() {
        for &k in EventKind::ALL {
            assert_eq!(k.as_str().parse::<EventKind>(), Ok(k));
            if let Some(p) = k.public_name() {
                assert_eq!(EventKind::from_public(p), Some(k), "{p}");
            }
            assert!(k.is_booking() || k.is_waitlist() || k.as_str().starts_with("departure."));
        }
        assert_eq!(
            EventKind::from_public("waitlist.claimed"),
            Some(EventKind::WaitlistConverted)
        );
        assert!("booking.exploded".parse::<EventKind>().is_err());
    }
}
