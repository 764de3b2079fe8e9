//! `idle`: connect N sockets, hold them, and see what each costs the server in memory:
//! `(RSS after connecting − RSS before) / N`.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{finish, require_connections, settle, stop, Context, LocalWatch, SETTLE_QUIET};
use crate::cli::IdleArgs;
use crate::fleet::{self, Role};
use crate::proc::MachineWatch;
use crate::progress;
use crate::report::{IdleReport, Report};
use crate::run::Run;
use crate::workers::{self, Workers};
use crate::Error;

pub async fn run(ctx: &Context, args: &IdleArgs) -> Result<Report, Error> {
    if args.clients == 0 {
        return Err(Error::Usage("--clients must be at least 1".into()));
    }
    if !(args.hold.is_finite() && (0.0..=86_400.0).contains(&args.hold)) {
        return Err(Error::Usage(
            "--hold must be between 0 and 86400 seconds".into(),
        ));
    }
    if args.processes > 1 && !ctx.common.worker {
        return run_parent(ctx, args).await;
    }
    ctx.check_file_limit(args.clients)?;
    let run = Arc::new(Run::new(&ctx.run_id, 0, 0, 0));
    let server = ctx.server_sampler()?;
    let local = LocalWatch::start();
    let rss_before = server.as_ref().and_then(|s| s.rss_now());
    let progress = progress::start(run.clone(), "idle", ctx.common.quiet);
    let started = Instant::now();

    let mut fleet = fleet::assemble(&ctx.connector, &run, &ctx.fleet_plan(args.clients), |_| {
        Role::Reader
    })
    .await;
    if let Err(err) = require_connections(&fleet) {
        stop(&run, &mut fleet).await;
        return Err(err);
    }
    settle(&run).await;
    let rss_after_connect = server.as_ref().and_then(|s| s.rss_now());
    if ctx.common.worker {
        workers::ready_and_wait().await;
    } else {
        tokio::time::sleep(Duration::from_secs_f64(args.hold)).await;
    }
    let rss_after_hold = server.as_ref().and_then(|s| s.rss_now());

    stop(&run, &mut fleet).await;
    if let Some(progress) = progress {
        let _ = progress.await;
    }
    let mut report = ctx.report("idle", &run, &fleet, started);
    report.idle = idle_report(
        args.hold,
        fleet.setup.connects_ok,
        rss_before,
        rss_after_connect,
        rss_after_hold,
    );
    report.server = finish(server).await;
    local.finish(&mut report).await;
    report.failures = failures(&report);
    report.ok = report.failures.is_empty();
    Ok(report)
}

/// Spreads the sockets over `--processes` workers and measures the server meanwhile.
async fn run_parent(ctx: &Context, args: &IdleArgs) -> Result<Report, Error> {
    let server = ctx.server_sampler()?;
    let rss_before = server.as_ref().and_then(|s| s.rss_now());
    let started = Instant::now();
    let machine = MachineWatch::start();
    let mut workers = Workers::spawn(ctx, "idle", args.clients, args.processes)?;
    workers.ready(ready_deadline(ctx, args.clients)).await?;
    // The last worker's joins reach the others' sockets after they said ready.
    tokio::time::sleep(SETTLE_QUIET * 2).await;
    let rss_after_connect = server.as_ref().and_then(|s| s.rss_now());
    if !ctx.common.quiet {
        eprintln!("[idle] all {} processes connected; holding", args.processes);
    }
    tokio::time::sleep(Duration::from_secs_f64(args.hold)).await;
    let rss_after_hold = server.as_ref().and_then(|s| s.rss_now());
    let reports = workers.finish().await?;
    let mut report = workers::merge(ctx, "idle", &reports, started.elapsed().as_secs_f64());
    report.idle = idle_report(
        args.hold,
        report.setup.connects_ok,
        rss_before,
        rss_after_connect,
        rss_after_hold,
    );
    report.server = finish(server).await;
    report.machine = machine.finish();
    report.failures = failures(&report);
    report.ok = report.failures.is_empty();
    Ok(report)
}

/// How long a `--processes` run may take to get every socket in: every sign-in and
/// connect timing out in turn, as a bound that is never reached in practice.
pub fn ready_deadline(ctx: &Context, clients: usize) -> Instant {
    let rounds = (2 * clients).div_ceil(ctx.common.concurrency.max(1)) as f64;
    Instant::now() + Duration::from_secs_f64(ctx.common.connect_timeout * rounds + 60.0)
}

fn idle_report(
    hold_s: f64,
    connected: u64,
    before: Option<u64>,
    after_connect: Option<u64>,
    after_hold: Option<u64>,
) -> Option<IdleReport> {
    let (before, after_connect) = (before?, after_connect?);
    Some(IdleReport {
        hold_s,
        rss_before_bytes: before,
        rss_after_connect_bytes: after_connect,
        rss_after_hold_bytes: after_hold.unwrap_or(0),
        rss_per_connection_bytes: after_connect.saturating_sub(before) / connected.max(1),
    })
}

/// Idle sockets should all get in and none should be closed while held.
pub fn failures(report: &Report) -> Vec<String> {
    let mut failures = Vec::new();
    if report.setup.connect_errors > 0 {
        failures.push(format!(
            "{} of {} sockets did not connect: {:?}",
            report.setup.connect_errors, report.setup.clients, report.setup.errors
        ));
    }
    if !report.closes.is_empty() {
        failures.push(format!("sockets were closed: {:?}", report.closes));
    }
    failures
}
