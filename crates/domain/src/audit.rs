//! What a booking's audit trail records: one kind per change, stored as
//! its name in `booking_modification_logs.modification_type` and shown by
//! the console's history.

use std::fmt;

macro_rules! audit_kinds {
    ($($variant:ident => $name:literal,)+) => {
        /// One kind of change to a booking.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum AuditKind {
            $($variant,)+
        }

        impl AuditKind {
            pub const ALL: &'static [AuditKind] = &[$(AuditKind::$variant,)+];

            /// The stored name (`contact_change`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(AuditKind::$variant => $name,)+
                }
            }
        }
    };
}

audit_kinds! {
    Created => "created",
    PartyChange => "party_change",
    DateChange => "date_change",
    DateAndPartyChange => "date_and_party_change",
    ContactChange => "contact_change",
    Cancellation => "cancellation",
    StatusChange => "status_change",
    CheckIn => "check_in",
    CheckInUndone => "check_in_undone",
    Rebooked => "rebooked",
    DepartureGuaranteed => "departure_guaranteed",
    DecisionDeadlineMoved => "decision_deadline_moved",
    ScheduleChange => "schedule_change",
}

impl AuditKind {
    /// A stored name, read back; `None` for one this version does not
    /// write (another version's): the history still shows it as stored.
    pub fn parse(name: &str) -> Option<AuditKind> {
        AuditKind::ALL.iter().copied().find(|k| k.as_str() == name)
    }

    /// A modification of a booking's departure, party or both.
    pub fn of_modification(moved: bool, party_changed: bool) -> AuditKind {
        match (moved, party_changed) {
            (true, true) => AuditKind::DateAndPartyChange,
            (true, false) => AuditKind::DateChange,
            _ => AuditKind::PartyChange,
        }
    }
}

impl fmt::Display for AuditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_by_its_name_and_names_are_unique() {
        for kind in AuditKind::ALL {
            assert_eq!(AuditKind::parse(kind.as_str()), Some(*kind));
        }
        let mut names: Vec<&str> = AuditKind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), AuditKind::ALL.len());
        assert_eq!(AuditKind::parse("no_such_change"), None);
    }
}
