//! The randomized concurrency suite: many clients issue a weighted random
//! mix of every write operation against a handful of small departures for
//! a bounded time; every response is recorded, and afterwards the rows are
//! checked against what was acknowledged.
//!
//! Environment:
//! - `RACE_SECONDS` (default 20): how long the clients run, per engine.
//! - `RACE_CLIENTS` (default 24): how many clients run at once.
//! - `RACE_SEED` (default random): the seed, printed at the start and in
//!   every assertion message as `race seed: N (replay with RACE_SEED=N)`.
//!
//! Replaying: client `i` draws every choice from its own RNG seeded with
//! `seed + i`, so the request *mix* of a seed is reproducible (as long as
//! the server answers the same way). The interleaving of the clients, and
//! with it which requests succeed, is up to the scheduler and the database
//! and is NOT reproducible: a seed makes a failure likely to recur, not
//! certain to.
//!
//! What is checked afterwards (see `check`):
//! 1. every booking acknowledged by a 201 exists;
//! 2. every booking's final slot, party and status equal its last
//!    acknowledged state, when no other write could have come after it
//!    (see `compare_with_last_ack` for the rule);
//! 3. no counter drift (the same query as `TestApp::assert_consistent`);
//! 4. no capacity-holding booking on a cancelled departure, and every
//!    booking holds the seats its party takes (on Race Tour B infants take
//!    none, issue #18);
//! 5. no notified waitlist entry holding spots on a cancelled departure;
//! 6. no 5xx, no 404 for an id the suite knows exists, no 401/403 for the
//!    owner or an admin;
//! 7. no departure acknowledged as cancelled by two requests;
//! 8. no departure left waiting for its minimum with that many people
//!    booked, and none guaranteed twice (issue #18: the race schedules
//!    need 4 people, and the admin's schedule edits move that minimum).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{TestApp, day, paths};

both_backends!(randomized_race);

/// Departures per tour the clients work on at any time: the first ones
/// (by date) that are not known to be cancelled.
const HOT: usize = 3;
/// Departures exist from this day to `LAST_DAY` (well clear of the 24 h
/// cutoff and inside the 90-day booking window).
const FIRST_DAY: i64 = 5;
const LAST_DAY: i64 = 85;
const CUSTOMERS: usize = 4;
/// Longer than the server's own 30 s request timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(40);
/// How many of the most recent live bookings (and recent entries) admins
/// pick from.
const RECENT: usize = 60;
/// Departure cancels per second at most (they cannot be undone, so the
/// supply of departures must last the run).
const CANCELS_PER_SECOND: f64 = 5.0;
/// Examples printed per violation kind.
const EXAMPLES: usize = 6;

/// The tour whose infants take no seat.
const UNSEATED_INFANTS: &str = "Race Tour B";

/// Statuses whose people count against the slot's capacity.
const HOLDING: [&str; 4] = ["pending", "confirmed", "completed", "no_show"];

async fn randomized_race(app: TestApp) {
    let settings = RaceSettings::from_env();
    let seed = settings.seed;
    let banner = format!("race seed: {seed} (replay with RACE_SEED={seed})");
    println!(
        "{banner}; {:?}, {} clients, {} s",
        app.backend, settings.clients, settings.seconds
    );

    let setup_started = Instant::now();
    let plan = Arc::new(Plan::build(&app).await);
    let setup_time = setup_started.elapsed();

    let app = Arc::new(app);
    let shared = Arc::new(Shared::default());
    let run = Duration::from_secs(settings.seconds);
    let start = Instant::now();
    let deadline = start + run;
    let cancel_budget: usize = plan
        .tours
        .iter()
        .map(|t| t.departures.len().saturating_sub(2 * HOT))
        .sum();
    let mut tasks = Vec::new();
    for index in 0..settings.clients {
        let client = Client {
            index,
            role: Role::of(index),
            rng: StdRng::seed_from_u64(seed.wrapping_add(index as u64)),
            app: app.clone(),
            plan: plan.clone(),
            shared: shared.clone(),
            start,
            run,
            deadline,
            cancel_budget,
            mine: Vec::new(),
            entries: Vec::new(),
            blackouts: Vec::new(),
            calls: Vec::new(),
            serial: 0,
        };
        tasks.push(tokio::spawn(client.run()));
    }
    let mut calls = Vec::new();
    let mut violations = Violations::default();
    for (index, task) in tasks.into_iter().enumerate() {
        match task.await {
            Ok(mut c) => calls.append(&mut c),
            Err(e) => violations.add(V_CLIENT, format!("client {index}: {e}")),
        }
    }
    let run_time = start.elapsed();
    calls.sort_by_key(|c| c.sent);

    let check_started = Instant::now();
    let stats = check(&app, &plan, &calls, start, &mut violations).await;
    let check_time = check_started.elapsed();

    let summary = summarize(&calls, &stats, &violations);
    println!(
        "{banner}\n{:?}: setup {:.1} s, run {:.1} s, checks {:.1} s\n{summary}",
        app.backend,
        setup_time.as_secs_f64(),
        run_time.as_secs_f64(),
        check_time.as_secs_f64()
    );
    assert!(
        violations.is_empty(),
        "{banner}: {} violation(s) on {:?} (details above): {}",
        violations.len(),
        app.backend,
        violations.counts()
    );
    app.assert_consistent().await;
}

// ---------------------------------------------------------------------------
// Settings and setup

struct RaceSettings {
    seconds: u64,
    clients: usize,
    seed: u64,
}

impl RaceSettings {
    fn from_env() -> RaceSettings {
        RaceSettings {
            seconds: env_number("RACE_SECONDS", 20),
            clients: env_number::<usize>("RACE_CLIENTS", 24).max(1),
            seed: env_number("RACE_SEED", rand::random::<u64>()),
        }
    }
}

/// A number from the environment; a value that does not parse is a mistake
/// in the invocation, not in the product.
fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => match v.trim().parse() {
            Ok(n) => n,
            Err(_) => panic!("{name}={v} is not a number"),
        },
        _ => default,
    }
}

/// What the clients work on: two tours with small daily departures (tour B
/// runs twice a day, so date-wide waitlist entries see two departures),
/// an admin and a few customer accounts.
struct Plan {
    admin: String,
    customers: Vec<String>,
    tours: Vec<TourPlan>,
    /// Every departure: its tour and date.
    departures: HashMap<i64, Departure>,
}

