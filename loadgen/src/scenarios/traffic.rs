//! The sending scenarios' common course: bring the clients in, then for each step send at
//! its rate for its duration, wait for the stragglers, and count what every reading socket
//! got against what was sent.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{finish, require_connections, stop, Context, LocalWatch};
use crate::fleet::{self, rate, Role};
use crate::proc::{tree_cpu_seconds, Pid};
use crate::progress;
use crate::report::{Report, SlowReport, StepReport};
use crate::run::Run;
use crate::sender::StepPlan;
use crate::stalled;
use crate::stats::Counters;
use crate::Error;

/// Time between planning a step and its first message, so all senders start together.
const STEP_LEAD: Duration = Duration::from_millis(100);
/// How often the drain checks whether everything arrived.
const DRAIN_POLL: Duration = Duration::from_millis(50);
/// Share of its CPU above which the generator is said to be the bottleneck.
const BUSY: f64 = 0.9;
/// Longest step, warm-up, drain or pause accepted, in seconds.
const MAX_SECONDS: f64 = 3600.0;
/// Highest total rate accepted, in messages per second.
const MAX_RATE: f64 = 1_000_000.0;

/// One step: a rate held for a duration.
#[derive(Debug, Clone)]
pub struct StepSpec {
    pub name: String,
    pub warmup: bool,
    /// Messages per second over all senders.
    pub rate: f64,
    pub duration: f64,
}

/// A sending scenario, described.
#[derive(Debug, Clone)]
pub struct TrafficPlan {
    pub scenario: &'static str,
    pub clients: usize,
    pub senders: usize,
    /// The last `slow` sockets stop reading after their greeting.
    pub slow: usize,
    pub steps: Vec<StepSpec>,
    pub drain: f64,
    pub pause: f64,
    pub payload: usize,
    pub cid: bool,
}

impl TrafficPlan {
    fn validate(&self) -> Result<(), Error> {
        let usage = |m: String| Err(Error::Usage(m));
        if self.clients == 0 {
            return usage("--clients must be at least 1".into());
        }
        if self.senders == 0 || self.senders > self.clients {
            return usage(format!(
                "--senders must be between 1 and --clients ({})",
                self.clients
            ));
        }
        if self.senders + self.slow > self.clients {
            return usage("more senders and slow sockets than --clients".into());
        }
        if self.payload > shared::MAX_TEXT_CHARS - 100 {
            return usage(format!(
                "--payload must be at most {}",
                shared::MAX_TEXT_CHARS - 100
            ));
        }
        let seconds = |x: f64| x.is_finite() && (0.0..=MAX_SECONDS).contains(&x);
        if !seconds(self.drain) || !seconds(self.pause) {
            return usage("--drain and --pause must be between 0 and 3600 seconds".into());
        }
        for step in &self.steps {
            if !(step.rate > 0.0 && step.rate <= MAX_RATE) {
                return usage(format!(
                    "rate {} must be above 0, at most {MAX_RATE}",
                    step.rate
                ));
            }
            if !(seconds(step.duration) && step.duration > 0.0) {
                return usage("durations must be above 0, at most 3600 seconds".into());
            }
        }
        if self.steps.iter().all(|s| s.warmup) {
            return usage("nothing to measure".into());
        }
        Ok(())
    }

    /// Messages each sender sends in a step: at least one.
    fn per_sender(&self, step: &StepSpec) -> u64 {
        ((step.rate / self.senders as f64 * step.duration).round() as u64).max(1)
    }
}

