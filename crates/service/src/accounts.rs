//! Accounts: registration, login with bearer tokens, logout, admin bootstrap
//! and role changes. Passwords are argon2id hashes; tokens are 256 random
//! bits shown once and stored only as SHA-256 hashes.

use std::sync::OnceLock;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tourdesk_domain::{Email, Password, PersonName, Phone, Role};
use tourdesk_store::constraint;
use tourdesk_store::users::{self, NewUser, UserRow};

use crate::{Context, ServiceError, ServiceResult};

/// A user as the rest of the system sees it (no password hash).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub phone: Option<String>,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

impl User {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

impl TryFrom<UserRow> for User {
    type Error = ServiceError;
    fn try_from(row: UserRow) -> ServiceResult<User> {
        let role = row
            .role
            .parse::<Role>()
            .map_err(|e| ServiceError::corrupt(format!("user {} has a bad role: {e}", row.id)))?;
        Ok(User {
            id: row.id,
            email: row.email,
            name: row.name,
            phone: row.phone,
            role,
            created_at: row.created_at,
        })
    }
}

/// A fresh login: the token is shown to the client once.
#[derive(Debug, Clone)]
pub struct Session {
    pub access_token: String,
    pub expires_at: DateTime<Utc>,
    pub user: User,
}

/// What a registration answers: the validated request, the same whether an
/// account was created or the email already had one.
#[derive(Debug, Clone)]
pub struct Registered {
    pub email: String,
    pub name: String,
    pub phone: Option<String>,
}

pub struct Registration<'a> {
    pub email: &'a str,
    pub password: &'a str,
    pub name: &'a str,
    pub phone: Option<&'a str>,
}

const LOGIN_FAILED: &str = "the email or password is incorrect";

/// SHA-256 of a secret (bearer and manage tokens), hex-encoded.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The CSRF token that goes with a web session: derived from the session
/// token (so nothing more is stored), useless without it, and unguessable
/// by anyone who cannot read the session cookie.
pub fn csrf_token(session_token: &str) -> String {
    hash_secret(&format!("tourdesk-csrf-v1:{session_token}"))
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn secrets_match(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A new random secret with a recognisable prefix, 256 bits of entropy.
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}_{}", hex::encode(bytes))
}

async fn hash_password(password: String) -> ServiceResult<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
    })
    .await
    .map_err(|e| ServiceError::internal(format!("password hashing task failed: {e}")))?
    .map_err(|e| ServiceError::internal(format!("password hashing failed: {e}")))
}

/// Verifies off the async threads; a malformed stored hash never matches.
async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .verify_password(password.as_bytes(), hash.as_str())
            .is_ok()
    })
    .await
    .unwrap_or(false)
}

/// A hash to verify against when the email is unknown, so that a failed
/// login costs the same time whether or not the account exists.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        Argon2::default()
            .hash_password(new_secret("dummy").as_bytes())
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

fn parse_email(text: &str) -> ServiceResult<Email> {
    Email::parse(text).map_err(|e| ServiceError::invalid("email", e.0))
}

/// The account use cases.
pub struct Accounts<'a>(pub(crate) &'a Context);