struct TourPlan {
    id: i64,
    /// (schedule id, its usual start time), for schedule edits.
    schedules: Vec<(i64, &'static str)>,
    /// Departure ids in date and time order.
    departures: Vec<i64>,
}

struct Departure {
    tour_id: i64,
    date: String,
}

impl Plan {
    async fn build(app: &TestApp) -> Plan {
        let admin = app.admin().await;
        // (name, [(start time, capacity)])
        let specs: [(&str, &[(&'static str, i64)]); 2] = [
            ("Race Tour A", &[("09:00:00", 10)]),
            ("Race Tour B", &[("10:00:00", 8), ("15:00:00", 8)]),
        ];
        let mut tours = Vec::new();
        let mut departures = HashMap::new();
        for (name, schedules) in specs {
            // Tour B seats infants on a lap (issue #18): its bookings hold
            // adults + children, so the counters are checked in seats.
            let tour = app
                .tour(
                    &admin,
                    json!({"name": name, "duration_minutes": 120,
                           "party_rules": {"infants_take_seat": name != UNSEATED_INFANTS}}),
                )
                .await;
            let mut ids = Vec::new();
            for (i, (start, capacity)) in schedules.iter().enumerate() {
                let id = app
                    .schedule(
                        &admin,
                        tour,
                        &day(FIRST_DAY),
                        json!({"name": format!("Race {i}"), "start_time": start,
                               "duration_minutes": 120, "max_capacity": capacity,
                               "min_capacity": 4}),
                    )
                    .await;
                app.generate(&admin, id, &day(FIRST_DAY), &day(LAST_DAY))
                    .await
                    .assert_status(200);
                ids.push((id, *start));
            }
            let listed = app
                .get(&format!(
                    "/api/calendar/tours/{tour}/slots?start_date={}&end_date={}",
                    day(FIRST_DAY),
                    day(LAST_DAY)
                ))
                .await;
            listed.assert_status(200);
            let mut order = Vec::new();
            for s in listed.body.as_array().expect("a list of slots") {
                let id = s["id"].as_i64().expect("slot id");
                let date = s["slot_date"].as_str().expect("slot_date").to_owned();
                let time = s["start_time"].as_str().unwrap_or("").to_owned();
                order.push((date.clone(), time, id));
                departures.insert(
                    id,
                    Departure {
                        tour_id: tour,
                        date,
                    },
                );
            }
            order.sort();
            assert!(
                order.len() > 2 * HOT,
                "the race needs departures; got {}",
                order.len()
            );
            tours.push(TourPlan {
                id: tour,
                schedules: ids,
                departures: order.into_iter().map(|(_, _, id)| id).collect(),
            });
        }
        let mut customers = Vec::new();
        for i in 0..CUSTOMERS {
            customers.push(app.customer(&format!("racer{i}@example.com")).await);
        }
        Plan {
            admin,
            customers,
            tours,
            departures,
        }
    }

    /// Whether a blackout covers a departure.
    fn covers(&self, span: &Span, slot: i64) -> bool {
        self.departures.get(&slot).is_some_and(|d| {
            span.tour_id.is_none_or(|t| t == d.tour_id)
                && span.from.as_str() <= d.date.as_str()
                && d.date.as_str() <= span.to.as_str()
        })
    }
}

// ---------------------------------------------------------------------------
// Requests and what is recorded of them

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Op {
    Create,
    ModifyParty,
    Move,
    Cancel,
    Read,
    Join,
    Claim,
    Leave,
    SetStatus,
    AdminModify,
    AdminCancel,
    AdminRead,
    Capacity,
    OpenClose,
    CancelDeparture,
    BlackoutCreate,
    BlackoutDelete,
    ScheduleEdit,
    ProcessWaitlist,
    AdminClaim,
    AdminLeave,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Create => "create booking",
            Op::ModifyParty => "modify party (owner)",
            Op::Move => "move departure (owner)",
            Op::Cancel => "cancel booking (owner)",
            Op::Read => "read (owner)",
            Op::Join => "waitlist join",
            Op::Claim => "waitlist claim (owner)",
            Op::Leave => "waitlist leave (owner)",
            Op::SetStatus => "status change (admin)",
            Op::AdminModify => "modify/move (admin)",
            Op::AdminCancel => "cancel booking (admin)",
            Op::AdminRead => "read booking (admin)",
            Op::Capacity => "slot capacity edit",
            Op::OpenClose => "slot open/close",
            Op::CancelDeparture => "departure cancel",
            Op::BlackoutCreate => "blackout create",
            Op::BlackoutDelete => "blackout delete",
            Op::ScheduleEdit => "schedule edit",
            Op::ProcessWaitlist => "waitlist process",
            Op::AdminClaim => "waitlist claim (admin)",
            Op::AdminLeave => "waitlist leave (admin)",
        }
    }

    /// Whether the operation may change a booking row.
    fn writes_booking(self) -> bool {
        matches!(
            self,
            Op::Create
                | Op::ModifyParty
                | Op::Move
                | Op::Cancel
                | Op::Claim
                | Op::SetStatus
                | Op::AdminModify
                | Op::AdminCancel
                | Op::AdminClaim
        )
    }

    /// Whether a 2xx answer carries the booking's new state, and where.
    fn booking_in_answer(self, body: &Value) -> Option<&Value> {
        match self {
            Op::ModifyParty | Op::Move | Op::AdminModify => Some(&body["booking"]),
            Op::Create
            | Op::Cancel
            | Op::Claim
            | Op::SetStatus
            | Op::AdminCancel
            | Op::AdminClaim => Some(body),
            _ => None,
        }
    }
}

/// How a request is authenticated.
#[derive(Debug, Clone)]
enum Auth {
    Anonymous,
    Bearer(String),
    Manage(String),
}

/// A blackout's cover: one tour or all, dates inclusive (YYYY-MM-DD).
#[derive(Debug, Clone)]
struct Span {
    tour_id: Option<i64>,
    from: String,
    to: String,
}

/// The ids a request is about.
#[derive(Debug, Clone, Default)]
struct Target {
    booking: Option<i64>,
    entry: Option<i64>,
    slot: Option<i64>,
    span: Option<Span>,
}

/// A booking as an answer or a row shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BookingState {
    slot: i64,
    adults: i64,
    children: i64,
    infants: i64,
    status: String,
}

impl BookingState {
    fn of(v: &Value) -> Option<(i64, BookingState)> {
        Some((
            v["id"].as_i64()?,
            BookingState {
                slot: v["booking_slot_id"].as_i64()?,
                adults: v["num_adults"].as_i64()?,
                children: v["num_children"].as_i64()?,
                infants: v["num_infants"].as_i64()?,
                status: v["status"].as_str()?.to_owned(),
            },
        ))
    }

    /// What a departure cancel makes of it: pending and confirmed bookings
    /// become cancelled, the others stay.
    fn after_departure_cancel(&self) -> BookingState {
        let mut s = self.clone();
        if matches!(s.status.as_str(), "pending" | "confirmed") {
            s.status = "cancelled".into();
        }
        s
    }
}

impl std::fmt::Display for BookingState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "slot {} party {}/{}/{} {}",
            self.slot, self.adults, self.children, self.infants, self.status
        )
    }
}

/// One request as sent and answered.
#[derive(Debug)]
struct Call {
    client: usize,
    op: Op,
    target: Target,
    /// The booking it is about: the target, or the one it created.
    booking: Option<i64>,
    sent: Instant,
    received: Instant,
    /// None: no answer (transport error or client timeout).
    status: Option<u16>,
    /// The booking's state in a 2xx answer.
    state: Option<BookingState>,
    /// The start of the answer (or the transport error).
    text: String,
}

impl Call {
    fn acked(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// Its effect is unknown: no answer, a 5xx, or the server's timeout.
    fn unknown(&self) -> bool {
        self.status.is_none_or(|s| s >= 500 || s == 408)
    }

    fn refused(&self) -> bool {
        !self.acked() && !self.unknown()
    }

    /// When its effect, if any, is over. Without an answer (or after the
    /// server's own timeout) the work may still complete later.
    fn settled(&self) -> Instant {
        match self.status {
            None | Some(408) => self.received + Duration::from_secs(3600),
            Some(_) => self.received,
        }
    }

    fn describe(&self, t0: Instant) -> String {
        let ms = |t: Instant| t.saturating_duration_since(t0).as_millis();
        let mut ids = String::new();
        if let Some(b) = self.booking {
            let _ = write!(ids, " booking={b}");
        }
        if let Some(e) = self.target.entry {
            let _ = write!(ids, " entry={e}");
        }
        if let Some(s) = self.target.slot {
            let _ = write!(ids, " slot={s}");
        }
        if let Some(s) = &self.target.span {
            let _ = write!(
                ids,
                " blackout={:?}..{:?} tour={:?}",
                s.from, s.to, s.tour_id
            );
        }
        let status = self
            .status
            .map_or_else(|| "no answer".to_owned(), |s| s.to_string());
        format!(
            "client {} {}{ids} at +{}..+{} ms -> {status}: {}",
            self.client,
            self.op.name(),
            ms(self.sent),
            ms(self.received),
            self.text
        )
    }
}

/// An answer, as a client sees it.
struct Reply {
    status: Option<u16>,
    body: Value,
}

impl Reply {
    fn is(&self, status: u16) -> bool {
        self.status == Some(status)
    }

    fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

/// Sends one request; never panics (a failure is the answer `Err`).
async fn http(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<&Value>,
    auth: &Auth,
) -> Result<(u16, String), String> {
    let mut req = app
        .client
        .request(method, app.url(path))
        .timeout(REQUEST_TIMEOUT);
    req = match auth {
        Auth::Anonymous => req,
        Auth::Bearer(t) => req.bearer_auth(t),
        Auth::Manage(t) => req.header("x-manage-token", t),
    };
    if let Some(b) = body {
        req = req.json(b);
    }
    let resp = req.send().await.map_err(|e| format!("send: {e}"))?;
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(|e| format!("read: {e}"))?;
    Ok((status, text))
}

fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

// ---------------------------------------------------------------------------
// The clients

#[derive(Debug, Clone, Copy)]
enum Role {
    Admin,
    Customer(usize),
    Guest,
}

impl Role {
    /// One client in four is an admin, one a customer, two are guests.
    fn of(index: usize) -> Role {
        match index % 4 {
            0 => Role::Admin,
            1 => Role::Customer((index / 4) % CUSTOMERS),
            _ => Role::Guest,
        }
    }
}

/// Customers and guests: book, change and cancel their own bookings, and
/// wait, claim and leave on the waitlist.
const OWNER_MIX: &[(Op, u32)] = &[
    (Op::Create, 28),
    (Op::ModifyParty, 14),
    (Op::Move, 20),
    (Op::Cancel, 6),
    (Op::Read, 2),
    (Op::Join, 10),
    (Op::Claim, 8),
    (Op::Leave, 2),
];

/// The admin: anything, on anyone's bookings and on the departures.
const ADMIN_MIX: &[(Op, u32)] = &[
    (Op::SetStatus, 12),
    (Op::AdminModify, 18),
    (Op::AdminCancel, 5),
    (Op::AdminRead, 2),
    (Op::Capacity, 8),
    (Op::OpenClose, 5),
    (Op::CancelDeparture, 12),
    (Op::BlackoutCreate, 2),
    (Op::BlackoutDelete, 4),
    (Op::ScheduleEdit, 2),
    (Op::ProcessWaitlist, 4),
    (Op::AdminClaim, 6),
    (Op::AdminLeave, 2),
];

/// A status an admin asks for, weighted towards the common ones.
const STATUSES: &[(&str, u32)] = &[
    ("confirmed", 6),
    ("cancelled", 2),
    ("completed", 1),
    ("no_show", 1),
    ("refunded", 1),
];

/// What every client can see: bookings and entries anyone made (for the
/// admins), departures known to be cancelled, and the departure cancels
/// started so far.
#[derive(Default)]
struct Shared {
    inner: Mutex<SharedState>,
}

#[derive(Default)]
struct SharedState {
    /// Every booking made, oldest first, with what is last known of it.
    bookings: Vec<Known>,
    /// Index into `bookings` by id.
    by_id: HashMap<i64, usize>,
    /// (entry id, tour index, people)
    entries: Vec<(i64, usize, i64)>,
    cancelled: HashSet<i64>,
    departure_cancels: usize,
}

/// A booking as the clients last saw it (a hint for choosing targets, not
/// used by the checks).
struct Known {
    id: i64,
    tour: usize,
    slot: i64,
    /// Pending or confirmed as far as anyone knows.
    live: bool,
}

impl SharedState {
    fn add_booking(&mut self, id: i64, tour: usize, slot: i64) {
        self.by_id.insert(id, self.bookings.len());
        self.bookings.push(Known {
            id,
            tour,
            slot,
            live: true,
        });
    }

    fn learn(&mut self, id: i64, slot: Option<i64>, live: bool) {
        if let Some(k) = self.by_id.get(&id).and_then(|&i| self.bookings.get_mut(i)) {
            k.live = live;
            if let Some(s) = slot {
                k.slot = s;
            }
        }
    }

    /// A departure cancel took every booking on it.
    fn departure_cancelled(&mut self, slot: i64) {
        self.cancelled.insert(slot);
        for k in self.bookings.iter_mut().rev().take(2000) {
            if k.slot == slot {
                k.live = false;
            }
        }
    }

