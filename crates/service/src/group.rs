//! Group commit (issue 19): concurrent booking creates share one
//! transaction and one commit flush, while each request still gets exactly
//! its own answer, and none before its writes are durable.
//!
//! Requests queue in a *lane*. On SQLite there is one lane (the single
//! writer takes every waiting request, whatever its departure); on
//! PostgreSQL one lane per departure, so a batch locks one departure row and
//! departures still commit in parallel. The first request into an idle lane
//! becomes its leader: a task that takes up to `max_batch` waiting requests
//! in arrival order, runs them one after the other in one transaction —
//! each inside its own savepoint, so a refused or failed request is undone
//! alone and the others keep theirs — commits once, and only then answers
//! every request of the batch. While a batch runs, the next one queues;
//! before it runs, a batch waits until its oldest request has waited
//! `delay` (default 1 ms; not at all when it is full), so requests that
//! arrive together share a flush. A batch that cannot commit answers every request with the
//! failure (503, retryable; nothing of it was written).
//!
//! Correctness never rests on the lanes: every request runs the same
//! conditional UPDATE, under the same locks, as it would alone, so several
//! instances (each with its own lanes) still share one truth in the
//! database. Idempotency keys, audit rows, outbox events and manage tokens
//! are written by the request's own work, exactly as for a single request.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tokio::sync::oneshot;
use tourdesk_store::{Backend, Tx};

use crate::{Context, ServiceError, ServiceResult};

/// One request's work, run on the batch's transaction.
pub type Work<'t, T> = Pin<Box<dyn Future<Output = ServiceResult<T>> + Send + 't>>;

type Boxed<'t, T> = Pin<Box<dyn Future<Output = T> + Send + 't>>;

/// A request's answer, sent once its batch committed (`None`) or failed.
type Answer = Box<dyn FnOnce(Option<&ServiceError>) + Send>;

/// The lanes of one process, keyed by departure (PostgreSQL) or 0 (SQLite).
#[derive(Default)]
pub struct Lanes(Mutex<HashMap<i64, Lane>>, AtomicU64);

/// Requests waiting in arrival order. A lane exists exactly while its
/// leader runs.
#[derive(Default)]
struct Lane {
    queue: VecDeque<Box<dyn Job>>,
}

impl Lanes {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Lane>> {
        // A panic never happens while the map is held (no user code runs
        // under it), so a poisoned lock still holds a consistent map.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Batches run since the process started.
    pub fn batches_run(&self) -> u64 {
        self.1.load(Ordering::Relaxed)
    }
}

/// A queued request, type-erased.
trait Job: Send {
    fn arrived(&self) -> Instant;
    /// Runs the work on the batch's transaction; `alone` skips the
    /// savepoint (the whole transaction is the request's).
    fn run<'t>(self: Box<Self>, tx: &'t mut Tx, alone: bool) -> Boxed<'t, Ran>;
    /// Answers without running: the batch failed before reaching it.
    fn abandon(self: Box<Self>, why: &ServiceError);
}

/// What a job left after running: its answer, given once the batch's
/// fate is known (`None` committed, `Some` failed), and whether the
/// transaction itself broke (nothing more may run on it).
struct Ran {
    answer: Answer,
    broken: Option<ServiceError>,
}

struct Queued<T, F> {
    work: F,
    reply: oneshot::Sender<ServiceResult<T>>,
    arrived: Instant,
}

