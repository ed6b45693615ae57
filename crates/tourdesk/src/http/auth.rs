//! Accounts over HTTP, and the extractors every protected route uses:
//! [`MaybeUser`] (guest or user), [`CurrentUser`] (401 without a valid token)
//! and [`AdminUser`] (401 without a token, 403 for customers).

use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tourdesk_domain::Role;
use tourdesk_service::accounts::{Registration, User};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::client::{self, ClientInfo};
use super::error::ApiError;
use super::extract::Json;

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

/// The user behind the request's token, if any. A token that is present but
/// invalid is refused (401) rather than treated as a guest.
pub struct MaybeUser(pub Option<User>);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(user) = parts.extensions.get::<User>() {
            return Ok(MaybeUser(Some(user.clone())));
        }
        match bearer(parts)? {
            None => Ok(MaybeUser(None)),
            Some(token) => {
                let user = state.ctx.accounts().authenticate(&token).await?;
                parts.extensions.insert(user.clone());
                Ok(MaybeUser(Some(user)))
            }
        }
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
                "log in first: send `Authorization: Bearer <token>`",
            )),
        }
    }
}

/// A logged-in admin (401 without a token, 403 for customers).
pub struct AdminUser(pub User);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let CurrentUser(user) = CurrentUser::from_request_parts(parts, state).await?;
        if user.is_admin() {
            Ok(AdminUser(user))
        } else {
            Err(ApiError::forbidden("this needs an admin account"))
        }
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
}

#[derive(Deserialize, ToSchema)]
pub struct RegisterRequest {
    #[schema(example = "ada@example.com")]
    email: String,
    /// At least 10 characters, not the email.
    password: String,
    name: String,
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

/// Creates a customer account.
#[utoipa::path(post, path = "/api/auth/register", tag = "auth", request_body = RegisterRequest,
    responses(
        (status = 201, body = UserResponse),
        (status = 409, description = "The email is taken"),
        (status = 422, description = "A field is invalid"),
        (status = 429, description = "Too many registrations from this address")))]
async fn register(
    State(state): State<AppState>,
    client: ClientInfo,
    Json(body): Json<RegisterRequest>,
) -> Result<(StatusCode, Json<UserResponse>), ApiError> {
    client::check(&state.rate_limits.register, &client)?;
    let user = state
        .ctx
        .accounts()
        .register(Registration {
            email: &body.email,
            password: &body.password,
            name: &body.name,
            phone: body.phone.as_deref(),
        })
        .await?;
    Ok((StatusCode::CREATED, Json(user.into())))
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

/// Revokes the token this request is made with.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "Revoked"), (status = 401)))]
async fn logout(State(state): State<AppState>, parts: Parts) -> Result<StatusCode, ApiError> {
    let token = bearer(&parts)?.ok_or_else(|| {
        ApiError::unauthorized("send the token to revoke as `Authorization: Bearer <token>`")
    })?;
    state.ctx.accounts().logout(&token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The logged-in user.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = UserResponse), (status = 401)))]
async fn me(CurrentUser(user): CurrentUser) -> Json<UserResponse> {
    Json(user.into())
}
