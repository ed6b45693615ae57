//! Connection management for both engines.
//!
//! SQLite: one writer connection (writes queue fairly inside the process and
//! each takes the write lock up front with `BEGIN IMMEDIATE`, so nothing
//! fails with "database is locked"), plus a pool of read-only connections;
//! WAL, `busy_timeout`, `foreign_keys=ON`, `synchronous=FULL` by default.
//! PostgreSQL: one pool, READ COMMITTED transactions.
//!
//! What production does to a database file is handled here:
//! - a missing SQLite file is created only when asked ([`DbOptions::create`]);
//!   a configured database that has vanished is refused, never silently
//!   replaced by an empty one;
//! - before anything else, the data folder and file are checked writable,
//!   so a read-only file or mount is named at start, not at the first booking;
//! - the writer connection is handed back only in autocommit mode: a
//!   transaction that could not be rolled back (SQLite rolls back by itself on
//!   a full disk, and the driver's own ROLLBACK then fails) costs the
//!   connection, which the pool replaces, instead of wedging every later write;
//! - the file's identity (device, inode) is checked before every commit, so
//!   a database deleted or replaced under the running server refuses writes
//!   (503) instead of acknowledging what a restart would lose;
//! - [`Db::check_writable`] commits a one-row write: readiness means a write
//!   can succeed now (disk not full, not read-only, writer not stuck).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
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
    /// Create the SQLite file (and its folder) when missing. Off by default:
    /// a configured database that is not there is an error, not a new start.
    pub create: bool,
}

impl DbOptions {
    pub fn new(url: impl Into<String>) -> Self {
        DbOptions {
            url: url.into(),
            max_connections: 10,
            sqlite_synchronous_full: true,
            acquire_timeout: Duration::from_secs(10),
            create: false,
        }
    }
}

#[derive(Clone)]
enum Pools {
    Sqlite {
        writer: SqlitePool,
        readers: SqlitePool,
        file: Arc<SqliteFile>,
    },
    Postgres(PgPool),
}

/// The SQLite database file as it was when the server opened it (opaque).
#[derive(Debug)]
pub struct SqliteFile {
    path: PathBuf,
    /// (device, inode): a file deleted or replaced gets a different one.
    identity: (u64, u64),
}

impl SqliteFile {
    fn identity_of(path: &Path) -> std::io::Result<(u64, u64)> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path)?;
        Ok((meta.dev(), meta.ino()))
    }

    /// Fails when the file at the path is no longer the one opened.
    fn check(&self) -> StoreResult<()> {
        match Self::identity_of(&self.path) {
            Ok(id) if id == self.identity => Ok(()),
            Ok(_) => Err(StoreError::Unavailable(format!(
                "the database file {} was replaced while the server ran; restart it to use the new file",
                self.path.display()
            ))),
            Err(e) => Err(StoreError::Unavailable(format!(
                "the database file {} is gone ({e}); it was deleted or moved while the server ran",
                self.path.display()
            ))),
        }
    }
}

