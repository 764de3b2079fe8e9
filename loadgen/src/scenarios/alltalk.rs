//! `alltalk`: every socket sends at a low rate, with staggered starts, and every socket
//! receives everything: many senders instead of one.

use super::fanout::steps;
use super::traffic::{self, TrafficPlan};
use super::Context;
use crate::cli::AlltalkArgs;
use crate::report::Report;
use crate::Error;

const DURATION: f64 = 10.0;
const WARMUP: f64 = 1.0;

pub async fn run(ctx: &Context, args: &AlltalkArgs) -> Result<Report, Error> {
    let rate = args.rate_per_client * args.clients as f64;
    let plan = TrafficPlan {
        scenario: "alltalk",
        clients: args.clients,
        senders: args.clients,
        slow: 0,
        steps: steps(&[rate], &args.traffic, DURATION, WARMUP),
        drain: args.traffic.drain,
        pause: args.traffic.pause,
        payload: args.traffic.payload.unwrap_or(0),
        cid: args.traffic.cid,
    };
    traffic::run(ctx, plan).await
}
