//! The web UI's sessions in a real headless Chromium: the console and the
//! account page log in with the `HttpOnly` session cookie, so no script can
//! read the session token (not in `document.cookie`, not in web storage);
//! they work end to end with it (state-changing requests carry the CSRF
//! token), log out, and log out everywhere. The booking flow attaches a
//! logged-in customer's account on the site's own tour page, and books as a
//! guest when embedded on another website.

use serde_json::{Value, json};
use thirtyfour::prelude::*;

use crate::both_backends;
use crate::browser::{
    Browser, CAL, FLOW, OperatorSite, log_in_to_account, log_in_to_console, open_calendar_at,
    show_month_of,
};
use crate::helpers::{TestApp, paths};

both_backends!(
    the_console_keeps_its_session_where_no_script_can_read_it,
    a_customer_books_and_manages_with_the_cookie_session_and_logs_out_everywhere,
    the_flow_embedded_on_another_site_books_as_a_guest,
    a_day_picked_while_the_session_loads_is_kept,
);

const ADMIN_PASSWORD: &str = "admin password 123";
const PASSWORD: &str = "correct horse battery";

/// Whether the console's "Log out" and "Log out everywhere" are displayed.
const LOGOUT_SHOWN: &str = "['logout', 'logout-all'].map((id) => getComputedStyle(document.getElementById(id)).display !== 'none')";

/// What the page's scripts can read: `document.cookie` and every web
/// storage entry.
async fn readable_by_scripts(b: &Browser) -> Value {
    b.js(
        "const entries = (s) => Object.keys(s).map((k) => [k, s.getItem(k)]); \
         return { cookie: document.cookie, local: entries(localStorage), session: entries(sessionStorage) };",
        vec![],
    )
    .await
    .json()
    .clone()
}

/// The browser's `tourdesk_session` cookie (WebDriver sees HttpOnly cookies).
async fn session_cookie(b: &Browser) -> Option<Cookie> {
    b.d()
        .get_all_cookies()
        .await
        .expect("cookies")
        .into_iter()
        .find(|c| c.name == "tourdesk_session")
}

/// Asserts that the session token is nowhere a script can read it, and that
/// no token is kept in web storage.
#[track_caller]
fn assert_hidden_from_scripts(seen: &Value, token: &str, page: &str) {
    let cookie = seen["cookie"].as_str().expect("document.cookie");
    assert!(
        !cookie.contains(token) && !cookie.contains("tourdesk_session"),
        "{page}: document.cookie shows the session: {cookie}"
    );
    // The check does see cookies: the CSRF token's is meant for scripts.
    assert!(
        cookie.contains("tourdesk_csrf="),
        "{page}: document.cookie = {cookie}"
    );
    for store in ["local", "session"] {
        for entry in seen[store].as_array().expect("entries") {
            let (key, value) = (
                entry[0].as_str().unwrap_or(""),
                entry[1].as_str().unwrap_or(""),
            );
            assert!(
                !value.contains(token) && !key.to_lowercase().contains("token"),
                "{page}: {store}Storage holds `{key}` = `{value}`"
            );
        }
    }
}

/// Calls the API from the page with the browser's cookies, as a script on the
/// page could; returns {status, body}.
async fn fetch_from_page(b: &Browser, method: &str, path: &str, body: Option<Value>) -> Value {
    b.js_async(
        "fetch(arguments[1], { method: arguments[0], credentials: 'same-origin', \
           headers: arguments[2] === null ? {} : { 'content-type': 'application/json' }, \
           body: arguments[2] === null ? undefined : JSON.stringify(arguments[2]) }) \
         .then(async (r) => done({ status: r.status, body: await r.text() }), (e) => done({ status: 0, body: String(e) }));",
        vec![json!(method), json!(path), body.unwrap_or(Value::Null)],
    )
    .await
}

