//! Chat allowances: a token bucket per user, kept across reconnects until it has filled up
//! again, so closing and reopening sockets never buys a fresh burst.

use std::collections::HashMap;
use std::time::Instant;

/// Every user's bucket that is not full.
pub struct Allowances {
    buckets: HashMap<u64, Bucket>,
    burst: f64,
    per_sec: f64,
}

/// A token bucket: `burst` messages at once, refilled at `per_sec`.
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Allowances {
    pub fn new(burst: f64, per_sec: f64) -> Self {
        Allowances {
            buckets: HashMap::new(),
            burst,
            per_sec,
        }
    }

    /// Takes one message from user `id`'s allowance; false when it is used up.
    pub fn take(&mut self, id: u64, now: Instant) -> bool {
        let (burst, per_sec) = (self.burst, self.per_sec);
        let bucket = self.buckets.entry(id).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        bucket.tokens = bucket.level(now, burst, per_sec);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Forgets the buckets that have filled up again: they hold nothing a fresh one would
    /// not. Online or not, a user with a partly used allowance keeps it.
    pub fn forget_full(&mut self, now: Instant) {
        let (burst, per_sec) = (self.burst, self.per_sec);
        self.buckets
            .retain(|_, bucket| bucket.level(now, burst, per_sec) < burst);
    }

    /// Buckets kept, for tests.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.buckets.len()
    }
}

impl Bucket {
    fn level(&self, now: Instant, burst: f64, per_sec: f64) -> f64 {
        let refill = now.saturating_duration_since(self.at).as_secs_f64() * per_sec;
        (self.tokens + refill).min(burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn used_allowance_is_kept_until_it_has_refilled() {
        let mut allowances = Allowances::new(2.0, 1.0);
        let t0 = Instant::now();
        assert!(allowances.take(1, t0));
        assert!(allowances.take(1, t0));
        assert!(!allowances.take(1, t0));
        allowances.forget_full(t0 + Duration::from_secs(1));
        assert_eq!(allowances.len(), 1, "half refilled: kept");
        allowances.forget_full(t0 + Duration::from_secs(3));
        assert_eq!(allowances.len(), 0, "full again: forgotten");
    }
}
