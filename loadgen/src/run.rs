//! The state one run shares between its tasks: its id, its clock, what it has counted,
//! the shape of its plan (for the duplicate check) and the signal that ends it.

use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::stalled::LeftWatch;
use crate::stats::{SeenSet, Tally};
use crate::wire::probe_prefix;

/// Shared by every sender and reader task of a run (behind an `Arc`).
pub struct Run {
    pub id: String,
    /// `lg|<id>|`: the start of every probe this run sends.
    pub prefix: String,
    pub clock: Clock,
    pub tally: Tally,
    /// Sockets that send, and messages each sends at most over the whole run.
    pub senders: usize,
    pub max_seq: u64,
    /// Cancelled when the run is over: readers stop reading.
    pub stop: CancellationToken,
    /// Cancelled when the sending is over: stalled sockets read their backlog.
    pub read_stalled: CancellationToken,
    /// Stalled sockets waiting for their user to be announced as gone.
    pub left: LeftWatch,
}

impl Run {
    pub fn new(id: &str, steps: usize, senders: usize, max_seq: u64) -> Self {
        Run {
            id: id.to_owned(),
            prefix: probe_prefix(id),
            clock: Clock::new(),
            tally: Tally::new(steps),
            senders,
            max_seq,
            stop: CancellationToken::new(),
            read_stalled: CancellationToken::new(),
            left: LeftWatch::default(),
        }
    }

    /// An empty duplicate check sized for this run's plan.
    pub fn seen_set(&self) -> SeenSet {
        SeenSet::new(self.senders, self.max_seq)
    }
}

/// A run id from the time and the process id: short, letters and digits only.
pub fn random_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut x = nanos ^ (u64::from(std::process::id()) << 32);
    // A few rounds of xorshift-multiply so close start times give unrelated ids.
    for _ in 0..3 {
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    }
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..6)
        .map(|i| DIGITS[((x >> (i * 6)) % 36) as usize] as char)
        .collect()
}

/// Whether a `--run-id` can go into user names and probes unchanged.
pub fn valid_id(id: &str) -> bool {
    (1..=12).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_are_valid() {
        let id = random_id();
        assert!(valid_id(&id), "{id}");
        assert!(!valid_id("has|bar"));
        assert!(!valid_id(""));
    }
}
