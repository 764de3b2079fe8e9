//! `slow`: some sockets stop reading after their greeting while one sender keeps the room
//! busy. The server should close the slow ones with 1008, keep delivering to the others
//! on time, and not grow (see the server's RSS samples in the report).
//!
//! The slow sockets join last, so they are not flooded by the others' `join` notices.

use super::fanout::steps;
use super::traffic::{self, TrafficPlan};
use super::Context;
use crate::cli::SlowArgs;
use crate::report::Report;
use crate::Error;

/// Shortest measured step by default.
const MIN_DURATION: f64 = 15.0;
/// Messages the default duration lets through at least: with [`PAYLOAD`], about 6 MB
/// per socket, more than a server's kernel send buffer (up to 4 MiB on Linux by default)
/// plus its own queue, so a server that bounds its queues closes the slow sockets.
const MESSAGES: f64 = 3000.0;
const WARMUP: f64 = 1.0;
/// Bigger frames fill a non-reading socket's buffers sooner (near the 2000 limit).
const PAYLOAD: usize = 1900;

pub async fn run(ctx: &Context, args: &SlowArgs) -> Result<Report, Error> {
    if args.slow == 0 || args.slow >= args.clients {
        return Err(Error::Usage(
            "--slow must be at least 1 and below --clients".into(),
        ));
    }
    let plan = TrafficPlan {
        scenario: "slow",
        clients: args.clients,
        senders: 1,
        slow: args.slow,
        steps: steps(
            &[args.rate],
            &args.traffic,
            MIN_DURATION.max(MESSAGES / args.rate),
            WARMUP,
        ),
        drain: args.traffic.drain,
        pause: args.traffic.pause,
        payload: args.traffic.payload.unwrap_or(PAYLOAD),
        cid: args.traffic.cid,
    };
    traffic::run(ctx, plan).await
}