impl<T, F> Job for Queued<T, F>
where
    T: Send + 'static,
    F: for<'t> FnOnce(&'t mut Tx) -> Work<'t, T> + Send + 'static,
{
    fn arrived(&self) -> Instant {
        self.arrived
    }

    fn run<'t>(self: Box<Self>, tx: &'t mut Tx, alone: bool) -> Boxed<'t, Ran> {
        Box::pin(async move {
            let Queued { work, reply, .. } = *self;
            if alone {
                let result = work(tx).await;
                // Alone, a failed request rolls the transaction back.
                let broken = result.as_ref().err().map(again);
                return Ran {
                    answer: answer(reply, result),
                    broken,
                };
            }
            if let Err(e) = tx.savepoint().await {
                let e = ServiceError::from(e);
                return Ran {
                    broken: Some(again(&e)),
                    answer: answer(reply, Err(e)),
                };
            }
            let result = work(tx).await;
            let end = match &result {
                Ok(_) => tx.release_savepoint().await,
                Err(_) => tx.rollback_to_savepoint().await,
            };
            match end {
                Ok(()) => Ran {
                    answer: answer(reply, result),
                    broken: None,
                },
                Err(e) => {
                    let e = ServiceError::from(e);
                    Ran {
                        broken: Some(again(&e)),
                        answer: answer(reply, Err(e)),
                    }
                }
            }
        })
    }

    fn abandon(self: Box<Self>, why: &ServiceError) {
        let _ = self.reply.send(Err(again(why)));
    }
}

/// The answer a request gets once its batch committed (its own result) or
/// failed (the failure: nothing it wrote was kept).
fn answer<T: Send + 'static>(
    reply: oneshot::Sender<ServiceResult<T>>,
    result: ServiceResult<T>,
) -> Answer {
    Box::new(move |failed| {
        let _ = reply.send(match failed {
            None => result,
            Some(e) if result.is_err() => result.and_then(|_| Err(again(e))),
            Some(e) => Err(again(e)),
        });
    })
}

/// A copy of a batch-wide failure for each request it ends. Outages and
/// conflicts keep their kind (503 and retried; never a 500 for a client's
/// request because a neighbour's statement failed).
fn again(e: &ServiceError) -> ServiceError {
    match e {
        ServiceError::Busy(m) => ServiceError::Busy(m.clone()),
        ServiceError::Unavailable(m) => ServiceError::Unavailable(m.clone()),
        ServiceError::StorageFull(m) => ServiceError::StorageFull(m.clone()),
        other => ServiceError::Busy(format!(
            "the write batch this request was in failed: {other}"
        )),
    }
}

impl Context {
    /// The lane a request for `departure` queues in: SQLite's one writer
    /// takes every departure, PostgreSQL batches per departure.
    fn lane_of(&self, departure: i64) -> i64 {
        match self.db.backend() {
            Backend::Sqlite => 0,
            Backend::Postgres => departure,
        }
    }

    /// Runs `work` as one request of a group-committed batch on `departure`'s
    /// lane and returns its own result once the batch is durable. With
    /// batching off (`max_batch` 1) it is one transaction of its own.
    pub(crate) async fn batched<T, F>(&self, departure: i64, work: F) -> ServiceResult<T>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut Tx) -> Work<'t, T> + Send + 'static,
    {
        if self.settings.group_commit.max_batch <= 1 {
            let mut tx = self.db.begin().await?;
            let out = work(&mut tx).await?;
            tx.commit().await?;
            return Ok(out);
        }
        let lane = self.lane_of(departure);
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Queued {
            work,
            reply,
            arrived: Instant::now(),
        });
        let lead = {
            let mut lanes = self.batches.lock();
            let new = !lanes.contains_key(&lane);
            lanes.entry(lane).or_default().queue.push_back(job);
            new
        };
        if lead {
            tokio::spawn(lead_lane(self.clone(), lane));
        }
        answer.await.unwrap_or_else(|_| {
            Err(ServiceError::Busy(
                "the write batch this request was in stopped before answering".into(),
            ))
        })
    }
}