/// Runs a sending scenario from connect to report.
pub async fn run(ctx: &Context, plan: TrafficPlan) -> Result<Report, Error> {
    plan.validate()?;
    ctx.check_file_limit(plan.clients)?;
    let counts: Vec<u64> = plan.steps.iter().map(|s| plan.per_sender(s)).collect();
    let max_seq = counts.iter().sum::<u64>() + 1;
    let run = Arc::new(Run::new(
        &ctx.run_id,
        plan.steps.len(),
        plan.senders,
        max_seq,
    ));
    let server = ctx.server_sampler()?;
    let local = LocalWatch::start();
    let progress = progress::start(run.clone(), plan.scenario, ctx.common.quiet);
    let started = Instant::now();

    let (clients, senders, slow) = (plan.clients, plan.senders, plan.slow);
    let role = move |i: usize| {
        if i < senders {
            Role::Sender
        } else if i >= clients - slow {
            Role::Slow
        } else {
            Role::Reader
        }
    };
    let mut fleet = fleet::assemble(&ctx.connector, &run, &ctx.fleet_plan(clients), role).await;
    if let Err(err) = require_connections(&fleet) {
        stop(&run, &mut fleet).await;
        return Err(err);
    }
    if fleet.senders.is_empty() {
        stop(&run, &mut fleet).await;
        return Err(Error::Setup(format!(
            "no sending socket connected: {:?}",
            fleet.setup.error_samples
        )));
    }

    let mut steps = Vec::with_capacity(plan.steps.len());
    for (index, spec) in plan.steps.iter().enumerate() {
        if index > 0 {
            tokio::time::sleep(Duration::from_secs_f64(plan.pause)).await;
        }
        let cpu = CpuWatch {
            server: ctx.common.server_pid,
            others: ctx.common.cpu_pid.clone(),
        };
        steps.push(run_step(&plan, &run, &mut fleet, index, spec, counts[index], &cpu).await);
    }
    let slow_report = match plan.slow {
        0 => None,
        _ => Some(read_slow(&run, std::mem::take(&mut fleet.slow)).await),
    };

    stop(&run, &mut fleet).await;
    if let Some(progress) = progress {
        let _ = progress.await;
    }
    let mut report = ctx.report(plan.scenario, &run, &fleet, started);
    report.steps = steps;
    report.slow = slow_report;
    report.server = finish(server).await;
    local.finish(&mut report).await;
    report.failures = failures(&report);
    report.warnings = warnings(&report);
    report.ok = report.failures.is_empty();
    Ok(report)
}

/// Sends one step, waits for its deliveries, and reports it.
async fn run_step(
    plan: &TrafficPlan,
    run: &Arc<Run>,
    fleet: &mut fleet::Fleet,
    index: usize,
    spec: &StepSpec,
    count: u64,
    cpu: &CpuWatch,
) -> StepReport {
    let server_cpu = || cpu.seconds();
    let own_cpu = || Pid::This.cpu_seconds().unwrap_or(0.0);
    let (server_cpu_start, own_cpu_start) = (server_cpu(), own_cpu());
    let step_started = Instant::now();
    run.tally.current_step.store(index, Ordering::Relaxed);
    let receivers = Counters::get(&run.tally.counters.readers);
    let start = Instant::now() + STEP_LEAD;
    let per_sender_rate = spec.rate / plan.senders as f64;
    let mut tasks = Vec::with_capacity(fleet.senders.len());
    for sender in fleet.senders.drain(..) {
        let step_plan = StepPlan {
            step: index as u32,
            start,
            rate: per_sender_rate,
            count,
            phase: sender.index as f64 / plan.senders as f64,
            padding: plan.payload,
            cid: plan.cid,
        };
        tasks.push(tokio::spawn(sender.run_step(step_plan, run.clone())));
    }
    for task in tasks {
        if let Ok(sender) = task.await {
            fleet.senders.push(sender);
        }
    }
    let counters = &run.tally.steps[index];
    let sent = Counters::get(&counters.sent);
    let expected = sent * receivers;
    let drain_until = Instant::now() + Duration::from_secs_f64(plan.drain);
    while Counters::get(&counters.delivered) < expected && Instant::now() < drain_until {
        tokio::time::sleep(DRAIN_POLL).await;
    }
    let delivered = Counters::get(&counters.delivered);
    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    let server_cpu_s = match (server_cpu_start, server_cpu()) {
        (Some(a), Some(b)) => Some(round(b - a)),
        _ => None,
    };
    let loadgen_cpu_s = round(own_cpu() - own_cpu_start);
    let usable = step_started.elapsed().as_secs_f64() * usable_cores();
    StepReport {
        name: spec.name.clone(),
        warmup: spec.warmup,
        rate: spec.rate,
        senders: plan.senders,
        duration_s: spec.duration,
        receivers,
        sent,
        unsent: Counters::get(&counters.unsent),
        send_errors: Counters::get(&counters.send_errors),
        expected,
        delivered,
        lost: expected.saturating_sub(delivered),
        duplicates: Counters::get(&counters.duplicates),
        server_errors: Counters::get(&counters.server_errors),
        deliveries_per_s: rate(delivered, spec.duration),
        server_cpu_s,
        loadgen_cpu_s,
        loadgen_busy: if usable > 0.0 {
            round(loadgen_cpu_s / usable)
        } else {
            0.0
        },
        latency_us: run.tally.step_latency(index),
        after_server_stamp_us: run.tally.step_after_stamp(index),
    }
}

