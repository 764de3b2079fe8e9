//! Failed sign-in counting: a sliding one-minute window per name and per client address.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The window failures are counted over.
const WINDOW: Duration = Duration::from_secs(60);
/// Keys tracked at most per map; beyond that, expired entries are swept first.
const MAX_KEYS: usize = 100_000;

/// Counts failed sign-ins. Cheap to clone; the lock is never held across an `.await`.
#[derive(Clone)]
pub struct LoginLimiter {
    inner: Arc<Mutex<Windows>>,
    per_name: usize,
    per_addr: usize,
}

#[derive(Default)]
struct Windows {
    names: HashMap<String, VecDeque<Instant>>,
    addrs: HashMap<IpAddr, VecDeque<Instant>>,
}

impl LoginLimiter {
    pub fn new(per_name: usize, per_addr: usize) -> Self {
        LoginLimiter {
            inner: Arc::default(),
            per_name,
            per_addr,
        }
    }

    /// `Err(retry_after)` while `name` or `addr` has used up its failures for the minute.
    pub fn check(&self, name: &str, addr: Option<IpAddr>) -> Result<(), Duration> {
        let now = Instant::now();
        let mut windows = self.lock();
        let by_name = wait_time(windows.names.get_mut(name), self.per_name, now);
        let by_addr = addr.and_then(|a| wait_time(windows.addrs.get_mut(&a), self.per_addr, now));
        match by_name.max(by_addr) {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    /// Records a failed attempt.
    pub fn failed(&self, name: &str, addr: Option<IpAddr>) {
        let now = Instant::now();
        let mut windows = self.lock();
        record(&mut windows.names, name.to_owned(), now);
        if let Some(addr) = addr {
            record(&mut windows.addrs, addr, now);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Windows> {
        self.inner
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

/// How long until `window` drops below `limit` failures, if it is at the limit.
fn wait_time(
    window: Option<&mut VecDeque<Instant>>,
    limit: usize,
    now: Instant,
) -> Option<Duration> {
    let window = window?;
    while window
        .front()
        .is_some_and(|t| now.duration_since(*t) >= WINDOW)
    {
        window.pop_front();
    }
    if window.len() < limit {
        return None;
    }
    let oldest = window.front()?;
    Some(WINDOW.saturating_sub(now.duration_since(*oldest)))
}

fn record<K: Hash + Eq>(map: &mut HashMap<K, VecDeque<Instant>>, key: K, now: Instant) {
    if map.len() >= MAX_KEYS {
        map.retain(|_, w| w.back().is_some_and(|t| now.duration_since(*t) < WINDOW));
    }
    let window = map.entry(key).or_default();
    window.push_back(now);
    // Only the newest failures matter; older ones never decide anything.
    if window.len() > 1024 {
        window.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifth_failure_for_a_name_blocks_the_sixth_attempt() {
        let limiter = LoginLimiter::new(5, 20);
        for _ in 0..5 {
            assert!(limiter.check("ada", None).is_ok());
            limiter.failed("ada", None);
        }
        let wait = limiter.check("ada", None).unwrap_err();
        assert!(wait <= WINDOW && wait > Duration::from_secs(50));
        assert!(limiter.check("bob", None).is_ok());
    }

    #[test]
    fn failures_from_one_address_add_up_across_names() {
        let limiter = LoginLimiter::new(5, 3);
        let addr: IpAddr = [127, 0, 0, 9].into();
        for name in ["a", "b", "c"] {
            limiter.failed(name, Some(addr));
        }
        assert!(limiter.check("d", Some(addr)).is_err());
        assert!(limiter.check("d", Some([127, 0, 0, 1].into())).is_ok());
    }
}
