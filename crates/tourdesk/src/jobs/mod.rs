//! Background jobs running inside the server process. Each job is a loop
//! that does one round of work, then sleeps until its next round or until
//! shutdown is signalled; a round in progress always finishes.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tourdesk_service::Admin;
use tourdesk_service::retention::RetentionPolicy;

use crate::config::Config;

/// What a round answers: `()` when it cannot fail, or whether it
/// succeeded (a failed round has logged why); counted in
/// `job_runs_total`, `job_failures_total` and `job_duration_seconds`,
/// labelled `name` (Prometheus keeps `job` for the scrape job).
pub trait RoundOutcome {
    fn succeeded(&self) -> bool;
}

impl RoundOutcome for () {
    fn succeeded(&self) -> bool {
        true
    }
}

impl RoundOutcome for bool {
    fn succeeded(&self) -> bool {
        *self
    }
}

/// The running jobs, and the signal that stops them.
pub struct Jobs {
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

impl Default for Jobs {
    fn default() -> Self {
        Jobs {
            stop: watch::channel(false).0,
            handles: Vec::new(),
        }
    }
}

impl Jobs {
    /// Runs `round` now and then every `every`, until stopped.
    pub fn every<F, Fut>(&mut self, name: &'static str, every: Duration, round: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: RoundOutcome,
    {
        self.spawn(name, every, false, round);
    }

    /// Runs `round` every `every`, the first time after one period (for a
    /// job whose first round start-up has already done).
    pub fn after_each<F, Fut>(&mut self, name: &'static str, every: Duration, round: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: RoundOutcome,
    {
        self.spawn(name, every, true, round);
    }

    fn spawn<F, Fut>(&mut self, name: &'static str, every: Duration, wait_first: bool, mut round: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: RoundOutcome,
    {
        let mut stop = self.stop.subscribe();
        self.handles.push(tokio::spawn(async move {
            tracing::debug!(job = name, "started");
            // The series exists from the start (a rate over it is defined).
            metrics::counter!("job_failures_total", "name" => name).increment(0);
            if wait_first {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stop.changed() => return,
                }
            }
            loop {
                let started = std::time::Instant::now();
                let ok = round().await.succeeded();
                metrics::counter!("job_runs_total", "name" => name).increment(1);
                if !ok {
                    metrics::counter!("job_failures_total", "name" => name).increment(1);
                }
                metrics::histogram!("job_duration_seconds", "name" => name)
                    .record(started.elapsed().as_secs_f64());
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stop.changed() => break,
                }
            }
            tracing::debug!(job = name, "stopped");
        }));
    }

    /// Signals every job and waits until each has finished its round.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for handle in self.handles {
            if let Err(e) = handle.await {
                tracing::error!(error = %e, "a background job ended abnormally");
            }
        }
    }
}

/// How often departures past their decision deadline are decided.
pub const DECISION_ROUND: Duration = Duration::from_secs(60);

