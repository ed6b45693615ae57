//! Driving the server: keep-alive clients running one scenario each for a
//! fixed time, latency percentiles, the server's peak RSS, and the
//! correctness checks that follow every scenario.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Datelike;
use serde::Serialize;
use serde_json::json;
use tourdesk_domain::booking::{Party, Pricing};
use tourdesk_domain::{AuditKind, ContactDetails, EventKind};
use tourdesk_service::Context;
use tourdesk_store::bookings::{self, NewBooking};
use tourdesk_store::{audit, bulk, capacity};

use super::dataset::{Dataset, SlotRef};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Hot,
    /// `hot` at 256 clients, for the tail latency when a sale opens.
    Hot256,
    Spread,
    Sellout,
    Read,
    Mixed,
}

impl Scenario {
    /// Whether the scenario's creates are compared with the raw hot-path
    /// transaction ceiling (which the bench then measures).
    pub fn has_ceiling(self) -> bool {
        matches!(self, Scenario::Hot | Scenario::Hot256 | Scenario::Spread)
    }
}

impl FromStr for Scenario {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "hot" => Scenario::Hot,
            "hot256" => Scenario::Hot256,
            "spread" => Scenario::Spread,
            "sellout" => Scenario::Sellout,
            "read" => Scenario::Read,
            "mixed" => Scenario::Mixed,
            other => {
                return Err(format!(
                    "unknown scenario `{other}` (hot, hot256, spread, sellout, read, mixed)"
                ));
            }
        })
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scenario::Hot => "hot",
            Scenario::Hot256 => "hot256",
            Scenario::Spread => "spread",
            Scenario::Sellout => "sellout",
            Scenario::Read => "read",
            Scenario::Mixed => "mixed",
        })
    }
}

#[derive(Debug, Serialize)]
pub struct Outcome {
    pub scenario: String,
    pub clients: usize,
    pub requests: u64,
    pub requests_per_sec: f64,
    /// Bookings created per second (201s to create requests).
    pub creates_per_sec: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub statuses: BTreeMap<u16, u64>,
    pub peak_rss_bytes: u64,
    /// creates_per_sec / raw transaction ceiling (hot and spread).
    pub ceiling_ratio: Option<f64>,
    /// The server process's CPU time (all threads) per request, in ms:
    /// from the scenario's start until the outbox events its requests left
    /// were delivered. None when the bench did not start the server.
    pub server_cpu_ms_per_request: Option<f64>,
    /// Group commit as the server's `/metrics` counted it during the run.
    pub batching: Option<Batching>,
    pub correct: bool,
    pub problems: Vec<String>,
}

/// Group commit during one scenario: from the server's own counters
/// (`group_commit_batch_size`, `group_commit_flushes_total`), read before
/// and after.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Batching {
    /// Transactions that served booking requests.
    pub batches: u64,
    /// Of those, committed: each one commit flush.
    pub flushes: u64,
    pub flushes_per_sec: f64,
    /// Booking requests per batch, on average.
    pub mean_size: f64,
    /// Batches by size: (largest size in the bucket, batches).
    pub sizes: Vec<(u64, u64)>,
}

/// The group commit figures a server's `/metrics` shows now.
#[derive(Debug, Clone, Default)]
pub struct BatchCounters {
    count: u64,
    sum: f64,
    flushes: u64,
    /// Cumulative bucket counts by upper bound.
    buckets: BTreeMap<u64, u64>,
}

impl BatchCounters {
    /// Reads them from `base`/metrics (zeros if the server has none).
    pub async fn read(client: &reqwest::Client, base: &str) -> BatchCounters {
        let text = match client.get(format!("{base}/metrics")).send().await {
            Ok(r) if r.status().is_success() => r.text().await.unwrap_or_default(),
            _ => String::new(),
        };
        Self::parse(&text)
    }

    fn parse(text: &str) -> BatchCounters {
        let mut out = BatchCounters::default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((name, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            if name == "group_commit_batch_size_count" {
                out.count = value as u64;
            } else if name == "group_commit_batch_size_sum" {
                out.sum = value;
            } else if name == "group_commit_flushes_total" {
                out.flushes = value as u64;
            } else if let Some(le) = name
                .strip_prefix("group_commit_batch_size_bucket{le=\"")
                .and_then(|rest| rest.strip_suffix("\"}"))
                .and_then(|le| le.parse::<f64>().ok())
            {
                out.buckets.insert(le as u64, value as u64);
            }
        }
        out
    }

    /// What happened between `self` (before) and `after`, over `secs`.
    pub fn until(&self, after: &BatchCounters, secs: f64) -> Batching {
        let batches = after.count.saturating_sub(self.count);
        let flushes = after.flushes.saturating_sub(self.flushes);
        let mut sizes = Vec::new();
        let mut below = 0;
        for (le, n) in &after.buckets {
            let cumulative = n.saturating_sub(self.buckets.get(le).copied().unwrap_or(0));
            let here = cumulative.saturating_sub(below);
            below = cumulative;
            if here > 0 {
                sizes.push((*le, here));
            }
        }
        Batching {
            batches,
            flushes,
            flushes_per_sec: flushes as f64 / secs.max(0.001),
            mean_size: if batches > 0 {
                (after.sum - self.sum) / batches as f64
            } else {
                0.0
            },
            sizes,
        }
    }
}

/// What one worker saw.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    statuses: BTreeMap<u16, u64>,
    created: Vec<(i64, i64)>,
    refused_sizes: Vec<i64>,
    creates_ok: u64,
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[idx.min(sorted.len() - 1)]) / 1000.0
}

