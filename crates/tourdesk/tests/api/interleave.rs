//! Deterministic interleavings of concurrent writes, on PostgreSQL only.
//!
//! Each test opens a second connection, takes a row (or table) lock in an
//! open transaction, fires HTTP requests in tasks, waits until they are
//! queued behind a lock — or have already answered: an implementation that
//! locks in another order may block elsewhere, or not at all — and then
//! releases the lock. Only the final outcome is asserted: no 5xx, no 404 for
//! a booking that exists, answers that are true of the final state, no
//! capacity-holding booking on a cancelled departure, and slot counters that
//! agree with the rows.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use tokio::task::JoinHandle;
use tourdesk_store::Backend;

use crate::helpers::{TestApp, TestResponse, paths};

/// Every HTTP call answers within this, or the test fails (never hangs).
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long requests may take to queue behind a lock (or answer).
const QUEUE_TIMEOUT: Duration = Duration::from_secs(10);
/// Booking statuses whose people count against the departure.
const HOLDING: [&str; 4] = ["pending", "confirmed", "completed", "no_show"];

/// Backends of this database waiting for a lock (rows, tables, advisory).
const LOCK_WAITERS: &str = "SELECT count(*) FROM pg_stat_activity \
     WHERE datname = current_database() AND wait_event_type = 'Lock'";

/// The app on a fresh PostgreSQL database; `None` (skipped) when the server
/// is unreachable outside CI, as the harness decides.
async fn spawn_app() -> Option<Arc<TestApp>> {
    TestApp::spawn(Backend::Postgres, |_| {})
        .await
        .map(Arc::new)
}

async fn connect(app: &TestApp) -> PgConnection {
    PgConnection::connect(&app.database.url)
        .await
        .expect("open a second connection to the test database")
}

/// A second connection holding locks in an open transaction.
struct Locker {
    conn: PgConnection,
}

impl Locker {
    async fn begin(app: &TestApp) -> Locker {
        let mut conn = connect(app).await;
        sqlx::query("BEGIN")
            .execute(&mut conn)
            .await
            .expect("BEGIN on the locking connection");
        Locker { conn }
    }

    async fn lock_row(&mut self, sql: &'static str, id: i64) {
        let found: Option<i64> = sqlx::query_scalar(sql)
            .bind(id)
            .fetch_optional(&mut self.conn)
            .await
            .expect("take the row lock");
        assert_eq!(found, Some(id), "no row {id} to lock ({sql})");
    }

    /// Locks a departure's row.
    async fn lock_slot(&mut self, id: i64) {
        self.lock_row("SELECT id FROM booking_slots WHERE id = $1 FOR UPDATE", id)
            .await;
    }

    /// Locks a booking's row.
    async fn lock_booking(&mut self, id: i64) {
        self.lock_row("SELECT id FROM bookings WHERE id = $1 FOR UPDATE", id)
            .await;
    }

    /// Locks the whole waitlist table, even against plain reads.
    async fn lock_waitlist_table(&mut self) {
        sqlx::query("LOCK TABLE waitlist_entries IN ACCESS EXCLUSIVE MODE")
            .execute(&mut self.conn)
            .await
            .expect("lock the waitlist table");
    }

    /// Ends the transaction (it changed nothing) and lets the queue go.
    async fn release(mut self) {
        sqlx::query("ROLLBACK")
            .execute(&mut self.conn)
            .await
            .expect("ROLLBACK on the locking connection");
        let _ = self.conn.close().await;
    }
}

/// An HTTP request running in its own task.
struct Request {
    what: String,
    handle: JoinHandle<TestResponse>,
}