/// The processes whose CPU time a step counts as the server's: `--server-pid`, and the
/// `--cpu-pid` processes with their children (other servers, the database).
struct CpuWatch {
    server: Option<u32>,
    others: Vec<u32>,
}

impl CpuWatch {
    /// Their CPU seconds so far, or `None` when nothing is watched or the server is gone.
    fn seconds(&self) -> Option<f64> {
        if self.server.is_none() && self.others.is_empty() {
            return None;
        }
        let server = match self.server {
            Some(pid) => Pid::Of(pid).cpu_seconds().ok()?,
            None => 0.0,
        };
        let others: f64 = self.others.iter().map(|&pid| tree_cpu_seconds(pid)).sum();
        Some(server + others)
    }
}

/// Cores this generator can keep busy: its runtime threads, at most the cores it may
/// run on.
fn usable_cores() -> f64 {
    let threads = tokio::runtime::Handle::current().metrics().num_workers();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    threads.min(cores).max(1) as f64
}

/// Steps during which the generator was nearly out of CPU.
fn warnings(report: &Report) -> Vec<String> {
    report
        .steps
        .iter()
        .filter(|step| step.loadgen_busy >= BUSY)
        .map(|step| {
            format!(
                "{}: the generator used {:.0}% of its CPU; latencies are partly its own",
                step.name,
                step.loadgen_busy * 100.0
            )
        })
        .collect()
}

/// Tells the stalled sockets still waiting to read their backlogs, and collects how
/// each ended.
async fn read_slow(run: &Run, tasks: Vec<JoinHandle<stalled::Ending>>) -> SlowReport {
    run.read_stalled.cancel();
    let mut report = SlowReport {
        sockets: tasks.len(),
        ..Default::default()
    };
    for task in tasks {
        let ending = task.await.unwrap_or_else(|_| stalled::Ending {
            how: "task failed".into(),
            frames: 0,
            announced: false,
        });
        if ending.how == "1008" {
            report.closed_1008 += 1;
        }
        report.announced_left += u64::from(ending.announced);
        report.backlog_frames += ending.frames;
        *report.endings.entry(ending.how).or_default() += 1;
    }
    report
}

/// The checks a sending run should pass: everyone connected, every message delivered
/// once, no reading socket closed, and every slow socket closed with 1008.
fn failures(report: &Report) -> Vec<String> {
    let mut failures = Vec::new();
    if report.setup.connect_errors > 0 {
        failures.push(format!(
            "{} of {} sockets did not connect",
            report.setup.connect_errors, report.setup.clients
        ));
    }
    for step in &report.steps {
        if step.lost > 0 || step.duplicates > 0 || step.unsent > 0 || step.send_errors > 0 {
            failures.push(format!(
                "{}: {} lost, {} duplicated, {} unsent, {} send errors",
                step.name, step.lost, step.duplicates, step.unsent, step.send_errors
            ));
        }
    }
    if !report.closes.is_empty() {
        failures.push(format!("reading sockets were closed: {:?}", report.closes));
    }
    if let Some(slow) = &report.slow {
        if slow.closed_1008 as usize != slow.sockets {
            failures.push(format!(
                "{} of {} slow sockets closed with 1008: {:?}",
                slow.closed_1008, slow.sockets, slow.endings
            ));
        }
    }
    failures
}
