//! The `tourdesk` binary as an operator meets it: configuration mistakes
//! give one line and a non-zero exit, and SIGTERM shuts it down cleanly.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The binary with a clean environment, allowed to create a new database
/// (most tests start on a fresh one).
fn tourdesk() -> Command {
    let mut cmd = bare_tourdesk();
    cmd.env("DATABASE_CREATE", "true");
    cmd
}

/// The binary with a clean environment, as an operator's later start.
fn bare_tourdesk() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tourdesk"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd
}

fn temp_db() -> (tempdir::Dir, String) {
    let dir = tempdir::Dir::new();
    let url = format!("sqlite://{}/t.db", dir.0.display());
    (dir, url)
}

mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new() -> Dir {
            let p = std::env::temp_dir().join(format!("tourdesk-cli-{}", rand::random::<u64>()));
            std::fs::create_dir_all(&p).expect("temp dir");
            Dir(p)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Runs the binary expecting failure; returns its stderr.
#[track_caller]
fn fails_with_one_line(cmd: &mut Command, needle: &str) {
    let out = cmd.output().expect("run tourdesk");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure, stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {stderr}");
    assert!(lines[0].contains(needle), "`{needle}` not in: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn invalid_values_name_the_variable() {
    let (_d, url) = temp_db();
    fails_with_one_line(
        tourdesk().env("DATABASE_URL", &url).env("TAX_RATE", "-0.1"),
        "TAX_RATE",
    );
    fails_with_one_line(
        tourdesk()
            .env("DATABASE_URL", &url)
            .env("DEFAULT_CHILD_DISCOUNT", "lots"),
        "DEFAULT_CHILD_DISCOUNT",
    );
    fails_with_one_line(
        tourdesk()
            .env("DATABASE_URL", &url)
            .env("MIN_BOOKING_SIZE", "10")
            .env("MAX_BOOKING_SIZE", "5"),
        "MAX_BOOKING_SIZE",
    );
    fails_with_one_line(
        tourdesk()
            .env("DATABASE_URL", &url)
            .env("LOG_FORMAT", "xml"),
        "LOG_FORMAT",
    );
    fails_with_one_line(
        tourdesk()
            .env("DATABASE_URL", &url)
            .env("BOOKING_ADVANCE_DAYS", "-3"),
        "BOOKING_ADVANCE_DAYS",
    );
    fails_with_one_line(
        tourdesk()
            .env("DATABASE_URL", &url)
            .env("BIND_ADDR", "nowhere"),
        "BIND_ADDR",
    );
}

#[test]
fn email_settings_name_the_variable() {
    let (_d, url) = temp_db();
    for (var, value) in [
        ("SMTP_URL", "http://mail.example.com"),
        ("SMTP_URL", "smtp://[::1"),
        ("MAIL_FROM", "not an address"),
        ("SUPPORT_EMAIL", "nobody"),
        ("PUBLIC_BASE_URL", "ftp://example.com"),
        ("PUBLIC_BASE_URL", "https://example.com/booking"),
    ] {
        fails_with_one_line(tourdesk().env("DATABASE_URL", &url).env(var, value), var);
    }
}

#[test]
fn database_problems_name_the_database() {
    fails_with_one_line(
        tourdesk().env("DATABASE_URL", "mysql://root@localhost/x"),
        "DATABASE_URL",
    );
    fails_with_one_line(
        tourdesk().env("DATABASE_URL", "sqlite:///proc/no-such-dir/t.db"),
        "DATABASE_URL",
    );
    fails_with_one_line(
        tourdesk().env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/x"),
        "DATABASE_URL",
    );
}

/// A configured database that is not there is never silently replaced by an
/// empty one: the start refuses (one line, naming DATABASE_URL and the way
/// to create one); `--create` creates it, and later starts need no flag.
#[test]
fn a_missing_database_is_created_only_when_asked() {
    let (dir, url) = temp_db();
    for args in [&["serve"][..], &["migrate"][..]] {
        fails_with_one_line(
            bare_tourdesk().env("DATABASE_URL", &url).args(args),
            "--create",
        );
        fails_with_one_line(
            bare_tourdesk().env("DATABASE_URL", &url).args(args),
            "DATABASE_URL",
        );
    }
    let db_file = dir.0.join("t.db");
    assert!(!db_file.exists(), "a refused start created the database");
    let out = bare_tourdesk()
        .env("DATABASE_URL", &url)
        .args(["migrate", "--create"])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(db_file.exists());
    let out = bare_tourdesk()
        .env("DATABASE_URL", &url)
        .arg("migrate")
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "a later start needs no flag: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The data folder deleted: refused again, not recreated.
    std::fs::remove_dir_all(&dir.0).expect("rm -rf the data folder");
    fails_with_one_line(
        bare_tourdesk().env("DATABASE_URL", &url).arg("serve"),
        "does not exist",
    );
    assert!(
        !dir.0.exists(),
        "the refused start recreated the data folder"
    );
}

#[test]
fn a_port_in_use_is_reported() {
    let (_d, url) = temp_db();
    let created = tourdesk()
        .env("DATABASE_URL", &url)
        .arg("migrate")
        .output()
        .expect("run");
    assert!(created.status.success());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    fails_with_one_line(
        bare_tourdesk()
            .env("DATABASE_URL", &url)
            .args(["serve", "--bind", &addr]),
        "BIND_ADDR",
    );
}

#[test]
fn serve_help_lists_every_variable_with_defaults() {
    let out = tourdesk().args(["serve", "--help"]).output().expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    for var in [
        "DATABASE_URL",
        "BIND_ADDR",
        "BOOKING_ADVANCE_DAYS",
        "BOOKING_CUTOFF_HOURS",
        "MIN_BOOKING_SIZE",
        "MAX_BOOKING_SIZE",
        "WAITLIST_NOTIFICATION_EXPIRY_HOURS",
        "WAITLIST_AUTO_PROCESS",
        "DEFAULT_CHILD_DISCOUNT",
        "TAX_RATE",
        "INFANT_MAX_AGE",
        "CHILD_MAX_AGE",
        "BOOKING_REFERENCE_PREFIX",
        "LOG_FORMAT",
        "DATABASE_MAX_CONNECTIONS",
    ] {
        assert!(help.contains(var), "{var} missing from serve --help");
    }
    assert!(help.contains("default: 127.0.0.1:8080"));
}

#[test]
fn migrate_twice_is_a_no_op() {
    let (dir, url) = temp_db();
    for _ in 0..2 {
        let out = tourdesk()
            .arg("migrate")
            .env("DATABASE_URL", &url)
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(dir.0.join("t.db").exists());
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let (_d, url) = temp_db();
    let mut child = tourdesk()
        .env("DATABASE_URL", &url)
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("LOG_FORMAT", "json")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut address = None;
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        if line.contains("tourdesk is listening") {
            let v: serde_json::Value = serde_json::from_str(&line).expect("json log line");
            address = v["address"].as_str().map(str::to_owned);
            break;
        }
    }
    let address = address.expect("the server logs its address");
    let port = address.rsplit(':').next().expect("port");
    let mut stream = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).expect("connect");
    use std::io::{Read, Write};
    stream
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(code) = child.try_wait().expect("wait") {
            assert!(code.success(), "exit status after SIGTERM: {code}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("shutting down")), "{rest:?}");
}

#[test]
fn check_reports_drift_and_exits_non_zero() {
    let (_d, url) = temp_db();
    let out = tourdesk()
        .arg("migrate")
        .env("DATABASE_URL", &url)
        .output()
        .expect("run");
    assert!(out.status.success());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let exec = |sql: &'static str| {
        rt.block_on(async {
            use sqlx::Connection;
            let mut c = sqlx::SqliteConnection::connect(&url)
                .await
                .expect("connect");
            sqlx::query(sql).execute(&mut c).await.expect("sql");
        })
    };
    exec(
        "INSERT INTO tours (id, name, duration_minutes, base_price, currency, timezone, created_at, updated_at) \
          VALUES (1, 'T', 60, 100, 'USD', 'UTC', '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')",
    );
    exec(
        "INSERT INTO booking_slots (id, tour_id, slot_date, start_time, end_time, starts_at, max_capacity, \
          current_bookings, price_per_person, created_at, updated_at) VALUES (1, 1, '2027-01-01', '09:00:00', \
          '10:00:00', '2027-01-01T09:00:00+00:00', 10, 0, 100, '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')",
    );
    let ok = tourdesk()
        .arg("check")
        .env("DATABASE_URL", &url)
        .output()
        .expect("run");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // Counters that no booking explains are drift.
    exec("UPDATE booking_slots SET current_bookings = 3 WHERE id = 1");
    let bad = tourdesk()
        .arg("check")
        .env("DATABASE_URL", &url)
        .output()
        .expect("run");
    assert!(!bad.status.success());
    let stdout = String::from_utf8_lossy(&bad.stdout);
    assert!(
        stdout.contains("slot 1") && stdout.contains("current_bookings 3 (rows say 0)"),
        "{stdout}"
    );
}

/// The benchmark is its own program: `tourdesk bench` runs the
/// `tourdesk-bench` beside it with the same arguments (its help included),
/// and says so in one line when there is none.
#[test]
fn bench_runs_the_benchmark_program_beside_it() {
    let out = bare_tourdesk()
        .args(["bench", "--help"])
        .output()
        .expect("run tourdesk bench --help");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("Usage: tourdesk bench"), "{stdout}");
    for flag in ["--database-url", "--scenarios", "--clients", "--server"] {
        assert!(stdout.contains(flag), "`{flag}` not in: {stdout}");
    }
    let out = bare_tourdesk()
        .args(["bench", "--scenarios", "nonsense"])
        .output()
        .expect("run tourdesk bench");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nonsense"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let alone = tempdir::Dir::new();
    let copy = alone.0.join("tourdesk");
    std::fs::copy(env!("CARGO_BIN_EXE_tourdesk"), &copy).expect("copy the binary");
    let mut cmd = Command::new(&copy);
    cmd.env_clear().arg("bench");
    fails_with_one_line(&mut cmd, "tourdesk-bench");
}

/// The server binary links no HTTP client: the load generator's lives in
/// the benchmark program only.
#[test]
fn the_server_binary_links_no_http_client() {
    let links = |path: &str| {
        let bytes = std::fs::read(path).expect("read the binary");
        bytes.windows(7).any(|w| w == b"reqwest")
    };
    assert!(
        links(env!("CARGO_BIN_EXE_tourdesk-bench")),
        "the check finds the benchmark's client"
    );
    assert!(
        !links(env!("CARGO_BIN_EXE_tourdesk")),
        "the server binary links reqwest"
    );
}
