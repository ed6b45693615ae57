//! The web UI in a real headless Chromium (Debian's chromium and
//! chromedriver, installed by .ci/run when missing). Each test drives the
//! pages as a person would — clicks and keystrokes — and checks the result
//! through the API. Screenshots land in target/screenshots/ as artefacts.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use thirtyfour::prelude::*;
use thirtyfour::{ChromiumLikeCapabilities, Key};

use crate::both_backends;
use crate::helpers::{Fixture, TestApp, paths};

both_backends!(
    a_customer_books_through_the_flow,
    a_full_day_shows_none_and_offers_the_waitlist,
    keyboard_only_booking,
    the_manage_page_cancels_and_the_calendar_shows_spots_back,
    an_admin_creates_a_tour_and_schedule_that_the_calendar_shows,
    main_pages_render_on_phone_and_desktop,
    a_departure_inside_the_cutoff_shows_closed_and_cannot_be_chosen,
    book_another_starts_a_new_booking,
    back_to_the_first_step_shows_the_choice_in_the_calendar,
    the_calendar_opens_on_the_first_bookable_month_and_jumps_to_it,
    a_full_day_looks_unlike_a_closed_one,
);

/// A chromedriver process and one browser session, closed on drop.
pub(crate) struct Browser {
    driver: Option<WebDriver>,
    chromedriver: Child,
    profile: PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // End the Chromium that chromedriver started (its direct child), even
        // when a failed test never quit its session; its helpers follow it.
        let _ = Command::new("pkill")
            .args(["-TERM", "-P", &self.chromedriver.id().to_string()])
            .status();
        let _ = self.chromedriver.kill();
        let _ = self.chromedriver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn find_binary(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| p.is_file())
}

