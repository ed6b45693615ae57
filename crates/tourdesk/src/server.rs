//! The HTTP server loop: hyper, configured for what production clients do,
//! rather than `axum::serve`'s defaults.
//!
//! - A client that sends its request head slowly (or never) is cut off after
//!   [`HEADER_READ_TIMEOUT`] instead of holding a connection forever.
//! - hyper's own limits on the request head sit far above ours, so a head
//!   that is too large reaches [`crate::http::middleware::head_limits`] and
//!   gets the JSON error format (431/414) like every other 4xx. Only a head
//!   beyond hyper's ceiling (1 MiB or 1,000 headers) still gets hyper's bare
//!   431, since hyper answers those before any service runs.
//! - An idle keep-alive connection is closed after [`HEADER_READ_TIMEOUT`]
//!   too (hyper starts that timer whenever it waits for a request head).
//! - At most [`Limits::max_connections`] connections are served at once; the
//!   rest wait in the kernel's listen queue, so a flood of idle clients
//!   cannot take every file descriptor the database needs.
//! - Shutdown stops accepting, lets requests in flight finish, and closes
//!   whatever is still open after [`Limits::shutdown_timeout`].

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use std::sync::Arc;
use tokio::net::TcpListener;

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

/// How long a client may take to send its request head.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// hyper's ceilings, well above the limits the middleware enforces.
const HYPER_MAX_HEADERS: usize = 1000;
const HYPER_MAX_BUF: usize = 1024 * 1024;

/// The server's own limits (from the configuration).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long shutdown waits for connections to finish before closing them.
    pub shutdown_timeout: Duration,
    /// How many connections are served at once.
    pub max_connections: usize,
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains
/// connections for at most `limits.shutdown_timeout`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()>,
    limits: Limits,
) {
    let grace = limits.shutdown_timeout;
    let (stop_tx, stop_rx) = watch::channel(());
    let mut connections = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break, // never closed
            },
            () = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off, go on.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        while connections.try_join_next().is_some() {}
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut()
                .insert(ConnectInfo::<SocketAddr>(remote));
            app.clone().oneshot(req.map(axum::body::Body::new))
        });
        let mut stop = stop_rx.clone();
        connections.spawn(async move {
            let _permit = permit;
            let mut builder = Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .max_headers(HYPER_MAX_HEADERS)
                .max_buf_size(HYPER_MAX_BUF);
            builder
                .http2()
                .timer(TokioTimer::new())
                .max_header_list_size(u32::try_from(HYPER_MAX_BUF).unwrap_or(u32::MAX));
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            let mut conn = pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    return;
                }
                _ = stop.changed() => conn.as_mut().graceful_shutdown(),
            }
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    drop(stop_tx);
    let drained = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            grace_seconds = grace.as_secs(),
            "connections still open after the shutdown grace period; closing them"
        );
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
}