impl Request {
    /// Sends the request now, as `token`'s holder (or anonymously).
    fn fire(
        app: &Arc<TestApp>,
        token: Option<&str>,
        method: Method,
        path: String,
        body: Option<Value>,
    ) -> Request {
        let what = format!("{method} {path}");
        let label = what.clone();
        let app = Arc::clone(app);
        let auth = token.map(|t| format!("Bearer {t}"));
        let handle = tokio::spawn(async move {
            let headers: Vec<(&str, &str)> =
                auth.iter().map(|a| ("authorization", a.as_str())).collect();
            let call = app.send(method, &path, body.as_ref(), &headers);
            match tokio::time::timeout(HTTP_TIMEOUT, call).await {
                Ok(r) => r,
                Err(_) => panic!("{label} did not answer within {HTTP_TIMEOUT:?}"),
            }
        });
        Request { what, handle }
    }

    fn answered(&self) -> bool {
        self.handle.is_finished()
    }

    async fn answer(self) -> Answer {
        match self.handle.await {
            Ok(r) => Answer { what: self.what, r },
            Err(e) => panic!("{}: {e}", self.what),
        }
    }
}

/// A request's answer, with what was asked.
struct Answer {
    what: String,
    r: TestResponse,
}

impl Answer {
    fn status(&self) -> u16 {
        self.r.status.as_u16()
    }

    /// What was asked and the answer, its body cut to 240 characters.
    fn describe(&self) -> String {
        let body: String = self.r.text.chars().take(240).collect();
        let cut = if body.len() < self.r.text.len() {
            "…"
        } else {
            ""
        };
        format!("{} -> {} {body}{cut}", self.what, self.status())
    }
}

