//! An open-loop sender: messages are due at fixed times whatever the server does, and each
//! carries the time it was due. A server that stalls the sender cannot hide that wait:
//! the late messages go out in a burst and their latency counts from when they were due.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::SplitSink;
use futures_util::SinkExt;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::connect::Ws;
use crate::run::Run;
use crate::stats::Counters;
use crate::wire::Probe;

/// The writing half of a sender's socket (its reading half has its own reader task).
pub type Sink = SplitSink<Ws, Message>;

/// Past a step's end, a sender that is this far behind gives up on the rest of the step.
const GIVE_UP_AFTER: Duration = Duration::from_secs(2);

/// When and how much one sender sends in one step.
#[derive(Debug, Clone, Copy)]
pub struct StepPlan {
    pub step: u32,
    /// When message 0 of sender 0 is due.
    pub start: Instant,
    /// Messages per second from this sender.
    pub rate: f64,
    /// Messages this sender sends in the step.
    pub count: u64,
    /// Fraction of an interval this sender is shifted by, so senders take turns.
    pub phase: f64,
    /// Characters added to each message.
    pub padding: usize,
    /// Whether messages carry a `cid`.
    pub cid: bool,
}

/// One sending socket, kept across steps.
pub struct Sender {
    pub index: u32,
    sink: Sink,
    next_seq: u64,
    broken: bool,
}

impl Sender {
    pub fn new(index: u32, sink: Sink) -> Self {
        Sender {
            index,
            sink,
            next_seq: 0,
            broken: false,
        }
    }

    /// Sends one step's messages at their due times, then hands the sender back.
    pub async fn run_step(mut self, plan: StepPlan, run: Arc<Run>) -> Self {
        let Some(counters) = run.tally.steps.get(plan.step as usize) else {
            return self;
        };
        let end = plan.start + Duration::from_secs_f64(plan.count as f64 / plan.rate);
        let give_up = end + GIVE_UP_AFTER;
        for k in 0..plan.count {
            let due = plan.start + Duration::from_secs_f64((k as f64 + plan.phase) / plan.rate);
            if self.broken {
                Counters::add(&counters.unsent, plan.count - k);
                break;
            }
            if due > Instant::now() {
                tokio::time::sleep_until(due).await;
            } else if Instant::now() > give_up {
                Counters::add(&counters.unsent, plan.count - k);
                break;
            }
            let probe = Probe {
                step: plan.step,
                sender: self.index,
                seq: self.next_seq,
                due_us: run.clock.micros_at(due.into_std()),
            };
            self.next_seq += 1;
            let text = probe.encode(&run.prefix, plan.padding);
            let message = if plan.cid {
                shared::ClientMessage::chat_with_cid(
                    text,
                    format!("{}-{}-{}", run.id, self.index, probe.seq),
                )
            } else {
                shared::ClientMessage::chat(text)
            };
            let Ok(json) = serde_json::to_string(&message) else {
                continue;
            };
            match tokio::time::timeout_at(give_up, self.sink.send(Message::text(json))).await {
                Ok(Ok(())) => {
                    Counters::add(&counters.sent, 1);
                    Counters::add(&run.tally.counters.sent, 1);
                }
                Ok(Err(_)) | Err(_) => {
                    Counters::add(&counters.send_errors, 1);
                    self.broken = true;
                }
            }
        }
        self
    }
}
