//! Chat allowances: a token bucket per user, kept across reconnects until it has filled up
//! again, so closing and reopening sockets never buys a fresh burst. And the typing
//! limit: one relayed `typing` per user and room every [`TYPING_EVERY`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use shared::RoomId;

/// Least time between two relayed `typing` signals of one user in one room.
pub const TYPING_EVERY: Duration = Duration::from_secs(2);

/// When each user last had a `typing` relayed in each room, for the last [`TYPING_EVERY`].
#[derive(Default)]
pub struct TypingLimits {
    last: HashMap<(u64, RoomId), Instant>,
}

impl TypingLimits {
    /// Whether a `typing` of `user` in `room` may be relayed now; counts it if so.
    pub fn allow(&mut self, user: u64, room: RoomId, now: Instant) -> bool {
        match self.last.get(&(user, room)) {
            Some(at) if now.saturating_duration_since(*at) < TYPING_EVERY => false,
            _ => {
                self.last.insert((user, room), now);
                true
            }
        }
    }

    /// Forgets the signals old enough to no longer limit anything.
    pub fn forget_old(&mut self, now: Instant) {
        self.last
            .retain(|_, at| now.saturating_duration_since(*at) < TYPING_EVERY);
    }
}

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

    #[test]
    fn one_typing_per_user_and_room_every_two_seconds() {
        let mut limits = TypingLimits::default();
        let t0 = Instant::now();
        assert!(limits.allow(1, 5, t0));
        assert!(!limits.allow(1, 5, t0 + Duration::from_millis(1999)));
        assert!(limits.allow(1, 6, t0), "another room");
        assert!(limits.allow(2, 5, t0), "another user");
        assert!(limits.allow(1, 5, t0 + TYPING_EVERY));
        limits.forget_old(t0 + Duration::from_secs(10));
        assert!(limits.last.is_empty());
    }

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
