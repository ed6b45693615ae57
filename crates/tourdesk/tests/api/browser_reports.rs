//! The console's Reports page in a real headless Chromium, on the story of
//! `reports.rs`: every number in the tables (the charts' fallback) is the
//! one the API answers, for the default period (the last 30 days to the
//! next 30) and for a period and tour chosen in the form; a few are also
//! the hand-worked figures. Each chart is an inline SVG image with its
//! accessible name, each section has its CSV download (the daily file is
//! read back), and the page reports no Content-Security-Policy violation.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::both_backends;
use crate::browser::{Browser, log_in_to_console};
use crate::helpers::TestApp;
use crate::reports::{play, report};

both_backends!(the_reports_page_shows_the_numbers_the_api_gives);

const ADMIN: &str = "reports-admin@example.com";
const PASSWORD: &str = "admin password 123";
/// Sets `window.__x` if it ever runs.
const XSS: &str = r#""><img src=x onerror=window.__x=1><svg onload=window.__x=2>"#;
const SECTIONS: [&str; 6] = [
    "rp-daily",
    "rp-revenue",
    "rp-tours",
    "rp-heatmap",
    "rp-waitlist",
    "rp-noshows",
];

/// What the page shows: each table's rows as cell texts (a date cell as
/// its `datetime`), the summary figures, and its charts.
const READ_PAGE: &str = "
const rows = (sel) => [...document.querySelectorAll(sel)].map((tr) => [...tr.children]
  .map((c) => (c.querySelector('time') ? c.querySelector('time').getAttribute('datetime') : c.textContent.trim())));
const t = (id) => ({ body: rows(`#${id} tbody tr`), foot: rows(`#${id} tfoot tr`) });
return {
  daily: t('rp-daily'), revenue: t('rp-revenue'), tours: t('rp-tours'), departures: t('rp-heatmap'),
  waitlist: t('rp-waitlist'), noshows: t('rp-noshows'),
  figures: rows('#rp-figures .figure'),
  charts: [...document.querySelectorAll('#rp-body svg')].map((s) => ({
    section: s.closest('section') ? s.closest('section').id : '',
    role: s.getAttribute('role'), label: s.getAttribute('aria-label'),
    title: s.querySelector(':scope > title') ? s.querySelector(':scope > title').textContent : null })),
  csv: [...document.querySelectorAll('#rp-body [data-csv]')].map((b) => [b.dataset.csv, b.textContent]),
  cells: [...document.querySelectorAll('#rp-heatmap svg rect[data-cell]')].map((r) => r.dataset.cell),
  legend: document.querySelector('#rp-heatmap .legend') ? document.querySelector('#rp-heatmap .legend').textContent : '',
};";

fn int(v: &Value) -> String {
    v.as_i64()
        .map(|n| n.to_string())
        .unwrap_or_else(|| panic!("not an integer: {v}"))
}

fn pct(v: &Value) -> String {
    v.as_f64()
        .map(|p| format!("{p:.1}%"))
        .unwrap_or_else(|| "—".to_owned())
}

