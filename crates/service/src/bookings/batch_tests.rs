//! A group-commit batch decides each request as if it ran alone.

use chrono::{Duration, Utc};
use tourdesk_store::bulk;
use tourdesk_store::{Db, capacity, on};

use super::*;
use crate::Settings;

fn request(
    ctx: &Context,
    tour_id: i64,
    slot_id: i64,
    adults: i64,
    email: &str,
    key: Option<(&str, &str)>,
) -> CreateRequest {
    let caller = Caller {
        ip: Some("192.0.2.7".into()),
        ..Caller::default()
    };
    CreateRequest {
        req: BookingRequest {
            tour_id,
            booking_slot_id: slot_id,
            num_adults: adults,
            ..BookingRequest::default()
        },
        party: ledger::party(ctx, adults, 0, 0).expect("a valid party"),
        contact: ContactDetails {
            customer_name: "Batch Guest".into(),
            customer_email: email.into(),
            ..ContactDetails::default()
        },
        scope: idempotency_scope(&caller),
        caller,
        idem: key.map(|(key, body)| IdempotencyKey {
            key: key.into(),
            request_hash: body.into(),
        }),
    }
}

fn outcome(a: &ServiceResult<Created>) -> String {
    match a {
        Ok(c) if c.replayed => format!("replayed {}", c.booking.id),
        Ok(c) => format!(
            "created {} ({} people)",
            c.booking.id, c.booking.total_people
        ),
        Err(ServiceError::Busy(_)) => "busy".into(),
        Err(ServiceError::Limited { .. }) => "limited".into(),
        Err(ServiceError::Invalid { field, .. }) => format!("invalid {field}"),
        Err(ServiceError::Conflict { code, .. }) => format!("conflict {code}"),
        Err(ServiceError::Refused { code, .. }) => format!("refused {code}"),
        Err(e) => format!("other {e}"),
    }
}

async fn count(db: &Db, sql: &'static str) -> i64 {
    let mut tx = db.begin().await.expect("begin");
    on!(tx, c => sqlx::query_scalar::<_, i64>(sql).fetch_one(c).await).expect("count")
}

async fn run(ctx: &Context, batch: Vec<CreateRequest>) -> Vec<ServiceResult<Created>> {
    let mut tx = ctx.db.begin().await.expect("begin");
    let answers = Bookings(ctx)
        .create_batch(&mut tx, batch)
        .await
        .expect("the batch's transaction works");
    tx.commit().await.expect("commit");
    answers
}

