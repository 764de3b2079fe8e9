//! `--processes K` for `idle` and `storm`: one process may hold only ~19,000 sockets (the
//! open-file limit cannot be raised past 20,000), so the run starts itself K times, each
//! with a share of the clients, and merges their reports.
//!
//! The conversation over the workers' standard streams: a worker prints `READY` once its
//! sockets are in, holds them until its standard input closes, then prints its report as
//! one JSON line. The parent measures the server in between.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::time::Instant;

use crate::fleet::rate;
use crate::report::Report;
use crate::scenarios::Context;
use crate::stats::LatencySummary;
use crate::Error;

/// What a worker prints when its sockets are in.
const READY: &str = "READY";
/// A worker holds its sockets at most this long if its parent never says stop.
const MAX_HOLD: Duration = Duration::from_secs(24 * 3600);
/// Time for workers to report once told to stop.
const FINISH_WAIT: Duration = Duration::from_secs(60);
/// Error samples kept in a merged report.
const SAMPLES: usize = 5;

/// Worker side: tells the parent the sockets are in, then holds them until the parent
/// closes our standard input.
pub async fn ready_and_wait() {
    println!("{READY}");
    let mut stdin = tokio::io::stdin();
    let mut scratch = [0u8; 64];
    let _ = tokio::time::timeout(MAX_HOLD, async {
        while let Ok(n) = stdin.read(&mut scratch).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
}

/// The parent's handle on its worker processes (killed if dropped early).
pub struct Workers {
    workers: Vec<Worker>,
}

impl Workers {
    /// Starts `processes` copies of this program, sharing `clients` between them.
    pub fn spawn(
        ctx: &Context,
        scenario: &str,
        clients: usize,
        processes: usize,
    ) -> Result<Workers, Error> {
        if processes == 0 || processes > clients {
            return Err(Error::Usage(
                "--processes must be between 1 and --clients".into(),
            ));
        }
        let exe = std::env::current_exe()?;
        let common = &ctx.common;
        let per_user = common.sockets_per_user;
        let mut workers = Vec::with_capacity(processes);
        let mut user_offset = common.name_offset;
        for k in 0..processes {
            let share = clients / processes + usize::from(k < clients % processes);
            let mut args = vec![
                scenario.to_owned(),
                "--clients".into(),
                share.to_string(),
                "--worker".into(),
                "--quiet".into(),
                "--name-offset".into(),
                user_offset.to_string(),
                "--run-id".into(),
                ctx.run_id.clone(),
                "--url".into(),
                common.url.clone(),
                "--concurrency".into(),
                (common.concurrency / processes).max(1).to_string(),
                "--connect-timeout".into(),
                common.connect_timeout.to_string(),
                "--sockets-per-user".into(),
                per_user.to_string(),
            ];
            if !common.also_url.is_empty() {
                args.push("--also-url".into());
                args.push(common.also_url.join(","));
            }
            if let Some(threads) = common.threads {
                args.push("--threads".into());
                args.push(threads.to_string());
            }
            if !common.source_ips.is_empty() {
                let ips: Vec<String> = common.source_ips.iter().map(|ip| ip.to_string()).collect();
                args.push("--source-ips".into());
                args.push(ips.join(","));
            }
            user_offset += share.div_ceil(per_user);
            let mut child = Command::new(&exe)
                .args(&args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()?;
            let stdin = child.stdin.take();
            let stdout = child
                .stdout
                .take()
                .ok_or_else(|| Error::Worker("no standard output".into()))?;
            workers.push(Worker {
                child,
                stdin,
                lines: BufReader::new(stdout).lines(),
            });
        }
        Ok(Workers { workers })
    }

    /// Waits until every worker has its sockets in.
    pub async fn ready(&mut self, deadline: Instant) -> Result<(), Error> {
        for (k, worker) in self.workers.iter_mut().enumerate() {
            match tokio::time::timeout_at(deadline, worker.lines.next_line()).await {
                Ok(Ok(Some(line))) if line == READY => {}
                Ok(Ok(Some(line))) => {
                    return Err(Error::Worker(format!(
                        "worker {k} said {:?} instead of {READY}",
                        line.chars().take(200).collect::<String>()
                    )))
                }
                Ok(_) => {
                    return Err(Error::Worker(format!(
                        "worker {k} ended before its sockets were in (see its error above)"
                    )))
                }
                Err(_) => return Err(Error::Worker(format!("worker {k} was not ready in time"))),
            }
        }
        Ok(())
    }

    /// Tells every worker to stop and collects their reports.
    pub async fn finish(mut self) -> Result<Vec<Report>, Error> {
        for worker in &mut self.workers {
            worker.stdin = None;
        }
        let deadline = Instant::now() + FINISH_WAIT;
        let mut reports = Vec::with_capacity(self.workers.len());
        for (k, worker) in self.workers.iter_mut().enumerate() {
            let line = match tokio::time::timeout_at(deadline, worker.lines.next_line()).await {
                Ok(Ok(Some(line))) => line,
                _ => return Err(Error::Worker(format!("worker {k} sent no report"))),
            };
            let report = serde_json::from_str(&line)
                .map_err(|e| Error::Worker(format!("worker {k}'s report: {e}")))?;
            reports.push(report);
            let _ = tokio::time::timeout_at(deadline, worker.child.wait()).await;
        }
        Ok(reports)
    }
}

/// One report for the whole run from the workers' reports: counts add up, phase times
/// are the longest, connect latency percentiles are the worst process's.
pub fn merge(ctx: &Context, scenario: &str, reports: &[Report], elapsed_s: f64) -> Report {
    let mut out = Report {
        scenario: scenario.to_owned(),
        url: ctx.common.url.clone(),
        also_url: ctx.common.also_url.clone(),
        run_id: ctx.run_id.clone(),
        processes: reports.len(),
        ok: true,
        elapsed_s: (elapsed_s * 1000.0).round() / 1000.0,
        ..Default::default()
    };
    let mut mean_sum = 0.0;
    for r in reports {
        let (s, from) = (&mut out.setup, &r.setup);
        s.clients += from.clients;
        s.users += from.users;
        s.signins_ok += from.signins_ok;
        s.connects_ok += from.connects_ok;
        s.connect_errors += from.connect_errors;
        s.signin_s = s.signin_s.max(from.signin_s);
        s.connect_s = s.connect_s.max(from.connect_s);
        let (l, fl) = (&mut s.connect_latency_us, &from.connect_latency_us);
        *l = LatencySummary {
            count: l.count + fl.count,
            p50_us: l.p50_us.max(fl.p50_us),
            p99_us: l.p99_us.max(fl.p99_us),
            p999_us: l.p999_us.max(fl.p999_us),
            max_us: l.max_us.max(fl.max_us),
            mean_us: 0.0,
        };
        mean_sum += fl.mean_us * fl.count as f64;
        add_counts(&mut s.errors, &from.errors);
        extend_samples(&mut s.error_samples, &from.error_samples);
        add_counts(&mut out.closes, &r.closes);
        out.server_errors += r.server_errors;
        extend_samples(&mut out.server_error_samples, &r.server_error_samples);
        out.malformed_frames += r.malformed_frames;
        out.frames_received += r.frames_received;
        let (me, them) = (&mut out.loadgen, &r.loadgen);
        me.rss_start_bytes += them.rss_start_bytes;
        me.rss_end_bytes += them.rss_end_bytes;
        me.rss_min_bytes += them.rss_min_bytes;
        me.rss_max_bytes += them.rss_max_bytes;
        me.cpu_seconds += them.cpu_seconds;
        me.cpu_cores += them.cpu_cores;
    }
    let s = &mut out.setup;
    if s.connect_latency_us.count > 0 {
        s.connect_latency_us.mean_us =
            (mean_sum / s.connect_latency_us.count as f64 * 10.0).round() / 10.0;
    }
    s.signins_per_s = rate(s.signins_ok, s.signin_s);
    s.connects_per_s = rate(s.connects_ok, s.connect_s);
    out
}

fn add_counts(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (key, n) in from {
        *into.entry(key.clone()).or_default() += n;
    }
}

fn extend_samples(into: &mut Vec<String>, from: &[String]) {
    let room = SAMPLES.saturating_sub(into.len());
    into.extend(from.iter().take(room).cloned());
}