async fn the_console_keeps_its_session_where_no_script_can_read_it(app: TestApp) {
    let Some(b) = Browser::start(1280, 1100).await else {
        return;
    };
    app.ctx
        .accounts()
        .ensure_admin("boss@example.com", ADMIN_PASSWORD, "Boss")
        .await
        .expect("admin");
    // A token an earlier version of the console left in web storage.
    b.goto(&app.url("/admin")).await;
    b.wait("#login").await;
    b.js(
        "localStorage.setItem('tourdesk.token', 'left-over'); sessionStorage.setItem('tourdesk.token', 'left-over');",
        vec![],
    )
    .await;

    log_in_to_console(&b, &app, "boss@example.com", ADMIN_PASSWORD).await;
    let cookie = session_cookie(&b).await.expect("a session cookie");
    assert_eq!(cookie.http_only, Some(true), "{cookie:?}");
    assert!(
        matches!(cookie.same_site, Some(SameSite::Strict)),
        "{cookie:?}"
    );
    let token = cookie.value.clone();
    let me = app.me(&token).await;
    me.assert_status(200);
    assert_eq!(
        me.body["email"], "boss@example.com",
        "the cookie is the live session"
    );
    assert_hidden_from_scripts(&readable_by_scripts(&b).await, &token, "/admin");

    // The console works with it: a tour created through the form (a POST
    // that carries the CSRF token) ...
    b.click("[data-tab='tours']").await;
    b.type_into("[data-tour-form] input[name='name']", "Cookie Walk")
        .await;
    b.type_into("[data-tour-form] input[name='base_price']", "60")
        .await;
    b.click("[data-tour-form] button[type='submit']").await;
    b.wait_text("#flash", "created").await;
    let tours = app.get(paths::TOURS).await;
    assert!(tours.text.contains("Cookie Walk"), "{}", tours.text);
    // ... while the same request without the CSRF token is refused, so the
    // console is the one sending it.
    let forged = fetch_from_page(
        &b,
        "POST",
        paths::ADMIN_TOURS,
        Some(json!({"name": "Forged", "base_price": "1", "timezone": "UTC"})),
    )
    .await;
    assert_eq!(forged["status"], 403, "{forged}");
    assert!(
        forged["body"]
            .as_str()
            .unwrap_or("")
            .contains("csrf_failed"),
        "{forged}"
    );
    // The session outlives a reload; "logged in?" comes from the server.
    b.goto(&app.url("/admin#tours")).await;
    b.wait_text("#tour-list", "Cookie Walk").await;
    assert_hidden_from_scripts(&readable_by_scripts(&b).await, &token, "/admin, reloaded");
    b.wait_until(&format!("{LOGOUT_SHOWN}[0]")).await;
    b.screenshot("session-console", app.backend).await;

    // Log out: the session ends on the server and the cookie is gone.
    assert_eq!(
        b.js(&format!("return {LOGOUT_SHOWN};"), vec![])
            .await
            .json(),
        &json!([true, true])
    );
    b.click("#logout").await;
    b.wait_text("#main", "You are logged out.").await;
    assert!(session_cookie(&b).await.is_none(), "the cookie is cleared");
    app.me(&token).await.assert_status(401);
    b.goto(&app.url("/admin")).await;
    b.wait("#login").await;
    let console = b
        .js("return !!document.querySelector('[data-tab]');", vec![])
        .await;
    assert_eq!(console.json(), false, "logged out after a reload");
    assert_eq!(
        b.js(&format!("return {LOGOUT_SHOWN};"), vec![])
            .await
            .json(),
        &json!([false, false]),
        "no logout buttons for a guest"
    );

    // Log out everywhere: another device's session ends as well.
    let other_device = app.login_token("boss@example.com", ADMIN_PASSWORD).await;
    log_in_to_console(&b, &app, "boss@example.com", ADMIN_PASSWORD).await;
    let token = session_cookie(&b).await.expect("a new session").value;
    b.wait_until(&format!("{LOGOUT_SHOWN}[1]")).await;
    b.click("#logout-all").await;
    b.d()
        .accept_alert()
        .await
        .expect("confirm logging out everywhere");
    let said = b.wait_text("#main", "logged out everywhere").await;
    assert!(said.contains("2 sessions ended"), "{said}");
    b.screenshot("session-console-logged-out-everywhere", app.backend)
        .await;
    app.me(&other_device).await.assert_status(401);
    app.me(&token).await.assert_status(401);
    assert!(session_cookie(&b).await.is_none(), "the cookie is cleared");
    b.quit().await;
}

