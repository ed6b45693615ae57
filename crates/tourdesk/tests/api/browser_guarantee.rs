//! Issue #18 guaranteed departures in a real headless Chromium: a customer
//! sees that a departure needs more people, and when that is decided, in
//! the calendar, the flow and on the manage page, then that it is
//! guaranteed; an operator guarantees departures from the console's At risk
//! list and from the week grid's panel, and moves a decision deadline; the
//! tour form edits a tour's cancellation policy and party rules.

use chrono::{DateTime, Datelike, Duration, Utc};
use serde_json::{Value, json};

use crate::both_backends;
use crate::browser::{Browser, CAL, FLOW, log_in_to_account, log_in_to_console, open_calendar_at};
use crate::helpers::{TestApp, day, paths};

both_backends!(
    a_customer_sees_a_departure_needs_more_people_then_that_it_is_guaranteed,
    an_admin_guarantees_departures_at_risk_and_moves_a_deadline,
    the_tour_form_edits_the_cancellation_policy_and_party_rules,
);

const ADMIN: &str = "guarantee-admin@example.com";
const PASSWORD: &str = "admin password 123";
/// Far from the browser's UTC: a deadline shown in the browser's zone
/// instead of the tour's would be off by 13 hours, and by a day.
const ZONE: &str = "Pacific/Auckland";

/// A tour in [`ZONE`] whose daily 09:00 departures (days +8 to +12,
/// capacity 10) need `min` people, decided 48 hours before each; returns
/// (admin token, tour, its departures as the public calendar lists them).
async fn tour_needing(app: &TestApp, min: i64) -> (String, i64, Vec<Value>) {
    let admin = app.admin().await;
    let tour = app
        .tour(
            &admin,
            json!({"name": "Tongariro Crossing", "timezone": ZONE}),
        )
        .await;
    let schedule = app
        .schedule(
            &admin,
            tour,
            &day(8),
            json!({"max_capacity": 10, "min_capacity": min, "decision_hours": 48}),
        )
        .await;
    app.generate(&admin, schedule, &day(8), &day(12))
        .await
        .assert_status(200);
    let slots = app.slots_between(tour, &day(8), &day(12)).await;
    assert_eq!(slots.len(), 5, "five departures");
    (admin, tour, slots)
}

fn id(s: &Value) -> i64 {
    s["id"].as_i64().expect("slot id")
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn starts_at(s: &Value) -> DateTime<Utc> {
    s["starts_at"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("starts_at")
}

/// What the pages must say for a deadline: the tour's wall-clock time of
/// `at`, "Thu 10 Dec, 09:00" (the year only when it is not this year).
fn wall_clock(at: DateTime<Utc>) -> String {
    let tz: chrono_tz::Tz = ZONE.parse().expect("zone");
    let local = at.with_timezone(&tz);
    if local.year() == Utc::now().year() {
        local.format("%a %-d %b, %H:%M").to_string()
    } else {
        local.format("%a %-d %b %Y, %H:%M").to_string()
    }
}

/// axe-core's violations on the page as it is now (with the open shadow
/// roots), as `browser_axe` runs it; None when axe-core is not installed
/// outside CI (`.ci/run` installs it; `AXE_CORE_JS` points elsewhere).
async fn axe_violations(b: &Browser) -> Option<Vec<String>> {
    let path = std::env::var("AXE_CORE_JS").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../target/ci-tools/node_modules/axe-core/axe.min.js"
        )
        .to_owned()
    });
    let axe = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
            panic!("CI=true but axe-core is missing at {path} ({e})")
        }
        Err(_) => return None,
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    b.js(
        &format!("if (!window.axe) {{ {axe} }} return true;"),
        vec![],
    )
    .await;
    let found = b
        .js_async(
            "axe.run(document, { resultTypes: ['violations'] }).then((r) => done(r.violations.map((v) => \
             `${v.id} (${v.impact}): ${v.help}; at ${v.nodes.slice(0, 3).map((n) => `${n.target.join(' >>> ')} ${n.html.slice(0, 300)}`).join(' | ')}`)))\
             .catch((e) => done(['axe failed: ' + e]));",
            vec![],
        )
        .await;
    Some(
        found
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect(),
    )
}

/// No axe violation on the page as it is now.
async fn assert_accessible(b: &Browser, view: &str) {
    if let Some(found) = axe_violations(b).await {
        assert!(found.is_empty(), "{view}: {found:#?}");
    }
}

