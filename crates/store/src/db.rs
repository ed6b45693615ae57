//! Connection management for both engines.
//!
//! SQLite: one writer connection, owned here (writes queue fairly on its
//! lock and each takes the write lock up front with `BEGIN IMMEDIATE`, so
//! nothing fails with "database is locked"), plus a pool of read-only
//! connections; WAL, `busy_timeout`, `foreign_keys=ON`, `synchronous=FULL`
//! by default. The writer never checkpoints the log: a task of its own does
//! (see [`crate::wal`]), so no write waits for a checkpoint. PostgreSQL: one
//! pool, READ COMMITTED transactions. Pooled
//! connections are pinged before use only after a quiet spell, not on every
//! request (a round trip each), and SQLite is compiled with the options in
//! `.cargo/config.toml` (checked at start-up).
//!
//! What production does to a database file is handled here:
//! - a missing SQLite file is created only when asked ([`DbOptions::create`]);
//!   a configured database that has vanished is refused, never silently
//!   replaced by an empty one;
//! - before anything else, the data folder and file are checked writable,
//!   so a read-only file or mount is named at start, not at the first booking;
//! - a writer transaction that could not be ended cleanly (SQLite rolls back
//!   by itself on a full disk, and the driver's own ROLLBACK then fails)
//!   costs the connection, which the next write replaces, instead of wedging
//!   every later write;
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
        writer: Arc<Writer>,
        readers: SqlitePool,
        file: Arc<SqliteFile>,
        checkpointer: Arc<crate::wal::Checkpointer>,
    },
    Postgres(PgPool),
}

/// The SQLite compile-time options the store relies on for speed (set in
/// `.cargo/config.toml`); see there for why each matters.
pub const SQLITE_REQUIRED_OPTIONS: [&str; 2] = ["ENABLE_QPSG", "DEFAULT_MEMSTATUS=0"];

async fn compile_options(conn: &mut SqliteConnection) -> StoreResult<Vec<String>> {
    let options: Vec<String> = sqlx::query_scalar("PRAGMA compile_options")
        .fetch_all(conn)
        .await?;
    Ok(options)
}

/// A binary built without the repository's cargo configuration still works,
/// but re-plans statements on every run: say so once, at start-up.
async fn warn_on_missing_sqlite_options(conn: &mut SqliteConnection) {
    match compile_options(conn).await {
        Ok(have) => {
            let missing: Vec<&str> = SQLITE_REQUIRED_OPTIONS
                .into_iter()
                .filter(|o| !have.iter().any(|h| h == o))
                .collect();
            if !missing.is_empty() {
                tracing::warn!(
                    ?missing,
                    "SQLite was compiled without options this server relies on for speed; \
                     build from the repository (its .cargo/config.toml sets LIBSQLITE3_FLAGS)"
                );
            }
        }
        Err(e) => tracing::warn!("could not read SQLite's compile options: {e}"),
    }
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

    /// Fails when the file system holding the database has less than
    /// [`MIN_FREE_BYTES`] left: a one-row write may still fit in pages
    /// SQLite already holds (the log is reused once checkpointed), while a
    /// booking that needs the file to grow is refused.
    fn check_space(&self) -> StoreResult<()> {
        let dir = folder_of(&self.path);
        // A file system that cannot say is not judged.
        let Ok(fs) = rustix::fs::statvfs(dir) else {
            return Ok(());
        };
        let free = fs.f_bavail.saturating_mul(fs.f_frsize);
        if free < MIN_FREE_BYTES {
            return Err(StoreError::StorageFull(format!(
                "the disk holding {} has {free} bytes free; the database needs room to grow",
                self.path.display()
            )));
        }
        Ok(())
    }
}

