//! Tourdesk's benchmark (`tourdesk bench`, which runs the `tourdesk-bench`
//! binary beside it): builds a dataset through the store layer, starts the
//! `tourdesk` server on it as a child process, drives it over HTTP with keep-alive
//! clients, and measures — in the same run — the raw rate of the hot-path
//! transaction issued straight to the database, so results read as ratios.
//!
//! Scenarios: `hot` (one slot of unlimited capacity), `hot256` (the same at
//! 256 clients, for the tail), `spread` (random slots), `sellout` (capacity
//! 100, 1,000 clients, parties of 1–4), `read` (month views and availability
//! checks) and `mixed` (80 % reads, 15 % creates, 5 % modifies and cancels).
//! After each: the invariant check, every 201 the clients saw is a stored
//! booking, and sellout filled exactly; and group commit's batch sizes and
//! commit flushes per second, read from the server's `/metrics` before and
//! after (`GROUP_COMMIT_MAX_BATCH=1` in the bench's environment measures the
//! server without batching). Each scenario starts once the server has
//! delivered the outbox events (emails) of the bookings made before it, so
//! one scenario's background work is not measured in the next; the server's
//! CPU time per request is counted until its scenario's events are
//! delivered (the figure to compare builds by on a machine whose speed
//! varies between runs).

mod dataset;
mod load;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;
use tourdesk_service::{Context, Settings};
use tourdesk_store::{Backend, Db, DbOptions};

pub use dataset::Dataset;
use load::{Outcome, Scenario};

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Database to benchmark: a PostgreSQL server URL (a fresh database is
    /// created on it and dropped afterwards), or sqlite (a fresh temp file;
    /// the default).
    #[arg(long, default_value = "sqlite")]
    pub database_url: String,
    /// Drive an already running server at this base URL instead of starting
    /// one; it must use the database the dataset is built in
    /// (`--database-url` then names that exact database, which must be empty).
    #[arg(long)]
    pub url: Option<String>,
    #[arg(long, default_value_t = 50)]
    pub tours: usize,
    #[arg(long, default_value_t = 730)]
    pub days: usize,
    #[arg(long, default_value_t = 4)]
    pub slots_per_day: usize,
    #[arg(long, default_value_t = 1_000_000)]
    pub bookings: usize,
    /// Concurrent keep-alive clients.
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    /// Seconds per timed scenario.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Comma-separated scenarios.
    #[arg(long, default_value = "hot,hot256,spread,sellout,read,mixed")]
    pub scenarios: String,
    /// Print one JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The `tourdesk` binary to start as the server under test (default:
    /// the one beside this program; `tourdesk bench` passes itself).
    #[arg(long, env = "TOURDESK_BIN")]
    pub server: Option<PathBuf>,
}

/// The server binary the bench starts: `--server`, else the `tourdesk`
/// beside the running program.
fn server_binary(args: &BenchArgs) -> anyhow::Result<PathBuf> {
    if let Some(p) = &args.server {
        return Ok(p.clone());
    }
    let me = std::env::current_exe().context("locating this program")?;
    let beside = me.with_file_name(format!("tourdesk{}", std::env::consts::EXE_SUFFIX));
    anyhow::ensure!(
        beside.is_file(),
        "no tourdesk binary beside {} (build the workspace with `cargo build --release`, or name one with --server)",
        me.display()
    );
    Ok(beside)
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub backend: &'static str,
    pub dataset: DatasetReport,
    pub clients: usize,
    pub duration_secs: u64,
    /// The raw hot-path transaction ceiling; measured only when a scenario
    /// is compared with it (`hot`, `hot256`, `spread`), else null.
    pub ceiling_per_sec: Option<f64>,
    pub scenarios: Vec<Outcome>,
    pub all_correct: bool,
}

#[derive(Debug, Serialize)]
pub struct DatasetReport {
    pub tours: usize,
    pub slots: usize,
    pub bookings: usize,
    pub build_secs: f64,
}

/// A database created for the run, dropped (PostgreSQL) or deleted (SQLite) after.
struct Fresh {
    url: String,
    admin_url: Option<String>,
    name: Option<String>,
    dir: Option<PathBuf>,
}

