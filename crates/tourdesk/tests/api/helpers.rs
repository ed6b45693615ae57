//! The test harness: the real application on port 0, on a fresh database of
//! either engine, with a typed client. `both_backends!(name)` turns
//! `async fn name(app: TestApp)` into one test per engine.
//!
//! PostgreSQL: `TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) names a server on which a
//! database with a random name is created per test and dropped afterwards.
//! When the server is unreachable the PostgreSQL half is skipped with a
//! message — except under `CI=true`, where it fails.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use rand::Rng;
use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::Value;
use sqlx::Connection;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tourdesk::config::Config;
use tourdesk::startup::{self, Application};
use tourdesk_service::{Clock, Context, Settings};
use tourdesk_store::Backend;

#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::helpers::run(tourdesk_store::Backend::Sqlite, super::$name).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::helpers::run(tourdesk_store::Backend::Postgres, super::$name).await;
            }
        }
    )+};
}

/// Runs `test` against a fresh app on `backend` with the default configuration.
pub async fn run<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(TestApp) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    if let Some(app) = TestApp::spawn(backend, |_| {}).await {
        test(app).await;
    }
}

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database that exists for one test: a temporary SQLite file, or a
/// PostgreSQL database with a random name, dropped when this is dropped.
pub struct TestDatabase {
    pub url: String,
    pub backend: Backend,
    sqlite_dir: Option<PathBuf>,
    pg_name: Option<String>,
}

impl TestDatabase {
    /// `None` when PostgreSQL is unreachable outside CI (the test is skipped).
    pub async fn create(backend: Backend) -> Option<TestDatabase> {
        let name = format!("tourdesk_test_{:016x}", rand::rng().random::<u64>());
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(&name);
                let url = format!("sqlite://{}/tourdesk.db", dir.display());
                Some(TestDatabase {
                    url,
                    backend,
                    sqlite_dir: Some(dir),
                    pg_name: None,
                })
            }
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let mut conn = match sqlx::PgConnection::connect(&admin).await {
                    Ok(c) => c,
                    Err(e) if !under_ci() => {
                        eprintln!(
                            "SKIPPED: PostgreSQL at {admin} is unreachable ({e}); set CI=true to make this a failure"
                        );
                        return None;
                    }
                    Err(e) => panic!("CI=true and PostgreSQL at {admin} is unreachable: {e}"),
                };
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create the test database");
                let _ = conn.close().await;
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
                let url = format!("{base}/{name}");
                Some(TestDatabase {
                    url,
                    backend,
                    sqlite_dir: None,
                    pg_name: Some(name),
                })
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(dir) = self.sqlite_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some(name) = self.pg_name.take() {
            // Drop runs outside async; a short-lived runtime on its own thread
            // drops the database (FORCE ends any connection left behind).
            let admin = postgres_admin_url();
            let done = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(rt) = rt {
                    rt.block_on(async {
                        if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                            let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                                .execute(&mut conn)
                                .await;
                            let _ = conn.close().await;
                        }
                    });
                }
            });
            let _ = done.join();
        }
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub body: Value,
}

impl TestResponse {
    /// The body's `code` (errors), or "".
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    #[track_caller]
    pub fn assert_status(&self, expected: u16) -> &Self {
        assert_eq!(
            self.status.as_u16(),
            expected,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    /// Asserts an error in the API's format with the given status and code.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) -> &Self {
        self.assert_status(status);
        assert_eq!(self.code(), code, "unexpected code; body: {}", self.text);
        assert!(
            self.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "no detail: {}",
            self.text
        );
        self
    }
}

/// The real clock plus an offset a test can move forward, for rules that
/// depend on time passing (token expiry, claim windows).
#[derive(Default)]
pub struct TestClock {
    offset_ms: std::sync::atomic::AtomicI64,
    frozen: std::sync::Mutex<Option<chrono::DateTime<chrono::Utc>>>,
}

impl TestClock {
    pub fn advance(&self, by: chrono::Duration) {
        self.offset_ms
            .fetch_add(by.num_milliseconds(), std::sync::atomic::Ordering::SeqCst);
        if let Ok(mut f) = self.frozen.lock()
            && let Some(t) = f.as_mut()
        {
            *t += by;
        }
    }

