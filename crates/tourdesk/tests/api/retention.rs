//! Retention (issue 14): rows past their period go, in batches; rows
//! within it, undelivered outbox events and the audit log stay. Time moves
//! with the test clock, never by sleeping.

use reqwest::Method;
use serde_json::{Value, json};
use tourdesk::startup;
use tourdesk_service::retention::Pruned;
use tourdesk_service::{Admin, Context};
use tourdesk_store::Backend;

use crate::both_backends;
use crate::helpers::{TestApp, paths};

both_backends!(
    rows_past_their_period_go_and_the_rest_stays,
    pruning_runs_beside_bookings
);

/// A single number from the test database, read on its own connection.
async fn scalar(app: &TestApp, sql: &str) -> i64 {
    use sqlx::Connection;
    match app.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&app.database.url)
                .await
                .expect("open the test database");
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(&mut c)
                .await
                .expect(sql)
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&app.database.url)
                .await
                .expect("open the test database");
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(&mut c)
                .await
                .expect(sql)
        }
    }
}

async fn exec(app: &TestApp, sql: &str) {
    use sqlx::Connection;
    match app.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&app.database.url)
                .await
                .expect("open the test database");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut c)
                .await
                .expect(sql);
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&app.database.url)
                .await
                .expect("open the test database");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut c)
                .await
                .expect(sql);
        }
    }
}

/// The rows retention looks at, in one line for assertion messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rows {
    outbox: i64,
    undelivered: i64,
    idempotency: i64,
    manage: i64,
    auth: i64,
    audit: i64,
}

async fn rows(app: &TestApp) -> Rows {
    Rows {
        outbox: scalar(app, "SELECT COUNT(*) FROM outbox_events").await,
        undelivered: scalar(
            app,
            "SELECT COUNT(*) FROM outbox_events WHERE delivered_at IS NULL",
        )
        .await,
        idempotency: scalar(app, "SELECT COUNT(*) FROM idempotency_keys").await,
        manage: scalar(app, "SELECT COUNT(*) FROM manage_tokens").await,
        auth: scalar(app, "SELECT COUNT(*) FROM auth_tokens").await,
        audit: scalar(app, "SELECT COUNT(*) FROM booking_modification_logs").await,
    }
}

fn guest(tour: i64, slot: i64, adults: i64) -> Value {
    json!({"tour_id": tour, "booking_slot_id": slot, "num_adults": adults,
           "customer_name": "Guest Person", "customer_email": "guest@example.com"})
}

/// Whether a manage token still opens its booking, as the service decides.
async fn opens(ctx: &Context, booking_id: i64, token: &str) -> bool {
    let mut conn = ctx.db.read().await.expect("read connection");
    let valid_from = ctx.settings.manage_tokens_valid_from(ctx.clock.now());
    tourdesk_store::bookings::token_opens_booking(
        &mut conn,
        booking_id,
        &tourdesk_service::accounts::hash_secret(token),
        valid_from,
    )
    .await
    .expect("token query")
}

