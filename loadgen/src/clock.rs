//! One time line for sending and receiving: microseconds since the Unix epoch, read from
//! the monotonic clock so that a wall-clock step mid-run cannot bend latencies.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Converts monotonic instants to Unix microseconds, anchored once at start.
///
/// Messages carry their intended send time in these units, so processes on the same
/// machine can measure each other's messages, and a receiver computes latency as its own
/// reading minus the time the message was due, not the time it finally went out.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
    origin_unix_us: u64,
}

impl Clock {
    pub fn new() -> Self {
        let origin_unix_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        Clock {
            origin: Instant::now(),
            origin_unix_us,
        }
    }

    /// Unix microseconds at `at` (instants before the anchor count as the anchor).
    pub fn micros_at(&self, at: Instant) -> u64 {
        self.origin_unix_us + at.saturating_duration_since(self.origin).as_micros() as u64
    }

    /// Unix microseconds now.
    pub fn now_micros(&self) -> u64 {
        self.micros_at(Instant::now())
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn later_instants_read_later_by_exactly_their_distance() {
        let clock = Clock::new();
        let a = Instant::now();
        let b = a + Duration::from_millis(1500);
        assert_eq!(clock.micros_at(b) - clock.micros_at(a), 1_500_000);
    }
}