async fn a_customer_books_and_manages_with_the_cookie_session_and_logs_out_everywhere(
    app: TestApp,
) {
    let Some(b) = Browser::start(1280, 1300).await else {
        return;
    };
    let f = app.fixture(10).await;
    app.register("cara@example.com", PASSWORD, "Cara Customer")
        .await
        .assert_status(201);
    let api_token = app.login_token("cara@example.com", PASSWORD).await;

    log_in_to_account(&b, &app, "cara@example.com", PASSWORD).await;
    let token = session_cookie(&b).await.expect("a session cookie").value;
    assert_hidden_from_scripts(&readable_by_scripts(&b).await, &token, "/account");

    // On the site's own tour page the flow knows the customer, and the
    // booking goes to the account.
    open_calendar_at(&b, &app, f.tour, &f.dates[0]).await;
    b.click(&format!("{CAL} >>> td[data-date='{}']", f.dates[0]))
        .await;
    b.click(&format!("{CAL} >>> .slot[data-slot='{}']", f.slots[0]))
        .await;
    b.click(&format!("{FLOW} >>> [data-act='next']")).await;
    b.wait_text(&format!("{FLOW} >>> [data-total]"), "165.00")
        .await;
    b.click(&format!("{FLOW} >>> [data-act='next']")).await;
    b.wait_until(&format!(
        "deep({})?.value === 'Cara Customer' && deep({})?.value === 'cara@example.com'",
        json!(format!("{FLOW} >>> #c-name")),
        json!(format!("{FLOW} >>> #c-email"))
    ))
    .await;
    b.click(&format!(
        "{FLOW} >>> [data-form='contact'] button[type='submit']"
    ))
    .await;
    b.click(&format!("{FLOW} >>> [data-act='confirm']")).await;
    let reference = b
        .wait_text(&format!("{FLOW} >>> [data-reference]"), "ST-")
        .await
        .trim()
        .to_owned();
    let mine = app.get_as(&api_token, paths::MY_BOOKINGS).await;
    mine.assert_status(200);
    let booking = mine
        .body
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|x| x["booking_reference"] == reference.as_str())
        })
        .cloned()
        .unwrap_or_else(|| panic!("{reference} is not the customer's: {}", mine.text));
    let id = booking["id"].as_i64().expect("id");

    // The account page shows it and changes it (a PUT with the CSRF token).
    b.goto(&app.url("/account")).await;
    b.wait_text("#account", &reference).await;
    b.type_into(&format!("#a-{id}"), "3").await;
    b.click(&format!("[data-resize='{id}']")).await;
    b.wait_text("#account", "Booking changed.").await;
    let changed = app.get_booking(&api_token, id).await;
    assert_eq!(changed.body["num_adults"], 3, "{}", changed.text);
    b.screenshot("session-account", app.backend).await;

    // Log out, then in again.
    b.click("#logout").await;
    b.wait_text("#account", "You are logged out.").await;
    b.wait("#login #l-email").await;
    app.me(&token).await.assert_status(401);
    assert!(session_cookie(&b).await.is_none(), "the cookie is cleared");
    let me = fetch_from_page(&b, "GET", "/api/auth/me", None).await;
    assert_eq!(me["status"], 401, "{me}");
    app.me(&api_token).await.assert_status(200);

    // Log out everywhere: this browser and the API client both.
    log_in_to_account(&b, &app, "cara@example.com", PASSWORD).await;
    let token = session_cookie(&b).await.expect("a new session").value;
    b.click("#logout-all").await;
    b.d()
        .accept_alert()
        .await
        .expect("confirm logging out everywhere");
    let said = b.wait_text("#account", "logged out everywhere").await;
    assert!(said.contains("2 sessions ended"), "{said}");
    b.wait("#login #l-email").await;
    app.me(&token).await.assert_status(401);
    app.me(&api_token).await.assert_status(401);
    b.goto(&app.url("/account")).await;
    b.wait("#login #l-email").await;
    b.quit().await;
}