impl Fresh {
    async fn create(arg: &str, use_as_is: bool) -> anyhow::Result<Fresh> {
        if arg == "sqlite" {
            let dir =
                std::env::temp_dir().join(format!("tourdesk-bench-{}", rand::random::<u64>()));
            std::fs::create_dir_all(&dir).context("creating the bench folder")?;
            let url = format!("sqlite://{}/bench.db", dir.display());
            return Ok(Fresh {
                url,
                admin_url: None,
                name: None,
                dir: Some(dir),
            });
        }
        match Backend::from_url(arg)? {
            Backend::Sqlite => Ok(Fresh {
                url: arg.to_owned(),
                admin_url: None,
                name: None,
                dir: None,
            }),
            Backend::Postgres if use_as_is => Ok(Fresh {
                url: arg.to_owned(),
                admin_url: None,
                name: None,
                dir: None,
            }),
            Backend::Postgres => {
                let name = format!("tourdesk_bench_{:x}", rand::random::<u32>());
                run_admin(arg, &format!("CREATE DATABASE {name}")).await?;
                let base = arg.rsplit_once('/').map(|(b, _)| b).unwrap_or(arg);
                Ok(Fresh {
                    url: format!("{base}/{name}"),
                    admin_url: Some(arg.to_owned()),
                    name: Some(name),
                    dir: None,
                })
            }
        }
    }

    async fn drop_it(self) {
        if let (Some(admin), Some(name)) = (&self.admin_url, &self.name)
            && let Err(e) = run_admin(
                admin,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            )
            .await
        {
            eprintln!("bench: could not drop {name}: {e}");
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

async fn run_admin(url: &str, sql: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(url)
        .await
        .context("connecting to PostgreSQL")?;
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut c)
        .await
        .with_context(|| sql.to_owned())?;
    c.close().await.ok();
    Ok(())
}

/// The server under test, as a child process.
struct Server {
    child: std::process::Child,
    base: String,
}

impl Server {
    fn start(exe: &std::path::Path, database_url: &str, clients: usize) -> anyhow::Result<Server> {
        // PostgreSQL connections wait on I/O, so one per client helps; SQLite
        // readers beyond the core count do not, and each holds a page cache.
        let connections = if database_url.starts_with("sqlite") {
            10
        } else {
            clients.clamp(4, 64)
        };
        use std::io::{BufRead, BufReader};
        let mut child = std::process::Command::new(exe)
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "warn,tourdesk=info")
            .env("BOOKING_ADVANCE_DAYS", "3650")
            .env("BOOKING_CUTOFF_HOURS", "0")
            // The load generator is one address booking as few emails.
            .env("RATE_LIMIT_BOOKING_PER_MINUTE", "0")
            .env("RATE_LIMIT_BOOKING_PER_EMAIL", "0")
            .env("MAX_PENDING_PER_EMAIL", "0")
            .env("DATABASE_MAX_CONNECTIONS", connections.to_string())
            .env("SLOT_GENERATION_INTERVAL_MINUTES", "10080")
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .context("starting the server")?;
        let stderr = child.stderr.take().context("server stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let Some(Ok(line)) = lines.next() else { break };
            if line.contains("tourdesk is listening") {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                if let Some(base) = v["address"].as_str() {
                    // Keep draining the server's log so it never blocks on a full pipe.
                    std::thread::spawn(move || for _ in lines.by_ref() {});
                    return Ok(Server {
                        child,
                        base: base.to_owned(),
                    });
                }
            }
        }
        let _ = child.kill();
        anyhow::bail!("the server did not start within 60 s")
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
    }
}

/// Resident set size of a process in bytes (Linux), or 0 when unknown.
pub fn rss_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// CPU time a process has used so far (user and system, all its threads),
/// in seconds (Linux: `/proc/PID/stat` counts in USER_HZ, 100 per second),
/// or None when unknown.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name (in parentheses, which may hold spaces): the
    // state is field 3, utime field 14 and stime field 15.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    Some((ticks(11)? + ticks(12)?) as f64 / 100.0)
}