/// A departure as the console's API shows it (guarantee included).
async fn admin_slot(app: &TestApp, admin: &str, slot: i64) -> Value {
    let r = app
        .get_as(
            admin,
            &format!(
                "/api/calendar/admin/slots?start_date={}&end_date={}",
                day(6),
                day(14)
            ),
        )
        .await;
    r.assert_status(200);
    r.body
        .as_array()
        .and_then(|a| a.iter().find(|s| s["id"] == slot).cloned())
        .expect("the departure")
}

async fn a_customer_sees_a_departure_needs_more_people_then_that_it_is_guaranteed(app: TestApp) {
    let Some(b) = Browser::start(1280, 1400).await else {
        return;
    };
    let (_, tour, slots) = tour_needing(&app, 4).await;
    let slot = id(&slots[0]);
    let date = text(&slots[0]["slot_date"]);
    // One of four booked: three more are needed, decided 48 h before.
    let r = app.book(tour, slot, 1, 0, 0).await;
    r.assert_status(201);
    let reference = text(&r.body["booking_reference"]);
    let g = app.slot(tour, slot).await["guarantee"].clone();
    assert_eq!(g["status"], "pending", "{g}");
    assert_eq!(g["needed"], 3, "{g}");
    let deadline = wall_clock(starts_at(&slots[0]) - Duration::hours(48));

    // The calendar: on the departure, in words, and in its accessible name.
    open_calendar_at(&b, &app, tour, &date).await;
    b.click(&format!("{CAL} >>> td[data-date='{date}']")).await;
    let pending = format!("{CAL} >>> .slot[data-slot='{slot}'] [data-guarantee='pending']");
    let shown = b.wait_text(&pending, "Needs 3 more to go ahead").await;
    assert!(
        shown.contains(&format!("decided on {deadline}")),
        "the tour's wall-clock deadline {deadline}: {shown}"
    );
    let name = b
        .js(
            "return deep(arguments[0]).getAttribute('aria-label');",
            vec![json!(format!("{CAL} >>> .slot[data-slot='{slot}']"))],
        )
        .await;
    let name = text(name.json());
    assert!(
        name.contains(&format!("Needs 3 more to go ahead — decided on {deadline}")),
        "{name}"
    );
    b.screenshot("guarantee-calendar-pending", app.backend)
        .await;
    assert_accessible(&b, "the calendar, a departure needing more").await;

    // The flow: on the time chosen, and on the review.
    b.click(&format!("{CAL} >>> .slot[data-slot='{slot}']"))
        .await;
    let chosen = b
        .wait_text(
            &format!("{FLOW} >>> p[data-guarantee='pending']"),
            "Needs 3 more",
        )
        .await;
    assert!(chosen.contains(&deadline), "{chosen}");
    assert!(chosen.contains("full refund"), "{chosen}");
    b.click(&format!("{FLOW} >>> [data-act='next']")).await;
    b.wait_text(&format!("{FLOW} >>> [data-total]"), ".").await;
    b.click(&format!("{FLOW} >>> [data-act='next']")).await;
    b.type_into(&format!("{FLOW} >>> #c-name"), "Kiri Walker")
        .await;
    b.type_into(&format!("{FLOW} >>> #c-email"), "kiri@example.com")
        .await;
    b.click(&format!(
        "{FLOW} >>> [data-form='contact'] button[type='submit']"
    ))
    .await;
    let review = b
        .wait_text(
            &format!("{FLOW} >>> dd[data-guarantee='pending']"),
            "Needs 3 more to go ahead",
        )
        .await;
    assert!(review.contains(&format!("{deadline} ({ZONE})")), "{review}");
    b.screenshot("guarantee-flow-review", app.backend).await;
    assert_accessible(&b, "the review").await;

    // The customer's own booking says it.
    b.goto(&app.url(&format!(
        "/manage?reference={reference}&email=guest@example.com"
    )))
    .await;
    let mine = b
        .wait_text(
            "#booking [data-guarantee='pending']",
            "Your departure needs 3 more travellers to go ahead",
        )
        .await;
    assert!(
        mine.contains(&format!("decided on {deadline} ({ZONE})")),
        "{mine}"
    );
    b.screenshot("guarantee-manage-pending", app.backend).await;
    assert_accessible(&b, "the manage page").await;

    // Three more: the minimum is reached and the departure is guaranteed
    // at once.
    app.book(tour, slot, 3, 0, 0).await.assert_status(201);
    let g = app.slot(tour, slot).await["guarantee"].clone();
    assert_eq!(g["status"], "guaranteed", "{g}");
    assert_eq!(g["guaranteed_by"], "minimum_reached", "{g}");
    b.goto(&app.url(&format!(
        "/manage?reference={reference}&email=guest@example.com"
    )))
    .await;
    b.wait_text(
        "#booking [data-guarantee='guaranteed']",
        "Your departure is guaranteed to run",
    )
    .await;
    open_calendar_at(&b, &app, tour, &date).await;
    b.click(&format!("{CAL} >>> td[data-date='{date}']")).await;
    b.wait_text(
        &format!("{CAL} >>> .slot[data-slot='{slot}'] [data-guarantee='guaranteed']"),
        "Guaranteed to run",
    )
    .await;
    let left = b
        .js("return !!deep(arguments[0]);", vec![json!(pending)])
        .await;
    assert_eq!(left.json(), &json!(false), "no 'needs more' any longer");
    b.screenshot("guarantee-calendar-guaranteed", app.backend)
        .await;
    assert_accessible(&b, "the calendar, a guaranteed departure").await;

    // A customer's account lists each booking with its departure's standing.
    app.register("tane@example.com", "correct horse battery", "Tane")
        .await
        .assert_status(201);
    let customer = app
        .login_token("tane@example.com", "correct horse battery")
        .await;
    let mut mine = Vec::new();
    for s in [slot, id(&slots[1])] {
        let r = app
            .create_booking_as(
                &customer,
                &json!({"tour_id": tour, "booking_slot_id": s, "num_adults": 1}),
            )
            .await;
        r.assert_status(201);
        mine.push(r.body["id"].as_i64().expect("booking id"));
    }
    log_in_to_account(&b, &app, "tane@example.com", "correct horse battery").await;
    b.wait_text(
        &format!("[data-booking='{}'] [data-guarantee='guaranteed']", mine[0]),
        "Your departure is guaranteed to run",
    )
    .await;
    let later = wall_clock(starts_at(&slots[1]) - Duration::hours(48));
    let waiting = b
        .wait_text(
            &format!("[data-booking='{}'] [data-guarantee='pending']", mine[1]),
            "needs 3 more travellers",
        )
        .await;
    assert!(
        waiting.contains(&format!("decided on {later} ({ZONE})")),
        "{waiting}"
    );
    b.screenshot("guarantee-account", app.backend).await;
    assert_accessible(&b, "the account").await;
    b.quit().await;
}

