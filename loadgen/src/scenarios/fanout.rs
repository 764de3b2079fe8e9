//! `fanout`: many sockets in one room, one sender (or a few) at a fixed rate, optionally
//! stepping the rate up, to find the highest rate the server fans out on time.

use super::traffic::{self, StepSpec, TrafficPlan};
use super::Context;
use crate::cli::{FanoutArgs, TrafficArgs};
use crate::report::Report;
use crate::Error;

/// Seconds each step sends for, unless `--duration` says otherwise.
const DURATION: f64 = 10.0;
/// Seconds of warm-up, unless `--warmup` says otherwise.
const WARMUP: f64 = 1.0;

pub async fn run(ctx: &Context, args: &FanoutArgs) -> Result<Report, Error> {
    let rates = if args.rates.is_empty() {
        vec![args.rate]
    } else {
        args.rates.clone()
    };
    let plan = TrafficPlan {
        scenario: "fanout",
        clients: args.clients,
        senders: args.senders,
        slow: 0,
        steps: steps(&rates, &args.traffic, DURATION, WARMUP),
        drain: args.traffic.drain,
        pause: args.traffic.pause,
        payload: args.traffic.payload.unwrap_or(0),
        cid: args.traffic.cid,
    };
    traffic::run(ctx, plan).await
}

/// A warm-up at the first rate (unless it is 0 s), then one measured step per rate.
pub fn steps(rates: &[f64], traffic: &TrafficArgs, duration: f64, warmup: f64) -> Vec<StepSpec> {
    let duration = traffic.duration.unwrap_or(duration);
    let warmup = traffic.warmup.unwrap_or(warmup);
    let mut steps = Vec::with_capacity(rates.len() + 1);
    if let (true, Some(&first)) = (warmup > 0.0, rates.first()) {
        steps.push(StepSpec {
            name: format!("warmup {first}/s"),
            warmup: true,
            rate: first,
            duration: warmup,
        });
    }
    steps.extend(rates.iter().map(|&rate| StepSpec {
        name: format!("{rate}/s"),
        warmup: false,
        rate,
        duration,
    }));
    steps
}
