//! Command-line flags: the options every scenario shares, then one subcommand per scenario.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// `loadgen [options] <scenario> [scenario options]`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "loadgen",
    version,
    about = "Load generator for any server speaking the chat protocol",
    after_help = "Start the server with its chat rate limit raised, e.g. \
                  `--rate-burst 1000000 --rate-per-sec 1000000`, or most messages are refused."
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub scenario: Scenario,
}

/// Options every scenario takes, before or after the scenario name.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Base URL of the chat server.
    #[arg(
        long,
        global = true,
        env = "LOADGEN_URL",
        default_value = "http://127.0.0.1:3000"
    )]
    pub url: String,

    /// Sign-ins and WebSocket handshakes in flight at once, at most.
    #[arg(long, global = true, default_value_t = 200)]
    pub concurrency: usize,

    /// Local addresses to connect from, in turn (e.g. 127.0.0.2,127.0.0.3): each address
    /// has its own ~28,000 ephemeral ports towards the server.
    #[arg(long, global = true, value_delimiter = ',')]
    pub source_ips: Vec<IpAddr>,

    /// More servers of the same chat, sharing its database (e.g. a PostgreSQL cluster):
    /// socket `i` goes to server `i mod n` of `--url` and these, so the first sockets (the
    /// senders) start on `--url` and the readers are spread over all of them. A user signs
    /// in on the server of its first socket.
    #[arg(long, global = true, value_delimiter = ',')]
    pub also_url: Vec<String>,

    /// Process id of the server, to sample its memory (VmRSS) and CPU time.
    #[arg(long, global = true)]
    pub server_pid: Option<u32>,

    /// More processes whose CPU time counts with the server's in each step: the other
    /// servers, the database. A process's children count with it, those that ended too
    /// (PostgreSQL serves each connection from a child of its first process).
    #[arg(long, global = true, value_delimiter = ',')]
    pub cpu_pid: Vec<u32>,

    /// Write the JSON report to this file instead of standard output.
    #[arg(long, global = true)]
    pub json: Option<PathBuf>,

    /// No progress line on standard error.
    #[arg(long, global = true)]
    pub quiet: bool,

    /// Seconds one sign-in or one WebSocket connect (up to the `list` greeting) may take.
    #[arg(long, global = true, default_value_t = 10.0)]
    pub connect_timeout: f64,

    /// Tag in user names and messages; random unless given. Letters and digits, 1 to 12.
    #[arg(long, global = true)]
    pub run_id: Option<String>,

    /// Sockets opened per signed-in user. Every user's first socket makes the server
    /// broadcast a `join` to everyone, so N users cost N²/2 frames; more sockets per user
    /// make big idle and storm runs cheaper.
    #[arg(long, global = true, default_value_t = 1)]
    pub sockets_per_user: usize,

    /// Runtime threads of this process (default: one per core it may use). On a small
    /// machine shared with the server, 1 leaves the server the other cores.
    #[arg(long, global = true)]
    pub threads: Option<usize>,

    /// Run as one of the processes of a `--processes` run (reports to its parent).
    #[arg(long, global = true, hide = true)]
    pub worker: bool,

    /// First user number of this process, so that processes pick distinct names.
    #[arg(long, global = true, hide = true, default_value_t = 0)]
    pub name_offset: usize,
}

/// The load to generate.
#[derive(Debug, Clone, Subcommand)]
pub enum Scenario {
    /// Connect N sockets and hold them; memory per connection on the server.
    Idle(IdleArgs),
    /// N sockets in one room, one sender (or a few) at a fixed rate: fan-out cost.
    Fanout(FanoutArgs),
    /// Every socket sends at a low rate and everyone receives everything.
    Alltalk(AlltalkArgs),
    /// Some sockets stop reading while the rest receive: the server must close the
    /// slow ones (1008) without slowing the others or growing.
    Slow(SlowArgs),
    /// Sign-ins and connects as fast as the server takes them.
    Storm(StormArgs),
    /// A short fan-out that fails (non-zero exit) on any loss, duplicate or failed connect.
    Smoke(SmokeArgs),
}

