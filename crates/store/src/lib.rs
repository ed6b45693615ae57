//! Tourdesk's storage layer: the schema, its migrations and every SQL
//! statement of the product, for SQLite (the embedded default) and
//! PostgreSQL (production).
//!
//! Each statement is written once. The [`on!`] macro expands a query body
//! once per engine, so the same text is type-checked against both drivers
//! while each keeps its native types (DATE, TIME, TIMESTAMPTZ on PostgreSQL).
//! Placeholders are `$1, $2, ...`, which both engines accept.

pub mod audit;
pub mod backup;
pub mod blackouts;
pub mod bookings;
pub mod bulk;
pub mod calendar;
pub mod capacity;
pub mod changes;
mod db;
mod error;
pub mod messages;
mod migrate;
pub mod monitoring;
pub mod reports;
pub mod retention;
pub mod schedules;
pub mod slots;
pub mod tours;
pub mod users;
pub mod waitlist;
pub mod wal;
pub mod webhooks;

pub use db::{Backend, ConnRef, Db, DbOptions, PoolStats, Tx, redact_url};
pub use error::{StoreError, StoreResult, constraint};

/// Runs `$body` with `$c` bound to the engine's concrete connection
/// (`&mut SqliteConnection` or `&mut PgConnection`).
#[macro_export]
macro_rules! on {
    ($tx:expr, $c:ident => $body:expr) => {
        match $tx.conn() {
            $crate::ConnRef::Sqlite($c) => $body,
            $crate::ConnRef::Postgres($c) => $body,
        }
    };
}

/// The booking statuses whose seats count against a departure's capacity,
/// as an SQL list: the one place SQL names them. The domain's
/// `BookingStatus::holds_capacity` says the same; a test holds the two
/// together.
#[macro_export]
macro_rules! holding_statuses {
    () => {
        "('pending', 'confirmed', 'completed', 'no_show')"
    };
}

/// Builds and runs a statement with a [`sqlx::QueryBuilder`] for the
/// transaction's engine (multi-row `VALUES`, `IN` lists): `$body` runs with
/// `$qb` started from `$sql` and `$c` bound to the engine's connection.
#[macro_export]
macro_rules! built {
    ($tx:expr, $sql:expr, |$qb:ident, $c:ident| $body:expr) => {
        match $tx.conn() {
            $crate::ConnRef::Sqlite($c) => {
                let mut $qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new($sql);
                $body
            }
            $crate::ConnRef::Postgres($c) => {
                let mut $qb = sqlx::QueryBuilder::<sqlx::Postgres>::new($sql);
                $body
            }
        }
    };
}

/// The rows `$sql` finds for `$ids`, where `$sql` ends in `IN (` and the
/// ids complete the list, followed by `$tail` (`)` and any `GROUP BY` or
/// `ORDER BY`): one statement per 500 ids (under both engines' limits on
/// bound parameters). Evaluates to `StoreResult<Vec<_>>` of the rows.
#[macro_export]
macro_rules! rows_for_ids {
    ($tx:expr, $sql:expr, $ids:expr, $tail:expr) => {
        async {
            let mut found = Vec::with_capacity($ids.len());
            for chunk in $ids.chunks(500) {
                found.extend($crate::built!($tx, $sql, |qb, c| {
                    let mut list = qb.separated(", ");
                    for id in chunk {
                        list.push_bind(*id);
                    }
                    qb.push($tail);
                    qb.build_query_as().fetch_all(c).await?
                }));
            }
            $crate::StoreResult::Ok(found)
        }
        .await
    };
}

/// Executes a statement built by `$query` on either engine; evaluates to
/// `StoreResult<u64>`, the number of rows affected.
#[macro_export]
macro_rules! exec {
    ($tx:expr, $query:expr) => {
        $crate::on!($tx, c => $query.execute(c).await.map(|r| r.rows_affected()))
            .map_err($crate::StoreError::from)
    };
}

/// Runs a query whose rows must not change under the caller: on PostgreSQL
/// `$lock` (e.g. `FOR UPDATE SKIP LOCKED`) is appended to `$sql`; SQLite runs
/// one writer at a time, so its transaction already excludes the others.
/// `$sql` must expand to a string literal; `$q` names the final text in
/// `$body`, which runs with `$c` bound to the engine's connection.
#[macro_export]
macro_rules! locked {
    ($tx:expr, $sql:expr, $lock:literal, |$c:ident, $q:ident| $body:expr) => {
        match $tx.conn() {
            $crate::ConnRef::Postgres($c) => {
                const $q: &str = concat!($sql, " ", $lock);
                $body
            }
            $crate::ConnRef::Sqlite($c) => {
                const $q: &str = $sql;
                $body
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use tourdesk_domain::booking::BookingStatus;

    /// SQL's list of capacity-holding statuses is the domain's.
    #[test]
    fn the_sql_list_of_holding_statuses_is_the_domains() {
        let domain: Vec<String> = BookingStatus::ALL
            .into_iter()
            .filter(|s| s.holds_capacity())
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        assert_eq!(holding_statuses!(), format!("({})", domain.join(", ")));
    }
}
