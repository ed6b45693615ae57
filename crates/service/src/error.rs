//! What a use case can answer besides success. The HTTP edge maps each kind
//! to one status code; the kinds carry machine codes and sentences for people.

use std::fmt;

use serde_json::{Map, Value};
use tourdesk_store::StoreError;

pub type ServiceResult<T> = Result<T, ServiceError>;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Malformed or out-of-range input; names the field (HTTP 422).
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// A party breaks one of the tour's party rules (HTTP 422,
    /// `party_rule_broken`, naming the `rule` and the `field`).
    #[error("{field}: {message}")]
    Rule {
        field: String,
        rule: &'static str,
        message: String,
    },
    /// The thing asked for does not exist, or may not be seen (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// A business rule refused the request (HTTP 400).
    #[error("{message}")]
    Refused {
        code: &'static str,
        message: String,
        extra: Map<String, Value>,
    },
    /// The request conflicts with the current state (HTTP 409).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// Missing or bad credentials (HTTP 401).
    #[error("{0}")]
    Unauthenticated(String),
    /// Authenticated, but not allowed (HTTP 403).
    #[error("{0}")]
    Forbidden(String),
    /// Too many of something from one client (HTTP 429 with Retry-After).
    #[error("{message}")]
    Limited {
        message: String,
        retry_after_secs: u32,
    },
    /// Transactions got in each other's way (deadlock, serialization
    /// failure): the ledger retries these; one that persists is answered
    /// 503 with Retry-After.
    #[error("{0}")]
    Busy(String),
    /// The database is unreachable or out of connections (HTTP 503 with
    /// Retry-After): an outage, never the client's fault.
    #[error("{0}")]
    Unavailable(String),
    /// The database's disk is full; nothing was changed (HTTP 507 with
    /// Retry-After).
    #[error("{0}")]
    StorageFull(String),
    /// Something broke that the client cannot fix (HTTP 500): a database
    /// error that is not an outage, a stored value that does not decode, a
    /// template or hashing failure. Carries the cause for the log; the
    /// client is told only that it was logged.
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Transient(err) => ServiceError::Busy(err.to_string()),
            StoreError::Unavailable(why) => {
                ServiceError::Unavailable(format!("the database is unavailable: {why}"))
            }
            StoreError::StorageFull(why) => ServiceError::StorageFull(why),
            other => ServiceError::Internal(anyhow::Error::new(other)),
        }
    }
}

impl ServiceError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ServiceError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ServiceError::NotFound(message.into())
    }

    /// For `map_err`: a thing named in the request body that does not
    /// exist is the body's fault (422 naming `field`), not a missing page.
    pub fn not_found_is_invalid(field: &'static str) -> impl FnOnce(ServiceError) -> ServiceError {
        move |e| match e {
            ServiceError::NotFound(m) => ServiceError::invalid(field, m),
            other => other,
        }
    }

    /// Something broke on our side; `what` says what, for the log.
    pub fn internal(what: impl fmt::Display) -> Self {
        ServiceError::Internal(anyhow::anyhow!("{what}"))
    }

    /// An internal failure with its cause kept (for `map_err`).
    pub fn internal_from<E>(context: &'static str) -> impl FnOnce(E) -> ServiceError
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        move |e| ServiceError::Internal(anyhow::Error::new(e).context(context))
    }

    /// A value read from the database that does not decode (a currency,
    /// a time zone, a status no version ever wrote): corruption or a bad
    /// manual edit, never the client's fault.
    pub fn corrupt(what: impl fmt::Display) -> Self {
        ServiceError::Internal(anyhow::anyhow!("a stored value does not decode: {what}"))
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        ServiceError::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn refused(code: &'static str, message: impl Into<String>) -> Self {
        ServiceError::Refused {
            code,
            message: message.into(),
            extra: Map::new(),
        }
    }

    /// Adds a field to the error body (e.g. `available_spots`).
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        if let ServiceError::Refused { extra, .. } = &mut self {
            extra.insert(key.to_owned(), value.into());
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use tourdesk_store::users::{self, NewUser};
    use tourdesk_store::{Db, constraint};

    use super::ServiceError;

    /// A unique violation carries the constraint's name on both engines
    /// (SQLite reports columns; the store names them as PostgreSQL does),
    /// so the service matches names, never messages.
    async fn unique_violations_are_named_alike(db: Db) {
        let user = NewUser {
            email: "Ada@example.com",
            email_lower: "ada@example.com",
            name: "Ada",
            phone: None,
            role: "customer",
            password_hash: "x",
        };
        let mut tx = db.begin().await.expect("begin");
        users::insert_user(&mut tx, &user, Utc::now())
            .await
            .expect("the first account");
        let err = users::insert_user(&mut tx, &user, Utc::now())
            .await
            .expect_err("the same email again");
        assert!(err.is_unique(constraint::USER_EMAIL), "{err:?}");
        assert!(!err.is_unique("email"), "a name, not a substring: {err:?}");
        drop(tx);
        // Anything else internal keeps its cause for the log.
        let internal = ServiceError::from(err);
        assert!(
            matches!(&internal, ServiceError::Internal(e) if e.to_string().contains(constraint::USER_EMAIL)),
            "{internal:?}"
        );
    }

    #[tokio::test]
    async fn unique_violations_are_named_alike_sqlite() {
        let t = crate::testdb::sqlite().await;
        unique_violations_are_named_alike(t.db.clone()).await;
        t.finish().await;
    }

    #[tokio::test]
    async fn unique_violations_are_named_alike_postgres() {
        let Some(t) = crate::testdb::postgres().await else {
            return;
        };
        unique_violations_are_named_alike(t.db.clone()).await;
        t.finish().await;
    }

    #[test]
    fn internal_errors_keep_their_cause() {
        let e = ServiceError::corrupt("tour 7: unknown currency `XXX`");
        assert_eq!(
            e.to_string(),
            "internal error: a stored value does not decode: tour 7: unknown currency `XXX`"
        );
        let nf = ServiceError::not_found("no such tour");
        let mapped = ServiceError::not_found_is_invalid("tour_id")(nf);
        assert!(
            matches!(&mapped, ServiceError::Invalid { field, .. } if field == "tour_id"),
            "{mapped:?}"
        );
    }
}