async fn an_admin_guarantees_departures_at_risk_and_moves_a_deadline(app: TestApp) {
    let Some(b) = Browser::start(1280, 1200).await else {
        return;
    };
    app.ctx
        .accounts()
        .ensure_admin(ADMIN, PASSWORD, "Guarantee Admin")
        .await
        .expect("admin");
    let (admin, tour, slots) = tour_needing(&app, 4).await;
    let ids: Vec<i64> = slots.iter().map(id).collect();
    let (first, second, third, full) = (ids[0], ids[1], ids[2], ids[4]);
    let booking = app.book(tour, first, 1, 0, 0).await;
    booking.assert_status(201);
    let booking = booking.body["id"].as_i64().expect("booking id");
    app.book(tour, second, 2, 0, 0).await.assert_status(201);
    // The last one has its minimum: it is not at risk.
    app.book(tour, full, 4, 0, 0).await.assert_status(201);

    log_in_to_console(&b, &app, ADMIN, PASSWORD).await;
    b.click("[data-tab='at-risk']").await;
    let row = |s: i64| format!("#at-risk tr[data-slot='{s}']");
    let shown = b.wait_text(&row(first), "1 / 4").await;
    assert!(shown.contains("3 more"), "{shown}");
    assert!(shown.contains("Tongariro Crossing"), "{shown}");
    let deadline = wall_clock(starts_at(&slots[0]) - Duration::hours(48));
    assert!(
        shown.contains(&format!("{deadline} ({ZONE})")),
        "{deadline}: {shown}"
    );
    // Soonest decision first; the guaranteed one is not listed.
    let order = b
        .js(
            "return [...document.querySelectorAll('#at-risk tr[data-slot]')].map((r) => Number(r.dataset.slot));",
            vec![],
        )
        .await;
    assert_eq!(order.json(), &json!([first, second, third, ids[3]]));
    b.screenshot("guarantee-at-risk", app.backend).await;
    assert_accessible(&b, "the At risk list").await;

    // Guarantee: asked first, then gone from the list.
    b.click(&format!("{} [data-guarantee]", row(first))).await;
    b.wait("dialog.dialog[open] #gd-form").await;
    let before = admin_slot(&app, &admin, first).await;
    assert_eq!(
        before["guarantee"]["status"], "pending",
        "nothing happens before the confirmation"
    );
    b.type_into("#gd-reason", "School group confirmed by phone")
        .await;
    b.click("dialog.dialog[open] [data-ok]").await;
    b.wait_until(&format!(
        "!document.querySelector({}) && document.querySelector({})",
        json!(row(first)),
        json!(row(second))
    ))
    .await;
    b.wait_text("#flash", "is guaranteed to run").await;
    let after = admin_slot(&app, &admin, first).await;
    assert_eq!(after["guarantee"]["status"], "guaranteed", "{after}");
    assert_eq!(after["guarantee"]["guaranteed_by"], "manual", "{after}");
    let risk = app.get_as(&admin, paths::ADMIN_AT_RISK).await;
    risk.assert_status(200);
    assert!(
        !risk
            .body
            .as_array()
            .expect("list")
            .iter()
            .any(|s| s["id"] == first),
        "{}",
        risk.body
    );

    // A deadline after the departure: 422, said under the field.
    let second_start = &slots[1];
    let after_start = format!("{}T09:00", text(&slots[2]["slot_date"]));
    let set_deadline = |value: String| {
        format!(
            "const i = document.querySelector({}); i.value = {}; i.dispatchEvent(new Event('input', {{ bubbles: true }}));",
            json!(format!("{} input[name='decision_at']", row(second))),
            json!(value)
        )
    };
    b.js(&set_deadline(after_start), vec![]).await;
    b.click(&format!(
        "{} form[data-decision] button[type='submit']",
        row(second)
    ))
    .await;
    let err = format!("{} [data-field-err='decision_at']", row(second));
    b.wait_until(&format!(
        "document.querySelector({e}) && document.querySelector({e}).textContent.trim() !== ''",
        e = json!(err)
    ))
    .await;
    let invalid = b
        .js(
            "return document.querySelector(arguments[0]).getAttribute('aria-invalid');",
            vec![json!(format!("{} input[name='decision_at']", row(second)))],
        )
        .await;
    assert_eq!(invalid.json(), &json!("true"));
    let unchanged = admin_slot(&app, &admin, second).await;
    let old = text(&unchanged["guarantee"]["decision_at"]);
    assert_eq!(
        old.parse::<DateTime<Utc>>().ok(),
        Some(starts_at(second_start) - Duration::hours(48)),
        "{unchanged}"
    );
    b.screenshot("guarantee-deadline-refused", app.backend)
        .await;
    assert_accessible(&b, "a refused deadline").await;

    // Three hours before it starts: saved, in the tour's wall-clock time.
    let later = format!("{}T06:00", text(&slots[1]["slot_date"]));
    b.js(&set_deadline(later.clone()), vec![]).await;
    b.click(&format!(
        "{} form[data-decision] button[type='submit']",
        row(second)
    ))
    .await;
    b.wait_text("#flash", "moved to").await;
    let moved = admin_slot(&app, &admin, second).await;
    assert!(
        text(&moved["guarantee"]["decision_at_local"]).starts_with(&later),
        "{moved}"
    );
    assert_eq!(
        text(&moved["guarantee"]["decision_at"])
            .parse::<DateTime<Utc>>()
            .ok(),
        Some(starts_at(second_start) - Duration::hours(3)),
        "{moved}"
    );
    b.wait_text(
        &format!("{} [data-deadline]", row(second)),
        &wall_clock(starts_at(second_start) - Duration::hours(3)),
    )
    .await;

    // The week grid's panel says it and guarantees too.
    b.goto(&app.url(&format!(
        "/admin#slots?mode=week&from={}",
        text(&slots[2]["slot_date"])
    )))
    .await;
    let card = format!("#week-grid .dep[data-slot='{third}']");
    b.wait_text(&card, "needs 4 more").await;
    b.click(&card).await;
    let fact = b
        .wait_text(
            "dialog.dialog[open] dd[data-guarantee='pending']",
            "needs 4 more",
        )
        .await;
    assert!(fact.contains("0 of a minimum of 4"), "{fact}");
    b.screenshot("guarantee-panel", app.backend).await;
    assert_accessible(&b, "the departure panel").await;
    b.click("dialog.dialog[open] [data-act='guarantee']").await;
    b.click("dialog.dialog[open] #gd-form [data-ok]").await;
    b.wait_text(
        &format!("#week-grid .dep[data-slot='{third}'] [data-minimum='guaranteed']"),
        "guaranteed",
    )
    .await;
    let third_now = admin_slot(&app, &admin, third).await;
    assert_eq!(
        third_now["guarantee"]["guaranteed_by"], "manual",
        "{third_now}"
    );

    // The booking's history says who guaranteed it and why.
    b.goto(&app.url(&format!("/admin#booking/{booking}"))).await;
    let history = b.wait_text("#history", "Departure guaranteed").await;
    assert!(history.contains("guaranteed by an operator"), "{history}");
    assert!(
        history.contains("School group confirmed by phone"),
        "{history}"
    );
    b.quit().await;
}