    /// Stops the clock at `at` (for rules tested to the second).
    pub fn freeze(&self, at: chrono::DateTime<chrono::Utc>) {
        if let Ok(mut f) = self.frozen.lock() {
            *f = Some(at);
        }
    }
}

impl Clock for TestClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        if let Ok(f) = self.frozen.lock()
            && let Some(t) = *f
        {
            return t;
        }
        chrono::Utc::now()
            + chrono::Duration::milliseconds(
                self.offset_ms.load(std::sync::atomic::Ordering::SeqCst),
            )
    }
}

/// A date `n` days from today (UTC), as YYYY-MM-DD.
pub fn day(n: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(n)).to_string()
}

/// A tour with a daily 09:00 schedule and generated slots on days +3 to +12.
pub struct Fixture {
    pub admin: String,
    pub tour: i64,
    pub schedule: i64,
    /// Slot ids in date order.
    pub slots: Vec<i64>,
    /// Their dates.
    pub dates: Vec<String>,
}

/// Every API path the tests call, in one place: a renamed route is one
/// change here. Ids are anything printable (an `i64`, a `&str`, a JSON
/// value).
pub mod paths {
    use std::fmt::Display;

    pub const BOOKINGS: &str = "/api/calendar/bookings";
    pub const MY_BOOKINGS: &str = "/api/calendar/bookings/user/me";
    pub const QUOTE: &str = "/api/calendar/quote";
    pub const AVAILABILITY: &str = "/api/calendar/availability";
    pub const TOURS: &str = "/api/calendar/tours";
    pub const WAITLIST: &str = "/api/calendar/waitlist";
    pub const MY_WAITLIST: &str = "/api/calendar/waitlist/me";
    pub const ADMIN_TOURS: &str = "/api/calendar/admin/tours";
    pub const ADMIN_SETTINGS: &str = "/api/calendar/admin/settings";
    pub const ADMIN_SCHEDULES: &str = "/api/calendar/admin/schedules";
    pub const ADMIN_BLACKOUTS: &str = "/api/calendar/admin/blackouts";
    pub const ADMIN_BOOKINGS: &str = "/api/calendar/admin/bookings";
    pub const ADMIN_BULK_STATUS: &str = "/api/calendar/admin/bookings/bulk-status";
    pub const ADMIN_WAITLIST: &str = "/api/calendar/admin/waitlist";
    pub const ADMIN_WEBHOOKS: &str = "/api/calendar/admin/webhooks";
    pub const ADMIN_AT_RISK: &str = "/api/calendar/admin/departures/at-risk";

    pub fn booking(id: impl Display) -> String {
        format!("{BOOKINGS}/{id}")
    }
    pub fn tour(id: impl Display) -> String {
        format!("{TOURS}/{id}")
    }
    pub fn waitlist_entry(id: impl Display) -> String {
        format!("{WAITLIST}/{id}")
    }
    pub fn waitlist_claim(id: impl Display) -> String {
        format!("{WAITLIST}/{id}/claim")
    }
    pub fn admin_tour(id: impl Display) -> String {
        format!("{ADMIN_TOURS}/{id}")
    }
    pub fn admin_schedule(id: impl Display) -> String {
        format!("{ADMIN_SCHEDULES}/{id}")
    }
    pub fn admin_blackout(id: impl Display) -> String {
        format!("{ADMIN_BLACKOUTS}/{id}")
    }
    pub fn admin_slot(id: impl Display) -> String {
        format!("/api/calendar/admin/slots/{id}")
    }
    /// `action` is `cancel`, `close`, `manifest`, `guarantee`, `decision`
    /// or `process-waitlist`.
    pub fn admin_slot_action(id: impl Display, action: &str) -> String {
        format!("/api/calendar/admin/slots/{id}/{action}")
    }
    /// `action` is `status`, `history`, `check-in`, `rebook` or `contact`.
    pub fn admin_booking_action(id: impl Display, action: &str) -> String {
        format!("{ADMIN_BOOKINGS}/{id}/{action}")
    }
}

