//! `smoke`: a short fan-out for the test suite. Its report is `ok` only if every socket
//! connected and every message reached every socket exactly once.

use super::fanout::steps;
use super::traffic::{self, TrafficPlan};
use super::Context;
use crate::cli::SmokeArgs;
use crate::report::Report;
use crate::Error;

const DURATION: f64 = 3.0;
const WARMUP: f64 = 0.5;

pub async fn run(ctx: &Context, args: &SmokeArgs) -> Result<Report, Error> {
    let plan = TrafficPlan {
        scenario: "smoke",
        clients: args.clients,
        senders: 1,
        slow: 0,
        steps: steps(&[args.rate], &args.traffic, DURATION, WARMUP),
        drain: args.traffic.drain,
        pause: args.traffic.pause.min(1.0),
        payload: args.traffic.payload.unwrap_or(0),
        cid: args.traffic.cid,
    };
    traffic::run(ctx, plan).await
}