/// Waits until each of `requests` is either waiting for a lock or has
/// answered; fails the test after QUEUE_TIMEOUT. Never assumes a request is
/// blocked: a correct implementation may not block where the old one did.
async fn wait_queued(monitor: &mut PgConnection, requests: &[&Request], what: &str) {
    let deadline = Instant::now() + QUEUE_TIMEOUT;
    loop {
        let waiting: i64 = sqlx::query_scalar(LOCK_WAITERS)
            .fetch_one(&mut *monitor)
            .await
            .expect("read pg_stat_activity");
        let answered = requests.iter().filter(|r| r.answered()).count();
        if waiting + answered as i64 >= requests.len() as i64 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: after {QUEUE_TIMEOUT:?} expected {} request(s) to be waiting on a lock or answered, \
             but {waiting} wait(s) on a lock and {answered} answered",
            requests.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The problems a test found; reported together at the end.
struct Verdict {
    test: &'static str,
    answers: Vec<String>,
    problems: Vec<String>,
}

impl Verdict {
    fn new(test: &'static str) -> Verdict {
        Verdict {
            test,
            answers: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// Records an answer; any 5xx is a problem.
    fn answered(&mut self, a: &Answer) {
        eprintln!("[{}] {}", self.test, a.describe());
        self.answers.push(a.describe());
        if a.status() >= 500 {
            self.problems
                .push(format!("server error: {}", a.describe()));
        }
    }

    fn check(&mut self, ok: bool, problem: impl FnOnce() -> String) {
        if !ok {
            self.problems.push(problem());
        }
    }

    /// Design invariant 1: every slot's counters agree with its rows.
    async fn counters(&mut self, app: &TestApp) {
        let drift = app.ctx.availability().drift().await.expect("drift query");
        self.check(drift.is_empty(), || format!("counters drifted: {drift:?}"));
    }

    #[track_caller]
    fn finish(self) {
        assert!(
            self.problems.is_empty(),
            "{}: {} problem(s):\n  - {}\nanswers:\n  - {}",
            self.test,
            self.problems.len(),
            self.problems.join("\n  - "),
            self.answers.join("\n  - ")
        );
    }
}

/// Books `adults` as a guest; returns the booking id.
async fn booked(app: &TestApp, tour: i64, slot: i64, adults: i64) -> i64 {
    let r = app.book(tour, slot, adults, 0, 0).await;
    r.assert_status(201);
    r.body["id"].as_i64().expect("booking id")
}

fn booking_body(tour: i64, slot: i64, adults: i64) -> Value {
    json!({
        "tour_id": tour, "booking_slot_id": slot, "num_adults": adults, "num_children": 0,
        "num_infants": 0, "customer_name": "Guest Person", "customer_email": "guest@example.com"
    })
}

/// A booking as an admin reads it; a missing booking is a problem.
async fn booking(app: &TestApp, admin: &str, id: i64, v: &mut Verdict) -> Value {
    let r = app.get_booking(admin, id).await;
    v.check(r.status.as_u16() == 200, || {
        format!("GET booking {id} -> {} {}", r.status, r.text)
    });
    r.body
}

fn status_of(b: &Value) -> &str {
    b["status"].as_str().unwrap_or("?")
}

fn holds(b: &Value) -> bool {
    HOLDING.contains(&status_of(b))
}

/// A departure's manifest (its slot and capacity-holding bookings).
async fn manifest(app: &TestApp, admin: &str, slot: i64) -> Value {
    let r = app
        .get_as(admin, &paths::admin_slot_action(slot, "manifest"))
        .await;
    r.assert_status(200);
    r.body
}

/// A cancelled departure holds nobody: checks the manifest of `slot`.
async fn departure_is_empty(app: &TestApp, admin: &str, slot: i64, v: &mut Verdict) {
    let m = manifest(app, admin, slot).await;
    v.check(m["slot"]["is_cancelled"] == true, || {
        format!(
            "departure {slot} acknowledged cancelled but is not: {}",
            m["slot"]
        )
    });
    let active = m["bookings"].as_array().map_or(0, Vec::len);
    v.check(active == 0, || {
        format!(
            "cancelled departure {slot} still has {active} capacity-holding booking(s): {}",
            m["bookings"]
        )
    });
    v.check(m["slot"]["current_bookings"] == 0, || {
        format!(
            "cancelled departure {slot} still counts {} booked people",
            m["slot"]["current_bookings"]
        )
    });
}

fn cancel_departure(app: &Arc<TestApp>, admin: &str, slot: i64) -> Request {
    Request::fire(
        app,
        Some(admin),
        Method::POST,
        paths::admin_slot_action(slot, "cancel"),
        Some(json!({"reason": "Storm warning"})),
    )
}

fn modify(app: &Arc<TestApp>, admin: &str, booking: i64, body: Value) -> Request {
    Request::fire(
        app,
        Some(admin),
        Method::PUT,
        paths::booking(booking),
        Some(body),
    )
}

/// Defect 1. The departure cancel reads the slot and lists its bookings
/// without a lock, so a booking created meanwhile stays active (and counted)
/// on the cancelled departure.
///
/// Interleaving: a second connection locks existing booking A's row; the
/// departure cancel queues behind it (old code: at A's status update, after
/// listing bookings); a new booking C on the departure is created meanwhile
/// (old code: nothing stops it; a fixed cancel holds the slot row, so C
/// queues); then A is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_booking_created_while_its_departure_is_cancelled_is_refused_or_cancelled() {
    let Some(app) = spawn_app().await else {
        return;
    };
    let f = app.fixture(10).await;
    let slot = f.slots[0];
    let a = booked(&app, f.tour, slot, 2).await;
    let mut monitor = connect(&app).await;

    let mut locker = Locker::begin(&app).await;
    locker.lock_booking(a).await;
    let cancel = cancel_departure(&app, &f.admin, slot);
    wait_queued(
        &mut monitor,
        &[&cancel],
        "departure cancel behind booking A",
    )
    .await;
    let create = Request::fire(
        &app,
        None,
        Method::POST,
        paths::BOOKINGS.into(),
        Some(booking_body(f.tour, slot, 3)),
    );
    wait_queued(
        &mut monitor,
        &[&cancel, &create],
        "departure cancel and new booking",
    )
    .await;
    locker.release().await;
    let cancel = cancel.answer().await;
    let create = create.answer().await;

    let mut v = Verdict::new("defect 1: booking created during a departure cancel");
    v.answered(&cancel);
    v.answered(&create);
    v.check(cancel.status() == 200, || {
        format!(
            "the departure cancel was not acknowledged: {}",
            cancel.describe()
        )
    });
    let a_now = booking(&app, &f.admin, a, &mut v).await;
    v.check(!holds(&a_now), || {
        format!(
            "booking A {a} is still {} after its departure was cancelled",
            status_of(&a_now)
        )
    });
    match create.status() {
        201 => {
            let c = create.r.body["id"].as_i64().expect("booking id");
            let c_now = booking(&app, &f.admin, c, &mut v).await;
            v.check(!holds(&c_now), || {
                format!(
                    "booking C {c} was created (201) during the departure cancel and is still {} \
                     on cancelled departure {slot}",
                    status_of(&c_now)
                )
            });
        }
        409 => {}
        _ => v.check(false, || {
            format!(
                "booking C was neither created nor cleanly refused: {}",
                create.describe()
            )
        }),
    }
    departure_is_empty(&app, &f.admin, slot, &mut v).await;
    v.counters(&app).await;
    v.finish();
}

/// Defect 2. The departure cancel works from booking rows read without a
/// lock: a booking moved to another departure meanwhile is cancelled anyway,
/// and its people are released from the departure it left a second time.
/// (When nothing else holds spots there, the counters' CHECK constraint
/// refuses to go below zero and the whole departure cancel fails with 500;
/// otherwise the moved people stay counted on the new departure.)
///
/// Interleaving: S2 has a lower id than S1; B is on S1. A second connection
/// locks S2's row. Moving B to S2 queues there (old code: holding B's row);
/// the cancel of S1 queues too (old code: it listed B on S1 and waits at
/// B's status update); then S2 is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_booking_moved_off_a_departure_being_cancelled_ends_where_its_answer_said() {
    let Some(app) = spawn_app().await else {
        return;
    };
    let f = app.fixture(10).await;
    let (s2, s1) = (f.slots[0], f.slots[1]);
    assert!(s2 < s1, "the target departure must have the lower id");
    let b = booked(&app, f.tour, s1, 2).await;
    let mut monitor = connect(&app).await;

    let mut locker = Locker::begin(&app).await;
    locker.lock_slot(s2).await;
    let moving = modify(&app, &f.admin, b, json!({"new_slot_id": s2}));
    wait_queued(&mut monitor, &[&moving], "move of B behind departure S2").await;
    let cancel = cancel_departure(&app, &f.admin, s1);
    wait_queued(
        &mut monitor,
        &[&moving, &cancel],
        "move of B and cancel of S1",
    )
    .await;
    locker.release().await;
    let moving = moving.answer().await;
    let cancel = cancel.answer().await;

    let mut v = Verdict::new("defect 2: booking moved off a departure being cancelled");
    v.answered(&moving);
    v.answered(&cancel);
    v.check(cancel.status() == 200, || {
        format!(
            "the departure cancel was not acknowledged: {}",
            cancel.describe()
        )
    });
    let b_now = booking(&app, &f.admin, b, &mut v).await;
    match moving.status() {
        200 => {
            v.check(b_now["booking_slot_id"] == s2 && holds(&b_now), || {
                format!(
                    "the move of booking {b} to {s2} was acknowledged (200) but it ends {} on {}",
                    status_of(&b_now),
                    b_now["booking_slot_id"]
                )
            });
            if cancel.status() == 200 {
                v.check(cancel.r.body["cancelled_bookings"] == 0, || {
                    format!(
                        "the departure cancel reports {} cancelled booking(s), but booking {b} had moved away",
                        cancel.r.body["cancelled_bookings"]
                    )
                });
            }
        }
        409 => {
            v.check(b_now["booking_slot_id"] == s1 && !holds(&b_now), || {
                format!(
                    "the move of booking {b} was refused but it ends {} on {} (expected cancelled on {s1})",
                    status_of(&b_now),
                    b_now["booking_slot_id"]
                )
            });
        }
        _ => v.check(false, || {
            format!(
                "the move was neither done nor cleanly refused: {}",
                moving.describe()
            )
        }),
    }
    if cancel.status() == 200 {
        departure_is_empty(&app, &f.admin, s1, &mut v).await;
    }
    v.counters(&app).await;
    v.finish();
}

/// Defect 3. The locking read of a booking joins its slot and tour and
/// locks only the booking (`FOR UPDATE OF b`): when the booking it waited
/// for was moved meanwhile, PostgreSQL re-checks the join against the old
/// slot and finds nothing, so the request answers 404 for a booking that
/// exists.
///
/// Interleaving: S2 has a lower id than S1; B is on S1. A second connection
/// locks S2's row. Moving B to S2 queues there (old code: holding B's row);
/// a cancel, a status change and a party change of B queue too (old code:
/// behind B's row); then S2 is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changes_queued_behind_a_move_find_the_moved_booking() {
    let Some(app) = spawn_app().await else {
        return;
    };
    let f = app.fixture(10).await;
    let (s2, s1) = (f.slots[0], f.slots[1]);
    assert!(s2 < s1, "the target departure must have the lower id");
    let b = booked(&app, f.tour, s1, 2).await;
    let mut monitor = connect(&app).await;

    let mut locker = Locker::begin(&app).await;
    locker.lock_slot(s2).await;
    let moving = modify(&app, &f.admin, b, json!({"new_slot_id": s2}));
    wait_queued(&mut monitor, &[&moving], "move of B behind departure S2").await;
    let cancel = Request::fire(
        &app,
        Some(&f.admin),
        Method::DELETE,
        paths::booking(b),
        Some(json!({"cancellation_reason": "Changed plans"})),
    );
    let confirm = Request::fire(
        &app,
        Some(&f.admin),
        Method::POST,
        paths::admin_booking_action(b, "status"),
        Some(json!({"status": "confirmed"})),
    );
    let grow = modify(&app, &f.admin, b, json!({"new_num_adults": 3}));
    wait_queued(
        &mut monitor,
        &[&moving, &cancel, &confirm, &grow],
        "move, cancel, status change and party change of B",
    )
    .await;
    locker.release().await;
    let moving = moving.answer().await;
    let cancel = cancel.answer().await;
    let confirm = confirm.answer().await;
    let grow = grow.answer().await;

    let mut v = Verdict::new("defect 3: changes queued behind a move");
    for a in [&moving, &cancel, &confirm, &grow] {
        v.answered(a);
        v.check(a.status() != 404, || {
            format!("404 for booking {b}, which exists: {}", a.describe())
        });
        v.check(matches!(a.status(), 200 | 404 | 409), || {
            format!("neither done nor cleanly refused: {}", a.describe())
        });
    }
    let b_now = booking(&app, &f.admin, b, &mut v).await;
    let expected_slot = if moving.status() == 200 { s2 } else { s1 };
    v.check(b_now["booking_slot_id"] == expected_slot, || {
        format!(
            "booking {b} ends on {} but the move answered {} (expected {expected_slot})",
            b_now["booking_slot_id"],
            moving.status()
        )
    });
    if cancel.status() == 200 {
        v.check(status_of(&b_now) == "cancelled", || {
            format!(
                "the cancel was acknowledged but booking {b} is {}",
                status_of(&b_now)
            )
        });
    } else {
        v.check(holds(&b_now), || {
            format!(
                "booking {b} was not cancelled by any request but is {}",
                status_of(&b_now)
            )
        });
        if confirm.status() == 200 {
            v.check(status_of(&b_now) == "confirmed", || {
                format!(
                    "the confirmation was acknowledged but booking {b} is {}",
                    status_of(&b_now)
                )
            });
        }
    }
    if grow.status() == 200 {
        v.check(b_now["num_adults"] == 3, || {
            format!(
                "the party change to 3 adults was acknowledged but booking {b} has {}",
                b_now["num_adults"]
            )
        });
    }
    v.counters(&app).await;
    v.finish();
}

/// Defect 4. A departure cancel locks the slot, then its bookings; a move
/// off the departure locks the booking, then the slots: opposite orders.
///
/// Interleaving: S2 has a lower id than S1; A and B are on S1 (A listed
/// first). A second connection locks S2's row. Moving B to S2 queues there
/// (old code: holding B's row). The cancel of S1 queues too (old code: it
/// cancelled A, which locked S1's row, and waits for B). Releasing S2 lets
/// the old move ask for S1: deadlock, and PostgreSQL aborts one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_departure_cancel_and_a_move_off_it_do_not_deadlock() {
    let Some(app) = spawn_app().await else {
        return;
    };
    let f = app.fixture(10).await;
    let (s2, s1) = (f.slots[0], f.slots[1]);
    assert!(s2 < s1, "the target departure must have the lower id");
    let a = booked(&app, f.tour, s1, 2).await;
    let b = booked(&app, f.tour, s1, 2).await;
    assert!(a < b, "the cancel must come to A before B");
    let mut monitor = connect(&app).await;

    let mut locker = Locker::begin(&app).await;
    locker.lock_slot(s2).await;
    let moving = modify(&app, &f.admin, b, json!({"new_slot_id": s2}));
    wait_queued(&mut monitor, &[&moving], "move of B behind departure S2").await;
    let cancel = cancel_departure(&app, &f.admin, s1);
    wait_queued(
        &mut monitor,
        &[&moving, &cancel],
        "move of B and cancel of S1",
    )
    .await;
    locker.release().await;
    let moving = moving.answer().await;
    let cancel = cancel.answer().await;

    let mut v = Verdict::new("defect 4: departure cancel against a move off it");
    v.answered(&moving);
    v.answered(&cancel);
    v.check(cancel.status() == 200, || {
        format!(
            "the departure cancel was not acknowledged: {}",
            cancel.describe()
        )
    });
    let a_now = booking(&app, &f.admin, a, &mut v).await;
    let b_now = booking(&app, &f.admin, b, &mut v).await;
    if cancel.status() == 200 {
        v.check(!holds(&a_now), || {
            format!(
                "booking A {a} is still {} on its cancelled departure",
                status_of(&a_now)
            )
        });
    }
    match moving.status() {
        200 => {
            v.check(b_now["booking_slot_id"] == s2 && holds(&b_now), || {
                format!(
                    "the move of booking {b} to {s2} was acknowledged (200) but it ends {} on {}",
                    status_of(&b_now),
                    b_now["booking_slot_id"]
                )
            });
            if cancel.status() == 200 {
                v.check(cancel.r.body["cancelled_bookings"] == 1, || {
                    format!(
                        "the departure cancel reports {} cancelled booking(s); only A stayed",
                        cancel.r.body["cancelled_bookings"]
                    )
                });
            }
        }
        409 => {
            v.check(b_now["booking_slot_id"] == s1 && !holds(&b_now), || {
                format!(
                    "the move of booking {b} was refused but it ends {} on {} (expected cancelled on {s1})",
                    status_of(&b_now),
                    b_now["booking_slot_id"]
                )
            });
        }
        _ => v.check(false, || {
            format!(
                "the move was neither done nor cleanly refused: {}",
                moving.describe()
            )
        }),
    }
    if cancel.status() == 200 {
        departure_is_empty(&app, &f.admin, s1, &mut v).await;
    }
    v.counters(&app).await;
    v.finish();
}