/// Below this much free space on its disk, SQLite is reported unable to
/// take writes (about a group-committed batch's worth of pages, twice).
pub const MIN_FREE_BYTES: u64 = 1024 * 1024;

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
    /// Reads change tokens ([`crate::changes`]).
    watch: Arc<crate::changes::Watch>,
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
        let writer = Writer {
            slot: Arc::new(tokio::sync::Mutex::new(None)),
            // The writer never checkpoints: `wal::Checkpointer` does, off
            // the path every write waits on.
            options: base.clone().pragma("wal_autocheckpoint", "0").pragma(
                "journal_size_limit",
                crate::wal::JOURNAL_SIZE_LIMIT.to_string(),
            ),
            url: opts.url.clone(),
            wait: opts.acquire_timeout.max(Duration::from_secs(30)),
        };
        // Opened now, so a file that cannot be used fails the start.
        let mut first = writer.connect().await?;
        warn_on_missing_sqlite_options(&mut first).await;
        *writer.slot.lock().await = Some(first);
        let readers = SqlitePoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(opts.acquire_timeout)
            .test_before_acquire(false)
            .before_acquire(ping_when_idle)
            // Readers keep half the writer's page cache: they are many (one
            // per connection, each with its own cache) and read pages the OS
            // already caches, so 4 MB each was most of the server's memory
            // under load (#19's RSS target).
            .connect_lazy_with(base.clone().read_only(true).pragma("cache_size", "-2000"));
        let checkpointer = Arc::new(crate::wal::Checkpointer::start(base.clone()));
        Ok(Db {
            pools: Pools::Sqlite {
                writer: Arc::new(writer),
                readers,
                file: Arc::new(SqliteFile { path, identity }),
                checkpointer,
            },
            created,
            watch: Arc::default(),
        })
    }

    /// The compile-time options of the SQLite this binary links (`PRAGMA
    /// compile_options`, without the `SQLITE_` prefix).
    pub async fn sqlite_compile_options(&self) -> StoreResult<Vec<String>> {
        match &self.pools {
            Pools::Sqlite { writer, .. } => {
                let mut slot = writer.lock().await?;
                let mut conn = writer.take(&mut slot).await?;
                let options = compile_options(&mut conn).await;
                *slot = Some(conn);
                options
            }
            Pools::Postgres(_) => Ok(Vec::new()),
        }
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
            .test_before_acquire(false)
            .before_acquire(ping_when_idle)
            .connect_with(connect)
            .await
            .map_err(|e| open_error(&opts.url, e))?;
        Ok(Db {
            pools: Pools::Postgres(pool),
            created: false,
            watch: Arc::default(),
        })
    }

    /// True when this start created the SQLite database file.
    pub(crate) fn watch(&self) -> &crate::changes::Watch {
        &self.watch
    }

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
            Pools::Sqlite { writer, .. } => {
                // The writer's connection, taken out of its slot for the run
                // (the lock stays held) and put back.
                let mut slot = writer.lock().await?;
                let mut conn = writer.take(&mut slot).await?;
                let ran = migrator.run_direct(None, &mut conn, false).await;
                *slot = Some(conn);
                ran?
            }
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
                ("writer", Tx::Sqlite(writer.begin().await?, file.clone()))
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
                writer.stats(),
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
    /// of `health_probe`. Fails with the reason when the disk is full (on
    /// SQLite also when less than [`MIN_FREE_BYTES`] are left for the file
    /// to grow), the database is read-only, deleted or replaced, or the
    /// writer is stuck.
    pub async fn check_writable(&self) -> StoreResult<()> {
        if let Pools::Sqlite { file, .. } = &self.pools {
            file.check_space()?;
        }
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
        self.watch.close().await;
        match &self.pools {
            Pools::Sqlite {
                writer,
                readers,
                checkpointer,
                ..
            } => {
                checkpointer.stop().await;
                readers.close().await;
                writer.close().await;
            }
            Pools::Postgres(pool) => pool.close().await,
        }
    }
}

/// The folder holding a database file (`.` for a bare file name).
fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Checks the SQLite file can be used before any connection opens it:
/// present (or created when asked), in a folder and a file that can be
/// written. Returns whether the file is new.
fn prepare_sqlite_file(path: &Path, opts: &DbOptions) -> StoreResult<bool> {
    let shown = path.display();
    let dir = folder_of(path);
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

/// Pooled connections are pinged before they are handed out only after a
/// quiet spell (one that may have outlived a database restart): under load
/// that check would be one more round trip on every request.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

#[allow(clippy::type_complexity)]
fn ping_when_idle<C: Connection>(
    conn: &mut C,
    meta: sqlx::pool::PoolConnectionMetadata,
) -> std::pin::Pin<Box<dyn Future<Output = Result<bool, sqlx::Error>> + Send + '_>> {
    Box::pin(async move {
        if meta.idle_for >= IDLE_BEFORE_PING {
            conn.ping().await?;
        }
        Ok(true)
    })
}

/// SQLite's one writer connection, owned here rather than by a pool of
/// one: writes queue on its lock in arrival order, and handing it from one
/// transaction to the next costs nothing (a pool pings a connection when it
/// is taken and again when it is given back, a round trip to the
/// connection's thread each, between every two write batches). A
/// connection whose state is in doubt (a COMMIT or ROLLBACK that failed, a
/// BEGIN refused) is dropped, which rolls back whatever it held, and the
/// next transaction opens a fresh one.
struct Writer {
    slot: Arc<tokio::sync::Mutex<Option<SqliteConnection>>>,
    options: SqliteConnectOptions,
    url: String,
    /// How long a write may wait for the writer before failing.
    wait: Duration,
}

type WriterSlot = tokio::sync::OwnedMutexGuard<Option<SqliteConnection>>;

impl Writer {
    async fn connect(&self) -> StoreResult<SqliteConnection> {
        SqliteConnection::connect_with(&self.options)
            .await
            .map_err(|e| open_error(&self.url, e))
    }

