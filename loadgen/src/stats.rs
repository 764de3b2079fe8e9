//! What the tasks of a run add up: live counters, per-step delivery counts, latency
//! histograms, close codes and server errors, and the per-socket duplicate check.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Highest latency a histogram tells apart (60 s, in µs); slower counts as 60 s.
const HIGHEST_US: u64 = 60_000_000;
/// Server error texts kept as examples.
const ERROR_SAMPLES: usize = 5;

/// A latency histogram in microseconds, 1 µs to 60 s, three significant digits.
pub fn histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts.
    Histogram::new_with_bounds(1, HIGHEST_US, 3).expect("valid histogram bounds")
}

/// Locks a mutex even if a task panicked while holding it: counts stay usable.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Running totals for the progress line and the reports.
#[derive(Debug, Default)]
pub struct Counters {
    pub signed_in: AtomicU64,
    pub connected: AtomicU64,
    pub connect_errors: AtomicU64,
    /// Reader tasks still running: the sockets that count as receivers.
    pub readers: AtomicU64,
    pub frames: AtomicU64,
    pub sent: AtomicU64,
    pub delivered: AtomicU64,
    pub server_errors: AtomicU64,
    /// Frames that were not an envelope, or probes the server altered.
    pub malformed: AtomicU64,
    /// Sockets that ended while they were meant to stay open.
    pub closed: AtomicU64,
}

impl Counters {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Delivery counts of one step, added to by senders and readers.
#[derive(Debug, Default)]
pub struct StepCounters {
    pub sent: AtomicU64,
    /// Messages that were due within the step but never went out (sender too far behind).
    pub unsent: AtomicU64,
    pub send_errors: AtomicU64,
    pub delivered: AtomicU64,
    pub duplicates: AtomicU64,
    pub server_errors: AtomicU64,
}

/// Latency histograms: one per step for the report, and one for the last second of the
/// progress line. One lock, taken once per delivery.
struct Histograms {
    steps: Vec<Histogram<u64>>,
    /// Per step, from the server's `ts` stamp to receipt.
    after_stamp: Vec<Histogram<u64>>,
    interval: Histogram<u64>,
}

/// Everything the tasks of one run add to.
pub struct Tally {
    pub counters: Counters,
    pub steps: Vec<StepCounters>,
    /// Index of the step being sent, for errors that cannot say which message they refuse.
    pub current_step: AtomicUsize,
    histograms: Mutex<Histograms>,
    closes: Mutex<BTreeMap<String, u64>>,
    error_samples: Mutex<Vec<String>>,
}

impl Tally {
    pub fn new(steps: usize) -> Self {
        Tally {
            counters: Counters::default(),
            steps: (0..steps).map(|_| StepCounters::default()).collect(),
            current_step: AtomicUsize::new(0),
            histograms: Mutex::new(Histograms {
                steps: (0..steps).map(|_| histogram()).collect(),
                after_stamp: (0..steps).map(|_| histogram()).collect(),
                interval: histogram(),
            }),
            closes: Mutex::new(BTreeMap::new()),
            error_samples: Mutex::new(Vec::new()),
        }
    }

    /// One first delivery of a probe of `step`, `latency_us` after it was due and
    /// `after_stamp_us` after the server stamped it (when it did).
    pub fn delivered(&self, step: usize, latency_us: u64, after_stamp_us: Option<u64>) {
        let Some(counters) = self.steps.get(step) else {
            return;
        };
        Counters::add(&counters.delivered, 1);
        Counters::add(&self.counters.delivered, 1);
        let value = latency_us.max(1);
        let mut histograms = lock(&self.histograms);
        if let Some(h) = histograms.steps.get_mut(step) {
            h.saturating_record(value);
        }
        histograms.interval.saturating_record(value);
        if let (Some(h), Some(after)) = (histograms.after_stamp.get_mut(step), after_stamp_us) {
            h.saturating_record(after.max(1));
        }
    }

    /// A probe of `step` that this socket had already received.
    pub fn duplicate(&self, step: usize) {
        if let Some(counters) = self.steps.get(step) {
            Counters::add(&counters.duplicates, 1);
        }
    }

    /// An `error` frame from the server.
    pub fn server_error(&self, text: Option<&str>) {
        Counters::add(&self.counters.server_errors, 1);
        if let Some(step) = self.steps.get(self.current_step.load(Ordering::Relaxed)) {
            Counters::add(&step.server_errors, 1);
        }
        let mut samples = lock(&self.error_samples);
        if samples.len() < ERROR_SAMPLES {
            let text = text.unwrap_or("(no text)");
            samples.push(text.chars().take(200).collect());
        }
    }

    /// How a socket ended: `"1008"` for a close code, or a word for an ending without one.
    pub fn closed(&self, how: impl Into<String>) {
        *lock(&self.closes).entry(how.into()).or_default() += 1;
    }