/// A pool's connections at one moment.
#[derive(Debug, Clone, Copy)]
pub struct PoolStats {
    pub name: &'static str,
    /// Open connections (in use or idle).
    pub size: u32,
    pub idle: u32,
}

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Db {
    pools: Pools,
    created: bool,
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
        let path = base.get_filename().to_path_buf();
        if path.as_os_str().is_empty() || path == Path::new(":memory:") {
            return Err(StoreError::Config(
                "DATABASE_URL: an in-memory SQLite database is not supported; name a file".into(),
            ));
        }
        let created = prepare_sqlite_file(&path, opts)?;
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
            .pragma("cache_size", "-4000")
            // Never again: a replacement connection must not conjure up an
            // empty database where the real one vanished.
            .create_if_missing(false);
        if created {
            let first = SqliteConnection::connect_with(&base.clone().create_if_missing(true))
                .await
                .map_err(|e| open_error(&opts.url, e))?;
            first.close().await.map_err(|e| open_error(&opts.url, e))?;
        }
        let identity = SqliteFile::identity_of(&path).map_err(|e| {
            StoreError::Config(format!("DATABASE_URL: cannot read {}: {e}", path.display()))
        })?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(opts.acquire_timeout.max(Duration::from_secs(30)))
            .after_release(|conn, _| {
                Box::pin(async move {
                    // A dropped transaction's ROLLBACK is queued on the
                    // connection; the ping runs after it. If it failed, the
                    // driver still counts a transaction open and would refuse
                    // every later BEGIN: drop the connection instead.
                    conn.ping().await?;
                    let clean = !conn.is_in_transaction();
                    if !clean {
                        tracing::warn!(
                            "the SQLite writer connection was left inside a transaction; replacing it"
                        );
                    }
                    Ok(clean)
                })
            })
            .connect_with(base.clone())
            .await
            .map_err(|e| open_error(&opts.url, e))?;
        let readers = SqlitePoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(opts.acquire_timeout)
            .connect_lazy_with(base.read_only(true));
        Ok(Db {
            pools: Pools::Sqlite {
                writer,
                readers,
                file: Arc::new(SqliteFile { path, identity }),
            },
            created,
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
            created: false,
        })
    }

    /// True when this start created the SQLite database file.
    pub fn created(&self) -> bool {
        self.created
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
        let started = std::time::Instant::now();
        let (pool, tx) = match &self.pools {
            Pools::Sqlite { writer, file, .. } => {
                file.check()?;
                let tx = Tx::Sqlite(writer.begin_with("BEGIN IMMEDIATE").await?, file.clone());
                ("writer", tx)
            }
            Pools::Postgres(pool) => ("postgres", Tx::Postgres(pool.begin().await?)),
        };
        metrics::histogram!("db_pool_acquire_seconds", "pool" => pool)
            .record(started.elapsed().as_secs_f64());
        Ok(tx)
    }

    /// A connection for reads outside any transaction: each statement sees
    /// the latest committed data.
    pub async fn read(&self) -> StoreResult<Tx> {
        let started = std::time::Instant::now();
        let (pool, tx) = match &self.pools {
            Pools::Sqlite { readers, .. } => ("readers", Tx::SqliteConn(readers.acquire().await?)),
            Pools::Postgres(pool) => ("postgres", Tx::PostgresConn(pool.acquire().await?)),
        };
        metrics::histogram!("db_pool_acquire_seconds", "pool" => pool)
            .record(started.elapsed().as_secs_f64());
        Ok(tx)
    }

    /// Each pool's open and idle connections, for the metrics.
    pub fn pool_stats(&self) -> Vec<PoolStats> {
        match &self.pools {
            Pools::Sqlite {
                writer, readers, ..
            } => vec![
                PoolStats {
                    name: "writer",
                    size: writer.size(),
                    idle: writer.num_idle() as u32,
                },
                PoolStats {
                    name: "readers",
                    size: readers.size(),
                    idle: readers.num_idle() as u32,
                },
            ],
            Pools::Postgres(pool) => vec![PoolStats {
                name: "postgres",
                size: pool.size(),
                idle: pool.num_idle() as u32,
            }],
        }
    }

    /// Answers when the database is reachable and responding.
    pub async fn ping(&self) -> StoreResult<()> {
        let mut conn = self.read().await?;
        crate::on!(conn, c => c.execute("SELECT 1").await.map(|_| ()))?;
        Ok(())
    }

    /// Proves a write can succeed now by committing one: a one-row update
    /// of `health_probe`. Fails with the reason when the disk is full, the
    /// database is read-only, deleted or replaced, or the writer is stuck.
    pub async fn check_writable(&self) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let at = chrono::Utc::now().to_rfc3339();
        crate::on!(tx, c => sqlx::query("UPDATE health_probe SET checked_at = $1 WHERE id = 1")
            .bind(&at)
            .execute(&mut *c)
            .await
            .map(|_| ()))?;
        tx.commit().await
    }

    pub async fn close(&self) {
        match &self.pools {
            Pools::Sqlite {
                writer, readers, ..
            } => {
                readers.close().await;
                writer.close().await;
            }
            Pools::Postgres(pool) => pool.close().await,
        }
    }
}

/// Checks the SQLite file can be used before any connection opens it:
/// present (or created when asked), in a folder and a file that can be
/// written. Returns whether the file is new.
fn prepare_sqlite_file(path: &Path, opts: &DbOptions) -> StoreResult<bool> {
    let shown = path.display();
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let exists = match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => true,
        Ok(_) => {
            return Err(StoreError::Config(format!(
                "DATABASE_URL: {shown} is not a file"
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => {
            return Err(StoreError::Config(format!(
                "DATABASE_URL: cannot read {shown}: {e}"
            )));
        }
    };
    if !exists {
        if !opts.create {
            return Err(StoreError::Config(format!(
                "DATABASE_URL: the database {shown} does not exist; if it was moved or deleted, \
                 restore it (see `tourdesk restore`); to start a new, empty one, run with --create"
            )));
        }
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Config(format!(
                "DATABASE_URL: cannot create the data folder {}: {}",
                dir.display(),
                describe_io(&e)
            ))
        })?;
    }
    // SQLite writes its journal beside the file, so the folder must take
    // new files too.
    let probe = dir.join(format!(".tourdesk-write-check-{}", std::process::id()));
    std::fs::File::create(&probe)
        .and_then(|_| std::fs::remove_file(&probe))
        .map_err(|e| {
            StoreError::Config(format!(
                "DATABASE_URL: the data folder {} cannot be written: {}",
                dir.display(),
                describe_io(&e)
            ))
        })?;
    if exists {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| {
                StoreError::Config(format!(
                    "DATABASE_URL: the database file {shown} cannot be written: {}",
                    describe_io(&e)
                ))
            })?;
    }
    Ok(!exists)
}

