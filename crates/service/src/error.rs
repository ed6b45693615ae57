//! What a use case can answer besides success. The HTTP edge maps each kind
//! to one status code; the kinds carry machine codes and sentences for people.

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
    /// Something broke that the client cannot fix (HTTP 500).
    #[error("internal error: {0}")]
    Internal(StoreError),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Transient(err) => ServiceError::Busy(err.to_string()),
            StoreError::Unavailable(why) => {
                ServiceError::Unavailable(format!("the database is unavailable: {why}"))
            }
            StoreError::StorageFull(why) => ServiceError::StorageFull(why),
            other => ServiceError::Internal(other),
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
