//! Liveness and readiness probes for load balancers and orchestrators.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::extract::Json;

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `unavailable` with a reason.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// Liveness: 200 while the process runs.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process is running", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok",
        database: None,
        reason: None,
    })
}

/// Readiness: 200 when the database answers and a write can succeed now
/// (a one-row write is committed: a full disk, a read-only or vanished
/// database file, or a stuck writer all fail it); 503 with the reason when not.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready to serve", body = Health),
        (status = 503, description = "The database does not answer or cannot take writes", body = Health)))]
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let database = match state.ctx.db.backend() {
        tourdesk_store::Backend::Sqlite => "sqlite",
        tourdesk_store::Backend::Postgres => "postgres",
    };
    let db = &state.ctx.db;
    let probe = tokio::time::timeout(std::time::Duration::from_secs(3), async {
        db.ping().await?;
        db.check_writable().await
    })
    .await;
    let reason = match probe {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some("the database did not take a write within 3 s".to_owned()),
    };
    match reason {
        None => (
            StatusCode::OK,
            Json(Health {
                status: "ok",
                database: Some(database),
                reason: None,
            }),
        ),
        Some(reason) => {
            tracing::warn!(%reason, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Health {
                    status: "unavailable",
                    database: Some(database),
                    reason: Some(reason),
                }),
            )
        }
    }
}
