//! Connection management for both engines.
//!
//! SQLite: one writer connection (writes queue fairly inside the process and
//! each takes the write lock up front with `BEGIN IMMEDIATE`, so nothing
//! fails with "database is locked"), plus a pool of read-only connections;
//! WAL, `busy_timeout`, `foreign_keys=ON`, `synchronous=FULL` by default.
//! PostgreSQL: one pool, READ COMMITTED transactions.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{
    Connection, Executor, PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool,
    Transaction,
};

use crate::error::{StoreError, StoreResult};
use crate::migrate::migrator;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The engine a `DATABASE_URL` names, or an error naming the scheme.
    pub fn from_url(url: &str) -> StoreResult<Backend> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            _ => Err(StoreError::Config(format!(
                "DATABASE_URL: unknown scheme `{scheme}` (expected sqlite:// or postgres://)"
            ))),
        }
    }
}

#[derive(Debug, Clone)]
pub struct DbOptions {
    pub url: String,
    /// Pool size (PostgreSQL), or the number of reader connections (SQLite).
    pub max_connections: u32,
    /// SQLite `synchronous=FULL` (true) or `NORMAL` (false).
    pub sqlite_synchronous_full: bool,
    /// How long a request may wait for a connection before failing.
    pub acquire_timeout: Duration,
}

impl DbOptions {
    pub fn new(url: impl Into<String>) -> Self {
        DbOptions {
            url: url.into(),
            max_connections: 10,
            sqlite_synchronous_full: true,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Clone)]
enum Pools {
    Sqlite {
        writer: SqlitePool,
        readers: SqlitePool,
    },
    Postgres(PgPool),
}

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Db {
    pools: Pools,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Db({:?})", self.backend())
    }
}

impl Db {
    /// Connects, creating the SQLite file and its folder when missing.
    /// Does not migrate; call [`Db::migrate`].
    pub async fn connect(opts: &DbOptions) -> StoreResult<Db> {
        match Backend::from_url(&opts.url)? {
            Backend::Sqlite => Self::connect_sqlite(opts).await,
            Backend::Postgres => Self::connect_postgres(opts).await,
        }
    }

