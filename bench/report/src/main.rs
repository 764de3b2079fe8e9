//! `bench-report --results DIR --out FILE --charts DIR`: reads every report that
//! `bench/run` left in DIR and writes the benchmark page and its charts.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

mod charts;
mod cluster;
mod page;
mod results;

/// Writes docs/benchmarks.md from one run of bench/run.
#[derive(Parser)]
struct Args {
    /// Directory with `<name>--<server>--<rep>.json` reports and `machine.json`.
    #[arg(long)]
    results: PathBuf,
    /// The Markdown page to write.
    #[arg(long)]
    out: PathBuf,
    /// Directory for the SVG charts (linked from the page by relative path).
    #[arg(long)]
    charts: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench-report: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), results::Error> {
    let set = results::ResultSet::load(&args.results)?;
    std::fs::create_dir_all(&args.charts)?;
    let charts = charts::draw(&set, &args.charts)?;
    let page = page::render(&set, &charts, &args.results);
    std::fs::write(&args.out, page)?;
    eprintln!("wrote {}", args.out.display());
    Ok(())
}
