//! Signing in and registering: guests, accounts with argon2id passwords, names nobody can
//! fake, guessing and sign-up limits, and purging what is no longer used.

mod hashing;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::SaltString;
use shared::{User, PASSWORD_CHARS};

pub use hashing::{Busy, HashPool};

use crate::error::ApiError;
use crate::limits::{LoginLimiter, NewUser, SignupLimiter};
use crate::session::{unix_millis, Sessions};
use crate::store::accounts::GuestOutcome;
use crate::store::{accounts, Store, StoreError};
use crate::Config;

/// The one answer for an unknown account and a wrong password, so neither is revealed.
const BAD_CREDENTIALS: &str = "wrong name or password";
/// What a client is told to wait when every hashing thread is busy and the queue is full.
const BUSY_RETRY: Duration = Duration::from_secs(2);
/// How often expired sessions and abandoned guests are purged.
const PURGE_EVERY: Duration = Duration::from_secs(5 * 60);
/// Guests younger than this are never purged: their session may be being issued.
const GUEST_GRACE: Duration = Duration::from_secs(10 * 60);

/// A new session: the user, the cookie value proving it, and the sessions of look-alike
/// guests that registering ended (their sockets are to be closed with 4001).
pub struct SignedIn {
    pub user: User,
    pub cookie: String,
    pub ended_sessions: Vec<u64>,
}

/// Creates users and checks who they are. Cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    store: Store,
    sessions: Sessions,
    hashes: HashPool,
    logins: LoginLimiter,
    signups: SignupLimiter,
    guests_allowed: bool,
    /// Held from a new name's check until its session exists, so two requests cannot
    /// both take one name. Password hashing happens outside it.
    names: Arc<tokio::sync::Mutex<()>>,
}

impl Accounts {
    /// Starts the hashing threads sized by `config`.
    pub fn new(store: Store, sessions: Sessions, config: &Config) -> std::io::Result<Self> {
        let hashes = HashPool::new(config.hash_concurrency(), config.hash_queue)?;
        // Made now, so the first unknown name does not cost two hashes (nor tell so).
        let _ = hashes.spawn(|| {
            dummy_hash();
        });
        Ok(Accounts {
            store,
            sessions,
            hashes,
            logins: LoginLimiter::new(
                config.login_fails_per_name,
                config.login_fails_per_addr,
                config.login_fails_per_name_total,
            ),
            signups: SignupLimiter::new(config.signups_per_addr_hour, config.guests_per_addr_hour),
            guests_allowed: !config.no_guests,
            names: Arc::default(),
        })
    }

    /// `POST /api/register`: a new account; 409 when an account holds a name that looks
    /// the same. Guests with such a name lose their sessions.
    pub async fn register(
        &self,
        name: &str,
        password: &str,
        addr: Option<IpAddr>,
    ) -> Result<SignedIn, ApiError> {
        let name = valid_name(name)?;
        let count = password.chars().count();
        if !PASSWORD_CHARS.contains(&count) {
            return Err(ApiError::BadRequest(format!(
                "password must be {} to {} characters",
                PASSWORD_CHARS.start(),
                PASSWORD_CHARS.end()
            )));
        }
        let counted = self
            .signups
            .take(NewUser::Account, addr)
            .map_err(|wait| ApiError::Limited("too many registrations", wait))?;
        let result = self.create_account(name, password).await;
        if result.is_err() {
            // Only accounts actually created count against the address.
            self.signups.refund(NewUser::Account, addr, counted);
        }
        result
    }

    async fn create_account(&self, name: String, password: &str) -> Result<SignedIn, ApiError> {
        const TAKEN: ApiError = ApiError::Conflict("that name belongs to an account");
        // On the hashing thread, the name is looked up first to spare the hash when it is
        // taken; a request turned away with 503 has cost no database work either.
        let (store, lookup, password) = (self.store.clone(), name.clone(), password.to_owned());
        let hash =
            self.hashes
                .run(
                    move || match store.call_now(|db| accounts::account(db, &lookup)) {
                        Ok(Some(_)) => Err(TAKEN),
                        Ok(None) => hash_password(&password)
                            .map_err(|err| ApiError::Internal(err.to_string())),
                        Err(err) => Err(err.into()),
                    },
                )
                .await
                .map_err(|Busy| ApiError::Busy(BUSY_RETRY))??;
        let _names = self.names.lock().await;
        let created = self
            .store
            .call(move |db| accounts::create_account(db, &name, &hash, unix_millis()))
            .await?;
        let (user, ended_sessions) = created.ok_or(TAKEN)?;
        let cookie = self.sessions.issue(&user).await?;
        Ok(SignedIn {
            user,
            cookie,
            ended_sessions,
        })
    }

    /// `POST /api/signin`: with a password, the account's user; without, a new guest.
    pub async fn sign_in(
        &self,
        name: &str,
        password: Option<&str>,
        addr: Option<IpAddr>,
    ) -> Result<SignedIn, ApiError> {
        let name = valid_name(name)?;
        match password {
            Some(password) => self.sign_in_account(name, password, addr).await,
            None => self.sign_in_guest(name, addr).await,
        }
    }

