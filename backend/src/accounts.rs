//! Signing in and registering: guests, accounts with argon2id passwords, guessing limits.

use std::net::IpAddr;
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use shared::{User, PASSWORD_CHARS};

use crate::error::ApiError;
use crate::limits::LoginLimiter;
use crate::session::unix_millis;
use crate::store::{accounts, Store};

/// The one answer for an unknown account and a wrong password, so neither is revealed.
const BAD_CREDENTIALS: &str = "wrong name or password";

/// Creates users and checks who they are. Cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    store: Store,
    limiter: LoginLimiter,
    guests_allowed: bool,
}

impl Accounts {
    pub fn new(store: Store, limiter: LoginLimiter, guests_allowed: bool) -> Self {
        Accounts {
            store,
            limiter,
            guests_allowed,
        }
    }

    /// `POST /api/register`: a new account; 409 when an account holds the name.
    pub async fn register(&self, name: &str, password: &str) -> Result<User, ApiError> {
        let name = valid_name(name)?;
        let count = password.chars().count();
        if !PASSWORD_CHARS.contains(&count) {
            return Err(ApiError::BadRequest(format!(
                "password must be {} to {} characters",
                PASSWORD_CHARS.start(),
                PASSWORD_CHARS.end()
            )));
        }
        let hash = hash_password(password.to_owned()).await?;
        let created = self
            .store
            .call(move |db| accounts::create_user(db, &name, Some(&hash), unix_millis()))
            .await?;
        created.ok_or(ApiError::Conflict("that name belongs to an account"))
    }

    /// `POST /api/signin`: with a password, the account's user; without, a new guest.
    pub async fn sign_in(
        &self,
        name: &str,
        password: Option<&str>,
        addr: Option<IpAddr>,
    ) -> Result<User, ApiError> {
        let name = valid_name(name)?;
        let lookup = name.clone();
        let account = self
            .store
            .call(move |db| accounts::account(db, &lookup))
            .await?;
        let Some(password) = password else {
            if !self.guests_allowed {
                return Err(ApiError::Forbidden(
                    "guest sign-in is turned off; register or sign in with a password",
                ));
            }
            if account.is_some() {
                return Err(ApiError::Conflict(
                    "that name belongs to an account; sign in with its password",
                ));
            }
            let created = self
                .store
                .call(move |db| accounts::create_user(db, &name, None, unix_millis()))
                .await?;
            return created.ok_or(ApiError::Conflict("that name is taken"));
        };

        let key = accounts::name_key(&name);
        self.limiter
            .check(&key, addr)
            .map_err(|wait| ApiError::TooManyRequests(wait.max(Duration::from_secs(1))))?;
        // An unknown name costs as much as a wrong password, so timing tells nothing.
        let (user, hash) = match account {
            Some(account) => (Some(account.user), Some(account.password_hash)),
            None => (None, None),
        };
        let ok = verify_password(password.to_owned(), hash).await? && user.is_some();
        match user {
            Some(user) if ok => Ok(user),
            _ => {
                self.limiter.failed(&key, addr);
                Err(ApiError::BadCredentials(BAD_CREDENTIALS))
            }
        }
    }
}

fn valid_name(raw: &str) -> Result<String, ApiError> {
    shared::validate_name(raw).map_err(|err| ApiError::BadRequest(err.to_string()))
}

async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        let salt = new_salt()?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
    })
    .await
    .map_err(|err| ApiError::Internal(err.to_string()))?
    .map_err(|err| ApiError::Internal(err.to_string()))
}

/// Checks `password` against `hash`, or against a dummy hash when there is none.
async fn verify_password(password: String, hash: Option<String>) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        let hash = hash.unwrap_or_else(dummy_hash);
        let Ok(parsed) = PasswordHash::new(&hash) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
    .await
    .map_err(|err| ApiError::Internal(err.to_string()))
}

/// A real argon2id hash of a password nobody has, made once.
fn dummy_hash() -> String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| {
            new_salt()
                .and_then(|salt| {
                    Argon2::default()
                        .hash_password(b"no account has this password", &salt)
                        .map(|hash| hash.to_string())
                })
                .unwrap_or_default()
        })
        .clone()
}

fn new_salt() -> Result<SaltString, argon2::password_hash::Error> {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    SaltString::encode_b64(&bytes)
}
