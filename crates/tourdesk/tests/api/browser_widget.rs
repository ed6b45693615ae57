//! The customer booking widget in a real headless Chromium (#17, customer
//! side): phone layout, labelled times, alternatives, the embed.

use serde_json::{Value, json};

use crate::browser::{
    Browser, CAL, FLOW, OperatorSite, log_in_to_account, open_calendar_at, show_month_of,
};
use crate::helpers::{TestApp, day, paths};

crate::both_backends!(
    on_a_phone_the_times_come_into_view_and_the_steps_take_one_row,
    every_time_a_customer_sees_names_the_tour_zone,
    an_embed_on_a_site_that_is_not_allowed_says_so,
    a_party_that_does_not_fit_is_offered_alternatives_and_books_one,
    the_account_page_claims_leaves_changes_and_cancels,
);

/// A tour in `zone`, daily at 09:00 with `capacity` places on days +3 to
/// +12: (admin token, tour, departure ids, their dates).
async fn tour_in(app: &TestApp, zone: &str, capacity: i64) -> (String, i64, Vec<i64>, Vec<String>) {
    let admin = app.admin().await;
    let tour = app
        .tour(&admin, json!({"name": "Old Town Walk", "timezone": zone}))
        .await;
    let schedule = app
        .schedule(&admin, tour, &day(3), json!({"max_capacity": capacity}))
        .await;
    app.generate(&admin, schedule, &day(3), &day(12))
        .await
        .assert_status(200);
    let r = app
        .get(&format!(
            "/api/calendar/tours/{tour}/slots?start_date={}&end_date={}",
            day(3),
            day(12)
        ))
        .await;
    r.assert_status(200);
    let slots: Vec<&Value> = r
        .body
        .as_array()
        .expect("slots")
        .iter()
        .filter(|s| s["schedule_id"] == schedule)
        .collect();
    assert_eq!(slots.len(), 10, "ten departures");
    (
        admin,
        tour,
        slots.iter().filter_map(|s| s["id"].as_i64()).collect(),
        slots
            .iter()
            .filter_map(|s| s["slot_date"].as_str().map(str::to_owned))
            .collect(),
    )
}

/// JS: whether the element at `path` lies wholly inside the viewport.
fn in_view(path: &str) -> String {
    format!(
        "(() => {{ const n = deep({p}); if (!n) return false; const r = n.getBoundingClientRect(); \
         return r.height > 0 && r.top >= -1 && r.bottom <= window.innerHeight + 1; }})()",
        p = json!(path)
    )
}

/// A phone's viewport, 390 × 760 CSS px (a headless window cannot be made
/// narrower than 500 px, so the page is told the device's metrics).
async fn as_a_phone(b: &Browser) {
    b.d()
        .cdp()
        .send_raw(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 390, "height": 760, "deviceScaleFactor": 1, "mobile": true}),
        )
        .await
        .expect("phone metrics");
}

/// Waits until the page has stopped scrolling (a smooth scroll ended), as a
/// person does before tapping what scrolled into view.
async fn settled(b: &Browser) {
    let still = b
        .js_async(
            "let last = -1, same = 0; const tick = () => { const y = window.scrollY;              same = y === last ? same + 1 : 0; last = y;              if (same >= 3) done(true); else setTimeout(tick, 100); }; tick();",
            vec![],
        )
        .await;
    assert_eq!(still, json!(true));
}

/// The booking steps' layout: [distinct row tops, the list's height, its
/// overflow in px, the current step's visible label width, its text].
async fn steps_layout(b: &Browser) -> Value {
    b.js(
        "const ol = deep(arguments[0]); if (!ol) return ['no step list', deep('booking-flow').shadowRoot.innerHTML.slice(0, 600)];
         const lis = [...ol.children];
         const tops = new Set(lis.map((l) => Math.round(l.getBoundingClientRect().top)));
         const cur = ol.querySelector('[aria-current=\"step\"]');
         if (!cur || !cur.querySelector('.label')) return ['no current label', ol.outerHTML];
         return [tops.size, Math.round(ol.getBoundingClientRect().height), ol.scrollWidth - ol.clientWidth,
                 Math.round(cur.querySelector('.label').getBoundingClientRect().width), cur.textContent];",
        vec![json!(format!("{FLOW} >>> .steps"))],
    )
    .await
    .json()
    .clone()
}