pub struct TestApp {
    pub clock: Arc<TestClock>,
    pub address: String,
    pub client: reqwest::Client,
    pub backend: Backend,
    pub ctx: Context,
    pub config: Arc<Config>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    pub database: TestDatabase,
}

impl TestApp {
    /// Starts the app on a fresh database; `tweak` adjusts the configuration.
    pub async fn spawn(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<TestApp> {
        let database = TestDatabase::create(backend).await?;
        Some(Self::spawn_with(database, tweak).await)
    }

    /// A second server on the database of another test app (that app owns
    /// the database and drops it).
    pub async fn spawn_on(backend: Backend, url: &str, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let database = TestDatabase {
            url: url.to_owned(),
            backend,
            sqlite_dir: None,
            pg_name: None,
        };
        Self::spawn_with(database, tweak).await
    }

    async fn spawn_with(database: TestDatabase, tweak: impl FnOnce(&mut Config)) -> TestApp {
        if std::env::var_os("TEST_LOG").is_some() {
            tourdesk::telemetry::init(tourdesk::config::LogFormat::Text);
        }
        let backend = database.backend;
        let mut config = Config::defaults();
        config.database_url = database.url.clone();
        config.bind_addr = "127.0.0.1:0".parse().expect("loopback address");
        config.create = true;
        // Every test books from one address as few emails; the abuse limits
        // have their own tests, which turn them on in `tweak`.
        config.rate_limit_booking_per_minute = 0;
        config.rate_limit_booking_per_email = 0;
        config.max_pending_per_email = 0;
        // Reads use the calendar cache even right after a write, so every
        // test that writes then reads checks the cache is never stale.
        config.calendar_cache_quiet_ms = 0;
        tweak(&mut config);
        let clock = Arc::new(TestClock::default());
        let db = startup::open_database(&config)
            .await
            .expect("open the test database");
        let ctx = Context::new(db, Settings::default()).with_clock(clock.clone());
        let app = Application::build_with(config.clone(), ctx)
            .await
            .expect("build the application");
        let address = format!("http://127.0.0.1:{}", app.port());
        let ctx = app.context().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async move {
            let _ = rx.await;
        }));
        TestApp {
            clock,
            address,
            client: reqwest::Client::new(),
            backend,
            ctx,
            config: Arc::new(config),
            shutdown: Some(tx),
            server: Some(server),
            database,
        }
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server result");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Sends a request; `body` is sent as JSON when given.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let mut req = self.client.request(method, self.url(path));
        if let Some(body) = body {
            req = req.json(body);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("send the request");
        Self::read(resp).await
    }

