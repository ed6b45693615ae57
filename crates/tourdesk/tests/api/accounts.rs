//! Accounts: registration, login, tokens, roles, bootstrap, abuse limits.

use reqwest::Method;
use serde_json::json;
use tourdesk::config::Config;
use tourdesk::startup::Application;

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(
    register_login_me_logout,
    registration_refuses_bad_input,
    registering_a_taken_email_reveals_nothing_and_changes_nothing,
    failed_logins_do_not_reveal_whether_the_email_exists,
    bad_tokens_are_401_never_500,
    tokens_expire,
    admin_bootstrap_is_idempotent_across_restarts,
    instances_starting_together_all_bootstrap_the_admin,
);

async fn register_login_me_logout(app: TestApp) {
    let r = app
        .register("Ada@Example.com", "correct horse battery", "Ada Lovelace")
        .await;
    r.assert_status(201);
    assert_eq!(r.body["email"], "Ada@Example.com");
    assert_eq!(r.body["role"], "customer");
    // No id: the answer must not differ from an already-registered email's.
    assert!(r.body.get("id").is_none(), "{}", r.text);
    assert!(r.body.get("password_hash").is_none());

    let r = app.login("ada@example.com", "correct horse battery").await;
    r.assert_status(200);
    assert_eq!(r.body["token_type"], "bearer");
    assert_eq!(r.body["user"]["name"], "Ada Lovelace");
    let token = r.body["access_token"].as_str().expect("token").to_owned();
    assert!(token.len() >= 32, "token has at least 128 bits");
    assert!(
        r.body["expires_at"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z') || s.contains("+00:00"))
    );

    let r = app.me(&token).await;
    r.assert_status(200);
    assert_eq!(r.body["email"], "Ada@Example.com");

    app.logout(&token).await.assert_status(204);
    app.me(&token).await.assert_error(401, "unauthorized");
    app.logout(&token).await.assert_error(401, "unauthorized");
    // A second login still works after logout.
    app.login("ADA@example.com", "correct horse battery")
        .await
        .assert_status(200);
}

async fn registration_refuses_bad_input(app: TestApp) {
    let cases = [
        (
            json!({"email": "not-an-email", "password": "correct horse battery", "name": "A"}),
            "email",
        ),
        (
            json!({"email": "a@example.com", "password": "short", "name": "A"}),
            "password",
        ),
        (
            json!({"email": "a@example.com", "password": "A@EXAMPLE.COM", "name": "A"}),
            "password",
        ),
        (
            json!({"email": "a@example.com", "password": "correct horse battery", "name": "   "}),
            "name",
        ),
        (
            json!({"email": "a@example.com", "password": "correct horse battery", "name": "x".repeat(201)}),
            "name",
        ),
        (
            json!({"email": format!("{}@example.com", "a".repeat(250)), "password": "correct horse battery", "name": "A"}),
            "email",
        ),
        (
            json!({"email": "a@example.com", "password": "correct horse battery", "name": "A", "phone": "call me"}),
            "phone",
        ),
    ];
    for (body, field) in cases {
        let r = app.post("/api/auth/register", &body).await;
        r.assert_error(422, "validation_error");
        assert_eq!(r.body["field"], field, "{}", r.text);
    }
    // A missing field and a wrong type name the field too.
    let r = app
        .post(
            "/api/auth/register",
            &json!({"email": "a@example.com", "password": "x"}),
        )
        .await;
    r.assert_status(422);
    assert!(r.text.contains("name"), "{}", r.text);
    let r = app
        .post(
            "/api/auth/register",
            &json!({"email": 5, "password": "correct horse battery", "name": "A"}),
        )
        .await;
    r.assert_error(422, "validation_error");
    assert_eq!(r.body["field"], "email");
    // Malformed JSON and a wrong content type.
    let resp = app
        .client
        .post(app.url("/api/auth/register"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("send");
    TestApp::read(resp)
        .await
        .assert_error(422, "malformed_json");
    let resp = app
        .client
        .post(app.url("/api/auth/register"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("send");
    TestApp::read(resp)
        .await
        .assert_error(415, "unsupported_media_type");
    // Nothing was created by any of these.
    app.login("a@example.com", "correct horse battery")
        .await
        .assert_error(401, "unauthorized");
}

/// Registering an email that has an account answers exactly as a new one
/// (no `email_taken`: that told anyone who has an account here) and leaves
/// the existing account as it was, case-insensitively.
async fn registering_a_taken_email_reveals_nothing_and_changes_nothing(app: TestApp) {
    let fresh = app
        .register("new@example.com", "another password 1", "Sam 2")
        .await;
    fresh.assert_status(201);
    app.register("sam@example.com", "correct horse battery", "Sam")
        .await
        .assert_status(201);
    let taken = app
        .register("SAM@example.com", "another password 1", "Sam 2")
        .await;
    taken.assert_status(201);
    // Same status, same fields, same words: only the echoed email differs.
    assert_eq!(
        taken.text.replace("SAM@example.com", "<email>"),
        fresh.text.replace("new@example.com", "<email>")
    );
    app.login("sam@example.com", "another password 1")
        .await
        .assert_error(401, "unauthorized");
    let r = app.login("SAM@example.com", "correct horse battery").await;
    r.assert_status(200);
    assert_eq!(r.body["user"]["name"], "Sam");
}

async fn failed_logins_do_not_reveal_whether_the_email_exists(app: TestApp) {
    app.register("kim@example.com", "correct horse battery", "Kim")
        .await;
    let wrong_password = app.login("kim@example.com", "wrong password 123").await;
    let unknown_email = app.login("nobody@example.com", "wrong password 123").await;
    wrong_password.assert_error(401, "unauthorized");
    unknown_email.assert_error(401, "unauthorized");
    assert_eq!(wrong_password.body, unknown_email.body);
}

async fn bad_tokens_are_401_never_500(app: TestApp) {
    let token = app.customer("lee@example.com").await;
    for header in [
        "Bearer nonsense".to_owned(),
        "Bearer ".to_owned(),
        format!("Token {token}"),
        format!("Basic {token}"),
        token.clone(),
        format!("Bearer {token} extra"),
    ] {
        let r = app
            .send(
                Method::GET,
                "/api/auth/me",
                None,
                &[("authorization", header.as_str())],
            )
            .await;
        r.assert_error(401, "unauthorized");
    }
    // The scheme is case-insensitive.
    let lower = format!("bearer {token}");
    app.send(
        Method::GET,
        "/api/auth/me",
        None,
        &[("authorization", lower.as_str())],
    )
    .await
    .assert_status(200);
    app.get("/api/auth/me")
        .await
        .assert_error(401, "unauthorized");
}

async fn tokens_expire(app: TestApp) {
    let token = app.customer("exp@example.com").await;
    app.me(&token).await.assert_status(200);
    app.clock
        .advance(chrono::Duration::hours(24 * 7) - chrono::Duration::minutes(1));
    app.me(&token).await.assert_status(200);
    app.clock.advance(chrono::Duration::minutes(2));
    app.me(&token).await.assert_error(401, "unauthorized");
}

async fn admin_bootstrap_is_idempotent_across_restarts(app: TestApp) {
    // A customer registers with the address that later becomes the admin's.
    app.register("boss@example.com", "customer password", "Boss")
        .await
        .assert_status(201);
    for _ in 0..2 {
        let mut config = Config::defaults();
        config.database_url = app.database.url.clone();
        config.bind_addr = "127.0.0.1:0".parse().expect("addr");
        config.admin_email = Some("Boss@Example.com".into());
        config.admin_password = Some("admin password 456".into());
        let started = Application::build(config)
            .await
            .expect("start with ADMIN_EMAIL");
        started.context().db.close().await;
    }
    let r = app.login("boss@example.com", "admin password 456").await;
    r.assert_status(200);
    assert_eq!(r.body["user"]["role"], "admin");
    app.login("boss@example.com", "customer password")
        .await
        .assert_error(401, "unauthorized");
    // Still one account.
    app.register("boss@example.com", "correct horse battery", "Boss")
        .await
        .assert_status(201);
    app.login("boss@example.com", "correct horse battery")
        .await
        .assert_error(401, "unauthorized");
}

mod rate_limits {
    use super::*;
    use tourdesk_store::Backend;

    async fn limited(backend: Backend) {
        let Some(app) = TestApp::spawn(backend, |c| {
            // A window long enough that a loaded machine (each login hashes
            // with argon2) cannot refill an allowance during the burst.
            c.rate_limit_login_per_minute = 3;
            c.rate_limit_register_per_minute = 2;
            c.rate_limit_window_seconds = 30;
        })
        .await
        else {
            return;
        };
        for _ in 0..3 {
            app.login("x@example.com", "wrong password 1")
                .await
                .assert_error(401, "unauthorized");
        }
        let r = app.login("x@example.com", "wrong password 1").await;
        r.assert_error(429, "rate_limited");
        let retry: u64 = r
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("Retry-After");
        assert!((1..=10).contains(&retry), "Retry-After {retry}");
        // Registration has its own allowance.
        app.register("r1@example.com", "correct horse battery", "R")
            .await
            .assert_status(201);
        app.register("r2@example.com", "correct horse battery", "R")
            .await
            .assert_status(201);
        app.register("r3@example.com", "correct horse battery", "R")
            .await
            .assert_error(429, "rate_limited");
        // The allowance comes back (one request per window/limit: 10 s).
        tokio::time::sleep(std::time::Duration::from_millis(10_500)).await;
        app.login("x@example.com", "wrong password 1")
            .await
            .assert_error(401, "unauthorized");
    }

    async fn forwarded_for_only_when_trusted(backend: Backend, trust: bool) {
        let Some(app) = TestApp::spawn(backend, |c| {
            c.rate_limit_login_per_minute = 1;
            c.trust_proxy = u32::from(trust);
        })
        .await
        else {
            return;
        };
        let body = json!({"email": "x@example.com", "password": "wrong password 1"});
        let a = app
            .send(
                Method::POST,
                "/api/auth/login",
                Some(&body),
                &[("x-forwarded-for", "203.0.113.1, 10.0.0.1")],
            )
            .await;
        a.assert_status(401);
        let b = app
            .send(
                Method::POST,
                "/api/auth/login",
                Some(&body),
                &[("x-forwarded-for", "203.0.113.2")],
            )
            .await;
        if trust {
            b.assert_status(401); // another client address, another allowance
            // Entries the client writes itself (left of what the trusted
            // proxy appended) are not believed: one client, one allowance.
            for spoofed in ["198.51.100.1, 203.0.113.3", "198.51.100.2, 203.0.113.3"] {
                let r = app
                    .send(
                        Method::POST,
                        "/api/auth/login",
                        Some(&body),
                        &[("x-forwarded-for", spoofed)],
                    )
                    .await;
                if spoofed.starts_with("198.51.100.1") {
                    r.assert_status(401);
                } else {
                    r.assert_error(429, "rate_limited");
                }
            }
        } else {
            b.assert_error(429, "rate_limited"); // the header is ignored: same socket
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        limited(Backend::Sqlite).await;
        forwarded_for_only_when_trusted(Backend::Sqlite, true).await;
        forwarded_for_only_when_trusted(Backend::Sqlite, false).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        limited(Backend::Postgres).await;
        forwarded_for_only_when_trusted(Backend::Postgres, true).await;
        forwarded_for_only_when_trusted(Backend::Postgres, false).await;
    }
}

/// Issue #14: several instances started together on a fresh database with
/// ADMIN_EMAIL all start (the bootstrap used to check, then insert, and the
/// losers exited with "an account with this email already exists").
async fn instances_starting_together_all_bootstrap_the_admin(app: TestApp) {
    let starts = (0..8).map(|_| {
        let mut config = Config::defaults();
        config.database_url = app.database.url.clone();
        config.bind_addr = "127.0.0.1:0".parse().expect("addr");
        config.admin_email = Some("chief@example.com".into());
        config.admin_password = Some("admin password 789".into());
        tokio::spawn(async move {
            let started = Application::build(config).await;
            if let Ok(a) = &started {
                a.context().db.close().await;
            }
            started.map(|_| ()).map_err(|e| e.to_string())
        })
    });
    let mut failures = Vec::new();
    for s in starts.collect::<Vec<_>>() {
        if let Err(e) = s.await.expect("join") {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "instances failed to start: {failures:?}"
    );
    let r = app.login("chief@example.com", "admin password 789").await;
    r.assert_status(200);
    assert_eq!(r.body["user"]["role"], "admin");
}
