//! The OpenAPI fuzz run: schemathesis (PyPI, `st`) reads the served
//! `/api/openapi.json`, generates requests from it — valid and invalid, for
//! every operation, admin ones included (it sends an admin's token) — and
//! checks every answer: no 5xx, and a status code, body, content type and
//! headers the document declares for that operation (see `CHECKS`). The database holds the
//! demo operator, and `fuzz_hooks.py` offers the generator the ids it holds,
//! so requests reach the code that books, changes, cancels and claims.
//! Afterwards the counters must still match the rows.
//!
//! Three passes: the customers' operations on the seeded data as it is, then
//! the admin's (which close, cancel and reprice it), then the logouts with a
//! token of their own (they end the session they are sent with).
//!
//! Reproducible for a given seed: one worker, a fixed seed, no example
//! database. `FUZZ_SEED=N` runs another seed and `FUZZ_EXAMPLES=N` more (or
//! fewer) cases per operation:
//! `FUZZ_SEED=7 cargo test -p tourdesk --test api fuzz -- --nocapture`.
//!
//! Without schemathesis the run is skipped with a notice, except under
//! `CI=true`, where that is a failure (`.ci/run` installs it).

use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{TestApp, day, paths};

both_backends!(schemathesis_finds_no_failure);

/// The seed of the default run.
const DEFAULT_SEED: u64 = 20_261_125;
/// Cases per operation and phase (schemathesis's `--max-examples`).
const DEFAULT_EXAMPLES: u32 = 25;
/// The least the run may generate before it counts.
const MIN_CASES: u64 = 1_000;

/// The checks every answer must pass: no 5xx; status, body, content type
/// and headers as declared; 401 without the token an operation requires;
/// 405 for a method a path does not take; a declared required header
/// missing is refused; what was created can be read. (Not `use_after_free`:
/// DELETE of a booking or a waitlist entry cancels it, and it stays
/// readable, as the spec has it.)
const CHECKS: &str = "not_a_server_error,status_code_conformance,response_schema_conformance,\
content_type_conformance,response_headers_conformance,ignored_auth,unsupported_method,\
missing_required_header,ensure_resource_availability";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a valid number")),
        Err(_) => default,
    }
}

/// The schemathesis command (`SCHEMATHESIS` names another), if it runs.
fn schemathesis() -> Option<String> {
    let bin = std::env::var("SCHEMATHESIS").unwrap_or_else(|_| "st".to_owned());
    let works = Command::new(&bin)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success());
    works.then_some(bin)
}

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The ids the seeded data holds, by the name parameters give them, for
/// `fuzz_hooks.py`.
async fn existing_ids(app: &TestApp, admin: &str) -> Value {
    let ids = |r: &crate::helpers::TestResponse, pointer: &str| -> Vec<Value> {
        r.body
            .pointer(pointer)
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|x| x["id"].clone()).collect())
            .unwrap_or_default()
    };
    let tours = app.get_as(admin, paths::ADMIN_TOURS).await;
    let schedules = app.get_as(admin, paths::ADMIN_SCHEDULES).await;
    let bookings = app
        .get_as(admin, "/api/calendar/admin/bookings?limit=500")
        .await;
    let waitlist = app.get_as(admin, paths::ADMIN_WAITLIST).await;
    let blackouts = app
        .get_as(admin, "/api/calendar/admin/blackouts?include_inactive=true")
        .await;
    let slots = app
        .get_as(
            admin,
            &format!(
                "/api/calendar/admin/slots?start_date={}&end_date={}",
                day(-1),
                day(45)
            ),
        )
        .await;
    let departures: Vec<Value> = slots
        .body
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| json!([s["tour_id"], s["id"], s["slot_date"]]))
                .collect()
        })
        .unwrap_or_default();
    let out = json!({
        "tour_id": ids(&tours, ""),
        "schedule_id": ids(&schedules, ""),
        "slot_id": ids(&slots, ""),
        "booking_id": ids(&bookings, "/bookings"),
        "entry_id": ids(&waitlist, ""),
        "blackout_id": ids(&blackouts, ""),
        "departures": departures,
    });
    for key in ["tour_id", "slot_id", "booking_id", "entry_id"] {
        assert!(
            out[key].as_array().is_some_and(|a| !a.is_empty()),
            "the seeded data has no {key}: {out}"
        );
    }
    out
}

