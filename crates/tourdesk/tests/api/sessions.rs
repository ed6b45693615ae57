//! Sessions and tokens: the web UI's session lives in an `HttpOnly;
//! SameSite=Strict` cookie that scripts cannot read, state-changing requests
//! made with it need the CSRF token, logout ends it, "log out everywhere"
//! ends them all; bearer tokens keep working for API clients.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{TestApp, TestResponse};

both_backends!(
    web_login_sets_an_httponly_strict_cookie_and_a_csrf_token,
    cookie_requests_that_change_state_need_the_csrf_token,
    logout_ends_the_cookie_session_and_clears_the_cookies,
    log_out_everywhere_ends_every_session_of_the_user,
    a_stale_cookie_makes_a_guest_not_an_error,
    the_session_cookie_is_secure_behind_an_https_proxy,
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
        with_cookie(
            &app,
            &s,
            Method::POST,
            "/api/calendar/bookings",
            Some(&body),
            csrf,
        )
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
        "/api/calendar/bookings",
        Some(&body),
        Some(&other.csrf),
    )
    .await
    .assert_error(403, "csrf_failed");

    let r = with_cookie(
        &app,
        &s,
        Method::POST,
        "/api/calendar/bookings",
        Some(&body),
        Some(&s.csrf),
    )
    .await;
    r.assert_status(201);
    // Booked under the account the cookie stands for.
    assert_eq!(r.body["customer_email"], "ada@example.com");
    // Reading needs no CSRF token.
    let id = r.body["id"].as_i64().expect("id");
    with_cookie(
        &app,
        &s,
        Method::GET,
        &format!("/api/calendar/bookings/{id}"),
        None,
        None,
    )
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
        "/api/calendar/bookings",
        Some(&body),
        Some(&s.csrf),
    )
    .await;
    r.assert_status(201);
    assert!(r.body["manage_token"].is_string(), "{}", r.text);
    // A dead bearer token is still refused outright.
    app.post_as(&s.session, "/api/calendar/bookings", &body)
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
