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
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.spawn(name, every, false, round);
    }

    /// Runs `round` every `every`, the first time after one period (for a
    /// job whose first round start-up has already done).
    pub fn after_each<F, Fut>(&mut self, name: &'static str, every: Duration, round: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.spawn(name, every, true, round);
    }

    fn spawn<F, Fut>(&mut self, name: &'static str, every: Duration, wait_first: bool, mut round: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut stop = self.stop.subscribe();
        self.handles.push(tokio::spawn(async move {
            tracing::debug!(job = name, "started");
            if wait_first {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stop.changed() => return,
                }
            }
            loop {
                round().await;
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
                Ok(0) => {}
                Ok(n) => tracing::info!(created = n, "slot horizon extended"),
                Err(e) => tracing::error!(error = %e, "slot horizon job failed"),
            }
        }
    });
    let ctx = state.ctx.clone();
    jobs.every("waitlist-expiry", Duration::from_secs(30), move || {
        let ctx = ctx.clone();
        async move {
            match ctx.waitlist().expire_due().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(expired = n, "waitlist holds expired"),
                Err(e) => tracing::error!(error = %e, "waitlist expiry job failed"),
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
                    Ok(0) => {}
                    Ok(n) => tracing::info!(cancelled = n, "pending bookings expired"),
                    Err(e) => tracing::error!(error = %e, "pending hold job failed"),
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
                    Ok(_) => break,
                    Err(e) => {
                        tracing::error!(error = %e, "notification delivery failed");
                        break;
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
                Ok(p) if p.total() == 0 => tracing::debug!("retention: nothing to prune"),
                Ok(p) => tracing::info!(
                    outbox_events = p.outbox_events,
                    email_messages = p.email_messages,
                    webhook_deliveries = p.webhook_deliveries,
                    idempotency_keys = p.idempotency_keys,
                    manage_tokens = p.manage_tokens,
                    auth_tokens = p.auth_tokens,
                    batches = p.batches,
                    "retention: pruned rows past their period"
                ),
                Err(e) => tracing::error!(error = %e, "retention job failed"),
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
                    Ok(0) => {}
                    Ok(n) => tracing::info!(queued = n, "departure reminders queued"),
                    Err(e) => tracing::error!(error = %e, "reminder job failed"),
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
