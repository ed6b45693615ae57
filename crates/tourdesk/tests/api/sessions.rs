//! Sessions and tokens: the web UI's session lives in an `HttpOnly;
//! SameSite=Strict` cookie that scripts cannot read, state-changing requests
//! made with it need the CSRF token, logout ends it, "log out everywhere"
//! ends them all; bearer tokens keep working for API clients.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use tourdesk_store::Backend;

use crate::helpers::{TestApp, TestResponse, paths};

both_backends!(
    web_login_sets_an_httponly_strict_cookie_and_a_csrf_token,
    cookie_requests_that_change_state_need_the_csrf_token,
    logout_ends_the_cookie_session_and_clears_the_cookies,
    log_out_everywhere_ends_every_session_of_the_user,
    a_stale_cookie_makes_a_guest_not_an_error,
    the_session_cookie_is_secure_behind_an_https_proxy,
    no_manage_token_or_idempotency_key_is_kept_in_plaintext,
    another_guest_cannot_replay_a_guest_idempotency_key,
    a_lookup_revokes_the_links_earlier_lookups_issued,
    manage_tokens_expire_a_configured_time_after_the_departure,
    an_id_that_is_not_yours_answers_like_one_that_does_not_exist,
);

const PASSWORD: &str = "correct horse battery";

/// The `Set-Cookie` header for `name`.
fn set_cookie<'a>(r: &'a TestResponse, name: &str) -> &'a str {
    r.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {:?}", r.headers))
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_owned())
        .unwrap_or_default()
}

struct WebSession {
    session: String,
    csrf: String,
    cookie_header: String,
}

async fn web_login(app: &TestApp, email: &str) -> (TestResponse, WebSession) {
    let r = app
        .post(
            "/api/auth/session",
            &json!({"email": email, "password": PASSWORD}),
        )
        .await;
    r.assert_status(200);
    let session = cookie_value(set_cookie(&r, "tourdesk_session"));
    let csrf = cookie_value(set_cookie(&r, "tourdesk_csrf"));
    let cookie_header = format!("tourdesk_session={session}; tourdesk_csrf={csrf}");
    (
        r,
        WebSession {
            session,
            csrf,
            cookie_header,
        },
    )
}

async fn with_cookie(
    app: &TestApp,
    s: &WebSession,
    method: Method,
    path: &str,
    body: Option<&Value>,
    csrf: Option<&str>,
) -> TestResponse {
    let mut headers = vec![("cookie", s.cookie_header.as_str())];
    if let Some(c) = csrf {
        headers.push(("x-csrf-token", c));
    }
    app.send(method, path, body, &headers).await
}

async fn web_login_sets_an_httponly_strict_cookie_and_a_csrf_token(app: TestApp) {
    app.customer("ada@example.com").await;
    let (r, s) = web_login(&app, "ada@example.com").await;
    let session = set_cookie(&r, "tourdesk_session");
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Strict"), "{session}");
    assert!(session.contains("Path=/"), "{session}");
    assert!(!session.contains("Secure"), "plain HTTP: {session}");
    let csrf = set_cookie(&r, "tourdesk_csrf");
    assert!(!csrf.contains("HttpOnly"), "the page must read it: {csrf}");
    assert!(csrf.contains("SameSite=Strict"), "{csrf}");
    // The body carries no session secret a script could keep.
    assert!(r.body.get("access_token").is_none(), "{}", r.text);
    assert!(!r.text.contains(&s.session), "{}", r.text);
    assert_eq!(r.body["csrf_token"], s.csrf.as_str());
    assert_eq!(r.body["user"]["email"], "ada@example.com");
    assert_ne!(s.csrf, s.session);

    let me = with_cookie(&app, &s, Method::GET, "/api/auth/me", None, None).await;
    me.assert_status(200);
    assert_eq!(me.body["email"], "ada@example.com");

    // A wrong password sets nothing.
    let r = app
        .post(
            "/api/auth/session",
            &json!({"email": "ada@example.com", "password": "wrong password 1"}),
        )
        .await;
    r.assert_error(401, "unauthorized");
    assert!(r.headers.get("set-cookie").is_none());
}

