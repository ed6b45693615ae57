//! Has anything been committed since? A [`Token`] names the database's
//! committed state: two tokens are equal only if no transaction committed
//! a change between the moments they were read, whichever instance or
//! process committed it. A read cache tags what it read with the token
//! taken before reading, and serves it only to readers whose own token
//! (taken after they arrived) is equal: never a stale number, across any
//! number of instances (#19).
//!
//! - PostgreSQL: the token is `pg_current_snapshot()`. A transaction that
//!   committed in between was either running at the first read (listed in
//!   its in-progress set, absent from the second) or got its id later (the
//!   second's `xmax` is higher). Read-only transactions take no id, so a
//!   quiet database keeps its token; writes to other databases of the
//!   same server change it too (a needless miss, never a stale hit).
//! - SQLite: the token is `PRAGMA data_version` on one dedicated connection,
//!   which changes whenever any other connection (this server's writer,
//!   another process) commits. A replaced connection starts a new epoch,
//!   so tokens of the old one never match.
//!
//! Reading a token costs one round trip on a connection of its own, shared
//! by every reader waiting at that moment: a reader needs a read that was
//! *sent after it arrived*, so it waits for the next one to start and
//! finish, and all who arrived while one was in flight share the next
//! (like group commit, for reads).

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection, SqliteConnection};

use crate::{Db, StoreResult};

/// The committed state of the database at one moment, as [`Watch::token`]
/// read it. Equal tokens: nothing was committed in between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    epoch: u64,
    value: Arc<str>,
}

enum Conn {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

/// Reads [`Token`]s for many concurrent readers with as few round trips as
/// one in flight at a time allows. One per [`Db`].
#[derive(Default)]
pub struct Watch {
    /// The connection, and its epoch (bumped whenever it is replaced).
    conn: tokio::sync::Mutex<(Option<Conn>, u64)>,
    /// How many reads have been started (each takes the next number).
    started: AtomicU64,
    /// The latest finished read: its number and token.
    latest: Mutex<Option<(u64, Token)>>,
    /// When a read last failed: for [`RETRY_AFTER`] every caller fails at
    /// once (and reads the database its own way), rather than each in turn
    /// waiting for the connection to fail again.
    failed_at: Mutex<Option<Instant>>,
}

/// How long after a failed read tokens are not tried again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

impl Watch {
    /// A token read after this call began.
    pub async fn token(&self, db: &Db) -> StoreResult<Token> {
        // Any read numbered above `ticket` started after this point.
        let ticket = self.started.load(Ordering::SeqCst);
        if let Some(t) = self.finished_after(ticket) {
            return Ok(t);
        }
        self.not_failing()?;
        let mut guard = self.conn.lock().await;
        // One that started after we arrived may have finished while we
        // waited for the connection: share it.
        if let Some(t) = self.finished_after(ticket) {
            return Ok(t);
        }
        self.not_failing()?;
        let number = self.started.fetch_add(1, Ordering::SeqCst) + 1;
        let (conn, epoch) = &mut *guard;
        if conn.is_none() {
            match db.dedicated_reader().await {
                Ok(c) => *conn = Some(c),
                Err(e) => {
                    self.failed();
                    return Err(e);
                }
            }
            *epoch += 1;
        }
        let read = match conn.as_mut() {
            Some(Conn::Sqlite(c)) => sqlx::query_scalar::<_, i64>("PRAGMA data_version")
                .fetch_one(c)
                .await
                .map(|v| v.to_string()),
            Some(Conn::Postgres(c)) => {
                sqlx::query_scalar::<_, String>("SELECT CAST(pg_current_snapshot() AS TEXT)")
                    .fetch_one(c)
                    .await
            }
            None => Err(sqlx::Error::PoolClosed),
        };
        let value = match read {
            Ok(v) => v,
            Err(e) => {
                // A new connection (and epoch) next time.
                *conn = None;
                self.failed();
                return Err(e.into());
            }
        };
        let token = Token {
            epoch: *epoch,
            value: value.into(),
        };
        if let Ok(mut latest) = self.latest.lock()
            && latest.as_ref().is_none_or(|(n, _)| *n < number)
        {
            *latest = Some((number, token.clone()));
        }
        Ok(token)
    }

    /// Closes the connection (a later [`Watch::token`] opens another).
    pub(crate) async fn close(&self) {
        let conn = self.conn.lock().await.0.take();
        let _ = match conn {
            Some(Conn::Sqlite(c)) => c.close().await,
            Some(Conn::Postgres(c)) => c.close().await,
            None => Ok(()),
        };
    }

    fn failed(&self) {
        if let Ok(mut at) = self.failed_at.lock() {
            *at = Some(Instant::now());
        }
    }

    /// Fails at once within [`RETRY_AFTER`] of a failed read.
    fn not_failing(&self) -> StoreResult<()> {
        let recent = self
            .failed_at
            .lock()
            .map(|at| at.is_some_and(|t| t.elapsed() < RETRY_AFTER))
            .unwrap_or(true);
        if recent {
            return Err(crate::StoreError::Unavailable(
                "the change token could not be read a moment ago".into(),
            ));
        }
        Ok(())
    }

    fn finished_after(&self, ticket: u64) -> Option<Token> {
        let latest = self.latest.lock().ok()?;
        latest
            .as_ref()
            .filter(|(n, _)| *n > ticket)
            .map(|(_, t)| t.clone())
    }
}

impl Db {
    /// A read connection of the watch's own, outside the pools.
    async fn dedicated_reader(&self) -> StoreResult<Conn> {
        Ok(match self.read().await? {
            crate::Tx::SqliteConn(c) => Conn::Sqlite(c.detach()),
            crate::Tx::PostgresConn(c) => Conn::Postgres(c.detach()),
            // `read` hands out plain connections only.
            _ => return Err(sqlx::Error::PoolClosed.into()),
        })
    }

    /// A token naming what is committed now (see the module docs).
    pub async fn change_token(&self) -> StoreResult<Token> {
        self.watch().token(self).await
    }
}