/// Runs `st run` against the app's document with `args` added; returns its
/// output and the command line, for the report.
async fn st_run(
    bin: &str,
    app: &TestApp,
    token: &str,
    ids: &Value,
    args: Vec<String>,
) -> (Output, String) {
    let schema = app.url("/api/openapi.json");
    let hooks = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/fuzz_hooks.py");
    let workdir = std::env::temp_dir().join(format!("tourdesk-fuzz-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&workdir).expect("a working directory for schemathesis");
    let fixed = [
        "--checks",
        CHECKS,
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--max-failures",
        "50",
        "--request-timeout",
        "60",
        "--no-color",
    ];
    let mut cmd = Command::new(bin);
    cmd.arg("run")
        .arg(&schema)
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(fixed)
        .args(&args)
        // Reports and caches stay out of the source tree.
        .current_dir(&workdir)
        .stdin(Stdio::null())
        .env("SCHEMATHESIS_HOOKS", hooks)
        .env("TOURDESK_FUZZ_IDS", ids.to_string())
        .env("NO_COLOR", "1")
        .env("COLUMNS", "120");
    let shown = format!(
        "SCHEMATHESIS_HOOKS={hooks} TOURDESK_FUZZ_IDS='…' {bin} run {schema} \
         --header 'Authorization: Bearer …' {} {}",
        fixed.join(" "),
        args.join(" ")
    );
    let output = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("the schemathesis task")
        .expect("run schemathesis");
    let _ = std::fs::remove_dir_all(&workdir);
    (output, shown)
}

/// The "N generated" count of schemathesis's summary.
fn generated_cases(report: &str) -> Option<u64> {
    report.lines().rev().find_map(|line| {
        let (n, rest) = line.trim().split_once(' ')?;
        if rest.starts_with("generated") {
            n.parse().ok()
        } else {
            None
        }
    })
}

async fn schemathesis_finds_no_failure(app: TestApp) {
    let Some(bin) = schemathesis() else {
        assert!(
            !under_ci(),
            "CI=true and schemathesis (`st`) is not installed: `pip install schemathesis` \
             (.ci/run installs the pinned version)"
        );
        eprintln!(
            "SKIPPED: the OpenAPI fuzz run needs schemathesis (`pip install schemathesis`, \
             or SCHEMATHESIS=/path/to/st); set CI=true to make this a failure"
        );
        return;
    };
    tourdesk::demo::seed(&app.ctx, None)
        .await
        .expect("seed the demo operator")
        .expect("an empty database");
    let seed: u64 = env_or("FUZZ_SEED", DEFAULT_SEED);
    let examples: u32 = env_or("FUZZ_EXAMPLES", DEFAULT_EXAMPLES);
    let replay = format!("FUZZ_SEED={seed} cargo test -p tourdesk --test api fuzz -- --nocapture");
    eprintln!(
        "fuzz ({:?}): seed {seed}, {examples} examples per operation; replay with {replay}",
        app.backend
    );
    let admin = app.admin().await;
    let logout_token = app.admin().await;
    let ids = existing_ids(&app, &admin).await;
    // Logout and "log out everywhere" end the session they are sent with:
    // they run last, with a token of their own.
    let passes: [(&str, &[&str], &str); 3] = [
        (
            "customer operations",
            &[
                "--exclude-tag",
                "admin",
                "--exclude-path-regex",
                "^/api/auth/logout",
            ],
            &admin,
        ),
        ("admin operations", &["--include-tag", "admin"], &admin),
        (
            "logouts",
            &["--include-path-regex", "^/api/auth/logout"],
            &logout_token,
        ),
    ];
    let started = std::time::Instant::now();
    let mut cases = 0;
    for (what, filter, token) in passes {
        let mut args = vec![
            "--seed".to_owned(),
            seed.to_string(),
            "--max-examples".to_owned(),
            examples.to_string(),
        ];
        args.extend(filter.iter().map(|s| (*s).to_owned()));
        let (output, shown) = st_run(&bin, &app, token, &ids, args).await;
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            output.status.success(),
            "schemathesis found failures in the {what} on {:?} (seed {seed}; replay with \
             {replay}):\n{shown}\n\n{report}",
            app.backend
        );
        let n = generated_cases(&report).unwrap_or(0);
        eprintln!("fuzz ({:?}): {what}: {n} cases, no failure", app.backend);
        cases += n;
    }
    assert!(
        cases >= MIN_CASES,
        "the fuzz run generated {cases} cases, fewer than {MIN_CASES}"
    );
    eprintln!(
        "fuzz ({:?}): {cases} cases in {:.0} s, no failure",
        app.backend,
        started.elapsed().as_secs_f64()
    );
    app.assert_consistent().await;
}
