//! The operator console in a real headless Chromium (#17, operator side):
//! every console path a person uses on a Monday morning, checked through
//! the API afterwards.

use serde_json::{Value, json};

use crate::both_backends;
use crate::browser::{Browser, log_in_to_console};
use crate::helpers::{Fixture, TestApp, paths};

both_backends!(
    the_console_edits_a_booking_and_moves_it_with_free_places_shown,
    cancelling_a_departure_shows_who_was_affected_and_rebooks_them,
    search_export_and_confirm_selected,
    the_manifest_checks_in_on_a_phone_and_closes_the_departure,
    a_blackout_is_created_exactly_as_previewed,
    dismissing_the_cancel_reason_cancels_nothing,
);

const ADMIN: &str = "console-admin@example.com";
const PASSWORD: &str = "admin password 123";

/// A browser logged in to the console as "Console Admin"; None when
/// Chromium is missing outside CI.
async fn console(app: &TestApp, width: u32, height: u32) -> Option<Browser> {
    let b = Browser::start(width, height).await?;
    app.ctx
        .accounts()
        .ensure_admin(ADMIN, PASSWORD, "Console Admin")
        .await
        .expect("admin");
    b.record_csp_violations().await;
    log_in_to_console(&b, app, ADMIN, PASSWORD).await;
    Some(b)
}

/// Books `adults` on `slot` as `name`; returns the booking.
async fn book(
    app: &TestApp,
    f: &Fixture,
    slot: i64,
    adults: i64,
    name: &str,
    email: &str,
    phone: &str,
) -> Value {
    let r = app
        .create_booking(
            &json!({"tour_id": f.tour, "booking_slot_id": slot, "num_adults": adults,
                "customer_name": name, "customer_email": email, "customer_phone": phone}),
        )
        .await;
    r.assert_status(201);
    r.body
}

async fn booking(app: &TestApp, f: &Fixture, id: i64) -> Value {
    let r = app.get_booking(&f.admin, id).await;
    r.assert_status(200);
    r.body
}