/// One row, nothing cut off sideways, the current step named.
fn assert_one_row(layout: &Value, step: &str) {
    assert_eq!(layout[0], 1, "the steps take more than one row: {layout}");
    assert!(
        layout[1].as_i64().is_some_and(|h| h < 60),
        "the step list is too tall: {layout}"
    );
    assert!(
        layout[2].as_i64().is_some_and(|o| o <= 1),
        "the step list overflows: {layout}"
    );
    assert!(
        layout[3].as_i64().is_some_and(|w| w > 20)
            && layout[4].as_str().is_some_and(|t| t.contains(step)),
        "the current step is not named: {layout}"
    );
}

/// Issue #17, item 4: on a phone, after tapping a date the departure times
/// were below the fold and nothing scrolled to them; the step indicator took
/// three rows.
async fn on_a_phone_the_times_come_into_view_and_the_steps_take_one_row(app: TestApp) {
    let Some(b) = Browser::start(390, 760).await else {
        return;
    };
    as_a_phone(&b).await;
    let f = app.fixture(10).await;
    open_calendar_at(&b, &app, f.tour, &f.dates[0]).await;
    let width = b.js("return window.innerWidth;", vec![]).await;
    assert_eq!(width.json(), &json!(390), "the viewport is not a phone's");
    assert_one_row(&steps_layout(&b).await, "Date & time");
    b.screenshot("widget-phone-1-calendar", app.backend).await;
    // The person scrolled until the day is at the bottom of the screen, and
    // taps it there (the tap itself scrolls nothing).
    let cell = format!("{CAL} >>> td[data-date='{}']", f.dates[0]);
    b.js(
        "deep(arguments[0]).scrollIntoView({ block: 'end' });",
        vec![json!(cell)],
    )
    .await;
    let first = format!("{CAL} >>> .slot[data-slot='{}']", f.slots[0]);
    let below = b
        .js(
            "return deep(arguments[0]).getBoundingClientRect().bottom > window.innerHeight - 10;",
            vec![json!(format!("{CAL} >>> .slots"))],
        )
        .await;
    assert_eq!(below.json(), true, "the times must start below the fold");
    b.wait(&cell).await.click().await.expect("tap the day");
    b.wait(&first).await;
    b.wait_until(&in_view(&first)).await;
    settled(&b).await;
    assert!(
        b.js(&format!("return {};", in_view(&first)), vec![])
            .await
            .json()
            == &json!(true),
        "the times scrolled out of view again"
    );
    // Focus went to the day's departures, from where Tab reaches the times.
    let focused = b
        .js(
            "const a = active(); return a ? a.tagName + ' ' + a.textContent : '';",
            vec![],
        )
        .await;
    assert!(
        focused.json().as_str().is_some_and(|t| t.starts_with("H4")),
        "focus is on {focused:?}"
    );
    b.screenshot("widget-phone-2-times", app.backend).await;
    // Choosing a time brings the way on into view.
    b.wait(&first).await.click().await.expect("tap the time");
    let next = format!("{FLOW} >>> [data-act='next']");
    b.wait_until(&format!("!deep({}).disabled", json!(next)))
        .await;
    settled(&b).await;
    let where_next = b
        .js(
            &format!(
                "const r = deep({}).getBoundingClientRect(); return [{}, r.top, r.bottom, window.innerHeight, window.scrollY, document.documentElement.scrollHeight];",
                json!(next),
                in_view(&next)
            ),
            vec![],
        )
        .await
        .json()
        .clone();
    assert_eq!(where_next[0], true, "Continue is out of view: {where_next}");
    b.screenshot("widget-phone-3-chosen", app.backend).await;
    b.click(&next).await;
    b.wait(&format!("{FLOW} >>> [data-total]")).await;
    assert_one_row(&steps_layout(&b).await, "Party");
    b.screenshot("widget-phone-4-party", app.backend).await;
    b.click(&next).await;
    b.type_into(&format!("{FLOW} >>> #c-name"), "Pia Phone")
        .await;
    b.type_into(&format!("{FLOW} >>> #c-email"), "pia@example.com")
        .await;
    assert_one_row(&steps_layout(&b).await, "Your details");
    b.screenshot("widget-phone-5-details", app.backend).await;
    b.click(&format!(
        "{FLOW} >>> [data-form='contact'] button[type='submit']"
    ))
    .await;
    b.wait(&format!("{FLOW} >>> [data-act='confirm']")).await;
    assert_one_row(&steps_layout(&b).await, "Review");
    b.screenshot("widget-phone-6-review", app.backend).await;
    b.click(&format!("{FLOW} >>> [data-act='confirm']")).await;
    b.wait_text(&format!("{FLOW} >>> [data-reference]"), "ST-")
        .await;
    assert_one_row(&steps_layout(&b).await, "Done");
    b.screenshot("widget-phone-7-done", app.backend).await;
    let overflow = b
        .js(
            "return document.documentElement.scrollWidth > window.innerWidth + 1;",
            vec![],
        )
        .await;
    assert_eq!(overflow.json(), false, "horizontal overflow at 390 px");
    // With reduced motion asked for, the times still come into view.
    b.d()
        .cdp()
        .send_raw(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-reduced-motion", "value": "reduce"}]}),
        )
        .await
        .expect("emulate reduced motion");
    open_calendar_at(&b, &app, f.tour, &f.dates[1]).await;
    let cell = format!("{CAL} >>> td[data-date='{}']", f.dates[1]);
    b.js(
        "deep(arguments[0]).scrollIntoView({ block: 'end' });",
        vec![json!(cell)],
    )
    .await;
    b.wait(&cell).await.click().await.expect("tap the day");
    let second = format!("{CAL} >>> .slot[data-slot='{}']", f.slots[1]);
    b.wait(&second).await;
    b.wait_until(&in_view(&second)).await;
    b.quit().await;
}

