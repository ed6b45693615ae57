//! A bulk load followed by `bulk::settle` leaves the database as a running
//! one would be: PostgreSQL vacuumed (no dead row versions left by the
//! counters' recomputation for whatever runs next to step over) and both
//! engines with fresh planner statistics.

use chrono::{Duration, Utc};
use tourdesk_store::bulk::{self, BulkBooking};
use tourdesk_store::{Backend, Db, on};

async fn scalar(db: &Db, sql: &'static str) -> i64 {
    let mut conn = db.read().await.expect("a connection");
    on!(conn, c => sqlx::query_scalar::<_, i64>(sql).fetch_one(c).await).expect(sql)
}

async fn a_settled_load_is_vacuumed_and_analysed(db: Db) {
    let now = Utc::now();
    let mut tx = db.begin().await.expect("begin");
    let tour = crate::testdb::insert_tour(&mut tx, "Loaded tour", "UTC", "USD", 60, now).await;
    let slots: Vec<_> = (1..=200)
        .map(|d| {
            crate::testdb::departure(tour.id, (now + Duration::days(d)).date_naive(), 9, 60, 20)
        })
        .collect();
    let ids = bulk::insert_slots(&mut tx, &slots, now)
        .await
        .expect("slots");
    let bookings: Vec<BulkBooking> = ids
        .iter()
        .enumerate()
        .map(|(i, &slot_id)| BulkBooking {
            reference: format!("BN-{:010}", i + 1),
            tour_id: tour.id,
            slot_id,
            adults: 2,
            price: 10000,
            currency: "USD",
        })
        .collect();
    bulk::insert_bookings(&mut tx, &bookings, now)
        .await
        .expect("bookings");
    bulk::recount_slots(&mut tx).await.expect("recount");
    tx.commit().await.expect("commit");

    bulk::settle(&db).await.expect("settle");

    assert_eq!(
        scalar(
            &db,
            "SELECT CAST(SUM(current_bookings) AS BIGINT) FROM booking_slots"
        )
        .await,
        400,
        "the counters were recomputed before settling"
    );
    match db.backend() {
        Backend::Postgres => {
            // VACUUM reports its own counts when it ends, so they are
            // current as soon as `settle` returns.
            assert_eq!(
                scalar(
                    &db,
                    "SELECT CAST(COUNT(*) AS BIGINT) FROM pg_stat_user_tables \
                     WHERE relname IN ('booking_slots', 'bookings') \
                     AND last_vacuum IS NOT NULL AND last_analyze IS NOT NULL \
                     AND n_dead_tup = 0"
                )
                .await,
                2,
                "both loaded tables vacuumed, analysed, no dead rows"
            );
        }
        Backend::Sqlite => {
            assert!(
                scalar(
                    &db,
                    "SELECT CAST(COUNT(*) AS BIGINT) FROM sqlite_stat1 WHERE tbl = 'booking_slots'"
                )
                .await
                    > 0,
                "statistics gathered for the loaded table"
            );
        }
    }
}

#[tokio::test]
async fn a_settled_load_is_vacuumed_and_analysed_sqlite() {
    let t = crate::testdb::sqlite().await;
    a_settled_load_is_vacuumed_and_analysed(t.db.clone()).await;
    t.finish().await;
}

#[tokio::test]
async fn a_settled_load_is_vacuumed_and_analysed_postgres() {
    let Some(t) = crate::testdb::postgres().await else {
        return;
    };
    a_settled_load_is_vacuumed_and_analysed(t.db.clone()).await;
    t.finish().await;
}
