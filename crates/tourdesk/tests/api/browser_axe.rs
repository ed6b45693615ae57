//! Accessibility (#17 item 21): axe-core (from npm; `.ci/run` installs it)
//! runs in a real headless Chromium over every page and console view, in
//! the states a person sees, at desktop (1280 px) and phone (390 px)
//! widths, and reports no violation. axe walks open shadow roots, so the
//! booking components are checked too.

use serde_json::json;

use crate::browser::{Browser, CAL, FLOW, log_in_to_account, log_in_to_console, show_month_of};
use crate::helpers::{Fixture, TestApp, paths};

crate::both_backends!(no_page_or_console_view_has_an_axe_violation);

const PASSWORD: &str = "correct horse battery";

/// axe-core's script: `AXE_CORE_JS`, else where `.ci/run` installs it.
/// Missing under CI is a failure, never a skip.
fn axe_source() -> Option<String> {
    let path = std::env::var("AXE_CORE_JS").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../target/ci-tools/node_modules/axe-core/axe.min.js"
        )
        .to_owned()
    });
    match std::fs::read_to_string(&path) {
        Ok(s) => Some(s),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
            panic!("CI=true but axe-core is missing at {path} ({e}); .ci/run installs it")
        }
        Err(_) => {
            eprintln!("SKIPPED: axe-core is not installed at {path} (see .ci/run)");
            None
        }
    }
}

struct Audit<'a> {
    b: &'a Browser,
    axe: &'a str,
    width: u32,
    failures: Vec<String>,
    views: usize,
}

impl Audit<'_> {
    /// A fresh load of `url`, waiting until `ready` (a JS expression) holds.
    async fn open(&mut self, view: &str, url: &str, ready: &str) {
        self.b.goto("about:blank").await;
        self.b.goto(url).await;
        self.b.wait_until(ready).await;
        self.check(view).await;
    }

    /// Runs axe over the page as it is now.
    async fn check(&mut self, view: &str) {
        self.views += 1;
        // Let transitions and focus moves settle (axe reads computed colours).
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        self.b
            .js(
                &format!("if (!window.axe) {{ {} }} return true;", self.axe),
                vec![],
            )
            .await;
        let found = self
            .b
            .js_async(
                "axe.run(document, { resultTypes: ['violations'] }).then((r) => done(r.violations.map((v) => \
                 `${v.id} (${v.impact}): ${v.help}; at ${v.nodes.slice(0, 3).map((n) => `${n.target.join(' >>> ')} ${n.html.slice(0, 300)}`).join(' | ')}`)))\
                 .catch((e) => done(['axe failed: ' + e]));",
                vec![],
            )
            .await;
        for v in found.as_array().cloned().unwrap_or_default() {
            self.failures.push(format!(
                "{} px, {view}: {}",
                self.width,
                v.as_str().unwrap_or_default()
            ));
        }
    }
}

fn deep(path: &str) -> String {
    format!("deep({})", json!(path))
}

fn cal_loaded(cal: &str) -> String {
    let table = deep(&format!("{cal} >>> table"));
    format!("{table} && {table}.getAttribute('aria-busy') === 'false'")
}

struct Data {
    f: Fixture,
    reference: String,
    booking: i64,
}

