//! The store's one error type. Constraint violations are classified so the
//! service layer can turn them into client errors without parsing messages.

use sqlx::error::ErrorKind;

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A UNIQUE constraint refused the write; carries the constraint or
    /// index name when the engine reports it (PostgreSQL does, SQLite
    /// reports the columns in the message instead).
    #[error("unique constraint violated: {0}")]
    Unique(String),
    /// A CHECK constraint refused the write (for example slot capacity).
    #[error("check constraint violated: {0}")]
    Check(String),
    /// A foreign key pointed at a missing row.
    #[error("foreign key violated: {0}")]
    ForeignKey(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Config(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        if let Some(db) = err.as_database_error() {
            let what = db
                .constraint()
                .map(str::to_owned)
                .unwrap_or_else(|| db.message().to_owned());
            match db.kind() {
                ErrorKind::UniqueViolation => return StoreError::Unique(what),
                ErrorKind::CheckViolation => return StoreError::Check(what),
                ErrorKind::ForeignKeyViolation => return StoreError::ForeignKey(what),
                _ => {}
            }
        }
        StoreError::Database(err)
    }
}

impl StoreError {
    /// True when a unique constraint whose name or message mentions `needle`
    /// refused the write.
    pub fn is_unique(&self, needle: &str) -> bool {
        matches!(self, StoreError::Unique(what) if what.contains(needle))
    }
}
