//! The progress line: once a second on standard error, what the run has done so far.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::report::ms;
use crate::run::Run;
use crate::stats::Counters;

/// Prints the progress line every second until the run stops; nothing when `quiet`.
pub fn start(run: Arc<Run>, scenario: &'static str, quiet: bool) -> Option<JoinHandle<()>> {
    if quiet {
        return None;
    }
    Some(tokio::spawn(async move {
        let started = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        loop {
            tokio::select! {
                _ = run.stop.cancelled() => break,
                _ = tick.tick() => eprintln!("{}", line(&run, scenario, started)),
            }
        }
    }))
}

fn line(run: &Run, scenario: &str, started: Instant) -> String {
    let c = &run.tally.counters;
    let p99 = run
        .tally
        .take_interval_p99()
        .map_or_else(|| "-".to_owned(), ms);
    format!(
        "[{scenario} {:>4}s] signed in {}  connected {}  reading {}  sent {}  delivered {}  p99 {}  errors {}  closed {}",
        started.elapsed().as_secs(),
        Counters::get(&c.signed_in),
        Counters::get(&c.connected),
        Counters::get(&c.readers),
        Counters::get(&c.sent),
        Counters::get(&c.delivered),
        p99,
        Counters::get(&c.server_errors) + Counters::get(&c.connect_errors),
        Counters::get(&c.closed),
    )
}