async fn seed(app: &TestApp) -> Data {
    let f = app.fixture(2).await;
    app.register("axel@example.com", PASSWORD, "Axel Access")
        .await
        .assert_status(201);
    let customer = app.login_token("axel@example.com", PASSWORD).await;
    let guest = app.book(f.tour, f.slots[0], 2, 0, 0).await;
    guest.assert_status(201);
    app.post_as(
        &customer,
        paths::WAITLIST,
        &json!({"tour_id": f.tour, "requested_date": f.dates[0], "num_people": 1}),
    )
    .await
    .assert_status(201);
    app.create_booking_as(
        &customer,
        &json!({"tour_id": f.tour, "booking_slot_id": f.slots[2], "num_adults": 1}),
    )
    .await
    .assert_status(201);
    app.book(f.tour, f.slots[1], 1, 0, 0)
        .await
        .assert_status(201);
    app.post_as(
        &f.admin,
        paths::ADMIN_BLACKOUTS,
        &json!({"tour_id": f.tour, "start_date": f.dates[5], "end_date": f.dates[5],
                "blackout_type": "weather", "name": "Storm"}),
    )
    .await
    .assert_status(201);
    Data {
        reference: guest.body["booking_reference"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        booking: guest.body["id"].as_i64().unwrap_or_default(),
        f,
    }
}

async fn walk(a: &mut Audit<'_>, app: &TestApp, d: &Data) {
    let b = a.b;
    let f = &d.f;
    let tour_page = app.url(&format!("/tours/{}", f.tour));
    a.open(
        "home",
        &app.url("/"),
        "document.querySelector('#tours [data-tour]') && \
         ![...document.querySelectorAll('#tours .next')].some((n) => n.querySelector('.skeleton'))",
    )
    .await;
    a.open("tour page", &tour_page, &cal_loaded(CAL)).await;
    // A full day: the waitlist offer and form.
    show_month_of(b, CAL, &f.dates[0]).await;
    b.click(&format!("{CAL} >>> td[data-date='{}']", f.dates[0]))
        .await;
    b.click(&format!("{FLOW} >>> [data-act='waitlist-open']"))
        .await;
    b.wait(&format!("{FLOW} >>> #w-people")).await;
    a.check("tour page, waitlist form").await;
    // An open day through the flow to the contact step.
    show_month_of(b, CAL, &f.dates[3]).await;
    b.click(&format!("{CAL} >>> td[data-date='{}']", f.dates[3]))
        .await;
    b.click(&format!("{CAL} >>> .slot[data-slot='{}']", f.slots[3]))
        .await;
    a.check("tour page, departures").await;
    b.click(&format!("{FLOW} >>> [data-act='next']")).await;
    b.wait_text(&format!("{FLOW} >>> [data-total]"), ".").await;
    a.check("tour page, party and price").await;
    b.click(&format!("{FLOW} >>> [data-act='next']")).await;
    b.wait(&format!("{FLOW} >>> #c-name")).await;
    a.check("tour page, contact form").await;

    a.open(
        "manage",
        &app.url(&format!(
            "/manage?reference={}&email=guest@example.com",
            d.reference
        )),
        &format!(
            "document.querySelector('[data-reference]') && {}",
            cal_loaded("booking-calendar")
        ),
    )
    .await;
    a.open(
        "manage, lookup form",
        &app.url("/manage"),
        "document.querySelector('form')",
    )
    .await;
    a.open(
        "not found",
        &app.url("/nope"),
        "document.querySelector('h1')",
    )
    .await;
    a.open(
        "account, logged out",
        &app.url("/account"),
        "document.querySelector('#login')",
    )
    .await;
    log_in_to_account(b, app, "axel@example.com", PASSWORD).await;
    a.check("account, logged in").await;
    b.click("#logout").await;
    b.wait("#login #l-email").await;

    a.open(
        "console login",
        &app.url("/admin"),
        "document.querySelector('#login')",
    )
    .await;
    app.ctx
        .accounts()
        .ensure_admin("axe-admin@example.com", "admin password 123", "Operator")
        .await
        .expect("admin");
    log_in_to_console(b, app, "axe-admin@example.com", "admin password 123").await;
    let views: Vec<(String, &str)> = vec![
        (
            format!("slots?mode=week&from={}", f.dates[0]),
            "#slot-list .dep[data-slot]",
        ),
        (
            format!("slots?mode=day&from={}", f.dates[1]),
            "#slot-list tr[data-slot]",
        ),
        ("tours".into(), "#tour-list table"),
        (format!("schedules?tour={}", f.tour), "[data-schedule]"),
        ("blackouts".into(), "#b-list table"),
        ("bookings".into(), "#list table"),
        (format!("booking/{}", d.booking), "#view .card"),
        (format!("manifest/{}", f.slots[1]), "#view table"),
        ("waitlist".into(), "#list table"),
        ("notifications".into(), "#view table"),
        ("messages".into(), "#main table, #main form, #main h1"),
        ("webhooks".into(), "#main table, #main form, #main h1"),
        ("reports".into(), "#main table, #main form, #main h1"),
    ];
    for (hash, ready) in views {
        a.open(
            &format!("/admin#{hash}"),
            &app.url(&format!("/admin#{hash}")),
            &format!("document.querySelector({})", json!(ready)),
        )
        .await;
    }
    // A departure's detail panel, from the week (grid or agenda).
    a.open(
        "/admin#slots week, departure panel",
        &app.url(&format!("/admin#slots?mode=week&from={}", f.dates[0])),
        "document.querySelector('#slot-list .dep[data-slot]')",
    )
    .await;
    b.click(&format!("#slot-list .dep[data-slot='{}']", f.slots[0]))
        .await;
    b.wait("dialog.dialog[open] #sd-cap").await;
    a.check("/admin#slots week, departure panel").await;
    // A new schedule's preview.
    a.open(
        "/admin#schedules, new schedule preview",
        &app.url(&format!("/admin#schedules?tour={}", f.tour)),
        "document.querySelector('#s-form')",
    )
    .await;
    b.js(
        "const f = document.getElementById('s-form'); f.monday.checked = true;",
        vec![],
    )
    .await;
    b.click("#s-form button[type='submit']").await;
    b.wait_until(
        "document.querySelector('#s-previewed #s-confirm') || document.querySelector('#s-form [data-err]').textContent",
    )
    .await;
    let err = b
        .js(
            "return document.querySelector('#s-form [data-err]').textContent;",
            vec![],
        )
        .await
        .json()
        .clone();
    assert_eq!(err, json!(""), "the schedule preview");
    a.check("/admin#schedules, new schedule preview").await;
}

async fn no_page_or_console_view_has_an_axe_violation(app: TestApp) {
    let Some(axe) = axe_source() else {
        return;
    };
    let d = seed(&app).await;
    let mut failures = Vec::new();
    let mut views = 0;
    for (width, height) in [(1280, 1000), (390, 844)] {
        // A real phone width: Chromium's windows are never narrower than 500 px.
        let b = if width < 500 {
            Browser::start_phone(width, height).await
        } else {
            Browser::start(width, height).await
        };
        let Some(b) = b else {
            return;
        };
        let mut a = Audit {
            b: &b,
            axe: &axe,
            width,
            failures: Vec::new(),
            views: 0,
        };
        walk(&mut a, &app, &d).await;
        views += a.views;
        failures.append(&mut a.failures);
        b.quit().await;
    }
    assert!(views >= 40, "the walk covered {views} views");
    assert!(
        failures.is_empty(),
        "{} axe violation(s) over {views} views:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
