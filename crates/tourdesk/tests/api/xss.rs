//! Script injection in the web UI, in a real headless Chromium. Data carrying
//! injection vectors goes into every field that a page shows and someone
//! other than the reader controls: blackout names, tour names and
//! descriptions, a guest's name, email and requirements, a cancellation
//! reason, waitlist entries, an account's name. The admin console's
//! hash-route parameters and an embedding site's `tour-id` get vectors too.
//! Every page must show each vector as text and run none of them. Each
//! vector sets `window.__xss` to its own number when it runs. No element
//! may carry an inline event handler or a `javascript:` link.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::browser::{Browser, log_in_to_account, log_in_to_console};
use crate::helpers::{TestApp, paths};

both_backends!(injected_data_is_shown_as_text_and_never_runs);

const IMG: &str = r#""><img src=x onerror=window.__xss=1>"#;
const SVG: &str = "<svg onload=window.__xss=2>";
const SCRIPT: &str = "</script><script>window.__xss=3</script>";
const JS_URL: &str = "javascript:window.__xss=4";
const SINGLE: &str = "'><img src=x onerror=window.__xss=5>";
const BACKTICK: &str = "`><img src=x onerror=window.__xss=6>";
const DQ_ATTR: &str = r#"" autofocus onfocus=window.__xss=7 x=""#;
const SQ_ATTR: &str = "' autofocus onfocus=window.__xss=8 x='";
/// An email may carry quotes and `=`, but no spaces or angle brackets.
const EMAIL: &str = "x'onfocus='window.__xss=9'autofocus='@example.com";

const VECTORS: [&str; 8] = [IMG, SVG, SCRIPT, JS_URL, SINGLE, BACKTICK, DQ_ATTR, SQ_ATTR];

const FLOW_CAL: &str = "booking-flow >>> booking-calendar";

/// Collects, across shadow roots, the page's text and attribute values, the
/// elements with inline event handlers or `javascript:` links, and
/// `window.__xss`.
const SCAN: &str = "const texts = [], handlers = [], links = [];
const walk = (root) => {
  texts.push((root.body || root).textContent);
  for (const el of root.querySelectorAll('*')) {
    for (const a of el.attributes) {
      texts.push(a.value);
      if (a.name.startsWith('on')) handlers.push(el.outerHTML.slice(0, 160));
      if (['href', 'src', 'action', 'formaction', 'xlink:href'].includes(a.name) && /^\\s*javascript:/i.test(a.value)) {
        links.push(el.outerHTML.slice(0, 160));
      }
    }
    if (el.shadowRoot) walk(el.shadowRoot);
  }
};
walk(document);
return { text: texts.join('\\n'), handlers, links, xss: window.__xss === undefined ? null : String(window.__xss) };";

/// Percent-encodes everything but ASCII letters and digits.
fn pct(s: &str) -> String {
    s.bytes()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                char::from(c).to_string()
            } else {
                format!("%{c:02X}")
            }
        })
        .collect()
}

/// A JS expression: the element at `path` (across shadow roots) exists.
fn exists(path: &str) -> String {
    format!("deep({})", json!(path))
}

/// A JS expression: the calendar at `cal` has loaded its month.
fn cal_loaded(cal: &str) -> String {
    format!(
        "deep({t}) && deep({t}).getAttribute('aria-busy') === 'false'",
        t = json!(format!("{cal} >>> table"))
    )
}

/// A JS expression: the admin console's `#list` has its result.
const LIST_LOADED: &str = "(() => { const l = document.querySelector('#list'); \
    return l && !l.querySelector('.skeleton') && l.textContent.trim().length > 0; })()";

/// Visits pages and records what went wrong, so that one run reports every
/// page and vector that misbehaves.
struct Checker<'a> {
    b: &'a Browser,
    failures: Vec<String>,
}