impl Scenario {
    /// The subcommand's name, as reports show it.
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Idle(_) => "idle",
            Scenario::Fanout(_) => "fanout",
            Scenario::Alltalk(_) => "alltalk",
            Scenario::Slow(_) => "slow",
            Scenario::Storm(_) => "storm",
            Scenario::Smoke(_) => "smoke",
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct IdleArgs {
    /// Sockets to open (in total, over all processes).
    #[arg(long, default_value_t = 1000)]
    pub clients: usize,
    /// Seconds to hold the sockets open once connected.
    #[arg(long, default_value_t = 10.0)]
    pub hold: f64,
    /// Processes to spread the sockets over (each may hold ~19,000 at most).
    #[arg(long, default_value_t = 1)]
    pub processes: usize,
}

#[derive(Debug, Clone, Args)]
pub struct StormArgs {
    /// Users to sign in and sockets to open (in total, over all processes).
    #[arg(long, default_value_t = 10_000)]
    pub clients: usize,
    /// Processes to spread the sockets over (each may hold ~19,000 at most).
    #[arg(long, default_value_t = 1)]
    pub processes: usize,
}

/// How the measured traffic is paced; every scenario that sends takes these.
#[derive(Debug, Clone, Args)]
pub struct TrafficArgs {
    /// Seconds each measured step sends for (default 10; 3 for `smoke`; for `slow`,
    /// long enough for 3000 messages, at least 15).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Seconds of unmeasured sending at the first rate before the measured steps.
    #[arg(long)]
    pub warmup: Option<f64>,
    /// Seconds to wait after a step for messages still on their way.
    #[arg(long, default_value_t = 5.0)]
    pub drain: f64,
    /// Seconds of quiet between two steps.
    #[arg(long, default_value_t = 2.0)]
    pub pause: f64,
    /// Extra characters appended to each message, to make frames bigger
    /// (default 0; 1900 for `slow`, so backlogs build up quickly).
    #[arg(long)]
    pub payload: Option<usize>,
    /// Give every message a client id (`cid`), as a resending client would.
    #[arg(long)]
    pub cid: bool,
}

#[derive(Debug, Clone, Args)]
pub struct FanoutArgs {
    /// Sockets in the room, senders included.
    #[arg(long, default_value_t = 1000)]
    pub clients: usize,
    /// Messages per second, over all senders.
    #[arg(long, default_value_t = 100.0, conflicts_with = "rates")]
    pub rate: f64,
    /// Several rates, one measured step each, in this order (e.g. 50,100,200,400).
    #[arg(long, value_delimiter = ',')]
    pub rates: Vec<f64>,
    /// Sockets that send; the rate is split evenly over them.
    #[arg(long, default_value_t = 1)]
    pub senders: usize,
    #[command(flatten)]
    pub traffic: TrafficArgs,
}

#[derive(Debug, Clone, Args)]
pub struct AlltalkArgs {
    /// Sockets in the room; every one of them sends.
    #[arg(long, default_value_t = 200)]
    pub clients: usize,
    /// Messages per second each socket sends (starts are staggered).
    #[arg(long, default_value_t = 1.0)]
    pub rate_per_client: f64,
    #[command(flatten)]
    pub traffic: TrafficArgs,
}

#[derive(Debug, Clone, Args)]
pub struct SlowArgs {
    /// Sockets in the room, the slow ones included.
    #[arg(long, default_value_t = 1000)]
    pub clients: usize,
    /// Sockets that stop reading after their greeting.
    #[arg(long, default_value_t = 20)]
    pub slow: usize,
    /// Messages per second from the one sender.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    #[command(flatten)]
    pub traffic: TrafficArgs,
}

#[derive(Debug, Clone, Args)]
pub struct SmokeArgs {
    /// Sockets in the room.
    #[arg(long, default_value_t = 300)]
    pub clients: usize,
    /// Messages per second from the one sender.
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    #[command(flatten)]
    pub traffic: TrafficArgs,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_options_go_before_or_after_the_scenario() {
        let cli = Cli::try_parse_from([
            "loadgen",
            "--url",
            "http://127.0.0.1:9",
            "fanout",
            "--rates",
            "50,100",
            "--server-pid",
            "42",
        ])
        .unwrap();
        assert_eq!(cli.common.url, "http://127.0.0.1:9");
        assert_eq!(cli.common.server_pid, Some(42));
        let Scenario::Fanout(args) = cli.scenario else {
            panic!("fanout expected")
        };
        assert_eq!(args.rates, vec![50.0, 100.0]);
    }

    #[test]
    fn several_servers_and_cpu_pids_split_on_commas() {
        let cli = Cli::try_parse_from([
            "loadgen",
            "fanout",
            "--also-url",
            "http://127.0.0.1:9,http://127.0.0.1:10",
            "--cpu-pid",
            "7,8,9",
        ])
        .unwrap();
        assert_eq!(cli.common.also_url.len(), 2);
        assert_eq!(cli.common.cpu_pid, vec![7, 8, 9]);
    }

    #[test]
    fn source_ips_split_on_commas() {
        let cli = Cli::try_parse_from(["loadgen", "idle", "--source-ips", "127.0.0.2,127.0.0.3"])
            .unwrap();
        assert_eq!(cli.common.source_ips.len(), 2);
    }
}
