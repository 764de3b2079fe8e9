//! Signing in and registering: guests, accounts with argon2id passwords, names nobody can
//! fake, guessing and sign-up limits, and purging what is no longer used.

mod hashing;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::SaltString;
use shared::{User, PASSWORD_CHARS};

pub use hashing::{Busy, HashPool};

use crate::limits::{Ledger, LimitError, LoginLimiter, NewUser, SignupLimiter};
use crate::session::{unix_millis, Sessions};
use crate::store::accounts::GuestOutcome;
use crate::store::{accounts, Store, StoreError};
use crate::Config;

/// What a client is told to wait when every hashing thread is busy and the queue is full.
const BUSY_RETRY: Duration = Duration::from_secs(2);
/// How often expired sessions and abandoned guests are purged.
const PURGE_EVERY: Duration = Duration::from_secs(5 * 60);
/// Guests younger than this are never purged: their session may be being issued.
const GUEST_GRACE: Duration = Duration::from_secs(10 * 60);

/// Why signing in or registering failed. Says nothing about HTTP; the API maps each to
/// one answer (`impl From<AccountError> for ApiError`).
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    BadName(shared::NameError),
    /// A new password whose length is outside [`PASSWORD_CHARS`], or none.
    #[error("password must be {} to {} characters", PASSWORD_CHARS.start(), PASSWORD_CHARS.end())]
    BadPassword,
    /// Registering a name that an account holds (or one that looks the same).
    #[error("that name belongs to an account")]
    AccountHolds,
    /// A guest sign-in with a name that an account holds.
    #[error("that name belongs to an account; sign in with its password")]
    AccountHoldsSignIn,
    #[error("a guest with that name is signed in")]
    GuestHolds,
    /// A password sign-in to a name that no account holds.
    #[error("no account has that name")]
    NoAccount,
    #[error("wrong password")]
    WrongPassword,
    /// Guests are turned off (`--no-guests`).
    #[error("guest sign-in is turned off")]
    GuestsOff,
    /// Too many failed password sign-ins; retry after this long.
    #[error("too many failed attempts")]
    TooManyAttempts(Duration),
    #[error("too many registrations")]
    TooManyRegistrations(Duration),
    #[error("too many guest sign-ins")]
    TooManyGuests(Duration),
    /// Every hashing thread is busy and the queue is full.
    #[error("busy")]
    Busy(Duration),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

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
        let ledger = Ledger::for_store(&store);
        Ok(Accounts {
            store,
            sessions,
            hashes,
            logins: LoginLimiter::new(
                &ledger,
                config.login_fails_per_name,
                config.login_fails_per_addr,
                config.login_fails_per_name_total,
            ),
            signups: SignupLimiter::new(
                &ledger,
                config.signups_per_addr_hour,
                config.guests_per_addr_hour,
            ),
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
    ) -> Result<SignedIn, AccountError> {
        let name = valid_name(name)?;
        if !PASSWORD_CHARS.contains(&password.chars().count()) {
            return Err(AccountError::BadPassword);
        }
        let counted = self
            .signups
            .take(NewUser::Account, addr)
            .await
            .map_err(limited(AccountError::TooManyRegistrations))?;
        let result = self.create_account(name, password).await;
        if result.is_err() {
            // Only accounts actually created count against the address.
            self.signups.refund(counted).await;
        }
        result
    }

    async fn create_account(&self, name: String, password: &str) -> Result<SignedIn, AccountError> {
        // On the hashing thread, the name is looked up first to spare the hash when it is
        // taken; a request turned away with 503 has cost no database work either.
        let (store, lookup, password) = (self.store.clone(), name.clone(), password.to_owned());
        let hash = self
            .hashes
            .run(
                move || match store.call_now(|db| accounts::account(db, &lookup)) {
                    Ok(Some(_)) => Err(AccountError::AccountHolds),
                    Ok(None) => hash_password(&password)
                        .map_err(|err| AccountError::Hashing(err.to_string())),
                    Err(err) => Err(err.into()),
                },
            )
            .await
            .map_err(|Busy| AccountError::Busy(BUSY_RETRY))??;
        let _names = self.names.lock().await;
        let created = self
            .store
            .call(move |db| accounts::create_account(db, &name, &hash, unix_millis()))
            .await?;
        let (user, ended_sessions) = created.ok_or(AccountError::AccountHolds)?;
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
    ) -> Result<SignedIn, AccountError> {
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
    ) -> Result<SignedIn, AccountError> {
        // Counted before hashing, so parallel guesses cannot get past the limits.
        let attempt = self
            .logins
            .attempt(&shared::canonical_name(&name), addr)
            .await
            .map_err(limited(AccountError::TooManyAttempts))?;
        // The lookup runs on the hashing thread too: a flood of sign-ins queues there, not
        // on the database, and one turned away with 503 has cost nothing. An unknown name
        // is said to be one (the client offers to register it), so it needs no hash; it
        // still counts as a failed attempt, which bounds how fast names can be probed.
        let store = self.store.clone();
        let password = password.to_owned();
        let checked = self
            .hashes
            .run(move || {
                let Some(account) = store.call_now(|db| accounts::account(db, &name))? else {
                    return Ok(Err(AccountError::NoAccount));
                };
                if hashing::verify_password(password.as_bytes(), &account.password_hash) {
                    Ok(Ok(account.user))
                } else {
                    Ok(Err(AccountError::WrongPassword))
                }
            })
            .await;
        match checked {
            Err(Busy) => {
                self.logins.refund(attempt).await;
                Err(AccountError::Busy(BUSY_RETRY))
            }
            Ok(Err::<_, StoreError>(err)) => {
                self.logins.refund(attempt).await;
                Err(err.into())
            }
            Ok(Ok(Ok(user))) => {
                self.logins.refund(attempt).await;
                let cookie = self.sessions.issue(&user).await?;
                Ok(SignedIn {
                    user,
                    cookie,
                    ended_sessions: Vec::new(),
                })
            }
            Ok(Ok(Err(refused))) => Err(refused),
        }
    }

    async fn sign_in_guest(
        &self,
        name: String,
        addr: Option<IpAddr>,
    ) -> Result<SignedIn, AccountError> {
        if !self.guests_allowed {
            return Err(AccountError::GuestsOff);
        }
        let counted = self
            .signups
            .take(NewUser::Guest, addr)
            .await
            .map_err(limited(AccountError::TooManyGuests))?;
        let result = self.create_guest(name).await;
        if result.is_err() {
            self.signups.refund(counted).await;
        }
        result
    }

    async fn create_guest(&self, name: String) -> Result<SignedIn, AccountError> {
        let live_since = unix_millis().saturating_sub(self.sessions.idle().as_millis() as u64);
        let _names = self.names.lock().await;
        let outcome = self
            .store
            .call(move |db| accounts::create_guest(db, &name, unix_millis(), live_since))
            .await?;
        let user = match outcome {
            GuestOutcome::Created(user) => user,
            GuestOutcome::AccountHolds => return Err(AccountError::AccountHoldsSignIn),
            GuestOutcome::GuestHolds => return Err(AccountError::GuestHolds),
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
                if let Err(err) = Ledger::for_store(&store).prune().await {
                    tracing::warn!(%err, "purging counted sign-in attempts failed");
                }
            }
        });
    }
}

/// A limit used up becomes `too_many` with its wait; shared counters out of reach refuse
/// the attempt as a storage error.
fn limited(too_many: fn(Duration) -> AccountError) -> impl Fn(LimitError) -> AccountError {
    move |err| match err {
        LimitError::Wait(wait) => too_many(wait),
        LimitError::Store(err) => AccountError::Store(err),
    }
}

fn valid_name(raw: &str) -> Result<String, AccountError> {
    shared::validate_name(raw).map_err(AccountError::BadName)
}

fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    hashing::hash_password(password.as_bytes(), &new_salt()?)
}

fn new_salt() -> Result<SaltString, argon2::password_hash::Error> {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    SaltString::encode_b64(&bytes)
}
