//! Customer email over a real SMTP conversation (#15): an SMTP server runs
//! inside the test process (mailin-embedded) and the tests assert what
//! arrives: recipients, subject, both parts, the Message-ID, and links that
//! work when followed against the running server. Without SMTP the messages
//! are kept for the console's preview; a failing server is retried and then
//! dead-lettered.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use mail_parser::{MessageParser, MimeHeaders};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{TestApp, paths};
use crate::smtp_sink::{Received, SmtpSink};

both_backends!(
    a_booking_confirmation_arrives_with_both_parts_and_a_working_link,
    without_smtp_messages_are_kept_for_preview,
    an_unreachable_server_is_retried_then_dead_lettered,
    a_refused_recipient_is_dead_lettered_at_once,
    a_cancelled_departure_apologises_and_offers_other_departures,
    a_waitlist_offer_says_how_many_and_until_when,
    the_console_lists_and_previews_messages,
    a_reminder_is_sent_once_before_the_departure,
    a_guest_claims_a_waitlist_offer_from_the_email,
    confirmed_changed_cancelled_and_expired_each_get_their_email,
    joining_again_emails_the_entrys_owner_its_link,
);

/// The parts of a received message.
pub struct Parsed {
    pub subject: String,
    /// The attached calendar file, if any.
    pub ics: Option<String>,
    pub text: String,
    pub html: String,
    pub message_id: String,
    pub content_types: Vec<String>,
}

pub fn parse(m: &Received) -> Parsed {
    let p = MessageParser::default()
        .parse(&m.data)
        .expect("a MIME message");
    let ics = p
        .attachments()
        .find(|a| {
            a.content_type()
                .is_some_and(|ct| ct.subtype() == Some("calendar"))
        })
        .and_then(|a| a.text_contents().map(str::to_owned));
    Parsed {
        ics,
        subject: p.subject().unwrap_or_default().to_owned(),
        text: p.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
        html: p.body_html(0).map(|t| t.into_owned()).unwrap_or_default(),
        message_id: p.message_id().unwrap_or_default().to_owned(),
        content_types: p
            .parts
            .iter()
            .filter_map(|part| part.content_type())
            .map(|ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or_default()))
            .collect(),
    }
}

/// The test's app stopped (its jobs would deliver the outbox without SMTP)
/// and a server with SMTP started on its database.
async fn spawn_with_smtp(app: &mut TestApp, sink: &SmtpSink) -> TestApp {
    app.stop().await;
    let url = sink.url();
    TestApp::spawn_on(app.backend, &app.database.url, |c| {
        c.smtp_url = Some(url);
        c.mail_from = "Spirit Tours <bookings@spirit.test>".into();
        c.operator_name = "Spirit Tours".into();
        c.support_email = Some("help@spirit.test".into());
    })
    .await
}

async fn book(app: &TestApp, f: &crate::helpers::Fixture, email: &str, adults: i64) -> Value {
    let r = app
        .create_booking(
            &json!({"tour_id": f.tour, "booking_slot_id": f.slots[0], "num_adults": adults,
                    "num_children": 1, "customer_name": "Mail Maria", "customer_email": email}),
        )
        .await;
    r.assert_status(201);
    r.body
}

async fn messages(app: &TestApp, admin: &str, query: &str) -> Vec<Value> {
    let r = app
        .get_as(admin, &format!("/api/calendar/admin/messages?{query}"))
        .await;
    r.assert_status(200);
    r.body.as_array().cloned().unwrap_or_default()
}