async fn cookie_requests_that_change_state_need_the_csrf_token(app: TestApp) {
    let f = app.fixture(10).await;
    app.customer("ada@example.com").await;
    let (_, s) = web_login(&app, "ada@example.com").await;
    let body = json!({"tour_id": f.tour, "booking_slot_id": f.slots[0], "num_adults": 1});
    let before = app.slot(f.tour, f.slots[0]).await["current_bookings"].clone();

    for csrf in [None, Some("wrong"), Some(s.session.as_str())] {
        with_cookie(&app, &s, Method::POST, paths::BOOKINGS, Some(&body), csrf)
            .await
            .assert_error(403, "csrf_failed");
    }
    assert_eq!(
        app.slot(f.tour, f.slots[0]).await["current_bookings"],
        before,
        "a refused request changes nothing"
    );
    // Another session's CSRF token does not fit this one.
    let (_, other) = web_login(&app, "ada@example.com").await;
    with_cookie(
        &app,
        &s,
        Method::POST,
        paths::BOOKINGS,
        Some(&body),
        Some(&other.csrf),
    )
    .await
    .assert_error(403, "csrf_failed");

    let r = with_cookie(
        &app,
        &s,
        Method::POST,
        paths::BOOKINGS,
        Some(&body),
        Some(&s.csrf),
    )
    .await;
    r.assert_status(201);
    // Booked under the account the cookie stands for.
    assert_eq!(r.body["customer_email"], "ada@example.com");
    // Reading needs no CSRF token.
    let id = r.body["id"].as_i64().expect("id");
    with_cookie(&app, &s, Method::GET, &paths::booking(id), None, None)
        .await
        .assert_status(200);
}

async fn logout_ends_the_cookie_session_and_clears_the_cookies(app: TestApp) {
    app.customer("ada@example.com").await;
    let (_, s) = web_login(&app, "ada@example.com").await;
    with_cookie(&app, &s, Method::POST, "/api/auth/logout", None, None)
        .await
        .assert_error(403, "csrf_failed");
    let r = with_cookie(
        &app,
        &s,
        Method::POST,
        "/api/auth/logout",
        None,
        Some(&s.csrf),
    )
    .await;
    r.assert_status(204);
    for name in ["tourdesk_session", "tourdesk_csrf"] {
        let c = set_cookie(&r, name);
        assert!(c.contains("Max-Age=0"), "{c}");
    }
    with_cookie(&app, &s, Method::GET, "/api/auth/me", None, None)
        .await
        .assert_error(401, "unauthorized");
    // The same secret as a bearer token is dead too.
    app.me(&s.session).await.assert_error(401, "unauthorized");
}

async fn log_out_everywhere_ends_every_session_of_the_user(app: TestApp) {
    let api_token = app.customer("ada@example.com").await;
    let bob = app.customer("bob@example.com").await;
    let (_, web1) = web_login(&app, "ada@example.com").await;
    let (_, web2) = web_login(&app, "ada@example.com").await;

    // Anonymous: 401; a cookie without CSRF: 403; nothing ended.
    app.send(Method::POST, "/api/auth/logout-all", None, &[])
        .await
        .assert_error(401, "unauthorized");
    with_cookie(
        &app,
        &web1,
        Method::POST,
        "/api/auth/logout-all",
        None,
        None,
    )
    .await
    .assert_error(403, "csrf_failed");
    app.me(&api_token).await.assert_status(200);

    let r = with_cookie(
        &app,
        &web1,
        Method::POST,
        "/api/auth/logout-all",
        None,
        Some(&web1.csrf),
    )
    .await;
    r.assert_status(200);
    assert_eq!(r.body["sessions_ended"], 3, "{}", r.text);
    assert!(set_cookie(&r, "tourdesk_session").contains("Max-Age=0"));
    app.me(&api_token).await.assert_error(401, "unauthorized");
    for s in [&web1, &web2] {
        with_cookie(&app, s, Method::GET, "/api/auth/me", None, None)
            .await
            .assert_error(401, "unauthorized");
    }
    // Another user's sessions are untouched.
    app.me(&bob).await.assert_status(200);
    // Bearer clients can do the same.
    let t = app.login_token("ada@example.com", PASSWORD).await;
    let r = app.post_as(&t, "/api/auth/logout-all", &json!({})).await;
    r.assert_status(200);
    assert_eq!(r.body["sessions_ended"], 1);
}

