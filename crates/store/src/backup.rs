//! Backups of the SQLite database: a consistent copy taken while the server
//! runs, and the check that a file is a usable Tourdesk database. These
//! statements are SQLite's own (`VACUUM INTO`, `PRAGMA integrity_check`)
//! and run on connections of their own, outside the server's pools.
//! PostgreSQL has `pg_dump` / `pg_restore` for this (see the README).
//!
//! Every error is one line naming the file.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};

/// Why a backup or a check failed, as one line for a person.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BackupError(String);

impl BackupError {
    fn new(message: impl std::fmt::Display) -> Self {
        // One line, whatever the driver put in its message.
        BackupError(message.to_string().replace(['\r', '\n'], " "))
    }
}

/// What a verified database file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The newest migration applied to it.
    pub schema_version: i64,
    /// How many bookings it holds.
    pub bookings: i64,
}

/// The file a `sqlite://` DATABASE_URL names.
pub fn sqlite_path(url: &str) -> Result<PathBuf, BackupError> {
    let opts = SqliteConnectOptions::from_str(url)
        .map_err(|e| BackupError::new(format!("DATABASE_URL: {e}")))?;
    let file = opts.get_filename().to_path_buf();
    if file.as_os_str().is_empty() || file == Path::new(":memory:") {
        return Err(BackupError::new(
            "DATABASE_URL: an in-memory SQLite database has no file to back up",
        ));
    }
    Ok(file)
}

fn options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(30))
}

/// Writes a consistent copy of the database at `source` to `dest` (which
/// must not exist) with `VACUUM INTO`, on a connection of its own: it reads
/// one snapshot, so writers carry on (WAL) and the copy holds exactly the
/// transactions committed before it started. The copy is a single file in
/// rollback-journal mode; it is not synced to disk here.
pub async fn vacuum_into(source: &Path, dest: &Path) -> Result<(), BackupError> {
    let mut conn = SqliteConnection::connect_with(&options(source))
        .await
        .map_err(|e| BackupError::new(format!("cannot open {}: {e}", source.display())))?;
    let target = dest.to_string_lossy().into_owned();
    let done = sqlx::query("VACUUM INTO $1")
        .bind(target)
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
    done.map(|_| ()).map_err(|e| {
        BackupError::new(format!(
            "cannot copy {} to {}: {e}",
            source.display(),
            dest.display()
        ))
    })
}

/// Checks that `path` is a sound Tourdesk database: `PRAGMA integrity_check`
/// answers `ok`, the migrations table lists only successful migrations this
/// build knows, and the bookings can be counted. Opens the file read-write
/// (a WAL-mode file cannot always be opened read-only), so call it on a
/// copy the caller owns; it never creates a file.
/// The error says what is wrong, not which file (the caller knows).
pub async fn verify(path: &Path) -> Result<Verified, BackupError> {
    let mut conn = SqliteConnection::connect_with(&options(path))
        .await
        .map_err(|e| BackupError::new(format!("cannot open it: {e}")))?;
    let result = check(&mut conn).await;
    let _ = conn.close().await;
    result.map_err(BackupError::new)
}

async fn check(conn: &mut SqliteConnection) -> Result<Verified, String> {
    let report: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| format!("not a sound SQLite database ({e})"))?;
    if report.len() != 1 || report[0] != "ok" {
        let first = report.first().map(String::as_str).unwrap_or("no answer");
        return Err(format!("the integrity check failed: {first}"));
    }
    let migrations: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| format!("not a Tourdesk database: no migrations table ({e})"))?;
    let Some((newest, _)) = migrations.last().copied() else {
        return Err("not a Tourdesk database: no migration was ever applied".into());
    };
    if let Some((version, _)) = migrations.iter().find(|(_, ok)| !ok) {
        return Err(format!("migration {version} did not complete"));
    }
    let known = crate::migrate::latest_version();
    if newest > known {
        return Err(format!(
            "its schema (version {newest}) is newer than this tourdesk knows (version {known}); use a newer tourdesk"
        ));
    }
    let bookings: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM bookings")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| format!("cannot count its bookings: {e}"))?;
    Ok(Verified {
        schema_version: newest,
        bookings,
    })
}
