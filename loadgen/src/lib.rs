//! Load generator for any server speaking the chat protocol: signs guests in, opens many
//! `/ws/chat` sockets, sends at fixed rates and measures what every socket receives.
//!
//! Each scenario (`idle`, `fanout`, `alltalk`, `slow`, `storm`, `smoke`) is a module in
//! [`scenarios`]; [`execute`] runs the one the command line names and returns its
//! [`Report`]. The binary only parses flags and prints the report.

pub mod cli;
pub mod client;
pub mod clock;
pub mod connect;
pub mod error;
pub mod fleet;
pub mod proc;
pub mod progress;
pub mod report;
pub mod run;
pub mod scenarios;
pub mod sender;
pub mod stalled;
pub mod stats;
pub mod wire;
pub mod workers;

pub use cli::Cli;
pub use error::Error;
pub use report::Report;

/// Runs the scenario `cli` names against the server at `cli.common.url`.
pub async fn execute(cli: &Cli) -> Result<Report, Error> {
    scenarios::run(cli).await
}