/// "HH:MM" of an RFC 3339 instant in `zone`, and the instant's date there.
fn local_clock(instant: &str, zone: &str) -> (String, String) {
    let t: chrono::DateTime<chrono::Utc> = instant.parse().expect("an RFC 3339 instant");
    let tz: chrono_tz::Tz = zone.parse().expect("a zone");
    let local = t.with_timezone(&tz);
    (
        local.format("%H:%M").to_string(),
        local.format("%-d").to_string() + " ",
    )
}

/// Asserts `text` shows a time in `zone`, named, with no US-style date or
/// 12-hour clock.
fn assert_zoned(text: &str, zone: &str, clock: &str) {
    assert!(
        text.contains(&format!("{clock} ({zone})")),
        "`{text}` lacks `{clock} ({zone})`"
    );
    for us in ["AM", "PM", "/20"] {
        assert!(!text.contains(us), "`{text}` has `{us}`");
    }
}

/// Issue #17, item 7: times were labelled with the tour's zone only in the
/// header and review; held-until and other timestamps were in the browser's
/// zone, unlabelled, in a US format.
async fn every_time_a_customer_sees_names_the_tour_zone(app: TestApp) {
    let Some(b) = Browser::start(1280, 1100).await else {
        return;
    };
    const ZONE: &str = "Europe/Madrid";
    // The browser is in another zone than the tour.
    b.d()
        .cdp()
        .send_raw(
            "Emulation.setTimezoneOverride",
            json!({"timezoneId": "Pacific/Auckland"}),
        )
        .await
        .expect("browser zone");
    let (_admin, tour, slots, dates) = tour_in(&app, ZONE, 2).await;

    // The flow: the departures, the choice, the party step, the confirmation.
    open_calendar_at(&b, &app, tour, &dates[1]).await;
    b.click(&format!("{CAL} >>> td[data-date='{}']", dates[1]))
        .await;
    b.wait_text(&format!("{CAL} >>> .slots h4"), &format!("times in {ZONE}"))
        .await;
    b.click(&format!("{CAL} >>> .slot[data-slot='{}']", slots[1]))
        .await;
    let chosen = b
        .wait_text(&format!("{FLOW} >>> [data-chosen]"), ZONE)
        .await;
    assert_zoned(&chosen, ZONE, "09:00");
    b.click(&format!("{FLOW} >>> [data-act='next']")).await;
    let when = b.wait_text(&format!("{FLOW} >>> [data-when]"), ZONE).await;
    assert_zoned(&when, ZONE, "09:00");
    b.click(&format!("{FLOW} >>> [data-act='next']")).await;
    b.type_into(&format!("{FLOW} >>> #c-name"), "Zoe Zone")
        .await;
    b.type_into(&format!("{FLOW} >>> #c-email"), "zoe@example.com")
        .await;
    b.click(&format!(
        "{FLOW} >>> [data-form='contact'] button[type='submit']"
    ))
    .await;
    b.wait_text(&format!("{FLOW} >>> [data-when]"), &format!("({ZONE})"))
        .await;
    b.click(&format!("{FLOW} >>> [data-act='confirm']")).await;
    let reference = b
        .wait_text(&format!("{FLOW} >>> [data-reference]"), "ST-")
        .await;
    let done = b.wait_text(&format!("{FLOW} >>> p[data-when]"), ZONE).await;
    assert_zoned(&done, ZONE, "09:00");
    b.screenshot("widget-zone-done", app.backend).await;

    // A guest waits for the full day 0; a cancellation holds spots for them.
    let full = app.book(tour, slots[0], 2, 0, 0).await;
    full.assert_status(201);
    let entry = app
        .post(
            paths::WAITLIST,
            &json!({"tour_id": tour, "requested_date": dates[0], "num_people": 2,
                    "customer_name": "Walt Wait", "customer_email": "walt@example.com"}),
        )
        .await;
    entry.assert_status(201);
    app.send(
        reqwest::Method::DELETE,
        &format!("/api/calendar/bookings/{}", full.body["id"]),
        Some(&json!({})),
        &[(
            "x-manage-token",
            full.body["manage_token"].as_str().expect("token"),
        )],
    )
    .await
    .assert_status(200);
    let id = entry.body["id"].as_i64().expect("entry id");
    let token = entry.body["manage_token"].as_str().expect("entry token");
    b.goto(&app.url(&format!("/manage?waitlist={id}#token={token}")))
        .await;
    let held = b.wait_text("[data-held-until]", ZONE).await;
    let r = app
        .send(
            reqwest::Method::GET,
            &paths::waitlist_entry(id),
            None,
            &[("x-manage-token", token)],
        )
        .await;
    r.assert_status(200);
    let expires = r.body["notification_expires_at"]
        .as_str()
        .expect("held until")
        .to_owned();
    let (clock, day_of_month) = local_clock(&expires, ZONE);
    assert_zoned(&held, ZONE, &clock);
    assert!(
        held.contains(&day_of_month),
        "`{held}` lacks the day {day_of_month}"
    );
    b.screenshot("widget-zone-held-until", app.backend).await;

    // The manage page of the booking made above, and a move's button.
    b.goto(&app.url(&format!(
        "/manage?reference={}&email=zoe@example.com",
        reference.trim()
    )))
    .await;
    let when = b.wait_text("#booking [data-when]", ZONE).await;
    assert_zoned(&when, ZONE, "09:00–12:00");
    show_month_of(&b, "booking-calendar", &dates[2]).await;
    b.click(&format!(
        "booking-calendar >>> td[data-date='{}']",
        dates[2]
    ))
    .await;
    b.click(&format!(
        "booking-calendar >>> .slot[data-slot='{}']",
        slots[2]
    ))
    .await;
    let move_to = b.wait_text("#move", ZONE).await;
    assert_zoned(&move_to, ZONE, "09:00");
    b.screenshot("widget-zone-manage", app.backend).await;
    b.quit().await;
}