async fn a_stale_cookie_makes_a_guest_not_an_error(app: TestApp) {
    let f = app.fixture(10).await;
    app.customer("ada@example.com").await;
    let (_, s) = web_login(&app, "ada@example.com").await;
    with_cookie(
        &app,
        &s,
        Method::POST,
        "/api/auth/logout",
        None,
        Some(&s.csrf),
    )
    .await
    .assert_status(204);
    // The browser still sends the dead cookie; a guest booking goes through.
    let body = json!({"tour_id": f.tour, "booking_slot_id": f.slots[0], "num_adults": 1,
                      "customer_name": "Ada Lovelace", "customer_email": "ada@example.com"});
    let r = with_cookie(
        &app,
        &s,
        Method::POST,
        paths::BOOKINGS,
        Some(&body),
        Some(&s.csrf),
    )
    .await;
    r.assert_status(201);
    assert!(r.body["manage_token"].is_string(), "{}", r.text);
    // A dead cookie gives no rights, so it needs no CSRF token either.
    with_cookie(&app, &s, Method::POST, paths::BOOKINGS, Some(&body), None)
        .await
        .assert_status(201);
    // A dead bearer token is still refused outright.
    app.create_booking_as(&s.session, &body)
        .await
        .assert_error(401, "unauthorized");
}

async fn the_session_cookie_is_secure_behind_an_https_proxy(app: TestApp) {
    app.customer("ada@example.com").await;
    let body = json!({"email": "ada@example.com", "password": PASSWORD});
    // Without a trusted proxy, the header is the client's word: not believed.
    let r = app
        .send(
            Method::POST,
            "/api/auth/session",
            Some(&body),
            &[("x-forwarded-proto", "https")],
        )
        .await;
    r.assert_status(200);
    assert!(!set_cookie(&r, "tourdesk_session").contains("Secure"));

    let mut behind = TestApp::spawn(app.backend, |c| c.trust_proxy = 1)
        .await
        .expect("a second server");
    behind.customer("ada@example.com").await;
    let r = behind
        .send(
            Method::POST,
            "/api/auth/session",
            Some(&body),
            &[("x-forwarded-proto", "https")],
        )
        .await;
    r.assert_status(200);
    assert!(set_cookie(&r, "tourdesk_session").contains("; Secure"));
    assert!(set_cookie(&r, "tourdesk_csrf").contains("; Secure"));
    behind.stop().await;
}

/// Every text the token tables hold, one string per row.
async fn token_tables(app: &TestApp) -> Vec<String> {
    use sqlx::Connection;
    let sql = [
        "SELECT COALESCE(idem_key, '') || '|' || COALESCE(manage_token, '') || '|' || \
         COALESCE(token_salt, '') || '|' || request_hash FROM idempotency_keys",
        "SELECT token_hash || '|' || kind FROM manage_tokens",
    ];
    let mut rows = Vec::new();
    for q in sql {
        let found: Vec<String> = match app.backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&app.database.url)
                    .await
                    .expect("open the test database");
                sqlx::query_scalar(q).fetch_all(&mut c).await.expect(q)
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&app.database.url)
                    .await
                    .expect("open the test database");
                sqlx::query_scalar(q).fetch_all(&mut c).await.expect(q)
            }
        };
        rows.extend(found);
    }
    rows
}

fn guest_booking(tour: i64, slot: i64) -> Value {
    json!({"tour_id": tour, "booking_slot_id": slot, "num_adults": 2,
           "customer_name": "Ada Lovelace", "customer_email": "ada@example.com"})
}

async fn book_with_key(app: &TestApp, body: &Value, key: &str, from: Option<&str>) -> TestResponse {
    let mut headers = vec![("idempotency-key", key)];
    if let Some(ip) = from {
        headers.push(("x-forwarded-for", ip));
    }
    app.send(Method::POST, paths::BOOKINGS, Some(body), &headers)
        .await
}

