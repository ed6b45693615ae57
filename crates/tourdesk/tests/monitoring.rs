//! Monitoring (issue #16) with the real binary and a real Prometheus: the
//! alert rules pass `promtool check rules` and their unit tests, a
//! Prometheus server scrapes a running Tourdesk and its HTTP API answers
//! the spec's series with the expected names, labels and values, the
//! dashboard and the rules only use metrics Tourdesk exports, and
//! `/metrics` is refused off loopback without `METRICS_TOKEN`.
//!
//! Needs `prometheus` and `promtool` (Debian's `prometheus` package, which
//! `.ci/run` installs): outside `CI=true` a missing one skips with a printed
//! reason, under CI it fails.

#[path = "faults/support.rs"]
mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::*;

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn have(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        skip_or_fail(&format!(
            "`{tool}` is not installed (apt-get install prometheus)"
        ));
    }
    found
}

#[test]
fn promtool_checks_and_unit_tests_the_alert_rules() {
    if !have("promtool") {
        return;
    }
    let rules = repo_file("deploy/prometheus/alerts.yml");
    let out = Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(&rules)
        .output()
        .expect("run promtool check rules");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "promtool check rules:\n{text}");
    assert!(text.contains("SUCCESS: 5 rules found"), "{text}");
    let out = Command::new("promtool")
        .arg("test")
        .arg("rules")
        .arg("alerts_test.yml")
        .current_dir(repo_file("deploy/prometheus"))
        .output()
        .expect("run promtool test rules");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "promtool test rules:\n{text}");
    assert!(text.contains("SUCCESS"), "{text}");
}

/// A Prometheus server scraping `target` every second, killed on drop.
struct Prometheus {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Prometheus {
    fn start(target: &str) -> Prometheus {
        let dir = TempDir::new("prometheus");
        let port = free_port();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 rule_files:\n  - {}\n\
                 scrape_configs:\n  - job_name: tourdesk\n    static_configs:\n      - targets: ['{target}']\n",
                repo_file("deploy/prometheus/alerts.yml").display()
            ),
        )
        .expect("write prometheus.yml");
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log file");
        let err = log.try_clone().expect("clone log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("start prometheus");
        Prometheus {
            child,
            port,
            _dir: dir,
        }
    }