/// Waits until the API shows booking `id` with `field` equal to `want`.
async fn wait_booking(app: &TestApp, f: &Fixture, id: i64, field: &str, want: Value) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let b = booking(app, f, id).await;
        if b[field] == want {
            return b;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "booking {id}: {field} is {}, not {want}",
            b[field]
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn no_csp_violations(b: &Browser) {
    let v = b.csp_violations().await;
    assert!(v.is_empty(), "CSP violations: {v:?}");
}

/// "Mark cancelled" asks why; dismissing that question is "do not cancel".
/// It used to cancel with no reason.
async fn dismissing_the_cancel_reason_cancels_nothing(app: TestApp) {
    let f = app.fixture(8).await;
    let x = book(&app, &f, f.slots[0], 2, "Dana Keep", "dana@example.com", "").await;
    let id = x["id"].as_i64().expect("id");
    assert_eq!(x["status"], "pending");
    let Some(b) = console(&app, 1280, 1100).await else {
        return;
    };
    b.goto(&app.url(&format!("/admin#booking/{id}"))).await;
    b.wait_text("#booking-card", "Dana Keep").await;
    b.js("window.prompt = () => null;", vec![]).await;
    b.click("[data-status='cancelled']").await;
    // Requests go in click order: had the dismissed cancel been sent, this
    // confirmation would find the booking cancelled and be refused.
    b.click("[data-status='confirmed']").await;
    b.wait_text("#flash", "Booking confirmed").await;
    assert_eq!(booking(&app, &f, id).await["status"], "confirmed");
}

async fn the_console_edits_a_booking_and_moves_it_with_free_places_shown(app: TestApp) {
    let f = app.fixture(8).await;
    let x = book(&app, &f, f.slots[0], 2, "Jon Typo", "jon@example.com", "").await;
    let id = x["id"].as_i64().expect("id");
    // Someone else holds 5 of slot 2's 8 places: 3 free, enough for 3.
    book(
        &app,
        &f,
        f.slots[2],
        5,
        "Other Party",
        "other@example.com",
        "",
    )
    .await;
    let Some(b) = console(&app, 1280, 1400).await else {
        return;
    };
    b.goto(&app.url(&format!("/admin#booking/{id}"))).await;
    b.wait_text("#booking-card", "Jon Typo").await;

    // Contact: a bad email shows under its field; then the real change.
    b.click("#edit-contact").await;
    b.type_into("#ct-customer_name", "Jon Right").await;
    b.type_into("#ct-customer_email", "not-an-email").await;
    b.type_into("#ct-customer_phone", "+972 50 123 4567").await;
    b.click("#contact-form button[type='submit']").await;
    b.wait_until(
        "document.querySelector(\"[data-field-err='customer_email']\").textContent.length > 0",
    )
    .await;
    b.wait_until(
        "document.querySelector('#ct-customer_email').getAttribute('aria-invalid') === 'true'",
    )
    .await;
    assert_eq!(booking(&app, &f, id).await["customer_name"], "Jon Typo");
    b.type_into("#ct-customer_email", "jon.right@example.com")
        .await;
    b.click("#contact-form button[type='submit']").await;
    b.wait_text("#flash", "Contact details saved").await;
    let now = wait_booking(
        &app,
        &f,
        id,
        "customer_email",
        json!("jon.right@example.com"),
    )
    .await;
    assert_eq!(now["customer_name"], "Jon Right");
    assert_eq!(now["customer_phone"], "+972 50 123 4567");

    // Party: 2 → 3 adults.
    b.wait_text("#booking-card", "Jon Right").await;
    b.click("#edit-party").await;
    b.type_into("#pt-new_num_adults", "3").await;
    b.click("#party-form button[type='submit']").await;
    b.wait_text("#flash", "Party changed").await;
    wait_booking(&app, &f, id, "total_people", json!(3)).await;

    // Move: the picker lists the tour's departures with their free places.
    b.wait_text("#b-party", "3 adults").await;
    b.click("#move").await;
    let choice = format!("#move-picker [data-to='{}']", f.slots[2]);
    let text = b.wait_text(&choice, "free").await;
    assert!(
        text.contains("3 free"),
        "slot 2 shows its free places: {text}"
    );
    let full_for_party = b
        .js("return [...document.querySelectorAll('#move-picker [data-to]')].filter((x) => !x.disabled).length;", vec![])
        .await
        .json()
        .as_u64()
        .unwrap_or(0);
    assert!(full_for_party >= 8, "the other departures can be chosen");
    assert!(
        b.js(
            &format!(
                "return !document.querySelector(\"#move-picker [data-to='{}']\");",
                f.slots[0]
            ),
            vec![]
        )
        .await
        .json()
            == &json!(true),
        "the booking's own departure is not offered"
    );
    b.screenshot("console-move-picker", app.backend).await;
    b.click(&choice).await;
    b.wait_text("#flash", "Moved to").await;
    wait_booking(&app, &f, id, "booking_slot_id", json!(f.slots[2])).await;
    assert_eq!(app.slot(f.tour, f.slots[2]).await["available_spots"], 0);

    // The history says who did what, in words.
    b.wait_text("#history", "Contact details changed").await;
    let history = b.wait_text("#history", "Moved to another departure").await;
    assert!(
        history.contains("Console Admin"),
        "the operator by name: {history}"
    );
    assert!(
        history.contains("Jon Typo → Jon Right"),
        "old → new: {history}"
    );
    assert!(history.contains("Adults: 2 → 3"), "{history}");
    assert!(history.contains("The customer (guest)"), "{history}");
    assert!(!history.contains("user:"), "no raw actor ids: {history}");
    assert!(!history.contains("{\""), "no raw JSON: {history}");
    b.screenshot("console-booking-history", app.backend).await;

    // Notifications read as words too: the move shows the booking, where
    // it is now and where it was.
    b.click("[data-tab='notifications']").await;
    let reference = x["booking_reference"].as_str().expect("ref");
    let notes = b.wait_text("#view", "Booking changed").await;
    assert!(notes.contains(reference), "{notes}");
    assert!(notes.contains("was "), "the previous departure: {notes}");
    assert!(!notes.contains("{\""), "no raw JSON: {notes}");
    no_csp_violations(&b).await;
    b.quit().await;
    app.assert_consistent().await;
}

async fn cancelling_a_departure_shows_who_was_affected_and_rebooks_them(app: TestApp) {
    let f = app.fixture(10).await;
    let ann = book(
        &app,
        &f,
        f.slots[0],
        2,
        "Ann Storm",
        "ann@example.com",
        "+44 20 7946 0001",
    )
    .await;
    book(&app, &f, f.slots[0], 1, "Bo Storm", "bo@example.com", "").await;
    let Some(b) = console(&app, 1280, 1400).await else {
        return;
    };
    // Any prompt() would be recorded (and answered) here.
    b.goto(&app.url(&format!("/admin#slots?mode=day&from={}", f.dates[0])))
        .await;
    b.js(
        "window.__prompts = 0; window.prompt = () => { window.__prompts += 1; return 'x'; };",
        vec![],
    )
    .await;
    let row = format!("tr[data-slot='{}']", f.slots[0]);
    b.click(&format!("{row} [data-act='cancel']")).await;
    b.wait("dialog.dialog[open] #cd-reason").await;
    // No reason: refused in the dialog.
    b.click("#cd-form button[type='submit']").await;
    b.wait_text("#cd-err", "Give a reason").await;
    assert_eq!(app.slot(f.tour, f.slots[0]).await["is_cancelled"], false);
    b.type_into("#cd-reason", "Storm warning").await;
    b.screenshot("console-cancel-dialog", app.backend).await;
    b.click("#cd-form button[type='submit']").await;

    let panel = b
        .wait_text("#cancel-result", "2 bookings were cancelled")
        .await;
    assert!(
        panel.contains("emailed"),
        "says the customers are emailed: {panel}"
    );
    for needle in [
        "Ann Storm",
        "ann@example.com",
        "+44 20 7946 0001",
        "2 adults",
        "Bo Storm",
        "bo@example.com",
        "1 adult",
    ] {
        assert!(panel.contains(needle), "{needle} in {panel}");
    }
    assert!(panel.contains(ann["booking_reference"].as_str().expect("ref")));
    assert_eq!(
        b.js("return window.__prompts;", vec![]).await.json(),
        &json!(0),
        "no prompt()"
    );
    assert_eq!(app.slot(f.tour, f.slots[0]).await["is_cancelled"], true);
    b.screenshot("console-departure-cancelled", app.backend)
        .await;

    // Rebook Ann on slot 1.
    let ann_id = ann["id"].as_i64().expect("id");
    let row = format!("tr[data-affected='{ann_id}']");
    b.click(&format!("{row} [data-rebook]")).await;
    b.click(&format!("{row} [data-to='{}']", f.slots[1])).await;
    let done = b
        .wait_text(&format!("{row} [data-rebooked]"), "Rebooked as")
        .await;
    let list = app
        .get_as(
            &f.admin,
            &format!(
                "/api/calendar/admin/bookings?booking_slot_id={}",
                f.slots[1]
            ),
        )
        .await;
    assert_eq!(list.body["total"], 1, "{}", list.text);
    let new = &list.body["bookings"][0];
    assert_eq!(new["customer_email"], "ann@example.com");
    assert_eq!(new["num_adults"], 2);
    assert!(
        done.contains(new["booking_reference"].as_str().expect("ref")),
        "{done}"
    );

    // The cancelled departure's manifest still lists them.
    b.goto(&app.url(&format!("/admin#manifest/{}", f.slots[0])))
        .await;
    let m = b.wait_text("#affected", "Bo Storm").await;
    assert!(m.contains("Ann Storm"), "{m}");
    b.wait_text("#main", "This departure was cancelled: Storm warning")
        .await;
    no_csp_violations(&b).await;
    b.quit().await;
    app.assert_consistent().await;
}

async fn search_export_and_confirm_selected(app: TestApp) {
    let f = app.fixture(10).await;
    let a = book(
        &app,
        &f,
        f.slots[0],
        1,
        "Annika Search",
        "annika@example.com",
        "+1 555 0100",
    )
    .await;
    let c = book(
        &app,
        &f,
        f.slots[1],
        1,
        "=Formula Person",
        "formula@example.com",
        "",
    )
    .await;
    book(&app, &f, f.slots[1], 1, "Zed Other", "zed@example.org", "").await;
    let Some(b) = console(&app, 1280, 1400).await else {
        return;
    };
    b.click("[data-tab='bookings']").await;
    b.wait_text("#count", "3 booking(s)").await;
    b.type_into("#f-q", "ANNIKA").await;
    b.click("#f button[type='submit']").await;
    b.wait_text("#count", "1 booking(s)").await;
    let shown = b.wait_text("#booking-list", "Annika Search").await;
    assert!(!shown.contains("Zed Other"), "{shown}");
    b.type_into("#f-q", "555 0100").await;
    b.click("#f button[type='submit']").await;
    b.wait_text("#count", "matching “555 0100”").await;
    b.wait_text("#booking-list", "Annika Search").await;

    // Export what the filters show (the file's text is caught on its way out).
    b.type_into("#f-q", "example.com").await;
    b.js(
        "window.__files = []; const make = URL.createObjectURL; \
         URL.createObjectURL = (blob) => { window.__files.push(blob); return make(blob); };",
        vec![],
    )
    .await;
    b.click("#export").await;
    b.wait_until("window.__files && window.__files.length === 1")
        .await;
    let csv = b
        .js_async("window.__files[0].text().then(done);", vec![])
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(csv.starts_with("booking_reference,status,tour"), "{csv}");
    assert!(
        csv.contains("Annika Search") && csv.contains("'=Formula Person"),
        "{csv}"
    );
    assert!(
        !csv.contains("Zed Other"),
        "the search applies to the export: {csv}"
    );

    // Select two and confirm them.
    b.type_into("#f-q", "").await;
    b.click("#f button[type='submit']").await;
    b.wait_text("#count", "3 booking(s)").await;
    b.click(&format!("[data-pick][value='{}']", a["id"])).await;
    b.click(&format!("[data-pick][value='{}']", c["id"])).await;
    b.wait_text("#picked", "2 selected").await;
    b.screenshot("console-bookings-search", app.backend).await;
    b.click("#bulk-confirm").await;
    b.wait_text("#flash", "Confirmed 2 booking(s)").await;
    for id in [&a["id"], &c["id"]] {
        wait_booking(
            &app,
            &f,
            id.as_i64().expect("id"),
            "status",
            json!("confirmed"),
        )
        .await;
    }
    let pending = app
        .get_as(
            &f.admin,
            "/api/calendar/admin/bookings?status_filter=pending",
        )
        .await;
    assert_eq!(pending.body["total"], 1, "the third is untouched");
    no_csp_violations(&b).await;
    b.quit().await;
}

async fn the_manifest_checks_in_on_a_phone_and_closes_the_departure(app: TestApp) {
    let f = app.fixture(10).await;
    let came = book(
        &app,
        &f,
        f.slots[0],
        2,
        "Carla Came",
        "carla@example.com",
        "+972 52 555 0101",
    )
    .await;
    let away = book(&app, &f, f.slots[0], 1, "Aldo Away", "aldo@example.com", "").await;
    let (came, away) = (
        came["id"].as_i64().expect("id"),
        away["id"].as_i64().expect("id"),
    );
    let r = app
        .post_as(
            &f.admin,
            paths::ADMIN_BULK_STATUS,
            &json!({"ids": [came, away], "status": "confirmed"}),
        )
        .await;
    assert_eq!(r.body["succeeded"], 2, "{}", r.text);
    let Some(b) = console(&app, 390, 844).await else {
        return;
    };
    b.goto(&app.url(&format!("/admin#manifest/{}", f.slots[0])))
        .await;
    b.wait_text("#checked-count", "0 of 3 people checked in")
        .await;
    let row = format!("tr[data-booking='{came}']");
    b.click(&format!("{row} [data-checkin]")).await;
    b.wait_text("#checked-count", "2 of 3 people checked in")
        .await;
    b.wait_until(&format!(
        "document.querySelector(\"{row} [data-checkin]\").getAttribute('aria-pressed') === 'true'"
    ))
    .await;
    let m = app
        .get_as(
            &f.admin,
            &format!("/api/calendar/admin/slots/{}/manifest", f.slots[0]),
        )
        .await;
    let entry = |id: i64| {
        m.body["bookings"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["booking_id"] == id).cloned())
            .expect("entry")
    };
    assert!(entry(came)["checked_in_at"].is_string(), "{}", m.text);
    assert!(entry(away)["checked_in_at"].is_null());
    // A phone: no sideways scrolling, rows are cards, buttons big enough.
    let layout = b
        .js(
            "const btn = document.querySelector('[data-checkin]').getBoundingClientRect(); \
             return { wide: document.documentElement.scrollWidth <= window.innerWidth, \
                      head: getComputedStyle(document.querySelector('#manifest thead')).position, \
                      tap: btn.height >= 44 && btn.width >= 200 };",
            vec![],
        )
        .await
        .json()
        .clone();
    assert_eq!(
        layout,
        json!({"wide": true, "head": "absolute", "tap": true}),
        "phone layout"
    );
    b.screenshot("console-manifest-phone", app.backend).await;

    // Undo and redo survive a reload.
    let away_row = format!("tr[data-booking='{away}']");
    b.click(&format!("{away_row} [data-checkin]")).await;
    b.wait_text("#checked-count", "3 of 3").await;
    b.click(&format!("{away_row} [data-checkin]")).await;
    b.wait_text("#checked-count", "2 of 3").await;
    b.d().refresh().await.expect("reload");
    b.wait_text("#checked-count", "2 of 3 people checked in")
        .await;

    // Closing before the departure: refused, nothing changes.
    b.click("#close-departure").await;
    b.click("dialog.dialog[open] [data-ok]").await;
    b.wait_text("#flash", "once it has started").await;
    assert_eq!(booking(&app, &f, came).await["status"], "confirmed");
    app.clock.advance(chrono::Duration::days(4));
    b.click("#close-departure").await;
    b.click("dialog.dialog[open] [data-ok]").await;
    b.wait_text("#flash", "1 completed, 1 no-show").await;
    wait_booking(&app, &f, came, "status", json!("completed")).await;
    wait_booking(&app, &f, away, "status", json!("no_show")).await;
    b.wait_text(&row, "completed").await;
    b.screenshot("console-manifest-phone-closed", app.backend)
        .await;
    no_csp_violations(&b).await;
    b.quit().await;
}