async fn opens(app: &TestApp, id: i64, token: &str) -> u16 {
    app.send(
        Method::GET,
        &paths::booking(id),
        None,
        &[("x-manage-token", token)],
    )
    .await
    .status
    .as_u16()
}

async fn no_manage_token_or_idempotency_key_is_kept_in_plaintext(app: TestApp) {
    let f = app.fixture(10).await;
    let key = "checkout-7f3a9c1e-2b44-4d0e-9a51-0c6e8f2d1b77";
    let body = guest_booking(f.tour, f.slots[0]);
    let first = book_with_key(&app, &body, key, None).await;
    first.assert_status(201);
    let token = first.body["manage_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let id = first.body["id"].as_i64().expect("id");

    // A legitimate retry still gets the booking and a token that works.
    let again = book_with_key(&app, &body, key, None).await;
    again.assert_status(201);
    assert_eq!(again.body["id"], id);
    assert_eq!(again.body["manage_token"], token.as_str());
    assert_eq!(opens(&app, id, &token).await, 200);
    assert_eq!(
        app.slot(f.tour, f.slots[0]).await["current_bookings"],
        2,
        "the retry booked nothing more"
    );

    // A lookup's token is not kept either.
    let reference = first.body["booking_reference"].as_str().expect("reference");
    let looked = app
        .get(&format!(
            "/api/calendar/bookings/reference/{reference}?email=ada@example.com"
        ))
        .await;
    looked.assert_status(200);
    let lookup_token = looked.body["manage_token"].as_str().expect("token");

    let rows = token_tables(&app).await;
    assert!(!rows.is_empty());
    for row in &rows {
        for secret in [token.as_str(), lookup_token, key] {
            assert!(!row.contains(secret), "{secret} kept in plaintext: {row}");
        }
    }
}

async fn another_guest_cannot_replay_a_guest_idempotency_key(app: TestApp) {
    let mut app2 = TestApp::spawn(app.backend, |c| c.trust_proxy = 1)
        .await
        .expect("a server behind a proxy");
    let f = app2.fixture(10).await;
    let body = guest_booking(f.tour, f.slots[0]);
    let first = book_with_key(&app2, &body, "order-1", Some("203.0.113.1")).await;
    first.assert_status(201);
    let token = first.body["manage_token"]
        .as_str()
        .expect("token")
        .to_owned();

    // Someone else, from another address, with the same key and body, does
    // not get the first guest's booking or token.
    let other = book_with_key(&app2, &body, "order-1", Some("198.51.100.7")).await;
    assert_ne!(other.body["id"], first.body["id"], "{}", other.text);
    assert_ne!(other.body["manage_token"], token.as_str(), "{}", other.text);

    // The first guest's retry still replays.
    let retry = book_with_key(&app2, &body, "order-1", Some("203.0.113.1")).await;
    retry.assert_status(201);
    assert_eq!(retry.body["id"], first.body["id"]);
    assert_eq!(retry.body["manage_token"], token.as_str());
    app2.stop().await;
}

async fn a_lookup_revokes_the_links_earlier_lookups_issued(app: TestApp) {
    let f = app.fixture(10).await;
    let made = app.create_booking(&guest_booking(f.tour, f.slots[0])).await;
    made.assert_status(201);
    let id = made.body["id"].as_i64().expect("id");
    let created_token = made.body["manage_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let reference = made.body["booking_reference"].as_str().expect("reference");
    let path = format!("/api/calendar/bookings/reference/{reference}?email=ADA@example.com");
    let first = app.get(&path).await.body["manage_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(opens(&app, id, &first).await, 200);
    let second = app.get(&path).await.body["manage_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_ne!(first, second);
    assert_eq!(
        opens(&app, id, &first).await,
        404,
        "the older lookup's link is revoked"
    );
    assert_eq!(opens(&app, id, &second).await, 200);
    assert_eq!(
        opens(&app, id, &created_token).await,
        200,
        "the booking's own link stays"
    );
    // A revoked link cannot change anything either.
    app.send(
        Method::POST,
        &format!("/api/calendar/bookings/{id}/cancel"),
        Some(&json!({"reason": "x"})),
        &[("x-manage-token", first.as_str())],
    )
    .await
    .assert_status(404);
    assert_eq!(app.slot(f.tour, f.slots[0]).await["current_bookings"], 2);
}

async fn manage_tokens_expire_a_configured_time_after_the_departure(app: TestApp) {
    let f = app.fixture(10).await;
    let made = app.create_booking(&guest_booking(f.tour, f.slots[0])).await;
    made.assert_status(201);
    let id = made.body["id"].as_i64().expect("id");
    let token = made.body["manage_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let departure = chrono::NaiveDate::parse_from_str(&f.dates[0], "%Y-%m-%d").expect("date");
    let noon = |d: chrono::NaiveDate| d.and_hms_opt(12, 0, 0).expect("noon").and_utc();
    // 30 days (the default) after the departure the link still opens it...
    app.clock.freeze(noon(departure + chrono::Days::new(30)));
    assert_eq!(opens(&app, id, &token).await, 200);
    // ...the day after, it opens nothing; an admin still sees the booking.
    app.clock.freeze(noon(departure + chrono::Days::new(31)));
    assert_eq!(opens(&app, id, &token).await, 404);
    let admin = app.admin().await;
    app.get_booking(&admin, id).await.assert_status(200);
}

async fn an_id_that_is_not_yours_answers_like_one_that_does_not_exist(app: TestApp) {
    let f = app.fixture(10).await;
    let ada = app.customer("ada@example.com").await;
    let bob = app.customer("bob@example.com").await;
    let mine = app
        .create_booking_as(
            &ada,
            &json!({"tour_id": f.tour, "booking_slot_id": f.slots[0], "num_adults": 1}),
        )
        .await;
    mine.assert_status(201);
    let id = mine.body["id"].as_i64().expect("id");
    let missing = id + 1000;
    let guest = app.create_booking(&guest_booking(f.tour, f.slots[1])).await;
    let guest_token = guest.body["manage_token"]
        .as_str()
        .expect("token")
        .to_owned();

    let ask = |token: Option<&str>, manage: Option<&str>, target: i64| {
        let app = &app;
        let (token, manage) = (token.map(str::to_owned), manage.map(str::to_owned));
        async move {
            let auth = token.map(|t| format!("Bearer {t}"));
            let mut headers = Vec::new();
            if let Some(a) = auth.as_deref() {
                headers.push(("authorization", a));
            }
            if let Some(m) = manage.as_deref() {
                headers.push(("x-manage-token", m));
            }
            let r = app
                .send(Method::GET, &paths::booking(target), None, &headers)
                .await;
            // The answer, with the id itself taken out of the text.
            (
                r.status.as_u16(),
                r.text.replace(&target.to_string(), "<id>"),
            )
        }
    };
    for (token, manage) in [
        (None, None),
        (Some(bob.as_str()), None),
        (None, Some(guest_token.as_str())),
        (None, Some("tdm_not_a_token")),
    ] {
        let exists = ask(token, manage, id).await;
        let absent = ask(token, manage, missing).await;
        assert_eq!(exists.0, 404, "{exists:?}");
        assert_eq!(exists, absent);
    }
    assert_eq!(ask(Some(&ada), None, id).await.0, 200);

    // The same for waitlist entries (of a full departure).
    app.book(f.tour, f.slots[2], 10, 0, 0)
        .await
        .assert_status(201);
    let entry = app
        .post_as(
            &ada,
            paths::WAITLIST,
            &json!({"tour_id": f.tour, "requested_date": f.dates[2], "num_people": 2}),
        )
        .await;
    entry.assert_status(201);
    let eid = entry.body["id"].as_i64().expect("id");
    for target in [eid, eid + 1000] {
        let r = app.get_as(&bob, &paths::waitlist_entry(target)).await;
        r.assert_error(404, "not_found");
        assert_eq!(
            r.body["detail"],
            format!("waitlist entry {target} not found")
        );
    }
}
