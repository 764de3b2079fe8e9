//! The result of a run: one JSON document for machines, one line for people.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::proc::{MachineReport, ProcessReport};
use crate::stats::LatencySummary;

/// Everything a run measured. Fields that a scenario does not use stay empty.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    pub scenario: String,
    pub url: String,
    /// The other servers of the chat the sockets were spread over (`--also-url`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also_url: Vec<String>,
    pub run_id: String,
    pub processes: usize,
    /// False when a check of the scenario failed (see `failures`).
    pub ok: bool,
    pub failures: Vec<String>,
    /// Things that make the numbers less trustworthy (e.g. the generator at full CPU).
    pub warnings: Vec<String>,
    pub elapsed_s: f64,
    pub setup: SetupReport,
    /// One entry per sending step (the warm-up first, when there is one).
    pub steps: Vec<StepReport>,
    /// How sockets that should have stayed open ended: close code or a word, with counts.
    pub closes: BTreeMap<String, u64>,
    pub server_errors: u64,
    pub server_error_samples: Vec<String>,
    /// Frames that were not envelopes, or probes that came back altered.
    pub malformed_frames: u64,
    pub frames_received: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle: Option<IdleReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slow: Option<SlowReport>,
    /// The server process, when `--server-pid` was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<ProcessReport>,
    /// This generator process (summed over processes).
    pub loadgen: ProcessReport,
    /// The machine both run on.
    pub machine: MachineReport,
}

/// Getting the clients in.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SetupReport {
    pub clients: usize,
    pub users: usize,
    pub signins_ok: u64,
    pub signin_s: f64,
    pub signins_per_s: f64,
    pub connects_ok: u64,
    /// Sockets that did not get in, whatever the reason (sign-in or connect).
    pub connect_errors: u64,
    pub connect_s: f64,
    pub connects_per_s: f64,
    /// From the start of the TCP connect to the `list` greeting.
    pub connect_latency_us: LatencySummary,
    /// Failures of both phases by cause.
    pub errors: BTreeMap<String, u64>,
    pub error_samples: Vec<String>,
}

/// One sending step.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StepReport {
    pub name: String,
    pub warmup: bool,
    /// Messages per second, over all senders.
    pub rate: f64,
    pub senders: usize,
    pub duration_s: f64,
    /// Sockets reading when the step began; every one should get every message.
    pub receivers: u64,
    pub sent: u64,
    /// Due but never sent: the sender fell more than 2 s behind or its socket broke.
    pub unsent: u64,
    pub send_errors: u64,
    /// `sent × receivers`.
    pub expected: u64,
    /// First receipts of this step's messages, over all sockets.
    pub delivered: u64,
    /// `expected − delivered`: not received within the drain time.
    pub lost: u64,
    /// Receipts of a message a socket already had.
    pub duplicates: u64,
    pub server_errors: u64,
    pub deliveries_per_s: f64,
    /// CPU seconds used from the step's start to the end of its drain, by the server
    /// (with `--server-pid`) and by this generator.
    pub server_cpu_s: Option<f64>,
    pub loadgen_cpu_s: f64,
    /// The generator's CPU over the step as a share of what it could use (its threads,
    /// at most the cores it may run on). Near 1, latencies are partly its own.
    pub loadgen_busy: f64,
    /// From when a message was due to when a socket received it.
    pub latency_us: LatencySummary,
    /// From the server's `ts` stamp on the message to receipt: the part of the latency
    /// after the server took the message in. `ts` has millisecond resolution, so this
    /// reads up to 1 ms high.
    pub after_server_stamp_us: LatencySummary,
}

/// The idle scenario's memory accounting.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IdleReport {
    pub hold_s: f64,
    pub rss_before_bytes: u64,
    pub rss_after_connect_bytes: u64,
    pub rss_after_hold_bytes: u64,
    /// `(rss_after_connect − rss_before) / connected sockets`.
    pub rss_per_connection_bytes: u64,
}