/// The digits of an amount shown in any locale ("$1,212.75", "1.212,75 €").
fn digits(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

fn amount_digits(v: &Value) -> String {
    digits(&format!("{:.2}", v.as_f64().expect("amount")))
}

fn table(page: &Value, name: &str, part: &str) -> Vec<Vec<String>> {
    serde_json::from_value(page[name][part].clone()).expect("rows")
}

fn time_of(v: &Value) -> String {
    v.as_str().unwrap_or_default().chars().take(5).collect()
}

/// Waits until the page shows the reports of this period and tour.
async fn wait_loaded(b: &Browser, from: &str, to: &str, tour: Option<i64>) {
    let tour = tour.map(|t| t.to_string()).unwrap_or_default();
    b.wait(&format!("#rp-body[data-loaded='{from}/{to}/{tour}']"))
        .await;
    b.wait("#rp-figures").await;
}

/// Every table on the page against the API's answers for the period.
async fn assert_page_matches_api(
    b: &Browser,
    app: &TestApp,
    token: &str,
    from: &str,
    to: &str,
    tour: Option<i64>,
) -> Value {
    wait_loaded(b, from, to, tour).await;
    let page = b.js(READ_PAGE, vec![]).await.json().clone();
    let daily = report(app, token, "daily", from, to, tour).await;
    let util = report(app, token, "utilization", from, to, tour).await;
    let wait = report(app, token, "waitlist", from, to, tour).await;
    let noshow = report(app, token, "no-shows", from, to, tour).await;
    let names: std::collections::HashMap<i64, String> = util["tours"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            (
                t["tour_id"].as_i64().unwrap_or_default(),
                t["tour_name"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();

    // Bookings and cancellations per day: every day, zeros included.
    let days = daily["days"].as_array().expect("days");
    let expected: Vec<Vec<String>> = days
        .iter()
        .map(|d| {
            vec![
                d["date"].as_str().unwrap_or_default().to_owned(),
                int(&d["bookings"]),
                int(&d["people"]),
                int(&d["cancellations"]),
                int(&d["cancelled_people"]),
            ]
        })
        .collect();
    assert_eq!(table(&page, "daily", "body"), expected, "bookings per day");
    let t = &daily["totals"];
    assert_eq!(
        table(&page, "daily", "foot"),
        vec![vec![
            "Total".to_owned(),
            int(&t["bookings"]),
            int(&t["people"]),
            int(&t["cancellations"]),
            int(&t["cancelled_people"]),
        ]]
    );

    // Revenue per day: revenue and gross per currency, in the API's order.
    let money_row = |revenue: &Value| -> Vec<String> {
        revenue
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|m| [amount_digits(&m["revenue"]), amount_digits(&m["gross"])])
            .collect()
    };
    let shown: Vec<Vec<String>> = table(&page, "revenue", "body")
        .iter()
        .map(|r| {
            let mut row = vec![r[0].clone()];
            row.extend(r[1..].iter().map(|c| digits(c)));
            row
        })
        .collect();
    let expected: Vec<Vec<String>> = days
        .iter()
        .map(|d| {
            let mut row = vec![d["date"].as_str().unwrap_or_default().to_owned()];
            row.extend(money_row(&d["revenue"]));
            row
        })
        .collect();
    assert_eq!(shown, expected, "revenue per day");
    let foot = table(&page, "revenue", "foot");
    assert_eq!(
        foot[0][1..].iter().map(|c| digits(c)).collect::<Vec<_>>(),
        money_row(&t["revenue"])
    );

    // Utilization per tour, and per departure (the heat map's table).
    let occupancy = |o: &Value| {
        vec![
            int(&o["departures"]),
            int(&o["capacity"]),
            int(&o["booked"]),
            int(&o["held"]),
            pct(&o["utilization_percent"]),
        ]
    };
    let expected: Vec<Vec<String>> = util["tours"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let mut row = vec![r["tour_name"].as_str().unwrap_or_default().to_owned()];
            row.extend(occupancy(r));
            row
        })
        .collect();
    assert_eq!(table(&page, "tours", "body"), expected, "utilization");
    let mut total = vec!["Total".to_owned()];
    total.extend(occupancy(&util["totals"]));
    assert_eq!(table(&page, "tours", "foot"), vec![total]);
    let departures = util["departures"].as_array().expect("departures");
    let expected: Vec<Vec<String>> = departures
        .iter()
        .map(|d| {
            vec![
                d["slot_date"].as_str().unwrap_or_default().to_owned(),
                time_of(&d["start_time"]),
                names
                    .get(&d["tour_id"].as_i64().unwrap_or_default())
                    .cloned()
                    .unwrap_or_default(),
                int(&d["capacity"]),
                int(&d["booked"]),
                int(&d["held"]),
                pct(&d["utilization_percent"]),
            ]
        })
        .collect();
    assert_eq!(table(&page, "departures", "body"), expected, "departures");
    // One heat-map square per date and start time with a departure.
    let squares: BTreeSet<String> = departures
        .iter()
        .map(|d| {
            format!(
                "{} {}",
                d["slot_date"].as_str().unwrap_or_default(),
                d["start_time"].as_str().unwrap_or_default()
            )
        })
        .collect();
    let shown: BTreeSet<String> = serde_json::from_value(page["cells"].clone()).expect("cells");
    assert_eq!(shown, squares, "heat map squares");
    let legend = page["legend"].as_str().unwrap_or_default();
    for key in ["No departure", "none booked", "75% or more"] {
        assert!(legend.contains(key), "heat map legend: {legend}");
    }

    // Waitlist and no-shows per tour, with their totals.
    let waitlist = |w: &Value| {
        let mut row: Vec<String> = [
            "joined",
            "waiting",
            "offered",
            "offer_open",
            "converted",
            "expired",
            "cancelled",
        ]
        .iter()
        .map(|k| int(&w[*k]))
        .collect();
        row.push(pct(&w["conversion_percent"]));
        row
    };
    let expected: Vec<Vec<String>> = wait["tours"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let mut row = vec![r["tour_name"].as_str().unwrap_or_default().to_owned()];
            row.extend(waitlist(r));
            row
        })
        .collect();
    assert_eq!(table(&page, "waitlist", "body"), expected, "waitlist");
    let mut total = vec!["Total".to_owned()];
    total.extend(waitlist(&wait["totals"]));
    assert_eq!(table(&page, "waitlist", "foot"), vec![total]);
    let outcomes = |n: &Value| {
        vec![
            int(&n["completed"]),
            int(&n["no_show"]),
            int(&n["unmarked"]),
            pct(&n["no_show_percent"]),
        ]
    };
    let expected: Vec<Vec<String>> = noshow["tours"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let mut row = vec![r["tour_name"].as_str().unwrap_or_default().to_owned()];
            row.extend(outcomes(r));
            row
        })
        .collect();
    assert_eq!(table(&page, "noshows", "body"), expected, "no-shows");
    let mut total = vec!["Total".to_owned()];
    total.extend(outcomes(&noshow["totals"]));
    assert_eq!(table(&page, "noshows", "foot"), vec![total]);

    // The summary figures.
    let figures: Vec<Vec<String>> =
        serde_json::from_value(page["figures"].clone()).expect("figures");
    let figure = |name: &str| -> String {
        figures
            .iter()
            .find(|f| f[0] == name)
            .map(|f| f[1].clone())
            .unwrap_or_else(|| panic!("no figure {name}: {figures:?}"))
    };
    assert_eq!(figure("Bookings made"), int(&t["bookings"]));
    assert_eq!(figure("Cancellations"), int(&t["cancellations"]));
    for m in t["revenue"].as_array().into_iter().flatten() {
        let name = format!("Revenue ({})", m["currency"].as_str().unwrap_or_default());
        assert_eq!(digits(&figure(&name)), amount_digits(&m["revenue"]));
    }
    assert_eq!(
        figure("Utilization"),
        pct(&util["totals"]["utilization_percent"])
    );
    assert_eq!(
        figure("Waitlist conversion"),
        pct(&wait["totals"]["conversion_percent"])
    );
    assert_eq!(
        figure("No-show rate"),
        pct(&noshow["totals"]["no_show_percent"])
    );

    // Every section: a CSV download; every chart an image with a name.
    let csv: Vec<(String, String)> = serde_json::from_value(page["csv"].clone()).expect("csv");
    assert_eq!(
        csv.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
        SECTIONS
    );
    assert!(
        csv.iter().all(|(_, text)| text.starts_with("Download CSV")),
        "{csv:?}"
    );
    let charts = page["charts"].as_array().expect("charts");
    for chart in charts {
        assert_eq!(chart["role"], "img", "{chart}");
        let label = chart["label"].as_str().unwrap_or_default();
        assert!(!label.is_empty(), "a chart without a name: {chart}");
        assert_eq!(chart["title"], json!(label), "{chart}");
    }
    page
}

