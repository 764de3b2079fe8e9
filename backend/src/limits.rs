//! Attempt counting over sliding windows: failed sign-ins per (name, address), per address
//! and per name; registrations and guest sign-ins per address; rooms created per user.
//! Also the size limit of request bodies.
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

/// One password attempt, counted against every sign-in limit until refunded.
#[derive(Debug)]
#[must_use = "refund the attempt when the password was right"]
pub struct Attempt {
    name: String,
    addr: Option<IpAddr>,
    at: Instant,
}

/// Failed password sign-ins: per (name, address), per address, and per name from all
/// addresses. The last is much higher, so guesses from elsewhere never lock the owner out.
#[derive(Clone)]
pub struct LoginLimiter {
    per_name_addr: SlidingLimit<(String, Option<IpAddr>)>,
    per_addr: SlidingLimit<Option<IpAddr>>,
    per_name: SlidingLimit<String>,
}

impl LoginLimiter {
    pub fn new(per_name_addr: usize, per_addr: usize, per_name: usize) -> Self {
        LoginLimiter {
            per_name_addr: SlidingLimit::new(per_name_addr, LOGIN_WINDOW),
            per_addr: SlidingLimit::new(per_addr, LOGIN_WINDOW),
            per_name: SlidingLimit::new(per_name, LOGIN_WINDOW),
        }
    }

    /// Counts a password attempt for `name` (its canonical form) from `addr` before the
    /// password is checked; `Err(retry_after)`, counting nothing, when a limit is used up.
    pub fn attempt(&self, name: &str, addr: Option<IpAddr>) -> Result<Attempt, Duration> {
        let addr = addr.map(addr_key);
        let name = name.to_owned();
        let pair = (name.clone(), addr);
        // Checked all together first, so a refused attempt counts against none of them.
        let wait = [
            self.per_name_addr.check(&pair).err(),
            self.per_addr.check(&addr).err(),
            self.per_name.check(&name).err(),
        ]
        .into_iter()
        .flatten()
        .max();
        if let Some(wait) = wait {
            return Err(wait);
        }
        let at = self.per_name_addr.take(&pair)?;
        if let Err(wait) = self.per_addr.take(&addr) {
            self.per_name_addr.refund(&pair, at);
            return Err(wait);
        }
        if let Err(wait) = self.per_name.take(&name) {
            self.per_name_addr.refund(&pair, at);
            self.per_addr.refund(&addr, at);
            return Err(wait);
        }
        // Each limit stamped its own `now`; the refund finds them by key and recency.
        Ok(Attempt { name, addr, at })
    }

    /// The password was right (or never checked): the attempt does not count.
    pub fn refund(&self, attempt: Attempt) {
        let Attempt { name, addr, at } = attempt;
        let pair = (name.clone(), addr);
        refund_latest(&self.per_name_addr, &pair, at);
        refund_latest(&self.per_addr, &addr, at);
        refund_latest(&self.per_name, &name, at);
    }
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

/// Rooms created per user id, [`ROOMS_PER_HOUR`] in any hour.
pub fn room_creations() -> SlidingLimit<u64> {
    SlidingLimit::new(ROOMS_PER_HOUR, HOUR)
}

/// `POST /api/dm` per user id, [`DMS_PER_HOUR`] in any hour.
pub fn dm_requests() -> SlidingLimit<u64> {
    SlidingLimit::new(DMS_PER_HOUR, HOUR)
}

/// Registrations and guest sign-ins per client address per hour.
#[derive(Clone)]
pub struct SignupLimiter {
    accounts: SlidingLimit<Option<IpAddr>>,
    guests: SlidingLimit<Option<IpAddr>>,
}

/// Which kind of new user a [`SignupLimiter`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewUser {
    Account,
    Guest,
}

impl SignupLimiter {
    pub fn new(accounts_per_hour: usize, guests_per_hour: usize) -> Self {
        SignupLimiter {
            accounts: SlidingLimit::new(accounts_per_hour, HOUR),
            guests: SlidingLimit::new(guests_per_hour, HOUR),
        }
    }

    fn limit(&self, kind: NewUser) -> &SlidingLimit<Option<IpAddr>> {
        match kind {
            NewUser::Account => &self.accounts,
            NewUser::Guest => &self.guests,
        }
    }

    /// Counts a new user of `kind` from `addr`; `Err(retry_after)` past the hourly limit.
    pub fn take(&self, kind: NewUser, addr: Option<IpAddr>) -> Result<Instant, Duration> {
        self.limit(kind).take(&addr.map(addr_key))
    }