/// Issue #17, item 11: embedded on a website whose origin the server does
/// not allow, the components showed nothing at all.
async fn an_embed_on_a_site_that_is_not_allowed_says_so(app: TestApp) {
    let mut site = OperatorSite::bind().await;
    let f = app.fixture(4).await;
    // The server allows no other origin (the default).
    assert!(app.config.allowed_origins.iter().all(|o| o.is_empty()));
    site.serve(&app.url(""), f.tour);
    let Some(b) = Browser::start(1280, 1000).await else {
        return;
    };
    b.goto(&site.url()).await;
    let page = app.url(&format!("/tours/{}", f.tour));
    for component in [FLOW, "#calendar"] {
        let text = b
            .wait_text(&format!("{component} >>> [data-refused]"), "isn't allowed")
            .await;
        assert!(text.contains("can't load here"), "{component}: {text}");
        let href = b
            .js(
                "return deep(arguments[0]).href;",
                vec![json!(format!("{component} >>> [data-refused] a"))],
            )
            .await;
        assert_eq!(
            href.json(),
            &json!(page),
            "{component} links the tour's page"
        );
    }
    b.screenshot("widget-embed-not-allowed", app.backend).await;
    // The link leads to a page that books.
    b.click(&format!("{FLOW} >>> [data-refused] a")).await;
    show_month_of(&b, CAL, &f.dates[0]).await;
    b.quit().await;
}