    /// An instant query's result vector.
    async fn query(&self, http: &reqwest::Client, q: &str) -> Vec<Value> {
        let Ok(url) = reqwest::Url::parse_with_params(
            &format!("http://127.0.0.1:{}/api/v1/query", self.port),
            &[("query", q)],
        ) else {
            return Vec::new();
        };
        let r = http.get(url).send().await;
        let Ok(r) = r else { return Vec::new() };
        let body: Value = r.json().await.unwrap_or(Value::Null);
        body["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Waits until `q` answers a series for which `ok` holds.
    async fn wait_for(
        &self,
        http: &reqwest::Client,
        q: &str,
        ok: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let result = self.query(http, q).await;
            if ok(&result) {
                return result;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus never answered `{q}` as expected; last: {result:?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn value(series: &Value) -> f64 {
    series["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

fn sum(result: &[Value]) -> f64 {
    result.iter().map(value).sum()
}

async fn post(http: &reqwest::Client, url: String, token: Option<&str>, body: Value) -> Resp {
    let mut req = http.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    read(req.send().await.expect("send")).await.expect("read")
}

/// Three bookings, one cancelled, one refused for lack of room and one on a
/// cancelled departure: what the scrape must then show.
async fn activity(http: &reqwest::Client, server: &Server) -> i64 {
    let token = admin_token(http, &server.base).await;
    let fx = fixture(http, &server.base, &token, 5).await;
    let mut first = None;
    for (i, slot) in [fx.slots[0], fx.slots[0], fx.slots[1]].iter().enumerate() {
        let key = format!("monitoring-{i}");
        let r = book(http, &server.base, &key, &booking_body(&fx, *slot, i, &key))
            .await
            .expect("book");
        assert_eq!(r.status, 201, "{}", r.text);
        first.get_or_insert(r.body.clone());
    }
    let first = first.unwrap_or_default();
    let r = http
        .delete(server.url(&format!(
            "/api/calendar/bookings/{}",
            first["id"].as_i64().unwrap_or(0)
        )))
        .header(
            "X-Manage-Token",
            first["manage_token"].as_str().unwrap_or(""),
        )
        .json(&json!({"cancellation_reason": "Plans changed"}))
        .send()
        .await
        .expect("cancel");
    assert_eq!(r.status().as_u16(), 200);
    // Capacity: 6 people on a departure of 5 (one of whom is cancelled).
    let mut body = booking_body(&fx, fx.slots[2], 9, "too-many");
    body["num_adults"] = json!(6);
    let r = post(http, server.url("/api/calendar/bookings"), None, body).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.code(), "capacity_exceeded");
    // A conflict: the departure is cancelled.
    let r = post(
        http,
        server.url(&format!("/api/calendar/admin/slots/{}/cancel", fx.slots[3])),
        Some(&token),
        json!({"reason": "Storm"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = post(
        http,
        server.url("/api/calendar/bookings"),
        None,
        booking_body(&fx, fx.slots[3], 10, "conflict"),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.code(), "slot_unavailable");
    fx.tour
}

async fn a_real_prometheus_scrapes_tourdesk(engine: Engine) {
    if !have("prometheus") {
        return;
    }
    let Some(db) = TestDb::create(engine).await else {
        return;
    };
    let logs = TempDir::logs();
    let http = http();
    let mut server = Server::start(&db, logs.path(), "server", &[]);
    server.wait_ready(&http, START_WITHIN).await;
    let tour = activity(&http, &server).await;
    let prom = Prometheus::start(&format!("127.0.0.1:{}", server.port));
    let tour_id = tour.to_string();

    let created = prom
        .wait_for(&http, "bookings_created_total", |r| sum(r) >= 3.0)
        .await;
    assert_eq!(
        created.len(),
        1,
        "one series, for the one tour: {created:?}"
    );
    assert_eq!(created[0]["metric"]["tour_id"], tour_id.as_str());
    assert_eq!(created[0]["metric"]["job"], "tourdesk");
    assert_eq!(value(&created[0]), 3.0);
    let cancelled = prom
        .wait_for(&http, "bookings_cancelled_total", |r| sum(r) >= 1.0)
        .await;
    assert_eq!(cancelled[0]["metric"]["tour_id"], tour_id.as_str());
    assert_eq!(sum(&cancelled), 1.0);
    let r = prom
        .wait_for(&http, "capacity_errors_total", |r| !r.is_empty())
        .await;
    assert_eq!(sum(&r), 1.0);
    let r = prom
        .wait_for(&http, "booking_conflicts_total", |r| !r.is_empty())
        .await;
    assert_eq!(sum(&r), 1.0);
    let r = prom
        .wait_for(&http, "average_booking_time_seconds_count", |r| {
            !r.is_empty()
        })
        .await;
    assert_eq!(sum(&r), 3.0, "one observation per booking created");
    prom.wait_for(&http, "average_booking_time_seconds_bucket", |r| {
        r.len() > 5
    })
    .await;
    // 2 of 5 places on one departure and 1 on another, over ten departures
    // (one cancelled, so nine of 5): 2 / 45 = 4.44 %.
    let r = prom
        .wait_for(
            &http,
            &format!("slot_utilization_percentage{{tour_id=\"{tour_id}\"}}"),
            // The gauge is a periodic snapshot: a round taken before the
            // bookings set 0, one taken between them and the departure's
            // cancellation 2 / 50 = 4 %. Wait for the round after the last
            // change; a value that never comes fails the wait.
            |r| {
                r.first()
                    .is_some_and(|s| (value(s) - 200.0 / 45.0).abs() < 0.01)
            },
        )
        .await;
    let pct = value(&r[0]);
    assert!((pct - 200.0 / 45.0).abs() < 0.01, "utilization {pct}");
    let r = prom
        .wait_for(
            &http,
            "http_requests_total{method=\"POST\",route=\"/api/calendar/bookings\",status=\"201\"}",
            |r| !r.is_empty(),
        )
        .await;
    assert_eq!(sum(&r), 3.0);
    prom.wait_for(
        &http,
        "http_request_duration_seconds_count{route=\"/api/calendar/bookings/{booking_id}\"}",
        |r| !r.is_empty(),
    )
    .await;
    prom.wait_for(&http, "db_pool_connections", |r| !r.is_empty())
        .await;
    prom.wait_for(&http, "db_pool_acquire_seconds_count", |r| !r.is_empty())
        .await;
    prom.wait_for(&http, "outbox_backlog_events", |r| r.len() == 1)
        .await;
    prom.wait_for(&http, "outbox_oldest_event_age_seconds", |r| r.len() == 1)
        .await;
    prom.wait_for(&http, "job_runs_total{name=\"outbox-delivery\"}", |r| {
        sum(r) >= 1.0
    })
    .await;
    prom.wait_for(&http, "job_duration_seconds_count", |r| r.len() > 3)
        .await;
    // The decision job's outcomes exist from the start (guaranteed, cancelled).
    prom.wait_for(&http, "departure_decisions_total", |r| r.len() == 2)
        .await;
    let r = prom
        .wait_for(&http, "process_resident_memory_bytes", |r| !r.is_empty())
        .await;
    assert!(value(&r[0]) > 1_000_000.0);
    // The rules load and evaluate against the real series.
    let r = http
        .get(format!("http://127.0.0.1:{}/api/v1/rules", prom.port))
        .send()
        .await
        .expect("rules");
    let rules: Value = r.json().await.unwrap_or(Value::Null);
    let names: BTreeSet<&str> = rules["data"]["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .filter_map(|r| r["name"].as_str())
        .collect();
    for alert in [
        "TourdeskHighConflictRate",
        "TourdeskLowWaitlistConversion",
        "TourdeskHighCancellationRate",
        "TourdeskOutboxStuck",
        "TourdeskHighErrorRate",
    ] {
        assert!(names.contains(alert), "{alert} loaded: {names:?}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_tourdesk_sqlite() {
    a_real_prometheus_scrapes_tourdesk(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_tourdesk_postgres() {
    a_real_prometheus_scrapes_tourdesk(Engine::Postgres).await;
}

/// Metric names an expression refers to (identifiers followed by `{`, `[`
/// or `)` that are not PromQL functions or keywords).
fn metric_names(expr: &str) -> BTreeSet<String> {
    const NOT_METRICS: &[&str] = &[
        "sum",
        "rate",
        "increase",
        "max",
        "min",
        "by",
        "and",
        "or",
        "histogram_quantile",
        "topk",
        "le",
        "route",
        "status",
        "job",
        "name",
        "pool",
        "state",
        "method",
        "tour_id",
        "instance",
    ];
    let re = regex::Regex::new(r"[a-z_][a-z0-9_]*").expect("regex");
    re.find_iter(expr)
        .map(|m| m.as_str())
        .filter(|w| w.contains('_') && !NOT_METRICS.contains(w))
        .filter(|w| !w.starts_with("histogram"))
        .map(|w| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| w.strip_suffix(s))
                .unwrap_or(w)
                .to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_and_rules_use_only_exported_metrics() {
    let Some(db) = TestDb::create(Engine::Sqlite).await else {
        return;
    };
    let logs = TempDir::logs();
    let http = http();
    let mut server = Server::start(&db, logs.path(), "server", &[]);
    server.wait_ready(&http, START_WITHIN).await;
    activity(&http, &server).await;
    // The outbox job counts the bookings; the metrics job sets the gauges.
    let deadline = Instant::now() + Duration::from_secs(40);
    let exposition = loop {
        let text = http
            .get(server.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .unwrap_or_default();
        if text.contains("bookings_cancelled_total") && text.contains("slot_utilization_percentage")
        {
            break text;
        }
        assert!(Instant::now() < deadline, "metrics never filled:\n{text}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let exported: BTreeSet<String> = exposition
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    for spec in [
        "bookings_created_total",
        "bookings_cancelled_total",
        "booking_conflicts_total",
        "capacity_errors_total",
        "waitlist_conversions_total",
        "average_booking_time_seconds",
        "slot_utilization_percentage",
    ] {
        // Conversions appear once one happened; its HELP is there from start.
        assert!(
            exported.contains(spec) || exposition.contains(&format!("# HELP {spec} ")),
            "the spec's {spec} is exported:\n{exposition}"
        );
    }
    assert!(exposition.contains("# TYPE bookings_created_total counter"));
    assert!(exposition.contains("# TYPE average_booking_time_seconds histogram"));
    assert!(exposition.contains("# TYPE slot_utilization_percentage gauge"));

    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_file("deploy/grafana/tourdesk.json")).expect("dashboard"),
    )
    .expect("the dashboard is JSON");
    let mut used = BTreeSet::new();
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        for t in panel["targets"].as_array().into_iter().flatten() {
            used.extend(metric_names(t["expr"].as_str().unwrap_or("")));
        }
    }
    let rules = std::fs::read_to_string(repo_file("deploy/prometheus/alerts.yml")).expect("rules");
    for line in rules.lines().filter(|l| !l.trim_start().starts_with('#')) {
        if line.contains("expr:") || line.contains("(sum") || line.contains("and sum") {
            used.extend(metric_names(line));
        }
    }
    assert!(used.len() > 10, "{used:?}");
    let described: BTreeSet<String> = exposition
        .lines()
        .filter_map(|l| l.strip_prefix("# HELP "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    let missing: Vec<&String> = used
        .iter()
        .filter(|m| !exported.contains(*m) && !described.contains(*m))
        .collect();
    assert!(
        missing.is_empty(),
        "the dashboard or the rules use metrics Tourdesk does not export: {missing:?}"
    );
    server.stop().await;
}

/// This machine's address on its first non-loopback interface (the one a
/// packet to a private address would leave from; nothing is sent).
fn lan_address() -> Option<std::net::IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("10.255.255.255:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_off_loopback_need_the_token() {
    let Some(db) = TestDb::create(Engine::Sqlite).await else {
        return;
    };
    let Some(lan) = lan_address() else {
        skip_or_fail("this machine has no non-loopback address to call from");
        return;
    };
    let logs = TempDir::logs();
    let http = http();
    let port = free_port();
    let token = "metrics-token-for-the-tests-0123";
    let bind = format!("0.0.0.0:{port}");
    let mut server = Server::start_on(
        &db,
        port,
        logs.path(),
        "server",
        &[("BIND_ADDR", bind.as_str()), ("METRICS_TOKEN", token)],
    );
    server.wait_ready(&http, START_WITHIN).await;
    let remote = format!("http://{lan}:{port}/metrics");
    let r = read(http.get(&remote).send().await.expect("send"))
        .await
        .expect("read");
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(r.code(), "unauthorized");
    let r = read(
        http.get(&remote)
            .bearer_auth("wrong-token-wrong-token")
            .send()
            .await
            .expect("send"),
    )
    .await
    .expect("read");
    assert_eq!(r.status, 401);
    let r = http
        .get(&remote)
        .bearer_auth(token)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.unwrap_or_default().contains("# TYPE"));
    let r = http.get(server.url("/metrics")).send().await.expect("send");
    assert_eq!(r.status().as_u16(), 200, "loopback needs no token");
    server.stop().await;

    // METRICS_BIND: metrics apart, not on the main address.
    let metrics_port = free_port();
    let metrics_bind = format!("127.0.0.1:{metrics_port}");
    let mut server = Server::start(
        &db,
        logs.path(),
        "apart",
        &[("METRICS_BIND", metrics_bind.as_str())],
    );
    server.wait_ready(&http, START_WITHIN).await;
    let r = http.get(server.url("/metrics")).send().await.expect("send");
    assert_eq!(r.status().as_u16(), 404);
    let r = http
        .get(format!("http://{metrics_bind}/metrics"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.text()
            .await
            .unwrap_or_default()
            .contains("# HELP booking_conflicts_total")
    );
    server.stop().await;
}