    async fn sign_in_account(
        &self,
        name: String,
        password: &str,
        addr: Option<IpAddr>,
    ) -> Result<SignedIn, ApiError> {
        // Counted before hashing, so parallel guesses cannot get past the limits.
        let attempt = self
            .logins
            .attempt(&shared::canonical_name(&name), addr)
            .map_err(ApiError::TooManyRequests)?;
        // The lookup runs on the hashing thread too: a flood of sign-ins queues there, not
        // on the database, and one turned away with 503 has cost nothing.
        let store = self.store.clone();
        let password = password.to_owned();
        let checked = self
            .hashes
            .run(move || {
                let account = store.call_now(|db| accounts::account(db, &name))?;
                // An unknown name costs as much as a wrong password, so timing tells nothing.
                let (user, hash) = match account {
                    Some(account) => (Some(account.user), Some(account.password_hash)),
                    None => (None, None),
                };
                let ok = verify_password(&password, hash.as_deref());
                Ok::<_, StoreError>(user.filter(|_| ok))
            })
            .await;
        match checked {
            Err(Busy) => {
                self.logins.refund(attempt);
                Err(ApiError::Busy(BUSY_RETRY))
            }
            Ok(Err(err)) => {
                self.logins.refund(attempt);
                Err(err.into())
            }
            Ok(Ok(Some(user))) => {
                self.logins.refund(attempt);
                let cookie = self.sessions.issue(&user).await?;
                Ok(SignedIn {
                    user,
                    cookie,
                    ended_sessions: Vec::new(),
                })
            }
            Ok(Ok(None)) => Err(ApiError::BadCredentials(BAD_CREDENTIALS)),
        }
    }

    async fn sign_in_guest(
        &self,
        name: String,
        addr: Option<IpAddr>,
    ) -> Result<SignedIn, ApiError> {
        if !self.guests_allowed {
            return Err(ApiError::Forbidden(
                "guest sign-in is turned off; register or sign in with a password",
            ));
        }
        let counted = self
            .signups
            .take(NewUser::Guest, addr)
            .map_err(|wait| ApiError::Limited("too many guest sign-ins", wait))?;
        let result = self.create_guest(name).await;
        if result.is_err() {
            self.signups.refund(NewUser::Guest, addr, counted);
        }
        result
    }

    async fn create_guest(&self, name: String) -> Result<SignedIn, ApiError> {
        let live_since = unix_millis().saturating_sub(self.sessions.idle().as_millis() as u64);
        let _names = self.names.lock().await;
        let outcome = self
            .store
            .call(move |db| accounts::create_guest(db, &name, unix_millis(), live_since))
            .await?;
        let user = match outcome {
            GuestOutcome::Created(user) => user,
            GuestOutcome::AccountHolds => {
                return Err(ApiError::Conflict(
                    "that name belongs to an account; sign in with its password",
                ))
            }
            GuestOutcome::GuestHolds => {
                return Err(ApiError::Conflict("a guest with that name is signed in"))
            }
        };
        let cookie = self.sessions.issue(&user).await?;
        Ok(SignedIn {
            user,
            cookie,
            ended_sessions: Vec::new(),
        })
    }

    /// Purges expired sessions and guests left without one, now and every few minutes,
    /// for as long as the runtime runs. Does nothing outside a tokio runtime.
    pub fn spawn_purge(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = self.store.clone();
        let idle = self.sessions.idle();
        // Ends once the server's own handles are gone, so the database is not kept open.
        let alive = Arc::downgrade(&self.names);
        runtime.spawn(async move {
            let mut every = tokio::time::interval(PURGE_EVERY);
            while alive.strong_count() > 0 {
                every.tick().await;
                if alive.strong_count() == 0 {
                    break;
                }
                let now = unix_millis();
                let idle_before = now.saturating_sub(idle.as_millis() as u64);
                let guests_before = now.saturating_sub(GUEST_GRACE.as_millis() as u64);
                match store
                    .call(move |db| accounts::purge(db, idle_before, guests_before))
                    .await
                {
                    Ok((0, 0)) => {}
                    Ok((sessions, guests)) => {
                        tracing::info!(sessions, guests, "purged expired sessions and guests")
                    }
                    Err(err) => tracing::warn!(%err, "purging sessions and guests failed"),
                }
            }
        });
    }
}

fn valid_name(raw: &str) -> Result<String, ApiError> {
    shared::validate_name(raw).map_err(|err| ApiError::BadRequest(err.to_string()))
}

fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    hashing::hash_password(password.as_bytes(), &new_salt()?)
}

/// Checks `password` against `hash`, or against a dummy hash when there is none.
fn verify_password(password: &str, hash: Option<&str>) -> bool {
    let dummy;
    let hash = match hash {
        Some(hash) => hash,
        None => {
            dummy = dummy_hash();
            &dummy
        }
    };
    hashing::verify_password(password.as_bytes(), hash)
}

/// A real argon2id hash of a password nobody has, made once.
fn dummy_hash() -> String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| hash_password("no account has this password").unwrap_or_default())
        .clone()
}

fn new_salt() -> Result<SaltString, argon2::password_hash::Error> {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    SaltString::encode_b64(&bytes)
}
