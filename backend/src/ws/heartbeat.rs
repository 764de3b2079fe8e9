//! Connection health: a ping every 30 s, and a socket silent for 60 s counts as dead.

use std::time::Duration;

use tokio::time::{interval_at, Instant, Interval, MissedTickBehavior};

/// Time between pings.
pub const PING_EVERY: Duration = Duration::from_secs(30);
/// Silence after which a socket is closed.
pub const DEAD_AFTER: Duration = Duration::from_secs(60);

/// What the heartbeat asks the socket's task to do next.
pub enum Beat {
    Ping,
    Dead,
}

/// Tracks when the peer was last heard from.
pub struct Heartbeat {
    interval: Interval,
    last_seen: Instant,
}

impl Heartbeat {
    pub fn new() -> Self {
        let mut interval = interval_at(Instant::now() + PING_EVERY, PING_EVERY);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Heartbeat {
            interval,
            last_seen: Instant::now(),
        }
    }

    /// Any frame from the peer, a pong included, proves it is alive.
    pub fn seen(&mut self) {
        self.last_seen = Instant::now();
    }

    /// Waits for the next tick. Cancel-safe, so it can sit in a `select!`.
    pub async fn tick(&mut self) -> Beat {
        self.interval.tick().await;
        if self.last_seen.elapsed() >= DEAD_AFTER {
            Beat::Dead
        } else {
            Beat::Ping
        }
    }
}
