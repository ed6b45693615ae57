//! A smoke run of `tourdesk bench` on both engines: a tiny dataset for a
//! second per scenario, asserting only correctness (never a timing), so the
//! tool keeps working.

use std::process::Command;

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn smoke(database_url: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_tourdesk"))
        .args([
            "bench",
            "--database-url",
            database_url,
            "--tours",
            "2",
            "--days",
            "4",
            "--slots-per-day",
            "2",
            "--bookings",
            "60",
            "--duration",
            "1",
            "--clients",
            "4",
            "--json",
        ])
        .output()
        .expect("run tourdesk bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&stdout).expect("bench --json prints JSON");
    assert_eq!(report["all_correct"], true, "{stdout}");
    let names: Vec<&str> = report["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .filter_map(|s| s["scenario"].as_str())
        .collect();
    assert_eq!(
        names,
        ["hot", "hot256", "spread", "sellout", "read", "mixed"]
    );
    for s in report["scenarios"].as_array().expect("scenarios") {
        assert_eq!(s["correct"], true, "{s}");
        assert!(s["requests"].as_u64().is_some_and(|n| n > 0), "{s}");
        assert!(s["statuses"].get("500").is_none(), "{s}");
        // The server's CPU per request is measured (a figure, never judged).
        assert!(
            s["server_cpu_ms_per_request"]
                .as_f64()
                .is_some_and(|ms| ms >= 0.0),
            "{s}"
        );
    }
    assert!(report["ceiling_per_sec"].as_f64().is_some_and(|c| c > 0.0));
    // Group commit's figures come from the server's own counters: every
    // booking a hot run made went through a committed batch.
    for s in &report["scenarios"].as_array().expect("scenarios")[..2] {
        let created = s["statuses"]["201"].as_u64().unwrap_or(0);
        let b = &s["batching"];
        assert!(created > 0, "{s}");
        assert_eq!(
            s["clients"],
            if s["scenario"] == "hot" { 4 } else { 256 },
            "{s}"
        );
        assert!(
            b["flushes"].as_u64().is_some_and(|f| f > 0 && f <= created),
            "{s}"
        );
        assert!(b["mean_size"].as_f64().is_some_and(|m| m >= 1.0), "{s}");
        let in_buckets: u64 = b["sizes"]
            .as_array()
            .expect("batch sizes")
            .iter()
            .filter_map(|p| p[1].as_u64())
            .sum();
        assert_eq!(Some(in_buckets), b["batches"].as_u64(), "{s}");
    }
}

#[test]
fn bench_smoke_sqlite() {
    smoke("sqlite");
}

#[test]
fn bench_smoke_postgres() {
    let url = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let reachable = std::net::TcpStream::connect_timeout(
        &"127.0.0.1:5432".parse().expect("addr"),
        std::time::Duration::from_secs(2),
    )
    .is_ok();
    if !reachable && !under_ci() && std::env::var("TEST_POSTGRES_URL").is_err() {
        eprintln!("SKIPPED: PostgreSQL is unreachable; set CI=true to make this a failure");
        return;
    }
    smoke(&url);
}
