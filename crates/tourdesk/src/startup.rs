//! Building and running the application. Production (`tourdesk serve`) and
//! the tests start it the same way: build, read the port, run until stopped.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tourdesk_service::{Context, Settings};
use tourdesk_store::{Db, DbOptions};

use crate::config::{Config, SqliteSync};
use crate::http::{self, AppState, RateLimits};
use crate::jobs::Jobs;

pub struct Application {
    listener: TcpListener,
    /// `METRICS_BIND`'s listener, when metrics are served apart.
    metrics_listener: Option<TcpListener>,
    port: u16,
    state: AppState,
}

/// The service-layer rules a configuration describes.
pub fn settings(config: &Config) -> Settings {
    Settings {
        booking_advance_days: config.booking_advance_days,
        booking_cutoff_hours: config.booking_cutoff_hours,
        min_booking_size: config.min_booking_size,
        max_booking_size: config.max_booking_size,
        waitlist_notification_expiry_hours: config.waitlist_notification_expiry_hours,
        waitlist_auto_process: config.waitlist_auto_process,
        child_discount: config.default_child_discount,
        tax_rate: config.tax_rate,
        booking_reference_prefix: config.booking_reference_prefix.clone(),
        auth_token_ttl_hours: config.auth_token_ttl_hours,
        max_pending_per_email: config.max_pending_per_email,
        manage_token_days_after_departure: config.manage_token_days_after_departure,
        cancellation_tiers: config.cancellation_policy.0.clone(),
        cancellation_fee_cents: config.cancellation_fee,
        party_rules: tourdesk_domain::policy::PartyRules {
            infants_take_seat: config.infants_take_seat,
            max_minors_per_adult: (config.max_minors_per_adult > 0)
                .then_some(config.max_minors_per_adult),
            max_infants_per_adult: (config.max_infants_per_adult > 0)
                .then_some(config.max_infants_per_adult),
        },
        infant_max_age: config.infant_max_age,
        child_max_age: config.child_max_age,
        group_commit: tourdesk_service::GroupCommitSettings {
            max_batch: config.group_commit_max_batch as usize,
            delay: std::time::Duration::from_millis(u64::from(config.group_commit_delay_ms)),
        },
        calendar_cache: tourdesk_service::CalendarCacheSettings {
            departures: config.calendar_cache_departures as usize,
            quiet: std::time::Duration::from_millis(u64::from(config.calendar_cache_quiet_ms)),
        },
    }
}

/// Opens and migrates the configured database, creating a missing SQLite
/// file only with `--create` (or `--demo`), then proves it takes writes.
pub async fn open_database(config: &Config) -> anyhow::Result<Db> {
    let mut opts = DbOptions::new(config.database_url.clone());
    opts.max_connections = config.database_max_connections;
    opts.sqlite_synchronous_full = config.sqlite_synchronous == SqliteSync::Full;
    opts.create = config.create || config.demo;
    let db = Db::connect(&opts).await?;
    if db.created() {
        tracing::info!(
            database = %tourdesk_store::redact_url(&config.database_url),
            "created a new, empty database"
        );
    }
    db.migrate().await.context("migrating the database")?;
    db.check_writable().await.map_err(|e| {
        anyhow::anyhow!(
            "DATABASE_URL: {} does not take writes: {e}",
            tourdesk_store::redact_url(&config.database_url)
        )
    })?;
    Ok(db)
}

