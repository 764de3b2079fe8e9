//! `loadgen`: parses flags, runs the scenario, prints the report (JSON on standard output
//! or to `--json`, one summary line on standard error).
//!
//! Exit status: 0 when the scenario ran; 1 when `smoke` found a lost or duplicated message
//! or a failed connect; 2 when the run could not be set up.

use std::process::ExitCode;

use clap::Parser;
use loadgen::cli::Scenario;
use loadgen::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = cli.common.threads {
        builder.worker_threads(threads.max(1));
    }
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("loadgen: cannot start the runtime: {err}");
            return ExitCode::from(2);
        }
    };
    let report = match runtime.block_on(loadgen::execute(&cli)) {
        Ok(report) => report,
        Err(err) => {
            eprintln!("loadgen {}: {err}", cli.scenario.name());
            return ExitCode::from(2);
        }
    };
    // Workers answer their parent with one line of JSON.
    if cli.common.worker {
        return match serde_json::to_string(&report) {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(_) => ExitCode::from(2),
        };
    }
    if let Err(err) = report.write_json(cli.common.json.as_deref()) {
        eprintln!("loadgen: cannot write the report: {err}");
        return ExitCode::from(2);
    }
    eprintln!("{}", report.summary());
    match cli.scenario {
        Scenario::Smoke(_) if !report.ok => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    }
}