/// The `data-slot` of each alternative the flow offers, in order.
async fn offered(b: &Browser) -> Vec<i64> {
    b.wait(&format!("{FLOW} >>> [data-alternatives] [data-alt]"))
        .await;
    b.js(
        "return [...deep(arguments[0]).querySelectorAll('[data-alt]')].map((x) => Number(x.dataset.slot));",
        vec![json!(format!("{FLOW} >>> [data-alternatives]"))],
    )
    .await
    .json()
    .as_array()
    .into_iter()
    .flatten()
    .filter_map(Value::as_i64)
    .collect()
}

/// From the review step: confirms and returns the booking as the API has it.
async fn confirm_and_read(b: &Browser, app: &TestApp, email: &str) -> Value {
    b.click(&format!("{FLOW} >>> [data-act='confirm']")).await;
    let reference = b
        .wait_text(&format!("{FLOW} >>> [data-reference]"), "ST-")
        .await;
    let r = app
        .get(&format!(
            "/api/calendar/bookings/reference/{}?email={email}",
            reference.trim()
        ))
        .await;
    r.assert_status(200);
    r.body
}

/// Issue #17, item 9: when the requested party does not fit, offer other
/// departures that day and the nearest days with room, in the flow.
async fn a_party_that_does_not_fit_is_offered_alternatives_and_books_one(app: TestApp) {
    let Some(b) = Browser::start(1280, 1100).await else {
        return;
    };
    let f = app.fixture(4).await;
    // One place left on day 1: the default party of two does not fit.
    app.book(f.tour, f.slots[1], 3, 0, 0)
        .await
        .assert_status(201);
    open_calendar_at(&b, &app, f.tour, &f.dates[1]).await;
    b.click(&format!("{CAL} >>> td[data-date='{}']", f.dates[1]))
        .await;
    b.click(&format!("{CAL} >>> .slot[data-slot='{}']", f.slots[1]))
        .await;
    b.click(&format!("{FLOW} >>> [data-act='next']")).await;
    b.wait_text(&format!("{FLOW} >>> .price"), "Only 1 spot(s) left")
        .await;
    let offer = offered(&b).await;
    assert!(
        !offer.contains(&f.slots[1]) && offer.contains(&f.slots[0]) && offer.contains(&f.slots[2]),
        "the nearest days with room: {offer:?}"
    );
    assert!(offer.len() <= 6, "{offer:?}");
    let text = b
        .wait_text(&format!("{FLOW} >>> [data-alternatives]"), "room for 2")
        .await;
    assert!(text.contains("(Asia/Jerusalem)"), "{text}");
    b.screenshot("widget-alternatives-party", app.backend).await;
    // Taking day 2 instead: the party step again, now priced and possible.
    b.click(&format!(
        "{FLOW} >>> [data-alt][data-slot='{}']",
        f.slots[2]
    ))
    .await;
    b.wait_text(&format!("{FLOW} >>> [data-total]"), "165.00")
        .await;
    let state = b
        .js(
            "return [deep(arguments[0]).disabled, !!deep(arguments[1])];",
            vec![
                json!(format!("{FLOW} >>> [data-act='next']")),
                json!(format!("{FLOW} >>> [data-alternatives]")),
            ],
        )
        .await
        .json()
        .clone();
    assert_eq!(state, json!([false, false]), "the alternative is taken");
    b.click(&format!("{FLOW} >>> [data-act='next']")).await;
    b.type_into(&format!("{FLOW} >>> #c-name"), "Ada Lovelace")
        .await;
    b.type_into(&format!("{FLOW} >>> #c-email"), "ada@example.com")
        .await;
    b.click(&format!(
        "{FLOW} >>> [data-form='contact'] button[type='submit']"
    ))
    .await;
    let booked = confirm_and_read(&b, &app, "ada@example.com").await;
    assert_eq!(booked["booking_slot_id"], f.slots[2]);
    assert_eq!(booked["num_adults"], 2);

    // A second booking: three people on day 3, which someone else fills
    // while this one is being reviewed. The refusal offers alternatives.
    b.click(&format!("{FLOW} >>> [data-act='again']")).await;
    show_month_of(&b, CAL, &f.dates[3]).await;
    b.click(&format!("{CAL} >>> td[data-date='{}']", f.dates[3]))
        .await;
    b.click(&format!("{CAL} >>> .slot[data-slot='{}']", f.slots[3]))
        .await;
    b.click(&format!("{FLOW} >>> [data-act='next']")).await;
    b.click(&format!("{FLOW} >>> [data-inc='adults']")).await;
    b.wait_text(&format!("{FLOW} >>> [data-total]"), "247.50")
        .await;
    b.click(&format!("{FLOW} >>> [data-act='next']")).await;
    b.click(&format!(
        "{FLOW} >>> [data-form='contact'] button[type='submit']"
    ))
    .await;
    b.wait(&format!("{FLOW} >>> [data-act='confirm']")).await;
    app.book(f.tour, f.slots[3], 2, 0, 0)
        .await
        .assert_status(201);
    b.click(&format!("{FLOW} >>> [data-act='confirm']")).await;
    b.wait_text(&format!("{FLOW} >>> [role='alert']"), "Sorry")
        .await;
    let offer = offered(&b).await;
    assert!(
        !offer.contains(&f.slots[3]) && offer.contains(&f.slots[4]),
        "alternatives after the refusal: {offer:?}"
    );
    b.screenshot("widget-alternatives-refused", app.backend)
        .await;
    // Taking day 4 shows it chosen in the calendar; party and details stay.
    b.click(&format!(
        "{FLOW} >>> [data-alt][data-slot='{}']",
        f.slots[4]
    ))
    .await;
    b.wait_until(&format!(
        "deep({})?.getAttribute('aria-pressed') === 'true'",
        json!(format!("{CAL} >>> .slot[data-slot='{}']", f.slots[4]))
    ))
    .await;
    let selected = b
        .js(
            "return deep(arguments[0]).getAttribute('aria-selected');",
            vec![json!(format!("{CAL} >>> td[data-date='{}']", f.dates[4]))],
        )
        .await;
    assert_eq!(selected.json(), "true", "the calendar shows the new date");
    b.wait(&format!("{FLOW} >>> [data-chosen]")).await;
    b.click(&format!("{FLOW} >>> [data-act='next']")).await;
    b.wait_text(&format!("{FLOW} >>> [data-total]"), "247.50")
        .await;
    b.click(&format!("{FLOW} >>> [data-act='next']")).await;
    let name = b
        .js(
            "return deep(arguments[0]).value;",
            vec![json!(format!("{FLOW} >>> #c-name"))],
        )
        .await;
    assert_eq!(name.json(), "Ada Lovelace", "the details are kept");
    b.click(&format!(
        "{FLOW} >>> [data-form='contact'] button[type='submit']"
    ))
    .await;
    let booked = confirm_and_read(&b, &app, "ada@example.com").await;
    assert_eq!(booked["booking_slot_id"], f.slots[4]);
    assert_eq!(booked["num_adults"], 3);

    // A full day offers the nearest departures with room beside the waitlist.
    app.book(f.tour, f.slots[3], 2, 0, 0)
        .await
        .assert_status(201);
    b.click(&format!("{FLOW} >>> [data-act='again']")).await;
    show_month_of(&b, CAL, &f.dates[3]).await;
    b.click(&format!("{CAL} >>> td[data-date='{}']", f.dates[3]))
        .await;
    b.wait(&format!("{FLOW} >>> [data-act='waitlist-open']"))
        .await;
    let offer = offered(&b).await;
    assert!(
        !offer.contains(&f.slots[3]) && !offer.is_empty(),
        "alternatives to a full day: {offer:?}"
    );
    b.quit().await;
}