    /// Gives the count back when no user was created after all.
    pub fn refund(&self, kind: NewUser, addr: Option<IpAddr>, at: Instant) {
        self.limit(kind).refund(&addr.map(addr_key), at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn fifth_failure_for_a_name_from_one_address_blocks_the_sixth_attempt() {
        let limiter = LoginLimiter::new(5, 20, 100);
        for _ in 0..5 {
            let _counted = limiter.attempt("ada", ip("127.0.0.2")).unwrap();
        }
        let wait = limiter.attempt("ada", ip("127.0.0.2")).unwrap_err();
        assert!(wait <= LOGIN_WINDOW && wait > Duration::from_secs(50));
        assert!(limiter.attempt("bob", ip("127.0.0.2")).is_ok());
    }

    #[test]
    fn guesses_from_elsewhere_leave_the_owners_address_alone() {
        let limiter = LoginLimiter::new(5, 20, 100);
        for _ in 0..5 {
            let _ = limiter.attempt("ada", ip("127.0.0.2")).unwrap();
        }
        let own = limiter.attempt("ada", ip("127.0.0.1")).unwrap();
        limiter.refund(own);
    }

    #[test]
    fn failures_from_one_address_add_up_across_names() {
        let limiter = LoginLimiter::new(5, 3, 100);
        for name in ["a", "b", "c"] {
            let _ = limiter.attempt(name, ip("127.0.0.9")).unwrap();
        }
        assert!(limiter.attempt("d", ip("127.0.0.9")).is_err());
        assert!(limiter.attempt("d", ip("127.0.0.1")).is_ok());
    }

    #[test]
    fn one_ipv6_64_counts_as_one_address() {
        let limiter = LoginLimiter::new(5, 2, 100);
        let _ = limiter.attempt("a", ip("2001:db8::1")).unwrap();
        let _ = limiter.attempt("b", ip("2001:db8::ffff:2")).unwrap();
        assert!(limiter.attempt("c", ip("2001:db8::3")).is_err());
        assert!(limiter.attempt("c", ip("2001:db8:0:1::3")).is_ok());
    }

    #[test]
    fn per_name_total_limits_guesses_from_many_addresses() {
        let limiter = LoginLimiter::new(5, 20, 10);
        for i in 0..10u8 {
            let _ = limiter
                .attempt("ada", Some(IpAddr::from([10, 0, 0, i])))
                .unwrap();
        }
        assert!(limiter.attempt("ada", ip("10.0.1.1")).is_err());
    }

    #[test]
    fn refunded_attempts_do_not_count() {
        let limiter = LoginLimiter::new(2, 20, 100);
        for _ in 0..10 {
            let attempt = limiter.attempt("ada", ip("127.0.0.1")).unwrap();
            limiter.refund(attempt);
        }
        assert!(limiter.attempt("ada", ip("127.0.0.1")).is_ok());
    }

    #[test]
    fn a_refused_attempt_counts_against_no_limit() {
        let limiter = LoginLimiter::new(1, 2, 100);
        let _ = limiter.attempt("ada", ip("127.0.0.1")).unwrap();
        for _ in 0..5 {
            assert!(limiter.attempt("ada", ip("127.0.0.1")).is_err());
        }
        // Only one of the address's two attempts is used.
        assert!(limiter.attempt("bob", ip("127.0.0.1")).is_ok());
    }

    #[test]
    fn signups_are_limited_per_address_and_refundable() {
        let limiter = SignupLimiter::new(2, 1);
        let first = limiter.take(NewUser::Account, ip("127.0.0.1")).unwrap();
        limiter.take(NewUser::Account, ip("127.0.0.1")).unwrap();
        let wait = limiter.take(NewUser::Account, ip("127.0.0.1")).unwrap_err();
        assert!(wait > Duration::from_secs(3500));
        assert!(limiter.take(NewUser::Account, ip("127.0.0.2")).is_ok());
        limiter.refund(NewUser::Account, ip("127.0.0.1"), first);
        assert!(limiter.take(NewUser::Account, ip("127.0.0.1")).is_ok());
        // Guests have their own count.
        assert!(limiter.take(NewUser::Guest, ip("127.0.0.1")).is_ok());
        assert!(limiter.take(NewUser::Guest, ip("127.0.0.1")).is_err());
    }
}