/// Starts every background job of the server.
pub fn schedule_all(jobs: &mut Jobs, state: &crate::http::AppState) {
    let ctx = state.ctx.clone();
    let every = Duration::from_secs(60 * u64::from(state.config.slot_generation_interval_minutes));
    // Its first round ran at start-up (`Application::build_with`), before
    // the server took requests.
    jobs.after_each("slot-horizon", every, move || {
        let ctx = ctx.clone();
        async move {
            match ctx.catalog().extend_horizon().await {
                Ok(0) => true,
                Ok(n) => {
                    tracing::info!(created = n, "slot horizon extended");
                    true
                }
                Err(e) => {
                    tracing::error!(error = %e, "slot horizon job failed");
                    false
                }
            }
        }
    });
    let ctx = state.ctx.clone();
    // A decision more than two rounds after its deadline was late (the
    // server was down): the audit says so.
    for outcome in ["guaranteed", "cancelled"] {
        metrics::counter!("departure_decisions_total", "outcome" => outcome).increment(0);
    }
    jobs.every("departure-decisions", DECISION_ROUND, move || {
        let ctx = ctx.clone();
        async move {
            let grace = chrono::Duration::from_std(DECISION_ROUND * 2)
                .unwrap_or_else(|_| chrono::Duration::minutes(2));
            match ctx.catalog().decide_due(grace).await {
                Ok((0, 0)) => true,
                Ok((guaranteed, cancelled)) => {
                    metrics::counter!("departure_decisions_total", "outcome" => "guaranteed")
                        .increment(guaranteed as u64);
                    metrics::counter!("departure_decisions_total", "outcome" => "cancelled")
                        .increment(cancelled as u64);
                    tracing::info!(
                        guaranteed,
                        cancelled,
                        "departures decided at their deadline"
                    );
                    true
                }
                Err(e) => {
                    tracing::error!(error = %e, "departure decision job failed");
                    false
                }
            }
        }
    });
    let ctx = state.ctx.clone();
    jobs.every("waitlist-expiry", Duration::from_secs(30), move || {
        let ctx = ctx.clone();
        async move {
            match ctx.waitlist().expire_due().await {
                Ok(0) => true,
                Ok(n) => {
                    tracing::info!(expired = n, "waitlist holds expired");
                    true
                }
                Err(e) => {
                    tracing::error!(error = %e, "waitlist expiry job failed");
                    false
                }
            }
        }
    });
    let ctx = state.ctx.clone();
    let hold_minutes = state.config.pending_hold_minutes;
    if hold_minutes > 0 {
        jobs.every("pending-holds", Duration::from_secs(60), move || {
            let ctx = ctx.clone();
            async move {
                match ctx.bookings().expire_pending(hold_minutes).await {
                    Ok(0) => true,
                    Ok(n) => {
                        tracing::info!(cancelled = n, "pending bookings expired");
                        true
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "pending hold job failed");
                        false
                    }
                }
            }
        });
    }
    let ctx = state.ctx.clone();
    jobs.every("outbox-delivery", Duration::from_secs(2), move || {
        let ctx = ctx.clone();
        async move {
            loop {
                match ctx.notifications().deliver_batch().await {
                    Ok(100..) => continue,
                    Ok(_) => return true,
                    Err(e) => {
                        tracing::error!(error = %e, "notification delivery failed");
                        return false;
                    }
                }
            }
        }
    });
    let ctx = state.ctx.clone();
    let policy = retention_policy(&state.config);
    let every = Duration::from_secs(60 * u64::from(state.config.retention_interval_minutes));
    jobs.every("retention", every, move || {
        let ctx = ctx.clone();
        async move {
            match ctx.retention().prune(&Admin::system(), &policy).await {
                Ok(p) if p.total() == 0 => {
                    tracing::debug!("retention: nothing to prune");
                    true
                }
                Ok(p) => {
                    tracing::info!(
                        outbox_events = p.outbox_events,
                        email_messages = p.email_messages,
                        webhook_deliveries = p.webhook_deliveries,
                        idempotency_keys = p.idempotency_keys,
                        manage_tokens = p.manage_tokens,
                        auth_tokens = p.auth_tokens,
                        batches = p.batches,
                        "retention: pruned rows past their period"
                    );
                    true
                }
                Err(e) => {
                    tracing::error!(error = %e, "retention job failed");
                    false
                }
            }
        }
    });
    let reminder_hours = state.config.reminder_hours;
    if reminder_hours > 0 {
        let ctx = state.ctx.clone();
        jobs.every("reminders", Duration::from_secs(60), move || {
            let ctx = ctx.clone();
            async move {
                let admin = tourdesk_service::Admin::system();
                match ctx.mail().queue_reminders(&admin, reminder_hours).await {
                    Ok(0) => true,
                    Ok(n) => {
                        tracing::info!(queued = n, "departure reminders queued");
                        true
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "reminder job failed");
                        false
                    }
                }
            }
        });
    }
    if let Some(sender) = state.mail_sender.clone() {
        let ctx = state.ctx.clone();
        jobs.every("email-sender", Duration::from_secs(2), move || {
            let ctx = ctx.clone();
            let sender = sender.clone();
            async move { while sender.round(&ctx).await == 20 {} }
        });
    }
    let sender = state.webhook_sender.clone();
    let ctx = state.ctx.clone();
    jobs.every("webhook-sender", Duration::from_secs(1), move || {
        let ctx = ctx.clone();
        let sender = sender.clone();
        async move { while sender.round(&ctx).await > 0 {} }
    });
    let ctx = state.ctx.clone();
    jobs.every("metrics", Duration::from_secs(15), move || {
        let ctx = ctx.clone();
        async move {
            match crate::metrics::refresh(&ctx).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics refresh failed");
                    false
                }
            }
        }
    });
    let limits = state.rate_limits.clone();
    jobs.every("rate-limit-shrink", Duration::from_secs(60), move || {
        let limits = limits.clone();
        async move { limits.shrink() }
    });
}

/// What the retention job keeps, as configured.
pub fn retention_policy(config: &Config) -> RetentionPolicy {
    RetentionPolicy {
        outbox_retention_days: config.outbox_retention_days,
        batch_size: config.retention_batch_size,
    }
}
