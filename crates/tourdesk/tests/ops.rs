//! Operating the binary (issue 14): `tourdesk backup` of a SQLite database
//! while the server takes bookings, `tourdesk restore` of that backup, the
//! refusals of both, and the retention settings as `serve` takes them. The
//! real binary is spawned, as an operator runs it.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ADMIN_EMAIL: &str = "ops-admin@example.com";
const ADMIN_PASSWORD: &str = "backup admin password 1";

fn tourdesk() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tourdesk"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd
}

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let p = std::env::temp_dir().join(format!("tourdesk-ops-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }

    fn url(&self, file: &str) -> String {
        format!("sqlite://{}", self.0.join(file).display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[track_caller]
fn succeeds(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs the binary expecting failure with one line on stderr containing
/// every needle.
#[track_caller]
fn fails_with_one_line(cmd: &mut Command, needles: &[&str]) {
    let out = cmd.output().expect("run tourdesk");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure, stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {stderr}");
    for needle in needles {
        assert!(lines[0].contains(needle), "`{needle}` not in: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Creates and migrates a new database.
fn migrate(url: &str) {
    succeeds(
        &tourdesk()
            .args(["migrate", "--create"])
            .env("DATABASE_URL", url)
            .output()
            .expect("run migrate"),
    );
}

/// A date `n` days from today (UTC).
fn day(n: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(n)).to_string()
}

/// `tourdesk serve` on `url`, stopped (SIGTERM) when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(url: &str) -> Server {
        let mut child = tourdesk()
            .arg("serve")
            .env("DATABASE_URL", url)
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("LOG_FORMAT", "json")
            .env("ADMIN_EMAIL", ADMIN_EMAIL)
            .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
            // Every client books from one address and a few emails.
            .env("RATE_LIMIT_BOOKING_PER_MINUTE", "0")
            .env("RATE_LIMIT_BOOKING_PER_EMAIL", "0")
            .env("MAX_PENDING_PER_EMAIL", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tourdesk serve");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut address = None;
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            let Some(Ok(line)) = lines.next() else { break };
            if line.contains("tourdesk is listening") {
                let v: Value = serde_json::from_str(&line).expect("json log line");
                address = v["address"].as_str().map(str::to_owned);
                break;
            }
            seen.push(line);
        }
        // Keep reading, so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        let base = address.unwrap_or_else(|| panic!("the server did not start: {seen:?}"));
        Server { child, base }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn send(req: reqwest::RequestBuilder, expected: u16) -> Value {
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    assert_eq!(status, expected, "{text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// A tour with a daily schedule and departures on days +3 to +12; returns
/// the tour id and the departure ids.
async fn catalog(client: &reqwest::Client, base: &str) -> (i64, Vec<i64>) {
    let login = send(
        client
            .post(format!("{base}/api/auth/login"))
            .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})),
        200,
    )
    .await;
    let token = login["access_token"].as_str().expect("token").to_owned();
    let tour = send(
        client
            .post(format!("{base}/api/calendar/admin/tours"))
            .bearer_auth(&token)
            .json(&json!({"name": "Backup Walk", "duration_minutes": 120, "base_price": 40.00})),
        201,
    )
    .await["id"]
        .as_i64()
        .expect("tour id");
    let schedule = send(
        client
            .post(format!("{base}/api/calendar/admin/schedules"))
            .bearer_auth(&token)
            .json(
                &json!({"tour_id": tour, "name": "Mornings", "start_time": "09:00:00",
                "duration_minutes": 120, "recurrence": "daily", "max_capacity": 1000,
                "min_capacity": 1, "valid_from": day(3)}),
            ),
        201,
    )
    .await["id"]
        .as_i64()
        .expect("schedule id");
    send(
        client
            .post(format!(
                "{base}/api/calendar/admin/schedules/{schedule}/generate-slots?start_date={}&end_date={}",
                day(3),
                day(12)
            ))
            .bearer_auth(&token),
        200,
    )
    .await;
    let slots = send(
        client.get(format!(
            "{base}/api/calendar/tours/{tour}/slots?start_date={}&end_date={}",
            day(3),
            day(12)
        )),
        200,
    )
    .await;
    let slots: Vec<i64> = slots
        .as_array()
        .expect("slots")
        .iter()
        .filter_map(|s| s["id"].as_i64())
        .collect();
    assert_eq!(slots.len(), 10, "ten departures");
    (tour, slots)
}

/// A booking the server acknowledged (201): when the client sent it and
/// when it saw the answer.
struct Ack {
    reference: String,
    sent: Instant,
    at: Instant,
}

/// Books over HTTP until `stop`; returns every acknowledged booking.
async fn keep_booking(
    base: String,
    tour: i64,
    slots: Vec<i64>,
    client_no: usize,
    stop: Arc<AtomicBool>,
) -> Vec<Ack> {
    let client = reqwest::Client::new();
    let mut acks = Vec::new();
    let mut i = client_no;
    while !stop.load(Ordering::SeqCst) {
        i += 1;
        let body = json!({"tour_id": tour, "booking_slot_id": slots[i % slots.len()],
            "num_adults": 1, "customer_name": "Load Client",
            "customer_email": format!("client{client_no}@example.com")});
        let sent = Instant::now();
        let resp = client
            .post(format!("{base}/api/calendar/bookings"))
            .json(&body)
            .send()
            .await
            .expect("send a booking");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        assert_eq!(status, 201, "a booking under backup failed: {text}");
        let at = Instant::now();
        let v: Value = serde_json::from_str(&text).expect("json");
        acks.push(Ack {
            reference: v["booking_reference"]
                .as_str()
                .expect("reference")
                .to_owned(),
            sent,
            at,
        });
    }
    acks
}

async fn references(url: &str) -> HashSet<String> {
    use sqlx::Connection;
    let mut c = sqlx::SqliteConnection::connect(url)
        .await
        .expect("open the restored database");
    let refs: Vec<String> = sqlx::query_scalar("SELECT booking_reference FROM bookings")
        .fetch_all(&mut c)
        .await
        .expect("read bookings");
    let _ = c.close().await;
    refs.into_iter().collect()
}

/// A backup taken while clients keep booking holds every booking that was
/// acknowledged before it started; restored into a new folder it passes
/// `tourdesk check`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_load_restores_every_acknowledged_booking() {
    let dir = TempDir::new();
    let live = dir.url("live/tourdesk.db");
    migrate(&live);
    let server = Server::start(&live);
    let client = reqwest::Client::new();
    let (tour, slots) = catalog(&client, &server.base).await;

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|n| {
            tokio::spawn(keep_booking(
                server.base.clone(),
                tour,
                slots.clone(),
                n,
                stop.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let backup = dir.0.join("backups/tourdesk-backup.db");
    let started = Instant::now();
    let out = {
        let backup = backup.clone();
        let live = live.clone();
        tokio::task::spawn_blocking(move || {
            tourdesk()
                .args(["backup", "--to"])
                .arg(&backup)
                .env("DATABASE_URL", &live)
                .output()
                .expect("run backup")
        })
        .await
        .expect("backup thread")
    };
    let finished = Instant::now();
    // The clients keep going a little past the backup, then stop.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    let mut acks = Vec::new();
    for c in clients {
        acks.extend(c.await.expect("client task"));
    }
    let stdout = succeeds(&out);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert!(
        lines[0].contains("tourdesk-backup.db")
            && lines[0].contains("bytes")
            && lines[0].contains("bookings"),
        "{stdout}"
    );
    assert!(backup.is_file());
    assert!(
        std::fs::read_dir(backup.parent().expect("folder"))
            .expect("list")
            .count()
            == 1,
        "nothing but the backup is left in its folder"
    );

    let before: Vec<&Ack> = acks.iter().filter(|a| a.at < started).collect();
    let after: Vec<&Ack> = acks.iter().filter(|a| a.sent > finished).collect();
    assert!(
        before.len() >= 4,
        "bookings before the backup: {}",
        before.len()
    );
    assert!(
        !after.is_empty(),
        "bookings kept being acknowledged after the backup"
    );

    let restored = dir.url("restored/tourdesk.db");
    let out = tourdesk()
        .args(["restore", "--from"])
        .arg(&backup)
        .env("DATABASE_URL", &restored)
        .output()
        .expect("run restore");
    let stdout = succeeds(&out);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains("restore:"), "{stdout}");
    let check = tourdesk()
        .arg("check")
        .env("DATABASE_URL", &restored)
        .output()
        .expect("run check");
    succeeds(&check);

    let kept = references(&restored).await;
    eprintln!(
        "backup under load: {} bookings acknowledged before it, {} in it, {} sent after it, {} in all",
        before.len(),
        kept.len(),
        after.len(),
        acks.len()
    );
    let missing: Vec<&str> = before
        .iter()
        .map(|a| a.reference.as_str())
        .filter(|r| !kept.contains(*r))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} bookings acknowledged before the backup are missing: {missing:?}",
        missing.len(),
        before.len()
    );
    // Nothing in the backup that the live database does not hold.
    let all: HashSet<String> = acks.iter().map(|a| a.reference.clone()).collect();
    assert!(
        kept.iter().all(|r| all.contains(r)),
        "unknown bookings restored"
    );
    assert!(
        after.iter().all(|a| !kept.contains(&a.reference)),
        "the backup is a snapshot: nothing booked after it ended is in it"
    );
    drop(server);
}

#[test]
fn backup_never_overwrites_and_restore_refuses_what_is_not_a_backup() {
    let dir = TempDir::new();
    let live = dir.url("live/t.db");
    migrate(&live);

    // An existing file is never overwritten.
    let existing = dir.0.join("taken.db");
    std::fs::write(&existing, b"keep me").expect("write");
    fails_with_one_line(
        tourdesk()
            .args(["backup", "--to"])
            .arg(&existing)
            .env("DATABASE_URL", &live),
        &["already exists"],
    );
    assert_eq!(std::fs::read(&existing).expect("read"), b"keep me");

    // No database, no backup (and no file left behind).
    let nowhere = dir.0.join("none.db");
    fails_with_one_line(
        tourdesk()
            .args(["backup", "--to"])
            .arg(&nowhere)
            .env("DATABASE_URL", dir.url("missing/t.db")),
        &["no SQLite database"],
    );
    assert!(!nowhere.exists());

    let backup = dir.0.join("good.db");
    succeeds(
        &tourdesk()
            .args(["backup", "--to"])
            .arg(&backup)
            .env("DATABASE_URL", &live)
            .output()
            .expect("run backup"),
    );

    // Not SQLite at all, a damaged copy, an SQLite file of something else.
    let junk = dir.0.join("junk.db");
    std::fs::write(&junk, vec![0x5a_u8; 8192]).expect("write");
    let damaged = dir.0.join("damaged.db");
    let mut bytes = std::fs::read(&backup).expect("read");
    assert!(bytes.len() > 3 * 4096);
    for b in &mut bytes[4096..4096 + 64] {
        *b = 0xff;
    }
    std::fs::write(&damaged, bytes).expect("write");
    let foreign = dir.0.join("foreign.db");
    sqlite_file(&foreign);
    let target = dir.0.join("restored/t.db");
    let target_url = format!("sqlite://{}", target.display());
    for (file, why) in [
        (&junk, "not a sound SQLite database"),
        // Whether the damage breaks the check itself or is reported by it.
        (&damaged, "damaged.db is not a usable Tourdesk backup"),
        (&foreign, "no migrations table"),
    ] {
        fails_with_one_line(
            tourdesk()
                .args(["restore", "--from"])
                .arg(file)
                .env("DATABASE_URL", &target_url),
            &["not a usable Tourdesk backup", why],
        );
        assert!(!target.exists(), "a refused restore installs nothing");
    }
    fails_with_one_line(
        tourdesk()
            .args(["restore", "--from"])
            .arg(dir.0.join("absent.db"))
            .env("DATABASE_URL", &target_url),
        &["no file"],
    );

    // An existing database is replaced only with --force; the old one's
    // write-ahead log and index go with it.
    fails_with_one_line(
        tourdesk()
            .args(["restore", "--from"])
            .arg(&backup)
            .env("DATABASE_URL", &live),
        &["already exists", "--force"],
    );
    let live_path = dir.0.join("live/t.db");
    for stale in ["live/t.db-wal", "live/t.db-shm"] {
        std::fs::write(dir.0.join(stale), b"stale").expect("write");
    }
    succeeds(
        &tourdesk()
            .args(["restore", "--force", "--from"])
            .arg(&backup)
            .env("DATABASE_URL", &live)
            .output()
            .expect("run restore"),
    );
    assert!(live_path.is_file());
    assert!(!dir.0.join("live/t.db-wal").exists());
    assert!(!dir.0.join("live/t.db-shm").exists());
    succeeds(
        &tourdesk()
            .arg("check")
            .env("DATABASE_URL", &live)
            .output()
            .expect("run check"),
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.0.join("live"))
        .expect("list")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    assert_eq!(leftovers, vec!["t.db".to_owned()], "no temporary file left");
}

/// An SQLite database that is not a Tourdesk one.
fn sqlite_file(path: &Path) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        use sqlx::Connection;
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let mut c = sqlx::SqliteConnection::connect(&url).await.expect("create");
        sqlx::query("CREATE TABLE notes (body TEXT)")
            .execute(&mut c)
            .await
            .expect("create table");
        let _ = c.close().await;
    });
}

#[test]
fn postgres_urls_are_pointed_at_pg_dump_and_pg_restore() {
    let dir = TempDir::new();
    let url = "postgres://tourdesk:secret@127.0.0.1:5432/tourdesk";
    let to = dir.0.join("pg.dump");
    fails_with_one_line(
        tourdesk()
            .args(["backup", "--to"])
            .arg(&to)
            .env("DATABASE_URL", url),
        &["pg_dump"],
    );
    assert!(!to.exists());
    let out = tourdesk()
        .args(["backup", "--to"])
        .arg(&to)
        .env("DATABASE_URL", url)
        .output()
        .expect("run");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("secret"),
        "the password is never printed"
    );
    std::fs::write(&to, b"PGDMP").expect("write");
    fails_with_one_line(
        tourdesk()
            .args(["restore", "--from"])
            .arg(&to)
            .env("DATABASE_URL", url),
        &["pg_restore", "tourdesk migrate", "tourdesk check"],
    );
}

#[test]
fn retention_settings_are_listed_and_validated() {
    let out = tourdesk().args(["serve", "--help"]).output().expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    for var in [
        "OUTBOX_RETENTION_DAYS",
        "RETENTION_INTERVAL_MINUTES",
        "RETENTION_BATCH_SIZE",
    ] {
        assert!(help.contains(var), "{var} missing from serve --help");
    }
    let dir = TempDir::new();
    for (var, value) in [
        ("OUTBOX_RETENTION_DAYS", "0"),
        ("RETENTION_INTERVAL_MINUTES", "never"),
        ("RETENTION_BATCH_SIZE", "100000"),
    ] {
        fails_with_one_line(
            tourdesk()
                .env("DATABASE_URL", dir.url("t.db"))
                .env(var, value),
            &[var],
        );
    }
    let help = tourdesk().arg("--help").output().expect("run");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("backup") && help.contains("restore"),
        "{help}"
    );
}