async fn the_flow_embedded_on_another_site_books_as_a_guest(app: TestApp) {
    let mut site = OperatorSite::bind().await;
    let origin = site.origin.clone();
    let Some(app) = TestApp::spawn(app.backend, move |c| c.allowed_origins = vec![origin]).await
    else {
        return;
    };
    let Some(b) = Browser::start(1280, 1300).await else {
        return;
    };
    let f = app.fixture(10).await;
    site.serve(&app.url(""), f.tour);
    app.register("cara@example.com", PASSWORD, "Cara Customer")
        .await
        .assert_status(201);
    let api_token = app.login_token("cara@example.com", PASSWORD).await;
    // The browser is logged in to Tourdesk; cookies do not tell ports apart,
    // so the operator's page even sees the CSRF cookie.
    log_in_to_account(&b, &app, "cara@example.com", PASSWORD).await;

    b.goto(&site.url()).await;
    show_month_of(&b, CAL, &f.dates[1]).await;
    let cookie = b.js("return document.cookie;", vec![]).await;
    assert!(
        cookie
            .json()
            .as_str()
            .unwrap_or("")
            .contains("tourdesk_csrf="),
        "{:?}",
        cookie.json()
    );
    b.click(&format!("{CAL} >>> td[data-date='{}']", f.dates[1]))
        .await;
    b.click(&format!("{CAL} >>> .slot[data-slot='{}']", f.slots[1]))
        .await;
    b.click(&format!("{FLOW} >>> [data-act='next']")).await;
    b.wait_text(&format!("{FLOW} >>> [data-total]"), "165.00")
        .await;
    b.click(&format!("{FLOW} >>> [data-act='next']")).await;
    // A guest: nothing is filled in from the Tourdesk account.
    let name = b
        .js(
            "return deep(arguments[0]).value;",
            vec![json!(format!("{FLOW} >>> #c-name"))],
        )
        .await;
    assert_eq!(name.json(), "", "the embedded flow knows no account");
    b.type_into(&format!("{FLOW} >>> #c-name"), "Gina Guest")
        .await;
    b.type_into(&format!("{FLOW} >>> #c-email"), "gina@example.com")
        .await;
    b.click(&format!(
        "{FLOW} >>> [data-form='contact'] button[type='submit']"
    ))
    .await;
    b.click(&format!("{FLOW} >>> [data-act='confirm']")).await;
    let reference = b
        .wait_text(&format!("{FLOW} >>> [data-reference]"), "ST-")
        .await
        .trim()
        .to_owned();
    b.screenshot("embedded-on-another-site", app.backend).await;
    let r = app
        .get(&format!(
            "/api/calendar/bookings/reference/{reference}?email=gina@example.com"
        ))
        .await;
    r.assert_status(200);
    assert_eq!(r.body["customer_name"], "Gina Guest");
    let mine = app.get_as(&api_token, paths::MY_BOOKINGS).await;
    mine.assert_status(200);
    assert!(
        !mine.text.contains(&reference),
        "a guest booking, not the account's: {}",
        mine.text
    );
    b.quit().await;
}

/// The flow learns who is logged in after it has drawn the calendar. A
/// customer who picks a day meanwhile keeps it: the whole flow used to be
/// drawn again when the answer came, and the day's departures vanished
/// (seen on a loaded CI machine). Here the session lookup of a second flow
/// on the page waits until the day is picked.
async fn a_day_picked_while_the_session_loads_is_kept(app: TestApp) {
    let Some(b) = Browser::start(1280, 1300).await else {
        return;
    };
    let f = app.fixture(10).await;
    app.register("dora@example.com", PASSWORD, "Dora Early")
        .await
        .assert_status(201);
    log_in_to_account(&b, &app, "dora@example.com", PASSWORD).await;
    b.goto(&app.url(&format!("/tours/{}", f.tour))).await;
    b.wait(&format!("{CAL} >>> table")).await;
    b.js(
        &format!(
            "window.__release = []; const fetchNow = window.fetch; \
             window.fetch = (url, opts) => String(url).includes('/api/auth/me') \
               ? new Promise((done) => window.__release.push(() => done(fetchNow(url, opts)))) \
               : fetchNow(url, opts); \
             document.body.insertAdjacentHTML('beforeend', '<booking-flow id=\"late\" tour-id=\"{}\"></booking-flow>');",
            f.tour
        ),
        vec![],
    )
    .await;
    let cal = "#late >>> booking-calendar";
    show_month_of(&b, cal, &f.dates[0]).await;
    b.click(&format!("{cal} >>> td[data-date='{}']", f.dates[0]))
        .await;
    let slot = format!("{cal} >>> .slot[data-slot='{}']", f.slots[0]);
    b.wait(&slot).await;
    b.wait_until("window.__release.length > 0").await;
    b.js("window.__release.forEach((go) => go());", vec![])
        .await;
    // The flow has the account's name: the lookup has been answered.
    b.wait_until("document.getElementById('late').contact.name === 'Dora Early'")
        .await;
    let kept = b
        .js("return deep(arguments[0]) !== null;", vec![json!(slot)])
        .await;
    assert_eq!(
        kept.json(),
        &json!(true),
        "the picked day's departures are still shown"
    );
    b.click(&slot).await;
    b.wait("#late >>> [data-chosen]").await;
}
