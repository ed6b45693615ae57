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

    /// The admin capability for this caller: 401 without an account, 403
    /// for a customer. Admin-only use cases take an [`Admin`], so none can
    /// be reached without passing through here (or [`Admin::system`]).
    pub fn into_admin(self) -> ServiceResult<Admin> {
        self.require_admin()?;
        Ok(Admin { caller: self })
    }

    fn require_admin(&self) -> ServiceResult<()> {
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

/// Proof that the caller may run an admin-only use case: an authenticated
/// admin (from [`Caller::into_admin`], which checks) or the operator's own
/// processes ([`Admin::system`]: background jobs, the CLI, the demo seed).
/// Its field is private, so no other code can make one: a handler that
/// forgets its admin extractor does not compile rather than open a route.
///
/// ```compile_fail
/// // Outside this module an Admin cannot be made up:
/// let forged = tourdesk_service::Admin { caller: tourdesk_service::Caller::default() };
/// ```
#[derive(Debug, Clone)]
pub struct Admin {
    caller: Caller,
}

impl Admin {
    /// The operator's own processes (jobs, CLI, demo seed); never built
    /// from a request.
    pub fn system() -> Admin {
        Admin {
            caller: Caller::system(),
        }
    }

    /// Who is acting, for audit rows.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ServiceError;

    #[test]
    fn only_admins_and_the_system_get_the_admin_capability() {
        assert!(matches!(
            Caller::default().into_admin(),
            Err(ServiceError::Unauthenticated(_))
        ));
        let customer = Caller {
            manage_token: Some("tdm_x".into()),
            ..Caller::default()
        };
        assert!(matches!(
            customer.into_admin(),
            Err(ServiceError::Unauthenticated(_))
        ));
        let user = |role| User {
            id: 7,
            email: "a@example.com".into(),
            name: "A".into(),
            phone: None,
            role,
            created_at: chrono::Utc::now(),
        };
        let customer = Caller {
            user: Some(user(tourdesk_domain::Role::Customer)),
            ..Caller::default()
        };
        assert!(matches!(
            customer.into_admin(),
            Err(ServiceError::Forbidden(_))
        ));
        let admin = Caller {
            user: Some(user(tourdesk_domain::Role::Admin)),
            ip: Some("192.0.2.1".into()),
            ..Caller::default()
        };
        let cap = admin.into_admin().expect("an admin");
        assert_eq!(cap.caller().ip.as_deref(), Some("192.0.2.1"));
        assert!(Caller::system().into_admin().is_ok());
        assert!(Admin::system().caller().is_admin());
    }
}
