//! SQLite's write-ahead log, copied into the database file by a task of
//! its own.
//!
//! Left to itself, SQLite checkpoints on the connection that commits: the
//! commit that takes the log past 1,000 pages also copies them into the
//! database file and waits for that file's fsync. On the one writer every
//! write queues for, that stalled every ~10th group-committed batch (a
//! checkpoint of random pages is several times a commit). So the writer
//! never checkpoints (`wal_autocheckpoint=0`), and this task does, on a
//! connection of its own, every [`CHECKPOINT_EVERY`]: a `PASSIVE`
//! checkpoint copies what no reader still needs and takes no lock a writer
//! or reader waits for. The writer's next transaction starts the log
//! again once all of it is in the file, as it would after its own
//! checkpoint, and `journal_size_limit` then trims the file.
//!
//! Should readers keep the log from starting over for long (it is past
//! [`RESTART_FRAMES`]), a `RESTART` checkpoint waits for them (holding new
//! writes back meanwhile) so the log cannot grow without bound. The log's
//! length is the `sqlite_wal_frames` gauge.

use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection as _, SqliteConnection};
use tokio::sync::watch;

/// How often the log is copied into the database file.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// A log this long (pages of 4 KiB: 80 MiB) is started over even if that
/// means waiting for readers.
pub const RESTART_FRAMES: i64 = 20_000;

/// The largest log file left on disk once the log starts over (bytes).
pub const JOURNAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// The running checkpointer; it stops when [`Checkpointer::stop`] is called
/// or when this handle (held by every clone of the `Db`) is dropped.
pub(crate) struct Checkpointer {
    stop: watch::Sender<bool>,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Checkpointer {
    /// Starts checkpointing the database `options` open (on the current
    /// Tokio runtime).
    pub(crate) fn start(options: SqliteConnectOptions) -> Checkpointer {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut conn: Option<SqliteConnection> = None;
            let mut failing = false;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(CHECKPOINT_EVERY) => {}
                    // Asked to stop, or every handle dropped.
                    _ = stopped.changed() => break,
                }
                match checkpoint(&mut conn, &options).await {
                    Ok(frames) => {
                        metrics::gauge!("sqlite_wal_frames").set(frames as f64);
                        if failing {
                            tracing::info!("SQLite checkpoints succeed again");
                            failing = false;
                        }
                    }
                    Err(e) => {
                        // Its state is unknown: the next round opens anew.
                        conn = None;
                        if !failing {
                            tracing::warn!(
                                error = %e,
                                "could not checkpoint SQLite's write-ahead log; retrying (writes still \
                                 commit, the log grows meanwhile)"
                            );
                            failing = true;
                        }
                    }
                }
            }
            // Closed here, before the writer and readers close, so the
            // last of them still checkpoints the whole log and removes it.
            if let Some(c) = conn {
                let _ = c.close().await;
            }
        });
        Checkpointer {
            stop,
            task: std::sync::Mutex::new(Some(task)),
        }
    }

    /// Stops the task and waits until its connection is closed.
    pub(crate) async fn stop(&self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// One round: `PASSIVE`, and `RESTART` when the log is still too long.
/// Returns the log's frames after it.
async fn checkpoint(
    conn: &mut Option<SqliteConnection>,
    options: &SqliteConnectOptions,
) -> Result<i64, sqlx::Error> {
    let c = match conn {
        Some(c) => c,
        None => conn.insert(SqliteConnection::connect_with(options).await?),
    };
    let (_, frames, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(&mut *c)
        .await?;
    if frames <= RESTART_FRAMES {
        return Ok(frames);
    }
    let (busy, after, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(RESTART)")
        .fetch_one(&mut *c)
        .await?;
    if busy != 0 {
        tracing::warn!(
            frames = after,
            "SQLite's write-ahead log is long and readers kept it from starting over"
        );
    }
    Ok(after)
}
