//! Attempt counting over sliding windows: failed sign-ins per (name, address), per address
//! and per name; registrations and guest sign-ins per address; rooms created per user.
//! Also the size limit of request bodies.
//!
//! Sign-in and sign-up attempts are counted where every server sees them ([`Ledger`]): in
//! memory with SQLite (one server), in the shared database with PostgreSQL. Rooms and DMs
//! per user, like the chat allowance, are counted by each server on its own.
//!
//! An attempt is counted *before* the work it stands for (a password hash) and refunded
//! when it turns out fine, so requests sent in parallel cannot slip past a limit.
//! Addresses are keyed by [`crate::net::addr_key`]: IPv6 clients count per /64.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::net::addr_key;
use crate::session::unix_millis;
use crate::store::db::Dialect;
use crate::store::{self, Store, StoreError};

/// Largest request body the API reads.
pub const MAX_BODY_BYTES: usize = 4096;
/// Rooms one user may create in any hour.
pub const ROOMS_PER_HOUR: usize = 20;
/// `POST /api/dm` requests one user may make in any hour: each may create a room and
/// tells the other user, so a visitor cannot open a DM with everyone.
pub const DMS_PER_HOUR: usize = 60;

/// The window failed sign-ins are counted over.
const LOGIN_WINDOW: Duration = Duration::from_secs(60);
/// The window registrations and guest sign-ins are counted over.
const HOUR: Duration = Duration::from_secs(60 * 60);
/// Keys tracked per limit before expired ones are swept out.
const MAX_KEYS: usize = 100_000;

/// At most `limit` attempts per key in any `window`. Cheap to clone; the lock is never
/// held across an `.await`.
#[derive(Clone)]
pub struct SlidingLimit<K> {
    inner: Arc<Mutex<HashMap<K, VecDeque<Instant>>>>,
    limit: usize,
    window: Duration,
}

impl<K: Hash + Eq + Clone> SlidingLimit<K> {
    pub fn new(limit: usize, window: Duration) -> Self {
        SlidingLimit {
            inner: Arc::default(),
            limit,
            window,
        }
    }

    /// `Err(retry_after)` while `key` has used up its attempts.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        let now = Instant::now();
        let mut map = lock(&self.inner);
        match map.get_mut(key) {
            Some(times) => self.wait_time(times, now).map_or(Ok(()), Err),
            None => Ok(()),
        }
    }

    /// Counts an attempt for `key` now; `Err(retry_after)`, counting nothing, when it is
    /// over the limit.
    pub fn take(&self, key: &K) -> Result<Instant, Duration> {
        let now = Instant::now();
        let mut map = lock(&self.inner);
        self.take_locked(&mut map, key, now)?;
        Ok(now)
    }

    /// Gives back an attempt counted at `at` by [`SlidingLimit::take`].
    pub fn refund(&self, key: &K, at: Instant) {
        let mut map = lock(&self.inner);
        refund_locked(&mut map, key, at);
    }

    fn take_locked(
        &self,
        map: &mut HashMap<K, VecDeque<Instant>>,
        key: &K,
        now: Instant,
    ) -> Result<(), Duration> {
        if let Some(times) = map.get_mut(key) {
            if let Some(wait) = self.wait_time(times, now) {
                return Err(wait);
            }
        }
        if map.len() >= MAX_KEYS && !map.contains_key(key) {
            let window = self.window;
            map.retain(|_, t| t.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        map.entry(key.clone()).or_default().push_back(now);
        Ok(())
    }

    /// How long until `times` drops below the limit, if it is at it. Drops expired times.
    fn wait_time(&self, times: &mut VecDeque<Instant>, now: Instant) -> Option<Duration> {
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            times.pop_front();
        }
        if self.limit == 0 {
            return Some(self.window);
        }
        if times.len() < self.limit {
            return None;
        }
        // Only the newest `limit` attempts decide anything, so no window grows past it.
        let oldest = times.get(times.len() - self.limit)?;
        let wait = self.window.saturating_sub(now.duration_since(*oldest));
        Some(wait.max(Duration::from_secs(1)))
    }
}