async fn the_reports_page_shows_the_numbers_the_api_gives(app: TestApp) {
    let Some(b) = Browser::start(1280, 1600).await else {
        return;
    };
    let s = play(&app).await;
    app.ctx
        .accounts()
        .ensure_admin(ADMIN, PASSWORD, "Report Reader")
        .await
        .expect("admin");
    let token = s.f.admin.clone();
    // No file lands on the machine when the test downloads a CSV.
    let _ = b
        .d()
        .cdp()
        .send_raw("Browser.setDownloadBehavior", json!({"behavior": "deny"}))
        .await;
    b.record_csp_violations().await;
    log_in_to_console(&b, &app, ADMIN, PASSWORD).await;
    b.click("[data-tab='reports']").await;

    // The default period: the last 30 days to the next 30, as the browser
    // counts days (today, or yesterday if midnight passed since the page
    // was drawn).
    b.wait("#rp-from").await;
    let period = b
        .js(
            "const p = (n) => String(n).padStart(2, '0');
             const f = (d) => `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
             const around = (t) => [f(new Date(t.getFullYear(), t.getMonth(), t.getDate() - 30)),
                                    f(new Date(t.getFullYear(), t.getMonth(), t.getDate() + 30))];
             const now = new Date();
             return [document.getElementById('rp-from').value, document.getElementById('rp-to').value,
                     around(now), around(new Date(now.getTime() - 5 * 60 * 1000))];",
            vec![],
        )
        .await
        .json()
        .clone();
    let shown = vec![period[0].clone(), period[1].clone()];
    assert!(
        shown == period[2].as_array().cloned().unwrap_or_default()
            || shown == period[3].as_array().cloned().unwrap_or_default(),
        "the default period: {period}"
    );
    let period: Vec<String> = serde_json::from_value(json!(shown)).expect("period");
    let page = assert_page_matches_api(&b, &app, &token, &period[0], &period[1], None).await;
    let charts: Vec<String> = page["charts"]
        .as_array()
        .expect("charts")
        .iter()
        .map(|c| c["section"].as_str().unwrap_or_default().to_owned())
        .collect();
    // Two currencies: a revenue chart each.
    assert_eq!(
        charts,
        [
            "rp-daily",
            "rp-revenue",
            "rp-revenue",
            "rp-tours",
            "rp-heatmap",
            "rp-waitlist",
            "rp-noshows"
        ]
    );
    b.screenshot("reports", app.backend).await;
    for section in ["rp-tours", "rp-waitlist"] {
        b.js(
            "document.getElementById(arguments[0]).scrollIntoView();",
            vec![json!(section)],
        )
        .await;
        b.screenshot(&format!("reports-{}", &section[3..]), app.backend)
            .await;
    }

    // The story's period through the form: the hand-worked figures show.
    let (from, to) = (s.day(-1), s.f.dates[9].clone());
    b.js(
        "document.getElementById('rp-from').value = arguments[0];
         document.getElementById('rp-to').value = arguments[1];",
        vec![json!(from), json!(to)],
    )
    .await;
    b.click("#rp-form button[type='submit']").await;
    let page = assert_page_matches_api(&b, &app, &token, &from, &to, None).await;
    let text = b.wait_text("#rp-figures", "Bookings made").await;
    assert!(text.contains("Bookings made9"), "{text}");
    assert!(text.contains("Utilization13.6%"), "{text}");
    assert!(text.contains("Waitlist conversion33.3%"), "{text}");
    assert!(text.contains("No-show rate33.3%"), "{text}");
    let foot = table(&page, "revenue", "foot");
    assert_eq!(
        foot[0][1..].iter().map(|c| digits(c)).collect::<Vec<_>>(),
        ["11000", "33000", "78275", "121275"],
        "EUR then USD: revenue and gross"
    );

    // The daily CSV, read back as the page hands it over.
    b.js(
        "window.__csv = [];
         const make = URL.createObjectURL.bind(URL);
         URL.createObjectURL = (blob) => { blob.text().then((t) => window.__csv.push(t)); return make(blob); };",
        vec![],
    )
    .await;
    b.click("[data-csv='rp-daily']").await;
    b.wait_until("window.__csv.length === 1").await;
    let csv = b.js("return window.__csv[0];", vec![]).await;
    let csv = csv.json().as_str().unwrap_or_default().to_owned();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "date,bookings,people,cancellations,cancelled_people"
    );
    assert!(
        lines.contains(&format!("{},6,14,1,4", s.day(0)).as_str()),
        "{csv}"
    );
    assert!(
        lines.contains(&format!("{},1,1,1,3", s.day(2)).as_str()),
        "{csv}"
    );
    assert_eq!(lines.len(), 1 + daily_len(&from, &to));

    // One tour, chosen in the form.
    b.js(
        "document.getElementById('rp-tour').value = String(arguments[0]);",
        vec![json!(s.cruise)],
    )
    .await;
    b.click("#rp-form button[type='submit']").await;
    let page = assert_page_matches_api(&b, &app, &token, &from, &to, Some(s.cruise)).await;
    assert_eq!(
        table(&page, "tours", "body"),
        vec![vec![
            "Harbour Cruise".to_owned(),
            "3".to_owned(),
            "30".to_owned(),
            "1".to_owned(),
            "0".to_owned(),
            "3.3%".to_owned()
        ]]
    );
    b.wait_text("#rp-scope", "Harbour Cruise").await;
    // A reversed period: the API's error, no stale figures.
    b.js(
        "document.getElementById('rp-from').value = arguments[1];
         document.getElementById('rp-to').value = arguments[0];",
        vec![json!(from), json!(to)],
    )
    .await;
    b.click("#rp-form button[type='submit']").await;
    b.wait_text("#rp-error", "end_date").await;
    let left = b
        .js(
            "return document.querySelectorAll('#rp-body svg, #rp-body table').length;",
            vec![],
        )
        .await;
    assert_eq!(left.json(), &json!(0));
    let violations = b.csp_violations().await;
    assert!(violations.is_empty(), "CSP violations: {violations:?}");

    // A tour name shaped like markup is shown as text in the tables and the
    // charts' names, and never runs; so is a hash-route parameter.
    app.put_as(
        &token,
        &format!("/api/calendar/admin/tours/{}", s.cruise),
        &json!({ "name": XSS }),
    )
    .await
    .assert_status(200);
    b.goto(&app.url(&format!("/admin#reports?from={from}&to={to}")))
        .await;
    wait_loaded(&b, &from, &to, None).await;
    b.wait_text("#rp-tours tbody", XSS).await;
    b.wait_text("#rp-heatmap tbody", XSS).await;
    let label = b
        .js(
            "return document.querySelector('#rp-tours svg').getAttribute('aria-label');",
            vec![],
        )
        .await;
    assert!(
        label.json().as_str().is_some_and(|l| l.contains(XSS)),
        "{:?}",
        label.json()
    );
    assert_not_injected(&b).await;
    let hostile = "%22%3E%3Cimg%20src%3Dx%20onerror%3Dwindow.__x%3D1%3E";
    b.goto(&app.url(&format!(
        "/admin#reports?from={hostile}&to={to}&tour={hostile}"
    )))
    .await;
    b.wait_text("#rp-error", "query string").await;
    assert_not_injected(&b).await;
    let violations = b.csp_violations().await;
    assert!(violations.is_empty(), "CSP violations: {violations:?}");
    b.quit().await;
}

/// Nothing injected ran or became markup in the console.
async fn assert_not_injected(b: &Browser) {
    let seen = b
        .js(
            "return { ran: window.__x !== undefined, \
                      images: document.querySelectorAll('#main img').length, \
                      handlers: [...document.querySelectorAll('#main *')] \
                        .filter((e) => [...e.attributes].some((a) => a.name.startsWith('on'))).length };",
            vec![],
        )
        .await
        .json()
        .clone();
    assert_eq!(seen, json!({"ran": false, "images": 0, "handlers": 0}));
}

fn daily_len(from: &str, to: &str) -> usize {
    let from: chrono::NaiveDate = from.parse().expect("date");
    let to: chrono::NaiveDate = to.parse().expect("date");
    (to - from).num_days() as usize + 1
}