/// An I/O error as an operator reads it: "read-only" said plainly.
fn describe_io(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ReadOnlyFilesystem => format!("it is on a read-only file system ({e})"),
        std::io::ErrorKind::PermissionDenied => {
            format!("it is read-only for this user ({e})")
        }
        _ => e.to_string(),
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
    Sqlite(Transaction<'static, Sqlite>, Arc<SqliteFile>),
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
            Tx::Sqlite(t, _) => ConnRef::Sqlite(t),
            Tx::Postgres(t) => ConnRef::Postgres(t),
            Tx::SqliteConn(c) => ConnRef::Sqlite(c),
            Tx::PostgresConn(c) => ConnRef::Postgres(c),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(..) | Tx::SqliteConn(_) => Backend::Sqlite,
            Tx::Postgres(_) | Tx::PostgresConn(_) => Backend::Postgres,
        }
    }

    /// Rolls a transaction back (a dry run); a plain connection simply goes
    /// back to its pool.
    pub async fn rollback(self) -> StoreResult<()> {
        match self {
            Tx::Sqlite(t, _) => t.rollback().await?,
            Tx::Postgres(t) => t.rollback().await?,
            Tx::SqliteConn(_) | Tx::PostgresConn(_) => {}
        }
        Ok(())
    }

    /// Commits a transaction; a plain connection simply goes back to its pool.
    /// A SQLite transaction whose file was deleted or replaced meanwhile is
    /// rolled back instead: its writes would be lost at the next start.
    pub async fn commit(self) -> StoreResult<()> {
        match self {
            Tx::Sqlite(t, file) => {
                if let Err(e) = file.check() {
                    let _ = t.rollback().await;
                    return Err(e);
                }
                t.commit().await?
            }
            Tx::Postgres(t) => t.commit().await?,
            Tx::SqliteConn(_) | Tx::PostgresConn(_) => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_sqlite() -> (PathBuf, DbOptions) {
        let dir = std::env::temp_dir().join(format!("tourdesk-db-{:016x}", rand_u64()));
        let mut opts = DbOptions::new(format!("sqlite://{}/t.db", dir.display()));
        opts.create = true;
        (dir, opts)
    }

    fn rand_u64() -> u64 {
        use std::hash::BuildHasher;
        std::collections::hash_map::RandomState::new().hash_one(std::process::id())
    }

    /// What a full disk does: SQLite rolls the transaction back by itself,
    /// the driver's own ROLLBACK then fails. The writer must not stay
    /// "inside a transaction" (every later BEGIN refused) until a restart.
    #[tokio::test]
    async fn the_writer_recovers_from_a_transaction_sqlite_ended_itself() {
        let (dir, opts) = temp_sqlite();
        let db = Db::connect(&opts).await.expect("connect");
        db.migrate().await.expect("migrate");
        for _ in 0..3 {
            let mut tx = db.begin().await.expect("begin");
            crate::on!(tx, c => c.execute("ROLLBACK").await.map(|_| ()))
                .expect("end it behind sqlx's back");
            assert!(
                tx.commit().await.is_err(),
                "COMMIT without a transaction fails"
            );
            db.check_writable()
                .await
                .expect("the next write succeeds on a fresh writer");
        }
        db.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_missing_database_is_created_only_when_asked() {
        let (dir, mut opts) = temp_sqlite();
        opts.create = false;
        let err = Db::connect(&opts).await.err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("DATABASE_URL") && e.contains("--create")),
            "{err:?}"
        );
        assert!(!dir.exists(), "nothing was created");
        opts.create = true;
        let db = Db::connect(&opts).await.expect("create");
        assert!(db.created());
        db.close().await;
        opts.create = false;
        let db = Db::connect(&opts).await.expect("reopen");
        assert!(!db.created());
        db.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }

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