/// Polls the admin list until a message to `to` of `kind` shows `status`.
async fn wait_for_message(app: &TestApp, admin: &str, to: &str, kind: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = messages(app, admin, &format!("email={to}")).await;
        if let Some(m) = list
            .iter()
            .find(|m| m["kind"] == kind && m["status"] == status)
        {
            return m.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no {kind} message to {to} became {status}: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_booking_confirmation_arrives_with_both_parts_and_a_working_link(app: TestApp) {
    let f = app.fixture(10).await;
    let sink = SmtpSink::start();
    let mut app = app;
    let mailer = spawn_with_smtp(&mut app, &sink).await;
    let booking = book(&mailer, &f, "maria@example.com", 2).await;
    let reference = booking["booking_reference"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let got = sink
        .wait_for("maria@example.com", "We have your booking")
        .await;
    assert_eq!(got.from, "bookings@spirit.test");
    let m = parse(&got);
    assert!(
        m.content_types.iter().any(|c| c == "multipart/alternative"),
        "{:?}",
        m.content_types
    );
    assert!(m.content_types.iter().any(|c| c == "text/plain"));
    assert!(m.content_types.iter().any(|c| c == "text/html"));
    assert!(
        m.message_id.starts_with("tourdesk-message-"),
        "{}",
        m.message_id
    );
    for part in [&m.text, &m.html] {
        assert!(part.contains(&reference), "the reference is in every part");
        assert!(part.contains("Mail Maria"));
        assert!(part.contains("2 adults, 1 child"), "{part}");
        assert!(part.contains("Spirit Tours"));
    }
    // The calendar file is attached, parsed back by a real parser.
    let ics = m.ics.as_deref().expect("an .ics attachment");
    let cal: icalendar::Calendar = ics.parse().expect("the attachment parses as iCalendar");
    assert!(!cal.components.is_empty());
    assert!(
        ics.contains("UID:booking-") && ics.contains("DTSTART;TZID="),
        "{ics}"
    );
    // The departure's local time with its zone named.
    assert!(
        m.text.contains("(UTC") || m.text.contains('('),
        "{}",
        m.text
    );
    // Escaped in HTML, never raw markup from a customer's name.
    assert!(!m.html.contains("<script"));
    // The manage link works when followed.
    let link = regex::Regex::new(r"https?://[^\s]+/manage\?reference=[^\s&]+&email=[^\s]+")
        .expect("regex")
        .find(&m.text)
        .map(|l| l.as_str().to_owned())
        .expect("a manage link in the text part");
    let path = link
        .split_once("/manage")
        .map(|(_, p)| format!("/manage{p}"))
        .unwrap_or_default();
    let page = mailer
        .client
        .get(mailer.url(&path))
        .send()
        .await
        .expect("GET the link");
    assert_eq!(page.status(), 200);
    let query = path
        .split_once('?')
        .map(|(_, q)| q.to_owned())
        .unwrap_or_default();
    let pairs: std::collections::HashMap<String, String> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.replace("%40", "@").replace("%2B", "+")))
        .collect();
    let lookup = mailer
        .get(&format!(
            "/api/calendar/bookings/reference/{}?email={}",
            pairs["reference"], pairs["email"]
        ))
        .await;
    lookup.assert_status(200);
    assert_eq!(lookup.body["booking_reference"], reference.as_str());
    // Recorded as sent, once.
    let admin = mailer.admin().await;
    let sent = wait_for_message(
        &mailer,
        &admin,
        "maria@example.com",
        "booking_created",
        "sent",
    )
    .await;
    assert_eq!(sent["attempts"], 1);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(sink.count_to("maria@example.com"), 1, "sent exactly once");
}

async fn without_smtp_messages_are_kept_for_preview(app: TestApp) {
    let f = app.fixture(10).await;
    book(&app, &f, "held@example.com", 1).await;
    let m = wait_for_message(
        &app,
        &f.admin,
        "held@example.com",
        "booking_created",
        "held",
    )
    .await;
    let id = m["id"].as_i64().expect("id");
    let one = app
        .get_as(&f.admin, &format!("/api/calendar/admin/messages/{id}"))
        .await;
    one.assert_status(200);
    assert!(
        one.body["text_body"]
            .as_str()
            .is_some_and(|t| t.contains("Mail Maria"))
    );
    let html = app
        .get_as(&f.admin, &format!("/api/calendar/admin/messages/{id}/html"))
        .await;
    html.assert_status(200);
    assert!(html.text.contains("<html"));
    let csp = html.headers["content-security-policy"]
        .to_str()
        .unwrap_or_default();
    assert!(
        csp.contains("sandbox") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    app.post_as(
        &f.admin,
        &format!("/api/calendar/admin/messages/{id}/retry"),
        &json!({}),
    )
    .await
    .assert_error(409, "email_off");
    // Customers cannot read them.
    let customer = app.customer("nosy@example.com").await;
    app.get_as(&customer, "/api/calendar/admin/messages")
        .await
        .assert_status(403);
    app.get("/api/calendar/admin/messages")
        .await
        .assert_status(401);
}

async fn an_unreachable_server_is_retried_then_dead_lettered(app: TestApp) {
    let f = app.fixture(10).await;
    // A port nothing listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let mut app = app;
    app.stop().await;
    let mailer = TestApp::spawn_on(app.backend, &app.database.url, |c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{port}?tls=none"));
        c.email_max_attempts = 2;
    })
    .await;
    let started = Instant::now();
    book(&mailer, &f, "later@example.com", 1).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a failing SMTP server never slows a booking"
    );
    let first = wait_for_message(
        &mailer,
        &f.admin,
        "later@example.com",
        "booking_created",
        "queued",
    )
    .await;
    // Wait for the first failed attempt, then move past its backoff.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = messages(&mailer, &f.admin, "email=later@example.com").await;
        let m = list
            .iter()
            .find(|m| m["id"] == first["id"])
            .cloned()
            .unwrap_or_default();
        if m["attempts"] == 1 && m["last_error"].is_string() {
            break;
        }
        assert!(Instant::now() < deadline, "no failed attempt recorded: {m}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    mailer.clock.advance(chrono::Duration::minutes(2));
    let dead = wait_for_message(
        &mailer,
        &f.admin,
        "later@example.com",
        "booking_created",
        "dead",
    )
    .await;
    assert_eq!(dead["attempts"], 2);
    assert!(dead["last_error"].as_str().is_some_and(|e| !e.is_empty()));
    // An admin's retry puts it back in the queue with fresh attempts.
    let r = mailer
        .post_as(
            &f.admin,
            &format!("/api/calendar/admin/messages/{}/retry", dead["id"]),
            &json!({}),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["status"], "queued");
    assert_eq!(r.body["attempts"], 0);
    mailer
        .post_as(
            &f.admin,
            &format!("/api/calendar/admin/messages/{}/retry", dead["id"]),
            &json!({}),
        )
        .await
        .assert_error(409, "not_retryable");
}

async fn a_refused_recipient_is_dead_lettered_at_once(app: TestApp) {
    let f = app.fixture(10).await;
    let sink = SmtpSink::start();
    let mut app = app;
    let mailer = spawn_with_smtp(&mut app, &sink).await;
    book(&mailer, &f, "refuse-me@example.com", 1).await;
    let dead = wait_for_message(
        &mailer,
        &f.admin,
        "refuse-me@example.com",
        "booking_created",
        "dead",
    )
    .await;
    assert_eq!(dead["attempts"], 1, "a permanent refusal is not retried");
}

async fn a_cancelled_departure_apologises_and_offers_other_departures(app: TestApp) {
    let f = app.fixture(10).await;
    let sink = SmtpSink::start();
    let mut app = app;
    let mailer = spawn_with_smtp(&mut app, &sink).await;
    book(&mailer, &f, "sorry@example.com", 2).await;
    sink.wait_for("sorry@example.com", "We have your booking")
        .await;
    mailer
        .post_as(
            &f.admin,
            &format!("/api/calendar/admin/slots/{}/cancel", f.slots[0]),
            &json!({"reason": "Storm warning"}),
        )
        .await
        .assert_status(200);
    let got = sink.wait_for("sorry@example.com", "is cancelled").await;
    let m = parse(&got);
    assert!(m.subject.starts_with("We are sorry"), "{}", m.subject);
    assert!(m.text.contains("Storm warning"), "{}", m.text);
    assert!(
        m.text.contains(&format!("/tours/{}?date=", f.tour)),
        "other departures with rebook links: {}",
        m.text
    );
    assert!(m.html.contains("We apologise"));
}

async fn a_waitlist_offer_says_how_many_and_until_when(app: TestApp) {
    let f = app.fixture(2).await;
    let sink = SmtpSink::start();
    let mut app = app;
    let mailer = spawn_with_smtp(&mut app, &sink).await;
    let got = offer_for(&mailer, &sink, &f, "Wanda Wait", "wanda@example.com").await;
    let m = parse(&got);
    assert!(m.text.contains("2 people"), "{}", m.text);
    assert!(m.text.contains("held for you until"), "{}", m.text);
    // The claim link carries a manage token minted when the email was sent
    // (the stored message keeps a placeholder, never the token).
    let (entry, token) = claim_link(&m.text);
    let stored = messages(&mailer, &f.admin, "email=wanda@example.com").await;
    let offer = stored
        .iter()
        .find(|m| m["kind"] == "waitlist_offer")
        .expect("stored");
    let body = mailer
        .get_as(
            &f.admin,
            &format!("/api/calendar/admin/messages/{}", offer["id"]),
        )
        .await;
    assert!(!body.text.contains(&token), "the token is not stored");
    // Followed without an account: the entry opens, the spots are claimed.
    let seen = mailer
        .send(
            reqwest::Method::GET,
            &paths::waitlist_entry(entry),
            None,
            &[("x-manage-token", &token)],
        )
        .await;
    seen.assert_status(200);
    assert_eq!(seen.body["status"], "notified");
    let claimed = mailer
        .send(
            reqwest::Method::POST,
            &paths::waitlist_claim(entry),
            Some(&json!({"num_adults": 2})),
            &[("x-manage-token", &token)],
        )
        .await;
    claimed.assert_status(201);
    assert_eq!(claimed.body["customer_email"], "wanda@example.com");
}

/// Fills the first departure (capacity 2) with one booking, puts `email` on
/// its date's waitlist for 2 people, cancels the booking, and returns the
/// offer email the SMTP server received.
async fn offer_for(
    mailer: &TestApp,
    sink: &SmtpSink,
    f: &crate::helpers::Fixture,
    name: &str,
    email: &str,
) -> Received {
    let first = book(mailer, f, "full@example.com", 1).await;
    let r = mailer
        .post(
            paths::WAITLIST,
            &json!({"tour_id": f.tour, "requested_date": first["tour_date"], "num_people": 2,
                    "customer_name": name, "customer_email": email}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    sink.wait_for(email, "You are on the waitlist").await;
    mailer
        .delete_as(
            &f.admin,
            &format!("/api/calendar/bookings/{}", first["id"]),
            Some(&json!({"cancellation_reason": "changed plans"})),
        )
        .await
        .assert_status(200);
    sink.wait_for(email, "Spots are held for you").await
}

/// #13: a join for an email that already waits answers the caller as a
/// join (no token) and emails the entry's owner a working link to it, so a
/// customer who joined twice still reaches their place, and nobody else can.
async fn joining_again_emails_the_entrys_owner_its_link(app: TestApp) {
    let f = app.fixture(2).await;
    let sink = SmtpSink::start();
    let mut app = app;
    let mailer = spawn_with_smtp(&mut app, &sink).await;
    let first = book(&mailer, &f, "full@example.com", 1).await;
    let body = json!({"tour_id": f.tour, "requested_date": first["tour_date"], "num_people": 2,
                      "customer_name": "Twice Tina", "customer_email": "tina@example.com"});
    let joined = mailer.post(paths::WAITLIST, &body).await;
    joined.assert_status(201);
    let id = joined.body["id"].as_i64().expect("id");
    sink.wait_for("tina@example.com", "You are on the waitlist")
        .await;
    let again = mailer.post(paths::WAITLIST, &body).await;
    again.assert_status(201);
    assert!(again.body.get("manage_token").is_none(), "{}", again.body);
    let got = sink
        .wait_for("tina@example.com", "You are already on the waitlist")
        .await;
    let m = parse(&got);
    assert!(
        m.text.contains("your place in the queue is kept"),
        "{}",
        m.text
    );
    assert!(m.html.contains("See your waitlist entry"), "{}", m.html);
    let (entry, token) = claim_link(&m.text);
    assert_eq!(entry, id, "the link opens the existing entry");
    let seen = mailer
        .send(
            reqwest::Method::GET,
            &paths::waitlist_entry(entry),
            None,
            &[("x-manage-token", &token)],
        )
        .await;
    seen.assert_status(200);
    assert_eq!(seen.body["status"], "active");
    assert_eq!(seen.body["customer_name"], "Twice Tina");
    // With that link, the owner is told plainly.
    mailer
        .send(
            reqwest::Method::POST,
            paths::WAITLIST,
            Some(&body),
            &[("x-manage-token", &token)],
        )
        .await
        .assert_error(409, "already_waitlisted");
    // Only the owner's inbox heard of it: the joined email and this one.
    assert_eq!(
        sink.count_to("tina@example.com"),
        2,
        "{:?}",
        sink.subjects()
    );
}

/// The waitlist entry id and token of the claim link in an email's text.
pub fn claim_link(text: &str) -> (i64, String) {
    let re = regex::Regex::new(r"/manage\?waitlist=(\d+)#token=(tdm_[0-9a-f]+)").expect("regex");
    let c = re
        .captures(text)
        .unwrap_or_else(|| panic!("no claim link in: {text}"));
    (c[1].parse().expect("id"), c[2].to_owned())
}

/// Done-when of #15: a guest joins a waitlist, receives the offer email,
/// follows its link in a real browser and claims the held spots without an
/// account, driven only by the email.
async fn a_guest_claims_a_waitlist_offer_from_the_email(app: TestApp) {
    use crate::browser::Browser;
    let Some(b) = Browser::start(1280, 1400).await else {
        return;
    };
    let f = app.fixture(2).await;
    let sink = SmtpSink::start();
    let mut app = app;
    let mailer = spawn_with_smtp(&mut app, &sink).await;
    let got = offer_for(&mailer, &sink, &f, "Gina Guest", "gina@example.com").await;
    let m = parse(&got);
    let link = regex::Regex::new(r"https?://\S+/manage\?waitlist=\d+#token=tdm_[0-9a-f]+")
        .expect("regex")
        .find(&m.text)
        .map(|l| l.as_str().to_owned())
        .expect("a claim link");
    b.goto(&link).await;
    b.wait_text("#booking", "held for you until").await;
    b.click("#claim button[type='submit']").await;
    let text = b.wait_text("#booking", "Booked.").await;
    let list = mailer.get_as(&f.admin, paths::ADMIN_BOOKINGS).await;
    let gina = list.body["bookings"]
        .as_array()
        .or_else(|| list.body["items"].as_array())
        .into_iter()
        .flatten()
        .find(|b| b["customer_email"] == "gina@example.com")
        .cloned();
    let reference = gina
        .as_ref()
        .and_then(|g| g["booking_reference"].as_str())
        .expect("Gina's booking exists");
    assert!(
        text.contains(reference),
        "the page shows {reference}: {text}"
    );
}

/// The console's Messages page, in a real browser: the held confirmation is
/// listed, and opening it shows the text part and the HTML preview.
async fn the_console_lists_and_previews_messages(app: TestApp) {
    use crate::browser::{Browser, log_in_to_console};
    let Some(b) = Browser::start(1280, 1400).await else {
        return;
    };
    let f = app.fixture(10).await;
    book(&app, &f, "preview@example.com", 1).await;
    wait_for_message(
        &app,
        &f.admin,
        "preview@example.com",
        "booking_created",
        "held",
    )
    .await;
    app.ctx
        .accounts()
        .ensure_admin("boss@example.com", "admin password 123", "Boss")
        .await
        .expect("admin");
    log_in_to_console(&b, &app, "boss@example.com", "admin password 123").await;
    b.click("[data-tab='messages']").await;
    b.wait_text("#list", "preview@example.com").await;
    b.wait_text("#list", "not sent: email is off").await;
    b.click("#list a[href^='#message/']").await;
    b.wait_text("#view", "Mail Maria").await;
    b.wait("iframe.email-preview").await;
    let loaded = b
        .js(
            "const f = document.querySelector('iframe.email-preview'); \
             return f.getAttribute('src') + '|' + f.hasAttribute('sandbox');",
            vec![],
        )
        .await;
    let text = loaded.json().as_str().unwrap_or_default().to_owned();
    assert!(text.ends_with("/html|true"), "{text}");
}

/// `REMINDER_HOURS` before the departure its customers get one reminder;
/// a second round sends none, and a booking made inside the window gets none.
async fn a_reminder_is_sent_once_before_the_departure(app: TestApp) {
    let f = app.fixture(10).await;
    let early = book(&app, &f, "early@example.com", 1).await;
    let starts_at = app.slot(f.tour, f.slots[0]).await["starts_at"]
        .as_str()
        .and_then(|s| s.parse::<chrono::DateTime<chrono::Utc>>().ok())
        .or_else(|| {
            early["starts_at"]
                .as_str()
                .and_then(|s| s.parse::<chrono::DateTime<chrono::Utc>>().ok())
        });
    let admin = tourdesk_service::Admin::system();
    let mail = app.ctx.mail();
    assert_eq!(
        mail.queue_reminders(&admin, 48).await.expect("round"),
        0,
        "too early"
    );
    // 47 hours before the departure (bookings close 24 hours before it).
    let starts_at = match starts_at {
        Some(t) => t,
        None => {
            let date = early["tour_date"].as_str().unwrap_or_default();
            let time = early["tour_time"].as_str().unwrap_or("09:00:00");
            format!("{date}T{time}Z").parse().expect("a start time")
        }
    };
    app.clock.freeze(starts_at - chrono::Duration::hours(47));
    // Booked inside the window: no reminder for this one.
    let late = app
        .create_booking(
            &json!({"tour_id": f.tour, "booking_slot_id": f.slots[0], "num_adults": 1,
                    "customer_name": "Late Larry", "customer_email": "late@example.com"}),
        )
        .await;
    assert_eq!(late.status, 201, "{}", late.body);
    assert_eq!(mail.queue_reminders(&admin, 48).await.expect("round"), 1);
    assert_eq!(
        mail.queue_reminders(&admin, 48).await.expect("round"),
        0,
        "sent once"
    );
    let m = wait_for_message(
        &app,
        &f.admin,
        "early@example.com",
        "booking_reminder",
        "held",
    )
    .await;
    assert!(
        m["subject"]
            .as_str()
            .is_some_and(|s| s.starts_with("See you soon")),
        "{m}"
    );
    let none = messages(&app, &f.admin, "email=late@example.com").await;
    assert!(
        none.iter().all(|m| m["kind"] != "booking_reminder"),
        "{none:?}"
    );
}

/// The rest of the message types, over SMTP: confirmed by an admin,
/// changed (old → new), cancelled by the customer (with the refund), and a
/// held offer that expired.
async fn confirmed_changed_cancelled_and_expired_each_get_their_email(app: TestApp) {
    let f = app.fixture(2).await;
    let sink = SmtpSink::start();
    let mut app = app;
    let mailer = spawn_with_smtp(&mut app, &sink).await;
    let b = book(&mailer, &f, "life@example.com", 1).await;
    let id = b["id"].as_i64().expect("id");
    let token = b["manage_token"].as_str().unwrap_or_default().to_owned();
    sink.wait_for("life@example.com", "We have your booking")
        .await;
    mailer
        .post_as(
            &f.admin,
            &paths::admin_booking_action(id, "status"),
            &json!({"status": "confirmed"}),
        )
        .await
        .assert_status(200);
    let confirmed = parse(
        &sink
            .wait_for("life@example.com", "Your booking is confirmed")
            .await,
    );
    assert!(confirmed.text.contains("confirmed"));
    assert!(
        confirmed
            .ics
            .as_deref()
            .is_some_and(|i| i.contains("STATUS:CONFIRMED"))
    );
    // Moved to the next departure: the email shows before and now.
    mailer
        .send(
            reqwest::Method::PUT,
            &paths::booking(id),
            Some(&json!({"new_slot_id": f.slots[1]})),
            &[("x-manage-token", &token)],
        )
        .await
        .assert_status(200);
    let changed = parse(
        &sink
            .wait_for("life@example.com", "Your booking has changed")
            .await,
    );
    assert!(
        changed.text.contains("Before:") && changed.text.contains("Now:"),
        "{}",
        changed.text
    );
    mailer
        .send(
            reqwest::Method::DELETE,
            &paths::booking(id),
            Some(&json!({"cancellation_reason": "sick"})),
            &[("x-manage-token", &token)],
        )
        .await
        .assert_status(200);
    let cancelled = parse(
        &sink
            .wait_for("life@example.com", "Your booking is cancelled")
            .await,
    );
    assert!(cancelled.text.contains("sick"), "{}", cancelled.text);
    assert!(
        cancelled
            .ics
            .as_deref()
            .is_some_and(|i| i.contains("METHOD:CANCEL"))
    );
    // A held offer that nobody claims expires, and its customer is told.
    offer_for(&mailer, &sink, &f, "Slow Sue", "sue@example.com").await;
    mailer.clock.advance(chrono::Duration::hours(25));
    mailer
        .ctx
        .waitlist()
        .expire_due()
        .await
        .expect("expiry round");
    let expired = parse(
        &sink
            .wait_for("sue@example.com", "Your held spots have expired")
            .await,
    );
    assert!(expired.text.contains("next person"), "{}", expired.text);
}