/// The slow scenario's non-reading sockets, read after the run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SlowReport {
    pub sockets: usize,
    /// How each ended: a close code, or `open` if it was never closed.
    pub endings: BTreeMap<String, u64>,
    pub closed_1008: u64,
    /// How many the server announced as gone (`left`) while the run was sending.
    pub announced_left: u64,
    /// Frames read from their backlogs once they were gone (or the run ended).
    pub backlog_frames: u64,
}

impl Report {
    /// Writes the JSON to `path`, or to standard output.
    pub fn write_json(&self, path: Option<&Path>) -> Result<(), crate::Error> {
        let json = serde_json::to_string_pretty(self)?;
        match path {
            Some(path) => std::fs::write(path, json + "\n")?,
            None => println!("{json}"),
        }
        Ok(())
    }

    /// One line saying what happened, for a person watching.
    pub fn summary(&self) -> String {
        let mut line = String::new();
        let s = &self.setup;
        let _ = write!(
            line,
            "{} {}: {}/{} connected ({}/s), {} errors",
            self.scenario,
            if self.ok { "ok" } else { "FAILED" },
            s.connects_ok,
            s.clients,
            s.connects_per_s,
            s.connect_errors
        );
        if s.users > 0 && self.scenario == "storm" {
            let _ = write!(line, ", sign-ins {}/s", s.signins_per_s);
        }
        for step in &self.steps {
            let l = &step.latency_us;
            let _ = write!(
                line,
                "; {}: {}/{} delivered ({}/s), lost {}, dup {}, p50 {} p99 {} p99.9 {} max {}",
                step.name,
                step.delivered,
                step.expected,
                step.deliveries_per_s,
                step.lost,
                step.duplicates,
                ms(l.p50_us),
                ms(l.p99_us),
                ms(l.p999_us),
                ms(l.max_us)
            );
        }
        if let Some(idle) = &self.idle {
            let _ = write!(
                line,
                "; server RSS per connection {} B",
                idle.rss_per_connection_bytes
            );
        }
        if let Some(slow) = &self.slow {
            let _ = write!(
                line,
                "; slow sockets closed with 1008: {}/{}",
                slow.closed_1008, slow.sockets
            );
        }
        if !self.closes.is_empty() {
            let _ = write!(line, "; closes {:?}", self.closes);
        }
        if self.server_errors > 0 {
            let _ = write!(line, "; server errors {}", self.server_errors);
        }
        if let Some(server) = &self.server {
            let _ = write!(
                line,
                "; server RSS {}→{} MiB (max {}), CPU {} s",
                mib(server.rss_start_bytes),
                mib(server.rss_end_bytes),
                mib(server.rss_max_bytes),
                server.cpu_seconds
            );
        }
        if let Some(pressure) = self.machine.cpu_pressure_pct {
            let _ = write!(line, "; CPU pressure {pressure}%");
        }
        for failure in &self.failures {
            let _ = write!(line, "; FAILED: {failure}");
        }
        for warning in &self.warnings {
            let _ = write!(line, "; WARNING: {warning}");
        }
        line
    }
}

/// Microseconds as milliseconds with one decimal, e.g. `12.3ms`.
pub fn ms(us: u64) -> String {
    format!("{:.1}ms", us as f64 / 1000.0)
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_round_trips_through_json() {
        let mut report = Report {
            scenario: "fanout".into(),
            ok: true,
            ..Default::default()
        };
        report.steps.push(StepReport {
            name: "rate 100".into(),
            expected: 10,
            delivered: 10,
            ..Default::default()
        });
        report.closes.insert("1008".into(), 2);
        let json = serde_json::to_string(&report).unwrap();
        let back: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(back.steps[0].delivered, 10);
        assert_eq!(back.closes["1008"], 2);
        assert!(report.summary().starts_with("fanout ok"));
    }

    #[test]
    fn milliseconds_keep_one_decimal() {
        assert_eq!(ms(12_345), "12.3ms");
        assert_eq!(ms(0), "0.0ms");
    }
}