impl Browser {
    /// None (the test is skipped) when Chromium is missing outside CI.
    pub(crate) async fn start(width: u32, height: u32) -> Option<Browser> {
        let (Some(driver_bin), Some(chrome_bin)) = (
            find_binary(&["chromedriver"]),
            find_binary(&["chromium", "chromium-browser", "google-chrome"]),
        ) else {
            if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                panic!(
                    "CI=true but chromium/chromedriver are not installed (.ci/run installs them)"
                );
            }
            eprintln!("SKIPPED: chromium and chromedriver are not installed");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let chromedriver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile =
            std::env::temp_dir().join(format!("tourdesk-chrome-{}", rand::random::<u64>()));
        let mut caps = DesiredCapabilities::chrome();
        caps.set_binary(&chrome_bin.to_string_lossy())
            .expect("binary");
        for arg in [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
            "--disable-quic",
        ] {
            caps.add_arg(arg).expect("arg");
        }
        caps.add_arg(&format!("--user-data-dir={}", profile.display()))
            .expect("arg");
        caps.add_arg(&format!("--window-size={width},{height}"))
            .expect("arg");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        let driver = loop {
            match WebDriver::new(&url, caps.clone()).await {
                Ok(d) => break d,
                Err(e) if Instant::now() > deadline => {
                    panic!("cannot start a Chromium session: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        Some(Browser {
            driver: Some(driver),
            chromedriver,
            profile,
        })
    }

    /// A browser whose page is exactly `width` × `height` CSS pixels, as a
    /// phone's: Chromium will not make a window narrower than 500 px, so a
    /// phone width needs the DevTools device metrics. Not in "mobile" mode:
    /// that zooms a page out until what overflows fits, hiding the overflow
    /// a phone test looks for.
    pub(crate) async fn start_phone(width: u32, height: u32) -> Option<Browser> {
        let b = Browser::start(width.max(500), height).await?;
        b.d()
            .cdp()
            .send_raw(
                "Emulation.setDeviceMetricsOverride",
                json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
            )
            .await
            .expect("phone viewport");
        Some(b)
    }

    pub(crate) fn d(&self) -> &WebDriver {
        self.driver.as_ref().expect("session")
    }

    pub(crate) async fn quit(mut self) {
        if let Some(d) = self.driver.take() {
            let _ = d.quit().await;
        }
    }

    pub(crate) async fn goto(&self, url: &str) {
        self.d().goto(url).await.expect("navigate");
    }

    /// Runs JS with `deep(path)` available: "a >>> b" crosses a shadow root.
    pub(crate) async fn js(
        &self,
        body: &str,
        args: Vec<Value>,
    ) -> thirtyfour::session::scriptret::ScriptRet {
        let script = format!(
            "const deep = (p) => {{ let n = document; for (const part of p.split(' >>> ')) {{ if (!n) return null; \
             n = (n.shadowRoot || n).querySelector(part); }} return n; }}; \
             const active = () => {{ let a = document.activeElement; while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement; return a; }}; {body}"
        );
        self.d().execute(script, args).await.expect("script")
    }

    /// Waits until the element at `path` exists, and returns it.
    pub(crate) async fn wait(&self, path: &str) -> WebElement {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let r = self
                .js("return deep(arguments[0]);", vec![json!(path)])
                .await;
            if !r.json().is_null() {
                return r.element().expect("element");
            }
            assert!(Instant::now() < deadline, "timed out waiting for {path}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for a confirm/alert dialog (a page may fetch something before
    /// it asks), accepts it and returns its text.
    pub(crate) async fn accept_dialog(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(text) = self.d().get_alert_text().await {
                self.d().accept_alert().await.expect("accept the dialog");
                return text;
            }
            assert!(Instant::now() < deadline, "no dialog was shown");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs asynchronous JS: `body` ends by calling `done(value)`.
    pub(crate) async fn js_async(&self, body: &str, args: Vec<Value>) -> Value {
        let script = format!("const done = arguments[arguments.length - 1]; {body}");
        self.d()
            .execute_async(script, args)
            .await
            .expect("async script")
            .json()
            .clone()
    }

    /// Waits until the JS expression `condition` is true.
    pub(crate) async fn wait_until(&self, condition: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let r = self.js(&format!("return !!({condition});"), vec![]).await;
            if r.json() == &json!(true) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {condition}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the text at `path` contains `needle`; returns the text.
    pub(crate) async fn wait_text(&self, path: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let r = self
                .js(
                    "const n = deep(arguments[0]); return n ? n.textContent : null;",
                    vec![json!(path)],
                )
                .await;
            let text = r.json().as_str().unwrap_or("").to_owned();
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for `{needle}` in {path}; it says `{text}`"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the element at `path`; a component that re-rendered between
    /// finding and clicking (a stale element) is looked up again.
    pub(crate) async fn click(&self, path: &str) {
        let mut tries = 0;
        loop {
            tries += 1;
            let el = self.wait(path).await;
            el.scroll_into_view().await.ok();
            match el.click().await {
                Ok(()) => return,
                Err(e) if tries < 5 && e.to_string().contains("stale") => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("click {path}: {e}"),
            }
        }
    }

    pub(crate) async fn type_into(&self, path: &str, text: &str) {
        let el = self.wait(path).await;
        el.clear().await.ok();
        el.send_keys(text).await.expect("type");
    }

    pub(crate) async fn keys(&self, key: Key) {
        self.d()
            .action_chain()
            .send_keys(key)
            .perform()
            .await
            .expect("keys");
    }

    async fn type_keys(&self, text: &str) {
        self.d()
            .action_chain()
            .send_keys(text)
            .perform()
            .await
            .expect("keys");
    }

    /// A description of the focused element, across shadow roots.
    pub(crate) async fn focused(&self) -> String {
        let r = self
            .js(
                "const a = active(); return a ? a.outerHTML.slice(0, 200) : '';",
                vec![],
            )
            .await;
        r.json().as_str().unwrap_or("").to_owned()
    }

    /// Presses Tab until the focused element's HTML contains `needle`.
    pub(crate) async fn tab_to(&self, needle: &str) {
        for _ in 0..60 {
            if self.focused().await.contains(needle) {
                return;
            }
            self.keys(Key::Tab).await;
        }
        panic!(
            "Tab never reached `{needle}`; focus is on {}",
            self.focused().await
        );
    }

    pub(crate) async fn screenshot(&self, name: &str, backend: tourdesk_store::Backend) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
        std::fs::create_dir_all(&dir).ok();
        let file = dir.join(format!("{name}-{backend:?}.png").to_lowercase());
        self.d().screenshot(&file).await.expect("screenshot");
    }
}

/// Installed before any page script runs: records every Content-Security-
/// Policy violation the page reports (the event is composed, so violations
/// inside shadow roots reach the document too).
const CSP_RECORDER: &str = "window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(`${e.effectiveDirective || e.violatedDirective}: blocked ${e.blockedURI || '(inline)'} \
at ${e.sourceFile || location.href}:${e.lineNumber} ${e.sample || ''}`.trim());
}, true);";

impl Browser {
    /// From now on every page records its CSP violations from its first
    /// script on; read them with [`Browser::csp_violations`].
    pub(crate) async fn record_csp_violations(&self) {
        self.d()
            .cdp()
            .send_raw(
                "Page.addScriptToEvaluateOnNewDocument",
                json!({ "source": CSP_RECORDER }),
            )
            .await
            .expect("install the CSP recorder");
    }

    /// The CSP violations the current page reported since the last call
    /// (after letting queued violation events fire).
    pub(crate) async fn csp_violations(&self) -> Vec<String> {
        let v = self
            .js_async(
                "setTimeout(() => setTimeout(() => done(window.__cspViolations ? \
                 window.__cspViolations.splice(0) : ['the CSP recorder is not installed on ' + location.href])));",
                vec![],
            )
            .await;
        v.as_array()
            .into_iter()
            .flatten()
            .map(|x| x.as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

/// An operator's own website on another origin (another port of 127.0.0.1:
/// same site, so the browser's Tourdesk cookies are visible to it) that
/// embeds the components with the one script tag the README gives, under a
/// strict CSP of its own: scripts from itself and Tourdesk, styles from
/// itself only.
pub(crate) struct OperatorSite {
    pub(crate) origin: String,
    listener: Option<tokio::net::TcpListener>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for OperatorSite {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.abort();
        }
    }
}

impl OperatorSite {
    /// Takes a port; start Tourdesk with this origin allowed, then `serve`.
    pub(crate) async fn bind() -> OperatorSite {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the operator's site");
        let port = listener.local_addr().expect("address").port();
        OperatorSite {
            origin: format!("http://127.0.0.1:{port}"),
            listener: Some(listener),
            server: None,
        }
    }

    /// Serves `/`: a page embedding `<booking-flow>` and `<booking-calendar>`
    /// for `tour` from the Tourdesk server at `tourdesk`.
    pub(crate) fn serve(&mut self, tourdesk: &str, tour: i64) {
        use axum::http::header;
        let page = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Spirit Tours</title>\
             <link rel=\"stylesheet\" href=\"/site.css\">\
             <script type=\"module\" src=\"{tourdesk}/assets/tourdesk.js\"></script></head>\
             <body><h1>Spirit Tours</h1><h2>Book the tour</h2><booking-flow tour-id=\"{tour}\"></booking-flow>\
             <h2>Availability</h2><booking-calendar id=\"calendar\" tour-id=\"{tour}\"></booking-calendar></body></html>"
        );
        let csp = format!(
            "default-src 'self'; script-src 'self' {tourdesk}; connect-src {tourdesk}; style-src 'self'; \
             img-src 'self'; object-src 'none'; base-uri 'none'"
        );
        let app = axum::Router::new()
            .route(
                "/",
                axum::routing::get(move || async move {
                    (
                        [
                            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
                            (header::CONTENT_SECURITY_POLICY, csp),
                        ],
                        page,
                    )
                }),
            )
            .route(
                "/site.css",
                axum::routing::get(|| async {
                    (
                        [(header::CONTENT_TYPE, "text/css")],
                        "body { margin: 1rem 2rem; font-family: Georgia, serif; color: #222; background: #fdfcf7; }",
                    )
                }),
            );
        let listener = self.listener.take().expect("serve once");
        self.server = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        }));
    }

    pub(crate) fn url(&self) -> String {
        format!("{}/", self.origin)
    }
}

pub(crate) const FLOW: &str = "booking-flow";
pub(crate) const CAL: &str = "booking-flow >>> booking-calendar";

/// Logs in to the console through its form, as an operator does, and waits
/// for the console to show.
pub(crate) async fn log_in_to_console(b: &Browser, app: &TestApp, email: &str, password: &str) {
    b.goto(&app.url("/admin")).await;
    b.type_into("#login #email", email).await;
    b.type_into("#login #password", password).await;
    b.click("#login button[type='submit']").await;
    b.wait("[data-tab='slots']").await;
}

/// Logs in on /account through its form, as a customer does, and waits for
/// the account to show.
pub(crate) async fn log_in_to_account(b: &Browser, app: &TestApp, email: &str, password: &str) {
    b.goto(&app.url("/account")).await;
    b.type_into("#login #l-email", email).await;
    b.type_into("#login #l-password", password).await;
    b.click("#login button[type='submit']").await;
    b.wait_text("#account", "Logged in as").await;
}

/// Opens the tour page and shows the month of `date` in its calendar.
pub(crate) async fn open_calendar_at(b: &Browser, app: &TestApp, tour: i64, date: &str) {
    b.goto(&app.url(&format!("/tours/{tour}"))).await;
    show_month_of(b, CAL, date).await;
}

/// Shows the month of `date` in the calendar at `cal` (on the current page).
pub(crate) async fn show_month_of(b: &Browser, cal: &str, date: &str) {
    let loaded = format!(
        "deep({t}) && deep({t}).getAttribute('aria-busy') === 'false'",
        t = json!(format!("{cal} >>> table"))
    );
    let title = json!(format!("{cal} >>> #title"));
    for _ in 0..3 {
        b.wait_until(&loaded).await;
        let found = b
            .js(
                "return !!deep(arguments[0]);",
                vec![json!(format!("{cal} >>> td[data-date='{date}']"))],
            )
            .await;
        if found.json() == &json!(true) {
            return;
        }
        let before = b
            .js(
                "return deep(arguments[0]).textContent;",
                vec![title.clone()],
            )
            .await
            .json()
            .clone();
        // The calendar may open after `date` (on the first bookable month).
        let shown = b
            .js(
                "const m = deep(arguments[0]).month; return m.getFullYear() * 12 + m.getMonth();",
                vec![json!(cal)],
            )
            .await
            .json()
            .as_i64()
            .unwrap_or(0);
        let wanted =
            date[..4].parse::<i64>().unwrap_or(0) * 12 + date[5..7].parse::<i64>().unwrap_or(1) - 1;
        let step = if wanted < shown { -1 } else { 1 };
        b.click(&format!("{cal} >>> [data-nav='{step}']")).await;
        b.wait_until(&format!(
            "deep({title})?.textContent !== {before} && ({loaded})"
        ))
        .await;
    }
    let shown = b
        .js(
            "const t = deep(arguments[0]); return t ? t.textContent : null;",
            vec![title],
        )
        .await
        .json()
        .clone();
    panic!("{date} never appeared in the calendar at {cal}; it shows {shown}");
}

async fn a_customer_books_through_the_flow(app: TestApp) {
    let Some(b) = Browser::start(1280, 1000).await else {
        return;
    };
    let f: Fixture = app.fixture(10).await;
    open_calendar_at(&b, &app, f.tour, &f.dates[0]).await;
    b.click(&format!("{CAL} >>> td[data-date='{}']", f.dates[0]))
        .await;
    b.wait_text(&format!("{CAL} >>> .slots"), "10 spots left")
        .await;
    b.screenshot("flow-1-date", app.backend).await;
    b.click(&format!("{CAL} >>> .slot[data-slot='{}']", f.slots[0]))
        .await;
    // One click moves one month, however often the departures were redrawn.
    let month = format!(
        "(() => {{ const m = deep({}).month; return m.getFullYear() * 12 + m.getMonth(); }})()",
        json!(CAL)
    );
    let loaded = format!(
        "deep({}).getAttribute('aria-busy') === 'false'",
        json!(format!("{CAL} >>> table"))
    );
    let mut shown = b
        .js(&format!("return {month};"), vec![])
        .await
        .json()
        .as_i64()
        .expect("month");
    for step in [1, -1] {
        b.click(&format!("{CAL} >>> [data-nav='{step}']")).await;
        b.wait_until(&format!("{month} !== {shown} && {loaded}"))
            .await;
        let now = b
            .js(&format!("return {month};"), vec![])
            .await
            .json()
            .as_i64();
        assert_eq!(
            now,
            Some(shown + step),
            "one click moved from month {shown} to {now:?}"
        );
        shown += step;
    }
    b.click(&format!("{FLOW} >>> [data-act='next']")).await;
    // Party: 2 adults (default) + 1 child, priced by the server.
    b.click(&format!("{FLOW} >>> [data-inc='children']")).await;
    b.wait_text(&format!("{FLOW} >>> [data-total]"), "222.75")
        .await;
    b.screenshot("flow-2-party", app.backend).await;
    b.click(&format!("{FLOW} >>> [data-act='next']")).await;
    // Inline validation: an invalid email is refused before review.
    b.type_into(&format!("{FLOW} >>> #c-name"), "Ada Lovelace")
        .await;
    b.type_into(&format!("{FLOW} >>> #c-email"), "not-an-email")
        .await;
    b.click(&format!(
        "{FLOW} >>> [data-form='contact'] button[type='submit']"
    ))
    .await;
    b.wait_text(&format!("{FLOW} >>> #e-email"), "valid email")
        .await;
    b.type_into(&format!("{FLOW} >>> #c-email"), "ada@example.com")
        .await;
    b.click(&format!(
        "{FLOW} >>> [data-form='contact'] button[type='submit']"
    ))
    .await;
    b.wait_text(&format!("{FLOW} >>> dd[data-total]"), "222.75")
        .await;
    b.screenshot("flow-4-review", app.backend).await;
    // Back and forward keep what was entered.
    b.click(&format!("{FLOW} >>> [data-act='back']")).await;
    let name = b
        .js(
            "return deep(arguments[0]).value;",
            vec![json!(format!("{FLOW} >>> #c-name"))],
        )
        .await;
    assert_eq!(name.json(), "Ada Lovelace");
    b.click(&format!(
        "{FLOW} >>> [data-form='contact'] button[type='submit']"
    ))
    .await;
    b.click(&format!("{FLOW} >>> [data-act='confirm']")).await;
    let reference = b
        .wait_text(&format!("{FLOW} >>> [data-reference]"), "ST-")
        .await;
    b.screenshot("flow-5-done", app.backend).await;
    let r = app
        .get(&format!(
            "/api/calendar/bookings/reference/{}?email=ada@example.com",
            reference.trim()
        ))
        .await;
    r.assert_status(200);
    assert!(r.text.contains("\"total_amount\":222.75"), "{}", r.text);
    assert_eq!(r.body["num_children"], 1);
    assert_eq!(r.body["customer_name"], "Ada Lovelace");
    b.quit().await;
}

async fn a_full_day_shows_none_and_offers_the_waitlist(app: TestApp) {
    let Some(b) = Browser::start(1280, 1100).await else {
        return;
    };
    let f = app.fixture(2).await;
    app.book(f.tour, f.slots[0], 2, 0, 0)
        .await
        .assert_status(201);
    open_calendar_at(&b, &app, f.tour, &f.dates[0]).await;
    let cell = format!("{CAL} >>> td[data-date='{}']", f.dates[0]);
    b.wait_text(&cell, "Full").await;
    let class = b
        .js("return deep(arguments[0]).className;", vec![json!(cell)])
        .await;
    assert_eq!(class.json(), "none");
    b.click(&cell).await;
    b.click(&format!("{FLOW} >>> [data-act='waitlist-open']"))
        .await;
    b.type_into(&format!("{FLOW} >>> #w-people"), "2").await;
    b.type_into(&format!("{FLOW} >>> #w-name"), "Wendy Wait")
        .await;
    b.type_into(&format!("{FLOW} >>> #w-email"), "wendy@example.com")
        .await;
    b.screenshot("waitlist-form", app.backend).await;
    b.click(&format!(
        "{FLOW} >>> [data-form='waitlist'] button[type='submit']"
    ))
    .await;
    b.wait_text(&format!("{FLOW} >>> .waitlist"), "You are on the waitlist")
        .await;
    let list = app
        .get_as(
            &f.admin,
            &format!("/api/calendar/admin/waitlist?tour_id={}", f.tour),
        )
        .await;
    assert_eq!(list.body[0]["customer_email"], "wendy@example.com");
    assert_eq!(list.body[0]["num_people"], 2);
    b.quit().await;
}

async fn keyboard_only_booking(app: TestApp) {
    let Some(b) = Browser::start(1280, 1000).await else {
        return;
    };
    let f = app.fixture(10).await;
    open_calendar_at(&b, &app, f.tour, &f.dates[1]).await;
    // Into the grid with Tab, then arrows to the day, Enter to choose it.
    b.tab_to("role=\"gridcell\"").await;
    for _ in 0..45 {
        if b.focused()
            .await
            .contains(&format!("data-date=\"{}\"", f.dates[1]))
        {
            break;
        }
        b.keys(Key::Right).await;
    }
    assert!(
        b.focused().await.contains(&f.dates[1]),
        "arrows reach the day"
    );
    b.keys(Key::Enter).await;
    b.wait(&format!("{CAL} >>> .slot[data-slot='{}']", f.slots[1]))
        .await;
    b.tab_to(&format!("data-slot=\"{}\"", f.slots[1])).await;
    b.keys(Key::Enter).await;
    b.tab_to("data-act=\"next\"").await;
    b.keys(Key::Enter).await;
    b.wait_text(&format!("{FLOW} >>> [data-total]"), "165.00")
        .await; // 2 adults: 150 + 10 %
    b.tab_to("data-act=\"next\"").await;
    b.keys(Key::Enter).await;
    b.tab_to("id=\"c-name\"").await;
    b.type_keys("Kim Keys").await;
    b.keys(Key::Tab).await;
    b.type_keys("kim@example.com").await;
    b.tab_to("type=\"submit\"").await;
    b.keys(Key::Enter).await;
    b.tab_to("data-act=\"confirm\"").await;
    b.keys(Key::Enter).await;
    let reference = b
        .wait_text(&format!("{FLOW} >>> [data-reference]"), "ST-")
        .await;
    let r = app
        .get(&format!(
            "/api/calendar/bookings/reference/{}?email=kim@example.com",
            reference.trim()
        ))
        .await;
    r.assert_status(200);
    assert_eq!(r.body["booking_slot_id"], f.slots[1]);
    b.quit().await;
}

async fn the_manage_page_cancels_and_the_calendar_shows_spots_back(app: TestApp) {
    let Some(b) = Browser::start(1280, 1400).await else {
        return;
    };
    let f = app.fixture(10).await;
    let r = app.book(f.tour, f.slots[0], 3, 0, 0).await;
    let reference = r.body["booking_reference"]
        .as_str()
        .expect("ref")
        .to_owned();
    b.goto(&app.url("/manage")).await;
    b.type_into("#reference", &reference).await;
    b.type_into("#email", "GUEST@example.com").await;
    b.click("#lookup button[type='submit']").await;
    b.wait_text("[data-reference]", &reference).await;
    b.screenshot("manage", app.backend).await;
    b.type_into("#reason", "Flight moved").await;
    b.click("#cancel button[type='submit']").await;
    b.accept_dialog().await;
    b.wait_text("#booking", "Your booking is cancelled").await;
    let booking = app
        .get_as(
            &f.admin,
            &format!("/api/calendar/bookings/{}", r.body["id"]),
        )
        .await;
    assert_eq!(booking.body["status"], "cancelled");
    assert_eq!(booking.body["cancellation_reason"], "Flight moved");
    open_calendar_at(&b, &app, f.tour, &f.dates[0]).await;
    b.click(&format!("{CAL} >>> td[data-date='{}']", f.dates[0]))
        .await;
    b.wait_text(
        &format!("{CAL} >>> .slot[data-slot='{}']", f.slots[0]),
        "10 spots left",
    )
    .await;
    b.quit().await;
}

async fn an_admin_creates_a_tour_and_schedule_that_the_calendar_shows(app: TestApp) {
    let Some(b) = Browser::start(1280, 1400).await else {
        return;
    };
    app.ctx
        .accounts()
        .ensure_admin("boss@example.com", "admin password 123", "Boss")
        .await
        .expect("admin");
    log_in_to_console(&b, &app, "boss@example.com", "admin password 123").await;
    b.click("[data-tab='tours']").await;
    b.type_into("[data-tour-form] input[name='name']", "Bethlehem Evening")
        .await;
    b.type_into("[data-tour-form] input[name='duration_minutes']", "120")
        .await;
    b.type_into("[data-tour-form] input[name='base_price']", "60")
        .await;
    b.click("[data-tour-form] button[type='submit']").await;
    b.wait_text("#flash", "created").await;
    let tours = app.get(paths::TOURS).await;
    let tour = tours
        .body
        .as_array()
        .and_then(|a| a.iter().find(|t| t["name"] == "Bethlehem Evening"))
        .cloned()
        .expect("tour via API");
    let tour_id = tour["id"].as_i64().expect("id");
    b.click("[data-tab='schedules']").await;
    b.wait("#s-form").await;
    b.type_into("#s-form input[name='name']", "Evenings").await;
    // Every weekday, weekly.
    for day in [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ] {
        b.click(&format!("#s-form input[name='{day}']")).await;
    }
    // The form previews first (#17 item 19), then creates what it showed.
    b.click("#s-form button[type='submit']").await;
    b.wait_text("#s-previewed", "This will create").await;
    b.click("#s-confirm").await;
    b.wait_text("#flash", "created").await;
    b.click("[data-schedule] [data-act='generate']").await;
    b.wait_text("[data-schedule] [data-out]", "Created").await;
    b.screenshot("admin-schedules", app.backend).await;
    let slots = app
        .get(&format!(
            "/api/calendar/tours/{tour_id}/slots?start_date={}&end_date={}",
            crate::helpers::day(0),
            crate::helpers::day(30)
        ))
        .await;
    assert!(
        slots.body.as_array().is_some_and(|s| s.len() >= 28),
        "generated: {}",
        slots.text
    );
    let open_day = crate::helpers::day(3);
    open_calendar_at(&b, &app, tour_id, &open_day).await;
    b.wait_text(
        &format!("{CAL} >>> td[data-date='{open_day}']"),
        "Many spots",
    )
    .await;
    b.screenshot("admin-new-tour-calendar", app.backend).await;
    b.quit().await;
}

async fn main_pages_render_on_phone_and_desktop(app: TestApp) {
    let f = app.fixture(6).await;
    for (w, h, label) in [(390, 900, "phone"), (1280, 900, "desktop")] {
        let Some(b) = Browser::start(w, h).await else {
            return;
        };
        b.goto(&app.url("/")).await;
        b.wait_text("#tours", "Next available").await;
        b.screenshot(&format!("home-{label}"), app.backend).await;
        // No horizontal scrolling at 390 px.
        let overflow = b
            .js(
                "return document.documentElement.scrollWidth > window.innerWidth + 1;",
                vec![],
            )
            .await;
        assert_eq!(overflow.json(), false, "horizontal overflow on {label}");
        open_calendar_at(&b, &app, f.tour, &f.dates[0]).await;
        b.screenshot(&format!("tour-{label}"), app.backend).await;
        let overflow = b
            .js(
                "return document.documentElement.scrollWidth > window.innerWidth + 1;",
                vec![],
            )
            .await;
        assert_eq!(
            overflow.json(),
            false,
            "horizontal overflow on the tour page ({label})"
        );
        b.goto(&app.url("/account")).await;
        b.wait("#login").await;
        b.screenshot(&format!("account-{label}"), app.backend).await;
        b.goto(&app.url("/admin")).await;
        b.wait("#login").await;
        // Every input on these pages has a label.
        let unlabelled = b.js("return [...document.querySelectorAll('input')].filter(i => !(i.labels && i.labels.length) && !i.getAttribute('aria-label')).length;", vec![]).await;
        assert_eq!(unlabelled.json(), 0, "unlabelled inputs on admin login");
        b.quit().await;
    }
}

/// Picks `date` and its departure `slot` in the flow's calendar, continues to
/// the party step, and on to the review with a name and email.
async fn pick(b: &Browser, date: &str, slot: i64) {
    b.click(&format!("{CAL} >>> td[data-date='{date}']")).await;
    b.click(&format!("{CAL} >>> .slot[data-slot='{slot}']"))
        .await;
    b.wait(&format!("{FLOW} >>> [data-chosen]")).await;
}

/// Issue #17: a departure inside the booking cutoff was offered; the customer
/// filled in every step and was thrown back on confirm.
async fn a_departure_inside_the_cutoff_shows_closed_and_cannot_be_chosen(app: TestApp) {
    let Some(b) = Browser::start(1280, 1100).await else {
        return;
    };
    let f = app.fixture(10).await;
    // A second departure the same day, at 15:00.
    let later = app
        .schedule(
            &f.admin,
            f.tour,
            &f.dates[0],
            json!({"recurrence": "none", "start_time": "15:00:00"}),
        )
        .await;
    let r = app
        .generate(&f.admin, later, &f.dates[0], &f.dates[0])
        .await;
    r.assert_status(200);
    let later_id = app
        .get(&format!(
            "/api/calendar/tours/{}/slots?start_date={d}&end_date={d}",
            f.tour,
            d = f.dates[0]
        ))
        .await
        .body
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|s| s["schedule_id"] == later)
                .and_then(|s| s["id"].as_i64())
        })
        .expect("the 15:00 departure");
    // 23 hours before the 09:00 departure: it is inside the 24-hour cutoff,
    // the 15:00 one is not.
    let starts: chrono::DateTime<chrono::Utc> = app.slot(f.tour, f.slots[0]).await["starts_at"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("starts_at");
    app.clock.freeze(starts - chrono::Duration::hours(23));
    open_calendar_at(&b, &app, f.tour, &f.dates[0]).await;
    b.click(&format!("{CAL} >>> td[data-date='{}']", f.dates[0]))
        .await;
    let closed = format!("{CAL} >>> .slot[data-slot='{}']", f.slots[0]);
    let open = format!("{CAL} >>> .slot[data-slot='{later_id}']");
    b.wait_text(&open, "15 spots left").await;
    b.wait_text(&closed, "Booking closed").await;
    let state = b
        .js(
            "const c = deep(arguments[0]), o = deep(arguments[1]); \
             return [c.disabled, c.getAttribute('aria-label'), o.disabled];",
            vec![json!(closed), json!(open)],
        )
        .await
        .json()
        .clone();
    assert_eq!(state[0], true, "the 09:00 departure can be chosen: {state}");
    assert!(
        state[1]
            .as_str()
            .is_some_and(|l| l.contains("Booking closed")),
        "{state}"
    );
    assert_eq!(state[2], false, "{state}");
    // Clicking it chooses nothing.
    b.click(&closed).await;
    let next = b
        .js(
            "return deep(arguments[0]).disabled;",
            vec![json!(format!("{FLOW} >>> [data-act='next']"))],
        )
        .await;
    assert_eq!(next.json(), &json!(true));
    b.screenshot("cutoff-closed-departure", app.backend).await;
    b.quit().await;
}

