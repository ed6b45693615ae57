//! Real databases for this crate's unit tests: a SQLite file in a fresh
//! folder, or a PostgreSQL database with a random name (required under CI,
//! skipped with a note elsewhere when no server answers), migrated.

use std::path::PathBuf;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use sqlx::Connection;
use tourdesk_store::bulk::BulkSlot;
use tourdesk_store::tours::{self, TourFields, TourRow};
use tourdesk_store::{Db, DbOptions, Tx};

pub(crate) struct TestDb {
    pub db: Db,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    Postgres {
        admin: sqlx::PgConnection,
        name: String,
    },
}

pub(crate) async fn sqlite() -> TestDb {
    let dir = std::env::temp_dir().join(format!("tourdesk-svc-{:016x}", rand::random::<u64>()));
    let mut opts = DbOptions::new(format!("sqlite://{}/t.db", dir.display()));
    opts.create = true;
    let db = Db::connect(&opts).await.expect("connect to SQLite");
    db.migrate().await.expect("migrate");
    TestDb {
        db,
        cleanup: Cleanup::Dir(dir),
    }
}

/// `None` when PostgreSQL is unreachable outside CI.
pub(crate) async fn postgres() -> Option<TestDb> {
    let url = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let mut admin = match sqlx::PgConnection::connect(&url).await {
        Ok(c) => c,
        Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("skipped: PostgreSQL unreachable at {url}: {e}");
            return None;
        }
        Err(e) => panic!("PostgreSQL is required under CI: {e}"),
    };
    let name = format!("tourdesk_svc_{:x}", rand::random::<u64>());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create the test database");
    let base = url.rsplit_once('/').map_or(url.as_str(), |(b, _)| b);
    let db = Db::connect(&DbOptions::new(format!("{base}/{name}")))
        .await
        .expect("connect to the test database");
    db.migrate().await.expect("migrate");
    Some(TestDb {
        db,
        cleanup: Cleanup::Postgres { admin, name },
    })
}

impl TestDb {
    pub(crate) async fn finish(self) {
        self.db.close().await;
        match self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Postgres { mut admin, name } => {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await;
            }
        }
    }
}

/// A tour on sale, priced 50.00 a person, for tests that load departures
/// in bulk.
pub(crate) async fn insert_tour(
    tx: &mut Tx,
    name: &str,
    timezone: &str,
    currency: &str,
    duration_minutes: i64,
    now: DateTime<Utc>,
) -> TourRow {
    tours::insert_tour(
        tx,
        &TourFields {
            name,
            description: "",
            duration_minutes,
            base_price: 5000,
            currency,
            timezone,
            is_active: true,
            cancellation_policy: None,
            party_rules: None,
        },
        now,
    )
    .await
    .expect("insert a tour")
}

/// A departure of `tour_id` on `day` at `hour`:00 (read as UTC), lasting
/// `minutes`, for `bulk::insert_slots`.
pub(crate) fn departure(
    tour_id: i64,
    day: NaiveDate,
    hour: u32,
    minutes: i64,
    max_capacity: i64,
) -> BulkSlot {
    let start = NaiveTime::from_hms_opt(hour, 0, 0).expect("an hour of the day");
    BulkSlot {
        tour_id,
        slot_date: day,
        start_time: start,
        end_time: start + Duration::minutes(minutes),
        starts_at: day.and_time(start).and_utc(),
        max_capacity,
        price_per_person: 5000,
    }
}