impl Accounts<'_> {
    /// Creates a customer account. The answer is the same whether or not
    /// the email already has an account (which is then left untouched), so
    /// registration cannot be used to learn who has one: both cost a
    /// password hash, both return the validated request.
    pub async fn register(&self, r: Registration<'_>) -> ServiceResult<Registered> {
        let email = parse_email(r.email)?;
        let name = PersonName::parse(r.name).map_err(|e| ServiceError::invalid("name", e.0))?;
        let phone =
            Phone::parse_optional(r.phone).map_err(|e| ServiceError::invalid("phone", e.0))?;
        let password = Password::parse(r.password, &email)
            .map_err(|e| ServiceError::invalid("password", e.0))?;
        match self
            .insert(&email, &name, phone.as_ref(), Role::Customer, &password)
            .await
        {
            Ok(_)
            | Err(ServiceError::Conflict {
                code: "email_taken",
                ..
            }) => Ok(Registered {
                email: email.as_str().to_owned(),
                name: name.as_str().to_owned(),
                phone: phone.map(|p| p.as_str().to_owned()),
            }),
            Err(e) => Err(e),
        }
    }

    async fn insert(
        &self,
        email: &Email,
        name: &PersonName,
        phone: Option<&Phone>,
        role: Role,
        password: &Password,
    ) -> ServiceResult<User> {
        let hash = hash_password(password.expose().to_owned()).await?;
        let now = self.0.clock.now();
        let mut tx = self.0.db.begin().await?;
        let lower = email.normalized();
        let row = users::insert_user(
            &mut tx,
            &NewUser {
                email: email.as_str(),
                email_lower: &lower,
                name: name.as_str(),
                phone: phone.map(Phone::as_str),
                role: role.as_str(),
                password_hash: &hash,
            },
            now,
        )
        .await
        .map_err(|e| {
            if e.is_unique(constraint::USER_EMAIL) {
                ServiceError::conflict("email_taken", "an account with this email already exists")
            } else {
                e.into()
            }
        })?;
        tx.commit().await?;
        User::try_from(row)
    }

    /// Checks the password and issues a bearer token.
    pub async fn login(&self, email: &str, password: &str) -> ServiceResult<Session> {
        let refused = || ServiceError::Unauthenticated(LOGIN_FAILED.into());
        let lower = email.trim().to_lowercase();
        // No account's email holds a control character (`Email` refuses
        // them), and PostgreSQL cannot even compare a NUL: such an email is
        // unknown without asking the database.
        let row = if lower.chars().any(char::is_control) {
            None
        } else {
            let mut conn = self.0.db.read().await?;
            users::user_by_email(&mut conn, &lower).await?
        };
        let Some(row) = row else {
            verify_password(password.to_owned(), dummy_hash().to_owned()).await;
            return Err(refused());
        };
        if !verify_password(password.to_owned(), row.password_hash.clone()).await {
            return Err(refused());
        }
        let user = User::try_from(row)?;
        let token = new_secret("tdk");
        let now = self.0.clock.now();
        let expires_at = now + Duration::hours(i64::from(self.0.settings.auth_token_ttl_hours));
        let mut tx = self.0.db.begin().await?;
        users::insert_token(&mut tx, user.id, &hash_secret(&token), now, expires_at).await?;
        tx.commit().await?;
        Ok(Session {
            access_token: token,
            expires_at,
            user,
        })
    }

    /// The user a bearer token stands for; 401 when unknown, expired or revoked.
    pub async fn authenticate(&self, token: &str) -> ServiceResult<User> {
        let mut conn = self.0.db.read().await?;
        let row = users::user_by_token(&mut conn, &hash_secret(token), self.0.clock.now()).await?;
        match row {
            Some(row) => User::try_from(row),
            None => Err(ServiceError::Unauthenticated(
                "the access token is unknown, expired or revoked".into(),
            )),
        }
    }

    /// Revokes the token; 401 when it was not live.
    pub async fn logout(&self, token: &str) -> ServiceResult<()> {
        let mut tx = self.0.db.begin().await?;
        let revoked = users::revoke_token(&mut tx, &hash_secret(token), self.0.clock.now()).await?;
        tx.commit().await?;
        if revoked {
            Ok(())
        } else {
            Err(ServiceError::Unauthenticated(
                "the access token is not live".into(),
            ))
        }
    }

    /// Revokes every session of the user ("log out everywhere"), the
    /// current one included; returns how many were live.
    pub async fn logout_everywhere(&self, user_id: i64) -> ServiceResult<u64> {
        let mut tx = self.0.db.begin().await?;
        let n = users::revoke_user_tokens(&mut tx, user_id, self.0.clock.now()).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Makes sure `email` is an admin with `password`: creates the account,
    /// or promotes it and resets its password. Idempotent.
    pub async fn ensure_admin(
        &self,
        email: &str,
        password: &str,
        name: &str,
    ) -> ServiceResult<User> {
        self.upsert(email, password, name, Role::Admin).await
    }

    /// Creates a user with a role (command line), or sets the role and
    /// password of an existing one.
    pub async fn upsert(
        &self,
        email: &str,
        password: &str,
        name: &str,
        role: Role,
    ) -> ServiceResult<User> {
        let email = parse_email(email)?;
        let password = Password::parse(password, &email)
            .map_err(|e| ServiceError::invalid("password", e.0))?;
        // Several instances may bootstrap the same admin at once: whoever
        // loses the insert race finds the winner's row and updates it.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let mut conn = self.0.db.read().await?;
            let existing = users::user_by_email(&mut conn, &email.normalized()).await?;
            drop(conn);
            let Some(row) = existing else {
                let name =
                    PersonName::parse(name).map_err(|e| ServiceError::invalid("name", e.0))?;
                match self.insert(&email, &name, None, role, &password).await {
                    Err(ServiceError::Conflict {
                        code: "email_taken",
                        ..
                    }) if attempts < 3 => continue,
                    other => return other,
                }
            };
            let keeps_password =
                verify_password(password.expose().to_owned(), row.password_hash.clone()).await;
            let hash = if keeps_password {
                None
            } else {
                Some(hash_password(password.expose().to_owned()).await?)
            };
            let mut tx = self.0.db.begin().await?;
            users::update_user_access(
                &mut tx,
                row.id,
                role.as_str(),
                hash.as_deref(),
                self.0.clock.now(),
            )
            .await?;
            let row = users::user_by_id(&mut tx, row.id).await?;
            tx.commit().await?;
            let row = row.ok_or_else(|| ServiceError::not_found("the user vanished"))?;
            return User::try_from(row);
        }
    }

    /// Changes the role of an existing user.
    pub async fn set_role(&self, email: &str, role: Role) -> ServiceResult<User> {
        let email = parse_email(email)?;
        let mut tx = self.0.db.begin().await?;
        let row = users::user_by_email(&mut tx, &email.normalized())
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("no user with email {email}")))?;
        users::update_user_access(&mut tx, row.id, role.as_str(), None, self.0.clock.now()).await?;
        let row = users::user_by_id(&mut tx, row.id).await?;
        tx.commit().await?;
        User::try_from(row.ok_or_else(|| ServiceError::not_found("the user vanished"))?)
    }

    pub async fn user(&self, id: i64) -> ServiceResult<User> {
        let mut conn = self.0.db.read().await?;
        let row = users::user_by_id(&mut conn, id).await?;
        User::try_from(row.ok_or_else(|| ServiceError::not_found(format!("user {id} not found")))?)
    }
}