fn booking_body(slot: &SlotRef, adults: i64) -> serde_json::Value {
    json!({"tour_id": slot.tour_id, "booking_slot_id": slot.id, "num_adults": adults,
           "customer_name": "Load Tester", "customer_email": "load@example.com"})
}

struct Worker {
    client: reqwest::Client,
    base: String,
    counter: Arc<AtomicU64>,
    tally: Tally,
    /// Bookings this worker made: id, manage token, party size.
    mine: Vec<(i64, String, i64)>,
}

impl Worker {
    /// Sends `req` and times it to the answer's last byte; the body is
    /// returned unparsed, so the load generator spends no time (and none
    /// of the cores it shares with the server) decoding answers it does
    /// not look at, and no decoding counts in a latency.
    async fn send(&mut self, req: reqwest::RequestBuilder) -> Option<(u16, bytes::Bytes)> {
        let t = Instant::now();
        let (status, body) = match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                (status, resp.bytes().await.unwrap_or_default())
            }
            Err(_) => (0, bytes::Bytes::new()),
        };
        self.tally
            .latencies_us
            .push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
        *self.tally.statuses.entry(status).or_default() += 1;
        self.counter.fetch_add(1, Ordering::Relaxed);
        Some((status, body))
    }

    async fn create(&mut self, slot: &SlotRef, adults: i64) {
        let req = self
            .client
            .post(format!("{}/api/calendar/bookings", self.base))
            .json(&booking_body(slot, adults));
        if let Some((status, body)) = self.send(req).await {
            if status == 201 {
                self.tally.creates_ok += 1;
                let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                if let Some(id) = body["id"].as_i64() {
                    self.tally.created.push((id, adults));
                    if let Some(t) = body["manage_token"].as_str() {
                        self.mine.push((id, t.to_owned(), adults));
                    }
                }
            } else if status == 400 {
                self.tally.refused_sizes.push(adults);
            }
        }
    }

    async fn read(&mut self, data: &Dataset) {
        let slot = &data.slots[rand::random_range(0..data.slots.len())];
        let req = if rand::random_bool(0.5) {
            self.client.get(format!(
                "{}/api/calendar/tours/{}/monthly?year={}&month={}",
                self.base,
                slot.tour_id,
                slot.date.year(),
                slot.date.month()
            ))
        } else {
            self.client
                .post(format!("{}/api/calendar/availability", self.base))
                .json(
                    &json!({"tour_id": slot.tour_id, "requested_date": slot.date, "num_people": 2}),
                )
        };
        self.send(req).await;
    }

    async fn modify_or_cancel(&mut self) {
        if self.mine.is_empty() {
            return;
        }
        let i = rand::random_range(0..self.mine.len());
        if rand::random_bool(0.5) {
            // Toggle between 1 and 2 adults: always a real change.
            let (id, token, adults) = self.mine[i].clone();
            let next = if adults == 1 { 2 } else { 1 };
            let req = self
                .client
                .put(format!("{}/api/calendar/bookings/{id}", self.base))
                .header("x-manage-token", token)
                .json(&json!({"new_num_adults": next}));
            if let Some((200, _)) = self.send(req).await {
                self.mine[i].2 = next;
            }
        } else {
            let (id, token, _) = self.mine.swap_remove(i);
            let req = self
                .client
                .delete(format!("{}/api/calendar/bookings/{id}", self.base))
                .header("x-manage-token", token);
            self.send(req).await;
        }
    }
}