impl Application {
    /// Validates the configuration, opens and migrates the database, and
    /// binds the listener (port 0 picks a free one).
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        config.validate().map_err(anyhow::Error::msg)?;
        let db = open_database(&config).await?;
        Self::build_with(config, Context::new(db, Settings::default())).await
    }

    /// Like [`Application::build`], on an already opened context (tests
    /// inject a clock this way). The context's settings are replaced by the
    /// configuration's.
    pub async fn build_with(config: Config, mut ctx: Context) -> anyhow::Result<Application> {
        config.validate().map_err(anyhow::Error::msg)?;
        ctx.settings = Arc::new(settings(&config));
        if let (Some(email), Some(password)) = (&config.admin_email, &config.admin_password) {
            let admin = ctx
                .accounts()
                .ensure_admin(email, password, "Administrator")
                .await
                .map_err(|e| match e {
                    tourdesk_service::ServiceError::Invalid { .. }
                    | tourdesk_service::ServiceError::Conflict { .. }
                    | tourdesk_service::ServiceError::Refused { .. } => {
                        anyhow::anyhow!("ADMIN_EMAIL: cannot set up the admin: {e}")
                    }
                    other => {
                        anyhow::anyhow!("DATABASE_URL: cannot store the admin account: {other}")
                    }
                })?;
            tracing::info!(email = %admin.email, "admin account ready");
        }
        let listener = TcpListener::bind(config.bind_addr).await.map_err(|e| {
            anyhow::anyhow!("BIND_ADDR: cannot listen on {}: {e}", config.bind_addr)
        })?;
        let port = listener.local_addr()?.port();
        let mail = crate::mail::settings(&config, port);
        let mail_sender = crate::mail::Sender::from_config(&config, &mail)
            .map_err(anyhow::Error::msg)?
            .map(Arc::new);
        if mail_sender.is_none() {
            tracing::info!(
                "email delivery is off (no SMTP_URL): messages are rendered and kept for preview \
                 in the console's Messages page"
            );
        }
        ctx.mail = Arc::new(mail);
        let webhook_sender =
            Arc::new(crate::webhooks::Sender::from_config(&config).map_err(anyhow::Error::msg)?);
        // The rolling horizon's first round, done before any request is
        // taken (the job then runs every SLOT_GENERATION_INTERVAL_MINUTES),
        // so no request races a start-up generation.
        match ctx.catalog().extend_horizon().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(created = n, "slot horizon extended"),
            Err(e) => {
                tracing::error!(error = %e, "slot horizon at start-up failed; the job retries")
            }
        }
        let brand = Arc::new(crate::web::Brand::from_config(&config).map_err(anyhow::Error::msg)?);
        let state = AppState {
            brand,
            mail_sender,
            webhook_sender,
            ctx,
            rate_limits: Arc::new(RateLimits::new(&config)),
            config: Arc::new(config),
        };
        let metrics_listener = match state.config.metrics_bind {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|e| anyhow::anyhow!("METRICS_BIND: cannot listen on {addr}: {e}"))?,
            ),
            None => None,
        };
        // The recorder is installed before the first request is counted.
        if crate::metrics::handle().is_none() {
            tracing::warn!("metrics are off in this process");
        }
        Ok(Application {
            listener,
            metrics_listener,
            port,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn context(&self) -> &Context {
        &self.state.ctx
    }

    /// Serves until `shutdown` resolves; then lets in-flight requests finish,
    /// stops the background jobs and closes the database.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Application {
            listener,
            metrics_listener,
            state,
            ..
        } = self;
        // Metrics apart (METRICS_BIND): a plain listener answering only
        // `GET /metrics`, ended with the server.
        let metrics_server = metrics_listener.map(|l| {
            let app = axum::Router::new().route(
                "/metrics",
                axum::routing::get(|| async { crate::metrics::render() }),
            );
            tokio::spawn(async move {
                if let Err(e) = axum::serve(l, app).await {
                    tracing::error!(error = %e, "the metrics listener failed");
                }
            })
        });
        let db = state.ctx.db.clone();
        let mut jobs = Jobs::default();
        crate::jobs::schedule_all(&mut jobs, &state);
        let limits = crate::server::Limits {
            shutdown_timeout: std::time::Duration::from_secs(u64::from(
                state.config.shutdown_timeout_seconds,
            )),
            max_connections: usize::try_from(state.config.http_max_connections)
                .unwrap_or(usize::MAX),
        };
        let app = http::router(state);
        crate::server::serve(listener, app, shutdown, limits).await;
        if let Some(task) = metrics_server {
            task.abort();
        }
        jobs.stop().await;
        db.close().await;
        Ok(())
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
