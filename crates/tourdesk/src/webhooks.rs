//! Sending webhook deliveries: the service queues them (one per endpoint and
//! event) and keeps their log (`tourdesk_service::webhooks`); this job
//! claims the due ones, POSTs each outside any transaction, several at a
//! time so one slow receiver holds up no other, and records what happened.
//!
//! Every request is signed the way Stripe signs: the header
//! `Tourdesk-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` where the MAC
//! is over `"<t>.<body>"` with the endpoint's secret. A receiver recomputes
//! it, compares in constant time and refuses a `t` far from its own clock.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{Request, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::task::JoinSet;
use tourdesk_service::Context;
use tourdesk_service::webhooks::{Claimed, Outcome, event_id};

use crate::config::Config;

/// The signature header's value for `body` sent at `timestamp`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let mut ctx = ring::hmac::Context::with_key(&key);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body.as_bytes());
    format!("t={timestamp},v1={}", hex::encode(ctx.sign().as_ref()))
}

/// How many deliveries one round claims (and sends at once).
const BATCH: i64 = 16;

/// How much of a receiver's answer is kept for the log.
const EXCERPT_BYTES: usize = 512;

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Sends due deliveries; one per server.
pub struct Sender {
    client: HttpClient,
    timeout: Duration,
    max_attempts: u32,
}

impl Sender {
    pub fn from_config(config: &Config) -> Result<Sender, String> {
        let timeout = Duration::from_secs(u64::from(config.webhook_timeout_seconds));
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("webhooks: cannot set up TLS: {e}"))?
        .with_root_certificates(rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        })
        .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(https);
        Ok(Sender {
            client,
            timeout,
            max_attempts: config.webhook_max_attempts,
        })
    }

    /// How long a claimed delivery is leased: longer than any attempt can
    /// take, so a live sender is never overtaken.
    fn lease(&self) -> chrono::Duration {
        chrono::Duration::seconds(2 * self.timeout.as_secs() as i64 + 5)
    }

    /// One round: claim due deliveries, send them at once, record each.
    /// Returns how many were claimed.
    pub async fn round(&self, ctx: &Context) -> usize {
        let due = match ctx.webhooks().claim_due(BATCH, self.lease()).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "cannot claim webhook deliveries");
                return 0;
            }
        };
        let n = due.len();
        let mut sends = JoinSet::new();
        for claimed in due {
            let client = self.client.clone();
            let ctx = ctx.clone();
            let (timeout, max_attempts) = (self.timeout, self.max_attempts);
            sends.spawn(async move {
                let outcome = send(&client, timeout, &ctx, &claimed).await;
                match &outcome.error {
                    None => tracing::info!(
                        delivery_id = claimed.delivery.id,
                        webhook_id = claimed.delivery.endpoint_id,
                        status = outcome.status_code,
                        "webhook delivered"
                    ),
                    Some(why) => tracing::warn!(
                        delivery_id = claimed.delivery.id,
                        webhook_id = claimed.delivery.endpoint_id,
                        attempt = claimed.delivery.attempts,
                        error = %why,
                        "webhook not delivered"
                    ),
                }
                if let Err(e) = ctx
                    .webhooks()
                    .record(&claimed, &outcome, max_attempts)
                    .await
                {
                    tracing::error!(delivery_id = claimed.delivery.id, error = %e,
                        "cannot record a webhook attempt");
                }
            });
        }
        while let Some(done) = sends.join_next().await {
            if let Err(e) = done {
                tracing::error!(error = %e, "a webhook send ended abnormally");
            }
        }
        n
    }
}

/// One attempt: POST the delivery's body, signed, and report.
async fn send(client: &HttpClient, timeout: Duration, ctx: &Context, c: &Claimed) -> Outcome {
    let attempted_at = ctx.clock.now();
    let started = Instant::now();
    let mut outcome = Outcome {
        attempted_at,
        status_code: None,
        latency_ms: 0,
        error: None,
        response_excerpt: None,
        permanent: false,
    };
    let result = tokio::time::timeout(timeout, attempt(client, c, attempted_at.timestamp())).await;
    match result {
        Err(_) => outcome.error = Some(format!("no answer within {} s", timeout.as_secs())),
        Ok(Err(Failure { why, permanent })) => {
            outcome.error = Some(why);
            outcome.permanent = permanent;
        }
        Ok(Ok((status, location, excerpt))) => {
            outcome.status_code = Some(status.as_u16());
            outcome.response_excerpt = excerpt;
            if status.is_redirection() {
                outcome.error = Some(format!(
                    "answered {status}, a redirect to {}: webhooks do not follow redirects; register the final URL",
                    location.as_deref().unwrap_or("nowhere")
                ));
            } else if !status.is_success() {
                outcome.error = Some(format!("answered {status}"));
            }
        }
    }
    outcome.latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    outcome
}

struct Failure {
    why: String,
    permanent: bool,
}

type Answer = (axum::http::StatusCode, Option<String>, Option<String>);

async fn attempt(client: &HttpClient, c: &Claimed, timestamp: i64) -> Result<Answer, Failure> {
    let d = &c.delivery;
    let permanent = |why: String| Failure {
        why,
        permanent: true,
    };
    let uri: Uri = c
        .url
        .parse()
        .map_err(|e| permanent(format!("the URL cannot be used: {e}")))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(permanent("the URL is not http:// or https://".into()));
    }
    let request = Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            header::USER_AGENT,
            concat!("Tourdesk-Webhooks/", env!("CARGO_PKG_VERSION")),
        )
        .header(
            "Tourdesk-Signature",
            signature(&c.secret, timestamp, &d.body),
        )
        .header("Tourdesk-Event-Id", event_id(d.event_id))
        .header("Tourdesk-Event-Type", &d.event_type)
        .header("Tourdesk-Delivery-Attempt", d.attempts.to_string())
        .body(Full::new(Bytes::from(d.body.clone())))
        .map_err(|e| permanent(format!("cannot build the request: {e}")))?;
    let response = client.request(request).await.map_err(|e| Failure {
        why: if e.is_connect() {
            format!("cannot connect: {}", root_cause(&e))
        } else {
            format!("request failed: {}", root_cause(&e))
        },
        permanent: false,
    })?;
    let status = response.status();
    let location = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while bytes.len() < EXCERPT_BYTES {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(chunk) = frame.data_ref() {
                    bytes.extend_from_slice(chunk);
                }
            }
            _ => break,
        }
    }
    bytes.truncate(EXCERPT_BYTES);
    let text = String::from_utf8_lossy(&bytes).trim().to_owned();
    Ok((status, location, (!text.is_empty()).then_some(text)))
}

/// The error with its causes (hyper's own text says little).
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_over_timestamp_dot_body() {
        // Recomputed independently with:
        //   printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test_secret_1234
        assert_eq!(
            signature("whsec_test_secret_1234", 1_700_000_000, r#"{"a":1}"#),
            "t=1700000000,v1=09b3dbd0d037bc391fb094acc8a79acc8199cdce9440582d74d96e9f4688d5e6"
        );
    }
}