/// Through the flow to the confirmation, from the departure `slot` on `date`.
async fn book_in_the_flow(b: &Browser, date: &str, slot: i64) -> String {
    pick(b, date, slot).await;
    b.click(&format!("{FLOW} >>> [data-act='next']")).await;
    b.wait(&format!("{FLOW} >>> [data-total]")).await;
    b.click(&format!("{FLOW} >>> [data-act='next']")).await;
    b.type_into(&format!("{FLOW} >>> #c-name"), "Ada Lovelace")
        .await;
    b.type_into(&format!("{FLOW} >>> #c-email"), "ada@example.com")
        .await;
    b.click(&format!(
        "{FLOW} >>> [data-form='contact'] button[type='submit']"
    ))
    .await;
    b.click(&format!("{FLOW} >>> [data-act='confirm']")).await;
    b.wait_text(&format!("{FLOW} >>> [data-reference]"), "ST-")
        .await
}

/// Issue #17: "Book another" after a confirmation did nothing (a script error).
async fn book_another_starts_a_new_booking(app: TestApp) {
    let Some(b) = Browser::start(1280, 1100).await else {
        return;
    };
    let f = app.fixture(10).await;
    open_calendar_at(&b, &app, f.tour, &f.dates[0]).await;
    book_in_the_flow(&b, &f.dates[0], f.slots[0]).await;
    b.click(&format!("{FLOW} >>> [data-act='again']")).await;
    b.wait_text(&format!("{FLOW} >>> h2"), "Choose a date and time")
        .await;
    b.wait_text(&format!("{FLOW} >>> section"), "Pick a day")
        .await;
    let state = b
        .js(
            "return [!!deep(arguments[0]), deep(arguments[1]).disabled];",
            vec![
                json!(format!("{FLOW} >>> [data-chosen]")),
                json!(format!("{FLOW} >>> [data-act='next']")),
            ],
        )
        .await
        .json()
        .clone();
    assert_eq!(state, json!([false, true]), "a fresh first step");
    // A second booking goes through as the first did.
    show_month_of(&b, CAL, &f.dates[1]).await;
    let second = book_in_the_flow(&b, &f.dates[1], f.slots[1]).await;
    let r = app
        .get(&format!(
            "/api/calendar/bookings/reference/{}?email=ada@example.com",
            second.trim()
        ))
        .await;
    r.assert_status(200);
    assert_eq!(r.body["booking_slot_id"], f.slots[1]);
    b.quit().await;
}

