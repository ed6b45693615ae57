//! Tourdesk's pure rules: no I/O, no async. Every type here parses its input
//! and refuses what is invalid, so the layers above hold only valid values.

pub mod audit;
pub mod availability;
pub mod booking;
pub mod contact;
pub mod details;
pub mod event;
pub mod money;
pub mod policy;
pub mod role;
pub mod schedule;
pub mod waitlist;

pub use audit::AuditKind;
pub use contact::{Email, Invalid, Password, PersonName, Phone};
pub use details::{ContactDetails, Needs};
pub use event::EventKind;
pub use money::{Currency, Money, MoneyError, Rate};
pub use role::Role;
pub use waitlist::WaitlistStatus;
