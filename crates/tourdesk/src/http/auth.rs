//! Accounts over HTTP, and the extractors every protected route uses:
//! [`MaybeUser`] (guest or user), [`CurrentUser`] (401 without a valid token)
//! and [`AdminUser`] (401 without a token, 403 for customers).

use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::{AppendHeaders, IntoResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tourdesk_domain::Role;
use tourdesk_service::accounts::{Registration, Session, User, csrf_token, secrets_match};
use tourdesk_service::{Admin, ServiceError};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::client::{self, ClientInfo};
use super::error::ApiError;
use super::extract::{Json, Who};
use super::openapi;

/// The cookie the web UI's session travels in: `HttpOnly`, so no script
/// (injected or not) can read it.
pub const SESSION_COOKIE: &str = "tourdesk_session";
/// The cookie holding the session's CSRF token: readable by the site's own
/// scripts, which echo it in [`CSRF_HEADER`] on every state-changing request.
pub const CSRF_COOKIE: &str = "tourdesk_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The bearer token of a request: `None` without an Authorization header,
/// an error when the header is not `Bearer <token>`.
fn bearer(parts: &Parts) -> Result<Option<String>, ApiError> {
    let Some(value) = parts.headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || ApiError::unauthorized("the Authorization header must be `Bearer <token>`");
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(' ') {
        return Err(malformed());
    }
    Ok(Some(token.to_owned()))
}

/// The value of cookie `name` in the request's Cookie headers.
fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Whether the request may change state (anything but GET, HEAD, OPTIONS).
fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// How a request carries its session.
enum Credential {
    Bearer(String),
    Cookie(String),
}

/// The session a request is authenticated with: the bearer token, or the
/// web session cookie (the bearer wins when both are sent).
fn credential(parts: &Parts) -> Result<Option<Credential>, ApiError> {
    if let Some(token) = bearer(parts)? {
        return Ok(Some(Credential::Bearer(token)));
    }
    Ok(cookie(parts, SESSION_COOKIE).map(Credential::Cookie))
}

/// A cookie session on a state-changing request must come with its CSRF
/// token in `X-CSRF-Token` (403 `csrf_failed` otherwise): a page on another
/// site can make a browser send a cookie (were it not `SameSite=Strict`),
/// but it cannot read the token.
fn check_csrf(parts: &Parts, session: &str) -> Result<(), ApiError> {
    if !is_unsafe(&parts.method) {
        return Ok(());
    }
    let sent = parts
        .headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if secrets_match(sent.trim(), &csrf_token(session)) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf_failed",
            "a request made with the session cookie must carry the session's CSRF token \
             (the `tourdesk_csrf` cookie) in the X-CSRF-Token header",
        ))
    }
}

/// The user behind the request's token, if any. A bearer token that is
/// present but invalid is refused (401) rather than treated as a guest; a
/// session cookie that is no longer live is ignored (the browser still has
/// it after expiry or a logout elsewhere), so the caller is a guest.
pub struct MaybeUser(pub Option<User>);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(user) = parts.extensions.get::<User>() {
            return Ok(MaybeUser(Some(user.clone())));
        }
        let user = match credential(parts)? {
            None => return Ok(MaybeUser(None)),
            Some(Credential::Bearer(token)) => state.ctx.accounts().authenticate(&token).await?,
            Some(Credential::Cookie(token)) => {
                match state.ctx.accounts().authenticate(&token).await {
                    Ok(user) => {
                        check_csrf(parts, &token)?;
                        user
                    }
                    // A dead cookie gives no rights, so it needs no CSRF
                    // token either: the caller is a guest.
                    Err(ServiceError::Unauthenticated(_)) => return Ok(MaybeUser(None)),
                    Err(e) => return Err(e.into()),
                }
            }
        };
        parts.extensions.insert(user.clone());
        Ok(MaybeUser(Some(user)))
    }
}

/// A logged-in user (401 otherwise).
pub struct CurrentUser(pub User);

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match MaybeUser::from_request_parts(parts, state).await? {
            MaybeUser(Some(user)) => Ok(CurrentUser(user)),
            MaybeUser(None) => Err(ApiError::unauthorized(
                "log in first: send `Authorization: Bearer <token>` (or, from the web UI, the session cookie)",
            )),
        }
    }
}