/// Issue #17: going back to step 1 said "Chosen: ..." while the calendar
/// showed no date chosen.
async fn back_to_the_first_step_shows_the_choice_in_the_calendar(app: TestApp) {
    let Some(b) = Browser::start(1280, 1100).await else {
        return;
    };
    let f = app.fixture(10).await;
    open_calendar_at(&b, &app, f.tour, &f.dates[2]).await;
    pick(&b, &f.dates[2], f.slots[2]).await;
    b.click(&format!("{FLOW} >>> [data-act='next']")).await;
    b.wait_text(&format!("{FLOW} >>> h2"), "How many people")
        .await;
    b.click(&format!("{FLOW} >>> [data-act='back']")).await;
    b.wait_text(&format!("{FLOW} >>> [data-chosen]"), "Chosen")
        .await;
    let cell = format!("{CAL} >>> td[data-date='{}']", f.dates[2]);
    let slot = format!("{CAL} >>> .slot[data-slot='{}']", f.slots[2]);
    b.wait_until(&format!(
        "deep({})?.getAttribute('aria-pressed') === 'true'",
        json!(slot)
    ))
    .await;
    let selected = b
        .js(
            "return deep(arguments[0]).getAttribute('aria-selected');",
            vec![json!(cell)],
        )
        .await;
    assert_eq!(
        selected.json(),
        "true",
        "the chosen date is shown as chosen"
    );
    // Continue goes on with that departure.
    b.click(&format!("{FLOW} >>> [data-act='next']")).await;
    b.wait(&format!("{FLOW} >>> [data-total]")).await;
    b.quit().await;
}

