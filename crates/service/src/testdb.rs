//! Real databases for this crate's unit tests: a SQLite file in a fresh
//! folder, or a PostgreSQL database with a random name (required under CI,
//! skipped with a note elsewhere when no server answers), migrated.

use std::path::PathBuf;

use sqlx::Connection;
use tourdesk_store::{Db, DbOptions};

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
