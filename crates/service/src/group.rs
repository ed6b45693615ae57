//! Group commit (issue 19): concurrent booking creates share one
//! transaction and one commit flush, while each request still gets exactly
//! its own answer, and none before its writes are durable.
//!
//! Requests queue in a *lane*. On SQLite there is one lane (the single
//! writer takes every waiting request, whatever its departure); on
//! PostgreSQL one lane per departure, so a batch locks one departure row and
//! departures still commit in parallel. The first request into an idle lane
//! becomes its leader: a task that takes up to `max_batch` waiting requests
//! in arrival order and hands them, together, to their [`Batch`] work on
//! one transaction; commits once; and only then answers every request of
//! the batch with its own result. While a batch runs, the next one queues;
//! before it runs, a batch waits until its oldest request has waited
//! `delay` (default 1 ms; not at all when it is full), so requests that
//! arrive together share a flush. A batch that fails on an outage or a
//! conflict answers every request with the failure (503, retried; nothing
//! of it was written); one that fails otherwise — possibly on one request's
//! own data — runs each request again alone, so that one fails alone.
//!
//! The batch work decides every request before it writes anything, so a
//! refused request has written nothing and needs no savepoint, and it
//! writes the batch's rows with one multi-row statement per table (see
//! `Bookings::create_batch`). Correctness never rests on the lanes: the
//! work locks the departure rows and moves their counters with the same
//! conditional UPDATE a lone request would, so several instances (each
//! with its own lanes) still share one truth in the database.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::oneshot;
use tourdesk_store::{Backend, Tx};

use crate::{Context, ServiceError, ServiceResult};

/// A future borrowing the batch's transaction.
pub type BatchFuture<'t, T> = Pin<Box<dyn Future<Output = T> + Send + 't>>;

/// Requests that run together on one transaction.
pub trait Batch: Clone + Sized + Send + 'static {
    type Output: Send + 'static;

    /// Runs `batch` (in arrival order) on `tx` and returns each request's
    /// own result, in the same order. A request answered with an error
    /// must have written nothing. `Err` means the transaction itself
    /// failed and nothing of the batch is kept: an outage or conflict
    /// (`Busy`, `Unavailable`, `StorageFull`) answers every request with
    /// it; any other error runs each request again alone (a clone), so a
    /// request whose own data breaks a statement fails alone.
    fn run<'t>(
        ctx: &'t Context,
        tx: &'t mut Tx,
        batch: Vec<Self>,
    ) -> BatchFuture<'t, ServiceResult<Vec<ServiceResult<Self::Output>>>>;
}

/// A request waiting in its lane.
struct Queued<B: Batch> {
    item: B,
    reply: oneshot::Sender<ServiceResult<B::Output>>,
    arrived: Instant,
}

/// The lanes of one process, keyed by departure (PostgreSQL) or 0 (SQLite).
/// A lane exists exactly while its leader runs.
pub struct Lanes<B: Batch> {
    queues: Mutex<HashMap<i64, VecDeque<Queued<B>>>>,
    batches: AtomicU64,
}