/// Issue #17: the calendar opened on the current month when nothing could
/// be booked there, with no way to the next available date; "from" showed
/// the base price instead of what departures cost.
async fn the_calendar_opens_on_the_first_bookable_month_and_jumps_to_it(app: TestApp) {
    let Some(b) = Browser::start(1280, 1100).await else {
        return;
    };
    use chrono::Datelike;
    let admin = app.admin().await;
    let tour = app
        .tour(&admin, json!({"base_price": 149, "name": "Desert Sunrise"}))
        .await;
    // Departures from the first of the month after next, at 159.
    let today = chrono::Utc::now().date_naive();
    let first = (today.with_day(1).expect("first") + chrono::Months::new(2)).to_string();
    let s = app
        .schedule(&admin, tour, &first, json!({"price_override": 159}))
        .await;
    app.generate(&admin, s, &first, &first)
        .await
        .assert_status(200);
    b.goto(&app.url(&format!("/tours/{tour}"))).await;
    let meta = b.wait_text("#tour-meta", "from").await;
    assert!(meta.contains("159") && !meta.contains("149"), "{meta}");
    let cell = format!("{CAL} >>> td[data-date='{first}']");
    b.wait(&cell).await;
    // The month's cells are drawn before its figures arrive; judge them
    // once the calendar is no longer busy loading.
    b.wait(&format!("{CAL} >>> table[aria-busy='false']")).await;
    let disabled = b
        .js(
            "return deep(arguments[0]).getAttribute('aria-disabled');",
            vec![json!(cell)],
        )
        .await;
    assert_eq!(
        disabled.json(),
        &Value::Null,
        "the first bookable date is open"
    );
    // A month with nothing bookable offers the jump.
    b.click(&format!("{CAL} >>> [data-nav='-1']")).await;
    let jump = format!("{CAL} >>> [data-jump]");
    b.wait(&jump).await;
    b.screenshot("calendar-next-available", app.backend).await;
    b.click(&jump).await;
    b.wait_until(&format!(
        "deep({})?.getAttribute('aria-selected') === 'true'",
        json!(cell)
    ))
    .await;
    b.wait_text(&format!("{CAL} >>> .slots"), "15 spots left")
        .await;
    // The home page agrees.
    b.goto(&app.url("/")).await;
    let card = b
        .wait_text(&format!("[data-tour='{tour}']"), "Next available")
        .await;
    assert!(card.contains("159") && !card.contains("149"), "{card}");
    b.quit().await;
}