/// One batch of eleven creates over two departures decides each as it
/// would be decided alone, in arrival order, and writes only what it
/// admitted: one row, token, audit row, event and key each.
async fn a_batch_decides_each_request_as_if_alone(db: Db) {
    let ctx = Context::new(
        db.clone(),
        Settings {
            max_pending_per_email: 2,
            ..Settings::default()
        },
    );
    let now = Utc::now();
    let mut tx = db.begin().await.expect("begin");
    let tour = crate::testdb::insert_tour(&mut tx, "Batch tour", "UTC", "USD", 60, now).await;
    let day = (now + Duration::days(5)).date_naive();
    let slot = |hour, max_capacity| crate::testdb::departure(tour.id, day, hour, 60, max_capacity);
    let ids = bulk::insert_slots(&mut tx, &[slot(9, 10), slot(14, 5)], now)
        .await
        .expect("slots");
    tx.commit().await.expect("commit");
    let (t, a, b) = (tour.id, ids[0], ids[1]);

    let answers = run(
        &ctx,
        vec![
            request(&ctx, t, a, 4, "one@example.com", Some(("K1", "body-1"))),
            request(&ctx, t, a, 7, "two@example.com", None),
            request(&ctx, t, a, 6, "three@example.com", None),
            request(&ctx, t, a, 4, "one@example.com", Some(("K1", "body-1"))),
            request(&ctx, t, a, 8, "four@example.com", Some(("K2", "body-2"))),
            request(&ctx, t, a, 8, "four@example.com", Some(("K2", "body-2"))),
            request(&ctx, t + 1000, b, 1, "five@example.com", None),
            request(&ctx, t, b, 1, "capped@example.com", None),
            request(&ctx, t, b, 1, "Capped@Example.com", None),
            request(&ctx, t, b, 1, "capped@example.com", None),
            request(&ctx, t, b + 1000, 1, "six@example.com", None),
        ],
    )
    .await;
    let got: Vec<String> = answers.iter().map(outcome).collect();
    let id = |i: usize| answers[i].as_ref().map(|c| c.booking.id).unwrap_or(-1);
    assert_eq!(
        got,
        [
            format!("created {} (4 people)", id(0)),
            "refused capacity_exceeded".into(),
            format!("created {} (6 people)", id(2)),
            format!("replayed {}", id(0)),
            "refused capacity_exceeded".into(),
            "busy".into(),
            "invalid tour_id".into(),
            format!("created {} (1 people)", id(7)),
            format!("created {} (1 people)", id(8)),
            "limited".into(),
            "conflict slot_unavailable".into(),
        ],
        "each request's own answer, decided in arrival order"
    );
    let (first, replay) = (answers[0].as_ref(), answers[3].as_ref());
    assert_eq!(
        first.map(|c| &c.manage_token).ok(),
        replay.map(|c| &c.manage_token).ok(),
        "a key used twice in one batch returns the same booking and token"
    );
    if let Err(ServiceError::Refused { message, .. }) = &answers[1] {
        assert!(message.contains("only 6 spot(s) left"), "{message}");
    }

    let mut tx = db.begin().await.expect("begin");
    assert!(capacity::drift(&mut tx).await.expect("drift").is_empty());
    let counters: Vec<(i64, i64)> = on!(tx, c => sqlx::query_as(
        "SELECT id, current_bookings FROM booking_slots ORDER BY id"
    )
    .fetch_all(c)
    .await)
    .expect("counters");
    drop(tx);
    assert_eq!(
        counters,
        [(a, 10), (b, 2)],
        "each counter moved by what it admitted"
    );
    for (sql, want) in [
        ("SELECT COUNT(*) FROM bookings", 4),
        ("SELECT COUNT(*) FROM manage_tokens", 4),
        (
            "SELECT COUNT(*) FROM booking_modification_logs WHERE modification_type = 'created'",
            4,
        ),
        (
            "SELECT COUNT(*) FROM outbox_events WHERE event_type = 'booking.created'",
            4,
        ),
        (
            "SELECT COUNT(*) FROM idempotency_keys WHERE booking_id IS NOT NULL",
            1,
        ),
        ("SELECT COUNT(*) FROM idempotency_keys", 1),
    ] {
        assert_eq!(count(&db, sql).await, want, "{sql}");
    }
    // Each token opens its own booking.
    let mut tx = db.begin().await.expect("begin");
    for i in [0, 2, 7, 8] {
        let c = answers[i].as_ref().expect("created");
        assert!(
            bookings::token_opens_booking(
                &mut tx,
                c.booking.id,
                &hash_secret(&c.manage_token),
                (now - Duration::days(1)).date_naive()
            )
            .await
            .expect("token")
        );
    }
    drop(tx);

    // A later batch: the stored key replays; the key whose first
    // request was refused is decided afresh (and refused: still full).
    let answers = run(
        &ctx,
        vec![
            request(&ctx, t, a, 4, "one@example.com", Some(("K1", "body-1"))),
            request(&ctx, t, a, 8, "four@example.com", Some(("K2", "body-2"))),
            request(&ctx, t, a, 4, "one@example.com", Some(("K1", "other body"))),
        ],
    )
    .await;
    let got: Vec<String> = answers.iter().map(outcome).collect();
    assert_eq!(
        got,
        [
            format!("replayed {}", id(0)),
            "refused capacity_exceeded".into(),
            "invalid Idempotency-Key".into(),
        ]
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM bookings").await, 4);
}

/// The outbox loads a batch of events' bookings, tours, departures and
/// change counts together (one statement each); each event's email comes
/// out exactly as when its event is loaded alone: bookings on two tours in
/// different zones, two departures, one booking changed twice.
async fn a_batch_of_events_renders_as_each_alone(db: Db) {
    let ctx = Context::new(db.clone(), Settings::default());
    let now = Utc::now();
    let mut tx = db.begin().await.expect("begin");
    let day = (now + Duration::days(5)).date_naive();
    let mut departures = Vec::new();
    for (name, zone) in [("Madrid walk", "Europe/Madrid"), ("Harbour cruise", "UTC")] {
        let tour = crate::testdb::insert_tour(&mut tx, name, zone, "EUR", 90, now).await;
        let slot = crate::testdb::departure(tour.id, day, 9, 90, 20);
        let ids = bulk::insert_slots(&mut tx, &[slot], now)
            .await
            .expect("slot");
        departures.push((tour.id, ids[0]));
    }
    tx.commit().await.expect("commit");
    let [(t1, s1), (t2, s2)] = departures[..] else {
        panic!("two departures");
    };
    let answers = run(
        &ctx,
        vec![
            request(&ctx, t1, s1, 2, "ana@example.com", None),
            request(&ctx, t2, s2, 3, "ben@example.com", None),
            request(&ctx, t1, s1, 1, "cy@example.com", None),
        ],
    )
    .await;
    let changed = answers[0].as_ref().map(|c| c.booking.id).expect("created");
    // Two more audit rows for the first booking: its calendar file's
    // SEQUENCE counts them.
    let mut tx = db.begin().await.expect("begin");
    for _ in 0..2 {
        on!(tx, c => sqlx::query(
            "INSERT INTO booking_modification_logs \
             (booking_id, tour_id, actor, modification_type, created_at) \
             VALUES ($1, $2, 'admin', 'modified', $3)",
        )
        .bind(changed)
        .bind(t1)
        .bind(now)
        .execute(c)
        .await
        .map(|_| ()))
        .expect("audit row");
    }
    tx.commit().await.expect("commit");

    let mut tx = db.read().await.expect("read");
    let events = tourdesk_store::audit::undelivered(&mut tx, 100)
        .await
        .expect("events");
    assert_eq!(events.len(), 3, "one booking.created each");
    let today = now.date_naive();
    let mut together = crate::mail::EventData::load_batch(&mut tx, &events, today)
        .await
        .expect("the batch loads");
    for e in &events {
        let mut alone = crate::mail::EventData::load_batch(&mut tx, std::slice::from_ref(e), today)
            .await
            .expect("one event loads");
        let render = |d: &crate::mail::EventData| {
            crate::mail::render_event(e, d, &ctx.mail, now).expect("renders")
        };
        let (Some(a), Some(b)) = (alone.remove(&e.id), together.remove(&e.id)) else {
            panic!("event {} was loaded both ways", e.id);
        };
        let (a, b) = (render(&a), render(&b));
        assert_eq!(a, b, "event {} renders the same in a batch", e.id);
        let ics = b.first().and_then(|m| m.ics.as_deref()).unwrap_or_default();
        assert!(ics.contains("BEGIN:VEVENT"), "a calendar file: {ics}");
        let booking = e.payload.0.get("booking_id").and_then(|v| v.as_i64());
        let sequence = if booking == Some(changed) {
            "SEQUENCE:2"
        } else {
            "SEQUENCE:0"
        };
        assert!(
            ics.contains(sequence),
            "{sequence} for event {}: {ics}",
            e.id
        );
    }
}

#[tokio::test]
async fn a_batch_of_events_renders_as_each_alone_sqlite() {
    let t = crate::testdb::sqlite().await;
    a_batch_of_events_renders_as_each_alone(t.db.clone()).await;
    t.finish().await;
}

#[tokio::test]
async fn a_batch_of_events_renders_as_each_alone_postgres() {
    let Some(t) = crate::testdb::postgres().await else {
        return;
    };
    a_batch_of_events_renders_as_each_alone(t.db.clone()).await;
    t.finish().await;
}

#[tokio::test]
async fn a_batch_decides_each_request_as_if_alone_sqlite() {
    let t = crate::testdb::sqlite().await;
    a_batch_decides_each_request_as_if_alone(t.db.clone()).await;
    t.finish().await;
}

#[tokio::test]
async fn a_batch_decides_each_request_as_if_alone_postgres() {
    let Some(t) = crate::testdb::postgres().await else {
        return;
    };
    a_batch_decides_each_request_as_if_alone(t.db.clone()).await;
    t.finish().await;
}
