//! The pages' Content-Security-Policy allows scripts and styles from this
//! origin only (`style-src 'self'`: no `style` attribute, no `<style>`
//! element), and no page breaks it: every page, in the states a person sees,
//! is loaded in a real headless Chromium that records each violation from
//! the page's first script on. The components keep their look embedded on
//! an operator's site whose own policy is as strict (they style their
//! shadow roots with constructed stylesheets, which no policy blocks).

use serde_json::{Value, json};

use crate::browser::{
    Browser, CAL, FLOW, OperatorSite, log_in_to_account, log_in_to_console, show_month_of,
};
use crate::helpers::{TestApp, paths};

crate::both_backends!(no_page_violates_the_content_security_policy);

const PASSWORD: &str = "correct horse battery";

/// Computed styles inside the booking flow's and its calendar's shadow
/// roots: what the components' stylesheets decide.
const PROBE: &str = "const flow = document.querySelector('booking-flow'); const root = flow.shadowRoot;
const cal = root.querySelector('booking-calendar').shadowRoot;
const cs = (el, props) => el ? props.map((p) => getComputedStyle(el).getPropertyValue(p)).join(' | ') : 'missing';
return {
  steps: cs(root.querySelector('.steps'), ['display', 'list-style-type', 'margin-bottom']),
  current_step: cs(root.querySelector('.steps li[aria-current]'), ['border-bottom-color', 'border-bottom-width', 'font-weight']),
  heading: cs(root.querySelector('h2'), ['font-size']),
  nav: cs(cal.querySelector('.nav'), ['min-width', 'min-height', 'border-radius', 'background-color']),
  grid: cs(cal.querySelector('table'), ['border-collapse', 'table-layout']),
  day: cs(cal.querySelector('td[data-date]'), ['height', 'border-radius', 'text-align']),
  legend: [...cal.querySelectorAll('.legend li > span')].map((s) => cs(s, ['background-color', 'width', 'border-radius'])).join(' ; '),
  slots: cs(cal.querySelector('.slots'), ['min-height']),
};";

/// Visits pages and collects every violation, so one run names them all.
struct Visits<'a> {
    b: &'a Browser,
    failures: Vec<String>,
}