    pub async fn read(resp: reqwest::Response) -> TestResponse {
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("read the body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        TestResponse {
            status,
            headers,
            text,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.send(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> TestResponse {
        self.send(Method::POST, path, Some(body), &[]).await
    }

    /// Sends with a bearer token.
    pub async fn send_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> TestResponse {
        let auth = format!("Bearer {token}");
        self.send(method, path, body, &[("authorization", auth.as_str())])
            .await
    }

    pub async fn get_as(&self, token: &str, path: &str) -> TestResponse {
        self.send_as(token, Method::GET, path, None).await
    }

    pub async fn post_as(&self, token: &str, path: &str, body: &Value) -> TestResponse {
        self.send_as(token, Method::POST, path, Some(body)).await
    }

    pub async fn put_as(&self, token: &str, path: &str, body: &Value) -> TestResponse {
        self.send_as(token, Method::PUT, path, Some(body)).await
    }

    pub async fn patch_as(&self, token: &str, path: &str, body: &Value) -> TestResponse {
        self.send_as(token, Method::PATCH, path, Some(body)).await
    }

    pub async fn delete_as(&self, token: &str, path: &str, body: Option<&Value>) -> TestResponse {
        self.send_as(token, Method::DELETE, path, body).await
    }

    /// Creates a booking (`POST /api/calendar/bookings`) as a guest.
    pub async fn create_booking(&self, body: &Value) -> TestResponse {
        self.post(paths::BOOKINGS, body).await
    }

    /// Creates a booking with a bearer token.
    pub async fn create_booking_as(&self, token: &str, body: &Value) -> TestResponse {
        self.post_as(token, paths::BOOKINGS, body).await
    }

    /// Reads a booking with a bearer token (an account's, an admin's or a
    /// manage token).
    pub async fn get_booking(&self, token: &str, id: impl std::fmt::Display) -> TestResponse {
        self.get_as(token, &paths::booking(id)).await
    }

    /// Changes a booking's party or departure (`PUT`).
    pub async fn modify_booking(
        &self,
        token: &str,
        id: impl std::fmt::Display,
        body: &Value,
    ) -> TestResponse {
        self.put_as(token, &paths::booking(id), body).await
    }

    /// Cancels a booking (`DELETE`, with an optional reason).
    pub async fn cancel_booking(
        &self,
        token: &str,
        id: impl std::fmt::Display,
        body: Option<&Value>,
    ) -> TestResponse {
        self.delete_as(token, &paths::booking(id), body).await
    }

    /// Sets a booking's status as an admin.
    pub async fn set_booking_status(
        &self,
        admin: &str,
        id: impl std::fmt::Display,
        body: &Value,
    ) -> TestResponse {
        self.put_as(admin, &paths::admin_booking_action(id, "status"), body)
            .await
    }

    /// Creates a tour (defaults: 180 minutes, 75.00 USD, Asia/Jerusalem)
    /// with `fields` merged over them; returns its id.
    pub async fn tour(&self, admin: &str, fields: Value) -> i64 {
        let mut body = serde_json::json!({
            "name": "Jerusalem Old City Tour", "duration_minutes": 180, "base_price": 75.00
        });
        if let (Some(b), Some(f)) = (body.as_object_mut(), fields.as_object()) {
            for (k, v) in f {
                b.insert(k.clone(), v.clone());
            }
        }
        let r = self
            .post_as(admin, "/api/calendar/admin/tours", &body)
            .await;
        r.assert_status(201);
        r.body["id"].as_i64().expect("tour id")
    }

    /// Creates a daily schedule for a tour with `fields` merged over the
    /// defaults (09:00, capacity 15, from `valid_from`); returns its id.
    pub async fn schedule(
        &self,
        admin: &str,
        tour_id: i64,
        valid_from: &str,
        fields: Value,
    ) -> i64 {
        let mut body = serde_json::json!({
            "tour_id": tour_id, "name": "Mornings", "start_time": "09:00:00", "duration_minutes": 180,
            "recurrence": "daily", "max_capacity": 15, "min_capacity": 1, "valid_from": valid_from
        });
        if let (Some(b), Some(f)) = (body.as_object_mut(), fields.as_object()) {
            for (k, v) in f {
                b.insert(k.clone(), v.clone());
            }
        }
        // Without its departures: each test generates exactly the dates it
        // needs (creation's own generation has its tests in catalog.rs).
        let r = self
            .post_as(admin, "/api/calendar/admin/schedules?generate=false", &body)
            .await;
        r.assert_status(201);
        r.body["id"].as_i64().expect("schedule id")
    }

    pub async fn generate(
        &self,
        admin: &str,
        schedule_id: i64,
        start: &str,
        end: &str,
    ) -> TestResponse {
        let path = format!(
            "/api/calendar/admin/schedules/{schedule_id}/generate-slots?start_date={start}&end_date={end}"
        );
        self.send_as(admin, Method::POST, &path, None).await
    }

    /// A bookable tour: daily at 09:00 (Asia/Jerusalem), `capacity` per slot,
    /// 75.00 USD, slots on days +3 to +12.
    pub async fn fixture(&self, capacity: i64) -> Fixture {
        let admin = self.admin().await;
        let tour = self.tour(&admin, serde_json::json!({})).await;
        let schedule = self
            .schedule(
                &admin,
                tour,
                &day(3),
                serde_json::json!({"max_capacity": capacity}),
            )
            .await;
        let r = self.generate(&admin, schedule, &day(3), &day(12)).await;
        r.assert_status(200);
        // Listed rather than taken from the generation report: the rolling
        // horizon job may have generated some of them first.
        let r = self
            .get(&format!(
                "/api/calendar/tours/{tour}/slots?start_date={}&end_date={}",
                day(3),
                day(12)
            ))
            .await;
        r.assert_status(200);
        let slots: Vec<&Value> = r
            .body
            .as_array()
            .expect("slots")
            .iter()
            .filter(|s| s["schedule_id"] == schedule)
            .collect();
        assert_eq!(slots.len(), 10, "the fixture has ten departures");
        Fixture {
            tour,
            schedule,
            slots: slots.iter().filter_map(|s| s["id"].as_i64()).collect(),
            dates: slots
                .iter()
                .filter_map(|s| s["slot_date"].as_str().map(str::to_owned))
                .collect(),
            admin,
        }
    }

    /// Books as a guest; returns the response.
    pub async fn book(
        &self,
        tour: i64,
        slot: i64,
        adults: i64,
        children: i64,
        infants: i64,
    ) -> TestResponse {
        self.post("/api/calendar/bookings", &serde_json::json!({
            "tour_id": tour, "booking_slot_id": slot, "num_adults": adults, "num_children": children,
            "num_infants": infants, "customer_name": "Guest Person", "customer_email": "guest@example.com"
        })).await
    }

    /// A tour's departures dated `from..=to`, as the public slots view
    /// lists them (in date order).
    pub async fn slots_between(&self, tour: i64, from: &str, to: &str) -> Vec<Value> {
        let r = self
            .get(&format!(
                "/api/calendar/tours/{tour}/slots?start_date={from}&end_date={to}"
            ))
            .await;
        r.assert_status(200);
        r.body.as_array().cloned().unwrap_or_default()
    }

    /// A slot as the public range endpoint shows it.
    pub async fn slot(&self, tour: i64, slot_id: i64) -> Value {
        let r = self
            .get(&format!(
                "/api/calendar/tours/{tour}/slots?start_date={}&end_date={}",
                day(-5),
                day(300)
            ))
            .await;
        r.assert_status(200);
        r.body
            .as_array()
            .and_then(|a| a.iter().find(|s| s["id"] == slot_id).cloned())
            .expect("slot in range")
    }

    /// Design invariant 1, recomputed from the rows: no slot may drift.
    pub async fn assert_consistent(&self) {
        let drift = self.ctx.availability().drift().await.expect("drift query");
        assert!(drift.is_empty(), "counters drifted: {drift:?}");
    }

    /// Registers a customer and logs in; returns the token.
    pub async fn customer(&self, email: &str) -> String {
        self.register(email, "correct horse battery", "Test Customer")
            .await
            .assert_status(201);
        self.login_token(email, "correct horse battery").await
    }

    /// Makes an admin directly through the service and logs in; returns the token.
    pub async fn admin(&self) -> String {
        let email = format!("admin{}@example.com", rand::random::<u32>());
        self.ctx
            .accounts()
            .ensure_admin(&email, "admin password 123", "Admin")
            .await
            .expect("create an admin");
        self.login_token(&email, "admin password 123").await
    }

    pub async fn login_token(&self, email: &str, password: &str) -> String {
        let r = self.login(email, password).await;
        r.assert_status(200);
        r.body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    // --- one method per endpoint ---

    pub async fn register(&self, email: &str, password: &str, name: &str) -> TestResponse {
        self.post(
            "/api/auth/register",
            &serde_json::json!({"email": email, "password": password, "name": name}),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> TestResponse {
        self.post(
            "/api/auth/login",
            &serde_json::json!({"email": email, "password": password}),
        )
        .await
    }

    pub async fn logout(&self, token: &str) -> TestResponse {
        self.send_as(token, Method::POST, "/api/auth/logout", None)
            .await
    }

    pub async fn me(&self, token: &str) -> TestResponse {
        self.send_as(token, Method::GET, "/api/auth/me", None).await
    }

    pub async fn get_healthz(&self) -> TestResponse {
        self.get("/healthz").await
    }

    pub async fn get_readyz(&self) -> TestResponse {
        self.get("/readyz").await
    }

    pub async fn get_openapi(&self) -> TestResponse {
        self.get("/api/openapi.json").await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}
