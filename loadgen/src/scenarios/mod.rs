//! The scenarios, one module each, and what they share: the resolved options of a run
//! ([`Context`]) and the pieces of a report every scenario fills the same way.

pub mod alltalk;
pub mod fanout;
pub mod idle;
pub mod slow;
pub mod smoke;
pub mod storm;
pub mod traffic;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::cli::{Cli, Common, Scenario};
use crate::connect::{Connector, Target};
use crate::fleet::{Fleet, FleetPlan};
use crate::proc::{self, MachineWatch, Pid, ProcessReport, Sampler};
use crate::report::Report;
use crate::run::{self, Run};
use crate::stats::Counters;
use crate::Error;

/// Files a process needs besides its sockets (runtime, HTTP pool, standard streams).
const SPARE_FILES: u64 = 64;
/// A run waits at most this long for the server to stop sending after connects.
const SETTLE_MAX: Duration = Duration::from_secs(30);
/// ... and counts it as settled after this long without a frame.
pub const SETTLE_QUIET: Duration = Duration::from_millis(500);

/// Runs the scenario the command line names.
pub async fn run(cli: &Cli) -> Result<Report, Error> {
    let ctx = Context::new(&cli.common).await?;
    match &cli.scenario {
        Scenario::Idle(args) => idle::run(&ctx, args).await,
        Scenario::Fanout(args) => fanout::run(&ctx, args).await,
        Scenario::Alltalk(args) => alltalk::run(&ctx, args).await,
        Scenario::Slow(args) => slow::run(&ctx, args).await,
        Scenario::Storm(args) => storm::run(&ctx, args).await,
        Scenario::Smoke(args) => smoke::run(&ctx, args).await,
    }
}

/// The options of a run, checked and resolved once.
pub struct Context {
    pub common: Common,
    pub run_id: String,
    pub target: Target,
    pub connector: Connector,
    /// Open files this process may use.
    pub file_limit: u64,
}

impl Context {
    pub async fn new(common: &Common) -> Result<Context, Error> {
        let run_id = match &common.run_id {
            Some(id) if run::valid_id(id) => id.clone(),
            Some(id) => {
                return Err(Error::Usage(format!(
                    "--run-id {id:?}: use 1 to 12 letters and digits"
                )))
            }
            None => run::random_id(),
        };
        if !(common.connect_timeout > 0.0 && common.connect_timeout <= 3600.0) {
            return Err(Error::Usage(
                "--connect-timeout must be between 0 and 3600 seconds".into(),
            ));
        }
        if common.concurrency == 0 || common.sockets_per_user == 0 {
            return Err(Error::Usage(
                "--concurrency and --sockets-per-user must be at least 1".into(),
            ));
        }
        let target = Target::resolve(&common.url).await?;
        let mut targets = vec![target.clone()];
        for url in &common.also_url {
            targets.push(Target::resolve(url).await?);
        }
        let timeout = Duration::from_secs_f64(common.connect_timeout);
        let connector = Connector::new(
            targets,
            common.source_ips.clone(),
            timeout,
            common.concurrency,
        )?;
        let file_limit = proc::raise_open_file_limit()?;
        Ok(Context {
            common: common.clone(),
            run_id,
            target,
            connector,
            file_limit,
        })
    }

    /// Fails clearly when `clients` sockets will not fit in this process's file limit.
    pub fn check_file_limit(&self, clients: usize) -> Result<(), Error> {
        let needed = clients as u64 + self.common.concurrency as u64 + SPARE_FILES;
        if needed > self.file_limit {
            return Err(Error::FileLimit {
                wanted: clients,
                needed,
                limit: self.file_limit,
            });
        }
        Ok(())
    }

    pub fn fleet_plan(&self, clients: usize) -> FleetPlan {
        FleetPlan {
            clients,
            sockets_per_user: self.common.sockets_per_user,
            name_offset: self.common.name_offset,
            concurrency: self.common.concurrency,
        }
    }

    /// Starts sampling the server when `--server-pid` was given.
    pub fn server_sampler(&self) -> Result<Option<Sampler>, Error> {
        self.common
            .server_pid
            .map(|pid| {
                Sampler::start(Pid::Of(pid))
                    .map_err(|e| Error::Setup(format!("cannot read process {pid}: {e}")))
            })
            .transpose()
    }

    /// A report with what every scenario fills the same way.
    pub fn report(&self, scenario: &str, run: &Run, fleet: &Fleet, started: Instant) -> Report {
        let c = &run.tally.counters;
        Report {
            scenario: scenario.to_owned(),
            url: self.common.url.clone(),
            also_url: self.common.also_url.clone(),
            run_id: self.run_id.clone(),
            processes: 1,
            ok: true,
            elapsed_s: (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
            setup: fleet.setup.clone(),
            closes: run.tally.closes(),
            server_errors: Counters::get(&c.server_errors),
            server_error_samples: run.tally.error_samples(),
            malformed_frames: Counters::get(&c.malformed),
            frames_received: Counters::get(&c.frames),
            ..Default::default()
        }
    }
}

/// Watches this generator process and the machine: the generator shares the machine
/// with the server, and a generator at full CPU would be measuring itself.
pub struct LocalWatch {
    me: Option<Sampler>,
    machine: MachineWatch,
}

impl LocalWatch {
    pub fn start() -> Self {
        LocalWatch {
            me: Sampler::start(Pid::This).ok(),
            machine: MachineWatch::start(),
        }
    }

    /// Fills in the report's `loadgen` and `machine` parts.
    pub async fn finish(self, report: &mut Report) {
        report.loadgen = finish(self.me).await.unwrap_or_default();
        report.machine = self.machine.finish();
    }
}

/// Stops a sampler, if there is one.
pub async fn finish(sampler: Option<Sampler>) -> Option<ProcessReport> {
    match sampler {
        Some(sampler) => Some(sampler.finish().await),
        None => None,
    }
}

/// Waits until no frame has arrived for a moment (the server is done broadcasting the
/// joins), at most [`SETTLE_MAX`].
pub async fn settle(run: &Run) {
    let deadline = Instant::now() + SETTLE_MAX;
    let mut last = Counters::get(&run.tally.counters.frames);
    while Instant::now() < deadline {
        tokio::time::sleep(SETTLE_QUIET).await;
        let now = Counters::get(&run.tally.counters.frames);
        if now == last {
            return;
        }
        last = now;
    }
}

/// Ends a run: readers stop, and are given a moment to let go of their sockets.
pub async fn stop(run: &Arc<Run>, fleet: &mut Fleet) {
    run.stop.cancel();
    let readers = std::mem::take(&mut fleet.readers);
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        for reader in readers {
            let _ = reader.await;
        }
    })
    .await;
}

/// Fails when nobody got in: there is nothing to measure.
pub fn require_connections(fleet: &Fleet) -> Result<(), Error> {
    if fleet.setup.connects_ok == 0 {
        return Err(Error::Setup(format!(
            "no socket connected ({:?}); {}",
            fleet.setup.errors,
            fleet.setup.error_samples.join("; ")
        )));
    }
    Ok(())
}