    /// The writer, waited for in arrival order (at most `wait`).
    async fn lock(&self) -> StoreResult<WriterSlot> {
        tokio::time::timeout(self.wait, Arc::clone(&self.slot).lock_owned())
            .await
            .map_err(|_| {
                StoreError::Unavailable(format!(
                    "the SQLite writer stayed busy for {:?}",
                    self.wait
                ))
            })
    }

    /// The slot's connection, taken out (opened first when there is none);
    /// the caller puts it back.
    async fn take(&self, slot: &mut WriterSlot) -> StoreResult<SqliteConnection> {
        match slot.take() {
            Some(conn) => Ok(conn),
            None => self.connect().await,
        }
    }

    /// `BEGIN IMMEDIATE` (the write lock up front). Refused on a connection
    /// left in doubt, it is tried once more on a fresh connection.
    async fn begin(&self) -> StoreResult<WriterTx> {
        let mut slot = self.lock().await?;
        let mut fresh = slot.is_none();
        loop {
            let mut conn = self.take(&mut slot).await?;
            match sqlx::query("BEGIN IMMEDIATE").execute(&mut conn).await {
                Ok(_) => {
                    *slot = Some(conn);
                    return Ok(WriterTx { slot: Some(slot) });
                }
                // Dropped: whatever it held is rolled back.
                Err(e) if fresh => return Err(e.into()),
                Err(e) => {
                    tracing::warn!(error = %e, "the SQLite writer refused BEGIN; replacing its connection");
                    fresh = true;
                }
            }
        }
    }

    fn stats(&self) -> PoolStats {
        match self.slot.try_lock() {
            Ok(slot) => PoolStats {
                name: "writer",
                size: u32::from(slot.is_some()),
                idle: u32::from(slot.is_some()),
            },
            Err(_) => PoolStats {
                name: "writer",
                size: 1,
                idle: 0,
            },
        }
    }

    async fn close(&self) {
        let conn = self.slot.lock().await.take();
        if let Some(conn) = conn {
            // On a task of its own: the driver's close future is not `Send`
            // for every lifetime, which a caller's spawned future needs.
            let _ = tokio::spawn(conn.close()).await;
        }
    }
}

/// A write transaction on SQLite's writer: holds the writer until it ends.
/// Dropped without [`Tx::commit`] or [`Tx::rollback`] (an error, a panic, a
/// cancelled request), it rolls back on a task of its own, still holding
/// the writer, so the next write starts clean.
pub struct WriterTx {
    slot: Option<WriterSlot>,
}

impl WriterTx {
    fn conn(&mut self) -> &mut SqliteConnection {
        match self.slot.as_deref_mut() {
            Some(Some(conn)) => conn,
            // Only `finish` and `drop` take the slot, and both consume the
            // transaction; `begin` never hands out an empty one.
            _ => unreachable!("a live WriterTx always holds the writer's connection"),
        }
    }

    /// Ends the transaction with `COMMIT` or `ROLLBACK`. If that fails, the
    /// connection's state is in doubt and it is dropped (rolling back what
    /// it still held).
    async fn finish(mut self, end: &'static str) -> StoreResult<()> {
        let Some(mut slot) = self.slot.take() else {
            return Ok(());
        };
        let Some(conn) = slot.as_mut() else {
            return Ok(());
        };
        match sqlx::query(end).execute(conn).await {
            Ok(_) => Ok(()),
            Err(e) => {
                if let Some(conn) = slot.take() {
                    let _ = conn.close_hard().await;
                }
                Err(e.into())
            }
        }
    }
}

impl Drop for WriterTx {
    fn drop(&mut self) {
        let Some(mut slot) = self.slot.take() else {
            return;
        };
        let rollback = async move {
            let failed = match slot.as_mut() {
                Some(conn) => sqlx::query("ROLLBACK").execute(conn).await.is_err(),
                None => false,
            };
            if failed {
                tracing::warn!("the SQLite writer could not roll back; replacing its connection");
                if let Some(conn) = slot.take() {
                    let _ = conn.close_hard().await;
                }
            }
        };
        // Without a runtime (the process is ending) nothing runs it; the
        // next `begin`, if any, finds the transaction open and replaces the
        // connection.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(rollback);
        }
    }
}