/// Whether the checkbox at `selector` is checked.
async fn checked(b: &Browser, selector: &str) -> bool {
    b.js(
        "return document.querySelector(arguments[0]).checked;",
        vec![json!(selector)],
    )
    .await
    .json()
        == &json!(true)
}

async fn the_tour_form_edits_the_cancellation_policy_and_party_rules(app: TestApp) {
    let Some(b) = Browser::start(1280, 1400).await else {
        return;
    };
    app.ctx
        .accounts()
        .ensure_admin(ADMIN, PASSWORD, "Guarantee Admin")
        .await
        .expect("admin");
    let admin = app.login_token(ADMIN, PASSWORD).await;
    let tour = app.tour(&admin, json!({"name": "Masada Sunrise"})).await;
    let path = paths::admin_tour(tour);
    let defaults = app.get_as(&admin, &path).await.body;
    assert_eq!(defaults["cancellation_policy"]["source"], "default");
    let default_tiers = defaults["cancellation_policy"]["tiers"]
        .as_array()
        .expect("tiers")
        .len();

    log_in_to_console(&b, &app, ADMIN, PASSWORD).await;
    b.click("[data-tab='tours']").await;
    let edit = format!("#tour-list tr[data-tour='{tour}'] [data-edit]");
    b.click(&edit).await;
    let form = format!("[data-tour-form='{tour}']");
    b.wait(&form).await;
    // The defaults: both boxes ticked, nothing of the tour's own shown.
    assert!(checked(&b, &format!("{form} [name='policy_default']")).await);
    assert!(checked(&b, &format!("{form} [name='party_default']")).await);
    b.wait_until(&format!(
        "document.querySelector({}).hidden",
        json!(format!("{form} [data-policy-own]"))
    ))
    .await;

    // Its own policy: start from the default's tiers, remove down to one,
    // add two, fill in 96 h: 100 %, 12 h: 50 %, 0 h: 10 %, fee 3.50.
    b.click(&format!("{form} [name='policy_default']")).await;
    let tiers = |n: usize| {
        format!(
            "document.querySelectorAll({}).length === {n}",
            json!(format!("{form} [data-tiers] li[data-tier]"))
        )
    };
    b.wait_until(&tiers(default_tiers)).await;
    for n in (1..default_tiers).rev() {
        b.click(&format!("{form} [data-remove-tier='{n}']")).await;
        b.wait_until(&tiers(n)).await;
    }
    for n in 2..=3 {
        b.click(&format!("{form} [data-add-tier]")).await;
        b.wait_until(&tiers(n)).await;
    }
    let field = |i: usize, name: &str| {
        format!("{form} input[name='cancellation_policy.tiers[{i}].{name}']")
    };
    for (i, (hours, percent)) in [(96, 100), (12, 50), (0, 10)].iter().enumerate() {
        b.type_into(&field(i, "min_hours_before"), &hours.to_string())
            .await;
        b.type_into(&field(i, "refund_percent"), &percent.to_string())
            .await;
    }
    b.type_into(
        &format!("{form} input[name='cancellation_policy.fee']"),
        "3.50",
    )
    .await;
    // Its own party rules: infants on a lap, 3 minors and 1 infant per adult.
    b.click(&format!("{form} [name='party_default']")).await;
    b.click(&format!("{form} [name='party_rules.infants_take_seat']"))
        .await;
    b.type_into(
        &format!("{form} input[name='party_rules.max_minors_per_adult']"),
        "3",
    )
    .await;
    b.type_into(
        &format!("{form} input[name='party_rules.max_infants_per_adult']"),
        "1",
    )
    .await;
    b.screenshot("guarantee-tour-form", app.backend).await;
    assert_accessible(&b, "the tour form, own policy and rules").await;
    b.click(&format!("{form} button[type='submit']")).await;
    // Saved, the form goes back to a new tour.
    b.wait_until(&format!("!document.querySelector({})", json!(form)))
        .await;
    b.wait_text("#flash", "Tour saved.").await;
    let t = app.get_as(&admin, &path).await.body;
    assert_eq!(t["cancellation_policy"]["source"], "tour", "{t}");
    assert_eq!(
        t["cancellation_policy"]["tiers"],
        json!([{"min_hours_before": 96, "refund_percent": 100},
            {"min_hours_before": 12, "refund_percent": 50},
            {"min_hours_before": 0, "refund_percent": 10}]),
        "{t}"
    );
    assert_eq!(t["cancellation_policy"]["fee"].as_f64(), Some(3.5), "{t}");
    assert_eq!(t["party_rules"]["source"], "tour", "{t}");
    assert_eq!(t["party_rules"]["infants_take_seat"], false, "{t}");
    assert_eq!(t["party_rules"]["max_minors_per_adult"], 3, "{t}");
    assert_eq!(t["party_rules"]["max_infants_per_adult"], 1, "{t}");
    b.wait_text(
        &format!("#tour-list tr[data-tour='{tour}'] [data-rules]"),
        "own policy · own party rules",
    )
    .await;

    // Edited again it shows what was saved; a refund above 100 % is refused
    // under that tier's field, and nothing changes.
    b.click(&edit).await;
    b.wait(&form).await;
    assert!(!checked(&b, &format!("{form} [name='policy_default']")).await);
    assert!(
        !checked(
            &b,
            &format!("{form} [name='party_rules.infants_take_seat']")
        )
        .await
    );
    let values = b
        .js(
            "return [...document.querySelectorAll(arguments[0])].map((i) => i.value);",
            vec![json!(format!("{form} [data-tiers] input"))],
        )
        .await;
    assert_eq!(values.json(), &json!(["96", "100", "12", "50", "0", "10"]));
    b.type_into(&field(1, "refund_percent"), "150").await;
    b.click(&format!("{form} button[type='submit']")).await;
    let err = format!("{form} [data-field-err='cancellation_policy.tiers[1].refund_percent']");
    b.wait_until(&format!(
        "document.querySelector({e}).textContent.trim() !== ''",
        e = json!(err)
    ))
    .await;
    let invalid = b
        .js(
            "return document.querySelector(arguments[0]).getAttribute('aria-invalid');",
            vec![json!(field(1, "refund_percent"))],
        )
        .await;
    assert_eq!(invalid.json(), &json!("true"));
    b.screenshot("guarantee-tour-form-refused", app.backend)
        .await;
    assert_accessible(&b, "the tour form, a refused tier").await;
    let t = app.get_as(&admin, &path).await.body;
    assert_eq!(t["cancellation_policy"]["tiers"][1]["refund_percent"], 50);

    // Back to the defaults.
    b.click(&format!("{form} [name='policy_default']")).await;
    b.click(&format!("{form} [name='party_default']")).await;
    b.click(&format!("{form} button[type='submit']")).await;
    b.wait_until(&format!("!document.querySelector({})", json!(form)))
        .await;
    let t = app.get_as(&admin, &path).await.body;
    assert_eq!(t["cancellation_policy"]["source"], "default", "{t}");
    assert_eq!(t["party_rules"]["source"], "default", "{t}");
    assert_eq!(t["party_rules"]["infants_take_seat"], true, "{t}");
    b.wait_text(
        &format!("#tour-list tr[data-tour='{tour}'] [data-rules]"),
        "default policy · default party rules",
    )
    .await;
    b.quit().await;
}