fn refund_locked<K: Hash + Eq>(map: &mut HashMap<K, VecDeque<Instant>>, key: &K, at: Instant) {
    if let Some(times) = map.get_mut(key) {
        if let Some(pos) = times.iter().rposition(|t| *t == at) {
            times.remove(pos);
        }
        if times.is_empty() {
            map.remove(key);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// Why an attempt was not counted.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// A limit is used up; retry after this long.
    #[error("too many attempts")]
    Wait(Duration),
    /// The shared counters could not be read: the attempt is refused, never let through.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// Where the sign-in and sign-up attempts are counted: in this process (SQLite: there is
/// one server), or in the database every server shares (PostgreSQL), so that a limit
/// holds whichever server a request reaches.
#[derive(Clone)]
pub enum Ledger {
    Local,
    Shared(Store),
}

impl Ledger {
    /// Shared when `store` is PostgreSQL.
    pub fn for_store(store: &Store) -> Ledger {
        match store.dialect() {
            Dialect::Postgres => Ledger::Shared(store.clone()),
            Dialect::Sqlite => Ledger::Local,
        }
    }

    /// Deletes shared attempts older than any window; nothing to do in memory, where
    /// expired ones are dropped as keys are used.
    pub async fn prune(&self) -> Result<u64, StoreError> {
        match self {
            Ledger::Local => Ok(0),
            Ledger::Shared(store) => {
                let before = unix_millis().saturating_sub(HOUR.as_millis() as u64);
                store.call(move |db| store::limits::prune(db, before)).await
            }
        }
    }
}

/// Several limits an attempt counts against together: each a name, how many attempts
/// it allows per key and over how long.
#[derive(Clone)]
struct Limits {
    rules: Vec<(&'static str, usize, Duration)>,
    counts: Counts,
}

#[derive(Clone)]
enum Counts {
    /// One window per rule, in the order of the rules.
    Local(Vec<SlidingLimit<String>>),
    Shared(Store),
}

/// One attempt counted by [`Limits::take`], to give back with [`Limits::refund`].
#[derive(Debug)]
struct Taken {
    keys: Vec<String>,
    stamp: Stamp,
}

#[derive(Debug, Clone, Copy)]
enum Stamp {
    Local(Instant),
    Shared(u64),
}

impl Limits {
    fn new(ledger: &Ledger, rules: Vec<(&'static str, usize, Duration)>) -> Limits {
        let counts = match ledger {
            Ledger::Local => Counts::Local(
                rules
                    .iter()
                    .map(|(_, limit, window)| SlidingLimit::new(*limit, *window))
                    .collect(),
            ),
            Ledger::Shared(store) => Counts::Shared(store.clone()),
        };
        Limits { rules, counts }
    }

    /// Counts one attempt against every rule, `keys[i]` under rule `i`, or against none.
    async fn take(&self, keys: Vec<String>) -> Result<Taken, LimitError> {
        match &self.counts {
            Counts::Local(windows) => {
                // Checked all together first, so a refused attempt counts against none.
                let pairs = || windows.iter().zip(&keys);
                if let Some(wait) = pairs().filter_map(|(w, k)| w.check(k).err()).max() {
                    return Err(LimitError::Wait(wait));
                }
                let mut at = None;
                for (index, (window, key)) in pairs().enumerate() {
                    match window.take(key) {
                        Ok(taken) => {
                            at.get_or_insert(taken);
                        }
                        Err(wait) => {
                            if let Some(at) = at {
                                for (window, key) in pairs().take(index) {
                                    refund_latest(window, key, at);
                                }
                            }
                            return Err(LimitError::Wait(wait));
                        }
                    }
                }
                // Each window stamped its own `now`; a refund finds them by recency.
                let at = at.unwrap_or_else(Instant::now);
                Ok(Taken {
                    keys,
                    stamp: Stamp::Local(at),
                })
            }
            Counts::Shared(store) => {
                let rules = self.shared_rules(&keys);
                let now = unix_millis();
                match store
                    .call(move |db| store::limits::take(db, &rules, now))
                    .await?
                {
                    Ok(()) => Ok(Taken {
                        keys,
                        stamp: Stamp::Shared(now),
                    }),
                    Err(wait_ms) => Err(LimitError::Wait(Duration::from_millis(wait_ms))),
                }
            }
        }
    }

    /// Gives back an attempt: it does not count after all.
    async fn refund(&self, taken: Taken) {
        match (&self.counts, taken.stamp) {
            (Counts::Local(windows), Stamp::Local(at)) => {
                for (window, key) in windows.iter().zip(&taken.keys) {
                    refund_latest(window, key, at);
                }
            }
            (Counts::Shared(store), Stamp::Shared(at)) => {
                let rules = self.shared_rules(&taken.keys);
                let refunded = store
                    .call(move |db| store::limits::refund(db, &rules, at))
                    .await;
                if let Err(err) = refunded {
                    // The attempt keeps counting until it leaves its window: stricter,
                    // never looser.
                    tracing::warn!(%err, "could not give back a counted attempt");
                }
            }
            _ => {}
        }
    }

    /// The rows' keys: the rule's name, then who it counts.
    fn shared_rules(&self, keys: &[String]) -> Vec<store::limits::Rule> {
        self.rules
            .iter()
            .zip(keys)
            .map(|((name, limit, window), key)| store::limits::Rule {
                key: format!("{name}\n{key}"),
                limit: *limit,
                window_ms: window.as_millis() as u64,
            })
            .collect()
    }
}

/// One password attempt, counted against every sign-in limit until refunded.
#[derive(Debug)]
#[must_use = "refund the attempt when the password was right"]
pub struct Attempt(Taken);

/// Failed password sign-ins: per (name, address), per address, and per name from all
/// addresses. The last is much higher, so guesses from elsewhere never lock the owner out.
#[derive(Clone)]
pub struct LoginLimiter {
    limits: Limits,
}

impl LoginLimiter {
    pub fn new(ledger: &Ledger, per_name_addr: usize, per_addr: usize, per_name: usize) -> Self {
        LoginLimiter {
            limits: Limits::new(
                ledger,
                vec![
                    ("login-name-addr", per_name_addr, LOGIN_WINDOW),
                    ("login-addr", per_addr, LOGIN_WINDOW),
                    ("login-name", per_name, LOGIN_WINDOW),
                ],
            ),
        }
    }

    /// Counts a password attempt for `name` (its canonical form) from `addr` before the
    /// password is checked; [`LimitError::Wait`], counting nothing, when a limit is used up.
    pub async fn attempt(&self, name: &str, addr: Option<IpAddr>) -> Result<Attempt, LimitError> {
        let addr = addr_text(addr);
        let keys = vec![format!("{name}\n{addr}"), addr, name.to_owned()];
        self.limits.take(keys).await.map(Attempt)
    }

    /// The password was right (or never checked): the attempt does not count.
    pub async fn refund(&self, attempt: Attempt) {
        self.limits.refund(attempt.0).await;
    }
}

/// An address as the limits count it: IPv6 per /64 ([`addr_key`]), `-` for none.
fn addr_text(addr: Option<IpAddr>) -> String {
    addr.map(addr_key)
        .map_or_else(|| "-".to_owned(), |addr| addr.to_string())
}

/// Refunds the newest attempt of `key` taken at or after `since`.
fn refund_latest<K: Hash + Eq + Clone>(limit: &SlidingLimit<K>, key: &K, since: Instant) {
    let mut map = lock(&limit.inner);
    let found = map
        .get(key)
        .and_then(|times| times.iter().rev().find(|t| **t >= since).copied());
    if let Some(at) = found {
        refund_locked(&mut map, key, at);
    }
}

/// Rooms created per user id, [`ROOMS_PER_HOUR`] in any hour. Counted per server.
pub fn room_creations() -> SlidingLimit<u64> {
    SlidingLimit::new(ROOMS_PER_HOUR, HOUR)
}

/// `POST /api/dm` per user id, [`DMS_PER_HOUR`] in any hour. Counted per server.
pub fn dm_requests() -> SlidingLimit<u64> {
    SlidingLimit::new(DMS_PER_HOUR, HOUR)
}

/// Registrations and guest sign-ins per client address per hour.
#[derive(Clone)]
pub struct SignupLimiter {
    accounts: Limits,
    guests: Limits,
}

/// Which kind of new user a [`SignupLimiter`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewUser {
    Account,
    Guest,
}

/// A new user counted by [`SignupLimiter::take`], until refunded.
#[derive(Debug)]
pub struct Signup {
    kind: NewUser,
    taken: Taken,
}

impl SignupLimiter {
    pub fn new(ledger: &Ledger, accounts_per_hour: usize, guests_per_hour: usize) -> Self {
        SignupLimiter {
            accounts: Limits::new(ledger, vec![("signup-account", accounts_per_hour, HOUR)]),
            guests: Limits::new(ledger, vec![("signup-guest", guests_per_hour, HOUR)]),
        }
    }

    fn limits(&self, kind: NewUser) -> &Limits {
        match kind {
            NewUser::Account => &self.accounts,
            NewUser::Guest => &self.guests,
        }
    }

    /// Counts a new user of `kind` from `addr`; [`LimitError::Wait`] past the hourly limit.
    pub async fn take(&self, kind: NewUser, addr: Option<IpAddr>) -> Result<Signup, LimitError> {
        let taken = self.limits(kind).take(vec![addr_text(addr)]).await?;
        Ok(Signup { kind, taken })
    }

    /// Gives the count back when no user was created after all.
    pub async fn refund(&self, signup: Signup) {
        self.limits(signup.kind).refund(signup.taken).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    /// Every test runs on both ledgers: in memory, and in a database (SQLite in memory
    /// with PostgreSQL's `limit_hits` table; the queries are the same).
    fn ledgers() -> [Ledger; 2] {
        let store = Store::open_in_memory().unwrap();
        store
            .call_now(|db| db.batch(store::limits::tests::TABLE))
            .unwrap();
        [Ledger::Local, Ledger::Shared(store)]
    }

    fn waits<T: std::fmt::Debug>(result: Result<T, LimitError>) -> Duration {
        match result {
            Err(LimitError::Wait(wait)) => wait,
            other => panic!("expected to wait, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn fifth_failure_for_a_name_from_one_address_blocks_the_sixth_attempt() {
        for ledger in ledgers() {
            let limiter = LoginLimiter::new(&ledger, 5, 20, 100);
            for _ in 0..5 {
                let _counted = limiter.attempt("ada", ip("127.0.0.2")).await.unwrap();
            }
            let wait = waits(limiter.attempt("ada", ip("127.0.0.2")).await);
            assert!(wait <= LOGIN_WINDOW && wait > Duration::from_secs(50));
            assert!(limiter.attempt("bob", ip("127.0.0.2")).await.is_ok());
        }
    }

    #[tokio::test]
    async fn guesses_from_elsewhere_leave_the_owners_address_alone() {
        for ledger in ledgers() {
            let limiter = LoginLimiter::new(&ledger, 5, 20, 100);
            for _ in 0..5 {
                let _ = limiter.attempt("ada", ip("127.0.0.2")).await.unwrap();
            }
            let own = limiter.attempt("ada", ip("127.0.0.1")).await.unwrap();
            limiter.refund(own).await;
        }
    }

    #[tokio::test]
    async fn failures_from_one_address_add_up_across_names() {
        for ledger in ledgers() {
            let limiter = LoginLimiter::new(&ledger, 5, 3, 100);
            for name in ["a", "b", "c"] {
                let _ = limiter.attempt(name, ip("127.0.0.9")).await.unwrap();
            }
            waits(limiter.attempt("d", ip("127.0.0.9")).await);
            assert!(limiter.attempt("d", ip("127.0.0.1")).await.is_ok());
        }
    }

    #[tokio::test]
    async fn one_ipv6_64_counts_as_one_address() {
        for ledger in ledgers() {
            let limiter = LoginLimiter::new(&ledger, 5, 2, 100);
            let _ = limiter.attempt("a", ip("2001:db8::1")).await.unwrap();
            let _ = limiter.attempt("b", ip("2001:db8::ffff:2")).await.unwrap();
            waits(limiter.attempt("c", ip("2001:db8::3")).await);
            assert!(limiter.attempt("c", ip("2001:db8:0:1::3")).await.is_ok());
        }
    }

    #[tokio::test]
    async fn per_name_total_limits_guesses_from_many_addresses() {
        for ledger in ledgers() {
            let limiter = LoginLimiter::new(&ledger, 5, 20, 10);
            for i in 0..10u8 {
                let _ = limiter
                    .attempt("ada", Some(IpAddr::from([10, 0, 0, i])))
                    .await
                    .unwrap();
            }
            waits(limiter.attempt("ada", ip("10.0.1.1")).await);
        }
    }

    #[tokio::test]
    async fn refunded_attempts_do_not_count() {
        for ledger in ledgers() {
            let limiter = LoginLimiter::new(&ledger, 2, 20, 100);
            for _ in 0..10 {
                let attempt = limiter.attempt("ada", ip("127.0.0.1")).await.unwrap();
                limiter.refund(attempt).await;
            }
            assert!(limiter.attempt("ada", ip("127.0.0.1")).await.is_ok());
        }
    }

    #[tokio::test]
    async fn a_refused_attempt_counts_against_no_limit() {
        for ledger in ledgers() {
            let limiter = LoginLimiter::new(&ledger, 1, 2, 100);
            let _ = limiter.attempt("ada", ip("127.0.0.1")).await.unwrap();
            for _ in 0..5 {
                waits(limiter.attempt("ada", ip("127.0.0.1")).await);
            }
            // Only one of the address's two attempts is used.
            assert!(limiter.attempt("bob", ip("127.0.0.1")).await.is_ok());
        }
    }

    #[tokio::test]
    async fn signups_are_limited_per_address_and_refundable() {
        for ledger in ledgers() {
            let limiter = SignupLimiter::new(&ledger, 2, 1);
            let local = ip("127.0.0.1");
            let first = limiter.take(NewUser::Account, local).await.unwrap();
            limiter.take(NewUser::Account, local).await.unwrap();
            let wait = waits(limiter.take(NewUser::Account, local).await);
            assert!(wait > Duration::from_secs(3500));
            assert!(limiter
                .take(NewUser::Account, ip("127.0.0.2"))
                .await
                .is_ok());
            limiter.refund(first).await;
            assert!(limiter.take(NewUser::Account, local).await.is_ok());
            // Guests have their own count.
            assert!(limiter.take(NewUser::Guest, local).await.is_ok());
            waits(limiter.take(NewUser::Guest, local).await);
        }
    }

    #[tokio::test]
    async fn shared_attempts_are_seen_by_every_limiter_on_the_database() {
        let [_, shared] = ledgers();
        let (a, b) = (
            LoginLimiter::new(&shared, 3, 20, 100),
            LoginLimiter::new(&shared, 3, 20, 100),
        );
        for limiter in [&a, &b, &a] {
            let _ = limiter.attempt("ada", ip("127.0.0.1")).await.unwrap();
        }
        waits(b.attempt("ada", ip("127.0.0.1")).await);
        assert_eq!(shared.prune().await.unwrap(), 0, "nothing is an hour old");
    }
}