/// Issue #17: full days looked like closed ones, although a full day offers
/// the waitlist.
async fn a_full_day_looks_unlike_a_closed_one(app: TestApp) {
    let Some(b) = Browser::start(1280, 1100).await else {
        return;
    };
    let f = app.fixture(2).await;
    // Two neighbouring days in one month: the first full, the second closed.
    let i = (0..9)
        .find(|&i| f.dates[i][..7] == f.dates[i + 1][..7])
        .expect("two days in one month");
    app.book(f.tour, f.slots[i], 2, 0, 0)
        .await
        .assert_status(201);
    app.post_as(&f.admin, paths::ADMIN_BLACKOUTS, &json!({"tour_id": f.tour, "start_date": f.dates[i + 1], "end_date": f.dates[i + 1], "blackout_type": "holiday", "name": "Sukkot"})).await.assert_status(201);
    open_calendar_at(&b, &app, f.tour, &f.dates[i]).await;
    let full = format!("{CAL} >>> td[data-date='{}']", f.dates[i]);
    let closed = format!("{CAL} >>> td[data-date='{}']", f.dates[i + 1]);
    b.wait_text(&full, "Full").await;
    b.wait_text(&closed, "Closed").await;
    let look = |path: String| {
        let b = &b;
        async move {
            b.js(
                "const c = deep(arguments[0]), s = getComputedStyle(c); \
                 return [c.getAttribute('aria-label'), s.backgroundColor, s.borderTopStyle, c.getAttribute('aria-disabled')];",
                vec![json!(path)],
            )
            .await
            .json()
            .clone()
        }
    };
    let (full_look, closed_look) = (look(full.clone()).await, look(closed.clone()).await);
    assert!(
        full_look[0]
            .as_str()
            .is_some_and(|l| l.contains("full, join the waitlist")),
        "{full_look}"
    );
    assert!(
        closed_look[0]
            .as_str()
            .is_some_and(|l| l.contains("closed")),
        "{closed_look}"
    );
    assert_ne!(
        (&full_look[1], &full_look[2]),
        (&closed_look[1], &closed_look[2]),
        "a full day looks like a closed one"
    );
    assert_ne!(full_look[1], closed_look[1], "the same background");
    assert_eq!(full_look[3], Value::Null, "a full day can be chosen");
    assert_eq!(closed_look[3], "true");
    // The full day still offers the waitlist.
    b.click(&full).await;
    b.wait(&format!("{FLOW} >>> [data-act='waitlist-open']"))
        .await;
    b.screenshot("calendar-full-and-closed", app.backend).await;
    b.quit().await;
}