    pub fn closes(&self) -> BTreeMap<String, u64> {
        lock(&self.closes).clone()
    }

    pub fn error_samples(&self) -> Vec<String> {
        lock(&self.error_samples).clone()
    }

    /// Latency summary of a step so far.
    pub fn step_latency(&self, step: usize) -> LatencySummary {
        lock(&self.histograms)
            .steps
            .get(step)
            .map(LatencySummary::of)
            .unwrap_or_default()
    }

    /// Summary of the time from the server's stamp to receipt, for a step so far.
    pub fn step_after_stamp(&self, step: usize) -> LatencySummary {
        lock(&self.histograms)
            .after_stamp
            .get(step)
            .map(LatencySummary::of)
            .unwrap_or_default()
    }

    /// p99 of the deliveries since the last call (µs), then starts a new interval.
    pub fn take_interval_p99(&self) -> Option<u64> {
        let mut histograms = lock(&self.histograms);
        let p99 =
            (!histograms.interval.is_empty()).then(|| histograms.interval.value_at_quantile(0.99));
        histograms.interval.reset();
        p99
    }
}

/// The usual percentiles of a latency histogram, in microseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

impl LatencySummary {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        LatencySummary {
            count: h.len(),
            p50_us: h.value_at_quantile(0.50),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
            mean_us: (h.mean() * 10.0).round() / 10.0,
        }
    }
}

/// Result of noting one probe as received on a socket.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    First,
    Again,
    /// A sender or sequence number this run never used.
    Unknown,
}

/// Which probes one socket has received: a bit per (sender, sequence number).
///
/// Memory is bounded by the run's plan (senders × messages per sender bits), never by
/// what the server sends.
#[derive(Debug)]
pub struct SeenSet {
    bits: Vec<Vec<u64>>,
    max_seq: u64,
}

impl SeenSet {
    pub fn new(senders: usize, max_seq: u64) -> Self {
        SeenSet {
            bits: vec![Vec::new(); senders],
            max_seq,
        }
    }

    pub fn insert(&mut self, sender: u32, seq: u64) -> Seen {
        let Some(words) = self.bits.get_mut(sender as usize) else {
            return Seen::Unknown;
        };
        if seq >= self.max_seq {
            return Seen::Unknown;
        }
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        if words.len() <= word {
            words.resize(word + 1, 0);
        }
        let mask = 1u64 << bit;
        if words[word] & mask != 0 {
            Seen::Again
        } else {
            words[word] |= mask;
            Seen::First
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_set_tells_first_from_repeat_and_rejects_unplanned_probes() {
        let mut seen = SeenSet::new(2, 1000);
        assert_eq!(seen.insert(0, 5), Seen::First);
        assert_eq!(seen.insert(1, 5), Seen::First);
        assert_eq!(seen.insert(0, 5), Seen::Again);
        assert_eq!(seen.insert(0, 999), Seen::First);
        assert_eq!(seen.insert(0, 1000), Seen::Unknown);
        assert_eq!(seen.insert(2, 0), Seen::Unknown);
        assert_eq!(seen.insert(u32::MAX, u64::MAX), Seen::Unknown);
    }

    #[test]
    fn latency_summary_reads_percentiles() {
        let mut h = histogram();
        for v in 1..=1000 {
            h.record(v).unwrap();
        }
        let s = LatencySummary::of(&h);
        assert_eq!(s.count, 1000);
        assert_eq!(s.p50_us, 500);
        assert_eq!(s.p99_us, 990);
        assert_eq!(s.p999_us, 999);
        assert_eq!(s.max_us, 1000);
        assert_eq!(LatencySummary::of(&histogram()), LatencySummary::default());
    }

    #[test]
    fn tally_counts_per_step_and_ignores_unknown_steps() {
        let tally = Tally::new(2);
        tally.delivered(1, 2_000, None);
        tally.delivered(1, 4_000, Some(1_000));
        tally.delivered(7, 1, None);
        tally.duplicate(1);
        tally.duplicate(9);
        assert_eq!(Counters::get(&tally.steps[1].delivered), 2);
        assert_eq!(Counters::get(&tally.steps[1].duplicates), 1);
        assert_eq!(Counters::get(&tally.counters.delivered), 2);
        assert_eq!(tally.step_latency(1).max_us, 4_001);
        assert_eq!(tally.step_latency(0).count, 0);
        assert_eq!(tally.step_after_stamp(1).count, 1);
        assert!(tally.take_interval_p99().is_some());
        assert!(tally.take_interval_p99().is_none());
    }

    #[test]
    fn latencies_beyond_the_range_count_as_the_highest() {
        let tally = Tally::new(1);
        tally.delivered(0, u64::MAX, None);
        assert!(tally.step_latency(0).max_us >= HIGHEST_US);
    }
}
