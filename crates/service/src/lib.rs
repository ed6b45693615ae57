//! Tourdesk's use cases. Each public method of a service opens its own
//! transaction and commits it, so one call is one atomic change. The one
//! exception is a booking create: it is decided and written together with
//! the creates waiting beside it, on one transaction they share (group
//! commit, [`group`]), and still answers only once that transaction is
//! durable.
//!
//! Every change to capacity and to booking, departure and waitlist state
//! goes through [`ledger`], which states and follows one lock order and
//! retries transient conflicts; the use-case modules (`bookings`,
//! `waitlist`, `catalog`) never import each other.

pub mod accounts;
pub mod availability;
pub mod bookings;
pub mod calendar;
pub mod caller;
pub mod catalog;
mod error;
pub mod group;
pub mod ics;
pub mod ledger;
pub mod mail;
pub mod notifications;
pub mod reports;
pub mod retention;
mod settings;
#[cfg(test)]
mod settle_tests;
#[cfg(test)]
mod testdb;
pub mod validate;
pub mod waitlist;
pub mod webhooks;

pub use caller::{Admin, Caller};
pub use error::{ServiceError, ServiceResult};
pub use settings::{
    CalendarCacheSettings, Clock, GroupCommitSettings, Settings, SystemClock, defaults,
};

use std::sync::Arc;

use tourdesk_store::Db;

/// Everything a use case needs: the database, the rules, and the clock.
#[derive(Clone)]
pub struct Context {
    pub db: Db,
    pub settings: Arc<Settings>,
    pub clock: Arc<dyn Clock>,
    /// How customer email is addressed and whether it is sent.
    pub mail: Arc<mail::MailSettings>,
    /// The queues group commit batches booking creates from.
    pub(crate) batches: Arc<group::Lanes<bookings::CreateRequest>>,
    /// The calendar cache ([`availability`]).
    pub(crate) calendar: Arc<availability::CalendarCache>,
}

impl Context {
    pub fn new(db: Db, settings: Settings) -> Context {
        Context {
            db,
            settings: Arc::new(settings),
            clock: Arc::new(SystemClock),
            mail: Arc::new(mail::MailSettings::default()),
            batches: Arc::default(),
            calendar: Arc::default(),
        }
    }

    pub fn mail(&self) -> mail::Mail<'_> {
        mail::Mail(self)
    }

    pub fn accounts(&self) -> accounts::Accounts<'_> {
        accounts::Accounts(self)
    }

    pub fn calendars(&self) -> calendar::Calendars<'_> {
        calendar::Calendars(self)
    }

    pub fn catalog(&self) -> catalog::Catalog<'_> {
        catalog::Catalog(self)
    }

    pub fn availability(&self) -> availability::AvailabilityService<'_> {
        availability::AvailabilityService(self)
    }

    pub fn bookings(&self) -> bookings::Bookings<'_> {
        bookings::Bookings(self)
    }

    pub fn notifications(&self) -> notifications::Notifications<'_> {
        notifications::Notifications(self)
    }

    pub fn reports(&self) -> reports::Reports<'_> {
        reports::Reports(self)
    }

    pub fn retention(&self) -> retention::Retention<'_> {
        retention::Retention(self)
    }

    pub fn webhooks(&self) -> webhooks::Webhooks<'_> {
        webhooks::Webhooks(self)
    }

    pub fn waitlist(&self) -> waitlist::Waitlist<'_> {
        waitlist::Waitlist(self)
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Context {
        self.clock = clock;
        self
    }
}
