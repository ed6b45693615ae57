//! Bulk loading for benchmarks and demos: multi-row inserts that bypass the
//! per-request path, followed by one recomputation of the slot counters, so
//! the loaded data satisfies design invariant 1 like any other, and by
//! [`settle`], so the database is in the state a running one would be.

use crate::{StoreResult, Tx, built, exec, holding_statuses, on};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

/// A slot to load (counters start at zero).
pub struct BulkSlot {
    pub tour_id: i64,
    pub slot_date: NaiveDate,
    pub start_time: NaiveTime,
    pub end_time: NaiveTime,
    pub starts_at: DateTime<Utc>,
    pub max_capacity: i64,
    pub price_per_person: i64,
}

/// A confirmed booking to load.
pub struct BulkBooking {
    pub reference: String,
    pub tour_id: i64,
    pub slot_id: i64,
    pub adults: i64,
    pub price: i64,
    pub currency: &'static str,
}

const CHUNK: usize = 500;

/// Inserts slots and returns their ids in order.
pub async fn insert_slots(
    tx: &mut Tx,
    slots: &[BulkSlot],
    now: DateTime<Utc>,
) -> StoreResult<Vec<i64>> {
    let mut ids = Vec::with_capacity(slots.len());
    for chunk in slots.chunks(CHUNK) {
        let got = built!(
            tx,
            "INSERT INTO booking_slots (tour_id, slot_date, start_time, end_time, starts_at, max_capacity, \
                     price_per_person, created_at, updated_at) ",
            |qb, c| {
                qb.push_values(chunk, |mut b, s| {
                    b.push_bind(s.tour_id)
                        .push_bind(s.slot_date)
                        .push_bind(s.start_time)
                        .push_bind(s.end_time)
                        .push_bind(s.starts_at)
                        .push_bind(s.max_capacity)
                        .push_bind(s.price_per_person)
                        .push_bind(now)
                        .push_bind(now);
                });
                qb.push(" RETURNING id");
                let got: Vec<i64> = qb.build_query_scalar().fetch_all(c).await?;
                got
            }
        );
        ids.extend(got);
    }
    Ok(ids)
}

/// Inserts confirmed bookings (prices without children or tax detail).
pub async fn insert_bookings(
    tx: &mut Tx,
    bookings: &[BulkBooking],
    now: DateTime<Utc>,
) -> StoreResult<()> {
    for chunk in bookings.chunks(CHUNK) {
        built!(
            tx,
            "INSERT INTO bookings (booking_reference, tour_id, booking_slot_id, num_adults, num_children, \
                     num_infants, total_people, price_per_adult, price_per_child, price_per_infant, subtotal, \
                     discount_amount, tax_amount, total_amount, currency, customer_name, customer_email, status, \
                     created_at, modified_at, seats) ",
            |qb, c| {
                qb.push_values(chunk, |mut b, k| {
                    b.push_bind(&k.reference)
                        .push_bind(k.tour_id)
                        .push_bind(k.slot_id)
                        .push_bind(k.adults)
                        .push_bind(0i64)
                        .push_bind(0i64)
                        .push_bind(k.adults)
                        .push_bind(k.price)
                        .push_bind(k.price)
                        .push_bind(0i64)
                        .push_bind(k.price * k.adults)
                        .push_bind(0i64)
                        .push_bind(0i64)
                        .push_bind(k.price * k.adults)
                        .push_bind(k.currency)
                        .push_bind("Bench Guest")
                        .push_bind("bench@example.com")
                        .push_bind("confirmed")
                        .push_bind(now)
                        .push_bind(now)
                        .push_bind(k.adults);
                });
                qb.build().execute(c).await?;
            }
        )
    }
    Ok(())
}

/// Sets every slot's `current_bookings` from its capacity-holding bookings.
pub async fn recount_slots(tx: &mut Tx) -> StoreResult<u64> {
    const SQL: &str = concat!(
        "UPDATE booking_slots SET current_bookings = COALESCE((SELECT SUM(seats) FROM bookings b \
         WHERE b.booking_slot_id = booking_slots.id AND b.status IN ",
        holding_statuses!(),
        "), 0), revision = revision + 1"
    );
    exec!(tx, sqlx::query(SQL))
}

/// Ids of bookings with an id of at least `min_id` (correctness checks).
pub async fn booking_ids_from(tx: &mut Tx, min_id: i64) -> StoreResult<Vec<i64>> {
    Ok(
        on!(tx, c => sqlx::query_scalar("SELECT id FROM bookings WHERE id >= $1 ORDER BY id").bind(min_id).fetch_all(c).await)?,
    )
}

pub async fn max_booking_id(tx: &mut Tx) -> StoreResult<i64> {
    Ok(
        on!(tx, c => sqlx::query_scalar("SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM bookings").fetch_one(c).await)?,
    )
}

/// Refreshes the planner's statistics after a bulk load.
async fn analyze(tx: &mut Tx) -> StoreResult<()> {
    exec!(tx, sqlx::query("ANALYZE"))?;
    Ok(())
}

/// Brings a freshly loaded database to the state a running one is in:
/// statistics refreshed and, on PostgreSQL, the load vacuumed. A bulk load
/// leaves PostgreSQL with a dead version of every row the counters'
/// recomputation rewrote, no visibility map and no hint bits, which the
/// first reads of each page and autovacuum then pay for, in the middle of
/// whatever runs next; `VACUUM` cannot run inside a transaction, so this
/// takes a connection of its own.
pub async fn settle(db: &crate::Db) -> StoreResult<()> {
    match db.backend() {
        crate::Backend::Postgres => {
            let mut conn = db.read().await?;
            exec!(conn, sqlx::query("VACUUM (ANALYZE)"))?;
        }
        crate::Backend::Sqlite => {
            let mut tx = db.begin().await?;
            analyze(&mut tx).await?;
            tx.commit().await?;
        }
    }
    Ok(())
}

/// Whether the database holds any operator data (tours, blackouts,
/// bookings): the demo only seeds a database where this is false.
pub async fn holds_operator_data(tx: &mut Tx) -> StoreResult<bool> {
    const SQL: &str = "SELECT CAST((SELECT COUNT(*) FROM tours) + (SELECT COUNT(*) FROM blackout_dates) \
         + (SELECT COUNT(*) FROM bookings) AS BIGINT)";
    let n: i64 = on!(tx, c => sqlx::query_scalar(SQL).fetch_one(c).await)?;
    Ok(n > 0)
}

/// Deletes every row of the operator's data (children before parents) in
/// `tx`: how a failed demo seed undoes itself. Only for a database that
/// held no operator data before (see [`holds_operator_data`]).
pub async fn erase_operator_data(tx: &mut Tx) -> StoreResult<()> {
    const TABLES: [&str; 11] = [
        "DELETE FROM calendar_feed_tokens",
        "DELETE FROM manage_tokens",
        "DELETE FROM idempotency_keys",
        "DELETE FROM outbox_events",
        "DELETE FROM booking_modification_logs",
        "DELETE FROM waitlist_entries",
        "DELETE FROM bookings",
        "DELETE FROM booking_slots",
        "DELETE FROM blackout_dates",
        "DELETE FROM tour_schedules",
        "DELETE FROM tours",
    ];
    for sql in TABLES {
        exec!(tx, sqlx::query(sqlx::AssertSqlSafe(sql)))?;
    }
    Ok(())
}
