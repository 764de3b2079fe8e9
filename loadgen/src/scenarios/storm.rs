//! `storm`: sign-ins and connects as fast as the server takes them (within the
//! `--concurrency` cap): how many per second, how long in all, and what failed.

use std::sync::Arc;

use tokio::time::Instant;

use super::idle::{failures, ready_deadline};
use super::{finish, require_connections, stop, Context, LocalWatch};
use crate::cli::StormArgs;
use crate::fleet::{self, Role};
use crate::proc::MachineWatch;
use crate::progress;
use crate::report::Report;
use crate::run::Run;
use crate::workers::{self, Workers};
use crate::Error;

pub async fn run(ctx: &Context, args: &StormArgs) -> Result<Report, Error> {
    if args.clients == 0 {
        return Err(Error::Usage("--clients must be at least 1".into()));
    }
    if args.processes > 1 && !ctx.common.worker {
        return run_parent(ctx, args).await;
    }
    ctx.check_file_limit(args.clients)?;
    let run = Arc::new(Run::new(&ctx.run_id, 0, 0, 0));
    let server = ctx.server_sampler()?;
    let local = LocalWatch::start();
    let progress = progress::start(run.clone(), "storm", ctx.common.quiet);
    let started = Instant::now();

    let mut fleet = fleet::assemble(&ctx.connector, &run, &ctx.fleet_plan(args.clients), |_| {
        Role::Reader
    })
    .await;
    if let Err(err) = require_connections(&fleet) {
        stop(&run, &mut fleet).await;
        return Err(err);
    }
    let mut report = ctx.report("storm", &run, &fleet, started);
    if ctx.common.worker {
        workers::ready_and_wait().await;
    }
    stop(&run, &mut fleet).await;
    if let Some(progress) = progress {
        let _ = progress.await;
    }
    report.closes = run.tally.closes();
    report.server = finish(server).await;
    local.finish(&mut report).await;
    report.failures = failures(&report);
    report.ok = report.failures.is_empty();
    Ok(report)
}

/// Spreads the storm over `--processes` workers, all started at once.
async fn run_parent(ctx: &Context, args: &StormArgs) -> Result<Report, Error> {
    let server = ctx.server_sampler()?;
    let started = Instant::now();
    let machine = MachineWatch::start();
    let mut workers = Workers::spawn(ctx, "storm", args.clients, args.processes)?;
    workers.ready(ready_deadline(ctx, args.clients)).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let reports = workers.finish().await?;
    let mut report = workers::merge(ctx, "storm", &reports, elapsed);
    report.server = finish(server).await;
    report.machine = machine.finish();
    report.failures = failures(&report);
    report.ok = report.failures.is_empty();
    Ok(report)
}