pub async fn run(args: BenchArgs) -> anyhow::Result<bool> {
    let scenarios: Vec<Scenario> = args
        .scenarios
        .split(',')
        .map(|s| s.trim().parse::<Scenario>().map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<_>>()?;
    let fresh = Fresh::create(&args.database_url, args.url.is_some()).await?;
    let result = run_on(&args, &fresh.url, &scenarios).await;
    fresh.drop_it().await;
    let report = result?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(report.all_correct)
}

async fn run_on(args: &BenchArgs, url: &str, scenarios: &[Scenario]) -> anyhow::Result<Report> {
    let mut opts = DbOptions::new(url);
    opts.max_connections = args.clients.clamp(4, 64) as u32;
    opts.create = true;
    let db = Db::connect(&opts).await?;
    db.migrate().await?;
    let backend = match db.backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    eprintln!(
        "bench: building {} tours × {} days × {} slots/day with {} bookings on {backend}…",
        args.tours, args.days, args.slots_per_day, args.bookings
    );
    let started = Instant::now();
    let data = dataset::build(
        &db,
        args.tours,
        args.days,
        args.slots_per_day,
        args.bookings,
    )
    .await?;
    let dataset = DatasetReport {
        tours: args.tours,
        slots: data.slot_count,
        bookings: data.booking_count,
        build_secs: started.elapsed().as_secs_f64(),
    };
    eprintln!("bench: dataset ready in {:.1} s", dataset.build_secs);

    let ctx = Context::new(db.clone(), Settings::default());
    let ceiling = if scenarios.iter().any(|s| s.has_ceiling()) {
        eprintln!(
            "bench: measuring the raw hot-path transaction ({} clients, {} s)…",
            args.clients, args.duration
        );
        Some(
            load::ceiling(
                &ctx,
                &data,
                args.clients,
                Duration::from_secs(args.duration),
            )
            .await?,
        )
    } else {
        None
    };

    let server = match &args.url {
        Some(_) => None,
        None => Some(Server::start(&server_binary(args)?, url, args.clients)?),
    };
    let base = args
        .url
        .clone()
        .or_else(|| server.as_ref().map(|s| s.base.clone()))
        .unwrap_or_default();
    let pid = server.as_ref().map(Server::pid);
    let mut outcomes = Vec::new();
    for scenario in scenarios {
        match load::drain_outbox(&base, Duration::from_secs(300)).await {
            Some(0) | None => {}
            Some(left) => eprintln!(
                "bench: {left} outbox events still undelivered after 5 minutes; measuring anyway"
            ),
        }
        let cpu_before = pid.and_then(cpu_seconds);
        let mut outcome = load::run(
            *scenario,
            &base,
            &ctx,
            &data,
            args.clients,
            Duration::from_secs(args.duration),
            pid,
        )
        .await?;
        // The server's CPU per request, including delivering the outbox
        // events (emails, webhooks) the scenario's requests left: steadier
        // than throughput on a machine whose speed varies from run to run.
        if let Some(before) = cpu_before {
            load::drain_outbox(&base, Duration::from_secs(300)).await;
            if let Some(after) = pid.and_then(cpu_seconds)
                && outcome.requests > 0
            {
                outcome.server_cpu_ms_per_request =
                    Some((after - before) * 1000.0 / outcome.requests as f64);
            }
        }
        if let Some(ceiling) = ceiling.filter(|c| *c > 0.0)
            && outcome.creates_per_sec > 0.0
            && scenario.has_ceiling()
        {
            outcome.ceiling_ratio = Some(outcome.creates_per_sec / ceiling);
        }
        outcomes.push(outcome);
    }
    if let Some(s) = server {
        s.stop();
    }
    db.close().await;
    let all_correct = outcomes.iter().all(|o| o.correct);
    Ok(Report {
        backend,
        dataset,
        clients: args.clients,
        duration_secs: args.duration,
        ceiling_per_sec: ceiling,
        scenarios: outcomes,
        all_correct,
    })
}

fn print_table(r: &Report) {
    println!(
        "backend {} · {} tours, {} slots, {} bookings (built in {:.1} s) · {} clients · {} s per scenario",
        r.backend,
        r.dataset.tours,
        r.dataset.slots,
        r.dataset.bookings,
        r.dataset.build_secs,
        r.clients,
        r.duration_secs
    );
    match r.ceiling_per_sec {
        Some(c) => println!("raw hot-path transaction ceiling: {c:.0} tx/s"),
        None => {
            println!("raw hot-path transaction ceiling: not measured (no hot or spread scenario)")
        }
    }
    println!(
        "{:<8} {:>7} {:>9} {:>9} {:>8} {:>8} {:>8} {:>10} {:>8} {:>10} {:>9}  statuses",
        "scenario",
        "clients",
        "requests",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "app/ceil",
        "RSS MB",
        "CPU ms/req",
        "correct"
    );
    for o in &r.scenarios {
        println!(
            "{:<8} {:>7} {:>9} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>10} {:>8.1} {:>10} {:>9}  {}",
            o.scenario,
            o.clients,
            o.requests,
            o.requests_per_sec,
            o.p50_ms,
            o.p95_ms,
            o.p99_ms,
            o.ceiling_ratio
                .map(|x| format!("{x:.2}"))
                .unwrap_or_else(|| "-".into()),
            o.peak_rss_bytes as f64 / 1_048_576.0,
            o.server_cpu_ms_per_request
                .map(|x| format!("{x:.3}"))
                .unwrap_or_else(|| "-".into()),
            if o.correct { "yes" } else { "NO" },
            o.statuses
                .iter()
                .map(|(k, v)| format!("{k}:{v}"))
                .collect::<Vec<_>>()
                .join(" "),
        );
        if let Some(b) = &o.batching {
            println!(
                "         group commit: {} batches, {:.0} commit flushes/s, {:.1} requests per batch; sizes {}",
                b.batches,
                b.flushes_per_sec,
                b.mean_size,
                b.sizes
                    .iter()
                    .map(|(le, n)| format!("≤{le}:{n}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        for problem in &o.problems {
            println!("         problem: {problem}");
        }
    }
    println!("all correct: {}", if r.all_correct { "yes" } else { "NO" });
}