pub async fn run(
    scenario: Scenario,
    base: &str,
    ctx: &Context,
    data: &Dataset,
    clients: usize,
    duration: Duration,
    server_pid: Option<u32>,
) -> anyhow::Result<Outcome> {
    let data = Arc::new(Dataset {
        tour_ids: data.tour_ids.clone(),
        slots: data.slots.clone(),
        hot: data.hot.clone(),
        sellout: data.sellout.clone(),
        ceiling: data.ceiling.clone(),
        slot_count: data.slot_count,
        booking_count: data.booking_count,
    });
    let mut conn = ctx.db.read().await?;
    let first_new_id = bulk::max_booking_id(&mut conn).await? + 1;
    drop(conn);
    let workers_n = match scenario {
        Scenario::Sellout => 1000,
        Scenario::Hot256 => 256,
        _ => clients,
    };
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(workers_n)
        .timeout(Duration::from_secs(60))
        .build()?;
    let counters_before = BatchCounters::read(&client, base).await;
    let counter = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (done, peak) = (done.clone(), peak.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                if let Some(pid) = server_pid {
                    peak.fetch_max(super::rss_bytes(pid), Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let progress = {
        let (done, counter) = (done.clone(), counter.clone());
        tokio::spawn(async move {
            let start = Instant::now();
            while !done.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_secs(1)).await;
                eprint!(
                    "\rbench: {scenario:<8} {:>3} s  {:>9} requests",
                    start.elapsed().as_secs(),
                    counter.load(Ordering::Relaxed)
                );
            }
            eprintln!();
        })
    };
    let started = Instant::now();
    let deadline = started + duration;
    let mut handles = Vec::with_capacity(workers_n);
    for _ in 0..workers_n {
        let w = Worker {
            client: client.clone(),
            base: base.to_owned(),
            counter: counter.clone(),
            tally: Tally::default(),
            mine: Vec::new(),
        };
        let data = data.clone();
        handles.push(tokio::spawn(w.drive(scenario, data, deadline)));
    }
    let mut all = Tally::default();
    for h in handles {
        all.absorb(h.await?);
    }
    let elapsed = started.elapsed().as_secs_f64().max(0.001);
    done.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    let _ = progress.await;
    all.latencies_us.sort_unstable();

    let problems = problems_after(ctx, scenario, &data, &all, first_new_id).await?;
    let requests = all.latencies_us.len() as u64;
    let window = if scenario == Scenario::Sellout {
        elapsed
    } else {
        duration.as_secs_f64().max(elapsed)
    };
    let batching = counters_before.until(&BatchCounters::read(&client, base).await, window);
    Ok(Outcome {
        scenario: scenario.to_string(),
        clients: workers_n,
        batching: (batching.batches > 0).then_some(batching),
        requests,
        requests_per_sec: requests as f64 / window,
        creates_per_sec: all.creates_ok as f64 / window,
        p50_ms: percentile(&all.latencies_us, 0.50),
        p95_ms: percentile(&all.latencies_us, 0.95),
        p99_ms: percentile(&all.latencies_us, 0.99),
        statuses: all.statuses,
        peak_rss_bytes: peak.load(Ordering::Relaxed),
        ceiling_ratio: None,
        server_cpu_ms_per_request: None,
        correct: problems.is_empty(),
        problems,
    })
}

/// What a run broke, in words: counters that drifted from their rows,
/// acknowledged bookings that are not stored, 5xx answers, and (sellout)
/// a departure not filled exactly.
async fn problems_after(
    ctx: &Context,
    scenario: Scenario,
    data: &Dataset,
    all: &Tally,
    first_new_id: i64,
) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    let drift = ctx.availability().drift().await?;
    if !drift.is_empty() {
        problems.push(format!(
            "{} slot(s) drifted from their rows: {:?}",
            drift.len(),
            drift.first()
        ));
    }
    let mut conn = ctx.db.read().await?;
    let stored = bulk::booking_ids_from(&mut conn, first_new_id).await?;
    drop(conn);
    let stored: std::collections::HashSet<i64> = stored.into_iter().collect();
    let lost = all
        .created
        .iter()
        .filter(|(id, _)| !stored.contains(id))
        .count();
    if lost > 0 {
        problems.push(format!("{lost} acknowledged booking(s) are not stored"));
    }
    let server_errors: u64 = all
        .statuses
        .iter()
        .filter(|(s, _)| **s >= 500 || **s == 0)
        .map(|(_, n)| n)
        .sum();
    if server_errors > 0 {
        problems.push(format!("{server_errors} response(s) were 5xx or failed"));
    }
    if scenario == Scenario::Sellout {
        let booked: i64 = all.created.iter().map(|(_, n)| n).sum();
        let smallest_refused = all.refused_sizes.iter().copied().min().unwrap_or(i64::MAX);
        let slot = ctx.catalog().slot(data.sellout.id).await?;
        if slot.current_bookings != booked {
            problems.push(format!(
                "sellout slot counts {} but clients saw {booked} booked",
                slot.current_bookings
            ));
        }
        if booked > 100 || 100 - booked >= smallest_refused {
            problems.push(format!(
                "sellout filled to {booked} of 100 while refusing a party of {smallest_refused}"
            ));
        }
    }
    Ok(problems)
}

