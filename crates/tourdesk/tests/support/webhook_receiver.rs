//! A webhook receiver for tests: a real HTTP server on a free port that
//! checks each request's `Tourdesk-Signature` the way the README tells
//! receivers to (HMAC-SHA256 over `"<t>.<body>"`, compared in constant
//! time), records what came, and answers as the test scripts it.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::Notify;

/// How the receiver answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    /// 302 to this location.
    Redirect(String),
    /// Waits this long, then answers 200.
    Slow(Duration),
    /// Waits until [`Receiver::release`], then answers 200.
    Hold,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Got {
    pub event_id: String,
    pub event_type: String,
    pub attempt: String,
    pub user_agent: String,
    pub content_type: String,
    pub timestamp: i64,
    pub signature_ok: bool,
    pub raw: String,
    pub body: Value,
    /// What the receiver answered (200 for Slow/Hold).
    pub answered: u16,
    pub at: Instant,
}

struct Inner {
    secret: Mutex<String>,
    script: Mutex<VecDeque<Reply>>,
    otherwise: Mutex<Reply>,
    got: Mutex<Vec<Got>>,
    arrived: Notify,
    release: Notify,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    inner: Arc<Inner>,
}

impl Receiver {
    /// Starts a receiver checking signatures with `secret`, answering 200
    /// unless scripted otherwise.
    pub async fn start(secret: &str) -> Receiver {
        let inner = Arc::new(Inner {
            secret: Mutex::new(secret.to_owned()),
            script: Mutex::new(VecDeque::new()),
            otherwise: Mutex::new(Reply::Status(200)),
            got: Mutex::new(Vec::new()),
            arrived: Notify::new(),
            release: Notify::new(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a receiver port");
        let port = listener.local_addr().expect("receiver address").port();
        let state = inner.clone();
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let state = state.clone();
            async move { handle(state, headers, body).await }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url: format!("http://127.0.0.1:{port}/hooks/tourdesk"),
            inner,
        }
    }

    pub fn set_secret(&self, secret: &str) {
        *lock(&self.inner.secret) = secret.to_owned();
    }

    /// The next requests' answers, in order; then `otherwise`.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        lock(&self.inner.script).extend(replies);
    }

    pub fn otherwise(&self, reply: Reply) {
        *lock(&self.inner.otherwise) = reply;
    }

    /// Lets every held request answer.
    pub fn release(&self) {
        *lock(&self.inner.otherwise) = Reply::Status(200);
        self.inner.release.notify_waiters();
    }

    pub fn got(&self) -> Vec<Got> {
        lock(&self.inner.got).clone()
    }

    /// Waits until `pred` holds for what arrived (at most `within`).
    pub async fn wait_until(&self, within: Duration, pred: impl Fn(&[Got]) -> bool) -> Vec<Got> {
        let deadline = Instant::now() + within;
        loop {
            let arrived = self.inner.arrived.notified();
            let got = self.got();
            if pred(&got) {
                return got;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "the receiver did not get what was expected within {within:?}; it got {:#?}",
                    got.iter()
                        .map(|g| (&g.event_type, &g.event_id, g.answered))
                        .collect::<Vec<_>>()
                );
            }
            let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), arrived).await;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Checks a `Tourdesk-Signature` header against the raw body: what a
/// receiver must do before trusting a delivery.
pub fn verify(secret: &str, header: &str, body: &[u8]) -> Option<i64> {
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1.push(v.to_owned()),
            _ => {}
        }
    }
    let t = t?;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(body);
    v1.iter()
        .filter_map(|hex_sig| hex::decode(hex_sig).ok())
        .any(|sig| ring::hmac::verify(&key, &signed, &sig).is_ok())
        .then_some(t)
}

async fn handle(state: Arc<Inner>, headers: HeaderMap, body: Bytes) -> Response {
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let secret = lock(&state.secret).clone();
    let sig = h("tourdesk-signature");
    let verified = verify(&secret, &sig, &body);
    let timestamp = sig
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let reply = lock(&state.script)
        .pop_front()
        .unwrap_or_else(|| lock(&state.otherwise).clone());
    let raw = String::from_utf8_lossy(&body).into_owned();
    let mut got = Got {
        event_id: h("tourdesk-event-id"),
        event_type: h("tourdesk-event-type"),
        attempt: h("tourdesk-delivery-attempt"),
        user_agent: h("user-agent"),
        content_type: h("content-type"),
        timestamp,
        signature_ok: verified.is_some(),
        body: serde_json::from_str(&raw).unwrap_or(Value::Null),
        raw,
        answered: 200,
        at: Instant::now(),
    };
    let response = match reply {
        Reply::Status(code) => {
            got.answered = code;
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT);
            (status, format!("receiver says {code}")).into_response()
        }
        Reply::Redirect(to) => {
            got.answered = 302;
            (StatusCode::FOUND, [(header::LOCATION, to)], "moved").into_response()
        }
        Reply::Slow(wait) => {
            tokio::time::sleep(wait).await;
            (StatusCode::OK, "ok, slowly").into_response()
        }
        Reply::Hold => {
            let released = state.release.notified();
            // Recorded before waiting, so a test sees it arrive.
            lock(&state.got).push(got.clone());
            state.arrived.notify_waiters();
            released.await;
            return (StatusCode::OK, "ok, at last").into_response();
        }
    };
    lock(&state.got).push(got);
    state.arrived.notify_waiters();
    response
}