/// A unit of work: a write transaction, or a plain connection for reads.
pub enum Tx {
    Sqlite(WriterTx, Arc<SqliteFile>),
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
            Tx::Sqlite(t, _) => ConnRef::Sqlite(t.conn()),
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
            Tx::Sqlite(t, _) => t.finish("ROLLBACK").await?,
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
                    let _ = t.finish("ROLLBACK").await;
                    return Err(e);
                }
                t.finish("COMMIT").await?
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

    /// The bundled SQLite is compiled as `.cargo/config.toml` says: without
    /// the query planner stability guarantee every month view is parsed and
    /// planned again on each request.
    #[tokio::test]
    async fn sqlite_is_built_with_the_options_the_store_relies_on() {
        let (dir, opts) = temp_sqlite();
        let db = Db::connect(&opts).await.expect("connect");
        let have = db.sqlite_compile_options().await.expect("compile options");
        for want in SQLITE_REQUIRED_OPTIONS {
            assert!(
                have.iter().any(|h| h == want),
                "SQLite lacks {want}; it has {have:?}"
            );
        }
        db.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    /// The writer's commits never checkpoint (that would stall every write
    /// queued behind them); the checkpointer copies the log into the
    /// database file by itself, and the log then starts over instead of
    /// growing.
    #[tokio::test]
    async fn the_log_reaches_the_database_file_without_a_writer_checkpointing() {
        let (dir, opts) = temp_sqlite();
        let db = Db::connect(&opts).await.expect("connect");
        let path = dir.join("t.db");
        let wal = dir.join("t.db-wal");
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        // 4 MB a round: four times what SQLite's own commit would have
        // checkpointed at.
        const MB: u64 = 1_000_000;
        for round in 1..=5u64 {
            let mut tx = db.begin().await.expect("begin");
            let pages: i64 = crate::on!(tx, c => sqlx::query_scalar("PRAGMA wal_autocheckpoint")
                .fetch_one(&mut *c)
                .await)
            .expect("read wal_autocheckpoint");
            assert_eq!(
                pages, 0,
                "the writer leaves checkpoints to the checkpointer"
            );
            crate::on!(tx, c => c
                .execute("CREATE TABLE IF NOT EXISTS filler (b BLOB); \
                          WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) \
                          INSERT INTO filler SELECT randomblob(4000) FROM n")
                .await
                .map(|_| ()))
            .expect("fill");
            tx.commit().await.expect("commit");
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while size(&path) < round * 4 * MB {
                assert!(
                    std::time::Instant::now() < deadline,
                    "round {round}: the database file is {} bytes: the log was not checkpointed",
                    size(&path)
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // The file has its pages; let the checkpoint finish its round.
            tokio::time::sleep(3 * crate::wal::CHECKPOINT_EVERY).await;
        }
        // The log started over between rounds instead of growing: 20 MB
        // written in all, about 4 MB a round (a round whose next write came
        // before its checkpoint finished would make that 8).
        assert!(
            size(&wal) < 16 * MB,
            "the log grew to {} bytes over five checkpointed rounds",
            size(&wal)
        );
        // Closing stops the checkpointer first, so the last connection to
        // close still checkpoints the whole log and removes it: the file
        // alone is the database.
        db.close().await;
        assert!(!wal.exists(), "the log outlived Db::close");
        let _ = std::fs::remove_dir_all(dir);
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

    /// A write transaction dropped without COMMIT (an error, a panic, a
    /// cancelled request) is rolled back, and the writer is free for the
    /// next write; a transaction left open on the writer's connection
    /// behind the store's back costs that connection, not the next write.
    #[tokio::test]
    async fn a_dropped_write_transaction_rolls_back_and_frees_the_writer() {
        let (dir, opts) = temp_sqlite();
        let db = Db::connect(&opts).await.expect("connect");
        db.migrate().await.expect("migrate");
        let probe = "SELECT COALESCE(checked_at, '') FROM health_probe WHERE id = 1";
        {
            let mut tx = db.begin().await.expect("begin");
            crate::on!(tx, c => sqlx::query("UPDATE health_probe SET checked_at = 'dropped' WHERE id = 1")
                .execute(&mut *c)
                .await
                .map(|_| ()))
            .expect("write");
        }
        let mut tx = tokio::time::timeout(Duration::from_secs(5), db.begin())
            .await
            .expect("the writer is free again")
            .expect("begin");
        let seen: String =
            crate::on!(tx, c => sqlx::query_scalar(probe).fetch_one(&mut *c).await).expect("read");
        assert_ne!(
            seen, "dropped",
            "the dropped transaction's write was rolled back"
        );
        // Left inside a transaction behind the store's back: the next
        // BEGIN is refused on it, and retried on a fresh connection.
        crate::on!(tx, c => sqlx::query("BEGIN").execute(&mut *c).await.map(|_| ()))
            .expect_err("already inside the transaction");
        tx.commit().await.expect("commit");
        {
            let Pools::Sqlite { writer, .. } = &db.pools else {
                unreachable!("a SQLite database")
            };
            let mut slot = writer.lock().await.expect("lock");
            if let Some(conn) = slot.as_mut() {
                sqlx::query("BEGIN")
                    .execute(conn)
                    .await
                    .expect("open one and leave it");
            }
        }
        db.check_writable()
            .await
            .expect("the next write succeeds on a fresh connection");
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
