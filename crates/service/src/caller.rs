//! Who is asking, and what they may touch.

use tourdesk_domain::{Email, PersonName};

use crate::accounts::{User, hash_secret};
use crate::{ServiceError, ServiceResult};

/// The person (or job) behind a request, as audit rows record it.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub user: Option<User>,
    /// A booking's or waitlist entry's manage token (`X-Manage-Token`).
    pub manage_token: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Background jobs act as `system`.
    pub system: bool,
}

impl Caller {
    pub fn system() -> Caller {
        Caller {
            system: true,
            ..Caller::default()
        }
    }

    pub fn is_admin(&self) -> bool {
        self.system || self.user.as_ref().is_some_and(User::is_admin)
    }

    pub fn user_id(&self) -> Option<i64> {
        self.user.as_ref().map(|u| u.id)
    }

    /// `user:<id>`, `system` or `guest`.
    pub fn actor(&self) -> String {
        match (&self.user, self.system) {
            (_, true) => "system".into(),
            (Some(u), _) => format!("user:{}", u.id),
            (None, _) => "guest".into(),
        }
    }

    pub fn token_hash(&self) -> Option<String> {
        self.manage_token.as_deref().map(hash_secret)
    }

    /// The answer when this caller may not touch `what` `id`: exactly the
    /// answer for an id that does not exist, so that nobody can learn which
    /// ids exist by trying them (whether or not they send credentials).
    pub fn refusal(&self, what: &str, id: i64) -> ServiceError {
        ServiceError::not_found(format!("{what} {id} not found"))
    }

    /// The name and email something is booked under: the ones given, else
    /// the account's; a guest must give both.
    pub fn contact(
        &self,
        name: Option<&str>,
        email: Option<&str>,
    ) -> ServiceResult<(PersonName, Email)> {
        let (name, email) = match (&self.user, name, email) {
            (_, Some(n), Some(e)) => (n, e),
            (Some(u), n, e) => (n.unwrap_or(&u.name), e.unwrap_or(&u.email)),
            (None, None, _) => {
                return Err(ServiceError::invalid(
                    "customer_name",
                    "is required without an account",
                ));
            }
            (None, _, None) => {
                return Err(ServiceError::invalid(
                    "customer_email",
                    "is required without an account",
                ));
            }
        };
        let name =
            PersonName::parse(name).map_err(|e| ServiceError::invalid("customer_name", e.0))?;
        let email =
            Email::parse(email).map_err(|e| ServiceError::invalid("customer_email", e.0))?;
        Ok((name, email))
    }

    pub fn require_admin(&self) -> ServiceResult<()> {
        if self.is_admin() {
            Ok(())
        } else if self.user.is_none() {
            Err(ServiceError::Unauthenticated(
                "this needs an admin account".into(),
            ))
        } else {
            Err(ServiceError::Forbidden(
                "this needs an admin account".into(),
            ))
        }
    }
}