/// A lane's leader: runs batches until the lane is empty, then removes it
/// (under the same lock a new request checks, so there is never a queued
/// request without a leader, nor two leaders).
async fn lead_lane(ctx: Context, lane: i64) {
    let bounds = ctx.settings.group_commit;
    loop {
        // Let a batch form: wait until the oldest request has waited
        // `delay`, unless the batch is already full.
        let oldest = {
            let lanes = ctx.batches.lock();
            lanes
                .get(&lane)
                .filter(|l| l.queue.len() < bounds.max_batch)
                .and_then(|l| l.queue.front().map(|j| j.arrived()))
        };
        if let Some(oldest) = oldest
            && !bounds.delay.is_zero()
        {
            tokio::time::sleep_until((oldest + bounds.delay).into()).await;
        }
        let batch: Vec<Box<dyn Job>> = {
            let mut lanes = ctx.batches.lock();
            let Some(waiting) = lanes.get_mut(&lane) else {
                return;
            };
            if waiting.queue.is_empty() {
                lanes.remove(&lane);
                return;
            }
            let n = waiting.queue.len().min(bounds.max_batch);
            waiting.queue.drain(..n).collect()
        };
        // Its own task: a panic in one request's work ends that batch (its
        // requests are answered 503 as their replies drop), not the lane.
        let _ = tokio::spawn(run_batch(ctx.clone(), batch)).await;
    }
}