impl Visits<'_> {
    /// A fresh load of `url`, waiting until `ready` (a JS expression) holds.
    async fn open(&mut self, page: &str, url: &str, ready: &str) {
        self.b.goto("about:blank").await;
        self.b.goto(url).await;
        self.b.wait_until(ready).await;
        self.record(page).await;
    }

    /// Records the violations reported since the last look.
    async fn record(&mut self, page: &str) {
        for v in self.b.csp_violations().await {
            self.failures.push(format!("{page}: {v}"));
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

/// Walks the booking flow at `FLOW` through a full day (the waitlist form)
/// and an open one up to the contact step, recording violations at each.
async fn walk_the_flow(v: &mut Visits<'_>, page: &str, full: &str, open: &str, slot: i64) {
    let b = v.b;
    show_month_of(b, CAL, full).await;
    b.click(&format!("{CAL} >>> td[data-date='{full}']")).await;
    b.click(&format!("{FLOW} >>> [data-act='waitlist-open']"))
        .await;
    b.wait(&format!("{FLOW} >>> #w-people")).await;
    v.record(&format!("{page}, waitlist form")).await;
    show_month_of(b, CAL, open).await;
    b.click(&format!("{CAL} >>> td[data-date='{open}']")).await;
    b.click(&format!("{CAL} >>> .slot[data-slot='{slot}']"))
        .await;
    v.record(&format!("{page}, departures")).await;
    b.click(&format!("{FLOW} >>> [data-act='next']")).await;
    b.wait_text(&format!("{FLOW} >>> [data-total]"), ".").await;
    v.record(&format!("{page}, party and price")).await;
    b.click(&format!("{FLOW} >>> [data-act='next']")).await;
    b.wait(&format!("{FLOW} >>> #c-name")).await;
    v.record(&format!("{page}, contact form")).await;
}

async fn no_page_violates_the_content_security_policy(app: TestApp) {
    let mut site = OperatorSite::bind().await;
    let origin = site.origin.clone();
    let Some(app) = TestApp::spawn(app.backend, move |c| c.allowed_origins = vec![origin]).await
    else {
        return;
    };
    let f = app.fixture(2).await;
    site.serve(&app.url(""), f.tour);

    // The policy itself: styles from this origin only, on every page.
    let tour_page = format!("/tours/{}", f.tour);
    for path in [
        "/",
        tour_page.as_str(),
        "/manage",
        "/account",
        "/admin",
        "/nope",
    ] {
        let r = app.get(path).await;
        let csp = r
            .headers
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(csp.contains("style-src 'self';"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
    }

    // Data for every state: day 0 full, then a notified waitlist entry of a
    // customer, who also has a booking on day 2; day 1 half booked; day 4
    // full; a cancelled booking; a blackout; notifications.
    app.register("cara@example.com", PASSWORD, "Cara Customer")
        .await
        .assert_status(201);
    let customer = app.login_token("cara@example.com", PASSWORD).await;
    let guest = app.book(f.tour, f.slots[0], 2, 0, 0).await;
    guest.assert_status(201);
    let waiting = app
        .post_as(
            &customer,
            paths::WAITLIST,
            &json!({"tour_id": f.tour, "requested_date": f.dates[0], "num_people": 1}),
        )
        .await;
    waiting.assert_status(201);
    app.create_booking_as(
        &customer,
        &json!({"tour_id": f.tour, "booking_slot_id": f.slots[2], "num_adults": 1}),
    )
    .await
    .assert_status(201);
    app.book(f.tour, f.slots[1], 1, 0, 0)
        .await
        .assert_status(201);
    app.book(f.tour, f.slots[4], 2, 0, 0)
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
    let reference = guest.body["booking_reference"].as_str().expect("ref");

    let Some(b) = Browser::start(1280, 1200).await else {
        return;
    };
    b.record_csp_violations().await;
    let mut v = Visits {
        b: &b,
        failures: Vec::new(),
    };

    // The public pages, as a guest.
    v.open(
        "home",
        &app.url("/"),
        "document.querySelector('#tours [data-tour]') && \
         ![...document.querySelectorAll('#tours .next')].some((n) => n.querySelector('.skeleton'))",
    )
    .await;
    v.open("tour page", &app.url(&tour_page), &cal_loaded(CAL))
        .await;
    walk_the_flow(&mut v, "tour page", &f.dates[0], &f.dates[3], f.slots[3]).await;
    v.open(
        "manage",
        &app.url(&format!(
            "/manage?reference={reference}&email=guest@example.com"
        )),
        &format!(
            "document.querySelector('[data-reference]') && {}",
            cal_loaded("booking-calendar")
        ),
    )
    .await;
    v.open(
        "not found",
        &app.url("/nope"),
        "document.querySelector('h1')",
    )
    .await;
    v.open(
        "account, logged out",
        &app.url("/account"),
        "document.querySelector('#login')",
    )
    .await;
    v.open(
        "console login",
        &app.url("/admin"),
        "document.querySelector('#login')",
    )
    .await;

    // Guest books cancelled: the customer's waitlist entry is notified.
    app.send(
        reqwest::Method::DELETE,
        &format!("/api/calendar/bookings/{}", guest.body["id"]),
        Some(&json!({"cancellation_reason": "Plans changed"})),
        &[(
            "x-manage-token",
            guest.body["manage_token"].as_str().expect("token"),
        )],
    )
    .await
    .assert_status(200);

    // The customer's account: a booking to change, an entry to claim.
    log_in_to_account(&b, &app, "cara@example.com", PASSWORD).await;
    v.record("account, logging in").await;
    v.open(
        "account",
        &app.url("/account"),
        "document.querySelector('#account [data-claim]') && document.querySelector('#account [data-resize]')",
    )
    .await;
    b.click("#logout").await;
    b.wait("#login #l-email").await;

    // The console, logged in, every section.
    app.ctx
        .accounts()
        .ensure_admin("csp-admin@example.com", "admin password 123", "Operator")
        .await
        .expect("admin");
    log_in_to_console(&b, &app, "csp-admin@example.com", "admin password 123").await;
    v.record("console, logging in").await;
    let routes: Vec<(String, String)> = vec![
        (
            format!("slots?mode=week&from={}", f.dates[0]),
            "document.querySelector('#slot-list .dep[data-slot] .bar > span')".into(),
        ),
        (
            format!("slots?mode=day&from={}", f.dates[1]),
            "document.querySelector('#slot-list tr[data-slot]')".into(),
        ),
        (
            "tours".into(),
            "document.querySelector('#tour-list table')".into(),
        ),
        (
            format!("schedules?tour={}", f.tour),
            "document.querySelector('[data-schedule]')".into(),
        ),
        (
            "blackouts".into(),
            "document.querySelector('#b-list table')".into(),
        ),
        (
            "bookings".into(),
            "document.querySelector('#list table')".into(),
        ),
        (
            format!("booking/{}", guest.body["id"]),
            "document.querySelector('#view .card')".into(),
        ),
        (
            format!("manifest/{}", f.slots[1]),
            "document.querySelector('#view table')".into(),
        ),
        (
            "waitlist".into(),
            "document.querySelector('#list table')".into(),
        ),
        (
            "notifications".into(),
            "document.querySelector('#view table')".into(),
        ),
    ];
    for (hash, ready) in &routes {
        v.open(
            &format!("/admin#{hash}"),
            &app.url(&format!("/admin#{hash}")),
            ready,
        )
        .await;
    }
    // The occupancy bar still shows occupancy (set through the CSSOM): day 1
    // has 1 of 2 booked.
    v.open(
        "/admin#slots, day 1",
        &app.url(&format!("/admin#slots?mode=day&from={}", f.dates[1])),
        "document.querySelector('#slot-list tr[data-slot] .bar > span')",
    )
    .await;
    let width = b
        .js(
            "const s = document.querySelector('#slot-list tr[data-slot] .bar > span'); \
             return [s.style.width, s.getBoundingClientRect().width / s.parentElement.getBoundingClientRect().width];",
            vec![],
        )
        .await
        .json()
        .clone();
    b.screenshot("csp-admin-slots", app.backend).await;
    if width[0] != "50%" || (width[1].as_f64().unwrap_or(0.0) - 0.5).abs() > 0.02 {
        v.failures.push(format!(
            "/admin#slots: the occupancy bar of a half-booked departure is [width, share] = {width}"
        ));
    }
    // Forms opened by a click: the tour editor, a blackout's preview.
    v.open(
        "/admin#tours",
        &app.url("/admin#tours"),
        "document.querySelector('[data-edit]')",
    )
    .await;
    b.click("[data-edit]").await;
    b.wait_until("document.querySelector(\"[data-tour-form] input[name='name']\").value !== ''")
        .await;
    v.record("/admin#tours, editing a tour").await;
    v.open(
        "/admin#blackouts",
        &app.url("/admin#blackouts"),
        "document.querySelector('#b-form')",
    )
    .await;
    b.js(
        "const f = document.querySelector('#b-form'); f.start_date.value = arguments[0]; \
         f.end_date.value = arguments[0]; f.name.value = 'Heat'; f.requestSubmit();",
        vec![json!(f.dates[1])],
    )
    .await;
    b.wait("#b-preview li").await;
    v.record("/admin#blackouts, conflict preview").await;
    b.click("#logout").await;
    b.wait("#login").await;

    // The components on the Tourdesk tour page, then embedded on the
    // operator's site: the same look, no violation of either policy.
    v.open("tour page", &app.url(&tour_page), &cal_loaded(CAL))
        .await;
    show_month_of(&b, CAL, &f.dates[1]).await;
    let here = b.js(PROBE, vec![]).await.json().clone();
    v.open(
        "operator's site",
        &site.url(),
        &format!("{} && {}", cal_loaded(CAL), cal_loaded("#calendar")),
    )
    .await;
    show_month_of(&b, CAL, &f.dates[1]).await;
    let there = b.js(PROBE, vec![]).await.json().clone();
    b.screenshot("csp-operator-site", app.backend).await;
    walk_the_flow(
        &mut v,
        "operator's site",
        &f.dates[4],
        &f.dates[6],
        f.slots[6],
    )
    .await;
    let failures = std::mem::take(&mut v.failures);
    b.quit().await;

    assert!(
        failures.is_empty(),
        "{} CSP violation(s) or unstyled element(s) on {:?}:\n{}",
        failures.len(),
        app.backend,
        failures.join("\n")
    );
    // The components' own styles apply, and the same on both sites.
    let styled = |probe: &Value, key: &str, expected: &str| {
        let got = probe[key].as_str().unwrap_or_default().to_owned();
        assert!(got.contains(expected), "{key}: `{got}` lacks `{expected}`");
    };
    for probe in [&here, &there] {
        styled(probe, "nav", "44px | 44px | 8px");
        styled(probe, "grid", "separate | fixed");
        styled(probe, "legend", "rgb(214, 245, 223)");
        styled(probe, "steps", "flex | none");
    }
    assert_eq!(here, there, "the components look different embedded");
}