async fn a_blackout_is_created_exactly_as_previewed(app: TestApp) {
    let f = app.fixture(10).await;
    // Day 6 holds a booking; days 4 and 5 are empty.
    book(
        &app,
        &f,
        f.slots[3],
        1,
        "Booked Person",
        "booked@example.com",
        "",
    )
    .await;
    let Some(b) = console(&app, 1280, 1400).await else {
        return;
    };
    b.click("[data-tab='blackouts']").await;
    let form = "#b-form";
    b.wait(form).await;
    b.js(
        "const f = document.getElementById('b-form'); \
         f.tour_id.value = String(arguments[0]); f.start_date.value = arguments[1]; f.end_date.value = arguments[2]; \
         f.name.value = 'Bridge works';",
        vec![json!(f.tour), json!(f.dates[1]), json!(f.dates[2])],
    )
    .await;
    b.click("#b-form button[type='submit']").await;
    let preview = b.wait_text("#b-preview", "This cancels").await;
    assert!(
        preview.contains("No booked departures are affected"),
        "{preview}"
    );
    // The form changes after the preview: to a range with a booked departure.
    b.js(
        "const e = document.querySelector('#b-form input[name=end_date]'); e.value = arguments[0]; \
         e.dispatchEvent(new Event('change', { bubbles: true }));",
        vec![json!(f.dates[3])],
    )
    .await;
    b.wait("#b-stale:not([hidden])").await;
    b.screenshot("console-blackout-stale-preview", app.backend)
        .await;
    b.click("#b-confirm").await;
    b.wait_text("#flash", "Blackout created; 2 slot(s) cancelled")
        .await;
    let list = app
        .get_as(
            &f.admin,
            &format!("/api/calendar/admin/blackouts?tour_id={}", f.tour),
        )
        .await;
    let made = list.body.as_array().expect("blackouts");
    assert_eq!(made.len(), 1, "{}", list.text);
    assert_eq!(made[0]["start_date"], f.dates[1].as_str());
    assert_eq!(
        made[0]["end_date"],
        f.dates[2].as_str(),
        "what was previewed, not the edited form"
    );
    assert_eq!(
        app.slot(f.tour, f.slots[3]).await["is_cancelled"],
        false,
        "the booked day is untouched"
    );
    no_csp_violations(&b).await;
    b.quit().await;
}
