//! Background jobs running inside the server process. Each job is a loop
//! that does one round of work, then sleeps until its next round or until
//! shutdown is signalled; a round in progress always finishes.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

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
    pub fn every<F, Fut>(&mut self, name: &'static str, every: Duration, mut round: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut stop = self.stop.subscribe();
        self.handles.push(tokio::spawn(async move {
            tracing::debug!(job = name, "started");
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
    jobs.every("slot-horizon", every, move || {
        let ctx = ctx.clone();
        async move {
            match ctx.catalog().extend_horizon().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(created = n, "slot horizon extended"),
                Err(e) => tracing::error!(error = %e, "slot horizon job failed"),
            }
        }
    });
    let limits = state.rate_limits.clone();
    jobs.every("rate-limit-shrink", Duration::from_secs(60), move || {
        let limits = limits.clone();
        async move { limits.shrink() }
    });
}