impl Checker<'_> {
    async fn scan(&self) -> Value {
        self.b.js(SCAN, vec![]).await.json().clone()
    }

    /// A fresh page load of `url`.
    async fn open(&self, url: &str) {
        self.b.goto("about:blank").await;
        self.b.goto(url).await;
    }

    /// Waits until `ready` (a JS expression) holds and every literal shows
    /// as text or an attribute value, lets late handlers (image errors) fire,
    /// then checks that nothing ran and no handler or `javascript:` link was
    /// injected. Clears `window.__xss` for the next check on this page.
    async fn check(&mut self, page: &str, ready: &str, literals: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let r = self.b.js(&format!("return !!({ready});"), vec![]).await;
            if r.json() == &json!(true) {
                break;
            }
            if Instant::now() > deadline {
                self.failures
                    .push(format!("{page}: never rendered (waited for {ready})"));
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let deadline = Instant::now() + Duration::from_secs(4);
        loop {
            let scan = self.scan().await;
            let text = scan["text"].as_str().unwrap_or_default();
            let missing: Vec<&str> = literals
                .iter()
                .copied()
                .filter(|l| !text.contains(l))
                .collect();
            if missing.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                for m in missing {
                    self.failures
                        .push(format!("{page}: `{m}` is not shown literally"));
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
        let scan = self.scan().await;
        if let Some(v) = scan["xss"].as_str() {
            self.failures
                .push(format!("{page}: script ran (window.__xss = {v})"));
        }
        for (key, what) in [
            ("handlers", "inline event handler"),
            ("links", "javascript: link"),
        ] {
            for el in scan[key].as_array().into_iter().flatten() {
                self.failures.push(format!(
                    "{page}: injected {what}: {}",
                    el.as_str().unwrap_or("")
                ));
            }
        }
        self.b.js("delete window.__xss;", vec![]).await;
    }

    /// Shows the month of `date` in the calendar at `cal` and checks that its
    /// day cell describes the blackout `name` without running it.
    async fn check_blackout_day(&mut self, page: &str, cal: &str, date: &str, name: &str) {
        let cell = format!("{cal} >>> td[data-date='{date}']");
        for _ in 0..4 {
            self.check_loaded(cal).await;
            let found = self
                .b
                .js(&format!("return !!{};", exists(&cell)), vec![])
                .await;
            if found.json() == &json!(true) {
                break;
            }
            // The calendar opens on the first bookable month, which may be
            // after `date`: move towards it.
            let shown = self
                .b
                .js(
                    "const m = deep(arguments[0]).month; return m.getFullYear() * 12 + m.getMonth();",
                    vec![json!(cal)],
                )
                .await
                .json()
                .as_i64()
                .unwrap_or(0);
            let wanted = date[..4].parse::<i64>().unwrap_or(0) * 12
                + date[5..7].parse::<i64>().unwrap_or(1)
                - 1;
            let step = if wanted < shown { -1 } else { 1 };
            self.b
                .click(&format!("{cal} >>> [data-nav='{step}']"))
                .await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        self.check(
            &format!("{page}, calendar day {date}"),
            &format!("{} && {}", cal_loaded(cal), exists(&cell)),
            &[name],
        )
        .await;
    }

    async fn check_loaded(&self, cal: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self
            .b
            .js(&format!("return !!({});", cal_loaded(cal)), vec![])
            .await
            .json()
            != &json!(true)
        {
            assert!(Instant::now() < deadline, "the calendar {cal} never loaded");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn injected_data_is_shown_as_text_and_never_runs(app: TestApp) {
    let Some(b) = Browser::start(1280, 1200).await else {
        return;
    };
    let f = app.fixture(2).await;
    let admin = f.admin.clone();

    // The operator's free text: the tour's name and description, another tour.
    app.put_as(
        &admin,
        &format!("/api/calendar/admin/tours/{}", f.tour),
        &json!({"name": SVG, "description": IMG}),
    )
    .await
    .assert_status(200);
    app.tour(&admin, json!({"name": BACKTICK, "description": JS_URL}))
        .await;
    // One blackout per vector, on fixture days 1 to 8.
    let blackouts: Vec<(String, &str)> = VECTORS
        .iter()
        .enumerate()
        .map(|(i, v)| (f.dates[i + 1].clone(), *v))
        .collect();
    for (date, name) in &blackouts {
        app.post_as(
            &admin,
            paths::ADMIN_BLACKOUTS,
            &json!({"tour_id": f.tour, "start_date": date, "end_date": date,
                    "blackout_type": "custom", "name": name, "description": SCRIPT}),
        )
        .await
        .assert_status(201);
    }
    // A guest fills day 0.
    let a = app
        .create_booking(
            &json!({"tour_id": f.tour, "booking_slot_id": f.slots[0], "num_adults": 2,
                    "customer_name": IMG, "customer_email": EMAIL, "special_requirements": SVG,
                    "dietary_restrictions": SCRIPT, "accessibility_needs": SINGLE}),
        )
        .await;
    a.assert_status(201);
    let a_ref = a.body["booking_reference"]
        .as_str()
        .expect("ref")
        .to_owned();
    // Another books day 9 and cancels with a reason.
    let g = app
        .create_booking(
            &json!({"tour_id": f.tour, "booking_slot_id": f.slots[9], "num_adults": 1,
                    "customer_name": BACKTICK, "customer_email": "guest@example.com",
                    "special_requirements": JS_URL, "dietary_restrictions": DQ_ATTR,
                    "accessibility_needs": SQ_ATTR}),
        )
        .await;
    g.assert_status(201);
    let g_ref = g.body["booking_reference"]
        .as_str()
        .expect("ref")
        .to_owned();
    app.send(
        Method::DELETE,
        &format!("/api/calendar/bookings/{}", g.body["id"]),
        Some(&json!({"cancellation_reason": SINGLE})),
        &[(
            "x-manage-token",
            g.body["manage_token"].as_str().expect("token"),
        )],
    )
    .await
    .assert_status(200);
    // Two guests wait for the full day 0.
    for (name, notes, email) in [
        (SQ_ATTR, IMG, "w1@example.com"),
        (SCRIPT, SVG, "w2@example.com"),
    ] {
        app.post(
            paths::WAITLIST,
            &json!({"tour_id": f.tour, "requested_date": f.dates[0], "num_people": 1,
                    "customer_name": name, "customer_email": email, "notes": notes}),
        )
        .await
        .assert_status(201);
    }
    // A customer with an account books day 9.
    app.register("c@example.com", "correct horse battery", DQ_ATTR)
        .await
        .assert_status(201);
    let customer = app
        .login_token("c@example.com", "correct horse battery")
        .await;
    app.create_booking_as(
        &customer,
        &json!({"tour_id": f.tour, "booking_slot_id": f.slots[9], "num_adults": 1,
                "special_requirements": BACKTICK}),
    )
    .await
    .assert_status(201);

    let mut c = Checker {
        b: &b,
        failures: Vec::new(),
    };

    // The public pages.
    c.open(&app.url("/")).await;
    c.check(
        "home",
        "document.querySelector('#tours [data-tour]')",
        &[SVG, IMG, BACKTICK, JS_URL],
    )
    .await;
    c.open(&app.url(&format!("/tours/{}", f.tour))).await;
    c.check("tour page", &cal_loaded(FLOW_CAL), &[SVG, IMG])
        .await;
    for (date, name) in &blackouts {
        c.check_blackout_day("tour page", FLOW_CAL, date, name)
            .await;
    }
    // An operator's site (here a bare page) loading the components as a
    // module and passing a tour id it took from its own URL: the error the
    // calendar echoes and the attribute the flow passes on.
    c.open(&app.url("/no-such-page")).await;
    b.js(
        "import(arguments[0]).then(() => { \
         for (const [tag, id] of [['booking-calendar', arguments[1]], ['booking-flow', arguments[2]]]) { \
         const el = document.createElement(tag); el.id = 'embed-' + tag; el.setAttribute('tour-id', id); \
         document.body.append(el); } });",
        vec![json!(app.url("/assets/tourdesk.js")), json!(SVG), json!(IMG)],
    )
    .await;
    let says =
        |path: &str, v: &str| format!("{}?.textContent.includes({})", exists(path), json!(v));
    c.check(
        "embedded components with a bad tour-id",
        &format!(
            "{} && {}",
            says("#embed-booking-calendar >>> .error", SVG),
            says("#embed-booking-flow >>> .error", IMG)
        ),
        &[SVG, IMG],
    )
    .await;

    // /manage for both bookings (reference + email).
    let manage =
        |r: &str, e: &str| app.url(&format!("/manage?reference={}&email={}", pct(r), pct(e)));
    c.open(&manage(&a_ref, EMAIL)).await;
    c.check(
        "/manage",
        &format!(
            "{} && {}",
            exists("[data-reference]"),
            cal_loaded("booking-calendar")
        ),
        &[SVG, &a_ref],
    )
    .await;
    for (date, name) in &blackouts {
        c.check_blackout_day("/manage", "booking-calendar", date, name)
            .await;
    }
    c.open(&manage(&g_ref, "guest@example.com")).await;
    c.check(
        "/manage (cancelled)",
        &exists("[data-reference]"),
        &[SVG, SINGLE],
    )
    .await;

    // The admin console, logged in through its form as an operator does.
    app.ctx
        .accounts()
        .ensure_admin("xss-admin@example.com", "admin password 123", "Operator")
        .await
        .expect("admin");
    c.open("about:blank").await;
    log_in_to_console(&b, &app, "xss-admin@example.com", "admin password 123").await;
    let routes: Vec<(String, String, Vec<&str>)> = vec![
        (
            format!("slots?mode=week&from={}", f.dates[0]),
            exists("#slot-list .dep[data-slot]"),
            vec![SVG],
        ),
        (
            "tours".into(),
            exists("#tour-list table"),
            vec![SVG, BACKTICK],
        ),
        (
            format!("schedules?tour={}", f.tour),
            exists("[data-schedule]"),
            vec![SVG],
        ),
        (
            "blackouts".into(),
            exists("#b-list table"),
            VECTORS.to_vec(),
        ),
        (
            "bookings".into(),
            exists("#list table"),
            vec![IMG, BACKTICK, EMAIL, SVG],
        ),
        (
            format!("booking/{}", a.body["id"]),
            exists("#view .card"),
            vec![IMG, EMAIL, SVG, SCRIPT, SINGLE],
        ),
        (
            format!("booking/{}", g.body["id"]),
            exists("#view .card"),
            vec![BACKTICK, JS_URL, DQ_ATTR, SQ_ATTR, SVG, SINGLE],
        ),
        (
            format!("manifest/{}", f.slots[0]),
            exists("#view table"),
            vec![IMG, EMAIL, SVG, SCRIPT, SINGLE],
        ),
        (
            "waitlist".into(),
            exists("#list table"),
            vec![SQ_ATTR, SCRIPT, SVG],
        ),
        (
            "notifications".into(),
            exists("#view table"),
            vec![SVG, EMAIL],
        ),
    ];
    for (hash, ready, literals) in &routes {
        c.open(&app.url(&format!("/admin#{hash}"))).await;
        c.check(&format!("/admin#{hash}"), ready, literals).await;
    }
    // The tour form filled in for editing, and a blackout's conflict preview.
    c.open(&app.url("/admin#tours")).await;
    b.wait("#tour-list table").await;
    b.js(
        "[...document.querySelectorAll('#tour-list tr')].find((r) => r.cells[0]?.textContent === arguments[0]) \
         .querySelector('[data-edit]').click();",
        vec![json!(SVG)],
    )
    .await;
    c.check(
        "/admin#tours, editing the tour",
        &format!(
            "document.querySelector(\"[data-tour-form] input[name='name']\")?.value === {}",
            json!(SVG)
        ),
        &[SVG, IMG],
    )
    .await;
    c.open(&app.url("/admin#blackouts")).await;
    b.wait("#b-list table").await;
    b.js(
        "const f = document.querySelector('#b-form'); f.start_date.value = arguments[0]; \
         f.end_date.value = arguments[0]; f.name.value = arguments[1]; f.requestSubmit();",
        vec![json!(f.dates[0]), json!(IMG)],
    )
    .await;
    c.check(
        "/admin#blackouts, conflict preview",
        &exists("#b-preview li"),
        &[SVG],
    )
    .await;
    // Hash-route parameters: a link someone sends the admin.
    for v in VECTORS {
        for (route, param) in [
            ("bookings", "start_date"),
            ("bookings", "end_date"),
            ("waitlist", "date"),
        ] {
            c.open(&app.url(&format!("/admin#{route}?{param}={}", pct(v))))
                .await;
            c.check(&format!("/admin#{route}?{param}={v}"), LIST_LOADED, &[v])
                .await;
        }
    }
    for hash in [
        format!("slots?mode={0}&from={0}", pct(IMG)),
        format!("schedules?tour={}", pct(IMG)),
        format!(
            "bookings?tour_id={0}&status_filter={0}&offset={0}",
            pct(IMG)
        ),
        format!("waitlist?tour_id={0}&status={0}", pct(IMG)),
        format!("booking/{}", pct(SVG)),
        format!("manifest/{}", pct(SVG)),
    ] {
        c.open(&app.url(&format!("/admin#{hash}"))).await;
        c.check(
            &format!("/admin#{hash}"),
            "document.querySelector('#view') && !document.querySelector('#view .skeleton')",
            &[],
        )
        .await;
    }

    // The customer's own account page: the operator logs out of the
    // console, the customer logs in through the account page's form.
    c.open(&app.url("/admin")).await;
    b.wait_until("!document.querySelector('#logout').hidden")
        .await;
    b.click("#logout").await;
    b.wait("#login").await;
    log_in_to_account(&b, &app, "c@example.com", "correct horse battery").await;
    c.check("/account", &exists("#account table"), &[DQ_ATTR, SVG])
        .await;

    let failures = std::mem::take(&mut c.failures);
    b.quit().await;
    assert!(
        failures.is_empty(),
        "{} injection failure(s) on {:?}:\n{}",
        failures.len(),
        app.backend,
        failures.join("\n")
    );
}