const PASSWORD: &str = "correct horse battery";

/// Deliver: the account page in a browser — claim, leave, change, cancel.
async fn the_account_page_claims_leaves_changes_and_cancels(app: TestApp) {
    let f = app.fixture(2).await;
    app.register("cara@example.com", PASSWORD, "Cara Customer")
        .await
        .assert_status(201);
    let cara = app.login_token("cara@example.com", PASSWORD).await;
    let mine = |slot: i64| {
        let (app, cara) = (&app, &cara);
        async move {
            let r = app
                .create_booking_as(
                    cara,
                    &json!({"tour_id": f.tour, "booking_slot_id": slot, "num_adults": 1}),
                )
                .await;
            r.assert_status(201);
            r.body["id"].as_i64().expect("booking id")
        }
    };
    let to_change = mine(f.slots[3]).await;
    let to_cancel = mine(f.slots[4]).await;
    // Days 0 and 1 full; Cara waits for both; day 0 frees up and holds her spot.
    let mut guests = Vec::new();
    for i in [0, 1] {
        let g = app.book(f.tour, f.slots[i], 2, 0, 0).await;
        g.assert_status(201);
        guests.push(g.body);
    }
    let mut entries = Vec::new();
    for i in [0, 1] {
        let e = app
            .post_as(
                &cara,
                paths::WAITLIST,
                &json!({"tour_id": f.tour, "requested_date": f.dates[i], "num_people": 1}),
            )
            .await;
        e.assert_status(201);
        entries.push(e.body["id"].as_i64().expect("entry id"));
    }
    app.send(
        reqwest::Method::DELETE,
        &format!("/api/calendar/bookings/{}", guests[0]["id"]),
        Some(&json!({})),
        &[(
            "x-manage-token",
            guests[0]["manage_token"].as_str().expect("token"),
        )],
    )
    .await
    .assert_status(200);

    let Some(b) = Browser::start(1280, 1200).await else {
        return;
    };
    log_in_to_account(&b, &app, "cara@example.com", PASSWORD).await;
    b.goto(&app.url("/account")).await;
    let held = b
        .wait_text(
            &format!("[data-entry='{}'] [data-held-until]", entries[0]),
            "Held until",
        )
        .await;
    assert!(held.contains("(Asia/Jerusalem)"), "{held}");
    let when = b
        .wait_text(
            &format!("[data-booking='{to_change}'] [data-when]"),
            "09:00",
        )
        .await;
    assert!(when.contains("09:00 (Asia/Jerusalem)"), "{when}");
    b.screenshot("widget-account", app.backend).await;
    let entry = |id: i64| {
        let (app, cara) = (&app, &cara);
        async move {
            let r = app.get_as(cara, paths::MY_WAITLIST).await;
            r.assert_status(200);
            r.body
                .as_array()
                .and_then(|a| a.iter().find(|e| e["id"] == id).cloned())
                .unwrap_or(Value::Null)
        }
    };
    let booking = |id: i64| {
        let (app, cara) = (&app, &cara);
        async move {
            let r = app.get_booking(cara, id).await;
            r.assert_status(200);
            r.body
        }
    };

    // Change: two adults instead of one.
    b.type_into(&format!("#a-{to_change}"), "2").await;
    b.click(&format!("[data-resize='{to_change}']")).await;
    b.wait_text("#account [role='status']", "Booking changed")
        .await;
    assert_eq!(booking(to_change).await["num_adults"], 2);

    // Cancel, after confirming.
    b.click(&format!("[data-cancel='{to_cancel}']")).await;
    // The question names the refund, fetched before it is asked.
    let asked = b.accept_dialog().await;
    assert!(asked.contains("You will get back"), "{asked}");
    b.wait_text("#account [role='status']", "Booking cancelled")
        .await;
    assert_eq!(booking(to_cancel).await["status"], "cancelled");

    // Leave the waitlist for day 1.
    b.click(&format!("[data-leave='{}']", entries[1])).await;
    b.wait_text("#account [role='status']", "left the waitlist")
        .await;
    assert_eq!(entry(entries[1]).await["status"], "cancelled");

    // Claim the spot held on day 0.
    b.click(&format!(
        "[data-claim='{}'] button[type='submit']",
        entries[0]
    ))
    .await;
    let note = b
        .wait_text("#account [role='status']", "Your reference is")
        .await;
    let claimed = entry(entries[0]).await;
    assert_eq!(claimed["status"], "converted", "{claimed}");
    let reference = note
        .split("reference is ")
        .nth(1)
        .map(|r| r.trim_end_matches('.').trim().to_owned())
        .expect("a reference");
    let r = app
        .get(&format!(
            "/api/calendar/bookings/reference/{reference}?email=cara@example.com"
        ))
        .await;
    r.assert_status(200);
    assert_eq!(r.body["booking_slot_id"], f.slots[0]);
    b.wait(&format!("[data-booking='{}']", r.body["id"])).await;
    b.screenshot("widget-account-after", app.backend).await;
    b.quit().await;
}
