//! Connection health: a ping every 30 s, and a socket silent for 60 s counts as dead; and
//! proof that a socket reads what it is sent (see [`ReadProof`]).

use std::pin::Pin;
use std::time::Duration;

use tokio::time::{interval_at, sleep, Instant, Interval, MissedTickBehavior, Sleep};

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

/// Bytes sent without proof that the peer read them before a probe is due.
const PROBE_AFTER_BYTES: usize = 16 * 1024;

/// Proof that the peer reads what it is sent, for the write deadline.
///
/// A write that the kernel accepts says nothing: its send buffer holds megabytes. So once
/// enough has been sent, a ping with an unguessable payload follows it; the matching pong
/// proves the peer read everything before it. No pong within the deadline, and the socket
/// counts as not reading, however many other frames (or pongs) it sends.
pub struct ReadProof {
    unproven: usize,
    /// The probe's payload and when it expires.
    pending: Option<([u8; 8], Pin<Box<Sleep>>)>,
}

impl ReadProof {
    pub fn new() -> Self {
        ReadProof {
            unproven: 0,
            pending: None,
        }
    }

    /// Counts `n` bytes written; returns the payload of a probe to send now, if one is due.
    pub fn written(&mut self, n: usize, deadline: Duration) -> Option<[u8; 8]> {
        self.unproven = self.unproven.saturating_add(n);
        if self.pending.is_some() || self.unproven < PROBE_AFTER_BYTES {
            return None;
        }
        let payload = rand::random::<u64>().to_le_bytes();
        // On the heap, and only while a probe is out: idle sockets carry no timer.
        self.pending = Some((payload, Box::pin(sleep(deadline))));
        self.unproven = 0;
        Some(payload)
    }

    /// A pong arrived; the one answering the probe proves the peer reads.
    pub fn pong(&mut self, payload: &[u8]) {
        if self.pending.as_ref().is_some_and(|(p, _)| p == payload) {
            self.pending = None;
        }
    }

    /// Resolves once a probe went unanswered past the deadline; pends while none is out.
    /// Cancel-safe.
    pub async fn expired(&mut self) {
        match &mut self.pending {
            Some((_, timer)) => timer.as_mut().await,
            None => std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unanswered_probe_expires_and_the_right_pong_clears_it() {
        let deadline = Duration::from_millis(200);
        let mut proof = ReadProof::new();
        assert_eq!(proof.written(1000, deadline), None, "too little to ask");
        let payload = proof.written(PROBE_AFTER_BYTES, deadline).expect("a probe");
        assert_eq!(
            proof.written(PROBE_AFTER_BYTES, deadline),
            None,
            "one at a time"
        );
        proof.pong(b"guessed!");
        tokio::time::timeout(Duration::from_secs(2), proof.expired())
            .await
            .expect("a wrong pong does not count");
        let mut proof = ReadProof::new();
        let payload_2 = proof.written(PROBE_AFTER_BYTES, deadline).expect("a probe");
        assert_ne!(payload, payload_2);
        proof.pong(&payload_2);
        assert!(
            tokio::time::timeout(Duration::from_millis(600), proof.expired())
                .await
                .is_err(),
            "answered: never expires"
        );
    }
}