/// Defect 5. Joining the waitlist checks for an open entry of the same
/// person and date, then inserts, with nothing in between: concurrent joins
/// all pass the check.
///
/// Interleaving: the departure is full; a second connection locks the
/// waitlist table; JOINS joins by the same email for the same tour and date
/// queue behind it (old code: at the duplicate check); then it is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_waitlist_joins_by_one_person_make_one_entry() {
    /// Below the pool size (10), so that none waits for a connection instead.
    const JOINS: usize = 6;
    let Some(app) = spawn_app().await else {
        return;
    };
    let f = app.fixture(2).await;
    booked(&app, f.tour, f.slots[0], 2).await;
    let date = f.dates[0].clone();
    let body = json!({
        "tour_id": f.tour, "requested_date": date, "num_people": 1,
        "customer_name": "Waiting Will", "customer_email": "will@example.com"
    });
    let mut monitor = connect(&app).await;

    let mut locker = Locker::begin(&app).await;
    locker.lock_waitlist_table().await;
    let joins: Vec<Request> = (0..JOINS)
        .map(|_| {
            Request::fire(
                &app,
                None,
                Method::POST,
                paths::WAITLIST.into(),
                Some(body.clone()),
            )
        })
        .collect();
    wait_queued(
        &mut monitor,
        &joins.iter().collect::<Vec<_>>(),
        "waitlist joins",
    )
    .await;
    locker.release().await;
    let mut answers = Vec::new();
    for j in joins {
        answers.push(j.answer().await);
    }

    let mut v = Verdict::new("defect 5: concurrent waitlist joins by one person");
    // Anonymous joins for one email: each is answered as a join (#13: a
    // stranger learns nothing), but exactly one makes an entry and gets its
    // manage token; the rest name that same entry and get no token.
    for a in &answers {
        v.answered(a);
        v.check(a.status() == 201, || {
            format!("a join was not answered as a join: {}", a.describe())
        });
    }
    let tokens = answers
        .iter()
        .filter(|a| a.r.body["manage_token"].as_str().is_some())
        .count();
    v.check(tokens == 1, || {
        format!("{tokens} of {JOINS} joins got a manage token; expected exactly 1")
    });
    let mut ids: Vec<i64> = answers
        .iter()
        .filter_map(|a| a.r.body["id"].as_i64())
        .collect();
    ids.dedup();
    v.check(ids.len() == 1, || {
        format!("the joins named different entries: {ids:?}")
    });
    let list = app
        .get_as(
            &f.admin,
            &format!(
                "/api/calendar/admin/waitlist?tour_id={}&date={date}",
                f.tour
            ),
        )
        .await;
    list.assert_status(200);
    let open = list.body.as_array().map_or(0, |entries| {
        entries
            .iter()
            .filter(|e| {
                e["customer_email"] == "will@example.com"
                    && matches!(e["status"].as_str(), Some("active" | "notified"))
            })
            .count()
    });
    v.check(open == 1, || {
        format!("{open} open waitlist entries for will@example.com on {date}; expected exactly 1")
    });
    v.counters(&app).await;
    v.finish();
}