async fn rows_past_their_period_go_and_the_rest_stays(app: TestApp) {
    // A small batch, so every kind that has more than two dead rows takes
    // several transactions.
    let backend = app.backend;
    drop(app);
    let Some(mut app) = TestApp::spawn(backend, |c| c.retention_batch_size = 2).await else {
        return;
    };
    let f = app.fixture(4).await;

    // Login tokens: the fixture's admin, a customer, and a second session
    // of the customer that logs out (revoked).
    let customer = app.customer("carol@example.com").await;
    let second = app
        .login_token("carol@example.com", "correct horse battery")
        .await;
    app.logout(&second).await.assert_status(204);

    // Bookings: two fill the first departure (one with an Idempotency-Key),
    // a third on a departure five days later.
    let r = app
        .send(
            Method::POST,
            paths::BOOKINGS,
            Some(&guest(f.tour, f.slots[0], 2)),
            &[("idempotency-key", "retention-key-1")],
        )
        .await;
    r.assert_status(201);
    let early = r.body["id"].as_i64().expect("id");
    let early_token = r.body["manage_token"].as_str().expect("token").to_owned();
    app.create_booking(&guest(f.tour, f.slots[0], 2))
        .await
        .assert_status(201);
    let r = app.create_booking(&guest(f.tour, f.slots[5], 1)).await;
    r.assert_status(201);
    let late = r.body["id"].as_i64().expect("id");
    let late_token = r.body["manage_token"].as_str().expect("token").to_owned();
    let reference = r.body["booking_reference"]
        .as_str()
        .expect("reference")
        .to_owned();
    // A waitlist entry for the full first departure has a token too.
    app.post(
        paths::WAITLIST,
        &json!({"tour_id": f.tour, "requested_date": f.dates[0], "num_people": 1,
                "customer_name": "Waiting Will", "customer_email": "will@example.com"}),
    )
    .await
    .assert_status(201);
    // Two lookups: the second revokes the first one's token.
    let lookup = format!("/api/calendar/bookings/reference/{reference}?email=guest@example.com");
    let first_lookup = app.get(&lookup).await;
    first_lookup.assert_status(200);
    let first_lookup = first_lookup.body["manage_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let second_lookup = app.get(&lookup).await;
    second_lookup.assert_status(200);
    let second_lookup = second_lookup.body["manage_token"]
        .as_str()
        .expect("token")
        .to_owned();
    app.get_as(&customer, "/api/auth/me")
        .await
        .assert_status(200);

    // From here on nothing runs in the background: the server and its jobs
    // stop, and a context on the same database with the same clock runs
    // the rounds, so each round's counts are its own.
    let config = app.config.clone();
    let clock = app.clock.clone();
    while app
        .ctx
        .notifications()
        .deliver_batch()
        .await
        .expect("deliver")
        > 0
    {}
    app.stop().await;
    let db = startup::open_database(&config).await.expect("reopen");
    let ctx = Context::new(db.clone(), startup::settings(&config)).with_clock(clock.clone());
    let policy = tourdesk::jobs::retention_policy(&config);
    assert_eq!(policy.batch_size, 2);
    assert_eq!(policy.outbox_retention_days, 30);
    let round = || async {
        ctx.retention()
            .prune(&Admin::system(), &policy)
            .await
            .expect("prune")
    };

    // One event's delivery never succeeded: it must outlive every period.
    exec(
        &app,
        "UPDATE outbox_events SET delivered_at = NULL WHERE id = (SELECT MIN(id) FROM outbox_events)",
    )
    .await;
    let start = rows(&app).await;
    assert_eq!(start.outbox, 4, "three bookings, a join: {start:?}");
    assert_eq!(start.undelivered, 1);
    assert_eq!(start.idempotency, 1);
    // Three bookings, the waitlist entry, two lookups.
    assert_eq!(start.manage, 6);
    // The admin, the customer's two sessions.
    assert_eq!(start.auth, 3);
    assert!(start.audit >= 3, "{start:?}");
    // Email is off: each delivered event's message is held for preview.
    let held = scalar(
        &app,
        "SELECT COUNT(*) FROM email_messages WHERE status = 'held'",
    )
    .await;
    assert_eq!(held, 4, "a message per delivered event");

    // Now: only what is revoked is dead.
    let p = round().await;
    assert_eq!(
        (
            p.outbox_events,
            p.idempotency_keys,
            p.manage_tokens,
            p.auth_tokens
        ),
        (0, 0, 1, 1),
        "{p:?}"
    );
    let now = rows(&app).await;
    assert_eq!((now.manage, now.auth), (5, 2), "{now:?}");
    assert!(!opens(&ctx, late, &first_lookup).await);
    assert!(opens(&ctx, late, &second_lookup).await);
    assert!(opens(&ctx, late, &late_token).await);
    assert!(opens(&ctx, early, &early_token).await);
    // A second round right after finds nothing.
    assert_eq!(round().await, Pruned::default());

    // 25 hours on: the idempotency key is past its 24-hour replay window.
    clock.advance(chrono::Duration::hours(25));
    let p = round().await;
    assert_eq!(p.idempotency_keys, 1, "{p:?}");
    assert_eq!(p.total(), 1, "{p:?}");

    // 8 days on: the login tokens (7 days) have expired.
    clock.advance(chrono::Duration::days(7));
    let p = round().await;
    assert_eq!(p.auth_tokens, 2, "{p:?}");
    assert_eq!(p.total(), 2, "{p:?}");
    assert!(p.batches >= 1);

    // 31 days on: delivered events are past OUTBOX_RETENTION_DAYS (30);
    // the undelivered one stays. Manage tokens still work (the first
    // departure was 3 days out, plus 30 days).
    clock.advance(chrono::Duration::days(23));
    let p = round().await;
    assert_eq!(p.outbox_events as i64, start.outbox - 1, "{p:?}");
    assert!(
        p.batches >= 2,
        "{} events in batches of 2: {p:?}",
        p.outbox_events
    );
    // Their held messages go with them.
    assert_eq!(p.email_messages as i64, held, "{p:?}");
    assert_eq!(p.total(), p.outbox_events + p.email_messages, "{p:?}");
    assert_eq!(scalar(&app, "SELECT COUNT(*) FROM email_messages").await, 0);
    let now = rows(&app).await;
    assert_eq!((now.outbox, now.undelivered), (1, 1), "{now:?}");
    assert!(opens(&ctx, early, &early_token).await);

    // 35 days on: 32 days past the first departure, the tokens of its two
    // bookings and of the waitlist entry for it are dead; those of the
    // departure 8 days out (27 days past) still work.
    clock.advance(chrono::Duration::days(4));
    let p = round().await;
    assert_eq!(p.manage_tokens, 3, "{p:?}");
    assert_eq!(p.total(), 3, "{p:?}");
    assert!(p.batches >= 2, "{p:?}");
    assert!(!opens(&ctx, early, &early_token).await);
    assert!(opens(&ctx, late, &late_token).await);
    assert!(opens(&ctx, late, &second_lookup).await);

    let end = rows(&app).await;
    assert_eq!(
        end,
        Rows {
            outbox: 1,
            undelivered: 1,
            idempotency: 0,
            manage: 2,
            auth: 0,
            audit: start.audit,
        },
        "the audit log is kept whole"
    );
    let bookings = scalar(&app, "SELECT COUNT(*) FROM bookings").await;
    assert_eq!(bookings, 3, "retention never deletes a booking");
    db.close().await;
}

/// Thousands of dead rows pruned in batches while guests keep booking:
/// every booking succeeds and every dead row goes.
async fn pruning_runs_beside_bookings(app: TestApp) {
    let backend = app.backend;
    drop(app);
    let Some(app) = TestApp::spawn(backend, |c| c.retention_batch_size = 100).await else {
        return;
    };
    let f = app.fixture(200).await;
    let user: i64 = scalar(&app, "SELECT MIN(id) FROM users").await;
    let ts = |t: &str| match backend {
        Backend::Sqlite => format!("'{t}'"),
        Backend::Postgres => format!("TIMESTAMPTZ '{t}'"),
    };
    let (created, expired) = (
        ts("2020-01-01T00:00:00+00:00"),
        ts("2020-01-08T00:00:00+00:00"),
    );
    exec(
        &app,
        &format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) \
             INSERT INTO auth_tokens (user_id, token_hash, created_at, expires_at) \
             SELECT {user}, 'dead-' || CAST(i AS TEXT), {created}, {expired} FROM n"
        ),
    )
    .await;
    let live = rows(&app).await.auth;
    assert_eq!(live, 3001, "the fixture's admin and 3000 expired tokens");

    let booking = async {
        let mut made = 0;
        for i in 0..40 {
            let r = app.create_booking(&guest(f.tour, f.slots[i % 10], 1)).await;
            r.assert_status(201);
            made += 1;
        }
        made
    };
    let policy = tourdesk::jobs::retention_policy(&app.config);
    let system = Admin::system();
    let retention = app.ctx.retention();
    let pruning = retention.prune(&system, &policy);
    let (made, pruned) = tokio::join!(booking, pruning);
    let pruned = pruned.expect("prune");
    assert_eq!(made, 40);
    assert_eq!(pruned.auth_tokens, 3000, "{pruned:?}");
    assert_eq!(
        pruned.batches, 30,
        "3000 rows in batches of 100: {pruned:?}"
    );
    assert_eq!(rows(&app).await.auth, 1, "the live admin token stays");
    let n = scalar(&app, "SELECT COUNT(*) FROM bookings").await;
    assert_eq!(n, 40);
    app.assert_consistent().await;
}