impl<B: Batch> Default for Lanes<B> {
    fn default() -> Self {
        Lanes {
            queues: Mutex::default(),
            batches: AtomicU64::new(0),
        }
    }
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

fn unanswered() -> ServiceError {
    ServiceError::internal("the write batch returned fewer answers than requests")
}

impl<B: Batch> Lanes<B> {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, VecDeque<Queued<B>>>> {
        // A panic never happens while the map is held (no user code runs
        // under it), so a poisoned lock still holds a consistent map.
        self.queues.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Batches run since the process started.
    pub fn batches_run(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    /// Runs `item` as one request of a group-committed batch on
    /// `departure`'s lane (SQLite's one writer takes every departure,
    /// PostgreSQL batches per departure) and returns its own result once
    /// the batch is durable. With batching off (`max_batch` 1) it is a
    /// batch of one, on a transaction of its own.
    pub(crate) async fn submit(
        self: &Arc<Self>,
        ctx: &Context,
        departure: i64,
        item: B,
    ) -> ServiceResult<B::Output> {
        if ctx.settings.group_commit.max_batch <= 1 {
            return attempt(ctx, vec![item])
                .await?
                .pop()
                .unwrap_or_else(|| Err(unanswered()));
        }
        let lane = match ctx.db.backend() {
            Backend::Sqlite => 0,
            Backend::Postgres => departure,
        };
        let (reply, answer) = oneshot::channel();
        let queued = Queued {
            item,
            reply,
            arrived: Instant::now(),
        };
        let lead = {
            let mut lanes = self.lock();
            let new = !lanes.contains_key(&lane);
            lanes.entry(lane).or_default().push_back(queued);
            new
        };
        if lead {
            tokio::spawn(Arc::clone(self).lead(ctx.clone(), lane));
        }
        answer.await.unwrap_or_else(|_| {
            Err(ServiceError::Busy(
                "the write batch this request was in stopped before answering".into(),
            ))
        })
    }

    /// A lane's leader: runs batches until the lane is empty, then removes
    /// it (under the same lock a new request checks, so there is never a
    /// queued request without a leader, nor two leaders).
    async fn lead(self: Arc<Self>, ctx: Context, lane: i64) {
        let bounds = ctx.settings.group_commit;
        loop {
            // Let a batch form: wait until the oldest request has waited
            // `delay`, unless the batch is already full.
            let oldest = {
                let lanes = self.lock();
                lanes
                    .get(&lane)
                    .filter(|q| q.len() < bounds.max_batch)
                    .and_then(|q| q.front().map(|j| j.arrived))
            };
            if let Some(oldest) = oldest
                && !bounds.delay.is_zero()
            {
                tokio::time::sleep_until((oldest + bounds.delay).into()).await;
            }
            let batch: Vec<Queued<B>> = {
                let mut lanes = self.lock();
                let Some(waiting) = lanes.get_mut(&lane) else {
                    return;
                };
                if waiting.is_empty() {
                    lanes.remove(&lane);
                    return;
                }
                let n = waiting.len().min(bounds.max_batch);
                waiting.drain(..n).collect()
            };
            // Its own task: a panic in the batch's work ends that batch
            // (its requests are answered 503 as their replies drop), not
            // the lane.
            let _ = tokio::spawn(Arc::clone(&self).run_batch(ctx.clone(), batch)).await;
        }
    }

    /// One transaction for the batch, one commit, then the answers.
    async fn run_batch(self: Arc<Self>, ctx: Context, batch: Vec<Queued<B>>) {
        let size = batch.len();
        self.batches.fetch_add(1, Ordering::Relaxed);
        metrics::histogram!("group_commit_batch_size").record(size as f64);
        let mut replies = Vec::with_capacity(size);
        let mut items = Vec::with_capacity(size);
        for q in batch {
            replies.push(q.reply);
            items.push(q.item);
        }
        let started = Instant::now();
        let kept = if size > 1 { items.clone() } else { Vec::new() };
        let outcome = attempt(&ctx, items).await;
        tracing::debug!(
            size,
            ms = started.elapsed().as_secs_f64() * 1e3,
            "write batch committed or failed"
        );
        match outcome {
            Ok(answers) => {
                let mut answers = answers.into_iter();
                for reply in replies {
                    let _ = reply.send(answers.next().unwrap_or_else(|| Err(unanswered())));
                }
            }
            // Alone, a request keeps its own error (as without batching).
            Err(e) if size == 1 => {
                if let Some(reply) = replies.pop() {
                    let _ = reply.send(Err(e));
                }
            }
            // An outage or a conflict: every request gets it, and is retried.
            Err(e) if transient(&e) => {
                tracing::warn!(error = %e, size, "a write batch failed; its requests are answered with the failure");
                for reply in replies {
                    let _ = reply.send(Err(again(&e)));
                }
            }
            // Anything else may be one request's own fault (a statement
            // only its data breaks): each runs again alone, so it fails
            // alone and the others are not held hostage by it.
            Err(e) => {
                tracing::warn!(error = %e, size, "a write batch failed; its requests run again one by one");
                for (reply, item) in replies.into_iter().zip(kept) {
                    let answer = match attempt(&ctx, vec![item]).await {
                        Ok(mut answers) => answers.pop().unwrap_or_else(|| Err(unanswered())),
                        Err(e) => Err(e),
                    };
                    let _ = reply.send(answer);
                }
            }
        }
    }
}

/// Failures that end a whole batch whatever its requests: the database
/// unreachable or full, or a conflict that a retry resolves.
fn transient(e: &ServiceError) -> bool {
    matches!(
        e,
        ServiceError::Busy(_) | ServiceError::Unavailable(_) | ServiceError::StorageFull(_)
    )
}

/// Runs `items` on a transaction of their own and commits it when any was
/// admitted (every request refused: nothing to keep, no flush).
async fn attempt<B: Batch>(
    ctx: &Context,
    items: Vec<B>,
) -> ServiceResult<Vec<ServiceResult<B::Output>>> {
    let mut tx = ctx.db.begin().await?;
    match B::run(ctx, &mut tx, items).await {
        Ok(answers) if answers.iter().any(Result::is_ok) => {
            tx.commit().await?;
            metrics::counter!("group_commit_flushes_total").increment(1);
            Ok(answers)
        }
        Ok(answers) => {
            let _ = tx.rollback().await;
            Ok(answers)
        }
        Err(e) => {
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests;