/// Defect 12: the waitlist candidate query skipped locked rows, so a
/// higher-priority entry that another request merely held was passed over.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_locked_higher_priority_entry_is_waited_for_not_skipped() {
    let Some(app) = spawn_app().await else {
        return;
    };
    let f = app.fixture(2).await;
    let booking = booked(&app, f.tour, f.slots[0], 2).await;
    let mut ids = Vec::new();
    for email in ["first@example.com", "second@example.com"] {
        let r = app
            .post(
                paths::WAITLIST,
                &json!({"tour_id": f.tour, "requested_date": f.dates[0], "num_people": 2,
                        "customer_name": "Waiting Will", "customer_email": email}),
            )
            .await;
        r.assert_status(201);
        ids.push(r.body["id"].as_i64().expect("entry id"));
    }
    let mut monitor = connect(&app).await;
    let mut locker = Locker::begin(&app).await;
    locker
        .lock_row(
            "SELECT id FROM waitlist_entries WHERE id = $1 FOR UPDATE",
            ids[0],
        )
        .await;
    let cancel = Request::fire(
        &app,
        Some(&f.admin),
        Method::DELETE,
        paths::booking(booking),
        None,
    );
    wait_queued(&mut monitor, &[&cancel], "the cancellation").await;
    locker.release().await;
    let answer = cancel.answer().await;
    let mut v = Verdict::new("defect 12: a locked candidate is waited for");
    v.answered(&answer);
    v.check(answer.status() == 200, || {
        format!("the cancellation failed: {}", answer.describe())
    });
    let mut statuses = Vec::new();
    for id in &ids {
        let e = app.get_as(&f.admin, &paths::waitlist_entry(id)).await;
        statuses.push(e.body["status"].as_str().unwrap_or("").to_owned());
    }
    v.check(statuses == ["notified", "active"], || {
        format!("the first entry must be offered the spots, not the second: {statuses:?}")
    });
    v.counters(&app).await;
    v.finish();
}