    async fn connect_sqlite(opts: &DbOptions) -> StoreResult<Db> {
        let base = SqliteConnectOptions::from_str(&opts.url)
            .map_err(|e| StoreError::Config(format!("DATABASE_URL: {e}")))?;
        let file = base.get_filename().to_path_buf();
        if file.as_os_str().is_empty() || file == Path::new(":memory:") {
            return Err(StoreError::Config(
                "DATABASE_URL: an in-memory SQLite database is not supported; name a file".into(),
            ));
        }
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Config(format!(
                    "DATABASE_URL: cannot create the data folder {}: {e}",
                    dir.display()
                ))
            })?;
        }
        let base = base
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if opts.sqlite_synchronous_full {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-4000");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(opts.acquire_timeout.max(Duration::from_secs(30)))
            .connect_with(base.clone().create_if_missing(true))
            .await
            .map_err(|e| open_error(&opts.url, e))?;
        let readers = SqlitePoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(opts.acquire_timeout)
            .connect_lazy_with(base.read_only(true));
        Ok(Db {
            pools: Pools::Sqlite { writer, readers },
        })
    }

    async fn connect_postgres(opts: &DbOptions) -> StoreResult<Db> {
        let connect = PgConnectOptions::from_str(&opts.url)
            .map_err(|e| StoreError::Config(format!("DATABASE_URL: {e}")))?;
        // One direct connection first: the pool would hide the cause
        // ("connection refused", "database does not exist") behind a timeout.
        let first =
            tokio::time::timeout(opts.acquire_timeout, PgConnection::connect_with(&connect))
                .await
                .map_err(|_| {
                    StoreError::Config(format!(
                        "DATABASE_URL: {} did not answer within {:?}",
                        redact_url(&opts.url),
                        opts.acquire_timeout
                    ))
                })?
                .map_err(|e| open_error(&opts.url, e))?;
        first.close().await.map_err(|e| open_error(&opts.url, e))?;
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(|e| open_error(&opts.url, e))?;
        Ok(Db {
            pools: Pools::Postgres(pool),
        })
    }

    pub fn backend(&self) -> Backend {
        match self.pools {
            Pools::Sqlite { .. } => Backend::Sqlite,
            Pools::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies every pending migration; a no-op when all are applied.
    pub async fn migrate(&self) -> StoreResult<()> {
        let migrator = migrator(self.backend());
        match &self.pools {
            Pools::Sqlite { writer, .. } => migrator.run(writer).await?,
            Pools::Postgres(pool) => migrator.run(pool).await?,
        }
        Ok(())
    }

    /// Starts a write transaction. On SQLite it holds the write lock from
    /// the first statement (`BEGIN IMMEDIATE`).
    pub async fn begin(&self) -> StoreResult<Tx> {
        Ok(match &self.pools {
            Pools::Sqlite { writer, .. } => Tx::Sqlite(writer.begin_with("BEGIN IMMEDIATE").await?),
            Pools::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// A connection for reads outside any transaction: each statement sees
    /// the latest committed data.
    pub async fn read(&self) -> StoreResult<Tx> {
        Ok(match &self.pools {
            Pools::Sqlite { readers, .. } => Tx::SqliteConn(readers.acquire().await?),
            Pools::Postgres(pool) => Tx::PostgresConn(pool.acquire().await?),
        })
    }

    /// Answers when the database is reachable and responding.
    pub async fn ping(&self) -> StoreResult<()> {
        let mut conn = self.read().await?;
        crate::on!(conn, c => c.execute("SELECT 1").await.map(|_| ()))?;
        Ok(())
    }

    pub async fn close(&self) {
        match &self.pools {
            Pools::Sqlite { writer, readers } => {
                readers.close().await;
                writer.close().await;
            }
            Pools::Postgres(pool) => pool.close().await,
        }
    }
}

fn open_error(url: &str, err: sqlx::Error) -> StoreError {
    StoreError::Config(format!(
        "DATABASE_URL: cannot open {}: {err}",
        redact_url(url)
    ))
}

/// The URL with any password replaced, safe to print.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// A unit of work: a write transaction, or a plain connection for reads.
pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
    SqliteConn(PoolConnection<Sqlite>),
    PostgresConn(PoolConnection<Postgres>),
}

/// The engine's concrete connection, borrowed from a [`Tx`].
pub enum ConnRef<'a> {
    Sqlite(&'a mut SqliteConnection),
    Postgres(&'a mut PgConnection),
}

impl Tx {
    pub fn conn(&mut self) -> ConnRef<'_> {
        match self {
            Tx::Sqlite(t) => ConnRef::Sqlite(t),
            Tx::Postgres(t) => ConnRef::Postgres(t),
            Tx::SqliteConn(c) => ConnRef::Sqlite(c),
            Tx::PostgresConn(c) => ConnRef::Postgres(c),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(_) | Tx::SqliteConn(_) => Backend::Sqlite,
            Tx::Postgres(_) | Tx::PostgresConn(_) => Backend::Postgres,
        }
    }

    /// Rolls a transaction back (a dry run); a plain connection simply goes
    /// back to its pool.
    pub async fn rollback(self) -> StoreResult<()> {
        match self {
            Tx::Sqlite(t) => t.rollback().await?,
            Tx::Postgres(t) => t.rollback().await?,
            Tx::SqliteConn(_) | Tx::PostgresConn(_) => {}
        }
        Ok(())
    }

    /// Commits a transaction; a plain connection simply goes back to its pool.
    pub async fn commit(self) -> StoreResult<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
            Tx::SqliteConn(_) | Tx::PostgresConn(_) => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_decides_the_backend() {
        assert_eq!(
            Backend::from_url("sqlite://data/x.db").ok(),
            Some(Backend::Sqlite)
        );
        assert_eq!(
            Backend::from_url("postgres://u@h/db").ok(),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::from_url("postgresql://u@h/db").ok(),
            Some(Backend::Postgres)
        );
        let err = Backend::from_url("mysql://u@h/db")
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("mysql")));
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://data/x.db"), "sqlite://data/x.db");
    }
}