/// One transaction for the batch, one savepoint per request, one commit.
async fn run_batch(ctx: Context, batch: Vec<Box<dyn Job>>) {
    let size = batch.len();
    ctx.batches.1.fetch_add(1, Ordering::Relaxed);
    metrics::histogram!("group_commit_batch_size").record(size as f64);
    let mut tx = match ctx.db.begin().await {
        Ok(tx) => tx,
        Err(e) => {
            let e = ServiceError::from(e);
            for job in batch {
                job.abandon(&e);
            }
            return;
        }
    };
    let alone = size == 1;
    let mut answers = Vec::with_capacity(size);
    let mut jobs = batch.into_iter();
    let mut broken = None;
    for job in jobs.by_ref() {
        let ran = job.run(&mut tx, alone).await;
        answers.push(ran.answer);
        if ran.broken.is_some() {
            broken = ran.broken;
            break;
        }
    }
    let failed = match broken {
        Some(e) => {
            let _ = tx.rollback().await;
            Some(e)
        }
        None => match tx.commit().await {
            Ok(()) => {
                metrics::counter!("group_commit_flushes_total").increment(1);
                None
            }
            Err(e) => Some(ServiceError::from(e)),
        },
    };
    if let Some(e) = &failed {
        if !alone {
            tracing::warn!(error = %e, size, "a write batch failed; its requests are answered with the failure");
        }
        for job in jobs {
            job.abandon(e);
        }
    }
    for answer in answers {
        answer(failed.as_ref());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::sync::Notify;
    use tourdesk_store::{Db, DbOptions, exec};

    use super::*;
    use crate::{GroupCommitSettings, Settings};

    impl Lanes {
        fn queued(&self, lane: i64) -> usize {
            self.lock().get(&lane).map_or(0, |l| l.queue.len())
        }
    }

    /// Waits until `done` holds (the other tasks get to run meanwhile).
    async fn settle(done: impl Fn() -> bool) {
        for _ in 0..30_000 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("the lane did not reach the expected state within 30 s");
    }

    fn context(db: Db) -> Context {
        Context::new(
            db,
            Settings {
                group_commit: GroupCommitSettings {
                    max_batch: 16,
                    delay: Duration::ZERO,
                },
                ..Settings::default()
            },
        )
    }

    async fn insert(tx: &mut Tx, v: &'static str) -> ServiceResult<&'static str> {
        exec!(
            tx,
            sqlx::query("INSERT INTO gc_probe (v) VALUES ($1)").bind(v)
        )?;
        Ok(v)
    }

    async fn stored(db: &Db) -> Vec<String> {
        let mut tx = db.begin().await.expect("begin");
        let rows: Vec<(String,)> = tourdesk_store::on!(tx, c => {
            sqlx::query_as("SELECT v FROM gc_probe ORDER BY v").fetch_all(c).await
        })
        .expect("read the probe table");
        rows.into_iter().map(|(v,)| v).collect()
    }

    /// A batch of four, queued behind a request that holds the lane: the
    /// two that fail (a unique violation, which aborts a PostgreSQL
    /// transaction; a refusal after a write) are undone alone, the others
    /// commit together, every request gets its own answer, and the lane
    /// is gone once empty.
    async fn each_request_keeps_its_own_outcome(db: Db) {
        let ctx = context(db.clone());
        let mut tx = db.begin().await.expect("begin");
        exec!(
            tx,
            sqlx::query("CREATE TABLE gc_probe (v TEXT PRIMARY KEY)")
        )
        .expect("create");
        tx.commit().await.expect("commit");

        let departure = 7;
        let lane = ctx.lane_of(departure);
        let go = Arc::new(Notify::new());
        let first = {
            let (ctx, go) = (ctx.clone(), go.clone());
            tokio::spawn(async move {
                ctx.batched(departure, move |tx| {
                    Box::pin(async move {
                        let v = insert(tx, "a").await?;
                        go.notified().await;
                        Ok(v)
                    })
                })
                .await
            })
        };
        // The first request runs alone and holds its lane's leader.
        settle(|| ctx.batches.queued(lane) == 0 && ctx.batches.lock().contains_key(&lane)).await;
        let mut rest = Vec::new();
        for (v, refuse) in [("b", false), ("b", false), ("d", false), ("e", true)] {
            let theirs = ctx.clone();
            rest.push(tokio::spawn(async move {
                theirs
                    .batched(departure, move |tx| {
                        Box::pin(async move {
                            insert(tx, v).await?;
                            if refuse {
                                return Err(ServiceError::conflict("refused", "after a write"));
                            }
                            Ok(v)
                        })
                    })
                    .await
            }));
            settle(|| ctx.batches.queued(lane) == rest.len()).await;
        }
        go.notify_one();
        assert_eq!(first.await.expect("join").ok(), Some("a"));
        let mut answers = Vec::new();
        for h in rest {
            answers.push(match h.await.expect("join") {
                Ok(v) => v.to_owned(),
                Err(ServiceError::Conflict { code, .. }) => code.to_owned(),
                Err(ServiceError::Internal(e)) => format!("internal: {e}"),
                Err(e) => format!("other: {e}"),
            });
        }
        assert_eq!(answers[0], "b");
        assert!(
            answers[1].starts_with("internal: unique"),
            "the duplicate fails alone: {answers:?}"
        );
        assert_eq!(answers[2], "d");
        assert_eq!(answers[3], "refused");
        assert_eq!(stored(&db).await, ["a", "b", "d"]);
        assert!(
            ctx.batches.lock().is_empty(),
            "an empty lane is removed with its leader"
        );
        assert_eq!(
            ctx.batches.batches_run(),
            2,
            "one batch of one, one of four"
        );
    }

    #[tokio::test]
    async fn each_request_keeps_its_own_outcome_sqlite() {
        let dir = std::env::temp_dir().join(format!("tourdesk-gc-{:016x}", rand::random::<u64>()));
        let mut opts = DbOptions::new(format!("sqlite://{}/t.db", dir.display()));
        opts.create = true;
        let db = Db::connect(&opts).await.expect("connect");
        each_request_keeps_its_own_outcome(db.clone()).await;
        db.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn each_request_keeps_its_own_outcome_postgres() {
        use sqlx::Connection;
        let admin = std::env::var("TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let mut conn = match sqlx::PgConnection::connect(&admin).await {
            Ok(c) => c,
            Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
                eprintln!("skipped: PostgreSQL unreachable at {admin}: {e}");
                return;
            }
            Err(e) => panic!("PostgreSQL is required under CI: {e}"),
        };
        let name = format!("tourdesk_gc_{:x}", rand::random::<u64>());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create the test database");
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        let db = Db::connect(&DbOptions::new(format!("{base}/{name}")))
            .await
            .expect("connect");
        each_request_keeps_its_own_outcome(db.clone()).await;
        db.close().await;
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await;
    }
}
