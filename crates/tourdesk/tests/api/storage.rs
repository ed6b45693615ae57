//! What the environment does to storage, seen from a running server (#14):
//! errors that are the environment's fault answer 503/507, never 500; a
//! database file deleted or replaced under the server refuses writes and
//! fails readiness; a write that has started is never cut off by the
//! request timeout.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use sqlx::Connection;
use tourdesk_store::Backend;

use crate::both_backends;
use crate::helpers::{TestApp, paths};

both_backends!(a_started_write_finishes_after_the_request_timeout);

fn sqlite_path(app: &TestApp) -> std::path::PathBuf {
    let url = &app.database.url;
    std::path::PathBuf::from(url.trim_start_matches("sqlite://"))
}

fn booking(f: &crate::helpers::Fixture, email: &str) -> serde_json::Value {
    json!({"tour_id": f.tour, "booking_slot_id": f.slots[0], "num_adults": 2,
           "customer_name": "Slow Sam", "customer_email": email})
}

/// Writes held up by another transaction outlast the request timeout: the
/// client is answered 408, the booking still completes once the lock is
/// gone, and a retry with the same key returns it (nothing twice).
async fn a_started_write_finishes_after_the_request_timeout(app: TestApp) {
    let f = app.fixture(10).await;
    // A second app on the same database with a one-second request timeout.
    let url = app.database.url.clone();
    let slow = TestApp::spawn_on(app.backend, &url, |c| c.request_timeout_seconds = 1).await;
    // Hold the write lock from outside the server.
    let blocker = match app.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&url)
                .await
                .expect("connect");
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut c)
                .await
                .expect("lock");
            Blocker::Sqlite(c)
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&url).await.expect("connect");
            sqlx::query("BEGIN").execute(&mut c).await.expect("begin");
            sqlx::query("LOCK TABLE booking_slots IN EXCLUSIVE MODE")
                .execute(&mut c)
                .await
                .expect("lock");
            Blocker::Postgres(c)
        }
    };
    let started = Instant::now();
    let r = slow
        .send(
            Method::POST,
            paths::BOOKINGS,
            Some(&booking(&f, "slow@example.com")),
            &[("idempotency-key", "slow-key-1")],
        )
        .await;
    r.assert_error(408, "timeout");
    assert!(
        r.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("Idempotency-Key")),
        "the 408 tells how to learn the outcome: {}",
        r.body
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // Let the held-up write go on after its client was answered.
    tokio::time::sleep(Duration::from_millis(300)).await;
    match blocker {
        Blocker::Sqlite(mut c) => {
            sqlx::query("ROLLBACK")
                .execute(&mut c)
                .await
                .expect("unlock");
        }
        Blocker::Postgres(mut c) => {
            sqlx::query("ROLLBACK")
                .execute(&mut c)
                .await
                .expect("unlock");
        }
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    let found = loop {
        let list = app.get_as(&f.admin, paths::ADMIN_BOOKINGS).await;
        let count = list.body["total"].as_i64().unwrap_or(0);
        if count > 0 || Instant::now() > deadline {
            break count;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(found, 1, "the booking whose client timed out was stored");
    let retry = slow
        .send(
            Method::POST,
            paths::BOOKINGS,
            Some(&booking(&f, "slow@example.com")),
            &[("idempotency-key", "slow-key-1")],
        )
        .await;
    retry.assert_status(201);
    assert_eq!(retry.body["customer_email"], "slow@example.com");
    assert_eq!(
        app.slot(f.tour, f.slots[0]).await["current_bookings"],
        2,
        "one booking, not two"
    );
    app.assert_consistent().await;
}

enum Blocker {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

/// SQLite only: the database file removed under the running server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_database_refuses_writes_and_fails_readiness() {
    let Some(app) = TestApp::spawn(Backend::Sqlite, |_| {}).await else {
        return;
    };
    let f = app.fixture(50).await;
    app.create_booking(&booking(&f, "before@example.com"))
        .await
        .assert_status(201);
    app.get("/readyz").await.assert_status(200);
    let path = sqlite_path(&app);
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
    let r = app.create_booking(&booking(&f, "after@example.com")).await;
    r.assert_error(503, "unavailable");
    assert!(r.headers.contains_key("retry-after"));
    let ready = app.get("/readyz").await;
    ready.assert_status(503);
    let reason = ready.body["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("gone") || reason.contains("deleted"),
        "{reason}"
    );
    // Nothing new appears at the path either: no silent empty database.
    assert!(!path.exists(), "a new database file was created");
}

/// SQLite only: a different file put where the database was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_database_refuses_writes() {
    let Some(app) = TestApp::spawn(Backend::Sqlite, |_| {}).await else {
        return;
    };
    let f = app.fixture(50).await;
    let path = sqlite_path(&app);
    let copy = path.with_extension("copy");
    std::fs::copy(&path, &copy).expect("copy");
    std::fs::rename(&copy, &path).expect("replace");
    let r = app.create_booking(&booking(&f, "after@example.com")).await;
    r.assert_error(503, "unavailable");
    let ready = app.get("/readyz").await;
    ready.assert_status(503);
    assert!(
        ready.body["reason"]
            .as_str()
            .is_some_and(|r| r.contains("replaced")),
        "{}",
        ready.body
    );
}

/// SQLite only: a disk that refuses to grow the database answers 507
/// `storage_full` (nothing changed), and writes work again once it may grow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_507_and_recovers_without_restart() {
    let Some(app) = TestApp::spawn(Backend::Sqlite, |_| {}).await else {
        return;
    };
    let f = app.fixture(500).await;
    // Cap the database at its current size on the writer connection: SQLite
    // then fails every write that needs a new page with SQLITE_FULL.
    {
        let mut tx = app.ctx.db.begin().await.expect("begin");
        let tourdesk_store::ConnRef::Sqlite(c) = tx.conn() else {
            unreachable!("sqlite")
        };
        let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&mut *c)
            .await
            .expect("page_count");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "PRAGMA max_page_count = {pages}"
        )))
        .execute(&mut *c)
        .await
        .expect("cap");
        tx.commit().await.expect("commit");
    }
    let before = app.slot(f.tour, f.slots[0]).await["current_bookings"].clone();
    let mut saw_full = false;
    for i in 0..200 {
        let r = app
            .create_booking(
                &json!({"tour_id": f.tour, "booking_slot_id": f.slots[0], "num_adults": 1,
                        "customer_name": "Full Fay", "special_requirements": "x".repeat(900),
                        "customer_email": format!("full{i}@example.com")}),
            )
            .await;
        assert_ne!(r.status, 500, "a full disk is never a 500: {}", r.body);
        if r.status == 507 {
            r.assert_error(507, "storage_full");
            assert!(r.headers.contains_key("retry-after"));
            saw_full = true;
            break;
        }
        r.assert_status(201);
    }
    assert!(saw_full, "the capped database never filled up");
    let full_at = app.slot(f.tour, f.slots[0]).await["current_bookings"].clone();
    assert!(full_at.as_i64() >= before.as_i64());
    // Lift the cap (on the same writer connection, if it is still the one).
    {
        let mut tx = app
            .ctx
            .db
            .begin()
            .await
            .expect("the writer is usable again");
        let tourdesk_store::ConnRef::Sqlite(c) = tx.conn() else {
            unreachable!("sqlite")
        };
        sqlx::query("PRAGMA max_page_count = 1073741823")
            .execute(&mut *c)
            .await
            .expect("uncap");
        tx.commit().await.expect("commit");
    }
    app.create_booking(&booking(&f, "later@example.com"))
        .await
        .assert_status(201);
    app.get("/readyz").await.assert_status(200);
    app.assert_consistent().await;
}