impl Tally {
    /// Adds a worker's tally to this one.
    fn absorb(&mut self, t: Tally) {
        self.latencies_us.extend(t.latencies_us);
        for (k, v) in t.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        self.created.extend(t.created);
        self.refused_sizes.extend(t.refused_sizes);
        self.creates_ok += t.creates_ok;
    }
}

impl Worker {
    /// Sends the scenario's requests until `deadline` (sellout: one create)
    /// and returns what it saw.
    async fn drive(mut self, scenario: Scenario, data: Arc<Dataset>, deadline: Instant) -> Tally {
        let random_slot =
            |data: &Dataset| data.slots[rand::random_range(0..data.slots.len())].clone();
        if scenario == Scenario::Sellout {
            let slot = data.sellout.clone();
            self.create(&slot, rand::random_range(1..=4)).await;
            return self.tally;
        }
        while Instant::now() < deadline {
            match scenario {
                Scenario::Hot | Scenario::Hot256 => {
                    let slot = data.hot.clone();
                    self.create(&slot, 1).await;
                }
                Scenario::Spread => self.create(&random_slot(&data), 1).await,
                Scenario::Read => self.read(&data).await,
                _ => match rand::random_range(0..100) {
                    0..80 => self.read(&data).await,
                    80..95 => {
                        self.create(&random_slot(&data), rand::random_range(1..=2))
                            .await
                    }
                    _ => self.modify_or_cancel().await,
                },
            }
        }
        self.tally
    }
}

/// The raw hot-path transaction (conditional UPDATE, booking INSERT, audit
/// INSERT, outbox INSERT) straight through the store, no HTTP and no
/// service layer, at the same concurrency. Returns committed transactions
/// per second.
pub async fn ceiling(
    ctx: &Context,
    data: &Dataset,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut handles = Vec::new();
    for w in 0..clients {
        let db = ctx.db.clone();
        let slot = data.ceiling.clone();
        handles.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                let now = chrono::Utc::now();
                let reference = format!("CEIL-{w}-{n}-{:x}", rand::random::<u32>());
                let contact = ContactDetails {
                    customer_name: "Ceiling".into(),
                    customer_email: "ceiling@example.com".into(),
                    ..ContactDetails::default()
                };
                let mut tx = db.begin().await?;
                if capacity::reserve(&mut tx, slot.id, 1, now).await?.is_none() {
                    anyhow::bail!("the ceiling slot is full");
                }
                let id = bookings::insert_booking(
                    &mut tx,
                    &NewBooking {
                        booking_reference: &reference,
                        user_id: None,
                        tour_id: slot.tour_id,
                        booking_slot_id: slot.id,
                        party: Party {
                            adults: 1,
                            children: 0,
                            infants: 0,
                        },
                        pricing: Pricing {
                            price_per_adult: 7500,
                            price_per_child: 5250,
                            price_per_infant: 0,
                            subtotal: 7500,
                            discount_amount: 0,
                            tax_amount: 750,
                            total_amount: 8250,
                        },
                        currency: "USD",
                        contact: &contact,
                        status: "pending",
                        seats: 1,
                    },
                    now,
                )
                .await?
                .unwrap_or_default();
                audit::insert_log(
                    &mut tx,
                    audit::NewLog {
                        booking_id: id,
                        tour_id: slot.tour_id,
                        modified_by: None,
                        actor: "system",
                        modification_type: AuditKind::Created,
                        old_value: None,
                        new_value: Some(json!({"total_people": 1})),
                        reason: None,
                        ip_address: None,
                        user_agent: None,
                    },
                    now,
                )
                .await?;
                audit::insert_event(
                    &mut tx,
                    slot.tour_id,
                    EventKind::BookingCreated,
                    json!({"booking_id": id}),
                    now,
                )
                .await?;
                tx.commit().await?;
                n += 1;
            }
            Ok::<u64, anyhow::Error>(n)
        }));
    }
    let mut total = 0;
    for h in handles {
        total += h.await??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64().max(0.001))
}

/// Waits until the server has delivered its outbox (`outbox_backlog_events`
/// on `/metrics` is 0), at most `limit`; returns the events still waiting
/// (`None` when the server does not report it). Each scenario starts on a
/// quiet server: the emails of the bookings an earlier scenario made are
/// that scenario's work, not the next one's.
pub async fn drain_outbox(base: &str, limit: Duration) -> Option<u64> {
    let client = reqwest::Client::new();
    let until = Instant::now() + limit;
    loop {
        let text = match client.get(format!("{base}/metrics")).send().await {
            Ok(r) if r.status().is_success() => r.text().await.unwrap_or_default(),
            _ => return None,
        };
        let backlog = text
            .lines()
            .filter_map(|l| l.strip_prefix("outbox_backlog_events "))
            .find_map(|v| v.trim().parse::<f64>().ok())? as u64;
        if backlog == 0 || Instant::now() >= until {
            return Some(backlog);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