/// A logged-in admin (401 without a token, 403 for customers), as the
/// service's [`Admin`] capability, which every admin-only use case requires:
/// the check is made here, once, and cannot be skipped by a handler.
pub struct AdminUser(pub Admin);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        CurrentUser::from_request_parts(parts, state).await?;
        let Who(caller) = Who::from_request_parts(parts, state).await?;
        let admin = caller
            .into_admin()
            .map_err(|_| ApiError::forbidden("this needs an admin account"))?;
        Ok(AdminUser(admin))
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(web_login))
        .routes(routes!(logout))
        .routes(routes!(logout_everywhere))
        .routes(routes!(me))
}

#[derive(Deserialize, ToSchema)]
pub struct RegisterRequest {
    #[schema(value_type = openapi::Email)]
    email: String,
    /// At least 10 characters, not the email.
    #[schema(value_type = openapi::Password)]
    password: String,
    #[schema(value_type = openapi::Name)]
    name: String,
    #[schema(value_type = Option<openapi::Phone>)]
    phone: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UserResponse {
    id: i64,
    email: String,
    name: String,
    phone: Option<String>,
    role: Role,
}

impl From<User> for UserResponse {
    fn from(u: User) -> Self {
        UserResponse {
            id: u.id,
            email: u.email,
            name: u.name,
            phone: u.phone,
            role: u.role,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RegisterResponse {
    email: String,
    name: String,
    phone: Option<String>,
    /// Always `customer`.
    role: Role,
    detail: &'static str,
}

const REGISTERED: &str = "You can now log in with this email and password. If the email \
already had an account, that account is unchanged: log in with its password.";

/// Creates a customer account. The answer is the same whether or not the
/// email already has an account (an existing account is left untouched), so
/// nobody can learn who has an account here; log in to get the account.
#[utoipa::path(post, path = "/api/auth/register", tag = "auth", request_body = RegisterRequest,
    responses(
        (status = 201, body = RegisterResponse),
        (status = 422, description = "A field is invalid; `field` names it"),
        (status = 429, description = "Too many registrations from this address")))]
async fn register(
    State(state): State<AppState>,
    client: ClientInfo,
    Json(body): Json<RegisterRequest>,
) -> Result<(StatusCode, Json<RegisterResponse>), ApiError> {
    client::check(&state.rate_limits.register, &client)?;
    let done = state
        .ctx
        .accounts()
        .register(Registration {
            email: &body.email,
            password: &body.password,
            name: &body.name,
            phone: body.phone.as_deref(),
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(RegisterResponse {
            email: done.email,
            name: done.name,
            phone: done.phone,
            role: Role::Customer,
            detail: REGISTERED,
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    email: String,
    password: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    access_token: String,
    /// Always `bearer`.
    token_type: &'static str,
    expires_at: DateTime<Utc>,
    user: UserResponse,
}

/// Exchanges an email and password for a bearer token.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, body = LoginResponse),
        (status = 401, description = "Wrong email or password (the same answer for both)"),
        (status = 429, description = "Too many attempts from this address")))]
async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    Json(body): Json<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    client::check(&state.rate_limits.login, &client)?;
    let session = state
        .ctx
        .accounts()
        .login(&body.email, &body.password)
        .await?;
    Ok(Json(LoginResponse {
        access_token: session.access_token,
        token_type: "bearer",
        expires_at: session.expires_at,
        user: session.user.into(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct WebSessionResponse {
    user: UserResponse,
    expires_at: DateTime<Utc>,
    /// The value to send in `X-CSRF-Token` on state-changing requests (also
    /// in the `tourdesk_csrf` cookie).
    csrf_token: String,
}

/// Logs in for the web UI: the session travels in an `HttpOnly;
/// SameSite=Strict` cookie (`Secure` behind an HTTPS proxy) that scripts
/// cannot read, and state-changing requests must echo the CSRF token in
/// `X-CSRF-Token`. API clients use `/api/auth/login` and a bearer token.
#[utoipa::path(post, path = "/api/auth/session", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, body = WebSessionResponse,
            description = "Logged in; sets the `tourdesk_session` and `tourdesk_csrf` cookies"),
        (status = 401, description = "Wrong email or password (the same answer for both)"),
        (status = 429, description = "Too many attempts from this address")))]
async fn web_login(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    Json(body): Json<LoginRequest>,
) -> Result<impl IntoResponse, ApiError> {
    client::check(&state.rate_limits.login, &client)?;
    let Session {
        access_token,
        expires_at,
        user,
    } = state
        .ctx
        .accounts()
        .login(&body.email, &body.password)
        .await?;
    let csrf = csrf_token(&access_token);
    let secure = served_over_https(&state, &headers);
    let max_age = i64::from(state.config.auth_token_ttl_hours) * 3600;
    let cookies = [
        (
            SET_COOKIE,
            set_cookie(SESSION_COOKIE, &access_token, max_age, true, secure),
        ),
        (
            SET_COOKIE,
            set_cookie(CSRF_COOKIE, &csrf, max_age, false, secure),
        ),
    ];
    Ok((
        AppendHeaders(cookies),
        Json(WebSessionResponse {
            user: user.into(),
            expires_at,
            csrf_token: csrf,
        }),
    ))
}

/// Whether the browser reached us over HTTPS: only a trusted proxy's
/// `X-Forwarded-Proto` can say so (the server itself speaks plain HTTP).
fn served_over_https(state: &AppState, headers: &HeaderMap) -> bool {
    state.config.trust_proxy > 0
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

fn set_cookie(name: &str, value: &str, max_age: i64, http_only: bool, secure: bool) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; Max-Age={max_age}; SameSite=Strict");
    if http_only {
        c.push_str("; HttpOnly");
    }
    if secure {
        c.push_str("; Secure");
    }
    // Names and values are our own hex tokens, always valid header text.
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Both cookies, expired: sent with every logout so the browser forgets them.
fn clear_cookies() -> AppendHeaders<[(axum::http::HeaderName, HeaderValue); 2]> {
    AppendHeaders([
        (SET_COOKIE, set_cookie(SESSION_COOKIE, "", 0, true, false)),
        (SET_COOKIE, set_cookie(CSRF_COOKIE, "", 0, false, false)),
    ])
}

/// Ends the session this request is made with (bearer token or web session
/// cookie) and clears the session cookies.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "Revoked"),
        (status = 401, description = "No session, or not a valid one"),
        (status = 403, description = "A cookie session without its CSRF token")))]
async fn logout(
    State(state): State<AppState>,
    parts: Parts,
) -> Result<impl IntoResponse, ApiError> {
    let token = match credential(&parts)? {
        Some(Credential::Bearer(token)) => token,
        Some(Credential::Cookie(token)) => {
            check_csrf(&parts, &token)?;
            token
        }
        None => {
            return Err(ApiError::unauthorized(
                "send the token to revoke as `Authorization: Bearer <token>`",
            ));
        }
    };
    state.ctx.accounts().logout(&token).await?;
    Ok((StatusCode::NO_CONTENT, clear_cookies()))
}

#[derive(Serialize, ToSchema)]
pub struct LogoutEverywhereResponse {
    /// How many sessions were ended, this one included.
    sessions_ended: u64,
}

/// Ends every session of the logged-in user, on every device, this one
/// included ("log out everywhere").
#[utoipa::path(post, path = "/api/auth/logout-all", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = LogoutEverywhereResponse), (status = 401),
        (status = 403, description = "A cookie session without its CSRF token")))]
async fn logout_everywhere(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<impl IntoResponse, ApiError> {
    let sessions_ended = state.ctx.accounts().logout_everywhere(user.id).await?;
    Ok((
        clear_cookies(),
        Json(LogoutEverywhereResponse { sessions_ended }),
    ))
}

/// The logged-in user.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = UserResponse), (status = 401)))]
async fn me(CurrentUser(user): CurrentUser) -> Json<UserResponse> {
    Json(user.into())
}