    /// Up to `RECENT` of the most recent live bookings: (id, tour).
    fn recent_live(&self) -> Vec<(i64, usize)> {
        self.bookings
            .iter()
            .rev()
            .take(2000)
            .filter(|k| k.live)
            .take(RECENT)
            .map(|k| (k.id, k.tour))
            .collect()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, SharedState> {
        // A client that panicked while holding the lock is reported on its
        // own; the state itself is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Owned {
    id: i64,
    tour: usize,
    slot: i64,
    auth: Auth,
}

struct OwnedEntry {
    id: i64,
    people: i64,
    auth: Auth,
}

struct Client {
    index: usize,
    role: Role,
    rng: StdRng,
    app: Arc<TestApp>,
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    start: Instant,
    run: Duration,
    deadline: Instant,
    /// Departure cancels the whole run may make (spread over the run).
    cancel_budget: usize,
    mine: Vec<Owned>,
    entries: Vec<OwnedEntry>,
    blackouts: Vec<i64>,
    calls: Vec<Call>,
    serial: u64,
}

impl Client {
    async fn run(mut self) -> Vec<Call> {
        while Instant::now() < self.deadline {
            if !self.step().await {
                // Nothing to do right now (e.g. no own booking yet).
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        self.calls
    }

    /// Picks and runs one operation; false when nothing was sent.
    async fn step(&mut self) -> bool {
        let mix = match self.role {
            Role::Admin => ADMIN_MIX,
            _ => OWNER_MIX,
        };
        let op = weighted(&mut self.rng, mix);
        match op {
            Op::Create => self.create().await,
            Op::ModifyParty => self.modify_own(false).await,
            Op::Move => self.modify_own(true).await,
            Op::Cancel => self.cancel_own().await,
            Op::Read => self.read_own().await,
            Op::Join => self.join().await,
            Op::Claim => self.claim_own().await,
            Op::Leave => self.leave_own().await,
            Op::SetStatus => self.set_status().await,
            Op::AdminModify => self.admin_modify().await,
            Op::AdminCancel => self.admin_cancel().await,
            Op::AdminRead => self.admin_read().await,
            Op::Capacity => self.capacity().await,
            Op::OpenClose => self.open_close().await,
            Op::CancelDeparture => self.cancel_departure().await,
            Op::BlackoutCreate => self.blackout_create().await,
            Op::BlackoutDelete => self.blackout_delete().await,
            Op::ScheduleEdit => self.schedule_edit().await,
            Op::ProcessWaitlist => self.process_waitlist().await,
            Op::AdminClaim => self.admin_claim().await,
            Op::AdminLeave => self.admin_leave().await,
        }
    }

    /// Sends a request and records it.
    async fn send(
        &mut self,
        op: Op,
        method: Method,
        path: &str,
        body: Option<Value>,
        auth: Auth,
        target: Target,
    ) -> Reply {
        let sent = Instant::now();
        let result = http(&self.app, method, path, body.as_ref(), &auth).await;
        let received = Instant::now();
        let (status, text) = match result {
            Ok((s, t)) => (Some(s), t),
            Err(e) => (None, e),
        };
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let acked = status.is_some_and(|s| (200..300).contains(&s));
        let answered = if acked {
            op.booking_in_answer(&body).and_then(BookingState::of)
        } else {
            None
        };
        let booking = target
            .booking
            .or_else(|| answered.as_ref().map(|(id, _)| *id));
        if let Some(id) = target.booking {
            let code = body["code"].as_str().unwrap_or("");
            self.learn(op, id, status, code, answered.as_ref().map(|(_, s)| s));
        }
        self.calls.push(Call {
            client: self.index,
            op,
            booking,
            target,
            sent,
            received,
            status,
            state: answered.map(|(_, s)| s),
            text: clip(&text, 300),
        });
        Reply { status, body }
    }

    // --- helpers

    /// Keeps the hints about a booking current: one that is no longer
    /// pending or confirmed is not worth changing again.
    fn learn(
        &mut self,
        op: Op,
        id: i64,
        status: Option<u16>,
        code: &str,
        state: Option<&BookingState>,
    ) {
        let live = if let Some(s) = state {
            matches!(s.status.as_str(), "pending" | "confirmed")
        } else if status == Some(409) {
            match op {
                Op::ModifyParty | Op::Move | Op::AdminModify => code != "invalid_status",
                Op::Cancel | Op::AdminCancel => code != "invalid_transition",
                _ => return,
            }
        } else {
            return;
        };
        self.shared.lock().learn(id, state.map(|s| s.slot), live);
        if !live {
            self.mine.retain(|b| b.id != id);
        }
    }

    fn admin(&self) -> Auth {
        Auth::Bearer(self.plan.admin.clone())
    }

    /// How this client authenticates as itself when creating.
    fn own_auth(&self) -> Auth {
        match self.role {
            Role::Customer(i) => Auth::Bearer(self.plan.customers[i].clone()),
            _ => Auth::Anonymous,
        }
    }

    /// How the creator reaches what it just made: its account, or the
    /// manage token in the answer.
    fn owner_auth(&self, answer: &Value) -> Auth {
        match (self.role, answer["manage_token"].as_str()) {
            (Role::Customer(i), _) => Auth::Bearer(self.plan.customers[i].clone()),
            (_, Some(token)) => Auth::Manage(token.to_owned()),
            (_, None) => Auth::Anonymous,
        }
    }

    fn random_tour(&mut self) -> usize {
        self.rng.random_range(0..self.plan.tours.len())
    }

    /// A random departure among the tour's first `HOT` not known to be
    /// cancelled.
    fn hot(&mut self, tour: usize) -> Option<i64> {
        let hot: Vec<i64> = {
            let s = self.shared.lock();
            self.plan.tours[tour]
                .departures
                .iter()
                .filter(|id| !s.cancelled.contains(id))
                .take(HOT)
                .copied()
                .collect()
        };
        if hot.is_empty() {
            None
        } else {
            Some(hot[self.rng.random_range(0..hot.len())])
        }
    }

    fn party(&mut self) -> (i64, i64, i64) {
        let adults = self.rng.random_range(1..=3);
        let children = i64::from(self.rng.random_bool(0.3));
        let infants = i64::from(self.rng.random_bool(0.15));
        (adults, children, infants)
    }

    fn remember_booking(&mut self, id: i64, tour: usize, slot: i64, auth: Auth) {
        self.shared.lock().add_booking(id, tour, slot);
        self.mine.push(Owned {
            id,
            tour,
            slot,
            auth,
        });
        if self.mine.len() > 12 {
            self.mine.remove(0);
        }
    }

    fn remember_entry(&mut self, id: i64, tour: usize, people: i64, auth: Auth) {
        self.shared.lock().entries.push((id, tour, people));
        self.entries.push(OwnedEntry { id, people, auth });
        if self.entries.len() > 6 {
            self.entries.remove(0);
        }
    }

    /// A booking from anyone, among the most recent live ones.
    fn any_booking(&mut self) -> Option<(i64, usize)> {
        let live = self.shared.lock().recent_live();
        (!live.is_empty()).then(|| live[self.rng.random_range(0..live.len())])
    }

    fn any_entry(&mut self) -> Option<(i64, usize, i64)> {
        let s = self.shared.lock();
        let n = s.entries.len();
        (n > 0).then(|| s.entries[self.rng.random_range(n.saturating_sub(RECENT)..n)])
    }

    // --- customers and guests

    async fn create(&mut self) -> bool {
        let tour = self.random_tour();
        let Some(slot) = self.hot(tour) else {
            return false;
        };
        let (adults, children, infants) = self.party();
        let mut body = json!({
            "tour_id": self.plan.tours[tour].id, "booking_slot_id": slot,
            "num_adults": adults, "num_children": children, "num_infants": infants
        });
        if matches!(self.role, Role::Guest | Role::Admin) {
            body["customer_name"] = json!("Race Guest");
            body["customer_email"] = json!(format!("guest{}@example.com", self.index));
        }
        let auth = self.own_auth();
        let target = Target {
            slot: Some(slot),
            ..Target::default()
        };
        let r = self
            .send(
                Op::Create,
                Method::POST,
                paths::BOOKINGS,
                Some(body),
                auth,
                target,
            )
            .await;
        if r.is(201)
            && let Some(id) = r.body["id"].as_i64()
        {
            let auth = self.owner_auth(&r.body);
            self.remember_booking(id, tour, slot, auth);
        }
        true
    }

    async fn modify_own(&mut self, moving: bool) -> bool {
        if self.mine.is_empty() {
            return self.create().await;
        }
        let i = self.rng.random_range(0..self.mine.len());
        let (id, tour, current, auth) = {
            let b = &self.mine[i];
            (b.id, b.tour, b.slot, b.auth.clone())
        };
        let mut body = json!({});
        let mut slot = None;
        if moving {
            // Another hot departure of the same tour (a swap when two
            // clients move in opposite directions).
            let Some(to) = self.hot(tour).filter(|&s| s != current) else {
                return false;
            };
            body["new_slot_id"] = json!(to);
            slot = Some(to);
        }
        if !moving || self.rng.random_bool(0.4) {
            let (adults, children, infants) = self.party();
            body["new_num_adults"] = json!(adults);
            body["new_num_children"] = json!(children);
            body["new_num_infants"] = json!(infants);
        }
        let op = if moving { Op::Move } else { Op::ModifyParty };
        let target = Target {
            booking: Some(id),
            slot,
            ..Target::default()
        };
        let r = self
            .send(
                op,
                Method::PUT,
                &paths::booking(id),
                Some(body),
                auth,
                target,
            )
            .await;
        if r.is(200)
            && let (Some(b), Some(s)) = (
                self.mine.iter_mut().find(|b| b.id == id),
                r.body["booking"]["booking_slot_id"].as_i64(),
            )
        {
            b.slot = s;
        }
        true
    }

    async fn cancel_own(&mut self) -> bool {
        if self.mine.is_empty() {
            return self.create().await;
        }
        let i = self.rng.random_range(0..self.mine.len());
        let (id, auth) = (self.mine[i].id, self.mine[i].auth.clone());
        let body = self
            .rng
            .random_bool(0.5)
            .then(|| json!({"cancellation_reason": "plans changed"}));
        let target = Target {
            booking: Some(id),
            ..Target::default()
        };
        let r = self
            .send(
                Op::Cancel,
                Method::DELETE,
                &paths::booking(id),
                body,
                auth,
                target,
            )
            .await;
        if r.is(200) || r.is(409) {
            self.mine.retain(|b| b.id != id);
        }
        true
    }

    async fn read_own(&mut self) -> bool {
        if self.rng.random_bool(0.5) && !self.entries.is_empty() {
            let i = self.rng.random_range(0..self.entries.len());
            let (id, auth) = (self.entries[i].id, self.entries[i].auth.clone());
            let target = Target {
                entry: Some(id),
                ..Target::default()
            };
            self.send(
                Op::Read,
                Method::GET,
                &paths::waitlist_entry(id),
                None,
                auth,
                target,
            )
            .await;
            return true;
        }
        if self.mine.is_empty() {
            return self.create().await;
        }
        let i = self.rng.random_range(0..self.mine.len());
        let (id, auth) = (self.mine[i].id, self.mine[i].auth.clone());
        let target = Target {
            booking: Some(id),
            ..Target::default()
        };
        self.send(
            Op::Read,
            Method::GET,
            &paths::booking(id),
            None,
            auth,
            target,
        )
        .await;
        true
    }

    async fn join(&mut self) -> bool {
        let tour = self.random_tour();
        let Some(slot) = self.hot(tour) else {
            return false;
        };
        let Some(date) = self.plan.departures.get(&slot).map(|d| d.date.clone()) else {
            return false;
        };
        let people = self.rng.random_range(1..=3);
        let mut body = json!({
            "tour_id": self.plan.tours[tour].id, "requested_date": date, "num_people": people
        });
        let bound = self.rng.random_bool(0.5);
        if bound {
            body["booking_slot_id"] = json!(slot);
        }
        if !matches!(self.role, Role::Customer(_)) {
            self.serial += 1;
            body["customer_name"] = json!("Race Waiter");
            body["customer_email"] =
                json!(format!("wait{}-{}@example.com", self.index, self.serial));
        }
        let auth = self.own_auth();
        let target = Target {
            slot: bound.then_some(slot),
            ..Target::default()
        };
        let r = self
            .send(
                Op::Join,
                Method::POST,
                paths::WAITLIST,
                Some(body),
                auth,
                target,
            )
            .await;
        if r.is(201)
            && let Some(id) = r.body["id"].as_i64()
        {
            let auth = self.owner_auth(&r.body);
            self.remember_entry(id, tour, people, auth);
        }
        true
    }

    async fn claim_own(&mut self) -> bool {
        if self.entries.is_empty() {
            return self.join().await;
        }
        let i = self.rng.random_range(0..self.entries.len());
        let (id, people, auth) = {
            let e = &self.entries[i];
            (e.id, e.people, e.auth.clone())
        };
        let tour = self.tour_of_entry(id);
        let adults = self.rng.random_range(1..=people.max(1));
        let target = Target {
            entry: Some(id),
            ..Target::default()
        };
        let r = self
            .send(
                Op::Claim,
                Method::POST,
                &paths::waitlist_claim(id),
                Some(json!({"num_adults": adults})),
                auth,
                target,
            )
            .await;
        if r.is(201) {
            self.entries.retain(|e| e.id != id);
            if let (Some(b), Some(slot)) =
                (r.body["id"].as_i64(), r.body["booking_slot_id"].as_i64())
            {
                let auth = self.owner_auth(&r.body);
                self.remember_booking(b, tour, slot, auth);
            }
        } else if r.is(409)
            && !r.body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("active"))
        {
            // Converted, expired or cancelled meanwhile: nothing to claim.
            self.entries.retain(|e| e.id != id);
        }
        true
    }

    fn tour_of_entry(&self, id: i64) -> usize {
        self.shared
            .lock()
            .entries
            .iter()
            .rev()
            .find(|e| e.0 == id)
            .map_or(0, |e| e.1)
    }

    async fn leave_own(&mut self) -> bool {
        if self.entries.is_empty() {
            return self.join().await;
        }
        let i = self.rng.random_range(0..self.entries.len());
        let (id, auth) = (self.entries[i].id, self.entries[i].auth.clone());
        let target = Target {
            entry: Some(id),
            ..Target::default()
        };
        let r = self
            .send(
                Op::Leave,
                Method::DELETE,
                &paths::waitlist_entry(id),
                None,
                auth,
                target,
            )
            .await;
        if r.is(200) || r.is(409) {
            self.entries.retain(|e| e.id != id);
        }
        true
    }

    // --- the admin

    async fn set_status(&mut self) -> bool {
        let Some((id, _)) = self.any_booking() else {
            return false;
        };
        let status = weighted(&mut self.rng, STATUSES);
        let target = Target {
            booking: Some(id),
            ..Target::default()
        };
        let auth = self.admin();
        self.send(
            Op::SetStatus,
            Method::POST,
            &paths::admin_booking_action(id, "status"),
            Some(json!({"status": status, "reason": "race"})),
            auth,
            target,
        )
        .await;
        true
    }

    async fn admin_modify(&mut self) -> bool {
        let Some((id, tour)) = self.any_booking() else {
            return false;
        };
        let mut body = json!({});
        let mut slot = None;
        if self.rng.random_bool(0.75) {
            let Some(to) = self.hot(tour) else {
                return false;
            };
            body["new_slot_id"] = json!(to);
            slot = Some(to);
        }
        if slot.is_none() || self.rng.random_bool(0.3) {
            let (adults, children, infants) = self.party();
            body["new_num_adults"] = json!(adults);
            body["new_num_children"] = json!(children);
            body["new_num_infants"] = json!(infants);
        }
        let target = Target {
            booking: Some(id),
            slot,
            ..Target::default()
        };
        let auth = self.admin();
        self.send(
            Op::AdminModify,
            Method::PUT,
            &paths::booking(id),
            Some(body),
            auth,
            target,
        )
        .await;
        true
    }

    async fn admin_cancel(&mut self) -> bool {
        let Some((id, _)) = self.any_booking() else {
            return false;
        };
        let target = Target {
            booking: Some(id),
            ..Target::default()
        };
        let auth = self.admin();
        self.send(
            Op::AdminCancel,
            Method::DELETE,
            &paths::booking(id),
            Some(json!({"cancellation_reason": "operator"})),
            auth,
            target,
        )
        .await;
        true
    }

    async fn admin_read(&mut self) -> bool {
        let Some((id, _)) = self.any_booking() else {
            return false;
        };
        let target = Target {
            booking: Some(id),
            ..Target::default()
        };
        let auth = self.admin();
        self.send(
            Op::AdminRead,
            Method::GET,
            &paths::booking(id),
            None,
            auth,
            target,
        )
        .await;
        true
    }

    async fn capacity(&mut self) -> bool {
        let tour = self.random_tour();
        let Some(slot) = self.hot(tour) else {
            return false;
        };
        let capacity = self.rng.random_range(6..=14);
        self.patch_slot(Op::Capacity, slot, json!({"max_capacity": capacity}))
            .await
    }

    async fn open_close(&mut self) -> bool {
        let tour = self.random_tour();
        let Some(slot) = self.hot(tour) else {
            return false;
        };
        let open = self.rng.random_bool(0.7);
        self.patch_slot(Op::OpenClose, slot, json!({"is_available": open}))
            .await
    }

    async fn patch_slot(&mut self, op: Op, slot: i64, body: Value) -> bool {
        let target = Target {
            slot: Some(slot),
            ..Target::default()
        };
        let auth = self.admin();
        self.send(
            op,
            Method::PATCH,
            &paths::admin_slot(slot),
            Some(body),
            auth,
            target,
        )
        .await;
        true
    }

    async fn cancel_departure(&mut self) -> bool {
        // Departure cancels cannot be undone; spread the budget over the
        // run so that the hot departures keep moving forward to the end.
        let run = self.run.as_secs_f64().max(1.0);
        let rate = CANCELS_PER_SECOND.min(self.cancel_budget as f64 / run);
        let allowed = 2 + (rate * self.start.elapsed().as_secs_f64().min(run)) as usize;
        let tour = self.random_tour();
        let Some(slot) = self.hot(tour) else {
            return false;
        };
        let within_budget = {
            let mut s = self.shared.lock();
            let ok = s.departure_cancels < allowed.min(self.cancel_budget);
            if ok {
                s.departure_cancels += 1;
            }
            ok
        };
        if !within_budget {
            return self.capacity().await;
        }
        let target = Target {
            slot: Some(slot),
            ..Target::default()
        };
        let auth = self.admin();
        let r = self
            .send(
                Op::CancelDeparture,
                Method::POST,
                &paths::admin_slot_action(slot, "cancel"),
                Some(json!({"reason": "race"})),
                auth,
                target,
            )
            .await;
        if r.is(200) || (r.is(409) && r.code() == "slot_cancelled") {
            self.shared.lock().departure_cancelled(slot);
        }
        true
    }

    /// Each admin keeps at most two blackouts; past that it removes one.
    async fn blackout_create(&mut self) -> bool {
        // One blackout per admin client at a time, so that the few hot
        // departures are not blacked out most of the run.
        if !self.blackouts.is_empty() {
            self.remove_blackout().await
        } else {
            self.add_blackout().await
        }
    }

    async fn blackout_delete(&mut self) -> bool {
        if self.blackouts.is_empty() {
            self.add_blackout().await
        } else {
            self.remove_blackout().await
        }
    }

    async fn add_blackout(&mut self) -> bool {
        let tour = self.random_tour();
        let Some(slot) = self.hot(tour) else {
            return false;
        };
        let Some(date) = self.plan.departures.get(&slot).map(|d| d.date.clone()) else {
            return false;
        };
        let tour_id = (!self.rng.random_bool(0.15)).then_some(self.plan.tours[tour].id);
        let mut body = json!({
            "start_date": date, "end_date": date, "blackout_type": "weather", "name": "Race storm"
        });
        if let Some(t) = tour_id {
            body["tour_id"] = json!(t);
        }
        let target = Target {
            span: Some(Span {
                tour_id,
                from: date.clone(),
                to: date,
            }),
            ..Target::default()
        };
        let auth = self.admin();
        let r = self
            .send(
                Op::BlackoutCreate,
                Method::POST,
                paths::ADMIN_BLACKOUTS,
                Some(body),
                auth,
                target,
            )
            .await;
        if r.is(201)
            && let Some(id) = r.body["blackout"]["id"].as_i64()
        {
            self.blackouts.push(id);
        }
        true
    }

    async fn remove_blackout(&mut self) -> bool {
        if self.blackouts.is_empty() {
            return false;
        }
        // Only the client that made a blackout removes it, so a 404 here
        // means it vanished.
        let i = self.rng.random_range(0..self.blackouts.len());
        let id = self.blackouts.swap_remove(i);
        let auth = self.admin();
        self.send(
            Op::BlackoutDelete,
            Method::DELETE,
            &paths::admin_blackout(id),
            None,
            auth,
            Target::default(),
        )
        .await;
        true
    }

    async fn schedule_edit(&mut self) -> bool {
        let tour = self.random_tour();
        let schedules = &self.plan.tours[tour].schedules;
        let (id, usual) = schedules[self.rng.random_range(0..schedules.len())];
        let body = if self.rng.random_bool(0.4) {
            json!({"max_capacity": self.rng.random_range(5..=10)})
        } else if self.rng.random_bool(0.3) {
            // A minimum change guarantees departures that now have it.
            json!({"min_capacity": self.rng.random_range(2..=5)})
        } else {
            // The usual time or half an hour later.
            let later = usual.replacen(":00:00", ":30:00", 1);
            let time = if self.rng.random_bool(0.5) {
                usual.to_owned()
            } else {
                later
            };
            json!({"start_time": time})
        };
        let auth = self.admin();
        self.send(
            Op::ScheduleEdit,
            Method::PUT,
            &paths::admin_schedule(id),
            Some(body),
            auth,
            Target::default(),
        )
        .await;
        true
    }

    async fn process_waitlist(&mut self) -> bool {
        let tour = self.random_tour();
        let Some(slot) = self.hot(tour) else {
            return false;
        };
        let target = Target {
            slot: Some(slot),
            ..Target::default()
        };
        let auth = self.admin();
        self.send(
            Op::ProcessWaitlist,
            Method::POST,
            &paths::admin_slot_action(slot, "process-waitlist"),
            Some(json!({})),
            auth,
            target,
        )
        .await;
        true
    }

    async fn admin_claim(&mut self) -> bool {
        let Some((id, tour, people)) = self.any_entry() else {
            return false;
        };
        let adults = self.rng.random_range(1..=people.max(1));
        let target = Target {
            entry: Some(id),
            ..Target::default()
        };
        let auth = self.admin();
        let r = self
            .send(
                Op::AdminClaim,
                Method::POST,
                &paths::waitlist_claim(id),
                Some(json!({"num_adults": adults})),
                auth,
                target,
            )
            .await;
        if r.is(201)
            && let (Some(b), Some(slot)) =
                (r.body["id"].as_i64(), r.body["booking_slot_id"].as_i64())
        {
            self.shared.lock().add_booking(b, tour, slot);
        }
        true
    }

    async fn admin_leave(&mut self) -> bool {
        let Some((id, _, _)) = self.any_entry() else {
            return false;
        };
        let target = Target {
            entry: Some(id),
            ..Target::default()
        };
        let auth = self.admin();
        self.send(
            Op::AdminLeave,
            Method::DELETE,
            &paths::waitlist_entry(id),
            None,
            auth,
            target,
        )
        .await;
        true
    }
}

fn weighted<T: Copy>(rng: &mut StdRng, mix: &[(T, u32)]) -> T {
    let total: u32 = mix.iter().map(|(_, w)| *w).sum();
    let mut roll = rng.random_range(0..total.max(1));
    for &(item, w) in mix {
        if roll < w {
            return item;
        }
        roll -= w;
    }
    mix[mix.len() - 1].0
}

// ---------------------------------------------------------------------------
// The checks

const V_CLIENT: &str = "client task failed";
const V_5XX: &str = "5xx response";
const V_404: &str = "404 for an existing id";
const V_AUTH: &str = "401/403 for the owner or an admin";
const V_MISSING: &str = "acknowledged booking missing";
const V_STATE: &str = "acknowledged state not kept";
const V_DRIFT: &str = "counter drift";
const V_ACTIVE_ON_CANCELLED: &str = "pending/confirmed booking on a cancelled departure";
const V_DONE_ON_CANCELLED: &str = "completed/no_show booking on a cancelled departure";
const V_HOLD_ON_CANCELLED: &str = "notified entry holding spots on a cancelled departure";
const V_FINAL_READ: &str = "final read failed";
const V_DOUBLE_CANCEL: &str = "departure cancel acknowledged twice";
const V_MISSED_GUARANTEE: &str = "departure at its minimum left pending";
const V_DOUBLE_GUARANTEE: &str = "departure guaranteed twice";

#[derive(Default)]
struct Violations {
    by_kind: BTreeMap<&'static str, Vec<String>>,
}

impl Violations {
    fn add(&mut self, kind: &'static str, detail: String) {
        self.by_kind.entry(kind).or_default().push(detail);
    }

    fn len(&self) -> usize {
        self.by_kind.values().map(Vec::len).sum()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// "kind: n; kind: n"
    fn counts(&self) -> String {
        let parts: Vec<String> = self
            .by_kind
            .iter()
            .map(|(kind, list)| format!("{kind}: {}", list.len()))
            .collect();
        parts.join("; ")
    }
}

#[derive(Default)]
struct CheckStats {
    acked_bookings: usize,
    compared: usize,
    not_comparable: usize,
    rows: usize,
    slots: usize,
    cancelled_slots: usize,
    guaranteed_slots: usize,
    notified_entries: usize,
}

/// A booking row as the admin API shows it after the run.
struct Row {
    state: BookingState,
}

/// A departure after the run.
struct SlotAfter {
    is_cancelled: bool,
    reason: String,
    /// Its `guarantee` object (issue #18).
    guarantee: Value,
}

async fn check(
    app: &Arc<TestApp>,
    plan: &Plan,
    calls: &[Call],
    t0: Instant,
    violations: &mut Violations,
) -> CheckStats {
    let mut stats = CheckStats::default();
    let admin = Auth::Bearer(plan.admin.clone());

    // 6. Answers during the run.
    for c in calls {
        match c.status {
            Some(s) if s >= 500 => violations.add(V_5XX, c.describe(t0)),
            Some(404) => violations.add(V_404, c.describe(t0)),
            Some(401 | 403) => violations.add(V_AUTH, c.describe(t0)),
            _ => {}
        }
    }

    // A departure can be cancelled once; a second cancel must be refused.
    let mut cancels: BTreeMap<i64, Vec<&Call>> = BTreeMap::new();
    for c in calls {
        if c.op == Op::CancelDeparture
            && c.acked()
            && let Some(slot) = c.target.slot
        {
            cancels.entry(slot).or_default().push(c);
        }
    }
    for (slot, acks) in cancels.iter().filter(|(_, a)| a.len() > 1) {
        let list: Vec<String> = acks.iter().map(|c| c.describe(t0)).collect();
        violations.add(
            V_DOUBLE_CANCEL,
            format!("departure {slot}:\n      {}", list.join("\n      ")),
        );
    }

    // The final state: departures, every booking row, notified entries.
    let mut slots: HashMap<i64, SlotAfter> = HashMap::new();
    for tour in &plan.tours {
        let path = format!(
            "/api/calendar/tours/{}/slots?start_date={}&end_date={}",
            tour.id,
            day(0),
            day(120)
        );
        match get_json(app, &path, &admin).await {
            Ok(v) => {
                for s in v.as_array().into_iter().flatten() {
                    if let Some(id) = s["id"].as_i64() {
                        let is_cancelled = s["is_cancelled"].as_bool().unwrap_or(false);
                        let reason = s["cancellation_reason"].as_str().unwrap_or("").to_owned();
                        slots.insert(
                            id,
                            SlotAfter {
                                is_cancelled,
                                reason,
                                guarantee: s["guarantee"].clone(),
                            },
                        );
                    }
                }
            }
            Err(e) => violations.add(V_FINAL_READ, format!("{path}: {e}")),
        }
    }
    stats.slots = slots.len();
    stats.cancelled_slots = slots.values().filter(|s| s.is_cancelled).count();

    // 8. A departure whose booked people reach its minimum is guaranteed
    //    (the booking, move, claim or schedule edit that got it there did
    //    it in its transaction), and is guaranteed once.
    for (id, s) in &slots {
        let g = &s.guarantee;
        if g["status"] == "pending" && g["booked"].as_i64() >= g["min_capacity"].as_i64() {
            violations.add(V_MISSED_GUARANTEE, format!("departure {id}: {g}"));
        }
    }
    match get_json(
        app,
        "/api/calendar/admin/notifications?type=departure.guaranteed&limit=500",
        &admin,
    )
    .await
    {
        Ok(v) => {
            let mut seen: HashMap<i64, usize> = HashMap::new();
            for e in v.as_array().into_iter().flatten() {
                if let Some(slot) = e["payload"]["booking_slot_id"].as_i64() {
                    *seen.entry(slot).or_default() += 1;
                }
            }
            for (slot, n) in seen.into_iter().filter(|(_, n)| *n > 1) {
                violations.add(V_DOUBLE_GUARANTEE, format!("departure {slot}: {n} events"));
            }
            stats.guaranteed_slots = slots
                .values()
                .filter(|s| s.guarantee["status"] == "guaranteed")
                .count();
        }
        Err(e) => violations.add(V_FINAL_READ, format!("guarantee events: {e}")),
    }

    let mut rows: HashMap<i64, Row> = HashMap::new();
    let mut offset = 0;
    loop {
        let path = format!("/api/calendar/admin/bookings?limit=500&offset={offset}");
        let page = match get_json(app, &path, &admin).await {
            Ok(v) => v,
            Err(e) => {
                violations.add(V_FINAL_READ, format!("{path}: {e}"));
                break;
            }
        };
        let list = page["bookings"].as_array().cloned().unwrap_or_default();
        for b in &list {
            if let Some((id, state)) = BookingState::of(b) {
                rows.insert(id, Row { state });
            }
        }
        if list.len() < 500 {
            break;
        }
        offset += 500;
    }
    stats.rows = rows.len();

    // 1. Every acknowledged booking exists, read one by one as the admin.
    let acked: Vec<i64> = {
        let mut ids: Vec<i64> = calls
            .iter()
            .filter(|c| {
                c.status == Some(201) && matches!(c.op, Op::Create | Op::Claim | Op::AdminClaim)
            })
            .filter_map(|c| c.booking)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    stats.acked_bookings = acked.len();
    let mut finals: HashMap<i64, BookingState> = HashMap::new();
    for (id, result) in read_bookings(app, &plan.admin, &acked).await {
        match result {
            Ok((200, text)) => {
                let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                match BookingState::of(&v) {
                    Some((_, state)) => {
                        // The seats held follow the tour's rule.
                        let seated = v["tour_name"] != UNSEATED_INFANTS;
                        let seats =
                            state.adults + state.children + if seated { state.infants } else { 0 };
                        if v["seats"].as_i64() != Some(seats) {
                            violations.add(
                                V_FINAL_READ,
                                format!(
                                    "booking {id}: holds {} seats, its party {seats}",
                                    v["seats"]
                                ),
                            );
                        }
                        if !rows.contains_key(&id) {
                            violations.add(
                                V_MISSING,
                                format!("booking {id} reads fine but is not in the admin list"),
                            );
                        }
                        finals.insert(id, state);
                    }
                    None => violations.add(
                        V_FINAL_READ,
                        format!("booking {id}: unreadable: {}", clip(&text, 200)),
                    ),
                }
            }
            Ok((404, text)) => violations.add(
                V_MISSING,
                format!("booking {id} was acknowledged with 201 but reads 404: {text}"),
            ),
            Ok((status, text)) => violations.add(
                V_FINAL_READ,
                format!("booking {id}: {status} {}", clip(&text, 200)),
            ),
            Err(e) => violations.add(V_FINAL_READ, format!("booking {id}: {e}")),
        }
    }

    // 2. Each booking ends as its last acknowledgement left it.
    compare_with_last_ack(plan, calls, &finals, t0, &mut stats, violations);

    // 3. Counters equal the rows (the query behind assert_consistent and
    //    the CLI's `check`).
    match app.ctx.availability().drift().await {
        Ok(drift) => {
            for d in drift {
                let cancels: String = calls
                    .iter()
                    .filter(|c| c.op == Op::CancelDeparture && c.target.slot == Some(d.slot_id))
                    .map(|c| format!("\n      {}", c.describe(t0)))
                    .collect();
                violations.add(V_DRIFT, format!("{d:?}{cancels}"));
            }
        }
        Err(e) => violations.add(V_FINAL_READ, format!("drift query: {e}")),
    }

    // 4. No booking holds capacity on a cancelled departure.
    let mut on_cancelled: Vec<(&i64, &Row)> = rows
        .iter()
        .filter(|(_, r)| {
            HOLDING.contains(&r.state.status.as_str())
                && slots.get(&r.state.slot).is_some_and(|s| s.is_cancelled)
        })
        .collect();
    on_cancelled.sort_by_key(|(id, _)| **id);
    for (id, row) in on_cancelled {
        let kind = if matches!(row.state.status.as_str(), "pending" | "confirmed") {
            V_ACTIVE_ON_CANCELLED
        } else {
            V_DONE_ON_CANCELLED
        };
        let history = booking_history(app, &admin, *id).await;
        let reason = slots.get(&row.state.slot).map_or("", |s| s.reason.as_str());
        let related = related_calls(calls, *id, row.state.slot, t0);
        violations.add(
            kind,
            format!(
                "booking {id}: {} on a departure cancelled ({reason:?}); {history}{related}",
                row.state
            ),
        );
    }

    // 5. No waitlist entry holds spots on a cancelled departure.
    for tour in &plan.tours {
        let path = format!(
            "/api/calendar/admin/waitlist?tour_id={}&status=notified",
            tour.id
        );
        match get_json(app, &path, &admin).await {
            Ok(v) => {
                for e in v.as_array().into_iter().flatten() {
                    stats.notified_entries += 1;
                    let held = e["held_slot_id"].as_i64();
                    if held.is_some_and(|s| slots.get(&s).is_some_and(|s| s.is_cancelled)) {
                        violations.add(
                            V_HOLD_ON_CANCELLED,
                            format!(
                                "entry {} holds {} spot(s) on cancelled departure {}",
                                e["id"],
                                e["num_people"],
                                held.unwrap_or_default()
                            ),
                        );
                    }
                }
            }
            Err(e) => violations.add(V_FINAL_READ, format!("{path}: {e}")),
        }
    }
    stats
}

/// Check 2. For each booking, L is the acknowledged write with the latest
/// answer that carries its state. The final row must equal L's state when
/// nothing else can have changed it after L:
/// - another write on the booking that was acknowledged or whose outcome is
///   unknown (no answer, 5xx) and that ended after L began could have taken
///   effect after L: the booking is not comparable. Refused writes are
///   taken to change nothing.
/// - a departure cancel of L's departure (acknowledged or unknown) that
///   overlaps L in time makes it not comparable; one that began after L
///   ended must have cancelled a pending or confirmed booking
///   (acknowledged), or may have (unknown).
/// - a blackout over L's departure created after L began may explain a
///   cancellation (blackouts cancel only empty departures, so this is
///   lenient on purpose).
fn compare_with_last_ack(
    plan: &Plan,
    calls: &[Call],
    finals: &HashMap<i64, BookingState>,
    t0: Instant,
    stats: &mut CheckStats,
    violations: &mut Violations,
) {
    let mut writes: HashMap<i64, Vec<&Call>> = HashMap::new();
    let mut departure_cancels: HashMap<i64, Vec<&Call>> = HashMap::new();
    let mut blackouts: Vec<&Call> = Vec::new();
    for c in calls {
        if !(c.acked() || c.unknown()) {
            continue;
        }
        if c.op.writes_booking()
            && let Some(b) = c.booking
        {
            writes.entry(b).or_default().push(c);
        }
        match (c.op, c.target.slot) {
            (Op::CancelDeparture, Some(slot)) => departure_cancels.entry(slot).or_default().push(c),
            (Op::BlackoutCreate, _) => blackouts.push(c),
            _ => {}
        }
    }
    let mut ids: Vec<&i64> = finals.keys().collect();
    ids.sort_unstable();
    for id in ids {
        let Some(final_state) = finals.get(id) else {
            continue;
        };
        let on_booking = writes.get(id).map(Vec::as_slice).unwrap_or_default();
        let Some(last) = on_booking
            .iter()
            .filter(|c| c.acked() && c.state.is_some())
            .max_by_key(|c| c.received)
        else {
            continue;
        };
        let Some(acked_state) = &last.state else {
            continue;
        };
        let overlapping = on_booking
            .iter()
            .any(|c| !std::ptr::eq(*c, *last) && c.settled() > last.sent);
        let mut must_cancel = false;
        let mut may_cancel = false;
        let mut ambiguous = overlapping;
        for d in departure_cancels
            .get(&acked_state.slot)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            if d.settled() <= last.sent {
                continue; // over before L began
            }
            if d.sent < last.received {
                ambiguous = true;
            } else if d.acked() {
                must_cancel = true;
            } else {
                may_cancel = true;
            }
        }
        if blackouts.iter().any(|b| {
            b.settled() > last.sent
                && b.target
                    .span
                    .as_ref()
                    .is_some_and(|s| plan.covers(s, acked_state.slot))
        }) {
            may_cancel = true;
        }
        if ambiguous {
            stats.not_comparable += 1;
            continue;
        }
        stats.compared += 1;
        let cancelled = acked_state.after_departure_cancel();
        let fine = if must_cancel {
            *final_state == cancelled
        } else if may_cancel {
            *final_state == *acked_state || *final_state == cancelled
        } else {
            *final_state == *acked_state
        };
        if !fine {
            let expected = if must_cancel {
                format!("{cancelled} (a later departure cancel)")
            } else if may_cancel {
                format!("{acked_state} or {cancelled}")
            } else {
                acked_state.to_string()
            };
            violations.add(
                V_STATE,
                format!(
                    "booking {id}: is {final_state}, expected {expected}; last ack: {}",
                    last.describe(t0)
                ),
            );
        }
    }
}

/// The calls that explain a booking on a cancelled departure: the
/// departure's cancels and the booking's acknowledged writes.
fn related_calls(calls: &[Call], booking: i64, slot: i64, t0: Instant) -> String {
    let mut out = String::new();
    for c in calls {
        let cancel = c.op == Op::CancelDeparture && c.target.slot == Some(slot);
        let write = c.booking == Some(booking) && c.op.writes_booking() && !c.refused();
        if cancel || write {
            let _ = write!(out, "\n      {}", c.describe(t0));
        }
    }
    out
}

async fn get_json(app: &TestApp, path: &str, auth: &Auth) -> Result<Value, String> {
    match http(app, Method::GET, path, None, auth).await {
        Ok((200, text)) => serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}")),
        Ok((status, text)) => Err(format!("{status} {}", clip(&text, 200))),
        Err(e) => Err(e),
    }
}

/// Reads bookings as the admin, a few at a time.
async fn read_bookings(
    app: &Arc<TestApp>,
    admin: &str,
    ids: &[i64],
) -> Vec<(i64, Result<(u16, String), String>)> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(16) {
        let mut set = tokio::task::JoinSet::new();
        for &id in chunk {
            let app = app.clone();
            let auth = Auth::Bearer(admin.to_owned());
            set.spawn(async move {
                let path = paths::booking(id);
                (id, http(&app, Method::GET, &path, None, &auth).await)
            });
        }
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(r) => out.push(r),
                Err(e) => out.push((0, Err(format!("read task failed: {e}")))),
            }
        }
    }
    out
}

/// A booking's audit trail in one line, for a violation's detail.
async fn booking_history(app: &TestApp, admin: &Auth, id: i64) -> String {
    let path = paths::admin_booking_action(id, "history");
    match get_json(app, &path, admin).await {
        Ok(v) => {
            let steps: Vec<String> = v
                .as_array()
                .into_iter()
                .flatten()
                .map(|h| {
                    format!(
                        "{} {}→slot {} {}",
                        h["modification_type"].as_str().unwrap_or("?"),
                        h["actor"].as_str().unwrap_or("?"),
                        h["new_value"]["booking_slot_id"],
                        h["new_value"]["status"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            format!("history: {}", steps.join(", "))
        }
        Err(e) => format!("history unavailable: {e}"),
    }
}

fn summarize(calls: &[Call], stats: &CheckStats, violations: &Violations) -> String {
    #[derive(Default)]
    struct Counts {
        sent: usize,
        ok: usize,
        refused: usize,
        server_error: usize,
        unanswered: usize,
        codes: BTreeMap<String, usize>,
    }
    let mut by_op: BTreeMap<Op, Counts> = BTreeMap::new();
    for c in calls {
        let n = by_op.entry(c.op).or_default();
        n.sent += 1;
        match c.status {
            Some(s) if (200..300).contains(&s) => n.ok += 1,
            Some(s) if s >= 500 => n.server_error += 1,
            Some(s) => {
                n.refused += 1;
                let code = serde_json::from_str::<Value>(&c.text)
                    .ok()
                    .and_then(|v| v["code"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| s.to_string());
                *n.codes.entry(code).or_default() += 1;
            }
            None => n.unanswered += 1,
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<28} {:>7} {:>7} {:>7} {:>5} {:>7}  4xx codes",
        "operation", "sent", "2xx", "4xx", "5xx", "no ans"
    );
    let mut total = Counts::default();
    for (op, n) in &by_op {
        let mut codes: Vec<(&String, &usize)> = n.codes.iter().collect();
        codes.sort_by(|a, b| b.1.cmp(a.1));
        let codes: Vec<String> = codes.iter().map(|(c, k)| format!("{c} {k}")).collect();
        let _ = writeln!(
            out,
            "{:<28} {:>7} {:>7} {:>7} {:>5} {:>7}  {}",
            op.name(),
            n.sent,
            n.ok,
            n.refused,
            n.server_error,
            n.unanswered,
            codes.join(", ")
        );
        total.sent += n.sent;
        total.ok += n.ok;
        total.refused += n.refused;
        total.server_error += n.server_error;
        total.unanswered += n.unanswered;
    }
    let _ = writeln!(
        out,
        "{:<28} {:>7} {:>7} {:>7} {:>5} {:>7}",
        "total", total.sent, total.ok, total.refused, total.server_error, total.unanswered
    );
    let _ = writeln!(
        out,
        "bookings: {} acknowledged, {} rows, {} compared with their last ack, {} not comparable \
         (overlapping writes); departures: {} ({} cancelled, {} guaranteed); notified entries: {}",
        stats.acked_bookings,
        stats.rows,
        stats.compared,
        stats.not_comparable,
        stats.slots,
        stats.cancelled_slots,
        stats.guaranteed_slots,
        stats.notified_entries
    );
    if violations.is_empty() {
        let _ = writeln!(out, "violations: none");
        return out;
    }
    let _ = writeln!(out, "violations by kind:");
    for (kind, list) in &violations.by_kind {
        let _ = writeln!(out, "  {:<56} {:>6}", kind, list.len());
    }
    for (kind, list) in &violations.by_kind {
        let _ = writeln!(out, "{kind}, first {}:", list.len().min(EXAMPLES));
        for detail in list.iter().take(EXAMPLES) {
            let _ = writeln!(out, "  - {detail}");
        }
    }
    out
}
